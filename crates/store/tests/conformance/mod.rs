//! The conformance suite: everything the `Store` trait promises, as one async function per
//! promise, run against every backend by `suite!(open)` (one `#[tokio::test]` per case, each on
//! a fresh store). No case assumes an absolute revision: an empty etcd is at revision 1, the
//! others at 0.

#![allow(dead_code)] // each backend's test file uses the parts it needs

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use store::{
    Compare, CompareOp, Event, EventKind, KeyRange, KeyValue, Op, OpResponse, RangeRequest, RangeResponse, Revision,
    Store, StoreError, StoreExt, Txn, TxnResponse, WatchRequest, WatchStream,
};

/// The watch capacity every case but the lagging one runs with.
pub const WATCH_CAPACITY: usize = 1024;

/// A fresh store, and whatever must live as long as it (a temp dir, an etcd process).
pub struct Harness {
    pub store: Arc<dyn Store>,
    _guard: Box<dyn Any + Send + Sync>,
}

impl Harness {
    pub fn new(store: impl Store, guard: impl Any + Send + Sync) -> Self {
        Harness { store: Arc::new(store), _guard: Box::new(guard) }
    }
}

/// One test per case against the backend `$open(watch_capacity).await` opens.
macro_rules! suite {
    ($open:path) => {
        $crate::conformance::suite!(@cases $open;
            revisions_count_writing_transactions,
            create_mod_revision_and_version,
            range_single_prefix_and_up_to,
            range_limit_more_and_count,
            range_at_past_revisions,
            range_at_a_future_revision_fails,
            txn_compares_every_kind,
            txn_failure_branch_runs_when_a_compare_fails,
            txn_writes_atomically_in_one_revision,
            txn_rejects_writing_a_key_twice,
            txn_range_sees_the_ops_before_it,
            txn_deletes_ranges,
            store_ext_helpers_follow_optimistic_concurrency,
            watch_replays_from_a_past_revision_then_follows,
            watch_from_now_sees_only_new_changes,
            watch_filters_by_key_range,
            watch_attaches_prev_kv_only_when_asked,
            watch_reports_deletes,
            watch_orders_concurrent_writers,
            watch_fans_out_to_many_watchers,
            watch_from_a_compacted_revision_fails,
            watch_from_a_future_revision_waits_for_it,
            compaction_forgets_history_only,
        );
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn watch_tells_a_lagging_watcher() {
            let harness = $open(4).await;
            $crate::conformance::watch_tells_a_lagging_watcher(&harness.store).await;
        }
    };
    (@cases $open:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let harness = $open($crate::conformance::WATCH_CAPACITY).await;
                $crate::conformance::$case(&harness.store).await;
            }
        )*
    };
}
pub(crate) use suite;

// ---------------------------------------------------------------------------------------------
// helpers

fn b(value: &str) -> Bytes {
    Bytes::copy_from_slice(value.as_bytes())
}

async fn put(store: &dyn Store, key: &str, value: &str) -> Revision {
    store.put(key, b(value)).await.unwrap()
}

async fn txn(store: &dyn Store, txn: Txn) -> TxnResponse {
    store.txn(txn).await.unwrap()
}

fn keys(response: &RangeResponse) -> Vec<&str> {
    response.kvs.iter().map(|kv| kv.key.as_str()).collect()
}

fn values(response: &RangeResponse) -> Vec<&[u8]> {
    response.kvs.iter().map(|kv| kv.value.as_ref()).collect()
}

async fn range(store: &dyn Store, request: RangeRequest) -> RangeResponse {
    store.range(request).await.unwrap()
}

fn up_to(key: &str, end: &str) -> RangeRequest {
    RangeRequest { range: KeyRange::UpTo(end.into()), ..RangeRequest::key(key) }
}

fn at(request: RangeRequest, revision: Revision) -> RangeRequest {
    RangeRequest { revision, ..request }
}

fn watch_request(key: &str, range: KeyRange, start_revision: Revision, prev_kv: bool) -> WatchRequest {
    WatchRequest { key: key.into(), range, start_revision, prev_kv }
}

async fn watch(store: &dyn Store, key: &str, range: KeyRange, start: Revision) -> WatchStream {
    store.watch(watch_request(key, range, start, false)).await.unwrap()
}

/// The next batch of a watch, failing the test if none comes within 10 s.
async fn next_batch(stream: &mut WatchStream) -> Result<Vec<Event>, StoreError> {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("no watch event within 10 s")
        .expect("the watch ended")
}

/// Batches until one at `last` or later.
async fn batches_until(stream: &mut WatchStream, last: Revision) -> Vec<Vec<Event>> {
    let mut batches = Vec::new();
    loop {
        let batch = next_batch(stream).await.unwrap();
        let revision = batch[0].kv.mod_revision;
        batches.push(batch);
        if revision >= last {
            return batches;
        }
    }
}

fn summary(events: &[Event]) -> Vec<(EventKind, &str, Revision)> {
    events.iter().map(|e| (e.kind, e.kv.key.as_str(), e.kv.mod_revision)).collect()
}

fn range_op(request: RangeRequest) -> Op {
    Op::Range(request)
}

fn only_range(response: &OpResponse) -> &RangeResponse {
    match response {
        OpResponse::Range(range) => range,
        other => panic!("expected a range response, got {other:?}"),
    }
}

fn only_deleted(response: &OpResponse) -> &[KeyValue] {
    match response {
        OpResponse::Delete { deleted } => deleted,
        other => panic!("expected a delete response, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// revisions and keys

pub async fn revisions_count_writing_transactions(store: &dyn Store) {
    let r0 = store.current_revision().await.unwrap();
    assert_eq!(put(store, "/a", "1").await, r0 + 1);
    let read_only = txn(store, Txn { success: vec![range_op(RangeRequest::key("/a"))], ..Txn::default() }).await;
    assert_eq!(read_only.revision, r0 + 1, "a read-only transaction does not bump the revision");
    let failed =
        txn(store, Txn { compare: vec![Compare::Version("/a".into(), CompareOp::Equal, 9)], ..Txn::default() }).await;
    assert!(!failed.succeeded);
    assert_eq!(failed.revision, r0 + 1);
    let nothing_deleted = txn(store, Txn { success: vec![Op::delete("/missing")], ..Txn::default() }).await;
    assert_eq!(nothing_deleted.revision, r0 + 1, "deleting nothing writes nothing");
    let three = txn(
        store,
        Txn { success: vec![Op::put("/x", b("1")), Op::put("/y", b("1")), Op::put("/z", b("1"))], ..Txn::default() },
    )
    .await;
    assert_eq!(three.revision, r0 + 2, "one transaction, one revision");
    assert_eq!(store.current_revision().await.unwrap(), r0 + 2);
    assert_eq!(range(store, RangeRequest::key("/a")).await.revision, r0 + 2);
}

pub async fn create_mod_revision_and_version(store: &dyn Store) {
    let r1 = store.create("/k", b("1")).await.unwrap().expect("created");
    let kv = store.get("/k").await.unwrap().unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version, kv.value), (r1, r1, 1, b("1")));
    let put2 = txn(store, Txn { success: vec![Op::put("/k", b("2"))], ..Txn::default() }).await;
    let r2 = put2.revision;
    let OpResponse::Put { prev_kv } = &put2.responses[0] else { panic!("{put2:?}") };
    assert_eq!(prev_kv.as_ref().map(|kv| (kv.value.clone(), kv.mod_revision)), Some((b("1"), r1)));
    let r3 = put(store, "/k", "3").await;
    let kv = store.get("/k").await.unwrap().unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (r1, r3, 3));
    assert!(r1 < r2 && r2 < r3);
    let (deleted, r4) = store.delete("/k", 0).await.unwrap().expect("deleted");
    assert_eq!((deleted.value, deleted.mod_revision, r4), (b("3"), r3, r3 + 1));
    assert_eq!(store.get("/k").await.unwrap(), None);
    let r5 = put(store, "/k", "again").await;
    let kv = store.get("/k").await.unwrap().unwrap();
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (r5, r5, 1), "a new incarnation");
}

pub async fn range_single_prefix_and_up_to(store: &dyn Store) {
    for key in ["/r", "/r/a", "/r/b", "/r/b/c", "/r/c", "/s/a"] {
        put(store, key, key).await;
    }
    let single = range(store, RangeRequest::key("/r/b")).await;
    assert_eq!((keys(&single), single.count, single.more), (vec!["/r/b"], 1, false));
    assert_eq!(values(&single), [b"/r/b"]);
    assert_eq!(keys(&range(store, RangeRequest::prefix("/r/")).await), ["/r/a", "/r/b", "/r/b/c", "/r/c"]);
    assert_eq!(keys(&range(store, RangeRequest::prefix("/r/b")).await), ["/r/b", "/r/b/c"]);
    assert_eq!(keys(&range(store, up_to("/r/a", "/r/c")).await), ["/r/a", "/r/b", "/r/b/c"]);
    assert!(range(store, up_to("/r/c", "/r/a")).await.kvs.is_empty(), "an end before the start is empty");
    let missing = range(store, RangeRequest::key("/r/zz")).await;
    assert_eq!((missing.kvs.len(), missing.count, missing.more), (0, 0, false));
    assert!(range(store, RangeRequest::prefix("/t/")).await.kvs.is_empty());
}

pub async fn range_limit_more_and_count(store: &dyn Store) {
    for name in ["a", "b", "c", "d", "e"] {
        put(store, &format!("/p/{name}"), name).await;
    }
    put(store, "/q/a", "outside").await;
    let page = range(store, RangeRequest { limit: 2, ..RangeRequest::prefix("/p/") }).await;
    assert_eq!((keys(&page), page.more, page.count), (vec!["/p/a", "/p/b"], true, 5));
    let exact = range(store, RangeRequest { limit: 5, ..RangeRequest::prefix("/p/") }).await;
    assert_eq!((exact.kvs.len(), exact.more, exact.count), (5, false, 5));
    let wide = range(store, RangeRequest { limit: 10, ..RangeRequest::prefix("/p/") }).await;
    assert_eq!((wide.kvs.len(), wide.more), (5, false));
    let counted = range(store, RangeRequest { count_only: true, ..RangeRequest::prefix("/p/") }).await;
    assert_eq!((counted.kvs.len(), counted.count), (0, 5));
    // The next page, as kube-apiserver asks for it: from just after the last key to the prefix end.
    let next = range(store, RangeRequest { limit: 2, ..up_to("/p/b\0", "/p0") }).await;
    assert_eq!((keys(&next), next.more, next.count), (vec!["/p/c", "/p/d"], true, 3));
}

pub async fn range_at_past_revisions(store: &dyn Store) {
    let r1 = put(store, "/h/a", "1").await;
    let r2 = put(store, "/h/a", "2").await;
    let r3 = put(store, "/h/b", "1").await;
    let (_, r4) = store.delete("/h/a", 0).await.unwrap().unwrap();
    let prefix = || RangeRequest::prefix("/h/");
    let seen = |response: &RangeResponse| -> Vec<(String, Vec<u8>)> {
        response.kvs.iter().map(|kv| (kv.key.clone(), kv.value.to_vec())).collect()
    };
    let at1 = range(store, at(prefix(), r1)).await;
    assert_eq!(seen(&at1), [("/h/a".to_string(), b"1".to_vec())]);
    assert_eq!(at1.revision, r1, "a past read says the revision it was served at");
    let at2 = range(store, at(prefix(), r2)).await;
    assert_eq!((at2.kvs[0].version, at2.kvs[0].mod_revision, at2.kvs[0].create_revision), (2, r2, r1));
    assert_eq!(keys(&range(store, at(prefix(), r3)).await), ["/h/a", "/h/b"]);
    assert_eq!(keys(&range(store, at(prefix(), r4)).await), ["/h/b"]);
    assert_eq!(keys(&range(store, prefix()).await), ["/h/b"]);
}

pub async fn range_at_a_future_revision_fails(store: &dyn Store) {
    let current = put(store, "/f", "1").await;
    let err = store.range(at(RangeRequest::key("/f"), current + 1)).await.unwrap_err();
    assert_eq!(err, StoreError::FutureRevision { requested: current + 1, current });
}

// ---------------------------------------------------------------------------------------------
// transactions

pub async fn txn_compares_every_kind(store: &dyn Store) {
    let created = put(store, "/c", "1").await;
    let modified = put(store, "/c", "2").await;
    use CompareOp::*;
    let key = || "/c".to_string();
    let cases = [
        (Compare::ModRevision(key(), Equal, modified), true),
        (Compare::ModRevision(key(), Equal, created), false),
        (Compare::ModRevision(key(), NotEqual, created), true),
        (Compare::ModRevision(key(), Greater, created), true),
        (Compare::ModRevision(key(), Greater, modified), false),
        (Compare::ModRevision(key(), Less, modified + 1), true),
        (Compare::ModRevision(key(), Less, modified), false),
        (Compare::CreateRevision(key(), Equal, created), true),
        (Compare::CreateRevision(key(), NotEqual, created), false),
        (Compare::CreateRevision(key(), Greater, created - 1), true),
        (Compare::CreateRevision(key(), Less, created), false),
        (Compare::Version(key(), Equal, 2), true),
        (Compare::Version(key(), NotEqual, 2), false),
        (Compare::Version(key(), Greater, 1), true),
        (Compare::Version(key(), Less, 2), false),
        (Compare::Version(key(), Less, 3), true),
        // A missing key has everything 0.
        (Compare::ModRevision("/none".into(), Equal, 0), true),
        (Compare::CreateRevision("/none".into(), Equal, 0), true),
        (Compare::Version("/none".into(), Equal, 0), true),
        (Compare::Version("/none".into(), Greater, 0), false),
    ];
    for (compare, expected) in cases {
        let response = txn(store, Txn { compare: vec![compare.clone()], ..Txn::default() }).await;
        assert_eq!(response.succeeded, expected, "{compare:?}");
    }
    let all = |second: Compare| Txn {
        compare: vec![Compare::Version(key(), Equal, 2), second],
        success: vec![range_op(RangeRequest::key("/c"))],
        failure: vec![],
    };
    assert!(txn(store, all(Compare::ModRevision(key(), Equal, modified))).await.succeeded);
    let one_false = txn(store, all(Compare::ModRevision(key(), Equal, created))).await;
    assert!(!one_false.succeeded, "every compare must hold");
    assert!(one_false.responses.is_empty(), "the empty failure branch ran");
}

pub async fn txn_failure_branch_runs_when_a_compare_fails(store: &dyn Store) {
    let before = put(store, "/guard", "1").await;
    let response = txn(
        store,
        Txn {
            compare: vec![Compare::ModRevision("/guard".into(), CompareOp::Equal, before + 100)],
            success: vec![Op::put("/success", b("s"))],
            failure: vec![Op::put("/failure", b("f")), range_op(RangeRequest::key("/guard"))],
        },
    )
    .await;
    assert!(!response.succeeded);
    assert_eq!(response.revision, before + 1, "the failure branch wrote");
    assert_eq!(values(only_range(&response.responses[1])), [b"1"]);
    assert_eq!(store.get("/success").await.unwrap(), None);
    assert_eq!(store.get("/failure").await.unwrap().unwrap().mod_revision, before + 1);
}

pub async fn txn_writes_atomically_in_one_revision(store: &dyn Store) {
    let r0 = put(store, "/m/0", "old").await;
    let mut events = watch(store, "/m/", KeyRange::Prefix, r0 + 1).await;
    let response = txn(
        store,
        Txn {
            success: vec![Op::put("/m/2", b("two")), Op::put("/m/1", b("one")), Op::delete("/m/0")],
            ..Txn::default()
        },
    )
    .await;
    let r = response.revision;
    assert_eq!(r, r0 + 1);
    let now = range(store, RangeRequest::prefix("/m/")).await;
    assert_eq!(keys(&now), ["/m/1", "/m/2"]);
    assert!(now.kvs.iter().all(|kv| kv.mod_revision == r));
    let batch = next_batch(&mut events).await.unwrap();
    assert_eq!(
        summary(&batch),
        [(EventKind::Put, "/m/2", r), (EventKind::Put, "/m/1", r), (EventKind::Delete, "/m/0", r)],
        "one batch per revision, in the order of the ops"
    );
}

pub async fn txn_rejects_writing_a_key_twice(store: &dyn Store) {
    let r0 = put(store, "/dup", "1").await;
    let twice = [
        vec![Op::put("/dup/a", b("1")), Op::put("/dup/a", b("2"))],
        vec![Op::put("/dup/a", b("1")), Op::delete("/dup/a")],
        vec![Op::delete("/dup"), Op::put("/dup", b("2"))],
        vec![Op::Delete { key: "/dup/".into(), range: KeyRange::Prefix }, Op::put("/dup/x", b("2"))],
    ];
    for ops in twice {
        let err = store.txn(Txn { success: ops.clone(), ..Txn::default() }).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidRequest(_)), "{ops:?}: {err:?}");
        // Even in the branch that would not run.
        let err = store.txn(Txn { failure: ops.clone(), ..Txn::default() }).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidRequest(_)), "{ops:?} in the failure branch: {err:?}");
    }
    assert_eq!(store.current_revision().await.unwrap(), r0, "nothing was written");
    assert_eq!(store.get("/dup").await.unwrap().unwrap().value, b("1"));
    assert_eq!(range(store, RangeRequest::prefix("/dup/")).await.count, 0);
}

pub async fn txn_range_sees_the_ops_before_it(store: &dyn Store) {
    let r0 = put(store, "/t", "old").await;
    let response = txn(
        store,
        Txn {
            success: vec![
                range_op(RangeRequest::key("/t")),
                Op::put("/t", b("new")),
                range_op(RangeRequest::key("/t")),
                range_op(at(RangeRequest::key("/t"), r0)),
            ],
            ..Txn::default()
        },
    )
    .await;
    let before = only_range(&response.responses[0]);
    assert_eq!((values(before), before.revision), (vec![&b"old"[..]], r0));
    let OpResponse::Put { prev_kv } = &response.responses[1] else { panic!("{response:?}") };
    assert_eq!(prev_kv.as_ref().unwrap().value, b("old"));
    let after = only_range(&response.responses[2]);
    assert_eq!((values(after), after.kvs[0].mod_revision), (vec![&b"new"[..]], r0 + 1));
    assert_eq!(values(only_range(&response.responses[3])), [b"old"], "a past revision reads the past");
}

pub async fn txn_deletes_ranges(store: &dyn Store) {
    for key in ["/d/a", "/d/b", "/d/c", "/e", "/f"] {
        put(store, key, &format!("{key}!")).await;
    }
    let r0 = store.current_revision().await.unwrap();
    let prefix =
        txn(store, Txn { success: vec![Op::Delete { key: "/d/".into(), range: KeyRange::Prefix }], ..Txn::default() })
            .await;
    assert_eq!(prefix.revision, r0 + 1);
    let deleted = only_deleted(&prefix.responses[0]);
    assert_eq!(deleted.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), ["/d/a", "/d/b", "/d/c"]);
    assert_eq!(deleted[1].value, b("/d/b!"), "the deleted values come back");
    let upto = txn(
        store,
        Txn { success: vec![Op::Delete { key: "/e".into(), range: KeyRange::UpTo("/f".into()) }], ..Txn::default() },
    )
    .await;
    assert_eq!(only_deleted(&upto.responses[0]).iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), ["/e"]);
    let again = txn(store, Txn { success: vec![Op::delete("/f"), Op::delete("/f")], ..Txn::default() }).await;
    assert_eq!(only_deleted(&again.responses[0]).len(), 1);
    assert!(only_deleted(&again.responses[1]).is_empty(), "the second delete sees the first");
    assert_eq!(again.revision, r0 + 3);
    assert_eq!(range(store, RangeRequest::prefix("/")).await.count, 0);
}

pub async fn store_ext_helpers_follow_optimistic_concurrency(store: &dyn Store) {
    let created = store.create("/o", b("1")).await.unwrap().unwrap();
    assert_eq!(store.create("/o", b("again")).await.unwrap(), None, "AlreadyExists");
    assert_eq!(store.update("/o", b("stale"), created - 1).await.unwrap(), None, "Conflict");
    let updated = store.update("/o", b("2"), created).await.unwrap().unwrap();
    assert_eq!(store.update("/missing", b("x"), created).await.unwrap(), None);
    assert_eq!(store.delete("/o", created).await.unwrap(), None, "a stale delete conflicts");
    let (kv, deleted_at) = store.delete("/o", updated).await.unwrap().unwrap();
    assert_eq!((kv.value, deleted_at), (b("2"), updated + 1));
    assert_eq!(store.delete("/o", 0).await.unwrap(), None, "already gone");
    put(store, "/l/1", "a").await;
    put(store, "/l/2", "b").await;
    assert_eq!(keys(&store.list("/l/").await.unwrap()), ["/l/1", "/l/2"]);
}

// ---------------------------------------------------------------------------------------------
// watch

pub async fn watch_replays_from_a_past_revision_then_follows(store: &dyn Store) {
    let r1 = put(store, "/w/a", "1").await;
    let r2 = put(store, "/w/b", "1").await;
    let r3 = put(store, "/w/a", "2").await;
    let mut stream = watch(store, "/w/", KeyRange::Prefix, r2).await;
    let r4 = put(store, "/w/c", "1").await;
    let batches = batches_until(&mut stream, r4).await;
    let seen: Vec<_> = batches.iter().flat_map(|batch| summary(batch)).map(|(_, k, r)| (k.to_string(), r)).collect();
    assert_eq!(seen, [("/w/b".to_string(), r2), ("/w/a".to_string(), r3), ("/w/c".to_string(), r4)]);
    assert!(r1 < r2);
    assert_eq!(batches[1][0].kv.value, b("2"));
    assert_eq!(batches[1][0].kv.version, 2);
}

pub async fn watch_from_now_sees_only_new_changes(store: &dyn Store) {
    put(store, "/n/a", "before").await;
    let mut stream = watch(store, "/n/", KeyRange::Prefix, 0).await;
    let r = put(store, "/n/a", "after").await;
    let batch = next_batch(&mut stream).await.unwrap();
    assert_eq!(summary(&batch), [(EventKind::Put, "/n/a", r)]);
    assert_eq!(batch[0].kv.value, b("after"));
}

pub async fn watch_filters_by_key_range(store: &dyn Store) {
    let start = store.current_revision().await.unwrap() + 1;
    let mut single = watch(store, "/w/a", KeyRange::Single, start).await;
    let mut prefix = watch(store, "/w/", KeyRange::Prefix, start).await;
    let mut up_to = watch(store, "/w/a", KeyRange::UpTo("/w/c".into()), start).await;
    for key in ["/w/b", "/w/c", "/x/a", "/w", "/w/a/deeper"] {
        put(store, key, "1").await;
    }
    let last = put(store, "/w/a", "last").await;
    let seen = |batches: Vec<Vec<Event>>| -> Vec<String> {
        batches.iter().flatten().map(|event| event.kv.key.clone()).collect()
    };
    assert_eq!(seen(batches_until(&mut single, last).await), ["/w/a"]);
    assert_eq!(seen(batches_until(&mut prefix, last).await), ["/w/b", "/w/c", "/w/a/deeper", "/w/a"]);
    assert_eq!(seen(batches_until(&mut up_to, last).await), ["/w/b", "/w/a/deeper", "/w/a"]);
}

pub async fn watch_attaches_prev_kv_only_when_asked(store: &dyn Store) {
    let r1 = put(store, "/v", "1").await;
    let mut with = store.watch(watch_request("/v", KeyRange::Single, r1, true)).await.unwrap();
    let mut without = store.watch(watch_request("/v", KeyRange::Single, r1, false)).await.unwrap();
    let r2 = put(store, "/v", "2").await;
    let with = batches_until(&mut with, r2).await;
    assert_eq!(with[0][0].prev_kv, None, "a creation has no previous value");
    let prev = with[1][0].prev_kv.as_ref().expect("prev_kv");
    assert_eq!((prev.value.clone(), prev.mod_revision, prev.version), (b("1"), r1, 1));
    let without = batches_until(&mut without, r2).await;
    assert!(without.iter().flatten().all(|event| event.prev_kv.is_none()));
}

pub async fn watch_reports_deletes(store: &dyn Store) {
    let created = put(store, "/del/a", "a").await;
    put(store, "/del/b", "b").await;
    let start = store.current_revision().await.unwrap() + 1;
    let mut stream = store.watch(watch_request("/del/", KeyRange::Prefix, start, true)).await.unwrap();
    let (_, single) = store.delete("/del/a", 0).await.unwrap().unwrap();
    put(store, "/del/c", "c").await;
    let ranged = txn(
        store,
        Txn { success: vec![Op::Delete { key: "/del/".into(), range: KeyRange::Prefix }], ..Txn::default() },
    )
    .await
    .revision;
    let batches = batches_until(&mut stream, ranged).await;
    let delete = &batches[0][0];
    assert_eq!(delete.kind, EventKind::Delete);
    assert_eq!(
        (delete.kv.key.as_str(), delete.kv.mod_revision, delete.kv.value.is_empty()),
        ("/del/a", single, true),
        "a delete carries the key and the revision of the delete"
    );
    let prev = delete.prev_kv.as_ref().unwrap();
    assert_eq!((prev.value.clone(), prev.create_revision), (b("a"), created));
    assert_eq!(summary(&batches[2]), [(EventKind::Delete, "/del/b", ranged), (EventKind::Delete, "/del/c", ranged)]);
}

pub async fn watch_orders_concurrent_writers(store: &Arc<dyn Store>) {
    const WRITERS: usize = 4;
    const WRITES: usize = 20;
    let start = store.current_revision().await.unwrap() + 1;
    let mut stream = watch(&**store, "/o/", KeyRange::Prefix, start).await;
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0..WRITES {
                acknowledged.push(store.put(&format!("/o/{writer}"), b(&i.to_string())).await.unwrap());
            }
            acknowledged
        }));
    }
    let mut acknowledged: Vec<Revision> = Vec::new();
    for task in tasks {
        let revisions = task.await.unwrap();
        assert!(revisions.windows(2).all(|w| w[0] < w[1]), "one writer's revisions grow");
        acknowledged.extend(revisions);
    }
    acknowledged.sort();
    let last = *acknowledged.last().unwrap();
    let events: Vec<Event> = batches_until(&mut stream, last).await.into_iter().flatten().collect();
    let revisions: Vec<Revision> = events.iter().map(|event| event.kv.mod_revision).collect();
    assert_eq!(revisions, acknowledged, "every write, once, in revision order");
    for writer in 0..WRITERS {
        let key = format!("/o/{writer}");
        let values: Vec<String> = events
            .iter()
            .filter(|event| event.kv.key == key)
            .map(|event| String::from_utf8(event.kv.value.to_vec()).unwrap())
            .collect();
        assert_eq!(values, (0..WRITES).map(|i| i.to_string()).collect::<Vec<_>>(), "{key} in its writer's order");
    }
}

pub async fn watch_fans_out_to_many_watchers(store: &dyn Store) {
    let start = store.current_revision().await.unwrap() + 1;
    let mut streams = Vec::new();
    for _ in 0..50 {
        streams.push(watch(store, "/fan/", KeyRange::Prefix, start).await);
    }
    let mut last = 0;
    for i in 0..10 {
        last = put(store, &format!("/fan/{i}"), "x").await;
    }
    for stream in &mut streams {
        let events: Vec<Event> = batches_until(stream, last).await.into_iter().flatten().collect();
        assert_eq!(events.len(), 10);
        assert_eq!(events.last().unwrap().kv.key, "/fan/9");
    }
}

pub async fn watch_tells_a_lagging_watcher(store: &dyn Store) {
    // The store was opened with room for 4 revisions per watcher.
    let mut stream = watch(store, "/lag/", KeyRange::Prefix, 0).await;
    let mut keeping_up = watch(store, "/lag/", KeyRange::Prefix, 0).await;
    let mut last = 0;
    for i in 0..40 {
        last = put(store, &format!("/lag/{i}"), "x").await;
        next_batch(&mut keeping_up).await.unwrap();
    }
    let mut delivered = 0;
    loop {
        match next_batch(&mut stream).await {
            Ok(batch) => {
                delivered += 1;
                assert!(batch[0].kv.mod_revision < last, "a lagging watcher is not silently caught up");
            }
            Err(err) => {
                assert_eq!(err, StoreError::WatcherLagged);
                break;
            }
        }
    }
    assert!(delivered < 40);
    let end = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.unwrap();
    assert!(end.is_none(), "the stream ends after the error");
}

pub async fn watch_from_a_compacted_revision_fails(store: &dyn Store) {
    let r1 = put(store, "/cw", "1").await;
    let mut existing = watch(store, "/cw", KeyRange::Single, 0).await;
    let r2 = put(store, "/cw", "2").await;
    let r3 = put(store, "/cw", "3").await;
    store.compact(r3).await.unwrap();
    let err = store.watch(watch_request("/cw", KeyRange::Single, r2, false)).await.err().expect("compacted");
    assert_eq!(err, StoreError::Compacted { requested: r2, compact_revision: r3 });
    assert!(r1 < r2);
    let mut fresh = watch(store, "/cw", KeyRange::Single, r3 + 1).await;
    let r4 = put(store, "/cw", "4").await;
    assert_eq!(summary(&next_batch(&mut fresh).await.unwrap()), [(EventKind::Put, "/cw", r4)]);
    let seen: Vec<Revision> =
        batches_until(&mut existing, r4).await.iter().flatten().map(|event| event.kv.mod_revision).collect();
    assert_eq!(seen, [r2, r3, r4], "a watch opened before the compaction is unaffected");
}

pub async fn watch_from_a_future_revision_waits_for_it(store: &dyn Store) {
    let current = put(store, "/fut", "0").await;
    let mut stream = watch(store, "/fut", KeyRange::Single, current + 3).await;
    for i in 1..=4 {
        put(store, "/fut", &i.to_string()).await;
    }
    let first = next_batch(&mut stream).await.unwrap();
    assert_eq!(first[0].kv.mod_revision, current + 3);
    assert_eq!(first[0].kv.value, b("3"));
}

// ---------------------------------------------------------------------------------------------
// compaction

pub async fn compaction_forgets_history_only(store: &dyn Store) {
    let r1 = put(store, "/cp/a", "1").await;
    let r2 = put(store, "/cp/gone", "x").await;
    let r3 = put(store, "/cp/a", "2").await;
    let (_, r4) = store.delete("/cp/gone", 0).await.unwrap().unwrap();
    let r5 = put(store, "/cp/a", "3").await;
    store.compact(r4).await.unwrap();
    let err = store.range(at(RangeRequest::prefix("/cp/"), r3)).await.unwrap_err();
    assert_eq!(err, StoreError::Compacted { requested: r3, compact_revision: r4 });
    let at4 = range(store, at(RangeRequest::prefix("/cp/"), r4)).await;
    assert_eq!(keys(&at4), ["/cp/a"], "the compaction revision itself stays readable");
    assert_eq!((at4.kvs[0].value.clone(), at4.kvs[0].version, at4.kvs[0].create_revision), (b("2"), 2, r1));
    let now = range(store, RangeRequest::prefix("/cp/")).await;
    assert_eq!((values(&now), now.kvs[0].version, now.revision), (vec![&b"3"[..]], 3, r5));
    assert!(r2 < r3);
    assert_eq!(
        store.compact(r4).await.unwrap_err(),
        StoreError::Compacted { requested: r4, compact_revision: r4 },
        "compacting again to the same revision"
    );
    assert!(matches!(store.compact(r3).await, Err(StoreError::Compacted { .. })));
    assert_eq!(store.compact(r5 + 1).await.unwrap_err(), StoreError::FutureRevision { requested: r5 + 1, current: r5 });
    let r6 = put(store, "/cp/a", "4").await;
    let a = store.get("/cp/a").await.unwrap().unwrap();
    assert_eq!((a.version, a.create_revision, a.mod_revision), (4, r1, r6), "versions survive compaction");
    store.compact(r6).await.unwrap();
    assert_eq!(store.get("/cp/a").await.unwrap().unwrap().value, b("4"));
}
