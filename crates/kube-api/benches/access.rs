//! The added cost of access control on a GET, side by side in one run: the same request through
//! the cluster's whole HTTP pipeline (the router, TLS excluded), by `system:masters` (allowed by
//! the first authorizer) against
//! - a user whose client certificate is authenticated and who is allowed by RBAC through one
//!   RoleBinding among 10,000 bindings (5,000 RoleBindings in the namespace, 5,000
//!   ClusterRoleBindings, none naming the user);
//! - `system:masters` impersonating that user (impersonation check, then RBAC for the user);
//! - `system:masters` with the audit log on (Metadata level, to a file).
//!
//! `cargo bench -p kube-api --bench access` (release). Results go to `docs/benchmarks.md`
//! (section "Access control").

use std::sync::Arc;

use axum::body::Body;
use criterion::{Criterion, criterion_group, criterion_main};
use kube_api::{Cluster, ClusterConfig, ClusterServer, Ctx, Target};
use rustls::pki_types::CertificateDer;
use serde_json::json;
use tower::ServiceExt as _;

const BINDINGS: usize = 10_000;
const PATH: &str = "/api/v1/namespaces/default/configmaps/settings";

fn masters_ctx() -> Ctx {
    Ctx { user: rbac::UserInfo::new("bench", &["system:masters", "system:authenticated"]), ..Ctx::default() }
}

async fn setup() -> (kube_api::ClusterHandle, Arc<Cluster>) {
    let store: Arc<dyn store::Store> = Arc::new(store::MemStore::new());
    let handle =
        ClusterServer::start(ClusterConfig::new("bench", "127.0.0.1:0".parse().unwrap(), store)).await.unwrap();
    let cluster = handle.cluster().clone();
    let ctx = &mut masters_ctx();
    let def = |g: &str, r: &str| cluster.objects().resource(g, "v1", r).unwrap();
    let (cms, roles, rbs, crbs) = (
        def("", "configmaps"),
        def("rbac.authorization.k8s.io", "roles"),
        def("rbac.authorization.k8s.io", "rolebindings"),
        def("rbac.authorization.k8s.io", "clusterrolebindings"),
    );
    cluster.objects().create(&Target::collection(&cms, "default"), json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"colour": "blue"}}), ctx)
        .await
        .unwrap();
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "cm-reader"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]});
    cluster.objects().create(&Target::collection(&roles, "default"), role, ctx).await.unwrap();
    for i in 0..BINDINGS / 2 {
        let rb = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": format!("rb-{i}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": format!("user-{i}")},
                         {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": format!("group-{i}")}]});
        cluster.objects().create(&Target::collection(&rbs, "default"), rb, ctx).await.unwrap();
        let crb = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": format!("crb-{i}")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": format!("other-{i}")}]});
        cluster.objects().create(&Target::collection(&crbs, ""), crb, ctx).await.unwrap();
    }
    let jane = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "jane-reads"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "jane"}]});
    cluster.objects().create(&Target::collection(&rbs, "default"), jane, ctx).await.unwrap();
    (handle, cluster)
}

fn connection(cluster: &Cluster, user: &str, group: Option<&str>) -> tls::ConnectionInfo {
    let cert = cluster.issue_client_certificate(user, group).unwrap();
    let der: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut cert.cert_pem.as_bytes()).map(Result::unwrap).collect();
    tls::ConnectionInfo { remote_addr: "127.0.0.1:50000".parse().unwrap(), peer_certificates: Arc::new(der) }
}

fn request(connection: &tls::ConnectionInfo, impersonate: Option<&str>) -> http::Request<Body> {
    let mut builder = http::Request::get(PATH).header("accept", "application/json").header("user-agent", "bench");
    if let Some(user) = impersonate {
        builder = builder.header("impersonate-user", user);
    }
    let mut request = builder.body(Body::empty()).unwrap();
    request.extensions_mut().insert(connection.clone());
    request
}

fn access(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (handle, cluster) = runtime.block_on(setup());
    let router = kube_api::serve::router(cluster.clone());
    let masters = connection(&cluster, "kubernetes-admin", Some("system:masters"));
    let jane = connection(&cluster, "jane", None);
    let send = |connection: &tls::ConnectionInfo, impersonate: Option<&str>| {
        let response = runtime.block_on(router.clone().oneshot(request(connection, impersonate))).unwrap();
        assert_eq!(response.status(), 200);
        response
    };
    // Each identity works (and its certificate's subject is cached) before timing.
    send(&masters, None);
    send(&jane, None);
    send(&masters, Some("jane"));

    let mut group = c.benchmark_group(format!("GET configmap, {BINDINGS} bindings"));
    group.bench_function("system:masters", |b| b.iter(|| send(&masters, None)));
    group.bench_function("RBAC user (x509 + RoleBinding)", |b| b.iter(|| send(&jane, None)));
    group.bench_function("masters impersonating the RBAC user", |b| b.iter(|| send(&masters, Some("jane"))));
    let dir = tempfile::tempdir().unwrap();
    let log = kube_api::access::audit::AuditLog::open(&dir.path().join("audit.log"), Default::default(), 0, 0).unwrap();
    cluster.set_audit(log);
    group.bench_function("system:masters, audit Metadata", |b| b.iter(|| send(&masters, None)));
    group.finish();
    runtime.block_on(handle.shutdown());
}

criterion_group!(benches, access);
criterion_main!(benches);
