//! Consumes `interactions.identified`: computes the priority and opens (or finds) the case
//! through the cases client, then records the decision with the inbox mark.
//!
//! Opening the case is idempotent on the interaction id, so a redelivery after a crash between
//! the call and the commit finds the same case instead of opening a second one.

use async_trait::async_trait;
use sea_orm::{DatabaseConnection, TransactionTrait};
use tend_client::CaseClient;
use tend_kernel::ids::new_id;
use tend_proto::v1;
use tend_queue::HandlerError;
use tend_store::events::{self, EventHandler};
use tend_store::inbox;
use tonic::Code;

use crate::SERVICE;
use crate::domain::{PriorityInput, priority};
use crate::storage::{self, decision};

/// Routes identified interactions into cases.
pub struct RouteInteractions {
    db: DatabaseConnection,
    cases: CaseClient,
}

impl RouteInteractions {
    /// A handler over `db` that opens cases through `cases`.
    pub fn new(db: DatabaseConnection, cases: CaseClient) -> Self {
        Self { db, cases }
    }
}

fn retry(what: &'static str) -> impl FnOnce(sea_orm::DbErr) -> HandlerError {
    move |error| HandlerError::Retry(format!("{what}: {error}"))
}

#[async_trait]
impl EventHandler for RouteInteractions {
    async fn handle(&self, envelope: &v1::EventEnvelope) -> Result<(), HandlerError> {
        let tenant = events::tenant(envelope)?;
        let identified: v1::InteractionIdentified = events::payload(envelope)?;
        // A review candidate is not a link: only a linked customer counts, and goes on the case.
        let linked = identified.status() == v1::IdentityStatus::Linked;
        let Some(interaction) = identified.interaction else {
            return Err(HandlerError::Poison(format!("event {} carries no interaction", envelope.event_id)));
        };
        if storage::find_by_interaction(&self.db, tenant.as_str(), &interaction.id)
            .await
            .map_err(retry("reading the decision"))?
            .is_some()
        {
            tracing::debug!(interaction_id = %interaction.id, "already routed");
            return Ok(());
        }

        let author = interaction.author.clone().unwrap_or_default();

        let computed =
            priority(PriorityInput { followers: author.followers, verified: author.verified, known_customer: linked });
        let request = v1::OpenCaseRequest {
            idempotency_key: interaction.id.clone(),
            profile_id: identified.profile.map(|profile| profile.id).unwrap_or_default(),
            customer_id: if linked { identified.customer_id } else { String::new() },
            priority: computed.value,
            interaction: Some(interaction.clone()),
        };
        let opened = self.cases.open_case(&tenant, request).await.map_err(|status| match status.code() {
            Code::InvalidArgument => {
                HandlerError::Poison(format!("cases refused the interaction: {}", status.message()))
            }
            _ => HandlerError::Retry(format!("opening the case: {status}")),
        })?;
        let case_id = opened.case.map(|case| case.id).unwrap_or_default();

        let txn = self.db.begin().await.map_err(retry("starting a transaction"))?;
        let first = inbox::first_delivery(&txn, SERVICE, &envelope.event_id)
            .await
            .map_err(|error| HandlerError::Retry(error.to_string()))?;
        if !first {
            return Ok(());
        }
        let row = decision::Model {
            id: new_id(),
            tenant: tenant.as_str().to_owned(),
            interaction_id: interaction.id.clone(),
            case_id: case_id.clone(),
            priority: i32::try_from(computed.value).unwrap_or(100),
            reasons: computed.reasons.join("\n"),
            decided_at: tend_kernel::ids::now(),
        };
        storage::insert(&txn, row).await.map_err(retry("recording the decision"))?;
        txn.commit().await.map_err(retry("committing"))?;
        tracing::info!(interaction_id = %interaction.id, %case_id, priority = computed.value, created = opened.created, "interaction routed");
        Ok(())
    }
}
