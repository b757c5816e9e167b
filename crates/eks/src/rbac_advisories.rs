//! RBAC advisories at write time: a Role, ClusterRole, RoleBinding or ClusterRoleBinding written
//! through the API server comes back with `rampart lint`'s findings for that object as `Warning`
//! headers (kubectl prints them), from the same rules (`access_analysis::lint::rbac_object`);
//! the write itself is decided by RBAC and the escalation check alone.

use std::sync::Arc;

use access_analysis::lint::{self, RbacObject};
use async_trait::async_trait;
use kube_api::admission::{AdmissionHook, AdmissionRequest, Operation};
use rbac::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The hook, over a cluster's RBAC index (to tell a binding whose role is missing).
pub struct RbacAdvisories {
    index: Arc<rbac::Authorizer>,
}

impl RbacAdvisories {
    pub fn new(index: Arc<rbac::Authorizer>) -> Self {
        RbacAdvisories { index }
    }
}

fn parse<T: DeserializeOwned>(object: &Value) -> Option<T> {
    serde_json::from_value(object.clone()).ok()
}

/// `rampart lint`'s findings for one object as `Warning` texts: where in the object, the
/// finding, and its fix.
pub fn warnings(findings: Vec<lint::Finding>) -> Vec<String> {
    findings
        .iter()
        .map(|f| {
            let place = match &f.place {
                lint::Place::Object => String::new(),
                lint::Place::Rule { index } => format!(" (rules[{index}])"),
                lint::Place::Subject { index } => format!(" (subjects[{index}])"),
                lint::Place::RoleRef => " (roleRef)".into(),
                lint::Place::AwsAuth { key, line: Some(line) } => format!(" (data.{key} line {line})"),
                lint::Place::AwsAuth { key, line: None } => format!(" (data.{key})"),
            };
            format!("{}{place}; fix: {}", f.headline(), f.rule.fix)
        })
        .collect()
}

#[async_trait]
impl AdmissionHook for RbacAdvisories {
    fn name(&self) -> &str {
        "RBACAdvisories"
    }

    async fn warnings(&self, request: &AdmissionRequest<'_>, object: &Value) -> Vec<String> {
        let def = request.resource;
        if def.group != rbac::GROUP
            || !request.subresource.is_empty()
            || !matches!(request.operation, Operation::Create | Operation::Update)
        {
            return vec![];
        }
        let role_exists = |key: &rbac::RoleKey| self.index.role_rules(key).is_some();
        let findings = match def.kind.as_str() {
            "Role" => parse::<Role>(object).map(|o| lint::rbac_object(RbacObject::Role(&o), &role_exists)),
            "ClusterRole" => {
                parse::<ClusterRole>(object).map(|o| lint::rbac_object(RbacObject::ClusterRole(&o), &role_exists))
            }
            "RoleBinding" => parse::<RoleBinding>(object).map(|mut o| {
                o.apply_defaults();
                lint::rbac_object(RbacObject::RoleBinding(&o), &role_exists)
            }),
            "ClusterRoleBinding" => parse::<ClusterRoleBinding>(object).map(|mut o| {
                o.apply_defaults();
                lint::rbac_object(RbacObject::ClusterRoleBinding(&o), &role_exists)
            }),
            _ => None,
        };
        warnings(findings.unwrap_or_default())
    }
}
