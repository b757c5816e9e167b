//! Crash safety for real: this test binary runs itself as a child process that writes to an
//! embedded store from several tasks and prints every write the store acknowledged; the parent
//! SIGKILLs it mid-stream, reopens the directory and checks every acknowledged write is there.
//! Three rounds on the same directory, so recovery after a crash is itself crashed into. Then a
//! live child holding the store shows that a second process gets a clear error, and that the
//! lock dies with its holder.
//!
//! A custom harness (`harness = false`): `main` is the parent unless `CHILD` names a role.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use store::{EmbeddedStore, Op, RangeRequest, Store, StoreError, StoreExt, Txn};

const CHILD: &str = "STORE_CRASH_TEST_CHILD";
const DIR: &str = "STORE_CRASH_TEST_DIR";
const ROUND: &str = "STORE_CRASH_TEST_ROUND";
const WRITERS: usize = 4;

fn main() {
    match std::env::var(CHILD).as_deref() {
        Ok("writer") => writer(),
        Ok("holder") => holder(),
        _ => {
            acknowledged_writes_survive_kill_9();
            println!("test acknowledged_writes_survive_kill_9 ... ok");
            a_second_process_is_refused_until_the_holder_dies();
            println!("test a_second_process_is_refused_until_the_holder_dies ... ok");
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// The child: write forever, one line per acknowledged transaction on stdout.
fn writer() {
    let dir = std::env::var(DIR).unwrap();
    let round = std::env::var(ROUND).unwrap();
    runtime().block_on(async move {
        let store = EmbeddedStore::open(&dir).unwrap();
        let tasks: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let store = store.clone();
                let round = round.clone();
                tokio::spawn(async move {
                    for n in 0.. {
                        let key = format!("/crash/{round}/{writer}/{n}");
                        let value = format!("{round}.{writer}.{n}");
                        let mut ops = vec![Op::put(key.clone(), Bytes::from(value.clone()))];
                        let mut lines = Vec::new();
                        if n >= 5 && n % 3 == 0 {
                            let old = format!("/crash/{round}/{writer}/{}", n - 5);
                            ops.push(Op::delete(old.clone()));
                            lines.push(format!("del {old}"));
                        }
                        lines.push(format!("put {key} {value}"));
                        let revision = store.txn(Txn { success: ops, ..Txn::default() }).await.unwrap().revision;
                        let text: String = lines.iter().map(|line| format!("ack {revision} {line}\n")).collect();
                        // One write, under PIPE_BUF: the parent sees whole transactions or nothing.
                        let mut out = std::io::stdout().lock();
                        out.write_all(text.as_bytes()).unwrap();
                        out.flush().unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// The child that opens the store and holds it until killed.
fn holder() {
    let dir = std::env::var(DIR).unwrap();
    let _store = EmbeddedStore::open(&dir).unwrap();
    println!("open");
    std::thread::sleep(Duration::from_secs(600));
}

fn spawn(role: &str, dir: &Path, round: usize) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .env(CHILD, role)
        .env(DIR, dir)
        .env(ROUND, round.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The child's stdout, line by line, on a channel.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if send.send(line).is_err() {
                return;
            }
        }
    });
    receive
}

/// What the children were told was written: key → (revision, value or None for a delete).
type Acknowledged = BTreeMap<String, (i64, Option<String>)>;

fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged = Acknowledged::new();
    // Keys a transaction in flight at the kill may have deleted: it may have been committed
    // without its acknowledgement reaching the parent, which is allowed.
    let mut maybe_deleted = BTreeSet::new();
    let mut last_revision = 0;
    for round in 0..3 {
        let mut child = spawn("writer", dir.path(), round);
        let output = lines(&mut child);
        let mut acks = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        // Kill at a different point each round, while all writers are busy.
        while acks < 150 + 100 * round {
            let line = output.recv_timeout(deadline - Instant::now()).expect("the writer stopped acknowledging");
            acks += record(&mut acknowledged, &line, &mut last_revision);
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Lines the child wrote before it died are still in the pipe.
        while let Ok(line) = output.recv_timeout(Duration::from_secs(5)) {
            record(&mut acknowledged, &line, &mut last_revision);
        }
        for writer in 0..WRITERS {
            let prefix = format!("/crash/{round}/{writer}/");
            // Each writer's transactions are acknowledged in order, one new key each: `next` is
            // the one in flight, and it deletes `next - 5` when next % 3 == 0.
            let next = acknowledged.keys().filter(|key| key.starts_with(&prefix)).count();
            if next >= 5 && next % 3 == 0 {
                maybe_deleted.insert(format!("{prefix}{}", next - 5));
            }
        }
        verify(dir.path(), &acknowledged, &maybe_deleted, last_revision);
    }
}

/// Record one `ack REV put KEY VALUE` / `ack REV del KEY` line; returns 1 for a put.
fn record(acknowledged: &mut Acknowledged, line: &str, last_revision: &mut i64) -> usize {
    let words: Vec<&str> = line.split(' ').collect();
    let revision: i64 = words[1].parse().unwrap();
    *last_revision = (*last_revision).max(revision);
    match words[2..] {
        ["put", key, value] => {
            acknowledged.insert(key.to_string(), (revision, Some(value.to_string())));
            1
        }
        ["del", key] => {
            acknowledged.insert(key.to_string(), (revision, None));
            0
        }
        _ => panic!("unexpected line from the writer: {line}"),
    }
}

fn verify(dir: &Path, acknowledged: &Acknowledged, maybe_deleted: &BTreeSet<String>, last_revision: i64) {
    runtime().block_on(async {
        let store = EmbeddedStore::open(dir).unwrap();
        let current = store.current_revision().await.unwrap();
        assert!(current >= last_revision, "revision {current} went back before the acknowledged {last_revision}");
        for (key, (revision, value)) in acknowledged {
            let found = store.get(key).await.unwrap();
            if found.is_none() && maybe_deleted.contains(key) {
                continue;
            }
            match value {
                Some(value) => {
                    let kv = found.unwrap_or_else(|| panic!("acknowledged {key} at {revision} is lost"));
                    assert_eq!((kv.value.as_ref(), kv.mod_revision), (value.as_bytes(), *revision), "{key}");
                }
                None => assert!(found.is_none(), "acknowledged delete of {key} at {revision} is undone"),
            }
        }
        // The history is consistent too: at the last acknowledged revision, every acknowledged
        // key is as it was acknowledged.
        let at =
            store.range(RangeRequest { revision: last_revision, ..RangeRequest::prefix("/crash/") }).await.unwrap();
        let live: BTreeMap<&str, &[u8]> = at.kvs.iter().map(|kv| (kv.key.as_str(), kv.value.as_ref())).collect();
        for (key, (_, value)) in acknowledged {
            if maybe_deleted.contains(key) && !live.contains_key(key.as_str()) {
                continue;
            }
            assert_eq!(
                live.get(key.as_str()).copied(),
                value.as_ref().map(|v| v.as_bytes()),
                "{key} at {last_revision}"
            );
        }
    });
}

fn a_second_process_is_refused_until_the_holder_dies() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn("holder", dir.path(), 0);
    let output = lines(&mut child);
    assert_eq!(output.recv_timeout(Duration::from_secs(30)).unwrap(), "open");
    let err = EmbeddedStore::open(dir.path()).err().expect("the directory is locked");
    let StoreError::Backend(message) = &err else { panic!("expected Backend, got {err:?}") };
    assert!(message.contains("in use by another process"), "{message}");
    child.kill().unwrap();
    child.wait().unwrap();
    EmbeddedStore::open(dir.path()).expect("the lock died with its holder");
}
