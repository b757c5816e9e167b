//! Property test: the indexed authorizer, fed a random sequence of upserts and deletes of roles and
//! bindings, decides every request as the linear reference (Kubernetes' `VisitRulesFor`) built
//! from the final objects does: same allow, a reason naming a binding that really allows, the
//! same missing roles on denial, and the same rules review (as a multiset).

use std::collections::BTreeMap;

use proptest::prelude::*;
use rbac::linear::LinearAuthorizer;
use rbac::{
    Attributes, Authorizer, ClusterRole, ClusterRoleBinding, Decision, PolicyRule, ResourceAttributes, Role,
    RoleBinding, RoleKey, RoleRef, Subject, Update, UserInfo,
};

const NAMESPACES: [&str; 3] = ["a", "b", "c"];
const NAMES: [&str; 3] = ["x", "y", "z"];
const USERS: [&str; 4] = ["u0", "u1", "system:serviceaccount:a:sa", "system:serviceaccount:b:sa"];
const GROUPS: [&str; 3] = ["g0", "g1", "system:authenticated"];

fn pick<T: Clone + std::fmt::Debug + 'static>(items: &'static [T]) -> impl Strategy<Value = T> {
    proptest::sample::select(items)
}

fn strings(items: &'static [&'static str], max: usize) -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(pick(items).prop_map(String::from), 1..=max)
}

fn rule() -> impl Strategy<Value = PolicyRule> {
    let resource = (
        strings(&["get", "list", "create", "*"], 2),
        strings(&["", "apps", "*"], 2),
        strings(&["pods", "pods/log", "deployments", "*/scale", "*"], 2),
        proptest::collection::vec(pick(&["n1", "n2"]).prop_map(String::from), 0..=1),
    )
        .prop_map(|(verbs, api_groups, resources, resource_names)| PolicyRule {
            verbs,
            api_groups,
            resources,
            resource_names,
            ..Default::default()
        });
    let urls = (strings(&["get", "post", "*"], 2), strings(&["/healthz", "/apis/*", "*", "/api"], 2))
        .prop_map(|(verbs, non_resource_urls)| PolicyRule { verbs, non_resource_urls, ..Default::default() });
    prop_oneof![3 => resource, 1 => urls]
}

fn subject() -> impl Strategy<Value = Subject> {
    prop_oneof![
        pick(&USERS[..2]).prop_map(Subject::user),
        pick(&GROUPS).prop_map(Subject::group),
        (pick(&["", "a", "b"]), Just("sa")).prop_map(|(ns, n)| Subject::service_account(ns, n)),
        Just(Subject { kind: "Robot".into(), name: "u0".into(), ..Default::default() }),
    ]
}

#[derive(Clone, Debug)]
enum Op {
    Role(&'static str, &'static str, Vec<PolicyRule>),
    DeleteRole(&'static str, &'static str),
    ClusterRole(&'static str, Vec<PolicyRule>),
    DeleteClusterRole(&'static str),
    RoleBinding(&'static str, &'static str, RoleRef, Vec<Subject>),
    DeleteRoleBinding(&'static str, &'static str),
    ClusterRoleBinding(&'static str, RoleRef, Vec<Subject>),
    DeleteClusterRoleBinding(&'static str),
}

fn role_ref() -> impl Strategy<Value = RoleRef> {
    prop_oneof![pick(&NAMES).prop_map(RoleRef::role), pick(&NAMES).prop_map(RoleRef::cluster_role),]
}

fn op() -> impl Strategy<Value = Op> {
    let rules = || proptest::collection::vec(rule(), 0..3);
    let subjects = || proptest::collection::vec(subject(), 0..3);
    prop_oneof![
        (pick(&NAMESPACES), pick(&NAMES), rules()).prop_map(|(ns, n, r)| Op::Role(ns, n, r)),
        (pick(&NAMESPACES), pick(&NAMES)).prop_map(|(ns, n)| Op::DeleteRole(ns, n)),
        (pick(&NAMES), rules()).prop_map(|(n, r)| Op::ClusterRole(n, r)),
        pick(&NAMES).prop_map(Op::DeleteClusterRole),
        (pick(&NAMESPACES), pick(&NAMES), role_ref(), subjects())
            .prop_map(|(ns, n, r, s)| Op::RoleBinding(ns, n, r, s)),
        (pick(&NAMESPACES), pick(&NAMES)).prop_map(|(ns, n)| Op::DeleteRoleBinding(ns, n)),
        (pick(&NAMES), pick(&NAMES).prop_map(RoleRef::cluster_role), subjects())
            .prop_map(|(n, r, s)| Op::ClusterRoleBinding(n, r, s)),
        pick(&NAMES).prop_map(Op::DeleteClusterRoleBinding),
    ]
}

fn request() -> impl Strategy<Value = Attributes> {
    let user = || {
        (pick(&USERS), proptest::collection::vec(pick(&GROUPS).prop_map(String::from), 0..3))
            .prop_map(|(name, groups)| UserInfo { name: name.into(), groups, ..Default::default() })
    };
    let resource = (
        pick(&["", "a", "b", "c"]),
        pick(&["", "apps"]),
        pick(&["pods", "deployments", "nodes"]),
        pick(&["", "log", "scale"]),
        pick(&["", "n1", "n2"]),
    )
        .prop_map(|(ns, g, r, s, n)| ResourceAttributes::new(ns, g, r).with_subresource(s).with_name(n));
    prop_oneof![
        3 => (user(), pick(&["get", "list", "create", "delete", "*"]), resource)
            .prop_map(|(u, v, r)| Attributes::resource(u, v, r)),
        1 => (user(), pick(&["get", "post"]), pick(&["/healthz", "/apis", "/apis/v1", "/api"]))
            .prop_map(|(u, v, p)| Attributes::non_resource(u, v, p)),
    ]
}

#[derive(Default)]
struct Model {
    roles: BTreeMap<(String, String), Role>,
    cluster_roles: BTreeMap<String, ClusterRole>,
    role_bindings: BTreeMap<(String, String), RoleBinding>,
    cluster_role_bindings: BTreeMap<String, ClusterRoleBinding>,
}

fn apply(authz: &mut Update<'_>, model: &mut Model, op: &Op) {
    let key = |ns: &str, n: &str| (ns.to_string(), n.to_string());
    match op.clone() {
        Op::Role(ns, n, rules) => {
            let r = Role::new(ns, n, rules);
            authz.upsert_role(&r);
            model.roles.insert(key(ns, n), r);
        }
        Op::DeleteRole(ns, n) => {
            authz.delete_role(ns, n);
            model.roles.remove(&key(ns, n));
        }
        Op::ClusterRole(n, rules) => {
            let r = ClusterRole::new(n, rules);
            authz.upsert_cluster_role(&r);
            model.cluster_roles.insert(n.into(), r);
        }
        Op::DeleteClusterRole(n) => {
            authz.delete_cluster_role(n);
            model.cluster_roles.remove(n);
        }
        Op::RoleBinding(ns, n, r, s) => {
            let b = RoleBinding::new(ns, n, r, s);
            authz.upsert_role_binding(&b);
            model.role_bindings.insert(key(ns, n), b);
        }
        Op::DeleteRoleBinding(ns, n) => {
            authz.delete_role_binding(ns, n);
            model.role_bindings.remove(&key(ns, n));
        }
        Op::ClusterRoleBinding(n, r, s) => {
            let b = ClusterRoleBinding::new(n, r, s);
            authz.upsert_cluster_role_binding(&b);
            model.cluster_role_bindings.insert(n.into(), b);
        }
        Op::DeleteClusterRoleBinding(n) => {
            authz.delete_cluster_role_binding(n);
            model.cluster_role_bindings.remove(n);
        }
    }
}

fn sorted_dedup(mut keys: Vec<RoleKey>) -> Vec<RoleKey> {
    keys.sort();
    keys.dedup();
    keys
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn rule_key(r: &PolicyRule) -> String {
    serde_json::to_string(r).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn indexed_matches_linear(ops in proptest::collection::vec(op(), 0..40), requests in proptest::collection::vec(request(), 1..20), batch in 1..8usize) {
        let authz = Authorizer::new();
        let mut model = Model::default();
        for op in &ops {
            authz.update(|u| apply(u, &mut model, op));
        }
        // The same changes published in batches (several changes to one copy of the index).
        let batched = Authorizer::new();
        for chunk in ops.chunks(batch) {
            batched.update(|u| chunk.iter().for_each(|op| apply(u, &mut Model::default(), op)));
        }
        let roles: Vec<Role> = model.roles.values().cloned().collect();
        let cluster_roles: Vec<ClusterRole> = model.cluster_roles.values().cloned().collect();
        let rbs: Vec<RoleBinding> = model.role_bindings.values().cloned().collect();
        let crbs: Vec<ClusterRoleBinding> = model.cluster_role_bindings.values().cloned().collect();
        let linear = LinearAuthorizer::new(&roles, &cluster_roles, &rbs, &crbs);
        // An authorizer built in one go from the final objects agrees too.
        let fresh = Authorizer::from_objects(&roles, &cluster_roles, &rbs, &crbs);
        prop_assert_eq!(authz.binding_count(), rbs.len() + crbs.len());
        for attrs in &requests {
            let (allowed, reason) = linear.authorize(attrs);
            let decision = authz.authorize(attrs);
            prop_assert_eq!(decision.is_allowed(), allowed, "{:?} linear reason {}", attrs, reason);
            prop_assert_eq!(fresh.authorize(attrs).is_allowed(), allowed);
            prop_assert_eq!(batched.authorize(attrs).reason(), decision.reason());
            let ns = attrs.namespace();
            match decision {
                Decision::Allow(a) => {
                    // The binding named exists in the final state, names the user, and its role allows.
                    let b = a.binding();
                    prop_assert!(b.subject_for(&attrs.user).is_some());
                    prop_assert!(b.is_cluster_role_binding() || b.namespace == ns);
                    let single = LinearAuthorizer::new(&roles, &cluster_roles,
                        &rbs.iter().filter(|x| !b.is_cluster_role_binding() && x.metadata.namespace == b.namespace && x.metadata.name == b.name).cloned().collect::<Vec<_>>(),
                        &crbs.iter().filter(|x| b.is_cluster_role_binding() && x.metadata.name == b.name).cloned().collect::<Vec<_>>());
                    prop_assert!(single.authorize(attrs).0);
                }
                Decision::NoOpinion(n) => {
                    let (_, missing) = linear.rules_for(&attrs.user, ns);
                    prop_assert_eq!(sorted_dedup(n.missing_roles.clone()), sorted_dedup(missing));
                    prop_assert_eq!(reason.is_empty(), n.missing_roles.is_empty());
                }
            }
            let (rules, missing) = authz.rules_for(&attrs.user, ns);
            let (lin_rules, lin_missing) = linear.rules_for(&attrs.user, ns);
            prop_assert_eq!(sorted(rules.iter().map(rule_key).collect()), sorted(lin_rules.iter().map(rule_key).collect()));
            prop_assert_eq!(sorted(missing), sorted(lin_missing));
            prop_assert_eq!(authz.explain(attrs).is_allowed(), allowed);
        }
    }
}
