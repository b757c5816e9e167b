//! Format 1, read once to migrate it: a [redb] database, `data.redb`, whose table `history`
//! holds one row per version of a key, keyed by (revision, key), and table `meta` the format,
//! the current revision and the compaction revision. [`read`] returns its content as the
//! batches, revision and compaction revision a snapshot holds; nothing here writes.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use redb::{Database, ReadableDatabase, TableDefinition};

use crate::feed::{Batch, Change, Stored};
use crate::{EventKind, Result, Revision, StoreError};

/// The format-1 database's file name.
pub(crate) const DATA_FILE: &str = "data.redb";
pub(crate) const FORMAT: u64 = 1;

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const HISTORY: TableDefinition<(u64, &str), &[u8]> = TableDefinition::new("history");
const META_FORMAT: &str = "format";
const META_REVISION: &str = "revision";
const META_COMPACTED: &str = "compact_revision";
const PUT: u8 = 1;
const DELETE: u8 = 2;

/// What a format-1 store held.
pub(crate) struct Content {
    pub(crate) batches: Vec<Batch>,
    pub(crate) revision: Revision,
    pub(crate) compacted: Revision,
}

/// Read the format-1 store in `dir`.
pub(crate) fn read(dir: &Path) -> Result<Content> {
    let path = dir.join(DATA_FILE);
    let err = |e: redb::Error| StoreError::Backend(format!("{}: {e}", path.display()));
    let db = Database::open(&path).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => super::in_use(dir),
        redb::DatabaseError::UpgradeRequired(version) => StoreError::Incompatible(format!(
            "{} is in redb file format {version}, which this version of Rampart cannot read",
            path.display()
        )),
        e => err(e.into()),
    })?;
    let read = db.begin_read().map_err(|e| err(e.into()))?;
    let meta = read.open_table(META).map_err(|e| err(e.into()))?;
    let get =
        |name: &str| -> Result<u64> { Ok(meta.get(name).map_err(|e| err(e.into()))?.map_or(0, |value| value.value())) };
    let found = get(META_FORMAT)?;
    if found != FORMAT {
        return Err(super::incompatible(dir, found));
    }
    let (revision, compacted) = (get(META_REVISION)? as Revision, get(META_COMPACTED)? as Revision);
    let history = read.open_table(HISTORY).map_err(|e| err(e.into()))?;
    let mut batches: Vec<Batch> = Vec::new();
    let mut positions: Vec<u32> = Vec::new();
    for row in history.range::<(u64, &str)>(..).map_err(|e| err(e.into()))? {
        let (key, value) = row.map_err(|e| err(e.into()))?;
        let (row_revision, key) = key.value();
        let (position, change) = decode(row_revision as Revision, key, value.value()).ok_or_else(|| {
            StoreError::Backend(format!("{}: corrupt row {key} at revision {row_revision}", path.display()))
        })?;
        match batches.last_mut() {
            Some(batch) if batch.revision == row_revision as Revision => batch.changes.push(change),
            _ => {
                sort_batch(batches.last_mut(), &mut positions);
                batches.push(Batch { revision: row_revision as Revision, changes: vec![change] });
            }
        }
        positions.push(position);
    }
    sort_batch(batches.last_mut(), &mut positions);
    Ok(Content { batches, revision, compacted })
}

/// Put the changes of a batch back in the order its transaction wrote them.
fn sort_batch(batch: Option<&mut Batch>, positions: &mut Vec<u32>) {
    if let Some(batch) = batch
        && batch.changes.len() > 1
    {
        let mut ordered: Vec<(u32, Change)> = positions.drain(..).zip(batch.changes.drain(..)).collect();
        ordered.sort_by_key(|(position, _)| *position);
        batch.changes = ordered.into_iter().map(|(_, change)| change).collect();
    }
    positions.clear();
}

/// A history row: kind, position in the transaction, and for a put the create revision,
/// version and value (little-endian integers).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_truncated_row_is_refused() {
        let mut row = vec![PUT];
        row.extend_from_slice(&2u32.to_le_bytes());
        row.extend_from_slice(&3i64.to_le_bytes());
        row.extend_from_slice(&4i64.to_le_bytes());
        row.extend_from_slice(b"v");
        let (position, change) = decode(9, "/k", &row).unwrap();
        assert_eq!(
            (position, change.kv.create_revision, change.kv.version, &change.kv.value[..]),
            (2, 3, 4, &b"v"[..])
        );
        assert_eq!(decode(9, "/k", &row[..10]), None);
        assert!(decode(9, "/k", &[DELETE, 0, 0, 0, 0]).is_some_and(|(_, c)| c.kind == EventKind::Delete));
    }
}
