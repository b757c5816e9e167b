//! Strategic merge patch (`application/strategic-merge-patch+json`), as kube-apiserver applies it
//! (`k8s.io/apimachinery/pkg/util/strategicpatch`, server side: parallel lists merged, unmatched
//! nulls ignored): a JSON merge patch where lists with `patchStrategy: merge` merge by their
//! `patchMergeKey` (or as sets of scalars), plus the directives `$patch` (`replace`, `delete`,
//! `merge`), `$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`.
//!
//! Written by hand: no Rust crate implements strategic merge patch. List order follows
//! Kubernetes' rules exactly (patch order, then live order, then `$setElementOrder`), because
//! `kubectl edit` and `apply` rely on it.
//!
//! Where kube-apiserver would keep a directive or a `null` in a new subtree only for its typed
//! decoding to drop it, this implementation drops it directly, since objects here stay JSON.

use go_format::GoValue;
use serde_json::{Map, Value};

use crate::error::PatchError;
use crate::schema::{Schema, SmpList, TypeId};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

const BAD_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
const BAD_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const BAD_SET_ELEMENT_ORDER: &str = "invalid patch format of setElementOrder list";
const NO_LIST_OF_LISTS: &str = "lists of lists are not supported";

type Result<T> = std::result::Result<T, PatchError>;

fn internal(message: String) -> PatchError {
    PatchError::Internal(message)
}

/// The name Go's `reflect.TypeOf` gives a decoded JSON value.
fn go_type(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "map[string]interface {}",
        Value::Array(_) => "[]interface {}",
        Value::String(_) => "string",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::Bool(_) => "bool",
        Value::Null => "%!s(<nil>)",
    }
}

fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
    internal(format!("expected a {expected}, but received a {}", go_type(actual)))
}

fn no_merge_key(item: &Map<String, Value>, key: &str) -> PatchError {
    internal(format!("map: {} does not contain declared merge key: {key}", GoValue(&Value::Object(item.clone()))))
}

fn bad_patch_type(directive: &Value, item: &Map<String, Value>) -> PatchError {
    let directive = match directive {
        Value::String(s) => s.clone(),
        other => format!("%!s({}={})", go_type(other), GoValue(other)),
    };
    internal(format!("unknown patch type: {directive} in map: {}", GoValue(&Value::Object(item.clone()))))
}

/// Applies the strategic merge patch `patch` to `original` with the merge metadata of `schema`.
pub(crate) fn strategic_merge_patch(original: &Value, patch: Map<String, Value>, schema: &Schema) -> Result<Value> {
    let original = match original {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    let smp = Smp { schema };
    Ok(Value::Object(smp.merge_map(original, patch, schema.root())?))
}

struct Smp<'s> {
    schema: &'s Schema,
}

/// The shape Go's reflection distinguishes when deciding to merge or to replace.
#[derive(PartialEq)]
enum Shape {
    Map,
    List,
    Scalar,
}

fn shape(value: &Value) -> Shape {
    match value {
        Value::Object(_) => Shape::Map,
        Value::Array(_) => Shape::List,
        _ => Shape::Scalar,
    }
}

impl Smp<'_> {
    fn merge_map(
        &self,
        mut original: Map<String, Value>,
        mut patch: Map<String, Value>,
        id: TypeId,
    ) -> Result<Map<String, Value>> {
        if let Some(directive) = patch.get(DIRECTIVE) {
            return match directive.as_str() {
                Some("replace") => {
                    patch.shift_remove(DIRECTIVE);
                    Ok(clean_map(patch))
                }
                Some("delete") => Ok(Map::new()),
                _ => Err(bad_patch_type(directive, &patch)),
            };
        }
        apply_retain_keys(&mut original, &mut patch)?;
        self.merge_ordered_lists(&mut original, &mut patch, id)?;
        for (key, patch_value) in patch {
            let (key, delete_list) = match key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
                Some(rest) => (
                    rest.strip_prefix('/')
                        .ok_or_else(|| PatchError::BadRequest(BAD_PRIMITIVE_LIST.into()))?
                        .to_string(),
                    true,
                ),
                None => (key, false),
            };
            if patch_value.is_null() {
                original.shift_remove(&key);
                continue;
            }
            let same_shape = original.get(&key).map(|current| shape(current) == shape(&patch_value));
            if same_shape != Some(true) {
                if !delete_list {
                    set_cleaned(&mut original, key, patch_value);
                }
                continue;
            }
            let current = original.get_mut(&key).expect("present: same_shape is Some");
            match (current.take(), patch_value) {
                (Value::Object(live), Value::Object(patch_map)) => {
                    let child = self.schema.field(id, &key).0;
                    *current = Value::Object(self.merge_map(live, patch_map, child)?);
                }
                (Value::Array(live), Value::Array(patch_list)) => {
                    let child = self.schema.field(id, &key).0;
                    *current = Value::Array(self.merge_list_field(live, patch_list, child, delete_list)?);
                }
                (_, scalar) => *current = scalar,
            }
        }
        Ok(original)
    }

    /// `mergeSliceHandler`: merge when the field's strategy is `merge` (or for a deletion list),
    /// replace otherwise.
    fn merge_list_field(
        &self,
        live: Vec<Value>,
        patch: Vec<Value>,
        id: TypeId,
        delete_list: bool,
    ) -> Result<Vec<Value>> {
        let node = self.schema.node(id);
        match &node.smp_list {
            SmpList::Merge { key } => self.merge_list(live, patch, node.elem, key.as_deref(), delete_list),
            SmpList::Replace if delete_list => self.merge_list(live, patch, node.elem, None, true),
            SmpList::Replace => Ok(clean_list(patch)),
        }
    }

    /// `mergeSlice`: merges a patch list into a live list by merge key (lists of objects) or as a
    /// set (lists of scalars), then orders the result.
    fn merge_list(
        &self,
        live: Vec<Value>,
        patch: Vec<Value>,
        elem: TypeId,
        merge_key: Option<&str>,
        delete_list: bool,
    ) -> Result<Vec<Value>> {
        if live.is_empty() && patch.is_empty() {
            return Ok(live);
        }
        let kind = element_shape(&[&live, &patch])?;
        if kind != Shape::Map {
            if delete_list {
                return Ok(live.into_iter().filter(|v| !patch.contains(v)).collect());
            }
            let mut merged: Vec<Value> = Vec::with_capacity(live.len() + patch.len());
            for v in live.iter().chain(&patch) {
                if !merged.contains(v) {
                    merged.push(v.clone());
                }
            }
            let (in_patch, server_only): (Vec<Value>, Vec<Value>) = merged.into_iter().partition(|v| patch.contains(v));
            return Ok(normalize_order(in_patch, server_only, &patch, &live, None));
        }
        let key = merge_key.ok_or_else(|| internal("cannot merge lists without merge key".to_string()))?;
        let (live, patch) = merge_special_elements(live, patch, key)?;
        let mut merged = live.clone();
        for item in &patch {
            let Value::Object(item_map) = item else { return Err(bad_arg_type("map[string]interface {}", item)) };
            let value = item_map.get(key).ok_or_else(|| no_merge_key(item_map, key))?;
            match find_by_key(&merged, key, value)? {
                Some(i) => {
                    let Value::Object(current) = merged[i].take() else { unreachable!("find_by_key returns maps") };
                    merged[i] = Value::Object(self.merge_map(current, item_map.clone(), elem)?);
                }
                None => merged.push(clean(item.clone())),
            }
        }
        let (in_patch, server_only) = partition_by_key(merged, &patch, key)?;
        Ok(normalize_order(in_patch, server_only, &patch, &live, Some(key)))
    }

    /// `mergePatchIntoOriginal`: the `$setElementOrder/<list>` directives, with the list they order.
    fn merge_ordered_lists(
        &self,
        original: &mut Map<String, Value>,
        patch: &mut Map<String, Value>,
        id: TypeId,
    ) -> Result<()> {
        let keys: Vec<String> = patch.keys().filter(|k| k.starts_with(SET_ELEMENT_ORDER)).cloned().collect();
        for directive_key in keys {
            let order = patch.shift_remove(&directive_key).unwrap_or(Value::Null);
            let Value::Array(order) = order else { return Err(bad_arg_type("[]interface {}", &order)) };
            let key = directive_key
                .strip_prefix(SET_ELEMENT_ORDER)
                .and_then(|k| k.strip_prefix('/'))
                .ok_or_else(|| PatchError::BadRequest(BAD_SET_ELEMENT_ORDER.into()))?
                .to_string();
            let live_list = match original.get(&key) {
                Some(Value::Array(items)) => Some(items.clone()),
                Some(other) => return Err(bad_arg_type("[]interface {}", other)),
                None => None,
            };
            let patch_list = match patch.get(&key) {
                Some(Value::Array(items)) => Some(items.clone()),
                Some(other) => return Err(bad_arg_type("[]interface {}", other)),
                None => None,
            };
            let child = self.schema.field(id, &key).0;
            let node = self.schema.node(child);
            let merge_key = match &node.smp_list {
                SmpList::Merge { key } => key.as_deref(),
                SmpList::Replace => None,
            };
            validate_set_element_order(patch_list.as_deref().unwrap_or_default(), &order, merge_key)?;
            let merged = match (&live_list, patch_list.clone()) {
                (Some(live), None) => live.clone(),
                (None, Some(patch_items)) => clean_list(patch_items),
                (Some(live), Some(patch_items)) => self.merge_list_field(live.clone(), patch_items, child, false)?,
                (None, None) => continue,
            };
            let (in_order, server_only) = match merge_key {
                Some(k) => partition_by_key(merged, &order, k)?,
                None => merged.into_iter().partition(|v| order.contains(v)),
            };
            let live_list = live_list.unwrap_or_default();
            let kind = element_shape(&[&live_list, patch_list.as_deref().unwrap_or_default()])?;
            let key_for_order = if kind == Shape::Map { merge_key } else { None };
            original.insert(
                key.clone(),
                Value::Array(normalize_order(in_order, server_only, &order, &live_list, key_for_order)),
            );
            patch.shift_remove(&key);
        }
        Ok(())
    }
}

/// Inserts a value taken from the patch, without its directives and nulls; a map that is itself
/// a directive is not inserted.
fn set_cleaned(original: &mut Map<String, Value>, key: String, value: Value) {
    match value {
        Value::Object(map) if map.contains_key(DIRECTIVE) => {
            original.shift_remove(&key);
        }
        other => {
            original.insert(key, clean(other));
        }
    }
}

/// Drops directives (maps carrying `$patch`, directive keys) and nulls from a patch value that
/// is stored as is.
fn clean(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(clean_map(map)),
        Value::Array(items) => Value::Array(clean_list(items)),
        other => other,
    }
}

fn clean_map(map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .filter(|(k, v)| !v.is_null() && !is_directive_key(k) && !is_directive_map(v))
        .map(|(k, v)| (k, clean(v)))
        .collect()
}

fn clean_list(items: Vec<Value>) -> Vec<Value> {
    items.into_iter().filter(|v| !is_directive_map(v)).map(clean).collect()
}

fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE
        || key == RETAIN_KEYS
        || key.starts_with(SET_ELEMENT_ORDER)
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

fn is_directive_map(value: &Value) -> bool {
    value.as_object().is_some_and(|m| m.contains_key(DIRECTIVE))
}

/// `$retainKeys`: keys of the live map not listed are cleared; every key the patch sets must be
/// listed.
fn apply_retain_keys(original: &mut Map<String, Value>, patch: &mut Map<String, Value>) -> Result<()> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else { return Ok(()) };
    let Value::Array(retain) = retain else { return Err(PatchError::BadRequest(BAD_RETAIN_KEYS.into())) };
    let listed = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (key, value) in patch.iter() {
        if value.is_null() || key.starts_with(DELETE_FROM_PRIMITIVE_LIST) || key.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        if !listed(key) {
            return Err(PatchError::BadRequest(BAD_RETAIN_KEYS.into()));
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

/// The common shape of the items of some lists (`sliceElementType`).
fn element_shape(lists: &[&[Value]]) -> Result<Shape> {
    let mut first: Option<&Value> = None;
    for item in lists.iter().flat_map(|l| l.iter()) {
        match first {
            None => {
                if item.is_array() {
                    return Err(PatchError::Unprocessable(NO_LIST_OF_LISTS.into()));
                }
                first = Some(item);
            }
            Some(f) if go_type(f) != go_type(item) => {
                let all: Vec<Value> = lists.iter().map(|l| Value::Array(l.to_vec())).collect();
                return Err(internal(format!("list element types are not identical: {}", GoValue(&Value::Array(all)))));
            }
            Some(_) => {}
        }
    }
    first.map(shape).ok_or_else(|| internal("no elements in any of the given slices".into()))
}

/// `mergeSliceWithSpecialElements`: applies `{"$patch": "delete", key: …}` items to the live list
/// and `{"$patch": "replace"}` (the patch list replaces the live one).
fn merge_special_elements(mut live: Vec<Value>, patch: Vec<Value>, key: &str) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Value::Object(map) = &item else { return Err(bad_arg_type("map[string]interface {}", &item)) };
        let Some(directive) = map.get(DIRECTIVE) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let value = map.get(key).ok_or_else(|| no_merge_key(map, key))?;
                while let Some(i) = find_by_key(&live, key, value)? {
                    live.remove(i);
                }
            }
            Some("replace") => replace = true,
            Some("merge") => return Err(internal("merging lists cannot yet be specified in the patch".into())),
            _ => return Err(bad_patch_type(directive, map)),
        }
    }
    Ok(if replace { (clean_list(plain), Vec::new()) } else { (live, plain) })
}

/// The index of the first item whose merge key has `value`.
fn find_by_key(items: &[Value], key: &str, value: &Value) -> Result<Option<usize>> {
    for (i, item) in items.iter().enumerate() {
        let Value::Object(map) = item else { return Err(internal(format!("value for key {i} is not a map"))) };
        if map.get(key) == Some(value) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// Splits items into those whose merge key appears in `by` and the others.
fn partition_by_key(items: Vec<Value>, by: &[Value], key: &str) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut found = Vec::new();
    let mut others = Vec::new();
    for item in items {
        let Value::Object(map) = &item else { return Err(bad_arg_type("map[string]interface {}", &item)) };
        let value = map.get(key).ok_or_else(|| no_merge_key(map, key))?;
        if find_by_key(by, key, value)?.is_some() {
            found.push(item);
        } else {
            others.push(item);
        }
    }
    Ok((found, others))
}

/// `validatePatchWithSetOrderList`: the patch's items must appear in `$setElementOrder`, in the
/// same relative order.
fn validate_set_element_order(patch: &[Value], order: &[Value], key: Option<&str>) -> Result<()> {
    if patch.is_empty() || order.is_empty() {
        return Ok(());
    }
    let items: Vec<&Value> = match key {
        Some(_) => patch.iter().filter(|v| v.get(DIRECTIVE).and_then(Value::as_str) != Some("delete")).collect(),
        None => patch.iter().collect(),
    };
    let same = |a: &Value, b: &Value| -> Result<bool> {
        let Some(key) = key else { return Ok(a == b) };
        let (Value::Object(am), Value::Object(bm)) = (a, b) else {
            let bad = if a.is_object() { b } else { a };
            return Err(bad_arg_type("map[string]interface {}", bad));
        };
        let av = am.get(key).ok_or_else(|| no_merge_key(am, key))?;
        let bv = bm.get(key).ok_or_else(|| no_merge_key(bm, key))?;
        Ok(av == bv)
    };
    let (mut p, mut o) = (0, 0);
    while p < items.len() && o < order.len() {
        if is_directive_map(items[p]) {
            p += 1;
            continue;
        }
        if same(items[p], &order[o])? {
            p += 1;
        }
        o += 1;
    }
    if p < items.len() {
        return Err(internal(format!(
            "The order in patch list:\n{}\n doesn't match {SET_ELEMENT_ORDER} list:\n{}\n",
            GoValue(&Value::Array(patch.to_vec())),
            GoValue(&Value::Array(order.to_vec()))
        )));
    }
    Ok(())
}

/// `normalizeElementOrder`: the items the patch names in the patch's order, the server-only items
/// in the live order, then interleaved so that live order is kept where both are known.
fn normalize_order(
    in_patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    let index = |list: &[Value], item: &Value| -> Option<usize> {
        let probe = |v: &Value| match key {
            Some(k) => v.get(k).cloned(),
            None => Some(v.clone()),
        };
        let wanted = probe(item);
        list.iter().position(|v| probe(v) == wanted)
    };
    let sort = |mut items: Vec<Value>, order: &[Value]| {
        // Deletion directives go last, in their patch order.
        let (mut kept, deleted): (Vec<Value>, Vec<Value>) =
            items.drain(..).partition(|v| key.is_none() || v.get(DIRECTIVE).and_then(Value::as_str) != Some("delete"));
        kept.sort_by_key(|v| index(order, v).unwrap_or(usize::MAX));
        kept.extend(deleted);
        kept
    };
    let right = sort(in_patch, patch_order);
    let left = sort(server_only, server_order);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut l, mut r) = (left.into_iter().peekable(), right.into_iter().peekable());
    loop {
        let take_left = match (l.peek(), r.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => match (index(server_order, a), index(server_order, b)) {
                (Some(ia), Some(ib)) => ia < ib,
                _ => false,
            },
        };
        out.extend(if take_left { l.next() } else { r.next() });
    }
    out
}
