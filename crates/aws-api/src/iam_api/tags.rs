//! The tags of users and roles: `TagUser`/`TagRole`, `UntagUser`/`UntagRole`,
//! `ListUserTags`/`ListRoleTags` (a managed policy's tags are in `policies`).

use iam::{EntityKind, paginate};

use super::{entity_arn, max_items, name_param, request_tags, with_account, write_tags};
use crate::call::Call;
use crate::error::AwsError;
use crate::xml::IAM_NAMESPACE as NS;

pub(super) async fn tag(call: &Call<'_>, kind: EntityKind) -> Result<String, AwsError> {
    let (param, member) = name_param(kind);
    let name = call.params.required(param, member)?;
    let tags = call.params.tags();
    call.authorize_with(&format!("iam:{}", call.action), &entity_arn(call, kind, name), |c| request_tags(c, &tags))?;
    call.api.iam().update(&call.account(), |a, _| a.tag(kind, name, &tags)).await?;
    Ok(call.respond_empty(NS))
}

pub(super) async fn untag(call: &Call<'_>, kind: EntityKind) -> Result<String, AwsError> {
    let (param, member) = name_param(kind);
    let name = call.params.required(param, member)?;
    let keys = call.params.list("TagKeys");
    call.authorize_with(&format!("iam:{}", call.action), &entity_arn(call, kind, name), |c| {
        c.set_all("aws:TagKeys", keys.clone())
    })?;
    call.api.iam().update(&call.account(), |a, _| a.untag(kind, name, &keys)).await?;
    Ok(call.respond_empty(NS))
}

pub(super) fn list_tags(call: &Call<'_>, kind: EntityKind) -> Result<String, AwsError> {
    let max_items = max_items(call)?;
    let (param, member) = name_param(kind);
    let name = call.params.required(param, member)?;
    call.authorize(&format!("iam:{}", call.action), &entity_arn(call, kind, name))?;
    let page = with_account(call, |a| {
        let tags = match kind {
            EntityKind::User => a.user(name)?.tags.clone(),
            // Groups have no tags in IAM: only roles are left.
            _ => a.role(name)?.tags.clone(),
        };
        paginate(tags.into_iter().map(|t| (t.key.to_lowercase(), t)), call.params.get("Marker"), max_items)
    })?;
    Ok(call.respond(NS, &|xml| {
        write_tags(xml, &page.items);
        xml.paging(page.is_truncated, page.marker.as_deref());
    }))
}
