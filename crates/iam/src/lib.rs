//! IAM and STS semantics: accounts, ARNs, users, groups, roles, access keys, sessions, managed
//! and inline policies, and IAM's policy language with its evaluation logic.
//!
//! The model is plain data that callers load and persist; evaluation is a pure function of a
//! request context and the policies that apply. This crate must never do I/O or read the wall
//! clock: time comes in as an argument, randomness (new ids and secrets) through a `rand::Rng`
//! the caller passes.
//!
//! - [`IamState`] holds every [`Account`]; [`IamState::caller`] resolves a request's [`Caller`]
//!   from its access key, [`IamState::authorize`] decides a call with AWS's wording on denial,
//!   [`IamState::assume_role`] and [`IamState::get_session_token`] issue sessions.
//! - [`Account`]'s methods are the IAM API's operations; each validates and fails with an
//!   [`IamError`] carrying AWS's code and message, and changes nothing when it fails.
//! - [`policy`], [`condition`] and [`eval`] are the policy language; [`managed`] the
//!   AWS-managed policies; [`spec`] identities declared in a configuration file; [`persist`] the
//!   layout of an account in a key-value store, with secrets sealed.

mod account;
pub mod arn;
pub mod condition;
mod document;
mod error;
pub mod eval;
pub mod ids;
pub mod managed;
pub mod persist;
pub mod policy;
pub mod spec;
mod state;
mod sts;

pub use account::{
    AccessKey, AccessKeyLastUsed, AccessKeyStatus, Account, EntityKind, Group, InlinePolicies, ManagedPolicy, Page,
    PolicyEntities, PolicyRef, PolicyVersion, Role, RoleLastUsed, Tag, User, paginate, quota, validate_name,
    validate_path,
};
pub use document::{Document, IdentityDocument, TrustDocument};
pub use error::{IamError, Result};
pub use state::{AccessKeyInfo, AssumeRoleRequest, IamState, RequestEnv};
pub use sts::{Caller, CallerIdentity, Session, SessionKind};
