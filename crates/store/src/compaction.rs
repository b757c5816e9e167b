//! Automatic compaction, as kube-apiserver does it: every interval (5 minutes by default),
//! compact to the revision that was current at the previous tick, so that at least one interval
//! of history stays watchable and nothing grows without bound.
//!
//! [`CompactionPolicy`] is the schedule; [`spawn_compactor`] runs it as a tokio task against
//! any [`Store`], and several processes on one store (replicas on one etcd) compact once per
//! interval between them through kube-apiserver's [`COMPACT_REV_KEY`] protocol.
//! [`EmbeddedStore`](crate::EmbeddedStore), which one process owns, runs the same schedule on its
//! writer thread, so opening it is enough.

use std::sync::Arc;
use std::time::Duration;

use crate::{Compare, CompareOp, Op, OpResponse, RangeRequest, Revision, Store, StoreError, Txn};

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

/// The key through which compactors on several processes sharing one store agree on who
/// compacts at each interval: kube-apiserver's key and protocol (`etcd3/compact.go`), so Rampart
/// replicas (and a kube-apiserver, should one share the etcd) compact once per interval between
/// them.
pub const COMPACT_REV_KEY: &str = "compact_rev_key";

/// The compactor of a store one process owns: its memory between ticks.
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

/// One compactor among several on a shared store, in kube-apiserver's protocol: the version of
/// [`COMPACT_REV_KEY`] it last saw, and the revision that was current at its previous tick.
#[derive(Debug, Default)]
pub(crate) struct CoordinatedCompactor {
    /// The version of the key this compactor expects (0: the key does not exist yet).
    version: i64,
    /// The store's revision at the previous tick: what the winner of this tick compacts to.
    previous: Revision,
}

impl CoordinatedCompactor {
    /// One tick: if the key's version is still the one last seen, claim this interval (put the
    /// previous tick's revision, bumping the version) and compact to that revision; else adopt
    /// the other compactor's version and wait for the next tick. Either way remember the
    /// current revision for the next tick. Returns the revision compacted to, if this one did.
    pub(crate) async fn tick(&mut self, store: &dyn Store) -> Result<Option<Revision>, StoreError> {
        let txn = Txn {
            compare: vec![Compare::Version(COMPACT_REV_KEY.into(), CompareOp::Equal, self.version)],
            success: vec![Op::put(COMPACT_REV_KEY, self.previous.to_string())],
            failure: vec![Op::Range(RangeRequest::key(COMPACT_REV_KEY))],
        };
        let response = store.txn(txn).await?;
        let target = std::mem::replace(&mut self.previous, response.revision);
        if !response.succeeded {
            self.version = match response.responses.first() {
                Some(OpResponse::Range(range)) => range.kvs.first().map_or(0, |kv| kv.version),
                _ => 0,
            };
            return Ok(None);
        }
        self.version += 1;
        if target == 0 {
            return Ok(None); // the first tick only records, as kube's does at bootstrap
        }
        match store.compact(target).await {
            Ok(()) => Ok(Some(target)),
            Err(StoreError::Compacted { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }
}

/// Compact `store` according to `policy` until the returned task is aborted, coordinating
/// through [`COMPACT_REV_KEY`] with every other compactor of the same store. Failures are
/// logged and retried at the next tick; a compaction someone else already made is not one.
pub fn spawn_compactor(store: Arc<dyn Store>, policy: CompactionPolicy) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut compactor = CoordinatedCompactor::default();
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + policy.interval, policy.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match compactor.tick(&*store).await {
                Ok(Some(revision)) => tracing::debug!(revision, "compacted"),
                Ok(None) => {}
                Err(err) => tracing::warn!(error = %err, "compaction failed; trying again at the next interval"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MemStore, StoreExt};

    #[test]
    fn compacts_to_the_revision_of_the_previous_tick() {
        let mut compactor = Compactor::default();
        assert_eq!(compactor.tick(10, 0), None, "the first tick only records");
        assert_eq!(compactor.tick(25, 0), Some(10));
        assert_eq!(compactor.tick(25, 10), Some(25), "no write since: everything before 25 goes");
        assert_eq!(compactor.tick(25, 25), None, "nothing new to forget");
        assert_eq!(compactor.tick(40, 30), None, "someone compacted past the target already");
    }

    #[tokio::test]
    async fn two_compactors_compact_once_per_interval_to_the_previous_ticks_revision() {
        let store = MemStore::new();
        let (mut a, mut b) = (CoordinatedCompactor::default(), CoordinatedCompactor::default());
        store.put("/a", "1".into()).await.unwrap();
        assert_eq!(a.tick(&store).await.unwrap(), None, "the first tick only records");
        assert_eq!(b.tick(&store).await.unwrap(), None, "b lost the first interval to a");
        let first = store.get(COMPACT_REV_KEY).await.unwrap().unwrap();
        assert_eq!(first.version, 1);
        for value in ["2", "3"] {
            store.put("/a", value.into()).await.unwrap();
        }
        // The next interval: whoever ticks first wins it and compacts to what it saw last time.
        let seen = b.previous;
        let won = b.tick(&store).await.unwrap().expect("b won the second interval");
        assert_eq!(a.tick(&store).await.unwrap(), None, "a lost it");
        assert_eq!(won, seen, "b compacted to the revision its previous tick saw");
        assert_eq!(store.revisions().1, won);
        let key = store.get(COMPACT_REV_KEY).await.unwrap().unwrap();
        assert_eq!((key.version, String::from_utf8_lossy(&key.value).parse::<i64>().unwrap()), (2, won));
        // A third interval goes to whoever ticks first again: the loser adopted the version.
        store.put("/a", "4".into()).await.unwrap();
        assert!(a.tick(&store).await.unwrap().is_some(), "a won the third interval");
        assert_eq!(b.tick(&store).await.unwrap(), None);
        assert_eq!(store.get(COMPACT_REV_KEY).await.unwrap().unwrap().version, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_task_compacts_a_store_on_schedule() {
        let store = Arc::new(MemStore::new());
        store.put("/a", "1".into()).await.unwrap();
        store.put("/a", "2".into()).await.unwrap();
        let task = spawn_compactor(store.clone(), CompactionPolicy::every(Duration::from_secs(60)));
        tokio::time::sleep(Duration::from_secs(61)).await; // first tick: remembers the revision
        store.put("/a", "3".into()).await.unwrap();
        let old = RangeRequest { revision: 1, ..RangeRequest::key("/a") };
        assert!(store.range(old.clone()).await.is_ok(), "history kept for one interval");
        tokio::time::sleep(Duration::from_secs(60)).await; // second tick: compacts to the first
        let (current, compacted) = store.revisions();
        assert_eq!(compacted, 3, "compacted to the first tick's revision (after its claim of the key)");
        assert_eq!(current, 5);
        assert!(matches!(store.range(old).await, Err(StoreError::Compacted { compact_revision: 3, .. })));
        task.abort();
    }
}
