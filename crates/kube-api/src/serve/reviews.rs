//! The review APIs, answered and never stored: SelfSubjectReview (who am I), SelfSubjectAccessReview,
//! SubjectAccessReview and LocalSubjectAccessReview (asked of the same authorizer chain that
//! guards every request, so they always agree with it), SelfSubjectRulesReview (the rules the
//! chain's authorizers can enumerate) and TokenReview (the bearer-token authenticators).

use axum::response::Response;
use chrono::Utc;
use http::StatusCode;
use kube_core::{FieldError, GroupKind, Status, meta};
use rbac::{Attributes, ResourceAttributes, UserInfo};
use serde_json::{Map, Value, json};

use crate::access::authn;
use crate::access::authz::{self, Decision};
use crate::cluster::Cluster;
use crate::registry::ResourceDef;
use crate::serve::responses::json_response;
use crate::storage::objects::check_type;

fn s(v: &Value, pointer: &str) -> String {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default().to_string()
}

fn user_json(user: &UserInfo) -> Value {
    let mut m = Map::new();
    m.insert("username".into(), user.name.clone().into());
    if !user.uid.is_empty() {
        m.insert("uid".into(), user.uid.clone().into());
    }
    if !user.groups.is_empty() {
        m.insert("groups".into(), json!(user.groups));
    }
    if !user.extra.is_empty() {
        m.insert("extra".into(), json!(user.extra));
    }
    Value::Object(m)
}

/// The review's answer: the request echoed with `kind`/`apiVersion` set and `status` filled in.
fn answer(def: &ResourceDef, request: &Value, status: Value) -> Response {
    let mut out = Map::new();
    out.insert("kind".into(), def.kind.clone().into());
    out.insert("apiVersion".into(), def.api_version().into());
    let mut metadata = request.get("metadata").cloned().unwrap_or_else(|| json!({}));
    if let Some(m) = metadata.as_object_mut() {
        m.entry("creationTimestamp").or_insert(Value::Null);
    }
    out.insert("metadata".into(), metadata);
    if let Some(spec) = request.get("spec") {
        out.insert("spec".into(), spec.clone());
    }
    out.insert("status".into(), status);
    json_response(StatusCode::CREATED, &Value::Object(out))
}

fn invalid(def: &ResourceDef, errors: &[FieldError]) -> Status {
    Status::invalid(&GroupKind::new(&def.group, &def.kind), "", errors)
}

/// Attributes of an access review's spec for `user`, validated as kube-apiserver validates the
/// review (every error at once, in its order): exactly one of the attribute blocks; for a
/// SubjectAccessReview a user or a group (`subject`); for a LocalSubjectAccessReview in `local`,
/// the resource namespace must be the review's and non-resource attributes are refused.
fn review_attributes(
    def: &ResourceDef,
    spec: &Value,
    user: UserInfo,
    subject: bool,
    local: Option<&str>,
) -> Result<Attributes, Status> {
    let resource = spec.get("resourceAttributes").filter(|v| !v.is_null());
    let non_resource = spec.get("nonResourceAttributes").filter(|v| !v.is_null());
    let mut errors = Vec::new();
    match (resource, non_resource) {
        (Some(_), Some(_)) => errors.push(FieldError::invalid_raw(
            "spec.nonResourceAttributes",
            "v1.NonResourceAttributes{...}",
            "cannot be specified in combination with resourceAttributes",
        )),
        (None, None) => errors.push(FieldError::invalid_raw(
            "spec.resourceAttributes",
            "\"null\"",
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
        _ => {}
    }
    if subject && user.name.is_empty() && user.groups.is_empty() {
        errors.push(FieldError::invalid("spec.user", "", "at least one of user or group must be specified"));
    }
    if let Some(ns) = local {
        if let Some(r) = resource
            && s(r, "/namespace") != ns
        {
            errors.push(FieldError::invalid(
                "spec.resourceAttributes.namespace",
                &s(r, "/namespace"),
                "must match metadata.namespace",
            ));
        }
        if non_resource.is_some() {
            errors.push(FieldError::invalid_raw(
                "spec.nonResourceAttributes",
                "v1.NonResourceAttributes{...}",
                "disallowed on this kind of request",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(invalid(def, &errors));
    }
    Ok(match (resource, non_resource) {
        (Some(r), _) => Attributes {
            user,
            verb: s(r, "/verb"),
            resource: Some(ResourceAttributes {
                namespace: s(r, "/namespace"),
                api_group: s(r, "/group"),
                api_version: s(r, "/version"),
                resource: s(r, "/resource"),
                subresource: s(r, "/subresource"),
                name: s(r, "/name"),
            }),
            path: String::new(),
        },
        (None, n) => {
            let n = n.unwrap_or(&Value::Null);
            Attributes { user, verb: s(n, "/verb"), resource: None, path: s(n, "/path") }
        }
    })
}

fn access_status(cluster: &Cluster, attributes: &Attributes) -> Value {
    let chain = cluster.authorizers();
    let (decision, _) = authz::authorize(&chain, attributes);
    match decision {
        Decision::Allow(reason) => {
            let mut status = json!({"allowed": true});
            if !reason.is_empty() {
                status["reason"] = reason.into();
            }
            status
        }
        Decision::Deny(reason) => json!({"allowed": false, "denied": true, "reason": reason}),
        Decision::NoOpinion(reason) => {
            let mut status = json!({"allowed": false});
            if !reason.is_empty() {
                status["reason"] = reason.into();
            }
            status
        }
    }
}

/// Answer a review (POST to one of the review resources).
pub async fn create(
    cluster: &Cluster,
    def: &ResourceDef,
    namespace: &str,
    user: &UserInfo,
    mut request: Value,
) -> Result<Response, Status> {
    check_type(def, &mut request)?;
    let spec = request.get("spec").cloned().unwrap_or_else(|| json!({}));
    match def.kind.as_str() {
        "SelfSubjectReview" => {
            let mut request = request;
            request["metadata"] = json!({"creationTimestamp": meta::format_time(Utc::now())});
            Ok(answer(def, &request, json!({"userInfo": user_json(user)})))
        }
        "SelfSubjectAccessReview" => {
            let attributes = review_attributes(def, &spec, user.clone(), false, None)?;
            Ok(answer(def, &request, access_status(cluster, &attributes)))
        }
        "SubjectAccessReview" | "LocalSubjectAccessReview" => {
            let subject = UserInfo {
                name: s(&spec, "/user"),
                uid: s(&spec, "/uid"),
                groups: spec
                    .get("groups")
                    .and_then(Value::as_array)
                    .map(|g| g.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
                extra: spec.get("extra").and_then(|e| serde_json::from_value(e.clone()).ok()).unwrap_or_default(),
            };
            let local = (def.kind == "LocalSubjectAccessReview").then_some(namespace);
            if let Some(ns) = local {
                let given = meta::namespace(&request);
                if !given.is_empty() && given != ns {
                    return Err(Status::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
            }
            let attributes = review_attributes(def, &spec, subject, true, local)?;
            Ok(answer(def, &request, access_status(cluster, &attributes)))
        }
        "SelfSubjectRulesReview" => {
            let namespace = s(&spec, "/namespace");
            if namespace.is_empty() {
                return Err(Status::bad_request("no namespace on request"));
            }
            let rules = authz::rules_for(&cluster.authorizers(), user, &namespace);
            let mut status = json!({
                "resourceRules": rules.resource_rules,
                "nonResourceRules": rules.non_resource_rules,
                "incomplete": rules.incomplete,
            });
            if !rules.evaluation_error.is_empty() {
                status["evaluationError"] = rules.evaluation_error.into();
            }
            // kube-apiserver answers with a new object: the spec is not echoed.
            Ok(answer(def, &json!({"spec": {}}), status))
        }
        "TokenReview" => {
            let token = s(&spec, "/token");
            if token.is_empty() {
                return Err(Status::bad_request("token is required for TokenReview in authentication"));
            }
            let authenticators = cluster.token_authenticators();
            let mut errors = Vec::new();
            for authenticator in authenticators.iter() {
                match authenticator.authenticate(&token).await {
                    Ok(Some(found)) => {
                        let found = authn::with_authenticated_group(found);
                        let audiences = spec
                            .get("audiences")
                            .cloned()
                            .unwrap_or_else(|| json!(cluster.service_account_key().audiences));
                        return Ok(answer(
                            def,
                            &request,
                            json!({"authenticated": true, "user": user_json(&found), "audiences": audiences}),
                        ));
                    }
                    Ok(None) => {}
                    Err(reason) => errors.push(reason),
                }
            }
            let mut status = json!({"user": {}});
            if !errors.is_empty() {
                status["error"] = format!("[{}]", errors.join(", ")).into();
            }
            Ok(answer(def, &request, status))
        }
        _ => Err(Status::method_not_allowed()),
    }
}
