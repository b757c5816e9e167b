//! The ReplicaSet controller: each ReplicaSet keeps `spec.replicas` active pods (not
//! terminating, not finished) made from its template, owned by it (`ownerReferences` with
//! `controller: true`, which the API server's garbage collector follows), and reports
//! `replicas`, `fullyLabeledReplicas`, `readyReplicas`, `availableReplicas` and
//! `observedGeneration`. Creations and deletions are "expected" until the cache sees them, so
//! a ReplicaSet never overshoots while its own writes are in flight (as kube-controller-manager
//! does). Surplus pods go in kube-controller-manager's order: unscheduled, pending, not ready,
//! most recently ready, most restarted, newest.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use kube_api::Target;
use kube_core::meta;
use kube_core::selector::LabelSelector;
use serde_json::{Map, Value, json};

use crate::api::{self, Api};
use crate::cache::{Cache, Kind, ObjectKey};
use crate::events::{EventType, Recorder, Source};
use crate::queue::WorkQueue;

/// The most pods one sync creates or deletes (kube-controller-manager's burst).
const BURST: usize = 500;
/// Writes in flight for one sync.
const CONCURRENT_WRITES: usize = 64;
/// Expectations not met by then are given up (a lost watch event must not block a set).
const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(60);
const COMPONENT: &str = "replicaset-controller";

/// Whether a pod counts toward its ReplicaSet: not terminating and not finished.
pub(crate) fn is_active(pod: &Value) -> bool {
    meta::deletion_timestamp(pod).is_none()
        && !matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"))
}

/// When the pod's Ready condition became True (`None`: not ready).
pub(crate) fn ready_since(pod: &Value) -> Option<DateTime<Utc>> {
    let condition = pod
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready" && c["status"] == "True")?;
    Some(
        condition
            .get("lastTransitionTime")
            .and_then(Value::as_str)
            .and_then(meta::parse_time)
            .unwrap_or(DateTime::<Utc>::MIN_UTC),
    )
}

/// Whether the pod has been ready for `min_ready` seconds at `now`.
pub(crate) fn is_available(pod: &Value, min_ready: i64, now: DateTime<Utc>) -> bool {
    ready_since(pod).is_some_and(|since| min_ready <= 0 || (now - since).num_seconds() >= min_ready)
}

/// The order in which surplus pods are deleted (`ActivePods` less): earlier goes first.
fn deletion_rank(pod: &Value) -> (bool, u8, bool, i64, i64, i64) {
    let assigned = !pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default().is_empty();
    let phase = match pod.pointer("/status/phase").and_then(Value::as_str) {
        Some("Pending") => 0,
        Some("Running") => 2,
        _ => 1,
    };
    let ready = ready_since(pod);
    let restarts: i64 = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .map(|s| s.iter().map(|c| c.get("restartCount").and_then(Value::as_i64).unwrap_or(0)).sum())
        .unwrap_or(0);
    let created = meta::creation_timestamp(pod).map_or(0, |t| t.timestamp());
    (
        assigned,
        phase,
        ready.is_some(),
        // More recently ready first, then more restarts, then newer.
        -ready.map_or(0, |t| t.timestamp()),
        -restarts,
        -created,
    )
}

/// Which of `pods` to delete to remove `count`.
pub(crate) fn pods_to_delete(mut pods: Vec<Arc<Value>>, count: usize) -> Vec<Arc<Value>> {
    pods.sort_by_key(|p| deletion_rank(p));
    pods.truncate(count);
    pods
}

/// The pod a ReplicaSet's template makes.
pub(crate) fn pod_from_template(rs: &Value) -> Value {
    let template = rs.pointer("/spec/template").cloned().unwrap_or_else(|| json!({}));
    let mut metadata = Map::new();
    metadata.insert("generateName".into(), format!("{}-", meta::name(rs)).into());
    metadata.insert("namespace".into(), meta::namespace(rs).into());
    for field in ["labels", "annotations", "finalizers"] {
        if let Some(value) = template.pointer(&format!("/metadata/{field}")) {
            metadata.insert(field.into(), value.clone());
        }
    }
    metadata.insert(
        "ownerReferences".into(),
        json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": meta::name(rs), "uid": meta::uid(rs),
            "controller": true, "blockOwnerDeletion": true}]),
    );
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template.get("spec").cloned().unwrap_or_else(|| json!({}))})
}

/// A ReplicaSet's status from its pods.
pub(crate) fn replica_set_status(rs: &Value, pods: &[Arc<Value>], now: DateTime<Utc>) -> Value {
    let min_ready = rs.pointer("/spec/minReadySeconds").and_then(Value::as_i64).unwrap_or(0);
    let template_labels = meta::string_map(rs.pointer("/spec/template/metadata/labels"));
    let active: Vec<&Arc<Value>> = pods.iter().filter(|p| is_active(p)).collect();
    let fully_labeled = active
        .iter()
        .filter(|p| {
            let labels = meta::labels(p);
            template_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
        })
        .count();
    let ready = active.iter().filter(|p| ready_since(p).is_some()).count();
    let available = active.iter().filter(|p| is_available(p, min_ready, now)).count();
    let mut status = Map::new();
    status.insert("replicas".into(), active.len().into());
    for (field, value) in
        [("fullyLabeledReplicas", fully_labeled), ("readyReplicas", ready), ("availableReplicas", available)]
    {
        if value > 0 {
            status.insert(field.into(), value.into());
        }
    }
    if let Some(generation) = rs.pointer("/metadata/generation").and_then(Value::as_i64) {
        status.insert("observedGeneration".into(), generation.into());
    }
    if let Some(conditions) = rs.pointer("/status/conditions").filter(|c| c.as_array().is_some_and(|a| !a.is_empty())) {
        status.insert("conditions".into(), conditions.clone());
    }
    Value::Object(status)
}

/// The ReplicaSet a pod's controller reference names, if it is one.
pub(crate) fn owning_replica_set(pod: &Value) -> Option<ObjectKey> {
    let refs = pod.pointer("/metadata/ownerReferences")?.as_array()?;
    let owner = refs.iter().find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))?;
    (owner.get("kind").and_then(Value::as_str) == Some("ReplicaSet"))
        .then(|| ObjectKey::new(meta::namespace(pod), owner.get("name").and_then(Value::as_str).unwrap_or_default()))
}

/// Writes in flight that the cache has not shown yet.
struct Expectation {
    adds: i64,
    deletes: HashSet<String>,
    since: Instant,
}

impl Expectation {
    fn satisfied(&self) -> bool {
        (self.adds <= 0 && self.deletes.is_empty()) || self.since.elapsed() > EXPECTATIONS_TIMEOUT
    }
}

pub(crate) struct ReplicaSets {
    api: Arc<Api>,
    cache: Arc<Cache>,
    recorder: Arc<Recorder>,
    queue: Arc<WorkQueue<ObjectKey>>,
    expectations: Mutex<HashMap<ObjectKey, Expectation>>,
}

impl ReplicaSets {
    pub(crate) fn new(api: Arc<Api>, cache: Arc<Cache>, recorder: Arc<Recorder>) -> Arc<Self> {
        Arc::new(Self { api, cache, recorder, queue: WorkQueue::new(), expectations: Mutex::new(HashMap::new()) })
    }

    fn expectations(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectKey, Expectation>> {
        self.expectations.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn watch(self: &Arc<Self>) {
        let controller = Arc::clone(self);
        self.cache.on_change(move |change| match change.kind {
            Kind::ReplicaSet => controller.queue.add(ObjectKey::of(change.object())),
            Kind::Pod => {
                let Some(key) = owning_replica_set(change.object()) else { return };
                let uid = meta::uid(change.object());
                let was_active = change.old.is_some_and(|p| is_active(p));
                let now_active = change.new.is_some_and(|p| is_active(p));
                {
                    let mut expectations = controller.expectations();
                    if let Some(expectation) = expectations.get_mut(&key) {
                        if change.old.is_none() && change.new.is_some() {
                            expectation.adds -= 1;
                        }
                        if was_active && !now_active || change.new.is_none() {
                            expectation.deletes.remove(uid);
                        }
                    }
                }
                controller.queue.add(key);
            }
            _ => {}
        });
    }

    pub(crate) fn spawn(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let controller = Arc::clone(self);
        crate::queue::run_workers(Arc::clone(&self.queue), 4, move |key| {
            let controller = Arc::clone(&controller);
            async move { controller.sync(key).await }
        })
    }

    async fn sync(self: Arc<Self>, key: ObjectKey) {
        let Some(rs) = self.cache.get(Kind::ReplicaSet, &key) else {
            self.expectations().remove(&key);
            return;
        };
        let pods = self.cache.dependents(Kind::Pod, meta::uid(&rs));
        let selector = LabelSelector::from_object(rs.pointer("/spec/selector")).ok().flatten();
        let pods: Vec<Arc<Value>> =
            pods.into_iter().filter(|p| selector.as_ref().is_some_and(|s| s.matches(&meta::labels(p)))).collect();
        let satisfied = self.expectations().get(&key).is_none_or(Expectation::satisfied);
        if satisfied && meta::deletion_timestamp(&rs).is_none() {
            self.manage(&rs, &key, &pods).await;
        }
        let now = Utc::now();
        let status = replica_set_status(&rs, &pods, now);
        if rs.get("status") != Some(&status)
            && let Err(err) =
                self.api.write_status(&self.api.replicasets, &rs, status, &mut api::controller(COMPONENT)).await
        {
            tracing::debug!(replicaset = %key, error = %err.message, "cannot update a ReplicaSet status");
            self.queue.add_after(key.clone(), Duration::from_millis(200));
        }
        // Pods ready but not yet available count once minReadySeconds have passed.
        let min_ready = rs.pointer("/spec/minReadySeconds").and_then(Value::as_i64).unwrap_or(0);
        if min_ready > 0 {
            let pending = pods
                .iter()
                .filter_map(|p| ready_since(p))
                .filter(|since| (now - *since).num_seconds() < min_ready)
                .min();
            if let Some(since) = pending {
                let wait = (since + chrono::Duration::seconds(min_ready) - now).to_std().unwrap_or_default();
                self.queue.add_after(key, wait + Duration::from_millis(50));
            }
        }
    }

    /// Creates or deletes pods so that `spec.replicas` are active.
    async fn manage(&self, rs: &Arc<Value>, key: &ObjectKey, pods: &[Arc<Value>]) {
        let active: Vec<Arc<Value>> = pods.iter().filter(|p| is_active(p)).cloned().collect();
        let want = crate::rollout::spec_replicas(rs).max(0) as usize;
        if active.len() < want {
            let count = (want - active.len()).min(BURST);
            self.expectations().insert(
                key.clone(),
                Expectation { adds: count as i64, deletes: HashSet::new(), since: Instant::now() },
            );
            let template = pod_from_template(rs);
            let results: Vec<_> = futures::stream::iter(0..count)
                .map(|_| {
                    let pod = template.clone();
                    async move {
                        let mut ctx = api::controller(COMPONENT);
                        self.api
                            .objects
                            .create(&Target::collection(&self.api.pods, meta::namespace(rs)), pod, &mut ctx)
                            .await
                    }
                })
                .buffer_unordered(CONCURRENT_WRITES)
                .collect()
                .await;
            let source = Source::controller(COMPONENT);
            for result in results {
                match result {
                    Ok(pod) => self.recorder.record(
                        rs,
                        None,
                        EventType::Normal,
                        "SuccessfulCreate",
                        format!("Created pod: {}", meta::name(&pod)),
                        &source,
                    ),
                    Err(status) => {
                        if let Some(expectation) = self.expectations().get_mut(key) {
                            expectation.adds -= 1;
                        }
                        self.recorder.record(
                            rs,
                            None,
                            EventType::Warning,
                            "FailedCreate",
                            format!("Error creating: {}", status.message),
                            &source,
                        );
                        self.queue.add_after(key.clone(), Duration::from_secs(1));
                    }
                }
            }
        } else if active.len() > want {
            let victims = pods_to_delete(active.clone(), (active.len() - want).min(BURST));
            let uids: HashSet<String> = victims.iter().map(|p| meta::uid(p).to_string()).collect();
            self.expectations().insert(key.clone(), Expectation { adds: 0, deletes: uids, since: Instant::now() });
            let results: Vec<_> = futures::stream::iter(victims)
                .map(|pod| async move {
                    let mut ctx = api::controller(COMPONENT);
                    (self.api.delete(&self.api.pods, &pod, None, &mut ctx).await, pod)
                })
                .buffer_unordered(CONCURRENT_WRITES)
                .collect()
                .await;
            let source = Source::controller(COMPONENT);
            for (result, pod) in results {
                match result {
                    Ok(()) => self.recorder.record(
                        rs,
                        None,
                        EventType::Normal,
                        "SuccessfulDelete",
                        format!("Deleted pod: {}", meta::name(&pod)),
                        &source,
                    ),
                    Err(status) => {
                        if let Some(expectation) = self.expectations().get_mut(key) {
                            expectation.deletes.remove(meta::uid(&pod));
                        }
                        if status.code != 404 {
                            self.recorder.record(
                                rs,
                                None,
                                EventType::Warning,
                                "FailedDelete",
                                format!("Error deleting: {}", status.message),
                                &source,
                            );
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::controller_uid;

    fn pod(name: &str, phase: &str, node: &str, ready: Option<&str>, created: &str) -> Arc<Value> {
        let mut conditions = vec![];
        if let Some(at) = ready {
            conditions.push(json!({"type": "Ready", "status": "True", "lastTransitionTime": at}));
        }
        Arc::new(
            json!({"metadata": {"name": name, "uid": name, "creationTimestamp": created, "labels": {"app": "web"}},
            "spec": {"nodeName": node}, "status": {"phase": phase, "conditions": conditions}}),
        )
    }

    #[test]
    fn surplus_pods_go_in_kube_controller_managers_order() {
        let pods = vec![
            pod("running-old", "Running", "n", Some("2026-01-01T00:00:00Z"), "2026-01-01T00:00:00Z"),
            pod("running-new", "Running", "n", Some("2026-01-01T00:05:00Z"), "2026-01-01T00:04:00Z"),
            pod("pending", "Pending", "n", None, "2026-01-01T00:00:00Z"),
            pod("unscheduled", "Pending", "", None, "2026-01-01T00:00:00Z"),
            pod("not-ready", "Running", "n", None, "2026-01-01T00:00:00Z"),
        ];
        let order: Vec<String> = pods_to_delete(pods, 5).iter().map(|p| meta::name(p).to_string()).collect();
        assert_eq!(order, ["unscheduled", "pending", "not-ready", "running-new", "running-old"]);
    }

    #[test]
    fn pods_come_from_the_template_owned_by_the_set() {
        let rs = json!({"metadata": {"name": "web-5d8f", "namespace": "shop", "uid": "rs-1"},
            "spec": {"replicas": 2, "template": {"metadata": {"labels": {"app": "web", "pod-template-hash": "5d8f"},
                "annotations": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}});
        let pod = pod_from_template(&rs);
        assert_eq!(pod["metadata"]["generateName"], "web-5d8f-");
        assert_eq!(pod["metadata"]["namespace"], "shop");
        assert_eq!(pod["metadata"]["labels"]["pod-template-hash"], "5d8f");
        assert_eq!(pod["metadata"]["annotations"]["a"], "b");
        assert_eq!(controller_uid(&pod), Some("rs-1"));
        assert_eq!(pod["spec"]["containers"][0]["image"], "nginx");
        let mut named = pod.clone();
        named["metadata"]["name"] = "web-5d8f-abcde".into();
        assert_eq!(owning_replica_set(&named), Some(ObjectKey::new("shop", "web-5d8f")));
    }

    #[test]
    fn status_counts_active_ready_and_available_pods() {
        let now = meta::parse_time("2026-01-01T00:10:00Z").unwrap();
        let rs = json!({"metadata": {"generation": 3}, "spec": {"minReadySeconds": 60,
            "template": {"metadata": {"labels": {"app": "web"}}}}});
        let mut finished = (*pod("done", "Succeeded", "n", None, "2026-01-01T00:00:00Z")).clone();
        finished["status"]["phase"] = "Succeeded".into();
        let mut deleting =
            (*pod("going", "Running", "n", Some("2026-01-01T00:00:00Z"), "2026-01-01T00:00:00Z")).clone();
        deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:09:00Z".into();
        let pods = vec![
            pod("a", "Running", "n", Some("2026-01-01T00:00:00Z"), "2026-01-01T00:00:00Z"),
            pod("b", "Running", "n", Some("2026-01-01T00:09:30Z"), "2026-01-01T00:00:00Z"),
            pod("c", "Pending", "n", None, "2026-01-01T00:00:00Z"),
            Arc::new(finished),
            Arc::new(deleting),
        ];
        let status = replica_set_status(&rs, &pods, now);
        assert_eq!(
            status,
            json!({"replicas": 3, "fullyLabeledReplicas": 3, "readyReplicas": 2, "availableReplicas": 1, "observedGeneration": 3})
        );
        let empty = replica_set_status(&json!({"metadata": {}}), &[], now);
        assert_eq!(empty, json!({"replicas": 0}), "zero counts but replicas are omitted");
    }
}
