//! The policies of users, groups and roles alike: managed policies attached
//! (`Attach…Policy`, `Detach…Policy`, `ListAttached…Policies`) and inline policies
//! (`Put…Policy`, `Get…Policy`, `Delete…Policy`, `List…Policies`), each function serving the
//! action of every entity kind. All are authorized on the entity's ARN.

use iam::{EntityKind, PolicyRef, paginate};

use super::{entity_arn, max_items, name_param, with_account};
use crate::call::Call;
use crate::error::AwsError;
use crate::xml::IAM_NAMESPACE as NS;

/// The entity's name, the ARN the call is authorized on and the IAM action
/// (`iam:AttachUserPolicy`).
fn target<'a>(call: &'a Call<'_>, kind: EntityKind) -> Result<(&'a str, String, String), AwsError> {
    let (param, member) = name_param(kind);
    let name = call.params.required(param, member)?;
    Ok((name, entity_arn(call, kind, name), format!("iam:{}", call.action)))
}

pub(super) async fn attach(call: &Call<'_>, kind: EntityKind) -> Result<String, AwsError> {
    let (name, resource, action) = target(call, kind)?;
    let policy_arn = call.params.required("PolicyArn", "policyArn")?;
    call.authorize_with(&action, &resource, |c| c.set("iam:PolicyARN", policy_arn))?;
    call.api.iam().update(&call.account(), |a, _| a.attach_policy(kind, name, policy_arn)).await?;
    Ok(call.respond_empty(NS))
}

pub(super) async fn detach(call: &Call<'_>, kind: EntityKind) -> Result<String, AwsError> {
    let (name, resource, action) = target(call, kind)?;
    let policy_arn = call.params.required("PolicyArn", "policyArn")?;
    call.authorize_with(&action, &resource, |c| c.set("iam:PolicyARN", policy_arn))?;
    call.api.iam().update(&call.account(), |a, _| a.detach_policy(kind, name, policy_arn)).await?;
    Ok(call.respond_empty(NS))
}

pub(super) fn list_attached(call: &Call<'_>, kind: EntityKind) -> Result<String, AwsError> {
    let (name, resource, action) = target(call, kind)?;
    let max_items = max_items(call)?;
    call.authorize(&action, &resource)?;
    let path_prefix = call.params.get("PathPrefix").unwrap_or("/");
    let page = with_account(call, |a| {
        let attached =
            a.attached(kind, name)?.iter().filter_map(|arn| a.policy(arn).ok()).filter(|policy| match policy {
                PolicyRef::Customer(c) => c.path.starts_with(path_prefix),
                PolicyRef::Aws(m) => m.path.starts_with(path_prefix),
            });
        let items: Vec<(String, (String, String))> = attached
            .map(|policy| (policy.arn().to_string(), (policy.name().to_string(), policy.arn().to_string())))
            .collect();
        paginate(items, call.params.get("Marker"), max_items)
    })?;
    Ok(call.respond(NS, &|xml| {
        xml.members("AttachedPolicies", &page.items, |xml, (name, arn)| {
            xml.elem("PolicyName", name);
            xml.elem("PolicyArn", arn);
        });
        xml.paging(page.is_truncated, page.marker.as_deref());
    }))
}

pub(super) async fn put_inline(call: &Call<'_>, kind: EntityKind) -> Result<String, AwsError> {
    let (name, resource, action) = target(call, kind)?;
    let policy_name = call.params.required("PolicyName", "policyName")?;
    let document = call.params.required("PolicyDocument", "policyDocument")?;
    call.authorize(&action, &resource)?;
    call.api.iam().update(&call.account(), |a, _| a.put_inline_policy(kind, name, policy_name, document)).await?;
    Ok(call.respond_empty(NS))
}

pub(super) fn get_inline(call: &Call<'_>, kind: EntityKind) -> Result<String, AwsError> {
    let (name, resource, action) = target(call, kind)?;
    let policy_name = call.params.required("PolicyName", "policyName")?;
    call.authorize(&action, &resource)?;
    let (entity_name, document) = with_account(call, |a| {
        let entity_name = match kind {
            EntityKind::User => a.user(name)?.user_name.clone(),
            EntityKind::Group => a.group(name)?.group_name.clone(),
            EntityKind::Role => a.role(name)?.role_name.clone(),
        };
        Ok((entity_name, a.inline_policy(kind, name, policy_name)?.text().to_string()))
    })?;
    Ok(call.respond(NS, &|xml| {
        xml.elem(name_param(kind).0, &entity_name);
        xml.elem("PolicyName", policy_name);
        xml.document("PolicyDocument", &document);
    }))
}

pub(super) async fn delete_inline(call: &Call<'_>, kind: EntityKind) -> Result<String, AwsError> {
    let (name, resource, action) = target(call, kind)?;
    let policy_name = call.params.required("PolicyName", "policyName")?;
    call.authorize(&action, &resource)?;
    call.api.iam().update(&call.account(), |a, _| a.delete_inline_policy(kind, name, policy_name)).await?;
    Ok(call.respond_empty(NS))
}

pub(super) fn list_inline(call: &Call<'_>, kind: EntityKind) -> Result<String, AwsError> {
    let (name, resource, action) = target(call, kind)?;
    let max_items = max_items(call)?;
    call.authorize(&action, &resource)?;
    let page = with_account(call, |a| {
        let names: Vec<(String, String)> = a.inline(kind, name)?.keys().map(|n| (n.clone(), n.clone())).collect();
        paginate(names, call.params.get("Marker"), max_items)
    })?;
    Ok(call.respond(NS, &|xml| {
        xml.members("PolicyNames", &page.items, |xml, name| xml.text(name));
        xml.paging(page.is_truncated, page.marker.as_deref());
    }))
}
