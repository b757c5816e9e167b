//! The few pieces of Go's standard library whose exact behaviour (and error text) a
//! `k8s-aws-v1.` token meets in aws-iam-authenticator: `base64.RawURLEncoding`, `url.Parse`,
//! `url.ParseQuery`, `strconv.Atoi`, `time.Parse` with the `X-Amz-Date` layout, and
//! `time.Time.String`.
//!
//! Written by hand because the Rust crates for these jobs differ on exactly the inputs a refused
//! token is made of: the `url` crate normalizes paths and hosts (Go keeps them raw, and the
//! signature covers the raw bytes), `base64` rejects non-zero trailing bits that Go accepts, and
//! no crate reproduces Go's messages, which are what EKS logs for a refused token.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

/// Go's `base64.RawURLEncoding`: URL-safe alphabet, no padding, trailing bits ignored.
const RAW_URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// `base64.RawURLEncoding.DecodeString`, with Go's error text
/// (`illegal base64 data at input byte N`). Like Go, line breaks are skipped.
pub fn decode_raw_url_base64(text: &str) -> Result<Vec<u8>, String> {
    let stripped;
    let bytes = text.as_bytes();
    let text = if any_byte(bytes, |b| (b == b'\n') | (b == b'\r')) {
        stripped = text.replace(['\r', '\n'], "");
        stripped.as_str()
    } else {
        text
    };
    let illegal = |at: usize| format!("illegal base64 data at input byte {at}");
    RAW_URL.decode(text).map_err(|_| {
        // Go reports the first byte outside the alphabet (padding included, since there is
        // none), else the lone character of a truncated last group.
        match text.bytes().position(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_')) {
            Some(at) => illegal(at),
            None => illegal(text.len().saturating_sub(1)),
        }
    })
}

/// The parts of a URL aws-iam-authenticator looks at, as Go's `url.Parse` splits them; the
/// slices are raw (still percent-encoded), as they travel on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoUrl<'a> {
    /// Lower-cased by Go; empty when the URL has none.
    pub scheme: &'a str,
    /// `host[:port]`, without user info.
    pub host: &'a str,
    /// The raw path (empty for an opaque URL such as `https:foo`).
    pub raw_path: &'a str,
    /// The raw query, without `?`.
    pub raw_query: &'a str,
}

impl GoUrl<'_> {
    /// The path unescaped, as Go's `URL.Path`.
    pub fn path(&self) -> Result<Cow<'_, str>, String> {
        unescape(self.raw_path, false)
    }
}

/// Whether any byte of `bytes` passes `test`, in a branch-free pass the compiler vectorizes (a
/// token's URL is a few hundred bytes, and what is looked for is almost never there).
fn any_byte(bytes: &[u8], test: impl Fn(u8) -> bool) -> bool {
    bytes.iter().map(|&b| u8::from(test(b))).fold(0, |found, hit| found | hit) != 0
}

/// Go's `url.Parse`. The error is Go's reason, without the `parse "<url>": ` prefix: the URL of
/// a token is a credential and is never repeated in a message.
pub fn parse_url(raw: &str) -> Result<GoUrl<'_>, String> {
    let (raw, fragment) = raw.split_once('#').unwrap_or((raw, ""));
    let control = |text: &str| any_byte(text.as_bytes(), |b| (b < 0x20) | (b == 0x7f));
    if control(raw) || control(fragment) {
        return Err("net/url: invalid control character in URL".to_string());
    }
    unescape(fragment, false)?;
    let (scheme, rest) = split_scheme(raw)?;
    let (rest, raw_query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, query),
        None => (rest, ""),
    };
    if !rest.starts_with('/') && !scheme.is_empty() {
        // An opaque URL (`https:host`): no host, no path.
        return Ok(GoUrl { scheme, host: "", raw_path: "", raw_query });
    }
    let (host, raw_path) = match rest.strip_prefix("//") {
        Some(after) if !scheme.is_empty() || !rest.starts_with("///") => {
            let end = after.find('/').unwrap_or(after.len());
            (parse_authority(&after[..end])?, &after[end..])
        }
        _ => ("", rest),
    };
    unescape(raw_path, false)?;
    Ok(GoUrl { scheme, host, raw_path, raw_query })
}

/// Go's `getScheme`: letters, then digits, `+`, `-`, `.`, up to the first `:`.
fn split_scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".to_string()),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

/// Go's `parseAuthority` and `parseHost`, keeping the host raw.
fn parse_authority(authority: &str) -> Result<&str, String> {
    let host = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            if !userinfo.bytes().all(valid_userinfo_byte) {
                return Err("net/url: invalid userinfo".to_string());
            }
            &authority[at + 1..]
        }
        None => authority,
    };
    let port = if host.starts_with('[') {
        let Some(close) = host.find(']') else { return Err("missing ']' in host".to_string()) };
        &host[close + 1..]
    } else {
        host.rfind(':').map_or("", |colon| &host[colon..])
    };
    if !(port.is_empty() || (port.starts_with(':') && port[1..].bytes().all(|b| b.is_ascii_digit()))) {
        return Err(format!("invalid port {port:?} after host"));
    }
    if let Some(percent) = host.find('%') {
        let escape: String = host[percent..].chars().take(3).collect();
        return Err(format!("invalid URL escape {escape:?}"));
    }
    Ok(host)
}

fn valid_userinfo_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&b)
}

/// Go's `unescape`; `query` turns `+` into a space (`QueryUnescape`). Borrows when there is
/// nothing to unescape.
fn unescape(text: &str, query: bool) -> Result<Cow<'_, str>, String> {
    let escaped = if query { text.bytes().any(|b| b == b'%' || b == b'+') } else { text.contains('%') };
    if !escaped {
        return Ok(Cow::Borrowed(text));
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                out.push(escaped_byte(bytes, i).ok_or_else(|| invalid_escape(text, i))?);
                i += 3;
            }
            b'+' if query => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                // Copy the run up to the next byte that needs work in one go.
                let run = bytes[i..].iter().position(|&b| b == b'%' || (query && b == b'+')).unwrap_or(bytes.len() - i);
                out.extend_from_slice(&bytes[i..i + run]);
                i += run;
            }
        }
    }
    Ok(Cow::Owned(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())))
}

/// The byte the escape at `bytes[at]` (a `%`) stands for, if two hex digits follow.
fn escaped_byte(bytes: &[u8], at: usize) -> Option<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let high = bytes.get(at + 1).copied().and_then(hex)?;
    let low = bytes.get(at + 2).copied().and_then(hex)?;
    Some((high * 16 + low) as u8)
}

/// Go's `EscapeError` for the escape at `text[at..]`.
fn invalid_escape(text: &str, at: usize) -> String {
    let escape: String = text[at..].chars().take(3).collect();
    format!("invalid URL escape {escape:?}")
}

/// Fails as [`unescape`] would, without decoding.
fn check_escapes(text: &str) -> Result<(), String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(found) = text[i..].find('%') {
        let at = i + found;
        escaped_byte(bytes, at).ok_or_else(|| invalid_escape(text, at))?;
        i = at + 3;
    }
    Ok(())
}

/// A query value whose escapes `parse_query` checked, decoded only when asked: a token's longest
/// value, the session token, is signed but never read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryValue<'a>(&'a str);

impl<'a> QueryValue<'a> {
    /// The value as `url.ParseQuery` yields it (`+` is a space, escapes decoded).
    pub fn decoded(self) -> Cow<'a, str> {
        // The escapes were checked, so this cannot fail.
        unescape(self.0, true).unwrap_or(Cow::Borrowed(self.0))
    }
}

/// A query parameter: the decoded key and its value.
pub type QueryPair<'a> = (Cow<'a, str>, QueryValue<'a>);

/// Go's `url.ParseQuery`: the `(key, value)` pairs in order, or an error if any piece is
/// malformed (a `;` separator or a bad escape).
pub fn parse_query(raw_query: &str) -> Result<Vec<QueryPair<'_>>, String> {
    let mut pairs = Vec::with_capacity(10);
    let mut first_error = None;
    // One scan of the whole query says whether any piece needs the `;` check.
    let semicolons = any_byte(raw_query.as_bytes(), |b| b == b';');
    for piece in raw_query.split('&') {
        if semicolons && piece.contains(';') {
            first_error.get_or_insert_with(|| "invalid semicolon separator in query".to_string());
            continue;
        }
        if piece.is_empty() {
            continue;
        }
        let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
        match unescape(key, true).and_then(|key| check_escapes(value).map(|()| key)) {
            Ok(key) => pairs.push((key, QueryValue(value))),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    match first_error {
        Some(error) => Err(error),
        None => Ok(pairs),
    }
}

/// Go's `strconv.Atoi` as aws-iam-authenticator uses it: the value it yields even on error (0
/// for a syntax error, the clamped bound on overflow) and whether it failed.
pub fn atoi(text: &str) -> (i64, bool) {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return (0, true);
    }
    let mut value: i64 = 0;
    for b in digits.bytes() {
        let digit = i64::from(b - b'0');
        let next =
            value.checked_mul(10).and_then(|v| if negative { v.checked_sub(digit) } else { v.checked_add(digit) });
        match next {
            Some(next) => value = next,
            None => return (if negative { i64::MIN } else { i64::MAX }, true),
        }
    }
    (value, false)
}

/// The layout aws-iam-authenticator parses `X-Amz-Date` with.
pub const AMZ_DATE_LAYOUT: &str = "20060102T150405Z";

/// Go's `time.Parse("20060102T150405Z", value)`, with Go's error text.
pub fn parse_amz_date(value: &str) -> Result<DateTime<Utc>, String> {
    let cannot = |rest: &str, element: &str| {
        format!("parsing time {value:?} as {AMZ_DATE_LAYOUT:?}: cannot parse {rest:?} as {element:?}")
    };
    let out_of_range = |what: &str| format!("parsing time {value:?}: {what} out of range");
    let mut rest = value;

    // 2006: four characters, the first a digit, the whole an integer (sign allowed).
    if rest.len() < 4 || !rest.as_bytes()[0].is_ascii_digit() || !rest.is_char_boundary(4) {
        return Err(cannot(rest, "2006"));
    }
    let Ok(year) = rest[..4].parse::<i32>() else { return Err(cannot(rest, "2006")) };
    rest = &rest[4..];
    let (month, after) = two_digits(rest, true).ok_or_else(|| cannot(rest, "01"))?;
    if !(1..=12).contains(&month) {
        return Err(out_of_range("month"));
    }
    rest = after;
    let (day, after) = two_digits(rest, true).ok_or_else(|| cannot(rest, "02"))?;
    rest = after;
    rest = rest.strip_prefix('T').ok_or_else(|| cannot(rest, "T"))?;
    let (hour, after) = two_digits(rest, false).ok_or_else(|| cannot(rest, "15"))?;
    if hour > 23 {
        return Err(out_of_range("hour"));
    }
    rest = after;
    let (minute, after) = two_digits(rest, true).ok_or_else(|| cannot(rest, "04"))?;
    if minute > 59 {
        return Err(out_of_range("minute"));
    }
    rest = after;
    let (second, after) = two_digits(rest, true).ok_or_else(|| cannot(rest, "05"))?;
    if second > 59 {
        return Err(out_of_range("second"));
    }
    rest = after;
    // Go accepts a fractional second after the seconds even when the layout has none.
    let mut nanos = 0u32;
    let bytes = rest.as_bytes();
    if bytes.len() >= 2 && (bytes[0] == b'.' || bytes[0] == b',') && bytes[1].is_ascii_digit() {
        let digits = rest[1..].bytes().take_while(u8::is_ascii_digit).count();
        for (i, b) in rest[1..1 + digits].bytes().enumerate().take(9) {
            nanos += u32::from(b - b'0') * 10u32.pow(8 - i as u32);
        }
        rest = &rest[1 + digits..];
    }
    rest = rest.strip_prefix('Z').ok_or_else(|| cannot(rest, "Z"))?;
    if !rest.is_empty() {
        return Err(format!("parsing time {value:?}: extra text: {rest:?}"));
    }
    let date = NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| out_of_range("day"))?;
    let time = date.and_hms_nano_opt(hour, minute, second, nanos).ok_or_else(|| out_of_range("second"))?;
    Ok(time.and_utc())
}

/// Go's `getnum`: one or two digits (exactly two when `fixed`).
fn two_digits(text: &str, fixed: bool) -> Option<(u32, &str)> {
    let bytes = text.as_bytes();
    let first = bytes.first().filter(|b| b.is_ascii_digit())?;
    match bytes.get(1).filter(|b| b.is_ascii_digit()) {
        Some(second) => Some((u32::from(first - b'0') * 10 + u32::from(second - b'0'), &text[2..])),
        None if fixed => None,
        None => Some((u32::from(first - b'0'), &text[1..])),
    }
}

/// Go's `time.Time.String()` for a UTC time: `2006-01-02 15:04:05.999999999 +0000 UTC`.
pub fn go_time_string(time: DateTime<Utc>) -> String {
    let mut out = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        time.year(),
        time.month(),
        time.day(),
        time.hour(),
        time.minute(),
        time.second()
    );
    let nanos = time.nanosecond();
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};

    use super::*;

    #[test]
    fn base64_errors_name_the_byte_as_go_does() {
        assert_eq!(decode_raw_url_base64("aGk").unwrap(), b"hi");
        assert_eq!(decode_raw_url_base64("aGl").unwrap(), b"hi", "trailing bits are ignored");
        assert_eq!(decode_raw_url_base64("aGk=").unwrap_err(), "illegal base64 data at input byte 3");
        assert_eq!(decode_raw_url_base64("a+Gk").unwrap_err(), "illegal base64 data at input byte 1");
        assert_eq!(decode_raw_url_base64("aGkhY").unwrap_err(), "illegal base64 data at input byte 4");
        assert_eq!(decode_raw_url_base64("aG\nk").unwrap(), b"hi");
    }

    #[test]
    fn urls_split_as_go_splits_them() {
        let url = parse_url("https://sts.amazonaws.com/?Action=GetCallerIdentity#frag").unwrap();
        assert_eq!(
            url,
            GoUrl { scheme: "https", host: "sts.amazonaws.com", raw_path: "/", raw_query: "Action=GetCallerIdentity" }
        );
        let url = parse_url("https://user@127.0.0.1:8443/a%2Fb?x").unwrap();
        assert_eq!((url.host, url.raw_path, &*url.path().unwrap()), ("127.0.0.1:8443", "/a%2Fb", "/a/b"));
        assert_eq!(parse_url("https:opaque").unwrap().host, "");
        assert_eq!(parse_url("sts.amazonaws.com/").unwrap().scheme, "");
        assert_eq!(parse_url("://x").unwrap_err(), "missing protocol scheme");
        assert_eq!(parse_url("https://h:x/").unwrap_err(), "invalid port \":x\" after host");
        assert_eq!(parse_url("https://[::1/").unwrap_err(), "missing ']' in host");
        assert_eq!(parse_url("https://h/\u{7}").unwrap_err(), "net/url: invalid control character in URL");
        assert_eq!(parse_url("https://h/%zz").unwrap_err(), "invalid URL escape \"%zz\"");
    }

    #[test]
    fn queries_parse_as_go_parses_them() {
        let pairs = parse_query("a=1&&b=x+y%2F&c&d%21=%7e=").unwrap();
        let decoded: Vec<(&str, Cow<'_, str>)> =
            pairs.iter().map(|(key, value)| (key.as_ref(), value.decoded())).collect();
        assert_eq!(decoded, [("a", "1".into()), ("b", "x y/".into()), ("c", "".into()), ("d!", "~=".into())]);
        assert_eq!(parse_query("a=%4").unwrap_err(), "invalid URL escape \"%4\"");
        assert_eq!(parse_query("a=%zz&b=%2").unwrap_err(), "invalid URL escape \"%zz\"", "the first error");
        assert_eq!(parse_query("%g=1").unwrap_err(), "invalid URL escape \"%g\"");
        assert_eq!(parse_query("a=1;b=2").unwrap_err(), "invalid semicolon separator in query");
    }

    #[test]
    fn atoi_yields_what_go_yields() {
        assert_eq!(atoi("60"), (60, false));
        assert_eq!(atoi("+60"), (60, false));
        assert_eq!(atoi("-1"), (-1, false));
        assert_eq!(atoi(""), (0, true));
        assert_eq!(atoi("6o"), (0, true));
        assert_eq!(atoi("99999999999999999999"), (i64::MAX, true));
    }

    #[test]
    fn amz_dates_parse_with_gos_errors() {
        assert_eq!(parse_amz_date("20261128T091624Z").unwrap(), Utc.with_ymd_and_hms(2026, 11, 28, 9, 16, 24).unwrap());
        assert_eq!(
            parse_amz_date("2026-11-28").unwrap_err(),
            "parsing time \"2026-11-28\" as \"20060102T150405Z\": cannot parse \"-11-28\" as \"01\""
        );
        assert_eq!(
            parse_amz_date("20261328T091624Z").unwrap_err(),
            "parsing time \"20261328T091624Z\": month out of range"
        );
        assert_eq!(
            parse_amz_date("20260230T091624Z").unwrap_err(),
            "parsing time \"20260230T091624Z\": day out of range"
        );
        assert_eq!(
            parse_amz_date("20261128 091624Z").unwrap_err(),
            "parsing time \"20261128 091624Z\" as \"20060102T150405Z\": cannot parse \" 091624Z\" as \"T\""
        );
        assert_eq!(
            parse_amz_date("20261128T091624Zx").unwrap_err(),
            "parsing time \"20261128T091624Zx\": extra text: \"x\""
        );
        assert_eq!(
            parse_amz_date("20261128T091624.5Z").unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 28, 9, 16, 24).unwrap() + TimeDelta::milliseconds(500)
        );
    }

    #[test]
    fn times_print_as_go_prints_them() {
        let time = Utc.with_ymd_and_hms(2026, 11, 28, 9, 16, 25).unwrap();
        assert_eq!(go_time_string(time), "2026-11-28 09:16:25 +0000 UTC");
        assert_eq!(go_time_string(time + TimeDelta::milliseconds(500)), "2026-11-28 09:16:25.5 +0000 UTC");
    }
}
