//! The delivery worker: takes due replies (leased, so one worker sends each), holds each to its
//! account's quota, sends it, and records the outcome with its event in one transaction.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection, IntoActiveModel, TransactionTrait};
use tend_channels::outbound::{Outcome, Quota, ReplyKind, TokenBucket};
use tend_kernel::TenantId;
use tend_proto::v1;
use tend_store::events::{envelope, streams};
use tend_store::{DbContext as _, OutboxWaker, outbox};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::send::Sender;
use super::storage::{self, LogEntry, reply};
use crate::SERVICE;
use crate::config::ChannelsConfig;
use crate::metrics::metrics;
use crate::registry::{Account, Channels, QuotaSpec};
use crate::webhooks::adapter_channel;

/// How long a worker holds a reply it is sending before another may take it.
const LEASE: Duration = Duration::from_secs(120);
/// Replies taken per round.
const BATCH: u64 = 32;

/// Sends due replies until shut down.
pub struct Worker {
    db: DatabaseConnection,
    channels: Arc<Channels>,
    sender: Sender,
    relay: OutboxWaker,
    wake: Arc<Notify>,
    config: ChannelsConfig,
    buckets: HashMap<(String, bool), TokenBucket>,
}

impl Worker {
    /// A worker over `db`, woken by `wake` when replies are queued, sending with `http`.
    pub fn new(
        db: DatabaseConnection,
        channels: Arc<Channels>,
        relay: OutboxWaker,
        wake: Arc<Notify>,
        http: reqwest::Client,
        config: &ChannelsConfig,
    ) -> Self {
        let bases = tend_channels::outbound::BaseUrls {
            x: config.x_api_base.trim_end_matches('/').to_owned(),
            meta: config.meta_api_base.trim_end_matches('/').to_owned(),
        };
        let sender = Sender::new(http, config.request_timeout, bases);
        Self { db, channels, sender, relay, wake, config: config.clone(), buckets: HashMap::new() }
    }

    /// Runs until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        loop {
            let wait = match self.round().await {
                Ok(wait) => wait,
                Err(error) => {
                    tracing::warn!(%error, "reply delivery round failed; retrying");
                    self.config.delivery_poll
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Sends what is due; returns how long to sleep before the next round.
    async fn round(&mut self) -> Result<Duration, tend_kernel::ApiError> {
        let now = tend_kernel::ids::now();
        let due = storage::due(&self.db, now, BATCH).await.context("reading due replies")?;
        let full = due.len() as u64 == BATCH;
        for row in due {
            let lease_until = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
            if !storage::lease(&self.db, &row, now, lease_until).await.context("leasing a reply")? {
                continue;
            }
            self.deliver(row).await?;
        }
        if full {
            return Ok(Duration::ZERO);
        }
        let next = storage::next_due(&self.db).await.context("reading the next due reply")?;
        Ok(match next {
            Some(at) => {
                (at - tend_kernel::ids::now()).to_std().unwrap_or(Duration::ZERO).min(self.config.delivery_poll)
            }
            None => self.config.delivery_poll,
        })
    }

    /// The bucket of `account`'s public or private replies, with the account's quota, else the
    /// configured default, else the platform's.
    fn bucket(&mut self, account: &Account, private: bool) -> &mut TokenBucket {
        let spec: Option<QuotaSpec> = if private { account.quotas.private } else { account.quotas.public };
        let kind = if private { ReplyKind::Private } else { ReplyKind::Public };
        let channel = adapter_channel(account.channel).unwrap_or(tend_channels::Channel::Chat);
        let quota = spec
            .and_then(|spec| Quota::new(spec.burst, Duration::from_millis(spec.per_ms)).ok())
            .or_else(|| self.config.default_quota(channel, kind))
            .unwrap_or_else(|| Quota::default_for(channel, kind));
        let bucket = self.buckets.entry((account.id.clone(), private)).or_insert_with(|| TokenBucket::new(quota));
        // A quota changed in the registry takes effect on the next reply.
        if bucket.quota() != quota {
            *bucket = TokenBucket::new(quota);
        }
        bucket
    }

    async fn deliver(&mut self, row: reply::Model) -> Result<(), tend_kernel::ApiError> {
        let registry = self.channels.snapshot();
        let Some(account) = registry.account(&row.account).filter(|account| account.enabled).cloned() else {
            let reason = format!("account {} is not registered or is disabled", row.account);
            return self.finish(row, Outcome::Failed { reason }).await;
        };
        if let Err(wait) = self.bucket(&account, row.private).try_take(Instant::now()) {
            return self.delay(row, wait, "quota", "waiting for quota").await;
        }
        let started = Instant::now();
        let outcome = self.sender.send(&self.channels, &account, &row).await;
        tracing::debug!(reply_id = %row.reply_id, elapsed_ms = started.elapsed().as_millis() as u64, ?outcome, "reply sent to the platform");
        self.finish(row, outcome).await
    }

    /// Puts `row` back to wait `wait` without an attempt, telling once per wait.
    async fn delay(
        &self,
        row: reply::Model,
        wait: Duration,
        reason: &'static str,
        outcome: &'static str,
    ) -> Result<(), tend_kernel::ApiError> {
        let now = tend_kernel::ids::now();
        let already_waiting = storage::log_of(&row).last().is_some_and(|entry| entry.outcome == outcome);
        let txn = self.db.begin().await.context("starting a transaction")?;
        let tenant = TenantId::parse(&row.tenant).map_err(tend_kernel::ApiError::internal)?;
        if !already_waiting {
            let delayed = delayed(&row, wait, reason);
            outbox::enqueue(&txn, streams::REPLIES_DELAYED, &envelope(SERVICE, &tenant, &delayed)).await?;
            metrics().replies_waiting.inc();
        }
        let log = if already_waiting {
            row.log.clone()
        } else {
            storage::with_entry(
                &row,
                LogEntry { at: now, outcome: outcome.into(), detail: format!("about {} s", wait.as_secs().max(1)) },
            )
        };
        let mut active = row.into_active_model();
        // Looked at again within a registry refresh, so a quota raised meanwhile applies.
        let recheck = wait.min(self.config.registry_refresh);
        active.next_attempt_at = Set(now + chrono::Duration::from_std(recheck).unwrap_or_default());
        active.lease_until = Set(None);
        active.log = Set(log);
        active.updated_at = Set(now);
        active.update(&txn).await.context("delaying the reply")?;
        txn.commit().await.context("committing the delay")?;
        if !already_waiting {
            self.relay.wake();
        }
        Ok(())
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
        self.config.retry_base.saturating_mul(factor).min(self.config.retry_max)
    }

    /// Records what came of an attempt, with its event, in one transaction.
    async fn finish(&self, row: reply::Model, outcome: Outcome) -> Result<(), tend_kernel::ApiError> {
        let now = tend_kernel::ids::now();
        let was_waiting = storage::log_of(&row)
            .last()
            .is_some_and(|entry| entry.outcome.starts_with("waiting") || entry.outcome == "rate limited");
        let attempts = u32::try_from(row.attempts).unwrap_or(0) + 1;
        let tenant = TenantId::parse(&row.tenant).map_err(tend_kernel::ApiError::internal)?;
        let txn = self.db.begin().await.context("starting a transaction")?;
        let mut active = row.clone().into_active_model();
        active.attempts = Set(i32::try_from(attempts).unwrap_or(i32::MAX));
        active.lease_until = Set(None);
        active.updated_at = Set(now);
        let mut now_waiting = false;
        let entry = |outcome: &str, detail: String| {
            storage::with_entry(&row, LogEntry { at: now, outcome: outcome.into(), detail })
        };
        match outcome {
            Outcome::Sent { platform_id } => {
                active.status = Set(v1::DeliveryStatus::Sent.into());
                active.log = Set(entry("sent", platform_id.clone()));
                active.platform_message_id = Set(platform_id.clone());
                let delivered = v1::ReplyDelivered {
                    reply_id: row.reply_id.clone(),
                    case_id: row.case_id.clone(),
                    interaction_id: row.interaction_id.clone(),
                    channel: row.channel,
                    platform_message_id: platform_id,
                    attempts,
                };
                outbox::enqueue(&txn, streams::REPLIES_DELIVERED, &envelope(SERVICE, &tenant, &delivered)).await?;
                metrics().reply("sent");
                tracing::info!(reply_id = %row.reply_id, attempts, "reply delivered");
            }
            Outcome::Retry { reason, after } if attempts < self.config.max_attempts => {
                let wait = after.unwrap_or_else(|| self.backoff(attempts)).max(Duration::from_millis(1));
                let label = if after.is_some() { "rate limited" } else { "retry" };
                active.log = Set(entry(label, reason.clone()));
                active.next_attempt_at = Set(now + chrono::Duration::from_std(wait).unwrap_or_default());
                if after.is_some() {
                    let delayed = delayed(&row, wait, "rate_limited");
                    outbox::enqueue(&txn, streams::REPLIES_DELAYED, &envelope(SERVICE, &tenant, &delayed)).await?;
                    now_waiting = true;
                }
                metrics().reply("retry");
                tracing::info!(reply_id = %row.reply_id, attempts, wait_ms = wait.as_millis() as u64, %reason, "reply will be retried");
            }
            Outcome::Retry { reason, .. } | Outcome::Failed { reason } => {
                let reason =
                    if attempts >= self.config.max_attempts && row.status == i32::from(v1::DeliveryStatus::Queued) {
                        format!("{reason} (gave up after {attempts} attempts)")
                    } else {
                        reason
                    };
                active.status = Set(v1::DeliveryStatus::Failed.into());
                active.log = Set(entry("failed", reason.clone()));
                active.reason = Set(reason.clone());
                let failed = v1::ReplyFailed {
                    reply_id: row.reply_id.clone(),
                    case_id: row.case_id.clone(),
                    interaction_id: row.interaction_id.clone(),
                    reason: reason.clone(),
                    attempts,
                };
                outbox::enqueue(&txn, streams::REPLIES_FAILED, &envelope(SERVICE, &tenant, &failed)).await?;
                metrics().reply("failed");
                tracing::warn!(reply_id = %row.reply_id, attempts, %reason, "reply failed");
            }
        }
        active.update(&txn).await.context("recording the reply's outcome")?;
        txn.commit().await.context("committing the reply's outcome")?;
        match (was_waiting, now_waiting) {
            (false, true) => {
                metrics().replies_waiting.inc();
            }
            (true, false) => {
                metrics().replies_waiting.dec();
            }
            _ => {}
        }
        self.relay.wake();
        Ok(())
    }
}

/// The `replies.delayed` event of `row` waiting about `wait` for `reason`.
fn delayed(row: &reply::Model, wait: Duration, reason: &str) -> v1::ReplyDelayed {
    v1::ReplyDelayed {
        reply_id: row.reply_id.clone(),
        case_id: row.case_id.clone(),
        account: row.account.clone(),
        wait: prost_types::Duration::try_from(wait).ok(),
        reason: reason.to_owned(),
    }
}
