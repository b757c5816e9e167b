//! The in-memory reference backend: full MVCC history in a `BTreeMap`, watches fed from one
//! broadcast channel. Nothing survives the process; tests, and the read side of the embedded
//! backend, build on it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::{
    Compare, CompareOp, Event, EventKind, KeyRange, KeyValue, Op, OpResponse, RangeRequest, RangeResponse, Result,
    Revision, Store, StoreError, Txn, TxnResponse, WatchRequest, WatchStream,
};

/// How many revisions a slow watcher may fall behind the writer before it is told it lagged.
const WATCH_CHANNEL_CAPACITY: usize = 16 * 1024;

/// The events written at one revision.
pub(crate) type Batch = Arc<(Revision, Vec<Event>)>;

/// An in-memory [`Store`]. Cloning shares the same data.
#[derive(Clone)]
pub struct MemStore {
    inner: Arc<Mutex<State>>,
    events: broadcast::Sender<Batch>,
}

#[derive(Default)]
pub(crate) struct State {
    pub(crate) revision: Revision,
    pub(crate) compact_revision: Revision,
    /// Every key's versions in revision order; `None` marks a delete.
    pub(crate) keys: BTreeMap<String, Vec<(Revision, Option<KeyValue>)>>,
    /// The events of every revision after `compact_revision`, oldest first.
    pub(crate) history: VecDeque<Batch>,
}

impl Default for MemStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemStore {
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(WATCH_CHANNEL_CAPACITY);
        MemStore { inner: Arc::new(Mutex::new(State::default())), events }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Apply `txn` in memory; on success with writes, returns the batch of events to publish.
    /// `persist` is called with the batch (under the lock, before it becomes visible) so a
    /// durable backend can write it first; if it fails nothing changes.
    pub(crate) fn apply_txn(&self, txn: Txn, persist: impl FnOnce(&Batch) -> Result<()>) -> Result<TxnResponse> {
        let mut state = self.state();
        let succeeded = txn.compare.iter().all(|c| state.compare(c));
        let ops = if succeeded { txn.success } else { txn.failure };
        let next = state.revision + 1;
        let mut responses = Vec::with_capacity(ops.len());
        let mut events = Vec::new();
        // Work on a copy of the touched keys so a failed persist leaves the state untouched.
        let mut staged: BTreeMap<String, Option<KeyValue>> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Put { key, value } => {
                    let prev = staged.get(&key).cloned().unwrap_or_else(|| state.latest(&key).cloned());
                    let kv = KeyValue {
                        key: key.clone(),
                        value,
                        create_revision: prev.as_ref().map_or(next, |p| p.create_revision),
                        mod_revision: next,
                        version: prev.as_ref().map_or(1, |p| p.version + 1),
                    };
                    events.push(Event { kind: EventKind::Put, kv: kv.clone(), prev_kv: prev.clone() });
                    staged.insert(key, Some(kv));
                    responses.push(OpResponse::Put { prev_kv: prev });
                }
                Op::Delete { key, range } => {
                    let mut deleted = Vec::new();
                    let current: Vec<KeyValue> = state
                        .range_at(&key, &range, state.revision)
                        .filter(|kv| !staged.contains_key(&kv.key))
                        .cloned()
                        .collect();
                    let staged_live: Vec<KeyValue> = staged
                        .iter()
                        .filter(|(k, v)| v.is_some() && range.contains(&key, k))
                        .filter_map(|(_, v)| v.clone())
                        .collect();
                    for prev in current.into_iter().chain(staged_live) {
                        let tombstone = KeyValue {
                            key: prev.key.clone(),
                            value: Bytes::new(),
                            create_revision: 0,
                            mod_revision: next,
                            version: 0,
                        };
                        events.push(Event { kind: EventKind::Delete, kv: tombstone, prev_kv: Some(prev.clone()) });
                        staged.insert(prev.key.clone(), None);
                        deleted.push(prev);
                    }
                    deleted.sort_by(|a, b| a.key.cmp(&b.key));
                    responses.push(OpResponse::Delete { deleted });
                }
                Op::Range(request) => responses.push(OpResponse::Range(state.range(&request)?)),
            }
        }
        if events.is_empty() {
            return Ok(TxnResponse { succeeded, revision: state.revision, responses });
        }
        let batch: Batch = Arc::new((next, events));
        persist(&batch)?;
        state.commit(&batch);
        // Sent under the lock, so watchers see batches in revision order.
        let _ = self.events.send(batch);
        Ok(TxnResponse { succeeded, revision: next, responses })
    }

    /// Restore a batch read back from durable storage (no watchers exist yet).
    pub(crate) fn replay(&self, batch: Batch) {
        self.state().commit(&batch);
    }

    /// Restore the compaction point read back from durable storage.
    pub(crate) fn restore_compaction(&self, revision: Revision) {
        self.state().compact(revision);
    }

    pub(crate) fn compact_with(&self, revision: Revision, persist: impl FnOnce() -> Result<()>) -> Result<()> {
        let mut state = self.state();
        if revision > state.revision {
            return Err(StoreError::FutureRevision { requested: revision, current: state.revision });
        }
        if revision <= state.compact_revision {
            return Err(StoreError::Compacted { requested: revision, compact_revision: state.compact_revision });
        }
        persist()?;
        state.compact(revision);
        Ok(())
    }
}

impl State {
    fn latest(&self, key: &str) -> Option<&KeyValue> {
        self.keys.get(key).and_then(|versions| versions.last()).and_then(|(_, kv)| kv.as_ref())
    }

    fn at(versions: &[(Revision, Option<KeyValue>)], revision: Revision) -> Option<&KeyValue> {
        let idx = versions.partition_point(|(rev, _)| *rev <= revision);
        idx.checked_sub(1).and_then(|i| versions[i].1.as_ref())
    }

    fn range_at<'a>(
        &'a self,
        key: &'a str,
        range: &'a KeyRange,
        revision: Revision,
    ) -> Box<dyn Iterator<Item = &'a KeyValue> + 'a> {
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let entries: Box<dyn Iterator<Item = (&String, &Vec<(Revision, Option<KeyValue>)>)>> = match range {
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
        Box::new(entries.filter_map(move |(_, versions)| Self::at(versions, revision)))
    }

    fn range(&self, request: &RangeRequest) -> Result<RangeResponse> {
        let revision = if request.revision == 0 { self.revision } else { request.revision };
        if revision > self.revision {
            return Err(StoreError::FutureRevision { requested: revision, current: self.revision });
        }
        if revision < self.compact_revision {
            return Err(StoreError::Compacted { requested: revision, compact_revision: self.compact_revision });
        }
        let mut kvs = Vec::new();
        let mut count = 0;
        for kv in self.range_at(&request.key, &request.range, revision) {
            count += 1;
            if !request.count_only && (request.limit == 0 || kvs.len() < request.limit) {
                kvs.push(kv.clone());
            }
        }
        let more = request.limit != 0 && count > request.limit;
        Ok(RangeResponse { kvs, more, count, revision })
    }

    fn compare(&self, compare: &Compare) -> bool {
        let (key, op, target, actual) = match compare {
            Compare::ModRevision(key, op, rev) => (key, op, *rev, self.latest(key).map_or(0, |kv| kv.mod_revision)),
            Compare::CreateRevision(key, op, rev) => {
                (key, op, *rev, self.latest(key).map_or(0, |kv| kv.create_revision))
            }
            Compare::Version(key, op, version) => (key, op, *version, self.latest(key).map_or(0, |kv| kv.version)),
        };
        let _ = key;
        match op {
            CompareOp::Equal => actual == target,
            CompareOp::NotEqual => actual != target,
            CompareOp::Greater => actual > target,
            CompareOp::Less => actual < target,
        }
    }

    fn commit(&mut self, batch: &Batch) {
        let (revision, events) = &**batch;
        for event in events {
            let value = match event.kind {
                EventKind::Put => Some(event.kv.clone()),
                EventKind::Delete => None,
            };
            self.keys.entry(event.kv.key.clone()).or_default().push((*revision, value));
        }
        self.revision = *revision;
        self.history.push_back(batch.clone());
    }

    fn compact(&mut self, revision: Revision) {
        self.compact_revision = revision;
        while self.history.front().is_some_and(|batch| batch.0 < revision) {
            self.history.pop_front();
        }
        self.keys.retain(|_, versions| {
            // Keep the newest version at or before `revision` (reads at `revision` need it) and
            // everything after it; a key whose newest such version is a delete keeps none of it.
            let keep_from = versions.partition_point(|(rev, _)| *rev <= revision).saturating_sub(1);
            versions.drain(..keep_from);
            if versions.first().is_some_and(|(rev, kv)| *rev <= revision && kv.is_none()) {
                versions.remove(0);
            }
            !versions.is_empty()
        });
    }
}

#[async_trait]
impl Store for MemStore {
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        self.state().range(&request)
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        self.apply_txn(txn, |_| Ok(()))
    }

    async fn watch(&self, request: WatchRequest) -> Result<WatchStream> {
        let (backlog, receiver) = {
            let state = self.state();
            let start = if request.start_revision == 0 { state.revision + 1 } else { request.start_revision };
            if start <= state.compact_revision {
                return Err(StoreError::Compacted { requested: start, compact_revision: state.compact_revision });
            }
            let backlog: Vec<Batch> = state.history.iter().filter(|batch| batch.0 >= start).cloned().collect();
            // Subscribing under the lock: no batch is missed or seen twice.
            (backlog, self.events.subscribe())
        };
        let filter = Arc::new(request);
        let select = move |batch: &Batch| -> Option<Vec<Event>> {
            let events: Vec<Event> = batch
                .1
                .iter()
                .filter(|event| filter.range.contains(&filter.key, &event.kv.key))
                .map(|event| Event {
                    prev_kv: if filter.prev_kv { event.prev_kv.clone() } else { None },
                    ..event.clone()
                })
                .collect();
            (!events.is_empty()).then_some(events)
        };
        let select_live = select.clone();
        let past = futures::stream::iter(backlog.into_iter().filter_map(move |batch| select(&batch)).map(Ok));
        let live = BroadcastStream::new(receiver).filter_map(move |item| {
            let out = match item {
                Ok(batch) => select_live(&batch).map(Ok),
                Err(BroadcastStreamRecvError::Lagged(_)) => Some(Err(StoreError::WatcherLagged)),
            };
            futures::future::ready(out)
        });
        Ok(Box::pin(past.chain(live)))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        self.compact_with(revision, || Ok(()))
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.state().revision)
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
    async fn create_update_conflict_delete() {
        let store = MemStore::new();
        let r1 = store.create("/a", b("1")).await.unwrap().unwrap();
        assert_eq!(r1, 1);
        assert_eq!(store.create("/a", b("x")).await.unwrap(), None, "create of an existing key fails");
        let r2 = store.update("/a", b("2"), r1).await.unwrap().unwrap();
        assert_eq!(store.update("/a", b("3"), r1).await.unwrap(), None, "stale revision conflicts");
        let kv = store.get("/a").await.unwrap().unwrap();
        assert_eq!((kv.value, kv.create_revision, kv.mod_revision, kv.version), (b("2"), 1, 2, 2));
        let (deleted, r3) = store.delete("/a", r2).await.unwrap().unwrap();
        assert_eq!((deleted.value, r3), (b("2"), 3));
        assert_eq!(store.get("/a").await.unwrap(), None);
        // History stays readable until compaction.
        let old = store.range(RangeRequest { revision: 1, ..RangeRequest::key("/a") }).await.unwrap();
        assert_eq!(old.kvs[0].value, b("1"));
        store.compact(3).await.unwrap();
        let err = store.range(RangeRequest { revision: 1, ..RangeRequest::key("/a") }).await.unwrap_err();
        assert!(matches!(err, StoreError::Compacted { compact_revision: 3, .. }));
    }

    #[tokio::test]
    async fn prefix_range_with_limit() {
        let store = MemStore::new();
        for key in ["/r/a", "/r/b", "/r/c", "/s/a"] {
            store.put(key, b(key)).await.unwrap();
        }
        let resp = store.range(RangeRequest { limit: 2, ..RangeRequest::prefix("/r/") }).await.unwrap();
        assert_eq!(resp.kvs.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), ["/r/a", "/r/b"]);
        assert!(resp.more);
        assert_eq!(resp.count, 3);
    }

    #[tokio::test]
    async fn watch_replays_history_then_follows() {
        let store = MemStore::new();
        store.put("/p/1", b("a")).await.unwrap();
        store.put("/q/1", b("b")).await.unwrap();
        let mut watch = store
            .watch(WatchRequest { key: "/p/".into(), range: KeyRange::Prefix, start_revision: 1, prev_kv: true })
            .await
            .unwrap();
        store.delete("/p/1", 0).await.unwrap();
        let first = watch.next().await.unwrap().unwrap();
        assert_eq!((first[0].kind, first[0].kv.mod_revision), (EventKind::Put, 1));
        let second = watch.next().await.unwrap().unwrap();
        assert_eq!((second[0].kind, second[0].kv.mod_revision), (EventKind::Delete, 3));
        assert_eq!(second[0].prev_kv.as_ref().unwrap().value, b("a"));
    }
}
