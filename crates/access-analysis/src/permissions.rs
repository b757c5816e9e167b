//! Effective permissions as sets of atoms: one (verb, API group, resource, name, namespace) per
//! thing a subject may do, from every binding that names it, so two configurations compare as
//! sets. A ClusterRoleBinding's atoms carry namespace `*` (everywhere); a non-resource URL is an
//! atom with the URL as its resource and no group or namespace.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use eks_auth::{AccessEntry, AccessScopeType};
use rbac::{Authorizer, PolicyRule, SERVICE_ACCOUNT_KIND, Subject};
use serde::Serialize;

use crate::risk::{Risk, risks_of};

/// Namespace of a permission granted everywhere (a ClusterRoleBinding, an access policy at
/// cluster scope, `system:masters`).
pub const EVERYWHERE: &str = "*";

/// One thing a subject may do.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Permission {
    /// `""` for everywhere-in-a-namespace as well as cluster-scoped: see `namespace`.
    pub namespace: String,
    pub verb: String,
    #[serde(rename = "apiGroup")]
    pub api_group: String,
    /// `resource[/subresource]`, or a non-resource URL (starting with `/`).
    pub resource: String,
    /// A resource name, `""` for every name.
    #[serde(rename = "resourceName", skip_serializing_if = "String::is_empty")]
    pub name: String,
}

impl Permission {
    /// The permission as a one-verb rule (to ask which risks it carries).
    pub fn rule(&self) -> PolicyRule {
        if self.resource.starts_with('/') {
            return PolicyRule::non_resource(&[&self.verb], &[&self.resource]);
        }
        let rule = PolicyRule::resource(&[&self.verb], &[&self.api_group], &[&self.resource]);
        if self.name.is_empty() { rule } else { rule.with_names(&[&self.name]) }
    }

    /// The risks it carries where it is granted.
    pub fn risks(&self) -> Vec<Risk> {
        let namespace = if self.namespace == EVERYWHERE { "" } else { &self.namespace };
        risks_of(&self.rule()).filter(|r| r.applies_in(namespace)).collect()
    }
}

impl std::fmt::Display for Permission {
    /// `verb resource[.group][/sub][/name] in NAMESPACE` (`cluster-wide` for `*`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (resource, sub) = match self.resource.split_once('/') {
            Some((r, s)) if !self.resource.starts_with('/') => (r, Some(s)),
            _ => (self.resource.as_str(), None),
        };
        write!(f, "{} {resource}", self.verb)?;
        if !self.api_group.is_empty() {
            write!(f, ".{}", self.api_group)?;
        }
        if let Some(sub) = sub {
            write!(f, "/{sub}")?;
        }
        if !self.name.is_empty() {
            write!(f, " {:?}", self.name)?;
        }
        match self.namespace.as_str() {
            "" => Ok(()),
            EVERYWHERE => write!(f, " cluster-wide"),
            ns => write!(f, " in {ns}"),
        }
    }
}

/// A set of permissions.
pub type Permissions = BTreeSet<Permission>;

/// The atoms of `rules` granted in `namespace`.
pub fn atoms(rules: &[PolicyRule], namespace: &str) -> Vec<Permission> {
    let mut out = Vec::new();
    for rule in rules {
        for atom in rbac::rule::breakdown(rule) {
            let first = |v: &[String]| v.first().cloned().unwrap_or_default();
            if let Some(url) = atom.non_resource_urls.first() {
                out.push(Permission {
                    namespace: String::new(),
                    verb: first(&atom.verbs),
                    api_group: String::new(),
                    resource: url.clone(),
                    name: String::new(),
                });
            } else {
                out.push(Permission {
                    namespace: namespace.to_string(),
                    verb: first(&atom.verbs),
                    api_group: first(&atom.api_groups),
                    resource: first(&atom.resources),
                    name: first(&atom.resource_names),
                });
            }
        }
    }
    out
}

/// `User alice`, `Group developers`, `ServiceAccount ns/name` (the binding's namespace when the
/// subject names none).
pub fn subject_key(subject: &Subject, binding_namespace: &str) -> String {
    if subject.kind == SERVICE_ACCOUNT_KIND {
        let ns = if subject.namespace.is_empty() { binding_namespace } else { &subject.namespace };
        format!("ServiceAccount {ns}/{}", subject.name)
    } else {
        format!("{} {}", subject.kind, subject.name)
    }
}

/// Every subject's permissions, through the bindings the authorizer holds (a binding to a
/// missing role grants nothing).
pub fn by_subject(authorizer: &Authorizer) -> BTreeMap<String, Permissions> {
    let mut out: BTreeMap<String, Permissions> = BTreeMap::new();
    // Many bindings share a role: its atoms are computed once per (role, namespace).
    let mut cache: HashMap<(*const PolicyRule, String), Arc<Vec<Permission>>> = HashMap::new();
    for (binding, rules) in authorizer.bindings() {
        let Ok(rules) = rules else { continue };
        let namespace = if binding.is_cluster_role_binding() { EVERYWHERE } else { binding.namespace.as_str() };
        let atoms = cache
            .entry((rules.as_ptr(), namespace.to_string()))
            .or_insert_with(|| Arc::new(atoms(&rules, namespace)))
            .clone();
        for subject in &binding.subjects {
            out.entry(subject_key(subject, &binding.namespace)).or_default().extend(atoms.iter().cloned());
        }
    }
    out
}

/// What an IAM principal may do: the permissions of its username and groups (and of
/// `system:authenticated`), of its access entry's access policies within their scopes, and
/// everything for `system:masters`.
pub fn of_principal(
    username: &str,
    groups: &[String],
    entry: Option<&AccessEntry>,
    subjects: &BTreeMap<String, Permissions>,
) -> Permissions {
    let mut out = Permissions::new();
    if groups.iter().any(|g| g == rbac::SYSTEM_MASTERS) {
        out.insert(Permission {
            namespace: EVERYWHERE.into(),
            verb: "*".into(),
            api_group: "*".into(),
            resource: "*".into(),
            name: String::new(),
        });
    }
    let keys = std::iter::once(format!("User {username}"))
        .chain(groups.iter().map(|g| format!("Group {g}")))
        .chain(std::iter::once(format!("Group {}", rbac::SYSTEM_AUTHENTICATED)));
    for key in keys {
        if let Some(permissions) = subjects.get(&key) {
            out.extend(permissions.iter().cloned());
        }
    }
    for association in entry.map(|e| e.associated_access_policies.as_slice()).unwrap_or_default() {
        let Some(policy) = eks_auth::access_policy(&association.policy_arn) else { continue };
        match association.access_scope.scope_type {
            AccessScopeType::Cluster => out.extend(atoms(&policy.rules, EVERYWHERE)),
            AccessScopeType::Namespace => {
                for ns in &association.access_scope.namespaces {
                    out.extend(atoms(&policy.rules, ns));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbac::{RoleBinding, RoleRef};

    #[test]
    fn atoms_per_binding_and_display() {
        let role = rbac::Role {
            metadata: rbac::ObjectMeta { name: "r".into(), namespace: "team".into(), ..Default::default() },
            rules: vec![PolicyRule::resource(&["get", "list"], &["", "apps"], &["pods", "deployments/scale"])],
            ..Default::default()
        };
        let binding = RoleBinding {
            metadata: rbac::ObjectMeta { name: "b".into(), namespace: "team".into(), ..Default::default() },
            subjects: vec![Subject::service_account("", "app")],
            role_ref: RoleRef::role("r"),
            ..Default::default()
        };
        let authz = Authorizer::from_objects(&[role], &[], &[binding], &[]);
        let subjects = by_subject(&authz);
        let app = &subjects["ServiceAccount team/app"];
        assert_eq!(app.len(), 8);
        let shown: Vec<String> = app.iter().map(|p| p.to_string()).collect();
        assert!(shown.contains(&"get deployments.apps/scale in team".to_string()), "{shown:?}");
        assert!(shown.contains(&"list pods in team".to_string()), "{shown:?}");
        assert!(app.iter().all(|p| p.risks().is_empty()));
    }
}
