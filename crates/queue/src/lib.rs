//! Tend's event streams: one trait, two backends with the same semantics.
//!
//! Every service publishes and consumes events through [`EventStream`]. Two backends implement
//! it and one contract test suite (`tests/contract.rs`) proves they behave alike:
//!
//! - [`RedisStream`]: Redis Streams with consumer groups, for production.
//! - [`LocalStream`]: an in-process stream persisted in SQLite (a file under the data directory,
//!   or memory in tests), the embedded default. It is durable so that `tend dev` loses nothing
//!   when the process dies.
//!
//! Semantics both backends share:
//! - entries are appended to a named stream and get an id that orders them within the stream;
//! - a consumer group sees every entry of its stream once, starting from the beginning of the
//!   stream when the group is created (nothing published before is missed);
//! - a read entry is *pending* for the consumer that read it until acknowledged; entries pending
//!   longer than an idle time can be reclaimed by another consumer, which bumps their delivery
//!   count (at-least-once delivery: consumers must be idempotent);
//! - [`Consumer`] drives a handler over a group: it acknowledges what the handler accepted,
//!   leaves what failed for a retry, and moves an entry to the group's dead-letter stream once it
//!   has been delivered `max_deliveries` times or the handler calls it poison. Dead letters can be
//!   listed and replayed;
//! - an entry is *settled* once every group of its stream has been delivered it and has
//!   acknowledged it. Only settled entries are removed by [`EventStream::trim`] (retention) and
//!   [`EventStream::delete_settled`] (erasure), so neither ever takes an event from a consumer
//!   that still has to handle it.

mod consumer;
mod dead_letter;
mod error;
mod local;
mod redis_stream;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

pub use consumer::{BatchHandler, Consumer, ConsumerOptions, Handler, HandlerError};
pub use dead_letter::{DeadLetter, dead_letter_stream, list_dead_letters, replay_dead_letters};
pub use error::Error;
pub use local::LocalStream;
pub use redis_stream::{RedisStream, RedisStreamOptions};

/// The id of an entry in a stream. Opaque to callers: only the backend that made it can order
/// or parse it.
pub type EntryId = String;

/// An entry of a stream, as returned by [`EventStream::range`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's id.
    pub id: EntryId,
    /// The bytes that were published.
    pub payload: Vec<u8>,
}

/// An entry handed to a consumer of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The entry's id; pass it to [`EventStream::ack`] once handled.
    pub id: EntryId,
    /// The bytes that were published.
    pub payload: Vec<u8>,
    /// How many times this entry has been delivered to the group, this delivery included (1 on
    /// the first delivery).
    pub deliveries: u32,
}

/// An append-only stream of opaque payloads with consumer groups.
#[async_trait]
pub trait EventStream: Send + Sync + 'static {
    /// Appends `payload` to `stream` (created on first use) and returns the new entry's id.
    async fn publish(&self, stream: &str, payload: &[u8]) -> Result<EntryId, Error>;

    /// Appends every `(stream, payload)` of `entries`, in order, in one round trip where the
    /// backend allows (a Redis pipeline, one SQLite transaction), and returns their ids in the
    /// same order. On an error some entries may have been appended: callers that retry publish
    /// those again, which at-least-once consumers absorb.
    async fn publish_many(&self, entries: &[(&str, &[u8])]) -> Result<Vec<EntryId>, Error> {
        let mut ids = Vec::with_capacity(entries.len());
        for (stream, payload) in entries {
            ids.push(self.publish(stream, payload).await?);
        }
        Ok(ids)
    }

    /// Creates consumer group `group` on `stream` if it does not exist, positioned at the start
    /// of the stream. Creating an existing group is a no-op.
    async fn ensure_group(&self, stream: &str, group: &str) -> Result<(), Error>;

    /// Delivers up to `count` entries that the group has never delivered, marking them pending
    /// for `consumer`. When there are none, waits up to `block` for one to be published.
    async fn read_new(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<Delivery>, Error>;

    /// Takes over up to `count` entries that have been pending (for any consumer of the group)
    /// for at least `min_idle`, makes them pending for `consumer` and returns them with their
    /// delivery count increased by one.
    async fn reclaim(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Delivery>, Error>;

    /// Acknowledges entries: they are no longer pending and will not be delivered to the group
    /// again. Unknown or already acknowledged ids are ignored.
    async fn ack(&self, stream: &str, group: &str, ids: &[EntryId]) -> Result<(), Error>;

    /// The number of entries pending (delivered, not acknowledged) in the group.
    async fn pending_count(&self, stream: &str, group: &str) -> Result<u64, Error>;

    /// Up to `count` entries of `stream` after `after` (exclusive), oldest first; from the start
    /// of the stream when `after` is `None`. Does not touch any group. Used to replay and tail.
    async fn range(&self, stream: &str, after: Option<&str>, count: usize) -> Result<Vec<Entry>, Error>;

    /// Removes entries from a stream. Unknown ids are ignored.
    async fn delete(&self, stream: &str, ids: &[EntryId]) -> Result<(), Error>;

    /// The id of the newest entry of `stream`, `None` while it has none: [`EventStream::range`]
    /// after it tails the stream from now on.
    async fn last_id(&self, stream: &str) -> Result<Option<EntryId>, Error>;

    /// The names of every stream that holds entries (dead-letter streams included), sorted.
    async fn streams(&self) -> Result<Vec<String>, Error>;

    /// Deletes the entries of `stream` published before `before` that every consumer group of
    /// the stream has been delivered and has acknowledged (a stream without groups: every entry
    /// published before `before`). Returns how many were deleted. Entries a group has not read
    /// yet or still holds pending stay, however old.
    async fn trim(&self, stream: &str, before: SystemTime) -> Result<u64, Error>;

    /// Deletes those of `ids` that every consumer group of `stream` has been delivered and has
    /// acknowledged (all of them on a stream without groups) and returns the others, which a
    /// group still has to handle, in the order given. Unknown ids count as deleted.
    async fn delete_settled(&self, stream: &str, ids: &[EntryId]) -> Result<Vec<EntryId>, Error>;

    /// Asks the backend to let go of the bytes of deleted entries that it still keeps on disk:
    /// the embedded backend checkpoints and truncates its write-ahead log (its pages are zeroed
    /// on delete already). Redis has nothing to do. Call it after deleting personal data.
    async fn purge_deleted(&self) -> Result<(), Error> {
        Ok(())
    }
}

/// Milliseconds since the Unix epoch of `time` (0 before 1970).
pub(crate) fn epoch_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub(crate) fn now_ms() -> i64 {
    epoch_ms(SystemTime::now())
}
