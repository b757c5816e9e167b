//! Kubernetes' validation of the RBAC kinds (`pkg/apis/rbac/validation`), with its field paths
//! and messages, as the causes of a 422 Invalid Status.

use std::fmt;

use go_format::quote;

use crate::types::{
    CLUSTER_ROLE_KIND, ClusterRole, ClusterRoleBinding, GROUP, GROUP_KIND, LabelSelector, ObjectMeta, PolicyRule,
    ROLE_KIND, Role, RoleBinding, RoleRef, SERVICE_ACCOUNT_KIND, Subject, USER_KIND,
};

/// The kind of a field error, as `field.ErrorType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldErrorType {
    Required,
    Invalid,
    NotSupported,
    Forbidden,
}

impl FieldErrorType {
    /// The words Kubernetes prints (`Required value`, `Invalid value`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FieldErrorType::Required => "Required value",
            FieldErrorType::Invalid => "Invalid value",
            FieldErrorType::NotSupported => "Unsupported value",
            FieldErrorType::Forbidden => "Forbidden",
        }
    }

    /// The `StatusCause.type` (`FieldValueRequired`, ...).
    pub fn cause_type(self) -> &'static str {
        match self {
            FieldErrorType::Required => "FieldValueRequired",
            FieldErrorType::Invalid => "FieldValueInvalid",
            FieldErrorType::NotSupported => "FieldValueNotSupported",
            FieldErrorType::Forbidden => "FieldValueForbidden",
        }
    }
}

/// One field error: `rules[0].verbs: Required value: verbs must contain at least one value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub error_type: FieldErrorType,
    /// The field path, e.g. `rules[0].verbs`.
    pub field: String,
    /// The rejected value as Go prints it (`"x"`, `[]string{"/a"}`); empty for Required/Forbidden.
    pub bad_value: String,
    pub detail: String,
}

impl FieldError {
    fn new(error_type: FieldErrorType, field: impl Into<String>, bad_value: String, detail: &str) -> Self {
        FieldError { error_type, field: field.into(), bad_value, detail: detail.into() }
    }

    fn required(field: impl Into<String>, detail: &str) -> Self {
        Self::new(FieldErrorType::Required, field, String::new(), detail)
    }

    fn not_supported(field: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let supported: Vec<String> = supported.iter().map(|s| quote(s)).collect();
        Self::new(
            FieldErrorType::NotSupported,
            field,
            quote(value),
            &format!("supported values: {}", supported.join(", ")),
        )
    }

    fn invalid(field: impl Into<String>, bad_value: String, detail: &str) -> Self {
        Self::new(FieldErrorType::Invalid, field, bad_value, detail)
    }

    /// The message without the field (`StatusCause.message`): Kubernetes' `ErrorBody`.
    pub fn body(&self) -> String {
        let mut body = self.error_type.as_str().to_string();
        if matches!(self.error_type, FieldErrorType::Invalid | FieldErrorType::NotSupported) {
            body.push_str(": ");
            body.push_str(&self.bad_value);
        }
        if !self.detail.is_empty() {
            body.push_str(": ");
            body.push_str(&self.detail);
        }
        body
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// Go's `%#v` of a `[]string`: `[]string{"a", "b"}`.
fn go_string_slice(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

/// `path.IsValidPathSegmentName`, which RBAC object and roleRef names must pass.
fn path_segment_name_errors(name: &str) -> Vec<&'static str> {
    let mut errors = Vec::new();
    if name == "." || name == ".." {
        errors.push(if name == "." { "may not be '.'" } else { "may not be '..'" });
        return errors;
    }
    if name.contains('/') {
        errors.push("may not contain '/'");
    }
    if name.contains('%') {
        errors.push("may not contain '%'");
    }
    errors
}

const DNS1123_SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// `IsDNS1123Subdomain`, which service account names must pass.
fn dns1123_subdomain_errors(name: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if name.len() > 253 {
        errors.push("must be no more than 253 characters".to_string());
    }
    let label_ok = |label: &str| {
        let bytes = label.as_bytes();
        !bytes.is_empty()
            && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-'
    };
    if !name.split('.').all(label_ok) {
        errors.push(DNS1123_SUBDOMAIN.to_string());
    }
    errors
}

fn validate_meta(meta: &ObjectMeta, namespaced: bool, errors: &mut Vec<FieldError>) {
    if meta.name.is_empty() && meta.rest.get("generateName").and_then(|v| v.as_str()).unwrap_or("").is_empty() {
        errors.push(FieldError::required("metadata.name", "name or generateName is required"));
    }
    for msg in path_segment_name_errors(&meta.name) {
        errors.push(FieldError::invalid("metadata.name", quote(&meta.name), msg));
    }
    if namespaced && meta.namespace.is_empty() {
        errors.push(FieldError::required("metadata.namespace", ""));
    }
    if !namespaced && !meta.namespace.is_empty() {
        errors.push(FieldError::new(
            FieldErrorType::Forbidden,
            "metadata.namespace",
            String::new(),
            "not allowed on this type",
        ));
    }
}

/// `ValidatePolicyRule`: a rule of a Role (`namespaced`) or a ClusterRole.
pub fn validate_policy_rule(rule: &PolicyRule, namespaced: bool, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if rule.verbs.is_empty() {
        errors.push(FieldError::required(format!("{path}.verbs"), "verbs must contain at least one value"));
    }
    if !rule.non_resource_urls.is_empty() {
        let urls = go_string_slice(&rule.non_resource_urls);
        if namespaced {
            errors.push(FieldError::invalid(
                format!("{path}.nonResourceURLs"),
                urls.clone(),
                "namespaced rules cannot apply to non-resource URLs",
            ));
        }
        if !rule.api_groups.is_empty() || !rule.resources.is_empty() || !rule.resource_names.is_empty() {
            errors.push(FieldError::invalid(
                format!("{path}.nonResourceURLs"),
                urls,
                "rules cannot apply to both regular resources and non-resource URLs",
            ));
        }
        return errors;
    }
    if rule.api_groups.is_empty() {
        errors.push(FieldError::required(
            format!("{path}.apiGroups"),
            "resource rules must supply at least one api group",
        ));
    }
    if rule.resources.is_empty() {
        errors.push(FieldError::required(
            format!("{path}.resources"),
            "resource rules must supply at least one resource",
        ));
    }
    errors
}

fn validate_rules(rules: &[PolicyRule], namespaced: bool, errors: &mut Vec<FieldError>) {
    for (i, rule) in rules.iter().enumerate() {
        errors.extend(validate_policy_rule(rule, namespaced, &format!("rules[{i}]")));
    }
}

/// `ValidateRole`.
pub fn validate_role(role: &Role) -> Vec<FieldError> {
    let mut errors = Vec::new();
    validate_meta(&role.metadata, true, &mut errors);
    validate_rules(&role.rules, true, &mut errors);
    errors
}

const SELECTOR_OPERATORS: [&str; 4] = ["In", "NotIn", "Exists", "DoesNotExist"];

fn validate_selector(selector: &LabelSelector, path: &str, errors: &mut Vec<FieldError>) {
    for (i, req) in selector.match_expressions.iter().enumerate() {
        let at = format!("{path}.matchExpressions[{i}]");
        match req.operator.as_str() {
            "In" | "NotIn" if req.values.is_empty() => errors.push(FieldError::required(
                format!("{at}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !req.values.is_empty() => errors.push(FieldError::new(
                FieldErrorType::Forbidden,
                format!("{at}.values"),
                String::new(),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            op if !SELECTOR_OPERATORS.contains(&op) => {
                errors.push(FieldError::not_supported(format!("{at}.operator"), op, &SELECTOR_OPERATORS))
            }
            _ => {}
        }
    }
}

/// `ValidateClusterRole`.
pub fn validate_cluster_role(role: &ClusterRole) -> Vec<FieldError> {
    let mut errors = Vec::new();
    validate_meta(&role.metadata, false, &mut errors);
    validate_rules(&role.rules, false, &mut errors);
    if let Some(aggregation) = &role.aggregation_rule {
        if aggregation.cluster_role_selectors.is_empty() {
            errors.push(FieldError::required(
                "aggregationRule.clusterRoleSelectors",
                "at least one clusterRoleSelector required if aggregationRule is non-nil",
            ));
        }
        for (i, selector) in aggregation.cluster_role_selectors.iter().enumerate() {
            validate_selector(selector, &format!("aggregationRule.clusterRoleSelectors[{i}]"), &mut errors);
        }
    }
    errors
}

fn validate_role_ref(role_ref: &RoleRef, kinds: &[&str], errors: &mut Vec<FieldError>) {
    if role_ref.api_group != GROUP {
        errors.push(FieldError::not_supported("roleRef.apiGroup", &role_ref.api_group, &[GROUP]));
    }
    if !kinds.contains(&role_ref.kind.as_str()) {
        errors.push(FieldError::not_supported("roleRef.kind", &role_ref.kind, kinds));
    }
    if role_ref.name.is_empty() {
        errors.push(FieldError::required("roleRef.name", ""));
    }
    for msg in path_segment_name_errors(&role_ref.name) {
        errors.push(FieldError::invalid("roleRef.name", quote(&role_ref.name), msg));
    }
}

/// `ValidateRoleBindingSubject`.
pub fn validate_subject(subject: &Subject, namespaced: bool, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if subject.name.is_empty() {
        errors.push(FieldError::required(format!("{path}.name"), ""));
    }
    match subject.kind.as_str() {
        SERVICE_ACCOUNT_KIND => {
            if !subject.name.is_empty() {
                for msg in dns1123_subdomain_errors(&subject.name) {
                    errors.push(FieldError::invalid(format!("{path}.name"), quote(&subject.name), &msg));
                }
            }
            if !subject.api_group.is_empty() {
                errors.push(FieldError::not_supported(format!("{path}.apiGroup"), &subject.api_group, &[""]));
            }
            if !namespaced && subject.namespace.is_empty() {
                errors.push(FieldError::required(format!("{path}.namespace"), ""));
            }
        }
        USER_KIND | GROUP_KIND => {
            if subject.api_group != GROUP {
                errors.push(FieldError::not_supported(format!("{path}.apiGroup"), &subject.api_group, &[GROUP]));
            }
        }
        kind => errors.push(FieldError::not_supported(
            format!("{path}.kind"),
            kind,
            &[SERVICE_ACCOUNT_KIND, USER_KIND, GROUP_KIND],
        )),
    }
    errors
}

fn validate_subjects(subjects: &[Subject], namespaced: bool, errors: &mut Vec<FieldError>) {
    for (i, subject) in subjects.iter().enumerate() {
        errors.extend(validate_subject(subject, namespaced, &format!("subjects[{i}]")));
    }
}

/// `ValidateRoleBinding`.
pub fn validate_role_binding(binding: &RoleBinding) -> Vec<FieldError> {
    let mut errors = Vec::new();
    validate_meta(&binding.metadata, true, &mut errors);
    validate_role_ref(&binding.role_ref, &[ROLE_KIND, CLUSTER_ROLE_KIND], &mut errors);
    validate_subjects(&binding.subjects, true, &mut errors);
    errors
}

/// `ValidateClusterRoleBinding`.
pub fn validate_cluster_role_binding(binding: &ClusterRoleBinding) -> Vec<FieldError> {
    let mut errors = Vec::new();
    validate_meta(&binding.metadata, false, &mut errors);
    validate_role_ref(&binding.role_ref, &[CLUSTER_ROLE_KIND], &mut errors);
    validate_subjects(&binding.subjects, false, &mut errors);
    errors
}

/// The update check of both binding kinds: `roleRef` is immutable.
pub fn validate_role_ref_update(new: &RoleRef, old: &RoleRef) -> Vec<FieldError> {
    if new == old {
        return Vec::new();
    }
    let value = format!(
        "rbac.RoleRef{{APIGroup:{}, Kind:{}, Name:{}}}",
        quote(&new.api_group),
        quote(&new.kind),
        quote(&new.name)
    );
    vec![FieldError::invalid("roleRef", value, "cannot change roleRef")]
}

/// The message of the 422 Status kube-apiserver answers with:
/// `RoleBinding.rbac.authorization.k8s.io "x" is invalid: [a, b]`.
pub fn invalid_message(kind: &str, name: &str, errors: &[FieldError]) -> String {
    let mut messages: Vec<String> = Vec::new();
    for e in errors {
        let m = e.to_string();
        if !messages.contains(&m) {
            messages.push(m);
        }
    }
    let head = format!("{kind}.{GROUP} {} is invalid", quote(name));
    match messages.len() {
        0 => head,
        1 => format!("{head}: {}", messages[0]),
        _ => format!("{head}: [{}]", messages.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_kubernetes() {
        let role = Role::new("dev", "r", vec![PolicyRule::default(), PolicyRule::non_resource(&["get"], &["/x"])]);
        let errors = validate_role(&role);
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "rules[0].verbs: Required value: verbs must contain at least one value",
                "rules[0].apiGroups: Required value: resource rules must supply at least one api group",
                "rules[0].resources: Required value: resource rules must supply at least one resource",
                r#"rules[1].nonResourceURLs: Invalid value: []string{"/x"}: namespaced rules cannot apply to non-resource URLs"#,
            ]
        );
        let rb = RoleBinding::new(
            "dev",
            "b",
            RoleRef { api_group: GROUP.into(), kind: "Foo".into(), name: "r".into() },
            vec![Subject { kind: "User".into(), name: "u".into(), ..Default::default() }],
        );
        let errors = validate_role_binding(&rb);
        assert_eq!(
            invalid_message("RoleBinding", "b", &errors),
            r#"RoleBinding.rbac.authorization.k8s.io "b" is invalid: [roleRef.kind: Unsupported value: "Foo": supported values: "Role", "ClusterRole", subjects[0].apiGroup: Unsupported value: "": supported values: "rbac.authorization.k8s.io"]"#
        );
        assert_eq!(errors[0].error_type.cause_type(), "FieldValueNotSupported");
        assert_eq!(errors[0].body(), r#"Unsupported value: "Foo": supported values: "Role", "ClusterRole""#);
    }

    #[test]
    fn cluster_binding_service_accounts_need_a_namespace() {
        let crb = ClusterRoleBinding::new(
            "b",
            RoleRef::cluster_role("view"),
            vec![Subject::service_account("", "Bad_Name"), Subject::group("g")],
        );
        let text: Vec<String> = validate_cluster_role_binding(&crb).iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 2);
        assert!(text[0].starts_with(r#"subjects[0].name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain"#));
        assert_eq!(text[1], "subjects[0].namespace: Required value");
        let immutable = validate_role_ref_update(&RoleRef::cluster_role("edit"), &RoleRef::cluster_role("view"));
        assert_eq!(
            immutable[0].to_string(),
            r#"roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef"#
        );
    }
}
