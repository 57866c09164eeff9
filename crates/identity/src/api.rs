//! The gRPC face of the identity service: a thin adapter over [`App`]. Each method checks the
//! caller's access, unpacks the request, calls one workflow and packs its answer; every
//! workflow error becomes a gRPC status in one place (`From<app::Error> for ApiError` below).

use std::sync::Arc;

use tend_client::export::{MAX_EXPORT_BYTES, too_big};
use tend_client::{CaseClient, FeedbackClient, IngestClient, OnBehalfOf, RoutingClient};
use tend_kernel::ApiError;
use tend_kernel::auth::{Access, caller};
use tend_kernel::ids::to_timestamp;
use tend_kernel::paging::Page;
use tend_kernel::proto_json::{Value, json};
use tend_kernel::status::normalize;
use tend_proto::v1;
use tonic::{Code, Request, Response, Status, Streaming};

use crate::app::decisions::Verdict;
use crate::app::{self, App};
use crate::contract::{candidate_to_proto, customer_to_proto, link_event_to_proto, profile_to_proto};
use crate::matcher;

/// What a caller is told when a workflow fails.
impl From<app::Error> for ApiError {
    fn from(error: app::Error) -> Self {
        match error {
            app::Error::InvalidArgument { field, problem } => ApiError::InvalidArgument { field, problem },
            app::Error::NotFound { kind, id } => ApiError::NotFound { kind, id },
            app::Error::FailedPrecondition(message) => ApiError::FailedPrecondition(message),
            app::Error::Contended(message) => ApiError::Unavailable(message),
            // UNAVAILABLE when the database may come back, INTERNAL otherwise (tend_store decides).
            app::Error::Storage(error) => error.into(),
            app::Error::Unexpected(message) => ApiError::internal(message),
        }
    }
}

impl From<app::Error> for Status {
    fn from(error: app::Error) -> Self {
        ApiError::from(error).into()
    }
}

/// The services a subject access export (`ExportCustomerData`) asks for their part, each in
/// this process or over gRPC. One that is `None` (neither here nor configured in `[clients]`)
/// makes every export fail with UNAVAILABLE naming it: an export is whole or nothing.
#[derive(Clone, Default)]
pub struct Peers {
    /// Interactions.
    pub ingest: Option<IngestClient>,
    /// Cases and their timelines.
    pub cases: Option<CaseClient>,
    /// Routing decisions.
    pub routing: Option<RoutingClient>,
    /// Testimonial candidates.
    pub feedback: Option<FeedbackClient>,
}

/// Implements `tend.v1.IdentityService` over the application layer (`App`).
pub struct IdentityApi {
    app: Arc<App>,
    peers: Peers,
}

impl IdentityApi {
    /// An API running `app`'s workflows, asking `peers` for their part of exports.
    pub fn new(app: Arc<App>, peers: Peers) -> Self {
        Self { app, peers }
    }

    /// Every other service's part of the export about `subject`, asked at once for `person`.
    async fn parts(
        &self,
        person: &OnBehalfOf,
        subject: &v1::ExportSubjectDataRequest,
    ) -> Result<[(&'static str, Value); 4], Status> {
        let Peers { ingest, cases, routing, feedback } = &self.peers;
        let (ingest, cases, routing, feedback) = tokio::join!(
            part("ingest", ingest.as_ref().map(|client| client.export_subject_data(person, subject.clone()))),
            part("cases", cases.as_ref().map(|client| client.export_subject_data(person, subject.clone()))),
            part("routing", routing.as_ref().map(|client| client.export_subject_data(person, subject.clone()))),
            part("feedback", feedback.as_ref().map(|client| client.export_subject_data(person, subject.clone()))),
        );
        Ok([("ingest", ingest?), ("cases", cases?), ("routing", routing?), ("feedback", feedback?)])
    }
}

/// One service's part of an export, or why there is none: UNAVAILABLE naming the service when
/// it is not configured or cannot be reached, its own code (naming it) otherwise.
async fn part(
    service: &'static str,
    call: Option<impl Future<Output = Result<v1::SubjectDataExport, Status>>>,
) -> Result<Value, Status> {
    let Some(call) = call else {
        return Err(Status::unavailable(format!(
            "the {service} service cannot be reached: it does not run in this process and `clients.{service}` is \
             not set; nothing was exported"
        )));
    };
    let answer = call.await.map_err(|status| {
        let message = status.message().to_owned();
        match status.code() {
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => Status::unavailable(
                format!("the {service} service cannot be reached ({message}); nothing was exported, retry later"),
            ),
            code => Status::new(code, format!("the {service} service refused its part of the export: {message}")),
        }
    })?;
    serde_json::from_str(&answer.json).map_err(|error| {
        ApiError::internal(format!("the {service} service answered an export that is not JSON: {error}")).into()
    })
}

#[tonic::async_trait]
impl v1::identity_service_server::IdentityService for IdentityApi {
    async fn upsert_customer(
        &self,
        request: Request<v1::UpsertCustomerRequest>,
    ) -> Result<Response<v1::UpsertCustomerResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let Some(input) = request.into_inner().customer else {
            return Err(ApiError::invalid("customer", "is required").into());
        };
        let saved = self.app.upsert_customer(&caller.tenant, input).await?;
        Ok(Response::new(v1::UpsertCustomerResponse {
            customer: Some(customer_to_proto(saved.customer)?),
            created: saved.created,
        }))
    }

    async fn import_customers(
        &self,
        request: Request<Streaming<v1::ImportCustomersRequest>>,
    ) -> Result<Response<v1::ImportCustomersResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let mut stream = request.into_inner();
        let mut import = app::customers::Import::default();
        let mut received = 0;
        loop {
            let item = match stream.message().await {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(status) => return Err(import_stopped(received + 1, &import, normalize(status))),
            };
            received += 1;
            let customer = item.customer.unwrap_or_default();
            if let Err(error) = self.app.import_customer(&caller.tenant, &mut import, customer).await {
                return Err(import_stopped(received, &import, error.into()));
            }
        }
        self.app.finish_import(&import).await?;
        tracing::info!(
            created = import.created,
            updated = import.updated,
            rejected = import.rejected,
            "customers imported"
        );
        let app::customers::Import { created, updated, rejected, errors, .. } = import;
        Ok(Response::new(v1::ImportCustomersResponse { created, updated, rejected, errors }))
    }

    async fn link_profile(&self, request: Request<v1::LinkProfileRequest>) -> Result<Response<v1::Profile>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let v1::LinkProfileRequest { profile_id, customer_id, reason } = request.into_inner();
        let row = self.app.link(&caller, &profile_id, &customer_id, &reason).await?;
        Ok(Response::new(profile_to_proto(row)))
    }

    async fn unlink_profile(
        &self,
        request: Request<v1::UnlinkProfileRequest>,
    ) -> Result<Response<v1::Profile>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let v1::UnlinkProfileRequest { profile_id, reason } = request.into_inner();
        Ok(Response::new(profile_to_proto(self.app.unlink(&caller, &profile_id, &reason).await?)))
    }

    async fn list_link_events(
        &self,
        request: Request<v1::ListLinkEventsRequest>,
    ) -> Result<Response<v1::ListLinkEventsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.into_inner();
        let page = Page::parse(request.page_size, &request.page_token)?;
        let rows = self.app.link_events(&caller.tenant, &request.profile_id, &request.customer_id, &page).await?;
        // Bounded in bytes too; the token is the row's id.
        let pairs = rows.into_iter().map(|row| (row.id.clone(), link_event_to_proto(row))).collect();
        let (pairs, next_page_token) =
            page.fit_by(pairs, |(_, item): &(String, _)| prost::Message::encoded_len(item), |(id, _)| id.as_str());
        Ok(Response::new(v1::ListLinkEventsResponse {
            events: pairs.into_iter().map(|(_, item)| item).collect(),
            next_page_token,
        }))
    }

    async fn merge_customers(
        &self,
        request: Request<v1::MergeCustomersRequest>,
    ) -> Result<Response<v1::MergeCustomersResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let v1::MergeCustomersRequest { survivor_id, merged_id, reason } = request.into_inner();
        let merged = self.app.merge(&caller, &survivor_id, &merged_id, &reason).await?;
        Ok(Response::new(v1::MergeCustomersResponse {
            merge_id: merged.merge.id,
            survivor: Some(customer_to_proto(merged.survivor)?),
            profiles_moved: merged.profiles_moved,
        }))
    }

    async fn undo_merge(&self, request: Request<v1::UndoMergeRequest>) -> Result<Response<v1::Customer>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let v1::UndoMergeRequest { merge_id, reason } = request.into_inner();
        let restored = self.app.undo_merge(&caller, &merge_id, &reason).await?;
        Ok(Response::new(customer_to_proto(restored)?))
    }

    async fn forget_customer(
        &self,
        request: Request<v1::ForgetCustomerRequest>,
    ) -> Result<Response<v1::ForgetCustomerResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let v1::ForgetCustomerRequest { customer_id, reason } = request.into_inner();
        let profiles_erased = self.app.forget(&caller, &customer_id, &reason).await?;
        Ok(Response::new(v1::ForgetCustomerResponse { profiles_erased }))
    }

    async fn export_customer_data(
        &self,
        request: Request<v1::ExportCustomerDataRequest>,
    ) -> Result<Response<v1::CustomerDataExport>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let person = OnBehalfOf::of(&request)?;
        let holdings = self.app.holdings(&caller.tenant, &request.get_ref().customer_id).await?;
        let parts = self.parts(&person, &holdings.subject).await?;
        let mut document = json!({
            "customer_id": holdings.subject.customer_id,
            "exported_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "identity": holdings.identity,
        });
        if let Value::Object(fields) = &mut document {
            for (service, part) in parts {
                fields.insert(service.to_owned(), part);
            }
        }
        let json = serde_json::to_string_pretty(&document).map_err(ApiError::internal)?;
        if json.len() > MAX_EXPORT_BYTES {
            return Err(too_big("customer", json.len()));
        }
        self.app.record_export(&caller, &holdings.subject.customer_id, json.len()).await?;
        tracing::info!(
            customer_id = %holdings.subject.customer_id,
            bytes = json.len(),
            actor = %caller.actor,
            "customer data exported"
        );
        Ok(Response::new(v1::CustomerDataExport { json }))
    }

    async fn train_matcher(
        &self,
        request: Request<v1::TrainMatcherRequest>,
    ) -> Result<Response<v1::TrainMatcherResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let trained = self.app.train(&caller.tenant).await?;
        Ok(Response::new(v1::TrainMatcherResponse {
            profiles: trained.profiles,
            customers: trained.customers,
            candidate_pairs: trained.candidate_pairs,
            trained_at: Some(to_timestamp(trained.trained_at)),
        }))
    }

    async fn set_match_thresholds(
        &self,
        request: Request<v1::SetMatchThresholdsRequest>,
    ) -> Result<Response<v1::SetMatchThresholdsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let v1::SetMatchThresholdsRequest { link_threshold, review_threshold } = request.into_inner();
        self.app.set_thresholds(&caller.tenant, link_threshold, review_threshold).await?;
        Ok(Response::new(v1::SetMatchThresholdsResponse { link_threshold, review_threshold }))
    }

    async fn explain_match(
        &self,
        request: Request<v1::ExplainMatchRequest>,
    ) -> Result<Response<v1::MatchExplanation>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let v1::ExplainMatchRequest { profile_id, customer_id } = request.into_inner();
        let scored = self.app.explain(&caller.tenant, &profile_id, &customer_id).await?;
        Ok(Response::new(matcher::explanation(&scored)))
    }

    async fn list_review_queue(
        &self,
        request: Request<v1::ListReviewQueueRequest>,
    ) -> Result<Response<v1::ListReviewQueueResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.into_inner();
        let page = Page::parse(request.page_size, &request.page_token)?;
        let rows = self.app.review_queue(&caller.tenant, &page).await?;
        // Bounded in bytes too; the token is the row's id.
        let pairs = rows.into_iter().map(|row| (row.id.clone(), candidate_to_proto(row))).collect();
        let (pairs, next_page_token) =
            page.fit_by(pairs, |(_, item): &(String, _)| prost::Message::encoded_len(item), |(id, _)| id.as_str());
        Ok(Response::new(v1::ListReviewQueueResponse {
            candidates: pairs.into_iter().map(|(_, item)| item).collect(),
            next_page_token,
        }))
    }

    async fn confirm_candidate(
        &self,
        request: Request<v1::ConfirmCandidateRequest>,
    ) -> Result<Response<v1::Profile>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let v1::ConfirmCandidateRequest { candidate_id, reason } = request.into_inner();
        let row = self.app.decide(&caller, &candidate_id, Verdict::Confirm, &reason).await?;
        Ok(Response::new(profile_to_proto(row)))
    }

    async fn reject_candidate(
        &self,
        request: Request<v1::RejectCandidateRequest>,
    ) -> Result<Response<v1::Profile>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let v1::RejectCandidateRequest { candidate_id, reason } = request.into_inner();
        let row = self.app.decide(&caller, &candidate_id, Verdict::Reject, &reason).await?;
        Ok(Response::new(profile_to_proto(row)))
    }

    async fn get_customer(&self, request: Request<v1::GetCustomerRequest>) -> Result<Response<v1::Customer>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let row = self.app.customer(&caller.tenant, &request.get_ref().id).await?;
        let opted_out = self.app.notices_opted_out(&caller.tenant, &row.id).await?;
        Ok(Response::new(v1::Customer { notices_opted_out: opted_out, ..customer_to_proto(row)? }))
    }

    async fn set_notice_opt_out(
        &self,
        request: Request<v1::SetNoticeOptOutRequest>,
    ) -> Result<Response<v1::Customer>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let v1::SetNoticeOptOutRequest { customer_id, opted_out } = request.into_inner();
        let row = self.app.set_notice_opt_out(&caller, &customer_id, opted_out).await?;
        Ok(Response::new(v1::Customer { notices_opted_out: opted_out, ..customer_to_proto(row)? }))
    }

    async fn list_customers(
        &self,
        request: Request<v1::ListCustomersRequest>,
    ) -> Result<Response<v1::ListCustomersResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.into_inner();
        let page = Page::parse(request.page_size, &request.page_token)?;
        let rows = self.app.customers(&caller.tenant, &page).await?;
        let customers = rows.into_iter().map(customer_to_proto).collect::<Result<Vec<_>, _>>()?;
        // Bounded in bytes too: a page of the largest customers would pass a client's 4 MiB.
        let (customers, next_page_token) = page.fit(customers, |customer| customer.id.as_str());
        Ok(Response::new(v1::ListCustomersResponse { customers, next_page_token }))
    }

    async fn get_profile(&self, request: Request<v1::GetProfileRequest>) -> Result<Response<v1::Profile>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let row = self.app.profile(&caller.tenant, &request.get_ref().id).await?;
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
        let rows = self.app.profiles(&caller.tenant, &page).await?;
        // Bounded in bytes too; the token is the row's id.
        let pairs = rows.into_iter().map(|row| (row.id.clone(), profile_to_proto(row))).collect();
        let (pairs, next_page_token) =
            page.fit_by(pairs, |(_, item): &(String, _)| prost::Message::encoded_len(item), |(id, _)| id.as_str());
        Ok(Response::new(v1::ListProfilesResponse {
            profiles: pairs.into_iter().map(|(_, item)| item).collect(),
            next_page_token,
        }))
    }
}

/// The answer to an import that stopped at `record` (counted from 1): why, and what was applied
/// before it, so that the caller can send the rest again from that record.
fn import_stopped(record: u64, import: &app::customers::Import, status: Status) -> Status {
    let app::customers::Import { created, updated, rejected, .. } = import;
    Status::new(
        status.code(),
        format!(
            "import stopped at record {record}: {}; the {} records before it were applied (created {created}, \
             updated {updated}, rejected {rejected}): send again from record {record}",
            status.message(),
            record - 1,
        ),
    )
}
