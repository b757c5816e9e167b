//! The kubelet of every node of the pool: each pod bound to one of them gets a worker (one
//! task per pod, as the kubelet's pod workers) that drives the runtime — sandbox, init
//! containers in order, then the containers — and reports to the API server what a user sees:
//! the pod's phase, conditions, addresses, container statuses, and the events of
//! `kubectl describe pod` (Pulling, Pulled, Created, Started, BackOff, Killing, Failed).
//!
//! A container whose command ends is handled by `restartPolicy` with the kubelet's back-off
//! (the first restart at once, then 10s doubling to 5m, `CrashLoopBackOff` while waiting); a pod
//! whose containers are all done is Succeeded or Failed. A pod being deleted has its containers
//! stopped within its grace period and is then removed. Pods that ran before a restart of
//! Rampart are started again as after a node reboot: the restart count goes up and the last
//! state is `Unknown` with exit code 255.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube_api::Target;
use kube_core::meta;
use kubelet::{ContainerSpec, ContainerState, PodRef, Runtime, Sandbox, Terminated};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::api::{self, Api};
use crate::cache::{Cache, Kind};
use crate::env;
use crate::events::{EventType, Recorder, Source};
use crate::nodes::{NodePoolState, PoolNode};

/// The kubelet's restart back-off: 10s, doubling, at most 5 minutes; forgotten after a
/// container ran twice that long.
const BACKOFF_INITIAL: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// How soon a container that could not be configured (a missing ConfigMap) is tried again.
const CONFIG_RETRY: Duration = Duration::from_secs(10);

enum PodMsg {
    Update(Arc<Value>),
    Removed,
    Exited { container: String, instance: u64, terminated: Terminated },
    RestartDue { container: String, instance: u64 },
    Retry,
}

/// The kubelets of the pool's nodes.
pub(crate) struct Kubelet {
    api: Arc<Api>,
    cache: Arc<Cache>,
    recorder: Arc<Recorder>,
    runtime: Arc<Runtime>,
    pool: Arc<NodePoolState>,
    workers: Mutex<HashMap<String, mpsc::UnboundedSender<PodMsg>>>,
    /// (node, image) pairs already pulled.
    images: Mutex<HashSet<(String, String)>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Kubelet {
    pub(crate) fn new(
        api: Arc<Api>,
        cache: Arc<Cache>,
        recorder: Arc<Recorder>,
        runtime: Arc<Runtime>,
        pool: Arc<NodePoolState>,
    ) -> Arc<Self> {
        Arc::new(Self {
            api,
            cache,
            recorder,
            runtime,
            pool,
            workers: Mutex::new(HashMap::new()),
            images: Mutex::new(HashSet::new()),
        })
    }

    /// Hands every change of a pod on a pool node to its worker.
    pub(crate) fn watch(self: &Arc<Self>) {
        let kubelet = Arc::clone(self);
        self.cache.on_change(move |change| {
            if change.kind != Kind::Pod {
                return;
            }
            let pod = change.object();
            let node = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default();
            let Some(member) = kubelet.pool.member(node) else { return };
            let uid = meta::uid(pod).to_string();
            let mut workers = lock(&kubelet.workers);
            match change.new {
                Some(new) => match workers.get(&uid) {
                    Some(tx) => {
                        let _ = tx.send(PodMsg::Update(Arc::clone(new)));
                    }
                    None => {
                        let (tx, rx) = mpsc::unbounded_channel();
                        let _ = tx.send(PodMsg::Update(Arc::clone(new)));
                        workers.insert(uid, tx.clone());
                        let worker = Worker::new(Arc::clone(&kubelet), member.clone(), new, tx);
                        tokio::spawn(worker.run(rx));
                    }
                },
                None => {
                    if let Some(tx) = workers.remove(&uid) {
                        let _ = tx.send(PodMsg::Removed);
                    }
                }
            }
        });
    }

    /// Stops every pod worker (their containers stay until the runtime goes).
    pub(crate) fn stop(&self) {
        lock(&self.workers).clear();
    }

    /// Whether the image is on the node; marks it pulled.
    fn pull(&self, node: &str, image: &str) -> bool {
        !lock(&self.images).insert((node.to_string(), image.to_string()))
    }

    /// The environment of a container, or the CreateContainerConfigError message.
    async fn environment(
        &self,
        pod: &Value,
        container: &Value,
        pod_ip: &str,
        node: &PoolNode,
    ) -> Result<Vec<kubelet::EnvVar>, String> {
        let namespace = meta::namespace(pod);
        let (configmaps, secrets) = env::references(container);
        let mut sources = env::Sources::default();
        for (names, def, map) in [
            (configmaps, &self.api.configmaps, &mut sources.configmaps),
            (secrets, &self.api.secrets, &mut sources.secrets),
        ] {
            for name in names {
                let found = self.api.objects.get(&Target::object(def, namespace, &name)).await.ok();
                map.insert(name, found);
            }
        }
        let services = self.cache.list(Kind::Service);
        let allocatable = self.pool.pool.capacity.allocatable();
        let ctx = env::Context {
            pod_ip,
            host_ip: &node.ip,
            node_cpu_millis: allocatable.cpu_millis,
            node_memory_bytes: allocatable.memory_bytes,
            services: &services,
        };
        env::resolve(pod, container, &sources, &ctx)
    }
}

/// Which container of the pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Init(usize),
    Main(usize),
}

/// A container as the worker tracks it.
#[derive(Clone, Debug)]
struct Track {
    name: String,
    image: String,
    /// An init container with `restartPolicy: Always` (a sidecar).
    sidecar: bool,
    state: TrackState,
    container_id: Option<String>,
    /// Restarts before this Rampart run (a recovered pod's count, plus its reboot).
    restart_offset: u32,
    restarts: u32,
    /// The previous instance's end and id.
    previous: Option<(Terminated, String)>,
    backoff: Option<(Duration, DateTime<Utc>)>,
    /// Bumped at each start; exits of older instances are ignored.
    instance: u64,
    /// Stop and start again without back-off (its definition changed).
    restart_now: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum TrackState {
    Waiting { reason: String, message: Option<String> },
    Running { started_at: DateTime<Utc> },
    Terminated(Terminated),
}

impl Track {
    fn new(container: &Value, sidecar: bool, waiting: &str) -> Self {
        Self {
            name: container.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
            image: container.get("image").and_then(Value::as_str).unwrap_or_default().to_string(),
            sidecar,
            state: TrackState::Waiting { reason: waiting.into(), message: None },
            container_id: None,
            restart_offset: 0,
            restarts: 0,
            previous: None,
            backoff: None,
            instance: 0,
            restart_now: false,
        }
    }

    fn restart_count(&self) -> u32 {
        self.restart_offset + self.restarts
    }

    fn running(&self) -> bool {
        matches!(self.state, TrackState::Running { .. })
    }

    /// Whether it is done as an init container (exited 0, or a sidecar that started).
    fn initialized(&self) -> bool {
        match &self.state {
            TrackState::Terminated(t) => t.exit_code == 0 && !self.sidecar,
            TrackState::Running { .. } => self.sidecar,
            TrackState::Waiting { .. } => self.sidecar && self.container_id.is_some(),
        }
    }

    /// Whether the worker may start it now (never started, or its configuration failed).
    fn startable(&self) -> bool {
        matches!(&self.state, TrackState::Waiting { reason, .. }
            if reason != "CrashLoopBackOff" && (self.container_id.is_none() || reason == "CreateContainerConfigError"))
    }
}

/// The restart delay a container that ended at `finished` waits now (`None`: restart at once).
fn backoff_delay(
    backoff: Option<(Duration, DateTime<Utc>)>,
    finished: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<(Duration, Duration)> {
    let (current, last_update) = backoff?;
    let expired = (finished - last_update).to_std().is_ok_and(|d| d > 2 * BACKOFF_MAX);
    if expired {
        return None;
    }
    let since = (now - finished).to_std().unwrap_or_default();
    (since < current).then(|| (current - since, current))
}

/// The back-off after a restart at `now`.
fn next_backoff(backoff: Option<(Duration, DateTime<Utc>)>, now: DateTime<Utc>) -> (Duration, DateTime<Utc>) {
    match backoff {
        Some((current, last)) if (now - last).to_std().is_ok_and(|d| d <= 2 * BACKOFF_MAX) => {
            ((current * 2).min(BACKOFF_MAX), now)
        }
        _ => (BACKOFF_INITIAL, now),
    }
}

/// Go's `time.Duration` text for whole seconds (`10s`, `1m20s`, `5m0s`).
fn go_seconds(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs < 60 { format!("{secs}s") } else { format!("{}m{}s", secs / 60, secs % 60) }
}

/// Go's `time.Duration` text for a pull time in milliseconds (`823ms`, `1.5s`).
fn go_millis(millis: u64) -> String {
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let text = format!("{}.{:03}", millis / 1000, millis % 1000);
    format!("{}s", text.trim_end_matches('0').trim_end_matches('.'))
}

/// The image reference containerd reports (`nginx` → `docker.io/library/nginx:latest`).
pub(crate) fn normalize_image(image: &str) -> String {
    let (first, rest) = image.split_once('/').unwrap_or(("", image));
    let has_registry = !first.is_empty() && (first.contains('.') || first.contains(':') || first == "localhost");
    let mut name = match (has_registry, first.is_empty()) {
        (true, _) => image.to_string(),
        (false, true) => format!("docker.io/library/{rest}"),
        (false, false) => format!("docker.io/{image}"),
    };
    let last = name.rsplit('/').next().unwrap_or_default();
    if !last.contains(':') && !name.contains('@') {
        name.push_str(":latest");
    }
    name
}

fn image_digest(image: &str) -> String {
    hex::encode(Sha256::digest(normalize_image(image).as_bytes()))
}

/// `imageID`: the repository with the (simulated) digest.
fn image_id(image: &str) -> String {
    let normalized = normalize_image(image);
    let repository = match normalized.rsplit_once('@') {
        Some((repository, _)) => repository.to_string(),
        None => {
            let (path, last) = normalized.rsplit_once('/').unwrap_or(("", &normalized));
            let last = last.split(':').next().unwrap_or(last);
            if path.is_empty() { last.to_string() } else { format!("{path}/{last}") }
        }
    };
    format!("{repository}@sha256:{}", image_digest(image))
}

/// A container's progress as the pod phase counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    Waiting,
    /// Waiting to restart after an exit.
    Restarting,
    Running,
    Exited(i32),
}

/// The kubelet's `getPhase`.
pub(crate) fn pod_phase(
    restart_policy: &str,
    init_pending: bool,
    init_failed: bool,
    containers: &[Progress],
) -> &'static str {
    if init_failed && restart_policy == "Never" {
        return "Failed";
    }
    if init_pending {
        return "Pending";
    }
    let (mut waiting, mut running, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for progress in containers {
        match progress {
            Progress::Waiting => waiting += 1,
            Progress::Restarting => stopped += 1,
            Progress::Running => running += 1,
            Progress::Exited(code) => {
                stopped += 1;
                if *code == 0 {
                    succeeded += 1;
                }
            }
        }
    }
    if waiting > 0 {
        "Pending"
    } else if running > 0 {
        "Running"
    } else if stopped > 0 {
        if restart_policy == "Always" {
            "Running"
        } else if stopped == succeeded {
            "Succeeded"
        } else if restart_policy == "Never" {
            "Failed"
        } else {
            "Running"
        }
    } else {
        "Pending"
    }
}

fn terminated_json(t: &Terminated, container_id: Option<&str>) -> Value {
    let mut out = json!({"exitCode": t.exit_code});
    if let Some(signal) = t.signal {
        out["signal"] = signal.into();
    }
    out["reason"] = t.reason.clone().into();
    if let Some(message) = &t.message {
        out["message"] = message.clone().into();
    }
    out["startedAt"] = meta::format_time(t.started_at).into();
    out["finishedAt"] = meta::format_time(t.finished_at).into();
    if let Some(id) = container_id {
        out["containerID"] = format!("containerd://{id}").into();
    }
    json!({"terminated": out})
}

fn container_status_json(track: &Track) -> Value {
    let state = match &track.state {
        TrackState::Waiting { reason, message } => {
            let mut waiting = json!({"reason": reason});
            if let Some(message) = message {
                waiting["message"] = message.clone().into();
            }
            json!({"waiting": waiting})
        }
        TrackState::Running { started_at } => json!({"running": {"startedAt": meta::format_time(*started_at)}}),
        TrackState::Terminated(t) => terminated_json(t, track.container_id.as_deref()),
    };
    let last = match &track.previous {
        Some((t, id)) => terminated_json(t, Some(id)),
        None => json!({}),
    };
    let ever_started = track.container_id.is_some();
    let mut status = json!({
        "name": track.name,
        "state": state,
        "lastState": last,
        "ready": track.running(),
        "restartCount": track.restart_count(),
        "image": normalize_image(&track.image),
        "imageID": if ever_started { image_id(&track.image) } else { String::new() },
    });
    if let Some(id) = &track.container_id {
        status["containerID"] = format!("containerd://{id}").into();
    }
    status["started"] = track.running().into();
    status
}

/// One pod's worker.
struct Worker {
    kubelet: Arc<Kubelet>,
    tx: mpsc::UnboundedSender<PodMsg>,
    pod: Arc<Value>,
    node: PoolNode,
    pod_ref: PodRef,
    sandbox: Option<Arc<Sandbox>>,
    pod_ip: Option<String>,
    start_time: Option<String>,
    init: Vec<Track>,
    main: Vec<Track>,
    /// The pod ran before this Rampart run.
    recovered: bool,
    /// A terminal pod found at start: its status is final.
    frozen: bool,
    terminating: bool,
    retry_scheduled: bool,
    /// Condition type → (status, lastTransitionTime).
    transitions: HashMap<String, (String, String)>,
    last_written: Option<Value>,
}

impl Worker {
    fn new(kubelet: Arc<Kubelet>, node: PoolNode, pod: &Arc<Value>, tx: mpsc::UnboundedSender<PodMsg>) -> Self {
        let list =
            |name: &str| pod.pointer(&format!("/spec/{name}")).and_then(Value::as_array).cloned().unwrap_or_default();
        let init: Vec<Track> = list("initContainers")
            .iter()
            .map(|c| Track::new(c, c.get("restartPolicy").and_then(Value::as_str) == Some("Always"), "PodInitializing"))
            .collect();
        let waiting = if init.is_empty() { "ContainerCreating" } else { "PodInitializing" };
        let mut main: Vec<Track> = list("containers").iter().map(|c| Track::new(c, false, waiting)).collect();
        let phase = pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or_default();
        let statuses = pod.pointer("/status/containerStatuses").and_then(Value::as_array).cloned().unwrap_or_default();
        let recovered = statuses.iter().any(|s| s.get("containerID").is_some());
        if recovered {
            let now = Utc::now();
            for track in &mut main {
                let Some(before) = statuses.iter().find(|s| s["name"] == track.name.as_str()) else { continue };
                let count = before.get("restartCount").and_then(Value::as_u64).unwrap_or(0) as u32;
                track.restart_offset = count + 1;
                let started_at = before
                    .pointer("/state/running/startedAt")
                    .and_then(Value::as_str)
                    .and_then(meta::parse_time)
                    .unwrap_or(now);
                let id = before
                    .get("containerID")
                    .and_then(Value::as_str)
                    .map(|id| id.trim_start_matches("containerd://").to_string())
                    .unwrap_or_default();
                let unknown = Terminated {
                    exit_code: 255,
                    signal: None,
                    reason: "Unknown".into(),
                    message: None,
                    started_at,
                    finished_at: now,
                };
                track.previous = Some((unknown, id));
            }
        }
        let transitions = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|c| {
                        let kind = c.get("type")?.as_str()?.to_string();
                        let status = c.get("status")?.as_str()?.to_string();
                        let time = c.get("lastTransitionTime")?.as_str()?.to_string();
                        Some((kind, (status, time)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let pod_ref = PodRef {
            cluster: kubelet.api.objects.cluster().to_string(),
            namespace: meta::namespace(pod).to_string(),
            name: meta::name(pod).to_string(),
            uid: meta::uid(pod).to_string(),
        };
        Self {
            kubelet,
            tx,
            pod: Arc::clone(pod),
            node,
            pod_ref,
            sandbox: None,
            pod_ip: None,
            start_time: pod.pointer("/status/startTime").and_then(Value::as_str).map(str::to_string),
            init,
            main,
            recovered,
            frozen: phase == "Succeeded" || phase == "Failed",
            terminating: false,
            retry_scheduled: false,
            transitions,
            last_written: None,
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<PodMsg>) {
        while let Some(message) = rx.recv().await {
            match message {
                PodMsg::Update(pod) => {
                    self.pod = pod;
                    if meta::deletion_timestamp(&self.pod).is_some() {
                        self.terminate().await;
                        return;
                    }
                    if self.frozen {
                        continue;
                    }
                    if self.sandbox.is_none() {
                        if !self.create_sandbox().await {
                            continue;
                        }
                        self.next_step().await;
                    } else {
                        self.apply_spec_changes().await;
                    }
                }
                PodMsg::Removed => {
                    self.remove(Duration::ZERO).await;
                    return;
                }
                PodMsg::Exited { container, instance, terminated } => {
                    self.on_exit(&container, instance, terminated).await;
                }
                PodMsg::RestartDue { container, instance } => {
                    if let Some(which) = self.find(&container) {
                        let track = self.track(which);
                        if track.instance == instance
                            && matches!(&track.state, TrackState::Waiting { reason, .. } if reason == "CrashLoopBackOff")
                        {
                            self.restart(which).await;
                        }
                    }
                }
                PodMsg::Retry => {
                    self.retry_scheduled = false;
                    if self.sandbox.is_none() && !self.create_sandbox().await {
                        continue;
                    }
                    self.next_step().await;
                }
            }
            self.sync_status().await;
        }
    }

    fn find(&self, name: &str) -> Option<Which> {
        if let Some(i) = self.main.iter().position(|t| t.name == name) {
            return Some(Which::Main(i));
        }
        self.init.iter().position(|t| t.name == name).map(Which::Init)
    }

    fn track(&self, which: Which) -> &Track {
        match which {
            Which::Init(i) => &self.init[i],
            Which::Main(i) => &self.main[i],
        }
    }

    fn track_mut(&mut self, which: Which) -> &mut Track {
        match which {
            Which::Init(i) => &mut self.init[i],
            Which::Main(i) => &mut self.main[i],
        }
    }

    fn container_json(&self, which: Which) -> Value {
        let (list, index) = match which {
            Which::Init(i) => ("initContainers", i),
            Which::Main(i) => ("containers", i),
        };
        self.pod.pointer(&format!("/spec/{list}/{index}")).cloned().unwrap_or(Value::Null)
    }

    fn field_path(&self, which: Which) -> String {
        match which {
            Which::Init(i) => format!("spec.initContainers{{{}}}", self.init[i].name),
            Which::Main(i) => format!("spec.containers{{{}}}", self.main[i].name),
        }
    }

    fn source(&self) -> Source {
        Source::kubelet(&self.node.name)
    }

    fn event(&self, which: Option<Which>, event_type: EventType, reason: &str, message: String) {
        let path = which.map(|w| self.field_path(w));
        self.kubelet.recorder.record(&self.pod, path.as_deref(), event_type, reason, message, &self.source());
    }

    fn retry_later(&mut self) {
        if self.retry_scheduled {
            return;
        }
        self.retry_scheduled = true;
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(CONFIG_RETRY).await;
            let _ = tx.send(PodMsg::Retry);
        });
    }

    fn restart_policy(&self) -> String {
        self.pod.pointer("/spec/restartPolicy").and_then(Value::as_str).unwrap_or("Always").to_string()
    }

    /// Creates the pod's sandbox and gives it an address.
    async fn create_sandbox(&mut self) -> bool {
        let runtime = &self.kubelet.runtime;
        if self.recovered {
            // What the previous run left is gone with its processes.
            let _ = runtime.remove_pod_sandbox(&self.pod_ref, Duration::ZERO).await;
        }
        match runtime.run_pod_sandbox(&self.pod_ref) {
            Ok(sandbox) => self.sandbox = Some(sandbox),
            Err(err) => {
                self.event(
                    None,
                    EventType::Warning,
                    "FailedCreatePodSandBox",
                    format!("Failed to create pod sandbox: {err}"),
                );
                self.retry_later();
                return false;
            }
        }
        let pool = &self.kubelet.pool;
        let host_network = self.pod.pointer("/spec/hostNetwork").and_then(Value::as_bool) == Some(true);
        let previous = self.pod.pointer("/status/podIP").and_then(Value::as_str).map(str::to_string);
        self.pod_ip = if host_network {
            Some(self.node.ip.clone())
        } else {
            match previous.filter(|ip| self.recovered && pool.reserve_ip(&self.node, ip)) {
                Some(ip) => Some(ip),
                None => pool.allocate_ip(&self.node),
            }
        };
        if self.pod_ip.is_none() {
            self.sandbox = None;
            self.event(
                None,
                EventType::Warning,
                "FailedCreatePodSandBox",
                "Failed to create pod sandbox: plugin type=\"aws-cni\" name=\"aws-cni\" failed (add): add cmd: failed to assign an IP address to container".into(),
            );
            self.retry_later();
            return false;
        }
        if self.start_time.is_none() {
            self.start_time = Some(meta::format_time(Utc::now()));
        }
        true
    }

    /// Starts what can start: the next init container, or, once they are done, the containers.
    async fn next_step(&mut self) {
        if self.terminating || self.sandbox.is_none() {
            return;
        }
        for i in 0..self.init.len() {
            if self.init[i].initialized() {
                continue;
            }
            if self.init[i].startable() {
                let started = self.start(Which::Init(i)).await;
                if started && self.init[i].sidecar {
                    continue;
                }
            }
            return;
        }
        for i in 0..self.main.len() {
            if self.main[i].startable() {
                self.start(Which::Main(i)).await;
            }
        }
    }

    /// Starts (or restarts) one container; false when it could not start.
    async fn start(&mut self, which: Which) -> bool {
        let Some(sandbox) = self.sandbox.clone() else { return false };
        let container = self.container_json(which);
        let pod_ip = self.pod_ip.clone().unwrap_or_default();
        let env = match self.kubelet.environment(&self.pod, &container, &pod_ip, &self.node).await {
            Ok(env) => env,
            Err(message) => {
                self.event(Some(which), EventType::Warning, "Failed", format!("Error: {message}"));
                self.track_mut(which).state =
                    TrackState::Waiting { reason: "CreateContainerConfigError".into(), message: Some(message) };
                self.retry_later();
                return false;
            }
        };
        let image = container.get("image").and_then(Value::as_str).unwrap_or_default().to_string();
        let policy = container.get("imagePullPolicy").and_then(Value::as_str).unwrap_or("IfNotPresent");
        let present = self.kubelet.pull(&self.node.name, &image);
        if policy == "Always" || (!present && policy != "Never") {
            let digest = image_digest(&image);
            let seed = u64::from_str_radix(&digest[..12], 16).unwrap_or_default();
            let (millis, size) = (400 + seed % 2600, 5_000_000 + seed % 150_000_000);
            self.event(Some(which), EventType::Normal, "Pulling", format!("Pulling image {image:?}"));
            self.event(
                Some(which),
                EventType::Normal,
                "Pulled",
                format!(
                    "Successfully pulled image {image:?} in {} ({} including waiting). Image size: {size} bytes.",
                    go_millis(millis),
                    go_millis(millis)
                ),
            );
        } else {
            self.event(
                Some(which),
                EventType::Normal,
                "Pulled",
                format!("Container image {image:?} already present on machine"),
            );
        }
        let strings = |field: &str| -> Vec<String> {
            container
                .get(field)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                .unwrap_or_default()
        };
        let spec = ContainerSpec {
            name: self.track(which).name.clone(),
            image: image.clone(),
            command: strings("command"),
            args: strings("args"),
            env,
        };
        match sandbox.start_container(&spec) {
            Ok(mut started) => {
                let name = spec.name.clone();
                self.event(Some(which), EventType::Normal, "Created", format!("Created container {name}"));
                let start_error = match sandbox.container_status(&name).map(|s| s.state) {
                    Some(ContainerState::Terminated(t)) if t.reason == "StartError" => t.message,
                    _ => None,
                };
                match start_error {
                    Some(message) => self.event(Some(which), EventType::Warning, "Failed", format!("Error: {message}")),
                    None => self.event(Some(which), EventType::Normal, "Started", format!("Started container {name}")),
                }
                let tx = self.tx.clone();
                let track = self.track_mut(which);
                track.instance += 1;
                track.image = image;
                track.container_id = Some(started.container_id.clone());
                track.restarts = started.restart_count;
                track.state = TrackState::Running { started_at: started.started_at };
                let instance = track.instance;
                tokio::spawn(async move {
                    let terminated = started.wait().await;
                    let _ = tx.send(PodMsg::Exited { container: name, instance, terminated });
                });
                true
            }
            Err(err) => {
                self.event(Some(which), EventType::Warning, "Failed", format!("Error: {err}"));
                self.track_mut(which).state =
                    TrackState::Waiting { reason: "CreateContainerError".into(), message: Some(err.to_string()) };
                self.retry_later();
                false
            }
        }
    }

    async fn on_exit(&mut self, name: &str, instance: u64, terminated: Terminated) {
        if self.terminating {
            return;
        }
        let Some(which) = self.find(name) else { return };
        if self.track(which).instance != instance {
            return;
        }
        let policy = self.restart_policy();
        let pod = self.pod_ref.clone();
        let tx = self.tx.clone();
        let track = self.track_mut(which);
        track.state = TrackState::Terminated(terminated.clone());
        let restart_now = std::mem::take(&mut track.restart_now);
        let is_init = matches!(which, Which::Init(_)) && !track.sidecar;
        let code = terminated.exit_code;
        if is_init && code == 0 {
            self.next_step().await;
            return;
        }
        let restart = restart_now
            || track.sidecar
            || match policy.as_str() {
                "Always" => true,
                "OnFailure" => code != 0,
                _ => false,
            }
            || (is_init && policy == "Always" && code != 0);
        if !restart {
            return;
        }
        if let Some(id) = track.container_id.clone() {
            track.previous = Some((terminated.clone(), id));
        }
        if restart_now {
            self.restart(which).await;
            return;
        }
        let now = Utc::now();
        match backoff_delay(track.backoff, terminated.finished_at, now) {
            None => self.restart(which).await,
            Some((wait, current)) => {
                let message = format!(
                    "back-off {} restarting failed container={} pod={}_{}({})",
                    go_seconds(current),
                    name,
                    pod.name,
                    pod.namespace,
                    pod.uid
                );
                let event = format!(
                    "Back-off restarting failed container {name} in pod {}_{}({})",
                    pod.name, pod.namespace, pod.uid
                );
                track.state = TrackState::Waiting { reason: "CrashLoopBackOff".into(), message: Some(message) };
                let instance = track.instance;
                self.event(Some(which), EventType::Warning, "BackOff", event);
                let container = name.to_string();
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    let _ = tx.send(PodMsg::RestartDue { container, instance });
                });
            }
        }
    }

    async fn restart(&mut self, which: Which) {
        let track = self.track_mut(which);
        track.backoff = Some(next_backoff(track.backoff, Utc::now()));
        self.start(which).await;
    }

    /// A changed image restarts its container, as the kubelet does on a definition change.
    async fn apply_spec_changes(&mut self) {
        let containers = self.pod.pointer("/spec/containers").and_then(Value::as_array).cloned().unwrap_or_default();
        for (i, container) in containers.iter().enumerate() {
            let Some(track) = self.main.get_mut(i) else { continue };
            let image = container.get("image").and_then(Value::as_str).unwrap_or_default();
            if track.image == image {
                continue;
            }
            track.image = image.to_string();
            if track.running() {
                track.restart_now = true;
                let name = track.name.clone();
                self.event(
                    Some(Which::Main(i)),
                    EventType::Normal,
                    "Killing",
                    format!("Container {name} definition changed, will be restarted"),
                );
                if let Some(sandbox) = self.sandbox.clone() {
                    let grace = self.grace();
                    tokio::spawn(async move {
                        let _ = sandbox.stop_container(&name, grace).await;
                    });
                }
            }
        }
    }

    fn grace(&self) -> Duration {
        let seconds = self.pod.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30);
        Duration::from_secs(seconds.max(0) as u64)
    }

    /// Graceful deletion: stop the containers within the grace period, then remove the pod.
    async fn terminate(&mut self) {
        self.terminating = true;
        // The kubelet counts the grace period from when it sees the deletion.
        let grace = match self.pod.pointer("/metadata/deletionGracePeriodSeconds").and_then(Value::as_i64) {
            Some(seconds) => Duration::from_secs(seconds.max(0) as u64),
            None => self.grace(),
        };
        let running: Vec<Which> = (0..self.main.len())
            .map(Which::Main)
            .chain((0..self.init.len()).map(Which::Init))
            .filter(|w| self.track(*w).running())
            .collect();
        for which in running {
            let name = self.track(which).name.clone();
            self.event(Some(which), EventType::Normal, "Killing", format!("Stopping container {name}"));
        }
        self.remove(grace).await;
        let mut ctx = api::kubelet(&self.node.name);
        if let Err(status) = self.kubelet.api.delete(&self.kubelet.api.pods, &self.pod, Some(0), &mut ctx).await
            && status.code != 404
            && status.code != 409
        {
            tracing::warn!(pod = %self.pod_ref.name, error = %status.message, "cannot remove a terminated pod");
        }
    }

    async fn remove(&mut self, grace: Duration) {
        self.terminating = true;
        if let Err(err) = self.kubelet.runtime.remove_pod_sandbox(&self.pod_ref, grace).await {
            tracing::warn!(pod = %self.pod_ref.name, %err, "cannot remove a pod sandbox");
        }
        self.sandbox = None;
        if let Some(ip) = self.pod_ip.take()
            && ip != self.node.ip
        {
            self.kubelet.pool.release_ip(&self.node, &ip);
        }
    }

    fn condition(&mut self, kind: &str, status: bool, reason: Option<&str>, message: Option<String>) -> Value {
        let status_text = if status { "True" } else { "False" };
        let now = meta::format_time(Utc::now());
        let time = match self.transitions.get(kind) {
            Some((s, time)) if s == status_text => time.clone(),
            _ => {
                self.transitions.insert(kind.to_string(), (status_text.to_string(), now.clone()));
                now
            }
        };
        let mut condition =
            json!({"type": kind, "status": status_text, "lastProbeTime": null, "lastTransitionTime": time});
        if let Some(reason) = reason {
            condition["reason"] = reason.into();
        }
        if let Some(message) = message {
            condition["message"] = message.into();
        }
        condition
    }

    fn progress(track: &Track) -> Progress {
        match &track.state {
            TrackState::Running { .. } => Progress::Running,
            TrackState::Terminated(t) => Progress::Exited(t.exit_code),
            TrackState::Waiting { .. } if track.previous.is_some() => Progress::Restarting,
            TrackState::Waiting { .. } => Progress::Waiting,
        }
    }

    /// The pod's status from what the worker knows.
    fn status(&mut self) -> Value {
        let policy = self.restart_policy();
        let init_pending = self.init.iter().any(|t| !t.initialized());
        let init_failed =
            self.init.iter().any(|t| !t.sidecar && matches!(&t.state, TrackState::Terminated(x) if x.exit_code != 0));
        let progress: Vec<Progress> = self.main.iter().map(Self::progress).collect();
        let phase = pod_phase(&policy, init_pending, init_failed, &progress);
        let terminal = phase == "Succeeded" || phase == "Failed";
        let unready: Vec<String> = self.main.iter().filter(|t| !t.running()).map(|t| t.name.clone()).collect();
        let incomplete: Vec<String> = self.init.iter().filter(|t| !t.initialized()).map(|t| t.name.clone()).collect();
        let ready_reason = match phase {
            "Succeeded" => Some("PodCompleted"),
            "Failed" => Some("PodFailed"),
            _ if !unready.is_empty() => Some("ContainersNotReady"),
            _ => None,
        };
        let unready_message = (!terminal && !unready.is_empty())
            .then(|| format!("containers with unready status: [{}]", unready.join(" ")));
        let sandbox_ready = self.sandbox.is_some() && !terminal;
        let mut conditions = vec![
            self.condition("PodReadyToStartContainers", sandbox_ready, None, None),
            if incomplete.is_empty() {
                self.condition(
                    "Initialized",
                    true,
                    (phase == "Succeeded" && self.init.is_empty()).then_some("PodCompleted"),
                    None,
                )
            } else {
                self.condition(
                    "Initialized",
                    false,
                    Some("ContainersNotInitialized"),
                    Some(format!("containers with incomplete status: [{}]", incomplete.join(" "))),
                )
            },
        ];
        let ready = unready.is_empty() && !terminal;
        conditions.push(self.condition("Ready", ready, ready_reason, unready_message.clone()));
        conditions.push(self.condition("ContainersReady", ready, ready_reason, unready_message));
        let scheduled = self
            .pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|list| list.iter().find(|c| c["type"] == "PodScheduled"))
            .cloned()
            .unwrap_or_else(|| {
                json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                "lastTransitionTime": self.start_time.clone()})
            });
        conditions.push(scheduled);
        let mut status = json!({
            "phase": phase,
            "conditions": conditions,
            "hostIP": self.node.ip,
            "hostIPs": [{"ip": self.node.ip}],
        });
        let ip = self.pod_ip.clone().or_else(|| {
            self.pod.pointer("/status/podIP").and_then(Value::as_str).map(str::to_string).filter(|_| terminal)
        });
        if let Some(ip) = ip {
            status["podIP"] = ip.clone().into();
            status["podIPs"] = json!([{"ip": ip}]);
        }
        if let Some(start) = &self.start_time {
            status["startTime"] = start.clone().into();
        }
        if !self.init.is_empty() {
            status["initContainerStatuses"] = self.init.iter().map(container_status_json).collect();
        }
        status["containerStatuses"] = self.main.iter().map(container_status_json).collect();
        status["qosClass"] = self.pod.pointer("/status/qosClass").cloned().unwrap_or_else(|| "BestEffort".into());
        status
    }

    async fn sync_status(&mut self) {
        if self.frozen || self.terminating || (self.sandbox.is_none() && self.last_written.is_none()) {
            return;
        }
        let status = self.status();
        if self.last_written.as_ref() == Some(&status) || self.pod.get("status") == Some(&status) {
            return;
        }
        let api = &self.kubelet.api;
        match api.write_status(&api.pods, &self.pod, status.clone(), &mut api::kubelet(&self.node.name)).await {
            Ok(_) => {
                if matches!(status["phase"].as_str(), Some("Succeeded" | "Failed")) {
                    self.frozen = true;
                }
                self.last_written = Some(status);
            }
            Err(err) => tracing::debug!(pod = %self.pod_ref.name, error = %err.message, "cannot write the pod status"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_follow_the_kubelet() {
        use Progress::*;
        assert_eq!(pod_phase("Always", false, false, &[Running, Running]), "Running");
        assert_eq!(pod_phase("Always", false, false, &[Running, Waiting]), "Pending");
        assert_eq!(pod_phase("Always", false, false, &[Restarting]), "Running", "CrashLoopBackOff is Running");
        assert_eq!(pod_phase("Never", false, false, &[Exited(0), Exited(0)]), "Succeeded");
        assert_eq!(pod_phase("Never", false, false, &[Exited(0), Exited(3)]), "Failed");
        assert_eq!(pod_phase("Never", false, false, &[Exited(3), Running]), "Running");
        assert_eq!(pod_phase("OnFailure", false, false, &[Exited(0)]), "Succeeded");
        assert_eq!(pod_phase("OnFailure", false, false, &[Restarting]), "Running");
        assert_eq!(pod_phase("Always", true, false, &[Waiting]), "Pending");
        assert_eq!(pod_phase("Never", true, true, &[Waiting]), "Failed");
        assert_eq!(pod_phase("OnFailure", true, true, &[Waiting]), "Pending");
    }

    #[test]
    fn back_off_doubles_from_ten_seconds_and_is_forgotten() {
        let t0 = Utc::now();
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        assert_eq!(backoff_delay(None, t0, t0), None, "the first restart is immediate");
        let b = next_backoff(None, t0);
        assert_eq!(b.0, BACKOFF_INITIAL);
        let (wait, current) = backoff_delay(Some(b), at(1), at(1)).unwrap();
        assert_eq!((wait, current), (Duration::from_secs(10), BACKOFF_INITIAL));
        assert_eq!(backoff_delay(Some(b), at(1), at(12)), None, "waited long enough");
        let b = next_backoff(Some(b), at(11));
        assert_eq!(b.0, Duration::from_secs(20));
        let mut b = b;
        for _ in 0..10 {
            b = next_backoff(Some(b), b.1 + chrono::Duration::seconds(1));
        }
        assert_eq!(b.0, BACKOFF_MAX);
        assert_eq!(
            backoff_delay(Some(b), b.1 + chrono::Duration::seconds(601), b.1 + chrono::Duration::seconds(601)),
            None
        );
        assert_eq!(next_backoff(Some(b), b.1 + chrono::Duration::seconds(700)).0, BACKOFF_INITIAL);
        assert_eq!(
            (go_seconds(Duration::from_secs(10)), go_seconds(Duration::from_secs(80)), go_seconds(BACKOFF_MAX)),
            ("10s".into(), "1m20s".into(), "5m0s".into())
        );
        assert_eq!(
            (go_millis(823), go_millis(1500), go_millis(2000), go_millis(1234)),
            ("823ms".into(), "1.5s".into(), "2s".into(), "1.234s".into())
        );
    }

    #[test]
    fn images_are_named_as_containerd_reports_them() {
        assert_eq!(normalize_image("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(normalize_image("nginx:1.27"), "docker.io/library/nginx:1.27");
        assert_eq!(normalize_image("bitnami/kubectl"), "docker.io/bitnami/kubectl:latest");
        assert_eq!(
            normalize_image("public.ecr.aws/eks/aws-load-balancer-controller:v2.7.1"),
            "public.ecr.aws/eks/aws-load-balancer-controller:v2.7.1"
        );
        assert_eq!(normalize_image("localhost:5000/app"), "localhost:5000/app:latest");
        let id = image_id("nginx:1.27");
        assert!(id.starts_with("docker.io/library/nginx@sha256:"), "{id}");
        assert_eq!(id.len(), "docker.io/library/nginx@sha256:".len() + 64);
    }

    #[test]
    fn a_crashing_container_reports_back_off_and_its_last_state() {
        let now = Utc::now();
        let mut track = Track::new(&json!({"name": "app", "image": "busybox"}), false, "ContainerCreating");
        assert!(track.startable());
        let status = container_status_json(&track);
        assert_eq!(status["state"], json!({"waiting": {"reason": "ContainerCreating"}}));
        assert_eq!(status["imageID"], "");
        assert!(status.get("containerID").is_none());
        track.container_id = Some("ab".repeat(32));
        let ended = Terminated {
            exit_code: 3,
            signal: None,
            reason: "Error".into(),
            message: None,
            started_at: now,
            finished_at: now,
        };
        track.previous = Some((ended, "ab".repeat(32)));
        track.restarts = 2;
        track.restart_offset = 1;
        track.state = TrackState::Waiting { reason: "CrashLoopBackOff".into(), message: Some("back-off 20s".into()) };
        assert!(!track.startable(), "back-off is waited out, not restarted early");
        let status = container_status_json(&track);
        assert_eq!(status["restartCount"], 3);
        assert_eq!(status["lastState"]["terminated"]["exitCode"], 3);
        assert_eq!(status["lastState"]["terminated"]["containerID"], format!("containerd://{}", "ab".repeat(32)));
        assert_eq!(status["ready"], false);
        assert_eq!(status["started"], false);
        assert_eq!(Worker::progress(&track), Progress::Restarting);
    }
}
