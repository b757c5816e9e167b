//! The simulated container runtime: what a kubelet and containerd do for Rampart's pods,
//! in-process, without containers.
//!
//! It owns pod sandboxes (a directory per pod, one per container inside it), container
//! instances (a container's `command` run as a local process, or a simulated process that runs
//! until stopped), their logs in CRI format, `pods/log` reading with the kubelet's options,
//! exec sessions (pipes, or a real PTY), the `v5`/`v4.channel.k8s.io` protocol that carries
//! them to kubectl, and the policy that decides whether local processes may run at all.
//!
//! It does I/O (processes, files) but knows nothing of HTTP beyond the WebSocket adapter, and
//! nothing of the store: the API server and the pod lifecycle controller tell it which pods
//! and containers exist and turn what it reports into Kubernetes objects.
//!
//! - [`Runtime`] / [`Sandbox`]: `run_pod_sandbox`, `start_container` (→ [`StartedContainer`],
//!   whose `wait` gives the exit), `stop_container`, `container_status`, `remove_pod_sandbox`.
//! - [`Runtime::logs`] → [`LogStream`] (bytes, chunked-ready) with [`LogOptions`];
//!   [`PodLogQuery::parse`] reads and validates the query as kube-apiserver does.
//! - [`Runtime::exec`] → [`ExecProcess`], served by [`websocket::serve`] (axum) or
//!   [`serve_exec`] (any sink/stream); [`PodExecQuery::parse`] reads the query.
//! - [`ExecPolicy::decide`]: `--exec=auto|off|local` against the Kubernetes listen addresses.
//! - [`PodSummary::from_object`]: what logs and exec need of a Pod object; its `container`
//!   is kube-apiserver's choice of container ([`resolve_container`]) with its errors.
//! - [`KubeletError`]: every failure with kube-apiserver's or the kubelet's wording; its
//!   `to_status()` is the `kube_core::Status` to answer with.

pub mod channel;
pub mod cri_log;
mod driver;
mod error;
mod exec;
mod logs;
mod pod;
mod policy;
mod process;
mod runtime;
pub mod websocket;

pub use channel::{ExecStatus, Protocol, TerminalSize};
pub use driver::{ExecOutcome, Message, serve_exec};
pub use error::KubeletError;
pub use exec::{ExecOptions, ExecProcess, PodExecQuery};
pub use logs::{LogOptions, LogSince, LogStream, PodLogQuery};
pub use pod::{ContainerSpec, EnvVar, PodRef, PodSummary, expand, resolve_container};
pub use policy::{ExecMode, ExecPolicy};
pub use runtime::{ContainerState, ContainerStatus, Runtime, Sandbox, StartedContainer, Terminated};
