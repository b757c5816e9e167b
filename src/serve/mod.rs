//! `rampart serve`: start both front doors on one store, write the files a user sources, and
//! run until SIGINT or SIGTERM.
//!
//! This module owns the command line, the data directory, the store, the env file and the ready
//! message. Each front door is started by its own submodule (`aws`; `eks`, which starts every
//! cluster with what `kube` installs into each), which returns what a client needs to reach it;
//! `shared` chooses the store and keeps replicas on one etcd in agreement.

mod aws;
mod config;
mod eks;
mod kube;
mod private;
mod shared;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;

use crate::output::{self, Stream, errln};

/// Start Rampart: the AWS endpoint (IAM, STS, EKS) and the Kubernetes API of the default
/// cluster, on the embedded store in the data directory, or on etcd (`--etcd-servers`), which
/// several replicas can share.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Where Rampart keeps its state and writes the files clients use (env, kubeconfigs, AWS
    /// config and credentials).
    #[arg(long, default_value = "rampart-data", env = "RAMPART_DATA_DIR")]
    pub data_dir: PathBuf,
    /// Address of the AWS endpoint (IAM, STS, EKS). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:9443")]
    pub aws_listen: SocketAddr,
    /// Address of the default cluster's Kubernetes API. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:6443")]
    pub kube_listen: SocketAddr,
    /// The AWS account ID of the default account.
    #[arg(long, default_value = "123456789012")]
    pub account_id: String,
    /// The AWS region the endpoint reports and the clients are configured for.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// The name of the default EKS cluster.
    #[arg(long, default_value = "rampart")]
    pub cluster: String,
    /// A YAML configuration file (identities, clusters, audit policy), applied at every start.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Whether container commands and `kubectl exec` run as local processes on this host:
    /// `auto` (only while the Kubernetes API listens on loopback), `off`, or `local` (always).
    #[arg(long, default_value = "auto", value_name = "auto|off|local")]
    pub exec: kubelet::ExecMode,
    /// How many simulated nodes each cluster's node group has.
    #[arg(long, default_value_t = 2)]
    pub nodes: usize,
    /// What each simulated node offers, as `cpu=4,memory=16Gi,pods=110,ephemeral-storage=20Gi`.
    #[arg(long, default_value = "cpu=4,memory=16Gi,pods=110", value_name = "RESOURCES")]
    pub node_capacity: workloads::NodeCapacity,
    /// Also serve the EKS authenticator (TokenReview) and the clusters' authorizer chains
    /// (SubjectAccessReview) as webhooks for a real kube-apiserver, on this address (docs/webhook.md).
    #[arg(long, value_name = "ADDR")]
    pub webhook_listen: Option<SocketAddr>,
    /// An audit policy file in kube-apiserver's format (audit.k8s.io/v1 Policy); without one,
    /// every request is logged at Metadata. Each cluster logs to DIR/logs/<cluster>/audit.log.
    #[arg(long, value_name = "FILE")]
    pub audit_policy: Option<PathBuf>,
    /// Keep state in these etcd members (client URLs, comma-separated) instead of the embedded
    /// store: several replicas, each with its own data directory, share it (docs/operations.md).
    #[arg(long, value_delimiter = ',', value_name = "URL[,URL...]")]
    pub etcd_servers: Vec<String>,
    /// The CA that signed etcd's serving certificates (`https://` servers).
    #[arg(long, value_name = "FILE")]
    pub etcd_cafile: Option<PathBuf>,
    /// A client certificate for etcd (with `--etcd-keyfile`).
    #[arg(long, value_name = "FILE")]
    pub etcd_certfile: Option<PathBuf>,
    /// The key of `--etcd-certfile`.
    #[arg(long, value_name = "FILE")]
    pub etcd_keyfile: Option<PathBuf>,
    /// The key that seals secrets at rest, created if missing (default DIR/aws/sealing.key).
    /// Replicas on one etcd must all be given the same file.
    #[arg(long, value_name = "FILE")]
    pub sealing_key_file: Option<PathBuf>,
    /// The AWS endpoint's URL as the env file and the AWS CLI's config give it, when it is not
    /// the address this replica listens on (a TCP load balancer in front of the replicas): its
    /// certificate also names this host, and EKS tokens presigned for it are accepted.
    #[arg(long, value_name = "URL")]
    pub aws_advertise_url: Option<String>,
    /// The default cluster's endpoint as DescribeCluster and the kubeconfigs give it, when it
    /// is not the address this replica listens on (a load balancer in front of the replicas).
    #[arg(long, value_name = "URL")]
    pub kube_advertise_url: Option<String>,
    /// The audit log's size in megabytes before it is rotated.
    #[arg(long, default_value_t = 100, value_name = "MB")]
    pub audit_log_maxsize: u64,
    /// How many rotated audit logs to keep (0: all).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub audit_log_maxbackup: usize,
}

/// What both front doors are started with.
pub struct Context {
    pub args: ServeArgs,
    pub store: Arc<dyn store::Store>,
    /// IAM state, set once the AWS endpoint is up: the Kubernetes API verifies EKS tokens with it.
    pub iam: Option<aws_api::IamHandle>,
    /// The REST-JSON services the AWS endpoint serves besides IAM and STS (EKS).
    pub rest_services: Vec<Arc<dyn aws_api::RestService>>,
}

pub fn run(args: ServeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            errln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(Stopped::Signalled) => ExitCode::SUCCESS,
        Ok(Stopped::OutputClosed) => ExitCode::from(output::CLOSED_OUTPUT_STATUS),
        Err(err) => {
            errln!("error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<Stopped> {
    // Everything that can be refused is checked before the data directory (or etcd) is touched.
    let config = config::Config::load(args.config.as_deref())?;
    let etcd = shared::EtcdSettings::new(&args, &config)?;
    check_free(&args)?;
    kube::audit_policy(&args)?;
    let sealing_key = shared::sealing_key_path(&args);
    let shared_store = match &etcd {
        Some(etcd) => {
            let store = etcd.connect().await?;
            shared::check(&*store, &args, &sealing_key, &etcd.describe()).await?;
            Some(store)
        }
        None => None,
    };
    // The directory holds every identity's credentials: only its owner may read it.
    if let Some(warning) = private::own_data_dir(&args.data_dir)? {
        errln!("warning: {warning}");
    }
    let sealer = aws_api::KeyFileSealer::open_or_create(&sealing_key)?;
    let store: Arc<dyn store::Store> = match shared_store {
        Some(store) => {
            shared::record(&*store, &args, &sealer).await?;
            // The embedded store compacts itself; replicas on etcd take turns through etcd.
            store::spawn_compactor(store.clone(), store::CompactionPolicy::default());
            store
        }
        None => Arc::new(store::EmbeddedStore::open(args.data_dir.join("store"))?),
    };
    let eks = ::eks::Eks::new(store.clone(), &args.account_id, &args.region);
    let rest_services: Vec<Arc<dyn aws_api::RestService>> = vec![Arc::new(::eks::EksApi::new(eks.clone()))];
    let mut ctx = Context { args, store, iam: None, rest_services };

    let aws::Running { started: aws, iam, sts_endpoints } = aws::start(&ctx, &config, sealer).await?;
    ctx.iam = Some(iam);
    let (hooks, workloads) = kube::cluster_hooks(&ctx)?;
    let mut kube = eks::start(&ctx, &eks, &sts_endpoints, hooks).await?;
    kube.summary.push(workloads);

    let env_path = std::path::absolute(ctx.args.data_dir.join("env")).context("cannot resolve the data directory")?;
    write_env(&env_path, &aws.env, &kube.env)?;
    let mut banner = String::from("Rampart is ready.\n");
    for line in aws.summary.iter().chain(&kube.summary) {
        banner.push_str(&format!("  {line}\n"));
    }
    banner.push_str(&format!("  Use it from a shell:  . {}\n", env_path.display()));
    // Whoever started us and stopped reading (`rampart serve | head -3`) is gone: stop quietly,
    // as on a signal.
    let stdout_closed = output::try_write(Stream::Stdout, format_args!("{banner}")).is_err();
    if !stdout_closed {
        shutdown_signal().await;
        // Said if anyone still reads; a closed stdout changes nothing now.
        let _ = output::try_write(Stream::Stdout, format_args!("Rampart is shutting down.\n"));
    }
    // Every cluster's API server and what its hooks started (pods' processes) stop with us.
    eks.stop().await;
    Ok(if stdout_closed { Stopped::OutputClosed } else { Stopped::Signalled })
}

/// Why `serve` returned.
enum Stopped {
    /// SIGINT or SIGTERM.
    Signalled,
    /// Nobody reads the ready message.
    OutputClosed,
}

/// What a started front door tells the user and puts in the env file.
pub struct Started {
    /// `export` lines for the env file, as (name, value).
    pub env: Vec<(String, String)>,
    /// Lines for the ready message.
    pub summary: Vec<String>,
}

fn write_env(path: &Path, aws: &[(String, String)], kube: &[(String, String)]) -> anyhow::Result<()> {
    let mut text = String::from("# Written by `rampart serve`; source it: . ./env\n");
    for (name, value) in aws.iter().chain(kube) {
        text.push_str(&format!("export {name}={}\n", shell_quote(value)));
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Refuses to start when an address given on the command line is taken, naming the flag, before
/// anything is written (a cluster recorded on another port is checked when it starts).
fn check_free(args: &ServeArgs) -> anyhow::Result<()> {
    let addresses = [("--aws-listen", Some(args.aws_listen)), ("--kube-listen", Some(args.kube_listen))];
    let webhook = [("--webhook-listen", args.webhook_listen)];
    for (flag, address) in addresses.into_iter().chain(webhook) {
        let Some(address) = address.filter(|a| a.port() != 0) else { continue };
        if let Err(err) = std::net::TcpListener::bind(address) {
            anyhow::bail!(
                "cannot listen on {address} ({flag}): {err}; is another `rampart serve` running? Stop it or pass \
                 another address, e.g. {flag} 127.0.0.1:0 for a free port"
            );
        }
    }
    Ok(())
}

/// An error and its causes on one line, each cause once: layers that repeat their source's
/// message in their own are not repeated.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        let text = text.lines().next().unwrap_or_default().trim_start_matches("error: ");
        if line.contains(text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text);
    }
    line
}

fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_chain_is_one_line_without_repeats() {
        let io = std::io::Error::new(std::io::ErrorKind::AddrInUse, "Address already in use (os error 98)");
        let err = anyhow::Error::new(io)
            .context("cannot listen on 127.0.0.1:6443: Address already in use (os error 98)")
            .context("cannot create the default cluster rampart");
        assert_eq!(
            one_line(&err),
            "cannot create the default cluster rampart: cannot listen on 127.0.0.1:6443: Address already in use (os error 98)"
        );
        let multi = anyhow::anyhow!("error: line 1 column 6: expected mapping start\n --> <input>:1:6\n  |")
            .context("invalid configuration file bad.yaml");
        assert_eq!(one_line(&multi), "invalid configuration file bad.yaml: line 1 column 6: expected mapping start");
    }

    #[test]
    fn a_taken_address_is_refused_naming_its_flag() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port().to_string();
        let kube = format!("127.0.0.1:{port}");
        let args = Cli::parse_from(["rampart", "--aws-listen", "127.0.0.1:0", "--kube-listen", &kube]).serve;
        let err = check_free(&args).unwrap_err().to_string();
        assert!(err.starts_with(&format!("cannot listen on {kube} (--kube-listen): ")), "{err}");
        let free = Cli::parse_from(["rampart", "--aws-listen", "127.0.0.1:0", "--kube-listen", "127.0.0.1:0"]).serve;
        assert!(check_free(&free).is_ok());
    }
}
