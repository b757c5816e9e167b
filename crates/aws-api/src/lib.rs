//! The AWS wire surface: IAM and STS over the Query protocol (form-encoded requests, XML
//! responses) and REST-JSON services (EKS) plugged in through [`RestService`], on one HTTPS
//! endpoint.
//!
//! Every request is SigV4-verified (`sigv4`), mapped to a principal, authorized by IAM policy
//! evaluation (`iam`) and handled; errors go out in AWS's own codes and wording. IAM state is
//! persisted in the shared `store` with secrets sealed by a key in the data directory
//! ([`KeyFileSealer`]); the rest of Rampart looks access keys up through [`IamHandle`].
//!
//! ```text
//! body ─► SigV4 verify ─► caller ─► iam | sts (Query)  ─► authorize ─► operation ─► XML
//!                                 └► RestService (eks) ─► authorize ─► operation ─► JSON
//! ```

mod api;
mod call;
mod error;
mod iam_api;
mod params;
mod seal;
mod service;
mod sts_api;
mod xml;

pub use api::{AwsApi, RestRequest, RestService};
pub use error::AwsError;
pub use seal::KeyFileSealer;
pub use service::{IamHandle, IamService, PREFIX};
