//! The simulated workloads' hot paths, each beside a peer in the same run.
//!
//! - `deployment/1000_replicas_running`: a 1,000-replica Deployment, from its creation to
//!   1,000 pods Running (ReplicaSet controller, scheduler and bindings, kubelets starting
//!   sandboxes and writing statuses, events, ReplicaSet and Deployment statuses), on the
//!   embedded (fsynced) store `rampart serve` uses, 10 nodes of 110 pods. Peer:
//!   `peer/1000_pod_creates`: the same 1,000 pods created through the API server's `create`
//!   alone (64 in flight, as the ReplicaSet controller writes), no controller running — the
//!   floor the whole lifecycle is measured against.
//! - `exec/api_server`: `echo hi` through the real API server: a new TLS connection with a
//!   client certificate, the WebSocket upgrade to `v5.channel.k8s.io`, authentication,
//!   authorization, the pod read, the runtime, the frames back (what `kubectl exec` costs the
//!   server, kubectl itself excluded). Peers: `exec/runtime_alone` (the runtime and the channel
//!   driver over in-memory channels) and `peer/sh_c_echo` (the process spawned directly).

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use futures::{SinkExt, StreamExt};
use kube_api::storage::watch::HubSignal;
use kube_api::{ClusterConfig, ClusterHandle, ClusterServer, Ctx, Target};
use kubelet::channel::ServerFrame;
use kubelet::{ExecMode, ExecOptions, ExecPolicy, ExecStatus, Message, PodSummary, Protocol, Runtime, serve_exec};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use workloads::{NodeCapacity, NodePool, Workloads, WorkloadsConfig};

const REPLICAS: usize = 1000;

struct Env {
    handle: ClusterHandle,
    runtime: Arc<Runtime>,
    workloads: Option<Workloads>,
    _dir: tempfile::TempDir,
}

async fn start(nodes: usize, with_workloads: bool) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn store::Store> = Arc::new(store::EmbeddedStore::open(dir.path().join("store")).unwrap());
    let mut config = ClusterConfig::new("bench", "127.0.0.1:0".parse().unwrap(), store);
    config.watch_window = 50_000;
    let handle = ClusterServer::start(config).await.unwrap();
    let policy = ExecPolicy::decide(ExecMode::Auto, &[handle.addr()]);
    let runtime = Arc::new(Runtime::new(dir.path().join("pods"), policy));
    let workloads = if with_workloads {
        let pool =
            NodePool::new(nodes, NodeCapacity::parse("cpu=64,memory=256Gi,pods=110").unwrap(), "us-east-1").unwrap();
        let config = WorkloadsConfig { runtime: Arc::clone(&runtime), node_pool: pool };
        Some(workloads::install(handle.cluster(), config).await.unwrap())
    } else {
        None
    };
    Env { handle, runtime, workloads, _dir: dir }
}

impl Env {
    async fn stop(mut self) {
        if let Some(workloads) = self.workloads.take() {
            workloads.shutdown();
        }
        self.handle.shutdown().await;
    }
}

fn admin() -> Ctx {
    Ctx {
        user: rbac::UserInfo { name: "bench".into(), groups: vec!["system:masters".into()], ..Default::default() },
        ..Default::default()
    }
}

fn pod_template() -> Value {
    json!({"metadata": {"labels": {"app": "load"}}, "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}})
}

/// Creates the Deployment and waits until `REPLICAS` of its pods are Running.
async fn deployment_running(env: &Env) -> Duration {
    let cluster = env.handle.cluster();
    let mut subscription = cluster.objects().watch_hub().subscribe(None).unwrap();
    let deployments = cluster.objects().resource("apps", "v1", "deployments").unwrap();
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "load", "namespace": "default"},
        "spec": {"replicas": REPLICAS, "selector": {"matchLabels": {"app": "load"}}, "template": pod_template()}});
    let start = Instant::now();
    cluster.objects().create(&Target::collection(&deployments, "default"), deployment, &mut admin()).await.unwrap();
    let mut running = HashSet::new();
    while running.len() < REPLICAS {
        match tokio::time::timeout(Duration::from_secs(120), subscription.live.recv()).await {
            Ok(Ok(HubSignal::Event(event))) if event.key.contains("/core/pods/") && !event.deleted => {
                if let Some(pod) = event.object()
                    && pod.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
                {
                    running.insert(event.key.clone());
                }
            }
            Ok(Ok(_)) => {}
            other => panic!("the watch ended before {REPLICAS} pods ran ({} did): {:?}", running.len(), other.is_err()),
        }
    }
    start.elapsed()
}

/// Creates `REPLICAS` pods directly, 64 at a time.
async fn pods_created(env: &Env) -> Duration {
    let cluster = env.handle.cluster();
    let pods = cluster.objects().resource("", "v1", "pods").unwrap();
    let start = Instant::now();
    let results: Vec<_> = futures::stream::iter(0..REPLICAS)
        .map(|i| {
            let mut pod = pod_template();
            pod["apiVersion"] = "v1".into();
            pod["kind"] = "Pod".into();
            pod["metadata"]["name"] = format!("load-{i}").into();
            let (cluster, pods) = (Arc::clone(cluster), Arc::clone(&pods));
            async move { cluster.objects().create(&Target::collection(&pods, "default"), pod, &mut admin()).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    assert!(results.iter().all(Result::is_ok));
    start.elapsed()
}

fn deployment(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let mut group = c.benchmark_group("deployment");
    // One cluster per iteration and seconds each: ten samples of one iteration, not the
    // 55 iterations linear sampling would take.
    group.sample_size(10).sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(REPLICAS as u64));
    group.bench_function("1000_replicas_running", |b| {
        b.iter_custom(|iterations| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let env = start(10, true).await;
                    total += deployment_running(&env).await;
                    env.stop().await;
                }
                total
            })
        })
    });
    group.bench_function("peer/1000_pod_creates", |b| {
        b.iter_custom(|iterations| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let env = start(10, false).await;
                    total += pods_created(&env).await;
                    env.stop().await;
                }
                total
            })
        })
    });
    group.finish();
}

/// A TLS client of the cluster as `system:masters`.
fn tls_client(env: &Env) -> tokio_rustls::TlsConnector {
    let cluster = env.handle.cluster();
    let cert = cluster.issue_client_certificate("bench", Some("system:masters")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for ca in rustls_pemfile::certs(&mut cluster.ca_pem().as_bytes()) {
        roots.add(ca.unwrap()).unwrap();
    }
    let chain = rustls_pemfile::certs(&mut cert.cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>().unwrap();
    let key = rustls_pemfile::private_key(&mut cert.key_pem.as_bytes()).unwrap().unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

fn frames_to_result(frames: Vec<Vec<u8>>) -> (Vec<u8>, Option<ExecStatus>) {
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

/// `echo hi` in pod `box` through the API server.
async fn exec_api_server(
    connector: &tokio_rustls::TlsConnector,
    addr: std::net::SocketAddr,
) -> (Vec<u8>, Option<ExecStatus>) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    let url = format!(
        "wss://localhost:{}/api/v1/namespaces/default/pods/box/exec?command=echo&command=hi&stdout=true&stderr=true",
        addr.port()
    );
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", tungstenite::http::HeaderValue::from_static("v5.channel.k8s.io"));
    let (mut socket, _) = tokio_tungstenite::client_async(request, tls).await.unwrap();
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
    frames_to_result(frames)
}

/// `echo hi` through the runtime and the channel driver alone.
async fn exec_runtime(runtime: &Runtime, summary: &PodSummary) -> (Vec<u8>, Option<ExecStatus>) {
    let options =
        ExecOptions { command: vec!["echo".into(), "hi".into()], stdout: true, stderr: true, ..Default::default() };
    let (to_server, server_rx) = futures::channel::mpsc::unbounded::<Result<Message, Infallible>>();
    let (server_tx, mut from_server) = futures::channel::mpsc::unbounded();
    let exec = runtime.exec(&summary.pod, "app", &options);
    let session = tokio::spawn(serve_exec(Protocol::V5, exec, server_tx, server_rx));
    let mut frames = Vec::new();
    while let Some(Message::Binary(frame)) = from_server.next().await {
        let status = frame.first() == Some(&kubelet::channel::ERROR);
        frames.push(frame.to_vec());
        if status {
            break;
        }
    }
    let mut to_server = to_server;
    let _ = to_server.send(Ok(Message::Close)).await;
    drop(to_server);
    let _ = session.await;
    frames_to_result(frames)
}

fn exec(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (env, summary, connector) = rt.block_on(async {
        let env = start(1, true).await;
        let cluster = env.handle.cluster();
        let pods = cluster.objects().resource("", "v1", "pods").unwrap();
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "box", "namespace": "default"},
            "spec": {"containers": [{"name": "app", "image": "busybox"}]}});
        cluster.objects().create(&Target::collection(&pods, "default"), pod, &mut admin()).await.unwrap();
        let running = loop {
            let pod = cluster.objects().get(&Target::object(&pods, "default", "box")).await.unwrap();
            if pod.pointer("/status/phase").and_then(Value::as_str) == Some("Running") {
                break pod;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let summary = PodSummary::from_object("bench", &running).unwrap();
        let connector = tls_client(&env);
        (env, summary, connector)
    });
    let addr = env.handle.addr();
    let want = (b"hi\n".to_vec(), Some(ExecStatus::Success));
    assert_eq!(rt.block_on(exec_api_server(&connector, addr)), want, "exec through the API server works");
    assert_eq!(rt.block_on(exec_runtime(&env.runtime, &summary)), want, "exec through the runtime works");

    let mut group = c.benchmark_group("exec");
    group.bench_function("api_server", |b| b.iter(|| rt.block_on(exec_api_server(&connector, addr))));
    group.bench_function("runtime_alone", |b| b.iter(|| rt.block_on(exec_runtime(&env.runtime, &summary))));
    group.bench_function("peer/sh_c_echo", |b| {
        b.iter(|| {
            let out = rt.block_on(async { tokio::process::Command::new("sh").args(["-c", "echo hi"]).output().await });
            let out = out.unwrap();
            assert_eq!(out.stdout, b"hi\n");
            out
        })
    });
    group.finish();
    rt.block_on(env.stop());
}

criterion_group!(benches, exec, deployment);
criterion_main!(benches);
