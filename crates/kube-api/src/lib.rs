//! The Kubernetes API server: one per EKS cluster, all in one process.
//!
//! This crate owns the request path from a TLS connection to the store and back: routing,
//! the authentication chain, impersonation, authorization, audit, admission, the resource
//! registry, content negotiation, watch, discovery, OpenAPI, logs and exec streaming, and the
//! controllers that keep the cluster alive. Semantics that need no I/O live in `kube-core` and
//! `rbac`; this crate wires them to the network and the store.
