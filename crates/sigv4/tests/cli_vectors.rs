//! Requests signed by the real aws CLI (botocore), captured by `tests/data/capture_cli_vectors.py`:
//! each must verify with its secret at its own signing time, and must stop verifying when any
//! signed part changes.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use sigv4::{PresignedExpiry, SigV4Error, SignedRequest, SigningCredentials, Verifier};

#[derive(Deserialize)]
struct Capture {
    client: String,
    vectors: Vec<Vector>,
}

#[derive(Deserialize, Clone)]
struct Vector {
    name: String,
    secret: String,
    session_token: Option<String>,
    presigned: bool,
    request: Request,
}

#[derive(Deserialize, Clone)]
struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn capture() -> Capture {
    let text = include_str!("data/cli_vectors.json");
    serde_json::from_str(text).expect("cli_vectors.json parses")
}

/// The signing time of a vector: its `X-Amz-Date`, wherever it is.
fn signed_at(request: &Request) -> DateTime<Utc> {
    let header = request.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("x-amz-date")).map(|(_, v)| v.clone());
    let query = sigv4::query_pairs(&request.query).find(|(k, _)| k == "X-Amz-Date").map(|(_, v)| v);
    sigv4::parse_amz_date(&header.or(query).expect("every vector carries X-Amz-Date")).unwrap()
}

fn verify(vector: &Vector, request: &Request, now: DateTime<Utc>) -> Result<String, SigV4Error> {
    let headers: Vec<(&str, &str)> = request.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let signed = SignedRequest {
        method: &request.method,
        path: &request.path,
        query: &request.query,
        headers: &headers,
        body: request.body.as_bytes(),
    };
    let lookup = |key: &str| {
        Some((
            SigningCredentials {
                secret_access_key: vector.secret.clone(),
                session_token: vector.session_token.clone(),
                expiration: None,
            },
            key.to_string(),
        ))
    };
    let verifier = Verifier::new();
    let verified = if vector.presigned {
        verifier.verify_presigned(&signed, now, PresignedExpiry::Fixed(TimeDelta::minutes(15)), &lookup)
    } else {
        verifier.verify(&signed, now, &lookup)
    }?;
    Ok(verified.principal)
}

#[test]
fn every_request_the_cli_signed_verifies() {
    let capture = capture();
    assert!(capture.client.contains("botocore/"), "{}", capture.client);
    assert!(capture.vectors.len() >= 9, "the capture covers STS, IAM, EKS and tokens");
    for vector in &capture.vectors {
        let now = signed_at(&vector.request) + TimeDelta::seconds(3);
        let principal = verify(vector, &vector.request, now)
            .unwrap_or_else(|err| panic!("{}: {err} ({})", vector.name, err.code()));
        assert!(principal.starts_with("AKIA") || principal.starts_with("ASIA"), "{}", vector.name);
    }
}

#[test]
fn changing_any_signed_part_breaks_the_signature() {
    for vector in capture().vectors {
        let now = signed_at(&vector.request) + TimeDelta::seconds(3);
        let mut tampered = Vec::new();
        let mut method = vector.request.clone();
        method.method = if method.method == "GET" { "POST".into() } else { "GET".into() };
        tampered.push(("method", method));
        let mut path = vector.request.clone();
        path.path.push('x');
        tampered.push(("path", path));
        if vector.request.body.is_empty() {
            let mut query = vector.request.clone();
            query.query.push_str("&extra=1");
            tampered.push(("query", query));
        } else {
            let mut body = vector.request.clone();
            body.body = body.body.replacen("Version", "Versiom", 1);
            tampered.push(("body", body));
        }
        let mut host = vector.request.clone();
        for (name, value) in &mut host.headers {
            if name.eq_ignore_ascii_case("host") {
                value.push('1');
            }
        }
        tampered.push(("host", host));
        if vector.presigned {
            let mut cluster = vector.request.clone();
            cluster.headers[1].1 = "another-cluster".into();
            tampered.push(("x-k8s-aws-id", cluster));
        }
        for (what, request) in tampered {
            assert_eq!(
                verify(&vector, &request, now),
                Err(SigV4Error::SignatureDoesNotMatch),
                "{}: {what}",
                vector.name
            );
        }
    }
}

#[test]
fn unsigned_headers_added_after_signing_do_not_matter() {
    for vector in capture().vectors.into_iter().filter(|v| !v.presigned) {
        let now = signed_at(&vector.request) + TimeDelta::seconds(3);
        let mut request = vector.request.clone();
        for (name, value) in &mut request.headers {
            if name.starts_with("amz-sdk-") || name == "User-Agent" {
                value.push_str(" changed");
            }
        }
        assert!(verify(&vector, &request, now).is_ok(), "{}", vector.name);
    }
}

#[test]
fn a_wrong_secret_or_session_token_is_refused() {
    for vector in capture().vectors {
        let now = signed_at(&vector.request) + TimeDelta::seconds(3);
        let mut wrong_secret = vector.clone();
        wrong_secret.secret.push('x');
        assert_eq!(
            verify(&wrong_secret, &vector.request, now),
            Err(SigV4Error::SignatureDoesNotMatch),
            "{}",
            vector.name
        );
        let mut wrong_token = vector.clone();
        wrong_token.session_token = match vector.session_token {
            Some(_) => None,
            None => Some("a-token-the-request-lacks".into()),
        };
        assert_eq!(
            verify(&wrong_token, &vector.request, now),
            Err(SigV4Error::InvalidClientTokenId),
            "{}",
            vector.name
        );
    }
}

#[test]
fn clock_skew_beyond_fifteen_minutes_is_refused_with_aws_wording() {
    let vector = capture().vectors.into_iter().find(|v| v.name == "sts get-caller-identity").unwrap();
    let signed = signed_at(&vector.request);
    assert!(verify(&vector, &vector.request, signed + TimeDelta::minutes(15)).is_ok());
    assert!(verify(&vector, &vector.request, signed - TimeDelta::minutes(15)).is_ok());
    let late = verify(&vector, &vector.request, signed + TimeDelta::minutes(16)).unwrap_err();
    assert_eq!(late.code(), "SignatureDoesNotMatch");
    let amz = sigv4::format_amz_date(signed);
    assert!(late.to_string().starts_with(&format!("Signature expired: {amz} is now earlier than ")), "{late}");
    assert!(late.to_string().ends_with(" - 15 min.)"), "{late}");
    let early = verify(&vector, &vector.request, signed - TimeDelta::minutes(16)).unwrap_err();
    assert!(
        early.to_string().starts_with(&format!("Signature not yet current: {amz} is still later than ")),
        "{early}"
    );
}

#[test]
fn an_eks_token_lives_fifteen_minutes_whatever_x_amz_expires_says() {
    let vector = capture().vectors.into_iter().find(|v| v.name == "eks get-token").unwrap();
    assert!(vector.request.query.contains("X-Amz-Expires=60"));
    let signed = signed_at(&vector.request);
    assert!(verify(&vector, &vector.request, signed + TimeDelta::minutes(14)).is_ok());
    let expired =
        verify(&vector, &vector.request, signed + TimeDelta::minutes(15) + TimeDelta::seconds(1)).unwrap_err();
    assert_eq!(expired.code(), "SignatureDoesNotMatch");
    // Verified generically, the same URL honours its X-Amz-Expires=60.
    let headers: Vec<(&str, &str)> = vector.request.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let request =
        SignedRequest { method: "GET", path: "/", query: &vector.request.query, headers: &headers, body: b"" };
    let lookup = |_: &str| {
        Some((
            SigningCredentials { secret_access_key: vector.secret.clone(), session_token: None, expiration: None },
            (),
        ))
    };
    let verifier = Verifier::new();
    assert!(verifier.verify(&request, signed + TimeDelta::seconds(59), &lookup).is_ok());
    assert!(matches!(
        verifier.verify(&request, signed + TimeDelta::seconds(61), &lookup),
        Err(SigV4Error::SignatureExpired { .. })
    ));
}
