//! IAM and STS semantics: accounts, ARNs, users, groups, roles, access keys, sessions, managed
//! and inline policies, and IAM's policy language with its evaluation logic.
//!
//! The model is plain data that callers load and persist; evaluation is a pure function of a
//! request context and the policies that apply. This crate must never do I/O or read the wall
//! clock: time comes in as an argument.
