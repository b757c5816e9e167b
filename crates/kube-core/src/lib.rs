//! Kubernetes API shapes and pure semantics shared by the API server and its tests.
//!
//! This crate owns what kube-apiserver decides without touching storage or the network:
//! `Status` errors with kube-apiserver's wording ([`status`]), RequestInfo derived from method and
//! URL ([`request_info`]), label and field selectors ([`selector`]), query parameters and
//! continue tokens ([`params`]), content negotiation ([`media`]), object metadata helpers and
//! human durations ([`meta`]), name and label validation ([`validation`]) and the Table printers
//! ([`table`]). It must never do I/O, read the clock or the environment: "now" is an argument.
//!
//! Patch semantics live in `kube-patch`, Protobuf decoding and OpenAPI in `kube-schema`.

mod error;
pub mod media;
pub mod meta;
pub mod params;
pub mod request_info;
pub mod selector;
pub mod status;
pub mod table;
pub mod validation;

pub use error::Error;
pub use request_info::RequestInfo;
pub use status::{FieldError, GroupKind, GroupResource, Status};
