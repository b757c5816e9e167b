//! The cluster as the controllers act on it: the resources they use, resolved once, and who
//! each component is when it writes (the kubelet as `system:node:<node>`, the scheduler as
//! `system:kube-scheduler`, the controllers as their kube-controller-manager service
//! accounts), so managed fields and audit name the same actors as on a real cluster.

use std::sync::Arc;

use kube_api::registry::ResourceDef;
use kube_api::{Ctx, Objects, Target};
use kube_core::Status;
use kube_core::params::DeleteOptions;
use kube_patch::PatchType;
use serde_json::Value;

use crate::cache::Kind;
use crate::error::WorkloadsError;

/// The scheduler's user name (the binding admission hook trusts status writes only from it).
pub(crate) const SCHEDULER_USER: &str = "system:kube-scheduler";

pub(crate) struct Api {
    pub objects: Arc<Objects>,
    pub pods: Arc<ResourceDef>,
    pub nodes: Arc<ResourceDef>,
    pub events: Arc<ResourceDef>,
    pub replicasets: Arc<ResourceDef>,
    pub deployments: Arc<ResourceDef>,
    pub services: Arc<ResourceDef>,
    pub configmaps: Arc<ResourceDef>,
    pub secrets: Arc<ResourceDef>,
}

impl Api {
    pub(crate) fn new(objects: &Arc<Objects>) -> Result<Self, WorkloadsError> {
        let def = |group: &str, plural: &'static str| {
            let version = "v1";
            objects.resource(group, version, plural).ok_or(WorkloadsError::MissingResource { resource: plural })
        };
        Ok(Self {
            objects: Arc::clone(objects),
            pods: def("", "pods")?,
            nodes: def("", "nodes")?,
            events: def("", "events")?,
            replicasets: def("apps", "replicasets")?,
            deployments: def("apps", "deployments")?,
            services: def("", "services")?,
            configmaps: def("", "configmaps")?,
            secrets: def("", "secrets")?,
        })
    }

    pub(crate) fn def(&self, kind: Kind) -> &ResourceDef {
        match kind {
            Kind::Pod => &self.pods,
            Kind::Node => &self.nodes,
            Kind::ReplicaSet => &self.replicasets,
            Kind::Deployment => &self.deployments,
            Kind::Service => &self.services,
        }
    }

    /// Replaces an object's status (the `status` subresource), whatever its resourceVersion:
    /// the component writing is the status's only author.
    pub(crate) async fn write_status(
        &self,
        def: &ResourceDef,
        object: &Value,
        status: Value,
        ctx: &mut Ctx,
    ) -> Result<Value, Status> {
        let mut body = serde_json::json!({
            "apiVersion": def.api_version(),
            "kind": def.kind,
            "metadata": {"name": kube_core::meta::name(object), "namespace": kube_core::meta::namespace(object)},
            "status": status,
        });
        if !def.namespaced {
            body["metadata"].as_object_mut().map(|m| m.remove("namespace"));
        }
        let namespace = if def.namespaced { kube_core::meta::namespace(object) } else { "" };
        self.objects
            .update(&Target::object(def, namespace, kube_core::meta::name(object)).subresource("status"), body, ctx)
            .await
            .map(|(stored, _)| stored)
    }

    /// A JSON merge patch of an object.
    pub(crate) async fn merge_patch(
        &self,
        def: &ResourceDef,
        namespace: &str,
        name: &str,
        patch: &Value,
        ctx: &mut Ctx,
    ) -> Result<Value, Status> {
        let body = serde_json::to_vec(patch).expect("JSON values serialize");
        self.objects
            .patch(&Target::object(def, namespace, name), PatchType::Merge, &body, ctx)
            .await
            .map(|(stored, _)| stored)
    }

    /// Deletes an object if it is still the one with `uid` (a newer object of the same name is
    /// left alone); `grace` overrides the grace period.
    pub(crate) async fn delete(
        &self,
        def: &ResourceDef,
        object: &Value,
        grace: Option<i64>,
        ctx: &mut Ctx,
    ) -> Result<(), Status> {
        let options = DeleteOptions {
            grace_period_seconds: grace,
            precondition_uid: Some(kube_core::meta::uid(object).to_string()),
            ..Default::default()
        };
        let namespace = if def.namespaced { kube_core::meta::namespace(object) } else { "" };
        self.objects
            .delete(&Target::object(def, namespace, kube_core::meta::name(object)), &options, ctx)
            .await
            .map(|_| ())
    }
}

/// Who a component is when it writes.
pub(crate) fn component(user: &str, groups: &[&str], manager: &str, agent: &str) -> Ctx {
    let mut groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    groups.push("system:authenticated".into());
    Ctx {
        user: rbac::UserInfo { name: user.to_string(), groups, ..Default::default() },
        user_agent: format!("{agent}/v1.32.0 (linux/amd64) kubernetes/rampart"),
        field_manager: Some(manager.to_string()),
        ..Default::default()
    }
}

/// The kubelet of `node`.
pub(crate) fn kubelet(node: &str) -> Ctx {
    component(&format!("system:node:{node}"), &["system:nodes"], "kubelet", "kubelet")
}

pub(crate) fn scheduler() -> Ctx {
    component(SCHEDULER_USER, &[], "kube-scheduler", "kube-scheduler")
}

/// A kube-controller-manager controller (`replicaset-controller`, `deployment-controller`, ...).
pub(crate) fn controller(name: &str) -> Ctx {
    component(
        &format!("system:serviceaccount:kube-system:{name}"),
        &["system:serviceaccounts", "system:serviceaccounts:kube-system"],
        "kube-controller-manager",
        "kube-controller-manager",
    )
}
