//! Runs the evaluation corpus `tests/data/evaluation.yaml`: each case's decision must be the
//! expected one, and every denial renders AWS's message.

use std::collections::BTreeMap;

use iam::condition::ContextKeys;
use iam::eval::{AuthzRequest, Denial, Policies, ResourcePolicy, authorize};
use iam::policy::{PolicyDocument, PolicyKind, PrincipalRef};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Corpus {
    policies: BTreeMap<String, Value>,
    trust: BTreeMap<String, Value>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    identity: Vec<String>,
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    trust: Option<String>,
    #[serde(default)]
    role_account: Option<String>,
    #[serde(default)]
    source_ip: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    now: Option<String>,
    #[serde(default)]
    temporary: bool,
    #[serde(default)]
    external_id: Option<String>,
    action: String,
    resource: String,
    expect: String,
}

fn denial_name(denial: Denial) -> &'static str {
    match denial {
        Denial::NoIdentityAllow => "NoIdentityAllow",
        Denial::IdentityDeny => "IdentityDeny",
        Denial::NoSessionAllow => "NoSessionAllow",
        Denial::SessionDeny => "SessionDeny",
        Denial::ResourceDeny => "ResourceDeny",
        Denial::NoResourceAllow => "NoResourceAllow",
    }
}

#[test]
fn every_case_decides_as_iam_does() {
    let corpus: Corpus = serde_saphyr::from_str(include_str!("data/evaluation.yaml")).expect("the corpus parses");
    let parse =
        |value: &Value, kind| PolicyDocument::parse(&value.to_string(), kind).expect("corpus policies are valid");
    let policies: BTreeMap<&str, PolicyDocument> =
        corpus.policies.iter().map(|(name, doc)| (name.as_str(), parse(doc, PolicyKind::Identity))).collect();
    let trusts: BTreeMap<&str, PolicyDocument> =
        corpus.trust.iter().map(|(name, doc)| (name.as_str(), parse(doc, PolicyKind::Trust))).collect();
    assert!(corpus.cases.len() >= 35);
    let mut failures = Vec::new();
    for case in &corpus.cases {
        let mut context = ContextKeys::new();
        context.set("aws:username", "alice");
        context.set("aws:PrincipalArn", "arn:aws:iam::111111111111:user/alice");
        context.set("aws:SourceIp", case.source_ip.clone().unwrap_or_else(|| "203.0.113.7".into()));
        context.set("aws:RequestedRegion", case.region.clone().unwrap_or_else(|| "us-east-1".into()));
        context.set("aws:CurrentTime", case.now.clone().unwrap_or_else(|| "2026-11-28T09:00:00Z".into()));
        for (key, value) in case.tags.clone().unwrap_or_else(|| BTreeMap::from([("team".into(), "blue".into())])) {
            context.set(&format!("aws:PrincipalTag/{key}"), value);
        }
        if case.temporary {
            context.set("aws:MultiFactorAuthPresent", "false");
        }
        if let Some(external_id) = &case.external_id {
            context.set("sts:ExternalId", external_id.clone());
        }
        let set = Policies {
            identity: Some(case.identity.iter().map(|name| &policies[name.as_str()]).collect()),
            session: case.session.as_deref().map(|name| &policies[name]),
            resource: case.trust.as_deref().map(|name| ResourcePolicy {
                document: &trusts[name],
                account: case.role_account.as_deref().expect("a trust case names the role's account"),
            }),
        };
        let caller =
            PrincipalRef { arn: "arn:aws:iam::111111111111:user/alice", account: "111111111111", role_arn: None };
        let request = AuthzRequest { action: &case.action, resource: &case.resource, context: &context };
        let decision = authorize(&caller, &set, &request);
        let got = match decision {
            Ok(()) => "Allow",
            Err(denial) => {
                let message = denial.message(caller.arn, &case.action, &case.resource);
                assert!(
                    message.starts_with(&format!("User: {} is not authorized to perform: {}", caller.arn, case.action))
                );
                denial_name(denial)
            }
        };
        if got != case.expect {
            failures.push(format!("{}: expected {}, got {got}", case.name, case.expect));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
