//! The EKS access tutorial's pod steps with the real `aws` CLI and kubectl against `rampart
//! serve`: an IAM user mapped through aws-auth into a group, the group bound to a Role with
//! `pods/log` and `pods/exec`, and that user running `kubectl logs` and `kubectl exec` through
//! the `aws eks get-token` exec plugin — forbidden before the binding, allowed after it.

mod common;

use std::time::{Duration, Instant};

use common::eks::*;

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

const POD_SHELL_ROLE: &str = "apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: pod-shell
  namespace: default
rules:
- apiGroups: [\"\"]
  resources: [\"pods\"]
  verbs: [\"get\", \"list\"]
- apiGroups: [\"\"]
  resources: [\"pods/log\"]
  verbs: [\"get\"]
- apiGroups: [\"\"]
  resources: [\"pods/exec\"]
  verbs: [\"get\", \"create\"]
";

#[test]
fn an_iam_user_bound_by_rbac_gets_logs_and_a_shell() {
    let rampart = Rampart::start();
    rampart.kubectl(&["run", "web", "--image=busybox", "--", "sh", "-c", "echo hello from web; sleep 3600"]).ok();
    wait_until("pod web running", || {
        rampart.kubectl(&["get", "pod", "web", "-o", "jsonpath={.status.phase}"]).ok().stdout == "Running"
    });

    user_with_profile(&rampart, "dev");
    edit_aws_auth_map_users(
        &rampart,
        &[&format!("- userarn: arn:aws:iam::{ACCOUNT}:user/dev"), "  username: dev", "  groups:", "  - pod-shell"],
    );
    let forbidden = |verb: &str, resource: &str| {
        format!(
            "Error from server (Forbidden): pods \"web\" is forbidden: User \"dev\" cannot {verb} resource \"{resource}\" in API group \"\" in the namespace \"default\"\n"
        )
    };
    // Mapped, but bound to nothing yet.
    let out = kubectl_as(&rampart, "dev", &["logs", "web"]).failed();
    assert!(out.stderr.ends_with(&forbidden("get", "pods")), "{out:?}");

    let role = rampart.write_file("pod-shell.yaml", POD_SHELL_ROLE);
    rampart.kubectl(&["apply", "-f", role.to_str().unwrap()]).ok();
    rampart.kubectl(&["create", "rolebinding", "pod-shell", "--role=pod-shell", "--group=pod-shell"]).ok();

    assert_eq!(kubectl_as(&rampart, "dev", &["logs", "web"]).ok().stdout, "hello from web\n");
    assert_eq!(kubectl_as(&rampart, "dev", &["exec", "web", "--", "echo", "hi"]).ok().stdout, "hi\n");
    let out = run(
        rampart.command("kubectl").env("AWS_PROFILE", "dev").args([
            "exec",
            "-i",
            "web",
            "--",
            "sh",
            "-c",
            "cat; exit 5",
        ]),
        Some("typed\n"),
    );
    assert_eq!((out.code, out.stdout.as_str()), (5, "typed\n"), "{out:?}");
    // Nothing beyond the Role: no deleting, no attaching.
    let out = kubectl_as(&rampart, "dev", &["delete", "pod", "web"]).failed();
    assert_eq!(out.stderr, forbidden("delete", "pods"));
    let out = kubectl_as(&rampart, "dev", &["auth", "can-i", "create", "pods", "--subresource=exec"]);
    assert_eq!(out.stdout, "yes\n", "{out:?}");
    let out = kubectl_as(&rampart, "dev", &["auth", "can-i", "create", "pods", "--subresource=attach"]);
    assert_eq!(out.stdout, "no\n", "{out:?}");
}
