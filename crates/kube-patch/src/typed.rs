//! Schema-aware walks over objects for server-side apply (structured-merge-diff's `typed`): the
//! field set of an object, the merge of an applied configuration into a live object, the
//! comparison of two objects into added, modified and removed fields, and the removal of items.
//!
//! Each walk follows structured-merge-diff's rules, including its corner cases (an empty map or
//! list is a leaf; associative list items are members; a `null` in the configuration does not
//! clear a non-empty map), so ownership matches kube-apiserver's.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::fieldpath::{PathElement, PeRef, Set, compare_values};
use crate::schema::{ListType, Node, Schema, TypeId};

/// The fields a change added, modified (leaves only) and removed.
#[derive(Debug, Default)]
pub(crate) struct Comparison {
    pub added: Set,
    pub modified: Set,
    pub removed: Set,
}

impl Comparison {
    /// Drops the ignored fields (and everything below them) from the three sets.
    pub(crate) fn exclude(&mut self, ignored: &Set) {
        if ignored.is_empty() {
            return;
        }
        self.added = self.added.recursive_difference(ignored);
        self.modified = self.modified.recursive_difference(ignored);
        self.removed = self.removed.recursive_difference(ignored);
    }
}

pub(crate) fn values_equal(a: &Value, b: &Value) -> bool {
    compare_values(a, b).is_eq()
}

/// The path element of a list item: its key fields for a map list, itself for a set.
fn item_element(node: &Node, item: &Value) -> Result<PathElement, String> {
    match &node.list_type {
        ListType::Map(keys) => {
            let obj = match item {
                Value::Object(obj) => obj,
                Value::Null => return Err("associative list with keys may not have a null element".into()),
                _ => return Err("associative list with keys may not have non-map elements".into()),
            };
            let mut fields: Vec<(String, Value)> = keys
                .iter()
                .filter_map(|k| obj.get(&k.name).or(k.default.as_ref()).map(|v| (k.name.clone(), v.clone())))
                .collect();
            if fields.is_empty() {
                let names: Vec<String> = keys.iter().map(|k| format!("{:?}", k.name)).collect();
                return Err(format!(
                    "associative list with keys has an element that omits all key fields [{}] (and doesn't have \
                     default values for any key fields)",
                    names.join(" ")
                ));
            }
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(fields))
        }
        ListType::Set => match item {
            Value::Object(_) => Err("associative list without keys has an element that's a map type".into()),
            Value::Array(_) => Err("not supported: associative list with lists as elements".into()),
            Value::Null => Err("associative list without keys has an element that's an explicit null".into()),
            scalar => Ok(PathElement::Value(scalar.clone())),
        },
        ListType::Atomic => Err("invalid indexing of non-associative list".into()),
    }
}

/// The path of the value being walked, as a chain of borrowed elements up to the root (`None`).
#[derive(Clone, Copy)]
struct PathNode<'a> {
    parent: Option<&'a PathNode<'a>>,
    pe: PeRef<'a>,
}

type At<'a> = Option<&'a PathNode<'a>>;

fn refs<'a>(mut at: At<'a>) -> Vec<PeRef<'a>> {
    let mut out = Vec::new();
    while let Some(node) = at {
        out.push(node.pe);
        at = node.parent;
    }
    out.reverse();
    out
}

fn path_string(at: At<'_>) -> String {
    refs(at).iter().map(ToString::to_string).collect()
}

fn insert(set: &mut Set, at: At<'_>) {
    /// The subset holding the children of the element at `at`.
    fn level<'s>(set: &'s mut Set, at: At<'_>) -> &'s mut Set {
        match at {
            None => set,
            Some(node) => level(set, node.parent).child_mut(node.pe),
        }
    }
    if let Some(node) = at {
        level(set, node.parent).insert_member(node.pe);
    }
}

fn child<'a>(parent: At<'a>, pe: PeRef<'a>) -> PathNode<'a> {
    PathNode { parent, pe }
}

/// The items of a list by path element, `None` for a duplicated one.
type Observed<'v> = Vec<(PathElement, Option<&'v Value>)>;

/// The item observed for `pe`: `None` if absent, `Some(None)` if duplicated.
fn find<'v>(observed: &[(PathElement, Option<&'v Value>)], pe: &PathElement) -> Option<Option<&'v Value>> {
    observed.iter().find(|(p, _)| p == pe).map(|(_, v)| *v)
}

/// Walks of one schema.
pub(crate) struct Typed<'s> {
    pub schema: &'s Schema,
}

impl Typed<'_> {
    /// The set of fields `value` sets. With `reject_duplicates`, two items of an associative list
    /// with the same key are an error (as for an applied configuration).
    pub(crate) fn field_set(&self, value: &Value, reject_duplicates: bool) -> Result<Set, String> {
        let mut set = Set::new();
        self.collect(self.schema.root(), value, None, &mut set, reject_duplicates)?;
        Ok(set)
    }

    fn collect<'a>(
        &self,
        id: TypeId,
        value: &'a Value,
        at: At<'a>,
        set: &mut Set,
        reject_duplicates: bool,
    ) -> Result<(), String> {
        let node = self.schema.node(id);
        match value {
            Value::Object(map) => {
                if node.atomic_map {
                    insert(set, at);
                    return Ok(());
                }
                for (key, value) in map {
                    let (child_id, declared) = self.schema.field(id, key);
                    let here = child(at, PeRef::Field(key));
                    self.collect(child_id, value, Some(&here), set, reject_duplicates)?;
                    let empty_map = value.as_object().is_some_and(Map::is_empty);
                    if value.is_null() || empty_map || !declared {
                        insert(set, Some(&here));
                    }
                }
            }
            Value::Array(items) => {
                if node.list_type == ListType::Atomic {
                    insert(set, at);
                    return Ok(());
                }
                let mut seen = BTreeSet::new();
                for item in items {
                    let pe = item_element(node, item).map_err(|e| format!("{}: {e}", path_string(at)))?;
                    if reject_duplicates && !seen.insert(pe.clone()) {
                        return Err(format!("{}: duplicate entries for key {pe}", path_string(at)));
                    }
                    let here = child(at, PeRef::Elem(&pe));
                    self.collect(node.elem, item, Some(&here), set, reject_duplicates)?;
                    insert(set, Some(&here));
                }
            }
            _ => insert(set, at),
        }
        Ok(())
    }

    /// Merges the applied configuration `rhs` into the live object `lhs`: the configuration's
    /// values win, maps merge key by key, associative lists item by item (in the order
    /// structured-merge-diff gives them), atomic lists and maps are replaced.
    pub(crate) fn merge(&self, lhs: &Value, rhs: &Value) -> Result<Value, String> {
        Ok(self.merge_at(self.schema.root(), Some(lhs), Some(rhs), None)?.unwrap_or(Value::Null))
    }

    fn merge_at<'a>(
        &self,
        id: TypeId,
        lhs: Option<&'a Value>,
        rhs: Option<&'a Value>,
        at: At<'a>,
    ) -> Result<Option<Value>, String> {
        let (l, r) = match (lhs, rhs) {
            (l, None) => return Ok(l.cloned()),
            (None, r) => return Ok(r.cloned()),
            (Some(l), Some(r)) => (l, r),
        };
        let node = self.schema.node(id);
        Ok(Some(match (l, r) {
            (Value::Object(lm), Value::Object(rm)) if !(node.atomic_map || lm.is_empty() && rm.is_empty()) => {
                let mut out = Map::new();
                for (key, lv) in lm {
                    let (child_id, _) = self.schema.field(id, key);
                    let here = child(at, PeRef::Field(key));
                    if let Some(v) = self.merge_at(child_id, Some(lv), rm.get(key), Some(&here))? {
                        out.insert(key.clone(), v);
                    }
                }
                for (key, rv) in rm.iter().filter(|(k, _)| !lm.contains_key(*k)) {
                    out.insert(key.clone(), rv.clone());
                }
                Value::Object(out)
            }
            (Value::Array(la), Value::Array(ra))
                if node.list_type != ListType::Atomic && !(la.is_empty() && ra.is_empty()) =>
            {
                Value::Array(self.merge_list(node, la, ra, at)?)
            }
            // A null configuration value leaves a non-empty granular map or list alone.
            (Value::Object(lm), Value::Null) if !node.atomic_map && !lm.is_empty() => l.clone(),
            (Value::Array(la), Value::Null) if node.list_type != ListType::Atomic && !la.is_empty() => l.clone(),
            _ => r.clone(),
        }))
    }

    fn elements<'v>(
        &self,
        node: &Node,
        items: &'v [Value],
        allow_duplicates: bool,
        at: At<'_>,
    ) -> Result<(Vec<PathElement>, Observed<'v>), String> {
        let mut order = Vec::with_capacity(items.len());
        let mut observed: Observed<'v> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let pe = item_element(node, item).map_err(|e| format!("{}: element {i}: {e}", path_string(at)))?;
            match observed.iter_mut().find(|(p, _)| *p == pe) {
                Some(_) if !allow_duplicates => {
                    return Err(format!("{}: duplicate entries for key {pe}", path_string(at)));
                }
                // A duplicated item is not merged: it is seen as null.
                Some(entry) => entry.1 = None,
                None => observed.push((pe.clone(), Some(item))),
            }
            order.push(pe);
        }
        Ok((order, observed))
    }

    /// structured-merge-diff's `visitListItems`: live items keep their place, items only in the
    /// configuration are inserted where the configuration's order puts them.
    fn merge_list<'a>(
        &self,
        node: &Node,
        lhs: &'a [Value],
        rhs: &'a [Value],
        at: At<'a>,
    ) -> Result<Vec<Value>, String> {
        let (rhs_pes, observed_rhs) = self.elements(node, rhs, false, at)?;
        let (lhs_pes, observed_lhs) = self.elements(node, lhs, true, at)?;
        let mut shared = rhs_pes.iter().filter(|pe| find(&observed_lhs, pe).is_some());
        let mut next_shared = shared.next();
        let mut merged_rhs: BTreeSet<&PathElement> = BTreeSet::new();
        let mut out = Vec::with_capacity(lhs.len().max(rhs.len()));
        let (mut li, mut ri) = (0, 0);
        let merge_item = |pe: &PathElement, l: Option<&Value>, r: Option<&Value>, out: &mut Vec<Value>| {
            let here = child(at, PeRef::Elem(pe));
            if let Some(v) = self.merge_at(node.elem, l, r, Some(&here))? {
                out.push(v);
            }
            Ok::<(), String>(())
        };
        while li < lhs_pes.len() || ri < rhs_pes.len() {
            if li < lhs_pes.len() && ri < rhs_pes.len() {
                let pe = &lhs_pes[li];
                if *pe == rhs_pes[ri] {
                    merged_rhs.insert(pe);
                    let l = find(&observed_lhs, pe).flatten();
                    let r = find(&observed_rhs, pe).flatten();
                    merge_item(pe, l.or(Some(&Value::Null)), r, &mut out)?;
                    li += 1;
                    ri += 1;
                    next_shared = shared.next();
                    continue;
                }
                if find(&observed_rhs, pe).is_some() && next_shared.is_some_and(|n| n != pe) {
                    li += 1;
                    continue;
                }
            }
            if li < lhs_pes.len() {
                let pe = &lhs_pes[li];
                if find(&observed_rhs, pe).is_none() {
                    merge_item(pe, Some(&lhs[li]), None, &mut out)?;
                    li += 1;
                    continue;
                } else if merged_rhs.contains(pe) {
                    li += 1;
                }
            }
            if ri < rhs_pes.len() {
                let pe = &rhs_pes[ri];
                merged_rhs.insert(pe);
                let l = find(&observed_lhs, pe).map(|v| v.unwrap_or(&Value::Null));
                let r = find(&observed_rhs, pe).flatten();
                merge_item(pe, l, r, &mut out)?;
                ri += 1;
                if next_shared == Some(pe) {
                    next_shared = shared.next();
                }
            }
        }
        Ok(out)
    }

    /// Compares two versions of an object, each seen with the keys of `zero` it lacks
    /// (recursively through objects), as kube-apiserver sees its typed objects.
    pub(crate) fn compare(&self, lhs: &Value, rhs: &Value, zero: Option<&Value>) -> Result<Comparison, String> {
        let mut c = Comparison::default();
        self.compare_at(self.schema.root(), Some(lhs), Some(rhs), zero, None, &mut c)?;
        Ok(c)
    }

    fn leaf(at: At<'_>, lhs: Option<&Value>, rhs: Option<&Value>, c: &mut Comparison) {
        match (lhs, rhs) {
            (None, _) => insert(&mut c.added, at),
            (_, None) => insert(&mut c.removed, at),
            (Some(l), Some(r)) if !values_equal(l, r) => insert(&mut c.modified, at),
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn compare_at<'a>(
        &self,
        id: TypeId,
        lhs: Option<&'a Value>,
        rhs: Option<&'a Value>,
        zero: Option<&'a Value>,
        at: At<'a>,
        c: &mut Comparison,
    ) -> Result<(), String> {
        let node = self.schema.node(id);
        let shape = |v: Option<&Value>| match v {
            Some(Value::Object(_)) => 1,
            Some(Value::Array(_)) => 2,
            _ => 0,
        };
        let (ls, rs) = (shape(lhs), shape(rhs));
        if ls != 0 && rs != 0 && ls != rs {
            insert(&mut c.modified, at);
            return Ok(());
        }
        match ls.max(rs) {
            1 => {
                let lm = lhs.and_then(Value::as_object);
                let rm = rhs.and_then(Value::as_object);
                if node.atomic_map || (lm.is_none_or(Map::is_empty) && rm.is_none_or(Map::is_empty)) {
                    Self::leaf(at, lhs, rhs, c);
                    return Ok(());
                }
                let empty = Map::new();
                let (lm, rm) = (lm.unwrap_or(&empty), rm.unwrap_or(&empty));
                let zm = zero.and_then(Value::as_object).unwrap_or(&empty);
                let keys = lm
                    .keys()
                    .chain(rm.keys().filter(|k| !lm.contains_key(*k)))
                    .chain(zm.keys().filter(|k| !lm.contains_key(*k) && !rm.contains_key(*k)));
                for key in keys {
                    let (child_id, _) = self.schema.field(id, key);
                    let z = zm.get(key);
                    let here = child(at, PeRef::Field(key));
                    self.compare_at(child_id, lm.get(key).or(z), rm.get(key).or(z), z, Some(&here), c)?;
                }
            }
            2 => {
                let la = lhs.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
                let ra = rhs.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
                if node.list_type == ListType::Atomic || (la.is_empty() && ra.is_empty()) {
                    Self::leaf(at, lhs, rhs, c);
                    return Ok(());
                }
                self.compare_items(node, la, ra, at, c)?;
            }
            _ => {
                Self::leaf(at, lhs, rhs, c);
                return Ok(());
            }
        }
        match (lhs, rhs) {
            (None, _) => insert(&mut c.added, at),
            (_, None) => insert(&mut c.removed, at),
            _ => {}
        }
        Ok(())
    }

    fn compare_items<'a>(
        &self,
        node: &Node,
        la: &'a [Value],
        ra: &'a [Value],
        at: At<'a>,
        c: &mut Comparison,
    ) -> Result<(), String> {
        let mut all: Vec<(PathElement, Vec<&Value>, Vec<&Value>)> = Vec::new();
        for (side, items) in [(0, la), (1, ra)] {
            for (i, item) in items.iter().enumerate() {
                let pe = item_element(node, item).map_err(|e| format!("{}: element {i}: {e}", path_string(at)))?;
                let entry = match all.iter().position(|(p, _, _)| *p == pe) {
                    Some(pos) => &mut all[pos],
                    None => {
                        all.push((pe, Vec::new(), Vec::new()));
                        all.last_mut().expect("just pushed")
                    }
                };
                if side == 0 { entry.1.push(item) } else { entry.2.push(item) }
            }
        }
        for (pe, l, r) in &all {
            let here = child(at, PeRef::Elem(pe));
            let here = Some(&here);
            match (l.len(), r.len()) {
                (0..=1, 0..=1) => self.compare_at(node.elem, l.first().copied(), r.first().copied(), None, here, c)?,
                (2.., 2..) => {
                    if l.len() != r.len() || l.iter().zip(r).any(|(a, b)| !values_equal(a, b)) {
                        insert(&mut c.modified, here);
                    }
                }
                (2.., _) => {
                    if let Some(first) = r.first() {
                        self.compare_at(node.elem, None, Some(first), None, here, c)?;
                    }
                    insert(&mut c.removed, here);
                }
                (_, 2..) => {
                    if let Some(first) = l.first() {
                        self.compare_at(node.elem, Some(first), None, None, here, c)?;
                    }
                    insert(&mut c.added, here);
                }
            }
        }
        Ok(())
    }

    /// Removes the items of `to_remove` (a member removes its whole subtree). An object or list
    /// left empty becomes `null`, as in structured-merge-diff; [`drop_nulls`] finishes the job the
    /// way kube-apiserver's decoding into its types does.
    pub(crate) fn remove_items(&self, value: &Value, to_remove: &Set) -> Value {
        if to_remove.is_empty() {
            return value.clone();
        }
        self.remove_at(self.schema.root(), value, to_remove)
    }

    fn remove_at(&self, id: TypeId, value: &Value, to_remove: &Set) -> Value {
        let node = self.schema.node(id);
        match value {
            Value::Object(map) => {
                if map.is_empty() || node.atomic_map {
                    return Value::Null;
                }
                let mut out = Map::new();
                for (key, child) in map {
                    let pe = PathElement::Field(key.clone());
                    if to_remove.has(std::slice::from_ref(&pe)) {
                        continue;
                    }
                    let kept = match to_remove.with_prefix(&pe) {
                        Some(sub) => self.remove_at(self.schema.field(id, key).0, child, sub),
                        None => child.clone(),
                    };
                    out.insert(key.clone(), kept);
                }
                if out.is_empty() { Value::Null } else { Value::Object(out) }
            }
            Value::Array(items) => {
                if items.is_empty() || node.list_type == ListType::Atomic {
                    return Value::Null;
                }
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let Ok(pe) = item_element(node, item) else {
                        out.push(item.clone());
                        continue;
                    };
                    if to_remove.has(std::slice::from_ref(&pe)) {
                        continue;
                    }
                    out.push(match to_remove.with_prefix(&pe) {
                        Some(sub) => self.remove_at(node.elem, item, sub),
                        None => item.clone(),
                    });
                }
                if out.is_empty() { Value::Null } else { Value::Array(out) }
            }
            scalar => scalar.clone(),
        }
    }

    /// structured-merge-diff's `EnsureNamedFieldsAreMembers`: every declared struct field with
    /// paths below it becomes a member too.
    pub(crate) fn ensure_named_fields_are_members(&self, set: &Set) -> Set {
        self.ensure_at(self.schema.root(), set)
    }

    fn ensure_at(&self, id: TypeId, set: &Set) -> Set {
        let node = self.schema.node(id);
        let mut members: Vec<PathElement> = set.members().cloned().collect();
        let mut children = Vec::new();
        for (pe, child_set) in set.children() {
            let child_id = match pe {
                PathElement::Field(name) => {
                    let (child_id, declared) = self.schema.field(id, name);
                    if declared {
                        members.push(pe.clone());
                    }
                    child_id
                }
                _ => node.elem,
            };
            children.push((pe.clone(), self.ensure_at(child_id, child_set)));
        }
        members.sort();
        members.dedup();
        Set::from_sorted(members, children)
    }
}

/// Drops `null` values from objects and lists, as decoding into kube-apiserver's types does.
pub(crate) fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => {
            items.retain(|v| !v.is_null());
            items.iter_mut().for_each(drop_nulls);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> &'static Schema {
        Schema::builtin("apps", "v1", "Deployment").unwrap()
    }

    fn paths(set: &Set) -> Vec<String> {
        set.paths().iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn applied_field_set_has_list_items_as_members_and_atomic_leaves() {
        let t = Typed { schema: deployment() };
        let set = t
            .field_set(
                &json!({"metadata": {"name": "web", "labels": {"app": "web"}},
                         "spec": {"selector": {"matchLabels": {"app": "web"}},
                                  "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx",
                                      "ports": [{"containerPort": 80}]}]}}}}),
                true,
            )
            .unwrap();
        assert_eq!(
            paths(&set),
            vec![
                ".metadata.name",
                ".metadata.labels.app",
                ".spec.selector",
                r#".spec.template.spec.containers[name="nginx"]"#,
                r#".spec.template.spec.containers[name="nginx"].image"#,
                r#".spec.template.spec.containers[name="nginx"].name"#,
                r#".spec.template.spec.containers[name="nginx"].ports[containerPort=80,protocol="TCP"]"#,
                r#".spec.template.spec.containers[name="nginx"].ports[containerPort=80,protocol="TCP"].containerPort"#,
            ]
        );
    }

    #[test]
    fn duplicate_keys_in_applied_config_are_rejected() {
        let t = Typed { schema: deployment() };
        let err = t
            .field_set(&json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "a"}]}}}}), true)
            .unwrap_err();
        assert_eq!(err, r#".spec.template.spec.containers: duplicate entries for key [name="a"]"#);
    }

    #[test]
    fn merge_keeps_live_items_and_inserts_new_ones_in_config_order() {
        let t = Typed { schema: deployment() };
        let live = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}});
        let config = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "c", "image": "c:1"}, {"name": "b", "image": "b:2"}]}}}});
        let merged = t.merge(&live, &config).unwrap();
        assert_eq!(
            merged["spec"]["template"]["spec"]["containers"],
            json!([{"name": "a", "image": "a:1"}, {"name": "c", "image": "c:1"}, {"name": "b", "image": "b:2"}])
        );
    }

    #[test]
    fn compare_reports_new_maps_and_changed_leaves() {
        let t = Typed { schema: deployment() };
        let old = json!({"metadata": {"name": "web"}, "spec": {"replicas": 1}});
        let new = json!({"metadata": {"name": "web", "labels": {"a": "b"}}, "spec": {"replicas": 2}});
        let c = t.compare(&old, &new, None).unwrap();
        assert_eq!(paths(&c.added), vec![".metadata.labels", ".metadata.labels.a"]);
        assert_eq!(paths(&c.modified), vec![".spec.replicas"]);
        assert!(c.removed.is_empty());
    }

    #[test]
    fn remove_items_nulls_emptied_parents_until_nulls_are_dropped() {
        let t = Typed { schema: deployment() };
        let mut set = Set::new();
        set.insert(&[
            PathElement::Field("metadata".into()),
            PathElement::Field("labels".into()),
            PathElement::Field("a".into()),
        ]);
        let mut out = t.remove_items(&json!({"metadata": {"name": "x", "labels": {"a": "1"}}}), &set);
        assert_eq!(out, json!({"metadata": {"name": "x", "labels": null}}));
        drop_nulls(&mut out);
        assert_eq!(out, json!({"metadata": {"name": "x"}}));
    }
}
