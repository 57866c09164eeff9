//! The runner against a fake Tend: an in-memory ingest that opens a case per new post at once,
//! which can lose posts, duplicate cases and reject spam on purpose, so every count is checked.

#![allow(clippy::unwrap_used)] // a panic is the failure report in a test's helpers too

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tend_loadgen::{LoadgenArgs, run};
use tend_proto::v1::{
    self,
    case_service_server::{CaseService, CaseServiceServer},
    feedback_service_server::{FeedbackService, FeedbackServiceServer},
    ingest_service_server::{IngestService, IngestServiceServer},
};
use tonic::{Request, Response, Status};

#[derive(Debug, Default)]
struct State {
    by_external: HashMap<(i32, String), String>,
    /// Oldest first.
    cases: Vec<v1::Case>,
    next: u128,
    tenants: Vec<String>,
}

#[derive(Debug, Clone, Default)]
struct Fake {
    state: Arc<Mutex<State>>,
    /// Open no case for every n-th new post.
    lose_every: Option<u128>,
    /// Open two cases for every n-th new post.
    duplicate_every: Option<u128>,
    /// Refuse posts with links.
    reject_spam: bool,
}

fn uuid(n: u128) -> String {
    let hex = format!("{n:032x}");
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

impl Fake {
    fn ingest_one(
        &self,
        tenant: &str,
        request: v1::IngestInteractionRequest,
    ) -> Result<v1::IngestInteractionResponse, String> {
        if request.text.trim().is_empty() {
            return Err("text: is required".to_owned());
        }
        if self.reject_spam && request.text.contains("bit.ly") {
            return Err("text: looks like spam".to_owned());
        }
        if request.author.as_ref().is_none_or(|author| author.external_id.is_empty()) {
            return Err("author.external_id: is required".to_owned());
        }
        let mut state = self.state.lock().unwrap();
        if !state.tenants.iter().any(|t| t == tenant) {
            state.tenants.push(tenant.to_owned());
        }
        let key = (request.channel, request.external_id.clone());
        if let Some(id) = state.by_external.get(&key) {
            let interaction = v1::Interaction { id: id.clone(), ..Default::default() };
            return Ok(v1::IngestInteractionResponse { interaction: Some(interaction), duplicate: true });
        }
        state.next += 1;
        let n = state.next;
        let id = uuid(n);
        state.by_external.insert(key, id.clone());
        let copies = if self.lose_every.is_some_and(|every| n.is_multiple_of(every)) {
            0
        } else if self.duplicate_every.is_some_and(|every| n.is_multiple_of(every)) {
            2
        } else {
            1
        };
        for copy in 0..copies {
            let case = v1::Case {
                id: uuid((1 << 100) + n * 2 + copy),
                tenant: tenant.to_owned(),
                interaction_ids: vec![id.clone()],
                opened_at: Some(SystemTime::now().into()),
                ..Default::default()
            };
            state.cases.push(case);
        }
        Ok(v1::IngestInteractionResponse {
            interaction: Some(v1::Interaction { id, ..Default::default() }),
            duplicate: false,
        })
    }
}

fn tenant_of<T>(request: &Request<T>) -> Result<String, Status> {
    request
        .metadata()
        .get("x-tend-tenant")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| Status::unauthenticated("no tenant"))
}

#[tonic::async_trait]
impl IngestService for Fake {
    async fn export_subject_data(
        &self,
        _: Request<v1::ExportSubjectDataRequest>,
    ) -> Result<Response<v1::SubjectDataExport>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn ingest_interaction(
        &self,
        request: Request<v1::IngestInteractionRequest>,
    ) -> Result<Response<v1::IngestInteractionResponse>, Status> {
        let tenant = tenant_of(&request)?;
        self.ingest_one(&tenant, request.into_inner()).map(Response::new).map_err(Status::invalid_argument)
    }

    async fn ingest_batch(
        &self,
        request: Request<v1::IngestBatchRequest>,
    ) -> Result<Response<v1::IngestBatchResponse>, Status> {
        let tenant = tenant_of(&request)?;
        let batch = request.into_inner().interactions;
        if batch.is_empty() || batch.len() > 500 {
            return Err(Status::invalid_argument("interactions: 1 to 500"));
        }
        let results = batch
            .into_iter()
            .map(|post| v1::IngestBatchResult {
                outcome: Some(match self.ingest_one(&tenant, post) {
                    Ok(ok) => v1::ingest_batch_result::Outcome::Ok(ok),
                    Err(error) => v1::ingest_batch_result::Outcome::Error(error),
                }),
            })
            .collect();
        Ok(Response::new(v1::IngestBatchResponse { results }))
    }

    async fn get_interaction(
        &self,
        _: Request<v1::GetInteractionRequest>,
    ) -> Result<Response<v1::Interaction>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_interactions(
        &self,
        _: Request<v1::ListInteractionsRequest>,
    ) -> Result<Response<v1::ListInteractionsResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }
}

#[tonic::async_trait]
impl CaseService for Fake {
    async fn open_incident(&self, _: Request<v1::OpenIncidentRequest>) -> Result<Response<v1::Incident>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn get_incident(&self, _: Request<v1::GetIncidentRequest>) -> Result<Response<v1::Incident>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_incidents(
        &self,
        _: Request<v1::ListIncidentsRequest>,
    ) -> Result<Response<v1::ListIncidentsResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn update_incident(&self, _: Request<v1::UpdateIncidentRequest>) -> Result<Response<v1::Incident>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn add_to_incident(&self, _: Request<v1::AddToIncidentRequest>) -> Result<Response<v1::Incident>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn remove_from_incident(
        &self,
        _: Request<v1::RemoveFromIncidentRequest>,
    ) -> Result<Response<v1::Incident>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn merge_incidents(&self, _: Request<v1::MergeIncidentsRequest>) -> Result<Response<v1::Incident>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_incident_members(
        &self,
        _: Request<v1::ListIncidentMembersRequest>,
    ) -> Result<Response<v1::ListCasesResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn answer_incident(
        &self,
        _: Request<v1::AnswerIncidentRequest>,
    ) -> Result<Response<v1::IncidentAnswer>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn get_incident_answer(
        &self,
        _: Request<v1::GetIncidentAnswerRequest>,
    ) -> Result<Response<v1::IncidentAnswer>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn resolve_incident(&self, _: Request<v1::ResolveIncidentRequest>) -> Result<Response<v1::Incident>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn export_subject_data(
        &self,
        _: Request<v1::ExportSubjectDataRequest>,
    ) -> Result<Response<v1::SubjectDataExport>, Status> {
        Err(Status::unimplemented("fake"))
    }

    type WatchCasesStream = tonic::codegen::BoxStream<v1::WatchCasesResponse>;

    async fn list_customer_timeline(
        &self,
        _: Request<v1::ListCustomerTimelineRequest>,
    ) -> Result<Response<v1::ListCustomerTimelineResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn put_guide(&self, _: Request<v1::PutGuideRequest>) -> Result<Response<v1::Guide>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn get_guide(&self, _: Request<v1::GetGuideRequest>) -> Result<Response<v1::Guide>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_guides(&self, _: Request<v1::ListGuidesRequest>) -> Result<Response<v1::ListGuidesResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn step_guide(&self, _: Request<v1::StepGuideRequest>) -> Result<Response<v1::StepGuideResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn search_cases(
        &self,
        _: Request<v1::SearchCasesRequest>,
    ) -> Result<Response<v1::ListCasesResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn watch_cases(&self, _: Request<v1::WatchCasesRequest>) -> Result<Response<Self::WatchCasesStream>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn open_case(&self, _: Request<v1::OpenCaseRequest>) -> Result<Response<v1::OpenCaseResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn open_cases(&self, _: Request<v1::OpenCasesRequest>) -> Result<Response<v1::OpenCasesResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn get_case(&self, _: Request<v1::GetCaseRequest>) -> Result<Response<v1::Case>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_cases(
        &self,
        request: Request<v1::ListCasesRequest>,
    ) -> Result<Response<v1::ListCasesResponse>, Status> {
        let tenant = tenant_of(&request)?;
        let request = request.into_inner();
        if request.page_size > 500 {
            return Err(Status::invalid_argument("page_size: at most 500"));
        }
        let size = if request.page_size == 0 { 50 } else { request.page_size as usize };
        let skip: usize = if request.page_token.is_empty() {
            0
        } else {
            request.page_token.parse().map_err(|_| Status::invalid_argument("page_token"))?
        };
        let state = self.state.lock().unwrap();
        let cases: Vec<v1::Case> =
            state.cases.iter().rev().filter(|case| case.tenant == tenant).skip(skip).take(size).cloned().collect();
        let next_page_token = if cases.len() == size { (skip + size).to_string() } else { String::new() };
        Ok(Response::new(v1::ListCasesResponse { cases, next_page_token }))
    }

    async fn transition_case(&self, _: Request<v1::TransitionCaseRequest>) -> Result<Response<v1::Case>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn assign_case(&self, _: Request<v1::AssignCaseRequest>) -> Result<Response<v1::Case>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn tag_case(&self, _: Request<v1::TagCaseRequest>) -> Result<Response<v1::Case>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn set_case_priority(&self, _: Request<v1::SetCasePriorityRequest>) -> Result<Response<v1::Case>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn add_case_note(
        &self,
        _: Request<v1::AddCaseNoteRequest>,
    ) -> Result<Response<v1::CaseTimelineEntry>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_case_timeline(
        &self,
        _: Request<v1::ListCaseTimelineRequest>,
    ) -> Result<Response<v1::ListCaseTimelineResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn resolve_case(&self, _: Request<v1::ResolveCaseRequest>) -> Result<Response<v1::Case>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn reply_to_case(&self, _: Request<v1::ReplyToCaseRequest>) -> Result<Response<v1::CaseReply>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_case_replies(
        &self,
        _: Request<v1::ListCaseRepliesRequest>,
    ) -> Result<Response<v1::ListCaseRepliesResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn promise_follow_up(&self, _: Request<v1::PromiseFollowUpRequest>) -> Result<Response<v1::Promise>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn keep_promise(&self, _: Request<v1::KeepPromiseRequest>) -> Result<Response<v1::Promise>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn release_promise(&self, _: Request<v1::ReleasePromiseRequest>) -> Result<Response<v1::Promise>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_promises(
        &self,
        _: Request<v1::ListPromisesRequest>,
    ) -> Result<Response<v1::ListPromisesResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn upsert_department(
        &self,
        _: Request<v1::UpsertDepartmentRequest>,
    ) -> Result<Response<v1::Department>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_departments(
        &self,
        _: Request<v1::ListDepartmentsRequest>,
    ) -> Result<Response<v1::ListDepartmentsResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn escalate_to_department(
        &self,
        _: Request<v1::EscalateToDepartmentRequest>,
    ) -> Result<Response<v1::Escalation>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn answer_escalation(
        &self,
        _: Request<v1::AnswerEscalationRequest>,
    ) -> Result<Response<v1::Escalation>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_escalations(
        &self,
        _: Request<v1::ListEscalationsRequest>,
    ) -> Result<Response<v1::ListEscalationsResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn record_retention_outcome(
        &self,
        _: Request<v1::RecordRetentionOutcomeRequest>,
    ) -> Result<Response<v1::Case>, Status> {
        Err(Status::unimplemented("fake"))
    }
}

#[tonic::async_trait]
impl FeedbackService for Fake {
    type ExportInsightsStream = tonic::codegen::BoxStream<v1::ExportInsightsResponse>;

    async fn export_insights(
        &self,
        _: Request<v1::ExportInsightsRequest>,
    ) -> Result<Response<Self::ExportInsightsStream>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn export_subject_data(
        &self,
        _: Request<v1::ExportSubjectDataRequest>,
    ) -> Result<Response<v1::SubjectDataExport>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn get_service_report(
        &self,
        request: Request<v1::GetServiceReportRequest>,
    ) -> Result<Response<v1::ServiceReport>, Status> {
        let tenant = tenant_of(&request)?;
        let state = self.state.lock().unwrap();
        let cases_opened = state.cases.iter().filter(|case| case.tenant == tenant).count() as u64;
        Ok(Response::new(v1::ServiceReport { cases_opened, ..Default::default() }))
    }

    async fn list_testimonial_candidates(
        &self,
        _request: Request<v1::ListTestimonialCandidatesRequest>,
    ) -> Result<Response<v1::ListTestimonialCandidatesResponse>, Status> {
        Err(Status::unimplemented("the fake keeps no testimonial candidates"))
    }

    async fn put_survey_template(
        &self,
        _: Request<v1::PutSurveyTemplateRequest>,
    ) -> Result<Response<v1::SurveyTemplate>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn get_survey_template(
        &self,
        _: Request<v1::GetSurveyTemplateRequest>,
    ) -> Result<Response<v1::SurveyTemplate>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_survey_templates(
        &self,
        _: Request<v1::ListSurveyTemplatesRequest>,
    ) -> Result<Response<v1::ListSurveyTemplatesResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn delete_survey_template(
        &self,
        _: Request<v1::DeleteSurveyTemplateRequest>,
    ) -> Result<Response<v1::DeleteSurveyTemplateResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn set_survey_opt_out(
        &self,
        _: Request<v1::SetSurveyOptOutRequest>,
    ) -> Result<Response<v1::SurveyOptOut>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn open_survey(&self, _: Request<v1::OpenSurveyRequest>) -> Result<Response<v1::SurveyForm>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn submit_response(
        &self,
        _: Request<v1::SubmitResponseRequest>,
    ) -> Result<Response<v1::SubmitResponseResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn give_testimonial(
        &self,
        _: Request<v1::GiveTestimonialRequest>,
    ) -> Result<Response<v1::Testimonial>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn propose_testimonial(
        &self,
        _: Request<v1::ProposeTestimonialRequest>,
    ) -> Result<Response<v1::Testimonial>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn record_testimonial_consent(
        &self,
        _: Request<v1::RecordTestimonialConsentRequest>,
    ) -> Result<Response<v1::Testimonial>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn moderate_testimonial(
        &self,
        _: Request<v1::ModerateTestimonialRequest>,
    ) -> Result<Response<v1::Testimonial>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn withdraw_testimonial(
        &self,
        _: Request<v1::WithdrawTestimonialRequest>,
    ) -> Result<Response<v1::Testimonial>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_testimonials(
        &self,
        _: Request<v1::ListTestimonialsRequest>,
    ) -> Result<Response<v1::ListTestimonialsResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_published_testimonials(
        &self,
        _: Request<v1::ListPublishedTestimonialsRequest>,
    ) -> Result<Response<v1::ListPublishedTestimonialsResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_surveys(
        &self,
        _: Request<v1::ListSurveysRequest>,
    ) -> Result<Response<v1::ListSurveysResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_survey_responses(
        &self,
        _: Request<v1::ListSurveyResponsesRequest>,
    ) -> Result<Response<v1::ListSurveyResponsesResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn create_initiative(
        &self,
        _: Request<v1::CreateInitiativeRequest>,
    ) -> Result<Response<v1::Initiative>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn get_initiative(&self, _: Request<v1::GetInitiativeRequest>) -> Result<Response<v1::Initiative>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn list_initiatives(
        &self,
        _: Request<v1::ListInitiativesRequest>,
    ) -> Result<Response<v1::ListInitiativesResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn update_initiative(
        &self,
        _: Request<v1::UpdateInitiativeRequest>,
    ) -> Result<Response<v1::Initiative>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn delete_initiative(
        &self,
        _: Request<v1::DeleteInitiativeRequest>,
    ) -> Result<Response<v1::DeleteInitiativeResponse>, Status> {
        Err(Status::unimplemented("fake"))
    }

    async fn get_initiative_report(
        &self,
        _: Request<v1::GetInitiativeReportRequest>,
    ) -> Result<Response<v1::InitiativeReport>, Status> {
        Err(Status::unimplemented("fake"))
    }
}

/// Serves the fake on a fresh port; `full` adds cases and feedback to ingest.
async fn serve(fake: Fake, full: bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    let mut router = tonic::transport::Server::builder().add_service(IngestServiceServer::new(fake.clone()));
    if full {
        router = router.add_service(CaseServiceServer::new(fake.clone())).add_service(FeedbackServiceServer::new(fake));
    }
    tokio::spawn(router.serve_with_incoming(incoming));
    format!("http://{address}")
}

fn args(endpoint: &str, extra: &[&str]) -> LoadgenArgs {
    let mut all = vec!["--endpoint", endpoint, "--quiet", "--authors", "2000"];
    if !extra.contains(&"--drain-timeout") {
        all.extend_from_slice(&["--drain-timeout", "5s"]);
    }
    all.extend_from_slice(extra);
    LoadgenArgs::parse_from(all).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paced_batches_with_redeliveries_all_become_cases() {
    let fake = Fake::default();
    let endpoint = serve(fake.clone(), true).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let report = run(args(
        &endpoint,
        &[
            "--rate",
            "2000",
            "--count",
            "3000",
            "--batch",
            "50",
            "--concurrency",
            "4",
            "--duplicates",
            "0.05",
            "--json",
            json.to_str().unwrap(),
            "--strict",
        ],
    ))
    .await
    .unwrap();
    let posts = &report.posts;
    assert_eq!((posts.planned, posts.sent, posts.acked), (3000, 3000, 3000));
    assert!(posts.redeliveries > 25, "{posts:?}"); // only after the lag of a second (2,000 posts)
    assert_eq!(posts.redeliveries_flagged, posts.redeliveries, "every redelivery answered duplicate");
    assert_eq!(posts.new + posts.duplicate, 3000);
    assert_eq!((posts.dedupe_failures, posts.unexpected_duplicates, posts.not_sent), (0, 0, 0));
    assert_eq!(report.calls.total, 60);
    assert!(report.calls.errors.is_empty());
    let e2e = report.end_to_end.as_ref().unwrap();
    assert!(e2e.complete);
    assert_eq!((e2e.expected, e2e.posts_with_case, e2e.cases), (posts.new, posts.new, posts.new));
    assert_eq!((e2e.lost, e2e.duplicated, e2e.foreign), (0, 0, 0));
    assert_eq!(e2e.cases_seen_by_feedback, Some(posts.new));
    assert_eq!(e2e.latency_ms.count, posts.new);
    assert!(e2e.seconds > 1.0 && e2e.seconds < 3.0, "paced at 2,000/s: {}", e2e.seconds);
    let ack = report.ack.as_ref().unwrap();
    assert!(ack.posts_per_s > 1_000.0 && ack.posts_per_s < 2_600.0, "{}", ack.posts_per_s);
    assert_eq!(ack.latency_ms.count, 60);
    assert!(report.problems().is_empty(), "{:?}", report.problems());
    // Posts went to the fresh tenant, and the JSON has the figures.
    assert_eq!(fake.state.lock().unwrap().tenants, vec![report.tenant.clone()]);
    assert!(report.tenant.starts_with("loadgen-1-"));
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(written["end_to_end"]["lost"], 0);
    assert_eq!(written["posts"]["sent"], 3000);
    assert!(written["backlog"]["samples"].as_array().is_some());
    assert!(written["mix"]["kinds"]["complaint"].as_u64().unwrap() > 0);
    // The summary reads.
    let summary = report.to_string();
    assert!(summary.contains("end to end") && summary.contains("result      clean"), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_posts_duplicated_cases_and_rejections_are_counted() {
    let fake = Fake { lose_every: Some(100), duplicate_every: Some(70), reject_spam: true, ..Fake::default() };
    let endpoint = serve(fake.clone(), true).await;
    let report = run(args(
        &endpoint,
        &["--max", "--count", "2000", "--batch", "20", "--concurrency", "3", "--drain-timeout", "2s"],
    ))
    .await
    .unwrap();
    let posts = &report.posts;
    assert_eq!(posts.sent, 2000);
    assert!(posts.rejected > 0, "spam rejected inside batches");
    assert_eq!(posts.acked + posts.rejected, 2000);
    assert!(report.calls.rejection_messages.keys().any(|m| m.contains("spam")));
    let e2e = report.end_to_end.as_ref().unwrap();
    let stored = u128::from(posts.new);
    let lost = (1..=stored).filter(|n| n % 100 == 0).count() as u64;
    let duplicated = (1..=stored).filter(|n| n % 70 == 0 && n % 100 != 0).count() as u64;
    assert_eq!(e2e.lost, lost);
    assert_eq!(e2e.duplicated, duplicated);
    assert!(!e2e.complete);
    assert_eq!(e2e.cases, posts.new - lost + duplicated);
    let problems = report.problems().join("; ");
    assert!(problems.contains("lost") && problems.contains("more than one case") && problems.contains("rejected"));
    // --strict turns the problems into an error.
    let strict =
        run(args(&endpoint, &["--max", "--count", "200", "--batch", "20", "--strict", "--drain-timeout", "1s"])).await;
    assert!(strict.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unary_max_for_a_duration_against_ingest_only() {
    let fake = Fake::default();
    let endpoint = serve(fake.clone(), false).await;
    let report =
        run(args(&endpoint, &["--max", "--duration", "2s", "--concurrency", "8", "--tenant", "acme"])).await.unwrap();
    assert!(report.posts.sent > 100, "{:?}", report.posts);
    assert_eq!(report.posts.new, report.posts.sent);
    assert_eq!(report.calls.total, report.posts.sent, "one post per unary call");
    assert!(report.end_to_end.is_none());
    assert!(report.notes.iter().any(|note| note.contains("cases service is not running")), "{:?}", report.notes);
    assert!(report.notes.iter().any(|note| note.contains("feedback service is not running")), "{:?}", report.notes);
    assert_eq!(fake.state.lock().unwrap().tenants, vec!["acme".to_owned()]);
    // With --no-drain it does not even try.
    let report = run(args(&endpoint, &["--max", "--count", "50", "--no-drain"])).await.unwrap();
    assert!(report.end_to_end.is_none());
    assert!(report.notes.iter().any(|note| note.contains("--no-drain")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_seed_same_texts_on_the_wire() {
    let first = Fake::default();
    let second = Fake::default();
    let a = serve(first.clone(), false).await;
    let b = serve(second.clone(), false).await;
    for endpoint in [&a, &b] {
        run(args(
            endpoint,
            &["--max", "--count", "300", "--batch", "30", "--no-drain", "--seed", "9", "--id-prefix", "p"],
        ))
        .await
        .unwrap();
    }
    let keys = |fake: &Fake| {
        let mut keys: Vec<(i32, String)> = fake.state.lock().unwrap().by_external.keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&first), keys(&second));
    assert_eq!(keys(&first).len(), 300);
}
