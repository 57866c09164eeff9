//! The read APIs of identity, routing and feedback, fed by the real pipeline: GetProfile and
//! ListProfiles (fields, paging, errors, tenant isolation), GetRoutingDecision (reasons, NOT_FOUND
//! before routing) and ListRoutingDecisions paging, and GetServiceReport windows.
//!
//! Scenarios that go through the pipeline run on both backends; the rest on the embedded one.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message as _;
use tend::app::ServiceName;
use tend_kernel::TenantId;
use tend_proto::v1;
use tend_tests::{Backend, TestApp, as_tenant, eventually, post, routed};
use tonic::Code;

tend_tests::on_both_backends!(
    profiles_are_fetched_and_listed_in_pages,
    routing_decisions_explain_the_priority_and_page_newest_first,
    service_report_counts_only_its_window,
);

/// Asserts that `status` is INVALID_ARGUMENT naming `field` the way the API names fields.
#[track_caller]
fn assert_invalid(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
    assert!(status.message().contains(&format!("`{field}`")), "message should name `{field}`: {:?}", status.message());
}

/// Ingests `request` for `tenant` and waits until routing has decided on it.
async fn ingest_and_route(app: &TestApp, tenant: &str, request: v1::IngestInteractionRequest) -> v1::RoutingDecision {
    let ingested = app.ingest().ingest_interaction(as_tenant(tenant, request)).await.unwrap().into_inner();
    routed(app, tenant, &ingested.interaction.unwrap().id).await
}

/// The profile on the case routing opened for `decision`.
async fn profile_of(app: &TestApp, decision: &v1::RoutingDecision) -> v1::Profile {
    let case = app.cases().get_case(as_tenant("acme", v1::GetCaseRequest { id: decision.case_id.clone() })).await;
    let request = as_tenant("acme", v1::GetProfileRequest { id: case.unwrap().into_inner().profile_id });
    app.identity().get_profile(request).await.unwrap().into_inner()
}

/// Every page of acme's profiles, `page_size` at a time.
async fn profile_pages(app: &TestApp, page_size: u32) -> Vec<v1::ListProfilesResponse> {
    let mut pages: Vec<v1::ListProfilesResponse> = Vec::new();
    loop {
        let page_token = pages.last().map(|page| page.next_page_token.clone()).unwrap_or_default();
        let request = as_tenant("acme", v1::ListProfilesRequest { page_size, page_token });
        let page = app.identity().list_profiles(request).await.unwrap().into_inner();
        let last = page.next_page_token.is_empty();
        pages.push(page);
        if last || pages.len() > 10 {
            return pages;
        }
    }
}

async fn profiles_are_fetched_and_listed_in_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ana = ingest_and_route(&app, "acme", post("ana", "first: where is my order?")).await;
    ingest_and_route(&app, "acme", post("bob", "hello, where is my order?")).await;
    ingest_and_route(&app, "acme", post("cy", "hi, where is my order?")).await;
    // Ana again, renamed and more followed: the same profile, updated.
    let mut again = post("ana", "second: where is my refund?");
    if let Some(author) = again.author.as_mut() {
        author.handle = "ana_renamed".into();
        author.followers = 3_000;
    }
    let ana_again = ingest_and_route(&app, "acme", again).await;
    ingest_and_route(&app, "globex", post("gus", "elsewhere: where is my parcel?")).await;

    let profile = profile_of(&app, &ana_again).await;
    assert_eq!(profile_of(&app, &ana).await.id, profile.id, "one profile per channel author");
    assert_eq!(profile.tenant, "acme");
    assert_eq!(profile.channel(), v1::Channel::X);
    assert_eq!(profile.external_id, "id-ana");
    assert_eq!(profile.handle, "ana_renamed");
    assert_eq!(profile.followers, 3_000);
    assert_eq!(profile.status(), v1::IdentityStatus::Unknown);
    assert!(profile.customer_id.is_empty());
    let (first_seen, last_seen) = (profile.first_seen_at.unwrap(), profile.last_seen_at.unwrap());
    assert!((first_seen.seconds, first_seen.nanos) <= (last_seen.seconds, last_seen.nanos));

    let pages = profile_pages(&app, 2).await;
    assert_eq!(pages.iter().map(|page| page.profiles.len()).collect::<Vec<_>>(), vec![2, 1]);
    assert!(!pages[0].next_page_token.is_empty() && pages[1].next_page_token.is_empty());
    let listed: Vec<_> = pages.iter().flat_map(|page| page.profiles.clone()).collect();
    let handles: BTreeSet<_> = listed.iter().map(|profile| profile.handle.as_str()).collect();
    assert_eq!(handles, BTreeSet::from(["ana_renamed", "bob", "cy"]));
    assert!(listed.iter().all(|profile| profile.tenant == "acme"));
    let all = app.identity().list_profiles(as_tenant("acme", v1::ListProfilesRequest::default())).await.unwrap();
    assert_eq!(all.into_inner().profiles.len(), 3);

    let unknown = v1::GetProfileRequest { id: uuid::Uuid::now_v7().to_string() };
    assert_eq!(app.identity().get_profile(as_tenant("acme", unknown)).await.unwrap_err().code(), Code::NotFound);
    let elsewhere = v1::GetProfileRequest { id: profile.id.clone() };
    assert_eq!(app.identity().get_profile(as_tenant("globex", elsewhere)).await.unwrap_err().code(), Code::NotFound);
    let malformed = v1::GetProfileRequest { id: "ana".into() };
    assert_invalid(&app.identity().get_profile(as_tenant("acme", malformed)).await.unwrap_err(), "id");
    let too_big = v1::ListProfilesRequest { page_size: 501, page_token: String::new() };
    assert_invalid(&app.identity().list_profiles(as_tenant("acme", too_big)).await.unwrap_err(), "page_size");
    let garbage = v1::ListProfilesRequest { page_size: 2, page_token: "garbage".into() };
    assert_invalid(&app.identity().list_profiles(as_tenant("acme", garbage)).await.unwrap_err(), "page_token");
    app.stop().await;
}

/// identity.proto: "Lists the tenant's profiles, newest first (by first sighting)."
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_are_listed_newest_first_by_first_sighting() {
    let app = TestApp::spawn(Backend::Embedded).await;
    ingest_and_route(&app, "acme", post("ana", "first: where is my order?")).await;
    ingest_and_route(&app, "acme", post("bob", "hello, where is my order?")).await;
    ingest_and_route(&app, "acme", post("ana", "again: why does the app keep crashing?")).await;
    let listed = app.identity().list_profiles(as_tenant("acme", v1::ListProfilesRequest::default())).await;
    let handles: Vec<_> = listed.unwrap().into_inner().profiles.into_iter().map(|profile| profile.handle).collect();
    assert_eq!(handles, vec!["bob", "ana"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_decision_is_not_found_before_routing() {
    // Without identity nothing reaches routing, so the stored interaction is never routed.
    let services = [ServiceName::Cases, ServiceName::Ingest, ServiceName::Routing];
    let app = TestApp::spawn_with(Backend::Embedded, &services, |_| {}).await;
    let ingested =
        app.ingest().ingest_interaction(as_tenant("acme", post("ana", "hello, where is my order?"))).await.unwrap();
    let interaction_id = ingested.into_inner().interaction.unwrap().id;

    let request = as_tenant("acme", v1::GetRoutingDecisionRequest { interaction_id: interaction_id.clone() });
    let status = app.routing().get_routing_decision(request).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(status.message().contains(&interaction_id), "{:?}", status.message());
    for bad in ["", "nope"] {
        let request = as_tenant("acme", v1::GetRoutingDecisionRequest { interaction_id: bad.into() });
        assert_invalid(&app.routing().get_routing_decision(request).await.unwrap_err(), "interaction_id");
    }
    let request = as_tenant("acme", v1::ListRoutingDecisionsRequest::default());
    let listed = app.routing().list_routing_decisions(request).await.unwrap().into_inner();
    assert!(listed.decisions.is_empty() && listed.next_page_token.is_empty());
    app.stop().await;
}

async fn routing_decisions_explain_the_priority_and_page_newest_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let author = |handle: &str, followers: u64, verified: bool| {
        // A question: actionable, neutral, +5 whoever asks.
        // Different words, so the posts are not near-duplicates (no `cluster` term).
        let text = match handle {
            "nobody" => "where is my parcel",
            "some" => "where is my order",
            _ => "where is my package",
        };
        let mut request = post(handle, text);
        if let Some(author) = request.author.as_mut() {
            author.followers = followers;
            author.verified = verified;
        }
        request
    };
    let nobody = ingest_and_route(&app, "acme", author("nobody", 0, false)).await;
    let some = ingest_and_route(&app, "acme", author("some", 1_500, false)).await;
    let star = ingest_and_route(&app, "acme", author("star", 25_000, true)).await;
    ingest_and_route(&app, "globex", author("gus", 0, false)).await;

    for (decision, priority, reasons) in [(&nobody, 35, 2), (&some, 45, 3), (&star, 55, 4)] {
        assert_eq!(decision.priority, priority, "{:?}", decision.reasons);
        assert_eq!(decision.reasons.len(), reasons, "{:?}", decision.reasons);
        assert_eq!(decision.reasons[0], "+30 base");
        assert!(decision.reasons.iter().all(|reason| !reason.trim().is_empty()));
        assert!(decision.decided_at.is_some());
        let case = app.cases().get_case(as_tenant("acme", v1::GetCaseRequest { id: decision.case_id.clone() })).await;
        let case = case.unwrap().into_inner();
        assert_eq!(case.priority, priority);
        assert_eq!(case.interaction_ids, vec![decision.interaction_id.clone()]);
    }
    assert!(star.reasons.iter().any(|reason| reason.contains("25000 followers")), "{:?}", star.reasons);
    assert!(star.reasons.iter().any(|reason| reason.contains("verified")), "{:?}", star.reasons);

    let mut pages: Vec<v1::ListRoutingDecisionsResponse> = Vec::new();
    loop {
        let page_token = pages.last().map(|page| page.next_page_token.clone()).unwrap_or_default();
        let request = as_tenant("acme", v1::ListRoutingDecisionsRequest { page_size: 2, page_token });
        let page = app.routing().list_routing_decisions(request).await.unwrap().into_inner();
        let last = page.next_page_token.is_empty();
        pages.push(page);
        if last || pages.len() > 10 {
            break;
        }
    }
    assert_eq!(pages.iter().map(|page| page.decisions.len()).collect::<Vec<_>>(), vec![2, 1]);
    assert!(!pages[0].next_page_token.is_empty());
    let listed: Vec<_> = pages.iter().flat_map(|page| page.decisions.clone()).collect();
    let ids: BTreeSet<_> = listed.iter().map(|decision| decision.interaction_id.clone()).collect();
    let expected: BTreeSet<_> =
        [&nobody, &some, &star].iter().map(|decision| decision.interaction_id.clone()).collect();
    assert_eq!(ids, expected);
    let times: Vec<_> = listed.iter().map(|d| d.decided_at.map(|t| (t.seconds, t.nanos)).unwrap()).collect();
    assert!(times.windows(2).all(|pair| pair[0] >= pair[1]), "not newest first: {times:?}");

    let too_big = v1::ListRoutingDecisionsRequest { page_size: 501, page_token: String::new() };
    let status = app.routing().list_routing_decisions(as_tenant("acme", too_big)).await.unwrap_err();
    assert_invalid(&status, "page_size");
    let garbage = v1::ListRoutingDecisionsRequest { page_size: 2, page_token: "garbage".into() };
    let status = app.routing().list_routing_decisions(as_tenant("acme", garbage)).await.unwrap_err();
    assert_invalid(&status, "page_token");
    app.stop().await;
}

/// Now plus `offset` seconds, whole seconds.
fn seconds_from_now(offset: i64) -> tend_proto::Timestamp {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    tend_proto::Timestamp { seconds: i64::try_from(now).unwrap() + offset, nanos: 0 }
}

async fn report(
    app: &TestApp,
    tenant: &str,
    from: Option<tend_proto::Timestamp>,
    to: Option<tend_proto::Timestamp>,
) -> Result<v1::ServiceReport, tonic::Status> {
    let request = as_tenant(tenant, v1::GetServiceReportRequest { from, to, ..Default::default() });
    app.feedback().get_service_report(request).await.map(tonic::Response::into_inner)
}

async fn service_report_counts_only_its_window(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = seconds_from_now(-60);
    let decision = ingest_and_route(&app, "acme", post("lee", "broken app")).await;
    let resolve = v1::ResolveCaseRequest { id: decision.case_id.clone(), note: "patched".into(), ..Default::default() };
    app.cases().resolve_case(as_tenant("acme", resolve)).await.unwrap();
    eventually("feedback to count the resolution", Duration::from_secs(10), || async {
        let report = report(&app, "acme", None, None).await.unwrap();
        (report.cases_resolved == 1).then_some(())
    })
    .await;
    let after = seconds_from_now(60);

    let all = report(&app, "acme", Some(before), Some(after)).await.unwrap();
    assert_eq!((all.cases_opened, all.cases_resolved), (1, 1));
    // Feedback counts what routing decided too (the same post, on the default queue).
    assert_eq!(all.interactions_routed, 1);
    assert_eq!(
        all.by_queue.iter().map(|queue| (queue.queue.as_str(), queue.interactions)).collect::<Vec<_>>(),
        vec![("default", 1)]
    );
    assert!(all.mean_seconds_to_resolve >= 0.0 && all.mean_seconds_to_resolve < 60.0, "{all:?}");
    let from_only = report(&app, "acme", Some(before), None).await.unwrap();
    assert_eq!((from_only.cases_opened, from_only.cases_resolved), (1, 1));

    let zero = v1::ServiceReport::default();
    let later = report(&app, "acme", Some(seconds_from_now(3_600)), Some(seconds_from_now(7_200))).await.unwrap();
    assert_eq!(later, zero);
    let long_ago = tend_proto::Timestamp { seconds: 1_000_000_000, nanos: 0 };
    let earlier = report(&app, "acme", Some(tend_proto::Timestamp::default()), Some(long_ago)).await.unwrap();
    assert_eq!(earlier, zero);
    // `to` is exclusive: a window ending before the case opened misses it.
    let until_before = report(&app, "acme", None, Some(before)).await.unwrap();
    assert_eq!(until_before, zero);
    assert_eq!(report(&app, "globex", None, None).await.unwrap(), zero);

    assert_invalid(&report(&app, "acme", Some(before), Some(before)).await.unwrap_err(), "to");
    assert_invalid(&report(&app, "acme", Some(after), Some(before)).await.unwrap_err(), "to");
    let bad = tend_proto::Timestamp { seconds: 0, nanos: -1 };
    assert_invalid(&report(&app, "acme", Some(bad), None).await.unwrap_err(), "from");
    assert_invalid(&report(&app, "acme", None, Some(bad)).await.unwrap_err(), "to");
    app.stop().await;
}

/// A `CaseEvent` envelope for a case of acme opened at `opened_at` (seconds) and, if given,
/// resolved at `resolved_at`.
fn case_event(case_id: &str, kind: v1::CaseEventKind, opened_at: i64, resolved_at: Option<i64>) -> Vec<u8> {
    let at = |seconds| tend_proto::Timestamp { seconds, nanos: 0 };
    let status = if resolved_at.is_some() { v1::CaseStatus::Resolved } else { v1::CaseStatus::Open };
    let case = v1::Case {
        id: case_id.to_owned(),
        tenant: "acme".into(),
        status: status.into(),
        opened_at: Some(at(opened_at)),
        resolved_at: resolved_at.map(at),
        ..Default::default()
    };
    let event = v1::CaseEvent { kind: kind.into(), case: Some(case), ..Default::default() };
    tend_store::events::envelope("cases", &TenantId::parse("acme").unwrap(), &event).encode_to_vec()
}

/// The consumer leaves an event it could not handle pending and moves on; the event comes back
/// through reclaim later. An OPENED event that comes back after the case's RESOLVED event must
/// not make feedback forget the resolution.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_opened_event_does_not_undo_a_resolution() {
    let app = TestApp::spawn_with(Backend::Embedded, &[ServiceName::Feedback], |_| {}).await;
    let stream = app.event_stream().await;
    let opened_at = seconds_from_now(-120).seconds;
    let (case, marker) = (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
    for payload in [
        case_event(&case, v1::CaseEventKind::Resolved, opened_at, Some(opened_at + 60)),
        case_event(&case, v1::CaseEventKind::Opened, opened_at, None),
        case_event(&marker, v1::CaseEventKind::Opened, opened_at, None),
    ] {
        stream.publish("cases.events", &payload).await.unwrap();
    }
    // Events are handled in order: once the marker is counted, the late event has been handled.
    let report = eventually("feedback to count both cases", Duration::from_secs(10), || async {
        let report = report(&app, "acme", None, None).await.unwrap();
        (report.cases_opened == 2).then_some(report)
    })
    .await;
    assert_eq!(report.cases_resolved, 1, "{report:?}");
    app.stop().await;
}
