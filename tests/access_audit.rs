//! The audit log of a kubectl session, checked field by field: Metadata by default, a policy in
//! kube-apiserver's format (levels, users, verbs, resources, namespaces, nonResourceURLs,
//! omitStages), impersonation recorded, 401s audited, watch stages, no secret material anywhere,
//! and rotation by size.

mod common;

use common::access::*;

fn events_where(rampart: &Rampart, pred: impl Fn(&serde_json::Value) -> bool) -> Vec<serde_json::Value> {
    // The writer thread flushes right after each batch; give it a moment.
    for _ in 0..50 {
        let found: Vec<_> = audit_events(rampart).into_iter().filter(|e| pred(e)).collect();
        if !found.is_empty() {
            return found;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    vec![]
}

#[test]
fn a_session_at_the_default_metadata_level() {
    let rampart = Rampart::start();
    let secret_value = "s3cr3t-value-7f1c";
    admin(&rampart, &["create", "secret", "generic", "db", &format!("--from-literal=password={secret_value}")]).ok();
    admin(&rampart, &["get", "secret", "db", "-o", "yaml"]).ok();
    admin(&rampart, &["get", "secrets", "--as", "eks-user", "--as-group", "dev"]).failed();
    let (_, token) = service_account(&rampart, "bob");
    let bob = token_kubeconfig(&rampart, "bob.kubeconfig", &token);
    kubectl_with(&rampart, &bob, &["get", "pods"]).failed();
    let stranger = token_kubeconfig(&rampart, "bad.kubeconfig", "not-a-valid-token-0123456789");
    kubectl_with(&rampart, &stranger, &["get", "pods"]).failed();
    admin(&rampart, &["get", "pods", "-w", "--request-timeout=1s"]);

    // The admin's create of the Secret: Metadata, no payload.
    let created = events_where(&rampart, |e| e["verb"] == "create" && e["objectRef"]["resource"] == "secrets");
    let created = &created[0];
    assert_eq!(created["kind"], "Event");
    assert_eq!(created["apiVersion"], "audit.k8s.io/v1");
    assert_eq!(created["level"], "Metadata");
    assert_eq!(created["stage"], "ResponseComplete");
    assert_eq!(
        created["requestURI"],
        "/api/v1/namespaces/default/secrets?fieldManager=kubectl-create&fieldValidation=Strict"
    );
    assert_eq!(created["user"]["username"], "kubernetes-admin");
    assert_eq!(created["user"]["groups"], serde_json::json!(["system:masters", "system:authenticated"]));
    assert_eq!(created["sourceIPs"], serde_json::json!(["127.0.0.1"]));
    assert!(created["userAgent"].as_str().unwrap().starts_with("kubectl/v1.32"), "{created}");
    assert_eq!(
        created["objectRef"],
        serde_json::json!({"resource": "secrets", "namespace": "default", "apiVersion": "v1"})
    );
    assert_eq!(created["responseStatus"], serde_json::json!({"metadata": {}, "code": 201}));
    assert_eq!(created["annotations"]["authorization.k8s.io/decision"], "allow");
    assert!(created.get("requestObject").is_none() && created.get("responseObject").is_none());
    assert!(created["auditID"].as_str().unwrap().len() == 36);
    assert!(created["requestReceivedTimestamp"].as_str().unwrap().ends_with('Z'));

    // The impersonated, forbidden list: the requester, the identity, the refusal.
    let denied = events_where(&rampart, |e| e["impersonatedUser"]["username"] == "eks-user");
    let denied = &denied[0];
    assert_eq!(denied["user"]["username"], "kubernetes-admin");
    assert_eq!(denied["impersonatedUser"]["groups"], serde_json::json!(["dev", "system:authenticated"]));
    assert_eq!(denied["verb"], "list");
    assert_eq!(denied["annotations"]["authorization.k8s.io/decision"], "forbid");
    assert_eq!(denied["responseStatus"]["code"], 403);
    assert_eq!(denied["responseStatus"]["reason"], "Forbidden");
    assert_eq!(
        denied["responseStatus"]["message"],
        r#"secrets is forbidden: User "eks-user" cannot list resource "secrets" in API group "" in the namespace "default""#
    );

    // A service account's token: its identity, never its token.
    let sa = events_where(&rampart, |e| e["user"]["username"] == "system:serviceaccount:default:bob");
    assert_eq!(sa[0]["annotations"]["authorization.k8s.io/decision"], "forbid");
    // The rejected token: a 401 at ResponseStarted, no user.
    let unauthorized = events_where(&rampart, |e| e["responseStatus"]["code"] == 401);
    assert_eq!(unauthorized[0]["stage"], "ResponseStarted");
    assert_eq!(unauthorized[0]["user"], serde_json::json!({}));
    assert_eq!(unauthorized[0]["responseStatus"]["message"], "Authentication failed, attempted: bearer");
    // The watch: ResponseStarted, then ResponseComplete when it ends.
    let watch = events_where(&rampart, |e| e["verb"] == "watch" && e["stage"] == "ResponseComplete");
    let id = &watch[0]["auditID"];
    let started = events_where(&rampart, |e| &e["auditID"] == id && e["stage"] == "ResponseStarted");
    assert_eq!(started.len(), 1);
    assert!(started[0]["stageTimestamp"].as_str() <= watch[0]["stageTimestamp"].as_str());

    // No secret material anywhere: the Secret's data, the bearer tokens.
    let text = std::fs::read_to_string(rampart.data_dir.join("logs/rampart/audit.log")).unwrap();
    assert!(!text.contains(secret_value) && !text.contains("czNjcjN0LXZhbHVlLTdmMWM"), "the Secret's data");
    assert!(!text.contains(&token) && !text.contains("not-a-valid-token"), "bearer tokens");
    assert!(!text.to_ascii_lowercase().contains("authorization\":\"bearer"));
}

const POLICY: &str = r#"apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    nonResourceURLs: ["/api*", "/version", "/openapi*"]
  - level: None
    users: ["kubernetes-admin"]
    verbs: ["get"]
    resources: [{group: "", resources: ["namespaces"]}]
  - level: RequestResponse
    resources: [{group: "", resources: ["configmaps", "secrets"]}]
    namespaces: ["default"]
  - level: Request
    verbs: ["create"]
  - level: Metadata
    omitStages: ["ResponseStarted"]
"#;

#[test]
fn a_policy_file_in_kube_apiservers_format() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, POLICY).unwrap();
    let rampart = Rampart::start_with(&["--audit-policy", policy.to_str().unwrap()]);
    admin(&rampart, &["create", "configmap", "settings", "--from-literal=colour=blue"]).ok();
    admin(&rampart, &["create", "secret", "generic", "hidden", "--from-literal=k=very-private-9d2"]).ok();
    admin(&rampart, &["create", "namespace", "team-a"]).ok();
    admin(&rampart, &["get", "namespace", "team-a"]).ok();
    admin(&rampart, &["create", "configmap", "elsewhere", "-n", "team-a", "--from-literal=a=b"]).ok();
    admin(&rampart, &["get", "pods", "-w", "--request-timeout=1s"]);

    // RequestResponse: both bodies.
    let cm = events_where(&rampart, |e| {
        e["verb"] == "create"
            && e["objectRef"]["name"].is_null()
            && e["objectRef"]["resource"] == "configmaps"
            && e["objectRef"]["namespace"] == "default"
    });
    assert_eq!(cm[0]["level"], "RequestResponse");
    assert_eq!(cm[0]["requestObject"]["data"]["colour"], "blue");
    assert_eq!(cm[0]["responseObject"]["metadata"]["name"], "settings");
    // Secrets: never above Metadata, whatever the policy says.
    let secret = events_where(&rampart, |e| e["verb"] == "create" && e["objectRef"]["resource"] == "secrets");
    assert_eq!(secret[0]["level"], "Metadata");
    assert!(secret[0].get("requestObject").is_none());
    // Request: the request body only.
    let other = events_where(&rampart, |e| e["verb"] == "create" && e["objectRef"]["namespace"] == "team-a");
    assert_eq!(other[0]["level"], "Request");
    assert_eq!(other[0]["requestObject"]["data"]["a"], "b");
    assert!(other[0].get("responseObject").is_none());
    // None: the admin's get of a namespace and discovery are not logged; omitStages holds.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let all = audit_events(&rampart);
    assert!(!all.iter().any(|e| e["verb"] == "get" && e["objectRef"]["resource"] == "namespaces"), "None level");
    assert!(!all.iter().any(|e| e["requestURI"].as_str().unwrap().starts_with("/api?") || e["requestURI"] == "/api"));
    assert!(!all.iter().any(|e| e["stage"] == "RequestReceived" || e["stage"] == "ResponseStarted"), "omitStages");
    assert!(all.iter().any(|e| e["verb"] == "watch" && e["stage"] == "ResponseComplete"));
    let text = std::fs::read_to_string(rampart.data_dir.join("logs/rampart/audit.log")).unwrap();
    assert!(!text.contains("very-private-9d2") && !text.contains("dmVyeS1wcml2YXRlLTlkMg"));
}

#[test]
fn bad_policies_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Loud}]\n").unwrap();
    let out = run(
        std::process::Command::new(rampart_bin())
            .args(["serve", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--aws-listen", "127.0.0.1:0", "--kube-listen", "127.0.0.1:0", "--audit-policy"])
            .arg(&policy),
        None,
    );
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("the audit policy is not valid"), "{}", out.stderr);
    assert!(!dir.path().join("data").exists(), "nothing is created for a refused start");
}

#[test]
fn the_log_rotates_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: RequestResponse}]\n").unwrap();
    let rampart = Rampart::start_with(&[
        "--audit-policy",
        policy.to_str().unwrap(),
        "--audit-log-maxsize",
        "1",
        "--audit-log-maxbackup",
        "1",
    ]);
    let file = rampart.write_file("big.txt", &"x".repeat(300_000));
    admin(&rampart, &["create", "configmap", "big", &format!("--from-file=big={}", file.display())]).ok();
    // Each read logs the 300 kB object: ten of them fill three megabytes.
    for _ in 0..10 {
        admin(&rampart, &["get", "configmap", "big", "-o", "name"]).ok();
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let logs = rampart.data_dir.join("logs/rampart");
    let mut backups: Vec<String> = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("audit-") && n.ends_with(".log"))
        .collect();
    backups.sort();
    assert_eq!(backups.len(), 1, "one backup kept: {backups:?}");
    for name in [backups[0].as_str(), "audit.log"] {
        let text = std::fs::read_to_string(logs.join(name)).unwrap();
        assert!(text.len() <= 1024 * 1024, "{name} is {} bytes", text.len());
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).expect("whole events in every file");
        }
    }
}
