//! IAM groups and their members: `CreateGroup`, `GetGroup` (with its users), `ListGroups`,
//! `DeleteGroup`, `AddUserToGroup`, `RemoveUserFromGroup`, `ListGroupsForUser`.

use iam::{EntityKind, Group, arn, paginate};

use super::users::write_user;
use super::{entity_arn, max_items, page_by_path, with_account};
use crate::call::Call;
use crate::error::AwsError;
use crate::xml::{IAM_NAMESPACE as NS, Xml};

fn write_group(xml: &mut Xml, group: &Group) {
    xml.elem("Path", &group.path);
    xml.elem("GroupName", &group.group_name);
    xml.elem("GroupId", &group.group_id);
    xml.elem("Arn", &group.arn);
    xml.date("CreateDate", &group.create_date);
}

pub(super) async fn create_group(call: &Call<'_>) -> Result<String, AwsError> {
    let account = call.account();
    let name = call.params.required("GroupName", "groupName")?;
    let path = call.params.get("Path");
    call.authorize("iam:CreateGroup", &arn::group_arn(&account, path.unwrap_or("/"), name))?;
    let group = call
        .api
        .iam()
        .update(&account, |a, _| Ok(a.create_group(name, path, call.env.now, &mut rand::rng())?.clone()))
        .await?;
    Ok(call.respond(NS, &|xml| {
        xml.open("Group");
        write_group(xml, &group);
        xml.close("Group");
    }))
}

pub(super) fn get_group(call: &Call<'_>) -> Result<String, AwsError> {
    let max_items = max_items(call)?;
    let name = call.params.required("GroupName", "groupName")?;
    call.authorize("iam:GetGroup", &entity_arn(call, EntityKind::Group, name))?;
    let (group, page) = with_account(call, |a| {
        let group = a.group(name)?.clone();
        let members = a.group_members(&group.group_name).into_iter().map(|u| (u.user_name.to_lowercase(), u.clone()));
        Ok((group, paginate(members, call.params.get("Marker"), max_items)?))
    })?;
    Ok(call.respond(NS, &|xml| {
        xml.open("Group");
        write_group(xml, &group);
        xml.close("Group");
        xml.members("Users", &page.items, |xml, user| write_user(xml, user, false));
        xml.paging(page.is_truncated, page.marker.as_deref());
    }))
}

pub(super) fn list_groups(call: &Call<'_>) -> Result<String, AwsError> {
    let max_items = max_items(call)?;
    call.authorize("iam:ListGroups", &arn::group_arn(&call.account(), "/", ""))?;
    let page = page_by_path(call, max_items, |a| &a.groups, |e| &e.path)?;
    Ok(call.respond(NS, &|xml| {
        xml.members("Groups", &page.items, write_group);
        xml.paging(page.is_truncated, page.marker.as_deref());
    }))
}

pub(super) async fn delete_group(call: &Call<'_>) -> Result<String, AwsError> {
    let name = call.params.required("GroupName", "groupName")?;
    call.authorize("iam:DeleteGroup", &entity_arn(call, EntityKind::Group, name))?;
    call.api.iam().update(&call.account(), |a, _| a.delete_group(name)).await?;
    Ok(call.respond_empty(NS))
}

pub(super) async fn add_user_to_group(call: &Call<'_>) -> Result<String, AwsError> {
    let group = call.params.required("GroupName", "groupName")?;
    let user = call.params.required("UserName", "userName")?;
    call.authorize("iam:AddUserToGroup", &entity_arn(call, EntityKind::Group, group))?;
    call.api.iam().update(&call.account(), |a, _| a.add_user_to_group(group, user)).await?;
    Ok(call.respond_empty(NS))
}

pub(super) async fn remove_user_from_group(call: &Call<'_>) -> Result<String, AwsError> {
    let group = call.params.required("GroupName", "groupName")?;
    let user = call.params.required("UserName", "userName")?;
    call.authorize("iam:RemoveUserFromGroup", &entity_arn(call, EntityKind::Group, group))?;
    call.api.iam().update(&call.account(), |a, _| a.remove_user_from_group(group, user)).await?;
    Ok(call.respond_empty(NS))
}

pub(super) fn list_groups_for_user(call: &Call<'_>) -> Result<String, AwsError> {
    let max_items = max_items(call)?;
    let name = call.params.required("UserName", "userName")?;
    call.authorize("iam:ListGroupsForUser", &entity_arn(call, EntityKind::User, name))?;
    let page = with_account(call, |a| {
        let groups = a.groups_for_user(name)?.into_iter().map(|g| (g.group_name.to_lowercase(), g.clone()));
        paginate(groups, call.params.get("Marker"), max_items)
    })?;
    Ok(call.respond(NS, &|xml| {
        xml.members("Groups", &page.items, write_group);
        xml.paging(page.is_truncated, page.marker.as_deref());
    }))
}
