//! The aws-auth admission check (issue 4 §5, beyond EKS): a create, update or delete of
//! `kube-system/aws-auth` is refused when EKS would silently drop part of it — a `mapRoles`,
//! `mapUsers` or `mapAccounts` value that does not parse, an entry or a field of the wrong type —
//! answered as kube-apiserver answers an invalid object (422, one cause per problem, naming the
//! data key and line), and when it would leave the cluster creator, who had access, with none
//! (403, as an admission plugin refuses). `--dry-run=server` runs the same check.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use eks_auth::AwsAuth;
use kube_api::admission::{AdmissionHook, AdmissionRequest, Operation};
use kube_core::{FieldError, GroupKind, GroupResource, Status};
use serde_json::Value;

use crate::access::{AWS_AUTH_NAME, AWS_AUTH_NAMESPACE, AccessState, configmap_data};

pub struct AwsAuthAdmission {
    access: Arc<AccessState>,
}

impl AwsAuthAdmission {
    pub fn new(access: Arc<AccessState>) -> Self {
        AwsAuthAdmission { access }
    }
}

/// The Status a refused aws-auth write gets.
pub fn refusal(error: eks_auth::Error) -> Status {
    match error {
        eks_auth::Error::AwsAuthRejected(issues) => {
            let causes: Vec<FieldError> = issues
                .iter()
                .map(|issue| {
                    let text = issue.to_string();
                    // `data.mapRoles line 3: …` → field `data.mapRoles`, body `line 3: …`.
                    let field = format!("data.{}", issue.key);
                    let body = text.strip_prefix(&field).unwrap_or(&text).trim_start_matches(':').trim();
                    FieldError::rendered(field.clone(), "FieldValueInvalid", body.to_string())
                })
                .collect();
            Status::invalid(&GroupKind::new("", "ConfigMap"), AWS_AUTH_NAME, &causes)
        }
        other => Status::admission_forbidden(&GroupResource::new("", "configmaps"), AWS_AUTH_NAME, &other.to_string()),
    }
}

#[async_trait]
impl AdmissionHook for AwsAuthAdmission {
    fn name(&self) -> &str {
        "AwsAuthValidation"
    }

    async fn validate(&self, request: &AdmissionRequest<'_>, object: &Value) -> Result<(), Status> {
        self.admit(request, object).map(drop)
    }

    /// The advisories of an admitted aws-auth write (what EKS would silently ignore without
    /// losing a mapping), as `Warning` headers; each is also in the authenticator's log.
    async fn warnings(&self, request: &AdmissionRequest<'_>, object: &Value) -> Vec<String> {
        let advisories = self.admit(request, object).unwrap_or_default();
        for advisory in &advisories {
            tracing::info!(cluster = self.access.cluster_name(), %advisory, "aws-auth advisory");
        }
        advisories
    }
}

impl AwsAuthAdmission {
    /// The check of a write of `kube-system/aws-auth` (anything else passes with no advisory):
    /// its advisories, or the refusal.
    fn admit(&self, request: &AdmissionRequest<'_>, object: &Value) -> Result<Vec<String>, Status> {
        let is_aws_auth = request.resource.group.is_empty()
            && request.resource.plural == "configmaps"
            && request.subresource.is_empty()
            && request.namespace == AWS_AUTH_NAMESPACE
            && request.name == AWS_AUTH_NAME;
        if !is_aws_auth || request.operation == Operation::Connect {
            return Ok(vec![]);
        }
        let data = match request.operation {
            Operation::Delete => BTreeMap::new(),
            _ => configmap_data(object),
        };
        let snapshot = self.access.snapshot();
        let before = request.old.map(|old| AwsAuth::parse(&configmap_data(old)));
        let access = snapshot.cluster_access(before.as_ref());
        match eks_auth::admit_aws_auth(&data, &access, Some(&snapshot.creator_arn)) {
            Ok((_, advisories)) => Ok(advisories.iter().map(ToString::to_string).collect()),
            Err(error) => Err(refusal(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unparseable_keys_are_invalid_with_a_cause_per_key_and_line() {
        let mut data = BTreeMap::new();
        data.insert("mapRoles".to_string(), "- rolearn: arn:aws:iam::1:role/a\n  groups: system:masters\n".to_string());
        data.insert("mapUsers".to_string(), "- userarn: [\n".to_string());
        let status = refusal(AwsAuth::validate(&data).unwrap_err());
        assert_eq!(status.code, 422);
        let json = status.to_json();
        let causes = json["details"]["causes"].as_array().unwrap();
        assert_eq!(causes.len(), 2, "{json}");
        assert_eq!(causes[0]["field"], "data.mapRoles");
        assert!(causes[0]["message"].as_str().unwrap().starts_with("line 2: groups"), "{json}");
        assert!(
            json["message"].as_str().unwrap().starts_with("ConfigMap \"aws-auth\" is invalid: [data.mapRoles: line 2"),
            "{json}"
        );
    }

    #[test]
    fn a_creator_lockout_is_forbidden() {
        let status = refusal(eks_auth::Error::CreatorLockedOut {
            creator: "arn:aws:iam::1:user/admin".into(),
            reason: "identity is not mapped".into(),
        });
        assert_eq!(status.code, 403);
        assert_eq!(
            status.message,
            "configmaps \"aws-auth\" is forbidden: this aws-auth ConfigMap would leave the cluster creator \
             arn:aws:iam::1:user/admin without access to the cluster: identity is not mapped"
        );
    }
}
