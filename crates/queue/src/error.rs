//! The errors of the queue crate.
//!
//! Every variant names the operation that failed (and the stream/group when there is one) so
//! that a log line is enough for an SRE to know where to look.

/// An error from an [`EventStream`](crate::EventStream) backend or from the consumer runner.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A Redis command failed (connection refused or lost, timeout, server error...).
    #[error("redis: {context}: {source}")]
    Redis {
        /// What was being done, e.g. `XREADGROUP tend:orders group=routing`.
        context: String,
        /// The error reported by the Redis client.
        source: redis::RedisError,
    },

    /// Redis answered with a reply this crate does not understand (a key that is not a stream,
    /// a server of an unsupported version...).
    #[error("redis: {context}: unexpected reply: {detail}")]
    UnexpectedReply {
        /// What was being done.
        context: String,
        /// What was wrong with the reply.
        detail: String,
    },

    /// A statement on the embedded SQLite database failed (file not writable, disk full,
    /// database locked by another process for longer than the busy timeout...).
    #[error("sqlite: {context}: {source}")]
    Sqlite {
        /// What was being done, e.g. `read_new stream=orders group=routing`.
        context: String,
        /// The error reported by sea-orm.
        source: sea_orm::DbErr,
    },

    /// The consumer group does not exist on the stream: it was never created, or the stream
    /// was deleted (e.g. Redis was flushed). Call [`EventStream::ensure_group`](crate::EventStream::ensure_group).
    #[error("consumer group {group:?} does not exist on stream {stream:?} (call ensure_group first)")]
    NoGroup {
        /// The stream name, without any backend prefix.
        stream: String,
        /// The group name.
        group: String,
    },

    /// The caller passed something the backend cannot use: an empty stream, group or consumer
    /// name, an entry id the backend did not make, invalid consumer options...
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// A value could not be encoded or decoded (e.g. a dead letter that is not valid JSON).
    #[error("encoding: {context}: {source}")]
    Encoding {
        /// What was being encoded or decoded.
        context: String,
        /// The serde_json error.
        source: serde_json::Error,
    },
}

impl Error {
    /// Wraps a Redis client error with what was being done.
    pub(crate) fn redis(context: impl Into<String>, source: redis::RedisError) -> Self {
        Self::Redis { context: context.into(), source }
    }

    /// Wraps a sea-orm error with what was being done.
    pub(crate) fn sqlite(context: impl Into<String>, source: sea_orm::DbErr) -> Self {
        Self::Sqlite { context: context.into(), source }
    }

    /// A reply from Redis that does not have the expected shape.
    pub(crate) fn unexpected_reply(context: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::UnexpectedReply { context: context.into(), detail: detail.into() }
    }
}

/// Rejects an empty stream, group or consumer name: both backends would otherwise accept some
/// of them silently and behave differently.
pub(crate) fn require_name(kind: &str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::InvalidInput(format!("the {kind} name is empty")));
    }
    Ok(())
}
