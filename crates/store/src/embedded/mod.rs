//! The embedded backend: durable, crash-safe, one directory, no other process.
//!
//! etcd's own shape: the state lives in memory (a [`MemStore`], which serves every range and
//! watch), every write is appended to a write-ahead log and `fdatasync`ed before it becomes
//! visible, and a snapshot of the whole store bounds the log. Writes go to one writer thread,
//! which takes every transaction waiting, stages them in memory, appends them as one log record
//! with one `fdatasync` (group commit), and only then makes them visible and answers: an
//! acknowledged write is on disk. A single write costs one append and one `fdatasync`, the
//! disk's floor (`docs/storage.md` has the measurements that chose this over redb, format 1).
//!
//! Compaction is a log record too, so the retained history, and with it every watch start after
//! the compaction, survives a restart. Once the log has grown by more than the last snapshot
//! (and at least [`SNAPSHOT_MIN_LOG`]), the writer starts a new segment and a background thread
//! writes a snapshot of the state as of the old segment's end; when it is in place, the old
//! segments go. Opening reads the snapshot, replays the segments after it, and discards a torn
//! record at the log's tail (a write cut by a crash, never acknowledged).
//!
//! The file layout is `files.rs`, the records `wal.rs`. A directory in format 1 (redb,
//! `legacy.rs`) is migrated when opened: its content becomes the first snapshot.
//!
//! Disk errors: a failed append fails every transaction of its group, changes nothing, and
//! stops the writer (every later write fails with the same error until a restart), as etcd
//! stops: after a failed `fdatasync` the kernel may have dropped the pages it could not write,
//! so nothing after it could be trusted.

mod files;
mod legacy;
mod wal;

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Instant;

use async_trait::async_trait;
use tokio::sync::oneshot;

use self::files::Content;
use self::wal::{Encoder, Record, Records, Stop};
use crate::compaction::{CompactionPolicy, Compactor};
use crate::feed::Batch;
use crate::mem::{DEFAULT_WATCH_CAPACITY, MemStore};
use crate::{
    RangeRequest, RangeResponse, Result, Revision, Store, StoreError, Txn, TxnResponse, WatchRequest, WatchStream,
};

/// The version of the on-disk layout this build writes. It reads this one and migrates format 1.
pub const FORMAT_VERSION: u64 = 2;

/// At most this many transactions share one commit.
const MAX_GROUP: usize = 512;

/// The log grows by at least this much before a snapshot replaces it.
const SNAPSHOT_MIN_LOG: u64 = 64 * 1024 * 1024;

/// How an [`EmbeddedStore`] runs.
#[derive(Clone, Debug)]
pub struct EmbeddedOptions {
    /// Automatic compaction (`None`: only when [`Store::compact`] is called).
    pub compaction: Option<CompactionPolicy>,
    /// How many revisions a watcher may fall behind before it gets
    /// [`StoreError::WatcherLagged`].
    pub watch_capacity: usize,
    /// How many bytes the log grows by, at least, before a snapshot replaces it.
    pub snapshot_min_log: u64,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            compaction: Some(CompactionPolicy::default()),
            watch_capacity: DEFAULT_WATCH_CAPACITY,
            snapshot_min_log: SNAPSHOT_MIN_LOG,
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
    /// [`StoreError::Backend`] if another process has it open or the disk fails. A format-1
    /// directory is migrated to format 2 first.
    pub fn open_with(dir: impl AsRef<Path>, options: EmbeddedOptions) -> Result<Self> {
        let dir = dir.as_ref();
        check_format(dir)?;
        let lock = files::lock(dir)?.ok_or_else(|| in_use(dir))?;
        // Again under the lock: another process may have created or migrated it meanwhile.
        let (content, log) = match check_format(dir)? {
            None => {
                files::write_format(dir, FORMAT_VERSION)?;
                load(dir)?
            }
            Some(legacy::FORMAT) => migrate(dir)?,
            Some(_) => load(dir)?,
        };
        let mem = MemStore::with_watch_capacity(options.watch_capacity);
        mem.restore(content.batches, content.revision, content.compacted);
        let (requests, receiver) = mpsc::channel();
        let writer = Writer {
            dir: dir.to_path_buf(),
            mem: mem.clone(),
            requests: receiver,
            log,
            snapshot_min_log: options.snapshot_min_log,
            _lock: lock,
        };
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

pub(crate) fn in_use(dir: &Path) -> StoreError {
    StoreError::Backend(format!(
        "{} is in use by another process (it holds the store's lock); stop it or use another data directory",
        dir.display()
    ))
}

pub(crate) fn incompatible(dir: &Path, found: u64) -> StoreError {
    StoreError::Incompatible(format!(
        "{} was written in store format {found}, and this version of Rampart reads format {FORMAT_VERSION} \
         (and migrates format {}); run the Rampart that wrote it, or start with another data directory",
        dir.display(),
        legacy::FORMAT
    ))
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue ends the writer after the transactions already sent; joining it
        // releases the lock, so the directory can be opened again as soon as this returns.
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

/// The format `dir` holds, if any, when this build can open it; a `FORMAT`-less directory
/// that holds store files is refused.
fn check_format(dir: &Path) -> Result<Option<u64>> {
    match files::read_format(dir)? {
        Some(found) if found == FORMAT_VERSION || found == legacy::FORMAT => Ok(Some(found)),
        Some(found) => Err(incompatible(dir, found)),
        None if files::holds_data(dir, legacy::DATA_FILE)? => Err(StoreError::Incompatible(format!(
            "{} holds store files but no {} file; it was not written by this store",
            dir.display(),
            files::FORMAT_FILE
        ))),
        None => Ok(None),
    }
}

/// Read a format-2 directory: the snapshot, then every log segment after it. A torn record at
/// the end of the last segment is cut off (it was never acknowledged).
fn load(dir: &Path) -> Result<(Content, Log)> {
    let (mut content, snapshot_size) = files::read_snapshot(dir)?.unwrap_or_default();
    files::remove_covered(dir, content.revision)?;
    let segments = files::segments(dir)?;
    let mut log_bytes = 0;
    for (index, (_, path)) in segments.iter().enumerate() {
        let bytes = std::fs::read(path).map_err(|err| files::io_error("read", path, err))?;
        let mut records = Records::new(&bytes);
        loop {
            match records.next_record() {
                Ok(Some(Record::Batches(batches))) => {
                    for batch in batches {
                        if batch.revision <= content.revision {
                            continue; // in the snapshot already
                        }
                        if batch.revision != content.revision + 1 {
                            return Err(StoreError::Backend(format!(
                                "{}: revisions {} to {} are missing; restore the data directory from a backup",
                                path.display(),
                                content.revision + 1,
                                batch.revision - 1
                            )));
                        }
                        content.revision = batch.revision;
                        content.batches.push(batch);
                    }
                }
                Ok(Some(Record::Compaction(revision))) => content.compacted = content.compacted.max(revision),
                Ok(None) => break,
                Err(Stop::Torn) if index + 1 == segments.len() => {
                    let valid = records.valid as u64;
                    tracing::warn!(
                        file = %path.display(),
                        discarded = bytes.len() as u64 - valid,
                        "discarding a torn write at the end of the store's log (it was never acknowledged)"
                    );
                    truncate(path, valid)?;
                    break;
                }
                Ok(Some(_)) | Err(_) => {
                    return Err(StoreError::Backend(format!(
                        "{} is damaged at byte {}; restore the data directory from a backup",
                        path.display(),
                        records.valid
                    )));
                }
            }
        }
        log_bytes += records.valid as u64;
    }
    let start = segments.last().map_or(content.revision, |(start, _)| *start);
    let (file, _) = files::open_segment(dir, start)?;
    let log = Log { file, encoder: Encoder::default(), since_snapshot: log_bytes, snapshot_size, snapshotting: None };
    Ok((content, log))
}

fn truncate(path: &Path, len: u64) -> Result<()> {
    let file = std::fs::OpenOptions::new().write(true).open(path).map_err(|err| files::io_error("open", path, err))?;
    file.set_len(len).and_then(|()| file.sync_all()).map_err(|err| files::io_error("truncate", path, err))
}

/// Turn a format-1 directory into a format-2 one: its content becomes the first snapshot, then
/// `FORMAT` says 2, then the redb file goes. A crash before `FORMAT` changes runs it again.
fn migrate(dir: &Path) -> Result<(Content, Log)> {
    let old = legacy::read(dir)?;
    let started = Instant::now();
    let snapshot_size = files::write_snapshot(dir, old.revision, old.compacted, old.batches.iter())?;
    let (file, _) = files::open_segment(dir, old.revision)?;
    files::write_format(dir, FORMAT_VERSION)?;
    let data = dir.join(legacy::DATA_FILE);
    std::fs::remove_file(&data).map_err(|err| files::io_error("remove", &data, err))?;
    tracing::info!(dir = %dir.display(), revision = old.revision, elapsed = ?started.elapsed(),
        "migrated the store from format 1 (redb) to format 2 (log and snapshot)");
    let content = Content { batches: old.batches, revision: old.revision, compacted: old.compacted };
    let log = Log { file, encoder: Encoder::default(), since_snapshot: 0, snapshot_size, snapshotting: None };
    Ok((content, log))
}

/// The log being appended to, and the snapshot being written, if one is.
struct Log {
    file: File,
    encoder: Encoder,
    /// Bytes appended since the last snapshot began.
    since_snapshot: u64,
    snapshot_size: u64,
    snapshotting: Option<JoinHandle<Result<u64>>>,
}

impl Log {
    /// Append the encoder's record and `fdatasync` it.
    fn append(&mut self) -> Result<()> {
        let bytes = self.encoder.bytes();
        self.file
            .write_all(bytes)
            .and_then(|()| self.file.sync_data())
            .map_err(|err| StoreError::Backend(format!("cannot append to the store's log: {err}")))?;
        self.since_snapshot += bytes.len() as u64;
        Ok(())
    }
}

/// The thread that owns the log and makes every write.
struct Writer {
    dir: PathBuf,
    mem: MemStore,
    requests: mpsc::Receiver<Request>,
    log: Log,
    snapshot_min_log: u64,
    _lock: File,
}

impl Writer {
    fn run(mut self, policy: Option<CompactionPolicy>) {
        let mut compactor = Compactor::default();
        let mut next_tick = policy.map(|policy| Instant::now() + policy.interval);
        let mut failed = None;
        loop {
            if let (Some(policy), Some(at)) = (policy, next_tick)
                && Instant::now() >= at
            {
                if failed.is_none() {
                    self.compact_on_schedule(&mut compactor, &mut failed);
                }
                next_tick = Some(at.max(Instant::now()) + policy.interval);
            }
            let first = match next_tick {
                Some(at) => match self.requests.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(request) => request,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match self.requests.recv() {
                    Ok(request) => request,
                    Err(_) => break,
                },
            };
            self.serve(first, &mut failed);
            if failed.is_none() {
                self.snapshot_if_due();
            }
        }
        if let Some(snapshot) = self.log.snapshotting.take() {
            let _ = snapshot.join();
        }
    }

    /// Serve `first` and what is queued behind it: consecutive transactions share a commit.
    fn serve(&mut self, first: Request, failed: &mut Option<StoreError>) {
        let mut txns = Vec::new();
        let mut replies = Vec::new();
        let queued = std::iter::from_fn(|| self.requests.try_recv().ok());
        let requests: Vec<Request> = std::iter::once(first).chain(queued).take(MAX_GROUP).collect();
        for request in requests {
            match request {
                Request::Txn(txn, reply) => {
                    txns.push(txn);
                    replies.push(reply);
                }
                Request::Compact(revision, reply) => {
                    self.commit(std::mem::take(&mut txns), std::mem::take(&mut replies), failed);
                    let _ = reply.send(self.compact(revision, failed));
                }
            }
        }
        self.commit(txns, replies, failed);
    }

    fn commit(
        &mut self,
        txns: Vec<Txn>,
        replies: Vec<oneshot::Sender<Result<TxnResponse>>>,
        failed: &mut Option<StoreError>,
    ) {
        if txns.is_empty() {
            return;
        }
        let log = &mut self.log;
        let result = match failed {
            Some(err) => Err(err.clone()),
            None => self.mem.write(txns, |batches| {
                log.encoder.clear();
                log.encoder.batches(batches.iter().map(|batch| &**batch));
                log.append().inspect_err(|err| *failed = Some(stopped(err)))
            }),
        };
        match result {
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

    fn compact(&mut self, revision: Revision, failed: &mut Option<StoreError>) -> Result<()> {
        if let Some(err) = failed {
            return Err(err.clone());
        }
        let log = &mut self.log;
        self.mem.compact_with(revision, || {
            log.encoder.clear();
            log.encoder.compaction(revision);
            log.append().inspect_err(|err| *failed = Some(stopped(err)))
        })
    }

    fn compact_on_schedule(&mut self, compactor: &mut Compactor, failed: &mut Option<StoreError>) {
        let (current, compacted) = self.mem.revisions();
        if let Some(target) = compactor.tick(current, compacted) {
            match self.compact(target, failed) {
                Ok(()) => tracing::debug!(revision = target, "compacted"),
                Err(err) => tracing::warn!(error = %err, revision = target, "compaction failed"),
            }
        }
    }

    /// Once the log outgrew the last snapshot, start the next segment and write a snapshot of
    /// everything before it on another thread; the writer goes on meanwhile.
    fn snapshot_if_due(&mut self) {
        if let Some(snapshot) = self.log.snapshotting.take_if(|snapshot| snapshot.is_finished()) {
            match snapshot.join() {
                Ok(Ok(size)) => self.log.snapshot_size = size,
                Ok(Err(err)) => tracing::warn!(error = %err, "writing a snapshot of the store failed; the log is kept"),
                Err(_) => tracing::warn!("the store's snapshot thread panicked; the log is kept"),
            }
        }
        if self.log.snapshotting.is_some()
            || self.log.since_snapshot < self.snapshot_min_log.max(self.log.snapshot_size)
        {
            return;
        }
        let image = self.mem.image();
        let file = match files::open_segment(&self.dir, image.revision) {
            Ok((file, _)) => file,
            Err(err) => {
                tracing::warn!(error = %err, "cannot start a new segment of the store's log; no snapshot yet");
                return;
            }
        };
        self.log.file = file;
        self.log.since_snapshot = 0;
        let dir = self.dir.clone();
        let spawned = std::thread::Builder::new().name("store-snapshot".into()).spawn(move || {
            let batches = image.batches.iter().map(|batch| &**batch);
            let size = files::write_snapshot(&dir, image.revision, image.compacted, batches)?;
            files::remove_covered(&dir, image.revision)?;
            Ok(size)
        });
        match spawned {
            Ok(handle) => self.log.snapshotting = Some(handle),
            Err(err) => tracing::warn!(error = %err, "cannot start the store's snapshot thread"),
        }
    }
}

/// The error every write gets once an append failed.
fn stopped(err: &StoreError) -> StoreError {
    StoreError::Backend(format!("the store stopped writing after a disk error ({err}); restart Rampart"))
}

/// The whole state of a store at one revision, for a snapshot.
pub(crate) struct Image {
    pub(crate) revision: Revision,
    pub(crate) compacted: Revision,
    pub(crate) batches: Vec<Arc<Batch>>,
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::StoreExt;

    fn options(snapshot_min_log: u64) -> EmbeddedOptions {
        EmbeddedOptions { compaction: None, snapshot_min_log, ..EmbeddedOptions::default() }
    }

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// The data holds Secrets: no one else may read it, from its first byte (the files are
    /// created with their mode, not changed after), and a file found open to others is closed.
    #[tokio::test]
    async fn the_directory_and_its_files_are_the_owners_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("store");
        EmbeddedStore::open(&dir).unwrap().put("/a", Bytes::from_static(b"secret")).await.unwrap();
        assert_eq!(mode(&dir), 0o700);
        let (_, segment) = files::segments(&dir).unwrap().pop().unwrap();
        for file in [dir.join(files::FORMAT_FILE), dir.join("LOCK"), segment.clone()] {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        std::fs::set_permissions(&segment, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let store = EmbeddedStore::open(&dir).unwrap();
        assert_eq!((mode(&dir), mode(&segment)), (0o700, 0o600));
        assert_eq!(store.get("/a").await.unwrap().map(|kv| kv.value), Some(Bytes::from_static(b"secret")));
    }

    #[tokio::test]
    async fn a_torn_tail_is_discarded_and_writing_goes_on_after_it() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = EmbeddedStore::open(dir.path()).unwrap();
            store.put("/a", Bytes::from_static(b"1")).await.unwrap();
            store.put("/b", Bytes::from_static(b"2")).await.unwrap();
        }
        let (_, segment) = files::segments(dir.path()).unwrap().pop().unwrap();
        let whole = std::fs::metadata(&segment).unwrap().len();
        // The last record cut in the middle, as a crash during its write leaves it.
        truncate(&segment, whole - 3).unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(store.current_revision().await.unwrap(), 1);
        assert!(store.get("/b").await.unwrap().is_none(), "the torn write is gone");
        assert_eq!(store.put("/c", Bytes::from_static(b"3")).await.unwrap(), 2);
        drop(store);
        let store = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(store.get("/c").await.unwrap().unwrap().mod_revision, 2, "written after the cut, kept");
    }

    #[tokio::test]
    async fn a_snapshot_replaces_the_log_and_a_restart_reads_both() {
        let dir = tempfile::tempdir().unwrap();
        let value = Bytes::from(vec![b'v'; 1000]);
        {
            let store = EmbeddedStore::open_with(dir.path(), options(10_000)).unwrap();
            for i in 0..100 {
                store.put(&format!("/k/{i:03}"), value.clone()).await.unwrap();
            }
            store.compact(50).await.unwrap();
            store.delete("/k/000", 0).await.unwrap();
        }
        let segments = files::segments(dir.path()).unwrap();
        assert!(dir.path().join("snapshot").exists(), "a snapshot was written");
        assert!(segments.len() <= 2, "covered segments are removed: {segments:?}");
        let store = EmbeddedStore::open_with(dir.path(), options(10_000)).unwrap();
        assert_eq!(store.current_revision().await.unwrap(), 101);
        let all = store.list("/k/").await.unwrap();
        assert_eq!(all.count, 99);
        let at = store.range(RangeRequest { revision: 60, ..RangeRequest::prefix("/k/") }).await.unwrap();
        assert_eq!(at.count, 60, "history after the compaction is kept");
        let err = store.range(RangeRequest { revision: 49, ..RangeRequest::prefix("/k/") }).await.unwrap_err();
        assert_eq!(err, StoreError::Compacted { requested: 49, compact_revision: 50 });
    }
}
