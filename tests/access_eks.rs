//! EKS-token users go through the same chain: an IAM user mapped to Kubernetes user `eks-user` by
//! aws-auth `mapUsers` with no groups, bound only by the tutorial's RoleBinding, driving the real
//! kubectl through `aws eks get-token`; their audit lines carry the IAM ARN and access key ID,
//! never the token.

mod common;

use common::eks::*;

const ROLE: &str = r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: eks-user-role, namespace: default}
rules: [{apiGroups: [""], resources: ["pods"], verbs: ["list"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: eks-user-role-binding, namespace: default}
subjects: [{kind: User, name: eks-user, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: Role, name: eks-user-role, apiGroup: rbac.authorization.k8s.io}
"#;

#[test]
fn an_iam_user_mapped_by_aws_auth_is_decided_by_rbac() {
    let rampart = Rampart::start();
    let key_id = user_with_profile(&rampart, "eks-user");
    let arn = format!("arn:aws:iam::{ACCOUNT}:user/eks-user");
    set_aws_auth(&rampart, None, Some(&format!("- userarn: {arn}\n  username: eks-user\n")), None).ok();
    admin_kubectl(&rampart, &["create", "secret", "generic", "db", "--from-literal=password=hunter2-eks"]).ok();

    // Mapped, bound to nothing yet: authenticated, discovery and whoami work, pods are forbidden.
    let out = kubectl_as(&rampart, "eks-user", &["auth", "whoami", "-o", "json"]).ok();
    let who = json(&out);
    assert_eq!(who["status"]["userInfo"]["username"], "eks-user");
    assert_eq!(who["status"]["userInfo"]["groups"], serde_json::json!(["system:authenticated"]));
    assert_eq!(who["status"]["userInfo"]["extra"]["arn"][0], arn.as_str());
    assert_eq!(who["status"]["userInfo"]["extra"]["accessKeyId"][0], key_id.as_str());
    let out = kubectl_as(&rampart, "eks-user", &["get", "pods"]).failed();
    assert!(
        out.stderr.contains(r#"Error from server (Forbidden): pods is forbidden: User "eks-user" cannot list resource "pods" in API group "" in the namespace "default""#),
        "{}",
        out.stderr
    );

    admin_kubectl_stdin(&rampart, &["apply", "-f", "-"], ROLE).ok();
    let out = kubectl_as(&rampart, "eks-user", &["get", "pods"]).ok();
    assert_eq!(out.stderr.trim(), "No resources found in default namespace.");
    let out = kubectl_as(&rampart, "eks-user", &["get", "secrets"]).failed();
    assert_eq!(
        out.stderr.trim(),
        r#"Error from server (Forbidden): secrets is forbidden: User "eks-user" cannot list resource "secrets" in API group "" in the namespace "default""#
    );
    assert_eq!(kubectl_as(&rampart, "eks-user", &["auth", "can-i", "list", "pods"]).ok().stdout, "yes\n");
    assert_eq!(kubectl_as(&rampart, "eks-user", &["auth", "can-i", "list", "secrets"]).stdout, "no\n");

    // The audit log: the IAM identity behind each request, the decision, and no secret.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let text = std::fs::read_to_string(rampart.data_dir.join("logs/rampart/audit.log")).unwrap();
    let events: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let allowed = events
        .iter()
        .find(|e| {
            e["user"]["username"] == "eks-user"
                && e["objectRef"]["resource"] == "pods"
                && e["responseStatus"]["code"] == 200
        })
        .expect("the allowed list of pods");
    assert_eq!(allowed["annotations"]["authorization.k8s.io/decision"], "allow");
    assert_eq!(
        allowed["annotations"]["authorization.k8s.io/reason"],
        r#"RBAC: allowed by RoleBinding "eks-user-role-binding/default" of Role "eks-user-role" to User "eks-user""#
    );
    assert_eq!(allowed["user"]["extra"]["arn"][0], arn.as_str());
    assert_eq!(allowed["user"]["extra"]["accessKeyId"][0], key_id.as_str());
    let denied = events
        .iter()
        .find(|e| e["user"]["username"] == "eks-user" && e["objectRef"]["resource"] == "secrets")
        .expect("the forbidden list of secrets");
    assert_eq!(denied["annotations"]["authorization.k8s.io/decision"], "forbid");
    assert_eq!(denied["responseStatus"]["code"], 403);
    assert!(!text.contains("hunter2-eks") && !text.contains("aHVudGVyMi1la3M"), "no Secret data");
    assert!(!text.contains("k8s-aws-v1.") && !text.contains("X-Amz-Signature"), "no token, no signature");
}
