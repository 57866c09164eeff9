//! Consumes `interactions.received`: records the author's profile and publishes
//! `interactions.identified`, in one transaction with the inbox mark.

use async_trait::async_trait;
use sea_orm::{DatabaseConnection, TransactionTrait};
use tend_kernel::ids::new_id;
use tend_proto::v1;
use tend_queue::HandlerError;
use tend_store::events::{self, EventHandler, streams};
use tend_store::{OutboxWaker, inbox, outbox};

use crate::SERVICE;
use crate::api::profile_to_proto;
use crate::domain::{LinkMethod, LinkStatus};
use crate::linking;
use crate::storage::{self, link_event, profile};

/// Identifies the authors of received interactions.
pub struct IdentifyAuthors {
    db: DatabaseConnection,
    relay: OutboxWaker,
}

impl IdentifyAuthors {
    /// A handler over `db`, waking `relay` after each commit.
    pub fn new(db: DatabaseConnection, relay: OutboxWaker) -> Self {
        Self { db, relay }
    }
}

fn retry(what: &str) -> impl FnOnce(sea_orm::DbErr) -> HandlerError + '_ {
    move |error| HandlerError::Retry(format!("{what}: {error}"))
}

#[async_trait]
impl EventHandler for IdentifyAuthors {
    async fn handle(&self, envelope: &v1::EventEnvelope) -> Result<(), HandlerError> {
        let tenant = events::tenant(envelope)?;
        let received: v1::InteractionReceived = events::payload(envelope)?;
        let Some(interaction) = received.interaction else {
            return Err(HandlerError::Poison(format!("event {} carries no interaction", envelope.event_id)));
        };
        let Some(author) = interaction.author.clone() else {
            return Err(HandlerError::Poison(format!("interaction {} has no author", interaction.id)));
        };

        let txn = self.db.begin().await.map_err(retry("starting a transaction"))?;
        let first = inbox::first_delivery(&txn, SERVICE, &envelope.event_id)
            .await
            .map_err(|error| HandlerError::Retry(error.to_string()))?;
        if !first {
            tracing::debug!("event already handled");
            return Ok(());
        }
        let now = tend_kernel::ids::now();
        let followers = i64::try_from(author.followers).unwrap_or(i64::MAX);
        let known = storage::find_by_author(&txn, tenant.as_str(), interaction.channel, &author.external_id)
            .await
            .map_err(retry("reading the profile"))?;
        let row = match known {
            Some(mut row) => {
                row.handle = author.handle;
                row.display_name = author.display_name;
                row.followers = followers;
                row.last_seen_at = now;
                storage::update_sighting(&txn, &row).await.map_err(retry("updating the profile"))?;
                row
            }
            None => {
                let row = profile::Model {
                    id: new_id(),
                    tenant: tenant.as_str().to_owned(),
                    channel: interaction.channel,
                    external_id: author.external_id,
                    handle: author.handle,
                    display_name: author.display_name,
                    followers,
                    customer_id: String::new(),
                    status: LinkStatus::Unknown.as_str().to_owned(),
                    first_seen_at: now,
                    last_seen_at: now,
                    link_method: String::new(),
                    link_evidence: String::new(),
                    linked_at: None,
                };
                storage::insert(&txn, row.clone()).await.map_err(retry("creating the profile"))?;
                row
            }
        };
        // Only an unlinked profile is linked automatically: a person's decision, or an earlier
        // link, is never overridden here.
        let mut row = row;
        if LinkMethod::parse(&row.link_method) == LinkMethod::None {
            let found = linking::find(&txn, tenant.as_str(), &row.id, &interaction)
                .await
                .map_err(retry("looking for a link"))?;
            if let Some(found) = found {
                row.customer_id = found.customer_id.clone();
                row.status = LinkStatus::Linked.as_str().to_owned();
                row.link_method = found.method.as_str().to_owned();
                row.link_evidence = found.evidence.clone();
                row.linked_at = Some(now);
                let event = link_event::Model {
                    id: new_id(),
                    tenant: tenant.as_str().to_owned(),
                    profile_id: row.id.clone(),
                    customer_id: found.customer_id,
                    action: "linked".to_owned(),
                    method: found.method.as_str().to_owned(),
                    evidence: found.evidence,
                    actor: SERVICE.to_owned(),
                    reason: None,
                    at: now,
                };
                storage::save_link(&txn, &row, event).await.map_err(retry("saving the link"))?;
                tracing::info!(profile_id = %row.id, customer_id = %row.customer_id, method = %row.link_method, "profile linked");
            }
        }
        let status = LinkStatus::parse(&row.status);
        let identified = v1::InteractionIdentified {
            interaction: Some(interaction),
            customer_id: row.customer_id.clone(),
            status: status.to_proto().into(),
            confidence: status.confidence(),
            profile: Some(profile_to_proto(row)),
        };
        let event = events::envelope(SERVICE, &tenant, &identified);
        outbox::enqueue(&txn, streams::INTERACTIONS_IDENTIFIED, &event)
            .await
            .map_err(|error| HandlerError::Retry(error.to_string()))?;
        txn.commit().await.map_err(retry("committing"))?;
        self.relay.wake();
        Ok(())
    }
}
