//! The watch hub: one store watch per cluster, fanned out to every watcher.
//!
//! The hub follows the cluster's key prefix from the store and keeps a bounded window of recent
//! events (kube-apiserver's watch cache does the same), so a watch "from resourceVersion N" is
//! served from memory. A version older than the window is served from the store's history
//! ([`WatchHub::subscribe_at`]) and is 410 Expired, in kube-apiserver's words, only once the
//! store has compacted it. Events are decoded at most once, lazily, and their JSON lines are
//! cached, so a thousand watchers of one resource cost one decode and one serialization per event.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use futures::StreamExt;
use kube_core::Status;
use serde_json::Value;
use store::{EventKind, KeyRange, Revision, Store, WatchRequest};
use tokio::sync::broadcast;

use crate::storage::object_store::{decode, store_status};

/// One change in the cluster, as the hub saw it.
pub struct HubEvent {
    pub revision: Revision,
    pub key: String,
    pub deleted: bool,
    /// The new value (put) or the last value (delete).
    value: Bytes,
    prev: Option<(Bytes, Revision)>,
    object: OnceLock<Option<Value>>,
    prev_object: OnceLock<Option<Value>>,
    /// Cached `{"type":…,"object":…}\n` lines of the stored object, per event type.
    lines: [OnceLock<Bytes>; 3],
}

impl HubEvent {
    /// The object after the change (for a delete: the deleted object with the delete's
    /// resourceVersion, as kube-apiserver reports it).
    pub fn object(&self) -> Option<&Value> {
        self.object.get_or_init(|| decode(&self.value, self.revision).ok()).as_ref()
    }

    /// The object before the change (None for a create).
    pub fn prev_object(&self) -> Option<&Value> {
        self.prev_object
            .get_or_init(|| {
                if self.deleted {
                    return None;
                }
                self.prev.as_ref().and_then(|(bytes, rev)| decode(bytes, *rev).ok())
            })
            .as_ref()
    }

    /// Whether the object existed before (a put that modified, or any delete).
    pub fn existed_before(&self) -> bool {
        self.deleted || self.prev.is_some()
    }

    /// The JSON watch line for the stored object as it is (no conversion), cached.
    pub fn json_line(&self, event_type: WatchEventType) -> Option<Bytes> {
        let object = self.object()?;
        Some(self.lines[event_type as usize].get_or_init(|| line(event_type, object)).clone())
    }

    /// The hub's form of a store event (read with `prev_kv`).
    fn from_store(event: store::Event) -> HubEvent {
        let deleted = event.kind == EventKind::Delete;
        let (value, prev) = if deleted {
            (event.prev_kv.map(|kv| kv.value).unwrap_or_default(), None)
        } else {
            (event.kv.value, event.prev_kv.map(|kv| (kv.value, kv.mod_revision)))
        };
        HubEvent {
            revision: event.kv.mod_revision,
            key: event.kv.key,
            deleted,
            value,
            prev,
            object: OnceLock::new(),
            prev_object: OnceLock::new(),
            lines: Default::default(),
        }
    }
}

/// The type of a watch event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchEventType {
    Added = 0,
    Modified = 1,
    Deleted = 2,
}

impl WatchEventType {
    pub fn as_str(self) -> &'static str {
        match self {
            WatchEventType::Added => "ADDED",
            WatchEventType::Modified => "MODIFIED",
            WatchEventType::Deleted => "DELETED",
        }
    }
}

/// One `{"type":…,"object":…}` line of a watch stream.
pub fn line(event_type: WatchEventType, object: &Value) -> Bytes {
    line_str(event_type.as_str(), object)
}

pub fn line_str(event_type: &str, object: &Value) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(event_type.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    serde_json::to_writer(&mut out, object).expect("JSON values serialize");
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// What the hub broadcasts.
#[derive(Clone)]
pub enum HubSignal {
    Event(Arc<HubEvent>),
    /// The hub lost its place in the store (compaction); every watcher must end.
    Reset,
}

struct HubState {
    buffer: VecDeque<Arc<HubEvent>>,
    /// Every event with a revision above this one is in `buffer` (or still to come).
    oldest: Revision,
    /// The revision of the last event seen.
    last: Revision,
}

/// The per-cluster fan-out of store changes.
pub struct WatchHub {
    store: Arc<dyn Store>,
    /// The cluster's key prefix.
    prefix: String,
    state: Mutex<HubState>,
    tx: broadcast::Sender<HubSignal>,
    capacity: usize,
}

/// A watcher's start: the buffered events it must see first, and the live feed.
pub struct Subscription {
    pub backlog: Vec<Arc<HubEvent>>,
    pub live: broadcast::Receiver<HubSignal>,
    /// The revision the subscription starts after.
    pub after: Revision,
    /// Live events up to this revision are already in the backlog (a backlog read from the
    /// store may reach past the point where `live` started).
    pub live_after: Revision,
}

impl WatchHub {
    /// Start following `prefix` in `store` from its current revision, keeping the last
    /// `capacity` events.
    pub async fn start(store: Arc<dyn Store>, prefix: String, capacity: usize) -> Result<Arc<WatchHub>, Status> {
        let current = store.current_revision().await.map_err(store_status)?;
        let (tx, _) = broadcast::channel(capacity.max(1024));
        let hub = Arc::new(WatchHub {
            store: store.clone(),
            prefix: prefix.clone(),
            state: Mutex::new(HubState { buffer: VecDeque::new(), oldest: current, last: current }),
            tx,
            capacity,
        });
        let follower = hub.clone();
        tokio::spawn(async move { follower.follow(store, prefix, current).await });
        Ok(hub)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The revision of the last change the hub has seen.
    pub fn last_revision(&self) -> Revision {
        self.state().last
    }

    async fn follow(self: Arc<Self>, store: Arc<dyn Store>, prefix: String, mut from: Revision) {
        loop {
            let request =
                WatchRequest { key: prefix.clone(), range: KeyRange::Prefix, start_revision: from + 1, prev_kv: true };
            let mut stream = match store.watch(request).await {
                Ok(stream) => stream,
                Err(store::StoreError::Compacted { compact_revision, .. }) => {
                    from = self.reset(compact_revision);
                    continue;
                }
                Err(err) => {
                    tracing::warn!(%err, "the watch hub cannot watch the store; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    continue;
                }
            };
            while let Some(item) = stream.next().await {
                match item {
                    Ok(events) => {
                        if let Some(last) = self.publish(events) {
                            from = last;
                        }
                    }
                    Err(store::StoreError::WatcherLagged) => break,
                    Err(err) => {
                        tracing::warn!(%err, "the watch hub's store watch failed; resuming");
                        break;
                    }
                }
            }
            if self.tx.receiver_count() == 0 && Arc::strong_count(&self) == 1 {
                return;
            }
        }
    }

    /// Forget everything and start again at the store's compaction point.
    fn reset(&self, revision: Revision) -> Revision {
        let mut state = self.state();
        state.buffer.clear();
        state.oldest = revision.max(state.last);
        state.last = state.oldest;
        let _ = self.tx.send(HubSignal::Reset);
        state.last
    }

    fn publish(&self, events: Vec<store::Event>) -> Option<Revision> {
        let mut state = self.state();
        let batch_revision = events.first()?.kv.mod_revision;
        if batch_revision <= state.last {
            // Already seen (a resumed store watch may replay its last batch).
            return None;
        }
        let mut last = None;
        for event in events {
            let revision = event.kv.mod_revision;
            let hub_event = Arc::new(HubEvent::from_store(event));
            state.buffer.push_back(hub_event.clone());
            while state.buffer.len() > self.capacity {
                if let Some(evicted) = state.buffer.pop_front() {
                    state.oldest = state.oldest.max(evicted.revision);
                }
            }
            state.last = state.last.max(revision);
            last = Some(revision);
            // Sent under the lock: subscribers never miss or double an event.
            let _ = self.tx.send(HubSignal::Event(hub_event));
        }
        last
    }

    /// Subscribe to every change after `after` (`None`: after the last change seen, for a watch
    /// that first lists the current state at [`Subscription::after`]) from the hub's window; a
    /// revision older than the window is 410 Expired here (see [`WatchHub::subscribe_at`]).
    pub fn subscribe(&self, after: Option<Revision>) -> Result<Subscription, Status> {
        let state = self.state();
        let live = self.tx.subscribe();
        match after {
            None => Ok(Subscription { backlog: vec![], live, after: state.last, live_after: state.last }),
            Some(rv) if rv < state.oldest => Err(Status::too_old_resource_version(rv, state.oldest)),
            Some(rv) => {
                let backlog = state.buffer.iter().filter(|e| e.revision > rv).cloned().collect();
                Ok(Subscription { backlog, live, after: rv, live_after: state.last })
            }
        }
    }

    /// Subscribe to every change after `rv`: from the hub's window when it reaches back that
    /// far, else from the store's history, which is 410 Expired ("too old resource version:
    /// RV (OLDEST)", OLDEST being the oldest version a watch may still start from, as
    /// kube-apiserver words it) once the store has compacted it.
    pub async fn subscribe_at(&self, rv: Revision) -> Result<Subscription, Status> {
        let live = {
            let state = self.state();
            if rv >= state.oldest {
                drop(state);
                return self.subscribe(Some(rv));
            }
            self.tx.subscribe()
        };
        // Everything after `rv` up to the store's current revision comes from the store; what the
        // hub publishes after that, from `live`. The store's whole key space is read so that the
        // batch of the current revision is seen whichever key it wrote.
        let current = self.store.current_revision().await.map_err(store_status)?;
        let request =
            WatchRequest { key: String::new(), range: KeyRange::Prefix, start_revision: rv + 1, prev_kv: true };
        let mut history = self.store.watch(request).await.map_err(|err| match err {
            store::StoreError::Compacted { compact_revision, .. } => {
                Status::too_old_resource_version(rv, compact_revision)
            }
            other => store_status(other),
        })?;
        let mut backlog = Vec::new();
        while let Some(batch) = history.next().await {
            let batch = batch.map_err(store_status)?;
            let revision = batch.first().map_or(current, |event| event.kv.mod_revision);
            let ours = batch.into_iter().filter(|event| event.kv.key.starts_with(&self.prefix));
            backlog.extend(ours.map(|event| Arc::new(HubEvent::from_store(event))));
            if revision >= current {
                break;
            }
        }
        Ok(Subscription { backlog, live, after: rv, live_after: current })
    }

    /// Wait until the hub has seen `revision` (or `timeout` passes): used so that a write's own
    /// effects (CRD registration, controllers) can rely on the hub.
    pub async fn wait_for(&self, revision: Revision, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.last_revision() >= revision {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::{MemStore, StoreExt};

    #[tokio::test]
    async fn fans_out_and_serves_history() {
        let store: Arc<dyn Store> = Arc::new(MemStore::new());
        store.put("/other", Bytes::from_static(b"{}")).await.unwrap();
        let hub = WatchHub::start(store.clone(), "/c/".into(), 2).await.unwrap();
        let mut early = hub.subscribe(None).unwrap();
        let r1 = store.put("/c/a", Bytes::from_static(br#"{"metadata":{"name":"a"}}"#)).await.unwrap();
        let r2 =
            store.put("/c/a", Bytes::from_static(br#"{"metadata":{"name":"a","labels":{"x":"y"}}}"#)).await.unwrap();
        let r3 = store.delete("/c/a", 0).await.unwrap().unwrap().1;
        assert!(hub.wait_for(r3, std::time::Duration::from_secs(2)).await);
        let mut seen = vec![];
        for _ in 0..3 {
            let HubSignal::Event(e) = early.live.recv().await.unwrap() else { panic!("reset") };
            seen.push((e.revision, e.deleted, e.existed_before()));
        }
        assert_eq!(seen, vec![(r1, false, false), (r2, false, true), (r3, true, true)]);
        // Only the last two events are kept: from r1 works, from before r1 is too old.
        let from_r1 = hub.subscribe(Some(r1)).unwrap();
        assert_eq!(from_r1.backlog.iter().map(|e| e.revision).collect::<Vec<_>>(), vec![r2, r3]);
        let deleted = &from_r1.backlog[1];
        assert_eq!(deleted.object().unwrap()["metadata"]["resourceVersion"], r3.to_string());
        assert_eq!(from_r1.backlog[0].prev_object().unwrap()["metadata"]["resourceVersion"], r1.to_string());
        let err = hub.subscribe(Some(r1 - 1)).err().unwrap();
        assert_eq!(err.code, 410);
        assert!(err.message.starts_with("too old resource version"));
        assert_eq!(&deleted.json_line(WatchEventType::Deleted).unwrap()[..20], br#"{"type":"DELETED","o"#);
    }

    #[tokio::test]
    async fn history_older_than_the_window_comes_from_the_store_until_compacted() {
        let store: Arc<dyn Store> = Arc::new(MemStore::new());
        let r0 = store.put("/c/a", Bytes::from_static(br#"{"metadata":{"name":"a"}}"#)).await.unwrap();
        let hub = WatchHub::start(store.clone(), "/c/".into(), 1).await.unwrap();
        let r1 =
            store.put("/c/a", Bytes::from_static(br#"{"metadata":{"name":"a","labels":{"x":"y"}}}"#)).await.unwrap();
        store.put("/other", Bytes::from_static(b"{}")).await.unwrap();
        let r3 = store.put("/c/b", Bytes::from_static(br#"{"metadata":{"name":"b"}}"#)).await.unwrap();
        let r4 = store.put("/other", Bytes::from_static(b"{}")).await.unwrap();
        assert!(hub.wait_for(r3, std::time::Duration::from_secs(2)).await);
        assert!(hub.subscribe(Some(r0)).is_err(), "r1 has left the hub's window of one event");

        // From before the hub started: the store's history, only the cluster's keys, with the
        // previous values the hub would have had.
        let mut sub = hub.subscribe_at(r0 - 1).await.unwrap();
        let seen: Vec<_> = sub.backlog.iter().map(|e| (e.revision, e.key.as_str(), e.existed_before())).collect();
        assert_eq!(seen, vec![(r0, "/c/a", false), (r1, "/c/a", true), (r3, "/c/b", false)]);
        assert_eq!(sub.backlog[1].prev_object().unwrap()["metadata"]["resourceVersion"], r0.to_string());
        assert_eq!((sub.after, sub.live_after), (r0 - 1, r4));
        let r5 = store.put("/c/c", Bytes::from_static(br#"{"metadata":{"name":"c"}}"#)).await.unwrap();
        let next = loop {
            match sub.live.recv().await.unwrap() {
                HubSignal::Event(e) if e.revision > sub.live_after => break e.revision,
                HubSignal::Event(_) => continue,
                HubSignal::Reset => panic!("reset"),
            }
        };
        assert_eq!(next, r5, "live changes follow the store's history");

        // Once compacted, kube-apiserver's 410 with the oldest version a watch may start from.
        store.compact(r1).await.unwrap();
        let err = hub.subscribe_at(r0).await.err().unwrap();
        assert_eq!((err.code, err.reason.as_str()), (410, "Expired"));
        assert_eq!(err.message, format!("too old resource version: {r0} ({r1})"));
        let from_compaction = hub.subscribe_at(r1).await.unwrap();
        assert_eq!(from_compaction.backlog.iter().map(|e| e.revision).collect::<Vec<_>>(), vec![r3, r5]);
    }
}
