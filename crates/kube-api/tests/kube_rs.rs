//! The API server driven in-process by a second client library, kube-rs: typed CRUD,
//! server-side apply, the scale subresource, a watcher, and what kubectl cannot show — raw
//! content negotiation, anonymous requests, 410 on a watch older than the window, bookmarks,
//! health, metrics, restarts keeping the CA, and clusters isolated on one store.

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use kube::{Client, Config};
use kube_api::{ClusterConfig, ClusterHandle, ClusterServer};
use serde_json::{Value, json};
use store::Store;

async fn start(store: Arc<dyn Store>, name: &str, tweak: impl FnOnce(&mut ClusterConfig)) -> ClusterHandle {
    let mut config = ClusterConfig::new(name, "127.0.0.1:0".parse().unwrap(), store);
    tweak(&mut config);
    ClusterServer::start(config).await.expect("the cluster starts")
}

async fn client(handle: &ClusterHandle) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(&handle.admin_kubeconfig().unwrap()).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
    Client::try_from(config).unwrap()
}

/// A client with the cluster's CA but no credentials.
fn anonymous(handle: &ClusterHandle) -> Client {
    let mut config = Config::new(handle.server_url().parse().unwrap());
    config.root_cert = Some(vec![rustls_pem(handle.cluster().ca_pem())]);
    Client::try_from(config).unwrap()
}

fn rustls_pem(pem: &str) -> Vec<u8> {
    use base64::Engine as _;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).unwrap()
}

async fn raw(client: &Client, method: &str, path: &str, accept: Option<&str>) -> (u16, String, Value) {
    let mut request = http::Request::builder().method(method).uri(path);
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    let response = client.send(request.body(Vec::new().into()).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.unwrap().to_bytes();
    let body =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, content_type, body)
}

#[tokio::test]
async fn typed_crud_apply_scale_and_watch() {
    let handle = start(Arc::new(store::MemStore::new()), "kube-rs", |_| {}).await;
    let client = client(&handle).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let mut stream = watcher(cms.clone(), watcher::Config::default().labels("app=demo")).boxed();
    tokio::spawn(async move {
        while let Ok(Some(event)) = stream.try_next().await {
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    let init = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = events.recv().await {
            if matches!(event, watcher::Event::InitDone) {
                return;
            }
        }
    });
    init.await.expect("the watcher lists first");

    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "demo", "labels": {"app": "demo"}}, "data": {"a": "1"}}))
            .unwrap();
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    assert!(created.metadata.uid.is_some() && created.metadata.resource_version.is_some());
    let applied = cms
        .patch("demo", &PatchParams::apply("demo-manager"), &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "demo", "labels": {"app": "demo"}}, "data": {"b": "2"}})))
        .await
        .unwrap();
    let data = applied.data.unwrap();
    assert_eq!((data.get("a").map(String::as_str), data.get("b").map(String::as_str)), (Some("1"), Some("2")));
    let managers: Vec<String> =
        applied.metadata.managed_fields.unwrap().into_iter().filter_map(|m| m.manager).collect();
    assert!(managers.contains(&"demo-manager".to_string()), "{managers:?}");
    let listed = cms.list(&ListParams::default().labels("app=demo")).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    cms.delete("demo", &DeleteParams::default()).await.unwrap();
    let err = cms.get("demo").await.unwrap_err();
    match err {
        kube::Error::Api(status) => assert_eq!((status.code, status.reason.as_str()), (404, "NotFound")),
        other => panic!("{other}"),
    }

    // The watcher saw the object come, change and go.
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while seen.iter().filter(|e: &&String| e.starts_with("delete")).count() == 0
        && tokio::time::Instant::now() < deadline
    {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Some(watcher::Event::Apply(cm))) => seen.push(format!("apply {}", cm.metadata.name.unwrap())),
            Ok(Some(watcher::Event::Delete(cm))) => seen.push(format!("delete {}", cm.metadata.name.unwrap())),
            Ok(Some(_)) => {}
            other => panic!("watcher ended: {other:?}"),
        }
    }
    assert_eq!(seen.first().map(String::as_str), Some("apply demo"));
    assert_eq!(seen.last().map(String::as_str), Some("delete demo"));

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d: Deployment = serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})).unwrap();
    deployments.create(&PostParams::default(), &d).await.unwrap();
    let scale = deployments
        .patch_scale("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 4}})))
        .await
        .unwrap();
    assert_eq!(scale.spec.unwrap().replicas, Some(4));
    let d = deployments.get("web").await.unwrap();
    assert_eq!((d.spec.unwrap().replicas, d.metadata.generation), (Some(4), Some(2)));
    let namespaces: Api<Namespace> = Api::all(client);
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert_eq!(names, ["default", "kube-node-lease", "kube-public", "kube-system"]);
    handle.shutdown().await;
}

#[tokio::test]
async fn negotiation_anonymous_health_and_metrics() {
    let handle = start(Arc::new(store::MemStore::new()), "raw", |_| {}).await;
    let admin = client(&handle).await;
    let (code, _, body) = raw(&admin, "GET", "/api/v1/namespaces", Some("text/html")).await;
    assert_eq!((code, body["reason"].as_str()), (406, Some("NotAcceptable")));
    assert_eq!(
        body["message"],
        "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf"
    );
    let (code, content_type, body) = raw(&admin, "GET", "/api/v1/namespaces/default", Some("application/yaml")).await;
    assert_eq!((code, content_type.as_str()), (200, "application/yaml"));
    assert!(body.as_str().unwrap().contains("name: default"), "{body}");
    let (_, content_type, body) = raw(
        &admin,
        "GET",
        "/api/v1/namespaces?limit=2",
        Some("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"),
    )
    .await;
    assert!(content_type.contains("as=PartialObjectMetadata"), "{content_type}");
    assert_eq!(
        (body["kind"].as_str(), body["items"].as_array().map(Vec::len)),
        (Some("PartialObjectMetadataList"), Some(2))
    );
    assert!(body["metadata"]["continue"].is_string() && body["metadata"]["remainingItemCount"] == 2, "{body}");
    let (_, _, table) = raw(
        &admin,
        "GET",
        "/api/v1/namespaces/default?includeObject=Object",
        Some("application/json;as=Table;v=v1;g=meta.k8s.io"),
    )
    .await;
    assert_eq!(table["rows"][0]["object"]["kind"], "Namespace");
    let (_, content_type, discovery) = raw(
        &admin,
        "GET",
        "/apis",
        Some("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"),
    )
    .await;
    assert_eq!(content_type, "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
    assert_eq!(discovery["kind"], "APIGroupDiscoveryList");

    let nobody = anonymous(&handle);
    let (code, _, body) = raw(&nobody, "GET", "/api/v1/namespaces", None).await;
    assert_eq!(code, 403);
    assert_eq!(
        body["message"],
        r#"namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in API group "" at the cluster scope"#
    );

    let (code, _, body) = raw(&admin, "GET", "/readyz?verbose", None).await;
    assert_eq!(code, 200);
    let text = body.as_str().unwrap();
    assert!(text.contains("[+]etcd ok") && text.ends_with("readyz check passed\n"), "{text}");
    assert_eq!(raw(&admin, "GET", "/livez", None).await.2, "ok");
    assert_eq!(raw(&admin, "GET", "/healthz/etcd", None).await.2, "ok");
    let (_, _, version) = raw(&admin, "GET", "/version", None).await;
    assert_eq!((version["major"].as_str(), version["minor"].as_str()), (Some("1"), Some("32")));
    let (_, _, metrics) = raw(&admin, "GET", "/metrics", None).await;
    let metrics = metrics.as_str().unwrap();
    assert!(metrics.contains(r#"apiserver_request_total{verb="LIST",group="",version="v1",resource="namespaces",subresource="",scope="cluster",component="apiserver",code="200"}"#), "{metrics}");
    assert!(metrics.contains("etcd_request_duration_seconds_bucket"), "{metrics}");
    assert!(
        metrics.contains(r#"apiserver_authorization_decisions_total{decision="denied",name="none"} 1"#),
        "{metrics}"
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn watches_older_than_the_compacted_history_are_gone_and_bookmarks_keep_watchers_current() {
    let store: Arc<dyn Store> = Arc::new(store::MemStore::new());
    let handle = start(store.clone(), "window", |c| {
        c.watch_window = 3;
        c.bookmark_interval = Duration::from_millis(100);
    })
    .await;
    let admin = client(&handle).await;
    let cms: Api<ConfigMap> = Api::namespaced(admin.clone(), "default");
    let mut first_rv = String::new();
    for i in 0..6 {
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).unwrap();
        let created = cms.create(&PostParams::default(), &cm).await.unwrap();
        if i == 0 {
            first_rv = created.metadata.resource_version.unwrap();
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Older than the hub's window but still in the store's history: served from the store.
    let path = format!("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={first_rv}&timeoutSeconds=1");
    let (code, _, body) = raw(&admin, "GET", &path, None).await;
    let events: Vec<Value> = body.as_str().unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let names: Vec<&str> = events.iter().filter_map(|e| e["object"]["metadata"]["name"].as_str()).collect();
    assert_eq!((code, names), (200, vec!["c1", "c2", "c3", "c4", "c5"]), "{events:?}");
    // Once the store has compacted that history: 410 Expired.
    store.compact(store.current_revision().await.unwrap()).await.unwrap();
    let path = format!("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={first_rv}&timeoutSeconds=1");
    let (code, _, event) = raw(&admin, "GET", &path, None).await;
    assert_eq!((code, event["type"].as_str()), (200, Some("ERROR")));
    assert_eq!((event["object"]["code"].as_i64(), event["object"]["reason"].as_str()), (Some(410), Some("Expired")));
    assert!(event["object"]["message"].as_str().unwrap().starts_with("too old resource version: "), "{event}");

    let latest = cms.list(&ListParams::default()).await.unwrap().metadata.resource_version.unwrap();
    let path = format!(
        "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={latest}&allowWatchBookmarks=true&timeoutSeconds=1"
    );
    let (_, _, body) = raw(&admin, "GET", &path, None).await;
    let lines: Vec<Value> = body.as_str().unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(lines.len() >= 3, "bookmarks every 100ms for 1s: {lines:?}");
    assert!(lines.iter().all(|l| l["type"] == "BOOKMARK" && l["object"]["kind"] == "ConfigMap"), "{lines:?}");
    handle.shutdown().await;
}

#[tokio::test]
async fn a_restart_keeps_the_ca_and_clusters_are_isolated() {
    let store: Arc<dyn Store> = Arc::new(store::MemStore::new());
    let first = start(store.clone(), "one", |_| {}).await;
    let ca = first.cluster().ca_pem().to_string();
    let one = client(&first).await;
    let cms: Api<ConfigMap> = Api::namespaced(one, "default");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "only-in-one"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let other = start(store.clone(), "two", |_| {}).await;
    assert_ne!(other.cluster().ca_pem(), ca);
    let two: Api<ConfigMap> = Api::namespaced(client(&other).await, "default");
    assert!(two.get_opt("only-in-one").await.unwrap().is_none());
    // The admin kubeconfig of one cluster is not accepted by the other.
    let kubeconfig = Kubeconfig::from_yaml(&first.admin_kubeconfig().unwrap()).unwrap();
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await.unwrap();
    config.cluster_url = other.server_url().parse().unwrap();
    config.root_cert = Some(vec![rustls_pem(other.cluster().ca_pem())]);
    let foreign = Client::try_from(config).unwrap();
    let request = http::Request::get("/api/v1/namespaces").body(Vec::new().into()).unwrap();
    assert!(foreign.send(request).await.is_err(), "the TLS handshake refuses a certificate of another cluster's CA");
    other.shutdown().await;
    first.shutdown().await;
    let again = start(store, "one", |_| {}).await;
    assert_eq!(again.cluster().ca_pem(), ca, "the CA lives in the store");
    let cms: Api<ConfigMap> = Api::namespaced(client(&again).await, "default");
    assert!(cms.get_opt("only-in-one").await.unwrap().is_some());
    again.shutdown().await;
}
