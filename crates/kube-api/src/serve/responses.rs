//! The replies every part of the front builds: a `Status` in kube-apiserver's shape, a body with
//! its content type, JSON, `Warning` headers; and the request-body reader with kube-apiserver's
//! size limit. Used by the front, the handlers and the connect handlers of other crates.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use kube_core::Status;

/// kube-apiserver's limit on request bodies (3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// A Status reply (always JSON, with the Status's code).
pub fn status_response(status: &Status) -> Response {
    let code = StatusCode::from_u16(status.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (code, status.to_bytes()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A reply with a body and a content type.
pub fn body_response(code: StatusCode, content_type: &str, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = code;
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

/// A JSON reply.
pub fn json_response(code: StatusCode, value: &serde_json::Value) -> Response {
    body_response(code, "application/json", serde_json::to_vec(value).expect("JSON values serialize"))
}

pub fn text(code: StatusCode, body: impl Into<String>) -> Response {
    body_response(code, "text/plain; charset=utf-8", body.into())
}

/// Attach `Warning` headers (`299 - "…"`).
pub fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for warning in warnings {
        let quoted = warning.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(value) = HeaderValue::from_str(&format!("299 - \"{quoted}\"")) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    response
}

/// Read a request body up to the limit: 413 beyond it.
pub async fn read_body(body: Body) -> Result<Bytes, Status> {
    match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => Ok(bytes),
        Err(err) => {
            let too_large = std::error::Error::source(&err).is_some_and(|e| e.is::<http_body_util::LengthLimitError>())
                || err.to_string().contains("length limit");
            if too_large {
                Err(Status::request_entity_too_large(MAX_BODY_BYTES))
            } else {
                Err(Status::bad_request(format!("error reading the request body: {err}")))
            }
        }
    }
}

/// The request headers a handler needs.
pub fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
