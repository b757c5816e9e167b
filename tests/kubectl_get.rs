//! The everyday read path with the real kubectl as the admin: a new cluster's namespaces, every
//! generator (they send Protobuf), and `get` / `describe` of every built-in kind with the
//! columns kube-apiserver prints, plus `-o yaml|json|name|wide`, `--show-labels`, `-A` and
//! `api-resources` / `version`.

mod common;

use common::kubectl::*;

#[test]
fn a_new_cluster_reports_1_32_and_has_the_default_namespaces() {
    let rampart = Rampart::start();
    let version = rampart.kubectl(&["version", "-o", "json"]).ok();
    let server = &json(&version)["serverVersion"];
    assert_eq!((server["major"].as_str(), server["minor"].as_str()), (Some("1"), Some("32")));
    let ns = rampart.kubectl(&["get", "ns"]).ok();
    assert_eq!(header(&ns.stdout), ["NAME", "STATUS", "AGE"]);
    let table = rows(&ns.stdout);
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert_eq!(row(&table, name)[1], "Active", "{}", ns.stdout);
    }
    let svc = rampart.kubectl(&["get", "svc", "kubernetes"]).ok();
    assert_eq!(header(&svc.stdout), ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]);
    assert_eq!(&row(&rows(&svc.stdout), "kubernetes")[1..5], ["ClusterIP", "10.100.0.1", "<none>", "443/TCP"]);
    // Every namespace gets its default service account and root CA bundle.
    let sa = rampart.kubectl(&["get", "sa", "-n", "kube-public"]).ok();
    assert_eq!(header(&sa.stdout), ["NAME", "SECRETS", "AGE"]);
    assert_eq!(row(&rows(&sa.stdout), "default")[1], "0");
    let cm = rampart.kubectl(&["get", "cm", "kube-root-ca.crt", "-o", "jsonpath={.data.ca\\.crt}"]).ok();
    assert!(cm.stdout.starts_with("-----BEGIN CERTIFICATE-----"), "{}", cm.stdout);
}

#[test]
fn api_resources_and_versions_come_from_discovery() {
    let rampart = Rampart::start();
    let out = rampart.kubectl(&["api-resources"]).ok();
    assert_eq!(header(&out.stdout), ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]);
    let table = rows(&out.stdout);
    assert_eq!(row(&table, "pods")[1..], ["po", "v1", "true", "Pod"]);
    assert_eq!(row(&table, "deployments")[1..], ["deploy", "apps/v1", "true", "Deployment"]);
    assert_eq!(row(&table, "clusterroles")[1..], ["rbac.authorization.k8s.io/v1", "false", "ClusterRole"]);
    assert_eq!(
        row(&table, "selfsubjectaccessreviews")[1..],
        ["authorization.k8s.io/v1", "false", "SelfSubjectAccessReview"]
    );
    let wide = rampart.kubectl(&["api-resources", "-o", "wide"]).ok();
    let pods = row(&rows(&wide.stdout), "pods").clone();
    assert_eq!(pods[5..], ["create,delete,deletecollection,get,list,patch,update,watch", "all"]);
    let versions = rampart.kubectl(&["api-versions"]).ok();
    for gv in [
        "v1",
        "apps/v1",
        "rbac.authorization.k8s.io/v1",
        "events.k8s.io/v1",
        "apiextensions.k8s.io/v1",
        "authorization.k8s.io/v1",
        "authentication.k8s.io/v1",
    ] {
        assert!(versions.stdout.lines().any(|l| l == gv), "{gv} in\n{}", versions.stdout);
    }
}

#[test]
fn generators_create_every_kind_and_get_prints_kube_apiserver_columns() {
    let rampart = Rampart::start();
    for args in [
        &["create", "configmap", "my-cm", "--from-literal=a=b", "--from-literal=c=d"][..],
        &["create", "secret", "generic", "my-secret", "--from-literal=p=q"],
        &["create", "deployment", "web2", "--image=nginx:1.27", "--replicas=2"],
        &["create", "role", "pod-reader", "--verb=get,list,watch", "--resource=pods"],
        &[
            "create",
            "rolebinding",
            "read-pods",
            "--role=pod-reader",
            "--user=jane",
            "--group=dev",
            "--serviceaccount=default:bot",
        ],
        &["create", "clusterrole", "node-reader", "--verb=get,list", "--resource=nodes"],
        &["create", "clusterrolebinding", "read-nodes", "--clusterrole=node-reader", "--user=jane"],
        &["create", "namespace", "dev"],
        &["create", "serviceaccount", "bot"],
        &["create", "service", "clusterip", "web", "--tcp=80:8080"],
        &["create", "service", "nodeport", "np", "--tcp=443:8443"],
    ] {
        let out = rampart.kubectl(args).ok();
        assert!(out.stdout.contains("created"), "{args:?}: {}", out.stdout);
    }
    let cm = rampart.kubectl(&["get", "configmaps"]).ok();
    assert_eq!(header(&cm.stdout), ["NAME", "DATA", "AGE"]);
    assert_eq!(row(&rows(&cm.stdout), "my-cm")[1], "2");
    let secret = rampart.kubectl(&["get", "secrets"]).ok();
    assert_eq!(header(&secret.stdout), ["NAME", "TYPE", "DATA", "AGE"]);
    assert_eq!(row(&rows(&secret.stdout), "my-secret")[1..3], ["Opaque", "1"]);
    let deploy = rampart.kubectl(&["get", "deploy", "-o", "wide"]).ok();
    assert_eq!(
        header(&deploy.stdout),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    );
    let web2 = row(&rows(&deploy.stdout), "web2").clone();
    assert!(["0/2", "1/2", "2/2"].contains(&web2[1].as_str()), "{web2:?}");
    assert_eq!((web2[5].as_str(), web2[6].as_str(), web2[7].as_str()), ("nginx", "nginx:1.27", "app=web2"));
    let roles = rampart.kubectl(&["get", "roles"]).ok();
    assert_eq!(header(&roles.stdout), ["NAME", "CREATED AT"]);
    assert!(row(&rows(&roles.stdout), "pod-reader")[1].ends_with('Z'), "{}", roles.stdout);
    let rb = rampart.kubectl(&["get", "rolebindings", "-o", "wide"]).ok();
    assert_eq!(header(&rb.stdout), ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]);
    let read = row(&rows(&rb.stdout), "read-pods").clone();
    assert_eq!(
        (read[1].as_str(), read[3].as_str(), read[4].as_str(), read[5].as_str()),
        ("Role/pod-reader", "jane", "dev", "default/bot")
    );
    let crb = rampart.kubectl(&["get", "clusterrolebinding", "read-nodes"]).ok();
    assert_eq!(row(&rows(&crb.stdout), "read-nodes")[1], "ClusterRole/node-reader");
    assert_eq!(header(&rampart.kubectl(&["get", "clusterroles", "node-reader"]).ok().stdout), ["NAME", "CREATED AT"]);
    let svc = rampart.kubectl(&["get", "svc", "-o", "wide"]).ok();
    assert_eq!(header(&svc.stdout), ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]);
    let web = row(&rows(&svc.stdout), "web").clone();
    assert_eq!(
        (web[1].as_str(), web[3].as_str(), web[4].as_str(), web[6].as_str()),
        ("ClusterIP", "<none>", "80/TCP", "app=web")
    );
    assert!(web[2].starts_with("10.100."), "{web:?}");
    let np = row(&rows(&svc.stdout), "np").clone();
    assert!(np[4].starts_with("443:3") && np[4].ends_with("/TCP"), "{np:?}");
    let sa = rampart.kubectl(&["get", "sa", "bot", "-o", "name"]).ok();
    assert_eq!(sa.stdout.trim(), "serviceaccount/bot");
    let ns = rampart.kubectl(&["get", "ns", "dev", "--show-labels"]).ok();
    assert!(ns.stdout.contains("kubernetes.io/metadata.name=dev"), "{}", ns.stdout);
    let again = rampart.kubectl(&["create", "configmap", "my-cm", "--from-literal=a=b"]).failed();
    assert_eq!(again.stderr.trim(), r#"error: failed to create configmap: configmaps "my-cm" already exists"#);
    let dry = rampart.kubectl(&["create", "configmap", "dry", "--from-literal=a=b", "--dry-run=server"]).ok();
    assert_eq!(dry.stdout.trim(), "configmap/dry created (server dry run)");
    rampart.kubectl(&["get", "cm", "dry"]).failed();
}

const KINDS: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: nginx
  labels: {app: nginx}
spec:
  containers:
  - name: nginx
    image: nginx:1.27
    ports: [{containerPort: 80}]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: rs1
spec:
  replicas: 2
  selector: {matchLabels: {app: rs1}}
  template:
    metadata: {labels: {app: rs1}}
    spec:
      containers: [{name: c, image: busybox}]
---
apiVersion: v1
kind: Endpoints
metadata:
  name: web
subsets:
- addresses: [{ip: 10.0.0.5}, {ip: 10.0.0.6}]
  ports: [{port: 8080}]
---
apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels: {node-role.kubernetes.io/worker: ""}
"#;

const EVENT: &str = r#"
apiVersion: v1
kind: Event
metadata:
  name: nginx.17f0a1
involvedObject: {kind: Pod, name: nginx, namespace: default, uid: POD_UID}
reason: Rehearsed
message: Rehearsal of nginx
type: Normal
source: {component: kubelet}
firstTimestamp: "2026-01-01T00:00:00Z"
lastTimestamp: "2026-01-01T00:00:00Z"
count: 3
"#;

#[test]
fn every_kind_reads_back_as_kube_apiserver_prints_it() {
    let rampart = Rampart::start();
    let path = rampart.write_file("kinds.yaml", KINDS);
    rampart.kubectl(&["apply", "-f", path.to_str().unwrap()]).ok();
    let uid = rampart.kubectl(&["get", "pod", "nginx", "-o", "jsonpath={.metadata.uid}"]).ok().stdout;
    let event = rampart.write_file("event.yaml", &EVENT.replace("POD_UID", &uid));
    rampart.kubectl(&["create", "-f", event.to_str().unwrap()]).ok();
    let pods = rampart.kubectl(&["get", "pods", "-o", "wide"]).ok();
    assert_eq!(
        header(&pods.stdout),
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    );
    // Whether a simulated kubelet has started the pod yet or not, the row is kube-apiserver's.
    let nginx = row(&rows(&pods.stdout), "nginx").clone();
    assert!(
        ["0/1", "1/1"].contains(&nginx[1].as_str())
            && ["Pending", "ContainerCreating", "Running"].contains(&nginx[2].as_str()),
        "{nginx:?}"
    );
    let all = rampart.kubectl(&["get", "pods", "-A"]).ok();
    assert_eq!(header(&all.stdout)[..2], ["NAMESPACE", "NAME"]);
    assert_eq!(row(&rows(&all.stdout), "nginx")[0], "default");
    let yaml = rampart.kubectl(&["get", "pod", "nginx", "-o", "yaml"]).ok();
    for line in [
        "restartPolicy: Always",
        "dnsPolicy: ClusterFirst",
        "qosClass: BestEffort",
        "serviceAccountName: default",
        "imagePullPolicy: IfNotPresent",
    ] {
        assert!(yaml.stdout.contains(line), "{line} in\n{}", yaml.stdout);
    }
    let rs = rampart.kubectl(&["get", "rs", "-o", "wide"]).ok();
    assert_eq!(header(&rs.stdout), ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]);
    let rs1 = row(&rows(&rs.stdout), "rs1").clone();
    assert_eq!((rs1[1].as_str(), rs1[5].as_str(), rs1[6].as_str(), rs1[7].as_str()), ("2", "c", "busybox", "app=rs1"));
    let ep = rampart.kubectl(&["get", "endpoints", "web"]).ok();
    assert_eq!(header(&ep.stdout), ["NAME", "ENDPOINTS", "AGE"]);
    assert_eq!(row(&rows(&ep.stdout), "web")[1], "10.0.0.5:8080,10.0.0.6:8080");
    let nodes = rampart.kubectl(&["get", "nodes", "-o", "wide"]).ok();
    assert_eq!(
        header(&nodes.stdout),
        [
            "NAME",
            "STATUS",
            "ROLES",
            "AGE",
            "VERSION",
            "INTERNAL-IP",
            "EXTERNAL-IP",
            "OS-IMAGE",
            "KERNEL-VERSION",
            "CONTAINER-RUNTIME"
        ]
    );
    assert_eq!(row(&rows(&nodes.stdout), "node-1")[1..3], ["Unknown", "worker"]);
    let events = rampart.kubectl(&["get", "events"]).ok();
    assert_eq!(header(&events.stdout), ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]);
    let rehearsed = row(&rows(&events.stdout), "Rehearsed").clone();
    assert_eq!(rehearsed[1..], ["Normal", "Rehearsed", "pod/nginx", "Rehearsal of nginx"]);
    let wide = rampart.kubectl(&["get", "events", "--field-selector", "reason=Rehearsed", "-o", "wide"]).ok();
    assert_eq!(
        header(&wide.stdout),
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "SUBOBJECT", "SOURCE", "MESSAGE", "FIRST SEEN", "COUNT", "NAME"]
    );
    assert!(row(&rows(&wide.stdout), "Rehearsed").contains(&"3".to_string()), "{}", wide.stdout);
    // The same event through events.k8s.io/v1 (stored once, converted).
    let v1 = rampart.kubectl(&["get", "events.v1.events.k8s.io", "nginx.17f0a1", "-o", "json"]).ok();
    let event = json(&v1);
    assert_eq!(
        (event["apiVersion"].as_str(), event["note"].as_str()),
        (Some("events.k8s.io/v1"), Some("Rehearsal of nginx"))
    );
    assert_eq!(event["regarding"]["name"], "nginx");
    // describe reads the object and its events (a field selector on involvedObject).
    let describe = rampart.kubectl(&["describe", "pod", "nginx"]).ok();
    assert!(describe.stdout.contains("Name:             nginx"), "{}", describe.stdout);
    assert!(describe.stdout.contains("Normal  Rehearsed"), "{}", describe.stdout);
    for (kind, name) in [
        ("rs", "rs1"),
        ("endpoints", "web"),
        ("node", "node-1"),
        ("ns", "default"),
        ("sa", "default"),
        ("svc", "kubernetes"),
        ("cm", "kube-root-ca.crt"),
    ] {
        let out = rampart.kubectl(&["describe", kind, name]).ok();
        assert!(out.stdout.contains(name), "describe {kind} {name}: {}", out.stdout);
    }
    let names = rampart.kubectl(&["get", "pod/nginx", "rs/rs1", "ep/web", "-o", "name"]).ok();
    assert_eq!(names.stdout.lines().collect::<Vec<_>>(), ["pod/nginx", "replicaset.apps/rs1", "endpoints/web"]);
    let list = rampart.kubectl(&["get", "cm", "-o", "json"]).ok();
    assert_eq!(json(&list)["kind"], "List");
    let missing = rampart.kubectl(&["get", "pod", "missing"]).failed();
    assert_eq!(missing.stderr.trim(), r#"Error from server (NotFound): pods "missing" not found"#);
    let empty = rampart.kubectl(&["get", "pods", "-n", "kube-public"]).ok();
    assert_eq!(empty.stderr.trim(), "No resources found in kube-public namespace.");
}

#[test]
fn selectors_and_paging() {
    let rampart = Rampart::start();
    for i in 0..7 {
        let name = format!("cm{i}");
        let tier = if i % 2 == 0 { "tier=web" } else { "tier=db" };
        rampart.kubectl(&["create", "configmap", &name, "--from-literal=k=v"]).ok();
        rampart.kubectl(&["label", "configmap", &name, tier]).ok();
    }
    let web = rampart.kubectl(&["get", "cm", "-l", "tier=web", "-o", "name"]).ok();
    assert_eq!(web.stdout.lines().count(), 4, "{}", web.stdout);
    let notin = rampart.kubectl(&["get", "cm", "-l", "tier notin (web),tier", "-o", "name"]).ok();
    assert_eq!(notin.stdout.lines().count(), 3, "{}", notin.stdout);
    let by_name = rampart.kubectl(&["get", "cm", "--field-selector", "metadata.name=cm3", "-o", "name"]).ok();
    assert_eq!(by_name.stdout.trim(), "configmap/cm3");
    // kubectl pages with limit/continue: a page size of 2 still lists all 8 (7 + kube-root-ca.crt).
    let paged = rampart.kubectl(&["get", "cm", "--chunk-size=2", "-o", "name"]).ok();
    assert_eq!(paged.stdout.lines().count(), 8, "{}", paged.stdout);
    let bad = rampart.kubectl(&["get", "cm", "--field-selector", "spec.nodeName=x"]).failed();
    assert!(bad.stderr.contains("field label not supported: spec.nodeName"), "{}", bad.stderr);
    let pods =
        rampart.kubectl(&["get", "pods", "-A", "--field-selector", "status.phase=Running,spec.nodeName=node-1"]).ok();
    assert!(pods.stderr.contains("No resources found"), "{}", pods.stderr);
}
