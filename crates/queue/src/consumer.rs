//! The consumer runner every service uses to drive a handler over a consumer group.
//!
//! One round: take back entries other consumers left pending for too long (`reclaim`), read
//! new entries (waiting up to `block`, then lingering up to `batch_linger` for the batch to
//! fill), and hand the batch to the [`BatchHandler`], which answers for each delivery:
//!
//! | handler says | the runner |
//! |---|---|
//! | `Ok(())` | acknowledges the entry |
//! | [`HandlerError::Retry`] | leaves it pending; it comes back through reclaim after `reclaim_idle` |
//! | [`HandlerError::Poison`] | moves it to the dead-letter stream and acknowledges it |
//! | (panics) | treats the whole batch as a retry |
//!
//! The acknowledgements of a batch go to the backend in one call. A [`Handler`] that takes one
//! delivery at a time can be used too ([`Consumer::new`]); it is called for each delivery of the
//! batch in order.
//!
//! An entry is handled at most `max_deliveries` times: when the last allowed delivery fails
//! too, or when an entry comes back more often than that (a handler that crashed the process
//! every time never got to say "retry"), it goes to the dead-letter stream with the reason
//! `delivered N times`.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt as _;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::dead_letter::send_to_dead_letters;
use crate::{Delivery, Error, EventStream};

/// The first pause after a backend error; doubled after each further error in a row.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The longest pause between attempts while the backend keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What a [`Consumer`] consumes and how patiently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerOptions {
    /// The stream to consume.
    pub stream: String,
    /// The consumer group; every group sees every entry of the stream once.
    pub group: String,
    /// This consumer's name within the group (e.g. the pod name); must be unique in the group.
    pub consumer: String,
    /// How many entries to read (or reclaim) at a time: the largest batch handed to the handler.
    pub batch_size: usize,
    /// How long one read waits for new entries before the runner looks around again.
    pub block: Duration,
    /// Once a read found some entries but fewer than `batch_size`, how long to keep reading
    /// for more before handing the batch over. Zero hands over what the first read found; under
    /// load batches fill by themselves while the previous one is handled.
    pub batch_linger: Duration,
    /// How long an entry stays pending before any consumer of the group may take it over.
    pub reclaim_idle: Duration,
    /// How often [`Consumer::run`] looks for entries to take over.
    pub reclaim_every: Duration,
    /// How many deliveries an entry gets before it is dead-lettered.
    pub max_deliveries: u32,
}

impl ConsumerOptions {
    /// Options with defaults: batches of up to 32, no linger, 2 s block, take over entries
    /// pending for 30 s, look for them every 5 s, dead-letter after 5 deliveries.
    pub fn new(stream: impl Into<String>, group: impl Into<String>, consumer: impl Into<String>) -> Self {
        Self {
            stream: stream.into(),
            group: group.into(),
            consumer: consumer.into(),
            batch_size: 32,
            block: Duration::from_secs(2),
            batch_linger: Duration::ZERO,
            reclaim_idle: Duration::from_secs(30),
            reclaim_every: Duration::from_secs(5),
            max_deliveries: 5,
        }
    }

    fn invalid(&self, what: &str) -> Result<(), Error> {
        Err(Error::InvalidInput(format!(
            "consumer options for stream {:?} group {:?}: {what}",
            self.stream, self.group
        )))
    }

    /// Rejects options no round can work with.
    fn validate(&self) -> Result<(), Error> {
        let invalid = |what: &str| self.invalid(what);
        if self.stream.is_empty() || self.group.is_empty() || self.consumer.is_empty() {
            return invalid("stream, group and consumer names must not be empty");
        }
        if self.batch_size == 0 {
            return invalid("batch_size must be at least 1");
        }
        if self.max_deliveries == 0 {
            return invalid("max_deliveries must be at least 1");
        }
        Ok(())
    }

    /// Rejects options that would make [`Consumer::run`] spin: with a zero `block` or
    /// `reclaim_every` every round would return at once. (A one-off
    /// [`Consumer::poll_once`] may use a zero `block` to not wait.)
    fn validate_for_run(&self) -> Result<(), Error> {
        if self.block.is_zero() || self.reclaim_every.is_zero() {
            return self.invalid("block and reclaim_every must be longer than zero");
        }
        Ok(())
    }
}

/// Handles the deliveries of a consumer group. Must be idempotent: an entry can be delivered
/// more than once (after a retry, a crash, or a reclaim racing a slow handler).
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Handles one delivery. `Ok` acknowledges it; see [`HandlerError`] for failures.
    async fn handle(&self, delivery: &Delivery) -> Result<(), HandlerError>;
}

/// Handles the deliveries of a consumer group a batch at a time. Must be idempotent, like
/// [`Handler`].
#[async_trait]
pub trait BatchHandler: Send + Sync + 'static {
    /// Handles `deliveries` (in stream order) and returns one result per delivery, in the same
    /// order. A result list of another length is a bug: the runner retries the whole batch.
    async fn handle_batch(&self, deliveries: &[Delivery]) -> Vec<Result<(), HandlerError>>;
}

/// Runs a one-at-a-time [`Handler`] over a batch.
struct OneByOne(Arc<dyn Handler>);

#[async_trait]
impl BatchHandler for OneByOne {
    async fn handle_batch(&self, deliveries: &[Delivery]) -> Vec<Result<(), HandlerError>> {
        let mut results = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            results.push(self.0.handle(delivery).await);
        }
        results
    }
}

/// Why a [`Handler`] did not handle a delivery.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A transient failure (a dependency is down, a timeout...): deliver it again later.
    #[error("retry: {0}")]
    Retry(String),
    /// The entry can never be handled (it does not decode, it breaks an invariant): move it to
    /// the dead-letter stream now instead of retrying.
    #[error("poison: {0}")]
    Poison(String),
}

impl HandlerError {
    /// A [`HandlerError::Retry`] from anything displayable.
    pub fn retry(reason: impl std::fmt::Display) -> Self {
        Self::Retry(reason.to_string())
    }

    /// A [`HandlerError::Poison`] from anything displayable.
    pub fn poison(reason: impl std::fmt::Display) -> Self {
        Self::Poison(reason.to_string())
    }
}

/// Drives a [`Handler`] over a consumer group of an [`EventStream`].
pub struct Consumer {
    stream: Arc<dyn EventStream>,
    options: ConsumerOptions,
    handler: Arc<dyn BatchHandler>,
    /// Whether `ensure_group` succeeded; reset when the backend says the group is gone.
    group_ready: AtomicBool,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer").field("options", &self.options).finish_non_exhaustive()
    }
}

/// What the runner does with one delivery once the handler has answered.
enum Settle {
    Ack,
    Retry(String),
    DeadLetter(String),
}

impl Consumer {
    /// A consumer of `options.group` on `options.stream` that hands deliveries to `handler`
    /// one at a time.
    pub fn new(stream: Arc<dyn EventStream>, options: ConsumerOptions, handler: Arc<dyn Handler>) -> Self {
        Self::batched(stream, options, Arc::new(OneByOne(handler)))
    }

    /// A consumer of `options.group` on `options.stream` that hands whole batches to `handler`.
    pub fn batched(stream: Arc<dyn EventStream>, options: ConsumerOptions, handler: Arc<dyn BatchHandler>) -> Self {
        Self { stream, options, handler, group_ready: AtomicBool::new(false) }
    }

    /// The options this consumer runs with.
    pub fn options(&self) -> &ConsumerOptions {
        &self.options
    }

    /// Consumes until `shutdown` is cancelled, then returns `Ok`.
    ///
    /// Creates the group if needed. Backend errors are logged and retried with an exponential
    /// backoff (up to 5 s); they never end the loop. Only invalid options end it, at once, with
    /// [`Error::InvalidInput`]. On shutdown a blocking read is abandoned at once and the batch
    /// being handled is finished; entries read but not yet handed over stay pending and are
    /// reclaimed by another consumer after `reclaim_idle`.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), Error> {
        self.options.validate()?;
        self.options.validate_for_run()?;
        tracing::debug!(
            stream = %self.options.stream,
            group = %self.options.group,
            consumer = %self.options.consumer,
            "consumer started"
        );
        let mut backoff = Backoff::default();
        // Reclaim right away: entries a previous instance of this consumer left pending.
        let mut next_reclaim = Instant::now();
        while !shutdown.is_cancelled() {
            let now = Instant::now();
            let reclaim = now >= next_reclaim;
            if reclaim {
                next_reclaim = now + self.options.reclaim_every;
            }
            // Never block past the next reclaim, so reclaim_every holds even with a long block.
            let block = self.options.block.min(next_reclaim.saturating_duration_since(now));
            match self.round(reclaim, block, &shutdown).await {
                Ok(_) => backoff.reset(),
                Err(error) => {
                    let delay = backoff.next_delay();
                    tracing::error!(
                        stream = %self.options.stream,
                        group = %self.options.group,
                        consumer = %self.options.consumer,
                        %error,
                        retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "consumer round failed"
                    );
                    tokio::select! {
                        () = shutdown.cancelled() => {}
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        tracing::debug!(
            stream = %self.options.stream,
            group = %self.options.group,
            consumer = %self.options.consumer,
            "consumer stopped"
        );
        Ok(())
    }

    /// One round: reclaim idle entries, read new ones (waiting up to `block`), handle them.
    /// Returns how many deliveries were handled, whatever the handler said. Handy for tests
    /// and for callers that drive the loop themselves. Errors are returned, not retried.
    pub async fn poll_once(&self) -> Result<usize, Error> {
        self.options.validate()?;
        self.round(true, self.options.block, &CancellationToken::new()).await
    }

    async fn round(&self, reclaim: bool, block: Duration, shutdown: &CancellationToken) -> Result<usize, Error> {
        let result = self.round_inner(reclaim, block, shutdown).await;
        if let Err(Error::NoGroup { .. }) = &result {
            // The group vanished (e.g. Redis was flushed): create it again next round.
            self.group_ready.store(false, Ordering::Relaxed);
        }
        result
    }

    async fn round_inner(&self, reclaim: bool, block: Duration, shutdown: &CancellationToken) -> Result<usize, Error> {
        self.ensure_group().await?;
        let o = &self.options;
        let mut handled = 0;
        if reclaim {
            let reclaimed = self.stream.reclaim(&o.stream, &o.group, &o.consumer, o.reclaim_idle, o.batch_size).await?;
            handled += self.handle_all(&reclaimed, shutdown).await?;
        }
        let read = self.read_batch(block);
        let fresh = tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ok(handled),
            fresh = read => fresh?,
        };
        handled += self.handle_all(&fresh, shutdown).await?;
        Ok(handled)
    }

    /// Reads new entries, waiting up to `block` for the first, then up to `batch_linger` for the
    /// batch to fill.
    async fn read_batch(&self, block: Duration) -> Result<Vec<Delivery>, Error> {
        let o = &self.options;
        let mut batch = self.stream.read_new(&o.stream, &o.group, &o.consumer, o.batch_size, block).await?;
        if batch.is_empty() || o.batch_linger.is_zero() {
            return Ok(batch);
        }
        let deadline = Instant::now() + o.batch_linger;
        while batch.len() < o.batch_size {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let more = self.stream.read_new(&o.stream, &o.group, &o.consumer, o.batch_size - batch.len(), left).await?;
            if more.is_empty() {
                break;
            }
            batch.extend(more);
        }
        Ok(batch)
    }

    async fn ensure_group(&self) -> Result<(), Error> {
        if self.group_ready.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.stream.ensure_group(&self.options.stream, &self.options.group).await?;
        self.group_ready.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Hands `deliveries` to the handler as one batch and settles each by its result:
    /// acknowledged together, dead-lettered, or left pending for a retry. Entries delivered more
    /// than `max_deliveries` times are dead-lettered without being handled.
    async fn handle_all(&self, deliveries: &[Delivery], shutdown: &CancellationToken) -> Result<usize, Error> {
        if deliveries.is_empty() || shutdown.is_cancelled() {
            return Ok(0);
        }
        let o = &self.options;
        let span = tracing::info_span!(
            "queue.batch",
            stream = %o.stream,
            group = %o.group,
            consumer = %o.consumer,
            size = deliveries.len(),
        );
        async {
            let max = o.max_deliveries;
            let (worn_out, handled): (Vec<&Delivery>, Vec<&Delivery>) =
                deliveries.iter().partition(|delivery| delivery.deliveries > max);
            for delivery in worn_out {
                self.dead_letter(delivery, format!("delivered {} times", delivery.deliveries)).await?;
            }
            if handled.is_empty() {
                return Ok(deliveries.len());
            }
            let batch: Vec<Delivery> = handled.iter().map(|delivery| (*delivery).clone()).collect();
            let results = self.call_handler(&batch).await;
            let mut acked = Vec::with_capacity(batch.len());
            let (mut retried, mut dead) = (0_usize, 0_usize);
            let mut retry_reason = None;
            for (delivery, result) in batch.iter().zip(results) {
                match self.settle(delivery, result) {
                    Settle::Ack => acked.push(delivery.id.clone()),
                    Settle::Retry(reason) => {
                        retried += 1;
                        retry_reason.get_or_insert(reason);
                    }
                    Settle::DeadLetter(reason) => {
                        self.dead_letter(delivery, reason).await?;
                        dead += 1;
                    }
                }
            }
            self.stream.ack(&o.stream, &o.group, &acked).await?;
            if let Some(reason) = retry_reason {
                // One line per batch, not per entry: a failed batch of 1,000 is one event.
                tracing::warn!(
                    retried,
                    first_entry_id = %batch[0].id,
                    %reason,
                    retry_in_ms = u64::try_from(o.reclaim_idle.as_millis()).unwrap_or(u64::MAX),
                    "handler asked for a retry; the entries stay pending"
                );
            }
            tracing::debug!(acked = acked.len(), retried, dead_lettered = dead, "batch handled");
            Ok(deliveries.len())
        }
        .instrument(span)
        .await
    }

    /// What to do with `delivery` after the handler said `result`.
    fn settle(&self, delivery: &Delivery, result: Result<(), HandlerError>) -> Settle {
        match result {
            Ok(()) => Settle::Ack,
            Err(error @ HandlerError::Poison(_)) => Settle::DeadLetter(error.to_string()),
            // The last allowed delivery failed: waiting reclaim_idle for a delivery that would
            // be dead-lettered unseen gains nothing.
            Err(HandlerError::Retry(reason)) if delivery.deliveries >= self.options.max_deliveries => {
                Settle::DeadLetter(format!("delivered {} times; last error: {reason}", delivery.deliveries))
            }
            Err(HandlerError::Retry(reason)) => Settle::Retry(reason),
        }
    }

    /// Calls the handler, turning a panic (or a result list of the wrong length) into a retry
    /// of the whole batch, so that one bad entry cannot kill the consumer task: after
    /// `max_deliveries` tries it is dead-lettered like any failure.
    async fn call_handler(&self, batch: &[Delivery]) -> Vec<Result<(), HandlerError>> {
        let failed = |reason: String| batch.iter().map(|_| Err(HandlerError::Retry(reason.clone()))).collect();
        match AssertUnwindSafe(self.handler.handle_batch(batch)).catch_unwind().await {
            Ok(results) if results.len() == batch.len() => results,
            Ok(results) => {
                tracing::error!(
                    expected = batch.len(),
                    got = results.len(),
                    "handler returned a result list of the wrong length"
                );
                failed(format!("handler returned {} results for {} deliveries", results.len(), batch.len()))
            }
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".to_owned());
                tracing::error!(size = batch.len(), %message, "handler panicked");
                failed(format!("handler panicked: {message}"))
            }
        }
    }

    /// Dead-letters, then acknowledges: a crash in between dead-letters the entry twice
    /// rather than losing it.
    async fn dead_letter(&self, delivery: &Delivery, reason: String) -> Result<(), Error> {
        let o = &self.options;
        tracing::warn!(
            stream = %o.stream,
            group = %o.group,
            entry_id = %delivery.id,
            deliveries = delivery.deliveries,
            %reason,
            "moving entry to the dead-letter stream"
        );
        send_to_dead_letters(self.stream.as_ref(), &o.stream, &o.group, delivery, reason).await?;
        self.stream.ack(&o.stream, &o.group, std::slice::from_ref(&delivery.id)).await
    }
}

/// Exponential backoff between failed rounds.
#[derive(Debug, Default)]
struct Backoff {
    /// The last delay used; `None` after a success.
    last: Option<Duration>,
}

impl Backoff {
    fn next_delay(&mut self) -> Duration {
        let delay = match self.last {
            None => FIRST_BACKOFF,
            Some(last) => (last * 2).min(MAX_BACKOFF),
        };
        self.last = Some(delay);
        delay
    }

    fn reset(&mut self) {
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::default();
        let delays: Vec<_> = (0..8).map(|_| backoff.next_delay()).collect();
        assert_eq!(delays[0], FIRST_BACKOFF);
        assert_eq!(delays[1], FIRST_BACKOFF * 2);
        assert_eq!(delays[7], MAX_BACKOFF);
        backoff.reset();
        assert_eq!(backoff.next_delay(), FIRST_BACKOFF);
    }

    #[test]
    fn options_are_validated() {
        let mut options = ConsumerOptions::new("s", "g", "c");
        assert!(options.validate().is_ok());
        options.batch_size = 0;
        assert!(options.validate().is_err());
        let options = ConsumerOptions::new("s", "", "c");
        assert!(options.validate().is_err());
        let mut options = ConsumerOptions::new("s", "g", "c");
        assert!(options.validate_for_run().is_ok());
        options.block = Duration::ZERO;
        assert!(options.validate_for_run().is_err());
    }
}
