//! Crash safety for real: this test binary runs itself as a child process whose 8 writers
//! create, update (compare-and-swap, some of them deliberately stale, which the store must
//! refuse) and delete keys of an embedded store, printing each write before they send it and
//! each answer the store gave; the parent SIGKILLs the child mid-stream, reopens the directory
//! and checks that it opens, that every acknowledged write is there, that no refused write is,
//! and that a write in flight at the kill either happened whole or not at all. A hundred rounds
//! on the same directory, so recovery after a crash is itself crashed into. Then a live child
//! holding the store shows that a second process gets a clear error, and that the lock dies
//! with its holder.
//!
//! A custom harness (`harness = false`): `main` is the parent unless `CHILD` names a role.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use store::{EmbeddedStore, Store, StoreError, StoreExt};

const CHILD: &str = "STORE_CRASH_TEST_CHILD";
const DIR: &str = "STORE_CRASH_TEST_DIR";
const ROUND: &str = "STORE_CRASH_TEST_ROUND";
const ROUNDS: usize = 100;
const WRITERS: usize = 8;
/// Each writer owns this many keys, so it alone decides what they hold.
const KEYS: usize = 16;

fn main() {
    match std::env::var(CHILD).as_deref() {
        Ok("writer") => writer(),
        Ok("holder") => holder(),
        _ => {
            let started = Instant::now();
            let (acks, refusals) = acknowledged_writes_survive_kill_9();
            println!(
                "test acknowledged_writes_survive_kill_9 ({ROUNDS} rounds, {acks} acknowledged and {refusals} refused \
                 writes, {:.1?}) ... ok",
                started.elapsed()
            );
            a_second_process_is_refused_until_the_holder_dies();
            println!("test a_second_process_is_refused_until_the_holder_dies ... ok");
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn key(writer: usize, k: usize) -> String {
    format!("/crash/{writer}/{k:02}")
}

/// One line on stdout in one write (under PIPE_BUF: the parent sees whole lines or nothing).
fn say(line: String) {
    let mut out = std::io::stdout().lock();
    out.write_all(format!("{line}\n").as_bytes()).unwrap();
    out.flush().unwrap();
}

/// The child: each writer loops over its keys, forever. Before each write it says what it is
/// about to do (`try W put|stale|del KEY VALUE`, `stale` being an update whose compare must
/// fail); after, what the store answered (`ack W REV` or
/// `refused W`).
fn writer() {
    let dir = std::env::var(DIR).unwrap();
    let round: usize = std::env::var(ROUND).unwrap().parse().unwrap();
    runtime().block_on(async move {
        let store = EmbeddedStore::open(&dir).unwrap();
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    for n in 0.. {
                        let key = key(w, (n * 7 + round) % KEYS);
                        let value = format!("{round}.{w}.{n}");
                        let current = store.get(&key).await.unwrap();
                        let answer = match current {
                            None => {
                                say(format!("try {w} put {key} {value}"));
                                store.create(&key, Bytes::from(value)).await.unwrap()
                            }
                            Some(kv) if n % 5 == 0 => {
                                say(format!("try {w} del {key} -"));
                                store.delete(&key, kv.mod_revision).await.unwrap().map(|(_, revision)| revision)
                            }
                            // A stale compare: an update from a client that read an older version.
                            Some(kv) if n % 4 == 0 => {
                                say(format!("try {w} stale {key} {value}"));
                                store.update(&key, Bytes::from(value), kv.mod_revision - 1).await.unwrap()
                            }
                            Some(kv) => {
                                say(format!("try {w} put {key} {value}"));
                                store.update(&key, Bytes::from(value), kv.mod_revision).await.unwrap()
                            }
                        };
                        say(match answer {
                            Some(revision) => format!("ack {w} {revision}"),
                            None => format!("refused {w}"),
                        });
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

/// A key's value and mod revision, as the store must hold it (absent: deleted or never made).
type Model = BTreeMap<String, (String, i64)>;

/// A write a writer sent and has no answer for yet.
struct InFlight {
    op: String,
    key: String,
    value: String,
}

/// Returns how many writes were acknowledged and refused.
fn acknowledged_writes_survive_kill_9() -> (usize, usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    let mut last_revision = 0;
    let (mut acks, mut refusals) = (0, 0);
    for round in 0..ROUNDS {
        let mut child = spawn("writer", dir.path(), round);
        let output = lines(&mut child);
        let mut in_flight: BTreeMap<usize, InFlight> = BTreeMap::new();
        let mut answers = 0;
        let deadline = Instant::now() + Duration::from_secs(60);
        // Kill at a different point each round, while all writers are busy.
        let kill_after = 16 + (round * 37) % 97;
        let mut follow = |line: &str, model: &mut Model, in_flight: &mut BTreeMap<usize, InFlight>| {
            let words: Vec<&str> = line.split(' ').collect();
            let writer: usize = words[1].parse().unwrap();
            match words[..] {
                ["try", _, op, key, value] => {
                    let write = InFlight { op: op.into(), key: key.into(), value: value.into() };
                    assert!(in_flight.insert(writer, write).is_none(), "one write at a time per writer");
                }
                ["ack", _, revision] => {
                    let revision: i64 = revision.parse().unwrap();
                    last_revision = last_revision.max(revision);
                    let write = in_flight.remove(&writer).expect("an answer follows its write");
                    match write.op.as_str() {
                        "del" => model.remove(&write.key),
                        "put" => model.insert(write.key, (write.value, revision)),
                        _ => panic!("a stale update was accepted: {} = {}", write.key, write.value),
                    };
                    acks += 1;
                }
                ["refused", _] => {
                    in_flight.remove(&writer).expect("an answer follows its write");
                    refusals += 1;
                }
                _ => panic!("unexpected line from the writer: {line}"),
            }
        };
        while answers < kill_after {
            let line = output.recv_timeout(deadline - Instant::now()).expect("the writer stopped answering");
            answers += usize::from(!line.starts_with("try"));
            follow(&line, &mut model, &mut in_flight);
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Lines the child wrote before it died are still in the pipe.
        while let Ok(line) = output.recv_timeout(Duration::from_secs(5)) {
            follow(&line, &mut model, &mut in_flight);
        }
        verify(dir.path(), &mut model, &in_flight, last_revision, round);
    }
    assert!(acks > ROUNDS * 16 && refusals > ROUNDS, "the mix was exercised: {acks} acks, {refusals} refusals");
    (acks, refusals)
}

/// Open the store and compare it with the model: exact for every key but those a write in
/// flight touched, which hold either what they held or what that write wrote. The model then
/// takes what the store holds, for the next round.
fn verify(dir: &Path, model: &mut Model, in_flight: &BTreeMap<usize, InFlight>, last_revision: i64, round: usize) {
    runtime().block_on(async {
        let store = EmbeddedStore::open(dir).unwrap_or_else(|err| panic!("round {round}: the store must open: {err}"));
        let current = store.current_revision().await.unwrap();
        assert!(current >= last_revision, "revision {current} went back before the acknowledged {last_revision}");
        let found: BTreeMap<String, (String, i64)> = store
            .list("/crash/")
            .await
            .unwrap()
            .kvs
            .into_iter()
            .map(|kv| (kv.key, (String::from_utf8(kv.value.to_vec()).unwrap(), kv.mod_revision)))
            .collect();
        let uncertain: BTreeMap<&str, &InFlight> =
            in_flight.values().map(|write| (write.key.as_str(), write)).collect();
        for key in model.keys().chain(found.keys()).collect::<std::collections::BTreeSet<_>>() {
            let (expected, actual) = (model.get(key), found.get(key));
            if expected == actual {
                continue;
            }
            let write = uncertain
                .get(key.as_str())
                .unwrap_or_else(|| panic!("round {round}: {key} is {actual:?}, acknowledged as {expected:?}"));
            // The write in flight happened (whole): a delete, or a put of exactly its value; never
            // a stale update.
            let happened = match actual {
                None => write.op == "del",
                Some((value, _)) => write.op == "put" && *value == write.value,
            };
            assert!(
                happened,
                "round {round}: {key} is {actual:?}, acknowledged as {expected:?}, in flight {}",
                write.value
            );
        }
        *model = found;
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
