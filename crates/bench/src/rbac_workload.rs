//! Generated RBAC policy sets for the authorizer benchmark, and the same policy written for Cedar.
//!
//! A set of `n` bindings, on top of the Kubernetes bootstrap policy: half ClusterRoleBindings
//! (user `c{i}` → ClusterRole `reader-{i % 10}`), half RoleBindings spread over 100 namespaces
//! (user `u{i}` → Role `pod-reader` of namespace `ns{i % 100}`). The requests ask as the last
//! RoleBinding's user (allowed) and as a user no binding names (denied), both authenticated.

use rbac::{
    Attributes, ClusterRole, ClusterRoleBinding, PolicyRule, ResourceAttributes, Role, RoleBinding, RoleRef, Subject,
    UserInfo, aggregate, bootstrap,
};

pub const NAMESPACES: usize = 100;

/// A policy set: the objects an API server would hold.
pub struct Workload {
    pub roles: Vec<Role>,
    pub cluster_roles: Vec<ClusterRole>,
    pub role_bindings: Vec<RoleBinding>,
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
    pub n: usize,
}

fn reader_rules() -> Vec<PolicyRule> {
    vec![PolicyRule::resource(&["get", "list", "watch"], &[""], &["pods", "pods/log"])]
}

impl Workload {
    pub fn generate(n: usize) -> Self {
        let roles = (0..NAMESPACES).map(|k| Role::new(&format!("ns{k}"), "pod-reader", reader_rules())).collect();
        let mut cluster_roles: Vec<ClusterRole> = bootstrap::cluster_roles().to_vec();
        cluster_roles.extend((0..10).map(|k| ClusterRole::new(&format!("reader-{k}"), reader_rules())));
        let cluster_roles = aggregate(&cluster_roles);
        let mut cluster_role_bindings: Vec<ClusterRoleBinding> = bootstrap::cluster_role_bindings().to_vec();
        cluster_role_bindings.extend((0..n / 2).map(|i| {
            ClusterRoleBinding::new(
                &format!("c{i}"),
                RoleRef::cluster_role(&format!("reader-{}", i % 10)),
                vec![Subject::user(&format!("c{i}"))],
            )
        }));
        let role_bindings = (0..n - n / 2)
            .map(|i| {
                RoleBinding::new(
                    &format!("ns{}", i % NAMESPACES),
                    &format!("u{i}"),
                    RoleRef::role("pod-reader"),
                    vec![Subject::user(&format!("u{i}"))],
                )
            })
            .collect();
        Workload { roles, cluster_roles, role_bindings, cluster_role_bindings, n }
    }

    /// The last RoleBinding's user reading a pod in its namespace: allowed.
    pub fn allowed_request(&self) -> Attributes {
        self.allowed_request_of(0)
    }

    /// The user of the `k`-th RoleBinding from the end reading a pod in its namespace: allowed.
    pub fn allowed_request_of(&self, k: usize) -> Attributes {
        let i = self.n - self.n / 2 - 1 - k;
        let user = UserInfo::new(&format!("u{i}"), &["system:authenticated"]);
        Attributes::resource(
            user,
            "get",
            ResourceAttributes::new(&format!("ns{}", i % NAMESPACES), "", "pods").with_name("web-0"),
        )
    }

    /// A user no binding names deleting a pod: denied after looking at everything that applies.
    pub fn denied_request(&self) -> Attributes {
        let user = UserInfo::new("nobody", &["system:authenticated"]);
        Attributes::resource(user, "delete", ResourceAttributes::new("ns0", "", "pods").with_name("web-0"))
    }

    /// One RoleBinding not in the set, for incremental updates.
    pub fn extra_binding(&self) -> RoleBinding {
        RoleBinding::new("ns0", "extra", RoleRef::role("pod-reader"), vec![Subject::user("extra")])
    }

    /// `k` RoleBindings not in the set, spread over the namespaces, each for a new user.
    pub fn binding_burst(&self, k: usize) -> Vec<RoleBinding> {
        (0..k)
            .map(|j| {
                let name = format!("extra-{j}");
                RoleBinding::new(
                    &format!("ns{}", j % NAMESPACES),
                    &name,
                    RoleRef::role("pod-reader"),
                    vec![Subject::user(&name)],
                )
            })
            .collect()
    }

    /// The same grants as Cedar policies: one `permit` per binding (the bootstrap policy left out).
    pub fn cedar_policies(&self) -> String {
        let mut text = String::new();
        let actions = r#"[Action::"get", Action::"list", Action::"watch"]"#;
        let when = r#"context.apiGroup == "" && (context.resource == "pods" || context.resource == "pods/log")"#;
        for b in &self.cluster_role_bindings[bootstrap::cluster_role_bindings().len()..] {
            let user = &b.subjects[0].name;
            text.push_str(&format!(
                "permit(principal == User::\"{user}\", action in {actions}, resource) when {{ {when} }};\n"
            ));
        }
        for b in &self.role_bindings {
            let (user, ns) = (&b.subjects[0].name, &b.metadata.namespace);
            text.push_str(&format!(
                "permit(principal == User::\"{user}\", action in {actions}, resource) when {{ context.namespace == \"{ns}\" && {when} }};\n"
            ));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbac::Authorizer;

    #[test]
    fn requests_answer_as_intended() {
        let w = Workload::generate(1000);
        assert_eq!(
            w.role_bindings.len() + w.cluster_role_bindings.len(),
            1000 + bootstrap::cluster_role_bindings().len()
        );
        let authz = Authorizer::from_objects(&w.roles, &w.cluster_roles, &w.role_bindings, &w.cluster_role_bindings);
        assert!(authz.authorize(&w.allowed_request()).is_allowed());
        assert!(!authz.authorize(&w.denied_request()).is_allowed());
        assert_eq!(w.cedar_policies().lines().count(), 1000);
    }
}
