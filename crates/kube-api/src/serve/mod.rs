//! The API front: every request from the TLS connection to the reply. [`front`] parses the
//! RequestInfo, authenticates, impersonates, authorizes, audits and counts it, then serves
//! non-resource paths itself ([`discovery`], [`openapi`], health, metrics) and resource requests
//! through [`handlers`], which call the object service and answer in the negotiated
//! representation ([`encode`], [`stream`] for watches); [`reviews`] and [`subresources`] are the
//! requests with their own shapes; [`decode`] reads bodies and [`responses`] builds replies.

mod decode;
mod discovery;
mod encode;
mod front;
mod handlers;
mod openapi;
pub mod responses;
mod reviews;
mod stream;
mod subresources;

pub use front::{VERSION, router};
