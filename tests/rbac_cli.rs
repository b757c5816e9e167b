//! `rampart auth can-i` and `rampart who-can` run as the real binary over manifests: kubectl's
//! answers, tables and exit codes (0 yes, 1 no, 2 bad input), the bootstrap policy, explain, and
//! the errors for malformed input.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn rampart(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running rampart");
    child.stdin.take().unwrap().write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

const POLICY: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: pod-reader, namespace: dev}
rules:
- {apiGroups: [""], resources: [pods, pods/log], verbs: [get, list, watch]}
- {apiGroups: [""], resources: [configmaps], resourceNames: [app-config], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: jane-reads, namespace: dev}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
subjects: [{kind: User, name: jane}, {kind: ServiceAccount, name: ci}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated}
"#;

const LIST: &str = r#"{"apiVersion": "v1", "kind": "List", "items": [
 {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "deployer"},
  "rules": [{"apiGroups": ["apps"], "resources": ["deployments", "deployments/scale"], "verbs": ["get", "patch"]}]},
 {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "ops-deployers"},
  "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "deployer"},
  "subjects": [{"kind": "Group", "name": "ops"}]}]}"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn yes_and_no_with_kubectl_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "rbac.yaml", POLICY);
    let yes = rampart(&["auth", "can-i", "get", "pods", "--as", "jane", "-n", "dev", "-f", &f], None);
    assert_eq!((yes.code, yes.stdout.as_str()), (0, "yes\n"), "{}", yes.stderr);
    assert!(yes.stderr.contains("document 3: skipping kind \"ConfigMap\""), "{}", yes.stderr);
    let no = rampart(&["auth", "can-i", "delete", "pods", "--as", "jane", "-n", "dev", "-f", &f], None);
    assert_eq!((no.code, no.stdout.as_str()), (1, "no\n"));
    let other_ns = rampart(&["auth", "can-i", "get", "pods", "--as", "jane", "-n", "prod", "-f", &f], None);
    assert_eq!((other_ns.code, other_ns.stdout.as_str()), (1, "no\n"));
    // Short names and singulars resolve as kubectl's discovery does.
    for form in ["pod", "po", "PODS"] {
        let r = rampart(&["auth", "can-i", "list", form, "--as", "jane", "-n", "dev", "-f", &f], None);
        assert_eq!(r.code, 0, "{form}: {}", r.stderr);
    }
    // The subresource: --subresource, and kubectl's TYPE/NAME reading of pods/log.
    let log =
        rampart(&["auth", "can-i", "get", "pods", "--subresource", "log", "--as", "jane", "-n", "dev", "-f", &f], None);
    assert_eq!(log.code, 0);
    let exec = rampart(
        &["auth", "can-i", "get", "pods", "--subresource", "exec", "--as", "jane", "-n", "dev", "-f", &f],
        None,
    );
    assert_eq!(exec.code, 1);
    let named = rampart(&["auth", "can-i", "get", "pods/exec", "--as", "jane", "-n", "dev", "-f", &f], None);
    assert_eq!(named.code, 0, "kubectl asks about the pod named exec");
    assert!(named.stderr.contains("kubectl reads \"pods/exec\" as the pod named \"exec\""), "{}", named.stderr);
    // resourceNames: only the named object.
    let cm = rampart(&["auth", "can-i", "get", "configmaps/app-config", "--as", "jane", "-n", "dev", "-f", &f], None);
    assert_eq!(cm.code, 0);
    let cm = rampart(&["auth", "can-i", "get", "configmaps", "other", "--as", "jane", "-n", "dev", "-f", &f], None);
    assert_eq!(cm.code, 1);
    // A ServiceAccount subject without namespace is in the binding's namespace.
    let sa = rampart(
        &["auth", "can-i", "list", "pods", "--as", "system:serviceaccount:dev:ci", "-n", "dev", "-f", &f],
        None,
    );
    assert_eq!(sa.code, 0);
    // Quiet: nothing printed, the answer in the exit code.
    let quiet = rampart(&["auth", "can-i", "delete", "pods", "-q", "--as", "jane", "-n", "dev", "-f", &f], None);
    assert_eq!((quiet.code, quiet.stdout.as_str()), (1, ""));
}

#[test]
fn list_kinds_directories_stdin_and_groups() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", POLICY);
    write(dir.path(), "b.json", LIST);
    write(dir.path(), "notes.txt", "not a manifest");
    let d = dir.path().display().to_string();
    let scale = [
        "auth",
        "can-i",
        "patch",
        "deployments.apps/web",
        "--subresource",
        "scale",
        "--as",
        "ann",
        "--as-group",
        "ops",
        "-f",
        &d,
    ];
    let r = rampart(&scale, None);
    assert_eq!((r.code, r.stdout.as_str()), (0, "yes\n"), "{}", r.stderr);
    let r = rampart(&["auth", "can-i", "patch", "deploy", "--as", "ann", "--as-group", "ops", "-A", "-f", &d], None);
    assert_eq!(r.code, 0);
    let r = rampart(&["auth", "can-i", "delete", "deploy", "--as", "ann", "--as-group", "ops", "-f", &d], None);
    assert_eq!(r.code, 1);
    let r = rampart(
        &["auth", "can-i", "get", "deployments.apps", "--as", "ann", "--as-group", "ops", "-f", "-"],
        Some(LIST),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Two -f: both are read.
    let a = dir.path().join("a.yaml").display().to_string();
    let b = dir.path().join("b.json").display().to_string();
    let r = rampart(&["auth", "can-i", "get", "pods", "--as", "jane", "-n", "dev", "-f", &a, "-f", &b], None);
    assert_eq!(r.code, 0);
}

#[test]
fn recursive_directories_and_namespace_defaulting_follow_kubectl() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("team").join("rbac");
    std::fs::create_dir_all(&nested).unwrap();
    // No namespace: kubectl apply -f puts these in the -n namespace, else default.
    write(
        &nested,
        "reader.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: reader}\n\
         rules: [{apiGroups: [\"\"], resources: [pods], verbs: [get]}]\n---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: reader}\n\
         roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}\n\
         subjects: [{kind: User, name: kim}, {kind: ServiceAccount, name: bot}]\n",
    );
    write(&nested, "notes.md", "not a manifest");
    let d = dir.path().display().to_string();
    let ask = |extra: &[&str]| {
        let mut args = vec!["auth", "can-i", "get", "pods", "--as", "kim", "-f", &d];
        args.extend_from_slice(extra);
        rampart(&args, None)
    };
    // Without -R the subdirectories are not read, as with kubectl.
    let r = ask(&["-n", "team"]);
    assert_eq!((r.code, r.stdout.as_str()), (1, "no\n"), "{}", r.stderr);
    let r = ask(&["-n", "team", "-R"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "yes\n"), "{}", r.stderr);
    let r = ask(&["-n", "team", "--recursive"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Without -n they land in default, and only there.
    let r = ask(&["-R"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = ask(&["-R", "-A"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    // The ServiceAccount subject without a namespace is the binding's (the -n namespace).
    let r = rampart(
        &["auth", "can-i", "get", "pods", "--as", "system:serviceaccount:team:bot", "-n", "team", "-R", "-f", &d],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = rampart(&["who-can", "get", "pods", "-n", "team", "-R", "--no-bootstrap", "-f", &d], None);
    assert!(
        r.stdout.starts_with(
            "ROLEBINDING   NAMESPACE   ROLE          SUBJECT   TYPE             SA-NAMESPACE\n\
         reader        team        Role/reader   kim       User             \n\
         reader        team        Role/reader   bot       ServiceAccount   team\n"
        ),
        "{}",
        r.stdout
    );
}

#[test]
fn the_bootstrap_policy_has_the_controllers_and_kube_system_roles() {
    let sa = |name: &str| format!("system:serviceaccount:kube-system:{name}");
    let gc = sa("generic-garbage-collector");
    let r = rampart(&["auth", "can-i", "delete", "deployments.apps", "--as", &gc, "-n", "team"], None);
    assert_eq!((r.code, r.stdout.as_str()), (0, "yes\n"), "{}", r.stderr);
    let r = rampart(&["auth", "can-i", "create", "pods", "--as", &gc, "-n", "team"], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let signer = sa("bootstrap-signer");
    let r =
        rampart(&["auth", "can-i", "update", "configmaps/cluster-info", "--as", &signer, "-n", "kube-public"], None);
    assert_eq!((r.code, r.stdout.as_str()), (0, "yes\n"), "{}", r.stderr);
    let r = rampart(&["auth", "can-i", "update", "configmaps/cluster-info", "--as", &signer, "-n", "default"], None);
    assert_eq!(r.code, 1, "{}", r.stderr);
    // who-can names the controller's binding and service account.
    let r = rampart(&["who-can", "update", "deployments.apps", "--subresource", "scale", "-n", "team"], None);
    let hpa =
        r.stdout.lines().find(|l| l.starts_with("system:controller:horizontal-pod-autoscaler ")).unwrap_or_default();
    let cells: Vec<&str> = hpa.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "system:controller:horizontal-pod-autoscaler",
            "ClusterRole/system:controller:horizontal-pod-autoscaler",
            "horizontal-pod-autoscaler",
            "ServiceAccount",
            "kube-system"
        ],
        "{}",
        r.stdout
    );
}

#[test]
fn bootstrap_policy_is_there_unless_asked_away() {
    let r = rampart(&["auth", "can-i", "create", "selfsubjectaccessreviews", "--as", "anyone"], None);
    assert_eq!((r.code, r.stdout.as_str()), (0, "yes\n"), "{}", r.stderr);
    let r = rampart(&["auth", "can-i", "create", "selfsubjectaccessreviews", "--as", "anyone", "--no-bootstrap"], None);
    assert_eq!(r.code, 1);
    let r = rampart(&["auth", "can-i", "get", "/version", "--as", "system:anonymous"], None);
    assert_eq!(r.code, 0);
    let r = rampart(&["auth", "can-i", "get", "/api", "--as", "system:anonymous"], None);
    assert_eq!(r.code, 1);
    // system:masters: allowed by the API server before RBAC, with or without the bootstrap binding.
    let r =
        rampart(&["auth", "can-i", "*", "*", "--as", "root", "--as-group", "system:masters", "--no-bootstrap"], None);
    assert_eq!((r.code, r.stdout.as_str()), (0, "yes\n"));
    // A binding to a missing role: no, with RBAC's reason after the answer, as kubectl prints it.
    let ghost = r#"{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "g"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "ghost"},
        "subjects": [{"kind": "User", "name": "gus"}]}"#;
    let r = rampart(&["auth", "can-i", "get", "pods", "--as", "gus", "-f", "-"], Some(ghost));
    assert_eq!(
        (r.code, r.stdout.as_str()),
        (1, "no - RBAC: clusterrole.rbac.authorization.k8s.io \"ghost\" not found\n")
    );
}

#[test]
fn list_prints_kubectls_table() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "rbac.yaml", POLICY);
    let r = rampart(&["auth", "can-i", "--list", "--as", "jane", "-n", "dev", "--no-bootstrap", "-f", &f], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "Resources    Non-Resource URLs   Resource Names   Verbs\n\
         pods/log     []                  []               [get list watch]\n\
         pods         []                  []               [get list watch]\n\
         configmaps   []                  [app-config]     [get]\n"
    );
    let r = rampart(
        &["auth", "can-i", "--list", "--no-headers", "--as", "jane", "-n", "prod", "--no-bootstrap", "-f", &f],
        None,
    );
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    let r = rampart(&["auth", "can-i", "--list", "-A", "--as", "jane", "-f", &f], None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--list option must not be specified with --quiet, --all-namespaces or --subresource"));
}

#[test]
fn explain_names_the_path_or_the_miss() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "rbac.yaml", POLICY);
    let r = rampart(&["auth", "can-i", "watch", "pods", "--as", "jane", "-n", "dev", "-f", &f, "--explain"], None);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout
            .starts_with("yes\nallowed by RoleBinding \"jane-reads/dev\" of Role \"pod-reader\" to User \"jane\"\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("rules[0]: get,list,watch pods,pods/log in group \"\""), "{}", r.stdout);
    let r = rampart(&["auth", "can-i", "delete", "pods", "--as", "jane", "-n", "dev", "-f", &f, "--explain"], None);
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("verb \"delete\" not in [\"get\" \"list\" \"watch\"]"), "{}", r.stdout);
    let r = rampart(&["auth", "can-i", "get", "pods", "--as", "jane", "-n", "prod", "-f", &f, "--explain"], None);
    assert!(
        r.stdout.contains("grants only inside namespace \"dev\"; the request is in namespace \"prod\""),
        "{}",
        r.stdout
    );
}

#[test]
fn who_can_lists_subjects_with_binding_and_role() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "rbac.yaml", POLICY);
    let r = rampart(&["who-can", "list", "pods", "-n", "dev", "-f", &f], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with(
            "ROLEBINDING   NAMESPACE   ROLE              SUBJECT   TYPE             SA-NAMESPACE\n\
         jane-reads    dev         Role/pod-reader   jane      User             \n\
         jane-reads    dev         Role/pod-reader   ci        ServiceAccount   dev\n"
        ),
        "{}",
        r.stdout
    );
    let masters = r.stdout.lines().find(|l| l.starts_with("cluster-admin ")).unwrap_or_default();
    let cells: Vec<&str> = masters.split_whitespace().collect();
    assert_eq!(cells, ["cluster-admin", "ClusterRole/cluster-admin", "system:masters", "Group"], "{}", r.stdout);
    let r = rampart(&["who-can", "list", "pods", "-n", "prod", "--no-bootstrap", "-f", &f], None);
    assert_eq!(
        r.stdout,
        "No subjects found with permissions to list pods assigned through RoleBindings\n\n\
         No subjects found with permissions to list pods assigned through ClusterRoleBindings\n"
    );
}

#[test]
fn bad_input_exits_2_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.yaml", "kind: Role\nmetadata: {name: a}\n---\nkind: Role\nmetadata: {name: [\n");
    let r = rampart(&["auth", "can-i", "get", "pods", "--as", "jane", "-f", &bad], None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.starts_with(&format!("error: {bad}: document 2: ")), "{}", r.stderr);
    let json = write(dir.path(), "bad.json", "{\"kind\": ");
    let r = rampart(&["auth", "can-i", "get", "pods", "--as", "jane", "-f", &json], None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains(&format!("{json}: document 1: EOF while parsing")), "{}", r.stderr);
    let no_ref = write(
        dir.path(),
        "noref.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: b}\n",
    );
    let r = rampart(&["auth", "can-i", "get", "pods", "--as", "jane", "-f", &no_ref], None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("document 1: RoleBinding: missing field `roleRef`"), "{}", r.stderr);
    let r = rampart(&["auth", "can-i", "get", "pods", "--as", "jane", "-f", "/nonexistent/x.yaml"], None);
    assert_eq!(r.code, 2);
    let r = rampart(&["auth", "can-i", "get", "pods", "--as-arn", "arn:aws:iam::111122223333:user/jane"], None);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no aws-auth ConfigMap (kube-system/aws-auth) or access entry among the manifests"),
        "{}",
        r.stderr
    );
    let r = rampart(&["auth", "can-i", "get", "--as", "jane"], None);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("you must specify two arguments"), "{}", r.stderr);
    let r = rampart(&["auth", "can-i", "get", "pods"], None);
    assert_eq!(r.code, 2);
    let r = rampart(&["auth", "can-i", "get", "/healthz", "--subresource", "x", "--as", "jane"], None);
    assert_eq!(r.code, 2);
}
