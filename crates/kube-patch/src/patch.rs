//! The PATCH verb's patch types and their application to a live object, with kube-apiserver's
//! checks and errors: JSON patch (RFC 6902, by the `json-patch` crate), JSON merge patch
//! (RFC 7386, by `json-patch` too) and strategic merge patch (this crate). Server-side apply is
//! [`crate::FieldManager::apply`].

use serde_json::{Map, Value};

use crate::error::PatchError;
use crate::schema::Schema;
use crate::strategic::strategic_merge_patch;

/// kube-apiserver refuses JSON patches with more operations than this.
const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;

/// A PATCH request's `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json`.
    StrategicMerge,
    /// `application/apply-patch+yaml`: server-side apply.
    Apply,
}

impl PatchType {
    /// The patch type of a `Content-Type` header (parameters such as `; charset=utf-8` are
    /// ignored), or `None` for anything else.
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        Some(match media_type {
            "application/json-patch+json" => PatchType::Json,
            "application/merge-patch+json" => PatchType::Merge,
            "application/strategic-merge-patch+json" => PatchType::StrategicMerge,
            "application/apply-patch+yaml" => PatchType::Apply,
            _ => return None,
        })
    }

    /// The media type.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }

    /// The patch types a kind accepts, in the order kube-apiserver lists them: built-in kinds take
    /// all four, custom resources all but strategic merge patch.
    pub fn accepted(schema: &Schema) -> Vec<&'static str> {
        let all = [PatchType::Json, PatchType::Merge, PatchType::StrategicMerge, PatchType::Apply];
        all.into_iter()
            .filter(|t| *t != PatchType::StrategicMerge || schema.supports_strategic_merge_patch())
            .map(PatchType::content_type)
            .collect()
    }
}

/// Applies a JSON patch, merge patch or strategic merge patch `patch` (the request body) to the
/// live object, as kube-apiserver does before decoding the result: the patched object, or the
/// error kube-apiserver answers (400 for a body that is not valid JSON, 415 for a strategic merge
/// patch on a kind without merge metadata, 422 for a JSON patch that does not apply…).
///
/// The result still has to be checked by the caller as any update is (kind, name, immutable
/// fields, validation) and recorded with [`crate::FieldManager::update`]. [`PatchType::Apply`]
/// is refused here: it needs a field manager, see [`crate::FieldManager::apply`].
pub fn apply_patch(live: &Value, patch: &[u8], patch_type: PatchType, schema: &Schema) -> Result<Value, PatchError> {
    if patch_type == PatchType::Apply {
        return Err(PatchError::BadRequest("server-side apply needs a field manager: use FieldManager::apply".into()));
    }
    if patch_type == PatchType::StrategicMerge && !schema.supports_strategic_merge_patch() {
        return Err(PatchError::UnsupportedMediaType { accepted: PatchType::accepted(schema) });
    }
    let body: Value = serde_json::from_slice(patch).map_err(|_| PatchError::BadRequest("invalid JSON patch".into()))?;
    match patch_type {
        PatchType::Json => json_patch(live, body),
        PatchType::Merge => merge_patch(live, &body),
        _ => {
            let map = match body {
                Value::Object(map) => map,
                Value::Null => Map::new(),
                other => {
                    return Err(PatchError::BadRequest(format!(
                        "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
                        json_kind(&other)
                    )));
                }
            };
            strategic_merge_patch(live, map, schema)
        }
    }
}

/// Decodes the body of a server-side apply request (`application/apply-patch+yaml`: YAML, or
/// JSON as kubectl sends it) into the applied configuration, with kube-apiserver's 400 errors.
pub fn decode_apply_patch(body: &[u8]) -> Result<Value, PatchError> {
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(_) => {
            serde_saphyr::from_slice(body).map_err(|e| PatchError::BadRequest(format!("error encoding patch: {e}")))?
        }
    };
    match value {
        Value::Object(_) => Ok(value),
        Value::Null => Ok(Value::Object(Map::new())),
        other => Err(PatchError::BadRequest(format!(
            "error decoding patch: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            json_kind(&other)
        ))),
    }
}

/// How Go's `encoding/json` names a JSON value in an unmarshal error.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "object",
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => "null",
    }
}

fn json_patch(live: &Value, body: Value) -> Result<Value, PatchError> {
    let Value::Array(ops) = body else {
        return Err(PatchError::BadRequest(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
            json_kind(&body)
        )));
    };
    if let Some(op) = ops.iter().find(|op| !op.is_object()) {
        return Err(PatchError::BadRequest(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
            json_kind(op)
        )));
    }
    if ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations { max: MAX_JSON_PATCH_OPERATIONS, got: ops.len() });
    }
    // An operation kube-apiserver can decode but not apply (unknown op, missing path) fails when
    // applied, with a 422.
    let ops: json_patch::Patch =
        serde_json::from_value(Value::Array(ops)).map_err(|e| PatchError::Unprocessable(e.to_string()))?;
    let mut doc = live.clone();
    json_patch::patch(&mut doc, &ops).map_err(|e| PatchError::Unprocessable(e.to_string()))?;
    Ok(doc)
}

fn merge_patch(live: &Value, body: &Value) -> Result<Value, PatchError> {
    if !body.is_object() {
        return Err(PatchError::BadRequest("Invalid JSON Patch".into()));
    }
    let mut doc = live.clone();
    json_patch::merge(&mut doc, body);
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn configmap() -> &'static Schema {
        Schema::builtin("", "v1", "ConfigMap").unwrap()
    }

    #[test]
    fn content_types_are_recognised_with_parameters() {
        assert_eq!(PatchType::from_content_type("application/merge-patch+json; charset=utf-8"), Some(PatchType::Merge));
        assert_eq!(PatchType::from_content_type("application/json"), None);
    }

    #[test]
    fn scale_merge_patch_sets_replicas() {
        let live = json!({"spec": {"replicas": 1, "paused": false}});
        let out = apply_patch(&live, br#"{"spec":{"replicas":3}}"#, PatchType::Merge, configmap()).unwrap();
        assert_eq!(out, json!({"spec": {"replicas": 3, "paused": false}}));
    }

    #[test]
    fn invalid_json_is_a_400_for_every_patch_type() {
        for t in [PatchType::Json, PatchType::Merge, PatchType::StrategicMerge] {
            let err = apply_patch(&json!({}), b"{not json", t, configmap()).unwrap_err();
            assert_eq!((err.code(), err.status_message().as_str()), (400, "invalid JSON patch"));
        }
    }

    #[test]
    fn failing_json_patch_test_is_a_422_and_changes_nothing() {
        let live = json!({"metadata": {"resourceVersion": "5"}, "data": {"a": "1"}});
        let patch =
            br#"[{"op":"test","path":"/metadata/resourceVersion","value":"4"},{"op":"remove","path":"/data/a"}]"#;
        let err = apply_patch(&live, patch, PatchType::Json, configmap()).unwrap_err();
        assert_eq!((err.code(), err.reason()), (422, "Invalid"));
        assert_eq!(live["data"]["a"], "1");
    }

    #[test]
    fn json_patch_that_is_not_a_list_is_a_400() {
        let err = apply_patch(&json!({}), br#"{"op":"add"}"#, PatchType::Json, configmap()).unwrap_err();
        assert_eq!(err.status_message(), "json: cannot unmarshal object into Go value of type jsonpatch.Patch");
    }

    #[test]
    fn apply_bodies_are_json_or_yaml_objects() {
        let json_body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"}}"#;
        let yaml_body = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n";
        assert_eq!(decode_apply_patch(json_body).unwrap(), decode_apply_patch(yaml_body).unwrap());
        let err = decode_apply_patch(b"- a\n- b\n").unwrap_err();
        assert_eq!(
            err.status_message(),
            "error decoding patch: json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
        assert_eq!(decode_apply_patch(b"a: [b\n").unwrap_err().code(), 400);
    }

    #[test]
    fn strategic_merge_patch_on_a_custom_resource_is_415() {
        let err = apply_patch(&json!({}), b"{}", PatchType::StrategicMerge, &Schema::deduced()).unwrap_err();
        assert_eq!(err.code(), 415);
        assert_eq!(
            err.status_message(),
            "the body of the request was in an unknown format - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
        );
    }
}
