//! Consumes `customers.erased`: erases the personal data on the erased customers' cases.

use async_trait::async_trait;
use tend_proto::v1;
use tend_store::{DbContext as _, Effects, Event, EventHandler, HandleError};

use crate::domain::ErasedPeople;
use crate::storage;

/// Erases erased customers from their cases (right to erasure).
///
/// It publishes nothing on `cases.events`, and that is deliberate: an erasure is not a step in
/// a case's life (routing and feedback have nothing to do about it), and every service that
/// keeps personal data consumes `customers.erased` itself rather than learning of it from
/// cases. Feedback keeps only ids and times from `cases.events`. A `CaseEvent` of the erased
/// case could only carry blanks, and would be one more copy to reason about.
pub struct EraseCustomers;

#[async_trait]
impl EventHandler for EraseCustomers {
    type Payload = v1::CustomerErased;

    async fn handle(
        &self,
        effects: &mut Effects<'_>,
        events: &[&Event<v1::CustomerErased>],
    ) -> Result<(), HandleError> {
        let now = tend_kernel::ids::now();
        for event in events {
            let people = ErasedPeople::from_event(&event.payload);
            let cases = storage::erase_people(effects.db(), event.tenant.as_str(), &people, now)
                .await
                .context("erasing cases")?;
            // Counts only: nothing about the person is logged.
            tracing::info!(event_id = %event.id, profiles = people.profile_ids.len(), cases = cases.len(), "erased customer: cases anonymised");
            // The events that carried these cases (subjects, notes, replies) go from the streams.
            effects.erased(event, cases);
        }
        Ok(())
    }
}
