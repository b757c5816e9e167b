//! The etcd backend against a real etcd started per test: the conformance suite, then the
//! fan-out promise (one etcd watch per watched range, however many watchers).

mod conformance;
#[path = "support/etcd_server.rs"]
mod etcd_server;

use std::io::{Read, Write};
use std::time::Duration;

use etcd_server::EtcdServer;
use futures::StreamExt;
use store::{EtcdOptions, EtcdStore, KeyRange, Store, StoreExt, WatchRequest};

async fn connect(server: &EtcdServer, watch_capacity: usize) -> EtcdStore {
    let options = EtcdOptions { watch_capacity, ..EtcdOptions::default() };
    EtcdStore::connect(&[server.endpoint()], options).await.unwrap()
}

async fn open(watch_capacity: usize) -> conformance::Harness {
    let server = EtcdServer::start();
    let store = connect(&server, watch_capacity).await;
    conformance::Harness::new(store, server)
}

conformance::suite!(open);

/// etcd's own count of its watchers, from its Prometheus metrics.
fn etcd_watchers(server: &EtcdServer) -> u64 {
    let address = server.endpoint().trim_start_matches("http://").to_string();
    let mut connection = std::net::TcpStream::connect(&address).unwrap();
    write!(connection, "GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n").unwrap();
    let mut text = String::new();
    connection.read_to_string(&mut text).unwrap();
    let line = text
        .lines()
        .find(|line| line.starts_with("etcd_debugging_mvcc_watcher_total "))
        .unwrap_or_else(|| panic!("no watcher gauge in etcd's metrics"));
    line.rsplit(' ').next().unwrap().parse::<f64>().unwrap() as u64
}

async fn watchers_become(server: &EtcdServer, expected: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = etcd_watchers(server);
        if now == expected {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "etcd has {now} watchers, expected {expected}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_of_one_range_share_one_etcd_watch() {
    let server = EtcdServer::start();
    let store = connect(&server, 1024).await;
    let start = store.put("/pods/a", "1".into()).await.unwrap();
    let request = |key: &str, start_revision| WatchRequest {
        key: key.into(),
        range: KeyRange::Prefix,
        start_revision,
        prev_kv: false,
    };
    let mut pods = Vec::new();
    for i in 0..20 {
        // Half from now, half replaying the past: all on one feed.
        let start_revision = if i % 2 == 0 { 0 } else { start };
        pods.push(store.watch(request("/pods/", start_revision)).await.unwrap());
    }
    let mut secrets = store.watch(request("/secrets/", 0)).await.unwrap();
    watchers_become(&server, 2).await;
    let written = store.put("/pods/b", "2".into()).await.unwrap();
    store.put("/secrets/s", "x".into()).await.unwrap();
    for (i, stream) in pods.iter_mut().enumerate() {
        let mut keys = Vec::new();
        while keys.last().is_none_or(|(_, revision)| *revision < written) {
            let batch = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap().unwrap().unwrap();
            keys.extend(batch.into_iter().map(|event| (event.kv.key, event.kv.mod_revision)));
        }
        let expected: &[(&str, i64)] =
            if i % 2 == 0 { &[("/pods/b", written)] } else { &[("/pods/a", start), ("/pods/b", written)] };
        let keys: Vec<(&str, i64)> = keys.iter().map(|(key, revision)| (key.as_str(), *revision)).collect();
        assert_eq!(keys, expected, "watcher {i}");
    }
    let secret = tokio::time::timeout(Duration::from_secs(10), secrets.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(secret[0].kv.key, "/secrets/s");
    drop(pods);
    drop(secrets);
    // The feeds notice at their next event or idle check (10 s) and cancel their etcd watches.
    store.put("/pods/c", "3".into()).await.unwrap();
    store.put("/secrets/t", "3".into()).await.unwrap();
    watchers_become(&server, 0).await;
}

#[tokio::test]
async fn an_unreachable_etcd_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let options = EtcdOptions { connect_timeout: Duration::from_secs(1), ..EtcdOptions::default() };
    let err = EtcdStore::connect(&[format!("http://127.0.0.1:{port}")], options).await.err().expect("no etcd there");
    let message = err.to_string();
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
}
