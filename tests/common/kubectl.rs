//! Helpers the `kubectl_*` end-to-end files share (`use common::kubectl::*`, which brings the
//! harness with it): the versioned kubectl binaries beside the dispatcher, kubeconfigs for other
//! credentials, and reading the tables kubectl prints.

pub use super::*;

use std::path::PathBuf;
use std::process::Command;

/// The versioned kubectl (`kubectl.1.27`, …) that sits next to the machine's kubectl dispatcher.
pub fn versioned_kubectl(minor: u32) -> PathBuf {
    require_client("kubectl");
    let dispatcher = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join("kubectl")).find(|p| p.is_file()))
        .expect("kubectl on PATH");
    let real = std::fs::canonicalize(&dispatcher).expect("resolving kubectl");
    let binary = real.parent().expect("a directory").join(format!("kubectl.1.{minor}"));
    assert!(binary.is_file(), "the versioned client {} is required but missing", binary.display());
    binary
}

/// Run a versioned kubectl with the test's environment.
pub fn kubectl_at(rampart: &Rampart, minor: u32, args: &[&str]) -> Output {
    let mut command = Command::new(versioned_kubectl(minor));
    command.env("HOME", &rampart.home).envs(&rampart.env).current_dir(rampart.data_dir.parent().unwrap()).args(args);
    run(&mut command, None)
}

/// The server URL and CA data of the admin kubeconfig.
pub fn server_and_ca(rampart: &Rampart) -> (String, String) {
    let text = std::fs::read_to_string(rampart.data_dir.join("admin.kubeconfig")).expect("admin.kubeconfig");
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")).map(str::to_string))
            .unwrap_or_else(|| panic!("{name} in admin.kubeconfig"))
    };
    (field("server"), field("certificate-authority-data"))
}

/// A kubeconfig that authenticates with a bearer `token`.
pub fn token_kubeconfig(rampart: &Rampart, name: &str, token: &str) -> PathBuf {
    let (server, ca) = server_and_ca(rampart);
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: {token}\n"
    );
    rampart.write_file(name, &text)
}

/// The rows of a table kubectl printed (columns split on runs of two or more spaces).
pub fn rows(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| line.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(str::to_string).collect())
        .collect()
}

/// The header row of a table.
pub fn header(stdout: &str) -> Vec<String> {
    rows(stdout).into_iter().next().unwrap_or_default()
}

/// The row whose first cell is `name` (or whose cell `column` is).
pub fn row<'a>(table: &'a [Vec<String>], name: &str) -> &'a Vec<String> {
    table.iter().find(|r| r.iter().any(|c| c == name)).unwrap_or_else(|| panic!("no row {name} in {table:?}"))
}

/// Parse kubectl's JSON output.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_str(&output.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", output.stdout))
}
