//! The etcd backend against a real etcd started per test: the conformance suite, on one member
//! and on a three-member cluster; the fan-out promise (one etcd watch per watched range,
//! however many watchers); and the client policy under faults (a killed leader, lost quorum).

mod conformance;
#[path = "support/etcd_server.rs"]
mod etcd_server;

use std::time::Duration;

use etcd_server::{EtcdCluster, EtcdServer};
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

/// The same suite against a three-member cluster, through all three endpoints.
mod cluster {
    use super::*;

    async fn open(watch_capacity: usize) -> conformance::Harness {
        let cluster = EtcdCluster::start_members(3);
        let options = EtcdOptions { watch_capacity, ..EtcdOptions::default() };
        let store = EtcdStore::connect(&cluster.endpoints(), options).await.unwrap();
        conformance::Harness::new(store, cluster)
    }

    conformance::suite!(open);
}

/// etcd's own count of its watchers, from its Prometheus metrics.
fn etcd_watchers(server: &EtcdServer) -> u64 {
    server.metric(0, "etcd_debugging_mvcc_watcher_total").expect("etcd's watcher gauge") as u64
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

/// A writer through all three endpoints while the etcd leader is killed: every write it was
/// told succeeded is there afterwards, failures are only `Unavailable`, and the longest gap
/// between acknowledged writes stays short (election timeout 500 ms).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_write_is_lost_when_the_leader_is_killed() {
    let mut cluster = EtcdCluster::start_members(3);
    let store = EtcdStore::connect(&cluster.endpoints(), EtcdOptions::default()).await.unwrap();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            let (mut acknowledged, mut failed) = (Vec::new(), Vec::new());
            let (mut last, mut longest_gap) = (tokio::time::Instant::now(), Duration::ZERO);
            for i in 0..1500 {
                let key = format!("/chaos/{i:05}");
                match store.create(&key, format!("v{i}").into()).await {
                    Ok(Some(_)) => {
                        longest_gap = longest_gap.max(last.elapsed());
                        last = tokio::time::Instant::now();
                        acknowledged.push(key);
                    }
                    Ok(None) => panic!("{key} existed before it was written"),
                    Err(err) => failed.push(err),
                }
            }
            (acknowledged, failed, longest_gap)
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    let leader = cluster.leader().expect("a leader");
    cluster.kill(leader);
    let (acknowledged, failed, longest_gap) = writer.await.unwrap();
    for err in &failed {
        assert!(matches!(err, store::StoreError::Unavailable(_)), "{err}");
    }
    let stored = store.list("/chaos/").await.unwrap();
    let stored: std::collections::BTreeSet<&str> = stored.kvs.iter().map(|kv| kv.key.as_str()).collect();
    let lost: Vec<&String> = acknowledged.iter().filter(|key| !stored.contains(key.as_str())).collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    assert!(acknowledged.len() > 1000, "only {} of 1500 writes acknowledged ({failed:?})", acknowledged.len());
    assert!(longest_gap < Duration::from_secs(2), "longest gap between acknowledged writes {longest_gap:?}");
    println!(
        "leader killed: {} acknowledged, {} failed, longest gap {longest_gap:?}",
        acknowledged.len(),
        failed.len()
    );
}

/// Without quorum every call fails within the request timeout (plus a little), as
/// `Unavailable`, and works again once quorum is back, on the same client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_quorum_calls_fail_fast_and_recover() {
    let mut cluster = EtcdCluster::start_members(3);
    let options = EtcdOptions { request_timeout: Duration::from_secs(2), ..EtcdOptions::default() };
    let store = EtcdStore::connect(&cluster.endpoints(), options).await.unwrap();
    store.put("/q/before", "1".into()).await.unwrap();
    cluster.kill(1);
    cluster.kill(2);
    for attempt in 0..3 {
        let started = tokio::time::Instant::now();
        let write = store.put(&format!("/q/during-{attempt}"), "2".into()).await;
        let read = store.get("/q/before").await;
        let took = started.elapsed();
        assert!(matches!(write, Err(store::StoreError::Unavailable(_))), "{write:?}");
        assert!(matches!(read, Err(store::StoreError::Unavailable(_))), "{read:?}");
        assert!(took < Duration::from_secs(6), "two calls took {took:?}");
    }
    cluster.restart(1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match store.put("/q/after", "3".into()).await {
            Ok(_) => break,
            Err(err) => assert!(tokio::time::Instant::now() < deadline, "no recovery: {err}"),
        }
    }
    assert_eq!(store.get("/q/before").await.unwrap().unwrap().value, "1");
}
