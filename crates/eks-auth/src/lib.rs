//! The EKS authenticator: what aws-iam-authenticator and EKS do between a bearer token and a
//! Kubernetes user.
//!
//! This crate owns `k8s-aws-v1.` token parsing and every check aws-iam-authenticator makes, local
//! verification of the presigned STS request (through `sigv4`), identity derivation and ARN
//! canonicalization, aws-auth ConfigMap parsing, validation and mapping, access entries and access
//! policies, and authentication modes. It must never do I/O: the caller supplies credentials,
//! the aws-auth data and the access entries.
