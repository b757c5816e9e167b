//! Offline IAM → Kubernetes analysis with the rampart binary alone: `rampart auth whoami
//! --as-arn` (kubectl's table, JSON, the authenticator's error, warnings for what EKS drops of a
//! malformed aws-auth), `rampart auth can-i --as-arn` (EKS access policies ahead of RBAC), and
//! the IAM principals `rampart who-can` lists — over an aws-auth ConfigMap, access entries in
//! Rampart's export form and in the aws CLI's output, and RBAC manifests.

mod common;

use common::eks::*;

const AWS_AUTH: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: aws-auth
  namespace: kube-system
data:
  mapRoles: |
    - rolearn: arn:aws:iam::111122223333:role/dev
      username: dev:{{SessionName}}
      groups:
      - developers
  mapUsers: |
    - userarn: arn:aws:iam::111122223333:user/ops
      username: ops
      groups: system:masters
"#;

const RBAC: &str = r#"apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: developers-view
  namespace: team-a
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: developers}
"#;

const ENTRY: &str = r#"kind: AccessEntry
principalArn: arn:aws:iam::111122223333:role/editors
kubernetesGroups: [editors]
accessPolicies:
- policyArn: arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy
  accessScope:
    type: namespace
    namespaces: [team-*]
"#;

fn rampart(args: &[&str]) -> Output {
    run(std::process::Command::new(rampart_bin()).args(args), None)
}

#[test]
fn whoami_resolves_an_arn_as_eks_would_and_warns_about_what_eks_drops() {
    let dir = tempfile::tempdir().unwrap();
    let aws_auth = dir.path().join("aws-auth.yaml");
    std::fs::write(&aws_auth, AWS_AUTH).unwrap();
    let file = aws_auth.to_str().unwrap();

    let out = rampart(&[
        "auth",
        "whoami",
        "--as-arn",
        "arn:aws:sts::111122223333:assumed-role/dev/alice@example.com",
        "-f",
        file,
    ])
    .ok();
    assert_eq!(
        out.stdout,
        "ATTRIBUTE             VALUE\n\
         Username              dev:alice-example.com\n\
         Groups                [developers system:authenticated]\n\
         Extra: arn            [arn:aws:sts::111122223333:assumed-role/dev/alice@example.com]\n\
         Extra: canonicalArn   [arn:aws:iam::111122223333:role/dev]\n\
         Extra: sessionName    [alice@example.com]\n"
    );
    assert!(out.stderr.contains("mapped by aws-auth mapRoles, the entry on line 1"), "{}", out.stderr);
    assert!(
        out.stderr.contains("warning: aws-auth data.mapUsers line 3: groups must be a list of strings, not a string"),
        "{}",
        out.stderr
    );

    // The mapUsers entry lost its groups, as on EKS; JSON is a SelfSubjectReview.
    let out = rampart(&[
        "auth",
        "whoami",
        "--as-arn",
        "arn:aws:iam::111122223333:user/ops",
        "--access-key-id",
        "AKIAOPSEXAMPLE000001",
        "-f",
        file,
        "-o",
        "json",
    ])
    .ok();
    let review = json(&out);
    assert_eq!(review["kind"], "SelfSubjectReview");
    assert_eq!(review["status"]["userInfo"]["username"], "ops");
    assert_eq!(review["status"]["userInfo"]["groups"], serde_json::json!(["system:authenticated"]));
    assert_eq!(review["status"]["userInfo"]["extra"]["accessKeyId"], serde_json::json!(["AKIAOPSEXAMPLE000001"]));
    assert!(out.stdout.starts_with("{\n    \"apiVersion\""), "kubectl's indentation: {}", out.stdout);

    // The authenticator's error, and bad input.
    let out = rampart(&["auth", "whoami", "--as-arn", "arn:aws:iam::111122223333:user/nobody", "-f", file]).failed();
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains(
            "error: EKS would not authenticate arn:aws:iam::111122223333:user/nobody: identity is not mapped"
        ),
        "{}",
        out.stderr
    );
    let out = rampart(&["auth", "whoami", "--as-arn", "arn:aws:iam::111122223333:user/ops"]).failed();
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("no aws-auth ConfigMap (kube-system/aws-auth) or access entry among the manifests"),
        "{}",
        out.stderr
    );
    let out = rampart(&["auth", "whoami", "--as-arn", "not-an-arn", "-f", file]).failed();
    assert_eq!(out.code, 2);
}

#[test]
fn can_i_and_who_can_follow_arns_through_aws_auth_access_entries_and_rbac() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [("aws-auth.yaml", AWS_AUTH), ("rbac.yaml", RBAC), ("entry.yaml", ENTRY)] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let all = dir.path().to_str().unwrap();
    let dev = "arn:aws:sts::111122223333:assumed-role/dev/alice";
    let can_i = |args: &[&str]| {
        let mut all_args = vec!["auth", "can-i"];
        all_args.extend_from_slice(args);
        all_args.extend_from_slice(&["-f", all]);
        rampart(&all_args)
    };

    // RBAC through the aws-auth group.
    let out = can_i(&["list", "pods", "-n", "team-a", "--as-arn", dev]);
    assert_eq!((out.code, out.stdout.trim()), (0, "yes"), "{}", out.stderr);
    let out = can_i(&["list", "pods", "-n", "team-b", "--as-arn", dev]);
    assert_eq!((out.code, out.stdout.trim()), (1, "no"));

    // EKS access policies, ahead of RBAC, within their scope.
    let editor = "arn:aws:sts::111122223333:assumed-role/editors/bob";
    let out = can_i(&["create", "configmaps", "-n", "team-b", "--as-arn", editor, "--explain"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("allowed: EKS Access Policy: allowed by RoleBinding \"arn:aws:iam::111122223333:role/editors+arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy/team-b\""),
        "{}",
        out.stdout
    );
    assert_eq!(can_i(&["create", "configmaps", "-n", "default", "--as-arn", editor]).code, 1);
    // In CONFIG_MAP mode access entries do not count: the role is not even mapped.
    let out =
        can_i(&["create", "configmaps", "-n", "team-b", "--as-arn", editor, "--authentication-mode", "CONFIG_MAP"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("no - EKS would not authenticate") && out.stdout.contains("identity is not mapped"),
        "{}",
        out.stdout
    );

    // who-can lists the IAM principals behind the subjects.
    let out = rampart(&["who-can", "list", "pods", "-n", "team-a", "-f", all]).ok();
    let iam = out.stdout.split("IAM PRINCIPAL").nth(1).unwrap_or_else(|| panic!("{}", out.stdout));
    let row = |arn: &str| {
        iam.lines()
            .find(|l| l.trim_start().starts_with(arn))
            .unwrap_or_else(|| panic!("{arn}:\n{}", out.stdout))
            .to_string()
    };
    let dev_row = row("arn:aws:iam::111122223333:role/dev");
    assert!(
        dev_row.contains("aws-auth mapRoles line 1")
            && dev_row.contains("RoleBinding/developers-view in team-a (Group developers)"),
        "{dev_row}"
    );
    let editors = row("arn:aws:iam::111122223333:role/editors");
    assert!(
        editors.contains("access entry")
            && editors.contains("EKS access policy AmazonEKSEditPolicy (namespaces team-*)"),
        "{editors}"
    );
    assert!(!iam.contains("user/ops"), "ops lost its groups, as on EKS:\n{}", out.stdout);
}
