//! TLS for both front doors: certificate authorities, serving and client certificates (rcgen),
//! rustls server configurations, and the HTTPS accept loop that hands each request to an axum
//! `Router` with the connection's details attached.
//!
//! The accept loop is ours (not `axum::serve`) because handlers need the verified client
//! certificate chain and the peer address of each connection, and because WebSocket upgrades
//! (kubectl exec) must work on HTTP/1.1 while everything else may speak h2.
//!
//! The crypto provider is always passed explicitly (ring), so no process-wide default is needed.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Everything this crate can fail with.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("reading PEM: {0}")]
    Pem(String),
    #[error("building the TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("building the client certificate verifier: {0}")]
    Verifier(String),
}

/// A certificate and its private key, both PEM.
#[derive(Clone, Debug)]
pub struct CertifiedKey {
    pub cert_pem: String,
    pub key_pem: String,
}

/// A certificate authority that issues serving and client certificates.
pub struct CertificateAuthority {
    pem: CertifiedKey,
    issuer: Issuer<'static, KeyPair>,
}

impl CertificateAuthority {
    /// A new self-signed CA (ECDSA P-256) named `common_name`.
    pub fn generate(common_name: &str) -> Result<Self, TlsError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(common_name, &[]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let cert = params.self_signed(&key)?;
        let pem = CertifiedKey { cert_pem: cert.pem(), key_pem: key.serialize_pem() };
        Ok(CertificateAuthority { pem, issuer: Issuer::new(params, key) })
    }

    /// A CA loaded back from its PEM certificate and key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, TlsError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(CertificateAuthority {
            pem: CertifiedKey { cert_pem: cert_pem.to_string(), key_pem: key_pem.to_string() },
            issuer,
        })
    }

    /// The CA's own certificate and key, PEM.
    pub fn pem(&self) -> &CertifiedKey {
        &self.pem
    }

    /// A serving certificate for `names` (DNS names or IP addresses), signed by this CA.
    pub fn issue_server(&self, common_name: &str, names: &[String]) -> Result<CertifiedKey, TlsError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(common_name, &[]);
        params.subject_alt_names = names
            .iter()
            .map(|name| match name.parse::<IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => Ok(SanType::DnsName(name.clone().try_into()?)),
            })
            .collect::<Result<_, rcgen::Error>>()?;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertifiedKey { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }

    /// A client certificate for Kubernetes user `common_name` in group `organization` (rcgen
    /// holds at most one value per name attribute, so at most one group).
    pub fn issue_client(&self, common_name: &str, organization: Option<&str>) -> Result<CertifiedKey, TlsError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = distinguished_name(common_name, organization.as_slice());
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertifiedKey { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}

fn distinguished_name(common_name: &str, organizations: &[&str]) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    for organization in organizations {
        dn.push(DnType::OrganizationName, *organization);
    }
    dn.push(DnType::CommonName, common_name);
    dn
}

fn parse_certs(pem: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| TlsError::Pem(err.to_string()))
}

fn parse_key(pem: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    rustls_pemfile::private_key(&mut pem.as_bytes())
        .map_err(|err| TlsError::Pem(err.to_string()))?
        .ok_or_else(|| TlsError::Pem("no private key found".to_string()))
}

/// A rustls server configuration presenting `serving`, offering h2 and http/1.1, and — when
/// `client_ca_pem` is given — asking for (but not requiring) client certificates issued by it.
pub fn server_config(
    serving: &CertifiedKey,
    client_ca_pem: Option<&str>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder =
        rustls::ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let builder = match client_ca_pem {
        Some(ca_pem) => {
            let mut roots = RootCertStore::empty();
            for cert in parse_certs(ca_pem)? {
                roots.add(cert)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|err| TlsError::Verifier(err.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(parse_certs(&serving.cert_pem)?, parse_key(&serving.key_pem)?)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// What a handler may want to know about the connection a request came on; every request
/// carries it as an extension.
#[derive(Clone, Debug)]
pub struct ConnectionInfo {
    pub remote_addr: SocketAddr,
    /// The client's certificate chain, leaf first, already verified against the client CA
    /// (empty when the client sent none).
    pub peer_certificates: Arc<Vec<CertificateDer<'static>>>,
}

impl ConnectionInfo {
    /// The subject of the verified client certificate: (common name, organizations).
    pub fn client_subject(&self) -> Option<(String, Vec<String>)> {
        let leaf = self.peer_certificates.first()?;
        let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
        let subject = cert.subject();
        let common_name = subject.iter_common_name().next()?.as_str().ok()?.to_string();
        let organizations = subject.iter_organization().filter_map(|o| o.as_str().ok().map(str::to_string)).collect();
        Some((common_name, organizations))
    }
}

/// Serve `router` over TLS on `listener` until `shutdown` resolves. Each request gets a
/// [`ConnectionInfo`] extension. Connections in flight are dropped at shutdown.
pub async fn serve(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    router: Router,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, remote_addr) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        connections.spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(err) => {
                    tracing::debug!(%err, %remote_addr, "TLS handshake failed");
                    return;
                }
            };
            let peer_certificates =
                Arc::new(tls.get_ref().1.peer_certificates().map(|c| c.to_vec()).unwrap_or_default());
            let info = ConnectionInfo { remote_addr, peer_certificates };
            let service = hyper::service::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(info.clone());
                router.clone().oneshot(request.map(axum::body::Body::new))
            });
            let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            if let Err(err) = builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tls), service).await {
                tracing::debug!(%err, %remote_addr, "connection ended with an error");
            }
        });
    }
    connections.abort_all();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_issues_certificates_that_round_trip() {
        let ca = CertificateAuthority::generate("rampart-ca").unwrap();
        let reloaded = CertificateAuthority::from_pem(&ca.pem().cert_pem, &ca.pem().key_pem).unwrap();
        let serving = reloaded.issue_server("localhost", &["localhost".into(), "127.0.0.1".into()]).unwrap();
        let config = server_config(&serving, Some(&ca.pem().cert_pem)).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);

        let client = ca.issue_client("admin", Some("system:masters")).unwrap();
        let der = parse_certs(&client.cert_pem).unwrap();
        let info = ConnectionInfo { remote_addr: "127.0.0.1:1".parse().unwrap(), peer_certificates: Arc::new(der) };
        assert_eq!(info.client_subject(), Some(("admin".to_string(), vec!["system:masters".to_string()])));
    }
}
