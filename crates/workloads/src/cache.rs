//! The informer every controller of a cluster reads from: the pods, nodes, replica sets,
//! deployments and services of the cluster in memory, kept current from the cluster's watch hub,
//! with an index of dependents by their controller's uid. Controllers register handlers that
//! turn each change into keys on their work queues; they never list the store in their loops.
//!
//! It lists each kind once, then applies the hub's changes after each list's revision. A watcher
//! that fell behind (or a compaction) starts over with a fresh list, reporting the difference as
//! changes, as client-go's reflector does.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use kube_api::storage::watch::HubSignal;
use kube_api::{Objects, Target};
use kube_core::meta;
use kube_core::params::ListOptions;
use serde_json::Value;
use tokio::sync::{broadcast, watch};

use crate::api::Api;

/// The kinds the controllers watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Pod,
    Node,
    ReplicaSet,
    Deployment,
    Service,
}

const KINDS: [Kind; 5] = [Kind::Pod, Kind::Node, Kind::ReplicaSet, Kind::Deployment, Kind::Service];

impl Kind {
    fn index(self) -> usize {
        self as usize
    }

    /// The kind stored under `<group>/<resource>` in the registry.
    fn from_storage(group: &str, resource: &str) -> Option<Kind> {
        Some(match (group, resource) {
            ("core", "pods") => Kind::Pod,
            ("core", "nodes") => Kind::Node,
            ("core", "services") => Kind::Service,
            ("apps", "replicasets") => Kind::ReplicaSet,
            ("apps", "deployments") => Kind::Deployment,
            _ => return None,
        })
    }
}

/// A namespaced (or, with an empty namespace, cluster-scoped) object's name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ObjectKey {
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub(crate) fn new(namespace: &str, name: &str) -> Self {
        Self { namespace: namespace.to_string(), name: name.to_string() }
    }

    pub(crate) fn of(object: &Value) -> Self {
        Self::new(meta::namespace(object), meta::name(object))
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() { f.write_str(&self.name) } else { write!(f, "{}/{}", self.namespace, self.name) }
    }
}

/// One change the cache applied: `old` absent for an add, `new` absent for a delete.
pub(crate) struct Change<'a> {
    pub kind: Kind,
    pub old: Option<&'a Arc<Value>>,
    pub new: Option<&'a Arc<Value>>,
}

impl Change<'_> {
    /// The object as it is now, or as it was last for a delete.
    pub(crate) fn object(&self) -> &Value {
        self.new.or(self.old).expect("a change has an object")
    }
}

type Handler = Arc<dyn Fn(&Change<'_>) + Send + Sync>;

/// The uid of an object's controller (its `ownerReferences` entry with `controller: true`).
pub(crate) fn controller_uid(object: &Value) -> Option<&str> {
    object.pointer("/metadata/ownerReferences")?.as_array()?.iter().find_map(|r| {
        (r.get("controller").and_then(Value::as_bool) == Some(true)).then(|| r.get("uid")?.as_str()).flatten()
    })
}

pub(crate) struct Cache {
    objects: [RwLock<HashMap<ObjectKey, Arc<Value>>>; 5],
    /// Controller uid → the keys of its dependents, per kind.
    dependents: RwLock<HashMap<(Kind, String), HashSet<ObjectKey>>>,
    handlers: RwLock<Vec<Handler>>,
    synced: watch::Sender<bool>,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Cache {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            objects: Default::default(),
            dependents: RwLock::new(HashMap::new()),
            handlers: RwLock::new(Vec::new()),
            synced: watch::Sender::new(false),
        })
    }

    /// Calls `handler` for every change from now on (register before [`Cache::run`]).
    pub(crate) fn on_change(&self, handler: impl Fn(&Change<'_>) + Send + Sync + 'static) {
        write(&self.handlers).push(Arc::new(handler));
    }

    pub(crate) fn get(&self, kind: Kind, key: &ObjectKey) -> Option<Arc<Value>> {
        read(&self.objects[kind.index()]).get(key).cloned()
    }

    pub(crate) fn list(&self, kind: Kind) -> Vec<Arc<Value>> {
        read(&self.objects[kind.index()]).values().cloned().collect()
    }

    /// The objects of `kind` whose controller has uid `owner`.
    pub(crate) fn dependents(&self, kind: Kind, owner: &str) -> Vec<Arc<Value>> {
        let keys: Vec<ObjectKey> = read(&self.dependents)
            .get(&(kind, owner.to_string()))
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default();
        let objects = read(&self.objects[kind.index()]);
        keys.iter().filter_map(|key| objects.get(key)).filter(|o| controller_uid(o) == Some(owner)).cloned().collect()
    }

    /// Waits until the first list of every kind is in.
    pub(crate) async fn wait_synced(&self) {
        let mut synced = self.synced.subscribe();
        let _ = synced.wait_for(|s| *s).await;
    }

    /// Applies one object's new state (`None`: deleted) and tells the handlers.
    fn apply(&self, kind: Kind, key: ObjectKey, new: Option<Arc<Value>>) {
        let old = {
            let mut objects = write(&self.objects[kind.index()]);
            match &new {
                Some(object) => objects.insert(key.clone(), object.clone()),
                None => objects.remove(&key),
            }
        };
        if old.is_none() && new.is_none() {
            return;
        }
        let old_owner = old.as_deref().and_then(controller_uid);
        let new_owner = new.as_deref().and_then(controller_uid);
        if old_owner != new_owner {
            let mut dependents = write(&self.dependents);
            if let Some(owner) = old_owner {
                let entry = (kind, owner.to_string());
                if let Some(keys) = dependents.get_mut(&entry) {
                    keys.remove(&key);
                    if keys.is_empty() {
                        dependents.remove(&entry);
                    }
                }
            }
            if let Some(owner) = new_owner {
                dependents.entry((kind, owner.to_string())).or_default().insert(key.clone());
            }
        }
        let change = Change { kind, old: old.as_ref(), new: new.as_ref() };
        let handlers = read(&self.handlers).clone();
        for handler in handlers {
            handler(&change);
        }
    }

    /// Replaces every object of `kind` with a fresh list, reporting the differences.
    fn replace(&self, kind: Kind, items: Vec<Value>) {
        let mut fresh: HashMap<ObjectKey, Value> = items.into_iter().map(|o| (ObjectKey::of(&o), o)).collect();
        let known: Vec<ObjectKey> = read(&self.objects[kind.index()]).keys().cloned().collect();
        for key in known {
            match fresh.remove(&key) {
                Some(object) => {
                    let unchanged = self
                        .get(kind, &key)
                        .is_some_and(|old| meta::resource_version(&old) == meta::resource_version(&object));
                    if !unchanged {
                        self.apply(kind, key, Some(Arc::new(object)));
                    }
                }
                None => self.apply(kind, key, None),
            }
        }
        for (key, object) in fresh {
            self.apply(kind, key, Some(Arc::new(object)));
        }
    }

    /// Follows the cluster until `api`'s cluster goes away.
    pub(crate) async fn run(self: Arc<Self>, api: Arc<Api>) {
        let objects: &Arc<Objects> = &api.objects;
        let prefix = format!("/clusters/{}/registry/", objects.cluster());
        'relist: loop {
            let Ok(mut subscription) = objects.watch_hub().subscribe(None) else { return };
            let mut listed = [0i64; 5];
            for kind in KINDS {
                match objects.list(&Target::collection(api.def(kind), ""), &ListOptions::default()).await {
                    Ok(list) => {
                        listed[kind.index()] = list.resource_version;
                        self.replace(kind, list.items);
                    }
                    Err(status) => {
                        tracing::warn!(cluster = %objects.cluster(), ?kind, error = %status.message, "cannot list for the workload controllers; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        continue 'relist;
                    }
                }
            }
            self.synced.send_replace(true);
            loop {
                match subscription.live.recv().await {
                    Ok(HubSignal::Event(event)) => {
                        let Some(rest) = event.key.strip_prefix(&prefix) else { continue };
                        let mut parts = rest.split('/');
                        let (Some(group), Some(resource)) = (parts.next(), parts.next()) else { continue };
                        let Some(kind) = Kind::from_storage(group, resource) else { continue };
                        if event.revision <= listed[kind.index()] {
                            continue;
                        }
                        let Some(object) = event.object() else { continue };
                        let key = ObjectKey::of(object);
                        let new = if event.deleted { None } else { Some(Arc::new(object.clone())) };
                        self.apply(kind, key, new);
                    }
                    Ok(HubSignal::Reset) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    }
}
