//! Authorization: a chain of authorizers asked in order, the first Allow or Deny wins, and a
//! request nobody allows is forbidden with kube-apiserver's 403 wording.
//!
//! The chain is kept in kube-apiserver's order whatever order its authorizers were installed in:
//! each [`Authorizer`] names its [`Slot`] — the `system:masters` shortcut first, then webhook-style
//! authorizers (EKS access policies), then RBAC (built into every cluster, see
//! [`crate::access::rbac_index`]), then anything asked only when RBAC has no opinion.

use std::sync::Arc;

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

/// Where an authorizer sits in the chain. Authorizers of one slot keep their install order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Slot {
    /// The `system:masters` shortcut (always first).
    Privileged,
    /// Before RBAC: webhook-style authorizers such as EKS access policies (the default).
    BeforeRbac,
    /// The built-in RBAC authorizer.
    Rbac,
    /// Asked only when RBAC has no opinion.
    AfterRbac,
}

/// An authorizer in the chain.
pub trait Authorizer: Send + Sync {
    /// Its name (`RBAC`, `Node`, `Webhook`, ...), for metrics and audit.
    fn name(&self) -> &str;

    /// Where it sits in the chain (before RBAC unless it says otherwise).
    fn slot(&self) -> Slot {
        Slot::BeforeRbac
    }

    fn authorize(&self, attributes: &Attributes) -> Decision;

    /// The rules this authorizer grants `user` in `namespace`, for SelfSubjectRulesReview;
    /// `None` when it cannot enumerate them.
    fn rules_for(&self, _user: &rbac::UserInfo, _namespace: &str) -> Option<Rules> {
        None
    }
}

/// The attributes an authorizer decides on: the request's RequestInfo, for `user`.
pub fn attributes(info: &RequestInfo, user: rbac::UserInfo) -> Attributes {
    if info.is_resource_request {
        Attributes {
            user,
            verb: info.verb.clone(),
            resource: Some(rbac::ResourceAttributes {
                namespace: info.namespace.clone(),
                api_group: info.api_group.clone(),
                api_version: info.api_version.clone(),
                resource: info.resource.clone(),
                subresource: info.subresource.clone(),
                name: info.name.clone(),
            }),
            path: String::new(),
        }
    } else {
        Attributes { user, verb: info.verb.clone(), resource: None, path: info.path.clone() }
    }
}

/// Members of `system:masters` may do anything (kube-apiserver's privileged-group authorizer).
pub struct PrivilegedGroups;

impl Authorizer for PrivilegedGroups {
    fn name(&self) -> &str {
        "system:masters"
    }

    fn slot(&self) -> Slot {
        Slot::Privileged
    }

    // No `rules_for`: as kube-apiserver's, this authorizer has no rule resolver, so masters see
    // their RBAC rules (cluster-admin through the bootstrap binding) in a rules review.
    fn authorize(&self, attributes: &Attributes) -> Decision {
        if attributes.user.is_privileged() {
            Decision::Allow(String::new())
        } else {
            Decision::NoOpinion(String::new())
        }
    }
}

/// `chain` with `authorizer` added after every authorizer of its slot or an earlier one.
pub fn insert(chain: &[Arc<dyn Authorizer>], authorizer: Arc<dyn Authorizer>) -> Vec<Arc<dyn Authorizer>> {
    let slot = authorizer.slot();
    let at = chain.iter().position(|a| a.slot() > slot).unwrap_or(chain.len());
    let mut out = chain.to_vec();
    out.insert(at, authorizer);
    out
}

/// Ask each authorizer in turn: `(decision, the authorizer that made it)`. If all have no
/// opinion, the result is `NoOpinion` with their non-empty reasons joined by line breaks (as
/// kube-apiserver's union authorizer joins them).
pub fn authorize<'a>(chain: &'a [Arc<dyn Authorizer>], attributes: &Attributes) -> (Decision, &'a str) {
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
    (Decision::NoOpinion(reasons.join("\n")), "")
}

/// The 403 kube-apiserver answers when a request is not allowed.
pub fn forbidden(info: &RequestInfo, user: &str, reason: &str) -> Status {
    let user = rbac::UserInfo { name: user.to_string(), ..Default::default() };
    forbidden_for(&attributes(info, user), reason)
}

/// The 403 for any attributes (the request's own, impersonation's, escalation checks').
pub fn forbidden_for(attributes: &Attributes, reason: &str) -> Status {
    let suffix = if reason.is_empty() { String::new() } else { format!(": {reason}") };
    let (user, verb) = (&attributes.user.name, &attributes.verb);
    let Some(r) = &attributes.resource else {
        let why = format!("User \"{user}\" cannot {verb} path \"{}\"{suffix}", attributes.path);
        return Status::forbidden(&GroupResource::default(), "", &why);
    };
    let full = if r.subresource.is_empty() { r.resource.clone() } else { format!("{}/{}", r.resource, r.subresource) };
    let scope = if r.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in the namespace \"{}\"", r.namespace)
    };
    let why =
        format!("User \"{user}\" cannot {verb} resource \"{full}\" in API group \"{}\" {scope}{suffix}", r.api_group);
    Status::forbidden(&GroupResource::new(&r.api_group, &r.resource), &r.name, &why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(groups: &[&str]) -> Attributes {
        let info = RequestInfo::new("GET", "/api/v1/namespaces/default/pods", None).unwrap();
        attributes(
            &info,
            rbac::UserInfo {
                name: "eks-user".into(),
                groups: groups.iter().map(|g| g.to_string()).collect(),
                ..Default::default()
            },
        )
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
pub fn rules_for(chain: &[Arc<dyn Authorizer>], user: &rbac::UserInfo, namespace: &str) -> Rules {
    let mut all = Rules::default();
    let mut errors = Vec::new();
    for authorizer in chain {
        if let Some(rules) = authorizer.rules_for(user, namespace) {
            all.resource_rules.extend(rules.resource_rules);
            all.non_resource_rules.extend(rules.non_resource_rules);
            all.incomplete |= rules.incomplete;
            if !rules.evaluation_error.is_empty() {
                errors.push(rules.evaluation_error);
            }
        }
    }
    // kube-apiserver's union resolver: one error as is, several as an aggregate.
    all.evaluation_error = match errors.len() {
        0 | 1 => errors.pop().unwrap_or_default(),
        _ => format!("[{}]", errors.join(", ")),
    };
    all
}

/// What an authorizer can say about a user's rules (a SelfSubjectRulesReview's status).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rules {
    pub resource_rules: Vec<serde_json::Value>,
    pub non_resource_rules: Vec<serde_json::Value>,
    pub incomplete: bool,
    /// Why the rules may be wrong (a role that could not be found), `""` when nothing went wrong.
    pub evaluation_error: String,
}
