//! The one consumer skeleton every service's event consumers are written on.
//!
//! A service writes an [`EventHandler`]: given a batch of decoded events and a transaction, it
//! applies their effects and says which events it publishes in turn. [`BatchConsumer`] does the
//! rest, the same way for every service:
//!
//! 1. decode each envelope and its payload (one that does not decode is poison, alone);
//! 2. begin a transaction and record the batch's event ids in the inbox in one statement,
//!    keeping only the events this consumer has not handled before (redeliveries after a crash
//!    or a reclaim have no second effect);
//! 3. call the handler with the fresh events;
//! 4. write the events it published to the outbox in one statement, commit, wake the relay.
//!
//! One transaction per batch: the commit (and its fsync) is paid once per batch, not once per
//! event. When the handler finds one event poison, the transaction rolls back and the batch runs
//! again without it, so one bad event never sinks its neighbours. Any other failure leaves the
//! whole batch for a retry.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use prost::Message as _;
use sea_orm::{DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tend_kernel::TenantId;
use tend_proto::v1::EventEnvelope;
use tend_queue::{BatchHandler, Delivery, HandlerError};
use tracing::Instrument as _;

use crate::error::DbContext as _;
use crate::events::{payload, tenant};
use crate::{Error, OutboxWaker, inbox, outbox};

/// One event handed to an [`EventHandler`]: its envelope's identity and its decoded payload.
#[derive(Debug, Clone)]
pub struct Event<P> {
    /// The event's id (unique across streams).
    pub id: String,
    /// The tenant it belongs to; everything the handler does for it is scoped by it.
    pub tenant: TenantId,
    /// The decoded payload.
    pub payload: P,
    /// The W3C trace context it was published in; events published for it continue it.
    pub trace_context: HashMap<String, String>,
    /// How many times it has been delivered (1 the first time).
    pub deliveries: u32,
}

/// Why a batch was not handled.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// A transient failure (the database or another service is unavailable): the whole batch is
    /// delivered again later.
    #[error("retry: {0}")]
    Retry(String),
    /// Another consumer changed what the batch read (e.g. created the same new row first): the
    /// batch runs again at once, up to [`CONTENDED_RUNS`] times in all, then is retried later.
    #[error("contended: {0}")]
    Contended(String),
    /// One event can never be handled: it goes to the dead-letter stream, and the rest of the
    /// batch is handled without it.
    #[error("event {event_id} is poison: {reason}")]
    Poison {
        /// The poison event's id.
        event_id: String,
        /// Why it cannot be handled.
        reason: String,
    },
}

impl HandleError {
    /// A [`HandleError::Retry`] from anything displayable.
    pub fn retry(reason: impl std::fmt::Display) -> Self {
        Self::Retry(reason.to_string())
    }

    /// A [`HandleError::Poison`] naming `event`.
    pub fn poison<P>(event: &Event<P>, reason: impl std::fmt::Display) -> Self {
        Self::Poison { event_id: event.id.clone(), reason: reason.to_string() }
    }
}

impl From<Error> for HandleError {
    fn from(error: Error) -> Self {
        match error.failure() {
            // Another consumer (or replica) won a race: run the batch again at once.
            crate::Failure::Conflict => HandleError::Contended(error.to_string()),
            _ => HandleError::Retry(error.to_string()),
        }
    }
}

/// How many times in a row a contended batch runs before it is left for a later retry.
pub const CONTENDED_RUNS: u32 = 4;

/// What a handler does inside the batch's transaction: read and write the service's tables on
/// [`db`](Effects::db), and [`publish`](Effects::publish) events, which reach the outbox in the
/// same transaction.
pub struct Effects<'a> {
    txn: &'a DatabaseTransaction,
    source: &'static str,
    published: Vec<(&'static str, EventEnvelope)>,
    erased: bool,
}

impl<'a> Effects<'a> {
    /// The batch's transaction.
    pub fn db(&self) -> &'a DatabaseTransaction {
        self.txn
    }

    /// Publishes `message` on `stream` for the tenant of `cause`, continuing `cause`'s trace.
    pub fn publish<P, M: prost::Message + prost::Name>(&mut self, stream: &'static str, cause: &Event<P>, message: &M) {
        let envelope =
            crate::events::envelope_in_trace(self.source, &cause.tenant, message, cause.trace_context.clone());
        self.published.push((stream, envelope));
    }

    /// Says that handling `cause` erased personal data (the right to erasure), and which ids it
    /// erased (customer, profile, interaction, case ids…; may be empty): the ids are recorded
    /// for the stream janitor in this transaction, which then deletes every stream entry that
    /// carries one of them, and after the commit the database lets go of the deleted bytes
    /// ([`crate::erasure::after_erasure`]).
    pub fn erased<P>(&mut self, cause: &Event<P>, ids: impl IntoIterator<Item = String>) {
        self.erased = true;
        let mut ids: Vec<String> = ids.into_iter().filter(|id| !id.is_empty()).collect();
        if ids.is_empty() {
            return;
        }
        ids.sort();
        ids.dedup();
        self.publish(crate::events::streams::ERASURES, cause, &crate::erasure::ErasedSubjects { ids });
    }
}

/// A service's handling of one stream's events, a batch at a time, inside one transaction.
///
/// It must be idempotent for effects outside its own database (a call to another service):
/// a batch that fails after such a call runs again. Effects in the transaction are applied once.
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// The payload type of the stream's envelopes.
    type Payload: prost::Message + prost::Name + Default + Send + Sync + 'static;

    /// Applies the effects of `events` (in stream order, none handled before by this consumer).
    async fn handle(&self, effects: &mut Effects<'_>, events: &[&Event<Self::Payload>]) -> Result<(), HandleError>;

    /// Whether `event` is one this handler acts on at all. Events it is not are acknowledged
    /// without a transaction or an inbox row, so a consumer that follows a few kinds of a busy
    /// stream (a resolution among many openings) pays nothing for the rest. Only say false for
    /// events whose handling would have no effect.
    fn wants(&self, _event: &Event<Self::Payload>) -> bool {
        true
    }
}

/// Runs an [`EventHandler`] as a consumer group's [`BatchHandler`]; see the module docs.
pub struct BatchConsumer<H> {
    handler: Arc<H>,
    db: DatabaseConnection,
    waker: OutboxWaker,
    /// The consumer group, which is also its name in the inbox.
    group: &'static str,
    /// The service, named as the source of the events it publishes.
    source: &'static str,
}

impl<H: EventHandler> BatchConsumer<H> {
    /// Runs `handler` on `db`, recording handled events under `group` in the inbox, publishing
    /// as `source` through `db`'s outbox and waking `waker` after each commit that published.
    pub fn new(
        handler: Arc<H>,
        db: DatabaseConnection,
        waker: OutboxWaker,
        group: &'static str,
        source: &'static str,
    ) -> Self {
        Self { handler, db, waker, group, source }
    }

    /// Handles `events` in one transaction.
    async fn run(&self, events: &[&Event<H::Payload>]) -> Result<(), HandleError> {
        let started = std::time::Instant::now();
        let txn = self.db.begin().await.context("starting a transaction")?;
        let ids: Vec<&str> = events.iter().map(|event| event.id.as_str()).collect();
        let fresh_ids = inbox::first_deliveries(&txn, self.group, &ids).await?;
        // An event id twice in one batch (a republished outbox row) is handled once.
        let mut taken = HashSet::with_capacity(fresh_ids.len());
        let fresh: Vec<&Event<H::Payload>> = events
            .iter()
            .copied()
            .filter(|event| fresh_ids.contains(&event.id) && taken.insert(event.id.as_str()))
            .collect();
        if fresh.len() < events.len() {
            tracing::debug!(skipped = events.len() - fresh.len(), "events already handled");
        }
        if fresh.is_empty() {
            return Ok(());
        }
        let deduped = started.elapsed();
        let mut effects = Effects { txn: &txn, source: self.source, published: Vec::new(), erased: false };
        self.handler.handle(&mut effects, &fresh).await?;
        let handled = started.elapsed();
        let published = std::mem::take(&mut effects.published);
        let erased = effects.erased;
        outbox::enqueue_many(&txn, &published).await?;
        let enqueued = started.elapsed();
        txn.commit().await.context("committing the batch")?;
        if !published.is_empty() {
            self.waker.wake();
        }
        if erased {
            // Committed: a failure here leaves the bytes to the next checkpoint or vacuum, and
            // must not run the batch again.
            if let Err(error) = crate::erasure::after_erasure(&self.db).await {
                tracing::warn!(%error, "letting go of erased data failed");
            }
        }
        // Where a batch's time goes, for whoever tunes batch sizes and consumers.
        tracing::debug!(
            events = fresh.len(),
            published = published.len(),
            inbox_ms = ms(deduped),
            handle_ms = ms(handled - deduped),
            outbox_ms = ms(enqueued - handled),
            commit_ms = ms(started.elapsed() - enqueued),
            "batch committed"
        );
        Ok(())
    }
}

fn ms(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

/// Decodes a delivery into an event; what does not decode is poison.
fn decode<P: prost::Message + prost::Name + Default>(delivery: &Delivery) -> Result<Event<P>, HandlerError> {
    let envelope = EventEnvelope::decode(delivery.payload.as_slice())
        .map_err(|error| HandlerError::Poison(format!("entry {} is not an event envelope: {error}", delivery.id)))?;
    Ok(Event {
        tenant: tenant(&envelope)?,
        payload: payload(&envelope)?,
        id: envelope.event_id,
        trace_context: envelope.trace_context,
        deliveries: delivery.deliveries,
    })
}

#[async_trait]
impl<H: EventHandler> BatchHandler for BatchConsumer<H> {
    async fn handle_batch(&self, deliveries: &[Delivery]) -> Vec<Result<(), HandlerError>> {
        let mut results: Vec<Result<(), HandlerError>> = deliveries.iter().map(|_| Ok(())).collect();
        // Events still to handle, with the index of their delivery.
        let mut events = Vec::with_capacity(deliveries.len());
        for (index, delivery) in deliveries.iter().enumerate() {
            match decode::<H::Payload>(delivery) {
                Ok(event) if self.handler.wants(&event) => events.push((index, event)),
                Ok(_) => {}
                Err(poison) => results[index] = Err(poison),
            }
        }
        if events.is_empty() {
            return results;
        }
        let span =
            tracing::info_span!("handle events", otel.kind = "consumer", consumer = self.group, size = events.len());
        match events.as_slice() {
            [(_, only)] => tend_kernel::telemetry::set_parent_from_map(&span, &only.trace_context),
            many => {
                for (_, event) in many {
                    tend_kernel::telemetry::link_from_map(&span, &event.trace_context);
                }
            }
        }
        async {
            let mut contended = 0;
            while !events.is_empty() {
                let batch: Vec<&Event<H::Payload>> = events.iter().map(|(_, event)| event).collect();
                match self.run(&batch).await {
                    Ok(()) => break,
                    Err(HandleError::Contended(reason)) => {
                        contended += 1;
                        if contended >= CONTENDED_RUNS {
                            tracing::warn!(%reason, runs = contended, size = events.len(), "batch still contended; it will be retried");
                            mark_all(&mut results, &events, &reason);
                            break;
                        }
                        tracing::debug!(%reason, run = contended, "batch contended; running it again");
                    }
                    Err(HandleError::Poison { event_id, reason }) => {
                        let Some(at) = events.iter().position(|(_, event)| event.id == event_id) else {
                            // A handler naming an event not in the batch is a bug; retry it all.
                            let reason = format!("handler named unknown poison event {event_id}: {reason}");
                            mark_all(&mut results, &events, &reason);
                            break;
                        };
                        let (index, _) = events.remove(at);
                        tracing::warn!(%event_id, %reason, "poison event set aside; handling the rest of the batch");
                        results[index] = Err(HandlerError::Poison(reason));
                    }
                    Err(HandleError::Retry(reason)) => {
                        tracing::warn!(%reason, size = events.len(), "batch not handled; it will be retried");
                        mark_all(&mut results, &events, &reason);
                        break;
                    }
                }
            }
        }
        .instrument(span)
        .await;
        results
    }
}

fn mark_all<P>(results: &mut [Result<(), HandlerError>], events: &[(usize, Event<P>)], reason: &str) {
    for (index, _) in events {
        results[*index] = Err(HandlerError::Retry(reason.to_owned()));
    }
}
