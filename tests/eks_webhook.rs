//! Webhook mode: the EKS authenticator as a TokenReview webhook and the cluster's authorizer
//! chain as a SubjectAccessReview webhook, driven with the exact JSON kube-apiserver sends,
//! through the webhook kubeconfigs `rampart serve --webhook-listen` writes (a client
//! certificate is required).

mod common;

use common::eks::*;
use serde_json::Value;

/// POSTs `body` with the server, CA and client certificate of `DIR/webhook/<kubeconfig>` (or
/// without a client certificate); returns the status and the body as received.
fn post(rampart: &Rampart, kubeconfig: &str, body: &str, client_certificate: bool) -> (u16, String) {
    let script = r#"
import base64, os, sys, tempfile, requests
path, body, with_cert = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
fields = {}
for line in open(path):
    key, _, value = line.strip().partition(": ")
    fields[key] = value
tmp = tempfile.mkdtemp()
def pem(name, key):
    file = os.path.join(tmp, name)
    open(file, "wb").write(base64.b64decode(fields[key]))
    return file
ca = pem("ca.pem", "certificate-authority-data")
cert = (pem("cert.pem", "client-certificate-data"), pem("key.pem", "client-key-data")) if with_cert else None
r = requests.post(fields["server"], data=body, headers={"Content-Type": "application/json"}, verify=ca, cert=cert)
sys.stdout.write(str(r.status_code) + "\n" + r.text)
"#;
    let path = rampart.data_dir.join("webhook").join(kubeconfig);
    let flag = if client_certificate { "1" } else { "0" };
    let out =
        run(std::process::Command::new("python3").args(["-c", script, path.to_str().unwrap(), body, flag]), None).ok();
    let (status, body) = out.stdout.split_once('\n').unwrap();
    (status.parse().unwrap(), body.to_string())
}

fn token_review(token: &str) -> String {
    format!(
        r#"{{"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1beta1","metadata":{{"creationTimestamp":null}},"spec":{{"token":"{token}"}},"status":{{"user":{{}}}}}}"#
    )
}

fn access_review(user: &Value, namespace: &str, verb: &str, resource: &str) -> String {
    serde_json::json!({
        "kind": "SubjectAccessReview",
        "apiVersion": "authorization.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": {
            "resourceAttributes": {"namespace": namespace, "verb": verb, "version": "v1", "resource": resource},
            "user": user["username"], "groups": user["groups"], "extra": user["extra"], "uid": user["uid"],
        },
        "status": {"allowed": false},
    })
    .to_string()
}

#[test]
fn the_authenticator_and_the_authorizer_chain_serve_kube_apiserver_as_webhooks() {
    let rampart = Rampart::start_with(&["--webhook-listen", "127.0.0.1:0"]);
    assert!(
        rampart.banner.iter().any(|l| l.contains("Webhooks (TokenReview, SubjectAccessReview): https://127.0.0.1:")),
        "{:?}",
        rampart.banner
    );

    // TokenReview: aws-iam-authenticator's answer, byte for byte.
    let token = get_token(&rampart, "default", CLUSTER);
    let (status, body) = post(&rampart, "authenticator.kubeconfig", &token_review(&token), true);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.starts_with(&format!(
            r#"{{"metadata":{{"creationTimestamp":null}},"spec":{{}},"status":{{"authenticated":true,"user":{{"username":"kubernetes-admin","uid":"aws-iam-authenticator:{ACCOUNT}:AIDA"#
        )),
        "{body}"
    );
    assert!(body.ends_with("}}}}\n"), "{body}");
    let admin: Value = serde_json::from_str(&body).unwrap();
    let admin = admin["status"]["user"].clone();
    assert_eq!(admin["groups"], serde_json::json!(["system:masters"]));
    let extra_keys: Vec<&String> = admin["extra"].as_object().unwrap().keys().collect();
    assert_eq!(
        extra_keys,
        [
            "accessKeyId",
            "arn",
            "canonicalArn",
            "principalId",
            "sessionName",
            "sigs.k8s.io/aws-iam-authenticator/principalId"
        ]
    );

    // Refusals: 403 with an empty user; the log says why.
    let other = get_token(&rampart, "default", "another-cluster");
    let (status, body) = post(&rampart, "authenticator.kubeconfig", &token_review(&other), true);
    assert_eq!(
        (status, body.as_str()),
        (403, r#"{"metadata":{"creationTimestamp":null},"spec":{},"status":{"user":{}}}"#)
    );
    assert!(authenticator_log(&rampart).contains("SignatureDoesNotMatch"));
    let (status, body) = post(&rampart, "authenticator.kubeconfig", "not json", true);
    assert_eq!((status, body.as_str()), (400, "expected a request body to be a TokenReview\n"));
    let (status, _) = post(&rampart, "authenticator.kubeconfig", &token_review(&token), false);
    assert_eq!(status, 401, "a client certificate is required");

    // SubjectAccessReview: the cluster's chain decides — system:masters first.
    let (status, body) =
        post(&rampart, "authorizer.kubeconfig", &access_review(&admin, "kube-system", "delete", "secrets"), true);
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["apiVersion"], "authorization.k8s.io/v1");
    assert_eq!(answer["kind"], "SubjectAccessReview");
    assert_eq!(answer["status"]["allowed"], true);

    // EKS access policies: a user known through an access entry with view in team-a.
    set_authentication_mode(&rampart, "API_AND_CONFIG_MAP").ok();
    user_with_profile(&rampart, "dev");
    let dev = format!("arn:aws:iam::{ACCOUNT}:user/dev");
    rampart.aws(&["eks", "create-access-entry", "--cluster-name", CLUSTER, "--principal-arn", &dev]).ok();
    associate_access_policy(
        &rampart,
        CLUSTER,
        &dev,
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
        "type=namespace,namespaces=team-a",
    )
    .ok();
    let (status, body) =
        post(&rampart, "authenticator.kubeconfig", &token_review(&get_token(&rampart, "dev", CLUSTER)), true);
    assert_eq!(status, 200, "{body}");
    let user = serde_json::from_str::<Value>(&body).unwrap()["status"]["user"].clone();
    assert_eq!(user["username"], dev.as_str());
    assert!(user.get("groups").is_none(), "no groups: omitted, as the authenticator omits them: {body}");

    let (_, body) =
        post(&rampart, "authorizer.kubeconfig", &access_review(&user, "team-a", "list", "configmaps"), true);
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["status"]["allowed"], true, "{body}");
    assert!(
        answer["status"]["reason"].as_str().unwrap().starts_with("EKS Access Policy: allowed by RoleBinding"),
        "{body}"
    );
    let (_, body) =
        post(&rampart, "authorizer.kubeconfig", &access_review(&user, "team-b", "list", "configmaps"), true);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["status"]["allowed"], false, "{body}");

    // v1beta1 names the groups `group`.
    let beta = serde_json::json!({
        "kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1beta1",
        "spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}, "user": "someone", "group": ["system:masters"]},
    });
    let (_, body) = post(&rampart, "authorizer.kubeconfig", &beta.to_string(), true);
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (answer["apiVersion"].as_str(), answer["status"]["allowed"].as_bool()),
        (Some("authorization.k8s.io/v1beta1"), Some(true)),
        "{body}"
    );
}
