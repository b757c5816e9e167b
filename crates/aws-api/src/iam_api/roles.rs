//! IAM roles: `CreateRole`, `GetRole`, `ListRoles`, `UpdateRole`, `UpdateAssumeRolePolicy`,
//! `DeleteRole`. A trust policy's principals are checked against the whole IAM state (they may
//! be in other accounts).

use iam::{EntityKind, Role, arn};

use super::{entity_arn, max_items, page_by_path, request_tags, with_account, write_tags};
use crate::call::Call;
use crate::error::AwsError;
use crate::xml::{IAM_NAMESPACE as NS, Xml};

/// A `Role` element's fields; `full` adds the tags and `RoleLastUsed`, as `GetRole` answers.
fn write_role(xml: &mut Xml, role: &Role, full: bool) {
    xml.elem("Path", &role.path);
    xml.elem("RoleName", &role.role_name);
    xml.elem("RoleId", &role.role_id);
    xml.elem("Arn", &role.arn);
    xml.date("CreateDate", &role.create_date);
    xml.document("AssumeRolePolicyDocument", role.assume_role_policy_document.text());
    xml.opt("Description", role.description.as_deref());
    xml.elem("MaxSessionDuration", &role.max_session_duration.to_string());
    if full {
        if !role.tags.is_empty() {
            write_tags(xml, &role.tags);
        }
        xml.open("RoleLastUsed");
        if let Some(used) = &role.role_last_used {
            xml.date("LastUsedDate", &used.last_used_date);
            xml.elem("Region", &used.region);
        }
        xml.close("RoleLastUsed");
    }
}

pub(super) async fn create_role(call: &Call<'_>) -> Result<String, AwsError> {
    let p = &call.params;
    let account = call.account();
    let name = p.required("RoleName", "roleName")?;
    let document = p.required("AssumeRolePolicyDocument", "assumeRolePolicyDocument")?;
    let path = p.get("Path");
    let tags = p.tags();
    let max = p.int("MaxSessionDuration", "maxSessionDuration")?;
    call.authorize_with("iam:CreateRole", &arn::role_arn(&account, path.unwrap_or("/"), name), |c| {
        request_tags(c, &tags)
    })?;
    let role = call
        .api
        .iam()
        .update(&account, |a, state| {
            let known = |principal: &str| state.principal_exists(principal);
            let role = a.create_role(
                name,
                path,
                document,
                p.get("Description"),
                max,
                tags.clone(),
                &known,
                call.env.now,
                &mut rand::rng(),
            )?;
            Ok(role.clone())
        })
        .await?;
    Ok(call.respond(NS, &|xml| {
        xml.open("Role");
        write_role(xml, &role, false);
        if !role.tags.is_empty() {
            write_tags(xml, &role.tags);
        }
        xml.close("Role");
    }))
}

pub(super) fn get_role(call: &Call<'_>) -> Result<String, AwsError> {
    let name = call.params.required("RoleName", "roleName")?;
    call.authorize("iam:GetRole", &entity_arn(call, EntityKind::Role, name))?;
    let role = with_account(call, |a| a.role(name).cloned())?;
    Ok(call.respond(NS, &|xml| {
        xml.open("Role");
        write_role(xml, &role, true);
        xml.close("Role");
    }))
}

pub(super) fn list_roles(call: &Call<'_>) -> Result<String, AwsError> {
    let max_items = max_items(call)?;
    call.authorize("iam:ListRoles", &arn::role_arn(&call.account(), "/", ""))?;
    let page = page_by_path(call, max_items, |a| &a.roles, |e| &e.path)?;
    Ok(call.respond(NS, &|xml| {
        xml.members("Roles", &page.items, |xml, role| write_role(xml, role, false));
        xml.paging(page.is_truncated, page.marker.as_deref());
    }))
}

pub(super) async fn update_role(call: &Call<'_>) -> Result<String, AwsError> {
    let p = &call.params;
    let name = p.required("RoleName", "roleName")?;
    let max = p.int("MaxSessionDuration", "maxSessionDuration")?;
    call.authorize("iam:UpdateRole", &entity_arn(call, EntityKind::Role, name))?;
    call.api.iam().update(&call.account(), |a, _| a.update_role(name, p.get("Description"), max)).await?;
    // UpdateRole's answer holds an empty `UpdateRoleResult`, unlike other calls without output.
    Ok(call.respond(NS, &|_| {}))
}

pub(super) async fn update_assume_role_policy(call: &Call<'_>) -> Result<String, AwsError> {
    let name = call.params.required("RoleName", "roleName")?;
    let document = call.params.required("PolicyDocument", "policyDocument")?;
    call.authorize("iam:UpdateAssumeRolePolicy", &entity_arn(call, EntityKind::Role, name))?;
    call.api
        .iam()
        .update(&call.account(), |a, state| {
            let known = |principal: &str| state.principal_exists(principal);
            a.update_assume_role_policy(name, document, &known)
        })
        .await?;
    Ok(call.respond_empty(NS))
}

pub(super) async fn delete_role(call: &Call<'_>) -> Result<String, AwsError> {
    let name = call.params.required("RoleName", "roleName")?;
    call.authorize("iam:DeleteRole", &entity_arn(call, EntityKind::Role, name))?;
    call.api.iam().update(&call.account(), |a, _| a.delete_role(name)).await?;
    Ok(call.respond_empty(NS))
}
