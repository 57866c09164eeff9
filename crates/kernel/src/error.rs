//! The one place where errors become gRPC statuses.
//!
//! Service adapters turn their domain errors into an [`ApiError`]; `From<ApiError> for Status`
//! picks the code and the message. Unexpected errors are logged with an incident id and the
//! caller sees only that id, never a database message.

use tonic::{Code, Status};

/// An error as the API reports it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A request field is missing or malformed.
    #[error("invalid `{field}`: {problem}")]
    InvalidArgument {
        /// The request field, as named in the .proto (dotted for nested fields).
        field: String,
        /// What is wrong and what to send instead.
        problem: String,
    },
    /// The thing asked for does not exist for the caller's tenant.
    #[error("{kind} {id} not found")]
    NotFound {
        /// What kind of thing ("case", "interaction").
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The request is valid but the thing is not in a state that allows it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The thing changed since the caller read it (a stale version): read it again and retry.
    #[error("{0}")]
    Aborted(String),
    /// No credentials, or unknown ones.
    #[error("{0}")]
    Unauthenticated(String),
    /// Valid credentials without the right to do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// A dependency (database, another service) is unavailable; retrying later may succeed.
    #[error("{0}")]
    Unavailable(String),
    /// A per-tenant quota is used up: the tenant must free some first (see [`ApiError::quota`]).
    #[error("{0}")]
    ResourceExhausted(String),
    /// Anything else: a bug or an unexpected infrastructure failure.
    #[error(transparent)]
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// An [`ApiError::InvalidArgument`].
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::InvalidArgument { field: field.into(), problem: problem.into() }
    }

    /// An [`ApiError::NotFound`].
    pub fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound { kind, id: id.into() }
    }

    /// A tenant already has `limit` of `what` (agents, calendars…), the most it may: a bound on
    /// how far a runaway script or a leaked admin key can grow a table.
    pub fn quota(what: &str, limit: u64) -> Self {
        Self::ResourceExhausted(format!("the tenant has {limit} {what}, the most it may have; delete some first"))
    }

    /// An [`ApiError::Internal`] from any error.
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(error.into())
    }
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        let code = match &error {
            ApiError::InvalidArgument { .. } => Code::InvalidArgument,
            ApiError::NotFound { .. } => Code::NotFound,
            ApiError::FailedPrecondition(_) => Code::FailedPrecondition,
            ApiError::Aborted(_) => Code::Aborted,
            ApiError::Unauthenticated(_) => Code::Unauthenticated,
            ApiError::PermissionDenied(_) => Code::PermissionDenied,
            ApiError::Unavailable(_) => Code::Unavailable,
            ApiError::ResourceExhausted(_) => Code::ResourceExhausted,
            ApiError::Internal(source) => {
                let incident = crate::ids::new_id();
                tracing::error!(%incident, error = %source, "internal error");
                return Status::internal(format!(
                    "internal error (incident {incident}); the server log has the details"
                ));
            }
        };
        Status::new(code, crate::status::clip(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages() {
        let status = Status::from(ApiError::invalid("text", "is required"));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "invalid `text`: is required");

        let status = Status::from(ApiError::not_found("case", "42"));
        assert_eq!(status.code(), Code::NotFound);

        let status = Status::from(ApiError::internal("password=secret in a db error"));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
    }
}
