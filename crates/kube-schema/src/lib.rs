//! What clients need to know about Kubernetes' built-in types: the OpenAPI v3 documents that
//! `kubectl apply`, `edit` and `explain` read, and the decoding of the Protobuf request bodies
//! that kubectl's typed clients send, into the JSON the server stores.
//!
//! - [`protobuf::decode`] turns an `application/vnd.kubernetes.protobuf` body (the `k8s\0`
//!   envelope around a `runtime.Unknown`) into exactly the JSON object the same request would have
//!   carried as JSON. The wire is read by `prost-reflect` over Kubernetes' message definitions,
//!   built from our table of their facts (`data/k8s-messages.txt`, from `k8s.io/api` v0.32).
//! - [`openapi::OpenApiV3`] builds, once per change of the served resources, the `/openapi/v3`
//!   index and one document per group-version, with component schemas from `k8s-openapi`
//!   (built-in kinds) or a CRD's `openAPIV3Schema`.
//!
//! Schemas come from maintained crates, message definitions from facts about Kubernetes' types;
//! the wire is never parsed by hand. This crate must never do I/O, read the clock or the
//! environment.

mod error;
mod facts;
pub mod openapi;
pub mod protobuf;

pub use error::Error;
