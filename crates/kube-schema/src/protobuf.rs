//! Decoding of `application/vnd.kubernetes.protobuf` request bodies into the JSON the same
//! request would have carried as `application/json`.
//!
//! The envelope is the 4-byte magic `k8s\0` and a `runtime.Unknown` {typeMeta, raw,
//! contentEncoding, contentType}; `raw` is the object in the `generated.proto` encoding of its
//! kind. Both are read by `prost-reflect` over Kubernetes' message definitions, built at first use
//! from our table of their facts (`data/k8s-messages.txt`, read by `table`), so every
//! generally available built-in kind decodes, not only the few kubectl's generators send.
//!
//! What is written by hand is the mapping from a decoded message to Kubernetes' JSON, because
//! Kubernetes' JSON is Go's `encoding/json` over its Go types, not the proto3 JSON mapping:
//! - field names are the Go JSON names (usually, not always, the protobuf names), and the fields
//!   of a Go struct embedded with `json:",inline"` (`Volume.VolumeSource`, `Probe.ProbeHandler`,
//!   …; one message field on the wire) are written as the enclosing object's own (the table's
//!   `inline`);
//! - Go writes every non-pointer scalar on the wire, so a zero there means "unset" and is left
//!   out, unless the Go field is a pointer or has no `omitempty` (the table's `zero`), and an
//!   absent slice, map or pointer without `omitempty` is `null` (the table's `null`);
//! - `Time`/`MicroTime` are RFC 3339 strings (a zero `Time` is `null`, as Go writes it),
//!   `Duration` is Go's duration string, `Quantity` a string, `IntOrString` an int or a string,
//!   `RawExtension`/`FieldsV1`/CRD `JSON` embedded JSON, `bytes` standard base64, `int64` numbers;
//! - fields come in declaration order (the Go struct's), map keys sorted as Go sorts them, and
//!   `kind` and `apiVersion` first.

use std::collections::HashMap;
use std::sync::LazyLock;

use base64::Engine as _;
use prost::Message as _;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, ReflectMessage, Value};
use serde_json::{Map, Value as Json};

use crate::Error;

mod table;

/// The first four bytes of every Kubernetes Protobuf body.
pub const MAGIC: [u8; 4] = *b"k8s\0";

/// The media type of Kubernetes' Protobuf encoding.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

static MESSAGES: LazyLock<table::Messages> = LazyLock::new(|| {
    table::Messages::parse(table::KUBERNETES).unwrap_or_else(|e| panic!("data/k8s-messages.txt, {e}"))
});

const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";
const TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Time";
const MICRO_TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime";
const DURATION: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Duration";
const FIELDS_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1";
const QUANTITY: &str = "k8s.io.apimachinery.pkg.api.resource.Quantity";
const INT_OR_STRING: &str = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";
const RAW_EXTENSION: &str = "k8s.io.apimachinery.pkg.runtime.RawExtension";
const CRD_JSON: &str = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSON";
const CRD_PROPS_OR_ARRAY: &str = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrArray";
const CRD_PROPS_OR_BOOL: &str = "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrBool";
const CRD_PROPS_OR_STRINGS: &str =
    "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.v1.JSONSchemaPropsOrStringArray";
/// Go slice types that protobuf wraps in a message with one `items` field; JSON is the slice.
const LIST_WRAPPERS: &[&str] = &[
    "k8s.io.api.authentication.v1.ExtraValue",
    "k8s.io.api.authorization.v1.ExtraValue",
    "k8s.io.api.certificates.v1.ExtraValue",
    "k8s.io.apimachinery.pkg.apis.meta.v1.Verbs",
];

/// Decode a Kubernetes Protobuf body into the JSON object it stands for, with `kind` and
/// `apiVersion` from the envelope first. Whether that kind belongs at the request's URL is the
/// caller's question.
pub fn decode(body: &[u8]) -> Result<Json, Error> {
    let envelope = body.strip_prefix(MAGIC.as_slice()).ok_or(Error::NotProtobuf)?;
    let unknown = DynamicMessage::decode(message(UNKNOWN), envelope).map_err(|e| Error::Envelope(e.to_string()))?;
    let type_meta = field_message(&unknown, "typeMeta");
    let api_version = type_meta.as_ref().map(|m| string_field(m, "apiVersion")).unwrap_or_default();
    let kind = type_meta.as_ref().map(|m| string_field(m, "kind")).unwrap_or_default();
    let content_encoding = string_field(&unknown, "contentEncoding");
    if !content_encoding.is_empty() {
        return Err(Error::UnsupportedEnvelope(format!("content encoding {content_encoding:?}")));
    }
    let content_type = string_field(&unknown, "contentType");
    if !content_type.is_empty() && content_type != CONTENT_TYPE {
        return Err(Error::UnsupportedEnvelope(format!("content type {content_type:?}")));
    }
    let descriptor = kind_message(&api_version, &kind)
        .ok_or_else(|| Error::UnknownKind { api_version: api_version.clone(), kind: kind.clone() })?;
    let raw = match unknown.get_field_by_name("raw").as_deref() {
        Some(Value::Bytes(raw)) => raw.clone(),
        _ => Default::default(),
    };
    let object = DynamicMessage::decode(descriptor, raw)
        .map_err(|e| Error::Object { kind: kind.clone(), message: e.to_string() })?;
    let mut json = Map::new();
    json.insert("kind".into(), Json::String(kind));
    json.insert("apiVersion".into(), Json::String(api_version));
    write_fields(&object, &mut json)?;
    Ok(Json::Object(json))
}

/// The descriptor of the message for a kind, by Kubernetes' convention: the group's first DNS
/// label names the protobuf package (`rbac.authorization.k8s.io` → `k8s.io.api.rbac`), the core
/// group is `core`, and CustomResourceDefinitions live in apiextensions-apiserver.
pub fn kind_message(api_version: &str, kind: &str) -> Option<MessageDescriptor> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let package = match group {
        "" => "k8s.io.api.core".to_string(),
        "apiextensions.k8s.io" => "k8s.io.apiextensions_apiserver.pkg.apis.apiextensions".to_string(),
        _ => format!("k8s.io.api.{}", group.split('.').next()?),
    };
    if kind.is_empty() || version.is_empty() {
        return None;
    }
    MESSAGES.pool.get_message_by_name(&format!("{package}.{version}.{kind}"))
}

fn message(name: &str) -> MessageDescriptor {
    MESSAGES.pool.get_message_by_name(name).expect("the table holds apimachinery's messages")
}

fn field_message(message: &DynamicMessage, name: &str) -> Option<DynamicMessage> {
    match message.get_field_by_name(name).as_deref() {
        Some(Value::Message(m)) if message.has_field_by_name(name) => Some(m.clone()),
        _ => None,
    }
}

fn string_field(message: &DynamicMessage, name: &str) -> String {
    match message.get_field_by_name(name).as_deref() {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    }
}

/// How one message is written as JSON: worked out once per message type, from the descriptor
/// and the table's Go facts, so decoding does no name lookups.
struct Plan {
    special: Special,
    fields: Vec<FieldPlan>,
}

struct FieldPlan {
    field: FieldDescriptor,
    json_name: String,
    /// A scalar whose zero value is left out (Go: non-pointer with `omitempty`).
    omit_zero: bool,
    /// Absent, written as `null` (Go: slice, map or pointer without `omitempty`).
    null_when_absent: bool,
    /// A message whose fields are written as the enclosing object's (Go: `json:",inline"`).
    inline: bool,
}

/// Kubernetes' types whose JSON is not an object of their fields.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Special {
    Object,
    Time,
    MicroTime,
    Duration,
    Quantity,
    IntOrString,
    EmbeddedJson,
    PropsOrArray,
    PropsOrBool,
    PropsOrStrings,
    ListWrapper,
}

static PLANS: LazyLock<HashMap<String, Plan>> =
    LazyLock::new(|| MESSAGES.pool.all_messages().map(|m| (m.full_name().to_string(), plan(&m))).collect());

fn plan(descriptor: &MessageDescriptor) -> Plan {
    let name = descriptor.full_name();
    let special = match name {
        TIME => Special::Time,
        MICRO_TIME => Special::MicroTime,
        DURATION => Special::Duration,
        QUANTITY => Special::Quantity,
        INT_OR_STRING => Special::IntOrString,
        RAW_EXTENSION | FIELDS_V1 | CRD_JSON => Special::EmbeddedJson,
        CRD_PROPS_OR_ARRAY => Special::PropsOrArray,
        CRD_PROPS_OR_BOOL => Special::PropsOrBool,
        CRD_PROPS_OR_STRINGS => Special::PropsOrStrings,
        wrapper if LIST_WRAPPERS.contains(&wrapper) => Special::ListWrapper,
        _ => Special::Object,
    };
    // Declaration order is the Go struct's order (field numbers are not: fields added later in
    // the middle of a struct get higher numbers).
    let fields = descriptor
        .descriptor_proto()
        .field
        .iter()
        .filter_map(|f| descriptor.get_field(u32::try_from(f.number()).ok()?))
        .map(|field| {
            let scalar = !field.is_list() && !field.is_map() && !matches!(field.kind(), Kind::Message(_));
            let go = MESSAGES.go_field(field.full_name());
            FieldPlan {
                json_name: go.json_name.clone().unwrap_or_else(|| field.name().to_string()),
                omit_zero: scalar && !go.keeps_zero,
                null_when_absent: go.null_when_absent,
                inline: go.inline,
                field,
            }
        })
        .collect();
    Plan { special, fields }
}

fn plan_of(message: &DynamicMessage) -> &'static Plan {
    PLANS.get(message.descriptor().full_name()).expect("every message of the pool has a plan")
}

/// Write the fields that Go's JSON encoder would write for this message into `out`.
fn write_fields(message: &DynamicMessage, out: &mut Map<String, Json>) -> Result<(), Error> {
    for plan in &plan_of(message).fields {
        if plan.inline {
            // Absent, the embedded struct is its zero value, written field by field all the same.
            if let Value::Message(embedded) = &*message.get_field(&plan.field) {
                write_fields(embedded, out)?;
            }
            continue;
        }
        if !message.has_field(&plan.field) {
            if plan.null_when_absent {
                out.insert(plan.json_name.clone(), Json::Null);
            }
            continue;
        }
        let value = message.get_field(&plan.field);
        if plan.omit_zero && value.is_default_for_field(&plan.field) {
            continue;
        }
        out.insert(plan.json_name.clone(), to_json(&value, &plan.field)?);
    }
    Ok(())
}

fn to_json(value: &Value, field: &FieldDescriptor) -> Result<Json, Error> {
    Ok(match value {
        Value::Bool(b) => Json::Bool(*b),
        Value::I32(n) => Json::from(*n),
        Value::I64(n) => Json::from(*n),
        Value::U32(n) => Json::from(*n),
        Value::U64(n) => Json::from(*n),
        Value::EnumNumber(n) => Json::from(*n),
        Value::F32(n) => finite(f64::from(*n), field)?,
        Value::F64(n) => finite(*n, field)?,
        Value::String(s) => Json::String(s.clone()),
        Value::Bytes(b) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::Message(m) => message_to_json(m, field)?,
        Value::List(items) => Json::Array(items.iter().map(|v| to_json(v, field)).collect::<Result<_, _>>()?),
        Value::Map(entries) => {
            let value_field = match field.kind() {
                Kind::Message(entry) => entry.map_entry_value_field(),
                _ => field.clone(),
            };
            let mut sorted: Vec<_> = entries.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            let mut map = Map::new();
            for (key, value) in sorted {
                map.insert(map_key(key), to_json(value, &value_field)?);
            }
            Json::Object(map)
        }
    })
}

fn map_key(key: &MapKey) -> String {
    match key {
        MapKey::String(s) => s.clone(),
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
    }
}

fn finite(n: f64, field: &FieldDescriptor) -> Result<Json, Error> {
    serde_json::Number::from_f64(n)
        .map(Json::Number)
        .ok_or_else(|| Error::NonFiniteNumber { field: field.full_name().to_string() })
}

/// A message as JSON, with Kubernetes' special types written as Go writes them.
fn message_to_json(message: &DynamicMessage, field: &FieldDescriptor) -> Result<Json, Error> {
    let number = |n: u32| message.get_field_by_number(n).map(|v| v.into_owned());
    let present = |n: u32| message.has_field_by_number(n);
    Ok(match plan_of(message).special {
        Special::Time => match (present(1), number(1)) {
            (true, Some(Value::I64(seconds))) => Json::String(rfc3339(seconds, 0, false, field)?),
            _ if !present(2) => Json::Null,
            _ => Json::String(rfc3339(0, 0, false, field)?),
        },
        Special::MicroTime => {
            if !present(1) && !present(2) {
                Json::Null
            } else {
                let seconds = number(1).and_then(|v| v.as_i64()).unwrap_or(0);
                let nanos = number(2).and_then(|v| v.as_i32()).unwrap_or(0);
                Json::String(rfc3339(seconds, nanos, true, field)?)
            }
        }
        Special::Duration => Json::String(go_duration(number(1).and_then(|v| v.as_i64()).unwrap_or(0))),
        Special::Quantity => Json::String(number(1).and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()),
        Special::IntOrString => match number(1).and_then(|v| v.as_i64()).unwrap_or(0) {
            1 => Json::String(number(3).and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()),
            _ => Json::from(number(2).and_then(|v| v.as_i32()).unwrap_or(0)),
        },
        Special::EmbeddedJson => embedded_json(number(1), field)?,
        Special::PropsOrArray => match number(2) {
            Some(Value::List(schemas)) if !schemas.is_empty() => to_json(&Value::List(schemas), field)?,
            _ => optional_message(message, 1, field)?,
        },
        Special::PropsOrBool => {
            if present(2) {
                optional_message(message, 2, field)?
            } else {
                Json::Bool(number(1).and_then(|v| v.as_bool()).unwrap_or(false))
            }
        }
        Special::PropsOrStrings => match number(2) {
            Some(Value::List(strings)) if !strings.is_empty() => to_json(&Value::List(strings), field)?,
            _ => optional_message(message, 1, field)?,
        },
        Special::ListWrapper => match number(1) {
            Some(items) => to_json(&items, field)?,
            None => Json::Array(Vec::new()),
        },
        Special::Object => {
            let mut map = Map::new();
            write_fields(message, &mut map)?;
            Json::Object(map)
        }
    })
}

fn optional_message(message: &DynamicMessage, number: u32, field: &FieldDescriptor) -> Result<Json, Error> {
    match message.get_field_by_number(number).as_deref() {
        Some(Value::Message(m)) if message.has_field_by_number(number) => message_to_json(m, field),
        _ => Ok(Json::Null),
    }
}

fn embedded_json(raw: Option<Value>, field: &FieldDescriptor) -> Result<Json, Error> {
    let bytes = match raw {
        Some(Value::Bytes(b)) if !b.is_empty() => b,
        _ => return Ok(Json::Null),
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::EmbeddedJson { field: field.full_name().to_string(), message: e.to_string() })
}

/// Go's RFC 3339 rendering of `metav1.Time` (seconds) or `metav1.MicroTime` (microseconds), UTC.
fn rfc3339(seconds: i64, nanos: i32, micro: bool, field: &FieldDescriptor) -> Result<String, Error> {
    let time = chrono::DateTime::from_timestamp(seconds, u32::try_from(nanos).unwrap_or(0)).ok_or_else(|| {
        Error::Object { kind: field.full_name().to_string(), message: format!("timestamp {seconds} is out of range") }
    })?;
    Ok(if micro { time.format("%Y-%m-%dT%H:%M:%S%.6fZ") } else { time.format("%Y-%m-%dT%H:%M:%SZ") }.to_string())
}

/// Go's `time.Duration.String()`: `0s`, `1.5s`, `1h0m0s`, `300ms`, `2µs`.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    let text = if u < 1_000_000_000 {
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let (fraction, whole) = fraction(u, prec);
        format!("{whole}{fraction}{unit}")
    } else {
        let (fraction, seconds) = fraction(u, 9);
        let minutes = seconds / 60;
        let hours = minutes / 60;
        match (hours, minutes) {
            (0, 0) => format!("{}{fraction}s", seconds % 60),
            (0, _) => format!("{}m{}{fraction}s", minutes % 60, seconds % 60),
            _ => format!("{hours}h{}m{}{fraction}s", minutes % 60, seconds % 60),
        }
    };
    format!("{sign}{text}")
}

/// The `prec` low decimal digits of `v` as Go prints a fraction (trailing zeros dropped, `.`
/// only if a digit remains), and `v` without them.
fn fraction(mut v: u64, prec: u32) -> (String, u64) {
    let mut digits = Vec::new();
    let mut printing = false;
    for _ in 0..prec {
        let digit = (v % 10) as u8;
        printing |= digit != 0;
        if printing {
            digits.push(b'0' + digit);
        }
        v /= 10;
    }
    if digits.is_empty() {
        return (String::new(), v);
    }
    digits.push(b'.');
    digits.reverse();
    (String::from_utf8(digits).expect("ASCII digits"), v)
}

/// Wraps the protobuf bytes of an object (`raw`) in Kubernetes' envelope, as client-go sends it:
/// the magic, then a `runtime.Unknown` naming the apiVersion and kind. For tests and benchmarks
/// of callers, which encode objects with `k8s-pb` and need a request body.
pub fn encode_envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut type_meta = DynamicMessage::new(message("k8s.io.apimachinery.pkg.runtime.TypeMeta"));
    type_meta.set_field_by_name("apiVersion", Value::String(api_version.into()));
    type_meta.set_field_by_name("kind", Value::String(kind.into()));
    let mut unknown = DynamicMessage::new(message(UNKNOWN));
    unknown.set_field_by_name("typeMeta", Value::Message(type_meta));
    unknown.set_field_by_name("raw", Value::Bytes(raw.to_vec().into()));
    unknown.set_field_by_name("contentEncoding", Value::String(String::new()));
    unknown.set_field_by_name("contentType", Value::String(String::new()));
    let mut body = MAGIC.to_vec();
    body.extend(unknown.encode_to_vec());
    body
}

#[cfg(test)]
mod equivalence;
#[cfg(test)]
mod tests;
