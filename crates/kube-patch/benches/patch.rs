//! kube-patch's hot paths on a Deployment, each beside the named peer `json-patch`'s RFC 7386
//! merge (`json_patch::merge`) applying the same change as a JSON merge patch:
//! - strategic merge patch of the body `kubectl edit` sends (`$setElementOrder/containers`);
//! - the recorded managedFields bookkeeping of that update (`FieldManager::update`);
//! - server-side apply of a changed image (`FieldManager::apply`), and of an unchanged
//!   configuration (the common `kubectl apply --server-side` re-run).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kube_patch::{FieldManager, PatchType, Schema, apply_patch};
use serde_json::{Value, json};

fn container(name: &str, image: &str, port: u16) -> Value {
    json!({
        "name": name,
        "image": image,
        "ports": [{"containerPort": port, "protocol": "TCP"}],
        "env": [{"name": "MODE", "value": "prod"}, {"name": "REGION", "value": "eu-west-1"}],
        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "250m", "memory": "64Mi"}},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/config"}],
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File"
    })
}

/// The applied configuration: a Deployment with three containers.
fn config(image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "tier": "front"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web", "tier": "front"}},
                "spec": {
                    "containers": [container("nginx", image, 80), container("sidecar", "envoy:1.30", 9901), container("metrics", "prom/statsd-exporter", 9102)],
                    "volumes": [{"name": "config", "configMap": {"name": "web-config"}}],
                    "restartPolicy": "Always",
                    "dnsPolicy": "ClusterFirst"
                }
            }
        }
    })
}

fn patching(c: &mut Criterion) {
    let schema = Schema::builtin("apps", "v1", "Deployment").unwrap();
    let fm = FieldManager::new(schema, "apps/v1", "Deployment");
    let now = "2026-11-28T10:00:00Z".parse().unwrap();
    let live = fm.apply(None, &config("nginx:1.26"), "kubectl", false, now).unwrap();

    let smp = br#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"},{"name":"sidecar"},{"name":"metrics"}],"containers":[{"image":"nginx:1.27","name":"nginx"}]}}}}"#;
    // The same change as a JSON merge patch: the containers list has to be sent whole.
    let merge_body = json!({"spec": {"template": {"spec": {"containers": config("nginx:1.27")["spec"]["template"]["spec"]["containers"].clone()}}}});
    let merge_bytes = serde_json::to_vec(&merge_body).unwrap();

    let mut group = c.benchmark_group("deployment image change");
    group.bench_function("strategic merge patch (kube-patch)", |b| {
        b.iter(|| apply_patch(black_box(&live), black_box(smp), PatchType::StrategicMerge, schema).unwrap())
    });
    group.bench_function("merge patch (kube-patch over json-patch)", |b| {
        b.iter(|| apply_patch(black_box(&live), black_box(&merge_bytes), PatchType::Merge, schema).unwrap())
    });
    group.bench_function("RFC 7386 merge (json-patch, peer)", |b| {
        b.iter(|| {
            let mut doc = black_box(&live).clone();
            json_patch::merge(&mut doc, black_box(&merge_body));
            doc
        })
    });
    let patched = apply_patch(&live, smp, PatchType::StrategicMerge, schema).unwrap();
    group.bench_function("managedFields of the update (kube-patch)", |b| {
        b.iter(|| fm.update(Some(black_box(&live)), black_box(&patched).clone(), "kubectl-edit", now))
    });
    let changed = config("nginx:1.27");
    group.bench_function("server-side apply, changed (kube-patch)", |b| {
        b.iter(|| fm.apply(Some(black_box(&live)), black_box(&changed), "kubectl", false, now).unwrap())
    });
    let unchanged = config("nginx:1.26");
    group.bench_function("server-side apply, unchanged (kube-patch)", |b| {
        b.iter(|| fm.apply(Some(black_box(&live)), black_box(&unchanged), "kubectl", false, now).unwrap())
    });
    group.finish();
}

criterion_group!(benches, patching);
criterion_main!(benches);
