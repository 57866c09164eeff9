//! The gRPC face of the routing service.

use sea_orm::DatabaseConnection;
use tend_kernel::ApiError;
use tend_kernel::auth::{Access, caller};
use tend_kernel::ids::{parse_id, to_timestamp};
use tend_kernel::paging::Page;
use tend_proto::v1;
use tend_store::DbContext as _;
use tonic::{Request, Response, Status};

use crate::storage::{self, decision};

/// Implements `tend.v1.RoutingService` over the service's database.
pub struct RoutingApi {
    db: DatabaseConnection,
}

impl RoutingApi {
    /// An API over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn to_proto(row: decision::Model) -> v1::RoutingDecision {
    v1::RoutingDecision {
        interaction_id: row.interaction_id,
        case_id: row.case_id,
        priority: u32::try_from(row.priority).unwrap_or(0),
        reasons: row.reasons.lines().map(str::to_owned).collect(),
        decided_at: Some(to_timestamp(row.decided_at)),
    }
}

#[tonic::async_trait]
impl v1::routing_service_server::RoutingService for RoutingApi {
    async fn get_routing_decision(
        &self,
        request: Request<v1::GetRoutingDecisionRequest>,
    ) -> Result<Response<v1::RoutingDecision>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let id = parse_id("interaction_id", &request.get_ref().interaction_id)?;
        let row = storage::find_by_interaction(&self.db, caller.tenant.as_str(), &id)
            .await
            .context("reading the decision")?
            .ok_or_else(|| ApiError::not_found("routing decision for interaction", &id))?;
        Ok(Response::new(to_proto(row)))
    }

    async fn list_routing_decisions(
        &self,
        request: Request<v1::ListRoutingDecisionsRequest>,
    ) -> Result<Response<v1::ListRoutingDecisionsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.into_inner();
        let page = Page::parse(request.page_size, &request.page_token)?;
        let rows = storage::list(&self.db, caller.tenant.as_str(), &page).await.context("listing decisions")?;
        let next_page_token = page.next_token(&rows, |row| row.id.as_str());
        Ok(Response::new(v1::ListRoutingDecisionsResponse {
            decisions: rows.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }
}
