//! A YAML document as a tree of nodes that remember their line, read with `serde-saphyr`, so
//! the aws-auth parser can apply Go's `encoding/json` typing rules (what EKS applies after
//! converting the YAML to JSON) and still say on which line a problem is.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;
use serde_saphyr::options::DuplicateKeyPolicy;

/// A YAML value with its source line (1-based; 0 when unknown).
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub line: usize,
    pub value: Value,
    /// The scalar's text as written (for plain scalars), e.g. `012345678901`.
    pub raw: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number,
    String(String),
    Seq(Vec<Node>),
    /// Entries in document order; keys rendered as strings (as YAML-to-JSON conversion does).
    Map(Vec<(String, Node)>),
}

/// What the visitor builds before lines and raw text are attached.
enum Raw {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Raw, Spanned<Raw>)>),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RawVisitor;
        impl<'de> Visitor<'de> for RawVisitor {
            type Value = Raw;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Raw, E> {
                Ok(Raw::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
                Ok(Raw::Number(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
                Ok(Raw::Number(v.to_string()))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Raw, E> {
                Ok(Raw::Number(v.to_string()))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
                Ok(Raw::Number(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
                Ok(Raw::Number(v.to_string()))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw::String(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Raw, E> {
                Ok(Raw::String(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Raw, E> {
                Ok(Raw::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Raw, D::Error> {
                Raw::deserialize(deserializer)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<Raw>>()? {
                    items.push(item);
                }
                Ok(Raw::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Raw>()? {
                    let value = map.next_value::<Spanned<Raw>>()?;
                    entries.push((key, value));
                }
                Ok(Raw::Map(entries))
            }
        }
        deserializer.deserialize_any(RawVisitor)
    }
}

/// A YAML syntax error, with the line it was found on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: Option<usize>,
    pub message: String,
}

/// Parses one YAML document (duplicate keys are all kept, in order, for the caller to resolve).
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let options = serde_saphyr::options! { duplicate_keys: DuplicateKeyPolicy::PassThrough };
    let root: Spanned<Raw> = serde_saphyr::from_str_with_options(text, options).map_err(|error| {
        let line = error.location().map(|location| location.line() as usize).filter(|line| *line > 0);
        let message = error.without_snippet().to_string();
        // serde-saphyr prefixes "error: line L column C: "; the caller names the line itself.
        let message = match message.split_once(": ") {
            Some((_, rest)) if message.starts_with("error: line") => {
                rest.split_once(": ").map_or(rest, |(_, reason)| reason).to_string()
            }
            _ => message,
        };
        SyntaxError { line, message }
    })?;
    Ok(convert(root, text))
}

fn convert(spanned: Spanned<Raw>, text: &str) -> Node {
    let line = spanned.referenced.line() as usize;
    let span = spanned.referenced.span();
    let raw_text = || {
        let start = usize::try_from(span.byte_offset()?).ok()?;
        let len = usize::try_from(span.byte_len()?).ok()?;
        text.get(start..start + len).map(str::to_string)
    };
    match spanned.value {
        Raw::Null => Node { line, value: Value::Null, raw: raw_text() },
        Raw::Bool(b) => Node { line, value: Value::Bool(b), raw: raw_text() },
        Raw::Number(shown) => Node { line, value: Value::Number, raw: raw_text().or(Some(shown)) },
        Raw::String(s) => Node { line, value: Value::String(s), raw: None },
        Raw::Seq(items) => {
            Node { line, value: Value::Seq(items.into_iter().map(|item| convert(item, text)).collect()), raw: None }
        }
        Raw::Map(entries) => Node {
            line,
            value: Value::Map(
                entries.into_iter().map(|(key, value)| (key_string(key), convert(value, text))).collect(),
            ),
            raw: None,
        },
    }
}

/// A mapping key as YAML-to-JSON conversion renders it.
fn key_string(key: Raw) -> String {
    match key {
        Raw::Null => "null".to_string(),
        Raw::Bool(b) => b.to_string(),
        Raw::Number(n) => n,
        Raw::String(s) => s,
        Raw::Seq(_) | Raw::Map(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_know_their_lines_and_raw_text() {
        let node = parse("- rolearn: arn:aws:iam::1:role/x\n  groups:\n    - a\n- 012345678901\n").unwrap();
        let Value::Seq(items) = node.value else { panic!("not a list") };
        assert_eq!(items[0].line, 1);
        let Value::Map(entries) = &items[0].value else { panic!("not a map") };
        assert_eq!(
            entries[0],
            ("rolearn".to_string(), Node { line: 1, value: Value::String("arn:aws:iam::1:role/x".into()), raw: None })
        );
        let Value::Seq(groups) = &entries[1].1.value else { panic!() };
        assert_eq!(groups[0].line, 3);
        assert_eq!((items[1].line, items[1].raw.as_deref()), (4, Some("012345678901")));
    }

    #[test]
    fn duplicate_keys_are_kept_for_the_caller() {
        let node = parse("a: 1\na: 2\n").unwrap();
        let Value::Map(entries) = node.value else { panic!() };
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let error = parse("- rolearn: x\n  groups: [a\n").unwrap_err();
        assert_eq!(error.line, Some(2));
        assert!(!error.message.is_empty() && !error.message.contains('\n'), "{error:?}");
    }

    #[test]
    fn empty_text_is_null() {
        assert_eq!(parse("").unwrap().value, Value::Null);
        assert_eq!(parse("  \n").unwrap().value, Value::Null);
    }
}
