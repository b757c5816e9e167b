//! What clients need to know about Kubernetes' built-in types: the OpenAPI v3 documents that
//! `kubectl apply`, `edit` and `explain` read, and the decoding of the Protobuf request bodies
//! that kubectl's typed clients send, into the JSON the server stores.
//!
//! - [`protobuf::decode`] turns an `application/vnd.kubernetes.protobuf` body (the `k8s\0`
//!   envelope around a `runtime.Unknown`) into exactly the JSON object the same request would have
//!   carried as JSON. The wire is read by `prost-reflect` over Kubernetes' own message
//!   definitions (a descriptor set compiled from `k8s.io/api` v0.32, see `tools/`).
//! - [`openapi::OpenApiV3`] builds, once per change of the served resources, the `/openapi/v3`
//!   index and one document per group-version, with component schemas from `k8s-openapi`
//!   (built-in kinds) or a CRD's `openAPIV3Schema`.
//!
//! Schemas and message definitions come from maintained crates and Kubernetes' own definitions,
//! never from hand-written wire parsing. This crate must never do I/O, read the clock or the
//! environment.

mod error;
mod facts;
pub mod openapi;
pub mod protobuf;

pub use error::Error;
