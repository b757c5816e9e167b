//! Everything the runtime can refuse or fail at, each error worded as kube-apiserver or the
//! kubelet words it, with the `Status` the API server puts on the wire.

use std::path::PathBuf;

use go_format::quote;
use kube_core::status::{FieldError, GroupKind, Status};

/// Why a sandbox, log or exec operation failed. [`KubeletError::http_status`] and
/// [`KubeletError::reason`] give the `Status` to answer with; `Display` is its message.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    /// No container was named and the pod has several (kube-apiserver's `validateContainer`).
    #[error("a container name must be specified for pod {pod}, choose one of: [{}]{}", containers.join(" "), init_suffix(init_containers))]
    ContainerNameRequired { pod: String, containers: Vec<String>, init_containers: Vec<String> },
    /// The named container is not in the pod's spec (kube-apiserver).
    #[error("container {container} is not valid for pod {pod}")]
    ContainerNotValid { container: String, pod: String },
    /// Exec into a pod not scheduled to a node yet (kube-apiserver).
    #[error("pod {pod} does not have a host assigned")]
    NoHostAssigned { pod: String },
    /// The container has not started yet, so it has no log (the kubelet).
    #[error("container {} in pod {} is waiting to start: {reason}", quote(container), quote(pod))]
    ContainerWaiting { container: String, pod: String, reason: String },
    /// `previous=true` for a container that has not restarted (the kubelet).
    #[error("previous terminated container {} in pod {} not found", quote(container), quote(pod))]
    PreviousNotFound { container: String, pod: String },
    /// Exec into a container that is not running (the kubelet's `findContainer`).
    #[error("container not found ({})", quote(container))]
    ContainerNotFound { container: String },
    /// Exec asked for none of stdin, stdout and stderr (the kubelet).
    #[error("you must specify at least 1 of stdin, stdout, stderr")]
    NoStreams,
    /// The exec'd command could not be started; `cause` is worded as runc words it.
    #[error(
        "failed to start exec {}: OCI runtime exec failed: exec failed: unable to start container process: {cause}: unknown",
        quote(exec_id)
    )]
    ExecStart { exec_id: String, cause: String },
    /// Options that fail kube-apiserver's validation (`PodLogOptions "p" is invalid: …`).
    #[error("{}", invalid(kind, name, errors).message)]
    InvalidOptions { kind: &'static str, name: String, errors: Vec<FieldError> },
    /// A query parameter whose value does not parse.
    #[error("{0}")]
    BadRequest(String),
    /// Local execution is turned off on this server.
    #[error("{0}")]
    ExecDisabled(String),
    /// An exec, attach or port-forward asked for SPDY (kubectl's fallback when the WebSocket
    /// upgrade is refused, or with `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`).
    #[error(
        "this server speaks the remote command protocol over WebSocket (v5.channel.k8s.io) only, not SPDY: use \
         kubectl 1.30 or later without KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false"
    )]
    SpdyUnsupported,
    /// `start_container` for a container whose current instance still runs.
    #[error("container {} in pod {} is already running", quote(container), quote(pod))]
    ContainerRunning { container: String, pod: String },
    /// The pod's sandbox was removed (the pod was deleted) while it was being used.
    #[error("the sandbox of pod {} was removed", quote(pod))]
    SandboxRemoved { pod: String },
    /// The sandbox directory or a log file could not be created, read or removed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl KubeletError {
    /// The HTTP status kube-apiserver answers with.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::ContainerNameRequired { .. }
            | Self::ContainerNotValid { .. }
            | Self::NoHostAssigned { .. }
            | Self::ContainerWaiting { .. }
            | Self::PreviousNotFound { .. }
            | Self::BadRequest(_)
            | Self::SpdyUnsupported => 400,
            Self::InvalidOptions { .. } => 422,
            Self::ExecDisabled(_) => 403,
            Self::ContainerNotFound { .. }
            | Self::NoStreams
            | Self::ExecStart { .. }
            | Self::ContainerRunning { .. }
            | Self::SandboxRemoved { .. }
            | Self::Io { .. } => 500,
        }
    }

    /// The `Status` reason that goes with [`KubeletError::http_status`].
    pub fn reason(&self) -> &'static str {
        match self.http_status() {
            400 => "BadRequest",
            403 => "Forbidden",
            422 => "Invalid",
            _ => "InternalError",
        }
    }

    /// What a Kubernetes 1.32 API server reports on the exec error channel for this error, once
    /// the WebSocket is upgraded: its stream translator wraps the kubelet's failure in an
    /// `InternalError` whose message is `Internal error occurred: ` followed by this.
    pub fn exec_failure(&self) -> String {
        match self {
            Self::ContainerNotFound { .. } | Self::NoStreams => format!("unable to upgrade connection: {self}"),
            Self::ExecStart { .. } => format!(
                "Internal error occurred: error executing command in container: failed to exec in container: {self}"
            ),
            _ => self.to_string(),
        }
    }

    /// The `Status` kube-apiserver answers with (for errors before any upgrade).
    pub fn to_status(&self) -> Status {
        match self {
            Self::InvalidOptions { kind, name, errors } => invalid(kind, name, errors),
            _ => match self.http_status() {
                400 => Status::bad_request(self.to_string()),
                500 => Status::internal(self),
                code => Status {
                    status: "Failure".into(),
                    message: self.to_string(),
                    reason: self.reason().into(),
                    details: Box::default(),
                    code,
                },
            },
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { action, path: path.into(), source }
    }
}

fn init_suffix(init_containers: &[String]) -> String {
    if init_containers.is_empty() {
        String::new()
    } else {
        format!(" or one of the init containers: [{}]", init_containers.join(" "))
    }
}

fn invalid(kind: &str, name: &str, errors: &[FieldError]) -> Status {
    Status::invalid(&GroupKind::new("", kind), name, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_kubernetes_own() {
        let err = KubeletError::PreviousNotFound { container: "c".into(), pod: "p".into() };
        assert_eq!(err.to_string(), r#"previous terminated container "c" in pod "p" not found"#);
        assert_eq!((err.http_status(), err.reason()), (400, "BadRequest"));

        let err = KubeletError::ContainerNotValid { container: "x".into(), pod: "y".into() };
        assert_eq!(err.to_string(), "container x is not valid for pod y");

        let err = KubeletError::ContainerNameRequired {
            pod: "two".into(),
            containers: vec!["main".into(), "side".into()],
            init_containers: vec![],
        };
        assert_eq!(err.to_string(), "a container name must be specified for pod two, choose one of: [main side]");
        let err = KubeletError::ContainerNameRequired {
            pod: "two".into(),
            containers: vec!["main".into(), "side".into()],
            init_containers: vec!["setup".into()],
        };
        assert_eq!(
            err.to_string(),
            "a container name must be specified for pod two, choose one of: [main side] or one of the init containers: [setup]"
        );

        let err = KubeletError::ContainerWaiting {
            container: "c".into(),
            pod: "p".into(),
            reason: "ContainerCreating".into(),
        };
        assert_eq!(err.to_string(), r#"container "c" in pod "p" is waiting to start: ContainerCreating"#);
    }

    #[test]
    fn exec_failures_read_as_a_1_32_api_server_reports_them() {
        let err = KubeletError::ContainerNotFound { container: "nginx".into() };
        assert_eq!(err.exec_failure(), r#"unable to upgrade connection: container not found ("nginx")"#);
        assert_eq!(err.http_status(), 500);

        let err = KubeletError::ExecStart {
            exec_id: "abc".into(),
            cause: r#"exec: "ps": executable file not found in $PATH"#.into(),
        };
        assert_eq!(
            err.exec_failure(),
            "Internal error occurred: error executing command in container: failed to exec in container: failed to \
             start exec \"abc\": OCI runtime exec failed: exec failed: unable to start container process: exec: \"ps\": \
             executable file not found in $PATH: unknown"
        );
    }

    #[test]
    fn invalid_options_aggregate_like_field_error_lists() {
        let one = FieldError::invalid_raw("tailLines", "-1", "must be greater than or equal to 0");
        let two = FieldError::invalid_raw("limitBytes", "0", "must be greater than 0");
        let err =
            KubeletError::InvalidOptions { kind: "PodLogOptions", name: "nginx".into(), errors: vec![one.clone()] };
        assert_eq!(
            err.to_string(),
            r#"PodLogOptions "nginx" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0"#
        );
        assert_eq!((err.http_status(), err.reason()), (422, "Invalid"));
        let status = err.to_status();
        assert_eq!(
            (status.code, status.reason.as_str(), status.details.kind.as_str()),
            (422, "Invalid", "PodLogOptions")
        );
        assert_eq!(status.details.causes[0].field, "tailLines");
        let err = KubeletError::InvalidOptions { kind: "PodLogOptions", name: "nginx".into(), errors: vec![one, two] };
        assert_eq!(
            err.to_string(),
            "PodLogOptions \"nginx\" is invalid: [tailLines: Invalid value: -1: must be greater than or equal to 0, \
             limitBytes: Invalid value: 0: must be greater than 0]"
        );
    }

    #[test]
    fn statuses_carry_code_reason_and_message() {
        let status = KubeletError::PreviousNotFound { container: "c".into(), pod: "p".into() }.to_status();
        assert_eq!(
            (status.code, status.reason.as_str(), status.message.as_str()),
            (400, "BadRequest", r#"previous terminated container "c" in pod "p" not found"#)
        );
        let status = KubeletError::ExecDisabled("local exec is turned off".into()).to_status();
        assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
        let status = KubeletError::SpdyUnsupported.to_status();
        assert_eq!((status.code, status.reason.as_str()), (400, "BadRequest"));
        let status = KubeletError::ContainerNotFound { container: "c".into() }.to_status();
        assert_eq!(
            (status.code, status.message.as_str()),
            (500, r#"Internal error occurred: container not found ("c")"#)
        );
    }
}
