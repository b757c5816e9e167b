//! What the real kubectl prints when the server says no, each as kube-apiserver words it, and
//! nothing stored from a refused request: 413, malformed and mistyped bodies, Invalid,
//! AlreadyExists, Conflict, NotFound, MethodNotAllowed, Forbidden (a service-account user, not in
//! system:masters), Unauthorized; namespace lifecycle; who am I and can-i.

mod common;

use common::kubectl::*;

#[test]
fn bad_bodies_are_refused_and_nothing_is_stored() {
    let rampart = Rampart::start();
    let big = rampart.write_file("big.txt", &"x".repeat(4 * 1024 * 1024));
    let from_file = format!("--from-file=big={}", big.display());
    let out = rampart.kubectl(&["create", "configmap", "big", &from_file]).failed();
    assert_eq!(out.stderr.trim(), "error: failed to create configmap: Request entity too large: limit is 3145728");
    rampart.kubectl(&["get", "cm", "big"]).failed();

    let garbage = rampart.write_file("garbage.json", "{\"metadata\": {\"name\": ");
    let out = rampart
        .kubectl(&["create", "--raw", "/api/v1/namespaces/default/configmaps", "-f", garbage.to_str().unwrap()])
        .failed();
    assert!(
        out.stderr.starts_with("Error from server (BadRequest): the object provided is unrecognized (must be of type ConfigMap): couldn't get version/kind; json parse error:"),
        "{}",
        out.stderr
    );
    let secret = rampart.write_file("secret.json", r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}"#);
    let out = rampart
        .kubectl(&["create", "--raw", "/api/v1/namespaces/default/configmaps", "-f", secret.to_str().unwrap()])
        .failed();
    assert_eq!(
        out.stderr.trim(),
        r#"Error from server (BadRequest): Secret in version "v1" cannot be handled as a ConfigMap: converting (v1.Secret) to (core.ConfigMap): unknown conversion"#
    );
    rampart.kubectl(&["get", "secret", "s"]).failed();

    let out = rampart.kubectl(&["create", "configmap", "Bad_Name", "--from-literal=a=b"]).failed();
    assert!(
        out.stderr.starts_with(r#"error: failed to create configmap: ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of"#),
        "{}",
        out.stderr
    );
    let keys = rampart.write_file(
        "keys.json",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"keys"},"data":{"bad key":"b"}}"#,
    );
    let out = rampart.kubectl(&["create", "-f", keys.to_str().unwrap(), "--validate=false"]).failed();
    assert!(
        out.stderr.contains(
            r#"data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters"#
        ),
        "{}",
        out.stderr
    );
    let deploy = rampart.write_file("d.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  selector: {matchLabels: {app: a}}\n  template:\n    metadata: {labels: {app: b}}\n    spec: {containers: [{name: c, image: i}]}\n");
    let out = rampart.kubectl(&["apply", "-f", deploy.to_str().unwrap()]).failed();
    assert!(
        out.stderr.contains(r#"The Deployment "d" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{"app":"b"}: `selector` does not match template `labels`"#),
        "{}",
        out.stderr
    );
    rampart.kubectl(&["get", "deploy", "d"]).failed();
    let out = rampart.kubectl(&["get", "--raw", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]).failed();
    assert_eq!(
        out.stderr.trim(),
        "Error from server (MethodNotAllowed): the server does not allow this method on the requested resource"
    );
    let out = rampart.kubectl(&["get", "--raw", "/apis/nothing.example.com/v1/things"]).failed();
    assert_eq!(out.stderr.trim(), "Error from server (NotFound): the server could not find the requested resource");
}

#[test]
fn updates_are_optimistic_and_rolebindings_keep_their_role() {
    let rampart = Rampart::start();
    rampart.kubectl(&["create", "configmap", "x", "--from-literal=a=b"]).ok();
    let stale = rampart.kubectl(&["get", "cm", "x", "-o", "yaml"]).ok().stdout;
    rampart.kubectl(&["label", "cm", "x", "moved=on"]).ok();
    let file = rampart.write_file("x.yaml", &stale.replace("a: b", "a: c"));
    let out = rampart.kubectl(&["replace", "-f", file.to_str().unwrap()]).failed();
    assert!(
        out.stderr.starts_with("Error from server (Conflict): error when replacing")
            && out.stderr.trim().ends_with(r#"Operation cannot be fulfilled on configmaps "x": the object has been modified; please apply your changes to the latest version and try again"#),
        "{}",
        out.stderr
    );
    assert_eq!(rampart.kubectl(&["get", "cm", "x", "-o", "jsonpath={.data.a}"]).ok().stdout, "b");
    rampart.kubectl(&["create", "rolebinding", "rb", "--clusterrole=view", "--user=jane"]).ok();
    let out = rampart
        .kubectl(&["patch", "rolebinding", "rb", "--type=merge", "-p", r#"{"roleRef":{"name":"edit"}}"#])
        .failed();
    assert!(
        out.stderr.contains("roleRef: Invalid value:") && out.stderr.contains("cannot change roleRef"),
        "{}",
        out.stderr
    );
}

#[test]
fn namespace_lifecycle() {
    let rampart = Rampart::start();
    let out = rampart.kubectl(&["create", "configmap", "c", "--from-literal=a=b", "-n", "nope"]).failed();
    assert_eq!(out.stderr.trim(), r#"error: failed to create configmap: namespaces "nope" not found"#);
    let out = rampart.kubectl(&["delete", "ns", "default"]).failed();
    assert_eq!(
        out.stderr.trim(),
        r#"Error from server (Forbidden): namespaces "default" is forbidden: this namespace may not be deleted"#
    );
    rampart.kubectl(&["create", "ns", "team"]).ok();
    rampart.kubectl(&["create", "configmap", "c", "--from-literal=a=b", "-n", "team"]).ok();
    rampart.kubectl(&["create", "deployment", "d", "--image=nginx", "-n", "team"]).ok();
    let out = rampart.kubectl(&["delete", "ns", "team", "--timeout=60s"]).ok();
    assert_eq!(out.stdout.trim(), r#"namespace "team" deleted"#);
    rampart.kubectl(&["get", "ns", "team"]).failed();
    let left = rampart.kubectl(&["get", "cm,deploy,sa", "-n", "team", "-o", "name"]).ok();
    assert_eq!(left.stdout.trim(), "", "the namespace's contents went with it");
}

#[test]
fn other_users_are_forbidden_in_kube_apiserver_words() {
    let rampart = Rampart::start();
    rampart.kubectl(&["create", "serviceaccount", "bob"]).ok();
    let token = rampart.kubectl(&["create", "token", "bob"]).ok().stdout.trim().to_string();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let bob = token_kubeconfig(&rampart, "bob.kubeconfig", &token);
    let bob = bob.to_str().unwrap();
    // Raw paths: what bob is refused, in kube-apiserver's words (discovery and /version are
    // everyone's through the bootstrap policy).
    let out = rampart.kubectl(&["--kubeconfig", bob, "get", "--raw", "/api/v1/namespaces/default/pods"]).failed();
    assert_eq!(
        out.stderr.trim(),
        r#"Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:default:bob" cannot list resource "pods" in API group "" in the namespace "default""#
    );
    let out = rampart
        .kubectl(&["--kubeconfig", bob, "get", "--raw", "/apis/apps/v1/namespaces/kube-system/deployments/web"])
        .failed();
    assert_eq!(
        out.stderr.trim(),
        r#"Error from server (Forbidden): deployments.apps "web" is forbidden: User "system:serviceaccount:default:bob" cannot get resource "deployments" in API group "apps" in the namespace "kube-system""#
    );
    let out = rampart.kubectl(&["--kubeconfig", bob, "get", "--raw", "/version"]).ok();
    assert!(out.stdout.contains("\"minor\": \"32\""), "system:public-info-viewer: {}", out.stdout);
    let out = rampart.kubectl(&["--kubeconfig", bob, "get", "--raw", "/logs"]).failed();
    assert_eq!(
        out.stderr.trim(),
        r#"Error from server (Forbidden): forbidden: User "system:serviceaccount:default:bob" cannot get path "/logs""#
    );
    // The admin can ask about bob (SubjectAccessReview answers from the same authorizers).
    let sar = rampart.write_file(
        "sar.json",
        r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"system:serviceaccount:default:bob","groups":["system:serviceaccounts"],"resourceAttributes":{"namespace":"default","verb":"list","resource":"pods"}}}"#,
    );
    let review = json(&rampart.kubectl(&["create", "-f", sar.to_str().unwrap(), "-o", "json"]).ok());
    assert_eq!(review["status"]["allowed"], false);
    let token_review = rampart.write_file(
        "tr.json",
        &format!(r#"{{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{{"token":"{token}"}}}}"#),
    );
    let review = json(&rampart.kubectl(&["create", "-f", token_review.to_str().unwrap(), "-o", "json"]).ok());
    assert_eq!(
        (review["status"]["authenticated"].as_bool(), review["status"]["user"]["username"].as_str()),
        (Some(true), Some("system:serviceaccount:default:bob"))
    );

    let admin = rampart.kubectl(&["auth", "whoami"]).ok();
    assert!(
        admin.stdout.contains("kubernetes-admin") && admin.stdout.contains("[system:masters system:authenticated]"),
        "{}",
        admin.stdout
    );
    let yes = rampart.kubectl(&["auth", "can-i", "delete", "nodes"]);
    assert_eq!((yes.code, yes.stdout.trim()), (0, "yes"));
    let list = rampart.kubectl(&["auth", "can-i", "--list"]).ok();
    assert!(list.stdout.lines().any(|l| l.starts_with("*.*") && l.contains("[*]")), "{}", list.stdout);

    let bogus = token_kubeconfig(&rampart, "bogus.kubeconfig", "not-a-token");
    let out = rampart.kubectl(&["--kubeconfig", bogus.to_str().unwrap(), "get", "pods"]).failed();
    assert!(out.stderr.trim().ends_with("error: You must be logged in to the server (Unauthorized)"), "{}", out.stderr);
    // A deleted service account's tokens stop working.
    rampart.kubectl(&["delete", "serviceaccount", "bob"]).ok();
    let out = rampart.kubectl(&["--kubeconfig", bob, "get", "pods"]).failed();
    assert!(out.stderr.trim().ends_with("error: You must be logged in to the server (Unauthorized)"), "{}", out.stderr);
}
