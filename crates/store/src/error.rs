use sea_orm::DbErr;

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

/// Adds context to database errors.
pub(crate) trait DbContext<T> {
    fn context(self, context: impl Into<String>) -> Result<T, Error>;
}

impl<T> DbContext<T> for Result<T, DbErr> {
    fn context(self, context: impl Into<String>) -> Result<T, Error> {
        self.map_err(|source| Error::Database { context: context.into(), source })
    }
}
