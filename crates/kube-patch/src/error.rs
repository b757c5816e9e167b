//! The crate's one error type, carrying what kube-apiserver answers for each failure: the HTTP
//! code, the `Status` reason and message, and (for apply conflicts) the causes.

/// One apply conflict: another manager owns a field the applied configuration sets to a
/// different value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager as kube-apiserver prints it: `"kubectl-client-side-apply" using v1`,
    /// `"kubectl"`, `"kube-controller-manager" with subresource "status" using apps/v1`.
    pub manager: String,
    /// The field path in structured-merge-diff's notation:
    /// `.spec.template.spec.containers[name="nginx"].image`.
    pub field: String,
}

/// A cause in the `details.causes` of the 409 `Status` of an apply conflict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusCause {
    /// Always `FieldManagerConflict`.
    pub reason: &'static str,
    /// `conflict with "<manager>"…`
    pub message: String,
    /// The conflicting field path.
    pub field: String,
}

/// Why a patch or an apply was refused. Every variant maps to the `Status` kube-apiserver sends:
/// see [`PatchError::code`], [`PatchError::reason`] and [`PatchError::status_message`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// 400 BadRequest: the patch could not be decoded or is malformed for its patch type.
    #[error("{0}")]
    BadRequest(String),
    /// 415 UnsupportedMediaType: the patch type is not accepted for this kind (strategic merge
    /// patch on a custom resource).
    #[error("the body of the request was in an unknown format - accepted media types include: {}", .accepted.join(", "))]
    UnsupportedMediaType {
        /// The patch content types the kind accepts, in kube-apiserver's order.
        accepted: Vec<&'static str>,
    },
    /// 422 Invalid: the patch is well-formed but cannot be applied to this object (a JSON patch
    /// `test` that fails, a path that does not exist, a strategic merge patch on a list of lists).
    /// kube-apiserver replaces the detail with a generic message on the wire; the detail is kept
    /// here for logs.
    #[error("the server rejected our request due to an error in our request: {0}")]
    Unprocessable(String),
    /// 413 RequestEntityTooLarge: a JSON patch with more operations than kube-apiserver allows.
    #[error("The allowed maximum operations in a JSON patch is {max}, got {got}")]
    TooManyOperations {
        /// The limit (10000).
        max: usize,
        /// The number of operations in the patch.
        got: usize,
    },
    /// 409 Conflict: server-side apply found fields owned by other managers with other values.
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// 500: a failure kube-apiserver reports as an internal error with its message unchanged
    /// (for example a strategic merge patch list item without its merge key).
    #[error("{0}")]
    Internal(String),
}

/// The generic message kube-apiserver puts in a 422 it builds with `NewGenericServerResponse`.
const UNPROCESSABLE_MESSAGE: &str = "the server rejected our request due to an error in our request";

impl PatchError {
    /// The HTTP status code of the `Status`.
    pub fn code(&self) -> u16 {
        match self {
            PatchError::BadRequest(_) => 400,
            PatchError::UnsupportedMediaType { .. } => 415,
            PatchError::Unprocessable(_) => 422,
            PatchError::TooManyOperations { .. } => 413,
            PatchError::Conflicts(_) => 409,
            PatchError::Internal(_) => 500,
        }
    }

    /// The `reason` of the `Status` (empty for the internal errors kube-apiserver leaves
    /// unclassified).
    pub fn reason(&self) -> &'static str {
        match self {
            PatchError::BadRequest(_) => "BadRequest",
            PatchError::UnsupportedMediaType { .. } => "UnsupportedMediaType",
            PatchError::Unprocessable(_) => "Invalid",
            PatchError::TooManyOperations { .. } => "RequestEntityTooLarge",
            PatchError::Conflicts(_) => "Conflict",
            PatchError::Internal(_) => "",
        }
    }

    /// The `message` of the `Status`, byte for byte as kube-apiserver words it.
    pub fn status_message(&self) -> String {
        match self {
            PatchError::Unprocessable(_) => UNPROCESSABLE_MESSAGE.to_string(),
            other => other.to_string(),
        }
    }

    /// The `details.causes` of the `Status` (apply conflicts only).
    pub fn causes(&self) -> Vec<StatusCause> {
        match self {
            PatchError::Conflicts(conflicts) => conflicts
                .iter()
                .map(|c| StatusCause {
                    reason: "FieldManagerConflict",
                    message: format!("conflict with {}", c.manager),
                    field: c.field.clone(),
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// `Apply failed with 1 conflict: conflict with "m": .a.b`, or for several conflicts the managers
/// sorted with their paths listed under each, as kube-apiserver's `getConflictMessage` prints.
fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [only] = conflicts {
        return format!("Apply failed with 1 conflict: conflict with {}: {}", only.manager, only.field);
    }
    let mut managers: Vec<&str> = conflicts.iter().map(|c| c.manager.as_str()).collect();
    managers.sort_unstable();
    managers.dedup();
    let mut lines = Vec::new();
    for manager in managers {
        lines.push(format!("conflict with {manager}:"));
        lines.extend(conflicts.iter().filter(|c| c.manager == manager).map(|c| format!("- {}", c.field)));
    }
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict(manager: &str, field: &str) -> Conflict {
        Conflict { manager: manager.to_string(), field: field.to_string() }
    }

    #[test]
    fn one_conflict_is_worded_as_kube_apiserver_does() {
        let err = PatchError::Conflicts(vec![conflict("\"kubectl-client-side-apply\" using v1", ".data.key")]);
        assert_eq!(
            err.status_message(),
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using v1: .data.key"
        );
        assert_eq!((err.code(), err.reason()), (409, "Conflict"));
        assert_eq!(err.causes()[0].message, "conflict with \"kubectl-client-side-apply\" using v1");
        assert_eq!(err.causes()[0].field, ".data.key");
    }

    #[test]
    fn several_conflicts_group_paths_under_sorted_managers() {
        let err = PatchError::Conflicts(vec![
            conflict("\"zed\"", ".spec.replicas"),
            conflict("\"alpha\" using apps/v1", ".metadata.labels.app"),
            conflict("\"zed\"", ".spec.paused"),
        ]);
        assert_eq!(
            err.status_message(),
            "Apply failed with 3 conflicts: conflict with \"alpha\" using apps/v1:\n- .metadata.labels.app\n\
             conflict with \"zed\":\n- .spec.replicas\n- .spec.paused"
        );
    }

    #[test]
    fn unprocessable_hides_the_detail_like_kube_apiserver() {
        let err = PatchError::Unprocessable("testing value /a failed".into());
        assert_eq!(err.code(), 422);
        assert_eq!(err.status_message(), UNPROCESSABLE_MESSAGE);
    }

    #[test]
    fn unsupported_media_type_lists_accepted_types() {
        let err = PatchError::UnsupportedMediaType {
            accepted: vec!["application/json-patch+json", "application/merge-patch+json"],
        };
        assert_eq!(
            err.status_message(),
            "the body of the request was in an unknown format - accepted media types include: \
             application/json-patch+json, application/merge-patch+json"
        );
    }
}
