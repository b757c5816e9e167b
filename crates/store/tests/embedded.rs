//! The embedded backend: the conformance suite, then what only a durable store promises —
//! everything survives a restart (values, revisions, watchable history, the compaction point),
//! the format is checked (and format 1 migrated), the directory is locked, compaction runs on
//! its own.

mod conformance;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use store::{
    CompactionPolicy, EmbeddedOptions, EmbeddedStore, EventKind, KeyRange, Op, RangeRequest, Store, StoreError,
    StoreExt, Txn, WatchRequest,
};

fn options(watch_capacity: usize) -> EmbeddedOptions {
    EmbeddedOptions { compaction: None, watch_capacity, ..EmbeddedOptions::default() }
}

async fn open(watch_capacity: usize) -> conformance::Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open_with(dir.path(), options(watch_capacity)).unwrap();
    conformance::Harness::new(store, dir)
}

conformance::suite!(open);

fn b(value: &str) -> Bytes {
    Bytes::copy_from_slice(value.as_bytes())
}

/// Every file of `dir` and its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (entry.file_name().to_string_lossy().into_owned(), std::fs::read(entry.path()).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn a_restart_keeps_values_revisions_history_and_the_compaction_point() {
    let dir = tempfile::tempdir().unwrap();
    let (r1, r3, r5, r6);
    {
        let store = EmbeddedStore::open_with(dir.path(), options(64)).unwrap();
        r1 = store.put("/a", b("1")).await.unwrap();
        store.put("/b", b("1")).await.unwrap();
        r3 = store.put("/a", b("2")).await.unwrap();
        store.put("/gone", b("x")).await.unwrap();
        store.compact(r3).await.unwrap();
        let multi =
            Txn { success: vec![Op::put("/c", b("z")), Op::delete("/gone"), Op::put("/b", b("2"))], ..Txn::default() };
        r5 = store.txn(multi).await.unwrap().revision;
        r6 = store.txn(Txn { success: vec![Op::delete("/c")], ..Txn::default() }).await.unwrap().revision;
    }
    let store = EmbeddedStore::open_with(dir.path(), options(64)).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), r6, "the revision survives, even when it was a delete");
    let a = store.get("/a").await.unwrap().unwrap();
    assert_eq!((a.value, a.create_revision, a.mod_revision, a.version), (b("2"), r1, r3, 2));
    let now = store.list("/").await.unwrap();
    assert_eq!(now.kvs.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), ["/a", "/b"]);
    // Reads at retained revisions, and the compaction point, as before the restart.
    let at5 = store.range(RangeRequest { revision: r5, ..RangeRequest::prefix("/") }).await.unwrap();
    assert_eq!(at5.kvs.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), ["/a", "/b", "/c"]);
    let old = store.range(RangeRequest { revision: r1, ..RangeRequest::key("/a") }).await.unwrap_err();
    assert_eq!(old, StoreError::Compacted { requested: r1, compact_revision: r3 });
    // The retained history is watchable, with prev_kv and the op order of each transaction.
    let mut watch = store
        .watch(WatchRequest { key: "/".into(), range: KeyRange::Prefix, start_revision: r3 + 1, prev_kv: true })
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.last().is_none_or(|(_, _, revision)| *revision < r6) {
        let batch = tokio::time::timeout(Duration::from_secs(5), watch.next()).await.unwrap().unwrap().unwrap();
        for event in batch {
            let prev = event.prev_kv.map(|kv| kv.value);
            seen.push((event.kind, (event.kv.key, prev), event.kv.mod_revision));
        }
    }
    let expected = [
        (EventKind::Put, ("/gone".to_string(), None), r3 + 1),
        (EventKind::Put, ("/c".to_string(), None), r5),
        (EventKind::Delete, ("/gone".to_string(), Some(b("x"))), r5),
        (EventKind::Put, ("/b".to_string(), Some(b("1"))), r5),
        (EventKind::Delete, ("/c".to_string(), Some(b("z"))), r6),
    ];
    assert_eq!(seen, expected);
    // And it keeps going from there.
    assert_eq!(store.put("/a", b("3")).await.unwrap(), r6 + 1);
}

#[tokio::test]
async fn an_incompatible_format_is_refused_and_nothing_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store.put("/a", b("1")).await.unwrap();
    }
    assert_eq!(std::fs::read_to_string(dir.path().join("FORMAT")).unwrap(), "rampart-store-format 2\n");
    std::fs::write(dir.path().join("FORMAT"), "rampart-store-format 7\n").unwrap();
    let before = snapshot(dir.path());
    let err = EmbeddedStore::open(dir.path()).err().expect("refused");
    let StoreError::Incompatible(message) = &err else { panic!("expected Incompatible, got {err:?}") };
    assert!(message.contains("store format 7") && message.contains("reads format 2"), "{message}");
    assert!(message.contains(&dir.path().display().to_string()), "names the directory: {message}");
    assert!(!err.to_string().contains('\n'), "one line");
    assert_eq!(snapshot(dir.path()), before, "nothing written");

    std::fs::write(dir.path().join("FORMAT"), "something else").unwrap();
    assert!(matches!(EmbeddedStore::open(dir.path()), Err(StoreError::Incompatible(_))));
    std::fs::remove_file(dir.path().join("FORMAT")).unwrap();
    let before = snapshot(dir.path());
    let err = EmbeddedStore::open(dir.path()).err().expect("a data file without FORMAT is refused");
    assert!(matches!(err, StoreError::Incompatible(_)), "{err:?}");
    assert_eq!(snapshot(dir.path()), before);
}

#[tokio::test]
async fn a_second_opener_gets_a_clear_error_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let first = EmbeddedStore::open(dir.path()).unwrap();
    first.put("/a", b("1")).await.unwrap();
    let err = EmbeddedStore::open(dir.path()).err().expect("locked");
    let StoreError::Backend(message) = &err else { panic!("expected Backend, got {err:?}") };
    assert!(message.contains("in use by another process"), "{message}");
    assert_eq!(first.get("/a").await.unwrap().unwrap().value, b("1"), "the first is unharmed");
    drop(first);
    let again = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(again.get("/a").await.unwrap().unwrap().value, b("1"));
}

#[tokio::test]
async fn compaction_runs_on_its_own_and_is_persisted() {
    let dir = tempfile::tempdir().unwrap();
    let policy = CompactionPolicy::every(Duration::from_millis(200));
    let store = EmbeddedStore::open_with(
        dir.path(),
        EmbeddedOptions { compaction: Some(policy), ..EmbeddedOptions::default() },
    )
    .unwrap();
    let first = store.put("/a", b("1")).await.unwrap();
    let second = store.put("/a", b("2")).await.unwrap();
    let old = RangeRequest { revision: first, ..RangeRequest::key("/a") };
    // The first tick remembers `second`; the next compacts to it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match store.range(old.clone()).await {
            Err(StoreError::Compacted { compact_revision, .. }) => {
                assert_eq!(compact_revision, second);
                break;
            }
            Ok(_) if tokio::time::Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("not compacted in time: {other:?}"),
        }
    }
    drop(store);
    let store = EmbeddedStore::open_with(dir.path(), options(64)).unwrap();
    let err = store.range(old).await.unwrap_err();
    assert_eq!(err, StoreError::Compacted { requested: first, compact_revision: second }, "after a restart too");
    assert_eq!(store.get("/a").await.unwrap().unwrap().value, b("2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_lose_nothing_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open_with(dir.path(), options(1024)).unwrap();
    let mut tasks = Vec::new();
    for writer in 0..16 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let key = format!("/w/{writer}/{i}");
                assert!(store.create(&key, b(&key)).await.unwrap().is_some());
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(store.current_revision().await.unwrap(), 400);
    drop(store);
    let store = EmbeddedStore::open_with(dir.path(), options(64)).unwrap();
    let all = store.list("/w/").await.unwrap();
    assert_eq!(all.count, 400);
    let mut revisions: Vec<i64> = all.kvs.iter().map(|kv| kv.mod_revision).collect();
    revisions.sort();
    assert_eq!(revisions, (1..=400).collect::<Vec<_>>(), "one revision per write, none lost");
}

/// Copy `tests/data/<name>` (a data directory written by an earlier version) to a temp dir.
fn fixture(name: &str) -> tempfile::TempDir {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

#[tokio::test]
async fn a_format_1_directory_is_migrated_with_its_history() {
    // Written by the redb backend (format 1): /a=1 (1), /b=1 (2), /a=2 (3), /gone=x (4),
    // compacted at 3, then {put /c=z, delete /gone, put /b=2} (5), delete /c (6).
    let dir = fixture("format-1");
    {
        let store = EmbeddedStore::open_with(dir.path(), options(64)).unwrap();
        assert_eq!(store.current_revision().await.unwrap(), 6);
        let a = store.get("/a").await.unwrap().unwrap();
        assert_eq!((a.value, a.create_revision, a.mod_revision, a.version), (b("2"), 1, 3, 2));
        let now = store.list("/").await.unwrap();
        assert_eq!(
            now.kvs.iter().map(|kv| (kv.key.as_str(), kv.value.clone())).collect::<Vec<_>>(),
            [("/a", b("2")), ("/b", b("2"))]
        );
        let at5 = store.range(RangeRequest { revision: 5, ..RangeRequest::prefix("/") }).await.unwrap();
        assert_eq!(at5.kvs.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), ["/a", "/b", "/c"]);
        let old = store.range(RangeRequest { revision: 1, ..RangeRequest::key("/a") }).await.unwrap_err();
        assert_eq!(old, StoreError::Compacted { requested: 1, compact_revision: 3 });
        let mut watch = store
            .watch(WatchRequest { key: "/".into(), range: KeyRange::Prefix, start_revision: 5, prev_kv: true })
            .await
            .unwrap();
        let batch = tokio::time::timeout(Duration::from_secs(5), watch.next()).await.unwrap().unwrap().unwrap();
        let seen: Vec<_> =
            batch.into_iter().map(|event| (event.kind, event.kv.key, event.prev_kv.map(|kv| kv.value))).collect();
        assert_eq!(
            seen,
            [
                (EventKind::Put, "/c".to_string(), None),
                (EventKind::Delete, "/gone".to_string(), Some(b("x"))),
                (EventKind::Put, "/b".to_string(), Some(b("1"))),
            ]
        );
        assert_eq!(store.put("/d", b("new")).await.unwrap(), 7);
    }
    assert_eq!(std::fs::read_to_string(dir.path().join("FORMAT")).unwrap(), "rampart-store-format 2\n");
    assert!(!dir.path().join("data.redb").exists(), "the redb file is gone once migrated");
    let store = EmbeddedStore::open_with(dir.path(), options(64)).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), 7, "the migrated store and the write after it");
    assert_eq!(store.get("/d").await.unwrap().unwrap().value, b("new"));
    assert_eq!(store.get("/a").await.unwrap().unwrap().mod_revision, 3);
}
