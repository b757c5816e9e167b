//! The Kubernetes API server: one per EKS cluster, all in one process.
//!
//! This crate owns the request path from a TLS connection to the store and back: routing on
//! RequestInfo, the authentication chain, authorization, admission, the resource registry,
//! content negotiation, watch, discovery, OpenAPI serving, and the controllers that keep the
//! cluster consistent (namespaces, garbage collection, CRDs). Semantics that need no I/O live in
//! `kube-core` (Status, RequestInfo, selectors, printers), `kube-patch` (patches, managed fields)
//! `kube-schema` (Protobuf, OpenAPI) and `rbac`; this crate wires them to the network and the
//! store.
//!
//! Start a cluster with [`ClusterServer::start`]; other parts of Rampart extend it through the
//! chains on [`Cluster`] (token authenticators, authorizers, admission hooks, connect handlers)
//! and act on its objects through the operations in [`objects`].

// Every operation fails with a Kubernetes `Status`, returned by value as kube-apiserver builds them.
#![allow(clippy::result_large_err)]

pub mod admission;
pub mod audit;
pub mod authn;
pub mod authz;
pub mod bootstrap_policy;
mod cluster;
pub mod connect;
mod controllers;
mod convert;
mod discovery;
mod encode;
mod error;
pub mod escalation;
mod fields;
mod handlers;
mod http;
pub mod impersonation;
mod kubeconfig;
pub mod metrics;
mod names;
pub mod objects;
mod openapi;
mod pki;
mod protobuf;
pub mod rbac_sync;
pub mod registry;
mod reviews;
mod storage;
mod stream;
mod subresources;
pub mod watch;

pub use cluster::{Cluster, ClusterConfig, ClusterHandle, ClusterServer};
pub use error::Error;
pub use http::{MAX_BODY_BYTES, VERSION, router};
pub use objects::{Ctx, Deleted, ListResult};
