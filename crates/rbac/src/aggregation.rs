//! ClusterRole aggregation as a pure function: what the clusterrole-aggregation controller writes
//! into the `rules` of every ClusterRole with an `aggregationRule`.
//!
//! For each selector in order, the cluster roles it selects (sorted by name, the role itself
//! excluded) contribute their rules not already present. The controller reruns on every change,
//! so chains (view → edit → admin) converge; here the passes are repeated until nothing changes.

use std::collections::BTreeMap;

use crate::types::{ClusterRole, LabelSelector, PolicyRule};

/// Whether `labels` satisfy `selector` (`matchLabels` and `matchExpressions`). An empty selector
/// matches everything; an unknown operator matches nothing.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    selector.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
        && selector.match_expressions.iter().all(|req| {
            let value = labels.get(&req.key);
            match req.operator.as_str() {
                "In" => value.is_some_and(|v| req.values.contains(v)),
                "NotIn" => value.is_none_or(|v| !req.values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

/// The aggregated rules of one role, given the current rules of all cluster roles.
fn aggregate_one(role: &ClusterRole, all: &[ClusterRole]) -> Option<Vec<PolicyRule>> {
    let rule = role.aggregation_rule.as_ref()?;
    let mut sorted: Vec<&ClusterRole> = all.iter().filter(|r| r.metadata.name != role.metadata.name).collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut rules: Vec<PolicyRule> = Vec::new();
    for selector in &rule.cluster_role_selectors {
        for selected in sorted.iter().filter(|r| selector_matches(selector, &r.metadata.labels)) {
            for r in &selected.rules {
                if !rules.contains(r) {
                    rules.push(r.clone());
                }
            }
        }
    }
    Some(rules)
}

/// Returns `roles` with the rules of every aggregated ClusterRole filled in, as the controller
/// leaves them once it has settled. Roles without an aggregationRule are unchanged.
pub fn aggregate(roles: &[ClusterRole]) -> Vec<ClusterRole> {
    let mut current = roles.to_vec();
    // Each pass settles at least one more link of any chain; a cycle stops at the bound.
    for _ in 0..=roles.len() {
        let mut changed = false;
        for i in 0..current.len() {
            if let Some(rules) = aggregate_one(&current[i], &current)
                && rules != current[i].rules
            {
                current[i].rules = rules;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{AggregationRule, LabelSelectorRequirement};

    fn labelled(name: &str, label: &str, rules: Vec<PolicyRule>) -> ClusterRole {
        let mut r = ClusterRole::new(name, rules);
        r.metadata.labels.insert(label.into(), "true".into());
        r
    }

    fn aggregating(name: &str, label: &str) -> ClusterRole {
        let mut r = ClusterRole::new(name, vec![PolicyRule::resource(&["hand"], &["x"], &["written"])]);
        r.aggregation_rule = Some(AggregationRule {
            cluster_role_selectors: vec![LabelSelector {
                match_labels: [(label.to_string(), "true".to_string())].into(),
                ..Default::default()
            }],
        });
        r
    }

    #[test]
    fn chains_converge_in_name_order() {
        let a = PolicyRule::resource(&["get"], &[""], &["a"]);
        let b = PolicyRule::resource(&["get"], &[""], &["b"]);
        let mut top = aggregating("top", "to-top");
        top.metadata.labels.clear();
        let mut mid = aggregating("mid", "to-mid");
        mid.metadata.labels.insert("to-top".into(), "true".into());
        let roles = vec![
            top,
            mid,
            labelled("z-part", "to-mid", vec![a.clone()]),
            labelled("a-part", "to-mid", vec![b.clone(), a.clone()]),
            labelled("direct", "to-top", vec![a.clone()]),
        ];
        let out = aggregate(&roles);
        assert_eq!(out[1].rules, vec![b.clone(), a.clone()]);
        // "direct" < "mid": its rule comes first, then mid's (minus duplicates); hand-written ones are gone.
        assert_eq!(out[0].rules, vec![a, b]);
    }

    #[test]
    fn expressions() {
        let labels: BTreeMap<String, String> = [("tier".to_string(), "web".to_string())].into();
        let req = |op: &str, values: &[&str]| LabelSelector {
            match_expressions: vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: op.into(),
                values: values.iter().map(|s| s.to_string()).collect(),
            }],
            ..Default::default()
        };
        assert!(selector_matches(&req("In", &["web", "db"]), &labels));
        assert!(!selector_matches(&req("NotIn", &["web"]), &labels));
        assert!(selector_matches(&req("Exists", &[]), &labels));
        assert!(!selector_matches(&req("DoesNotExist", &[]), &labels));
        assert!(!selector_matches(&req("Bogus", &[]), &labels));
        assert!(selector_matches(&LabelSelector::default(), &labels));
    }
}
