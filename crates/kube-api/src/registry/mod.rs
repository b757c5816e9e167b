//! The resource registry as data: one [`ResourceDef`] per served resource (built-in kinds from a
//! table, custom resources from their CustomResourceDefinitions), each with its discovery facts
//! (names, scope, verbs, subresources), its storage location and its [`Strategy`] (defaulting,
//! validation, printing, field selectors, deletion behaviour).
//!
//! Adding a built-in kind is one entry in [`builtin::table`] plus its strategy functions in
//! [`strategy`] and its printer in `kube-core`.

pub mod builtin;
pub mod crd;
pub mod strategy;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use kube_core::table::Printer;
use kube_core::{GroupKind, GroupResource};
use serde_json::Value;

pub use strategy::Strategy;

/// A subresource of a served resource, as discovery lists it.
#[derive(Clone, Debug)]
pub struct SubresourceDef {
    pub name: String,
    /// The kind its requests and responses carry.
    pub group: String,
    pub version: String,
    pub kind: String,
    pub verbs: Vec<String>,
}

/// How a resource's objects live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    /// Stored under `<group>/<resource>` in the cluster's registry prefix (events.k8s.io events
    /// share core events' storage).
    Stored { group: String, resource: String },
    /// Create-only reviews that are answered, never stored (SubjectAccessReview, TokenReview, ...).
    Review,
}

/// What the server knows of a custom resource beyond the common facts.
#[derive(Clone, Debug)]
pub struct CustomInfo {
    /// The version's `openAPIV3Schema`.
    pub schema: Option<Value>,
    /// `subresources.status` is on.
    pub status: bool,
    /// `subresources.scale`: (specReplicasPath, statusReplicasPath, labelSelectorPath).
    pub scale: Option<(String, String, Option<String>)>,
    /// The CRD's name, for discovery hashing and ownership.
    pub crd_name: String,
    /// Whether this is the storage version.
    pub storage_version: bool,
}

/// One served resource: a group, version and plural resource name with everything the server
/// needs to serve it.
#[derive(Clone)]
pub struct ResourceDef {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub verbs: Vec<String>,
    pub subresources: Vec<SubresourceDef>,
    pub storage: Storage,
    pub strategy: Strategy,
    pub printer: Printer,
    /// `Some` for a custom resource.
    pub custom: Option<CustomInfo>,
}

impl std::fmt::Debug for ResourceDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ResourceDef({}/{} {})", self.group, self.version, self.plural)
    }
}

impl ResourceDef {
    pub fn group_resource(&self) -> GroupResource {
        GroupResource::new(&self.group, &self.plural)
    }

    pub fn group_kind(&self) -> GroupKind {
        GroupKind::new(&self.group, &self.kind)
    }

    pub fn api_version(&self) -> String {
        kube_core::meta::api_version(&self.group, &self.version)
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    pub fn subresource(&self, name: &str) -> Option<&SubresourceDef> {
        self.subresources.iter().find(|s| s.name == name)
    }

    /// Whether the resource is stored (and so can be listed and watched).
    pub fn is_stored(&self) -> bool {
        matches!(self.storage, Storage::Stored { .. })
    }

    /// Whether a `status` subresource separates spec from status writes.
    pub fn has_status(&self) -> bool {
        self.subresource("status").is_some()
    }
}

/// The resources a cluster serves: the built-in table plus the custom resources of its
/// established CRDs. Reads take a snapshot (an `Arc`), so a CRD change never blocks requests.
pub struct Registry {
    snapshot: RwLock<Arc<Snapshot>>,
}

/// An immutable view of the registry.
#[derive(Default)]
pub struct Snapshot {
    /// Every resource in discovery order.
    pub resources: Vec<Arc<ResourceDef>>,
    by_path: HashMap<(String, String, String), Arc<ResourceDef>>,
    by_kind: HashMap<(String, String), Arc<ResourceDef>>,
    /// A counter bumped on every change (discovery and OpenAPI caches key on it).
    pub generation: u64,
}

impl Snapshot {
    fn build(resources: Vec<Arc<ResourceDef>>, generation: u64) -> Snapshot {
        let mut by_path = HashMap::new();
        let mut by_kind = HashMap::new();
        for def in &resources {
            by_path.insert((def.group.clone(), def.version.clone(), def.plural.clone()), def.clone());
            let preferred = def.custom.as_ref().is_none_or(|c| c.storage_version);
            if preferred {
                by_kind.entry((def.group.clone(), def.kind.clone())).or_insert_with(|| def.clone());
            }
        }
        Snapshot { resources, by_path, by_kind, generation }
    }

    /// The resource served at `/api[s]/<group>/<version>/.../<plural>`.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<&Arc<ResourceDef>> {
        self.by_path.get(&(group.to_string(), version.to_string(), plural.to_string()))
    }

    /// The resource of a group and kind (its preferred version).
    pub fn by_kind(&self, group: &str, kind: &str) -> Option<&Arc<ResourceDef>> {
        self.by_kind.get(&(group.to_string(), kind.to_string()))
    }

    /// The group-versions served, in discovery order (each group's preferred version first).
    pub fn group_versions(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for def in &self.resources {
            match out.iter_mut().find(|(g, _)| *g == def.group) {
                Some((_, versions)) => {
                    if !versions.contains(&def.version) {
                        versions.push(def.version.clone());
                    }
                }
                None => out.push((def.group.clone(), vec![def.version.clone()])),
            }
        }
        out
    }

    /// Every stored resource's distinct storage location with one def serving it (namespace
    /// cleanup and garbage collection walk these).
    pub fn stored(&self) -> Vec<Arc<ResourceDef>> {
        let mut seen = std::collections::HashSet::new();
        self.resources
            .iter()
            .filter(|d| match &d.storage {
                Storage::Stored { group, resource } => seen.insert((group.clone(), resource.clone())),
                Storage::Review => false,
            })
            .cloned()
            .collect()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// The built-in resources only.
    pub fn new() -> Registry {
        let resources = builtin::table().into_iter().map(Arc::new).collect();
        Registry { snapshot: RwLock::new(Arc::new(Snapshot::build(resources, 1))) }
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replace the custom resources of CRD `crd_name` with `defs` (empty: remove them).
    /// Returns whether the served set may have changed (discovery and OpenAPI are rebuilt).
    pub fn set_custom(&self, crd_name: &str, defs: Vec<ResourceDef>) -> bool {
        let mut guard = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
        let current = guard.clone();
        let mut resources: Vec<Arc<ResourceDef>> = current
            .resources
            .iter()
            .filter(|d| d.custom.as_ref().is_none_or(|c| c.crd_name != crd_name))
            .cloned()
            .collect();
        let changed = !defs.is_empty() || resources.len() != current.resources.len();
        resources.extend(defs.into_iter().map(Arc::new));
        if changed {
            *guard = Arc::new(Snapshot::build(resources, current.generation + 1));
        }
        changed
    }
}
