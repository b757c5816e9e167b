//! Runs the token check vectors of `tests/data/tokens.yaml`, and checks the verified-token cache
//! against key deactivation and expiry.
//!
//! Tokens are built as `aws eks get-token` builds them (botocore's presigned `GetCallerIdentity`
//! URL with `host;x-k8s-aws-id` signed and the empty-payload hash, base64url without padding),
//! then altered as each case says; the real CLI's own tokens are in the data file as they were
//! printed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use eks_auth::{AccessKeys, Caller, TokenVerifier, VerifierConfig};
use serde::Deserialize;
use sigv4::{EMPTY_PAYLOAD_SHA256, SignedRequest, SigningCredentials, SigningKey};

#[derive(Deserialize)]
struct Vectors {
    keys: Vec<Key>,
    cases: Vec<Case>,
}

#[derive(Clone, Deserialize)]
struct Key {
    id: String,
    secret: String,
    #[serde(default)]
    session_token: Option<String>,
    #[serde(default)]
    session_expires: Option<DateTime<Utc>>,
    #[serde(default = "active")]
    status: String,
    #[serde(default)]
    user_deleted: bool,
    caller: CallerSpec,
}

fn active() -> String {
    "Active".into()
}

#[derive(Clone, Deserialize)]
struct CallerSpec {
    arn: String,
    account: String,
    user_id: String,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    #[serde(default)]
    real: Option<String>,
    #[serde(default)]
    raw: Option<String>,
    #[serde(default)]
    repeat: Option<Repeat>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    build: Option<Build>,
    #[serde(default)]
    now: Option<DateTime<Utc>>,
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    check: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    identity: Option<ExpectedIdentity>,
}

#[derive(Deserialize)]
struct Repeat {
    text: String,
    count: usize,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Build {
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    date: Option<String>,
    #[serde(default)]
    scope_date: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    signed_headers: Option<String>,
    #[serde(default)]
    set: BTreeMap<String, String>,
    #[serde(default)]
    remove: Vec<String>,
    #[serde(default)]
    add: Vec<(String, String)>,
    #[serde(default)]
    raw_suffix: Option<String>,
    #[serde(default)]
    set_after_signing: BTreeMap<String, String>,
    #[serde(default)]
    tamper: bool,
    #[serde(default)]
    caller_arn: Option<String>,
    #[serde(default)]
    caller_user_id: Option<String>,
}

#[derive(Deserialize)]
struct ExpectedIdentity {
    arn: String,
    #[serde(default)]
    canonical_arn: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    session_name: Option<String>,
    #[serde(default)]
    access_key_id: Option<String>,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

/// IAM as the server would back the lookup: inactive keys and deleted users' keys are unknown.
struct Keys {
    keys: Mutex<Vec<Key>>,
    generation: AtomicU64,
}

impl Keys {
    fn new(keys: Vec<Key>) -> Self {
        Keys { keys: Mutex::new(keys), generation: AtomicU64::new(1) }
    }

    fn with_caller(&self, id: &str, arn: Option<&str>, user_id: Option<&str>) -> Keys {
        let mut keys = self.keys.lock().unwrap().clone();
        for key in keys.iter_mut().filter(|key| key.id == id) {
            if let Some(arn) = arn {
                key.caller.arn = arn.to_string();
            }
            if let Some(user_id) = user_id {
                key.caller.user_id = user_id.to_string();
            }
        }
        Keys::new(keys)
    }

    fn deactivate(&self, id: &str) {
        for key in self.keys.lock().unwrap().iter_mut().filter(|key| key.id == id) {
            key.status = "Inactive".into();
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

impl AccessKeys for Keys {
    fn lookup(&self, access_key_id: &str) -> Option<(SigningCredentials, Caller)> {
        let keys = self.keys.lock().unwrap();
        let key = keys.iter().find(|key| key.id == access_key_id && key.status == "Active" && !key.user_deleted)?;
        let credentials = SigningCredentials {
            secret_access_key: key.secret.clone(),
            session_token: key.session_token.clone(),
            expiration: key.session_expires,
        };
        let caller = Caller {
            arn: key.caller.arn.clone(),
            account: key.caller.account.clone(),
            user_id: key.caller.user_id.clone(),
        };
        Some((credentials, caller))
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}

fn vectors() -> Vectors {
    serde_saphyr::from_str(include_str!("data/tokens.yaml")).expect("tests/data/tokens.yaml parses")
}

fn verifier(cluster: &str) -> TokenVerifier {
    TokenVerifier::new(
        VerifierConfig {
            cluster_id: cluster.to_string(),
            sts_origins: vec!["https://127.0.0.1:8443".to_string()],
            region: "us-east-1".to_string(),
            cache_capacity: 1024,
        },
        [7; 16],
    )
}

fn encode(url: &str) -> String {
    format!("k8s-aws-v1.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url))
}

fn amz_encode(value: &str) -> String {
    sigv4::encode_query_component(value)
}

/// Presigns `GetCallerIdentity` as botocore does, with the case's changes. Returns the token and
/// its X-Amz-Date.
fn build(spec: &Build, keys: &[Key]) -> (String, String) {
    let endpoint = spec.endpoint.as_deref().unwrap_or("https://sts.us-east-1.amazonaws.com/");
    let key_id = spec.key.as_deref().unwrap_or("AKIAIOSFODNN7EXAMPLE");
    let key = keys.iter().find(|key| key.id == key_id);
    let secret = spec.secret.as_deref().or(key.map(|key| key.secret.as_str())).expect("a secret");
    let date = spec.date.as_deref().unwrap_or("20261128T110250Z");
    let scope_date = spec.scope_date.as_deref().unwrap_or(&date[..8]);
    let region = spec.region.as_deref().unwrap_or("us-east-1");
    let service = spec.service.as_deref().unwrap_or("sts");
    let cluster = spec.cluster.as_deref().unwrap_or("demo");
    let signed_headers = spec.signed_headers.as_deref().unwrap_or("host;x-k8s-aws-id");
    let scope = format!("{scope_date}/{region}/{service}/aws4_request");

    let mut params: Vec<(String, String)> = vec![
        ("Action".into(), "GetCallerIdentity".into()),
        ("Version".into(), "2011-06-15".into()),
        ("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()),
        ("X-Amz-Credential".into(), format!("{key_id}/{scope}")),
        ("X-Amz-Date".into(), date.into()),
        ("X-Amz-Expires".into(), "60".into()),
        ("X-Amz-SignedHeaders".into(), signed_headers.into()),
    ];
    if let Some(token) = key.and_then(|key| key.session_token.clone()) {
        params.push(("X-Amz-Security-Token".into(), token));
    }
    for (name, value) in &spec.set {
        match params.iter_mut().find(|(n, _)| n == name) {
            Some(param) => param.1 = value.clone(),
            None => params.push((name.clone(), value.clone())),
        }
    }
    params.retain(|(name, _)| !spec.remove.contains(name));
    params.extend(spec.add.iter().cloned());
    let query = |params: &[(String, String)]| {
        params.iter().map(|(k, v)| format!("{}={}", amz_encode(k), amz_encode(v))).collect::<Vec<_>>().join("&")
    };

    let (scheme_host, path) = endpoint
        .split_once("://")
        .map(|(scheme, rest)| {
            let slash = rest.find('/').unwrap_or(rest.len());
            (format!("{scheme}://{}", &rest[..slash]), &rest[slash..])
        })
        .expect("endpoint with scheme");
    let host = scheme_host.split_once("://").unwrap().1.to_string();
    let unsigned_query = query(&params);
    let headers = [("host", host.as_str()), ("x-k8s-aws-id", cluster)];
    let request = SignedRequest { method: "GET", path, query: &unsigned_query, headers: &headers, body: b"" };
    let canonical = sigv4::canonical_request(&request, signed_headers, None, EMPTY_PAYLOAD_SHA256);
    let to_sign = sigv4::string_to_sign(date, &scope, &canonical);
    let mut signature = SigningKey::derive(secret, scope_date, region, service).sign(&to_sign);
    if spec.tamper {
        let last = if signature.ends_with('0') { '1' } else { '0' };
        signature.pop();
        signature.push(last);
    }
    for (name, value) in &spec.set_after_signing {
        params.iter_mut().find(|(n, _)| n == name).expect("parameter to change").1 = value.clone();
    }
    let url = format!(
        "{scheme_host}{path}?{}&X-Amz-Signature={signature}{}",
        query(&params),
        spec.raw_suffix.as_deref().unwrap_or("")
    );
    (encode(&url), date.to_string())
}

fn parse_amz(date: &str) -> DateTime<Utc> {
    chrono::NaiveDateTime::parse_from_str(date, "%Y%m%dT%H%M%SZ").expect("a valid date").and_utc()
}

#[test]
fn token_vectors() {
    let vectors = vectors();
    let keys = Keys::new(vectors.keys.clone());
    let mut failures = Vec::new();
    for case in &vectors.cases {
        let (token, date) = if let Some(real) = &case.real {
            (real.clone(), None)
        } else if let Some(raw) = &case.raw {
            let mut token = raw.clone();
            if let Some(repeat) = &case.repeat {
                token.push_str(&repeat.text.repeat(repeat.count));
            }
            (token, None)
        } else if let Some(url) = &case.url {
            (encode(url), None)
        } else {
            let spec = case.build.as_ref().unwrap_or_else(|| panic!("{}: no token", case.name));
            let (token, date) = build(spec, &vectors.keys);
            (token, Some(date))
        };
        let now = case
            .now
            .or_else(|| date.as_deref().map(|d| parse_amz(d) + TimeDelta::minutes(1)))
            .unwrap_or_else(|| parse_amz("20261128T110350Z"));
        let case_keys = match &case.build {
            Some(spec) if spec.caller_arn.is_some() || spec.caller_user_id.is_some() => keys.with_caller(
                spec.key.as_deref().unwrap_or("AKIAIOSFODNN7EXAMPLE"),
                spec.caller_arn.as_deref(),
                spec.caller_user_id.as_deref(),
            ),
            _ => Keys::new(vectors.keys.clone()),
        };
        let verifier = verifier(case.cluster.as_deref().unwrap_or("demo"));
        let result = verifier.verify_uncached(&token, now, &case_keys);
        match (&result, &case.error, &case.identity) {
            (Err(error), Some(expected), None) => {
                if &error.to_string() != expected {
                    failures.push(format!("{}:\n  expected: {expected}\n  got:      {error}", case.name));
                }
                let check = error.token_check().map(|c| c.as_str().to_string());
                if check != case.check {
                    failures.push(format!("{}: check {:?}, expected {:?}", case.name, check, case.check));
                }
                assert_eq!(error.http_status(), 401, "{}", case.name);
            }
            (Ok(verified), None, Some(expected)) => {
                let identity = &verified.identity;
                let mismatch = identity.arn != expected.arn
                    || expected.canonical_arn.as_ref().is_some_and(|v| *v != identity.canonical_arn)
                    || expected.user_id.as_ref().is_some_and(|v| *v != identity.user_id)
                    || expected.session_name.as_ref().is_some_and(|v| *v != identity.session_name)
                    || expected.access_key_id.as_ref().is_some_and(|v| *v != identity.access_key_id)
                    || expected.expires_at.is_some_and(|v| v != verified.expires_at);
                if mismatch {
                    failures.push(format!("{}: got {identity:?} until {}", case.name, verified.expires_at));
                }
            }
            (Err(error), None, Some(_)) => failures.push(format!("{}: expected success, got: {error}", case.name)),
            (Ok(verified), Some(expected), None) => {
                failures.push(format!("{}: expected `{expected}`, got {:?}", case.name, verified.identity))
            }
            _ => panic!("{}: give exactly one of `error` and `identity`", case.name),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        vectors.cases.len(),
        failures.join("\n")
    );
}

#[test]
fn the_cache_answers_until_expiry_and_forgets_deactivated_keys_at_once() {
    let vectors = vectors();
    let keys = Keys::new(vectors.keys.clone());
    let verifier = verifier("demo");
    let (token, date) = build(&Build::default(), &vectors.keys);
    let signed_at = parse_amz(&date);

    let first = verifier.verify(&token, signed_at + TimeDelta::minutes(1), &keys).unwrap();
    assert_eq!(verifier.cached_tokens(), 1);
    let second = verifier.verify(&token, signed_at + TimeDelta::minutes(2), &keys).unwrap();
    assert!(Arc::ptr_eq(&first.identity, &second.identity), "the second verification is answered from the cache");
    assert!(!first.from_cache && second.from_cache);

    // Past its 15 minutes the cached token is refused with the authenticator's message.
    let expired =
        verifier.verify(&token, signed_at + TimeDelta::minutes(15) + TimeDelta::seconds(1), &keys).unwrap_err();
    assert!(expired.to_string().contains("X-Amz-Date parameter is expired"), "{expired}");

    // Deactivating the key stops the cached token on the next request.
    verifier.verify(&token, signed_at + TimeDelta::minutes(3), &keys).unwrap();
    keys.deactivate("AKIAIOSFODNN7EXAMPLE");
    let refused = verifier.verify(&token, signed_at + TimeDelta::minutes(3), &keys).unwrap_err();
    assert!(refused.to_string().contains("InvalidClientTokenId"), "{refused}");

    // A token for another cluster is never answered from this cluster's cache.
    let other = crate::verifier("prod");
    assert!(other.verify(&token, signed_at + TimeDelta::minutes(1), &Keys::new(vectors.keys.clone())).is_err());
}

#[test]
fn the_cache_never_holds_the_token() {
    let vectors = vectors();
    let keys = Keys::new(vectors.keys.clone());
    let verifier = verifier("demo");
    let (token, date) = build(&Build::default(), &vectors.keys);
    verifier.verify(&token, parse_amz(&date) + TimeDelta::minutes(1), &keys).unwrap();
    let debug = format!("{verifier:?}");
    let encoded = token.trim_start_matches("k8s-aws-v1.");
    assert!(!debug.contains(&encoded[encoded.len() - 20..]), "{debug}");
    assert!(debug.contains("cached_tokens: 1"), "{debug}");
}
