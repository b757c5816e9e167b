//! Helpers the runtime's integration tests share: a runtime in a temporary directory, pods,
//! container specs, and an in-memory client for exec sessions that speaks the channel
//! protocol as kubectl does.

#![allow(dead_code)]

use std::convert::Infallible;
use std::time::Duration;

use futures::StreamExt;
use futures::channel::mpsc;
use kubelet::channel::{ClientFrame, ServerFrame};
use kubelet::{
    ContainerSpec, EnvVar, ExecMode, ExecOutcome, ExecPolicy, ExecProcess, ExecStatus, KubeletError, LogOptions,
    Message, PodRef, Protocol, Runtime, serve_exec,
};

pub struct TestRuntime {
    pub runtime: Runtime,
    pub dir: tempfile::TempDir,
}

pub fn runtime() -> TestRuntime {
    runtime_with(ExecMode::Local)
}

pub fn runtime_with(mode: ExecMode) -> TestRuntime {
    let dir = tempfile::tempdir().unwrap();
    let policy = ExecPolicy::decide(mode, &["127.0.0.1:6443".parse().unwrap()]);
    TestRuntime { runtime: Runtime::new(dir.path().join("pods"), policy), dir }
}

pub fn pod(name: &str) -> PodRef {
    PodRef {
        cluster: "demo".into(),
        namespace: "default".into(),
        name: name.into(),
        uid: format!("{name}-0b3c2c4e-1d1a-4b57-9e5e-2f6f4a1b7c9d"),
    }
}

pub fn container(name: &str, command: &[&str]) -> ContainerSpec {
    ContainerSpec {
        name: name.into(),
        image: "busybox:1.36".into(),
        command: command.iter().map(ToString::to_string).collect(),
        args: vec![],
        env: vec![EnvVar::new("GREETING", "hello from the pod")],
    }
}

/// Reads a whole log stream as text.
pub async fn read_log(runtime: &Runtime, pod: &PodRef, container: &str, options: LogOptions) -> String {
    let stream = runtime.logs(pod, container, &options).unwrap();
    collect(stream).await
}

pub async fn collect(stream: kubelet::LogStream) -> String {
    let chunks: Vec<_> = tokio::time::timeout(Duration::from_secs(20), stream.collect::<Vec<_>>()).await.unwrap();
    String::from_utf8(chunks.into_iter().flat_map(|c| c.unwrap().to_vec()).collect()).unwrap()
}

/// Whether any process is left in process group `pgid`, waiting up to 5 s for it to empty.
pub async fn group_is_gone(pgid: u32) -> bool {
    let pid = rustix::process::Pid::from_raw(pgid as i32).unwrap();
    for _ in 0..100 {
        if rustix::process::test_kill_process_group(pid).is_err() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The client end of an in-memory exec session.
pub struct Client {
    pub to_server: mpsc::UnboundedSender<Result<Message, Infallible>>,
    pub from_server: mpsc::UnboundedReceiver<Message>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub status: Option<ExecStatus>,
}

/// What an exec session produced for its client.
#[derive(Debug)]
pub struct Transcript {
    pub stdout: String,
    pub stderr: String,
    pub status: Option<ExecStatus>,
    pub outcome: ExecOutcome,
}

/// Starts serving `exec` to a new in-memory client.
pub fn connect(
    protocol: Protocol,
    exec: Result<ExecProcess, KubeletError>,
) -> (Client, tokio::task::JoinHandle<ExecOutcome>) {
    let (to_server, server_rx) = mpsc::unbounded();
    let (server_tx, from_server) = mpsc::unbounded();
    let session = tokio::spawn(serve_exec(protocol, exec, server_tx, server_rx));
    (Client { to_server, from_server, stdout: Vec::new(), stderr: Vec::new(), status: None }, session)
}

impl Client {
    pub fn send(&self, frame: ClientFrame) {
        self.to_server.unbounded_send(Ok(Message::Binary(frame.encode()))).unwrap();
    }

    pub fn stdin(&self, data: &str) {
        self.send(ClientFrame::Stdin(bytes::Bytes::copy_from_slice(data.as_bytes())));
    }

    /// Reads frames until stdout contains `needle` (or the server closes); true if it did.
    pub async fn wait_for_stdout(&mut self, needle: &str) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !String::from_utf8_lossy(&self.stdout).contains(needle) {
            match tokio::time::timeout_at(deadline, self.from_server.next()).await {
                Ok(Some(Message::Binary(frame))) => self.record(&frame),
                _ => return false,
            }
        }
        true
    }

    fn record(&mut self, frame: &[u8]) {
        match ServerFrame::decode(frame).expect("a server frame") {
            ServerFrame::Stdout(data) => self.stdout.extend_from_slice(&data),
            ServerFrame::Stderr(data) => self.stderr.extend_from_slice(&data),
            ServerFrame::Status(json) => {
                assert!(self.status.is_none(), "exactly one status frame");
                self.status = Some(ExecStatus::from_json(&json).expect("a Status"));
            }
        }
    }

    /// Reads until the server's close, answers it as kubectl does, and returns the transcript.
    pub async fn finish(mut self, session: tokio::task::JoinHandle<ExecOutcome>) -> Transcript {
        loop {
            match tokio::time::timeout(Duration::from_secs(20), self.from_server.next()).await.expect("server ended") {
                Some(Message::Binary(frame)) => self.record(&frame),
                Some(Message::Close) | None => break,
                Some(Message::Other) => {}
            }
        }
        let _ = self.to_server.unbounded_send(Ok(Message::Close));
        let outcome = session.await.unwrap();
        Transcript {
            stdout: String::from_utf8_lossy(&self.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&self.stderr).into_owned(),
            status: self.status,
            outcome,
        }
    }
}
