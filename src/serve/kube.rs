//! Starts the default cluster's Kubernetes API and writes its kubeconfigs.

use super::{Context, Started};

pub async fn start(_ctx: &Context) -> anyhow::Result<Started> {
    Ok(Started { env: vec![], summary: vec!["Kubernetes API: not built yet".to_string()] })
}
