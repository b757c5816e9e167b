//! Authorization: a chain of authorizers asked in order, the first Allow or Deny wins, and a
//! request nobody allows is forbidden with kube-apiserver's 403 wording.
//!
//! The chain always starts with the `system:masters` shortcut, as kube-apiserver's does; RBAC and
//! EKS access policies plug in after it (issue 6) through [`Authorizer`].

use kube_core::{GroupResource, RequestInfo, Status};
use rbac::Attributes;

/// One authorizer's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed, with why (for audit: which binding and role).
    Allow(String),
    /// Denied outright, with why.
    Deny(String),
    /// No opinion; the reason is appended to the 403 message if nobody allows.
    NoOpinion(String),
}

/// An authorizer in the chain.
pub trait Authorizer: Send + Sync {
    /// Its name (`RBAC`, `Node`, `Webhook`, ...), for metrics and audit.
    fn name(&self) -> &str;

    fn authorize(&self, attributes: &Attributes) -> Decision;

    /// The rules this authorizer grants `user` in `namespace`, for SelfSubjectRulesReview;
    /// `None` when it cannot enumerate them.
    fn rules_for(&self, _user: &rbac::UserInfo, _namespace: &str) -> Option<Rules> {
        None
    }
}

/// Members of `system:masters` may do anything (kube-apiserver's privileged-group authorizer).
pub struct PrivilegedGroups;

impl Authorizer for PrivilegedGroups {
    fn name(&self) -> &str {
        "system:masters"
    }

    fn authorize(&self, attributes: &Attributes) -> Decision {
        if attributes.user.groups.iter().any(|g| g == rbac::SYSTEM_MASTERS) {
            Decision::Allow(String::new())
        } else {
            Decision::NoOpinion(String::new())
        }
    }

    fn rules_for(&self, user: &rbac::UserInfo, _namespace: &str) -> Option<Rules> {
        if !user.groups.iter().any(|g| g == rbac::SYSTEM_MASTERS) {
            return None;
        }
        Some(Rules {
            resource_rules: vec![serde_json::json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})],
            non_resource_rules: vec![serde_json::json!({"verbs": ["*"], "nonResourceURLs": ["*"]})],
            incomplete: false,
        })
    }
}

/// Ask each authorizer in turn: `(decision, the authorizer that made it)`. If all have no
/// opinion, the result is `NoOpinion` with their non-empty reasons joined.
pub fn authorize<'a>(chain: &'a [std::sync::Arc<dyn Authorizer>], attributes: &Attributes) -> (Decision, &'a str) {
    let mut reasons = Vec::new();
    for authorizer in chain {
        match authorizer.authorize(attributes) {
            Decision::NoOpinion(reason) => {
                if !reason.is_empty() {
                    reasons.push(reason);
                }
            }
            decision => return (decision, authorizer.name()),
        }
    }
    (Decision::NoOpinion(reasons.join("; ")), "")
}

/// The 403 kube-apiserver answers when a request is not allowed.
pub fn forbidden(info: &RequestInfo, user: &str, reason: &str) -> Status {
    let suffix = if reason.is_empty() { String::new() } else { format!(": {reason}") };
    if !info.is_resource_request {
        let why = format!("User \"{user}\" cannot {} path \"{}\"{suffix}", info.verb, info.path);
        return Status::forbidden(&GroupResource::default(), "", &why);
    }
    let resource = if info.subresource.is_empty() {
        info.resource.clone()
    } else {
        format!("{}/{}", info.resource, info.subresource)
    };
    let scope = if info.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{}\"", info.namespace)
    };
    let why = format!(
        "User \"{user}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}{suffix}",
        info.verb, info.api_group
    );
    Status::forbidden(&GroupResource::new(&info.api_group, &info.resource), &info.name, &why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn attrs(groups: &[&str]) -> Attributes {
        let info = RequestInfo::new("GET", "/api/v1/namespaces/default/pods", None).unwrap();
        info.attributes(rbac::UserInfo {
            name: "eks-user".into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..Default::default()
        })
    }

    #[test]
    fn masters_are_allowed_and_others_forbidden_in_kube_words() {
        let chain: Vec<Arc<dyn Authorizer>> = vec![Arc::new(PrivilegedGroups)];
        assert!(matches!(authorize(&chain, &attrs(&["system:masters"])).0, Decision::Allow(_)));
        assert!(matches!(authorize(&chain, &attrs(&["dev"])).0, Decision::NoOpinion(_)));
        let info = RequestInfo::new("GET", "/api/v1/namespaces/default/pods", None).unwrap();
        assert_eq!(
            forbidden(&info, "eks-user", "").message,
            r#"pods is forbidden: User "eks-user" cannot list resource "pods" in API group "" in the namespace "default""#
        );
        let exec = RequestInfo::new("POST", "/api/v1/namespaces/default/pods/nginx/exec", None).unwrap();
        assert_eq!(
            forbidden(&exec, "eks-user", "").message,
            r#"pods "nginx" is forbidden: User "eks-user" cannot create resource "pods/exec" in API group "" in the namespace "default""#
        );
        let scale = RequestInfo::new("PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale", None).unwrap();
        assert_eq!(
            forbidden(&scale, "u", "").message,
            r#"deployments.apps "web" is forbidden: User "u" cannot patch resource "deployments/scale" in API group "apps" in the namespace "default""#
        );
        let nodes = RequestInfo::new("GET", "/api/v1/nodes", None).unwrap();
        assert_eq!(
            forbidden(&nodes, "u", "").message,
            r#"nodes is forbidden: User "u" cannot list resource "nodes" in API group "" at the cluster scope"#
        );
        let root = RequestInfo::new("GET", "/", None).unwrap();
        assert_eq!(
            forbidden(&root, "system:anonymous", "").message,
            r#"forbidden: User "system:anonymous" cannot get path "/""#
        );
    }
}

/// The rules of the chain's authorizers for `user` in `namespace` (SelfSubjectRulesReview):
/// resource rules, non-resource rules (as JSON, the review's shapes) and whether the list is
/// incomplete.
pub fn rules_for(
    chain: &[std::sync::Arc<dyn Authorizer>],
    user: &rbac::UserInfo,
    namespace: &str,
) -> (Vec<serde_json::Value>, Vec<serde_json::Value>, bool) {
    let mut resource = Vec::new();
    let mut non_resource = Vec::new();
    let mut incomplete = false;
    for authorizer in chain {
        if let Some(rules) = authorizer.rules_for(user, namespace) {
            resource.extend(rules.resource_rules);
            non_resource.extend(rules.non_resource_rules);
            incomplete |= rules.incomplete;
        }
    }
    (resource, non_resource, incomplete)
}

/// What an authorizer can say about a user's rules.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rules {
    pub resource_rules: Vec<serde_json::Value>,
    pub non_resource_rules: Vec<serde_json::Value>,
    pub incomplete: bool,
}
