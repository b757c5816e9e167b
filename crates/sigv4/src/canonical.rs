//! The canonical request and the string to sign, with the canonicalization rules botocore and
//! the AWS SDKs apply for non-S3 services (IAM, STS, EKS).
//!
//! - URI: the raw (already percent-encoded) path, with empty, `.` and `..` segments removed,
//!   percent-encoded *again* (so `%3A` becomes `%253A`); an empty path is `/`.
//! - Query: every `key=value` pair percent-decoded (`+` is a space, as in a form), re-encoded
//!   with only RFC 3986's unreserved bytes left bare, sorted by key then value.
//! - Headers: exactly the signed ones, lower-case, sorted, values trimmed with inner runs of
//!   whitespace collapsed to one space, repeated headers joined with `,`.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// Bytes left bare in canonical query keys and values: RFC 3986's unreserved set.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// In the canonical URI `/` stays bare too.
const PATH_BARE: &AsciiSet = &UNRESERVED.remove(b'/');

/// The hex SHA-256 of an empty payload: what a GET, or a presigned URL for a non-S3 service
/// (the EKS token), signs as its payload hash.
pub const EMPTY_PAYLOAD_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The signing algorithm SigV4 names in the `Authorization` header and `X-Amz-Algorithm`.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex_lower(&Sha256::digest(bytes))
}

/// Lower-case hex, written byte by byte (the `hex` crate's char iterator is slower on this path).
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)]);
        out.push(DIGITS[usize::from(byte & 0x0f)]);
    }
    String::from_utf8(out).expect("hex digits are ASCII")
}

/// Appends the canonical URI of `raw_path` (as it appeared on the wire) to `out`.
pub fn canonical_uri(raw_path: &str, out: &mut String) {
    let start = out.len();
    let mut segments = Vec::new();
    for segment in raw_path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            _ => segments.push(segment),
        }
    }
    if raw_path.starts_with('/') || raw_path.is_empty() {
        out.push('/');
    }
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.extend(utf8_percent_encode(segment, PATH_BARE));
    }
    if raw_path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    if out.len() == start {
        out.push('/');
    }
}

/// One query parameter, decoded.
fn decode_component(raw: &str) -> String {
    let spaced;
    let raw = if raw.contains('+') {
        spaced = raw.replace('+', " ");
        spaced.as_str()
    } else {
        raw
    };
    percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

/// A query component decoded, borrowed when there is nothing to decode.
pub(crate) fn decode_cow(raw: &str) -> Cow<'_, str> {
    if raw.contains(['%', '+']) { Cow::Owned(decode_component(raw)) } else { Cow::Borrowed(raw) }
}

/// The `(key, value)` pairs of a raw query string, percent-decoded, in their order.
pub fn query_pairs(raw_query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    raw_query.split('&').filter(|pair| !pair.is_empty()).map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode_component(key), decode_component(value))
    })
}

/// A raw query component in canonical form: borrowed as it is when it holds only unreserved
/// bytes (the common case), otherwise decoded and re-encoded.
fn canonical_component(raw: &str) -> Cow<'_, str> {
    if raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')) {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(utf8_percent_encode(&decode_component(raw), UNRESERVED).to_string())
    }
}

/// Appends the canonical query string of `raw_query` to `out`, leaving out the parameter named
/// `skip` (a presigned URL's `X-Amz-Signature`).
pub fn canonical_query(raw_query: &str, skip: Option<&str>, out: &mut String) {
    let mut pairs: Vec<(Cow<'_, str>, Cow<'_, str>)> = raw_query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (canonical_component(key), canonical_component(value))
        })
        .filter(|(key, _)| Some(key.as_ref()) != skip)
        .collect();
    pairs.sort_unstable();
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        out.push_str(value);
    }
}

/// Percent-encodes `value` as SigV4 encodes query keys and values.
pub fn encode_query_component(value: &str) -> String {
    utf8_percent_encode(value, UNRESERVED).to_string()
}

/// Appends a header value with leading and trailing whitespace trimmed and inner runs of
/// whitespace collapsed to one space.
fn push_trimmed(value: &str, out: &mut String) {
    let mut first = true;
    for word in value.split_ascii_whitespace() {
        if !first {
            out.push(' ');
        }
        out.push_str(word);
        first = false;
    }
}

/// The parts of an HTTP request that a SigV4 signature covers, as they arrived.
#[derive(Clone, Copy, Debug)]
pub struct SignedRequest<'a> {
    /// The HTTP method, upper-case (`GET`, `POST`).
    pub method: &'a str,
    /// The path as it appeared on the wire, still percent-encoded.
    pub path: &'a str,
    /// The query string as it appeared on the wire, without the `?` (empty when none).
    pub query: &'a str,
    /// The request's headers (names in any case; a name may repeat). `host` must be among them
    /// when it is signed: for HTTP/2 requests, pass the `:authority` as `host`.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body as received (empty for GET and for presigned URLs).
    pub body: &'a [u8],
}

impl<'a> SignedRequest<'a> {
    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_values(&self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    }
}

/// Builds the canonical request: `METHOD\nURI\nQUERY\nHEADERS\n\nSIGNED_HEADERS\nPAYLOAD_HASH`.
///
/// `signed_headers` is the `SignedHeaders` list as the client sent it (lower-case names joined
/// by `;`); a signed header the request does not carry contributes an empty value, so the
/// signature will not match. `skip_query` names a query parameter to leave out.
pub fn canonical_request(
    request: &SignedRequest<'_>,
    signed_headers: &str,
    skip_query: Option<&str>,
    payload_hash: &str,
) -> String {
    let mut out = String::with_capacity(256 + request.query.len());
    out.push_str(request.method);
    out.push('\n');
    canonical_uri(request.path, &mut out);
    out.push('\n');
    canonical_query(request.query, skip_query, &mut out);
    out.push('\n');
    for name in signed_headers.split(';') {
        out.push_str(name);
        out.push(':');
        for (i, value) in request.header_values(name).enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_trimmed(value, &mut out);
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(signed_headers);
    out.push('\n');
    out.push_str(payload_hash);
    out
}

/// Builds the string to sign: `AWS4-HMAC-SHA256\n<amz-date>\n<scope>\n<hex sha256(canonical)>`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let mut out = String::with_capacity(ALGORITHM.len() + amz_date.len() + scope.len() + 67);
    out.push_str(ALGORITHM);
    out.push('\n');
    out.push_str(amz_date);
    out.push('\n');
    out.push_str(scope);
    out.push('\n');
    out.push_str(&sha256_hex(canonical_request.as_bytes()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(path: &str) -> String {
        let mut out = String::new();
        canonical_uri(path, &mut out);
        out
    }

    fn query(raw: &str) -> String {
        let mut out = String::new();
        canonical_query(raw, Some("X-Amz-Signature"), &mut out);
        out
    }

    #[test]
    fn uri_is_normalized_and_encoded_twice() {
        assert_eq!(uri(""), "/");
        assert_eq!(uri("/"), "/");
        assert_eq!(uri("//a//b/"), "/a/b/");
        assert_eq!(uri("/a/./b/../c"), "/a/c");
        assert_eq!(uri("/.."), "/");
        assert_eq!(
            uri("/clusters/demo/access-entries/arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx"),
            "/clusters/demo/access-entries/arn%253Aaws%253Aiam%253A%253A1%253Arole%252Fx"
        );
        assert_eq!(uri("/a b/~x"), "/a%20b/~x");
    }

    #[test]
    fn query_is_decoded_reencoded_and_sorted() {
        assert_eq!(query(""), "");
        assert_eq!(query("b=2&a=1&a=0"), "a=0&a=1&b=2");
        assert_eq!(query("X-Amz-Signature=abc&Action=GetCallerIdentity"), "Action=GetCallerIdentity");
        assert_eq!(query("k=a+b&j=%2f%7E"), "j=%2F~&k=a%20b");
        assert_eq!(query("flag&x="), "flag=&x=");
        assert_eq!(
            query("X-Amz-Credential=AK%2F20261128%2Fus-east-1%2Fsts%2Faws4_request"),
            "X-Amz-Credential=AK%2F20261128%2Fus-east-1%2Fsts%2Faws4_request"
        );
    }

    #[test]
    fn headers_are_trimmed_and_joined() {
        let headers = [("Host", "example.com"), ("X-Multi", "  a   b "), ("x-multi", "c\t d")];
        let request = SignedRequest { method: "GET", path: "/", query: "", headers: &headers, body: b"" };
        let canonical = canonical_request(&request, "host;x-multi", None, EMPTY_PAYLOAD_SHA256);
        assert_eq!(
            canonical,
            format!("GET\n/\n\nhost:example.com\nx-multi:a b,c d\n\nhost;x-multi\n{EMPTY_PAYLOAD_SHA256}")
        );
    }

    #[test]
    fn empty_payload_hash_is_sha256_of_nothing() {
        assert_eq!(sha256_hex(b""), EMPTY_PAYLOAD_SHA256);
    }
}
