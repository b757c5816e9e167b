//! Access keys of IAM users: `CreateAccessKey`, `ListAccessKeys`, `UpdateAccessKey`,
//! `DeleteAccessKey`, `GetAccessKeyLastUsed`. Without `UserName` a call is about the calling
//! user's own keys.

use iam::{AccessKey, AccessKeyStatus, Caller, EntityKind, IamError, paginate};

use super::{entity_arn, max_items, with_account};
use crate::call::Call;
use crate::error::AwsError;
use crate::xml::{IAM_NAMESPACE as NS, Xml};

/// An access key's fields; the secret only in `CreateAccessKey`'s answer.
fn write_key(xml: &mut Xml, key: &AccessKey, with_secret: bool) {
    xml.elem("UserName", &key.user_name);
    xml.elem("AccessKeyId", &key.access_key_id);
    xml.elem("Status", key.status.as_str());
    if with_secret {
        xml.elem("SecretAccessKey", &key.secret_access_key);
    }
    xml.date("CreateDate", &key.create_date);
}

/// The user a call is about: `UserName`, or the calling user.
fn key_user(call: &Call<'_>) -> Result<String, AwsError> {
    match (call.params.get("UserName"), &call.caller) {
        (Some(name), _) => Ok(name.to_string()),
        (None, Caller::User { user_name, .. }) => Ok(user_name.clone()),
        _ => {
            Err(IamError::ValidationError("Must specify userName when calling with non-User credentials".into()).into())
        }
    }
}

pub(super) async fn create_access_key(call: &Call<'_>) -> Result<String, AwsError> {
    let user = key_user(call)?;
    call.authorize("iam:CreateAccessKey", &entity_arn(call, EntityKind::User, &user))?;
    let key = call
        .api
        .iam()
        .update(&call.account(), |a, _| Ok(a.create_access_key(&user, call.env.now, &mut rand::rng())?.clone()))
        .await?;
    Ok(call.respond(NS, &|xml| {
        xml.open("AccessKey");
        write_key(xml, &key, true);
        xml.close("AccessKey");
    }))
}

pub(super) fn list_access_keys(call: &Call<'_>) -> Result<String, AwsError> {
    let max_items = max_items(call)?;
    let user = key_user(call)?;
    call.authorize("iam:ListAccessKeys", &entity_arn(call, EntityKind::User, &user))?;
    let page = with_account(call, |a| {
        let keys = a.access_keys_of(&user)?.into_iter().map(|k| (k.access_key_id.clone(), k.clone()));
        paginate(keys, call.params.get("Marker"), max_items)
    })?;
    Ok(call.respond(NS, &|xml| {
        xml.members("AccessKeyMetadata", &page.items, |xml, key| write_key(xml, key, false));
        xml.paging(page.is_truncated, page.marker.as_deref());
    }))
}

pub(super) async fn update_access_key(call: &Call<'_>) -> Result<String, AwsError> {
    let id = call.params.required("AccessKeyId", "accessKeyId")?;
    let status = AccessKeyStatus::parse(call.params.required("Status", "status")?)?;
    let user = key_user(call)?;
    call.authorize("iam:UpdateAccessKey", &entity_arn(call, EntityKind::User, &user))?;
    call.api.iam().update(&call.account(), |a, _| a.update_access_key(id, Some(&user), status)).await?;
    Ok(call.respond_empty(NS))
}

pub(super) async fn delete_access_key(call: &Call<'_>) -> Result<String, AwsError> {
    let id = call.params.required("AccessKeyId", "accessKeyId")?;
    let user = key_user(call)?;
    call.authorize("iam:DeleteAccessKey", &entity_arn(call, EntityKind::User, &user))?;
    call.api.iam().update(&call.account(), |a, _| a.delete_access_key(id, Some(&user))).await?;
    Ok(call.respond_empty(NS))
}

/// Looks the key up first (any user's of the account, by ID) and authorizes on its owner; a key
/// the account does not hold is refused with AccessDenied naming the key.
pub(super) fn get_access_key_last_used(call: &Call<'_>) -> Result<String, AwsError> {
    let id = call.params.required("AccessKeyId", "accessKeyId")?;
    let key = with_account(call, |a| {
        a.access_keys.get(id).cloned().ok_or_else(|| {
            IamError::AccessDenied(format!(
                "User: {} is not authorized to perform: iam:GetAccessKeyLastUsed on resource: access key {id}",
                call.caller.arn()
            ))
        })
    })?;
    call.authorize("iam:GetAccessKeyLastUsed", &entity_arn(call, EntityKind::User, &key.user_name))?;
    Ok(call.respond(NS, &|xml| {
        xml.elem("UserName", &key.user_name);
        xml.open("AccessKeyLastUsed");
        match &key.last_used {
            Some(used) => {
                xml.date("LastUsedDate", &used.last_used_date);
                xml.elem("ServiceName", &used.service_name);
                xml.elem("Region", &used.region);
            }
            None => {
                xml.elem("ServiceName", "N/A");
                xml.elem("Region", "N/A");
            }
        }
        xml.close("AccessKeyLastUsed");
    }))
}
