//! The Kubernetes API server: one per EKS cluster, all in one process.
//!
//! This crate owns the request path from a TLS connection to the store and back. Its folders are
//! that path, and dependencies between them only point down this list:
//! - [`serve`]: the API front — RequestInfo, the access checks in order, then discovery, OpenAPI,
//!   health and the resource handlers, replies in the negotiated representation, watches;
//! - [`access`]: authentication, impersonation, authorization (RBAC built in: index, feed,
//!   bootstrap policy), the access checks on writes (escalation, NamespaceLifecycle), audit;
//! - [`storage`]: the object service (every read and write of objects, with its admission chain
//!   and write observers), the store adapter, the watch hub, version conversion;
//! - [`registry`]: the resources served, as data (built-in kinds, CRDs, their schemas).
//!
//! Beside them: [`server`] wires a cluster together (the only place one is built), [`cluster`] is
//! the running cluster's state and extension points, `controllers` keep its objects consistent
//! (namespaces, garbage collection, CRDs), [`connect`] is the contract for connect subresources
//! other crates serve (logs, exec). Semantics that need no I/O live in `kube-core` (Status,
//! RequestInfo, selectors, printers), `kube-patch` (patches, managed fields), `kube-schema`
//! (Protobuf, OpenAPI) and `rbac`.
//!
//! Start a cluster with [`ClusterServer::start`]; other parts of Rampart extend it through
//! [`Cluster`] (token authenticators, authorizers, connect handlers, audit) and act on its
//! objects through the object service, [`Objects`] (admission hooks and write observers too).

pub mod access;
mod cluster;
pub mod connect;
mod controllers;
mod error;
mod kubeconfig;
pub mod metrics;
mod pki;
pub mod registry;
pub mod serve;
mod server;
pub mod storage;

pub use cluster::Cluster;
pub use error::Error;
pub use server::{ClusterConfig, ClusterHandle, ClusterServer};
pub use storage::admission;
pub use storage::objects::{Ctx, Deleted, ListResult, Objects, Target};
