//! The wiring of a cluster, and the only place one is built: [`ClusterServer::start`] loads the
//! cluster's key material, makes its object service (store adapter, registry, watch hub,
//! admission chain, write observers), its access chains (service-account and configured token
//! authenticators; `system:masters`, configured authorizers and RBAC; NamespaceLifecycle,
//! service allocation, RBAC escalation and configured admission hooks), starts the RBAC feed,
//! bootstraps the default objects and the bootstrap policy, starts the controllers and listens.
//! [`ClusterHandle`] is the running cluster (address, kubeconfigs, clean shutdown). Several
//! clusters run in one process, each with its own CA, listener and objects under
//! `/clusters/<name>/registry/` in the shared store.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use kube_core::Status;
use serde_json::json;
use store::Store;
use tokio::sync::watch;

use crate::access::authn::{ServiceAccountAuthenticator, ServiceAccountKey, TokenAuthenticator};
use crate::access::authz::{self, Authorizer, PrivilegedGroups};
use crate::access::escalation::EscalationCheck;
use crate::access::namespace_lifecycle::NamespaceLifecycle;
use crate::access::rbac_index::{RbacAuthorizer, RbacState};
use crate::access::{bootstrap_policy, rbac_feed};
use crate::cluster::{Cluster, Parts};
use crate::controllers::{self, CustomResources};
use crate::error::Error;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::storage::admission::AdmissionHook;
use crate::storage::allocator::ServiceAllocator;
use crate::storage::object_store::ObjectStore;
use crate::storage::objects::Objects;
use crate::storage::watch::WatchHub;

/// How to start a cluster's API server.
pub struct ClusterConfig {
    /// The cluster's name (its store prefix is `/clusters/<name>/`).
    pub name: String,
    /// Where to listen (port 0 picks a free port).
    pub listen: SocketAddr,
    pub store: Arc<dyn Store>,
    /// DNS names or addresses the serving certificate covers besides localhost, 127.0.0.1 and ::1.
    pub server_names: Vec<String>,
    /// Whether requests without credentials run as `system:anonymous` (kube-apiserver's default)
    /// or get 401.
    pub allow_anonymous: bool,
    /// The `iss` of service-account tokens (also their default audience).
    pub service_account_issuer: String,
    /// How many recent changes the watch hub keeps in memory for watches from a resourceVersion;
    /// a watch from further back is served from the store's history (see `watch.rs`).
    pub watch_window: usize,
    /// How often watches that asked for bookmarks get one.
    pub bookmark_interval: Duration,
    /// Bearer-token authenticators after the built-in service-account one (the EKS token
    /// authenticator goes here).
    pub token_authenticators: Vec<Arc<dyn TokenAuthenticator>>,
    /// Authorizers besides `system:masters` and the built-in RBAC, each placed by its
    /// [`crate::authz::Slot`] (EKS access policies go before RBAC).
    pub authorizers: Vec<Arc<dyn Authorizer>>,
    /// Admission hooks after NamespaceLifecycle.
    pub admission: Vec<Arc<dyn AdmissionHook>>,
}

impl ClusterConfig {
    pub fn new(name: impl Into<String>, listen: SocketAddr, store: Arc<dyn Store>) -> Self {
        ClusterConfig {
            name: name.into(),
            listen,
            store,
            server_names: vec![],
            allow_anonymous: true,
            service_account_issuer: "https://kubernetes.default.svc".into(),
            watch_window: 1_000,
            bookmark_interval: Duration::from_secs(60),
            token_authenticators: vec![],
            authorizers: vec![],
            admission: vec![],
        }
    }
}

/// Starts clusters.
pub struct ClusterServer;

/// A running cluster: its address and state; [`ClusterHandle::shutdown`] stops it.
pub struct ClusterHandle {
    cluster: Arc<Cluster>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl ClusterServer {
    /// Load (or create) the cluster's key material, bootstrap its default objects, start its
    /// watch hub and controllers, and listen.
    pub async fn start(config: ClusterConfig) -> Result<ClusterHandle, Error> {
        let pki = crate::pki::load_or_create(&config.store, &config.name).await?;
        // Bound first: a taken address fails the start before any task runs.
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Listen { addr: config.listen, source })?;
        let addr = listener.local_addr().map_err(|source| Error::Listen { addr: config.listen, source })?;

        // The object service.
        let metrics = Arc::new(Metrics::new());
        let store = ObjectStore::new(config.store.clone(), &config.name, metrics.clone());
        let hub = WatchHub::start(config.store.clone(), store.prefix().to_string(), config.watch_window)
            .await
            .map_err(|s| Error::Startup(s.message))?;
        let registry = Arc::new(Registry::new());
        let objects = Arc::new(Objects::new(store.clone(), registry.clone(), hub, &config.name));
        let rbac = Arc::new(RbacState::default());
        let builtin = |plural| objects.resource("", "v1", plural).expect("the core kinds are built in");
        let admission: Vec<Arc<dyn AdmissionHook>> = vec![
            Arc::new(NamespaceLifecycle::new(store.clone(), builtin("namespaces"))),
            Arc::new(ServiceAllocator::new(store.clone(), builtin("services"))),
            Arc::new(EscalationCheck::new(rbac.index().clone())),
        ];
        for hook in admission.into_iter().chain(config.admission) {
            objects.add_admission_hook(hook);
        }
        objects.add_observer(Arc::new(CustomResources::new(registry)));
        objects.add_observer(rbac.clone());

        // Authentication and authorization.
        let service_account_key = Arc::new(
            ServiceAccountKey::from_pkcs8(
                &pki.service_account_key,
                config.service_account_issuer.clone(),
                vec![config.service_account_issuer.clone()],
            )
            .map_err(Error::Pki)?,
        );
        let mut token_authenticators: Vec<Arc<dyn TokenAuthenticator>> = vec![Arc::new(ServiceAccountAuthenticator {
            key: service_account_key.clone(),
            objects: store,
            serviceaccounts: builtin("serviceaccounts"),
        })];
        token_authenticators.extend(config.token_authenticators);
        let mut authorizers: Vec<Arc<dyn Authorizer>> = vec![Arc::new(PrivilegedGroups)];
        authorizers = authz::insert(&authorizers, Arc::new(RbacAuthorizer::new(rbac.index().clone())));
        for authorizer in config.authorizers {
            authorizers = authz::insert(&authorizers, authorizer);
        }

        let cluster = Arc::new(Cluster::new(Parts {
            name: config.name.clone(),
            objects: objects.clone(),
            metrics,
            ca: pki.ca,
            service_account_key,
            rbac: rbac.clone(),
            token_authenticators,
            authorizers,
            allow_anonymous: config.allow_anonymous,
            bookmark_interval: config.bookmark_interval,
            server_address: advertised(addr),
        }));

        let serving = cluster.issue_serving_certificate(&serving_names(config.listen, config.server_names))?;
        let tls_config = tls::server_config(&serving, Some(cluster.ca_pem()))?;
        // The RBAC feed runs from the start, so the bootstrap policy's writes (which wait for the
        // index) are applied as they land.
        let rbac_tasks = [
            tokio::spawn(rbac_feed::follow(objects.clone(), rbac.clone())),
            tokio::spawn(rbac_feed::aggregate_forever(objects.clone(), rbac.clone())),
        ];
        let started = async {
            let startup = |s: Status| Error::Startup(s.message);
            controllers::load_custom_resources(&objects).await.map_err(startup)?;
            bootstrap(&objects).await.map_err(startup)?;
            bootstrap_policy::ensure(&objects).await.map_err(startup)?;
            objects.store().current_revision().await.map_err(startup)
        };
        let revision = match started.await {
            Ok(revision) => revision,
            Err(error) => {
                rbac_tasks.iter().for_each(|task| task.abort());
                return Err(error);
            }
        };
        // Nothing fails from here on. The index holds the whole policy, aggregated, before the
        // first request.
        rbac.wait_applied(revision).await;
        rbac_feed::aggregate_once(&objects, &rbac).await;
        let (stop, mut stopped) = watch::channel(false);
        let router = crate::serve::router(cluster.clone());
        let server = tokio::spawn(tls::serve(listener, tls_config, router, async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        let mut background = controllers::spawn(objects, cluster.ca_pem().to_string(), stop.subscribe());
        background.extend(rbac_tasks);
        tracing::info!(cluster = %cluster.name, %addr, "Kubernetes API listening");
        Ok(ClusterHandle { cluster, addr, stop, server, background })
    }
}

/// The names the serving certificate covers: localhost, the in-cluster service names, the listen
/// address (unless unspecified) and the configured names.
fn serving_names(listen: SocketAddr, configured: Vec<String>) -> Vec<String> {
    let mut names: Vec<String> = vec![
        "localhost".into(),
        "127.0.0.1".into(),
        "::1".into(),
        "kubernetes".into(),
        "kubernetes.default".into(),
        "kubernetes.default.svc".into(),
    ];
    if !listen.ip().is_unspecified() && !names.contains(&listen.ip().to_string()) {
        names.push(listen.ip().to_string());
    }
    for name in configured {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The address clients reach the server at (an unspecified listen address is advertised as
/// loopback).
fn advertised(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => format!("127.0.0.1:{}", addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => format!("[::1]:{}", addr.port()),
        _ => addr.to_string(),
    }
}

/// The objects every new cluster has: its namespaces and the `kubernetes` service.
async fn bootstrap(objects: &Objects) -> Result<(), Status> {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        objects
            .ensure("", "Namespace", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .await?;
    }
    objects
        .ensure(
            "",
            "Service",
            json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"type": "ClusterIP", "clusterIP": "10.100.0.1", "clusterIPs": ["10.100.0.1"],
                    "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}]}}),
        )
        .await?;
    Ok(())
}

impl ClusterHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// `https://<address>` as clients reach it.
    pub fn server_url(&self) -> String {
        format!("https://{}", self.cluster.server_address())
    }

    /// A kubeconfig for `user` in `group` with a fresh client certificate (`kubernetes-admin` in
    /// `system:masters` for the admin kubeconfig).
    pub fn client_certificate_kubeconfig(&self, user: &str, group: Option<&str>) -> Result<String, Error> {
        let cert = self.cluster.issue_client_certificate(user, group)?;
        Ok(crate::kubeconfig::client_certificate(
            &self.cluster.name,
            &self.server_url(),
            self.cluster.ca_pem(),
            user,
            &cert,
        ))
    }

    /// The admin kubeconfig: `kubernetes-admin`, group `system:masters`.
    pub fn admin_kubeconfig(&self) -> Result<String, Error> {
        self.client_certificate_kubeconfig("kubernetes-admin", Some(rbac::SYSTEM_MASTERS))
    }

    /// Stop listening and stop the cluster's background tasks.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.server.await;
        for task in self.background {
            task.abort();
            let _ = task.await;
        }
    }
}
