//! `/openapi/v3` and its per-group-version documents, built by `kube-schema` from the registry
//! (built-in kinds' schemas and the CRDs' own) and rebuilt when the served resources change;
//! `/openapi/v2` is a 404, which kubectl 1.27+ accepts when v3 is served.

use std::sync::{Arc, Mutex};

use axum::response::Response;
use chrono::Utc;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use kube_core::Status;
use kube_schema::openapi::{ApiResource, ApiSubresource, Freshness, OpenApiV3, ResourceSchema};

use crate::cluster::Cluster;
use crate::http::{body_response, status_response};
use crate::registry::{ResourceDef, Storage};

/// The built documents of one registry generation.
#[derive(Default)]
pub struct Cache(Mutex<Option<(u64, Arc<OpenApiV3>)>>);

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
    if let Some((generation, docs)) = cache.as_ref() {
        if *generation == snapshot.generation {
            return docs.clone();
        }
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

pub fn serve(cluster: &Arc<Cluster>, path: &str, query: &str, _headers: &HeaderMap) -> Response {
    if path == "/openapi/v2" {
        return status_response(&Status::not_found_path());
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
