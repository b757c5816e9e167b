//! Creates through the shipped `rampart serve` (TLS, JSON, authentication, admission, the
//! embedded store's `fdatasync`, the response), side by side in one run with the disk's floor
//! and with etcd, interleaved round by round so every variant sees the same disk and machine:
//!
//! - `sequential`: one keep-alive HTTP/1.1 connection with the admin kubeconfig's client
//!   certificate, one `POST …/configmaps` (1 KiB of data) at a time; beside it one append of
//!   1.2 KB + `fdatasync` to a file in the server's data directory (the floor), and one etcd
//!   `Put` of the same bytes over its gRPC API (HTTP/2 on loopback, no TLS) to Debian's etcd 3.4
//!   started on the same disk;
//! - `concurrent`: 32 creates at once on 32 connections, the time until all 32 are answered;
//!   beside it the floor for 32 writes (32 records appended at once, one `fdatasync`: what a
//!   group commit can at best do) and 32 etcd puts at once (32 streams of one connection);
//! - `memory`: 100,000 ConfigMaps of 1 KiB created by 16 concurrent connections into a fresh
//!   server; its resident set (VmRSS) against the data, right after and after a restart, and
//!   the restart's time to ready.
//!
//! `cargo bench --bench api_writes [-- sequential|concurrent|memory] [-- rounds=N]`
//! (no section named: sequential and concurrent). Needs `etcd` (Debian: etcd-server).

#[path = "../crates/store/tests/support/etcd_server.rs"]
mod etcd_server;

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;

const DATA_SIZE: usize = 1024;
const CONCURRENT: usize = 32;
const MEMORY_OBJECTS: usize = 100_000;
const MEMORY_WRITERS: usize = 16;

/// A `rampart serve` on free loopback ports, killed on drop.
struct Server {
    child: Child,
    data_dir: PathBuf,
}

impl Server {
    fn start(data_dir: &Path) -> (Self, Duration) {
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_rampart"))
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--aws-listen", "127.0.0.1:0", "--kube-listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting rampart serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let line = lines.next().expect("rampart serve exited before it was ready").unwrap();
            if line.starts_with("Rampart is ready.") {
                break;
            }
        }
        let ready = started.elapsed();
        std::thread::spawn(move || lines.for_each(drop));
        (Server { child, data_dir: data_dir.to_path_buf() }, ready)
    }

    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<f64>().unwrap() / 1024.0
    }

    /// SIGTERM, and wait for the exit.
    fn stop(mut self) {
        Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        self.child.wait().unwrap();
    }

    /// The API server's address and a TLS client with the admin's client certificate.
    fn admin(&self) -> Admin {
        let text = std::fs::read_to_string(self.data_dir.join("admin.kubeconfig")).unwrap();
        let field = |name: &str| {
            text.lines()
                .find_map(|line| line.trim().strip_prefix(&format!("{name}: ")).map(str::to_string))
                .unwrap_or_else(|| panic!("{name} in admin.kubeconfig"))
        };
        let pem = |name: &str| base64::engine::general_purpose::STANDARD.decode(field(name)).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut &pem("certificate-authority-data")[..]) {
            roots.add(cert.unwrap()).unwrap();
        }
        let chain = rustls_pemfile::certs(&mut &pem("client-certificate-data")[..]).map(Result::unwrap).collect();
        let key = rustls_pemfile::private_key(&mut &pem("client-key-data")[..]).unwrap().unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap();
        let address = field("server").trim_start_matches("https://").to_string();
        Admin { address, tls: tokio_rustls::TlsConnector::from(Arc::new(config)) }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
struct Admin {
    address: String,
    tls: tokio_rustls::TlsConnector,
}

/// One keep-alive HTTP/1.1 connection to the API server.
struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
    authority: String,
}

impl Admin {
    async fn connect(&self) -> Connection {
        let tcp = TcpStream::connect(&self.address).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let tls = self.tls.connect(name, tcp).await.unwrap();
        let (sender, connection) = http1::handshake(TokioIo::new(tls)).await.unwrap();
        tokio::spawn(connection);
        Connection { sender, authority: self.address.clone() }
    }
}

fn configmap(name: &str) -> Bytes {
    let pad = "x".repeat(DATA_SIZE);
    Bytes::from(format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"default"}},"data":{{"pad":"{pad}"}}}}"#
    ))
}

impl Connection {
    /// Create ConfigMap `name` in `default`; panics unless it is 201 Created.
    async fn create(&mut self, name: &str) {
        let request = http::Request::post(format!("https://{}/api/v1/namespaces/default/configmaps", self.authority))
            .header(http::header::HOST, &self.authority)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(configmap(name)))
            .unwrap();
        let response = self.sender.send_request(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(status, 201, "create {name}: {}", String::from_utf8_lossy(&body));
    }
}

/// etcd's gRPC `KV/Put` over one HTTP/2 connection, without a gRPC library: the request is
/// two length-delimited protobuf fields (key = 1, value = 2).
#[derive(Clone)]
struct Etcd {
    sender: http2::SendRequest<Full<Bytes>>,
    authority: String,
}

impl Etcd {
    async fn connect(endpoint: &str) -> Self {
        let authority = endpoint.trim_start_matches("http://").to_string();
        let tcp = TcpStream::connect(&authority).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await.unwrap();
        tokio::spawn(connection);
        Etcd { sender, authority }
    }

    async fn put(&mut self, key: &str, value: &[u8]) {
        let mut message = Vec::with_capacity(key.len() + value.len() + 16);
        for (tag, field) in [(0x0a, key.as_bytes()), (0x12, value)] {
            message.push(tag);
            let mut len = field.len();
            while len >= 0x80 {
                message.push((len as u8) | 0x80);
                len >>= 7;
            }
            message.push(len as u8);
            message.extend_from_slice(field);
        }
        let mut frame = vec![0];
        frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
        frame.extend_from_slice(&message);
        let request = http::Request::post(format!("http://{}/etcdserverpb.KV/Put", self.authority))
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .header(http::header::TE, "trailers")
            .body(Full::new(Bytes::from(frame)))
            .unwrap();
        let response = self.sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let collected = response.into_body().collect().await.unwrap();
        let status = collected.trailers().and_then(|trailers| trailers.get("grpc-status")).cloned();
        assert_eq!(status.as_ref().map(|s| s.as_bytes()), Some(&b"0"[..]), "etcd put {key}");
    }
}

/// Append `records` records of the size a create's log record has, then `fdatasync`.
fn floor(file: &mut std::fs::File, records: usize) {
    let record = vec![b'r'; 1200 * records];
    file.write_all(&record).unwrap();
    file.sync_data().unwrap();
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn report(title: &str, names: &[&str], samples: &mut [Vec<Duration>], per: usize) {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{title} ({} rounds, load average {})",
        samples[0].len(),
        load.split(' ').take(3).collect::<Vec<_>>().join(" ")
    );
    let medians: Vec<Duration> = samples
        .iter_mut()
        .map(|sample| {
            sample.sort();
            sample[sample.len() / 2]
        })
        .collect();
    for ((name, sample), median) in names.iter().zip(samples.iter()).zip(&medians) {
        let p90 = sample[sample.len() * 9 / 10];
        let rate = per as f64 / median.as_secs_f64();
        println!(
            "  {name:<34} median {:>7.3} ms  p90 {:>7.3} ms  {:>7.0} writes/s  {:>5.2}x the floor",
            ms(*median),
            ms(p90),
            rate,
            median.as_secs_f64() / medians[0].as_secs_f64()
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|arg| !arg.starts_with("--")).collect();
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let rounds = args.iter().find_map(|arg| arg.strip_prefix("rounds=")?.parse().ok()).unwrap_or(300);
    let sections: Vec<&str> = args.iter().map(String::as_str).filter(|arg| !arg.contains('=')).collect();
    let wants = |name: &str| sections.contains(&name) || (sections.is_empty() && name != "memory");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    if wants("sequential") || wants("concurrent") {
        runtime.block_on(latency(rounds, wants("sequential"), wants("concurrent")));
    }
    if wants("memory") {
        runtime.block_on(memory());
    }
}

async fn latency(rounds: usize, sequential: bool, concurrent: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = Server::start(&dir.path().join("data"));
    let admin = server.admin();
    let etcd_server = etcd_server::EtcdServer::start();
    let mut etcd = Etcd::connect(&etcd_server.endpoint()).await;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(dir.path().join("data/floor")).unwrap();
    let value = configmap("etcd-value");
    let warm_up = rounds / 10;

    if sequential {
        let mut connection = admin.connect().await;
        let mut samples = vec![Vec::new(), Vec::new(), Vec::new()];
        for n in 0..rounds + warm_up {
            let start = Instant::now();
            floor(&mut file, 1);
            let floor_time = start.elapsed();
            let start = Instant::now();
            connection.create(&format!("seq-{n}")).await;
            let create_time = start.elapsed();
            let start = Instant::now();
            etcd.put(&format!("/registry/configmaps/default/seq-{n}"), &value).await;
            let etcd_time = start.elapsed();
            if n >= warm_up {
                for (sample, time) in samples.iter_mut().zip([floor_time, create_time, etcd_time]) {
                    sample.push(time);
                }
            }
        }
        let names = ["floor: append + fdatasync", "rampart: create (HTTPS, JSON)", "etcd 3.4: put (gRPC)"];
        report("sequential, one at a time", &names, &mut samples, 1);
    }

    if concurrent {
        let mut connections = Vec::new();
        for _ in 0..CONCURRENT {
            connections.push(admin.connect().await);
        }
        let rounds = rounds / 4;
        let mut samples = vec![Vec::new(), Vec::new(), Vec::new()];
        for n in 0..rounds + warm_up / 4 {
            let start = Instant::now();
            floor(&mut file, CONCURRENT);
            let floor_time = start.elapsed();
            let start = Instant::now();
            let creates = connections.iter_mut().enumerate().map(|(c, connection)| async move {
                connection.create(&format!("par-{n}-{c}")).await;
            });
            futures::future::join_all(creates).await;
            let create_time = start.elapsed();
            let start = Instant::now();
            let puts = (0..CONCURRENT).map(|c| {
                let mut etcd = etcd.clone();
                let value = value.clone();
                async move { etcd.put(&format!("/registry/configmaps/default/par-{n}-{c}"), &value).await }
            });
            futures::future::join_all(puts).await;
            let etcd_time = start.elapsed();
            if n >= warm_up / 4 {
                for (sample, time) in samples.iter_mut().zip([floor_time, create_time, etcd_time]) {
                    sample.push(time);
                }
            }
        }
        let names = ["floor: 32 records + one fdatasync", "rampart: 32 creates at once", "etcd 3.4: 32 puts at once"];
        report("concurrent, 32 at once (time until all 32 are answered)", &names, &mut samples, CONCURRENT);
    }
    server.stop();
}

async fn memory() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let data_mib = (MEMORY_OBJECTS * DATA_SIZE) as f64 / (1024.0 * 1024.0);
    let (server, ready) = Server::start(&data_dir);
    let empty = server.rss_mib();
    println!("memory: {MEMORY_OBJECTS} ConfigMaps of {DATA_SIZE} B of data = {data_mib:.1} MiB");
    println!("  empty server: RSS {empty:.1} MiB, ready in {:.0} ms", ms(ready));
    let admin = server.admin();
    let start = Instant::now();
    let writers: Vec<_> = (0..MEMORY_WRITERS)
        .map(|w| {
            let admin = admin.clone();
            tokio::spawn(async move {
                let mut connection = admin.connect().await;
                for i in (w..MEMORY_OBJECTS).step_by(MEMORY_WRITERS) {
                    connection.create(&format!("cm-{i:06}")).await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let rate = MEMORY_OBJECTS as f64 / start.elapsed().as_secs_f64();
    let after = server.rss_mib();
    println!(
        "  after creating them ({MEMORY_WRITERS} writers, {rate:.0} creates/s): RSS {after:.1} MiB = {:.2}x the data \
         ({:.2}x above the empty server's)",
        after / data_mib,
        (after - empty) / data_mib
    );
    server.stop();
    let (server, ready) = Server::start(&data_dir);
    let restarted = server.rss_mib();
    println!(
        "  after a restart (ready in {:.0} ms): RSS {restarted:.1} MiB = {:.2}x the data ({:.2}x above the empty server's)",
        ms(ready),
        restarted / data_mib,
        (restarted - empty) / data_mib
    );
    server.stop();
}
