//! Feedback's consumers: `cases.events` (what feedback needs to know of each case),
//! `interactions.routed` (every decision routing made, work or not) and `customers.erased` (the
//! right to erasure).

use async_trait::async_trait;
use tend_kernel::ids::{from_timestamp, parse_id};
use tend_proto::v1;
use tend_store::events::ErasedPeople;
use tend_store::{DbContext as _, Effects, Event, EventHandler, HandleError};

use crate::report;
use crate::storage::routed::{self, Erased, Routed, routed_fact, testimonial_candidate};
use crate::storage::{self, case_fact};

/// Records case openings and resolutions; and for each case opened, the routed fact of the
/// interaction that opened it: routing publishes `interactions.routed` only for the decisions
/// that open no case, so that the many that do cross one stream, not two.
pub struct RecordCaseFacts;

#[async_trait]
impl EventHandler for RecordCaseFacts {
    type Payload = v1::CaseEvent;

    async fn handle(&self, effects: &mut Effects<'_>, events: &[&Event<v1::CaseEvent>]) -> Result<(), HandleError> {
        let mut rows = Vec::with_capacity(events.len());
        let mut routed_rows = Vec::new();
        let mut interactions = Vec::new();
        for event in events {
            let row = case_fact(event)?;
            if event.payload.kind() == v1::CaseEventKind::Opened
                && let Some(routed) = opened_fact(event, &row)
            {
                if let Some(case) = &event.payload.case {
                    let fact = report::opening_interaction(&row.tenant, case, row.opened_at);
                    interactions.push((routed.fact.interaction_id.clone(), fact));
                }
                routed_rows.push(routed);
            }
            rows.push(row);
        }
        storage::record(effects.db(), rows).await.context("recording case facts")?;
        if !routed_rows.is_empty() {
            let fresh = routed::record(effects.db(), routed_rows).await.context("recording routed facts")?;
            report::record_interactions(effects.db(), interactions, &fresh).await.context("rolling up interactions")?;
        }
        report::record_case_events(effects.db(), events).await.context("rolling up case facts")?;
        Ok(())
    }
}

/// The routed fact of the interaction that opened the case of `event` (work, by definition):
/// `None` for a case without an opening interaction (none is opened so).
fn opened_fact(event: &Event<v1::CaseEvent>, fact: &case_fact::Model) -> Option<Routed> {
    let case = event.payload.case.as_ref()?;
    let interaction_id = case.interaction_ids.first()?.clone();
    let routing = case.routing.as_ref();
    Some(Routed {
        fact: routed_fact::Model {
            tenant: fact.tenant.clone(),
            interaction_id,
            decided_at: fact.opened_at,
            channel: case.channel,
            actionable: true,
            not_actionable_reason: String::new(),
            queue: routing.map(|routing| routing.queue.clone()).unwrap_or_default(),
            priority: i32::try_from(case.priority.min(100)).unwrap_or(100),
            intents: case.intents.iter().map(i32::to_string).collect::<Vec<_>>().join(","),
            topics: case.topics.join(","),
            sentiment: case.sentiment,
            customer_id: case.customer_id.clone(),
            segment: routing.map(|routing| routing.segment.clone()).unwrap_or_default(),
            lifetime_value: routing.map_or(0.0, |routing| finite(routing.lifetime_value)),
            churn_risk: routed::is_churn_risk(&case.intents),
        },
        candidate: None,
    })
}

/// `value`, or 0 when it is not a finite number (a CRM may send anything).
fn finite(value: f64) -> f64 {
    if value.is_finite() { value } else { 0.0 }
}

/// What feedback keeps of the case in `event`; an event without a valid case is poison.
fn case_fact(event: &Event<v1::CaseEvent>) -> Result<case_fact::Model, HandleError> {
    let Some(case) = &event.payload.case else {
        return Err(HandleError::poison(event, "the event carries no case"));
    };
    let poison = |field: &str| HandleError::poison(event, format!("case {} has no valid {field}", case.id));
    let opened_at = case.opened_at.as_ref().ok_or_else(|| poison("opened_at"))?;
    let opened_at = from_timestamp("opened_at", opened_at).map_err(|_| poison("opened_at"))?;
    let resolved_at = match &case.resolved_at {
        Some(at) => Some(from_timestamp("resolved_at", at).map_err(|_| poison("resolved_at"))?),
        None => None,
    };
    Ok(case_fact::Model { case_id: case.id.clone(), tenant: event.tenant.as_str().to_owned(), opened_at, resolved_at })
}

/// Records routing's decisions: one fact per interaction (work or not, with the reason when
/// not, its queue, priority, intents, topics and sentiment) and a testimonial candidate for
/// each one enrichment found praise in, in a few statements per batch.
///
/// Idempotent twice over: the skeleton's inbox drops a redelivered event, and the tables are
/// keyed by (tenant, interaction id), so a decision published again under another event id (a
/// replay) counts once.
pub struct RecordRoutedFacts;

#[async_trait]
impl EventHandler for RecordRoutedFacts {
    type Payload = v1::InteractionRouted;

    async fn handle(
        &self,
        effects: &mut Effects<'_>,
        events: &[&Event<v1::InteractionRouted>],
    ) -> Result<(), HandleError> {
        let mut rows = Vec::with_capacity(events.len());
        let mut interactions = Vec::with_capacity(events.len());
        for event in events {
            let row = routed_row(event)?;
            let fact = report::routed_interaction(&row.fact.tenant, &event.payload, row.fact.decided_at);
            interactions.push((row.fact.interaction_id.clone(), fact));
            rows.push(row);
        }
        let fresh = routed::record(effects.db(), rows).await.context("recording routed facts")?;
        report::record_interactions(effects.db(), interactions, &fresh).await.context("rolling up interactions")?;
        tracing::debug!(events = events.len(), recorded = fresh.len(), "routed facts recorded");
        Ok(())
    }
}

/// What feedback keeps of the decision in `event` (ids, labels and times, never text); an event
/// without a decision on a valid interaction id, or without a time, is poison.
fn routed_row(event: &Event<v1::InteractionRouted>) -> Result<Routed, HandleError> {
    let routed = &event.payload;
    let Some(decision) = &routed.decision else {
        return Err(HandleError::poison(event, "the event carries no decision"));
    };
    let interaction_id = parse_id("interaction_id", &decision.interaction_id)
        .map_err(|_| HandleError::poison(event, "the decision has no valid interaction_id"))?;
    // The decision's time; the reception's for a decision that carries none.
    let at = decision.decided_at.as_ref().or(routed.received_at.as_ref());
    let at = at.ok_or_else(|| HandleError::poison(event, format!("decision {interaction_id} has no time")))?;
    let decided_at = from_timestamp("decided_at", at)
        .map_err(|_| HandleError::poison(event, format!("decision {interaction_id} has no valid time")))?;
    let tenant = event.tenant.as_str().to_owned();
    let intents: Vec<String> = routed.intents.iter().map(i32::to_string).collect();
    let fact = routed_fact::Model {
        tenant: tenant.clone(),
        interaction_id: interaction_id.clone(),
        decided_at,
        channel: routed.channel,
        actionable: decision.actionable,
        not_actionable_reason: decision.not_actionable_reason.clone(),
        queue: decision.outcome.as_ref().map(|outcome| outcome.queue.clone()).unwrap_or_default(),
        // 0 to 100 by contract; the highest for anything above.
        priority: i32::try_from(decision.priority.min(100)).unwrap_or(100),
        intents: intents.join(","),
        topics: routed.topics.join(","),
        sentiment: routed.sentiment,
        customer_id: routed.customer_id.clone(),
        segment: decision.outcome.as_ref().map(|outcome| outcome.segment.clone()).unwrap_or_default(),
        lifetime_value: decision.outcome.as_ref().map_or(0.0, |outcome| finite(outcome.lifetime_value)),
        churn_risk: routed::is_churn_risk(&routed.intents),
    };
    let candidate = routed.testimonial_candidate.then(|| testimonial_candidate::Model {
        tenant,
        interaction_id,
        profile_id: routed.profile_id.clone(),
        customer_id: routed.customer_id.clone(),
        channel: routed.channel,
        proposed_at: decided_at,
        state: routed::CANDIDATE.to_owned(),
    });
    Ok(Routed { fact, candidate })
}

/// Honours `customers.erased` (right to erasure).
///
/// Testimonial candidates name people (by id: the author's `profile_id` and the linked
/// `customer_id`): the handler deletes those of the erased customer and of each erased profile,
/// scoped by each event's tenant, in the batch's transaction and a statement per hundred
/// erasures. `routed_facts` keep the linked customer's id and CRM value for the insights export:
/// both are blanked, and the facts stay as anonymous counts. `case_facts` hold ids of cases,
/// and times only. A redelivered erasure finds nothing more to change.
///
/// Surveys sent to them, their opt-outs and frequency-cap rows are deleted (their links answer
/// NOT_FOUND); their responses stay for the reports with the comment and their ids blanked.
///
/// Their testimonials (quote, names, consent) are deleted, which takes them out of every
/// published output at once (the published version moves, so cached lists are refreshed).
///
/// **Whoever adds personal data to feedback erases it here** too: anything keyed by the erased
/// `customer_id` or one of the erased profiles' `profile_id`s.
pub struct EraseCustomers;

#[async_trait]
impl EventHandler for EraseCustomers {
    type Payload = v1::CustomerErased;

    async fn handle(
        &self,
        effects: &mut Effects<'_>,
        events: &[&Event<v1::CustomerErased>],
    ) -> Result<(), HandleError> {
        let erased: Vec<Erased> = events
            .iter()
            .map(|event| Erased::new(event.tenant.as_str(), ErasedPeople::from_event(&event.payload)))
            .collect();
        let candidates =
            routed::erase_candidates(effects.db(), &erased).await.context("erasing testimonial candidates")?;
        let facts = routed::erase_facts(effects.db(), &erased).await.context("erasing customers from routed facts")?;
        let surveys = crate::surveys::storage::erase(effects.db(), &erased).await.context("erasing surveys")?;
        let testimonials =
            crate::testimonials::storage::erase(effects.db(), &erased).await.context("erasing testimonials")?;
        // Counts only: nothing about the person is logged.
        tracing::info!(
            events = events.len(),
            candidates,
            facts,
            surveys,
            testimonials,
            "erased customers: testimonial candidates, routed facts, surveys and testimonials erased"
        );
        // Lets the database go of the deleted bytes; the ids are recorded by the services that
        // publish events about them.
        if let Some(first) = events.first() {
            effects.erased(first, Vec::new());
        }
        Ok(())
    }
}
