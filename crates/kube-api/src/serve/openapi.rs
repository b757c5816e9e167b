//! Serves `/openapi/v3` and its per-group-version documents (built and cached with the registry
//! snapshot, see `registry::schemas`), with kube-apiserver's caching headers and hash redirects;
//! `/openapi/v2` is served empty (below).

use axum::response::Response;
use chrono::Utc;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use kube_core::Status;
use kube_schema::openapi::Freshness;

use crate::registry::Snapshot;
use crate::serve::responses::{body_response, header_str, status_response};

/// OpenAPI v2 is served empty: kubectl reads everything from v3, and only falls back to v2 for
/// kinds whose v3 document has no PATCH operation (the review kinds); an empty v2 document makes
/// it skip client-side validation for them, as it does for kinds it has no schema for (a 404
/// would make `kubectl create -f` of a review fail instead).
fn openapi_v2(headers: &HeaderMap) -> Response {
    let accept = header_str(headers, header::ACCEPT).unwrap_or_default();
    if accept.contains("com.github.proto-openapi.spec.v2") {
        return body_response(StatusCode::OK, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", "");
    }
    let empty = serde_json::json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": kube_schema::openapi::KUBERNETES_VERSION}, "paths": {}, "definitions": {}});
    body_response(StatusCode::OK, "application/json", serde_json::to_vec(&empty).expect("serializes"))
}

pub fn serve(snapshot: &Snapshot, path: &str, query: &str, headers: &HeaderMap) -> Response {
    if path == "/openapi/v2" {
        return openapi_v2(headers);
    }
    let docs = snapshot.openapi();
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
