//! `rampart who-can`: every subject that may perform an action, with the binding and role that
//! grant it, offline over manifests (the shape of the kubectl-who-can plugin's tables, with the
//! role added); then, when the manifests hold the cluster's aws-auth ConfigMap or access
//! entries, the IAM principals that get the permission and how (mapping, then binding or EKS
//! access policy).

use crate::output::{errln, out};
use std::process::ExitCode;

use clap::Args;
use rbac::{Grant, SERVICE_ACCOUNT_KIND, Scope};

use super::manifests::{self, PolicyArgs};
use super::{AnalysisError, EksArgs, eks, question, table};

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
    /// The cluster's authentication mode for the IAM principals' table: CONFIG_MAP,
    /// API_AND_CONFIG_MAP or API (by default as `rampart auth can-i --as-arn` decides it).
    #[arg(long, value_name = "MODE")]
    authentication_mode: Option<String>,
}

pub fn run(args: WhoCanArgs) -> Result<ExitCode, AnalysisError> {
    let namespace = if args.all_namespaces { "" } else { args.namespace.as_str() };
    let mut q = question(&args.verb, &args.target, args.name.as_deref(), args.subresource.as_deref(), namespace)?;
    // `kubectl get nodes` carries no namespace: a cluster-scoped resource is asked at the cluster scope.
    if let (Some(r), true) = (q.attributes.resource.as_mut(), q.cluster_scoped) {
        r.namespace.clear();
    }
    for warning in q.warnings.iter().filter(|w| !w.contains("is not namespace scoped")) {
        errln!("Warning: {warning}");
    }
    let policy = manifests::load_into(&args.policy, &args.namespace)?;
    let mode = EksArgs { access_key_id: None, authentication_mode: args.authentication_mode.clone() }.mode()?;
    let authz = policy.authorizer();
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
    if !policy.eks.is_empty() {
        out.push('\n');
        out.push_str(&iam_principals(&policy.eks, mode, &grants, &q.attributes, &action));
    }
    out!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// The IAM principals the aws-auth ConfigMap and the access entries map, that one of `grants`
/// (or `system:masters`, or an EKS access policy) gives the permission.
fn iam_principals(
    manifests: &eks::EksManifests,
    mode: Option<eks_auth::AuthenticationMode>,
    grants: &[Grant],
    attributes: &rbac::Attributes,
    action: &str,
) -> String {
    let mut rows = vec![["IAM PRINCIPAL", "KUBERNETES USER", "MAPPED BY", "GRANTED BY"].map(String::from).to_vec()];
    for principal in eks::principals(manifests, mode) {
        let mut granted = Vec::new();
        if principal.groups.iter().any(|g| g == rbac::SYSTEM_MASTERS) {
            granted.push("Group system:masters (allowed everything before RBAC)".to_string());
        }
        if let Some(entry) = &principal.entry {
            granted.extend(
                eks::allowing_policies(entry, attributes).into_iter().map(|p| format!("EKS access policy {p}")),
            );
        }
        for g in grants {
            let by_group = g.subject.kind == rbac::GROUP_KIND && principal.groups.contains(&g.subject.name);
            let by_user = g.subject.kind == rbac::USER_KIND && principal.username == g.subject.name;
            if by_group || by_user {
                let binding = if g.binding.is_cluster_role_binding() {
                    format!("ClusterRoleBinding/{}", g.binding.name)
                } else {
                    format!("RoleBinding/{} in {}", g.binding.name, g.binding.namespace)
                };
                granted.push(format!("{binding} ({} {})", g.subject.kind, g.subject.name));
            }
        }
        for grant in granted {
            rows.push(vec![principal.arn.clone(), principal.username.clone(), principal.source.clone(), grant]);
        }
    }
    if rows.len() == 1 {
        return format!("No IAM principals found with permissions to {action} through aws-auth or access entries\n");
    }
    table::render(&rows)
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
