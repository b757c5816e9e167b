//! Helpers the EKS end-to-end tests share (`use common::eks::*`, which brings the harness with
//! it): IAM users with CLI profiles, kubectl as an AWS profile through the exec plugin, aws-auth
//! edits, and the authenticator log.

pub use super::*;

use std::path::PathBuf;

use serde_json::Value;

/// The default account, region and cluster of `rampart serve`.
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
pub const CLUSTER: &str = "rampart";

/// What kubectl prints for a 401 with a static token (`--token`).
pub const UNAUTHORIZED: &str = "error: You must be logged in to the server (Unauthorized)";

/// Whether kubectl said the server refused its credentials (a 401): `(Unauthorized)` when the
/// refused request was a plain API call, `(the server has asked for the client to provide
/// credentials)` when it was discovery without a cache, as EKS users see both.
pub fn unauthorized(stderr: &str) -> bool {
    stderr.contains(UNAUTHORIZED)
        || stderr.contains(
            "error: You must be logged in to the server (the server has asked for the client to provide credentials)",
        )
}

/// A command's stdout as JSON.
#[track_caller]
pub fn json(output: &Output) -> Value {
    serde_json::from_str(&output.stdout)
        .unwrap_or_else(|err| panic!("not JSON ({err}):\n{}\nstderr:\n{}", output.stdout, output.stderr))
}

/// `aws …` (which must succeed) as JSON.
#[track_caller]
pub fn aws_json(rampart: &Rampart, args: &[&str]) -> Value {
    json(&rampart.aws(args).ok())
}

/// `aws eks associate-access-policy` on `cluster` for `principal`, with `scope` in the CLI's
/// shorthand (`type=cluster`, `type=namespace,namespaces=a,b`).
pub fn associate_access_policy(rampart: &Rampart, cluster: &str, principal: &str, policy: &str, scope: &str) -> Output {
    rampart.aws(&[
        "eks",
        "associate-access-policy",
        "--cluster-name",
        cluster,
        "--principal-arn",
        principal,
        "--policy-arn",
        policy,
        "--access-scope",
        scope,
    ])
}

/// `aws eks update-cluster-config` of the default cluster's authentication mode.
pub fn set_authentication_mode(rampart: &Rampart, mode: &str) -> Output {
    rampart.aws(&[
        "eks",
        "update-cluster-config",
        "--name",
        CLUSTER,
        "--access-config",
        &format!("authenticationMode={mode}"),
    ])
}

/// `aws …` as an AWS profile.
pub fn aws_as(rampart: &Rampart, profile: &str, args: &[&str]) -> Output {
    run(rampart.command("aws").env("AWS_PROFILE", profile).args(args), None)
}

/// `kubectl …` with the env file's kubeconfig (the `aws eks get-token` exec plugin), acting as
/// the AWS profile `profile`.
pub fn kubectl_as(rampart: &Rampart, profile: &str, args: &[&str]) -> Output {
    run(rampart.command("kubectl").env("AWS_PROFILE", profile).args(args), None)
}

/// `kubectl get --raw PATH` (no discovery: users allowed little are not allowed discovery
/// until RBAC's bootstrap policy grants it) as the AWS profile `profile`.
pub fn get_raw_as(rampart: &Rampart, profile: &str, path: &str) -> Output {
    kubectl_as(rampart, profile, &["get", "--raw", path])
}

/// `kubectl create --raw PATH` with `body` as the AWS profile `profile`.
pub fn create_raw_as(rampart: &Rampart, profile: &str, path: &str, body: &str) -> Output {
    let file = rampart.write_file(&format!("raw-{}.json", uuid_like(body)), body);
    kubectl_as(rampart, profile, &["create", "--raw", path, "-f", file.to_str().unwrap()])
}

fn uuid_like(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("{hash:016x}")
}

/// `kubectl …` with the admin's client certificate (no exec plugin).
pub fn admin_kubectl(rampart: &Rampart, args: &[&str]) -> Output {
    let admin = rampart.data_dir.join("admin.kubeconfig");
    run(rampart.command("kubectl").env("KUBECONFIG", admin).args(args), None)
}

/// `kubectl …` with `stdin`, as the administrator's client certificate.
pub fn admin_kubectl_stdin(rampart: &Rampart, args: &[&str], stdin: &str) -> Output {
    let admin = rampart.data_dir.join("admin.kubeconfig");
    run(rampart.command("kubectl").env("KUBECONFIG", admin).args(args), Some(stdin))
}

/// Creates IAM user `name` (as the administrator) with an access key, and CLI profile `name`
/// with that key. Returns the key ID.
pub fn user_with_profile(rampart: &Rampart, name: &str) -> String {
    rampart.aws(&["iam", "create-user", "--user-name", name]).ok();
    let key = aws_json(rampart, &["iam", "create-access-key", "--user-name", name]);
    let id = key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_string();
    let secret = key["AccessKey"]["SecretAccessKey"].as_str().unwrap().to_string();
    configure_profile(rampart, name, &[("aws_access_key_id", &id), ("aws_secret_access_key", &secret)]);
    id
}

/// `aws configure set` each value in `profile`.
pub fn configure_profile(rampart: &Rampart, profile: &str, values: &[(&str, &str)]) {
    for (key, value) in values {
        rampart.aws(&["configure", "set", "--profile", profile, key, value]).ok();
    }
}

/// The default cluster's kube-system/aws-auth data, with `mapUsers`/`mapRoles`/`mapAccounts`
/// replaced by the given YAML texts (`None` keeps the key as it is), applied as the admin.
pub fn set_aws_auth(
    rampart: &Rampart,
    map_roles: Option<&str>,
    map_users: Option<&str>,
    map_accounts: Option<&str>,
) -> Output {
    let current =
        json(&admin_kubectl(rampart, &["get", "configmap", "aws-auth", "-n", "kube-system", "-o", "json"]).ok());
    let mut data = current["data"].as_object().cloned().unwrap_or_default();
    for (key, value) in [("mapRoles", map_roles), ("mapUsers", map_users), ("mapAccounts", map_accounts)] {
        if let Some(value) = value {
            data.insert(key.to_string(), value.into());
        }
    }
    let configmap = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "aws-auth", "namespace": "kube-system"},
        "data": data,
    });
    admin_kubectl_stdin(rampart, &["apply", "-f", "-"], &configmap.to_string())
}

/// `kubectl edit configmap aws-auth -n kube-system` (the env file's kubeconfig, so as the
/// default profile) with an editor that puts a `mapUsers` key holding `entries` (YAML lines, as
/// indented under the key) right after `data:`. Asserts kubectl says it edited the ConfigMap.
#[track_caller]
pub fn edit_aws_auth_map_users(rampart: &Rampart, entries: &[&str]) -> Output {
    let added = entries.iter().map(|line| format!("\\n    {line}")).collect::<String>();
    let editor = rampart.write_file(
        &format!("edit-{}.sh", uuid_like(&added)),
        &format!("#!/bin/sh\nsed -i 's|^data:$|data:\\n  mapUsers: \\|{added}|' \"$1\"\n"),
    );
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let edited = run(
        rampart.command("kubectl").env("KUBE_EDITOR", &editor).args([
            "edit",
            "configmap",
            "aws-auth",
            "-n",
            "kube-system",
        ]),
        None,
    )
    .ok();
    assert!(edited.stdout.contains("configmap/aws-auth edited"), "{}", edited.stdout);
    edited
}

/// A kubeconfig for the cluster `kubeconfig` (a file of `aws eks update-kubeconfig`'s form)
/// names, with no user: for `kubectl --token`.
pub fn token_kubeconfig(rampart: &Rampart, from: &PathBuf, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(from).unwrap();
    let field =
        |key: &str| text.lines().find_map(|l| l.trim().strip_prefix(key)).map(|v| v.trim().to_string()).unwrap();
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    certificate-authority-data: {}\n    server: {}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user: {{}}\n",
        field("certificate-authority-data:"),
        field("server:"),
    );
    rampart.write_file(name, &kubeconfig)
}

/// A token `aws eks get-token` mints for `cluster` as `profile`.
pub fn get_token(rampart: &Rampart, profile: &str, cluster: &str) -> String {
    let out = aws_as(rampart, profile, &["eks", "get-token", "--cluster-name", cluster]).ok();
    json(&out)["status"]["token"].as_str().unwrap().to_string()
}

/// The default cluster's authenticator log.
pub fn authenticator_log(rampart: &Rampart) -> String {
    std::fs::read_to_string(rampart.data_dir.join("logs").join(CLUSTER).join("authenticator.log")).unwrap_or_default()
}

/// Waits (briefly) until `f` holds.
pub fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..50 {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}
