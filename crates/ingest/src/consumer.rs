//! Consumes `customers.erased`: anonymises the erased customer's interactions, in one
//! transaction with the inbox mark.

use async_trait::async_trait;
use sea_orm::{DatabaseConnection, TransactionTrait};
use tend_proto::v1;
use tend_queue::HandlerError;
use tend_store::events::{self, EventHandler};
use tend_store::inbox;

use crate::SERVICE;
use crate::domain;
use crate::storage;

/// Anonymises the interactions of erased customers' profiles (right to erasure).
pub struct EraseAuthors {
    db: DatabaseConnection,
}

impl EraseAuthors {
    /// A handler over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn retry(what: &str) -> impl FnOnce(sea_orm::DbErr) -> HandlerError + '_ {
    move |error| HandlerError::Retry(format!("{what}: {error}"))
}

#[async_trait]
impl EventHandler for EraseAuthors {
    async fn handle(&self, envelope: &v1::EventEnvelope) -> Result<(), HandlerError> {
        let tenant = events::tenant(envelope)?;
        let erased: v1::CustomerErased = events::payload(envelope)?;
        let authors = domain::erased_authors(&erased);

        let txn = self.db.begin().await.map_err(retry("starting a transaction"))?;
        let first = inbox::first_delivery(&txn, SERVICE, &envelope.event_id)
            .await
            .map_err(|error| HandlerError::Retry(error.to_string()))?;
        if !first {
            tracing::debug!("event already handled");
            return Ok(());
        }
        let mut interactions = 0;
        for author in &authors {
            interactions += storage::anonymise_author(&txn, tenant.as_str(), author.channel, &author.external_id)
                .await
                .map_err(retry("anonymising interactions"))?;
        }
        txn.commit().await.map_err(retry("committing"))?;
        // Counts only: the event's ids are in the span, nothing about the person is logged.
        tracing::info!(profiles = authors.len(), interactions, "erased customer: interactions anonymised");
        Ok(())
    }
}
