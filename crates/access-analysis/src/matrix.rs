//! The access matrix: for one identity, resources × verbs in a namespace (rakkess's table),
//! each cell allowed or not and why. The caller supplies the decision (system:masters, EKS
//! access policies, RBAC, in the API server's order) and the resources (discovery's table).

use rbac::{Attributes, ResourceAttributes, UserInfo};
use serde::Serialize;

/// One resource as discovery lists it.
#[derive(Clone, Debug)]
pub struct Resource {
    pub group: String,
    /// `resource` or `resource/subresource`.
    pub resource: String,
    pub namespaced: bool,
}

impl Resource {
    /// `pods`, `deployments.apps`, `pods/exec` (kubectl's names).
    pub fn display(&self) -> String {
        let (resource, sub) =
            self.resource.split_once('/').map_or((self.resource.as_str(), None), |(r, s)| (r, Some(s)));
        let mut out = resource.to_string();
        if !self.group.is_empty() {
            out = format!("{out}.{}", self.group);
        }
        if let Some(sub) = sub {
            out = format!("{out}/{sub}");
        }
        out
    }
}

impl Resource {
    /// The request of a cell: `user` doing `verb` on this resource in `namespace`.
    pub fn attributes(&self, user: &UserInfo, verb: &str, namespace: &str) -> Attributes {
        let (resource, sub) = self.resource.split_once('/').unwrap_or((&self.resource, ""));
        let resource = ResourceAttributes::new(namespace, &self.group, resource).with_subresource(sub);
        Attributes::resource(user.clone(), verb, resource)
    }
}

/// One cell.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    pub allowed: bool,
    /// What allowed it, or why not.
    pub reason: String,
}

/// One row: a resource and its cells, one per verb.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub resource: String,
    pub namespaced: bool,
    pub cells: Vec<Cell>,
}

/// The matrix.
#[derive(Clone, Debug, Serialize)]
pub struct Matrix {
    pub namespace: String,
    pub verbs: Vec<String>,
    pub rows: Vec<Row>,
}

/// Builds the matrix: namespaced resources asked in `namespace`, cluster-scoped ones at the
/// cluster scope. `decide(verb, resource, namespace)` answers one cell.
pub fn build(
    resources: &[Resource],
    verbs: &[String],
    namespace: &str,
    decide: &dyn Fn(&str, &Resource, &str) -> Cell,
) -> Matrix {
    let rows = resources
        .iter()
        .map(|r| {
            let ns = if r.namespaced { namespace } else { "" };
            Row {
                resource: r.display(),
                namespaced: r.namespaced,
                cells: verbs.iter().map(|v| decide(v, r, ns)).collect(),
            }
        })
        .collect();
    Matrix { namespace: namespace.to_string(), verbs: verbs.to_vec(), rows }
}

impl Matrix {
    /// The table as rakkess prints it: NAME and one column per verb, ✔ or ✖.
    pub fn rows_for_table(&self) -> Vec<Vec<String>> {
        let mut rows =
            vec![std::iter::once("NAME".to_string()).chain(self.verbs.iter().map(|v| v.to_uppercase())).collect()];
        for row in &self.rows {
            let cells = row.cells.iter().map(|c| if c.allowed { "✔" } else { "✖" }.to_string());
            rows.push(std::iter::once(row.resource.clone()).chain(cells).collect());
        }
        rows
    }

    /// `resource verb: reason` for every allowed cell (`--explain`).
    pub fn explanations(&self) -> Vec<String> {
        let mut out = Vec::new();
        for row in &self.rows {
            for (verb, cell) in self.verbs.iter().zip(&row.cells) {
                if cell.allowed {
                    out.push(format!("{} {verb}: {}", row.resource, cell.reason));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_asked_at_the_right_scope() {
        let resources = vec![
            Resource { group: String::new(), resource: "pods".into(), namespaced: true },
            Resource { group: String::new(), resource: "nodes".into(), namespaced: false },
        ];
        let verbs = vec!["list".to_string(), "delete".to_string()];
        let m = build(&resources, &verbs, "team", &|verb, r, ns| Cell {
            allowed: verb == "list" && (ns == "team" || !r.namespaced),
            reason: format!("asked in {ns:?}"),
        });
        assert_eq!(m.rows_for_table()[0], ["NAME", "LIST", "DELETE"]);
        assert_eq!(m.rows_for_table()[1], ["pods", "✔", "✖"]);
        assert_eq!(m.explanations(), ["pods list: asked in \"team\"", "nodes list: asked in \"\""]);
    }
}
