//! Identities declared in a configuration file — accounts, users, groups, roles, managed and
//! inline policies, access keys with fixed ids and secrets — and applying them idempotently:
//! what is missing is created, what differs is brought in line, what was created through the
//! API and is not declared is left alone. Applying the same declaration twice changes nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::Deserialize;
use serde_json::Value;

use crate::account::{AccessKeyStatus, Account, EntityKind, Tag, quota};
use crate::error::{IamError, Result};
use crate::ids;
use crate::managed;
use crate::policy::is_account_id;
use crate::state::IamState;

/// The `aws:` section of the configuration file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AwsSpec {
    #[serde(default)]
    pub accounts: Vec<AccountSpec>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AccountSpec {
    pub id: String,
    #[serde(default)]
    pub policies: Vec<PolicySpec>,
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    #[serde(default)]
    pub users: Vec<UserSpec>,
    #[serde(default)]
    pub roles: Vec<RoleSpec>,
}

/// A policy document: JSON text, or the document itself as a mapping.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum DocumentSpec {
    Text(String),
    Object(Value),
}

impl DocumentSpec {
    fn text(&self) -> String {
        match self {
            DocumentSpec::Text(text) => text.clone(),
            DocumentSpec::Object(value) => value.to_string(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicySpec {
    pub name: String,
    pub path: Option<String>,
    pub description: Option<String>,
    pub document: DocumentSpec,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GroupSpec {
    pub name: String,
    pub path: Option<String>,
    /// Managed policies to attach: ARNs, or names (AWS-managed first, then this account's).
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub inline_policies: BTreeMap<String, DocumentSpec>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AccessKeySpec {
    pub id: String,
    pub secret: String,
    #[serde(default)]
    pub status: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UserSpec {
    pub name: String,
    pub path: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub inline_policies: BTreeMap<String, DocumentSpec>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub access_keys: Vec<AccessKeySpec>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RoleSpec {
    pub name: String,
    pub path: Option<String>,
    pub assume_role_policy: DocumentSpec,
    pub description: Option<String>,
    pub max_session_duration: Option<i64>,
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub inline_policies: BTreeMap<String, DocumentSpec>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Prefixes an error with where in the declaration it happened.
fn at(place: String) -> impl FnOnce(IamError) -> IamError {
    move |err| IamError::InvalidInput(format!("{place}: {err}"))
}

fn tags(map: &BTreeMap<String, String>) -> Vec<Tag> {
    map.iter().map(|(key, value)| Tag { key: key.clone(), value: value.clone() }).collect()
}

/// A policy reference as declared → its ARN.
fn policy_arn(account: &Account, reference: &str) -> String {
    if reference.starts_with("arn:") {
        return reference.to_string();
    }
    let aws = format!("arn:aws:iam::aws:policy/{reference}");
    if managed::find(&aws).is_some() {
        return aws;
    }
    account
        .policies
        .values()
        .find(|p| p.policy_name.eq_ignore_ascii_case(reference))
        .map(|p| p.arn.clone())
        .unwrap_or(aws)
}

fn apply_attachments(
    account: &mut Account,
    kind: EntityKind,
    name: &str,
    policies: &[String],
    inline: &BTreeMap<String, DocumentSpec>,
) -> Result<()> {
    for reference in policies {
        let arn = policy_arn(account, reference);
        account.attach_policy(kind, name, &arn)?;
    }
    for (policy_name, document) in inline {
        let text = document.text();
        if account.inline(kind, name)?.get(policy_name).is_none_or(|d| d.text() != text) {
            account.put_inline_policy(kind, name, policy_name, &text)?;
        }
    }
    Ok(())
}

fn apply_policy(account: &mut Account, spec: &PolicySpec, now: DateTime<Utc>, rng: &mut impl Rng) -> Result<()> {
    let text = spec.document.text();
    let Some(existing) = account.policies.values().find(|p| p.policy_name.eq_ignore_ascii_case(&spec.name)) else {
        account.create_policy(
            &spec.name,
            spec.path.as_deref(),
            &text,
            spec.description.as_deref(),
            vec![],
            now,
            rng,
        )?;
        return Ok(());
    };
    if existing.default_version().document.text() == text {
        return Ok(());
    }
    let arn = existing.arn.clone();
    if existing.versions.len() >= quota::POLICY_VERSIONS {
        let oldest = existing
            .versions
            .iter()
            .find(|v| v.version_id != existing.default_version_id)
            .map(|v| v.version_id.clone());
        if let Some(oldest) = oldest {
            account.delete_policy_version(&arn, &oldest)?;
        }
    }
    account.create_policy_version(&arn, &text, true, now)?;
    Ok(())
}

fn apply_user(
    account: &mut Account,
    spec: &UserSpec,
    key_owner: &dyn Fn(&str) -> Option<String>,
    now: DateTime<Utc>,
    rng: &mut impl Rng,
) -> Result<()> {
    match account.user(&spec.name) {
        Err(_) => {
            account.create_user(&spec.name, spec.path.as_deref(), tags(&spec.tags), now, rng)?;
        }
        Ok(user) => {
            if let Some(path) = &spec.path
                && *path != user.path
            {
                account.update_user(&spec.name, None, Some(path))?;
            }
            account.tag(EntityKind::User, &spec.name, &tags(&spec.tags))?;
        }
    }
    for group in &spec.groups {
        account.add_user_to_group(group, &spec.name)?;
    }
    apply_attachments(account, EntityKind::User, &spec.name, &spec.policies, &spec.inline_policies)?;
    for key in &spec.access_keys {
        if !ids::is_access_key_id(&key.id) {
            return Err(IamError::validation(
                Some(&key.id),
                "accessKeyId",
                "must be 16 to 128 upper-case letters and digits (AKIA...)",
            ));
        }
        if let Some(owner) = key_owner(&key.id).filter(|owner| *owner != account.id) {
            return Err(IamError::InvalidInput(format!("Access key {} already belongs to account {owner}.", key.id)));
        }
        let user_name = account.user(&spec.name)?.user_name.clone();
        match account.access_keys.get(&key.id) {
            Some(existing) if existing.user_name != user_name => {
                return Err(IamError::InvalidInput(format!(
                    "Access key {} already belongs to user {}.",
                    key.id, existing.user_name
                )));
            }
            Some(existing) if existing.secret_access_key != key.secret => {
                account.access_keys.get_mut(&key.id).expect("exists").secret_access_key = key.secret.clone();
            }
            Some(_) => {}
            None => {
                account.add_access_key(&spec.name, &key.id, &key.secret, now)?;
            }
        }
        let status = AccessKeyStatus::parse(key.status.as_deref().unwrap_or("Active"))?;
        account.update_access_key(&key.id, None, status)?;
    }
    Ok(())
}

fn apply_role(
    account: &mut Account,
    spec: &RoleSpec,
    known: &dyn Fn(&str) -> bool,
    now: DateTime<Utc>,
    rng: &mut impl Rng,
) -> Result<()> {
    let trust = spec.assume_role_policy.text();
    match account.role(&spec.name) {
        Err(_) => {
            account.create_role(
                &spec.name,
                spec.path.as_deref(),
                &trust,
                spec.description.as_deref(),
                spec.max_session_duration,
                tags(&spec.tags),
                known,
                now,
                rng,
            )?;
        }
        Ok(role) => {
            if role.assume_role_policy_document.text() != trust {
                account.update_assume_role_policy(&spec.name, &trust, known)?;
            }
            account.update_role(&spec.name, spec.description.as_deref(), spec.max_session_duration)?;
            account.tag(EntityKind::Role, &spec.name, &tags(&spec.tags))?;
        }
    }
    apply_attachments(account, EntityKind::Role, &spec.name, &spec.policies, &spec.inline_policies)
}

impl IamState {
    /// Applies `spec`: creates what is missing and aligns what differs. All or nothing: on an
    /// error the state is unchanged. Returns the ids of the accounts it touched.
    pub fn apply_spec(&mut self, spec: &AwsSpec, now: DateTime<Utc>, rng: &mut impl Rng) -> Result<Vec<String>> {
        let mut next = self.clone();
        for account_spec in &spec.accounts {
            if !is_account_id(&account_spec.id) {
                return Err(IamError::validation(
                    Some(&account_spec.id),
                    "accounts.id",
                    "must be a 12-digit account id",
                ));
            }
            let mut account = next.account(&account_spec.id).cloned().unwrap_or_else(|| Account::new(&account_spec.id));
            let place = |kind: &str, name: &str| format!("account {}, {kind} {name}", account_spec.id);
            for policy in &account_spec.policies {
                apply_policy(&mut account, policy, now, rng).map_err(at(place("policy", &policy.name)))?;
            }
            for group in &account_spec.groups {
                (|| {
                    if account.group(&group.name).is_err() {
                        account.create_group(&group.name, group.path.as_deref(), now, rng)?;
                    }
                    apply_attachments(
                        &mut account,
                        EntityKind::Group,
                        &group.name,
                        &group.policies,
                        &group.inline_policies,
                    )
                })()
                .map_err(at(place("group", &group.name)))?;
            }
            let owners = next.clone();
            let key_owner = |id: &str| owners.key_account(id).map(str::to_string);
            for user in &account_spec.users {
                apply_user(&mut account, user, &key_owner, now, rng).map_err(at(place("user", &user.name)))?;
            }
            next.put_account(account);
        }
        // Roles last, so trust policies may name any declared user or role, in any account.
        for account_spec in &spec.accounts {
            let mut account = next.account(&account_spec.id).cloned().expect("created above");
            for role in &account_spec.roles {
                let known = |principal: &str| next.principal_exists(principal) || declared(spec, principal);
                apply_role(&mut account, role, &known, now, rng)
                    .map_err(at(format!("account {}, role {}", account_spec.id, role.name)))?;
            }
            next.put_account(account);
        }
        *self = next;
        Ok(spec.accounts.iter().map(|a| a.id.clone()).collect())
    }
}

/// Whether `principal` is a role declared in `spec` (roles may trust each other).
fn declared(spec: &AwsSpec, principal: &str) -> bool {
    spec.accounts.iter().any(|account| {
        account
            .roles
            .iter()
            .any(|role| crate::arn::role_arn(&account.id, role.path.as_deref().unwrap_or("/"), &role.name) == principal)
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn spec() -> AwsSpec {
        serde_json::from_value(serde_json::json!({
            "accounts": [{
                "id": "111122223333",
                "policies": [{"name": "EksDescribe", "document": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "eks:Describe*", "Resource": "*"}]}}],
                "groups": [{"name": "developers", "policies": ["ReadOnlyAccess"]}],
                "users": [{
                    "name": "alice", "path": "/dev/", "groups": ["developers"], "policies": ["EksDescribe"],
                    "tags": {"team": "blue"},
                    "accessKeys": [{"id": "AKIAALICEEXAMPLE0001", "secret": "alice-secret"}]
                }],
                "roles": [{
                    "name": "EKSAdmins",
                    "assumeRolePolicy": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:user/dev/alice\"},\"Action\":\"sts:AssumeRole\"}]}",
                    "policies": ["arn:aws:iam::aws:policy/AdministratorAccess"]
                }]
            }]
        }))
        .unwrap()
    }

    #[test]
    fn applying_twice_changes_nothing_and_keys_are_fixed() {
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap();
        let mut state = IamState::new();
        state.apply_spec(&spec(), now, &mut rand::rng()).unwrap();
        let first = state.account("111122223333").unwrap().clone();
        assert_eq!(first.user("alice").unwrap().arn, "arn:aws:iam::111122223333:user/dev/alice");
        assert_eq!(state.access_key("AKIAALICEEXAMPLE0001").unwrap().secret_access_key, "alice-secret");
        assert_eq!(
            first.role("EKSAdmins").unwrap().attached_policies,
            vec!["arn:aws:iam::aws:policy/AdministratorAccess"]
        );
        assert_eq!(first.user("alice").unwrap().attached_policies, vec![first.policies["eksdescribe"].arn.clone()]);
        state.apply_spec(&spec(), now + chrono::TimeDelta::hours(1), &mut rand::rng()).unwrap();
        assert_eq!(state.account("111122223333").unwrap(), &first);
    }

    #[test]
    fn a_bad_declaration_changes_nothing_and_says_where() {
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap();
        let mut bad = spec();
        bad.accounts[0].roles[0].assume_role_policy = DocumentSpec::Text("{".into());
        let mut state = IamState::new();
        let err = state.apply_spec(&bad, now, &mut rand::rng()).unwrap_err();
        assert_eq!(err.to_string(), "account 111122223333, role EKSAdmins: Syntax errors in policy.");
        assert!(state.account("111122223333").is_none());
    }
}
