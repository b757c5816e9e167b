//! The deployment controller's arithmetic, pure: the pod-template hash that names a
//! Deployment's ReplicaSets, template equality ignoring that hash, `maxSurge` and
//! `maxUnavailable` resolved against the replica count, how far a rolling update may scale the
//! new ReplicaSet up and the old ones down, proportional scaling, revisions, and the status
//! and conditions (`Available`, `Progressing`) that `kubectl rollout status` waits for — as
//! `pkg/controller/deployment` computes them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kube_core::meta;
use serde_json::{Map, Value, json};

pub(crate) const HASH_LABEL: &str = "pod-template-hash";
pub(crate) const REVISION: &str = "deployment.kubernetes.io/revision";
pub(crate) const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub(crate) const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub(crate) const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// Deployment annotations never copied to its ReplicaSets.
const NOT_COPIED: &[&str] =
    &["kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS];

/// FNV-1a, 32 bits (what `hash/fnv.New32a` computes; the `fnv` crate only has the 64-bit one).
fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |hash, b| (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

/// `rand.SafeEncodeString`: each character mapped into an alphabet without vowels or
/// look-alike digits.
fn safe_encode(text: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    text.bytes().map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char).collect()
}

/// A JSON value with object keys sorted, so equal templates hash equally whatever their order.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, Value> = map.iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect::<Map<_, _>>())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The `pod-template-hash` of a pod template (and the Deployment's `collisionCount`).
pub(crate) fn template_hash(template: &Value, collision_count: Option<i64>) -> String {
    let mut bytes = serde_json::to_vec(&canonical(&without_hash(template))).expect("JSON values serialize");
    if let Some(count) = collision_count {
        let mut le = [0u8; 8];
        le[..4].copy_from_slice(&(count as u32).to_le_bytes());
        bytes.extend_from_slice(&le);
    }
    safe_encode(&fnv32a(&bytes).to_string())
}

/// The template without its `pod-template-hash` label.
pub(crate) fn without_hash(template: &Value) -> Value {
    let mut template = template.clone();
    if let Some(labels) = template.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        labels.remove(HASH_LABEL);
        if labels.is_empty() {
            template["metadata"].as_object_mut().map(|m| m.remove("labels"));
        }
    }
    if template.pointer("/metadata").and_then(Value::as_object).is_some_and(Map::is_empty) {
        template.as_object_mut().map(|t| t.remove("metadata"));
    }
    template
}

/// `EqualIgnoreHash`: the same pod template, whatever their hash labels.
pub(crate) fn equal_ignore_hash(a: &Value, b: &Value) -> bool {
    without_hash(a) == without_hash(b)
}

/// An int-or-percent of `total`, rounded up or down.
fn scaled(value: Option<&Value>, total: i64, round_up: bool, default: &str) -> i64 {
    let default = Value::String(default.to_string());
    match value.unwrap_or(&default) {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(percent) => {
                let product = percent * total;
                if round_up { (product + 99) / 100 } else { product / 100 }
            }
            None => s.parse().unwrap_or(0),
        },
        _ => 0,
    }
}

/// `(maxSurge, maxUnavailable)` of a Deployment (`ResolveFenceposts`; 0/0 becomes 0/1).
/// Recreate deployments surge nothing and lose everything.
pub(crate) fn fenceposts(deployment: &Value) -> (i64, i64) {
    let replicas = spec_replicas(deployment);
    if deployment.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate") {
        return (0, replicas);
    }
    let rolling = deployment.pointer("/spec/strategy/rollingUpdate");
    let surge = scaled(rolling.and_then(|r| r.get("maxSurge")), replicas, true, "25%");
    let unavailable = scaled(rolling.and_then(|r| r.get("maxUnavailable")), replicas, false, "25%");
    if surge == 0 && unavailable == 0 { (0, 1) } else { (surge, unavailable) }
}

/// `MaxUnavailable` as the Available condition counts it.
pub(crate) fn max_unavailable(deployment: &Value) -> i64 {
    let replicas = spec_replicas(deployment);
    if replicas == 0 || deployment.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate") {
        return 0;
    }
    fenceposts(deployment).1.min(replicas)
}

pub(crate) fn spec_replicas(object: &Value) -> i64 {
    object.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)
}

fn status_count(object: &Value, field: &str) -> i64 {
    object.pointer(&format!("/status/{field}")).and_then(Value::as_i64).unwrap_or(0)
}

/// A ReplicaSet's revision annotation (0 when absent).
pub(crate) fn revision(object: &Value) -> i64 {
    meta::annotations(object).get(REVISION).and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// What the controller knows of one ReplicaSet.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ReplicaSetView {
    pub name: String,
    pub replicas: i64,
    pub status_replicas: i64,
    pub ready: i64,
    pub available: i64,
    pub revision: i64,
    pub created: Option<DateTime<Utc>>,
}

impl ReplicaSetView {
    pub(crate) fn of(rs: &Value) -> Self {
        Self {
            name: meta::name(rs).to_string(),
            replicas: spec_replicas(rs),
            status_replicas: status_count(rs, "replicas"),
            ready: status_count(rs, "readyReplicas"),
            available: status_count(rs, "availableReplicas"),
            revision: revision(rs),
            created: meta::creation_timestamp(rs),
        }
    }
}

/// `NewRSNewReplicas` for a rolling update: how big the new ReplicaSet may be now.
pub(crate) fn new_replicas_rolling(
    replicas: i64,
    max_surge: i64,
    new: Option<&ReplicaSetView>,
    old: &[ReplicaSetView],
) -> i64 {
    let current_new = new.map_or(0, |n| n.replicas);
    if current_new >= replicas {
        return replicas;
    }
    let current: i64 = old.iter().map(|r| r.replicas).sum::<i64>() + current_new;
    let max_total = replicas + max_surge;
    if current >= max_total {
        return current_new;
    }
    current_new + (max_total - current).min(replicas - current_new)
}

/// How the old ReplicaSets shrink in a rolling update: `(name, new size)` for each that does,
/// oldest first (`reconcileOldReplicaSets`: unhealthy replicas first, then available ones down
/// to the minimum the update must keep).
pub(crate) fn scale_down_old(
    replicas: i64,
    max_unavailable: i64,
    new: &ReplicaSetView,
    old: &[ReplicaSetView],
) -> Vec<(String, i64)> {
    let old_count: i64 = old.iter().map(|r| r.replicas).sum();
    if old_count == 0 {
        return vec![];
    }
    let all_count = old_count + new.replicas;
    let min_available = replicas - max_unavailable;
    let new_unavailable = new.replicas - new.available;
    let mut budget = all_count - min_available - new_unavailable;
    if budget <= 0 {
        return vec![];
    }
    let mut sizes: Vec<(String, i64, i64)> = old.iter().map(|r| (r.name.clone(), r.replicas, r.available)).collect();
    // Unhealthy replicas go first.
    for (_, size, available) in &mut sizes {
        if budget == 0 {
            break;
        }
        let unhealthy = (*size - *available).max(0);
        let cut = unhealthy.min(budget);
        *size -= cut;
        budget -= cut;
    }
    // Then available ones, down to the minimum.
    let available_total: i64 =
        sizes.iter().map(|(_, size, available)| (*available).min(*size)).sum::<i64>() + new.available;
    let mut scale_down = (available_total - min_available).max(0);
    for (_, size, _) in &mut sizes {
        if scale_down == 0 {
            break;
        }
        let cut = (*size).min(scale_down);
        *size -= cut;
        scale_down -= cut;
    }
    old.iter()
        .zip(sizes)
        .filter(|(before, (_, after, _))| before.replicas != *after)
        .map(|(_, (name, after, _))| (name, after))
        .collect()
}

/// Proportional scaling of every ReplicaSet to `allowed` replicas in total (a Deployment scaled
/// during a rollout): each keeps its share, the rounding leftover goes to the newest (scaling
/// up) or the oldest (scaling down).
pub(crate) fn proportional(allowed: i64, sets: &[ReplicaSetView]) -> Vec<(String, i64)> {
    let current: i64 = sets.iter().map(|r| r.replicas).sum();
    if current == 0 || allowed == current {
        return vec![];
    }
    let mut sizes: Vec<(String, i64)> = sets.iter().map(|r| (r.name.clone(), r.replicas * allowed / current)).collect();
    let leftover = allowed - sizes.iter().map(|(_, s)| s).sum::<i64>();
    let target = if allowed > current { sets.len() - 1 } else { 0 };
    if let Some((_, size)) = sizes.get_mut(target) {
        *size = (*size + leftover).max(0);
    }
    sizes
}

/// One condition of a Deployment's status.
fn condition(
    kind: &str,
    status: &str,
    reason: &str,
    message: String,
    previous: Option<&Value>,
    now: &str,
    touch: bool,
) -> Value {
    let same_status = previous.is_some_and(|p| p["status"] == status);
    let same = same_status && previous.is_some_and(|p| p["reason"] == reason);
    let transition = if same_status { previous.map(|p| p["lastTransitionTime"].clone()) } else { None }
        .unwrap_or_else(|| now.into());
    let update =
        if same && !touch { previous.map(|p| p["lastUpdateTime"].clone()) } else { None }.unwrap_or_else(|| now.into());
    json!({"type": kind, "status": status, "lastUpdateTime": update, "lastTransitionTime": transition,
        "reason": reason, "message": message})
}

fn find_condition<'a>(deployment: &'a Value, kind: &str) -> Option<&'a Value> {
    deployment.pointer("/status/conditions")?.as_array()?.iter().find(|c| c["type"] == kind)
}

/// What the status computation needs besides the ReplicaSets.
pub(crate) struct StatusInput<'a> {
    pub new: Option<&'a ReplicaSetView>,
    pub all: &'a [ReplicaSetView],
    /// The new ReplicaSet was created by this sync.
    pub created_new: bool,
    pub now: DateTime<Utc>,
}

/// `calculateStatus` and `syncRolloutStatus`: counts, `Available` and `Progressing`.
pub(crate) fn deployment_status(deployment: &Value, input: &StatusInput<'_>) -> Value {
    let now = meta::format_time(input.now);
    let replicas = spec_replicas(deployment);
    let status_replicas: i64 = input.all.iter().map(|r| r.status_replicas).sum();
    let updated = input.new.map_or(0, |n| n.status_replicas);
    let ready: i64 = input.all.iter().map(|r| r.ready).sum();
    let available: i64 = input.all.iter().map(|r| r.available).sum();
    let total: i64 = input.all.iter().map(|r| r.replicas).sum();
    let unavailable = (total - available).max(0);
    let generation = deployment.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);

    let mut status = Map::new();
    status.insert("observedGeneration".into(), generation.into());
    for (field, value) in [
        ("replicas", status_replicas),
        ("updatedReplicas", updated),
        ("readyReplicas", ready),
        ("availableReplicas", available),
        ("unavailableReplicas", unavailable),
    ] {
        if value != 0 {
            status.insert(field.into(), value.into());
        }
    }

    let available_ok = available >= replicas - max_unavailable(deployment);
    let available_condition = if available_ok {
        condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
            find_condition(deployment, "Available"),
            &now,
            false,
        )
    } else {
        condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
            find_condition(deployment, "Available"),
            &now,
            false,
        )
    };

    let previous = find_condition(deployment, "Progressing");
    let paused = deployment.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
    let new_name = input.new.map(|n| n.name.clone()).unwrap_or_default();
    let complete = updated == replicas && status_replicas == replicas && available == replicas;
    let old = |field: &str| deployment.pointer(&format!("/status/{field}")).and_then(Value::as_i64).unwrap_or(0);
    let progressed = updated > old("updatedReplicas")
        || (status_replicas - updated) < (old("replicas") - old("updatedReplicas"))
        || ready > old("readyReplicas")
        || available > old("availableReplicas");
    let deadline = deployment.pointer("/spec/progressDeadlineSeconds").and_then(Value::as_i64);
    let timed_out = match (deadline, previous.and_then(|p| p["lastUpdateTime"].as_str()).and_then(meta::parse_time)) {
        (Some(seconds), Some(last)) => !complete && (input.now - last).num_seconds() > seconds,
        _ => false,
    };
    let progressing = if paused {
        Some(condition(
            "Progressing",
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused".into(),
            previous,
            &now,
            false,
        ))
    } else if previous.is_some_and(|p| p["reason"] == "DeploymentPaused") {
        Some(condition(
            "Progressing",
            "Unknown",
            "DeploymentResumed",
            "Deployment is resumed".into(),
            previous,
            &now,
            false,
        ))
    } else if input.created_new {
        Some(condition(
            "Progressing",
            "True",
            "NewReplicaSetCreated",
            format!("Created new replica set {new_name:?}"),
            previous,
            &now,
            true,
        ))
    } else if input.new.is_some() && complete {
        Some(condition(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            format!("ReplicaSet {new_name:?} has successfully progressed."),
            previous,
            &now,
            false,
        ))
    } else if input.new.is_some() && progressed {
        Some(condition(
            "Progressing",
            "True",
            "ReplicaSetUpdated",
            format!("ReplicaSet {new_name:?} is progressing."),
            previous,
            &now,
            true,
        ))
    } else if input.new.is_some() && timed_out {
        Some(condition(
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            format!("ReplicaSet {new_name:?} has timed out progressing."),
            previous,
            &now,
            false,
        ))
    } else if previous.is_none() && input.new.is_some() {
        Some(condition(
            "Progressing",
            "True",
            "FoundNewReplicaSet",
            format!("Found new replica set {new_name:?}"),
            None,
            &now,
            true,
        ))
    } else {
        previous.cloned()
    };
    let mut conditions = vec![available_condition];
    conditions.extend(progressing);
    status.insert("conditions".into(), Value::Array(conditions));
    if let Some(count) = deployment.pointer("/status/collisionCount") {
        status.insert("collisionCount".into(), count.clone());
    }
    Value::Object(status)
}

/// `DeploymentComplete`: every replica updated and available, no old one left.
pub(crate) fn complete(deployment: &Value, status: &Value) -> bool {
    let replicas = spec_replicas(deployment);
    let count = |f: &str| status.get(f).and_then(Value::as_i64).unwrap_or(0);
    count("updatedReplicas") == replicas
        && count("replicas") == replicas
        && count("availableReplicas") == replicas
        && count("observedGeneration")
            >= deployment.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0)
}

/// The annotations a Deployment passes to its ReplicaSets (`kubernetes.io/change-cause`, …).
pub(crate) fn copied_annotations(deployment: &Value) -> BTreeMap<String, String> {
    meta::annotations(deployment).into_iter().filter(|(k, _)| !NOT_COPIED.contains(&k.as_str())).collect()
}

/// The ReplicaSet a Deployment's template makes, with `replicas` and `revision`.
pub(crate) fn new_replica_set(deployment: &Value, hash: &str, replicas: i64, revision: i64, max_surge: i64) -> Value {
    let name = format!("{}-{hash}", meta::name(deployment));
    let mut template = deployment.pointer("/spec/template").cloned().unwrap_or_else(|| json!({}));
    if !template.get("metadata").is_some_and(Value::is_object) {
        template["metadata"] = json!({});
    }
    let labels = template["metadata"].as_object_mut().expect("an object").entry("labels").or_insert_with(|| json!({}));
    labels[HASH_LABEL] = hash.into();
    let labels = labels.clone();
    let mut selector = deployment.pointer("/spec/selector").cloned().unwrap_or_else(|| json!({}));
    let match_labels = selector.as_object_mut().expect("an object").entry("matchLabels").or_insert_with(|| json!({}));
    match_labels[HASH_LABEL] = hash.into();
    let mut annotations: Map<String, Value> =
        copied_annotations(deployment).into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    annotations.insert(DESIRED_REPLICAS.into(), spec_replicas(deployment).to_string().into());
    annotations.insert(MAX_REPLICAS.into(), (spec_replicas(deployment) + max_surge).to_string().into());
    annotations.insert(REVISION.into(), revision.to_string().into());
    let mut spec = json!({"replicas": replicas, "selector": selector, "template": template});
    if let Some(min_ready) = deployment.pointer("/spec/minReadySeconds").and_then(Value::as_i64).filter(|m| *m > 0) {
        spec["minReadySeconds"] = min_ready.into();
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": meta::namespace(deployment),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": meta::name(deployment),
                "uid": meta::uid(deployment), "controller": true, "blockOwnerDeletion": true}],
        },
        "spec": spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(name: &str, replicas: i64, available: i64) -> ReplicaSetView {
        ReplicaSetView {
            name: name.into(),
            replicas,
            status_replicas: replicas,
            ready: available,
            available,
            revision: 1,
            created: None,
        }
    }

    #[test]
    fn hashes_are_stable_safe_and_ignore_key_order() {
        let a = json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}});
        let b = json!({"spec": {"containers": [{"image": "nginx", "name": "nginx"}]}, "metadata": {"labels": {"app": "web"}}});
        let hash = template_hash(&a, None);
        assert_eq!(hash, template_hash(&b, None));
        assert!(hash.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)), "{hash}");
        assert!((1..=10).contains(&hash.len()));
        assert_ne!(hash, template_hash(&a, Some(1)), "a collision count changes the hash");
        let mut labelled = a.clone();
        labelled["metadata"]["labels"][HASH_LABEL] = hash.clone().into();
        assert!(equal_ignore_hash(&a, &labelled));
        assert_eq!(template_hash(&labelled, None), hash);
        let mut changed = a.clone();
        changed["spec"]["containers"][0]["image"] = "nginx:1.27".into();
        assert!(!equal_ignore_hash(&a, &changed));
        assert_eq!(fnv32a(b""), 0x811c_9dc5);
        assert_eq!(fnv32a(b"a"), 0xe40c_292c);
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }

    #[test]
    fn fenceposts_round_as_kubernetes() {
        let d = |replicas: i64, rolling: Value| json!({"spec": {"replicas": replicas, "strategy": {"type": "RollingUpdate", "rollingUpdate": rolling}}});
        assert_eq!(fenceposts(&d(10, json!({"maxSurge": "25%", "maxUnavailable": "25%"}))), (3, 2));
        assert_eq!(fenceposts(&d(3, json!({}))), (1, 0));
        assert_eq!(fenceposts(&d(3, json!({"maxSurge": 0, "maxUnavailable": 0}))), (0, 1));
        assert_eq!(fenceposts(&d(4, json!({"maxSurge": 2, "maxUnavailable": "50%"}))), (2, 2));
        assert_eq!(max_unavailable(&d(1, json!({"maxUnavailable": 5}))), 1);
        let recreate = json!({"spec": {"replicas": 3, "strategy": {"type": "Recreate"}}});
        assert_eq!((fenceposts(&recreate), max_unavailable(&recreate)), ((0, 3), 0));
    }

    #[test]
    fn a_rolling_update_surges_then_drains_the_old_set() {
        // 4 replicas, maxSurge 1, maxUnavailable 1 (both 25%).
        let old = vec![rs("web-old", 4, 4)];
        assert_eq!(new_replicas_rolling(4, 1, None, &old), 1);
        let new = rs("web-new", 1, 0);
        // The new pod is not available yet: one old may go (4+1 total, 3 must stay available).
        assert_eq!(scale_down_old(4, 1, &new, &old), vec![("web-old".to_string(), 3)]);
        let old = vec![rs("web-old", 3, 3)];
        assert_eq!(new_replicas_rolling(4, 1, Some(&new), &old), 2);
        let new = rs("web-new", 2, 2);
        assert_eq!(scale_down_old(4, 1, &new, &old), vec![("web-old".to_string(), 1)]);
        let old = vec![rs("web-old", 1, 1)];
        assert_eq!(new_replicas_rolling(4, 1, Some(&new), &old), 4);
        let new = rs("web-new", 4, 4);
        assert_eq!(scale_down_old(4, 1, &new, &old), vec![("web-old".to_string(), 0)]);
        assert_eq!(scale_down_old(4, 1, &new, &[rs("web-old", 0, 0)]), vec![]);
        // Unhealthy old replicas are removed first, even beyond the available budget.
        let new = rs("web-new", 1, 1);
        assert_eq!(scale_down_old(2, 0, &new, &[rs("broken", 2, 0)]), vec![("broken".to_string(), 1)]);
        let unready = rs("web-new", 1, 0);
        assert_eq!(scale_down_old(2, 0, &unready, &[rs("broken", 2, 0)]), vec![], "nothing may go yet");
        assert_eq!(new_replicas_rolling(3, 1, Some(&rs("n", 5, 5)), &[]), 3, "never above the spec");
    }

    #[test]
    fn proportional_scaling_keeps_shares() {
        let sets = vec![rs("old", 6, 6), rs("new", 4, 0)];
        assert_eq!(proportional(15, &sets), vec![("old".to_string(), 9), ("new".to_string(), 6)]);
        assert_eq!(proportional(5, &sets), vec![("old".to_string(), 3), ("new".to_string(), 2)]);
        let sets = vec![rs("old", 1, 1), rs("new", 2, 0)];
        assert_eq!(proportional(4, &sets), vec![("old".to_string(), 1), ("new".to_string(), 3)]);
        assert_eq!(proportional(3, &sets), vec![]);
    }

    #[test]
    fn status_and_conditions_for_rollout_status() {
        let now = Utc::now();
        let d = json!({"metadata": {"name": "web", "generation": 2},
            "spec": {"replicas": 3, "progressDeadlineSeconds": 600, "strategy": {"type": "RollingUpdate"}}});
        let new = rs("web-abc", 3, 3);
        let all = vec![new.clone()];
        let status = deployment_status(&d, &StatusInput { new: Some(&new), all: &all, created_new: false, now });
        assert_eq!(status["observedGeneration"], 2);
        assert_eq!(
            (status["replicas"].as_i64(), status["updatedReplicas"].as_i64(), status["availableReplicas"].as_i64()),
            (Some(3), Some(3), Some(3))
        );
        assert!(status.get("unavailableReplicas").is_none(), "zero counts are omitted");
        assert_eq!(status["conditions"][0]["reason"], "MinimumReplicasAvailable");
        assert_eq!(status["conditions"][1]["reason"], "NewReplicaSetAvailable");
        assert_eq!(status["conditions"][1]["message"], "ReplicaSet \"web-abc\" has successfully progressed.");
        let mut done = d.clone();
        done["status"] = status.clone();
        assert!(complete(&done, &status));

        // A new template: the new set has one pod, the old one three.
        let new = rs("web-def", 1, 0);
        let all = vec![rs("web-abc", 3, 3), new.clone()];
        let status = deployment_status(&done, &StatusInput { new: Some(&new), all: &all, created_new: true, now });
        assert_eq!(status["conditions"][1]["reason"], "NewReplicaSetCreated");
        assert_eq!(status["unavailableReplicas"], 1);
        assert!(!complete(&done, &status));
        let later = now + chrono::Duration::seconds(700);
        let mut stuck = done.clone();
        stuck["status"] = status;
        let status =
            deployment_status(&stuck, &StatusInput { new: Some(&new), all: &all, created_new: false, now: later });
        assert_eq!(status["conditions"][1]["reason"], "ProgressDeadlineExceeded");
        assert_eq!(status["conditions"][1]["status"], "False");
    }

    #[test]
    fn a_new_replica_set_carries_the_hash_revision_and_owner() {
        let d = json!({"metadata": {"name": "web", "namespace": "default", "uid": "d-1",
                "annotations": {"kubernetes.io/change-cause": "v2", "kubectl.kubernetes.io/last-applied-configuration": "{}", REVISION: "1"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}});
        let rs = new_replica_set(&d, "5d8f7b9c4", 1, 2, 1);
        assert_eq!(rs["metadata"]["name"], "web-5d8f7b9c4");
        assert_eq!(rs["metadata"]["labels"], json!({"app": "web", "pod-template-hash": "5d8f7b9c4"}));
        assert_eq!(rs["spec"]["selector"]["matchLabels"][HASH_LABEL], "5d8f7b9c4");
        assert_eq!(rs["spec"]["template"]["metadata"]["labels"][HASH_LABEL], "5d8f7b9c4");
        let annotations = &rs["metadata"]["annotations"];
        assert_eq!(annotations[REVISION], "2");
        assert_eq!(annotations[DESIRED_REPLICAS], "3");
        assert_eq!(annotations[MAX_REPLICAS], "4");
        assert_eq!(annotations["kubernetes.io/change-cause"], "v2");
        assert!(annotations.get("kubectl.kubernetes.io/last-applied-configuration").is_none());
        assert_eq!(rs["metadata"]["ownerReferences"][0]["uid"], "d-1");
        assert!(equal_ignore_hash(&rs["spec"]["template"], &d["spec"]["template"]));
    }
}
