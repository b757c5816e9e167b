//! IAM's and STS's errors, each carrying the AWS error code, HTTP status and message that the
//! real services return, so the wire layer only has to render them.

/// Everything an IAM or STS operation can fail with. `Display` is AWS's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IamError {
    /// The entity does not exist (404).
    #[error("{0}")]
    NoSuchEntity(String),
    /// An entity with that name already exists (409).
    #[error("{0}")]
    EntityAlreadyExists(String),
    /// The entity still has dependents (409).
    #[error("{0}")]
    DeleteConflict(String),
    /// A quota would be exceeded (409).
    #[error("{0}")]
    LimitExceeded(String),
    /// A parameter failed a constraint; message in AWS's "1 validation error detected" form (400).
    #[error("{0}")]
    ValidationError(String),
    /// A parameter is invalid in context (400).
    #[error("{0}")]
    InvalidInput(String),
    /// A policy document is not valid; the message says what is wrong (400).
    #[error("{0}")]
    MalformedPolicyDocument(String),
    /// The caller is not allowed to do this (403).
    #[error("{0}")]
    AccessDenied(String),
    /// The caller's credentials may not be used for this call (403).
    #[error("The security token included in the request is invalid")]
    InvalidClientTokenId,
    /// The entity cannot be changed (AWS-managed policies) (400).
    #[error("{0}")]
    UnmodifiableEntity(String),
    /// The request names an action the service does not have (400).
    #[error("Could not find operation {action} for version {version}")]
    InvalidAction { action: String, version: String },
    /// A required parameter is missing (400).
    #[error("{0}")]
    MissingParameter(String),
}

impl IamError {
    /// The AWS error code.
    pub fn code(&self) -> &'static str {
        match self {
            IamError::NoSuchEntity(_) => "NoSuchEntity",
            IamError::EntityAlreadyExists(_) => "EntityAlreadyExists",
            IamError::DeleteConflict(_) => "DeleteConflict",
            IamError::LimitExceeded(_) => "LimitExceeded",
            IamError::ValidationError(_) => "ValidationError",
            IamError::InvalidInput(_) => "InvalidInput",
            IamError::MalformedPolicyDocument(_) => "MalformedPolicyDocument",
            IamError::AccessDenied(_) => "AccessDenied",
            IamError::InvalidClientTokenId => "InvalidClientTokenId",
            IamError::UnmodifiableEntity(_) => "UnmodifiableEntity",
            IamError::InvalidAction { .. } => "InvalidAction",
            IamError::MissingParameter(_) => "MissingParameter",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            IamError::NoSuchEntity(_) => 404,
            IamError::EntityAlreadyExists(_) | IamError::DeleteConflict(_) | IamError::LimitExceeded(_) => 409,
            IamError::AccessDenied(_) | IamError::InvalidClientTokenId => 403,
            _ => 400,
        }
    }

    /// A `ValidationError` in AWS's words for a value that fails a constraint.
    pub fn validation(value: Option<&str>, member: &str, constraint: &str) -> Self {
        let value = match value {
            Some(value) => format!("'{value}'"),
            None => "null".to_string(),
        };
        IamError::ValidationError(format!(
            "1 validation error detected: Value {value} at '{member}' failed to satisfy constraint: Member {constraint}"
        ))
    }

    /// A `ValidationError` for a required parameter that is missing.
    pub fn missing(member: &str) -> Self {
        Self::validation(None, member, "must not be null")
    }
}

/// The result of every fallible operation of this crate.
pub type Result<T, E = IamError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_messages_read_like_aws() {
        assert_eq!(
            IamError::validation(Some("bad name"), "userName", "must satisfy regular expression pattern: [\\w+=,.@-]+")
                .to_string(),
            "1 validation error detected: Value 'bad name' at 'userName' failed to satisfy constraint: Member must \
             satisfy regular expression pattern: [\\w+=,.@-]+"
        );
        assert_eq!(
            IamError::missing("userName").to_string(),
            "1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(IamError::NoSuchEntity("x".into()).http_status(), 404);
        assert_eq!(IamError::DeleteConflict("x".into()).http_status(), 409);
    }
}
