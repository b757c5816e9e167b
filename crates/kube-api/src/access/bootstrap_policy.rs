//! The bootstrap RBAC policy of Kubernetes 1.32 (`rbac::bootstrap`: the ClusterRoles and
//! ClusterRoleBindings, and the Roles and RoleBindings of kube-system and kube-public), created at
//! a cluster's first start and reconciled at every start as kube-apiserver's
//! `rbac/bootstrap-roles` post-start hook does (`pkg/registry/rbac/reconciliation`, the same rules
//! for both scopes):
//!
//! - a missing role or binding is created;
//! - an existing one annotated `rbac.authorization.kubernetes.io/autoupdate: "false"` is left
//!   alone;
//! - otherwise labels and annotations it lacks are added (its own values win), rules it does not
//!   cover are appended (broken down, as Kubernetes appends them), missing aggregation selectors
//!   are appended, subjects it lacks are appended — nothing the user added is ever removed;
//! - a binding whose roleRef differs is recreated (roleRef is immutable).
//!
//! The reconciliation itself is pure ([`reconcile_cluster_role`], [`reconcile_binding`]); the
//! writes go through the cluster's own object pipeline as a `system:masters` loopback user.

use kube_core::{Status, meta};
use rbac::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde_json::Value;

use crate::access::rbac_feed::privileged_ctx;
use crate::registry::ResourceDef;
use crate::registry::kinds::RBAC_GROUP;
use crate::storage::objects::{Objects, Target};

/// The annotation that opts a bootstrap object out of reconciliation when `"false"`.
pub const AUTO_UPDATE: &str = "rbac.authorization.kubernetes.io/autoupdate";

/// What reconciling one object asks for.
#[derive(Debug, PartialEq)]
pub enum Reconcile {
    /// Nothing to do (up to date, or protected by `autoupdate: "false"`).
    None,
    /// Store this object (an update of the existing one).
    Update(Value),
    /// Delete the existing object and create this one (a binding's roleRef changed).
    Recreate(Value),
}

fn protected(existing: &rbac::ObjectMeta) -> bool {
    existing.annotations.get(AUTO_UPDATE).is_some_and(|v| v == "false")
}

/// Kubernetes' `merge(expected, existing)`: the expected entries the existing map lacks are added.
fn merge_into(
    existing: &mut std::collections::BTreeMap<String, String>,
    expected: &std::collections::BTreeMap<String, String>,
) -> bool {
    let mut changed = false;
    for (k, v) in expected {
        if !existing.contains_key(k) {
            existing.insert(k.clone(), v.clone());
            changed = true;
        }
    }
    changed
}

/// The stored JSON of `existing` with the fields reconciliation owns replaced by `typed`'s.
fn with_fields(existing: &Value, typed: Value, fields: &[&str]) -> Value {
    let mut out = existing.clone();
    for field in fields {
        match typed.get(*field) {
            Some(v) => out[*field] = v.clone(),
            None => {
                if let Some(m) = out.as_object_mut() {
                    m.remove(*field);
                }
            }
        }
    }
    let labels = typed.pointer("/metadata/labels").cloned();
    let annotations = typed.pointer("/metadata/annotations").cloned();
    let metadata = meta::metadata_mut(&mut out);
    for (key, value) in [("labels", labels), ("annotations", annotations)] {
        match value {
            Some(v) => {
                metadata.insert(key.into(), v);
            }
            None => {
                metadata.shift_remove(key);
            }
        }
    }
    out
}

/// Reconcile a stored ClusterRole with the expected bootstrap one.
pub fn reconcile_cluster_role(expected: &ClusterRole, existing: &Value) -> Reconcile {
    let Ok(mut role) = serde_json::from_value::<ClusterRole>(existing.clone()) else { return Reconcile::None };
    if protected(&role.metadata) {
        return Reconcile::None;
    }
    let mut changed = merge_into(&mut role.metadata.annotations, &expected.metadata.annotations);
    changed |= merge_into(&mut role.metadata.labels, &expected.metadata.labels);
    if let Err(missing) = rbac::rule::covers(&role.rules, &expected.rules) {
        role.rules.extend(missing);
        changed = true;
    }
    match (&expected.aggregation_rule, &mut role.aggregation_rule) {
        (None, Some(_)) => {
            role.aggregation_rule = None;
            changed = true;
        }
        (Some(expected), Some(existing)) => {
            for selector in &expected.cluster_role_selectors {
                if !existing.cluster_role_selectors.contains(selector) {
                    existing.cluster_role_selectors.push(selector.clone());
                    changed = true;
                }
            }
        }
        (Some(expected), None) => {
            role.aggregation_rule = Some(expected.clone());
            changed = true;
        }
        (None, None) => {}
    }
    if !changed {
        return Reconcile::None;
    }
    let typed = serde_json::to_value(&role).expect("roles serialize");
    Reconcile::Update(with_fields(existing, typed, &["rules", "aggregationRule"]))
}

/// Reconcile a stored ClusterRoleBinding with the expected bootstrap one.
pub fn reconcile_binding(expected: &ClusterRoleBinding, existing: &Value) -> Reconcile {
    let Ok(mut binding) = serde_json::from_value::<ClusterRoleBinding>(existing.clone()) else {
        return Reconcile::None;
    };
    if protected(&binding.metadata) {
        return Reconcile::None;
    }
    binding.apply_defaults();
    if binding.role_ref != expected.role_ref {
        return Reconcile::Recreate(serde_json::to_value(expected).expect("bindings serialize"));
    }
    let mut changed = merge_into(&mut binding.metadata.annotations, &expected.metadata.annotations);
    changed |= merge_into(&mut binding.metadata.labels, &expected.metadata.labels);
    for subject in &expected.subjects {
        if !binding.subjects.contains(subject) {
            binding.subjects.push(subject.clone());
            changed = true;
        }
    }
    if !changed {
        return Reconcile::None;
    }
    let typed = serde_json::to_value(&binding).expect("bindings serialize");
    Reconcile::Update(with_fields(existing, typed, &["subjects"]))
}

/// Reconcile a stored Role with the expected bootstrap one: a ClusterRole's rules without its
/// aggregation.
pub fn reconcile_role(expected: &Role, existing: &Value) -> Reconcile {
    let expected = ClusterRole {
        api_version: expected.api_version.clone(),
        kind: expected.kind.clone(),
        metadata: expected.metadata.clone(),
        rules: expected.rules.clone(),
        aggregation_rule: None,
        rest: expected.rest.clone(),
    };
    reconcile_cluster_role(&expected, existing)
}

/// Reconcile a stored RoleBinding with the expected bootstrap one, as a ClusterRoleBinding is.
pub fn reconcile_role_binding(expected: &RoleBinding, existing: &Value) -> Reconcile {
    let expected = ClusterRoleBinding {
        api_version: expected.api_version.clone(),
        kind: expected.kind.clone(),
        metadata: expected.metadata.clone(),
        subjects: expected.subjects.clone(),
        role_ref: expected.role_ref.clone(),
        rest: expected.rest.clone(),
    };
    reconcile_binding(&expected, existing)
}

/// Create or reconcile every bootstrap role and binding of `cluster`.
pub(crate) async fn ensure(objects: &Objects) -> Result<(), Status> {
    let def = |resource| objects.resource(RBAC_GROUP, "v1", resource).expect("the RBAC kinds are built in");
    let (cluster_roles, cluster_bindings) = (def("clusterroles"), def("clusterrolebindings"));
    let (roles, bindings) = (def("roles"), def("rolebindings"));
    for expected in rbac::bootstrap::cluster_roles() {
        let value = serde_json::to_value(expected).expect("roles serialize");
        write(objects, &cluster_roles, &expected.metadata, value, |existing| {
            reconcile_cluster_role(expected, existing)
        })
        .await?;
    }
    for expected in rbac::bootstrap::cluster_role_bindings() {
        let value = serde_json::to_value(expected).expect("bindings serialize");
        write(objects, &cluster_bindings, &expected.metadata, value, |existing| reconcile_binding(expected, existing))
            .await?;
    }
    for expected in rbac::bootstrap::roles() {
        let value = serde_json::to_value(expected).expect("roles serialize");
        write(objects, &roles, &expected.metadata, value, |existing| reconcile_role(expected, existing)).await?;
    }
    for expected in rbac::bootstrap::role_bindings() {
        let value = serde_json::to_value(expected).expect("bindings serialize");
        write(objects, &bindings, &expected.metadata, value, |existing| reconcile_role_binding(expected, existing))
            .await?;
    }
    Ok(())
}

/// Create `object` if the one `meta` names is missing, else store what `reconcile` makes of the
/// existing one; a lost race (another replica reconciling) is retried.
async fn write(
    objects: &Objects,
    def: &ResourceDef,
    meta: &rbac::ObjectMeta,
    object: Value,
    reconcile: impl Fn(&Value) -> Reconcile,
) -> Result<(), Status> {
    let (ns, name) = (meta.namespace.as_str(), meta.name.as_str());
    let (target, collection) = (Target::object(def, ns, name), Target::collection(def, ns));
    let mut last = Ok(());
    for _ in 0..5 {
        let mut ctx = privileged_ctx("system:apiserver", "kube-apiserver");
        let attempt = match objects.get(&target).await {
            Err(status) if status.code == 404 => objects.create(&collection, object.clone(), &mut ctx).await.map(drop),
            Err(status) => return Err(status),
            Ok(existing) => match reconcile(&existing) {
                Reconcile::None => Ok(()),
                Reconcile::Update(updated) => objects.update(&target, updated, &mut ctx).await.map(drop),
                Reconcile::Recreate(replacement) => {
                    let options = kube_core::params::DeleteOptions::default();
                    match objects.delete(&target, &options, &mut ctx).await {
                        Ok(_) => objects.create(&collection, replacement, &mut ctx).await.map(drop),
                        Err(status) => Err(status),
                    }
                }
            },
        };
        match attempt {
            Err(status) if status.code == 409 => last = Err(status),
            other => return other,
        }
    }
    last
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expected_role() -> ClusterRole {
        rbac::bootstrap::cluster_roles().iter().find(|r| r.metadata.name == "system:basic-user").unwrap().clone()
    }

    #[test]
    fn missing_rules_are_added_and_user_rules_kept() {
        let expected = expected_role();
        let stored = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "system:basic-user", "uid": "u1", "resourceVersion": "7",
                "labels": {"mine": "yes"}, "annotations": {AUTO_UPDATE: "true"}},
            "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"]}]});
        let Reconcile::Update(updated) = reconcile_cluster_role(&expected, &stored) else { panic!("an update") };
        assert_eq!(updated["metadata"]["uid"], "u1", "metadata is the stored one");
        assert_eq!(updated["metadata"]["resourceVersion"], "7", "the update is conditional");
        assert_eq!(updated["metadata"]["labels"]["mine"], "yes");
        assert_eq!(updated["metadata"]["labels"]["kubernetes.io/bootstrapping"], "rbac-defaults");
        let rules = updated["rules"].as_array().unwrap();
        assert_eq!(rules[0], json!({"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"]}));
        // The bootstrap rules come back broken down: one verb, group and resource each.
        assert!(rules.contains(
            &json!({"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]})
        ));
        assert_eq!(rules.len(), 4);
        // Reconciling the result again changes nothing.
        assert_eq!(reconcile_cluster_role(&expected, &updated), Reconcile::None);
    }

    #[test]
    fn namespaced_roles_and_bindings_reconcile_as_cluster_ones() {
        let reader = rbac::bootstrap::roles()
            .iter()
            .find(|r| r.metadata.name == "extension-apiserver-authentication-reader")
            .unwrap();
        assert_eq!(reader.metadata.namespace, "kube-system");
        let stored = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": reader.metadata.name, "namespace": "kube-system", "uid": "u2"},
            "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}]});
        let Reconcile::Update(updated) = reconcile_role(reader, &stored) else { panic!("an update") };
        assert_eq!((updated["kind"].as_str(), updated["metadata"]["uid"].as_str()), (Some("Role"), Some("u2")));
        assert!(updated.get("aggregationRule").is_none());
        assert_eq!(updated["rules"][0], stored["rules"][0], "the user's rule is kept");
        assert_eq!(reconcile_role(reader, &updated), Reconcile::None);

        let binding = &rbac::bootstrap::role_bindings()[0];
        let mut moved = serde_json::to_value(binding).unwrap();
        moved["roleRef"]["name"] = json!("someone-else");
        let Reconcile::Recreate(replacement) = reconcile_role_binding(binding, &moved) else { panic!("a recreate") };
        assert_eq!(replacement["kind"], "RoleBinding");
        assert_eq!(replacement["roleRef"]["name"], binding.role_ref.name.as_str());
    }

    #[test]
    fn autoupdate_false_is_left_alone() {
        let expected = expected_role();
        let stored =
            json!({"metadata": {"name": "system:basic-user", "annotations": {AUTO_UPDATE: "false"}}, "rules": []});
        assert_eq!(reconcile_cluster_role(&expected, &stored), Reconcile::None);
    }

    #[test]
    fn aggregated_roles_keep_their_rules_and_regain_selectors() {
        let admin = rbac::bootstrap::cluster_roles().iter().find(|r| r.metadata.name == "admin").unwrap();
        let stored = json!({"metadata": {"name": "admin", "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                "annotations": {AUTO_UPDATE: "true"}},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"team": "x"}}]},
            "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]});
        let Reconcile::Update(updated) = reconcile_cluster_role(admin, &stored) else { panic!("an update") };
        assert_eq!(
            updated["aggregationRule"]["clusterRoleSelectors"],
            json!([{"matchLabels": {"team": "x"}}, {"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}}])
        );
        assert_eq!(updated["rules"], stored["rules"], "the aggregation controller owns the rules");
    }

    #[test]
    fn bindings_gain_subjects_and_are_recreated_on_a_new_role_ref() {
        let expected = rbac::bootstrap::cluster_role_bindings()
            .iter()
            .find(|b| b.metadata.name == "system:public-info-viewer")
            .unwrap();
        let stored = json!({"metadata": {"name": "system:public-info-viewer", "annotations": {AUTO_UPDATE: "true"},
                "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:public-info-viewer"},
            "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "added-by-hand"}]});
        let Reconcile::Update(updated) = reconcile_binding(expected, &stored) else { panic!("an update") };
        let names: Vec<&str> =
            updated["subjects"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["added-by-hand", "system:authenticated", "system:unauthenticated"]);
        let mut other = stored.clone();
        other["roleRef"]["name"] = "view".into();
        assert!(matches!(reconcile_binding(expected, &other), Reconcile::Recreate(_)));
        other["metadata"]["annotations"][AUTO_UPDATE] = "false".into();
        assert_eq!(reconcile_binding(expected, &other), Reconcile::None);
    }
}
