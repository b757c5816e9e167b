//! The object service: every read and write of a cluster's objects, independent of HTTP. The API
//! handlers call it for users; controllers, the bootstrap and other crates call it as system
//! users. It owns the store adapter, the resource registry, the admission chain, the watch hub
//! and the write observers, and it reaches back into nothing.
//!
//! **Where a write goes after the handler** (`create`, `update`, `patch` in [`write`], `delete` in
//! [`delete`]), as kube-apiserver's generic registry store does it:
//! 1. the body's `apiVersion`/`kind` are checked against the resource and converted to the
//!    stored version ([`check_type`], `storage::convert`); the namespace is checked;
//! 2. metadata bookkeeping (uid, creationTimestamp, generation, generateName) and the kind's
//!    [`Strategy`](crate::registry::Strategy): defaults, prepare, field pruning against the schema
//!    (`storage::fields`, schemas from the registry), validation;
//! 3. the admission chain ([`crate::storage::admission`]): every hook's `mutate`, then every
//!    hook's `validate` (NamespaceLifecycle, service allocation, RBAC escalation, aws-auth, the
//!    workloads' hooks);
//! 4. managed fields (`kube-patch`), kube-apiserver's metadata order;
//! 5. the store: one transaction comparing the key's mod revision (0 for a create), retried on a
//!    lost race unless the write was conditional (`storage::store`);
//! 6. the write observers ([`WriteObserver`]: a CRD's resources are served, an RBAC change is in
//!    the index) before the writer hears back; the watch hub sees the change from the store's
//!    watch like any other replica's write.

mod checks;
mod delete;
mod write;

use std::sync::Arc;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use kube_core::params::{ContinueToken, FieldValidation, ListOptions, ResourceVersionMatch};
use kube_core::{Status, meta};
use serde_json::Value;
use store::Revision;

use crate::registry::{Registry, ResourceDef};
use crate::storage::admission::AdmissionHook;
use crate::storage::convert;
use crate::storage::object_store::{self, ObjectStore, Stored};
use crate::storage::watch::{Subscription, WatchHub};

pub use checks::{check_type, patch_schema, patch_status};

/// What a request acts on: a resource, a namespace (empty: cluster-scoped, or every namespace
/// for a collection), an object's name (empty: the collection) and a subresource (empty: the
/// object itself).
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub def: &'a ResourceDef,
    pub namespace: &'a str,
    pub name: &'a str,
    pub subresource: &'a str,
}

impl<'a> Target<'a> {
    /// One object (the namespace is ignored for a cluster-scoped resource).
    pub fn object(def: &'a ResourceDef, namespace: &'a str, name: &'a str) -> Self {
        let namespace = if def.namespaced { namespace } else { "" };
        Target { def, namespace, name, subresource: "" }
    }

    /// A collection: one namespace, or every namespace when `namespace` is empty.
    pub fn collection(def: &'a ResourceDef, namespace: &'a str) -> Self {
        Target::object(def, namespace, "")
    }

    /// A subresource of the object (`status`, `scale`, `binding`, ...).
    pub fn subresource(self, subresource: &'a str) -> Self {
        Target { subresource, ..self }
    }
}

/// Something that must happen after a write is stored and before the writer hears back
/// (registered at start: a CRD's resources are served at once, an RBAC change is in the index).
#[async_trait]
pub trait WriteObserver: Send + Sync {
    /// `object` was stored at `revision` (`deleted`: it was deleted; `object` is its last state).
    async fn stored(&self, def: &ResourceDef, object: &Value, revision: Revision, deleted: bool);
}

/// A watch as it starts: the objects that exist now (when the watch starts from the current
/// state) and the hub subscription that carries every later change.
pub struct Watch {
    /// The current objects passing the selectors, and the revision they were read at; `None` for
    /// a watch from a resourceVersion.
    pub initial: Option<(Vec<Value>, Revision)>,
    pub subscription: Subscription,
    /// The key prefix of the watched collection (events outside it are not this watch's).
    pub prefix: String,
}

/// How a watch starts: its events, or the error kube-apiserver sends as the watch's only event
/// (a resourceVersion older than the store's history: 410 Expired).
pub enum WatchStart {
    Events(Watch),
    Expired(Status),
}

/// Who writes, and how: the request's user, its field manager and its write options. Warnings
/// collected here are sent back as `Warning` headers.
#[derive(Clone, Debug, Default)]
pub struct Ctx {
    pub user: rbac::UserInfo,
    pub user_agent: String,
    pub dry_run: bool,
    pub field_manager: Option<String>,
    pub field_validation: FieldValidation,
    pub force: bool,
    pub warnings: Vec<String>,
}

impl Ctx {
    /// A context for the server's own controllers.
    pub fn system(component: &str) -> Ctx {
        Ctx {
            user: rbac::UserInfo {
                name: format!("system:serviceaccount:kube-system:{component}"),
                groups: vec!["system:serviceaccounts".into(), "system:authenticated".into()],
                ..Default::default()
            },
            user_agent: format!("kube-controller-manager/v1.32.0 (linux/amd64) kubernetes/{component}"),
            field_manager: Some("kube-controller-manager".into()),
            ..Default::default()
        }
    }

    pub fn manager(&self) -> String {
        kube_patch::manager_or_user_agent(self.field_manager.as_deref(), &self.user_agent)
    }
}

/// One page of a list.
#[derive(Debug, Default)]
pub struct ListResult {
    pub items: Vec<Value>,
    pub resource_version: i64,
    pub continue_token: Option<String>,
    pub remaining: Option<i64>,
}

/// A page of a list as stored.
pub(crate) struct RawList {
    pub kvs: Vec<::store::KeyValue>,
    pub resource_version: i64,
    pub continue_token: Option<String>,
    pub remaining: Option<i64>,
}

/// What a delete did.
#[derive(Debug)]
pub enum Deleted {
    /// The object is gone; this is its last state.
    Gone(Value),
    /// The object remains until its grace period ends or its finalizers are removed; this is it
    /// with its deletion timestamp.
    Pending(Value),
}

/// What a transform asks the write loop to store.
pub(crate) enum Write {
    /// A full new object (PUT, non-apply patch) recorded for `manager`.
    Update { object: Value, manager: String, conditional: bool },
    /// The result of server-side apply (managed fields already computed).
    Apply { object: Value },
}

/// A cluster's object service (see the module doc). Cheap to share (`Arc<Objects>`).
pub struct Objects {
    cluster: String,
    store: ObjectStore,
    registry: Arc<Registry>,
    hub: Arc<WatchHub>,
    admission: ArcSwap<Vec<Arc<dyn AdmissionHook>>>,
    observers: ArcSwap<Vec<Arc<dyn WriteObserver>>>,
}

/// Append to a copy-on-write chain.
fn push<T: ?Sized>(chain: &ArcSwap<Vec<Arc<T>>>, item: Arc<T>) {
    chain.rcu(|current| {
        let mut next = Vec::clone(current);
        next.push(item.clone());
        next
    });
}

impl Objects {
    pub(crate) fn new(store: ObjectStore, registry: Arc<Registry>, hub: Arc<WatchHub>, cluster: &str) -> Self {
        Objects {
            cluster: cluster.to_string(),
            store,
            registry,
            hub,
            admission: ArcSwap::from_pointee(vec![]),
            observers: ArcSwap::from_pointee(vec![]),
        }
    }

    /// The cluster's name.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// The resource served at `/api[s]/<group>/<version>/…/<plural>`.
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.registry.snapshot().get(group, version, plural).cloned()
    }

    /// The resource of a group and kind, in its preferred version.
    pub fn resource_for_kind(&self, group: &str, kind: &str) -> Option<Arc<ResourceDef>> {
        self.registry.snapshot().by_kind(group, kind).cloned()
    }

    /// Every resource served now.
    pub fn resources(&self) -> Vec<Arc<ResourceDef>> {
        self.registry.snapshot().resources.clone()
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// The hub every watch of this cluster is fed from.
    pub fn watch_hub(&self) -> &Arc<WatchHub> {
        &self.hub
    }

    /// The cluster's view of the store (its key prefix, timed operations).
    pub(crate) fn store(&self) -> &ObjectStore {
        &self.store
    }

    /// Add an admission hook at the end of the chain.
    pub fn add_admission_hook(&self, hook: Arc<dyn AdmissionHook>) {
        push(&self.admission, hook);
    }

    /// Add a write observer (after those added before).
    pub fn add_observer(&self, observer: Arc<dyn WriteObserver>) {
        push(&self.observers, observer);
    }

    /// Tell every observer about a stored write.
    async fn stored(&self, def: &ResourceDef, object: &Value, revision: Revision, deleted: bool) {
        for observer in self.observers.load().iter() {
            observer.stored(def, object, revision, deleted).await;
        }
    }

    /// Create an object unless it exists (bootstrapping).
    pub async fn ensure(&self, group: &str, kind: &str, object: Value) -> Result<(), Status> {
        let Some(def) = self.resource_for_kind(group, kind) else { return Ok(()) };
        let namespace = meta::namespace(&object).to_string();
        let mut ctx = Ctx::system("bootstrap");
        match self.create(&Target::collection(&def, &namespace), object, &mut ctx).await {
            Ok(_) => Ok(()),
            Err(status) if status.code == 409 => Ok(()),
            Err(status) => Err(status),
        }
    }

    /// Read one object.
    pub async fn get(&self, target: &Target<'_>) -> Result<Value, Status> {
        let def = target.def;
        match self.get_stored(target).await? {
            Some(stored) => Ok(convert::to_served(stored.object, &def.group, &def.version)),
            None => Err(Status::not_found(&def.group_resource(), target.name)),
        }
    }

    async fn get_stored(&self, target: &Target<'_>) -> Result<Option<Stored>, Status> {
        self.store.get(&self.store.key(target.def, target.namespace, target.name)).await
    }

    /// Check that every field label of a selector is one the kind supports.
    pub fn check_field_selector(def: &ResourceDef, options: &ListOptions) -> Result<(), Status> {
        for term in &options.field_selector.terms {
            if (def.strategy.field)(&Value::Null, &term.field).is_none() {
                return Err(Status::bad_request(format!("field label not supported: {}", term.field)));
            }
        }
        Ok(())
    }

    /// Whether `object` passes the label and field selectors of `options`.
    pub fn selects(def: &ResourceDef, options: &ListOptions, object: &Value) -> bool {
        options.label_selector.matches_object(object)
            && (options.field_selector.is_empty()
                || options.field_selector.matches(&|f| (def.strategy.field)(object, f)))
    }

    /// List a collection (one namespace, or all when `namespace` is empty), with selectors and
    /// paging.
    pub async fn list(&self, target: &Target<'_>, options: &ListOptions) -> Result<ListResult, Status> {
        let def = target.def;
        let raw = self.list_raw(target, options).await?;
        let items = raw
            .kvs
            .iter()
            .map(|kv| {
                object_store::decode(&kv.value, kv.mod_revision)
                    .map(|o| convert::to_served(o, &def.group, &def.version))
            })
            .collect::<Result<_, _>>()?;
        Ok(ListResult {
            items,
            resource_version: raw.resource_version,
            continue_token: raw.continue_token,
            remaining: raw.remaining,
        })
    }

    /// A page of a list as stored key-values (what the JSON encoder splices without decoding).
    pub(crate) async fn list_raw(&self, target: &Target<'_>, options: &ListOptions) -> Result<RawList, Status> {
        let def = target.def;
        Self::check_field_selector(def, options)?;
        let prefix = self.store.collection(def, target.namespace);
        let (mut start, mut revision) = match &options.continue_token {
            Some(token) => {
                if options.resource_version.as_deref().is_some_and(|rv| !rv.is_empty() && rv != "0") {
                    return Err(Status::bad_request("specifying resource version is not allowed when using continue"));
                }
                let token = ContinueToken::decode(token).map_err(Status::from)?;
                (Some(format!("{prefix}{}", token.start)), token.resource_version)
            }
            None => (None, 0),
        };
        if options.continue_token.is_none() {
            if let Some(rv) = options.revision().map_err(Status::from)? {
                match options.resource_version_match {
                    Some(ResourceVersionMatch::Exact) => revision = rv,
                    _ => {
                        let current = self.store.current_revision().await?;
                        if rv > current {
                            return Err(Status::timeout(format!(
                                "Too large resource version: {rv}, current: {current}"
                            )));
                        }
                    }
                }
            } else if options.resource_version_match == Some(ResourceVersionMatch::Exact) {
                return Err(Status::bad_request(
                    "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ));
            }
        }
        let limit = usize::try_from(options.limit).unwrap_or(0);
        let filtered = !options.label_selector.is_empty() || !options.field_selector.is_empty();
        let mut kept = Vec::new();
        let mut last_key: Option<String> = None;
        let mut more = false;
        loop {
            let chunk = if limit == 0 { 0 } else { (limit - kept.len()).max(if filtered { 256 } else { 0 }) };
            let (kvs, has_more, read_at) = self
                .store
                .list(&prefix, start.as_deref(), revision, chunk)
                .await
                .map_err(|status| list_expired(status, options.continue_token.is_some()))?;
            revision = read_at;
            let count = kvs.len();
            if !filtered && limit == 0 {
                // The common case: every key, no copy of any.
                kept = kvs;
                break;
            }
            for kv in kvs {
                if limit != 0 && kept.len() >= limit {
                    more = true;
                    break;
                }
                last_key = Some(kv.key.clone());
                if !filtered || Self::selects(def, options, &object_store::decode(&kv.value, kv.mod_revision)?) {
                    kept.push(kv);
                }
            }
            if more || !has_more || limit == 0 || count == 0 {
                more = more || (has_more && limit != 0);
                break;
            }
            if kept.len() >= limit {
                more = true;
                break;
            }
            start = last_key.as_ref().map(|k| format!("{k}\0"));
        }
        let continue_token = match (&last_key, more) {
            (Some(key), true) => Some(ContinueToken::new(revision, format!("{}\0", &key[prefix.len()..])).encode()),
            _ => None,
        };
        let remaining = match (&continue_token, filtered, &last_key) {
            (Some(_), false, Some(key)) => Some(self.store.count(&prefix, &format!("{key}\0"), revision).await? as i64),
            _ => None,
        };
        Ok(RawList { kvs: kept, resource_version: revision, continue_token, remaining })
    }

    /// One object as stored (what the JSON encoder splices without decoding).
    pub(crate) async fn get_raw(&self, target: &Target<'_>) -> Result<::store::KeyValue, Status> {
        let key = self.store.key(target.def, target.namespace, target.name);
        self.store.get_raw(&key).await?.ok_or_else(|| Status::not_found(&target.def.group_resource(), target.name))
    }

    /// Start a watch of a collection: from the current state (no resourceVersion, "0", or
    /// `sendInitialEvents`), whose objects come first, or from a resourceVersion (from the hub's
    /// window, else from the store's history; expired once compacted).
    pub async fn watch(&self, target: &Target<'_>, options: &ListOptions) -> Result<WatchStart, Status> {
        Self::check_field_selector(target.def, options)?;
        let requested = options.revision().map_err(Status::from)?;
        let from_current = requested.is_none() || options.send_initial_events == Some(true);
        let subscription = match requested.filter(|_| !from_current) {
            None => self.hub.subscribe(None),
            Some(rv) => self.hub.subscribe_at(rv).await,
        };
        let subscription = match subscription {
            Ok(subscription) => subscription,
            Err(status) => return Ok(WatchStart::Expired(status)),
        };
        let prefix = self.store.collection(target.def, target.namespace);
        // The current objects, read after subscribing so nothing falls in between.
        let mut initial = None;
        if from_current {
            let (kvs, _, revision) = self.store.list(&prefix, None, 0, 0).await?;
            let mut objects = Vec::new();
            for kv in kvs {
                let object = object_store::decode(&kv.value, kv.mod_revision)?;
                if Self::selects(target.def, options, &object) {
                    objects.push(object);
                }
            }
            initial = Some((objects, revision));
        }
        Ok(WatchStart::Events(Watch { initial, subscription, prefix }))
    }
}

/// A list read at a compacted revision, in kube-apiserver's words for lists (its etcd3 storage's
/// `expiredList` and `continueExpired`); other failures pass through.
fn list_expired(status: Status, continued: bool) -> Status {
    if status.code != 410 {
        return status;
    }
    Status::expired(if continued {
        "The provided continue parameter is too old to display a consistent list result. You can start a new list \
         without the continue parameter."
    } else {
        "The resourceVersion for the provided list is too old."
    })
}

#[cfg(test)]
mod list_tests {
    use super::*;

    #[test]
    fn compacted_lists_are_expired_in_kube_apiservers_words() {
        let compacted =
            object_store::store_status(::store::StoreError::Compacted { requested: 3, compact_revision: 9 });
        let paged = list_expired(compacted.clone(), true);
        assert_eq!((paged.code, paged.reason.as_str()), (410, "Expired"));
        assert!(paged.message.starts_with("The provided continue parameter is too old to display a consistent"));
        assert_eq!(list_expired(compacted, false).message, "The resourceVersion for the provided list is too old.");
        let other = Status::internal("disk");
        assert_eq!(list_expired(other.clone(), true), other);
    }
}
