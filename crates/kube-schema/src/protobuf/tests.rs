//! The decoder against the bodies kubectl 1.32 sent (recorded on the wire), and against objects
//! encoded with `k8s-pb`'s prost types, each compared with the JSON Go's encoder writes for the
//! same object (field order included).

use std::collections::BTreeMap;

use k8s_pb::api::{apps, authentication, authorization, batch, core, events, rbac};
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use prost_reflect::Value as Field;
use serde_json::{Value, json};

use super::*;

#[derive(serde::Deserialize)]
struct Recorded {
    command: String,
    body: String,
    json: Value,
}

fn hex_decode(hex: &str) -> Vec<u8> {
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

/// Same JSON, same key order.
#[track_caller]
fn assert_json(actual: &Value, expected: &Value) {
    assert_eq!(serde_json::to_string_pretty(actual).unwrap(), serde_json::to_string_pretty(expected).unwrap());
}

#[test]
fn decodes_every_body_kubectl_sent() {
    let cases: Vec<Recorded> = serde_json::from_str(include_str!("../../tests/data/kubectl-protobuf.json")).unwrap();
    assert!(cases.len() >= 15);
    for case in cases {
        let decoded = decode(&hex_decode(&case.body)).unwrap_or_else(|e| panic!("{}: {e}", case.command));
        assert_eq!(
            serde_json::to_string(&decoded).unwrap(),
            serde_json::to_string(&case.json).unwrap(),
            "{}",
            case.command
        );
    }
}

/// The SelfSubjectAccessReview of `kubectl auth can-i get pods`, copied from kubectl's own
/// `-v=9` hexdump (`kubectl-verbose-v9-can-i.txt`), 122 bytes.
#[test]
fn decodes_the_v9_hexdump_of_can_i() {
    let dump = "6b 38 73 00 0a 32 0a 17  61 75 74 68 6f 72 69 7a
                61 74 69 6f 6e 2e 6b 38  73 2e 69 6f 2f 76 31 12
                17 53 65 6c 66 53 75 62  6a 65 63 74 41 63 63 65
                73 73 52 65 76 69 65 77  12 3c 0a 10 0a 00 12 00
                1a 00 22 00 2a 00 32 00  38 00 42 00 12 1e 0a 1c
                0a 07 64 65 66 61 75 6c  74 12 03 67 65 74 1a 00
                22 00 2a 04 70 6f 64 73  32 00 3a 00 1a 08 08 00
                12 00 1a 00 20 00 1a 00  22 00";
    let body = hex_decode(&dump.split_whitespace().collect::<String>());
    assert_eq!(body.len(), 122);
    assert_json(
        &decode(&body).unwrap(),
        &json!({"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": null},
                "spec": {"resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"}},
                "status": {"allowed": false}}),
    );
}

fn envelope(api_version: &str, kind: &str, object: &impl Message) -> Vec<u8> {
    encode_envelope(api_version, kind, &object.encode_to_vec())
}

/// ObjectMeta as Go's protobuf encoder writes it: every non-pointer field, zero or not.
fn object_meta(name: &str, namespace: &str) -> meta::ObjectMeta {
    meta::ObjectMeta {
        name: Some(name.into()),
        generate_name: Some(String::new()),
        namespace: Some(namespace.into()),
        self_link: Some(String::new()),
        uid: Some(String::new()),
        resource_version: Some(String::new()),
        generation: Some(0),
        creation_timestamp: Some(meta::Time::default()),
        ..Default::default()
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn config_map_with_binary_data_and_explicit_mutability() {
    let object = core::v1::ConfigMap {
        metadata: Some(meta::ObjectMeta {
            labels: BTreeMap::from([("b".into(), "2".into()), ("a".into(), "1".into())]),
            ..object_meta("settings", "default")
        }),
        data: BTreeMap::from([("z".into(), "last".into()), ("k".into(), String::new())]),
        binary_data: BTreeMap::from([("blob".into(), vec![0, 255, 1])]),
        immutable: Some(false),
    };
    assert_json(
        &decode(&envelope("v1", "ConfigMap", &object)).unwrap(),
        &json!({"kind": "ConfigMap", "apiVersion": "v1",
                "metadata": {"name": "settings", "namespace": "default", "creationTimestamp": null,
                             "labels": {"a": "1", "b": "2"}},
                "immutable": false,
                "data": {"k": "", "z": "last"},
                "binaryData": {"blob": "AP8B"}}),
    );
}

#[test]
fn secret_data_is_base64_and_an_empty_type_is_left_out() {
    let object = core::v1::Secret {
        metadata: Some(object_meta("creds", "")),
        immutable: None,
        data: BTreeMap::from([("password".into(), b"s3cr\xffet".to_vec())]),
        string_data: BTreeMap::new(),
        r#type: Some(String::new()),
    };
    assert_json(
        &decode(&envelope("v1", "Secret", &object)).unwrap(),
        &json!({"kind": "Secret", "apiVersion": "v1",
                "metadata": {"name": "creds", "creationTimestamp": null},
                "data": {"password": "czNjcv9ldA=="}}),
    );
}

#[test]
fn service_account_keeps_an_explicit_false_pointer() {
    let object = core::v1::ServiceAccount {
        metadata: Some(object_meta("builder", "ci")),
        automount_service_account_token: Some(false),
        ..Default::default()
    };
    assert_json(
        &decode(&envelope("v1", "ServiceAccount", &object)).unwrap(),
        &json!({"kind": "ServiceAccount", "apiVersion": "v1",
                "metadata": {"name": "builder", "namespace": "ci", "creationTimestamp": null},
                "automountServiceAccountToken": false}),
    );
}

#[test]
fn service_ports_carry_int_or_string_target_ports() {
    let port = |name: &str, port: i32, target: IntOrString| core::v1::ServicePort {
        name: Some(name.into()),
        protocol: Some("TCP".into()),
        port: Some(port),
        target_port: Some(target),
        node_port: Some(0),
        ..Default::default()
    };
    let object = core::v1::Service {
        metadata: Some(object_meta("web", "default")),
        spec: Some(core::v1::ServiceSpec {
            ports: vec![
                port("http", 80, IntOrString { r#type: Some(0), int_val: Some(8080), str_val: Some(String::new()) }),
                port("admin", 9000, IntOrString { r#type: Some(1), int_val: Some(0), str_val: Some("admin".into()) }),
            ],
            selector: BTreeMap::from([("app".into(), "web".into())]),
            cluster_ip: Some(String::new()),
            r#type: Some("ClusterIP".into()),
            session_affinity: Some(String::new()),
            health_check_node_port: Some(0),
            ..Default::default()
        }),
        status: Some(core::v1::ServiceStatus { load_balancer: Some(Default::default()), conditions: vec![] }),
    };
    assert_json(
        &decode(&envelope("v1", "Service", &object)).unwrap(),
        &json!({"kind": "Service", "apiVersion": "v1",
                "metadata": {"name": "web", "namespace": "default", "creationTimestamp": null},
                "spec": {"ports": [
                            {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
                            {"name": "admin", "protocol": "TCP", "port": 9000, "targetPort": "admin"}],
                         "selector": {"app": "web"},
                         "type": "ClusterIP"},
                "status": {"loadBalancer": {}}}),
    );
}

/// What `kubectl create deployment web2 --image=nginx --replicas=0` encodes: a pointer set to
/// zero stays, non-pointer zeros go, a zero `Time` in the template is `null`, quantities are
/// strings.
#[test]
fn deployment_from_the_generator() {
    let labels = BTreeMap::from([("app".to_string(), "web2".to_string())]);
    let container = core::v1::Container {
        name: Some("nginx".into()),
        image: Some("nginx".into()),
        working_dir: Some(String::new()),
        resources: Some(core::v1::ResourceRequirements {
            limits: BTreeMap::from([("cpu".into(), Quantity { string: Some("500m".into()) })]),
            ..Default::default()
        }),
        termination_message_path: Some(String::new()),
        image_pull_policy: Some(String::new()),
        stdin: Some(false),
        stdin_once: Some(false),
        tty: Some(false),
        ..Default::default()
    };
    let object = apps::v1::Deployment {
        metadata: Some(meta::ObjectMeta { labels: labels.clone(), ..object_meta("web2", "") }),
        spec: Some(apps::v1::DeploymentSpec {
            replicas: Some(0),
            selector: Some(meta::LabelSelector { match_labels: labels.clone(), match_expressions: vec![] }),
            template: Some(core::v1::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta { labels: labels.clone(), ..object_meta("", "") }),
                spec: Some(core::v1::PodSpec {
                    containers: vec![container],
                    restart_policy: Some(String::new()),
                    dns_policy: Some(String::new()),
                    host_network: Some(false),
                    ..Default::default()
                }),
            }),
            strategy: Some(apps::v1::DeploymentStrategy { r#type: Some(String::new()), rolling_update: None }),
            min_ready_seconds: Some(0),
            paused: Some(false),
            ..Default::default()
        }),
        status: Some(apps::v1::DeploymentStatus {
            observed_generation: Some(0),
            replicas: Some(0),
            ..Default::default()
        }),
    };
    assert_json(
        &decode(&envelope("apps/v1", "Deployment", &object)).unwrap(),
        &json!({"kind": "Deployment", "apiVersion": "apps/v1",
                "metadata": {"name": "web2", "creationTimestamp": null, "labels": {"app": "web2"}},
                "spec": {"replicas": 0,
                         "selector": {"matchLabels": {"app": "web2"}},
                         "template": {"metadata": {"creationTimestamp": null, "labels": {"app": "web2"}},
                                      "spec": {"containers": [{"name": "nginx", "image": "nginx",
                                                               "resources": {"limits": {"cpu": "500m"}}}]}},
                         "strategy": {}},
                "status": {}}),
    );
}

#[test]
fn rbac_kinds() {
    let rule = rbac::v1::PolicyRule {
        verbs: strings(&["get", "list"]),
        api_groups: strings(&[""]),
        resources: strings(&["pods"]),
        resource_names: vec![],
        non_resource_ur_ls: vec![],
    };
    let cluster_role = rbac::v1::ClusterRole {
        metadata: Some(object_meta("reader", "")),
        rules: vec![rule.clone()],
        aggregation_rule: Some(rbac::v1::AggregationRule {
            cluster_role_selectors: vec![meta::LabelSelector {
                match_labels: BTreeMap::from([("rbac.example.com/aggregate".into(), "true".into())]),
                match_expressions: vec![],
            }],
        }),
    };
    assert_json(
        &decode(&envelope("rbac.authorization.k8s.io/v1", "ClusterRole", &cluster_role)).unwrap(),
        &json!({"kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1",
                "metadata": {"name": "reader", "creationTimestamp": null},
                "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}],
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.example.com/aggregate": "true"}}]}}),
    );
    let subject = |kind: &str, name: &str, namespace: &str| rbac::v1::Subject {
        kind: Some(kind.into()),
        api_group: Some(if kind == "ServiceAccount" { String::new() } else { "rbac.authorization.k8s.io".into() }),
        name: Some(name.into()),
        namespace: Some(namespace.into()),
    };
    let binding = rbac::v1::RoleBinding {
        metadata: Some(object_meta("rb2", "")),
        subjects: vec![subject("User", "eks-user", ""), subject("ServiceAccount", "builder", "ci")],
        role_ref: Some(rbac::v1::RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: Some("Role".into()),
            name: Some("pod-reader2".into()),
        }),
    };
    assert_json(
        &decode(&envelope("rbac.authorization.k8s.io/v1", "RoleBinding", &binding)).unwrap(),
        &json!({"kind": "RoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
                "metadata": {"name": "rb2", "creationTimestamp": null},
                "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "eks-user"},
                             {"kind": "ServiceAccount", "name": "builder", "namespace": "ci"}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader2"}}),
    );
    let empty_role = rbac::v1::Role { metadata: Some(object_meta("empty", "")), rules: vec![] };
    assert_json(
        &decode(&envelope("rbac.authorization.k8s.io/v1", "Role", &empty_role)).unwrap(),
        &json!({"kind": "Role", "apiVersion": "rbac.authorization.k8s.io/v1",
                "metadata": {"name": "empty", "creationTimestamp": null}, "rules": null}),
    );
}

#[test]
fn cron_job_with_a_job_template() {
    let object = batch::v1::CronJob {
        metadata: Some(object_meta("nightly", "")),
        spec: Some(batch::v1::CronJobSpec {
            schedule: Some("0 3 * * *".into()),
            concurrency_policy: Some(String::new()),
            suspend: Some(false),
            job_template: Some(batch::v1::JobTemplateSpec {
                metadata: Some(object_meta("", "")),
                spec: Some(batch::v1::JobSpec { backoff_limit: Some(0), ..Default::default() }),
            }),
            ..Default::default()
        }),
        status: None,
    };
    assert_json(
        &decode(&envelope("batch/v1", "CronJob", &object)).unwrap(),
        &json!({"kind": "CronJob", "apiVersion": "batch/v1",
                "metadata": {"name": "nightly", "creationTimestamp": null},
                "spec": {"schedule": "0 3 * * *", "suspend": false,
                         "jobTemplate": {"metadata": {"creationTimestamp": null}, "spec": {"backoffLimit": 0}}}}),
    );
}

#[test]
fn subject_access_review_with_extra_and_time() {
    let object = authorization::v1::SubjectAccessReview {
        metadata: Some(meta::ObjectMeta {
            creation_timestamp: Some(meta::Time { seconds: Some(1_764_320_000), nanos: Some(0) }),
            ..object_meta("", "")
        }),
        spec: Some(authorization::v1::SubjectAccessReviewSpec {
            resource_attributes: Some(authorization::v1::ResourceAttributes {
                namespace: Some("default".into()),
                verb: Some("list".into()),
                resource: Some("pods".into()),
                ..Default::default()
            }),
            user: Some("arn:aws:iam::123456789012:user/bob".into()),
            groups: strings(&["dev", "system:authenticated"]),
            extra: BTreeMap::from([(
                "accessKeyId".into(),
                authorization::v1::ExtraValue { items: strings(&["AKIAEXAMPLE"]) },
            )]),
            uid: Some(String::new()),
            ..Default::default()
        }),
        status: None,
    };
    assert_json(
        &decode(&envelope("authorization.k8s.io/v1", "SubjectAccessReview", &object)).unwrap(),
        &json!({"kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": "2025-11-28T08:53:20Z"},
                "spec": {"resourceAttributes": {"namespace": "default", "verb": "list", "resource": "pods"},
                         "user": "arn:aws:iam::123456789012:user/bob",
                         "groups": ["dev", "system:authenticated"],
                         "extra": {"accessKeyId": ["AKIAEXAMPLE"]}}}),
    );
}

/// `kubectl create token builder --duration=1h --bound-object-kind=Pod ...`: the Go field `UID`
/// has protobuf name `uID` and JSON name `uid`.
#[test]
fn token_request_names_fields_by_their_json_names() {
    let object = authentication::v1::TokenRequest {
        metadata: Some(object_meta("builder", "ci")),
        spec: Some(authentication::v1::TokenRequestSpec {
            audiences: strings(&["https://kubernetes.default.svc"]),
            expiration_seconds: Some(3600),
            bound_object_ref: Some(authentication::v1::BoundObjectReference {
                kind: Some("Pod".into()),
                api_version: Some("v1".into()),
                name: Some("runner".into()),
                u_id: Some("8a8c5a3e-0000-4000-8000-000000000001".into()),
            }),
        }),
        status: Some(authentication::v1::TokenRequestStatus {
            token: Some(String::new()),
            expiration_timestamp: Some(meta::Time::default()),
        }),
    };
    assert_json(
        &decode(&envelope("authentication.k8s.io/v1", "TokenRequest", &object)).unwrap(),
        &json!({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"name": "builder", "namespace": "ci", "creationTimestamp": null},
                "spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 3600,
                         "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "runner",
                                            "uid": "8a8c5a3e-0000-4000-8000-000000000001"}},
                "status": {"token": "", "expirationTimestamp": null}}),
    );
}

#[test]
fn token_review_and_self_subject_rules_review() {
    let review = authentication::v1::TokenReview {
        metadata: Some(object_meta("", "")),
        spec: Some(authentication::v1::TokenReviewSpec { token: Some("k8s-aws-v1.abc".into()), audiences: vec![] }),
        status: Some(authentication::v1::TokenReviewStatus {
            authenticated: Some(false),
            user: Some(Default::default()),
            audiences: vec![],
            error: Some(String::new()),
        }),
    };
    assert_json(
        &decode(&envelope("authentication.k8s.io/v1", "TokenReview", &review)).unwrap(),
        &json!({"kind": "TokenReview", "apiVersion": "authentication.k8s.io/v1",
                "metadata": {"creationTimestamp": null},
                "spec": {"token": "k8s-aws-v1.abc"},
                "status": {"user": {}}}),
    );
}

/// events.k8s.io/v1 carries a MicroTime, written with microseconds.
#[test]
fn event_micro_time_has_microseconds() {
    let object = events::v1::Event {
        metadata: Some(object_meta("web.1", "default")),
        event_time: Some(meta::MicroTime { seconds: Some(1_764_320_000), nanos: Some(123_456_789) }),
        reason: Some("Started".into()),
        r#type: Some("Normal".into()),
        deprecated_count: Some(0),
        ..Default::default()
    };
    assert_json(
        &decode(&envelope("events.k8s.io/v1", "Event", &object)).unwrap(),
        &json!({"kind": "Event", "apiVersion": "events.k8s.io/v1",
                "metadata": {"name": "web.1", "namespace": "default", "creationTimestamp": null},
                "eventTime": "2025-11-28T08:53:20.123456Z",
                "reason": "Started", "type": "Normal"}),
    );
}

#[test]
fn bad_bodies_get_the_decoders_message() {
    assert_eq!(decode(b"{\"kind\":\"ConfigMap\"}"), Err(Error::NotProtobuf));
    assert_eq!(decode(b"k8s\0").unwrap_err().to_string(), "no kind \"\" is registered for version \"\"");
    assert!(matches!(decode(b"k8s\0\x0a\xff"), Err(Error::Envelope(_))));
    let unknown = encode_envelope("v1", "Widget", &[]);
    assert_eq!(decode(&unknown).unwrap_err().to_string(), "no kind \"Widget\" is registered for version \"v1\"");
    let truncated = encode_envelope("v1", "ConfigMap", &[0x0a, 0x05, 0x0a]);
    let err = decode(&truncated).unwrap_err();
    assert!(matches!(err, Error::Object { ref kind, .. } if kind == "ConfigMap"), "{err}");
    let mut gzipped = MAGIC.to_vec();
    let mut unknown = DynamicMessage::new(message(UNKNOWN));
    unknown.set_field_by_name("contentEncoding", Field::String("gzip".into()));
    gzipped.extend(unknown.encode_to_vec());
    assert_eq!(decode(&gzipped).unwrap_err().to_string(), "unsupported protobuf envelope: content encoding \"gzip\"");
}

#[test]
fn embedded_json_must_be_json() {
    let mut entry = DynamicMessage::new(message("k8s.io.apimachinery.pkg.apis.meta.v1.ManagedFieldsEntry"));
    let mut fields = DynamicMessage::new(message(FIELDS_V1));
    fields.set_field_by_name("Raw", Field::Bytes(b"{\"f:data\":{}}".to_vec().into()));
    entry.set_field_by_name("manager", Field::String("kubectl".into()));
    entry.set_field_by_name("fieldsV1", Field::Message(fields.clone()));
    let mut meta = DynamicMessage::new(message("k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta"));
    meta.set_field_by_name("managedFields", Field::List(vec![Field::Message(entry.clone())]));
    let mut cm = DynamicMessage::new(kind_message("v1", "ConfigMap").unwrap());
    cm.set_field_by_name("metadata", Field::Message(meta.clone()));
    let decoded = decode(&encode_envelope("v1", "ConfigMap", &cm.encode_to_vec())).unwrap();
    assert_eq!(decoded["metadata"]["managedFields"], json!([{"manager": "kubectl", "fieldsV1": {"f:data": {}}}]));

    fields.set_field_by_name("Raw", Field::Bytes(b"{not json".to_vec().into()));
    entry.set_field_by_name("fieldsV1", Field::Message(fields));
    meta.set_field_by_name("managedFields", Field::List(vec![Field::Message(entry)]));
    cm.set_field_by_name("metadata", Field::Message(meta));
    let err = decode(&encode_envelope("v1", "ConfigMap", &cm.encode_to_vec())).unwrap_err();
    assert!(matches!(err, Error::EmbeddedJson { .. }), "{err}");
}

#[test]
fn every_served_kind_has_a_message() {
    for (api_version, kind) in [
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "Namespace"),
        ("v1", "ServiceAccount"),
        ("v1", "Service"),
        ("v1", "Pod"),
        ("v1", "Event"),
        ("v1", "Node"),
        ("apps/v1", "Deployment"),
        ("apps/v1", "ReplicaSet"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("authorization.k8s.io/v1", "LocalSubjectAccessReview"),
        ("authentication.k8s.io/v1", "SelfSubjectReview"),
        ("events.k8s.io/v1", "Event"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("policy/v1", "Eviction"),
        ("autoscaling/v1", "Scale"),
    ] {
        assert!(kind_message(api_version, kind).is_some(), "{api_version} {kind}");
    }
    assert!(kind_message("v1", "").is_none());
    assert!(kind_message("example.com/v1", "Widget").is_none());
}

#[test]
fn go_durations() {
    for (nanos, text) in [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (2_000_000, "2ms"),
        (1_500_000_000, "1.5s"),
        (60_000_000_000, "1m0s"),
        (3_600_000_000_000, "1h0m0s"),
        (3_723_000_000_000, "1h2m3s"),
        (-90_000_000_000, "-1m30s"),
    ] {
        assert_eq!(go_duration(nanos), text);
    }
}
