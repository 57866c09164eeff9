//! The queue's workflows: offer a case to an agent, accept or decline an offer, let it
//! expire, pull the next case, and have cases show the assignment. Plain functions over the
//! database and the cases client, called by the dispatcher ([`crate::dispatch`]) and the gRPC
//! adapter ([`crate::queue_api`]) alike.
//!
//! Every change of a hold is a conditional update ([`work::hold`]) in a transaction that also
//! puts its [`v1::OfferEvent`] in the outbox, so what WatchOffers streams is what committed.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use prost::Message as _;
use sea_orm::{DatabaseConnection, TransactionTrait as _};
use tend_client::CaseClient;
use tend_kernel::ids::{Clock, new_id, to_timestamp};
use tend_kernel::{ApiError, TenantId};
use tend_proto::v1;
use tend_store::events::{envelope, streams};
use tend_store::{DbContext as _, OutboxWaker, outbox};
use tonic::Code;

use crate::SERVICE;
use crate::board::Taker;
use crate::queue_config::QueueConfig;
use crate::storage::agents::{self as stored, agent};
use crate::storage::work::{self, ACCEPTED, Held, Hold, OFFERED, item};
use crate::work::{item_of, offer, passed, requirements, work_item};

/// How many of the best waiting items a pull considers before it gives up.
const PULL_CANDIDATES: u64 = 50;

/// Why a queue workflow did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The tenant has no such agent.
    #[error("agent {0} not found")]
    UnknownAgent(String),
    /// The request is valid but the state does not allow it (the message says what to do).
    #[error("{0}")]
    Refused(String),
    /// The cases service could not be reached or failed.
    #[error("the cases service failed: {0}")]
    Cases(tonic::Status),
    /// Stored data does not read back (a definition that does not decode).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] tend_store::Error),
}

impl From<QueueError> for ApiError {
    fn from(error: QueueError) -> Self {
        match error {
            QueueError::UnknownAgent(id) => ApiError::not_found("agent", &id),
            QueueError::Refused(message) => ApiError::FailedPrecondition(message),
            QueueError::Cases(status) => {
                tracing::warn!(%status, "the cases service failed");
                ApiError::Unavailable("the cases service is unavailable; retry shortly".to_owned())
            }
            QueueError::Corrupt(error) => ApiError::internal(error),
            QueueError::Store(error) => error.into(),
        }
    }
}

/// Presences that offers go to.
const OFFERED_TO: [i32; 1] = [v1::Presence::Available as i32];
/// Presences that may pull work.
const PULLING: [i32; 2] = [v1::Presence::Available as i32, v1::Presence::Busy as i32];

/// The queue's workflows over routing's database.
#[derive(Clone)]
pub struct Queue {
    db: DatabaseConnection,
    cases: CaseClient,
    waker: OutboxWaker,
    config: Arc<QueueConfig>,
    clock: Arc<dyn Clock>,
}

/// How much room `agent` has for `channel`, if their presence is one of `presences`: their
/// capacity for it (the load is counted by [`work::hold`]); 0 when none.
fn capacity(agent: &agent::Model, channel: i32, presences: &[i32]) -> u32 {
    if agent.disabled || !presences.contains(&agent.presence) {
        return 0;
    }
    let Ok(definition) = v1::Agent::decode(agent.body.as_slice()) else { return 0 };
    definition.capacity.iter().find(|capacity| capacity.channel == channel).map_or(0, |capacity| capacity.max)
}

impl Queue {
    /// The workflows over `db`, assigning through `cases`, waking `waker`'s relay for the
    /// offer events they commit, on `clock`'s time (offers expire on it).
    pub fn new(
        db: DatabaseConnection,
        cases: CaseClient,
        waker: OutboxWaker,
        config: Arc<QueueConfig>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { db, cases, waker, config, clock }
    }

    /// Now, on the queue's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The settings it runs with.
    pub fn config(&self) -> &QueueConfig {
        &self.config
    }

    /// The database it works on.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Offers case `case_id` to `agent` until the offer timeout, if it still waits, the agent
    /// is available and has room for it.
    pub async fn offer(
        &self,
        tenant: &str,
        case_id: &str,
        agent: &str,
        now: DateTime<Utc>,
    ) -> Result<Held, QueueError> {
        let offer_id = new_id();
        let until = now + chrono::Duration::from_std(self.config.offer_timeout).unwrap_or(chrono::Duration::MAX);
        let hold = Hold { tenant, case_id, agent, kind: OFFERED, offer_id: &offer_id, until: Some(until), now };
        self.hold(&hold, &OFFERED_TO).await
    }

    /// Takes the hold for an agent whose presence is one of `presences` (and, for an offer,
    /// publishes it) in one transaction.
    async fn hold(&self, hold: &Hold<'_>, presences: &[i32]) -> Result<Held, QueueError> {
        let txn = self.db.begin().await.context("starting a transaction")?;
        let held = work::hold(&txn, hold, |agent, channel| capacity(agent, channel, presences))
            .await
            .context("holding a work item")?;
        if let Held::Taken(row) = &held {
            if hold.kind == OFFERED {
                self.publish(&txn, row, v1::OfferState::Open).await?;
            }
            txn.commit().await.context("committing the hold")?;
            self.waker.wake();
        }
        Ok(held)
    }

    /// Puts `row`'s offer, in `state`, in the outbox.
    async fn publish<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        row: &item::Model,
        state: v1::OfferState,
    ) -> Result<(), QueueError> {
        let event = v1::OfferEvent { offer: Some(offer(row, state)) };
        outbox::enqueue(conn, streams::QUEUE_OFFERS, &envelope(SERVICE, &tenant_of(row)?, &event)).await?;
        Ok(())
    }

    /// Accepts `agent`'s open offer `offer_id`: the case becomes theirs in cases.
    pub async fn accept(
        &self,
        tenant: &str,
        agent: &str,
        offer_id: &str,
        now: DateTime<Utc>,
    ) -> Result<v1::Assignment, QueueError> {
        let txn = self.db.begin().await.context("starting a transaction")?;
        let row = work::by_offer(&txn, tenant, agent, offer_id).await.context("reading the offer")?;
        let row = match row {
            Some(row)
                if row.hold == OFFERED
                    && work::accept(&txn, tenant, agent, offer_id, now).await.context("accepting the offer")? =>
            {
                row
            }
            _ => return Err(not_open(offer_id, agent)),
        };
        let accepted = item::Model { hold: ACCEPTED.to_owned(), held_at: Some(now), hold_until: None, ..row };
        self.publish(&txn, &accepted, v1::OfferState::Accepted).await?;
        txn.commit().await.context("committing the acceptance")?;
        self.waker.wake();
        tracing::info!(tenant, agent, offer_id, case_id = %accepted.case_id, "offer accepted");
        self.assign(&accepted, now).await
    }

    /// Declines `agent`'s open offer `offer_id`: the case is offered to someone else, never
    /// to them again.
    pub async fn decline(
        &self,
        tenant: &str,
        agent: &str,
        offer_id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<v1::Offer, QueueError> {
        let txn = self.db.begin().await.context("starting a transaction")?;
        let row = work::by_offer(&txn, tenant, agent, offer_id).await.context("reading the offer")?;
        let row = match row {
            Some(row)
                if row.hold == OFFERED
                    && work::release(&txn, tenant, agent, offer_id, OFFERED, true, now)
                        .await
                        .context("declining the offer")? =>
            {
                row
            }
            _ => return Err(not_open(offer_id, agent)),
        };
        self.publish(&txn, &row, v1::OfferState::Declined).await?;
        txn.commit().await.context("committing the decline")?;
        self.waker.wake();
        tracing::info!(tenant, agent, offer_id, case_id = %row.case_id, reason, "offer declined");
        Ok(offer(&row, v1::OfferState::Declined))
    }

    /// Withdraws `agent`'s open offers (they stopped taking work: away, busy, offline): each
    /// case goes to someone else, and may come back to them later.
    pub async fn withdraw_offers(&self, tenant: &str, agent: &str, now: DateTime<Utc>) -> Result<usize, QueueError> {
        let open = work::open_offers(&self.db, tenant, agent).await.context("reading the open offers")?;
        let mut withdrawn = 0;
        for row in open {
            let txn = self.db.begin().await.context("starting a transaction")?;
            if work::release(&txn, tenant, agent, &row.offer_id, OFFERED, false, now)
                .await
                .context("withdrawing the offer")?
            {
                self.publish(&txn, &row, v1::OfferState::Withdrawn).await?;
                txn.commit().await.context("committing the withdrawal")?;
                withdrawn += 1;
            }
        }
        if withdrawn > 0 {
            self.waker.wake();
            tracing::info!(tenant, agent, withdrawn, "offers withdrawn: the agent stopped taking work");
        }
        Ok(withdrawn)
    }

    /// Ends an offer left unanswered past its time: the case goes to someone else, never to
    /// that agent again. False when it was answered meanwhile.
    pub async fn expire(&self, row: &item::Model, now: DateTime<Utc>) -> Result<bool, QueueError> {
        let txn = self.db.begin().await.context("starting a transaction")?;
        let released = work::release(&txn, &row.tenant, &row.held_by, &row.offer_id, OFFERED, true, now)
            .await
            .context("expiring the offer")?;
        if released {
            self.publish(&txn, row, v1::OfferState::Expired).await?;
            txn.commit().await.context("committing the expiry")?;
            self.waker.wake();
            tracing::info!(tenant = %row.tenant, agent = %row.held_by, case_id = %row.case_id, "offer expired");
        }
        Ok(released)
    }

    /// Has cases show the accepted hold `row` as the assignment, and keeps the item true to
    /// the case cases answers with. When cases refuses (the case ended, or is gone) the hold
    /// is dropped and the refusal returned; when it can't be reached the hold stays, for the
    /// dispatcher to try again.
    pub async fn assign(&self, row: &item::Model, now: DateTime<Utc>) -> Result<v1::Assignment, QueueError> {
        let tenant = tenant_of(row)?;
        let request = v1::AssignCaseRequest {
            id: row.case_id.clone(),
            agent_id: row.held_by.clone(),
            reason: "taken from the queue".to_owned(),
            expected_version: 0,
        };
        match self.cases.assign_case(&tenant, request).await {
            Ok(case) => {
                work::project(&self.db, vec![item_of(&row.tenant, &case, now)])
                    .await
                    .context("recording the assignment")?;
                tracing::info!(tenant = %row.tenant, agent = %row.held_by, case_id = %row.case_id, "case assigned");
                Ok(v1::Assignment {
                    agent_id: row.held_by.clone(),
                    item: Some(work_item(row)),
                    assigned_at: row.held_at.map(to_timestamp),
                })
            }
            Err(status) if matches!(status.code(), Code::FailedPrecondition | Code::NotFound) => {
                work::release(&self.db, &row.tenant, &row.held_by, &row.offer_id, ACCEPTED, false, now)
                    .await
                    .context("dropping the hold")?;
                Err(QueueError::Refused(format!("case {} no longer waits: {}", row.case_id, status.message())))
            }
            Err(status) => Err(QueueError::Cases(status)),
        }
    }

    /// Assigns `agent` the best waiting case they may take now; `None` when none waits that
    /// they may take (or they have no room).
    pub async fn next_work(
        &self,
        tenant: &str,
        agent: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<v1::Assignment>, QueueError> {
        let row = stored::find(&self.db, tenant, agent)
            .await
            .context("reading the agent")?
            .ok_or_else(|| QueueError::UnknownAgent(agent.to_owned()))?;
        if row.disabled {
            return Err(QueueError::Refused(format!("agent {agent} is disabled")));
        }
        if !PULLING.contains(&row.presence) {
            return Err(QueueError::Refused(format!(
                "agent {agent} is away or offline: set their presence to available or busy first"
            )));
        }
        let definition = crate::agents::definition_of(&row)?;
        let teams = stored::teams(&self.db, tenant).await.context("reading the teams")?;
        let queues = crate::agents::queues_of(&definition, &teams)?;
        let mut channels = Vec::new();
        for capacity in &definition.capacity {
            if work::load(&self.db, tenant, agent, capacity.channel).await.context("counting the load")?
                < u64::from(capacity.max)
            {
                channels.push(capacity.channel);
            }
        }
        channels.sort_unstable();
        if channels.is_empty() || queues.is_empty() {
            return Ok(None);
        }
        let (languages, skills) = crate::agents::abilities(&definition);
        let taker = Taker { queues: &queues, languages: &languages, skills: &skills, channels: &channels };
        let risk_window = chrono::Duration::from_std(self.config.risk_window).unwrap_or(chrono::Duration::MAX);
        let candidates = work::best_waiting(
            &self.db,
            tenant,
            work::Fit { queues: &queues, channels: &channels, languages: &languages },
            now,
            risk_window,
            PULL_CANDIDATES,
        )
        .await
        .context("reading the waiting work")?;
        for candidate in candidates {
            if !taker.qualifies(&requirements(&candidate)) || passed(&candidate, agent) {
                continue;
            }
            let offer_id = new_id();
            let hold = Hold {
                tenant,
                case_id: &candidate.case_id,
                agent,
                kind: ACCEPTED,
                offer_id: &offer_id,
                until: None,
                now,
            };
            match self.hold(&hold, &PULLING).await? {
                Held::Taken(held) => return self.assign(&held, now).await.map(Some),
                Held::Gone => continue,
                Held::NoRoom => return Ok(None),
            }
        }
        Ok(None)
    }
}

/// The tenant of a stored row (checked when it was stored).
fn tenant_of(row: &item::Model) -> Result<TenantId, QueueError> {
    TenantId::parse(&row.tenant).map_err(QueueError::Corrupt)
}

impl Queue {
    /// `tenant`'s queues at `now` (only `queue` if given): what waits, is offered and had,
    /// agents by presence, occupancy.
    pub async fn stats(
        &self,
        tenant: &str,
        queue: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<v1::QueueStats, QueueError> {
        let risk_window = chrono::Duration::from_std(self.config.risk_window).unwrap_or(chrono::Duration::MAX);
        let depths = work::depths(&self.db, tenant, queue, now, risk_window).await.context("counting the queues")?;
        let count = |value: i64| u32::try_from(value).unwrap_or(u32::MAX);
        let queues = depths
            .into_iter()
            .map(|depth| v1::QueueDepth {
                oldest_wait_seconds: depth
                    .oldest
                    .map_or(0, |oldest| u64::try_from((now - oldest).num_seconds()).unwrap_or(0)),
                waiting: count(depth.waiting),
                waiting_by_priority: [depth.band0, depth.band1, depth.band2, depth.band3, depth.band4]
                    .into_iter()
                    .map(count)
                    .collect(),
                at_risk: count(depth.at_risk),
                breached: count(depth.breached),
                offered: count(depth.offered),
                assigned: count(depth.assigned),
                queue: depth.queue_now,
            })
            .collect();
        let agents = stored::all_of(&self.db, tenant).await.context("reading the agents")?;
        let loads: std::collections::HashMap<String, i64> = work::loads(&self.db, tenant)
            .await
            .context("counting the loads")?
            .into_iter()
            .fold(std::collections::HashMap::new(), |mut loads, (agent, count)| {
                *loads.entry(agent).or_default() += count;
                loads
            });
        let mut by_presence = std::collections::BTreeMap::<i32, u32>::new();
        let (mut used, mut room) = (0_i64, 0_i64);
        for agent in agents.iter().filter(|agent| !agent.disabled) {
            *by_presence.entry(agent.presence).or_default() += 1;
            if PULLING.contains(&agent.presence) {
                let definition = crate::agents::definition_of(agent)?;
                room += definition.capacity.iter().map(|capacity| i64::from(capacity.max)).sum::<i64>();
                used += loads.get(&agent.id).copied().unwrap_or(0);
            }
        }
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        let occupancy = if room == 0 { 0.0 } else { (used as f64 / room as f64).min(1.0) };
        Ok(v1::QueueStats {
            at: Some(to_timestamp(now)),
            queues,
            agents: by_presence.into_iter().map(|(presence, agents)| v1::PresenceCount { presence, agents }).collect(),
            occupancy,
        })
    }
}

fn not_open(offer_id: &str, agent: &str) -> QueueError {
    QueueError::Refused(format!(
        "offer {offer_id} is not open for agent {agent}: it expired, was withdrawn or answered already"
    ))
}
