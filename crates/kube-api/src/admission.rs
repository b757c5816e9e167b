//! Admission: the hooks every write passes after validation and before storage, as
//! kube-apiserver's admission chain (mutating hooks first, then validating ones). Other crates
//! plug their checks in here (RBAC escalation prevention, aws-auth validation); the built-in
//! NamespaceLifecycle plugin lives here too.

use std::sync::Arc;

use async_trait::async_trait;
use kube_core::{GroupResource, Status, meta};
use serde_json::Value;

use crate::registry::ResourceDef;
use crate::storage::ObjectStore;

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
}

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
            if request.resource.kind == "Event" {
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

/// Service address allocation (kube-apiserver's ClusterIP and NodePort allocators): a new
/// Service gets a free address in the service CIDR (`10.100.0.0/16`, as EKS's default) and
/// free node ports for NodePort and LoadBalancer services.
pub struct ServiceAllocator {
    objects: ObjectStore,
    services: Arc<ResourceDef>,
}

impl ServiceAllocator {
    pub fn new(objects: ObjectStore, services: Arc<ResourceDef>) -> Self {
        ServiceAllocator { objects, services }
    }
}

#[async_trait]
impl AdmissionHook for ServiceAllocator {
    fn name(&self) -> &str {
        "ServiceAllocator"
    }

    async fn mutate(&self, request: &AdmissionRequest<'_>, object: &mut Value) -> Result<(), Status> {
        if request.operation != Operation::Create
            || request.resource.kind != "Service"
            || !request.resource.group.is_empty()
        {
            return Ok(());
        }
        let type_ = object.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP").to_string();
        let needs_ports = type_ == "NodePort" || type_ == "LoadBalancer";
        let given_ip = object.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or_default().to_string();
        if type_ == "ExternalName" || (!given_ip.is_empty() && !needs_ports) {
            if given_ip == "None" {
                object["spec"]["clusterIPs"] = serde_json::json!(["None"]);
                object["spec"]["ipFamilies"] = serde_json::json!(["IPv4"]);
                object["spec"]["ipFamilyPolicy"] = "SingleStack".into();
            }
            return Ok(());
        }
        let prefix = self.objects.collection(&self.services, "");
        let (kvs, _, _) = self.objects.list(&prefix, None, 0, 0).await?;
        let mut used_ips = std::collections::HashSet::new();
        let mut used_ports = std::collections::HashSet::new();
        for kv in kvs {
            let Ok(svc) = serde_json::from_slice::<Value>(&kv.value) else { continue };
            if let Some(ip) = svc.pointer("/spec/clusterIP").and_then(Value::as_str) {
                used_ips.insert(ip.to_string());
            }
            for port in svc.pointer("/spec/ports").and_then(Value::as_array).into_iter().flatten() {
                if let Some(p) = port.get("nodePort").and_then(Value::as_i64) {
                    used_ports.insert(p);
                }
            }
        }
        if given_ip.is_empty() {
            let ip = (10..65534u32)
                .map(|n| format!("10.100.{}.{}", n / 256, n % 256))
                .find(|ip| !used_ips.contains(ip))
                .ok_or_else(|| Status::internal("failed to allocate a serviceIP: range is full"))?;
            object["spec"]["clusterIP"] = ip.clone().into();
            object["spec"]["clusterIPs"] = serde_json::json!([ip]);
        } else {
            object["spec"]["clusterIPs"] = serde_json::json!([given_ip]);
        }
        object["spec"]["ipFamilies"] = serde_json::json!(["IPv4"]);
        object["spec"]["ipFamilyPolicy"] = "SingleStack".into();
        if needs_ports {
            let mut next = 30000i64;
            if let Some(ports) = object.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
                for port in ports {
                    if port.get("nodePort").and_then(Value::as_i64).is_some() {
                        continue;
                    }
                    while used_ports.contains(&next) {
                        next += 1;
                    }
                    if next > 32767 {
                        return Err(Status::internal("failed to allocate a nodePort: range is full"));
                    }
                    port["nodePort"] = next.into();
                    used_ports.insert(next);
                }
            }
        }
        Ok(())
    }
}
