//! A container's environment as the kubelet makes it (`makeEnvironmentVariables`): the
//! service links (`KUBERNETES_SERVICE_HOST`, … and, with `enableServiceLinks`, every service
//! of the namespace), then `envFrom` (ConfigMaps and Secrets, with prefixes), then `env`
//! (values, and `valueFrom` ConfigMap and Secret keys, `fieldRef` and `resourceFieldRef`).
//! A missing ConfigMap, Secret or key that is not optional is the kubelet's
//! `CreateContainerConfigError` with its message.
//!
//! The runtime expands `$(VAR)` references afterwards, as the kubelet does for `env[].value`;
//! values that come from elsewhere are escaped (`$` → `$$`) so they stay literal.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::Engine as _;
use kube_core::meta;
use kubelet::EnvVar;
use serde_json::Value;

use crate::quantity;

/// The ConfigMaps and Secrets a container refers to, as fetched (`None`: not found).
#[derive(Default)]
pub(crate) struct Sources {
    pub configmaps: HashMap<String, Option<Value>>,
    pub secrets: HashMap<String, Option<Value>>,
}

/// What the environment of a container may read besides its pod.
pub(crate) struct Context<'a> {
    pub pod_ip: &'a str,
    pub host_ip: &'a str,
    /// The node's allocatable CPU (millicores) and memory (bytes), for `resourceFieldRef` of
    /// unset limits.
    pub node_cpu_millis: i64,
    pub node_memory_bytes: i64,
    /// The services whose links the container gets.
    pub services: &'a [std::sync::Arc<Value>],
}

/// The names of the ConfigMaps and Secrets a container's environment reads.
pub(crate) fn references(container: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut configmaps = BTreeSet::new();
    let mut secrets = BTreeSet::new();
    let name = |v: Option<&Value>| v.and_then(|r| r.get("name")).and_then(Value::as_str).map(str::to_string);
    for from in array(container, "/envFrom") {
        configmaps.extend(name(from.get("configMapRef")));
        secrets.extend(name(from.get("secretRef")));
    }
    for var in array(container, "/env") {
        configmaps.extend(name(var.pointer("/valueFrom/configMapKeyRef")));
        secrets.extend(name(var.pointer("/valueFrom/secretKeyRef")));
    }
    (configmaps, secrets)
}

fn array<'a>(value: &'a Value, pointer: &str) -> impl Iterator<Item = &'a Value> {
    value.pointer(pointer).and_then(Value::as_array).into_iter().flatten()
}

fn literal(name: impl Into<String>, value: &str) -> EnvVar {
    EnvVar::new(name, value.replace('$', "$$"))
}

/// `[-._a-zA-Z][-._a-zA-Z0-9]*`, the names the kubelet accepts from `envFrom`.
fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || "-._".contains(c))
        && chars.all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
}

/// The string data of a ConfigMap, or the decoded data of a Secret.
fn data_of(object: &Value, secret: bool) -> BTreeMap<String, String> {
    let Some(map) = object.get("data").and_then(Value::as_object) else {
        return BTreeMap::new();
    };
    map.iter()
        .filter_map(|(k, v)| {
            let text = v.as_str()?;
            let value = if secret {
                String::from_utf8_lossy(&base64::engine::general_purpose::STANDARD.decode(text).ok()?).into_owned()
            } else {
                text.to_string()
            };
            Some((k.clone(), value))
        })
        .collect()
}

/// The `*_SERVICE_HOST` / `*_PORT` variables of one service (docker links' format).
fn service_links(service: &Value, vars: &mut Vec<EnvVar>) {
    let ip = service.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or_default();
    if ip.is_empty() || ip == "None" {
        return;
    }
    let ports: Vec<&Value> = array(service, "/spec/ports").collect();
    let Some(first) = ports.first() else { return };
    let prefix = meta::name(service).to_ascii_uppercase().replace('-', "_");
    let port_of = |p: &Value| p.get("port").and_then(Value::as_i64).unwrap_or_default();
    let protocol_of = |p: &Value| p.get("protocol").and_then(Value::as_str).unwrap_or("TCP").to_string();
    vars.push(literal(format!("{prefix}_SERVICE_HOST"), ip));
    vars.push(literal(format!("{prefix}_SERVICE_PORT"), &port_of(first).to_string()));
    for port in &ports {
        if let Some(name) = port.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) {
            let name = name.to_ascii_uppercase().replace('-', "_");
            vars.push(literal(format!("{prefix}_SERVICE_PORT_{name}"), &port_of(port).to_string()));
        }
    }
    vars.push(literal(
        format!("{prefix}_PORT"),
        &format!("{}://{ip}:{}", protocol_of(first).to_ascii_lowercase(), port_of(first)),
    ));
    for port in &ports {
        let (number, protocol) = (port_of(port), protocol_of(port));
        let base = format!("{prefix}_PORT_{number}_{protocol}");
        vars.push(literal(base.clone(), &format!("{}://{ip}:{number}", protocol.to_ascii_lowercase())));
        vars.push(literal(format!("{base}_PROTO"), &protocol.to_ascii_lowercase()));
        vars.push(literal(format!("{base}_PORT"), &number.to_string()));
        vars.push(literal(format!("{base}_ADDR"), ip));
    }
}

/// `metadata.labels` / `metadata.annotations` as the downward API formats a whole map.
fn format_map(map: &BTreeMap<String, String>) -> String {
    map.iter().map(|(k, v)| format!("{k}={v:?}")).collect::<Vec<_>>().join("\n")
}

fn field_ref(pod: &Value, path: &str, ctx: &Context<'_>) -> Result<String, String> {
    let text = |pointer: &str| pod.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_string();
    let subscript = |path: &str, prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|rest| rest.strip_prefix("['").or_else(|| rest.strip_prefix("[\"")))
            .and_then(|rest| rest.strip_suffix("']").or_else(|| rest.strip_suffix("\"]")))
            .map(str::to_string)
    };
    Ok(match path {
        "metadata.name" => meta::name(pod).to_string(),
        "metadata.namespace" => meta::namespace(pod).to_string(),
        "metadata.uid" => meta::uid(pod).to_string(),
        "metadata.labels" => format_map(&meta::labels(pod)),
        "metadata.annotations" => format_map(&meta::annotations(pod)),
        "spec.nodeName" => text("/spec/nodeName"),
        "spec.serviceAccountName" => text("/spec/serviceAccountName"),
        "status.hostIP" | "status.hostIPs" => ctx.host_ip.to_string(),
        "status.podIP" | "status.podIPs" => ctx.pod_ip.to_string(),
        other => {
            if let Some(key) = subscript(other, "metadata.labels") {
                meta::labels(pod).get(&key).cloned().unwrap_or_default()
            } else if let Some(key) = subscript(other, "metadata.annotations") {
                meta::annotations(pod).get(&key).cloned().unwrap_or_default()
            } else {
                return Err(format!("unsupported fieldPath: {other}"));
            }
        }
    })
}

fn resource_field_ref(pod: &Value, container: &Value, reference: &Value, ctx: &Context<'_>) -> Result<String, String> {
    let target = match reference.get("containerName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
        Some(name) => array(pod, "/spec/containers")
            .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
            .ok_or_else(|| format!("container {name} not found"))?,
        None => container,
    };
    let resource = reference.get("resource").and_then(Value::as_str).unwrap_or_default();
    let divisor = reference.get("divisor").and_then(Value::as_str).unwrap_or("1");
    let (kind, name) =
        resource.split_once('.').ok_or_else(|| format!("unsupported container resource : {resource}"))?;
    let set = target.pointer(&format!("/resources/{kind}/{name}")).and_then(Value::as_str);
    let ceil_div = |value: i64, by: i64| if by <= 0 { value } else { (value + by - 1) / by };
    match name {
        "cpu" => {
            let millis =
                set.and_then(quantity::millis).unwrap_or(if kind == "limits" { ctx.node_cpu_millis } else { 0 });
            let by = quantity::millis(divisor).unwrap_or(1000);
            Ok(ceil_div(millis, by).to_string())
        }
        "memory" | "ephemeral-storage" => {
            let bytes =
                set.and_then(quantity::units).unwrap_or(if kind == "limits" { ctx.node_memory_bytes } else { 0 });
            let by = quantity::units(divisor).unwrap_or(1);
            Ok(ceil_div(bytes, by).to_string())
        }
        _ => Err(format!("unsupported container resource : {resource}")),
    }
}

/// The environment of `container` of `pod`, or the kubelet's CreateContainerConfigError message.
pub(crate) fn resolve(
    pod: &Value,
    container: &Value,
    sources: &Sources,
    ctx: &Context<'_>,
) -> Result<Vec<EnvVar>, String> {
    let namespace = meta::namespace(pod);
    let mut vars = Vec::new();
    let links = pod.pointer("/spec/enableServiceLinks").and_then(Value::as_bool).unwrap_or(true);
    let mut services: Vec<&Value> = ctx
        .services
        .iter()
        .map(|s| s.as_ref())
        .filter(|s| {
            (links && meta::namespace(s) == namespace)
                || (meta::namespace(s) == "default" && meta::name(s) == "kubernetes")
        })
        .collect();
    services.sort_by_key(|s| (meta::namespace(s) != namespace, meta::name(s).to_string()));
    services.dedup_by_key(|s| meta::name(s).to_string());
    for service in services {
        service_links(service, &mut vars);
    }

    let lookup = |secret: bool, name: &str| -> Option<&Value> {
        let map = if secret { &sources.secrets } else { &sources.configmaps };
        map.get(name).and_then(Option::as_ref)
    };
    let missing =
        |secret: bool, name: &str| format!("{} {name:?} not found", if secret { "secret" } else { "configmap" });
    for from in array(container, "/envFrom") {
        let prefix = from.get("prefix").and_then(Value::as_str).unwrap_or_default();
        for (field, secret) in [("configMapRef", false), ("secretRef", true)] {
            let Some(reference) = from.get(field) else { continue };
            let name = reference.get("name").and_then(Value::as_str).unwrap_or_default();
            let optional = reference.get("optional").and_then(Value::as_bool).unwrap_or(false);
            match lookup(secret, name) {
                Some(object) => {
                    for (key, value) in data_of(object, secret) {
                        let full = format!("{prefix}{key}");
                        if valid_env_name(&full) {
                            vars.push(literal(full, &value));
                        }
                    }
                }
                None if optional => {}
                None => return Err(missing(secret, name)),
            }
        }
    }

    for var in array(container, "/env") {
        let name = var.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
        let Some(from) = var.get("valueFrom") else {
            vars.push(EnvVar::new(name, var.get("value").and_then(Value::as_str).unwrap_or_default()));
            continue;
        };
        let value = if let Some(reference) = from.get("fieldRef") {
            field_ref(pod, reference.get("fieldPath").and_then(Value::as_str).unwrap_or_default(), ctx)?
        } else if let Some(reference) = from.get("resourceFieldRef") {
            resource_field_ref(pod, container, reference, ctx)?
        } else {
            let (reference, secret, kind) = match (from.get("configMapKeyRef"), from.get("secretKeyRef")) {
                (Some(r), _) => (r, false, "ConfigMap"),
                (None, Some(r)) => (r, true, "Secret"),
                (None, None) => continue,
            };
            let source = reference.get("name").and_then(Value::as_str).unwrap_or_default();
            let key = reference.get("key").and_then(Value::as_str).unwrap_or_default();
            let optional = reference.get("optional").and_then(Value::as_bool).unwrap_or(false);
            match lookup(secret, source) {
                Some(object) => match data_of(object, secret).remove(key) {
                    Some(value) => value,
                    None if optional => continue,
                    None => return Err(format!("couldn't find key {key} in {kind} {namespace}/{source}")),
                },
                None if optional => continue,
                None => return Err(missing(secret, source)),
            }
        };
        vars.push(literal(name, &value));
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    fn ctx(services: &[Arc<Value>]) -> Context<'_> {
        Context {
            pod_ip: "192.168.1.5",
            host_ip: "192.168.0.10",
            node_cpu_millis: 3920,
            node_memory_bytes: 1 << 34,
            services,
        }
    }

    fn resolved(vars: Vec<EnvVar>) -> Vec<(String, String)> {
        kubelet::ContainerSpec { env: vars, ..Default::default() }.resolved_env()
    }

    #[test]
    fn service_links_env_from_and_value_from_in_the_kubelets_order() {
        let pod = json!({"metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1", "labels": {"app": "web", "tier": "a"}},
            "spec": {"nodeName": "node-a", "serviceAccountName": "default", "containers": []}});
        let container = json!({"name": "c",
        "resources": {"requests": {"memory": "64Mi"}, "limits": {"cpu": "500m"}},
        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}, {"secretRef": {"name": "creds"}}],
        "env": [
            {"name": "GREETING", "value": "hello $(CFG_color)"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "LABELS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
            {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "requests.memory", "divisor": "1Mi"}}},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
            {"name": "DOLLARS", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "price"}}},
            {"name": "NONE", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k", "optional": true}}},
        ]});
        let mut sources = Sources::default();
        sources
            .configmaps
            .insert("settings".into(), Some(json!({"data": {"color": "blue", "price": "$(5)", "bad key": "x"}})));
        sources.configmaps.insert("absent".into(), None);
        sources.secrets.insert("creds".into(), Some(json!({"data": {"token": "czNjcjN0"}})));
        let services = vec![
            Arc::new(json!({"metadata": {"name": "kubernetes", "namespace": "default"},
                "spec": {"clusterIP": "10.100.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}})),
            Arc::new(json!({"metadata": {"name": "web-api", "namespace": "shop"},
                "spec": {"clusterIP": "10.100.7.7", "ports": [{"port": 80, "protocol": "TCP"}]}})),
            Arc::new(json!({"metadata": {"name": "other", "namespace": "elsewhere"},
                "spec": {"clusterIP": "10.100.9.9", "ports": [{"port": 80}]}})),
        ];
        let env = resolved(resolve(&pod, &container, &sources, &ctx(&services)).unwrap());
        let get = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(env[0], ("WEB_API_SERVICE_HOST".into(), "10.100.7.7".into()), "the namespace's own services first");
        assert_eq!(get("KUBERNETES_SERVICE_HOST"), Some("10.100.0.1"));
        assert_eq!(get("KUBERNETES_SERVICE_PORT_HTTPS"), Some("443"));
        assert_eq!(get("KUBERNETES_PORT_443_TCP"), Some("tcp://10.100.0.1:443"));
        assert_eq!(get("OTHER_SERVICE_HOST"), None);
        assert_eq!(get("CFG_color"), Some("blue"));
        assert_eq!(get("CFG_bad key"), None, "invalid names from envFrom are skipped");
        assert_eq!(get("token"), Some("s3cr3t"));
        assert_eq!(get("GREETING"), Some("hello blue"));
        assert_eq!(get("POD"), Some("web-1"));
        assert_eq!(get("APP"), Some("web"));
        assert_eq!(get("LABELS"), Some("app=\"web\"\ntier=\"a\""));
        assert_eq!(get("IP"), Some("192.168.1.5"));
        assert_eq!(get("CPU"), Some("500"));
        assert_eq!(get("MEM_MI"), Some("64"));
        assert_eq!(get("TOKEN"), Some("s3cr3t"));
        assert_eq!(get("DOLLARS"), Some("$(5)"), "values from ConfigMaps are not expanded");
        assert_eq!(get("NONE"), None);

        let no_links = json!({"metadata": {"name": "p", "namespace": "shop"}, "spec": {"enableServiceLinks": false}});
        let env = resolved(resolve(&no_links, &json!({"name": "c"}), &Sources::default(), &ctx(&services)).unwrap());
        assert!(env.iter().any(|(n, _)| n == "KUBERNETES_SERVICE_HOST"), "the API server's links are always there");
        assert!(!env.iter().any(|(n, _)| n == "WEB_API_SERVICE_HOST"));
    }

    #[test]
    fn missing_sources_are_the_kubelets_errors() {
        let pod = json!({"metadata": {"name": "p", "namespace": "default"}, "spec": {}});
        let mut sources = Sources::default();
        sources.configmaps.insert("cm".into(), Some(json!({"data": {"a": "1"}})));
        sources.configmaps.insert("gone".into(), None);
        sources.secrets.insert("s".into(), None);
        let cases = [
            (json!({"envFrom": [{"configMapRef": {"name": "gone"}}]}), "configmap \"gone\" not found"),
            (
                json!({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}),
                "secret \"s\" not found",
            ),
            (
                json!({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "b"}}}]}),
                "couldn't find key b in ConfigMap default/cm",
            ),
        ];
        for (container, message) in cases {
            assert_eq!(resolve(&pod, &container, &sources, &ctx(&[])).unwrap_err(), message);
        }
        let container = json!({"envFrom": [{"configMapRef": {"name": "cm"}}, {"secretRef": {"name": "s", "optional": true}}],
            "env": [{"name": "Y", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "b", "optional": true}}}]});
        assert!(resolve(&pod, &container, &sources, &ctx(&[])).is_ok());
        let (configmaps, secrets) = references(&json!({"envFrom": [{"configMapRef": {"name": "a"}}],
            "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "b", "key": "k"}}}]}));
        assert_eq!(
            (configmaps.into_iter().collect::<Vec<_>>(), secrets.into_iter().collect::<Vec<_>>()),
            (vec!["a".to_string()], vec!["b".to_string()])
        );
    }
}
