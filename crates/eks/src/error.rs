//! Everything the EKS service can fail with, and how each failure goes on the wire: the EKS
//! REST-JSON error (`{"message": …}` with the exception name in `x-amzn-ErrorType`), with EKS's
//! exception names, HTTP statuses and messages.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The crate's one error type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An EKS API exception (`ResourceNotFoundException`, `InvalidParameterException`, …).
    #[error("{message}")]
    Api { code: &'static str, status: u16, message: String },
    /// The IAM authorization of the call refused it, or the AWS pipeline failed.
    #[error(transparent)]
    Aws(#[from] aws_api::AwsError),
    /// The store failed; nothing was changed.
    #[error("storage: {0}")]
    Store(#[from] store::StoreError),
    /// A cluster's Kubernetes API could not be started.
    #[error("cannot start the Kubernetes API of cluster {cluster}: {source}")]
    Start { cluster: String, source: kube_api::Error },
    /// A stored cluster cannot be read back.
    #[error("stored EKS cluster {key} cannot be read: {reason}")]
    Corrupt { key: String, reason: String },
}

impl From<eks_auth::Error> for Error {
    fn from(error: eks_auth::Error) -> Self {
        match error.code() {
            Some(code) => Error::Api { code, status: error.http_status(), message: error.to_string() },
            None => Error::invalid_parameter(error.to_string()),
        }
    }
}

impl Error {
    /// `InvalidParameterException` (400).
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Error::Api { code: "InvalidParameterException", status: 400, message: message.into() }
    }

    /// `InvalidRequestException` (400).
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Error::Api { code: "InvalidRequestException", status: 400, message: message.into() }
    }

    /// `ResourceNotFoundException` (404).
    pub fn resource_not_found(message: impl Into<String>) -> Self {
        Error::Api { code: "ResourceNotFoundException", status: 404, message: message.into() }
    }

    /// `ResourceInUseException` (409).
    pub fn resource_in_use(message: impl Into<String>) -> Self {
        Error::Api { code: "ResourceInUseException", status: 409, message: message.into() }
    }

    /// `ServiceUnavailableException` (503).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Error::Api { code: "ServiceUnavailableException", status: 503, message: message.into() }
    }

    /// The cluster `name` does not exist (EKS's words).
    pub fn no_cluster(name: &str) -> Self {
        Error::resource_not_found(format!("No cluster found for name: {name}."))
    }

    /// The exception name EKS answers with.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Api { code, .. } => code,
            // EKS names IAM's refusal the way every REST-JSON service does.
            Error::Aws(error) if error.code() == "AccessDenied" => "AccessDeniedException",
            Error::Aws(error) => error.code(),
            Error::Store(_) | Error::Start { .. } | Error::Corrupt { .. } => "ServerException",
        }
    }

    pub fn status(&self) -> StatusCode {
        let status = match self {
            Error::Api { status, .. } => *status,
            Error::Aws(error) => error.status().as_u16(),
            Error::Store(_) | Error::Start { .. } | Error::Corrupt { .. } => 500,
        };
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// What the client is told; internal failures are not detailed on the wire.
    pub fn message(&self) -> String {
        match self {
            Error::Aws(error) => error.message(),
            Error::Store(_) | Error::Start { .. } | Error::Corrupt { .. } => {
                "An internal error occurred. Try the request again.".to_string()
            }
            Error::Api { message, .. } => message.clone(),
        }
    }

    /// The REST-JSON error response.
    pub fn response(&self, request_id: &str) -> Response {
        if self.status().is_server_error() {
            tracing::error!(error = %self, %request_id, "EKS request failed");
        }
        let body = serde_json::json!({ "message": self.message() }).to_string();
        let mut response = (self.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Ok(id) = HeaderValue::from_str(request_id) {
            headers.insert("x-amzn-RequestId", id);
        }
        headers.insert("x-amzn-ErrorType", HeaderValue::from_static(self.code()));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eks_auth_exceptions_keep_their_code_and_status() {
        let error: Error = eks_auth::Error::ResourceInUse("in use".into()).into();
        assert_eq!(
            (error.code(), error.status().as_u16(), error.message().as_str()),
            ("ResourceInUseException", 409, "in use")
        );
        let error: Error = eks_auth::AuthenticationMode::Api
            .check_transition(eks_auth::AuthenticationMode::ConfigMap)
            .unwrap_err()
            .into();
        assert_eq!(error.code(), "InvalidParameterException");
        assert_eq!(Error::no_cluster("nope").message(), "No cluster found for name: nope.");
    }

    #[tokio::test]
    async fn responses_carry_the_exception_in_a_header_and_hide_internal_failures() {
        let response = Error::no_cluster("nope").response("req-1");
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["x-amzn-ErrorType"], "ResourceNotFoundException");
        assert_eq!(response.headers()["x-amzn-RequestId"], "req-1");
        let body = axum::body::to_bytes(response.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], br#"{"message":"No cluster found for name: nope."}"#);
        let internal = Error::Store(store::StoreError::Backend("disk /secret/path full".into()));
        assert_eq!(internal.code(), "ServerException");
        assert!(!internal.message().contains("/secret/path"));
    }
}
