//! Starts the EKS control plane and, through it, the default cluster; writes the files a user
//! reaches the cluster with; serves the authenticator and authorizer webhooks when asked.
//!
//! At every start the recorded clusters come back (each on the port it had, if free). If the
//! default cluster (`--cluster` in the default account and region) is not recorded, the
//! administrator creates it, as `aws eks create-cluster` would (CONFIG_MAP mode, the creator its
//! admin), on `--kube-listen`. Then:
//!
//! | file | what |
//! |---|---|
//! | `DIR/kubeconfig` | the default cluster as `aws eks update-kubeconfig` writes it (exec plugin `aws eks get-token`, so it acts as the current AWS profile); the env file's `KUBECONFIG` |
//! | `DIR/admin.kubeconfig` | `kubernetes-admin` in `system:masters` by client certificate |
//! | `DIR/logs/<cluster>/authenticator.log` | the EKS authenticator's log lines |
//! | `DIR/webhook/authenticator.kubeconfig`, `authorizer.kubeconfig` | with `--webhook-listen`: kube-apiserver's webhook configuration files (docs/webhook.md) |

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use ::eks::{ClusterHook, ClusterKey, Creator, Eks, NewCluster, RunningCluster, Runtime};
use anyhow::Context as _;
use chrono::Utc;

use super::aws::{ADMIN_USER, load_or_create_ca};
use super::private::write_private;
use super::{Context, Started};

/// The cluster service role the default cluster names.
const DEFAULT_CLUSTER_ROLE: &str = "eksClusterRole";

/// Starts EKS with `hooks` installed into every cluster; `aws_endpoints` are the AWS endpoint's
/// URLs (its STS is the one tokens are presigned for).
pub async fn start(
    ctx: &Context,
    eks: &Arc<Eks>,
    aws_endpoints: &[String],
    hooks: Vec<ClusterHook>,
) -> anyhow::Result<Started> {
    let args = &ctx.args;
    let iam = ctx.iam.clone().context("the AWS endpoint must be up before EKS")?;
    let data_dir = std::path::absolute(&args.data_dir).context("cannot resolve the data directory")?;
    let default = ClusterKey::new(&args.account_id, &args.region, &args.cluster);
    let mut pinned_listen = BTreeMap::new();
    if args.kube_listen.port() != 0 {
        pinned_listen.insert(default.clone(), args.kube_listen);
    }
    let advertised = args.kube_advertise_url.iter().map(|url| (default.clone(), url.trim_end_matches('/').to_string()));
    let runtime = Runtime {
        iam: iam.clone(),
        sts_origins: aws_endpoints.iter().flat_map(|endpoint| sts_origins(endpoint)).collect(),
        kube_ip: args.kube_listen.ip(),
        pinned_listen,
        advertised: advertised.collect(),
        log_dir: Some(data_dir.join("logs")),
        hooks,
    };
    eks.start(runtime).await.context("cannot start the recorded EKS clusters")?;
    let running = match eks.cluster(&default) {
        Some(running) => running,
        None => {
            let admin = iam::arn::user_arn(&args.account_id, "/", ADMIN_USER);
            let creator = Creator { principal_id: ::eks::principal_id(&iam, &admin), arn: admin };
            let request = NewCluster {
                name: args.cluster.clone(),
                role_arn: format!("arn:aws:iam::{}:role/{DEFAULT_CLUSTER_ROLE}", args.account_id),
                resources_vpc_config: serde_json::json!({}),
                ..NewCluster::default()
            };
            eks.create_cluster(&args.account_id, &args.region, &creator, request, Some(args.kube_listen), Utc::now())
                .await
                .with_context(|| format!("cannot create the default cluster {}", args.cluster))?
        }
    };
    let record = running.record();

    let kubeconfig = data_dir.join("kubeconfig");
    write_private(&kubeconfig, &exec_kubeconfig(&running))?;
    let admin_kubeconfig = data_dir.join("admin.kubeconfig");
    let admin = running.admin_kubeconfig().context("cannot issue the admin client certificate")?;
    write_private(&admin_kubeconfig, &admin)?;
    let mut summary = vec![
        format!("EKS cluster {} ({}): {}", record.name, record.arn(), running.server_url()),
        format!("Kubeconfig (aws eks get-token, as the current AWS profile): {}", kubeconfig.display()),
        format!("Admin kubeconfig (system:masters): {}", admin_kubeconfig.display()),
        format!(
            "Authenticator log: {}",
            data_dir.join("logs").join(&record.kube_name).join("authenticator.log").display()
        ),
    ];
    if let Some(listen) = args.webhook_listen {
        summary.extend(start_webhook(eks, default, listen, &data_dir).await?);
    }
    Ok(Started { env: vec![("KUBECONFIG".to_string(), kubeconfig.display().to_string())], summary })
}

/// The origins tokens presigned for this Rampart's STS may name: the endpoint as configured, and
/// with `localhost` for a loopback address.
fn sts_origins(endpoint: &str) -> Vec<String> {
    let endpoint = endpoint.trim_end_matches('/').to_string();
    let mut origins = vec![endpoint.clone()];
    for loopback in ["127.0.0.1", "[::1]"] {
        if endpoint.contains(&format!("://{loopback}:")) {
            origins.push(endpoint.replace(loopback, "localhost"));
        }
    }
    origins
}

/// The default cluster's kubeconfig, as `aws eks update-kubeconfig --name <cluster>` writes it.
fn exec_kubeconfig(running: &RunningCluster) -> String {
    let record = running.record();
    let cluster = running.to_wire("ACTIVE");
    ::eks::kubeconfig::update_kubeconfig(
        &record.arn(),
        &record.name,
        &record.region,
        running.server_url(),
        cluster["certificateAuthority"]["data"].as_str().unwrap_or_default(),
        None,
    )
}

/// Serves the webhooks on `listen` with a certificate from the AWS endpoint's CA, requiring
/// client certificates from it, and writes kube-apiserver's two webhook kubeconfigs.
async fn start_webhook(
    eks: &Arc<Eks>,
    default: ClusterKey,
    listen: SocketAddr,
    data_dir: &Path,
) -> anyhow::Result<Vec<String>> {
    let ca = load_or_create_ca(&data_dir.join("aws"))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} for the webhooks"))?;
    let address = listener.local_addr()?;
    let host = match address.ip() {
        ip if ip.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        ip => ip,
    };
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    if !names.contains(&host.to_string()) {
        names.push(host.to_string());
    }
    let serving = ca.issue_server("rampart-webhook", &names)?;
    let tls_config = tls::server_config(&serving, Some(&ca.pem().cert_pem))?;
    let router = ::eks::webhook::router(eks.clone(), default);
    tokio::spawn(async move {
        if let Err(err) = tls::serve(listener, tls_config, router, std::future::pending()).await {
            tracing::error!(%err, "the webhooks stopped");
        }
    });
    let base = match host {
        IpAddr::V6(ip) => format!("https://[{ip}]:{}", address.port()),
        IpAddr::V4(ip) => format!("https://{ip}:{}", address.port()),
    };
    let client = ca.issue_client("kube-apiserver", None)?;
    let dir = data_dir.join("webhook");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut summary =
        vec![format!("Webhooks (TokenReview, SubjectAccessReview): {base}/authenticate, {base}/authorize")];
    for (file, path) in [("authenticator.kubeconfig", "authenticate"), ("authorizer.kubeconfig", "authorize")] {
        let kubeconfig = ::eks::webhook::webhook_kubeconfig(&format!("{base}/{path}"), &ca.pem().cert_pem, &client);
        write_private(&dir.join(file), &kubeconfig)?;
        summary.push(format!("Webhook kubeconfig for kube-apiserver: {}", dir.join(file).display()));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_endpoints_are_also_accepted_as_localhost() {
        assert_eq!(sts_origins("https://127.0.0.1:9443/"), ["https://127.0.0.1:9443", "https://localhost:9443"]);
        assert_eq!(sts_origins("https://10.0.0.5:9443"), ["https://10.0.0.5:9443"]);
    }
}
