//! Events as the components record them (core/v1, as client-go's event recorder writes them):
//! `<object>.<hex nanoseconds>` names, the involved object with its field path for container
//! events, `source` and `reportingComponent`, and repeats of the same event folded into one
//! with a growing `count` (what `kubectl describe` shows as `x3 over 2m`). After ten distinct
//! messages of the same reason about the same object (a ReplicaSet creating a thousand pods),
//! further ones fold into one event `(combined from similar events): …`, as client-go's
//! aggregator does.
//!
//! Writes are asynchronous and never block a controller; a failed write is logged and dropped,
//! as the recorder drops events it cannot write.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use kube_api::Target;
use kube_core::meta;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::api::{self, Api};

/// How many event writes may be in flight at once.
const CONCURRENT_WRITES: usize = 256;
/// How many distinct events are remembered for folding repeats.
const REMEMBERED: usize = 8192;
/// Distinct messages of one reason about one object before they are combined.
const SIMILAR: usize = 10;

/// Who records: `component` (`kubelet`, `default-scheduler`, `replicaset-controller`, …) and,
/// for the kubelet, its node.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    pub component: &'static str,
    pub host: Option<String>,
}

impl Source {
    pub(crate) fn kubelet(node: &str) -> Self {
        Self { component: "kubelet", host: Some(node.to_string()) }
    }

    pub(crate) fn controller(component: &'static str) -> Self {
        Self { component, host: None }
    }
}

/// `Normal` or `Warning`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Warning => "Warning",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Identity {
    uid: String,
    field_path: String,
    reason: String,
    message: String,
    component: &'static str,
}

/// (object uid, reason, type, component): events that differ only by their message.
type SimilarKey = (String, String, EventType, &'static str);

/// The last event written for an identity.
#[derive(Default)]
struct Written {
    namespace: String,
    name: String,
    count: i64,
}

/// Writes the events of one cluster.
pub(crate) struct Recorder {
    api: Arc<Api>,
    written: Mutex<HashMap<Identity, Arc<tokio::sync::Mutex<Written>>>>,
    /// (object uid, reason, type, component) → the distinct messages seen.
    similar: Mutex<HashMap<SimilarKey, HashSet<String>>>,
    writes: Arc<Semaphore>,
}

/// The event object for `involved` (pure, for tests and the recorder).
#[allow(clippy::too_many_arguments)]
pub(crate) fn event_object(
    involved: &Value,
    field_path: Option<&str>,
    event_type: EventType,
    reason: &str,
    message: &str,
    source: &Source,
    now: DateTime<Utc>,
) -> Value {
    let namespace = match meta::namespace(involved) {
        "" => "default",
        ns => ns,
    };
    let mut reference = json!({
        "kind": involved.get("kind").and_then(Value::as_str).unwrap_or_default(),
        "namespace": meta::namespace(involved),
        "name": meta::name(involved),
        "uid": meta::uid(involved),
        "apiVersion": involved.get("apiVersion").and_then(Value::as_str).unwrap_or_default(),
        "resourceVersion": meta::resource_version(involved),
    });
    if meta::namespace(involved).is_empty() {
        reference.as_object_mut().map(|r| r.remove("namespace"));
    }
    if let Some(path) = field_path {
        reference["fieldPath"] = path.into();
    }
    let mut source_json = json!({"component": source.component});
    if let Some(host) = &source.host {
        source_json["host"] = host.clone().into();
    }
    let nanos = now.timestamp_nanos_opt().unwrap_or_default();
    json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{}.{:x}", meta::name(involved), nanos), "namespace": namespace},
        "involvedObject": reference,
        "reason": reason,
        "message": message,
        "source": source_json,
        "firstTimestamp": meta::format_time(now),
        "lastTimestamp": meta::format_time(now),
        "count": 1,
        "type": event_type.as_str(),
        "eventTime": null,
        "reportingComponent": source.component,
        "reportingInstance": source.host.clone().unwrap_or_default(),
    })
}

impl Recorder {
    pub(crate) fn new(api: Arc<Api>) -> Arc<Self> {
        Arc::new(Self {
            api,
            written: Mutex::new(HashMap::new()),
            similar: Mutex::new(HashMap::new()),
            writes: Arc::new(Semaphore::new(CONCURRENT_WRITES)),
        })
    }

    /// Records an event about `involved` (a container's when `field_path` is set).
    pub(crate) fn record(
        self: &Arc<Self>,
        involved: &Value,
        field_path: Option<&str>,
        event_type: EventType,
        reason: &str,
        message: impl Into<String>,
        source: &Source,
    ) {
        self.record_at(involved, field_path, event_type, reason, message, source, Utc::now());
    }

    /// Records an event that happened at `at` (before the write that confirmed it).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record_at(
        self: &Arc<Self>,
        involved: &Value,
        field_path: Option<&str>,
        event_type: EventType,
        reason: &str,
        message: impl Into<String>,
        source: &Source,
        at: DateTime<Utc>,
    ) {
        let mut message = message.into();
        let mut identity_message = message.clone();
        {
            let mut similar = self.similar.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if similar.len() >= REMEMBERED {
                similar.clear();
            }
            let key = (meta::uid(involved).to_string(), reason.to_string(), event_type, source.component);
            let seen = similar.entry(key).or_default();
            if !seen.contains(&message) {
                if seen.len() >= SIMILAR {
                    identity_message.clear();
                    message = format!("(combined from similar events): {message}");
                } else {
                    seen.insert(message.clone());
                }
            }
        }
        let identity = Identity {
            uid: meta::uid(involved).to_string(),
            field_path: field_path.unwrap_or_default().to_string(),
            reason: reason.to_string(),
            message: identity_message,
            component: source.component,
        };
        let slot = {
            let mut written = self.written.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if written.len() >= REMEMBERED {
                written.clear();
            }
            Arc::clone(written.entry(identity).or_default())
        };
        let event = event_object(involved, field_path, event_type, reason, &message, source, at);
        let recorder = Arc::clone(self);
        let component = source.component;
        tokio::spawn(async move {
            let Ok(_permit) = recorder.writes.acquire().await else { return };
            let mut slot = slot.lock().await;
            let mut ctx = match component {
                "kubelet" => api::kubelet(event["source"]["host"].as_str().unwrap_or_default()),
                "default-scheduler" => api::scheduler(),
                other => api::controller(other),
            };
            if slot.count > 0 {
                let patch = json!({"count": slot.count + 1, "lastTimestamp": event["lastTimestamp"], "message": event["message"]});
                let patched =
                    recorder.api.merge_patch(&recorder.api.events, &slot.namespace, &slot.name, &patch, &mut ctx).await;
                if patched.is_ok() {
                    slot.count += 1;
                    return;
                }
            }
            let namespace = event["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
            match recorder
                .api
                .objects
                .create(&Target::collection(&recorder.api.events, &namespace), event, &mut ctx)
                .await
            {
                Ok(created) => {
                    *slot = Written { namespace, name: meta::name(&created).to_string(), count: 1 };
                }
                Err(status) => {
                    tracing::debug!(error = %status.message, "cannot record an event");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_event_as_the_kubelet_writes_it() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "default", "uid": "u-1", "resourceVersion": "42"}});
        let now = DateTime::parse_from_rfc3339("2026-11-28T09:19:07.5Z").unwrap().with_timezone(&Utc);
        let event = event_object(
            &pod,
            Some("spec.containers{nginx}"),
            EventType::Normal,
            "Started",
            "Started container nginx",
            &Source::kubelet("ip-192-168-0-10.ec2.internal"),
            now,
        );
        assert_eq!(event["metadata"]["name"], format!("web-1.{:x}", now.timestamp_nanos_opt().unwrap()));
        assert_eq!(event["involvedObject"]["fieldPath"], "spec.containers{nginx}");
        assert_eq!(event["involvedObject"]["uid"], "u-1");
        assert_eq!(event["source"], json!({"component": "kubelet", "host": "ip-192-168-0-10.ec2.internal"}));
        assert_eq!(event["firstTimestamp"], "2026-11-28T09:19:07Z");
        assert_eq!(event["count"], 1);

        let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "uid": "u-2"}});
        let event = event_object(&node, None, EventType::Warning, "X", "m", &Source::controller("c"), now);
        assert_eq!(event["metadata"]["namespace"], "default", "events about cluster objects live in default");
        assert!(event["involvedObject"].get("namespace").is_none());
        assert_eq!(event["type"], "Warning");
        assert_eq!(event["source"], json!({"component": "c"}));
    }
}
