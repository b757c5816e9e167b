//! Exec round-trip latency for `echo hi`, from the request to the client holding the output
//! and the exit status, beside the named peer: spawning `sh -c 'echo hi'` directly with
//! tokio and collecting its output (what any exec costs at the least: a fork/exec and two
//! pipes).
//!
//! - `kubelet/in_memory`: `Runtime::exec` + the channel driver over in-memory channels, the
//!   client decoding the v5 frames (`echo` is run directly, as kubectl's argv says);
//! - `kubelet/in_memory_sh_c`: the same running the peer's very command, `sh -c 'echo hi'`,
//!   so the difference with the peer is the runtime's and the driver's own cost;
//! - `kubelet/websocket`: the same through axum's WebSocket on loopback with a
//!   tokio-tungstenite client (the path the API server serves, minus TLS and authorization);
//! - `peer/sh_c_echo`: the process alone.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;

use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use criterion::{Criterion, criterion_group, criterion_main};
use futures::StreamExt;
use futures::channel::mpsc;
use kubelet::channel::ServerFrame;
use kubelet::{
    ContainerSpec, ExecMode, ExecOptions, ExecPolicy, ExecStatus, Message, PodRef, Protocol, Runtime, serve_exec,
};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, http::HeaderValue};

fn pod() -> PodRef {
    PodRef { cluster: "bench".into(), namespace: "default".into(), name: "web".into(), uid: "bench-uid".into() }
}

fn echo() -> ExecOptions {
    ExecOptions { command: vec!["echo".into(), "hi".into()], stdout: true, stderr: true, ..Default::default() }
}

/// The peer's exact command, to see the driver's own cost over the same process.
fn sh_c_echo() -> ExecOptions {
    ExecOptions { command: vec!["sh".into(), "-c".into(), "echo hi".into()], ..echo() }
}

/// Reads frames until the status; returns stdout and the status.
fn read_frames(frames: impl IntoIterator<Item = Vec<u8>>) -> (Vec<u8>, Option<ExecStatus>) {
    let mut stdout = Vec::new();
    for frame in frames {
        match ServerFrame::decode(&frame) {
            Some(ServerFrame::Stdout(data)) => stdout.extend_from_slice(&data),
            Some(ServerFrame::Status(json)) => return (stdout, ExecStatus::from_json(&json)),
            _ => {}
        }
    }
    (stdout, None)
}

async fn exec_in_memory(runtime: &Runtime, pod: &PodRef, options: &ExecOptions) -> (Vec<u8>, Option<ExecStatus>) {
    let (to_server, server_rx) = mpsc::unbounded::<Result<Message, Infallible>>();
    let (server_tx, mut from_server) = mpsc::unbounded();
    let session = tokio::spawn(serve_exec(Protocol::V5, runtime.exec(pod, "main", options), server_tx, server_rx));
    let mut frames = Vec::new();
    while let Some(Message::Binary(frame)) = from_server.next().await {
        let status = frame.first() == Some(&kubelet::channel::ERROR);
        frames.push(frame.to_vec());
        if status {
            break;
        }
    }
    // Answer the close as kubectl does, so the session ends at once.
    drop(to_server);
    let _ = session.await;
    read_frames(frames)
}

async fn ws_handler(State(state): State<Arc<(Runtime, PodRef)>>, upgrade: WebSocketUpgrade) -> Response {
    let (upgrade, protocol) = kubelet::websocket::negotiate(upgrade);
    let protocol = protocol.expect("v5 offered");
    upgrade.on_upgrade(move |socket| async move {
        let exec = state.0.exec(&state.1, "main", &echo());
        kubelet::websocket::serve(socket, protocol, exec).await;
    })
}

async fn exec_websocket(url: &str) -> (Vec<u8>, Option<ExecStatus>) {
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("v5.channel.k8s.io"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let mut frames = Vec::new();
    while let Some(Ok(message)) = socket.next().await {
        match message {
            tungstenite::Message::Binary(frame) => {
                let status = frame.first() == Some(&kubelet::channel::ERROR);
                frames.push(frame.to_vec());
                if status {
                    break;
                }
            }
            tungstenite::Message::Close(_) => break,
            _ => {}
        }
    }
    let _ = socket.close(None).await;
    read_frames(frames)
}

fn exec_round_trip(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy = ExecPolicy::decide(ExecMode::Auto, &["127.0.0.1:6443".parse().unwrap()]);
    let runtime = Runtime::new(dir.path(), policy);
    let pod = pod();
    let state = rt.block_on(async {
        let sandbox = runtime.run_pod_sandbox(&pod).unwrap();
        sandbox.start_container(&ContainerSpec { name: "main".into(), ..Default::default() }).unwrap();
        Arc::new((runtime, pod))
    });
    let url = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/exec", axum::routing::get(ws_handler)).with_state(Arc::clone(&state));
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("ws://{addr}/exec")
    });

    // Every variant must really run the command, or the comparison means nothing.
    for options in [echo(), sh_c_echo()] {
        let done = rt.block_on(exec_in_memory(&state.0, &state.1, &options));
        assert_eq!(done, (b"hi\n".to_vec(), Some(ExecStatus::Success)));
    }
    assert_eq!(rt.block_on(exec_websocket(&url)), (b"hi\n".to_vec(), Some(ExecStatus::Success)));

    let mut group = c.benchmark_group("exec_echo_round_trip");
    let (echo, sh_c_echo) = (echo(), sh_c_echo());
    group.bench_function("kubelet/in_memory", |b| {
        b.iter(|| black_box(rt.block_on(exec_in_memory(&state.0, &state.1, &echo))));
    });
    group.bench_function("kubelet/in_memory_sh_c", |b| {
        b.iter(|| black_box(rt.block_on(exec_in_memory(&state.0, &state.1, &sh_c_echo))));
    });
    group.bench_function("kubelet/websocket", |b| b.iter(|| black_box(rt.block_on(exec_websocket(&url)))));
    group.bench_function("peer/sh_c_echo", |b| {
        b.iter(|| {
            let out = rt.block_on(async { tokio::process::Command::new("sh").args(["-c", "echo hi"]).output().await });
            let out = out.unwrap();
            assert_eq!(out.stdout, b"hi\n");
            black_box(out)
        });
    });
    group.finish();
}

criterion_group!(benches, exec_round_trip);
criterion_main!(benches);
