//! The service report: roll-ups of the care data kept up to date by the consumers, in the
//! transaction of each batch of events, and the report read from them.
//!
//! Each event becomes [`facts::Fact`]s (an opening, an SLA outcome, a resolution, a promise
//! kept...), each keyed so that it counts once; a batch's facts are summed in memory and added
//! to per-hour and per-day rows of counters and log-scale histograms, for the whole tenant and
//! for each dimension value ([`storage`]). A report over any window sums the daily rows of its
//! whole days and the hourly rows at its ends: a year is about 365 rows a value.
//!
//! Survey scores (CSAT, NPS, CES) join as one more fact kind through
//! [`record_survey_scores`], which whoever records survey responses calls in the transaction
//! that stores them.

pub mod facts;
pub mod histogram;
mod read;
pub mod storage;

use sea_orm::{ConnectionTrait, DbErr};
use tend_proto::v1;
use tend_store::Event;

pub use facts::{Dims, SurveyKind, SurveyScore};
pub use read::{Figures, detailed, figures_by_value};

/// Adds what `events` say to the roll-ups (each fact once), in the caller's transaction.
pub async fn record_case_events<C: ConnectionTrait>(
    conn: &C,
    events: &[&Event<v1::CaseEvent>],
) -> Result<usize, DbErr> {
    let facts: Vec<facts::Fact> =
        events.iter().flat_map(|event| facts::case_facts(event.tenant.as_str(), &event.payload)).collect();
    storage::record(conn, facts).await
}

/// **The survey hook**: adds survey scores to the roll-ups (each response once, by its id), in
/// the caller's transaction. The service report's and the initiative report's CSAT, NPS and
/// CES read what this records.
pub async fn record_survey_scores<C: ConnectionTrait>(conn: &C, scores: &[SurveyScore]) -> Result<usize, DbErr> {
    storage::record(conn, scores.iter().map(facts::survey_fact).collect()).await
}

/// The interaction facts of the routed interactions among `routed` that `fresh` says were
/// recorded for the first time (by tenant and interaction id), added to the roll-ups.
pub async fn record_interactions<C: ConnectionTrait>(
    conn: &C,
    routed: Vec<(String, facts::Fact)>,
    fresh: &std::collections::HashSet<(String, String)>,
) -> Result<usize, DbErr> {
    let facts = routed
        .into_iter()
        .filter(|(interaction_id, fact)| fresh.contains(&(fact.tenant.clone(), interaction_id.clone())))
        .map(|(_, fact)| fact)
        .collect();
    storage::record(conn, facts).await
}

/// The interaction fact of a decision on `interactions.routed`, at `decided_at`.
pub fn routed_interaction(
    tenant: &str,
    routed: &v1::InteractionRouted,
    decided_at: chrono::DateTime<chrono::Utc>,
) -> facts::Fact {
    let outcome = routed.decision.as_ref().and_then(|decision| decision.outcome.as_ref());
    facts::interaction_fact(
        tenant,
        decided_at,
        routed.channel,
        outcome,
        &routed.topics,
        &routed.intents,
        routed.sentiment,
    )
}

/// The interaction fact of the interaction that opened `case`, at `opened_at`.
pub fn opening_interaction(tenant: &str, case: &v1::Case, opened_at: chrono::DateTime<chrono::Utc>) -> facts::Fact {
    facts::interaction_fact(
        tenant,
        opened_at,
        case.channel,
        case.routing.as_ref(),
        &case.topics,
        &case.intents,
        case.sentiment,
    )
}

#[cfg(test)]
pub(crate) mod tests;
