//! What kubectl needs to know about the types, with the real kubectl as the admin: `explain`,
//! `apply` and `edit` reading the OpenAPI v3 documents (kube-schema builds them, the API server
//! serves them), and the generators, `auth` and `debug --copy-to` sending Protobuf bodies that
//! the server decodes into the same objects JSON would have made.

mod common;

use common::kubectl::*;

#[test]
fn explain_prints_the_published_schemas() {
    let rampart = Rampart::start();
    let cm = rampart.kubectl(&["explain", "configmap"]).ok();
    let lines: Vec<&str> = cm.stdout.lines().collect();
    assert_eq!(&lines[..2], ["KIND:       ConfigMap", "VERSION:    v1"], "{}", cm.stdout);
    assert!(
        cm.stdout.contains("DESCRIPTION:\n    ConfigMap holds configuration data for pods to consume."),
        "{}",
        cm.stdout
    );
    for field in [
        "binaryData\t<map[string]string>",
        "data\t<map[string]string>",
        "immutable\t<boolean>",
        "metadata\t<ObjectMeta>",
    ] {
        assert!(cm.stdout.contains(field), "{field} in\n{}", cm.stdout);
    }
    assert!(!cm.stdout.contains("-required-"), "no ConfigMap field is required:\n{}", cm.stdout);

    let rules = rampart.kubectl(&["explain", "role.rules"]).ok();
    assert!(
        rules.stdout.starts_with("GROUP:      rbac.authorization.k8s.io\nKIND:       Role\nVERSION:    v1"),
        "{}",
        rules.stdout
    );
    assert!(rules.stdout.contains("FIELD: rules <[]PolicyRule>"), "{}", rules.stdout);
    assert!(rules.stdout.contains("verbs\t<[]string> -required-"), "{}", rules.stdout);
    assert!(rules.stdout.contains("resourceNames\t<[]string>\n"), "{}", rules.stdout);

    let template = rampart.kubectl(&["explain", "deployment.spec.template"]).ok();
    assert!(template.stdout.contains("FIELD: template <PodTemplateSpec>"), "{}", template.stdout);
    assert!(template.stdout.contains("spec\t<PodSpec>"), "{}", template.stdout);
    let limits = rampart.kubectl(&["explain", "pod.spec.containers.resources.limits"]).ok();
    assert!(limits.stdout.contains("FIELD: limits <map[string]Quantity>"), "{}", limits.stdout);

    let missing = rampart.kubectl(&["explain", "configmap.nosuchfield"]).failed();
    assert!(missing.stderr.contains("field \"nosuchfield\" does not exist"), "{}", missing.stderr);
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.26
        env:
        - {name: MODE, value: prod}
      - name: sidecar
        image: busybox:1.36
";

/// Client-side apply and edit find the PATCH operation with `fieldValidation` (or they would
/// refuse to run) and build strategic merge patches from the published merge keys.
#[test]
fn apply_and_edit_use_the_published_patch_metadata() {
    let rampart = Rampart::start();
    let file = rampart.write_file("web.yaml", DEPLOYMENT);
    let file = file.to_str().unwrap();
    let created = rampart.kubectl(&["apply", "-f", file]).ok();
    assert_eq!(created.stdout.trim(), "deployment.apps/web created");
    assert_eq!(rampart.kubectl(&["apply", "-f", file]).ok().stdout.trim(), "deployment.apps/web unchanged");

    // A changed image: kubectl sends a strategic merge patch keyed by container name, with
    // fieldValidation=Strict because the published PATCH operation takes it.
    let changed = rampart.write_file("web2.yaml", &DEPLOYMENT.replace("nginx:1.26", "nginx:1.27"));
    let applied = rampart.kubectl(&["apply", "-f", changed.to_str().unwrap(), "-v=8"]).ok();
    assert!(applied.stdout.contains("deployment.apps/web configured"), "{}", applied.stdout);
    let log = &applied.stderr;
    assert!(log.contains("fieldValidation=Strict"), "{log}");
    assert!(log.contains("Content-Type: application/strategic-merge-patch+json"), "{log}");
    assert!(log.contains("$setElementOrder/containers"), "merge keys from the schema: {log}");
    let web = json(&rampart.kubectl(&["get", "deployment", "web", "-o", "json"]).ok());
    let containers = web["spec"]["template"]["spec"]["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 2, "{containers:?}");
    assert_eq!(containers[0]["image"], "nginx:1.27");
    assert_eq!(containers[0]["env"], serde_json::json!([{"name": "MODE", "value": "prod"}]));
    assert_eq!(containers[1]["image"], "busybox:1.36");

    // edit: the editor changes the sidecar's image; only that container changes.
    let editor = rampart.write_file("editor.sh", "#!/bin/sh\nsed -i 's/busybox:1.36/busybox:1.37/' \"$1\"\n");
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let edited = run(
        rampart.command("kubectl").args(["edit", "deployment", "web"]).env("KUBE_EDITOR", editor.to_str().unwrap()),
        None,
    )
    .ok();
    assert_eq!(edited.stdout.trim(), "deployment.apps/web edited");
    let web = json(&rampart.kubectl(&["get", "deployment", "web", "-o", "json"]).ok());
    let images: Vec<&str> = web["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["image"].as_str().unwrap())
        .collect();
    assert_eq!(images, ["nginx:1.27", "busybox:1.37"]);

    // With validation on (the default) an unknown field is refused before anything is stored.
    let bogus =
        rampart.write_file("bogus.yaml", &DEPLOYMENT.replace("  replicas: 1\n", "  replicas: 1\n  bogus: true\n"));
    let refused = rampart.kubectl(&["apply", "-f", bogus.to_str().unwrap()]).failed();
    assert!(refused.stderr.contains("bogus"), "{}", refused.stderr);
    let web = json(&rampart.kubectl(&["get", "deployment", "web", "-o", "json"]).ok());
    assert!(web["spec"].get("bogus").is_none());
}

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: What to run and when.
            properties:
              cronSpec: {type: string, description: A cron schedule.}
              replicas: {type: integer}
";

/// A custom resource's document comes from its CRD: explain reads it, and apply sends merge
/// patches (custom resources take no strategic merge patch).
#[test]
fn custom_resources_are_explained_and_merge_patched() {
    let rampart = Rampart::start();
    let crd = rampart.write_file("crd.yaml", CRD);
    rampart.kubectl(&["apply", "-f", crd.to_str().unwrap()]).ok();
    let explained = rampart.kubectl(&["explain", "crontab.spec"]).ok();
    assert!(explained.stdout.contains("GROUP:      stable.example.com\nKIND:       CronTab"), "{}", explained.stdout);
    assert!(explained.stdout.contains("What to run and when."), "{}", explained.stdout);
    assert!(explained.stdout.contains("cronSpec\t<string>\n    A cron schedule."), "{}", explained.stdout);

    let object = "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: nightly}\nspec: {cronSpec: '0 3 * * *', replicas: 1}\n";
    let file = rampart.write_file("ct.yaml", object);
    rampart.kubectl(&["apply", "-f", file.to_str().unwrap()]).ok();
    let changed = rampart.write_file("ct2.yaml", &object.replace("replicas: 1", "replicas: 2"));
    let applied = rampart.kubectl(&["apply", "-f", changed.to_str().unwrap(), "-v=8"]).ok();
    assert!(applied.stderr.contains("Content-Type: application/merge-patch+json"), "{}", applied.stderr);
    let ct = json(&rampart.kubectl(&["get", "crontab", "nightly", "-o", "json"]).ok());
    assert_eq!(ct["spec"]["replicas"], 2);
}

/// The generators send Protobuf; what lands is what JSON would have made: explicit zeros of
/// pointers kept, Go's empty values left out, Secret data as base64.
#[test]
fn generators_send_protobuf_that_decodes_to_the_same_objects() {
    let rampart = Rampart::start();
    rampart.kubectl(&["create", "namespace", "team-a"]).ok();
    rampart.kubectl(&["create", "deployment", "idle", "--image=nginx", "--replicas=0", "-n", "team-a"]).ok();
    let idle = json(&rampart.kubectl(&["get", "deployment", "idle", "-n", "team-a", "-o", "json"]).ok());
    assert_eq!(idle["spec"]["replicas"], 0, "an explicit zero survives the Protobuf body");
    assert!(idle["spec"].get("paused").is_none(), "{}", idle["spec"]);
    assert_ne!(idle["metadata"]["uid"], "");
    let container = &idle["spec"]["template"]["spec"]["containers"][0];
    assert_eq!((container["name"].as_str(), container["image"].as_str()), (Some("nginx"), Some("nginx")));
    assert!(container.get("stdin").is_none() && container.get("tty").is_none(), "{container}");

    rampart.kubectl(&["create", "secret", "generic", "creds", "--from-literal=password=s3cr:t", "-n", "team-a"]).ok();
    let secret = json(&rampart.kubectl(&["get", "secret", "creds", "-n", "team-a", "-o", "json"]).ok());
    assert_eq!(secret["data"]["password"], "czNjcjp0");
    assert_eq!(secret["type"], "Opaque");

    rampart
        .kubectl(&["create", "configmap", "settings", "--from-literal=a=b", "--from-literal=empty=", "-n", "team-a"])
        .ok();
    let cm = json(&rampart.kubectl(&["get", "cm", "settings", "-n", "team-a", "-o", "json"]).ok());
    assert_eq!(cm["data"], serde_json::json!({"a": "b", "empty": ""}));

    rampart
        .kubectl(&["create", "role", "reader", "--verb=get,list", "--resource=pods,deployments.apps", "-n", "team-a"])
        .ok();
    let role = json(&rampart.kubectl(&["get", "role", "reader", "-n", "team-a", "-o", "json"]).ok());
    assert_eq!(
        role["rules"],
        serde_json::json!([{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]},
                           {"verbs": ["get", "list"], "apiGroups": ["apps"], "resources": ["deployments"]}])
    );
    rampart
        .kubectl(&["create", "rolebinding", "readers", "--role=reader", "--user=jane", "--group=dev", "-n", "team-a"])
        .ok();
    let binding = json(&rampart.kubectl(&["get", "rolebinding", "readers", "-n", "team-a", "-o", "json"]).ok());
    assert_eq!(
        binding["roleRef"],
        serde_json::json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"})
    );
    assert_eq!(
        binding["subjects"][0],
        serde_json::json!({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "jane"})
    );

    // `create token` sends a TokenRequest; auth can-i sends SelfSubjectAccessReviews, --list a
    // SelfSubjectRulesReview, whoami a SelfSubjectReview: all Protobuf, all answered (a body
    // that did not decode would be a 400).
    rampart.kubectl(&["create", "serviceaccount", "robot", "-n", "team-a"]).ok();
    let token = rampart.kubectl(&["create", "token", "robot", "-n", "team-a", "--duration=1h"]).ok();
    assert!(token.stdout.starts_with("eyJ") && token.stdout.trim().split('.').count() == 3, "{}", token.stdout);
    assert_eq!(rampart.kubectl(&["auth", "can-i", "get", "pods", "-n", "team-a"]).ok().stdout.trim(), "yes");
    assert_eq!(
        rampart.kubectl(&["auth", "can-i", "create", "deployments.apps", "-n", "kube-system"]).ok().stdout.trim(),
        "yes"
    );
    assert_eq!(rampart.kubectl(&["auth", "can-i", "get", "/healthz"]).ok().stdout.trim(), "yes");
    let list = rampart.kubectl(&["auth", "can-i", "--list", "-n", "team-a"]).ok();
    assert_eq!(header(&list.stdout), ["Resources", "Non-Resource URLs", "Resource Names", "Verbs"], "{}", list.stdout);
    assert_eq!(row(&rows(&list.stdout), "*.*").last().unwrap(), "[*]", "{}", list.stdout);
    let whoami = rampart.kubectl(&["auth", "whoami"]).ok();
    assert!(whoami.stdout.contains("system:masters"), "{}", whoami.stdout);
}

/// `kubectl debug --copy-to` sends the copied pod as Protobuf: its volumes keep their sources
/// (Go's inline `VolumeSource`), the service-account token's projected volume included.
#[test]
fn debug_copy_to_keeps_the_volume_sources() {
    let rampart = Rampart::start();
    rampart.kubectl(&["create", "configmap", "settings", "--from-literal=a=b"]).ok();
    let pod = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "web", "image": "nginx",
                                 "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"},
                                                  {"name": "settings", "mountPath": "/etc/settings"}]}],
                 "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
                             {"name": "settings", "configMap": {"name": "settings", "optional": true}}]}}"#;
    rampart.kubectl_stdin(&["apply", "-f", "-"], pod).ok();
    let copied = rampart.kubectl(&["debug", "web", "--copy-to=web-copy", "--image=busybox", "--container=dbg"]).ok();
    assert!(!copied.stderr.contains("unknown field"), "{}", copied.stderr);
    let copy = json(&rampart.kubectl(&["get", "pod", "web-copy", "-o", "json"]).ok());
    let volumes = copy["spec"]["volumes"].as_array().unwrap().clone();
    assert_eq!(volumes.len(), 3, "{volumes:?}");
    assert_eq!((&volumes[0]["name"], &volumes[0]["emptyDir"]["sizeLimit"]), (&"scratch".into(), &"1Gi".into()));
    assert_eq!(volumes[1]["configMap"]["name"], "settings", "{}", volumes[1]);
    assert_eq!(volumes[1]["configMap"]["optional"], true, "{}", volumes[1]);
    assert!(volumes[2]["name"].as_str().unwrap().starts_with("kube-api-access-"), "{}", volumes[2]);
    assert!(volumes[2]["projected"]["sources"].as_array().is_some_and(|s| s.len() == 3), "{}", volumes[2]);
    let containers: Vec<&str> =
        copy["spec"]["containers"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(containers, ["web", "dbg"]);
}
