//! The review APIs with the real kubectl (`kubectl create -f` of each review, JSON; `auth can-i`
//! and `auth whoami` send Protobuf): SubjectAccessReview and LocalSubjectAccessReview with
//! RBAC's reason, SelfSubjectRulesReview's evaluationError, TokenReview of a service-account
//! token, and the Invalid / BadRequest answers to empty specs, as kube-apiserver 1.32 gives them.

mod common;

use common::access::*;

fn create(rampart: &Rampart, manifest: &str) -> Output {
    admin_stdin(rampart, &["create", "-f", "-", "-o", "json"], manifest)
}

#[test]
fn access_reviews_answer_from_the_chain() {
    let rampart = Rampart::start();
    admin(&rampart, &["create", "role", "pod-reader", "--verb=list", "--resource=pods"]).ok();
    admin(&rampart, &["create", "rolebinding", "eks-user-rb", "--role=pod-reader", "--user=eks-user"]).ok();

    let sar = r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview",
        "spec":{"user":"eks-user","resourceAttributes":{"namespace":"default","verb":"list","resource":"pods"}}}"#;
    let review = json(&create(&rampart, sar).ok());
    assert_eq!(
        review["status"],
        serde_json::json!({"allowed": true, "reason": "RBAC: allowed by RoleBinding \"eks-user-rb/default\" of Role \"pod-reader\" to User \"eks-user\""})
    );
    assert_eq!(review["spec"]["user"], "eks-user", "the spec is echoed");
    let denied = sar.replace("\"list\"", "\"delete\"");
    assert_eq!(json(&create(&rampart, &denied).ok())["status"], serde_json::json!({"allowed": false}));
    // Groups are taken as given: no system:authenticated is added, so basic-user does not apply.
    let groups = r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview",
        "spec":{"groups":["system:authenticated"],"nonResourceAttributes":{"path":"/version","verb":"get"}}}"#;
    assert_eq!(json(&create(&rampart, groups).ok())["status"]["allowed"], true);
    let nobody = groups.replace("system:authenticated", "nobody");
    assert_eq!(json(&create(&rampart, &nobody).ok())["status"]["allowed"], false);
    // A missing role shows in the reason.
    admin(&rampart, &["create", "rolebinding", "ghost", "--clusterrole=ghost", "--user=eks-user"]).ok();
    let review = json(&create(&rampart, &denied).ok());
    assert_eq!(
        review["status"],
        serde_json::json!({"allowed": false, "reason": "RBAC: clusterrole.rbac.authorization.k8s.io \"ghost\" not found"})
    );

    let lsar = r#"{"apiVersion":"authorization.k8s.io/v1","kind":"LocalSubjectAccessReview",
        "metadata":{"namespace":"default"},
        "spec":{"user":"eks-user","resourceAttributes":{"namespace":"default","verb":"list","resource":"pods"}}}"#;
    assert_eq!(json(&create(&rampart, lsar).ok())["status"]["allowed"], true);
    let wrong = lsar.replace(r#""namespace":"default","verb""#, r#""namespace":"other","verb""#);
    let out = create(&rampart, &wrong).failed();
    assert_eq!(
        out.stderr.trim(),
        r#"The LocalSubjectAccessReview "" is invalid: spec.resourceAttributes.namespace: Invalid value: "other": must match metadata.namespace"#
    );

    // Empty specs.
    let out =
        create(&rampart, r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{}}"#)
            .failed();
    assert_eq!(
        out.stderr.trim(),
        r#"The SelfSubjectAccessReview "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified"#
    );
    let out =
        create(&rampart, r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{}}"#).failed();
    assert_eq!(
        out.stderr.trim(),
        "The SubjectAccessReview \"\" is invalid: \n* spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified\n* spec.user: Invalid value: \"\": at least one of user or group must be specified"
    );
    let (code, _, body) = curl_admin(
        &rampart,
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
        &[],
        Some(r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","spec":{}}"#),
    );
    assert_eq!(code, 400, "{body}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["message"], "no namespace on request");
    let out = create(&rampart, r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{}}"#).failed();
    assert_eq!(
        out.stderr.trim(),
        "Error from server (BadRequest): error when creating \"STDIN\": token is required for TokenReview in authentication"
    );
}

#[test]
fn rules_and_token_reviews() {
    let rampart = Rampart::start();
    admin(&rampart, &["create", "rolebinding", "ghost", "--clusterrole=ghost", "--user=eks-user"]).ok();
    admin(&rampart, &["create", "role", "pod-reader", "--verb=list", "--resource=pods"]).ok();
    admin(&rampart, &["create", "rolebinding", "reader", "--role=pod-reader", "--user=eks-user"]).ok();
    let out = admin(&rampart, &["auth", "can-i", "--list", "--as", "eks-user"]).ok();
    assert!(
        out.stderr.contains(r#"the list may be incomplete: clusterrole.rbac.authorization.k8s.io "ghost" not found"#)
            || out.stdout.contains("pods"),
        "{out:?}"
    );
    let (code, _, body) = curl_admin(
        &rampart,
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
        &["Impersonate-User: eks-user"],
        Some(
            r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","spec":{"namespace":"default"}}"#,
        ),
    );
    assert_eq!(code, 201, "{body}");
    let review: serde_json::Value = serde_json::from_str(&body).unwrap();
    let status = &review["status"];
    assert_eq!(status["incomplete"], false);
    assert_eq!(status["evaluationError"], r#"clusterrole.rbac.authorization.k8s.io "ghost" not found"#);
    assert!(
        status["resourceRules"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]})),
        "{status}"
    );

    let (_, token) = service_account(&rampart, "builder");
    let review = json(
        &create(
            &rampart,
            &format!(
                r#"{{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{{"token":"{token}"}}}}"#
            ),
        )
        .ok(),
    );
    assert_eq!(review["status"]["authenticated"], true);
    assert_eq!(review["status"]["user"]["username"], "system:serviceaccount:default:builder");
    assert_eq!(
        review["status"]["user"]["groups"],
        serde_json::json!(["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"])
    );
    let review = json(
        &create(&rampart, r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"nope"}}"#)
            .ok(),
    );
    assert_eq!(review["status"]["authenticated"], serde_json::Value::Null);
    assert_eq!(review["status"]["user"], serde_json::json!({}));
}
