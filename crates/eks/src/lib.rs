//! The EKS service: what `aws eks …` and an EKS cluster's front door do, in one process.
//!
//! This crate owns the EKS REST-JSON API on the AWS endpoint ([`EksApi`], an
//! `aws_api::RestService`), the control plane that runs every cluster as a `kube_api` cluster
//! server of its own ([`Eks`]), and what it installs into each cluster: the `k8s-aws-v1.`
//! token authenticator backed by live IAM state ([`EksAuthenticator`]), identity mapping through
//! access entries and the live aws-auth ConfigMap, EKS's access-policy authorizer (ahead of
//! RBAC), the aws-auth admission check, the authenticator's log — then the binary's
//! [`ClusterHook`]s. It also serves the authenticator and the authorizer chain as webhooks for
//! a real kube-apiserver ([`webhook`]) and writes the kubeconfig `aws eks update-kubeconfig`
//! writes ([`kubeconfig`]).
//!
//! EKS semantics that need no I/O (token checks, mapping, access entries and policies, modes)
//! live in `eks-auth`; this crate wires them to the store, IAM and the API servers. It never
//! reads or writes files other than the authenticator logs it is given a directory for.

mod access;
mod access_policy;
mod api;
mod authenticator;
mod aws_auth;
mod control_plane;
mod error;
pub mod kubeconfig;
mod model;
mod rbac_advisories;
pub mod webhook;

pub use access::{AccessSnapshot, AccessState};
pub use access_policy::AccessPolicyAuthorizer;
pub use api::EksApi;
pub use authenticator::{AuthenticatorConfig, AuthenticatorLog, EksAuthenticator, IamKeys};
pub use aws_auth::AwsAuthAdmission;
pub use control_plane::{ClusterHook, Creator, Eks, NewCluster, RunningCluster, Runtime, StopHook, principal_id};
pub use error::Error;
pub use model::{ClusterKey, ClusterRecord, KUBERNETES_VERSION, PREFIX};
