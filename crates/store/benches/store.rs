//! The store's hot paths, the embedded backend side by side with a real etcd (Debian's 3.4,
//! started by the benchmark, fsync on, on the same disk) in one run:
//! put (one writer; 32 concurrent writers), get, range (a 500-key prefix, whole and a 100-key
//! page), txn (the compare-and-swap update behind every Kubernetes update), and watch fan-out
//! (one write reaching 1,000 watchers of the same prefix).
//!
//! `cargo bench -p store --bench store`

#[path = "../tests/support/etcd_server.rs"]
mod etcd_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use futures::StreamExt;
use store::{
    Compare, CompareOp, EmbeddedOptions, EmbeddedStore, EtcdOptions, EtcdStore, KeyRange, Op, RangeRequest, Store,
    StoreExt, Txn, WatchRequest,
};
use tokio::runtime::Runtime;

const VALUE_SIZE: usize = 1024;
const RANGE_KEYS: usize = 500;
const WATCHERS: usize = 1000;
const CONCURRENT_WRITERS: usize = 32;

fn value(seed: usize) -> Bytes {
    let text = format!("{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"data\":{{\"n\":\"{seed}\",\"pad\":\"");
    let mut bytes = text.into_bytes();
    bytes.resize(VALUE_SIZE - 4, b'x');
    bytes.extend_from_slice(b"\"}}\n");
    Bytes::from(bytes)
}

struct Backend {
    name: &'static str,
    store: Arc<dyn Store>,
    _guard: Box<dyn std::any::Any>,
}

fn backends(runtime: &Runtime) -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions { compaction: None, ..EmbeddedOptions::default() };
    let embedded = EmbeddedStore::open_with(dir.path(), options).unwrap();
    let server = etcd_server::EtcdServer::start();
    let etcd = runtime.block_on(EtcdStore::connect(&[server.endpoint()], EtcdOptions::default())).unwrap();
    vec![
        Backend { name: "embedded", store: Arc::new(embedded), _guard: Box::new(dir) },
        Backend { name: "etcd", store: Arc::new(etcd), _guard: Box::new(server) },
    ]
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let backends = backends(&runtime);
    for backend in &backends {
        runtime.block_on(async {
            for i in 0..RANGE_KEYS {
                backend.store.put(&format!("/bench/range/cm-{i:05}"), value(i)).await.unwrap();
            }
            backend.store.put("/bench/get", value(0)).await.unwrap();
            backend.store.put("/bench/cas", value(0)).await.unwrap();
        });
    }

    let mut group = c.benchmark_group("store");
    group.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    // Each operation on both backends back to back, so both see the same machine (fsync
    // latency on a shared disk drifts over minutes).
    let mut n = 0usize;
    for backend in &backends {
        let store = &backend.store;
        group.bench_function(BenchmarkId::new("put", backend.name), |b| {
            b.iter(|| {
                n += 1;
                runtime.block_on(store.put(&format!("/bench/put/{n}"), value(n))).unwrap()
            })
        });
    }
    for backend in &backends {
        let store = &backend.store;
        group.bench_function(BenchmarkId::new("put_32_concurrent", backend.name), |b| {
            b.iter(|| {
                n += 1;
                runtime.block_on(async {
                    let writes = (0..CONCURRENT_WRITERS).map(|w| {
                        let store = store.clone();
                        let key = format!("/bench/concurrent/{n}/{w}");
                        tokio::spawn(async move { store.put(&key, value(w)).await.unwrap() })
                    });
                    futures::future::join_all(writes).await
                })
            })
        });
    }
    for backend in &backends {
        let store = &backend.store;
        group.bench_function(BenchmarkId::new("get", backend.name), |b| {
            b.iter(|| runtime.block_on(store.get("/bench/get")).unwrap())
        });
    }
    for backend in &backends {
        let store = &backend.store;
        group.bench_function(BenchmarkId::new("range_500", backend.name), |b| {
            b.iter(|| runtime.block_on(store.range(RangeRequest::prefix("/bench/range/"))).unwrap())
        });
    }
    for backend in &backends {
        let store = &backend.store;
        group.bench_function(BenchmarkId::new("range_page_100", backend.name), |b| {
            let page = RangeRequest { limit: 100, ..RangeRequest::prefix("/bench/range/") };
            b.iter(|| runtime.block_on(store.range(page.clone())).unwrap())
        });
    }
    for backend in &backends {
        let store = &backend.store;
        group.bench_function(BenchmarkId::new("txn_cas_update", backend.name), |b| {
            let mut expected = runtime.block_on(store.get("/bench/cas")).unwrap().unwrap().mod_revision;
            b.iter(|| {
                let txn = Txn {
                    compare: vec![Compare::ModRevision("/bench/cas".into(), CompareOp::Equal, expected)],
                    success: vec![Op::put("/bench/cas", value(1))],
                    failure: vec![Op::Range(RangeRequest::key("/bench/cas"))],
                };
                let response = runtime.block_on(store.txn(txn)).unwrap();
                assert!(response.succeeded);
                expected = response.revision;
            })
        });
    }
    for backend in &backends {
        let store = &backend.store;
        group.bench_function(BenchmarkId::new("watch_fan_out_1000", backend.name), |b| {
            b.iter_custom(|iters| runtime.block_on(fan_out(store.clone(), iters)))
        });
    }
    group.finish();
}

/// The time from each write to its arrival at every one of `WATCHERS` watchers.
async fn fan_out(store: Arc<dyn Store>, iters: u64) -> Duration {
    let (arrived, mut arrivals) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for _ in 0..WATCHERS {
        let request =
            WatchRequest { key: "/bench/watch/".into(), range: KeyRange::Prefix, start_revision: 0, prev_kv: false };
        let mut stream = store.watch(request).await.unwrap();
        let arrived = arrived.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(batch)) = stream.next().await {
                if arrived.send(batch[0].kv.mod_revision).is_err() {
                    return;
                }
            }
        }));
    }
    let mut total = Duration::ZERO;
    for i in 0..iters {
        let start = Instant::now();
        let revision = store.put(&format!("/bench/watch/{i}"), value(0)).await.unwrap();
        let mut received = 0;
        while received < WATCHERS {
            if arrivals.recv().await.unwrap() == revision {
                received += 1;
            }
        }
        total += start.elapsed();
    }
    for task in tasks {
        task.abort();
    }
    total
}

criterion_group!(store_benches, benches);
criterion_main!(store_benches);
