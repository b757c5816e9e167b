//! Everything the AWS endpoint can fail with, and how each failure goes on the wire: the Query
//! protocol's XML `ErrorResponse` (IAM, STS) or the REST-JSON body and `x-amzn-ErrorType`
//! header (EKS), with AWS's code, HTTP status and message.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::xml::Xml;

/// The crate's one error type.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// The request's signature was refused.
    #[error(transparent)]
    Signature(#[from] sigv4::SigV4Error),
    /// An IAM or STS operation failed.
    #[error(transparent)]
    Iam(#[from] iam::IamError),
    /// The request is not a well-formed call of the protocol.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// The store failed; nothing was changed.
    #[error("storage: {0}")]
    Store(#[from] store::StoreError),
    /// Stored IAM state cannot be read back.
    #[error("stored IAM state: {0}")]
    Load(#[from] iam::persist::LoadError),
    /// A file of the data directory cannot be read or written.
    #[error("{0}")]
    Io(String),
}

impl AwsError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        AwsError::BadRequest { code, message: message.into() }
    }

    pub fn code(&self) -> &'static str {
        match self {
            AwsError::Signature(err) => err.code(),
            AwsError::Iam(err) => err.code(),
            AwsError::BadRequest { code, .. } => code,
            AwsError::Store(_) | AwsError::Load(_) | AwsError::Io(_) => "ServiceFailure",
        }
    }

    pub fn status(&self) -> StatusCode {
        let status = match self {
            AwsError::Signature(err) => err.http_status(),
            AwsError::Iam(err) => err.http_status(),
            AwsError::BadRequest { .. } => 400,
            AwsError::Store(_) | AwsError::Load(_) | AwsError::Io(_) => 500,
        };
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// What the client is told. Internal failures are not detailed on the wire.
    pub fn message(&self) -> String {
        match self {
            AwsError::Store(_) | AwsError::Load(_) | AwsError::Io(_) => {
                "The request processing has failed because of an unknown error, exception or failure.".into()
            }
            other => other.to_string(),
        }
    }

    /// The Query protocol's error: `<ErrorResponse xmlns=…><Error><Type/><Code/><Message/></Error><RequestId/>`.
    pub fn query_response(&self, namespace: &str, request_id: &str) -> Response {
        let kind = if self.status().is_server_error() { "Receiver" } else { "Sender" };
        let mut xml = Xml::new();
        xml.open_ns("ErrorResponse", namespace);
        xml.open("Error");
        xml.elem("Type", kind);
        xml.elem("Code", self.code());
        xml.elem("Message", &self.message());
        xml.close("Error");
        xml.elem("RequestId", request_id);
        xml.close("ErrorResponse");
        let mut response = (self.status(), xml.finish()).into_response();
        set_headers(&mut response, "text/xml", request_id);
        response
    }

    /// The REST-JSON protocol's error: `{"message": …}` with the code in `x-amzn-ErrorType`.
    pub fn json_response(&self, request_id: &str) -> Response {
        let body = serde_json::json!({ "message": self.message() }).to_string();
        let mut response = (self.status(), body).into_response();
        set_headers(&mut response, "application/json", request_id);
        if let Ok(code) = HeaderValue::from_str(self.code()) {
            response.headers_mut().insert("x-amzn-ErrorType", code);
        }
        response
    }
}

/// Sets `Content-Type` and `x-amzn-RequestId`.
pub(crate) fn set_headers(response: &mut Response, content_type: &'static str, request_id: &str) {
    let headers = response.headers_mut();
    headers.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", id);
    }
}
