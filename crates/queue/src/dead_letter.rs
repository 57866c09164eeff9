//! Dead letters: entries a consumer group gave up on.
//!
//! The dead letters of group `g` on stream `s` live in the stream `s.dead.g` of the same
//! backend (see [`dead_letter_stream`]), one entry per dead letter whose payload is a
//! [`DeadLetter`] encoded as JSON. They stay there until an operator replays them
//! ([`replay_dead_letters`]) once the cause is fixed.

use serde::{Deserialize, Serialize};

use crate::{Delivery, EntryId, Error, EventStream, now_ms};

/// The name of the stream that holds the dead letters of `group` on `stream`:
/// `{stream}.dead.{group}`.
pub fn dead_letter_stream(stream: &str, group: &str) -> String {
    format!("{stream}.dead.{group}")
}

/// An entry that a consumer group could not handle, as kept in its dead-letter stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The id of this dead letter in the dead-letter stream (not part of the stored JSON:
    /// filled in when the dead letter is listed).
    #[serde(skip)]
    pub id: EntryId,
    /// The stream the entry was published on.
    pub stream: String,
    /// The consumer group that gave up on it.
    pub group: String,
    /// The entry's id in `stream`.
    pub original_id: EntryId,
    /// How many times it had been delivered to the group.
    pub deliveries: u32,
    /// Why the group gave up, e.g. `delivered 5 times` or the handler's poison message.
    pub reason: String,
    /// The entry's payload, unchanged.
    pub payload: Vec<u8>,
    /// When it was dead-lettered, in milliseconds since the Unix epoch.
    pub dead_at_ms: i64,
}

impl DeadLetter {
    /// Reads the payload of an entry of a dead-letter stream; `None` when it is not a dead
    /// letter (something else wrote it).
    pub fn decode(payload: &[u8]) -> Option<Self> {
        serde_json::from_slice(payload).ok()
    }
}

/// Moves `delivery` into the group's dead-letter stream and returns the dead letter's id.
/// The caller acknowledges the delivery afterwards; if that fails, the entry comes back and is
/// dead-lettered a second time, which is the safe side of the race.
pub(crate) async fn send_to_dead_letters(
    backend: &dyn EventStream,
    stream: &str,
    group: &str,
    delivery: &Delivery,
    reason: String,
) -> Result<EntryId, Error> {
    let letter = DeadLetter {
        id: EntryId::new(),
        stream: stream.to_owned(),
        group: group.to_owned(),
        original_id: delivery.id.clone(),
        deliveries: delivery.deliveries,
        reason,
        payload: delivery.payload.clone(),
        dead_at_ms: now_ms(),
    };
    let encoded = serde_json::to_vec(&letter).map_err(|source| Error::Encoding {
        context: format!("dead letter for entry {} of stream {stream} group {group}", delivery.id),
        source,
    })?;
    backend.publish(&dead_letter_stream(stream, group), &encoded).await
}

/// Lists up to `limit` dead letters of `group` on `stream_name`, oldest first.
///
/// Fails with [`Error::Encoding`] if an entry of the dead-letter stream is not a dead letter
/// (something else wrote to it).
pub async fn list_dead_letters(
    stream: &dyn EventStream,
    stream_name: &str,
    group: &str,
    limit: usize,
) -> Result<Vec<DeadLetter>, Error> {
    let dead_stream = dead_letter_stream(stream_name, group);
    let entries = stream.range(&dead_stream, None, limit).await?;
    entries
        .into_iter()
        .map(|entry| {
            let mut letter: DeadLetter = serde_json::from_slice(&entry.payload).map_err(|source| Error::Encoding {
                context: format!("dead letter {} in stream {dead_stream}", entry.id),
                source,
            })?;
            letter.id = entry.id;
            Ok(letter)
        })
        .collect()
}

/// Re-publishes up to `limit` dead letters of `group` (oldest first) onto `stream_name` and
/// removes them from the dead-letter stream. Returns how many were replayed.
///
/// A replayed payload is a *new* entry of the original stream, so every group of that stream
/// sees it again, not only `group`. That is harmless because consumers are idempotent by event
/// id (the same rule that makes at-least-once delivery safe). Each dead letter is deleted only
/// after its payload was published: a failure in between replays it twice, never loses it.
pub async fn replay_dead_letters(
    stream: &dyn EventStream,
    stream_name: &str,
    group: &str,
    limit: usize,
) -> Result<usize, Error> {
    let dead_stream = dead_letter_stream(stream_name, group);
    let letters = list_dead_letters(stream, stream_name, group, limit).await?;
    for letter in &letters {
        let new_id = stream.publish(stream_name, &letter.payload).await?;
        stream.delete(&dead_stream, std::slice::from_ref(&letter.id)).await?;
        tracing::info!(
            stream = stream_name,
            group,
            original_id = %letter.original_id,
            new_id = %new_id,
            "replayed dead letter"
        );
    }
    Ok(letters.len())
}
