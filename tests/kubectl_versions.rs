//! The everyday flow again with the versioned kubectl binaries that sit beside the machine's
//! dispatcher (1.27, 1.30, 1.33): each negotiates discovery its own way (aggregated v2, v2beta1 or
//! legacy), sends Protobuf from its generators and reads OpenAPI v3 for apply and explain.

mod common;

use common::kubectl::*;

fn everyday_flow(minor: u32) {
    let rampart = Rampart::start();
    let k = |args: &[&str]| kubectl_at(&rampart, minor, args);
    let version = k(&["version", "-o", "json"]).ok();
    let version = json(&version);
    assert_eq!(version["serverVersion"]["minor"], "32");
    assert_eq!(version["clientVersion"]["minor"], minor.to_string(), "the binary is kubectl 1.{minor}");
    let resources = k(&["api-resources"]).ok();
    assert_eq!(row(&rows(&resources.stdout), "deployments")[1..], ["deploy", "apps/v1", "true", "Deployment"]);

    assert_eq!(k(&["create", "configmap", "cm", "--from-literal=a=b"]).ok().stdout.trim(), "configmap/cm created");
    assert_eq!(k(&["create", "deployment", "web", "--image=nginx"]).ok().stdout.trim(), "deployment.apps/web created");
    let cm = k(&["get", "cm", "cm"]).ok();
    assert_eq!(header(&cm.stdout), ["NAME", "DATA", "AGE"]);
    let deploy = k(&["get", "deploy", "-o", "wide"]).ok();
    assert_eq!(row(&rows(&deploy.stdout), "web")[7], "app=web");

    let role = rampart.write_file(
        "role.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: [get]\n",
    );
    let path = role.to_str().unwrap();
    assert_eq!(k(&["apply", "-f", path]).ok().stdout.trim(), "role.rbac.authorization.k8s.io/r created");
    assert_eq!(k(&["apply", "-f", path]).ok().stdout.trim(), "role.rbac.authorization.k8s.io/r unchanged");
    std::fs::write(&role, std::fs::read_to_string(&role).unwrap().replace("[get]", "[get, list]")).unwrap();
    assert_eq!(k(&["apply", "-f", path]).ok().stdout.trim(), "role.rbac.authorization.k8s.io/r configured");
    assert_eq!(
        k(&["apply", "--server-side", "-f", path]).ok().stdout.trim(),
        "role.rbac.authorization.k8s.io/r serverside-applied"
    );
    assert_eq!(k(&["scale", "deploy", "web", "--replicas=2"]).ok().stdout.trim(), "deployment.apps/web scaled");
    let explain = k(&["explain", "configmap.data"]).ok();
    assert!(explain.stdout.contains("Data contains the configuration data"), "{}", explain.stdout);
    let can = k(&["auth", "can-i", "create", "deployments.apps"]);
    assert_eq!((can.code, can.stdout.trim()), (0, "yes"));
    let missing = k(&["get", "cm", "missing"]).failed();
    assert_eq!(missing.stderr.trim(), r#"Error from server (NotFound): configmaps "missing" not found"#);
    assert_eq!(k(&["delete", "cm", "cm"]).ok().stdout.trim(), r#"configmap "cm" deleted"#);
    k(&["get", "cm", "cm"]).failed();
}

#[test]
fn kubectl_1_27() {
    everyday_flow(27);
}

#[test]
fn kubectl_1_30() {
    everyday_flow(30);
}

#[test]
fn kubectl_1_33() {
    everyday_flow(33);
}
