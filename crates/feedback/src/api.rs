//! The gRPC face of the feedback service.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use tend_kernel::ApiError;
use tend_kernel::auth::{Access, caller};
use tend_kernel::ids::from_timestamp;
use tend_proto::v1;
use tend_store::DbContext as _;
use tonic::{Request, Response, Status};

use crate::storage;

/// Implements `tend.v1.FeedbackService` over the service's database.
pub struct FeedbackApi {
    db: DatabaseConnection,
}

impl FeedbackApi {
    /// An API over `db`.
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

/// The window `[from, to)` of a report request: from the beginning of time, up to now, unless
/// given.
fn window(request: &v1::GetServiceReportRequest) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let from = match &request.from {
        Some(at) => from_timestamp("from", at)?,
        None => DateTime::<Utc>::UNIX_EPOCH,
    };
    let to = match &request.to {
        Some(at) => from_timestamp("to", at)?,
        None => Utc::now() + chrono::Duration::seconds(1),
    };
    if to <= from {
        return Err(ApiError::invalid("to", "must be after `from`"));
    }
    Ok((from, to))
}

#[tonic::async_trait]
impl v1::feedback_service_server::FeedbackService for FeedbackApi {
    async fn get_service_report(
        &self,
        request: Request<v1::GetServiceReportRequest>,
    ) -> Result<Response<v1::ServiceReport>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let (from, to) = window(request.get_ref())?;
        let tenant = caller.tenant.as_str();
        let cases_opened = storage::count_opened(&self.db, tenant, from, to).await.context("counting cases opened")?;
        let resolved = storage::resolved_in(&self.db, tenant, from, to).await.context("reading resolutions")?;
        let total_seconds: f64 =
            resolved.iter().filter_map(|fact| fact.resolved_at.map(|at| (at - fact.opened_at).as_seconds_f64())).sum();
        let mean_seconds_to_resolve = if resolved.is_empty() { 0.0 } else { total_seconds / resolved.len() as f64 };
        Ok(Response::new(v1::ServiceReport {
            cases_opened,
            cases_resolved: resolved.len() as u64,
            mean_seconds_to_resolve,
        }))
    }
}
