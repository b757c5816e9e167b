//! Connect subresources (`pods/log`, `pods/exec`, `pods/attach`, `pods/portforward`,
//! `*/proxy`): requests the server authenticates and authorizes, then hands whole to a handler
//! another part of Rampart registers (the simulated kubelet serves logs and exec).

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::response::Response;

use crate::storage::objects::Objects;

/// An authenticated, authorized request for a connect subresource.
pub struct ConnectRequest {
    /// The cluster's object service (to read the pod).
    pub objects: Arc<Objects>,
    pub namespace: String,
    pub name: String,
    pub resource: String,
    pub subresource: String,
    /// Who asks (after impersonation).
    pub user: rbac::UserInfo,
    /// The request itself (method, query, headers, body; upgradable).
    pub request: http::Request<Body>,
}

/// Serves one connect subresource.
#[async_trait]
pub trait ConnectHandler: Send + Sync {
    async fn connect(&self, request: ConnectRequest) -> Response;
}
