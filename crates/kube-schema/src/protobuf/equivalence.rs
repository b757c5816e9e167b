//! The decoder's property, for every kind the registry serves: a random object, encoded with
//! `k8s-pb`'s prost types, decodes to the JSON `k8s-openapi` writes for the same object. The two
//! crates are independent of our table (`k8s-pb` is generated from Kubernetes' `.proto` files,
//! `k8s-openapi` from its OpenAPI document, where an inline Go struct's fields are the enclosing
//! object's), so a field lost, misnamed, nested where Go flattens it, or numbered wrong fails here.
//!
//! Objects are drawn over the kind's message descriptor from a proptest seed: every field with a
//! `zero` fact is set (Go's encoder writes non-pointer scalars), the others at random, messages
//! down to a depth, with Kubernetes' special types (times, quantities, int-or-string, embedded
//! JSON) given values of their own form. Compared without `null` and `[]` members: where Go writes
//! `null` for an absent required list, `k8s-openapi` writes `[]`; neither loses anything.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::LazyLock;

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::*;

/// Messages deeper than this are left out (the CRD schema is recursive).
const MAX_DEPTH: u32 = 6;

const EMBEDDED_JSON: &[&str] = &[r#"{"a":1}"#, r#"{"f:metadata":{"f:labels":{".":{}}}}"#, r#"[1,"two",null]"#, "true"];
const QUANTITIES: &[&str] = &["1", "100m", "1Gi", "0.5", "2k", "1e3"];

struct Objects {
    rng: StdRng,
}

impl Objects {
    fn message(&mut self, descriptor: &MessageDescriptor, depth: u32) -> DynamicMessage {
        let mut message = DynamicMessage::new(descriptor.clone());
        let mut set = |name: &str, value: Value| message.set_field_by_name(name, value);
        match descriptor.full_name() {
            TIME => set("seconds", Value::I64(self.rng.random_range(0..=253_402_300_799))),
            MICRO_TIME => {
                set("seconds", Value::I64(self.rng.random_range(0..=253_402_300_799)));
                set("nanos", Value::I32(self.rng.random_range(0..1_000_000) * 1_000));
            }
            QUANTITY => set("string", Value::String(self.pick(QUANTITIES).into())),
            RAW_EXTENSION | FIELDS_V1 | CRD_JSON => {
                set("raw", Value::Bytes(self.pick(EMBEDDED_JSON).as_bytes().into()))
            }
            INT_OR_STRING => {
                if self.rng.random_bool(0.5) {
                    set("type", Value::I64(1));
                    set("strVal", Value::String(self.word()));
                } else {
                    set("type", Value::I64(0));
                    set("intVal", Value::I32(self.rng.random()));
                }
            }
            // A schema or a list: Go writes `null` for neither, which no client sends.
            CRD_PROPS_OR_ARRAY | CRD_PROPS_OR_STRINGS => {
                self.fields(&mut message, depth);
                if !message.has_field_by_number(1) && !message.has_field_by_number(2) {
                    let field = message.descriptor().get_field(2).expect("the list alternative");
                    message.set_field(&field, Value::List(vec![self.single(&field.kind(), depth)]));
                }
            }
            _ => self.fields(&mut message, depth),
        }
        message
    }

    fn fields(&mut self, message: &mut DynamicMessage, depth: u32) {
        for field in message.descriptor().fields() {
            let go = MESSAGES.go_field(field.full_name());
            let is_message = matches!(field.kind(), Kind::Message(_));
            let chance = match () {
                _ if is_message && depth >= MAX_DEPTH => continue,
                _ if !is_message && go.keeps_zero => 1.0,
                _ if REQUIRED.contains(field.full_name()) => 1.0,
                _ if is_message => 0.6,
                _ => 0.5,
            };
            if !self.rng.random_bool(chance) {
                continue;
            }
            let value = if field.is_map() {
                let Kind::Message(entry) = field.kind() else { unreachable!("a map field is a message") };
                let value_kind = entry.map_entry_value_field().kind();
                let entries: HashMap<MapKey, Value> = (0..self.rng.random_range(1..=3))
                    .map(|_| (MapKey::String(self.word()), self.single(&value_kind, depth)))
                    .collect();
                Value::Map(entries)
            } else if field.is_list() {
                Value::List((0..self.rng.random_range(1..=3)).map(|_| self.single(&field.kind(), depth)).collect())
            } else {
                self.single(&field.kind(), depth)
            };
            message.set_field(&field, value);
        }
    }

    fn single(&mut self, kind: &Kind, depth: u32) -> Value {
        match kind {
            Kind::String => Value::String(self.word()),
            Kind::Bool => Value::Bool(self.rng.random()),
            Kind::Int32 => {
                Value::I32(if self.rng.random() { self.rng.random() } else { self.rng.random_range(-3..100) })
            }
            Kind::Int64 => {
                Value::I64(if self.rng.random() { self.rng.random() } else { self.rng.random_range(-3..100) })
            }
            Kind::Double => Value::F64(self.rng.random_range(-1e9..1e9)),
            Kind::Bytes => Value::Bytes((0..self.rng.random_range(0..6)).map(|_| self.rng.random::<u8>()).collect()),
            Kind::Message(message) => Value::Message(self.message(message, depth + 1)),
            other => unreachable!("the table has no {other:?} fields"),
        }
    }

    /// A short string, sometimes empty, sometimes not ASCII.
    fn word(&mut self) -> String {
        const LETTERS: &[char] = &['a', 'b', 'z', '-', '.', '/', '0', '9', ' ', 'é', '"', '\\', '\n'];
        (0..self.rng.random_range(0..6)).map(|_| LETTERS[self.rng.random_range(0..LETTERS.len())]).collect()
    }

    fn pick(&mut self, choices: &[&'static str]) -> &'static str {
        choices[self.rng.random_range(0..choices.len())]
    }
}

/// The JSON names a message's plan writes, with the fields of inline members as its own.
fn written_names(message: &MessageDescriptor) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for field in &PLANS[message.full_name()].fields {
        match field.field.kind() {
            Kind::Message(embedded) if field.inline => names.extend(written_names(&embedded)),
            _ => {
                names.insert(field.json_name.clone());
            }
        }
    }
    names
}

/// A message of the table and its `k8s-openapi` schema's properties and required properties.
struct Definition {
    message: MessageDescriptor,
    properties: BTreeSet<String>,
    required: BTreeSet<String>,
}

/// Every object message with a `k8s-openapi` schema: every type reachable from a built-in kind.
static DEFINITIONS: LazyLock<Vec<Definition>> = LazyLock::new(|| {
    let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
    for kind in crate::openapi::builtin::BUILTIN_KINDS {
        (kind.generate)(&mut generator);
    }
    let names = |value: Option<&Json>| -> BTreeSet<String> {
        match value {
            Some(Json::Object(members)) => members.keys().cloned().collect(),
            Some(Json::Array(items)) => items.iter().filter_map(|i| i.as_str().map(str::to_string)).collect(),
            _ => BTreeSet::new(),
        }
    };
    generator
        .take_definitions(true)
        .into_iter()
        .filter_map(|(name, schema)| {
            let rest = name.strip_prefix("io.k8s.")?;
            let message = MESSAGES.pool.get_message_by_name(&format!("k8s.io.{}", rest.replace('-', "_")))?;
            (PLANS[message.full_name()].special == Special::Object && schema.get("properties").is_some()).then(|| {
                Definition {
                    message,
                    properties: names(schema.get("properties")),
                    required: names(schema.get("required")),
                }
            })
        })
        .collect()
});

/// Fields a `k8s-openapi` schema requires (by field full name): Go's non-pointer structs without
/// `omitempty`, which Go's protobuf encoder always writes, so random objects always have them.
static REQUIRED: LazyLock<HashSet<String>> = LazyLock::new(|| {
    DEFINITIONS
        .iter()
        .flat_map(|d| {
            PLANS[d.message.full_name()]
                .fields
                .iter()
                .filter(|f| !f.inline && d.required.contains(&f.json_name))
                .map(|f| f.field.full_name().to_string())
        })
        .collect()
});

/// Every message with a `k8s-openapi` schema writes exactly the properties of that schema. A Go
/// struct embedded with `json:",inline"` shows there as its fields among the enclosing schema's
/// properties, so a missing `inline` in the table fails here, whatever kind it hides in.
#[test]
fn every_message_writes_the_properties_of_its_openapi_schema() {
    let mut differences = Vec::new();
    for Definition { message, properties, .. } in DEFINITIONS.iter() {
        let written = written_names(message);
        // A kind's `apiVersion` and `kind` are its TypeMeta, which the envelope carries.
        let expected: BTreeSet<String> = properties
            .iter()
            .filter(|k| !matches!(k.as_str(), "apiVersion" | "kind") || written.contains(*k))
            .cloned()
            .collect();
        if written != expected {
            let missing: Vec<_> = expected.difference(&written).collect();
            let extra: Vec<_> = written.difference(&expected).collect();
            differences.push(format!(
                "{}: not written {missing:?}, written but not in the schema {extra:?}",
                message.full_name()
            ));
        }
    }
    assert!(DEFINITIONS.len() > 300, "{} messages compared", DEFINITIONS.len());
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// Drops `null` and `[]` members, recursively (see the module doc).
fn without_empty(value: &mut Json) {
    match value {
        Json::Object(members) => {
            members.retain(|_, v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()));
            members.values_mut().for_each(without_empty);
        }
        Json::Array(items) => items.iter_mut().for_each(without_empty),
        _ => {}
    }
}

/// One random object of a kind: encoded with `P` (`k8s-pb`), decoded by us, compared with what
/// `O` (`k8s-openapi`) writes for it.
fn check<P: prost::Message + Default, O: DeserializeOwned + Serialize>(api_version: &str, kind: &str, seed: u64) {
    let descriptor = kind_message(api_version, kind).unwrap_or_else(|| panic!("{api_version} {kind}"));
    let mut objects = Objects { rng: StdRng::seed_from_u64(seed) };
    let mut object = objects.message(&descriptor, 0);
    object.set_field_by_name("metadata", Value::Message(objects.message(&message_of(&descriptor, "metadata"), 1)));
    let random = object.encode_to_vec();
    let typed = P::decode(random.as_slice()).unwrap_or_else(|e| panic!("k8s-pb refuses {kind}: {e}"));
    let encoded = typed.encode_to_vec();
    // What k8s-pb does not know it drops: the table's wire facts are upstream's if nothing is lost.
    let read_back = DynamicMessage::decode(descriptor.clone(), encoded.as_slice()).unwrap();
    assert!(read_back == object, "k8s-pb's {kind} loses fields of the table's (seed {seed})");
    let mut ours = decode(&encode_envelope(api_version, kind, &encoded)).unwrap();
    let openapi: O =
        serde_json::from_value(ours.clone()).unwrap_or_else(|e| panic!("k8s-openapi refuses it, {e}: {ours}"));
    let mut theirs = serde_json::to_value(openapi).unwrap();
    without_empty(&mut ours);
    without_empty(&mut theirs);
    let mut differences = Vec::new();
    differ("", &ours, &theirs, &mut differences);
    assert!(
        differences.is_empty(),
        "{api_version} {kind}, seed {seed}: decoded, then k8s-openapi's:\n{}\nall of it decoded: {ours}",
        differences.join("\n")
    );
}

/// `""`, `0`, `false`, or an object of such values.
fn is_zero(value: &Json) -> bool {
    match value {
        Json::String(s) => s.is_empty(),
        Json::Number(n) => n.as_f64() == Some(0.0),
        Json::Bool(b) => !b,
        Json::Object(members) => members.values().all(is_zero),
        _ => false,
    }
}

/// Where two JSON values differ, by path.
fn differ(path: &str, ours: &Json, theirs: &Json, out: &mut Vec<String>) {
    match (ours, theirs) {
        (Json::Object(a), Json::Object(b)) => {
            for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                let (x, y) = (a.get(key).unwrap_or(&Json::Null), b.get(key).unwrap_or(&Json::Null));
                differ(&format!("{path}.{key}"), x, y, out);
            }
        }
        (Json::Array(a), Json::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differ(&format!("{path}[{i}]"), x, y, out);
            }
        }
        // k8s-openapi cannot tell absent from zero where Go can (`omitempty`, pointers): an
        // absent field it writes as its zero value. The Go facts are pinned in `tests`.
        (Json::Null, zero) if is_zero(zero) => {}
        (a, b) if a != b => out.push(format!("{path}: {a} | {b}")),
        _ => {}
    }
}

fn message_of(descriptor: &MessageDescriptor, field: &str) -> MessageDescriptor {
    match descriptor.get_field_by_name(field).map(|f| f.kind()) {
        Some(Kind::Message(m)) => m,
        _ => panic!("{} has no message field {field}", descriptor.full_name()),
    }
}

macro_rules! served_kinds {
    ($($test:ident: $api_version:literal $kind:literal => $($path:ident)::+,)*) => {
        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]
            $(
                #[test]
                fn $test(seed in any::<u64>()) {
                    check::<k8s_pb::$($path)::+, k8s_openapi::$($path)::+>($api_version, $kind, seed);
                }
            )*
        }
    };
}

// Every kind kube-api's registry serves, and the kinds of its subresources.
served_kinds! {
    config_map: "v1" "ConfigMap" => api::core::v1::ConfigMap,
    endpoints: "v1" "Endpoints" => api::core::v1::Endpoints,
    core_event: "v1" "Event" => api::core::v1::Event,
    namespace: "v1" "Namespace" => api::core::v1::Namespace,
    node: "v1" "Node" => api::core::v1::Node,
    pod: "v1" "Pod" => api::core::v1::Pod,
    binding: "v1" "Binding" => api::core::v1::Binding,
    secret: "v1" "Secret" => api::core::v1::Secret,
    service_account: "v1" "ServiceAccount" => api::core::v1::ServiceAccount,
    service: "v1" "Service" => api::core::v1::Service,
    deployment: "apps/v1" "Deployment" => api::apps::v1::Deployment,
    replica_set: "apps/v1" "ReplicaSet" => api::apps::v1::ReplicaSet,
    scale: "autoscaling/v1" "Scale" => api::autoscaling::v1::Scale,
    eviction: "policy/v1" "Eviction" => api::policy::v1::Eviction,
    events_event: "events.k8s.io/v1" "Event" => api::events::v1::Event,
    self_subject_review: "authentication.k8s.io/v1" "SelfSubjectReview" => api::authentication::v1::SelfSubjectReview,
    token_review: "authentication.k8s.io/v1" "TokenReview" => api::authentication::v1::TokenReview,
    token_request: "authentication.k8s.io/v1" "TokenRequest" => api::authentication::v1::TokenRequest,
    local_subject_access_review: "authorization.k8s.io/v1" "LocalSubjectAccessReview" => api::authorization::v1::LocalSubjectAccessReview,
    self_subject_access_review: "authorization.k8s.io/v1" "SelfSubjectAccessReview" => api::authorization::v1::SelfSubjectAccessReview,
    self_subject_rules_review: "authorization.k8s.io/v1" "SelfSubjectRulesReview" => api::authorization::v1::SelfSubjectRulesReview,
    subject_access_review: "authorization.k8s.io/v1" "SubjectAccessReview" => api::authorization::v1::SubjectAccessReview,
    cluster_role_binding: "rbac.authorization.k8s.io/v1" "ClusterRoleBinding" => api::rbac::v1::ClusterRoleBinding,
    cluster_role: "rbac.authorization.k8s.io/v1" "ClusterRole" => api::rbac::v1::ClusterRole,
    role_binding: "rbac.authorization.k8s.io/v1" "RoleBinding" => api::rbac::v1::RoleBinding,
    role: "rbac.authorization.k8s.io/v1" "Role" => api::rbac::v1::Role,
    custom_resource_definition: "apiextensions.k8s.io/v1" "CustomResourceDefinition" => apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
}
