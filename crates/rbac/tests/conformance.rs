//! The conformance suite: every `tests/data/*.yaml` file is a policy (optionally on top of the
//! 1.32 bootstrap policy) and cases with the answer kube-apiserver gives. Each case is decided
//! by the indexed authorizer and by the linear reference (Kubernetes' algorithm); both must give
//! the expected answer, and the reason when one is written down.

use std::path::PathBuf;

use rbac::linear::LinearAuthorizer;
use rbac::{
    Attributes, Authorizer, ClusterRole, ClusterRoleBinding, ResourceAttributes, Role, RoleBinding, UserInfo, bootstrap,
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Suite {
    #[serde(default)]
    bootstrap: bool,
    #[serde(default)]
    policy: Vec<Value>,
    #[serde(default)]
    cases: Vec<Case>,
    #[serde(default)]
    escalations: Vec<Escalation>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Case {
    #[serde(rename = "as")]
    user: String,
    #[serde(default)]
    groups: Vec<String>,
    verb: String,
    /// `resource[.group][/subresource]`
    res: Option<String>,
    path: Option<String>,
    #[serde(default)]
    ns: String,
    #[serde(default)]
    name: String,
    allow: bool,
    reason: Option<String>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Escalation {
    #[serde(rename = "as")]
    user: String,
    #[serde(default)]
    groups: Vec<String>,
    write: Value,
    old: Option<Value>,
    /// A create (POST to the collection: no name in the request); otherwise an update of the
    /// written object's name.
    #[serde(default)]
    create: bool,
    allow: bool,
    message: Option<String>,
}

#[derive(Default)]
struct Policy {
    roles: Vec<Role>,
    cluster_roles: Vec<ClusterRole>,
    role_bindings: Vec<RoleBinding>,
    cluster_role_bindings: Vec<ClusterRoleBinding>,
}

fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"))
}

fn load_policy(suite: &Suite) -> Policy {
    let mut p = Policy::default();
    if suite.bootstrap {
        p.cluster_roles.extend_from_slice(bootstrap::cluster_roles());
        p.cluster_role_bindings.extend_from_slice(bootstrap::cluster_role_bindings());
        p.roles.extend_from_slice(bootstrap::roles());
        p.role_bindings.extend_from_slice(bootstrap::role_bindings());
    }
    for obj in &suite.policy {
        match obj["kind"].as_str() {
            Some("Role") => p.roles.push(typed(obj)),
            Some("ClusterRole") => p.cluster_roles.push(typed(obj)),
            Some("RoleBinding") => p.role_bindings.push(typed(obj)),
            Some("ClusterRoleBinding") => p.cluster_role_bindings.push(typed(obj)),
            other => panic!("unknown kind {other:?}"),
        }
    }
    p.cluster_roles = rbac::aggregate(&p.cluster_roles);
    p
}

fn attributes(case: &Case) -> Attributes {
    let user = UserInfo { name: case.user.clone(), groups: case.groups.clone(), ..Default::default() };
    match (&case.res, &case.path) {
        (Some(res), None) => {
            let (res, sub) = res.split_once('/').unwrap_or((res, ""));
            let (resource, group) = res.split_once('.').unwrap_or((res, ""));
            let r = ResourceAttributes::new(&case.ns, group, resource).with_subresource(sub).with_name(&case.name);
            Attributes::resource(user, &case.verb, r)
        }
        (None, Some(path)) => Attributes::non_resource(user, &case.verb, path),
        _ => panic!("a case needs exactly one of res and path: {case:?}"),
    }
}

fn suites() -> Vec<(String, Suite)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            let suite: Suite = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            (f.file_name().unwrap().to_string_lossy().into_owned(), suite)
        })
        .collect()
}

fn check_escalation(authz: &Authorizer, e: &Escalation) -> Result<(), rbac::RbacError> {
    let user = UserInfo::impersonated(&e.user, &e.groups);
    let request_name = if e.create { "" } else { e.write["metadata"]["name"].as_str().unwrap_or_default() };
    match e.write["kind"].as_str() {
        Some("Role") => rbac::confirm_role_write(authz, &user, &typed(&e.write), request_name),
        Some("ClusterRole") => {
            let old: Option<ClusterRole> = e.old.as_ref().map(typed);
            rbac::confirm_cluster_role_write(authz, &user, &typed(&e.write), old.as_ref(), request_name)
        }
        Some("RoleBinding") => rbac::confirm_role_binding_write(authz, &user, &typed(&e.write)),
        Some("ClusterRoleBinding") => rbac::confirm_cluster_role_binding_write(authz, &user, &typed(&e.write)),
        other => panic!("unknown kind {other:?}"),
    }
}

#[test]
fn conformance() {
    let mut failures = Vec::new();
    let mut count = 0;
    for (file, suite) in suites() {
        let p = load_policy(&suite);
        let indexed = Authorizer::from_objects(&p.roles, &p.cluster_roles, &p.role_bindings, &p.cluster_role_bindings);
        let linear = LinearAuthorizer::new(&p.roles, &p.cluster_roles, &p.role_bindings, &p.cluster_role_bindings);
        for (i, case) in suite.cases.iter().enumerate() {
            count += 1;
            let attrs = attributes(case);
            let decision = indexed.authorize(&attrs);
            let (lin_allowed, lin_reason) = linear.authorize(&attrs);
            let mut problems = Vec::new();
            if decision.is_allowed() != case.allow {
                problems.push(format!("indexed says {}", decision.is_allowed()));
            }
            if lin_allowed != case.allow {
                problems.push(format!("linear says {lin_allowed}"));
            }
            if let Some(reason) = &case.reason {
                if &decision.reason() != reason {
                    problems.push(format!("indexed reason {:?}", decision.reason()));
                }
                if &lin_reason != reason {
                    problems.push(format!("linear reason {lin_reason:?}"));
                }
            }
            // Explain agrees with the decision.
            if indexed.explain(&attrs).is_allowed() != case.allow {
                problems.push("explain disagrees".into());
            }
            if !problems.is_empty() {
                failures.push(format!("{file} case {i} {case:?}: {}", problems.join("; ")));
            }
        }
        for (i, e) in suite.escalations.iter().enumerate() {
            count += 1;
            let result = check_escalation(&indexed, e);
            if result.is_ok() != e.allow {
                failures.push(format!("{file} escalation {i} {e:?}: got {result:?}"));
            } else if let (Some(message), Err(err)) = (&e.message, &result)
                && &err.to_string() != message
            {
                failures.push(format!("{file} escalation {i}: message\n{err}\nwanted\n{message}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {count} cases failed:\n{}", failures.len(), failures.join("\n"));
    assert!(count >= 200, "the suite has only {count} cases");
}
