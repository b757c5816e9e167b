//! IAM's policy language: parsing a JSON policy document into statements, with the checks IAM
//! makes before it stores one (each failure a `MalformedPolicyDocument` naming what is wrong),
//! and matching a statement against a request.
//!
//! Documents are parsed once, when they are stored or loaded; evaluation only walks the parsed
//! form (`eval.rs`).

use aws_arn::Arn;
use serde_json::Value;

use crate::condition::{Condition, ContextKeys};
use crate::error::{IamError, Result};

/// The two versions of the policy language. Only 2012-10-17 expands policy variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyVersion {
    V2008,
    V2012,
}

/// What a policy is attached to decides which elements it must and must not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to a user, group or role (or passed as a session policy): no `Principal`,
    /// `Resource` required.
    Identity,
    /// A role's trust policy: `Principal` required, no `Resource`.
    Trust,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// A glob over actions or resources: `*` matches any run of characters, `?` any one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    has_variables: bool,
}

impl Pattern {
    fn new(text: String) -> Self {
        let has_variables = text.contains("${");
        Pattern { text, has_variables }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// `Action`/`NotAction` (and the same shape for `Resource`/`NotResource`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matcher {
    In(Vec<Pattern>),
    NotIn(Vec<Pattern>),
}

/// Who a trust-policy statement names, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Principals {
    /// `"Principal": "*"` or `{"AWS": "*"}`.
    pub anyone: bool,
    /// Account ids, account root ARNs, user, role and assumed-role session ARNs.
    pub aws: Vec<String>,
    /// Service principals (`eks.amazonaws.com`).
    pub service: Vec<String>,
    /// Federated principals (identity providers).
    pub federated: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrincipalMatcher {
    Principal(Principals),
    NotPrincipal(Principals),
}

/// One statement, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Option<PrincipalMatcher>,
    pub action: Matcher,
    pub resource: Option<Matcher>,
    pub conditions: Vec<Condition>,
}

/// A parsed policy document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyDocument {
    pub version: PolicyVersion,
    pub statements: Vec<Statement>,
}

/// The caller as a trust policy's `Principal` sees it.
#[derive(Clone, Copy, Debug)]
pub struct PrincipalRef<'a> {
    /// The caller's own ARN: a user ARN, an assumed-role session ARN, or the account root ARN.
    pub arn: &'a str,
    pub account: &'a str,
    /// For an assumed-role session: the role's ARN (with its path).
    pub role_arn: Option<&'a str>,
}

/// How a trust-policy statement matched the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalMatch {
    /// Not at all.
    No,
    /// Through the account (its id or root ARN) or `*`: IAM policies of the caller's account
    /// must also allow.
    Account,
    /// By the caller's own ARN (or its role's): enough on its own within an account.
    Direct,
}

fn malformed(message: impl Into<String>) -> IamError {
    IamError::MalformedPolicyDocument(message.into())
}

fn string_or_list(value: &Value, element: &str) -> Result<Vec<String>> {
    match value {
        Value::String(text) => Ok(vec![text.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok(text.clone()),
                _ => {
                    Err(malformed(format!("Syntax errors in policy: {element} must be a string or a list of strings.")))
                }
            })
            .collect(),
        Value::Array(_) => Err(malformed(format!("Syntax errors in policy: {element} must not be an empty list."))),
        _ => Err(malformed(format!("Syntax errors in policy: {element} must be a string or a list of strings."))),
    }
}

fn parse_actions(values: Vec<String>) -> Result<Vec<Pattern>> {
    values
        .into_iter()
        .map(|action| {
            if action != "*" && !action.contains(':') {
                return Err(malformed("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."));
            }
            if action.contains(' ') {
                return Err(malformed(format!("Action {action} must not contain spaces.")));
            }
            Ok(Pattern::new(action.to_ascii_lowercase()))
        })
        .collect()
}

fn parse_resources(values: Vec<String>) -> Result<Vec<Pattern>> {
    values
        .into_iter()
        .map(|resource| {
            if resource != "*" && Arn::parse(&resource).is_err() {
                return Err(malformed(format!("Resource {resource} must be in ARN format or \"*\".")));
            }
            Ok(Pattern::new(resource))
        })
        .collect()
}

fn parse_principals(value: &Value) -> Result<Principals> {
    let invalid = |what: &Value| malformed(format!("Invalid principal in policy: {what}"));
    let mut principals = Principals::default();
    match value {
        Value::String(star) if star == "*" => principals.anyone = true,
        Value::Object(map) if !map.is_empty() => {
            for (kind, values) in map {
                let values = string_or_list(values, "Principal")?;
                match kind.as_str() {
                    "AWS" => {
                        for principal in values {
                            if principal == "*" {
                                principals.anyone = true;
                            } else if is_account_id(&principal) || valid_principal_arn(&principal) {
                                principals.aws.push(principal);
                            } else {
                                return Err(malformed(format!("Invalid principal in policy: \"AWS\":\"{principal}\"")));
                            }
                        }
                    }
                    "Service" => principals.service.extend(values),
                    "Federated" => principals.federated.extend(values),
                    "CanonicalUser" => {}
                    _ => return Err(invalid(value)),
                }
            }
        }
        _ => return Err(invalid(value)),
    }
    Ok(principals)
}

/// Whether `text` is a 12-digit account id.
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

fn valid_principal_arn(text: &str) -> bool {
    let Ok(arn) = Arn::parse(text) else { return false };
    if text.contains('*') || text.contains('?') || !is_account_id(arn.account_id) {
        return false;
    }
    match arn.service {
        "iam" => arn.resource == "root" || ["user/", "role/"].iter().any(|prefix| arn.resource.starts_with(prefix)),
        "sts" => arn.resource.starts_with("assumed-role/") || arn.resource.starts_with("federated-user/"),
        _ => false,
    }
}

fn parse_statement(value: &Value, kind: PolicyKind) -> Result<Statement> {
    let Value::Object(map) = value else {
        return Err(malformed("Syntax errors in policy: each statement must be an object."));
    };
    for key in map.keys() {
        if ![
            "Sid",
            "Effect",
            "Principal",
            "NotPrincipal",
            "Action",
            "NotAction",
            "Resource",
            "NotResource",
            "Condition",
        ]
        .contains(&key.as_str())
        {
            return Err(malformed(format!("Syntax errors in policy: unknown field {key}.")));
        }
    }
    let sid = match map.get("Sid") {
        None => None,
        Some(Value::String(sid)) => Some(sid.clone()),
        Some(_) => return Err(malformed("Syntax errors in policy: Sid must be a string.")),
    };
    let effect = match map.get("Effect") {
        Some(Value::String(effect)) if effect == "Allow" => Effect::Allow,
        Some(Value::String(effect)) if effect == "Deny" => Effect::Deny,
        Some(other) => {
            return Err(malformed(format!("Invalid effect: {}", other.as_str().unwrap_or(&other.to_string()))));
        }
        None => return Err(malformed("Missing required field Effect")),
    };
    let action = match (map.get("Action"), map.get("NotAction")) {
        (Some(action), None) => Matcher::In(parse_actions(string_or_list(action, "Action")?)?),
        (None, Some(action)) => Matcher::NotIn(parse_actions(string_or_list(action, "NotAction")?)?),
        (Some(_), Some(_)) => return Err(malformed("Statement cannot have both Action and NotAction.")),
        (None, None) => return Err(malformed("Policy statement must contain actions.")),
    };
    let principal = match (map.get("Principal"), map.get("NotPrincipal")) {
        (Some(principal), None) => Some(PrincipalMatcher::Principal(parse_principals(principal)?)),
        (None, Some(principal)) => Some(PrincipalMatcher::NotPrincipal(parse_principals(principal)?)),
        (Some(_), Some(_)) => return Err(malformed("Statement cannot have both Principal and NotPrincipal.")),
        (None, None) => None,
    };
    let resource = match (map.get("Resource"), map.get("NotResource")) {
        (Some(resource), None) => Some(Matcher::In(parse_resources(string_or_list(resource, "Resource")?)?)),
        (None, Some(resource)) => Some(Matcher::NotIn(parse_resources(string_or_list(resource, "NotResource")?)?)),
        (Some(_), Some(_)) => return Err(malformed("Statement cannot have both Resource and NotResource.")),
        (None, None) => None,
    };
    match kind {
        PolicyKind::Identity => {
            if principal.is_some() {
                return Err(malformed("Policy document should not specify a principal."));
            }
            if resource.is_none() {
                return Err(malformed("Policy statement must contain resources."));
            }
        }
        PolicyKind::Trust => {
            if principal.is_none() {
                return Err(malformed("AssumeRolepolicy contained an invalid principal."));
            }
            if map.contains_key("Resource") {
                return Err(malformed("Has prohibited field Resource"));
            }
        }
    }
    let conditions = match map.get("Condition") {
        None => vec![],
        Some(block) => Condition::parse_block(block)?,
    };
    Ok(Statement { sid, effect, principal, action, resource, conditions })
}

impl PolicyDocument {
    /// Parses and validates `text` as a policy of `kind`.
    pub fn parse(text: &str, kind: PolicyKind) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|_| malformed("Syntax errors in policy."))?;
        let Value::Object(map) = &value else {
            return Err(malformed("Syntax errors in policy."));
        };
        for key in map.keys() {
            if !["Version", "Id", "Statement"].contains(&key.as_str()) {
                return Err(malformed(format!("Syntax errors in policy: unknown field {key}.")));
            }
        }
        let version = match map.get("Version") {
            Some(Value::String(version)) if version == "2012-10-17" => PolicyVersion::V2012,
            Some(Value::String(version)) if version == "2008-10-17" => PolicyVersion::V2008,
            None => PolicyVersion::V2008,
            Some(_) => return Err(malformed("The policy failed legacy parsing")),
        };
        let statements = match map.get("Statement") {
            Some(Value::Array(items)) => {
                items.iter().map(|item| parse_statement(item, kind)).collect::<Result<Vec<_>>>()?
            }
            Some(item @ Value::Object(_)) => vec![parse_statement(item, kind)?],
            Some(_) => return Err(malformed("Syntax errors in policy.")),
            None => return Err(malformed("Missing required field Statement")),
        };
        Ok(PolicyDocument { version, statements })
    }
}

/// Matches `text` against a glob with `*` and `?`, optionally ignoring ASCII case.
pub fn glob_match(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let eq = |a: u8, b: u8| if ignore_case { a.eq_ignore_ascii_case(&b) } else { a == b };
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            pi += 1;
            backtrack = Some((pi, ti));
        } else if pi < p.len() && (p[pi] == b'?' || eq(p[pi], t[ti])) {
            pi += 1;
            ti += 1;
        } else if let Some((star_p, star_t)) = backtrack {
            pi = star_p;
            ti = star_t + 1;
            backtrack = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

/// Matches a resource ARN against a policy's resource pattern, segment by segment (a wildcard
/// never spans the colons between an ARN's first five parts).
fn resource_match(pattern: &str, resource: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    let mut pattern_parts = pattern.splitn(6, ':');
    let mut resource_parts = resource.splitn(6, ':');
    loop {
        match (pattern_parts.next(), resource_parts.next()) {
            (Some(p), Some(r)) => {
                if !glob_match(p, r, false) {
                    return false;
                }
            }
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Expands `${key}` policy variables from the request context. `None` when a variable's key
/// is absent (the pattern then matches nothing).
pub fn expand_variables(pattern: &str, context: &ContextKeys) -> Option<String> {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}')?;
        let name = after[..end].trim();
        match name {
            "*" => out.push('*'),
            "?" => out.push('?'),
            "$" => out.push('$'),
            _ => out.push_str(context.single(name)?),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

impl Statement {
    fn action_matches(&self, action: &str) -> bool {
        let any = |patterns: &[Pattern]| patterns.iter().any(|p| glob_match(&p.text, action, true));
        match &self.action {
            Matcher::In(patterns) => any(patterns),
            Matcher::NotIn(patterns) => !any(patterns),
        }
    }

    fn resource_matches(&self, resource: &str, version: PolicyVersion, context: &ContextKeys) -> bool {
        let any = |patterns: &[Pattern]| {
            patterns.iter().any(|p| {
                if p.has_variables && version == PolicyVersion::V2012 {
                    expand_variables(&p.text, context).is_some_and(|expanded| resource_match(&expanded, resource))
                } else {
                    resource_match(&p.text, resource)
                }
            })
        };
        match &self.resource {
            None => true,
            Some(Matcher::In(patterns)) => any(patterns),
            Some(Matcher::NotIn(patterns)) => !any(patterns),
        }
    }

    /// How the statement's `Principal`/`NotPrincipal` matches `caller`.
    pub fn principal_match(&self, caller: &PrincipalRef<'_>) -> PrincipalMatch {
        match &self.principal {
            None => PrincipalMatch::Direct,
            Some(PrincipalMatcher::Principal(principals)) => principals.matches(caller),
            Some(PrincipalMatcher::NotPrincipal(principals)) => match principals.matches(caller) {
                PrincipalMatch::No => PrincipalMatch::Account,
                _ => PrincipalMatch::No,
            },
        }
    }

    /// Whether the statement applies to `action` on `resource` in `context` (principal aside).
    pub fn applies(&self, action: &str, resource: &str, version: PolicyVersion, context: &ContextKeys) -> bool {
        self.action_matches(action)
            && self.resource_matches(resource, version, context)
            && self.conditions.iter().all(|condition| condition.holds(context, version))
    }
}

impl Principals {
    fn matches(&self, caller: &PrincipalRef<'_>) -> PrincipalMatch {
        if self.aws.iter().any(|p| p == caller.arn || Some(p.as_str()) == caller.role_arn) {
            return PrincipalMatch::Direct;
        }
        let root = crate::arn::root_arn(caller.account);
        if self.anyone || self.aws.iter().any(|p| p == caller.account || *p == root) {
            return PrincipalMatch::Account;
        }
        PrincipalMatch::No
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str, kind: PolicyKind) -> String {
        PolicyDocument::parse(text, kind).unwrap_err().to_string()
    }

    #[test]
    fn globs_match_like_iam() {
        assert!(glob_match("iam:get*", "iam:getuser", false));
        assert!(glob_match("iam:*user", "iam:getuser", false));
        assert!(glob_match("iam:?etUser", "iam:GetUser", false));
        assert!(glob_match("IAM:GET*", "iam:getuser", true));
        assert!(!glob_match("iam:Get*", "iam:ListUsers", false));
        assert!(glob_match("*", "", false));
        assert!(glob_match("a*b*c", "aXXbYYc", false));
        assert!(!glob_match("a*b*c", "aXXbYY", false));
    }

    #[test]
    fn resources_match_segment_by_segment() {
        assert!(resource_match("*", "arn:aws:iam::1:user/x"));
        assert!(resource_match("arn:aws:iam::*:user/*", "arn:aws:iam::123:user/dev/x"));
        assert!(!resource_match("arn:aws:iam::*", "arn:aws:iam::123:user/x"));
        assert!(resource_match("arn:aws:iam::123:role/*", "arn:aws:iam::123:role/a:b"));
        assert!(!resource_match("arn:aws:iam::123:role/*", "arn:aws:iam::124:role/a"));
    }

    #[test]
    fn malformed_documents_are_named() {
        let identity = PolicyKind::Identity;
        assert_eq!(error("{", identity), "Syntax errors in policy.");
        assert_eq!(
            error(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:*"}}"#, identity),
            "Policy statement must contain resources."
        );
        assert_eq!(
            error(r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Resource":"*"}}"#, identity),
            "Policy statement must contain actions."
        );
        assert_eq!(
            error(
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"getuser","Resource":"*"}}"#,
                identity
            ),
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
        );
        assert_eq!(
            error(
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"bucket"}}"#,
                identity
            ),
            "Resource bucket must be in ARN format or \"*\"."
        );
        assert_eq!(
            error(
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Permit","Action":"s3:*","Resource":"*"}}"#,
                identity
            ),
            "Invalid effect: Permit"
        );
        assert_eq!(
            error(
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}"#,
                identity
            ),
            "Policy document should not specify a principal."
        );
        assert_eq!(
            error(
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"sts:AssumeRole"}}"#,
                PolicyKind::Trust
            ),
            "Invalid principal in policy: \"AWS\":\"bob\""
        );
        assert_eq!(
            error(
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Resource":"*"}}"#,
                PolicyKind::Trust
            ),
            "Has prohibited field Resource"
        );
        assert_eq!(
            error(
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#,
                PolicyKind::Trust
            ),
            "AssumeRolepolicy contained an invalid principal."
        );
        assert_eq!(error(r#"{"Version":"2012-10-18","Statement":[]}"#, identity), "The policy failed legacy parsing");
    }

    #[test]
    fn trust_principals_match_directly_or_through_the_account() {
        let doc = PolicyDocument::parse(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111111111111:user/alice","222222222222","arn:aws:iam::333333333333:root","arn:aws:iam::111111111111:role/ops/Deployer"]},"Action":"sts:AssumeRole"}]}"#,
            PolicyKind::Trust,
        )
        .unwrap();
        let statement = &doc.statements[0];
        let matches = |arn, account, role_arn| statement.principal_match(&PrincipalRef { arn, account, role_arn });
        assert_eq!(matches("arn:aws:iam::111111111111:user/alice", "111111111111", None), PrincipalMatch::Direct);
        assert_eq!(matches("arn:aws:iam::111111111111:user/bob", "111111111111", None), PrincipalMatch::No);
        assert_eq!(matches("arn:aws:iam::222222222222:user/x", "222222222222", None), PrincipalMatch::Account);
        assert_eq!(matches("arn:aws:iam::333333333333:user/x", "333333333333", None), PrincipalMatch::Account);
        assert_eq!(
            matches(
                "arn:aws:sts::111111111111:assumed-role/Deployer/s",
                "111111111111",
                Some("arn:aws:iam::111111111111:role/ops/Deployer")
            ),
            PrincipalMatch::Direct
        );
    }
}
