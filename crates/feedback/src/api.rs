//! The gRPC face of the feedback service.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use tend_kernel::ApiError;
use tend_kernel::auth::{Access, caller};
use tend_kernel::ids::{from_timestamp, to_timestamp};
use tend_kernel::paging::Page;
use tend_proto::v1;
use tend_store::{DbContext as _, OutboxWaker};
use tonic::{Request, Response, Status};

use crate::initiatives;
use crate::insights;
use crate::surveys::{self, Surveys};
use crate::testimonials;

use crate::storage;
use crate::storage::routed::{self, testimonial_candidate};

/// Implements `tend.v1.FeedbackService` over the service's database.
pub struct FeedbackApi {
    db: DatabaseConnection,
    surveys: Surveys,
    waker: OutboxWaker,
    exports: insights::api::Exports,
}

impl FeedbackApi {
    /// An API over `db`, with the default survey settings and links signed with a random
    /// secret (tests).
    pub fn new(db: DatabaseConnection) -> Self {
        let surveys = Surveys::new(
            &crate::FeedbackConfig::default(),
            crate::surveys::token::Signer::random(),
            std::sync::Arc::new(tend_kernel::ids::SystemClock),
        );
        Self::with_surveys(db, surveys, OutboxWaker::default())
    }

    /// An API over `db` with `surveys`' settings, waking `waker` when it publishes.
    pub fn with_surveys(db: DatabaseConnection, surveys: Surveys, waker: OutboxWaker) -> Self {
        Self { db, surveys, waker, exports: insights::api::Exports::default() }
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

/// A stored testimonial candidate on the wire.
fn candidate_to_proto(row: testimonial_candidate::Model) -> v1::TestimonialCandidate {
    v1::TestimonialCandidate {
        interaction_id: row.interaction_id,
        profile_id: row.profile_id,
        customer_id: row.customer_id,
        channel: row.channel,
        proposed_at: Some(to_timestamp(row.proposed_at)),
    }
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
        let routed = routed::tally(&self.db, tenant, from, to).await.context("counting routed interactions")?;
        let mut report = v1::ServiceReport {
            cases_opened,
            cases_resolved: resolved.len() as u64,
            mean_seconds_to_resolve,
            interactions_routed: routed.interactions,
            not_actionable: routed.not_actionable,
            by_topic: routed
                .by_topic
                .into_iter()
                .map(|tally| v1::TopicCount {
                    topic: tally.topic,
                    interactions: tally.interactions,
                    not_actionable: tally.not_actionable,
                })
                .collect(),
            by_queue: routed
                .by_queue
                .into_iter()
                .map(|(queue, interactions)| v1::QueueCount { queue, interactions })
                .collect(),
            testimonial_candidates: routed.testimonial_candidates,
            ..Default::default()
        };
        if request.get_ref().detailed {
            crate::report::detailed(&self.db, tenant, request.get_ref(), from, to, &mut report).await?;
        }
        Ok(Response::new(report))
    }

    async fn create_initiative(
        &self,
        request: Request<v1::CreateInitiativeRequest>,
    ) -> Result<Response<v1::Initiative>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        Ok(Response::new(initiatives::create(&self.db, caller.tenant.as_str(), request.get_ref()).await?))
    }

    async fn get_initiative(
        &self,
        request: Request<v1::GetInitiativeRequest>,
    ) -> Result<Response<v1::Initiative>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let row = initiatives::find(&self.db, caller.tenant.as_str(), &request.get_ref().id).await?;
        Ok(Response::new(initiatives::to_proto(&row)))
    }

    async fn list_initiatives(
        &self,
        request: Request<v1::ListInitiativesRequest>,
    ) -> Result<Response<v1::ListInitiativesResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        Ok(Response::new(initiatives::list(&self.db, caller.tenant.as_str(), request.get_ref()).await?))
    }

    async fn update_initiative(
        &self,
        request: Request<v1::UpdateInitiativeRequest>,
    ) -> Result<Response<v1::Initiative>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        Ok(Response::new(initiatives::update(&self.db, caller.tenant.as_str(), request.get_ref()).await?))
    }

    async fn delete_initiative(
        &self,
        request: Request<v1::DeleteInitiativeRequest>,
    ) -> Result<Response<v1::DeleteInitiativeResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let deleted = initiatives::delete(&self.db, caller.tenant.as_str(), &request.get_ref().id).await?;
        Ok(Response::new(v1::DeleteInitiativeResponse { deleted }))
    }

    async fn get_initiative_report(
        &self,
        request: Request<v1::GetInitiativeReportRequest>,
    ) -> Result<Response<v1::InitiativeReport>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let report = initiatives::report(&self.db, caller.tenant.as_str(), request.get_ref(), Utc::now()).await?;
        Ok(Response::new(report))
    }

    async fn list_testimonial_candidates(
        &self,
        request: Request<v1::ListTestimonialCandidatesRequest>,
    ) -> Result<Response<v1::ListTestimonialCandidatesResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.into_inner();
        let page = Page::parse(request.page_size, &request.page_token)?;
        let rows = routed::list_candidates(&self.db, caller.tenant.as_str(), &page)
            .await
            .context("listing testimonial candidates")?;
        let candidates = rows.into_iter().map(candidate_to_proto).collect();
        let (candidates, next_page_token) = page.fit(candidates, |candidate| candidate.interaction_id.as_str());
        Ok(Response::new(v1::ListTestimonialCandidatesResponse { candidates, next_page_token }))
    }

    async fn export_subject_data(
        &self,
        request: Request<v1::ExportSubjectDataRequest>,
    ) -> Result<Response<v1::SubjectDataExport>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let subject = tend_client::export::Subject::parse(request.get_ref())?;
        let rows = routed::of_person(&self.db, caller.tenant.as_str(), &subject.customer_id, &subject.profile_ids)
            .await
            .context("reading testimonial candidates")?;
        let candidates: Vec<_> = rows
            .into_iter()
            .map(|(candidate, fact)| {
                let state = candidate.state.clone();
                let routed = fact.map(|fact| {
                    let intents: Vec<String> = fact
                        .intents
                        .split(',')
                        .filter(|intent| !intent.is_empty())
                        .map(|intent| {
                            intent
                                .parse::<i32>()
                                .ok()
                                .and_then(|number| v1::Intent::try_from(number).ok())
                                .map_or_else(|| intent.to_owned(), |intent| intent.as_str_name().to_owned())
                        })
                        .collect();
                    tend_kernel::proto_json::json!({
                        "decided_at": fact.decided_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                        "actionable": fact.actionable,
                        "not_actionable_reason": fact.not_actionable_reason,
                        "queue": fact.queue,
                        "priority": fact.priority,
                        "intents": intents,
                        "topics": fact.topics.split(',').filter(|topic| !topic.is_empty()).collect::<Vec<_>>(),
                        "sentiment": v1::SentimentLabel::try_from(fact.sentiment)
                            .map_or_else(|_| fact.sentiment.to_string(), |label| label.as_str_name().to_owned()),
                    })
                });
                tend_kernel::proto_json::json!({
                    "candidate": tend_client::export::record("TestimonialCandidate", &candidate_to_proto(candidate)),
                    "state": state,
                    "routed": routed,
                })
            })
            .collect();
        let surveys_held =
            surveys::storage::of_person(&self.db, caller.tenant.as_str(), &subject.customer_id, &subject.profile_ids)
                .await
                .context("reading surveys")?;
        let testimonials_held = testimonials::storage::of_person(
            &self.db,
            caller.tenant.as_str(),
            &subject.customer_id,
            &subject.profile_ids,
        )
        .await
        .context("reading testimonials")?;
        let given: Vec<_> = testimonials_held
            .iter()
            .map(|row| tend_client::export::record("Testimonial", &testimonials::to_proto(row)))
            .collect();
        let document = tend_kernel::proto_json::json!({
            "testimonial_candidates": candidates,
            "surveys": surveys::api::export(&surveys_held),
            "testimonials": given,
        });
        Ok(Response::new(tend_client::export::answer(crate::SERVICE, &document)?))
    }

    async fn put_survey_template(
        &self,
        request: Request<v1::PutSurveyTemplateRequest>,
    ) -> Result<Response<v1::SurveyTemplate>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(surveys::api::put_template(&self.db, &self.surveys, &caller, request.into_inner()).await?))
    }

    async fn get_survey_template(
        &self,
        request: Request<v1::GetSurveyTemplateRequest>,
    ) -> Result<Response<v1::SurveyTemplate>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(surveys::api::get_template(&self.db, &caller, request.into_inner()).await?))
    }

    async fn list_survey_templates(
        &self,
        request: Request<v1::ListSurveyTemplatesRequest>,
    ) -> Result<Response<v1::ListSurveyTemplatesResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(surveys::api::list_templates(&self.db, &caller).await?))
    }

    async fn delete_survey_template(
        &self,
        request: Request<v1::DeleteSurveyTemplateRequest>,
    ) -> Result<Response<v1::DeleteSurveyTemplateResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(surveys::api::delete_template(&self.db, &caller, request.into_inner()).await?))
    }

    async fn set_survey_opt_out(
        &self,
        request: Request<v1::SetSurveyOptOutRequest>,
    ) -> Result<Response<v1::SurveyOptOut>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(surveys::api::set_opt_out(&self.db, &self.surveys, &caller, request.into_inner()).await?))
    }

    async fn open_survey(&self, request: Request<v1::OpenSurveyRequest>) -> Result<Response<v1::SurveyForm>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(surveys::api::open_survey(&self.db, &self.surveys, &caller, request.into_inner()).await?))
    }

    async fn submit_response(
        &self,
        request: Request<v1::SubmitResponseRequest>,
    ) -> Result<Response<v1::SubmitResponseResponse>, Status> {
        let caller = caller(&request)?;
        let answer =
            surveys::api::submit_response(&self.db, &self.surveys, &self.waker, &caller, request.into_inner()).await?;
        Ok(Response::new(answer))
    }

    async fn list_survey_responses(
        &self,
        request: Request<v1::ListSurveyResponsesRequest>,
    ) -> Result<Response<v1::ListSurveyResponsesResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(surveys::api::list_responses(&self.db, &caller, request.into_inner()).await?))
    }

    async fn list_surveys(
        &self,
        request: Request<v1::ListSurveysRequest>,
    ) -> Result<Response<v1::ListSurveysResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(surveys::api::list_surveys(&self.db, &caller, request.into_inner()).await?))
    }

    async fn give_testimonial(
        &self,
        request: Request<v1::GiveTestimonialRequest>,
    ) -> Result<Response<v1::Testimonial>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            testimonials::api::give_testimonial(&self.db, &self.surveys, &caller, request.into_inner()).await?,
        ))
    }

    async fn propose_testimonial(
        &self,
        request: Request<v1::ProposeTestimonialRequest>,
    ) -> Result<Response<v1::Testimonial>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(testimonials::api::propose(&self.db, &self.surveys, &caller, request.into_inner()).await?))
    }

    async fn record_testimonial_consent(
        &self,
        request: Request<v1::RecordTestimonialConsentRequest>,
    ) -> Result<Response<v1::Testimonial>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(
            testimonials::api::record_consent(&self.db, &self.surveys, &caller, request.into_inner()).await?,
        ))
    }

    async fn moderate_testimonial(
        &self,
        request: Request<v1::ModerateTestimonialRequest>,
    ) -> Result<Response<v1::Testimonial>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(testimonials::api::moderate(&self.db, &self.surveys, &caller, request.into_inner()).await?))
    }

    async fn withdraw_testimonial(
        &self,
        request: Request<v1::WithdrawTestimonialRequest>,
    ) -> Result<Response<v1::Testimonial>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(testimonials::api::withdraw(&self.db, &self.surveys, &caller, request.into_inner()).await?))
    }

    async fn list_testimonials(
        &self,
        request: Request<v1::ListTestimonialsRequest>,
    ) -> Result<Response<v1::ListTestimonialsResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(testimonials::api::list(&self.db, &caller, request.into_inner()).await?))
    }

    async fn list_published_testimonials(
        &self,
        request: Request<v1::ListPublishedTestimonialsRequest>,
    ) -> Result<Response<v1::ListPublishedTestimonialsResponse>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(testimonials::api::list_published(&self.db, &caller, request.into_inner()).await?))
    }

    type ExportInsightsStream = insights::api::Responses;

    async fn export_insights(
        &self,
        request: Request<v1::ExportInsightsRequest>,
    ) -> Result<Response<Self::ExportInsightsStream>, Status> {
        let caller = caller(&request)?;
        Ok(Response::new(self.exports.start(&self.db, &caller, request.get_ref())?))
    }
}
