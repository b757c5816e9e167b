//! `rampart audit2rbac --user NAME|--as-arn ARN --audit-log FILE`: the least-privilege Roles,
//! ClusterRole and bindings that allow every request the audit log shows for the identity, as
//! YAML ready for `kubectl apply -f -`.

use std::process::ExitCode;

use access_analysis::audit2rbac::{self, Identity};
use clap::Args;

use super::AnalysisError;

#[derive(Args, Debug)]
pub struct Audit2RbacArgs {
    /// The Kubernetes user whose requests to allow (the impersonated user of impersonated requests).
    #[arg(long, value_name = "NAME", required_unless_present = "arn", conflicts_with = "arn")]
    user: Option<String>,
    /// The IAM ARN whose requests to allow (matched against the authenticator's arn and canonicalArn).
    #[arg(long = "as-arn", value_name = "ARN")]
    arn: Option<String>,
    /// The API server's audit log (JSON lines).
    #[arg(long, value_name = "FILE")]
    audit_log: String,
    /// The name of the objects generated (default audit2rbac:<user>).
    #[arg(long)]
    name: Option<String>,
}

pub fn run(args: Audit2RbacArgs) -> Result<ExitCode, AnalysisError> {
    let log = std::fs::read_to_string(&args.audit_log)
        .map_err(|e| AnalysisError::Usage(format!("cannot read {}: {e}", args.audit_log)))?;
    let identity = match (&args.user, &args.arn) {
        (Some(user), _) => Identity::User(user.clone()),
        (None, Some(arn)) => Identity::Arn(arn.clone()),
        (None, None) => unreachable!("clap requires one"),
    };
    let found = audit2rbac::requests(&log, &identity).map_err(|e| AnalysisError::Usage(e.to_string()))?;
    if found.requests.is_empty() {
        let who = args.user.as_deref().or(args.arn.as_deref()).unwrap_or_default();
        eprintln!("error: the audit log holds no request of {who}");
        return Ok(ExitCode::from(1));
    }
    let subjects: Vec<rbac::Subject> = found.usernames.iter().map(|u| rbac::Subject::user(u)).collect();
    let name =
        args.name.clone().unwrap_or_else(|| format!("audit2rbac:{}", found.usernames.iter().next().expect("a user")));
    let mut out = String::new();
    for object in audit2rbac::least_privilege(&found, &name, &subjects) {
        out.push_str("---\n");
        out.push_str(
            &serde_saphyr::to_string(&object).map_err(|e| AnalysisError::Usage(format!("cannot print YAML: {e}")))?,
        );
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}
