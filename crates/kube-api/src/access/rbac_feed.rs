//! The feed of the RBAC index: the index loaded from the store and then following the cluster's
//! watch hub — the same store watch another replica's writes arrive through — so a role or
//! binding written anywhere is effective on the next request; and the clusterrole-aggregation
//! controller keeping `admin`, `edit`, `view` and every other aggregated ClusterRole current as
//! labelled ClusterRoles come and go (`rbac::aggregate`). The bootstrap policy is reconciled at
//! every start by [`crate::access::bootstrap_policy`].

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use kube_core::Status;
use rbac::{ClusterRole, UserInfo};
use serde_json::Value;
use store::Revision;
use tokio::sync::broadcast;

use crate::access::rbac_index::RbacState;
use crate::registry::kinds::RBAC_GROUP;
use crate::storage::objects::{Ctx, Objects, Target, Write};
use crate::storage::watch::HubSignal;

/// The key prefix of the RBAC group in a cluster.
fn prefix(objects: &Objects) -> String {
    format!("{}{RBAC_GROUP}/", objects.store().prefix())
}

/// Load every RBAC object from the store into the index (dropping what is gone); returns the
/// revision read at.
async fn load(objects: &Objects, state: &RbacState) -> Result<Revision, Status> {
    let prefix = prefix(objects);
    let (kvs, _, revision) = objects.store().list(&prefix, None, 0, 0).await?;
    let mut present = HashSet::new();
    for kv in kvs {
        let Some(rest) = kv.key.strip_prefix(&prefix) else { continue };
        let Ok(object) = serde_json::from_slice::<Value>(&kv.value) else { continue };
        state.apply(rest, Some(&object));
        present.insert(rest.to_string());
    }
    let gone: Vec<String> = state.known().into_iter().filter(|k| !present.contains(k)).collect();
    for rest in gone {
        state.apply(&rest, None);
    }
    state.mark_applied(revision);
    Ok(revision)
}

/// Follow the watch hub into the index until the cluster stops (a lagging or reset hub means a
/// fresh load).
pub(crate) async fn follow(objects: Arc<Objects>, state: Arc<RbacState>) {
    let prefix = prefix(&objects);
    loop {
        let Ok(mut subscription) = objects.watch_hub().subscribe(None) else { return };
        let loaded = match load(&objects, &state).await {
            Ok(revision) => revision,
            Err(status) => {
                tracing::warn!(cluster = %objects.cluster(), error = %status.message, "cannot load RBAC objects; retrying");
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
                        state.apply(rest, object);
                    }
                    state.mark_applied(event.revision);
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
pub(crate) async fn aggregate_once(objects: &Objects, state: &RbacState) {
    let current: Vec<ClusterRole> = state.cluster_roles();
    let settled = rbac::aggregate(&current);
    let Some(def) = objects.resource(RBAC_GROUP, "v1", "clusterroles") else { return };
    for (before, after) in current.iter().zip(&settled) {
        if after.aggregation_rule.is_none() || before.rules == after.rules {
            continue;
        }
        let name = after.metadata.name.clone();
        let rules = serde_json::to_value(&after.rules).expect("rules serialize");
        let mut ctx = privileged_ctx("system:kube-controller-manager", "clusterrole-aggregation-controller");
        let manager = ctx.manager();
        let result = objects
            .guaranteed_update(&Target::object(&def, "", &name), &mut ctx, |stored| {
                let Some(stored) = stored else { return Ok(None) };
                let mut object = stored.clone();
                object["rules"] = rules.clone();
                Ok(Some(Write::Update { object, manager: manager.clone(), conditional: false }))
            })
            .await;
        if let Err(status) = result
            && status.code != 404
        {
            tracing::warn!(cluster = %objects.cluster(), role = %name, error = %status.message, "cannot aggregate a ClusterRole");
        }
    }
}

/// The aggregation controller: a pass whenever a ClusterRole changed, until the cluster stops.
pub(crate) async fn aggregate_forever(objects: Arc<Objects>, state: Arc<RbacState>) {
    loop {
        state.aggregate.notified().await;
        // Let a burst of changes (a manifest of several roles) settle into one pass.
        tokio::time::sleep(Duration::from_millis(5)).await;
        aggregate_once(&objects, &state).await;
    }
}
