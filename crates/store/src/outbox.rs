//! The transactional outbox and its relay.
//!
//! A service writes an event with [`enqueue`] in the same transaction as the state change that
//! causes it, so both commit or neither does. The [`OutboxRelay`] publishes committed events to
//! the event stream, oldest first, and deletes them once published. A crash between publishing
//! and deleting publishes the event again on restart: consumers drop the duplicate by event id.

use std::sync::Arc;
use std::time::Duration;

use prost::Message as _;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set, TransactionTrait,
};
use tend_proto::v1::EventEnvelope;
use tend_queue::EventStream;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::error::DbContext as _;

/// The `outbox` table.
#[allow(missing_docs)]
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        #[sea_orm(unique)]
        pub event_id: String,
        pub stream: String,
        pub tenant: String,
        pub payload: Vec<u8>,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Writes `envelope` to the outbox for `stream`, on `conn` (normally the transaction of the
/// change that caused the event).
pub async fn enqueue<C: ConnectionTrait>(conn: &C, stream: &str, envelope: &EventEnvelope) -> Result<(), Error> {
    enqueue_many(conn, &[(stream, envelope)]).await
}

/// Writes every `(stream, envelope)` of `events` to the outbox in one statement per chunk of
/// rows, on `conn` (the transaction of the change that caused them).
pub async fn enqueue_many<C, S, E>(conn: &C, events: &[(S, E)]) -> Result<(), Error>
where
    C: ConnectionTrait,
    S: AsRef<str> + Sync,
    E: std::borrow::Borrow<EventEnvelope> + Sync,
{
    // Six values a row: well under SQLite's and PostgreSQL's limits on bound parameters.
    const ROWS_PER_STATEMENT: usize = 1_000;
    let now = tend_kernel::ids::now();
    let rows = events
        .iter()
        .map(|(stream, envelope)| {
            let envelope = envelope.borrow();
            entity::ActiveModel {
                event_id: Set(envelope.event_id.clone()),
                stream: Set(stream.as_ref().to_owned()),
                tenant: Set(envelope.tenant.clone()),
                payload: Set(envelope.encode_to_vec()),
                created_at: Set(now),
                ..Default::default()
            }
        })
        .collect();
    crate::query::insert_chunked(conn, rows, ROWS_PER_STATEMENT)
        .await
        .context(format!("writing {} events to the outbox", events.len()))
}

/// Wakes the relay after a commit so events leave at once instead of at the next poll.
#[derive(Debug, Clone, Default)]
pub struct OutboxWaker(Arc<Notify>);

impl OutboxWaker {
    /// Tells the relay there is something to publish.
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Publishes a service's outbox to the event stream.
pub struct OutboxRelay {
    db: DatabaseConnection,
    stream: Arc<dyn EventStream>,
    waker: OutboxWaker,
    batch_size: u64,
    poll_every: Duration,
}

impl OutboxRelay {
    /// A relay from `db`'s outbox to `stream`. It polls every second as well as on wake-ups, so
    /// events committed by other replicas or before a restart are not left behind.
    pub fn new(db: DatabaseConnection, stream: Arc<dyn EventStream>) -> Self {
        Self { db, stream, waker: OutboxWaker::default(), batch_size: 1_000, poll_every: Duration::from_secs(1) }
    }

    /// A handle to wake this relay.
    pub fn waker(&self) -> OutboxWaker {
        self.waker.clone()
    }

    /// Publishes up to one batch; returns how many events were published.
    ///
    /// On PostgreSQL the batch is locked with `FOR UPDATE SKIP LOCKED`, so replicas relaying the
    /// same outbox do not publish the same rows at the same time.
    pub async fn relay_once(&self) -> Result<usize, Error> {
        let txn = self.db.begin().await.context("starting an outbox transaction")?;
        let mut query = entity::Entity::find().order_by_asc(entity::Column::Id).limit(self.batch_size);
        if self.db.get_database_backend() == DbBackend::Postgres {
            query = query
                .lock_with_behavior(sea_orm::sea_query::LockType::Update, sea_orm::sea_query::LockBehavior::SkipLocked);
        }
        let rows = query.all(&txn).await.context("reading the outbox")?;
        if rows.is_empty() {
            return Ok(0);
        }
        let entries: Vec<(&str, &[u8])> =
            rows.iter().map(|row| (row.stream.as_str(), row.payload.as_slice())).collect();
        // One pipelined round trip. If it fails part-way, the rows stay and are published again
        // next time: consumers drop the duplicates by event id.
        self.stream
            .publish_many(&entries)
            .await
            .map_err(|source| Error::Publish { stream: distinct_streams(&rows), source })?;
        let published: Vec<i64> = rows.iter().map(|row| row.id).collect();
        entity::Entity::delete_many()
            .filter(entity::Column::Id.is_in(published))
            .exec(&txn)
            .await
            .context("deleting published outbox rows")?;
        txn.commit().await.context("committing the outbox transaction")?;
        Ok(rows.len())
    }

    /// Relays until `shutdown` is cancelled. Errors are logged and retried with back-off; the
    /// events stay in the outbox meanwhile.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.relay_once().await {
                Ok(count) if count as u64 == self.batch_size => continue,
                Ok(count) => {
                    if count > 0 {
                        tracing::debug!(count, "outbox events published");
                    }
                    backoff = Duration::from_millis(100);
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = self.waker.0.notified() => {}
                        () = tokio::time::sleep(self.poll_every) => {}
                    }
                }
                Err(error) => {
                    tracing::error!(%error, retry_in = ?backoff, "outbox relay failed; events stay in the outbox");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}

/// The streams `rows` are for, comma-separated, for an error message.
fn distinct_streams(rows: &[entity::Model]) -> String {
    let mut streams: Vec<&str> = rows.iter().map(|row| row.stream.as_str()).collect();
    streams.sort_unstable();
    streams.dedup();
    streams.join(",")
}

/// How many events wait in `db`'s outbox (for tests and health).
pub async fn pending(db: &DatabaseConnection) -> Result<u64, Error> {
    use sea_orm::PaginatorTrait as _;
    entity::Entity::find().count(db).await.context("counting the outbox")
}
