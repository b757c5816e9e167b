//! Replies in the representation the client negotiated: JSON (lists written item by item, as
//! kube-apiserver's typed lists, without per-item `kind`/`apiVersion` for built-in kinds), YAML,
//! `meta.k8s.io` Tables (with `includeObject`) and PartialObjectMetadata.

use axum::response::Response;
use chrono::Utc;
use http::StatusCode;
use kube_core::media::Output;
use kube_core::table::{self, IncludeObject};
use kube_core::{Status, meta};
use serde_json::{Map, Value, json};

use crate::registry::ResourceDef;
use crate::serve::responses::{body_response, status_response};
use crate::storage::objects::{ListResult, RawList};
use crate::storage::{convert, object_store};

fn yaml(value: &Value) -> Result<String, Status> {
    serde_saphyr::to_string(value).map_err(|e| Status::internal(format!("encoding YAML: {e}")))
}

/// One object.
pub fn object(def: &ResourceDef, object: &Value, output: Output, include: IncludeObject, code: StatusCode) -> Response {
    match output {
        Output::Json => body_response(code, "application/json", serde_json::to_vec(object).expect("serializes")),
        Output::Yaml => match yaml(object) {
            Ok(text) => body_response(code, "application/yaml", text),
            Err(status) => status_response(&status),
        },
        Output::Table(version) => {
            let row = table::row(&def.printer, object, include, version.api_version(), Utc::now());
            let list_meta = json!({"resourceVersion": meta::resource_version(object)});
            let value = table::table(&def.printer.columns, vec![row], list_meta, version.api_version());
            body_response(code, &output.content_type(), serde_json::to_vec(&value).expect("serializes"))
        }
        Output::PartialObjectMetadata(version) => {
            let value = meta::partial_object_metadata(object, version.api_version());
            body_response(code, &output.content_type(), serde_json::to_vec(&value).expect("serializes"))
        }
    }
}

/// The list metadata of a page.
pub fn list_meta(list: &ListResult) -> Value {
    let mut m = Map::new();
    m.insert("resourceVersion".into(), list.resource_version.to_string().into());
    if let Some(token) = &list.continue_token {
        m.insert("continue".into(), token.clone().into());
    }
    if let Some(remaining) = list.remaining {
        m.insert("remainingItemCount".into(), remaining.into());
    }
    Value::Object(m)
}

/// An item as it appears in a list of this resource.
fn list_item(def: &ResourceDef, item: &Value) -> Value {
    if def.custom.is_some() {
        return item.clone();
    }
    match item {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| *k != "kind" && *k != "apiVersion")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A JSON list written without building one big value.
pub fn json_list(def: &ResourceDef, list: &ListResult) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + list.items.len() * 512);
    out.extend_from_slice(b"{\"kind\":");
    serde_json::to_writer(&mut out, &def.list_kind()).expect("serializes");
    out.extend_from_slice(b",\"apiVersion\":");
    serde_json::to_writer(&mut out, &def.api_version()).expect("serializes");
    out.extend_from_slice(b",\"metadata\":");
    serde_json::to_writer(&mut out, &list_meta(list)).expect("serializes");
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in list.items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if def.custom.is_some() {
            serde_json::to_writer(&mut out, item).expect("serializes");
        } else {
            serde_json::to_writer(&mut out, &list_item(def, item)).expect("serializes");
        }
    }
    out.extend_from_slice(b"]}");
    out
}

/// A JSON list straight from stored bytes: items spliced (resourceVersion set, no decoding)
/// where they can be, decoded and converted where they must.
pub fn json_list_raw(def: &ResourceDef, list: &RawList) -> Result<Vec<u8>, Status> {
    let api_version = def.api_version();
    let meta = ListResult {
        items: vec![],
        resource_version: list.resource_version,
        continue_token: list.continue_token.clone(),
        remaining: list.remaining,
    };
    let mut out = Vec::with_capacity(256 + list.kvs.iter().map(|kv| kv.value.len() + 32).sum::<usize>());
    out.extend_from_slice(b"{\"kind\":");
    serde_json::to_writer(&mut out, &def.list_kind()).expect("serializes");
    out.extend_from_slice(b",\"apiVersion\":");
    serde_json::to_writer(&mut out, &api_version).expect("serializes");
    out.extend_from_slice(b",\"metadata\":");
    serde_json::to_writer(&mut out, &list_meta(&meta)).expect("serializes");
    out.extend_from_slice(b",\"items\":[");
    for (i, kv) in list.kvs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if !object_store::splice_into(&mut out, &kv.value, kv.mod_revision, def.custom.is_some(), &api_version) {
            let object =
                convert::to_served(object_store::decode(&kv.value, kv.mod_revision)?, &def.group, &def.version);
            serde_json::to_writer(&mut out, &list_item(def, &object)).expect("serializes");
        }
    }
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// A page of a list.
pub fn list(def: &ResourceDef, list: &ListResult, output: Output, include: IncludeObject) -> Response {
    match output {
        Output::Json => body_response(StatusCode::OK, "application/json", json_list(def, list)),
        Output::Yaml => {
            let value = json!({
                "kind": def.list_kind(),
                "apiVersion": def.api_version(),
                "metadata": list_meta(list),
                "items": list.items.iter().map(|i| list_item(def, i)).collect::<Vec<_>>(),
            });
            match yaml(&value) {
                Ok(text) => body_response(StatusCode::OK, "application/yaml", text),
                Err(status) => status_response(&status),
            }
        }
        Output::Table(version) => {
            let now = Utc::now();
            let rows =
                list.items.iter().map(|o| table::row(&def.printer, o, include, version.api_version(), now)).collect();
            let value = table::table(&def.printer.columns, rows, list_meta(list), version.api_version());
            body_response(StatusCode::OK, &output.content_type(), serde_json::to_vec(&value).expect("serializes"))
        }
        Output::PartialObjectMetadata(version) => {
            let value = json!({
                "kind": "PartialObjectMetadataList",
                "apiVersion": version.api_version(),
                "metadata": list_meta(list),
                "items": list.items.iter().map(|o| meta::partial_object_metadata(o, version.api_version())).collect::<Vec<_>>(),
            });
            body_response(StatusCode::OK, &output.content_type(), serde_json::to_vec(&value).expect("serializes"))
        }
    }
}
