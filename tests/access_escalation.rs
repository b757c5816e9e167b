//! Escalation prevention with the real kubectl: a user who may write roles and bindings in a
//! namespace but holds only some permissions cannot grant more (create, apply, patch, server dry
//! run), gets Kubernetes' message, and nothing is stored; `escalate` and `bind` lift the checks.

mod common;

use common::access::*;

/// `dev` may manage roles and bindings in `default` and list pods, nothing more.
const RBAC_MANAGER: &str = r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: rbac-manager, namespace: default}
rules:
  - {apiGroups: ["rbac.authorization.k8s.io"], resources: ["roles", "rolebindings"], verbs: ["create", "get", "list", "update", "patch", "delete"]}
  - {apiGroups: [""], resources: ["pods"], verbs: ["list"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dev-manages-rbac, namespace: default}
subjects: [{kind: User, name: dev, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: Role, name: rbac-manager, apiGroup: rbac.authorization.k8s.io}
"#;

fn as_dev(rampart: &Rampart, args: &[&str], stdin: &str) -> Output {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--as", "dev"]);
    admin_stdin(rampart, &all, stdin)
}

#[test]
fn roles_and_bindings_cannot_grant_more_than_the_writer_holds() {
    let rampart = Rampart::start();
    apply(&rampart, RBAC_MANAGER);

    // A role within dev's own permissions: allowed.
    let within = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: lister, namespace: default}\nrules: [{apiGroups: [\"\"], resources: [\"pods\"], verbs: [\"list\"]}]\n";
    as_dev(&rampart, &["create", "-f", "-"], within).ok();
    // Beyond them: refused with Kubernetes' message, on create, dry run, apply and patch.
    let beyond = within.replace("lister", "deleter").replace("[\"list\"]", "[\"list\", \"delete\"]");
    let out = as_dev(&rampart, &["create", "-f", "-"], &beyond).failed();
    let message = r#"roles.rbac.authorization.k8s.io "deleter" is forbidden: user "dev" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:
{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}"#;
    assert_eq!(out.stderr.trim(), format!("Error from server (Forbidden): error when creating \"STDIN\": {message}"));
    let out = as_dev(&rampart, &["create", "-f", "-", "--dry-run=server"], &beyond).failed();
    assert!(out.stderr.contains(message), "{}", out.stderr);
    let out = as_dev(&rampart, &["apply", "--server-side", "-f", "-"], &beyond).failed();
    assert!(out.stderr.contains(message), "{}", out.stderr);
    admin(&rampart, &["get", "role", "deleter"]).failed();
    let out = as_dev(
        &rampart,
        &[
            "patch",
            "role",
            "lister",
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/rules/0/verbs/-","value":"delete"}]"#,
        ],
        "",
    )
    .failed();
    assert!(out.stderr.contains("is attempting to grant RBAC permissions not currently held"), "{}", out.stderr);
    let stored = json(&admin(&rampart, &["get", "role", "lister", "-o", "json"]).ok());
    assert_eq!(stored["rules"][0]["verbs"], serde_json::json!(["list"]), "the refused patch stored nothing");
    // A label-only change to a role dev covers is fine.
    as_dev(&rampart, &["label", "role", "lister", "team=a"], "").ok();

    // Bindings: to a role dev covers, yes; to one dev does not (edit), no.
    as_dev(&rampart, &["create", "rolebinding", "ok", "--role=lister", "--user=jane"], "").ok();
    let out =
        as_dev(&rampart, &["create", "rolebinding", "too-much", "--clusterrole=edit", "--user=jane"], "").failed();
    assert!(
        out.stderr.starts_with(
            r#"error: failed to create rolebinding: rolebindings.rbac.authorization.k8s.io "too-much" is forbidden: user "dev" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:"#
        ),
        "{}",
        out.stderr
    );
    // A binding to a role that does not exist cannot be checked.
    let out = as_dev(&rampart, &["create", "rolebinding", "ghost", "--role=ghost", "--user=jane"], "").failed();
    assert_eq!(
        out.stderr.trim(),
        r#"error: failed to create rolebinding: roles.rbac.authorization.k8s.io "ghost" not found"#
    );

    // `bind` on edit lets dev bind it; `escalate` on roles lets dev write any role.
    apply(
        &rampart,
        r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: binder, namespace: default}
rules:
  - {apiGroups: ["rbac.authorization.k8s.io"], resources: ["clusterroles"], verbs: ["bind"], resourceNames: ["edit"]}
  - {apiGroups: ["rbac.authorization.k8s.io"], resources: ["roles"], verbs: ["escalate"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: dev-binds, namespace: default}
subjects: [{kind: User, name: dev, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: Role, name: binder, apiGroup: rbac.authorization.k8s.io}
"#,
    );
    as_dev(&rampart, &["create", "rolebinding", "too-much", "--clusterrole=edit", "--user=jane"], "").ok();
    let out = as_dev(&rampart, &["create", "rolebinding", "admin", "--clusterrole=admin", "--user=jane"], "").failed();
    assert!(out.stderr.contains("is attempting to grant RBAC permissions not currently held"), "{}", out.stderr);
    as_dev(&rampart, &["create", "-f", "-"], &beyond).ok();
    // Cluster-scoped objects are not dev's to write at all: plain RBAC denial.
    let out = as_dev(&rampart, &["create", "clusterrole", "x", "--verb=get", "--resource=pods"], "").failed();
    assert!(
        out.stderr.contains(r#"User "dev" cannot create resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope"#),
        "{}",
        out.stderr
    );
}

/// `esc` may create, get and update ClusterRoles and Roles, and `escalate` only those named
/// `new-role`; it holds no other permission.
const NAMED_ESCALATE: &str = r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: named-escalator}
rules:
  - {apiGroups: ["rbac.authorization.k8s.io"], resources: ["clusterroles", "roles"], verbs: ["create", "get", "update"]}
  - {apiGroups: ["rbac.authorization.k8s.io"], resources: ["clusterroles", "roles"], resourceNames: ["new-role"], verbs: ["escalate"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: esc-named-escalator}
subjects: [{kind: User, name: esc, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: ClusterRole, name: named-escalator, apiGroup: rbac.authorization.k8s.io}
"#;

#[test]
fn escalate_limited_by_resource_names_covers_updates_not_creates() {
    let rampart = Rampart::start();
    apply(&rampart, NAMED_ESCALATE);
    let as_esc = |args: &[&str], stdin: &str| {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--as", "esc"]);
        admin_stdin(&rampart, &all, stdin)
    };
    for (kind, namespace, resource) in [("ClusterRole", "", "clusterroles"), ("Role", "default", "roles")] {
        let meta = if namespace.is_empty() {
            "{name: new-role}".to_string()
        } else {
            format!("{{name: new-role, namespace: {namespace}}}")
        };
        let grants_secrets = format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata: {meta}\nrules: [{{apiGroups: [\"\"], resources: [\"secrets\"], verbs: [\"get\"]}}]\n"
        );
        // A create has no name in its request, as kube-apiserver's RequestInfo: `escalate` on
        // `new-role` does not apply, and esc does not hold what the role grants.
        let out = as_esc(&["create", "-f", "-"], &grants_secrets).failed();
        let message = format!(
            "{resource}.rbac.authorization.k8s.io \"new-role\" is forbidden: user \"esc\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\"]}}"
        );
        assert_eq!(
            out.stderr.trim(),
            format!("Error from server (Forbidden): error when creating \"STDIN\": {message}")
        );
        let mut get = vec!["get", resource, "new-role"];
        if !namespace.is_empty() {
            get.extend(["-n", namespace]);
        }
        admin(&rampart, &get).failed();
        // Once it exists, an update names it: `escalate` on `new-role` lifts the check.
        let empty = format!("apiVersion: rbac.authorization.k8s.io/v1\nkind: {kind}\nmetadata: {meta}\nrules: []\n");
        admin_stdin(&rampart, &["create", "-f", "-"], &empty).ok();
        as_esc(&["replace", "-f", "-"], &grants_secrets).ok();
        get.extend(["-o", "jsonpath={.rules[0].resources[0]}"]);
        assert_eq!(admin(&rampart, &get).ok().stdout, "secrets");
    }
}
