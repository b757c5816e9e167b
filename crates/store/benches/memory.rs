//! Resident memory and load/restart times with 100,000 values of 1 KiB (issue 5 §10: the
//! server must hold 100,000 ConfigMaps of 1 KiB in at most 2.5 × the data), the embedded store
//! side by side with etcd's own process holding the same data.
//!
//! Each embedded measurement runs in a fresh child process (this binary, re-executed), so the
//! resident set is the store's and not the harness's: `load` writes everything (16 concurrent
//! writers, one object per transaction, as an API server does) then compacts as the automatic
//! compactor would; `reopen` opens the directory again, as a restart does.
//!
//! `cargo bench -p store --bench memory`

#[path = "../tests/support/etcd_server.rs"]
mod etcd_server;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use store::{EmbeddedOptions, EmbeddedStore, EtcdOptions, EtcdStore, Store, StoreExt};

const OBJECTS: usize = 100_000;
const VALUE_SIZE: usize = 1024;
const WRITERS: usize = 16;
const CHILD: &str = "STORE_MEMORY_BENCH_CHILD";
const DIR: &str = "STORE_MEMORY_BENCH_DIR";

fn key(i: usize) -> String {
    format!("/clusters/rampart/registry/core/configmaps/default/cm-{i:06}")
}

fn value(i: usize) -> Bytes {
    let mut bytes =
        format!("{{\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"cm-{i:06}\"}},\"data\":{{\"pad\":\"").into_bytes();
    bytes.resize(VALUE_SIZE - 3, b'x');
    bytes.extend_from_slice(b"\"}}");
    Bytes::from(bytes)
}

/// A field of `/proc/<pid>/status` in MiB.
fn status_mib(pid: &str, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with(field)).unwrap();
    let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib / 1024.0
}

fn data_mib() -> f64 {
    (OBJECTS * VALUE_SIZE) as f64 / (1024.0 * 1024.0)
}

/// Write every object with `WRITERS` concurrent writers; returns objects per second.
async fn load(store: Arc<dyn Store>) -> f64 {
    let start = Instant::now();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in (w..OBJECTS).step_by(WRITERS) {
                    store.create(&key(i), value(i)).await.unwrap().expect("a new key");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    OBJECTS as f64 / start.elapsed().as_secs_f64()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn main() {
    match std::env::var(CHILD).as_deref() {
        Ok("load") => return child_load(),
        Ok("reopen") => return child_reopen(),
        _ => {}
    }
    if std::env::args().any(|arg| arg == "--list") {
        return; // `cargo bench -- --list` asks what is here
    }
    let dir = tempfile::tempdir().unwrap();
    println!("store memory: {OBJECTS} values of {VALUE_SIZE} B = {:.1} MiB of data", data_mib());
    run_child("load", dir.path());
    run_child("reopen", dir.path());
    etcd();
}

fn run_child(role: &str, dir: &Path) {
    let output = Command::new(std::env::current_exe().unwrap()).env(CHILD, role).env(DIR, dir).output().unwrap();
    assert!(output.status.success(), "{role}: {}", String::from_utf8_lossy(&output.stderr));
    print!("{}", String::from_utf8_lossy(&output.stdout));
}

fn report(what: &str, rss_mib: f64) {
    println!("  {what:<58} RSS {rss_mib:>7.1} MiB = {:.2} × data", rss_mib / data_mib());
}

fn child_load() {
    let dir = std::env::var(DIR).unwrap();
    runtime().block_on(async {
        let before = status_mib("self", "VmRSS:");
        let store =
            EmbeddedStore::open_with(&dir, EmbeddedOptions { compaction: None, ..EmbeddedOptions::default() }).unwrap();
        let rate = load(Arc::new(store.clone())).await;
        println!("  embedded: load at {rate:.0} objects/s (process RSS before opening {before:.1} MiB)");
        report("embedded, after the load (whole history kept)", status_mib("self", "VmRSS:"));
        store.compact(store.current_revision().await.unwrap()).await.unwrap();
        report("embedded, after compaction", status_mib("self", "VmRSS:"));
        report("embedded, peak (VmHWM)", status_mib("self", "VmHWM:"));
    });
}

fn child_reopen() {
    let dir = std::env::var(DIR).unwrap();
    runtime().block_on(async {
        let start = Instant::now();
        let store = EmbeddedStore::open(&dir).unwrap();
        let opened = start.elapsed();
        assert_eq!(store.list("/clusters/").await.unwrap().count, OBJECTS);
        println!("  embedded: reopen (restart) in {:.0} ms", opened.as_secs_f64() * 1000.0);
        report("embedded, after a restart", status_mib("self", "VmRSS:"));
        report("embedded, peak during the restart (VmHWM)", status_mib("self", "VmHWM:"));
    });
}

fn etcd() {
    let server = etcd_server::EtcdServer::start();
    let pid = server.pid().to_string();
    runtime().block_on(async {
        let store = EtcdStore::connect(&[server.endpoint()], EtcdOptions::default()).await.unwrap();
        let rate = load(Arc::new(store.clone())).await;
        println!("  etcd 3.4: load at {rate:.0} objects/s");
        report("etcd process, after the load (whole history kept)", status_mib(&pid, "VmRSS:"));
        store.compact(store.current_revision().await.unwrap()).await.unwrap();
        report("etcd process, after compaction", status_mib(&pid, "VmRSS:"));
        report("etcd process, peak (VmHWM)", status_mib(&pid, "VmHWM:"));
    });
}
