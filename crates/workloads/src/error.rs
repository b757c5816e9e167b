//! The crate's one error type: what can stop workloads from being installed on a cluster.

use kube_core::Status;

/// Why the simulated workloads could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadsError {
    /// The cluster does not serve a kind the controllers need (a registry without it).
    #[error("the cluster does not serve {resource}, which the workload controllers need")]
    MissingResource { resource: &'static str },
    /// The node pool configuration cannot describe a pool (`--nodes`, `--node-capacity`).
    #[error("invalid node pool: {0}")]
    NodePool(String),
    /// Registering the pool's nodes failed.
    #[error("cannot register node {node}: {}", status.message)]
    RegisterNode { node: String, status: Box<Status> },
}
