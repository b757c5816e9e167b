//! The errors RBAC hands the API server, each carrying the HTTP status, the Status `reason` and
//! the message kube-apiserver itself would answer with.

use go_format::quote;

use crate::types::GROUP;
use crate::validation::{FieldError, invalid_message};

/// Everything this crate refuses. `Display` is kube-apiserver's Status message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RbacError {
    /// A write of a role or binding would grant permissions the requester does not hold (or uses
    /// an aggregationRule without cluster-admin authority).
    #[error("{resource}.{GROUP} {name_q} is forbidden: {message}", name_q = quote(name))]
    Forbidden {
        /// `roles`, `clusterroles`, `rolebindings` or `clusterrolebindings`.
        resource: &'static str,
        name: String,
        message: String,
    },
    /// A binding being written names a role that does not exist, so it cannot be checked.
    #[error("{resource}.{GROUP} {name_q} not found", name_q = quote(name))]
    NotFound { resource: &'static str, name: String },
    /// An object failed validation.
    #[error("{}", invalid_message(kind, name, errors))]
    Invalid { kind: &'static str, name: String, errors: Vec<FieldError> },
}

impl RbacError {
    /// The HTTP status code of the Status.
    pub fn code(&self) -> u16 {
        match self {
            RbacError::Forbidden { .. } => 403,
            RbacError::NotFound { .. } => 404,
            RbacError::Invalid { .. } => 422,
        }
    }

    /// The Status `reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            RbacError::Forbidden { .. } => "Forbidden",
            RbacError::NotFound { .. } => "NotFound",
            RbacError::Invalid { .. } => "Invalid",
        }
    }

    /// The Status `details`: `{name, group, kind}` (kind is the resource for Forbidden and
    /// NotFound, the kind for Invalid) and, for Invalid, the causes.
    pub fn details(&self) -> serde_json::Value {
        match self {
            RbacError::Forbidden { resource, name, .. } | RbacError::NotFound { resource, name } => {
                serde_json::json!({"name": name, "group": GROUP, "kind": resource})
            }
            RbacError::Invalid { kind, name, errors } => {
                let causes: Vec<serde_json::Value> = errors
                    .iter()
                    .map(|e| serde_json::json!({"reason": e.error_type.cause_type(), "message": e.body(), "field": e.field}))
                    .collect();
                serde_json::json!({"name": name, "group": GROUP, "kind": kind, "causes": causes})
            }
        }
    }
}
