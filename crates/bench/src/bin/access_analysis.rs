//! Access-analysis timings against re-implemented peers, side by side in one run, over the RBAC
//! benchmark's workload of 10,000 bindings (plus the bootstrap policy):
//!
//! - lint: `access_analysis::lint::lint` against rbac-tool's `analysis` algorithm (every
//!   subject's permissions expanded from its bindings, then each permission tested against each
//!   risk);
//! - diff: `permissions::by_subject` on both sides and `diff::diff` against the same expansion
//!   without sharing a role's atoms between its bindings, compared per subject;
//! - matrix: one identity's resources × verbs, `Authorizer::authorize` per cell, against
//!   rakkess's algorithm (the namespace's rules review, then each cell matched against every
//!   rule).
//!
//! A plain binary (not a criterion bench) so it builds without the bench crate's dev
//! dependencies: `cargo run --release -p bench --bin access_analysis`. Prints the median of 9
//! runs of each, and the ratio to the peer.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use access_analysis::lint::{Configuration, lint};
use access_analysis::matrix::{self, Cell, Resource};
use access_analysis::permissions::{self, Permissions};
use access_analysis::{diff, risk};
use bench::rbac_workload::Workload;
use rbac::linear::LinearAuthorizer;
use rbac::{Authorizer, BindingRecord, PolicyRule, RoleKey, UserInfo};

fn median(mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..9)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[4]
}

/// rbac-tool's subject permissions, as its `policy-rules` builds them: one pass over the
/// bindings, each binding's role rules expanded for each of its subjects (no sharing between
/// bindings of the same role).
fn subject_scan(w: &Workload) -> BTreeMap<String, Permissions> {
    let mut roles: BTreeMap<RoleKey, &[PolicyRule]> = BTreeMap::new();
    for r in &w.roles {
        roles
            .insert(RoleKey::Role { namespace: r.metadata.namespace.clone(), name: r.metadata.name.clone() }, &r.rules);
    }
    for r in &w.cluster_roles {
        roles.insert(RoleKey::ClusterRole { name: r.metadata.name.clone() }, &r.rules);
    }
    let bindings =
        w.role_bindings.iter().map(BindingRecord::from).chain(w.cluster_role_bindings.iter().map(BindingRecord::from));
    let mut out: BTreeMap<String, Permissions> = BTreeMap::new();
    for b in bindings {
        let Some(rules) = roles.get(&b.role_key()) else { continue };
        let ns = if b.is_cluster_role_binding() { permissions::EVERYWHERE } else { b.namespace.as_str() };
        for subject in &b.subjects {
            out.entry(permissions::subject_key(subject, &b.namespace))
                .or_default()
                .extend(permissions::atoms(rules, ns));
        }
    }
    out
}

const RESOURCES: &[(&str, &str, bool)] = &[
    ("", "pods", true),
    ("", "pods/log", true),
    ("", "pods/exec", true),
    ("", "services", true),
    ("", "configmaps", true),
    ("", "secrets", true),
    ("", "serviceaccounts", true),
    ("", "events", true),
    ("", "endpoints", true),
    ("", "persistentvolumeclaims", true),
    ("", "namespaces", false),
    ("", "nodes", false),
    ("", "persistentvolumes", false),
    ("apps", "deployments", true),
    ("apps", "replicasets", true),
    ("apps", "statefulsets", true),
    ("apps", "daemonsets", true),
    ("batch", "jobs", true),
    ("batch", "cronjobs", true),
    ("networking.k8s.io", "ingresses", true),
    ("networking.k8s.io", "networkpolicies", true),
    ("rbac.authorization.k8s.io", "roles", true),
    ("rbac.authorization.k8s.io", "rolebindings", true),
    ("rbac.authorization.k8s.io", "clusterroles", false),
    ("rbac.authorization.k8s.io", "clusterrolebindings", false),
    ("apiextensions.k8s.io", "customresourcedefinitions", false),
    ("storage.k8s.io", "storageclasses", false),
    ("policy", "poddisruptionbudgets", true),
    ("autoscaling", "horizontalpodautoscalers", true),
    ("coordination.k8s.io", "leases", true),
];
const VERBS: &[&str] = &["get", "list", "watch", "create", "update", "patch", "delete"];

fn main() {
    let w = Workload::generate(10_000);
    let mut head = Workload::generate(10_000);
    // The head adds secrets to one namespace's pod-reader and binds one more user cluster-wide.
    head.roles[7].rules.push(PolicyRule::resource(&["get", "list"], &[""], &["secrets"]));
    head.cluster_role_bindings.push(rbac::ClusterRoleBinding::new(
        "extra",
        rbac::RoleRef::cluster_role("cluster-admin"),
        vec![rbac::Subject::user("new-admin")],
    ));
    let bindings = w.role_bindings.len() + w.cluster_role_bindings.len();
    println!("workload: {bindings} bindings ({} of them the bootstrap policy's)", bindings - w.n);

    let config = Configuration {
        roles: &w.roles,
        cluster_roles: &w.cluster_roles,
        role_bindings: &w.role_bindings,
        cluster_role_bindings: &w.cluster_role_bindings,
        aws_auth: None,
        access_entries: &[],
        mode: eks_auth::AuthenticationMode::ConfigMap,
    };
    let ours = median(|| {
        black_box(lint(&config));
    });
    let peer = median(|| {
        let subjects = subject_scan(&w);
        let risky: usize =
            subjects.values().filter(|p| p.iter().any(|p| risk::risks_of(&p.rule()).next().is_some())).count();
        black_box(risky);
    });
    report("lint", ours, peer, "rbac-tool analysis (subjects' permissions, then risks)");

    let ours = median(|| {
        let base = permissions::by_subject(&Authorizer::from_objects(
            &w.roles,
            &w.cluster_roles,
            &w.role_bindings,
            &w.cluster_role_bindings,
        ));
        let after = permissions::by_subject(&Authorizer::from_objects(
            &head.roles,
            &head.cluster_roles,
            &head.role_bindings,
            &head.cluster_role_bindings,
        ));
        black_box(diff::diff(&base, &after));
    });
    let peer = median(|| {
        black_box(diff::diff(&subject_scan(&w), &subject_scan(&head)));
    });
    let changes = diff::diff(
        &permissions::by_subject(&Authorizer::from_objects(
            &w.roles,
            &w.cluster_roles,
            &w.role_bindings,
            &w.cluster_role_bindings,
        )),
        &permissions::by_subject(&Authorizer::from_objects(
            &head.roles,
            &head.cluster_roles,
            &head.role_bindings,
            &head.cluster_role_bindings,
        )),
    );
    assert_eq!(changes, diff::diff(&subject_scan(&w), &subject_scan(&head)), "both find the same changes");
    report(
        &format!("diff ({} subjects changed)", changes.len()),
        ours,
        peer,
        "the same expansion, unshared, on both sides",
    );

    let authz = Authorizer::from_objects(&w.roles, &w.cluster_roles, &w.role_bindings, &w.cluster_role_bindings);
    let linear = LinearAuthorizer::new(&w.roles, &w.cluster_roles, &w.role_bindings, &w.cluster_role_bindings);
    let user = UserInfo::impersonated("u9999", &[]);
    let resources: Vec<Resource> = RESOURCES
        .iter()
        .map(|(g, r, namespaced)| Resource { group: g.to_string(), resource: r.to_string(), namespaced: *namespaced })
        .collect();
    let verbs: Vec<String> = VERBS.iter().map(|v| v.to_string()).collect();
    let namespace = "ns99";
    let ours = median(|| {
        let decide = |verb: &str, r: &Resource, ns: &str| {
            let d = authz.authorize(&r.attributes(&user, verb, ns));
            Cell { allowed: d.is_allowed(), reason: d.reason() }
        };
        black_box(matrix::build(&resources, &verbs, namespace, &decide));
    });
    let peer = median(|| {
        // rakkess: one rules review per scope, then every cell against every rule.
        let (namespaced_rules, _) = linear.rules_for(&user, namespace);
        let (cluster_rules, _) = linear.rules_for(&user, "");
        let decide = |verb: &str, r: &Resource, ns: &str| {
            let attrs = r.attributes(&user, verb, ns);
            let rules = if ns.is_empty() { &cluster_rules } else { &namespaced_rules };
            Cell { allowed: rules.iter().any(|rule| rbac::rule::rule_allows(&attrs, rule)), reason: String::new() }
        };
        black_box(matrix::build(&resources, &verbs, namespace, &decide));
    });
    report(
        &format!("matrix ({} x {} cells)", RESOURCES.len(), VERBS.len()),
        ours,
        peer,
        "rakkess (rules review, then match)",
    );
}

fn report(what: &str, ours: Duration, peer: Duration, peer_name: &str) {
    println!(
        "{what}: {:.2} ms (median of 9); {peer_name}: {:.2} ms; ratio {:.3}x",
        ours.as_secs_f64() * 1e3,
        peer.as_secs_f64() * 1e3,
        ours.as_secs_f64() / peer.as_secs_f64()
    );
}
