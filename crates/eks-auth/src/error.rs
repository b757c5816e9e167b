//! Everything this crate can refuse, each in the words of the component that refuses it on EKS:
//! aws-iam-authenticator's token and mapping errors, the EKS API's exceptions, and Rampart's own
//! aws-auth admission check.

use std::fmt;

/// Which of aws-iam-authenticator's token checks a token failed, in the order it makes them.
/// The authenticator log line names it, so an operator sees at a glance why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenCheck {
    /// `len(token) <= 4096`.
    Size,
    /// The `k8s-aws-v1.` prefix.
    Prefix,
    /// Unpadded URL-safe base64.
    Base64,
    /// The decoded text parses as a URL.
    Url,
    /// The URL's scheme is `https` (or an origin this server accepts).
    Scheme,
    /// The URL's host is an STS endpoint (or an origin this server accepts).
    Host,
    /// The URL's path is `/`.
    Path,
    /// The query string parses.
    Query,
    /// No parameter appears twice (case-insensitively).
    DuplicateParameter,
    /// Every parameter is one of the presigned `GetCallerIdentity` parameters, once.
    Parameters,
    /// `Action=GetCallerIdentity`.
    Action,
    /// `x-k8s-aws-id` is among the signed headers.
    ClusterIdHeader,
    /// `0 <= X-Amz-Expires <= 900`.
    Expires,
    /// `X-Amz-Date` is present and well formed.
    Date,
    /// The token is at most 15 minutes old.
    Expiry,
    /// STS's own verdict on the presigned request (here: local SigV4 verification against IAM).
    Signature,
    /// The caller STS reports is an identity the authenticator understands.
    Identity,
}

impl TokenCheck {
    /// A short stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenCheck::Size => "size",
            TokenCheck::Prefix => "prefix",
            TokenCheck::Base64 => "base64",
            TokenCheck::Url => "url",
            TokenCheck::Scheme => "scheme",
            TokenCheck::Host => "host",
            TokenCheck::Path => "path",
            TokenCheck::Query => "query",
            TokenCheck::DuplicateParameter => "duplicate-parameter",
            TokenCheck::Parameters => "parameters",
            TokenCheck::Action => "action",
            TokenCheck::ClusterIdHeader => "cluster-id-header",
            TokenCheck::Expires => "x-amz-expires",
            TokenCheck::Date => "x-amz-date",
            TokenCheck::Expiry => "expiry",
            TokenCheck::Signature => "signature",
            TokenCheck::Identity => "identity",
        }
    }
}

impl fmt::Display for TokenCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in the aws-auth ConfigMap, located by data key and line (within that key's
/// value, 1-based) where the YAML gives one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsAuthIssue {
    /// `mapRoles`, `mapUsers`, `mapAccounts`, or another data key.
    pub key: String,
    /// The line inside the key's value, when known.
    pub line: Option<usize>,
    pub message: String,
    /// What EKS does about it.
    pub effect: IssueEffect,
    /// Which problem it is, for tools that name their findings (`rampart lint`'s rule IDs).
    pub kind: IssueKind,
}

/// Which problem an [`AwsAuthIssue`] is: a stable name, so a tool can map each to a rule of its
/// own without reading the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IssueKind {
    /// The key's value is not YAML.
    InvalidYaml,
    /// The key's value is YAML but not a list (of entries or account IDs).
    NotAList,
    /// A field or item has the wrong YAML type (a scalar `groups`, a number for a string).
    WrongType,
    /// An entry EKS refuses (no ARN, both `rolearn` and `sso`, an invalid `sso` block).
    InvalidEntry,
    /// An entry field EKS does not know, and ignores (`usrarn:`; case differences are fine).
    UnknownField,
    /// A data key EKS never reads (`maproles` for `mapRoles`).
    UnknownDataKey,
    /// A later entry maps the same principal; the earlier one is shadowed.
    DuplicateEntry,
    /// An `sts` assumed-role ARN, which never matches.
    AssumedRoleArn,
    /// A role ARN with a path, which never matches.
    RoleArnPath,
    /// An empty username.
    EmptyUsername,
    /// A `mapAccounts` item that is not a 12-digit account ID.
    InvalidAccountId,
}

/// What EKS (aws-iam-authenticator's `EKSConfigMap` backend) does with a problem it finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssueEffect {
    /// Every mapping under the key is dropped.
    KeyDropped,
    /// The entry is dropped, the rest of the key kept.
    EntryDropped,
    /// The field is left empty, the entry kept.
    FieldDropped,
    /// Nothing is dropped, but the entry can never match or behaves surprisingly.
    Advisory,
}

impl IssueEffect {
    /// Whether EKS silently loses configuration because of it (Rampart's admission check rejects
    /// such writes).
    pub fn loses_data(self) -> bool {
        !matches!(self, IssueEffect::Advisory)
    }

    fn consequence(self) -> &'static str {
        match self {
            IssueEffect::KeyDropped => "EKS ignores every mapping in this key",
            IssueEffect::EntryDropped => "EKS drops this entry",
            IssueEffect::FieldDropped => "EKS ignores this field",
            IssueEffect::Advisory => "",
        }
    }
}

impl fmt::Display for AwsAuthIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "data.{}", self.key)?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        write!(f, ": {}", self.message)?;
        match self.effect.consequence() {
            "" => Ok(()),
            consequence => write!(f, " ({consequence})"),
        }
    }
}

/// Every error of this crate.
///
/// The token variants display exactly as aws-iam-authenticator prints them (what EKS logs for a
/// refused token); the EKS API variants carry the exception name ([`Error::code`]) and HTTP status
/// ([`Error::http_status`]) the EKS REST API answers with, their `Display` being the message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The token failed one of the format checks aws-iam-authenticator makes before asking STS.
    #[error("input token was not properly formatted: {message}")]
    TokenFormat { check: TokenCheck, message: String },
    /// STS refused the presigned request or answered with an identity the authenticator cannot
    /// use. Rampart verifies locally, so the message is what the authenticator would print for
    /// STS's answer.
    #[error("sts getCallerIdentity failed: {message}")]
    Sts { check: TokenCheck, message: String },
    /// No access entry, aws-auth mapping or `mapAccounts` entry maps the caller.
    #[error("identity is not mapped")]
    NotMapped,
    /// A mapping matched but could not be applied (a template that cannot be rendered, an access
    /// entry whose principal ID does not match, a reserved username).
    #[error("{0}")]
    Mapping(String),
    /// Rampart's admission check refused an aws-auth write whose mappings EKS would silently drop.
    #[error("{}", join_issues(.0))]
    AwsAuthRejected(Vec<AwsAuthIssue>),
    /// Rampart's admission check refused an aws-auth write that would lock the cluster creator out.
    #[error(
        "this aws-auth ConfigMap would leave the cluster creator {creator} without access to the cluster: {reason}"
    )]
    CreatorLockedOut { creator: String, reason: String },
    /// EKS `InvalidParameterException` (HTTP 400).
    #[error("{0}")]
    InvalidParameter(String),
    /// EKS `InvalidRequestException` (HTTP 400).
    #[error("{0}")]
    InvalidRequest(String),
    /// EKS `ResourceNotFoundException` (HTTP 404).
    #[error("{0}")]
    ResourceNotFound(String),
    /// EKS `ResourceInUseException` (HTTP 409).
    #[error("{0}")]
    ResourceInUse(String),
}

fn join_issues(issues: &[AwsAuthIssue]) -> String {
    let mut out = String::from("aws-auth ConfigMap rejected: ");
    for (i, issue) in issues.iter().enumerate() {
        if i > 0 {
            out.push_str("; ");
        }
        out.push_str(&issue.to_string());
    }
    out
}

impl Error {
    pub(crate) fn format(check: TokenCheck, message: impl Into<String>) -> Self {
        Error::TokenFormat { check, message: message.into() }
    }

    pub(crate) fn sts(check: TokenCheck, message: impl Into<String>) -> Self {
        Error::Sts { check, message: message.into() }
    }

    /// The token check that failed, for token errors.
    pub fn token_check(&self) -> Option<TokenCheck> {
        match self {
            Error::TokenFormat { check, .. } | Error::Sts { check, .. } => Some(*check),
            _ => None,
        }
    }

    /// The EKS API exception name, for errors the EKS API returns.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Error::InvalidParameter(_) => Some("InvalidParameterException"),
            Error::InvalidRequest(_) => Some("InvalidRequestException"),
            Error::ResourceNotFound(_) => Some("ResourceNotFoundException"),
            Error::ResourceInUse(_) => Some("ResourceInUseException"),
            _ => None,
        }
    }

    /// The HTTP status: the EKS API's for its exceptions, 401 for authentication failures (what
    /// kube-apiserver answers when the authenticator refuses), 400 for a refused aws-auth write.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::InvalidParameter(_) | Error::InvalidRequest(_) => 400,
            Error::ResourceNotFound(_) => 404,
            Error::ResourceInUse(_) => 409,
            Error::AwsAuthRejected(_) | Error::CreatorLockedOut { .. } => 400,
            Error::TokenFormat { .. } | Error::Sts { .. } | Error::NotMapped | Error::Mapping(_) => 401,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_errors_print_as_the_authenticator_does() {
        let error = Error::format(TokenCheck::Prefix, "token is missing expected \"k8s-aws-v1.\" prefix");
        assert_eq!(
            error.to_string(),
            "input token was not properly formatted: token is missing expected \"k8s-aws-v1.\" prefix"
        );
        assert_eq!(error.token_check(), Some(TokenCheck::Prefix));
        assert_eq!(error.http_status(), 401);
        assert_eq!(Error::sts(TokenCheck::Signature, "x").to_string(), "sts getCallerIdentity failed: x");
        assert_eq!(Error::NotMapped.to_string(), "identity is not mapped");
    }

    #[test]
    fn eks_exceptions_carry_code_and_status() {
        let error =
            Error::ResourceInUse("The specified access entry resource is already in use on this cluster.".into());
        assert_eq!(error.code(), Some("ResourceInUseException"));
        assert_eq!(error.http_status(), 409);
        assert_eq!(Error::ResourceNotFound(String::new()).http_status(), 404);
        assert_eq!(Error::InvalidRequest(String::new()).code(), Some("InvalidRequestException"));
        assert_eq!(Error::NotMapped.code(), None);
    }

    #[test]
    fn aws_auth_issues_name_key_and_line() {
        let issue = AwsAuthIssue {
            key: "mapRoles".into(),
            line: Some(3),
            message: "groups must be a list of strings".into(),
            effect: IssueEffect::FieldDropped,
            kind: IssueKind::WrongType,
        };
        assert_eq!(
            issue.to_string(),
            "data.mapRoles line 3: groups must be a list of strings (EKS ignores this field)"
        );
        let rejected = Error::AwsAuthRejected(vec![issue.clone(), AwsAuthIssue { line: None, ..issue }]);
        assert_eq!(
            rejected.to_string(),
            "aws-auth ConfigMap rejected: data.mapRoles line 3: groups must be a list of strings (EKS ignores this \
             field); data.mapRoles: groups must be a list of strings (EKS ignores this field)"
        );
    }
}
