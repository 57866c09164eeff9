//! The gRPC face of the cases service.

use std::collections::HashMap;

use prost::Message as _;
use sea_orm::{DatabaseConnection, TransactionTrait};
use tend_kernel::auth::{Access, caller};
use tend_kernel::ids::{new_id, parse_id, to_timestamp};
use tend_kernel::paging::Page;
use tend_kernel::{ApiError, TenantId};
use tend_proto::v1;
use tend_store::events::{envelope, envelope_in_trace, streams};
use tend_store::{DbContext as _, OutboxWaker, outbox};
use tonic::{Request, Response, Status};

use crate::SERVICE;
use crate::domain::{self, Status as CaseStatus};
use crate::storage::{self, case};

/// Most bytes of a case's routing outcome, encoded (a rule set's outcome is well under 4 KiB).
const MAX_ROUTING_BYTES: usize = 16 * 1024;

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

    /// The cases of `rows` with their interactions, read in one query.
    async fn to_protos(&self, tenant: &TenantId, rows: Vec<case::Model>) -> Result<Vec<v1::Case>, ApiError> {
        let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
        let mut interactions =
            storage::interaction_ids(&self.db, tenant.as_str(), &ids).await.context("reading case interactions")?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let interaction_ids = interactions.remove(&row.id).unwrap_or_default();
                case_to_proto(row, interaction_ids)
            })
            .collect())
    }

    /// Opens the cases whose keys are new and announces each on `cases.events`, in one
    /// transaction; finds the case an earlier call opened for the others. One outcome per
    /// request, in order: a request that fails validation is refused alone; an infrastructure
    /// failure fails them all.
    async fn open(&self, tenant: &TenantId, requests: Vec<v1::OpenCaseRequest>) -> Result<Vec<OpenOutcome>, ApiError> {
        let now = tend_kernel::ids::now();
        let mut outcomes: Vec<Option<OpenOutcome>> = Vec::with_capacity(requests.len());
        let mut opening = Vec::with_capacity(requests.len());
        for request in requests {
            match new_case(tenant, request, now) {
                Ok(new) => {
                    opening.push((outcomes.len(), new));
                    outcomes.push(None);
                }
                Err(error) => outcomes.push(Some(Err(error))),
            }
        }
        if opening.is_empty() {
            return Ok(outcomes.into_iter().flatten().collect());
        }
        let rows: Vec<case::Model> = opening.iter().map(|(_, new)| new.row.clone()).collect();
        let interaction_ids: Vec<&str> = opening.iter().map(|(_, new)| new.interaction_id.as_str()).collect();
        let txn = self.db.begin().await.context("starting a transaction")?;
        let inserted = storage::insert_new(&txn, &rows, &interaction_ids).await.context("opening cases")?;
        let earlier_keys: Vec<&str> =
            rows.iter().filter(|row| !inserted.contains(&row.id)).map(|row| row.idempotency_key.as_str()).collect();
        let earlier =
            storage::find_by_keys(&txn, tenant.as_str(), &earlier_keys).await.context("finding opened cases")?;
        let earlier_ids: Vec<&str> = earlier.iter().map(|row| row.id.as_str()).collect();
        let mut earlier_interactions =
            storage::interaction_ids(&txn, tenant.as_str(), &earlier_ids).await.context("reading case interactions")?;
        let earlier: HashMap<&str, &case::Model> =
            earlier.iter().map(|row| (row.idempotency_key.as_str(), row)).collect();
        let mut events = Vec::with_capacity(inserted.len());
        for (slot, new) in opening {
            let outcome = if inserted.contains(&new.row.id) {
                let case = case_to_proto(new.row, vec![new.interaction_id]);
                let opened = v1::CaseEvent { kind: v1::CaseEventKind::Opened.into(), case: Some(case.clone()) };
                let event = if new.trace_context.is_empty() {
                    envelope(SERVICE, tenant, &opened)
                } else {
                    envelope_in_trace(SERVICE, tenant, &opened, new.trace_context)
                };
                events.push((streams::CASES_EVENTS, event));
                v1::OpenCaseResponse { case: Some(case), created: true }
            } else {
                let Some(existing) = earlier.get(new.row.idempotency_key.as_str()) else {
                    return Err(ApiError::internal(format!("case {} was neither opened nor found", new.row.id)));
                };
                let interaction_ids = earlier_interactions.remove(&existing.id).unwrap_or_default();
                v1::OpenCaseResponse { case: Some(case_to_proto((*existing).clone(), interaction_ids)), created: false }
            };
            outcomes[slot] = Some(Ok(outcome));
        }
        outbox::enqueue_many(&txn, &events).await?;
        txn.commit().await.context("committing cases")?;
        if !events.is_empty() {
            self.relay.wake();
        }
        tracing::info!(opened = events.len(), already_open = rows.len() - events.len(), "cases opened");
        Ok(outcomes
            .into_iter()
            .map(|outcome| outcome.unwrap_or_else(|| Err(ApiError::internal("request left without an outcome"))))
            .collect())
    }

    async fn resolve(&self, tenant: &TenantId, request: v1::ResolveCaseRequest) -> Result<v1::Case, ApiError> {
        let id = parse_id("id", &request.id)?;
        if request.note.len() > domain::MAX_NOTE {
            return Err(ApiError::invalid("note", format!("must be at most {} bytes", domain::MAX_NOTE)));
        }
        let txn = self.db.begin().await.context("starting a transaction")?;
        let Some(mut row) = storage::find(&txn, tenant.as_str(), &id).await.context("reading the case")? else {
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
        if !storage::update_resolution(&txn, &row, status.as_str()).await.context("resolving the case")? {
            return Err(ApiError::FailedPrecondition(format!("case {id} was changed meanwhile; read it again")));
        }
        let mut interaction_ids = storage::interaction_ids(&txn, tenant.as_str(), &[id.as_str()])
            .await
            .context("reading case interactions")?;
        let case = case_to_proto(row, interaction_ids.remove(&id).unwrap_or_default());
        let event = envelope(
            SERVICE,
            tenant,
            &v1::CaseEvent { kind: v1::CaseEventKind::Resolved.into(), case: Some(case.clone()) },
        );
        outbox::enqueue(&txn, streams::CASES_EVENTS, &event).await?;
        txn.commit().await.context("committing the resolution")?;
        self.relay.wake();
        tracing::info!(case_id = %case.id, "case resolved");
        Ok(case)
    }
}

/// The outcome of one request to open a case.
type OpenOutcome = Result<v1::OpenCaseResponse, ApiError>;

/// A case about to be opened.
struct NewCase {
    row: case::Model,
    interaction_id: String,
    trace_context: std::collections::HashMap<String, String>,
}

/// The case `request` opens, or why it is refused.
fn new_case(
    tenant: &TenantId,
    request: v1::OpenCaseRequest,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<NewCase, ApiError> {
    domain::check_idempotency_key(&request.idempotency_key)?;
    let priority = domain::check_priority(request.priority)?;
    let Some(interaction) = request.interaction else {
        return Err(ApiError::invalid("interaction", "is required"));
    };
    let interaction_id = parse_id("interaction.id", &interaction.id)?;
    let reading = domain::Reading::of(interaction.enrichment.as_ref());
    let queue = request.routing.as_ref().map(|routing| routing.queue.clone()).unwrap_or_default();
    let routing = request.routing.map(|routing| routing.encode_to_vec());
    if routing.as_ref().is_some_and(|bytes| bytes.len() > MAX_ROUTING_BYTES) {
        return Err(ApiError::invalid("routing", format!("more than {MAX_ROUTING_BYTES} bytes encoded")));
    }
    let row = case::Model {
        id: new_id(),
        tenant: tenant.as_str().to_owned(),
        status: CaseStatus::Open.as_str().to_owned(),
        channel: interaction.channel,
        subject: domain::subject_from(&interaction.text),
        customer_id: request.customer_id,
        profile_id: request.profile_id,
        priority,
        idempotency_key: request.idempotency_key,
        opened_at: now,
        updated_at: now,
        resolved_at: None,
        resolution_note: None,
        language: reading.language,
        sentiment: reading.sentiment,
        intents: reading.intents,
        topics: reading.topics,
        actionable: reading.actionable,
        queue,
        routing,
    };
    Ok(NewCase { row, interaction_id, trace_context: request.trace_context })
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
        language: row.language,
        sentiment: row.sentiment,
        intents: domain::Reading::intents_of(&row.intents),
        topics: row.topics.split(',').filter(|topic| !topic.is_empty()).map(str::to_owned).collect(),
        actionable: row.actionable,
        routing: row.routing.as_deref().and_then(|bytes| v1::RoutingOutcome::decode(bytes).ok()),
    }
}

#[tonic::async_trait]
impl v1::case_service_server::CaseService for CaseApi {
    async fn open_case(&self, request: Request<v1::OpenCaseRequest>) -> Result<Response<v1::OpenCaseResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let outcome = self.open(&caller.tenant, vec![request.into_inner()]).await?.pop();
        Ok(Response::new(outcome.unwrap_or_else(|| Err(ApiError::internal("no outcome for the request")))?))
    }

    async fn open_cases(
        &self,
        request: Request<v1::OpenCasesRequest>,
    ) -> Result<Response<v1::OpenCasesResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let requests = request.into_inner().cases;
        domain::check_batch(requests.len())?;
        let results = self
            .open(&caller.tenant, requests)
            .await?
            .into_iter()
            .map(|outcome| {
                let outcome = match outcome {
                    Ok(opened) => v1::open_cases_result::Outcome::Opened(opened),
                    Err(error) => v1::open_cases_result::Outcome::Error(error.to_string()),
                };
                v1::OpenCasesResult { outcome: Some(outcome) }
            })
            .collect();
        Ok(Response::new(v1::OpenCasesResponse { results }))
    }

    async fn get_case(&self, request: Request<v1::GetCaseRequest>) -> Result<Response<v1::Case>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let row = storage::find(&self.db, caller.tenant.as_str(), &id)
            .await
            .context("reading the case")?
            .ok_or_else(|| ApiError::not_found("case", &id))?;
        let case = self.to_protos(&caller.tenant, vec![row]).await?.pop();
        Ok(Response::new(case.ok_or_else(|| ApiError::internal("case vanished"))?))
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
        let rows = storage::list(&self.db, caller.tenant.as_str(), status, &page).await.context("listing cases")?;
        let next_page_token = page.next_token(&rows, |row| row.id.as_str());
        let cases = self.to_protos(&caller.tenant, rows).await?;
        Ok(Response::new(v1::ListCasesResponse { cases, next_page_token }))
    }

    async fn resolve_case(&self, request: Request<v1::ResolveCaseRequest>) -> Result<Response<v1::Case>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        Ok(Response::new(self.resolve(&caller.tenant, request.into_inner()).await?))
    }

    async fn reply_to_case(&self, request: Request<v1::ReplyToCaseRequest>) -> Result<Response<v1::CaseReply>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        Ok(Response::new(crate::replies::reply_to_case(&self.db, &self.relay, &caller, request.into_inner()).await?))
    }

    async fn list_case_replies(
        &self,
        request: Request<v1::ListCaseRepliesRequest>,
    ) -> Result<Response<v1::ListCaseRepliesResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let replies = crate::replies::list(&self.db, caller.tenant.as_str(), &request.get_ref().case_id).await?;
        Ok(Response::new(v1::ListCaseRepliesResponse { replies }))
    }
}
