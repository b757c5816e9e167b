//! `/openapi/v3` and its per-group-version documents, built by `kube-schema` from the registry
//! (built-in kinds' schemas and the CRDs' own) and rebuilt when the served resources change;
//! `/openapi/v2` is a 404, which kubectl 1.27+ accepts when v3 is served.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::response::Response;
use chrono::Utc;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use kube_core::Status;
use kube_schema::openapi::{ApiResource, ApiSubresource, Freshness, OpenApiV3, ResourceSchema};
use serde_json::{Map, Value};

use crate::cluster::Cluster;
use crate::http::{body_response, status_response};
use crate::registry::{ResourceDef, Storage};

/// The built documents of one registry generation, and the component schemas parsed back for
/// unknown-field checks.
#[derive(Default)]
pub struct Cache(Mutex<Option<(u64, Arc<OpenApiV3>)>>, Mutex<HashMap<(u64, String), Arc<Map<String, Value>>>>);

fn api_resource(def: &ResourceDef) -> ApiResource {
    ApiResource {
        group: def.group.clone(),
        version: def.version.clone(),
        kind: def.kind.clone(),
        plural: def.plural.clone(),
        namespaced: def.namespaced,
        verbs: def.verbs.clone(),
        subresources: def
            .subresources
            .iter()
            .map(|s| ApiSubresource {
                name: s.name.clone(),
                group: s.group.clone(),
                version: s.version.clone(),
                kind: s.kind.clone(),
                verbs: s.verbs.clone(),
            })
            .collect(),
        schema: match def.custom.as_ref().and_then(|c| c.schema.clone()) {
            Some(schema) => ResourceSchema::Custom(schema),
            None if def.custom.is_some() => ResourceSchema::Custom(
                serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            ),
            None => ResourceSchema::BuiltIn,
        },
    }
}

/// The documents for the cluster's current resources.
pub fn documents(cluster: &Cluster) -> Arc<OpenApiV3> {
    let snapshot = cluster.registry.snapshot();
    let mut cache = cluster.openapi.0.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((generation, docs)) = cache.as_ref()
        && *generation == snapshot.generation
    {
        return docs.clone();
    }
    let resources: Vec<ApiResource> = snapshot
        .resources
        .iter()
        .filter(|d| d.storage != Storage::Review || d.has_verb("create"))
        .map(|d| api_resource(d))
        .collect();
    let docs = Arc::new(OpenApiV3::build(&resources));
    *cache = Some((snapshot.generation, docs.clone()));
    docs
}

/// The component schemas of a built-in resource's group-version and the name of its kind's
/// schema, for unknown-field checks.
pub fn component_schemas(cluster: &Cluster, def: &ResourceDef) -> Option<(Arc<Map<String, Value>>, String)> {
    let generation = cluster.registry.snapshot().generation;
    let gv = if def.group.is_empty() {
        format!("api/{}", def.version)
    } else {
        format!("apis/{}/{}", def.group, def.version)
    };
    let key = (generation, gv.clone());
    let cached = cluster.openapi.1.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned();
    let schemas = match cached {
        Some(schemas) => schemas,
        None => {
            let docs = documents(cluster);
            let document: Value = serde_json::from_slice(&docs.document(&gv)?.body()).ok()?;
            let schemas = Arc::new(document.pointer("/components/schemas")?.as_object()?.clone());
            let mut cache = cluster.openapi.1.lock().unwrap_or_else(|p| p.into_inner());
            cache.retain(|(g, _), _| *g == generation);
            cache.insert(key, schemas.clone());
            schemas
        }
    };
    let name = schemas
        .iter()
        .find(|(_, schema)| {
            schema.get("x-kubernetes-group-version-kind").and_then(Value::as_array).is_some_and(|gvks| {
                gvks.iter().any(|g| {
                    g["group"] == def.group.as_str()
                        && g["version"] == def.version.as_str()
                        && g["kind"] == def.kind.as_str()
                })
            })
        })
        .map(|(name, _)| name.clone())?;
    Some((schemas, name))
}

/// OpenAPI v2 is served empty: kubectl reads everything from v3, and only falls back to v2 for
/// kinds whose v3 document has no PATCH operation (the review kinds); an empty v2 document makes
/// it skip client-side validation for them, as it does for kinds it has no schema for (a 404
/// would make `kubectl create -f` of a review fail instead).
fn openapi_v2(headers: &HeaderMap) -> Response {
    let accept = crate::http::header_str(headers, header::ACCEPT).unwrap_or_default();
    if accept.contains("com.github.proto-openapi.spec.v2") {
        return body_response(StatusCode::OK, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", "");
    }
    let empty = serde_json::json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": kube_schema::openapi::KUBERNETES_VERSION}, "paths": {}, "definitions": {}});
    body_response(StatusCode::OK, "application/json", serde_json::to_vec(&empty).expect("serializes"))
}

pub fn serve(cluster: &Arc<Cluster>, path: &str, query: &str, headers: &HeaderMap) -> Response {
    if path == "/openapi/v2" {
        return openapi_v2(headers);
    }
    let docs = documents(cluster);
    if path == "/openapi/v3" {
        let mut response = body_response(StatusCode::OK, "application/json", docs.index().body());
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
        if let Ok(etag) = HeaderValue::from_str(&docs.index().etag()) {
            response.headers_mut().insert(header::ETAG, etag);
        }
        return response;
    }
    let gv = path.trim_start_matches("/openapi/v3/");
    let Some(doc) = docs.document(gv) else { return status_response(&Status::not_found_path()) };
    let hash = kube_core::request_info::form_pairs(query).find(|(k, _)| k == "hash").map(|(_, v)| v);
    let mut response = match doc.freshness(hash.as_deref(), Utc::now()) {
        Freshness::Redirect { location } => {
            let mut response = body_response(StatusCode::MOVED_PERMANENTLY, "text/plain; charset=utf-8", "");
            if let Ok(location) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            return response;
        }
        Freshness::Immutable { expires } => {
            let mut response = body_response(StatusCode::OK, "application/json", doc.body());
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, immutable"));
            if let Ok(expires) = HeaderValue::from_str(&expires) {
                response.headers_mut().insert(header::EXPIRES, expires);
            }
            response
        }
        Freshness::Revalidate => {
            let mut response = body_response(StatusCode::OK, "application/json", doc.body());
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
            response
        }
    };
    if let Ok(etag) = HeaderValue::from_str(&doc.etag()) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}
