//! Consumes `customers.erased`: erases the personal data on the erased customer's cases, in one
//! transaction with the inbox mark.

use async_trait::async_trait;
use sea_orm::{DatabaseConnection, TransactionTrait};
use tend_proto::v1;
use tend_queue::HandlerError;
use tend_store::events::{self, EventHandler};
use tend_store::inbox;

use crate::SERVICE;
use crate::domain::ErasedPeople;
use crate::storage;

/// Erases erased customers from their cases (right to erasure).
///
/// It publishes nothing on `cases.events`, and that is deliberate: an erasure is not a step in
/// a case's life (routing and feedback have nothing to do about it), and every service that
/// keeps personal data consumes `customers.erased` itself rather than learning of it from
/// cases. Feedback keeps only ids and times from `cases.events`. A `CaseEvent` of the erased
/// case could only carry blanks, and would be one more copy to reason about.
pub struct EraseCustomers {
    db: DatabaseConnection,
}

impl EraseCustomers {
    /// A handler over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn retry(what: &str) -> impl FnOnce(sea_orm::DbErr) -> HandlerError + '_ {
    move |error| HandlerError::Retry(format!("{what}: {error}"))
}

#[async_trait]
impl EventHandler for EraseCustomers {
    async fn handle(&self, envelope: &v1::EventEnvelope) -> Result<(), HandlerError> {
        let tenant = events::tenant(envelope)?;
        let erased: v1::CustomerErased = events::payload(envelope)?;
        let people = ErasedPeople::from_event(&erased);

        let txn = self.db.begin().await.map_err(retry("starting a transaction"))?;
        let first = inbox::first_delivery(&txn, SERVICE, &envelope.event_id)
            .await
            .map_err(|error| HandlerError::Retry(error.to_string()))?;
        if !first {
            tracing::debug!("event already handled");
            return Ok(());
        }
        let now = tend_kernel::ids::now();
        let cases = storage::erase_people(&txn, tenant.as_str(), &people, now).await.map_err(retry("erasing cases"))?;
        txn.commit().await.map_err(retry("committing"))?;
        // Counts only: the event's ids are in the span, nothing about the person is logged.
        tracing::info!(profiles = people.profile_ids.len(), cases, "erased customer: cases anonymised");
        Ok(())
    }
}
