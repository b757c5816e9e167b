//! Revisioned key-value storage in etcd's model, so that the etcd backend is a drop-in.
//!
//! This crate owns the [`Store`] trait and its backends. The model is etcd's v3 API, reduced to
//! what an API server needs:
//! - one global, monotonically increasing revision; every transaction that writes bumps it by
//!   exactly one (a transaction that writes nothing leaves it alone);
//! - each key carries `create_revision`, `mod_revision` (a Kubernetes `resourceVersion`) and a
//!   per-key `version`; a deleted key is gone (its history is kept until compaction);
//! - [`Store::range`] reads a key, a prefix or a key range, optionally at a past revision, with a
//!   limit (`more` says whether keys were left out);
//! - [`Store::txn`] compares revisions and then applies puts and deletes atomically: optimistic
//!   concurrency (a Kubernetes 409 Conflict) is a failed compare;
//! - [`Store::watch`] streams every change at or after a start revision; asking for history that
//!   was compacted fails with [`StoreError::Compacted`] (a Kubernetes 410 Gone);
//! - [`Store::compact`] forgets history before a revision.
//!
//! Keys are UTF-8 paths: `/registry/<group>/<resource>/<namespace>/<name>` for Kubernetes
//! objects (under a per-cluster prefix), `/iam/<account>/...` for IAM state. Values are opaque
//! bytes (JSON for everything Rampart stores).
//!
//! Backends: [`MemStore`] (in memory, the reference), [`EmbeddedStore`] (durable, on disk, the
//! default of `rampart serve`), and [`EtcdStore`] (several replicas on one etcd cluster). Every backend passes the same
//! conformance suite (`tests/conformance/`). [`spawn_compactor`] compacts any backend on a
//! schedule, as kube-apiserver does; [`follow`] keeps a consumer's view of a prefix current.
//!
//! An acknowledged write is durable before `txn` returns, in every persistent backend. This
//! crate must never interpret values, and its async calls never block on disk I/O (only
//! `EmbeddedStore::open`, at startup, and dropping its last handle do).

mod compaction;
mod embedded;
mod etcd;
mod feed;
mod follow;
mod mem;

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

pub use compaction::{COMPACT_REV_KEY, CompactionPolicy, spawn_compactor};
pub use embedded::{EmbeddedOptions, EmbeddedStore, FORMAT_VERSION};
pub use etcd::{EtcdOptions, EtcdStore, EtcdTls};
pub use follow::{Follower, follow};
pub use mem::MemStore;

/// A store revision. Revisions only grow, by one per writing transaction; an empty store is at
/// revision 0 in [`MemStore`] and [`EmbeddedStore`] and at 1 in etcd, so callers never assume a
/// number. 0 means "none" (in a compare: the key does not exist; in a range or watch: the
/// current revision).
pub type Revision = i64;

/// One key at one revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// The revision of the write that created this incarnation of the key.
    pub create_revision: Revision,
    /// The revision of the last write to the key (a Kubernetes `resourceVersion`).
    pub mod_revision: Revision,
    /// How many times the key was written since it was created (1 after creation).
    pub version: i64,
}

/// Which keys a range or watch covers, starting at its `key`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyRange {
    /// Exactly `key`.
    Single,
    /// Every key that starts with `key`.
    Prefix,
    /// Every key `k` with `key <= k < end`.
    UpTo(String),
}

impl KeyRange {
    /// Whether `candidate` falls in the range that starts at `key`.
    pub fn contains(&self, key: &str, candidate: &str) -> bool {
        match self {
            KeyRange::Single => candidate == key,
            KeyRange::Prefix => candidate.starts_with(key),
            KeyRange::UpTo(end) => candidate >= key && candidate < end.as_str(),
        }
    }
}

/// A read of one key, a prefix or a key range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeRequest {
    pub key: String,
    pub range: KeyRange,
    /// At most this many keys (0: no limit).
    pub limit: usize,
    /// Read the store as it was at this revision (0: the current revision).
    pub revision: Revision,
    /// Only count the keys, return none.
    pub count_only: bool,
}

impl RangeRequest {
    pub fn key(key: impl Into<String>) -> Self {
        RangeRequest { key: key.into(), range: KeyRange::Single, limit: 0, revision: 0, count_only: false }
    }

    pub fn prefix(prefix: impl Into<String>) -> Self {
        RangeRequest { key: prefix.into(), range: KeyRange::Prefix, limit: 0, revision: 0, count_only: false }
    }
}

/// What a range read found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeResponse {
    /// The keys found, in key order, at most `limit` of them.
    pub kvs: Vec<KeyValue>,
    /// Whether keys beyond `limit` exist.
    pub more: bool,
    /// How many keys the range holds in all (ignoring `limit`).
    pub count: usize,
    /// The revision the read was served at.
    pub revision: Revision,
}

/// How a [`Compare`] relates the stored value to the given one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Equal,
    NotEqual,
    Greater,
    Less,
}

/// A condition of a transaction on one key. A missing key has revisions and version 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compare {
    ModRevision(String, CompareOp, Revision),
    CreateRevision(String, CompareOp, Revision),
    Version(String, CompareOp, i64),
}

/// A write (or read) inside a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put {
        key: String,
        value: Bytes,
    },
    /// Deletes every key in the range (a missing key is not an error).
    Delete {
        key: String,
        range: KeyRange,
    },
    Range(RangeRequest),
}

impl Op {
    pub fn put(key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        Op::Put { key: key.into(), value: value.into() }
    }

    pub fn delete(key: impl Into<String>) -> Self {
        Op::Delete { key: key.into(), range: KeyRange::Single }
    }
}

/// If every compare holds, apply `success`, else `failure`, atomically.
///
/// As in etcd, a branch may not write a key twice (two puts, or a put and a delete that covers
/// it): such a transaction fails with [`StoreError::InvalidRequest`]. A [`Op::Range`] sees the
/// writes of the ops before it in the same transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Txn {
    pub compare: Vec<Compare>,
    pub success: Vec<Op>,
    pub failure: Vec<Op>,
}

/// The result of one [`Op`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpResponse {
    /// The key as it was before the put, if it existed.
    Put {
        prev_kv: Option<KeyValue>,
    },
    /// The keys as they were before they were deleted.
    Delete {
        deleted: Vec<KeyValue>,
    },
    Range(RangeResponse),
}

/// The result of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnResponse {
    /// Whether the compares held (and `success` ran).
    pub succeeded: bool,
    /// The store's revision after the transaction (unchanged if it wrote nothing).
    pub revision: Revision,
    pub responses: Vec<OpResponse>,
}

/// A watch on a key, prefix or range from a revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchRequest {
    pub key: String,
    pub range: KeyRange,
    /// The first revision to report (0: only changes after the current revision). A start at
    /// or below the compaction revision fails with [`StoreError::Compacted`] (etcd alone still
    /// accepts a start equal to it); a start in the future waits for that revision.
    pub start_revision: Revision,
    /// Attach the previous value to each event.
    pub prev_kv: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change. For a delete, `kv` holds the key, an empty value and `mod_revision` = the
/// revision of the delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub kv: KeyValue,
    pub prev_kv: Option<KeyValue>,
}

/// What a watch yields: the events of one revision at a time, in revision order.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<Vec<Event>, StoreError>> + Send>>;

/// Everything a store operation can fail with.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    /// The revision asked for was compacted away (Kubernetes: 410 Gone, "too old resource version").
    /// `requested` is the revision read at, or a watch's start revision (a Kubernetes watch "from
    /// resourceVersion N" starts at N + 1); `compact_revision` is the oldest revision still kept.
    #[error("required revision {requested} has been compacted (oldest available is {compact_revision})")]
    Compacted { requested: Revision, compact_revision: Revision },
    /// The revision asked for is in the future.
    #[error("required revision {requested} is a future revision (current is {current})")]
    FutureRevision { requested: Revision, current: Revision },
    /// A watcher fell so far behind that events were dropped; it must re-list and watch again.
    #[error("watcher fell behind and lost events; list again and watch from the new revision")]
    WatcherLagged,
    /// The backend failed (disk, network, corruption). The message says what and where.
    #[error("storage backend: {0}")]
    Backend(String),
    /// The backend cannot answer now (etcd without a leader or quorum, or not answering within
    /// the request timeout); nothing was written, or a write's outcome is unknown and the
    /// message says so. Retrying later may succeed (Kubernetes: 503/504 with Retry-After).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The data on disk was written by a version of Rampart this one cannot read.
    #[error("incompatible data: {0}")]
    Incompatible(String),
    /// The request itself is malformed (as etcd: the same key written twice in one transaction).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A revisioned key-value store in etcd's model. See the crate documentation.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse>;

    async fn txn(&self, txn: Txn) -> Result<TxnResponse>;

    async fn watch(&self, request: WatchRequest) -> Result<WatchStream>;

    /// Forget the history of every revision before `revision` (reads and watches at an older
    /// revision then fail with [`StoreError::Compacted`]).
    async fn compact(&self, revision: Revision) -> Result<()>;

    /// The current revision (the revision of the last write).
    async fn current_revision(&self) -> Result<Revision>;
}

/// The conveniences every caller wants, on top of [`Store`].
#[async_trait]
pub trait StoreExt: Store {
    /// The current value of `key`.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        Ok(self.range(RangeRequest::key(key)).await?.kvs.into_iter().next())
    }

    /// Put `key` unconditionally; returns the new revision.
    async fn put(&self, key: &str, value: Bytes) -> Result<Revision> {
        let txn = Txn { success: vec![Op::put(key, value)], ..Txn::default() };
        Ok(self.txn(txn).await?.revision)
    }

    /// Create `key` if it does not exist; `Ok(None)` if it does.
    async fn create(&self, key: &str, value: Bytes) -> Result<Option<Revision>> {
        let txn = Txn {
            compare: vec![Compare::ModRevision(key.to_string(), CompareOp::Equal, 0)],
            success: vec![Op::put(key, value)],
            failure: vec![],
        };
        let resp = self.txn(txn).await?;
        Ok(resp.succeeded.then_some(resp.revision))
    }

    /// Replace `key` if its mod revision is still `expected`; `Ok(None)` if it changed or is gone.
    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<Option<Revision>> {
        let txn = Txn {
            compare: vec![Compare::ModRevision(key.to_string(), CompareOp::Equal, expected)],
            success: vec![Op::put(key, value)],
            failure: vec![],
        };
        let resp = self.txn(txn).await?;
        Ok(resp.succeeded.then_some(resp.revision))
    }

    /// Delete `key` if its mod revision is still `expected` (0: whatever it is). Returns the
    /// deleted value and the revision of the delete; `Ok(None)` if it changed or is gone.
    async fn delete(&self, key: &str, expected: Revision) -> Result<Option<(KeyValue, Revision)>> {
        let compare = if expected == 0 {
            vec![Compare::ModRevision(key.to_string(), CompareOp::NotEqual, 0)]
        } else {
            vec![Compare::ModRevision(key.to_string(), CompareOp::Equal, expected)]
        };
        let txn = Txn { compare, success: vec![Op::delete(key)], failure: vec![] };
        let resp = self.txn(txn).await?;
        if !resp.succeeded {
            return Ok(None);
        }
        match resp.responses.into_iter().next() {
            Some(OpResponse::Delete { deleted }) => Ok(deleted.into_iter().next().map(|kv| (kv, resp.revision))),
            _ => Ok(None),
        }
    }

    /// Every key under `prefix`, at the current revision.
    async fn list(&self, prefix: &str) -> Result<RangeResponse> {
        self.range(RangeRequest::prefix(prefix)).await
    }
}

impl<S: Store + ?Sized> StoreExt for S {}

#[async_trait]
impl<S: Store + ?Sized> Store for std::sync::Arc<S> {
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        (**self).range(request).await
    }
    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        (**self).txn(txn).await
    }
    async fn watch(&self, request: WatchRequest) -> Result<WatchStream> {
        (**self).watch(request).await
    }
    async fn compact(&self, revision: Revision) -> Result<()> {
        (**self).compact(revision).await
    }
    async fn current_revision(&self) -> Result<Revision> {
        (**self).current_revision().await
    }
}
