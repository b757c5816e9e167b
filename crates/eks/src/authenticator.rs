//! The EKS authenticator of one cluster: a `k8s-aws-v1.` bearer token is verified locally
//! against live IAM state (`eks_auth::TokenVerifier` over [`IamKeys`], accepting this Rampart's
//! own STS endpoint as the token's host and this cluster's name as `x-k8s-aws-id`, verified
//! tokens cached), then mapped to a Kubernetes user through the cluster's access entries and
//! its live aws-auth as the authentication mode says (`eks_auth::resolve`). It serves the
//! cluster's own API (as a `kube_api` token authenticator) and the TokenReview webhook alike.
//!
//! Every authentication the authenticator really performs is logged as aws-iam-authenticator
//! logs it — one `access denied` line for a refused token, `STS response` then `access granted`
//! (or `access denied`) for a verified one — to `<log dir>/authenticator.log`; a token answered
//! from the cache is logged again only when its mapping fails. No line holds the token.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use eks_auth::{AccessKeys, Caller, KubernetesUser, TokenVerifier, VerifierConfig};
use futures::StreamExt as _;
use kube_api::access::authn::TokenAuthenticator;
use rbac::UserInfo;
use sigv4::SigningCredentials;
use store::{KeyRange, Store, WatchRequest};

use crate::access::{AccessState, private_dns_name};

/// How many verified tokens each cluster remembers.
const TOKEN_CACHE_CAPACITY: usize = 10_000;

/// IAM's access keys as the token verifier asks for them: the live `IamHandle`, and a
/// generation bumped on every change of IAM state in the store, so a deactivated key, a deleted
/// key or user or an ended session stops a cached token on the next request.
#[derive(Clone)]
pub struct IamKeys {
    iam: aws_api::IamHandle,
    generation: Arc<AtomicU64>,
}

impl IamKeys {
    /// Keys looked up in `iam`; the generation follows the store's `/iam/` prefix.
    pub fn watching(iam: aws_api::IamHandle, store: Arc<dyn Store>) -> Self {
        let generation = Arc::new(AtomicU64::new(0));
        tokio::spawn(follow_iam_writes(store, Arc::downgrade(&generation)));
        IamKeys { iam, generation }
    }
}

/// Bumps the generation on every write under `/iam/`. IAM writes the store before its memory,
/// so each change is bumped twice: at once, and again a little later, after memory caught up
/// (a token verified in between against the old state is then verified again).
async fn follow_iam_writes(store: Arc<dyn Store>, generation: std::sync::Weak<AtomicU64>) {
    loop {
        let request = WatchRequest {
            key: aws_api::PREFIX.to_string(),
            range: KeyRange::Prefix,
            start_revision: 0,
            prev_kv: false,
        };
        let mut stream = match store.watch(request).await {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "cannot watch IAM state; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        while let Some(events) = stream.next().await {
            let Some(counter) = generation.upgrade() else { return };
            counter.fetch_add(1, Ordering::Release);
            if events.is_err() {
                break;
            }
            let later = Arc::downgrade(&counter);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if let Some(counter) = later.upgrade() {
                    counter.fetch_add(1, Ordering::Release);
                }
            });
        }
        if generation.strong_count() == 0 {
            return;
        }
    }
}

impl AccessKeys for IamKeys {
    fn lookup(&self, access_key_id: &str) -> Option<(SigningCredentials, Caller)> {
        let info = self.iam.access_key(access_key_id)?;
        if !info.active {
            return None;
        }
        let credentials = SigningCredentials {
            secret_access_key: info.secret_access_key,
            session_token: info.session_token,
            expiration: info.expiration,
        };
        let caller = Caller { arn: info.identity.arn, account: info.identity.account, user_id: info.identity.user_id };
        Some((credentials, caller))
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

/// The authenticator's log file (`authenticator.log`), appended to line by line.
pub struct AuthenticatorLog {
    file: Option<Mutex<File>>,
}

impl AuthenticatorLog {
    /// Logs to `<dir>/authenticator.log` (created with its directory), or nowhere for `None`.
    pub fn open(dir: Option<&Path>) -> std::io::Result<Self> {
        let Some(dir) = dir else { return Ok(AuthenticatorLog { file: None }) };
        std::fs::create_dir_all(dir)?;
        let file = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("authenticator.log"))?;
        Ok(AuthenticatorLog { file: Some(Mutex::new(file)) })
    }

    fn write(&self, lines: &[eks_auth::log::LogLine]) {
        let Some(file) = &self.file else { return };
        let mut text = String::new();
        for line in lines {
            text.push_str(&line.to_string());
            text.push('\n');
        }
        let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(error) = file.write_all(text.as_bytes()) {
            tracing::warn!(%error, "cannot write the authenticator log");
        }
    }
}

/// What the authenticator needs to know besides the cluster's access state.
pub struct AuthenticatorConfig {
    /// This Rampart's STS endpoint(s), `https://host:port`: tokens presigned for them are accepted.
    pub sts_origins: Vec<String>,
    pub region: String,
    pub keys: IamKeys,
    pub log: AuthenticatorLog,
}

/// One cluster's EKS authenticator.
pub struct EksAuthenticator {
    verifier: TokenVerifier,
    access: Arc<AccessState>,
    keys: IamKeys,
    log: AuthenticatorLog,
    region: String,
    /// How the authenticator's client is named in log lines when none is known: the address of
    /// the API server it serves, once it listens.
    client: OnceLock<String>,
}

impl EksAuthenticator {
    pub fn new(access: Arc<AccessState>, config: AuthenticatorConfig) -> Self {
        let verifier = TokenVerifier::new(
            VerifierConfig {
                cluster_id: access.cluster_name().to_string(),
                sts_origins: config.sts_origins,
                region: config.region.clone(),
                cache_capacity: TOKEN_CACHE_CAPACITY,
            },
            rand::random(),
        );
        EksAuthenticator {
            verifier,
            access,
            keys: config.keys,
            log: config.log,
            region: config.region,
            client: OnceLock::new(),
        }
    }

    /// Names the API server this authenticator serves (its address) in log lines.
    pub fn set_client(&self, client: String) {
        let _ = self.client.set(client);
    }

    /// Verifies `token` and maps its caller, logging as aws-iam-authenticator does; `client` is
    /// who asked (the webhook's peer), `None` for the cluster's own API server.
    pub async fn authenticate_token(
        &self,
        token: &str,
        client: Option<&str>,
    ) -> Result<KubernetesUser, eks_auth::Error> {
        let now = Utc::now();
        let client = client.or(self.client.get().map(String::as_str)).unwrap_or_default();
        let verified = match self.verifier.verify(token, now, &self.keys) {
            Ok(verified) => verified,
            Err(error) => {
                self.log.write(&[eks_auth::log::token_refused(now, client, &error)]);
                return Err(error);
            }
        };
        let snapshot = self.access.snapshot();
        let aws_auth = if snapshot.mode.uses_config_map() {
            self.access.aws_auth().await.map_err(|status| {
                eks_auth::Error::Mapping(format!("mapper EKSConfigMap Map error: {}", status.message))
            })?
        } else {
            None
        };
        let region = self.region.as_str();
        let ec2 = |instance_id: &str| Some(private_dns_name(region, instance_id));
        let mapped = eks_auth::resolve(&verified.identity, &snapshot.cluster_access(aws_auth.as_deref()), &ec2);
        if !verified.from_cache || mapped.is_err() {
            self.log.write(&eks_auth::log::token_verified(now, client, &verified.identity, &mapped));
        }
        mapped
    }
}

#[async_trait]
impl TokenAuthenticator for EksAuthenticator {
    fn name(&self) -> &str {
        "aws-iam-authenticator"
    }

    async fn authenticate(&self, token: &str) -> Result<Option<UserInfo>, String> {
        if !token.starts_with(eks_auth::TOKEN_PREFIX) {
            return Ok(None);
        }
        match self.authenticate_token(token, None).await {
            Ok(user) => Ok(Some(user.user)),
            Err(error) => Err(error.to_string()),
        }
    }
}
