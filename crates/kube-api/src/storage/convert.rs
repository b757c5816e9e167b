//! Conversion between the versions that share one storage: events.k8s.io/v1 Events are stored
//! as core/v1 Events (as kube-apiserver stores both in `/registry/events`), and custom
//! resources served in several versions only change `apiVersion` (conversion strategy `None`).

use serde_json::{Map, Value};

use crate::registry::kinds::EVENTS_GROUP;

/// (events.k8s.io/v1 field, core/v1 field) pairs that only differ by name.
const EVENT_RENAMES: &[(&str, &str)] = &[
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
    ("reportingController", "reportingComponent"),
];

fn rename(object: Value, api_version: &str, to_core: bool) -> Value {
    let Value::Object(map) = object else { return object };
    let mut out = Map::new();
    out.insert("kind".into(), "Event".into());
    out.insert("apiVersion".into(), api_version.into());
    for (key, value) in map {
        if key == "kind" || key == "apiVersion" {
            continue;
        }
        let renamed = EVENT_RENAMES
            .iter()
            .find_map(|(v1, core)| if to_core { (*v1 == key).then_some(*core) } else { (*core == key).then_some(*v1) })
            .unwrap_or(key.as_str())
            .to_string();
        out.insert(renamed, value);
    }
    Value::Object(out)
}

/// An events.k8s.io/v1 Event in its stored core/v1 form.
pub fn event_to_core(object: Value) -> Value {
    rename(object, "v1", true)
}

/// A stored core/v1 Event as events.k8s.io/v1.
pub fn event_from_core(object: Value) -> Value {
    rename(object, "events.k8s.io/v1", false)
}

/// Make a stored object what `group`/`version` serves: events converted, custom resources'
/// `apiVersion` set.
pub fn to_served(object: Value, group: &str, version: &str) -> Value {
    if group == EVENTS_GROUP {
        return event_from_core(object);
    }
    let api_version = kube_core::meta::api_version(group, version);
    let mut object = object;
    if object.get("apiVersion").and_then(Value::as_str) != Some(api_version.as_str())
        && let Some(map) = object.as_object_mut()
    {
        map.insert("apiVersion".into(), api_version.into());
    }
    object
}

/// The storage form of an object written through `group`.
pub fn to_stored(object: Value, group: &str) -> Value {
    if group == EVENTS_GROUP { event_to_core(object) } else { object }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_round_trip() {
        let v1 = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e"},
            "regarding": {"kind": "Pod", "name": "p"}, "note": "hi", "reportingController": "x", "reason": "R"});
        let core = event_to_core(v1.clone());
        assert_eq!(core["involvedObject"]["name"], "p");
        assert_eq!(core["message"], "hi");
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(event_from_core(core), v1);
    }
}
