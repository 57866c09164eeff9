//! The gRPC face of the identity service.

use sea_orm::DatabaseConnection;
use tend_kernel::ApiError;
use tend_kernel::auth::{Access, caller};
use tend_kernel::ids::{parse_id, to_timestamp};
use tend_kernel::paging::Page;
use tend_proto::v1;
use tonic::{Request, Response, Status};

use crate::domain::LinkStatus;
use crate::storage::{self, profile};

/// Implements `tend.v1.IdentityService` over the service's database.
pub struct IdentityApi {
    db: DatabaseConnection,
}

impl IdentityApi {
    /// An API over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// A stored profile in the contract's shape.
pub(crate) fn profile_to_proto(row: profile::Model) -> v1::Profile {
    v1::Profile {
        id: row.id,
        tenant: row.tenant,
        channel: row.channel,
        external_id: row.external_id,
        handle: row.handle,
        display_name: row.display_name,
        customer_id: row.customer_id,
        status: LinkStatus::parse(&row.status).to_proto().into(),
        first_seen_at: Some(to_timestamp(row.first_seen_at)),
        last_seen_at: Some(to_timestamp(row.last_seen_at)),
        followers: u64::try_from(row.followers).unwrap_or(0),
    }
}

#[tonic::async_trait]
impl v1::identity_service_server::IdentityService for IdentityApi {
    async fn get_profile(&self, request: Request<v1::GetProfileRequest>) -> Result<Response<v1::Profile>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let row = storage::find(&self.db, caller.tenant.as_str(), &id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found("profile", &id))?;
        Ok(Response::new(profile_to_proto(row)))
    }

    async fn list_profiles(
        &self,
        request: Request<v1::ListProfilesRequest>,
    ) -> Result<Response<v1::ListProfilesResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.into_inner();
        let page = Page::parse(request.page_size, &request.page_token)?;
        let rows = storage::list(&self.db, caller.tenant.as_str(), &page).await.map_err(ApiError::internal)?;
        let next_page_token = page.next_token(&rows, |row| row.id.as_str());
        Ok(Response::new(v1::ListProfilesResponse {
            profiles: rows.into_iter().map(profile_to_proto).collect(),
            next_page_token,
        }))
    }
}
