//! The request pipeline every AWS call crosses once, in order: read the body → verify the SigV4
//! signature (the credential scope names the service) → resolve the caller → hand the call to
//! its protocol — the Query protocol for IAM and STS, or a registered [`RestService`] (EKS) —
//! whose handlers authorize through IAM policy evaluation → render the result or AWS's error.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use iam::condition::ContextKeys;
use iam::{Caller, RequestEnv};
use sigv4::{SigV4Error, SignedRequest, Verifier};

use crate::call::Call;
use crate::error::{AwsError, set_headers};
use crate::params::Params;
use crate::service::{CallerLookup, IamHandle, IamService};
use crate::xml::{IAM_NAMESPACE, STS_NAMESPACE};
use crate::{iam_api, sts_api};

/// The largest request body accepted.
const MAX_BODY: usize = 1024 * 1024;

/// A call of a REST-JSON API (EKS) that passed the pipeline: its signature is verified and its
/// caller known; the service authorizes with [`RestRequest::authorize`] and answers errors with
/// [`AwsError::json_response`].
pub struct RestRequest {
    pub method: Method,
    /// The path as it arrived, still percent-encoded.
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub caller: Caller,
    pub env: RequestEnv,
    pub request_id: String,
    pub iam: IamHandle,
}

impl RestRequest {
    /// Decides `action` on `resource` for the caller with IAM's policy evaluation; `extra` adds
    /// service-specific condition keys.
    pub fn authorize(
        &self,
        action: &str,
        resource: &str,
        extra: impl FnOnce(&mut ContextKeys),
    ) -> Result<(), AwsError> {
        authorize(&self.iam, &self.caller, &self.env, action, resource, extra)
    }
}

/// A REST-JSON AWS API served on the same endpoint, chosen by the SigV4 signing name.
#[async_trait]
pub trait RestService: Send + Sync + 'static {
    /// The service's SigV4 signing name (`eks`).
    fn signing_name(&self) -> &'static str;

    async fn handle(&self, request: RestRequest) -> Response;
}

/// Decides `action` on `resource` for `caller` with IAM's policy evaluation, the request's
/// condition keys plus `extra`'s.
pub(crate) fn authorize(
    iam: &IamHandle,
    caller: &Caller,
    env: &RequestEnv,
    action: &str,
    resource: &str,
    extra: impl FnOnce(&mut ContextKeys),
) -> Result<(), AwsError> {
    iam.with_state(|state| {
        let mut context = state.request_context(caller, env);
        extra(&mut context);
        state.authorize(caller, action, resource, &context)
    })
    .map_err(AwsError::Iam)
}

/// The AWS endpoint: IAM, STS and any registered REST services.
pub struct AwsApi {
    iam: IamService,
    verifier: Verifier,
    rest: HashMap<&'static str, Arc<dyn RestService>>,
}

/// Which wire format errors of a request go out in, decided before it is verified.
enum Protocol {
    Query(&'static str),
    Rest,
}

impl AwsApi {
    pub fn new(iam: IamService) -> Self {
        AwsApi { iam, verifier: Verifier::new(), rest: HashMap::new() }
    }

    /// Serves `service` for requests signed with its signing name.
    pub fn with_rest_service(mut self, service: Arc<dyn RestService>) -> Self {
        self.rest.insert(service.signing_name(), service);
        self
    }

    pub fn iam(&self) -> &IamService {
        &self.iam
    }

    /// The axum router of the endpoint (every path, every method).
    pub fn router(self: Arc<Self>) -> Router {
        Router::new().fallback(serve).with_state(self)
    }

    /// The protocol a request speaks, judged from its credential scope.
    fn protocol(&self, parts: &Parts) -> Protocol {
        let credential = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|auth| auth.split("Credential=").nth(1))
            .map(str::to_string)
            .or_else(|| {
                sigv4::query_pairs(parts.uri.query().unwrap_or_default())
                    .find(|(k, _)| k == "X-Amz-Credential")
                    .map(|(_, v)| v)
            });
        let service = credential.as_deref().and_then(|c| c.split('/').nth(3)).unwrap_or("sts");
        match service {
            "iam" => Protocol::Query(IAM_NAMESPACE),
            service if self.rest.contains_key(service) => Protocol::Rest,
            _ => Protocol::Query(STS_NAMESPACE),
        }
    }

    async fn dispatch(&self, parts: Parts, body: Bytes, request_id: &str) -> Result<Response, AwsError> {
        let now = Utc::now();
        let source_ip = parts.extensions.get::<tls::ConnectionInfo>().map(|info| info.remote_addr.ip().to_string());
        let mut headers: Vec<(&str, &str)> =
            parts.headers.iter().filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))).collect();
        if !parts.headers.contains_key("host")
            && let Some(authority) = parts.uri.authority()
        {
            headers.push(("host", authority.as_str()));
        }
        let signed = SignedRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or_default(),
            headers: &headers,
            body: &body,
        };
        let handle = self.iam.handle();
        let verified = self.verifier.verify(&signed, now, &CallerLookup(&handle))?;
        let env = RequestEnv { now, source_ip, region: verified.scope.region.clone(), secure_transport: true };
        let caller = verified.principal;
        if !caller.is_temporary() {
            self.iam.record_key_use(&verified.access_key_id, &verified.scope.service, &env.region, now).await?;
        }
        match verified.scope.service.as_str() {
            service @ ("iam" | "sts") => {
                let params = query_params(&parts, &body)?;
                self.query(service, caller, params, env, request_id).await
            }
            service => match self.rest.get(service) {
                Some(rest) => {
                    let request = RestRequest {
                        method: parts.method.clone(),
                        path: parts.uri.path().to_string(),
                        query: parts.uri.query().unwrap_or_default().to_string(),
                        headers: parts.headers.clone(),
                        body,
                        caller,
                        env,
                        request_id: request_id.to_string(),
                        iam: handle,
                    };
                    Ok(rest.handle(request).await)
                }
                None => Err(SigV4Error::WrongService { expected: "sts".into() }.into()),
            },
        }
    }

    async fn query(
        &self,
        service: &str,
        caller: Caller,
        params: Params,
        env: RequestEnv,
        request_id: &str,
    ) -> Result<Response, AwsError> {
        let action =
            params.get("Action").ok_or_else(|| AwsError::bad_request("MissingAction", "Missing Action"))?.to_string();
        let version = if service == "iam" { "2010-05-08" } else { "2011-06-15" };
        if let Some(given) = params.get("Version")
            && given != version
        {
            return Err(iam::IamError::InvalidAction { action, version: given.to_string() }.into());
        }
        // IAM refuses GetSessionToken credentials that carry no MFA.
        if service == "iam" && caller.via_session_token() {
            return Err(iam::IamError::InvalidClientTokenId.into());
        }
        let call = Call { api: self, caller, params, env, action: action.clone(), request_id: request_id.to_string() };
        let body = if service == "iam" { iam_api::handle(&call).await? } else { sts_api::handle(&call).await? };
        let body = body.ok_or_else(|| iam::IamError::InvalidAction { action, version: version.to_string() })?;
        let mut response = body.into_response();
        set_headers(&mut response, "text/xml", request_id);
        Ok(response)
    }
}

/// The parameters of a Query-protocol call: the form body of a POST, or the query string.
fn query_params(parts: &Parts, body: &[u8]) -> Result<Params, AwsError> {
    if parts.method == Method::POST {
        let content_type = parts.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !content_type.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") && !body.is_empty() {
            return Err(AwsError::bad_request(
                "MalformedQueryString",
                format!(
                    "The request body must be form-encoded (Content-Type: application/x-www-form-urlencoded), not \
                     '{content_type}'."
                ),
            ));
        }
        Ok(Params::parse(body))
    } else {
        Ok(Params::parse(parts.uri.query().unwrap_or_default().as_bytes()))
    }
}

async fn serve(State(api): State<Arc<AwsApi>>, request: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (parts, body) = request.into_parts();
    let protocol = api.protocol(&parts);
    let result = match axum::body::to_bytes(Body::new(body), MAX_BODY).await {
        Ok(body) => api.dispatch(parts, body, &request_id).await,
        Err(_) => Err(AwsError::bad_request(
            "RequestEntityTooLarge",
            format!("Request bodies are limited to {MAX_BODY} bytes."),
        )),
    };
    match result {
        Ok(response) => response,
        Err(err) => {
            if err.status().is_server_error() {
                tracing::error!(%err, %request_id, "AWS request failed");
            }
            match protocol {
                Protocol::Query(namespace) => err.query_response(namespace, &request_id),
                Protocol::Rest => err.json_response(&request_id),
            }
        }
    }
}
