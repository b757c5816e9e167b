//! The access-hygiene commands offline, with the real binary: `rampart lint` on the rule corpus
//! (`tests/data/lint/`, one file per rule: the bad case reported at the line marked
//! `# <- RULE`, the good case not reported), its SARIF validated against the SARIF 2.1.0 schema
//! (`tests/data/sarif-schema-2.1.0.json`, OASIS's, checked with python3's jsonschema), the
//! tutorial's roles and a node-group mapping clean; `rampart diff` on the tutorial's role before
//! and after (two directories and two git revisions); `rampart matrix` for the tutorial's user.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Output, rampart_bin, run};
use serde_json::Value;

fn rampart(args: &[&str]) -> Output {
    run(Command::new(rampart_bin()).args(args), None)
}

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(path)
}

fn lint_json(file: &Path) -> (i32, Vec<Value>) {
    let out = rampart(&["lint", "-f", file.to_str().unwrap(), "-o", "json"]);
    assert!(out.code == 0 || out.code == 1, "{out:?}");
    let report: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    (out.code, report["findings"].as_array().unwrap().clone())
}

#[test]
fn every_rule_reports_its_bad_case_at_its_line_and_not_its_good_case() {
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = std::fs::read_dir(data("lint")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 38, "one file per rule");
    for file in files {
        let rule = file.file_stem().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        let (bad, good) = text.split_once("---\n# good\n").unwrap_or_else(|| panic!("{rule}: no `# good` part"));
        let bad_file = dir.path().join(format!("{rule}-bad.yaml"));
        let good_file = dir.path().join(format!("{rule}-good.yaml"));
        std::fs::write(&bad_file, bad).unwrap();
        std::fs::write(&good_file, good).unwrap();

        let (code, findings) = lint_json(&bad_file);
        let hits: Vec<&Value> = findings.iter().filter(|f| f["rule"] == rule.as_str()).collect();
        assert!(!hits.is_empty(), "{rule}: the bad case is not reported: {findings:#?}");
        let severity = hits[0]["severity"].as_str().unwrap();
        assert_eq!(
            code,
            if severity == "note" && findings.iter().all(|f| f["severity"] == "note") { 0 } else { 1 },
            "{rule}"
        );
        assert!(!hits[0]["why"].as_str().unwrap().is_empty() && !hits[0]["fix"].as_str().unwrap().is_empty());
        if let Some(marked) = bad.lines().position(|l| l.ends_with(&format!("# <- {rule}"))) {
            let lines: Vec<u64> = hits.iter().filter_map(|f| f["line"].as_u64()).collect();
            assert!(lines.contains(&(marked as u64 + 1)), "{rule}: expected line {}, got {lines:?}", marked + 1);
        }

        let (_, findings) = lint_json(&good_file);
        let hits: Vec<&Value> = findings.iter().filter(|f| f["rule"] == rule.as_str()).collect();
        assert!(hits.is_empty(), "{rule}: the good case is reported: {hits:#?}");
    }
}

#[test]
fn benign_configurations_have_no_warning() {
    // The tutorial's roles and binding: at most notes, exit 0.
    let out = rampart(&["lint", "-f", data("tutorial").to_str().unwrap()]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("0 error(s), 0 warning(s)"), "{}", out.stdout);
    // role.yaml (read after role-extended.yaml) replaces it, as `kubectl apply -f` would: the
    // directory is the narrow role, located in its own file.
    assert!(!out.stdout.contains("secrets"), "{}", out.stdout);
    let out = rampart(&["lint", "-f", data("tutorial/role-extended.yaml").to_str().unwrap()]);
    assert!(out.stdout.contains("role-extended.yaml:10: note RBAC001 secrets-read"), "{}", out.stdout);
    assert_eq!(out.code, 0, "notes only: {out:?}");
    // --fail-on note turns the notes into a failure.
    let out = rampart(&["lint", "-f", data("tutorial/role-extended.yaml").to_str().unwrap(), "--fail-on", "note"]);
    assert_eq!(out.code, 1, "{out:?}");
    // A node group's mapping and a read-only role.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("benign.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: aws-auth, namespace: kube-system}\ndata:\n  mapRoles: |\n    - rolearn: arn:aws:iam::111122223333:role/eks-node\n      username: system:node:{{EC2PrivateDNSName}}\n      groups: [system:bootstrappers, system:nodes]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\nrules:\n- apiGroups: ['', apps]\n  resources: [pods, services, deployments, configmaps]\n  verbs: [get, list, watch]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: readers}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}\nsubjects:\n- {kind: Group, name: readers, apiGroup: rbac.authorization.k8s.io}\n",
    )
    .unwrap();
    let out = rampart(&["lint", "-f", file.to_str().unwrap()]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "0 finding(s): 0 error(s), 0 warning(s), 0 note(s)\n"), "{out:?}");
    // Usage errors exit 2.
    let out = rampart(&["lint"]);
    assert_eq!(out.code, 2, "{out:?}");
    let out = rampart(&["lint", "-f", "/nonexistent/dir"]);
    assert_eq!(out.code, 2, "{out:?}");
}

fn validate_sarif(schema: &Path, document: &Path) -> Output {
    run(
        Command::new("python3").args([
            "-c",
            "import json, sys, jsonschema\n\
             jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1])))",
            schema.to_str().unwrap(),
            document.to_str().unwrap(),
        ]),
        None,
    )
}

#[test]
fn sarif_output_validates_against_the_sarif_2_1_0_schema() {
    common::require_client("python3");
    let out = rampart(&["lint", "-f", data("lint").to_str().unwrap(), "-o", "sarif"]);
    assert_eq!(out.code, 1, "{out:?}");
    let sarif: Value = serde_json::from_str(&out.stdout).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    // (One aws-auth ConfigMap counts in a directory, the last read, so most EKS cases are not among them.)
    assert!(results.len() >= 21, "{}", results.len());
    let located = results.iter().find(|r| r["ruleId"] == "RBAC006").unwrap();
    let physical = &located["locations"][0]["physicalLocation"];
    assert!(physical["artifactLocation"]["uri"].as_str().unwrap().ends_with("lint/RBAC006.yaml"), "{physical}");
    let text = std::fs::read_to_string(data("lint/RBAC006.yaml")).unwrap();
    let marked = text.lines().position(|l| l.ends_with("# <- RBAC006")).unwrap() + 1;
    assert_eq!(physical["region"]["startLine"], marked);

    let dir = tempfile::tempdir().unwrap();
    let document = dir.path().join("lint.sarif");
    std::fs::write(&document, &out.stdout).unwrap();
    let schema = data("sarif-schema-2.1.0.json");
    let checked = validate_sarif(&schema, &document);
    assert_eq!(checked.code, 0, "{checked:?}");
    // The validator does reject what is not SARIF.
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]["level"] = "severe".into();
    std::fs::write(&document, broken.to_string()).unwrap();
    assert_ne!(validate_sarif(&schema, &document).code, 0);
}

fn git(repo: &Path, args: &[&str]) {
    let out = run(
        Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args),
        None,
    );
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn diff_of_the_tutorial_role_before_and_after() {
    let dir = tempfile::tempdir().unwrap();
    let (before, after) = (dir.path().join("before"), dir.path().join("after"));
    for (side, role) in [(&before, "role.yaml"), (&after, "role-extended.yaml")] {
        std::fs::create_dir(side).unwrap();
        std::fs::copy(data("tutorial").join(role), side.join("role.yaml")).unwrap();
        std::fs::copy(data("tutorial/rolebinding.yaml"), side.join("rolebinding.yaml")).unwrap();
    }
    let (base, head) = (before.to_str().unwrap(), after.to_str().unwrap());
    let out = rampart(&["diff", "--base", base, "--head", head]);
    assert_eq!(out.code, 1, "secrets and pods/exec are new risky grants: {out:?}");
    assert!(out.stdout.starts_with("User eks-user: "), "{}", out.stdout);
    assert!(out.stdout.contains("  + get secrets in default\n"), "{}", out.stdout);
    assert!(out.stdout.contains("  + create pods/exec in default\n"), "{}", out.stdout);
    assert!(out.stdout.contains("  ! get secrets in default — reads secrets (RBAC001)\n"), "{}", out.stdout);
    assert!(!out.stdout.contains("  - "), "the extended role keeps list pods: {}", out.stdout);

    let json: Value =
        serde_json::from_str(&rampart(&["diff", "--base", base, "--head", head, "-o", "json"]).stdout).unwrap();
    assert_eq!(json[0]["subject"], "User eks-user");
    assert!(json[0]["risky"].as_array().unwrap().iter().any(|r| r["rules"][0] == "RBAC002"));
    let markdown = rampart(&["diff", "--base", base, "--head", head, "-o", "markdown", "--fail-on", "never"]);
    assert_eq!(markdown.code, 0);
    assert!(markdown.stdout.starts_with("### Access changes\n"), "{}", markdown.stdout);
    // Back again: only losses, nothing risky gained.
    let out = rampart(&["diff", "--base", head, "--head", base]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("  - get secrets in default\n") && !out.stdout.contains("  + "), "{}", out.stdout);
    let same = rampart(&["diff", "--base", base, "--head", base]);
    assert_eq!((same.code, same.stdout.as_str()), (0, "No change in effective permissions.\n"));

    // The same as two git revisions, with the IAM principal aws-auth maps to eks-user.
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("rbac")).unwrap();
    git(&repo, &["init", "-q"]);
    let aws_auth = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: aws-auth, namespace: kube-system}\ndata:\n  mapUsers: |\n    - userarn: arn:aws:iam::123456789012:user/eks-user\n      username: eks-user\n";
    std::fs::write(repo.join("rbac/aws-auth.yaml"), aws_auth).unwrap();
    std::fs::copy(before.join("role.yaml"), repo.join("rbac/role.yaml")).unwrap();
    std::fs::copy(before.join("rolebinding.yaml"), repo.join("rbac/rolebinding.yaml")).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "base"]);
    std::fs::copy(after.join("role.yaml"), repo.join("rbac/role.yaml")).unwrap();
    git(&repo, &["commit", "-qam", "head"]);
    let out =
        rampart(&["diff", "--repo", repo.to_str().unwrap(), "--base", "HEAD~1", "--head", "HEAD", "--path", "rbac"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("IAM arn:aws:iam::123456789012:user/eks-user: "), "{}", out.stdout);
    let out = rampart(&["diff", "--repo", repo.to_str().unwrap(), "--base", "no-such-rev", "--head", "HEAD"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("is neither a directory nor a git revision"), "{}", out.stderr);
}

#[test]
fn matrix_for_the_tutorial_user_and_its_iam_arn() {
    let tutorial = data("tutorial");
    let role = tutorial.join("role-extended.yaml");
    let binding = tutorial.join("rolebinding.yaml");
    let files = ["-f", role.to_str().unwrap(), "-f", binding.to_str().unwrap()];
    let mut args = vec!["matrix", "--as", "eks-user", "--explain"];
    args.extend(files);
    let out = rampart(&args);
    assert_eq!(out.code, 0, "{out:?}");
    let row = |name: &str| {
        out.stdout.lines().find(|l| l.split_whitespace().next() == Some(name)).unwrap_or_default().to_string()
    };
    assert_eq!(row("NAME").split_whitespace().collect::<Vec<_>>(), ["NAME", "LIST", "CREATE", "UPDATE", "DELETE"]);
    assert_eq!(row("secrets").split_whitespace().collect::<Vec<_>>(), ["secrets", "✔", "✔", "✔", "✔"]);
    assert_eq!(row("services").split_whitespace().collect::<Vec<_>>(), ["services", "✖", "✖", "✖", "✖"]);
    assert_eq!(row("events").split_whitespace().collect::<Vec<_>>(), ["events", "✔", "✖", "✖", "✖"]);
    assert!(
        out.stdout.contains(
            "secrets list: RBAC: allowed by RoleBinding \"eks-user-role-binding/default\" of Role \"eks-user-role\" to User \"eks-user\""
        ),
        "{}",
        out.stdout
    );
    // As the IAM user aws-auth maps to eks-user.
    let dir = tempfile::tempdir().unwrap();
    let aws_auth = dir.path().join("aws-auth.yaml");
    std::fs::write(
        &aws_auth,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: aws-auth, namespace: kube-system}\ndata:\n  mapUsers: |\n    - userarn: arn:aws:iam::123456789012:user/eks-user\n      username: eks-user\n",
    )
    .unwrap();
    let mut args =
        vec!["matrix", "--as-arn", "arn:aws:iam::123456789012:user/eks-user", "-f", aws_auth.to_str().unwrap()];
    args.extend(files);
    let out = rampart(&args);
    assert_eq!(out.code, 0, "{out:?}");
    let secrets = out.stdout.lines().find(|l| l.starts_with("secrets ")).unwrap();
    assert_eq!(secrets.split_whitespace().collect::<Vec<_>>(), ["secrets", "✔", "✔", "✔", "✔"]);
    let mut args =
        vec!["matrix", "--as-arn", "arn:aws:iam::123456789012:user/stranger", "-f", aws_auth.to_str().unwrap()];
    args.extend(files);
    let out = rampart(&args);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("identity is not mapped"), "{}", out.stderr);
    // In another namespace: nothing of the Role.
    let mut args = vec!["matrix", "--as", "eks-user", "-n", "other", "-o", "json"];
    args.extend(files);
    let json: Value = serde_json::from_str(&rampart(&args).stdout).unwrap();
    let secrets = json["rows"].as_array().unwrap().iter().find(|r| r["resource"] == "secrets").unwrap();
    assert!(secrets["cells"].as_array().unwrap().iter().all(|c| c["allowed"] == false), "{secrets}");
}
