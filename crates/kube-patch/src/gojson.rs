//! Go's spellings of JSON values, which kube-apiserver's messages and annotations carry: the
//! `encoding/json` form (HTML characters escaped, object keys sorted) and `fmt`'s `%v` form.

use std::fmt;

use serde_json::Value;

/// Writes JSON as Go's `encoding/json` does (HTML characters and U+2028/U+2029 escaped), which
/// is how kube-apiserver spells the values inside `k:` and `v:` keys.
pub(crate) fn go_json(value: &Value, out: &mut String) {
    let plain = serde_json::to_string(value).unwrap_or_default();
    for c in plain.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
}

/// Writes JSON as Go's `json.Marshal` of a decoded `map[string]interface{}` does: object keys
/// sorted, HTML characters escaped.
pub(crate) fn go_json_sorted(value: &Value) -> String {
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
    let mut out = String::new();
    go_json(&sorted(value), &mut out);
    out
}

/// Formats a JSON value the way Go's `fmt` `%v` prints the decoded `interface{}` value, which is
/// how kube-apiserver quotes patch fragments in its strategic-merge-patch errors
/// (`map[image:nginx name:web]`, `[a b]`, `<nil>`).
pub(crate) struct GoValue<'a>(pub &'a serde_json::Value);

impl fmt::Display for GoValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Null => f.write_str("<nil>"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => write!(f, "{i}"),
                (None, Some(u)) => write!(f, "{u}"),
                _ => write!(f, "{}", n.as_f64().unwrap_or_default()),
            },
            Value::String(s) => f.write_str(s),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{}", GoValue(item))?;
                }
                f.write_str("]")
            }
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                f.write_str("map[")?;
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{key}:{}", GoValue(&map[key]))?;
                }
                f.write_str("]")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_value_formats_like_fmt_v() {
        let v = json!({"name": "web", "image": "nginx", "ports": [80, 443], "x": null, "f": 1.5});
        assert_eq!(GoValue(&v).to_string(), "map[f:1.5 image:nginx name:web ports:[80 443] x:<nil>]");
    }

    #[test]
    fn sorted_json_escapes_html_like_go() {
        let v = json!({"b": "<x>", "a": {"d": 1, "c": [true, null]}});
        assert_eq!(go_json_sorted(&v), r#"{"a":{"c":[true,null],"d":1},"b":"\u003cx\u003e"}"#);
    }
}
