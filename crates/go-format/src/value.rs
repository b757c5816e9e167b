//! `fmt`'s `%v` of a value `encoding/json` decoded into an `interface{}`, which is how
//! kube-apiserver quotes patch fragments in its strategic-merge-patch errors
//! (`map[image:nginx name:web]`, `[a b]`, `<nil>`).

use std::fmt;

use serde_json::Value;

/// Displays a JSON value as Go's `%v` prints the decoded value: maps with sorted keys, slices
/// space-separated, strings bare, `null` as `<nil>`.
pub struct GoValue<'a>(pub &'a Value);

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
    fn formats_like_fmt_v() {
        let v = json!({"name": "web", "image": "nginx", "ports": [80, 443], "x": null, "f": 1.5});
        assert_eq!(GoValue(&v).to_string(), "map[f:1.5 image:nginx name:web ports:[80 443] x:<nil>]");
    }
}
