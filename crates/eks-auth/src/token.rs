//! `k8s-aws-v1.` tokens: every check aws-iam-authenticator makes, in its order and with its
//! messages, then the presigned `GetCallerIdentity` request verified locally with `sigv4`
//! against the caller's credentials instead of sent to STS.
//!
//! The presigned URL may point at this Rampart's own STS endpoint (the origins the caller
//! configures, any scheme) or at a real STS host name (`https` only, checked as the
//! authenticator checks it for the `aws` partition); wherever it points, the signature is
//! checked here. The `x-k8s-aws-id` header value is this cluster's name, so a token minted for
//! another cluster fails as STS would fail it: `SignatureDoesNotMatch`.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use sigv4::{PresignedExpiry, SigV4Error, SignedRequest, SigningCredentials};

use crate::arn::{Caller, Identity};
use crate::cache::TokenCache;
use crate::error::{Error, TokenCheck};
use crate::goparse;

/// What every token starts with.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// The longest token aws-iam-authenticator accepts, in bytes.
pub const MAX_TOKEN_LEN: usize = 4096;
/// How long a token lives after its `X-Amz-Date` (its `X-Amz-Expires=60` is ignored, as STS and
/// the authenticator ignore it).
pub const TOKEN_LIFETIME: TimeDelta = TimeDelta::minutes(15);
/// The signed header naming the cluster a token was minted for.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";

/// The query parameters a presigned `GetCallerIdentity` URL may carry (lower-cased).
const PARAMETER_WHITELIST: &[&str] = &[
    "action",
    "version",
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-security-token",
    "x-amz-signature",
    "x-amz-signedheaders",
];

/// Where the authenticator finds credentials: the live IAM state in the server, fixtures in
/// tests. It is asked about one access key per uncached verification.
pub trait AccessKeys {
    /// The signing credentials of an access key and the caller `GetCallerIdentity` would report
    /// for it, or `None` when the key is unknown, inactive, or belongs to a deleted user or an
    /// ended session. For temporary (`ASIA…`) keys, the credentials carry the session token and
    /// its expiry.
    fn lookup(&self, access_key_id: &str) -> Option<(SigningCredentials, Caller)>;

    /// A number that changes whenever a key that worked may have stopped working (deactivated,
    /// deleted, its user deleted, a session revoked). Cached tokens verified under another
    /// generation are verified again, so such a change takes effect on the next request. It
    /// may change more often than needed (any IAM write); that only costs a re-verification.
    fn generation(&self) -> u64;
}

/// What a [`TokenVerifier`] accepts.
#[derive(Clone, Debug)]
pub struct VerifierConfig {
    /// This cluster's name: the `x-k8s-aws-id` value tokens must be signed for.
    pub cluster_id: String,
    /// This Rampart's own STS endpoint(s), as `scheme://host[:port]` (e.g.
    /// `https://127.0.0.1:8443`): tokens presigned for them pass the scheme and host checks.
    pub sts_origins: Vec<String>,
    /// The region the authenticator runs in; its default STS host names are accepted even when
    /// not derived from the token's own host.
    pub region: String,
    /// How many verified tokens to remember.
    pub cache_capacity: usize,
}

/// Verifies tokens for one cluster. Share one per cluster (it is `Send + Sync`): it holds the
/// SigV4 signing-key cache and the verified-token cache.
pub struct TokenVerifier {
    cluster_id: String,
    origins: Vec<(String, String)>,
    region: String,
    sigv4: sigv4::Verifier,
    cache: TokenCache,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("cluster_id", &self.cluster_id)
            .field("origins", &self.origins)
            .field("cached_tokens", &self.cache.len())
            .finish()
    }
}

/// A token that passed every check: who signed it and until when it is good.
#[derive(Clone, Debug)]
pub struct VerifiedToken {
    pub identity: Arc<Identity>,
    /// `X-Amz-Date` + 15 minutes, or the session's end if sooner.
    pub expires_at: DateTime<Utc>,
    /// Whether the answer came from the verified-token cache (the authenticator logs a token
    /// when it is first verified, as aws-iam-authenticator logs each webhook call).
    pub from_cache: bool,
}

impl TokenVerifier {
    /// A verifier for `config`. `cache_key` keys the hash the token cache is indexed by; pass
    /// 16 random bytes.
    pub fn new(config: VerifierConfig, cache_key: [u8; 16]) -> Self {
        let origins = config
            .sts_origins
            .iter()
            .filter_map(|origin| {
                let (scheme, host) = origin.trim_end_matches('/').split_once("://")?;
                Some((scheme.to_ascii_lowercase(), host.to_ascii_lowercase()))
            })
            .collect();
        TokenVerifier {
            cluster_id: config.cluster_id,
            origins,
            region: config.region,
            sigv4: sigv4::Verifier::new(),
            cache: TokenCache::new(config.cache_capacity, cache_key),
        }
    }

    /// The cluster tokens must be signed for.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// How many verified tokens are cached.
    pub fn cached_tokens(&self) -> usize {
        self.cache.len()
    }

    /// Verifies a token, answering from the cache when this token was verified before, is
    /// still within its lifetime and the credentials' generation has not changed.
    pub fn verify(&self, token: &str, now: DateTime<Utc>, keys: &impl AccessKeys) -> Result<VerifiedToken, Error> {
        let generation = keys.generation();
        if let Some(hit) = self.cache.get(token, now, generation) {
            return Ok(hit);
        }
        let verified = self.verify_uncached(token, now, keys)?;
        self.cache.insert(token, &verified, generation);
        Ok(verified)
    }

    /// Verifies a token without the cache: aws-iam-authenticator's checks, then the signature.
    pub fn verify_uncached(
        &self,
        token: &str,
        now: DateTime<Utc>,
        keys: &impl AccessKeys,
    ) -> Result<VerifiedToken, Error> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(Error::format(TokenCheck::Size, "token is too large"));
        }
        let Some(encoded) = token.strip_prefix(TOKEN_PREFIX) else {
            return Err(Error::format(
                TokenCheck::Prefix,
                format!("token is missing expected {TOKEN_PREFIX:?} prefix"),
            ));
        };
        let decoded = goparse::decode_raw_url_base64(encoded).map_err(|e| Error::format(TokenCheck::Base64, e))?;
        let decoded = match String::from_utf8(decoded) {
            Ok(text) => Cow::Owned(text),
            Err(error) => Cow::Owned(String::from_utf8_lossy(error.as_bytes()).into_owned()),
        };
        let url = goparse::parse_url(&decoded)
            .map_err(|e| Error::format(TokenCheck::Url, format!("parse \"<pre-signed URL>\": {e}")))?;

        let own_origin =
            self.origins.iter().any(|(scheme, host)| *scheme == url.scheme && host.eq_ignore_ascii_case(url.host));
        if !own_origin {
            if url.scheme != "https" {
                return Err(Error::format(
                    TokenCheck::Scheme,
                    format!("unexpected scheme {:?} in pre-signed URL", url.scheme),
                ));
            }
            self.check_sts_host(url.host)?;
        }
        if url.path().as_deref() != Ok("/") {
            return Err(Error::format(TokenCheck::Path, "unexpected path in pre-signed URL"));
        }

        let pairs = goparse::parse_query(url.raw_query)
            .map_err(|_| Error::format(TokenCheck::Query, "malformed query parameter"))?;
        let params = Parameters::check(&pairs)?;
        if params.get("action").as_deref() != Some("GetCallerIdentity") {
            return Err(Error::format(TokenCheck::Action, "unexpected action parameter in pre-signed URL"));
        }
        let signed_headers = params.get("x-amz-signedheaders").unwrap_or_default();
        if !signed_headers.split(';').any(|header| header.eq_ignore_ascii_case(CLUSTER_ID_HEADER)) {
            return Err(Error::format(
                TokenCheck::ClusterIdHeader,
                format!("client did not sign the {CLUSTER_ID_HEADER} header in the pre-signed URL"),
            ));
        }
        let (expires, failed) = goparse::atoi(&params.get("x-amz-expires").unwrap_or_default());
        if failed || !(0..=900).contains(&expires) {
            return Err(Error::format(
                TokenCheck::Expires,
                format!("invalid X-Amz-Expires parameter in pre-signed URL: {expires}"),
            ));
        }
        let date = params.get("x-amz-date").unwrap_or_default();
        if date.is_empty() {
            return Err(Error::format(TokenCheck::Date, "X-Amz-Date parameter must be present in pre-signed URL"));
        }
        let credential = params.get("x-amz-credential").unwrap_or_default();
        let access_key_id = credential.split('/').next().unwrap_or_default();
        let signed_at = goparse::parse_amz_date(&date).map_err(|e| {
            Error::format(
                TokenCheck::Date,
                format!("error parsing X-Amz-Date parameter {date} into format {}: {e}", goparse::AMZ_DATE_LAYOUT),
            )
        })?;
        let token_expiry = signed_at + TOKEN_LIFETIME;
        if now > token_expiry {
            return Err(Error::format(
                TokenCheck::Expiry,
                format!(
                    "X-Amz-Date parameter is expired ({} minute expiration) {}",
                    TOKEN_LIFETIME.num_minutes(),
                    goparse::go_time_string(signed_at)
                ),
            ));
        }

        // What STS would do with the GET the authenticator sends: verify the signature with the
        // cluster ID the *authenticator* supplies as `x-k8s-aws-id`.
        let headers = [("host", url.host), (CLUSTER_ID_HEADER, self.cluster_id.as_str())];
        let request =
            SignedRequest { method: "GET", path: url.raw_path, query: url.raw_query, headers: &headers, body: b"" };
        let lookup = |key: &str| {
            keys.lookup(key).map(|(credentials, caller)| {
                let session_end = credentials.expiration;
                (credentials, (caller, session_end))
            })
        };
        let verified = self
            .sigv4
            .verify_presigned(&request, now, PresignedExpiry::Fixed(TOKEN_LIFETIME), &lookup)
            .and_then(|verified| verified.require_service("sts").map(|()| verified))
            .map_err(|error| {
                let region = if own_origin { scope_region(&params) } else { sts_region(url.host).to_string() };
                sts_refusal(&error, &region)
            })?;
        let (caller, session_end) = verified.principal;
        let identity = Identity::from_caller(&caller, access_key_id, url.host)?;
        let expires_at = session_end.map_or(token_expiry, |end| end.min(token_expiry));
        Ok(VerifiedToken { identity: Arc::new(identity), expires_at, from_cache: false })
    }

    /// aws-iam-authenticator's STS host name check for the `aws` partition.
    fn check_sts_host(&self, host: &str) -> Result<(), Error> {
        let unexpected = || Error::format(TokenCheck::Host, format!("unexpected hostname {host:?} in pre-signed URL"));
        if host == "sts.amazonaws.com" {
            return Ok(());
        }
        let mut labels = host.splitn(3, '.');
        let (Some(_), Some(region), Some(domain)) = (labels.next(), labels.next(), labels.next()) else {
            let reason =
                if host.is_empty() { "host is empty".to_string() } else { format!("invalid host format: {host}") };
            return Err(Error::format(
                TokenCheck::Host,
                format!("could not parse region for pre-signed URL {host}, {reason}"),
            ));
        };
        if !valid_region(region) {
            return Err(Error::format(
                TokenCheck::Host,
                format!("invalid region identifier format provided: {region}"),
            ));
        }
        if !is_sts_host(host, region, resolved_sts_domains(region), true) {
            return if valid_region(&self.region)
                && is_sts_host(host, &self.region, &["amazonaws.com", "api.aws"], false)
            {
                Ok(())
            } else {
                Err(unexpected())
            };
        }
        if domain != "amazonaws.com" && domain != "api.aws" {
            return Err(Error::format(TokenCheck::Host, format!("partition {{aws}} does not support hostname {host}")));
        }
        Ok(())
    }
}

/// The query parameters of a token, checked for duplicates and against the whitelist: each
/// whitelisted parameter's value, by its position in [`PARAMETER_WHITELIST`], decoded when read.
struct Parameters<'a> {
    values: [Option<goparse::QueryValue<'a>>; PARAMETER_WHITELIST.len()],
}

impl<'a> Parameters<'a> {
    fn check(pairs: &'a [goparse::QueryPair<'a>]) -> Result<Self, Error> {
        // The common case in one pass: every key whitelisted, none twice.
        let mut values = [None; PARAMETER_WHITELIST.len()];
        for (key, value) in pairs {
            match PARAMETER_WHITELIST.iter().position(|allowed| key.eq_ignore_ascii_case(allowed)) {
                Some(at) if values[at].is_none() => values[at] = Some(*value),
                _ => return Err(Self::refusal(pairs)),
            }
        }
        Ok(Parameters { values })
    }

    /// Why `pairs` are refused, with aws-iam-authenticator's checks in its order: a key given
    /// twice in different cases, then a key off the whitelist, then a key given twice.
    fn refusal(pairs: &[goparse::QueryPair<'_>]) -> Error {
        // Distinct keys in order of first appearance, with how many values each has.
        let mut keys: Vec<(&str, usize)> = Vec::new();
        for (key, _) in pairs {
            match keys.iter_mut().find(|(seen, _)| seen == key) {
                Some((_, count)) => *count += 1,
                None => keys.push((key, 1)),
            }
        }
        for (i, (key, _)) in keys.iter().enumerate() {
            if keys[..i].iter().any(|(earlier, _)| earlier.eq_ignore_ascii_case(key)) {
                return Error::format(
                    TokenCheck::DuplicateParameter,
                    format!("duplicate query parameter found: {key:?}"),
                );
            }
        }
        for (key, count) in keys {
            if !PARAMETER_WHITELIST.iter().any(|allowed| key.eq_ignore_ascii_case(allowed)) {
                return Error::format(TokenCheck::Parameters, format!("non-whitelisted query parameter {key:?}"));
            }
            if count > 1 {
                return Error::format(TokenCheck::Parameters, "query parameter with multiple values not supported");
            }
        }
        // Only reached for parameters `check` accepted.
        Error::format(TokenCheck::Parameters, "query parameter with multiple values not supported")
    }

    fn get(&self, lower_key: &str) -> Option<Cow<'a, str>> {
        PARAMETER_WHITELIST
            .iter()
            .position(|allowed| *allowed == lower_key)
            .and_then(|at| self.values[at])
            .map(|v| v.decoded())
    }
}

/// What the authenticator prints when STS answers anything but 200: the status, the region, and
/// STS's JSON error body.
fn sts_refusal(error: &SigV4Error, region: &str) -> Error {
    let body = serde_json::json!({
        "Error": { "Code": error.code(), "Message": error.to_string(), "Type": "Sender" }
    });
    Error::sts(
        TokenCheck::Signature,
        format!("error from AWS (expected 200, got {}) on {region} endpoint. Body: {body}", error.http_status()),
    )
}

/// The region the authenticator names for an STS host (`global` for `sts.amazonaws.com`).
fn sts_region(host: &str) -> &str {
    if host == "sts.amazonaws.com" { "global" } else { host.split('.').nth(1).unwrap_or_default() }
}

/// The region of the token's credential scope (for this Rampart's own endpoint, whose host name
/// names none).
fn scope_region(params: &Parameters<'_>) -> String {
    params
        .get("x-amz-credential")
        .and_then(|credential| credential.split('/').nth(2).map(str::to_string))
        .unwrap_or_default()
}

/// `^[[:alnum:]]([[:alnum:]\-]*[[:alnum:]])?$`, the region format the AWS SDK accepts.
fn valid_region(region: &str) -> bool {
    let bytes = region.as_bytes();
    !bytes.is_empty()
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

/// The DNS suffixes of the STS host names the SDK's endpoint resolver yields for a region;
/// regions it does not know resolve in the commercial format.
fn resolved_sts_domains(region: &str) -> &'static [&'static str] {
    if region.starts_with("cn-") {
        &["amazonaws.com.cn", "api.amazonwebservices.com.cn"]
    } else if region.starts_with("us-isob-") {
        &["sc2s.sgov.gov"]
    } else if region.starts_with("us-isof-") {
        &["csp.hci.ic.gov"]
    } else if region.starts_with("eu-isoe-") {
        &["cloud.adc-e.uk"]
    } else if region.starts_with("us-iso-") {
        &["c2s.ic.gov"]
    } else if region.starts_with("eusc-") {
        &["amazonaws.eu"]
    } else {
        &["amazonaws.com", "api.aws"]
    }
}

/// Whether `host` is `sts.<region>.<domain>` (or `sts-fips.…` when `fips`) for one of `domains`.
fn is_sts_host(host: &str, region: &str, domains: &[&str], fips: bool) -> bool {
    let rest = match host.strip_prefix("sts.") {
        Some(rest) => rest,
        None if fips => match host.strip_prefix("sts-fips.") {
            Some(rest) => rest,
            None => return false,
        },
        None => return false,
    };
    rest.strip_prefix(region).and_then(|rest| rest.strip_prefix('.')).is_some_and(|domain| domains.contains(&domain))
}
