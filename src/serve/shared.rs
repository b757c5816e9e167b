//! Replicas on one etcd: which store `rampart serve` runs on, and what every replica sharing an
//! etcd must agree on before it writes anything.
//!
//! Without `--etcd-servers` (or the configuration file's `etcd:` section) the store is the
//! embedded one in the data directory. With it, the store is that etcd cluster, and its
//! `/rampart/layout` key records the key layout this Rampart writes, the default account,
//! region and cluster, and a secret sealed with the replica's sealing key. A replica refuses to
//! start — with one line, before it writes anything — when the etcd was written in another
//! layout, for another account, region or default cluster, or with another sealing key (it
//! could not open the secrets another replica stored). The first replica writes the key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use aws_api::KeyFileSealer;
use iam::persist::Sealer;
use serde::{Deserialize, Serialize};
use store::{EtcdOptions, EtcdStore, EtcdTls, Store, StoreExt};

use super::ServeArgs;
use super::config::{Config, EtcdConfig};

/// The key layout this Rampart writes (`/iam/…`, `/eks/…`, `/clusters/<C>/…`, `/rampart/…`).
pub const LAYOUT: u32 = 1;

/// Where the layout and the replicas' agreement are recorded.
const LAYOUT_KEY: &str = "/rampart/layout";

/// What the sealed check of the layout key holds.
const SEALING_CHECK: &str = "rampart sealing key check";

/// What `/rampart/layout` holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Layout {
    layout: u32,
    account_id: String,
    region: String,
    cluster: String,
    /// [`SEALING_CHECK`] sealed with the replicas' key.
    sealing_check: String,
}

/// How to reach etcd, from the flags or else the configuration file.
pub struct EtcdSettings {
    endpoints: Vec<String>,
    tls: Option<EtcdTls>,
}

impl EtcdSettings {
    /// The settings of `--etcd-servers` and its TLS files (else the configuration file's `etcd:`
    /// section), their files read; `None` for the embedded store.
    pub fn new(args: &ServeArgs, config: &Config) -> anyhow::Result<Option<Self>> {
        let from_flags = EtcdConfig {
            servers: args.etcd_servers.clone(),
            cafile: args.etcd_cafile.clone(),
            certfile: args.etcd_certfile.clone(),
            keyfile: args.etcd_keyfile.clone(),
        };
        let chosen = if !from_flags.servers.is_empty() { Some(&from_flags) } else { config.etcd.as_ref() };
        let Some(chosen) = chosen.filter(|etcd| !etcd.servers.is_empty()) else {
            if from_flags.cafile.is_some() || from_flags.certfile.is_some() || from_flags.keyfile.is_some() {
                anyhow::bail!("--etcd-cafile, --etcd-certfile and --etcd-keyfile need --etcd-servers");
            }
            return Ok(None);
        };
        let read = |path: &PathBuf| {
            std::fs::read_to_string(path).with_context(|| format!("cannot read the etcd TLS file {}", path.display()))
        };
        let identity = match (&chosen.certfile, &chosen.keyfile) {
            (Some(cert), Some(key)) => Some((read(cert)?, read(key)?)),
            (None, None) => None,
            _ => anyhow::bail!("--etcd-certfile and --etcd-keyfile go together"),
        };
        let ca_pem = chosen.cafile.as_ref().map(read).transpose()?;
        let tls = (ca_pem.is_some() || identity.is_some()).then_some(EtcdTls { ca_pem, identity });
        Ok(Some(EtcdSettings { endpoints: chosen.servers.clone(), tls }))
    }

    /// The endpoints as the user gave them, for messages.
    pub fn describe(&self) -> String {
        self.endpoints.join(",")
    }

    /// Connects, failing with one line if no member answers.
    pub async fn connect(&self) -> anyhow::Result<Arc<dyn Store>> {
        let options = EtcdOptions { tls: self.tls.clone(), ..EtcdOptions::default() };
        Ok(Arc::new(EtcdStore::connect(&self.endpoints, options).await?))
    }
}

/// The sealing key's file: `--sealing-key-file`, else `DIR/aws/sealing.key`.
pub fn sealing_key_path(args: &ServeArgs) -> PathBuf {
    args.sealing_key_file.clone().unwrap_or_else(|| args.data_dir.join("aws").join("sealing.key"))
}

/// Refuses an etcd this replica must not write to: another layout, another account, region or
/// default cluster, or secrets sealed with a key this replica does not have. Writes nothing.
pub async fn check(store: &dyn Store, args: &ServeArgs, sealing_key: &Path, etcd: &str) -> anyhow::Result<()> {
    let Some(kv) = store.get(LAYOUT_KEY).await? else { return Ok(()) };
    let unreadable = || format!("etcd at {etcd} holds a {LAYOUT_KEY} this Rampart cannot read; use another etcd");
    let version: serde_json::Value = serde_json::from_slice(&kv.value).with_context(unreadable)?;
    let layout = version.get("layout").and_then(serde_json::Value::as_u64).with_context(unreadable)?;
    if layout != u64::from(LAYOUT) {
        anyhow::bail!(
            "etcd at {etcd} holds Rampart state in layout {layout}, and this version of Rampart writes layout \
             {LAYOUT}; run the Rampart that wrote it, or use another etcd"
        );
    }
    let recorded: Layout = serde_json::from_value(version).with_context(unreadable)?;
    let ours = (&args.account_id, &args.region, &args.cluster);
    if (&recorded.account_id, &recorded.region, &recorded.cluster) != ours {
        anyhow::bail!(
            "etcd at {etcd} holds the state of replicas started with --account-id {} --region {} --cluster {}, and \
             this one was started with --account-id {} --region {} --cluster {}; replicas on one etcd must agree: \
             start it with the same flags, or use another etcd",
            recorded.account_id,
            recorded.region,
            recorded.cluster,
            args.account_id,
            args.region,
            args.cluster
        );
    }
    if !sealing_key.exists() {
        anyhow::bail!(
            "etcd at {etcd} holds secrets sealed with another replica's key, and there is no {}; give every replica \
             the same key: --sealing-key-file FILE (the first replica's)",
            sealing_key.display()
        );
    }
    let sealer = KeyFileSealer::open_or_create(sealing_key)?;
    if sealer.open(&recorded.sealing_check).as_deref() != Some(SEALING_CHECK) {
        anyhow::bail!(
            "the sealing key {} does not open the secrets in etcd at {etcd}; give every replica the same key: \
             --sealing-key-file FILE (the first replica's)",
            sealing_key.display()
        );
    }
    Ok(())
}

/// Records this replica's layout, account and sealing key unless a replica did before
/// ([`check`] accepted what it recorded).
pub async fn record(store: &dyn Store, args: &ServeArgs, sealer: &KeyFileSealer) -> anyhow::Result<()> {
    let layout = Layout {
        layout: LAYOUT,
        account_id: args.account_id.clone(),
        region: args.region.clone(),
        cluster: args.cluster.clone(),
        sealing_check: sealer.seal(SEALING_CHECK),
    };
    let value = serde_json::to_vec(&layout).expect("the layout serializes");
    store.create(LAYOUT_KEY, value.into()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(flags: &[&str]) -> ServeArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        Cli::parse_from(std::iter::once("rampart").chain(flags.iter().copied())).serve
    }

    #[tokio::test]
    async fn replicas_that_disagree_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a").display().to_string();
        let first = args(&["--data-dir", &data]);
        let store = store::MemStore::new();
        let key = sealing_key_path(&first);
        check(&store, &first, &key, "E").await.unwrap();
        let sealer = KeyFileSealer::open_or_create(&key).unwrap();
        record(&store, &first, &sealer).await.unwrap();
        check(&store, &first, &key, "E").await.expect("the same replica again");
        let revision = store.current_revision().await.unwrap();

        let other_account = args(&["--data-dir", &data, "--account-id", "111122223333"]);
        let err = check(&store, &other_account, &key, "E").await.unwrap_err().to_string();
        assert!(err.contains("--account-id 123456789012") && err.contains("--account-id 111122223333"), "{err}");
        let other_cluster = args(&["--data-dir", &data, "--cluster", "other"]);
        let err = check(&store, &other_cluster, &key, "E").await.unwrap_err().to_string();
        assert!(err.contains("must agree"), "{err}");

        let second = args(&["--data-dir", &dir.path().join("b").display().to_string()]);
        let missing = sealing_key_path(&second);
        let err = check(&store, &second, &missing, "E").await.unwrap_err().to_string();
        assert!(err.contains("--sealing-key-file"), "{err}");
        assert!(!missing.exists(), "the check created nothing");
        let wrong = dir.path().join("wrong.key");
        KeyFileSealer::open_or_create(&wrong).unwrap();
        let err = check(&store, &second, &wrong, "E").await.unwrap_err().to_string();
        assert!(err.contains("does not open the secrets"), "{err}");
        check(&store, &second, &key, "E").await.expect("the first replica's key file is accepted");

        store.put(LAYOUT_KEY, r#"{"layout": 2, "future": true}"#.into()).await.unwrap();
        let err = check(&store, &first, &key, "E").await.unwrap_err().to_string();
        assert!(err.contains("layout 2") && err.contains("writes layout 1"), "{err}");
        assert_eq!(store.current_revision().await.unwrap(), revision + 1, "only the test wrote");
    }
}
