//! Why a request's signature was refused, each reason carrying the error code, HTTP status and
//! message AWS itself returns for it.

/// Everything verification can refuse a request for. [`SigV4Error::code`] and
/// [`SigV4Error::http_status`] give what goes on the wire; `Display` is AWS's message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// Neither an `Authorization` header nor presigned query parameters.
    #[error("Request is missing Authentication Token")]
    MissingAuthenticationToken,
    /// The signature's parts are missing or malformed; the message says which, in AWS's words.
    #[error("{0}")]
    IncompleteSignature(String),
    /// The access key is unknown, inactive or deleted, or the session token does not belong to it.
    #[error("The security token included in the request is invalid.")]
    InvalidClientTokenId,
    /// The temporary credentials' session has expired.
    #[error("The security token included in the request is expired")]
    ExpiredToken,
    /// The signature is not the one the secret access key gives for this request.
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access \
         Key and signing method. Consult the service documentation for details."
    )]
    SignatureDoesNotMatch,
    /// The request was signed too long ago (clock skew, or a presigned URL past its window).
    #[error("Signature expired: {signed_at} is now earlier than {earliest} ({now} - {window}.)")]
    SignatureExpired { signed_at: String, earliest: String, now: String, window: String },
    /// The request was signed too far in the future (clock skew).
    #[error("Signature not yet current: {signed_at} is still later than {latest} ({now} + {window}.)")]
    SignatureNotYetCurrent { signed_at: String, latest: String, now: String, window: String },
    /// The date in the credential scope is not the day of `X-Amz-Date`.
    #[error(
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope_date}' != \
         '{request_date}', from '{amz_date}'."
    )]
    ScopeDateMismatch { scope_date: String, request_date: String, amz_date: String },
    /// The credential scope names another service than the one asked.
    #[error("Credential should be scoped to correct service: '{expected}'. ")]
    WrongService { expected: String },
    /// `X-Amz-Content-SHA256` is not the hash of the body received.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    PayloadHashMismatch,
}

impl SigV4Error {
    /// The AWS error code.
    pub fn code(&self) -> &'static str {
        match self {
            SigV4Error::MissingAuthenticationToken => "MissingAuthenticationToken",
            SigV4Error::IncompleteSignature(_) => "IncompleteSignature",
            SigV4Error::InvalidClientTokenId => "InvalidClientTokenId",
            SigV4Error::ExpiredToken => "ExpiredToken",
            SigV4Error::SignatureDoesNotMatch
            | SigV4Error::SignatureExpired { .. }
            | SigV4Error::SignatureNotYetCurrent { .. }
            | SigV4Error::ScopeDateMismatch { .. }
            | SigV4Error::WrongService { .. } => "SignatureDoesNotMatch",
            SigV4Error::PayloadHashMismatch => "XAmzContentSHA256Mismatch",
        }
    }

    /// The HTTP status AWS answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            SigV4Error::IncompleteSignature(_) | SigV4Error::PayloadHashMismatch => 400,
            _ => 403,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_codes_are_aws_own() {
        let skew = SigV4Error::SignatureExpired {
            signed_at: "20160609T184512Z".into(),
            earliest: "20160610T013008Z".into(),
            now: "20160610T014508Z".into(),
            window: "15 min".into(),
        };
        assert_eq!(
            skew.to_string(),
            "Signature expired: 20160609T184512Z is now earlier than 20160610T013008Z (20160610T014508Z - 15 min.)"
        );
        assert_eq!(skew.code(), "SignatureDoesNotMatch");
        assert_eq!(skew.http_status(), 403);
        assert_eq!(
            SigV4Error::SignatureDoesNotMatch.to_string(),
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret \
             Access Key and signing method. Consult the service documentation for details."
        );
        assert_eq!(
            SigV4Error::InvalidClientTokenId.to_string(),
            "The security token included in the request is invalid."
        );
        assert_eq!(SigV4Error::IncompleteSignature("x".into()).http_status(), 400);
    }
}
