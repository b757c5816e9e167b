//! The risky permissions: what one RBAC rule grants that lets its holder read secrets, run code
//! in pods, take over identities or rewrite who may do what. Each is a predicate over a
//! `PolicyRule` (resource names ignored: a rule limited to some names still grants the power on
//! those), shared by `lint` (per rule of a role) and `diff` (per gained permission).

use rbac::PolicyRule;
use rbac::rule::{api_group_matches, resource_matches, verb_matches};

/// One kind of risky permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Risk {
    SecretsRead,
    PodExec,
    PortForward,
    Impersonate,
    EscalateBind,
    NodesProxy,
    TokenCreate,
    Wildcard,
    RbacWrite,
    WebhookWrite,
    CsrApprove,
    StatusWrite,
    AwsAuthWrite,
    WorkloadCreate,
    CrdWrite,
}

/// Whether `rule` grants one of `verbs` on one of `resources` (`resource[/subresource]`) of `group`.
fn grants(rule: &PolicyRule, verbs: &[&str], group: &str, resources: &[&str]) -> bool {
    verbs.iter().any(|v| verb_matches(rule, v))
        && api_group_matches(rule, group)
        && resources.iter().any(|r| {
            let (resource, sub) = r.split_once('/').unwrap_or((r, ""));
            resource_matches(rule, resource, sub)
        })
}

const WRITE: &[&str] = &["create", "update", "patch"];

impl Risk {
    /// Every risk, in the order findings list them.
    pub const ALL: [Risk; 15] = [
        Risk::Wildcard,
        Risk::Impersonate,
        Risk::EscalateBind,
        Risk::NodesProxy,
        Risk::WebhookWrite,
        Risk::AwsAuthWrite,
        Risk::SecretsRead,
        Risk::PodExec,
        Risk::PortForward,
        Risk::TokenCreate,
        Risk::RbacWrite,
        Risk::CsrApprove,
        Risk::StatusWrite,
        Risk::WorkloadCreate,
        Risk::CrdWrite,
    ];

    /// Whether `rule` grants this power.
    pub fn in_rule(self, rule: &PolicyRule) -> bool {
        let rbac = "rbac.authorization.k8s.io";
        match self {
            Risk::SecretsRead => grants(rule, &["get", "list", "watch"], "", &["secrets"]),
            Risk::PodExec => {
                grants(rule, &["create", "get"], "", &["pods/exec", "pods/attach"])
                    || grants(rule, &["update", "patch"], "", &["pods/ephemeralcontainers"])
            }
            Risk::PortForward => grants(rule, &["create", "get"], "", &["pods/portforward"]),
            Risk::Impersonate => {
                grants(rule, &["impersonate"], "", &["users", "groups", "serviceaccounts", "uids"])
                    || grants(rule, &["impersonate"], "authentication.k8s.io", &["userextras/*", "uids"])
            }
            Risk::EscalateBind => grants(rule, &["escalate", "bind"], rbac, &["roles", "clusterroles"]),
            Risk::NodesProxy => grants(rule, &["get", "create"], "", &["nodes/proxy"]),
            Risk::TokenCreate => grants(rule, &["create"], "", &["serviceaccounts/token"]),
            Risk::Wildcard => {
                rule.verbs.iter().any(|v| v == "*")
                    || rule.resources.iter().any(|r| r == "*")
                    || rule.non_resource_urls.iter().any(|u| u == "*")
            }
            Risk::RbacWrite => {
                grants(rule, WRITE, rbac, &["roles", "rolebindings", "clusterroles", "clusterrolebindings"])
            }
            Risk::WebhookWrite => grants(
                rule,
                WRITE,
                "admissionregistration.k8s.io",
                &["mutatingwebhookconfigurations", "validatingwebhookconfigurations"],
            ),
            Risk::CsrApprove => {
                grants(rule, &["update", "patch"], "certificates.k8s.io", &["certificatesigningrequests/approval"])
            }
            Risk::StatusWrite => {
                grants(rule, &["update", "patch"], "", &["nodes/status", "pods/status", "services/status"])
            }
            Risk::AwsAuthWrite => {
                grants(rule, &["update", "patch", "delete"], "", &["configmaps"])
                    && (rule.resource_names.is_empty() || rule.resource_names.iter().any(|n| n == "aws-auth"))
            }
            Risk::WorkloadCreate => {
                grants(rule, WRITE, "", &["pods", "replicationcontrollers"])
                    || grants(rule, WRITE, "apps", &["deployments", "daemonsets", "statefulsets", "replicasets"])
                    || grants(rule, WRITE, "batch", &["jobs", "cronjobs"])
            }
            Risk::CrdWrite => grants(
                rule,
                &["create", "update", "patch", "delete"],
                "apiextensions.k8s.io",
                &["customresourcedefinitions"],
            ),
        }
    }

    /// The lint rule that reports it.
    pub fn rule_id(self) -> &'static str {
        match self {
            Risk::SecretsRead => "RBAC001",
            Risk::PodExec => "RBAC002",
            Risk::PortForward => "RBAC003",
            Risk::Impersonate => "RBAC004",
            Risk::EscalateBind => "RBAC005",
            Risk::NodesProxy => "RBAC006",
            Risk::TokenCreate => "RBAC007",
            Risk::Wildcard => "RBAC008",
            Risk::RbacWrite => "RBAC009",
            Risk::WebhookWrite => "RBAC010",
            Risk::CsrApprove => "RBAC011",
            Risk::StatusWrite => "RBAC012",
            Risk::AwsAuthWrite => "RBAC013",
            Risk::WorkloadCreate => "RBAC014",
            Risk::CrdWrite => "RBAC015",
        }
    }

    /// What it lets the holder do, in a few words.
    pub fn what(self) -> &'static str {
        match self {
            Risk::SecretsRead => "reads secrets",
            Risk::PodExec => "runs commands in pods (exec, attach, ephemeral containers)",
            Risk::PortForward => "port-forwards into pods",
            Risk::Impersonate => "impersonates users, groups or service accounts",
            Risk::EscalateBind => "escalates or binds roles beyond its own rights",
            Risk::NodesProxy => "reaches the kubelet API through nodes/proxy",
            Risk::TokenCreate => "creates service account tokens",
            Risk::Wildcard => "holds a wildcard (*) verb, resource or URL",
            Risk::RbacWrite => "writes roles or bindings",
            Risk::WebhookWrite => "writes admission webhook configurations",
            Risk::CsrApprove => "approves certificate signing requests",
            Risk::StatusWrite => "rewrites node, pod or service status",
            Risk::AwsAuthWrite => "edits or deletes configmaps, aws-auth included",
            Risk::WorkloadCreate => "creates or changes pods and workloads",
            Risk::CrdWrite => "installs or changes CustomResourceDefinitions",
        }
    }

    /// Whether the risk matters in `namespace` (`""` for cluster-wide): editing configmaps is
    /// an aws-auth risk only where aws-auth lives.
    pub fn applies_in(self, namespace: &str) -> bool {
        self != Risk::AwsAuthWrite || namespace.is_empty() || namespace == "kube-system"
    }
}

/// The risks `rule` carries, in [`Risk::ALL`]'s order.
pub fn risks_of(rule: &PolicyRule) -> impl Iterator<Item = Risk> + '_ {
    Risk::ALL.into_iter().filter(|risk| risk.in_rule(rule))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_follow_rbac_matching() {
        let read = PolicyRule::resource(&["get", "list", "watch"], &[""], &["pods", "pods/log", "configmaps"]);
        assert_eq!(risks_of(&read).count(), 0);
        let secrets = PolicyRule::resource(&["get"], &[""], &["secrets"]).with_names(&["db"]);
        assert_eq!(risks_of(&secrets).collect::<Vec<_>>(), [Risk::SecretsRead]);
        let exec = PolicyRule::resource(&["create"], &[""], &["pods/exec"]);
        assert_eq!(risks_of(&exec).collect::<Vec<_>>(), [Risk::PodExec]);
        let star = PolicyRule::resource(&["*"], &["*"], &["*"]);
        assert!(risks_of(&star).count() >= 10);
        let sub_star = PolicyRule::resource(&["get"], &[""], &["*/proxy"]);
        assert!(Risk::NodesProxy.in_rule(&sub_star));
        let named_cm = PolicyRule::resource(&["update"], &[""], &["configmaps"]).with_names(&["app-config"]);
        assert!(!Risk::AwsAuthWrite.in_rule(&named_cm));
        assert!(!Risk::AwsAuthWrite.applies_in("team-a") && Risk::AwsAuthWrite.applies_in("kube-system"));
    }
}
