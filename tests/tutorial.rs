//! The README's quickstart, command for command: the classic "give an IAM user access to EKS"
//! tutorial typed against a fresh `rampart serve`, with the real `aws` CLI and `kubectl` in a
//! temporary HOME, asserting what each command prints — the denials before the role is extended
//! as well as the answers after. If this test changes, the README's quickstart changes with it.

mod common;

use common::eks::*;

const USER_ARN: &str = "arn:aws:iam::123456789012:user/eks-user";

/// The tutorial's first Role: list pods in `default`.
const ROLE: &str = include_str!("data/tutorial/role.yaml");

const ROLE_BINDING: &str = include_str!("data/tutorial/rolebinding.yaml");

/// The tutorial's extended Role.
const ROLE_EXTENDED: &str = include_str!("data/tutorial/role-extended.yaml");

fn forbidden(stderr: &str, verb: &str, resource: &str) -> bool {
    stderr.contains(&format!(
        "Error from server (Forbidden): {resource} is forbidden: User \"eks-user\" cannot {verb} resource \"{resource}\" \
         in API group \"\" in the namespace \"default\""
    ))
}

fn eks_user(rampart: &Rampart, args: &[&str]) -> Output {
    kubectl_as(rampart, "eks-user", args)
}

/// Creates the IAM user and its access key, and configures the `eks-user` profile with
/// `aws configure`, as the tutorial's first steps do; returns the access key ID.
fn iam_user_with_profile(rampart: &Rampart) -> String {
    let user = aws_json(rampart, &["iam", "create-user", "--user-name", "eks-user"]);
    assert_eq!(user["User"]["Arn"], USER_ARN);
    assert_eq!(user["User"]["UserName"], "eks-user");
    let key = aws_json(rampart, &["iam", "create-access-key", "--user-name", "eks-user"]);
    let key_id = key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_string();
    let secret = key["AccessKey"]["SecretAccessKey"].as_str().unwrap().to_string();
    assert!(key_id.starts_with("AKIA") && key_id.len() == 20, "{key_id}");
    assert_eq!(secret.len(), 40);
    assert_eq!(key["AccessKey"]["Status"], "Active");

    let answers = format!("{key_id}\n{secret}\nus-east-1\njson\n");
    let out = run(rampart.command("aws").args(["configure", "--profile", "eks-user"]), Some(&answers)).ok();
    assert!(out.stdout.contains("AWS Access Key ID [None]: "), "{}", out.stdout);
    let identity = json(&aws_as(rampart, "eks-user", &["sts", "get-caller-identity"]).ok());
    assert_eq!(identity["Arn"], USER_ARN);
    assert_eq!(identity["Account"], "123456789012");
    assert_eq!(identity["UserId"], user["User"]["UserId"]);
    key_id
}

#[test]
fn the_quickstart_as_the_readme_tells_it() {
    let rampart = Rampart::start();
    let dir = rampart.data_dir.parent().unwrap().to_path_buf();

    // Something to look at: the admin (the cluster creator, the env file's default profile) runs
    // a deployment whose pod prints a line and waits.
    rampart
        .kubectl(&[
            "create",
            "deployment",
            "web",
            "--image=busybox",
            "--",
            "sh",
            "-c",
            "echo hello from web; sleep 3600",
        ])
        .ok();

    // 1. An IAM user with programmatic access, and its CLI profile.
    let key_id = iam_user_with_profile(&rampart);

    // Not mapped yet: EKS does not know the user.
    let out = eks_user(&rampart, &["get", "pods"]).failed();
    assert!(unauthorized(&out.stderr), "{}", out.stderr);

    // 2. The Role and RoleBinding, applied by the admin.
    let role = rampart.write_file("role.yaml", ROLE);
    let binding = rampart.write_file("rolebinding.yaml", ROLE_BINDING);
    let out = rampart.kubectl(&["apply", "-f", role.to_str().unwrap()]).ok();
    assert_eq!(out.stdout, "role.rbac.authorization.k8s.io/eks-user-role created\n");
    let out = rampart.kubectl(&["apply", "-f", binding.to_str().unwrap()]).ok();
    assert_eq!(out.stdout, "rolebinding.rbac.authorization.k8s.io/eks-user-role-binding created\n");

    // 3. The user in aws-auth's mapUsers, with `kubectl edit`.
    let out = rampart.kubectl(&["get", "configmap", "aws-auth", "-n", "kube-system", "-o", "yaml"]).ok();
    assert!(out.stdout.contains("mapRoles: |"), "a fresh cluster maps its node role:\n{}", out.stdout);
    // `kubectl edit`, with an editor that adds the user under `data` as the reader does by hand.
    let out = edit_aws_auth_map_users(
        &rampart,
        &["- userarn: arn:aws:iam::123456789012:user/eks-user", "  username: eks-user"],
    );
    assert_eq!(out.stdout, "configmap/aws-auth edited\n");

    // 4. The admin checks with impersonation.
    let out = rampart.kubectl(&["get", "pods", "--as", "eks-user"]).ok();
    assert!(out.stdout.starts_with("NAME "), "{}", out.stdout);
    let pod = out.stdout.lines().nth(1).and_then(|l| l.split_whitespace().next()).expect("the web pod").to_string();
    assert!(pod.starts_with("web-"), "{pod}");
    let out = rampart.kubectl(&["get", "secrets", "--as", "eks-user"]).failed();
    assert!(forbidden(&out.stderr, "list", "secrets"), "{}", out.stderr);

    // As the user itself: pods yes, the rest no.
    let out = eks_user(&rampart, &["get", "pods"]).ok();
    assert!(out.stdout.contains(&pod), "{}", out.stdout);
    let out = eks_user(&rampart, &["get", "secrets"]).failed();
    assert!(forbidden(&out.stderr, "list", "secrets"), "{}", out.stderr);
    let out = eks_user(&rampart, &["logs", &pod]).failed();
    assert!(
        out.stderr.contains(&format!(
            "Error from server (Forbidden): pods \"{pod}\" is forbidden: User \"eks-user\" cannot get resource \"pods\" \
             in API group \"\" in the namespace \"default\""
        )),
        "{}",
        out.stderr
    );

    // 5. The extended role.
    let role = rampart.write_file("role.yaml", ROLE_EXTENDED);
    let out = rampart.kubectl(&["apply", "-f", role.to_str().unwrap()]).ok();
    assert_eq!(out.stdout, "role.rbac.authorization.k8s.io/eks-user-role configured\n");

    // 6. export AWS_PROFILE=eks-user, and the user's session.
    let identity = json(&aws_as(&rampart, "eks-user", &["sts", "get-caller-identity"]).ok());
    assert_eq!(identity["Arn"], USER_ARN);
    let out = eks_user(&rampart, &["get", "pods"]).ok();
    assert!(out.stdout.contains(&pod) && out.stdout.contains("Running"), "{}", out.stdout);
    let out = eks_user(&rampart, &["get", "secrets"]).ok();
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", "No resources found in default namespace.\n"));
    let out = eks_user(&rampart, &["get", "configmaps"]).ok();
    assert!(out.stdout.starts_with("NAME "), "{}", out.stdout);
    let out = eks_user(&rampart, &["get", "deployments"]).ok();
    assert!(out.stdout.lines().nth(1).is_some_and(|l| l.starts_with("web ") && l.contains("1/1")), "{}", out.stdout);
    let out = eks_user(&rampart, &["logs", &pod]).ok();
    assert_eq!(out.stdout, "hello from web\n");
    let out = run(
        rampart.command("kubectl").env("AWS_PROFILE", "eks-user").args(["exec", "-i", &pod, "--", "sh"]),
        Some("echo inside $HOSTNAME\nexit\n"),
    )
    .ok();
    assert_eq!(out.stdout, format!("inside {pod}\n"));
    // kubectl 1.32 itself refuses the tutorial's older form, before asking the server.
    let out = eks_user(&rampart, &["exec", "-it", &pod, "sh"]).failed();
    assert!(
        out.stderr
            .contains("error: exec [POD] [COMMAND] is not supported anymore. Use exec [POD] -- [COMMAND] instead"),
        "{}",
        out.stderr
    );
    let out = eks_user(&rampart, &["create", "configmap", "my-cm", "--from-literal=greeting=hello"]).ok();
    assert_eq!(out.stdout, "configmap/my-cm created\n");
    let out =
        eks_user(&rampart, &["create", "secret", "generic", "my-secret", "--from-literal=password=s3cr3t-value"]).ok();
    assert_eq!(out.stdout, "secret/my-secret created\n");
    let out = eks_user(&rampart, &["get", "secrets"]).ok();
    assert!(out.stdout.contains("my-secret ") && out.stdout.contains("Opaque"), "{}", out.stdout);

    // 7. What the user may do.
    let out = eks_user(&rampart, &["auth", "can-i", "get", "pods"]).ok();
    assert_eq!(out.stdout, "yes\n");
    let out = eks_user(&rampart, &["auth", "can-i", "*", "*"]);
    assert_eq!((out.code, out.stdout.as_str()), (1, "no\n"));
    let out = eks_user(&rampart, &["auth", "whoami", "-o", "json"]).ok();
    let review = json(&out);
    assert_eq!(review["status"]["userInfo"]["username"], "eks-user");
    assert_eq!(review["status"]["userInfo"]["extra"]["arn"][0], USER_ARN);
    assert_eq!(review["status"]["userInfo"]["extra"]["accessKeyId"][0], key_id.as_str());

    // The tour: what EKS does not give.
    let aws_auth = rampart.kubectl(&["get", "configmap", "aws-auth", "-n", "kube-system", "-o", "yaml"]).ok().stdout;
    let aws_auth = rampart.write_file("aws-auth.yaml", &aws_auth);
    let manifests = ["-f", aws_auth.to_str().unwrap(), "-f", role.to_str().unwrap(), "-f", binding.to_str().unwrap()];
    let mut args = vec!["auth", "can-i", "delete", "secrets", "--as-arn", USER_ARN, "--explain"];
    args.extend(manifests);
    let out = rampart.rampart(&args).ok();
    assert!(out.stdout.starts_with("yes\n"), "{}", out.stdout);
    assert!(out.stdout.contains("eks-user-role-binding") && out.stdout.contains("eks-user-role"), "{}", out.stdout);
    let mut args = vec!["auth", "can-i", "get", "nodes", "--as-arn", USER_ARN, "--explain"];
    args.extend(manifests);
    let out = rampart.rampart(&args);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.starts_with("no\n"), "{}", out.stdout);
    let mut args = vec!["who-can", "get", "secrets"];
    args.extend(manifests);
    let out = rampart.rampart(&args).ok();
    assert!(out.stdout.contains("eks-user-role-binding") && out.stdout.contains("eks-user"), "{}", out.stdout);
    assert!(out.stdout.contains(USER_ARN), "the IAM principal behind eks-user: {}", out.stdout);

    // aws-auth writes that would lock users out are refused, and the ConfigMap stays as it was.
    let broken = std::fs::read_to_string(&aws_auth).unwrap().replace("username: eks-user", "username: [eks-user");
    let broken = rampart.write_file("aws-auth-broken.yaml", &broken);
    let out = rampart.kubectl(&["apply", "-f", broken.to_str().unwrap()]).failed();
    assert!(out.stderr.contains("data.mapUsers"), "{}", out.stderr);
    let out = eks_user(&rampart, &["get", "pods"]).ok();
    assert!(out.stdout.contains(&pod), "the mapping still holds: {}", out.stdout);

    // The audit log names the IAM identity behind each request, and no secret.
    let audit = std::fs::read_to_string(rampart.data_dir.join("logs/rampart/audit.log")).unwrap();
    let denied = audit
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|event| {
            event["user"]["username"] == "eks-user"
                && event["objectRef"]["resource"] == "secrets"
                && event["annotations"]["authorization.k8s.io/decision"] == "forbid"
        })
        .expect("the forbidden list of secrets is audited");
    assert_eq!(denied["user"]["extra"]["arn"][0], USER_ARN);
    assert_eq!(denied["responseStatus"]["code"], 403);
    assert!(
        !audit.contains("s3cr3t-value") && !audit.contains("czNjcjN0LXZhbHVl"),
        "no secret payload in the audit log"
    );
    assert!(dir.join("role.yaml").is_file());
}

/// The tutorial's other way to edit aws-auth: save it, edit the file, apply it.
#[test]
fn aws_auth_saved_edited_and_applied() {
    let rampart = Rampart::start();
    iam_user_with_profile(&rampart);
    let saved = rampart.kubectl(&["get", "configmap", "aws-auth", "-n", "kube-system", "-o", "yaml"]).ok().stdout;
    let edited = saved.replacen(
        "\ndata:\n",
        "\ndata:\n  mapUsers: |\n    - userarn: arn:aws:iam::123456789012:user/eks-user\n      username: eks-user\n",
        1,
    );
    assert_ne!(saved, edited);
    let file = rampart.write_file("aws-auth.yaml", &edited);
    let out = rampart.kubectl(&["apply", "-f", file.to_str().unwrap()]).ok();
    assert_eq!(out.stdout, "configmap/aws-auth configured\n");
    // Mapped, but bound to nothing: authenticated, and forbidden.
    let out = eks_user(&rampart, &["get", "pods"]).failed();
    assert!(forbidden(&out.stderr, "list", "pods"), "{}", out.stderr);
    let out = eks_user(&rampart, &["auth", "whoami"]).ok();
    assert!(out.stdout.contains("eks-user") && out.stdout.contains("system:authenticated"), "{}", out.stdout);
}
