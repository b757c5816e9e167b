//! Kubernetes' name and label validation (`k8s.io/apimachinery/pkg/util/validation`), with its
//! exact messages, and the object-metadata checks every kind shares.

use serde_json::Value;

use crate::status::FieldError;

const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const CONFIG_KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

fn is_lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn is_dns1123_label_shape(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && is_lower_alnum(b[0])
        && is_lower_alnum(b[b.len() - 1])
        && b.iter().all(|c| is_lower_alnum(*c) || *c == b'-')
}

/// `IsDNS1123Subdomain`: the messages, empty when valid.
pub fn dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > 253 {
        errors.push("must be no more than 253 characters".to_string());
    }
    if !value.split('.').all(is_dns1123_label_shape) {
        errors.push(DNS1123_SUBDOMAIN_MSG.to_string());
    }
    errors
}

/// `IsDNS1123Label`.
pub fn dns1123_label(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > 63 {
        errors.push("must be no more than 63 characters".to_string());
    }
    if !is_dns1123_label_shape(value) {
        errors.push(DNS1123_LABEL_MSG.to_string());
    }
    errors
}

/// `IsDNS1035Label` (Service names).
pub fn dns1035_label(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > 63 {
        errors.push("must be no more than 63 characters".to_string());
    }
    if !(is_dns1123_label_shape(value) && value.as_bytes()[0].is_ascii_lowercase()) {
        errors.push(DNS1035_LABEL_MSG.to_string());
    }
    errors
}

fn is_qualified_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// `IsQualifiedName` (label and annotation keys): `[prefix/]name`.
pub fn qualified_name(value: &str) -> Vec<String> {
    let parts: Vec<&str> = value.split('/').collect();
    let (prefix, name) = match parts.as_slice() {
        [name] => (None, *name),
        [prefix, name] => (Some(*prefix), *name),
        _ => {
            return vec![format!(
                "a qualified name {QUALIFIED_NAME_MSG} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            )];
        }
    };
    let mut errors = Vec::new();
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            errors.push("prefix part must be non-empty".to_string());
        } else {
            errors.extend(dns1123_subdomain(prefix).into_iter().map(|m| format!("prefix part {m}")));
        }
    }
    if name.is_empty() {
        errors.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errors.push("name part must be no more than 63 characters".to_string());
    }
    if !name.is_empty() && !is_qualified_name_part(name) {
        errors.push(format!("name part {QUALIFIED_NAME_MSG}"));
    }
    errors
}

/// `IsValidLabelValue`.
pub fn label_value(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > 63 {
        errors.push("must be no more than 63 characters".to_string());
    }
    if !value.is_empty() && !is_qualified_name_part(value) {
        errors.push(LABEL_VALUE_MSG.to_string());
    }
    errors
}

/// `IsConfigMapKey` (ConfigMap and Secret data keys).
pub fn config_map_key(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > 253 {
        errors.push("must be no more than 253 characters".to_string());
    }
    if value.is_empty() || !value.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.')) {
        errors.push(CONFIG_KEY_MSG.to_string());
    }
    if value == "." {
        errors.push("must not be '.'".to_string());
    } else if value == ".." {
        errors.push("must not be '..'".to_string());
    } else if value.starts_with("..") {
        errors.push("must not start with '..'".to_string());
    }
    errors
}

/// `path.IsValidPathSegmentName` (RBAC object names).
pub fn path_segment_name(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value == "." || value == ".." {
        errors.push(format!("may not be '{value}'"));
    }
    if value.contains('/') {
        errors.push("may not contain '/'".to_string());
    }
    if value.contains('%') {
        errors.push("may not contain '%'".to_string());
    }
    errors
}

/// How a kind's object names are validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    Dns1123Subdomain,
    Dns1123Label,
    Dns1035Label,
    PathSegment,
}

impl NameRule {
    pub fn check(self, name: &str) -> Vec<String> {
        match self {
            NameRule::Dns1123Subdomain => dns1123_subdomain(name),
            NameRule::Dns1123Label => dns1123_label(name),
            NameRule::Dns1035Label => dns1035_label(name),
            NameRule::PathSegment => path_segment_name(name),
        }
    }
}

/// `ValidateObjectMeta`'s checks on name, generateName, labels, annotations and
/// ownerReferences.
pub fn object_meta(object: &Value, rule: NameRule) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let meta = object.get("metadata");
    let get = |field: &str| meta.and_then(|m| m.get(field));
    let name = get("name").and_then(Value::as_str).unwrap_or_default();
    let generate_name = get("generateName").and_then(Value::as_str).unwrap_or_default();
    if name.is_empty() {
        if generate_name.is_empty() {
            errors.push(FieldError::required_with("metadata.name", "name or generateName is required"));
        }
    } else {
        for message in rule.check(name) {
            errors.push(FieldError::invalid("metadata.name", name, message));
        }
    }
    if let Some(labels) = get("labels").and_then(Value::as_object) {
        for (key, value) in labels {
            for message in qualified_name(key) {
                errors.push(FieldError::invalid("metadata.labels", key, message));
            }
            let value = value.as_str().unwrap_or_default();
            for message in label_value(value) {
                errors.push(FieldError::invalid("metadata.labels", value, message));
            }
        }
    }
    if let Some(annotations) = get("annotations").and_then(Value::as_object) {
        let mut total = 0;
        for (key, value) in annotations {
            for message in qualified_name(&key.to_ascii_lowercase()) {
                errors.push(FieldError::invalid("metadata.annotations", key, message));
            }
            total += key.len() + value.as_str().map_or(0, str::len);
        }
        if total > 256 * 1024 {
            errors.push(FieldError {
                field: "metadata.annotations".into(),
                kind: crate::status::FieldErrorKind::TooLong(String::new(), 256 * 1024),
            });
        }
    }
    if let Some(finalizers) = get("finalizers").and_then(Value::as_array) {
        for (i, f) in finalizers.iter().enumerate() {
            let f = f.as_str().unwrap_or_default();
            for message in qualified_name(f) {
                errors.push(FieldError::invalid(format!("metadata.finalizers[{i}]"), f, message));
            }
        }
    }
    if let Some(owners) = get("ownerReferences").and_then(Value::as_array) {
        for (i, owner) in owners.iter().enumerate() {
            for field in ["apiVersion", "kind", "name", "uid"] {
                if owner.get(field).and_then(Value::as_str).unwrap_or_default().is_empty() {
                    let message = match field {
                        "apiVersion" => "version must not be empty",
                        "kind" => "kind must not be empty",
                        "name" => "name must not be empty",
                        _ => "uid must not be empty",
                    };
                    errors.push(FieldError::invalid_raw(
                        format!("metadata.ownerReferences[{i}].{field}"),
                        "\"\"",
                        message,
                    ));
                }
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names() {
        assert!(dns1123_subdomain("my-cm.v1").is_empty());
        assert_eq!(dns1123_subdomain("Bad_Name"), vec![DNS1123_SUBDOMAIN_MSG.to_string()]);
        assert!(dns1123_label("a.b").len() == 1);
        assert!(dns1035_label("1abc").len() == 1 && dns1035_label("abc-1").is_empty());
        assert!(qualified_name("app.kubernetes.io/name").is_empty());
        assert_eq!(qualified_name("/x"), vec!["prefix part must be non-empty".to_string()]);
        assert!(label_value("").is_empty() && label_value("-x").len() == 1);
        assert!(config_map_key("a.b_C-1").is_empty() && config_map_key("a b").len() == 1);
        assert_eq!(config_map_key(".."), vec!["must not be '..'".to_string()]);
        assert!(path_segment_name("system:masters").is_empty());
    }

    #[test]
    fn object_meta_messages() {
        let errors = object_meta(&json!({"metadata": {}}), NameRule::Dns1123Subdomain);
        assert_eq!(errors[0].to_string(), "metadata.name: Required value: name or generateName is required");
        let errors =
            object_meta(&json!({"metadata": {"name": "Bad", "labels": {"ok": "-bad"}}}), NameRule::Dns1123Subdomain);
        assert_eq!(errors.len(), 2);
        assert!(
            errors[0].to_string().starts_with("metadata.name: Invalid value: \"Bad\": a lowercase RFC 1123 subdomain")
        );
        assert!(errors[1].to_string().starts_with("metadata.labels: Invalid value: \"-bad\": a valid label"));
    }
}
