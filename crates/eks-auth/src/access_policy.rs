//! EKS access policies as data, and their evaluation: an allow-only authorizer that runs ahead
//! of RBAC and says "allow, because …" or has no opinion.
//!
//! The rules are those of the EKS user guide's access-policy reference (awsdocs
//! `access-policy-reference.adoc`). Policies EKS documents only in prose (the Auto Mode, hybrid
//! and system policies reserved for service-linked roles) are listed, so `ListAccessPolicies`
//! shows them, but carry only the rules that page publishes as a table; the others grant nothing
//! here.
//!
//! Rules are `rbac` `PolicyRule`s matched by `rbac`'s own `rule_allows`; scopes are the whole
//! cluster or a list of namespace patterns, where `*` matches any run of characters (`dev-*`).

use std::sync::LazyLock;

use rbac::{Attributes, PolicyRule};

/// Every access policy ARN starts with this (commercial partition).
pub const ACCESS_POLICY_ARN_PREFIX: &str = "arn:aws:eks::aws:cluster-access-policy/";

/// One allow rule as the reference table writes it (the policies have no resource names).
#[derive(Clone, Copy)]
struct RuleSpec {
    api_groups: &'static [&'static str],
    resources: &'static [&'static str],
    non_resource_urls: &'static [&'static str],
    verbs: &'static [&'static str],
}

impl RuleSpec {
    const fn resources(
        api_groups: &'static [&'static str],
        resources: &'static [&'static str],
        verbs: &'static [&'static str],
    ) -> Self {
        RuleSpec { api_groups, resources, non_resource_urls: &[], verbs }
    }

    fn to_policy_rule(self) -> PolicyRule {
        let strings = |items: &[&str]| items.iter().map(|item| item.to_string()).collect();
        PolicyRule {
            verbs: strings(self.verbs),
            api_groups: strings(self.api_groups),
            resources: strings(self.resources),
            resource_names: Vec::new(),
            non_resource_urls: strings(self.non_resource_urls),
        }
    }
}

/// An EKS access policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessPolicy {
    pub name: &'static str,
    /// Its rules, as RBAC `PolicyRule`s.
    pub rules: Vec<PolicyRule>,
}

impl AccessPolicy {
    /// `arn:aws:eks::aws:cluster-access-policy/<name>`.
    pub fn arn(&self) -> String {
        format!("{ACCESS_POLICY_ARN_PREFIX}{}", self.name)
    }

    /// The first rule allowing the request, if any (RBAC's matching).
    pub fn allowing_rule(&self, attributes: &Attributes) -> Option<&PolicyRule> {
        self.rules.iter().find(|rule| rbac::rule::rule_allows(attributes, rule))
    }
}

/// Every access policy EKS lists, sorted by name (the order `ListAccessPolicies` returns).
pub fn access_policies() -> &'static [AccessPolicy] {
    &ACCESS_POLICIES
}

/// The policy with this ARN.
pub fn access_policy(arn: &str) -> Option<&'static AccessPolicy> {
    let name = arn.strip_prefix(ACCESS_POLICY_ARN_PREFIX)?;
    ACCESS_POLICIES.iter().find(|policy| policy.name == name)
}

/// Whether a namespace name matches a scope's pattern (`*` matches any run of characters).
pub fn namespace_matches(pattern: &str, namespace: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = namespace.strip_prefix(first) else { return false };
    let mut parts = parts.peekable();
    if parts.peek().is_none() {
        return rest.is_empty();
    }
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const READ: &[&str] = &["get", "list", "watch"];

const APPS_WRITE: RuleSpec = RuleSpec::resources(
    &["apps"],
    &[
        "daemonsets",
        "deployments",
        "deployments/rollback",
        "deployments/scale",
        "replicasets",
        "replicasets/scale",
        "statefulsets",
        "statefulsets/scale",
    ],
    WRITE,
);
const APPS_READ: RuleSpec = RuleSpec::resources(
    &["apps"],
    &[
        "controllerrevisions",
        "daemonsets",
        "daemonsets/status",
        "deployments",
        "deployments/scale",
        "deployments/status",
        "replicasets",
        "replicasets/scale",
        "replicasets/status",
        "statefulsets",
        "statefulsets/scale",
        "statefulsets/status",
    ],
    READ,
);
const LOCAL_SUBJECT_ACCESS_REVIEWS: RuleSpec =
    RuleSpec::resources(&["authorization.k8s.io"], &["localsubjectaccessreviews"], &["create"]);
const AUTOSCALING_WRITE: RuleSpec = RuleSpec::resources(&["autoscaling"], &["horizontalpodautoscalers"], WRITE);
const AUTOSCALING_READ: RuleSpec =
    RuleSpec::resources(&["autoscaling"], &["horizontalpodautoscalers", "horizontalpodautoscalers/status"], READ);
const BATCH_WRITE: RuleSpec = RuleSpec::resources(&["batch"], &["cronjobs", "jobs"], WRITE);
const BATCH_READ: RuleSpec =
    RuleSpec::resources(&["batch"], &["cronjobs", "cronjobs/status", "jobs", "jobs/status"], READ);
const ENDPOINTSLICES_READ: RuleSpec = RuleSpec::resources(&["discovery.k8s.io"], &["endpointslices"], READ);
const EXTENSIONS_WRITE: RuleSpec = RuleSpec::resources(
    &["extensions"],
    &[
        "daemonsets",
        "deployments",
        "deployments/rollback",
        "deployments/scale",
        "ingresses",
        "networkpolicies",
        "replicasets",
        "replicasets/scale",
        "replicationcontrollers/scale",
    ],
    WRITE,
);
const EXTENSIONS_READ: RuleSpec = RuleSpec::resources(
    &["extensions"],
    &[
        "daemonsets",
        "daemonsets/status",
        "deployments",
        "deployments/scale",
        "deployments/status",
        "ingresses",
        "ingresses/status",
        "networkpolicies",
        "replicasets",
        "replicasets/scale",
        "replicasets/status",
        "replicationcontrollers/scale",
    ],
    READ,
);
const NETWORKING_READ: RuleSpec =
    RuleSpec::resources(&["networking.k8s.io"], &["ingresses", "ingresses/status", "networkpolicies"], READ);
const NETWORKING_WRITE: RuleSpec =
    RuleSpec::resources(&["networking.k8s.io"], &["ingresses", "networkpolicies"], WRITE);
const POLICY_WRITE: RuleSpec = RuleSpec::resources(&["policy"], &["poddisruptionbudgets"], WRITE);
const POLICY_READ: RuleSpec =
    RuleSpec::resources(&["policy"], &["poddisruptionbudgets", "poddisruptionbudgets/status"], READ);
const RBAC_ALL: RuleSpec = RuleSpec::resources(
    &["rbac.authorization.k8s.io"],
    &["rolebindings", "roles"],
    &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
);
const CORE_READ: RuleSpec = RuleSpec::resources(
    &[""],
    &[
        "configmaps",
        "endpoints",
        "persistentvolumeclaims",
        "persistentvolumeclaims/status",
        "pods",
        "replicationcontrollers",
        "replicationcontrollers/scale",
        "serviceaccounts",
        "services",
        "services/status",
    ],
    READ,
);
const CORE_SENSITIVE_READ: RuleSpec = RuleSpec::resources(
    &[""],
    &["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"],
    READ,
);
const CORE_WRITE: RuleSpec = RuleSpec::resources(
    &[""],
    &[
        "configmaps",
        "events",
        "persistentvolumeclaims",
        "replicationcontrollers",
        "replicationcontrollers/scale",
        "secrets",
        "serviceaccounts",
        "services",
        "services/proxy",
    ],
    WRITE,
);
const PODS_WRITE: RuleSpec =
    RuleSpec::resources(&[""], &["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"], WRITE);
const IMPERSONATE_SERVICE_ACCOUNTS: RuleSpec = RuleSpec::resources(&[""], &["serviceaccounts"], &["impersonate"]);
const CORE_STATUS_READ: RuleSpec = RuleSpec::resources(
    &[""],
    &[
        "bindings",
        "events",
        "limitranges",
        "namespaces/status",
        "pods/log",
        "pods/status",
        "replicationcontrollers/status",
        "resourcequotas",
        "resourcequotas/status",
    ],
    READ,
);
const NAMESPACES_READ: RuleSpec = RuleSpec::resources(&[""], &["namespaces"], READ);

const POLICY_TABLE: &[(&str, &[RuleSpec])] = &[
    ("AmazonAIOpsAssistantPolicy", &[]),
    ("AmazonARCRegionSwitchScalingPolicy", &[]),
    (
        "AmazonEKSAdminPolicy",
        &[
            APPS_WRITE,
            APPS_READ,
            LOCAL_SUBJECT_ACCESS_REVIEWS,
            AUTOSCALING_WRITE,
            AUTOSCALING_READ,
            BATCH_WRITE,
            BATCH_READ,
            ENDPOINTSLICES_READ,
            EXTENSIONS_WRITE,
            EXTENSIONS_READ,
            NETWORKING_READ,
            NETWORKING_WRITE,
            POLICY_WRITE,
            POLICY_READ,
            RBAC_ALL,
            CORE_READ,
            CORE_SENSITIVE_READ,
            CORE_WRITE,
            PODS_WRITE,
            IMPERSONATE_SERVICE_ACCOUNTS,
            CORE_STATUS_READ,
            NAMESPACES_READ,
        ],
    ),
    ("AmazonEKSAdminViewPolicy", &[RuleSpec::resources(&["*"], &["*"], READ)]),
    ("AmazonEKSAutoNodePolicy", &[]),
    ("AmazonEKSBlockStorageClusterPolicy", &[]),
    ("AmazonEKSBlockStoragePolicy", &[]),
    (
        "AmazonEKSClusterAdminPolicy",
        &[
            RuleSpec::resources(&["*"], &["*"], &["*"]),
            RuleSpec { api_groups: &[], resources: &[], non_resource_urls: &["*"], verbs: &["*"] },
        ],
    ),
    ("AmazonEKSClusterInsightsPolicy", &[]),
    ("AmazonEKSComputeClusterPolicy", &[]),
    ("AmazonEKSComputePolicy", &[]),
    (
        "AmazonEKSEditPolicy",
        &[
            APPS_WRITE,
            APPS_READ,
            AUTOSCALING_READ,
            AUTOSCALING_WRITE,
            BATCH_WRITE,
            BATCH_READ,
            ENDPOINTSLICES_READ,
            EXTENSIONS_WRITE,
            EXTENSIONS_READ,
            NETWORKING_WRITE,
            NETWORKING_READ,
            POLICY_WRITE,
            POLICY_READ,
            NAMESPACES_READ,
            CORE_SENSITIVE_READ,
            IMPERSONATE_SERVICE_ACCOUNTS,
            PODS_WRITE,
            CORE_WRITE,
            CORE_READ,
            CORE_STATUS_READ,
        ],
    ),
    ("AmazonEKSHybridPolicy", &[RuleSpec::resources(&["*"], &["nodes"], &["list"])]),
    ("AmazonEKSLoadBalancingClusterPolicy", &[]),
    ("AmazonEKSLoadBalancingPolicy", &[]),
    ("AmazonEKSNetworkingClusterPolicy", &[]),
    ("AmazonEKSNetworkingPolicy", &[]),
    ("AmazonEKSSecretReaderPolicy", &[RuleSpec::resources(&[""], &["secrets"], READ)]),
    (
        "AmazonEKSViewPolicy",
        &[
            APPS_READ,
            AUTOSCALING_READ,
            BATCH_READ,
            ENDPOINTSLICES_READ,
            EXTENSIONS_READ,
            NETWORKING_READ,
            POLICY_READ,
            CORE_READ,
            CORE_STATUS_READ,
            NAMESPACES_READ,
        ],
    ),
];

static ACCESS_POLICIES: LazyLock<Vec<AccessPolicy>> = LazyLock::new(|| {
    POLICY_TABLE
        .iter()
        .map(|(name, rules)| AccessPolicy { name, rules: rules.iter().map(|rule| rule.to_policy_rule()).collect() })
        .collect()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_listed_sorted_and_found_by_arn() {
        let names: Vec<&str> = access_policies().iter().map(|p| p.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert_eq!(names.len(), 19);
        let admin = access_policy("arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy").unwrap();
        assert_eq!(admin.arn(), "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy");
        assert!(access_policy("arn:aws:eks:aws:cluster-access-policy/AmazonEKSClusterAdminPolicy").is_none());
        assert!(access_policy("arn:aws:eks::aws:cluster-access-policy/Nope").is_none());
    }

    #[test]
    fn namespace_patterns() {
        for (pattern, namespace, matches) in [
            ("dev", "dev", true),
            ("dev", "dev2", false),
            ("dev-*", "dev-a", true),
            ("dev-*", "dev-", true),
            ("dev-*", "prod-a", false),
            ("*", "anything", true),
            ("*-team", "a-team", true),
            ("*-team", "a-teams", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxcyyb", false),
        ] {
            assert_eq!(namespace_matches(pattern, namespace), matches, "{pattern} {namespace}");
        }
    }
}
