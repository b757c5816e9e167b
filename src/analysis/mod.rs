//! The offline analysis commands: `rampart auth can-i` and `rampart who-can`, evaluating RBAC
//! manifests (plus the bootstrap policy) with the rbac crate, with kubectl's syntax, output and
//! exit codes (0 yes, 1 no, 2 bad input); `rampart auth whoami --as-arn` and `--as-arn` for the
//! others, resolving IAM ARNs as EKS would through the aws-auth ConfigMap and access entries
//! among the manifests; and the access-hygiene commands over the same manifests (or a live
//! cluster): `rampart lint`, `rampart matrix`, `rampart diff`, `rampart audit2rbac`, their logic
//! in the `access-analysis` crate.

mod audit2rbac;
mod can_i;
mod diff;
mod eks;
mod lint;
mod locate;
mod manifests;
mod matrix;
mod resources;
mod table;
mod who_can;
mod whoami;

use crate::output::errln;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use rbac::{Attributes, ResourceAttributes, UserInfo};

use resources::Resolved;

pub use audit2rbac::Audit2RbacArgs;
pub use diff::DiffArgs;
pub use lint::LintArgs;
pub use matrix::MatrixArgs;
pub use who_can::WhoCanArgs;

/// `rampart auth ...`
#[derive(Args, Debug)]
pub struct AuthArgs {
    #[command(subcommand)]
    command: AuthCommand,
}

#[derive(Subcommand, Debug)]
enum AuthCommand {
    /// Check whether an action is allowed, offline over RBAC manifests (kubectl auth can-i).
    CanI(can_i::CanIArgs),
    /// The Kubernetes user and groups EKS would give an IAM ARN, offline over the aws-auth
    /// ConfigMap and access entries among the manifests (kubectl auth whoami).
    Whoami(whoami::WhoamiArgs),
}

/// Runs `rampart auth ...`.
pub fn run_auth(args: AuthArgs) -> ExitCode {
    match args.command {
        AuthCommand::CanI(args) => finish(can_i::run(args)),
        AuthCommand::Whoami(args) => finish(whoami::run(args)),
    }
}

/// Runs `rampart who-can ...`.
pub fn run_who_can(args: WhoCanArgs) -> ExitCode {
    finish(who_can::run(args))
}

/// Runs `rampart lint ...`.
pub fn run_lint(args: LintArgs) -> ExitCode {
    finish(lint::run(args))
}

/// Runs `rampart matrix ...`.
pub fn run_matrix(args: MatrixArgs) -> ExitCode {
    finish(matrix::run(args))
}

/// Runs `rampart diff ...`.
pub fn run_diff(args: DiffArgs) -> ExitCode {
    finish(diff::run(args))
}

/// Runs `rampart audit2rbac ...`.
pub fn run_audit2rbac(args: Audit2RbacArgs) -> ExitCode {
    finish(audit2rbac::run(args))
}

fn finish(result: Result<ExitCode, AnalysisError>) -> ExitCode {
    result.unwrap_or_else(|e| {
        errln!("error: {e}");
        ExitCode::from(2)
    })
}

/// Why an analysis command could not answer (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// A manifest is not valid YAML/JSON, or an RBAC object in it does not parse.
    #[error("{file}: document {document}: {message}")]
    Manifest { file: String, document: usize, message: String },
    /// The command line asks for something that cannot be answered.
    #[error("{0}")]
    Usage(String),
}

/// `--as`, `--as-group`, `--as-uid`, `--as-arn`: who is asking.
#[derive(Args, Debug, Clone)]
pub struct IdentityArgs {
    /// The user to ask as (impersonation: system:authenticated is added, as the API server does).
    #[arg(long = "as", value_name = "USER")]
    pub user: Option<String>,
    /// A group of the user. Repeatable.
    #[arg(long = "as-group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// The user's UID (RBAC does not look at it).
    #[arg(long = "as-uid", value_name = "UID")]
    pub uid: Option<String>,
    /// An IAM ARN to ask as (what `aws sts get-caller-identity` reports; an assumed-role ARN
    /// carries its session name), resolved to a Kubernetes user as EKS would, through the
    /// aws-auth ConfigMap and access entries among the manifests.
    #[arg(long = "as-arn", value_name = "ARN", conflicts_with_all = ["user", "groups"])]
    pub arn: Option<String>,
    #[command(flatten)]
    pub eks: EksArgs,
}

/// How an IAM ARN is resolved.
#[derive(Args, Debug, Clone)]
pub struct EksArgs {
    /// The access key ID the caller signs with (what `{{AccessKeyID}}` templates render).
    #[arg(long, value_name = "KEY")]
    pub access_key_id: Option<String>,
    /// The cluster's authentication mode: CONFIG_MAP, API_AND_CONFIG_MAP or API. By default the
    /// one an `aws eks describe-cluster` document among the manifests gives, else
    /// API_AND_CONFIG_MAP when there are access entries, CONFIG_MAP when there are none.
    #[arg(long, value_name = "MODE")]
    pub authentication_mode: Option<String>,
}

impl EksArgs {
    pub fn mode(&self) -> Result<Option<eks_auth::AuthenticationMode>, AnalysisError> {
        self.authentication_mode
            .as_deref()
            .map(|mode| mode.parse().map_err(|e: eks_auth::Error| AnalysisError::Usage(e.to_string())))
            .transpose()
    }

    /// Resolves `arn` through the manifests; warnings about the aws-auth ConfigMap go to stderr.
    pub fn resolve(&self, manifests: &eks::EksManifests, arn: &str) -> Result<eks::ResolvedArn, AnalysisError> {
        if manifests.is_empty() {
            return Err(AnalysisError::Usage(format!(
                "--as-arn {arn}: no aws-auth ConfigMap (kube-system/aws-auth) or access entry among the manifests \
                 (-f): give the cluster's, as `kubectl get configmap aws-auth -n kube-system -o yaml` and `aws eks \
                 describe-access-entry` print them"
            )));
        }
        let resolved = eks::resolve(manifests, arn, self.access_key_id.as_deref().unwrap_or_default(), self.mode()?)
            .map_err(|e| AnalysisError::Usage(format!("--as-arn {arn}: {e}")))?;
        for warning in &resolved.warnings {
            errln!("warning: {warning}");
        }
        Ok(resolved)
    }
}

/// Who asks, as the API server would see them.
pub struct Asker {
    /// The user, or why EKS would not authenticate the ARN.
    pub user: Result<UserInfo, String>,
    /// With `--as-arn`, the access entries that count (EKS's access-policy authorizer).
    pub access_entries: Option<eks_auth::AccessEntries>,
}

impl IdentityArgs {
    /// Who asks: `--as-arn` resolved through the manifests, else `--as`/`--as-group`.
    pub fn asker(&self, manifests: &eks::EksManifests) -> Result<Asker, AnalysisError> {
        match &self.arn {
            Some(arn) => {
                let resolved = self.eks.resolve(manifests, arn)?;
                let user =
                    resolved.user.map(|user| user.user).map_err(|e| format!("EKS would not authenticate {arn}: {e}"));
                Ok(Asker { user, access_entries: resolved.access_entries })
            }
            None => Ok(Asker { user: Ok(self.user_info()?), access_entries: None }),
        }
    }

    /// The user the API server would see for `kubectl --as USER --as-group G...`.
    pub fn user_info(&self) -> Result<UserInfo, AnalysisError> {
        let Some(name) = &self.user else {
            return Err(AnalysisError::Usage(
                "--as USER is required: offline there is no current user to ask as".into(),
            ));
        };
        let mut user = UserInfo::impersonated(name, &self.groups);
        user.uid = self.uid.clone().unwrap_or_default();
        Ok(user)
    }
}

/// The question `VERB TYPE[/NAME]|URL [NAME]` asks, resolved as kubectl resolves it.
pub struct Question {
    pub attributes: Attributes,
    /// kubectl's warnings about the question, for stderr.
    pub warnings: Vec<String>,
    /// Whether the resource is known and cluster-scoped.
    pub cluster_scoped: bool,
}

/// Builds the attributes of a question. `namespace` is `""` for all namespaces.
pub fn question(
    verb: &str,
    target: &str,
    name: Option<&str>,
    subresource: Option<&str>,
    namespace: &str,
) -> Result<Question, AnalysisError> {
    let subresource = subresource.unwrap_or("");
    if target.starts_with('/') {
        if !subresource.is_empty() {
            return Err(AnalysisError::Usage("--subresource can not be used with NonResourceURL".into()));
        }
        if name.is_some() {
            return Err(AnalysisError::Usage("NonResourceURL and ResourceName can not specified together".into()));
        }
        let mut warnings = Vec::new();
        if !["get", "put", "post", "head", "options", "delete", "patch", "*"].contains(&verb) {
            warnings.push(format!("verb '{verb}' is not a known verb"));
        }
        let attributes = Attributes::non_resource(UserInfo::default(), verb, target);
        return Ok(Question { attributes, warnings, cluster_scoped: true });
    }
    let (resource_arg, slash_name) = match target.split_once('/') {
        Some((r, n)) => (r, Some(n)),
        None => (target, None),
    };
    let name = match (slash_name, name) {
        (Some(_), Some(_)) => {
            return Err(AnalysisError::Usage(format!(
                "{target:?} already names a resource; give either TYPE/NAME or TYPE NAME"
            )));
        }
        (a, b) => a.or(b).unwrap_or(""),
    };
    let mut warnings = Vec::new();
    let (group, resource, cluster_scoped) = match resources::resolve(resource_arg) {
        Resolved::Known(r) => {
            if let Some(sub) = slash_name.filter(|n| r.subresources.iter().any(|s| s == n)) {
                warnings.push(format!(
                    "kubectl reads \"{target}\" as the {} named \"{sub}\"; to ask about the subresource use \"{} --subresource={sub}\"",
                    r.singular, r.resource
                ));
            }
            if !r.namespaced && !namespace.is_empty() {
                warnings.push(if r.group.is_empty() {
                    format!("resource '{}' is not namespace scoped", r.resource)
                } else {
                    format!("resource '{}' is not namespace scoped in group '{}'", r.resource, r.group)
                });
            }
            (r.group.clone(), r.resource.clone(), !r.namespaced)
        }
        Resolved::Unknown { resource, group } => {
            if resource != "*" && resource != "users" && resource != "groups" {
                warnings.push(if group.is_empty() {
                    format!("the server doesn't have a resource type '{resource}'")
                } else {
                    let bare = resource.split_once('.').map_or(resource.as_str(), |(r, _)| r);
                    format!("the server doesn't have a resource type '{bare}' in group '{group}'")
                });
            }
            (String::new(), resource, false)
        }
    };
    if !is_known_resource_verb(verb) {
        warnings.push(format!("verb '{verb}' is not a known verb"));
    }
    let r = ResourceAttributes::new(namespace, &group, &resource).with_subresource(subresource).with_name(name);
    Ok(Question { attributes: Attributes::resource(UserInfo::default(), verb, r), warnings, cluster_scoped })
}

fn is_known_resource_verb(verb: &str) -> bool {
    [
        "get",
        "list",
        "watch",
        "create",
        "update",
        "patch",
        "delete",
        "deletecollection",
        "use",
        "bind",
        "impersonate",
        "*",
        "approve",
        "sign",
        "escalate",
        "attest",
    ]
    .contains(&verb)
}
