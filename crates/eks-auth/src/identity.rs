//! Identity resolution: from a verified caller to the Kubernetes user EKS gives it, as one
//! function the API server and the offline CLI (`rampart auth whoami --as-arn`) both call.
//!
//! The sources are tried as aws-iam-authenticator's mapper chain tries its backends: first the
//! `DynamicFile` backend (EKS's access entries, or in CONFIG_MAP mode the cluster creator's
//! hidden mapping), then the `EKSConfigMap` backend (aws-auth), as the authentication mode
//! allows; the first that maps the caller wins, and each backend's `mapAccounts` is consulted
//! right after it. Username and group templates are then rendered.

use std::borrow::Cow;
use std::collections::BTreeMap;

use aws_arn::Arn;
use rbac::UserInfo;

use crate::access_entry::{AccessEntries, PRINCIPAL_ID_EXTRA};
use crate::arn::Identity;
use crate::aws_auth::{AwsAuth, AwsAuthMatch};
use crate::error::{AwsAuthIssue, Error};
use crate::mode::AuthenticationMode;

/// The username EKS gives the cluster creator in CONFIG_MAP mode (its mapping is not in
/// aws-auth and cannot be edited).
pub const CLUSTER_CREATOR_USERNAME: &str = "kubernetes-admin";

/// Answers `{{EC2PrivateDNSName}}`: the private DNS name of an EC2 instance (EKS calls
/// `ec2:DescribeInstances`). Any `Fn(&str) -> Option<String>` is one.
pub trait Ec2Instances {
    fn private_dns_name(&self, instance_id: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Ec2Instances for F {
    fn private_dns_name(&self, instance_id: &str) -> Option<String> {
        self(instance_id)
    }
}

/// What a cluster knows about who may authenticate.
#[derive(Clone, Copy, Debug)]
pub struct ClusterAccess<'a> {
    pub mode: AuthenticationMode,
    pub access_entries: &'a AccessEntries,
    /// The parsed `kube-system/aws-auth` ConfigMap, if it exists.
    pub aws_auth: Option<&'a AwsAuth>,
    /// The IAM ARN of the cluster creator, mapped to `system:masters` in CONFIG_MAP mode when
    /// `bootstrapClusterCreatorAdminPermissions` was set (in the API modes the creator has an
    /// access entry instead).
    pub cluster_creator: Option<&'a str>,
}

/// Which source mapped the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MappedBy {
    /// The access entry of this principal ARN.
    AccessEntry(String),
    /// The cluster creator's hidden CONFIG_MAP-mode mapping.
    ClusterCreator,
    /// The aws-auth `mapRoles` entry on this line.
    AwsAuthRole(usize),
    /// The aws-auth `mapUsers` entry on this line.
    AwsAuthUser(usize),
    /// The account's line in aws-auth `mapAccounts` (the caller's ARN becomes its username).
    AwsAuthAccount,
}

/// The Kubernetes user a caller becomes, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubernetesUser {
    /// Username, UID, groups (without `system:authenticated`, which kube-apiserver adds) and the
    /// `extra` EKS sets: `accessKeyId`, `arn`, `canonicalArn`, `principalId`, `sessionName` and
    /// `sigs.k8s.io/aws-iam-authenticator/principalId`.
    pub user: UserInfo,
    pub mapped_by: MappedBy,
}

/// A backend's answer: username and group templates (borrowed from aws-auth when they come
/// from there), and their source.
struct Mapping<'a> {
    username: Cow<'a, str>,
    groups: Cow<'a, [String]>,
    mapped_by: MappedBy,
}

const DYNAMIC_FILE: &str = "DynamicFile";
const EKS_CONFIG_MAP: &str = "EKSConfigMap";

/// Maps a verified caller to its Kubernetes user, or fails as aws-iam-authenticator fails
/// (`identity is not mapped`, or the backend's error).
pub fn resolve(
    identity: &Identity,
    access: &ClusterAccess<'_>,
    ec2: &dyn Ec2Instances,
) -> Result<KubernetesUser, Error> {
    let mut errors = Vec::new();
    let backends = [
        (access.mode.uses_access_entries() || access.cluster_creator.is_some()).then_some(DYNAMIC_FILE),
        access.mode.uses_config_map().then_some(EKS_CONFIG_MAP),
    ];
    for backend in backends.into_iter().flatten() {
        let mapped = match backend {
            DYNAMIC_FILE => map_dynamic_file(identity, access),
            _ => Ok(access.aws_auth.and_then(|aws_auth| aws_auth.lookup(&identity.canonical_arn)).map(|found| {
                let mapped_by = match found {
                    AwsAuthMatch::Role(role) => MappedBy::AwsAuthRole(role.line),
                    AwsAuthMatch::User(user) => MappedBy::AwsAuthUser(user.line),
                };
                Mapping { username: Cow::Borrowed(found.username()), groups: Cow::Borrowed(found.groups()), mapped_by }
            })),
        };
        match mapped {
            Ok(Some(mapping)) => {
                let rendered = render_mapping(&mapping, identity, ec2)
                    .map_err(|e| Error::Mapping(format!("mapper {backend} renderTemplates error: {e}")))?;
                return Ok(user(identity, rendered.0, rendered.1, mapping.mapped_by));
            }
            Ok(None) => {}
            Err(message) => errors.push(format!("mapper {backend} Map error: {message}")),
        }
        let account_allowed = backend == EKS_CONFIG_MAP
            && access.aws_auth.is_some_and(|aws_auth| aws_auth.allows_account(&identity.account_id));
        if account_allowed {
            return Ok(user(identity, identity.canonical_arn.clone(), Vec::new(), MappedBy::AwsAuthAccount));
        }
    }
    match errors.len() {
        0 => Err(Error::NotMapped),
        1 => Err(Error::Mapping(errors.remove(0))),
        _ => Err(Error::Mapping(format!("[{}]", errors.join(", ")))),
    }
}

/// Rampart's admission check for a write of `kube-system/aws-auth` (beyond EKS, which accepts
/// anything and silently drops what does not parse): refuses a ConfigMap whose `mapRoles`,
/// `mapUsers` or `mapAccounts` EKS would partly drop (naming key and line), and one that would
/// take away the cluster creator's access. `access` describes the cluster as it is, its
/// `aws_auth` the ConfigMap being replaced. Returns the parsed ConfigMap and the advisories to
/// show as warnings.
pub fn admit_aws_auth(
    data: &BTreeMap<String, String>,
    access: &ClusterAccess<'_>,
    creator_arn: Option<&str>,
) -> Result<(AwsAuth, Vec<AwsAuthIssue>), Error> {
    let (aws_auth, warnings) = AwsAuth::validate(data)?;
    if let Some(creator_arn) = creator_arn
        && access.mode.uses_config_map()
    {
        // A role creator is checked as one of its sessions would be.
        let creator = Identity::for_arn(&creator_session_arn(creator_arn), "")?;
        let no_ec2 = |_: &str| None;
        let had_access = resolve(&creator, access, &no_ec2).is_ok();
        let after = ClusterAccess { aws_auth: Some(&aws_auth), ..*access };
        if had_access && let Err(error) = resolve(&creator, &after, &no_ec2) {
            return Err(Error::CreatorLockedOut { creator: creator_arn.to_string(), reason: error.to_string() });
        }
    }
    Ok((aws_auth, warnings))
}

/// `arn:P:iam::A:role/path/Name` → `arn:P:sts::A:assumed-role/Name/rampart-admission-check`; other
/// ARNs as they are.
fn creator_session_arn(creator_arn: &str) -> String {
    match Arn::parse(creator_arn) {
        Ok(arn) if arn.service == "iam" && arn.resource.starts_with("role/") => {
            let name = arn.resource.rsplit('/').next().unwrap_or_default();
            format!("arn:{}:sts::{}:assumed-role/{name}/rampart-admission-check", arn.partition, arn.account_id)
        }
        _ => creator_arn.to_string(),
    }
}

/// The `DynamicFile` backend: access entries (API modes) or the creator's hidden mapping
/// (CONFIG_MAP mode).
fn map_dynamic_file<'a>(identity: &Identity, access: &ClusterAccess<'a>) -> Result<Option<Mapping<'a>>, &'static str> {
    if access.mode.uses_access_entries() {
        return Ok(access.access_entries.find(identity)?.map(|entry| Mapping {
            username: Cow::Owned(entry.username_template()),
            groups: Cow::Owned(entry.groups()),
            mapped_by: MappedBy::AccessEntry(entry.principal_arn.clone()),
        }));
    }
    let is_creator =
        access.cluster_creator.is_some_and(|creator| creator.eq_ignore_ascii_case(&identity.canonical_arn));
    Ok(is_creator.then(|| Mapping {
        username: Cow::Borrowed(CLUSTER_CREATOR_USERNAME),
        groups: Cow::Owned(vec!["system:masters".to_string()]),
        mapped_by: MappedBy::ClusterCreator,
    }))
}

fn render_mapping(
    mapping: &Mapping<'_>,
    identity: &Identity,
    ec2: &dyn Ec2Instances,
) -> Result<(String, Vec<String>), String> {
    let username = render_template(&mapping.username, identity, ec2)
        .map_err(|e| format!("error rendering username template {:?}: {e}", mapping.username))?;
    let groups = mapping
        .groups
        .iter()
        .map(|group| {
            render_template(group, identity, ec2).map_err(|e| format!("error rendering group template {group:?}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    Ok((username, groups))
}

/// Renders `{{EC2PrivateDNSName}}`, `{{AccountID}}`, `{{SessionName}}` (with `@` as `-`),
/// `{{SessionNameRaw}}` and `{{AccessKeyID}}`, in aws-iam-authenticator's order; other
/// `{{…}}` stay as written.
pub fn render_template(template: &str, identity: &Identity, ec2: &dyn Ec2Instances) -> Result<String, String> {
    let mut out = template.to_string();
    if out.contains("{{EC2PrivateDNSName}}") {
        if !is_instance_id(&identity.session_name) {
            return Err("SessionName did not contain an instance id".to_string());
        }
        let id = &identity.session_name;
        let dns_name = ec2.private_dns_name(id).ok_or_else(|| {
            format!(
                "failed querying private DNS from EC2 API for node {id}: operation error EC2: DescribeInstances, api \
                 error InvalidInstanceID.NotFound: The instance ID '{id}' does not exist"
            )
        })?;
        out = out.replace("{{EC2PrivateDNSName}}", &dns_name);
    }
    if out.contains("{{") {
        // One replacement after the other, as the authenticator's strings.Replace calls (a
        // value put in may complete a later placeholder); each only when its placeholder is there.
        for placeholder in ["{{AccountID}}", "{{SessionName}}", "{{SessionNameRaw}}", "{{AccessKeyID}}"] {
            if !out.contains(placeholder) {
                continue;
            }
            let value = match placeholder {
                "{{AccountID}}" => Cow::Borrowed(identity.account_id.as_str()),
                "{{SessionName}}" => Cow::Owned(identity.session_name.replace('@', "-")),
                "{{SessionNameRaw}}" => Cow::Borrowed(identity.session_name.as_str()),
                _ => Cow::Borrowed(identity.access_key_id.as_str()),
            };
            out = out.replace(placeholder, &value);
        }
    }
    Ok(out)
}

/// `^i-(\w{8}|\w{17})$`.
fn is_instance_id(session_name: &str) -> bool {
    session_name.strip_prefix("i-").is_some_and(|id| {
        (id.len() == 8 || id.len() == 17) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

fn user(identity: &Identity, name: String, groups: Vec<String>, mapped_by: MappedBy) -> KubernetesUser {
    let mut extra = BTreeMap::new();
    for (key, value) in [
        ("accessKeyId", &identity.access_key_id),
        ("arn", &identity.arn),
        ("canonicalArn", &identity.canonical_arn),
        ("principalId", &identity.user_id),
        ("sessionName", &identity.session_name),
        (PRINCIPAL_ID_EXTRA, &identity.user_id),
    ] {
        extra.insert(key.to_string(), vec![value.clone()]);
    }
    let uid = format!("aws-iam-authenticator:{}:{}", identity.account_id, identity.user_id);
    KubernetesUser { user: UserInfo { name, uid, groups, extra }, mapped_by }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arn::Caller;

    fn role_session(session: &str) -> Identity {
        let caller = Caller {
            arn: format!("arn:aws:sts::111122223333:assumed-role/node/{session}"),
            account: "111122223333".into(),
            user_id: format!("AROANODE:{session}"),
        };
        Identity::from_caller(&caller, "ASIAKEY", "sts.amazonaws.com").unwrap()
    }

    fn no_ec2(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn templates_render_as_the_authenticator_renders_them() {
        let identity = role_session("alice@example.com");
        let rendered = render_template(
            "{{AccountID}}:{{SessionName}}:{{SessionNameRaw}}:{{AccessKeyID}}:{{Unknown}}",
            &identity,
            &no_ec2,
        )
        .unwrap();
        assert_eq!(rendered, "111122223333:alice-example.com:alice@example.com:ASIAKEY:{{Unknown}}");
        // The replacements run one after the other, as strings.Replace calls: a session named
        // AccessKeyID completes the placeholder the last one fills.
        let tricky = role_session("AccessKeyID");
        assert_eq!(render_template("{{{{SessionName}}}}", &tricky, &no_ec2).unwrap(), "ASIAKEY");
        assert_eq!(render_template("{{{{SessionNameRaw}}}}", &tricky, &no_ec2).unwrap(), "ASIAKEY");
        assert_eq!(render_template("plain", &tricky, &no_ec2).unwrap(), "plain");
        assert_eq!(
            render_template("system:node:{{EC2PrivateDNSName}}", &identity, &no_ec2).unwrap_err(),
            "SessionName did not contain an instance id"
        );
        let node = role_session("i-0123456789abcdef0");
        let ec2 = |id: &str| (id == "i-0123456789abcdef0").then(|| "ip-10-0-0-1.ec2.internal".to_string());
        assert_eq!(
            render_template("system:node:{{EC2PrivateDNSName}}", &node, &ec2).unwrap(),
            "system:node:ip-10-0-0-1.ec2.internal"
        );
        assert!(
            render_template("system:node:{{EC2PrivateDNSName}}", &node, &no_ec2)
                .unwrap_err()
                .contains("InvalidInstanceID.NotFound")
        );
    }

    #[test]
    fn instance_ids_are_eight_or_seventeen_word_characters() {
        assert!(is_instance_id("i-01234567"));
        assert!(is_instance_id("i-0123456789abcdef0"));
        assert!(!is_instance_id("i-0123456"));
        assert!(!is_instance_id("i-0123456789abcdef"));
        assert!(!is_instance_id("x-01234567"));
    }
}
