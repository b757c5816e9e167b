//! The AWS wire surface: IAM and STS over the Query protocol (form-encoded requests, XML
//! responses) and EKS over REST-JSON, on one HTTPS endpoint.
//!
//! Every request is SigV4-verified (`sigv4`), mapped to a principal, authorized by IAM policy
//! evaluation (`iam`) and handled; errors go out in AWS's own codes and wording. IAM state is
//! persisted in the shared `store`.
