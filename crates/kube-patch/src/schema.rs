//! The merge metadata of a kind, as a small type graph: for each object node its fields, whether
//! it is an atomic map, and for each list node how strategic merge patch merges it
//! (`patchStrategy`/`patchMergeKey`) and what server-side apply calls it (`listType` atomic, set
//! or map with its `listMapKey`s). Nodes live in an arena so types shared by several kinds (the
//! pod spec, object metadata) are built once.
//!
//! Only what changes behaviour is described: an unlisted field of a built-in struct is a
//! granular struct field whose lists are atomic (Kubernetes' default), and a schemaless custom
//! resource is "deduced" (maps granular, lists atomic, keys not declared fields).

use std::sync::Arc;

use serde_json::Value;

/// Index of a node in a schema's arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TypeId(u32);

/// The node for unlisted fields of typed (built-in) structs.
pub(crate) const DEFAULT: TypeId = TypeId(0);
/// The node for values with no schema at all (deduced types).
pub(crate) const DEDUCED: TypeId = TypeId(1);

/// How server-side apply identifies the items of a list.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ListType {
    /// The list is one value (`x-kubernetes-list-type: atomic`, the default).
    Atomic,
    /// A set of scalars (`x-kubernetes-list-type: set`).
    Set,
    /// A map keyed by some fields of its items (`x-kubernetes-list-type: map`).
    Map(Vec<MapKey>),
}

/// One `x-kubernetes-list-map-keys` entry, with the default the schema gives it (the `protocol`
/// of ports defaults to `TCP`, and so takes part in the key even when absent).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MapKey {
    pub name: String,
    pub default: Option<Value>,
}

/// How strategic merge patch treats a list (`patchStrategy` of the field).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum SmpList {
    /// No strategy: the patch's list replaces the live one.
    Replace,
    /// `patchStrategy: merge`, with the `patchMergeKey` for lists of objects.
    Merge { key: Option<String> },
}

/// What a value at this position is, whatever its JSON shape turns out to be.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    /// Listed fields, sorted by name.
    pub fields: Vec<(String, TypeId)>,
    /// The node of every other key.
    pub rest: TypeId,
    /// Whether the other keys are declared struct fields (typed objects) or map keys.
    pub rest_declared: bool,
    /// `x-kubernetes-map-type: atomic` / `+structType=atomic`: the object is one value.
    pub atomic_map: bool,
    /// When the value is a list: its item node.
    pub elem: TypeId,
    /// When the value is a list: its server-side apply list type.
    pub list_type: ListType,
    /// When the value is a list: its strategic merge patch strategy.
    pub smp_list: SmpList,
}

impl Node {
    fn leafless(rest: TypeId, rest_declared: bool) -> Node {
        Node {
            fields: Vec::new(),
            rest,
            rest_declared,
            atomic_map: false,
            elem: rest,
            list_type: ListType::Atomic,
            smp_list: SmpList::Replace,
        }
    }
}

/// The merge metadata of one kind: what strategic merge patch and server-side apply need to know
/// about its fields. Get one with [`Schema::builtin`] for the built-in kinds, [`Schema::from_openapi_v3`]
/// for a custom resource with a structural schema, or [`Schema::deduced`] for one without.
#[derive(Clone, Debug)]
pub struct Schema {
    nodes: Arc<[Node]>,
    root: TypeId,
    strategic: bool,
    zero: Arc<Value>,
}

impl Schema {
    /// The schema of a custom resource without a structural schema: maps merge key by key, lists
    /// are atomic, and every key is a map key (as structured-merge-diff's deduced type).
    pub fn deduced() -> Schema {
        let mut arena = Arena::new();
        let metadata = arena.builtin_struct("ObjectMeta");
        let mut root = Node::leafless(DEDUCED, false);
        root.fields.push(("metadata".to_string(), metadata));
        let root = arena.push(root);
        arena.finish(root, false)
    }

    /// The schema of a custom resource from its CRD version's `openAPIV3Schema`: `properties`,
    /// `items`, `additionalProperties`, `x-kubernetes-list-type`, `x-kubernetes-list-map-keys`,
    /// `x-kubernetes-map-type`, `x-kubernetes-preserve-unknown-fields` and the patch extensions.
    /// `metadata` is always object metadata, whatever the schema says of it (as kube-apiserver).
    pub fn from_openapi_v3(schema: &Value) -> Schema {
        let mut arena = Arena::new();
        let metadata = arena.builtin_struct("ObjectMeta");
        let root = arena.openapi(schema, 0);
        let mut node = arena.nodes[root.0 as usize].clone();
        match node.fields.binary_search_by(|(name, _)| name.as_str().cmp("metadata")) {
            Ok(i) => node.fields[i].1 = metadata,
            Err(i) => node.fields.insert(i, ("metadata".to_string(), metadata)),
        }
        let root = arena.push(node);
        arena.finish(root, false)
    }

    /// Whether strategic merge patch is defined for this kind (built-in kinds only: kube-apiserver
    /// answers 415 to a strategic merge patch on a custom resource).
    pub fn supports_strategic_merge_patch(&self) -> bool {
        self.strategic
    }

    pub(crate) fn root(&self) -> TypeId {
        self.root
    }

    pub(crate) fn node(&self, id: TypeId) -> &Node {
        &self.nodes[id.0 as usize]
    }

    /// The node of `key` inside the object node `id`, and whether `key` is a declared field.
    pub(crate) fn field(&self, id: TypeId, key: &str) -> (TypeId, bool) {
        let node = self.node(id);
        match node.fields.binary_search_by(|(name, _)| name.as_str().cmp(key)) {
            Ok(i) => (node.fields[i].1, true),
            Err(_) => (node.rest, node.rest_declared),
        }
    }

    pub(crate) fn from_arena(arena: Arena, root: TypeId, strategic: bool) -> Schema {
        arena.finish(root, strategic)
    }

    /// The same arena seen from another root (kinds sharing the built-in types), with the kind's
    /// zero object.
    pub(crate) fn with_root(&self, root: TypeId, zero: Value) -> Schema {
        Schema { nodes: self.nodes.clone(), root, strategic: self.strategic, zero: Arc::new(zero) }
    }

    /// The empty object of the kind, as kube-apiserver's typed zero value serializes.
    pub(crate) fn zero_object(&self) -> &Value {
        &self.zero
    }
}

/// Builds the node arena of a schema.
pub(crate) struct Arena {
    nodes: Vec<Node>,
    named: Vec<(&'static str, TypeId)>,
}

impl Arena {
    pub(crate) fn new() -> Arena {
        Arena { nodes: vec![Node::leafless(DEFAULT, true), Node::leafless(DEDUCED, false)], named: Vec::new() }
    }

    pub(crate) fn push(&mut self, node: Node) -> TypeId {
        let id = TypeId(u32::try_from(self.nodes.len()).expect("schema arena fits in u32"));
        self.nodes.push(node);
        id
    }

    /// Reserves a node for a named type (so recursive and shared types are built once).
    pub(crate) fn named(&mut self, name: &'static str) -> Result<TypeId, TypeId> {
        if let Some((_, id)) = self.named.iter().find(|(n, _)| *n == name) {
            return Ok(*id);
        }
        let id = self.push(Node::leafless(DEFAULT, true));
        self.named.push((name, id));
        Err(id)
    }

    pub(crate) fn set(&mut self, id: TypeId, node: Node) {
        self.nodes[id.0 as usize] = node;
    }

    pub(crate) fn default_node() -> Node {
        Node::leafless(DEFAULT, true)
    }

    fn finish(self, root: TypeId, strategic: bool) -> Schema {
        Schema { nodes: self.nodes.into(), root, strategic, zero: Arc::new(Value::Object(Default::default())) }
    }

    /// Converts one OpenAPI v3 schema object into a node.
    fn openapi(&mut self, schema: &Value, depth: usize) -> TypeId {
        const MAX_DEPTH: usize = 64;
        if depth > MAX_DEPTH || !schema.is_object() {
            return DEDUCED;
        }
        let ext = |name: &str| schema.get(name);
        let mut node = Node::leafless(DEDUCED, false);
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            let mut fields: Vec<(String, TypeId)> =
                props.iter().map(|(name, sub)| (name.clone(), self.openapi(sub, depth + 1))).collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            node.fields = fields;
        }
        match schema.get("additionalProperties") {
            Some(sub @ Value::Object(_)) => node.rest = self.openapi(sub, depth + 1),
            _ => node.rest = DEDUCED,
        }
        node.atomic_map = ext("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic");
        if let Some(items) = schema.get("items") {
            node.elem = self.openapi(items, depth + 1);
        }
        let strategy = ext("x-kubernetes-patch-strategy").and_then(Value::as_str).unwrap_or("");
        let merge_key = ext("x-kubernetes-patch-merge-key").and_then(Value::as_str).map(str::to_string);
        if strategy.split(',').any(|s| s == "merge") {
            node.smp_list = SmpList::Merge { key: merge_key.clone() };
        }
        node.list_type = match ext("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("set") => ListType::Set,
            Some("map") => {
                let keys = ext("x-kubernetes-list-map-keys").and_then(Value::as_array).cloned().unwrap_or_default();
                let item_props = schema.get("items").and_then(|i| i.get("properties"));
                ListType::Map(
                    keys.iter()
                        .filter_map(Value::as_str)
                        .map(|name| MapKey {
                            name: name.to_string(),
                            default: item_props.and_then(|p| p.get(name)).and_then(|p| p.get("default")).cloned(),
                        })
                        .collect(),
                )
            }
            Some(_) => ListType::Atomic,
            // Without a list type, a merge patch strategy makes the list associative (as
            // kube-openapi's schema conversion does); otherwise it is atomic.
            None => match &node.smp_list {
                SmpList::Merge { key: Some(key) } => ListType::Map(vec![MapKey { name: key.clone(), default: None }]),
                SmpList::Merge { key: None } => ListType::Set,
                SmpList::Replace => ListType::Atomic,
            },
        };
        self.push(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn openapi_list_types_and_map_keys_are_read() {
        let schema = Schema::from_openapi_v3(&json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": {
                    "ports": {"type": "array", "x-kubernetes-list-type": "map",
                              "x-kubernetes-list-map-keys": ["port", "protocol"],
                              "items": {"type": "object", "properties": {
                                  "port": {"type": "integer"},
                                  "protocol": {"type": "string", "default": "TCP"}}}},
                    "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                    "selector": {"type": "object", "x-kubernetes-map-type": "atomic"},
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}
                }}
            }
        }));
        let (spec, declared) = schema.field(schema.root(), "spec");
        assert!(declared);
        let (ports, _) = schema.field(spec, "ports");
        assert_eq!(
            schema.node(ports).list_type,
            ListType::Map(vec![
                MapKey { name: "port".into(), default: None },
                MapKey { name: "protocol".into(), default: Some(json!("TCP")) },
            ])
        );
        assert_eq!(schema.node(schema.field(spec, "tags").0).list_type, ListType::Set);
        assert!(schema.node(schema.field(spec, "selector").0).atomic_map);
        let (labels, _) = schema.field(spec, "labels");
        assert!(!schema.field(labels, "anything").1, "additionalProperties keys are map keys");
        assert!(!schema.supports_strategic_merge_patch());
    }

    #[test]
    fn metadata_of_a_custom_resource_is_object_metadata() {
        let schema = Schema::deduced();
        let (meta, _) = schema.field(schema.root(), "metadata");
        let (owners, _) = schema.field(meta, "ownerReferences");
        assert!(matches!(schema.node(owners).list_type, ListType::Map(_)));
        let (spec, declared) = schema.field(schema.root(), "spec");
        assert_eq!((spec, declared), (DEDUCED, false));
    }
}
