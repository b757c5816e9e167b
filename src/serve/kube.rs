//! Starts the default cluster's Kubernetes API and writes its admin kubeconfig.
//!
//! The cluster (`--cluster`, default `rampart`) listens on `--kube-listen` (port 0 picks a free
//! port, and the banner and kubeconfig name the real one). Its CA and service-account key live in
//! the store, so a restart keeps them; `DIR/admin.kubeconfig` (0600) authenticates as
//! `kubernetes-admin` in `system:masters` with a client certificate, and the env file points
//! `KUBECONFIG` at it.
//!
//! The cluster's workloads (its node pool, scheduler, kubelets, controllers, logs and exec) run
//! on one container runtime whose pod sandboxes live in `DIR/pods/`.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use anyhow::Context as _;
use kube_api::{ClusterConfig, ClusterServer};

use super::{Context, Started};

pub async fn start(ctx: &Context) -> anyhow::Result<Started> {
    let config = ClusterConfig::new(&ctx.args.cluster, ctx.args.kube_listen, ctx.store.clone());
    let handle = ClusterServer::start(config)
        .await
        .with_context(|| format!("cannot start the Kubernetes API of cluster {}", ctx.args.cluster))?;
    let path =
        std::path::absolute(ctx.args.data_dir.join("admin.kubeconfig")).context("cannot resolve the data directory")?;
    let kubeconfig = handle.admin_kubeconfig().context("cannot issue the admin client certificate")?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, kubeconfig).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    let url = handle.server_url();
    let policy = kubelet::ExecPolicy::decide(ctx.args.exec, &[ctx.args.kube_listen]);
    let exec = match policy.refusal() {
        None => format!("kubectl exec and container commands run as local processes (--exec={})", ctx.args.exec),
        Some(why) => format!("no local processes: {why}"),
    };
    let runtime = Arc::new(kubelet::Runtime::new(ctx.args.data_dir.join("pods"), policy));
    let pool = workloads::NodePool::new(ctx.args.nodes, ctx.args.node_capacity.clone(), &ctx.args.region)?;
    let workloads = workloads::install(handle.cluster(), workloads::WorkloadsConfig { runtime, node_pool: pool })
        .await
        .with_context(|| format!("cannot start the workloads of cluster {}", ctx.args.cluster))?;
    // The cluster serves until the process ends.
    tokio::spawn(async move {
        let _running = (handle, workloads);
        std::future::pending::<()>().await;
    });
    Ok(Started {
        env: vec![("KUBECONFIG".to_string(), path.display().to_string())],
        summary: vec![
            format!("Kubernetes API (cluster {}): {url}", ctx.args.cluster),
            format!("Admin kubeconfig (system:masters): {}", path.display()),
            format!("Workloads: {} simulated node(s); {exec}", ctx.args.nodes),
        ],
    })
}
