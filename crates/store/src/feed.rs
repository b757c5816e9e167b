//! Watch fan-out: one broadcast feed of revision batches per store (or, in etcd, per watched
//! prefix), and the per-watcher stream that replays a backlog, follows the feed, filters by key
//! range and start revision, and ends with an error when the watcher lagged or the feed failed.
//!
//! Also the compact shapes the backends hold changes in: a [`Stored`] version carries no key,
//! and a [`Change`] shares its key (`Arc<str>`) with the store's index, so a key's bytes are
//! in memory once however many versions and history entries refer to it. The public
//! [`Event`]s are built per watcher on delivery.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::{Event, EventKind, KeyValue, Revision, StoreError, WatchRequest, WatchStream};

/// One version of a key, without the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stored {
    pub(crate) value: Bytes,
    pub(crate) create_revision: Revision,
    pub(crate) mod_revision: Revision,
    pub(crate) version: i64,
}

impl Stored {
    /// What a delete at `revision` leaves in its event: the key and the revision, nothing else.
    pub(crate) fn tombstone(revision: Revision) -> Self {
        Stored { value: Bytes::new(), create_revision: 0, mod_revision: revision, version: 0 }
    }

    pub(crate) fn with_key(&self, key: &str) -> KeyValue {
        KeyValue {
            key: key.to_string(),
            value: self.value.clone(),
            create_revision: self.create_revision,
            mod_revision: self.mod_revision,
            version: self.version,
        }
    }
}

/// One change to one key (an event, in the store's own shape).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Change {
    pub(crate) key: Arc<str>,
    pub(crate) kind: EventKind,
    /// For a put, the new version; for a delete, [`Stored::tombstone`].
    pub(crate) kv: Stored,
    pub(crate) prev: Option<Stored>,
}

impl Change {
    pub(crate) fn event(&self, with_prev: bool) -> Event {
        Event {
            kind: self.kind,
            kv: self.kv.with_key(&self.key),
            prev_kv: if with_prev { self.prev.as_ref().map(|prev| prev.with_key(&self.key)) } else { None },
        }
    }
}

/// The changes written at one revision, in the order the transaction's ops wrote them.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Batch {
    pub(crate) revision: Revision,
    pub(crate) changes: Vec<Change>,
}

/// What a feed carries: a batch, or the error that ends every watch on it.
pub(crate) type FeedItem = Result<Arc<Batch>, StoreError>;

/// A new feed whose watchers may fall `capacity` batches behind before they are told they lagged.
pub(crate) fn channel(capacity: usize) -> broadcast::Sender<FeedItem> {
    broadcast::channel(capacity.max(1)).0
}

/// The stream of one watcher: the `backlog` (batches already published, oldest first), then
/// everything `live` carries. Batches before `request.start_revision` are skipped, so a feed may
/// repeat batches the watcher has already seen.
pub(crate) fn watch_stream(
    backlog: Vec<Arc<Batch>>,
    live: broadcast::Receiver<FeedItem>,
    request: WatchRequest,
) -> WatchStream {
    let watcher = Watcher { next: request.start_revision, request, backlog: backlog.into(), live, done: false };
    Box::pin(futures::stream::unfold(watcher, |mut watcher| async move {
        let item = watcher.next_item().await?;
        Some((item, watcher))
    }))
}

struct Watcher {
    request: WatchRequest,
    /// The first revision this watcher has not seen yet.
    next: Revision,
    backlog: VecDeque<Arc<Batch>>,
    live: broadcast::Receiver<FeedItem>,
    done: bool,
}

impl Watcher {
    async fn next_item(&mut self) -> Option<Result<Vec<Event>, StoreError>> {
        while !self.done {
            let batch = match self.backlog.pop_front() {
                Some(batch) => batch,
                None => match self.live.recv().await {
                    Ok(Ok(batch)) => batch,
                    Ok(Err(err)) => {
                        self.done = true;
                        return Some(Err(err));
                    }
                    Err(RecvError::Lagged(_)) => {
                        self.done = true;
                        return Some(Err(StoreError::WatcherLagged));
                    }
                    Err(RecvError::Closed) => return None,
                },
            };
            if let Some(events) = self.select(&batch) {
                return Some(Ok(events));
            }
        }
        None
    }

    /// The events of `batch` this watcher wants, if any.
    fn select(&mut self, batch: &Batch) -> Option<Vec<Event>> {
        if batch.revision < self.next {
            return None;
        }
        self.next = batch.revision + 1;
        let request = &self.request;
        let events: Vec<Event> = batch
            .changes
            .iter()
            .filter(|change| request.range.contains(&request.key, &change.key))
            .map(|change| change.event(request.prev_kv))
            .collect();
        (!events.is_empty()).then_some(events)
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::KeyRange;

    fn batch(revision: Revision, keys: &[&str]) -> Arc<Batch> {
        let changes = keys
            .iter()
            .map(|key| Change {
                key: Arc::from(*key),
                kind: EventKind::Put,
                kv: Stored {
                    value: Bytes::from_static(b"v"),
                    create_revision: revision,
                    mod_revision: revision,
                    version: 1,
                },
                prev: None,
            })
            .collect();
        Arc::new(Batch { revision, changes })
    }

    fn request(start_revision: Revision) -> WatchRequest {
        WatchRequest { key: "/a/".into(), range: KeyRange::Prefix, start_revision, prev_kv: false }
    }

    #[tokio::test]
    async fn skips_repeated_and_early_batches_and_filters_keys() {
        let feed = channel(8);
        let mut watch = watch_stream(vec![batch(3, &["/a/1"]), batch(4, &["/b/1"])], feed.subscribe(), request(3));
        for revision in [2, 3, 5] {
            feed.send(Ok(batch(revision, &["/a/x", "/b/x"]))).unwrap();
        }
        let first = watch.next().await.unwrap().unwrap();
        assert_eq!((first.len(), first[0].kv.key.as_str()), (1, "/a/1"));
        // Revisions 2 and 3 again from the feed are not reported twice; 4 had nothing for /a/.
        let second = watch.next().await.unwrap().unwrap();
        assert_eq!((second.len(), second[0].kv.mod_revision), (1, 5));
    }

    #[tokio::test]
    async fn lag_and_feed_errors_end_the_stream() {
        let feed = channel(2);
        let mut lagging = watch_stream(vec![], feed.subscribe(), request(0));
        for revision in 1..=4 {
            feed.send(Ok(batch(revision, &["/a/1"]))).unwrap();
        }
        assert_eq!(lagging.next().await.unwrap(), Err(StoreError::WatcherLagged));
        assert!(lagging.next().await.is_none());
        let compacted = StoreError::Compacted { requested: 1, compact_revision: 9 };
        let feed2 = channel(8);
        let mut ended = watch_stream(vec![], feed2.subscribe(), request(0));
        feed2.send(Err(compacted.clone())).unwrap();
        assert_eq!(ended.next().await.unwrap(), Err(compacted));
        assert!(ended.next().await.is_none());
    }
}
