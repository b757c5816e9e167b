//! The Deployment controller: each Deployment owns ReplicaSets named by its pod template's
//! hash; the one whose template matches is the new one (created, or taken back from history
//! by `kubectl rollout undo`, with its revision bumped), the others are old. A template change
//! rolls out as `RollingUpdate` (within `maxSurge` and `maxUnavailable`) or `Recreate`;
//! a replica change alone scales the ReplicaSets proportionally; a paused Deployment only
//! scales. Revisions live in `deployment.kubernetes.io/revision` annotations (history beyond
//! `revisionHistoryLimit` is deleted once a rollout completes) and the status carries the
//! counts and conditions `kubectl rollout status` reads. The arithmetic is in
//! [`crate::rollout`].

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use kube_api::Target;
use kube_core::meta;
use serde_json::{Map, Value, json};

use crate::api::{self, Api};
use crate::cache::{Cache, Kind, ObjectKey};
use crate::events::{EventType, Recorder, Source};
use crate::queue::WorkQueue;
use crate::replicaset::owning_replica_set;
use crate::rollout::{self, DESIRED_REPLICAS, MAX_REPLICAS, REVISION, REVISION_HISTORY, ReplicaSetView};

const COMPONENT: &str = "deployment-controller";

/// The Deployment a ReplicaSet's controller reference names, if it is one.
fn owning_deployment(rs: &Value) -> Option<ObjectKey> {
    let refs = rs.pointer("/metadata/ownerReferences")?.as_array()?;
    let owner = refs.iter().find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))?;
    (owner.get("kind").and_then(Value::as_str) == Some("Deployment"))
        .then(|| ObjectKey::new(meta::namespace(rs), owner.get("name").and_then(Value::as_str).unwrap_or_default()))
}

pub(crate) struct Deployments {
    api: Arc<Api>,
    cache: Arc<Cache>,
    recorder: Arc<Recorder>,
    queue: Arc<WorkQueue<ObjectKey>>,
    /// Deployments with a progress-deadline check pending.
    deadlines: Arc<Mutex<HashSet<ObjectKey>>>,
}

impl Deployments {
    pub(crate) fn new(api: Arc<Api>, cache: Arc<Cache>, recorder: Arc<Recorder>) -> Arc<Self> {
        Arc::new(Self {
            api,
            cache,
            recorder,
            queue: WorkQueue::new(),
            deadlines: Arc::new(Mutex::new(HashSet::new())),
        })
    }

    pub(crate) fn watch(self: &Arc<Self>) {
        let controller = Arc::clone(self);
        self.cache.on_change(move |change| match change.kind {
            Kind::Deployment => controller.queue.add(ObjectKey::of(change.object())),
            Kind::ReplicaSet => {
                if let Some(key) = owning_deployment(change.object()) {
                    controller.queue.add(key);
                }
            }
            // A Recreate rollout waits for the old pods to be gone.
            Kind::Pod if change.new.is_none() => {
                let owner = owning_replica_set(change.object())
                    .and_then(|rs| controller.cache.get(Kind::ReplicaSet, &rs))
                    .and_then(|rs| owning_deployment(&rs));
                if let Some(key) = owner {
                    controller.queue.add(key);
                }
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

    fn event(&self, deployment: &Value, message: String) {
        self.recorder.record(
            deployment,
            None,
            EventType::Normal,
            "ScalingReplicaSet",
            message,
            &Source::controller(COMPONENT),
        );
    }

    async fn sync(self: Arc<Self>, key: ObjectKey) {
        let Some(d) = self.cache.get(Kind::Deployment, &key) else { return };
        if meta::deletion_timestamp(&d).is_some() {
            return;
        }
        let mut sets: Vec<Value> =
            self.cache.dependents(Kind::ReplicaSet, meta::uid(&d)).iter().map(|rs| (**rs).clone()).collect();
        sets.sort_by_key(|rs| (meta::creation_timestamp(rs), meta::name(rs).to_string()));
        let template = d.pointer("/spec/template").cloned().unwrap_or(Value::Null);
        let new_index = sets
            .iter()
            .position(|rs| rs.pointer("/spec/template").is_some_and(|t| rollout::equal_ignore_hash(t, &template)));
        let mut new = new_index.map(|i| sets.remove(i));
        let mut old = sets;
        let replicas = rollout::spec_replicas(&d);
        let (surge, unavailable) = rollout::fenceposts(&d);
        let paused = d.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);

        let scaling = new.iter().chain(old.iter()).any(|rs| {
            rollout::spec_replicas(rs) > 0
                && meta::annotations(rs)
                    .get(DESIRED_REPLICAS)
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v != replicas)
        });
        if paused || scaling {
            self.scale(&d, new.as_mut(), &mut old, surge).await;
            self.sync_status(&d, new.as_ref(), &old, false).await;
            return;
        }

        let recreate = d.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate");
        let created_new;
        if recreate {
            let mut scaled = false;
            for rs in old.iter_mut().filter(|rs| rollout::spec_replicas(rs) > 0) {
                scaled |= self.scale_replica_set(&d, rs, 0, surge).await;
            }
            let old_pods = old.iter().any(|rs| !self.cache.dependents(Kind::Pod, meta::uid(rs)).is_empty());
            if scaled || old_pods {
                self.sync_status(&d, new.as_ref(), &old, false).await;
                return;
            }
            match self.ensure_new(&d, new.take(), &old, replicas, surge).await {
                Some((rs, created)) => {
                    created_new = created;
                    new = Some(rs);
                }
                None => return,
            }
            if let Some(rs) = new.as_mut()
                && rollout::spec_replicas(rs) != replicas
            {
                self.scale_replica_set(&d, rs, replicas, surge).await;
            }
        } else {
            let old_views: Vec<ReplicaSetView> = old.iter().map(ReplicaSetView::of).collect();
            let initial = rollout::new_replicas_rolling(replicas, surge, None, &old_views);
            match self.ensure_new(&d, new.take(), &old, initial, surge).await {
                Some((rs, created)) => {
                    created_new = created;
                    new = Some(rs);
                }
                None => return,
            }
            let rs = new.as_mut().expect("just ensured");
            let target = rollout::new_replicas_rolling(replicas, surge, Some(&ReplicaSetView::of(rs)), &old_views);
            if !created_new && target != rollout::spec_replicas(rs) {
                self.scale_replica_set(&d, rs, target, surge).await;
                self.sync_status(&d, new.as_ref(), &old, false).await;
                return;
            }
            let downs = rollout::scale_down_old(replicas, unavailable, &ReplicaSetView::of(rs), &old_views);
            if !downs.is_empty() {
                for (name, size) in downs {
                    if let Some(rs) = old.iter_mut().find(|rs| meta::name(rs) == name) {
                        self.scale_replica_set(&d, rs, size, surge).await;
                    }
                }
                self.sync_status(&d, new.as_ref(), &old, created_new).await;
                return;
            }
        }
        let status = self.sync_status(&d, new.as_ref(), &old, created_new).await;
        if rollout::complete(&d, &status) {
            self.cleanup(&d, &old).await;
        }
    }

    /// The new ReplicaSet: the one matching the template (its revision brought up to date), or
    /// a new one with `initial` replicas. `None` when it could not be made now (retried).
    async fn ensure_new(
        &self,
        d: &Arc<Value>,
        existing: Option<Value>,
        old: &[Value],
        initial: i64,
        surge: i64,
    ) -> Option<(Value, bool)> {
        let max_old = old.iter().map(rollout::revision).max().unwrap_or(0);
        let wanted = max_old + 1;
        let namespace = meta::namespace(d);
        let mut ctx = api::controller(COMPONENT);
        let (rs, created) = match existing {
            Some(rs) => {
                let current = rollout::revision(&rs);
                let annotations = meta::annotations(&rs);
                let mut patch = Map::new();
                if current < wanted {
                    patch.insert(REVISION.into(), wanted.to_string().into());
                    if current > 0 {
                        let history = match annotations.get(REVISION_HISTORY).filter(|h| !h.is_empty()) {
                            Some(history) => format!("{history},{current}"),
                            None => current.to_string(),
                        };
                        patch.insert(REVISION_HISTORY.into(), history.into());
                    }
                }
                for (name, value) in rollout::copied_annotations(d) {
                    if annotations.get(&name) != Some(&value) {
                        patch.insert(name, value.into());
                    }
                }
                if patch.is_empty() {
                    (rs, false)
                } else {
                    let body = json!({"metadata": {"annotations": patch}});
                    match self.api.merge_patch(&self.api.replicasets, namespace, meta::name(&rs), &body, &mut ctx).await
                    {
                        Ok(patched) => (patched, false),
                        Err(status) => {
                            tracing::debug!(replicaset = meta::name(&rs), error = %status.message, "cannot update a ReplicaSet's revision");
                            self.queue.add_after(ObjectKey::of(d), Duration::from_millis(500));
                            return None;
                        }
                    }
                }
            }
            None => {
                let collisions = d.pointer("/status/collisionCount").and_then(Value::as_i64);
                let hash = rollout::template_hash(d.pointer("/spec/template").unwrap_or(&Value::Null), collisions);
                let rs = rollout::new_replica_set(d, &hash, initial, wanted, surge);
                match self.api.objects.create(&Target::collection(&self.api.replicasets, namespace), rs, &mut ctx).await
                {
                    Ok(created) => {
                        if initial > 0 {
                            self.event(
                                d,
                                format!("Scaled up replica set {} from 0 to {initial}", meta::name(&created)),
                            );
                        }
                        (created, true)
                    }
                    Err(status) if status.code == 409 => {
                        // A set of that name exists: ours (not seen yet), or a hash collision.
                        let name = format!("{}-{hash}", meta::name(d));
                        let ours = match self
                            .api
                            .objects
                            .get(&Target::object(&self.api.replicasets, namespace, &name))
                            .await
                        {
                            Ok(found) => {
                                crate::cache::controller_uid(&found) == Some(meta::uid(d))
                                    && found.pointer("/spec/template").is_some_and(|t| {
                                        rollout::equal_ignore_hash(
                                            t,
                                            d.pointer("/spec/template").unwrap_or(&Value::Null),
                                        )
                                    })
                            }
                            Err(_) => false,
                        };
                        if !ours {
                            let mut status = d.get("status").cloned().unwrap_or_else(|| json!({}));
                            status["collisionCount"] = (collisions.unwrap_or(0) + 1).into();
                            let _ = self.api.write_status(&self.api.deployments, d, status, &mut ctx).await;
                        }
                        self.queue.add_after(ObjectKey::of(d), Duration::from_millis(200));
                        return None;
                    }
                    Err(status) => {
                        tracing::debug!(deployment = meta::name(d), error = %status.message, "cannot create a ReplicaSet");
                        self.queue.add_after(ObjectKey::of(d), Duration::from_secs(1));
                        return None;
                    }
                }
            }
        };
        let revision = rollout::revision(&rs).to_string();
        if meta::annotations(d).get(REVISION) != Some(&revision) {
            let body = json!({"metadata": {"annotations": {REVISION: revision}}});
            if let Err(status) =
                self.api.merge_patch(&self.api.deployments, namespace, meta::name(d), &body, &mut ctx).await
            {
                tracing::debug!(deployment = meta::name(d), error = %status.message, "cannot record the revision");
            }
        }
        Some((rs, created))
    }

    /// Sets a ReplicaSet's size and its replica annotations; true when the size changed.
    async fn scale_replica_set(&self, d: &Value, rs: &mut Value, size: i64, surge: i64) -> bool {
        let current = rollout::spec_replicas(rs);
        let replicas = rollout::spec_replicas(d);
        let desired = replicas.to_string();
        let max = (replicas + surge).to_string();
        let annotations = meta::annotations(rs);
        if current == size
            && annotations.get(DESIRED_REPLICAS) == Some(&desired)
            && annotations.get(MAX_REPLICAS) == Some(&max)
        {
            return false;
        }
        let body = json!({"metadata": {"annotations": {DESIRED_REPLICAS: desired, MAX_REPLICAS: max}}, "spec": {"replicas": size}});
        let mut ctx = api::controller(COMPONENT);
        match self.api.merge_patch(&self.api.replicasets, meta::namespace(rs), meta::name(rs), &body, &mut ctx).await {
            Ok(patched) => {
                *rs = patched;
                if current != size {
                    let direction = if size > current { "up" } else { "down" };
                    self.event(
                        d,
                        format!("Scaled {direction} replica set {} from {current} to {size}", meta::name(rs)),
                    );
                }
                current != size
            }
            Err(status) => {
                tracing::debug!(replicaset = meta::name(rs), error = %status.message, "cannot scale a ReplicaSet");
                self.queue.add_after(ObjectKey::of(d), Duration::from_millis(500));
                false
            }
        }
    }

    /// A replica change without a template change (or any change of a paused Deployment).
    async fn scale(&self, d: &Value, new: Option<&mut Value>, old: &mut [Value], surge: i64) {
        let replicas = rollout::spec_replicas(d);
        let new_name = new.as_ref().map(|rs| meta::name(rs).to_string());
        let mut all: Vec<&mut Value> = old.iter_mut().collect();
        if let Some(new) = new {
            all.push(new);
        }
        let active = all.iter().filter(|rs| rollout::spec_replicas(rs) > 0).count();
        if active <= 1 {
            // The only active set, or the newest one, takes the whole size.
            let target = match all.iter().position(|rs| rollout::spec_replicas(rs) > 0) {
                Some(i) => Some(i),
                None => {
                    all.iter().position(|rs| Some(meta::name(rs).to_string()) == new_name).or(all.len().checked_sub(1))
                }
            };
            if let Some(i) = target {
                self.scale_replica_set(d, all[i], replicas, surge).await;
            }
            return;
        }
        let saturated = all.iter().any(|rs| {
            Some(meta::name(rs).to_string()) == new_name
                && rollout::spec_replicas(rs) == replicas
                && ReplicaSetView::of(rs).available >= replicas
        });
        if saturated {
            for rs in all.into_iter().filter(|rs| Some(meta::name(rs).to_string()) != new_name) {
                self.scale_replica_set(d, rs, 0, surge).await;
            }
            return;
        }
        let allowed = if replicas > 0 { replicas + surge } else { 0 };
        let views: Vec<ReplicaSetView> = all.iter().map(|rs| ReplicaSetView::of(rs)).collect();
        let sizes = rollout::proportional(allowed, &views);
        for (rs, view) in all.into_iter().zip(views) {
            let size = sizes.iter().find(|(name, _)| *name == view.name).map_or(view.replicas, |(_, s)| *s);
            if view.replicas > 0 || size > 0 {
                self.scale_replica_set(d, rs, size, surge).await;
            }
        }
    }

    /// Deletes old ReplicaSets beyond `revisionHistoryLimit` that have nothing left.
    async fn cleanup(&self, d: &Value, old: &[Value]) {
        let limit = d.pointer("/spec/revisionHistoryLimit").and_then(Value::as_i64).unwrap_or(10);
        let mut alive: Vec<&Value> = old.iter().filter(|rs| meta::deletion_timestamp(rs).is_none()).collect();
        let excess = alive.len() as i64 - limit;
        if excess <= 0 {
            return;
        }
        alive.sort_by_key(|rs| rollout::revision(rs));
        let mut ctx = api::controller(COMPONENT);
        for rs in alive.into_iter().take(excess as usize) {
            let idle = rollout::spec_replicas(rs) == 0
                && rs.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0) == 0
                && rs.pointer("/status/observedGeneration").and_then(Value::as_i64)
                    >= rs.pointer("/metadata/generation").and_then(Value::as_i64);
            if idle {
                let _ = self.api.delete(&self.api.replicasets, rs, None, &mut ctx).await;
            }
        }
    }

    /// Writes the Deployment's status if it changed; returns it.
    async fn sync_status(&self, d: &Arc<Value>, new: Option<&Value>, old: &[Value], created_new: bool) -> Value {
        let new_view = new.map(ReplicaSetView::of);
        let all: Vec<ReplicaSetView> = old.iter().map(ReplicaSetView::of).chain(new_view.clone()).collect();
        let now = Utc::now();
        let status = rollout::deployment_status(
            d,
            &rollout::StatusInput { new: new_view.as_ref(), all: &all, created_new, now },
        );
        if d.get("status") != Some(&status)
            && let Err(err) =
                self.api.write_status(&self.api.deployments, d, status.clone(), &mut api::controller(COMPONENT)).await
        {
            tracing::debug!(deployment = meta::name(d), error = %err.message, "cannot update a Deployment status");
            self.queue.add_after(ObjectKey::of(d), Duration::from_millis(200));
        }
        if !rollout::complete(d, &status)
            && let Some(deadline) = d.pointer("/spec/progressDeadlineSeconds").and_then(Value::as_i64)
        {
            let key = ObjectKey::of(d);
            let first = self.deadlines.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key.clone());
            if first {
                let (queue, deadlines) = (Arc::clone(&self.queue), Arc::clone(&self.deadlines));
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_secs(deadline.max(0) as u64 + 1)).await;
                    deadlines.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&key);
                    queue.add(key);
                });
            }
        }
        status
    }
}
