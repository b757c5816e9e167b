//! Webhook mode (issue 4 §6): the EKS authenticator as a TokenReview webhook and a cluster's
//! authorizer chain as a SubjectAccessReview webhook, so a real kube-apiserver can delegate to
//! Rampart (`--authentication-token-webhook-config-file`, `--authorization-webhook-config-file`;
//! see docs/webhook.md).
//!
//! Paths: `POST /authenticate` and `POST /authorize` for the default cluster,
//! `POST /clusters/<name>/authenticate` and `…/authorize` for any other (its Kubernetes API's
//! name), `GET /healthz`. Every request must present a client certificate issued by the
//! webhook's CA (the one in the webhook kubeconfigs): an unauthenticated client gets 401.
//!
//! TokenReview answers are aws-iam-authenticator's, byte for byte: 200 with the user (no
//! `apiVersion`/`kind`, `extra` as EKS sets it), 403 with an empty user for any refusal, 405
//! for another method, 400 for a body that is not a TokenReview. SubjectAccessReview answers
//! are kube-apiserver's: the cluster's own chain (`system:masters`, EKS access policies, RBAC
//! and whatever else was installed) decides, through the cluster's SubjectAccessReview API
//! (asked in process over loopback TLS as `system:masters`: `kube_api` keeps its chain private).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use serde_json::{Map, Value, json};

use crate::control_plane::{Eks, RunningCluster};
use crate::model::ClusterKey;

/// aws-iam-authenticator's answer to a refused token (Go's encoding of an empty `TokenReview`).
pub const TOKEN_REVIEW_DENIED: &str = r#"{"metadata":{"creationTimestamp":null},"spec":{},"status":{"user":{}}}"#;

/// The largest review accepted.
const MAX_BODY: usize = 1024 * 1024;

struct Webhook {
    eks: Arc<Eks>,
    default_cluster: ClusterKey,
}

/// The webhook's router; `default_cluster` answers `/authenticate` and `/authorize`.
pub fn router(eks: Arc<Eks>, default_cluster: ClusterKey) -> Router {
    Router::new().fallback(serve).with_state(Arc::new(Webhook { eks, default_cluster }))
}

fn text(status: StatusCode, body: &str) -> Response {
    let mut response = (status, format!("{body}\n")).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

fn json_body(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"));
    response
}

async fn serve(State(webhook): State<Arc<Webhook>>, request: Request) -> Response {
    let connection = request.extensions().get::<tls::ConnectionInfo>().cloned();
    let path = request.uri().path().to_string();
    if path == "/healthz" {
        return text(StatusCode::OK, "ok");
    }
    if connection.as_ref().and_then(tls::ConnectionInfo::client_subject).is_none() {
        return text(StatusCode::UNAUTHORIZED, "a client certificate issued by the webhook's CA is required");
    }
    let (cluster, endpoint) = match path.trim_start_matches('/').split('/').collect::<Vec<_>>().as_slice() {
        [endpoint] => (webhook.eks.cluster(&webhook.default_cluster), endpoint.to_string()),
        ["clusters", name, endpoint] => {
            (webhook.eks.clusters().into_iter().find(|c| c.record().kube_name == *name), endpoint.to_string())
        }
        _ => return text(StatusCode::NOT_FOUND, "404 page not found"),
    };
    if endpoint != "authenticate" && endpoint != "authorize" {
        return text(StatusCode::NOT_FOUND, "404 page not found");
    }
    let Some(cluster) = cluster else { return text(StatusCode::NOT_FOUND, "no such cluster") };
    if request.method() != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "expected POST");
    }
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
        Ok(body) => body,
        Err(_) => return text(StatusCode::BAD_REQUEST, "expected a request body"),
    };
    let client = connection.map(|c| c.remote_addr.to_string());
    if endpoint == "authenticate" {
        authenticate(&cluster, &body, client.as_deref()).await
    } else {
        authorize(&cluster, &body).await
    }
}

async fn authenticate(cluster: &RunningCluster, body: &[u8], client: Option<&str>) -> Response {
    let Some(token) = serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .map(|review| review.pointer("/spec/token").and_then(Value::as_str).unwrap_or_default().to_string())
    else {
        return text(StatusCode::BAD_REQUEST, "expected a request body to be a TokenReview");
    };
    match cluster.authenticator().authenticate_token(&token, client).await {
        Ok(user) => {
            let mut info = Map::new();
            info.insert("username".into(), user.user.name.into());
            if !user.user.uid.is_empty() {
                info.insert("uid".into(), user.user.uid.into());
            }
            if !user.user.groups.is_empty() {
                info.insert("groups".into(), json!(user.user.groups));
            }
            if !user.user.extra.is_empty() {
                info.insert("extra".into(), json!(user.user.extra));
            }
            let review = json!({
                "metadata": {"creationTimestamp": null},
                "spec": {},
                "status": {"authenticated": true, "user": info},
            });
            json_body(StatusCode::OK, format!("{review}\n"))
        }
        Err(_) => json_body(StatusCode::FORBIDDEN, TOKEN_REVIEW_DENIED.to_string()),
    }
}

async fn authorize(cluster: &RunningCluster, body: &[u8]) -> Response {
    let Some(review) = serde_json::from_slice::<Value>(body).ok().filter(Value::is_object) else {
        return text(StatusCode::BAD_REQUEST, "expected a request body to be a SubjectAccessReview");
    };
    let api_version = review.get("apiVersion").and_then(Value::as_str).unwrap_or("authorization.k8s.io/v1").to_string();
    // v1beta1 names the groups `group`; the cluster's API speaks v1.
    let mut spec = review.get("spec").cloned().unwrap_or_else(|| json!({}));
    if let Some(groups) = spec.as_object_mut().and_then(|s| s.remove("group")) {
        spec["groups"] = groups;
    }
    let request = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec});
    let status = match loopback_review(cluster, &request).await {
        Ok(answer) if answer.get("status").is_some() => answer["status"].clone(),
        Ok(answer) => json!({"allowed": false, "evaluationError": answer.get("message").cloned().unwrap_or_default()}),
        Err(error) => {
            tracing::error!(%error, "SubjectAccessReview webhook");
            json!({"allowed": false, "evaluationError": error})
        }
    };
    let answer = json!({"apiVersion": api_version, "kind": "SubjectAccessReview", "status": status});
    json_body(StatusCode::OK, answer.to_string())
}

/// POSTs a SubjectAccessReview to the cluster's own API as `system:masters` and returns its
/// answer (a SubjectAccessReview, or a Status).
async fn loopback_review(cluster: &RunningCluster, review: &Value) -> Result<Value, String> {
    let config = cluster.review_client().map_err(|e| e.to_string())?;
    let authority = cluster.server_url().trim_start_matches("https://").to_string();
    let (host, _) = authority.rsplit_once(':').ok_or("the cluster's endpoint has no port")?;
    let server_name = rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_string())
        .map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpStream::connect(&authority).await.map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(config).connect(server_name, tcp).await.map_err(|e| e.to_string())?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let request = http::Request::post("/apis/authorization.k8s.io/v1/subjectaccessreviews")
        .header(header::HOST, authority.as_str())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json")
        .body(Full::new(Bytes::from(review.to_string())))
        .map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

/// A kubeconfig for kube-apiserver's webhook flags: the webhook at `server`, trusted through
/// `ca_pem`, authenticated with `client` (a certificate from the same CA).
pub fn webhook_kubeconfig(server: &str, ca_pem: &str, client: &tls::CertifiedKey) -> String {
    use base64::Engine as _;
    let b64 = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: rampart\n  cluster:\n    certificate-authority-data: {}\n    \
         server: {server}\nusers:\n- name: kube-apiserver\n  user:\n    client-certificate-data: {}\n    \
         client-key-data: {}\ncontexts:\n- name: webhook\n  context:\n    cluster: rampart\n    user: kube-apiserver\n\
         current-context: webhook\n",
        b64(ca_pem),
        b64(&client.cert_pem),
        b64(&client.key_pem),
    )
}
