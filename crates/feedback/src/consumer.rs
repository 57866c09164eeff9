//! Consumes `cases.events`: keeps what feedback needs to know of each case.

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
