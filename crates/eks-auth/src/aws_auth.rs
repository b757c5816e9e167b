//! The `kube-system/aws-auth` ConfigMap: parsed exactly as EKS parses it (leniently: a key that
//! fails to parse is dropped, an invalid entry is dropped, a mistyped field is ignored, the rest
//! kept, each with a warning naming the key and line), validated strictly for Rampart's admission
//! check (the same problems, refused), and looked up as aws-iam-authenticator's `EKSConfigMap`
//! backend looks it up.
//!
//! EKS converts each key's YAML to JSON and decodes it with Go's `encoding/json`, so field names
//! match case-insensitively (`roleARN`, `UserName`), unknown fields are ignored, and a value of
//! the wrong type leaves its field empty. Lookups are case-insensitive plain string comparisons
//! of the caller's canonical ARN: roles first, then users, then the `mapAccounts` fallback.
//! aws-iam-authenticator scans every entry per request; here roles and users are indexed by
//! lower-cased ARN (same answers, benchmarked against the scan in `benches/`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::error::{AwsAuthIssue, Error, IssueEffect, IssueKind};
use crate::yaml::{self, Node, Value};

/// The data key holding role mappings.
pub const MAP_ROLES: &str = "mapRoles";
/// The data key holding user mappings.
pub const MAP_USERS: &str = "mapUsers";
/// The data key holding accounts whose every principal is mapped to its ARN.
pub const MAP_ACCOUNTS: &str = "mapAccounts";

const PARTITIONS: &[&str] =
    &["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc"];

/// An IAM Identity Center permission set a role entry may name instead of a role ARN (the
/// `sso:` form; the role is `AWSReservedSSO_<permissionSetName>_<random>` in that account).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SsoRole {
    pub permission_set_name: String,
    #[serde(rename = "accountID")]
    pub account_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub partition: String,
}

impl SsoRole {
    /// The lower-cased prefix of the role ARNs this permission set provisions.
    pub fn arn_prefix(&self) -> String {
        let partition = if self.partition.is_empty() { "aws" } else { &self.partition };
        format!("arn:{partition}:iam::{}:role/awsreservedsso_{}_", self.account_id, self.permission_set_name)
            .to_ascii_lowercase()
    }
}

/// One `mapRoles` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RoleMapping {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rolearn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sso: Option<SsoRole>,
    pub username: String,
    pub groups: Vec<String>,
    /// Where the entry starts in `mapRoles`.
    #[serde(skip)]
    pub line: usize,
}

/// One `mapUsers` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UserMapping {
    pub userarn: String,
    pub username: String,
    pub groups: Vec<String>,
    /// Where the entry starts in `mapUsers`.
    #[serde(skip)]
    pub line: usize,
}

/// Which aws-auth entry mapped a caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwsAuthMatch<'a> {
    Role(&'a RoleMapping),
    User(&'a UserMapping),
}

impl<'a> AwsAuthMatch<'a> {
    /// The username template.
    pub fn username(&self) -> &'a str {
        match self {
            AwsAuthMatch::Role(role) => &role.username,
            AwsAuthMatch::User(user) => &user.username,
        }
    }

    /// The group templates.
    pub fn groups(&self) -> &'a [String] {
        match self {
            AwsAuthMatch::Role(role) => &role.groups,
            AwsAuthMatch::User(user) => &user.groups,
        }
    }

    /// `mapRoles line N` / `mapUsers line N`, for explanations.
    pub fn describe(&self) -> String {
        match self {
            AwsAuthMatch::Role(role) => format!("aws-auth {MAP_ROLES} line {}", role.line),
            AwsAuthMatch::User(user) => format!("aws-auth {MAP_USERS} line {}", user.line),
        }
    }
}

/// The aws-auth ConfigMap as EKS holds it after parsing.
#[derive(Clone, Debug, Default)]
pub struct AwsAuth {
    roles: Vec<RoleMapping>,
    /// Lower-cased `rolearn` → index in `roles`.
    role_index: HashMap<String, usize>,
    /// Indexes of `sso:` role entries (matched by ARN prefix).
    sso_roles: Vec<usize>,
    users: Vec<UserMapping>,
    /// Lower-cased `userarn` → index in `users`.
    user_index: HashMap<String, usize>,
    accounts: BTreeSet<String>,
    issues: Vec<AwsAuthIssue>,
}

impl AwsAuth {
    /// Parses the ConfigMap's `data` as EKS does: whatever parses is kept, every problem is
    /// reported in [`AwsAuth::issues`] (data-losing ones and advisories alike).
    pub fn parse(data: &BTreeMap<String, String>) -> Self {
        let mut aws_auth = AwsAuth::default();
        let mut issues = Vec::new();
        for key in data.keys() {
            let known = [MAP_ROLES, MAP_USERS, MAP_ACCOUNTS];
            if !known.contains(&key.as_str())
                && let Some(meant) = known.iter().find(|known| known.eq_ignore_ascii_case(key))
            {
                issues.push(AwsAuthIssue {
                    key: key.clone(),
                    line: None,
                    message: format!(
                        "data key {key:?} is ignored: EKS reads only {meant:?} (data keys are case-sensitive)"
                    ),
                    effect: IssueEffect::Advisory,
                    kind: IssueKind::UnknownDataKey,
                });
            }
        }
        if let Some(text) = data.get(MAP_ROLES) {
            for role in parse_roles(text, &mut issues) {
                aws_auth.add_role(role, &mut issues);
            }
        }
        if let Some(text) = data.get(MAP_USERS) {
            for user in parse_users(text, &mut issues) {
                aws_auth.add_user(user, &mut issues);
            }
        }
        if let Some(text) = data.get(MAP_ACCOUNTS) {
            aws_auth.accounts = parse_accounts(text, &mut issues);
        }
        aws_auth.issues = issues;
        aws_auth
    }

    /// Validates a ConfigMap's `data` for Rampart's admission check: any problem that makes EKS
    /// drop a key, an entry or a field refuses the write (naming key and line); advisories are
    /// returned as warnings for the client.
    pub fn validate(data: &BTreeMap<String, String>) -> Result<(AwsAuth, Vec<AwsAuthIssue>), Error> {
        let aws_auth = AwsAuth::parse(data);
        let (losing, advisory): (Vec<_>, Vec<_>) = aws_auth.issues.iter().cloned().partition(|i| i.effect.loses_data());
        if !losing.is_empty() {
            return Err(Error::AwsAuthRejected(losing));
        }
        Ok((aws_auth, advisory))
    }

    fn add_role(&mut self, role: RoleMapping, issues: &mut Vec<AwsAuthIssue>) {
        let key = match &role.sso {
            Some(sso) => format!("{}*", sso.arn_prefix()),
            None => role.rolearn.to_ascii_lowercase(),
        };
        advise_on_role_arn(&role, issues);
        match self.role_index.get(&key) {
            Some(&earlier) => {
                issues.push(AwsAuthIssue {
                    key: MAP_ROLES.into(),
                    line: Some(role.line),
                    message: format!(
                        "this entry maps the same role as the entry on line {}; EKS keeps only this later one",
                        self.roles[earlier].line
                    ),
                    effect: IssueEffect::Advisory,
                    kind: IssueKind::DuplicateEntry,
                });
                self.roles[earlier] = role;
            }
            None => {
                if role.sso.is_some() {
                    self.sso_roles.push(self.roles.len());
                }
                self.role_index.insert(key, self.roles.len());
                self.roles.push(role);
            }
        }
    }

    fn add_user(&mut self, user: UserMapping, issues: &mut Vec<AwsAuthIssue>) {
        let key = user.userarn.to_ascii_lowercase();
        match self.user_index.get(&key) {
            Some(&earlier) => {
                let message = if self.users[earlier].userarn == user.userarn {
                    format!(
                        "this entry maps the same user as the entry on line {}; EKS keeps only this later one",
                        self.users[earlier].line
                    )
                } else {
                    format!(
                        "this entry's userarn differs only in case from the entry on line {}: both match the same \
                         caller and EKS picks either; Rampart uses this later one",
                        self.users[earlier].line
                    )
                };
                issues.push(AwsAuthIssue {
                    key: MAP_USERS.into(),
                    line: Some(user.line),
                    message,
                    effect: IssueEffect::Advisory,
                    kind: IssueKind::DuplicateEntry,
                });
                self.users[earlier] = user;
            }
            None => {
                self.user_index.insert(key, self.users.len());
                self.users.push(user);
            }
        }
    }

    /// The entry that maps a caller's canonical ARN: a role entry (by ARN, then by SSO
    /// permission set), else a user entry, compared case-insensitively.
    pub fn lookup(&self, canonical_arn: &str) -> Option<AwsAuthMatch<'_>> {
        let lower = canonical_arn.to_ascii_lowercase();
        if let Some(&i) = self.role_index.get(&lower) {
            return Some(AwsAuthMatch::Role(&self.roles[i]));
        }
        for &i in &self.sso_roles {
            let role = &self.roles[i];
            if let Some(sso) = &role.sso
                && lower.starts_with(&sso.arn_prefix())
            {
                return Some(AwsAuthMatch::Role(role));
            }
        }
        self.user_index.get(&lower).map(|&i| AwsAuthMatch::User(&self.users[i]))
    }

    /// Whether `mapAccounts` lists the account.
    pub fn allows_account(&self, account_id: &str) -> bool {
        self.accounts.contains(account_id)
    }

    /// The role entries kept.
    pub fn roles(&self) -> &[RoleMapping] {
        &self.roles
    }

    /// The user entries kept.
    pub fn users(&self) -> &[UserMapping] {
        &self.users
    }

    /// The accounts of `mapAccounts`.
    pub fn accounts(&self) -> impl Iterator<Item = &str> {
        self.accounts.iter().map(String::as_str)
    }

    /// Every problem found while parsing, in the order found.
    pub fn issues(&self) -> &[AwsAuthIssue] {
        &self.issues
    }
}

/// `""`, `''`, `` `` `` or blank: EKS treats the key as empty.
fn is_skippable(text: &str) -> bool {
    matches!(text.trim(), "" | "``" | "\"\"" | "''")
}

/// Parses a key's text into its list items, or reports why EKS drops the whole key.
fn list_items(key: &str, text: &str, what: &str, issues: &mut Vec<AwsAuthIssue>) -> Vec<Node> {
    if is_skippable(text) {
        return Vec::new();
    }
    let drop_key = |line: Option<usize>, message: String, kind| AwsAuthIssue {
        key: key.to_string(),
        line,
        message,
        effect: IssueEffect::KeyDropped,
        kind,
    };
    match yaml::parse(text) {
        Err(error) => {
            issues.push(drop_key(error.line, format!("invalid YAML: {}", error.message), IssueKind::InvalidYaml));
            Vec::new()
        }
        Ok(Node { value: Value::Seq(items), .. }) => items,
        Ok(Node { value: Value::Null, .. }) => Vec::new(),
        Ok(node) => {
            issues.push(drop_key(
                Some(node.line),
                format!("must be a YAML list of {what}, not a {}", yaml_kind(&node.value)),
                IssueKind::NotAList,
            ));
            Vec::new()
        }
    }
}

fn yaml_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number => "number",
        Value::String(_) => "string",
        Value::Seq(_) => "list",
        Value::Map(_) => "mapping",
    }
}

/// An entry's fields as Go's `encoding/json` assigns them: JSON object keys are sorted (the
/// YAML-to-JSON conversion goes through a Go map), exact duplicates keep the last value, and
/// each key sets the field it matches case-insensitively, later keys overwriting earlier ones.
fn fields<'a>(entries: &'a [(String, Node)], known: &[&'static str]) -> Vec<(&'static str, &'a Node)> {
    let by_key: BTreeMap<&str, &Node> = entries.iter().map(|(key, node)| (key.as_str(), node)).collect();
    let mut assigned: Vec<(&'static str, &Node)> = Vec::new();
    for (key, node) in by_key {
        if let Some(field) = known.iter().find(|field| field.eq_ignore_ascii_case(key)) {
            assigned.retain(|(f, _)| f != field);
            assigned.push((field, node));
        }
    }
    assigned
}

/// The names of the unknown keys of an entry, for advisories.
fn unknown_keys<'a>(entries: &'a [(String, Node)], known: &[&str]) -> BTreeSet<&'a str> {
    entries
        .iter()
        .map(|(key, _)| key.as_str())
        .filter(|key| !known.iter().any(|field| field.eq_ignore_ascii_case(key)))
        .collect()
}

/// Reads a string field; a value of another type leaves it empty, as Go does.
fn string_field(key: &str, name: &str, node: &Node, issues: &mut Vec<AwsAuthIssue>) -> Option<String> {
    match &node.value {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => {
            issues.push(AwsAuthIssue {
                key: key.to_string(),
                line: Some(node.line),
                message: format!("{name} must be a string, not a {}", yaml_kind(other)),
                effect: IssueEffect::FieldDropped,
                kind: IssueKind::WrongType,
            });
            None
        }
    }
}

/// Reads `groups`: a list of strings. A scalar leaves the field empty; a non-string item
/// becomes an empty group, as Go does.
fn groups_field(key: &str, node: &Node, issues: &mut Vec<AwsAuthIssue>) -> Vec<String> {
    match &node.value {
        Value::Seq(items) => items
            .iter()
            .map(|item| match &item.value {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => {
                    issues.push(AwsAuthIssue {
                        key: key.to_string(),
                        line: Some(item.line),
                        message: format!("each group must be a string, not a {}", yaml_kind(other)),
                        effect: IssueEffect::FieldDropped,
                        kind: IssueKind::WrongType,
                    });
                    String::new()
                }
            })
            .collect(),
        Value::Null => Vec::new(),
        other => {
            let hint = match other {
                Value::String(s) => format!(" (write `groups: [{s}]` or a `- {s}` item)"),
                _ => String::new(),
            };
            issues.push(AwsAuthIssue {
                key: key.to_string(),
                line: Some(node.line),
                message: format!("groups must be a list of strings, not a {}{hint}", yaml_kind(other)),
                effect: IssueEffect::FieldDropped,
                kind: IssueKind::WrongType,
            });
            Vec::new()
        }
    }
}

fn drop_entry(key: &str, line: usize, kind: IssueKind, message: impl Into<String>) -> AwsAuthIssue {
    AwsAuthIssue {
        key: key.to_string(),
        line: Some(line),
        message: message.into(),
        effect: IssueEffect::EntryDropped,
        kind,
    }
}

fn advise(key: &str, line: usize, kind: IssueKind, message: impl Into<String>) -> AwsAuthIssue {
    AwsAuthIssue {
        key: key.to_string(),
        line: Some(line),
        message: message.into(),
        effect: IssueEffect::Advisory,
        kind,
    }
}

const ROLE_FIELDS: &[&str] = &["rolearn", "username", "groups", "sso", "userid"];
const USER_FIELDS: &[&str] = &["userarn", "username", "groups", "userid"];
const SSO_FIELDS: &[&str] = &["permissionSetName", "accountID", "partition"];

fn parse_roles(text: &str, issues: &mut Vec<AwsAuthIssue>) -> Vec<RoleMapping> {
    let mut roles = Vec::new();
    for item in list_items(MAP_ROLES, text, "role mappings", issues) {
        let Value::Map(entries) = &item.value else {
            let message =
                format!("entry must be a mapping with rolearn, username and groups, not a {}", yaml_kind(&item.value));
            issues.push(drop_entry(MAP_ROLES, item.line, IssueKind::InvalidEntry, message));
            continue;
        };
        let mut role = RoleMapping { line: item.line, ..RoleMapping::default() };
        let assigned = fields(entries, ROLE_FIELDS);
        for (field, node) in assigned {
            match field {
                "rolearn" => role.rolearn = string_field(MAP_ROLES, "rolearn", node, issues).unwrap_or_default(),
                "username" => role.username = string_field(MAP_ROLES, "username", node, issues).unwrap_or_default(),
                "groups" => role.groups = groups_field(MAP_ROLES, node, issues),
                "sso" => role.sso = sso_field(node, issues),
                _ => {}
            }
        }
        for unknown in unknown_keys(entries, ROLE_FIELDS) {
            issues.push(advise(
                MAP_ROLES,
                item.line,
                IssueKind::UnknownField,
                format!("unknown field {unknown:?} is ignored (fields: rolearn, username, groups, sso)"),
            ));
        }
        match validate_role(&role) {
            Ok(()) => {
                if role.username.is_empty() {
                    issues.push(advise(
                        MAP_ROLES,
                        item.line,
                        IssueKind::EmptyUsername,
                        "username is empty: callers mapped here authenticate with an empty user name",
                    ));
                }
                roles.push(role);
            }
            Err(message) => issues.push(drop_entry(MAP_ROLES, item.line, IssueKind::InvalidEntry, message)),
        }
    }
    roles
}

fn sso_field(node: &Node, issues: &mut Vec<AwsAuthIssue>) -> Option<SsoRole> {
    match &node.value {
        Value::Map(entries) => {
            let mut sso = SsoRole::default();
            let assigned = fields(entries, SSO_FIELDS);
            for (field, node) in assigned {
                let value = string_field(MAP_ROLES, &format!("sso.{field}"), node, issues).unwrap_or_default();
                match field {
                    "permissionSetName" => sso.permission_set_name = value,
                    "accountID" => sso.account_id = value,
                    _ => sso.partition = value,
                }
            }
            Some(sso)
        }
        Value::Null => None,
        other => {
            issues.push(AwsAuthIssue {
                key: MAP_ROLES.into(),
                line: Some(node.line),
                message: format!(
                    "sso must be a mapping with permissionSetName and accountID, not a {}",
                    yaml_kind(other)
                ),
                effect: IssueEffect::FieldDropped,
                kind: IssueKind::WrongType,
            });
            None
        }
    }
}

/// aws-iam-authenticator's `RoleMapping.Validate`, with its messages.
fn validate_role(role: &RoleMapping) -> Result<(), String> {
    match (&role.sso, role.rolearn.is_empty()) {
        (None, true) => return Err("one of rolearn or SSO must be supplied".into()),
        (Some(_), false) => return Err("only one of rolearn or SSO can be supplied".into()),
        _ => {}
    }
    if let Some(sso) = &role.sso {
        if !(sso.account_id.len() == 12 && sso.account_id.bytes().all(|b| b.is_ascii_digit())) {
            return Err(format!("AccountID '{}' is not a valid AWS Account ID", sso.account_id));
        }
        let name = &sso.permission_set_name;
        let valid_name = (1..=32).contains(&name.chars().count())
            && name.chars().all(|c| c.is_alphanumeric() || c == '_' || "+=,.@-".contains(c));
        if !valid_name {
            return Err(format!("PermissionSetName '{name}' is not a valid AWS SSO PermissionSet Name"));
        }
        if !sso.partition.is_empty() && !PARTITIONS.contains(&sso.partition.as_str()) {
            return Err(format!("partition '{}' is not a valid AWS partition", sso.partition));
        }
    }
    Ok(())
}

/// Advisories for role ARNs that parse but can never match a caller.
fn advise_on_role_arn(role: &RoleMapping, issues: &mut Vec<AwsAuthIssue>) {
    let Ok(arn) = aws_arn::Arn::parse(&role.rolearn) else { return };
    if arn.service == "sts" && arn.resource.starts_with("assumed-role/") {
        let role_name = arn.resource.split('/').nth(1).unwrap_or_default();
        issues.push(advise(
            MAP_ROLES,
            role.line,
            IssueKind::AssumedRoleArn,
            format!(
                "an assumed-role ARN never matches: callers are matched by their role's ARN, \
                 arn:{}:iam::{}:role/{role_name}",
                arn.partition, arn.account_id
            ),
        ));
    } else if arn.service == "iam"
        && let Some(path_and_name) = arn.resource.strip_prefix("role/")
        && let Some((_, name)) = path_and_name.rsplit_once('/')
    {
        issues.push(advise(
            MAP_ROLES,
            role.line,
            IssueKind::RoleArnPath,
            format!(
                "a role ARN with a path never matches (STS drops the path): write it as arn:{}:iam::{}:role/{name}",
                arn.partition, arn.account_id
            ),
        ));
    }
}

fn parse_users(text: &str, issues: &mut Vec<AwsAuthIssue>) -> Vec<UserMapping> {
    let mut users = Vec::new();
    for item in list_items(MAP_USERS, text, "user mappings", issues) {
        let Value::Map(entries) = &item.value else {
            let message =
                format!("entry must be a mapping with userarn, username and groups, not a {}", yaml_kind(&item.value));
            issues.push(drop_entry(MAP_USERS, item.line, IssueKind::InvalidEntry, message));
            continue;
        };
        let mut user = UserMapping { line: item.line, ..UserMapping::default() };
        let assigned = fields(entries, USER_FIELDS);
        for (field, node) in assigned {
            match field {
                "userarn" => user.userarn = string_field(MAP_USERS, "userarn", node, issues).unwrap_or_default(),
                "username" => user.username = string_field(MAP_USERS, "username", node, issues).unwrap_or_default(),
                "groups" => user.groups = groups_field(MAP_USERS, node, issues),
                _ => {}
            }
        }
        for unknown in unknown_keys(entries, USER_FIELDS) {
            issues.push(advise(
                MAP_USERS,
                item.line,
                IssueKind::UnknownField,
                format!("unknown field {unknown:?} is ignored (fields: userarn, username, groups)"),
            ));
        }
        if user.userarn.is_empty() {
            issues.push(drop_entry(
                MAP_USERS,
                item.line,
                IssueKind::InvalidEntry,
                "value for userarn must be supplied",
            ));
            continue;
        }
        if user.username.is_empty() {
            issues.push(advise(
                MAP_USERS,
                item.line,
                IssueKind::EmptyUsername,
                "username is empty: callers mapped here authenticate with an empty user name",
            ));
        }
        users.push(user);
    }
    users
}

/// `mapAccounts`: decoded straight from YAML into a list of strings, so an unquoted account ID
/// keeps its text (leading zeros included).
fn parse_accounts(text: &str, issues: &mut Vec<AwsAuthIssue>) -> BTreeSet<String> {
    let mut accounts = BTreeSet::new();
    for item in list_items(MAP_ACCOUNTS, text, "account IDs", issues) {
        let account = match &item.value {
            Value::String(s) => s.clone(),
            Value::Number | Value::Bool(_) => item.raw.clone().unwrap_or_default(),
            Value::Null => String::new(),
            other => {
                issues.push(drop_entry(
                    MAP_ACCOUNTS,
                    item.line,
                    IssueKind::WrongType,
                    format!("account ID must be a string, not a {}", yaml_kind(other)),
                ));
                continue;
            }
        };
        if !(account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())) {
            issues.push(advise(
                MAP_ACCOUNTS,
                item.line,
                IssueKind::InvalidAccountId,
                format!("{account:?} is not a 12-digit AWS account ID; it never matches"),
            ));
        }
        accounts.insert(account);
    }
    accounts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn lookups_are_case_insensitive_roles_first() {
        let aws_auth = AwsAuth::parse(&data(&[
            (MAP_ROLES, "- rolearn: arn:aws:iam::111122223333:role/CrossAccountMFA\n  username: role\n  groups: [a]\n"),
            (MAP_USERS, "- userarn: arn:aws:iam::111122223333:role/crossaccountmfa\n  username: user\n"),
        ]));
        assert!(aws_auth.issues().is_empty(), "{:?}", aws_auth.issues());
        let found = aws_auth.lookup("arn:aws:iam::111122223333:role/crossaccountMFA").unwrap();
        assert_eq!((found.username(), found.groups()), ("role", &["a".to_string()][..]));
        assert!(aws_auth.lookup("arn:aws:iam::111122223333:role/Other").is_none());
    }

    #[test]
    fn sso_entries_match_the_permission_sets_roles() {
        let aws_auth = AwsAuth::parse(&data(&[(
            MAP_ROLES,
            "- sso:\n    permissionSetName: Admin\n    accountID: \"111122223333\"\n  username: sso-admin\n",
        )]));
        assert!(aws_auth.issues().is_empty(), "{:?}", aws_auth.issues());
        let found = aws_auth.lookup("arn:aws:iam::111122223333:role/AWSReservedSSO_Admin_0123456789abcdef").unwrap();
        assert_eq!(found.username(), "sso-admin");
        assert!(aws_auth.lookup("arn:aws:iam::111122223333:role/AWSReservedSSO_Admins_0123").is_none());
    }

    #[test]
    fn validation_refuses_what_eks_would_drop_and_warns_on_the_rest() {
        let refused =
            AwsAuth::validate(&data(&[(MAP_ROLES, "- rolearn: arn:aws:iam::1:role/a\n  groups: system:masters\n")]));
        let Err(Error::AwsAuthRejected(issues)) = refused else { panic!("{refused:?}") };
        assert_eq!(issues[0].line, Some(2));
        assert_eq!(issues[0].effect, IssueEffect::FieldDropped);

        let (_, warnings) = AwsAuth::validate(&data(&[(
            MAP_ROLES,
            "- rolearn: arn:aws:iam::111122223333:role/team/admin\n  username: a\n",
        )]))
        .unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].message.contains("arn:aws:iam::111122223333:role/admin"), "{}", warnings[0]);
    }
}
