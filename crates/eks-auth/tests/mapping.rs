//! Runs the identity-mapping cases of `tests/data/aws_auth.yaml` and `tests/data/access.yaml`:
//! aws-auth parsing (kept, dropped, warned), the admission check, identity resolution through
//! access entries and aws-auth under each authentication mode, and the access-policy authorizer.

use std::collections::BTreeMap;

use eks_auth::{
    AccessEntries, AccessEntry, AccessPolicyDecision, AuthenticationMode, AwsAuth, Caller, ClusterAccess, Identity,
    IssueEffect, MappedBy, PRINCIPAL_ID_EXTRA, resolve,
};
use rbac::{Attributes, ResourceAttributes, UserInfo};
use serde::Deserialize;

#[derive(Deserialize)]
struct Cases {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    #[serde(default)]
    mode: Option<AuthenticationMode>,
    #[serde(default)]
    aws_auth: Option<BTreeMap<String, String>>,
    #[serde(default)]
    access_entries: Vec<AccessEntry>,
    #[serde(default)]
    cluster_creator: Option<String>,
    #[serde(default)]
    issues: Option<Vec<ExpectedIssue>>,
    #[serde(default)]
    strict: Option<String>,
    #[serde(default)]
    callers: Vec<ExpectedCaller>,
    #[serde(default)]
    requests: Vec<Request>,
}

#[derive(Deserialize)]
struct ExpectedIssue {
    key: String,
    #[serde(default)]
    line: Option<usize>,
    effect: String,
    contains: String,
}

#[derive(Deserialize)]
struct ExpectedCaller {
    arn: String,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    access_key_id: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    groups: Option<Vec<String>>,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    mapped_by: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Request {
    caller: String,
    user_id: String,
    verb: String,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    subresource: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    allow: Option<serde_json::Value>,
}

fn ec2(instance_id: &str) -> Option<String> {
    (instance_id == "i-0123456789abcdef0").then(|| "ip-192-168-1-10.ec2.internal".to_string())
}

fn identity(arn: &str, user_id: Option<&str>, access_key_id: Option<&str>) -> Identity {
    let access_key_id = access_key_id.unwrap_or("AKIAEXAMPLEKEY000001");
    match user_id {
        Some(user_id) => {
            let account = aws_arn::Arn::parse(arn).expect("an ARN").account_id.to_string();
            let caller = Caller { arn: arn.to_string(), account, user_id: user_id.to_string() };
            Identity::from_caller(&caller, access_key_id, "sts.amazonaws.com").expect("a usable caller")
        }
        None => Identity::for_arn(arn, access_key_id).expect("a usable ARN"),
    }
}

fn effect(name: &str) -> IssueEffect {
    match name {
        "KeyDropped" => IssueEffect::KeyDropped,
        "EntryDropped" => IssueEffect::EntryDropped,
        "FieldDropped" => IssueEffect::FieldDropped,
        "Advisory" => IssueEffect::Advisory,
        other => panic!("unknown effect {other}"),
    }
}

fn run(file: &str, text: &str) {
    let cases: Cases = serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{file} parses: {e}"));
    let mut failures = Vec::new();
    let mut checks = 0;
    for case in &cases.cases {
        let mut fail = |message: String| failures.push(format!("{file}: {}: {message}", case.name));
        let aws_auth = case.aws_auth.as_ref().map(AwsAuth::parse);
        if let (Some(expected), Some(parsed)) = (&case.issues, &aws_auth) {
            checks += 1;
            let actual = parsed.issues();
            if actual.len() != expected.len() {
                fail(format!("{} issues, expected {}: {actual:#?}", actual.len(), expected.len()));
            }
            for want in expected {
                let found = actual.iter().any(|issue| {
                    issue.key == want.key
                        && want.line.is_none_or(|line| issue.line == Some(line))
                        && issue.effect == effect(&want.effect)
                        && issue.to_string().contains(&want.contains)
                });
                if !found {
                    fail(format!(
                        "no issue {} line {:?} {} containing {:?} in {actual:#?}",
                        want.key, want.line, want.effect, want.contains
                    ));
                }
            }
        }
        if let (Some(strict), Some(data)) = (&case.strict, &case.aws_auth) {
            checks += 1;
            let verdict = match AwsAuth::validate(data) {
                Ok(_) => "ok",
                Err(error) => {
                    assert_eq!(error.http_status(), 400);
                    "rejected"
                }
            };
            if verdict != strict {
                fail(format!("admission {verdict}, expected {strict}"));
            }
        }
        let entries = AccessEntries::new(case.access_entries.clone());
        let access = ClusterAccess {
            mode: case.mode.unwrap_or_default(),
            access_entries: &entries,
            aws_auth: aws_auth.as_ref(),
            cluster_creator: case.cluster_creator.as_deref(),
        };
        for caller in &case.callers {
            checks += 1;
            let who = identity(&caller.arn, caller.user_id.as_deref(), caller.access_key_id.as_deref());
            match (resolve(&who, &access, &ec2), &caller.error) {
                (Ok(user), None) => {
                    let wrong = caller.username.as_ref().is_some_and(|name| *name != user.user.name)
                        || caller.groups.as_ref().is_some_and(|groups| *groups != user.user.groups)
                        || caller.uid.as_ref().is_some_and(|uid| *uid != user.user.uid)
                        || caller.mapped_by.as_ref().is_some_and(|by| *by != mapped_by(&user.mapped_by));
                    if wrong {
                        fail(format!("{} became {:?} ({:?})", caller.arn, user.user, user.mapped_by));
                    }
                    assert_eq!(user.user.extra["canonicalArn"], vec![who.canonical_arn.clone()]);
                    assert_eq!(user.user.extra["sessionName"], vec![who.session_name.clone()]);
                }
                (Err(error), Some(expected)) if error.to_string() == *expected => {}
                (Err(error), expected) => fail(format!("{}: error `{error}`, expected {expected:?}", caller.arn)),
                (Ok(user), Some(expected)) => {
                    fail(format!("{}: became {:?}, expected `{expected}`", caller.arn, user.user))
                }
            }
        }
        for request in &case.requests {
            checks += 1;
            let who = identity(&request.caller, Some(&request.user_id), None);
            let mut user = UserInfo::new("someone", &[]);
            user.extra.insert(PRINCIPAL_ID_EXTRA.to_string(), vec![who.user_id.clone()]);
            user.extra.insert("canonicalArn".to_string(), vec![who.canonical_arn.clone()]);
            let attributes = Attributes {
                user,
                verb: request.verb.clone(),
                resource: request.resource.as_ref().map(|resource| ResourceAttributes {
                    namespace: request.namespace.clone(),
                    api_group: request.group.clone(),
                    resource: resource.clone(),
                    subresource: request.subresource.clone(),
                    ..ResourceAttributes::default()
                }),
                path: request.path.clone(),
            };
            let decision = entries.authorize(&attributes);
            let ok = match (&decision, &request.allow) {
                (AccessPolicyDecision::NoOpinion, None) => true,
                (AccessPolicyDecision::Allow(_), Some(serde_json::Value::Bool(true))) => true,
                (AccessPolicyDecision::Allow(reason), Some(serde_json::Value::String(expected))) => reason == expected,
                _ => false,
            };
            if !ok {
                fail(format!(
                    "{} {} {:?}/{} in {:?}{}: {decision:?}, expected {:?}",
                    request.caller,
                    request.verb,
                    request.resource,
                    request.subresource,
                    request.namespace,
                    request.path,
                    request.allow
                ));
            }
        }
    }
    assert!(checks > 20, "{file}: only {checks} checks ran");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

fn mapped_by(by: &MappedBy) -> String {
    match by {
        MappedBy::AccessEntry(arn) => format!("AccessEntry({arn})"),
        MappedBy::ClusterCreator => "ClusterCreator".into(),
        MappedBy::AwsAuthRole(line) => format!("AwsAuthRole({line})"),
        MappedBy::AwsAuthUser(line) => format!("AwsAuthUser({line})"),
        MappedBy::AwsAuthAccount => "AwsAuthAccount".into(),
    }
}

#[test]
fn aws_auth_cases() {
    run("aws_auth.yaml", include_str!("data/aws_auth.yaml"));
}

#[test]
fn access_cases() {
    run("access.yaml", include_str!("data/access.yaml"));
}

/// Rampart's admission check for aws-auth writes: what EKS would drop is refused with key and
/// line, and so is a ConfigMap that takes the cluster creator's access away.
#[test]
fn aws_auth_admission() {
    let data = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let admin_mapped = data(&[(
        "mapUsers",
        "- userarn: arn:aws:iam::111122223333:user/admin\n  username: admin\n  groups: [system:masters]\n",
    )]);
    let role_mapped =
        data(&[("mapRoles", "- rolearn: arn:aws:iam::111122223333:role/Creator\n  username: \"c:{{SessionName}}\"\n")]);
    let other_only = data(&[("mapRoles", "- rolearn: arn:aws:iam::111122223333:role/Other\n  username: other\n")]);
    let no_entries = AccessEntries::default();
    let current = AwsAuth::parse(&admin_mapped);
    fn access<'a>(
        mode: AuthenticationMode,
        access_entries: &'a AccessEntries,
        aws_auth: Option<&'a AwsAuth>,
        cluster_creator: Option<&'a str>,
    ) -> ClusterAccess<'a> {
        ClusterAccess { mode, access_entries, aws_auth, cluster_creator }
    }

    // The creator's only access is aws-auth: dropping it is refused, keeping it is fine.
    let cluster = access(AuthenticationMode::ApiAndConfigMap, &no_entries, Some(&current), None);
    let refused =
        eks_auth::admit_aws_auth(&other_only, &cluster, Some("arn:aws:iam::111122223333:user/admin")).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "this aws-auth ConfigMap would leave the cluster creator arn:aws:iam::111122223333:user/admin without access \
         to the cluster: identity is not mapped"
    );
    assert_eq!(refused.http_status(), 400);
    let (kept, warnings) =
        eks_auth::admit_aws_auth(&admin_mapped, &cluster, Some("arn:aws:iam::111122223333:user/admin")).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(kept.users().len(), 1);

    // The hidden CONFIG_MAP mapping keeps the creator in whatever aws-auth says.
    let hidden = access(
        AuthenticationMode::ConfigMap,
        &no_entries,
        Some(&current),
        Some("arn:aws:iam::111122223333:user/admin"),
    );
    assert!(eks_auth::admit_aws_auth(&other_only, &hidden, Some("arn:aws:iam::111122223333:user/admin")).is_ok());

    // In API mode aws-auth does not count, so it cannot lock anyone out.
    let api = access(AuthenticationMode::Api, &no_entries, Some(&current), None);
    assert!(eks_auth::admit_aws_auth(&other_only, &api, Some("arn:aws:iam::111122223333:user/admin")).is_ok());

    // A creator already without access is not blocking anyone from fixing things.
    let fresh = access(AuthenticationMode::ConfigMap, &no_entries, None, None);
    assert!(eks_auth::admit_aws_auth(&other_only, &fresh, Some("arn:aws:iam::111122223333:user/admin")).is_ok());

    // A role creator is checked as one of its sessions.
    let current_roles = AwsAuth::parse(&role_mapped);
    let by_role = access(AuthenticationMode::ConfigMap, &no_entries, Some(&current_roles), None);
    assert!(eks_auth::admit_aws_auth(&role_mapped, &by_role, Some("arn:aws:iam::111122223333:role/Creator")).is_ok());
    assert!(matches!(
        eks_auth::admit_aws_auth(&other_only, &by_role, Some("arn:aws:iam::111122223333:role/Creator")),
        Err(eks_auth::Error::CreatorLockedOut { .. })
    ));

    // What EKS would silently drop is refused before anything else, naming key and line.
    let broken = data(&[("mapRoles", "- rolearn: arn:aws:iam::111122223333:role/A\n  groups: system:masters\n")]);
    let refused = eks_auth::admit_aws_auth(&broken, &fresh, None).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "aws-auth ConfigMap rejected: data.mapRoles line 2: groups must be a list of strings, not a string (write \
         `groups: [system:masters]` or a `- system:masters` item) (EKS ignores this field)"
    );
}
