//! Object metadata read from (and written into) objects kept as JSON values: names, labels,
//! timestamps, owner references, finalizers; Kubernetes' time formats and human durations.
//!
//! Objects are never round-tripped through typed structs (unknown fields, CRDs and field order
//! must survive), so these helpers work on `serde_json::Value`.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

fn meta(object: &Value) -> Option<&Map<String, Value>> {
    object.get("metadata").and_then(Value::as_object)
}

fn meta_str<'a>(object: &'a Value, field: &str) -> &'a str {
    meta(object).and_then(|m| m.get(field)).and_then(Value::as_str).unwrap_or_default()
}

pub fn name(object: &Value) -> &str {
    meta_str(object, "name")
}

pub fn namespace(object: &Value) -> &str {
    meta_str(object, "namespace")
}

pub fn uid(object: &Value) -> &str {
    meta_str(object, "uid")
}

pub fn resource_version(object: &Value) -> &str {
    meta_str(object, "resourceVersion")
}

pub fn generate_name(object: &Value) -> &str {
    meta_str(object, "generateName")
}

/// `metadata.labels` as a map (empty when absent).
pub fn labels(object: &Value) -> BTreeMap<String, String> {
    string_map(meta(object).and_then(|m| m.get("labels")))
}

/// `metadata.annotations` as a map (empty when absent).
pub fn annotations(object: &Value) -> BTreeMap<String, String> {
    string_map(meta(object).and_then(|m| m.get("annotations")))
}

/// A JSON object of strings as a map (non-strings read as "").
pub fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
        .unwrap_or_default()
}

pub fn creation_timestamp(object: &Value) -> Option<DateTime<Utc>> {
    parse_time(meta_str(object, "creationTimestamp"))
}

pub fn deletion_timestamp(object: &Value) -> Option<DateTime<Utc>> {
    parse_time(meta_str(object, "deletionTimestamp"))
}

pub fn finalizers(object: &Value) -> Vec<String> {
    meta(object)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

/// One `metadata.ownerReferences` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerReference {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
    pub controller: bool,
    pub block_owner_deletion: bool,
}

pub fn owner_references(object: &Value) -> Vec<OwnerReference> {
    let Some(refs) = meta(object).and_then(|m| m.get("ownerReferences")).and_then(Value::as_array) else {
        return vec![];
    };
    refs.iter()
        .map(|r| {
            let s = |f: &str| r.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
            let b = |f: &str| r.get(f).and_then(Value::as_bool).unwrap_or(false);
            OwnerReference {
                api_version: s("apiVersion"),
                kind: s("kind"),
                name: s("name"),
                uid: s("uid"),
                controller: b("controller"),
                block_owner_deletion: b("blockOwnerDeletion"),
            }
        })
        .collect()
}

/// The `metadata` object, created if missing (and replaced if not an object).
pub fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    let map = object.as_object_mut().expect("Kubernetes objects are JSON objects");
    let entry = map.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut().expect("just made an object")
}

/// Kubernetes' `metav1.Time` format: RFC 3339 in UTC with seconds, `2026-11-28T09:12:38Z`.
pub fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Kubernetes' `metav1.MicroTime` format: `2026-11-28T09:12:38.123456Z`.
pub fn format_micro_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if s.is_empty() {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// `duration.HumanDuration`: the approximate age kubectl prints (`5m`, `3h12m`, `2d`).
pub fn human_duration(seconds_total: i64) -> String {
    if seconds_total < -1 {
        return "<invalid>".into();
    }
    if seconds_total < 0 {
        return "0s".into();
    }
    if seconds_total < 60 * 2 {
        return format!("{seconds_total}s");
    }
    let minutes = seconds_total / 60;
    if minutes < 10 {
        let s = seconds_total % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds_total / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 { format!("{}y", hours / 24 / 365) } else { format!("{}y{dy}d", hours / 24 / 365) };
    }
    format!("{}y", hours / 24 / 365)
}

/// `translateTimestampSince`: the age of `time` at `now`, `<unknown>` when unset.
pub fn age(time: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match time {
        None => "<unknown>".into(),
        Some(t) => human_duration((now - t).num_milliseconds().div_euclid(1000)),
    }
}

/// The object as `meta.k8s.io/v1` `PartialObjectMetadata` (kind, apiVersion and metadata only).
pub fn partial_object_metadata(object: &Value, api_version: &str) -> Value {
    let mut out = Map::new();
    out.insert("kind".into(), "PartialObjectMetadata".into());
    out.insert("apiVersion".into(), api_version.into());
    out.insert("metadata".into(), object.get("metadata").cloned().unwrap_or_else(|| Value::Object(Map::new())));
    Value::Object(out)
}

/// The group and version of an `apiVersion` (`apps/v1` → (`apps`, `v1`), `v1` → (``, `v1`)).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

/// The `apiVersion` of a group and version.
pub fn api_version(group: &str, version: &str) -> String {
    if group.is_empty() { version.to_string() } else { format!("{group}/{version}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn human_durations_match_kubectl() {
        let cases = [
            (0, "0s"),
            (-1, "0s"),
            (-2, "<invalid>"),
            (119, "119s"),
            (120, "2m"),
            (150, "2m30s"),
            (600, "10m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60 * 12, "3h12m"),
            (8 * 3600 + 60, "8h"),
            (48 * 3600, "2d"),
            (50 * 3600, "2d2h"),
            (9 * 24 * 3600, "9d"),
            (3 * 365 * 24 * 3600, "3y"),
            (3 * 365 * 24 * 3600 + 86400, "3y1d"),
            (9 * 365 * 24 * 3600, "9y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(secs), want, "{secs}s");
        }
    }

    #[test]
    fn reads_metadata() {
        let obj = json!({"metadata": {"name": "a", "namespace": "b", "labels": {"x": "y"}, "creationTimestamp": "2026-11-28T09:12:38Z",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u", "controller": true}]}});
        assert_eq!((name(&obj), namespace(&obj)), ("a", "b"));
        assert_eq!(labels(&obj).get("x").map(String::as_str), Some("y"));
        let created = creation_timestamp(&obj).unwrap();
        assert_eq!(format_time(created), "2026-11-28T09:12:38Z");
        assert_eq!(age(Some(created), created + chrono::Duration::seconds(300)), "5m");
        assert!(owner_references(&obj)[0].controller);
        assert_eq!(partial_object_metadata(&obj, "meta.k8s.io/v1")["kind"], "PartialObjectMetadata");
    }
}
