//! STS's Query API: `GetCallerIdentity` (needs no permission), `AssumeRole` (same- and
//! cross-account, trust and identity policies combined), `GetSessionToken`.

use iam::{AssumeRoleRequest, Session, SessionKind};

use crate::call::Call;
use crate::error::AwsError;
use crate::xml::{STS_NAMESPACE, Xml};

fn credentials(xml: &mut Xml, session: &Session) {
    xml.open("Credentials");
    xml.elem("AccessKeyId", &session.access_key_id);
    xml.elem("SecretAccessKey", &session.secret_access_key);
    xml.elem("SessionToken", &session.session_token);
    xml.date("Expiration", &session.expiration);
    xml.close("Credentials");
}

/// Handles STS action `call.action`; `None` when STS has no such action.
pub(crate) async fn handle(call: &Call<'_>) -> Result<Option<String>, AwsError> {
    let body = match call.action.as_str() {
        "GetCallerIdentity" => {
            let identity = call.caller.identity();
            call.respond(STS_NAMESPACE, &|xml| {
                xml.elem("UserId", &identity.user_id);
                xml.elem("Account", &identity.account);
                xml.elem("Arn", &identity.arn);
            })
        }
        "AssumeRole" => {
            let params = &call.params;
            let policy = params.get("Policy");
            let request = AssumeRoleRequest {
                role_arn: params.required("RoleArn", "roleArn")?,
                role_session_name: params.required("RoleSessionName", "roleSessionName")?,
                duration_seconds: params.int("DurationSeconds", "durationSeconds")?,
                external_id: params.get("ExternalId"),
                policy,
                tags: params.tags(),
            };
            let session =
                call.api.iam().read(|state| state.assume_role(&call.caller, &request, &call.env, &mut rand::rng()))?;
            let SessionKind::AssumedRole { role_name, role_id, session_name, .. } = &session.kind else {
                unreachable!("AssumeRole issues assumed-role sessions")
            };
            let role_account = request.role_arn.split(':').nth(4).unwrap_or_default().to_string();
            let arn = iam::arn::assumed_role_arn(&role_account, role_name, session_name);
            let assumed_role_id = format!("{role_id}:{session_name}");
            let packed = (policy.is_some() || !request.tags.is_empty()).then(|| {
                let size = policy.map_or(0, str::len)
                    + request.tags.iter().map(|t| t.key.len() + t.value.len()).sum::<usize>();
                (size * 100 / 2048).max(1).to_string()
            });
            let (now, region, role_name) = (call.env.now, call.env.region.clone(), role_name.clone());
            let stored = session.clone();
            call.api
                .iam()
                .update(&role_account, move |account, _| {
                    account.record_role_use(&role_name, &region, now);
                    account.add_session(stored.clone(), now);
                    Ok(())
                })
                .await?;
            call.respond(STS_NAMESPACE, &|xml| {
                xml.open("AssumedRoleUser");
                xml.elem("AssumedRoleId", &assumed_role_id);
                xml.elem("Arn", &arn);
                xml.close("AssumedRoleUser");
                credentials(xml, &session);
                xml.opt("PackedPolicySize", packed.as_deref());
            })
        }
        "GetSessionToken" => {
            let duration = call.params.int("DurationSeconds", "durationSeconds")?;
            let session = call
                .api
                .iam()
                .read(|state| state.get_session_token(&call.caller, duration, call.env.now, &mut rand::rng()))?;
            let (stored, now) = (session.clone(), call.env.now);
            call.api
                .iam()
                .update(&call.account(), move |account, _| {
                    account.add_session(stored.clone(), now);
                    Ok(())
                })
                .await?;
            call.respond(STS_NAMESPACE, &|xml| credentials(xml, &session))
        }
        _ => return Ok(None),
    };
    Ok(Some(body))
}
