//! Service address allocation as an admission hook of the object service (kube-apiserver's
//! ClusterIP and NodePort allocators).

use std::sync::Arc;

use async_trait::async_trait;
use kube_core::Status;
use serde_json::Value;

use crate::registry::ResourceDef;
use crate::storage::admission::{AdmissionHook, AdmissionRequest, Operation};
use crate::storage::object_store::ObjectStore;

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
