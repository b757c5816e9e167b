//! The embedded backend: durable, crash-safe, one directory, no other process.
//!
//! Storage is [redb] (a pure-Rust, single-file, copy-on-write B-tree with ACID transactions and
//! fsync-on-commit), chosen for its small build and its crash safety without a write-ahead log
//! to manage. The directory holds:
//! - `FORMAT`: `rampart-store-format N`, checked before anything else is opened; another `N`
//!   fails with [`StoreError::Incompatible`] and nothing in the directory is touched;
//! - `data.redb`: table `history`, one row per version of a key, keyed by (revision, key), whose
//!   value is the op's position in its transaction, then create revision and version and the
//!   value (or a delete marker); table `meta`: the format (again), the current revision and the
//!   compaction revision.
//!
//! Reads never touch the disk: the data is loaded at open into a [`MemStore`], which serves
//! every range and watch. It holds each value once; redb's own cache is bounded
//! ([`EmbeddedOptions::cache_size`]). Writes go to one writer thread, which takes every
//! transaction waiting, stages them in memory, commits them to redb in one fsynced transaction
//! (group commit), and only then makes them visible and answers: an acknowledged write is on
//! disk. Compaction removes the rows no read at or after the compaction revision needs, so the
//! retained history, and with it every watch start after the compaction, survives a restart.
//!
//! redb locks the file: a second process opening the same directory fails with a clear error.
//!
//! The directory and its files are their owner's only (0700, 0600) from the moment they are
//! created, since the data holds Secrets and IAM state; ones found open to others are tightened.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use redb::{Database, ReadableDatabase, TableDefinition};
use tokio::sync::oneshot;

use crate::compaction::{CompactionPolicy, Compactor};
use crate::feed::{Batch, Change, Stored};
use crate::mem::{DEFAULT_WATCH_CAPACITY, MemStore, Removed};
use crate::{
    EventKind, RangeRequest, RangeResponse, Result, Revision, Store, StoreError, Txn, TxnResponse, WatchRequest,
    WatchStream,
};

/// The version of the on-disk layout this build reads and writes.
pub const FORMAT_VERSION: u64 = 1;

const FORMAT_FILE: &str = "FORMAT";
const FORMAT_WORD: &str = "rampart-store-format";
const DATA_FILE: &str = "data.redb";

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const HISTORY: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("history");

const META_FORMAT: &str = "format";
const META_REVISION: &str = "revision";
const META_COMPACTED: &str = "compact_revision";

/// At most this many transactions share one commit.
const MAX_GROUP: usize = 512;

/// How an [`EmbeddedStore`] runs.
#[derive(Clone, Debug)]
pub struct EmbeddedOptions {
    /// redb's page cache, in bytes (redb's own default is 1 GiB; reads are served from memory,
    /// so only writes and compaction use it).
    pub cache_size: usize,
    /// Automatic compaction (`None`: only when [`Store::compact`] is called).
    pub compaction: Option<CompactionPolicy>,
    /// How many revisions a watcher may fall behind before it gets
    /// [`StoreError::WatcherLagged`].
    pub watch_capacity: usize,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            cache_size: 16 * 1024 * 1024,
            compaction: Some(CompactionPolicy::default()),
            watch_capacity: DEFAULT_WATCH_CAPACITY,
        }
    }
}

/// A durable [`Store`] in a directory. Cloning shares it; the last clone dropped closes it.
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

struct Inner {
    mem: MemStore,
    requests: Option<mpsc::Sender<Request>>,
    writer: Option<JoinHandle<()>>,
}

enum Request {
    Txn(Txn, oneshot::Sender<Result<TxnResponse>>),
    Compact(Revision, oneshot::Sender<Result<()>>),
}

impl EmbeddedStore {
    /// Open (or create) the store in `dir` with the default options: compaction every 5
    /// minutes, as kube-apiserver.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, EmbeddedOptions::default())
    }

    /// Open (or create) the store in `dir`. Fails with [`StoreError::Incompatible`] if it was
    /// written in another format (without changing anything), and with
    /// [`StoreError::Backend`] if another process has it open or the disk fails.
    pub fn open_with(dir: impl AsRef<Path>, options: EmbeddedOptions) -> Result<Self> {
        let dir = dir.as_ref();
        check_format(dir)?;
        let path = dir.join(DATA_FILE);
        private_file(&path).map_err(|err| StoreError::Backend(format!("cannot create {}: {err}", path.display())))?;
        let db = redb::Builder::new().set_cache_size(options.cache_size).create(&path).map_err(|err| match err {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Backend(format!(
                "{} is in use by another process (it holds the store's lock); stop it or use another data directory",
                dir.display()
            )),
            redb::DatabaseError::UpgradeRequired(version) => StoreError::Incompatible(format!(
                "{} is in redb file format {version}, which this version of Rampart cannot read",
                path.display()
            )),
            err => backend(&path, err),
        })?;
        let mem = MemStore::with_watch_capacity(options.watch_capacity);
        load(&db, &path, &mem)?;
        let (requests, receiver) = mpsc::channel();
        let writer = Writer { db, path, mem: mem.clone(), requests: receiver };
        let policy = options.compaction;
        let writer = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(policy))
            .map_err(|err| StoreError::Backend(format!("cannot start the store's writer thread: {err}")))?;
        Ok(EmbeddedStore { inner: Arc::new(Inner { mem, requests: Some(requests), writer: Some(writer) }) })
    }

    async fn send<T>(&self, request: impl FnOnce(oneshot::Sender<Result<T>>) -> Request) -> Result<T> {
        let (reply, response) = oneshot::channel();
        let sent = self.inner.requests.as_ref().map(|requests| requests.send(request(reply)));
        if !matches!(sent, Some(Ok(()))) {
            return Err(writer_stopped());
        }
        response.await.map_err(|_| writer_stopped())?
    }
}

fn writer_stopped() -> StoreError {
    StoreError::Backend("the store's writer thread stopped; see the log for why".into())
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue ends the writer after the transactions already sent; joining it
        // closes the database, so the directory can be opened again as soon as this returns.
        self.requests.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        self.inner.mem.range(request).await
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        self.send(|reply| Request::Txn(txn, reply)).await
    }

    async fn watch(&self, request: WatchRequest) -> Result<WatchStream> {
        self.inner.mem.watch(request).await
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.send(|reply| Request::Compact(revision, reply)).await
    }

    async fn current_revision(&self) -> Result<Revision> {
        self.inner.mem.current_revision().await
    }
}

fn backend(path: &Path, err: impl Into<redb::Error>) -> StoreError {
    StoreError::Backend(format!("{}: {}", path.display(), err.into()))
}

/// Check the directory's format file, or write it if the directory holds no store yet.
fn check_format(dir: &Path) -> Result<()> {
    let format_path = dir.join(FORMAT_FILE);
    let io = |what: &str, path: &Path, err: std::io::Error| {
        StoreError::Backend(format!("cannot {what} {}: {err}", path.display()))
    };
    match fs::read_to_string(&format_path) {
        Ok(text) => {
            let found =
                text.strip_prefix(FORMAT_WORD).and_then(|rest| rest.trim().parse::<u64>().ok()).ok_or_else(|| {
                    StoreError::Incompatible(format!("{} is not a Rampart store format file", format_path.display()))
                })?;
            check_version(dir, found)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            if dir.join(DATA_FILE).exists() {
                return Err(StoreError::Incompatible(format!(
                    "{} holds a {DATA_FILE} but no {FORMAT_FILE} file; it was not written by this store",
                    dir.display()
                )));
            }
            fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|err| io("create", dir, err))?;
            let tmp = dir.join(format!("{FORMAT_FILE}.tmp"));
            let write = || -> std::io::Result<()> {
                let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
                writeln!(file, "{FORMAT_WORD} {FORMAT_VERSION}")?;
                file.sync_all()?;
                fs::rename(&tmp, &format_path)?;
                fs::File::open(dir)?.sync_all()
            };
            write().map_err(|err| io("write", &format_path, err))
        }
        Err(err) => Err(io("read", &format_path, err)),
    }
}

/// Creates `path` empty and 0600 if it does not exist (redb then starts a database in it), and
/// takes away what others may do with it if it does.
fn private_file(path: &Path) -> std::io::Result<()> {
    let file = fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(path)?;
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        file.set_permissions(fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

fn check_version(dir: &Path, found: u64) -> Result<()> {
    if found == FORMAT_VERSION {
        return Ok(());
    }
    Err(StoreError::Incompatible(format!(
        "{} was written in store format {found}, and this version of Rampart reads format {FORMAT_VERSION}; \
         run the Rampart that wrote it, or start with another data directory",
        dir.display()
    )))
}

/// Read the whole store into `mem`; initialise the tables of a new one.
fn load(db: &Database, path: &Path, mem: &MemStore) -> Result<()> {
    let err = |err: redb::Error| backend(path, err);
    let read = db.begin_read().map_err(|e| err(e.into()))?;
    let meta = match read.open_table(META) {
        Ok(meta) => meta,
        Err(redb::TableError::TableDoesNotExist(_)) => {
            drop(read);
            return initialise(db, path);
        }
        Err(e) => return Err(err(e.into())),
    };
    let get =
        |name: &str| -> Result<u64> { Ok(meta.get(name).map_err(|e| err(e.into()))?.map_or(0, |value| value.value())) };
    let dir = path.parent().unwrap_or(path);
    check_version(dir, get(META_FORMAT)?)?;
    let (revision, compacted) = (get(META_REVISION)? as Revision, get(META_COMPACTED)? as Revision);
    let history = read.open_table(HISTORY).map_err(|e| err(e.into()))?;
    let mut batches: Vec<Batch> = Vec::new();
    let mut positions: Vec<u32> = Vec::new();
    for row in history.range::<(u64, &str)>(..).map_err(|e| err(e.into()))? {
        let (key, value) = row.map_err(|e| err(e.into()))?;
        let (row_revision, key) = key.value();
        let (position, event) = decode(row_revision as Revision, key, value.value()).ok_or_else(|| {
            StoreError::Backend(format!("{}: corrupt row {key} at revision {row_revision}", path.display()))
        })?;
        match batches.last_mut() {
            Some(batch) if batch.revision == row_revision as Revision => batch.changes.push(event),
            _ => {
                sort_batch(batches.last_mut(), &mut positions);
                batches.push(Batch { revision: row_revision as Revision, changes: vec![event] });
            }
        }
        positions.push(position);
    }
    sort_batch(batches.last_mut(), &mut positions);
    mem.restore(batches, revision, compacted);
    Ok(())
}

/// Put the events of a loaded batch back in the order its transaction wrote them.
fn sort_batch(batch: Option<&mut Batch>, positions: &mut Vec<u32>) {
    if let Some(batch) = batch
        && batch.changes.len() > 1
    {
        let mut ordered: Vec<(u32, Change)> = positions.drain(..).zip(batch.changes.drain(..)).collect();
        ordered.sort_by_key(|(position, _)| *position);
        batch.changes = ordered.into_iter().map(|(_, event)| event).collect();
    }
    positions.clear();
}

fn initialise(db: &Database, path: &Path) -> Result<()> {
    let err = |e: redb::Error| backend(path, e);
    let write = db.begin_write().map_err(|e| err(e.into()))?;
    {
        let mut meta = write.open_table(META).map_err(|e| err(e.into()))?;
        meta.insert(META_FORMAT, FORMAT_VERSION).map_err(|e| err(e.into()))?;
        meta.insert(META_REVISION, 0).map_err(|e| err(e.into()))?;
        meta.insert(META_COMPACTED, 0).map_err(|e| err(e.into()))?;
        write.open_table(HISTORY).map_err(|e| err(e.into()))?;
    }
    write.commit().map_err(|e| err(e.into()))
}

const PUT: u8 = 1;
const DELETE: u8 = 2;

/// A history row: kind, position in the transaction, and for a put the create revision,
/// version and value (little-endian integers).
fn encode(position: usize, change: &Change) -> Vec<u8> {
    let mut row = Vec::with_capacity(21 + change.kv.value.len());
    row.push(if change.kind == EventKind::Put { PUT } else { DELETE });
    row.extend_from_slice(&(position as u32).to_le_bytes());
    if change.kind == EventKind::Put {
        row.extend_from_slice(&change.kv.create_revision.to_le_bytes());
        row.extend_from_slice(&change.kv.version.to_le_bytes());
        row.extend_from_slice(&change.kv.value);
    }
    row
}

fn decode(revision: Revision, key: &str, row: &[u8]) -> Option<(u32, Change)> {
    let (&kind, rest) = row.split_first()?;
    let (position, rest) = rest.split_first_chunk::<4>()?;
    let position = u32::from_le_bytes(*position);
    let mut kv = Stored::tombstone(revision);
    let kind = match kind {
        PUT => {
            let (create, rest) = rest.split_first_chunk::<8>()?;
            let (version, value) = rest.split_first_chunk::<8>()?;
            kv.create_revision = i64::from_le_bytes(*create);
            kv.version = i64::from_le_bytes(*version);
            kv.value = Bytes::copy_from_slice(value);
            EventKind::Put
        }
        DELETE if rest.is_empty() => EventKind::Delete,
        _ => return None,
    };
    Some((position, Change { key: Arc::from(key), kind, kv, prev: None }))
}

/// The thread that owns the database and makes every write.
struct Writer {
    db: Database,
    path: PathBuf,
    mem: MemStore,
    requests: mpsc::Receiver<Request>,
}

impl Writer {
    fn run(self, policy: Option<CompactionPolicy>) {
        let mut compactor = Compactor::default();
        let mut next_tick = policy.map(|policy| Instant::now() + policy.interval);
        loop {
            if let (Some(policy), Some(at)) = (policy, next_tick)
                && Instant::now() >= at
            {
                self.compact_on_schedule(&mut compactor);
                next_tick = Some(at.max(Instant::now()) + policy.interval);
            }
            let first = match next_tick {
                Some(at) => match self.requests.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(request) => request,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return,
                },
                None => match self.requests.recv() {
                    Ok(request) => request,
                    Err(_) => return,
                },
            };
            self.serve(first);
        }
    }

    /// Serve `first` and what is queued behind it: consecutive transactions share a commit.
    fn serve(&self, first: Request) {
        let mut txns = Vec::new();
        let mut replies = Vec::new();
        let queued = std::iter::from_fn(|| self.requests.try_recv().ok());
        for request in std::iter::once(first).chain(queued).take(MAX_GROUP) {
            match request {
                Request::Txn(txn, reply) => {
                    txns.push(txn);
                    replies.push(reply);
                }
                Request::Compact(revision, reply) => {
                    self.commit(std::mem::take(&mut txns), std::mem::take(&mut replies));
                    let _ = reply.send(self.compact(revision));
                }
            }
        }
        self.commit(txns, replies);
    }

    fn commit(&self, txns: Vec<Txn>, replies: Vec<oneshot::Sender<Result<TxnResponse>>>) {
        if txns.is_empty() {
            return;
        }
        match self.mem.write(txns, |batches| self.persist(batches)) {
            Ok(responses) => {
                for (reply, response) in replies.into_iter().zip(responses) {
                    let _ = reply.send(response);
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "store write failed");
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    }

    fn persist(&self, batches: &[Arc<Batch>]) -> Result<()> {
        let err = |e: redb::Error| backend(&self.path, e);
        let write = self.db.begin_write().map_err(|e| err(e.into()))?;
        {
            let mut history = write.open_table(HISTORY).map_err(|e| err(e.into()))?;
            for batch in batches {
                for (position, change) in batch.changes.iter().enumerate() {
                    let row = encode(position, change);
                    history.insert((batch.revision as u64, &*change.key), row.as_slice()).map_err(|e| err(e.into()))?;
                }
            }
            let last = batches.last().map_or(0, |batch| batch.revision);
            let mut meta = write.open_table(META).map_err(|e| err(e.into()))?;
            meta.insert(META_REVISION, last as u64).map_err(|e| err(e.into()))?;
        }
        write.commit().map_err(|e| err(e.into()))
    }

    fn compact(&self, revision: Revision) -> Result<()> {
        self.mem.compact_with(revision, |removed| self.persist_compaction(revision, removed))
    }

    fn persist_compaction(&self, revision: Revision, removed: &[Removed]) -> Result<()> {
        let err = |e: redb::Error| backend(&self.path, e);
        let write = self.db.begin_write().map_err(|e| err(e.into()))?;
        {
            let mut history = write.open_table(HISTORY).map_err(|e| err(e.into()))?;
            for (row_revision, key) in removed {
                history.remove((*row_revision as u64, &**key)).map_err(|e| err(e.into()))?;
            }
            let mut meta = write.open_table(META).map_err(|e| err(e.into()))?;
            meta.insert(META_COMPACTED, revision as u64).map_err(|e| err(e.into()))?;
        }
        write.commit().map_err(|e| err(e.into()))
    }

    fn compact_on_schedule(&self, compactor: &mut Compactor) {
        let (current, compacted) = self.mem.revisions();
        if let Some(target) = compactor.tick(current, compacted) {
            match self.compact(target) {
                Ok(()) => tracing::debug!(revision = target, "compacted"),
                Err(err) => tracing::warn!(error = %err, revision = target, "compaction failed"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreExt;

    #[test]
    fn rows_round_trip() {
        let put = Change {
            key: Arc::from("/k"),
            kind: EventKind::Put,
            kv: Stored { value: Bytes::from_static(b"v\0x"), create_revision: 3, mod_revision: 9, version: 4 },
            prev: None,
        };
        assert_eq!(decode(9, "/k", &encode(2, &put)), Some((2, put.clone())));
        let delete = Change { key: Arc::from("/k"), kind: EventKind::Delete, kv: Stored::tombstone(9), prev: None };
        assert_eq!(decode(9, "/k", &encode(0, &delete)), Some((0, delete)));
        assert_eq!(decode(9, "/k", &encode(0, &put)[..10]), None, "a truncated row is refused");
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// The data holds Secrets: no one else may read it, from its first byte (the files are
    /// created with their mode, not changed after), and a file found open to others is closed.
    #[tokio::test]
    async fn the_directory_and_its_files_are_the_owners_only() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("store");
        EmbeddedStore::open(&dir).unwrap().put("/a", Bytes::from_static(b"secret")).await.unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(FORMAT_FILE)), 0o600);
        assert_eq!(mode(&dir.join(DATA_FILE)), 0o600);
        fs::set_permissions(dir.join(DATA_FILE), fs::Permissions::from_mode(0o644)).unwrap();
        let store = EmbeddedStore::open(&dir).unwrap();
        assert_eq!(mode(&dir.join(DATA_FILE)), 0o600);
        assert_eq!(store.get("/a").await.unwrap().map(|kv| kv.value), Some(Bytes::from_static(b"secret")));
    }

    #[tokio::test]
    async fn a_format_recorded_in_the_data_is_checked_too() {
        let dir = tempfile::tempdir().unwrap();
        EmbeddedStore::open(dir.path()).unwrap().put("/a", Bytes::from_static(b"1")).await.unwrap();
        {
            let db = Database::create(dir.path().join(DATA_FILE)).unwrap();
            let write = db.begin_write().unwrap();
            write.open_table(META).unwrap().insert(META_FORMAT, FORMAT_VERSION + 1).unwrap();
            write.commit().unwrap();
        }
        let err = EmbeddedStore::open(dir.path()).err().unwrap();
        let StoreError::Incompatible(message) = err else { panic!("expected Incompatible, got {err:?}") };
        assert!(message.contains("format 2") && message.contains("reads format 1"), "{message}");
    }
}
