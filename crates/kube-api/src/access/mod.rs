//! Who may do what, in the order a request meets it: authentication ([`authn`]: client
//! certificates, the bearer-token chain, service-account tokens), impersonation
//! ([`impersonation`]), authorization ([`authz`]: the chain in kube-apiserver's order, with RBAC
//! built in — the index in [`rbac_index`], fed by [`rbac_feed`], the bootstrap policy in
//! [`bootstrap_policy`]), the access checks on writes that run as admission hooks
//! ([`escalation`], [`namespace_lifecycle`]), and the audit log ([`audit`]).

pub mod audit;
pub mod authn;
pub mod authz;
pub(crate) mod bootstrap_policy;
pub(crate) mod escalation;
pub(crate) mod impersonation;
pub(crate) mod namespace_lifecycle;
pub(crate) mod rbac_feed;
pub(crate) mod rbac_index;
