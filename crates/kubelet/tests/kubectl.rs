//! The runtime's logs and exec driven by the real `kubectl` 1.32.
//!
//! Until the API server serves `pods/log` and `pods/exec` from this crate, a small axum app
//! stands in for kube-apiserver's routing: it answers `/version`, discovery and `GET pod` with
//! fixed documents, and hands `pods/log` and `pods/exec` to the runtime exactly as the server
//! will (`PodLogQuery::parse` → `Runtime::logs`, `PodExecQuery::parse` → `Runtime::exec` →
//! `websocket::serve`). Everything kubectl streams goes through the crate's own code.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State, WebSocketUpgrade};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::*;
use kubelet::{KubeletError, PodExecQuery, PodLogQuery, PodRef, PodSummary};

struct Server {
    t: TestRuntime,
    pod: PodRef,
}

fn status_response(err: &KubeletError) -> Response {
    let status = err.to_status();
    let code = StatusCode::from_u16(status.code).unwrap();
    (code, [(header::CONTENT_TYPE, "application/json")], status.to_bytes()).into_response()
}

/// What the API server will do first for `pods/log` and `pods/exec`: read the pod and pick
/// the container as kube-apiserver does.
fn container_of(requested: Option<&str>) -> Result<(PodSummary, String), KubeletError> {
    let summary = PodSummary::from_object("demo", &pod_document()).expect("a pod object");
    let container = summary.container(requested)?;
    Ok((summary, container))
}

async fn pod_log(State(server): State<Arc<Server>>, RawQuery(query): RawQuery) -> Response {
    let query = match PodLogQuery::parse(&server.pod.name, query.as_deref().unwrap_or_default()) {
        Ok(query) => query,
        Err(err) => return status_response(&err),
    };
    let (summary, container) = match container_of(query.container.as_deref()) {
        Ok(found) => found,
        Err(err) => return status_response(&err),
    };
    match server.t.runtime.logs(&summary.pod, &container, &query.options) {
        Ok(stream) => ([(header::CONTENT_TYPE, "text/plain")], Body::from_stream(stream)).into_response(),
        Err(err) => status_response(&err),
    }
}

async fn pod_exec(State(server): State<Arc<Server>>, RawQuery(query): RawQuery, upgrade: WebSocketUpgrade) -> Response {
    let query = match PodExecQuery::parse(query.as_deref().unwrap_or_default()) {
        Ok(query) => query,
        Err(err) => return status_response(&err),
    };
    let (summary, container) = match container_of(query.container.as_deref()) {
        Ok(found) => found,
        Err(err) => return status_response(&err),
    };
    if let Err(err) = summary.check_scheduled().and_then(|()| server.t.runtime.policy().check()) {
        return status_response(&err);
    }
    let (upgrade, Some(protocol)) = kubelet::websocket::negotiate(upgrade) else {
        return status_response(&KubeletError::BadRequest("no supported channel protocol".into()));
    };
    upgrade.on_upgrade(move |socket| async move {
        let exec = server.t.runtime.exec(&summary.pod, &container, &query.options);
        kubelet::websocket::serve(socket, protocol, exec).await;
    })
}

/// kubectl falls back to SPDY when the WebSocket upgrade is refused: the same checks come
/// first, then SPDY itself is refused.
async fn spdy_refused(RawQuery(query): RawQuery) -> Response {
    let query = PodExecQuery::parse(query.as_deref().unwrap_or_default()).unwrap_or_default();
    match container_of(query.container.as_deref()) {
        Ok(_) => status_response(&KubeletError::SpdyUnsupported),
        Err(err) => status_response(&err),
    }
}

fn json(body: serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn pod_document() -> serde_json::Value {
    let containers: Vec<_> = ["main", "job", "follow"]
        .iter()
        .map(|name| serde_json::json!({"name": name, "image": "busybox:1.36"}))
        .collect();
    serde_json::json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": "web", "namespace": "default", "uid": pod("web").uid,
                     "annotations": {"kubectl.kubernetes.io/default-container": "main"}},
        "spec": {"containers": containers, "nodeName": "node-1"},
        "status": {"phase": "Running", "podIP": "10.0.0.5"},
    })
}

fn router(server: Arc<Server>) -> Router {
    Router::new()
        .route("/version", get(|| async { json(serde_json::json!({"major": "1", "minor": "32", "gitVersion": "v1.32.4"})) }))
        .route("/api", get(|| async { json(serde_json::json!({"kind": "APIVersions", "versions": ["v1"]})) }))
        .route(
            "/apis",
            get(|| async { json(serde_json::json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})) }),
        )
        .route(
            "/api/v1",
            get(|| async {
                json(serde_json::json!({
                    "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
                    "resources": [
                        {"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
                         "verbs": ["get", "list"], "shortNames": ["po"]},
                        {"name": "pods/exec", "singularName": "", "namespaced": true, "kind": "PodExecOptions", "verbs": ["create", "get"]},
                        {"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]},
                    ]
                }))
            }),
        )
        .route("/api/v1/namespaces/default/pods/web", get(|| async { json(pod_document()) }))
        .route("/api/v1/namespaces/default/pods/web/log", get(pod_log))
        .route("/api/v1/namespaces/default/pods/web/exec", get(pod_exec).post(spdy_refused))
        .with_state(server)
}

struct Kubectl {
    home: PathBuf,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

#[derive(Debug)]
struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Kubectl {
    fn new(port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: http://127.0.0.1:{port}\n\
                 users:\n- name: test\n  user: {{}}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    \
                 user: test\n    namespace: default\ncurrent-context: test\n"
            ),
        )
        .unwrap();
        Self { home, kubeconfig, _dir: dir }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("kubectl");
        command.args(args).env("HOME", &self.home).env("KUBECONFIG", &self.kubeconfig);
        command
    }

    async fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut command = self.command(args);
        let stdin = stdin.to_string();
        tokio::task::spawn_blocking(move || {
            let mut child = command
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the real kubectl is required");
            child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
            let out = child.wait_with_output().unwrap();
            Output {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .await
        .unwrap()
    }
}

async fn start() -> (Arc<Server>, Kubectl) {
    let t = runtime();
    let pod = pod("web");
    let sandbox = t.runtime.run_pod_sandbox(&pod).unwrap();
    sandbox.start_container(&container("main", &[])).unwrap();
    let server = Arc::new(Server { t, pod });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = router(Arc::clone(&server));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (server, Kubectl::new(port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_exec_over_the_websocket() {
    let (_server, kubectl) = start().await;

    let out = kubectl.run(&["exec", "web", "--", "echo", "hi"], "").await;
    assert_eq!((out.code, out.stdout.as_str()), (0, "hi\n"), "{out:?}");

    let out = kubectl.run(&["exec", "web", "--", "sh", "-c", "echo out; echo err >&2; exit 3"], "").await;
    assert_eq!(out.code, 3, "{out:?}");
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\ncommand terminated with exit code 3\n");

    let out = kubectl.run(&["exec", "-i", "web", "--", "cat"], "piped input\nsecond line\n").await;
    assert_eq!((out.code, out.stdout.as_str()), (0, "piped input\nsecond line\n"), "{out:?}");

    // Not in the pod's spec: kube-apiserver refuses before any upgrade.
    let out = kubectl.run(&["exec", "web", "-c", "missing", "--", "true"], "").await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stderr, "Error from server (BadRequest): container missing is not valid for pod web\n");
    // In the spec but not running: the kubelet's answer, on the error channel.
    let out = kubectl.run(&["exec", "web", "-c", "follow", "--", "true"], "").await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.stderr,
        "error: Internal error occurred: unable to upgrade connection: container not found (\"follow\")\n"
    );

    let mut spdy_only = kubectl.command(&["exec", "web", "--", "echo", "hi"]);
    spdy_only.env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false");
    let out = tokio::task::spawn_blocking(move || spdy_only.output().unwrap()).await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error from server (BadRequest): this server speaks the remote command protocol over WebSocket \
         (v5.channel.k8s.io) only, not SPDY: use kubectl 1.30 or later without KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false\n"
    );

    let out = kubectl.run(&["exec", "web", "--", "no-such-command"], "").await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.starts_with("error: Internal error occurred: Internal error occurred: error executing command"),
        "{out:?}"
    );
    assert!(out.stderr.contains(r#"exec: "no-such-command": executable file not found in $PATH"#), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_with_its_options() {
    let (server, kubectl) = start().await;
    let sandbox = server.t.runtime.sandbox(&server.pod.uid).unwrap();
    sandbox
        .start_container(&container("job", &["sh", "-c", "for i in 1 2 3; do echo line $i; done; exit 3"]))
        .unwrap()
        .wait()
        .await;

    let out = kubectl.run(&["logs", "web"], "").await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with("Rampart simulates container main (image busybox:1.36)"), "{out:?}");

    let out = kubectl.run(&["logs", "web", "-c", "job", "--tail=2"], "").await;
    assert_eq!((out.code, out.stdout.as_str()), (0, "line 2\nline 3\n"), "{out:?}");

    let out = kubectl.run(&["logs", "web", "-c", "job", "--tail=1", "--timestamps"], "").await;
    let (stamp, line) = out.stdout.split_once(' ').unwrap();
    assert_eq!(line, "line 3\n");
    assert!(chrono::DateTime::parse_from_rfc3339(stamp).is_ok(), "{stamp}");

    let out = kubectl.run(&["logs", "web", "-c", "job", "--limit-bytes=9"], "").await;
    assert_eq!(out.stdout, "line 1\nli");

    let out = kubectl.run(&["logs", "web", "-c", "job", "--previous"], "").await;
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        "Error from server (BadRequest): previous terminated container \"job\" in pod \"web\" not found\n"
    );

    // -f streams while the container runs and ends when it exits.
    let started = std::time::Instant::now();
    sandbox
        .start_container(&container("follow", &["sh", "-c", "echo first; sleep 1; echo second; sleep 1; echo third"]))
        .unwrap();
    let out = kubectl.run(&["logs", "-f", "web", "-c", "follow"], "").await;
    assert_eq!((out.code, out.stdout.as_str()), (0, "first\nsecond\nthird\n"), "{out:?}");
    assert!(started.elapsed() >= Duration::from_secs(2));
}

/// What a terminal showed, filled by a task reading the PTY's master side.
#[derive(Clone, Default)]
struct Screen(Arc<std::sync::Mutex<Vec<u8>>>);

impl Screen {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    async fn shows(&self, needle: &str) -> bool {
        for _ in 0..200 {
            if self.text().contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}

/// `kubectl exec -it` run on a real terminal (a PTY of the test's own, 100x30 then resized to
/// 120x40, which sends kubectl SIGWINCH), typed into as a user would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_exec_it_gives_an_interactive_shell_on_a_pty() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (_server, kubectl) = start().await;
    let (pty, pts) = pty_process::open().unwrap();
    pty.resize(pty_process::Size::new(30, 100)).unwrap();
    let mut child = pty_process::Command::new("kubectl")
        .args(["exec", "-it", "web", "--", "sh"])
        .env("HOME", &kubectl.home)
        .env("KUBECONFIG", &kubectl.kubeconfig)
        .kill_on_drop(true)
        .spawn(pts)
        .expect("the real kubectl is required");
    let (mut reader, mut keyboard) = pty.into_split();
    let screen = Screen::default();
    let filled = screen.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf).await {
            if n == 0 {
                break;
            }
            filled.0.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });

    keyboard.write_all(b"echo hello-from-tty; tty; stty size\r").await.unwrap();
    assert!(screen.shows("30 100").await, "{}", screen.text());
    let text = screen.text();
    assert!(text.contains("hello-from-tty\r\n"), "{text}");
    assert!(text.contains("/dev/pts/"), "{text}");

    keyboard.resize(pty_process::Size::new(40, 120)).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    keyboard.write_all(b"stty size; exit 7\r").await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(7), "{}", screen.text());
    assert!(screen.shows("command terminated with exit code 7").await, "{}", screen.text());
    assert!(screen.text().contains("40 120"), "{}", screen.text());
}
