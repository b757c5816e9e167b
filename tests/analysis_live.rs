//! The access-hygiene commands against a running `rampart serve`, with the real clients:
//! `rampart audit2rbac` on the audit log of the tutorial's user driving kubectl (through aws-auth
//! and `aws eks get-token`), its output applied in place of the tutorial's wide Role and the
//! same commands replayed successfully; `rampart lint --kubeconfig` reading the live cluster
//! (and its access entries with `--cluster-name`).

mod common;

use common::eks::*;

const USER_ARN: &str = "arn:aws:iam::123456789012:user/eks-user";

/// What the tutorial's user does, as kubectl commands (`{pod}` is the web pod).
const SESSION: &[&[&str]] = &[
    &["get", "pods"],
    &["logs", "{pod}"],
    &["get", "deployments"],
    &["get", "configmaps"],
    &["create", "configmap", "my-cm", "--from-literal=greeting=hello"],
    &["get", "secrets"],
];

fn session(rampart: &Rampart, pod: &str) -> Vec<Output> {
    SESSION
        .iter()
        .map(|args| {
            let args: Vec<String> = args.iter().map(|a| a.replace("{pod}", pod)).collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            kubectl_as(rampart, "eks-user", &args)
        })
        .collect()
}

#[test]
fn audit2rbac_least_privilege_replays_the_tutorial() {
    let rampart = Rampart::start();
    rampart
        .kubectl(&["create", "deployment", "web", "--image=busybox", "--", "sh", "-c", "echo hello; sleep 3600"])
        .ok();
    user_with_profile(&rampart, "eks-user");
    edit_aws_auth_map_users(&rampart, &[&format!("- userarn: {USER_ARN}"), "  username: eks-user"]);
    let role = rampart.write_file("role.yaml", include_str!("data/tutorial/role-extended.yaml"));
    let binding = rampart.write_file("rolebinding.yaml", include_str!("data/tutorial/rolebinding.yaml"));
    rampart.kubectl(&["apply", "-f", role.to_str().unwrap(), "-f", binding.to_str().unwrap()]).ok();
    let pod = eventually_pod(&rampart);

    // The user's session under the tutorial's wide role.
    for out in session(&rampart, &pod) {
        out.ok();
    }

    // The least privilege that session needs.
    let log = rampart.data_dir.join("logs/rampart/audit.log");
    let out = rampart.rampart(&["audit2rbac", "--user", "eks-user", "--audit-log", log.to_str().unwrap()]).ok();
    let generated = out.stdout;
    assert!(generated.contains("kind: Role\n") && generated.contains("kind: RoleBinding\n"), "{generated}");
    assert!(generated.contains(&format!("- {pod}")), "logs of one pod: its name is kept: {generated}");
    assert!(!generated.contains("pods/exec") && !generated.contains("delete"), "{generated}");
    let by_arn = rampart.rampart(&["audit2rbac", "--as-arn", USER_ARN, "--audit-log", log.to_str().unwrap()]).ok();
    assert_eq!(by_arn.stdout, generated, "the same requests, found by the IAM ARN");
    let nobody = rampart.rampart(&["audit2rbac", "--user", "nobody", "--audit-log", log.to_str().unwrap()]);
    assert_eq!(nobody.code, 1, "{nobody:?}");

    // The wide role goes, the generated objects come, and the same session works again.
    rampart.kubectl(&["delete", "-f", role.to_str().unwrap(), "-f", binding.to_str().unwrap()]).ok();
    rampart.kubectl(&["delete", "configmap", "my-cm"]).ok();
    kubectl_as(&rampart, "eks-user", &["get", "pods"]).failed();
    let generated_file = rampart.write_file("least-privilege.yaml", &generated);
    rampart.kubectl(&["apply", "-f", generated_file.to_str().unwrap()]).ok();
    for (args, out) in SESSION.iter().zip(session(&rampart, &pod)) {
        assert_eq!(out.code, 0, "{args:?} after applying audit2rbac's objects: {out:?}");
    }
    // And no more than the session: what the tutorial's role allowed but the session never did.
    let out = kubectl_as(&rampart, "eks-user", &["auth", "can-i", "delete", "pods"]);
    assert_eq!((out.code, out.stdout.as_str()), (1, "no\n"));
    let out = kubectl_as(&rampart, "eks-user", &["auth", "can-i", "get", "pods/other-pod"]);
    assert_eq!((out.code, out.stdout.as_str()), (1, "no\n"));
}

/// The web pod's name, once the deployment made it.
fn eventually_pod(rampart: &Rampart) -> String {
    let mut name = String::new();
    assert!(eventually(|| {
        let out = rampart.kubectl(&["get", "pods", "-o", "name"]).ok();
        name = out.stdout.trim().trim_start_matches("pod/").to_string();
        name.starts_with("web-")
    }));
    name
}

#[test]
fn lint_reads_a_live_cluster_through_a_kubeconfig() {
    let rampart = Rampart::start();
    let admin = rampart.data_dir.join("admin.kubeconfig");
    let kubeconfig = admin.to_str().unwrap();
    // A fresh cluster: Kubernetes' own policy is not linted, the node mapping is benign.
    let out = rampart.rampart(&["lint", "--kubeconfig", kubeconfig]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.ends_with("0 error(s), 0 warning(s), 0 note(s)\n"), "{}", out.stdout);
    // A cluster-admin binding and an aws-auth role with a path, written with kubectl.
    rampart
        .kubectl(&["create", "clusterrolebinding", "alice-admin", "--clusterrole=cluster-admin", "--user=alice"])
        .ok();
    set_aws_auth(
        &rampart,
        Some("- rolearn: arn:aws:iam::123456789012:role/team/admin\n  username: admin\n  groups: [admins]\n"),
        None,
        None,
    )
    .ok();
    let out = rampart.rampart(&["lint", "--kubeconfig", kubeconfig, "-o", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    // The other offline commands read the live policy the same way.
    let alice = rampart.rampart(&["auth", "can-i", "delete", "nodes", "--as", "alice", "--kubeconfig", kubeconfig]);
    assert_eq!((alice.code, alice.stdout.as_str()), (0, "yes\n"), "{alice:?}");
    let bob = rampart.rampart(&["auth", "can-i", "delete", "nodes", "--as", "bob", "--kubeconfig", kubeconfig]);
    assert_eq!(bob.code, 1, "{bob:?}");
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let rules: Vec<&str> = report["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert!(rules.contains(&"RBAC016") && rules.contains(&"EKS004"), "{rules:?}");
    assert!(report["findings"].as_array().unwrap().iter().all(|f| f["file"] == "cluster"));

    // With --cluster-name, the access entries too (read with the aws CLI): one with
    // AmazonEKSClusterAdminPolicy at cluster scope.
    let access = ["--access-config", "authenticationMode=API_AND_CONFIG_MAP"];
    rampart.aws(&[&["eks", "update-cluster-config", "--name", CLUSTER][..], &access[..]].concat()).ok();
    user_with_profile(&rampart, "ops");
    let ops = format!("arn:aws:iam::{ACCOUNT}:user/ops");
    rampart.aws(&["eks", "create-access-entry", "--cluster-name", CLUSTER, "--principal-arn", &ops]).ok();
    let policy = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";
    associate_access_policy(&rampart, CLUSTER, &ops, policy, "type=cluster").ok();
    let out = rampart.rampart(&["lint", "--kubeconfig", kubeconfig, "--cluster-name", CLUSTER, "-o", "json"]);
    assert_eq!(out.code, 1, "{out:?}");
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let mut principals: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "EKS015")
        .map(|f| f["object"]["name"].as_str().unwrap())
        .collect();
    principals.sort();
    // The cluster creator's entry, which the switch to API_AND_CONFIG_MAP made, has the same policy.
    assert_eq!(principals, [format!("arn:aws:iam::{ACCOUNT}:user/admin"), ops]);
}

#[test]
fn rbac_writes_come_back_with_lints_findings_as_warnings() {
    let rampart = Rampart::start();
    let binding = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: ops-admin}\nsubjects: [{kind: User, name: ops, apiGroup: rbac.authorization.k8s.io}]\nroleRef: {kind: ClusterRole, name: cluster-admin, apiGroup: rbac.authorization.k8s.io}\n";
    let out = admin_kubectl_stdin(&rampart, &["apply", "-f", "-"], binding).ok();
    assert!(out.stdout.contains("clusterrolebinding.rbac.authorization.k8s.io/ops-admin created"), "{}", out.stdout);
    let warnings: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("Warning: ")).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("RBAC016 cluster-admin-binding") && w.contains("ClusterRoleBinding/ops-admin")),
        "{}",
        out.stderr
    );
    // The same finding `rampart lint` reports for the object offline.
    let file = rampart.write_file("binding.yaml", binding);
    let lint = rampart.rampart(&["lint", "-f", file.to_str().unwrap()]);
    assert!(lint.stdout.contains("RBAC016 cluster-admin-binding"), "{}", lint.stdout);
    // A read-only role is written without a warning.
    let reader = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: reader, namespace: default}\nrules: [{apiGroups: [\"\"], resources: [pods], verbs: [get, list]}]\n";
    let out = admin_kubectl_stdin(&rampart, &["apply", "-f", "-"], reader).ok();
    assert!(!out.stderr.contains("Warning: "), "{}", out.stderr);
}
