//! CustomResourceDefinitions: their own strategy (defaults, validation, the status kube-apiserver's
//! controllers would set), the [`ResourceDef`]s of the custom resources they define, and the
//! structural-schema checks (types, required fields, unknown fields) applied to those resources.

use kube_core::FieldError;
use kube_core::meta;
use kube_core::table::Printer;
use serde_json::{Value, json};

use super::resource::STANDARD_VERBS;
use super::resource::{CustomInfo, ResourceDef, Storage, SubresourceDef};
use super::strategy::{self, Strategy, default_at};

/// The finalizer that keeps a deleted CRD until its custom resources are gone.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

fn s(v: &Value, pointer: &str) -> String {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn crd_defaults(crd: &mut Value) {
    if !crd.get("spec").is_some_and(Value::is_object) {
        return;
    }
    let kind = s(crd, "/spec/names/kind");
    if !kind.is_empty() {
        default_at(crd, &["spec", "names", "singular"], kind.to_ascii_lowercase().into());
        default_at(crd, &["spec", "names", "listKind"], format!("{kind}List").into());
    }
    default_at(crd, &["spec", "conversion", "strategy"], "None".into());
}

/// The status kube-apiserver's CRD controllers set right after a create or update: names
/// accepted, established, stored versions.
fn crd_status(crd: &mut Value, old: Option<&Value>) {
    let now = meta::format_time(chrono::Utc::now());
    let storage_version = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .and_then(|vs| vs.iter().find(|v| v.get("storage").and_then(Value::as_bool) == Some(true)))
        .map(|v| s(v, "/name"))
        .unwrap_or_default();
    let mut stored: Vec<Value> =
        old.and_then(|o| o.pointer("/status/storedVersions")).and_then(Value::as_array).cloned().unwrap_or_default();
    if !storage_version.is_empty() && !stored.iter().any(|v| v == &Value::from(storage_version.clone())) {
        stored.push(storage_version.into());
    }
    let transition = |kind: &str| {
        old.and_then(|o| o.pointer("/status/conditions"))
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c.get("type").and_then(Value::as_str) == Some(kind)))
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or_else(|| now.clone().into())
    };
    let names = crd.pointer("/spec/names").cloned().unwrap_or_else(|| json!({}));
    crd["status"] = json!({
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": transition("NamesAccepted"), "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": transition("Established"), "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
        ],
        "acceptedNames": names,
        "storedVersions": stored,
    });
}

fn crd_validate(crd: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let group = s(crd, "/spec/group");
    let plural = s(crd, "/spec/names/plural");
    let kind = s(crd, "/spec/names/kind");
    let name = meta::name(crd);
    if group.is_empty() {
        errors.push(FieldError::required("spec.group"));
    } else if !group.contains('.') {
        errors.push(FieldError::invalid("spec.group", &group, "should be a domain with at least one dot"));
    }
    if plural.is_empty() {
        errors.push(FieldError::required("spec.names.plural"));
    }
    if kind.is_empty() {
        errors.push(FieldError::required("spec.names.kind"));
    }
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        errors.push(FieldError::invalid("metadata.name", name, "must be spec.names.plural+\".\"+spec.group"));
    }
    let scope = s(crd, "/spec/scope");
    if scope != "Namespaced" && scope != "Cluster" {
        if scope.is_empty() {
            errors.push(FieldError::required("spec.scope"));
        } else {
            errors.push(FieldError::not_supported("spec.scope", &scope, &["Cluster", "Namespaced"]));
        }
    }
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    if versions.is_empty() {
        errors.push(FieldError::invalid_raw(
            "spec.versions",
            "[]apiextensions.CustomResourceDefinitionVersion(nil)",
            "must have exactly one version marked as storage version",
        ));
    } else {
        let storage = versions.iter().filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true)).count();
        if storage != 1 {
            errors.push(FieldError::invalid_raw(
                "spec.versions",
                "[]apiextensions.CustomResourceDefinitionVersion{...}",
                "must have exactly one version marked as storage version",
            ));
        }
        for (i, v) in versions.iter().enumerate() {
            if s(v, "/name").is_empty() {
                errors.push(FieldError::required(format!("spec.versions[{i}].name")));
            }
            if v.pointer("/schema/openAPIV3Schema").is_none() {
                errors.push(FieldError::required_with(
                    format!("spec.versions[{i}].schema.openAPIV3Schema"),
                    "schemas are required",
                ));
            }
        }
    }
    errors
}

fn crd_validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (pointer, field) in [("/spec/group", "spec.group"), ("/spec/names/plural", "spec.names.plural")] {
        if new.pointer(pointer) != old.pointer(pointer) {
            errors.push(FieldError::invalid(field, &s(new, pointer), "field is immutable"));
        }
    }
    errors
}

pub fn strategy() -> Strategy {
    Strategy {
        defaults: crd_defaults,
        prepare_create: |crd| {
            crd_status(crd, None);
            let metadata = meta::metadata_mut(crd);
            let finalizers = metadata.entry("finalizers").or_insert_with(|| json!([]));
            if let Some(list) = finalizers.as_array_mut()
                && !list.iter().any(|f| f == CLEANUP_FINALIZER)
            {
                list.push(CLEANUP_FINALIZER.into());
            }
        },
        prepare_update: |new, old| crd_status(new, Some(old)),
        validate: crd_validate,
        validate_update: crd_validate_update,
        generation: true,
        ..Strategy::default()
    }
}

fn custom_prepare_create(object: &mut Value) {
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
}

/// The strategy of a custom resource: generation tracking and, with a status subresource,
/// spec/status separation.
pub fn custom_strategy(status: bool) -> Strategy {
    Strategy {
        prepare_create: if status { custom_prepare_create } else { |_| {} },
        prepare_update: if status { strategy::keep_status } else { |_, _| {} },
        generation: true,
        allow_create_on_update: false,
        ..Strategy::default()
    }
}

/// The custom resources an established CRD defines, one per served version.
pub fn resources_for(crd: &Value) -> Vec<ResourceDef> {
    let group = s(crd, "/spec/group");
    let plural = s(crd, "/spec/names/plural");
    let kind = s(crd, "/spec/names/kind");
    if group.is_empty() || plural.is_empty() || kind.is_empty() || meta::deletion_timestamp(crd).is_some() {
        return vec![];
    }
    let singular = match s(crd, "/spec/names/singular") {
        x if x.is_empty() => kind.to_ascii_lowercase(),
        x => x,
    };
    let strings = |pointer: &str| -> Vec<String> {
        crd.pointer(pointer)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let namespaced = s(crd, "/spec/scope") == "Namespaced";
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array).cloned().unwrap_or_default();
    versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
        .map(|v| {
            let version = s(v, "/name");
            let status = v.pointer("/subresources/status").is_some();
            let scale = v.pointer("/subresources/scale").map(|sc| {
                let label = sc.get("labelSelectorPath").and_then(Value::as_str).map(str::to_string);
                (s(sc, "/specReplicasPath"), s(sc, "/statusReplicasPath"), label)
            });
            let mut subresources = Vec::new();
            if scale.is_some() {
                subresources.push(SubresourceDef {
                    name: "scale".into(),
                    group: "autoscaling".into(),
                    version: "v1".into(),
                    kind: "Scale".into(),
                    verbs: vec!["get".into(), "patch".into(), "update".into()],
                });
            }
            if status {
                subresources.push(SubresourceDef {
                    name: "status".into(),
                    group: group.clone(),
                    version: version.clone(),
                    kind: kind.clone(),
                    verbs: vec!["get".into(), "patch".into(), "update".into()],
                });
            }
            ResourceDef {
                group: group.clone(),
                version: version.clone(),
                kind: kind.clone(),
                plural: plural.clone(),
                singular: singular.clone(),
                namespaced,
                short_names: strings("/spec/names/shortNames"),
                categories: strings("/spec/names/categories"),
                verbs: STANDARD_VERBS.iter().map(|v| v.to_string()).collect(),
                subresources,
                storage: Storage::Stored { group: group.clone(), resource: plural.clone() },
                strategy: custom_strategy(status),
                printer: Printer::custom(v.get("additionalPrinterColumns")),
                custom: Some(CustomInfo {
                    schema: v.pointer("/schema/openAPIV3Schema").cloned(),
                    status,
                    scale,
                    crd_name: meta::name(crd).to_string(),
                    storage_version: v.get("storage").and_then(Value::as_bool) == Some(true),
                }),
            }
        })
        .collect()
}

/// What a structural schema says about an object: type errors (422 causes) and the unknown
/// fields it prunes (reported per `fieldValidation`).
#[derive(Debug, Default, PartialEq)]
pub struct SchemaCheck {
    pub errors: Vec<FieldError>,
    pub unknown: Vec<String>,
}

/// Check `object` (its fields other than apiVersion, kind and metadata) against `schema`,
/// pruning unknown fields as kube-apiserver does.
pub fn check_and_prune(object: &mut Value, schema: &Value) -> SchemaCheck {
    let mut check = SchemaCheck::default();
    if let Some(map) = object.as_object_mut() {
        let properties = schema.get("properties").and_then(Value::as_object);
        let preserve = schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true);
        let keys: Vec<String> = map.keys().cloned().collect();
        for key in keys {
            if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            match properties.and_then(|p| p.get(&key)) {
                Some(sub) => walk(map.get_mut(&key).expect("present"), sub, &key, &mut check),
                None if preserve => {}
                None => {
                    map.remove(&key);
                    check.unknown.push(key);
                }
            }
        }
        required(map, schema, "", &mut check);
    }
    check
}

fn required(map: &serde_json::Map<String, Value>, schema: &Value, path: &str, check: &mut SchemaCheck) {
    if let Some(req) = schema.get("required").and_then(Value::as_array) {
        for field in req.iter().filter_map(Value::as_str) {
            if !map.contains_key(field) {
                let full = if path.is_empty() { field.to_string() } else { format!("{path}.{field}") };
                check.errors.push(FieldError::required(full));
            }
        }
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn walk(value: &mut Value, schema: &Value, path: &str, check: &mut SchemaCheck) {
    if value.is_null() && schema.get("nullable").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let int_or_string = schema.get("x-kubernetes-int-or-string").and_then(Value::as_bool) == Some(true);
    if let Some(expected) = schema.get("type").and_then(Value::as_str) {
        let actual = type_name(value);
        let ok = actual == expected || (expected == "number" && actual == "integer");
        if !ok && !(int_or_string && (actual == "integer" || actual == "string")) {
            check.errors.push(FieldError::type_invalid(
                path,
                go_format::quote(actual),
                format!("{path} in body must be of type {expected}: {actual:?}"),
            ));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let supported: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
        check.errors.push(FieldError::rendered(
            path,
            "FieldValueNotSupported",
            format!("Unsupported value: {}: supported values: {}", value, supported.join(", ")),
        ));
    }
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let preserve = schema.get("x-kubernetes-preserve-unknown-fields").and_then(Value::as_bool) == Some(true);
            let embedded = schema.get("x-kubernetes-embedded-resource").and_then(Value::as_bool) == Some(true);
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let child = format!("{path}.{key}");
                if let Some(sub) = properties.and_then(|p| p.get(&key)) {
                    walk(map.get_mut(&key).expect("present"), sub, &child, check);
                } else if let Some(sub) = additional.filter(|a| a.is_object()) {
                    walk(map.get_mut(&key).expect("present"), sub, &child, check);
                } else if !(preserve
                    || additional == Some(&Value::Bool(true))
                    || (embedded && matches!(key.as_str(), "apiVersion" | "kind" | "metadata")))
                {
                    map.remove(&key);
                    check.unknown.push(child);
                }
            }
            required(map, schema, path, check);
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item, item_schema, &format!("{path}[{i}]"), check);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "required": ["size"], "properties": {"size": {"type": "integer"}, "color": {"type": "string", "enum": ["red", "blue"]}}},
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}})
    }

    #[test]
    fn crd_defines_resources() {
        let mut c = crd();
        (strategy().defaults)(&mut c);
        assert!(crd_validate(&c).is_empty(), "{:?}", crd_validate(&c));
        (strategy().prepare_create)(&mut c);
        assert_eq!(c["status"]["conditions"][1]["type"], "Established");
        assert_eq!(c["status"]["storedVersions"], json!(["v1"]));
        let defs = resources_for(&c);
        assert_eq!(defs.len(), 1);
        assert_eq!((defs[0].singular.as_str(), defs[0].namespaced), ("widget", true));
        assert!(defs[0].subresource("scale").is_some() && defs[0].has_status());
        let mut bad = crd();
        bad["metadata"]["name"] = "wrong".into();
        assert_eq!(
            crd_validate(&bad)[0].to_string(),
            "metadata.name: Invalid value: \"wrong\": must be spec.names.plural+\".\"+spec.group"
        );
    }

    #[test]
    fn structural_schema_checks() {
        let schema = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
        let mut obj = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": "big", "color": "green", "extra": 1}, "other": true});
        let check = check_and_prune(&mut obj, &schema);
        assert_eq!(check.unknown, vec!["spec.extra".to_string(), "other".to_string()]);
        assert!(obj.get("other").is_none() && obj["spec"].get("extra").is_none());
        assert_eq!(check.errors.len(), 2);
        assert_eq!(
            check.errors[0].to_string(),
            "spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\""
        );
        let mut missing = json!({"spec": {}});
        assert_eq!(check_and_prune(&mut missing, &schema).errors[0].to_string(), "spec.size: Required value");
    }
}
