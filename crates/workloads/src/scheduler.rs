//! The scheduler (kube-scheduler's default profile, reduced to what a simulated cluster needs):
//! pods without a node are filtered against every Ready node — `nodeName`, `nodeSelector` and
//! required node affinity, taints and tolerations, `spec.unschedulable`, resource requests
//! against allocatable, the pod count — then the least allocated node wins. A pod that fits
//! nowhere stays Pending with `PodScheduled=False`/`Unschedulable` and a `FailedScheduling`
//! event in kube-scheduler's words, and is tried again when the cluster changes.
//!
//! Decisions are made one pod at a time against the scheduler's own accounting (pods bound but
//! not yet seen are "assumed", as kube-scheduler does); bindings are written concurrently.
//!
//! Binding: kube-api offers no public binding operation to other crates (its `pods/binding`
//! handler is private, and its pod update validation refuses a new `spec.nodeName`), so the
//! scheduler writes the pod's status (`PodScheduled=True`) and [`BindingHook`], an admission
//! hook, sets `spec.nodeName` on that write — only for the scheduler's own user and only for a
//! binding the scheduler registered in process.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use kube_api::admission::{AdmissionHook, AdmissionRequest, Operation};
use kube_core::{GroupResource, Status, meta};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::api::{self, Api, SCHEDULER_USER};
use crate::cache::{Cache, Kind, ObjectKey};
use crate::events::{EventType, Recorder, Source};
use crate::nodes::Resources;
use crate::quantity;
use crate::queue::WorkQueue;

/// The scheduler name pods get by default.
const DEFAULT_SCHEDULER: &str = "default-scheduler";
/// How often unschedulable pods are tried again even if nothing changed.
const RETRY_UNSCHEDULABLE: Duration = Duration::from_secs(30);
/// Bindings written at once.
const CONCURRENT_BINDINGS: usize = 64;

/// What a pod asks of a node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PodRequests {
    /// The requests (or limits, when only limits are set), plus one pod.
    pub fit: Resources,
    /// The same with kube-scheduler's non-zero defaults (100m CPU, 200Mi) for scoring.
    pub score: Resources,
}

fn container_request<'a>(container: &'a Value, resource: &str) -> Option<&'a str> {
    container
        .pointer(&format!("/resources/requests/{resource}"))
        .or_else(|| container.pointer(&format!("/resources/limits/{resource}")))
        .and_then(Value::as_str)
}

/// A pod's requests: the sum over its containers, or the largest init container if larger.
pub(crate) fn pod_requests(pod: &Value) -> PodRequests {
    let list =
        |name: &str| pod.pointer(&format!("/spec/{name}")).and_then(Value::as_array).cloned().unwrap_or_default();
    let read = |c: &Value, defaults: bool| {
        let cpu = container_request(c, "cpu").and_then(quantity::millis);
        let memory = container_request(c, "memory").and_then(quantity::units);
        if defaults {
            (cpu.unwrap_or(100), memory.unwrap_or(200 << 20))
        } else {
            (cpu.unwrap_or(0), memory.unwrap_or(0))
        }
    };
    let total = |defaults: bool| {
        let (mut cpu, mut memory) = (0, 0);
        for c in list("containers") {
            let (c_cpu, c_memory) = read(&c, defaults);
            cpu += c_cpu;
            memory += c_memory;
        }
        for c in list("initContainers") {
            let (c_cpu, c_memory) = read(&c, false);
            cpu = cpu.max(c_cpu);
            memory = memory.max(c_memory);
        }
        Resources { cpu_millis: cpu, memory_bytes: memory, pods: 1 }
    };
    PodRequests { fit: total(false), score: total(true) }
}

/// What the scheduler knows of a node.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NodeView {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub allocatable: Resources,
    pub unschedulable: bool,
    pub ready: bool,
    /// (key, value, effect) of the NoSchedule and NoExecute taints.
    pub taints: Vec<(String, String, String)>,
}

impl NodeView {
    pub(crate) fn from_object(node: &Value) -> Self {
        let allocatable = |name: &str, parse: fn(&str) -> Option<i64>| {
            node.pointer(&format!("/status/allocatable/{name}")).and_then(Value::as_str).and_then(parse).unwrap_or(0)
        };
        let taints = node
            .pointer("/spec/taints")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .map(|t| {
                        let s = |f: &str| t.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
                        (s("key"), s("value"), s("effect"))
                    })
                    .filter(|(_, _, effect)| effect == "NoSchedule" || effect == "NoExecute")
                    .collect()
            })
            .unwrap_or_default();
        Self {
            name: meta::name(node).to_string(),
            labels: meta::labels(node),
            allocatable: Resources {
                cpu_millis: allocatable("cpu", quantity::millis),
                memory_bytes: allocatable("memory", quantity::units),
                pods: allocatable("pods", quantity::units),
            },
            unschedulable: node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true),
            ready: node
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True")),
            taints,
        }
    }
}

/// Why a node does not fit a pod, in kube-scheduler's words.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Misfit {
    /// Insufficient cpu / memory, Too many pods: preemption could help, if there were victims.
    Resources(&'static str),
    /// Anything preemption cannot change.
    Unresolvable(String),
}

impl Misfit {
    fn text(&self) -> &str {
        match self {
            Self::Resources(text) => text,
            Self::Unresolvable(text) => text,
        }
    }
}

fn requirement_matches(expression: &Value, value: Option<&str>) -> bool {
    let values: Vec<&str> = expression
        .get("values")
        .and_then(Value::as_array)
        .map(|v| v.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let number = |s: &str| s.parse::<i64>().ok();
    match expression.get("operator").and_then(Value::as_str).unwrap_or_default() {
        "In" => value.is_some_and(|v| values.contains(&v)),
        "NotIn" => value.is_none_or(|v| !values.contains(&v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => matches!((value.and_then(number), values.first().and_then(|v| number(v))), (Some(a), Some(b)) if a > b),
        "Lt" => matches!((value.and_then(number), values.first().and_then(|v| number(v))), (Some(a), Some(b)) if a < b),
        _ => false,
    }
}

/// `nodeSelector` and `requiredDuringSchedulingIgnoredDuringExecution` node affinity.
pub(crate) fn matches_node_affinity(pod: &Value, node: &NodeView) -> bool {
    if let Some(selector) = pod.pointer("/spec/nodeSelector").and_then(Value::as_object) {
        let all = selector.iter().all(|(k, v)| node.labels.get(k).map(String::as_str) == v.as_str());
        if !all {
            return false;
        }
    }
    let terms = pod
        .pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
        .and_then(Value::as_array);
    let Some(terms) = terms else { return true };
    terms.iter().any(|term| {
        let expressions = term.get("matchExpressions").and_then(Value::as_array);
        let fields = term.get("matchFields").and_then(Value::as_array);
        if expressions.is_none_or(Vec::is_empty) && fields.is_none_or(Vec::is_empty) {
            return false;
        }
        expressions.into_iter().flatten().all(|e| {
            let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
            requirement_matches(e, node.labels.get(key).map(String::as_str))
        }) && fields.into_iter().flatten().all(|e| {
            let key = e.get("key").and_then(Value::as_str).unwrap_or_default();
            requirement_matches(e, (key == "metadata.name").then_some(node.name.as_str()))
        })
    })
}

fn tolerates(pod: &Value, (key, value, effect): &(String, String, String)) -> bool {
    pod.pointer("/spec/tolerations").and_then(Value::as_array).is_some_and(|list| {
        list.iter().any(|t| {
            let s = |f: &str| t.get(f).and_then(Value::as_str).unwrap_or_default();
            let effect_ok = s("effect").is_empty() || s("effect") == effect;
            let key_ok = s("key").is_empty() || s("key") == key;
            let value_ok = match s("operator") {
                "Exists" => true,
                _ => s("value") == value,
            };
            effect_ok && key_ok && value_ok && (!s("key").is_empty() || s("operator") == "Exists")
        })
    })
}

/// Why `node` cannot run `pod` given what is already `used` there (empty: it fits).
pub(crate) fn misfits(pod: &Value, requests: &PodRequests, node: &NodeView, used: &Resources) -> Vec<Misfit> {
    let mut reasons = Vec::new();
    if node.unschedulable
        && !tolerates(pod, &("node.kubernetes.io/unschedulable".into(), String::new(), "NoSchedule".into()))
    {
        reasons.push(Misfit::Unresolvable("node(s) were unschedulable".into()));
    }
    if !node.ready {
        reasons.push(Misfit::Unresolvable("node(s) had untolerated taint {node.kubernetes.io/not-ready: }".into()));
    }
    if !matches_node_affinity(pod, node) {
        reasons.push(Misfit::Unresolvable("node(s) didn't match Pod's node affinity/selector".into()));
    }
    if let Some(taint) = node.taints.iter().find(|t| !tolerates(pod, t)) {
        reasons.push(Misfit::Unresolvable(format!("node(s) had untolerated taint {{{}: {}}}", taint.0, taint.1)));
    }
    let free = |allocatable: i64, used: i64| allocatable - used;
    if requests.fit.pods > free(node.allocatable.pods, used.pods) {
        reasons.push(Misfit::Resources("Too many pods"));
    }
    if requests.fit.cpu_millis > 0 && requests.fit.cpu_millis > free(node.allocatable.cpu_millis, used.cpu_millis) {
        reasons.push(Misfit::Resources("Insufficient cpu"));
    }
    if requests.fit.memory_bytes > 0
        && requests.fit.memory_bytes > free(node.allocatable.memory_bytes, used.memory_bytes)
    {
        reasons.push(Misfit::Resources("Insufficient memory"));
    }
    reasons
}

/// kube-scheduler's FitError message with its preemption postscript.
pub(crate) fn failure_message(nodes: usize, per_node: &[Vec<Misfit>]) -> String {
    if nodes == 0 {
        return "no nodes available to schedule pods".into();
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let (mut no_victims, mut not_helpful) = (0, 0);
    for reasons in per_node {
        for reason in reasons {
            *counts.entry(reason.text().to_string()).or_default() += 1;
        }
        if reasons.iter().any(|r| matches!(r, Misfit::Unresolvable(_))) {
            not_helpful += 1;
        } else {
            no_victims += 1;
        }
    }
    let mut reasons: Vec<String> = counts.into_iter().map(|(reason, count)| format!("{count} {reason}")).collect();
    reasons.sort();
    let mut preemption = Vec::new();
    if no_victims > 0 {
        preemption.push(format!("{no_victims} No preemption victims found for incoming pod"));
    }
    if not_helpful > 0 {
        preemption.push(format!("{not_helpful} Preemption is not helpful for scheduling"));
    }
    format!(
        "0/{nodes} nodes are available: {}. preemption: 0/{nodes} nodes are available: {}.",
        reasons.join(", "),
        preemption.join(", ")
    )
}

/// The least-allocated score (0-100) of placing a pod asking `score` on a node.
fn score(node: &NodeView, used: &Resources, request: &Resources) -> i64 {
    let part = |allocatable: i64, used: i64, request: i64| {
        if allocatable <= 0 {
            return 0;
        }
        ((allocatable - used - request).max(0) * 100) / allocatable
    };
    (part(node.allocatable.cpu_millis, used.cpu_millis, request.cpu_millis)
        + part(node.allocatable.memory_bytes, used.memory_bytes, request.memory_bytes))
        / 2
}

/// Where the scheduler puts `pod`, or why nowhere: the pure decision.
pub(crate) fn choose_node<'a>(
    pod: &Value,
    nodes: impl Iterator<Item = (&'a NodeView, (&'a Resources, &'a Resources))>,
) -> Result<String, String> {
    let requests = pod_requests(pod);
    let mut best: Option<(i64, i64, &str)> = None;
    let mut failures = Vec::new();
    let mut count = 0;
    for (node, (fit_used, score_used)) in nodes {
        count += 1;
        let reasons = misfits(pod, &requests, node, fit_used);
        if !reasons.is_empty() {
            failures.push(reasons);
            continue;
        }
        let candidate = (score(node, score_used, &requests.score), -fit_used.pods, node.name.as_str());
        let better = match best {
            None => true,
            Some((s, p, name)) => {
                (candidate.0, candidate.1) > (s, p) || ((candidate.0, candidate.1) == (s, p) && candidate.2 < name)
            }
        };
        if better {
            best = Some(candidate);
        }
    }
    match best {
        Some((_, _, name)) => Ok(name.to_string()),
        None => Err(failure_message(count, &failures)),
    }
}

fn is_terminal(pod: &Value) -> bool {
    matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"))
}

/// Whether the scheduler should place `pod`.
fn wants_scheduling(pod: &Value) -> bool {
    pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default().is_empty()
        && pod.pointer("/spec/schedulerName").and_then(Value::as_str).unwrap_or(DEFAULT_SCHEDULER) == DEFAULT_SCHEDULER
        && meta::deletion_timestamp(pod).is_none()
        && !is_terminal(pod)
}

/// A pod counted on a node.
struct Placed {
    node: String,
    requests: PodRequests,
}

#[derive(Default)]
struct State {
    nodes: BTreeMap<String, NodeView>,
    /// Pods on nodes (bound, or assumed while their binding is written), by uid.
    placed: HashMap<String, Placed>,
    /// Per node: (fit, score) totals of its pods.
    used: HashMap<String, (Resources, Resources)>,
    unschedulable: HashSet<ObjectKey>,
}

impl State {
    fn place(&mut self, uid: &str, node: &str, requests: PodRequests) {
        if let Some(old) = self.placed.get(uid) {
            if old.node == node {
                return;
            }
            self.unplace(uid);
        }
        let used = self.used.entry(node.to_string()).or_default();
        used.0.add(&requests.fit);
        used.1.add(&requests.score);
        self.placed.insert(uid.to_string(), Placed { node: node.to_string(), requests });
    }

    fn unplace(&mut self, uid: &str) -> bool {
        let Some(placed) = self.placed.remove(uid) else { return false };
        if let Some(used) = self.used.get_mut(&placed.node) {
            used.0.sub(&placed.requests.fit);
            used.1.sub(&placed.requests.score);
        }
        true
    }
}

/// The scheduler of one cluster.
pub(crate) struct Scheduler {
    api: Arc<Api>,
    cache: Arc<Cache>,
    recorder: Arc<Recorder>,
    state: Mutex<State>,
    queue: Arc<WorkQueue<ObjectKey>>,
    bindings: Arc<Mutex<HashMap<String, String>>>,
    writes: Arc<Semaphore>,
}

impl Scheduler {
    pub(crate) fn new(api: Arc<Api>, cache: Arc<Cache>, recorder: Arc<Recorder>) -> Arc<Self> {
        Arc::new(Self {
            api,
            cache,
            recorder,
            state: Mutex::new(State::default()),
            queue: WorkQueue::new(),
            bindings: Arc::new(Mutex::new(HashMap::new())),
            writes: Arc::new(Semaphore::new(CONCURRENT_BINDINGS)),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The admission hook that applies this scheduler's bindings.
    pub(crate) fn binding_hook(&self) -> BindingHook {
        BindingHook { bindings: Arc::clone(&self.bindings) }
    }

    fn retry_unschedulable(&self) {
        let keys: Vec<ObjectKey> = self.state().unschedulable.drain().collect();
        for key in keys {
            self.queue.add(key);
        }
    }

    /// Keeps the accounting current and queues the pods to place.
    pub(crate) fn watch(self: &Arc<Self>) {
        let scheduler = Arc::clone(self);
        self.cache.on_change(move |change| match change.kind {
            Kind::Node => {
                let name = meta::name(change.object()).to_string();
                let mut state = scheduler.state();
                match change.new {
                    Some(node) => {
                        let view = NodeView::from_object(node);
                        let changed = state.nodes.get(&name) != Some(&view);
                        state.nodes.insert(name, view);
                        drop(state);
                        if changed {
                            scheduler.retry_unschedulable();
                        }
                    }
                    None => {
                        state.nodes.remove(&name);
                    }
                }
            }
            Kind::Pod => {
                let pod = change.object();
                let uid = meta::uid(pod);
                let key = ObjectKey::of(pod);
                let node = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default();
                let mut state = scheduler.state();
                match change.new {
                    Some(pod) if !node.is_empty() && !is_terminal(pod) => {
                        state.place(uid, node, pod_requests(pod));
                        state.unschedulable.remove(&key);
                    }
                    Some(pod) if wants_scheduling(pod) => {
                        if !state.unschedulable.contains(&key) && !state.placed.contains_key(uid) {
                            drop(state);
                            scheduler.queue.add(key);
                        }
                    }
                    _ => {
                        state.unschedulable.remove(&key);
                        let freed = state.unplace(uid);
                        drop(state);
                        if freed {
                            scheduler.retry_unschedulable();
                        }
                    }
                }
            }
            _ => {}
        });
    }

    pub(crate) fn spawn(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let scheduler = Arc::clone(self);
        let mut tasks = crate::queue::run_workers(Arc::clone(&self.queue), 1, move |key| {
            let scheduler = Arc::clone(&scheduler);
            async move { scheduler.schedule(key).await }
        });
        let scheduler = Arc::clone(self);
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(RETRY_UNSCHEDULABLE).await;
                scheduler.retry_unschedulable();
            }
        }));
        tasks
    }

    async fn schedule(self: Arc<Self>, key: ObjectKey) {
        let Some(pod) = self.cache.get(Kind::Pod, &key) else { return };
        if !wants_scheduling(&pod) {
            return;
        }
        let uid = meta::uid(&pod).to_string();
        let decision = {
            let mut state = self.state();
            if state.placed.contains_key(&uid) {
                return;
            }
            let empty = (Resources::default(), Resources::default());
            let nodes = state.nodes.values().map(|n| {
                let used = state.used.get(&n.name).unwrap_or(&empty);
                (n, (&used.0, &used.1))
            });
            let decision = choose_node(&pod, nodes);
            match &decision {
                Ok(node) => state.place(&uid, node, pod_requests(&pod)),
                Err(_) => {
                    state.unschedulable.insert(key.clone());
                }
            }
            decision
        };
        match decision {
            Ok(node) => {
                let Ok(permit) = Arc::clone(&self.writes).acquire_owned().await else { return };
                let scheduler = Arc::clone(&self);
                tokio::spawn(async move {
                    scheduler.bind(&pod, &node).await;
                    drop(permit);
                });
            }
            Err(message) => self.unschedulable(&pod, &message).await,
        }
    }

    /// Writes the binding of `pod` to `node`.
    async fn bind(self: &Arc<Self>, pod: &Value, node: &str) {
        let uid = meta::uid(pod).to_string();
        self.bindings.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(uid.clone(), node.to_string());
        let status = with_condition(pod.get("status"), scheduled_condition(true, None));
        // The event is as old as the decision, so it sorts before what the kubelet does next.
        let decided = Utc::now();
        let result = self.api.write_status(&self.api.pods, pod, status, &mut api::scheduler()).await;
        self.bindings.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&uid);
        match result {
            Ok(bound) if bound.pointer("/spec/nodeName").and_then(Value::as_str) == Some(node) => {
                let message = format!("Successfully assigned {}/{} to {node}", meta::namespace(pod), meta::name(pod));
                let source = Source::controller(DEFAULT_SCHEDULER);
                self.recorder.record_at(&bound, None, EventType::Normal, "Scheduled", message, &source, decided);
            }
            outcome => {
                if let Err(status) = &outcome {
                    tracing::debug!(pod = %ObjectKey::of(pod), error = %status.message, "binding failed");
                }
                self.state().unplace(&uid);
                if !matches!(&outcome, Err(status) if status.code == 404) {
                    self.queue.add_after(ObjectKey::of(pod), Duration::from_secs(1));
                }
            }
        }
    }

    async fn unschedulable(&self, pod: &Value, message: &str) {
        self.recorder.record(
            pod,
            None,
            EventType::Warning,
            "FailedScheduling",
            message,
            &Source::controller(DEFAULT_SCHEDULER),
        );
        let current = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| c["type"] == "PodScheduled"))
            .and_then(|c| c.get("message"))
            .and_then(Value::as_str);
        if current == Some(message) {
            return;
        }
        let status = with_condition(pod.get("status"), scheduled_condition(false, Some(message)));
        if let Err(status) = self.api.write_status(&self.api.pods, pod, status, &mut api::scheduler()).await {
            tracing::debug!(pod = %ObjectKey::of(pod), error = %status.message, "cannot mark a pod unschedulable");
        }
    }
}

fn scheduled_condition(scheduled: bool, message: Option<&str>) -> Value {
    let now = meta::format_time(Utc::now());
    let mut condition = json!({"type": "PodScheduled", "status": if scheduled { "True" } else { "False" },
        "lastProbeTime": null, "lastTransitionTime": now});
    if let Some(message) = message {
        condition["reason"] = "Unschedulable".into();
        condition["message"] = message.into();
    }
    condition
}

/// `status` with `condition` replacing the condition of its type.
fn with_condition(status: Option<&Value>, condition: Value) -> Value {
    let mut status = status.cloned().filter(Value::is_object).unwrap_or_else(|| json!({"phase": "Pending"}));
    let mut conditions: Vec<Value> = status.get("conditions").and_then(Value::as_array).cloned().unwrap_or_default();
    conditions.retain(|c| c["type"] != condition["type"]);
    conditions.push(condition);
    status["conditions"] = Value::Array(conditions);
    status
}

/// Sets `spec.nodeName` on the scheduler's status write for a binding it registered.
pub(crate) struct BindingHook {
    bindings: Arc<Mutex<HashMap<String, String>>>,
}

#[async_trait]
impl AdmissionHook for BindingHook {
    fn name(&self) -> &str {
        "RampartPodBinding"
    }

    async fn mutate(&self, request: &AdmissionRequest<'_>, object: &mut Value) -> Result<(), Status> {
        let def = request.resource;
        if request.operation != Operation::Update
            || request.subresource != "status"
            || !def.group.is_empty()
            || def.kind != "Pod"
            || request.user.name != SCHEDULER_USER
        {
            return Ok(());
        }
        let node =
            self.bindings.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(meta::uid(object)).cloned();
        let Some(node) = node else { return Ok(()) };
        let assigned =
            request.old.and_then(|o| o.pointer("/spec/nodeName")).and_then(Value::as_str).unwrap_or_default();
        if !assigned.is_empty() {
            let name = meta::name(object).to_string();
            return Err(Status::conflict(
                &GroupResource::new("", "pods"),
                &name,
                &format!("pod {name} is already assigned to node {assigned:?}"),
            ));
        }
        if let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("nodeName".into(), node.into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, cpu: &str, memory: &str, pods: &str, labels: Value) -> NodeView {
        NodeView::from_object(&json!({
            "metadata": {"name": name, "labels": labels},
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
                       "conditions": [{"type": "Ready", "status": "True"}]},
        }))
    }

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "default", "uid": "u"}, "spec": spec})
    }

    #[test]
    fn requests_sum_containers_and_fall_back_to_limits() {
        let p = pod(json!({"containers": [
            {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
            {"name": "b", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
            {"name": "c"}],
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2"}}}]}));
        let r = pod_requests(&p);
        assert_eq!(r.fit, Resources { cpu_millis: 2000, memory_bytes: (64 << 20) + (1 << 30), pods: 1 });
        assert_eq!(r.score.cpu_millis, 2000, "the init container's 2 cores dominate");
        assert_eq!(r.score.memory_bytes, (64 << 20) + (1 << 30) + (200 << 20), "c scores as 200Mi");
    }

    #[test]
    fn the_least_allocated_fitting_node_wins() {
        let a = node("a", "2", "4Gi", "110", json!({"zone": "a"}));
        let b = node("b", "2", "4Gi", "110", json!({"zone": "b"}));
        let busy = (
            Resources { cpu_millis: 1500, memory_bytes: 0, pods: 3 },
            Resources { cpu_millis: 1500, memory_bytes: 0, pods: 3 },
        );
        let idle = (Resources::default(), Resources::default());
        let p = pod(json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": "500m"}}}]}));
        let chosen = choose_node(&p, [(&a, (&busy.0, &busy.1)), (&b, (&idle.0, &idle.1))].into_iter());
        assert_eq!(chosen.unwrap(), "b");
        let pinned = pod(json!({"nodeSelector": {"zone": "a"}, "containers": [{"name": "c"}]}));
        assert_eq!(
            choose_node(&pinned, [(&a, (&busy.0, &busy.1)), (&b, (&idle.0, &idle.1))].into_iter()).unwrap(),
            "a"
        );
    }

    #[test]
    fn failures_are_worded_as_kube_scheduler() {
        let a = node("a", "2", "4Gi", "110", json!({}));
        let b = node("b", "2", "4Gi", "110", json!({"disk": "ssd"}));
        let idle = (Resources::default(), Resources::default());
        let huge = pod(json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": "3"}}}]}));
        let err = choose_node(&huge, [(&a, (&idle.0, &idle.1)), (&b, (&idle.0, &idle.1))].into_iter()).unwrap_err();
        assert_eq!(
            err,
            "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
        );
        let picky = pod(json!({"nodeSelector": {"disk": "nvme"}, "containers": [{"name": "c"}]}));
        let err = choose_node(&picky, [(&a, (&idle.0, &idle.1)), (&b, (&idle.0, &idle.1))].into_iter()).unwrap_err();
        assert_eq!(
            err,
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
        );
        let full = (Resources { cpu_millis: 0, memory_bytes: 0, pods: 110 }, Resources::default());
        let small = pod(json!({"nodeSelector": {"disk": "ssd"}, "containers": [{"name": "c"}]}));
        let err = choose_node(&small, [(&a, (&idle.0, &idle.1)), (&b, (&full.0, &full.1))].into_iter()).unwrap_err();
        assert_eq!(
            err,
            "0/2 nodes are available: 1 Too many pods, 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling."
        );
        assert_eq!(choose_node(&small, std::iter::empty()).unwrap_err(), "no nodes available to schedule pods");
    }

    #[test]
    fn affinity_taints_and_cordons() {
        let n = NodeView::from_object(&json!({
            "metadata": {"name": "n1", "labels": {"kubernetes.io/arch": "amd64", "size": "4"}},
            "spec": {"unschedulable": true, "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
                                                       {"key": "soft", "effect": "PreferNoSchedule"}]},
            "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "10"}, "conditions": [{"type": "Ready", "status": "True"}]},
        }));
        let affinity = |op: &str, values: Value| {
            pod(json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "size", "operator": op, "values": values}]}]}}}}))
        };
        assert!(matches_node_affinity(&affinity("In", json!(["4", "8"])), &n));
        assert!(!matches_node_affinity(&affinity("NotIn", json!(["4"])), &n));
        assert!(matches_node_affinity(&affinity("Gt", json!(["3"])), &n));
        assert!(!matches_node_affinity(&affinity("Lt", json!(["3"])), &n));
        let by_name = pod(json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}}}));
        assert!(matches_node_affinity(&by_name, &n));

        let plain = pod(json!({"containers": [{"name": "c"}]}));
        let reasons = misfits(&plain, &pod_requests(&plain), &n, &Resources::default());
        assert_eq!(
            reasons,
            vec![
                Misfit::Unresolvable("node(s) were unschedulable".into()),
                Misfit::Unresolvable("node(s) had untolerated taint {dedicated: gpu}".into()),
            ]
        );
        let tolerant = pod(json!({"tolerations": [{"operator": "Exists"}], "containers": [{"name": "c"}]}));
        assert!(misfits(&tolerant, &pod_requests(&tolerant), &n, &Resources::default()).is_empty());
        let exact = pod(json!({"tolerations": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"},
            {"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}], "containers": [{"name": "c"}]}));
        assert!(misfits(&exact, &pod_requests(&exact), &n, &Resources::default()).is_empty());
    }

    #[test]
    fn conditions_replace_their_own_type() {
        let status = json!({"phase": "Pending", "qosClass": "BestEffort",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]});
        let updated = with_condition(Some(&status), scheduled_condition(true, None));
        assert_eq!(updated["conditions"].as_array().unwrap().len(), 1);
        assert_eq!(updated["conditions"][0]["status"], "True");
        assert_eq!(updated["qosClass"], "BestEffort");
    }
}
