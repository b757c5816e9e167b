//! Simulated workloads for a Rampart cluster: what kube-controller-manager, kube-scheduler and
//! the nodes' kubelets do, acting on the cluster through the API server's own object
//! operations, as a KWOK-style cluster does but with real processes and logs.
//!
//! [`install`] puts on one cluster (`kube_api::Cluster`):
//! - a node pool ([`NodePool`]) registered as Ready Node objects, kept Ready;
//! - the scheduler, binding pods to nodes (`nodeSelector`, affinity, taints, requests against
//!   allocatable), with `FailedScheduling` for pods that fit nowhere;
//! - the kubelet of each node: the pod lifecycle on the [`kubelet::Runtime`] (sandboxes,
//!   container processes, restarts with back-off, graceful deletion, env from ConfigMaps,
//!   Secrets and the downward API), status and events as a real kubelet reports them;
//! - the ReplicaSet and Deployment controllers (rolling updates, revisions, rollback, scale);
//! - the `pods/log` and `pods/exec` connect handlers (and refusals for attach and
//!   port-forward), under the runtime's exec policy.
//!
//! It never reads the store directly and never serves HTTP itself: everything goes through
//! the cluster's object service (`Objects`: `get`, `list`, `create`, `update`, `patch`, `delete`), its watch
//! hub, and the hooks it offers (admission, connect).

mod api;
mod cache;
mod connect;
mod deployment;
mod env;
mod error;
mod events;
mod lifecycle;
mod nodes;
mod quantity;
mod queue;
mod replicaset;
mod rollout;
mod scheduler;

use std::sync::Arc;

use kube_api::Cluster;
use kubelet::Runtime;
use tokio::task::JoinHandle;

pub use error::WorkloadsError;
pub use nodes::{KUBELET_VERSION, MAX_NODES, NodeCapacity, NodePool, PoolNode, Resources};

/// What a cluster's workloads run on.
pub struct WorkloadsConfig {
    /// The container runtime (shared by every cluster of the server; sandboxes are per cluster).
    pub runtime: Arc<Runtime>,
    pub node_pool: NodePool,
}

/// The workload controllers of one cluster; [`Workloads::shutdown`] stops them.
pub struct Workloads {
    tasks: Vec<JoinHandle<()>>,
    kubelet: Arc<lifecycle::Kubelet>,
    pool: Vec<PoolNode>,
    runtime: Arc<Runtime>,
    cluster: String,
}

impl Workloads {
    /// The nodes of the pool.
    pub fn nodes(&self) -> &[PoolNode] {
        &self.pool
    }

    /// Stops the controllers and the pods' workers; the cluster's sandboxes are removed in the
    /// background (their processes stopped), as when a cluster is deleted.
    pub fn shutdown(self) {
        for task in &self.tasks {
            task.abort();
        }
        self.kubelet.stop();
        let runtime = Arc::clone(&self.runtime);
        let cluster = self.cluster.clone();
        tokio::spawn(async move {
            for pod in runtime.pods_of(&cluster) {
                let _ = runtime.remove_pod_sandbox(&pod, std::time::Duration::from_secs(2)).await;
            }
        });
    }
}

/// Registers the node pool of `cluster` and starts its scheduler, kubelets and controllers,
/// and its `pods/log` and `pods/exec` handlers. Returns once the controllers have seen the
/// cluster's current objects (pods that ran before a restart are being started again).
pub async fn install(cluster: &Arc<Cluster>, config: WorkloadsConfig) -> Result<Workloads, WorkloadsError> {
    let api = Arc::new(api::Api::new(cluster.objects())?);
    let pool = nodes::NodePoolState::new(config.node_pool);
    nodes::register(&api, &pool).await?;

    let cache = cache::Cache::new();
    let recorder = events::Recorder::new(Arc::clone(&api));
    let scheduler = scheduler::Scheduler::new(Arc::clone(&api), Arc::clone(&cache), Arc::clone(&recorder));
    scheduler.watch();
    cluster.objects().add_admission_hook(Arc::new(scheduler.binding_hook()));
    let kubelet = lifecycle::Kubelet::new(
        Arc::clone(&api),
        Arc::clone(&cache),
        Arc::clone(&recorder),
        Arc::clone(&config.runtime),
        Arc::clone(&pool),
    );
    kubelet.watch();
    let replicasets = replicaset::ReplicaSets::new(Arc::clone(&api), Arc::clone(&cache), Arc::clone(&recorder));
    replicasets.watch();
    let deployments = deployment::Deployments::new(Arc::clone(&api), Arc::clone(&cache), Arc::clone(&recorder));
    deployments.watch();
    connect::register(cluster, &config.runtime);

    let mut tasks = vec![tokio::spawn(Arc::clone(&cache).run(Arc::clone(&api)))];
    cache.wait_synced().await;
    tasks.extend(scheduler.spawn());
    tasks.extend(replicasets.spawn());
    tasks.extend(deployments.spawn());
    tasks.extend(nodes::spawn(Arc::clone(&api), Arc::clone(&cache), Arc::clone(&pool)));
    tracing::info!(cluster = %cluster.name, nodes = pool.members.len(), "simulated workloads installed");
    Ok(Workloads {
        tasks,
        kubelet,
        pool: pool.members.clone(),
        runtime: Arc::clone(&config.runtime),
        cluster: cluster.name.clone(),
    })
}
