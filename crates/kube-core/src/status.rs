//! `metav1.Status` errors, worded exactly as kube-apiserver words them
//! (`k8s.io/apimachinery/pkg/api/errors`), and field errors for `Invalid` (`field.Error`).
//!
//! A handler that fails returns a [`Status`]; the server writes it as JSON with its `code`.

use go_format::quote;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A group and a resource (`deployments.apps`), as kube-apiserver names a resource in messages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    pub fn new(group: impl Into<String>, resource: impl Into<String>) -> Self {
        GroupResource { group: group.into(), resource: resource.into() }
    }
}

impl std::fmt::Display for GroupResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.group.is_empty() { f.write_str(&self.resource) } else { write!(f, "{}.{}", self.resource, self.group) }
    }
}

/// A group and a kind (`Deployment.apps`), as kube-apiserver names a kind in `Invalid` messages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GroupKind {
    pub group: String,
    pub kind: String,
}

impl GroupKind {
    pub fn new(group: impl Into<String>, kind: impl Into<String>) -> Self {
        GroupKind { group: group.into(), kind: kind.into() }
    }
}

impl std::fmt::Display for GroupKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.group.is_empty() { f.write_str(&self.kind) } else { write!(f, "{}.{}", self.kind, self.group) }
    }
}

/// One cause of a failure (`metav1.StatusCause`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCause {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
}

/// `metav1.StatusDetails`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusDetails {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
    #[serde(default, rename = "retryAfterSeconds", skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<i32>,
}

impl StatusDetails {
    fn is_empty(&self) -> bool {
        *self == StatusDetails::default()
    }
}

/// A `metav1.Status`: the body of every error reply (and of a successful delete).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// `Success` or `Failure`.
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// A machine-readable reason (`NotFound`, `AlreadyExists`, ...); empty for success.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "StatusDetails::is_empty")]
    /// Boxed, so a `Result<_, Status>` stays small (most Statuses carry few details).
    pub details: Box<StatusDetails>,
    /// The HTTP status code.
    pub code: u16,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Status {}

impl Status {
    /// A Failure Status with the given code, reason, message and details.
    pub fn failure(code: u16, reason: &str, message: String, details: StatusDetails) -> Self {
        Status { status: "Failure".into(), message, reason: reason.into(), details: Box::new(details), code }
    }

    fn resource_details(resource: &GroupResource, name: &str) -> StatusDetails {
        StatusDetails {
            name: name.into(),
            group: resource.group.clone(),
            kind: resource.resource.clone(),
            ..Default::default()
        }
    }

    /// The `Success` status a delete answers with.
    pub fn success(resource: &GroupResource, name: &str, uid: &str) -> Self {
        let details = StatusDetails { uid: uid.into(), ..Self::resource_details(resource, name) };
        Status {
            status: "Success".into(),
            message: String::new(),
            reason: String::new(),
            details: Box::new(details),
            code: 200,
        }
    }

    /// 404: `pods "nginx" not found`.
    pub fn not_found(resource: &GroupResource, name: &str) -> Self {
        Self::failure(
            404,
            "NotFound",
            format!("{resource} \"{name}\" not found"),
            Self::resource_details(resource, name),
        )
    }

    /// 404 for a URL that names no resource: `the server could not find the requested resource`.
    pub fn not_found_path() -> Self {
        Self::failure(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
            StatusDetails::default(),
        )
    }

    /// 409: `configmaps "my-cm" already exists`.
    pub fn already_exists(resource: &GroupResource, name: &str) -> Self {
        Self::failure(
            409,
            "AlreadyExists",
            format!("{resource} \"{name}\" already exists"),
            Self::resource_details(resource, name),
        )
    }

    /// 409: `Operation cannot be fulfilled on roles.rbac.authorization.k8s.io "r": <why>`.
    pub fn conflict(resource: &GroupResource, name: &str, why: &str) -> Self {
        Self::failure(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {resource} \"{name}\": {why}"),
            Self::resource_details(resource, name),
        )
    }

    /// The 409 of an update whose resourceVersion is stale.
    pub fn update_conflict(resource: &GroupResource, name: &str) -> Self {
        Self::conflict(
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422: `ConfigMap "x" is invalid: <errors>`.
    pub fn invalid(kind: &GroupKind, name: &str, errors: &[FieldError]) -> Self {
        let causes = errors
            .iter()
            .map(|e| StatusCause { reason: e.cause().into(), message: e.body(), field: e.field.clone() })
            .collect();
        let details = StatusDetails {
            name: name.into(),
            group: kind.group.clone(),
            kind: kind.kind.clone(),
            causes,
            ..Default::default()
        };
        Self::failure(422, "Invalid", format!("{kind} \"{name}\" is invalid: {}", aggregate(errors)), details)
    }

    /// 403: `pods "nginx" is forbidden: <why>` (`forbidden: <why>` for a non-resource request).
    pub fn forbidden(resource: &GroupResource, name: &str, why: &str) -> Self {
        let message = match (resource.resource.is_empty(), name.is_empty()) {
            (true, _) => format!("forbidden: {why}"),
            (false, true) => format!("{resource} is forbidden: {why}"),
            (false, false) => format!("{resource} \"{name}\" is forbidden: {why}"),
        };
        let details = if resource.resource.is_empty() {
            StatusDetails::default()
        } else {
            Self::resource_details(resource, name)
        };
        Self::failure(403, "Forbidden", message, details)
    }

    /// 401 `Unauthorized`.
    pub fn unauthorized() -> Self {
        Self::failure(401, "Unauthorized", "Unauthorized".into(), StatusDetails::default())
    }

    /// 400 with the message as given.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::failure(400, "BadRequest", message.into(), StatusDetails::default())
    }

    /// 405: `create is not supported on resources of kind "nodes"` style.
    pub fn method_not_supported(resource: &GroupResource, action: &str) -> Self {
        Self::failure(
            405,
            "MethodNotAllowed",
            format!("{action} is not supported on resources of kind \"{resource}\""),
            StatusDetails { group: resource.group.clone(), kind: resource.resource.clone(), ..Default::default() },
        )
    }

    /// 405 for a method the resource does not serve.
    pub fn method_not_allowed() -> Self {
        Self::failure(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource".into(),
            StatusDetails::default(),
        )
    }

    /// 406: the client accepts none of the media types the server can produce.
    pub fn not_acceptable(accepted: &[&str]) -> Self {
        Self::failure(
            406,
            "NotAcceptable",
            format!("only the following media types are accepted: {}", accepted.join(", ")),
            StatusDetails::default(),
        )
    }

    /// 415: the body's media type is not one the server reads.
    pub fn unsupported_media_type(accepted: &[&str]) -> Self {
        Self::failure(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
            StatusDetails::default(),
        )
    }

    /// 410 `Expired`: a watch or list from a resourceVersion whose history is gone.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::failure(410, "Expired", message.into(), StatusDetails::default())
    }

    /// The 410 of a watch from a compacted resourceVersion: `too old resource version: 5 (100)`.
    pub fn too_old_resource_version(requested: i64, oldest: i64) -> Self {
        Self::expired(format!("too old resource version: {requested} ({oldest})"))
    }

    /// 410 `Gone`.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::failure(410, "Gone", message.into(), StatusDetails::default())
    }

    /// 413: `Request entity too large: limit is 3145728`.
    pub fn request_entity_too_large(limit: usize) -> Self {
        Self::failure(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
            StatusDetails::default(),
        )
    }

    /// 500: `Internal error occurred: <why>`.
    pub fn internal(why: impl std::fmt::Display) -> Self {
        let why = why.to_string();
        let details = StatusDetails {
            causes: vec![StatusCause { message: why.clone(), ..Default::default() }],
            ..Default::default()
        };
        Self::failure(500, "InternalError", format!("Internal error occurred: {why}"), details)
    }

    /// 504 `Timeout`.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::failure(504, "Timeout", message.into(), StatusDetails::default())
    }

    /// 429 `TooManyRequests`.
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self::failure(429, "TooManyRequests", message.into(), StatusDetails::default())
    }

    /// 403 from an admission check that refuses the request (`<resource> "<name>" is forbidden: <why>`).
    pub fn admission_forbidden(resource: &GroupResource, name: &str, why: &str) -> Self {
        Self::forbidden(resource, name, why)
    }

    /// The Status as the JSON object kube-apiserver writes (`kind`, `apiVersion`, `metadata` first).
    pub fn to_json(&self) -> Value {
        let mut out = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": self.status});
        let map = out.as_object_mut().expect("an object");
        if !self.message.is_empty() {
            map.insert("message".into(), self.message.clone().into());
        }
        if !self.reason.is_empty() {
            map.insert("reason".into(), self.reason.clone().into());
        }
        if !self.details.is_empty() {
            map.insert("details".into(), serde_json::to_value(&self.details).expect("details serialize"));
        }
        map.insert("code".into(), self.code.into());
        out
    }

    /// [`Status::to_json`] serialized.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.to_json()).expect("a Status serializes")
    }
}

/// The kind of a [`FieldError`] (`field.ErrorType`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldErrorKind {
    NotFound(String),
    /// A missing value, with an optional detail.
    Required(String),
    Duplicate(String),
    /// An invalid value (already rendered as Go's `%#v` would: strings quoted) and why.
    Invalid(String, String),
    NotSupported(String, Vec<String>),
    Forbidden(String),
    TooLong(String, usize),
    TypeInvalid(String, String),
    /// An error already rendered elsewhere: its `StatusCause` reason and its message body.
    Rendered {
        cause: String,
        body: String,
    },
}

impl FieldErrorKind {
    fn cause(&self) -> &'static str {
        match self {
            FieldErrorKind::NotFound(_) => "FieldValueNotFound",
            FieldErrorKind::Required(_) => "FieldValueRequired",
            FieldErrorKind::Duplicate(_) => "FieldValueDuplicate",
            FieldErrorKind::Invalid(..) => "FieldValueInvalid",
            FieldErrorKind::NotSupported(..) => "FieldValueNotSupported",
            FieldErrorKind::Forbidden(_) => "FieldValueForbidden",
            FieldErrorKind::TooLong(..) => "FieldValueTooLong",
            FieldErrorKind::TypeInvalid(..) => "FieldValueTypeInvalid",
            FieldErrorKind::Rendered { .. } => "",
        }
    }
}

/// One validation failure at a field path (`field.Error`), e.g. `metadata.name: Required value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub kind: FieldErrorKind,
}

impl FieldError {
    pub fn required(field: impl Into<String>) -> Self {
        FieldError { field: field.into(), kind: FieldErrorKind::Required(String::new()) }
    }

    /// `field.Required(path, detail)`: `Required value: <detail>`.
    pub fn required_with(field: impl Into<String>, detail: &str) -> Self {
        FieldError { field: field.into(), kind: FieldErrorKind::Required(detail.to_string()) }
    }

    /// An invalid string value.
    pub fn invalid(field: impl Into<String>, value: &str, detail: impl Into<String>) -> Self {
        FieldError { field: field.into(), kind: FieldErrorKind::Invalid(quote(value), detail.into()) }
    }

    /// An invalid value already rendered (a number, `[]string{...}`, ...).
    pub fn invalid_raw(field: impl Into<String>, rendered: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError { field: field.into(), kind: FieldErrorKind::Invalid(rendered.into(), detail.into()) }
    }

    pub fn forbidden(field: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError { field: field.into(), kind: FieldErrorKind::Forbidden(detail.into()) }
    }

    pub fn not_supported(field: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        FieldError {
            field: field.into(),
            kind: FieldErrorKind::NotSupported(quote(value), supported.iter().map(|s| quote(s)).collect()),
        }
    }

    pub fn duplicate(field: impl Into<String>, value: &str) -> Self {
        FieldError { field: field.into(), kind: FieldErrorKind::Duplicate(quote(value)) }
    }

    pub fn not_found(field: impl Into<String>, value: &str) -> Self {
        FieldError { field: field.into(), kind: FieldErrorKind::NotFound(quote(value)) }
    }

    pub fn type_invalid(field: impl Into<String>, rendered: impl Into<String>, detail: impl Into<String>) -> Self {
        FieldError { field: field.into(), kind: FieldErrorKind::TypeInvalid(rendered.into(), detail.into()) }
    }

    /// The message without the field (`field.Error.ErrorBody`).
    pub fn body(&self) -> String {
        match &self.kind {
            FieldErrorKind::Required(detail) if detail.is_empty() => "Required value".into(),
            FieldErrorKind::Required(detail) => format!("Required value: {detail}"),
            FieldErrorKind::NotFound(v) => format!("Not found: {v}"),
            FieldErrorKind::Duplicate(v) => format!("Duplicate value: {v}"),
            FieldErrorKind::Invalid(v, detail) => {
                if detail.is_empty() {
                    format!("Invalid value: {v}")
                } else {
                    format!("Invalid value: {v}: {detail}")
                }
            }
            FieldErrorKind::NotSupported(v, supported) => {
                if supported.is_empty() {
                    format!("Unsupported value: {v}")
                } else {
                    format!("Unsupported value: {v}: supported values: {}", supported.join(", "))
                }
            }
            FieldErrorKind::Forbidden(detail) => {
                if detail.is_empty() {
                    "Forbidden".into()
                } else {
                    format!("Forbidden: {detail}")
                }
            }
            FieldErrorKind::TooLong(_, max) => format!("Too long: may not be more than {max} bytes"),
            FieldErrorKind::TypeInvalid(v, detail) => format!("Invalid value: {v}: {detail}"),
            FieldErrorKind::Rendered { body, .. } => body.clone(),
        }
    }

    /// The `StatusCause` reason (`FieldValueRequired`, ...).
    pub fn cause(&self) -> &str {
        match &self.kind {
            FieldErrorKind::Rendered { cause, .. } => cause,
            other => other.cause(),
        }
    }

    /// An error rendered by another crate (its cause reason and message body).
    pub fn rendered(field: impl Into<String>, cause: impl Into<String>, body: impl Into<String>) -> Self {
        FieldError { field: field.into(), kind: FieldErrorKind::Rendered { cause: cause.into(), body: body.into() } }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// `utilerrors.Aggregate`'s message: the one error, or `[a, b]`.
fn aggregate(errors: &[FieldError]) -> String {
    match errors {
        [one] => one.to_string(),
        many => format!("[{}]", many.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_kube_apiserver() {
        let pods = GroupResource::new("", "pods");
        let deploys = GroupResource::new("apps", "deployments");
        assert_eq!(Status::not_found(&pods, "missing").message, r#"pods "missing" not found"#);
        assert_eq!(Status::not_found(&deploys, "web").message, r#"deployments.apps "web" not found"#);
        assert_eq!(
            Status::already_exists(&GroupResource::new("", "configmaps"), "my-cm").message,
            r#"configmaps "my-cm" already exists"#
        );
        assert_eq!(
            Status::update_conflict(&deploys, "web").message,
            r#"Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again"#
        );
        let forbidden = Status::forbidden(&pods, "", r#"User "u" cannot list resource "pods""#);
        assert_eq!(forbidden.message, r#"pods is forbidden: User "u" cannot list resource "pods""#);
        assert_eq!(forbidden.to_json()["details"], json!({"kind": "pods"}));
        let nonresource = Status::forbidden(&GroupResource::default(), "", "x");
        assert_eq!(nonresource.message, "forbidden: x");
        assert!(nonresource.to_json().get("details").is_none());
        assert_eq!(Status::request_entity_too_large(3 << 20).message, "Request entity too large: limit is 3145728");
    }

    #[test]
    fn invalid_lists_causes_like_field_errors() {
        let kind = GroupKind::new("", "ConfigMap");
        let one = Status::invalid(&kind, "x", &[FieldError::required("metadata.name")]);
        assert_eq!(one.message, r#"ConfigMap "x" is invalid: metadata.name: Required value"#);
        assert_eq!(one.code, 422);
        let two = Status::invalid(
            &GroupKind::new("apps", "Deployment"),
            "web",
            &[
                FieldError::invalid("spec.replicas", "x", "must be greater than or equal to 0"),
                FieldError::not_supported("spec.strategy.type", "Bad", &["Recreate", "RollingUpdate"]),
            ],
        );
        assert_eq!(
            two.message,
            r#"Deployment.apps "web" is invalid: [spec.replicas: Invalid value: "x": must be greater than or equal to 0, spec.strategy.type: Unsupported value: "Bad": supported values: "Recreate", "RollingUpdate"]"#
        );
        let json = two.to_json();
        assert_eq!(json["details"]["causes"][0]["reason"], "FieldValueInvalid");
        assert_eq!(json["details"]["causes"][1]["field"], "spec.strategy.type");
        assert_eq!(json["kind"], "Status");
    }
}
