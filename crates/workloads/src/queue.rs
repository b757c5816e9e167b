//! A work queue as client-go's: a key is queued at most once, a key being processed is not
//! handed to a second worker, and a key added while it is processed is processed again after.
//! Controllers enqueue keys from watch events and workers reconcile them from the cache, so
//! bursts of events for one object cost one reconciliation.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

struct Inner<K> {
    queue: VecDeque<K>,
    /// Keys that need processing (queued, or re-added while processed).
    dirty: HashSet<K>,
    processing: HashSet<K>,
}

pub(crate) struct WorkQueue<K> {
    inner: Mutex<Inner<K>>,
    notify: Notify,
}

impl<K: Clone + Eq + Hash + Send + Sync + 'static> WorkQueue<K> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner { queue: VecDeque::new(), dirty: HashSet::new(), processing: HashSet::new() }),
            notify: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K>> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `key` unless it is already waiting.
    pub(crate) fn add(&self, key: K) {
        let mut inner = self.lock();
        if !inner.dirty.insert(key.clone()) || inner.processing.contains(&key) {
            return;
        }
        inner.queue.push_back(key);
        drop(inner);
        self.notify.notify_one();
    }

    /// Queues `key` after `delay` (a retry, or a time-based condition to check again).
    pub(crate) fn add_after(self: &Arc<Self>, key: K, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let queue = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            queue.add(key);
        });
    }

    /// The next key to process; the caller must call [`WorkQueue::done`] with it.
    pub(crate) async fn next(&self) -> K {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut inner = self.lock();
                if let Some(key) = inner.queue.pop_front() {
                    inner.dirty.remove(&key);
                    inner.processing.insert(key.clone());
                    let more = !inner.queue.is_empty();
                    drop(inner);
                    if more {
                        // Wake another worker for the rest.
                        self.notify.notify_one();
                    }
                    return key;
                }
            }
            notified.await;
        }
    }

    /// Marks `key` processed; queues it again if it was added meanwhile.
    pub(crate) fn done(&self, key: &K) {
        let mut inner = self.lock();
        inner.processing.remove(key);
        if inner.dirty.contains(key) {
            inner.queue.push_back(key.clone());
            drop(inner);
            self.notify.notify_one();
        }
    }

    /// How many keys wait (for tests and metrics).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().queue.len()
    }
}

/// Runs `workers` tasks that take keys from `queue` and hand each to `handle`.
pub(crate) fn run_workers<K, F, Fut>(queue: Arc<WorkQueue<K>>, workers: usize, handle: F) -> Vec<JoinHandle<()>>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    F: Fn(K) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handle = Arc::new(handle);
    (0..workers)
        .map(|_| {
            let queue = Arc::clone(&queue);
            let handle = Arc::clone(&handle);
            tokio::spawn(async move {
                loop {
                    let key = queue.next().await;
                    handle(key.clone()).await;
                    queue.done(&key);
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_is_queued_once_and_requeued_when_added_while_processed() {
        let queue = WorkQueue::new();
        queue.add("a");
        queue.add("a");
        queue.add("b");
        assert_eq!(queue.len(), 2);
        let first = queue.next().await;
        assert_eq!(first, "a");
        queue.add("a"); // changed while processed: not handed out twice at once
        assert_eq!(queue.next().await, "b");
        assert_eq!(queue.len(), 0);
        queue.done(&"a");
        assert_eq!(queue.len(), 1, "processed again after done");
        assert_eq!(queue.next().await, "a");
        queue.done(&"a");
        queue.done(&"b");
        assert_eq!(queue.len(), 0);
    }

    #[tokio::test]
    async fn workers_see_every_key() {
        let queue = WorkQueue::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let tasks = run_workers(Arc::clone(&queue), 3, move |key: u32| {
            let sink = Arc::clone(&sink);
            async move { sink.lock().unwrap().push(key) }
        });
        for key in 0..50 {
            queue.add(key);
        }
        queue.add_after(99, Duration::from_millis(20));
        for _ in 0..100 {
            if seen.lock().unwrap().len() == 51 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut seen = seen.lock().unwrap().clone();
        seen.sort();
        let mut want: Vec<u32> = (0..50).collect();
        want.push(99);
        assert_eq!(seen, want);
        tasks.into_iter().for_each(|t| t.abort());
    }
}
