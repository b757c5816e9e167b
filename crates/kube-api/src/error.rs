//! The crate's one error type: why a cluster could not start. Request failures are Kubernetes
//! `Status` objects, not this.

/// Why a cluster's API server could not start or stop.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    #[error("key material: {0}")]
    Pki(String),
    #[error("starting the cluster: {0}")]
    Startup(String),
}
