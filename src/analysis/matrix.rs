//! `rampart matrix`: what one identity (a user and groups, a service account, or an IAM ARN
//! resolved as EKS would) may do, as rakkess's table of resources × verbs in a namespace, each
//! cell decided as the API server decides (system:masters, EKS access policies, RBAC), with
//! `--explain` naming the binding or policy behind every allowed cell.

use std::process::ExitCode;

use access_analysis::matrix::{self, Cell, Resource};
use clap::Args;
use rbac::UserInfo;

use super::manifests::{self, PolicyArgs};
use super::{AnalysisError, IdentityArgs, eks, resources, table};

#[derive(Args, Debug)]
pub struct MatrixArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    identity: IdentityArgs,
    /// A service account to ask as, NAMESPACE:NAME (the same as --as system:serviceaccount:NAMESPACE:NAME).
    #[arg(long = "sa", value_name = "NAMESPACE:NAME", conflicts_with_all = ["user", "arn"])]
    service_account: Option<String>,
    /// The namespace of the namespaced resources' cells.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// The verbs (columns), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "list,create,update,delete")]
    verbs: Vec<String>,
    /// After the table, what allowed each allowed cell.
    #[arg(long)]
    explain: bool,
    /// Output format: text or json.
    #[arg(short = 'o', long = "output", default_value = "text", value_parser = ["text", "json"])]
    output: String,
}

pub fn run(args: MatrixArgs) -> Result<ExitCode, AnalysisError> {
    let policy = manifests::load_into(&args.policy, &args.namespace)?;
    let (user, access_entries) = if let Some(sa) = &args.service_account {
        let Some((ns, name)) = sa.split_once(':') else {
            return Err(AnalysisError::Usage(format!("--sa {sa}: give NAMESPACE:NAME")));
        };
        (UserInfo::impersonated(&format!("{}{ns}:{name}", rbac::SERVICE_ACCOUNT_PREFIX), &[]), None)
    } else if args.identity.user.is_none() && args.identity.arn.is_none() && !args.identity.groups.is_empty() {
        // A group alone: what any member of it gets (and every authenticated user).
        (UserInfo::impersonated("", &args.identity.groups), None)
    } else {
        let asker = args.identity.asker(&policy.eks)?;
        match asker.user {
            Ok(user) => (user, asker.access_entries),
            Err(why) => {
                eprintln!("error: {why}");
                return Ok(ExitCode::from(1));
            }
        }
    };
    let authz = policy.authorizer();
    let decide = |verb: &str, r: &Resource, namespace: &str| {
        let attributes = r.attributes(&user, verb, namespace);
        if user.is_privileged() {
            return Cell { allowed: true, reason: "group system:masters (allowed everything before RBAC)".into() };
        }
        if let Some(reason) = eks::access_policy_decision(access_entries.as_ref(), &attributes) {
            return Cell { allowed: true, reason };
        }
        let decision = authz.authorize(&attributes);
        Cell { allowed: decision.is_allowed(), reason: decision.reason() }
    };
    let resources: Vec<Resource> = resources::table()
        .iter()
        .map(|r| Resource { group: r.group.clone(), resource: r.resource.clone(), namespaced: r.namespaced })
        .collect();
    let m = matrix::build(&resources, &args.verbs, &args.namespace, &decide);
    if args.output == "json" {
        println!("{}", serde_json::to_string_pretty(&m).expect("JSON values print"));
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", table::render(&m.rows_for_table()));
    if args.explain {
        println!();
        for line in m.explanations() {
            println!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
