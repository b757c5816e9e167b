//! `explain`: the binding → role → rule that allowed a request, or why nothing did (no binding
//! names the subject, bindings only in other namespaces, a missing role, no rule matching — with
//! the closest rules and what each one lacks).

use std::fmt;
use std::sync::Arc;

use go_format::quote;

use crate::attributes::Attributes;
use crate::authorizer::{Authorizer, BindingRecord, RoleKey};
use crate::rule::{
    api_group_matches, describe, non_resource_url_matches, resource_matches, resource_name_matches, rule_allows,
    verb_matches,
};
use crate::types::{PolicyRule, Subject};

/// A part of a rule a request can fail on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleField {
    Verb,
    ApiGroup,
    Resource,
    ResourceName,
    NonResourceUrl,
}

/// A rule of an applicable role that came closest, and the fields it failed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NearMiss {
    pub rule_index: usize,
    pub rule: PolicyRule,
    pub failed: Vec<RuleField>,
}

/// Why an applicable binding did not allow the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindingVerdict {
    /// Its role does not exist (the binding grants nothing).
    RoleMissing,
    /// No rule of its role matches; the closest ones of the request's kind (none when the role
    /// has no rule about resources, or none about non-resource URLs, as the request needs).
    NoRuleMatched(Vec<NearMiss>),
}

/// A binding that names the requester, in scope for the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingAnalysis {
    pub binding: Arc<BindingRecord>,
    pub subject: Subject,
    pub role: RoleKey,
    pub verdict: BindingVerdict,
}

/// The path that allowed a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowPath {
    pub binding: Arc<BindingRecord>,
    pub subject: Subject,
    pub role: RoleKey,
    pub rule_index: usize,
    pub rule: PolicyRule,
}

/// The outcome of [`Authorizer::explain`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Explanation {
    Allowed(Box<AllowPath>),
    Denied {
        /// Bindings that name the requester and apply to the request's scope.
        applicable: Vec<BindingAnalysis>,
        /// RoleBindings that name the requester in other namespaces (they cannot apply).
        elsewhere: Vec<(Arc<BindingRecord>, Subject)>,
    },
}

impl Explanation {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Explanation::Allowed(_))
    }
}

fn failed_fields(attrs: &Attributes, rule: &PolicyRule) -> Vec<RuleField> {
    let mut failed = Vec::new();
    if !verb_matches(rule, &attrs.verb) {
        failed.push(RuleField::Verb);
    }
    match &attrs.resource {
        Some(r) => {
            if !api_group_matches(rule, &r.api_group) {
                failed.push(RuleField::ApiGroup);
            }
            if !resource_matches(rule, &r.resource, &r.subresource) {
                failed.push(RuleField::Resource);
            }
            if !resource_name_matches(rule, &r.name) {
                failed.push(RuleField::ResourceName);
            }
        }
        None => {
            if !non_resource_url_matches(rule, &attrs.path) {
                failed.push(RuleField::NonResourceUrl);
            }
        }
    }
    failed
}

/// The rules of the request's kind (resource or non-resource) that failed on the fewest fields
/// (at most three).
fn closest(attrs: &Attributes, rules: &[PolicyRule]) -> Vec<NearMiss> {
    let misses: Vec<NearMiss> =
        rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| {
                if attrs.resource.is_some() { !rule.resources.is_empty() } else { !rule.non_resource_urls.is_empty() }
            })
            .map(|(rule_index, rule)| NearMiss { rule_index, rule: rule.clone(), failed: failed_fields(attrs, rule) })
            .collect();
    let best = misses.iter().map(|m| m.failed.len()).min().unwrap_or(0);
    misses.into_iter().filter(|m| m.failed.len() == best).take(3).collect()
}

impl Authorizer {
    /// Why RBAC allows `attrs` or has no opinion on it. Walks every binding: for people, not for
    /// the request path.
    pub fn explain(&self, attrs: &Attributes) -> Explanation {
        let namespace = attrs.namespace();
        let mut applicable = Vec::new();
        let mut elsewhere = Vec::new();
        for (binding, rules) in self.bindings() {
            let Some(subject) = binding.subject_for(&attrs.user).cloned() else { continue };
            let in_scope =
                binding.is_cluster_role_binding() || (!namespace.is_empty() && binding.namespace == namespace);
            if !in_scope {
                elsewhere.push((binding, subject));
                continue;
            }
            let role = binding.role_key();
            let verdict = match rules {
                Err(_) => BindingVerdict::RoleMissing,
                Ok(rules) => {
                    if let Some(rule_index) = rules.iter().position(|r| rule_allows(attrs, r)) {
                        let rule = rules[rule_index].clone();
                        return Explanation::Allowed(Box::new(AllowPath { binding, subject, role, rule_index, rule }));
                    }
                    BindingVerdict::NoRuleMatched(closest(attrs, &rules))
                }
            };
            applicable.push(BindingAnalysis { binding, subject, role, verdict });
        }
        Explanation::Denied { applicable, elsewhere }
    }
}

fn field_problem(attrs: &Attributes, rule: &PolicyRule, field: RuleField) -> String {
    let list = |v: &[String]| format!("[{}]", v.iter().map(|s| quote(s)).collect::<Vec<_>>().join(" "));
    let r = attrs.resource.clone().unwrap_or_default();
    match field {
        RuleField::Verb => format!("verb {} not in {}", quote(&attrs.verb), list(&rule.verbs)),
        RuleField::ApiGroup => format!("API group {} not in {}", quote(&r.api_group), list(&rule.api_groups)),
        RuleField::Resource => {
            let combined =
                if r.subresource.is_empty() { r.resource.clone() } else { format!("{}/{}", r.resource, r.subresource) };
            format!("resource {} not in {}", quote(&combined), list(&rule.resources))
        }
        RuleField::ResourceName if r.name.is_empty() => {
            format!("the rule is limited to names {} and the request has no name", list(&rule.resource_names))
        }
        RuleField::ResourceName => format!("name {} not in {}", quote(&r.name), list(&rule.resource_names)),
        RuleField::NonResourceUrl => format!("path {} not in {}", quote(&attrs.path), list(&rule.non_resource_urls)),
    }
}

/// Renders an explanation of the request `attrs` for people.
pub struct ExplanationDisplay<'a> {
    pub attrs: &'a Attributes,
    pub explanation: &'a Explanation,
}

impl fmt::Display for ExplanationDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let attrs = self.attrs;
        match self.explanation {
            Explanation::Allowed(p) => {
                writeln!(f, "allowed by {}", p.binding.describe(&p.subject))?;
                writeln!(f, "  binding: {}", binding_name(&p.binding))?;
                writeln!(f, "  role:    {}", p.role)?;
                writeln!(f, "  rule:    rules[{}]: {}", p.rule_index, describe(&p.rule))
            }
            Explanation::Denied { applicable, elsewhere } => {
                writeln!(f, "denied: no RBAC rule allows {}", describe_request(attrs))?;
                if applicable.is_empty() && elsewhere.is_empty() {
                    writeln!(
                        f,
                        "  no binding names User {} or any of its groups {}",
                        quote(&attrs.user.name),
                        groups(attrs)
                    )?;
                }
                for a in applicable {
                    writeln!(f, "  {}:", a.binding.describe(&a.subject))?;
                    match &a.verdict {
                        BindingVerdict::RoleMissing => {
                            writeln!(f, "    {} (the binding grants nothing)", a.role.not_found())?
                        }
                        BindingVerdict::NoRuleMatched(misses) if misses.is_empty() => {
                            let about = if attrs.resource.is_some() { "resources" } else { "non-resource URLs" };
                            writeln!(f, "    {} has no rule about {about}", a.role)?
                        }
                        BindingVerdict::NoRuleMatched(misses) => {
                            writeln!(f, "    no rule of {} matches; closest:", a.role)?;
                            for m in misses {
                                let problems: Vec<String> =
                                    m.failed.iter().map(|&fl| field_problem(attrs, &m.rule, fl)).collect();
                                writeln!(
                                    f,
                                    "      rules[{}] {}: {}",
                                    m.rule_index,
                                    describe(&m.rule),
                                    problems.join("; ")
                                )?;
                            }
                        }
                    }
                }
                for (binding, subject) in elsewhere {
                    let scope = if attrs.namespace().is_empty() {
                        "the request is not in a namespace".to_string()
                    } else {
                        format!("the request is in namespace {}", quote(attrs.namespace()))
                    };
                    writeln!(
                        f,
                        "  {} grants only inside namespace {}; {scope}",
                        binding.describe(subject),
                        quote(&binding.namespace)
                    )?;
                }
                Ok(())
            }
        }
    }
}

fn binding_name(b: &BindingRecord) -> String {
    if b.is_cluster_role_binding() {
        format!("ClusterRoleBinding {}", quote(&b.name))
    } else {
        format!("RoleBinding {} in namespace {}", quote(&b.name), quote(&b.namespace))
    }
}

fn groups(attrs: &Attributes) -> String {
    format!("[{}]", attrs.user.groups.join(" "))
}

fn describe_request(attrs: &Attributes) -> String {
    let who = format!("User {} (groups {})", quote(&attrs.user.name), groups(attrs));
    let Some(r) = &attrs.resource else {
        return format!("{who} to {} path {}", attrs.verb, quote(&attrs.path));
    };
    let mut what =
        if r.subresource.is_empty() { r.resource.clone() } else { format!("{}/{}", r.resource, r.subresource) };
    if !r.api_group.is_empty() {
        what = format!("{what} in API group {}", quote(&r.api_group));
    }
    if !r.name.is_empty() {
        what = format!("{what} named {}", quote(&r.name));
    }
    let scope = if r.namespace.is_empty() {
        "at the cluster scope".to_string()
    } else {
        format!("in namespace {}", quote(&r.namespace))
    };
    format!("{who} to {} {what} {scope}", attrs.verb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::{ResourceAttributes, UserInfo};
    use crate::types::{ClusterRole, ClusterRoleBinding, Role, RoleBinding, RoleRef};

    #[test]
    fn explains_each_reason() {
        let authz = Authorizer::new();
        authz.upsert_cluster_role(&ClusterRole::new(
            "reader",
            vec![PolicyRule::resource(&["get", "list"], &[""], &["pods"])],
        ));
        authz.upsert_role_binding(&RoleBinding::new(
            "dev",
            "r",
            RoleRef::cluster_role("reader"),
            vec![Subject::user("jane")],
        ));
        authz.upsert_role_binding(&RoleBinding::new("prod", "p", RoleRef::role("ghost"), vec![Subject::user("jane")]));
        authz.upsert_role(&Role::new("prod", "other", vec![]));
        let jane = UserInfo::new("jane", &[]);
        let ask =
            |verb: &str, ns: &str| Attributes::resource(jane.clone(), verb, ResourceAttributes::new(ns, "", "pods"));

        let e = authz.explain(&ask("get", "dev"));
        let Explanation::Allowed(p) = &e else { panic!("{e:?}") };
        assert_eq!((p.rule_index, p.role.clone()), (0, RoleKey::ClusterRole { name: "reader".into() }));

        let e = authz.explain(&ask("delete", "dev"));
        let Explanation::Denied { applicable, elsewhere } = &e else { panic!() };
        assert_eq!(elsewhere.len(), 1);
        let BindingVerdict::NoRuleMatched(m) = &applicable[0].verdict else { panic!() };
        assert_eq!(m[0].failed, [RuleField::Verb]);
        let text = ExplanationDisplay { attrs: &ask("delete", "dev"), explanation: &e }.to_string();
        assert!(text.contains(r#"rules[0] get,list pods in group "": verb "delete" not in ["get" "list"]"#), "{text}");
        assert!(
            text.contains(r#"RoleBinding "p/prod" of Role "ghost" to User "jane" grants only inside namespace "prod""#),
            "{text}"
        );

        let e = authz.explain(&ask("get", "prod"));
        let Explanation::Denied { applicable, .. } = &e else { panic!() };
        assert_eq!(applicable[0].verdict, BindingVerdict::RoleMissing);

        let nobody = Attributes::non_resource(UserInfo::new("bob", &["g"]), "get", "/x");
        let text = ExplanationDisplay { attrs: &nobody, explanation: &authz.explain(&nobody) }.to_string();
        assert!(text.contains(r#"no binding names User "bob" or any of its groups [g]"#), "{text}");
        authz.upsert_cluster_role_binding(&ClusterRoleBinding::new(
            "c",
            RoleRef::cluster_role("reader"),
            vec![Subject::group("g")],
        ));
        assert!(!authz.explain(&nobody).is_allowed());
    }
}
