//! A CustomResourceDefinition and its custom resources with the real kubectl: the CRD becomes
//! Established, its resources appear in discovery and OpenAPI (`explain`), and widgets are
//! created, listed with their printer columns, validated and pruned by their schema, patched,
//! scaled, watched, and deleted with the CRD.

mod common;

use common::kubectl::*;

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wd]
    categories: [all]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
    additionalPrinterColumns:
    - name: Size
      type: integer
      jsonPath: .spec.size
    - name: Color
      type: string
      jsonPath: .spec.color
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: What the widget should be.
            required: [size]
            properties:
              size: {type: integer, description: How big the widget is.}
              color: {type: string, enum: [red, blue]}
              replicas: {type: integer}
          status:
            type: object
            properties:
              replicas: {type: integer}
              phase: {type: string}
"#;

#[test]
fn custom_resources_are_served_as_their_definition_says() {
    let rampart = Rampart::start();
    let crd = rampart.write_file("crd.yaml", CRD);
    assert_eq!(
        rampart.kubectl(&["apply", "-f", crd.to_str().unwrap()]).ok().stdout.trim(),
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"
    );
    rampart.kubectl(&["wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=10s"]).ok();
    let crds = rampart.kubectl(&["get", "crd"]).ok();
    assert_eq!(header(&crds.stdout), ["NAME", "CREATED AT"]);
    let resources = rampart.kubectl(&["api-resources", "--api-group=example.com"]).ok();
    assert_eq!(row(&rows(&resources.stdout), "widgets")[1..], ["wd", "example.com/v1", "true", "Widget"]);

    let widget = rampart.write_file("w.yaml", "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 3\n  color: red\n  replicas: 1\n");
    assert_eq!(
        rampart.kubectl(&["apply", "-f", widget.to_str().unwrap()]).ok().stdout.trim(),
        "widget.example.com/w1 created"
    );
    let get = rampart.kubectl(&["get", "wd"]).ok();
    assert_eq!(header(&get.stdout), ["NAME", "SIZE", "COLOR", "AGE"]);
    assert_eq!(row(&rows(&get.stdout), "w1")[1..3], ["3", "red"]);
    let all = rampart.kubectl(&["get", "all", "-o", "name"]).ok();
    assert!(all.stdout.lines().any(|l| l == "widget.example.com/w1"), "{}", all.stdout);
    let obj = json(&rampart.kubectl(&["get", "widget", "w1", "-o", "json"]).ok());
    assert_eq!((obj["apiVersion"].as_str(), obj["metadata"]["generation"].as_i64()), (Some("example.com/v1"), Some(1)));

    // The schema: wrong types and values are 422, unknown fields are refused under Strict
    // (kubectl's default) and pruned otherwise.
    let bad = rampart.write_file(
        "bad.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: bad\nspec:\n  size: big\n  color: green\n",
    );
    let out = rampart.kubectl(&["apply", "-f", bad.to_str().unwrap(), "--validate=false"]).failed();
    assert!(out.stderr.contains(r#"The Widget "bad" is invalid: "#), "{}", out.stderr);
    assert!(
        out.stderr
            .contains(r#"spec.size: Invalid value: "string": spec.size in body must be of type integer: "string""#),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(r#"spec.color: Unsupported value: "green": supported values: "red", "blue""#),
        "{}",
        out.stderr
    );
    let extra = rampart.write_file(
        "extra.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: extra\nspec:\n  size: 1\n  shiny: true\n",
    );
    let strict = rampart.kubectl(&["create", "-f", extra.to_str().unwrap()]).failed();
    assert!(strict.stderr.contains(r#"strict decoding error: unknown field "spec.shiny""#), "{}", strict.stderr);
    let warned = rampart.kubectl(&["create", "-f", extra.to_str().unwrap(), "--validate=warn"]).ok();
    assert!(warned.stderr.contains(r#"Warning: unknown field "spec.shiny""#), "{}", warned.stderr);
    let pruned = json(&rampart.kubectl(&["get", "widget", "extra", "-o", "json"]).ok());
    assert!(pruned["spec"].get("shiny").is_none(), "{pruned}");

    // Merge patch (what kubectl computes for kinds it does not know), scale and status.
    rampart.kubectl(&["patch", "widget", "w1", "--type=merge", "-p", r#"{"spec":{"size":5}}"#]).ok();
    assert_eq!(
        rampart.kubectl(&["get", "widget", "w1", "-o", "jsonpath={.spec.size} {.metadata.generation}"]).ok().stdout,
        "5 2"
    );
    let smp = rampart.kubectl(&["patch", "widget", "w1", "-p", r#"{"spec":{"size":6}}"#, "--type=strategic"]).failed();
    assert!(smp.stderr.contains("UnsupportedMediaType") || smp.stderr.contains("unknown format"), "{}", smp.stderr);
    rampart.kubectl(&["scale", "widget", "w1", "--replicas=4"]).ok();
    assert_eq!(rampart.kubectl(&["get", "widget", "w1", "-o", "jsonpath={.spec.replicas}"]).ok().stdout, "4");
    rampart
        .kubectl(&[
            "patch",
            "widget",
            "w1",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"replicas":4,"phase":"Ready"}}"#,
        ])
        .ok();
    assert_eq!(
        rampart.kubectl(&["get", "widget", "w1", "-o", "jsonpath={.status.phase} {.metadata.generation}"]).ok().stdout,
        "Ready 3"
    );
    // Status written through the main resource is ignored.
    rampart.kubectl(&["patch", "widget", "w1", "--type=merge", "-p", r#"{"status":{"phase":"Broken"}}"#]).ok();
    assert_eq!(rampart.kubectl(&["get", "widget", "w1", "-o", "jsonpath={.status.phase}"]).ok().stdout, "Ready");

    let explain = rampart.kubectl(&["explain", "widget.spec.size"]).ok();
    assert!(explain.stdout.contains("How big the widget is."), "{}", explain.stdout);

    // Deleting the CRD deletes its widgets and takes the resource out of discovery.
    rampart.kubectl(&["delete", "crd", "widgets.example.com", "--timeout=30s"]).ok();
    let gone = rampart.kubectl(&["get", "widgets"]).failed();
    assert!(gone.stderr.contains("the server could not find the requested resource"), "{}", gone.stderr);
    let resources = rampart.kubectl(&["api-resources", "--api-group=example.com"]).ok();
    assert!(!resources.stdout.contains("widgets"), "{}", resources.stdout);
    rampart.kubectl(&["apply", "-f", crd.to_str().unwrap()]).ok();
    rampart.kubectl(&["wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=10s"]).ok();
    let empty = rampart.kubectl(&["get", "widgets"]).ok();
    assert!(empty.stderr.contains("No resources found"), "{empty:?}");
}
