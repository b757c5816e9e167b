//! The attributes an authorizer decides on: who asks (`UserInfo`) and what for (`Attributes`),
//! as Kubernetes' `authorizer.Attributes` carries them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An authenticated (or anonymous) user, as Kubernetes' `user.Info`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

/// What a request asks for: a resource request or a non-resource request, with the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributes {
    pub user: UserInfo,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`, or a
    /// special verb (`impersonate`, `bind`, `escalate`, ...); for non-resource requests the
    /// lower-cased HTTP method.
    pub verb: String,
    /// `Some` for a resource request, `None` for a non-resource request (then `path` is set).
    pub resource: Option<ResourceAttributes>,
    /// The URL path of a non-resource request (empty for resource requests).
    pub path: String,
}

/// The resource part of a request's attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceAttributes {
    pub namespace: String,
    pub api_group: String,
    pub api_version: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
}

/// The privileged group: its members are allowed everything by the API server's first authorizer,
/// before RBAC is asked.
pub const SYSTEM_MASTERS: &str = "system:masters";
/// Added by authentication (and impersonation) to every authenticated user.
pub const SYSTEM_AUTHENTICATED: &str = "system:authenticated";
/// The group of the anonymous user.
pub const SYSTEM_UNAUTHENTICATED: &str = "system:unauthenticated";
/// The anonymous user's name.
pub const ANONYMOUS: &str = "system:anonymous";
/// The prefix of a service account's user name: `system:serviceaccount:<namespace>:<name>`.
pub const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

impl UserInfo {
    /// A user with a name and groups, as given (no group is added).
    pub fn new(name: &str, groups: &[&str]) -> Self {
        UserInfo { name: name.into(), groups: groups.iter().map(|g| g.to_string()).collect(), ..UserInfo::default() }
    }

    /// Whether the user is in `system:masters`, which the API server allows everything.
    pub fn is_privileged(&self) -> bool {
        self.groups.iter().any(|g| g == SYSTEM_MASTERS)
    }

    /// The identity kube-apiserver gives an impersonated user: a service account name without
    /// groups gets `system:serviceaccounts` and `system:serviceaccounts:<ns>`; then
    /// `system:authenticated` is added unless the user is anonymous or a group already says
    /// (un)authenticated, and `system:unauthenticated` is added for the anonymous user.
    pub fn impersonated(name: &str, groups: &[String]) -> Self {
        let mut groups = groups.to_vec();
        if groups.is_empty()
            && let Some((namespace, _)) = name.strip_prefix(SERVICE_ACCOUNT_PREFIX).and_then(|r| r.split_once(':'))
        {
            groups.push("system:serviceaccounts".into());
            groups.push(format!("system:serviceaccounts:{namespace}"));
        }
        let has = |groups: &[String], g: &str| groups.iter().any(|x| x == g);
        if name == ANONYMOUS {
            if !has(&groups, SYSTEM_UNAUTHENTICATED) {
                groups.push(SYSTEM_UNAUTHENTICATED.into());
            }
        } else if !has(&groups, SYSTEM_AUTHENTICATED) && !has(&groups, SYSTEM_UNAUTHENTICATED) {
            groups.push(SYSTEM_AUTHENTICATED.into());
        }
        UserInfo { name: name.into(), groups, ..UserInfo::default() }
    }
}

impl Attributes {
    /// A resource request.
    pub fn resource(user: UserInfo, verb: &str, resource: ResourceAttributes) -> Self {
        Attributes { user, verb: verb.into(), resource: Some(resource), path: String::new() }
    }

    /// A non-resource request (`verb` is the lower-cased HTTP method).
    pub fn non_resource(user: UserInfo, verb: &str, path: &str) -> Self {
        Attributes { user, verb: verb.into(), resource: None, path: path.into() }
    }

    /// The request's namespace (`""` for cluster-scoped, all-namespaces and non-resource requests).
    pub fn namespace(&self) -> &str {
        self.resource.as_ref().map_or("", |r| r.namespace.as_str())
    }
}

impl ResourceAttributes {
    /// `resource` in `api_group`, in `namespace` (`""`: cluster scope), any name.
    pub fn new(namespace: &str, api_group: &str, resource: &str) -> Self {
        ResourceAttributes {
            namespace: namespace.into(),
            api_group: api_group.into(),
            resource: resource.into(),
            ..ResourceAttributes::default()
        }
    }

    pub fn with_subresource(mut self, subresource: &str) -> Self {
        self.subresource = subresource.into();
        self
    }

    pub fn with_name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impersonation_groups() {
        let sa = UserInfo::impersonated("system:serviceaccount:dev:builder", &[]);
        assert_eq!(sa.groups, ["system:serviceaccounts", "system:serviceaccounts:dev", "system:authenticated"]);
        let anon = UserInfo::impersonated(ANONYMOUS, &[]);
        assert_eq!(anon.groups, [SYSTEM_UNAUTHENTICATED]);
        let given = UserInfo::impersonated("jane", &["dev".to_string()]);
        assert_eq!(given.groups, ["dev", SYSTEM_AUTHENTICATED]);
        assert!(!given.is_privileged());
        assert!(UserInfo::new("a", &[SYSTEM_MASTERS]).is_privileged());
    }
}
