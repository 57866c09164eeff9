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
use crate::normalize;
use std::sync::Arc;

use crate::matcher::{self, Matchers};
use crate::storage::{self, candidate, link_event, profile};

/// Identifies the authors of received interactions.
pub struct IdentifyAuthors {
    db: DatabaseConnection,
    relay: OutboxWaker,
    matchers: Arc<Matchers>,
}

impl IdentifyAuthors {
    /// A handler over `db`, waking `relay` after each commit.
    pub fn new(db: DatabaseConnection, relay: OutboxWaker, matchers: Arc<Matchers>) -> Self {
        Self { db, relay, matchers }
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
                if !author.location.is_empty() {
                    row.location = author.location.clone();
                }
                if let Ok(email) = normalize::email(&author.email) {
                    row.email = email;
                }
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
                    email: normalize::email(&author.email).unwrap_or_default(),
                    location: author.location.clone(),
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
        let still_open = LinkMethod::parse(&row.link_method) == LinkMethod::None && row.customer_id.is_empty();
        let mut confidence = None;
        if still_open {
            confidence = self.match_probabilistically(&txn, &tenant, &mut row, now).await?;
        }
        let status = LinkStatus::parse(&row.status);
        let identified = v1::InteractionIdentified {
            interaction: Some(interaction),
            customer_id: row.customer_id.clone(),
            status: status.to_proto().into(),
            confidence: confidence.unwrap_or_else(|| status.confidence()),
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

impl IdentifyAuthors {
    /// Scores an unlinked profile with the tenant's matcher (if trained): links it at or above
    /// the link threshold, queues it for review at or above the review threshold. Returns the
    /// probability it acted on.
    async fn match_probabilistically(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        tenant: &tend_kernel::TenantId,
        row: &mut profile::Model,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<f64>, HandlerError> {
        let tenant = tenant.as_str();
        let unavailable = |error: tend_kernel::ApiError| HandlerError::Retry(format!("matcher: {error}"));
        let Some(loaded) = self.matchers.load(txn, tenant).await.map_err(unavailable)? else { return Ok(None) };
        if storage::has_pending_candidate(txn, tenant, &row.id).await.map_err(retry("reading the review queue"))? {
            return Ok(None);
        }
        let record = matcher::profile_record(row);
        for (customer_id, _) in loaded.candidates(&record) {
            if storage::is_rejected(txn, tenant, &row.id, &customer_id).await.map_err(retry("reading rejections"))? {
                continue;
            }
            let Some(customer) =
                storage::find_customer(txn, tenant, &customer_id).await.map_err(retry("reading the customer"))?
            else {
                continue;
            };
            let scored = loaded.model.score(&record, &matcher::customer_record(&customer));
            if scored.probability >= loaded.link_threshold {
                row.customer_id = customer_id.clone();
                row.status = LinkStatus::Linked.as_str().to_owned();
                row.link_method = LinkMethod::Matcher.as_str().to_owned();
                row.link_evidence = matcher::summary(&scored);
                row.linked_at = Some(now);
                let event = link_event::Model {
                    id: new_id(),
                    tenant: tenant.to_owned(),
                    profile_id: row.id.clone(),
                    customer_id,
                    action: "linked".to_owned(),
                    method: LinkMethod::Matcher.as_str().to_owned(),
                    evidence: row.link_evidence.clone(),
                    actor: SERVICE.to_owned(),
                    reason: None,
                    at: now,
                };
                storage::save_link(txn, row, event).await.map_err(retry("saving the link"))?;
            } else {
                row.customer_id = customer_id.clone();
                row.status = LinkStatus::Candidate.as_str().to_owned();
                let candidate = candidate::Model {
                    id: new_id(),
                    tenant: tenant.to_owned(),
                    profile_id: row.id.clone(),
                    customer_id,
                    probability: scored.probability,
                    explanation: prost::Message::encode_to_vec(&matcher::explanation(&scored)),
                    status: "pending".to_owned(),
                    proposed_at: now,
                    decided_at: None,
                };
                storage::save_candidate(txn, candidate, true).await.map_err(retry("queueing the candidate"))?;
                storage::update_link_status(txn, row).await.map_err(retry("marking the candidate"))?;
            }
            tracing::info!(profile_id = %row.id, status = %row.status, probability = scored.probability, "matcher decided");
            return Ok(Some(scored.probability));
        }
        Ok(None)
    }
}
