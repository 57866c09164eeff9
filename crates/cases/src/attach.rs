//! One case per conversation: an interaction whose customer already has a case joins it
//! instead of opening another. The case of the same thread comes first, then the customer's,
//! then the profile's, changed within `cases.attach_window`; a resolved one is reopened. An
//! interaction already on a case (a retried open) finds that case again.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use tend_kernel::{ApiError, TenantId};
use tend_proto::v1;
use tend_store::DbContext as _;

use crate::domain::Status;
use crate::lifecycle::{self, Attempt, Change, Seen};
use crate::storage::{self, case};
use crate::timeline::Draft;

/// How often joining a case that keeps changing under it is tried before giving up.
const ATTEMPTS: usize = 5;

/// An interaction about to open a case, as far as joining is concerned.
pub struct Candidate<'a> {
    /// The interaction.
    pub interaction_id: &'a str,
    /// Its conversation (`{channel}:{thread}`), "" if none.
    pub thread: &'a str,
    /// Its customer, "" if unknown.
    pub customer_id: &'a str,
    /// Its author's profile, "" if unknown.
    pub profile_id: &'a str,
    /// It must open a case of its own.
    pub new_case: bool,
}

/// Where an interaction went instead of a new case.
pub struct Joined {
    /// The case, as it is now.
    pub case: v1::Case,
    /// Whether the interaction was added to it now (false: it was on it already).
    pub added: Option<Box<v1::CaseEvent>>,
}

/// For each of `candidates`, the case it is on already or joins now (within `window` if
/// given), or `None` to open a new one. Runs on `conn`, the caller's transaction; the events
/// of the joins are returned for the caller to publish.
pub async fn join<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    actor: &str,
    window: Option<chrono::Duration>,
    now: DateTime<Utc>,
    candidates: &[Candidate<'_>],
) -> Result<Vec<Option<Joined>>, ApiError> {
    let mut joined: Vec<Option<Joined>> = candidates.iter().map(|_| None).collect();
    let interaction_ids: Vec<&str> = candidates.iter().map(|candidate| candidate.interaction_id).collect();
    let held = storage::cases_holding(conn, tenant.as_str(), &interaction_ids).await.context("finding cases")?;
    for (slot, candidate) in candidates.iter().enumerate() {
        if let Some(case_id) = held.get(candidate.interaction_id) {
            let row = storage::find(conn, tenant.as_str(), case_id).await.context("reading the case")?;
            let row = row.ok_or_else(|| ApiError::internal(format!("case {case_id} of an interaction vanished")))?;
            joined[slot] = Some(Joined { case: lifecycle::with_interactions(conn, tenant, row).await?, added: None });
        }
    }
    let Some(window) = window else { return Ok(joined) };
    let open: Vec<usize> =
        (0..candidates.len()).filter(|slot| joined[*slot].is_none() && !candidates[*slot].new_case).collect();
    if open.is_empty() {
        return Ok(joined);
    }
    let threads: Vec<&str> = open.iter().map(|slot| candidates[*slot].thread).collect();
    let customers: Vec<&str> = open.iter().map(|slot| candidates[*slot].customer_id).collect();
    let profiles: Vec<&str> = open.iter().map(|slot| candidates[*slot].profile_id).collect();
    let cases = storage::joinable(conn, tenant.as_str(), &threads, &customers, &profiles, now - window)
        .await
        .context("finding the customers' cases")?;
    for slot in open {
        let candidate = &candidates[slot];
        let Some(case_id) = best_match(&cases, candidate) else { continue };
        joined[slot] = Some(add(conn, tenant, actor, &case_id, candidate.interaction_id, now).await?);
    }
    Ok(joined)
}

/// The case `candidate` joins among `cases` (newest change first): its thread's, else its
/// customer's, else its profile's; of each, one still being worked on before a resolved one.
fn best_match(cases: &[case::Model], candidate: &Candidate<'_>) -> Option<String> {
    let resolved = Status::Resolved.as_str();
    let same = |value: &str, of: fn(&case::Model) -> &str| {
        if value.is_empty() {
            return None;
        }
        let mut matching = cases.iter().filter(|case| of(case) == value);
        let first = matching.clone().find(|case| case.status != resolved);
        first.or_else(|| matching.next())
    };
    same(candidate.thread, |case| &case.thread)
        .or_else(|| same(candidate.customer_id, |case| &case.customer_id))
        .or_else(|| same(candidate.profile_id, |case| &case.profile_id))
        .map(|case| case.id.clone())
}

/// Adds `interaction_id` to case `case_id`, reopening it if it was resolved.
async fn add<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    actor: &str,
    case_id: &str,
    interaction_id: &str,
    now: DateTime<Utc>,
) -> Result<Joined, ApiError> {
    if !storage::link(conn, tenant.as_str(), case_id, interaction_id, now).await.context("adding the interaction")? {
        // A concurrent open of the same interaction put it on a case first: that is its case.
        let held =
            storage::cases_holding(conn, tenant.as_str(), &[interaction_id]).await.context("finding the case")?;
        let holder = held.get(interaction_id).map_or(case_id, String::as_str);
        let row = storage::find(conn, tenant.as_str(), holder).await.context("reading the case")?;
        let row = row.ok_or_else(|| ApiError::internal(format!("case {holder} of an interaction vanished")))?;
        return Ok(Joined { case: lifecycle::with_interactions(conn, tenant, row).await?, added: None });
    }
    let mut apply = |row: &mut case::Model, _: &Seen| {
        let from = Status::parse(&row.status).unwrap_or(Status::Open);
        // A resolved case is reopened; one waiting for the customer has their answer.
        let moved = match from {
            Status::Resolved => Some((from, Status::Reopened)),
            Status::PendingCustomer => Some((from, Status::Open)),
            _ => None,
        };
        if let Some((_, to)) = moved {
            row.status = to.as_str().to_owned();
        }
        if from == Status::Resolved {
            row.resolved_at = None;
            row.resolution_note = None;
        }
        let draft = Draft {
            interaction_id: interaction_id.to_owned(),
            moved,
            ..Draft::of(v1::CaseTimelineKind::InteractionAdded)
        };
        let mut change = Change::new(v1::CaseEventKind::InteractionAdded, draft);
        change.clocks = Some(crate::clocks::Effect::CustomerWrote);
        Ok(Some(change))
    };
    for _ in 0..ATTEMPTS {
        match lifecycle::apply_change(conn, tenant, actor, case_id, 0, now, &mut apply).await? {
            Attempt::Changed(event) => {
                let case = event.case.clone().ok_or_else(|| ApiError::internal("a change without its case"))?;
                return Ok(Joined { case, added: Some(event) });
            }
            Attempt::Unchanged(case) => return Ok(Joined { case: *case, added: None }),
            Attempt::Lost => {}
        }
    }
    Err(ApiError::Aborted(format!("case {case_id} kept changing while an interaction joined it; retry")))
}
