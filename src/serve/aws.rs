//! Starts the AWS endpoint (IAM, STS, EKS) and writes the AWS CLI's config and credentials.
//!
//! At first start it creates the default account's administrator — user `admin` with
//! AdministratorAccess and one access key, kept in IAM state so restarts reuse it — and applies
//! the configuration file's `aws:` section (every start, idempotently). It keeps its files in
//! `DIR/aws/`: the endpoint's CA (`ca.pem`, key `ca-key.pem` 0600), the key that seals secrets
//! at rest (`sealing.key`, 0600), and the CLI's `config` and `credentials`, where it owns the
//! `default` profile only: profiles a user added (`aws configure --profile …`) are kept.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use aws_api::{AwsApi, IamHandle, IamService, KeyFileSealer};
use chrono::Utc;
use iam::EntityKind;

use super::config::Config;
use super::private::write_private;
use super::{Context, Started};

/// The administrator created at first start.
pub(super) const ADMIN_USER: &str = "admin";
const ADMIN_POLICY: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

/// The running endpoint: what the env file and banner need, and the IAM view for the rest of
/// Rampart.
pub struct Running {
    pub started: Started,
    pub iam: IamHandle,
    /// The endpoint's URLs EKS tokens may be presigned for: its own, and the advertised one.
    pub sts_endpoints: Vec<String>,
}

pub async fn start(ctx: &Context, config: &Config, sealer: KeyFileSealer) -> anyhow::Result<Running> {
    let dir = std::path::absolute(ctx.args.data_dir.join("aws")).context("cannot resolve the data directory")?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let account = ctx.args.account_id.clone();
    if !iam::policy::is_account_id(&account) {
        anyhow::bail!("--account-id must be 12 digits, not '{account}'");
    }

    let ca = shared_ca(&*ctx.store, &sealer, &dir).await?;
    let service = IamService::load(ctx.store.clone(), Box::new(sealer)).await.context("cannot load IAM state")?;
    let (key_id, secret) = ensure_admin(&service, &account).await.context("cannot create the administrator")?;
    if let Some(spec) = &config.aws {
        service.apply_spec(spec, Utc::now()).await.context("cannot apply the configuration file's aws section")?;
    }
    let iam = service.handle();

    let listener = tokio::net::TcpListener::bind(ctx.args.aws_listen)
        .await
        .with_context(|| format!("cannot listen on {} for the AWS endpoint", ctx.args.aws_listen))?;
    let address = listener.local_addr()?;
    let host = match address.ip() {
        ip if ip.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        ip => ip,
    };
    let endpoint = match host {
        IpAddr::V6(ip) => format!("https://[{ip}]:{}", address.port()),
        IpAddr::V4(ip) => format!("https://{ip}:{}", address.port()),
    };
    let advertised = ctx.args.aws_advertise_url.as_deref().map(|url| url.trim_end_matches('/').to_string());
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    for name in std::iter::once(host.to_string()).chain(advertised.as_deref().and_then(url_host)) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let serving = ca.issue_server("rampart-aws-endpoint", &names)?;
    let tls_config = tls::server_config(&serving, None)?;
    let api = Arc::new(ctx.rest_services.iter().cloned().fold(AwsApi::new(service), AwsApi::with_rest_service));
    tokio::spawn(async move {
        if let Err(err) = tls::serve(listener, tls_config, api.router(), std::future::pending()).await {
            tracing::error!(%err, "the AWS endpoint stopped");
        }
    });

    let mut sts_endpoints = vec![endpoint.clone()];
    let endpoint = match advertised {
        Some(url) => {
            sts_endpoints.push(url.clone());
            url
        }
        None => endpoint,
    };
    let ca_path = dir.join("ca.pem");
    let config_path = dir.join("config");
    let credentials_path = dir.join("credentials");
    let region = ctx.args.region.clone();
    let ca_text = ca_path.display().to_string();
    write_profile(
        &config_path,
        "default",
        &[("region", region.as_str()), ("output", "json"), ("endpoint_url", &endpoint), ("ca_bundle", &ca_text)],
    )?;
    write_profile(&credentials_path, "default", &[("aws_access_key_id", &key_id), ("aws_secret_access_key", &secret)])?;

    let admin_arn = iam::arn::user_arn(&account, "/", ADMIN_USER);
    let env = vec![
        ("AWS_ENDPOINT_URL".to_string(), endpoint.clone()),
        ("AWS_CA_BUNDLE".to_string(), ca_path.display().to_string()),
        ("AWS_CONFIG_FILE".to_string(), config_path.display().to_string()),
        ("AWS_SHARED_CREDENTIALS_FILE".to_string(), credentials_path.display().to_string()),
        ("AWS_DEFAULT_REGION".to_string(), region.clone()),
    ];
    let summary = vec![
        format!("AWS endpoint (IAM, STS): {endpoint}, account {account}, region {region}"),
        format!("AWS identity: {admin_arn} (profile default, access key {key_id})"),
    ];
    Ok(Running { started: Started { env, summary }, iam, sts_endpoints })
}

/// The host of `https://host:port/…` (an IPv6 address without its brackets).
fn url_host(url: &str) -> Option<String> {
    let authority = url.split_once("://")?.1.split('/').next()?;
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    };
    (!host.is_empty()).then(|| host.to_string())
}

/// Creates user `admin` with AdministratorAccess and an access key unless they exist, and
/// returns the key (the administrator's oldest active one).
async fn ensure_admin(service: &IamService, account: &str) -> anyhow::Result<(String, String)> {
    let key = service
        .update(account, |account, _| {
            let now = Utc::now();
            let mut rng = rand::rng();
            if account.user(ADMIN_USER).is_err() {
                account.create_user(ADMIN_USER, None, vec![], now, &mut rng)?;
            }
            account.attach_policy(EntityKind::User, ADMIN_USER, ADMIN_POLICY)?;
            let active = account
                .access_keys_of(ADMIN_USER)?
                .into_iter()
                .find(|key| key.status == iam::AccessKeyStatus::Active)
                .cloned();
            match active {
                Some(key) => Ok(key),
                None => Ok(account.create_access_key(ADMIN_USER, now, &mut rng)?.clone()),
            }
        })
        .await?;
    Ok((key.access_key_id, key.secret_access_key))
}

/// Where the AWS endpoint's CA is kept in the store.
const CA_KEY: &str = "/rampart/aws-ca";

/// The AWS endpoint's CA as stored: the certificate, and its key sealed.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredCa {
    cert_pem: String,
    sealed_key_pem: String,
}

/// The AWS endpoint's CA from the store, copied into `dir`; if the store has none yet, the one
/// in `dir` (created if missing) goes into the store — unless another replica's got there first.
async fn shared_ca(
    store: &dyn store::Store,
    sealer: &KeyFileSealer,
    dir: &Path,
) -> anyhow::Result<tls::CertificateAuthority> {
    use iam::persist::Sealer as _;
    use store::StoreExt as _;
    loop {
        if let Some(kv) = store.get(CA_KEY).await? {
            let stored: StoredCa =
                serde_json::from_slice(&kv.value).context("the stored AWS endpoint CA is unreadable")?;
            let key = sealer
                .open(&stored.sealed_key_pem)
                .context("the sealing key does not open the stored AWS endpoint CA's key")?;
            write_private(&dir.join("ca-key.pem"), &key)?;
            std::fs::write(dir.join("ca.pem"), &stored.cert_pem)
                .with_context(|| format!("cannot write {}", dir.join("ca.pem").display()))?;
            return tls::CertificateAuthority::from_pem(&stored.cert_pem, &key)
                .context("cannot load the stored AWS endpoint CA");
        }
        let ca = load_or_create_ca(dir)?;
        let stored = StoredCa { cert_pem: ca.pem().cert_pem.clone(), sealed_key_pem: sealer.seal(&ca.pem().key_pem) };
        let value = serde_json::to_vec(&stored).expect("the CA serializes");
        if store.create(CA_KEY, value.into()).await?.is_some() {
            return Ok(ca);
        }
        // Another replica stored its CA first: use that one.
    }
}

/// The endpoint's CA, kept in the data directory so clients' `AWS_CA_BUNDLE` stays valid.
pub(super) fn load_or_create_ca(dir: &Path) -> anyhow::Result<tls::CertificateAuthority> {
    let cert_path = dir.join("ca.pem");
    let key_path = dir.join("ca-key.pem");
    if cert_path.exists() && key_path.exists() {
        let cert = std::fs::read_to_string(&cert_path)?;
        let key = std::fs::read_to_string(&key_path)?;
        return tls::CertificateAuthority::from_pem(&cert, &key)
            .with_context(|| format!("cannot load the AWS endpoint's CA from {}", dir.display()));
    }
    let ca = tls::CertificateAuthority::generate("rampart-aws-ca")?;
    write_private(&key_path, &ca.pem().key_pem)?;
    std::fs::write(&cert_path, &ca.pem().cert_pem).with_context(|| format!("cannot write {}", cert_path.display()))?;
    Ok(ca)
}

/// Sets the `[profile]` section of an AWS CLI INI file to `values`, keeping every other section
/// as it was (mode 0600: the credentials file holds secrets).
fn write_profile(path: &PathBuf, profile: &str, values: &[(&str, &str)]) -> anyhow::Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let header = format!("[{profile}]");
    let mut section = format!("{header}\n");
    for (key, value) in values {
        section.push_str(&format!("{key} = {value}\n"));
    }
    // Every other section stays as it was, with the blank lines that separate them.
    let mut others = String::new();
    let mut skipping = false;
    let mut blank_lines = 0;
    for line in existing.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            if skipping {
                others.push_str(&"\n".repeat(blank_lines));
            }
            skipping = trimmed == header;
        }
        if skipping {
            blank_lines = if trimmed.is_empty() { blank_lines + 1 } else { 0 };
        } else {
            others.push_str(line);
            others.push('\n');
        }
    }
    let text = format!("{section}{others}");
    write_private(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_of_an_advertised_url() {
        assert_eq!(url_host("https://aws.rampart.internal:9443").as_deref(), Some("aws.rampart.internal"));
        assert_eq!(url_host("https://[fd00::1]:9443/").as_deref(), Some("fd00::1"));
        assert_eq!(url_host("https://10.0.0.9").as_deref(), Some("10.0.0.9"));
        assert_eq!(url_host("10.0.0.9:9443"), None);
    }

    #[test]
    fn profiles_other_than_default_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        write_profile(&path, "default", &[("aws_access_key_id", "AKIA1")]).unwrap();
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("\n[eks-user]\naws_access_key_id = AKIA2\n");
        std::fs::write(&path, text).unwrap();
        write_profile(&path, "default", &[("aws_access_key_id", "AKIA3")]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "[default]\naws_access_key_id = AKIA3\n\n[eks-user]\naws_access_key_id = AKIA2\n");
        write_profile(&path, "default", &[("aws_access_key_id", "AKIA3")]).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "rewriting the same profile changes nothing");
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions()) & 0o777,
            0o600
        );
    }
}
