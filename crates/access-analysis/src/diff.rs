//! The effective-permission change between two configurations: per subject (and per IAM
//! principal, when the caller adds them), the permissions gained and lost, and which gained
//! ones are risky. Rendered as text, JSON or a Markdown summary for a pull-request comment.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::permissions::{Permission, Permissions};
use crate::risk::Risk;

/// What changed for one subject or principal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// `User alice`, `Group g`, `ServiceAccount ns/name`, or `IAM arn:...`.
    pub subject: String,
    pub gained: Vec<Permission>,
    pub lost: Vec<Permission>,
    /// The gained permissions that carry a risk, with the lint rule IDs of their risks.
    pub risky: Vec<RiskyGrant>,
}

/// A gained permission that carries risks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RiskyGrant {
    pub permission: Permission,
    /// Lint rule IDs (`RBAC001`, ...).
    pub rules: Vec<&'static str>,
    /// What the risks let the holder do.
    pub what: Vec<&'static str>,
}

/// The changes from `base` to `head`, subjects with no change left out, in subject order.
pub fn diff(base: &BTreeMap<String, Permissions>, head: &BTreeMap<String, Permissions>) -> Vec<Change> {
    let empty = Permissions::new();
    let mut subjects: Vec<&String> = base.keys().chain(head.keys()).collect();
    subjects.sort();
    subjects.dedup();
    let mut out = Vec::new();
    for subject in subjects {
        let before = base.get(subject).unwrap_or(&empty);
        let after = head.get(subject).unwrap_or(&empty);
        if before == after {
            continue;
        }
        let gained: Vec<Permission> = after.difference(before).cloned().collect();
        let lost: Vec<Permission> = before.difference(after).cloned().collect();
        let risky = gained
            .iter()
            .filter_map(|p| {
                let risks: Vec<Risk> = p.risks();
                (!risks.is_empty()).then(|| RiskyGrant {
                    permission: p.clone(),
                    rules: risks.iter().map(|r| r.rule_id()).collect(),
                    what: risks.iter().map(|r| r.what()).collect(),
                })
            })
            .collect();
        out.push(Change { subject: subject.clone(), gained, lost, risky });
    }
    out
}

/// Whether any change gains a risky permission.
pub fn has_risky_grant(changes: &[Change]) -> bool {
    changes.iter().any(|c| !c.risky.is_empty())
}

/// The changes as text: per subject, `+ gained`, `- lost`, `! risky` lines.
pub fn text(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "No change in effective permissions.\n".into();
    }
    let mut out = String::new();
    for change in changes {
        out.push_str(&format!("{}: {} gained, {} lost\n", change.subject, change.gained.len(), change.lost.len()));
        for p in &change.gained {
            out.push_str(&format!("  + {p}\n"));
        }
        for p in &change.lost {
            out.push_str(&format!("  - {p}\n"));
        }
        for r in &change.risky {
            out.push_str(&format!("  ! {} — {} ({})\n", r.permission, r.what.join("; "), r.rules.join(", ")));
        }
    }
    out
}

/// The changes as a Markdown summary fit for a pull-request comment.
pub fn markdown(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "### Access changes\n\nNo change in effective permissions.\n".into();
    }
    let risky: usize = changes.iter().map(|c| c.risky.len()).sum();
    let mut out = format!(
        "### Access changes\n\n{} subject(s) changed, {risky} new risky grant(s).\n\n| Subject | Gained | Lost | Risky |\n|---|---|---|---|\n",
        changes.len()
    );
    for c in changes {
        out.push_str(&format!("| `{}` | {} | {} | {} |\n", c.subject, c.gained.len(), c.lost.len(), c.risky.len()));
    }
    for c in changes {
        out.push_str(&format!("\n<details><summary><code>{}</code></summary>\n\n", c.subject));
        for r in &c.risky {
            out.push_str(&format!("- :warning: `{}`: {} ({})\n", r.permission, r.what.join("; "), r.rules.join(", ")));
        }
        for p in &c.gained {
            out.push_str(&format!("- ➕ `{p}`\n"));
        }
        for p in &c.lost {
            out.push_str(&format!("- ➖ `{p}`\n"));
        }
        out.push_str("\n</details>\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permissions::atoms;
    use rbac::PolicyRule;

    #[test]
    fn gained_lost_and_risky() {
        let base: BTreeMap<String, Permissions> = BTreeMap::from([(
            "User u".to_string(),
            atoms(&[PolicyRule::resource(&["list"], &[""], &["pods"])], "default").into_iter().collect(),
        )]);
        let head = BTreeMap::from([(
            "User u".to_string(),
            atoms(&[PolicyRule::resource(&["get"], &[""], &["secrets", "pods"])], "default").into_iter().collect(),
        )]);
        let changes = diff(&base, &head);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].gained.len(), 2);
        assert_eq!(changes[0].lost.iter().map(|p| p.to_string()).collect::<Vec<_>>(), ["list pods in default"]);
        assert_eq!(changes[0].risky.len(), 1);
        assert_eq!(changes[0].risky[0].rules, ["RBAC001"]);
        assert!(has_risky_grant(&changes));
        assert!(markdown(&changes).contains("| `User u` | 2 | 1 | 1 |"));
        assert!(diff(&head, &head).is_empty());
    }
}
