//! The API server's hot paths against a named peer, side by side in one run:
//! - authenticated GET and LIST of pods over TLS keep-alive (client certificates, HTTP/1.1),
//!   requests/s and p50/p99, against a bare hyper + rustls server answering the same bytes with
//!   the same TLS configuration;
//! - cold start of a cluster to its first 200;
//! - resident memory with 100,000 ConfigMaps of 1 KiB, against the size of their data;
//! - watch fan-out: one write delivered to 1,000 watchers (time to the last one).
//!
//! `cargo bench -p kube-api --bench kube_api` (release); `-- --quick` for a short run, `-- requests`
//! (or `cold_start`, `fan_out`, `memory`) for one section. Results
//! go to `docs/benchmarks.md` (section "Kubernetes API").

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::{TokioExecutor, TokioIo};
use kube_api::{Cluster, ClusterConfig, ClusterHandle, ClusterServer, Ctx, Target};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::json;
use store::Store;
use tokio::net::{TcpListener, TcpStream};

struct Client {
    connector: tokio_rustls::TlsConnector,
}

impl Client {
    fn new(ca_pem: &str, cert: &tls::CertifiedKey) -> Client {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let certs: Vec<CertificateDer<'static>> =
            rustls_pemfile::certs(&mut cert.cert_pem.as_bytes()).map(Result::unwrap).collect();
        let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut cert.key_pem.as_bytes()).unwrap().unwrap();
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .unwrap();
        Client { connector: tokio_rustls::TlsConnector::from(Arc::new(config)) }
    }

    async fn connect(&self, addr: SocketAddr) -> http1::SendRequest<Full<Bytes>> {
        let tcp = TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let tls = self.connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
        let (sender, connection) = http1::handshake(TokioIo::new(tls)).await.unwrap();
        tokio::spawn(connection);
        sender
    }
}

async fn get(sender: &mut http1::SendRequest<Full<Bytes>>, path: &str) -> Bytes {
    sender.ready().await.unwrap();
    let request = http::Request::get(path)
        .header("host", "localhost")
        .header("accept", "application/json")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap().to_bytes()
}

/// `connections` keep-alive connections sending GETs for `duration`: (requests/s, p50, p99).
async fn load(
    client: &Arc<Client>,
    addr: SocketAddr,
    path: &str,
    connections: usize,
    duration: Duration,
) -> (f64, Duration, Duration) {
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let client = client.clone();
        let path = path.to_string();
        tasks.push(tokio::spawn(async move {
            let mut sender = client.connect(addr).await;
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let start = Instant::now();
                get(&mut sender, &path).await;
                latencies.push(start.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort();
    let rps = all.len() as f64 / duration.as_secs_f64();
    (rps, all[all.len() / 2], all[all.len() * 99 / 100])
}

/// The peer: hyper + rustls (the same TLS configuration) answering `body` to every request.
async fn bare_server(tls_config: Arc<rustls::ServerConfig>, body: Bytes) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls_config);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let body = body.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let service = hyper::service::service_fn(move |_request: http::Request<hyper::body::Incoming>| {
                    let body = body.clone();
                    async move {
                        let mut response = http::Response::new(Full::new(body));
                        response
                            .headers_mut()
                            .insert("content-type", http::HeaderValue::from_static("application/json"));
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    addr
}

fn pod(name: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]}})
}

async fn start(store: Arc<dyn Store>, name: &str) -> ClusterHandle {
    ClusterServer::start(ClusterConfig::new(name, "127.0.0.1:0".parse().unwrap(), store)).await.unwrap()
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 =
        status.lines().find(|l| l.starts_with("VmRSS:")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

async fn requests(quick: bool) {
    let handle = start(Arc::new(store::MemStore::new()), "bench").await;
    let cluster: Arc<Cluster> = handle.cluster().clone();
    let pods = cluster.objects().resource("", "v1", "pods").unwrap();
    for i in 0..10 {
        cluster
            .objects()
            .create(&Target::collection(&pods, "default"), pod(&format!("nginx-{i}")), &mut Ctx::system("bench"))
            .await
            .unwrap();
    }
    let cert = cluster.issue_client_certificate("kubernetes-admin", Some("system:masters")).unwrap();
    let client = Arc::new(Client::new(cluster.ca_pem(), &cert));
    let duration = if quick { Duration::from_secs(2) } else { Duration::from_secs(8) };
    let connections = 8;
    println!(
        "\n## GET and LIST of pods over TLS keep-alive ({connections} connections, {}s each)\n",
        duration.as_secs()
    );
    println!("| request | server | requests/s | p50 | p99 | ratio (req/s) |");
    println!("|---|---|---|---|---|---|");
    for (label, path) in
        [("GET pod", "/api/v1/namespaces/default/pods/nginx-0"), ("LIST 10 pods", "/api/v1/namespaces/default/pods")]
    {
        let mut sender = client.connect(handle.addr()).await;
        let body = get(&mut sender, path).await;
        let peer_tls = tls::server_config(&handle_serving(&cluster), Some(cluster.ca_pem())).unwrap();
        let peer = bare_server(peer_tls, body).await;
        // Warm both up, then measure each.
        load(&client, handle.addr(), path, connections, Duration::from_millis(300)).await;
        load(&client, peer, path, connections, Duration::from_millis(300)).await;
        let (r_rps, r50, r99) = load(&client, handle.addr(), path, connections, duration).await;
        let (p_rps, p50, p99) = load(&client, peer, path, connections, duration).await;
        println!("| {label} | Rampart | {r_rps:.0} | {} | {} | {:.0} % |", ms(r50), ms(r99), 100.0 * r_rps / p_rps);
        println!("| {label} | bare hyper+rustls | {p_rps:.0} | {} | {} | 100 % |", ms(p50), ms(p99));
    }
    handle.shutdown().await;
}

/// A serving certificate for the peer from the cluster's CA, so one client trusts both.
fn handle_serving(cluster: &Cluster) -> tls::CertifiedKey {
    cluster.issue_serving_certificate(&["localhost".to_string(), "127.0.0.1".to_string()]).unwrap()
}

async fn cold_start(quick: bool) {
    let runs = if quick { 3 } else { 10 };
    let mut times = Vec::new();
    for i in 0..runs {
        let store: Arc<dyn Store> = Arc::new(store::MemStore::new());
        let began = Instant::now();
        let handle = start(store, &format!("cold{i}")).await;
        let cert = handle.cluster().issue_client_certificate("kubernetes-admin", Some("system:masters")).unwrap();
        let client = Client::new(handle.cluster().ca_pem(), &cert);
        let mut sender = client.connect(handle.addr()).await;
        get(&mut sender, "/readyz").await;
        times.push(began.elapsed());
        handle.shutdown().await;
    }
    times.sort();
    println!("\n## Cold start of a new cluster to its first 200 (in process, {runs} runs)\n");
    println!("median {}, max {}", ms(times[times.len() / 2]), ms(times[times.len() - 1]));
}

async fn memory(quick: bool) {
    let count = if quick { 10_000 } else { 100_000 };
    let store: Arc<dyn Store> = Arc::new(store::MemStore::new());
    let handle = start(store, "memory").await;
    let cluster = handle.cluster().clone();
    let cms = cluster.objects().resource("", "v1", "configmaps").unwrap();
    let value = "x".repeat(1024);
    let before = rss_bytes();
    let mut ctx = Ctx::system("bench");
    for i in 0..count {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i:06}")}, "data": {"v": value}});
        cluster.objects().create(&Target::collection(&cms, "default"), cm, &mut ctx).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_bytes();
    let data = (count * 1024) as f64;
    let grown = after.saturating_sub(before) as f64;
    println!("\n## Resident memory with {count} ConfigMaps of 1 KiB (MemStore)\n");
    println!("data {:.1} MiB, RSS grew {:.1} MiB: {:.2} x the data", data / 1048576.0, grown / 1048576.0, grown / data);
    handle.shutdown().await;
}

async fn fan_out(quick: bool) {
    let watchers = if quick { 200 } else { 1000 };
    let handle = start(Arc::new(store::MemStore::new()), "fanout").await;
    let cluster = handle.cluster().clone();
    let cert = cluster.issue_client_certificate("kubernetes-admin", Some("system:masters")).unwrap();
    let client = Arc::new(Client::new(cluster.ca_pem(), &cert));
    let cms = cluster.objects().resource("", "v1", "configmaps").unwrap();
    let rv = cluster
        .objects()
        .list(&Target::collection(&cms, "default"), &Default::default())
        .await
        .unwrap()
        .resource_version;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let mut tasks = Vec::new();
    for _ in 0..watchers {
        let client = client.clone();
        let tx = tx.clone();
        let addr = handle.addr();
        tasks.push(tokio::spawn(async move {
            let mut sender = client.connect(addr).await;
            sender.ready().await.unwrap();
            let request =
                http::Request::get(format!("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}"))
                    .header("host", "localhost")
                    .body(Full::new(Bytes::new()))
                    .unwrap();
            let mut body = sender.send_request(request).await.unwrap().into_body();
            while let Some(frame) = body.frame().await {
                // The write's event (not a change some controller made after the list).
                if frame.unwrap().data_ref().is_some_and(|d| d.windows(9).any(|w| w == b"\"fan-out\"")) {
                    let _ = tx.send(Instant::now());
                    return;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let start = Instant::now();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fan-out"}, "data": {"k": "v"}});
    cluster.objects().create(&Target::collection(&cms, "default"), cm, &mut Ctx::system("bench")).await.unwrap();
    let mut arrivals = Vec::new();
    while arrivals.len() < watchers {
        let at = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.unwrap().unwrap();
        arrivals.push(at.duration_since(start));
    }
    arrivals.sort();
    println!("\n## Watch fan-out: one write to {watchers} watchers over TLS\n");
    println!(
        "first {}, median {}, p99 {}, last {}",
        ms(arrivals[0]),
        ms(arrivals[watchers / 2]),
        ms(arrivals[watchers * 99 / 100]),
        ms(arrivals[watchers - 1])
    );
    for task in tasks {
        task.abort();
    }
    handle.shutdown().await;
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // `-- requests` (or cold_start, fan_out, memory) runs only the sections named.
    let named: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let run = |section: &str| named.is_empty() || named.iter().any(|n| n == section);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        if run("requests") {
            requests(quick).await;
        }
        if run("cold_start") {
            cold_start(quick).await;
        }
        if run("fan_out") {
            fan_out(quick).await;
        }
        if run("memory") {
            memory(quick).await;
        }
    });
}
