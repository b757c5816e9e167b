//! `rampart who-can`: every subject that may perform an action, with the binding and role that
//! grant it, offline over manifests (the shape of the kubectl-who-can plugin's tables, with the
//! role added).

use std::process::ExitCode;

use clap::Args;
use rbac::{Grant, SERVICE_ACCOUNT_KIND, Scope};

use super::manifests::{self, PolicyArgs};
use super::{AnalysisError, question, table};

#[derive(Args, Debug)]
pub struct WhoCanArgs {
    /// The verb (get, list, create, ...).
    verb: String,
    /// TYPE[.GROUP][/NAME], or a /non-resource-url.
    target: String,
    /// The resource name (instead of TYPE/NAME).
    name: Option<String>,
    #[command(flatten)]
    policy: PolicyArgs,
    /// The namespace to ask about.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Ask about every namespace: RoleBindings of all namespaces count, each in its own.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// The subresource (log, exec, scale, status, ...).
    #[arg(long)]
    subresource: Option<String>,
}

pub fn run(args: WhoCanArgs) -> Result<ExitCode, AnalysisError> {
    let namespace = if args.all_namespaces { "" } else { args.namespace.as_str() };
    let mut q = question(&args.verb, &args.target, args.name.as_deref(), args.subresource.as_deref(), namespace)?;
    // `kubectl get nodes` carries no namespace: a cluster-scoped resource is asked at the cluster scope.
    if let (Some(r), true) = (q.attributes.resource.as_mut(), q.cluster_scoped) {
        r.namespace.clear();
    }
    for warning in q.warnings.iter().filter(|w| !w.contains("is not namespace scoped")) {
        eprintln!("Warning: {warning}");
    }
    let authz = manifests::load(&args.policy)?.authorizer();
    let scope = if args.all_namespaces { Scope::AllNamespaces } else { Scope::RequestNamespace };
    let grants = authz.who_can(&q.attributes, scope);
    let action = match &q.attributes.resource {
        Some(r) if r.subresource.is_empty() => format!("{} {}", args.verb, r.resource),
        Some(r) => format!("{} {}/{}", args.verb, r.resource, r.subresource),
        None => format!("{} {}", args.verb, q.attributes.path),
    };
    let (cluster, namespaced): (Vec<&Grant>, Vec<&Grant>) =
        grants.iter().partition(|g| g.binding.is_cluster_role_binding());
    let mut out = String::new();
    if q.attributes.resource.is_some() && !q.cluster_scoped {
        if namespaced.is_empty() {
            out.push_str(&format!("No subjects found with permissions to {action} assigned through RoleBindings\n"));
        } else {
            let mut rows = vec![
                ["ROLEBINDING", "NAMESPACE", "ROLE", "SUBJECT", "TYPE", "SA-NAMESPACE"].map(String::from).to_vec(),
            ];
            for g in namespaced {
                let b = &g.binding;
                rows.push(vec![
                    b.name.clone(),
                    b.namespace.clone(),
                    role(g),
                    g.subject.name.clone(),
                    g.subject.kind.clone(),
                    sa_namespace(g),
                ]);
            }
            out.push_str(&table::render(&rows));
        }
        out.push('\n');
    }
    if cluster.is_empty() {
        out.push_str(&format!("No subjects found with permissions to {action} assigned through ClusterRoleBindings\n"));
    } else {
        let mut rows =
            vec![["CLUSTERROLEBINDING", "ROLE", "SUBJECT", "TYPE", "SA-NAMESPACE"].map(String::from).to_vec()];
        for g in cluster {
            rows.push(vec![
                g.binding.name.clone(),
                role(g),
                g.subject.name.clone(),
                g.subject.kind.clone(),
                sa_namespace(g),
            ]);
        }
        out.push_str(&table::render(&rows));
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn role(g: &Grant) -> String {
    format!("{}/{}", g.binding.role_ref.kind, g.binding.role_ref.name)
}

fn sa_namespace(g: &Grant) -> String {
    if g.subject.kind != SERVICE_ACCOUNT_KIND {
        return String::new();
    }
    if g.subject.namespace.is_empty() { g.binding.namespace.clone() } else { g.subject.namespace.clone() }
}
