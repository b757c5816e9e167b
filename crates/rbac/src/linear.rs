//! The plain linear reference: Kubernetes' own algorithm (`VisitRulesFor` in
//! `pkg/registry/rbac/validation/rule.go`), walking every ClusterRoleBinding and every RoleBinding
//! of the request namespace on each request. It is what the indexed [`crate::Authorizer`] is
//! property-tested and benchmarked against, and what `explain` walks.

use std::collections::HashMap;

use crate::attributes::{Attributes, UserInfo};
use crate::authorizer::{BindingRecord, RoleKey, aggregate_errors};
use crate::rule::rule_allows;
use crate::types::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};

/// Roles by key and bindings in lists, as kube-apiserver's listers hold them.
#[derive(Clone, Debug, Default)]
pub struct LinearAuthorizer {
    roles: HashMap<RoleKey, Vec<PolicyRule>>,
    cluster_role_bindings: Vec<BindingRecord>,
    role_bindings: HashMap<String, Vec<BindingRecord>>,
}

impl LinearAuthorizer {
    pub fn new(
        roles: &[Role],
        cluster_roles: &[ClusterRole],
        role_bindings: &[RoleBinding],
        cluster_role_bindings: &[ClusterRoleBinding],
    ) -> Self {
        let mut linear = LinearAuthorizer::default();
        for r in roles {
            let key = RoleKey::Role { namespace: r.metadata.namespace.clone(), name: r.metadata.name.clone() };
            linear.roles.insert(key, r.rules.clone());
        }
        for r in cluster_roles {
            linear.roles.insert(RoleKey::ClusterRole { name: r.metadata.name.clone() }, r.rules.clone());
        }
        for b in role_bindings {
            linear.role_bindings.entry(b.metadata.namespace.clone()).or_default().push(BindingRecord::from(b));
        }
        linear.cluster_role_bindings = cluster_role_bindings.iter().map(BindingRecord::from).collect();
        linear
    }

    /// `VisitRulesFor`: every applicable binding's role rules in order (or the role's lookup error);
    /// the visitor returns false to stop.
    pub fn visit_rules_for(
        &self,
        user: &UserInfo,
        namespace: &str,
        visitor: &mut dyn FnMut(&BindingRecord, Result<&PolicyRule, &RoleKey>) -> bool,
    ) {
        let namespaced = if namespace.is_empty() { None } else { self.role_bindings.get(namespace) };
        for binding in self.cluster_role_bindings.iter().chain(namespaced.into_iter().flatten()) {
            if binding.subject_for(user).is_none() {
                continue;
            }
            let key = binding.role_key();
            match self.roles.get(&key) {
                Some(rules) => {
                    for rule in rules {
                        if !visitor(binding, Ok(rule)) {
                            return;
                        }
                    }
                }
                None => {
                    if !visitor(binding, Err(&key)) {
                        return;
                    }
                }
            }
        }
    }

    /// The decision and its reason, as `RBACAuthorizer.Authorize` gives them.
    pub fn authorize(&self, attrs: &Attributes) -> (bool, String) {
        let mut allowed_by = None;
        let mut missing = Vec::new();
        self.visit_rules_for(&attrs.user, attrs.namespace(), &mut |binding, rule| match rule {
            Ok(rule) if rule_allows(attrs, rule) => {
                allowed_by = binding.subject_for(&attrs.user).map(|s| binding.describe(s));
                false
            }
            Ok(_) => true,
            Err(key) => {
                missing.push(key.clone());
                true
            }
        });
        match allowed_by {
            Some(description) => (true, format!("RBAC: allowed by {description}")),
            None => (false, aggregate_errors(&missing).map(|e| format!("RBAC: {e}")).unwrap_or_default()),
        }
    }

    /// `RulesFor`: all rules of the applicable bindings and the roles found missing.
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> (Vec<PolicyRule>, Vec<RoleKey>) {
        let mut rules = Vec::new();
        let mut missing = Vec::new();
        self.visit_rules_for(user, namespace, &mut |_, rule| {
            match rule {
                Ok(rule) => rules.push(rule.clone()),
                Err(key) => missing.push(key.clone()),
            }
            true
        });
        (rules, missing)
    }
}
