//! Least privilege from an audit log (audit2rbac): the requests one identity made, as the API
//! server's audit events record them, turned into the Roles, ClusterRole and bindings that allow
//! every one of them and nothing of another kind. Resource names are kept where the log shows
//! them for every request of a verb (get, update, patch, delete: the verbs whose requests carry
//! one), so `kubectl get pod web-1` yields `resourceNames: [web-1]`, `kubectl get pods` none.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::Error;

/// Whose requests to take.
#[derive(Clone, Debug)]
pub enum Identity {
    /// The Kubernetes user name (the impersonated one when the request impersonated).
    User(String),
    /// An IAM ARN, matched against the EKS authenticator's `arn` and `canonicalArn` extras
    /// (case-insensitively).
    Arn(String),
}

/// One request, as the authorizer saw it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Request {
    pub verb: String,
    pub api_group: String,
    /// `resource[/subresource]`, or the non-resource path (starting with `/`).
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

/// What the log says about the identity: its requests, and the user names it had.
#[derive(Debug, Default)]
pub struct Requests {
    pub requests: BTreeSet<Request>,
    pub usernames: BTreeSet<String>,
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// The effective user of an event: the impersonated one if any.
fn effective_user(event: &Value) -> &Value {
    match event.get("impersonatedUser") {
        Some(user) if user.is_object() => user,
        _ => &event["user"],
    }
}

fn is_identity(user: &Value, identity: &Identity) -> bool {
    match identity {
        Identity::User(name) => str_at(user, "/username") == name,
        Identity::Arn(arn) => ["/extra/arn/0", "/extra/canonicalArn/0"]
            .iter()
            .any(|p| str_at(user, p).eq_ignore_ascii_case(arn) || canonical(str_at(user, p)).eq_ignore_ascii_case(arn)),
    }
}

fn canonical(arn: &str) -> String {
    eks_auth::canonicalize(arn).map(|(_, c)| c).unwrap_or_default()
}

/// Reads a JSON-lines audit log: every event of `identity` (one per audit ID).
pub fn requests(log: &str, identity: &Identity) -> Result<Requests, Error> {
    let mut out = Requests::default();
    let mut seen = BTreeSet::new();
    for (i, line) in log.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let event: Value =
            serde_json::from_str(line).map_err(|e| Error::AuditEvent { line: i + 1, message: e.to_string() })?;
        if event.get("kind").and_then(Value::as_str) != Some("Event") {
            return Err(Error::AuditEvent { line: i + 1, message: "not an audit.k8s.io Event".into() });
        }
        let user = effective_user(&event);
        if !is_identity(user, identity) || !seen.insert(str_at(&event, "/auditID").to_string()) {
            continue;
        }
        out.usernames.insert(str_at(user, "/username").to_string());
        let verb = str_at(&event, "/verb").to_string();
        let request = match event.get("objectRef").filter(|o| o.get("resource").is_some()) {
            Some(object) => {
                let sub = str_at(object, "/subresource");
                let resource = str_at(object, "/resource");
                Request {
                    verb,
                    api_group: str_at(object, "/apiGroup").to_string(),
                    resource: if sub.is_empty() { resource.to_string() } else { format!("{resource}/{sub}") },
                    namespace: str_at(object, "/namespace").to_string(),
                    name: str_at(object, "/name").to_string(),
                }
            }
            None => {
                let uri = str_at(&event, "/requestURI");
                let path = uri.split('?').next().unwrap_or_default().to_string();
                Request {
                    verb,
                    api_group: String::new(),
                    resource: path,
                    namespace: String::new(),
                    name: String::new(),
                }
            }
        };
        out.requests.insert(request);
    }
    Ok(out)
}

/// A rule but its resources: (API group, resource names, verbs).
type RuleShape<'a> = (&'a str, Vec<&'a str>, Vec<&'a str>);

/// Verbs whose requests name their object (resourceNames can restrict them).
const NAMED_VERBS: &[&str] = &["get", "update", "patch", "delete"];

/// The rules that allow `requests` (all of one scope): resource names kept where every request
/// of a (group, resource, verb) names one; verbs sharing the same resources and names merged.
fn rules(requests: &[&Request]) -> Vec<Value> {
    // (group, resource, verb) -> names (None: some request had no name, or the verb cannot be named)
    let mut by_verb: BTreeMap<(&str, &str, &str), Option<BTreeSet<&str>>> = BTreeMap::new();
    let mut urls: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in requests {
        if r.resource.starts_with('/') {
            urls.entry(&r.verb).or_default().insert(&r.resource);
            continue;
        }
        let entry = by_verb.entry((&r.api_group, &r.resource, &r.verb)).or_insert_with(|| Some(BTreeSet::new()));
        match entry {
            Some(names) if !r.name.is_empty() && NAMED_VERBS.contains(&r.verb.as_str()) => {
                names.insert(&r.name);
            }
            _ => *entry = None,
        }
    }
    // (group, resource, names) -> verbs; then (group, names, verbs) -> resources.
    let mut by_target: BTreeMap<(&str, &str, Vec<&str>), BTreeSet<&str>> = BTreeMap::new();
    for ((group, resource, verb), names) in by_verb {
        let names = names.map(|n| n.into_iter().collect()).unwrap_or_default();
        by_target.entry((group, resource, names)).or_default().insert(verb);
    }
    // (group, names, verbs) -> resources
    let mut merged: BTreeMap<RuleShape<'_>, Vec<&str>> = BTreeMap::new();
    for ((group, resource, names), verbs) in by_target {
        merged.entry((group, names, verbs.into_iter().collect())).or_default().push(resource);
    }
    let mut out: Vec<Value> = merged
        .into_iter()
        .map(|((group, names, verbs), resources)| {
            let mut rule = json!({"apiGroups": [group], "resources": resources, "verbs": verbs});
            if !names.is_empty() {
                rule["resourceNames"] = json!(names);
            }
            rule
        })
        .collect();
    let mut by_urls: BTreeMap<Vec<&str>, Vec<&str>> = BTreeMap::new();
    for (verb, paths) in urls {
        by_urls.entry(paths.into_iter().collect()).or_default().push(verb);
    }
    out.extend(by_urls.into_iter().map(|(paths, verbs)| json!({"nonResourceURLs": paths, "verbs": verbs})));
    out
}

/// The objects (as JSON values, in apply order) that allow every request: per namespace a Role
/// and RoleBinding, and for cluster-scoped, all-namespace and non-resource requests a
/// ClusterRole and ClusterRoleBinding, each named `name`, bound to `subjects`.
pub fn least_privilege(requests: &Requests, name: &str, subjects: &[rbac::Subject]) -> Vec<Value> {
    let mut by_namespace: BTreeMap<&str, Vec<&Request>> = BTreeMap::new();
    for r in &requests.requests {
        by_namespace.entry(&r.namespace).or_default().push(r);
    }
    let subjects: Vec<Value> = subjects.iter().map(|s| serde_json::to_value(s).expect("subjects serialize")).collect();
    let labels = json!({"rampart.dev/generated-by": "audit2rbac"});
    let mut out = Vec::new();
    for (namespace, requests) in by_namespace {
        let rules = rules(&requests);
        let rbac_ref = |kind: &str| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name});
        if namespace.is_empty() {
            out.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": name, "labels": labels}, "rules": rules}));
            out.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": name, "labels": labels}, "roleRef": rbac_ref("ClusterRole"), "subjects": subjects}));
        } else {
            let meta = json!({"name": name, "namespace": namespace, "labels": labels});
            out.push(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta, "rules": rules}),
            );
            out.push(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
                "roleRef": rbac_ref("Role"), "subjects": subjects}));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, user: &str, verb: &str, object: Value, uri: &str) -> String {
        json!({"kind": "Event", "apiVersion": "audit.k8s.io/v1", "auditID": id, "stage": "ResponseComplete",
            "verb": verb, "user": {"username": user}, "objectRef": object, "requestURI": uri})
        .to_string()
    }

    #[test]
    fn names_kept_when_consistent_and_scopes_split() {
        // Each request is audited at several stages: one audit ID, counted once.
        let get = event(
            "1",
            "dev",
            "get",
            json!({"resource": "pods", "namespace": "a", "name": "web-1"}),
            "/api/v1/namespaces/a/pods/web-1",
        );
        let log = [
            get.clone(),
            get,
            event(
                "2",
                "dev",
                "get",
                json!({"resource": "pods", "subresource": "log", "namespace": "a", "name": "web-1"}),
                "",
            ),
            event("3", "dev", "list", json!({"resource": "pods", "namespace": "a"}), "/api/v1/namespaces/a/pods"),
            event("4", "dev", "create", json!({"resource": "configmaps", "namespace": "a"}), ""),
            event("5", "dev", "list", json!({"resource": "nodes"}), "/api/v1/nodes"),
            event("6", "dev", "get", Value::Null, "/api?timeout=32s"),
            event("7", "other", "delete", json!({"resource": "secrets", "namespace": "a", "name": "x"}), ""),
        ]
        .join("\n");
        let found = requests(&log, &Identity::User("dev".into())).unwrap();
        assert_eq!(found.requests.len(), 6);
        let objects = least_privilege(&found, "audit2rbac:dev", &[rbac::Subject::user("dev")]);
        let kinds: Vec<&str> = objects.iter().map(|o| o["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"]);
        assert_eq!(
            objects[0]["rules"],
            json!([{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}, {"nonResourceURLs": ["/api"], "verbs": ["get"]}])
        );
        assert_eq!(
            objects[2]["rules"],
            json!([
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
                {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get"], "resourceNames": ["web-1"]},
            ])
        );
        assert_eq!(objects[3]["subjects"][0]["name"], "dev");
        let bad = requests("{\"kind\":\"Pod\"}", &Identity::User("dev".into())).unwrap_err();
        assert!(bad.to_string().starts_with("audit log line 1: not an audit.k8s.io Event"), "{bad}");
    }
}
