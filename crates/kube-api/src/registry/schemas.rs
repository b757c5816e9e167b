//! The schemas of a registry snapshot: its OpenAPI v3 documents, built by `kube-schema` from the
//! resources (built-in kinds' schemas and the CRDs' own) once per snapshot, and the component
//! schemas parsed back from them for the object service's unknown-field checks. A CRD change
//! makes a new snapshot, so both caches are rebuilt with it.

use std::sync::Arc;

use kube_schema::openapi::{ApiResource, ApiSubresource, OpenApiV3, ResourceSchema};
use serde_json::{Map, Value};

use super::Snapshot;
use super::resource::{ResourceDef, Storage};

fn api_resource(def: &ResourceDef) -> ApiResource {
    ApiResource {
        group: def.group.clone(),
        version: def.version.clone(),
        kind: def.kind.clone(),
        plural: def.plural.clone(),
        namespaced: def.namespaced,
        verbs: def.verbs.clone(),
        subresources: def
            .subresources
            .iter()
            .map(|s| ApiSubresource {
                name: s.name.clone(),
                group: s.group.clone(),
                version: s.version.clone(),
                kind: s.kind.clone(),
                verbs: s.verbs.clone(),
            })
            .collect(),
        schema: match def.custom.as_ref().and_then(|c| c.schema.clone()) {
            Some(schema) => ResourceSchema::Custom(schema),
            None if def.custom.is_some() => ResourceSchema::Custom(
                serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
            ),
            None => ResourceSchema::BuiltIn,
        },
    }
}

impl Snapshot {
    /// The OpenAPI v3 documents of these resources (the review kinds only where they can be
    /// created).
    pub fn openapi(&self) -> Arc<OpenApiV3> {
        self.openapi
            .get_or_init(|| {
                let resources: Vec<ApiResource> = self
                    .resources
                    .iter()
                    .filter(|d| d.storage != Storage::Review || d.has_verb("create"))
                    .map(|d| api_resource(d))
                    .collect();
                Arc::new(OpenApiV3::build(&resources))
            })
            .clone()
    }

    /// The component schemas of a built-in resource's group-version and the name of its kind's
    /// schema, for unknown-field checks.
    pub fn component_schemas(&self, def: &ResourceDef) -> Option<(Arc<Map<String, Value>>, String)> {
        let gv = if def.group.is_empty() {
            format!("api/{}", def.version)
        } else {
            format!("apis/{}/{}", def.group, def.version)
        };
        let cached = self.components.lock().unwrap_or_else(|p| p.into_inner()).get(&gv).cloned();
        let schemas = match cached {
            Some(schemas) => schemas,
            None => {
                let document: Value = serde_json::from_slice(&self.openapi().document(&gv)?.body()).ok()?;
                let schemas = Arc::new(document.pointer("/components/schemas")?.as_object()?.clone());
                self.components.lock().unwrap_or_else(|p| p.into_inner()).insert(gv, schemas.clone());
                schemas
            }
        };
        let name = schemas
            .iter()
            .find(|(_, schema)| {
                schema.get("x-kubernetes-group-version-kind").and_then(Value::as_array).is_some_and(|gvks| {
                    gvks.iter().any(|g| {
                        g["group"] == def.group.as_str()
                            && g["version"] == def.version.as_str()
                            && g["kind"] == def.kind.as_str()
                    })
                })
            })
            .map(|(name, _)| name.clone())?;
        Some((schemas, name))
    }
}
