//! The gRPC face of the cases service.

use sea_orm::{DatabaseConnection, TransactionTrait};
use tend_kernel::auth::{Access, caller};
use tend_kernel::ids::{new_id, parse_id, to_timestamp};
use tend_kernel::paging::Page;
use tend_kernel::{ApiError, TenantId};
use tend_proto::v1;
use tend_store::events::{envelope, streams};
use tend_store::{OutboxWaker, outbox};
use tonic::{Request, Response, Status};

use crate::SERVICE;
use crate::domain::{self, Status as CaseStatus};
use crate::storage::{self, case};

/// Implements `tend.v1.CaseService` over the service's database.
pub struct CaseApi {
    db: DatabaseConnection,
    relay: OutboxWaker,
}

impl CaseApi {
    /// An API over `db`, waking `relay` after each committed event.
    pub fn new(db: DatabaseConnection, relay: OutboxWaker) -> Self {
        Self { db, relay }
    }

    async fn to_proto(&self, row: case::Model) -> Result<v1::Case, ApiError> {
        let interaction_ids =
            storage::interaction_ids(&self.db, &row.tenant, &row.id).await.map_err(ApiError::internal)?;
        Ok(case_to_proto(row, interaction_ids))
    }

    async fn open(&self, tenant: &TenantId, request: v1::OpenCaseRequest) -> Result<v1::OpenCaseResponse, ApiError> {
        domain::check_idempotency_key(&request.idempotency_key)?;
        let priority = domain::check_priority(request.priority)?;
        let Some(interaction) = request.interaction else {
            return Err(ApiError::invalid("interaction", "is required"));
        };
        let interaction_id = parse_id("interaction.id", &interaction.id)?;

        if let Some(existing) = storage::find_by_key(&self.db, tenant.as_str(), &request.idempotency_key)
            .await
            .map_err(ApiError::internal)?
        {
            return Ok(v1::OpenCaseResponse { case: Some(self.to_proto(existing).await?), created: false });
        }

        let now = tend_kernel::ids::now();
        let row = case::Model {
            id: new_id(),
            tenant: tenant.as_str().to_owned(),
            status: CaseStatus::Open.as_str().to_owned(),
            channel: interaction.channel,
            subject: domain::subject_from(&interaction.text),
            customer_id: request.customer_id,
            profile_id: request.profile_id,
            priority,
            idempotency_key: request.idempotency_key.clone(),
            opened_at: now,
            updated_at: now,
            resolved_at: None,
            resolution_note: None,
        };
        let case = case_to_proto(row.clone(), vec![interaction_id.clone()]);
        let event = envelope(
            SERVICE,
            tenant,
            &v1::CaseEvent { kind: v1::CaseEventKind::Opened.into(), case: Some(case.clone()) },
        );
        let txn = self.db.begin().await.map_err(ApiError::internal)?;
        let inserted = storage::insert(&txn, row, &interaction_id).await;
        if let Err(error) = inserted {
            drop(txn);
            // Two calls with one key raced and the other one won: its case is the answer.
            return match storage::find_by_key(&self.db, tenant.as_str(), &request.idempotency_key)
                .await
                .map_err(ApiError::internal)?
            {
                Some(existing) => {
                    Ok(v1::OpenCaseResponse { case: Some(self.to_proto(existing).await?), created: false })
                }
                None => Err(ApiError::internal(error)),
            };
        }
        outbox::enqueue(&txn, streams::CASES_EVENTS, &event).await.map_err(ApiError::internal)?;
        txn.commit().await.map_err(ApiError::internal)?;
        self.relay.wake();
        tracing::info!(case_id = %case.id, interaction_id, "case opened");
        Ok(v1::OpenCaseResponse { case: Some(case), created: true })
    }

    async fn resolve(&self, tenant: &TenantId, request: v1::ResolveCaseRequest) -> Result<v1::Case, ApiError> {
        let id = parse_id("id", &request.id)?;
        if request.note.len() > domain::MAX_NOTE {
            return Err(ApiError::invalid("note", format!("must be at most {} bytes", domain::MAX_NOTE)));
        }
        let txn = self.db.begin().await.map_err(ApiError::internal)?;
        let Some(mut row) = storage::find(&txn, tenant.as_str(), &id).await.map_err(ApiError::internal)? else {
            return Err(ApiError::not_found("case", id));
        };
        let status = stored_status(&row)?;
        domain::check_resolvable(&id, status)?;
        let now = tend_kernel::ids::now();
        row.status = CaseStatus::Resolved.as_str().to_owned();
        row.updated_at = now;
        row.resolved_at = Some(now);
        row.resolution_note = Some(request.note);
        // Conditional on the status read above, so of two concurrent resolves only one wins.
        if !storage::update_resolution(&txn, &row, status.as_str()).await.map_err(ApiError::internal)? {
            return Err(ApiError::FailedPrecondition(format!("case {id} was changed meanwhile; read it again")));
        }
        let interaction_ids = storage::interaction_ids(&txn, tenant.as_str(), &id).await.map_err(ApiError::internal)?;
        let case = case_to_proto(row, interaction_ids);
        let event = envelope(
            SERVICE,
            tenant,
            &v1::CaseEvent { kind: v1::CaseEventKind::Resolved.into(), case: Some(case.clone()) },
        );
        outbox::enqueue(&txn, streams::CASES_EVENTS, &event).await.map_err(ApiError::internal)?;
        txn.commit().await.map_err(ApiError::internal)?;
        self.relay.wake();
        tracing::info!(case_id = %case.id, "case resolved");
        Ok(case)
    }
}

fn stored_status(row: &case::Model) -> Result<CaseStatus, ApiError> {
    CaseStatus::parse(&row.status)
        .ok_or_else(|| ApiError::internal(format!("case {} has unknown status {:?}", row.id, row.status)))
}

fn case_to_proto(row: case::Model, interaction_ids: Vec<String>) -> v1::Case {
    let status = match CaseStatus::parse(&row.status) {
        Some(CaseStatus::Open) => v1::CaseStatus::Open,
        Some(CaseStatus::Resolved) => v1::CaseStatus::Resolved,
        None => v1::CaseStatus::Unspecified,
    };
    v1::Case {
        id: row.id,
        tenant: row.tenant,
        status: status.into(),
        channel: row.channel,
        subject: row.subject,
        customer_id: row.customer_id,
        profile_id: row.profile_id,
        priority: u32::try_from(row.priority).unwrap_or(0),
        interaction_ids,
        opened_at: Some(to_timestamp(row.opened_at)),
        updated_at: Some(to_timestamp(row.updated_at)),
        resolved_at: row.resolved_at.map(to_timestamp),
        resolution_note: row.resolution_note.unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl v1::case_service_server::CaseService for CaseApi {
    async fn open_case(&self, request: Request<v1::OpenCaseRequest>) -> Result<Response<v1::OpenCaseResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        Ok(Response::new(self.open(&caller.tenant, request.into_inner()).await?))
    }

    async fn get_case(&self, request: Request<v1::GetCaseRequest>) -> Result<Response<v1::Case>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let row = storage::find(&self.db, caller.tenant.as_str(), &id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found("case", &id))?;
        Ok(Response::new(self.to_proto(row).await?))
    }

    async fn list_cases(
        &self,
        request: Request<v1::ListCasesRequest>,
    ) -> Result<Response<v1::ListCasesResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.into_inner();
        let page = Page::parse(request.page_size, &request.page_token)?;
        let status = match v1::CaseStatus::try_from(request.status) {
            Ok(v1::CaseStatus::Unspecified) => None,
            Ok(v1::CaseStatus::Open) => Some(CaseStatus::Open.as_str()),
            Ok(v1::CaseStatus::Resolved) => Some(CaseStatus::Resolved.as_str()),
            Err(_) => return Err(ApiError::invalid("status", format!("{} is not a CaseStatus", request.status)).into()),
        };
        let rows = storage::list(&self.db, caller.tenant.as_str(), status, &page).await.map_err(ApiError::internal)?;
        let next_page_token = page.next_token(&rows, |row| row.id.as_str());
        let mut cases = Vec::with_capacity(rows.len());
        for row in rows {
            cases.push(self.to_proto(row).await?);
        }
        Ok(Response::new(v1::ListCasesResponse { cases, next_page_token }))
    }

    async fn resolve_case(&self, request: Request<v1::ResolveCaseRequest>) -> Result<Response<v1::Case>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        Ok(Response::new(self.resolve(&caller.tenant, request.into_inner()).await?))
    }
}
