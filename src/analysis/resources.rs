//! Offline resource discovery: the built-in resources of Kubernetes 1.32 (`resources.txt`, data)
//! and kubectl's resolution of a resource argument against them (plural, singular or short name,
//! optionally `.group` or `.version.group`), as `kubectl auth can-i` does through discovery.

use std::sync::OnceLock;

/// One resource as discovery describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiResource {
    pub group: String,
    pub version: String,
    pub resource: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub subresources: Vec<String>,
}

fn list(field: &str) -> Vec<String> {
    if field == "-" { Vec::new() } else { field.split(',').map(String::from).collect() }
}

/// The table, parsed once.
pub fn table() -> &'static [ApiResource] {
    static TABLE: OnceLock<Vec<ApiResource>> = OnceLock::new();
    TABLE.get_or_init(|| {
        include_str!("resources.txt")
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                let [gv, resource, singular, namespaced, short, subs] = f[..] else { return None };
                let (group, version) = gv.rsplit_once('/').unwrap_or(("", gv));
                Some(ApiResource {
                    group: group.into(),
                    version: version.into(),
                    resource: resource.into(),
                    singular: singular.into(),
                    namespaced: namespaced == "true",
                    short_names: list(short),
                    subresources: list(subs),
                })
            })
            .collect()
    })
}

impl ApiResource {
    fn named(&self, name: &str) -> bool {
        self.resource == name || self.singular == name || self.short_names.iter().any(|s| s == name)
    }
}

/// What a resource argument resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolved {
    Known(&'static ApiResource),
    /// Not in the table: kubectl warns and asks about the argument as typed, in the core group.
    Unknown {
        resource: String,
        group: String,
    },
}

/// kubectl's `resourceFor`: `*` stays `*`; `resource.version.group` when such a version exists,
/// else `resource.group` (the group may be empty: core first, then the other groups).
pub fn resolve(arg: &str) -> Resolved {
    let lower = arg.to_lowercase();
    if lower == "*" {
        return Resolved::Unknown { resource: "*".into(), group: String::new() };
    }
    if let Some((resource, rest)) = lower.split_once('.')
        && let Some((version, group)) = rest.split_once('.')
        && let Some(r) = table().iter().find(|r| r.named(resource) && r.version == version && r.group == group)
    {
        return Resolved::Known(r);
    }
    let (resource, group) = lower.split_once('.').unwrap_or((&lower, ""));
    let found = table().iter().find(|r| r.named(resource) && (group.is_empty() || r.group == group));
    match found {
        Some(r) => Resolved::Known(r),
        None => Resolved::Unknown { resource: arg.into(), group: group.into() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(arg: &str) -> (String, String) {
        match resolve(arg) {
            Resolved::Known(r) => (r.group.clone(), r.resource.clone()),
            other => panic!("{arg}: {other:?}"),
        }
    }

    #[test]
    fn kubectl_forms() {
        assert_eq!(known("pods"), ("".into(), "pods".into()));
        assert_eq!(known("pod"), ("".into(), "pods".into()));
        assert_eq!(known("PO"), ("".into(), "pods".into()));
        assert_eq!(known("deploy"), ("apps".into(), "deployments".into()));
        assert_eq!(known("deployments.apps"), ("apps".into(), "deployments".into()));
        assert_eq!(known("deployments.v1.apps"), ("apps".into(), "deployments".into()));
        assert_eq!(known("events"), ("".into(), "events".into()));
        assert_eq!(known("events.events.k8s.io"), ("events.k8s.io".into(), "events".into()));
        assert_eq!(known("ing"), ("networking.k8s.io".into(), "ingresses".into()));
        assert_eq!(
            resolve("widgets.example.com"),
            Resolved::Unknown { resource: "widgets.example.com".into(), group: "example.com".into() }
        );
        assert!(table().len() > 50);
    }
}
