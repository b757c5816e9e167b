//! Every IAM API call Rampart serves, driven with boto3 against the running binary: users,
//! groups, roles, access keys, managed policies with versions, attached and inline policies of
//! users, groups and roles, tags, Marker/MaxItems paging, AWS's error codes, and requests that
//! are not calls at all or are signed without their host.

mod common;

use common::{Rampart, run};

/// Runs a Python (boto3) script with the env file's variables; it prints `ok` when every check
/// in it passed.
fn python(rampart: &Rampart, name: &str, script: &str) {
    let path = rampart.write_file(name, script);
    let output = run(rampart.command("python3").arg(&path).env("AWS_MAX_ATTEMPTS", "1"), None);
    assert!(
        output.code == 0 && output.stdout.trim_end().ends_with("ok"),
        "{name} failed\nstdout:\n{}\nstderr:\n{}",
        output.stdout,
        output.stderr
    );
}

const PRELUDE: &str = r#"
import json, os, boto3, botocore
from botocore.exceptions import ClientError

iam = boto3.client("iam")

def fails(call, **kwargs):
    try:
        call(**kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{call.__name__} {kwargs} unexpectedly succeeded")

def doc(action, resource="*"):
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": resource}]})

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]})
"#;

#[test]
fn users_groups_and_paging() {
    let rampart = Rampart::start();
    let script = format!(
        "{PRELUDE}{}",
        r#"
for i in range(7):
    iam.create_user(UserName=f"user{i}", Path="/team/" if i % 2 else "/", Tags=[{"Key": "n", "Value": str(i)}])
assert fails(iam.create_user, UserName="USER1") == ("EntityAlreadyExists", "User with name USER1 already exists.", 409)
code, message, status = fails(iam.create_user, UserName="x" * 65)
assert (code, status) == ("ValidationError", 400), message
assert "at 'userName' failed to satisfy constraint: Member must have length less than or equal to 64" in message, message

page = iam.list_users(MaxItems=3)
assert page["IsTruncated"] and len(page["Users"]) == 3 and page["Marker"], page
rest = iam.list_users(Marker=page["Marker"], MaxItems=100)
assert not rest["IsTruncated"] and "Marker" not in rest
names = [u["UserName"] for p in iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 2}) for u in p["Users"]]
assert names == ["admin"] + [f"user{i}" for i in range(7)], names
assert [u["UserName"] for u in iam.list_users(PathPrefix="/team/")["Users"]] == ["user1", "user3", "user5"]
assert fails(iam.list_users, MaxItems=1001)[0] == "ValidationError"

user = iam.get_user(UserName="user1")["User"]
assert user["Arn"] == "arn:aws:iam::123456789012:user/team/user1" and user["UserId"].startswith("AIDA")
assert user["Tags"] == [{"Key": "n", "Value": "1"}]
assert iam.get_user()["User"]["UserName"] == "admin"
iam.tag_user(UserName="user1", Tags=[{"Key": "team", "Value": "blue"}, {"Key": "n", "Value": "one"}])
assert iam.list_user_tags(UserName="user1")["Tags"] == [{"Key": "n", "Value": "one"}, {"Key": "team", "Value": "blue"}]
iam.untag_user(UserName="user1", TagKeys=["n"])
assert iam.list_user_tags(UserName="user1")["Tags"] == [{"Key": "team", "Value": "blue"}]
iam.update_user(UserName="user0", NewUserName="renamed", NewPath="/moved/")
assert iam.get_user(UserName="renamed")["User"]["Arn"] == "arn:aws:iam::123456789012:user/moved/renamed"
assert fails(iam.get_user, UserName="user0") == ("NoSuchEntity", "The user with name user0 cannot be found.", 404)

group = iam.create_group(GroupName="devs", Path="/eng/")["Group"]
assert group["Arn"] == "arn:aws:iam::123456789012:group/eng/devs" and group["GroupId"].startswith("AGPA")
assert fails(iam.create_group, GroupName="Devs")[0] == "EntityAlreadyExists"
iam.add_user_to_group(GroupName="devs", UserName="user1")
iam.add_user_to_group(GroupName="devs", UserName="user2")
got = iam.get_group(GroupName="devs")
assert [u["UserName"] for u in got["Users"]] == ["user1", "user2"] and got["Group"]["GroupName"] == "devs"
assert [g["GroupName"] for g in iam.list_groups_for_user(UserName="user1")["Groups"]] == ["devs"]
assert [g["GroupName"] for g in iam.list_groups()["Groups"]] == ["devs"]
assert fails(iam.delete_group, GroupName="devs") == ("DeleteConflict", "Cannot delete entity, must remove users from group first.", 409)
assert fails(iam.delete_user, UserName="user1")[1] == "Cannot delete entity, must remove user from all groups first."
iam.remove_user_from_group(GroupName="devs", UserName="user1")
iam.remove_user_from_group(GroupName="devs", UserName="user2")
iam.delete_group(GroupName="devs")
iam.delete_user(UserName="user1")
assert fails(iam.get_group, GroupName="devs") == ("NoSuchEntity", "The group with name devs cannot be found.", 404)
print("ok")
"#
    );
    python(&rampart, "users.py", &script);
}

#[test]
fn roles_policies_versions_attachments_and_inline_policies() {
    let rampart = Rampart::start();
    let script = format!(
        "{PRELUDE}{}",
        r#"
role = iam.create_role(RoleName="app", Path="/svc/", AssumeRolePolicyDocument=TRUST, Description="the app",
                       MaxSessionDuration=7200, Tags=[{"Key": "env", "Value": "dev"}])["Role"]
assert role["Arn"] == "arn:aws:iam::123456789012:role/svc/app" and role["RoleId"].startswith("AROA"), role
assert role["AssumeRolePolicyDocument"] == json.loads(TRUST)
got = iam.get_role(RoleName="app")["Role"]
assert got["MaxSessionDuration"] == 7200 and got["Description"] == "the app" and got["RoleLastUsed"] == {}
assert got["Tags"] == [{"Key": "env", "Value": "dev"}]
iam.update_role(RoleName="app", Description="changed", MaxSessionDuration=3600)
assert iam.get_role(RoleName="app")["Role"]["Description"] == "changed"
assert fails(iam.update_role, RoleName="nope", Description="x")[0] == "NoSuchEntity"
new_trust = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/admin"}, "Action": "sts:AssumeRole"}]})
iam.update_assume_role_policy(RoleName="app", PolicyDocument=new_trust)
assert iam.get_role(RoleName="app")["Role"]["AssumeRolePolicyDocument"] == json.loads(new_trust)
iam.tag_role(RoleName="app", Tags=[{"Key": "team", "Value": "x"}])
assert len(iam.list_role_tags(RoleName="app")["Tags"]) == 2
iam.untag_role(RoleName="app", TagKeys=["team"])
assert [r["RoleName"] for r in iam.list_roles(PathPrefix="/svc/")["Roles"]] == ["app"]

# Customer-managed policies and their versions.
policy = iam.create_policy(PolicyName="EksRead", Path="/eks/", PolicyDocument=doc("eks:Describe*"), Description="read")["Policy"]
arn = policy["Arn"]
assert arn == "arn:aws:iam::123456789012:policy/eks/EksRead" and policy["DefaultVersionId"] == "v1" and policy["PolicyId"].startswith("ANPA")
assert fails(iam.create_policy, PolicyName="eksread", PolicyDocument=doc("eks:*"))[1] == "A policy called eksread already exists. Duplicate names are not allowed."
assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0
v2 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc("eks:*"), SetAsDefault=True)["PolicyVersion"]
assert v2["VersionId"] == "v2" and v2["IsDefaultVersion"]
assert iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"]["Document"] == json.loads(doc("eks:*"))
for _ in range(3):
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc("eks:List*"))
code, message, status = fails(iam.create_policy_version, PolicyArn=arn, PolicyDocument=doc("eks:List*"))
assert (code, status) == ("LimitExceeded", 409) and message.startswith("A managed policy can have up to 5 versions."), message
assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == ["v5", "v4", "v3", "v2", "v1"]
assert fails(iam.delete_policy_version, PolicyArn=arn, VersionId="v2")[1] == "Cannot delete the default version of a policy."
iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v1"
aws_names = [p["PolicyName"] for p in iam.list_policies(Scope="AWS")["Policies"]]
for name in ["AdministratorAccess", "ReadOnlyAccess", "IAMFullAccess", "IAMReadOnlyAccess", "AmazonEKSClusterPolicy", "AmazonEKSWorkerNodePolicy"]:
    assert name in aws_names, aws_names
assert [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]] == ["EksRead"]
admin_policy = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")["Policy"]
assert admin_policy["AttachmentCount"] == 1, admin_policy
assert iam.get_policy_version(PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess", VersionId="v1")["PolicyVersion"]["Document"]["Statement"][0]["Action"] == "*"

# Attachments for users, groups and roles.
iam.create_user(UserName="alice")
iam.create_group(GroupName="ops")
for kind, name in [("user", "alice"), ("group", "ops"), ("role", "app")]:
    key = {"user": "UserName", "group": "GroupName", "role": "RoleName"}[kind]
    getattr(iam, f"attach_{kind}_policy")(**{key: name}, PolicyArn=arn)
    getattr(iam, f"attach_{kind}_policy")(**{key: name}, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    attached = getattr(iam, f"list_attached_{kind}_policies")(**{key: name})["AttachedPolicies"]
    assert {p["PolicyName"] for p in attached} == {"EksRead", "ReadOnlyAccess"}, attached
    getattr(iam, f"put_{kind}_policy")(**{key: name}, PolicyName="inline", PolicyDocument=doc("s3:GetObject"))
    assert getattr(iam, f"get_{kind}_policy")(**{key: name}, PolicyName="inline")["PolicyDocument"] == json.loads(doc("s3:GetObject"))
    assert getattr(iam, f"list_{kind}_policies")(**{key: name})["PolicyNames"] == ["inline"]
    code, message, _ = fails(getattr(iam, f"get_{kind}_policy"), **{key: name}, PolicyName="nope")
    assert (code, message) == ("NoSuchEntity", f"The {kind} policy with name nope cannot be found."), message
entities = iam.list_entities_for_policy(PolicyArn=arn)
assert [u["UserName"] for u in entities["PolicyUsers"]] == ["alice"]
assert [g["GroupName"] for g in entities["PolicyGroups"]] == ["ops"]
assert [r["RoleName"] for r in entities["PolicyRoles"]] == ["app"]
assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 3
assert fails(iam.delete_policy, PolicyArn=arn)[1] == "Cannot delete a policy attached to entities."
assert fails(iam.delete_role, RoleName="app")[1] == "Cannot delete entity, must delete policies first."
iam.delete_role_policy(RoleName="app", PolicyName="inline")
assert fails(iam.delete_role, RoleName="app")[1] == "Cannot delete entity, must detach all policies first."
assert fails(iam.attach_user_policy, UserName="alice", PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicy")[1] == \
    "Policy arn:aws:iam::aws:policy/NoSuchPolicy does not exist or is not attachable."
assert fails(iam.detach_user_policy, UserName="alice", PolicyArn="arn:aws:iam::aws:policy/IAMFullAccess")[1] == \
    "Policy arn:aws:iam::aws:policy/IAMFullAccess was not found."
for kind, name in [("user", "alice"), ("group", "ops"), ("role", "app")]:
    key = {"user": "UserName", "group": "GroupName", "role": "RoleName"}[kind]
    getattr(iam, f"detach_{kind}_policy")(**{key: name}, PolicyArn=arn)
    getattr(iam, f"detach_{kind}_policy")(**{key: name}, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
iam.delete_user_policy(UserName="alice", PolicyName="inline")
iam.delete_group_policy(GroupName="ops", PolicyName="inline")
iam.delete_policy_version(PolicyArn=arn, VersionId="v3")
iam.delete_policy_version(PolicyArn=arn, VersionId="v4")
iam.delete_policy_version(PolicyArn=arn, VersionId="v5")
iam.delete_policy(PolicyArn=arn)
iam.delete_role(RoleName="app")
assert fails(iam.get_role, RoleName="app") == ("NoSuchEntity", "The role with name app cannot be found.", 404)
assert fails(iam.get_policy, PolicyArn=arn)[0] == "NoSuchEntity"

# Access keys: at most two, the secret shown once.
first = iam.create_access_key(UserName="alice")["AccessKey"]
second = iam.create_access_key(UserName="alice")["AccessKey"]
assert first["AccessKeyId"].startswith("AKIA") and len(first["SecretAccessKey"]) == 40
assert fails(iam.create_access_key, UserName="alice") == ("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2", 409)
listed = iam.list_access_keys(UserName="alice")["AccessKeyMetadata"]
assert {k["AccessKeyId"] for k in listed} == {first["AccessKeyId"], second["AccessKeyId"]}
assert all("SecretAccessKey" not in k for k in listed)
unused = iam.get_access_key_last_used(AccessKeyId=first["AccessKeyId"])["AccessKeyLastUsed"]
assert unused["ServiceName"] == "N/A" and "LastUsedDate" not in unused
iam.update_access_key(UserName="alice", AccessKeyId=first["AccessKeyId"], Status="Inactive")
assert fails(iam.update_access_key, UserName="alice", AccessKeyId=first["AccessKeyId"], Status="Paused")[0] == "ValidationError"
iam.delete_access_key(UserName="alice", AccessKeyId=first["AccessKeyId"])
assert fails(iam.delete_access_key, UserName="alice", AccessKeyId=first["AccessKeyId"])[1] == \
    f"The Access Key with id {first['AccessKeyId']} cannot be found."
print("ok")
"#
    );
    python(&rampart, "roles.py", &script);
}

#[test]
fn requests_that_are_not_calls_get_clear_errors() {
    let rampart = Rampart::start();
    let script = format!(
        "{PRELUDE}{}",
        r#"
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.httpsession import URLLib3Session

session = boto3.Session()
http = URLLib3Session(verify=os.environ["AWS_CA_BUNDLE"])

def send(body, content_type="application/x-www-form-urlencoded; charset=utf-8", service="iam", sign=True):
    request = AWSRequest(method="POST", url=os.environ["AWS_ENDPOINT_URL"], data=body, headers={"Content-Type": content_type})
    if sign:
        SigV4Auth(session.get_credentials(), service, "us-east-1").add_auth(request)
    response = http.send(request.prepare())
    return response.status_code, response.text

status, text = send("Action=CreateUsr&Version=2010-05-08")
assert status == 400 and "<Code>InvalidAction</Code>" in text and "Could not find operation CreateUsr for version 2010-05-08" in text, text
assert "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>" in text, text
status, text = send('{"Action": "ListUsers"}', content_type="application/json")
assert status == 400 and "<Code>MalformedQueryString</Code>" in text, text
status, text = send("Action=ListUsers&Version=2010-05-08", sign=False)
assert status == 403 and "<Code>MissingAuthenticationToken</Code>" in text, text
status, text = send("Action=GetCallerIdentity&Version=2011-06-15", service="sts")
assert status == 200 and "<Arn>arn:aws:iam::123456789012:user/admin</Arn>" in text, text
status, text = send("Version=2010-05-08")
assert status == 400 and "<Code>MissingAction</Code>" in text, text

# botocore always signs the host; a signer that leaves it out is refused as AWS refuses it.
class HostUnsigned(SigV4Auth):
    def headers_to_sign(self, request):
        headers = super().headers_to_sign(request)
        del headers["host"]
        return headers

request = AWSRequest(method="POST", url=os.environ["AWS_ENDPOINT_URL"], data="Action=ListUsers&Version=2010-05-08",
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
HostUnsigned(session.get_credentials(), "iam", "us-east-1").add_auth(request)
assert "SignedHeaders=content-type;x-amz-date," in request.headers["Authorization"], request.headers["Authorization"]
response = http.send(request.prepare())
import xml.etree.ElementTree as ET
error = ET.fromstring(response.text).find("{*}Error")
assert response.status_code == 400, response.text
assert error.find("{*}Code").text == "IncompleteSignature", response.text
assert error.find("{*}Message").text == "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.", response.text
print("ok")
"#
    );
    python(&rampart, "raw.py", &script);
}
