//! The EKS authenticator: what aws-iam-authenticator and EKS do between a bearer token and a
//! Kubernetes user.
//!
//! This crate owns `k8s-aws-v1.` token parsing and every check aws-iam-authenticator makes, local
//! verification of the presigned STS request (through `sigv4`), identity derivation and ARN
//! canonicalization, aws-auth ConfigMap parsing, validation and mapping, access entries and access
//! policies, and authentication modes. It must never do I/O: the caller supplies credentials,
//! the aws-auth data and the access entries, and "now".
//!
//! The path of a request: [`TokenVerifier::verify`] turns a token into a verified [`Identity`]
//! (cached by a keyed hash of the token); [`resolve`] maps the identity to a Kubernetes user
//! through access entries and aws-auth as the [`AuthenticationMode`] allows;
//! [`AccessEntries::authorize`] is EKS's access-policy authorizer, ahead of RBAC; the [`log`]
//! module writes the authenticator's log lines.

mod access_entry;
mod access_policy;
mod arn;
mod aws_auth;
mod cache;
mod error;
mod goparse;
mod identity;
pub mod log;
mod mode;
mod token;
mod yaml;

pub use access_entry::{
    AccessEntries, AccessEntry, AccessEntryType, AccessPolicyDecision, AccessScope, AccessScopeType,
    AssociatedAccessPolicy, CreateAccessEntry, EntryContext, PRINCIPAL_ID_EXTRA, UpdateAccessEntry, default_username,
};
pub use access_policy::{ACCESS_POLICY_ARN_PREFIX, AccessPolicy, access_policies, access_policy, namespace_matches};
pub use arn::{Caller, Identity, PrincipalType, canonicalize, strip_path};
pub use aws_auth::{AwsAuth, AwsAuthMatch, MAP_ACCOUNTS, MAP_ROLES, MAP_USERS, RoleMapping, SsoRole, UserMapping};
pub use cache::TokenCache;
pub use error::{AwsAuthIssue, Error, IssueEffect, IssueKind, TokenCheck};
pub use identity::{
    CLUSTER_CREATOR_USERNAME, ClusterAccess, Ec2Instances, KubernetesUser, MappedBy, admit_aws_auth, render_template,
    resolve,
};
pub use mode::AuthenticationMode;
pub use token::{
    AccessKeys, CLUSTER_ID_HEADER, MAX_TOKEN_LEN, TOKEN_LIFETIME, TOKEN_PREFIX, TokenVerifier, VerifiedToken,
    VerifierConfig,
};
