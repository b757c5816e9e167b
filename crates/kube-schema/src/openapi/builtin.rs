//! The built-in kinds whose component schemas come from `k8s-openapi`'s `schemars` impls, and the
//! `x-kubernetes-*` extensions those impls leave out, put back from `facts` (Kubernetes' Go struct
//! tags and markers).

use std::borrow::Cow;

use k8s_openapi::api;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions;
use k8s_openapi::apimachinery::pkg::apis::meta;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::facts;
use crate::openapi::FieldExtensions;

/// A kind whose schema `k8s-openapi` knows.
pub(crate) struct BuiltinKind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub schema_name: fn() -> Cow<'static, str>,
    /// Adds the kind's schema (and every schema it refers to) to the generator.
    pub generate: fn(&mut SchemaGenerator),
}

macro_rules! builtin_kinds {
    ($($group:literal $version:literal $kind:literal => $ty:ty,)*) => {
        pub(crate) static BUILTIN_KINDS: &[BuiltinKind] = &[$(BuiltinKind {
            group: $group,
            version: $version,
            kind: $kind,
            schema_name: <$ty as JsonSchema>::schema_name,
            generate: |generator| { generator.subschema_for::<$ty>(); },
        },)*];
    };
}

builtin_kinds! {
    "" "v1" "Binding" => api::core::v1::Binding,
    "" "v1" "ConfigMap" => api::core::v1::ConfigMap,
    "" "v1" "Endpoints" => api::core::v1::Endpoints,
    "" "v1" "Event" => api::core::v1::Event,
    "" "v1" "LimitRange" => api::core::v1::LimitRange,
    "" "v1" "Namespace" => api::core::v1::Namespace,
    "" "v1" "Node" => api::core::v1::Node,
    "" "v1" "PersistentVolume" => api::core::v1::PersistentVolume,
    "" "v1" "PersistentVolumeClaim" => api::core::v1::PersistentVolumeClaim,
    "" "v1" "Pod" => api::core::v1::Pod,
    "" "v1" "PodTemplate" => api::core::v1::PodTemplate,
    "" "v1" "ReplicationController" => api::core::v1::ReplicationController,
    "" "v1" "ResourceQuota" => api::core::v1::ResourceQuota,
    "" "v1" "Secret" => api::core::v1::Secret,
    "" "v1" "Service" => api::core::v1::Service,
    "" "v1" "ServiceAccount" => api::core::v1::ServiceAccount,
    "apps" "v1" "ControllerRevision" => api::apps::v1::ControllerRevision,
    "apps" "v1" "DaemonSet" => api::apps::v1::DaemonSet,
    "apps" "v1" "Deployment" => api::apps::v1::Deployment,
    "apps" "v1" "ReplicaSet" => api::apps::v1::ReplicaSet,
    "apps" "v1" "StatefulSet" => api::apps::v1::StatefulSet,
    "autoscaling" "v1" "HorizontalPodAutoscaler" => api::autoscaling::v1::HorizontalPodAutoscaler,
    "autoscaling" "v1" "Scale" => api::autoscaling::v1::Scale,
    "batch" "v1" "CronJob" => api::batch::v1::CronJob,
    "batch" "v1" "Job" => api::batch::v1::Job,
    "authentication.k8s.io" "v1" "SelfSubjectReview" => api::authentication::v1::SelfSubjectReview,
    "authentication.k8s.io" "v1" "TokenRequest" => api::authentication::v1::TokenRequest,
    "authentication.k8s.io" "v1" "TokenReview" => api::authentication::v1::TokenReview,
    "authorization.k8s.io" "v1" "LocalSubjectAccessReview" => api::authorization::v1::LocalSubjectAccessReview,
    "authorization.k8s.io" "v1" "SelfSubjectAccessReview" => api::authorization::v1::SelfSubjectAccessReview,
    "authorization.k8s.io" "v1" "SelfSubjectRulesReview" => api::authorization::v1::SelfSubjectRulesReview,
    "authorization.k8s.io" "v1" "SubjectAccessReview" => api::authorization::v1::SubjectAccessReview,
    "rbac.authorization.k8s.io" "v1" "ClusterRole" => api::rbac::v1::ClusterRole,
    "rbac.authorization.k8s.io" "v1" "ClusterRoleBinding" => api::rbac::v1::ClusterRoleBinding,
    "rbac.authorization.k8s.io" "v1" "Role" => api::rbac::v1::Role,
    "rbac.authorization.k8s.io" "v1" "RoleBinding" => api::rbac::v1::RoleBinding,
    "events.k8s.io" "v1" "Event" => api::events::v1::Event,
    "coordination.k8s.io" "v1" "Lease" => api::coordination::v1::Lease,
    "discovery.k8s.io" "v1" "EndpointSlice" => api::discovery::v1::EndpointSlice,
    "networking.k8s.io" "v1" "Ingress" => api::networking::v1::Ingress,
    "networking.k8s.io" "v1" "IngressClass" => api::networking::v1::IngressClass,
    "networking.k8s.io" "v1" "NetworkPolicy" => api::networking::v1::NetworkPolicy,
    "policy" "v1" "Eviction" => api::policy::v1::Eviction,
    "policy" "v1" "PodDisruptionBudget" => api::policy::v1::PodDisruptionBudget,
    "scheduling.k8s.io" "v1" "PriorityClass" => api::scheduling::v1::PriorityClass,
    "storage.k8s.io" "v1" "StorageClass" => api::storage::v1::StorageClass,
    "certificates.k8s.io" "v1" "CertificateSigningRequest" => api::certificates::v1::CertificateSigningRequest,
    "apiextensions.k8s.io" "v1" "CustomResourceDefinition" => apiextensions::v1::CustomResourceDefinition,
}

/// The built-in kind with this group, version and kind, if `k8s-openapi` has its schema.
pub(crate) fn builtin_kind(group: &str, version: &str, kind: &str) -> Option<&'static BuiltinKind> {
    BUILTIN_KINDS.iter().find(|k| k.group == group && k.version == version && k.kind == kind)
}

/// Adds the schemas every group-version document refers to from its operations.
pub(crate) fn generate_meta(generator: &mut SchemaGenerator) {
    generator.subschema_for::<meta::v1::Status>();
    generator.subschema_for::<meta::v1::DeleteOptions>();
    generator.subschema_for::<meta::v1::Patch>();
    generator.subschema_for::<meta::v1::ListMeta>();
    generator.subschema_for::<meta::v1::ObjectMeta>();
}

/// The schema name of `ListMeta`, referred to by every list schema.
pub(crate) fn list_meta_name() -> Cow<'static, str> {
    <meta::v1::ListMeta as JsonSchema>::schema_name()
}

/// Puts Kubernetes' extensions on a generated schema: the fields' patch strategy, merge key,
/// list type and map type, `x-kubernetes-map-type: atomic` on atomic structs, and no `required`
/// `metadata` (a `k8s-openapi` artefact: its Rust field is not optional, the Go one is).
pub(crate) fn add_extensions(name: &str, schema: &mut Map<String, Value>) {
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|r| r != "metadata");
        if required.is_empty() {
            schema.remove("required");
        }
    }
    if facts::ATOMIC_STRUCTS.binary_search(&name).is_ok() {
        schema.insert("x-kubernetes-map-type".into(), json!("atomic"));
    }
    let Some(Value::Object(properties)) = schema.get_mut("properties") else { return };
    for (field, property) in properties.iter_mut() {
        let (Some(ext), Value::Object(property)) = (field_extensions(name, field), property) else { continue };
        if let Some(keys) = (!ext.list_map_keys.is_empty()).then_some(ext.list_map_keys) {
            property.insert("x-kubernetes-list-map-keys".into(), json!(keys));
        }
        for (key, value) in [
            ("x-kubernetes-list-type", ext.list_type),
            ("x-kubernetes-map-type", ext.map_type),
            ("x-kubernetes-patch-merge-key", ext.patch_merge_key),
            ("x-kubernetes-patch-strategy", ext.patch_strategy),
        ] {
            if let Some(value) = value {
                property.insert(key.into(), json!(value));
            }
        }
    }
}

/// The `x-kubernetes-*` facts of one field of a built-in schema (by OpenAPI schema name, e.g.
/// `io.k8s.api.core.v1.PodSpec`, and JSON field name, e.g. `containers`): what strategic merge
/// patch and server-side apply need to know about lists and maps.
pub fn field_extensions(schema: &str, field: &str) -> Option<&'static FieldExtensions> {
    let start = facts::FIELD_EXTENSIONS.partition_point(|e| e.schema < schema);
    facts::FIELD_EXTENSIONS[start..].iter().take_while(|e| e.schema == schema).find(|e| e.field == field)
}
