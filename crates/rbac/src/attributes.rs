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
