//! A case's life after it is opened: status moves through the state machine, assignment, tags,
//! priority and notes. Each change is one transaction that checks the version the caller read,
//! bumps it, writes the timeline entry (the audit log: who, when, why) and publishes the
//! `CaseEvent` through the outbox.

use std::collections::BTreeSet;

use prost::Message as _;
use sea_orm::{DatabaseConnection, TransactionTrait};
use tend_kernel::auth::Caller;
use tend_kernel::ids::{parse_id, to_timestamp};
use tend_kernel::paging::Page;
use tend_kernel::{ApiError, TenantId};
use tend_proto::v1;
use tend_store::events::{envelope, streams};
use tend_store::{DbContext as _, OutboxWaker, outbox};

use crate::SERVICE;
use crate::domain::{self, Status};
use crate::storage::{self, case};
use crate::timeline::{self, Draft};

/// How often a change that named no version is tried before a busy case answers `ABORTED`.
const MAX_CHANGE_ATTEMPTS: u32 = 5;

/// What a change did, to record and announce.
struct Change {
    event: v1::CaseEventKind,
    draft: Draft,
}

/// Changes cases over the service's database.
pub struct Lifecycle {
    db: DatabaseConnection,
    relay: OutboxWaker,
}

impl Lifecycle {
    /// Changes over `db`, waking `relay` after each committed event.
    pub fn new(db: DatabaseConnection, relay: OutboxWaker) -> Self {
        Self { db, relay }
    }

    /// Moves case `id` to `to` (a `CaseStatus` number), for `reason`.
    pub async fn transition(
        &self,
        caller: &Caller,
        id: &str,
        to: i32,
        reason: String,
        expected_version: u64,
    ) -> Result<v1::Case, ApiError> {
        let to = Status::from_proto(to).ok_or_else(|| {
            ApiError::invalid("to", format!("{to} is not a case status (NEW, OPEN, …, CLOSED, REOPENED)"))
        })?;
        domain::check_reason(&reason)?;
        self.change(caller, id, expected_version, |row, now| {
            let from = stored_status(row)?;
            domain::check_transition(&row.id, from, to)?;
            row.status = to.as_str().to_owned();
            match to {
                Status::Resolved => {
                    row.resolved_at = Some(now);
                    row.resolution_note = Some(reason.clone());
                }
                Status::Reopened => {
                    row.resolved_at = None;
                    row.resolution_note = None;
                }
                _ => {}
            }
            let event = match to {
                Status::Resolved => v1::CaseEventKind::Resolved,
                Status::Reopened => v1::CaseEventKind::Reopened,
                Status::Closed => v1::CaseEventKind::Closed,
                _ => v1::CaseEventKind::StatusChanged,
            };
            let draft = Draft {
                reason: reason.clone(),
                moved: Some((from, to)),
                ..Draft::of(v1::CaseTimelineKind::StatusChanged)
            };
            Ok(Some(Change { event, draft }))
        })
        .await
    }

    /// Assigns case `id` to `agent_id` (empty: unassigns it); a NEW case becomes OPEN.
    pub async fn assign(
        &self,
        caller: &Caller,
        id: &str,
        agent_id: &str,
        reason: String,
        expected_version: u64,
    ) -> Result<v1::Case, ApiError> {
        let agent_id = agent_id.trim().to_owned();
        if agent_id.len() > domain::MAX_AGENT_ID || agent_id.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                "agent_id",
                format!("must be at most {} bytes, without control characters", domain::MAX_AGENT_ID),
            ));
        }
        domain::check_reason(&reason)?;
        self.change(caller, id, expected_version, |row, _| {
            if row.assignee == agent_id {
                return Ok(None);
            }
            let from = stored_status(row)?;
            if !from.is_active() {
                return Err(ApiError::FailedPrecondition(format!(
                    "case {} is {from}: reopen it before assigning it",
                    row.id
                )));
            }
            let moved = (from == Status::New && !agent_id.is_empty()).then_some((from, Status::Open));
            if let Some((_, to)) = moved {
                row.status = to.as_str().to_owned();
            }
            row.assignee = agent_id.clone();
            let draft = Draft {
                reason: reason.clone(),
                moved,
                assignee: agent_id.clone(),
                ..Draft::of(v1::CaseTimelineKind::Assigned)
            };
            Ok(Some(Change { event: v1::CaseEventKind::Assigned, draft }))
        })
        .await
    }

    /// Adds and removes tags of case `id`.
    pub async fn tag(
        &self,
        caller: &Caller,
        id: &str,
        add: &[String],
        remove: &[String],
        expected_version: u64,
    ) -> Result<v1::Case, ApiError> {
        let add = add.iter().map(|raw| domain::tag("add", raw)).collect::<Result<BTreeSet<_>, _>>()?;
        let remove = remove.iter().map(|raw| domain::tag("remove", raw)).collect::<Result<BTreeSet<_>, _>>()?;
        if let Some(both) = add.intersection(&remove).next() {
            return Err(ApiError::invalid("remove", format!("{both:?} is also in `add`")));
        }
        self.change(caller, id, expected_version, |row, _| {
            let mut tags: BTreeSet<String> = domain::tags_of(&row.tags).into_iter().collect();
            let added: Vec<String> = add.iter().filter(|tag| tags.insert((*tag).clone())).cloned().collect();
            let removed: Vec<String> = remove.iter().filter(|tag| tags.remove(*tag)).cloned().collect();
            if added.is_empty() && removed.is_empty() {
                return Ok(None);
            }
            if tags.len() > domain::MAX_TAGS {
                return Err(ApiError::invalid(
                    "add",
                    format!("a case holds at most {} tags; this would make {}", domain::MAX_TAGS, tags.len()),
                ));
            }
            row.tags = tags.into_iter().collect::<Vec<_>>().join(",");
            let draft = Draft { tags_added: added, tags_removed: removed, ..Draft::of(v1::CaseTimelineKind::Tagged) };
            Ok(Some(Change { event: v1::CaseEventKind::Tagged, draft }))
        })
        .await
    }

    /// Sets the priority of case `id`, for `reason` (required).
    pub async fn set_priority(
        &self,
        caller: &Caller,
        id: &str,
        priority: u32,
        reason: String,
        expected_version: u64,
    ) -> Result<v1::Case, ApiError> {
        let priority = domain::check_priority(priority)?;
        if reason.trim().is_empty() {
            return Err(ApiError::invalid("reason", "is required: say why the priority changes"));
        }
        domain::check_reason(&reason)?;
        self.change(caller, id, expected_version, |row, _| {
            if row.priority == priority {
                return Ok(None);
            }
            row.priority = priority;
            let draft = Draft { reason: reason.clone(), priority, ..Draft::of(v1::CaseTimelineKind::PriorityChanged) };
            Ok(Some(Change { event: v1::CaseEventKind::PriorityChanged, draft }))
        })
        .await
    }

    /// Adds an internal note to case `case_id`. A note changes nothing on the case, so it does
    /// not bump the version (an agent's note never makes another's change stale).
    pub async fn add_note(
        &self,
        caller: &Caller,
        case_id: &str,
        text: &str,
    ) -> Result<v1::CaseTimelineEntry, ApiError> {
        let case_id = parse_id("case_id", case_id)?;
        let text = text.trim();
        if text.is_empty() {
            return Err(ApiError::invalid("text", "is required and must not be blank"));
        }
        if text.len() > domain::MAX_CASE_NOTE {
            return Err(ApiError::invalid("text", format!("must be at most {} bytes", domain::MAX_CASE_NOTE)));
        }
        let tenant = &caller.tenant;
        let txn = self.db.begin().await.context("starting a transaction")?;
        let Some(row) = storage::find(&txn, tenant.as_str(), &case_id).await.context("reading the case")? else {
            return Err(ApiError::not_found("case", case_id));
        };
        let draft = Draft { text: text.to_owned(), ..Draft::of(v1::CaseTimelineKind::NoteAdded) };
        let now = tend_kernel::ids::now();
        let entry = timeline::insert(&txn, draft.into_row(tenant.as_str(), &case_id, &caller.actor, now, 0))
            .await
            .context("recording the note")?;
        let entry = timeline::to_proto(entry);
        let case = with_interactions(&txn, tenant, row).await?;
        let event =
            v1::CaseEvent { kind: v1::CaseEventKind::NoteAdded.into(), case: Some(case), entry: Some(entry.clone()) };
        outbox::enqueue(&txn, streams::CASES_EVENTS, &envelope(SERVICE, tenant, &event)).await?;
        txn.commit().await.context("committing the note")?;
        self.relay.wake();
        tracing::info!(case_id = %case_id, actor = %caller.actor, "case note added");
        Ok(entry)
    }

    /// A page of case `case_id`'s timeline, oldest first.
    pub async fn timeline(
        &self,
        tenant: &TenantId,
        case_id: &str,
        page: &Page,
    ) -> Result<(Vec<v1::CaseTimelineEntry>, String), ApiError> {
        let case_id = parse_id("case_id", case_id)?;
        if storage::find(&self.db, tenant.as_str(), &case_id).await.context("reading the case")?.is_none() {
            return Err(ApiError::not_found("case", case_id));
        }
        let rows = timeline::page(&self.db, tenant.as_str(), &case_id, page).await.context("reading the timeline")?;
        let next = page.next_token(&rows, |row| row.id.as_str());
        Ok((rows.into_iter().map(timeline::to_proto).collect(), next))
    }

    /// Applies `apply` to case `id` as read, if it is at `expected_version` (0: any): bumps the
    /// version, saves it only if nobody changed it meanwhile, and records and announces the
    /// change. `apply` answering `None` changed nothing: the case is returned as it is.
    ///
    /// A caller who named a version loses a race with `ABORTED`; one who did not (0) asked for
    /// the change on the case as it is, so a lost race is retried on a fresh read, where
    /// `apply` judges the case anew (a second resolve then finds it resolved).
    async fn change(
        &self,
        caller: &Caller,
        id: &str,
        expected_version: u64,
        mut apply: impl FnMut(&mut case::Model, chrono::DateTime<chrono::Utc>) -> Result<Option<Change>, ApiError>,
    ) -> Result<v1::Case, ApiError> {
        let id = parse_id("id", id)?;
        let mut attempt = 1;
        loop {
            match self.try_change(caller, &id, expected_version, &mut apply).await? {
                Some(case) => return Ok(case),
                None if expected_version == 0 && attempt < MAX_CHANGE_ATTEMPTS => attempt += 1,
                None => {
                    return Err(ApiError::Aborted(format!("case {id} was changed meanwhile: read it again and retry")));
                }
            }
        }
    }

    /// One attempt of [`Self::change`]; `None` when another change saved the case first.
    async fn try_change(
        &self,
        caller: &Caller,
        id: &str,
        expected_version: u64,
        apply: &mut impl FnMut(&mut case::Model, chrono::DateTime<chrono::Utc>) -> Result<Option<Change>, ApiError>,
    ) -> Result<Option<v1::Case>, ApiError> {
        let tenant = &caller.tenant;
        let txn = self.db.begin().await.context("starting a transaction")?;
        let Some(mut row) = storage::find(&txn, tenant.as_str(), id).await.context("reading the case")? else {
            return Err(ApiError::not_found("case", id));
        };
        domain::check_version(id, row.version, expected_version)?;
        let read = row.version;
        let now = tend_kernel::ids::now();
        let Some(change) = apply(&mut row, now)? else {
            return with_interactions(&txn, tenant, row).await.map(Some);
        };
        row.version = read + 1;
        row.updated_at = now;
        // Conditional on the version read, so of two concurrent changes only one wins.
        if !storage::update_changed(&txn, &row, read).await.context("saving the case")? {
            return Ok(None);
        }
        let entry = change.draft.into_row(tenant.as_str(), id, &caller.actor, now, row.version);
        let entry = timeline::to_proto(timeline::insert(&txn, entry).await.context("recording the change")?);
        let case = with_interactions(&txn, tenant, row).await?;
        let kind = change.event;
        let event = v1::CaseEvent { kind: kind.into(), case: Some(case.clone()), entry: Some(entry) };
        outbox::enqueue(&txn, streams::CASES_EVENTS, &envelope(SERVICE, tenant, &event)).await?;
        txn.commit().await.context("committing the change")?;
        self.relay.wake();
        tracing::info!(case_id = %case.id, version = case.version, actor = %caller.actor, change = kind.as_str_name(), "case changed");
        Ok(Some(case))
    }
}

/// Case `row` in the contract's terms, with its interactions.
async fn with_interactions<C: sea_orm::ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    row: case::Model,
) -> Result<v1::Case, ApiError> {
    let mut interactions = storage::interaction_ids(conn, tenant.as_str(), &[row.id.as_str()])
        .await
        .context("reading case interactions")?;
    let interaction_ids = interactions.remove(&row.id).unwrap_or_default();
    Ok(case_to_proto(row, interaction_ids))
}

/// The stored status of `row`.
fn stored_status(row: &case::Model) -> Result<Status, ApiError> {
    Status::parse(&row.status)
        .ok_or_else(|| ApiError::internal(format!("case {} has unknown status {:?}", row.id, row.status)))
}

/// A case in the contract's terms.
pub fn case_to_proto(row: case::Model, interaction_ids: Vec<String>) -> v1::Case {
    let status = Status::parse(&row.status).map_or(v1::CaseStatus::Unspecified, Status::to_proto);
    v1::Case {
        id: row.id,
        tenant: row.tenant,
        status: status.into(),
        channel: row.channel,
        subject: row.subject,
        customer_id: row.customer_id,
        profile_id: row.profile_id,
        priority: u32::try_from(row.priority).unwrap_or(0),
        interaction_ids,
        opened_at: Some(to_timestamp(row.opened_at)),
        updated_at: Some(to_timestamp(row.updated_at)),
        resolved_at: row.resolved_at.map(to_timestamp),
        resolution_note: row.resolution_note.unwrap_or_default(),
        language: row.language,
        sentiment: row.sentiment,
        intents: domain::Reading::intents_of(&row.intents),
        topics: row.topics.split(',').filter(|topic| !topic.is_empty()).map(str::to_owned).collect(),
        actionable: row.actionable,
        routing: row.routing.as_deref().and_then(|bytes| v1::RoutingOutcome::decode(bytes).ok()),
        version: u64::try_from(row.version).unwrap_or(0),
        assignee: row.assignee,
        tags: domain::tags_of(&row.tags),
    }
}
