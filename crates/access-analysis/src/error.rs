//! The crate's one error enum.

/// Why an analysis could not be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A line of an audit log is not an audit event.
    #[error(
        "audit log line {line}: {message} (give the API server's JSON-lines audit log, as --audit-log-path writes it)"
    )]
    AuditEvent { line: usize, message: String },
}
