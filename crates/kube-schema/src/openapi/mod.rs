//! The OpenAPI v3 documents kube-apiserver publishes, built from a description of the served
//! resources: the index (`GET /openapi/v3`) and one document per group-version
//! (`GET /openapi/v3/api/v1`, `GET /openapi/v3/apis/<group>/<version>`).
//!
//! Build an [`OpenApiV3`] once per change of the served resources and keep it; every document is
//! serialized and hashed at build time, so serving one is handing out [`bytes::Bytes`]. kubectl
//! fetches the index on every `apply`, `edit` and `explain`, then the documents it needs at the
//! `serverRelativeURL` the index gives (`?hash=<hash>`), and caches those on disk when the reply
//! says `Cache-Control: public, immutable` with an `Expires` date: see [`Document::freshness`].
//!
//! `GET /openapi/v2` may answer 404 (a NotFound Status): kubectl 1.27+ asks for it only when v3 is
//! missing, and then falls back to the types compiled into it.

pub(crate) mod builtin;
mod crd;
mod paths;

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Months, Utc};
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};

pub use builtin::field_extensions;
pub use crd::crd_resources;

/// The Kubernetes version the documents' `info.version` names.
pub const KUBERNETES_VERSION: &str = "v1.32.0";

/// The verbs of an ordinary resource, in discovery's order.
pub const STANDARD_VERBS: &[&str] =
    &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/// The `x-kubernetes-*` facts of one field of a built-in schema (from Kubernetes' Go struct tags
/// and `+listType`/`+listMapKey`/`+mapType` markers), as published in the OpenAPI schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldExtensions {
    /// The OpenAPI schema name, e.g. `io.k8s.api.core.v1.PodSpec`.
    pub schema: &'static str,
    /// The JSON field name, e.g. `containers`.
    pub field: &'static str,
    /// `x-kubernetes-patch-strategy`: `merge`, `retainKeys`, `merge,retainKeys` or `replace`.
    pub patch_strategy: Option<&'static str>,
    /// `x-kubernetes-patch-merge-key`: the key strategic merge patch merges list items by.
    pub patch_merge_key: Option<&'static str>,
    /// `x-kubernetes-list-type`: `atomic`, `set` or `map`.
    pub list_type: Option<&'static str>,
    /// `x-kubernetes-list-map-keys` of a `map` list.
    pub list_map_keys: &'static [&'static str],
    /// `x-kubernetes-map-type`: `atomic` or `granular`.
    pub map_type: Option<&'static str>,
}

/// A group, version and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    pub fn new(group: impl Into<String>, version: impl Into<String>, kind: impl Into<String>) -> Self {
        Self { group: group.into(), version: version.into(), kind: kind.into() }
    }
}

/// Where a resource's schema comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceSchema {
    /// A built-in kind: its schema comes from `k8s-openapi`, looked up by group, version and kind
    /// (a kind it does not know gets paths but no component schema), and its PATCH operations
    /// accept strategic merge patch.
    BuiltIn,
    /// A custom resource: the `openAPIV3Schema` of its CRD version (`apiVersion`, `kind` and
    /// `metadata` are added as kube-apiserver adds them).
    Custom(Value),
}

/// A subresource of a served resource (`status`, `scale`, `token`, `eviction`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiSubresource {
    /// The path segment after the object's name.
    pub name: String,
    /// The kind its requests and responses carry (`autoscaling/v1` `Scale` for `scale`).
    pub group: String,
    pub version: String,
    pub kind: String,
    /// `get`, `update`, `patch`, `create`.
    pub verbs: Vec<String>,
}

impl ApiSubresource {
    pub fn gvk(&self) -> Gvk {
        Gvk::new(&self.group, &self.version, &self.kind)
    }
}

/// One served resource, as the API server's registry describes it: the input of [`OpenApiV3`].
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResource {
    /// The API group, `""` for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    /// The plural resource name used in URLs (`configmaps`).
    pub plural: String,
    pub namespaced: bool,
    /// Discovery's verbs: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`.
    pub verbs: Vec<String>,
    pub subresources: Vec<ApiSubresource>,
    pub schema: ResourceSchema,
}

impl ApiResource {
    /// A built-in resource with the given verbs and no subresources.
    pub fn builtin(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool, verbs: &[&str]) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            namespaced,
            verbs: verbs.iter().map(|v| v.to_string()).collect(),
            subresources: Vec::new(),
            schema: ResourceSchema::BuiltIn,
        }
    }

    /// Adds a subresource.
    pub fn with_subresource(mut self, name: &str, gvk: Gvk, verbs: &[&str]) -> Self {
        self.subresources.push(ApiSubresource {
            name: name.into(),
            group: gvk.group,
            version: gvk.version,
            kind: gvk.kind,
            verbs: verbs.iter().map(|v| v.to_string()).collect(),
        });
        self
    }

    pub fn gvk(&self) -> Gvk {
        Gvk::new(&self.group, &self.version, &self.kind)
    }

    /// `api/v1` or `apis/<group>/<version>`: the group-version's path below `/openapi/v3/`.
    pub fn gv_path(&self) -> String {
        gv_path(&self.group, &self.version)
    }

    fn operation_group_token(&self) -> String {
        paths::group_token(&self.group)
    }

    fn tag(&self) -> String {
        let token = paths::group_token(&self.group);
        let mut chars = token.chars();
        let lower: String = chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default();
        format!("{lower}_{}", self.version)
    }
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

/// One serialized document and its content hash (uppercase hex SHA-512, as kube-apiserver's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    url_path: String,
    body: Bytes,
    hash: String,
}

/// How to answer a request for a group-version document, given the `hash` query parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// The hash names this content: answer 200 with `Cache-Control: public, immutable` and this
    /// `Expires` value (a year on), so kubectl caches the document on disk.
    Immutable { expires: String },
    /// The hash names older content: answer 301 Moved Permanently to this location.
    Redirect { location: String },
    /// No hash was asked for: answer 200 with `Cache-Control: no-cache, private` and the ETag.
    Revalidate,
}

impl Document {
    fn new(url_path: String, value: &Value) -> Self {
        let body = Bytes::from(serde_json::to_vec(value).expect("a JSON value serializes"));
        let hash = hex::encode_upper(Sha512::digest(&body));
        Self { url_path, body, hash }
    }

    /// The JSON bytes (`Content-Type: application/json`).
    pub fn body(&self) -> Bytes {
        self.body.clone()
    }

    /// The content hash, as in `?hash=` and (quoted) in the `ETag` header.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The `ETag` header value.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.hash)
    }

    /// Where this document is served: `/openapi/v3/apis/apps/v1`.
    pub fn url_path(&self) -> &str {
        &self.url_path
    }

    /// How kube-apiserver answers for this document when asked with `?hash=<requested>` at `now`.
    pub fn freshness(&self, requested: Option<&str>, now: DateTime<Utc>) -> Freshness {
        match requested {
            None => Freshness::Revalidate,
            Some(hash) if hash == self.hash => {
                let later = now.checked_add_months(Months::new(12)).unwrap_or(now);
                Freshness::Immutable { expires: later.format("%a, %d %b %Y %H:%M:%S GMT").to_string() }
            }
            Some(_) => Freshness::Redirect { location: format!("{}?hash={}", self.url_path, self.hash) },
        }
    }
}

/// The OpenAPI v3 documents for a set of served resources.
#[derive(Debug, Clone)]
pub struct OpenApiV3 {
    index: Document,
    documents: BTreeMap<String, Document>,
}

impl OpenApiV3 {
    /// Builds every document. Resources of the same group-version share one document; their
    /// order does not matter (paths and schemas are sorted).
    pub fn build(resources: &[ApiResource]) -> Self {
        let mut by_gv: BTreeMap<String, Vec<&ApiResource>> = BTreeMap::new();
        for resource in resources {
            by_gv.entry(resource.gv_path()).or_default().push(resource);
        }
        let documents: BTreeMap<String, Document> = by_gv
            .into_iter()
            .map(|(gv, resources)| {
                let url_path = format!("/openapi/v3/{gv}");
                let document = Document::new(url_path, &group_version_document(&resources));
                (gv, document)
            })
            .collect();
        let index_paths: Map<String, Value> = documents
            .iter()
            .map(|(gv, doc)| (gv.clone(), json!({"serverRelativeURL": format!("{}?hash={}", doc.url_path, doc.hash)})))
            .collect();
        let index = Document::new("/openapi/v3".into(), &json!({"paths": index_paths}));
        Self { index, documents }
    }

    /// The index served at `/openapi/v3`.
    pub fn index(&self) -> &Document {
        &self.index
    }

    /// The document for `api/v1` or `apis/<group>/<version>` (the request path after
    /// `/openapi/v3/`), if any resource of that group-version is served.
    pub fn document(&self, gv_path: &str) -> Option<&Document> {
        self.documents.get(gv_path.trim_matches('/'))
    }
}

/// The list kind's schema name for a kind's schema name.
fn list_name(object: &str) -> String {
    format!("{object}List")
}

/// `stable.example.com`, `v1`, `CronTab` → `com.example.stable.v1.CronTab`: the schema name
/// kube-apiserver gives a custom resource.
fn custom_schema_name(gvk: &Gvk) -> String {
    let reversed: Vec<&str> = gvk.group.split('.').rev().collect();
    format!("{}.{}.{}", reversed.join("."), gvk.version, gvk.kind)
}

fn group_version_document(resources: &[&ApiResource]) -> Value {
    let mut generator = SchemaSettings::openapi3().into_generator();
    builtin::generate_meta(&mut generator);
    let mut extra: BTreeMap<String, Value> = BTreeMap::new();
    let mut kinds: BTreeMap<String, Gvk> = BTreeMap::new();
    let mut paths = Map::new();
    for resource in resources {
        let gvk = resource.gvk();
        let schemas = match &resource.schema {
            ResourceSchema::BuiltIn => builtin_schemas(&gvk, &mut generator, &mut kinds),
            ResourceSchema::Custom(schema) => {
                let name = custom_schema_name(&gvk);
                extra.insert(name.clone(), crd::complete_schema(schema));
                kinds.insert(name.clone(), gvk.clone());
                paths::Schemas { list: Some(list_name(&name)), object: Some(name), strategic_merge: false }
            }
        };
        let mut sub_schemas: BTreeMap<Gvk, paths::Schemas> = BTreeMap::new();
        for sub in &resource.subresources {
            let sub_gvk = sub.gvk();
            let found =
                if sub_gvk == gvk { schemas.clone() } else { builtin_schemas(&sub_gvk, &mut generator, &mut kinds) };
            sub_schemas.insert(sub_gvk, found);
        }
        let lookup = |g: &Gvk| sub_schemas.get(g).cloned().unwrap_or_default();
        paths::add_resource_paths(&mut paths, resource, &schemas, &lookup);
    }
    let mut schemas: BTreeMap<String, Value> = BTreeMap::new();
    for (name, schema) in generator.take_definitions(true) {
        let mut schema = schema;
        if let Value::Object(object) = &mut schema {
            builtin::add_extensions(&name, object);
        }
        schemas.insert(name, schema);
    }
    schemas.extend(extra);
    for (name, gvk) in &kinds {
        let list_gvk = Gvk::new(&gvk.group, &gvk.version, format!("{}List", gvk.kind));
        if resources.iter().any(|r| r.gvk() == *gvk && r.verbs.iter().any(|v| v == "list")) {
            schemas.insert(list_name(name), list_schema(name, &list_gvk));
        }
        if let Some(Value::Object(object)) = schemas.get_mut(name) {
            object.insert("x-kubernetes-group-version-kind".into(), gvk_extension(gvk));
        }
    }
    let mut paths: Vec<(String, Value)> = paths.into_iter().collect();
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths.into_iter().collect::<Map<String, Value>>(),
        "components": {"schemas": schemas.into_iter().collect::<Map<String, Value>>()},
    })
}

/// The schemas of a built-in kind, added to the generator, if `k8s-openapi` knows the kind.
fn builtin_schemas(
    gvk: &Gvk,
    generator: &mut schemars::SchemaGenerator,
    kinds: &mut BTreeMap<String, Gvk>,
) -> paths::Schemas {
    match builtin::builtin_kind(&gvk.group, &gvk.version, &gvk.kind) {
        Some(kind) => {
            (kind.generate)(generator);
            let name = (kind.schema_name)().into_owned();
            kinds.insert(name.clone(), gvk.clone());
            paths::Schemas { list: Some(list_name(&name)), object: Some(name), strategic_merge: true }
        }
        None => paths::Schemas { object: None, list: None, strategic_merge: true },
    }
}

fn gvk_extension(gvk: &Gvk) -> Value {
    json!([{"group": gvk.group, "kind": gvk.kind, "version": gvk.version}])
}

fn list_schema(object: &str, list_gvk: &Gvk) -> Value {
    let kind = list_gvk.kind.trim_end_matches("List");
    json!({
        "description": format!("{} is a list of {kind}", list_gvk.kind),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources", "type": "string"},
            "items": {"description": format!("List of {}.", kind.to_lowercase()), "type": "array", "items": {"$ref": format!("#/components/schemas/{object}")}},
            "kind": {"description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds", "type": "string"},
            "metadata": {"allOf": [{"$ref": format!("#/components/schemas/{}", builtin::list_meta_name())}], "description": "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"},
        },
        "x-kubernetes-group-version-kind": gvk_extension(list_gvk),
    })
}

#[cfg(test)]
mod tests;
