//! Kubernetes RBAC, decided exactly as kube-apiserver 1.30–1.32 decides it.
//!
//! This crate owns the RBAC object types (Role, ClusterRole, RoleBinding, ClusterRoleBinding and
//! their parts), their validation, the request attributes an authorizer sees, the indexed
//! authorizer, escalation prevention ("covers", `escalate`, `bind`), the rules review, `explain`,
//! the bootstrap policy (as data) and ClusterRole aggregation (as a pure function).
//!
//! It must never do I/O, know about HTTP, or read a clock: callers hand it objects and attributes
//! and get decisions back, so it can be tested, fuzzed and benchmarked alone.

mod attributes;

pub use attributes::{Attributes, ResourceAttributes, UserInfo};
