//! AWS Signature Version 4 verification, as IAM, STS and EKS check it.
//!
//! This crate owns the canonical request (botocore's canonicalization rules for non-S3
//! services), the string to sign, signing-key derivation with a cache, constant-time signature
//! comparison, and the clock-skew window, for header-signed and presigned requests. Verification
//! takes "now" as an input and looks secrets up through the caller; it must never do I/O or read
//! the wall clock itself.
//!
//! Written by hand (hmac + sha2) rather than taken from a crate: `aws-sigv4` only signs, and the
//! EKS token needs what no verifier offers — a signed header (`x-k8s-aws-id`) whose value the
//! verifier supplies, the empty-body payload hash, and a fixed 15-minute window that ignores
//! `X-Amz-Expires`. `aws-sigv4` and requests signed by the real botocore are the test oracles.
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use sigv4::{SignedRequest, SigningCredentials, SigningKey, Verifier};
//!
//! let now = Utc.with_ymd_and_hms(2026, 11, 28, 9, 7, 34).unwrap();
//! let body = b"Action=GetCallerIdentity&Version=2011-06-15";
//! let headers = [
//!     ("Host", "127.0.0.1:9443"),
//!     ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
//!     ("X-Amz-Date", "20261128T090734Z"),
//! ];
//! let unsigned = SignedRequest { method: "POST", path: "/", query: "", headers: &headers, body };
//! // Sign as a client would.
//! let signed_headers = "content-type;host;x-amz-date";
//! let canonical = sigv4::canonical_request(&unsigned, signed_headers, None, &sigv4::sha256_hex(body));
//! let scope = "20261128/us-east-1/sts/aws4_request";
//! let signature = SigningKey::derive("secret", "20261128", "us-east-1", "sts")
//!     .sign(&sigv4::string_to_sign("20261128T090734Z", scope, &canonical));
//! let authorization = format!(
//!     "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
//! );
//! let mut all = headers.to_vec();
//! all.push(("Authorization", &authorization));
//! let request = SignedRequest { headers: &all, ..unsigned };
//!
//! // Verify as the server does.
//! let lookup = |key: &str| {
//!     (key == "AKIAEXAMPLE").then(|| {
//!         let credentials = SigningCredentials {
//!             secret_access_key: "secret".to_string(),
//!             session_token: None,
//!             expiration: None,
//!         };
//!         (credentials, "arn:aws:iam::123456789012:user/alice")
//!     })
//! };
//! let verified = Verifier::new().verify(&request, now, &lookup).unwrap();
//! assert_eq!(verified.principal, "arn:aws:iam::123456789012:user/alice");
//! assert_eq!(verified.scope.service, "sts");
//! ```

mod canonical;
mod error;
mod key;
mod verify;

pub use canonical::{
    ALGORITHM, EMPTY_PAYLOAD_SHA256, SignedRequest, canonical_request, encode_query_component, query_pairs, sha256_hex,
    string_to_sign,
};
pub use error::SigV4Error;
pub use key::{SigningKey, SigningKeyCache};
pub use verify::{
    CredentialLookup, CredentialScope, MAX_CLOCK_SKEW, PresignedExpiry, SigningCredentials, Verified, Verifier,
    format_amz_date, parse_amz_date,
};
