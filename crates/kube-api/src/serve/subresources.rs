//! Subresources with their own shapes: `scale` (an `autoscaling/v1` Scale over a workload's
//! replicas, for deployments, replicasets and custom resources with a scale subresource),
//! `pods/binding`, `pods/eviction` and `serviceaccounts/token` (TokenRequest).

use axum::response::Response;
use chrono::Utc;
use http::StatusCode;
use kube_core::params::DeleteOptions;
use kube_core::selector::LabelSelector;
use kube_core::table::jsonpath;
use kube_core::{FieldError, GroupKind, Status, meta};
use kube_patch::{PatchType, Schema};
use serde_json::{Value, json};

use crate::access::authn::ServiceAccountToken;
use crate::cluster::Cluster;
use crate::registry::ResourceDef;
use crate::serve::decode::decode_body;
use crate::serve::responses::json_response;
use crate::storage::objects::{Ctx, Objects, Target, Write, patch_status};

/// Where a workload keeps its replica counts and selector.
struct ScalePaths {
    spec: String,
    status: String,
    selector: Option<String>,
}

fn scale_paths(def: &ResourceDef) -> ScalePaths {
    match def.custom.as_ref().and_then(|c| c.scale.clone()) {
        Some((spec, status, selector)) => ScalePaths { spec, status, selector },
        None => ScalePaths { spec: ".spec.replicas".into(), status: ".status.replicas".into(), selector: None },
    }
}

fn pointer(path: &str) -> String {
    path.trim_start_matches('.').split('.').map(|p| format!("/{p}")).collect()
}

/// The Scale of a workload.
fn to_scale(def: &ResourceDef, object: &Value) -> Value {
    let paths = scale_paths(def);
    let replicas = |p: &str| jsonpath(object, p).first().and_then(|v| v.as_i64()).unwrap_or(0);
    let selector = match &paths.selector {
        Some(p) => jsonpath(object, p).first().and_then(|v| v.as_str()).unwrap_or_default().to_string(),
        None => LabelSelector::from_object(object.pointer("/spec/selector"))
            .ok()
            .flatten()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    };
    let m = |f: &str| object.pointer(&format!("/metadata/{f}")).cloned().unwrap_or(Value::Null);
    let mut metadata = json!({"name": m("name"), "namespace": m("namespace"), "uid": m("uid"), "resourceVersion": m("resourceVersion"), "creationTimestamp": m("creationTimestamp")});
    if !def.namespaced {
        metadata.as_object_mut().map(|o| o.remove("namespace"));
    }
    let mut status = json!({"replicas": replicas(&paths.status)});
    if !selector.is_empty() {
        status["selector"] = selector.into();
    }
    json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": metadata, "spec": {"replicas": replicas(&paths.spec)}, "status": status})
}

/// A request to a workload's `scale`: its verb, and for a write its body (a Scale, or a patch of
/// one) and how it is encoded.
pub struct ScaleRequest<'a> {
    pub verb: &'a str,
    pub patch_type: Option<PatchType>,
    pub content_type: &'a str,
    pub body: &'a [u8],
}

/// GET, PUT or PATCH of a workload's scale.
pub async fn scale(
    objects: &Objects,
    target: &Target<'_>,
    request: ScaleRequest<'_>,
    ctx: &mut Ctx,
) -> Result<Value, Status> {
    let (def, name) = (target.def, target.name);
    let ScaleRequest { verb, patch_type, content_type, body } = request;
    if verb == "get" {
        let object = objects.get(target).await?;
        return Ok(to_scale(def, &object));
    }
    let manager = ctx.manager();
    let given: Option<Value> = match patch_type {
        None => {
            let headers = {
                let mut h = http::HeaderMap::new();
                if let Ok(v) = http::HeaderValue::from_str(content_type) {
                    h.insert(http::header::CONTENT_TYPE, v);
                }
                h
            };
            let scale_def =
                ResourceDef { kind: "Scale".into(), group: "autoscaling".into(), version: "v1".into(), ..def.clone() };
            Some(decode_body(&scale_def, &headers, body)?)
        }
        Some(_) => None,
    };
    let paths = scale_paths(def);
    let (stored, _) = objects
        .guaranteed_update(target, ctx, |current| {
            let Some(current) = current else { return Ok(None) };
            let current_scale = to_scale(def, current);
            let new_scale = match (&given, patch_type) {
                (Some(scale), _) => {
                    let rv = meta::resource_version(scale);
                    if !rv.is_empty() && rv != meta::resource_version(current) {
                        return Err(Status::update_conflict(&def.group_resource(), name));
                    }
                    scale.clone()
                }
                (None, Some(t)) => {
                    let t = if t == PatchType::StrategicMerge { PatchType::Merge } else { t };
                    if t == PatchType::Apply {
                        return Err(Status::unsupported_media_type(kube_core::media::PATCH_TYPES));
                    }
                    kube_patch::apply_patch(&current_scale, body, t, &Schema::deduced()).map_err(patch_status)?
                }
                (None, None) => current_scale.clone(),
            };
            let replicas = new_scale.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0);
            if replicas < 0 {
                return Err(Status::invalid(
                    &GroupKind::new("autoscaling", "Scale"),
                    name,
                    &[FieldError::invalid_raw(
                        "spec.replicas",
                        replicas.to_string(),
                        "must be greater than or equal to 0",
                    )],
                ));
            }
            let mut new = current.clone();
            let target = pointer(&paths.spec);
            match new.pointer_mut(&target) {
                Some(slot) => *slot = replicas.into(),
                None => {
                    let (parent, field) = target.rsplit_once('/').unwrap_or(("", ""));
                    if let Some(parent) = new.pointer_mut(parent).and_then(Value::as_object_mut) {
                        parent.insert(field.to_string(), replicas.into());
                    }
                }
            }
            Ok(Some(Write::Update { object: new, manager: manager.clone(), conditional: false }))
        })
        .await?;
    Ok(to_scale(def, &stored))
}

/// POST to `pods/binding`, `pods/eviction` or `serviceaccounts/token`.
pub async fn create(cluster: &Cluster, target: &Target<'_>, body: Value, ctx: &mut Ctx) -> Result<Response, Status> {
    let (def, namespace, name) = (target.def, target.namespace, target.name);
    let objects = cluster.objects();
    match target.subresource {
        "binding" => {
            let node = body.pointer("/target/name").and_then(Value::as_str).unwrap_or_default().to_string();
            if node.is_empty() {
                return Err(Status::invalid(
                    &GroupKind::new("", "Binding"),
                    name,
                    &[FieldError::required("target.name")],
                ));
            }
            let manager = ctx.manager();
            objects
                .guaranteed_update(target, ctx, |current| {
                    let Some(current) = current else { return Ok(None) };
                    let assigned = current.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or_default();
                    if !assigned.is_empty() {
                        return Err(Status::conflict(&def.group_resource(), name, &format!("pod {name} is already assigned to node {assigned:?}")));
                    }
                    let mut new = current.clone();
                    new["spec"]["nodeName"] = node.clone().into();
                    let conditions = new["status"].as_object_mut().map(|s| s.entry("conditions").or_insert_with(|| json!([])).clone());
                    let mut conditions = conditions.and_then(|c| c.as_array().cloned()).unwrap_or_default();
                    conditions.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
                    conditions.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": meta::format_time(Utc::now())}));
                    new["status"]["conditions"] = Value::Array(conditions);
                    Ok(Some(Write::Update { object: new, manager: manager.clone(), conditional: false }))
                })
                .await?;
            Ok(json_response(
                StatusCode::CREATED,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            ))
        }
        "eviction" => {
            let mut options = DeleteOptions::default();
            if let Some(opts) = body.get("deleteOptions").filter(|o| o.is_object()) {
                options = DeleteOptions::from_request(None, &serde_json::to_vec(opts).unwrap_or_default())
                    .map_err(Status::from)?;
            }
            objects.delete(&Target::object(def, namespace, name), &options, ctx).await?;
            Ok(json_response(
                StatusCode::CREATED,
                &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
            ))
        }
        "token" => {
            let sa = objects.get(&Target::object(def, namespace, name)).await?;
            let seconds = body.pointer("/spec/expirationSeconds").and_then(Value::as_i64).unwrap_or(3600);
            if seconds < 600 {
                return Err(Status::invalid(
                    &GroupKind::new("authentication.k8s.io", "TokenRequest"),
                    name,
                    &[FieldError::invalid_raw(
                        "spec.expirationSeconds",
                        seconds.to_string(),
                        "may not specify a duration less than 10 minutes",
                    )],
                ));
            }
            if seconds > 1 << 32 {
                return Err(Status::invalid(
                    &GroupKind::new("authentication.k8s.io", "TokenRequest"),
                    name,
                    &[FieldError::invalid_raw(
                        "spec.expirationSeconds",
                        seconds.to_string(),
                        "may not specify a duration larger than 2^32 seconds",
                    )],
                ));
            }
            let audiences: Vec<String> = body
                .pointer("/spec/audiences")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            let bound = body.pointer("/spec/boundObjectRef").filter(|b| b.is_object()).cloned();
            let now = Utc::now();
            let key = cluster.service_account_key();
            let request = ServiceAccountToken {
                namespace,
                name,
                uid: meta::uid(&sa),
                audiences: &audiences,
                seconds,
                bound: bound.clone(),
            };
            let (token, expires) = key.issue(&request, now);
            let audiences = if audiences.is_empty() { key.audiences.clone() } else { audiences };
            let response = json!({
                "kind": "TokenRequest",
                "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"name": name, "namespace": namespace, "creationTimestamp": meta::format_time(now)},
                "spec": {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": bound},
                "status": {"token": token, "expirationTimestamp": meta::format_time(expires)},
            });
            Ok(json_response(StatusCode::CREATED, &response))
        }
        _ => Err(Status::method_not_allowed()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_of_a_deployment() {
        let registry = crate::registry::Registry::new();
        let def = registry.snapshot().get("apps", "v1", "deployments").cloned().unwrap();
        let d = json!({"metadata": {"name": "web2", "namespace": "default", "uid": "u", "resourceVersion": "7", "creationTimestamp": "2026-11-28T09:12:38Z"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web2"}}}, "status": {"replicas": 1}});
        let scale = to_scale(&def, &d);
        assert_eq!(scale["spec"]["replicas"], 3);
        assert_eq!(scale["status"], json!({"replicas": 1, "selector": "app=web2"}));
        assert_eq!(scale["metadata"]["resourceVersion"], "7");
        assert_eq!(pointer(".spec.replicas"), "/spec/replicas");
    }
}
