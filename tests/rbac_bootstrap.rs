//! The 1.32 bootstrap policy as a running cluster serves it, driven by the real kubectl: the
//! controllers' `system:controller:*` ClusterRoles and their bindings to kube-system service
//! accounts are listed, the roles of controllers gated off in 1.32 are not, and the server's RBAC
//! answers the controllers' questions as `rampart auth can-i` does offline over the same policy.

mod common;

use common::access::*;

#[test]
fn the_controllers_roles_are_served_and_answer_as_offline() {
    let rampart = Rampart::start();
    let roles = admin(&rampart, &["get", "clusterroles", "-o", "name"]).ok().stdout;
    let controllers: Vec<&str> =
        roles.lines().filter(|l| l.starts_with("clusterrole.rbac.authorization.k8s.io/system:controller:")).collect();
    assert_eq!(controllers.len(), 33, "{roles}");
    assert!(
        roles.lines().any(|l| l == "clusterrole.rbac.authorization.k8s.io/system:controller:generic-garbage-collector")
    );
    assert!(!roles.contains("system:controller:service-cidrs-controller"), "{roles}");

    let binding = admin(
        &rampart,
        &[
            "get",
            "clusterrolebinding",
            "system:controller:deployment-controller",
            "-o",
            "jsonpath={.roleRef.name} {.subjects[0].kind} {.subjects[0].namespace}/{.subjects[0].name}",
        ],
    )
    .ok()
    .stdout;
    assert_eq!(binding, "system:controller:deployment-controller ServiceAccount kube-system/deployment-controller");

    // The namespaced bootstrap Roles and RoleBindings of kube-system and kube-public.
    let roles = admin(&rampart, &["get", "roles", "-n", "kube-system", "-o", "name"]).ok().stdout;
    assert!(roles.lines().any(|l| l == "role.rbac.authorization.k8s.io/extension-apiserver-authentication-reader"));
    assert!(roles.lines().any(|l| l == "role.rbac.authorization.k8s.io/system:controller:bootstrap-signer"));
    let public = admin(&rampart, &["get", "rolebindings", "-n", "kube-public", "-o", "name"]).ok().stdout;
    assert!(public.lines().any(|l| l == "rolebinding.rbac.authorization.k8s.io/system:controller:bootstrap-signer"));

    // The server (kubectl auth can-i, impersonating) and the offline analysis agree.
    let sa = |name: &str| format!("system:serviceaccount:kube-system:{name}");
    let questions: [(&str, &str, String, &str, &str); 5] = [
        ("watch", "secrets", sa("bootstrap-signer"), "kube-system", "yes"),
        ("create", "replicasets.apps", sa("deployment-controller"), "team", "yes"),
        ("create", "pods", sa("deployment-controller"), "team", "no"),
        ("delete", "deployments.apps", sa("generic-garbage-collector"), "team", "yes"),
        ("delete", "nodes", sa("node-controller"), "", "yes"),
    ];
    for (verb, resource, user, namespace, expected) in &questions {
        let mut args = vec!["auth", "can-i", *verb, *resource, "--as", user.as_str()];
        if namespace.is_empty() {
            args.push("-A");
        } else {
            args.extend_from_slice(&["-n", namespace]);
        }
        let server = admin(&rampart, &args);
        assert_eq!(server.stdout.trim(), *expected, "server: {args:?}\n{}", server.stderr);
        let offline = rampart.rampart(&args);
        assert_eq!(offline.stdout.trim(), *expected, "offline: {args:?}\n{}", offline.stderr);
    }
}
