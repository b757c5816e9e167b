//! AWS Signature Version 4 verification, as IAM, STS and EKS check it.
//!
//! This crate owns the canonical request (botocore's canonicalization rules for non-S3
//! services), the string to sign, signing-key derivation with a cache, constant-time signature
//! comparison, and the clock-skew window, for header-signed and presigned requests. Verification
//! takes "now" as an input and looks secrets up through the caller; it must never do I/O or read
//! the wall clock itself.
