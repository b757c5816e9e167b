//! SigV4 verification cost against the AWS SDK for Rust's signer (`aws-sigv4`) signing the same
//! request, in one run: verification redoes the signer's work (canonical request, string to
//! sign, one HMAC with a cached key), so the signer is the natural yardstick.
//!
//! `cargo bench -p sigv4 --bench verify`

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use sigv4::{PresignedExpiry, SignedRequest, SigningCredentials, Verifier};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const BODY: &[u8] = b"Action=GetCallerIdentity&Version=2011-06-15";
const SECONDS: u64 = 1_795_770_454;

fn signing_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(SECONDS)
}

fn headers() -> Vec<(&'static str, &'static str)> {
    vec![
        ("host", "127.0.0.1:9443"),
        ("content-type", "application/x-www-form-urlencoded; charset=utf-8"),
        ("accept-encoding", "identity"),
        ("user-agent", "aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux#6.18 md/arch#x86_64 lang/python#3.11.7"),
    ]
}

/// Signs the `aws sts get-caller-identity` request as the SDK would; returns its headers.
fn sign_request(presigned: bool) -> (String, Vec<(String, String)>) {
    let identity = Credentials::new("AKIDEXAMPLE", SECRET, None, None, "bench").into();
    let mut settings = SigningSettings::default();
    if presigned {
        settings.signature_location = aws_sigv4::http_request::SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(60));
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sts")
        .time(signing_time())
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let (uri, body, headers): (&str, &[u8], Vec<(&str, &str)>) = if presigned {
        (
            "https://127.0.0.1:9443/?Action=GetCallerIdentity&Version=2011-06-15",
            b"",
            vec![("host", "127.0.0.1:9443"), ("x-k8s-aws-id", "demo")],
        )
    } else {
        ("https://127.0.0.1:9443/", BODY, headers())
    };
    let signable = SignableRequest::new(
        if presigned { "GET" } else { "POST" },
        uri,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = http::Request::builder().uri(uri);
    for (name, value) in &headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut request);
    let query = request.uri().query().unwrap_or_default().to_string();
    let headers =
        request.headers().iter().map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap().to_string())).collect();
    (query, headers)
}

fn bench(c: &mut Criterion) {
    let now: DateTime<Utc> = DateTime::from(signing_time()) + chrono::TimeDelta::seconds(2);
    let lookup = |_: &str| {
        Some((SigningCredentials { secret_access_key: SECRET.to_string(), session_token: None, expiration: None }, ()))
    };
    let mut group = c.benchmark_group("sigv4");

    let (_, signed) = sign_request(false);
    let refs: Vec<(&str, &str)> = signed.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let request = SignedRequest { method: "POST", path: "/", query: "", headers: &refs, body: BODY };
    let verifier = Verifier::new();
    verifier.verify(&request, now, &lookup).expect("the signed request verifies");
    group.bench_function("rampart verify header-signed, warm key cache", |b| {
        b.iter(|| verifier.verify(&request, now, &lookup).unwrap())
    });
    group.bench_function("rampart verify header-signed, cold (new verifier each time)", |b| {
        b.iter(|| Verifier::new().verify(&request, now, &lookup).unwrap())
    });

    let (query, presigned) = sign_request(true);
    let refs: Vec<(&str, &str)> = presigned.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let token = SignedRequest { method: "GET", path: "/", query: &query, headers: &refs, body: b"" };
    let window = PresignedExpiry::Fixed(chrono::TimeDelta::minutes(15));
    verifier.verify_presigned(&token, now, window, &lookup).expect("the presigned request verifies");
    group.bench_function("rampart verify presigned (EKS token), warm key cache", |b| {
        b.iter(|| verifier.verify_presigned(&token, now, window, &lookup).unwrap())
    });

    let identity = Credentials::new("AKIDEXAMPLE", SECRET, None, None, "bench").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sts")
        .time(signing_time())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let unsigned = headers();
    group.bench_function("aws-sigv4 sign header-signed (peer)", |b| {
        b.iter(|| {
            let signable = SignableRequest::new(
                "POST",
                "https://127.0.0.1:9443/",
                unsigned.iter().copied(),
                SignableBody::Bytes(BODY),
            )
            .unwrap();
            sign(signable, &params).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
