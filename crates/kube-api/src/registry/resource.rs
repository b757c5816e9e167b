//! One served resource as data: its discovery facts (names, scope, verbs, subresources), where
//! it is stored, its [`Strategy`] and its printer; custom resources carry their CRD's facts.

use kube_core::table::Printer;
use kube_core::{GroupKind, GroupResource};
use serde_json::Value;

use super::strategy::Strategy;

/// The verbs of an ordinary stored resource, in discovery's order.
pub const STANDARD_VERBS: &[&str] =
    &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

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
