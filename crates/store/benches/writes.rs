//! One durable write, side by side with the disk's floor, interleaved in one run so that every
//! variant sees the same disk and the same machine (fsync latency on a shared VM drifts over
//! seconds): round after round, one operation of each variant in turn, then the medians.
//!
//! - `floor`: append one record of the size the store writes for a 1 KiB put to a file in the
//!   same directory, then `fdatasync` — the least any durable write costs;
//! - `redb commit`: what store format 1 did per commit: a redb write transaction inserting the
//!   history row and the revision, committed with `Durability::Immediate`;
//! - `embedded put` and `embedded cas`: `EmbeddedStore` (the log), one writer: a put, and the
//!   compare-and-swap update behind every Kubernetes update;
//! - `etcd put` and `etcd cas`: the same on Debian's etcd 3.4 started on the same disk (fsync on),
//!   through `EtcdStore` (gRPC on loopback).
//!
//! `cargo bench -p store --bench writes [-- ROUNDS]`

#[path = "../tests/support/etcd_server.rs"]
mod etcd_server;

use std::fs::OpenOptions;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use redb::{Database, Durability, ReadableDatabase as _, ReadableTableMetadata as _, TableDefinition};
use store::{EmbeddedOptions, EmbeddedStore, EtcdOptions, EtcdStore, Store, StoreExt};

const VALUE_SIZE: usize = 1024;
/// A log record of one 1 KiB put under a 60-byte key: framing, batch and change headers.
const RECORD_SIZE: usize = 8 + 1 + 4 + 8 + 4 + 1 + 4 + 60 + 8 + 8 + 4 + VALUE_SIZE;

fn value(seed: usize) -> Bytes {
    let mut bytes = format!("{{\"kind\":\"ConfigMap\",\"data\":{{\"n\":\"{seed}\",\"pad\":\"").into_bytes();
    bytes.resize(VALUE_SIZE - 3, b'x');
    bytes.extend_from_slice(b"\"}}");
    Bytes::from(bytes)
}

fn key(what: &str, n: usize) -> String {
    format!("/clusters/rampart/registry/core/configmaps/default/{what}-{n:08}")
}

const HISTORY: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("history");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let rounds: usize = std::env::args().skip(1).find_map(|arg| arg.parse().ok()).unwrap_or(400);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut floor = OpenOptions::new().create(true).append(true).open(dir.path().join("floor")).unwrap();
    let record = vec![b'r'; RECORD_SIZE];
    let redb = Database::create(dir.path().join("format-1.redb")).unwrap();
    let embedded = EmbeddedStore::open_with(
        dir.path().join("store"),
        EmbeddedOptions { compaction: None, ..EmbeddedOptions::default() },
    )
    .unwrap();
    let server = etcd_server::EtcdServer::start();
    let etcd = runtime.block_on(EtcdStore::connect(&[server.endpoint()], EtcdOptions::default())).unwrap();
    let stores: [(&str, Arc<dyn Store>); 2] = [("embedded", Arc::new(embedded)), ("etcd", Arc::new(etcd))];
    let mut cas_revision = [0; 2];
    for (i, (_, store)) in stores.iter().enumerate() {
        cas_revision[i] = runtime.block_on(store.put(&key("cas", 0), value(0))).unwrap();
    }

    let names = ["floor", "redb commit", "embedded put", "embedded cas", "etcd put", "etcd cas"];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); names.len()];
    for n in 0..rounds + rounds / 10 {
        let mut times = Vec::with_capacity(names.len());
        let start = Instant::now();
        floor.write_all(&record).unwrap();
        floor.sync_data().unwrap();
        times.push(start.elapsed());

        let start = Instant::now();
        let mut write = redb.begin_write().unwrap();
        write.set_durability(Durability::Immediate).unwrap();
        {
            let mut history = write.open_table(HISTORY).unwrap();
            history.insert((n as u64, key("put", n).as_str()), value(n).as_ref()).unwrap();
            write.open_table(META).unwrap().insert("revision", n as u64).unwrap();
        }
        write.commit().unwrap();
        times.push(start.elapsed());

        for (i, (_, store)) in stores.iter().enumerate() {
            let start = Instant::now();
            runtime.block_on(store.put(&key("put", n), value(n))).unwrap();
            times.push(start.elapsed());
            let start = Instant::now();
            let updated = runtime.block_on(store.update(&key("cas", 0), value(n), cas_revision[i])).unwrap();
            times.push(start.elapsed());
            cas_revision[i] = updated.expect("the compare holds");
        }
        if n >= rounds / 10 {
            // The first tenth warms up.
            for (sample, time) in samples.iter_mut().zip(times) {
                sample.push(time);
            }
        }
    }
    // The rows are read back: the writes really happened.
    assert_eq!(redb.begin_read().unwrap().open_table(HISTORY).unwrap().len().unwrap() as usize, rounds + rounds / 10);

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("writes: {rounds} interleaved rounds, 1 KiB values, load average {}", load.trim());
    let median = |sample: &mut Vec<Duration>| {
        sample.sort();
        (sample[sample.len() / 2], sample[sample.len() * 9 / 10])
    };
    let (floor_median, _) = median(&mut samples[0].clone());
    for (name, sample) in names.iter().zip(samples.iter_mut()) {
        let (p50, p90) = median(sample);
        println!(
            "  {name:<14} median {:>8.3} ms  p90 {:>8.3} ms  {:>5.2}x the floor",
            p50.as_secs_f64() * 1e3,
            p90.as_secs_f64() * 1e3,
            p50.as_secs_f64() / floor_median.as_secs_f64()
        );
    }
}
