//! One AWS account's IAM state — users, groups, roles, customer-managed policies with versions,
//! inline policies, access keys, tags — and the IAM operations on it, each validating its input
//! and failing with AWS's error code and message. An operation that fails changes nothing.
//!
//! Names of users, groups, roles and policies are unique per account regardless of case, as in
//! IAM; maps are keyed by the lower-cased name.

use std::collections::BTreeMap;

use aws_arn::Arn;
use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::arn;
use crate::document::{IdentityDocument, TrustDocument};
use crate::error::{IamError, Result};
use crate::ids::{self, IdKind};
use crate::managed;
use crate::sts::Session;

/// A resource tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// Inline policies of a user, group or role, by name.
pub type InlinePolicies = BTreeMap<String, IdentityDocument>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct User {
    pub path: String,
    pub user_name: String,
    pub user_id: String,
    pub arn: String,
    pub create_date: DateTime<Utc>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// The groups the user is in, by name.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Attached managed policies, by ARN.
    #[serde(default)]
    pub attached_policies: Vec<String>,
    #[serde(default)]
    pub inline_policies: InlinePolicies,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Group {
    pub path: String,
    pub group_name: String,
    pub group_id: String,
    pub arn: String,
    pub create_date: DateTime<Utc>,
    #[serde(default)]
    pub attached_policies: Vec<String>,
    #[serde(default)]
    pub inline_policies: InlinePolicies,
}

/// When and where a role was last assumed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleLastUsed {
    pub last_used_date: DateTime<Utc>,
    pub region: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Role {
    pub path: String,
    pub role_name: String,
    pub role_id: String,
    pub arn: String,
    pub create_date: DateTime<Utc>,
    pub assume_role_policy_document: TrustDocument,
    #[serde(default)]
    pub description: Option<String>,
    pub max_session_duration: i64,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub attached_policies: Vec<String>,
    #[serde(default)]
    pub inline_policies: InlinePolicies,
    #[serde(default)]
    pub role_last_used: Option<RoleLastUsed>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyVersion {
    pub version_id: String,
    pub document: IdentityDocument,
    pub create_date: DateTime<Utc>,
}

/// A customer-managed policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManagedPolicy {
    pub policy_name: String,
    pub path: String,
    pub policy_id: String,
    pub arn: String,
    #[serde(default)]
    pub description: Option<String>,
    pub default_version_id: String,
    /// Oldest first.
    pub versions: Vec<PolicyVersion>,
    pub create_date: DateTime<Utc>,
    pub update_date: DateTime<Utc>,
    /// The highest version number ever used (`v<n>`), so deleted numbers are never reused.
    pub next_version: u32,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

impl ManagedPolicy {
    pub fn default_version(&self) -> &PolicyVersion {
        self.versions.iter().find(|v| v.version_id == self.default_version_id).expect("the default version exists")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessKeyStatus {
    Active,
    Inactive,
}

impl AccessKeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessKeyStatus::Active => "Active",
            AccessKeyStatus::Inactive => "Inactive",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "Active" => Ok(AccessKeyStatus::Active),
            "Inactive" => Ok(AccessKeyStatus::Inactive),
            other => {
                Err(IamError::validation(Some(other), "status", "must satisfy enum value set: [Active, Inactive]"))
            }
        }
    }
}

/// When, for which service and in which region an access key was last used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKeyLastUsed {
    pub last_used_date: DateTime<Utc>,
    pub service_name: String,
    pub region: String,
}

/// A long-term access key of a user (`user_name` empty: the account's root user).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub user_name: String,
    pub status: AccessKeyStatus,
    pub create_date: DateTime<Utc>,
    #[serde(default)]
    pub last_used: Option<AccessKeyLastUsed>,
}

/// One account's IAM state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Account {
    pub id: String,
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<String, Group>,
    pub roles: BTreeMap<String, Role>,
    pub policies: BTreeMap<String, ManagedPolicy>,
    pub access_keys: BTreeMap<String, AccessKey>,
    pub sessions: BTreeMap<String, Session>,
}

/// IAM's quotas (the defaults AWS applies).
pub mod quota {
    pub const ACCESS_KEYS_PER_USER: usize = 2;
    pub const GROUPS_PER_USER: usize = 10;
    pub const MANAGED_POLICIES_PER_ENTITY: usize = 10;
    pub const POLICY_VERSIONS: usize = 5;
    pub const TAGS: usize = 50;
    pub const USER_INLINE_SIZE: usize = 2048;
    pub const GROUP_INLINE_SIZE: usize = 5120;
    pub const ROLE_INLINE_SIZE: usize = 10240;
    pub const MANAGED_POLICY_SIZE: usize = 6144;
    pub const TRUST_POLICY_SIZE: usize = 2048;
}

// ---------------------------------------------------------------------------------------------
// Validation, in AWS's words.

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

/// Checks an IAM name (`[\w+=,.@-]+`, at most `max` characters) for `member` (`userName`).
pub fn validate_name(value: &str, member: &str, max: usize) -> Result<()> {
    if value.is_empty() {
        return Err(IamError::validation(Some(value), member, "must have length greater than or equal to 1"));
    }
    if value.chars().count() > max {
        return Err(IamError::validation(
            Some(value),
            member,
            &format!("must have length less than or equal to {max}"),
        ));
    }
    if !value.chars().all(is_name_char) {
        return Err(IamError::validation(Some(value), member, "must satisfy regular expression pattern: [\\w+=,.@-]+"));
    }
    Ok(())
}

/// Checks an IAM path: `/` or `/…/` of printable ASCII, at most 512 characters.
pub fn validate_path(value: &str, member: &str) -> Result<()> {
    let valid = value == "/"
        || (value.len() >= 2
            && value.starts_with('/')
            && value.ends_with('/')
            && value.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    if value.len() > 512 {
        return Err(IamError::validation(Some(value), member, "must have length less than or equal to 512"));
    }
    if !valid {
        return Err(IamError::validation(
            Some(value),
            member,
            "must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)",
        ));
    }
    Ok(())
}

fn validate_tags(tags: &[Tag]) -> Result<()> {
    for tag in tags {
        if tag.key.is_empty() || tag.key.chars().count() > 128 {
            return Err(IamError::validation(
                Some(&tag.key),
                "tags.member.key",
                "must have length less than or equal to 128",
            ));
        }
        if tag.value.chars().count() > 256 {
            return Err(IamError::validation(
                Some(&tag.value),
                "tags.member.value",
                "must have length less than or equal to 256",
            ));
        }
        let allowed = |c: char| c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c);
        if !tag.key.chars().all(allowed) {
            return Err(IamError::validation(
                Some(&tag.key),
                "tags.member.key",
                "must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+",
            ));
        }
    }
    Ok(())
}

/// Replaces or adds `new` tags on `tags` (keys compared case-insensitively, as IAM does).
fn merge_tags(tags: &mut Vec<Tag>, new: &[Tag]) -> Result<()> {
    validate_tags(new)?;
    let mut merged = tags.clone();
    for tag in new {
        match merged.iter_mut().find(|t| t.key.eq_ignore_ascii_case(&tag.key)) {
            Some(existing) => *existing = tag.clone(),
            None => merged.push(tag.clone()),
        }
    }
    if merged.len() > quota::TAGS {
        return Err(IamError::LimitExceeded(format!(
            "The number of tags has reached the maximum limit of {}.",
            quota::TAGS
        )));
    }
    *tags = merged;
    Ok(())
}

fn remove_tags(tags: &mut Vec<Tag>, keys: &[String]) {
    tags.retain(|tag| !keys.iter().any(|key| key.eq_ignore_ascii_case(&tag.key)));
}

/// The map key of an IAM name: names are ASCII (`[\w+=,.@-]`) and unique regardless of case.
fn key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// One page of a listing, with the marker of the next page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub is_truncated: bool,
    pub marker: Option<String>,
}

/// Pages `items` (already in order, each with its sort key): the items after `marker`, at most
/// `max_items` (default 100, at most 1000).
pub fn paginate<T>(
    items: impl IntoIterator<Item = (String, T)>,
    marker: Option<&str>,
    max_items: Option<i64>,
) -> Result<Page<T>> {
    let max = match max_items {
        None => 100,
        Some(n) if (1..=1000).contains(&n) => n as usize,
        Some(n) if n < 1 => {
            return Err(IamError::validation(
                Some(&n.to_string()),
                "maxItems",
                "must have value greater than or equal to 1",
            ));
        }
        Some(n) => {
            return Err(IamError::validation(
                Some(&n.to_string()),
                "maxItems",
                "must have value less than or equal to 1000",
            ));
        }
    };
    let mut items: Vec<(String, T)> =
        items.into_iter().filter(|(sort_key, _)| marker.is_none_or(|marker| sort_key.as_str() >= marker)).collect();
    let is_truncated = items.len() > max;
    let marker = if is_truncated { Some(items[max].0.clone()) } else { None };
    items.truncate(max);
    Ok(Page { items: items.into_iter().map(|(_, item)| item).collect(), is_truncated, marker })
}

/// Who a policy is attached to, for `ListEntitiesForPolicy`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyEntities {
    /// (name, id) of each.
    pub users: Vec<(String, String)>,
    pub groups: Vec<(String, String)>,
    pub roles: Vec<(String, String)>,
}

/// A managed policy, customer or AWS.
#[derive(Clone, Copy, Debug)]
pub enum PolicyRef<'a> {
    Customer(&'a ManagedPolicy),
    Aws(&'static managed::AwsManagedPolicy),
}

impl<'a> PolicyRef<'a> {
    pub fn arn(&self) -> &'a str {
        match self {
            PolicyRef::Customer(p) => &p.arn,
            PolicyRef::Aws(p) => &p.arn,
        }
    }

    pub fn name(&self) -> &'a str {
        match self {
            PolicyRef::Customer(p) => &p.policy_name,
            PolicyRef::Aws(p) => p.name,
        }
    }

    /// The document of the default version.
    pub fn document(&self) -> &'a IdentityDocument {
        match self {
            PolicyRef::Customer(p) => &p.default_version().document,
            PolicyRef::Aws(p) => &p.document,
        }
    }
}

/// What a policy can be attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntityKind {
    User,
    Group,
    Role,
}

impl EntityKind {
    fn word(self) -> &'static str {
        match self {
            EntityKind::User => "user",
            EntityKind::Group => "group",
            EntityKind::Role => "role",
        }
    }

    fn quota_name(self) -> &'static str {
        match self {
            EntityKind::User => "PoliciesPerUser",
            EntityKind::Group => "PoliciesPerGroup",
            EntityKind::Role => "PoliciesPerRole",
        }
    }

    fn inline_limit(self) -> usize {
        match self {
            EntityKind::User => quota::USER_INLINE_SIZE,
            EntityKind::Group => quota::GROUP_INLINE_SIZE,
            EntityKind::Role => quota::ROLE_INLINE_SIZE,
        }
    }
}

impl Account {
    pub fn new(id: impl Into<String>) -> Self {
        Account { id: id.into(), ..Account::default() }
    }

    // -- users ----------------------------------------------------------------------------------

    pub fn user(&self, name: &str) -> Result<&User> {
        self.users
            .get(&key(name))
            .ok_or_else(|| IamError::NoSuchEntity(format!("The user with name {name} cannot be found.")))
    }

    fn user_mut(&mut self, name: &str) -> Result<&mut User> {
        self.users
            .get_mut(&key(name))
            .ok_or_else(|| IamError::NoSuchEntity(format!("The user with name {name} cannot be found.")))
    }

    pub fn create_user(
        &mut self,
        name: &str,
        path: Option<&str>,
        tags: Vec<Tag>,
        now: DateTime<Utc>,
        rng: &mut impl Rng,
    ) -> Result<&User> {
        validate_name(name, "userName", 64)?;
        let path = path.unwrap_or("/");
        validate_path(path, "path")?;
        validate_tags(&tags)?;
        if tags.len() > quota::TAGS {
            return Err(IamError::LimitExceeded(format!(
                "The number of tags has reached the maximum limit of {}.",
                quota::TAGS
            )));
        }
        if self.users.contains_key(&key(name)) {
            return Err(IamError::EntityAlreadyExists(format!("User with name {name} already exists.")));
        }
        let user = User {
            path: path.to_string(),
            user_name: name.to_string(),
            user_id: ids::generate(IdKind::User, rng),
            arn: arn::user_arn(&self.id, path, name),
            create_date: now,
            tags,
            groups: vec![],
            attached_policies: vec![],
            inline_policies: BTreeMap::new(),
        };
        Ok(self.users.entry(key(name)).or_insert(user))
    }

    /// `UpdateUser`: rename and/or move a user; its keys, groups and policies follow.
    pub fn update_user(&mut self, name: &str, new_name: Option<&str>, new_path: Option<&str>) -> Result<()> {
        if let Some(new_name) = new_name {
            validate_name(new_name, "newUserName", 64)?;
        }
        if let Some(new_path) = new_path {
            validate_path(new_path, "newPath")?;
        }
        let mut user = self.user(name)?.clone();
        if let Some(new_name) = new_name
            && key(new_name) != key(&user.user_name)
            && self.users.contains_key(&key(new_name))
        {
            return Err(IamError::EntityAlreadyExists(format!("User with name {new_name} already exists.")));
        }
        let old_name = user.user_name.clone();
        if let Some(new_name) = new_name {
            user.user_name = new_name.to_string();
        }
        if let Some(new_path) = new_path {
            user.path = new_path.to_string();
        }
        user.arn = arn::user_arn(&self.id, &user.path, &user.user_name);
        for access_key in self.access_keys.values_mut().filter(|k| k.user_name == old_name) {
            access_key.user_name = user.user_name.clone();
        }
        self.users.remove(&key(&old_name));
        self.users.insert(key(&user.user_name), user);
        Ok(())
    }

    pub fn delete_user(&mut self, name: &str) -> Result<()> {
        let user = self.user(name)?;
        let conflict = |what: &str| Err(IamError::DeleteConflict(format!("Cannot delete entity, must {what} first.")));
        if self.access_keys.values().any(|k| k.user_name == user.user_name) {
            return conflict("delete access keys");
        }
        if !user.inline_policies.is_empty() {
            return conflict("delete policies");
        }
        if !user.attached_policies.is_empty() {
            return conflict("detach all policies");
        }
        if !user.groups.is_empty() {
            return conflict("remove user from all groups");
        }
        self.users.remove(&key(name));
        Ok(())
    }

    // -- groups ---------------------------------------------------------------------------------

    pub fn group(&self, name: &str) -> Result<&Group> {
        self.groups
            .get(&key(name))
            .ok_or_else(|| IamError::NoSuchEntity(format!("The group with name {name} cannot be found.")))
    }

    pub fn create_group(
        &mut self,
        name: &str,
        path: Option<&str>,
        now: DateTime<Utc>,
        rng: &mut impl Rng,
    ) -> Result<&Group> {
        validate_name(name, "groupName", 128)?;
        let path = path.unwrap_or("/");
        validate_path(path, "path")?;
        if self.groups.contains_key(&key(name)) {
            return Err(IamError::EntityAlreadyExists(format!("Group with name {name} already exists.")));
        }
        let group = Group {
            path: path.to_string(),
            group_name: name.to_string(),
            group_id: ids::generate(IdKind::Group, rng),
            arn: arn::group_arn(&self.id, path, name),
            create_date: now,
            attached_policies: vec![],
            inline_policies: BTreeMap::new(),
        };
        Ok(self.groups.entry(key(name)).or_insert(group))
    }

    /// The users in a group, in name order.
    pub fn group_members(&self, group_name: &str) -> Vec<&User> {
        self.users.values().filter(|u| u.groups.iter().any(|g| g.eq_ignore_ascii_case(group_name))).collect()
    }

    pub fn delete_group(&mut self, name: &str) -> Result<()> {
        let group = self.group(name)?;
        let conflict = |what: &str| Err(IamError::DeleteConflict(format!("Cannot delete entity, must {what} first.")));
        if !self.group_members(&group.group_name).is_empty() {
            return conflict("remove users from group");
        }
        if !group.inline_policies.is_empty() {
            return conflict("delete policies");
        }
        if !group.attached_policies.is_empty() {
            return conflict("detach all policies");
        }
        self.groups.remove(&key(name));
        Ok(())
    }

    pub fn add_user_to_group(&mut self, group_name: &str, user_name: &str) -> Result<()> {
        let group = self.group(group_name)?.group_name.clone();
        let user = self.user_mut(user_name)?;
        if user.groups.iter().any(|g| g.eq_ignore_ascii_case(&group)) {
            return Ok(());
        }
        if user.groups.len() >= quota::GROUPS_PER_USER {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for GroupsPerUser: {}",
                quota::GROUPS_PER_USER
            )));
        }
        user.groups.push(group);
        Ok(())
    }

    pub fn remove_user_from_group(&mut self, group_name: &str, user_name: &str) -> Result<()> {
        let group = self.group(group_name)?.group_name.clone();
        let user = self.user_mut(user_name)?;
        let before = user.groups.len();
        user.groups.retain(|g| !g.eq_ignore_ascii_case(&group));
        if user.groups.len() == before {
            return Err(IamError::NoSuchEntity(format!(
                "The user with name {user_name} cannot be found in group {group_name}."
            )));
        }
        Ok(())
    }

    /// The groups a user is in, in name order.
    pub fn groups_for_user(&self, user_name: &str) -> Result<Vec<&Group>> {
        let user = self.user(user_name)?;
        Ok(self.groups.values().filter(|g| user.groups.iter().any(|n| n.eq_ignore_ascii_case(&g.group_name))).collect())
    }

    // -- roles ----------------------------------------------------------------------------------

    pub fn role(&self, name: &str) -> Result<&Role> {
        self.roles
            .get(&key(name))
            .ok_or_else(|| IamError::NoSuchEntity(format!("The role with name {name} cannot be found.")))
    }

    fn role_mut(&mut self, name: &str) -> Result<&mut Role> {
        self.roles
            .get_mut(&key(name))
            .ok_or_else(|| IamError::NoSuchEntity(format!("The role with name {name} cannot be found.")))
    }

    fn trust_document(&self, text: &str, known: &dyn Fn(&str) -> bool) -> Result<TrustDocument> {
        let document = TrustDocument::parse(text)?;
        document.check_size(quota::TRUST_POLICY_SIZE, || {
            format!("Cannot exceed quota for ACLSizePerRole: {}", quota::TRUST_POLICY_SIZE)
        })?;
        // IAM refuses principals that name users or roles that do not exist (in accounts it knows).
        for statement in &document.parsed().statements {
            let principals = match &statement.principal {
                Some(
                    crate::policy::PrincipalMatcher::Principal(p) | crate::policy::PrincipalMatcher::NotPrincipal(p),
                ) => p,
                None => continue,
            };
            for principal in &principals.aws {
                if !known(principal) {
                    return Err(IamError::MalformedPolicyDocument(format!(
                        "Invalid principal in policy: \"AWS\":\"{principal}\""
                    )));
                }
            }
        }
        Ok(document)
    }

    /// `CreateRole`. `known` says whether a principal ARN in the trust policy exists.
    #[allow(clippy::too_many_arguments)]
    pub fn create_role(
        &mut self,
        name: &str,
        path: Option<&str>,
        trust_policy: &str,
        description: Option<&str>,
        max_session_duration: Option<i64>,
        tags: Vec<Tag>,
        known: &dyn Fn(&str) -> bool,
        now: DateTime<Utc>,
        rng: &mut impl Rng,
    ) -> Result<&Role> {
        validate_name(name, "roleName", 64)?;
        let path = path.unwrap_or("/");
        validate_path(path, "path")?;
        let max_session_duration = validate_max_session_duration(max_session_duration.unwrap_or(3600))?;
        validate_description(description)?;
        validate_tags(&tags)?;
        let document = self.trust_document(trust_policy, known)?;
        if self.roles.contains_key(&key(name)) {
            return Err(IamError::EntityAlreadyExists(format!("Role with name {name} already exists.")));
        }
        let role = Role {
            path: path.to_string(),
            role_name: name.to_string(),
            role_id: ids::generate(IdKind::Role, rng),
            arn: arn::role_arn(&self.id, path, name),
            create_date: now,
            assume_role_policy_document: document,
            description: description.map(str::to_string),
            max_session_duration,
            tags,
            attached_policies: vec![],
            inline_policies: BTreeMap::new(),
            role_last_used: None,
        };
        Ok(self.roles.entry(key(name)).or_insert(role))
    }

    /// `UpdateRole`: description and maximum session duration.
    pub fn update_role(
        &mut self,
        name: &str,
        description: Option<&str>,
        max_session_duration: Option<i64>,
    ) -> Result<()> {
        validate_description(description)?;
        let max = max_session_duration.map(validate_max_session_duration).transpose()?;
        let role = self.role_mut(name)?;
        if let Some(description) = description {
            role.description = Some(description.to_string());
        }
        if let Some(max) = max {
            role.max_session_duration = max;
        }
        Ok(())
    }

    pub fn update_assume_role_policy(
        &mut self,
        name: &str,
        trust_policy: &str,
        known: &dyn Fn(&str) -> bool,
    ) -> Result<()> {
        self.role(name)?;
        let document = self.trust_document(trust_policy, known)?;
        self.role_mut(name)?.assume_role_policy_document = document;
        Ok(())
    }

    pub fn delete_role(&mut self, name: &str) -> Result<()> {
        let role = self.role(name)?;
        if !role.inline_policies.is_empty() {
            return Err(IamError::DeleteConflict("Cannot delete entity, must delete policies first.".into()));
        }
        if !role.attached_policies.is_empty() {
            return Err(IamError::DeleteConflict("Cannot delete entity, must detach all policies first.".into()));
        }
        self.roles.remove(&key(name));
        Ok(())
    }

    /// Records that a role was assumed.
    pub fn record_role_use(&mut self, name: &str, region: &str, now: DateTime<Utc>) {
        if let Some(role) = self.roles.get_mut(&key(name)) {
            role.role_last_used = Some(RoleLastUsed { last_used_date: now, region: region.to_string() });
        }
    }

    // -- tags -----------------------------------------------------------------------------------

    fn tags_mut(&mut self, kind: EntityKind, name: &str) -> Result<&mut Vec<Tag>> {
        match kind {
            EntityKind::User => Ok(&mut self.user_mut(name)?.tags),
            EntityKind::Role => Ok(&mut self.role_mut(name)?.tags),
            EntityKind::Group => Err(IamError::InvalidInput("Groups cannot be tagged.".into())),
        }
    }

    pub fn tag(&mut self, kind: EntityKind, name: &str, tags: &[Tag]) -> Result<()> {
        merge_tags(self.tags_mut(kind, name)?, tags)
    }

    pub fn untag(&mut self, kind: EntityKind, name: &str, keys: &[String]) -> Result<()> {
        remove_tags(self.tags_mut(kind, name)?, keys);
        Ok(())
    }

    pub fn tag_policy(&mut self, arn: &str, tags: &[Tag]) -> Result<()> {
        let name = self.customer_policy_name(arn)?;
        merge_tags(&mut self.policies.get_mut(&key(&name)).expect("found above").tags, tags)
    }

    pub fn untag_policy(&mut self, arn: &str, keys: &[String]) -> Result<()> {
        let name = self.customer_policy_name(arn)?;
        remove_tags(&mut self.policies.get_mut(&key(&name)).expect("found above").tags, keys);
        Ok(())
    }

    // -- managed policies -----------------------------------------------------------------------

    /// The name of the customer-managed policy with `arn` in this account.
    fn customer_policy_name(&self, arn: &str) -> Result<String> {
        let not_found = || IamError::NoSuchEntity(format!("Policy {arn} was not found."));
        let parsed = Arn::parse(arn).map_err(|_| not_found())?;
        if parsed.account_id == arn::AWS_MANAGED_ACCOUNT {
            return Err(IamError::UnmodifiableEntity(format!("Cannot modify AWS managed policy {arn}.")));
        }
        if parsed.account_id != self.id {
            return Err(not_found());
        }
        let name = parsed.resource.rsplit('/').next().unwrap_or_default();
        match self.policies.get(&key(name)) {
            Some(policy) if policy.arn == arn => Ok(policy.policy_name.clone()),
            _ => Err(not_found()),
        }
    }

    /// A managed policy by ARN: an AWS-managed one, or a customer-managed one of this account.
    pub fn policy(&self, arn: &str) -> Result<PolicyRef<'_>> {
        if let Some(policy) = managed::find(arn) {
            return Ok(PolicyRef::Aws(policy));
        }
        if Arn::parse(arn).is_ok_and(|a| a.account_id == arn::AWS_MANAGED_ACCOUNT) {
            return Err(IamError::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable.")));
        }
        // The hot path (every authorization resolves the caller's attached policies): one lookup.
        let name = arn.rsplit('/').next().unwrap_or_default();
        match self.policies.get(&key(name)) {
            Some(policy) if policy.arn == arn => Ok(PolicyRef::Customer(policy)),
            _ => Err(self
                .customer_policy_name(arn)
                .err()
                .unwrap_or_else(|| IamError::NoSuchEntity(format!("Policy {arn} was not found.")))),
        }
    }

    fn customer_policy_mut(&mut self, arn: &str) -> Result<&mut ManagedPolicy> {
        let name = self.customer_policy_name(arn)?;
        Ok(self.policies.get_mut(&key(&name)).expect("found above"))
    }

    fn managed_document(text: &str) -> Result<IdentityDocument> {
        let document = IdentityDocument::parse(text)?;
        document.check_size(quota::MANAGED_POLICY_SIZE, || {
            format!("Cannot exceed quota for PolicySize: {}", quota::MANAGED_POLICY_SIZE)
        })?;
        Ok(document)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn create_policy(
        &mut self,
        name: &str,
        path: Option<&str>,
        document: &str,
        description: Option<&str>,
        tags: Vec<Tag>,
        now: DateTime<Utc>,
        rng: &mut impl Rng,
    ) -> Result<&ManagedPolicy> {
        validate_name(name, "policyName", 128)?;
        let path = path.unwrap_or("/");
        validate_path(path, "path")?;
        validate_description(description)?;
        validate_tags(&tags)?;
        let document = Self::managed_document(document)?;
        if self.policies.contains_key(&key(name)) {
            return Err(IamError::EntityAlreadyExists(format!(
                "A policy called {name} already exists. Duplicate names are not allowed."
            )));
        }
        let policy = ManagedPolicy {
            policy_name: name.to_string(),
            path: path.to_string(),
            policy_id: ids::generate(IdKind::Policy, rng),
            arn: arn::policy_arn(&self.id, path, name),
            description: description.map(str::to_string),
            default_version_id: "v1".to_string(),
            versions: vec![PolicyVersion { version_id: "v1".into(), document, create_date: now }],
            create_date: now,
            update_date: now,
            next_version: 2,
            tags,
        };
        Ok(self.policies.entry(key(name)).or_insert(policy))
    }

    /// Who a managed policy is attached to.
    pub fn policy_entities(&self, arn: &str) -> PolicyEntities {
        let has = |attached: &[String]| attached.iter().any(|a| a == arn);
        PolicyEntities {
            users: self
                .users
                .values()
                .filter(|u| has(&u.attached_policies))
                .map(|u| (u.user_name.clone(), u.user_id.clone()))
                .collect(),
            groups: self
                .groups
                .values()
                .filter(|g| has(&g.attached_policies))
                .map(|g| (g.group_name.clone(), g.group_id.clone()))
                .collect(),
            roles: self
                .roles
                .values()
                .filter(|r| has(&r.attached_policies))
                .map(|r| (r.role_name.clone(), r.role_id.clone()))
                .collect(),
        }
    }

    /// How many users, groups and roles a managed policy is attached to.
    pub fn attachment_count(&self, arn: &str) -> usize {
        let entities = self.policy_entities(arn);
        entities.users.len() + entities.groups.len() + entities.roles.len()
    }

    pub fn delete_policy(&mut self, arn: &str) -> Result<()> {
        let name = self.customer_policy_name(arn)?;
        if self.attachment_count(arn) > 0 {
            return Err(IamError::DeleteConflict("Cannot delete a policy attached to entities.".into()));
        }
        if self.policies[&key(&name)].versions.len() > 1 {
            return Err(IamError::DeleteConflict(
                "This policy has more than one version. Before you delete a policy, you must delete the policy's \
                 versions. The default version is deleted with the policy."
                    .into(),
            ));
        }
        self.policies.remove(&key(&name));
        Ok(())
    }

    pub fn create_policy_version(
        &mut self,
        arn: &str,
        document: &str,
        set_as_default: bool,
        now: DateTime<Utc>,
    ) -> Result<&PolicyVersion> {
        let document = Self::managed_document(document)?;
        let policy = self.customer_policy_mut(arn)?;
        if policy.versions.len() >= quota::POLICY_VERSIONS {
            return Err(IamError::LimitExceeded(format!(
                "A managed policy can have up to {} versions. Before you create a new version, you must delete an \
                 existing version.",
                quota::POLICY_VERSIONS
            )));
        }
        let version_id = format!("v{}", policy.next_version);
        policy.next_version += 1;
        policy.versions.push(PolicyVersion { version_id: version_id.clone(), document, create_date: now });
        policy.update_date = now;
        if set_as_default {
            policy.default_version_id = version_id;
        }
        Ok(policy.versions.last().expect("just pushed"))
    }

    pub fn set_default_policy_version(&mut self, arn: &str, version_id: &str) -> Result<()> {
        let policy = self.customer_policy_mut(arn)?;
        if !policy.versions.iter().any(|v| v.version_id == version_id) {
            return Err(IamError::NoSuchEntity(format!("Policy {arn} version {version_id} does not exist.")));
        }
        policy.default_version_id = version_id.to_string();
        Ok(())
    }

    pub fn delete_policy_version(&mut self, arn: &str, version_id: &str) -> Result<()> {
        let policy = self.customer_policy_mut(arn)?;
        if policy.default_version_id == version_id {
            return Err(IamError::DeleteConflict("Cannot delete the default version of a policy.".into()));
        }
        let before = policy.versions.len();
        policy.versions.retain(|v| v.version_id != version_id);
        if policy.versions.len() == before {
            return Err(IamError::NoSuchEntity(format!("Policy {arn} version {version_id} does not exist.")));
        }
        Ok(())
    }

    // -- attached and inline policies -----------------------------------------------------------

    fn attached_mut(&mut self, kind: EntityKind, name: &str) -> Result<&mut Vec<String>> {
        Ok(match kind {
            EntityKind::User => &mut self.user_mut(name)?.attached_policies,
            EntityKind::Group => {
                let group = self
                    .groups
                    .get_mut(&key(name))
                    .ok_or_else(|| IamError::NoSuchEntity(format!("The group with name {name} cannot be found.")))?;
                &mut group.attached_policies
            }
            EntityKind::Role => &mut self.role_mut(name)?.attached_policies,
        })
    }

    /// The ARNs of the managed policies attached to an entity.
    pub fn attached(&self, kind: EntityKind, name: &str) -> Result<&[String]> {
        Ok(match kind {
            EntityKind::User => &self.user(name)?.attached_policies,
            EntityKind::Group => &self.group(name)?.attached_policies,
            EntityKind::Role => &self.role(name)?.attached_policies,
        })
    }

    pub fn attach_policy(&mut self, kind: EntityKind, name: &str, arn: &str) -> Result<()> {
        self.attached(kind, name)?;
        let arn = self
            .policy(arn)
            .map_err(|_| IamError::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable.")))?
            .arn()
            .to_string();
        let attached = self.attached_mut(kind, name)?;
        if attached.contains(&arn) {
            return Ok(());
        }
        if attached.len() >= quota::MANAGED_POLICIES_PER_ENTITY {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for {}: {}",
                kind.quota_name(),
                quota::MANAGED_POLICIES_PER_ENTITY
            )));
        }
        attached.push(arn);
        Ok(())
    }

    pub fn detach_policy(&mut self, kind: EntityKind, name: &str, arn: &str) -> Result<()> {
        let attached = self.attached_mut(kind, name)?;
        let before = attached.len();
        attached.retain(|a| a != arn);
        if attached.len() == before {
            return Err(IamError::NoSuchEntity(format!("Policy {arn} was not found.")));
        }
        Ok(())
    }

    /// The inline policies of an entity.
    pub fn inline(&self, kind: EntityKind, name: &str) -> Result<&InlinePolicies> {
        Ok(match kind {
            EntityKind::User => &self.user(name)?.inline_policies,
            EntityKind::Group => &self.group(name)?.inline_policies,
            EntityKind::Role => &self.role(name)?.inline_policies,
        })
    }

    fn inline_mut(&mut self, kind: EntityKind, name: &str) -> Result<&mut InlinePolicies> {
        Ok(match kind {
            EntityKind::User => &mut self.user_mut(name)?.inline_policies,
            EntityKind::Group => {
                &mut self
                    .groups
                    .get_mut(&key(name))
                    .ok_or_else(|| IamError::NoSuchEntity(format!("The group with name {name} cannot be found.")))?
                    .inline_policies
            }
            EntityKind::Role => &mut self.role_mut(name)?.inline_policies,
        })
    }

    pub fn put_inline_policy(&mut self, kind: EntityKind, name: &str, policy_name: &str, document: &str) -> Result<()> {
        validate_name(policy_name, "policyName", 128)?;
        let document = IdentityDocument::parse(document)?;
        let entity_name = match kind {
            EntityKind::User => self.user(name)?.user_name.clone(),
            EntityKind::Group => self.group(name)?.group_name.clone(),
            EntityKind::Role => self.role(name)?.role_name.clone(),
        };
        let inline = self.inline_mut(kind, name)?;
        let others: usize = inline.iter().filter(|(n, _)| n.as_str() != policy_name).map(|(_, d)| d.size()).sum();
        if others + document.size() > kind.inline_limit() {
            return Err(IamError::LimitExceeded(format!(
                "Maximum policy size of {} bytes exceeded for {} {entity_name}",
                kind.inline_limit(),
                kind.word()
            )));
        }
        inline.insert(policy_name.to_string(), document);
        Ok(())
    }

    pub fn inline_policy(&self, kind: EntityKind, name: &str, policy_name: &str) -> Result<&IdentityDocument> {
        self.inline(kind, name)?.get(policy_name).ok_or_else(|| {
            IamError::NoSuchEntity(format!("The {} policy with name {policy_name} cannot be found.", kind.word()))
        })
    }

    pub fn delete_inline_policy(&mut self, kind: EntityKind, name: &str, policy_name: &str) -> Result<()> {
        self.inline_policy(kind, name, policy_name)?;
        self.inline_mut(kind, name)?.remove(policy_name);
        Ok(())
    }

    // -- access keys ----------------------------------------------------------------------------

    /// The access keys of a user, oldest first.
    pub fn access_keys_of(&self, user_name: &str) -> Result<Vec<&AccessKey>> {
        let user = self.user(user_name)?;
        let mut keys: Vec<&AccessKey> = self.access_keys.values().filter(|k| k.user_name == user.user_name).collect();
        keys.sort_by(|a, b| a.create_date.cmp(&b.create_date).then(a.access_key_id.cmp(&b.access_key_id)));
        Ok(keys)
    }

    /// `CreateAccessKey`: a new key for a user (the secret is returned only here).
    pub fn create_access_key(&mut self, user_name: &str, now: DateTime<Utc>, rng: &mut impl Rng) -> Result<&AccessKey> {
        let id = ids::generate(IdKind::AccessKey, rng);
        let secret = ids::secret_access_key(rng);
        self.add_access_key(user_name, &id, &secret, now)
    }

    /// Adds a key with a given id and secret (a config file's fixed keys).
    pub fn add_access_key(
        &mut self,
        user_name: &str,
        id: &str,
        secret: &str,
        now: DateTime<Utc>,
    ) -> Result<&AccessKey> {
        let user_name = self.user(user_name)?.user_name.clone();
        if self.access_keys_of(&user_name)?.len() >= quota::ACCESS_KEYS_PER_USER {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for AccessKeysPerUser: {}",
                quota::ACCESS_KEYS_PER_USER
            )));
        }
        let key = AccessKey {
            access_key_id: id.to_string(),
            secret_access_key: secret.to_string(),
            user_name,
            status: AccessKeyStatus::Active,
            create_date: now,
            last_used: None,
        };
        Ok(self.access_keys.entry(id.to_string()).or_insert(key))
    }

    fn access_key_of(&self, id: &str, user_name: Option<&str>) -> Result<&AccessKey> {
        let not_found = || IamError::NoSuchEntity(format!("The Access Key with id {id} cannot be found."));
        let key = self.access_keys.get(id).ok_or_else(not_found)?;
        if let Some(user_name) = user_name {
            let user = self.user(user_name)?;
            if key.user_name != user.user_name {
                return Err(not_found());
            }
        }
        Ok(key)
    }

    pub fn update_access_key(&mut self, id: &str, user_name: Option<&str>, status: AccessKeyStatus) -> Result<()> {
        self.access_key_of(id, user_name)?;
        self.access_keys.get_mut(id).expect("found above").status = status;
        Ok(())
    }

    pub fn delete_access_key(&mut self, id: &str, user_name: Option<&str>) -> Result<()> {
        self.access_key_of(id, user_name)?;
        self.access_keys.remove(id);
        Ok(())
    }

    /// Records a use of an access key; `true` when the recorded value changed by more than
    /// `granularity` (and is worth persisting).
    pub fn record_key_use(
        &mut self,
        id: &str,
        service: &str,
        region: &str,
        now: DateTime<Utc>,
        granularity: chrono::TimeDelta,
    ) -> bool {
        let Some(key) = self.access_keys.get_mut(id) else { return false };
        let stale = key.last_used.as_ref().is_none_or(|used| {
            now - used.last_used_date >= granularity || used.service_name != service || used.region != region
        });
        if stale {
            key.last_used = Some(AccessKeyLastUsed {
                last_used_date: now,
                service_name: service.to_string(),
                region: region.to_string(),
            });
        }
        stale
    }
}

fn validate_max_session_duration(seconds: i64) -> Result<i64> {
    if seconds < 3600 {
        return Err(IamError::validation(
            Some(&seconds.to_string()),
            "maxSessionDuration",
            "must have value greater than or equal to 3600",
        ));
    }
    if seconds > 43200 {
        return Err(IamError::validation(
            Some(&seconds.to_string()),
            "maxSessionDuration",
            "must have value less than or equal to 43200",
        ));
    }
    Ok(seconds)
}

fn validate_description(description: Option<&str>) -> Result<()> {
    match description {
        Some(text) if text.chars().count() > 1000 => {
            Err(IamError::validation(Some(text), "description", "must have length less than or equal to 1000"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap()
    }

    const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
    const DOC: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:Get*","Resource":"*"}]}"#;

    fn account() -> Account {
        Account::new("123456789012")
    }

    #[test]
    fn users_are_created_with_aws_ids_and_arns_and_names_ignore_case() {
        let mut account = account();
        let mut rng = rand::rng();
        let user = account.create_user("alice", Some("/dev/"), vec![], now(), &mut rng).unwrap().clone();
        assert_eq!(user.arn, "arn:aws:iam::123456789012:user/dev/alice");
        assert!(user.user_id.starts_with("AIDA"));
        assert_eq!(
            account.create_user("ALICE", None, vec![], now(), &mut rng).unwrap_err(),
            IamError::EntityAlreadyExists("User with name ALICE already exists.".into())
        );
        assert_eq!(account.user("Alice").unwrap().user_name, "alice");
        assert_eq!(
            account.create_user("bad name", None, vec![], now(), &mut rng).unwrap_err().code(),
            "ValidationError"
        );
        assert_eq!(
            account.create_user("x", Some("dev"), vec![], now(), &mut rng).unwrap_err().code(),
            "ValidationError"
        );
    }

    #[test]
    fn deleting_a_user_needs_its_dependents_gone_first_and_a_failure_changes_nothing() {
        let mut account = account();
        let mut rng = rand::rng();
        account.create_user("bob", None, vec![], now(), &mut rng).unwrap();
        account.create_group("devs", None, now(), &mut rng).unwrap();
        account.add_user_to_group("devs", "bob").unwrap();
        let key = account.create_access_key("bob", now(), &mut rng).unwrap().access_key_id.clone();
        account.attach_policy(EntityKind::User, "bob", "arn:aws:iam::aws:policy/ReadOnlyAccess").unwrap();
        account.put_inline_policy(EntityKind::User, "bob", "p", DOC).unwrap();
        let before = account.clone();
        let message = |account: &mut Account| account.delete_user("bob").unwrap_err().to_string();
        assert_eq!(message(&mut account), "Cannot delete entity, must delete access keys first.");
        assert_eq!(account, before);
        account.delete_access_key(&key, Some("bob")).unwrap();
        assert_eq!(message(&mut account), "Cannot delete entity, must delete policies first.");
        account.delete_inline_policy(EntityKind::User, "bob", "p").unwrap();
        assert_eq!(message(&mut account), "Cannot delete entity, must detach all policies first.");
        account.detach_policy(EntityKind::User, "bob", "arn:aws:iam::aws:policy/ReadOnlyAccess").unwrap();
        assert_eq!(message(&mut account), "Cannot delete entity, must remove user from all groups first.");
        assert_eq!(
            account.delete_group("devs").unwrap_err().to_string(),
            "Cannot delete entity, must remove users from group first."
        );
        account.remove_user_from_group("devs", "bob").unwrap();
        account.delete_user("bob").unwrap();
        assert_eq!(account.user("bob").unwrap_err().code(), "NoSuchEntity");
    }

    #[test]
    fn access_keys_are_limited_to_two_per_user() {
        let mut account = account();
        let mut rng = rand::rng();
        account.create_user("carol", None, vec![], now(), &mut rng).unwrap();
        let first = account.create_access_key("carol", now(), &mut rng).unwrap().clone();
        assert!(first.access_key_id.starts_with("AKIA") && first.secret_access_key.len() == 40);
        account.create_access_key("carol", now(), &mut rng).unwrap();
        assert_eq!(
            account.create_access_key("carol", now(), &mut rng).unwrap_err(),
            IamError::LimitExceeded("Cannot exceed quota for AccessKeysPerUser: 2".into())
        );
        account.update_access_key(&first.access_key_id, Some("carol"), AccessKeyStatus::Inactive).unwrap();
        assert_eq!(account.access_keys[&first.access_key_id].status, AccessKeyStatus::Inactive);
        assert_eq!(
            account.delete_access_key("AKIANOPE", None).unwrap_err().to_string(),
            "The Access Key with id AKIANOPE cannot be found."
        );
    }

    #[test]
    fn managed_policies_have_versions_and_attachments() {
        let mut account = account();
        let mut rng = rand::rng();
        let arn =
            account.create_policy("Reader", Some("/team/"), DOC, None, vec![], now(), &mut rng).unwrap().arn.clone();
        assert_eq!(arn, "arn:aws:iam::123456789012:policy/team/Reader");
        for _ in 0..4 {
            account.create_policy_version(&arn, DOC, false, now()).unwrap();
        }
        assert_eq!(account.create_policy_version(&arn, DOC, true, now()).unwrap_err().code(), "LimitExceeded");
        account.set_default_policy_version(&arn, "v3").unwrap();
        assert_eq!(account.delete_policy_version(&arn, "v3").unwrap_err().code(), "DeleteConflict");
        account.delete_policy_version(&arn, "v5").unwrap();
        assert_eq!(account.create_policy_version(&arn, DOC, false, now()).unwrap().version_id, "v6");
        account.create_role("r", None, TRUST, None, None, vec![], &|_| true, now(), &mut rng).unwrap();
        account.attach_policy(EntityKind::Role, "r", &arn).unwrap();
        assert_eq!(account.attachment_count(&arn), 1);
        assert_eq!(
            account.delete_policy(&arn).unwrap_err().to_string(),
            "Cannot delete a policy attached to entities."
        );
        assert_eq!(
            account.attach_policy(EntityKind::Role, "r", "arn:aws:iam::aws:policy/Nope").unwrap_err().to_string(),
            "Policy arn:aws:iam::aws:policy/Nope does not exist or is not attachable."
        );
        assert_eq!(
            account
                .detach_policy(EntityKind::Role, "r", "arn:aws:iam::aws:policy/ReadOnlyAccess")
                .unwrap_err()
                .to_string(),
            "Policy arn:aws:iam::aws:policy/ReadOnlyAccess was not found."
        );
    }

    #[test]
    fn roles_validate_trust_policies_and_session_durations() {
        let mut account = account();
        let mut rng = rand::rng();
        let unknown = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/nobody"},"Action":"sts:AssumeRole"}]}"#;
        let err = account
            .create_role("r", None, unknown, None, None, vec![], &|arn| !arn.ends_with("nobody"), now(), &mut rng)
            .unwrap_err();
        assert_eq!(err.to_string(), "Invalid principal in policy: \"AWS\":\"arn:aws:iam::123456789012:user/nobody\"");
        let err =
            account.create_role("r", None, TRUST, None, Some(100), vec![], &|_| true, now(), &mut rng).unwrap_err();
        assert_eq!(err.code(), "ValidationError");
        let role = account
            .create_role("r", Some("/ops/"), TRUST, Some("d"), None, vec![], &|_| true, now(), &mut rng)
            .unwrap();
        assert_eq!(role.arn, "arn:aws:iam::123456789012:role/ops/r");
        assert_eq!(role.max_session_duration, 3600);
        assert!(account.update_assume_role_policy("r", "{", &|_| true).is_err());
        assert_eq!(account.role("r").unwrap().assume_role_policy_document.text(), TRUST);
    }

    #[test]
    fn inline_policy_size_is_limited_per_entity() {
        let mut account = account();
        let mut rng = rand::rng();
        account.create_user("dan", None, vec![], now(), &mut rng).unwrap();
        let big = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}"}}]}}"#,
            "x".repeat(2100)
        );
        assert_eq!(
            account.put_inline_policy(EntityKind::User, "dan", "big", &big).unwrap_err().to_string(),
            "Maximum policy size of 2048 bytes exceeded for user dan"
        );
    }

    #[test]
    fn pages_follow_markers() {
        let items: Vec<(String, u32)> = (0..7).map(|i| (format!("k{i}"), i)).collect();
        let first = paginate(items.clone(), None, Some(3)).unwrap();
        assert_eq!(first.items, vec![0, 1, 2]);
        assert!(first.is_truncated);
        let second = paginate(items.clone(), first.marker.as_deref(), Some(3)).unwrap();
        assert_eq!(second.items, vec![3, 4, 5]);
        let last = paginate(items.clone(), second.marker.as_deref(), Some(3)).unwrap();
        assert_eq!(last.items, vec![6]);
        assert!(!last.is_truncated && last.marker.is_none());
        assert_eq!(paginate(items, None, Some(0)).unwrap_err().code(), "ValidationError");
    }
}
