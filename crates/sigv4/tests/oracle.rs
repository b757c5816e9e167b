//! Property tests against `aws-sigv4` (the AWS SDK for Rust's signer) as the oracle: whatever
//! request it signs — any path, query, header values, body, region, service, session token,
//! header-signed or presigned — our verifier accepts, and refuses once the secret differs.

use std::time::{Duration, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use chrono::{DateTime, TimeDelta, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;
use sigv4::{SigV4Error, SignedRequest, SigningCredentials, Verifier};

const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

#[derive(Debug, Clone)]
struct Case {
    method: &'static str,
    segments: Vec<String>,
    trailing_slash: bool,
    query: Vec<(String, String)>,
    plus_for_space: bool,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    region: String,
    service: String,
    session_token: Option<String>,
    seconds: u64,
    presigned: bool,
    content_sha256_header: bool,
}

fn text() -> impl Strategy<Value = String> {
    // Printable ASCII (reserved characters, spaces, `%`, `+`, `=`, `&`) and some non-ASCII.
    proptest::string::string_regex("[ -~éü€]{0,12}").unwrap()
}

fn case() -> impl Strategy<Value = Case> {
    (
        (
            prop_oneof![Just("GET"), Just("POST"), Just("DELETE")],
            proptest::collection::vec(proptest::string::string_regex("[ -~é]{1,10}").unwrap(), 0..4),
            any::<bool>(),
            proptest::collection::vec((proptest::string::string_regex("[ -~]{1,8}").unwrap(), text()), 0..5),
            any::<bool>(),
            proptest::collection::vec(
                (
                    proptest::string::string_regex("x-[a-z0-9-]{1,8}").unwrap(),
                    proptest::string::string_regex("[ -~]{0,16}").unwrap(),
                ),
                0..4,
            ),
            proptest::collection::vec(any::<u8>(), 0..64),
        ),
        (
            prop_oneof![Just("us-east-1".to_string()), Just("eu-west-1".to_string()), Just("cn-north-1".to_string())],
            prop_oneof![Just("sts".to_string()), Just("iam".to_string()), Just("eks".to_string())],
            proptest::option::of(proptest::string::string_regex("[A-Za-z0-9+/=]{8,40}").unwrap()),
            1_700_000_000u64..1_900_000_000,
            any::<bool>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (method, segments, trailing_slash, query, plus_for_space, headers, body),
                (region, service, session_token, seconds, presigned, sha),
            )| {
                Case {
                    method,
                    // `.`, `..` and empty segments are normalized away by both sides; keep the
                    // comparison on segments both sides must encode.
                    segments: segments.into_iter().filter(|s| s != "." && s != ".." && !s.contains('/')).collect(),
                    trailing_slash,
                    query,
                    plus_for_space,
                    headers,
                    body: if method == "GET" || presigned { vec![] } else { body },
                    region,
                    service,
                    session_token,
                    seconds,
                    presigned,
                    content_sha256_header: sha && !presigned,
                }
            },
        )
}

fn encode(value: &str, plus_for_space: bool) -> String {
    let encoded = utf8_percent_encode(value, UNRESERVED).to_string();
    if plus_for_space { encoded.replace("%20", "+") } else { encoded }
}

/// Signs `case` with aws-sigv4 and returns (path, query, headers) as they would go on the wire.
fn sign_with_oracle(case: &Case, secret: &str) -> (String, String, Vec<(String, String)>) {
    let mut path = String::from("/");
    path.push_str(&case.segments.iter().map(|s| encode(s, false)).collect::<Vec<_>>().join("/"));
    if case.trailing_slash && !case.segments.is_empty() {
        path.push('/');
    }
    let query = case
        .query
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k, case.plus_for_space), encode(v, case.plus_for_space)))
        .collect::<Vec<_>>()
        .join("&");
    let uri = if query.is_empty() {
        format!("https://rampart.test:9443{path}")
    } else {
        format!("https://rampart.test:9443{path}?{query}")
    };
    let mut headers: Vec<(String, String)> = vec![("host".into(), "rampart.test:9443".into())];
    headers.extend(case.headers.iter().cloned());

    let identity = Credentials::new("AKIDEXAMPLE", secret, case.session_token.clone(), None, "oracle").into();
    let mut settings = SigningSettings::default();
    if case.presigned {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(300));
    }
    if case.content_sha256_header {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&case.region)
        .name(&case.service)
        .time(UNIX_EPOCH + Duration::from_secs(case.seconds))
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let signable = SignableRequest::new(
        case.method,
        uri.as_str(),
        headers.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        SignableBody::Bytes(&case.body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = http::Request::builder().method(case.method).uri(uri.as_str());
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let mut request = request.body(()).unwrap();
    instructions.apply_to_request_http1x(&mut request);
    let wire_headers = request
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    (request.uri().path().to_string(), request.uri().query().unwrap_or("").to_string(), wire_headers)
}

fn verify(case: &Case, wire: &(String, String, Vec<(String, String)>), secret: &str) -> Result<(), SigV4Error> {
    let headers: Vec<(&str, &str)> = wire.2.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let request =
        SignedRequest { method: case.method, path: &wire.0, query: &wire.1, headers: &headers, body: &case.body };
    let now: DateTime<Utc> =
        DateTime::<Utc>::from(UNIX_EPOCH + Duration::from_secs(case.seconds)) + TimeDelta::seconds(30);
    let lookup = |key: &str| {
        (key == "AKIDEXAMPLE").then(|| {
            (
                SigningCredentials {
                    secret_access_key: secret.to_string(),
                    session_token: case.session_token.clone(),
                    expiration: None,
                },
                (),
            )
        })
    };
    let verified = Verifier::new().verify(&request, now, &lookup)?;
    assert_eq!(verified.scope.region, case.region);
    assert_eq!(verified.scope.service, case.service);
    assert_eq!(verified.presigned, case.presigned);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn whatever_aws_sigv4_signs_verifies(case in case()) {
        let wire = sign_with_oracle(&case, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        prop_assert_eq!(verify(&case, &wire, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"), Ok(()), "{:?}", wire);
        prop_assert_eq!(verify(&case, &wire, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEX"), Err(SigV4Error::SignatureDoesNotMatch));
    }
}
