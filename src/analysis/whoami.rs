//! `rampart auth whoami --as-arn ARN -f FILE...`: the Kubernetes user EKS would give an IAM
//! caller, offline — printed as `kubectl auth whoami` prints it (table, or the
//! SelfSubjectReview as JSON or YAML), or the authenticator's error (exit 1). What EKS silently
//! drops of a malformed aws-auth ConfigMap is warned about on stderr, with the key and line; the
//! mapping that matched is named on stderr too.

use crate::output::{errln, out, outln};
use std::process::ExitCode;

use clap::Args;
use serde_json::{Map, Value, json};

use super::manifests::{self, PolicyArgs};
use super::{AnalysisError, EksArgs, eks, table};

#[derive(Args, Debug)]
pub struct WhoamiArgs {
    /// The IAM ARN of the caller (what `aws sts get-caller-identity` reports; an assumed-role ARN
    /// carries its session name).
    #[arg(long = "as-arn", value_name = "ARN")]
    arn: String,
    #[command(flatten)]
    eks: EksArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Output format: json or yaml (a SelfSubjectReview); a table by default.
    #[arg(short = 'o', long = "output", value_name = "FORMAT")]
    output: Option<String>,
}

pub fn run(args: WhoamiArgs) -> Result<ExitCode, AnalysisError> {
    if let Some(format) = args.output.as_deref().filter(|f| !matches!(*f, "json" | "yaml")) {
        return Err(AnalysisError::Usage(format!(
            "unable to match a printer suitable for the output format \"{format}\", allowed formats are: json,yaml"
        )));
    }
    let policy = manifests::load(&args.policy)?;
    let resolved = args.eks.resolve(&policy.eks, &args.arn)?;
    let user = match resolved.user {
        Ok(user) => user,
        Err(error) => {
            errln!("error: EKS would not authenticate {}: {error}", args.arn);
            return Ok(ExitCode::from(1));
        }
    };
    errln!("mapped by {}", eks::mapped_by(&user.mapped_by));
    let user = user.user;
    // Offline, what only a signed request tells (the principal's unique ID, an access key not
    // given) is unknown: it is left out rather than shown empty.
    let uid = if user.uid.ends_with(':') { String::new() } else { user.uid.clone() };
    let extra: Vec<(String, Vec<String>)> = user
        .extra
        .iter()
        .filter(|(_, values)| !values.iter().all(String::is_empty))
        .map(|(key, values)| (key.clone(), values.clone()))
        .collect();
    match args.output.as_deref() {
        None => {
            let list = |values: &[String]| format!("[{}]", values.join(" "));
            let mut rows = vec![vec!["ATTRIBUTE".to_string(), "VALUE".to_string()]];
            rows.push(vec!["Username".into(), user.name.clone()]);
            if !uid.is_empty() {
                rows.push(vec!["UID".into(), uid]);
            }
            if !user.groups.is_empty() {
                rows.push(vec!["Groups".into(), list(&user.groups)]);
            }
            for (key, values) in &extra {
                rows.push(vec![format!("Extra: {key}"), list(values)]);
            }
            out!("{}", table::render(&rows));
        }
        Some(format) => {
            let mut info = Map::new();
            if !extra.is_empty() {
                let extra: Map<String, Value> =
                    extra.iter().map(|(key, values)| (key.clone(), json!(values))).collect();
                info.insert("extra".into(), Value::Object(extra));
            }
            info.insert("groups".into(), json!(user.groups));
            if !uid.is_empty() {
                info.insert("uid".into(), uid.into());
            }
            info.insert("username".into(), user.name.into());
            let review = json!({
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "SelfSubjectReview",
                "metadata": {"creationTimestamp": null},
                "status": {"userInfo": info},
            });
            if format == "json" {
                let mut out = Vec::new();
                let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
                let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
                serde::Serialize::serialize(&review, &mut serializer).expect("JSON values serialize");
                outln!("{}", String::from_utf8_lossy(&out));
            } else {
                let yaml = serde_saphyr::to_string(&review)
                    .map_err(|e| AnalysisError::Usage(format!("cannot print YAML: {e}")))?;
                out!("{yaml}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
