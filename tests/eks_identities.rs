//! IAM identities in the cluster, with the real aws CLI and kubectl through the exec plugin: an
//! IAM user refused until aws-auth maps it, aws-auth edits (`kubectl edit`, `get -o yaml` +
//! `apply`) taking effect on the next request, assumed roles (`--role-arn` in the exec args,
//! and a profile with `role_arn`/`source_profile`), identities of another account
//! (`mapAccounts`, a cross-account role), and aws-auth writes EKS would silently drop refused
//! with the key and line (`--dry-run=server` too); the tutorial's IAM user mapped without
//! groups, decided by RBAC alone, and what `kubectl auth whoami` shows for it.

mod common;

use common::eks::*;

#[test]
fn an_iam_user_is_refused_until_aws_auth_maps_it_and_edits_take_effect_at_once() {
    let rampart = Rampart::start();
    user_with_profile(&rampart, "eks-user");
    let refused = kubectl_as(&rampart, "eks-user", &["get", "ns"]).failed();
    assert!(unauthorized(&refused.stderr), "{}", refused.stderr);
    let log = authenticator_log(&rampart);
    assert!(
        log.lines().any(|l| l.contains("msg=\"access denied\"")
            && l.contains(&format!("arn=\"arn:aws:iam::{ACCOUNT}:user/eks-user\""))
            && l.contains("error=\"identity is not mapped\"")),
        "{log}"
    );

    // `kubectl edit` with an editor that adds a mapUsers entry.
    edit_aws_auth_map_users(
        &rampart,
        &[
            &format!("- userarn: arn:aws:iam::{ACCOUNT}:user/eks-user"),
            "  username: eks-user",
            "  groups:",
            "  - system:masters",
        ],
    );
    let who = json(&kubectl_as(&rampart, "eks-user", &["auth", "whoami", "-o", "json"]).ok());
    assert_eq!(who["status"]["userInfo"]["username"], "eks-user");
    assert_eq!(who["status"]["userInfo"]["groups"], serde_json::json!(["system:masters", "system:authenticated"]));
    assert_eq!(
        who["status"]["userInfo"]["extra"]["canonicalArn"],
        serde_json::json!([format!("arn:aws:iam::{ACCOUNT}:user/eks-user")])
    );
    kubectl_as(&rampart, "eks-user", &["get", "ns"]).ok();

    // `get -o yaml`, change, `apply`: the user loses system:masters on the next request.
    let yaml = rampart.kubectl(&["get", "configmap", "aws-auth", "-n", "kube-system", "-o", "yaml"]).ok().stdout;
    let changed = rampart.write_file("aws-auth.yaml", &yaml.replace("- system:masters", "- viewers"));
    rampart.kubectl(&["apply", "-f", changed.to_str().unwrap()]).ok();
    let forbidden = kubectl_as(&rampart, "eks-user", &["get", "ns"]).failed();
    assert!(
        forbidden.stderr.contains(
            "Error from server (Forbidden): namespaces is forbidden: User \"eks-user\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope"
        ),
        "{}",
        forbidden.stderr
    );

    // Deleting aws-auth unmaps everyone it mapped; the creator keeps its hidden mapping.
    rampart.kubectl(&["delete", "configmap", "aws-auth", "-n", "kube-system"]).ok();
    assert!(unauthorized(&kubectl_as(&rampart, "eks-user", &["get", "ns"]).failed().stderr));
    rampart.kubectl(&["get", "ns"]).ok();
}

/// The classic EKS access tutorial's path, on the default cluster `rampart serve` writes
/// (DIR/kubeconfig, the `aws eks get-token` exec plugin): an IAM user with a CLI profile, a Role
/// and RoleBinding for user `eks-user`, `kubectl edit` adding a `mapUsers` entry with no groups,
/// then `export AWS_PROFILE=eks-user` — RBAC alone decides, and `kubectl auth whoami` shows what
/// EKS puts in the user's `extra`.
#[test]
fn the_tutorials_iam_user_mapped_without_groups_is_decided_by_rbac_alone() {
    let rampart = Rampart::start();
    let key_id = user_with_profile(&rampart, "eks-user");
    let user_id = aws_json(&rampart, &["iam", "get-user", "--user-name", "eks-user"])["User"]["UserId"]
        .as_str()
        .unwrap()
        .to_string();
    let caller = json(&aws_as(&rampart, "eks-user", &["sts", "get-caller-identity"]).ok());
    assert_eq!(caller["Arn"], format!("arn:aws:iam::{ACCOUNT}:user/eks-user"));

    let rbac = rampart.write_file(
        "eks-user-role.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: eks-user-role\n  namespace: default\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [list]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: eks-user-role-binding\n  namespace: default\nsubjects:\n- kind: User\n  name: eks-user\n  apiGroup: rbac.authorization.k8s.io\nroleRef:\n  kind: Role\n  name: eks-user-role\n  apiGroup: rbac.authorization.k8s.io\n",
    );
    // The creator (profile `default`) through the exec plugin, as the tutorial's admin.
    let applied = rampart.kubectl(&["apply", "-f", rbac.to_str().unwrap()]).ok();
    assert!(applied.stdout.contains("role.rbac.authorization.k8s.io/eks-user-role created"), "{}", applied.stdout);
    assert!(unauthorized(&kubectl_as(&rampart, "eks-user", &["get", "pods"]).failed().stderr));

    edit_aws_auth_map_users(
        &rampart,
        &[&format!("- userarn: arn:aws:iam::{ACCOUNT}:user/eks-user"), "  username: eks-user"],
    );
    let impersonated = rampart.kubectl(&["get", "pods", "--as", "eks-user"]).ok();
    assert!(impersonated.stderr.contains("No resources found in default namespace."), "{}", impersonated.stderr);

    // export AWS_PROFILE=eks-user
    let pods = kubectl_as(&rampart, "eks-user", &["get", "pods"]).ok();
    assert!(pods.stderr.contains("No resources found in default namespace."), "{}", pods.stderr);
    let secrets = kubectl_as(&rampart, "eks-user", &["get", "secrets"]).failed();
    assert!(
        secrets.stderr.contains(
            "Error from server (Forbidden): secrets is forbidden: User \"eks-user\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\""
        ),
        "{}",
        secrets.stderr
    );
    assert_eq!(kubectl_as(&rampart, "eks-user", &["auth", "can-i", "list", "pods"]).ok().stdout.trim(), "yes");
    let everything = kubectl_as(&rampart, "eks-user", &["auth", "can-i", "*", "*"]);
    assert_eq!(everything.stdout.trim(), "no", "{}", everything.stderr);

    let who = json(&kubectl_as(&rampart, "eks-user", &["auth", "whoami", "-o", "json"]).ok());
    let user = &who["status"]["userInfo"];
    assert_eq!(user["username"], "eks-user");
    assert_eq!(user["uid"], format!("aws-iam-authenticator:{ACCOUNT}:{user_id}"));
    assert_eq!(user["groups"], serde_json::json!(["system:authenticated"]));
    let arn = format!("arn:aws:iam::{ACCOUNT}:user/eks-user");
    assert_eq!(
        user["extra"],
        serde_json::json!({
            "accessKeyId": [key_id],
            "arn": [arn],
            "canonicalArn": [arn],
            "principalId": [user_id],
            "sessionName": [""],
            "sigs.k8s.io/aws-iam-authenticator/principalId": [user_id],
        })
    );
    let table = kubectl_as(&rampart, "eks-user", &["auth", "whoami"]).ok().stdout;
    assert!(
        table.lines().any(|line| line.starts_with("Extra: accessKeyId ") && line.ends_with(&format!(" [{key_id}]"))),
        "{table}"
    );
}

#[test]
fn assumed_roles_reach_the_cluster_through_role_arn_and_profiles() {
    let rampart = Rampart::start();
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    rampart
        .aws(&[
            "iam",
            "create-role",
            "--role-name",
            "eks-admins",
            "--path",
            "/teams/",
            "--assume-role-policy-document",
            &trust,
        ])
        .ok();
    // aws-auth lists the role without its path: assumed-role ARNs never carry one.
    set_aws_auth(
        &rampart,
        Some(&format!(
            "- rolearn: arn:aws:iam::{ACCOUNT}:role/eks-admins\n  username: admin:{{{{SessionName}}}}\n  groups:\n  - system:masters\n"
        )),
        None,
        None,
    )
    .ok();

    // `update-kubeconfig --role-arn` puts `--role-arn` in the exec args: get-token assumes it.
    let role_kubeconfig = rampart.data_dir.parent().unwrap().join("role.kubeconfig");
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/teams/eks-admins");
    rampart
        .aws(&[
            "eks",
            "update-kubeconfig",
            "--name",
            CLUSTER,
            "--role-arn",
            &role_arn,
            "--kubeconfig",
            role_kubeconfig.to_str().unwrap(),
        ])
        .ok();
    assert!(std::fs::read_to_string(&role_kubeconfig).unwrap().contains(&format!("- --role\n      - {role_arn}\n")));
    let who = json(
        &rampart.kubectl(&["--kubeconfig", role_kubeconfig.to_str().unwrap(), "auth", "whoami", "-o", "json"]).ok(),
    );
    let user = &who["status"]["userInfo"];
    assert_eq!(user["username"], "admin:EKSGetTokenAuth");
    assert_eq!(
        user["extra"]["arn"],
        serde_json::json!([format!("arn:aws:sts::{ACCOUNT}:assumed-role/eks-admins/EKSGetTokenAuth")])
    );
    assert_eq!(user["extra"]["canonicalArn"], serde_json::json!([format!("arn:aws:iam::{ACCOUNT}:role/eks-admins")]));
    assert_eq!(user["extra"]["sessionName"], serde_json::json!(["EKSGetTokenAuth"]));
    assert!(user["extra"]["accessKeyId"][0].as_str().unwrap().starts_with("ASIA"), "{who}");

    // A profile with role_arn and source_profile: the session is botocore's.
    configure_profile(&rampart, "eks-admins", &[("role_arn", &role_arn), ("source_profile", "default")]);
    let who = json(&kubectl_as(&rampart, "eks-admins", &["auth", "whoami", "-o", "json"]).ok());
    let name = who["status"]["userInfo"]["username"].as_str().unwrap().to_string();
    assert!(name.starts_with("admin:botocore-session-"), "{who}");
    kubectl_as(&rampart, "eks-admins", &["get", "ns", "kube-system"]).ok();
}

#[test]
fn identities_of_another_account_through_map_accounts_and_a_cross_account_role() {
    let config = r#"
aws:
  accounts:
    - id: "111122223333"
      users:
        - name: partner
          policies: [arn:aws:iam::aws:policy/AdministratorAccess]
          accessKeys:
            - id: AKIAPARTNEREXAMPLE01
              secret: partner-secret-with-forty-characters-00
    - id: "123456789012"
      roles:
        - name: partner-access
          assumeRolePolicy:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Principal: {AWS: "arn:aws:iam::111122223333:user/partner"}
                Action: sts:AssumeRole
"#;
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("rampart.yaml");
    std::fs::write(&config_path, config).unwrap();
    let rampart = Rampart::start_with(&["--config", config_path.to_str().unwrap()]);
    configure_profile(
        &rampart,
        "partner",
        &[
            ("aws_access_key_id", "AKIAPARTNEREXAMPLE01"),
            ("aws_secret_access_key", "partner-secret-with-forty-characters-00"),
        ],
    );
    configure_profile(
        &rampart,
        "partner-role",
        &[
            ("role_arn", &format!("arn:aws:iam::{ACCOUNT}:role/partner-access")),
            ("source_profile", "partner"),
            ("role_session_name", "alice@example.com"),
        ],
    );
    assert!(unauthorized(&kubectl_as(&rampart, "partner", &["get", "ns"]).failed().stderr));

    // mapAccounts: every identity of the account, named by its ARN, in no group (so, until
    // bindings say otherwise, allowed nothing).
    set_aws_auth(&rampart, None, None, Some("- \"111122223333\"\n")).ok();
    let forbidden = kubectl_as(&rampart, "partner", &["get", "ns"]).failed();
    assert!(
        forbidden
            .stderr
            .contains("User \"arn:aws:iam::111122223333:user/partner\" cannot list resource \"namespaces\""),
        "{}",
        forbidden.stderr
    );

    // The partner assumes a role of this account; mapRoles templates the session name.
    set_aws_auth(
        &rampart,
        Some(&format!(
            "- rolearn: arn:aws:iam::{ACCOUNT}:role/partner-access\n  username: partner:{{{{SessionName}}}}:{{{{AccountID}}}}\n  groups: [partners, system:masters]\n"
        )),
        None,
        None,
    )
    .ok();
    let who = json(&kubectl_as(&rampart, "partner-role", &["auth", "whoami", "-o", "json"]).ok());
    let user = &who["status"]["userInfo"];
    assert_eq!(user["username"], format!("partner:alice-example.com:{ACCOUNT}"));
    assert_eq!(user["groups"], serde_json::json!(["partners", "system:masters", "system:authenticated"]));
    assert_eq!(
        user["extra"]["arn"],
        serde_json::json!([format!("arn:aws:sts::{ACCOUNT}:assumed-role/partner-access/alice@example.com")])
    );
    assert_eq!(user["extra"]["sessionName"], serde_json::json!(["alice@example.com"]));
}

#[test]
fn aws_auth_writes_that_eks_would_silently_drop_are_refused_with_key_and_line() {
    let rampart = Rampart::start();
    let before = rampart.kubectl(&["get", "configmap", "aws-auth", "-n", "kube-system", "-o", "yaml"]).ok().stdout;
    let broken = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aws-auth\n  namespace: kube-system\ndata:\n  mapRoles: |\n    - rolearn: arn:aws:iam::{ACCOUNT}:role/AmazonEKSNodeRole\n      username: system:node:{{{{EC2PrivateDNSName}}}}\n      groups: system:nodes\n  mapUsers: |\n    - userarn: [arn:aws:iam::{ACCOUNT}:user/alice\n"
    );
    let file = rampart.write_file("broken.yaml", &broken);
    for dry_run in [true, false] {
        let mut args = vec!["apply", "-f", file.to_str().unwrap()];
        if dry_run {
            args.push("--dry-run=server");
        }
        let refused = rampart.kubectl(&args).failed();
        assert!(refused.stderr.contains("The ConfigMap \"aws-auth\" is invalid"), "{}", refused.stderr);
        assert!(
            refused.stderr.contains("data.mapRoles: line 3: groups must be a list of strings, not a string"),
            "{}",
            refused.stderr
        );
        assert!(refused.stderr.contains("data.mapUsers: line 1"), "{}", refused.stderr);
    }
    let after = rampart.kubectl(&["get", "configmap", "aws-auth", "-n", "kube-system", "-o", "yaml"]).ok().stdout;
    assert_eq!(after, before, "nothing was stored");

    // In a cluster where the creator's access comes through aws-auth alone, a write that would
    // take it away is refused too.
    rampart
        .aws(&[
            "eks",
            "create-cluster",
            "--name",
            "no-bootstrap",
            "--role-arn",
            &format!("arn:aws:iam::{ACCOUNT}:role/eksClusterRole"),
            "--resources-vpc-config",
            "subnetIds=subnet-1",
            "--access-config",
            "authenticationMode=API_AND_CONFIG_MAP,bootstrapClusterCreatorAdminPermissions=false",
        ])
        .ok();
    user_with_profile(&rampart, "operator");
    let describe =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"eks:DescribeCluster","Resource":"*"}]}"#;
    rampart
        .aws(&[
            "iam",
            "put-user-policy",
            "--user-name",
            "operator",
            "--policy-name",
            "eks",
            "--policy-document",
            describe,
        ])
        .ok();
    let operator = format!("arn:aws:iam::{ACCOUNT}:user/operator");
    rampart.aws(&["eks", "create-access-entry", "--cluster-name", "no-bootstrap", "--principal-arn", &operator]).ok();
    associate_access_policy(
        &rampart,
        "no-bootstrap",
        &operator,
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
        "type=cluster",
    )
    .ok();
    let kubeconfig = rampart.data_dir.parent().unwrap().join("no-bootstrap.kubeconfig");
    rampart
        .aws(&[
            "eks",
            "update-kubeconfig",
            "--name",
            "no-bootstrap",
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--profile",
            "operator",
        ])
        .ok();
    let as_operator = |args: &[&str], stdin: Option<&str>| {
        run(rampart.command("kubectl").env("KUBECONFIG", &kubeconfig).args(args), stdin)
    };
    let mapped = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: aws-auth\n  namespace: kube-system\ndata:\n  mapUsers: |\n    - userarn: arn:aws:iam::{ACCOUNT}:user/admin\n      username: creator\n      groups: [system:masters]\n"
    );
    as_operator(&["apply", "-f", "-"], Some(&mapped)).ok();
    let unmapped = mapped.replace("user/admin", "user/someone-else");
    for dry_run in [true, false] {
        let mut args = vec!["apply", "-f", "-"];
        if dry_run {
            args.push("--dry-run=server");
        }
        let refused = as_operator(&args, Some(&unmapped)).failed();
        assert!(
            refused.stderr.contains(&format!(
                "configmaps \"aws-auth\" is forbidden: this aws-auth ConfigMap would leave the cluster creator arn:aws:iam::{ACCOUNT}:user/admin without access to the cluster: identity is not mapped"
            )),
            "{}",
            refused.stderr
        );
    }
    let kept =
        as_operator(&["get", "configmap", "aws-auth", "-n", "kube-system", "-o", "jsonpath={.data.mapUsers}"], None)
            .ok();
    assert!(kept.stdout.contains("user/admin"), "the refused writes stored nothing: {}", kept.stdout);
}

#[test]
fn aws_auth_advisories_come_back_as_warnings_and_the_write_is_kept() {
    let rampart = Rampart::start();
    let with_unknown_field = format!(
        "- rolearn: arn:aws:iam::{ACCOUNT}:role/AmazonEKSNodeRole\n  username: system:node:{{{{EC2PrivateDNSName}}}}\n  groups: [system:bootstrappers, system:nodes]\n  team: platform\n"
    );
    let applied = set_aws_auth(&rampart, Some(&with_unknown_field), None, None).ok();
    let warnings: Vec<&str> = applied.stderr.lines().filter(|l| l.starts_with("Warning: ")).collect();
    assert!(
        warnings.iter().any(|w| w.contains("EKS009")
            && w.contains("unknown field \"team\" is ignored")
            && w.contains("(data.mapRoles line 1)")),
        "{}",
        applied.stderr
    );
    let stored = rampart
        .kubectl(&["get", "configmap", "aws-auth", "-n", "kube-system", "-o", "jsonpath={.data.mapRoles}"])
        .ok()
        .stdout;
    assert!(stored.contains("team: platform"), "the write was kept: {stored}");
    // A write without advisories has no warning.
    let clean = format!(
        "- rolearn: arn:aws:iam::{ACCOUNT}:role/AmazonEKSNodeRole\n  username: system:node:{{{{EC2PrivateDNSName}}}}\n  groups: [system:bootstrappers, system:nodes]\n"
    );
    let applied = set_aws_auth(&rampart, Some(&clean), None, None).ok();
    assert!(!applied.stderr.contains("Warning: "), "{}", applied.stderr);
}
