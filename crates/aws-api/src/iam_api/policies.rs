//! Managed policies, customer-managed and AWS-managed: `CreatePolicy`, `GetPolicy`,
//! `ListPolicies`, `DeletePolicy`, their versions (`CreatePolicyVersion`, `GetPolicyVersion`,
//! `ListPolicyVersions`, `DeletePolicyVersion`, `SetDefaultPolicyVersion`), who they are
//! attached to (`ListEntitiesForPolicy`) and their tags (`TagPolicy`, `UntagPolicy`,
//! `ListPolicyTags`). Every call but `CreatePolicy` and `ListPolicies` is authorized on the
//! policy's ARN; an AWS-managed policy has the one version `v1`.

use iam::managed::{self, AwsManagedPolicy};
use iam::{IamError, ManagedPolicy, PolicyRef, PolicyVersion, arn, paginate};

use super::{max_items, request_tags, with_account, write_tags};
use crate::call::Call;
use crate::error::AwsError;
use crate::xml::{IAM_NAMESPACE as NS, Xml};

fn write_policy(xml: &mut Xml, policy: PolicyRef<'_>, attachment_count: usize, with_tags: bool) {
    xml.elem("PolicyName", policy.name());
    match policy {
        PolicyRef::Customer(p) => {
            xml.elem("PolicyId", &p.policy_id);
            xml.elem("Arn", &p.arn);
            xml.elem("Path", &p.path);
            xml.elem("DefaultVersionId", &p.default_version_id);
        }
        PolicyRef::Aws(p) => {
            xml.elem("PolicyId", p.id);
            xml.elem("Arn", &p.arn);
            xml.elem("Path", p.path);
            xml.elem("DefaultVersionId", "v1");
        }
    }
    xml.elem("AttachmentCount", &attachment_count.to_string());
    xml.elem("PermissionsBoundaryUsageCount", "0");
    xml.boolean("IsAttachable", true);
    match policy {
        PolicyRef::Customer(p) => {
            xml.opt("Description", p.description.as_deref());
            xml.date("CreateDate", &p.create_date);
            xml.date("UpdateDate", &p.update_date);
            if with_tags && !p.tags.is_empty() {
                write_tags(xml, &p.tags);
            }
        }
        PolicyRef::Aws(p) => {
            xml.elem("Description", p.description);
            xml.date("CreateDate", &p.create_date);
            xml.date("UpdateDate", &p.create_date);
        }
    }
}

fn write_version(xml: &mut Xml, version: &PolicyVersion, is_default: bool, with_document: bool) {
    if with_document {
        xml.document("Document", version.document.text());
    }
    xml.elem("VersionId", &version.version_id);
    xml.boolean("IsDefaultVersion", is_default);
    xml.date("CreateDate", &version.create_date);
}

/// The one version of an AWS-managed policy.
fn aws_managed_version(policy: &AwsManagedPolicy) -> PolicyVersion {
    PolicyVersion { version_id: "v1".into(), document: policy.document.clone(), create_date: policy.create_date }
}

/// `PolicyArn`, the resource every call on an existing policy is authorized on.
fn policy_arn<'a>(call: &'a Call<'_>) -> Result<&'a str, AwsError> {
    Ok(call.params.required("PolicyArn", "policyArn")?)
}

pub(super) async fn create_policy(call: &Call<'_>) -> Result<String, AwsError> {
    let p = &call.params;
    let account = call.account();
    let name = p.required("PolicyName", "policyName")?;
    let document = p.required("PolicyDocument", "policyDocument")?;
    let path = p.get("Path");
    let tags = p.tags();
    call.authorize_with("iam:CreatePolicy", &arn::policy_arn(&account, path.unwrap_or("/"), name), |c| {
        request_tags(c, &tags)
    })?;
    let policy: ManagedPolicy = call
        .api
        .iam()
        .update(&account, |a, _| {
            Ok(a.create_policy(
                name,
                path,
                document,
                p.get("Description"),
                tags.clone(),
                call.env.now,
                &mut rand::rng(),
            )?
            .clone())
        })
        .await?;
    Ok(call.respond(NS, &|xml| {
        xml.open("Policy");
        write_policy(xml, PolicyRef::Customer(&policy), 0, true);
        xml.close("Policy");
    }))
}

pub(super) fn get_policy(call: &Call<'_>) -> Result<String, AwsError> {
    let policy_arn = policy_arn(call)?;
    call.authorize("iam:GetPolicy", policy_arn)?;
    with_account(call, |a| {
        let policy = a.policy(policy_arn)?;
        let count = a.attachment_count(policy.arn());
        Ok(call.respond(NS, &|xml| {
            xml.open("Policy");
            write_policy(xml, policy, count, true);
            xml.close("Policy");
        }))
    })
}

pub(super) fn list_policies(call: &Call<'_>) -> Result<String, AwsError> {
    let p = &call.params;
    let max_items = max_items(call)?;
    call.authorize("iam:ListPolicies", &arn::policy_arn(&call.account(), "/", ""))?;
    let scope = p.get("Scope").unwrap_or("All");
    if !["All", "AWS", "Local"].contains(&scope) {
        return Err(IamError::validation(Some(scope), "scope", "must satisfy enum value set: [All, AWS, Local]").into());
    }
    let only_attached = p.boolean("OnlyAttached", "onlyAttached")?.unwrap_or(false);
    let path_prefix = p.get("PathPrefix").unwrap_or("/");
    with_account(call, |a| {
        let mut policies: Vec<(String, PolicyRef<'_>)> = Vec::new();
        if scope != "Local" {
            policies.extend(managed::all().iter().map(|m| (m.arn.clone(), PolicyRef::Aws(m))));
        }
        if scope != "AWS" {
            policies.extend(a.policies.values().map(|c| (c.arn.clone(), PolicyRef::Customer(c))));
        }
        policies.sort_by(|x, y| x.0.cmp(&y.0));
        let path_of = |policy: &PolicyRef<'_>| match policy {
            PolicyRef::Customer(c) => c.path.clone(),
            PolicyRef::Aws(m) => m.path.to_string(),
        };
        let selected = policies
            .into_iter()
            .filter(|(_, policy)| path_of(policy).starts_with(path_prefix))
            .map(|(arn, policy)| (arn.clone(), (policy, a.attachment_count(&arn))))
            .filter(|(_, (_, count))| !only_attached || *count > 0);
        let page = paginate(selected, p.get("Marker"), max_items)?;
        Ok(call.respond(NS, &|xml| {
            xml.members("Policies", &page.items, |xml, (policy, count)| write_policy(xml, *policy, *count, false));
            xml.paging(page.is_truncated, page.marker.as_deref());
        }))
    })
}

pub(super) async fn delete_policy(call: &Call<'_>) -> Result<String, AwsError> {
    let policy_arn = policy_arn(call)?;
    call.authorize("iam:DeletePolicy", policy_arn)?;
    call.api.iam().update(&call.account(), |a, _| a.delete_policy(policy_arn)).await?;
    Ok(call.respond_empty(NS))
}

pub(super) async fn create_policy_version(call: &Call<'_>) -> Result<String, AwsError> {
    let p = &call.params;
    let policy_arn = policy_arn(call)?;
    let document = p.required("PolicyDocument", "policyDocument")?;
    let set_default = p.boolean("SetAsDefault", "setAsDefault")?.unwrap_or(false);
    call.authorize("iam:CreatePolicyVersion", policy_arn)?;
    let version = call
        .api
        .iam()
        .update(&call.account(), |a, _| {
            Ok(a.create_policy_version(policy_arn, document, set_default, call.env.now)?.clone())
        })
        .await?;
    Ok(call.respond(NS, &|xml| {
        xml.open("PolicyVersion");
        write_version(xml, &version, set_default, false);
        xml.close("PolicyVersion");
    }))
}

pub(super) fn get_policy_version(call: &Call<'_>) -> Result<String, AwsError> {
    let policy_arn = policy_arn(call)?;
    let version_id = call.params.required("VersionId", "versionId")?;
    call.authorize("iam:GetPolicyVersion", policy_arn)?;
    let (version, is_default) = with_account(call, |a| {
        let missing = || IamError::NoSuchEntity(format!("Policy {policy_arn} version {version_id} does not exist."));
        match a.policy(policy_arn)? {
            PolicyRef::Customer(c) => {
                let version = c.versions.iter().find(|v| v.version_id == version_id).ok_or_else(missing)?;
                Ok((version.clone(), c.default_version_id == version_id))
            }
            PolicyRef::Aws(m) if version_id == "v1" => Ok((aws_managed_version(m), true)),
            PolicyRef::Aws(_) => Err(missing()),
        }
    })?;
    Ok(call.respond(NS, &|xml| {
        xml.open("PolicyVersion");
        write_version(xml, &version, is_default, true);
        xml.close("PolicyVersion");
    }))
}

pub(super) fn list_policy_versions(call: &Call<'_>) -> Result<String, AwsError> {
    let max_items = max_items(call)?;
    let policy_arn = policy_arn(call)?;
    call.authorize("iam:ListPolicyVersions", policy_arn)?;
    let (versions, default) = with_account(call, |a| match a.policy(policy_arn)? {
        PolicyRef::Customer(c) => {
            let mut versions = c.versions.clone();
            versions.reverse();
            Ok((versions, c.default_version_id.clone()))
        }
        PolicyRef::Aws(m) => Ok((vec![aws_managed_version(m)], "v1".to_string())),
    })?;
    let numbered = versions.into_iter().enumerate().map(|(i, v)| (format!("{i:05}"), v));
    let page = paginate(numbered, call.params.get("Marker"), max_items)?;
    Ok(call.respond(NS, &|xml| {
        xml.members("Versions", &page.items, |xml, v| write_version(xml, v, v.version_id == default, false));
        xml.paging(page.is_truncated, page.marker.as_deref());
    }))
}

pub(super) async fn delete_policy_version(call: &Call<'_>) -> Result<String, AwsError> {
    let policy_arn = policy_arn(call)?;
    let version_id = call.params.required("VersionId", "versionId")?;
    call.authorize("iam:DeletePolicyVersion", policy_arn)?;
    call.api.iam().update(&call.account(), |a, _| a.delete_policy_version(policy_arn, version_id)).await?;
    Ok(call.respond_empty(NS))
}

pub(super) async fn set_default_policy_version(call: &Call<'_>) -> Result<String, AwsError> {
    let policy_arn = policy_arn(call)?;
    let version_id = call.params.required("VersionId", "versionId")?;
    call.authorize("iam:SetDefaultPolicyVersion", policy_arn)?;
    call.api.iam().update(&call.account(), |a, _| a.set_default_policy_version(policy_arn, version_id)).await?;
    Ok(call.respond_empty(NS))
}

pub(super) fn list_entities_for_policy(call: &Call<'_>) -> Result<String, AwsError> {
    let policy_arn = policy_arn(call)?;
    call.authorize("iam:ListEntitiesForPolicy", policy_arn)?;
    let entities = with_account(call, |a| {
        a.policy(policy_arn)?;
        Ok(a.policy_entities(policy_arn))
    })?;
    Ok(call.respond(NS, &|xml| {
        xml.members("PolicyGroups", &entities.groups, |xml, (name, id)| {
            xml.elem("GroupName", name);
            xml.elem("GroupId", id);
        });
        xml.members("PolicyUsers", &entities.users, |xml, (name, id)| {
            xml.elem("UserName", name);
            xml.elem("UserId", id);
        });
        xml.members("PolicyRoles", &entities.roles, |xml, (name, id)| {
            xml.elem("RoleName", name);
            xml.elem("RoleId", id);
        });
        xml.boolean("IsTruncated", false);
    }))
}

pub(super) async fn tag_policy(call: &Call<'_>) -> Result<String, AwsError> {
    let policy_arn = policy_arn(call)?;
    let tags = call.params.tags();
    call.authorize_with("iam:TagPolicy", policy_arn, |c| request_tags(c, &tags))?;
    call.api.iam().update(&call.account(), |a, _| a.tag_policy(policy_arn, &tags)).await?;
    Ok(call.respond_empty(NS))
}

pub(super) async fn untag_policy(call: &Call<'_>) -> Result<String, AwsError> {
    let policy_arn = policy_arn(call)?;
    let keys = call.params.list("TagKeys");
    // As for TagPolicy, the request tags are the `Tags.member.N` given; the keys removed are not
    // offered as `aws:TagKeys` (UntagUser and UntagRole offer them).
    call.authorize_with("iam:UntagPolicy", policy_arn, |c| request_tags(c, &call.params.tags()))?;
    call.api.iam().update(&call.account(), |a, _| a.untag_policy(policy_arn, &keys)).await?;
    Ok(call.respond_empty(NS))
}

pub(super) fn list_policy_tags(call: &Call<'_>) -> Result<String, AwsError> {
    let policy_arn = policy_arn(call)?;
    call.authorize("iam:ListPolicyTags", policy_arn)?;
    let tags = with_account(call, |a| match a.policy(policy_arn)? {
        PolicyRef::Customer(c) => Ok(c.tags.clone()),
        PolicyRef::Aws(_) => Ok(vec![]),
    })?;
    Ok(call.respond(NS, &|xml| {
        write_tags(xml, &tags);
        xml.boolean("IsTruncated", false);
    }))
}
