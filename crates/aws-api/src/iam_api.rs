//! IAM's Query API: users, groups, roles, access keys, managed policies with versions, attached
//! and inline policies for users, groups and roles, tags, with `Marker`/`MaxItems` paging. Each
//! handler reads its parameters, authorizes the caller on the resource's ARN (before looking
//! the resource up, as IAM does), runs the operation on the caller's account and renders AWS's
//! XML shape.

use std::collections::BTreeMap;

use iam::arn;
use iam::condition::ContextKeys;
use iam::{
    AccessKey, AccessKeyStatus, Account, Caller, EntityKind, Group, IamError, IamState, ManagedPolicy, PolicyRef,
    PolicyVersion, Role, Tag, User, paginate,
};

use crate::api::Call;
use crate::error::AwsError;
use crate::xml::{IAM_NAMESPACE as NS, Xml};

fn write_tags(xml: &mut Xml, tags: &[Tag]) {
    xml.members("Tags", tags, |xml, tag| {
        xml.elem("Key", &tag.key);
        xml.elem("Value", &tag.value);
    });
}

fn write_user(xml: &mut Xml, user: &User, with_tags: bool) {
    xml.elem("Path", &user.path);
    xml.elem("UserName", &user.user_name);
    xml.elem("UserId", &user.user_id);
    xml.elem("Arn", &user.arn);
    xml.date("CreateDate", &user.create_date);
    if with_tags && !user.tags.is_empty() {
        write_tags(xml, &user.tags);
    }
}

fn write_group(xml: &mut Xml, group: &Group) {
    xml.elem("Path", &group.path);
    xml.elem("GroupName", &group.group_name);
    xml.elem("GroupId", &group.group_id);
    xml.elem("Arn", &group.arn);
    xml.date("CreateDate", &group.create_date);
}

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

fn write_key(xml: &mut Xml, key: &AccessKey, with_secret: bool) {
    xml.elem("UserName", &key.user_name);
    xml.elem("AccessKeyId", &key.access_key_id);
    xml.elem("Status", key.status.as_str());
    if with_secret {
        xml.elem("SecretAccessKey", &key.secret_access_key);
    }
    xml.date("CreateDate", &key.create_date);
}

fn request_tags(context: &mut ContextKeys, tags: &[Tag]) {
    for tag in tags {
        context.set(&format!("aws:RequestTag/{}", tag.key), tag.value.clone());
    }
    if !tags.is_empty() {
        context.set_all("aws:TagKeys", tags.iter().map(|t| t.key.clone()).collect());
    }
}

/// An entity kind's word in action names, its name parameter and that parameter's member name.
fn names(kind: EntityKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        EntityKind::User => ("User", "UserName", "userName"),
        EntityKind::Group => ("Group", "GroupName", "groupName"),
        EntityKind::Role => ("Role", "RoleName", "roleName"),
    }
}

/// The ARN an entity's operations are authorized on: the entity's own when it exists,
/// otherwise the ARN it would have at the root path.
fn entity_arn(state: &IamState, account: &str, kind: EntityKind, name: &str) -> String {
    let existing = state.account(account).and_then(|a| match kind {
        EntityKind::User => a.user(name).ok().map(|u| u.arn.clone()),
        EntityKind::Group => a.group(name).ok().map(|g| g.arn.clone()),
        EntityKind::Role => a.role(name).ok().map(|r| r.arn.clone()),
    });
    existing.unwrap_or_else(|| match kind {
        EntityKind::User => arn::user_arn(account, "/", name),
        EntityKind::Group => arn::group_arn(account, "/", name),
        EntityKind::Role => arn::role_arn(account, "/", name),
    })
}

/// The operations that exist for users, groups and roles alike, recognized by name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EntityOp {
    Attach,
    Detach,
    ListAttached,
    PutInline,
    GetInline,
    DeleteInline,
    ListInline,
}

fn entity_op(action: &str) -> Option<(EntityOp, EntityKind)> {
    for kind in [EntityKind::User, EntityKind::Group, EntityKind::Role] {
        let (word, _, _) = names(kind);
        let ops = [
            (format!("Attach{word}Policy"), EntityOp::Attach),
            (format!("Detach{word}Policy"), EntityOp::Detach),
            (format!("ListAttached{word}Policies"), EntityOp::ListAttached),
            (format!("Put{word}Policy"), EntityOp::PutInline),
            (format!("Get{word}Policy"), EntityOp::GetInline),
            (format!("Delete{word}Policy"), EntityOp::DeleteInline),
            (format!("List{word}Policies"), EntityOp::ListInline),
        ];
        if let Some((_, op)) = ops.iter().find(|(name, _)| name == action) {
            return Some((*op, kind));
        }
    }
    None
}

/// The user an access-key call is about: `UserName`, or the calling user.
fn key_user(call: &Call<'_>) -> Result<String, AwsError> {
    match (call.params.get("UserName"), &call.caller) {
        (Some(name), _) => Ok(name.to_string()),
        (None, Caller::User { user_name, .. }) => Ok(user_name.clone()),
        _ => {
            Err(IamError::ValidationError("Must specify userName when calling with non-User credentials".into()).into())
        }
    }
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

/// The entities of the caller's account under `PathPrefix`, one page of them.
fn page_by_path<T: Clone>(
    call: &Call<'_>,
    entities: fn(&Account) -> &BTreeMap<String, T>,
    path: fn(&T) -> &str,
) -> Result<iam::Page<T>, AwsError> {
    let prefix = call.params.get("PathPrefix").unwrap_or("/");
    let max_items = call.params.int("MaxItems", "maxItems")?;
    with_account(call, |a| {
        let selected =
            entities(a).iter().filter(|(_, e)| path(e).starts_with(prefix)).map(|(k, e)| (k.clone(), e.clone()));
        paginate(selected, call.params.get("Marker"), max_items)
    })
}

/// Handles IAM action `call.action`; `None` when IAM has no such action.
pub(crate) async fn handle(call: &mut Call<'_>) -> Result<Option<String>, AwsError> {
    if let Some((op, kind)) = entity_op(&call.action) {
        return entity_call(call, op, kind).await.map(Some);
    }
    let account = call.account();
    let now = call.env.now;
    let iam = call.api.iam();
    let p = call.params.clone();
    let user_arn = |name: &str| iam.read(|s| entity_arn(s, &account, EntityKind::User, name));
    let role_arn = |name: &str| iam.read(|s| entity_arn(s, &account, EntityKind::Role, name));
    let group_arn = |name: &str| iam.read(|s| entity_arn(s, &account, EntityKind::Group, name));
    let max_items = p.int("MaxItems", "maxItems")?;
    let marker = p.get("Marker");
    let path_prefix = p.get("PathPrefix").unwrap_or("/");

    let body = match call.action.as_str() {
        // -- users ---------------------------------------------------------------------------
        "CreateUser" => {
            let name = p.required("UserName", "userName")?;
            let path = p.get("Path");
            let tags = p.tags();
            call.authorize_with("iam:CreateUser", &arn::user_arn(&account, path.unwrap_or("/"), name), |c| {
                request_tags(c, &tags)
            })?;
            let user = iam
                .update(&account, |a, _| Ok(a.create_user(name, path, tags.clone(), now, &mut rand::rng())?.clone()))
                .await?;
            call.respond(NS, &|xml| {
                xml.open("User");
                write_user(xml, &user, true);
                xml.close("User");
            })
        }
        "GetUser" => {
            let name = match (p.get("UserName"), &call.caller) {
                (Some(name), _) => name.to_string(),
                (None, Caller::User { user_name, .. }) => user_name.clone(),
                (None, Caller::Root { .. }) => {
                    let identity = call.caller.identity();
                    return Ok(Some(call.respond(NS, &|xml| {
                        xml.open("User");
                        xml.elem("UserId", &identity.user_id);
                        xml.elem("Arn", &identity.arn);
                        xml.close("User");
                    })));
                }
                (None, Caller::AssumedRole { .. }) => {
                    return Err(IamError::ValidationError(
                        "Must specify userName when calling with non-User credentials".into(),
                    )
                    .into());
                }
            };
            call.authorize("iam:GetUser", &user_arn(&name))?;
            let user = with_account(call, |a| a.user(&name).cloned())?;
            call.respond(NS, &|xml| {
                xml.open("User");
                write_user(xml, &user, true);
                xml.close("User");
            })
        }
        "ListUsers" => {
            call.authorize("iam:ListUsers", &arn::user_arn(&account, "/", ""))?;
            let page = page_by_path(call, |a| &a.users, |e| &e.path)?;
            call.respond(NS, &|xml| {
                xml.members("Users", &page.items, |xml, user| write_user(xml, user, false));
                xml.paging(page.is_truncated, page.marker.as_deref());
            })
        }
        "UpdateUser" => {
            let name = p.required("UserName", "userName")?;
            call.authorize("iam:UpdateUser", &user_arn(name))?;
            iam.update(&account, |a, _| a.update_user(name, p.get("NewUserName"), p.get("NewPath"))).await?;
            call.respond_empty(NS)
        }
        "DeleteUser" => {
            let name = p.required("UserName", "userName")?;
            call.authorize("iam:DeleteUser", &user_arn(name))?;
            iam.update(&account, |a, _| a.delete_user(name)).await?;
            call.respond_empty(NS)
        }
        "TagUser" | "TagRole" => {
            let kind = if call.action == "TagUser" { EntityKind::User } else { EntityKind::Role };
            let (_, param, member) = names(kind);
            let name = p.required(param, member)?;
            let tags = p.tags();
            let resource = if kind == EntityKind::User { user_arn(name) } else { role_arn(name) };
            call.authorize_with(&format!("iam:{}", call.action), &resource, |c| request_tags(c, &tags))?;
            iam.update(&account, |a, _| a.tag(kind, name, &tags)).await?;
            call.respond_empty(NS)
        }
        "UntagUser" | "UntagRole" => {
            let kind = if call.action == "UntagUser" { EntityKind::User } else { EntityKind::Role };
            let (_, param, member) = names(kind);
            let name = p.required(param, member)?;
            let keys = p.list("TagKeys");
            let resource = if kind == EntityKind::User { user_arn(name) } else { role_arn(name) };
            call.authorize_with(&format!("iam:{}", call.action), &resource, |c| {
                c.set_all("aws:TagKeys", keys.clone())
            })?;
            iam.update(&account, |a, _| a.untag(kind, name, &keys)).await?;
            call.respond_empty(NS)
        }
        "ListUserTags" | "ListRoleTags" => {
            let kind = if call.action == "ListUserTags" { EntityKind::User } else { EntityKind::Role };
            let (_, param, member) = names(kind);
            let name = p.required(param, member)?;
            let resource = if kind == EntityKind::User { user_arn(name) } else { role_arn(name) };
            call.authorize(&format!("iam:{}", call.action), &resource)?;
            let page = with_account(call, |a| {
                let tags =
                    if kind == EntityKind::User { a.user(name)?.tags.clone() } else { a.role(name)?.tags.clone() };
                paginate(tags.into_iter().map(|t| (t.key.to_lowercase(), t)), marker, max_items)
            })?;
            call.respond(NS, &|xml| {
                write_tags(xml, &page.items);
                xml.paging(page.is_truncated, page.marker.as_deref());
            })
        }

        // -- groups --------------------------------------------------------------------------
        "CreateGroup" => {
            let name = p.required("GroupName", "groupName")?;
            let path = p.get("Path");
            call.authorize("iam:CreateGroup", &arn::group_arn(&account, path.unwrap_or("/"), name))?;
            let group =
                iam.update(&account, |a, _| Ok(a.create_group(name, path, now, &mut rand::rng())?.clone())).await?;
            call.respond(NS, &|xml| {
                xml.open("Group");
                write_group(xml, &group);
                xml.close("Group");
            })
        }
        "GetGroup" => {
            let name = p.required("GroupName", "groupName")?;
            call.authorize("iam:GetGroup", &group_arn(name))?;
            let (group, page) = with_account(call, |a| {
                let group = a.group(name)?.clone();
                let members =
                    a.group_members(&group.group_name).into_iter().map(|u| (u.user_name.to_lowercase(), u.clone()));
                Ok((group, paginate(members, marker, max_items)?))
            })?;
            call.respond(NS, &|xml| {
                xml.open("Group");
                write_group(xml, &group);
                xml.close("Group");
                xml.members("Users", &page.items, |xml, user| write_user(xml, user, false));
                xml.paging(page.is_truncated, page.marker.as_deref());
            })
        }
        "ListGroups" => {
            call.authorize("iam:ListGroups", &arn::group_arn(&account, "/", ""))?;
            let page = page_by_path(call, |a| &a.groups, |e| &e.path)?;
            call.respond(NS, &|xml| {
                xml.members("Groups", &page.items, write_group);
                xml.paging(page.is_truncated, page.marker.as_deref());
            })
        }
        "DeleteGroup" => {
            let name = p.required("GroupName", "groupName")?;
            call.authorize("iam:DeleteGroup", &group_arn(name))?;
            iam.update(&account, |a, _| a.delete_group(name)).await?;
            call.respond_empty(NS)
        }
        "AddUserToGroup" | "RemoveUserFromGroup" => {
            let group = p.required("GroupName", "groupName")?;
            let user = p.required("UserName", "userName")?;
            call.authorize(&format!("iam:{}", call.action), &group_arn(group))?;
            let add = call.action == "AddUserToGroup";
            iam.update(&account, |a, _| {
                if add { a.add_user_to_group(group, user) } else { a.remove_user_from_group(group, user) }
            })
            .await?;
            call.respond_empty(NS)
        }
        "ListGroupsForUser" => {
            let name = p.required("UserName", "userName")?;
            call.authorize("iam:ListGroupsForUser", &user_arn(name))?;
            let page = with_account(call, |a| {
                let groups = a.groups_for_user(name)?.into_iter().map(|g| (g.group_name.to_lowercase(), g.clone()));
                paginate(groups, marker, max_items)
            })?;
            call.respond(NS, &|xml| {
                xml.members("Groups", &page.items, write_group);
                xml.paging(page.is_truncated, page.marker.as_deref());
            })
        }

        // -- roles ---------------------------------------------------------------------------
        "CreateRole" => {
            let name = p.required("RoleName", "roleName")?;
            let document = p.required("AssumeRolePolicyDocument", "assumeRolePolicyDocument")?;
            let path = p.get("Path");
            let tags = p.tags();
            let max = p.int("MaxSessionDuration", "maxSessionDuration")?;
            call.authorize_with("iam:CreateRole", &arn::role_arn(&account, path.unwrap_or("/"), name), |c| {
                request_tags(c, &tags)
            })?;
            let role = iam
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
                        now,
                        &mut rand::rng(),
                    )?;
                    Ok(role.clone())
                })
                .await?;
            call.respond(NS, &|xml| {
                xml.open("Role");
                write_role(xml, &role, false);
                if !role.tags.is_empty() {
                    write_tags(xml, &role.tags);
                }
                xml.close("Role");
            })
        }
        "GetRole" => {
            let name = p.required("RoleName", "roleName")?;
            call.authorize("iam:GetRole", &role_arn(name))?;
            let role = with_account(call, |a| a.role(name).cloned())?;
            call.respond(NS, &|xml| {
                xml.open("Role");
                write_role(xml, &role, true);
                xml.close("Role");
            })
        }
        "ListRoles" => {
            call.authorize("iam:ListRoles", &arn::role_arn(&account, "/", ""))?;
            let page = page_by_path(call, |a| &a.roles, |e| &e.path)?;
            call.respond(NS, &|xml| {
                xml.members("Roles", &page.items, |xml, role| write_role(xml, role, false));
                xml.paging(page.is_truncated, page.marker.as_deref());
            })
        }
        "UpdateRole" => {
            let name = p.required("RoleName", "roleName")?;
            let max = p.int("MaxSessionDuration", "maxSessionDuration")?;
            call.authorize("iam:UpdateRole", &role_arn(name))?;
            iam.update(&account, |a, _| a.update_role(name, p.get("Description"), max)).await?;
            call.respond(NS, &|_| {})
        }
        "UpdateAssumeRolePolicy" => {
            let name = p.required("RoleName", "roleName")?;
            let document = p.required("PolicyDocument", "policyDocument")?;
            call.authorize("iam:UpdateAssumeRolePolicy", &role_arn(name))?;
            iam.update(&account, |a, state| {
                let known = |principal: &str| state.principal_exists(principal);
                a.update_assume_role_policy(name, document, &known)
            })
            .await?;
            call.respond_empty(NS)
        }
        "DeleteRole" => {
            let name = p.required("RoleName", "roleName")?;
            call.authorize("iam:DeleteRole", &role_arn(name))?;
            iam.update(&account, |a, _| a.delete_role(name)).await?;
            call.respond_empty(NS)
        }

        // -- access keys ---------------------------------------------------------------------
        "CreateAccessKey" => {
            let user = key_user(call)?;
            call.authorize("iam:CreateAccessKey", &user_arn(&user))?;
            let key =
                iam.update(&account, |a, _| Ok(a.create_access_key(&user, now, &mut rand::rng())?.clone())).await?;
            call.respond(NS, &|xml| {
                xml.open("AccessKey");
                write_key(xml, &key, true);
                xml.close("AccessKey");
            })
        }
        "ListAccessKeys" => {
            let user = key_user(call)?;
            call.authorize("iam:ListAccessKeys", &user_arn(&user))?;
            let page = with_account(call, |a| {
                let keys = a.access_keys_of(&user)?.into_iter().map(|k| (k.access_key_id.clone(), k.clone()));
                paginate(keys, marker, max_items)
            })?;
            call.respond(NS, &|xml| {
                xml.members("AccessKeyMetadata", &page.items, |xml, key| write_key(xml, key, false));
                xml.paging(page.is_truncated, page.marker.as_deref());
            })
        }
        "UpdateAccessKey" => {
            let id = p.required("AccessKeyId", "accessKeyId")?;
            let status = AccessKeyStatus::parse(p.required("Status", "status")?)?;
            let user = key_user(call)?;
            call.authorize("iam:UpdateAccessKey", &user_arn(&user))?;
            iam.update(&account, |a, _| a.update_access_key(id, Some(&user), status)).await?;
            call.respond_empty(NS)
        }
        "DeleteAccessKey" => {
            let id = p.required("AccessKeyId", "accessKeyId")?;
            let user = key_user(call)?;
            call.authorize("iam:DeleteAccessKey", &user_arn(&user))?;
            iam.update(&account, |a, _| a.delete_access_key(id, Some(&user))).await?;
            call.respond_empty(NS)
        }
        "GetAccessKeyLastUsed" => {
            let id = p.required("AccessKeyId", "accessKeyId")?;
            let key = with_account(call, |a| {
                a.access_keys.get(id).cloned().ok_or_else(|| {
                    IamError::AccessDenied(format!(
                        "User: {} is not authorized to perform: iam:GetAccessKeyLastUsed on resource: access key {id}",
                        call.caller.arn()
                    ))
                })
            })?;
            call.authorize("iam:GetAccessKeyLastUsed", &user_arn(&key.user_name))?;
            call.respond(NS, &|xml| {
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
            })
        }

        // -- managed policies ----------------------------------------------------------------
        "CreatePolicy" => {
            let name = p.required("PolicyName", "policyName")?;
            let document = p.required("PolicyDocument", "policyDocument")?;
            let path = p.get("Path");
            let tags = p.tags();
            call.authorize_with("iam:CreatePolicy", &arn::policy_arn(&account, path.unwrap_or("/"), name), |c| {
                request_tags(c, &tags)
            })?;
            let policy: ManagedPolicy = iam
                .update(&account, |a, _| {
                    Ok(a.create_policy(
                        name,
                        path,
                        document,
                        p.get("Description"),
                        tags.clone(),
                        now,
                        &mut rand::rng(),
                    )?
                    .clone())
                })
                .await?;
            call.respond(NS, &|xml| {
                xml.open("Policy");
                write_policy(xml, PolicyRef::Customer(&policy), 0, true);
                xml.close("Policy");
            })
        }
        "GetPolicy" => {
            let policy_arn = p.required("PolicyArn", "policyArn")?;
            call.authorize("iam:GetPolicy", policy_arn)?;
            with_account(call, |a| {
                let policy = a.policy(policy_arn)?;
                let count = a.attachment_count(policy.arn());
                Ok(call.respond(NS, &|xml| {
                    xml.open("Policy");
                    write_policy(xml, policy, count, true);
                    xml.close("Policy");
                }))
            })?
        }
        "ListPolicies" => {
            call.authorize("iam:ListPolicies", &arn::policy_arn(&account, "/", ""))?;
            let scope = p.get("Scope").unwrap_or("All");
            if !["All", "AWS", "Local"].contains(&scope) {
                return Err(IamError::validation(
                    Some(scope),
                    "scope",
                    "must satisfy enum value set: [All, AWS, Local]",
                )
                .into());
            }
            let only_attached = p.boolean("OnlyAttached", "onlyAttached")?.unwrap_or(false);
            with_account(call, |a| {
                let mut policies: Vec<(String, PolicyRef<'_>)> = Vec::new();
                if scope != "Local" {
                    policies.extend(iam::managed::all().iter().map(|m| (m.arn.clone(), PolicyRef::Aws(m))));
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
                let page = paginate(selected, marker, max_items)?;
                Ok(call.respond(NS, &|xml| {
                    xml.members("Policies", &page.items, |xml, (policy, count)| {
                        write_policy(xml, *policy, *count, false)
                    });
                    xml.paging(page.is_truncated, page.marker.as_deref());
                }))
            })?
        }
        "DeletePolicy" => {
            let policy_arn = p.required("PolicyArn", "policyArn")?;
            call.authorize("iam:DeletePolicy", policy_arn)?;
            iam.update(&account, |a, _| a.delete_policy(policy_arn)).await?;
            call.respond_empty(NS)
        }
        "CreatePolicyVersion" => {
            let policy_arn = p.required("PolicyArn", "policyArn")?;
            let document = p.required("PolicyDocument", "policyDocument")?;
            let set_default = p.boolean("SetAsDefault", "setAsDefault")?.unwrap_or(false);
            call.authorize("iam:CreatePolicyVersion", policy_arn)?;
            let version = iam
                .update(&account, |a, _| Ok(a.create_policy_version(policy_arn, document, set_default, now)?.clone()))
                .await?;
            call.respond(NS, &|xml| {
                xml.open("PolicyVersion");
                write_version(xml, &version, set_default, false);
                xml.close("PolicyVersion");
            })
        }
        "GetPolicyVersion" => {
            let policy_arn = p.required("PolicyArn", "policyArn")?;
            let version_id = p.required("VersionId", "versionId")?;
            call.authorize("iam:GetPolicyVersion", policy_arn)?;
            let (version, is_default) = with_account(call, |a| {
                let missing =
                    || IamError::NoSuchEntity(format!("Policy {policy_arn} version {version_id} does not exist."));
                match a.policy(policy_arn)? {
                    PolicyRef::Customer(c) => {
                        let version = c.versions.iter().find(|v| v.version_id == version_id).ok_or_else(missing)?;
                        Ok((version.clone(), c.default_version_id == version_id))
                    }
                    PolicyRef::Aws(m) if version_id == "v1" => Ok((
                        PolicyVersion {
                            version_id: "v1".into(),
                            document: m.document.clone(),
                            create_date: m.create_date,
                        },
                        true,
                    )),
                    PolicyRef::Aws(_) => Err(missing()),
                }
            })?;
            call.respond(NS, &|xml| {
                xml.open("PolicyVersion");
                write_version(xml, &version, is_default, true);
                xml.close("PolicyVersion");
            })
        }
        "ListPolicyVersions" => {
            let policy_arn = p.required("PolicyArn", "policyArn")?;
            call.authorize("iam:ListPolicyVersions", policy_arn)?;
            let (versions, default) = with_account(call, |a| match a.policy(policy_arn)? {
                PolicyRef::Customer(c) => {
                    let mut versions = c.versions.clone();
                    versions.reverse();
                    Ok((versions, c.default_version_id.clone()))
                }
                PolicyRef::Aws(m) => Ok((
                    vec![PolicyVersion {
                        version_id: "v1".into(),
                        document: m.document.clone(),
                        create_date: m.create_date,
                    }],
                    "v1".to_string(),
                )),
            })?;
            let page =
                paginate(versions.into_iter().enumerate().map(|(i, v)| (format!("{i:05}"), v)), marker, max_items)?;
            call.respond(NS, &|xml| {
                xml.members("Versions", &page.items, |xml, v| write_version(xml, v, v.version_id == default, false));
                xml.paging(page.is_truncated, page.marker.as_deref());
            })
        }
        "DeletePolicyVersion" | "SetDefaultPolicyVersion" => {
            let policy_arn = p.required("PolicyArn", "policyArn")?;
            let version_id = p.required("VersionId", "versionId")?;
            call.authorize(&format!("iam:{}", call.action), policy_arn)?;
            let delete = call.action == "DeletePolicyVersion";
            iam.update(&account, |a, _| {
                if delete {
                    a.delete_policy_version(policy_arn, version_id)
                } else {
                    a.set_default_policy_version(policy_arn, version_id)
                }
            })
            .await?;
            call.respond_empty(NS)
        }
        "ListEntitiesForPolicy" => {
            let policy_arn = p.required("PolicyArn", "policyArn")?;
            call.authorize("iam:ListEntitiesForPolicy", policy_arn)?;
            let entities = with_account(call, |a| {
                a.policy(policy_arn)?;
                Ok(a.policy_entities(policy_arn))
            })?;
            call.respond(NS, &|xml| {
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
            })
        }
        "TagPolicy" | "UntagPolicy" => {
            let policy_arn = p.required("PolicyArn", "policyArn")?;
            let tags = p.tags();
            let keys = p.list("TagKeys");
            call.authorize_with(&format!("iam:{}", call.action), policy_arn, |c| request_tags(c, &tags))?;
            let tag = call.action == "TagPolicy";
            iam.update(
                &account,
                |a, _| if tag { a.tag_policy(policy_arn, &tags) } else { a.untag_policy(policy_arn, &keys) },
            )
            .await?;
            call.respond_empty(NS)
        }
        "ListPolicyTags" => {
            let policy_arn = p.required("PolicyArn", "policyArn")?;
            call.authorize("iam:ListPolicyTags", policy_arn)?;
            let tags = with_account(call, |a| match a.policy(policy_arn)? {
                PolicyRef::Customer(c) => Ok(c.tags.clone()),
                PolicyRef::Aws(_) => Ok(vec![]),
            })?;
            call.respond(NS, &|xml| {
                write_tags(xml, &tags);
                xml.boolean("IsTruncated", false);
            })
        }
        _ => return Ok(None),
    };
    Ok(Some(body))
}

/// Attach/Detach/ListAttached and Put/Get/Delete/List inline policies of users, groups, roles.
async fn entity_call(call: &Call<'_>, op: EntityOp, kind: EntityKind) -> Result<String, AwsError> {
    let (_, param, member) = names(kind);
    let p = &call.params;
    let name = p.required(param, member)?;
    let account = call.account();
    let iam = call.api.iam();
    let resource = iam.read(|s| entity_arn(s, &account, kind, name));
    let action = format!("iam:{}", call.action);
    let marker = p.get("Marker");
    let max_items = p.int("MaxItems", "maxItems")?;
    match op {
        EntityOp::Attach | EntityOp::Detach => {
            let policy_arn = p.required("PolicyArn", "policyArn")?;
            call.authorize_with(&action, &resource, |c| c.set("iam:PolicyARN", policy_arn))?;
            iam.update(&account, |a, _| {
                if op == EntityOp::Attach {
                    a.attach_policy(kind, name, policy_arn)
                } else {
                    a.detach_policy(kind, name, policy_arn)
                }
            })
            .await?;
            Ok(call.respond_empty(NS))
        }
        EntityOp::ListAttached => {
            call.authorize(&action, &resource)?;
            let path_prefix = p.get("PathPrefix").unwrap_or("/");
            let page = with_account(call, |a| {
                let attached =
                    a.attached(kind, name)?.iter().filter_map(|arn| a.policy(arn).ok()).filter(|policy| match policy {
                        PolicyRef::Customer(c) => c.path.starts_with(path_prefix),
                        PolicyRef::Aws(m) => m.path.starts_with(path_prefix),
                    });
                let items: Vec<(String, (String, String))> = attached
                    .map(|policy| (policy.arn().to_string(), (policy.name().to_string(), policy.arn().to_string())))
                    .collect();
                paginate(items, marker, max_items)
            })?;
            Ok(call.respond(NS, &|xml| {
                xml.members("AttachedPolicies", &page.items, |xml, (name, arn)| {
                    xml.elem("PolicyName", name);
                    xml.elem("PolicyArn", arn);
                });
                xml.paging(page.is_truncated, page.marker.as_deref());
            }))
        }
        EntityOp::PutInline => {
            let policy_name = p.required("PolicyName", "policyName")?;
            let document = p.required("PolicyDocument", "policyDocument")?;
            call.authorize(&action, &resource)?;
            iam.update(&account, |a, _| a.put_inline_policy(kind, name, policy_name, document)).await?;
            Ok(call.respond_empty(NS))
        }
        EntityOp::GetInline => {
            let policy_name = p.required("PolicyName", "policyName")?;
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
                xml.elem(param, &entity_name);
                xml.elem("PolicyName", policy_name);
                xml.document("PolicyDocument", &document);
            }))
        }
        EntityOp::DeleteInline => {
            let policy_name = p.required("PolicyName", "policyName")?;
            call.authorize(&action, &resource)?;
            iam.update(&account, |a, _| a.delete_inline_policy(kind, name, policy_name)).await?;
            Ok(call.respond_empty(NS))
        }
        EntityOp::ListInline => {
            call.authorize(&action, &resource)?;
            let page = with_account(call, |a| {
                let names: Vec<(String, String)> =
                    a.inline(kind, name)?.keys().map(|n| (n.clone(), n.clone())).collect();
                paginate(names, marker, max_items)
            })?;
            Ok(call.respond(NS, &|xml| {
                xml.members("PolicyNames", &page.items, |xml, name| xml.text(name));
                xml.paging(page.is_truncated, page.marker.as_deref());
            }))
        }
    }
}
