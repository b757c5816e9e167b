//! The controllers that keep a cluster's objects consistent, driven by its watch hub:
//! - namespaces: every namespace gets its `default` ServiceAccount and `kube-root-ca.crt`
//!   ConfigMap; a deleted namespace is Terminating until its contents are deleted, then goes;
//! - garbage collection by `ownerReferences`: dependents of a deleted owner are deleted
//!   (background), deleted first (`foregroundDeletion`) or orphaned (`orphan`);
//! - CustomResourceDefinitions: their resources are served while they exist (also when another
//!   replica wrote them) and deleted with them;
//! - pods whose grace period ended on a node that does not exist are removed (PodGC).
//!
//! Workloads (deployments, replica sets, simulated nodes and pods) are the simulated kubelet's.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use kube_core::params::{DeleteOptions, ListOptions, Propagation};
use kube_core::{Status, meta};
use serde_json::{Value, json};
use store::Revision;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::registry::kinds::{APIEXTENSIONS_GROUP, CUSTOM_RESOURCE_DEFINITION, NAMESPACE, POD};
use crate::registry::{Registry, ResourceDef, Storage, crd};
use crate::storage::object_store;
use crate::storage::objects::{Ctx, Objects, Target, Write, WriteObserver};
use crate::storage::watch::HubSignal;

/// Register the custom resources of every CRD in the store (at start).
pub async fn load_custom_resources(objects: &Objects) -> Result<(), Status> {
    let Some(def) = objects.resource(APIEXTENSIONS_GROUP, "v1", "customresourcedefinitions") else { return Ok(()) };
    let list = objects.list(&Target::collection(&def, ""), &ListOptions::default()).await?;
    for crd in list.items {
        objects.registry().set_custom(meta::name(&crd), crd::resources_for(&crd));
    }
    Ok(())
}

/// A CRD written through this server serves its resources (or stops serving them) before the
/// writer hears back; one written through another replica does when the hub brings it.
pub struct CustomResources {
    registry: Arc<Registry>,
}

impl CustomResources {
    pub fn new(registry: Arc<Registry>) -> Self {
        CustomResources { registry }
    }
}

#[async_trait]
impl WriteObserver for CustomResources {
    async fn stored(&self, def: &ResourceDef, object: &Value, _revision: Revision, deleted: bool) {
        if def.is(CUSTOM_RESOURCE_DEFINITION) {
            let resources = if deleted { vec![] } else { crd::resources_for(object) };
            self.registry.set_custom(meta::name(object), resources);
        }
    }
}

/// What the controllers act on: the object service, and the CA bundle every namespace's
/// `kube-root-ca.crt` carries.
struct Controllers {
    objects: Arc<Objects>,
    ca_pem: String,
}

/// Start the controllers; they stop when `stop` turns true.
pub fn spawn(objects: Arc<Objects>, ca_pem: String, mut stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let cluster = Arc::new(Controllers { objects, ca_pem });
    let task = tokio::spawn(async move {
        tokio::select! {
            _ = run(cluster) => {}
            _ = stop.wait_for(|s| *s) => {}
        }
    });
    vec![task]
}

/// Where an object lives, parsed back from its key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ObjectRef {
    def: ObjectDef,
    namespace: String,
    name: String,
}

impl ObjectRef {
    /// The object as a target of the object service.
    fn target<'a>(&'a self, def: &'a ResourceDef) -> Target<'a> {
        Target::object(def, &self.namespace, &self.name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ObjectDef {
    group: String,
    version: String,
    plural: String,
}

fn def_of(cluster: &Controllers, r: &ObjectDef) -> Option<Arc<ResourceDef>> {
    cluster.objects.resource(&r.group, &r.version, &r.plural)
}

/// The controllers' shared state.
#[derive(Default)]
struct State {
    /// owner uid → dependents.
    dependents: HashMap<String, HashSet<ObjectRef>>,
    /// dependent → its owners' uids.
    owners: HashMap<ObjectRef, Vec<String>>,
    /// Reconciliations running now (namespace names, owner uids, pod uids).
    busy: HashSet<String>,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Parse `<group>/<resource>/[<ns>/]<name>` under the cluster prefix into a reference.
fn object_ref(cluster: &Controllers, key: &str) -> Option<(ObjectRef, Arc<ResourceDef>)> {
    let rest = key.strip_prefix(cluster.objects.store().prefix())?;
    let mut parts = rest.splitn(3, '/');
    let group = parts.next()?;
    let resource = parts.next()?;
    let tail = parts.next()?;
    let group = if group == "core" { "" } else { group };
    let snapshot = cluster.objects.registry().snapshot();
    let def = snapshot
        .stored()
        .into_iter()
        .find(|d| matches!(&d.storage, Storage::Stored { group: g, resource: r } if (g == group || (g == "core" && group.is_empty())) && r == resource))?;
    let (namespace, name) = if def.namespaced { tail.split_once('/')? } else { ("", tail) };
    let r = ObjectRef {
        def: ObjectDef { group: def.group.clone(), version: def.version.clone(), plural: def.plural.clone() },
        namespace: namespace.to_string(),
        name: name.to_string(),
    };
    Some((r, def))
}

fn index(state: &Shared, r: &ObjectRef, object: Option<&Value>) {
    let mut state = lock(state);
    if let Some(old) = state.owners.remove(r) {
        for uid in old {
            if let Some(set) = state.dependents.get_mut(&uid) {
                set.remove(r);
                if set.is_empty() {
                    state.dependents.remove(&uid);
                }
            }
        }
    }
    let Some(object) = object else { return };
    let uids: Vec<String> =
        meta::owner_references(object).into_iter().map(|o| o.uid).filter(|u| !u.is_empty()).collect();
    if uids.is_empty() {
        return;
    }
    for uid in &uids {
        state.dependents.entry(uid.clone()).or_default().insert(r.clone());
    }
    state.owners.insert(r.clone(), uids);
}

async fn run(cluster: Arc<Controllers>) {
    let state: Shared = Arc::default();
    let Ok(mut subscription) = cluster.objects.watch_hub().subscribe(None) else { return };
    // Initial sync: every object once.
    let store = cluster.objects.store();
    let Ok((kvs, _, revision)) = store.list(store.prefix(), None, 0, 0).await else { return };
    let mut uids = HashSet::new();
    let mut to_check = Vec::new();
    for kv in kvs {
        let Some((r, def)) = object_ref(&cluster, &kv.key) else { continue };
        let Ok(object) = object_store::decode(&kv.value, kv.mod_revision) else { continue };
        uids.insert(meta::uid(&object).to_string());
        index(&state, &r, Some(&object));
        to_check.push((r, def, object));
    }
    for (r, def, object) in &to_check {
        react(&cluster, &state, r, def, Some(object), false);
    }
    // Owners that went away while nobody watched.
    let orphaned: Vec<String> = lock(&state).dependents.keys().filter(|u| !uids.contains(*u)).cloned().collect();
    for uid in orphaned {
        spawn_owner_gone(&cluster, &state, uid);
    }
    drop(to_check);
    drop(uids);
    loop {
        match subscription.live.recv().await {
            Ok(HubSignal::Event(event)) => {
                if event.revision <= revision {
                    continue;
                }
                let Some((r, def)) = object_ref(&cluster, &event.key) else { continue };
                if event.deleted {
                    let uid = event.object().map(|o| meta::uid(o).to_string()).unwrap_or_default();
                    index(&state, &r, None);
                    if def.is(CUSTOM_RESOURCE_DEFINITION) {
                        cluster.objects.registry().set_custom(&r.name, vec![]);
                    }
                    if !uid.is_empty() && lock(&state).dependents.contains_key(&uid) {
                        spawn_owner_gone(&cluster, &state, uid);
                    }
                } else if let Some(object) = event.object() {
                    index(&state, &r, Some(object));
                    react(&cluster, &state, &r, &def, Some(object), !event.existed_before());
                }
            }
            Ok(HubSignal::Reset) | Err(broadcast::error::RecvError::Lagged(_)) => {
                // Start over from a fresh list.
                return Box::pin(run(cluster)).await;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// What an added or changed object asks of the controllers.
fn react(
    cluster: &Arc<Controllers>,
    state: &Shared,
    r: &ObjectRef,
    def: &Arc<ResourceDef>,
    object: Option<&Value>,
    created: bool,
) {
    let Some(object) = object else { return };
    let deleting = meta::deletion_timestamp(object).is_some();
    if def.is(NAMESPACE) {
        if deleting {
            spawn_once(state, format!("ns/{}", r.name), namespace_cleanup(cluster.clone(), r.name.clone()));
        } else if created || object.pointer("/status/phase").and_then(Value::as_str) == Some("Active") {
            spawn_once(state, format!("ns-setup/{}", r.name), namespace_setup(cluster.clone(), r.name.clone()));
        }
    }
    if def.is(CUSTOM_RESOURCE_DEFINITION) {
        cluster.objects.registry().set_custom(&r.name, crd::resources_for(object));
        if deleting && meta::finalizers(object).iter().any(|f| f == crd::CLEANUP_FINALIZER) {
            spawn_once(state, format!("crd/{}", r.name), crd_cleanup(cluster.clone(), object.clone()));
        }
    }
    if def.is(POD)
        && deleting
        && !object.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default().is_empty()
    {
        spawn_once(state, format!("pod/{}", meta::uid(object)), pod_gc(cluster.clone(), r.clone(), object.clone()));
    }
    if deleting {
        let finalizers = meta::finalizers(object);
        let uid = meta::uid(object).to_string();
        if finalizers.iter().any(|f| f == "foregroundDeletion") {
            spawn_once(state, format!("fg/{uid}"), foreground(cluster.clone(), state.clone(), r.clone(), uid.clone()));
        }
        if finalizers.iter().any(|f| f == "orphan") {
            spawn_once(state, format!("orphan/{uid}"), orphan(cluster.clone(), state.clone(), r.clone(), uid));
        }
    }
}

/// Run `task` unless one with the same key is running.
fn spawn_once(state: &Shared, key: String, task: impl std::future::Future<Output = ()> + Send + 'static) {
    if !lock(state).busy.insert(key.clone()) {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        task.await;
        lock(&state).busy.remove(&key);
    });
}

fn spawn_owner_gone(cluster: &Arc<Controllers>, state: &Shared, uid: String) {
    spawn_once(state, format!("gc/{uid}"), owner_gone(cluster.clone(), state.clone(), uid));
}

fn dependents_of(state: &Shared, uid: &str) -> Vec<ObjectRef> {
    lock(state).dependents.get(uid).map(|s| s.iter().cloned().collect()).unwrap_or_default()
}

/// Whether an owner reference still points at a live object.
async fn owner_alive(cluster: &Controllers, dependent: &ObjectRef, owner: &meta::OwnerReference) -> bool {
    let (group, _) = meta::split_api_version(&owner.api_version);
    let Some(def) = cluster.objects.resource_for_kind(group, &owner.kind) else { return false };
    match cluster.objects.get(&Target::object(&def, &dependent.namespace, &owner.name)).await {
        Ok(object) => meta::uid(&object) == owner.uid,
        Err(_) => false,
    }
}

/// An owner is gone: delete its dependents that have no other live owner, and drop the dangling
/// reference from the others.
async fn owner_gone(cluster: Arc<Controllers>, state: Shared, uid: String) {
    let mut ctx = Ctx::system("generic-garbage-collector");
    for dependent in dependents_of(&state, &uid) {
        let Some(def) = def_of(&cluster, &dependent.def) else { continue };
        let Ok(object) = cluster.objects.get(&dependent.target(&def)).await else { continue };
        let mut others_alive = false;
        for owner in meta::owner_references(&object) {
            if owner.uid != uid && owner_alive(&cluster, &dependent, &owner).await {
                others_alive = true;
            }
        }
        if others_alive {
            remove_owner_reference(&cluster, &def, &dependent, &uid, &mut ctx).await;
        } else {
            let options = DeleteOptions {
                propagation_policy: Some(Propagation::Background),
                precondition_uid: Some(meta::uid(&object).to_string()),
                ..Default::default()
            };
            let _ = cluster.objects.delete(&dependent.target(&def), &options, &mut ctx).await;
        }
    }
}

async fn remove_owner_reference(
    cluster: &Controllers,
    def: &ResourceDef,
    dependent: &ObjectRef,
    uid: &str,
    ctx: &mut Ctx,
) {
    let manager = ctx.manager();
    let _ = cluster
        .objects
        .guaranteed_update(&dependent.target(def), ctx, |current| {
            let Some(current) = current else { return Ok(None) };
            let mut new = current.clone();
            if let Some(refs) = new.pointer_mut("/metadata/ownerReferences").and_then(Value::as_array_mut) {
                refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
                if refs.is_empty() {
                    new["metadata"].as_object_mut().map(|m| m.remove("ownerReferences"));
                }
            }
            Ok(Some(Write::Update { object: new, manager: manager.clone(), conditional: false }))
        })
        .await;
}

async fn remove_finalizer(
    cluster: &Controllers,
    def: &ResourceDef,
    r: &ObjectRef,
    finalizer: &str,
    ctx: &mut Ctx,
) -> Result<(), Status> {
    let manager = ctx.manager();
    cluster
        .objects
        .guaranteed_update(&r.target(def), ctx, |current| {
            let Some(current) = current else { return Ok(None) };
            let mut new = current.clone();
            if let Some(list) = new.pointer_mut("/metadata/finalizers").and_then(Value::as_array_mut) {
                list.retain(|f| f != finalizer);
                if list.is_empty() {
                    new["metadata"].as_object_mut().map(|m| m.remove("finalizers"));
                }
            }
            Ok(Some(Write::Update { object: new, manager: manager.clone(), conditional: false }))
        })
        .await
        .map(|_| ())
}

/// Foreground deletion: delete the dependents (foreground too), then let the owner go.
async fn foreground(cluster: Arc<Controllers>, state: Shared, owner: ObjectRef, uid: String) {
    let mut ctx = Ctx::system("generic-garbage-collector");
    let Some(owner_def) = def_of(&cluster, &owner.def) else { return };
    for _ in 0..600 {
        let dependents = dependents_of(&state, &uid);
        if dependents.is_empty() {
            let _ = remove_finalizer(&cluster, &owner_def, &owner, "foregroundDeletion", &mut ctx).await;
            return;
        }
        for dependent in dependents {
            let Some(def) = def_of(&cluster, &dependent.def) else { continue };
            let options = DeleteOptions { propagation_policy: Some(Propagation::Foreground), ..Default::default() };
            match cluster.objects.delete(&dependent.target(&def), &options, &mut ctx).await {
                Err(status) if status.code == 404 => index(&state, &dependent, None),
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Orphan deletion: drop the owner reference from every dependent, then let the owner go.
async fn orphan(cluster: Arc<Controllers>, state: Shared, owner: ObjectRef, uid: String) {
    let mut ctx = Ctx::system("generic-garbage-collector");
    let Some(owner_def) = def_of(&cluster, &owner.def) else { return };
    for dependent in dependents_of(&state, &uid) {
        if let Some(def) = def_of(&cluster, &dependent.def) {
            remove_owner_reference(&cluster, &def, &dependent, &uid, &mut ctx).await;
        }
    }
    let _ = remove_finalizer(&cluster, &owner_def, &owner, "orphan", &mut ctx).await;
}

const ROOT_CA_DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// A new namespace's `default` ServiceAccount and `kube-root-ca.crt` ConfigMap.
async fn namespace_setup(cluster: Arc<Controllers>, namespace: String) {
    let _ = cluster
        .objects
        .ensure("", "ServiceAccount", json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": namespace}}))
        .await;
    let _ = cluster
        .objects
        .ensure(
            "",
            "ConfigMap",
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "kube-root-ca.crt", "namespace": namespace, "annotations": {"kubernetes.io/description": ROOT_CA_DESCRIPTION}},
                "data": {"ca.crt": cluster.ca_pem}}),
        )
        .await;
}

/// Delete everything in a Terminating namespace, then the namespace.
async fn namespace_cleanup(cluster: Arc<Controllers>, namespace: String) {
    let mut ctx = Ctx::system("namespace-controller");
    let Some(ns_def) = cluster.objects.resource("", "v1", "namespaces") else { return };
    for _ in 0..1200 {
        let mut remaining = 0;
        for def in cluster.objects.registry().snapshot().stored() {
            if !def.namespaced {
                continue;
            }
            let options = DeleteOptions { propagation_policy: Some(Propagation::Background), ..Default::default() };
            let collection = Target::collection(&def, &namespace);
            if let Ok(list) =
                cluster.objects.delete_collection(&collection, &ListOptions::default(), &options, &mut ctx).await
            {
                remaining += list.items.len();
            }
        }
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Finalize: the "kubernetes" finalizer goes, then the namespace.
    let manager = ctx.manager();
    let finalize = Target::object(&ns_def, "", &namespace).subresource("finalize");
    let finalized = cluster
        .objects
        .guaranteed_update(&finalize, &mut ctx, |current| {
            let Some(current) = current else { return Ok(None) };
            let mut new = current.clone();
            if let Some(list) = new.pointer_mut("/spec/finalizers").and_then(Value::as_array_mut) {
                list.retain(|f| f != "kubernetes");
            }
            Ok(Some(Write::Update { object: new, manager: manager.clone(), conditional: false }))
        })
        .await;
    if finalized.is_ok() {
        let _ =
            cluster.objects.delete(&Target::object(&ns_def, "", &namespace), &DeleteOptions::default(), &mut ctx).await;
    }
}

/// A deleted CRD takes its custom resources with it.
async fn crd_cleanup(cluster: Arc<Controllers>, crd_object: Value) {
    let group = crd_object.pointer("/spec/group").and_then(Value::as_str).unwrap_or_default();
    let plural = crd_object.pointer("/spec/names/plural").and_then(Value::as_str).unwrap_or_default();
    if group.is_empty() || plural.is_empty() {
        return;
    }
    let prefix = format!("{}{group}/{plural}/", cluster.objects.store().prefix());
    let txn = ::store::Txn {
        compare: vec![],
        success: vec![::store::Op::Delete { key: prefix, range: ::store::KeyRange::Prefix }],
        failure: vec![],
    };
    if cluster.objects.store().txn(txn).await.is_err() {
        return;
    }
    let Some(def) = cluster.objects.resource(APIEXTENSIONS_GROUP, "v1", "customresourcedefinitions") else { return };
    let r = ObjectRef {
        def: ObjectDef { group: def.group.clone(), version: def.version.clone(), plural: def.plural.clone() },
        namespace: String::new(),
        name: meta::name(&crd_object).to_string(),
    };
    let mut ctx = Ctx::system("apiextensions-controller");
    let _ = remove_finalizer(&cluster, &def, &r, crd::CLEANUP_FINALIZER, &mut ctx).await;
}

/// A pod whose grace period ended on a node that does not exist is deleted (PodGC).
async fn pod_gc(cluster: Arc<Controllers>, r: ObjectRef, pod: Value) {
    let Some(at) = meta::deletion_timestamp(&pod) else { return };
    let wait = (at - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait).await;
    let node = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default();
    if let Some(nodes) = cluster.objects.resource("", "v1", "nodes")
        && cluster.objects.get(&Target::object(&nodes, "", node)).await.is_ok()
    {
        return;
    }
    let Some(def) = def_of(&cluster, &r.def) else { return };
    let options = DeleteOptions {
        grace_period_seconds: Some(0),
        precondition_uid: Some(meta::uid(&pod).to_string()),
        ..Default::default()
    };
    let _ = cluster.objects.delete(&r.target(&def), &options, &mut Ctx::system("pod-garbage-collector")).await;
}
