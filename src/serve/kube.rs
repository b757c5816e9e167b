//! What `rampart serve` installs into every cluster the EKS control plane starts, besides EKS's
//! own pieces: its audit log (`DIR/logs/<cluster>/audit.log`, `--audit-policy`) and the cluster's workloads (its node pool, scheduler, kubelets, controllers, logs
//! and exec), all on one container runtime whose pod sandboxes live in `DIR/pods/`. (Each
//! cluster's API server, CA, endpoint and kubeconfigs are EKS's: see `eks.rs`.)

use std::sync::Arc;

use anyhow::Context as _;

use ::eks::{ClusterHook, StopHook};

use super::Context;

/// The per-cluster hooks, and a line for the ready message.
pub fn cluster_hooks(ctx: &Context) -> anyhow::Result<(Vec<ClusterHook>, String)> {
    let policy = kubelet::ExecPolicy::decide(ctx.args.exec, &[ctx.args.kube_listen]);
    let exec = match policy.refusal() {
        None => format!("kubectl exec and container commands run as local processes (--exec={})", ctx.args.exec),
        Some(why) => format!("no local processes: {why}"),
    };
    let runtime = Arc::new(kubelet::Runtime::new(ctx.args.data_dir.join("pods"), policy));
    let orphans = runtime.kill_orphans();
    if orphans > 0 {
        tracing::info!(orphans, "killed the container processes a previous run left behind");
    }
    // The pool's settings are checked once, before any cluster starts.
    workloads::NodePool::new(ctx.args.nodes, ctx.args.node_capacity.clone(), &ctx.args.region)?;
    let (nodes, capacity, region) = (ctx.args.nodes, ctx.args.node_capacity.clone(), ctx.args.region.clone());
    let workloads: ClusterHook = Arc::new(move |cluster| {
        let runtime = runtime.clone();
        let pool = workloads::NodePool::new(nodes, capacity.clone(), &region);
        Box::pin(async move {
            let node_pool = pool.map_err(|e| e.to_string())?;
            let installed = workloads::install(&cluster, workloads::WorkloadsConfig { runtime, node_pool })
                .await
                .map_err(|e| format!("cannot start the workloads: {e}"))?;
            let stop: StopHook = Box::new(move || installed.shutdown());
            Ok(Some(stop))
        })
    });
    Ok((
        vec![audit_hook(ctx)?, workloads],
        format!("Workloads: {} simulated node(s) per cluster; {exec}", ctx.args.nodes),
    ))
}

/// The policy of `--audit-policy` (Metadata for everything without one).
pub fn audit_policy(args: &super::ServeArgs) -> anyhow::Result<kube_api::access::audit::Policy> {
    let Some(path) = &args.audit_policy else { return Ok(kube_api::access::audit::Policy::default()) };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the audit policy {}", path.display()))?;
    kube_api::access::audit::Policy::parse(&text).with_context(|| path.display().to_string())
}

/// Every cluster's audit log, `DIR/logs/<cluster>/audit.log`, with the policy of
/// `--audit-policy` (read and checked once, before any cluster starts).
fn audit_hook(ctx: &Context) -> anyhow::Result<ClusterHook> {
    let policy = audit_policy(&ctx.args)?;
    let dir = ctx.args.data_dir.join("logs");
    let (max_bytes, max_backups) = (ctx.args.audit_log_maxsize * 1024 * 1024, ctx.args.audit_log_maxbackup);
    Ok(Arc::new(move |cluster| {
        let path = dir.join(&cluster.name).join("audit.log");
        let log = kube_api::access::audit::AuditLog::open(&path, policy.clone(), max_bytes, max_backups);
        Box::pin(async move {
            cluster.set_audit(log.map_err(|e| e.to_string())?);
            Ok(None)
        })
    }))
}
