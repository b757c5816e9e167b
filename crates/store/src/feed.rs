//! Watch fan-out: one broadcast feed of revision batches per store (or, in etcd, per watched
//! prefix), and the per-watcher stream that replays a backlog, follows the feed, filters by key
//! range and start revision, and ends with an error when the watcher lagged or the feed failed.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::{Event, Revision, StoreError, WatchRequest, WatchStream};

/// The events written at one revision, in the order the transaction's ops wrote them.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) revision: Revision,
    pub(crate) events: Vec<Event>,
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
            .events
            .iter()
            .filter(|event| request.range.contains(&request.key, &event.kv.key))
            .map(|event| Event {
                kind: event.kind,
                kv: event.kv.clone(),
                prev_kv: if request.prev_kv { event.prev_kv.clone() } else { None },
            })
            .collect();
        (!events.is_empty()).then_some(events)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use futures::StreamExt;

    use super::*;
    use crate::{EventKind, KeyRange, KeyValue};

    fn batch(revision: Revision, keys: &[&str]) -> Arc<Batch> {
        let events = keys
            .iter()
            .map(|key| Event {
                kind: EventKind::Put,
                kv: KeyValue {
                    key: key.to_string(),
                    value: Bytes::from_static(b"v"),
                    create_revision: revision,
                    mod_revision: revision,
                    version: 1,
                },
                prev_kv: None,
            })
            .collect();
        Arc::new(Batch { revision, events })
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
