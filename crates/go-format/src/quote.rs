//! `strconv.Quote` and `fmt`'s `%q`: a string in double quotes where `"` and `\` are escaped,
//! printable characters (Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols
//! and the ASCII space) stay as they are, and everything else is escaped — `\a \b \f \n \r \t \v`
//! by name, other ASCII controls and DEL as `\x..`, other runes as `\u....` or `\U........`,
//! and bytes that are not UTF-8 as `\x..`.

use std::fmt::Write as _;

use unicode_general_category::{GeneralCategory, get_general_category};

/// Go's `strconv.Quote(s)`, i.e. `fmt.Sprintf("%q", s)`.
pub fn quote(s: &str) -> String {
    quote_bytes(s.as_bytes())
}

/// Go's `strconv.Quote` of a Go string holding arbitrary bytes: each byte that is not part of a
/// valid UTF-8 sequence is written as `\x..`.
pub fn quote_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            push_escaped(&mut out, c);
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out.push('"');
    out
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub fn quote_list<S: AsRef<str>>(items: &[S]) -> String {
    let mut out = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&quote(item.as_ref()));
    }
    out.push(']');
    out
}

/// `strconv.appendEscapedRune` with `"` as the quote, for any rune.
fn push_escaped(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        c if is_print(c) => out.push(c),
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if c < ' ' || c == '\u{7f}' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

/// Go's `unicode.IsPrint` (and `strconv.IsPrint`): categories L, M, N, P and S, plus U+0020.
fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_graphic() || c == ' ';
    }
    !matches!(
        get_general_category(c),
        GeneralCategory::SpaceSeparator
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::Surrogate
            | GeneralCategory::PrivateUse
            | GeneralCategory::Unassigned
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each expected value is what Go prints for `fmt.Sprintf("%q", input)` (checked with go1.19:
    /// its Unicode 13 classifies these characters as go1.21+'s Unicode 15 does).
    #[test]
    fn quotes_like_strconv_quote() {
        let cases: &[(&str, &str)] = &[
            ("", r#""""#),
            ("plain text", r#""plain text""#),
            (r#"a"b\c"#, r#""a\"b\\c""#),
            ("'single'", r#""'single'""#),
            // The named escapes.
            ("\u{7}\u{8}\u{c}\n\r\t\u{b}", r#""\a\b\f\n\r\t\v""#),
            // Other ASCII controls and DEL as \x.
            ("\u{0}\u{1}\u{1b}\u{1f}\u{7f}", r#""\x00\x01\x1b\x1f\x7f""#),
            // C1 controls are not ASCII: \u.
            ("\u{80}\u{85}\u{9f}", r#""\u0080\u0085\u009f""#),
            // Printable non-ASCII stays as it is.
            ("é ü 日本 🦀 \u{fffd}", "\"é ü 日本 🦀 \u{fffd}\""),
            // A combining mark is printable.
            ("e\u{301}", "\"e\u{301}\""),
            // Spaces other than U+0020 are not printable.
            ("\u{a0}\u{2003}\u{3000}", r#""\u00a0\u2003\u3000""#),
            ("\u{2028}\u{2029}", r#""\u2028\u2029""#),
            // Format characters: soft hyphen, zero-width space, BOM, and one outside the BMP.
            ("\u{ad}\u{200b}\u{feff}\u{e0001}", r#""\u00ad\u200b\ufeff\U000e0001""#),
            // Private use and unassigned code points.
            ("\u{e000}\u{10ffff}\u{378}", r#""\ue000\U0010ffff\u0378""#),
        ];
        for (input, expected) in cases {
            assert_eq!(quote(input), *expected, "quote({input:?})");
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_written_as_hex() {
        assert_eq!(quote_bytes(b"a\xffb"), r#""a\xffb""#);
        // A truncated sequence: each of its bytes on its own.
        assert_eq!(quote_bytes(b"\xe2\x82"), r#""\xe2\x82""#);
        // An encoded surrogate is not UTF-8.
        assert_eq!(quote_bytes(b"\xed\xa0\x80"), r#""\xed\xa0\x80""#);
        assert_eq!(quote_bytes("ok é".as_bytes()), "\"ok é\"");
    }

    #[test]
    fn quotes_lists_like_percent_q() {
        assert_eq!(quote_list(&["g1", "g2"]), r#"["g1" "g2"]"#);
        assert_eq!(quote_list(&["a b", "tab\t"]), r#"["a b" "tab\t"]"#);
        assert_eq!(quote_list::<&str>(&[]), "[]");
    }
}
