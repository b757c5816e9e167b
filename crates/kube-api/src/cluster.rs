//! A running cluster as its API front sees it: the object service, the PKI, the access chains
//! (token authenticators, authorizers; admission is the object service's), the audit log, the
//! connect handlers other crates register, and the metrics. Built only by [`crate::server`];
//! other parts of Rampart extend a cluster through the `add_*`/`register_*`/`set_*` methods here
//! and act on its objects through [`Cluster::objects`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use tls::CertificateAuthority;

use crate::access::audit::AuditLog;
use crate::access::authn::{ServiceAccountKey, TokenAuthenticator};
use crate::access::authz::{self, Authorizer};
use crate::access::rbac_index::RbacState;
use crate::connect::ConnectHandler;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::storage::objects::Objects;

/// A client certificate's subject: the user (CN) and groups (O).
type Subject = (String, Vec<String>);

/// The parts a cluster is made of (what [`crate::server`] wires together).
pub(crate) struct Parts {
    pub name: String,
    pub objects: Arc<Objects>,
    pub metrics: Arc<Metrics>,
    pub ca: CertificateAuthority,
    pub service_account_key: Arc<ServiceAccountKey>,
    pub rbac: Arc<RbacState>,
    pub token_authenticators: Vec<Arc<dyn TokenAuthenticator>>,
    pub authorizers: Vec<Arc<dyn Authorizer>>,
    pub allow_anonymous: bool,
    pub bookmark_interval: Duration,
    pub server_address: String,
}

/// A running cluster's shared state. Cheap to share (`Arc<Cluster>`).
pub struct Cluster {
    pub name: String,
    objects: Arc<Objects>,
    metrics: Arc<Metrics>,
    ca: CertificateAuthority,
    service_account_key: Arc<ServiceAccountKey>,
    rbac: Arc<RbacState>,
    token_authenticators: ArcSwap<Vec<Arc<dyn TokenAuthenticator>>>,
    authorizers: ArcSwap<Vec<Arc<dyn Authorizer>>>,
    connect: ArcSwap<HashMap<(String, String), Arc<dyn ConnectHandler>>>,
    audit: ArcSwapOption<AuditLog>,
    allow_anonymous: bool,
    bookmark_interval: Duration,
    /// `host:port` as clients reach the server (discovery's serverAddressByClientCIDRs).
    server_address: String,
    /// Verified client certificates' subjects, by certificate (parsing X.509 on every request of
    /// a keep-alive connection would cost more than the request).
    subjects: Mutex<HashMap<Vec<u8>, Option<Subject>>>,
}

impl Cluster {
    pub(crate) fn new(parts: Parts) -> Cluster {
        Cluster {
            name: parts.name,
            objects: parts.objects,
            metrics: parts.metrics,
            ca: parts.ca,
            service_account_key: parts.service_account_key,
            rbac: parts.rbac,
            token_authenticators: ArcSwap::from_pointee(parts.token_authenticators),
            authorizers: ArcSwap::from_pointee(parts.authorizers),
            connect: ArcSwap::from_pointee(HashMap::new()),
            audit: ArcSwapOption::empty(),
            allow_anonymous: parts.allow_anonymous,
            bookmark_interval: parts.bookmark_interval,
            server_address: parts.server_address,
            subjects: Mutex::default(),
        }
    }

    /// The object service (get, list, watch, create, update, patch, delete).
    pub fn objects(&self) -> &Arc<Objects> {
        &self.objects
    }

    /// The CA certificate (PEM) clients trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca.pem().cert_pem
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// `host:port` as clients reach the server.
    pub fn server_address(&self) -> &str {
        &self.server_address
    }

    /// Whether requests without credentials run as `system:anonymous`.
    pub fn allow_anonymous(&self) -> bool {
        self.allow_anonymous
    }

    /// How often watches that asked for bookmarks get one.
    pub fn bookmark_interval(&self) -> Duration {
        self.bookmark_interval
    }

    /// The subject (user, groups) of a connection's verified client certificate.
    pub(crate) fn client_subject(&self, connection: &tls::ConnectionInfo) -> Option<Subject> {
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

    /// Issue a serving certificate for `names` from the cluster's CA.
    pub fn issue_serving_certificate(&self, names: &[String]) -> Result<tls::CertifiedKey, Error> {
        Ok(self.ca.issue_server("kube-apiserver", names)?)
    }

    /// The key that signs service-account tokens (what TokenRequest returns).
    pub fn service_account_key(&self) -> &Arc<ServiceAccountKey> {
        &self.service_account_key
    }

    /// The cluster's RBAC index (what the built-in RBAC authorizer decides with).
    pub fn rbac_index(&self) -> &Arc<rbac::Authorizer> {
        self.rbac.index()
    }

    /// The bearer-token authenticators, in order.
    pub fn token_authenticators(&self) -> Arc<Vec<Arc<dyn TokenAuthenticator>>> {
        self.token_authenticators.load_full()
    }

    /// The authorizer chain, in kube-apiserver's order.
    pub fn authorizers(&self) -> Arc<Vec<Arc<dyn Authorizer>>> {
        self.authorizers.load_full()
    }

    /// Add a bearer-token authenticator at the end of the chain.
    pub fn add_token_authenticator(&self, authenticator: Arc<dyn TokenAuthenticator>) {
        self.token_authenticators.rcu(|chain| {
            let mut next = Vec::clone(chain);
            next.push(authenticator.clone());
            next
        });
    }

    /// Add an authorizer to the chain, in its [`authz::Slot`] after those of the same slot added
    /// before (so EKS access policies land before RBAC whenever they are added).
    pub fn add_authorizer(&self, authorizer: Arc<dyn Authorizer>) {
        self.authorizers.rcu(|chain| authz::insert(chain, authorizer.clone()));
    }

    /// Log every request from now on to `audit` (audit.k8s.io/v1 Events), replacing any log set
    /// before.
    pub fn set_audit(&self, audit: AuditLog) {
        self.audit.store(Some(Arc::new(audit)));
    }

    /// The audit log, if one is set.
    pub fn audit(&self) -> Option<Arc<AuditLog>> {
        self.audit.load_full()
    }

    /// Serve a connect subresource (`pods/log`, `pods/exec`, `pods/attach`, `pods/portforward`,
    /// `*/proxy`) with `handler`, after authentication and authorization.
    pub fn register_connect(&self, resource: &str, subresource: &str, handler: Arc<dyn ConnectHandler>) {
        self.connect.rcu(|handlers| {
            let mut next = HashMap::clone(handlers);
            next.insert((resource.to_string(), subresource.to_string()), handler.clone());
            next
        });
    }

    pub(crate) fn connect_handler(&self, resource: &str, subresource: &str) -> Option<Arc<dyn ConnectHandler>> {
        self.connect.load().get(&(resource.to_string(), subresource.to_string())).cloned()
    }
}
