//! `encoding/json`'s output (`json.Marshal`, an `Encoder` with HTML escaping on): compact, with
//! Go's string escaping — `"` and `\` by backslash; `\b \f \n \r \t` by name (Go 1.22 and later);
//! other control characters as `\u00..`; `<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026`; U+2028
//! and U+2029 as `\u2028`, `\u2029`; everything else, DEL included, as it is.
//!
//! `serde_json` writes the layout and every escape but the HTML and line-separator ones, which
//! its [`Formatter`] hook for unescaped runs adds.

use std::io;

use serde::Serialize as _;
use serde_json::Value;
use serde_json::ser::{Formatter, Serializer};

/// Go's `json.Marshal` of `value` with its objects' keys in the value's order, as Go writes a
/// struct's fields.
pub fn to_json(value: &Value) -> String {
    let mut out = Vec::with_capacity(128);
    let mut serializer = Serializer::with_formatter(&mut out, GoFormatter);
    // Writing a `Value` into a `Vec` cannot fail.
    let _ = value.serialize(&mut serializer);
    String::from_utf8(out).unwrap_or_default()
}

/// Go's `json.Marshal` of a decoded `map[string]interface{}` (and the maps inside it): object
/// keys sorted.
pub fn to_json_sorted(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), sorted(v))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    to_json(&sorted(value))
}

/// `serde_json`'s compact output with the escapes `encoding/json` adds inside strings.
struct GoFormatter;

impl Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escape = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escape.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    // The other methods keep their defaults: compact output, `serde_json`'s escapes.
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn string(s: &str) -> String {
        to_json(&Value::String(s.to_string()))
    }

    /// Each expected value is what Go's `json.Marshal` writes for the string (checked with go1.19,
    /// but for `\b \f`, which Go 1.22 changed from `\u0008 \u000c`).
    #[test]
    fn strings_are_escaped_like_encoding_json() {
        let cases: &[(&str, &str)] = &[
            ("", r#""""#),
            (r#"a"b\c/d"#, r#""a\"b\\c/d""#),
            ("\u{8}\u{c}\n\r\t", r#""\b\f\n\r\t""#),
            // Other controls, \a and \v included, as \u00XX; DEL as it is.
            ("\u{0}\u{7}\u{b}\u{1b}\u{1f}\u{7f}", "\"\\u0000\\u0007\\u000b\\u001b\\u001f\u{7f}\""),
            ("<b> & </b>", r#""\u003cb\u003e \u0026 \u003c/b\u003e""#),
            ("\u{2028}\u{2029}", r#""\u2028\u2029""#),
            // Non-ASCII, C1 controls and format characters as they are.
            ("é 日本 🦀 \u{85}\u{200b}", "\"é 日本 🦀 \u{85}\u{200b}\""),
        ];
        for (input, expected) in cases {
            assert_eq!(string(input), *expected, "to_json({input:?})");
        }
    }

    #[test]
    fn keys_are_escaped_and_kept_in_order_or_sorted() {
        let value = json!({"b": "<x>", "a&": {"d": 1, "c": [true, null, 1.5]}});
        assert_eq!(to_json(&value), r#"{"b":"\u003cx\u003e","a\u0026":{"d":1,"c":[true,null,1.5]}}"#);
        assert_eq!(to_json_sorted(&value), r#"{"a\u0026":{"c":[true,null,1.5],"d":1},"b":"\u003cx\u003e"}"#);
    }
}
