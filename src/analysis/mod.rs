//! The offline analysis commands: `rampart auth can-i` and `rampart who-can`, evaluating RBAC
//! manifests (plus the bootstrap policy) with the rbac crate, with kubectl's syntax, output and
//! exit codes (0 yes, 1 no, 2 bad input).

mod can_i;
mod manifests;
mod resources;
mod table;
mod who_can;

use std::process::ExitCode;

use clap::{Args, Subcommand};
use rbac::{Attributes, ResourceAttributes, UserInfo};

use resources::Resolved;

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
}

/// Runs `rampart auth ...`.
pub fn run_auth(args: AuthArgs) -> ExitCode {
    match args.command {
        AuthCommand::CanI(args) => finish(can_i::run(args)),
    }
}

/// Runs `rampart who-can ...`.
pub fn run_who_can(args: WhoCanArgs) -> ExitCode {
    finish(who_can::run(args))
}

fn finish(result: Result<ExitCode, AnalysisError>) -> ExitCode {
    result.unwrap_or_else(|e| {
        eprintln!("error: {e}");
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
    /// An IAM ARN to resolve through an aws-auth ConfigMap (not available yet).
    #[arg(long = "as-arn", value_name = "ARN", conflicts_with = "user")]
    pub arn: Option<String>,
}

impl IdentityArgs {
    /// The user the API server would see for `kubectl --as USER --as-group G...`.
    pub fn user_info(&self) -> Result<UserInfo, AnalysisError> {
        if self.arn.is_some() {
            return Err(AnalysisError::Usage(
                "--as-arn is not available yet: resolving an IAM ARN to a Kubernetes user through the aws-auth \
                 ConfigMap arrives with the EKS authenticator; use --as USER and --as-group GROUP for now"
                    .into(),
            ));
        }
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
