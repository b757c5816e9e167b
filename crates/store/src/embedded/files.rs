//! The embedded store's directory in format 2, and the file I/O on it:
//! - `FORMAT`: `rampart-store-format 2` (written atomically: a temporary file, fsynced, renamed);
//! - `LOCK`: locked (`flock`) by the process that has the store open; the lock dies with it;
//! - `snapshot`: the whole store at a revision (its retained history included), as framed
//!   records (`wal.rs`): written to `snapshot.tmp`, fsynced, renamed;
//! - `wal-<revision>`: the write-ahead log segment of every record after the snapshot at that
//!   revision (20 digits, so names sort by revision). Only the newest segment is appended to.
//!
//! The directory and its files are their owner's only (0700, 0600) from the moment they are
//! created, since the data holds Secrets and IAM state; ones found open to others are tightened
//! at open.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use super::wal::{Encoder, Record, Records, Stop};
use crate::feed::Batch;
use crate::{Result, Revision, StoreError};

pub(crate) const FORMAT_FILE: &str = "FORMAT";
const FORMAT_WORD: &str = "rampart-store-format";
const LOCK_FILE: &str = "LOCK";
const SNAPSHOT_FILE: &str = "snapshot";
const SNAPSHOT_TMP: &str = "snapshot.tmp";
const SEGMENT_PREFIX: &str = "wal-";

/// A snapshot record holds batches up to about this many bytes.
const SNAPSHOT_CHUNK: usize = 1 << 20;

/// A new file only its owner may read and write (0600 from its first byte), truncated.
fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)
}

/// Take away what others may do with `path` (a directory keeps its owner's bits).
fn tighten(path: &Path) -> io::Result<()> {
    let mode = fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o700))?;
    }
    Ok(())
}

pub(crate) fn io_error(what: &str, path: &Path, err: io::Error) -> StoreError {
    StoreError::Backend(format!("cannot {what} {}: {err}", path.display()))
}

/// The format `dir` says it holds; `None` if it has no `FORMAT` file.
pub(crate) fn read_format(dir: &Path) -> Result<Option<u64>> {
    let path = dir.join(FORMAT_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            text.strip_prefix(FORMAT_WORD).and_then(|rest| rest.trim().parse::<u64>().ok()).map(Some).ok_or_else(|| {
                StoreError::Incompatible(format!("{} is not a Rampart store format file", path.display()))
            })
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(io_error("read", &path, err)),
    }
}

/// Whether `dir` holds any store file besides `FORMAT` and `LOCK` (of either format).
pub(crate) fn holds_data(dir: &Path, legacy_file: &str) -> Result<bool> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(io_error("read", dir, err)),
    };
    for entry in entries {
        let name = entry.map_err(|err| io_error("read", dir, err))?.file_name();
        let name = name.to_string_lossy();
        if name == legacy_file || name == SNAPSHOT_FILE || name.starts_with(SEGMENT_PREFIX) {
            return Ok(true);
        }
    }
    Ok(false)
}

pub(crate) fn write_format(dir: &Path, version: u64) -> Result<()> {
    let path = dir.join(FORMAT_FILE);
    let tmp = dir.join(format!("{FORMAT_FILE}.tmp"));
    let write = || -> io::Result<()> {
        let mut file = create_private(&tmp)?;
        writeln!(file, "{FORMAT_WORD} {version}")?;
        file.sync_all()?;
        fs::rename(&tmp, &path)?;
        sync_dir(dir)
    };
    write().map_err(|err| io_error("write", &path, err))
}

/// Create `dir` if needed and lock it; `None` if another process holds the lock.
pub(crate) fn lock(dir: &Path) -> Result<Option<File>> {
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|err| io_error("create", dir, err))?;
    // A store directory (and its files) found open to others is made its owner's only.
    let entries = fs::read_dir(dir).map_err(|err| io_error("read", dir, err))?;
    for path in std::iter::once(Ok(dir.to_path_buf())).chain(entries.map(|e| e.map(|e| e.path()))) {
        let path = path.map_err(|err| io_error("read", dir, err))?;
        tighten(&path).map_err(|err| io_error("restrict", &path, err))?;
    }
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|err| io_error("open", &path, err))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(err)) => Err(io_error("lock", &path, err)),
    }
}

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// What the files of a store hold: batches in revision order, the revision, the compaction
/// revision.
#[derive(Default)]
pub(crate) struct Content {
    pub(crate) batches: Vec<Batch>,
    pub(crate) revision: Revision,
    pub(crate) compacted: Revision,
}

/// Write a snapshot of `content`-like data atomically; returns its size in bytes.
pub(crate) fn write_snapshot<'a>(
    dir: &Path,
    revision: Revision,
    compacted: Revision,
    batches: impl Iterator<Item = &'a Batch>,
) -> Result<u64> {
    let path = dir.join(SNAPSHOT_FILE);
    let tmp = dir.join(SNAPSHOT_TMP);
    let write = || -> io::Result<u64> {
        let mut file = create_private(&tmp)?;
        let mut encoder = Encoder::default();
        let mut size = 0u64;
        encoder.snapshot(revision, compacted);
        let mut chunk: Vec<&Batch> = Vec::new();
        let mut chunk_bytes = 0;
        let mut flush = |encoder: &mut Encoder, chunk: &mut Vec<&Batch>, end: bool| -> io::Result<()> {
            if !chunk.is_empty() {
                encoder.batches(chunk.drain(..));
            }
            if end {
                encoder.end();
            }
            file.write_all(encoder.bytes())?;
            size += encoder.bytes().len() as u64;
            encoder.clear();
            Ok(())
        };
        for batch in batches {
            chunk_bytes +=
                batch.changes.iter().map(|change| change.key.len() + change.kv.value.len() + 32).sum::<usize>();
            chunk.push(batch);
            if chunk_bytes >= SNAPSHOT_CHUNK {
                flush(&mut encoder, &mut chunk, false)?;
                chunk_bytes = 0;
            }
        }
        flush(&mut encoder, &mut chunk, true)?;
        file.sync_all()?;
        fs::rename(&tmp, &path)?;
        sync_dir(dir)?;
        Ok(size)
    };
    write().map_err(|err| io_error("write", &path, err))
}

/// The snapshot of `dir`, if it has one, and its size.
pub(crate) fn read_snapshot(dir: &Path) -> Result<Option<(Content, u64)>> {
    let path = dir.join(SNAPSHOT_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(io_error("read", &path, err)),
    };
    // A snapshot is renamed into place only once complete and fsynced: any flaw is damage.
    let damaged = |what: &str| {
        StoreError::Backend(format!("{} is damaged ({what}); restore the data directory from a backup", path.display()))
    };
    let mut records = Records::new(&bytes);
    let mut content = match records.next_record() {
        Ok(Some(Record::Snapshot { revision, compacted })) => Content { batches: Vec::new(), revision, compacted },
        _ => return Err(damaged("it does not start with a snapshot header")),
    };
    loop {
        match records.next_record() {
            Ok(Some(Record::Batches(batches))) => content.batches.extend(batches),
            Ok(Some(Record::End)) if records.valid == bytes.len() => return Ok(Some((content, bytes.len() as u64))),
            Ok(_) => return Err(damaged("it ends early")),
            Err(Stop::Torn) => return Err(damaged(&format!("a checksum fails at byte {}", records.valid))),
            Err(Stop::Undecodable) => return Err(damaged(&format!("an unknown record at byte {}", records.valid))),
        }
    }
}

/// The log segments of `dir`, by the revision they start after.
pub(crate) fn segments(dir: &Path) -> Result<Vec<(Revision, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(|err| io_error("read", dir, err))? {
        let entry = entry.map_err(|err| io_error("read", dir, err))?;
        let name = entry.file_name();
        if let Some(start) = name.to_str().and_then(|name| name.strip_prefix(SEGMENT_PREFIX))
            && let Ok(start) = start.parse::<Revision>()
        {
            found.push((start, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Open (creating it if needed) the segment for the records after `start`, for appending;
/// a new one is made durable in the directory before anything is written to it.
pub(crate) fn open_segment(dir: &Path, start: Revision) -> Result<(File, PathBuf)> {
    let path = dir.join(format!("{SEGMENT_PREFIX}{start:020}"));
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(|err| io_error("open", &path, err))?;
    sync_dir(dir).map_err(|err| io_error("sync", dir, err))?;
    Ok((file, path))
}

/// Remove what a snapshot at `revision` makes useless: every segment whose successor starts
/// at or before `revision` (all its records are in the snapshot), and a leftover
/// `snapshot.tmp`.
pub(crate) fn remove_covered(dir: &Path, revision: Revision) -> Result<()> {
    let segments = segments(dir)?;
    for pair in segments.windows(2) {
        if pair[1].0 <= revision {
            fs::remove_file(&pair[0].1).map_err(|err| io_error("remove", &pair[0].1, err))?;
        }
    }
    let tmp = dir.join(SNAPSHOT_TMP);
    match fs::remove_file(&tmp) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(io_error("remove", &tmp, err)),
        _ => Ok(()),
    }
}
