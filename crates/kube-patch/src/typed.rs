//! Schema-aware walks over objects for server-side apply (structured-merge-diff's `typed`): the
//! field set of an object, the merge of an applied configuration into a live object, the
//! comparison of two objects into added, modified and removed fields, and the removal of items.
//!
//! Each walk follows structured-merge-diff's rules, including its corner cases (an empty map or
//! list is a leaf; associative list items are members; a `null` in the configuration does not
//! clear a non-empty map), so ownership matches kube-apiserver's.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::fieldpath::{Path, PathElement, Set, compare_values};
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
        self.collect(self.schema.root(), value, &mut Vec::new(), &mut set, reject_duplicates)?;
        Ok(set)
    }

    fn collect(
        &self,
        id: TypeId,
        value: &Value,
        path: &mut Vec<PathElement>,
        set: &mut Set,
        reject_duplicates: bool,
    ) -> Result<(), String> {
        let node = self.schema.node(id);
        match value {
            Value::Object(map) => {
                if node.atomic_map {
                    set.insert(path);
                    return Ok(());
                }
                for (key, child) in map {
                    let (child_id, declared) = self.schema.field(id, key);
                    path.push(PathElement::Field(key.clone()));
                    self.collect(child_id, child, path, set, reject_duplicates)?;
                    let empty_map = child.as_object().is_some_and(Map::is_empty);
                    if child.is_null() || empty_map || !declared {
                        set.insert(path);
                    }
                    path.pop();
                }
            }
            Value::Array(items) => {
                if node.list_type == ListType::Atomic {
                    set.insert(path);
                    return Ok(());
                }
                let mut seen = BTreeSet::new();
                for item in items {
                    let pe = item_element(node, item).map_err(|e| format!("{}: {e}", Path(path.clone())))?;
                    if reject_duplicates && !seen.insert(pe.clone()) {
                        return Err(format!("{}: duplicate entries for key {pe}", Path(path.clone())));
                    }
                    path.push(pe);
                    self.collect(node.elem, item, path, set, reject_duplicates)?;
                    set.insert(path);
                    path.pop();
                }
            }
            _ => set.insert(path),
        }
        Ok(())
    }

    /// Merges the applied configuration `rhs` into the live object `lhs`: the configuration's
    /// values win, maps merge key by key, associative lists item by item (in the order
    /// structured-merge-diff gives them), atomic lists and maps are replaced.
    pub(crate) fn merge(&self, lhs: &Value, rhs: &Value) -> Result<Value, String> {
        Ok(self.merge_at(self.schema.root(), Some(lhs), Some(rhs), &mut Vec::new())?.unwrap_or(Value::Null))
    }

    fn merge_at(
        &self,
        id: TypeId,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
        path: &mut Vec<PathElement>,
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
                    let (child, _) = self.schema.field(id, key);
                    path.push(PathElement::Field(key.clone()));
                    if let Some(v) = self.merge_at(child, Some(lv), rm.get(key), path)? {
                        out.insert(key.clone(), v);
                    }
                    path.pop();
                }
                for (key, rv) in rm.iter().filter(|(k, _)| !lm.contains_key(*k)) {
                    out.insert(key.clone(), rv.clone());
                }
                Value::Object(out)
            }
            (Value::Array(la), Value::Array(ra))
                if node.list_type != ListType::Atomic && !(la.is_empty() && ra.is_empty()) =>
            {
                Value::Array(self.merge_list(node, la, ra, path)?)
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
        path: &[PathElement],
    ) -> Result<(Vec<PathElement>, Observed<'v>), String> {
        let mut order = Vec::with_capacity(items.len());
        let mut observed: Observed<'v> = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let pe = item_element(node, item).map_err(|e| format!("{}: element {i}: {e}", Path(path.to_vec())))?;
            match observed.iter_mut().find(|(p, _)| *p == pe) {
                Some(_) if !allow_duplicates => {
                    return Err(format!("{}: duplicate entries for key {pe}", Path(path.to_vec())));
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
    fn merge_list(
        &self,
        node: &Node,
        lhs: &[Value],
        rhs: &[Value],
        path: &mut Vec<PathElement>,
    ) -> Result<Vec<Value>, String> {
        let (rhs_pes, observed_rhs) = self.elements(node, rhs, false, path)?;
        let (lhs_pes, observed_lhs) = self.elements(node, lhs, true, path)?;
        let mut shared = rhs_pes.iter().filter(|pe| find(&observed_lhs, pe).is_some());
        let mut next_shared = shared.next();
        let mut merged_rhs: BTreeSet<&PathElement> = BTreeSet::new();
        let mut out = Vec::with_capacity(lhs.len().max(rhs.len()));
        let (mut li, mut ri) = (0, 0);
        let mut merge_item = |pe: &PathElement, l: Option<&Value>, r: Option<&Value>, out: &mut Vec<Value>| {
            path.push(pe.clone());
            let merged = self.merge_at(node.elem, l, r, path);
            path.pop();
            if let Some(v) = merged? {
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

    /// Compares two versions of an object. `lhs` is `None` for a creation.
    pub(crate) fn compare(&self, lhs: Option<&Value>, rhs: &Value) -> Result<Comparison, String> {
        let mut c = Comparison::default();
        self.compare_at(self.schema.root(), lhs, Some(rhs), &mut Vec::new(), &mut c)?;
        Ok(c)
    }

    fn leaf(path: &[PathElement], lhs: Option<&Value>, rhs: Option<&Value>, c: &mut Comparison) {
        match (lhs, rhs) {
            (None, _) => c.added.insert(path),
            (_, None) => c.removed.insert(path),
            (Some(l), Some(r)) if !values_equal(l, r) => c.modified.insert(path),
            _ => {}
        }
    }

    fn compare_at(
        &self,
        id: TypeId,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
        path: &mut Vec<PathElement>,
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
            c.modified.insert(path);
            return Ok(());
        }
        match ls.max(rs) {
            1 => {
                let lm = lhs.and_then(Value::as_object);
                let rm = rhs.and_then(Value::as_object);
                if node.atomic_map || (lm.is_none_or(Map::is_empty) && rm.is_none_or(Map::is_empty)) {
                    Self::leaf(path, lhs, rhs, c);
                    return Ok(());
                }
                let empty = Map::new();
                let (lm, rm) = (lm.unwrap_or(&empty), rm.unwrap_or(&empty));
                for key in lm.keys().chain(rm.keys().filter(|k| !lm.contains_key(*k))) {
                    let (child, _) = self.schema.field(id, key);
                    path.push(PathElement::Field(key.clone()));
                    self.compare_at(child, lm.get(key), rm.get(key), path, c)?;
                    path.pop();
                }
            }
            2 => {
                let la = lhs.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
                let ra = rhs.and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
                if node.list_type == ListType::Atomic || (la.is_empty() && ra.is_empty()) {
                    Self::leaf(path, lhs, rhs, c);
                    return Ok(());
                }
                self.compare_items(node, la, ra, path, c)?;
            }
            _ => {
                Self::leaf(path, lhs, rhs, c);
                return Ok(());
            }
        }
        match (lhs, rhs) {
            (None, _) => c.added.insert(path),
            (_, None) => c.removed.insert(path),
            _ => {}
        }
        Ok(())
    }

    fn compare_items(
        &self,
        node: &Node,
        la: &[Value],
        ra: &[Value],
        path: &mut Vec<PathElement>,
        c: &mut Comparison,
    ) -> Result<(), String> {
        let mut all: Vec<(PathElement, Vec<&Value>, Vec<&Value>)> = Vec::new();
        for (side, items) in [(0, la), (1, ra)] {
            for (i, item) in items.iter().enumerate() {
                let pe = item_element(node, item).map_err(|e| format!("{}: element {i}: {e}", Path(path.clone())))?;
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
        for (pe, l, r) in all {
            path.push(pe);
            match (l.len(), r.len()) {
                (0..=1, 0..=1) => self.compare_at(node.elem, l.first().copied(), r.first().copied(), path, c)?,
                (2.., 2..) => {
                    if l.len() != r.len() || l.iter().zip(&r).any(|(a, b)| !values_equal(a, b)) {
                        c.modified.insert(path);
                    }
                }
                (2.., _) => {
                    if let Some(first) = r.first() {
                        self.compare_at(node.elem, None, Some(first), path, c)?;
                    }
                    c.removed.insert(path);
                }
                (_, 2..) => {
                    if let Some(first) = l.first() {
                        self.compare_at(node.elem, Some(first), None, path, c)?;
                    }
                    c.added.insert(path);
                }
            }
            path.pop();
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
        let mut members: BTreeSet<PathElement> = set.members().cloned().collect();
        let mut children = std::collections::BTreeMap::new();
        for (pe, child) in set.children() {
            let child_id = match pe {
                PathElement::Field(name) => {
                    let (child_id, declared) = self.schema.field(id, name);
                    if declared {
                        members.insert(pe.clone());
                    }
                    child_id
                }
                _ => node.elem,
            };
            children.insert(pe.clone(), self.ensure_at(child_id, child));
        }
        Set::from_parts(members, children)
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
        let c = t.compare(Some(&old), &new).unwrap();
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
