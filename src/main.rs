//! `rampart`: EKS's whole access path in one binary.
//!
//! Each subcommand lives in its own module with its own clap `Args` and a `run` function; this
//! file only lists them.

mod analysis;
mod output;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Rampart: IAM, STS, EKS, the EKS authenticator and a Kubernetes API server with RBAC, in one
/// binary, for testing EKS access control without an AWS account.
#[derive(Parser)]
#[command(name = "rampart", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Serve(serve::ServeArgs),
    /// Inspect authorization offline: `rampart auth can-i ...` over RBAC manifests.
    Auth(analysis::AuthArgs),
    /// List the subjects that may perform an action, with the bindings and roles that grant it.
    WhoCan(analysis::WhoCanArgs),
    /// Find what is dangerous or dead in RBAC objects, the aws-auth ConfigMap and access entries.
    Lint(analysis::LintArgs),
    /// What one identity may do: resources × verbs in a namespace (rakkess's table).
    Matrix(analysis::MatrixArgs),
    /// The effective-permission change between two manifest sets or git revisions.
    Diff(analysis::DiffArgs),
    /// The least-privilege Roles and bindings that allow what an audit log shows an identity do.
    Audit2rbac(analysis::Audit2RbacArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Auth(args) => analysis::run_auth(args),
        Command::WhoCan(args) => analysis::run_who_can(args),
        Command::Lint(args) => analysis::run_lint(args),
        Command::Matrix(args) => analysis::run_matrix(args),
        Command::Diff(args) => analysis::run_diff(args),
        Command::Audit2rbac(args) => analysis::run_audit2rbac(args),
    }
}
