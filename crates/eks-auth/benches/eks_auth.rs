//! eks-auth's hot paths, each beside a named peer in the same run:
//! - token verification without the cache (every aws-iam-authenticator check, then the SigV4
//!   signature) beside `aws-sigv4` (the AWS SDK for Rust's signer) presigning the same
//!   `GetCallerIdentity` request — the signature computation alone — and beside `sigv4`'s
//!   presigned check of the same URL alone (how much of the whole is the SigV4 part);
//! - token verification answered from the cache (seeded foldhash of the token, map lookup,
//!   constant-time comparison with the stored token) beside the obvious alternative, a SHA-256
//!   (RustCrypto `sha2`) of the token and a lookup, and beside a keyed SipHash-1-3 of the token
//!   alone (the previous design's cache key, which was 96 % of a hit);
//! - mapping a caller through a 1,000-entry aws-auth (indexed lookup) beside a linear scan with
//!   case-insensitive comparison, as aws-iam-authenticator's `EKSConfigMap` backend does it;
//!   and the whole `resolve` (lookup, templates, user and extras).

use std::collections::{BTreeMap, HashMap};
use std::hash::Hasher;
use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;
use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use eks_auth::{
    AccessEntries, AccessKeys, AuthenticationMode, AwsAuth, Caller, ClusterAccess, Identity, TokenVerifier,
    VerifierConfig,
};
use sha2::{Digest, Sha256};
use sigv4::{EMPTY_PAYLOAD_SHA256, SignedRequest, SigningCredentials, SigningKey};
use siphasher::sip128::{Hasher128, SipHasher13};

const KEY_ID: &str = "ASIAIOSFODNN7EXAMPLE";
const SECRET: &str = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY";
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKENIQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN+/=";
const DATE: &str = "20261128T110250Z";
const HOST: &str = "sts.us-east-1.amazonaws.com";

struct Keys;

impl AccessKeys for Keys {
    fn lookup(&self, access_key_id: &str) -> Option<(SigningCredentials, Caller)> {
        (access_key_id == KEY_ID).then(|| {
            let credentials = SigningCredentials {
                secret_access_key: SECRET.to_string(),
                session_token: Some(SESSION_TOKEN.to_string()),
                expiration: None,
            };
            let caller = Caller {
                arn: "arn:aws:sts::123456789012:assumed-role/EKSAdmins/EKSGetTokenAuth".into(),
                account: "123456789012".into(),
                user_id: "AROAEKSADMINSEXAMPLE1:EKSGetTokenAuth".into(),
            };
            (credentials, caller)
        })
    }

    fn generation(&self) -> u64 {
        1
    }
}

fn signed_at() -> DateTime<Utc> {
    chrono::NaiveDateTime::parse_from_str(DATE, "%Y%m%dT%H%M%SZ").unwrap().and_utc()
}

/// A role-session token as `aws eks get-token --cluster-name demo` builds it.
fn token() -> String {
    let scope = format!("{}/us-east-1/sts/aws4_request", &DATE[..8]);
    let enc = sigv4::encode_query_component;
    let query = format!(
        "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&\
         X-Amz-Date={DATE}&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Security-Token={}",
        enc(&format!("{KEY_ID}/{scope}")),
        enc(SESSION_TOKEN)
    );
    let headers = [("host", HOST), ("x-k8s-aws-id", "demo")];
    let request = SignedRequest { method: "GET", path: "/", query: &query, headers: &headers, body: b"" };
    let canonical = sigv4::canonical_request(&request, "host;x-k8s-aws-id", None, EMPTY_PAYLOAD_SHA256);
    let signature = SigningKey::derive(SECRET, &DATE[..8], "us-east-1", "sts")
        .sign(&sigv4::string_to_sign(DATE, &scope, &canonical));
    let url = format!("https://{HOST}/?{query}&X-Amz-Signature={signature}");
    format!("k8s-aws-v1.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url))
}

fn verifier() -> TokenVerifier {
    TokenVerifier::new(
        VerifierConfig {
            cluster_id: "demo".into(),
            sts_origins: vec!["https://127.0.0.1:8443".into()],
            region: "us-east-1".into(),
            cache_capacity: 10_000,
        },
        [42; 16],
    )
}

/// The peer: aws-sigv4 presigning the same request (the signature alone, no checks).
fn aws_sigv4_presign() -> usize {
    let identity = Credentials::new(KEY_ID, SECRET, Some(SESSION_TOKEN.to_string()), None, "bench").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sts")
        .time(UNIX_EPOCH + Duration::from_secs(signed_at().timestamp() as u64))
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let uri = format!("https://{HOST}/?Action=GetCallerIdentity&Version=2011-06-15");
    let headers = [("host", HOST), ("x-k8s-aws-id", "demo")];
    let signable = SignableRequest::new("GET", uri.as_str(), headers.into_iter(), SignableBody::Bytes(b"")).unwrap();
    let (instructions, _signature) = sign(signable, &params).unwrap().into_parts();
    instructions.params().len()
}

fn token_verification(c: &mut Criterion) {
    let token = token();
    let now = signed_at() + TimeDelta::minutes(1);
    let verifier = verifier();
    assert_eq!(verifier.verify_uncached(&token, now, &Keys).unwrap().identity.session_name, "EKSGetTokenAuth");

    let mut group = c.benchmark_group("token");
    group.bench_function("verify uncached (eks-auth)", |b| {
        b.iter(|| verifier.verify_uncached(black_box(&token), now, &Keys).unwrap())
    });
    group.bench_function("presign the same request (aws-sigv4)", |b| b.iter(aws_sigv4_presign));
    // The share of the uncached verification that is the SigV4 check itself (in `sigv4`).
    let url = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.trim_start_matches("k8s-aws-v1.")).unwrap(),
    )
    .unwrap();
    let query = url.split_once('?').unwrap().1;
    let headers = [("host", HOST), ("x-k8s-aws-id", "demo")];
    let request = SignedRequest { method: "GET", path: "/", query, headers: &headers, body: b"" };
    let sigv4_verifier = sigv4::Verifier::new();
    let lookup = |key: &str| Keys.lookup(key);
    let expiry = sigv4::PresignedExpiry::Fixed(TimeDelta::minutes(15));
    sigv4_verifier.verify_presigned(&request, now, expiry, &lookup).unwrap();
    group.bench_function("its presigned SigV4 check alone (sigv4)", |b| {
        b.iter(|| sigv4_verifier.verify_presigned(black_box(&request), now, expiry, &lookup).unwrap())
    });

    verifier.verify(&token, now, &Keys).unwrap();
    group.bench_function("verify cached (eks-auth, seeded foldhash, constant-time token compare)", |b| {
        b.iter(|| verifier.verify(black_box(&token), now, &Keys).unwrap())
    });
    group.bench_function("a keyed SipHash-1-3 of the token alone (siphasher, the previous cache key)", |b| {
        b.iter(|| {
            let mut hasher = SipHasher13::new_with_keys(42, 42);
            hasher.write(black_box(&token).as_bytes());
            hasher.finish128().as_u128()
        })
    });
    let mut by_sha256: HashMap<[u8; 32], usize> = HashMap::new();
    by_sha256.insert(Sha256::digest(token.as_bytes()).into(), 1);
    group.bench_function("SHA-256 of the token and a lookup (sha2)", |b| {
        b.iter(|| {
            let digest: [u8; 32] = Sha256::digest(black_box(&token).as_bytes()).into();
            *by_sha256.get(&digest).unwrap()
        })
    });
    group.finish();
}

/// A 1,000-entry aws-auth: 500 roles and 500 users.
fn big_aws_auth() -> AwsAuth {
    let mut roles = String::new();
    let mut users = String::new();
    for i in 0..500 {
        roles.push_str(&format!(
            "- rolearn: arn:aws:iam::111122223333:role/Team{i:03}Role\n  username: team{i:03}:{{{{SessionName}}}}\n  \
             groups:\n    - team{i:03}\n    - developers\n"
        ));
        users.push_str(&format!(
            "- userarn: arn:aws:iam::111122223333:user/user{i:03}\n  username: user{i:03}\n  groups: [developers]\n"
        ));
    }
    let data: BTreeMap<String, String> =
        [("mapRoles".to_string(), roles), ("mapUsers".to_string(), users)].into_iter().collect();
    let aws_auth = AwsAuth::parse(&data);
    assert_eq!((aws_auth.roles().len(), aws_auth.users().len(), aws_auth.issues().len()), (500, 500, 0));
    aws_auth
}

/// The peer: aws-iam-authenticator's lookup, a scan comparing case-insensitively.
fn linear_scan<'a>(aws_auth: &'a AwsAuth, canonical_arn: &str) -> Option<&'a str> {
    let lower = canonical_arn.to_lowercase();
    if let Some(role) = aws_auth.roles().iter().find(|role| role.rolearn.eq_ignore_ascii_case(&lower)) {
        return Some(&role.username);
    }
    aws_auth.users().iter().find(|user| user.userarn.eq_ignore_ascii_case(&lower)).map(|user| user.username.as_str())
}

fn mapping(c: &mut Criterion) {
    let aws_auth = big_aws_auth();
    let caller = Caller {
        arn: "arn:aws:sts::111122223333:assumed-role/Team499Role/alice@example.com".into(),
        account: "111122223333".into(),
        user_id: "AROATEAM499EXAMPLE001:alice@example.com".into(),
    };
    let identity = Identity::from_caller(&caller, KEY_ID, HOST).unwrap();
    let canonical = identity.canonical_arn.clone();
    let user_arn = "arn:aws:iam::111122223333:user/user499";
    assert_eq!(linear_scan(&aws_auth, &canonical), aws_auth.lookup(&canonical).map(|m| m.username()));

    let mut group = c.benchmark_group("aws-auth 1000 entries");
    group.bench_function("lookup, last role (eks-auth, indexed)", |b| {
        b.iter(|| aws_auth.lookup(black_box(&canonical)).unwrap())
    });
    group.bench_function("lookup, last role (linear scan, as aws-iam-authenticator)", |b| {
        b.iter(|| linear_scan(&aws_auth, black_box(&canonical)).unwrap())
    });
    group.bench_function("lookup, last user (eks-auth, indexed)", |b| {
        b.iter(|| aws_auth.lookup(black_box(user_arn)).unwrap())
    });
    group.bench_function("lookup, last user (linear scan, as aws-iam-authenticator)", |b| {
        b.iter(|| linear_scan(&aws_auth, black_box(user_arn)).unwrap())
    });
    let entries = AccessEntries::default();
    let access = ClusterAccess {
        mode: AuthenticationMode::ConfigMap,
        access_entries: &entries,
        aws_auth: Some(&aws_auth),
        cluster_creator: None,
    };
    let no_ec2 = |_: &str| None;
    group.bench_function("resolve (eks-auth: lookup, templates, user and extra)", |b| {
        b.iter(|| eks_auth::resolve(black_box(&identity), &access, &no_ec2).unwrap())
    });
    group.finish();
}

fn configure() -> Criterion {
    Criterion::default().sample_size(50).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! { name = benches; config = configure(); targets = token_verification, mapping }
criterion_main!(benches);
