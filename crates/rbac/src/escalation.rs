//! Escalation prevention: the checks kube-apiserver's RBAC storage runs on every create and
//! update of a role or a binding, after the request itself was authorized.
//!
//! A Role/ClusterRole write passes if the user is in `system:masters`, may `escalate` the
//! resource, or already holds every permission the new rules grant ("covers", against the user's
//! rules in the object's namespace). A binding write passes if the user is in `system:masters`,
//! may `bind` the referenced role, or holds every permission of the referenced role. The errors
//! carry Kubernetes' exact Forbidden message.
//!
//! As kube-apiserver's `EscalationAllowed`, the `escalate` check asks about the request's
//! RequestInfo, whose name is empty for a create (a POST to the collection): a grant of
//! `escalate` limited by `resourceNames` lets its holder update those roles, never create them.

use go_format::{quote, quote_list};

use crate::attributes::{Attributes, ResourceAttributes, UserInfo};
use crate::authorizer::{Authorizer, RoleKey, aggregate_errors};
use crate::error::RbacError;
use crate::rule::{compact, compact_string, covers};
use crate::types::{CLUSTER_ROLE_KIND, ClusterRole, ClusterRoleBinding, GROUP, PolicyRule, Role, RoleBinding, RoleRef};

/// What an aggregationRule needs the writer to hold: everything.
fn full_authority() -> [PolicyRule; 2] {
    [PolicyRule::resource(&["*"], &["*"], &["*"]), PolicyRule::non_resource(&["*"], &["*"])]
}

/// Whether `user` may `verb` (`escalate` or `bind`) the RBAC resource `resource` named `name`.
fn may(authz: &Authorizer, user: &UserInfo, verb: &str, resource: &str, namespace: &str, name: &str) -> bool {
    let attrs = Attributes::resource(
        user.clone(),
        verb,
        ResourceAttributes {
            api_version: "*".into(),
            ..ResourceAttributes::new(namespace, GROUP, resource).with_name(name)
        },
    );
    authz.authorize(&attrs).is_allowed()
}

/// Kubernetes' `ConfirmNoEscalation`: the message naming the permissions `user` lacks, if any.
fn confirm_no_escalation(
    authz: &Authorizer,
    user: &UserInfo,
    namespace: &str,
    rules: &[PolicyRule],
) -> Result<(), String> {
    let (owner, missing_roles) = authz.rules_for(user, namespace);
    let Err(missing) = covers(&owner, rules) else { return Ok(()) };
    let mut descriptions: Vec<String> = compact(&missing, false).iter().map(compact_string).collect();
    descriptions.sort();
    descriptions.dedup();
    let mut msg = format!(
        "user {} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        quote(&user.name),
        quote_list(&user.groups),
        descriptions.join("\n")
    );
    if let Some(errors) = aggregate_errors(&missing_roles) {
        msg.push_str(&format!("; resolution errors: [{errors}]"));
    }
    Err(msg)
}

/// The check for creating or updating a Role in `namespace` with these `rules`; `request_name`
/// is the name in the request's URL (empty for a create).
pub fn confirm_role_write(
    authz: &Authorizer,
    user: &UserInfo,
    role: &Role,
    request_name: &str,
) -> Result<(), RbacError> {
    let (namespace, name) = (&role.metadata.namespace, &role.metadata.name);
    if user.is_privileged() || may(authz, user, "escalate", "roles", namespace, request_name) {
        return Ok(());
    }
    confirm_no_escalation(authz, user, namespace, &role.rules).map_err(|message| RbacError::Forbidden {
        resource: "roles",
        name: name.clone(),
        message,
    })
}

/// The check for creating (`old` = None, `request_name` empty) or updating a ClusterRole. An
/// aggregationRule on the new or the old object also needs full authority. Callers skip the
/// check when an update changes only ownerReferences and finalizers, as Kubernetes does.
pub fn confirm_cluster_role_write(
    authz: &Authorizer,
    user: &UserInfo,
    role: &ClusterRole,
    old: Option<&ClusterRole>,
    request_name: &str,
) -> Result<(), RbacError> {
    let name = &role.metadata.name;
    if user.is_privileged() || may(authz, user, "escalate", "clusterroles", "", request_name) {
        return Ok(());
    }
    let forbidden = |message| RbacError::Forbidden { resource: "clusterroles", name: name.clone(), message };
    confirm_no_escalation(authz, user, "", &role.rules).map_err(forbidden)?;
    let aggregates = role.aggregation_rule.is_some() || old.is_some_and(|o| o.aggregation_rule.is_some());
    if aggregates && confirm_no_escalation(authz, user, "", &full_authority()).is_err() {
        return Err(forbidden("must have cluster-admin privileges to use the aggregationRule".into()));
    }
    Ok(())
}

fn confirm_binding(
    authz: &Authorizer,
    user: &UserInfo,
    resource: &'static str,
    namespace: &str,
    name: &str,
    role_ref: &RoleRef,
) -> Result<(), RbacError> {
    if user.is_privileged() {
        return Ok(());
    }
    let role_resource = if role_ref.kind == CLUSTER_ROLE_KIND { "clusterroles" } else { "roles" };
    let bind = Attributes::resource(
        user.clone(),
        "bind",
        ResourceAttributes {
            api_version: "*".into(),
            ..ResourceAttributes::new(namespace, &role_ref.api_group, role_resource).with_name(&role_ref.name)
        },
    );
    if authz.authorize(&bind).is_allowed() {
        return Ok(());
    }
    let key = RoleKey::of(role_ref, namespace);
    let Some(rules) = authz.role_rules(&key) else {
        return Err(RbacError::NotFound { resource: role_resource, name: role_ref.name.clone() });
    };
    confirm_no_escalation(authz, user, namespace, &rules).map_err(|message| RbacError::Forbidden {
        resource,
        name: name.into(),
        message,
    })
}

/// The check for creating or updating a RoleBinding.
pub fn confirm_role_binding_write(authz: &Authorizer, user: &UserInfo, binding: &RoleBinding) -> Result<(), RbacError> {
    let meta = &binding.metadata;
    confirm_binding(authz, user, "rolebindings", &meta.namespace, &meta.name, &binding.role_ref)
}

/// The check for creating or updating a ClusterRoleBinding.
pub fn confirm_cluster_role_binding_write(
    authz: &Authorizer,
    user: &UserInfo,
    binding: &ClusterRoleBinding,
) -> Result<(), RbacError> {
    confirm_binding(authz, user, "clusterrolebindings", "", &binding.metadata.name, &binding.role_ref)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Subject;

    fn setup() -> Authorizer {
        let authz = Authorizer::new();
        authz.upsert_role(&Role::new(
            "dev",
            "deployer",
            vec![PolicyRule::resource(&["get", "create"], &["apps"], &["deployments"])],
        ));
        authz.upsert_role_binding(&RoleBinding::new(
            "dev",
            "jane-deployer",
            RoleRef::role("deployer"),
            vec![Subject::user("jane")],
        ));
        authz
    }

    #[test]
    fn covered_rules_pass_and_others_are_named() {
        let authz = setup();
        let jane = UserInfo::new("jane", &["dev", "system:authenticated"]);
        let ok = Role::new("dev", "r", vec![PolicyRule::resource(&["get"], &["apps"], &["deployments"])]);
        assert_eq!(confirm_role_write(&authz, &jane, &ok, "r"), Ok(()));
        let too_much = Role::new(
            "dev",
            "r",
            vec![PolicyRule::resource(&["get", "delete", "patch"], &["apps"], &["deployments", "replicasets"])],
        );
        let err = confirm_role_write(&authz, &jane, &too_much, "r").unwrap_err();
        assert_eq!(err.code(), 403);
        assert_eq!(
            err.to_string(),
            "roles.rbac.authorization.k8s.io \"r\" is forbidden: user \"jane\" (groups=[\"dev\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n\
             {APIGroups:[\"apps\"], Resources:[\"deployments\"], Verbs:[\"delete\" \"patch\"]}\n\
             {APIGroups:[\"apps\"], Resources:[\"replicasets\"], Verbs:[\"get\" \"delete\" \"patch\"]}"
        );
        // Rules held in another namespace do not count.
        let elsewhere = Role::new("prod", "r", vec![PolicyRule::resource(&["get"], &["apps"], &["deployments"])]);
        assert!(confirm_role_write(&authz, &jane, &elsewhere, "r").is_err());
        assert!(confirm_role_write(&authz, &UserInfo::new("root", &["system:masters"]), &elsewhere, "").is_ok());
    }

    #[test]
    fn escalate_and_bind_verbs() {
        let authz = setup();
        authz.upsert_cluster_role(&ClusterRole::new("admin-ish", vec![PolicyRule::resource(&["*"], &["*"], &["*"])]));
        authz.upsert_cluster_role(&ClusterRole::new(
            "escalator",
            vec![
                PolicyRule::resource(&["escalate"], &[GROUP], &["clusterroles"]).with_names(&["named"]),
                PolicyRule::resource(&["bind"], &[GROUP], &["clusterroles"]).with_names(&["admin-ish"]),
            ],
        ));
        authz.upsert_cluster_role_binding(&ClusterRoleBinding::new(
            "e",
            RoleRef::cluster_role("escalator"),
            vec![Subject::user("eve")],
        ));
        let eve = UserInfo::new("eve", &[]);
        let big = ClusterRole::new("named", vec![PolicyRule::resource(&["*"], &["*"], &["*"])]);
        assert!(confirm_cluster_role_write(&authz, &eve, &big, None, "named").is_ok());
        let other = ClusterRole::new("other", big.rules.clone());
        assert!(confirm_cluster_role_write(&authz, &eve, &other, None, "other").is_err());
        let crb = ClusterRoleBinding::new("x", RoleRef::cluster_role("admin-ish"), vec![Subject::user("eve")]);
        assert!(confirm_cluster_role_binding_write(&authz, &eve, &crb).is_ok());
        let rb = RoleBinding::new("dev", "x", RoleRef::role("deployer"), vec![Subject::user("eve")]);
        let err = confirm_role_binding_write(&authz, &eve, &rb).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("rolebindings.rbac.authorization.k8s.io \"x\" is forbidden: user \"eve\" (groups=[])")
        );
        // Binding a role whose rules the user holds is fine.
        let own = RoleBinding::new("dev", "y", RoleRef::cluster_role("escalator"), vec![Subject::user("eve")]);
        assert!(confirm_role_binding_write(&authz, &eve, &own).is_ok());
        let ghost = RoleBinding::new("dev", "x", RoleRef::role("ghost"), vec![]);
        let err = confirm_role_binding_write(&authz, &eve, &ghost).unwrap_err();
        assert_eq!(
            (err.code(), err.to_string()),
            (404, "roles.rbac.authorization.k8s.io \"ghost\" not found".to_string())
        );
    }

    #[test]
    fn aggregation_needs_everything() {
        let authz = setup();
        authz.upsert_cluster_role(&ClusterRole::new(
            "resources-only",
            vec![PolicyRule::resource(&["*"], &["*"], &["*"]).clone()],
        ));
        authz.upsert_cluster_role_binding(&ClusterRoleBinding::new(
            "b",
            RoleRef::cluster_role("resources-only"),
            vec![Subject::user("ann")],
        ));
        let mut agg = ClusterRole::new("agg", vec![]);
        agg.aggregation_rule = Some(Default::default());
        // `*` on `*.*` holds `escalate` on clusterroles, so even the aggregationRule passes.
        assert!(confirm_cluster_role_write(&authz, &UserInfo::new("ann", &[]), &agg, None, "").is_ok());
        authz.upsert_cluster_role(&ClusterRole::new(
            "resources-only",
            vec![PolicyRule::resource(&["get", "list"], &["*"], &["*"])],
        ));
        let err = confirm_cluster_role_write(&authz, &UserInfo::new("ann", &[]), &agg, None, "").unwrap_err();
        assert_eq!(
            err.to_string(),
            "clusterroles.rbac.authorization.k8s.io \"agg\" is forbidden: must have cluster-admin privileges to use the aggregationRule"
        );
    }
}
