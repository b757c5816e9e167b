//! Where in a manifest a finding is: the line of an object's name, of the i-th item of its
//! `rules` or `subjects`, of its `roleRef`, or of a line inside an aws-auth data key — found in
//! the document's text, since the YAML parser keeps no positions for the values it builds.
//! Block YAML and `kubectl get -o json`'s layout are both read; anything else falls back to
//! the document's first line.

use access_analysis::lint::{ObjectRef, Place};

use super::manifests::Location;

/// `key: value` (quoted or not, YAML or JSON, possibly a list item's first key).
fn is_key_value(line: &str, key: &str, value: &str) -> bool {
    let line = line.split(" #").next().unwrap_or_default();
    let line = line.trim().trim_start_matches("- ").trim_end_matches(',');
    let Some((k, v)) = line.split_once(':') else { return false };
    let (k, v) = (k.trim().trim_matches('"'), v.trim());
    k == key && (v == value || v.trim_matches('"') == value || v.trim_matches('\'') == value)
}

fn is_key(line: &str, key: &str) -> bool {
    let line = line.trim().trim_start_matches("- ");
    line.split_once(':').is_some_and(|(k, _)| k.trim().trim_matches('"') == key)
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The 0-based index of the `index`-th item of the list under the key on line `at`.
fn list_item(lines: &[&str], at: usize, index: usize) -> usize {
    let Some(first) = (at + 1..lines.len()).find(|&i| !lines[i].trim().is_empty()) else { return at };
    let item_indent = indent(lines[first]);
    let is_item = |l: &str| {
        let t = l.trim_start();
        t.starts_with("- ") || t == "-" || t.starts_with('{')
    };
    if !is_item(lines[first]) {
        return at;
    }
    let mut seen = 0;
    for (i, line) in lines.iter().enumerate().skip(first) {
        if line.trim().is_empty() {
            continue;
        }
        if indent(line) < item_indent
            || (indent(line) == item_indent && !is_item(line) && !line.trim().starts_with([']', '}']))
        {
            break;
        }
        if indent(line) == item_indent && is_item(line) {
            if seen == index {
                return i;
            }
            seen += 1;
        }
    }
    at
}

/// The 1-based line of `place` in `object`, read from where it was.
pub fn line(location: &Location, object: &ObjectRef, place: &Place) -> usize {
    let lines: Vec<&str> = location.text.lines().collect();
    let name_key = if object.kind == "AccessEntry" { "principalArn" } else { "name" };
    let named = lines.iter().position(|l| is_key_value(l, name_key, &object.name));
    // A List holds many objects: search after the object's name first, then the whole document.
    let find = |key: &str| {
        let from = named.unwrap_or(0);
        (from..lines.len()).chain(0..from).find(|&i| is_key(lines[i], key))
    };
    let at = match place {
        Place::Object => named,
        Place::Rule { index } => find("rules").map(|at| list_item(&lines, at, *index)),
        Place::Subject { index } => find("subjects").map(|at| list_item(&lines, at, *index)),
        Place::RoleRef => find("roleRef"),
        Place::AwsAuth { key, line } => find(key).map(|at| {
            // A block scalar's value starts on the next line: its line N is the key's line + N.
            let key_line = lines[at].split(" #").next().unwrap_or_default().trim_end();
            let block = key_line.ends_with('|') || key_line.ends_with("|-");
            match line {
                Some(n) if block => at + n,
                _ => at,
            }
        }),
    };
    location.line + at.unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(kind: &'static str, name: &str) -> ObjectRef {
        ObjectRef { kind, namespace: String::new(), name: name.into() }
    }

    #[test]
    fn lines_of_rules_subjects_and_aws_auth() {
        let text = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: r\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get]\n- apiGroups: [\"\"]\n  resources: [secrets]\n  verbs: [get]\n";
        let location = Location { file: "f.yaml".into(), line: 3, text: text.into() };
        let r = object("ClusterRole", "r");
        assert_eq!(line(&location, &r, &Place::Object), 6);
        assert_eq!(line(&location, &r, &Place::Rule { index: 1 }), 11);
        let cm =
            "kind: ConfigMap\nmetadata:\n  name: aws-auth\ndata:\n  mapRoles: |\n    - rolearn: a\n      username: b\n";
        let location = Location { file: "f.yaml".into(), line: 1, text: cm.into() };
        let place = Place::AwsAuth { key: "mapRoles".into(), line: Some(2) };
        assert_eq!(line(&location, &object("ConfigMap", "aws-auth"), &place), 7);
        let json = "{\n    \"items\": [\n        {\n            \"metadata\": {\n                \"name\": \"b\"\n            },\n            \"subjects\": [\n                {\n                    \"kind\": \"User\"\n                },\n                {\n                    \"kind\": \"Group\"\n                }\n            ]\n        }\n    ]\n}\n";
        let location = Location { file: "cluster".into(), line: 1, text: json.into() };
        assert_eq!(line(&location, &object("RoleBinding", "b"), &Place::Subject { index: 1 }), 11);
    }
}
