//! STS and policy decisions against the running binary, with identities declared in a
//! `--config` file: cross-account AssumeRole allowed and denied by the trust policy, ExternalId,
//! role chaining's one-hour cap, session policies, GetSessionToken (and IAM refusing its
//! credentials), explicit denies and condition-based denies, and a clock-skewed request.

mod common;

use common::{Rampart, run};

const CONFIG: &str = r#"
aws:
  accounts:
    - id: "111122223333"
      users:
        - name: partner
          inlinePolicies:
            assume: {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
          accessKeys:
            - id: AKIAPARTNER000000001
              secret: partner-secret-0000000000000000000000000
        - name: stranger
          accessKeys:
            - id: AKIASTRANGER00000001
              secret: stranger-secret-000000000000000000000000
    - id: "123456789012"
      users:
        - name: restricted
          policies: [AdministratorAccess]
          inlinePolicies:
            no-delete: {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:DeleteUser", "Resource": "*"}]}
            not-from-loopback: {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:CreateGroup", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}}]}
            us-only: {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "iam:CreatePolicy", "Resource": "*", "Condition": {"StringNotEquals": {"aws:RequestedRegion": "us-east-1"}}}]}
          accessKeys:
            - id: AKIARESTRICTED000001
              secret: restricted-secret-0000000000000000000000
      roles:
        - name: CrossAccount
          maxSessionDuration: 7200
          assumeRolePolicy: {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "sts:AssumeRole"}]}
          policies: [IAMReadOnlyAccess]
          inlinePolicies:
            chain: {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
        - name: ExternalOnly
          assumeRolePolicy: {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "111122223333"}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"sts:ExternalId": "s3cret-id"}}}]}
        - name: Closed
          assumeRolePolicy: {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "999999999999"}, "Action": "sts:AssumeRole"}]}
        - name: Chained
          maxSessionDuration: 43200
          assumeRolePolicy: {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/CrossAccount"}, "Action": "sts:AssumeRole"}]}
"#;

const SCRIPT: &str = r#"
import datetime, json, os, boto3, botocore.auth
from botocore.exceptions import ClientError

def client(service, key=None, secret=None, token=None, region=None):
    return boto3.client(service, aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token, region_name=region)

def fails(call, **kwargs):
    try:
        call(**kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    raise AssertionError(f"{call.__name__} {kwargs} unexpectedly succeeded")

PARTNER = ("AKIAPARTNER000000001", "partner-secret-0000000000000000000000000")
partner = client("sts", *PARTNER)
assert partner.get_caller_identity()["Arn"] == "arn:aws:iam::111122223333:user/partner"

# Cross-account, allowed by both the trust policy and the partner's own policy.
assumed = partner.assume_role(RoleArn="arn:aws:iam::123456789012:role/CrossAccount", RoleSessionName="s1")
creds = assumed["Credentials"]
assert creds["AccessKeyId"].startswith("ASIA") and creds["SessionToken"]
assert assumed["AssumedRoleUser"]["Arn"] == "arn:aws:sts::123456789012:assumed-role/CrossAccount/s1"
role_id = boto3.client("iam").get_role(RoleName="CrossAccount")["Role"]["RoleId"]
assert assumed["AssumedRoleUser"]["AssumedRoleId"] == f"{role_id}:s1"
expiry = creds["Expiration"] - datetime.datetime.now(datetime.timezone.utc)
assert datetime.timedelta(minutes=58) < expiry <= datetime.timedelta(hours=1), expiry
session = (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
me = client("sts", *session).get_caller_identity()
assert me == {**me, "Account": "123456789012", "Arn": "arn:aws:sts::123456789012:assumed-role/CrossAccount/s1", "UserId": f"{role_id}:s1"}, me
role_iam = client("iam", *session)
role_iam.list_users()
assert fails(role_iam.create_user, UserName="x") == ("AccessDenied",
    "User: arn:aws:sts::123456789012:assumed-role/CrossAccount/s1 is not authorized to perform: iam:CreateUser on resource: "
    "arn:aws:iam::123456789012:user/x because no identity-based policy allows the iam:CreateUser action")
assert fails(client("sts", *session[:2]).get_caller_identity)[0] == "InvalidClientTokenId"
assert fails(client("sts", session[0], session[1], session[2][:-4] + "AAAA").get_caller_identity)[0] == "InvalidClientTokenId"
last = boto3.client("iam").get_role(RoleName="CrossAccount")["Role"]["RoleLastUsed"]
assert last["Region"] == "us-east-1" and "LastUsedDate" in last, last

# A session policy narrows the role.
narrowed = partner.assume_role(RoleArn="arn:aws:iam::123456789012:role/CrossAccount", RoleSessionName="narrow",
    Policy=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}]}))
assert narrowed["PackedPolicySize"] > 0
narrow_iam = client("iam", narrowed["Credentials"]["AccessKeyId"], narrowed["Credentials"]["SecretAccessKey"], narrowed["Credentials"]["SessionToken"])
narrow_iam.list_roles()
assert fails(narrow_iam.list_users)[1].endswith("because no session policy allows the iam:ListUsers action")

# Durations: the role's maximum, and role chaining's one hour.
partner.assume_role(RoleArn="arn:aws:iam::123456789012:role/CrossAccount", RoleSessionName="long", DurationSeconds=7200)
assert fails(partner.assume_role, RoleArn="arn:aws:iam::123456789012:role/CrossAccount", RoleSessionName="long", DurationSeconds=7201) == \
    ("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
role_sts = client("sts", *session)
chained = role_sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/Chained", RoleSessionName="hop")
assert chained["AssumedRoleUser"]["Arn"] == "arn:aws:sts::123456789012:assumed-role/Chained/hop"
assert fails(role_sts.assume_role, RoleArn="arn:aws:iam::123456789012:role/Chained", RoleSessionName="hop", DurationSeconds=7200) == \
    ("ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")

# Denied by the trust policy, or by the caller's own account.
assert fails(partner.assume_role, RoleArn="arn:aws:iam::123456789012:role/Closed", RoleSessionName="sess") == ("AccessDenied",
    "User: arn:aws:iam::111122223333:user/partner is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/Closed")
stranger = client("sts", "AKIASTRANGER00000001", "stranger-secret-000000000000000000000000")
assert fails(stranger.assume_role, RoleArn="arn:aws:iam::123456789012:role/CrossAccount", RoleSessionName="sess") == ("AccessDenied",
    "User: arn:aws:iam::111122223333:user/stranger is not authorized to perform: sts:AssumeRole on resource: "
    "arn:aws:iam::123456789012:role/CrossAccount because no identity-based policy allows the sts:AssumeRole action")
assert fails(partner.assume_role, RoleArn="arn:aws:iam::123456789012:role/Nope", RoleSessionName="sess")[0] == "AccessDenied"
assert fails(partner.assume_role, RoleArn="arn:aws:iam::123456789012:role/CrossAccount", RoleSessionName="no spaces")[0] == "ValidationError"

# ExternalId.
external = "arn:aws:iam::123456789012:role/ExternalOnly"
assert fails(partner.assume_role, RoleArn=external, RoleSessionName="ext")[0] == "AccessDenied"
assert fails(partner.assume_role, RoleArn=external, RoleSessionName="ext", ExternalId="guessed")[0] == "AccessDenied"
partner.assume_role(RoleArn=external, RoleSessionName="ext", ExternalId="s3cret-id")

# GetSessionToken: the user's identity, refused by IAM without MFA, not renewable with itself.
token = partner.get_session_token(DurationSeconds=900)["Credentials"]
temporary = (token["AccessKeyId"], token["SecretAccessKey"], token["SessionToken"])
assert client("sts", *temporary).get_caller_identity()["Arn"] == "arn:aws:iam::111122223333:user/partner"
assert fails(client("iam", *temporary).list_users) == ("InvalidClientTokenId", "The security token included in the request is invalid")
assert fails(client("sts", *temporary).get_session_token) == ("AccessDenied", "Cannot call GetSessionToken with session credentials")
client("sts", *temporary).assume_role(RoleArn="arn:aws:iam::123456789012:role/CrossAccount", RoleSessionName="via-token")

# Explicit denies, and denies by conditions on the source address and the region.
RESTRICTED = ("AKIARESTRICTED000001", "restricted-secret-0000000000000000000000")
restricted = client("iam", *RESTRICTED)
restricted.create_user(UserName="temp")
assert fails(restricted.delete_user, UserName="temp") == ("AccessDenied",
    "User: arn:aws:iam::123456789012:user/restricted is not authorized to perform: iam:DeleteUser on resource: "
    "arn:aws:iam::123456789012:user/temp with an explicit deny in an identity-based policy")
assert fails(restricted.create_group, GroupName="g")[1].endswith("with an explicit deny in an identity-based policy")
restricted.create_policy(PolicyName="p1", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
eu = client("iam", *RESTRICTED, region="eu-west-1")
assert fails(eu.create_policy, PolicyName="p2", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))[0] == "AccessDenied"
eu.list_users()

# A request signed twenty minutes ago.
real = botocore.auth.get_current_datetime
botocore.auth.get_current_datetime = lambda *a, **k: real(*a, **k) - datetime.timedelta(minutes=20)
code, message = fails(partner.get_caller_identity)
botocore.auth.get_current_datetime = real
assert code == "SignatureDoesNotMatch" and message.startswith("Signature expired: ") and message.endswith(" - 15 min.)"), message
print("ok")
"#;

#[test]
fn assume_role_session_tokens_and_policy_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rampart.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let rampart = Rampart::start_with(&["--config", config.to_str().unwrap()]);
    let script = rampart.write_file("sts.py", SCRIPT);
    let output = run(rampart.command("python3").arg(&script).env("AWS_MAX_ATTEMPTS", "1"), None);
    assert!(
        output.code == 0 && output.stdout.trim_end().ends_with("ok"),
        "stdout:\n{}\nstderr:\n{}",
        output.stdout,
        output.stderr
    );
    // The CLI sees the same assumed-role identity.
    let cli = rampart
        .aws(&[
            "sts",
            "assume-role",
            "--role-arn",
            "arn:aws:iam::123456789012:role/Chained",
            "--role-session-name",
            "cli-session",
        ])
        .failed();
    assert!(
        cli.stderr.contains(
            "An error occurred (AccessDenied) when calling the AssumeRole operation: User: \
             arn:aws:iam::123456789012:user/admin is not authorized to perform: sts:AssumeRole on resource: \
             arn:aws:iam::123456789012:role/Chained"
        ),
        "{}",
        cli.stderr
    );
}

#[test]
fn a_bad_config_file_stops_the_start_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.yaml");
    std::fs::write(
        &config,
        "aws:\n  accounts:\n    - id: \"111122223333\"\n      roles:\n        - name: r\n          assumeRolePolicy: \"{\"\n",
    )
    .unwrap();
    let output = run(
        std::process::Command::new(common::rampart_bin())
            .args(["serve", "--aws-listen", "127.0.0.1:0", "--kube-listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data")),
        None,
    );
    assert_ne!(output.code, 0);
    assert!(output.stderr.contains("account 111122223333, role r: Syntax errors in policy."), "{}", output.stderr);
}
