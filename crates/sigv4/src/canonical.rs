//! The canonical request and the string to sign, with the canonicalization rules botocore and
//! the AWS SDKs apply for non-S3 services (IAM, STS, EKS).
//!
//! - URI: the raw (already percent-encoded) path, with empty, `.` and `..` segments removed,
//!   percent-encoded *again* (so `%3A` becomes `%253A`); an empty path is `/`.
//! - Query: every `key=value` pair percent-decoded (`+` is a space, as in a form), re-encoded
//!   with only RFC 3986's unreserved bytes left bare, sorted by key then value.
//! - Headers: exactly the signed ones, lower-case, sorted, values trimmed with inner runs of
//!   whitespace collapsed to one space, repeated headers joined with `,`.
//!
//! The canonical request is written to a [`Sink`]: a `String` where it is shown
//! ([`canonical_request`]), or straight into the SHA-256 that verification needs, in pieces,
//! without building it.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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
    if bytes.is_empty() {
        return EMPTY_PAYLOAD_SHA256.to_string();
    }
    hex_lower(&Sha256::digest(bytes).into())
}

/// Lower-case hex of 32 bytes (a SHA-256 or an HMAC-SHA256) into `out`, written byte by byte
/// (the `hex` crate's char iterator is slower on this path).
pub(crate) fn hex_lower_into(bytes: &[u8; 32], out: &mut [u8; 64]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

/// Lower-case hex of 32 bytes.
pub(crate) fn hex_lower(bytes: &[u8; 32]) -> String {
    let mut out = [0u8; 64];
    hex_lower_into(bytes, &mut out);
    String::from_utf8(out.to_vec()).expect("hex digits are ASCII")
}

/// Where the canonical request is written: a `String`, or a hash fed in pieces.
pub(crate) trait Sink {
    fn put(&mut self, text: &str);
}

impl Sink for String {
    fn put(&mut self, text: &str) {
        self.push_str(text);
    }
}

impl Sink for Sha256 {
    fn put(&mut self, text: &str) {
        self.update(text.as_bytes());
    }
}

/// Writes the canonical URI of `raw_path` (as it appeared on the wire).
fn canonical_uri(raw_path: &str, out: &mut impl Sink) {
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
    // An empty result (a relative path of only `.` and `..`) is `/` too.
    if raw_path.starts_with('/') || segments.is_empty() {
        out.put("/");
    }
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            out.put("/");
        }
        for piece in utf8_percent_encode(segment, PATH_BARE) {
            out.put(piece);
        }
    }
    if raw_path.ends_with('/') && !segments.is_empty() {
        out.put("/");
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

/// Whether the raw query component `raw` decodes (`+` a space, `%XX` a byte) to `expected`,
/// compared as it is decoded, without early exit on a differing byte: a secret (the session
/// token) is checked without decoding the given one into a string of its own and without
/// timing that tells how much of it matched.
pub(crate) fn percent_decoded_eq(raw: &str, expected: &[u8]) -> bool {
    let bytes = raw.as_bytes();
    let hex = |at: usize| bytes.get(at).and_then(|&b| (b as char).to_digit(16));
    let (mut i, mut n, mut difference) = (0, 0, 0u8);
    while i < bytes.len() {
        let byte = match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'+', _, _) => {
                i += 1;
                b' '
            }
            (b'%', Some(high), Some(low)) => {
                i += 3;
                u8::try_from(high * 16 + low).expect("two hex digits")
            }
            (other, _, _) => {
                i += 1;
                other
            }
        };
        match expected.get(n) {
            Some(want) => difference |= byte ^ want,
            None => difference |= 1,
        }
        n += 1;
    }
    n == expected.len() && bool::from(difference.ct_eq(&0))
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

/// For each byte: whether RFC 3986 leaves it unreserved (bare in a canonical component).
const UNRESERVED_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        byte += 1;
    }
    table
};

/// The value of an upper-case hex digit (canonical escapes are upper-case).
fn upper_hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Whether a raw query component is already in canonical form: only unreserved bytes, and
/// `%XX` escapes in upper-case hex of ASCII bytes that must be escaped. botocore sends
/// `X-Amz-Credential`, `X-Amz-SignedHeaders` and the session token this way.
fn is_canonical(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if UNRESERVED_BYTES[usize::from(bytes[i])] {
            i += 1;
            continue;
        }
        if bytes[i] != b'%' {
            return false;
        }
        let (Some(high), Some(low)) =
            (bytes.get(i + 1).copied().and_then(upper_hex), bytes.get(i + 2).copied().and_then(upper_hex))
        else {
            return false;
        };
        let value = high * 16 + low;
        if !value.is_ascii() || UNRESERVED_BYTES[usize::from(value)] {
            return false;
        }
        i += 3;
    }
    true
}

/// A raw query component in canonical form: borrowed as it is when it already is (the common
/// case), otherwise decoded and re-encoded.
fn canonical_component(raw: &str) -> Cow<'_, str> {
    if is_canonical(raw) {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(utf8_percent_encode(&decode_component(raw), UNRESERVED).to_string())
    }
}

/// Writes the canonical query string of `raw_query`, leaving out the parameter named `skip` (a
/// presigned URL's `X-Amz-Signature`).
fn canonical_query(raw_query: &str, skip: Option<&str>, out: &mut impl Sink) {
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
            out.put("&");
        }
        out.put(key);
        out.put("=");
        out.put(value);
    }
}

/// Percent-encodes `value` as SigV4 encodes query keys and values.
pub fn encode_query_component(value: &str) -> String {
    utf8_percent_encode(value, UNRESERVED).to_string()
}

/// Writes a header value with leading and trailing whitespace trimmed and inner runs of
/// whitespace collapsed to one space.
fn put_trimmed(value: &str, out: &mut impl Sink) {
    let mut first = true;
    for word in value.split_ascii_whitespace() {
        if !first {
            out.put(" ");
        }
        out.put(word);
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
    write_canonical_request(request, signed_headers, skip_query, payload_hash, &mut out);
    out
}

/// Writes the canonical request (see [`canonical_request`]) to `out`.
pub(crate) fn write_canonical_request(
    request: &SignedRequest<'_>,
    signed_headers: &str,
    skip_query: Option<&str>,
    payload_hash: &str,
    out: &mut impl Sink,
) {
    out.put(request.method);
    out.put("\n");
    canonical_uri(request.path, out);
    out.put("\n");
    canonical_query(request.query, skip_query, out);
    out.put("\n");
    for name in signed_headers.split(';') {
        out.put(name);
        out.put(":");
        for (i, value) in request.header_values(name).enumerate() {
            if i > 0 {
                out.put(",");
            }
            put_trimmed(value, out);
        }
        out.put("\n");
    }
    out.put("\n");
    out.put(signed_headers);
    out.put("\n");
    out.put(payload_hash);
}

/// The hex SHA-256 of the canonical request (see [`canonical_request`]), hashed as it is
/// written, never built.
pub(crate) fn canonical_request_hash(
    request: &SignedRequest<'_>,
    signed_headers: &str,
    skip_query: Option<&str>,
    payload_hash: &str,
) -> [u8; 64] {
    let mut hasher = Sha256::new();
    write_canonical_request(request, signed_headers, skip_query, payload_hash, &mut hasher);
    let mut hex = [0u8; 64];
    hex_lower_into(&hasher.finalize().into(), &mut hex);
    hex
}

/// The pieces of the string to sign, `AWS4-HMAC-SHA256\n<amz-date>\n<scope>\n<hex sha256(canonical)>`,
/// for an HMAC to take one after the other.
pub(crate) fn string_to_sign_pieces<'a>(
    amz_date: &'a str,
    scope: &'a str,
    canonical_request_hash: &'a [u8; 64],
) -> [&'a [u8]; 7] {
    [ALGORITHM.as_bytes(), b"\n", amz_date.as_bytes(), b"\n", scope.as_bytes(), b"\n", canonical_request_hash]
}

/// Builds the string to sign: `AWS4-HMAC-SHA256\n<amz-date>\n<scope>\n<hex sha256(canonical)>`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let mut hash = [0u8; 64];
    hex_lower_into(&Sha256::digest(canonical_request.as_bytes()).into(), &mut hash);
    string_to_sign_pieces(amz_date, scope, &hash)
        .iter()
        .map(|piece| std::str::from_utf8(piece).expect("the pieces are text"))
        .collect()
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
        assert_eq!(hex_lower(&Sha256::digest(b"").into()), EMPTY_PAYLOAD_SHA256);
        assert_eq!(sha256_hex(b""), EMPTY_PAYLOAD_SHA256);
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn decoded_comparison_is_decoding_then_comparing() {
        for (raw, expected) in [
            ("IQo%2B%2F%3D", "IQo+/="),
            ("a+b", "a b"),
            ("a%2fb", "a/b"),
            ("%", "%"),
            ("%4", "%4"),
            ("%zz", "%zz"),
            ("", ""),
        ] {
            assert_eq!(decode_component(raw), expected, "{raw}");
            assert!(percent_decoded_eq(raw, expected.as_bytes()), "{raw}");
        }
        for (raw, other) in
            [("IQo%2B", "IQo+x"), ("IQo%2B", "IQo"), ("IQo%2B", "IQo/"), ("a+b", "a+b"), ("", "a"), ("a", "")]
        {
            assert!(!percent_decoded_eq(raw, other.as_bytes()), "{raw} vs {other}");
        }
    }

    #[test]
    fn canonical_components_are_used_as_they_are_only_when_canonical() {
        for canonical in ["", "abc-_.~", "AK%2F20261128%2Fsts", "IQo%2B%2F%3D", "a%20b", "%25"] {
            assert!(is_canonical(canonical), "{canonical}");
            assert_eq!(canonical_component(canonical), canonical);
        }
        // Lower-case hex, escaped unreserved bytes, bare reserved bytes, '+', broken escapes and
        // non-ASCII escapes all go through decoding and re-encoding.
        for (raw, canonical) in [
            ("a%2fb", "a%2Fb"),
            ("%7E%41", "~A"),
            ("a+b", "a%20b"),
            ("a b", "a%20b"),
            ("a/b", "a%2Fb"),
            ("%C3%A9", "%C3%A9"),
            ("%", "%25"),
            ("%4", "%254"),
            ("%zz", "%25zz"),
        ] {
            assert!(!is_canonical(raw), "{raw}");
            assert_eq!(canonical_component(raw), canonical, "{raw}");
        }
    }

    #[test]
    fn the_hash_of_the_canonical_request_is_that_of_the_built_string() {
        let headers = [("Host", "sts.amazonaws.com"), ("x-k8s-aws-id", " demo ")];
        let request = SignedRequest {
            method: "GET",
            path: "/a/../b/",
            query: "Action=GetCallerIdentity&X-Amz-Credential=AK%2F20261128%2Fus-east-1%2Fsts%2Faws4_request&k=a+b&X-Amz-Signature=00",
            headers: &headers,
            body: b"",
        };
        let built = canonical_request(&request, "host;x-k8s-aws-id", Some("X-Amz-Signature"), EMPTY_PAYLOAD_SHA256);
        let hashed =
            canonical_request_hash(&request, "host;x-k8s-aws-id", Some("X-Amz-Signature"), EMPTY_PAYLOAD_SHA256);
        assert_eq!(std::str::from_utf8(&hashed).unwrap(), sha256_hex(built.as_bytes()));
        let to_sign = string_to_sign("20261128T110250Z", "20261128/us-east-1/sts/aws4_request", &built);
        assert_eq!(
            to_sign,
            format!(
                "AWS4-HMAC-SHA256\n20261128T110250Z\n20261128/us-east-1/sts/aws4_request\n{}",
                sha256_hex(built.as_bytes())
            )
        );
    }
}
