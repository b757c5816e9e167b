//! The bootstrap policy of Kubernetes 1.32 as data: the default ClusterRoles (aggregated roles
//! with empty rules, as the API server creates them) and ClusterRoleBindings, each labelled
//! `kubernetes.io/bootstrapping: rbac-defaults` and annotated
//! `rbac.authorization.kubernetes.io/autoupdate: "true"`. The data lives in `bootstrap/*.json`.
//!
//! The per-controller roles (`system:controller:*`) and their bindings are not included yet.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::aggregation::aggregate;
use crate::types::{ClusterRole, ClusterRoleBinding};

#[derive(Deserialize)]
struct List<T> {
    items: Vec<T>,
}

fn parse<T: for<'de> Deserialize<'de>>(json: &str) -> Vec<T> {
    // The data is part of this crate and checked by its tests; it cannot fail at run time.
    serde_json::from_str::<List<T>>(json).map(|l| l.items).unwrap_or_default()
}

/// The default ClusterRoles, `admin`, `edit` and `view` with their rules still empty.
pub fn cluster_roles() -> &'static [ClusterRole] {
    static ROLES: OnceLock<Vec<ClusterRole>> = OnceLock::new();
    ROLES.get_or_init(|| parse(include_str!("bootstrap/cluster-roles.json")))
}

/// The default ClusterRoles as a settled cluster serves them: aggregation applied.
pub fn aggregated_cluster_roles() -> &'static [ClusterRole] {
    static ROLES: OnceLock<Vec<ClusterRole>> = OnceLock::new();
    ROLES.get_or_init(|| aggregate(cluster_roles()))
}

/// The default ClusterRoleBindings.
pub fn cluster_role_bindings() -> &'static [ClusterRoleBinding] {
    static BINDINGS: OnceLock<Vec<ClusterRoleBinding>> = OnceLock::new();
    BINDINGS.get_or_init(|| parse(include_str!("bootstrap/cluster-role-bindings.json")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::{validate_cluster_role, validate_cluster_role_binding};

    fn role<'a>(roles: &'a [ClusterRole], name: &str) -> &'a ClusterRole {
        roles.iter().find(|r| r.metadata.name == name).unwrap_or_else(|| panic!("no role {name}"))
    }

    #[test]
    fn data_parses_validates_and_is_labelled() {
        assert!(cluster_roles().len() >= 31);
        assert!(cluster_role_bindings().len() >= 12);
        for r in cluster_roles() {
            assert!(validate_cluster_role(r).is_empty(), "{}", r.metadata.name);
            assert_eq!(r.metadata.labels["kubernetes.io/bootstrapping"], "rbac-defaults");
            assert_eq!(r.metadata.annotations["rbac.authorization.kubernetes.io/autoupdate"], "true");
        }
        for b in cluster_role_bindings() {
            assert!(validate_cluster_role_binding(b).is_empty(), "{}", b.metadata.name);
            assert_eq!(b.metadata.labels["kubernetes.io/bootstrapping"], "rbac-defaults");
            assert!(cluster_roles().iter().any(|r| r.metadata.name == b.role_ref.name), "{}", b.metadata.name);
        }
    }

    #[test]
    fn user_facing_roles_aggregate_as_on_a_cluster() {
        let roles = aggregated_cluster_roles();
        let view = &role(roles, "view").rules;
        let edit = &role(roles, "edit").rules;
        let admin = &role(roles, "admin").rules;
        assert_eq!(view, &role(roles, "system:aggregate-to-view").rules);
        assert_eq!((view.len(), edit.len(), admin.len()), (10, 23, 25));
        assert_eq!(edit[..13], role(roles, "system:aggregate-to-edit").rules[..]);
        assert_eq!(edit[13..], view[..]);
        assert_eq!(admin[..23], edit[..]);
        assert_eq!(admin[23..], role(roles, "system:aggregate-to-admin").rules[..]);
    }
}
