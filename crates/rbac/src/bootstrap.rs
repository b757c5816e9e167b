//! The bootstrap policy of Kubernetes 1.32 as data: what kube-apiserver's `rbac/bootstrap-roles`
//! hook creates with the default feature gates — the default ClusterRoles (aggregated roles with
//! empty rules, as the API server creates them), the per-controller `system:controller:*`
//! ClusterRoles, their ClusterRoleBindings (each to the controller's service account in
//! kube-system), and the Roles and RoleBindings of kube-system and kube-public. Every object is
//! labelled `kubernetes.io/bootstrapping: rbac-defaults` and annotated
//! `rbac.authorization.kubernetes.io/autoupdate: "true"`. The data lives in `bootstrap/*.json`:
//! `cluster-roles.json` and `cluster-role-bindings.json` (upstream `policy.go`),
//! `controller-roles.json` and `controller-role-bindings.json` (`controller_policy.go`),
//! `namespace-roles.json` and `namespace-role-bindings.json` (`namespace_policy.go`).
//! Controllers behind feature gates that are off by default in 1.32 (resource claims, service
//! CIDRs, volume attributes classes, SELinux warnings, storage version GC and migration, cluster
//! trust bundles) are left out, as on a default cluster.

use std::sync::OnceLock;

use serde::Deserialize;

use crate::aggregation::aggregate;
use crate::types::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};

#[derive(Deserialize)]
struct List<T> {
    items: Vec<T>,
}

fn parse<T: for<'de> Deserialize<'de>>(json: &str) -> Vec<T> {
    // The data is part of this crate and checked by its tests; it cannot fail at run time.
    serde_json::from_str::<List<T>>(json).map(|l| l.items).unwrap_or_default()
}

/// The default ClusterRoles, `admin`, `edit` and `view` with their rules still empty, then the
/// controllers' `system:controller:*` roles (the order kube-apiserver creates them in).
pub fn cluster_roles() -> &'static [ClusterRole] {
    static ROLES: OnceLock<Vec<ClusterRole>> = OnceLock::new();
    ROLES.get_or_init(|| {
        let mut roles = parse(include_str!("bootstrap/cluster-roles.json"));
        roles.extend(parse(include_str!("bootstrap/controller-roles.json")));
        roles
    })
}

/// The default ClusterRoles as a settled cluster serves them: aggregation applied.
pub fn aggregated_cluster_roles() -> &'static [ClusterRole] {
    static ROLES: OnceLock<Vec<ClusterRole>> = OnceLock::new();
    ROLES.get_or_init(|| aggregate(cluster_roles()))
}

/// The default ClusterRoleBindings, then the controllers' (`system:controller:<name>` to the
/// service account `kube-system/<name>`).
pub fn cluster_role_bindings() -> &'static [ClusterRoleBinding] {
    static BINDINGS: OnceLock<Vec<ClusterRoleBinding>> = OnceLock::new();
    BINDINGS.get_or_init(|| {
        let mut bindings = parse(include_str!("bootstrap/cluster-role-bindings.json"));
        bindings.extend(parse(include_str!("bootstrap/controller-role-bindings.json")));
        bindings
    })
}

/// The default Roles of kube-system and kube-public (`extension-apiserver-authentication-reader`,
/// the leader-locking roles, `system:controller:bootstrap-signer`, ...).
pub fn roles() -> &'static [Role] {
    static ROLES: OnceLock<Vec<Role>> = OnceLock::new();
    ROLES.get_or_init(|| parse(include_str!("bootstrap/namespace-roles.json")))
}

/// The default RoleBindings of kube-system and kube-public.
pub fn role_bindings() -> &'static [RoleBinding] {
    static BINDINGS: OnceLock<Vec<RoleBinding>> = OnceLock::new();
    BINDINGS.get_or_init(|| parse(include_str!("bootstrap/namespace-role-bindings.json")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::{
        validate_cluster_role, validate_cluster_role_binding, validate_role, validate_role_binding,
    };

    fn role<'a>(roles: &'a [ClusterRole], name: &str) -> &'a ClusterRole {
        roles.iter().find(|r| r.metadata.name == name).unwrap_or_else(|| panic!("no role {name}"))
    }

    fn labelled(meta: &crate::types::ObjectMeta) {
        assert_eq!(meta.labels["kubernetes.io/bootstrapping"], "rbac-defaults", "{}", meta.name);
        assert_eq!(meta.annotations["rbac.authorization.kubernetes.io/autoupdate"], "true", "{}", meta.name);
    }

    #[test]
    fn a_default_cluster_has_these_objects() {
        // What `kubectl get clusterroles,clusterrolebindings -A` and `get roles,rolebindings -A`
        // list on a fresh 1.32 cluster: 31 + 33 controllers, 12 + 33, 7 and 7.
        let controllers = |names: Vec<&str>| names.iter().filter(|n| n.starts_with("system:controller:")).count();
        let role_names: Vec<&str> = cluster_roles().iter().map(|r| r.metadata.name.as_str()).collect();
        let binding_names: Vec<&str> = cluster_role_bindings().iter().map(|b| b.metadata.name.as_str()).collect();
        assert_eq!((role_names.len(), controllers(role_names.clone())), (64, 33));
        assert_eq!((binding_names.len(), controllers(binding_names.clone())), (45, 33));
        assert_eq!((roles().len(), role_bindings().len()), (7, 7));
        for name in ["system:controller:service-cidrs-controller", "system:controller:resource-claim-controller"] {
            assert!(!role_names.contains(&name), "{name} is behind a gate that is off in 1.32");
        }
        let mut unique = role_names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), role_names.len());
        // Each controller's binding names its service account in kube-system.
        let gc = cluster_role_bindings()
            .iter()
            .find(|b| b.metadata.name == "system:controller:generic-garbage-collector")
            .expect("the garbage collector's binding");
        assert_eq!(gc.role_ref.name, "system:controller:generic-garbage-collector");
        assert_eq!(
            (gc.subjects[0].kind.as_str(), gc.subjects[0].name.as_str(), gc.subjects[0].namespace.as_str()),
            ("ServiceAccount", "generic-garbage-collector", "kube-system")
        );
    }

    #[test]
    fn data_parses_validates_and_is_labelled() {
        for r in roles() {
            assert!(validate_role(r).is_empty(), "{}", r.metadata.name);
            assert!(["kube-system", "kube-public"].contains(&r.metadata.namespace.as_str()));
            labelled(&r.metadata);
        }
        for b in role_bindings() {
            assert!(validate_role_binding(b).is_empty(), "{}", b.metadata.name);
            labelled(&b.metadata);
            assert!(
                roles()
                    .iter()
                    .any(|r| r.metadata.namespace == b.metadata.namespace && r.metadata.name == b.role_ref.name),
                "{}",
                b.metadata.name
            );
        }
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
