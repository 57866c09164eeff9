//! The cases service's timers: what falls due while nobody calls. One sweep looks at every
//! tenant's promises (those due within the warning window raise PROMISE_DUE_SOON, those past
//! their time raise PROMISE_OVERDUE and escalate their case: priority up, on the timeline) and
//! escalations (a department that did not answer in its time raises ESCALATION_OVERDUE).
//!
//! The sweep is a plain function of the time it is given, so tests drive it across hours and
//! weekends; the service runs it on one replica at a time under a lease
//! ([`tend_store::lease::Singleton`]). Each promise fires once: it is marked in the same
//! transaction as its timeline entry and its event, by a conditional update, so a sweep that
//! overlaps another (a replica that stalled past its lease) or runs again after a crash has no
//! second effect.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use tend_kernel::ids::Clock;
use tend_kernel::{ApiError, TenantId};
use tend_proto::v1;
use tend_store::events::{envelope, streams};
use tend_store::lease::Singleton;
use tend_store::{DbContext as _, OutboxWaker, outbox};
use tokio_util::sync::CancellationToken;

use crate::SERVICE;
use crate::clocks;
use crate::config::CasesConfig;
use crate::departments::{self, escalation};
use crate::lifecycle::{Attempt, Change, Seen, apply_change, with_interactions};
use crate::promises::{self, promise};
use crate::storage::{self, case};
use crate::timeline::{self, Draft};

/// Most promises one sweep raises of each kind; the rest wait for the next sweep.
const SWEEP_BATCH: u64 = 500;

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Promises found due soon.
    pub due_soon: usize,
    /// Promises found overdue, their cases escalated.
    pub overdue: usize,
    /// Escalations their departments did not answer in time.
    pub escalations_overdue: usize,
    /// SLA clocks at their warning point.
    pub sla_warnings: usize,
    /// SLA clocks run out, their cases escalated.
    pub sla_breaches: usize,
}

/// The timers of the cases service.
pub struct Timers {
    db: DatabaseConnection,
    relay: OutboxWaker,
    warning: chrono::Duration,
    boost: i32,
    breach_boost: i32,
    breach_unassigns: bool,
}

impl Timers {
    /// Timers over `db` as `config` sets them, waking `relay` after what they publish.
    pub fn new(db: DatabaseConnection, relay: OutboxWaker, config: &CasesConfig) -> Self {
        Self {
            db,
            relay,
            warning: chrono::Duration::from_std(config.promise_warning).unwrap_or(chrono::Duration::MAX),
            boost: i32::try_from(config.overdue_priority_boost).unwrap_or(100),
            breach_boost: i32::try_from(config.breach_priority_boost).unwrap_or(100),
            breach_unassigns: config.breach_unassigns,
        }
    }

    /// Raises what is due at `now`: promises due soon, then promises overdue.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<Swept, ApiError> {
        let mut swept = Swept::default();
        let soon = promises::falling_due(&self.db, now + self.warning, false, SWEEP_BATCH)
            .await
            .context("reading promises due soon")?;
        for due in soon.into_iter().filter(|due| due.due_at > now) {
            if self.raise_due_soon(&due, now).await? {
                swept.due_soon += 1;
            }
        }
        let overdue =
            promises::falling_due(&self.db, now, true, SWEEP_BATCH).await.context("reading overdue promises")?;
        for due in overdue {
            if self.escalate_overdue(&due, now).await? {
                swept.overdue += 1;
            }
        }
        let warned = clocks::falling_due(&self.db, now, false, SWEEP_BATCH).await.context("reading SLA clocks")?;
        for clock in warned {
            if self.raise_sla_warning(&clock, now).await? {
                swept.sla_warnings += 1;
            }
        }
        let breached = clocks::falling_due(&self.db, now, true, SWEEP_BATCH).await.context("reading SLA clocks")?;
        for clock in breached {
            if self.raise_sla_breach(&clock, now).await? {
                swept.sla_breaches += 1;
            }
        }
        let late = departments::overdue(&self.db, now, SWEEP_BATCH).await.context("reading overdue escalations")?;
        for late in late {
            if self.raise_escalation_overdue(&late, now).await? {
                swept.escalations_overdue += 1;
            }
        }
        if swept != Swept::default() {
            self.relay.wake();
            tracing::info!(
                due_soon = swept.due_soon,
                overdue = swept.overdue,
                escalations_overdue = swept.escalations_overdue,
                sla_warnings = swept.sla_warnings,
                sla_breaches = swept.sla_breaches,
                "timers fired"
            );
        }
        Ok(swept)
    }

    /// PROMISE_DUE_SOON for `due`, unless it was raised already. The case itself does not
    /// change (no new version): the entry and the event tell its owner to act.
    async fn raise_due_soon(&self, due: &promise::Model, now: DateTime<Utc>) -> Result<bool, ApiError> {
        let txn = self.db.begin().await.context("starting a transaction")?;
        if !promises::mark_raised(&txn, &due.id, now, false).await.context("marking the promise due soon")? {
            return Ok(false);
        }
        let draft = Draft {
            text: due.what.clone(),
            promise_id: due.id.clone(),
            reason: format!("due at {}, owned by {}", due.due_at.to_rfc3339(), owner_of(due)),
            ..Draft::of(v1::CaseTimelineKind::PromiseDueSoon)
        };
        let mut event = v1::CaseEvent {
            kind: v1::CaseEventKind::PromiseDueSoon.into(),
            promise: Some(promises::to_proto(promise::Model { due_soon_at: Some(now), ..due.clone() })),
            ..Default::default()
        };
        let announced = announce(&txn, &due.tenant, &due.case_id, draft, &mut event, now).await?;
        txn.commit().await.context("committing the promise due soon")?;
        Ok(announced)
    }

    /// SLA_WARNING for `clock`, unless it was raised already; the case does not change.
    async fn raise_sla_warning(&self, clock: &clocks::clock::Model, now: DateTime<Utc>) -> Result<bool, ApiError> {
        let txn = self.db.begin().await.context("starting a transaction")?;
        if !clocks::mark(&txn, &clock.id, now, false).await.context("marking the SLA warning")? {
            return Ok(false);
        }
        let draft = Draft {
            text: clock.kind.clone(),
            reason: format!("due at {}", clock.due_at.to_rfc3339()),
            ..Draft::of(v1::CaseTimelineKind::SlaWarning)
        };
        let warned = clocks::clock::Model { warned_at: Some(now), ..clock.clone() };
        let mut event = v1::CaseEvent {
            kind: v1::CaseEventKind::SlaWarning.into(),
            clock: Some(clocks::to_proto(&warned)),
            ..Default::default()
        };
        let announced = announce(&txn, &clock.tenant, &clock.case_id, draft, &mut event, now).await?;
        txn.commit().await.context("committing the SLA warning")?;
        Ok(announced)
    }

    /// SLA_BREACHED for `clock`, unless it was raised already: the case's priority goes up by
    /// the configured boost (a new version). A change that races it wins, and the next sweep
    /// tries again.
    async fn raise_sla_breach(&self, clock: &clocks::clock::Model, now: DateTime<Utc>) -> Result<bool, ApiError> {
        let tenant = TenantId::parse(&clock.tenant).map_err(ApiError::internal)?;
        let txn = self.db.begin().await.context("starting a transaction")?;
        if !clocks::mark(&txn, &clock.id, now, true).await.context("marking the SLA breach")? {
            return Ok(false);
        }
        let (boost, unassign) = (self.breach_boost, self.breach_unassigns);
        let mut apply = |row: &mut case::Model, _: &Seen| {
            row.priority = (row.priority + boost).min(100);
            let mut reason = format!("was due at {}: priority raised by {boost}", clock.due_at.to_rfc3339());
            let taken_from = std::mem::take(&mut row.assignee);
            if unassign && !taken_from.is_empty() {
                reason.push_str(&format!("; taken from {taken_from}, back to the queue"));
            } else {
                row.assignee = taken_from;
            }
            let draft = Draft {
                text: clock.kind.clone(),
                priority: row.priority,
                assignee: row.assignee.clone(),
                reason,
                ..Draft::of(v1::CaseTimelineKind::SlaBreached)
            };
            Ok(Some(Change::new(v1::CaseEventKind::SlaBreached, draft)))
        };
        match apply_change(&txn, &tenant, SERVICE, &clock.case_id, 0, now, &mut apply).await {
            Ok(Attempt::Changed(mut event)) => {
                let breached = clocks::clock::Model { breached_at: Some(now), ..clock.clone() };
                event.clock = Some(clocks::to_proto(&breached));
                outbox::enqueue(&txn, streams::CASES_EVENTS, &envelope(SERVICE, &tenant, event.as_ref())).await?;
                txn.commit().await.context("committing the SLA breach")?;
                Ok(true)
            }
            Ok(Attempt::Unchanged(_) | Attempt::Lost) | Err(ApiError::NotFound { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// ESCALATION_OVERDUE for `late`, unless it was raised already: the department ran out of
    /// its time to answer. The case does not change; the agent and supervisors are told.
    async fn raise_escalation_overdue(&self, late: &escalation::Model, now: DateTime<Utc>) -> Result<bool, ApiError> {
        let txn = self.db.begin().await.context("starting a transaction")?;
        if !departments::mark_overdue(&txn, &late.id, now).await.context("marking the escalation overdue")? {
            return Ok(false);
        }
        let draft = Draft {
            department: late.department.clone(),
            reason: format!("{} was to answer by {}", late.department, late.due_at.to_rfc3339()),
            ..Draft::of(v1::CaseTimelineKind::EscalationOverdue)
        };
        let overdue = escalation::Model { overdue_at: Some(now), ..late.clone() };
        let mut event = v1::CaseEvent {
            kind: v1::CaseEventKind::EscalationOverdue.into(),
            escalation: Some(departments::escalation_to_proto(overdue, now)),
            ..Default::default()
        };
        let announced = announce(&txn, &late.tenant, &late.case_id, draft, &mut event, now).await?;
        txn.commit().await.context("committing the overdue escalation")?;
        Ok(announced)
    }

    /// PROMISE_OVERDUE for `due`, unless it was raised already: its case's priority goes up by
    /// the configured boost, a change of the case like any other (a new version). A change
    /// that races it wins, and the next sweep tries again.
    async fn escalate_overdue(&self, due: &promise::Model, now: DateTime<Utc>) -> Result<bool, ApiError> {
        let tenant = TenantId::parse(&due.tenant).map_err(ApiError::internal)?;
        let boost = self.boost;
        let mut apply = |row: &mut case::Model, seen: &Seen| {
            let Some(open) = seen.open_promises.iter().find(|open| open.id == due.id && open.overdue_at.is_none())
            else {
                return Ok(None);
            };
            row.priority = (row.priority + boost).min(100);
            let escalated = promise::Model {
                overdue_at: Some(seen.now),
                due_soon_at: open.due_soon_at.or(Some(seen.now)),
                ..open.clone()
            };
            let draft = Draft {
                text: open.what.clone(),
                promise_id: open.id.clone(),
                priority: row.priority,
                reason: format!(
                    "was due at {} and is not kept; owned by {}: priority raised by {boost}",
                    open.due_at.to_rfc3339(),
                    owner_of(open)
                ),
                ..Draft::of(v1::CaseTimelineKind::PromiseOverdue)
            };
            let mut change = Change::new(v1::CaseEventKind::PromiseOverdue, draft);
            change.promises.push((escalated.clone(), false));
            change.promise = Some(escalated);
            Ok(Some(change))
        };
        let txn = self.db.begin().await.context("starting a transaction")?;
        match apply_change(&txn, &tenant, SERVICE, &due.case_id, 0, now, &mut apply).await {
            Ok(Attempt::Changed(event)) => {
                outbox::enqueue(&txn, streams::CASES_EVENTS, &envelope(SERVICE, &tenant, event.as_ref())).await?;
                txn.commit().await.context("committing the overdue promise")?;
                Ok(true)
            }
            Ok(Attempt::Unchanged(_) | Attempt::Lost) | Err(ApiError::NotFound { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Runs the sweep every `config.timers_every` on whichever replica holds the lease, until
    /// `shutdown`.
    pub async fn run(self, config: &CasesConfig, instance: String, clock: Arc<dyn Clock>, shutdown: CancellationToken) {
        let singleton = Singleton {
            name: "cases.timers",
            holder: instance,
            every: config.timers_every,
            ttl: config.timers_lease,
            db: self.db.clone(),
            clock,
        };
        let timers = &self;
        singleton.run(shutdown, |now| async move { timers.sweep(now).await.map(|_| ()) }).await;
    }
}

/// Records `draft` on case `case_id`'s timeline (the case unchanged: version 0) and publishes
/// `event` with the case and the entry; false when the case is gone.
async fn announce<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    case_id: &str,
    draft: Draft,
    event: &mut v1::CaseEvent,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    let tenant = TenantId::parse(tenant).map_err(ApiError::internal)?;
    let Some(row) = storage::find(conn, tenant.as_str(), case_id).await.context("reading the case")? else {
        return Ok(false);
    };
    let entry = timeline::insert(conn, draft.into_row(tenant.as_str(), case_id, SERVICE, now, 0))
        .await
        .context("recording the timer")?;
    event.case = Some(with_interactions(conn, &tenant, row).await?);
    event.entry = Some(timeline::to_proto(entry));
    outbox::enqueue(conn, streams::CASES_EVENTS, &envelope(SERVICE, &tenant, &*event)).await?;
    Ok(true)
}

/// Who must keep `promise`, for the timeline.
fn owner_of(promise: &promise::Model) -> &str {
    if promise.owner.is_empty() { "nobody" } else { &promise.owner }
}
