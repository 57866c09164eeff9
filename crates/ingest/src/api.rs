//! The gRPC face of the ingest service.

use std::sync::Arc;

use tend_kernel::ApiError;
use tend_kernel::auth::{Access, caller};
use tend_kernel::ids::parse_id;
use tend_kernel::paging::Page;
use tend_proto::v1;
use tend_store::DbContext as _;
use tonic::{Request, Response, Status};

use crate::domain;
use crate::posts::{Posts, to_proto};
use crate::storage;

/// Implements `tend.v1.IngestService` over [`Posts`].
pub struct IngestApi {
    posts: Arc<Posts>,
}

impl IngestApi {
    /// An API storing through `posts`.
    pub fn new(posts: Arc<Posts>) -> Self {
        Self { posts }
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
        let outcome = self.posts.ingest(&caller.tenant, vec![request.into_inner()], None).await?.pop();
        let outcome = outcome.unwrap_or_else(|| Err(ApiError::internal("no outcome for the post")))?;
        Ok(Response::new(outcome))
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
        for outcome in self.posts.ingest(&caller.tenant, posts, None).await? {
            let outcome = match outcome {
                Ok(stored) => v1::ingest_batch_result::Outcome::Ok(stored),
                Err(error) => v1::ingest_batch_result::Outcome::Error(error.to_string()),
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
        Ok(Response::new(self.posts.get(caller.tenant.as_str(), &id).await?))
    }

    async fn list_interactions(
        &self,
        request: Request<v1::ListInteractionsRequest>,
    ) -> Result<Response<v1::ListInteractionsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.into_inner();
        let page = Page::parse(request.page_size, &request.page_token)?;
        let rows =
            storage::list(self.posts.db(), caller.tenant.as_str(), &page).await.context("listing interactions")?;
        let interactions = rows.into_iter().map(to_proto).collect();
        let (interactions, next_page_token) = page.fit(interactions, |interaction| interaction.id.as_str());
        Ok(Response::new(v1::ListInteractionsResponse { interactions, next_page_token }))
    }

    async fn export_subject_data(
        &self,
        request: Request<v1::ExportSubjectDataRequest>,
    ) -> Result<Response<v1::SubjectDataExport>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let subject = tend_client::export::Subject::parse(request.get_ref())?;
        let document = crate::export::export(self.posts.db(), caller.tenant.as_str(), &subject.handles).await?;
        Ok(Response::new(tend_client::export::answer(crate::SERVICE, &document)?))
    }
}
