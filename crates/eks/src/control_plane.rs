//! The EKS control plane: every cluster of every account and region, each a `kube_api` cluster
//! server of its own (own CA, own listener, objects under `/clusters/<kube name>/`) with the EKS
//! authenticator, the access-policy authorizer and the aws-auth admission check installed, then
//! whatever the binary's per-cluster hooks install (RBAC, workloads). Cluster records live in the
//! store under `/eks/<account>/<region>/clusters/<name>`; a restart brings every recorded cluster
//! back on the port it had, if that port is still free.
//!
//! Writes are serialized within a replica: each one runs on a copy of the cluster's record and
//! is stored by a compare-and-swap on the record's mod revision, and only then replaces the
//! record in memory and the access state the cluster's request path reads, so a failed write
//! changes nothing. If another replica (sharing the store) changed the record meanwhile, the
//! change runs again on the stored record. Records other replicas write arrive through one
//! store watch on `/eks/`, resumed from the last revision applied (repeated events change
//! nothing): a changed record replaces the running one's (access entries take effect on the next
//! request), a new one starts its cluster here too, a deleted one stops it (`store::follow`).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use eks_auth::{AccessEntries, AuthenticationMode, EntryContext};
use futures::future::BoxFuture;
use kube_api::{ClusterConfig, ClusterHandle, ClusterServer, Ctx, Target};
use serde_json::{Value, json};
use store::{Compare, CompareOp, EventKind, KeyRange, KeyValue, Op, Revision, Store, StoreExt, Txn};

use crate::access::{AWS_AUTH_NAME, AWS_AUTH_NAMESPACE, AccessState};
use crate::access_policy::AccessPolicyAuthorizer;
use crate::authenticator::{AuthenticatorConfig, AuthenticatorLog, EksAuthenticator, IamKeys};
use crate::aws_auth::AwsAuthAdmission;
use crate::error::Error;
use crate::model::{
    ClusterKey, ClusterRecord, KUBERNETES_VERSION, PREFIX, SUPPORTED_VERSIONS, UpdateRecord, logging_response,
    network_config_response, vpc_config_response,
};
use crate::rbac_advisories::RbacAdvisories;

/// What other parts of Rampart install into every cluster the control plane starts (RBAC,
/// workloads): awaited once per cluster start, after the EKS pieces are in place and before the
/// cluster is announced (an error fails the start). What it returns, if anything, is called
/// when the cluster is deleted, to stop what the hook left running.
pub type ClusterHook =
    Arc<dyn Fn(Arc<kube_api::Cluster>) -> BoxFuture<'static, Result<Option<StopHook>, String>> + Send + Sync>;

/// Stops what a [`ClusterHook`] started in a cluster that is being deleted.
pub type StopHook = Box<dyn FnOnce() + Send>;

/// What the control plane needs once IAM is up.
pub struct Runtime {
    pub iam: aws_api::IamHandle,
    /// This Rampart's STS endpoint(s) (`https://host:port`), accepted as a token's host.
    pub sts_origins: Vec<String>,
    /// The address new clusters listen on (a free port is picked for each).
    pub kube_ip: IpAddr,
    /// Clusters that must listen at a given address (the default cluster's `--kube-listen`).
    pub pinned_listen: BTreeMap<ClusterKey, SocketAddr>,
    /// Clusters whose endpoint, as `DescribeCluster` and kubeconfigs give it, is not the address
    /// they listen on (a load balancer in front of several replicas), as `https://host:port`.
    pub advertised: BTreeMap<ClusterKey, String>,
    /// Where each cluster's `authenticator.log` goes (`<dir>/<kube name>/`), if anywhere.
    pub log_dir: Option<PathBuf>,
    pub hooks: Vec<ClusterHook>,
}

struct Running {
    runtime: Runtime,
    keys: IamKeys,
}

/// Who calls `CreateCluster`: its IAM principal (a role session's role, with its path) and
/// the principal's unique ID (`AIDA…`/`AROA…`), if IAM knows it.
#[derive(Clone, Debug)]
pub struct Creator {
    pub arn: String,
    pub principal_id: Option<String>,
}

/// A `CreateCluster` request, as parsed by the API.
#[derive(Clone, Debug, Default)]
pub struct NewCluster {
    pub name: String,
    pub version: Option<String>,
    pub role_arn: String,
    pub resources_vpc_config: Value,
    pub logging: Option<Value>,
    pub tags: BTreeMap<String, String>,
    pub authentication_mode: Option<String>,
    pub bootstrap_cluster_creator_admin_permissions: Option<bool>,
    pub client_request_token: Option<String>,
}

/// A cluster whose API server runs in this process.
pub struct RunningCluster {
    record: RwLock<ClusterRecord>,
    /// The mod revision of the stored record `record` is (what a write compares).
    revision: AtomicI64,
    access: Arc<AccessState>,
    authenticator: Arc<EksAuthenticator>,
    cluster: Arc<kube_api::Cluster>,
    server_url: String,
    handle: Mutex<Option<ClusterHandle>>,
    /// What the hooks left running.
    stops: Mutex<Vec<StopHook>>,
    /// A TLS client of the cluster's own API as `system:masters` (the SubjectAccessReview webhook).
    review_client: OnceLock<Arc<rustls::ClientConfig>>,
}

impl RunningCluster {
    /// The cluster's record as of its last write.
    pub fn record(&self) -> ClusterRecord {
        self.record.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn cluster(&self) -> &Arc<kube_api::Cluster> {
        &self.cluster
    }

    /// Makes `record`, stored at `revision`, the live one (its access state included).
    fn set_record(&self, record: ClusterRecord, revision: Revision) {
        self.access.update(&record);
        *self.record.write().unwrap_or_else(|p| p.into_inner()) = record;
        self.revision.store(revision, Ordering::Release);
    }

    /// The EKS endpoint: `https://<address>` of its API server, or the advertised URL.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    pub fn authenticator(&self) -> &Arc<EksAuthenticator> {
        &self.authenticator
    }

    pub fn access(&self) -> &Arc<AccessState> {
        &self.access
    }

    /// The `Cluster` structure of the EKS API, with the given status.
    pub fn to_wire(&self, status: &str) -> Value {
        self.record().to_wire(status, &self.server_url, self.cluster.ca_pem())
    }

    /// A TLS client configuration trusting the cluster's CA and presenting a `system:masters`
    /// client certificate (`rampart:webhook`), made once.
    pub fn review_client(&self) -> Result<Arc<rustls::ClientConfig>, String> {
        if let Some(config) = self.review_client.get() {
            return Ok(config.clone());
        }
        let certificate = self
            .cluster
            .issue_client_certificate("rampart:webhook", Some(rbac::SYSTEM_MASTERS))
            .map_err(|e| e.to_string())?;
        let pem_error = |e: std::io::Error| format!("PEM: {e}");
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut self.cluster.ca_pem().as_bytes()) {
            roots.add(cert.map_err(pem_error)?).map_err(|e| e.to_string())?;
        }
        let chain = rustls_pemfile::certs(&mut certificate.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(pem_error)?;
        let key = rustls_pemfile::private_key(&mut certificate.key_pem.as_bytes())
            .map_err(pem_error)?
            .ok_or("no private key in the client certificate")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| e.to_string())?;
        Ok(self.review_client.get_or_init(|| Arc::new(config)).clone())
    }

    /// A client-certificate kubeconfig for `kubernetes-admin` in `system:masters`.
    pub fn admin_kubeconfig(&self) -> Result<String, kube_api::Error> {
        match self.handle.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            Some(handle) => handle.admin_kubeconfig(),
            None => Err(kube_api::Error::Startup(format!("cluster {} was deleted", self.record().name))),
        }
    }
}

/// The EKS service's state: every cluster.
pub struct Eks {
    store: Arc<dyn Store>,
    default_account: String,
    default_region: String,
    running: OnceLock<Running>,
    clusters: RwLock<BTreeMap<ClusterKey, Arc<RunningCluster>>>,
    writes: tokio::sync::Mutex<()>,
    /// The last revision of each cluster's record this replica wrote or applied (a delete's
    /// included): a watched change at or below it is old news.
    known: Mutex<BTreeMap<ClusterKey, Revision>>,
    /// Set once the process is ending: the watch no longer starts clusters.
    stopping: std::sync::atomic::AtomicBool,
}

/// `^[0-9A-Za-z][A-Za-z0-9\-_]*$`, at most 100 characters.
fn check_cluster_name(name: &str) -> Result<(), Error> {
    let valid = !name.is_empty()
        && name.len() <= 100
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(Error::invalid_parameter(format!(
            "1 validation error detected: Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy \
             regular expression pattern: ^[0-9A-Za-z][A-Za-z0-9\\-_]*"
        )))
    }
}

/// A cluster service role: `arn:<partition>:iam::<12 digits>:role/…`.
fn check_role_arn(role_arn: &str) -> Result<(), Error> {
    let valid = aws_arn::Arn::parse(role_arn).is_ok_and(|arn| {
        arn.service == "iam"
            && arn.region.is_empty()
            && arn.account_id.len() == 12
            && arn.account_id.bytes().all(|b| b.is_ascii_digit())
            && arn.resource.strip_prefix("role/").is_some_and(|name| !name.is_empty())
    });
    if valid { Ok(()) } else { Err(Error::invalid_parameter(format!("Invalid roleArn: {role_arn}"))) }
}

/// The unique ID (`AIDA…`, `AROA…`) of the IAM user or role `arn` names, if IAM has it.
pub fn principal_id(iam: &aws_api::IamHandle, arn: &str) -> Option<String> {
    let parsed = aws_arn::Arn::parse(arn).ok()?;
    if parsed.service != "iam" {
        return None;
    }
    let name = parsed.resource.rsplit('/').next()?;
    iam.with_state(|state| {
        let account = state.account(parsed.account_id)?;
        if parsed.resource.starts_with("user/") {
            account.user(name).ok().filter(|user| user.arn == arn).map(|user| user.user_id.clone())
        } else if parsed.resource.starts_with("role/") {
            account.role(name).ok().filter(|role| role.arn == arn).map(|role| role.role_id.clone())
        } else {
            None
        }
    })
}

/// A new cluster's aws-auth, as EKS writes it for a managed node group.
fn aws_auth_configmap(node_role_arn: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": AWS_AUTH_NAME, "namespace": AWS_AUTH_NAMESPACE},
        "data": {
            "mapRoles": format!(
                "- groups:\n  - system:bootstrappers\n  - system:nodes\n  rolearn: {node_role_arn}\n  username: system:node:{{{{EC2PrivateDNSName}}}}\n"
            ),
        },
    })
}

impl Eks {
    /// The EKS service over `store`, for callers whose region is unknown defaulting to
    /// `default_region`. It answers 503 until [`Eks::start`].
    pub fn new(store: Arc<dyn Store>, default_account: &str, default_region: &str) -> Arc<Self> {
        Arc::new(Eks {
            store,
            default_account: default_account.to_string(),
            default_region: default_region.to_string(),
            running: OnceLock::new(),
            clusters: RwLock::new(BTreeMap::new()),
            writes: tokio::sync::Mutex::new(()),
            known: Mutex::new(BTreeMap::new()),
            stopping: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub fn default_account(&self) -> &str {
        &self.default_account
    }

    pub fn default_region(&self) -> &str {
        &self.default_region
    }

    fn running(&self) -> Result<&Running, Error> {
        self.running.get().ok_or_else(|| Error::unavailable("The EKS service is starting. Try again."))
    }

    pub fn iam(&self) -> Option<&aws_api::IamHandle> {
        self.running.get().map(|running| &running.runtime.iam)
    }

    /// Takes the runtime, starts every recorded cluster, and follows the records other
    /// replicas write from then on.
    pub async fn start(self: &Arc<Self>, runtime: Runtime) -> Result<(), Error> {
        let keys = IamKeys::new(runtime.iam.clone());
        if self.running.set(Running { runtime, keys }).is_err() {
            return Ok(());
        }
        let _writing = self.writes.lock().await;
        let listing = self.store.list(PREFIX).await?;
        for kv in &listing.kvs {
            if ClusterKey::from_store_key(&kv.key).is_none() {
                continue;
            }
            let mut record = decode_record(kv)?;
            let recorded = record.listen;
            let running = self.start_cluster(&mut record).await?;
            running.revision.store(kv.mod_revision, Ordering::Release);
            self.advance(&record.key(), kv.mod_revision);
            if record.listen != recorded {
                tracing::warn!(cluster = %record.name, from = %recorded, to = %record.listen, "cluster endpoint moved");
                // Only if no other replica changed the record since it was read.
                if let Some(revision) = self.store.update(&kv.key, encode_record(&record), kv.mod_revision).await? {
                    running.revision.store(revision, Ordering::Release);
                    self.advance(&record.key(), revision);
                }
            }
            self.clusters.write().unwrap_or_else(|p| p.into_inner()).insert(record.key(), running);
        }
        store::follow(self.store.clone(), PREFIX, listing.revision + 1, Arc::downgrade(self));
        Ok(())
    }

    /// Records that this replica knows `key`'s record as of `revision`; false if it knew a
    /// later (or the same) one already.
    fn advance(&self, key: &ClusterKey, revision: Revision) -> bool {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        let last = known.entry(key.clone()).or_default();
        if revision <= *last {
            return false;
        }
        *last = revision;
        true
    }

    /// A record another replica wrote (or deleted, `None`) at `revision`: make the running
    /// clusters agree. Called with the writes lock held.
    async fn apply_record(&self, key: ClusterKey, stored: Option<(ClusterRecord, Revision)>, revision: Revision) {
        if self.stopping.load(Ordering::Acquire) || !self.advance(&key, revision) {
            return;
        }
        match (self.cluster(&key), stored) {
            (Some(running), Some((record, mod_revision))) => {
                if mod_revision > running.revision.load(Ordering::Acquire) {
                    running.set_record(record, mod_revision);
                }
            }
            (Some(running), None) => {
                if revision > running.revision.load(Ordering::Acquire) {
                    self.clusters.write().unwrap_or_else(|p| p.into_inner()).remove(&key);
                    shutdown(&running).await;
                }
            }
            (None, Some((mut record, mod_revision))) => match self.start_cluster(&mut record).await {
                Ok(running) => {
                    running.revision.store(mod_revision, Ordering::Release);
                    self.clusters.write().unwrap_or_else(|p| p.into_inner()).insert(key, running);
                }
                Err(error) => {
                    tracing::error!(cluster = %key.name, %error, "cannot start a cluster another replica created")
                }
            },
            (None, None) => {}
        }
    }

    /// Makes the running clusters agree with every record in the store (after the watch's
    /// history was compacted away); returns the revision read at.
    async fn resync(&self) -> Result<Revision, Error> {
        let _writing = self.writes.lock().await;
        let listing = self.store.list(PREFIX).await?;
        let mut stored = BTreeMap::new();
        for kv in &listing.kvs {
            if let Some(key) = ClusterKey::from_store_key(&kv.key) {
                stored.insert(key, (decode_record(kv)?, kv.mod_revision));
            }
        }
        let running: Vec<ClusterKey> =
            self.clusters.read().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect();
        for key in running.into_iter().filter(|key| !stored.contains_key(key)) {
            self.apply_record(key, None, listing.revision).await;
        }
        for (key, record) in stored {
            self.apply_record(key, Some(record), listing.revision).await;
        }
        Ok(listing.revision)
    }

    /// Starts a cluster's API server with the EKS pieces and the hooks installed; records where
    /// it listens in `record.listen`.
    async fn start_cluster(&self, record: &mut ClusterRecord) -> Result<Arc<RunningCluster>, Error> {
        let running = self.running()?;
        let runtime = &running.runtime;
        let pinned = runtime.pinned_listen.get(&record.key()).copied();
        let listen = pinned.unwrap_or(record.listen);
        let access = Arc::new(AccessState::new(record));
        let log_dir = runtime.log_dir.as_ref().map(|dir| dir.join(&record.kube_name));
        let log = AuthenticatorLog::open(log_dir.as_deref()).map_err(|e| Error::Start {
            cluster: record.name.clone(),
            source: kube_api::Error::Startup(format!("cannot open the authenticator log: {e}")),
        })?;
        let authenticator = Arc::new(EksAuthenticator::new(
            access.clone(),
            AuthenticatorConfig {
                sts_origins: runtime.sts_origins.clone(),
                region: record.region.clone(),
                keys: running.keys.clone(),
                log,
            },
        ));
        let config = |listen: SocketAddr| {
            let mut config = ClusterConfig::new(&record.kube_name, listen, self.store.clone());
            config.token_authenticators = vec![authenticator.clone()];
            config.authorizers = vec![Arc::new(AccessPolicyAuthorizer::new(access.clone()))];
            config.admission = vec![Arc::new(AwsAuthAdmission::new(access.clone()))];
            config
        };
        let handle = match ClusterServer::start(config(listen)).await {
            // The recorded port is taken: the endpoint moves (an address the user gave does not).
            Err(kube_api::Error::Listen { .. }) if listen.port() != 0 && pinned.is_none() => {
                ClusterServer::start(config(SocketAddr::new(listen.ip(), 0))).await
            }
            started => started,
        }
        .map_err(|source| Error::Start { cluster: record.name.clone(), source })?;
        record.listen = handle.addr();
        authenticator.set_client(handle.server_url().trim_start_matches("https://").to_string());
        let cluster = handle.cluster().clone();
        access.attach(&cluster);
        cluster.objects().add_admission_hook(Arc::new(RbacAdvisories::new(cluster.rbac_index().clone())));
        let mut stops = Vec::new();
        for hook in &runtime.hooks {
            match hook(cluster.clone()).await {
                Ok(stop) => stops.extend(stop),
                Err(reason) => {
                    for stop in stops {
                        stop();
                    }
                    handle.shutdown().await;
                    return Err(Error::Start {
                        cluster: record.name.clone(),
                        source: kube_api::Error::Startup(reason),
                    });
                }
            }
        }
        Ok(Arc::new(RunningCluster {
            record: RwLock::new(record.clone()),
            revision: AtomicI64::new(0),
            access,
            authenticator,
            server_url: runtime.advertised.get(&record.key()).cloned().unwrap_or_else(|| handle.server_url()),
            cluster,
            handle: Mutex::new(Some(handle)),
            stops: Mutex::new(stops),
            review_client: OnceLock::new(),
        }))
    }

    /// The running cluster `key`.
    pub fn cluster(&self, key: &ClusterKey) -> Option<Arc<RunningCluster>> {
        self.clusters.read().unwrap_or_else(|p| p.into_inner()).get(key).cloned()
    }

    /// The running cluster `key`, or EKS's `ResourceNotFoundException`.
    pub fn existing(&self, key: &ClusterKey) -> Result<Arc<RunningCluster>, Error> {
        self.cluster(key).ok_or_else(|| Error::no_cluster(&key.name))
    }

    /// Every running cluster.
    pub fn clusters(&self) -> Vec<Arc<RunningCluster>> {
        self.clusters.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// The names of the clusters of an account in a region, sorted.
    pub fn list(&self, account: &str, region: &str) -> Vec<String> {
        self.clusters
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .filter(|key| key.account == account && key.region == region)
            .map(|key| key.name.clone())
            .collect()
    }

    /// `CreateCluster` in `account` and `region` by `creator`; `listen` pins the address (the
    /// default cluster), else a free port is picked. Returns the new cluster.
    pub async fn create_cluster(
        &self,
        account: &str,
        region: &str,
        creator: &Creator,
        request: NewCluster,
        listen: Option<SocketAddr>,
        now: DateTime<Utc>,
    ) -> Result<Arc<RunningCluster>, Error> {
        let kube_ip = self.running()?.runtime.kube_ip;
        check_cluster_name(&request.name)?;
        let key = ClusterKey::new(account, region, &request.name);
        let _writing = self.writes.lock().await;
        if self.cluster(&key).is_some() {
            return Err(Error::resource_in_use(format!("Cluster already exists with name: {}", request.name)));
        }
        let version = request.version.unwrap_or_else(|| KUBERNETES_VERSION.to_string());
        if !SUPPORTED_VERSIONS.contains(&version.as_str()) {
            return Err(Error::invalid_parameter(format!("unsupported Kubernetes version {version}")));
        }
        check_role_arn(&request.role_arn)?;
        let mode = match &request.authentication_mode {
            Some(mode) => mode.parse::<AuthenticationMode>()?,
            None => AuthenticationMode::default(),
        };
        let bootstrap = request.bootstrap_cluster_creator_admin_permissions.unwrap_or(true);
        mode.check_create(bootstrap)?;

        let id = uuid::Uuid::new_v4().simple().to_string().to_ascii_uppercase();
        let kube_name = if account == self.default_account && region == self.default_region {
            request.name.clone()
        } else {
            format!("{}.{region}.{account}", request.name)
        };
        let mut record = ClusterRecord {
            name: request.name.clone(),
            account: account.to_string(),
            region: region.to_string(),
            resources_vpc_config: vpc_config_response(&request.resources_vpc_config, &id),
            id,
            created_at: now,
            version,
            role_arn: request.role_arn,
            kubernetes_network_config: network_config_response(),
            logging: logging_response(None, request.logging.as_ref()),
            tags: request.tags,
            authentication_mode: mode,
            bootstrap_cluster_creator_admin_permissions: bootstrap,
            creator_arn: creator.arn.clone(),
            client_request_token: request.client_request_token,
            kube_name,
            listen: listen.unwrap_or(SocketAddr::new(kube_ip, 0)),
            access_entries: AccessEntries::default(),
            updates: Vec::new(),
        };
        if bootstrap && mode.uses_access_entries() {
            bootstrap_creator(&mut record, creator.principal_id.as_deref(), now)?;
        }
        // Objects left by a cluster of this name that was never recorded (a data directory from
        // before clusters went through EKS) are kept: its CA and objects are the cluster's.
        let running = self.start_cluster(&mut record).await?;
        let txn = Txn {
            compare: vec![Compare::ModRevision(key.store_key(), CompareOp::Equal, 0)],
            success: vec![Op::put(key.store_key(), encode_record(&record))],
            failure: vec![],
        };
        let stored = match self.store.txn(txn).await {
            Ok(response) if response.succeeded => {
                running.revision.store(response.revision, Ordering::Release);
                self.advance(&key, response.revision);
                Ok(())
            }
            Ok(_) => Err(Error::resource_in_use(format!("Cluster already exists with name: {}", record.name))),
            Err(error) => Err(error.into()),
        };
        if let Err(error) = stored {
            shutdown(&running).await;
            return Err(error);
        }
        self.clusters.write().unwrap_or_else(|p| p.into_inner()).insert(key, running.clone());
        self.ensure_aws_auth(&running, &record).await;
        Ok(running)
    }

    /// Writes a new cluster's aws-auth (mapping the simulated node group's role) unless one exists.
    async fn ensure_aws_auth(&self, running: &RunningCluster, record: &ClusterRecord) {
        let Some(configmaps) = running.cluster.objects().resource("", "v1", "configmaps") else { return };
        let mut ctx = Ctx {
            user: rbac::UserInfo {
                name: "eks:node-manager".into(),
                groups: vec!["system:authenticated".into()],
                ..Default::default()
            },
            user_agent: "vpcLambda/v0.0.0 (linux/amd64) kubernetes/$Format".into(),
            field_manager: Some("vpcLambda".into()),
            ..Default::default()
        };
        match running
            .cluster
            .objects()
            .create(
                &Target::collection(&configmaps, AWS_AUTH_NAMESPACE),
                aws_auth_configmap(&record.node_role_arn()),
                &mut ctx,
            )
            .await
        {
            Ok(_) => {}
            Err(status) if status.code == 409 => {}
            Err(status) => tracing::error!(cluster = %record.name, error = %status.message, "cannot create aws-auth"),
        }
    }

    /// `DeleteCluster`: stops its API server and removes the cluster, its objects and its CA.
    pub async fn delete_cluster(&self, key: &ClusterKey) -> Result<Value, Error> {
        let _writing = self.writes.lock().await;
        let running = self.existing(key)?;
        let record = running.record();
        let txn = Txn {
            compare: vec![],
            success: vec![
                Op::delete(key.store_key()),
                Op::Delete { key: format!("/clusters/{}/", record.kube_name), range: KeyRange::Prefix },
            ],
            failure: vec![],
        };
        let deleted = self.store.txn(txn).await?;
        self.advance(key, deleted.revision);
        self.clusters.write().unwrap_or_else(|p| p.into_inner()).remove(key);
        let answer = running.to_wire("DELETING");
        shutdown(&running).await;
        Ok(answer)
    }

    /// Stops every cluster's API server and what the hooks started in it, keeping their records
    /// (the process is ending; a restart brings them back).
    pub async fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        let running: Vec<Arc<RunningCluster>> =
            std::mem::take(&mut *self.clusters.write().unwrap_or_else(|p| p.into_inner())).into_values().collect();
        for cluster in running {
            shutdown(&cluster).await;
        }
    }

    /// Runs `change` on a copy of the cluster's record, stores it if the stored record is still
    /// the one it ran on (else runs it again on the stored one) and makes it live; a failure
    /// changes nothing.
    pub async fn update_record<T>(
        &self,
        key: &ClusterKey,
        mut change: impl FnMut(&mut ClusterRecord) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let _writing = self.writes.lock().await;
        loop {
            let running = self.existing(key)?;
            let mut record = running.record();
            let expected = running.revision.load(Ordering::Acquire);
            let value = change(&mut record)?;
            if let Some(revision) = self.store.update(&key.store_key(), encode_record(&record), expected).await? {
                running.set_record(record, revision);
                self.advance(key, revision);
                return Ok(value);
            }
            // Another replica wrote the record: take the stored one and run `change` again.
            match self.store.get(&key.store_key()).await? {
                Some(kv) => running.set_record(decode_record(&kv)?, kv.mod_revision),
                None => return Err(Error::no_cluster(&key.name)),
            }
        }
    }

    /// `UpdateClusterConfig`: one kind of change per call (authentication mode, logging, or
    /// endpoint access), applied at once; returns the update.
    pub async fn update_config(&self, key: &ClusterKey, body: &Value, now: DateTime<Utc>) -> Result<Value, Error> {
        let iam = self.running()?.runtime.iam.clone();
        let present: Vec<&str> = ["accessConfig", "logging", "resourcesVpcConfig"]
            .into_iter()
            .filter(|field| body.get(*field).is_some_and(|v| !v.is_null()))
            .collect();
        if present.len() > 1 {
            return Err(Error::invalid_parameter("Only one type of update can be allowed."));
        }
        self.update_record(key, |record| {
            let update = match present.first().copied() {
                Some("accessConfig") => {
                    let Some(mode) = body.pointer("/accessConfig/authenticationMode").and_then(Value::as_str) else {
                        return Err(Error::invalid_parameter(
                            "The authenticationMode of accessConfig must be specified.",
                        ));
                    };
                    let mode: AuthenticationMode = mode.parse()?;
                    record.authentication_mode.check_transition(mode)?;
                    let leaving_config_map = !record.authentication_mode.uses_access_entries();
                    record.authentication_mode = mode;
                    if leaving_config_map && record.bootstrap_cluster_creator_admin_permissions {
                        let principal_id = principal_id(&iam, &record.creator_arn);
                        bootstrap_creator(record, principal_id.as_deref(), now)?;
                    }
                    ("AccessConfigUpdate", vec![("AuthenticationMode".to_string(), mode.as_str().to_string())])
                }
                Some("logging") => {
                    record.logging = logging_response(Some(&record.logging), body.get("logging"));
                    (
                        "LoggingUpdate",
                        vec![("ClusterLogging".to_string(), record.logging["clusterLogging"].to_string())],
                    )
                }
                Some(_) => {
                    let vpc = &body["resourcesVpcConfig"];
                    let mut params = Vec::new();
                    for (field, param) in [
                        ("endpointPublicAccess", "EndpointPublicAccess"),
                        ("endpointPrivateAccess", "EndpointPrivateAccess"),
                        ("publicAccessCidrs", "PublicAccessCidrs"),
                        ("subnetIds", "Subnets"),
                        ("securityGroupIds", "SecurityGroups"),
                    ] {
                        if let Some(value) = vpc.get(field).filter(|v| !v.is_null()) {
                            record.resources_vpc_config[field] = value.clone();
                            let text = value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string());
                            params.push((param.to_string(), text));
                        }
                    }
                    ("EndpointAccessUpdate", params)
                }
                None => {
                    return Err(Error::invalid_parameter(
                        "No changes needed: specify accessConfig, logging or resourcesVpcConfig.",
                    ));
                }
            };
            let update = UpdateRecord {
                id: uuid::Uuid::new_v4().to_string(),
                update_type: update.0.to_string(),
                params: update.1,
                created_at: now,
            };
            record.updates.push(update.clone());
            Ok(update.to_wire("InProgress"))
        })
        .await
    }
}

fn encode_record(record: &ClusterRecord) -> Bytes {
    Bytes::from(serde_json::to_vec(record).expect("records serialize"))
}

fn decode_record(kv: &KeyValue) -> Result<ClusterRecord, Error> {
    serde_json::from_slice(&kv.value).map_err(|e| Error::Corrupt { key: kv.key.clone(), reason: e.to_string() })
}

#[async_trait::async_trait]
impl store::Follower for Eks {
    type Error = Error;

    async fn apply(&self, events: Vec<store::Event>) -> Result<(), Error> {
        let Some(revision) = events.first().map(|event| event.kv.mod_revision) else { return Ok(()) };
        let _writing = self.writes.lock().await;
        for event in events {
            let Some(key) = ClusterKey::from_store_key(&event.kv.key) else { continue };
            let stored = match event.kind {
                EventKind::Put => Some((decode_record(&event.kv)?, event.kv.mod_revision)),
                EventKind::Delete => None,
            };
            self.apply_record(key, stored, revision).await;
        }
        Ok(())
    }

    async fn resync(&self) -> Result<Revision, Error> {
        Eks::resync(self).await
    }
}

/// What EKS does for the creator when access entries are on and
/// `bootstrapClusterCreatorAdminPermissions` is set: an access entry with
/// AmazonEKSClusterAdminPolicy. A creator IAM cannot name as a principal (the account root) gets
/// none, and keeps no access.
fn bootstrap_creator(record: &mut ClusterRecord, principal_id: Option<&str>, now: DateTime<Utc>) -> Result<(), Error> {
    let suffix = uuid::Uuid::new_v4().to_string();
    let context = EntryContext {
        cluster_name: &record.name,
        region: &record.region,
        account_id: &record.account,
        principal_id,
        unique_suffix: &suffix,
        now,
    };
    let mode = record.authentication_mode;
    let creator = record.creator_arn.clone();
    let mut entries = record.access_entries.clone();
    match entries.bootstrap_cluster_creator(mode, &creator, &context) {
        Ok(_) => {
            record.access_entries = entries;
            Ok(())
        }
        Err(error) if principal_id.is_none() => {
            tracing::warn!(cluster = %record.name, %creator, %error, "no access entry for the cluster creator");
            Ok(())
        }
        Err(error) => Err(error.into()),
    }
}

async fn shutdown(running: &RunningCluster) {
    let stops = std::mem::take(&mut *running.stops.lock().unwrap_or_else(|p| p.into_inner()));
    for stop in stops {
        stop();
    }
    let handle = running.handle.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(handle) = handle {
        handle.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_and_role_arns_are_checked_as_eks_checks_them() {
        assert!(check_cluster_name("demo-1_a").is_ok());
        for bad in ["", "-demo", "de mo", "demo!", &"a".repeat(101)] {
            let error = check_cluster_name(bad).unwrap_err();
            assert_eq!(error.code(), "InvalidParameterException", "{bad}");
        }
        assert!(check_role_arn("arn:aws:iam::123456789012:role/eksClusterRole").is_ok());
        assert!(check_role_arn("arn:aws:iam::123456789012:role/service/eksClusterRole").is_ok());
        for bad in [
            "eksClusterRole",
            "arn:aws:iam::123456789012:user/alice",
            "arn:aws:iam::1234:role/x",
            "arn:aws:iam::123456789012:role/",
        ] {
            assert_eq!(check_role_arn(bad).unwrap_err().message(), format!("Invalid roleArn: {bad}"));
        }
    }

    #[test]
    fn a_new_clusters_aws_auth_maps_the_node_role_as_eks_does() {
        let configmap = aws_auth_configmap("arn:aws:iam::123456789012:role/AmazonEKSNodeRole");
        let data = crate::access::configmap_data(&configmap);
        let parsed = eks_auth::AwsAuth::validate(&data).unwrap().0;
        let role = parsed.roles().first().unwrap();
        assert_eq!(role.rolearn, "arn:aws:iam::123456789012:role/AmazonEKSNodeRole");
        assert_eq!(role.username, "system:node:{{EC2PrivateDNSName}}");
        assert_eq!(role.groups, ["system:bootstrappers", "system:nodes"]);
    }
}
