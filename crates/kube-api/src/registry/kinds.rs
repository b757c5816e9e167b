//! The API groups and kinds the server itself treats specially (CRDs, RBAC, namespaces, the
//! events.k8s.io view of core Events, ...), named once so no module compares strings of them.

use super::resource::ResourceDef;

/// `rbac.authorization.k8s.io`
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
/// `apiextensions.k8s.io`
pub const APIEXTENSIONS_GROUP: &str = "apiextensions.k8s.io";
/// `events.k8s.io` (stored as core Events).
pub const EVENTS_GROUP: &str = "events.k8s.io";

/// A kind in its group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind {
    pub group: &'static str,
    pub kind: &'static str,
}

pub const NAMESPACE: Kind = Kind { group: "", kind: "Namespace" };
pub const POD: Kind = Kind { group: "", kind: "Pod" };
pub const SERVICE: Kind = Kind { group: "", kind: "Service" };
pub const EVENT: Kind = Kind { group: "", kind: "Event" };
pub const CUSTOM_RESOURCE_DEFINITION: Kind = Kind { group: APIEXTENSIONS_GROUP, kind: "CustomResourceDefinition" };

impl ResourceDef {
    /// Whether this resource serves `kind`.
    pub fn is(&self, kind: Kind) -> bool {
        self.group == kind.group && self.kind == kind.kind
    }
}
