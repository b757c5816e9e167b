//! The etcd backend: the trait over etcd's v3 API with `etcd-client`, for running several
//! Rampart replicas on one etcd cluster, as EKS's control plane does.
//!
//! Ranges, transactions and compaction are one RPC each; etcd's errors map to the trait's:
//! "required revision has been compacted" to [`StoreError::Compacted`] (with the compaction
//! revision asked of etcd), "required revision is a future revision" to
//! [`StoreError::FutureRevision`], "duplicate key given in txn request" to
//! [`StoreError::InvalidRequest`].
//!
//! The client policy is ours, because etcd-client retries nothing (it keeps sending about one
//! request in ten to a dead member, and a request without quorum hangs for etcd's 7 s): every
//! request requires a leader (etcd answers "no leader" at once instead of waiting) and has a
//! deadline ([`EtcdOptions::request_timeout`], 5 s), and each attempt a shorter one
//! ([`EtcdOptions::attempt_timeout`], 1 s: a request stuck on a member that just died is
//! abandoned). Within the deadline, reads are retried when etcd was unavailable; writes only when
//! they provably never reached etcd (a failed connection) or were refused for want of a leader. A write whose fate is unknown (a timeout, a broken connection)
//! is resolved by reading its keys back: if every key it puts holds exactly the value it wrote,
//! at one revision, it was applied; otherwise the caller gets [`StoreError::Unavailable`] saying
//! the outcome is unknown. What cannot be answered in time is [`StoreError::Unavailable`].
//!
//! Watches fan out from one etcd watch per watched key range (a feed): every watcher of the
//! same range shares it, replaying the feed's backlog of recent batches and then following it
//! (the same per-watcher stream as the other backends). A watcher that starts before the
//! backlog restarts the feed from its revision; watchers already on the feed skip what they
//! have seen. A feed whose last watcher is gone cancels its etcd watch. If etcd cancels a
//! feed (its start was compacted meanwhile) or the connection fails, every watcher of that feed
//! gets the error and ends, as a Kubernetes watch does (the client lists again).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client as etcd;
use tokio::sync::{broadcast, oneshot};

use crate::feed::{self, Batch, Change, FeedItem, Stored};
use crate::mem::DEFAULT_WATCH_CAPACITY;
use crate::{
    Compare, CompareOp, EventKind, KeyRange, KeyValue, Op, OpResponse, RangeRequest, RangeResponse, Result, Revision,
    Store, StoreError, Txn, TxnResponse, WatchRequest, WatchStream,
};

/// How often an idle feed checks whether anyone still watches it.
const IDLE_CHECK: Duration = Duration::from_secs(10);

/// The feeds of a store, by watched key range.
type Feeds = Arc<Mutex<HashMap<(String, KeyRange), Arc<Feed>>>>;

/// How long to wait between two attempts of a retried request (the Go client's 25 ms).
const RETRY_BACKOFF: Duration = Duration::from_millis(25);

/// How an [`EtcdStore`] connects and fans out.
#[derive(Clone, Debug)]
pub struct EtcdOptions {
    /// How long to wait for a connection to etcd.
    pub connect_timeout: Duration,
    /// How long one call (a range, a transaction, a compaction) may take, retries included,
    /// before it fails with [`StoreError::Unavailable`]. Watches have no deadline.
    pub request_timeout: Duration,
    /// How long one attempt of a call may take: a request stuck on a member that just died is
    /// abandoned after it (a read is sent again, a write is resolved by reading it back).
    pub attempt_timeout: Duration,
    /// TLS to etcd (`https://` endpoints), with a client certificate if etcd asks for one.
    pub tls: Option<EtcdTls>,
    /// How many revisions a watcher may fall behind its feed before it gets
    /// [`StoreError::WatcherLagged`]; also how many recent batches a feed keeps for new
    /// watchers.
    pub watch_capacity: usize,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        EtcdOptions {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(1),
            tls: None,
            watch_capacity: DEFAULT_WATCH_CAPACITY,
        }
    }
}

/// PEM material for TLS to etcd (kube-apiserver's `--etcd-cafile`, `--etcd-certfile`,
/// `--etcd-keyfile`).
#[derive(Clone, Debug, Default)]
pub struct EtcdTls {
    /// The CA that signed etcd's serving certificates (else the system's roots are not used:
    /// etcd's certificates are rarely public).
    pub ca_pem: Option<String>,
    /// A client certificate and its key, for an etcd started with `--client-cert-auth`.
    pub identity: Option<(String, String)>,
}

/// How a failed etcd call may be retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    /// Provably not applied: no connection, or no leader. Any call may be retried.
    NotSent,
    /// etcd was unavailable; a read may be retried, a write may have been applied.
    Unavailable,
    /// An answer: nothing to retry.
    Final,
}

fn classify(err: &etcd::Error) -> Failure {
    match err {
        etcd::Error::GRpcStatus(status) => {
            let message = status.message();
            if message.contains("no leader")
                || message.contains("connect error")
                || message.contains("trying to connect")
            {
                Failure::NotSent
            } else if matches!(status.code() as i32, UNAVAILABLE | DEADLINE_EXCEEDED | UNKNOWN | CANCELLED)
                || message.contains("request timed out")
                || message.contains("leader changed")
            {
                Failure::Unavailable
            } else {
                Failure::Final
            }
        }
        etcd::Error::TransportError(_) | etcd::Error::IoError(_) => Failure::Unavailable,
        _ => Failure::Final,
    }
}

/// gRPC status codes (tonic's `Code` discriminants).
const CANCELLED: i32 = 1;
const UNKNOWN: i32 = 2;
const DEADLINE_EXCEEDED: i32 = 4;
const UNAVAILABLE: i32 = 14;

/// A [`Store`] on an etcd cluster (v3 API; tested against etcd 3.4). Cloning shares the
/// connection and the watch feeds.
#[derive(Clone)]
pub struct EtcdStore {
    client: etcd::Client,
    feeds: Feeds,
    options: EtcdOptions,
}

impl EtcdStore {
    /// Connect to etcd at `endpoints` (`http://host:port`, or `https://` with
    /// [`EtcdOptions::tls`]), checking within the connect timeout that a member answers.
    pub async fn connect(endpoints: &[String], options: EtcdOptions) -> Result<Self> {
        let unreachable =
            |err: etcd::Error| StoreError::Backend(format!("cannot reach etcd at {}: {err}", endpoints.join(", ")));
        let mut connect = etcd::ConnectOptions::new()
            .with_connect_timeout(options.connect_timeout)
            // kube-apiserver's keepalive (never under etcd's 5 s minimum, which answers GOAWAY).
            .with_keep_alive(Duration::from_secs(30), Duration::from_secs(10))
            .with_require_leader(true);
        if let Some(tls) = &options.tls {
            let mut config = etcd::TlsOptions::new();
            if let Some(ca) = &tls.ca_pem {
                config = config.ca_certificate(etcd::Certificate::from_pem(ca));
            }
            if let Some((cert, key)) = &tls.identity {
                config = config.identity(etcd::Identity::from_pem(cert, key));
            }
            connect = connect.with_tls(config);
        }
        let client = etcd::Client::connect(endpoints, Some(connect)).await.map_err(unreachable)?;
        let deadline = tokio::time::Instant::now() + options.connect_timeout;
        let mut last = None;
        while tokio::time::Instant::now() < deadline {
            let mut maintenance = client.maintenance_client();
            match tokio::time::timeout_at(deadline, maintenance.status()).await {
                Ok(Ok(_)) => return Ok(EtcdStore { client, feeds: Arc::default(), options }),
                Ok(Err(err)) if classify(&err) != Failure::Final => last = Some(err),
                Ok(Err(err)) => return Err(unreachable(err)),
                Err(_) => break,
            }
            tokio::time::sleep(RETRY_BACKOFF).await;
        }
        Err(match last {
            Some(err) => unreachable(err),
            None => StoreError::Backend(format!(
                "etcd at {} does not answer within {:?}",
                endpoints.join(", "),
                options.connect_timeout
            )),
        })
    }

    /// Runs `call` until it succeeds, fails for good, or the request timeout passes; a failure
    /// is retried when `retry` says so.
    async fn call<T, F, Fut>(&self, what: &str, retry: impl Fn(Failure) -> bool, call: F) -> Result<T, Attempt>
    where
        F: Fn(etcd::Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd::Error>>,
    {
        let deadline = tokio::time::Instant::now() + self.options.request_timeout;
        loop {
            let attempt_deadline = deadline.min(tokio::time::Instant::now() + self.options.attempt_timeout);
            let failure = match tokio::time::timeout_at(attempt_deadline, call(self.client.clone())).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(err)) => Attempt { failure: classify(&err), err: Some(err) },
                Err(_) => Attempt { failure: Failure::Unavailable, err: None },
            };
            if !retry(failure.failure) || tokio::time::Instant::now() + RETRY_BACKOFF >= deadline {
                return Err(failure);
            }
            if let Some(err) = &failure.err {
                tracing::debug!(error = %err, "etcd {what}: retrying");
            }
            tokio::time::sleep(RETRY_BACKOFF).await;
        }
    }

    /// A read: retried while etcd is unavailable.
    async fn read<T, F, Fut>(&self, what: &str, requested: Revision, call: F) -> Result<T>
    where
        F: Fn(etcd::Client) -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd::Error>>,
    {
        match self.call(what, |failure| failure != Failure::Final, call).await {
            Ok(answer) => Ok(answer),
            Err(attempt) => Err(self.attempt_error(what, attempt, requested).await),
        }
    }

    async fn attempt_error(&self, what: &str, attempt: Attempt, requested: Revision) -> StoreError {
        let timeout = self.options.request_timeout;
        match attempt {
            Attempt { err: None, .. } => {
                StoreError::Unavailable(format!("etcd did not answer a {what} within {timeout:?}"))
            }
            Attempt { failure: Failure::Final, err: Some(err) } => self.error(err, requested).await,
            Attempt { err: Some(err), .. } => StoreError::Unavailable(format!("etcd {what}: {}", message(&err))),
        }
    }

    /// The store's error for an etcd error, for a request at `requested` (a revision).
    async fn error(&self, err: etcd::Error, requested: Revision) -> StoreError {
        let etcd::Error::GRpcStatus(status) = &err else { return StoreError::Backend(format!("etcd: {err}")) };
        let message = status.message();
        if message.contains("required revision has been compacted") {
            return match self.compact_revision().await {
                Ok(compact_revision) => StoreError::Compacted { requested, compact_revision },
                Err(err) => err,
            };
        }
        if message.contains("required revision is a future revision") {
            return match self.revision_once().await {
                Ok(current) => StoreError::FutureRevision { requested, current },
                Err(err) => err,
            };
        }
        if message.contains("duplicate key given in txn request") {
            return StoreError::InvalidRequest(message.trim_start_matches("etcdserver: ").to_string());
        }
        StoreError::Backend(format!("etcd: {message}"))
    }

    /// The revision etcd last compacted to (only asked when an error says there was one; one
    /// attempt, so that an error never asks again).
    async fn compact_revision(&self) -> Result<Revision> {
        let mut maintenance = self.client.maintenance_client();
        match tokio::time::timeout(self.options.request_timeout, maintenance.hash_kv(0)).await {
            Ok(Ok(response)) => Ok(response.compact_version()),
            Ok(Err(err)) => Err(StoreError::Unavailable(format!("etcd: {}", message(&err)))),
            Err(_) => Err(StoreError::Unavailable("etcd did not say its compaction revision in time".into())),
        }
    }

    /// The current revision, by one linearizable read (one attempt; see `compact_revision`).
    async fn revision_once(&self) -> Result<Revision> {
        let mut kv = self.client.kv_client();
        let count = etcd::GetOptions::new().with_count_only();
        match tokio::time::timeout(self.options.request_timeout, kv.get("\0", Some(count))).await {
            Ok(Ok(response)) => header_revision(response.header()),
            Ok(Err(err)) => Err(StoreError::Unavailable(format!("etcd: {}", message(&err)))),
            Err(_) => Err(StoreError::Unavailable("etcd did not say its revision in time".into())),
        }
    }

    /// A transaction whose outcome etcd did not tell: applied if every key its success branch
    /// puts (it must put something and do nothing else) holds exactly the value it wrote, all
    /// at one revision.
    async fn resolve(&self, txn: &Txn) -> Option<TxnResponse> {
        let puts: Vec<(&String, &Bytes)> = txn
            .success
            .iter()
            .map(|op| match op {
                Op::Put { key, value } => Some((key, value)),
                _ => None,
            })
            .collect::<Option<_>>()?;
        let mut revision = None;
        for (key, value) in &puts {
            let request = RangeRequest::key(key.as_str());
            let response = self.read("read-back", 0, |client| read_range(client, &request)).await.ok()?;
            let kv = response.kvs().first()?;
            if kv.value() != value.as_ref() || revision.is_some_and(|r| r != kv.mod_revision()) {
                return None;
            }
            revision = Some(kv.mod_revision());
        }
        let responses = puts.iter().map(|_| OpResponse::Put { prev_kv: None }).collect();
        Some(TxnResponse { succeeded: true, revision: revision?, responses })
    }

    fn feeds(&self) -> MutexGuard<'_, HashMap<(String, KeyRange), Arc<Feed>>> {
        self.feeds.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The backlog from `start` and a subscription to the feed of `key`/`range`, starting or
    /// restarting the feed if it does not reach back to `start`.
    fn subscribe(
        &self,
        key: &str,
        range: &KeyRange,
        start: Revision,
    ) -> (Vec<Arc<Batch>>, broadcast::Receiver<FeedItem>, Option<oneshot::Receiver<()>>) {
        let mut feeds = self.feeds();
        let id = (key.to_string(), range.clone());
        let feed = feeds
            .entry(id.clone())
            .or_insert_with(|| {
                Arc::new(Feed {
                    id,
                    sender: feed::channel(self.options.watch_capacity),
                    state: Mutex::new(FeedState {
                        from: Revision::MAX,
                        backlog: VecDeque::new(),
                        generation: 0,
                        task: None,
                    }),
                })
            })
            .clone();
        let mut state = feed.state();
        let mut established = None;
        if start < state.from {
            // Replay from `start` on a new etcd watch; the old one is canceled (its task, if
            // mid-publish, sees it is stale). Watchers already on the feed skip what they saw.
            if let Some(old) = state.task.take() {
                old.abort();
            }
            state.generation += 1;
            state.from = start;
            state.backlog.clear();
            let (ready, ready_rx) = oneshot::channel();
            established = Some(ready_rx);
            let task = FeedTask {
                client: self.client.clone(),
                feeds: self.feeds.clone(),
                feed: feed.clone(),
                generation: state.generation,
                capacity: self.options.watch_capacity,
                ready: Some(ready),
            };
            state.task = Some(tokio::spawn(task.run(start)).abort_handle());
        }
        let first = state.backlog.partition_point(|batch| batch.revision < start);
        let backlog = state.backlog.range(first..).cloned().collect();
        (backlog, feed.sender.subscribe(), established)
    }
}

/// A call that failed: how, and etcd's error (none: the deadline passed).
struct Attempt {
    failure: Failure,
    err: Option<etcd::Error>,
}

/// An etcd error's own words (a gRPC status's message).
fn message(err: &etcd::Error) -> String {
    match err {
        etcd::Error::GRpcStatus(status) => status.message().to_string(),
        other => other.to_string(),
    }
}

/// One etcd watch, shared by every watcher of its key range.
struct Feed {
    id: (String, KeyRange),
    sender: broadcast::Sender<FeedItem>,
    state: Mutex<FeedState>,
}

struct FeedState {
    /// The backlog holds every batch from this revision on that the etcd watch delivered.
    from: Revision,
    backlog: VecDeque<Arc<Batch>>,
    /// Which task publishes; bumped at each restart.
    generation: u64,
    task: Option<tokio::task::AbortHandle>,
}

impl Feed {
    fn state(&self) -> MutexGuard<'_, FeedState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct FeedTask {
    client: etcd::Client,
    feeds: Feeds,
    feed: Arc<Feed>,
    generation: u64,
    capacity: usize,
    /// Told when etcd has answered the watch's creation: from then on a compaction cannot take
    /// the start revision away from it.
    ready: Option<oneshot::Sender<()>>,
}

impl FeedTask {
    async fn run(mut self, start: Revision) {
        let (key, range) = &self.feed.id;
        let options = watch_options(range).with_start_revision(start).with_prev_key();
        let mut watch = match self.client.watch_client().watch(key.as_str(), Some(options)).await {
            Ok(watch) => watch,
            Err(err) => return self.fail(StoreError::Backend(format!("etcd watch on {key}: {err}"))),
        };
        let mut idle = tokio::time::interval_at(tokio::time::Instant::now() + IDLE_CHECK, IDLE_CHECK);
        loop {
            let response = tokio::select! {
                response = watch.message() => response,
                _ = idle.tick() => {
                    if self.retire_if_unwatched() {
                        return;
                    }
                    continue;
                }
            };
            if let Some(ready) = self.ready.take() {
                let _ = ready.send(());
            }
            let response = match response {
                Ok(Some(response)) => response,
                Ok(None) => return self.fail(StoreError::Backend(format!("etcd closed the watch on {key}"))),
                Err(err) => return self.fail(StoreError::Backend(format!("etcd watch on {key}: {err}"))),
            };
            if response.canceled() {
                let err = if response.compact_revision() > 0 {
                    StoreError::Compacted { requested: start, compact_revision: response.compact_revision() }
                } else {
                    StoreError::Backend(format!("etcd canceled the watch on {key}: {}", response.cancel_reason()))
                };
                return self.fail(err);
            }
            let batches = match batches(response.events()) {
                Ok(batches) => batches,
                Err(err) => return self.fail(err),
            };
            if !self.publish(batches) || self.retire_if_unwatched() {
                return;
            }
        }
    }

    /// Publish `batches`; false if this task is stale (the feed was restarted).
    fn publish(&self, batches: Vec<Batch>) -> bool {
        let mut state = self.feed.state();
        if state.generation != self.generation {
            return false;
        }
        for batch in batches {
            if state.backlog.back().is_some_and(|last| last.revision >= batch.revision) {
                continue;
            }
            let batch = Arc::new(batch);
            state.backlog.push_back(batch.clone());
            while state.backlog.len() > self.capacity {
                if let Some(evicted) = state.backlog.pop_front() {
                    state.from = evicted.revision + 1;
                }
            }
            let _ = self.feed.sender.send(Ok(batch));
        }
        true
    }

    /// Remove the feed if nobody watches it (dropping the task's etcd watch cancels it).
    fn retire_if_unwatched(&self) -> bool {
        if self.feed.sender.receiver_count() > 0 {
            return false;
        }
        let mut feeds = self.feeds.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let state = self.feed.state();
        if state.generation != self.generation {
            return true;
        }
        if self.feed.sender.receiver_count() > 0 {
            return false;
        }
        if feeds.get(&self.feed.id).is_some_and(|feed| Arc::ptr_eq(feed, &self.feed)) {
            feeds.remove(&self.feed.id);
        }
        true
    }

    /// End every watch on the feed with `err` and remove the feed.
    fn fail(&self, err: StoreError) {
        let mut feeds = self.feeds.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let state = self.feed.state();
        if state.generation != self.generation {
            return;
        }
        tracing::debug!(key = %self.feed.id.0, error = %err, "etcd watch feed ended");
        let _ = self.feed.sender.send(Err(err));
        if feeds.get(&self.feed.id).is_some_and(|feed| Arc::ptr_eq(feed, &self.feed)) {
            feeds.remove(&self.feed.id);
        }
    }
}

/// etcd's events, grouped by revision.
fn batches(events: &[etcd::Event]) -> Result<Vec<Batch>> {
    let mut batches: Vec<Batch> = Vec::new();
    for event in events {
        let kv = event.kv().ok_or_else(|| StoreError::Backend("etcd sent an event without a key".into()))?;
        let kind = match event.event_type() {
            etcd::EventType::Put => EventKind::Put,
            etcd::EventType::Delete => EventKind::Delete,
        };
        let change = Change { key: Arc::from(utf8_key(kv)?), kind, kv: stored(kv), prev: event.prev_kv().map(stored) };
        match batches.last_mut() {
            Some(batch) if batch.revision == change.kv.mod_revision => batch.changes.push(change),
            _ => batches.push(Batch { revision: change.kv.mod_revision, changes: vec![change] }),
        }
    }
    Ok(batches)
}

fn utf8_key(kv: &etcd::KeyValue) -> Result<&str> {
    std::str::from_utf8(kv.key())
        .map_err(|_| StoreError::Backend(format!("etcd holds a key that is not UTF-8: {:?}", kv.key())))
}

fn stored(kv: &etcd::KeyValue) -> Stored {
    Stored {
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        version: kv.version(),
    }
}

fn key_value(kv: &etcd::KeyValue) -> Result<KeyValue> {
    Ok(stored(kv).with_key(utf8_key(kv)?))
}

fn key_values(kvs: &[etcd::KeyValue]) -> Result<Vec<KeyValue>> {
    kvs.iter().map(key_value).collect()
}

fn get_options(request: &RangeRequest) -> etcd::GetOptions {
    let mut options = match &request.range {
        KeyRange::Single => etcd::GetOptions::new(),
        KeyRange::Prefix => etcd::GetOptions::new().with_prefix(),
        KeyRange::UpTo(end) => etcd::GetOptions::new().with_range(end.as_str()),
    };
    if request.limit > 0 {
        options = options.with_limit(request.limit as i64);
    }
    if request.revision > 0 {
        options = options.with_revision(request.revision);
    }
    if request.count_only {
        options = options.with_count_only();
    }
    options
}

fn delete_options(range: &KeyRange) -> etcd::DeleteOptions {
    let options = etcd::DeleteOptions::new().with_prev_key();
    match range {
        KeyRange::Single => options,
        KeyRange::Prefix => options.with_prefix(),
        KeyRange::UpTo(end) => options.with_range(end.as_str()),
    }
}

fn watch_options(range: &KeyRange) -> etcd::WatchOptions {
    match range {
        KeyRange::Single => etcd::WatchOptions::new(),
        KeyRange::Prefix => etcd::WatchOptions::new().with_prefix(),
        KeyRange::UpTo(end) => etcd::WatchOptions::new().with_range(end.as_str()),
    }
}

fn compare(compare: &Compare) -> etcd::Compare {
    let op = |op: &CompareOp| match op {
        CompareOp::Equal => etcd::CompareOp::Equal,
        CompareOp::NotEqual => etcd::CompareOp::NotEqual,
        CompareOp::Greater => etcd::CompareOp::Greater,
        CompareOp::Less => etcd::CompareOp::Less,
    };
    match compare {
        Compare::ModRevision(key, o, revision) => etcd::Compare::mod_revision(key.as_str(), op(o), *revision),
        Compare::CreateRevision(key, o, revision) => etcd::Compare::create_revision(key.as_str(), op(o), *revision),
        Compare::Version(key, o, version) => etcd::Compare::version(key.as_str(), op(o), *version),
    }
}

fn txn_op(op: &Op) -> etcd::TxnOp {
    match op {
        Op::Put { key, value } => {
            etcd::TxnOp::put(key.as_str(), value.to_vec(), Some(etcd::PutOptions::new().with_prev_key()))
        }
        Op::Delete { key, range } => etcd::TxnOp::delete(key.as_str(), Some(delete_options(range))),
        Op::Range(request) => etcd::TxnOp::get(request.key.as_str(), Some(get_options(request))),
    }
}

fn header_revision(header: Option<&etcd::ResponseHeader>) -> Result<Revision> {
    header.map(|header| header.revision()).ok_or_else(|| StoreError::Backend("etcd answered without a header".into()))
}

fn range_response(response: &etcd::GetResponse, request: &RangeRequest, current: Revision) -> Result<RangeResponse> {
    Ok(RangeResponse {
        kvs: key_values(response.kvs())?,
        more: response.more(),
        count: response.count() as usize,
        revision: if request.revision > 0 { request.revision } else { current },
    })
}

async fn read_range(client: etcd::Client, request: &RangeRequest) -> Result<etcd::GetResponse, etcd::Error> {
    client.kv_client().get(request.key.as_str(), Some(get_options(request))).await
}

#[async_trait]
impl Store for EtcdStore {
    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        let response = self.read("range", request.revision, |client| read_range(client, &request)).await?;
        range_response(&response, &request, header_revision(response.header())?)
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        let request = etcd::Txn::new()
            .when(txn.compare.iter().map(compare).collect::<Vec<_>>())
            .and_then(txn.success.iter().map(txn_op).collect::<Vec<_>>())
            .or_else(txn.failure.iter().map(txn_op).collect::<Vec<_>>());
        let writes = txn.success.iter().chain(&txn.failure).any(|op| !matches!(op, Op::Range(_)));
        // A read-only transaction is a read; a write is retried only when it never left.
        let retry = |failure| failure == Failure::NotSent || (!writes && failure == Failure::Unavailable);
        let attempt = self.call("transaction", retry, |client| {
            let request = request.clone();
            async move { client.kv_client().txn(request).await }
        });
        let response = match attempt.await {
            Ok(response) => response,
            Err(attempt) => {
                if writes && attempt.failure == Failure::Unavailable {
                    if let Some(applied) = self.resolve(&txn).await {
                        return Ok(applied);
                    }
                    let why = attempt.err.as_ref().map_or_else(|| "no answer in time".to_string(), message);
                    return Err(StoreError::Unavailable(format!(
                        "etcd did not say whether a write was applied ({why}), and it is not visible"
                    )));
                }
                let requested = txn
                    .success
                    .iter()
                    .chain(&txn.failure)
                    .find_map(|op| match op {
                        Op::Range(range) if range.revision > 0 => Some(range.revision),
                        _ => None,
                    })
                    .unwrap_or(0);
                return Err(self.attempt_error("transaction", attempt, requested).await);
            }
        };
        let revision = header_revision(response.header())?;
        let ops = if response.succeeded() { &txn.success } else { &txn.failure };
        let mut responses = Vec::with_capacity(ops.len());
        for (op, op_response) in ops.iter().zip(response.op_responses()) {
            responses.push(match (op, op_response) {
                (Op::Put { .. }, etcd::TxnOpResponse::Put(put)) => {
                    OpResponse::Put { prev_kv: put.prev_key().map(key_value).transpose()? }
                }
                (Op::Delete { .. }, etcd::TxnOpResponse::Delete(delete)) => {
                    let mut deleted = key_values(delete.prev_kvs())?;
                    deleted.sort_by(|a, b| a.key.cmp(&b.key));
                    OpResponse::Delete { deleted }
                }
                (Op::Range(request), etcd::TxnOpResponse::Get(get)) => {
                    let current = get.header().map_or(revision, |header| header.revision());
                    OpResponse::Range(range_response(&get, request, current)?)
                }
                (op, other) => {
                    return Err(StoreError::Backend(format!("etcd answered {other:?} to {op:?}")));
                }
            });
        }
        Ok(TxnResponse { succeeded: response.succeeded(), revision, responses })
    }

    async fn watch(&self, request: WatchRequest) -> Result<WatchStream> {
        let start = if request.start_revision == 0 {
            self.current_revision().await? + 1
        } else {
            // A start etcd compacted away fails now, not on the stream.
            let probe = RangeRequest {
                revision: request.start_revision,
                count_only: true,
                range: request.range.clone(),
                ..RangeRequest::key(request.key.as_str())
            };
            match self.range(probe).await {
                Ok(_) | Err(StoreError::FutureRevision { .. }) => request.start_revision,
                Err(err) => return Err(err),
            }
        };
        let (backlog, live, established) = self.subscribe(&request.key, &request.range, start);
        // A new etcd watch is registered before the caller goes on (else a compaction right after
        // this returns could come first and cancel it). A failure reaches the stream.
        if let Some(established) = established {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), established).await;
        }
        Ok(feed::watch_stream(backlog, live, WatchRequest { start_revision: start, ..request }))
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        // Compacting twice to one revision is harmless: etcd says the second was compacted.
        self.read("compaction", revision, |client| async move { client.kv_client().compact(revision, None).await })
            .await
            .map(|_| ())
    }

    async fn current_revision(&self) -> Result<Revision> {
        let request = RangeRequest { count_only: true, ..RangeRequest::key("\0") };
        let response = self.read("revision read", 0, |client| read_range(client, &request)).await?;
        header_revision(response.header())
    }
}
