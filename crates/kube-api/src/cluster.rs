//! One cluster's API server: its state ([`Cluster`]), its configuration ([`ClusterConfig`]) and
//! its lifecycle ([`ClusterServer::start`] → [`ClusterHandle`], with clean shutdown). Several
//! clusters run in one process, each with its own CA, listener and objects under
//! `/clusters/<name>/registry/` in the shared store.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kube_core::Status;
use serde_json::{Value, json};
use store::Store;
use tls::CertificateAuthority;
use tokio::sync::watch;

use crate::admission::{AdmissionHook, NamespaceLifecycle, ServiceAllocator};
use crate::authn::{ServiceAccountAuthenticator, ServiceAccountKey, TokenAuthenticator};
use crate::authz::{Authorizer, PrivilegedGroups};
use crate::connect::ConnectHandler;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::objects::Ctx;
use crate::rbac_sync::{RbacAuthorizer, RbacState};
use crate::registry::{Registry, ResourceDef, crd};
use crate::storage::ObjectStore;
use crate::watch::WatchHub;

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

/// A running cluster's shared state. Cheap to share (`Arc<Cluster>`); the operations on objects
/// are in [`crate::objects`].
pub struct Cluster {
    pub name: String,
    pub(crate) objects: ObjectStore,
    pub(crate) registry: Registry,
    pub(crate) hub: Arc<WatchHub>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) ca: CertificateAuthority,
    pub(crate) service_account_key: Arc<ServiceAccountKey>,
    pub(crate) allow_anonymous: bool,
    pub(crate) bookmark_interval: Duration,
    /// The built-in RBAC authorizer's index and its feed.
    pub(crate) rbac: RbacState,
    token_authenticators: RwLock<Arc<Vec<Arc<dyn TokenAuthenticator>>>>,
    authorizers: RwLock<Arc<Vec<Arc<dyn Authorizer>>>>,
    admission: RwLock<Arc<Vec<Arc<dyn AdmissionHook>>>>,
    connect: RwLock<HashMap<(String, String), Arc<dyn ConnectHandler>>>,
    pub(crate) server_address: RwLock<String>,
    pub(crate) discovery: crate::discovery::Cache,
    pub(crate) openapi: crate::openapi::Cache,
    /// Verified client certificates' subjects, by certificate (parsing X.509 on every request of
    /// a keep-alive connection would cost more than the request).
    subjects: std::sync::Mutex<HashMap<Vec<u8>, Option<(String, Vec<String>)>>>,
    /// The audit log, once one is set.
    audit: RwLock<Option<Arc<crate::audit::AuditLog>>>,
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read().unwrap_or_else(|p| p.into_inner()).clone()
}

impl Cluster {
    /// The resource served at `/api[s]/<group>/<version>/…/<plural>`.
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.registry.snapshot().get(group, version, plural).cloned()
    }

    /// The resource of a group and kind, in its preferred version.
    pub fn resource_for_kind(&self, group: &str, kind: &str) -> Option<Arc<ResourceDef>> {
        self.registry.snapshot().by_kind(group, kind).cloned()
    }

    /// Every resource served now.
    pub fn resources(&self) -> Vec<Arc<ResourceDef>> {
        self.registry.snapshot().resources.clone()
    }

    /// The CA certificate (PEM) clients trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca.pem().cert_pem
    }

    /// The hub every watch of this cluster is fed from.
    pub fn watch_hub(&self) -> &Arc<WatchHub> {
        &self.hub
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The subject (user, groups) of a connection's verified client certificate.
    pub(crate) fn client_subject(&self, connection: &tls::ConnectionInfo) -> Option<(String, Vec<String>)> {
        let leaf = connection.peer_certificates.first()?;
        let mut cache = self.subjects.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(subject) = cache.get(leaf.as_ref()) {
            return subject.clone();
        }
        let subject = connection.client_subject();
        if cache.len() >= 4096 {
            cache.clear();
        }
        cache.insert(leaf.as_ref().to_vec(), subject.clone());
        subject
    }

    /// Issue a client certificate for `user` in `group` (for kubeconfigs).
    pub fn issue_client_certificate(&self, user: &str, group: Option<&str>) -> Result<tls::CertifiedKey, Error> {
        Ok(self.ca.issue_client(user, group)?)
    }

    /// Issue a serving certificate for `names` from the cluster's CA (tests and benchmarks).
    pub fn issue_serving_certificate(&self, names: &[String]) -> Result<tls::CertifiedKey, Error> {
        Ok(self.ca.issue_server("kube-apiserver", names)?)
    }

    /// Sign a service-account token (what TokenRequest returns).
    pub fn service_account_key(&self) -> &Arc<ServiceAccountKey> {
        &self.service_account_key
    }

    pub(crate) fn token_authenticators(&self) -> Arc<Vec<Arc<dyn TokenAuthenticator>>> {
        read(&self.token_authenticators)
    }

    pub(crate) fn authorizers(&self) -> Arc<Vec<Arc<dyn Authorizer>>> {
        read(&self.authorizers)
    }

    pub(crate) fn admission_hooks(&self) -> Arc<Vec<Arc<dyn AdmissionHook>>> {
        read(&self.admission)
    }

    /// Add a bearer-token authenticator at the end of the chain.
    pub fn add_token_authenticator(&self, authenticator: Arc<dyn TokenAuthenticator>) {
        let mut lock = self.token_authenticators.write().unwrap_or_else(|p| p.into_inner());
        let mut chain = (**lock).clone();
        chain.push(authenticator);
        *lock = Arc::new(chain);
    }

    /// Add an authorizer to the chain, in its [`crate::authz::Slot`] after those of the same slot
    /// added before (so EKS access policies land before RBAC whenever they are added).
    pub fn add_authorizer(&self, authorizer: Arc<dyn Authorizer>) {
        let mut lock = self.authorizers.write().unwrap_or_else(|p| p.into_inner());
        *lock = Arc::new(crate::authz::insert(&lock, authorizer));
    }

    /// Log every request from now on to `audit` (audit.k8s.io/v1 Events), replacing any log set
    /// before.
    pub fn set_audit(&self, audit: crate::audit::AuditLog) {
        *self.audit.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(audit));
    }

    /// The audit log, if one is set.
    pub fn audit(&self) -> Option<Arc<crate::audit::AuditLog>> {
        self.audit.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The cluster's RBAC index (what the built-in RBAC authorizer decides with).
    pub fn rbac_index(&self) -> &Arc<rbac::Authorizer> {
        self.rbac.index()
    }

    /// Add an admission hook at the end of the chain.
    pub fn add_admission_hook(&self, hook: Arc<dyn AdmissionHook>) {
        let mut lock = self.admission.write().unwrap_or_else(|p| p.into_inner());
        let mut chain = (**lock).clone();
        chain.push(hook);
        *lock = Arc::new(chain);
    }

    /// Serve a connect subresource (`pods/log`, `pods/exec`, `pods/attach`, `pods/portforward`,
    /// `*/proxy`) with `handler`, after authentication and authorization.
    pub fn register_connect(&self, resource: &str, subresource: &str, handler: Arc<dyn ConnectHandler>) {
        self.connect
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert((resource.to_string(), subresource.to_string()), handler);
    }

    pub(crate) fn connect_handler(&self, resource: &str, subresource: &str) -> Option<Arc<dyn ConnectHandler>> {
        self.connect
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(resource.to_string(), subresource.to_string()))
            .cloned()
    }

    /// What follows a successful write: CRDs (de)register their resources at once.
    /// What follows a successful write: CRDs (de)register their resources at once, and an RBAC
    /// change is in the index before the writer hears back.
    pub(crate) async fn after_write(&self, def: &ResourceDef, object: &Value, revision: i64) {
        if def.group == "apiextensions.k8s.io" && def.kind == "CustomResourceDefinition" {
            let name = kube_core::meta::name(object);
            self.registry.set_custom(name, crd::resources_for(object));
        }
        if def.group == crate::rbac_sync::GROUP {
            self.rbac.wait_applied(revision).await;
        }
    }

    pub(crate) async fn after_delete(&self, def: &ResourceDef, object: &Value, revision: i64) {
        if def.group == "apiextensions.k8s.io" && def.kind == "CustomResourceDefinition" {
            self.registry.set_custom(kube_core::meta::name(object), vec![]);
        }
        if def.group == crate::rbac_sync::GROUP {
            self.rbac.wait_applied(revision).await;
        }
    }

    /// Create an object unless it exists (bootstrapping).
    pub(crate) async fn ensure(&self, group: &str, kind: &str, object: Value) -> Result<(), Status> {
        let Some(def) = self.resource_for_kind(group, kind) else { return Ok(()) };
        let namespace = kube_core::meta::namespace(&object).to_string();
        let mut ctx = Ctx::system("bootstrap");
        match self.create(&def, &namespace, object, &mut ctx).await {
            Ok(_) => Ok(()),
            Err(status) if status.code == 409 => Ok(()),
            Err(status) => Err(status),
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
        let metrics = Arc::new(Metrics::new());
        let objects = ObjectStore::new(config.store.clone(), &config.name, metrics.clone());
        let hub = WatchHub::start(config.store.clone(), objects.prefix().to_string(), config.watch_window)
            .await
            .map_err(|s| Error::Startup(s.message))?;
        let service_account_key = Arc::new(
            ServiceAccountKey::from_pkcs8(
                &pki.service_account_key,
                config.service_account_issuer.clone(),
                vec![config.service_account_issuer.clone()],
            )
            .map_err(Error::Pki)?,
        );
        let registry = Registry::new();
        let snapshot = registry.snapshot();
        let namespaces = snapshot.get("", "v1", "namespaces").cloned().expect("namespaces are built in");
        let serviceaccounts = snapshot.get("", "v1", "serviceaccounts").cloned().expect("serviceaccounts are built in");
        let mut authenticators: Vec<Arc<dyn TokenAuthenticator>> = vec![Arc::new(ServiceAccountAuthenticator {
            key: service_account_key.clone(),
            objects: objects.clone(),
            serviceaccounts,
        })];
        authenticators.extend(config.token_authenticators);
        let rbac = RbacState::default();
        let mut authorizers: Vec<Arc<dyn Authorizer>> = vec![Arc::new(PrivilegedGroups)];
        authorizers = crate::authz::insert(&authorizers, Arc::new(RbacAuthorizer::new(rbac.index().clone())));
        for authorizer in config.authorizers {
            authorizers = crate::authz::insert(&authorizers, authorizer);
        }
        let services = snapshot.get("", "v1", "services").cloned().expect("services are built in");
        let mut admission: Vec<Arc<dyn AdmissionHook>> = vec![
            Arc::new(NamespaceLifecycle::new(objects.clone(), namespaces)),
            Arc::new(ServiceAllocator::new(objects.clone(), services)),
            Arc::new(crate::escalation::EscalationCheck::new(rbac.index().clone())),
        ];
        admission.extend(config.admission);

        let cluster = Arc::new(Cluster {
            name: config.name.clone(),
            objects,
            registry,
            hub,
            metrics,
            ca: pki.ca,
            service_account_key,
            allow_anonymous: config.allow_anonymous,
            bookmark_interval: config.bookmark_interval,
            rbac,
            token_authenticators: RwLock::new(Arc::new(authenticators)),
            authorizers: RwLock::new(Arc::new(authorizers)),
            admission: RwLock::new(Arc::new(admission)),
            connect: RwLock::new(HashMap::new()),
            server_address: RwLock::new(String::new()),
            discovery: Default::default(),
            openapi: Default::default(),
            subjects: Default::default(),
            audit: RwLock::new(None),
        });

        let mut names: Vec<String> = vec![
            "localhost".into(),
            "127.0.0.1".into(),
            "::1".into(),
            "kubernetes".into(),
            "kubernetes.default".into(),
            "kubernetes.default.svc".into(),
        ];
        if !config.listen.ip().is_unspecified() && !names.contains(&config.listen.ip().to_string()) {
            names.push(config.listen.ip().to_string());
        }
        for name in config.server_names {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let serving = cluster.ca.issue_server("kube-apiserver", &names)?;
        let tls_config = tls::server_config(&serving, Some(&cluster.ca.pem().cert_pem))?;
        // The RBAC feed runs from the start, so the bootstrap policy's writes (which wait for the
        // index) are applied as they land.
        let rbac_tasks = [
            tokio::spawn(crate::rbac_sync::follow(cluster.clone())),
            tokio::spawn(crate::rbac_sync::aggregate_forever(cluster.clone())),
        ];
        let started = async {
            let startup = |s: Status| Error::Startup(s.message);
            crate::controllers::load_custom_resources(&cluster).await.map_err(startup)?;
            bootstrap(&cluster, config.listen.port()).await.map_err(startup)?;
            crate::bootstrap_policy::ensure(&cluster).await.map_err(startup)?;
            let addr = listener.local_addr().map_err(|source| Error::Listen { addr: config.listen, source })?;
            Ok::<_, Error>((addr, cluster.objects.current_revision().await.map_err(startup)?))
        };
        let (addr, revision) = match started.await {
            Ok(started) => started,
            Err(error) => {
                rbac_tasks.iter().for_each(|task| task.abort());
                return Err(error);
            }
        };
        // Nothing fails from here on. The index holds the whole policy, aggregated, before the
        // first request.
        cluster.rbac.wait_applied(revision).await;
        crate::rbac_sync::aggregate_once(&cluster).await;
        *cluster.server_address.write().unwrap_or_else(|p| p.into_inner()) = advertised(addr);
        let (stop, mut stopped) = watch::channel(false);
        let router = crate::http::router(cluster.clone());
        let server = tokio::spawn(tls::serve(listener, tls_config, router, async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        let mut background = crate::controllers::spawn(cluster.clone(), stop.subscribe());
        background.extend(rbac_tasks);
        tracing::info!(cluster = %cluster.name, %addr, "Kubernetes API listening");
        Ok(ClusterHandle { cluster, addr, stop, server, background })
    }
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
async fn bootstrap(cluster: &Arc<Cluster>, port: u16) -> Result<(), Status> {
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        cluster
            .ensure("", "Namespace", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .await?;
    }
    let _ = port;
    cluster
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
        format!("https://{}", advertised(self.addr))
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
