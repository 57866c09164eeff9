//! Feedback's consumers: `cases.events` (what feedback needs to know of each case) and
//! `customers.erased` (the right to erasure).

use async_trait::async_trait;
use sea_orm::{DatabaseConnection, TransactionTrait};
use tend_kernel::ids::from_timestamp;
use tend_proto::v1;
use tend_queue::HandlerError;
use tend_store::events::{self, EventHandler};
use tend_store::inbox;

use crate::SERVICE;
use crate::storage::{self, case_fact};

/// Records case openings and resolutions.
pub struct RecordCaseFacts {
    db: DatabaseConnection,
}

impl RecordCaseFacts {
    /// A handler over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl EventHandler for RecordCaseFacts {
    async fn handle(&self, envelope: &v1::EventEnvelope) -> Result<(), HandlerError> {
        let tenant = events::tenant(envelope)?;
        let event: v1::CaseEvent = events::payload(envelope)?;
        let Some(case) = event.case else {
            return Err(HandlerError::Poison(format!("event {} carries no case", envelope.event_id)));
        };
        let poison = |field: &str| HandlerError::Poison(format!("case {} has no valid {field}", case.id));
        let opened_at = case.opened_at.as_ref().ok_or_else(|| poison("opened_at"))?;
        let opened_at = from_timestamp("opened_at", opened_at).map_err(|_| poison("opened_at"))?;
        let resolved_at = match &case.resolved_at {
            Some(at) => Some(from_timestamp("resolved_at", at).map_err(|_| poison("resolved_at"))?),
            None => None,
        };
        let row =
            case_fact::Model { case_id: case.id.clone(), tenant: tenant.as_str().to_owned(), opened_at, resolved_at };

        let retry = |error: sea_orm::DbErr| HandlerError::Retry(format!("recording case {}: {error}", case.id));
        let txn = self.db.begin().await.map_err(retry)?;
        let first = inbox::first_delivery(&txn, SERVICE, &envelope.event_id)
            .await
            .map_err(|error| HandlerError::Retry(error.to_string()))?;
        if !first {
            return Ok(());
        }
        storage::upsert(&txn, row).await.map_err(retry)?;
        txn.commit().await.map_err(retry)?;
        Ok(())
    }
}

/// Honours `customers.erased` (right to erasure).
///
/// Feedback keeps no personal data yet: `case_facts` holds case ids and times only, so there is
/// nothing to erase, and the handler only records the event in the inbox (so it is acknowledged,
/// never dead-lettered, and handled once). It is a real consumer all the same: the group
/// exists and acknowledges every erasure, and this is where feedback's erasure belongs.
///
/// **Whoever adds personal data to feedback erases it here**, in the transaction below, scoped
/// by the envelope's tenant: survey invitations and responses (recipient address, free-text
/// answers), testimonials (author name, handle, quote, consent record) and anything keyed by
/// the erased `customer_id` or one of the erased profiles' `profile_id`s.
pub struct EraseCustomers {
    db: DatabaseConnection,
}

impl EraseCustomers {
    /// A handler over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl EventHandler for EraseCustomers {
    async fn handle(&self, envelope: &v1::EventEnvelope) -> Result<(), HandlerError> {
        // A valid tenant is required as everywhere (poison otherwise); erasures here are scoped by it.
        let _tenant = events::tenant(envelope)?;
        let erased: v1::CustomerErased = events::payload(envelope)?;

        let retry =
            |error: sea_orm::DbErr| HandlerError::Retry(format!("recording event {}: {error}", envelope.event_id));
        let txn = self.db.begin().await.map_err(retry)?;
        let first = inbox::first_delivery(&txn, SERVICE, &envelope.event_id)
            .await
            .map_err(|error| HandlerError::Retry(error.to_string()))?;
        if !first {
            tracing::debug!("event already handled");
            return Ok(());
        }
        // Erase the customer's surveys, responses and testimonials here once feedback keeps any.
        txn.commit().await.map_err(retry)?;
        // Counts only: the event's ids are in the span, nothing about the person is logged.
        tracing::info!(profiles = erased.profiles.len(), "erased customer: feedback keeps no personal data yet");
        Ok(())
    }
}
