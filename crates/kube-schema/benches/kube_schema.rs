//! kube-schema's hot paths, each beside a named peer in the same run:
//! - Protobuf request decoding (`protobuf::decode`, into JSON) against `serde_json` parsing the
//!   same object sent as JSON (what the server does for JSON requests) and against `k8s-pb`'s
//!   generated prost types decoding the same bytes (typed, no JSON);
//! - building the OpenAPI documents for a registry of 30 kinds against `serde_json` parsing the
//!   same documents (what embedding ready-made documents would cost at start);
//! - serving a document (a `Bytes` clone) against serializing it per request.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use k8s_pb::api::{apps, authorization, core};
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use kube_schema::openapi::{ApiResource, Gvk, OpenApiV3, STANDARD_VERBS};
use kube_schema::protobuf;
use prost::Message;

/// The SelfSubjectAccessReview `kubectl auth can-i get pods` sent (recorded).
const CAN_I: &str = "6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c665375626a656374416363657373526576696577123c0a100a0012001a0022002a00320038004200121e0a1c0a0764656661756c7412036765741a0022002a04706f647332003a001a08080012001a0020001a002200";

fn hex_decode(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

fn deployment() -> apps::v1::Deployment {
    let labels = std::collections::BTreeMap::from([("app".to_string(), "web".to_string())]);
    let meta = |name: &str| meta::ObjectMeta {
        name: Some(name.into()),
        labels: labels.clone(),
        creation_timestamp: Some(meta::Time::default()),
        ..Default::default()
    };
    apps::v1::Deployment {
        metadata: Some(meta("web")),
        spec: Some(apps::v1::DeploymentSpec {
            replicas: Some(3),
            selector: Some(meta::LabelSelector { match_labels: labels.clone(), match_expressions: vec![] }),
            template: Some(core::v1::PodTemplateSpec {
                metadata: Some(meta("")),
                spec: Some(core::v1::PodSpec {
                    containers: vec![core::v1::Container {
                        name: Some("nginx".into()),
                        image: Some("nginx:1.27".into()),
                        ports: vec![core::v1::ContainerPort { container_port: Some(80), ..Default::default() }],
                        env: vec![core::v1::EnvVar {
                            name: Some("MODE".into()),
                            value: Some("prod".into()),
                            value_from: None,
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            }),
            strategy: Some(Default::default()),
            ..Default::default()
        }),
        status: Some(Default::default()),
    }
}

fn decoding(c: &mut Criterion) {
    let can_i = hex_decode(CAN_I);
    let deployment = deployment();
    let deployment_raw = deployment.encode_to_vec();
    let deployment_body = protobuf::encode_envelope("apps/v1", "Deployment", &deployment_raw);
    let can_i_json = serde_json::to_vec(&protobuf::decode(&can_i).unwrap()).unwrap();
    let deployment_json = serde_json::to_vec(&protobuf::decode(&deployment_body).unwrap()).unwrap();
    let can_i_raw = can_i[4..].to_vec();

    let mut group = c.benchmark_group("decode/SelfSubjectAccessReview");
    group.bench_function("kube-schema protobuf→JSON", |b| b.iter(|| protobuf::decode(black_box(&can_i)).unwrap()));
    group.bench_function("serde_json parse of the JSON body", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&can_i_json)).unwrap())
    });
    group.bench_function("k8s-pb typed decode", |b| {
        b.iter(|| {
            let unknown = k8s_pb::apimachinery::pkg::runtime::Unknown::decode(black_box(can_i_raw.as_slice())).unwrap();
            authorization::v1::SelfSubjectAccessReview::decode(unknown.raw.unwrap_or_default().as_slice()).unwrap()
        })
    });
    group.finish();

    let mut group = c.benchmark_group("decode/Deployment");
    group.bench_function("kube-schema protobuf→JSON", |b| {
        b.iter(|| protobuf::decode(black_box(&deployment_body)).unwrap())
    });
    group.bench_function("serde_json parse of the JSON body", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&deployment_json)).unwrap())
    });
    group.bench_function("k8s-pb typed decode", |b| {
        b.iter(|| apps::v1::Deployment::decode(black_box(deployment_raw.as_slice())).unwrap())
    });
    group.finish();
}

/// The kinds Rampart serves, roughly: 30 resources over 9 group-versions.
fn registry() -> Vec<ApiResource> {
    let v = STANDARD_VERBS;
    let mut resources: Vec<ApiResource> = [
        ("", "Pod", "pods", true),
        ("", "ConfigMap", "configmaps", true),
        ("", "Secret", "secrets", true),
        ("", "Event", "events", true),
        ("", "Namespace", "namespaces", false),
        ("", "ServiceAccount", "serviceaccounts", true),
        ("", "Service", "services", true),
        ("", "Endpoints", "endpoints", true),
        ("", "Node", "nodes", false),
        ("apps", "Deployment", "deployments", true),
        ("apps", "ReplicaSet", "replicasets", true),
        ("apps", "StatefulSet", "statefulsets", true),
        ("apps", "DaemonSet", "daemonsets", true),
        ("batch", "Job", "jobs", true),
        ("batch", "CronJob", "cronjobs", true),
        ("rbac.authorization.k8s.io", "Role", "roles", true),
        ("rbac.authorization.k8s.io", "RoleBinding", "rolebindings", true),
        ("rbac.authorization.k8s.io", "ClusterRole", "clusterroles", false),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding", "clusterrolebindings", false),
        ("events.k8s.io", "Event", "events", true),
        ("coordination.k8s.io", "Lease", "leases", true),
        ("apiextensions.k8s.io", "CustomResourceDefinition", "customresourcedefinitions", false),
    ]
    .into_iter()
    .map(|(group, kind, plural, namespaced)| ApiResource::builtin(group, "v1", kind, plural, namespaced, v))
    .collect();
    resources[9] = resources[9].clone().with_subresource(
        "scale",
        Gvk::new("autoscaling", "v1", "Scale"),
        &["get", "patch", "update"],
    );
    for (group, kind, plural, namespaced) in [
        ("authorization.k8s.io", "SelfSubjectAccessReview", "selfsubjectaccessreviews", false),
        ("authorization.k8s.io", "SelfSubjectRulesReview", "selfsubjectrulesreviews", false),
        ("authorization.k8s.io", "SubjectAccessReview", "subjectaccessreviews", false),
        ("authorization.k8s.io", "LocalSubjectAccessReview", "localsubjectaccessreviews", true),
        ("authentication.k8s.io", "SelfSubjectReview", "selfsubjectreviews", false),
        ("authentication.k8s.io", "TokenReview", "tokenreviews", false),
        ("policy", "PodDisruptionBudget", "poddisruptionbudgets", true),
        ("networking.k8s.io", "Ingress", "ingresses", true),
    ] {
        resources.push(ApiResource::builtin(group, "v1", kind, plural, namespaced, &["create"]));
    }
    resources
}

fn openapi(c: &mut Criterion) {
    let resources = registry();
    let built = OpenApiV3::build(&resources);
    let gvs = [
        "api/v1",
        "apis/apps/v1",
        "apis/batch/v1",
        "apis/rbac.authorization.k8s.io/v1",
        "apis/authorization.k8s.io/v1",
    ];
    let bodies: Vec<_> = gvs.iter().map(|gv| built.document(gv).unwrap().body()).collect();
    let core: serde_json::Value = serde_json::from_slice(&bodies[0]).unwrap();

    let mut group = c.benchmark_group("openapi/build");
    group.sample_size(20);
    group.bench_function("kube-schema OpenApiV3::build (30 kinds)", |b| {
        b.iter(|| OpenApiV3::build(black_box(&resources)))
    });
    group.bench_function("serde_json parse of the same documents", |b| {
        b.iter(|| {
            for body in &bodies {
                black_box(serde_json::from_slice::<serde_json::Value>(body).unwrap());
            }
        })
    });
    group.finish();

    let mut group = c.benchmark_group("openapi/serve api/v1");
    group.bench_function("kube-schema cached bytes", |b| {
        b.iter(|| black_box(&built).document("api/v1").unwrap().body())
    });
    group.bench_function("serde_json serialize per request", |b| {
        b.iter(|| serde_json::to_vec(black_box(&core)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, decoding, openapi);
criterion_main!(benches);
