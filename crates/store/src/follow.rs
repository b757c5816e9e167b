//! Following a key prefix for as long as its consumer lives: the in-memory views Rampart keeps
//! of shared state (IAM accounts, EKS records) apply every change any replica makes, in revision
//! order, each revision once.
//!
//! [`follow`] watches the prefix from a start revision and hands each revision's events to a
//! [`Follower`]; a watch that ends (a broken connection, a restarted etcd member) resumes from
//! after the last revision applied, and a revision at or below it (etcd 3.4.23 can repeat
//! events) is skipped. When the history to resume from was compacted away, the follower reads
//! everything again ([`Follower::resync`]) and the watch resumes after that read. The task ends
//! when the follower is dropped.

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt as _;

use crate::{Event, KeyRange, Revision, Store, StoreError, WatchRequest};

/// How long to wait before watching again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// What consumes a followed prefix.
#[async_trait]
pub trait Follower: Send + Sync + 'static {
    type Error: std::fmt::Display + Send;

    /// Applies the changes of one revision (never one at or below a revision already applied).
    async fn apply(&self, events: Vec<Event>) -> Result<(), Self::Error>;

    /// Reads the whole prefix again; returns the revision it read at.
    async fn resync(&self) -> Result<Revision, Self::Error>;
}

/// Follows `prefix` of `store` from `start` (the revision after the consumer's initial read)
/// until `follower` is gone.
pub fn follow<F: Follower>(
    store: Arc<dyn Store>,
    prefix: &str,
    start: Revision,
    follower: Weak<F>,
) -> tokio::task::JoinHandle<()> {
    let prefix = prefix.to_string();
    tokio::spawn(async move {
        let mut next = start;
        loop {
            let Some(consumer) = follower.upgrade() else { return };
            let request =
                WatchRequest { key: prefix.clone(), range: KeyRange::Prefix, start_revision: next, prev_kv: false };
            let mut stream = match store.watch(request).await {
                Ok(stream) => stream,
                Err(StoreError::Compacted { .. }) => {
                    match consumer.resync().await {
                        Ok(revision) => next = revision + 1,
                        Err(error) => {
                            tracing::warn!(%prefix, %error, "cannot read the prefix again after a compaction; retrying");
                            drop(consumer);
                            tokio::time::sleep(RETRY).await;
                        }
                    }
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%prefix, %error, "cannot watch; retrying");
                    drop(consumer);
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            drop(consumer);
            while let Some(batch) = stream.next().await {
                let Some(consumer) = follower.upgrade() else { return };
                let events = match batch {
                    Ok(events) => events,
                    Err(error) => {
                        tracing::warn!(%prefix, %error, "the watch ended; resuming");
                        break;
                    }
                };
                let Some(revision) = events.first().map(|event| event.kv.mod_revision) else { continue };
                if revision < next {
                    continue; // a repeated revision
                }
                if let Err(error) = consumer.apply(events).await {
                    tracing::warn!(%prefix, %error, revision, "cannot apply a change; resuming from it");
                    break;
                }
                next = revision + 1;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::{MemStore, StoreExt};

    #[derive(Default)]
    struct Seen(Mutex<Vec<(String, Revision)>>);

    #[async_trait]
    impl Follower for Seen {
        type Error = String;

        async fn apply(&self, events: Vec<Event>) -> Result<(), String> {
            let mut seen = self.0.lock().unwrap();
            seen.extend(events.into_iter().map(|event| (event.kv.key, event.kv.mod_revision)));
            Ok(())
        }

        async fn resync(&self) -> Result<Revision, String> {
            Err("not in this test".into())
        }
    }

    #[tokio::test]
    async fn a_follower_sees_every_change_under_its_prefix_once_in_order_until_it_is_dropped() {
        let store = Arc::new(MemStore::new());
        let seen = Arc::new(Seen::default());
        let start = store.current_revision().await.unwrap() + 1;
        let task = follow(store.clone(), "/iam/", start, Arc::downgrade(&seen));
        let first = store.put("/iam/a", "1".into()).await.unwrap();
        store.put("/eks/b", "2".into()).await.unwrap();
        let last = store.put("/iam/c", "3".into()).await.unwrap();
        for _ in 0..100 {
            if seen.0.lock().unwrap().len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(*seen.0.lock().unwrap(), [("/iam/a".to_string(), first), ("/iam/c".to_string(), last)]);
        drop(seen);
        store.put("/iam/d", "4".into()).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), task).await.expect("the task ends with its follower").unwrap();
    }
}
