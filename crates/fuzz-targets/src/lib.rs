//! The bodies of the fuzz targets, as plain functions of bytes, so that the coverage-guided
//! fuzzers (`fuzz/`, cargo-fuzz on nightly Rust) and `cargo test` (stable: `tests/replay.rs`
//! replays every input of `fuzz/corpus/<target>/` and every crash reproducer of
//! `fuzz/artifacts/<target>/`) run the same code. Each target feeds one parser of untrusted input
//! and checks only that it answers, with a value or an error: a panic is the finding.
//!
//! `protobuf_body` reads Kubernetes' Protobuf request bodies (kube-schema), `request_info` a
//! request line (kube-core), `merge_patch` and `server_side_apply` patch a ConfigMap (kube-patch;
//! strategic merge patch needs a built-in kind's schema and has no target yet).
//!
//! This crate does no I/O; it must never hold assertions of its own about the answers (the
//! crates' own tests do that).

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone as _, Utc};
use eks_auth::{AccessKeys, AwsAuth, Caller, TokenVerifier, VerifierConfig};
use kube_patch::{FieldManager, PatchType, Schema};
use serde_json::{Value, json};
use sigv4::{PresignedExpiry, SignedRequest, SigningCredentials, Verifier};

/// A target: one input, answered or panicking.
pub type Target = fn(&[u8]);

/// Every target, by the name its corpus and artifacts directories have.
pub const TARGETS: &[(&str, Target)] = &[
    ("sigv4_header", sigv4_header),
    ("sigv4_presigned", sigv4_presigned),
    ("eks_token", eks_token),
    ("aws_auth", aws_auth),
    ("protobuf_body", protobuf_body),
    ("request_info", request_info),
    ("merge_patch", merge_patch),
    ("server_side_apply", server_side_apply),
];

/// The instant every target verifies at (the corpus' signatures are of that day).
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 9, 7, 34).single().unwrap_or_default()
}

/// The one key the targets know: `AKID`, secret `secret`.
fn credentials(access_key_id: &str) -> Option<SigningCredentials> {
    (access_key_id == "AKID").then(|| SigningCredentials {
        secret_access_key: "secret".into(),
        session_token: None,
        expiration: None,
    })
}

/// An HTTP request as text: `METHOD path?query`, header lines `name: value`, a blank line, the
/// body; verified as a header-signed or presigned request, whichever it claims to be.
pub fn sigv4_header(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let (method, target) = request_line.split_once(' ').unwrap_or(("POST", request_line));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers: Vec<(&str, &str)> =
        lines.filter_map(|line| line.split_once(':')).map(|(name, value)| (name.trim(), value.trim())).collect();
    let request = SignedRequest { method, path, query, headers: &headers, body: body.as_bytes() };
    let lookup = |key: &str| credentials(key).map(|c| (c, ()));
    let _ = Verifier::new().verify(&request, now(), &lookup);
}

/// A presigned query string, as an EKS token's URL carries it, verified for `GET /`.
pub fn sigv4_presigned(data: &[u8]) {
    let query = String::from_utf8_lossy(data);
    let headers = [("host", "127.0.0.1:9443"), ("x-k8s-aws-id", "rampart")];
    let request = SignedRequest { method: "GET", path: "/", query: &query, headers: &headers, body: b"" };
    let lookup = |key: &str| credentials(key).map(|c| (c, ()));
    let _ = Verifier::new().verify_presigned(&request, now(), PresignedExpiry::FromRequest, &lookup);
}

struct Keys;

impl AccessKeys for Keys {
    fn lookup(&self, access_key_id: &str) -> Option<(SigningCredentials, Caller)> {
        let caller = Caller {
            arn: "arn:aws:iam::123456789012:user/admin".into(),
            account: "123456789012".into(),
            user_id: "AIDAEXAMPLE".into(),
        };
        credentials(access_key_id).map(|c| (c, caller))
    }

    fn generation(&self) -> u64 {
        0
    }
}

/// A bearer token, verified as the EKS authenticator verifies `k8s-aws-v1.` tokens.
pub fn eks_token(data: &[u8]) {
    let config = VerifierConfig {
        cluster_id: "rampart".into(),
        sts_origins: vec!["https://127.0.0.1:9443".into()],
        region: "us-east-1".into(),
        cache_capacity: 16,
    };
    let _ = TokenVerifier::new(config, [7; 16]).verify_uncached(&String::from_utf8_lossy(data), now(), &Keys);
}

/// The same text as the aws-auth ConfigMap's `mapRoles`, `mapUsers` and `mapAccounts`, validated
/// as the EKS authenticator and Rampart's admission read them, then looked up.
pub fn aws_auth(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let config: BTreeMap<String, String> =
        ["mapRoles", "mapUsers", "mapAccounts"].into_iter().map(|key| (key.to_string(), text.clone())).collect();
    let _ = AwsAuth::validate(&config);
    let parsed = AwsAuth::parse(&config);
    let _ = parsed.lookup("arn:aws:iam::123456789012:role/admin");
    let _ = parsed.allows_account("123456789012");
}

/// A `application/vnd.kubernetes.protobuf` request body, decoded into JSON.
pub fn protobuf_body(data: &[u8]) {
    let _ = kube_schema::protobuf::decode(data);
}

/// A request line, `METHOD path?query`, turned into kube-apiserver's RequestInfo.
pub fn request_info(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (method, target) = text.split_once(' ').unwrap_or(("GET", &text));
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let _ = kube_core::RequestInfo::new(method, path, query);
}

/// The object patched below: a ConfigMap with data, labels and managed fields.
fn live_config_map() -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": "settings", "namespace": "default", "labels": {"app": "web"},
                        "managedFields": [{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
                                           "fieldsType": "FieldsV1",
                                           "fieldsV1": {"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {"f:app": {}}}}}]},
           "data": {"a": "1", "b": "2"}})
}

/// A JSON merge patch and a JSON patch (RFC 7386, RFC 6902) of a ConfigMap.
pub fn merge_patch(data: &[u8]) {
    let live = live_config_map();
    let schema = Schema::deduced();
    let _ = kube_patch::apply_patch(&live, data, PatchType::Merge, &schema);
    let _ = kube_patch::apply_patch(&live, data, PatchType::Json, &schema);
}

/// A server-side apply body (YAML or JSON) applied to a ConfigMap by another manager.
pub fn server_side_apply(data: &[u8]) {
    let Ok(applied) = kube_patch::decode_apply_patch(data) else { return };
    let schema = Schema::deduced();
    let live = live_config_map();
    let manager = FieldManager::new(&schema, "v1", "ConfigMap");
    let _ = manager.apply(Some(&live), &applied, "fuzz", false, now());
    let _ = manager.apply(None, &applied, "fuzz", true, now());
}
