//! The checks and shapes every write of the object service applies before and around its
//! transaction: a body's type against the resource, its namespace against the request's,
//! kube-apiserver's metadata field order, a resource's patch schema, and kube-patch errors as
//! kube-apiserver's Status.

use std::sync::Arc;

use kube_core::{Status, meta};
use kube_patch::Schema;
use serde_json::{Map, Value};

use crate::registry::{ResourceDef, kinds};

/// The patch schema of a resource (built-in kinds' merge metadata, a CRD's structural schema, or
/// The patch schema of a resource (built-in kinds' merge metadata, a CRD's structural schema, or
/// the deduced schema).
pub fn patch_schema(def: &ResourceDef) -> Arc<Schema> {
    if let Some(schema) = Schema::builtin(&def.group, &def.version, &def.kind) {
        return Arc::new(schema.clone());
    }
    match def.custom.as_ref().and_then(|c| c.schema.as_ref()) {
        Some(schema) => Arc::new(Schema::from_openapi_v3(schema)),
        None => Arc::new(Schema::deduced()),
    }
}

/// kube-apiserver's internal package name of a group (for conversion messages).
fn internal_package(group: &str) -> &str {
    match group {
        "" | kinds::EVENTS_GROUP => "core",
        g => g.split('.').next().unwrap_or(g),
    }
}

/// Check (and fill in) a body's `apiVersion` and `kind` against the resource it was sent to.
pub fn check_type(def: &ResourceDef, object: &mut Value) -> Result<(), Status> {
    let Some(map) = object.as_object_mut() else {
        return Err(Status::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
            def.kind,
            kind_of(object)
        )));
    };
    let expected_api_version = def.api_version();
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default().to_string();
    let api_version = map.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();
    if !api_version.is_empty() && api_version != expected_api_version {
        let (group, version) = meta::split_api_version(&api_version);
        if group != def.group || def.custom.is_some() {
            return Err(Status::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({expected_api_version})"
            )));
        }
        return Err(Status::bad_request(format!(
            "{} in version {version:?} cannot be handled as a {}: no kind {:?} is registered for version {:?} in scheme \"pkg/api/legacyscheme/scheme.go:30\"",
            if kind.is_empty() { &def.kind } else { &kind },
            def.kind,
            if kind.is_empty() { &def.kind } else { &kind },
            api_version
        )));
    }
    if !kind.is_empty() && kind != def.kind {
        let version = if api_version.is_empty() {
            def.version.clone()
        } else {
            meta::split_api_version(&api_version).1.to_string()
        };
        return Err(Status::bad_request(format!(
            "{kind} in version {version:?} cannot be handled as a {}: converting (v1.{kind}) to ({}.{}): unknown conversion",
            def.kind,
            internal_package(&def.group),
            def.kind
        )));
    }
    // kind and apiVersion first, as kube-apiserver writes them.
    let rest: Map<String, Value> =
        std::mem::take(map).into_iter().filter(|(k, _)| k != "kind" && k != "apiVersion").collect();
    map.insert("kind".into(), def.kind.clone().into());
    map.insert("apiVersion".into(), expected_api_version.into());
    map.extend(rest);
    Ok(())
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "array",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Null => "null",
        Value::Object(_) => "object",
    }
}

/// Put the object in the request's namespace (or check it is there).
pub(crate) fn check_namespace(def: &ResourceDef, object: &mut Value, namespace: &str) -> Result<(), Status> {
    let metadata = meta::metadata_mut(object);
    if def.namespaced {
        let given = metadata.get("namespace").and_then(Value::as_str).unwrap_or_default();
        if !given.is_empty() && given != namespace {
            return Err(Status::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        metadata.insert("namespace".into(), namespace.into());
    } else {
        metadata.remove("namespace");
    }
    Ok(())
}

/// Go's `%#v` of a `[]string`.
pub(crate) fn go_strings(items: &[String]) -> String {
    format!("[]string{{{}}}", items.iter().map(|s| go_format::quote(s)).collect::<Vec<_>>().join(", "))
}

/// Put `metadata` in kube-apiserver's field order (name, generateName, namespace, uid, ...).
pub(crate) fn order_metadata(object: &mut Value) {
    const ORDER: &[&str] = &[
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    ];
    let metadata = meta::metadata_mut(object);
    let mut old = std::mem::take(metadata);
    for key in ORDER {
        if let Some(v) = old.shift_remove(*key) {
            metadata.insert(key.to_string(), v);
        }
    }
    metadata.extend(old);
}

/// A kube-patch error as the Status kube-apiserver sends.
pub fn patch_status(err: kube_patch::PatchError) -> Status {
    let mut status = match err.code() {
        400 => Status::bad_request(err.status_message()),
        409 => Status::conflict(&Default::default(), "", ""),
        413 => Status::bad_request(err.status_message()),
        415 => Status::unsupported_media_type(&[]),
        422 => Status::bad_request(err.status_message()),
        _ => Status::internal(err.status_message()),
    };
    status.code = err.code();
    status.reason = err.reason().to_string();
    status.message = err.status_message();
    if err.code() == 500 {
        status.details = Default::default();
    }
    if err.code() == 409 {
        status.details = Box::new(kube_core::status::StatusDetails {
            causes: err
                .causes()
                .into_iter()
                .map(|c| kube_core::status::StatusCause { reason: c.reason.into(), message: c.message, field: c.field })
                .collect(),
            ..Default::default()
        });
    }
    status
}
