//! The HTTP front of a cluster: every request is parsed into a RequestInfo, authenticated,
//! impersonated, authorized, audited, counted in the metrics and then served — non-resource
//! paths here (version, health, metrics, discovery, OpenAPI), resource requests by
//! [`crate::serve::handlers`]. Errors are `Status` objects with kube-apiserver's wording.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use http::{HeaderValue, Method, StatusCode, header};
use kube_core::{RequestInfo, Status};

use crate::access::authz::{self, Decision};
use crate::access::impersonation::{self, Refusal};
use crate::access::{audit, authn};
use crate::cluster::Cluster;
use crate::metrics::RequestLabels;
use crate::serve::responses::{body_response, header_str, read_body, status_response, text};
use crate::serve::{decode, discovery, handlers, openapi};

/// The version this server reports (`kubectl`'s dispatcher picks its binary by the minor).
pub const VERSION: &str = r#"{
  "major": "1",
  "minor": "32",
  "gitVersion": "v1.32.0-eks-rampart",
  "gitCommit": "70d3cc986aa8221cd1dfb1121852688902d3bf53",
  "gitTreeState": "clean",
  "buildDate": "2024-12-11T17:59:15Z",
  "goVersion": "go1.23.3",
  "compiler": "gc",
  "platform": "linux/amd64"
}"#;

/// What the front serves from: the cluster, and the discovery documents built for it.
struct Front {
    cluster: Arc<Cluster>,
    discovery: discovery::Cache,
}

/// The cluster's API as an axum router (every path goes through [`handle`]).
pub fn router(cluster: Arc<Cluster>) -> Router {
    Router::new().fallback(handle).with_state(Arc::new(Front { cluster, discovery: discovery::Cache::default() }))
}

fn scope(info: &RequestInfo) -> &'static str {
    if !info.is_resource_request {
        ""
    } else if !(info.namespace.is_empty() || info.resource == "namespaces" && info.name == info.namespace) {
        "namespace"
    } else if !info.name.is_empty() {
        "resource"
    } else {
        "cluster"
    }
}

async fn handle(State(front): State<Arc<Front>>, request: http::Request<Body>) -> Response {
    let cluster = &front.cluster;
    let start = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let info = match RequestInfo::new(method.as_str(), &path, query.as_deref()) {
        Ok(info) => info,
        Err(message) => return status_response(&Status::internal(message)),
    };
    let mut audited = cluster.audit().map(|log| {
        let uri = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let remote = request.extensions().get::<tls::ConnectionInfo>().map(|c| c.remote_addr.ip());
        Audited { record: audit::Record::new(uri, request.headers(), remote), log, done: false }
    });
    let response = serve(&front, &info, request, audited.as_mut()).await;
    let response = match audited {
        Some(audited) => audited.finish(&info, response).await,
        None => response,
    };
    if info.verb != "watch" {
        let labels = RequestLabels {
            verb: info.verb.to_ascii_uppercase(),
            group: info.api_group.clone(),
            version: info.api_version.clone(),
            resource: info.resource.clone(),
            subresource: info.subresource.clone(),
            scope: scope(&info).into(),
            component: "apiserver".into(),
        };
        cluster.metrics().observe_request(labels, response.status().as_u16(), start.elapsed());
    }
    response
}

async fn serve(
    front: &Front,
    info: &RequestInfo,
    mut request: http::Request<Body>,
    mut audited: Option<&mut Audited>,
) -> Response {
    let cluster = &front.cluster;
    let connection = request.extensions().get::<tls::ConnectionInfo>();
    let x509 = connection.is_some_and(|c| !c.peer_certificates.is_empty());
    let subject = connection.and_then(|c| cluster.client_subject(c));
    let authorization = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let authenticated =
        match authn::authenticate(subject, authorization, &cluster.token_authenticators(), cluster.allow_anonymous())
            .await
        {
            Ok(authenticated) => authenticated,
            Err(status) => {
                if let Some(a) = audited {
                    a.log.unauthenticated(&mut a.record, info, request.headers(), x509);
                    a.done = true;
                }
                return status_response(&status);
            }
        };
    let requester = authenticated.into_user();
    if let Some(a) = audited.as_deref_mut() {
        a.record.user = Some(requester.clone());
        a.log.authenticated(&mut a.record, info);
    }
    let chain = cluster.authorizers();
    let user = match impersonated(&chain, requester, &request) {
        Ok(user) => user,
        Err(refusal) => return refused(refusal),
    };
    let attributes = authz::attributes(info, user.clone());
    let (decision, authorizer) = authz::authorize(&chain, &attributes);
    let allowed = matches!(decision, Decision::Allow(_));
    if let Some(a) = audited.as_deref_mut() {
        if a.record.user.as_ref() != Some(&user) {
            a.record.impersonated = Some(user.clone());
        }
        let (Decision::Allow(reason) | Decision::Deny(reason) | Decision::NoOpinion(reason)) = &decision;
        a.record.authorization = Some((allowed, reason.clone()));
    }
    match decision {
        Decision::Allow(_) => cluster.metrics().observe_decision("allowed", authorizer),
        Decision::Deny(reason) | Decision::NoOpinion(reason) => {
            cluster.metrics().observe_decision("denied", if authorizer.is_empty() { "none" } else { authorizer });
            return status_response(&authz::forbidden(info, &user.name, &reason));
        }
    }
    if let Some(a) = audited
        && a.record.level() >= audit::Level::Request
        && matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH)
    {
        let (parts, body) = request.into_parts();
        let bytes = match read_body(body).await {
            Ok(bytes) => bytes,
            Err(status) => return status_response(&status),
        };
        // As JSON whatever it came as (kube-apiserver logs the decoded object).
        let content_type = header_str(&parts.headers, header::CONTENT_TYPE).unwrap_or_default();
        a.record.request_object = if content_type.starts_with("application/vnd.kubernetes.protobuf") {
            decode::protobuf(&bytes).ok()
        } else if content_type.contains("yaml") {
            std::str::from_utf8(&bytes).ok().and_then(|text| serde_saphyr::from_str(text).ok())
        } else {
            serde_json::from_slice(&bytes).ok()
        };
        request = http::Request::from_parts(parts, Body::from(bytes));
    }
    if info.is_resource_request {
        handlers::serve(cluster, info, user, request).await
    } else {
        non_resource(front, info, request).await
    }
}

/// A request's audit record and the log it goes to.
struct Audited {
    log: Arc<audit::AuditLog>,
    record: audit::Record,
    /// Already logged (a failed authentication).
    done: bool,
}

impl Audited {
    /// Log the response's stages (a long-running response's ResponseComplete when its body
    /// ends) and answer with the `Audit-Id` header.
    async fn finish(self, info: &RequestInfo, response: Response) -> Response {
        let Audited { log, mut record, done } = self;
        let mut response = response;
        if let Ok(id) = HeaderValue::from_str(record.audit_id()) {
            response.headers_mut().insert("audit-id", id);
        }
        if done || record.level() == audit::Level::None {
            return response;
        }
        let code = response.status().as_u16();
        record.response_status = serde_json::json!({"metadata": {}, "code": code});
        if audit::long_running(info) && code < 300 {
            log.log(&record, info, audit::Stage::ResponseStarted);
            if code == 101 {
                log.log(&record, info, audit::Stage::ResponseComplete);
                return response;
            }
            // ResponseComplete when the body ends (or the client goes away).
            let info = info.clone();
            let complete =
                CompleteOnDrop(Some(Box::new(move || log.log(&record, &info, audit::Stage::ResponseComplete))));
            let (parts, body) = response.into_parts();
            let body = futures::StreamExt::map(body.into_data_stream(), move |chunk| {
                let _ = &complete;
                chunk
            });
            return Response::from_parts(parts, Body::from_stream(body));
        }
        if code >= 400 || record.level() == audit::Level::RequestResponse {
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            if let Ok(object) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                if object.get("kind").and_then(|k| k.as_str()) == Some("Status") {
                    let mut status = serde_json::json!({"metadata": {}});
                    for field in ["status", "message", "reason", "details", "code"] {
                        if let Some(value) = object.get(field) {
                            status[field] = value.clone();
                        }
                    }
                    record.response_status = status;
                }
                if record.level() == audit::Level::RequestResponse {
                    record.response_object = Some(object);
                }
            }
            response = Response::from_parts(parts, Body::from(bytes));
        }
        log.log(&record, info, audit::Stage::ResponseComplete);
        response
    }
}

/// Runs its closure when dropped (a streamed body's end).
struct CompleteOnDrop(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Drop for CompleteOnDrop {
    fn drop(&mut self) {
        if let Some(complete) = self.0.take() {
            complete();
        }
    }
}

/// The identity a request acts as: its own, or the one its `Impersonate-*` headers name if the
/// requester may impersonate it.
fn impersonated(
    chain: &[Arc<dyn authz::Authorizer>],
    requester: rbac::UserInfo,
    request: &http::Request<Body>,
) -> Result<rbac::UserInfo, Refusal> {
    let uri = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let parts = impersonation::requested(request.headers(), uri)?;
    if parts.is_empty() {
        return Ok(requester);
    }
    impersonation::impersonate(chain, &requester, &parts)
}

/// A refused impersonation as kube-apiserver answers it.
fn refused(refusal: Refusal) -> Response {
    match refusal {
        Refusal::Forbidden(status) => status_response(&status),
        Refusal::Malformed(text) => {
            let mut response =
                body_response(StatusCode::INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8", text + "\n");
            response.headers_mut().insert("x-content-type-options", HeaderValue::from_static("nosniff"));
            response
        }
    }
}

/// `/version`, `/healthz`, `/livez`, `/readyz`, `/metrics`, discovery and OpenAPI.
async fn non_resource(front: &Front, info: &RequestInfo, request: http::Request<Body>) -> Response {
    let cluster = &front.cluster;
    let method = request.method().clone();
    if method != Method::GET && method != Method::HEAD {
        return status_response(&Status::not_found_path());
    }
    let path = info.path.trim_end_matches('/');
    let query = request.uri().query().unwrap_or_default();
    let verbose = query.split('&').any(|p| p == "verbose" || p.starts_with("verbose="));
    match path {
        "/version" => body_response(StatusCode::OK, "application/json", VERSION),
        "/healthz" | "/livez" | "/readyz" => health(cluster, &path[1..], verbose).await,
        p if ["/healthz/", "/livez/", "/readyz/"].iter().any(|prefix| p.starts_with(prefix)) => {
            let (endpoint, check) = p[1..].split_once('/').unwrap_or_default();
            if health_checks(endpoint).contains(&check) {
                text(StatusCode::OK, "ok")
            } else {
                status_response(&Status::not_found_path())
            }
        }
        "/metrics" => body_response(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            cluster.metrics().render(),
        ),
        "" | "/api" | "/apis" => discovery::serve(&front.discovery, cluster, path, request.headers()),
        p if p.starts_with("/api/") || p.starts_with("/apis/") => {
            discovery::serve(&front.discovery, cluster, p, request.headers())
        }
        p if p == "/openapi/v2" || p == "/openapi/v3" || p.starts_with("/openapi/v3/") => {
            openapi::serve(&cluster.objects().registry().snapshot(), p, query, request.headers())
        }
        _ => status_response(&Status::not_found_path()),
    }
}

fn health_checks(endpoint: &str) -> &'static [&'static str] {
    match endpoint {
        "readyz" => &[
            "ping",
            "log",
            "etcd",
            "etcd-readiness",
            "informer-sync",
            "poststarthook/start-apiextensions-controllers",
            "poststarthook/crd-informer-synced",
            "poststarthook/rbac/bootstrap-roles",
            "shutdown",
        ],
        // livez and healthz
        _ => &[
            "ping",
            "log",
            "etcd",
            "poststarthook/start-apiextensions-controllers",
            "poststarthook/crd-informer-synced",
            "poststarthook/rbac/bootstrap-roles",
        ],
    }
}

async fn health(cluster: &Cluster, endpoint: &str, verbose: bool) -> Response {
    let store_ok = cluster.objects().store().current_revision().await.is_ok();
    let checks = health_checks(endpoint);
    if !verbose {
        return if store_ok {
            text(StatusCode::OK, "ok")
        } else {
            text(StatusCode::INTERNAL_SERVER_ERROR, format!("[-]etcd failed: reason withheld\n{endpoint} check failed"))
        };
    }
    let mut out = String::new();
    for check in checks {
        let ok = !check.starts_with("etcd") || store_ok;
        if ok {
            out.push_str(&format!("[+]{check} ok\n"));
        } else {
            out.push_str(&format!("[-]{check} failed: reason withheld\n"));
        }
    }
    if store_ok {
        out.push_str(&format!("{endpoint} check passed\n"));
        text(StatusCode::OK, out)
    } else {
        out.push_str(&format!("{endpoint} check failed\n"));
        text(StatusCode::INTERNAL_SERVER_ERROR, out)
    }
}
