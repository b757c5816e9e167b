//! Automatic compaction, as kube-apiserver does it: every interval (5 minutes by default),
//! compact to the revision that was current at the previous tick, so that at least one interval
//! of history stays watchable and nothing grows without bound.
//!
//! [`CompactionPolicy`] is the schedule and the decision; [`spawn_compactor`] runs it as a tokio
//! task against any [`Store`]. [`EmbeddedStore`](crate::EmbeddedStore) runs the same policy on
//! its writer thread, so opening it is enough.

use std::sync::Arc;
use std::time::Duration;

use crate::{Revision, Store, StoreError};

/// When to compact. kube-apiserver's default (`--etcd-compaction-interval`) is 5 minutes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompactionPolicy {
    /// How often to compact; each run forgets the history older than the previous run.
    pub interval: Duration,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        CompactionPolicy { interval: Duration::from_secs(5 * 60) }
    }
}

impl CompactionPolicy {
    pub fn every(interval: Duration) -> Self {
        CompactionPolicy { interval }
    }
}

/// The compactor's memory between ticks.
#[derive(Debug, Default)]
pub(crate) struct Compactor {
    /// The revision that was current at the previous tick.
    previous: Revision,
}

impl Compactor {
    /// At a tick, with the store at `current` and compacted up to `compacted`: the revision to
    /// compact to now, if history older than the previous tick exists.
    pub(crate) fn tick(&mut self, current: Revision, compacted: Revision) -> Option<Revision> {
        let target = std::mem::replace(&mut self.previous, current);
        (target > compacted).then_some(target)
    }
}

/// Compact `store` according to `policy` until the returned task is aborted. Failures are
/// logged and retried at the next tick; a compaction someone else already made is not one.
pub fn spawn_compactor(store: Arc<dyn Store>, policy: CompactionPolicy) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut compactor = Compactor::default();
        let mut compacted: Revision = 0;
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + policy.interval, policy.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let current = match store.current_revision().await {
                Ok(current) => current,
                Err(err) => {
                    tracing::warn!(error = %err, "compaction: cannot read the current revision");
                    continue;
                }
            };
            let Some(target) = compactor.tick(current, compacted) else { continue };
            match store.compact(target).await {
                Ok(()) => {
                    tracing::debug!(revision = target, "compacted");
                    compacted = target;
                }
                Err(StoreError::Compacted { compact_revision, .. }) => compacted = compact_revision,
                Err(err) => tracing::warn!(error = %err, revision = target, "compaction failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemStore, RangeRequest, StoreExt};

    #[test]
    fn compacts_to_the_revision_of_the_previous_tick() {
        let mut compactor = Compactor::default();
        assert_eq!(compactor.tick(10, 0), None, "the first tick only records");
        assert_eq!(compactor.tick(25, 0), Some(10));
        assert_eq!(compactor.tick(25, 10), Some(25), "no write since: everything before 25 goes");
        assert_eq!(compactor.tick(25, 25), None, "nothing new to forget");
        assert_eq!(compactor.tick(40, 30), None, "someone compacted past the target already");
    }

    #[tokio::test(start_paused = true)]
    async fn the_task_compacts_a_store_on_schedule() {
        let store = Arc::new(MemStore::new());
        store.put("/a", "1".into()).await.unwrap();
        store.put("/a", "2".into()).await.unwrap();
        let task = spawn_compactor(store.clone(), CompactionPolicy::every(Duration::from_secs(60)));
        tokio::time::sleep(Duration::from_secs(61)).await; // first tick: remembers 2
        store.put("/a", "3".into()).await.unwrap();
        let old = RangeRequest { revision: 1, ..RangeRequest::key("/a") };
        assert!(store.range(old.clone()).await.is_ok(), "history kept for one interval");
        tokio::time::sleep(Duration::from_secs(60)).await; // second tick: compacts to 2
        assert_eq!(store.revisions(), (3, 2));
        assert!(matches!(store.range(old).await, Err(StoreError::Compacted { compact_revision: 2, .. })));
        task.abort();
    }
}
