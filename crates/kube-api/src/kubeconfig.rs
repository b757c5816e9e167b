//! Kubeconfig files for a cluster (the admin's client-certificate kubeconfig), in the layout
//! `kubeadm` writes.

use base64::Engine as _;

fn b64(pem: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(pem.as_bytes())
}

/// A kubeconfig that authenticates as `user` with the client certificate `cert`.
pub fn client_certificate(cluster: &str, server: &str, ca_pem: &str, user: &str, cert: &tls::CertifiedKey) -> String {
    let context = format!("{user}@{cluster}");
    format!(
        "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n  name: {cluster}\ncontexts:\n- context:\n    cluster: {cluster}\n    user: {user}\n  name: {context}\ncurrent-context: {context}\nkind: Config\npreferences: {{}}\nusers:\n- name: {user}\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\n",
        ca = b64(ca_pem),
        cert = b64(&cert.cert_pem),
        key = b64(&cert.key_pem),
    )
}
