//! Access entries: the model EKS keeps per IAM principal (type, username, Kubernetes groups,
//! associated access policies with their scope), EKS's validation of every access-entry API
//! call with its exceptions and messages, how an entry matches a caller, and the access-policy
//! authorizer over the entries.
//!
//! EKS matches an entry by the principal's unique ID (`AIDA…`/`AROA…`) recorded when the entry
//! was created, then checks the path-stripped ARN: role paths work, and a role deleted and
//! recreated under the same name no longer matches. Entries loaded from exported YAML (offline
//! analysis) carry no unique ID and match by ARN alone.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use aws_arn::Arn;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use rbac::Attributes;

use crate::access_policy::{self, namespace_matches};
use crate::arn::{Identity, strip_path};
use crate::error::Error;
use crate::mode::AuthenticationMode;

/// The `extra` key carrying the caller's principal ID, which EKS's access-policy authorizer
/// identifies the caller by.
pub const PRINCIPAL_ID_EXTRA: &str = "sigs.k8s.io/aws-iam-authenticator/principalId";

/// What an access entry is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccessEntryType {
    /// A user or role, with a username, groups and access policies of its choosing.
    #[default]
    Standard,
    /// The node role of Linux (or Bottlerocket) self-managed nodes.
    Ec2Linux,
    /// The node role of Windows self-managed nodes.
    Ec2Windows,
    /// The pod execution role of Fargate.
    FargateLinux,
    /// The node role of hybrid nodes.
    HybridLinux,
    /// The node role of EKS Auto Mode custom node classes.
    Ec2,
    /// The node role of SageMaker HyperPod nodes.
    HyperpodLinux,
}

impl AccessEntryType {
    const ALL: [AccessEntryType; 7] = [
        AccessEntryType::Standard,
        AccessEntryType::Ec2Linux,
        AccessEntryType::Ec2Windows,
        AccessEntryType::FargateLinux,
        AccessEntryType::HybridLinux,
        AccessEntryType::Ec2,
        AccessEntryType::HyperpodLinux,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessEntryType::Standard => "STANDARD",
            AccessEntryType::Ec2Linux => "EC2_LINUX",
            AccessEntryType::Ec2Windows => "EC2_WINDOWS",
            AccessEntryType::FargateLinux => "FARGATE_LINUX",
            AccessEntryType::HybridLinux => "HYBRID_LINUX",
            AccessEntryType::Ec2 => "EC2",
            AccessEntryType::HyperpodLinux => "HYPERPOD_LINUX",
        }
    }

    /// The username EKS sets for a node type (`None` for STANDARD, whose default depends on
    /// the principal).
    fn node_username(self) -> Option<&'static str> {
        match self {
            AccessEntryType::Standard => None,
            AccessEntryType::Ec2Linux | AccessEntryType::Ec2Windows | AccessEntryType::Ec2 => {
                Some("system:node:{{EC2PrivateDNSName}}")
            }
            AccessEntryType::FargateLinux | AccessEntryType::HybridLinux | AccessEntryType::HyperpodLinux => {
                Some("system:node:{{SessionName}}")
            }
        }
    }

    /// The groups EKS gives a node type's callers (STANDARD entries have their own).
    pub fn node_groups(self) -> &'static [&'static str] {
        match self {
            AccessEntryType::Standard => &[],
            AccessEntryType::Ec2Windows => &["system:bootstrappers", "system:nodes", "eks:kube-proxy-windows"],
            AccessEntryType::FargateLinux => &["system:bootstrappers", "system:nodes", "system:node-proxier"],
            AccessEntryType::Ec2Linux
            | AccessEntryType::HybridLinux
            | AccessEntryType::Ec2
            | AccessEntryType::HyperpodLinux => &["system:bootstrappers", "system:nodes"],
        }
    }
}

impl fmt::Display for AccessEntryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AccessEntryType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        AccessEntryType::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            let valid: Vec<&str> = AccessEntryType::ALL.iter().map(|t| t.as_str()).collect();
            Error::InvalidParameter(format!("The type {s} is invalid. Valid types are: {}", valid.join(", ")))
        })
    }
}

/// Where an associated access policy applies.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessScope {
    #[serde(rename = "type")]
    pub scope_type: AccessScopeType,
    #[serde(default)]
    pub namespaces: Vec<String>,
}

/// `cluster` or `namespace`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessScopeType {
    #[default]
    Cluster,
    Namespace,
}

impl AccessScope {
    /// The whole cluster.
    pub fn cluster() -> Self {
        AccessScope { scope_type: AccessScopeType::Cluster, namespaces: Vec::new() }
    }

    /// The namespaces matching these patterns.
    pub fn namespaces<S: Into<String>>(namespaces: impl IntoIterator<Item = S>) -> Self {
        AccessScope {
            scope_type: AccessScopeType::Namespace,
            namespaces: namespaces.into_iter().map(Into::into).collect(),
        }
    }

    /// The namespace pattern admitting a request in `namespace` ("" for cluster-scoped
    /// requests), or `Some("")` for the cluster scope.
    fn admits<'a>(&'a self, namespace: &str) -> Option<&'a str> {
        match self.scope_type {
            AccessScopeType::Cluster => Some(""),
            AccessScopeType::Namespace if namespace.is_empty() => None,
            AccessScopeType::Namespace => {
                self.namespaces.iter().find(|pattern| namespace_matches(pattern, namespace)).map(String::as_str)
            }
        }
    }

    fn validate(&self) -> Result<(), Error> {
        match self.scope_type {
            AccessScopeType::Namespace if self.namespaces.is_empty() => Err(Error::InvalidParameter(
                "At least one namespace must be specified when the access scope type is namespace.".into(),
            )),
            AccessScopeType::Cluster if !self.namespaces.is_empty() => Err(Error::InvalidParameter(
                "Namespaces can't be specified when the access scope type is cluster.".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// An access policy associated with an entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociatedAccessPolicy {
    pub policy_arn: String,
    pub access_scope: AccessScope,
    #[serde(default = "epoch")]
    pub associated_at: DateTime<Utc>,
    #[serde(default = "epoch")]
    pub modified_at: DateTime<Utc>,
}

fn epoch() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH
}

/// An access entry as EKS keeps it. Serialized with the EKS API's field names; fields EKS does
/// not show (the principal's unique ID, the associated policies) are extra.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessEntry {
    #[serde(default)]
    pub cluster_name: String,
    #[serde(alias = "principalARN")]
    pub principal_arn: String,
    #[serde(default)]
    pub kubernetes_groups: Vec<String>,
    #[serde(default)]
    pub access_entry_arn: String,
    #[serde(default = "epoch")]
    pub created_at: DateTime<Utc>,
    #[serde(default = "epoch")]
    pub modified_at: DateTime<Utc>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The username template (default filled in at creation).
    #[serde(default, alias = "kubernetesUsername")]
    pub username: String,
    #[serde(rename = "type", default)]
    pub entry_type: AccessEntryType,
    /// The principal's unique ID when the entry was created (`AIDA…`/`AROA…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_id: Option<String>,
    #[serde(default, alias = "accessPolicies")]
    pub associated_access_policies: Vec<AssociatedAccessPolicy>,
}

impl AccessEntry {
    /// The username template to use: the entry's, or the default EKS would have set.
    pub fn username_template(&self) -> String {
        if self.username.is_empty() {
            default_username(self.entry_type, &self.principal_arn)
        } else {
            self.username.clone()
        }
    }

    /// The groups a caller matched by this entry gets (templates not yet rendered).
    pub fn groups(&self) -> Vec<String> {
        match self.entry_type {
            AccessEntryType::Standard => self.kubernetes_groups.clone(),
            node => node.node_groups().iter().map(|g| g.to_string()).collect(),
        }
    }

    /// Whether this entry is the caller's: by unique ID and path-stripped ARN when the entry
    /// recorded an ID and the caller has one, else by path-stripped ARN alone. `Err` when the ID
    /// matches but the ARN does not (aws-iam-authenticator refuses such a caller), with its
    /// message.
    pub fn matches(&self, identity: &Identity) -> Result<bool, &'static str> {
        let arn_matches = strip_path(&self.principal_arn).eq_ignore_ascii_case(&identity.canonical_arn);
        match &self.principal_id {
            Some(id) if !identity.user_id.is_empty() => {
                if id != &identity.user_id {
                    Ok(false)
                } else if arn_matches {
                    Ok(true)
                } else {
                    Err("ARN does not match User ID")
                }
            }
            _ => Ok(arn_matches),
        }
    }
}

/// The username EKS sets when none is given.
pub fn default_username(entry_type: AccessEntryType, principal_arn: &str) -> String {
    if let Some(username) = entry_type.node_username() {
        return username.to_string();
    }
    match Arn::parse(principal_arn) {
        Ok(arn) if arn.service == "iam" && arn.resource.starts_with("role/") => {
            let name = arn.resource.rsplit('/').next().unwrap_or_default();
            format!("arn:{}:sts::{}:assumed-role/{name}/{{{{SessionName}}}}", arn.partition, arn.account_id)
        }
        _ => principal_arn.to_string(),
    }
}

/// A `CreateAccessEntry` request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateAccessEntry {
    pub principal_arn: String,
    #[serde(default)]
    pub kubernetes_groups: Option<Vec<String>>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(rename = "type", default)]
    pub entry_type: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// An `UpdateAccessEntry` request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateAccessEntry {
    #[serde(default)]
    pub kubernetes_groups: Option<Vec<String>>,
    #[serde(default)]
    pub username: Option<String>,
}

/// What EKS knows about the cluster and the principal when it creates an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryContext<'a> {
    pub cluster_name: &'a str,
    pub region: &'a str,
    /// The cluster's account.
    pub account_id: &'a str,
    /// The principal's unique ID, or `None` if IAM has no such principal.
    pub principal_id: Option<&'a str>,
    /// A unique suffix for the access entry ARN (EKS uses a UUID).
    pub unique_suffix: &'a str,
    pub now: DateTime<Utc>,
}

const RESERVED_USERNAME_PREFIXES: &[&str] = &["system:", "eks:", "aws:", "amazon:", "iam:"];

fn entry_not_found() -> Error {
    Error::ResourceNotFound(
        "The specified principalArn could not be found. You can view your available access entries with \
         'list-access-entries'."
            .into(),
    )
}

fn policy_not_found() -> Error {
    Error::ResourceNotFound("The specified policyArn could not be found.".into())
}

/// Checks a principal ARN: an IAM role (path allowed) or user; never an STS session or a
/// service-linked role.
fn check_principal_arn(principal_arn: &str) -> Result<Arn<'_>, Error> {
    let invalid = |reason: &str| Error::InvalidParameter(format!("The specified principalArn is invalid: {reason}."));
    let arn = Arn::parse(principal_arn).map_err(|_| invalid("invalid principal"))?;
    if arn.service != "iam" || !(arn.resource.starts_with("role/") || arn.resource.starts_with("user/")) {
        return Err(invalid("invalid principal"));
    }
    if arn.resource.starts_with("role/aws-service-role/") {
        return Err(invalid("access entries do not support service-linked roles"));
    }
    Ok(arn)
}

fn check_username(username: &str) -> Result<(), Error> {
    if let Some(prefix) = RESERVED_USERNAME_PREFIXES.iter().find(|prefix| username.starts_with(*prefix)) {
        return Err(Error::InvalidParameter(format!("The username must not begin with {prefix}")));
    }
    for placeholder in ["{{SessionName}}", "{{SessionNameRaw}}"] {
        if let Some(at) = username.find(placeholder)
            && !username[..at].contains(':')
        {
            return Err(Error::InvalidParameter(format!(
                "The username must contain a colon (:) before {placeholder}, for example :name{placeholder}."
            )));
        }
    }
    Ok(())
}

/// Node types take neither Kubernetes groups nor a username.
fn check_node_fields(entry_type: AccessEntryType, groups: &[String], username: Option<&str>) -> Result<(), Error> {
    if entry_type == AccessEntryType::Standard {
        return Ok(());
    }
    if !groups.is_empty() {
        return Err(Error::InvalidParameter(format!(
            "Kubernetes groups can't be specified for an access entry of type {entry_type}."
        )));
    }
    if username.is_some() {
        return Err(Error::InvalidParameter(format!(
            "A username can't be specified for an access entry of type {entry_type}."
        )));
    }
    Ok(())
}

fn check_groups(groups: &[String]) -> Result<(), Error> {
    for group in groups {
        if group.starts_with("system:") {
            return Err(Error::InvalidParameter(format!(
                "The kubernetes group name {group} is invalid, it cannot start with system:"
            )));
        }
        if group.is_empty() {
            return Err(Error::InvalidParameter("The kubernetes group name can't be empty.".into()));
        }
    }
    Ok(())
}

/// The access entries of one cluster, with EKS's API semantics.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccessEntries {
    entries: Vec<AccessEntry>,
}

impl AccessEntries {
    /// Entries as loaded (for offline analysis or from storage).
    pub fn new(entries: Vec<AccessEntry>) -> Self {
        AccessEntries { entries }
    }

    /// Every entry, in creation order.
    pub fn entries(&self) -> &[AccessEntry] {
        &self.entries
    }

    fn position(&self, principal_arn: &str) -> Option<usize> {
        self.entries.iter().position(|entry| entry.principal_arn == principal_arn)
    }

    fn entry_mut(&mut self, principal_arn: &str) -> Result<&mut AccessEntry, Error> {
        let at = self.position(principal_arn).ok_or_else(entry_not_found)?;
        Ok(&mut self.entries[at])
    }

    /// `CreateAccessEntry`.
    pub fn create(
        &mut self,
        mode: AuthenticationMode,
        request: CreateAccessEntry,
        context: &EntryContext<'_>,
    ) -> Result<&AccessEntry, Error> {
        mode.require_access_entries()?;
        let entry_type = match &request.entry_type {
            Some(name) => name.parse::<AccessEntryType>()?,
            None => AccessEntryType::Standard,
        };
        let principal = check_principal_arn(&request.principal_arn)?;
        let Some(principal_id) = context.principal_id else {
            return Err(Error::InvalidParameter("The specified principalArn is invalid: invalid principal.".into()));
        };
        let groups = request.kubernetes_groups.unwrap_or_default();
        let node_role_elsewhere =
            !principal.resource.starts_with("role/") || principal.account_id != context.account_id;
        if entry_type != AccessEntryType::Standard && node_role_elsewhere {
            return Err(Error::InvalidParameter(format!(
                "The principalArn of an access entry of type {entry_type} must be an IAM role in the cluster's \
                 account {}.",
                context.account_id
            )));
        }
        check_node_fields(entry_type, &groups, request.username.as_deref())?;
        check_groups(&groups)?;
        if let Some(username) = &request.username {
            check_username(username)?;
        }
        if self.position(&request.principal_arn).is_some() {
            return Err(Error::ResourceInUse(
                "The specified access entry resource is already in use on this cluster.".into(),
            ));
        }
        let kind = if principal.resource.starts_with("role/") { "role" } else { "user" };
        let name = principal.resource.rsplit('/').next().unwrap_or_default();
        let access_entry_arn = format!(
            "arn:{}:eks:{}:{}:access-entry/{}/{kind}/{}/{name}/{}",
            principal.partition,
            context.region,
            context.account_id,
            context.cluster_name,
            principal.account_id,
            context.unique_suffix
        );
        let username = request.username.unwrap_or_else(|| default_username(entry_type, &request.principal_arn));
        self.entries.push(AccessEntry {
            cluster_name: context.cluster_name.to_string(),
            principal_arn: request.principal_arn,
            kubernetes_groups: groups,
            access_entry_arn,
            created_at: context.now,
            modified_at: context.now,
            tags: request.tags,
            username,
            entry_type,
            principal_id: Some(principal_id.to_string()),
            associated_access_policies: Vec::new(),
        });
        Ok(self.entries.last().expect("just pushed"))
    }

    /// `DescribeAccessEntry`.
    pub fn describe(&self, mode: AuthenticationMode, principal_arn: &str) -> Result<&AccessEntry, Error> {
        mode.require_access_entries()?;
        self.position(principal_arn).map(|at| &self.entries[at]).ok_or_else(entry_not_found)
    }

    /// `ListAccessEntries`: principal ARNs, optionally only those with a given policy.
    pub fn list(&self, mode: AuthenticationMode, associated_policy_arn: Option<&str>) -> Result<Vec<&str>, Error> {
        mode.require_access_entries()?;
        if let Some(arn) = associated_policy_arn
            && access_policy::access_policy(arn).is_none()
        {
            return Err(policy_not_found());
        }
        Ok(self
            .entries
            .iter()
            .filter(|entry| {
                associated_policy_arn
                    .is_none_or(|arn| entry.associated_access_policies.iter().any(|policy| policy.policy_arn == arn))
            })
            .map(|entry| entry.principal_arn.as_str())
            .collect())
    }

    /// `UpdateAccessEntry`.
    pub fn update(
        &mut self,
        mode: AuthenticationMode,
        principal_arn: &str,
        request: UpdateAccessEntry,
        now: DateTime<Utc>,
    ) -> Result<&AccessEntry, Error> {
        mode.require_access_entries()?;
        let entry = self.entry_mut(principal_arn)?;
        check_node_fields(
            entry.entry_type,
            request.kubernetes_groups.as_deref().unwrap_or_default(),
            request.username.as_deref(),
        )?;
        if let Some(groups) = &request.kubernetes_groups {
            check_groups(groups)?;
        }
        if let Some(username) = &request.username {
            check_username(username)?;
        }
        if let Some(groups) = request.kubernetes_groups {
            entry.kubernetes_groups = groups;
        }
        if let Some(username) = request.username {
            entry.username = username;
        }
        entry.modified_at = now;
        Ok(entry)
    }

    /// `DeleteAccessEntry`.
    pub fn delete(&mut self, mode: AuthenticationMode, principal_arn: &str) -> Result<AccessEntry, Error> {
        mode.require_access_entries()?;
        let at = self.position(principal_arn).ok_or_else(entry_not_found)?;
        Ok(self.entries.remove(at))
    }

    /// `AssociateAccessPolicy`: associating a policy again replaces its scope.
    pub fn associate_policy(
        &mut self,
        mode: AuthenticationMode,
        principal_arn: &str,
        policy_arn: &str,
        scope: AccessScope,
        now: DateTime<Utc>,
    ) -> Result<&AssociatedAccessPolicy, Error> {
        mode.require_access_entries()?;
        let entry = self.entry_mut(principal_arn)?;
        if access_policy::access_policy(policy_arn).is_none() {
            return Err(policy_not_found());
        }
        if entry.entry_type != AccessEntryType::Standard {
            return Err(Error::InvalidParameter(format!(
                "Access policies can only be associated with access entries of type STANDARD, not {}.",
                entry.entry_type
            )));
        }
        scope.validate()?;
        let policies = &mut entry.associated_access_policies;
        match policies.iter().position(|policy| policy.policy_arn == policy_arn) {
            Some(at) => {
                policies[at].access_scope = scope;
                policies[at].modified_at = now;
                Ok(&policies[at])
            }
            None => {
                policies.push(AssociatedAccessPolicy {
                    policy_arn: policy_arn.to_string(),
                    access_scope: scope,
                    associated_at: now,
                    modified_at: now,
                });
                Ok(policies.last().expect("just pushed"))
            }
        }
    }

    /// `DisassociateAccessPolicy`.
    pub fn disassociate_policy(
        &mut self,
        mode: AuthenticationMode,
        principal_arn: &str,
        policy_arn: &str,
    ) -> Result<(), Error> {
        mode.require_access_entries()?;
        let entry = self.entry_mut(principal_arn)?;
        let at = entry
            .associated_access_policies
            .iter()
            .position(|policy| policy.policy_arn == policy_arn)
            .ok_or_else(policy_not_found)?;
        entry.associated_access_policies.remove(at);
        Ok(())
    }

    /// `ListAssociatedAccessPolicies`.
    pub fn associated_policies(
        &self,
        mode: AuthenticationMode,
        principal_arn: &str,
    ) -> Result<&[AssociatedAccessPolicy], Error> {
        Ok(&self.describe(mode, principal_arn)?.associated_access_policies)
    }

    /// What EKS does for the cluster creator when `bootstrapClusterCreatorAdminPermissions` is
    /// set and access entries are enabled (at creation in an API mode, or when the mode leaves
    /// CONFIG_MAP): a STANDARD entry for the creator's IAM principal (a role session becomes its
    /// role) with AmazonEKSClusterAdminPolicy on the whole cluster.
    pub fn bootstrap_cluster_creator(
        &mut self,
        mode: AuthenticationMode,
        creator_arn: &str,
        context: &EntryContext<'_>,
    ) -> Result<&AccessEntry, Error> {
        let principal_arn =
            crate::arn::canonicalize(creator_arn).map_or_else(|_| creator_arn.to_string(), |(_, canonical)| canonical);
        self.create(
            mode,
            CreateAccessEntry { principal_arn: principal_arn.clone(), ..CreateAccessEntry::default() },
            context,
        )?;
        let admin = format!("{}AmazonEKSClusterAdminPolicy", access_policy::ACCESS_POLICY_ARN_PREFIX);
        self.associate_policy(mode, &principal_arn, &admin, AccessScope::cluster(), context.now)?;
        self.describe(mode, &principal_arn)
    }

    /// The entry that is the caller's (see [`AccessEntry::matches`]).
    pub fn find(&self, identity: &Identity) -> Result<Option<&AccessEntry>, &'static str> {
        for entry in &self.entries {
            if entry.matches(identity)? {
                return Ok(Some(entry));
            }
        }
        Ok(None)
    }

    /// EKS's access-policy authorizer: allows a request when a policy associated with the
    /// caller's entry allows it within its scope; otherwise no opinion (RBAC decides). The
    /// caller is found by the principal ID and canonical ARN the authenticator put in the
    /// user's `extra`, so impersonated requests (which carry neither) get no opinion.
    pub fn authorize(&self, attributes: &Attributes) -> AccessPolicyDecision {
        let extra = |key: &str| attributes.user.extra.get(key).and_then(|values| values.first()).map(String::as_str);
        let (Some(principal_id), Some(canonical_arn)) = (extra(PRINCIPAL_ID_EXTRA), extra("canonicalArn")) else {
            return AccessPolicyDecision::NoOpinion;
        };
        let namespace = attributes.resource.as_ref().map_or("", |resource| resource.namespace.as_str());
        for entry in &self.entries {
            let id_matches = entry.principal_id.as_deref().is_none_or(|id| id == principal_id);
            if !id_matches || !strip_path(&entry.principal_arn).eq_ignore_ascii_case(canonical_arn) {
                continue;
            }
            for association in &entry.associated_access_policies {
                let Some(policy) = access_policy::access_policy(&association.policy_arn) else { continue };
                let Some(pattern) = association.access_scope.admits(namespace) else { continue };
                if policy.allowing_rule(attributes).is_none() {
                    continue;
                }
                let binding = if pattern.is_empty() {
                    format!("ClusterRoleBinding \"{}+{}\"", entry.principal_arn, association.policy_arn)
                } else {
                    format!("RoleBinding \"{}+{}/{namespace}\"", entry.principal_arn, association.policy_arn)
                };
                return AccessPolicyDecision::Allow(format!(
                    "EKS Access Policy: allowed by {binding} of ClusterRole \"{}\" to User \"{principal_id}\"",
                    association.policy_arn
                ));
            }
        }
        AccessPolicyDecision::NoOpinion
    }
}

/// What the access-policy authorizer says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessPolicyDecision {
    /// Allowed, with the reason kube-apiserver records (`authorization.k8s.io/reason`).
    Allow(String),
    /// Not allowed by any access policy: the next authorizer (RBAC) decides.
    NoOpinion,
}
