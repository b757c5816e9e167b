//! EKS clusters with the real aws CLI and kubectl: the default cluster reached through the
//! `aws eks get-token` exec plugin, `DIR/kubeconfig` exactly as `aws eks update-kubeconfig`
//! writes it, create/describe/list/update/delete with EKS's shapes and errors, each cluster its
//! own API (endpoint, CA, objects), clusters and endpoints surviving a restart, and IAM deciding
//! every EKS call.

mod common;

use common::eks::*;

fn ca_of(kubeconfig: &str) -> String {
    kubeconfig.lines().find_map(|l| l.trim().strip_prefix("certificate-authority-data: ")).unwrap().to_string()
}

#[test]
fn the_default_cluster_is_an_eks_cluster_reached_through_the_exec_plugin() {
    let rampart = Rampart::start();
    let ours = std::fs::read_to_string(rampart.data_dir.join("kubeconfig")).unwrap();
    assert_eq!(rampart.env["KUBECONFIG"], rampart.data_dir.join("kubeconfig").display().to_string());

    // The aws CLI writes the very same file.
    let theirs = rampart.data_dir.parent().unwrap().join("update.kubeconfig");
    let out =
        rampart.aws(&["eks", "update-kubeconfig", "--name", CLUSTER, "--kubeconfig", theirs.to_str().unwrap()]).ok();
    let arn = format!("arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{CLUSTER}");
    assert_eq!(out.stdout.trim(), format!("Added new context {arn} to {}", theirs.display()));
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), ours);

    // kubectl through `aws eks get-token`, as the administrator: the creator's mapping.
    let ns = rampart.kubectl(&["get", "ns"]).ok();
    assert!(ns.stdout.contains("kube-system"), "{}", ns.stdout);
    let who = json(&rampart.kubectl(&["auth", "whoami", "-o", "json"]).ok());
    let user = &who["status"]["userInfo"];
    assert_eq!(user["username"], "kubernetes-admin");
    assert_eq!(user["groups"], serde_json::json!(["system:masters", "system:authenticated"]));
    assert_eq!(user["extra"]["arn"], serde_json::json!([format!("arn:aws:iam::{ACCOUNT}:user/admin")]));
    assert!(user["uid"].as_str().unwrap().starts_with(&format!("aws-iam-authenticator:{ACCOUNT}:AIDA")), "{who}");

    // DescribeCluster: what update-kubeconfig used.
    let cluster = aws_json(&rampart, &["eks", "describe-cluster", "--name", CLUSTER])["cluster"].clone();
    assert_eq!(cluster["status"], "ACTIVE");
    assert_eq!(cluster["arn"], arn.as_str());
    assert_eq!(cluster["version"], "1.32");
    assert_eq!(cluster["accessConfig"]["authenticationMode"], "CONFIG_MAP");
    assert_eq!(cluster["accessConfig"]["bootstrapClusterCreatorAdminPermissions"], true);
    assert!(ours.contains(&format!("server: {}\n", cluster["endpoint"].as_str().unwrap())));
    assert_eq!(cluster["certificateAuthority"]["data"].as_str().unwrap(), ca_of(&ours));
    let admin = std::fs::read_to_string(rampart.data_dir.join("admin.kubeconfig")).unwrap();
    assert_eq!(ca_of(&admin), ca_of(&ours), "one CA for both kubeconfigs");

    // A new cluster has aws-auth mapping its node group's role, as EKS writes it.
    let aws_auth = rampart.kubectl(&["get", "configmap", "aws-auth", "-n", "kube-system", "-o", "yaml"]).ok();
    assert!(
        aws_auth.stdout.contains(&format!("rolearn: arn:aws:iam::{ACCOUNT}:role/AmazonEKSNodeRole")),
        "{}",
        aws_auth.stdout
    );
    assert!(aws_auth.stdout.contains("username: system:node:{{EC2PrivateDNSName}}"), "{}", aws_auth.stdout);

    // The authenticator logged the administrator's tokens, never a token.
    let log = authenticator_log(&rampart);
    assert!(log.contains("msg=\"access granted\"") && log.contains("username=kubernetes-admin"), "{log}");
    assert!(
        log.contains("msg=\"STS response\"") && log.contains(&format!("arn=\"arn:aws:iam::{ACCOUNT}:user/admin\"")),
        "{log}"
    );
    assert!(!log.contains("k8s-aws-v1.") && !log.contains("X-Amz-Signature"), "{log}");
}

#[test]
fn clusters_are_created_described_listed_updated_and_deleted_as_eks_does() {
    let rampart = Rampart::start();
    let created = aws_json(
        &rampart,
        &[
            "eks",
            "create-cluster",
            "--name",
            "demo",
            "--role-arn",
            &format!("arn:aws:iam::{ACCOUNT}:role/eksClusterRole"),
            "--resources-vpc-config",
            "subnetIds=subnet-0a1,subnet-0b2,endpointPrivateAccess=true",
            "--access-config",
            "authenticationMode=API_AND_CONFIG_MAP",
            "--tags",
            "team=blue",
        ],
    )["cluster"]
        .clone();
    assert_eq!(created["status"], "CREATING");
    assert_eq!(created["name"], "demo");
    assert_eq!(created["arn"], format!("arn:aws:eks:{REGION}:{ACCOUNT}:cluster/demo"));
    assert_eq!(created["resourcesVpcConfig"]["subnetIds"], serde_json::json!(["subnet-0a1", "subnet-0b2"]));
    assert_eq!(created["resourcesVpcConfig"]["endpointPrivateAccess"], true);
    assert_eq!(created["resourcesVpcConfig"]["endpointPublicAccess"], true);
    assert_eq!(created["accessConfig"]["authenticationMode"], "API_AND_CONFIG_MAP");
    assert_eq!(created["tags"]["team"], "blue");
    assert!(created["createdAt"].as_f64().unwrap() > 1.7e9, "EKS sends epoch seconds: {created}");
    rampart.aws(&["eks", "wait", "cluster-active", "--name", "demo"]).ok();
    assert_eq!(aws_json(&rampart, &["eks", "list-clusters"])["clusters"], serde_json::json!(["demo", "rampart"]));

    // Its own API: its own endpoint and CA; the creator is admin through an access entry.
    let demo = rampart.data_dir.parent().unwrap().join("demo.kubeconfig");
    rampart.aws(&["eks", "update-kubeconfig", "--name", "demo", "--kubeconfig", demo.to_str().unwrap()]).ok();
    let demo_text = std::fs::read_to_string(&demo).unwrap();
    let default_text = std::fs::read_to_string(rampart.data_dir.join("kubeconfig")).unwrap();
    assert_ne!(ca_of(&demo_text), ca_of(&default_text));
    let demo_kubectl = |args: &[&str]| {
        let mut all = vec!["--kubeconfig", demo.to_str().unwrap()];
        all.extend_from_slice(args);
        rampart.kubectl(&all)
    };
    let who = json(&demo_kubectl(&["auth", "whoami", "-o", "json"]).ok());
    assert_eq!(who["status"]["userInfo"]["username"], format!("arn:aws:iam::{ACCOUNT}:user/admin"));
    assert_eq!(who["status"]["userInfo"]["groups"], serde_json::json!(["system:authenticated"]));
    let entries = aws_json(&rampart, &["eks", "list-access-entries", "--cluster-name", "demo"]);
    assert_eq!(entries["accessEntries"], serde_json::json!([format!("arn:aws:iam::{ACCOUNT}:user/admin")]));
    demo_kubectl(&["create", "configmap", "only-in-demo", "--from-literal=a=b"]).ok();
    demo_kubectl(&["get", "configmap", "only-in-demo"]).ok();
    let elsewhere = rampart.kubectl(&["get", "configmap", "only-in-demo"]).failed();
    assert!(elsewhere.stderr.contains("NotFound"), "{}", elsewhere.stderr);

    // EKS's errors.
    let again = rampart
        .aws(&[
            "eks",
            "create-cluster",
            "--name",
            "demo",
            "--role-arn",
            &format!("arn:aws:iam::{ACCOUNT}:role/r"),
            "--resources-vpc-config",
            "subnetIds=subnet-1",
        ])
        .failed();
    assert!(
        again.stderr.contains("An error occurred (ResourceInUseException) when calling the CreateCluster operation: Cluster already exists with name: demo"),
        "{}",
        again.stderr
    );
    let missing = rampart.aws(&["eks", "describe-cluster", "--name", "nope"]).failed();
    assert!(
        missing.stderr.contains("An error occurred (ResourceNotFoundException) when calling the DescribeCluster operation: No cluster found for name: nope."),
        "{}",
        missing.stderr
    );
    let bad_name = rampart
        .aws(&[
            "eks",
            "create-cluster",
            "--name",
            "bad.name",
            "--role-arn",
            &format!("arn:aws:iam::{ACCOUNT}:role/r"),
            "--resources-vpc-config",
            "subnetIds=subnet-1",
        ])
        .failed();
    assert!(
        bad_name.stderr.contains("(InvalidParameterException)") && bad_name.stderr.contains("'bad.name' at 'name'"),
        "{}",
        bad_name.stderr
    );
    let bad_role = rampart
        .aws(&[
            "eks",
            "create-cluster",
            "--name",
            "x",
            "--role-arn",
            "eksClusterRole",
            "--resources-vpc-config",
            "subnetIds=subnet-1",
        ])
        .failed();
    assert!(
        bad_role.stderr.contains("(InvalidParameterException)")
            && bad_role.stderr.contains("Invalid roleArn: eksClusterRole"),
        "{}",
        bad_role.stderr
    );
    let bad_mode = rampart
        .aws(&[
            "eks",
            "create-cluster",
            "--name",
            "x",
            "--role-arn",
            &format!("arn:aws:iam::{ACCOUNT}:role/r"),
            "--resources-vpc-config",
            "subnetIds=subnet-1",
            "--access-config",
            "authenticationMode=CONFIG_MAP,bootstrapClusterCreatorAdminPermissions=false",
        ])
        .failed();
    assert!(
        bad_mode.stderr.contains(
            "bootstrapClusterCreatorAdminPermissions must be true if cluster authentication mode is set to CONFIG_MAP"
        ),
        "{}",
        bad_mode.stderr
    );
    assert_eq!(
        aws_json(&rampart, &["eks", "list-clusters"])["clusters"],
        serde_json::json!(["demo", "rampart"]),
        "nothing was created"
    );

    // UpdateClusterConfig: logging, recorded as an update.
    let update = aws_json(
        &rampart,
        &[
            "eks",
            "update-cluster-config",
            "--name",
            "demo",
            "--logging",
            r#"{"clusterLogging":[{"types":["audit","authenticator"],"enabled":true}]}"#,
        ],
    )["update"]
        .clone();
    assert_eq!((update["type"].as_str(), update["status"].as_str()), (Some("LoggingUpdate"), Some("InProgress")));
    let described = aws_json(
        &rampart,
        &["eks", "describe-update", "--name", "demo", "--update-id", update["id"].as_str().unwrap()],
    );
    assert_eq!(described["update"]["status"], "Successful");
    let logging =
        &aws_json(&rampart, &["eks", "describe-cluster", "--name", "demo"])["cluster"]["logging"]["clusterLogging"][0];
    assert_eq!(logging["types"], serde_json::json!(["audit", "authenticator"]));

    // DeleteCluster stops its API and forgets it; a new cluster of that name is a new cluster.
    let deleted = aws_json(&rampart, &["eks", "delete-cluster", "--name", "demo"]);
    assert_eq!(deleted["cluster"]["status"], "DELETING");
    assert!(
        rampart
            .aws(&["eks", "describe-cluster", "--name", "demo"])
            .failed()
            .stderr
            .contains("ResourceNotFoundException")
    );
    assert_eq!(aws_json(&rampart, &["eks", "list-clusters"])["clusters"], serde_json::json!(["rampart"]));
    demo_kubectl(&["get", "ns", "--request-timeout=5s"]).failed();
    let recreated = aws_json(
        &rampart,
        &[
            "eks",
            "create-cluster",
            "--name",
            "demo",
            "--role-arn",
            &format!("arn:aws:iam::{ACCOUNT}:role/eksClusterRole"),
            "--resources-vpc-config",
            "subnetIds=subnet-1",
        ],
    );
    assert_ne!(recreated["cluster"]["certificateAuthority"]["data"], created["certificateAuthority"]["data"]);
    assert_eq!(recreated["cluster"]["accessConfig"]["authenticationMode"], "CONFIG_MAP");
}

#[test]
fn clusters_and_their_endpoints_survive_a_restart() {
    let mut rampart = Rampart::start();
    rampart
        .aws(&[
            "eks",
            "create-cluster",
            "--name",
            "kept",
            "--role-arn",
            &format!("arn:aws:iam::{ACCOUNT}:role/eksClusterRole"),
            "--resources-vpc-config",
            "subnetIds=subnet-1",
        ])
        .ok();
    let before = aws_json(&rampart, &["eks", "describe-cluster", "--name", "kept"])["cluster"].clone();
    let kept = rampart.data_dir.parent().unwrap().join("kept.kubeconfig");
    rampart.aws(&["eks", "update-kubeconfig", "--name", "kept", "--kubeconfig", kept.to_str().unwrap()]).ok();
    rampart.kubectl(&["--kubeconfig", kept.to_str().unwrap(), "create", "namespace", "survivor"]).ok();

    rampart.restart();
    let after = aws_json(&rampart, &["eks", "describe-cluster", "--name", "kept"])["cluster"].clone();
    for field in ["endpoint", "certificateAuthority", "createdAt", "arn", "accessConfig"] {
        assert_eq!(after[field], before[field], "{field}");
    }
    // The kubeconfig written before the restart still works, and the objects are there.
    rampart.kubectl(&["--kubeconfig", kept.to_str().unwrap(), "get", "namespace", "survivor"]).ok();
    rampart.kubectl(&["get", "ns", "kube-system"]).ok();
    assert_eq!(aws_json(&rampart, &["eks", "list-clusters"])["clusters"], serde_json::json!(["kept", "rampart"]));
}

#[test]
fn every_eks_call_is_decided_by_iam() {
    let rampart = Rampart::start();
    user_with_profile(&rampart, "viewer");
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"eks:DescribeCluster","Resource":"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/rampart"}},{{"Effect":"Allow","Action":"eks:ListAccessPolicies","Resource":"*"}},{{"Effect":"Deny","Action":"eks:ListAccessPolicies","Resource":"*"}}]}}"#
    );
    rampart
        .aws(&["iam", "put-user-policy", "--user-name", "viewer", "--policy-name", "eks", "--policy-document", &policy])
        .ok();
    let described = json(&aws_as(&rampart, "viewer", &["eks", "describe-cluster", "--name", CLUSTER]).ok());
    assert_eq!(described["cluster"]["name"], CLUSTER);

    let denied = aws_as(&rampart, "viewer", &["eks", "delete-cluster", "--name", CLUSTER]).failed();
    assert!(
        denied.stderr.contains(&format!(
            "An error occurred (AccessDeniedException) when calling the DeleteCluster operation: User: arn:aws:iam::{ACCOUNT}:user/viewer is not authorized to perform: eks:DeleteCluster on resource: arn:aws:eks:{REGION}:{ACCOUNT}:cluster/rampart"
        )),
        "{}",
        denied.stderr
    );
    let explicit = aws_as(&rampart, "viewer", &["eks", "list-access-policies"]).failed();
    assert!(
        explicit.stderr.contains("(AccessDeniedException)") && explicit.stderr.contains("explicit deny"),
        "{}",
        explicit.stderr
    );
    // IAM decides before the cluster is looked up, as AWS does.
    let hidden = aws_as(&rampart, "viewer", &["eks", "describe-cluster", "--name", "nope"]).failed();
    assert!(hidden.stderr.contains("(AccessDeniedException)"), "{}", hidden.stderr);
    assert!(aws_json(&rampart, &["eks", "describe-cluster", "--name", CLUSTER])["cluster"]["status"] == "ACTIVE");
}
