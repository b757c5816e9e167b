//! `rampart auth can-i`: kubectl's `auth can-i`, answered offline over manifests. Prints `yes`
//! (exit 0) or `no` (exit 1, with ` - <reason>` when RBAC has one), the `--list` table exactly as
//! kubectl prints it, and with `--explain` the binding → role → rule behind the answer.

use crate::output::{errln, out, outln};
use std::process::ExitCode;

use clap::Args;
use rbac::{Decision, ExplanationDisplay, PolicyRule, rule};

use super::manifests::{self, PolicyArgs};
use super::{AnalysisError, IdentityArgs, eks, question, table};

#[derive(Args, Debug)]
pub struct CanIArgs {
    /// VERB TYPE[/NAME] [NAME], or VERB /NON-RESOURCE-URL.
    #[arg(value_name = "VERB TYPE")]
    args: Vec<String>,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    identity: IdentityArgs,
    /// The namespace to ask about.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Ask about all namespaces (the cluster scope).
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// The subresource (log, exec, scale, status, ...).
    #[arg(long)]
    subresource: Option<String>,
    /// List every action the user may perform in the namespace.
    #[arg(long)]
    list: bool,
    /// With --list: leave out the header.
    #[arg(long)]
    no_headers: bool,
    /// Print nothing; answer with the exit code only.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// After the answer, print the binding, role and rule behind it, or why nothing allowed it.
    #[arg(long)]
    explain: bool,
}

pub fn run(args: CanIArgs) -> Result<ExitCode, AnalysisError> {
    let usage = |m: &str| Err(AnalysisError::Usage(m.into()));
    let policy = manifests::load_into(&args.policy, &args.namespace)?;
    let asker = args.identity.asker(&policy.eks)?;
    let user = match asker.user {
        Ok(user) => user,
        Err(why) => {
            if !args.quiet {
                outln!("no - {why}");
            }
            return Ok(ExitCode::from(1));
        }
    };
    if args.list {
        if !args.args.is_empty() {
            return usage("list option cannot be specified with arguments");
        }
        if args.quiet || args.all_namespaces || args.subresource.is_some() {
            return usage("--list option must not be specified with --quiet, --all-namespaces or --subresource");
        }
        // As on EKS, access policies are not listed (kube-apiserver asks the webhook no rules).
        let authz = policy.authorizer();
        let status = authz.rules_review(&user, &args.namespace);
        if status.incomplete {
            errln!("warning: the list may be incomplete: {}", status.evaluation_error);
        }
        out!("{}", list_table(&status.policy_rules(), !args.no_headers));
        return Ok(ExitCode::SUCCESS);
    }
    if args.no_headers {
        return usage("--no-headers cannot be set without --list specified");
    }
    let (verb, target, name) = match &args.args[..] {
        [verb, target] => (verb, target, None),
        [verb, target, name] => (verb, target, Some(name.as_str())),
        _ => {
            return usage(
                "you must specify two arguments: verb resource or verb resource/resourceName.\nSee 'rampart auth can-i -h' for help and examples.",
            );
        }
    };
    let namespace = if args.all_namespaces { "" } else { args.namespace.as_str() };
    let q = question(verb, target, name, args.subresource.as_deref(), namespace)?;
    for warning in &q.warnings {
        errln!("Warning: {warning}");
    }
    let mut attrs = q.attributes;
    attrs.user = user;
    let authz = policy.authorizer();
    // system:masters is the API server's first authorizer, then EKS's access policies, then RBAC.
    let privileged = attrs.user.is_privileged();
    let access_policy =
        if privileged { None } else { eks::access_policy_decision(asker.access_entries.as_ref(), &attrs) };
    let decision = if privileged || access_policy.is_some() { None } else { Some(authz.authorize(&attrs)) };
    let allowed = decision.as_ref().is_none_or(Decision::is_allowed);
    if !args.quiet {
        match &decision {
            Some(d) if !allowed && !d.reason().is_empty() => outln!("no - {}", d.reason()),
            _ => outln!("{}", if allowed { "yes" } else { "no" }),
        }
        if args.explain {
            if privileged {
                outln!(
                    "allowed: the user is in group system:masters, which the API server allows everything before RBAC"
                );
            } else if let Some(reason) = &access_policy {
                outln!("allowed: {reason}");
            } else {
                out!("{}", ExplanationDisplay { attrs: &attrs, explanation: &authz.explain(&attrs) });
            }
        }
    }
    Ok(if allowed { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// kubectl's `auth can-i --list` table: rules broken down, merged by verb, sorted by their Go
/// string, printed with kubectl's tabwriter.
fn list_table(rules: &[PolicyRule], headers: bool) -> String {
    let atoms: Vec<PolicyRule> = rules.iter().flat_map(rule::breakdown).collect();
    let mut compacted = rule::compact(&atoms, true);
    compacted.sort_by_cached_key(rule::go_string);
    let list = |v: &[String]| format!("[{}]", v.join(" "));
    let mut rows: Vec<Vec<String>> = Vec::new();
    if headers {
        rows.push(["Resources", "Non-Resource URLs", "Resource Names", "Verbs"].map(String::from).to_vec());
    }
    for r in &compacted {
        rows.push(vec![combine_resource_group(r), list(&r.non_resource_urls), list(&r.resource_names), list(&r.verbs)]);
    }
    table::render(&rows)
}

/// kubectl's `CombineResourceGroup`: `deployments.apps/scale`, `pods` for the core group.
fn combine_resource_group(rule: &PolicyRule) -> String {
    let Some(resource) = rule.resources.first() else { return String::new() };
    let (base, sub) = match resource.split_once('/') {
        Some((b, s)) => (b, Some(s)),
        None => (resource.as_str(), None),
    };
    let mut combined = base.to_string();
    if let Some(group) = rule.api_groups.first().filter(|g| !g.is_empty()) {
        combined = format!("{combined}.{group}");
    }
    if let Some(sub) = sub {
        combined = format!("{combined}/{sub}");
    }
    combined
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rules of the recorded `kubectl auth can-i --list` session, printed as kubectl did.
    #[test]
    fn list_matches_recorded_kubectl_output() {
        let rules = vec![
            PolicyRule::resource(
                &["create"],
                &["authorization.k8s.io"],
                &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
            ),
            PolicyRule::resource(&["get", "list", "watch"], &[""], &["pods", "pods/log", "configmaps"]),
            PolicyRule::resource(&["get"], &[""], &["configmaps"]).with_names(&["aws-auth"]),
            PolicyRule::resource(&["*"], &["rbac.authorization.k8s.io"], &["roles", "rolebindings"]),
            PolicyRule::non_resource(&["get"], &["/api", "/api/*", "/apis", "/apis/*", "/version", "/openapi/*"]),
        ];
        let expected = "\
Resources                                       Non-Resource URLs   Resource Names   Verbs
rolebindings.rbac.authorization.k8s.io          []                  []               [*]
roles.rbac.authorization.k8s.io                 []                  []               [*]
selfsubjectaccessreviews.authorization.k8s.io   []                  []               [create]
selfsubjectrulesreviews.authorization.k8s.io    []                  []               [create]
configmaps                                      []                  []               [get list watch]
pods/log                                        []                  []               [get list watch]
pods                                            []                  []               [get list watch]
                                                [/api/*]            []               [get]
                                                [/api]              []               [get]
                                                [/apis/*]           []               [get]
                                                [/apis]             []               [get]
                                                [/openapi/*]        []               [get]
                                                [/version]          []               [get]
configmaps                                      []                  [aws-auth]       [get]
";
        assert_eq!(list_table(&rules, true), expected);
    }

    #[test]
    fn resource_group_forms() {
        assert_eq!(
            combine_resource_group(&PolicyRule::resource(&["get"], &["apps"], &["deployments/scale"])),
            "deployments.apps/scale"
        );
        assert_eq!(combine_resource_group(&PolicyRule::resource(&["get"], &[""], &["pods/log"])), "pods/log");
    }
}
