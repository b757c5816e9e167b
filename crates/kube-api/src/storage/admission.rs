//! The admission chain of the object service: the hooks every write passes after validation and
//! before storage, as kube-apiserver's admission chain (every hook's mutation first, then every
//! hook's validation, then their warnings). This is the contract; the hooks themselves live with what they check
//! (NamespaceLifecycle and RBAC escalation in `access`, service allocation in
//! `storage::allocator`, aws-auth validation in `eks`, scheduling in `workloads`).

use async_trait::async_trait;
use kube_core::Status;
use serde_json::Value;

use crate::registry::ResourceDef;

/// What a write does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

/// The request a hook decides on.
pub struct AdmissionRequest<'a> {
    pub operation: Operation,
    pub resource: &'a ResourceDef,
    /// `""` for the main resource, `status`, `scale`, ...
    pub subresource: &'a str,
    pub namespace: String,
    pub name: String,
    pub user: &'a rbac::UserInfo,
    pub dry_run: bool,
    /// The stored object (updates and deletes).
    pub old: Option<&'a Value>,
}

/// One admission plugin. Both steps default to "admit".
#[async_trait]
pub trait AdmissionHook: Send + Sync {
    /// The plugin's name, for logs.
    fn name(&self) -> &str;

    /// Change the object before validation by the other hooks.
    async fn mutate(&self, _request: &AdmissionRequest<'_>, _object: &mut Value) -> Result<(), Status> {
        Ok(())
    }

    /// Accept or refuse the object (a refusal is the Status the client gets).
    async fn validate(&self, _request: &AdmissionRequest<'_>, _object: &Value) -> Result<(), Status> {
        Ok(())
    }

    /// Advisories about an object every hook admitted, sent back as `Warning` headers (kubectl
    /// prints each as `Warning: …`), as kube-apiserver's admission warnings are.
    async fn warnings(&self, _request: &AdmissionRequest<'_>, _object: &Value) -> Vec<String> {
        vec![]
    }
}
