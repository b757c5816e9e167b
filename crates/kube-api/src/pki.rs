//! The cluster's long-lived key material — its certificate authority and its service-account
//! signing key — kept in the store (`/clusters/<name>/pki`) so a restart, or another replica,
//! uses the same ones. Created on first start; never logged.

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use store::{Store, StoreExt};
use tls::CertificateAuthority;

use crate::error::Error;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    ca_cert: String,
    ca_key: String,
    /// PKCS#8 DER, base64.
    service_account_key: String,
}

/// The loaded material.
pub struct Pki {
    pub ca: CertificateAuthority,
    pub service_account_key: Vec<u8>,
}

fn key(cluster: &str) -> String {
    format!("/clusters/{cluster}/pki")
}

/// Load the cluster's CA and signing key, creating them on first start (a concurrent creator
/// wins the race and everyone uses its material).
pub async fn load_or_create(store: &Arc<dyn Store>, cluster: &str) -> Result<Pki, Error> {
    let key = key(cluster);
    loop {
        if let Some(kv) = store.get(&key).await? {
            let stored: Stored = serde_json::from_slice(&kv.value)
                .map_err(|e| Error::Pki(format!("the stored key material of cluster {cluster} is unreadable: {e}")))?;
            let ca = CertificateAuthority::from_pem(&stored.ca_cert, &stored.ca_key)?;
            let service_account_key =
                base64::engine::general_purpose::STANDARD.decode(&stored.service_account_key).map_err(|e| {
                    Error::Pki(format!("the stored service-account key of cluster {cluster} is unreadable: {e}"))
                })?;
            return Ok(Pki { ca, service_account_key });
        }
        let ca = CertificateAuthority::generate("kubernetes")?;
        let stored = Stored {
            ca_cert: ca.pem().cert_pem.clone(),
            ca_key: ca.pem().key_pem.clone(),
            service_account_key: base64::engine::general_purpose::STANDARD
                .encode(crate::access::authn::ServiceAccountKey::generate_pkcs8()),
        };
        let value = Bytes::from(serde_json::to_vec(&stored).expect("serializes"));
        if store.create(&key, value).await?.is_some() {
            continue;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn material_survives_a_restart() {
        let store: Arc<dyn Store> = Arc::new(store::MemStore::new());
        let first = load_or_create(&store, "c1").await.unwrap();
        let again = load_or_create(&store, "c1").await.unwrap();
        assert_eq!(first.ca.pem().cert_pem, again.ca.pem().cert_pem);
        assert_eq!(first.service_account_key, again.service_account_key);
        let other = load_or_create(&store, "c2").await.unwrap();
        assert_ne!(first.ca.pem().cert_pem, other.ca.pem().cert_pem);
    }
}
