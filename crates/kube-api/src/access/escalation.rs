//! RBAC escalation prevention, built into every cluster as an admission step on the writes of
//! Roles, ClusterRoles, RoleBindings and ClusterRoleBindings (create, update, patch, apply, and
//! their server-side dry runs), as kube-apiserver's `policybased` RBAC storage does after the
//! request itself was authorized: a role's rules must be covered by the writer's own rules unless
//! the writer may `escalate` it; a binding's role must be covered unless the writer may `bind`
//! it; `system:masters` skips both. The `escalate` check uses the request's name, empty on a
//! create, as kube-apiserver's RequestInfo does (a `resourceNames`-limited grant never covers a
//! create). The checks and their messages are the `rbac` crate's
//! (`confirm_*_write`); an update that changes only what the garbage collector changes
//! (ownerReferences, finalizers) is not checked.

use std::sync::Arc;

use async_trait::async_trait;
use kube_core::Status;
use rbac::{ClusterRole, ClusterRoleBinding, RbacError, Role, RoleBinding};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::registry::kinds::RBAC_GROUP;
use crate::storage::admission::{AdmissionHook, AdmissionRequest, Operation};

/// The escalation check over a cluster's RBAC index.
pub struct EscalationCheck {
    index: Arc<rbac::Authorizer>,
}

impl EscalationCheck {
    pub fn new(index: Arc<rbac::Authorizer>) -> Self {
        EscalationCheck { index }
    }
}

fn parse<T: DeserializeOwned>(object: &Value) -> Result<T, Status> {
    serde_json::from_value(object.clone()).map_err(|e| Status::bad_request(format!("decoding the RBAC object: {e}")))
}

/// The Status of a refused RBAC write.
fn status(error: RbacError) -> Status {
    let details = serde_json::from_value(error.details()).unwrap_or_default();
    Status::failure(error.code(), error.reason(), error.to_string(), details)
}

/// Whether `new` differs from `old` only in the fields the garbage collector writes (and the
/// server's bookkeeping): kube-apiserver's `IsOnlyMutatingGCFields`.
fn only_gc_fields(new: &Value, old: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(metadata) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in ["ownerReferences", "finalizers", "managedFields", "resourceVersion", "generation"] {
                metadata.remove(field);
            }
        }
        v
    };
    strip(new) == strip(old)
}

#[async_trait]
impl AdmissionHook for EscalationCheck {
    fn name(&self) -> &str {
        "RBACEscalation"
    }

    async fn validate(&self, request: &AdmissionRequest<'_>, object: &Value) -> Result<(), Status> {
        let def = request.resource;
        if def.group != RBAC_GROUP || !request.subresource.is_empty() {
            return Ok(());
        }
        match request.operation {
            Operation::Create => {}
            Operation::Update if request.old.is_some_and(|old| only_gc_fields(object, old)) => return Ok(()),
            Operation::Update => {}
            Operation::Delete | Operation::Connect => return Ok(()),
        }
        let user = request.user;
        let index = &self.index;
        // kube-apiserver asks `escalate` with the request's RequestInfo: no name on a create.
        let request_name = if request.operation == Operation::Create { "" } else { request.name.as_str() };
        let checked = match def.kind.as_str() {
            "Role" => rbac::confirm_role_write(index, user, &parse::<Role>(object)?, request_name),
            "ClusterRole" => {
                let old = request.old.map(parse::<ClusterRole>).transpose()?;
                rbac::confirm_cluster_role_write(
                    index,
                    user,
                    &parse::<ClusterRole>(object)?,
                    old.as_ref(),
                    request_name,
                )
            }
            "RoleBinding" => {
                let mut binding = parse::<RoleBinding>(object)?;
                binding.apply_defaults();
                rbac::confirm_role_binding_write(index, user, &binding)
            }
            "ClusterRoleBinding" => {
                let mut binding = parse::<ClusterRoleBinding>(object)?;
                binding.apply_defaults();
                rbac::confirm_cluster_role_binding_write(index, user, &binding)
            }
            _ => Ok(()),
        };
        checked.map_err(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gc_only_updates_are_recognised() {
        let old = json!({"metadata": {"name": "r", "resourceVersion": "3"}, "rules": []});
        let owned = json!({"metadata": {"name": "r", "resourceVersion": "4", "ownerReferences": [{"uid": "u"}],
            "finalizers": ["f"]}, "rules": []});
        assert!(only_gc_fields(&owned, &old));
        let more = json!({"metadata": {"name": "r"}, "rules": [{"verbs": ["*"]}]});
        assert!(!only_gc_fields(&more, &old));
        let labelled = json!({"metadata": {"name": "r", "labels": {"a": "b"}}, "rules": []});
        assert!(!only_gc_fields(&labelled, &old));
    }
}
