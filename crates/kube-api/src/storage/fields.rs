//! Unknown fields of built-in kinds, found with the OpenAPI v3 component schemas the server
//! publishes (the same ones kubectl validates with): kube-apiserver's strict decoding reports
//! them (`fieldValidation=Strict` refuses, `Warn` warns, `Ignore` is silent) and drops them, as
//! decoding into its Go types does.

use serde_json::{Map, Value};

fn resolve<'a>(schemas: &'a Map<String, Value>, schema: &'a Value) -> &'a Value {
    let reference = schema
        .get("$ref")
        .or_else(|| schema.get("allOf").and_then(Value::as_array).and_then(|a| a.first()).and_then(|s| s.get("$ref")))
        .and_then(Value::as_str);
    match reference.and_then(|r| r.strip_prefix("#/components/schemas/")).and_then(|name| schemas.get(name)) {
        Some(target) => resolve(schemas, target),
        None => schema,
    }
}

/// Remove the fields of `object` that `schema` does not know, returning their paths
/// (`spec.containers[0].foo`).
pub fn prune_unknown(object: &mut Value, schemas: &Map<String, Value>, schema: &Value) -> Vec<String> {
    let mut unknown = Vec::new();
    walk(object, schemas, schema, "", &mut unknown);
    unknown
}

fn walk(value: &mut Value, schemas: &Map<String, Value>, schema: &Value, path: &str, unknown: &mut Vec<String>) {
    let schema = resolve(schemas, schema);
    if schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true) {
        return;
    }
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            if properties.is_none() && additional.is_none() {
                return;
            }
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                match properties.and_then(|p| p.get(&key)).or(additional) {
                    Some(sub) => walk(map.get_mut(&key).expect("present"), schemas, sub, &child, unknown),
                    None => {
                        map.remove(&key);
                        unknown.push(child);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item, schemas, item_schema, &format!("{path}[{i}]"), unknown);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_and_drops_unknown_fields_through_references() {
        let schemas = json!({
            "Pod": {"type": "object", "properties": {"spec": {"allOf": [{"$ref": "#/components/schemas/PodSpec"}]}, "metadata": {"$ref": "#/components/schemas/Meta"}}},
            "PodSpec": {"type": "object", "properties": {"containers": {"type": "array", "items": {"$ref": "#/components/schemas/Container"}}}},
            "Container": {"type": "object", "properties": {"name": {"type": "string"}, "env": {"type": "object", "additionalProperties": {"type": "string"}}}},
            "Meta": {"type": "object", "properties": {"name": {"type": "string"}, "managedFields": {"type": "array", "items": {"$ref": "#/components/schemas/Entry"}}}},
            "Entry": {"type": "object", "properties": {"fieldsV1": {"$ref": "#/components/schemas/FieldsV1"}}},
            "FieldsV1": {"type": "object"},
        });
        let schemas = schemas.as_object().unwrap();
        let mut pod = json!({"metadata": {"name": "p", "bogus": 1, "managedFields": [{"fieldsV1": {"f:anything": {}}}]},
            "spec": {"containers": [{"name": "c", "image2": "x", "env": {"A": "b"}}]}, "extra": true});
        let unknown = prune_unknown(&mut pod, schemas, &schemas["Pod"]);
        assert_eq!(unknown, ["metadata.bogus", "spec.containers[0].image2", "extra"]);
        assert_eq!(
            pod,
            json!({"metadata": {"name": "p", "managedFields": [{"fieldsV1": {"f:anything": {}}}]}, "spec": {"containers": [{"name": "c", "env": {"A": "b"}}]}})
        );
    }
}
