//! Kubernetes RBAC, decided exactly as kube-apiserver 1.30–1.32 decides it.
//!
//! This crate owns the RBAC object types (Role, ClusterRole, RoleBinding, ClusterRoleBinding and
//! their parts), their validation, the request attributes an authorizer sees, the indexed
//! authorizer, escalation prevention ("covers", `escalate`, `bind`), the rules review, `explain`,
//! the bootstrap policy (as data) and ClusterRole aggregation (as a pure function).
//!
//! It must never do I/O, know about HTTP, or read a clock: callers hand it objects and attributes
//! and get decisions back, so it can be tested, fuzzed and benchmarked alone.

mod aggregation;
mod attributes;
mod authorizer;
pub mod bootstrap;
mod error;
mod escalation;
mod explain;
pub mod linear;
pub mod rule;
mod types;
mod validation;

pub use aggregation::{aggregate, selector_matches};
pub use attributes::{
    ANONYMOUS, Attributes, ResourceAttributes, SERVICE_ACCOUNT_PREFIX, SYSTEM_AUTHENTICATED, SYSTEM_MASTERS,
    SYSTEM_UNAUTHENTICATED, UserInfo,
};
pub use authorizer::{
    Allowed, Authorizer, BindingRecord, BindingRules, Decision, Grant, NoOpinion, NonResourceRule, ResourceRule,
    RoleKey, Scope, SubjectRulesReviewStatus, Update, describe_subject, subject_applies,
};
pub use error::RbacError;
pub use escalation::{
    confirm_cluster_role_binding_write, confirm_cluster_role_write, confirm_role_binding_write, confirm_role_write,
};
pub use explain::{AllowPath, BindingAnalysis, BindingVerdict, Explanation, ExplanationDisplay, NearMiss, RuleField};
pub use types::*;
pub use validation::{
    FieldError, FieldErrorType, invalid_message, validate_cluster_role, validate_cluster_role_binding,
    validate_policy_rule, validate_role, validate_role_binding, validate_role_ref_update, validate_subject,
};
