//! The gRPC face of the identity service.

use std::sync::Arc;

use prost::Message as _;
use sea_orm::{DatabaseConnection, TransactionTrait};
use tend_kernel::ApiError;
use tend_kernel::TenantId;
use tend_kernel::auth::{Access, caller};
use tend_kernel::ids::{self, parse_id, to_timestamp};
use tend_kernel::paging::Page;
use tend_proto::v1;
use tend_store::OutboxWaker;
use tonic::{Request, Response, Status, Streaming};

use crate::customers;
use crate::domain::{LinkMethod, LinkStatus};
use crate::matcher::{self, Matchers};
use crate::storage::{self, customer, link_event, profile};

/// Implements `tend.v1.IdentityService` over the service's database.
pub struct IdentityApi {
    pub(crate) db: DatabaseConnection,
    pub(crate) relay: OutboxWaker,
    pub(crate) matchers: Arc<Matchers>,
}

impl IdentityApi {
    /// An API over `db`, waking `relay` after each committed event.
    pub fn new(db: DatabaseConnection, relay: OutboxWaker, matchers: Arc<Matchers>) -> Self {
        Self { db, relay, matchers }
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
        link_method: LinkMethod::parse(&row.link_method).to_proto().into(),
        link_evidence: row.link_evidence,
        location: row.location,
    }
}

fn link_event_to_proto(row: link_event::Model) -> v1::LinkEvent {
    v1::LinkEvent {
        id: row.id,
        profile_id: row.profile_id,
        customer_id: row.customer_id,
        action: row.action,
        method: row.method,
        evidence: row.evidence,
        actor: row.actor,
        reason: row.reason.unwrap_or_default(),
        at: Some(to_timestamp(row.at)),
    }
}

/// A stored customer in the contract's shape: the original input and its normal forms.
pub(crate) fn customer_to_proto(row: customer::Model) -> Result<v1::Customer, ApiError> {
    let original = v1::CustomerInput::decode(row.original.as_slice())
        .map_err(|error| ApiError::internal(format!("customer {} has an unreadable original: {error}", row.id)))?;
    let normalized = customers::check(&original).map(|checked| checked.normalized).ok();
    Ok(v1::Customer {
        id: row.id,
        tenant: row.tenant,
        original: Some(original),
        normalized,
        created_at: Some(to_timestamp(row.created_at)),
        updated_at: Some(to_timestamp(row.updated_at)),
    })
}

impl IdentityApi {
    /// Creates or updates a customer from the CRM; see `UpsertCustomer` in identity.proto.
    async fn upsert(
        &self,
        tenant: &TenantId,
        input: v1::CustomerInput,
    ) -> Result<v1::UpsertCustomerResponse, ApiError> {
        let checked = customers::check(&input)?;
        let crm_id = input.crm_id.trim().to_owned();
        let original = input.encode_to_vec();
        // A concurrent first upsert of the same CRM id may win the insert; then update theirs.
        for _ in 0..2 {
            let txn = self.db.begin().await.map_err(ApiError::internal)?;
            let existing =
                storage::find_customer_by_crm_id(&txn, tenant.as_str(), &crm_id).await.map_err(ApiError::internal)?;
            if let Some(row) = existing.as_ref().filter(|row| row.original == original) {
                return Ok(v1::UpsertCustomerResponse {
                    customer: Some(customer_to_proto(row.clone())?),
                    created: false,
                });
            }
            let now = ids::now();
            let is_new = existing.is_none();
            let row = customer::Model {
                id: existing.as_ref().map(|row| row.id.clone()).unwrap_or_else(ids::new_id),
                tenant: tenant.as_str().to_owned(),
                crm_id: crm_id.clone(),
                given_name: checked.normalized.given_name.clone(),
                family_name: checked.normalized.family_name.clone(),
                postcode: checked.normalized.postcode.clone(),
                date_of_birth: checked.date_of_birth.clone(),
                segment: input.segment.trim().to_owned(),
                tier: input.tier.trim().to_owned(),
                lifetime_value: input.lifetime_value,
                original: original.clone(),
                merged_into: existing.as_ref().and_then(|row| row.merged_into.clone()),
                created_at: existing.as_ref().map(|row| row.created_at).unwrap_or(now),
                updated_at: now,
            };
            let saved = storage::save_customer(&txn, row.clone(), &checked.identifiers(), is_new).await;
            match saved {
                Ok(()) => {
                    txn.commit().await.map_err(ApiError::internal)?;
                    tracing::info!(customer_id = %row.id, crm_id, created = is_new, "customer saved");
                    return Ok(v1::UpsertCustomerResponse { customer: Some(customer_to_proto(row)?), created: is_new });
                }
                Err(error) if is_new => tracing::debug!(%error, crm_id, "customer insert lost a race; updating"),
                Err(error) => return Err(ApiError::internal(error)),
            }
        }
        Err(ApiError::Unavailable(format!("customer {crm_id} is being changed concurrently; retry")))
    }
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
        Ok(Response::new(self.upsert(&caller.tenant, input).await?))
    }

    async fn import_customers(
        &self,
        request: Request<Streaming<v1::ImportCustomersRequest>>,
    ) -> Result<Response<v1::ImportCustomersResponse>, Status> {
        const MAX_ERRORS: usize = 100;
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let mut stream = request.into_inner();
        let mut outcome = v1::ImportCustomersResponse::default();
        let mut record = 0_u64;
        while let Some(item) = stream.message().await? {
            record += 1;
            let input = item.customer.unwrap_or_default();
            let crm_id = input.crm_id.clone();
            match self.upsert(&caller.tenant, input).await {
                Ok(saved) if saved.created => outcome.created += 1,
                Ok(_) => outcome.updated += 1,
                Err(error @ ApiError::InvalidArgument { .. }) => {
                    outcome.rejected += 1;
                    if outcome.errors.len() < MAX_ERRORS {
                        outcome.errors.push(format!("record {record} (crm_id {crm_id:?}): {error}"));
                    }
                }
                // The stream stops at the first infrastructure failure; re-sending the whole
                // import is safe (upserts are idempotent).
                Err(error) => return Err(error.into()),
            }
        }
        tracing::info!(
            created = outcome.created,
            updated = outcome.updated,
            rejected = outcome.rejected,
            "customers imported"
        );
        Ok(Response::new(outcome))
    }

    async fn link_profile(&self, request: Request<v1::LinkProfileRequest>) -> Result<Response<v1::Profile>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        Ok(Response::new(self.link_by_person(&caller, request.into_inner()).await?))
    }

    async fn unlink_profile(
        &self,
        request: Request<v1::UnlinkProfileRequest>,
    ) -> Result<Response<v1::Profile>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        Ok(Response::new(self.unlink_by_person(&caller, request.into_inner()).await?))
    }

    async fn list_link_events(
        &self,
        request: Request<v1::ListLinkEventsRequest>,
    ) -> Result<Response<v1::ListLinkEventsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.into_inner();
        let (profile_id, customer_id) = match (request.profile_id.is_empty(), request.customer_id.is_empty()) {
            (false, true) => (Some(parse_id("profile_id", &request.profile_id)?), None),
            (true, false) => (None, Some(parse_id("customer_id", &request.customer_id)?)),
            _ => return Err(ApiError::invalid("profile_id", "give exactly one of profile_id and customer_id").into()),
        };
        let page = Page::parse(request.page_size, &request.page_token)?;
        let rows = storage::link_events(
            &self.db,
            caller.tenant.as_str(),
            profile_id.as_deref(),
            customer_id.as_deref(),
            &page,
        )
        .await
        .map_err(ApiError::internal)?;
        let next_page_token = page.next_token(&rows, |row| row.id.as_str());
        Ok(Response::new(v1::ListLinkEventsResponse {
            events: rows.into_iter().map(link_event_to_proto).collect(),
            next_page_token,
        }))
    }

    async fn merge_customers(
        &self,
        request: Request<v1::MergeCustomersRequest>,
    ) -> Result<Response<v1::MergeCustomersResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let (record, survivor, profiles_moved) = self.merge(&caller, request.into_inner()).await?;
        Ok(Response::new(v1::MergeCustomersResponse {
            merge_id: record.id,
            survivor: Some(customer_to_proto(survivor)?),
            profiles_moved,
        }))
    }

    async fn undo_merge(&self, request: Request<v1::UndoMergeRequest>) -> Result<Response<v1::Customer>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let restored = IdentityApi::undo_merge(self, &caller, request.into_inner()).await?;
        Ok(Response::new(customer_to_proto(restored)?))
    }

    async fn forget_customer(
        &self,
        request: Request<v1::ForgetCustomerRequest>,
    ) -> Result<Response<v1::ForgetCustomerResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let profiles_erased = self.forget(&caller, request.into_inner()).await?;
        Ok(Response::new(v1::ForgetCustomerResponse { profiles_erased }))
    }

    async fn train_matcher(
        &self,
        request: Request<v1::TrainMatcherRequest>,
    ) -> Result<Response<v1::TrainMatcherResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        Ok(Response::new(self.matchers.train(&self.db, caller.tenant.as_str()).await?))
    }

    async fn set_match_thresholds(
        &self,
        request: Request<v1::SetMatchThresholdsRequest>,
    ) -> Result<Response<v1::SetMatchThresholdsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let request = request.into_inner();
        self.matchers
            .set_thresholds(&self.db, caller.tenant.as_str(), request.link_threshold, request.review_threshold)
            .await?;
        Ok(Response::new(v1::SetMatchThresholdsResponse {
            link_threshold: request.link_threshold,
            review_threshold: request.review_threshold,
        }))
    }

    async fn explain_match(
        &self,
        request: Request<v1::ExplainMatchRequest>,
    ) -> Result<Response<v1::MatchExplanation>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let tenant = caller.tenant.as_str();
        let request = request.into_inner();
        let profile_id = parse_id("profile_id", &request.profile_id)?;
        let customer_id = parse_id("customer_id", &request.customer_id)?;
        let Some(loaded) = self.matchers.load(&self.db, tenant).await? else {
            return Err(ApiError::FailedPrecondition("the matcher is not trained yet: call TrainMatcher".into()).into());
        };
        let profile = storage::find(&self.db, tenant, &profile_id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found("profile", &profile_id))?;
        let customer = storage::find_customer(&self.db, tenant, &customer_id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found("customer", &customer_id))?;
        let scored = loaded.model.score(&matcher::profile_record(&profile), &matcher::customer_record(&customer));
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
        let rows =
            storage::pending_candidates(&self.db, caller.tenant.as_str(), &page).await.map_err(ApiError::internal)?;
        let next_page_token = page.next_token(&rows, |row| row.id.as_str());
        let candidates = rows
            .into_iter()
            .map(|row| v1::ReviewCandidate {
                explanation: v1::MatchExplanation::decode(row.explanation.as_slice()).ok(),
                id: row.id,
                profile_id: row.profile_id,
                customer_id: row.customer_id,
                probability: row.probability,
                proposed_at: Some(to_timestamp(row.proposed_at)),
            })
            .collect();
        Ok(Response::new(v1::ListReviewQueueResponse { candidates, next_page_token }))
    }

    async fn confirm_candidate(
        &self,
        request: Request<v1::ConfirmCandidateRequest>,
    ) -> Result<Response<v1::Profile>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let v1::ConfirmCandidateRequest { candidate_id, reason } = request.into_inner();
        Ok(Response::new(self.decide_candidate(&caller, &candidate_id, reason, true).await?))
    }

    async fn reject_candidate(
        &self,
        request: Request<v1::RejectCandidateRequest>,
    ) -> Result<Response<v1::Profile>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let v1::RejectCandidateRequest { candidate_id, reason } = request.into_inner();
        Ok(Response::new(self.decide_candidate(&caller, &candidate_id, reason, false).await?))
    }

    async fn get_customer(&self, request: Request<v1::GetCustomerRequest>) -> Result<Response<v1::Customer>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let row = storage::find_customer(&self.db, caller.tenant.as_str(), &id)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found("customer", &id))?;
        Ok(Response::new(customer_to_proto(row)?))
    }

    async fn list_customers(
        &self,
        request: Request<v1::ListCustomersRequest>,
    ) -> Result<Response<v1::ListCustomersResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.into_inner();
        let page = Page::parse(request.page_size, &request.page_token)?;
        let rows =
            storage::list_customers(&self.db, caller.tenant.as_str(), &page).await.map_err(ApiError::internal)?;
        let next_page_token = page.next_token(&rows, |row| row.id.as_str());
        let customers = rows.into_iter().map(customer_to_proto).collect::<Result<Vec<_>, _>>()?;
        Ok(Response::new(v1::ListCustomersResponse { customers, next_page_token }))
    }

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
