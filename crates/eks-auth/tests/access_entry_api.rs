//! Runs `tests/data/access_entry_api.yaml`: the access-entry APIs' validation and results, step
//! by step, with EKS's exception names and messages.

use chrono::{TimeZone, Utc};
use eks_auth::{
    AccessEntries, AccessEntry, AccessScope, AccessScopeType, AuthenticationMode, CreateAccessEntry, EntryContext,
    Error, UpdateAccessEntry,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct Cases {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    mode: AuthenticationMode,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    #[serde(default)]
    create: Option<CreateAccessEntry>,
    #[serde(default)]
    exists: Option<bool>,
    #[serde(default)]
    update: Option<Update>,
    #[serde(default)]
    associate: Option<Associate>,
    #[serde(default)]
    disassociate: Option<Target>,
    #[serde(default)]
    delete: Option<Target>,
    #[serde(default)]
    describe: Option<Target>,
    #[serde(default)]
    list: Option<List>,
    #[serde(default)]
    bootstrap: Option<Bootstrap>,
    #[serde(default)]
    expect: Option<ExpectEntry>,
    #[serde(default)]
    expect_list: Option<Vec<String>>,
    #[serde(default)]
    expect_policies: Option<Vec<(String, String, Vec<String>)>>,
    #[serde(default)]
    error: Option<ExpectError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Update {
    principal_arn: String,
    #[serde(default)]
    kubernetes_groups: Option<Vec<String>>,
    #[serde(default)]
    username: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Associate {
    principal_arn: String,
    policy_arn: String,
    access_scope: AccessScope,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    principal_arn: String,
    #[serde(default)]
    policy_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct List {
    #[serde(default)]
    associated_policy_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bootstrap {
    creator_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExpectEntry {
    #[serde(default)]
    username: Option<String>,
    #[serde(rename = "type", default)]
    entry_type: Option<String>,
    #[serde(default)]
    kubernetes_groups: Option<Vec<String>>,
    #[serde(default)]
    access_entry_arn: Option<String>,
}

#[derive(Deserialize)]
struct ExpectError {
    code: String,
    message: String,
}

/// What a step returned.
enum Outcome {
    Entry(AccessEntry),
    List(Vec<String>),
    Done,
}

#[test]
fn access_entry_api_cases() {
    let cases: Cases = serde_saphyr::from_str(include_str!("data/access_entry_api.yaml")).expect("the data parses");
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
    let mut failures = Vec::new();
    let mut steps_run = 0;
    for case in cases.cases {
        let mut entries = AccessEntries::default();
        let mode = case.mode;
        for (number, step) in case.steps.into_iter().enumerate() {
            steps_run += 1;
            let suffix = format!("00000000-0000-0000-0000-{:012}", number + 1);
            let principal_id = format!("AROAEXAMPLE{:010}", number + 1);
            let context = EntryContext {
                cluster_name: "demo",
                region: "us-east-1",
                account_id: "111122223333",
                principal_id: (step.exists != Some(false)).then_some(principal_id.as_str()),
                unique_suffix: &suffix,
                now,
            };
            let entry_of =
                |entries: &AccessEntries, arn: &str| entries.describe(mode, arn).cloned().map(Outcome::Entry);
            let result: Result<Outcome, Error> = if let Some(request) = step.create {
                entries.create(mode, request, &context).cloned().map(Outcome::Entry)
            } else if let Some(update) = step.update {
                let request =
                    UpdateAccessEntry { kubernetes_groups: update.kubernetes_groups, username: update.username };
                entries.update(mode, &update.principal_arn, request, now).cloned().map(Outcome::Entry)
            } else if let Some(associate) = step.associate {
                entries
                    .associate_policy(
                        mode,
                        &associate.principal_arn,
                        &associate.policy_arn,
                        associate.access_scope,
                        now,
                    )
                    .map(|_| ())
                    .and_then(|()| entry_of(&entries, &associate.principal_arn))
            } else if let Some(target) = step.disassociate {
                entries
                    .disassociate_policy(mode, &target.principal_arn, target.policy_arn.as_deref().unwrap_or_default())
                    .and_then(|()| entry_of(&entries, &target.principal_arn))
            } else if let Some(target) = step.delete {
                entries.delete(mode, &target.principal_arn).map(|_| Outcome::Done)
            } else if let Some(target) = step.describe {
                entry_of(&entries, &target.principal_arn)
            } else if let Some(list) = step.list {
                entries
                    .list(mode, list.associated_policy_arn.as_deref())
                    .map(|arns| Outcome::List(arns.into_iter().map(String::from).collect()))
            } else if let Some(bootstrap) = step.bootstrap {
                entries.bootstrap_cluster_creator(mode, &bootstrap.creator_arn, &context).cloned().map(Outcome::Entry)
            } else {
                panic!("{}: step {number} does nothing", case.name);
            };
            let mut fail = |message: String| failures.push(format!("{} step {}: {message}", case.name, number + 1));
            match (result, &step.error) {
                (Err(error), Some(expected)) => {
                    if error.code() != Some(expected.code.as_str()) || error.to_string() != expected.message {
                        fail(format!(
                            "{:?} `{error}`, expected {} `{}`",
                            error.code(),
                            expected.code,
                            expected.message
                        ));
                    }
                }
                (Err(error), None) => fail(format!("unexpected {:?}: {error}", error.code())),
                (Ok(_), Some(expected)) => {
                    fail(format!("succeeded, expected {} `{}`", expected.code, expected.message))
                }
                (Ok(outcome), None) => match outcome {
                    Outcome::Entry(entry) => {
                        if let Some(expected) = &step.expect {
                            let wrong = expected.username.as_ref().is_some_and(|u| *u != entry.username)
                                || expected.entry_type.as_ref().is_some_and(|t| *t != entry.entry_type.as_str())
                                || expected.kubernetes_groups.as_ref().is_some_and(|g| *g != entry.kubernetes_groups)
                                || expected.access_entry_arn.as_ref().is_some_and(|a| *a != entry.access_entry_arn);
                            if wrong {
                                fail(format!("got {entry:#?}"));
                            }
                        }
                        if let Some(expected) = &step.expect_policies {
                            let actual: Vec<(String, String, Vec<String>)> = entry
                                .associated_access_policies
                                .iter()
                                .map(|p| {
                                    let scope = match p.access_scope.scope_type {
                                        AccessScopeType::Cluster => "cluster",
                                        AccessScopeType::Namespace => "namespace",
                                    };
                                    (p.policy_arn.clone(), scope.to_string(), p.access_scope.namespaces.clone())
                                })
                                .collect();
                            if actual != *expected {
                                fail(format!("policies {actual:?}, expected {expected:?}"));
                            }
                        }
                    }
                    Outcome::List(arns) => {
                        if step.expect_list.as_ref().is_some_and(|expected| *expected != arns) {
                            fail(format!("listed {arns:?}, expected {:?}", step.expect_list));
                        }
                    }
                    Outcome::Done => {}
                },
            }
        }
    }
    assert!(steps_run > 30, "only {steps_run} steps ran");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
