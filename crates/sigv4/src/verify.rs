//! Verification of header-signed and presigned requests: parsing the signature's parts, the
//! credential scope and the signing time, the clock-skew and expiry windows, the access key and
//! session token checks, and the constant-time signature comparison.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use subtle::ConstantTimeEq;

use crate::canonical::{
    ALGORITHM, EMPTY_PAYLOAD_SHA256, SignedRequest, canonical_request_hash, decode_cow, percent_decoded_eq, sha256_hex,
    string_to_sign_pieces,
};
use crate::error::SigV4Error;
use crate::key::SigningKeyCache;

/// How far a header-signed request's `X-Amz-Date` may be from "now", either way.
pub const MAX_CLOCK_SKEW: TimeDelta = TimeDelta::minutes(15);

/// What verification needs to know about an access key.
#[derive(Clone)]
pub struct SigningCredentials {
    pub secret_access_key: String,
    /// For temporary credentials (`ASIA…`): the session token the request must carry.
    pub session_token: Option<String>,
    /// For temporary credentials: when they stop working.
    pub expiration: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for SigningCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningCredentials")
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .field("expiration", &self.expiration)
            .finish()
    }
}

/// Finds the credentials of an access key, and whatever the caller wants back about its owner
/// (the principal). Return `None` for an unknown, inactive or deleted key.
///
/// Any `Fn(&str) -> Option<(SigningCredentials, P)>` is one.
pub trait CredentialLookup {
    type Principal;
    fn lookup(&self, access_key_id: &str) -> Option<(SigningCredentials, Self::Principal)>;
}

impl<F, P> CredentialLookup for F
where
    F: Fn(&str) -> Option<(SigningCredentials, P)>,
{
    type Principal = P;
    fn lookup(&self, access_key_id: &str) -> Option<(SigningCredentials, P)> {
        self(access_key_id)
    }
}

/// The scope a signature was made for: `<date>/<region>/<service>/aws4_request`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialScope {
    /// `yyyymmdd`.
    pub date: String,
    pub region: String,
    pub service: String,
}

/// A request whose signature checked out.
#[derive(Clone, Debug)]
pub struct Verified<P> {
    pub access_key_id: String,
    pub scope: CredentialScope,
    /// The request's `X-Amz-Date`.
    pub signed_at: DateTime<Utc>,
    /// Whether the signature came in the query string (a presigned URL).
    pub presigned: bool,
    /// What the lookup returned about the key's owner.
    pub principal: P,
}

impl<P> Verified<P> {
    /// Fails unless the signature was scoped to `service` (`sts`, `iam`, `eks`).
    pub fn require_service(&self, service: &str) -> Result<(), SigV4Error> {
        if self.scope.service == service {
            Ok(())
        } else {
            Err(SigV4Error::WrongService { expected: service.to_string() })
        }
    }
}

/// How long a presigned request stays valid after its `X-Amz-Date`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresignedExpiry {
    /// What its `X-Amz-Expires` says (which must then be present).
    FromRequest,
    /// A fixed window, whatever `X-Amz-Expires` says: the EKS token's 15 minutes (its
    /// `X-Amz-Expires=60` is a legacy value STS and the authenticator ignore).
    Fixed(TimeDelta),
}

/// The longest `X-Amz-Expires` AWS accepts: one week.
const MAX_PRESIGNED_EXPIRES: i64 = 604_800;

/// Verifies SigV4 signatures. Holds the signing-key cache; share one per process (it is
/// `Send + Sync`).
#[derive(Debug, Default)]
pub struct Verifier {
    cache: SigningKeyCache,
}

/// The signature's parts, wherever they came from.
struct Parts<'a> {
    credential: Cow<'a, str>,
    signed_headers: Cow<'a, str>,
    signature: Cow<'a, str>,
    amz_date: Cow<'a, str>,
    session_token: Option<SessionToken<'a>>,
}

/// The session token a request carries, as it came.
enum SessionToken<'a> {
    /// An `X-Amz-Security-Token` header's value.
    Header(&'a str),
    /// A presigned URL's `X-Amz-Security-Token` value, still percent-encoded: compared with the
    /// expected token as it is decoded, never decoded into a string of its own.
    Query(&'a str),
}

impl SessionToken<'_> {
    /// Whether this is `expected`, compared in constant time.
    fn is(&self, expected: &str) -> bool {
        match self {
            SessionToken::Header(given) => {
                expected.len() == given.len() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
            }
            SessionToken::Query(raw) => percent_decoded_eq(raw, expected.as_bytes()),
        }
    }
}

impl Verifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// The signing-key cache (for metrics and tests).
    pub fn cache(&self) -> &SigningKeyCache {
        &self.cache
    }

    /// Verifies a request signed either way: with an `Authorization` header, or presigned
    /// (`X-Amz-Algorithm` … in the query, valid for its `X-Amz-Expires`).
    pub fn verify<L: CredentialLookup>(
        &self,
        request: &SignedRequest<'_>,
        now: DateTime<Utc>,
        lookup: &L,
    ) -> Result<Verified<L::Principal>, SigV4Error> {
        if request.header("authorization").is_some() {
            self.verify_header_signed(request, now, lookup)
        } else if request
            .query
            .split('&')
            .any(|pair| pair.starts_with("X-Amz-Algorithm=") || pair.starts_with("X-Amz-Signature="))
        {
            self.verify_presigned(request, now, PresignedExpiry::FromRequest, lookup)
        } else {
            Err(SigV4Error::MissingAuthenticationToken)
        }
    }

    /// Verifies a request signed with an `Authorization` header, within [`MAX_CLOCK_SKEW`] of `now`.
    pub fn verify_header_signed<L: CredentialLookup>(
        &self,
        request: &SignedRequest<'_>,
        now: DateTime<Utc>,
        lookup: &L,
    ) -> Result<Verified<L::Principal>, SigV4Error> {
        let authorization = request.header("authorization").ok_or(SigV4Error::MissingAuthenticationToken)?;
        let parts = parse_authorization(authorization, request)?;
        let signed_at = parse_amz_date(&parts.amz_date)?;
        check_window(signed_at, now, MAX_CLOCK_SKEW, MAX_CLOCK_SKEW)?;
        let payload_hash = match request.header("x-amz-content-sha256") {
            Some(claimed) => {
                let actual = sha256_hex(request.body);
                if !claimed.eq_ignore_ascii_case(&actual) {
                    return Err(SigV4Error::PayloadHashMismatch);
                }
                claimed.to_string()
            }
            None => sha256_hex(request.body),
        };
        self.check(request, now, signed_at, parts, None, &payload_hash, false, lookup)
    }

    /// Verifies a presigned request (signature in the query string). Its payload hash is that
    /// of the body received (empty for a GET, as botocore signs non-S3 presigned URLs).
    ///
    /// For an EKS token, pass the request rebuilt from the token's URL — method `GET`, the
    /// URL's path and raw query, headers `host` (the URL's host) and `x-k8s-aws-id` (the
    /// cluster the verifier serves), an empty body — and [`PresignedExpiry::Fixed`] 15 minutes.
    pub fn verify_presigned<L: CredentialLookup>(
        &self,
        request: &SignedRequest<'_>,
        now: DateTime<Utc>,
        expiry: PresignedExpiry,
        lookup: &L,
    ) -> Result<Verified<L::Principal>, SigV4Error> {
        let query = PresignedQuery::parse(request.query);
        let algorithm = query.require("X-Amz-Algorithm")?;
        if algorithm != ALGORITHM {
            return Err(SigV4Error::IncompleteSignature(format!("Unsupported AWS 'algorithm': '{algorithm}'")));
        }
        let credential = query.require("X-Amz-Credential")?;
        let amz_date = query.require("X-Amz-Date")?;
        let signed_headers = query.require("X-Amz-SignedHeaders")?;
        let signature = query.require("X-Amz-Signature")?;
        let window = match expiry {
            PresignedExpiry::Fixed(window) => window,
            PresignedExpiry::FromRequest => {
                let expires = query.require("X-Amz-Expires")?;
                match expires.parse::<i64>() {
                    Ok(seconds) if (0..=MAX_PRESIGNED_EXPIRES).contains(&seconds) => TimeDelta::seconds(seconds),
                    _ => {
                        return Err(SigV4Error::IncompleteSignature(format!(
                            "X-Amz-Expires must be a number of seconds from 0 to {MAX_PRESIGNED_EXPIRES}, not '{expires}'."
                        )));
                    }
                }
            }
        };
        let signed_at = parse_amz_date(&amz_date)?;
        check_window(signed_at, now, window, MAX_CLOCK_SKEW)?;
        let parts = Parts {
            credential,
            signed_headers,
            signature,
            amz_date,
            session_token: query.raw("X-Amz-Security-Token").map(SessionToken::Query),
        };
        let payload_hash: Cow<'_, str> = if request.body.is_empty() {
            Cow::Borrowed(EMPTY_PAYLOAD_SHA256)
        } else {
            Cow::Owned(sha256_hex(request.body))
        };
        self.check(request, now, signed_at, parts, Some("X-Amz-Signature"), &payload_hash, true, lookup)
    }

    #[allow(clippy::too_many_arguments)]
    fn check<L: CredentialLookup>(
        &self,
        request: &SignedRequest<'_>,
        now: DateTime<Utc>,
        signed_at: DateTime<Utc>,
        parts: Parts<'_>,
        skip_query: Option<&str>,
        payload_hash: &str,
        presigned: bool,
        lookup: &L,
    ) -> Result<Verified<L::Principal>, SigV4Error> {
        let (access_key_id, scope_text, scope) = parse_credential(&parts.credential)?;
        if scope.date != parts.amz_date[..8] {
            return Err(SigV4Error::ScopeDateMismatch {
                scope_date: scope.date.clone(),
                request_date: parts.amz_date[..8].to_string(),
                amz_date: parts.amz_date.to_string(),
            });
        }
        let (credentials, principal) = lookup.lookup(access_key_id).ok_or(SigV4Error::InvalidClientTokenId)?;
        match (&credentials.session_token, &parts.session_token) {
            (None, None) => {}
            (Some(expected), Some(given)) if given.is(expected) => {}
            _ => return Err(SigV4Error::InvalidClientTokenId),
        }
        if credentials.expiration.is_some_and(|expiration| now >= expiration) {
            return Err(SigV4Error::ExpiredToken);
        }
        let key = self.cache.get(
            &parts.credential,
            &credentials.secret_access_key,
            &scope.date,
            &scope.region,
            &scope.service,
        );
        let canonical_hash = canonical_request_hash(request, &parts.signed_headers, skip_query, payload_hash);
        if !key.verify_pieces(string_to_sign_pieces(&parts.amz_date, scope_text, &canonical_hash), &parts.signature) {
            return Err(SigV4Error::SignatureDoesNotMatch);
        }
        Ok(Verified { access_key_id: access_key_id.to_string(), scope, signed_at, presigned, principal })
    }
}

/// The `X-Amz-*` parameters of a presigned query, names decoded, values as they came (each is
/// decoded only where it is read).
struct PresignedQuery<'a> {
    params: Vec<(Cow<'a, str>, &'a str)>,
}

impl<'a> PresignedQuery<'a> {
    fn parse(raw: &'a str) -> Self {
        let params = raw
            .split('&')
            .filter(|pair| pair.starts_with("X-Amz-"))
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (decode_cow(key), value)
            })
            .collect();
        PresignedQuery { params }
    }

    /// The first value of `name`, still percent-encoded.
    fn raw(&self, name: &str) -> Option<&'a str> {
        self.params.iter().find(|(key, _)| key == name).map(|(_, value)| *value)
    }

    /// The first value of `name`, still percent-encoded, or AWS's error for its absence.
    fn require_raw(&self, name: &str) -> Result<&'a str, SigV4Error> {
        self.raw(name).ok_or_else(|| {
            SigV4Error::IncompleteSignature(format!(
                "AWS query-string parameters must include '{name}'. Re-examine the query-string parameters."
            ))
        })
    }

    /// The first value of `name`, decoded, or AWS's error for its absence.
    fn require(&self, name: &str) -> Result<Cow<'a, str>, SigV4Error> {
        self.require_raw(name).map(decode_cow)
    }
}

/// AWS's words for a header-signed request whose `SignedHeaders` leave out `host`.
const HOST_NOT_SIGNED: &str = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.";

/// Parses `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` and finds `X-Amz-Date`;
/// `host` must be among the signed headers.
fn parse_authorization<'a>(authorization: &'a str, request: &SignedRequest<'a>) -> Result<Parts<'a>, SigV4Error> {
    let (algorithm, rest) = authorization.trim().split_once(' ').unwrap_or((authorization.trim(), ""));
    if algorithm != ALGORITHM {
        return Err(SigV4Error::IncompleteSignature(format!("Unsupported AWS 'algorithm': '{algorithm}'")));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in rest.split(',') {
        let Some((name, value)) = component.trim().split_once('=') else { continue };
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let amz_date = request.header("x-amz-date");
    let mut missing = String::new();
    for (name, present) in [
        ("Credential", credential.is_some()),
        ("Signature", signature.is_some()),
        ("SignedHeaders", signed_headers.is_some()),
    ] {
        if !present {
            missing.push_str(&format!("Authorization header requires '{name}' parameter. "));
        }
    }
    if amz_date.is_none() {
        missing.push_str("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ");
    }
    match (credential, signed_headers, signature, amz_date) {
        // AWS refuses a signature that leaves the host out: it could be replayed at another host.
        (Some(_), Some(signed_headers), Some(_), Some(_)) if !signed_headers.split(';').any(|name| name == "host") => {
            Err(SigV4Error::IncompleteSignature(HOST_NOT_SIGNED.into()))
        }
        (Some(credential), Some(signed_headers), Some(signature), Some(amz_date)) => Ok(Parts {
            credential: Cow::Borrowed(credential),
            signed_headers: Cow::Borrowed(signed_headers),
            signature: Cow::Borrowed(signature),
            amz_date: Cow::Borrowed(amz_date),
            session_token: request.header("x-amz-security-token").map(SessionToken::Header),
        }),
        _ => Err(SigV4Error::IncompleteSignature(format!("{missing}Authorization={authorization}"))),
    }
}

/// Splits `AKID/yyyymmdd/region/service/aws4_request` into the key id, the scope text (all after
/// the key id) and the parsed scope.
fn parse_credential(credential: &str) -> Result<(&str, &str, CredentialScope), SigV4Error> {
    let malformed = || {
        SigV4Error::IncompleteSignature(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got \
             '{credential}'"
        ))
    };
    let mut parts = credential.split('/');
    let (Some(access_key_id), Some(date), Some(region), Some(service), Some(terminator), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    if terminator != "aws4_request" {
        return Err(SigV4Error::IncompleteSignature(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'. "
        )));
    }
    if access_key_id.is_empty() {
        return Err(SigV4Error::InvalidClientTokenId);
    }
    let scope_text = &credential[access_key_id.len() + 1..];
    let scope = CredentialScope { date: date.to_string(), region: region.to_string(), service: service.to_string() };
    Ok((access_key_id, scope_text, scope))
}

/// Parses `yyyymmddThhmmssZ` (ISO 8601 basic format, UTC).
pub fn parse_amz_date(amz_date: &str) -> Result<DateTime<Utc>, SigV4Error> {
    let invalid = || {
        SigV4Error::IncompleteSignature(format!(
            "Date must be in ISO-8601 'basic format'. Got '{amz_date}'. See http://en.wikipedia.org/wiki/ISO_8601"
        ))
    };
    let bytes = amz_date.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return Err(invalid());
    }
    let number = |range: std::ops::Range<usize>| -> Result<u32, SigV4Error> {
        let digits = &bytes[range];
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(invalid());
        }
        Ok(digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let date = NaiveDate::from_ymd_opt(number(0..4)? as i32, number(4..6)?, number(6..8)?).ok_or_else(invalid)?;
    let time = date.and_hms_opt(number(9..11)?, number(11..13)?, number(13..15)?).ok_or_else(invalid)?;
    Ok(time.and_utc())
}

/// Formats a time as `yyyymmddThhmmssZ`.
pub fn format_amz_date(time: DateTime<Utc>) -> String {
    time.format("%Y%m%dT%H%M%SZ").to_string()
}

fn describe(window: TimeDelta) -> String {
    if window.num_seconds() % 60 == 0 {
        format!("{} min", window.num_minutes())
    } else {
        format!("{} sec", window.num_seconds())
    }
}

/// Fails unless `now - past <= signed_at <= now + future`.
fn check_window(
    signed_at: DateTime<Utc>,
    now: DateTime<Utc>,
    past: TimeDelta,
    future: TimeDelta,
) -> Result<(), SigV4Error> {
    if signed_at < now - past {
        return Err(SigV4Error::SignatureExpired {
            signed_at: format_amz_date(signed_at),
            earliest: format_amz_date(now - past),
            now: format_amz_date(now),
            window: describe(past),
        });
    }
    if signed_at > now + future {
        return Err(SigV4Error::SignatureNotYetCurrent {
            signed_at: format_amz_date(signed_at),
            latest: format_amz_date(now + future),
            now: format_amz_date(now),
            window: describe(future),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::canonical::{canonical_request, string_to_sign};
    use crate::key::SigningKey;

    const SECRET: &str = "secret";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 9, 7, 34).unwrap()
    }

    fn credentials(token: Option<&str>, expiration: Option<DateTime<Utc>>) -> SigningCredentials {
        SigningCredentials {
            secret_access_key: SECRET.to_string(),
            session_token: token.map(str::to_string),
            expiration,
        }
    }

    /// Signs a POST the way botocore does and returns its headers.
    fn signed_headers(body: &[u8], extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> =
            vec![("host".into(), "127.0.0.1:9443".into()), ("x-amz-date".into(), "20261128T090734Z".into())];
        headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        sign(body, headers)
    }

    /// Signs a POST with exactly these headers and adds its `Authorization`.
    fn sign(body: &[u8], mut headers: Vec<(String, String)>) -> Vec<(String, String)> {
        let names: Vec<String> = {
            let mut names: Vec<String> = headers.iter().map(|(n, _)| n.clone()).collect();
            names.sort();
            names
        };
        let signed = names.join(";");
        let refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let request = SignedRequest { method: "POST", path: "/", query: "", headers: &refs, body };
        let canonical = canonical_request(&request, &signed, None, &sha256_hex(body));
        let scope = "20261128/us-east-1/iam/aws4_request";
        let signature = SigningKey::derive(SECRET, "20261128", "us-east-1", "iam").sign(&string_to_sign(
            "20261128T090734Z",
            scope,
            &canonical,
        ));
        headers.push((
            "authorization".into(),
            format!("AWS4-HMAC-SHA256 Credential=AKID/{scope}, SignedHeaders={signed}, Signature={signature}"),
        ));
        headers
    }

    fn run(headers: &[(String, String)], body: &[u8], found: Option<SigningCredentials>) -> Result<(), SigV4Error> {
        let refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let request = SignedRequest { method: "POST", path: "/", query: "", headers: &refs, body };
        let lookup = |key: &str| (key == "AKID").then(|| found.clone()).flatten().map(|c| (c, ()));
        Verifier::new().verify(&request, now(), &lookup).map(|_| ())
    }

    fn with_authorization(value: &str) -> Vec<(String, String)> {
        vec![("x-amz-date".into(), "20261128T090734Z".into()), ("authorization".into(), value.into())]
    }

    #[test]
    fn a_well_signed_request_verifies_and_the_service_is_checked() {
        let headers = signed_headers(b"Action=ListUsers", &[]);
        assert_eq!(run(&headers, b"Action=ListUsers", Some(credentials(None, None))), Ok(()));
        let refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let request = SignedRequest { method: "POST", path: "/", query: "", headers: &refs, body: b"Action=ListUsers" };
        let lookup = |_: &str| Some((credentials(None, None), ()));
        let verified = Verifier::new().verify(&request, now(), &lookup).unwrap();
        assert_eq!(verified.require_service("iam"), Ok(()));
        assert_eq!(
            verified.require_service("sts").unwrap_err().to_string(),
            "Credential should be scoped to correct service: 'sts'. "
        );
    }

    #[test]
    fn unknown_or_expired_keys_and_tokens_are_refused() {
        let body = b"Action=ListUsers";
        let headers = signed_headers(body, &[]);
        assert_eq!(run(&headers, body, None), Err(SigV4Error::InvalidClientTokenId));
        let expired = Some(credentials(None, Some(now())));
        assert_eq!(run(&headers, body, expired), Err(SigV4Error::ExpiredToken));
        let session = signed_headers(body, &[("x-amz-security-token", "tok")]);
        assert_eq!(run(&session, body, Some(credentials(Some("tok"), Some(now() + TimeDelta::hours(1))))), Ok(()));
        assert_eq!(run(&session, body, Some(credentials(Some("other"), None))), Err(SigV4Error::InvalidClientTokenId));
        assert_eq!(run(&session, body, Some(credentials(None, None))), Err(SigV4Error::InvalidClientTokenId));
    }

    #[test]
    fn a_content_hash_header_must_match_the_body() {
        let body = b"Action=ListUsers";
        let good = signed_headers(body, &[("x-amz-content-sha256", &sha256_hex(body))]);
        assert_eq!(run(&good, body, Some(credentials(None, None))), Ok(()));
        let lying = signed_headers(b"Action=DeleteUser", &[("x-amz-content-sha256", &sha256_hex(b"Action=ListUsers"))]);
        assert_eq!(
            run(&lying, b"Action=DeleteUser", Some(credentials(None, None))),
            Err(SigV4Error::PayloadHashMismatch)
        );
    }

    /// A signature that leaves out `host` could be replayed at another host: AWS refuses it
    /// however right the signature is.
    #[test]
    fn the_host_must_be_signed() {
        let body = b"Action=ListUsers";
        let mut unsigned_host = sign(body, vec![("x-amz-date".into(), "20261128T090734Z".into())]);
        unsigned_host.push(("host".into(), "127.0.0.1:9443".into()));
        let refused = run(&unsigned_host, body, Some(credentials(None, None))).unwrap_err();
        assert_eq!(refused.to_string(), "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
        assert_eq!((refused.code(), refused.http_status()), ("IncompleteSignature", 400));
    }

    #[test]
    fn malformed_signatures_get_aws_messages() {
        let found = Some(credentials(None, None));
        assert_eq!(run(&[], b"", found.clone()), Err(SigV4Error::MissingAuthenticationToken));
        let missing = run(
            &with_authorization("AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/iam/aws4_request"),
            b"",
            found.clone(),
        );
        assert_eq!(
            missing.unwrap_err().to_string(),
            "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' \
             parameter. Authorization=AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/iam/aws4_request"
        );
        let no_date = run(
            &[("authorization".into(), "AWS4-HMAC-SHA256 Credential=a, SignedHeaders=host, Signature=0".into())],
            b"",
            found.clone(),
        );
        assert!(
            no_date
                .unwrap_err()
                .to_string()
                .starts_with("Authorization header requires existence of either a 'X-Amz-Date'")
        );
        let short = run(
            &with_authorization(
                "AWS4-HMAC-SHA256 Credential=AKID/20261128/iam/aws4_request, SignedHeaders=host, Signature=0",
            ),
            b"",
            found.clone(),
        );
        assert_eq!(
            short.unwrap_err().to_string(),
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got \
             'AKID/20261128/iam/aws4_request'"
        );
        let terminator = run(
            &with_authorization(
                "AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/iam/aws5_request, SignedHeaders=host, Signature=0",
            ),
            b"",
            found.clone(),
        );
        assert_eq!(terminator.unwrap_err().code(), "IncompleteSignature");
        let day = run(
            &with_authorization(
                "AWS4-HMAC-SHA256 Credential=AKID/20261127/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
            ),
            b"",
            found.clone(),
        );
        assert_eq!(
            day.unwrap_err().to_string(),
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261127' != \
             '20261128', from '20261128T090734Z'."
        );
        let algorithm = run(&with_authorization("AWS4-ECDSA-P256-SHA256 Credential=x"), b"", found.clone());
        assert_eq!(algorithm.unwrap_err().to_string(), "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'");
        let bad_date = vec![
            ("x-amz-date".to_string(), "2026-11-28T09:07:34Z".to_string()),
            (
                "authorization".to_string(),
                "AWS4-HMAC-SHA256 Credential=AKID/20261128/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0"
                    .to_string(),
            ),
        ];
        assert!(
            run(&bad_date, b"", found).unwrap_err().to_string().starts_with("Date must be in ISO-8601 'basic format'.")
        );
    }

    #[test]
    fn presigned_requests_need_every_parameter() {
        let lookup = |_: &str| Some((credentials(None, None), ()));
        let request = SignedRequest {
            method: "GET",
            path: "/",
            query: "Action=GetCallerIdentity&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261128T090734Z",
            headers: &[],
            body: b"",
        };
        let err = Verifier::new().verify(&request, now(), &lookup).unwrap_err();
        assert_eq!(
            err.to_string(),
            "AWS query-string parameters must include 'X-Amz-Credential'. Re-examine the query-string parameters."
        );
    }

    #[test]
    fn amz_dates_round_trip_and_reject_other_formats() {
        assert_eq!(parse_amz_date("20261128T090734Z").unwrap(), now());
        assert_eq!(format_amz_date(now()), "20261128T090734Z");
        for bad in ["20261128T090734", "20261328T090734Z", "2026112xT090734Z", "20261128T250734Z", ""] {
            assert!(parse_amz_date(bad).is_err(), "{bad}");
        }
    }
}
