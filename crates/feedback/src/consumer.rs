//! Feedback's consumers: `cases.events` (what feedback needs to know of each case) and
//! `customers.erased` (the right to erasure).

use async_trait::async_trait;
use tend_kernel::ids::from_timestamp;
use tend_proto::v1;
use tend_store::{DbContext as _, Effects, Event, EventHandler, HandleError};

use crate::storage::{self, case_fact};

/// Records case openings and resolutions.
pub struct RecordCaseFacts;

#[async_trait]
impl EventHandler for RecordCaseFacts {
    type Payload = v1::CaseEvent;

    async fn handle(&self, effects: &mut Effects<'_>, events: &[&Event<v1::CaseEvent>]) -> Result<(), HandleError> {
        let mut rows = Vec::with_capacity(events.len());
        for event in events {
            rows.push(case_fact(event)?);
        }
        storage::record(effects.db(), rows).await.context("recording case facts")?;
        Ok(())
    }
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

/// Honours `customers.erased` (right to erasure).
///
/// Feedback keeps no personal data yet: `case_facts` holds case ids and times only, so there is
/// nothing to erase, and the handler only lets the skeleton record the event in the inbox (so it
/// is acknowledged, never dead-lettered, and handled once). It is a real consumer all the same:
/// the group exists and acknowledges every erasure, and this is where feedback's erasure belongs.
///
/// **Whoever adds personal data to feedback erases it here**, in the batch's transaction, scoped
/// by each event's tenant: survey invitations and responses (recipient address, free-text
/// answers), testimonials (author name, handle, quote, consent record) and anything keyed by
/// the erased `customer_id` or one of the erased profiles' `profile_id`s.
pub struct EraseCustomers;

#[async_trait]
impl EventHandler for EraseCustomers {
    type Payload = v1::CustomerErased;

    async fn handle(
        &self,
        _effects: &mut Effects<'_>,
        events: &[&Event<v1::CustomerErased>],
    ) -> Result<(), HandleError> {
        for event in events {
            // Counts only: nothing about the person is logged.
            tracing::info!(event_id = %event.id, profiles = event.payload.profiles.len(), "erased customer: feedback keeps no personal data yet");
        }
        Ok(())
    }
}
