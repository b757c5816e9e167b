//! Condition blocks: the request context they read (global keys such as `aws:SourceIp`,
//! service keys such as `sts:ExternalId`), the condition operators with their `…IfExists`
//! and `ForAnyValue:`/`ForAllValues:` forms, and IAM's rules for missing keys.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde_json::Value;

use crate::error::{IamError, Result};
use crate::policy::{PolicyVersion, expand_variables, glob_match};

/// The keys of a request's context and their values (a key may have several: `aws:TagKeys`).
/// Key names are case-insensitive, values are not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContextKeys {
    entries: Vec<(String, Vec<String>)>,
}

impl ContextKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to the single value `value`, replacing what it had.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.set_all(key, vec![value.into()]);
    }

    /// Sets `key` to `values`, replacing what it had.
    pub fn set_all(&mut self, key: &str, values: Vec<String>) {
        match self.entries.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
            Some((_, existing)) => *existing = values,
            None => self.entries.push((key.to_string(), values)),
        }
    }

    /// The values of `key`, if the request has it.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.entries.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_slice())
    }

    /// The value of a single-valued `key`.
    pub fn single(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|values| values.first()).map(String::as_str)
    }

    /// Every key and its values.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compare {
    Equals,
    LessThan,
    LessThanEquals,
    GreaterThan,
    GreaterThanEquals,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operator {
    StringEquals { ignore_case: bool },
    StringLike,
    Numeric(Compare),
    Date(Compare),
    Bool,
    Binary,
    IpAddress,
    Arn,
    Null,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetQualifier {
    ForAnyValue,
    ForAllValues,
}

/// One `operator: {key: values}` test of a condition block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    operator: Operator,
    negated: bool,
    if_exists: bool,
    qualifier: Option<SetQualifier>,
    key: String,
    values: Vec<String>,
}

fn malformed(message: impl Into<String>) -> IamError {
    IamError::MalformedPolicyDocument(message.into())
}

fn parse_operator(name: &str) -> Option<(Operator, bool)> {
    use Compare::*;
    let operator = match name {
        "StringEquals" => (Operator::StringEquals { ignore_case: false }, false),
        "StringNotEquals" => (Operator::StringEquals { ignore_case: false }, true),
        "StringEqualsIgnoreCase" => (Operator::StringEquals { ignore_case: true }, false),
        "StringNotEqualsIgnoreCase" => (Operator::StringEquals { ignore_case: true }, true),
        "StringLike" => (Operator::StringLike, false),
        "StringNotLike" => (Operator::StringLike, true),
        "NumericEquals" => (Operator::Numeric(Equals), false),
        "NumericNotEquals" => (Operator::Numeric(Equals), true),
        "NumericLessThan" => (Operator::Numeric(LessThan), false),
        "NumericLessThanEquals" => (Operator::Numeric(LessThanEquals), false),
        "NumericGreaterThan" => (Operator::Numeric(GreaterThan), false),
        "NumericGreaterThanEquals" => (Operator::Numeric(GreaterThanEquals), false),
        "DateEquals" => (Operator::Date(Equals), false),
        "DateNotEquals" => (Operator::Date(Equals), true),
        "DateLessThan" => (Operator::Date(LessThan), false),
        "DateLessThanEquals" => (Operator::Date(LessThanEquals), false),
        "DateGreaterThan" => (Operator::Date(GreaterThan), false),
        "DateGreaterThanEquals" => (Operator::Date(GreaterThanEquals), false),
        "Bool" => (Operator::Bool, false),
        "BinaryEquals" => (Operator::Binary, false),
        "IpAddress" => (Operator::IpAddress, false),
        "NotIpAddress" => (Operator::IpAddress, true),
        "ArnEquals" | "ArnLike" => (Operator::Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Operator::Arn, true),
        "Null" => (Operator::Null, false),
        _ => return None,
    };
    Some(operator)
}

fn condition_values(value: &Value) -> Result<Vec<String>> {
    let scalar = |value: &Value| match value {
        Value::String(text) => Ok(text.clone()),
        Value::Bool(flag) => Ok(flag.to_string()),
        Value::Number(number) => Ok(number.to_string()),
        _ => Err(malformed("Syntax errors in policy: condition values must be strings, numbers or booleans.")),
    };
    match value {
        Value::Array(items) if !items.is_empty() => items.iter().map(scalar).collect(),
        Value::Array(_) => Err(malformed("Syntax errors in policy: a condition key needs at least one value.")),
        other => Ok(vec![scalar(other)?]),
    }
}

fn compare<T: PartialOrd>(how: Compare, request: T, policy: T) -> bool {
    match how {
        Compare::Equals => request == policy,
        Compare::LessThan => request < policy,
        Compare::LessThanEquals => request <= policy,
        Compare::GreaterThan => request > policy,
        Compare::GreaterThanEquals => request >= policy,
    }
}

fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return date.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    text.parse::<i64>().ok().and_then(|seconds| DateTime::from_timestamp(seconds, 0))
}

/// Compares ARNs part by part with wildcards, as `ArnLike` does.
fn arn_like(pattern: &str, arn: &str) -> bool {
    let patterns: Vec<&str> = pattern.splitn(6, ':').collect();
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    patterns.len() == 6 && parts.len() == 6 && patterns.iter().zip(&parts).all(|(p, a)| glob_match(p, a, false))
}

impl Operator {
    fn matches(self, request: &str, policy: &str) -> bool {
        match self {
            Operator::StringEquals { ignore_case: false } => request == policy,
            Operator::StringEquals { ignore_case: true } => request.eq_ignore_ascii_case(policy),
            Operator::StringLike => glob_match(policy, request, false),
            Operator::Numeric(how) => match (request.parse::<f64>(), policy.parse::<f64>()) {
                (Ok(r), Ok(p)) => compare(how, r, p),
                _ => false,
            },
            Operator::Date(how) => match (parse_date(request), parse_date(policy)) {
                (Some(r), Some(p)) => compare(how, r, p),
                _ => false,
            },
            Operator::Bool => request.eq_ignore_ascii_case(policy),
            Operator::Binary => request == policy,
            Operator::IpAddress => match request.parse::<IpAddr>() {
                Ok(ip) => match policy.parse::<IpNet>() {
                    Ok(net) => net.contains(&ip),
                    Err(_) => policy.parse::<IpAddr>().is_ok_and(|single| single == ip),
                },
                Err(_) => false,
            },
            Operator::Arn => arn_like(policy, request),
            Operator::Null => false,
        }
    }
}

impl Condition {
    /// Parses a statement's `Condition` block.
    pub fn parse_block(block: &Value) -> Result<Vec<Condition>> {
        let Value::Object(operators) = block else {
            return Err(malformed("Syntax errors in policy: Condition must be an object."));
        };
        let mut conditions = Vec::new();
        for (name, keys) in operators {
            let (qualifier, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
                (Some(SetQualifier::ForAnyValue), rest)
            } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
                (Some(SetQualifier::ForAllValues), rest)
            } else {
                (None, name.as_str())
            };
            let (base, if_exists) = match rest.strip_suffix("IfExists") {
                Some(base) if base != "Null" => (base, true),
                _ => (rest, false),
            };
            let (operator, negated) =
                parse_operator(base).ok_or_else(|| malformed(format!("Invalid Condition type : {name}.")))?;
            let Value::Object(keys) = keys else {
                return Err(malformed(format!("Syntax errors in policy: {name} must map condition keys to values.")));
            };
            for (key, values) in keys {
                if !key.contains(':') {
                    return Err(malformed(
                        "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.",
                    ));
                }
                conditions.push(Condition {
                    operator,
                    negated,
                    if_exists,
                    qualifier,
                    key: key.clone(),
                    values: condition_values(values)?,
                });
            }
        }
        Ok(conditions)
    }

    /// Whether the condition holds for a request with `context`.
    pub fn holds(&self, context: &ContextKeys, version: PolicyVersion) -> bool {
        let request = context.get(&self.key).filter(|values| !values.is_empty());
        if self.operator == Operator::Null {
            let absent = request.is_none();
            return self.values.iter().any(|v| v.eq_ignore_ascii_case("true") == absent);
        }
        let Some(request) = request else {
            return self.if_exists || self.negated || self.qualifier == Some(SetQualifier::ForAllValues);
        };
        let expanded: Vec<std::borrow::Cow<'_, str>> = self
            .values
            .iter()
            .filter_map(|value| {
                if version == PolicyVersion::V2012 && value.contains("${") {
                    expand_variables(value, context).map(std::borrow::Cow::Owned)
                } else {
                    Some(std::borrow::Cow::Borrowed(value.as_str()))
                }
            })
            .collect();
        let matches_any_policy_value = |value: &String| expanded.iter().any(|p| self.operator.matches(value, p));
        // For a negated operator, a request value "passes" when it matches no policy value.
        let passes = |value: &String| matches_any_policy_value(value) != self.negated;
        match (self.qualifier, self.negated) {
            (Some(SetQualifier::ForAllValues), _) => request.iter().all(passes),
            (Some(SetQualifier::ForAnyValue), _) => request.iter().any(passes),
            (None, false) => request.iter().any(matches_any_policy_value),
            (None, true) => !request.iter().any(matches_any_policy_value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(block: &str, context: &ContextKeys) -> bool {
        let conditions = Condition::parse_block(&serde_json::from_str(block).unwrap()).unwrap();
        conditions.iter().all(|c| c.holds(context, PolicyVersion::V2012))
    }

    fn context() -> ContextKeys {
        let mut context = ContextKeys::new();
        context.set("aws:username", "alice");
        context.set("aws:SourceIp", "10.1.2.3");
        context.set("aws:CurrentTime", "2026-11-28T09:00:00Z");
        context.set("aws:SecureTransport", "true");
        context.set("aws:PrincipalArn", "arn:aws:iam::123456789012:user/dev/alice");
        context.set_all("aws:TagKeys", vec!["team".into(), "env".into()]);
        context.set("sts:ExternalId", "xyz");
        context.set("aws:EpochTime", "1790000000");
        context
    }

    #[test]
    fn string_operators() {
        let c = context();
        assert!(holds(r#"{"StringEquals":{"aws:username":["bob","alice"]}}"#, &c));
        assert!(!holds(r#"{"StringEquals":{"aws:username":"Alice"}}"#, &c));
        assert!(holds(r#"{"StringEqualsIgnoreCase":{"AWS:USERNAME":"Alice"}}"#, &c));
        assert!(holds(r#"{"StringNotEquals":{"aws:username":"bob"}}"#, &c));
        assert!(holds(r#"{"StringLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/dev/*"}}"#, &c));
        assert!(!holds(r#"{"StringNotLike":{"aws:PrincipalArn":"*alice"}}"#, &c));
        assert!(holds(
            r#"{"StringEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/dev/${aws:username}"}}"#,
            &c
        ));
    }

    #[test]
    fn missing_keys_follow_iam_rules() {
        let c = context();
        assert!(!holds(r#"{"StringEquals":{"aws:RequestedRegion":"us-east-1"}}"#, &c));
        assert!(holds(r#"{"StringEqualsIfExists":{"aws:RequestedRegion":"us-east-1"}}"#, &c));
        assert!(holds(r#"{"StringNotEquals":{"aws:RequestedRegion":"us-east-1"}}"#, &c));
        assert!(holds(r#"{"Null":{"aws:MultiFactorAuthPresent":"true"}}"#, &c));
        assert!(!holds(r#"{"Null":{"aws:username":"true"}}"#, &c));
        assert!(holds(r#"{"Null":{"aws:username":"false"}}"#, &c));
        assert!(holds(r#"{"ForAllValues:StringEquals":{"aws:RequestTag/x":"y"}}"#, &c));
        assert!(!holds(r#"{"ForAnyValue:StringEquals":{"aws:RequestTag/x":"y"}}"#, &c));
        assert!(!holds(r#"{"Bool":{"aws:MultiFactorAuthPresent":"true"}}"#, &c));
    }

    #[test]
    fn set_operators() {
        let c = context();
        assert!(holds(r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env","cost"]}}"#, &c));
        assert!(!holds(r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["team"]}}"#, &c));
        assert!(holds(r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["env"]}}"#, &c));
        assert!(holds(r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":["env"]}}"#, &c));
        assert!(!holds(r#"{"ForAllValues:StringNotEquals":{"aws:TagKeys":["env"]}}"#, &c));
    }

    #[test]
    fn typed_operators() {
        let c = context();
        assert!(holds(r#"{"IpAddress":{"aws:SourceIp":["192.168.0.0/16","10.0.0.0/8"]}}"#, &c));
        assert!(!holds(r#"{"IpAddress":{"aws:SourceIp":"10.1.2.4"}}"#, &c));
        assert!(holds(r#"{"NotIpAddress":{"aws:SourceIp":"127.0.0.0/8"}}"#, &c));
        assert!(holds(r#"{"DateLessThan":{"aws:CurrentTime":"2027-01-01T00:00:00Z"}}"#, &c));
        assert!(!holds(r#"{"DateGreaterThan":{"aws:CurrentTime":"2027-01-01"}}"#, &c));
        assert!(holds(r#"{"NumericGreaterThan":{"aws:EpochTime":1700000000}}"#, &c));
        assert!(holds(r#"{"Bool":{"aws:SecureTransport":true}}"#, &c));
        assert!(holds(r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/*"}}"#, &c));
        assert!(holds(r#"{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:user/bob"}}"#, &c));
        assert!(holds(r#"{"StringEquals":{"sts:ExternalId":"xyz"},"Bool":{"aws:SecureTransport":"true"}}"#, &c));
        assert!(!holds(r#"{"StringEquals":{"sts:ExternalId":"xyz"},"Bool":{"aws:SecureTransport":"false"}}"#, &c));
    }

    #[test]
    fn unknown_operators_are_malformed() {
        let err = Condition::parse_block(&serde_json::json!({"StringEqualz": {"aws:username": "x"}})).unwrap_err();
        assert_eq!(err.to_string(), "Invalid Condition type : StringEqualz.");
    }
}
