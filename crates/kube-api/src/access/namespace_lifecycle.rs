//! kube-apiserver's NamespaceLifecycle admission plugin, built into every cluster: nothing is
//! created in a namespace that does not exist or is being deleted.

use std::sync::Arc;

use async_trait::async_trait;
use kube_core::{GroupResource, Status, meta};
use serde_json::Value;

use crate::registry::{ResourceDef, kinds};
use crate::storage::admission::{AdmissionHook, AdmissionRequest, Operation};
use crate::storage::object_store::ObjectStore;

/// kube-apiserver's NamespaceLifecycle plugin: nothing is created in a namespace that does not
/// exist or is being deleted.
pub struct NamespaceLifecycle {
    objects: ObjectStore,
    namespaces: Arc<ResourceDef>,
}

impl NamespaceLifecycle {
    pub fn new(objects: ObjectStore, namespaces: Arc<ResourceDef>) -> Self {
        NamespaceLifecycle { objects, namespaces }
    }
}

#[async_trait]
impl AdmissionHook for NamespaceLifecycle {
    fn name(&self) -> &str {
        "NamespaceLifecycle"
    }

    async fn validate(&self, request: &AdmissionRequest<'_>, _object: &Value) -> Result<(), Status> {
        if request.operation != Operation::Create || !request.resource.namespaced || request.namespace.is_empty() {
            return Ok(());
        }
        let key = self.objects.key(&self.namespaces, "", &request.namespace);
        let Some(ns) = self.objects.get(&key).await? else {
            return Err(Status::not_found(&GroupResource::new("", "namespaces"), &request.namespace));
        };
        let terminating = meta::deletion_timestamp(&ns.object).is_some()
            || ns.object.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating");
        if terminating {
            // Events about the namespace's own teardown are still allowed.
            if request.resource.is(kinds::EVENT) {
                return Ok(());
            }
            return Err(Status::forbidden(
                &request.resource.group_resource(),
                &request.name,
                &format!(
                    "unable to create new content in namespace {} because it is being terminated",
                    request.namespace
                ),
            ));
        }
        Ok(())
    }
}
