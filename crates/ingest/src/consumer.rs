//! Consumes `customers.erased`: anonymises the erased customers' interactions.

use async_trait::async_trait;
use tend_proto::v1;
use tend_store::{DbContext as _, Effects, Event, EventHandler, HandleError};

use crate::domain;
use crate::storage;

/// Anonymises the interactions of erased customers' profiles (right to erasure).
pub struct EraseAuthors;

#[async_trait]
impl EventHandler for EraseAuthors {
    type Payload = v1::CustomerErased;

    async fn handle(
        &self,
        effects: &mut Effects<'_>,
        events: &[&Event<v1::CustomerErased>],
    ) -> Result<(), HandleError> {
        for event in events {
            let authors = domain::erased_authors(&event.payload);
            let mut interactions = Vec::new();
            for author in &authors {
                interactions.extend(
                    storage::anonymise_author(effects.db(), event.tenant.as_str(), author.channel, &author.external_id)
                        .await
                        .context("anonymising interactions")?,
                );
            }
            // Notices still queued for them are given up on (a notice never reaches the erased).
            let notices =
                crate::replies::erase_notices(effects.db(), event.tenant.as_str(), &event.payload.customer_id)
                    .await
                    .context("erasing notices")?;
            // Counts only: nothing about the person is logged.
            tracing::info!(event_id = %event.id, profiles = authors.len(), interactions = interactions.len(), notices, "erased customer: interactions anonymised");
            // The events that carried these interactions go from the streams too.
            effects.erased(event, interactions);
        }
        Ok(())
    }
}
