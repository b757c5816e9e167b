//! Rule matching exactly as kube-apiserver's RBAC authorizer does it (`RuleAllows` and its
//! helpers), and the policy comparator behind escalation prevention: `covers`, rule breakdown into
//! atoms, compaction, and the compact strings Kubernetes prints in its escalation errors.

use go_format::{quote, quote_list};

use crate::attributes::Attributes;
use crate::types::PolicyRule;

const ALL: &str = "*";

fn has(set: &[String], item: &str) -> bool {
    set.iter().any(|s| same(s, item))
}

/// String equality that never calls `memcmp` for empty strings: glibc's `memcmp` takes a slow path
/// on the dangling pointer of an empty Rust string, and the core group `""` is the commonest
/// value compared here (it was half the cost of an allowed decision).
#[inline]
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

/// A rule verb `*`, or the verb exactly (a request verb `*` matches only `*`).
pub fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    rule.verbs.iter().any(|v| v == ALL || same(v, verb))
}

/// A rule group `*`, or the group exactly (the core group is `""`).
pub fn api_group_matches(rule: &PolicyRule, group: &str) -> bool {
    rule.api_groups.iter().any(|g| g == ALL || same(g, group))
}

/// `*`, or `resource[/subresource]` exactly, or `*/subresource` for a request with that subresource.
pub fn resource_matches(rule: &PolicyRule, resource: &str, subresource: &str) -> bool {
    rule.resources.iter().any(|r| {
        if r == ALL {
            return true;
        }
        if subresource.is_empty() {
            return same(r, resource);
        }
        let combined = r.len() == resource.len() + 1 + subresource.len()
            && r.starts_with(resource)
            && r.as_bytes()[resource.len()] == b'/'
            && r.ends_with(subresource);
        combined || (r.len() == subresource.len() + 2 && r.starts_with("*/") && r.ends_with(subresource))
    })
}

/// No resourceNames means every name (including none); otherwise the name must be listed.
pub fn resource_name_matches(rule: &PolicyRule, name: &str) -> bool {
    rule.resource_names.is_empty() || has(&rule.resource_names, name)
}

/// `*`, the path exactly, or a prefix ending in `*` (all trailing `*` stripped).
pub fn non_resource_url_matches(rule: &PolicyRule, path: &str) -> bool {
    rule.non_resource_urls
        .iter()
        .any(|u| u == ALL || u == path || (u.ends_with('*') && path.starts_with(u.trim_end_matches('*'))))
}

/// Whether `rule` allows the request `attrs` (Kubernetes' `RuleAllows`).
pub fn rule_allows(attrs: &Attributes, rule: &PolicyRule) -> bool {
    match &attrs.resource {
        Some(r) => {
            verb_matches(rule, &attrs.verb)
                && api_group_matches(rule, &r.api_group)
                && resource_matches(rule, &r.resource, &r.subresource)
                && resource_name_matches(rule, &r.name)
        }
        None => verb_matches(rule, &attrs.verb) && non_resource_url_matches(rule, &attrs.path),
    }
}

/// Splits a rule into atoms: one per (group, resource, verb[, name]) and one per (URL, verb).
pub fn breakdown(rule: &PolicyRule) -> Vec<PolicyRule> {
    let mut atoms = Vec::new();
    for group in &rule.api_groups {
        for resource in &rule.resources {
            for verb in &rule.verbs {
                let atom = PolicyRule {
                    verbs: vec![verb.clone()],
                    api_groups: vec![group.clone()],
                    resources: vec![resource.clone()],
                    ..PolicyRule::default()
                };
                if rule.resource_names.is_empty() {
                    atoms.push(atom);
                } else {
                    atoms.extend(
                        rule.resource_names
                            .iter()
                            .map(|n| PolicyRule { resource_names: vec![n.clone()], ..atom.clone() }),
                    );
                }
            }
        }
    }
    for url in &rule.non_resource_urls {
        for verb in &rule.verbs {
            atoms.push(PolicyRule {
                verbs: vec![verb.clone()],
                non_resource_urls: vec![url.clone()],
                ..PolicyRule::default()
            });
        }
    }
    atoms
}

fn has_all(set: &[String], items: &[String]) -> bool {
    items.iter().all(|i| has(set, i))
}

fn resources_cover(owner: &[String], servant: &[String]) -> bool {
    if has(owner, ALL) || has_all(owner, servant) {
        return true;
    }
    servant.iter().all(|path| {
        has(owner, path)
            || path.split_once('/').is_some_and(|(_, sub)| owner.iter().any(|o| o.strip_prefix("*/") == Some(sub)))
    })
}

fn non_resource_url_covers(owner: &str, servant: &str) -> bool {
    owner == servant || (owner.ends_with('*') && servant.starts_with(owner.trim_end_matches('*')))
}

/// Whether one owner rule covers a servant rule (Kubernetes' `ruleCovers`).
pub fn rule_covers(owner: &PolicyRule, servant: &PolicyRule) -> bool {
    let verbs = has(&owner.verbs, ALL) || has_all(&owner.verbs, &servant.verbs);
    let groups = has(&owner.api_groups, ALL) || has_all(&owner.api_groups, &servant.api_groups);
    let resources = resources_cover(&owner.resources, &servant.resources);
    let urls =
        servant.non_resource_urls.iter().all(|s| owner.non_resource_urls.iter().any(|o| non_resource_url_covers(o, s)));
    let names = owner.resource_names.is_empty()
        || (!servant.resource_names.is_empty() && has_all(&owner.resource_names, &servant.resource_names));
    verbs && groups && resources && urls && names
}

/// Whether `owner` rules cover every atom of `servant` rules; the atoms not covered otherwise.
pub fn covers(owner: &[PolicyRule], servant: &[PolicyRule]) -> Result<(), Vec<PolicyRule>> {
    let missing: Vec<PolicyRule> =
        servant.iter().flat_map(breakdown).filter(|atom| !owner.iter().any(|o| rule_covers(o, atom))).collect();
    if missing.is_empty() { Ok(()) } else { Err(missing) }
}

/// A rule with one group, one resource, at most one name and nothing else can be merged with
/// others of the same (group, resource, name) by joining their verbs.
fn simple_key(rule: &PolicyRule) -> Option<(&str, &str, Option<&str>)> {
    if rule.resource_names.len() > 1
        || !rule.non_resource_urls.is_empty()
        || rule.api_groups.len() != 1
        || rule.resources.len() != 1
    {
        return None;
    }
    Some((&rule.api_groups[0], &rule.resources[0], rule.resource_names.first().map(String::as_str)))
}

/// Merges rules that differ only by verb (Kubernetes' `CompactRules`). `dedupe_verbs` is kubectl's
/// variant, which does not repeat a verb; the API server's appends verbs as they come.
pub fn compact(rules: &[PolicyRule], dedupe_verbs: bool) -> Vec<PolicyRule> {
    let mut compacted = Vec::with_capacity(rules.len());
    let mut simple: Vec<PolicyRule> = Vec::new();
    for rule in rules {
        let Some(key) = simple_key(rule) else {
            compacted.push(rule.clone());
            continue;
        };
        match simple.iter_mut().find(|s| simple_key(s) == Some(key)) {
            Some(existing) => {
                for verb in &rule.verbs {
                    if !dedupe_verbs || !existing.verbs.contains(verb) {
                        existing.verbs.push(verb.clone());
                    }
                }
            }
            None => simple.push(rule.clone()),
        }
    }
    compacted.extend(simple);
    compacted
}

/// Kubernetes' `CompactString`: `{APIGroups:["apps"], Resources:["deployments"], Verbs:["delete"]}`.
pub fn compact_string(rule: &PolicyRule) -> String {
    let parts: Vec<String> = [
        ("APIGroups", &rule.api_groups),
        ("Resources", &rule.resources),
        ("NonResourceURLs", &rule.non_resource_urls),
        ("ResourceNames", &rule.resource_names),
        ("Verbs", &rule.verbs),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| format!("{k}:{}", quote_list(v)))
    .collect();
    format!("{{{}}}", parts.join(", "))
}

/// The Go `String()` of a `rbacv1.PolicyRule`, which kubectl sorts `auth can-i --list` rows by.
pub fn go_string(rule: &PolicyRule) -> String {
    let list = |v: &[String]| format!("[{}]", v.join(" "));
    format!(
        "&PolicyRule{{Verbs:{},APIGroups:{},Resources:{},ResourceNames:{},NonResourceURLs:{},}}",
        list(&rule.verbs),
        list(&rule.api_groups),
        list(&rule.resources),
        list(&rule.resource_names),
        list(&rule.non_resource_urls)
    )
}

/// A rule in one line for people: `get,list pods,pods/log in "" (names: a)`.
pub fn describe(rule: &PolicyRule) -> String {
    let verbs = rule.verbs.join(",");
    if !rule.non_resource_urls.is_empty() {
        return format!("{verbs} on {}", rule.non_resource_urls.join(","));
    }
    let groups: Vec<String> = rule.api_groups.iter().map(|g| quote(g)).collect();
    let mut text = format!("{verbs} {} in group {}", rule.resources.join(","), groups.join(","));
    if !rule.resource_names.is_empty() {
        text.push_str(&format!(" (names: {})", rule.resource_names.join(",")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attributes::ResourceAttributes;

    fn get(resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes::resource(
            crate::UserInfo::default(),
            "get",
            ResourceAttributes {
                namespace: "ns".into(),
                resource: resource.into(),
                subresource: sub.into(),
                name: name.into(),
                ..Default::default()
            },
        )
    }

    #[test]
    fn subresource_forms() {
        let star_scale = PolicyRule::resource(&["get"], &[""], &["*/scale"]);
        assert!(rule_allows(&get("deployments", "scale", ""), &star_scale));
        assert!(!rule_allows(&get("deployments", "", ""), &star_scale));
        assert!(!rule_allows(&get("deployments", "status", ""), &star_scale));
        let pods_star = PolicyRule::resource(&["get"], &[""], &["pods/*"]);
        assert!(!rule_allows(&get("pods", "log", ""), &pods_star));
        let pods = PolicyRule::resource(&["get"], &[""], &["pods"]);
        assert!(!rule_allows(&get("pods", "log", ""), &pods));
        let pods_log = PolicyRule::resource(&["get"], &[""], &["pods/log"]);
        assert!(rule_allows(&get("pods", "log", "x"), &pods_log));
        assert!(!rule_allows(&get("pods", "", "x"), &pods_log));
        assert!(!rule_allows(&get("podsx", "log", "x"), &PolicyRule::resource(&["get"], &[""], &["pods/logx"])));
    }

    #[test]
    fn non_resource_prefixes() {
        let rule = PolicyRule::non_resource(&["get"], &["/apis/*"]);
        assert!(non_resource_url_matches(&rule, "/apis/"));
        assert!(non_resource_url_matches(&rule, "/apis/v1/x"));
        assert!(!non_resource_url_matches(&rule, "/apis"));
        let double = PolicyRule::non_resource(&["get"], &["/a**"]);
        assert!(non_resource_url_matches(&double, "/ab"));
    }

    #[test]
    fn covers_rules() {
        let owner = vec![PolicyRule::resource(&["*"], &[""], &["pods", "*/scale"])];
        assert!(
            covers(&owner, &[PolicyRule::resource(&["get", "list"], &[""], &["pods", "deployments/scale"])]).is_ok()
        );
        let missing = covers(&owner, &[PolicyRule::resource(&["get"], &[""], &["pods/log", "*"])]).unwrap_err();
        assert_eq!(missing.len(), 2);
        // A named owner rule does not cover an unnamed atom; an unnamed one covers named atoms.
        let named = vec![PolicyRule::resource(&["get"], &[""], &["pods"]).with_names(&["a"])];
        assert!(covers(&named, &[PolicyRule::resource(&["get"], &[""], &["pods"])]).is_err());
        assert!(covers(&named, &[PolicyRule::resource(&["get"], &[""], &["pods"]).with_names(&["a"])]).is_ok());
        // A `*` verb in the servant is covered only by `*`.
        let all_verbs = vec![PolicyRule::resource(&["get", "list"], &[""], &["pods"])];
        assert!(covers(&all_verbs, &[PolicyRule::resource(&["*"], &[""], &["pods"])]).is_err());
        let urls = vec![PolicyRule::non_resource(&["get"], &["/apis/*"])];
        assert!(covers(&urls, &[PolicyRule::non_resource(&["get"], &["/apis/v1"])]).is_ok());
        assert!(covers(&urls, &[PolicyRule::non_resource(&["get"], &["/apis"])]).is_err());
    }

    #[test]
    fn compact_and_strings() {
        let atoms = breakdown(&PolicyRule::resource(&["get", "delete"], &["apps"], &["deployments"]));
        let compacted = compact(&atoms, false);
        assert_eq!(compacted.len(), 1);
        assert_eq!(
            compact_string(&compacted[0]),
            r#"{APIGroups:["apps"], Resources:["deployments"], Verbs:["get" "delete"]}"#
        );
        assert_eq!(
            go_string(&PolicyRule::non_resource(&["get"], &["/api"])),
            "&PolicyRule{Verbs:[get],APIGroups:[],Resources:[],ResourceNames:[],NonResourceURLs:[/api],}"
        );
    }
}
