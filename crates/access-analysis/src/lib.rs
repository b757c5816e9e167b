//! Access hygiene, offline: what in an RBAC and EKS access configuration is dangerous or dead
//! ([`lint`]), what exactly one identity may do ([`matrix`]), what a change does to who can do
//! what ([`diff`]), and the least privilege an identity's audited requests need
//! ([`audit2rbac`]).
//!
//! A crate of its own (not modules of the binary) because the API server's admission is to
//! return the same lint advisories as `Warning:` headers at write time: [`lint::rbac_object`] for
//! one RBAC object and [`lint::aws_auth`] for the aws-auth ConfigMap are the entry points it
//! calls. It must never do I/O: callers hand it parsed objects (and audit events) and get
//! findings, tables and objects back; reading files, git and clusters is the binary's job.

pub mod audit2rbac;
pub mod diff;
mod error;
pub mod lint;
pub mod matrix;
pub mod permissions;
pub mod risk;

pub use error::Error;
