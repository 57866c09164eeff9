//! A case's life after it is opened: status moves through the state machine, assignment, tags,
//! priority, notes and promises. Each change is one transaction that checks the version the
//! caller read, bumps it, writes the timeline entry (the audit log: who, when, why) and
//! publishes the `CaseEvent` through the outbox.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use prost::Message as _;
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use tend_kernel::auth::Caller;
use tend_kernel::ids::{Clock, parse_id, to_timestamp};
use tend_kernel::paging::Page;
use tend_kernel::validate;
use tend_kernel::{ApiError, TenantId};
use tend_proto::v1;
use tend_store::events::{envelope, streams};
use tend_store::{DbContext as _, OutboxWaker, outbox};

use crate::SERVICE;
use crate::departments::{self, escalation};
use crate::domain::{self, Status};
use crate::promises::{self, promise};
use crate::storage::{self, case};
use crate::timeline::{self, Draft};

/// How often a change that named no version is tried before a busy case answers `ABORTED`.
const MAX_CHANGE_ATTEMPTS: u32 = 5;

/// What a change sees of the case besides its row: when and by whom it is made, and the
/// case's open promises (soonest due first), which it may settle or hand over.
pub struct Seen {
    /// Now, on the service's clock.
    pub now: DateTime<Utc>,
    /// Who makes the change (the caller's actor, or the service).
    pub actor: String,
    /// The case's open promises.
    pub open_promises: Vec<promise::Model>,
    /// The case's open escalation, if any.
    pub open_escalation: Option<escalation::Model>,
}

/// What a change did, to save, record and announce.
pub struct Change {
    /// The event it publishes.
    pub event: v1::CaseEventKind,
    /// Its timeline entry.
    pub draft: Draft,
    /// More entries after it (e.g. each promise a resolution releases).
    pub more: Vec<Draft>,
    /// Promises as they are to be saved, each with whether it is new.
    pub promises: Vec<(promise::Model, bool)>,
    /// The promise the event concerns.
    pub promise: Option<promise::Model>,
    /// The escalation it makes or ends, to save (with whether it is new) and announce.
    pub escalation: Option<(escalation::Model, bool)>,
    /// What it does to the SLA clocks besides what its status move does.
    pub clocks: Option<crate::clocks::Effect>,
}

impl Change {
    /// A change announced as `event` and recorded as `draft`, touching no promise.
    pub fn new(event: v1::CaseEventKind, draft: Draft) -> Self {
        Self { event, draft, more: Vec::new(), promises: Vec::new(), promise: None, escalation: None, clocks: None }
    }
}

/// What a change applied to a case: the case as it is now, and the promise it concerned.
pub struct Changed {
    /// The case.
    pub case: v1::Case,
    /// The promise made, kept or released, if the change was about one.
    pub promise: Option<v1::Promise>,
    /// The escalation made or ended, if the change was about one.
    pub escalation: Option<v1::Escalation>,
}

/// What one attempt at a change came to.
pub enum Attempt {
    /// The change changed nothing: the case as it is.
    Unchanged(Box<v1::Case>),
    /// Saved and recorded: the event to publish, in the attempt's transaction.
    Changed(Box<v1::CaseEvent>),
    /// Another change saved the case first.
    Lost,
}

/// Changes cases over the service's database.
pub struct Lifecycle {
    db: DatabaseConnection,
    relay: OutboxWaker,
    clock: Arc<dyn Clock>,
}

impl Lifecycle {
    /// Changes over `db` on `clock`, waking `relay` after each committed event.
    pub fn new(db: DatabaseConnection, relay: OutboxWaker, clock: Arc<dyn Clock>) -> Self {
        Self { db, relay, clock }
    }

    /// Moves case `id` to `to` (a `CaseStatus` number), for `reason`. Resolving or closing a
    /// case with open promises needs `release_promises_reason`, and releases them.
    pub async fn transition(
        &self,
        caller: &Caller,
        id: &str,
        to: i32,
        reason: String,
        release_promises_reason: &str,
        expected_version: u64,
    ) -> Result<v1::Case, ApiError> {
        let to = Status::from_proto(to).ok_or_else(|| {
            ApiError::invalid("to", format!("{to} is not a case status (NEW, OPEN, …, CLOSED, REOPENED)"))
        })?;
        domain::check_reason(&reason)?;
        let release_reason = release_promises_reason.trim();
        if release_reason.len() > domain::MAX_REASON {
            return Err(ApiError::invalid(
                "release_promises_reason",
                format!("must be at most {} bytes", domain::MAX_REASON),
            ));
        }
        let changed = self
            .change(caller, id, expected_version, |row, seen| {
                let from = stored_status(row)?;
                domain::check_transition(&row.id, from, to)?;
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
                let mut change = Change::new(event, draft);
                if !to.is_active() && !seen.open_promises.is_empty() {
                    release_all(&row.id, seen, release_reason, &mut change)?;
                }
                if let Some(open) = seen.open_escalation.as_ref().filter(|_| !to.is_active()) {
                    end_escalation(row, open, seen.now);
                    let withdrawn = escalation::Model {
                        state: v1::EscalationState::Withdrawn.into(),
                        ended_at: Some(seen.now),
                        ..open.clone()
                    };
                    change.more.push(Draft {
                        department: open.department.clone(),
                        reason: format!("the case was {to} before {} answered", open.department),
                        ..Draft::of(v1::CaseTimelineKind::EscalationWithdrawn)
                    });
                    change.escalation = Some((withdrawn, false));
                }
                row.status = to.as_str().to_owned();
                match to {
                    Status::Resolved => {
                        row.resolved_at = Some(seen.now);
                        row.resolution_note = Some(reason.clone());
                    }
                    Status::Reopened => {
                        row.resolved_at = None;
                        row.resolution_note = None;
                    }
                    _ => {}
                }
                Ok(Some(change))
            })
            .await?;
        Ok(changed.case)
    }

    /// Assigns case `id` to `agent_id` (empty: unassigns it); a NEW case becomes OPEN. Its
    /// open promises follow it to the new assignee.
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
        let changed = self
            .change(caller, id, expected_version, |row, seen| {
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
                let mut change = Change::new(v1::CaseEventKind::Assigned, draft);
                // Unassigned, a promise stays with whoever had it until someone takes the case.
                if !agent_id.is_empty() {
                    for open in &seen.open_promises {
                        change.promises.push((promise::Model { owner: agent_id.clone(), ..open.clone() }, false));
                    }
                }
                Ok(Some(change))
            })
            .await?;
        Ok(changed.case)
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
        let changed = self
            .change(caller, id, expected_version, |row, _| {
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
                let draft =
                    Draft { tags_added: added, tags_removed: removed, ..Draft::of(v1::CaseTimelineKind::Tagged) };
                Ok(Some(Change::new(v1::CaseEventKind::Tagged, draft)))
            })
            .await?;
        Ok(changed.case)
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
        let changed = self
            .change(caller, id, expected_version, |row, _| {
                if row.priority == priority {
                    return Ok(None);
                }
                row.priority = priority;
                let draft =
                    Draft { reason: reason.clone(), priority, ..Draft::of(v1::CaseTimelineKind::PriorityChanged) };
                Ok(Some(Change::new(v1::CaseEventKind::PriorityChanged, draft)))
            })
            .await?;
        Ok(changed.case)
    }

    /// Records a promise on case `case_id` to come back with `what` by `due_at`.
    pub async fn promise(
        &self,
        caller: &Caller,
        case_id: &str,
        what: &str,
        due_at: Option<&prost_types::Timestamp>,
        expected_version: u64,
    ) -> Result<v1::Promise, ApiError> {
        let what = what.trim().to_owned();
        let due_at = due_at.ok_or_else(|| ApiError::invalid("due_at", "is required: when will you come back?"))?;
        let due_at = validate::timestamp("due_at", due_at)?;
        promises::check_new(&what, due_at, self.clock.now())?;
        let changed = self
            .change(caller, case_id, expected_version, |row, seen| {
                let status = stored_status(row)?;
                if !status.is_active() {
                    return Err(ApiError::FailedPrecondition(format!(
                        "case {} is {status}: reopen it before promising anything on it",
                        row.id
                    )));
                }
                if seen.open_promises.len() >= promises::MAX_OPEN_PER_CASE {
                    return Err(ApiError::FailedPrecondition(format!(
                        "case {} has {} open promises, the most it may: keep or release one first",
                        row.id,
                        seen.open_promises.len()
                    )));
                }
                let owner = if row.assignee.is_empty() { seen.actor.clone() } else { row.assignee.clone() };
                let made = promise::Model {
                    id: tend_kernel::ids::new_id(),
                    tenant: row.tenant.clone(),
                    case_id: row.id.clone(),
                    what: what.clone(),
                    due_at,
                    state: promises::open_state(),
                    promised_by: seen.actor.clone(),
                    owner,
                    created_at: seen.now,
                    settled_at: None,
                    settled_by: String::new(),
                    reply_id: String::new(),
                    note: String::new(),
                    due_soon_at: None,
                    overdue_at: None,
                };
                let draft = Draft {
                    text: what.clone(),
                    promise_id: made.id.clone(),
                    ..Draft::of(v1::CaseTimelineKind::PromiseMade)
                };
                let mut change = Change::new(v1::CaseEventKind::PromiseMade, draft);
                change.promises.push((made.clone(), true));
                change.promise = Some(made);
                Ok(Some(change))
            })
            .await?;
        changed.promise.ok_or_else(|| ApiError::internal("the promise made was not returned"))
    }

    /// Records promise `id` as kept (`state` KEPT, `note` saying how) or released (RELEASED,
    /// `note` saying why). Settling a promise again the same way returns it as it is.
    pub async fn settle_promise(
        &self,
        caller: &Caller,
        id: &str,
        state: v1::PromiseState,
        note: &str,
    ) -> Result<v1::Promise, ApiError> {
        let id = parse_id("id", id)?;
        let note = note.trim().to_owned();
        let field = if state == v1::PromiseState::Released { "reason" } else { "note" };
        if note.len() > domain::MAX_REASON {
            return Err(ApiError::invalid(field, format!("must be at most {} bytes", domain::MAX_REASON)));
        }
        if state == v1::PromiseState::Released && note.is_empty() {
            return Err(ApiError::invalid("reason", "is required: say why the promise will not be kept"));
        }
        let stored = promises::find(&self.db, caller.tenant.as_str(), &id).await.context("reading the promise")?;
        let stored = stored.ok_or_else(|| ApiError::not_found("promise", &id))?;
        if stored.state == i32::from(state) {
            return Ok(promises::to_proto(stored));
        }
        if stored.state != promises::open_state() {
            return Err(already_settled(&stored));
        }
        let changed = self
            .change(caller, &stored.case_id, 0, |_, seen| {
                let Some(open) = seen.open_promises.iter().find(|open| open.id == id) else {
                    return Err(ApiError::FailedPrecondition(format!(
                        "promise {id} was kept or released meanwhile: read it again"
                    )));
                };
                Ok(Some(settle(open, state, &note, "", seen)))
            })
            .await?;
        changed.promise.ok_or_else(|| ApiError::internal("the promise settled was not returned"))
    }

    /// Escalates case `case_id` to `department` for `reason`, naming the root cause (a tag, also
    /// put on the case as `cause:<root_cause>`): the case waits for the department.
    pub async fn escalate(
        &self,
        caller: &Caller,
        case_id: &str,
        department: &str,
        reason: &str,
        root_cause: &str,
        expected_version: u64,
    ) -> Result<v1::Escalation, ApiError> {
        let name = departments::check_name("department", department)?;
        let reason = reason.trim().to_owned();
        if reason.is_empty() {
            return Err(ApiError::invalid("reason", "is required: say what the department should do"));
        }
        domain::check_reason(&reason)?;
        let root_cause = domain::tag("root_cause", root_cause)?;
        let cause_tag = domain::tag("root_cause", &format!("cause:{root_cause}"))?;
        let tenant = caller.tenant.as_str();
        let found = departments::find(&self.db, tenant, &name).await.context("reading the department")?;
        let department = found.ok_or_else(|| ApiError::not_found("department", &name))?;
        if department.disabled {
            return Err(ApiError::FailedPrecondition(format!(
                "department {name} is disabled: it takes no new escalations"
            )));
        }
        let answer_within = chrono::Duration::seconds(department.answer_within_seconds);
        let changed = self
            .change(caller, case_id, expected_version, |row, seen| {
                let from = stored_status(row)?;
                if let Some(open) = &seen.open_escalation {
                    return Err(ApiError::FailedPrecondition(format!(
                        "case {} is escalated to {} already (since {}): wait for its answer",
                        row.id,
                        open.department,
                        open.escalated_at.to_rfc3339()
                    )));
                }
                if from != Status::PendingDepartment {
                    domain::check_transition(&row.id, from, Status::PendingDepartment)?;
                }
                let mut tags: BTreeSet<String> = domain::tags_of(&row.tags).into_iter().collect();
                tags.insert(cause_tag.clone());
                if tags.len() > domain::MAX_TAGS {
                    return Err(ApiError::FailedPrecondition(format!(
                        "case {} holds {} tags, the most it may: remove one to record the root cause",
                        row.id,
                        domain::MAX_TAGS
                    )));
                }
                row.tags = tags.into_iter().collect::<Vec<_>>().join(",");
                row.status = Status::PendingDepartment.as_str().to_owned();
                row.department = name.clone();
                let made = escalation::Model {
                    id: tend_kernel::ids::new_id(),
                    tenant: row.tenant.clone(),
                    case_id: row.id.clone(),
                    department: name.clone(),
                    reason: reason.clone(),
                    root_cause: root_cause.clone(),
                    escalated_by: seen.actor.clone(),
                    escalated_at: seen.now,
                    due_at: seen.now + answer_within,
                    state: departments::open_state(),
                    answer: String::new(),
                    answered_by: String::new(),
                    ended_at: None,
                    overdue_at: None,
                };
                let draft = Draft {
                    reason: reason.clone(),
                    text: root_cause.clone(),
                    department: name.clone(),
                    moved: (from != Status::PendingDepartment).then_some((from, Status::PendingDepartment)),
                    tags_added: vec![cause_tag.clone()],
                    ..Draft::of(v1::CaseTimelineKind::Escalated)
                };
                let mut change = Change::new(v1::CaseEventKind::Escalated, draft);
                change.escalation = Some((made, true));
                Ok(Some(change))
            })
            .await?;
        changed.escalation.ok_or_else(|| ApiError::internal("the escalation made was not returned"))
    }

    /// Records the department's `answer` to case `case_id`'s open escalation (and, from
    /// retention, the outcome): the case returns to its agent.
    pub async fn answer_escalation(
        &self,
        caller: &Caller,
        case_id: &str,
        answer: &str,
        retention_outcome: i32,
    ) -> Result<v1::Escalation, ApiError> {
        let answer = answer.trim().to_owned();
        if answer.is_empty() {
            return Err(ApiError::invalid("answer", "is required: say what the department found or did"));
        }
        if answer.len() > domain::MAX_CASE_NOTE {
            return Err(ApiError::invalid("answer", format!("must be at most {} bytes", domain::MAX_CASE_NOTE)));
        }
        let outcome = match retention_outcome {
            0 => None,
            number => Some(departments::retention_name(number).ok_or_else(|| {
                ApiError::invalid("retention_outcome", format!("{number} is not a RetentionOutcome"))
            })?),
        };
        let changed = self
            .change(caller, case_id, 0, |row, seen| {
                let Some(open) = &seen.open_escalation else {
                    return Err(ApiError::FailedPrecondition(format!(
                        "case {} has no open escalation to answer",
                        row.id
                    )));
                };
                let from = stored_status(row)?;
                let answered = escalation::Model {
                    state: v1::EscalationState::Answered.into(),
                    answer: answer.clone(),
                    answered_by: seen.actor.clone(),
                    ended_at: Some(seen.now),
                    ..open.clone()
                };
                end_escalation(row, open, seen.now);
                // Back to its agent: the one who has it, or the one who escalated it.
                let moved = (from == Status::PendingDepartment).then_some((from, Status::Open));
                if moved.is_some() {
                    row.status = Status::Open.as_str().to_owned();
                }
                if row.assignee.is_empty() {
                    row.assignee = open.escalated_by.clone();
                }
                let draft = Draft {
                    text: answer.clone(),
                    department: open.department.clone(),
                    moved,
                    assignee: row.assignee.clone(),
                    ..Draft::of(v1::CaseTimelineKind::EscalationAnswered)
                };
                let mut change = Change::new(v1::CaseEventKind::EscalationAnswered, draft);
                if let Some(outcome) = outcome {
                    row.retention_outcome = retention_outcome;
                    change.more.push(Draft {
                        text: outcome.to_owned(),
                        department: open.department.clone(),
                        ..Draft::of(v1::CaseTimelineKind::RetentionRecorded)
                    });
                }
                change.escalation = Some((answered, false));
                Ok(Some(change))
            })
            .await?;
        changed.escalation.ok_or_else(|| ApiError::internal("the escalation answered was not returned"))
    }

    /// Records what came of keeping the customer of case `case_id`.
    pub async fn record_retention(
        &self,
        caller: &Caller,
        case_id: &str,
        outcome: i32,
        note: &str,
        expected_version: u64,
    ) -> Result<v1::Case, ApiError> {
        let name = departments::retention_name(outcome)
            .ok_or_else(|| ApiError::invalid("outcome", "is required: PENDING, SAVED or LOST"))?;
        let note = note.trim().to_owned();
        if note.len() > domain::MAX_REASON {
            return Err(ApiError::invalid("note", format!("must be at most {} bytes", domain::MAX_REASON)));
        }
        let changed = self
            .change(caller, case_id, expected_version, |row, _| {
                if row.retention_outcome == outcome && note.is_empty() {
                    return Ok(None);
                }
                row.retention_outcome = outcome;
                let draft = Draft {
                    text: name.to_owned(),
                    reason: note.clone(),
                    ..Draft::of(v1::CaseTimelineKind::RetentionRecorded)
                };
                Ok(Some(Change::new(v1::CaseEventKind::RetentionRecorded, draft)))
            })
            .await?;
        Ok(changed.case)
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
        let now = self.clock.now();
        let entry = timeline::insert(&txn, draft.into_row(tenant.as_str(), &case_id, &caller.actor, now, 0))
            .await
            .context("recording the note")?;
        let entry = timeline::to_proto(entry);
        let case = with_interactions(&txn, tenant, row).await?;
        let event = v1::CaseEvent {
            kind: v1::CaseEventKind::NoteAdded.into(),
            case: Some(case),
            entry: Some(entry.clone()),
            ..Default::default()
        };
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
        Ok(page.fit(rows.into_iter().map(timeline::to_proto).collect(), |entry| entry.id.as_str()))
    }

    /// Applies `apply` to case `id` as read, if it is at `expected_version` (0: any), in one
    /// transaction of its own (see [`apply_change`]), and publishes the change.
    ///
    /// A caller who named a version loses a race with `ABORTED`; one who did not (0) asked for
    /// the change on the case as it is, so a lost race is retried on a fresh read, where
    /// `apply` judges the case anew (a second resolve then finds it resolved).
    async fn change(
        &self,
        caller: &Caller,
        id: &str,
        expected_version: u64,
        mut apply: impl FnMut(&mut case::Model, &Seen) -> Result<Option<Change>, ApiError>,
    ) -> Result<Changed, ApiError> {
        let id = parse_id("id", id)?;
        let tenant = &caller.tenant;
        for _ in 0..MAX_CHANGE_ATTEMPTS {
            let txn = self.db.begin().await.context("starting a transaction")?;
            let now = self.clock.now();
            match apply_change(&txn, tenant, &caller.actor, &id, expected_version, now, &mut apply).await? {
                Attempt::Unchanged(case) => return Ok(Changed { case: *case, promise: None, escalation: None }),
                Attempt::Changed(event) => {
                    outbox::enqueue(&txn, streams::CASES_EVENTS, &envelope(SERVICE, tenant, event.as_ref())).await?;
                    txn.commit().await.context("committing the change")?;
                    self.relay.wake();
                    let v1::CaseEvent { case, promise, escalation, .. } = *event;
                    let case = case.ok_or_else(|| ApiError::internal("a change without its case"))?;
                    return Ok(Changed { case, promise, escalation });
                }
                Attempt::Lost if expected_version == 0 => {}
                Attempt::Lost => break,
            }
        }
        Err(ApiError::Aborted(format!("case {id} was changed meanwhile: read it again and retry")))
    }
}

/// Applies `apply` to case `id` of `tenant` as read on `conn` (a transaction the caller
/// commits), by `actor` at `now`: checks the version the caller read (`expected_version`, 0:
/// any), bumps it, saves the case only if nobody changed it meanwhile, saves the promises the
/// change touched (and the case's count of open ones), records the timeline entries and
/// returns the event for the caller to publish. `apply` answering `None` changed nothing.
pub async fn apply_change<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    actor: &str,
    id: &str,
    expected_version: u64,
    now: DateTime<Utc>,
    apply: &mut impl FnMut(&mut case::Model, &Seen) -> Result<Option<Change>, ApiError>,
) -> Result<Attempt, ApiError> {
    let Some(mut row) = storage::find(conn, tenant.as_str(), id).await.context("reading the case")? else {
        return Err(ApiError::not_found("case", id));
    };
    domain::check_version(id, row.version, expected_version)?;
    let open_promises =
        promises::open_on_case(conn, tenant.as_str(), id).await.context("reading the case's promises")?;
    let open_escalation =
        departments::open_on_case(conn, tenant.as_str(), id).await.context("reading the case's escalation")?;
    let seen = Seen { now, actor: actor.to_owned(), open_promises, open_escalation };
    let read = row.version;
    let status_before = row.status.clone();
    let Some(change) = apply(&mut row, &seen)? else {
        return Ok(Attempt::Unchanged(Box::new(with_interactions(conn, tenant, row).await?)));
    };
    count_open_promises(&mut row, &seen.open_promises, &change.promises);
    row.version = read + 1;
    row.updated_at = now;
    // Conditional on the version read, so of two concurrent changes only one wins.
    if !storage::update_changed(conn, &row, read).await.context("saving the case")? {
        return Ok(Attempt::Lost);
    }
    for (promise, is_new) in change.promises {
        promises::save(conn, promise, is_new).await.context("saving the promise")?;
    }
    if let Some((escalation, is_new)) = &change.escalation {
        departments::save_escalation(conn, escalation.clone(), *is_new).await.context("saving the escalation")?;
    }
    let moved = crate::clocks::effect_of_move(&status_before, &row.status);
    for effect in moved.into_iter().chain(change.clocks) {
        crate::clocks::apply(conn, &row, effect, now).await.context("updating the SLA clocks")?;
    }
    let entry = change.draft.into_row(tenant.as_str(), id, actor, now, row.version);
    let entry = timeline::to_proto(timeline::insert(conn, entry).await.context("recording the change")?);
    let more = change.more.into_iter().map(|draft| draft.into_row(tenant.as_str(), id, actor, now, row.version));
    timeline::insert_many(conn, more.collect()).await.context("recording the change")?;
    let case = with_interactions(conn, tenant, row).await?;
    let kind = change.event;
    tracing::info!(case_id = %case.id, version = case.version, actor, change = kind.as_str_name(), "case changed");
    Ok(Attempt::Changed(Box::new(v1::CaseEvent {
        kind: kind.into(),
        case: Some(case),
        entry: Some(entry),
        promise: change.promise.map(promises::to_proto),
        escalation: change.escalation.map(|(escalation, _)| departments::escalation_to_proto(escalation, now)),
        clock: None,
    })))
}

/// Sets `row`'s count of open promises and the soonest due time from those it had (`before`)
/// and those the change saves (`saved`).
fn count_open_promises(row: &mut case::Model, before: &[promise::Model], saved: &[(promise::Model, bool)]) {
    let open = promises::open_state();
    let untouched = before.iter().filter(|promise| !saved.iter().any(|(touched, _)| touched.id == promise.id));
    let due: Vec<DateTime<Utc>> = untouched
        .chain(saved.iter().map(|(promise, _)| promise))
        .filter(|promise| promise.state == open)
        .map(|promise| promise.due_at)
        .collect();
    row.open_promises = i32::try_from(due.len()).unwrap_or(i32::MAX);
    row.next_promise_due_at = due.into_iter().min();
}

/// `open` settled as `state` (kept or released) with `note`, by reply `reply_id` if one kept
/// it: the change to save, record and announce.
pub fn settle(open: &promise::Model, state: v1::PromiseState, note: &str, reply_id: &str, seen: &Seen) -> Change {
    let settled = promise::Model {
        state: state.into(),
        settled_at: Some(seen.now),
        settled_by: seen.actor.clone(),
        note: note.to_owned(),
        reply_id: if reply_id.is_empty() { open.reply_id.clone() } else { reply_id.to_owned() },
        ..open.clone()
    };
    let (event, kind) = match state {
        v1::PromiseState::Released => (v1::CaseEventKind::PromiseReleased, v1::CaseTimelineKind::PromiseReleased),
        _ => (v1::CaseEventKind::PromiseKept, v1::CaseTimelineKind::PromiseKept),
    };
    let draft = Draft {
        reason: note.to_owned(),
        text: settled.what.clone(),
        promise_id: settled.id.clone(),
        reply_id: settled.reply_id.clone(),
        ..Draft::of(kind)
    };
    let mut change = Change::new(event, draft);
    change.promises.push((settled.clone(), false));
    change.promise = Some(settled);
    change
}

/// Releases every open promise of case `id` for `reason` as part of `change` (a resolution or
/// a closing); refuses, listing them, when no reason is given.
fn release_all(id: &str, seen: &Seen, reason: &str, change: &mut Change) -> Result<(), ApiError> {
    if reason.is_empty() {
        let listed: Vec<String> = seen
            .open_promises
            .iter()
            .map(|open| format!("{} {:?} due {}", open.id, open.what, open.due_at.to_rfc3339()))
            .collect();
        return Err(ApiError::FailedPrecondition(format!(
            "case {id} has {} open promise(s): {}; keep them (KeepPromise) or say why they are released \
             (release_promises_reason)",
            listed.len(),
            listed.join("; ")
        )));
    }
    for open in &seen.open_promises {
        let released = settle(open, v1::PromiseState::Released, reason, "", seen);
        change.more.push(released.draft);
        change.promises.extend(released.promises);
    }
    Ok(())
}

/// Counts the time of `open`, ending at `now`, on `row`, which no longer waits for its department.
fn end_escalation(row: &mut case::Model, open: &escalation::Model, now: DateTime<Utc>) {
    row.department_seconds += departments::seconds_between(open.escalated_at, now);
    row.department = String::new();
}

/// The refusal to settle a promise that was settled the other way.
fn already_settled(stored: &promise::Model) -> ApiError {
    let state = v1::PromiseState::try_from(stored.state).unwrap_or(v1::PromiseState::Unspecified);
    let state = state.as_str_name().trim_start_matches("PROMISE_STATE_").to_lowercase();
    ApiError::FailedPrecondition(format!("promise {} is {state} already", stored.id))
}

/// Case `row` in the contract's terms, with its interactions.
pub async fn with_interactions<C: sea_orm::ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    row: case::Model,
) -> Result<v1::Case, ApiError> {
    let mut interactions = storage::interaction_ids(conn, tenant.as_str(), &[row.id.as_str()])
        .await
        .context("reading case interactions")?;
    let interaction_ids = interactions.remove(&row.id).unwrap_or_default();
    let clocks = crate::clocks::of_case(conn, tenant.as_str(), &row.id).await.context("reading the SLA clocks")?;
    let mut case = case_to_proto(row, interaction_ids);
    case.sla_clocks = clocks.iter().map(crate::clocks::to_proto).collect();
    Ok(case)
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
        open_promises: u32::try_from(row.open_promises).unwrap_or(0),
        next_promise_due_at: row.next_promise_due_at.map(to_timestamp),
        department: row.department,
        department_seconds: u64::try_from(row.department_seconds).unwrap_or(0),
        retention_outcome: row.retention_outcome,
        sla_clocks: Vec::new(),
        incident_id: row.incident_id,
    }
}
