//! `rampart lint`: the access-hygiene findings of manifests (`-f`) or a live cluster
//! (`--kubeconfig`), from the `access-analysis` crate's rules, located at file and line, printed
//! as text, JSON or SARIF 2.1.0 (for code scanning). Exit 1 when a finding at or above
//! `--fail-on` exists, 0 otherwise, 2 on bad input.

use std::process::ExitCode;

use access_analysis::lint::{self, Configuration, Finding, RULES, Severity};
use clap::Args;
use serde_json::{Value, json};

use super::manifests::{self, PolicyArgs};
use super::{AnalysisError, EksArgs, locate};

#[derive(Args, Debug)]
pub struct LintArgs {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Output format: text, json or sarif.
    #[arg(short = 'o', long = "output", default_value = "text", value_parser = ["text", "json", "sarif"])]
    output: String,
    /// Exit 1 when a finding at or above this severity exists: error, warning, note, or none.
    #[arg(long, default_value = "warning", value_parser = ["error", "warning", "note", "none"])]
    fail_on: String,
    /// The cluster's authentication mode (CONFIG_MAP, API_AND_CONFIG_MAP, API), by default as
    /// `rampart auth can-i --as-arn` decides it.
    #[arg(long, value_name = "MODE")]
    authentication_mode: Option<String>,
}

/// A finding and where it is.
struct Located {
    finding: Finding,
    file: Option<String>,
    line: Option<usize>,
}

pub fn run(args: LintArgs) -> Result<ExitCode, AnalysisError> {
    if args.policy.filenames.is_empty() && args.policy.kubeconfig.is_none() {
        return Err(AnalysisError::Usage("give manifests with -f FILE|DIR, or a cluster with --kubeconfig".into()));
    }
    let policy = manifests::load(&args.policy)?;
    let mode = EksArgs { access_key_id: None, authentication_mode: args.authentication_mode.clone() }.mode()?;
    let (aws_auth, _) = policy.eks.aws_auth();
    let entries = policy.eks.access_entries();
    // Of two objects with one name, the later is what `kubectl apply` leaves (and where the
    // location points).
    let roles = last_of(&policy.roles, |r| &r.metadata);
    let cluster_roles = last_of(&policy.cluster_roles, |r| &r.metadata);
    let role_bindings = last_of(&policy.role_bindings, |b| &b.metadata);
    let cluster_role_bindings = last_of(&policy.cluster_role_bindings, |b| &b.metadata);
    let config = Configuration {
        roles: &roles,
        cluster_roles: &cluster_roles,
        role_bindings: &role_bindings,
        cluster_role_bindings: &cluster_role_bindings,
        aws_auth: aws_auth.as_ref(),
        access_entries: entries.entries(),
        mode: policy.eks.mode(mode),
    };
    let mut findings: Vec<Located> = lint::lint(&config)
        .into_iter()
        .map(|finding| {
            let key = (finding.object.kind, finding.object.namespace.clone(), finding.object.name.clone());
            let location = policy.locations.get(&key);
            let line =
                location.filter(|l| l.file != "cluster").map(|l| locate::line(l, &finding.object, &finding.place));
            Located { file: location.map(|l| l.file.clone()), line, finding }
        })
        .collect();
    findings.sort_by(|a, b| {
        (&a.file, a.line, a.finding.rule.id, &a.finding.object).cmp(&(
            &b.file,
            b.line,
            b.finding.rule.id,
            &b.finding.object,
        ))
    });
    match args.output.as_str() {
        "json" => println!("{}", serde_json::to_string_pretty(&json_report(&findings)).expect("JSON values print")),
        "sarif" => println!("{}", serde_json::to_string_pretty(&sarif(&findings)).expect("JSON values print")),
        _ => print!("{}", text(&findings)),
    }
    let threshold: Option<Severity> = args.fail_on.parse().ok();
    let failed = threshold.is_some_and(|t| findings.iter().any(|f| f.finding.severity >= t));
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The objects with the later of each (namespace, name) kept, in their order.
fn last_of<T: Clone>(objects: &[T], meta: impl Fn(&T) -> &rbac::ObjectMeta) -> Vec<T> {
    let mut seen = std::collections::HashSet::new();
    let mut kept: Vec<T> = objects
        .iter()
        .rev()
        .filter(|o| seen.insert((meta(o).namespace.clone(), meta(o).name.clone())))
        .cloned()
        .collect();
    kept.reverse();
    kept
}

fn position(f: &Located) -> String {
    match (&f.file, f.line) {
        (Some(file), Some(line)) => format!("{file}:{line}"),
        (Some(file), None) => file.clone(),
        (None, _) => "bootstrap".into(),
    }
}

fn text(findings: &[Located]) -> String {
    let mut out = String::new();
    for f in findings {
        let finding = &f.finding;
        out.push_str(&format!(
            "{}: {} {} {}: {}: {}\n  why: {}\n  fix: {}\n",
            position(f),
            finding.severity.as_str(),
            finding.rule.id,
            finding.rule.name,
            finding.object,
            finding.message,
            finding.rule.why,
            finding.rule.fix,
        ));
    }
    let counts = lint::counts(&findings.iter().map(|f| f.finding.clone()).collect::<Vec<_>>());
    let count = |s: Severity| counts.get(&s).copied().unwrap_or(0);
    out.push_str(&format!(
        "{} finding(s): {} error(s), {} warning(s), {} note(s)\n",
        findings.len(),
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Note)
    ));
    out
}

fn json_report(findings: &[Located]) -> Value {
    let items: Vec<Value> = findings
        .iter()
        .map(|f| {
            let finding = &f.finding;
            json!({
                "rule": finding.rule.id,
                "name": finding.rule.name,
                "severity": finding.severity,
                "object": finding.object,
                "place": finding.place,
                "file": f.file,
                "line": f.line,
                "message": finding.message,
                "why": finding.rule.why,
                "fix": finding.rule.fix,
                "reference": finding.rule.reference,
            })
        })
        .collect();
    json!({"findings": items})
}

/// SARIF 2.1.0: every rule in the driver, one result per finding located at file and line.
fn sarif(findings: &[Located]) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": r.why},
                "help": {"text": r.fix},
                "helpUri": r.reference,
                "defaultConfiguration": {"level": r.severity.as_str()},
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let finding = &f.finding;
            let index = RULES.iter().position(|r| r.id == finding.rule.id).expect("a rule of the table");
            let mut location = json!({
                "logicalLocations": [{"fullyQualifiedName": finding.object.to_string(), "kind": "object"}],
            });
            if let Some(file) = f.file.as_ref().filter(|file| file.as_str() != "cluster") {
                let mut physical = json!({"artifactLocation": {"uri": file}});
                if let Some(line) = f.line {
                    physical["region"] = json!({"startLine": line});
                }
                location["physicalLocation"] = physical;
            }
            json!({
                "ruleId": finding.rule.id,
                "ruleIndex": index,
                "level": finding.severity.as_str(),
                "message": {"text": format!("{}: {}. Fix: {}", finding.object, finding.message, finding.rule.fix)},
                "locations": [location],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "rampart",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}
