//! Helpers the `access_*` end-to-end files share (`use common::access::*`, which brings
//! `kubectl`'s and the harness's with it): the administrator (system:masters by client
//! certificate), service-account identities, raw HTTPS requests with the administrator's
//! certificate, and the audit log.

pub use super::kubectl::*;

use std::path::PathBuf;

/// kubectl as the administrator (the admin kubeconfig: system:masters by client certificate).
pub fn admin(rampart: &Rampart, args: &[&str]) -> Output {
    let kubeconfig = rampart.data_dir.join("admin.kubeconfig");
    let mut all = vec!["--kubeconfig", kubeconfig.to_str().unwrap()];
    all.extend_from_slice(args);
    rampart.kubectl(&all)
}

/// kubectl as the administrator, with `stdin`.
pub fn admin_stdin(rampart: &Rampart, args: &[&str], stdin: &str) -> Output {
    let kubeconfig = rampart.data_dir.join("admin.kubeconfig");
    let mut all = vec!["--kubeconfig", kubeconfig.to_str().unwrap()];
    all.extend_from_slice(args);
    rampart.kubectl_stdin(&all, stdin)
}

/// Apply a manifest as the administrator.
pub fn apply(rampart: &Rampart, manifest: &str) -> Output {
    admin_stdin(rampart, &["apply", "-f", "-"], manifest).ok()
}

/// A service account `name` in `default` and a kubeconfig holding a token for it; returns the
/// kubeconfig's path and the token.
pub fn service_account(rampart: &Rampart, name: &str) -> (PathBuf, String) {
    admin(rampart, &["create", "serviceaccount", name]).ok();
    let token = admin(rampart, &["create", "token", name]).ok().stdout.trim().to_string();
    (token_kubeconfig(rampart, &format!("{name}.kubeconfig"), &token), token)
}

/// kubectl with a given kubeconfig.
pub fn kubectl_with(rampart: &Rampart, kubeconfig: &std::path::Path, args: &[&str]) -> Output {
    let mut all = vec!["--kubeconfig", kubeconfig.to_str().unwrap()];
    all.extend_from_slice(args);
    rampart.kubectl(&all)
}

/// The administrator's client certificate, key and the cluster CA as PEM files, for curl.
pub fn admin_pem_files(rampart: &Rampart) -> (PathBuf, PathBuf, PathBuf) {
    let text = std::fs::read_to_string(rampart.data_dir.join("admin.kubeconfig")).unwrap();
    let field = |name: &str| {
        let b64 = text
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")).map(str::to_string))
            .unwrap_or_else(|| panic!("{name} in admin.kubeconfig"));
        let mut command = std::process::Command::new("base64");
        run(command.arg("-d"), Some(&b64)).ok().stdout
    };
    (
        rampart.write_file("admin.crt", &field("client-certificate-data")),
        rampart.write_file("admin.key", &field("client-key-data")),
        rampart.write_file("ca.crt", &field("certificate-authority-data")),
    )
}

/// A raw HTTPS request with curl as the administrator: (status code, content type, body).
pub fn curl_admin(
    rampart: &Rampart,
    method: &str,
    path: &str,
    headers: &[&str],
    body: Option<&str>,
) -> (u16, String, String) {
    let (cert, key, ca) = admin_pem_files(rampart);
    let (server, _) = server_and_ca(rampart);
    let mut command = rampart.command("curl");
    command.args(["-sS", "-X", method, "--cert", cert.to_str().unwrap(), "--key", key.to_str().unwrap()]);
    command.args(["--cacert", ca.to_str().unwrap(), "-w", "\n%{http_code} %{content_type}"]);
    for header in headers {
        command.args(["-H", header]);
    }
    if let Some(body) = body {
        command.args(["-H", "Content-Type: application/json", "--data-raw", body]);
    }
    command.arg(format!("{server}{path}"));
    let out = run(&mut command, None).ok();
    let (body, status) = out.stdout.rsplit_once('\n').unwrap();
    let (code, content_type) = status.split_once(' ').unwrap();
    (code.parse().unwrap(), content_type.to_string(), body.to_string())
}

/// The audit log's events (one JSON object a line) of the default cluster.
pub fn audit_events(rampart: &Rampart) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(rampart.data_dir.join("logs/rampart/audit.log")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line is not JSON ({e}): {l}")))
        .collect()
}
