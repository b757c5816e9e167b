//! The RBAC object types of `rbac.authorization.k8s.io/v1` (Role, ClusterRole, RoleBinding,
//! ClusterRoleBinding and their parts) as serde types that round-trip the Kubernetes JSON.
//!
//! Unknown fields never break parsing: every object and its metadata keep what they do not model
//! in a flattened map, so an object read and written back is the same JSON value.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The API group of every RBAC kind, roleRef and User/Group subject.
pub const GROUP: &str = "rbac.authorization.k8s.io";
/// The `apiVersion` RBAC objects are served as.
pub const API_VERSION: &str = "rbac.authorization.k8s.io/v1";

/// The part of `metadata` RBAC reads; everything else (uid, resourceVersion, managedFields, ...)
/// is kept as-is in `rest`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectMeta {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "null_as_default")]
    pub annotations: BTreeMap<String, String>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// One rule of a role: verbs on resources of API groups (optionally only some names), or verbs on
/// non-resource URLs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    #[serde(default, deserialize_with = "null_as_default")]
    pub verbs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub api_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub resource_names: Vec<String>,
    #[serde(
        rename = "nonResourceURLs",
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub non_resource_urls: Vec<String>,
}

impl PolicyRule {
    /// A resource rule: `verbs` on `resources` in `api_groups`.
    pub fn resource(verbs: &[&str], api_groups: &[&str], resources: &[&str]) -> Self {
        PolicyRule {
            verbs: strings(verbs),
            api_groups: strings(api_groups),
            resources: strings(resources),
            ..PolicyRule::default()
        }
    }

    /// A non-resource rule: `verbs` on `urls`.
    pub fn non_resource(verbs: &[&str], urls: &[&str]) -> Self {
        PolicyRule { verbs: strings(verbs), non_resource_urls: strings(urls), ..PolicyRule::default() }
    }

    /// The same rule restricted to `names`.
    pub fn with_names(mut self, names: &[&str]) -> Self {
        self.resource_names = strings(names);
        self
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Who a binding grants to: a `User`, a `Group` or a `ServiceAccount`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
}

/// The subject kinds Kubernetes knows.
pub const USER_KIND: &str = "User";
pub const GROUP_KIND: &str = "Group";
pub const SERVICE_ACCOUNT_KIND: &str = "ServiceAccount";

impl Subject {
    pub fn user(name: &str) -> Self {
        Subject { kind: USER_KIND.into(), api_group: GROUP.into(), name: name.into(), namespace: String::new() }
    }
    pub fn group(name: &str) -> Self {
        Subject { kind: GROUP_KIND.into(), api_group: GROUP.into(), name: name.into(), namespace: String::new() }
    }
    pub fn service_account(namespace: &str, name: &str) -> Self {
        Subject {
            kind: SERVICE_ACCOUNT_KIND.into(),
            api_group: String::new(),
            name: name.into(),
            namespace: namespace.into(),
        }
    }

    /// v1 defaulting: User and Group subjects get the RBAC API group when they have none.
    pub fn apply_defaults(&mut self) {
        if self.api_group.is_empty() && (self.kind == USER_KIND || self.kind == GROUP_KIND) {
            self.api_group = GROUP.into();
        }
    }
}

/// The role a binding refers to: a `Role` (in the binding's namespace) or a `ClusterRole`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleRef {
    #[serde(default)]
    pub api_group: String,
    pub kind: String,
    pub name: String,
}

pub const ROLE_KIND: &str = "Role";
pub const CLUSTER_ROLE_KIND: &str = "ClusterRole";

impl RoleRef {
    pub fn role(name: &str) -> Self {
        RoleRef { api_group: GROUP.into(), kind: ROLE_KIND.into(), name: name.into() }
    }
    pub fn cluster_role(name: &str) -> Self {
        RoleRef { api_group: GROUP.into(), kind: CLUSTER_ROLE_KIND.into(), name: name.into() }
    }
}

/// A label selector as `metav1.LabelSelector`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "null_as_default")]
    pub match_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` entry: `key` `operator` (`In`, `NotIn`, `Exists`, `DoesNotExist`) `values`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelSelectorRequirement {
    pub key: String,
    pub operator: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub values: Vec<String>,
}

/// A ClusterRole's `aggregationRule`: its rules are the union of the cluster roles selected.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AggregationRule {
    #[serde(default, deserialize_with = "null_as_default")]
    pub cluster_role_selectors: Vec<LabelSelector>,
}

/// A namespaced set of rules.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    #[serde(default = "api_version")]
    pub api_version: String,
    #[serde(default = "role_kind")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    pub rules: Vec<PolicyRule>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A cluster-wide set of rules, possibly aggregated from other cluster roles.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRole {
    #[serde(default = "api_version")]
    pub api_version: String,
    #[serde(default = "cluster_role_kind")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_as_default")]
    pub rules: Vec<PolicyRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation_rule: Option<AggregationRule>,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// Grants a Role (of its namespace) or a ClusterRole to subjects, inside its namespace only.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleBinding {
    #[serde(default = "api_version")]
    pub api_version: String,
    #[serde(default = "role_binding_kind")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub subjects: Vec<Subject>,
    pub role_ref: RoleRef,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// Grants a ClusterRole to subjects in every namespace and at the cluster scope.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRoleBinding {
    #[serde(default = "api_version")]
    pub api_version: String,
    #[serde(default = "cluster_role_binding_kind")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub subjects: Vec<Subject>,
    pub role_ref: RoleRef,
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl Role {
    pub fn new(namespace: &str, name: &str, rules: Vec<PolicyRule>) -> Self {
        Role { api_version: api_version(), kind: role_kind(), metadata: meta(namespace, name), rules, rest: Map::new() }
    }
}

impl ClusterRole {
    pub fn new(name: &str, rules: Vec<PolicyRule>) -> Self {
        ClusterRole {
            api_version: api_version(),
            kind: cluster_role_kind(),
            metadata: meta("", name),
            rules,
            ..ClusterRole::default()
        }
    }
}

impl RoleBinding {
    pub fn new(namespace: &str, name: &str, role_ref: RoleRef, subjects: Vec<Subject>) -> Self {
        RoleBinding {
            api_version: api_version(),
            kind: role_binding_kind(),
            metadata: meta(namespace, name),
            subjects,
            role_ref,
            rest: Map::new(),
        }
    }

    /// v1 defaulting: the roleRef's and the User/Group subjects' API group.
    pub fn apply_defaults(&mut self) {
        default_binding(&mut self.role_ref, &mut self.subjects);
    }
}

impl ClusterRoleBinding {
    pub fn new(name: &str, role_ref: RoleRef, subjects: Vec<Subject>) -> Self {
        ClusterRoleBinding {
            api_version: api_version(),
            kind: cluster_role_binding_kind(),
            metadata: meta("", name),
            subjects,
            role_ref,
            rest: Map::new(),
        }
    }

    /// v1 defaulting: the roleRef's and the User/Group subjects' API group.
    pub fn apply_defaults(&mut self) {
        default_binding(&mut self.role_ref, &mut self.subjects);
    }
}

fn default_binding(role_ref: &mut RoleRef, subjects: &mut [Subject]) {
    if role_ref.api_group.is_empty() {
        role_ref.api_group = GROUP.into();
    }
    subjects.iter_mut().for_each(Subject::apply_defaults);
}

fn meta(namespace: &str, name: &str) -> ObjectMeta {
    ObjectMeta { name: name.into(), namespace: namespace.into(), ..ObjectMeta::default() }
}

fn api_version() -> String {
    API_VERSION.into()
}
fn role_kind() -> String {
    ROLE_KIND.into()
}
fn cluster_role_kind() -> String {
    CLUSTER_ROLE_KIND.into()
}
fn role_binding_kind() -> String {
    "RoleBinding".into()
}
fn cluster_role_binding_kind() -> String {
    "ClusterRoleBinding".into()
}

/// Go serializes nil slices and maps as `null`; read `null` as empty.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn role_round_trips_with_unknown_fields() {
        let input = json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "pod-reader", "namespace": "dev", "uid": "u-1", "resourceVersion": "42",
                         "managedFields": [{"manager": "kubectl"}], "labels": {"a": "b"}},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"], "futureField": 1}],
            "somethingNew": {"x": true}
        });
        let role: Role = serde_json::from_value(input.clone()).unwrap();
        assert_eq!(role.metadata.name, "pod-reader");
        assert_eq!(role.rules[0].verbs, ["get", "list"]);
        assert_eq!(role.metadata.rest["resourceVersion"], "42");
        let mut expected = input;
        // An unknown field inside a rule is the only thing not kept: rules are a closed type.
        expected["rules"][0].as_object_mut().unwrap().remove("futureField");
        assert_eq!(serde_json::to_value(&role).unwrap(), expected);
    }

    #[test]
    fn null_rules_and_subjects_parse_as_empty() {
        let cr: ClusterRole = serde_json::from_value(json!({
            "kind": "ClusterRole", "metadata": {"name": "admin", "labels": null},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"k": "v"}}]},
            "rules": null
        }))
        .unwrap();
        assert!(cr.rules.is_empty());
        assert_eq!(cr.aggregation_rule.unwrap().cluster_role_selectors[0].match_labels["k"], "v");
        let rb: RoleBinding = serde_json::from_value(json!({
            "kind": "RoleBinding", "metadata": {"name": "b", "namespace": "n"},
            "subjects": null, "roleRef": {"kind": "Role", "name": "r", "apiGroup": "rbac.authorization.k8s.io"}
        }))
        .unwrap();
        assert!(rb.subjects.is_empty());
    }

    #[test]
    fn binding_defaults_fill_api_groups() {
        let mut rb: RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": "b", "namespace": "n"},
            "subjects": [{"kind": "User", "name": "u"}, {"kind": "ServiceAccount", "name": "s"}],
            "roleRef": {"kind": "Role", "name": "r"}
        }))
        .unwrap();
        rb.apply_defaults();
        assert_eq!(rb.role_ref.api_group, GROUP);
        assert_eq!(rb.subjects[0].api_group, GROUP);
        assert_eq!(rb.subjects[1].api_group, "");
        assert_eq!(rb.kind, "RoleBinding");
    }
}
