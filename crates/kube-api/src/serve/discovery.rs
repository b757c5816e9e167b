//! Discovery, generated from the registry: aggregated discovery (`apidiscovery.k8s.io` v2 and
//! v2beta1, chosen by the Accept header as kube-apiserver does, so kubectl 1.27–1.33 each find
//! what they ask for) and legacy discovery (`/api`, `/apis`, `/apis/<g>`, `/api/v1`,
//! `/apis/<g>/<v>`). Documents are built once per registry change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use kube_core::Status;
use kube_core::media::parse_accept;
use serde_json::{Map, Value, json};

use crate::cluster::Cluster;
use crate::registry::{ResourceDef, Snapshot};
use crate::serve::responses::{body_response, header_str, status_response};

const AGGREGATED_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const AGGREGATED_V2BETA1: &str = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

/// The discovery documents of one registry generation, serialized.
pub struct Documents {
    generation: u64,
    legacy: HashMap<String, Bytes>,
    aggregated_v2: HashMap<&'static str, Bytes>,
    aggregated_v2beta1: HashMap<&'static str, Bytes>,
}

/// The documents of the registry's latest generation (the front holds one per cluster).
#[derive(Default)]
pub struct Cache(Mutex<Option<Arc<Documents>>>);

/// kube's version priority: GA before beta before alpha, higher numbers first.
pub fn version_priority(version: &str) -> (u8, i64, i64) {
    let Some(rest) = version.strip_prefix('v') else { return (0, 0, 0) };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major: i64 = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        return (3, major, 0);
    }
    let minor = |p: &str| tail.strip_prefix(p).and_then(|n| n.parse::<i64>().ok());
    match (minor("beta"), minor("alpha")) {
        (Some(n), _) => (2, major, n),
        (_, Some(n)) => (1, major, n),
        _ => (0, 0, 0),
    }
}

fn ordered_versions(mut versions: Vec<String>) -> Vec<String> {
    versions.sort_by(|a, b| version_priority(b).cmp(&version_priority(a)).then(a.cmp(b)));
    versions
}

fn scope(def: &ResourceDef) -> &'static str {
    if def.namespaced { "Namespaced" } else { "Cluster" }
}

fn aggregated_resource(def: &ResourceDef) -> Value {
    let mut m = Map::new();
    m.insert("resource".into(), def.plural.clone().into());
    m.insert("responseKind".into(), json!({"group": def.group, "version": def.version, "kind": def.kind}));
    m.insert("scope".into(), scope(def).into());
    m.insert("singularResource".into(), def.singular.clone().into());
    m.insert("verbs".into(), json!(def.verbs));
    if !def.short_names.is_empty() {
        m.insert("shortNames".into(), json!(def.short_names));
    }
    if !def.categories.is_empty() {
        m.insert("categories".into(), json!(def.categories));
    }
    if !def.subresources.is_empty() {
        let subs: Vec<Value> = def
            .subresources
            .iter()
            .map(|s| json!({"subresource": s.name, "responseKind": {"group": s.group, "version": s.version, "kind": s.kind}, "verbs": s.verbs}))
            .collect();
        m.insert("subresources".into(), Value::Array(subs));
    }
    Value::Object(m)
}

fn legacy_resources(defs: &[&Arc<ResourceDef>]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut sorted: Vec<&&Arc<ResourceDef>> = defs.iter().collect();
    sorted.sort_by(|a, b| a.plural.cmp(&b.plural));
    for def in sorted {
        let mut m = Map::new();
        m.insert("name".into(), def.plural.clone().into());
        m.insert("singularName".into(), def.singular.clone().into());
        m.insert("namespaced".into(), def.namespaced.into());
        m.insert("kind".into(), def.kind.clone().into());
        m.insert("verbs".into(), json!(def.verbs));
        if !def.short_names.is_empty() {
            m.insert("shortNames".into(), json!(def.short_names));
        }
        if !def.categories.is_empty() {
            m.insert("categories".into(), json!(def.categories));
        }
        out.push(Value::Object(m));
        for sub in &def.subresources {
            let mut s = Map::new();
            s.insert("name".into(), format!("{}/{}", def.plural, sub.name).into());
            s.insert("singularName".into(), "".into());
            s.insert("namespaced".into(), def.namespaced.into());
            if sub.group != def.group || sub.version != def.version {
                s.insert("group".into(), sub.group.clone().into());
                s.insert("version".into(), sub.version.clone().into());
            }
            s.insert("kind".into(), sub.kind.clone().into());
            s.insert("verbs".into(), json!(sub.verbs));
            out.push(Value::Object(s));
        }
    }
    out
}

fn bytes(value: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(value).expect("serializes"))
}

fn build(snapshot: &Snapshot, server_address: &str) -> Documents {
    let mut legacy = HashMap::new();
    let groups = snapshot.group_versions();
    let defs_of = |group: &str, version: &str| -> Vec<&Arc<ResourceDef>> {
        snapshot.resources.iter().filter(|d| d.group == group && d.version == version).collect()
    };
    let mut aggregated_core = Vec::new();
    let mut aggregated_groups = Vec::new();
    let mut group_list = Vec::new();
    for (group, versions) in &groups {
        let versions = ordered_versions(versions.clone());
        let mut aggregated_versions = Vec::new();
        for version in &versions {
            let defs = defs_of(group, version);
            let group_version = kube_core::meta::api_version(group, version);
            legacy.insert(
                if group.is_empty() { format!("/api/{version}") } else { format!("/apis/{group}/{version}") },
                bytes(&json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": legacy_resources(&defs)})),
            );
            let mut resources: Vec<&&Arc<ResourceDef>> = defs.iter().collect();
            resources.sort_by(|a, b| a.plural.cmp(&b.plural));
            aggregated_versions.push(json!({
                "version": version,
                "resources": resources.iter().map(|d| aggregated_resource(d)).collect::<Vec<_>>(),
                "freshness": "Current",
            }));
        }
        if group.is_empty() {
            aggregated_core
                .push(json!({"metadata": {"name": "", "creationTimestamp": null}, "versions": aggregated_versions}));
            continue;
        }
        let version_entries: Vec<Value> =
            versions.iter().map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v})).collect();
        let preferred = json!({"groupVersion": format!("{group}/{}", versions[0]), "version": versions[0]});
        legacy.insert(
            format!("/apis/{group}"),
            bytes(&json!({"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": version_entries, "preferredVersion": preferred})),
        );
        group_list.push(json!({"name": group, "versions": version_entries, "preferredVersion": preferred}));
        aggregated_groups
            .push(json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": aggregated_versions}));
    }
    legacy.insert(
        "/api".into(),
        bytes(&json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]})),
    );
    legacy.insert("/apis".into(), bytes(&json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": group_list})));
    let aggregated = |api_version: &str| -> HashMap<&'static str, Bytes> {
        let mut docs = HashMap::new();
        docs.insert("/api", bytes(&json!({"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": aggregated_core})));
        docs.insert("/apis", bytes(&json!({"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": aggregated_groups})));
        docs
    };
    Documents {
        generation: snapshot.generation,
        legacy,
        aggregated_v2: aggregated("apidiscovery.k8s.io/v2"),
        aggregated_v2beta1: aggregated("apidiscovery.k8s.io/v2beta1"),
    }
}

fn documents(cache: &Cache, cluster: &Cluster) -> Arc<Documents> {
    let snapshot = cluster.objects().registry().snapshot();
    let mut cache = cache.0.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(docs) = cache.as_ref()
        && docs.generation == snapshot.generation
    {
        return docs.clone();
    }
    let docs = Arc::new(build(&snapshot, cluster.server_address()));
    *cache = Some(docs.clone());
    docs
}

/// Which discovery format an Accept header asks for first.
#[derive(Debug, PartialEq, Eq)]
enum Format {
    V2,
    V2beta1,
    Legacy,
}

fn format(accept: Option<&str>) -> Format {
    let Some(accept) = accept else { return Format::Legacy };
    for range in parse_accept(accept) {
        if range.param("g") == Some("apidiscovery.k8s.io") && range.param("as") == Some("APIGroupDiscoveryList") {
            match range.param("v") {
                Some("v2") => return Format::V2,
                Some("v2beta1") => return Format::V2beta1,
                _ => continue,
            }
        }
        if range.params.iter().all(|(k, _)| k == "charset") {
            return Format::Legacy;
        }
    }
    Format::Legacy
}

/// Serve a discovery path (`/api`, `/apis`, `/apis/<g>`, `/api/v1`, `/apis/<g>/<v>`).
pub fn serve(cache: &Cache, cluster: &Cluster, path: &str, headers: &HeaderMap) -> Response {
    let docs = documents(cache, cluster);
    let path = if path.is_empty() { "/" } else { path };
    if path == "/api" || path == "/apis" {
        let (content_type, body) = match format(header_str(headers, header::ACCEPT)) {
            Format::V2 => (AGGREGATED_V2, docs.aggregated_v2.get(path).cloned()),
            Format::V2beta1 => (AGGREGATED_V2BETA1, docs.aggregated_v2beta1.get(path).cloned()),
            Format::Legacy => ("application/json", docs.legacy.get(path).cloned()),
        };
        let mut response = body_response(StatusCode::OK, content_type, body.unwrap_or_default());
        response.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept"));
        return response;
    }
    match docs.legacy.get(path) {
        Some(body) => body_response(StatusCode::OK, "application/json", body.clone()),
        None if path == "/" => {
            let mut paths: Vec<String> = docs.legacy.keys().cloned().collect();
            paths.extend(
                ["/healthz", "/livez", "/readyz", "/metrics", "/openapi/v2", "/openapi/v3", "/version"]
                    .map(String::from),
            );
            paths.sort();
            body_response(
                StatusCode::OK,
                "application/json",
                serde_json::to_vec(&json!({"paths": paths})).expect("serializes"),
            )
        }
        None => status_response(&Status::not_found_path()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation_follows_kubectl_versions() {
        let v132 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        let v129 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(format(Some(v132)), Format::V2);
        assert_eq!(format(Some(v129)), Format::V2beta1);
        assert_eq!(format(Some("application/json, */*")), Format::Legacy);
        assert_eq!(format(None), Format::Legacy);
    }

    #[test]
    fn versions_are_ordered_as_kube() {
        assert_eq!(
            ordered_versions(vec!["v1beta1".into(), "v1".into(), "v2alpha1".into(), "v2".into()]),
            vec!["v2", "v1", "v1beta1", "v2alpha1"]
        );
    }

    #[test]
    fn documents_list_every_resource() {
        let registry = crate::registry::Registry::new();
        let docs = build(&registry.snapshot(), "127.0.0.1:6443");
        let v1: Value = serde_json::from_slice(&docs.legacy["/api/v1"]).unwrap();
        let names: Vec<&str> =
            v1["resources"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
        for name in [
            "pods",
            "pods/exec",
            "pods/log",
            "configmaps",
            "secrets",
            "namespaces",
            "serviceaccounts",
            "services",
            "endpoints",
            "nodes",
            "events",
        ] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
        let apps: Value = serde_json::from_slice(&docs.legacy["/apis/apps/v1"]).unwrap();
        let scale = apps["resources"].as_array().unwrap().iter().find(|r| r["name"] == "deployments/scale").unwrap();
        assert_eq!((scale["group"].as_str(), scale["kind"].as_str()), (Some("autoscaling"), Some("Scale")));
        let aggregated: Value = serde_json::from_slice(&docs.aggregated_v2["/apis"]).unwrap();
        assert_eq!(aggregated["apiVersion"], "apidiscovery.k8s.io/v2");
        let groups: Vec<&str> =
            aggregated["items"].as_array().unwrap().iter().map(|g| g["metadata"]["name"].as_str().unwrap()).collect();
        for group in [
            "apps",
            "rbac.authorization.k8s.io",
            "authorization.k8s.io",
            "authentication.k8s.io",
            "events.k8s.io",
            "apiextensions.k8s.io",
        ] {
            assert!(groups.contains(&group), "{group}");
        }
        let core: Value = serde_json::from_slice(&docs.aggregated_v2beta1["/api"]).unwrap();
        let pods = core["items"][0]["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "pods")
            .unwrap();
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(pods["categories"], json!(["all"]));
        assert_eq!(pods["singularResource"], "pod");
    }
}
