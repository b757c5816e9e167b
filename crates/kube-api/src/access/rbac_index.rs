//! RBAC, built into every cluster: the `rbac` crate's indexed authorizer in the chain's RBAC
//! slot ([`RbacAuthorizer`]) and the state it decides with ([`RbacState`]: the index, how far
//! into the store's history it has applied, the ClusterRoles aggregation works from). The index
//! is fed by [`crate::access::rbac_feed`].
//!
//! A write of an RBAC object through this server returns only once the index has applied it:
//! [`RbacState`] is a write observer of the object service that waits for the write's revision
//! ([`RbacState::wait_applied`]), so a client's next request sees it.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rbac::{ClusterRole, ClusterRoleBinding, Role, RoleBinding, UserInfo};
use serde_json::Value;
use store::Revision;
use tokio::sync::{Notify, watch};

use crate::access::authz::{Authorizer, Decision, Rules, Slot};
use crate::registry::ResourceDef;
use crate::registry::kinds::RBAC_GROUP;
use crate::storage::objects::WriteObserver;

/// The chain's RBAC authorizer over a cluster's index.
pub struct RbacAuthorizer {
    index: Arc<rbac::Authorizer>,
}

impl RbacAuthorizer {
    pub fn new(index: Arc<rbac::Authorizer>) -> Self {
        RbacAuthorizer { index }
    }
}

impl Authorizer for RbacAuthorizer {
    fn name(&self) -> &str {
        "RBAC"
    }

    fn slot(&self) -> Slot {
        Slot::Rbac
    }

    fn authorize(&self, attributes: &rbac::Attributes) -> Decision {
        match self.index.authorize(attributes) {
            rbac::Decision::Allow(allowed) => Decision::Allow(allowed.to_string()),
            rbac::Decision::NoOpinion(none) => Decision::NoOpinion(none.to_string()),
        }
    }

    fn rules_for(&self, user: &UserInfo, namespace: &str) -> Option<Rules> {
        let review = self.index.rules_review(user, namespace);
        Some(Rules {
            resource_rules: review.resource_rules.iter().map(|r| serde_json::json!(r)).collect(),
            non_resource_rules: review.non_resource_rules.iter().map(|r| serde_json::json!(r)).collect(),
            incomplete: review.incomplete,
            evaluation_error: review.evaluation_error,
        })
    }
}

/// A cluster's RBAC state: the index, how far into the store's history it has applied, and the
/// ClusterRoles the aggregation controller works from.
pub struct RbacState {
    index: Arc<rbac::Authorizer>,
    applied: watch::Sender<Revision>,
    cluster_roles: Mutex<BTreeMap<String, ClusterRole>>,
    /// Keys (below the RBAC group's prefix) of every object in the index.
    known: Mutex<HashSet<String>>,
    /// Signalled when a ClusterRole changed (the aggregation controller's cue).
    pub(super) aggregate: Notify,
}

impl Default for RbacState {
    fn default() -> Self {
        RbacState {
            index: Arc::new(rbac::Authorizer::new()),
            applied: watch::Sender::new(0),
            cluster_roles: Mutex::default(),
            known: Mutex::default(),
            aggregate: Notify::new(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RbacState {
    /// The index (shared with the chain's [`RbacAuthorizer`]).
    pub fn index(&self) -> &Arc<rbac::Authorizer> {
        &self.index
    }

    /// Wait until the index has applied every change up to `revision` (bounded: a stalled feed
    /// must not hang a write).
    pub(crate) async fn wait_applied(&self, revision: Revision) {
        let mut rx = self.applied.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|r| *r >= revision)).await;
    }

    pub(super) fn mark_applied(&self, revision: Revision) {
        self.applied.send_if_modified(|r| {
            let advance = revision > *r;
            if advance {
                *r = revision;
            }
            advance
        });
    }

    /// Apply one stored object (or its deletion) named by its key below the RBAC group's prefix
    /// (`roles/<ns>/<name>`, `clusterroles/<name>`, ...). Objects that do not parse are left out.
    pub(super) fn apply(&self, rest: &str, object: Option<&Value>) {
        let mut parts = rest.splitn(3, '/');
        let (Some(resource), Some(first)) = (parts.next(), parts.next()) else { return };
        let second = parts.next();
        let index = &self.index;
        match (resource, second, object) {
            ("roles", Some(name), Some(o)) => match serde_json::from_value::<Role>(o.clone()) {
                Ok(role) => index.upsert_role(&role),
                Err(_) => index.delete_role(first, name),
            },
            ("roles", Some(name), None) => index.delete_role(first, name),
            ("rolebindings", Some(name), Some(o)) => match serde_json::from_value::<RoleBinding>(o.clone()) {
                Ok(mut binding) => {
                    binding.apply_defaults();
                    index.upsert_role_binding(&binding)
                }
                Err(_) => index.delete_role_binding(first, name),
            },
            ("rolebindings", Some(name), None) => index.delete_role_binding(first, name),
            ("clusterroles", None, Some(o)) => match serde_json::from_value::<ClusterRole>(o.clone()) {
                Ok(role) => {
                    index.upsert_cluster_role(&role);
                    lock(&self.cluster_roles).insert(first.to_string(), role);
                    self.aggregate.notify_one();
                }
                Err(_) => self.forget_cluster_role(first),
            },
            ("clusterroles", None, None) => self.forget_cluster_role(first),
            ("clusterrolebindings", None, Some(o)) => match serde_json::from_value::<ClusterRoleBinding>(o.clone()) {
                Ok(mut binding) => {
                    binding.apply_defaults();
                    index.upsert_cluster_role_binding(&binding)
                }
                Err(_) => index.delete_cluster_role_binding(first),
            },
            ("clusterrolebindings", None, None) => index.delete_cluster_role_binding(first),
            _ => return,
        }
        let mut known = lock(&self.known);
        if object.is_some() {
            known.insert(rest.to_string());
        } else {
            known.remove(rest);
        }
    }

    /// The ClusterRoles in the index (what aggregation works from).
    pub(super) fn cluster_roles(&self) -> Vec<ClusterRole> {
        lock(&self.cluster_roles).values().cloned().collect()
    }

    /// Keys (below the RBAC group's prefix) of the objects in the index.
    pub(super) fn known(&self) -> HashSet<String> {
        lock(&self.known).clone()
    }

    fn forget_cluster_role(&self, name: &str) {
        self.index.delete_cluster_role(name);
        lock(&self.cluster_roles).remove(name);
        self.aggregate.notify_one();
    }
}

#[async_trait]
impl WriteObserver for RbacState {
    async fn stored(&self, def: &ResourceDef, _object: &Value, revision: Revision, _deleted: bool) {
        if def.group == RBAC_GROUP {
            self.wait_applied(revision).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_enter_and_leave_the_index_by_key() {
        let state = RbacState::default();
        let attrs = |user: &str| {
            rbac::Attributes::resource(
                UserInfo::new(user, &[]),
                "list",
                rbac::ResourceAttributes::new("default", "", "pods"),
            )
        };
        state.apply(
            "roles/default/reader",
            Some(&json!({"metadata": {"name": "reader", "namespace": "default"},
                "rules": [{"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]}]})),
        );
        state.apply(
            "rolebindings/default/r",
            Some(&json!({"metadata": {"name": "r", "namespace": "default"},
                "roleRef": {"kind": "Role", "name": "reader"},
                "subjects": [{"kind": "User", "name": "eks-user"}]})),
        );
        assert_eq!(
            state.index.authorize(&attrs("eks-user")).reason(),
            r#"RBAC: allowed by RoleBinding "r/default" of Role "reader" to User "eks-user""#
        );
        assert!(!state.index.authorize(&attrs("other")).is_allowed());
        state.apply("roles/default/reader", None);
        assert_eq!(
            state.index.authorize(&attrs("eks-user")).reason(),
            r#"RBAC: role.rbac.authorization.k8s.io "reader" not found"#
        );
        assert_eq!(lock(&state.known).len(), 1);
        state.apply("rolebindings/default/r", None);
        assert!(lock(&state.known).is_empty());
        state.apply("clusterroles/view", Some(&json!({"metadata": {"name": "view"}, "rules": []})));
        assert!(lock(&state.cluster_roles).contains_key("view"));
        state.apply("clusterroles/view", None);
        assert!(lock(&state.cluster_roles).is_empty());
    }
}
