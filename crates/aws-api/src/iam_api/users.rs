//! IAM users: `CreateUser`, `GetUser` (the caller itself without `UserName`), `ListUsers`,
//! `UpdateUser`, `DeleteUser`.

use iam::{Caller, EntityKind, IamError, User, arn};

use super::{entity_arn, max_items, page_by_path, request_tags, with_account, write_tags};
use crate::call::Call;
use crate::error::AwsError;
use crate::xml::{IAM_NAMESPACE as NS, Xml};

/// A `User` element's fields; `with_tags` for the calls that return one user.
pub(super) fn write_user(xml: &mut Xml, user: &User, with_tags: bool) {
    xml.elem("Path", &user.path);
    xml.elem("UserName", &user.user_name);
    xml.elem("UserId", &user.user_id);
    xml.elem("Arn", &user.arn);
    xml.date("CreateDate", &user.create_date);
    if with_tags && !user.tags.is_empty() {
        write_tags(xml, &user.tags);
    }
}

fn respond_user(call: &Call<'_>, user: &User) -> String {
    call.respond(NS, &|xml| {
        xml.open("User");
        write_user(xml, user, true);
        xml.close("User");
    })
}

pub(super) async fn create_user(call: &Call<'_>) -> Result<String, AwsError> {
    let p = &call.params;
    let account = call.account();
    let name = p.required("UserName", "userName")?;
    let path = p.get("Path");
    let tags = p.tags();
    call.authorize_with("iam:CreateUser", &arn::user_arn(&account, path.unwrap_or("/"), name), |c| {
        request_tags(c, &tags)
    })?;
    let user = call
        .api
        .iam()
        .update(&account, |a, _| Ok(a.create_user(name, path, tags.clone(), call.env.now, &mut rand::rng())?.clone()))
        .await?;
    Ok(respond_user(call, &user))
}

pub(super) fn get_user(call: &Call<'_>) -> Result<String, AwsError> {
    let name = match (call.params.get("UserName"), &call.caller) {
        (Some(name), _) => name.to_string(),
        (None, Caller::User { user_name, .. }) => user_name.clone(),
        (None, Caller::Root { .. }) => {
            let identity = call.caller.identity();
            return Ok(call.respond(NS, &|xml| {
                xml.open("User");
                xml.elem("UserId", &identity.user_id);
                xml.elem("Arn", &identity.arn);
                xml.close("User");
            }));
        }
        (None, Caller::AssumedRole { .. }) => {
            return Err(IamError::ValidationError(
                "Must specify userName when calling with non-User credentials".into(),
            )
            .into());
        }
    };
    call.authorize("iam:GetUser", &entity_arn(call, EntityKind::User, &name))?;
    let user = with_account(call, |a| a.user(&name).cloned())?;
    Ok(respond_user(call, &user))
}

pub(super) fn list_users(call: &Call<'_>) -> Result<String, AwsError> {
    let max_items = max_items(call)?;
    call.authorize("iam:ListUsers", &arn::user_arn(&call.account(), "/", ""))?;
    let page = page_by_path(call, max_items, |a| &a.users, |e| &e.path)?;
    Ok(call.respond(NS, &|xml| {
        xml.members("Users", &page.items, |xml, user| write_user(xml, user, false));
        xml.paging(page.is_truncated, page.marker.as_deref());
    }))
}

pub(super) async fn update_user(call: &Call<'_>) -> Result<String, AwsError> {
    let p = &call.params;
    let name = p.required("UserName", "userName")?;
    call.authorize("iam:UpdateUser", &entity_arn(call, EntityKind::User, name))?;
    call.api.iam().update(&call.account(), |a, _| a.update_user(name, p.get("NewUserName"), p.get("NewPath"))).await?;
    Ok(call.respond_empty(NS))
}

pub(super) async fn delete_user(call: &Call<'_>) -> Result<String, AwsError> {
    let name = call.params.required("UserName", "userName")?;
    call.authorize("iam:DeleteUser", &entity_arn(call, EntityKind::User, name))?;
    call.api.iam().update(&call.account(), |a, _| a.delete_user(name)).await?;
    Ok(call.respond_empty(NS))
}
