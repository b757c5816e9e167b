//! Writes with the real kubectl as the admin: client-side apply (new, unchanged, changed, over
//! a created object), server-side apply (create, update, conflict, force), edit through
//! `KUBE_EDITOR`, patch of every type, scale, and delete with `--wait`, finalizers and
//! `--cascade` (background, foreground, orphan) through garbage collection.

mod common;

use std::time::Duration;

use common::kubectl::*;

const ROLE: &str = "apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: pod-reader
  namespace: default
rules:
- apiGroups: [\"\"]
  resources: [\"pods\"]
  verbs: [\"get\", \"list\", \"watch\"]
";

#[test]
fn client_side_apply_creates_leaves_alone_and_configures() {
    let rampart = Rampart::start();
    let file = rampart.write_file("role.yaml", ROLE);
    let path = file.to_str().unwrap();
    assert_eq!(
        rampart.kubectl(&["apply", "-f", path]).ok().stdout.trim(),
        "role.rbac.authorization.k8s.io/pod-reader created"
    );
    assert_eq!(
        rampart.kubectl(&["apply", "-f", path]).ok().stdout.trim(),
        "role.rbac.authorization.k8s.io/pod-reader unchanged"
    );
    std::fs::write(
        &file,
        ROLE.replace("[\"pods\"]", "[\"pods\", \"pods/log\"]")
            .replace("  namespace: default\n", "  namespace: default\n  labels: {team: platform}\n"),
    )
    .unwrap();
    assert_eq!(
        rampart.kubectl(&["apply", "-f", path]).ok().stdout.trim(),
        "role.rbac.authorization.k8s.io/pod-reader configured"
    );
    let role = json(&rampart.kubectl(&["get", "role", "pod-reader", "-o", "json"]).ok());
    assert_eq!(role["rules"][0]["resources"], serde_json::json!(["pods", "pods/log"]));
    assert_eq!(role["metadata"]["labels"]["team"], "platform");
    let last = role["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].as_str().unwrap();
    assert!(last.contains("pods/log") && last.ends_with('\n'), "{last}");
    // Removing a field from the file removes it from the object.
    std::fs::write(&file, ROLE).unwrap();
    rampart.kubectl(&["apply", "-f", path]).ok();
    let role = json(&rampart.kubectl(&["get", "role", "pod-reader", "-o", "json"]).ok());
    assert!(role["metadata"].get("labels").is_none(), "{role}");
    assert_eq!(role["rules"][0]["resources"], serde_json::json!(["pods"]));
    // Applying over an object made by `create` warns and patches in the annotation.
    rampart.kubectl(&["create", "configmap", "cm1", "--from-literal=a=b"]).ok();
    let cm = rampart.write_file("cm1.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm1\ndata:\n  a: c\n");
    let out = rampart.kubectl(&["apply", "-f", cm.to_str().unwrap()]).ok();
    assert!(
        out.stderr.contains("missing the kubectl.kubernetes.io/last-applied-configuration annotation"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout.trim(), "configmap/cm1 configured");
    assert_eq!(rampart.kubectl(&["get", "cm", "cm1", "-o", "jsonpath={.data.a}"]).ok().stdout, "c");
    // A server-side dry run changes nothing.
    std::fs::write(&cm, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm1\ndata:\n  a: dry\n").unwrap();
    let dry = rampart.kubectl(&["apply", "-f", cm.to_str().unwrap(), "--dry-run=server"]).ok();
    assert_eq!(dry.stdout.trim(), "configmap/cm1 configured (server dry run)");
    assert_eq!(rampart.kubectl(&["get", "cm", "cm1", "-o", "jsonpath={.data.a}"]).ok().stdout, "c");
}

#[test]
fn server_side_apply_tracks_managers_and_reports_conflicts() {
    let rampart = Rampart::start();
    let file = rampart.write_file("role.yaml", ROLE);
    let path = file.to_str().unwrap();
    assert_eq!(
        rampart.kubectl(&["apply", "--server-side", "-f", path]).ok().stdout.trim(),
        "role.rbac.authorization.k8s.io/pod-reader serverside-applied"
    );
    let managed = rampart.kubectl(&["get", "role", "pod-reader", "-o", "json", "--show-managed-fields"]).ok();
    let entry = &json(&managed)["metadata"]["managedFields"][0];
    assert_eq!((entry["manager"].as_str(), entry["operation"].as_str()), (Some("kubectl"), Some("Apply")));
    assert_eq!(
        rampart.kubectl(&["apply", "--server-side", "-f", path]).ok().stdout.trim(),
        "role.rbac.authorization.k8s.io/pod-reader serverside-applied"
    );

    rampart.kubectl(&["create", "configmap", "shared", "--from-literal=key=a"]).ok();
    let cm = rampart
        .write_file("shared.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  key: b\n");
    let conflict = rampart.kubectl(&["apply", "--server-side", "-f", cm.to_str().unwrap()]).failed();
    assert!(
        conflict.stderr.contains(r#"Apply failed with 1 conflict: conflict with "kubectl-create" using v1: .data.key"#),
        "{}",
        conflict.stderr
    );
    assert_eq!(
        rampart.kubectl(&["get", "cm", "shared", "-o", "jsonpath={.data.key}"]).ok().stdout,
        "a",
        "nothing stored"
    );
    rampart.kubectl(&["apply", "--server-side", "--force-conflicts", "-f", cm.to_str().unwrap()]).ok();
    assert_eq!(rampart.kubectl(&["get", "cm", "shared", "-o", "jsonpath={.data.key}"]).ok().stdout, "b");
}

#[test]
fn edit_patch_and_scale() {
    let rampart = Rampart::start();
    rampart.kubectl(&["create", "deployment", "web", "--image=nginx:1.27", "--replicas=2"]).ok();
    let editor = rampart.write_file("editor.sh", "#!/bin/sh\nsed -i 's/nginx:1.27/nginx:1.28/' \"$1\"\n");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut edit = rampart.command("kubectl");
    edit.env("KUBE_EDITOR", &editor).args(["edit", "deployment", "web"]);
    let out = run(&mut edit, None);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.trim(), "deployment.apps/web edited");
    let image = rampart
        .kubectl(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image} {.metadata.generation}",
        ])
        .ok();
    assert_eq!(image.stdout, "nginx:1.28 2");
    // An editor that changes nothing cancels the edit.
    let noop = rampart.write_file("noop.sh", "#!/bin/sh\ntrue\n");
    std::fs::set_permissions(&noop, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut cancel = rampart.command("kubectl");
    cancel.env("KUBE_EDITOR", &noop).args(["edit", "deployment", "web"]);
    let out = run(&mut cancel, None);
    assert!(out.stderr.contains("Edit cancelled, no changes made."), "{out:?}");

    // Strategic merge patch merges containers by name; JSON patch and merge patch as RFCs say.
    rampart
        .kubectl(&[
            "patch",
            "deploy",
            "web",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"envoy"}]}}}}"#,
        ])
        .ok();
    let names =
        rampart.kubectl(&["get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[*].name}"]).ok();
    assert_eq!(names.stdout, "sidecar nginx");
    rampart
        .kubectl(&[
            "patch",
            "deploy",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/spec/template/spec/containers/0"}]"#,
        ])
        .ok();
    rampart
        .kubectl(&["patch", "deploy", "web", "--type=merge", "-p", r#"{"metadata":{"labels":{"tier":"front"}}}"#])
        .ok();
    let out = rampart
        .kubectl(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[*].name} {.metadata.labels.tier}",
        ])
        .ok();
    assert_eq!(out.stdout, "nginx front");
    let bad = rampart
        .kubectl(&[
            "patch",
            "deploy",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"test","path":"/spec/replicas","value":9}]"#,
        ])
        .failed();
    assert_eq!(
        bad.stderr.trim(),
        "The request is invalid: the server rejected our request due to an error in our request"
    );

    assert_eq!(
        rampart.kubectl(&["scale", "deploy", "web", "--replicas=3"]).ok().stdout.trim(),
        "deployment.apps/web scaled"
    );
    assert_eq!(rampart.kubectl(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]).ok().stdout, "3");
    let stale = rampart.kubectl(&["scale", "deploy", "web", "--current-replicas=2", "--replicas=5"]).failed();
    assert!(stale.stderr.contains("Expected replicas to be 2, was 3"), "{}", stale.stderr);
    rampart.kubectl(&["scale", "deploy", "web", "--current-replicas=3", "--replicas=1"]).ok();
    let scale =
        json(&rampart.kubectl(&["get", "--raw", "/apis/apps/v1/namespaces/default/deployments/web/scale"]).ok());
    assert_eq!(
        (scale["kind"].as_str(), scale["spec"]["replicas"].as_i64(), scale["status"]["selector"].as_str()),
        (Some("Scale"), Some(1), Some("app=web"))
    );
}

#[test]
fn delete_waits_for_finalizers_and_cascades_through_owner_references() {
    let rampart = Rampart::start();
    let held = rampart.write_file(
        "held.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n",
    );
    rampart.kubectl(&["apply", "-f", held.to_str().unwrap()]).ok();
    assert_eq!(
        rampart.kubectl(&["delete", "cm", "held", "--wait=false"]).ok().stdout.trim(),
        r#"configmap "held" deleted"#
    );
    let deleting = rampart.kubectl(&["get", "cm", "held", "-o", "jsonpath={.metadata.deletionTimestamp}"]).ok();
    assert!(deleting.stdout.ends_with('Z'), "{}", deleting.stdout);
    // `delete` waits (with a watch) until the finalizer is gone.
    let env = rampart.env.clone();
    let home = rampart.home.clone();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        let mut patch = std::process::Command::new("kubectl");
        patch.env("HOME", home).envs(env).args([
            "patch",
            "cm",
            "held",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ]);
        run(&mut patch, None)
    });
    let started = std::time::Instant::now();
    let out = rampart.kubectl(&["delete", "cm", "held", "--timeout=30s"]).ok();
    assert!(out.stdout.contains(r#"configmap "held" deleted"#), "{out:?}");
    assert!(started.elapsed() >= Duration::from_millis(1000), "delete returned before the finalizer was removed");
    assert_eq!(releaser.join().unwrap().code, 0);
    rampart.kubectl(&["get", "cm", "held"]).failed();
    let missing = rampart.kubectl(&["delete", "cm", "held"]).failed();
    assert_eq!(missing.stderr.trim(), r#"Error from server (NotFound): configmaps "held" not found"#);
    rampart.kubectl(&["delete", "cm", "held", "--ignore-not-found"]).ok();

    // Garbage collection: a replica set owned by a deployment goes with it.
    for (policy, name) in [("background", "bg"), ("foreground", "fg"), ("orphan", "or")] {
        rampart.kubectl(&["create", "deployment", name, "--image=nginx"]).ok();
        let uid = rampart.kubectl(&["get", "deploy", name, "-o", "jsonpath={.metadata.uid}"]).ok().stdout;
        let rs = format!(
            "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: {name}-rs\n  ownerReferences:\n  - {{apiVersion: apps/v1, kind: Deployment, name: {name}, uid: {uid}, controller: true, blockOwnerDeletion: true}}\nspec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec: {{containers: [{{name: c, image: nginx}}]}}\n"
        );
        let file = rampart.write_file(&format!("{name}-rs.yaml"), &rs);
        rampart.kubectl(&["apply", "-f", file.to_str().unwrap()]).ok();
        let cascade = format!("--cascade={policy}");
        rampart.kubectl(&["delete", "deploy", name, &cascade, "--timeout=30s"]).ok();
        rampart.kubectl(&["get", "deploy", name]).failed();
        let rs_name = format!("{name}-rs");
        let mut gone = false;
        for _ in 0..100 {
            let out = rampart.kubectl(&[
                "get",
                "rs",
                &rs_name,
                "-o",
                "jsonpath={.metadata.ownerReferences}",
                "--ignore-not-found",
            ]);
            if policy == "orphan" {
                assert_eq!(out.code, 0);
                assert_eq!(out.stdout, "", "an orphaned replica set loses its owner reference");
                gone = true;
                break;
            }
            if out.code == 0 && out.stdout.is_empty() {
                gone = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(gone, "{policy}: the replica set was not garbage-collected");
    }
}

#[test]
fn server_dry_runs_answer_as_if_and_store_nothing() {
    let rampart = Rampart::start();
    let created = rampart
        .kubectl(&["create", "configmap", "dry", "--from-literal=a=b", "--dry-run=server", "-o", "jsonpath={.data.a}"])
        .ok();
    assert_eq!(created.stdout, "b");
    let missing = rampart.kubectl(&["get", "configmap", "dry"]).failed();
    assert!(missing.stderr.contains(r#"configmaps "dry" not found"#), "{}", missing.stderr);

    rampart.kubectl(&["create", "configmap", "kept", "--from-literal=a=b"]).ok();
    let rv = |r: &Rampart| {
        r.kubectl(&["get", "configmap", "kept", "-o", "jsonpath={.metadata.resourceVersion}"]).ok().stdout
    };
    let before = rv(&rampart);
    let labeled = rampart.kubectl(&["label", "configmap", "kept", "x=y", "--dry-run=server"]).ok();
    assert_eq!(labeled.stdout.trim(), "configmap/kept labeled (server dry run)");
    let deleted = rampart.kubectl(&["delete", "configmap", "kept", "--dry-run=server"]).ok();
    assert_eq!(deleted.stdout.trim(), r#"configmap "kept" deleted (server dry run)"#);
    let labels = rampart.kubectl(&["get", "configmap", "kept", "-o", "jsonpath={.metadata.labels}"]).ok();
    assert_eq!(labels.stdout, "", "the dry-run label was not stored");
    assert_eq!(rv(&rampart), before, "nothing was written");
}
