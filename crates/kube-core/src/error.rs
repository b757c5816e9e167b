//! The crate's one error type: what a client sent that kube-apiserver would answer with 400.

use crate::status::Status;

/// A malformed query parameter, selector or token. Each maps to a 400 Bad Request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("unable to parse requirement: {0}")]
    InvalidLabelSelector(String),
    #[error("{0}")]
    InvalidFieldSelector(String),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("invalid continue token: {0}")]
    InvalidContinue(String),
    #[error("Invalid value: {0:?}: strconv.ParseUint: parsing {0:?}: invalid syntax")]
    InvalidResourceVersion(String),
}

impl From<Error> for Status {
    fn from(error: Error) -> Status {
        match &error {
            Error::InvalidResourceVersion(rv) => Status::bad_request(format!(
                "resourceVersion: Invalid value: {rv:?}: strconv.ParseUint: parsing {rv:?}: invalid syntax"
            )),
            _ => Status::bad_request(error.to_string()),
        }
    }
}
