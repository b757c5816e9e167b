//! IAM's Query API: one function per action, grouped by the entity it acts on — [`users`],
//! [`groups`], [`roles`], access [`keys`], managed [`policies`] with versions, the [`tags`] of
//! users and roles, and the attached and inline policies of users, groups and roles
//! ([`entity_policies`]) — with `Marker`/`MaxItems` paging. [`handle`] is the table from action
//! name to function.
//!
//! Each function reads its parameters, authorizes the caller on the resource's ARN (before
//! looking the resource up, as IAM does), runs the operation on the caller's account and
//! renders AWS's XML shape. (The folder is `iam_api`, not `iam`, so that `iam` keeps naming the
//! crate of IAM's semantics.)

mod entity_policies;
mod groups;
mod keys;
mod policies;
mod roles;
mod tags;
mod users;

use std::collections::BTreeMap;

use iam::arn;
use iam::condition::ContextKeys;
use iam::{Account, EntityKind, IamError, IamState, Page, Tag, paginate};

use crate::call::Call;
use crate::error::AwsError;
use crate::xml::Xml;

/// Handles IAM action `call.action`; `None` when IAM has no such action.
pub(crate) async fn handle(call: &Call<'_>) -> Result<Option<String>, AwsError> {
    use EntityKind::{Group, Role, User};
    let body = match call.action.as_str() {
        "CreateUser" => users::create_user(call).await,
        "GetUser" => users::get_user(call),
        "ListUsers" => users::list_users(call),
        "UpdateUser" => users::update_user(call).await,
        "DeleteUser" => users::delete_user(call).await,

        "TagUser" => tags::tag(call, User).await,
        "UntagUser" => tags::untag(call, User).await,
        "ListUserTags" => tags::list_tags(call, User),
        "TagRole" => tags::tag(call, Role).await,
        "UntagRole" => tags::untag(call, Role).await,
        "ListRoleTags" => tags::list_tags(call, Role),

        "CreateGroup" => groups::create_group(call).await,
        "GetGroup" => groups::get_group(call),
        "ListGroups" => groups::list_groups(call),
        "DeleteGroup" => groups::delete_group(call).await,
        "AddUserToGroup" => groups::add_user_to_group(call).await,
        "RemoveUserFromGroup" => groups::remove_user_from_group(call).await,
        "ListGroupsForUser" => groups::list_groups_for_user(call),

        "CreateRole" => roles::create_role(call).await,
        "GetRole" => roles::get_role(call),
        "ListRoles" => roles::list_roles(call),
        "UpdateRole" => roles::update_role(call).await,
        "UpdateAssumeRolePolicy" => roles::update_assume_role_policy(call).await,
        "DeleteRole" => roles::delete_role(call).await,

        "CreateAccessKey" => keys::create_access_key(call).await,
        "ListAccessKeys" => keys::list_access_keys(call),
        "UpdateAccessKey" => keys::update_access_key(call).await,
        "DeleteAccessKey" => keys::delete_access_key(call).await,
        "GetAccessKeyLastUsed" => keys::get_access_key_last_used(call),

        "CreatePolicy" => policies::create_policy(call).await,
        "GetPolicy" => policies::get_policy(call),
        "ListPolicies" => policies::list_policies(call),
        "DeletePolicy" => policies::delete_policy(call).await,
        "CreatePolicyVersion" => policies::create_policy_version(call).await,
        "GetPolicyVersion" => policies::get_policy_version(call),
        "ListPolicyVersions" => policies::list_policy_versions(call),
        "DeletePolicyVersion" => policies::delete_policy_version(call).await,
        "SetDefaultPolicyVersion" => policies::set_default_policy_version(call).await,
        "ListEntitiesForPolicy" => policies::list_entities_for_policy(call),
        "TagPolicy" => policies::tag_policy(call).await,
        "UntagPolicy" => policies::untag_policy(call).await,
        "ListPolicyTags" => policies::list_policy_tags(call),

        "AttachUserPolicy" => entity_policies::attach(call, User).await,
        "AttachGroupPolicy" => entity_policies::attach(call, Group).await,
        "AttachRolePolicy" => entity_policies::attach(call, Role).await,
        "DetachUserPolicy" => entity_policies::detach(call, User).await,
        "DetachGroupPolicy" => entity_policies::detach(call, Group).await,
        "DetachRolePolicy" => entity_policies::detach(call, Role).await,
        "ListAttachedUserPolicies" => entity_policies::list_attached(call, User),
        "ListAttachedGroupPolicies" => entity_policies::list_attached(call, Group),
        "ListAttachedRolePolicies" => entity_policies::list_attached(call, Role),
        "PutUserPolicy" => entity_policies::put_inline(call, User).await,
        "PutGroupPolicy" => entity_policies::put_inline(call, Group).await,
        "PutRolePolicy" => entity_policies::put_inline(call, Role).await,
        "GetUserPolicy" => entity_policies::get_inline(call, User),
        "GetGroupPolicy" => entity_policies::get_inline(call, Group),
        "GetRolePolicy" => entity_policies::get_inline(call, Role),
        "DeleteUserPolicy" => entity_policies::delete_inline(call, User).await,
        "DeleteGroupPolicy" => entity_policies::delete_inline(call, Group).await,
        "DeleteRolePolicy" => entity_policies::delete_inline(call, Role).await,
        "ListUserPolicies" => entity_policies::list_inline(call, User),
        "ListGroupPolicies" => entity_policies::list_inline(call, Group),
        "ListRolePolicies" => entity_policies::list_inline(call, Role),
        _ => return Ok(None),
    }?;
    Ok(Some(body))
}

/// The name parameter of an entity kind's calls and that parameter's member name in AWS's
/// validation messages.
fn name_param(kind: EntityKind) -> (&'static str, &'static str) {
    match kind {
        EntityKind::User => ("UserName", "userName"),
        EntityKind::Group => ("GroupName", "groupName"),
        EntityKind::Role => ("RoleName", "roleName"),
    }
}

/// The ARN an entity's operations are authorized on: the entity's own when it exists in the
/// caller's account, otherwise the ARN it would have at the root path.
fn entity_arn(call: &Call<'_>, kind: EntityKind, name: &str) -> String {
    let account = call.account();
    let existing = call.api.iam().read(|state: &IamState| {
        state.account(&account).and_then(|a| match kind {
            EntityKind::User => a.user(name).ok().map(|u| u.arn.clone()),
            EntityKind::Group => a.group(name).ok().map(|g| g.arn.clone()),
            EntityKind::Role => a.role(name).ok().map(|r| r.arn.clone()),
        })
    });
    existing.unwrap_or_else(|| match kind {
        EntityKind::User => arn::user_arn(&account, "/", name),
        EntityKind::Group => arn::group_arn(&account, "/", name),
        EntityKind::Role => arn::role_arn(&account, "/", name),
    })
}

/// Reads the caller's account (an empty one when it holds nothing yet).
fn with_account<T>(call: &Call<'_>, f: impl FnOnce(&Account) -> Result<T, IamError>) -> Result<T, AwsError> {
    let id = call.account();
    call.api
        .iam()
        .read(|state| match state.account(&id) {
            Some(account) => f(account),
            None => f(&Account::new(&id)),
        })
        .map_err(AwsError::from)
}

/// `MaxItems`, read before anything else of a list call (a malformed one is refused first).
fn max_items(call: &Call<'_>) -> Result<Option<i64>, AwsError> {
    Ok(call.params.int("MaxItems", "maxItems")?)
}

/// The entities of the caller's account under `PathPrefix`, one page of them.
fn page_by_path<T: Clone>(
    call: &Call<'_>,
    max_items: Option<i64>,
    entities: fn(&Account) -> &BTreeMap<String, T>,
    path: fn(&T) -> &str,
) -> Result<Page<T>, AwsError> {
    let prefix = call.params.get("PathPrefix").unwrap_or("/");
    with_account(call, |a| {
        let selected =
            entities(a).iter().filter(|(_, e)| path(e).starts_with(prefix)).map(|(k, e)| (k.clone(), e.clone()));
        paginate(selected, call.params.get("Marker"), max_items)
    })
}

/// The `aws:RequestTag/<key>` and `aws:TagKeys` condition keys of a call that sets tags.
fn request_tags(context: &mut ContextKeys, tags: &[Tag]) {
    for tag in tags {
        context.set(&format!("aws:RequestTag/{}", tag.key), tag.value.clone());
    }
    if !tags.is_empty() {
        context.set_all("aws:TagKeys", tags.iter().map(|t| t.key.clone()).collect());
    }
}

fn write_tags(xml: &mut Xml, tags: &[Tag]) {
    xml.members("Tags", tags, |xml, tag| {
        xml.elem("Key", &tag.key);
        xml.elem("Value", &tag.value);
    });
}
