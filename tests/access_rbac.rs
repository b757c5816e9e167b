//! RBAC built into every cluster, driven by the real kubectl: the tutorial's Role and RoleBinding
//! for `eks-user` (through impersonation by the administrator, and a service account through its
//! own token), the exact denial wording, changes effective on the next request, the bootstrap
//! policy (discovery, can-i and whoami for every authenticated user), its reconciliation after a
//! restart, and ClusterRole aggregation; impersonation allowed, denied and malformed.

mod common;

use common::access::*;

/// The tutorial's Role and RoleBinding (the README's quickstart files).
const ROLE: &str =
    concat!(include_str!("data/tutorial/role.yaml"), "---\n", include_str!("data/tutorial/rolebinding.yaml"));

#[test]
fn the_tutorial_role_through_impersonation() {
    let rampart = Rampart::start();
    apply(&rampart, ROLE);
    admin(&rampart, &["create", "secret", "generic", "s", "--from-literal=k=v"]).ok();

    let out = admin(&rampart, &["get", "pods", "--as", "eks-user"]).ok();
    assert_eq!(out.stderr.trim(), "No resources found in default namespace.");
    let out = admin(&rampart, &["get", "secrets", "--as", "eks-user"]).failed();
    assert_eq!(
        out.stderr.trim(),
        r#"Error from server (Forbidden): secrets is forbidden: User "eks-user" cannot list resource "secrets" in API group "" in the namespace "default""#
    );
    let out = admin(&rampart, &["get", "secret", "s", "--as", "eks-user"]).failed();
    assert_eq!(
        out.stderr.trim(),
        r#"Error from server (Forbidden): secrets "s" is forbidden: User "eks-user" cannot get resource "secrets" in API group "" in the namespace "default""#
    );
    let out = admin(&rampart, &["get", "pods", "-n", "kube-system", "--as", "eks-user"]).failed();
    assert!(out.stderr.contains(r#"in the namespace "kube-system""#), "{}", out.stderr);
    let out = admin(&rampart, &["get", "nodes", "--as", "eks-user"]).failed();
    assert_eq!(
        out.stderr.trim(),
        r#"Error from server (Forbidden): nodes is forbidden: User "eks-user" cannot list resource "nodes" in API group "" at the cluster scope"#
    );

    // --as-group: a group binding grants what the user alone lacks; system:masters is everything.
    admin(&rampart, &["create", "rolebinding", "devs-view", "--clusterrole=view", "--group=dev"]).ok();
    admin(&rampart, &["get", "configmaps", "--as", "eks-user"]).failed();
    admin(&rampart, &["get", "configmaps", "--as", "eks-user", "--as-group", "dev"]).ok();
    admin(&rampart, &["get", "nodes", "--as", "eks-user", "--as-group", "system:masters"]).ok();

    // A role missing: the reason is appended.
    admin(&rampart, &["delete", "role", "eks-user-role"]).ok();
    let out = admin(&rampart, &["get", "pods", "--as", "eks-user"]).failed();
    assert_eq!(
        out.stderr.trim(),
        r#"Error from server (Forbidden): pods is forbidden: User "eks-user" cannot list resource "pods" in API group "" in the namespace "default": RBAC: role.rbac.authorization.k8s.io "eks-user-role" not found"#
    );
    // ... and back: effective on the very next request.
    apply(&rampart, ROLE);
    admin(&rampart, &["get", "pods", "--as", "eks-user"]).ok();
    admin(&rampart, &["delete", "rolebinding", "eks-user-role-binding"]).ok();
    admin(&rampart, &["get", "pods", "--as", "eks-user"]).failed();
}

#[test]
fn whoami_and_can_i_for_every_authenticated_user() {
    let rampart = Rampart::start();
    apply(&rampart, ROLE);

    let out = admin(&rampart, &["auth", "whoami", "--as", "eks-user", "--as-group", "dev"]).ok();
    assert_eq!(
        rows(&out.stdout),
        vec![vec!["ATTRIBUTE", "VALUE"], vec!["Username", "eks-user"], vec!["Groups", "[dev system:authenticated]"]]
    );
    let out = admin(&rampart, &["auth", "whoami", "-o", "json", "--as", "eks-user", "--as-uid", "u-1"]).ok();
    let review = json(&out);
    assert_eq!(review["kind"], "SelfSubjectReview");
    assert_eq!(review["status"]["userInfo"]["username"], "eks-user");
    assert_eq!(review["status"]["userInfo"]["uid"], "u-1");
    assert_eq!(review["status"]["userInfo"]["groups"], serde_json::json!(["system:authenticated"]));
    let out = admin(&rampart, &["auth", "whoami"]).ok();
    assert!(out.stdout.contains("[system:masters system:authenticated]"), "{}", out.stdout);

    let can_i = |args: &[&str]| {
        let mut all = vec!["auth", "can-i"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--as", "eks-user"]);
        admin(&rampart, &all)
    };
    assert_eq!(can_i(&["list", "pods"]).ok().stdout, "yes\n");
    let out = can_i(&["get", "secrets"]);
    assert_eq!((out.code, out.stdout.as_str()), (1, "no\n"));
    assert_eq!(can_i(&["list", "pods", "-n", "kube-system"]).stdout, "no\n");
    assert_eq!(can_i(&["list", "pods", "-A"]).stdout, "no\n");
    assert_eq!(can_i(&["get", "pods", "--subresource=log"]).stdout, "no\n");
    assert_eq!(can_i(&["get", "/version"]).ok().stdout, "yes\n", "system:public-info-viewer");
    assert_eq!(can_i(&["get", "/apis/apps"]).ok().stdout, "yes\n", "system:discovery");
    assert_eq!(can_i(&["get", "/logs"]).stdout, "no\n");
    assert_eq!(can_i(&["create", "selfsubjectaccessreviews.authorization.k8s.io"]).ok().stdout, "yes\n");
    assert_eq!(can_i(&["*", "*"]).stdout, "no\n");
    assert_eq!(admin(&rampart, &["auth", "can-i", "*", "*"]).ok().stdout, "yes\n");
    // Names and subresources through a role that has them.
    apply(
        &rampart,
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: logs, namespace: default}
rules:
  - {apiGroups: [""], resources: ["pods/log"], verbs: ["get"], resourceNames: ["web"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: logs, namespace: default}
subjects: [{kind: User, name: eks-user, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: Role, name: logs, apiGroup: rbac.authorization.k8s.io}
"#,
    );
    assert_eq!(can_i(&["get", "pods/web", "--subresource=log"]).ok().stdout, "yes\n");
    assert_eq!(can_i(&["get", "pods/db", "--subresource=log"]).stdout, "no\n");
    assert_eq!(can_i(&["get", "pods/web"]).stdout, "no\n");

    let out = can_i(&["--list"]).ok();
    let table = rows(&out.stdout);
    assert_eq!(table[0], vec!["Resources", "Non-Resource URLs", "Resource Names", "Verbs"]);
    assert!(table.contains(&vec!["pods".into(), "[]".into(), "[]".into(), "[list]".into()]), "{table:?}");
    assert!(table.contains(&vec!["pods/log".into(), "[]".into(), "[web]".into(), "[get]".into()]), "{table:?}");
    assert!(
        table.contains(&vec![
            "selfsubjectaccessreviews.authorization.k8s.io".into(),
            "[]".into(),
            "[]".into(),
            "[create]".into()
        ]),
        "{table:?}"
    );
    assert!(table.iter().any(|r| r == &vec!["[/version]".to_string(), "[]".into(), "[get]".into()]), "{table:?}");
    let out = can_i(&["--list", "-n", "kube-system"]).ok();
    assert!(!out.stdout.contains("pods "), "{}", out.stdout);
}

#[test]
fn a_service_account_with_its_own_token() {
    let rampart = Rampart::start();
    let (bob, _) = service_account(&rampart, "bob");
    // Discovery, version, whoami: the bootstrap policy, for every authenticated user.
    kubectl_with(&rampart, &bob, &["version"]).ok();
    kubectl_with(&rampart, &bob, &["api-resources"]).ok();
    let out = kubectl_with(&rampart, &bob, &["auth", "whoami"]).ok();
    assert!(out.stdout.contains("system:serviceaccount:default:bob"), "{}", out.stdout);
    let out = kubectl_with(&rampart, &bob, &["get", "pods"]).failed();
    assert_eq!(
        out.stderr.trim(),
        r#"Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:default:bob" cannot list resource "pods" in API group "" in the namespace "default""#
    );
    admin(&rampart, &["create", "role", "pod-reader", "--verb=get,list", "--resource=pods"]).ok();
    admin(&rampart, &["create", "rolebinding", "bob-reads", "--role=pod-reader", "--serviceaccount=default:bob"]).ok();
    kubectl_with(&rampart, &bob, &["get", "pods"]).ok();
    // Bound through the group of the namespace's service accounts.
    admin(
        &rampart,
        &["create", "rolebinding", "sa-cm", "--clusterrole=view", "--group=system:serviceaccounts:default"],
    )
    .ok();
    kubectl_with(&rampart, &bob, &["get", "configmaps"]).ok();

    // Impersonation denied: bob may not impersonate.
    let out = kubectl_with(&rampart, &bob, &["get", "pods", "--as", "eks-user"]).failed();
    assert_eq!(
        out.stderr.trim(),
        r#"Error from server (Forbidden): users "eks-user" is forbidden: User "system:serviceaccount:default:bob" cannot impersonate resource "users" in API group "" at the cluster scope"#
    );
    let out = kubectl_with(&rampart, &bob, &["auth", "can-i", "get", "pods", "--as", "eks-user"]).failed();
    assert!(out.stderr.contains(r#"users "eks-user" is forbidden"#), "{}", out.stderr);
    // ... then allowed users but not groups.
    apply(
        &rampart,
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: impersonate-users}
rules: [{apiGroups: [""], resources: ["users"], verbs: ["impersonate"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: bob-impersonates}
subjects: [{kind: ServiceAccount, name: bob, namespace: default}]
roleRef: {kind: ClusterRole, name: impersonate-users, apiGroup: rbac.authorization.k8s.io}
"#,
    );
    let out = kubectl_with(&rampart, &bob, &["auth", "whoami", "--as", "eks-user"]).ok();
    assert!(out.stdout.contains("eks-user") && !out.stdout.contains("bob"), "{}", out.stdout);
    let out =
        kubectl_with(&rampart, &bob, &["get", "pods", "--as", "eks-user", "--as-group", "system:masters"]).failed();
    assert_eq!(
        out.stderr.trim(),
        r#"Error from server (Forbidden): groups "system:masters" is forbidden: User "system:serviceaccount:default:bob" cannot impersonate resource "groups" in API group "" at the cluster scope"#
    );
    let out =
        kubectl_with(&rampart, &bob, &["get", "pods", "--as", "system:serviceaccount:kube-system:default"]).failed();
    assert!(
        out.stderr.contains(r#"serviceaccounts "default" is forbidden: User "system:serviceaccount:default:bob" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "kube-system""#),
        "{}",
        out.stderr
    );
}

#[test]
fn malformed_impersonation_is_kube_apiservers_internal_error() {
    let rampart = Rampart::start();
    let (code, content_type, body) =
        curl_admin(&rampart, "GET", "/api/v1/namespaces/default/pods", &["Impersonate-Group: dev"], None);
    assert_eq!((code, content_type.as_str()), (500, "text/plain; charset=utf-8"));
    assert_eq!(
        body,
        "Internal Server Error: \"/api/v1/namespaces/default/pods\": requested [{Group  dev    }] without impersonating a user\n"
    );
    // An empty user impersonates nobody.
    let (code, _, body) = curl_admin(&rampart, "GET", "/apis/authentication.k8s.io/v1", &["Impersonate-User;"], None);
    assert_eq!(code, 200, "{body}");
    // Impersonation applies to discovery and the reviews too, extras included.
    let (code, _, body) = curl_admin(
        &rampart,
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        &["Impersonate-User: jane", "Impersonate-Extra-Acme.com%2Fproject: apollo"],
        Some(r#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#),
    );
    assert_eq!(code, 201, "{body}");
    let review: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        review["status"]["userInfo"],
        serde_json::json!({"username": "jane", "groups": ["system:authenticated"], "extra": {"acme.com/project": ["apollo"]}})
    );
    // system:public-info-viewer is for everyone; system:discovery only for the authenticated.
    let anonymous = ["Impersonate-User: nobody", "Impersonate-Group: system:unauthenticated"];
    let (code, _, body) = curl_admin(&rampart, "GET", "/version", &anonymous, None);
    assert_eq!(code, 200, "{body}");
    let (code, _, body) = curl_admin(&rampart, "GET", "/apis", &anonymous, None);
    assert_eq!(code, 403, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["message"],
        r#"forbidden: User "nobody" cannot get path "/apis""#
    );
}

#[test]
fn bootstrap_policy_is_reconciled_and_aggregation_follows_labels() {
    let mut rampart = Rampart::start();
    let out = admin(&rampart, &["get", "clusterrolebinding", "system:basic-user", "-o", "json"]).ok();
    let binding = json(&out);
    assert_eq!(binding["subjects"][0]["name"], "system:authenticated");
    assert_eq!(binding["metadata"]["annotations"]["rbac.authorization.kubernetes.io/autoupdate"], "true");

    // The user narrows a bootstrap role (kept in part at restart), opts one out, deletes one.
    let role = json(&admin(&rampart, &["get", "clusterrole", "system:public-info-viewer", "-o", "json"]).ok());
    assert!(role["rules"][0]["nonResourceURLs"].as_array().unwrap().iter().any(|u| u == "/version"));
    apply(
        &rampart,
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:public-info-viewer
  labels: {mine: "yes"}
rules: [{nonResourceURLs: ["/healthz"], verbs: ["get"]}, {nonResourceURLs: ["/mine"], verbs: ["get"]}]
"#,
    );
    admin(
        &rampart,
        &[
            "annotate",
            "clusterrole",
            "system:discovery",
            "rbac.authorization.kubernetes.io/autoupdate=false",
            "--overwrite",
        ],
    )
    .ok();
    admin(
        &rampart,
        &[
            "patch",
            "clusterrole",
            "system:discovery",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/rules","value":[{"nonResourceURLs":["/api"],"verbs":["get"]}]}]"#,
        ],
    )
    .ok();
    admin(&rampart, &["delete", "clusterrolebinding", "system:basic-user"]).ok();
    admin(&rampart, &["delete", "clusterrole", "view"]).ok();
    // Without system:basic-user's binding, not even can-i is allowed; /version is narrowed away.
    let out = admin(&rampart, &["auth", "can-i", "get", "/version", "--as", "u"]).failed();
    assert!(out.stderr.contains(r#"User "u" cannot create resource "selfsubjectaccessreviews""#), "{}", out.stderr);
    assert_eq!(curl_admin(&rampart, "GET", "/version", &["Impersonate-User: u"], None).0, 403);

    // An aggregated role follows the labelled roles.
    apply(
        &rampart,
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: widgets-edit
  labels: {rbac.authorization.k8s.io/aggregate-to-edit: "true"}
rules: [{apiGroups: [""], resources: ["widgets"], verbs: ["get", "list", "create"]}]
"#,
    );
    admin(&rampart, &["create", "rolebinding", "u-edit", "--clusterrole=edit", "--user=u"]).ok();
    let mut aggregated = false;
    for _ in 0..50 {
        let edit = json(&admin(&rampart, &["get", "clusterrole", "edit", "-o", "json"]).ok());
        if edit["rules"].as_array().unwrap().iter().any(|r| r["resources"][0] == "widgets") {
            aggregated = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(aggregated, "edit aggregates widgets-edit");
    // A user aggregated role.
    apply(
        &rampart,
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: monitoring}
aggregationRule:
  clusterRoleSelectors: [{matchLabels: {team: mon}}]
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: mon-pods
  labels: {team: mon}
rules: [{apiGroups: [""], resources: ["pods"], verbs: ["watch"]}]
"#,
    );
    let mut rules = serde_json::Value::Null;
    for _ in 0..50 {
        rules = json(&admin(&rampart, &["get", "clusterrole", "monitoring", "-o", "json"]).ok())["rules"].clone();
        if rules.as_array().is_some_and(|r| !r.is_empty()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(rules, serde_json::json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["watch"]}]));
    admin(&rampart, &["delete", "clusterrole", "mon-pods"]).ok();
    for _ in 0..50 {
        rules = json(&admin(&rampart, &["get", "clusterrole", "monitoring", "-o", "json"]).ok())["rules"].clone();
        if rules.as_array().is_some_and(|r| r.is_empty()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(rules, serde_json::json!([]));

    rampart.restart();
    // Deleted bootstrap objects are back, with their rules aggregated.
    let binding = json(&admin(&rampart, &["get", "clusterrolebinding", "system:basic-user", "-o", "json"]).ok());
    assert_eq!(binding["subjects"][0]["name"], "system:authenticated");
    assert_eq!(
        admin(&rampart, &["auth", "can-i", "list", "pods", "--as", "v", "--as-group", "viewers"]).stdout,
        "no\n"
    );
    admin(&rampart, &["create", "clusterrolebinding", "viewers", "--clusterrole=view", "--group=viewers"]).ok();
    assert_eq!(
        admin(&rampart, &["auth", "can-i", "list", "pods", "--as", "v", "--as-group", "viewers"]).ok().stdout,
        "yes\n"
    );
    // Missing rules are added back, the user's rule and label kept.
    let role = json(&admin(&rampart, &["get", "clusterrole", "system:public-info-viewer", "-o", "json"]).ok());
    assert_eq!(role["metadata"]["labels"]["mine"], "yes");
    assert_eq!(role["metadata"]["labels"]["kubernetes.io/bootstrapping"], "rbac-defaults");
    let urls: Vec<&str> = role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["nonResourceURLs"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()))
        .collect();
    assert!(urls.contains(&"/mine") && urls.contains(&"/version") && urls.contains(&"/livez"), "{urls:?}");
    assert_eq!(admin(&rampart, &["auth", "can-i", "get", "/version", "--as", "u"]).ok().stdout, "yes\n");
    // autoupdate=false is left alone.
    let role = json(&admin(&rampart, &["get", "clusterrole", "system:discovery", "-o", "json"]).ok());
    assert_eq!(role["rules"], serde_json::json!([{"nonResourceURLs": ["/api"], "verbs": ["get"]}]));
    // The aggregated edit still has the user's labelled role after the restart.
    assert_eq!(admin(&rampart, &["auth", "can-i", "create", "widgets", "--as", "u"]).stdout, "yes\n");
}
