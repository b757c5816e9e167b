//! How each kind is defaulted, validated, updated, deleted and selected by field: kube-apiserver's
//! per-kind "strategies" (`pkg/registry/*/strategy.go`) and the API defaulting functions
//! (`pkg/apis/*/v1/defaults.go`), as plain functions over JSON objects.

use base64::Engine as _;
use kube_core::FieldError;
use kube_core::meta;
use kube_core::selector::LabelSelector;
use kube_core::validation::{self, NameRule};
use serde_json::{Map, Value, json};

/// A kind's behaviour. Every function has a harmless default, so a table entry only names what
/// differs (`..Strategy::default()`).
#[derive(Clone, Copy)]
pub struct Strategy {
    /// API defaulting, applied to every object written (create, update, patch results).
    pub defaults: fn(&mut Value),
    /// Create-time preparation (status reset, computed fields).
    pub prepare_create: fn(&mut Value),
    /// Update-time preparation: `new` is what will be stored, `old` what is stored now.
    pub prepare_update: fn(&mut Value, &Value),
    /// Validation of an object as a whole (create and update).
    pub validate: fn(&Value) -> Vec<FieldError>,
    /// Extra validation of an update (immutable fields).
    pub validate_update: fn(&Value, &Value) -> Vec<FieldError>,
    /// The value of a field label for field selectors; `None` when the label is not supported.
    pub field: fn(&Value, &str) -> Option<String>,
    pub name_rule: NameRule,
    /// `metadata.generation` is set at create and bumped on spec changes.
    pub generation: bool,
    /// A PUT of a missing object creates it.
    pub allow_create_on_update: bool,
    /// A delete answers with the deleted object instead of a Status.
    pub return_deleted_object: bool,
    /// Graceful deletion: the grace period (seconds) a delete without one gets, `None` when
    /// objects of this kind are deleted at once.
    pub default_grace: fn(&Value) -> Option<i64>,
}

impl Default for Strategy {
    fn default() -> Self {
        Strategy {
            defaults: |_| {},
            prepare_create: |_| {},
            prepare_update: |_, _| {},
            validate: |_| vec![],
            validate_update: |_, _| vec![],
            field: metadata_field,
            name_rule: NameRule::Dns1123Subdomain,
            generation: false,
            allow_create_on_update: false,
            return_deleted_object: false,
            default_grace: |_| None,
        }
    }
}

/// `metadata.name` and `metadata.namespace`, which every kind supports.
pub fn metadata_field(object: &Value, label: &str) -> Option<String> {
    match label {
        "metadata.name" => Some(meta::name(object).to_string()),
        "metadata.namespace" => Some(meta::namespace(object).to_string()),
        _ => None,
    }
}

fn str_at(object: &Value, pointer: &str) -> String {
    match object.pointer(pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Set `object[path...] = value` unless already present (creating objects on the way).
pub fn default_at(object: &mut Value, path: &[&str], value: Value) {
    let mut current = object;
    for (i, key) in path.iter().enumerate() {
        let Some(map) = current.as_object_mut() else { return };
        if i == path.len() - 1 {
            if map.get(*key).is_none_or(Value::is_null) {
                map.insert(key.to_string(), value);
            }
            return;
        }
        let entry = map.entry(key.to_string()).or_insert_with(|| Value::Object(Map::new()));
        if entry.is_null() {
            *entry = Value::Object(Map::new());
        }
        current = entry;
    }
}

fn array_mut<'a>(object: &'a mut Value, pointer: &str) -> Option<&'a mut Vec<Value>> {
    object.pointer_mut(pointer).and_then(Value::as_array_mut)
}

fn spec_changed(new: &Value, old: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("metadata");
            m.remove("status");
        }
        v
    };
    strip(new) != strip(old)
}

/// Bump `metadata.generation` when anything but metadata and status changed.
pub fn bump_generation(new: &mut Value, old: &Value) {
    let old_generation = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
    let generation = if spec_changed(new, old) { old_generation + 1 } else { old_generation };
    meta::metadata_mut(new).insert("generation".into(), generation.into());
}

/// Keep the stored status on a write of the main resource (kinds with a status subresource).
pub fn keep_status(new: &mut Value, old: &Value) {
    let Some(map) = new.as_object_mut() else { return };
    match old.get("status") {
        Some(status) => {
            map.insert("status".into(), status.clone());
        }
        None => {
            map.remove("status");
        }
    }
}

fn immutable(new: &Value, old: &Value, pointer: &str, field: &str) -> Option<FieldError> {
    let (a, b) = (new.pointer(pointer), old.pointer(pointer));
    (a != b).then(|| FieldError::invalid_raw(field, go_value(a.unwrap_or(&Value::Null)), "field is immutable"))
}

/// A rough rendering of a value the way Go's `%#v` shows it in messages.
fn go_value(value: &Value) -> String {
    match value {
        Value::String(s) => go_format::quote(s),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Pods and pod templates

/// `SetDefaults_Container` and friends for every container of a pod spec at `spec`.
fn default_pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    default_at(spec, &["restartPolicy"], "Always".into());
    default_at(spec, &["terminationGracePeriodSeconds"], 30.into());
    default_at(spec, &["dnsPolicy"], "ClusterFirst".into());
    default_at(spec, &["securityContext"], json!({}));
    default_at(spec, &["schedulerName"], "default-scheduler".into());
    for list in ["containers", "initContainers"] {
        if let Some(containers) = array_mut(spec, &format!("/{list}")) {
            for container in containers {
                default_container(container);
            }
        }
    }
}

fn default_container(container: &mut Value) {
    if !container.is_object() {
        return;
    }
    default_at(container, &["terminationMessagePath"], "/dev/termination-log".into());
    default_at(container, &["terminationMessagePolicy"], "File".into());
    default_at(container, &["resources"], json!({}));
    let image = str_at(container, "/image");
    let tag = image.rsplit('/').next().unwrap_or_default();
    let pull =
        if image.contains('@') || (tag.contains(':') && !tag.ends_with(":latest")) { "IfNotPresent" } else { "Always" };
    default_at(container, &["imagePullPolicy"], pull.into());
    if let Some(ports) = array_mut(container, "/ports") {
        for port in ports {
            default_at(port, &["protocol"], "TCP".into());
        }
    }
}

fn pod_defaults(pod: &mut Value) {
    if let Some(spec) = pod.get_mut("spec") {
        default_pod_spec(spec);
        default_at(spec, &["enableServiceLinks"], true.into());
    }
}

fn pod_prepare_create(pod: &mut Value) {
    // Admission's work on a new pod: the service account, priority and default tolerations.
    if let Some(spec) = pod.get_mut("spec").filter(|s| s.is_object()) {
        let sa = match str_at(spec, "/serviceAccountName") {
            s if s.is_empty() => str_at(spec, "/serviceAccount"),
            s => s,
        };
        let sa = if sa.is_empty() { "default".to_string() } else { sa };
        spec["serviceAccountName"] = sa.clone().into();
        spec["serviceAccount"] = sa.into();
        default_at(spec, &["priority"], 0.into());
        default_at(spec, &["preemptionPolicy"], "PreemptLowerPriority".into());
        let tolerations = spec.as_object_mut().expect("an object").entry("tolerations").or_insert_with(|| json!([]));
        if let Some(list) = tolerations.as_array_mut() {
            for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
                let present = list.iter().any(|t| {
                    t.get("key").and_then(Value::as_str) == Some(key)
                        && t.get("effect").and_then(Value::as_str).is_none_or(|e| e == "NoExecute")
                });
                if !present {
                    list.push(
                        json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}),
                    );
                }
            }
        }
        add_service_account_volume(spec);
    }
    let qos = qos_class(pod);
    pod["status"] = json!({"phase": "Pending", "qosClass": qos});
}

/// The ServiceAccount admission plugin's projected token volume and its mounts.
fn add_service_account_volume(spec: &mut Value) {
    if spec.get("automountServiceAccountToken").and_then(Value::as_bool) == Some(false) {
        return;
    }
    const MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
    let mounted = |c: &Value| {
        c.get("volumeMounts")
            .and_then(Value::as_array)
            .is_some_and(|m| m.iter().any(|v| v.get("mountPath").and_then(Value::as_str) == Some(MOUNT)))
    };
    let containers = spec.get("containers").and_then(Value::as_array).cloned().unwrap_or_default();
    if containers.iter().any(mounted) {
        return;
    }
    let name = format!("kube-api-access-{}", crate::registry::names::random_suffix());
    let volume = json!({
        "name": name,
        "projected": {
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
            ],
            "defaultMode": 420
        }
    });
    let spec_map = spec.as_object_mut().expect("an object");
    let volumes = spec_map.entry("volumes").or_insert_with(|| json!([]));
    if let Some(volumes) = volumes.as_array_mut() {
        volumes.push(volume);
    }
    for list in ["containers", "initContainers"] {
        if let Some(containers) = spec_map.get_mut(list).and_then(Value::as_array_mut) {
            for container in containers {
                if let Some(c) = container.as_object_mut() {
                    let mounts = c.entry("volumeMounts").or_insert_with(|| json!([]));
                    if let Some(mounts) = mounts.as_array_mut() {
                        mounts.push(json!({"name": name, "readOnly": true, "mountPath": MOUNT}));
                    }
                }
            }
        }
    }
}

/// `qos.GetPodQOS`, reduced to the common cases.
fn qos_class(pod: &Value) -> &'static str {
    let containers = pod.pointer("/spec/containers").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in &containers {
        let requests = c.pointer("/resources/requests").and_then(Value::as_object);
        let limits = c.pointer("/resources/limits").and_then(Value::as_object);
        if requests.is_some_and(|r| !r.is_empty()) || limits.is_some_and(|l| !l.is_empty()) {
            any = true;
        }
        for resource in ["cpu", "memory"] {
            let limit = limits.and_then(|l| l.get(resource));
            let request = requests.and_then(|r| r.get(resource)).or(limit);
            if limit.is_none() || request != limit {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn validate_containers(spec: &Value, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let containers = spec.get("containers").and_then(Value::as_array);
    match containers {
        None => errors.push(FieldError::required(format!("{path}.containers"))),
        Some(list) if list.is_empty() => errors.push(FieldError::required(format!("{path}.containers"))),
        Some(list) => {
            let mut seen = std::collections::HashSet::new();
            for (i, c) in list.iter().enumerate() {
                let name = str_at(c, "/name");
                let field = format!("{path}.containers[{i}]");
                if name.is_empty() {
                    errors.push(FieldError::required(format!("{field}.name")));
                } else {
                    for message in validation::dns1123_label(&name) {
                        errors.push(FieldError::invalid(format!("{field}.name"), &name, message));
                    }
                    if !seen.insert(name.clone()) {
                        errors.push(FieldError::duplicate(format!("{field}.name"), &name));
                    }
                }
                if str_at(c, "/image").trim().is_empty() {
                    errors.push(FieldError::required(format!("{field}.image")));
                }
            }
        }
    }
    if let Some(policy) = spec.get("restartPolicy").and_then(Value::as_str)
        && !["Always", "OnFailure", "Never"].contains(&policy)
    {
        errors.push(FieldError::not_supported(
            format!("{path}.restartPolicy"),
            policy,
            &["Always", "OnFailure", "Never"],
        ));
    }
    errors
}

fn pod_validate(pod: &Value) -> Vec<FieldError> {
    match pod.get("spec") {
        Some(spec) => validate_containers(spec, "spec"),
        None => vec![FieldError::required("spec.containers")],
    }
}

fn pod_validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
    // Only images, activeDeadlineSeconds, tolerations additions and the grace period may change.
    let strip = |pod: &Value| {
        let mut spec = pod.get("spec").cloned().unwrap_or(Value::Null);
        for list in ["containers", "initContainers"] {
            if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
                for c in containers {
                    if let Some(c) = c.as_object_mut() {
                        c.remove("image");
                    }
                }
            }
        }
        if let Some(s) = spec.as_object_mut() {
            s.remove("activeDeadlineSeconds");
            s.remove("tolerations");
            s.remove("terminationGracePeriodSeconds");
        }
        spec
    };
    if strip(new) != strip(old) {
        return vec![FieldError::forbidden(
            "spec",
            "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
        )];
    }
    vec![]
}

fn pod_field(pod: &Value, label: &str) -> Option<String> {
    Some(match label {
        "spec.nodeName" => str_at(pod, "/spec/nodeName"),
        "spec.restartPolicy" => str_at(pod, "/spec/restartPolicy"),
        "spec.schedulerName" => str_at(pod, "/spec/schedulerName"),
        "spec.serviceAccountName" => str_at(pod, "/spec/serviceAccountName"),
        "spec.hostNetwork" => pod.pointer("/spec/hostNetwork").and_then(Value::as_bool).unwrap_or(false).to_string(),
        "status.phase" => str_at(pod, "/status/phase"),
        "status.podIP" => str_at(pod, "/status/podIP"),
        "status.podIPs" => str_at(pod, "/status/podIPs/0/ip"),
        "status.nominatedNodeName" => str_at(pod, "/status/nominatedNodeName"),
        other => return metadata_field(pod, other),
    })
}

fn pod_default_grace(pod: &Value) -> Option<i64> {
    let phase = str_at(pod, "/status/phase");
    if str_at(pod, "/spec/nodeName").is_empty() || phase == "Succeeded" || phase == "Failed" {
        return None;
    }
    Some(pod.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30))
}

// ---------------------------------------------------------------------------------------------
// Workloads

fn default_template(object: &mut Value) {
    if let Some(spec) = object.pointer_mut("/spec/template/spec") {
        default_pod_spec(spec);
    }
    default_at(object, &["spec", "replicas"], 1.into());
}

fn deployment_defaults(d: &mut Value) {
    default_template(d);
    if d.get("spec").is_some_and(Value::is_object) {
        default_at(d, &["spec", "strategy", "type"], "RollingUpdate".into());
        if str_at(d, "/spec/strategy/type") == "RollingUpdate" {
            default_at(d, &["spec", "strategy", "rollingUpdate", "maxUnavailable"], "25%".into());
            default_at(d, &["spec", "strategy", "rollingUpdate", "maxSurge"], "25%".into());
        }
        default_at(d, &["spec", "revisionHistoryLimit"], 10.into());
        default_at(d, &["spec", "progressDeadlineSeconds"], 600.into());
    }
}

fn replicaset_defaults(rs: &mut Value) {
    default_template(rs);
}

fn reset_status(object: &mut Value) {
    if let Some(map) = object.as_object_mut() {
        map.insert("status".into(), json!({}));
    }
}

fn validate_selector_template(object: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let selector = object.pointer("/spec/selector");
    match LabelSelector::from_object(selector) {
        Ok(None) => errors.push(FieldError::required("spec.selector")),
        Ok(Some(sel)) if sel.is_empty() => {
            errors.push(FieldError::invalid_raw("spec.selector", "v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}", "empty selector is invalid for deployment"));
        }
        Ok(Some(sel)) => {
            let labels = meta::string_map(object.pointer("/spec/template/metadata/labels"));
            if !sel.matches(&labels) {
                let rendered = format!(
                    "map[string]string{{{}}}",
                    labels.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect::<Vec<_>>().join(", ")
                );
                errors.push(FieldError::invalid_raw(
                    "spec.template.metadata.labels",
                    rendered,
                    "`selector` does not match template `labels`",
                ));
            }
        }
        Err(e) => errors.push(FieldError::invalid_raw("spec.selector", "", e.to_string())),
    }
    if let Some(replicas) = object.pointer("/spec/replicas").and_then(Value::as_i64)
        && replicas < 0
    {
        errors.push(FieldError::invalid_raw(
            "spec.replicas",
            replicas.to_string(),
            "must be greater than or equal to 0",
        ));
    }
    match object.pointer("/spec/template/spec") {
        Some(spec) => errors.extend(validate_containers(spec, "spec.template.spec")),
        None => errors.push(FieldError::required("spec.template.spec.containers")),
    }
    errors
}

fn deployment_validate(d: &Value) -> Vec<FieldError> {
    let mut errors = validate_selector_template(d);
    if let Some(t) = d.pointer("/spec/strategy/type").and_then(Value::as_str)
        && t != "Recreate"
        && t != "RollingUpdate"
    {
        errors.push(FieldError::not_supported("spec.strategy.type", t, &["Recreate", "RollingUpdate"]));
    }
    errors
}

fn selector_immutable(new: &Value, old: &Value) -> Vec<FieldError> {
    if new.pointer("/spec/selector") != old.pointer("/spec/selector") {
        let rendered = new.pointer("/spec/selector").map(|s| s.to_string()).unwrap_or_else(|| "null".into());
        return vec![FieldError::invalid_raw("spec.selector", rendered, "field is immutable")];
    }
    vec![]
}

fn replicaset_field(rs: &Value, label: &str) -> Option<String> {
    match label {
        "status.replicas" => Some(rs.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0).to_string()),
        other => metadata_field(rs, other),
    }
}

// ---------------------------------------------------------------------------------------------
// ConfigMaps and Secrets

fn validate_data_keys(object: &Value, fields: &[&str]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut total = 0usize;
    for field in fields {
        if let Some(map) = object.get(*field).and_then(Value::as_object) {
            for (key, value) in map {
                for message in validation::config_map_key(key) {
                    errors.push(FieldError::invalid(format!("{field}[{key}]"), key, message));
                }
                if !seen.insert(key.clone()) && *field != "stringData" {
                    errors.push(FieldError::invalid(
                        format!("{field}[{key}]"),
                        key,
                        "duplicate of key present in data",
                    ));
                }
                total += key.len() + value.as_str().map_or(0, str::len);
            }
        }
    }
    if total > 1024 * 1024 {
        errors.push(FieldError {
            field: "[]".into(),
            kind: kube_core::status::FieldErrorKind::TooLong(String::new(), 1024 * 1024),
        });
    }
    errors
}

fn configmap_validate(cm: &Value) -> Vec<FieldError> {
    validate_data_keys(cm, &["data", "binaryData"])
}

fn immutable_data(new: &Value, old: &Value, fields: &[&str]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if old.get("immutable").and_then(Value::as_bool) == Some(true) {
        for field in fields {
            if new.get(*field) != old.get(*field) {
                errors.push(FieldError::forbidden(*field, "field is immutable when `immutable` is set"));
            }
        }
        if new.get("immutable") != old.get("immutable") {
            errors.push(FieldError::forbidden("immutable", "field is immutable when `immutable` is set"));
        }
    }
    errors
}

fn configmap_validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
    immutable_data(new, old, &["data", "binaryData"])
}

fn secret_defaults(secret: &mut Value) {
    default_at(secret, &["type"], "Opaque".into());
    // stringData is write-only: merged into data (base64) and dropped.
    let string_data = secret.as_object_mut().and_then(|m| m.remove("stringData"));
    if let Some(Value::Object(entries)) = string_data {
        let map = secret.as_object_mut().expect("an object");
        let data = map.entry("data").or_insert_with(|| json!({}));
        if data.is_null() {
            *data = json!({});
        }
        if let Some(data) = data.as_object_mut() {
            for (key, value) in entries {
                let text = value.as_str().unwrap_or_default();
                data.insert(key, base64::engine::general_purpose::STANDARD.encode(text).into());
            }
        }
    }
}

fn secret_validate(secret: &Value) -> Vec<FieldError> {
    let mut errors = validate_data_keys(secret, &["data"]);
    if let Some(data) = secret.get("data").and_then(Value::as_object) {
        for (key, value) in data {
            let valid = value.as_str().is_some_and(|s| base64::engine::general_purpose::STANDARD.decode(s).is_ok());
            if !valid {
                errors.push(FieldError::invalid_raw(
                    format!("data[{key}]"),
                    "\"<secret contents redacted>\"",
                    "illegal base64 data",
                ));
            }
        }
    }
    let has = |k: &str| secret.pointer(&format!("/data/{}", k.replace('/', "~1"))).is_some();
    match str_at(secret, "/type").as_str() {
        "kubernetes.io/tls" => {
            for key in ["tls.crt", "tls.key"] {
                if !has(key) {
                    errors.push(FieldError::required(format!("data[{key}]")));
                }
            }
        }
        "kubernetes.io/dockerconfigjson" if !has(".dockerconfigjson") => {
            errors.push(FieldError::required("data[.dockerconfigjson]"));
        }
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            errors.push(FieldError::required("data[username]"));
        }
        "kubernetes.io/ssh-auth" if !has("ssh-privatekey") => {
            errors.push(FieldError::required("data[ssh-privatekey]"));
        }
        _ => {}
    }
    errors
}

fn secret_validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let mut errors: Vec<FieldError> = immutable(new, old, "/type", "type").into_iter().collect();
    errors.extend(immutable_data(new, old, &["data"]));
    errors
}

fn secret_field(secret: &Value, label: &str) -> Option<String> {
    match label {
        "type" => Some(str_at(secret, "/type")),
        other => metadata_field(secret, other),
    }
}

// ---------------------------------------------------------------------------------------------
// Namespaces, nodes, services, events

fn namespace_defaults(ns: &mut Value) {
    let name = meta::name(ns).to_string();
    if !name.is_empty() {
        let labels = meta::metadata_mut(ns).entry("labels").or_insert_with(|| json!({}));
        if let Some(labels) = labels.as_object_mut() {
            labels.insert("kubernetes.io/metadata.name".into(), name.into());
        }
    }
}

fn namespace_prepare_create(ns: &mut Value) {
    let map = ns.as_object_mut().expect("an object");
    map.insert("spec".into(), json!({"finalizers": ["kubernetes"]}));
    map.insert("status".into(), json!({"phase": "Active"}));
}

fn namespace_prepare_update(new: &mut Value, old: &Value) {
    // spec.finalizers only change through /finalize; status through /status.
    if let Some(map) = new.as_object_mut() {
        match old.get("spec") {
            Some(spec) => map.insert("spec".into(), spec.clone()),
            None => map.remove("spec"),
        };
    }
    keep_status(new, old);
}

fn namespace_field(ns: &Value, label: &str) -> Option<String> {
    match label {
        "status.phase" => Some(str_at(ns, "/status/phase")),
        "metadata.name" => Some(meta::name(ns).to_string()),
        _ => None,
    }
}

fn node_field(node: &Value, label: &str) -> Option<String> {
    match label {
        "spec.unschedulable" => {
            Some(node.pointer("/spec/unschedulable").and_then(Value::as_bool).unwrap_or(false).to_string())
        }
        "metadata.name" => Some(meta::name(node).to_string()),
        _ => None,
    }
}

fn service_defaults(svc: &mut Value) {
    if !svc.get("spec").is_some_and(Value::is_object) {
        return;
    }
    default_at(svc, &["spec", "type"], "ClusterIP".into());
    default_at(svc, &["spec", "sessionAffinity"], "None".into());
    let type_ = str_at(svc, "/spec/type");
    if type_ != "ExternalName" {
        default_at(svc, &["spec", "internalTrafficPolicy"], "Cluster".into());
    }
    if type_ == "NodePort" || type_ == "LoadBalancer" {
        default_at(svc, &["spec", "externalTrafficPolicy"], "Cluster".into());
    }
    if type_ == "LoadBalancer" {
        default_at(svc, &["spec", "allocateLoadBalancerNodePorts"], true.into());
    }
    if let Some(ports) = array_mut(svc, "/spec/ports") {
        for port in ports {
            default_at(port, &["protocol"], "TCP".into());
            if port.get("targetPort").is_none()
                && let Some(p) = port.get("port").cloned()
            {
                port["targetPort"] = p;
            }
        }
    }
}

fn service_prepare_create(svc: &mut Value) {
    if let Some(map) = svc.as_object_mut() {
        map.insert("status".into(), json!({"loadBalancer": {}}));
    }
}

fn service_validate(svc: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let type_ = str_at(svc, "/spec/type");
    if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].contains(&type_.as_str()) {
        errors.push(FieldError::not_supported(
            "spec.type",
            &type_,
            &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
        ));
    }
    let ports = svc.pointer("/spec/ports").and_then(Value::as_array);
    if type_ != "ExternalName" && ports.is_none_or(Vec::is_empty) && str_at(svc, "/spec/clusterIP") != "None" {
        errors.push(FieldError::required("spec.ports"));
    }
    for (i, port) in ports.into_iter().flatten().enumerate() {
        let number = port.get("port").and_then(Value::as_i64).unwrap_or(0);
        if !(1..=65535).contains(&number) {
            errors.push(FieldError::invalid_raw(
                format!("spec.ports[{i}].port"),
                number.to_string(),
                "must be between 1 and 65535, inclusive",
            ));
        }
    }
    if type_ == "ExternalName" && str_at(svc, "/spec/externalName").is_empty() {
        errors.push(FieldError::required("spec.externalName"));
    }
    errors
}

fn service_validate_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let old_ip = str_at(old, "/spec/clusterIP");
    let new_ip = str_at(new, "/spec/clusterIP");
    if !old_ip.is_empty() && !new_ip.is_empty() && old_ip != new_ip {
        return vec![FieldError::invalid("spec.clusterIPs[0]", &new_ip, "may not change once set")];
    }
    vec![]
}

fn service_prepare_update(new: &mut Value, old: &Value) {
    keep_status(new, old);
    // Allocated addresses and node ports survive updates that leave them out.
    for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
        let missing = new.pointer(&format!("/spec/{field}")).is_none();
        if missing
            && let (Some(value), Some(spec)) = (old.pointer(&format!("/spec/{field}")), new.get_mut("spec"))
            && let Some(spec) = spec.as_object_mut()
        {
            spec.insert(field.into(), value.clone());
        }
    }
}

fn service_field(svc: &Value, label: &str) -> Option<String> {
    match label {
        "spec.clusterIP" => Some(str_at(svc, "/spec/clusterIP")),
        "spec.type" => Some(str_at(svc, "/spec/type")),
        other => metadata_field(svc, other),
    }
}

/// Field labels of core/v1 events (`involvedObject.*`, `reason`, `source`, `type`, ...).
fn event_field(event: &Value, label: &str) -> Option<String> {
    Some(match label {
        "involvedObject.kind" => str_at(event, "/involvedObject/kind"),
        "involvedObject.namespace" => str_at(event, "/involvedObject/namespace"),
        "involvedObject.name" => str_at(event, "/involvedObject/name"),
        "involvedObject.uid" => str_at(event, "/involvedObject/uid"),
        "involvedObject.apiVersion" => str_at(event, "/involvedObject/apiVersion"),
        "involvedObject.resourceVersion" => str_at(event, "/involvedObject/resourceVersion"),
        "involvedObject.fieldPath" => str_at(event, "/involvedObject/fieldPath"),
        "reason" => str_at(event, "/reason"),
        "reportingComponent" => str_at(event, "/reportingComponent"),
        "source" => str_at(event, "/source/component"),
        "type" => str_at(event, "/type"),
        other => return metadata_field(event, other),
    })
}

/// Field labels of events.k8s.io/v1 events, over the stored core/v1 form.
fn events_v1_field(event: &Value, label: &str) -> Option<String> {
    match label.strip_prefix("regarding.") {
        Some(rest) => event_field(event, &format!("involvedObject.{rest}")),
        None => match label {
            "reportingController" => Some(str_at(event, "/reportingComponent")),
            "deprecatedSource.component" => Some(str_at(event, "/source/component")),
            "deprecatedSource.host" => Some(str_at(event, "/source/host")),
            "note" => Some(str_at(event, "/message")),
            "reason" | "type" | "metadata.name" | "metadata.namespace" => event_field(event, label),
            _ => None,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// RBAC: validation is the rbac crate's.

fn rbac_errors(errors: Vec<rbac::FieldError>) -> Vec<FieldError> {
    errors.into_iter().map(|e| FieldError::rendered(e.field.clone(), e.error_type.cause_type(), e.body())).collect()
}

fn typed<T: serde::de::DeserializeOwned>(object: &Value) -> Result<T, Vec<FieldError>> {
    serde_json::from_value(object.clone()).map_err(|e| vec![FieldError::invalid_raw("", "", e.to_string())])
}

fn role_validate(object: &Value) -> Vec<FieldError> {
    typed::<rbac::Role>(object).map(|r| rbac_errors(rbac::validate_role(&r))).unwrap_or_else(|e| e)
}

fn cluster_role_validate(object: &Value) -> Vec<FieldError> {
    typed::<rbac::ClusterRole>(object).map(|r| rbac_errors(rbac::validate_cluster_role(&r))).unwrap_or_else(|e| e)
}

fn role_binding_validate(object: &Value) -> Vec<FieldError> {
    typed::<rbac::RoleBinding>(object).map(|b| rbac_errors(rbac::validate_role_binding(&b))).unwrap_or_else(|e| e)
}

fn cluster_role_binding_validate(object: &Value) -> Vec<FieldError> {
    typed::<rbac::ClusterRoleBinding>(object)
        .map(|b| rbac_errors(rbac::validate_cluster_role_binding(&b)))
        .unwrap_or_else(|e| e)
}

fn role_ref_update(new: &Value, old: &Value) -> Vec<FieldError> {
    let parse = |v: &Value| serde_json::from_value::<rbac::RoleRef>(v.get("roleRef").cloned().unwrap_or(Value::Null));
    match (parse(new), parse(old)) {
        (Ok(n), Ok(o)) => rbac_errors(rbac::validate_role_ref_update(&n, &o)),
        _ => vec![],
    }
}

// ---------------------------------------------------------------------------------------------
// The table's strategies.

pub fn pods() -> Strategy {
    Strategy {
        defaults: pod_defaults,
        prepare_create: pod_prepare_create,
        prepare_update: keep_status,
        validate: pod_validate,
        validate_update: pod_validate_update,
        field: pod_field,
        return_deleted_object: true,
        default_grace: pod_default_grace,
        ..Strategy::default()
    }
}

pub fn configmaps() -> Strategy {
    Strategy { validate: configmap_validate, validate_update: configmap_validate_update, ..Strategy::default() }
}

pub fn secrets() -> Strategy {
    Strategy {
        defaults: secret_defaults,
        validate: secret_validate,
        validate_update: secret_validate_update,
        field: secret_field,
        ..Strategy::default()
    }
}

pub fn namespaces() -> Strategy {
    Strategy {
        defaults: namespace_defaults,
        prepare_create: namespace_prepare_create,
        prepare_update: namespace_prepare_update,
        field: namespace_field,
        name_rule: NameRule::Dns1123Label,
        return_deleted_object: true,
        ..Strategy::default()
    }
}

pub fn nodes() -> Strategy {
    Strategy { prepare_update: keep_status, field: node_field, allow_create_on_update: false, ..Strategy::default() }
}

pub fn services() -> Strategy {
    Strategy {
        defaults: service_defaults,
        prepare_create: service_prepare_create,
        prepare_update: service_prepare_update,
        validate: service_validate,
        validate_update: service_validate_update,
        field: service_field,
        name_rule: NameRule::Dns1035Label,
        ..Strategy::default()
    }
}

pub fn endpoints() -> Strategy {
    Strategy { allow_create_on_update: true, ..Strategy::default() }
}

pub fn serviceaccounts() -> Strategy {
    Strategy::default()
}

pub fn events() -> Strategy {
    Strategy { field: event_field, allow_create_on_update: true, ..Strategy::default() }
}

pub fn events_v1() -> Strategy {
    Strategy { field: events_v1_field, allow_create_on_update: true, ..Strategy::default() }
}

pub fn deployments() -> Strategy {
    Strategy {
        defaults: deployment_defaults,
        prepare_create: reset_status,
        prepare_update: keep_status,
        validate: deployment_validate,
        validate_update: selector_immutable,
        generation: true,
        ..Strategy::default()
    }
}

pub fn replicasets() -> Strategy {
    Strategy {
        defaults: replicaset_defaults,
        prepare_create: reset_status,
        prepare_update: keep_status,
        validate: validate_selector_template,
        validate_update: selector_immutable,
        field: replicaset_field,
        generation: true,
        ..Strategy::default()
    }
}

pub fn roles() -> Strategy {
    Strategy {
        validate: role_validate,
        name_rule: NameRule::PathSegment,
        allow_create_on_update: true,
        ..Strategy::default()
    }
}

pub fn cluster_roles() -> Strategy {
    Strategy {
        validate: cluster_role_validate,
        name_rule: NameRule::PathSegment,
        allow_create_on_update: true,
        ..Strategy::default()
    }
}

pub fn role_bindings() -> Strategy {
    Strategy {
        validate: role_binding_validate,
        validate_update: role_ref_update,
        name_rule: NameRule::PathSegment,
        allow_create_on_update: true,
        ..Strategy::default()
    }
}

pub fn cluster_role_bindings() -> Strategy {
    Strategy {
        validate: cluster_role_binding_validate,
        validate_update: role_ref_update,
        name_rule: NameRule::PathSegment,
        allow_create_on_update: true,
        ..Strategy::default()
    }
}

/// Reviews are never stored; their names are not validated.
pub fn reviews() -> Strategy {
    Strategy::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_get_kubernetes_defaults() {
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}]}});
        (pods().defaults)(&mut pod);
        (pods().prepare_create)(&mut pod);
        assert_eq!(pod["spec"]["restartPolicy"], "Always");
        assert_eq!(pod["spec"]["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(pod["spec"]["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(pod["spec"]["serviceAccountName"], "default");
        assert_eq!(pod["status"]["phase"], "Pending");
        assert_eq!(pod["status"]["qosClass"], "BestEffort");
        assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 2);
        assert!(pod["spec"]["volumes"][0]["name"].as_str().unwrap().starts_with("kube-api-access-"));
        let mut tagged = json!({"image": "nginx:1.27"});
        default_container(&mut tagged);
        assert_eq!(tagged["imagePullPolicy"], "IfNotPresent");
    }

    #[test]
    fn deployment_validation_messages() {
        let mut d = json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "other"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
        (deployments().defaults)(&mut d);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        let errors = deployment_validate(&d);
        assert_eq!(
            errors[0].to_string(),
            "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`"
        );
    }

    #[test]
    fn secrets_merge_string_data() {
        let mut s = json!({"metadata": {"name": "s"}, "stringData": {"p": "q"}});
        secret_defaults(&mut s);
        assert_eq!(s, json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"p": "cQ=="}}));
        assert!(secret_validate(&json!({"type": "kubernetes.io/tls", "data": {}})).len() == 2);
    }

    #[test]
    fn generation_follows_spec() {
        let old = json!({"metadata": {"generation": 1}, "spec": {"replicas": 1}});
        let mut same = json!({"metadata": {"generation": 1, "labels": {"a": "b"}}, "spec": {"replicas": 1}});
        bump_generation(&mut same, &old);
        assert_eq!(same["metadata"]["generation"], 1);
        let mut changed = json!({"metadata": {}, "spec": {"replicas": 2}});
        bump_generation(&mut changed, &old);
        assert_eq!(changed["metadata"]["generation"], 2);
    }
}
