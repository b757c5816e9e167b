//! The AWS side with the real `aws` CLI: a first start gives a working default profile; a user
//! created through IAM works as a new `aws configure` profile; wrong secrets, inactive keys and
//! deleted users' keys are refused with AWS's errors; policy documents round-trip; a restart keeps
//! everything.

mod common;

use common::{Output, Rampart, run};

fn aws_stdin(rampart: &Rampart, args: &[&str], stdin: &str) -> Output {
    run(rampart.command("aws").args(args), Some(stdin))
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_str(&output.stdout).unwrap_or_else(|err| panic!("not JSON ({err}): {}", output.stdout))
}

/// Creates an IAM user with an access key as the administrator; returns (key id, secret).
fn create_user_with_key(rampart: &Rampart, name: &str) -> (String, String) {
    rampart.aws(&["iam", "create-user", "--user-name", name]).ok();
    let key = json(&rampart.aws(&["iam", "create-access-key", "--user-name", name]).ok());
    let id = key["AccessKey"]["AccessKeyId"].as_str().unwrap().to_string();
    let secret = key["AccessKey"]["SecretAccessKey"].as_str().unwrap().to_string();
    (id, secret)
}

fn configure(rampart: &Rampart, profile: &str, id: &str, secret: &str) {
    aws_stdin(rampart, &["configure", "--profile", profile], &format!("{id}\n{secret}\nus-east-1\njson\n")).ok();
}

#[test]
fn first_start_then_a_new_profile() {
    let rampart = Rampart::start();
    for name in
        ["AWS_ENDPOINT_URL", "AWS_CA_BUNDLE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_DEFAULT_REGION"]
    {
        assert!(rampart.env.contains_key(name), "the env file sets {name}: {:?}", rampart.env);
    }
    assert!(rampart.env["AWS_ENDPOINT_URL"].starts_with("https://127.0.0.1:"));
    assert!(
        rampart.banner.iter().any(|line| line.contains("arn:aws:iam::123456789012:user/admin")),
        "{:?}",
        rampart.banner
    );

    let admin = json(&rampart.aws(&["sts", "get-caller-identity"]).ok());
    assert_eq!(admin["Account"], "123456789012");
    assert_eq!(admin["Arn"], "arn:aws:iam::123456789012:user/admin");
    assert!(admin["UserId"].as_str().unwrap().starts_with("AIDA"));

    // The tutorial's second identity: a new user configured as its own profile.
    let (id, secret) = create_user_with_key(&rampart, "eks-user");
    assert!(id.starts_with("AKIA") && id.len() == 20 && secret.len() == 40);
    configure(&rampart, "eks-user", &id, &secret);
    let user = json(&rampart.aws(&["sts", "get-caller-identity", "--profile", "eks-user"]).ok());
    assert_eq!(user["Arn"], "arn:aws:iam::123456789012:user/eks-user");
    // It has no permissions yet: IAM says so in AWS's words.
    let denied = rampart.aws(&["iam", "list-users", "--profile", "eks-user"]).failed();
    assert!(
        denied.stderr.contains(
            "An error occurred (AccessDenied) when calling the ListUsers operation: User: \
             arn:aws:iam::123456789012:user/eks-user is not authorized to perform: iam:ListUsers on resource: \
             arn:aws:iam::123456789012:user/ because no identity-based policy allows the iam:ListUsers action"
        ),
        "{}",
        denied.stderr
    );
    rampart
        .aws(&[
            "iam",
            "attach-user-policy",
            "--user-name",
            "eks-user",
            "--policy-arn",
            "arn:aws:iam::aws:policy/IAMReadOnlyAccess",
        ])
        .ok();
    rampart.aws(&["iam", "list-users", "--profile", "eks-user"]).ok();
}

#[test]
fn wrong_secrets_inactive_keys_and_deleted_users_are_refused() {
    let rampart = Rampart::start();
    let (id, secret) = create_user_with_key(&rampart, "carol");

    let mut wrong = secret.clone();
    wrong.replace_range(0..1, if secret.starts_with('A') { "B" } else { "A" });
    configure(&rampart, "wrong", &id, &wrong);
    let refused = rampart.aws(&["sts", "get-caller-identity", "--profile", "wrong"]).failed();
    assert!(
        refused.stderr.contains(
            "An error occurred (SignatureDoesNotMatch) when calling the GetCallerIdentity operation: The request \
             signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and \
             signing method. Consult the service documentation for details."
        ),
        "{}",
        refused.stderr
    );
    configure(&rampart, "unknown", "AKIAUNKNOWNKEY000000", &secret);
    let unknown = rampart.aws(&["sts", "get-caller-identity", "--profile", "unknown"]).failed();
    assert!(
        unknown.stderr.contains("(InvalidClientTokenId) when calling the GetCallerIdentity operation: The security token included in the request is invalid."),
        "{}",
        unknown.stderr
    );

    configure(&rampart, "carol", &id, &secret);
    rampart.aws(&["sts", "get-caller-identity", "--profile", "carol"]).ok();
    rampart
        .aws(&["iam", "update-access-key", "--user-name", "carol", "--access-key-id", &id, "--status", "Inactive"])
        .ok();
    let inactive = rampart.aws(&["sts", "get-caller-identity", "--profile", "carol"]).failed();
    assert!(inactive.stderr.contains("(InvalidClientTokenId)"), "{}", inactive.stderr);
    let keys = json(&rampart.aws(&["iam", "list-access-keys", "--user-name", "carol"]).ok());
    assert_eq!(keys["AccessKeyMetadata"][0]["Status"], "Inactive");
    rampart
        .aws(&["iam", "update-access-key", "--user-name", "carol", "--access-key-id", &id, "--status", "Active"])
        .ok();
    rampart.aws(&["sts", "get-caller-identity", "--profile", "carol"]).ok();
    let used = json(&rampart.aws(&["iam", "get-access-key-last-used", "--access-key-id", &id]).ok());
    assert_eq!(used["UserName"], "carol");
    assert_eq!(used["AccessKeyLastUsed"]["ServiceName"], "sts");
    assert_eq!(used["AccessKeyLastUsed"]["Region"], "us-east-1");

    // A user with a key cannot be deleted; once the key and the user are gone, so is access.
    let conflict = rampart.aws(&["iam", "delete-user", "--user-name", "carol"]).failed();
    assert!(
        conflict.stderr.contains("(DeleteConflict) when calling the DeleteUser operation: Cannot delete entity, must delete access keys first."),
        "{}",
        conflict.stderr
    );
    rampart.aws(&["iam", "delete-access-key", "--user-name", "carol", "--access-key-id", &id]).ok();
    rampart.aws(&["iam", "delete-user", "--user-name", "carol"]).ok();
    let deleted = rampart.aws(&["sts", "get-caller-identity", "--profile", "carol"]).failed();
    assert!(deleted.stderr.contains("(InvalidClientTokenId)"), "{}", deleted.stderr);
    let missing = rampart.aws(&["iam", "get-user", "--user-name", "carol"]).failed();
    assert!(
        missing
            .stderr
            .contains("(NoSuchEntity) when calling the GetUser operation: The user with name carol cannot be found."),
        "{}",
        missing.stderr
    );
}

#[test]
fn policy_documents_round_trip_and_malformed_ones_are_named() {
    let rampart = Rampart::start();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;
    let role = json(
        &rampart
            .aws(&[
                "iam",
                "create-role",
                "--role-name",
                "EKSAdmins",
                "--path",
                "/eks/",
                "--assume-role-policy-document",
                trust,
            ])
            .ok(),
    );
    assert_eq!(role["Role"]["Arn"], "arn:aws:iam::123456789012:role/eks/EKSAdmins");
    assert!(role["Role"]["RoleId"].as_str().unwrap().starts_with("AROA"));
    // The CLI URL-decodes the document and shows it as JSON.
    let got = json(&rampart.aws(&["iam", "get-role", "--role-name", "EKSAdmins"]).ok());
    assert_eq!(got["Role"]["AssumeRolePolicyDocument"], serde_json::from_str::<serde_json::Value>(trust).unwrap());
    assert_eq!(got["Role"]["MaxSessionDuration"], 3600);

    let bad = rampart
        .aws(&[
            "iam",
            "put-role-policy",
            "--role-name",
            "EKSAdmins",
            "--policy-name",
            "p",
            "--policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"eks:*"}]}"#,
        ])
        .failed();
    assert!(
        bad.stderr.contains("(MalformedPolicyDocument) when calling the PutRolePolicy operation: Policy statement must contain resources."),
        "{}",
        bad.stderr
    );
    let garbage =
        rampart.aws(&["iam", "create-policy", "--policy-name", "p", "--policy-document", "{not json"]).failed();
    assert!(garbage.stderr.contains("(MalformedPolicyDocument)"), "{}", garbage.stderr);
    let nobody = rampart
        .aws(&["iam", "update-assume-role-policy", "--role-name", "EKSAdmins", "--policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/nobody"},"Action":"sts:AssumeRole"}]}"#])
        .failed();
    assert!(
        nobody.stderr.contains(r#"Invalid principal in policy: "AWS":"arn:aws:iam::123456789012:user/nobody""#),
        "{}",
        nobody.stderr
    );
    // Nothing half-written: the trust policy is the one it was.
    let after = json(&rampart.aws(&["iam", "get-role", "--role-name", "EKSAdmins"]).ok());
    assert_eq!(after["Role"]["AssumeRolePolicyDocument"], got["Role"]["AssumeRolePolicyDocument"]);
    let invalid_name = rampart.aws(&["iam", "create-user", "--user-name", "bad name"]).failed();
    assert!(invalid_name.stderr.contains("(ValidationError)"), "{}", invalid_name.stderr);
}
#[test]
fn a_restart_keeps_iam_state_the_administrator_and_profiles() {
    let mut rampart = Rampart::start();
    let admin = json(&rampart.aws(&["sts", "get-caller-identity"]).ok());
    let (id, secret) = create_user_with_key(&rampart, "eks-user");
    configure(&rampart, "eks-user", &id, &secret);
    rampart
        .aws(&[
            "iam",
            "attach-user-policy",
            "--user-name",
            "eks-user",
            "--policy-arn",
            "arn:aws:iam::aws:policy/IAMReadOnlyAccess",
        ])
        .ok();
    let user = json(&rampart.aws(&["sts", "get-caller-identity", "--profile", "eks-user"]).ok());

    // A restart keeps IAM state, the administrator's key and the user's profile.
    let credentials_before = std::fs::read_to_string(&rampart.env["AWS_SHARED_CREDENTIALS_FILE"]).unwrap();
    rampart.restart();
    let credentials_after = std::fs::read_to_string(&rampart.env["AWS_SHARED_CREDENTIALS_FILE"]).unwrap();
    assert_eq!(credentials_before, credentials_after);
    assert_eq!(json(&rampart.aws(&["sts", "get-caller-identity"]).ok()), admin);
    assert_eq!(json(&rampart.aws(&["sts", "get-caller-identity", "--profile", "eks-user"]).ok()), user);
    let attached = json(&rampart.aws(&["iam", "list-attached-user-policies", "--user-name", "eks-user"]).ok());
    assert_eq!(attached["AttachedPolicies"][0]["PolicyName"], "IAMReadOnlyAccess");
    rampart.aws(&["iam", "list-users", "--profile", "eks-user"]).ok();
}
