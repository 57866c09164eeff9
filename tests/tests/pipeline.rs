//! The first slice end to end: a post goes in, a case comes out, routed, with its events
//! reaching feedback, on both backends.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use tend_proto::v1;
use tend_tests::{Backend, TestApp, as_tenant, eventually, post, routed};

tend_tests::on_both_backends!(
    post_becomes_case,
    duplicate_post_opens_no_second_case,
    tenants_see_only_their_own,
    resolving_reaches_feedback
);

async fn post_becomes_case(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut request = post("jane", "  My order #123   never arrived ");
    if let Some(author) = request.author.as_mut() {
        author.followers = 25_000;
    }
    let ingested = app.ingest().ingest_interaction(as_tenant("acme", request)).await.unwrap().into_inner();
    assert!(!ingested.duplicate);
    let interaction = ingested.interaction.unwrap();
    assert_eq!(interaction.text, "My order #123   never arrived");

    let decision = routed(&app, "acme", &interaction.id).await;
    // Base 30 + influence 15 (25,000 followers) + complaint 10 + negative sentiment 4.
    assert_eq!(decision.priority, 59, "{:?}", decision.reasons);
    let case = app.cases().get_case(as_tenant("acme", v1::GetCaseRequest { id: decision.case_id.clone() })).await;
    let case = case.unwrap().into_inner();
    assert_eq!(case.status(), v1::CaseStatus::New);
    assert_eq!(case.subject, "My order #123 never arrived");
    assert_eq!(case.interaction_ids, vec![interaction.id.clone()]);
    assert_eq!(case.priority, 59);
    assert_eq!(case.tenant, "acme");

    // Identity recorded the author and routing put the profile on the case.
    let request = as_tenant("acme", v1::GetProfileRequest { id: case.profile_id.clone() });
    let profile = app.identity().get_profile(request).await.unwrap().into_inner();
    assert_eq!(profile.handle, "jane");
    assert_eq!(profile.status(), v1::IdentityStatus::Unknown);

    // Feedback saw the case open.
    eventually("feedback to count the case", Duration::from_secs(20), || async {
        let request = as_tenant("acme", v1::GetServiceReportRequest::default());
        let report = app.feedback().get_service_report(request).await.unwrap().into_inner();
        (report.cases_opened == 1).then_some(())
    })
    .await;
    app.stop().await;
}

async fn duplicate_post_opens_no_second_case(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let request = post("sam", "where is my refund");
    let first = app.ingest().ingest_interaction(as_tenant("acme", request.clone())).await.unwrap().into_inner();
    let second = app.ingest().ingest_interaction(as_tenant("acme", request)).await.unwrap().into_inner();
    assert!(second.duplicate);
    assert_eq!(first.interaction.as_ref().map(|i| &i.id), second.interaction.as_ref().map(|i| &i.id));

    let interaction_id = first.interaction.unwrap().id;
    routed(&app, "acme", &interaction_id).await;
    // Give a wrongly published second event time to be routed, then count.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cases = app.cases().list_cases(as_tenant("acme", v1::ListCasesRequest::default())).await.unwrap().into_inner();
    assert_eq!(cases.cases.len(), 1);
    app.stop().await;
}

async fn tenants_see_only_their_own(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ingested = app
        .ingest()
        .ingest_interaction(as_tenant("acme", post("kim", "hello, where is my order?")))
        .await
        .unwrap()
        .into_inner();
    let interaction = ingested.interaction.unwrap();
    let decision = routed(&app, "acme", &interaction.id).await;

    let other =
        app.cases().list_cases(as_tenant("globex", v1::ListCasesRequest::default())).await.unwrap().into_inner();
    assert!(other.cases.is_empty());
    let status =
        app.cases().get_case(as_tenant("globex", v1::GetCaseRequest { id: decision.case_id })).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    let status = app
        .ingest()
        .get_interaction(as_tenant("globex", v1::GetInteractionRequest { id: interaction.id }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    // The same channel id in another tenant is not a duplicate.
    let mut same = post("kim", "hello, where is my order?");
    same.external_id = interaction.external_id;
    let elsewhere = app.ingest().ingest_interaction(as_tenant("globex", same)).await.unwrap().into_inner();
    assert!(!elsewhere.duplicate);
    app.stop().await;
}

async fn resolving_reaches_feedback(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ingested =
        app.ingest().ingest_interaction(as_tenant("acme", post("lee", "broken app"))).await.unwrap().into_inner();
    let decision = routed(&app, "acme", &ingested.interaction.unwrap().id).await;
    let resolve = v1::ResolveCaseRequest { id: decision.case_id.clone(), note: "patched".into(), ..Default::default() };
    let resolved = app.cases().resolve_case(as_tenant("acme", resolve.clone())).await.unwrap().into_inner();
    assert_eq!(resolved.status(), v1::CaseStatus::Resolved);
    assert!(resolved.resolved_at.is_some());
    let again = app.cases().resolve_case(as_tenant("acme", resolve)).await.unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition);

    let report = eventually("feedback to count the resolution", Duration::from_secs(20), || async {
        let request = as_tenant("acme", v1::GetServiceReportRequest::default());
        let report = app.feedback().get_service_report(request).await.unwrap().into_inner();
        (report.cases_resolved == 1).then_some(report)
    })
    .await;
    assert_eq!(report.cases_opened, 1);
    assert!(report.mean_seconds_to_resolve >= 0.0);
    app.stop().await;
}
