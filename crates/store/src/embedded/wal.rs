//! The records of the embedded store's files (format 2), encoded and decoded; no I/O.
//!
//! Both the write-ahead log and the snapshot are sequences of framed records:
//! `[payload length: u32][CRC-32 of the payload: u32][payload]`, integers little-endian. A
//! payload starts with its kind:
//! - [`BATCHES`]: the batches of one group commit (or a slice of a snapshot): their count, then
//!   per batch its revision and changes, per change its kind, key, and for a put the create
//!   revision, version and value;
//! - [`COMPACTION`]: the store was compacted at a revision;
//! - [`SNAPSHOT`]: the first record of a snapshot: the revision and compaction revision it holds;
//! - [`END`]: the last record of a snapshot (a snapshot without it is incomplete).
//!
//! [`Records`] walks a file's bytes and stops at the first record that is cut short or whose
//! checksum does not match: that is where a write torn by a crash begins, and what follows it
//! was never acknowledged. The CRC is `crc32fast`'s (IEEE); nothing here is written by hand but
//! the framing, which no crate gives in this shape.

use std::sync::Arc;

use bytes::Bytes;

use crate::feed::{Batch, Change, Stored};
use crate::{EventKind, Revision};

pub(crate) const BATCHES: u8 = 1;
pub(crate) const COMPACTION: u8 = 2;
pub(crate) const SNAPSHOT: u8 = 3;
pub(crate) const END: u8 = 4;

const HEADER: usize = 8;
const PUT: u8 = 1;
const DELETE: u8 = 2;

/// One decoded record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Record {
    Batches(Vec<Batch>),
    Compaction(Revision),
    Snapshot { revision: Revision, compacted: Revision },
    End,
}

/// Appends framed records to a buffer.
#[derive(Default)]
pub(crate) struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf
    }

    pub(crate) fn clear(&mut self) {
        self.buf.clear();
    }

    /// One record holding `batches`.
    pub(crate) fn batches<'a>(&mut self, batches: impl ExactSizeIterator<Item = &'a Batch>) {
        let start = self.begin(BATCHES);
        self.buf.extend_from_slice(&(batches.len() as u32).to_le_bytes());
        for batch in batches {
            self.buf.extend_from_slice(&batch.revision.to_le_bytes());
            self.buf.extend_from_slice(&(batch.changes.len() as u32).to_le_bytes());
            for change in &batch.changes {
                let put = change.kind == EventKind::Put;
                self.buf.push(if put { PUT } else { DELETE });
                self.buf.extend_from_slice(&(change.key.len() as u32).to_le_bytes());
                self.buf.extend_from_slice(change.key.as_bytes());
                if put {
                    self.buf.extend_from_slice(&change.kv.create_revision.to_le_bytes());
                    self.buf.extend_from_slice(&change.kv.version.to_le_bytes());
                    self.buf.extend_from_slice(&(change.kv.value.len() as u32).to_le_bytes());
                    self.buf.extend_from_slice(&change.kv.value);
                }
            }
        }
        self.finish(start);
    }

    pub(crate) fn compaction(&mut self, revision: Revision) {
        let start = self.begin(COMPACTION);
        self.buf.extend_from_slice(&revision.to_le_bytes());
        self.finish(start);
    }

    pub(crate) fn snapshot(&mut self, revision: Revision, compacted: Revision) {
        let start = self.begin(SNAPSHOT);
        self.buf.extend_from_slice(&revision.to_le_bytes());
        self.buf.extend_from_slice(&compacted.to_le_bytes());
        self.finish(start);
    }

    pub(crate) fn end(&mut self) {
        let start = self.begin(END);
        self.finish(start);
    }

    fn begin(&mut self, kind: u8) -> usize {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; HEADER]);
        self.buf.push(kind);
        start
    }

    fn finish(&mut self, start: usize) {
        let payload = &self.buf[start + HEADER..];
        let (len, crc) = ((payload.len() as u32).to_le_bytes(), crc32fast::hash(payload).to_le_bytes());
        self.buf[start..start + 4].copy_from_slice(&len);
        self.buf[start + 4..start + HEADER].copy_from_slice(&crc);
    }
}

/// The records of a file's bytes, in order, up to the first torn or corrupt one.
pub(crate) struct Records<'a> {
    bytes: &'a [u8],
    /// How many bytes the records returned so far cover.
    pub(crate) valid: usize,
}

/// Why reading stopped before the end of the bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// A record cut short or failing its checksum: a torn write (or a damaged file).
    Torn,
    /// A record whose checksum holds but whose content makes no sense: written by another
    /// version, or a bug; never a torn write.
    Undecodable,
}

impl<'a> Records<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Records { bytes, valid: 0 }
    }

    /// The next record, `Ok(None)` at the clean end of the bytes.
    pub(crate) fn next_record(&mut self) -> Result<Option<Record>, Stop> {
        let rest = &self.bytes[self.valid..];
        if rest.is_empty() {
            return Ok(None);
        }
        let (Some((len, rest)), true) = (rest.split_first_chunk::<4>(), rest.len() >= HEADER) else {
            return Err(Stop::Torn);
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len == 0 {
            // Every record has at least its kind: zeros are a tail whose data never reached disk.
            return Err(Stop::Torn);
        }
        let (crc, rest) = rest.split_first_chunk::<4>().ok_or(Stop::Torn)?;
        let payload = rest.get(..len).ok_or(Stop::Torn)?;
        if crc32fast::hash(payload) != u32::from_le_bytes(*crc) {
            return Err(Stop::Torn);
        }
        let record = decode(payload).ok_or(Stop::Undecodable)?;
        self.valid += HEADER + len;
        Ok(Some(record))
    }
}

fn decode(payload: &[u8]) -> Option<Record> {
    let mut cursor = Cursor(payload);
    let record = match cursor.u8()? {
        BATCHES => {
            let count = cursor.u32()?;
            let mut batches = Vec::with_capacity(count.min(1 << 16) as usize);
            for _ in 0..count {
                let revision = cursor.i64()?;
                let changes = cursor.u32()?;
                let mut batch = Batch { revision, changes: Vec::with_capacity(changes.min(1 << 16) as usize) };
                for _ in 0..changes {
                    batch.changes.push(cursor.change(revision)?);
                }
                batches.push(batch);
            }
            Record::Batches(batches)
        }
        COMPACTION => Record::Compaction(cursor.i64()?),
        SNAPSHOT => Record::Snapshot { revision: cursor.i64()?, compacted: cursor.i64()? },
        END => Record::End,
        _ => return None,
    };
    cursor.0.is_empty().then_some(record)
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(taken)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn change(&mut self, revision: Revision) -> Option<Change> {
        let kind = self.u8()?;
        let key_len = self.u32()? as usize;
        let key = std::str::from_utf8(self.take(key_len)?).ok()?;
        let mut kv = Stored::tombstone(revision);
        let kind = match kind {
            PUT => {
                kv.create_revision = self.i64()?;
                kv.version = self.i64()?;
                let value_len = self.u32()? as usize;
                // Its own allocation of its exact size: the file's buffer is dropped after loading.
                kv.value = Bytes::copy_from_slice(self.take(value_len)?);
                EventKind::Put
            }
            DELETE => EventKind::Delete,
            _ => return None,
        };
        Some(Change { key: Arc::from(key), kind, kv, prev: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(revision: Revision, key: &str, value: &str) -> Change {
        Change {
            key: Arc::from(key),
            kind: EventKind::Put,
            kv: Stored {
                value: Bytes::copy_from_slice(value.as_bytes()),
                create_revision: 1,
                mod_revision: revision,
                version: revision,
            },
            prev: None,
        }
    }

    fn sample() -> (Encoder, Vec<Record>) {
        let first = Batch { revision: 7, changes: vec![put(7, "/a", "x\0y"), put(7, "/é", "")] };
        let second = Batch {
            revision: 8,
            changes: vec![Change {
                key: Arc::from("/a"),
                kind: EventKind::Delete,
                kv: Stored::tombstone(8),
                prev: None,
            }],
        };
        let mut encoder = Encoder::default();
        encoder.snapshot(8, 3);
        encoder.batches([&first, &second].into_iter());
        encoder.compaction(8);
        encoder.end();
        let expected = vec![
            Record::Snapshot { revision: 8, compacted: 3 },
            Record::Batches(vec![first, second]),
            Record::Compaction(8),
            Record::End,
        ];
        (encoder, expected)
    }

    fn read_all(bytes: &[u8]) -> (Vec<Record>, Option<Stop>, usize) {
        let mut records = Records::new(bytes);
        let mut found = Vec::new();
        loop {
            match records.next_record() {
                Ok(Some(record)) => found.push(record),
                Ok(None) => return (found, None, records.valid),
                Err(stop) => return (found, Some(stop), records.valid),
            }
        }
    }

    #[test]
    fn records_round_trip() {
        let (encoder, expected) = sample();
        let (found, stop, valid) = read_all(encoder.bytes());
        assert_eq!((found, stop, valid), (expected, None, encoder.bytes().len()));
    }

    #[test]
    fn a_torn_tail_ends_the_records_before_it() {
        let (encoder, expected) = sample();
        let bytes = encoder.bytes();
        let whole_three = bytes.len() - (HEADER + 1);
        // Every cut inside the last record leaves the three before it.
        for cut in whole_three + 1..bytes.len() {
            let (found, stop, valid) = read_all(&bytes[..cut]);
            assert_eq!((found.len(), stop, valid), (3, Some(Stop::Torn), whole_three), "cut at {cut}");
        }
        // A flipped byte in the second record's payload stops there.
        let mut damaged = bytes.to_vec();
        damaged[40] ^= 0xff;
        let (found, stop, _) = read_all(&damaged);
        assert_eq!((found.len(), stop), (1, Some(Stop::Torn)));
        assert_eq!(found[0], expected[0]);
        // A zero-filled tail (a crash after the size grew, before the data) is torn too.
        let mut zeros = bytes.to_vec();
        zeros.extend_from_slice(&[0; 64]);
        assert_eq!(read_all(&zeros).1, Some(Stop::Torn));
    }

    #[test]
    fn a_well_framed_record_of_unknown_content_is_not_a_torn_write() {
        let mut encoder = Encoder::default();
        let start = encoder.begin(9);
        encoder.finish(start);
        assert_eq!(read_all(encoder.bytes()).1, Some(Stop::Undecodable));
    }
}
