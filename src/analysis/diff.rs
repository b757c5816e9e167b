//! `rampart diff --base DIR|REF --head DIR|REF`: the effective-permission change between two
//! manifest sets — two directories, or two git revisions of a repository (`--repo`, the files
//! under `--path`) — per subject and per IAM principal (through aws-auth and access entries),
//! gained and lost, risky grants flagged; text, JSON or Markdown. Exit 1 when a new risky grant
//! appears (`--fail-on`), 0 otherwise, 2 on bad input.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, ExitCode};

use access_analysis::diff;
use access_analysis::permissions::{self, Permissions};
use clap::Args;

use super::manifests::{self, Policy};
use super::{AnalysisError, EksArgs, eks};

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The configuration before: a directory, or a git revision of --repo.
    #[arg(long, value_name = "DIR|REF")]
    base: String,
    /// The configuration after: a directory, or a git revision of --repo.
    #[arg(long, value_name = "DIR|REF")]
    head: String,
    /// The git repository revisions are read from.
    #[arg(long, value_name = "DIR", default_value = ".")]
    repo: String,
    /// With revisions: only the manifests under these paths of the repository. Repeatable.
    #[arg(long, value_name = "PATH")]
    path: Vec<String>,
    /// Read directories recursively (revisions always are).
    #[arg(short = 'R', long)]
    recursive: bool,
    /// Output format: text, json or markdown.
    #[arg(short = 'o', long = "output", default_value = "text", value_parser = ["text", "json", "markdown"])]
    output: String,
    /// Exit 1 on: a new risky grant (risky), any change (change), or never.
    #[arg(long, default_value = "risky", value_parser = ["risky", "change", "never"])]
    fail_on: String,
    /// The cluster's authentication mode for the IAM principals (by default as `auth can-i --as-arn`).
    #[arg(long, value_name = "MODE")]
    authentication_mode: Option<String>,
}

/// The (label, text) of every manifest of one side.
fn side(args: &DiffArgs, which: &str) -> Result<Vec<(String, String)>, AnalysisError> {
    if Path::new(which).is_dir() {
        return manifests::sources(which, args.recursive);
    }
    let git = |git_args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&args.repo)
            .args(git_args)
            .output()
            .map_err(|e| AnalysisError::Usage(format!("cannot run git: {e}")))?;
        if !out.status.success() {
            return Err(AnalysisError::Usage(format!(
                "{which:?} is neither a directory nor a git revision of {}: {}",
                args.repo,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        String::from_utf8(out.stdout).map_err(|e| AnalysisError::Usage(format!("git: {e}")))
    };
    let commit = git(&["rev-parse", "--verify", "--quiet", &format!("{which}^{{commit}}")])?;
    let commit = commit.trim();
    let mut ls = vec!["ls-tree", "-r", "--name-only", commit, "--"];
    ls.extend(args.path.iter().map(String::as_str));
    let mut out = Vec::new();
    for file in git(&ls)?.lines() {
        if [".yaml", ".yml", ".json"].iter().any(|ext| file.ends_with(ext)) {
            out.push((format!("{which}:{file}"), git(&["show", &format!("{commit}:{file}")])?));
        }
    }
    Ok(out)
}

/// Every subject's and IAM principal's permissions.
fn permissions_of(policy: &Policy, mode: Option<eks_auth::AuthenticationMode>) -> BTreeMap<String, Permissions> {
    let mut out = permissions::by_subject(&policy.authorizer());
    let mut principals = BTreeMap::new();
    for principal in eks::principals(&policy.eks, mode) {
        let p = permissions::of_principal(&principal.username, &principal.groups, principal.entry.as_ref(), &out);
        principals.insert(format!("IAM {}", principal.arn), p);
    }
    out.extend(principals);
    out
}

pub fn run(args: DiffArgs) -> Result<ExitCode, AnalysisError> {
    let mode = EksArgs { access_key_id: None, authentication_mode: args.authentication_mode.clone() }.mode()?;
    let base = manifests::from_sources(side(&args, &args.base)?, "default", true)?;
    let head = manifests::from_sources(side(&args, &args.head)?, "default", true)?;
    let changes = diff::diff(&permissions_of(&base, mode), &permissions_of(&head, mode));
    match args.output.as_str() {
        "json" => println!("{}", serde_json::to_string_pretty(&changes).expect("JSON values print")),
        "markdown" => print!("{}", diff::markdown(&changes)),
        _ => print!("{}", diff::text(&changes)),
    }
    let failed = match args.fail_on.as_str() {
        "risky" => diff::has_risky_grant(&changes),
        "change" => !changes.is_empty(),
        _ => false,
    };
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
