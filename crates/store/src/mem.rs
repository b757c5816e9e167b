//! The in-memory reference backend: full MVCC history in a `BTreeMap`, watches fed from one
//! broadcast feed. Nothing survives the process on its own; the embedded backend keeps this as
//! its read side and persists every batch before it becomes visible here.
//!
//! Writes are staged on top of the state without changing it (readers keep reading the last
//! committed revision meanwhile), handed to a `persist` hook, and only then committed and
//! published: a durable backend fsyncs in the hook, and a failed hook changes nothing.
//!
//! Memory: each value is copied on write into an allocation of its exact size (so a caller's
//! larger buffer is never kept alive by it), versions carry no key, and the index and the
//! history share each key's one `Arc<str>`.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::broadcast;

use crate::embedded::Image;
use crate::feed::{self, Batch, Change, FeedItem, Stored};
use crate::{
    Compare, CompareOp, EventKind, KeyRange, Op, OpResponse, RangeRequest, RangeResponse, Result, Revision, Store,
    StoreError, Txn, TxnResponse, WatchRequest, WatchStream,
};

/// How many revisions a slow watcher may fall behind the writers before it is told it lagged.
pub(crate) const DEFAULT_WATCH_CAPACITY: usize = 16 * 1024;

/// A history row that compaction removes: the version of `key` written at a revision.
type Removed = (Revision, Arc<str>);

/// A key's versions in revision order; `None` marks a delete.
type Versions = Vec<(Revision, Option<Stored>)>;

/// An in-memory [`Store`]. Cloning shares the same data.
#[derive(Clone)]
pub struct MemStore {
    shared: Arc<Shared>,
}

struct Shared {
    state: RwLock<State>,
    feed: broadcast::Sender<FeedItem>,
    /// Held from staging to publishing, so staged writes are never overtaken.
    writer: Mutex<()>,
}

#[derive(Default)]
struct State {
    revision: Revision,
    compact_revision: Revision,
    keys: BTreeMap<Arc<str>, Versions>,
    /// The batches of every revision after `compact_revision`, oldest first.
    history: VecDeque<Arc<Batch>>,
}

impl Default for MemStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemStore {
    pub fn new() -> Self {
        Self::with_watch_capacity(DEFAULT_WATCH_CAPACITY)
    }

    /// A store whose watchers may fall `capacity` revisions behind before they get
    /// [`StoreError::WatcherLagged`].
    pub fn with_watch_capacity(capacity: usize) -> Self {
        MemStore {
            shared: Arc::new(Shared {
                state: RwLock::new(State::default()),
                feed: feed::channel(capacity),
                writer: Mutex::new(()),
            }),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.shared.state.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.shared.state.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn writer(&self) -> MutexGuard<'_, ()> {
        self.shared.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Apply `txns` in order, each seeing the ones before it, and make them visible together.
    /// `persist` gets the batches written (one per writing transaction, in revision order)
    /// before anything is visible; if it fails, nothing changes and every transaction fails
    /// with its error. A transaction that is itself invalid fails alone, writing nothing.
    pub(crate) fn write(
        &self,
        txns: Vec<Txn>,
        persist: impl FnOnce(&[Arc<Batch>]) -> Result<()>,
    ) -> Result<Vec<Result<TxnResponse>>> {
        let _writer = self.writer();
        let (responses, batches) = {
            let state = self.read();
            let mut overlay = Overlay::new(&state);
            let responses: Vec<_> = txns.into_iter().map(|txn| overlay.apply(txn)).collect();
            (responses, overlay.batches)
        };
        if batches.is_empty() {
            return Ok(responses);
        }
        persist(&batches)?;
        let mut state = self.write_state();
        for batch in batches {
            state.commit(batch.clone());
            // Sent under the lock, so a new watcher sees every batch once, in revision order.
            let _ = self.shared.feed.send(Ok(batch));
        }
        Ok(responses)
    }

    /// Forget history before `revision`. `persist` runs before anything changes in memory; if
    /// it fails, nothing changes.
    pub(crate) fn compact_with(&self, revision: Revision, persist: impl FnOnce() -> Result<()>) -> Result<()> {
        let _writer = self.writer();
        let plan = {
            let state = self.read();
            if revision > state.revision {
                return Err(StoreError::FutureRevision { requested: revision, current: state.revision });
            }
            if revision <= state.compact_revision {
                return Err(StoreError::Compacted { requested: revision, compact_revision: state.compact_revision });
            }
            state.compaction_plan(revision)
        };
        persist()?;
        self.write_state().apply_compaction(revision, &plan);
        Ok(())
    }

    /// Rebuild the state from batches read back from durable storage (their changes without
    /// `prev`, which is derived here), then the revision and compaction point recorded with
    /// them. Only for a store nobody watches yet.
    pub(crate) fn restore(&self, batches: impl IntoIterator<Item = Batch>, revision: Revision, compacted: Revision) {
        let mut state = self.write_state();
        for mut batch in batches {
            for change in &mut batch.changes {
                change.key = state.interned(&change.key);
            }
            if batch.revision <= compacted {
                // Only its versions are kept: its history is gone.
                state.add_versions(&batch);
                state.revision = batch.revision;
                continue;
            }
            for change in &mut batch.changes {
                change.prev = state.latest(&change.key).cloned();
            }
            state.commit(Arc::new(batch));
        }
        state.revision = state.revision.max(revision);
        if compacted > state.compact_revision {
            let plan = state.compaction_plan(compacted);
            state.apply_compaction(compacted, &plan);
        }
    }

    /// Everything a snapshot needs, sharing the values: the batches of the retained history,
    /// preceded by the versions compaction kept, grouped into one batch per revision.
    pub(crate) fn image(&self) -> Image {
        let state = self.read();
        let mut kept: Vec<(Revision, Change)> = Vec::new();
        for (key, versions) in &state.keys {
            for (revision, stored) in versions.iter().take_while(|(revision, _)| *revision <= state.compact_revision) {
                if let Some(stored) = stored {
                    let change = Change { key: key.clone(), kind: EventKind::Put, kv: stored.clone(), prev: None };
                    kept.push((*revision, change));
                }
            }
        }
        kept.sort_by_key(|(revision, _)| *revision);
        let mut batches: Vec<Arc<Batch>> = Vec::with_capacity(kept.len() + state.history.len());
        let mut current: Option<Batch> = None;
        for (revision, change) in kept {
            match &mut current {
                Some(batch) if batch.revision == revision => batch.changes.push(change),
                _ => {
                    batches.extend(current.take().map(Arc::new));
                    current = Some(Batch { revision, changes: vec![change] });
                }
            }
        }
        batches.extend(current.map(Arc::new));
        batches.extend(state.history.iter().cloned());
        Image { revision: state.revision, compacted: state.compact_revision, batches }
    }

    /// The current revision and the compaction revision.
    pub(crate) fn revisions(&self) -> (Revision, Revision) {
        let state = self.read();
        (state.revision, state.compact_revision)
    }
}

impl State {
    fn latest(&self, key: &str) -> Option<&Stored> {
        self.keys.get(key).and_then(|versions| versions.last()).and_then(|(_, kv)| kv.as_ref())
    }

    /// `key` as the index holds it (shared), or a new one.
    fn interned(&self, key: &str) -> Arc<str> {
        self.keys.get_key_value(key).map_or_else(|| Arc::from(key), |(interned, _)| interned.clone())
    }

    fn at(versions: &[(Revision, Option<Stored>)], revision: Revision) -> Option<&Stored> {
        let idx = versions.partition_point(|(rev, _)| *rev <= revision);
        idx.checked_sub(1).and_then(|i| versions[i].1.as_ref())
    }

    /// The live keys of a range at `revision`, in key order.
    fn range_at<'a>(
        &'a self,
        key: &'a str,
        range: &'a KeyRange,
        revision: Revision,
    ) -> Box<dyn Iterator<Item = (&'a Arc<str>, &'a Stored)> + 'a> {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let entries: Box<dyn Iterator<Item = (&Arc<str>, &Versions)>> = match range {
            KeyRange::Single => Box::new(self.keys.get_key_value(key).into_iter()),
            KeyRange::Prefix => Box::new(
                self.keys.range::<str, _>((Included(key), Unbounded)).take_while(move |(k, _)| k.starts_with(key)),
            ),
            KeyRange::UpTo(end) => {
                if end.as_str() <= key {
                    Box::new(std::iter::empty())
                } else {
                    Box::new(self.keys.range::<str, _>((Included(key), Excluded(end.as_str()))))
                }
            }
        };
        Box::new(entries.filter_map(move |(key, versions)| Self::at(versions, revision).map(|kv| (key, kv))))
    }

    /// Whether `revision` (0: current) can be read; the revision to read at.
    fn readable(&self, revision: Revision, current: Revision) -> Result<Revision> {
        let revision = if revision == 0 { current } else { revision };
        if revision > current {
            return Err(StoreError::FutureRevision { requested: revision, current });
        }
        if revision < self.compact_revision {
            return Err(StoreError::Compacted { requested: revision, compact_revision: self.compact_revision });
        }
        Ok(revision)
    }

    fn range(&self, request: &RangeRequest) -> Result<RangeResponse> {
        let revision = self.readable(request.revision, self.revision)?;
        Ok(respond(self.range_at(&request.key, &request.range, revision), request, revision))
    }

    fn commit(&mut self, batch: Arc<Batch>) {
        self.add_versions(&batch);
        self.revision = batch.revision;
        self.history.push_back(batch);
    }

    fn add_versions(&mut self, batch: &Batch) {
        for change in &batch.changes {
            let value = match change.kind {
                EventKind::Put => Some(change.kv.clone()),
                EventKind::Delete => None,
            };
            match self.keys.get_mut(&*change.key) {
                Some(versions) => versions.push((batch.revision, value)),
                None => {
                    self.keys.insert(change.key.clone(), vec![(batch.revision, value)]);
                }
            }
        }
    }

    /// The versions compaction at `revision` forgets: of every key, all versions before its
    /// newest at or before `revision`, and that one too if it is a delete.
    fn compaction_plan(&self, revision: Revision) -> Vec<Removed> {
        let mut plan = Vec::new();
        for (key, versions) in &self.keys {
            let newest = versions.partition_point(|(rev, _)| *rev <= revision);
            let Some(last) = newest.checked_sub(1) else { continue };
            let remove = if versions[last].1.is_none() { newest } else { last };
            plan.extend(versions[..remove].iter().map(|(rev, _)| (*rev, key.clone())));
        }
        plan
    }

    fn apply_compaction(&mut self, revision: Revision, plan: &[Removed]) {
        for (rev, key) in plan {
            if let Some(versions) = self.keys.get_mut(key) {
                versions.retain(|(r, _)| r != rev);
                if versions.is_empty() {
                    self.keys.remove(key);
                } else {
                    versions.shrink_to_fit();
                }
            }
        }
        while self.history.front().is_some_and(|batch| batch.revision <= revision) {
            self.history.pop_front();
        }
        self.history.shrink_to_fit();
        self.compact_revision = revision;
    }
}

/// At most `request.limit` of `kvs` (all but the count if `count_only`), as read at `revision`.
fn respond<'a>(
    kvs: impl Iterator<Item = (&'a Arc<str>, &'a Stored)>,
    request: &RangeRequest,
    revision: Revision,
) -> RangeResponse {
    let mut found = Vec::new();
    let mut count = 0;
    for (key, kv) in kvs {
        count += 1;
        if !request.count_only && (request.limit == 0 || found.len() < request.limit) {
            found.push(kv.with_key(key));
        }
    }
    let more = request.limit != 0 && count > request.limit;
    RangeResponse { kvs: found, more, count, revision }
}

/// Transactions staged on top of the committed state: the latest value of every key they
/// wrote, and their batches.
struct Overlay<'a> {
    state: &'a State,
    revision: Revision,
    latest: BTreeMap<Arc<str>, Option<Stored>>,
    batches: Vec<Arc<Batch>>,
}

impl<'a> Overlay<'a> {
    fn new(state: &'a State) -> Self {
        Overlay { state, revision: state.revision, latest: BTreeMap::new(), batches: Vec::new() }
    }

    fn latest(&self, key: &str) -> Option<&Stored> {
        match self.latest.get(key) {
            Some(staged) => staged.as_ref(),
            None => self.state.latest(key),
        }
    }

    /// The live keys of a range, staged writes included, in key order.
    fn range_latest<'s>(&'s self, key: &'s str, range: &'s KeyRange) -> Vec<(&'s Arc<str>, &'s Stored)> {
        let mut merged: BTreeMap<&str, (&Arc<str>, &Stored)> =
            self.state.range_at(key, range, self.state.revision).map(|(k, kv)| (&**k, (k, kv))).collect();
        for (staged_key, staged) in self.latest.iter().filter(|(k, _)| range.contains(key, k)) {
            match staged {
                Some(kv) => merged.insert(staged_key, (staged_key, kv)),
                None => merged.remove(&**staged_key),
            };
        }
        merged.into_values().collect()
    }

    fn holds(&self, compare: &Compare) -> bool {
        let (key, op, target) = match compare {
            Compare::ModRevision(key, op, target)
            | Compare::CreateRevision(key, op, target)
            | Compare::Version(key, op, target) => (key, op, *target),
        };
        let kv = self.latest(key);
        let actual = match compare {
            Compare::ModRevision(..) => kv.map_or(0, |kv| kv.mod_revision),
            Compare::CreateRevision(..) => kv.map_or(0, |kv| kv.create_revision),
            Compare::Version(..) => kv.map_or(0, |kv| kv.version),
        };
        match op {
            CompareOp::Equal => actual == target,
            CompareOp::NotEqual => actual != target,
            CompareOp::Greater => actual > target,
            CompareOp::Less => actual < target,
        }
    }

    /// Stage one transaction. It either fails before staging anything or stages all of it.
    fn apply(&mut self, txn: Txn) -> Result<TxnResponse> {
        check_unique_writes(&txn.success)?;
        check_unique_writes(&txn.failure)?;
        let succeeded = txn.compare.iter().all(|compare| self.holds(compare));
        let ops = if succeeded { txn.success } else { txn.failure };
        for op in &ops {
            if let Op::Range(request) = op {
                self.state.readable(request.revision, self.revision)?;
            }
        }
        let next = self.revision + 1;
        let mut changes = Vec::new();
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            let response = match op {
                Op::Put { key, value } => {
                    let key = self.state.interned(&key);
                    let prev = self.latest(&key).cloned();
                    let kv = Stored {
                        // An exact-size copy: the caller's buffer may be larger, or shared.
                        value: Bytes::copy_from_slice(&value),
                        create_revision: prev.as_ref().map_or(next, |p| p.create_revision),
                        mod_revision: next,
                        version: prev.as_ref().map_or(1, |p| p.version + 1),
                    };
                    let prev_kv = prev.as_ref().map(|prev| prev.with_key(&key));
                    self.latest.insert(key.clone(), Some(kv.clone()));
                    changes.push(Change { key, kind: EventKind::Put, kv, prev });
                    OpResponse::Put { prev_kv }
                }
                Op::Delete { key, range } => {
                    let deleted: Vec<(Arc<str>, Stored)> = self
                        .range_latest(&key, &range)
                        .into_iter()
                        .map(|(key, kv)| (key.clone(), kv.clone()))
                        .collect();
                    let mut response = Vec::with_capacity(deleted.len());
                    for (key, prev) in deleted {
                        response.push(prev.with_key(&key));
                        self.latest.insert(key.clone(), None);
                        changes.push(Change {
                            key,
                            kind: EventKind::Delete,
                            kv: Stored::tombstone(next),
                            prev: Some(prev),
                        });
                    }
                    OpResponse::Delete { deleted: response }
                }
                Op::Range(request) => {
                    let current = if changes.is_empty() { self.revision } else { next };
                    OpResponse::Range(self.read(&request, current))
                }
            };
            responses.push(response);
        }
        if !changes.is_empty() {
            // History keeps the batch for minutes: no spare capacity (a push reserves 4).
            changes.shrink_to_fit();
            self.revision = next;
            self.batches.push(Arc::new(Batch { revision: next, changes }));
        }
        Ok(TxnResponse { succeeded, revision: self.revision, responses })
    }

    /// A range inside a transaction (already checked to be readable): the latest values,
    /// staged writes included, or the committed state at a past revision.
    fn read(&self, request: &RangeRequest, current: Revision) -> RangeResponse {
        if request.revision != 0 && request.revision <= self.state.revision {
            let kvs = self.state.range_at(&request.key, &request.range, request.revision);
            return respond(kvs, request, request.revision);
        }
        respond(self.range_latest(&request.key, &request.range).into_iter(), request, current)
    }
}

/// As etcd: a branch may not put a key twice, nor put a key that one of its deletes covers.
fn check_unique_writes(ops: &[Op]) -> Result<()> {
    let mut puts = HashSet::new();
    for op in ops {
        if let Op::Put { key, .. } = op
            && !puts.insert(key.as_str())
        {
            return Err(duplicate(key));
        }
    }
    for op in ops {
        if let Op::Delete { key, range } = op
            && let Some(put) = puts.iter().find(|put| range.contains(key, put))
        {
            return Err(duplicate(put));
        }
    }
    Ok(())
}

fn duplicate(key: &str) -> StoreError {
    StoreError::InvalidRequest(format!("duplicate key given in txn request: {key}"))
}

#[async_trait]
impl Store for MemStore {
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        self.read().range(&request)
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        self.write(vec![txn], |_| Ok(()))?.pop().expect("one response per transaction")
    }

    async fn watch(&self, request: WatchRequest) -> Result<WatchStream> {
        let state = self.read();
        let start = if request.start_revision == 0 { state.revision + 1 } else { request.start_revision };
        if start <= state.compact_revision {
            return Err(StoreError::Compacted { requested: start, compact_revision: state.compact_revision });
        }
        let first = state.history.partition_point(|batch| batch.revision < start);
        let backlog: Vec<Arc<Batch>> = state.history.range(first..).cloned().collect();
        // Subscribed under the lock that publishing holds: no batch is missed.
        let live = self.shared.feed.subscribe();
        drop(state);
        Ok(feed::watch_stream(backlog, live, WatchRequest { start_revision: start, ..request }))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.compact_with(revision, || Ok(()))
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.read().revision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreExt;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[tokio::test]
    async fn a_failed_persist_changes_nothing() {
        let store = MemStore::new();
        store.put("/a", b("1")).await.unwrap();
        let failed = store.write(vec![Txn { success: vec![Op::put("/a", b("2"))], ..Txn::default() }], |_| {
            Err(StoreError::Backend("disk full".into()))
        });
        assert_eq!(failed.unwrap_err(), StoreError::Backend("disk full".into()));
        assert_eq!(store.current_revision().await.unwrap(), 1);
        assert_eq!(store.get("/a").await.unwrap().unwrap().value, b("1"));
        let failed = store.compact_with(1, || Err(StoreError::Backend("disk full".into())));
        assert!(failed.is_err());
        assert_eq!(store.revisions(), (1, 0), "a failed compaction keeps the history");
    }

    #[tokio::test]
    async fn a_stored_value_does_not_keep_the_callers_buffer() {
        let store = MemStore::new();
        let body = Bytes::from(vec![b'x'; 64 * 1024]);
        let value = body.slice(0..16);
        drop(body);
        store.put("/a", value.clone()).await.unwrap();
        assert!(value.is_unique(), "the store holds its own copy, not a view into the 64 KiB body");
        assert_eq!(store.get("/a").await.unwrap().unwrap().value, value);
    }

    #[tokio::test]
    async fn a_group_of_transactions_sees_each_other() {
        let store = MemStore::new();
        let create = |value: &str| Txn {
            compare: vec![Compare::Version("/a".into(), CompareOp::Equal, 0)],
            success: vec![Op::put("/a", b(value))],
            failure: vec![],
        };
        let mut seen = Vec::new();
        let responses = store
            .write(vec![create("first"), create("second")], |batches| {
                seen = batches.iter().map(|batch| batch.revision).collect();
                Ok(())
            })
            .unwrap();
        assert_eq!(seen, [1]);
        let succeeded: Vec<bool> = responses.into_iter().map(|r| r.unwrap().succeeded).collect();
        assert_eq!(succeeded, [true, false], "the second create sees the first");
        assert_eq!(store.get("/a").await.unwrap().unwrap().value, b("first"));
    }

    #[tokio::test]
    async fn compaction_plan_keeps_the_newest_live_version() {
        let store = MemStore::new();
        store.put("/a", b("1")).await.unwrap(); // 1
        store.put("/a", b("2")).await.unwrap(); // 2
        store.put("/gone", b("x")).await.unwrap(); // 3
        store.delete("/gone", 0).await.unwrap(); // 4
        store.put("/a", b("3")).await.unwrap(); // 5
        let mut removed = store.read().compaction_plan(4);
        store.compact(4).await.unwrap();
        removed.sort();
        let removed: Vec<(Revision, &str)> = removed.iter().map(|(revision, key)| (*revision, &**key)).collect();
        assert_eq!(removed, [(1, "/a"), (3, "/gone"), (4, "/gone")]);
        let at4 = store.range(RangeRequest { revision: 4, ..RangeRequest::prefix("/") }).await.unwrap();
        assert_eq!(at4.kvs.iter().map(|kv| kv.value.clone()).collect::<Vec<_>>(), [b("2")]);
    }
}
