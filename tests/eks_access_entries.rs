//! Access entries and access policies with the real aws CLI and kubectl: the one-way
//! authentication-mode road (CONFIG_MAP → API_AND_CONFIG_MAP → API) with the creator's
//! bootstrap entry, entries and policy associations with EKS's shapes and exceptions, namespace
//! scopes (with a `*` pattern) enforced on the next request, access entries winning over aws-auth,
//! and aws-auth ignored in API mode.

mod common;

use common::eks::*;

const VIEW: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";
const EDIT: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy";
const CLUSTER_ADMIN: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";

#[test]
fn access_entries_policies_scopes_and_mode_switches() {
    let rampart = Rampart::start();
    let admin = format!("arn:aws:iam::{ACCOUNT}:user/admin");
    let dev = format!("arn:aws:iam::{ACCOUNT}:user/dev");
    user_with_profile(&rampart, "dev");
    user_with_profile(&rampart, "ops");

    // CONFIG_MAP: no access-entry API; modes move one step at a time, never back.
    let refused =
        rampart.aws(&["eks", "create-access-entry", "--cluster-name", CLUSTER, "--principal-arn", &dev]).failed();
    assert!(
        refused.stderr.contains("(InvalidRequestException) when calling the CreateAccessEntry operation: The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation."),
        "{}",
        refused.stderr
    );
    let skip = set_authentication_mode(&rampart, "API").failed();
    assert!(
        skip.stderr.contains("(InvalidParameterException)")
            && skip.stderr.contains("Unsupported authentication mode update from CONFIG_MAP to API."),
        "{}",
        skip.stderr
    );
    let update = json(&set_authentication_mode(&rampart, "API_AND_CONFIG_MAP").ok())["update"].clone();
    assert_eq!(update["type"], "AccessConfigUpdate");
    assert_eq!(update["params"], serde_json::json!([{"type": "AuthenticationMode", "value": "API_AND_CONFIG_MAP"}]));

    // Leaving CONFIG_MAP gave the creator its access entry with cluster admin.
    let entries = aws_json(&rampart, &["eks", "list-access-entries", "--cluster-name", CLUSTER]);
    assert_eq!(entries["accessEntries"], serde_json::json!([admin]));
    let policies = aws_json(
        &rampart,
        &["eks", "list-associated-access-policies", "--cluster-name", CLUSTER, "--principal-arn", &admin],
    );
    assert_eq!(policies["associatedAccessPolicies"][0]["policyArn"], CLUSTER_ADMIN);
    assert_eq!(policies["associatedAccessPolicies"][0]["accessScope"]["type"], "cluster");
    let who = json(&rampart.kubectl(&["auth", "whoami", "-o", "json"]).ok());
    assert_eq!(who["status"]["userInfo"]["username"], admin.as_str());
    rampart.kubectl(&["create", "namespace", "team-a"]).ok();
    rampart.kubectl(&["create", "namespace", "team-b"]).ok();
    for ns in ["team-a", "team-b"] {
        rampart.kubectl(&["create", "configmap", "settings", "-n", ns, "--from-literal=k=v"]).ok();
    }

    // An entry: the user is known, in its groups, but allowed nothing yet.
    let entry = aws_json(
        &rampart,
        &[
            "eks",
            "create-access-entry",
            "--cluster-name",
            CLUSTER,
            "--principal-arn",
            &dev,
            "--kubernetes-groups",
            "developers",
        ],
    )["accessEntry"]
        .clone();
    assert_eq!(entry["username"], dev.as_str());
    assert_eq!(entry["type"], "STANDARD");
    assert_eq!(entry["kubernetesGroups"], serde_json::json!(["developers"]));
    assert!(
        entry["accessEntryArn"]
            .as_str()
            .unwrap()
            .starts_with(&format!("arn:aws:eks:{REGION}:{ACCOUNT}:access-entry/{CLUSTER}/user/{ACCOUNT}/dev/")),
        "{entry}"
    );
    let described =
        aws_json(&rampart, &["eks", "describe-access-entry", "--cluster-name", CLUSTER, "--principal-arn", &dev]);
    assert_eq!(described["accessEntry"], entry);
    let forbidden = get_raw_as(&rampart, "dev", "/api/v1/namespaces/team-a/configmaps").failed();
    assert!(
        forbidden.stderr.contains(&format!(
            "User \"{dev}\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"team-a\""
        )),
        "{}",
        forbidden.stderr
    );
    let log = authenticator_log(&rampart);
    assert!(
        log.lines().any(|l| l.contains("msg=\"access granted\"")
            && l.contains(&format!("username=\"{dev}\""))
            && l.contains("groups=\"[developers]\"")),
        "{log}"
    );

    // View in team-a only.
    let associated =
        json(&associate_access_policy(&rampart, CLUSTER, &dev, VIEW, "type=namespace,namespaces=team-a").ok());
    assert_eq!(associated["clusterName"], CLUSTER);
    assert_eq!(
        associated["associatedAccessPolicy"]["accessScope"],
        serde_json::json!({"type": "namespace", "namespaces": ["team-a"]})
    );
    let listed = json(&get_raw_as(&rampart, "dev", "/api/v1/namespaces/team-a/configmaps").ok());
    assert!(listed["items"].as_array().unwrap().iter().any(|cm| cm["metadata"]["name"] == "settings"), "{listed}");
    assert!(get_raw_as(&rampart, "dev", "/api/v1/namespaces/team-b/configmaps").failed().stderr.contains("Forbidden"));
    assert!(
        get_raw_as(&rampart, "dev", "/api/v1/namespaces/team-a/secrets").failed().stderr.contains("Forbidden"),
        "view reads no secrets"
    );
    let configmap = |name: &str| format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}}}}"#);
    assert!(
        create_raw_as(&rampart, "dev", "/api/v1/namespaces/team-a/configmaps", &configmap("x"))
            .failed()
            .stderr
            .contains("Forbidden")
    );

    // Edit in every team-* namespace.
    associate_access_policy(&rampart, CLUSTER, &dev, EDIT, "type=namespace,namespaces=team-*").ok();
    create_raw_as(&rampart, "dev", "/api/v1/namespaces/team-b/configmaps", &configmap("x")).ok();
    kubectl_as(&rampart, "dev", &["delete", "--raw", "/api/v1/namespaces/team-b/configmaps/x"]).ok();
    let outside =
        kubectl_as(&rampart, "dev", &["delete", "--raw", "/api/v1/namespaces/default/configmaps/kube-root-ca.crt"])
            .failed();
    assert!(
        outside.stderr.contains("cannot delete resource \"configmaps\" in API group \"\" in the namespace \"default\""),
        "{}",
        outside.stderr
    );
    let listed =
        aws_json(&rampart, &["eks", "list-access-entries", "--cluster-name", CLUSTER, "--associated-policy-arn", EDIT]);
    assert_eq!(listed["accessEntries"], serde_json::json!([dev]));

    // EKS's exceptions.
    let duplicate =
        rampart.aws(&["eks", "create-access-entry", "--cluster-name", CLUSTER, "--principal-arn", &dev]).failed();
    assert!(
        duplicate.stderr.contains("(ResourceInUseException)")
            && duplicate.stderr.contains("The specified access entry resource is already in use on this cluster."),
        "{}",
        duplicate.stderr
    );
    let system = rampart
        .aws(&[
            "eks",
            "create-access-entry",
            "--cluster-name",
            CLUSTER,
            "--principal-arn",
            &format!("arn:aws:iam::{ACCOUNT}:user/ops"),
            "--kubernetes-groups",
            "system:masters",
        ])
        .failed();
    assert!(
        system.stderr.contains("(InvalidParameterException)")
            && system
                .stderr
                .contains("The kubernetes group name system:masters is invalid, it cannot start with system:"),
        "{}",
        system.stderr
    );
    let nobody = rampart
        .aws(&[
            "eks",
            "describe-access-entry",
            "--cluster-name",
            CLUSTER,
            "--principal-arn",
            &format!("arn:aws:iam::{ACCOUNT}:user/nobody"),
        ])
        .failed();
    assert!(
        nobody.stderr.contains("(ResourceNotFoundException)")
            && nobody.stderr.contains("The specified principalArn could not be found."),
        "{}",
        nobody.stderr
    );
    let no_policy =
        associate_access_policy(&rampart, CLUSTER, &dev, "arn:aws:eks::aws:cluster-access-policy/Nope", "type=cluster")
            .failed();
    assert!(no_policy.stderr.contains("The specified policyArn could not be found."), "{}", no_policy.stderr);
    let catalogue = aws_json(&rampart, &["eks", "list-access-policies"]);
    let names: Vec<&str> =
        catalogue["accessPolicies"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    for name in ["AmazonEKSAdminPolicy", "AmazonEKSClusterAdminPolicy", "AmazonEKSEditPolicy", "AmazonEKSViewPolicy"] {
        assert!(names.contains(&name), "{names:?}");
    }

    // API_AND_CONFIG_MAP: the access entry wins over aws-auth for the same principal; aws-auth
    // still maps those without an entry.
    set_aws_auth(
        &rampart,
        None,
        Some(&format!(
            "- userarn: {dev}\n  username: dev-from-aws-auth\n  groups: [system:masters]\n- userarn: arn:aws:iam::{ACCOUNT}:user/ops\n  username: ops\n  groups: [system:masters]\n"
        )),
        None,
    )
    .ok();
    let not_masters = get_raw_as(&rampart, "dev", "/api/v1/namespaces").failed();
    assert!(
        not_masters.stderr.contains(&format!("User \"{dev}\" cannot list resource \"namespaces\"")),
        "{}",
        not_masters.stderr
    );
    kubectl_as(&rampart, "ops", &["get", "ns"]).ok();

    // API: aws-auth no longer counts; there is no way back.
    set_authentication_mode(&rampart, "API").ok();
    assert!(unauthorized(&kubectl_as(&rampart, "ops", &["get", "ns"]).failed().stderr));
    get_raw_as(&rampart, "dev", "/api/v1/namespaces/team-a/configmaps").ok();
    let back = set_authentication_mode(&rampart, "API_AND_CONFIG_MAP").failed();
    assert!(
        back.stderr.contains("Unsupported authentication mode update from API to API_AND_CONFIG_MAP."),
        "{}",
        back.stderr
    );
    let described = aws_json(&rampart, &["eks", "describe-cluster", "--name", CLUSTER]);
    assert_eq!(described["cluster"]["accessConfig"]["authenticationMode"], "API");

    // Disassociating and deleting take effect on the next request.
    rampart
        .aws(&[
            "eks",
            "disassociate-access-policy",
            "--cluster-name",
            CLUSTER,
            "--principal-arn",
            &dev,
            "--policy-arn",
            EDIT,
        ])
        .ok();
    assert!(
        create_raw_as(&rampart, "dev", "/api/v1/namespaces/team-b/configmaps", &configmap("y"))
            .failed()
            .stderr
            .contains("Forbidden")
    );
    get_raw_as(&rampart, "dev", "/api/v1/namespaces/team-a/configmaps").ok();
    rampart.aws(&["eks", "delete-access-entry", "--cluster-name", CLUSTER, "--principal-arn", &dev]).ok();
    assert!(unauthorized(&kubectl_as(&rampart, "dev", &["get", "configmaps", "-n", "team-a"]).failed().stderr));
}
