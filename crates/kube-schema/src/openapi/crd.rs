//! Custom resources: the [`ApiResource`]s a CustomResourceDefinition serves, with the schema of
//! each served version, and that schema completed as kube-apiserver publishes it.

use serde_json::{Value, json};

use crate::Error;
use crate::openapi::{ApiResource, ApiSubresource, ResourceSchema, STANDARD_VERBS};

/// The resources a CustomResourceDefinition (`apiextensions.k8s.io/v1`, as JSON) serves: one per
/// version with `served: true`, with its `openAPIV3Schema` and its `status`/`scale`
/// subresources.
pub fn crd_resources(crd: &Value) -> Result<Vec<ApiResource>, Error> {
    let spec = crd.get("spec").ok_or_else(|| Error::InvalidCrd("spec is missing".into()))?;
    let text = |value: &Value, path: &str| -> Result<String, Error> {
        value
            .pointer(path)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| Error::InvalidCrd(format!("spec{} is missing", path.replace('/', "."))))
    };
    let group = text(spec, "/group")?;
    let kind = text(spec, "/names/kind")?;
    let plural = text(spec, "/names/plural")?;
    let namespaced = match spec.get("scope").and_then(Value::as_str) {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        other => return Err(Error::InvalidCrd(format!("spec.scope {other:?} is neither Namespaced nor Cluster"))),
    };
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::InvalidCrd("spec.versions is missing".into()))?;
    let mut resources = Vec::new();
    for version in versions {
        if version.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let name = text(version, "/name")?;
        let schema = version.pointer("/schema/openAPIV3Schema").cloned().unwrap_or_else(|| json!({"type": "object"}));
        let mut subresources = Vec::new();
        let same_kind = |sub: &str| ApiSubresource {
            name: sub.into(),
            group: group.clone(),
            version: name.clone(),
            kind: kind.clone(),
            verbs: ["get", "patch", "update"].map(String::from).to_vec(),
        };
        if version.pointer("/subresources/status").is_some() {
            subresources.push(same_kind("status"));
        }
        if version.pointer("/subresources/scale").is_some() {
            subresources.push(ApiSubresource {
                group: "autoscaling".into(),
                version: "v1".into(),
                kind: "Scale".into(),
                ..same_kind("scale")
            });
        }
        resources.push(ApiResource {
            group: group.clone(),
            version: name,
            kind: kind.clone(),
            plural: plural.clone(),
            namespaced,
            verbs: STANDARD_VERBS.iter().map(|v| v.to_string()).collect(),
            subresources,
            schema: ResourceSchema::Custom(schema),
        });
    }
    Ok(resources)
}

/// A CRD version's `openAPIV3Schema` with `apiVersion`, `kind` and `metadata` (a reference to
/// `ObjectMeta`) added, as kube-apiserver publishes custom resources.
pub(crate) fn complete_schema(schema: &Value) -> Value {
    let mut schema = schema.clone();
    if !schema.is_object() {
        schema = json!({"type": "object"});
    }
    let object = schema.as_object_mut().expect("made an object above");
    object.entry("type").or_insert_with(|| json!("object"));
    let properties = object.entry("properties").or_insert_with(|| json!({}));
    if let Value::Object(properties) = properties {
        properties.insert("apiVersion".into(), json!({"description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources", "type": "string"}));
        properties.insert("kind".into(), json!({"description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds", "type": "string"}));
        properties.insert("metadata".into(), json!({"allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}], "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}));
    }
    schema
}
