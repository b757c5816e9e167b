//! `pods/log`, `pods/exec`, `pods/attach` and `pods/portforward` of a cluster, served from the
//! kubelet runtime after the API server authenticated and authorized the request (a WebSocket
//! exec is a `get` of `pods/exec`, kubectl's SPDY fallback a `create`, as in Kubernetes 1.32).
//!
//! The API server's own checks come first, as kube-apiserver makes them before it reaches a
//! kubelet: the pod exists, the container is one of its own, the pod has a node. Logs stream
//! as chunked `text/plain`; exec upgrades to `v5.channel.k8s.io` (or v4) and runs in the
//! container's sandbox. SPDY, attach and port-forward are refused with a Status saying why.

use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{FromRequestParts, WebSocketUpgrade};
use axum::response::Response;
use http::{Method, header};
use kube_api::connect::{ConnectHandler, ConnectRequest};
use kube_api::serve::responses::status_response;
use kube_api::{Cluster, Objects, Target};
use kube_core::Status;
use kubelet::{KubeletError, PodExecQuery, PodLogQuery, PodSummary, Runtime};
use serde_json::Value;

fn kubelet_error(err: &KubeletError) -> Response {
    status_response(&err.to_status())
}

/// The pod a connect request is about, as the API server reads it.
async fn pod_of(objects: &Objects, namespace: &str, name: &str) -> Result<(Value, PodSummary), Response> {
    let def = objects.resource("", "v1", "pods").ok_or_else(|| status_response(&Status::not_found_path()))?;
    let pod = objects.get(&Target::object(&def, namespace, name)).await.map_err(|s| status_response(&s))?;
    let summary = PodSummary::from_object(objects.cluster(), &pod)
        .ok_or_else(|| status_response(&Status::internal("the stored pod has no name, namespace or uid")))?;
    Ok((pod, summary))
}

/// `GET …/pods/{name}/log`.
pub(crate) struct Logs {
    pub runtime: Arc<Runtime>,
}

#[async_trait]
impl ConnectHandler for Logs {
    async fn connect(&self, request: ConnectRequest) -> Response {
        let (_, summary) = match pod_of(&request.objects, &request.namespace, &request.name).await {
            Ok(found) => found,
            Err(response) => return response,
        };
        let query = request.request.uri().query().unwrap_or_default();
        let query = match PodLogQuery::parse(&request.name, query) {
            Ok(query) => query,
            Err(err) => return kubelet_error(&err),
        };
        let container = match summary.container(query.container.as_deref()) {
            Ok(container) => container,
            Err(err) => return kubelet_error(&err),
        };
        let text_plain = |body: Body| {
            let mut response = Response::new(body);
            response.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
            response
        };
        if summary.node_name.is_empty() {
            // kube-apiserver answers the log of a pod no node runs yet with nothing.
            return text_plain(Body::empty());
        }
        match self.runtime.logs(&summary.pod, &container, &query.options) {
            Ok(stream) => text_plain(Body::from_stream(stream)),
            Err(err) => kubelet_error(&err),
        }
    }
}

/// `GET` (WebSocket) and `POST` (SPDY) `…/pods/{name}/exec`.
pub(crate) struct Exec {
    pub runtime: Arc<Runtime>,
}

#[async_trait]
impl ConnectHandler for Exec {
    async fn connect(&self, request: ConnectRequest) -> Response {
        let (_, summary) = match pod_of(&request.objects, &request.namespace, &request.name).await {
            Ok(found) => found,
            Err(response) => return response,
        };
        let query = match PodExecQuery::parse(request.request.uri().query().unwrap_or_default()) {
            Ok(query) => query,
            Err(err) => return kubelet_error(&err),
        };
        let container = match summary.container(query.container.as_deref()) {
            Ok(container) => container,
            Err(err) => return kubelet_error(&err),
        };
        if let Err(err) = summary.check_scheduled().and_then(|()| self.runtime.policy().check()) {
            return kubelet_error(&err);
        }
        if request.request.method() != Method::GET {
            return kubelet_error(&KubeletError::SpdyUnsupported);
        }
        let (mut parts, _) = request.request.into_parts();
        let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(upgrade) => upgrade,
            Err(_) => return status_response(&Status::bad_request("Upgrade request required")),
        };
        let (upgrade, Some(protocol)) = kubelet::websocket::negotiate(upgrade) else {
            return status_response(&Status::bad_request(
                "the exec WebSocket must offer the v5.channel.k8s.io or v4.channel.k8s.io subprotocol",
            ));
        };
        let runtime = Arc::clone(&self.runtime);
        upgrade.on_upgrade(move |socket| async move {
            let exec = runtime.exec(&summary.pod, &container, &query.options);
            kubelet::websocket::serve(socket, protocol, exec).await;
        })
    }
}

/// `pods/attach` and `pods/portforward`: refused, with why.
pub(crate) struct Unsupported {
    pub what: &'static str,
}

#[async_trait]
impl ConnectHandler for Unsupported {
    async fn connect(&self, request: ConnectRequest) -> Response {
        if let Err(response) = pod_of(&request.objects, &request.namespace, &request.name).await {
            return response;
        }
        let message = match self.what {
            "attach" => {
                "Rampart simulates containers and cannot attach to their processes: use kubectl logs -f to follow a container's output, or kubectl exec to run a command in it"
            }
            _ => "Rampart simulates containers and runs no servers in them, so there is no port to forward to",
        };
        status_response(&Status::bad_request(message))
    }
}

/// Registers the handlers on `cluster`.
pub(crate) fn register(cluster: &Cluster, runtime: &Arc<Runtime>) {
    cluster.register_connect("pods", "log", Arc::new(Logs { runtime: Arc::clone(runtime) }));
    cluster.register_connect("pods", "exec", Arc::new(Exec { runtime: Arc::clone(runtime) }));
    cluster.register_connect("pods", "attach", Arc::new(Unsupported { what: "attach" }));
    cluster.register_connect("pods", "portforward", Arc::new(Unsupported { what: "portforward" }));
}
