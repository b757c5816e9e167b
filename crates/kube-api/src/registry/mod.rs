//! The resource registry as data: one [`ResourceDef`] per served resource (built-in kinds from a
//! table, custom resources from their CustomResourceDefinitions), each with its discovery facts
//! (names, scope, verbs, subresources), its storage location and its [`Strategy`] (defaulting,
//! validation, printing, field selectors, deletion behaviour).
//!
//! Adding a built-in kind is one entry in [`builtin::table`] plus its strategy functions in
//! [`strategy`] and its printer in `kube-core`.

pub mod builtin;
pub mod crd;
pub mod kinds;
pub mod names;
mod resource;
mod schemas;
pub mod strategy;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::ArcSwap;
use kube_schema::openapi::OpenApiV3;
use serde_json::Value;

pub use resource::{CustomInfo, ResourceDef, STANDARD_VERBS, Storage, SubresourceDef};
pub use strategy::Strategy;

/// The resources a cluster serves: the built-in table plus the custom resources of its
/// established CRDs. Reads take a snapshot (an `Arc`, swapped whole when a CRD changes), so a CRD
/// change never blocks requests.
pub struct Registry {
    snapshot: ArcSwap<Snapshot>,
    /// Serializes the swaps (CRDs are few and rarely written).
    writer: Mutex<()>,
}

/// An immutable view of the registry.
#[derive(Default)]
pub struct Snapshot {
    /// Every resource in discovery order.
    pub resources: Vec<Arc<ResourceDef>>,
    by_path: HashMap<(String, String, String), Arc<ResourceDef>>,
    by_kind: HashMap<(String, String), Arc<ResourceDef>>,
    /// A counter bumped on every change (the discovery cache keys on it).
    pub generation: u64,
    /// The OpenAPI v3 documents of these resources, built on first use.
    openapi: OnceLock<Arc<OpenApiV3>>,
    /// Component schemas of a group-version's document (`api/v1`, `apis/apps/v1`), parsed back
    /// on first use for unknown-field checks.
    components: Mutex<HashMap<String, Arc<serde_json::Map<String, Value>>>>,
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
        Snapshot { resources, by_path, by_kind, generation, ..Default::default() }
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
        Registry { snapshot: ArcSwap::from_pointee(Snapshot::build(resources, 1)), writer: Mutex::new(()) }
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Replace the custom resources of CRD `crd_name` with `defs` (empty: remove them).
    /// Returns whether the served set may have changed (discovery and OpenAPI are rebuilt).
    pub fn set_custom(&self, crd_name: &str, defs: Vec<ResourceDef>) -> bool {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let current = self.snapshot.load_full();
        let mut resources: Vec<Arc<ResourceDef>> = current
            .resources
            .iter()
            .filter(|d| d.custom.as_ref().is_none_or(|c| c.crd_name != crd_name))
            .cloned()
            .collect();
        let changed = !defs.is_empty() || resources.len() != current.resources.len();
        resources.extend(defs.into_iter().map(Arc::new));
        if changed {
            self.snapshot.store(Arc::new(Snapshot::build(resources, current.generation + 1)));
        }
        changed
    }
}
