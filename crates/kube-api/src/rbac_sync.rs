//! RBAC, built into every cluster: the `rbac` crate's indexed authorizer in the chain's RBAC slot,
//! fed incrementally from the cluster's watch hub — the same store watch another replica's
//! writes arrive through — so a role or binding written anywhere is effective on the next
//! request; the bootstrap policy reconciled at every start as kube-apiserver's
//! `rbac/bootstrap-roles` post-start hook does (see [`crate::bootstrap_policy`]); and the
//! clusterrole-aggregation controller keeping `admin`, `edit`, `view` and every other aggregated
//! ClusterRole current as labelled ClusterRoles come and go (`rbac::aggregate`).
//!
//! A write of an RBAC object through this server returns only once the index has applied it
//! ([`RbacState::wait_applied`]), so a client's next request sees it.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube_core::Status;
use rbac::{ClusterRole, ClusterRoleBinding, Role, RoleBinding, UserInfo};
use serde_json::Value;
use store::Revision;
use tokio::sync::{Notify, broadcast, watch};

use crate::authz::{Authorizer, Decision, Rules, Slot};
use crate::cluster::Cluster;
use crate::objects::{Ctx, Write};
use crate::watch::HubSignal;

/// The API group of the RBAC kinds.
pub const GROUP: &str = "rbac.authorization.k8s.io";

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
    pub(crate) index: Arc<rbac::Authorizer>,
    applied: watch::Sender<Revision>,
    cluster_roles: Mutex<BTreeMap<String, ClusterRole>>,
    /// Keys (below the RBAC group's prefix) of every object in the index.
    known: Mutex<HashSet<String>>,
    aggregate: Notify,
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

    fn mark_applied(&self, revision: Revision) {
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
    fn apply(&self, rest: &str, object: Option<&Value>) {
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

    fn forget_cluster_role(&self, name: &str) {
        self.index.delete_cluster_role(name);
        lock(&self.cluster_roles).remove(name);
        self.aggregate.notify_one();
    }
}

/// The key prefix of the RBAC group in a cluster.
fn prefix(cluster: &Cluster) -> String {
    format!("{}{GROUP}/", cluster.objects.prefix())
}

/// Load every RBAC object from the store into the index (dropping what is gone); returns the
/// revision read at.
pub(crate) async fn load(cluster: &Cluster) -> Result<Revision, Status> {
    let prefix = prefix(cluster);
    let (kvs, _, revision) = cluster.objects.list(&prefix, None, 0, 0).await?;
    let state = &cluster.rbac;
    let mut present = HashSet::new();
    for kv in kvs {
        let Some(rest) = kv.key.strip_prefix(&prefix) else { continue };
        let Ok(object) = serde_json::from_slice::<Value>(&kv.value) else { continue };
        state.apply(rest, Some(&object));
        present.insert(rest.to_string());
    }
    let gone: Vec<String> = lock(&state.known).iter().filter(|k| !present.contains(*k)).cloned().collect();
    for rest in gone {
        state.apply(&rest, None);
    }
    state.mark_applied(revision);
    Ok(revision)
}

/// Follow the watch hub into the index until the cluster stops (a lagging or reset hub means a
/// fresh load).
pub(crate) async fn follow(cluster: Arc<Cluster>) {
    let prefix = prefix(&cluster);
    loop {
        let Ok(mut subscription) = cluster.hub.subscribe(None) else { return };
        let loaded = match load(&cluster).await {
            Ok(revision) => revision,
            Err(status) => {
                tracing::warn!(cluster = %cluster.name, error = %status.message, "cannot load RBAC objects; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        loop {
            match subscription.live.recv().await {
                Ok(HubSignal::Event(event)) => {
                    if event.revision > loaded
                        && let Some(rest) = event.key.strip_prefix(&prefix)
                    {
                        let object = if event.deleted { None } else { event.object() };
                        cluster.rbac.apply(rest, object);
                    }
                    cluster.rbac.mark_applied(event.revision);
                }
                Ok(HubSignal::Reset) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

/// The identity the server's own RBAC writers use (bootstrap, aggregation): like kube-apiserver's
/// loopback client, a member of `system:masters`, so escalation checks pass.
pub(crate) fn privileged_ctx(user: &str, manager: &str) -> Ctx {
    Ctx {
        user: UserInfo {
            name: user.into(),
            groups: vec![rbac::SYSTEM_MASTERS.into(), rbac::SYSTEM_AUTHENTICATED.into()],
            ..Default::default()
        },
        user_agent: format!("{manager}/v1.32.0 (linux/amd64) kubernetes"),
        field_manager: Some(manager.into()),
        ..Default::default()
    }
}

/// One pass of the clusterrole-aggregation controller: write the settled rules of every
/// aggregated ClusterRole whose stored rules differ.
pub(crate) async fn aggregate_once(cluster: &Cluster) {
    let current: Vec<ClusterRole> = lock(&cluster.rbac.cluster_roles).values().cloned().collect();
    let settled = rbac::aggregate(&current);
    let Some(def) = cluster.resource(GROUP, "v1", "clusterroles") else { return };
    for (before, after) in current.iter().zip(&settled) {
        if after.aggregation_rule.is_none() || before.rules == after.rules {
            continue;
        }
        let name = after.metadata.name.clone();
        let rules = serde_json::to_value(&after.rules).expect("rules serialize");
        let mut ctx = privileged_ctx("system:kube-controller-manager", "clusterrole-aggregation-controller");
        let manager = ctx.manager();
        let result = cluster
            .write(&def, "", &name, "", &mut ctx, |stored| {
                let Some(stored) = stored else { return Ok(None) };
                let mut object = stored.clone();
                object["rules"] = rules.clone();
                Ok(Some(Write::Update { object, manager: manager.clone(), conditional: false }))
            })
            .await;
        if let Err(status) = result
            && status.code != 404
        {
            tracing::warn!(cluster = %cluster.name, role = %name, error = %status.message, "cannot aggregate a ClusterRole");
        }
    }
}

/// The aggregation controller: a pass whenever a ClusterRole changed, until the cluster stops.
pub(crate) async fn aggregate_forever(cluster: Arc<Cluster>) {
    loop {
        cluster.rbac.aggregate.notified().await;
        // Let a burst of changes (a manifest of several roles) settle into one pass.
        tokio::time::sleep(Duration::from_millis(5)).await;
        aggregate_once(&cluster).await;
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
