//! Reading the policy the offline commands evaluate: RBAC objects from `-f FILE|DIR|-` (JSON or
//! multi-document YAML, `List` kinds included; a directory's subdirectories only with `-R`, as
//! kubectl reads them), on top of the Kubernetes 1.32 bootstrap policy unless `--no-bootstrap`;
//! ClusterRole aggregation applied as the controller would. A namespaced object without a
//! namespace lands where `kubectl apply -f` would put it: the `-n` namespace, else `default`.
//! Each object's file and first line are kept (for `rampart lint`'s findings). With
//! `--kubeconfig` the objects come from a live cluster instead, read with `kubectl get -o json`
//! (the cluster's own bootstrap policy with them), and with `--cluster-name` its access entries
//! with the aws CLI, exactly as a user would export them.

use std::collections::HashMap;

use crate::output::errln;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use clap::Args;
use rbac::{Authorizer, ClusterRole, ClusterRoleBinding, Role, RoleBinding, aggregate, bootstrap};
use serde_json::Value;

use super::AnalysisError;
use super::eks::EksManifests;

/// Where the policy comes from.
#[derive(Args, Debug, Clone)]
pub struct PolicyArgs {
    /// Manifests to read RBAC objects from: a file, a directory (its .yaml, .yml and .json
    /// files) or - for standard input. Repeatable.
    #[arg(short = 'f', long = "filename", value_name = "FILE|DIR|-")]
    pub filenames: Vec<String>,
    /// Read the directories given to -f recursively, as kubectl -R does.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Leave out the bootstrap policy every cluster has (cluster-admin, system:basic-user, ...).
    #[arg(long)]
    pub no_bootstrap: bool,
    /// Read the RBAC objects and the aws-auth ConfigMap from the cluster this kubeconfig names
    /// (with kubectl), instead of or besides -f.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<String>,
    /// With --kubeconfig: also read the EKS cluster's access entries and authentication mode
    /// with the aws CLI (list-access-entries, describe-access-entry,
    /// list-associated-access-policies, describe-cluster).
    #[arg(long, value_name = "NAME", requires = "kubeconfig")]
    pub cluster_name: Option<String>,
}

/// Where an object was read: the file (or `cluster` for a live read) and the document's text,
/// its first line being `line`.
#[derive(Clone, Debug)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub text: Arc<str>,
}

/// An object's identity among the manifests: kind, namespace, name.
pub type ObjectKey = (&'static str, String, String);

/// The RBAC objects read, in the order read (later ones replace earlier ones of the same name).
#[derive(Default, Debug)]
pub struct Policy {
    pub roles: Vec<Role>,
    pub cluster_roles: Vec<ClusterRole>,
    pub role_bindings: Vec<RoleBinding>,
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
    /// The aws-auth ConfigMap and access entries found.
    pub eks: EksManifests,
    /// Where each object read from a file was (bootstrap objects have none).
    pub locations: HashMap<ObjectKey, Location>,
}

impl Policy {
    /// The authorizer holding this policy, aggregated ClusterRoles filled in.
    pub fn authorizer(&self) -> Authorizer {
        let mut cluster_roles: Vec<ClusterRole> = Vec::new();
        for role in &self.cluster_roles {
            cluster_roles.retain(|r| r.metadata.name != role.metadata.name);
            cluster_roles.push(role.clone());
        }
        Authorizer::from_objects(
            &self.roles,
            &aggregate(&cluster_roles),
            &self.role_bindings,
            &self.cluster_role_bindings,
        )
    }
}

/// Reads the policy, namespaced objects without a namespace landing in `default`; warnings
/// (skipped documents) go to stderr.
pub fn load(args: &PolicyArgs) -> Result<Policy, AnalysisError> {
    load_into(args, DEFAULT_NAMESPACE)
}

/// Reads the policy as `kubectl apply -f ... -n NAMESPACE` would create it: namespaced objects
/// without a namespace land in `namespace`.
pub fn load_into(args: &PolicyArgs, namespace: &str) -> Result<Policy, AnalysisError> {
    let mut sources = Vec::new();
    for name in &args.filenames {
        sources.extend(self::sources(name, args.recursive)?);
    }
    if let Some(kubeconfig) = &args.kubeconfig {
        sources.extend(live_sources(kubeconfig, args.cluster_name.as_deref())?);
    }
    // A live cluster serves its own bootstrap policy.
    from_sources(sources, namespace, !args.no_bootstrap && args.kubeconfig.is_none())
}

/// Reads the policy from (label, text) pairs: namespaced objects without a namespace land in
/// `namespace`; the bootstrap policy first when `bootstrap`.
pub fn from_sources(sources: Vec<(String, String)>, namespace: &str, bootstrap: bool) -> Result<Policy, AnalysisError> {
    let mut policy = Policy::default();
    if bootstrap {
        policy.cluster_roles.extend_from_slice(bootstrap::cluster_roles());
        policy.cluster_role_bindings.extend_from_slice(bootstrap::cluster_role_bindings());
        policy.roles.extend_from_slice(bootstrap::roles());
        policy.role_bindings.extend_from_slice(bootstrap::role_bindings());
    }
    let namespace = if namespace.is_empty() { DEFAULT_NAMESPACE } else { namespace };
    for (label, text) in sources {
        let json = label.ends_with(".json") || label.starts_with(LIVE);
        for (doc, value, location) in parse(&label, &text, json)? {
            add(&mut policy, &label, doc, value, namespace, &location)?;
        }
    }
    Ok(policy)
}

/// The label of what is read from a live cluster.
const LIVE: &str = "cluster:";

/// Runs a client (kubectl, aws) and returns its standard output.
fn client_output(program: &str, args: &[&str]) -> Result<String, AnalysisError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| AnalysisError::Usage(format!("cannot run {program}: {e}")))?;
    if !out.status.success() {
        return Err(AnalysisError::Usage(format!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    String::from_utf8(out.stdout).map_err(|e| AnalysisError::Usage(format!("{program}: {e}")))
}

/// What a live cluster holds, as `kubectl get -o json` and the aws CLI print it.
fn live_sources(kubeconfig: &str, cluster: Option<&str>) -> Result<Vec<(String, String)>, AnalysisError> {
    let kubectl = |args: &[&str]| {
        let mut all = vec!["--kubeconfig", kubeconfig];
        all.extend_from_slice(args);
        client_output("kubectl", &all)
    };
    let mut out = vec![(
        format!("{LIVE}rbac"),
        kubectl(&["get", "roles,clusterroles,rolebindings,clusterrolebindings", "-A", "-o", "json"])?,
    )];
    let aws_auth = kubectl(&["get", "configmap", "aws-auth", "-n", "kube-system", "-o", "json", "--ignore-not-found"])?;
    if !aws_auth.trim().is_empty() {
        out.push((format!("{LIVE}aws-auth"), aws_auth));
    }
    if let Some(cluster) = cluster {
        let aws = |args: &[&str]| {
            let mut all = vec!["eks"];
            all.extend_from_slice(args);
            all.extend_from_slice(&["--output", "json"]);
            client_output("aws", &all)
        };
        out.push((format!("{LIVE}describe-cluster"), aws(&["describe-cluster", "--name", cluster])?));
        let listed: Value = serde_json::from_str(&aws(&["list-access-entries", "--cluster-name", cluster])?)
            .map_err(|e| AnalysisError::Usage(format!("aws eks list-access-entries: {e}")))?;
        for principal in listed["accessEntries"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            let args = ["--cluster-name", cluster, "--principal-arn", principal];
            let mut describe = vec!["describe-access-entry"];
            describe.extend_from_slice(&args);
            out.push((format!("{LIVE}access-entry {principal}"), aws(&describe)?));
            let mut policies = vec!["list-associated-access-policies"];
            policies.extend_from_slice(&args);
            out.push((format!("{LIVE}access-policies {principal}"), aws(&policies)?));
        }
    }
    Ok(out)
}

const DEFAULT_NAMESPACE: &str = "default";

fn read_error(path: &str, e: std::io::Error) -> AnalysisError {
    AnalysisError::Usage(format!("cannot read {path}: {e}"))
}

/// The (label, text) of each file behind one `-f` argument.
pub fn sources(name: &str, recursive: bool) -> Result<Vec<(String, String)>, AnalysisError> {
    if name == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| read_error("standard input", e))?;
        return Ok(vec![("<stdin>".into(), text)]);
    }
    let path = Path::new(name);
    if !path.is_dir() {
        let text = std::fs::read_to_string(path).map_err(|e| read_error(name, e))?;
        return Ok(vec![(name.into(), text)]);
    }
    let mut files = Vec::new();
    manifest_files(path, recursive, &mut files)?;
    files
        .into_iter()
        .map(|p| {
            let label = p.display().to_string();
            std::fs::read_to_string(&p).map(|t| (label.clone(), t)).map_err(|e| read_error(&label, e))
        })
        .collect()
}

/// The manifest files (`.yaml`, `.yml`, `.json`) of directory `dir` in kubectl's order: entries
/// sorted by name, a subdirectory's files in its place when `recursive` (Go's `filepath.Walk`).
pub fn manifest_files(dir: &Path, recursive: bool, files: &mut Vec<PathBuf>) -> Result<(), AnalysisError> {
    let label = dir.display().to_string();
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).map_err(|e| read_error(&label, e))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if recursive {
                manifest_files(&path, recursive, files)?;
            }
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json") {
            files.push(path);
        }
    }
    Ok(())
}

/// The documents of a file with their 1-based index and where each is.
fn parse(label: &str, text: &str, json: bool) -> Result<Vec<(usize, Value, Location)>, AnalysisError> {
    let file = if label.starts_with(LIVE) { "cluster".to_string() } else { label.to_string() };
    if json {
        let value: Value = serde_json::from_str(text).map_err(|e| AnalysisError::Manifest {
            file: label.into(),
            document: 1,
            message: e.to_string(),
        })?;
        return Ok(vec![(1, value, Location { file, line: 1, text: text.into() })]);
    }
    match serde_saphyr::from_multiple::<Value>(text) {
        Ok(docs) => {
            let documents = documents(text);
            Ok(docs
                .into_iter()
                .filter(|d| !d.is_null())
                .enumerate()
                .map(|(i, d)| {
                    let (line, body) = documents.get(i).cloned().unwrap_or((1, String::new()));
                    (i + 1, d, Location { file: file.clone(), line, text: body.into() })
                })
                .collect())
        }
        Err(e) => {
            let line = e.location().map(|l| l.line() as usize).unwrap_or(1);
            Err(AnalysisError::Manifest {
                file: label.into(),
                document: document_at(text, line),
                message: e.to_string(),
            })
        }
    }
}

/// The documents of a YAML stream that have content: the line each starts on (1-based) and its
/// text, counted as [`document_at`] counts them.
fn documents(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, l) in text.lines().enumerate() {
        if l.starts_with("---") {
            out.extend(current.take());
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(l);
            body.push('\n');
        } else if !l.trim().is_empty() && !l.trim_start().starts_with('#') {
            current = Some((i + 1, format!("{l}\n")));
        }
    }
    out.extend(current);
    out
}

/// Which document (1-based) line `line` (1-based) of a YAML stream is in.
fn document_at(text: &str, line: usize) -> usize {
    let mut document = 1;
    let mut seen_content = false;
    for l in text.lines().take(line.saturating_sub(1)) {
        if l.starts_with("---") {
            if seen_content {
                document += 1;
            }
            seen_content = false;
        } else if !l.trim().is_empty() && !l.trim_start().starts_with('#') {
            seen_content = true;
        }
    }
    document
}

fn add(
    policy: &mut Policy,
    file: &str,
    document: usize,
    value: Value,
    namespace: &str,
    location: &Location,
) -> Result<(), AnalysisError> {
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
    if let Some(items) = value.get("items").and_then(Value::as_array).filter(|_| kind.ends_with("List")) {
        for item in items {
            add(policy, file, document, item.clone(), namespace, location)?;
        }
        return Ok(());
    }
    let eks =
        policy.eks.add(&value).map_err(|message| AnalysisError::Manifest { file: file.into(), document, message })?;
    if eks {
        if let Some(key) = super::eks::object_key(&value) {
            policy.locations.insert(key, location.clone());
        }
        return Ok(());
    }
    let name = value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string();
    let object_namespace =
        value.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or(namespace).to_string();
    let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let rbac_group = api_version.starts_with("rbac.authorization.k8s.io/");
    let invalid =
        |e: serde_json::Error| AnalysisError::Manifest { file: file.into(), document, message: format!("{kind}: {e}") };
    match (kind.as_str(), rbac_group) {
        ("Role", true) => {
            let mut role: Role = serde_json::from_value(value).map_err(invalid)?;
            default_namespace(&mut role.metadata.namespace, namespace);
            policy.roles.push(role);
            policy.locations.insert(("Role", object_namespace, name), location.clone());
        }
        ("ClusterRole", true) => {
            policy.cluster_roles.push(serde_json::from_value(value).map_err(invalid)?);
            policy.locations.insert(("ClusterRole", String::new(), name), location.clone());
        }
        ("RoleBinding", true) => {
            let mut binding: RoleBinding = serde_json::from_value(value).map_err(invalid)?;
            binding.apply_defaults();
            default_namespace(&mut binding.metadata.namespace, namespace);
            policy.role_bindings.push(binding);
            policy.locations.insert(("RoleBinding", object_namespace, name), location.clone());
        }
        ("ClusterRoleBinding", true) => {
            let mut binding: ClusterRoleBinding = serde_json::from_value(value).map_err(invalid)?;
            binding.apply_defaults();
            policy.cluster_role_bindings.push(binding);
            policy.locations.insert(("ClusterRoleBinding", String::new(), name), location.clone());
        }
        _ => {
            let what = if kind.is_empty() { "a document without kind".to_string() } else { format!("kind {kind:?}") };
            errln!("warning: {file}: document {document}: skipping {what} (neither RBAC nor EKS access)");
        }
    }
    Ok(())
}

/// A namespaced object without a namespace lands in `namespace`, as `kubectl apply -f` puts it.
fn default_namespace(object_namespace: &mut String, namespace: &str) {
    if object_namespace.is_empty() {
        *object_namespace = namespace.into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_index_of_a_line() {
        let text = "# c\n---\na: 1\n---\nb: 2\n---\nc: [\n";
        assert_eq!(document_at(text, 3), 1);
        assert_eq!(document_at(text, 5), 2);
        assert_eq!(document_at(text, 7), 3);
        assert_eq!(document_at("a: 1\n---\nb: ]\n", 3), 2);
        let docs = documents(text);
        assert_eq!(docs.iter().map(|(line, _)| *line).collect::<Vec<_>>(), [3, 5, 7]);
        assert_eq!(docs[1].1, "b: 2\n");
    }
}
