//! The gRPC face of the ingest service.

use sea_orm::{DatabaseConnection, TransactionTrait};
use tend_kernel::auth::{Access, caller};
use tend_kernel::ids::{from_timestamp, new_id, parse_id, to_timestamp};
use tend_kernel::paging::Page;
use tend_kernel::{ApiError, TenantId};
use tend_proto::v1;
use tend_store::events::{envelope, streams};
use tend_store::{OutboxWaker, outbox};
use tonic::{Request, Response, Status};

use crate::SERVICE;
use crate::domain;
use crate::storage::{self, interaction};

/// Implements `tend.v1.IngestService` over the service's database.
pub struct IngestApi {
    db: DatabaseConnection,
    relay: OutboxWaker,
}

impl IngestApi {
    /// An API over `db`, waking `relay` after each committed event.
    pub fn new(db: DatabaseConnection, relay: OutboxWaker) -> Self {
        Self { db, relay }
    }

    /// Stores one post unless it is a duplicate, and announces it on `interactions.received`.
    async fn ingest(
        &self,
        tenant: &TenantId,
        request: v1::IngestInteractionRequest,
    ) -> Result<v1::IngestInteractionResponse, ApiError> {
        let now = tend_kernel::ids::now();
        let posted_at = match &request.posted_at {
            Some(timestamp) => from_timestamp("posted_at", timestamp)?,
            None => now,
        };
        let post = domain::normalise(request)?;
        if let Some(existing) = self.find_duplicate(tenant, &post).await? {
            return Ok(duplicate(existing));
        }
        let row = interaction::Model {
            id: new_id(),
            tenant: tenant.as_str().to_owned(),
            channel: post.channel,
            external_id: post.external_id,
            author_external_id: post.author_external_id,
            author_handle: post.author_handle,
            author_display_name: post.author_display_name,
            author_followers: i64::try_from(post.author_followers).unwrap_or(i64::MAX),
            author_verified: post.author_verified,
            author_email: post.author_email,
            author_location: post.author_location,
            text: post.text,
            in_reply_to_external_id: post.in_reply_to_external_id,
            url: post.url,
            posted_at,
            received_at: now,
        };
        let stored = to_proto(row.clone());
        let event = envelope(SERVICE, tenant, &v1::InteractionReceived { interaction: Some(stored.clone()) });

        let txn = self.db.begin().await.map_err(ApiError::internal)?;
        if let Err(error) = storage::insert(&txn, row.clone()).await {
            drop(txn);
            // The same post arrived twice at once and the other copy won the unique key.
            return match storage::find_by_external_id(&self.db, tenant.as_str(), row.channel, &row.external_id)
                .await
                .map_err(ApiError::internal)?
            {
                Some(existing) => Ok(duplicate(existing)),
                None => Err(ApiError::internal(error)),
            };
        }
        outbox::enqueue(&txn, streams::INTERACTIONS_RECEIVED, &event).await.map_err(ApiError::internal)?;
        txn.commit().await.map_err(ApiError::internal)?;
        self.relay.wake();
        tracing::info!(interaction_id = %stored.id, channel = stored.channel, "interaction ingested");
        Ok(v1::IngestInteractionResponse { interaction: Some(stored), duplicate: false })
    }

    async fn find_duplicate(
        &self,
        tenant: &TenantId,
        post: &domain::NewInteraction,
    ) -> Result<Option<interaction::Model>, ApiError> {
        storage::find_by_external_id(&self.db, tenant.as_str(), post.channel, &post.external_id)
            .await
            .map_err(ApiError::internal)
    }
}

fn duplicate(existing: interaction::Model) -> v1::IngestInteractionResponse {
    v1::IngestInteractionResponse { interaction: Some(to_proto(existing)), duplicate: true }
}

fn to_proto(row: interaction::Model) -> v1::Interaction {
    v1::Interaction {
        id: row.id,
        tenant: row.tenant,
        channel: row.channel,
        external_id: row.external_id,
        author: Some(v1::Author {
            external_id: row.author_external_id,
            handle: row.author_handle,
            display_name: row.author_display_name,
            followers: u64::try_from(row.author_followers).unwrap_or(0),
            verified: row.author_verified,
            email: row.author_email,
            location: row.author_location,
        }),
        text: row.text,
        posted_at: Some(to_timestamp(row.posted_at)),
        received_at: Some(to_timestamp(row.received_at)),
        in_reply_to_external_id: row.in_reply_to_external_id,
        url: row.url,
    }
}

#[tonic::async_trait]
impl v1::ingest_service_server::IngestService for IngestApi {
    async fn ingest_interaction(
        &self,
        request: Request<v1::IngestInteractionRequest>,
    ) -> Result<Response<v1::IngestInteractionResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        Ok(Response::new(self.ingest(&caller.tenant, request.into_inner()).await?))
    }

    async fn ingest_batch(
        &self,
        request: Request<v1::IngestBatchRequest>,
    ) -> Result<Response<v1::IngestBatchResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let posts = request.into_inner().interactions;
        domain::check_batch(posts.len())?;
        let mut results = Vec::with_capacity(posts.len());
        for post in posts {
            let outcome = match self.ingest(&caller.tenant, post).await {
                Ok(stored) => v1::ingest_batch_result::Outcome::Ok(stored),
                Err(error @ ApiError::InvalidArgument { .. }) => {
                    v1::ingest_batch_result::Outcome::Error(error.to_string())
                }
                // Infrastructure failures fail the call: the connector retries the whole batch,
                // and the posts already stored come back as duplicates.
                Err(error) => return Err(error.into()),
            };
            results.push(v1::IngestBatchResult { outcome: Some(outcome) });
        }
        Ok(Response::new(v1::IngestBatchResponse { results }))
    }

    async fn get_interaction(
        &self,
        request: Request<v1::GetInteractionRequest>,
    ) -> Result<Response<v1::Interaction>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let row = storage::find(&self.db, caller.tenant.as_str(), &id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found("interaction", &id))?;
        Ok(Response::new(to_proto(row)))
    }

    async fn list_interactions(
        &self,
        request: Request<v1::ListInteractionsRequest>,
    ) -> Result<Response<v1::ListInteractionsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.into_inner();
        let page = Page::parse(request.page_size, &request.page_token)?;
        let rows = storage::list(&self.db, caller.tenant.as_str(), &page).await.map_err(ApiError::internal)?;
        let next_page_token = page.next_token(&rows, |row| row.id.as_str());
        Ok(Response::new(v1::ListInteractionsResponse {
            interactions: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }
}
