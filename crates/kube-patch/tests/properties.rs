//! Properties checked on generated objects and patches: strategic merge patch agrees with
//! `json-patch`'s RFC 7386 merge where no merge metadata applies, merges lists by key without
//! losing or duplicating items, and server-side apply is idempotent and conflict-free for
//! managers applying equal values.

use std::collections::BTreeSet;

use kube_patch::{FieldManager, PatchType, Schema, apply_patch};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-5i64..5).prop_map(|n| json!(n)),
        "[a-c]{0,2}".prop_map(Value::String),
    ]
}

/// JSON without `$` keys and without objects inside lists (where strategic merge patch drops
/// nulls and RFC 7386 keeps them).
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![scalar(), prop::collection::vec(scalar(), 0..3).prop_map(Value::Array)];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop::collection::btree_map("[a-d]", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect()))
    })
}

/// An object whose keys avoid `metadata`, the only ConfigMap field with merge metadata.
fn object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-d]", value(), 0..4).prop_map(|m| Value::Object(m.into_iter().collect()))
}

fn container() -> impl Strategy<Value = (String, Value)> {
    ("[a-e]", "[a-c]{1,2}", prop::option::of(0u16..3)).prop_map(|(name, image, port)| {
        let mut c = json!({"name": name, "image": image});
        if let Some(port) = port {
            c["ports"] = json!([{"containerPort": 8080 + port}]);
        }
        (name, c)
    })
}

/// Containers with distinct names.
fn containers() -> impl Strategy<Value = Vec<Value>> {
    containers_sized(0..5)
}

fn containers_sized(size: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(container(), size).prop_map(|items| {
        let mut seen = BTreeSet::new();
        items.into_iter().filter(|(name, _)| seen.insert(name.clone())).map(|(_, c)| c).collect()
    })
}

fn names(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect()
}

fn now() -> chrono::DateTime<chrono::Utc> {
    "2026-11-28T10:00:00Z".parse().unwrap()
}

proptest! {
    #[test]
    fn strategic_merge_patch_is_rfc7386_without_merge_metadata(live in object(), patch in object()) {
        let schema = Schema::builtin("", "v1", "ConfigMap").unwrap();
        let body = serde_json::to_vec(&patch).unwrap();
        let smp = apply_patch(&live, &body, PatchType::StrategicMerge, schema).unwrap();
        let mut rfc = live.clone();
        json_patch::merge(&mut rfc, &patch);
        prop_assert_eq!(&smp, &rfc);
        let merge = apply_patch(&live, &body, PatchType::Merge, schema).unwrap();
        prop_assert_eq!(merge, rfc);
    }

    #[test]
    fn containers_merge_by_name_without_loss_or_duplicates(live in containers(), patch in containers()) {
        let schema = Schema::builtin("", "v1", "Pod").unwrap();
        let live_obj = json!({"spec": {"containers": live}});
        let body = serde_json::to_vec(&json!({"spec": {"containers": patch}})).unwrap();
        let out = apply_patch(&live_obj, &body, PatchType::StrategicMerge, schema).unwrap();
        let merged = &out["spec"]["containers"];
        let got = names(merged);
        let want: BTreeSet<String> = names(&json!(live)).into_iter().chain(names(&json!(patch))).collect();
        prop_assert_eq!(got.len(), want.len(), "duplicates in {}", merged);
        prop_assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), want);
        for item in &patch {
            let merged_item = merged.as_array().unwrap().iter().find(|c| c["name"] == item["name"]).unwrap();
            prop_assert_eq!(&merged_item["image"], &item["image"]);
        }
    }

    // An applied empty list is owned by nobody, and the next apply gives it to
    // "before-first-apply" (as kube-apiserver does): idempotence holds from one container on.
    #[test]
    fn apply_is_idempotent(
        data in prop::collection::btree_map("[a-e]", "[a-c]{0,3}", 0..5),
        containers in containers_sized(1..5),
    ) {
        let cm = Schema::builtin("", "v1", "ConfigMap").unwrap();
        let fm = FieldManager::new(cm, "v1", "ConfigMap");
        let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": data});
        let once = fm.apply(None, &config, "kubectl", false, now()).unwrap();
        let twice = fm.apply(Some(&once), &config, "kubectl", false, now() + chrono::Duration::seconds(5)).unwrap();
        prop_assert_eq!(&once, &twice);

        let deploy = Schema::builtin("apps", "v1", "Deployment").unwrap();
        let fm = FieldManager::new(deploy, "apps/v1", "Deployment");
        let config = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": containers}}}});
        let once = fm.apply(None, &config, "kubectl", false, now()).unwrap();
        let twice = fm.apply(Some(&once), &config, "kubectl", false, now() + chrono::Duration::seconds(5)).unwrap();
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn equal_values_never_conflict_and_different_values_do_until_forced(
        data in prop::collection::btree_map("[a-e]", "[a-c]{1,3}", 1..5),
    ) {
        let cm = Schema::builtin("", "v1", "ConfigMap").unwrap();
        let fm = FieldManager::new(cm, "v1", "ConfigMap");
        let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": data});
        let first = fm.apply(None, &config, "one", false, now()).unwrap();
        let shared = fm.apply(Some(&first), &config, "two", false, now()).unwrap();
        prop_assert_eq!(&shared["data"], &first["data"]);
        prop_assert_eq!(shared["metadata"]["managedFields"].as_array().unwrap().len(), 2);

        let mut changed = config.clone();
        let key = data.keys().next().unwrap().clone();
        changed["data"][&key] = json!("changed");
        let err = fm.apply(Some(&shared), &changed, "two", false, now()).unwrap_err();
        prop_assert_eq!(err.code(), 409);
        prop_assert_eq!(
            err.status_message(),
            format!("Apply failed with 1 conflict: conflict with \"one\": .data.{key}")
        );
        let forced = fm.apply(Some(&shared), &changed, "two", true, now()).unwrap();
        prop_assert_eq!(&forced["data"][&key], "changed");
        let mut other_keys = Map::new();
        for k in data.keys().filter(|k| **k != key) {
            other_keys.insert(format!("f:{k}"), json!({}));
        }
        let one = forced["metadata"]["managedFields"].as_array().unwrap().iter().find(|e| e["manager"] == "one");
        match one {
            Some(entry) => prop_assert_eq!(&entry["fieldsV1"], &json!({"f:data": other_keys})),
            None => prop_assert!(other_keys.is_empty()),
        }
    }
}
