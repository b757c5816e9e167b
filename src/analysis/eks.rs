//! IAM identities in the offline commands: what EKS would make of an IAM ARN, given the cluster's
//! aws-auth ConfigMap and access entries found among the manifests — `rampart auth whoami
//! --as-arn`, `rampart auth can-i --as-arn` (access policies ahead of RBAC, as EKS), and the IAM
//! principals `rampart who-can` lists. The mapping is `eks_auth::resolve`, the one the server
//! runs, so a malformed aws-auth loses exactly what EKS loses (with a warning saying so).
//!
//! Documents recognized among the manifests (docs/eks-authenticator.md, "Offline"):
//! - the `kube-system/aws-auth` ConfigMap (`kubectl get configmap aws-auth -n kube-system -o yaml`);
//! - `kind: AccessEntry` documents, Rampart's export form of an access entry with its policies
//!   (`principalArn`, `type`, `username`, `kubernetesGroups`, `accessPolicies: [{policyArn,
//!   accessScope: {type, namespaces}}]`);
//! - the aws CLI's own output as YAML or JSON: `aws eks describe-access-entry` (`accessEntry:`),
//!   `aws eks list-associated-access-policies` (`principalArn:` + `associatedAccessPolicies:`),
//!   and `aws eks describe-cluster` (`cluster.accessConfig.authenticationMode`).

use std::collections::BTreeMap;

use eks_auth::{
    AccessEntries, AccessEntry, AccessPolicyDecision, AssociatedAccessPolicy, AuthenticationMode, AwsAuth,
    ClusterAccess, Identity, KubernetesUser, MappedBy,
};
use rbac::{Attributes, UserInfo};
use serde_json::Value;

/// The EKS side of the manifests.
#[derive(Debug, Default)]
pub struct EksManifests {
    /// `kube-system/aws-auth`'s data.
    aws_auth: Option<BTreeMap<String, String>>,
    /// Access entries, one per principal ARN.
    entries: Vec<AccessEntry>,
    /// The mode a `describe-cluster` document gave.
    mode: Option<AuthenticationMode>,
}

/// A principal's access entry, as loaded (timestamps, which the analysis never needs and the
/// CLI prints in several forms, are dropped).
fn entry_from(value: &Value) -> Result<AccessEntry, String> {
    let mut value = value.clone();
    strip_times(&mut value);
    serde_json::from_value(value).map_err(|e| format!("AccessEntry: {e}"))
}

fn strip_times(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for key in ["createdAt", "modifiedAt", "associatedAt"] {
                map.remove(key);
            }
            map.values_mut().for_each(strip_times);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_times),
        _ => {}
    }
}

impl EksManifests {
    /// Takes `value` if it is one of the EKS documents; `Ok(false)` when it is not.
    pub fn add(&mut self, value: &Value) -> Result<bool, String> {
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or_default();
        let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        let namespace = value.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("kube-system");
        if kind == "ConfigMap" && name == "aws-auth" && namespace == "kube-system" {
            self.aws_auth = Some(kube_core::meta::string_map(value.get("data")));
            return Ok(true);
        }
        if kind == "AccessEntry" {
            self.put(entry_from(value)?);
            return Ok(true);
        }
        if let Some(entry) = value.get("accessEntry").filter(|v| v.is_object()) {
            let mut entry = entry_from(entry)?;
            if let Some(existing) = self.entries.iter().find(|e| e.principal_arn == entry.principal_arn) {
                entry.associated_access_policies = existing.associated_access_policies.clone();
            }
            self.put(entry);
            return Ok(true);
        }
        if let (Some(principal), Some(policies)) =
            (value.get("principalArn").and_then(Value::as_str), value.get("associatedAccessPolicies"))
        {
            let mut policies = policies.clone();
            strip_times(&mut policies);
            let policies: Vec<AssociatedAccessPolicy> =
                serde_json::from_value(policies).map_err(|e| format!("associatedAccessPolicies: {e}"))?;
            match self.entries.iter_mut().find(|e| e.principal_arn == principal) {
                Some(entry) => entry.associated_access_policies = policies,
                None => {
                    let mut entry = entry_from(&serde_json::json!({"principalArn": principal}))?;
                    entry.associated_access_policies = policies;
                    self.entries.push(entry);
                }
            }
            return Ok(true);
        }
        if let Some(mode) = value.pointer("/cluster/accessConfig/authenticationMode").and_then(Value::as_str) {
            self.mode = Some(mode.parse().map_err(|e: eks_auth::Error| e.to_string())?);
            return Ok(true);
        }
        Ok(false)
    }

    fn put(&mut self, entry: AccessEntry) {
        self.entries.retain(|e| e.principal_arn != entry.principal_arn);
        self.entries.push(entry);
    }

    /// Whether the manifests hold an aws-auth ConfigMap or an access entry.
    pub fn is_empty(&self) -> bool {
        self.aws_auth.is_none() && self.entries.is_empty()
    }

    /// The authentication mode: the flag's, else the one `describe-cluster` gave, else
    /// API_AND_CONFIG_MAP when there are access entries and CONFIG_MAP when there are none.
    pub fn mode(&self, flag: Option<AuthenticationMode>) -> AuthenticationMode {
        flag.or(self.mode).unwrap_or(if self.entries.is_empty() {
            AuthenticationMode::ConfigMap
        } else {
            AuthenticationMode::ApiAndConfigMap
        })
    }

    /// The aws-auth ConfigMap as EKS parses it, and warnings for what EKS drops of it.
    pub fn aws_auth(&self) -> (Option<AwsAuth>, Vec<String>) {
        let Some(data) = &self.aws_auth else { return (None, Vec::new()) };
        let parsed = AwsAuth::parse(data);
        let warnings = parsed
            .issues()
            .iter()
            .filter(|issue| issue.effect.loses_data())
            .map(|issue| format!("aws-auth {issue}"))
            .collect();
        (Some(parsed), warnings)
    }

    pub fn access_entries(&self) -> AccessEntries {
        AccessEntries::new(self.entries.clone())
    }
}

/// The key `rampart lint` locates an EKS document by: the aws-auth ConfigMap, or an access
/// entry by its principal ARN (`describe-cluster` output has none).
pub fn object_key(value: &Value) -> Option<super::manifests::ObjectKey> {
    if value.get("kind").and_then(Value::as_str) == Some("ConfigMap") {
        return Some(("ConfigMap", "kube-system".into(), "aws-auth".into()));
    }
    let principal =
        value.get("principalArn").or_else(|| value.pointer("/accessEntry/principalArn")).and_then(Value::as_str)?;
    Some(("AccessEntry", String::new(), principal.to_string()))
}

/// What EKS makes of an IAM ARN.
pub struct ResolvedArn {
    /// The user as the API server sees it (`system:authenticated` added), or the
    /// authenticator's error.
    pub user: Result<KubernetesUser, eks_auth::Error>,
    /// What EKS silently drops of the aws-auth ConfigMap.
    pub warnings: Vec<String>,
    /// The access entries, when the mode counts them (for the access-policy authorizer).
    pub access_entries: Option<AccessEntries>,
}

/// Resolves `arn` (the caller `GetCallerIdentity` would report: an `assumed-role` ARN carries
/// its session name) through the manifests, as the EKS authenticator would.
pub fn resolve(
    manifests: &EksManifests,
    arn: &str,
    access_key_id: &str,
    mode: Option<AuthenticationMode>,
) -> Result<ResolvedArn, eks_auth::Error> {
    let identity = Identity::for_arn(arn, access_key_id)?;
    let mode = manifests.mode(mode);
    let (aws_auth, warnings) = manifests.aws_auth();
    let entries = manifests.access_entries();
    let access = ClusterAccess { mode, access_entries: &entries, aws_auth: aws_auth.as_ref(), cluster_creator: None };
    // EC2 is not asked offline: the node name stays a template.
    let ec2 = |_: &str| Some("{{EC2PrivateDNSName}}".to_string());
    let user = eks_auth::resolve(&identity, &access, &ec2).map(|mut user| {
        user.user = kube_user(user.user);
        user
    });
    Ok(ResolvedArn { user, warnings, access_entries: mode.uses_access_entries().then_some(entries) })
}

/// The user kube-apiserver sees: `system:authenticated` added.
fn kube_user(mut user: UserInfo) -> UserInfo {
    if !user.groups.iter().any(|g| g == rbac::SYSTEM_AUTHENTICATED) {
        user.groups.push(rbac::SYSTEM_AUTHENTICATED.into());
    }
    user
}

/// Where a mapping came from, in words.
pub fn mapped_by(mapped_by: &MappedBy) -> String {
    match mapped_by {
        MappedBy::AccessEntry(principal) => format!("the access entry of {principal}"),
        MappedBy::ClusterCreator => "the cluster creator's mapping".into(),
        MappedBy::AwsAuthRole(line) => format!("aws-auth mapRoles, the entry on line {line}"),
        MappedBy::AwsAuthUser(line) => format!("aws-auth mapUsers, the entry on line {line}"),
        MappedBy::AwsAuthAccount => "aws-auth mapAccounts".into(),
    }
}

/// The access-policy authorizer's answer for `attributes`, when access entries count.
pub fn access_policy_decision(entries: Option<&AccessEntries>, attributes: &Attributes) -> Option<String> {
    match entries?.authorize(attributes) {
        AccessPolicyDecision::Allow(reason) => Some(reason),
        AccessPolicyDecision::NoOpinion => None,
    }
}

/// One IAM principal that gets a Kubernetes identity from the manifests.
pub struct Principal {
    /// The ARN (or `sso:` permission set) the mapping names.
    pub arn: String,
    /// The username template.
    pub username: String,
    pub groups: Vec<String>,
    /// Where the mapping is.
    pub source: String,
    /// For access entries: the entry (its policies).
    pub entry: Option<AccessEntry>,
}

/// Every principal the manifests map, as the mode counts them: access entries first, then
/// aws-auth `mapRoles` and `mapUsers`.
pub fn principals(manifests: &EksManifests, mode: Option<AuthenticationMode>) -> Vec<Principal> {
    let mode = manifests.mode(mode);
    let mut out = Vec::new();
    if mode.uses_access_entries() {
        for entry in &manifests.entries {
            out.push(Principal {
                arn: entry.principal_arn.clone(),
                username: entry.username_template(),
                groups: entry.groups(),
                source: "access entry".into(),
                entry: Some(entry.clone()),
            });
        }
    }
    if mode.uses_config_map()
        && let (Some(aws_auth), _) = manifests.aws_auth()
    {
        for role in aws_auth.roles() {
            let arn = match &role.sso {
                Some(sso) => format!("sso:{}*", sso.arn_prefix()),
                None => role.rolearn.clone(),
            };
            out.push(Principal {
                arn,
                username: role.username.clone(),
                groups: role.groups.clone(),
                source: format!("aws-auth mapRoles line {}", role.line),
                entry: None,
            });
        }
        for user in aws_auth.users() {
            out.push(Principal {
                arn: user.userarn.clone(),
                username: user.username.clone(),
                groups: user.groups.clone(),
                source: format!("aws-auth mapUsers line {}", user.line),
                entry: None,
            });
        }
    }
    out
}

/// The access policies of `entry` that allow `attributes` (asked as the entry's principal), each
/// as `<policy name> (<scope>)`.
pub fn allowing_policies(entry: &AccessEntry, attributes: &Attributes) -> Vec<String> {
    let mut allowed = Vec::new();
    for association in &entry.associated_access_policies {
        let single = AccessEntry { associated_access_policies: vec![association.clone()], ..entry.clone() };
        let mut attributes = attributes.clone();
        let principal_id = entry.principal_id.clone().unwrap_or_default();
        let canonical = eks_auth::strip_path(&entry.principal_arn);
        attributes.user.extra = BTreeMap::from([
            (eks_auth::PRINCIPAL_ID_EXTRA.to_string(), vec![principal_id]),
            ("canonicalArn".to_string(), vec![canonical]),
        ]);
        if matches!(AccessEntries::new(vec![single]).authorize(&attributes), AccessPolicyDecision::Allow(_)) {
            let name = association.policy_arn.rsplit('/').next().unwrap_or(&association.policy_arn);
            let scope = match association.access_scope.scope_type {
                eks_auth::AccessScopeType::Cluster => "cluster".to_string(),
                eks_auth::AccessScopeType::Namespace => {
                    format!("namespaces {}", association.access_scope.namespaces.join(","))
                }
            };
            allowed.push(format!("{name} ({scope})"));
        }
    }
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(documents: &[&str]) -> EksManifests {
        let mut manifests = EksManifests::default();
        for document in documents {
            let value: Value = serde_saphyr::from_str(document).unwrap();
            assert!(manifests.add(&value).unwrap(), "{document}");
        }
        manifests
    }

    const AWS_AUTH: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: aws-auth, namespace: kube-system}\ndata:\n  mapRoles: |\n    - rolearn: arn:aws:iam::111122223333:role/dev\n      username: dev:{{SessionName}}\n      groups: [developers]\n  mapUsers: |\n    - userarn: arn:aws:iam::111122223333:user/broken\n      groups: system:masters\n";

    #[test]
    fn arns_resolve_through_aws_auth_with_warnings_for_what_eks_drops() {
        let manifests = load(&[AWS_AUTH]);
        let resolved =
            resolve(&manifests, "arn:aws:sts::111122223333:assumed-role/dev/alice@example.com", "", None).unwrap();
        let user = resolved.user.unwrap();
        assert_eq!(user.user.name, "dev:alice-example.com");
        assert_eq!(user.user.groups, ["developers", "system:authenticated"]);
        assert_eq!(mapped_by(&user.mapped_by), "aws-auth mapRoles, the entry on line 1");
        assert_eq!(resolved.warnings.len(), 1, "{:?}", resolved.warnings);
        assert!(resolved.warnings[0].starts_with("aws-auth data.mapUsers line 2: groups must be a list"));
        let unmapped = resolve(&manifests, "arn:aws:iam::111122223333:user/nobody", "", None).unwrap();
        assert_eq!(unmapped.user.unwrap_err().to_string(), "identity is not mapped");
        assert!(resolve(&manifests, "not-an-arn", "", None).is_err());
    }

    #[test]
    fn access_entries_in_both_export_forms_count_ahead_of_aws_auth() {
        let entry = "kind: AccessEntry\nprincipalArn: arn:aws:iam::111122223333:role/dev\nkubernetesGroups: [viewers]\naccessPolicies:\n- policyArn: arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy\n  accessScope: {type: namespace, namespaces: [team-a]}\n";
        let manifests = load(&[AWS_AUTH, entry]);
        assert_eq!(manifests.mode(None), AuthenticationMode::ApiAndConfigMap);
        let resolved = resolve(&manifests, "arn:aws:sts::111122223333:assumed-role/dev/s", "", None).unwrap();
        let user = resolved.user.unwrap();
        assert_eq!(user.user.groups, ["viewers", "system:authenticated"]);
        let list = |ns: &str| {
            let mut attributes =
                Attributes::resource(user.user.clone(), "list", rbac::ResourceAttributes::new(ns, "", "configmaps"));
            attributes.user = user.user.clone();
            access_policy_decision(resolved.access_entries.as_ref(), &attributes)
        };
        assert!(list("team-a").unwrap().starts_with("EKS Access Policy: allowed by RoleBinding"));
        assert_eq!(list("team-b"), None);
        // In CONFIG_MAP mode the entry does not count.
        let config_map = resolve(
            &manifests,
            "arn:aws:sts::111122223333:assumed-role/dev/s",
            "",
            Some(AuthenticationMode::ConfigMap),
        )
        .unwrap();
        assert_eq!(config_map.user.unwrap().user.groups, ["developers", "system:authenticated"]);

        // The aws CLI's own outputs: describe-access-entry, then list-associated-access-policies.
        let described = "accessEntry:\n  clusterName: demo\n  principalArn: arn:aws:iam::111122223333:user/ops\n  kubernetesGroups: []\n  createdAt: 1795857385.25\n  username: ops\n  type: STANDARD\n";
        let policies = "clusterName: demo\nprincipalArn: arn:aws:iam::111122223333:user/ops\nassociatedAccessPolicies:\n- policyArn: arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy\n  accessScope: {type: cluster, namespaces: []}\n  associatedAt: '2026-11-28T09:00:00+00:00'\n";
        let cluster = "cluster:\n  name: demo\n  accessConfig: {authenticationMode: API}\n";
        let manifests = load(&[described, policies, cluster]);
        assert_eq!(manifests.mode(None), AuthenticationMode::Api);
        let principals = principals(&manifests, None);
        assert_eq!(principals.len(), 1);
        let delete =
            Attributes::resource(UserInfo::default(), "delete", rbac::ResourceAttributes::new("x", "", "secrets"));
        assert_eq!(
            allowing_policies(principals[0].entry.as_ref().unwrap(), &delete),
            ["AmazonEKSClusterAdminPolicy (cluster)"]
        );
    }
}
