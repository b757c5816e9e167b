//! Field paths and field sets, the vocabulary of `managedFields` (structured-merge-diff's
//! `fieldpath`): path elements (`.name`, `[key="v"]`, `[="v"]`, `[3]`) with their order, sets of
//! paths as trees with the set algebra the field manager needs, and the `FieldsV1` wire form
//! (`f:`, `k:`, `v:`, `i:` keys, `.` for a member that also has children).
//!
//! Written by hand: no Rust crate implements structured-merge-diff.

use std::cmp::Ordering;
use std::fmt;

use go_format::to_json;
use serde_json::{Map, Value};

/// One step of a field path.
#[derive(Clone, Debug)]
pub(crate) enum PathElement {
    /// A field of an object: `.name`, serialized `f:name`.
    Field(String),
    /// An item of an associative list by its key fields (sorted by name): `[name="web"]`,
    /// serialized `k:{"name":"web"}`.
    Key(Vec<(String, Value)>),
    /// An item of a set: `[="a"]`, serialized `v:"a"`.
    Value(Value),
    /// An item of a list by position: `[0]`, serialized `i:0`.
    Index(usize),
}

impl PathElement {
    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// The `FieldsV1` key of this element.
    fn serialize(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(fields) => {
                let mut out = String::from("k:{");
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&to_json(&Value::String(name.clone())));
                    out.push(':');
                    out.push_str(&to_json(value));
                }
                out.push('}');
                out
            }
            PathElement::Value(value) => {
                format!("v:{}", to_json(value))
            }
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `FieldsV1` key; `Ok(None)` for an unknown element type (ignored, as
    /// structured-merge-diff does).
    fn deserialize(key: &str) -> Result<Option<PathElement>, String> {
        let (kind, rest) = match (key.get(..1), key.get(1..2), key.get(2..)) {
            (Some(kind), Some(":"), Some(rest)) => (kind, rest),
            _ => return Err(format!("invalid field path element {key:?}")),
        };
        let parse = |s: &str| serde_json::from_str::<Value>(s).map_err(|e| format!("{key:?}: {e}"));
        Ok(Some(match kind {
            "f" => PathElement::Field(rest.to_string()),
            "v" => PathElement::Value(parse(rest)?),
            "k" => match parse(rest)? {
                Value::Object(map) => {
                    let mut fields: Vec<(String, Value)> = map.into_iter().collect();
                    fields.sort_by(|a, b| a.0.cmp(&b.0));
                    PathElement::Key(fields)
                }
                _ => return Err(format!("{key:?}: a key must be a JSON object")),
            },
            "i" => PathElement::Index(rest.parse().map_err(|e| format!("{key:?}: {e}"))?),
            _ => return Ok(None),
        }))
    }
}

impl Ord for PathElement {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Key(a), PathElement::Key(b)) => compare_fields(a, b),
            (PathElement::Value(a), PathElement::Value(b)) => compare_values(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                f.write_str("[")?;
                for (i, (name, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{name}={}", ValueString(value))?;
                }
                f.write_str("]")
            }
            PathElement::Value(value) => write!(f, "[={}]", ValueString(value)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path: `.spec.containers[name="web"].image`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Path(pub Vec<PathElement>);

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|pe| write!(f, "{pe}"))
    }
}

/// structured-merge-diff's `value.ToString`: strings quoted as Go's `%q`, numbers and booleans
/// bare.
struct ValueString<'a>(&'a Value);

impl fmt::Display for ValueString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Null => f.write_str("null"),
            Value::String(_) => f.write_str(&to_json(self.0)),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{}", ValueString(item))?;
                }
                f.write_str("]")
            }
            Value::Object(map) => map.iter().try_for_each(|(k, v)| write!(f, "{k}={}", ValueString(v))),
            // Go prints a whole float64 without a fraction.
            Value::Number(n) => match n.as_f64() {
                Some(x) if n.is_f64() && x.fract() == 0.0 && x.abs() < 1e21 => write!(f, "{x:.0}"),
                _ => write!(f, "{n}"),
            },
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// The order structured-merge-diff gives values: numbers (ints and floats compared as numbers),
/// strings, booleans, lists, maps, null.
pub(crate) fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) => 3,
            Value::Object(_) => 4,
            Value::Null => 5,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => x.as_f64().unwrap_or(f64::NAN).total_cmp(&y.as_f64().unwrap_or(f64::NAN)),
        },
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            x.iter().zip(y).map(|(p, q)| compare_values(p, q)).find(|o| o.is_ne()).unwrap_or(x.len().cmp(&y.len()))
        }
        (Value::Object(x), Value::Object(y)) => {
            let mut xs: Vec<(&String, &Value)> = x.iter().collect();
            let mut ys: Vec<(&String, &Value)> = y.iter().collect();
            xs.sort_by(|p, q| p.0.cmp(q.0));
            ys.sort_by(|p, q| p.0.cmp(q.0));
            xs.iter()
                .zip(&ys)
                .map(|(p, q)| p.0.cmp(q.0).then_with(|| compare_values(p.1, q.1)))
                .find(|o| o.is_ne())
                .unwrap_or(xs.len().cmp(&ys.len()))
        }
        _ => rank(a).cmp(&rank(b)),
    }
}

fn compare_fields(a: &[(String, Value)], b: &[(String, Value)]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(p, q)| p.0.cmp(&q.0).then_with(|| compare_values(&p.1, &q.1)))
        .find(|o| o.is_ne())
        .unwrap_or(a.len().cmp(&b.len()))
}

/// A borrowed path element, so walks over objects build paths without allocating until a path
/// is stored.
#[derive(Clone, Copy, Debug)]
pub(crate) enum PeRef<'a> {
    /// An object field, borrowed from the object's key.
    Field(&'a str),
    /// Any element.
    Elem(&'a PathElement),
}

impl PeRef<'_> {
    fn cmp_owned(&self, other: &PathElement) -> Ordering {
        match (self, other) {
            (PeRef::Field(a), PathElement::Field(b)) => (*a).cmp(b.as_str()),
            (PeRef::Field(_), _) => Ordering::Less,
            (PeRef::Elem(pe), other) => (*pe).cmp(other),
        }
    }

    pub(crate) fn to_element(self) -> PathElement {
        match self {
            PeRef::Field(name) => PathElement::Field(name.to_string()),
            PeRef::Elem(pe) => pe.clone(),
        }
    }
}

impl fmt::Display for PeRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeRef::Field(name) => write!(f, ".{name}"),
            PeRef::Elem(pe) => write!(f, "{pe}"),
        }
    }
}

/// A set of field paths, stored as a tree: the elements that are members at this level, and the
/// subsets under each element that has members below it. Both levels are sorted vectors (as in
/// structured-merge-diff), so set operations are merge-joins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Set {
    members: Vec<PathElement>,
    children: Vec<(PathElement, Set)>,
}

/// Merge-joins two sorted sequences by `key`, calling `f` with the items of either or both.
fn join<'a, A, B>(
    a: &'a [A],
    b: &'a [B],
    key_a: impl Fn(&A) -> &PathElement,
    key_b: impl Fn(&B) -> &PathElement,
    mut f: impl FnMut(Option<&'a A>, Option<&'a B>),
) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let order = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => key_a(x).cmp(key_b(y)),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match order {
            Ordering::Less => {
                f(Some(&a[i]), None);
                i += 1;
            }
            Ordering::Greater => {
                f(None, Some(&b[j]));
                j += 1;
            }
            Ordering::Equal => {
                f(Some(&a[i]), Some(&b[j]));
                i += 1;
                j += 1;
            }
        }
    }
}

fn me(pe: &PathElement) -> &PathElement {
    pe
}

fn child_key(c: &(PathElement, Set)) -> &PathElement {
    &c.0
}

impl Set {
    pub(crate) fn new() -> Set {
        Set::default()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    pub(crate) fn insert(&mut self, path: &[PathElement]) {
        let refs: Vec<PeRef<'_>> = path.iter().map(PeRef::Elem).collect();
        self.insert_refs(&refs);
    }

    /// Inserts a borrowed path, allocating only the elements not yet in the set.
    pub(crate) fn insert_refs(&mut self, path: &[PeRef<'_>]) {
        match path {
            [] => {}
            [last] => self.insert_member(*last),
            [first, rest @ ..] => self.child_mut(*first).insert_refs(rest),
        }
    }

    /// Removes, in place, the paths of `other` (as [`Set::difference`]).
    pub(crate) fn remove_all(&mut self, other: &Set) {
        self.members.retain(|m| !other.has_member(m));
        for (pe, sub) in &other.children {
            if let Ok(i) = self.children.binary_search_by(|(c, _)| c.cmp(pe)) {
                self.children[i].1.remove_all(sub);
                if self.children[i].1.is_empty() {
                    self.children.remove(i);
                }
            }
        }
    }

    /// The subset under `pe`, created empty if absent (callers insert into it).
    pub(crate) fn child_mut(&mut self, pe: PeRef<'_>) -> &mut Set {
        let i = match self.children.binary_search_by(|(c, _)| pe.cmp_owned(c).reverse()) {
            Ok(i) => i,
            Err(i) => {
                self.children.insert(i, (pe.to_element(), Set::new()));
                i
            }
        };
        &mut self.children[i].1
    }

    /// Inserts one member at this level.
    pub(crate) fn insert_member(&mut self, pe: PeRef<'_>) {
        if let Err(i) = self.members.binary_search_by(|m| pe.cmp_owned(m).reverse()) {
            self.members.insert(i, pe.to_element());
        }
    }

    pub(crate) fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.binary_search(last).is_ok(),
            [first, rest @ ..] => self.with_prefix(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// The subset of paths under `pe` (relative to it).
    pub(crate) fn with_prefix(&self, pe: &PathElement) -> Option<&Set> {
        self.children.binary_search_by(|(c, _)| c.cmp(pe)).ok().map(|i| &self.children[i].1)
    }

    fn has_member(&self, pe: &PathElement) -> bool {
        self.members.binary_search(pe).is_ok()
    }

    pub(crate) fn union(&self, other: &Set) -> Set {
        let mut members = Vec::with_capacity(self.members.len().max(other.members.len()));
        join(&self.members, &other.members, me, me, |a, b| members.extend(a.or(b).cloned()));
        let mut children = Vec::with_capacity(self.children.len().max(other.children.len()));
        join(&self.children, &other.children, child_key, child_key, |a, b| match (a, b) {
            (Some((pe, x)), Some((_, y))) => children.push((pe.clone(), x.union(y))),
            (Some(c), None) | (None, Some(c)) => children.push(c.clone()),
            (None, None) => {}
        });
        Set { members, children }
    }

    pub(crate) fn union_in_place(&mut self, other: &Set) {
        if self.is_empty() {
            *self = other.clone();
        } else if !other.is_empty() {
            *self = self.union(other);
        }
    }

    pub(crate) fn intersection(&self, other: &Set) -> Set {
        let mut members = Vec::new();
        join(&self.members, &other.members, me, me, |a, b| {
            if let (Some(pe), Some(_)) = (a, b) {
                members.push(pe.clone());
            }
        });
        let mut children = Vec::new();
        join(&self.children, &other.children, child_key, child_key, |a, b| {
            if let (Some((pe, x)), Some((_, y))) = (a, b) {
                let both = x.intersection(y);
                if !both.is_empty() {
                    children.push((pe.clone(), both));
                }
            }
        });
        Set { members, children }
    }

    /// The paths of `self` not in `other` (path by path: a member of `other` does not remove the
    /// paths below it).
    pub(crate) fn difference(&self, other: &Set) -> Set {
        self.subtract(other, false)
    }

    /// The paths of `self` neither in `other` nor below a member of `other`.
    pub(crate) fn recursive_difference(&self, other: &Set) -> Set {
        self.subtract(other, true)
    }

    fn subtract(&self, other: &Set, recursive: bool) -> Set {
        let mut members = Vec::new();
        join(&self.members, &other.members, me, me, |a, b| {
            if let (Some(pe), None) = (a, b) {
                members.push(pe.clone());
            }
        });
        let mut children = Vec::new();
        join(&self.children, &other.children, child_key, child_key, |a, b| match (a, b) {
            (Some((pe, _)), _) if recursive && other.has_member(pe) => {}
            (Some((pe, x)), Some((_, y))) => {
                let d = x.subtract(y, recursive);
                if !d.is_empty() {
                    children.push((pe.clone(), d));
                }
            }
            (Some(c), None) => children.push(c.clone()),
            _ => {}
        });
        Set { members, children }
    }

    /// Every path, members of a level before the levels below, each level in element order.
    pub(crate) fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Path>) {
        for pe in &self.members {
            let mut path = prefix.clone();
            path.push(pe.clone());
            out.push(Path(path));
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    pub(crate) fn members(&self) -> impl Iterator<Item = &PathElement> {
        self.members.iter()
    }

    pub(crate) fn children(&self) -> impl Iterator<Item = (&PathElement, &Set)> {
        self.children.iter().map(|(pe, s)| (pe, s))
    }

    /// A set from members and children each already sorted by element.
    pub(crate) fn from_sorted(members: Vec<PathElement>, children: Vec<(PathElement, Set)>) -> Set {
        debug_assert!(members.windows(2).all(|w| w[0] < w[1]));
        debug_assert!(children.windows(2).all(|w| w[0].0 < w[1].0));
        Set { members, children }
    }

    /// The `FieldsV1` form: `{"f:metadata":{"f:labels":{".":{},"f:app":{}}}}`.
    pub(crate) fn to_fields_v1(&self) -> Value {
        Value::Object(self.fields_v1_contents(false))
    }

    fn fields_v1_contents(&self, include_self: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if include_self && !self.is_empty() {
            out.insert(".".to_string(), Value::Object(Map::new()));
        }
        join(&self.members, &self.children, me, child_key, |m, c| match (m, c) {
            (Some(pe), None) => {
                out.insert(pe.serialize(), Value::Object(Map::new()));
            }
            (_, Some((pe, child))) => {
                out.insert(pe.serialize(), Value::Object(child.fields_v1_contents(m.is_some())));
            }
            (None, None) => {}
        });
        out
    }

    /// Parses the `FieldsV1` form.
    pub(crate) fn from_fields_v1(value: &Value) -> Result<Set, String> {
        match value {
            Value::Object(map) => Ok(Set::read_v1(map)?.0),
            _ => Err("FieldsV1 must be a JSON object".to_string()),
        }
    }

    /// Returns the children read from `map` and whether the element owning `map` is a member.
    fn read_v1(map: &Map<String, Value>) -> Result<(Set, bool), String> {
        let mut set = Set::new();
        let mut is_member = false;
        for (key, value) in map {
            if key == "." {
                is_member = true;
                continue;
            }
            let Some(pe) = PathElement::deserialize(key)? else { continue };
            let inner = value.as_object().ok_or_else(|| format!("{key:?}: expected a JSON object"))?;
            let (grandchildren, child_is_member) = Set::read_v1(inner)?;
            if child_is_member {
                set.insert_member(PeRef::Elem(&pe));
            }
            if !grandchildren.is_empty() {
                match set.children.binary_search_by(|(c, _)| c.cmp(&pe)) {
                    Ok(i) => set.children[i].1 = set.children[i].1.union(&grandchildren),
                    Err(i) => set.children.insert(i, (pe, grandchildren)),
                }
            }
        }
        let empty = set.is_empty();
        Ok((set, is_member || empty))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str) -> PathElement {
        PathElement::Field(name.to_string())
    }

    #[test]
    fn fields_v1_round_trips_in_kube_apiserver_order() {
        let v1 = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {"f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}
        });
        let set = Set::from_fields_v1(&v1).unwrap();
        assert!(set.has(&[f("metadata"), f("labels")]));
        assert!(set.has(&[f("metadata"), f("labels"), f("app")]));
        assert!(!set.has(&[f("metadata")]));
        assert_eq!(serde_json::to_string(&set.to_fields_v1()).unwrap(), serde_json::to_string(&v1).unwrap());
    }

    #[test]
    fn ports_keys_serialize_sorted_with_go_escaping() {
        let pe = PathElement::Key(vec![("containerPort".into(), json!(80)), ("protocol".into(), json!("TCP"))]);
        assert_eq!(pe.serialize(), r#"k:{"containerPort":80,"protocol":"TCP"}"#);
        assert_eq!(pe.to_string(), r#"[containerPort=80,protocol="TCP"]"#);
        assert_eq!(PathElement::Value(json!("<a&b>")).serialize(), r#"v:"\u003ca\u0026b\u003e""#);
        assert_eq!(PathElement::Value(json!("x")).to_string(), r#"[="x"]"#);
    }

    #[test]
    fn fields_sort_before_keys_before_values() {
        let mut s = Set::new();
        s.insert(&[PathElement::Value(json!("b"))]);
        s.insert(&[PathElement::Key(vec![("name".into(), json!("a"))])]);
        s.insert(&[f("z")]);
        let keys: Vec<String> = s.to_fields_v1().as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, vec!["f:z", r#"k:{"name":"a"}"#, r#"v:"b""#]);
    }

    #[test]
    fn recursive_difference_drops_subtrees_of_members() {
        let mut a = Set::new();
        a.insert(&[f("status"), f("replicas")]);
        a.insert(&[f("spec"), f("replicas")]);
        let mut ignored = Set::new();
        ignored.insert(&[f("status")]);
        let d = a.recursive_difference(&ignored);
        assert!(!d.has(&[f("status"), f("replicas")]));
        assert!(d.has(&[f("spec"), f("replicas")]));
        assert_eq!(a.difference(&ignored), a, "plain difference keeps the subtree");
    }

    #[test]
    fn numbers_compare_across_int_and_float() {
        assert_eq!(compare_values(&json!(80), &json!(80.0)), Ordering::Equal);
        assert_eq!(compare_values(&json!(1), &json!("a")), Ordering::Less);
    }
}
