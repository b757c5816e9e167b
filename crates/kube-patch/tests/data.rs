//! Runs the case files under `tests/data/`: each file names a kind and lists cases, each either
//! one patch applied to a live object (`live`, `type`, `patch`, then `expect` or `error`) or a
//! sequence of `steps` (`update`, `apply`, `applyText` for a raw apply body, or a patch with a
//! `type`) against a live object that a failed step must leave untouched.

use std::path::Path;

use chrono::{DateTime, Utc};
use kube_patch::{FieldManager, PatchError, PatchType, Schema, apply_patch, decode_apply_patch};
use serde_json::Value;

const DEFAULT_TIME: &str = "2026-11-28T09:12:25Z";

fn schema_of(kind: &Value) -> &'static Schema {
    let text = |k: &str| kind.get(k).and_then(Value::as_str).unwrap_or("");
    Schema::builtin(text("group"), text("version"), text("kind"))
        .unwrap_or_else(|| panic!("no built-in schema for {kind}"))
}

fn api_version(kind: &Value) -> String {
    let group = kind.get("group").and_then(Value::as_str).unwrap_or("");
    let version = kind["version"].as_str().unwrap();
    if group.is_empty() { version.to_string() } else { format!("{group}/{version}") }
}

fn patch_type(name: &str) -> PatchType {
    match name {
        "json" => PatchType::Json,
        "merge" => PatchType::Merge,
        "strategic" => PatchType::StrategicMerge,
        other => panic!("unknown patch type {other}"),
    }
}

fn patch_body(case: &Value) -> Vec<u8> {
    match (case.get("patchText"), case.get("patch")) {
        (Some(Value::String(text)), _) => text.as_bytes().to_vec(),
        (_, Some(patch)) => serde_json::to_vec(patch).unwrap(),
        _ => panic!("case without patch or patchText: {case}"),
    }
}

fn check_error(context: &str, err: &PatchError, expected: &Value) {
    if let Some(code) = expected.get("code").and_then(Value::as_u64) {
        assert_eq!(u64::from(err.code()), code, "{context}: status code of {err:?}");
    }
    if let Some(message) = expected.get("message").and_then(Value::as_str) {
        assert_eq!(err.status_message(), message, "{context}: status message");
    }
    if let Some(causes) = expected.get("causes").and_then(Value::as_array) {
        let got: Vec<(String, String)> = err.causes().into_iter().map(|c| (c.message, c.field)).collect();
        let want: Vec<(String, String)> = causes
            .iter()
            .map(|c| (c["message"].as_str().unwrap().to_string(), c["field"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(got, want, "{context}: causes");
    }
}

fn check_result(context: &str, result: Result<Value, PatchError>, step: &Value) -> Option<Value> {
    match (result, step.get("expect"), step.get("error")) {
        (Ok(got), Some(want), None) => {
            assert_eq!(&got, want, "{context}: result\n got: {got}\nwant: {want}");
            Some(got)
        }
        (Err(err), None, Some(want)) => {
            check_error(context, &err, want);
            None
        }
        (Ok(got), None, Some(_)) => panic!("{context}: expected an error, got {got}"),
        (Err(err), Some(_), None) => panic!("{context}: unexpected error {err:?}"),
        (Ok(got), None, None) => Some(got),
        (Err(err), None, None) => panic!("{context}: unexpected error {err:?}"),
        _ => panic!("{context}: a step has expect or error, not both"),
    }
}

fn time(step: &Value) -> DateTime<Utc> {
    step.get("time").and_then(Value::as_str).unwrap_or(DEFAULT_TIME).parse().expect("RFC 3339 time")
}

fn run_steps(context: &str, kind: &Value, case: &Value) {
    let schema = schema_of(case.get("kind").unwrap_or(kind));
    let api_version = api_version(case.get("kind").unwrap_or(kind));
    let kind_name = case.get("kind").unwrap_or(kind)["kind"].as_str().unwrap();
    let mut live: Option<Value> = case.get("live").cloned();
    for (i, step) in case["steps"].as_array().expect("steps").iter().enumerate() {
        let context = format!("{context}, step {}", i + 1);
        let mut fm = FieldManager::new(schema, &api_version, kind_name);
        if let Some(sub) = step.get("subresource").and_then(Value::as_str) {
            fm = fm.subresource(sub);
        }
        if let Some(reset) = step.get("resetFields").and_then(Value::as_array) {
            let paths: Vec<Vec<&str>> =
                reset.iter().map(|p| p.as_str().unwrap().split('.').filter(|s| !s.is_empty()).collect()).collect();
            let refs: Vec<&[&str]> = paths.iter().map(Vec::as_slice).collect();
            fm = fm.reset_fields(&refs);
        }
        let manager = step.get("manager").and_then(Value::as_str).unwrap_or("test-manager");
        let before = live.clone();
        let result = if let Some(object) = step.get("update") {
            Ok(fm.update(live.as_ref(), object.clone(), manager, time(step)))
        } else if let Some(object) = step.get("apply") {
            let force = step.get("force").and_then(Value::as_bool).unwrap_or(false);
            fm.apply(live.as_ref(), object, manager, force, time(step))
        } else if let Some(Value::String(body)) = step.get("applyText") {
            let force = step.get("force").and_then(Value::as_bool).unwrap_or(false);
            decode_apply_patch(body.as_bytes())
                .and_then(|config| fm.apply(live.as_ref(), &config, manager, force, time(step)))
        } else if let Some(t) = step.get("type").and_then(Value::as_str) {
            let current = live.clone().expect("a patch step needs a live object");
            apply_patch(&current, &patch_body(step), patch_type(t), schema)
                .map(|patched| fm.update(Some(&current), patched, manager, time(step)))
        } else {
            panic!("{context}: a step is update, apply, applyText or a patch with a type");
        };
        match check_result(&context, result, step) {
            Some(new) => live = Some(new),
            None => assert_eq!(live, before, "{context}: a failed step changed the live object"),
        }
    }
}

fn run_file(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let file: Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let kind = file.get("kind").cloned().unwrap_or(Value::Null);
    let cases = file["cases"].as_array().unwrap_or_else(|| panic!("{}: no cases", path.display()));
    for case in cases {
        let context = format!("{} / {}", path.display(), case["name"].as_str().unwrap_or("?"));
        if case.get("steps").is_some() {
            run_steps(&context, &kind, case);
            continue;
        }
        let schema = schema_of(case.get("kind").unwrap_or(&kind));
        let live = case.get("live").cloned().unwrap_or(Value::Object(Default::default()));
        let t = patch_type(case["type"].as_str().unwrap_or("strategic"));
        let result = apply_patch(&live, &patch_body(case), t, schema);
        check_result(&context, result, case);
    }
    cases.len()
}

#[test]
fn case_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut total = 0;
    for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "yaml")) {
        total += run_file(file);
    }
    assert!(total > 0, "no cases found under {}", dir.display());
}
