//! Storage errors, and the one place where a database failure is classified: a lost connection
//! or an exhausted pool is *unavailable* (retry later), a unique violation is a *conflict* the
//! caller may have asked for, anything else is unexpected.

use sea_orm::{DbErr, RuntimeErr, SqlErr};
use tend_kernel::ApiError;
use tend_queue::HandlerError;

/// A storage failure, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A database operation failed.
    #[error("{context}: {source}")]
    Database {
        /// What was being done.
        context: String,
        /// The database's error.
        source: DbErr,
    },
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Publishing to the event stream failed.
    #[error("publishing to stream {stream}: {source}")]
    Publish {
        /// The stream.
        stream: String,
        /// The stream's error.
        source: tend_queue::Error,
    },
}

/// What kind of database failure an error is, for deciding what to tell the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The database cannot be reached, the pool is exhausted, or the database is busy: the same
    /// request may succeed later.
    Unavailable,
    /// A unique key already holds the value.
    UniqueViolation,
    /// The transaction lost a race with another (a deadlock, a serialization failure): running
    /// it again at once normally succeeds.
    Conflict,
    /// Anything else: a bug, a broken schema, a corrupt row.
    Unexpected,
}

impl Error {
    /// Classifies the failure.
    pub fn failure(&self) -> Failure {
        match self {
            Error::Database { source, .. } => classify(source),
            Error::Publish { .. } => Failure::Unavailable,
            Error::DataDir { .. } => Failure::Unexpected,
        }
    }

    /// Whether this is a unique-key violation.
    pub fn is_unique_violation(&self) -> bool {
        self.failure() == Failure::UniqueViolation
    }
}

/// Classifies a database error.
pub fn classify(error: &DbErr) -> Failure {
    if let Some(SqlErr::UniqueConstraintViolation(_)) = error.sql_err() {
        return Failure::UniqueViolation;
    }
    let runtime = match error {
        DbErr::ConnectionAcquire(_) => return Failure::Unavailable,
        DbErr::Conn(runtime) | DbErr::Exec(runtime) | DbErr::Query(runtime) => runtime,
        _ => return Failure::Unexpected,
    };
    let RuntimeErr::SqlxError(sqlx) = runtime else { return Failure::Unexpected };
    use sea_orm::sqlx::Error as Sqlx;
    match sqlx.as_ref() {
        Sqlx::Io(_) | Sqlx::Tls(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed => {
            Failure::Unavailable
        }
        Sqlx::Database(database) => match database.code().as_deref() {
            // PostgreSQL: serialization failure, deadlock.
            Some("40001" | "40P01") => Failure::Conflict,
            // SQLite: SQLITE_BUSY, SQLITE_LOCKED. PostgreSQL: too many connections, admin
            // shutdown, cannot connect now.
            Some("5" | "6" | "53300" | "57P01" | "57P03") => Failure::Unavailable,
            _ => Failure::Unexpected,
        },
        _ => Failure::Unexpected,
    }
}

/// Adds what was being done to database errors: `query.await.context("reading the case")?`.
pub trait DbContext<T> {
    /// Wraps the error with `context`.
    fn context(self, context: impl Into<String>) -> Result<T, Error>;
}

impl<T> DbContext<T> for Result<T, DbErr> {
    fn context(self, context: impl Into<String>) -> Result<T, Error> {
        self.map_err(|source| Error::Database { context: context.into(), source })
    }
}

/// What an API caller is told: UNAVAILABLE when retrying may help, INTERNAL (with an incident
/// id, the details only in the log) otherwise. A unique violation reaching this point is a race
/// the code did not expect, so it is internal too; code that expects one checks
/// [`Error::is_unique_violation`] first.
impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        match error.failure() {
            Failure::Unavailable | Failure::Conflict => {
                tracing::warn!(%error, "storage unavailable");
                ApiError::Unavailable("storage is unavailable; retry shortly".to_owned())
            }
            Failure::UniqueViolation | Failure::Unexpected => ApiError::internal(error),
        }
    }
}

/// The same, for a handler that answers a [`tonic::Status`] directly.
impl From<Error> for tonic::Status {
    fn from(error: Error) -> Self {
        ApiError::from(error).into()
    }
}

/// What an event consumer does: retry. A database failure is never a reason to drop an event;
/// one that keeps failing reaches the dead-letter stream after `max_deliveries`.
impl From<Error> for HandlerError {
    fn from(error: Error) -> Self {
        HandlerError::Retry(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_timeout_is_unavailable_and_other_errors_are_not() {
        let timeout = Error::Database {
            context: "reading".into(),
            source: DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout),
        };
        assert_eq!(timeout.failure(), Failure::Unavailable);
        assert_eq!(tonic::Status::from(ApiError::from(timeout)).code(), tonic::Code::Unavailable);
        let custom = Error::Database { context: "reading".into(), source: DbErr::Custom("bad row".into()) };
        assert_eq!(custom.failure(), Failure::Unexpected);
        assert_eq!(tonic::Status::from(ApiError::from(custom)).code(), tonic::Code::Internal);
    }
}
