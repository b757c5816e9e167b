//! Label and field selectors: parsed from their query-string forms (`labels.Parse`,
//! `fields.ParseSelector`), matched against an object's labels or fields, and built from a
//! `metav1.LabelSelector` (`matchLabels` / `matchExpressions`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::Error;

/// The operator of one label requirement.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LabelOp {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One requirement of a label selector, e.g. `tier in (web,api)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub op: LabelOp,
    /// Sorted and de-duplicated for set operators.
    pub values: Vec<String>,
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.op {
            LabelOp::Equals | LabelOp::DoubleEquals | LabelOp::In => {
                value.is_some_and(|v| self.values.iter().any(|w| w == v))
            }
            LabelOp::NotEquals | LabelOp::NotIn => value.is_none_or(|v| !self.values.iter().any(|w| w == v)),
            LabelOp::Exists => value.is_some(),
            LabelOp::DoesNotExist => value.is_none(),
            LabelOp::GreaterThan | LabelOp::LessThan => {
                let (Some(v), Some(bound)) = (value, self.values.first()) else { return false };
                let (Ok(v), Ok(bound)) = (v.parse::<i64>(), bound.parse::<i64>()) else { return false };
                if self.op == LabelOp::GreaterThan { v > bound } else { v < bound }
            }
        }
    }
}

impl std::fmt::Display for Requirement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let values = || self.values.join(",");
        match self.op {
            LabelOp::Exists => write!(f, "{}", self.key),
            LabelOp::DoesNotExist => write!(f, "!{}", self.key),
            LabelOp::Equals => write!(f, "{}={}", self.key, values()),
            LabelOp::DoubleEquals => write!(f, "{}=={}", self.key, values()),
            LabelOp::NotEquals => write!(f, "{}!={}", self.key, values()),
            LabelOp::In => write!(f, "{} in ({})", self.key, values()),
            LabelOp::NotIn => write!(f, "{} notin ({})", self.key, values()),
            LabelOp::GreaterThan => write!(f, "{}>{}", self.key, values()),
            LabelOp::LessThan => write!(f, "{}<{}", self.key, values()),
        }
    }
}

/// A label selector: every requirement must hold. The empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub requirements: Vec<Requirement>,
}

impl std::fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

impl LabelSelector {
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether the selector matches the `metadata.labels` of `object`.
    pub fn matches_object(&self, object: &Value) -> bool {
        if self.is_empty() {
            return true;
        }
        self.matches(&crate::meta::labels(object))
    }

    /// Parse the query-string form (`labelSelector=app=web,tier!=db`).
    pub fn parse(input: &str) -> Result<LabelSelector, Error> {
        let mut requirements = Vec::new();
        let mut lexer = Lexer { chars: input.chars().collect(), pos: 0 };
        lexer.skip_ws();
        if lexer.at_end() {
            return Ok(LabelSelector::default());
        }
        loop {
            requirements.push(lexer.requirement()?);
            lexer.skip_ws();
            if lexer.at_end() {
                break;
            }
            if !lexer.eat(',') {
                return Err(Error::InvalidLabelSelector(format!(
                    "found '{}', expected: ',' or 'end of string'",
                    lexer.rest_token()
                )));
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements })
    }

    /// A `metav1.LabelSelector` object (`matchLabels`, `matchExpressions`) as a selector
    /// (`metav1.LabelSelectorAsSelector`). `None` (no selector) matches nothing in Kubernetes'
    /// sense, and is returned as `Ok(None)`.
    pub fn from_object(selector: Option<&Value>) -> Result<Option<LabelSelector>, Error> {
        let Some(selector) = selector.filter(|s| !s.is_null()) else { return Ok(None) };
        let mut requirements = Vec::new();
        if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (key, value) in labels {
                let value = value.as_str().unwrap_or_default().to_string();
                requirements.push(Requirement { key: key.clone(), op: LabelOp::Equals, values: vec![value] });
            }
        }
        if let Some(exprs) = selector.get("matchExpressions").and_then(Value::as_array) {
            for expr in exprs {
                let key = expr.get("key").and_then(Value::as_str).unwrap_or_default().to_string();
                let mut values: Vec<String> = expr
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|v| v.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                values.sort();
                values.dedup();
                let op = match expr.get("operator").and_then(Value::as_str).unwrap_or_default() {
                    "In" => LabelOp::In,
                    "NotIn" => LabelOp::NotIn,
                    "Exists" => LabelOp::Exists,
                    "DoesNotExist" => LabelOp::DoesNotExist,
                    other => {
                        return Err(Error::InvalidLabelSelector(format!(
                            "{other:?} is not a valid label selector operator"
                        )));
                    }
                };
                requirements.push(Requirement { key, op, values });
            }
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(Some(LabelSelector { requirements }))
    }
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
}

impl Lexer {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn rest_token(&self) -> String {
        self.chars[self.pos..].iter().take_while(|c| !c.is_whitespace() && **c != ',').collect()
    }

    /// An identifier: anything up to whitespace or a special character.
    fn ident(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| !c.is_whitespace() && !"=!,()<>".contains(c)) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn requirement(&mut self) -> Result<Requirement, Error> {
        self.skip_ws();
        let negated = self.eat('!');
        self.skip_ws();
        let key = self.ident();
        if key.is_empty() {
            return Err(Error::InvalidLabelSelector(format!(
                "found '{}', expected: !, identifier, or 'end of string'",
                self.rest_token()
            )));
        }
        validate_label_key(&key)?;
        if negated {
            return Ok(Requirement { key, op: LabelOp::DoesNotExist, values: vec![] });
        }
        self.skip_ws();
        let op = if self.at_end() || self.peek() == Some(',') {
            return Ok(Requirement { key, op: LabelOp::Exists, values: vec![] });
        } else if self.eat('=') {
            if self.eat('=') { LabelOp::DoubleEquals } else { LabelOp::Equals }
        } else if self.eat('!') {
            if !self.eat('=') {
                return Err(Error::InvalidLabelSelector("found '!', expected: '='".into()));
            }
            LabelOp::NotEquals
        } else if self.eat('>') {
            LabelOp::GreaterThan
        } else if self.eat('<') {
            LabelOp::LessThan
        } else {
            let word = self.ident();
            match word.as_str() {
                "in" => LabelOp::In,
                "notin" => LabelOp::NotIn,
                _ => {
                    return Err(Error::InvalidLabelSelector(format!(
                        "found '{word}', expected: in, notin, =, ==, !=, gt, lt"
                    )));
                }
            }
        };
        self.skip_ws();
        let mut values = Vec::new();
        if matches!(op, LabelOp::In | LabelOp::NotIn) {
            if !self.eat('(') {
                return Err(Error::InvalidLabelSelector(format!("found '{}', expected: '('", self.rest_token())));
            }
            loop {
                self.skip_ws();
                let value = self.ident();
                validate_label_value(&value)?;
                values.push(value);
                self.skip_ws();
                if self.eat(')') {
                    break;
                }
                if !self.eat(',') {
                    return Err(Error::InvalidLabelSelector(format!(
                        "found '{}', expected: ',', or ')'",
                        self.rest_token()
                    )));
                }
            }
            values.sort();
            values.dedup();
        } else {
            let value = self.ident();
            if matches!(op, LabelOp::GreaterThan | LabelOp::LessThan) {
                if value.parse::<i64>().is_err() {
                    return Err(Error::InvalidLabelSelector(format!(
                        "for 'Gt', 'Lt' operators, the value must be an integer: {value:?}"
                    )));
                }
            } else {
                validate_label_value(&value)?;
            }
            values.push(value);
        }
        Ok(Requirement { key, op, values })
    }
}

fn validate_label_key(key: &str) -> Result<(), Error> {
    let errors = crate::validation::qualified_name(key);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidLabelSelector(format!("key: Invalid value: {key:?}: {}", errors.join("; "))))
    }
}

fn validate_label_value(value: &str) -> Result<(), Error> {
    let errors = crate::validation::label_value(value);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidLabelSelector(format!("values[0]: Invalid value: {value:?}: {}", errors.join("; "))))
    }
}

/// One term of a field selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldTerm {
    pub field: String,
    /// `true` for `!=`.
    pub negated: bool,
    pub value: String,
}

/// A field selector (`fieldSelector=metadata.name=x,status.phase!=Running`): every term holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub terms: Vec<FieldTerm>,
}

impl FieldSelector {
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Parse `fields.ParseSelector`'s syntax: terms split on unescaped `,`, each `f=v`, `f==v` or
    /// `f!=v`, with `\` escaping `,`, `=`, `!` and `\`.
    pub fn parse(input: &str) -> Result<FieldSelector, Error> {
        let mut terms = Vec::new();
        for part in split_unescaped(input, ',') {
            if part.is_empty() {
                continue;
            }
            let (field, negated, value) = split_term(&part).ok_or_else(|| {
                Error::InvalidFieldSelector(format!("invalid selector: '{input}'; can't understand '{part}'"))
            })?;
            terms.push(FieldTerm { field: unescape(field), negated, value: unescape(value) });
        }
        Ok(FieldSelector { terms })
    }

    /// The value the selector requires `field` to equal, if one term says exactly that.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms.iter().find(|t| t.field == field && !t.negated).map(|t| t.value.as_str())
    }

    /// Whether every term holds for `fields` (a missing field reads as "").
    pub fn matches(&self, fields: &dyn Fn(&str) -> Option<String>) -> bool {
        self.terms.iter().all(|t| {
            let actual = fields(&t.field).unwrap_or_default();
            (actual == t.value) != t.negated
        })
    }
}

fn split_unescaped(input: &str, separator: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut escaped = false;
    for c in input.chars() {
        if escaped {
            parts.last_mut().expect("one part").push('\\');
            parts.last_mut().expect("one part").push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == separator {
            parts.push(String::new());
        } else {
            parts.last_mut().expect("one part").push(c);
        }
    }
    if escaped {
        parts.last_mut().expect("one part").push('\\');
    }
    parts
}

/// Split `f!=v`, `f==v` or `f=v` at the first unescaped operator.
fn split_term(term: &str) -> Option<(&str, bool, &str)> {
    let bytes = term.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'!' if bytes.get(i + 1) == Some(&b'=') => return Some((&term[..i], true, &term[i + 2..])),
            b'=' if bytes.get(i + 1) == Some(&b'=') => return Some((&term[..i], false, &term[i + 2..])),
            b'=' => return Some((&term[..i], false, &term[i + 1..])),
            _ => i += 1,
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn label_selectors_parse_and_match() {
        let s = LabelSelector::parse("app=web, tier in (a,b),!legacy,env!=prod").unwrap();
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "b")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "c")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "a"), ("legacy", "")])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "a"), ("env", "prod")])));
        assert_eq!(s.to_string(), "app=web,env!=prod,!legacy,tier in (a,b)");
        let exists = LabelSelector::parse("app").unwrap();
        assert!(exists.matches(&labels(&[("app", "")])) && !exists.matches(&labels(&[])));
        let gt = LabelSelector::parse("n>3").unwrap();
        assert!(gt.matches(&labels(&[("n", "4")])) && !gt.matches(&labels(&[("n", "3")])));
        assert!(LabelSelector::parse("app=").unwrap().matches(&labels(&[("app", "")])));
        assert!(LabelSelector::parse("a b").is_err());
        assert!(LabelSelector::parse("app in a").is_err());
        assert!(LabelSelector::parse("").unwrap().is_empty());
    }

    #[test]
    fn label_selector_from_object() {
        let obj = json!({"matchLabels": {"app": "web2"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["b", "a"]}]});
        let s = LabelSelector::from_object(Some(&obj)).unwrap().unwrap();
        assert_eq!(s.to_string(), "app=web2,tier notin (a,b)");
        assert_eq!(LabelSelector::from_object(None).unwrap(), None);
    }

    #[test]
    fn field_selectors() {
        let s =
            FieldSelector::parse("involvedObject.name=nginx,involvedObject.namespace==default,type!=Warning").unwrap();
        assert_eq!(s.terms.len(), 3);
        assert_eq!(s.requires_exact_match("involvedObject.name"), Some("nginx"));
        let fields = |f: &str| match f {
            "involvedObject.name" => Some("nginx".to_string()),
            "involvedObject.namespace" => Some("default".to_string()),
            "type" => Some("Normal".to_string()),
            _ => None,
        };
        assert!(s.matches(&fields));
        let escaped = FieldSelector::parse(r"metadata.name=a\,b").unwrap();
        assert_eq!(escaped.terms[0].value, "a,b");
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}
