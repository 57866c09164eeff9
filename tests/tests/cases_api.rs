//! The cases API called directly (only the cases service runs, so routing is not involved):
//! OpenCase idempotency (sequential and concurrent), request validation, the subject line,
//! ListCases status filter and paging, ResolveCase errors, tenant isolation, and the OPENED and
//! RESOLVED events on `cases.events`.
//!
//! Scenarios that store or publish run on both backends; pure request validation runs on the
//! embedded backend only.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::HashSet;
use std::time::Duration;

use prost::Message as _;
use tend::app::ServiceName;
use tend_proto::v1;
use tend_tests::{Backend, TestApp, as_tenant, envelopes, eventually};
use tonic::Code;

tend_tests::on_both_backends!(
    open_case_is_idempotent_on_its_key,
    concurrent_open_case_with_one_key_opens_one_case,
    idempotency_keys_and_cases_belong_to_one_tenant,
    list_cases_filters_by_status_and_pages_newest_first,
    resolve_case_reports_unknown_resolved_and_oversized_notes,
    case_events_announce_opening_then_resolution,
);

/// Starts cases alone on `backend`.
async fn cases_only(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, &[ServiceName::Cases], |_| {}).await
}

/// An interaction as routing would pass it on: a fresh UUID id, on X, with `text`.
fn interaction(text: &str) -> v1::Interaction {
    v1::Interaction {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: "acme".into(),
        channel: v1::Channel::X.into(),
        external_id: uuid::Uuid::new_v4().to_string(),
        text: text.into(),
        ..Default::default()
    }
}

/// An OpenCase request for a new interaction with `text`, keyed on the interaction id.
fn open_request(text: &str) -> v1::OpenCaseRequest {
    let interaction = interaction(text);
    v1::OpenCaseRequest {
        idempotency_key: interaction.id.clone(),
        interaction: Some(interaction),
        profile_id: uuid::Uuid::now_v7().to_string(),
        customer_id: String::new(),
        priority: 40,
        ..Default::default()
    }
}

/// Opens a case for `tenant` and returns it.
async fn open(app: &TestApp, tenant: &str, request: v1::OpenCaseRequest) -> v1::Case {
    app.cases().open_case(as_tenant(tenant, request)).await.unwrap().into_inner().case.unwrap()
}

/// Lists all of a tenant's cases of `status` on one page.
async fn list(app: &TestApp, tenant: &str, status: v1::CaseStatus) -> Vec<v1::Case> {
    let request = as_tenant(tenant, v1::ListCasesRequest { status: status.into(), ..Default::default() });
    app.cases().list_cases(request).await.unwrap().into_inner().cases
}

/// Asserts that `status` is INVALID_ARGUMENT naming `field` the way the API names fields.
#[track_caller]
fn assert_invalid(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
    assert!(status.message().contains(&format!("`{field}`")), "message should name `{field}`: {:?}", status.message());
}

async fn open_case_is_idempotent_on_its_key(backend: Backend) {
    let app = cases_only(backend).await;
    let request = open_request("My order never arrived");
    let first = app.cases().open_case(as_tenant("acme", request.clone())).await.unwrap().into_inner();
    assert!(first.created);
    let case = first.case.unwrap();
    let opened = request.interaction.as_ref().unwrap();
    assert_eq!(case.tenant, "acme");
    assert_eq!(case.status(), v1::CaseStatus::New);
    assert_eq!(case.channel(), v1::Channel::X);
    assert_eq!(case.subject, "My order never arrived");
    assert_eq!(case.priority, 40);
    assert_eq!(case.profile_id, request.profile_id);
    assert_eq!(case.interaction_ids, vec![opened.id.clone()]);
    assert!(case.opened_at.is_some());
    assert!(case.resolved_at.is_none());
    assert!(case.resolution_note.is_empty());

    // The same key again, even with another interaction and priority: the first case, unchanged.
    let mut retry = open_request("something else entirely");
    retry.idempotency_key = request.idempotency_key.clone();
    retry.priority = 90;
    let second = app.cases().open_case(as_tenant("acme", retry)).await.unwrap().into_inner();
    assert!(!second.created);
    let again = second.case.unwrap();
    assert_eq!(again.id, case.id);
    assert_eq!(again.subject, case.subject);
    assert_eq!(again.priority, 40);
    assert_eq!(again.interaction_ids, case.interaction_ids);

    let fetched = app.cases().get_case(as_tenant("acme", v1::GetCaseRequest { id: case.id.clone() })).await;
    assert_eq!(fetched.unwrap().into_inner().id, case.id);
    assert_eq!(list(&app, "acme", v1::CaseStatus::Unspecified).await.len(), 1);
    app.stop().await;
}

async fn concurrent_open_case_with_one_key_opens_one_case(backend: Backend) {
    let app = cases_only(backend).await;
    let request = open_request("eight retries at once");
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let mut client = app.cases();
        let request = request.clone();
        calls.spawn(async move { client.open_case(as_tenant("acme", request)).await });
    }
    let mut responses = Vec::new();
    while let Some(joined) = calls.join_next().await {
        responses.push(joined.unwrap().unwrap().into_inner());
    }
    assert_eq!(responses.iter().filter(|response| response.created).count(), 1, "{responses:?}");
    let ids: HashSet<_> = responses.iter().map(|response| response.case.as_ref().unwrap().id.clone()).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let cases = list(&app, "acme", v1::CaseStatus::Unspecified).await;
    assert_eq!(cases.len(), 1);

    // Exactly one OPENED event for it: a later case's event is published after any event of
    // the race, so once that one is on the stream, nothing of the race is still to come.
    let marker = open(&app, "acme", open_request("marker")).await;
    let stream = app.event_stream().await;
    let events = eventually("the marker case's event", Duration::from_secs(5), || async {
        let events = case_events(stream.as_ref()).await;
        events.iter().any(|(_, event)| event.case.as_ref().is_some_and(|case| case.id == marker.id)).then_some(events)
    })
    .await;
    let raced = events.iter().filter(|(_, event)| event.case.as_ref().is_some_and(|case| ids.contains(&case.id)));
    assert_eq!(raced.count(), 1, "{events:?}");
    app.stop().await;
}

/// A field a test breaks, and how.
type Breaker = (&'static str, fn(&mut v1::OpenCaseRequest));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_case_rejects_invalid_requests_naming_the_field() {
    let app = cases_only(Backend::Embedded).await;
    let breakers: [Breaker; 6] = [
        ("idempotency_key", |r| r.idempotency_key.clear()),
        ("idempotency_key", |r| r.idempotency_key = "k".repeat(257)),
        ("interaction", |r| r.interaction = None),
        ("interaction.id", |r| r.interaction = Some(v1::Interaction { id: "not-a-uuid".into(), ..interaction("x") })),
        ("interaction.id", |r| r.interaction = Some(v1::Interaction { id: String::new(), ..interaction("x") })),
        ("priority", |r| r.priority = 101),
    ];
    for (field, break_it) in breakers {
        let mut request = open_request("hello");
        break_it(&mut request);
        let status = app.cases().open_case(as_tenant("acme", request)).await.unwrap_err();
        assert_invalid(&status, field);
    }
    assert!(list(&app, "acme", v1::CaseStatus::Unspecified).await.is_empty());

    // The bounds themselves are fine.
    let mut request = open_request("hello");
    request.priority = 100;
    request.idempotency_key = "k".repeat(256);
    assert_eq!(open(&app, "acme", request).await.priority, 100);
    app.stop().await;
}

/// Issue 14, defect 8: OpenCase stored channel 99, a profile id with a newline and a 100 KB
/// customer id. Enums must be defined (and set), ids bounded and printable, every string and
/// list the case keeps bounded, SLA deadlines valid times; the error quotes no more than a
/// short prefix of the value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_case_refuses_undefined_enums_odd_ids_and_oversized_fields() {
    let app = cases_only(Backend::Embedded).await;
    let breakers: [Breaker; 13] = [
        ("interaction.channel", |r| r.interaction.as_mut().unwrap().channel = 99),
        ("interaction.channel", |r| r.interaction.as_mut().unwrap().channel = 0),
        ("profile_id", |r| r.profile_id = "0192f0c1-7c1e-7cc0-8a9e-3c3e1d1b2a10\n".into()),
        ("profile_id", |r| r.profile_id = "p\u{0}1".into()),
        ("customer_id", |r| r.customer_id = "c".repeat(100 * 1024)),
        ("customer_id", |r| r.customer_id = "c 1".into()),
        ("interaction.text", |r| r.interaction.as_mut().unwrap().text = "a".repeat(64 * 1024 + 1)),
        ("interaction.enrichment.language", |r| {
            r.interaction.as_mut().unwrap().enrichment =
                Some(v1::Enrichment { language: "x".repeat(1024), ..Default::default() })
        }),
        ("interaction.enrichment.topics", |r| {
            r.interaction.as_mut().unwrap().enrichment =
                Some(v1::Enrichment { topics: vec!["t".into(); 1001], ..Default::default() })
        }),
        ("trace_context", |r| r.trace_context = (0..9).map(|n| (format!("k{n}"), "v".into())).collect()),
        ("trace_context", |r| r.trace_context = [("trace\nparent".to_owned(), "v".to_owned())].into()),
        ("routing.queue", |r| r.routing = Some(v1::RoutingOutcome { queue: "q".repeat(65), ..Default::default() })),
        ("routing.sla.resolution_due", |r| {
            let due = tend_proto::Timestamp { seconds: 253_402_300_800, nanos: 0 };
            let sla = v1::SlaDeadlines { policy: "p".into(), resolution_due: Some(due), ..Default::default() };
            r.routing = Some(v1::RoutingOutcome { sla: Some(sla), ..Default::default() })
        }),
    ];
    for (field, break_it) in breakers {
        let mut request = open_request("hello");
        break_it(&mut request);
        let status = app.cases().open_case(as_tenant("acme", request)).await.unwrap_err();
        assert_invalid(&status, field);
        assert!(status.message().len() < 300, "{field}: the value is echoed");
    }
    assert!(list(&app, "acme", v1::CaseStatus::Unspecified).await.is_empty(), "nothing was stored");

    // In a batch, each is refused alone.
    let mut bad = open_request("hello");
    bad.interaction.as_mut().unwrap().channel = 99;
    let request = v1::OpenCasesRequest { cases: vec![bad, open_request("fine")] };
    let results = app.cases().open_cases(as_tenant("acme", request)).await.unwrap().into_inner().results;
    assert!(matches!(results[0].outcome, Some(v1::open_cases_result::Outcome::Error(_))), "{results:?}");
    assert!(matches!(results[1].outcome, Some(v1::open_cases_result::Outcome::Opened(_))), "{results:?}");

    // Ids of other systems within the limits are fine.
    let mut request = open_request("hello");
    request.customer_id = "c".repeat(128);
    request.profile_id = "crm:0042-ann".into();
    assert_eq!(open(&app, "acme", request).await.customer_id, "c".repeat(128));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subject_is_one_line_of_at_most_120_characters() {
    let app = cases_only(Backend::Embedded).await;
    let case = open(&app, "acme", open_request("  first line\n\n  second\tline   end \r\n")).await;
    assert_eq!(case.subject, "first line second line end");

    let exactly = "x".repeat(120);
    assert_eq!(open(&app, "acme", open_request(&exactly)).await.subject, exactly);

    let long = "word ".repeat(60);
    let subject = open(&app, "acme", open_request(&format!("{long}\nmore"))).await.subject;
    assert!(subject.chars().count() <= 120, "{} chars: {subject:?}", subject.chars().count());
    assert!(subject.ends_with('…'), "{subject:?}");
    assert!(!subject.contains('\n'));
    let folded = long.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(folded.starts_with(subject.trim_end_matches('…')), "{subject:?}");

    // Cut on characters, not bytes.
    let subject = open(&app, "acme", open_request(&"é".repeat(500))).await.subject;
    assert_eq!(subject.chars().count(), 120);
    assert!(subject.ends_with('…'));
    app.stop().await;
}

async fn idempotency_keys_and_cases_belong_to_one_tenant(backend: Backend) {
    let app = cases_only(backend).await;
    let request = open_request("same key, two tenants");
    let acme = app.cases().open_case(as_tenant("acme", request.clone())).await.unwrap().into_inner();
    let globex = app.cases().open_case(as_tenant("globex", request)).await.unwrap().into_inner();
    assert!(acme.created);
    assert!(globex.created, "a key of another tenant must not find acme's case");
    let (acme, globex) = (acme.case.unwrap(), globex.case.unwrap());
    assert_ne!(acme.id, globex.id);
    assert_eq!(globex.tenant, "globex");

    let status = app.cases().get_case(as_tenant("globex", v1::GetCaseRequest { id: acme.id.clone() })).await;
    assert_eq!(status.unwrap_err().code(), Code::NotFound);
    let resolve = v1::ResolveCaseRequest { id: acme.id.clone(), note: "not yours".into(), ..Default::default() };
    let status = app.cases().resolve_case(as_tenant("globex", resolve)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let acme_cases = list(&app, "acme", v1::CaseStatus::Unspecified).await;
    assert_eq!(acme_cases.iter().map(|case| case.id.clone()).collect::<Vec<_>>(), vec![acme.id]);
    assert_eq!(acme_cases[0].status(), v1::CaseStatus::New);
    app.stop().await;
}

async fn list_cases_filters_by_status_and_pages_newest_first(backend: Backend) {
    let app = cases_only(backend).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(open(&app, "acme", open_request(&format!("case {n}"))).await.id);
    }
    open(&app, "globex", open_request("someone else's")).await;
    // Resolve the second and the fourth.
    for id in [&ids[1], &ids[3]] {
        let request = v1::ResolveCaseRequest { id: id.clone(), note: "done".into(), ..Default::default() };
        app.cases().resolve_case(as_tenant("acme", request)).await.unwrap();
    }
    ids.reverse();
    let ids_of = |cases: &[v1::Case]| cases.iter().map(|case| case.id.clone()).collect::<Vec<_>>();

    assert_eq!(ids_of(&list(&app, "acme", v1::CaseStatus::Unspecified).await), ids);
    let open_cases = list(&app, "acme", v1::CaseStatus::New).await;
    assert_eq!(ids_of(&open_cases), vec![ids[0].clone(), ids[2].clone(), ids[4].clone()]);
    assert!(open_cases.iter().all(|case| case.status() == v1::CaseStatus::New));
    let resolved = list(&app, "acme", v1::CaseStatus::Resolved).await;
    assert_eq!(ids_of(&resolved), vec![ids[1].clone(), ids[3].clone()]);
    assert!(resolved.iter().all(|case| case.status() == v1::CaseStatus::Resolved && case.resolved_at.is_some()));

    // Pages of two, all statuses: [5 4] [3 2] [1].
    let pages = pages_of(&app, v1::CaseStatus::Unspecified, 2).await;
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert_eq!(pages[0].0, ids[0..2]);
    assert_eq!(pages[1].0, ids[2..4]);
    assert_eq!(pages[2].0, ids[4..5]);
    assert!(!pages[0].1.is_empty() && !pages[1].1.is_empty() && pages[2].1.is_empty(), "{pages:?}");

    // Pages of two, open only: [5 3] [1].
    let pages = pages_of(&app, v1::CaseStatus::New, 2).await;
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert_eq!(pages[0].0, vec![ids[0].clone(), ids[2].clone()]);
    assert_eq!(pages[1].0, vec![ids[4].clone()]);
    assert!(pages[1].1.is_empty());

    for (request, field) in [
        (v1::ListCasesRequest { status: 99, ..Default::default() }, "status"),
        (v1::ListCasesRequest { page_size: 501, ..Default::default() }, "page_size"),
        (v1::ListCasesRequest { page_token: "garbage".into(), ..Default::default() }, "page_token"),
    ] {
        assert_invalid(&app.cases().list_cases(as_tenant("acme", request)).await.unwrap_err(), field);
    }
    app.stop().await;
}

/// Every page of the tenant "acme"'s cases of `status`, `page_size` at a time: each page's ids
/// and its `next_page_token`.
async fn pages_of(app: &TestApp, status: v1::CaseStatus, page_size: u32) -> Vec<(Vec<String>, String)> {
    let mut pages = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = v1::ListCasesRequest { status: status.into(), page_size, page_token };
        let page = app.cases().list_cases(as_tenant("acme", request)).await.unwrap().into_inner();
        pages.push((page.cases.iter().map(|case| case.id.clone()).collect(), page.next_page_token.clone()));
        if page.next_page_token.is_empty() || pages.len() > 10 {
            return pages;
        }
        page_token = page.next_page_token;
    }
}

async fn resolve_case_reports_unknown_resolved_and_oversized_notes(backend: Backend) {
    let app = cases_only(backend).await;
    let unknown =
        v1::ResolveCaseRequest { id: uuid::Uuid::now_v7().to_string(), note: String::new(), ..Default::default() };
    let status = app.cases().resolve_case(as_tenant("acme", unknown)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let malformed = v1::ResolveCaseRequest { id: "42".into(), note: String::new(), ..Default::default() };
    assert_invalid(&app.cases().resolve_case(as_tenant("acme", malformed)).await.unwrap_err(), "id");
    let status = app.cases().get_case(as_tenant("acme", v1::GetCaseRequest { id: "42".into() })).await.unwrap_err();
    assert_invalid(&status, "id");
    let get_unknown = v1::GetCaseRequest { id: uuid::Uuid::now_v7().to_string() };
    assert_eq!(app.cases().get_case(as_tenant("acme", get_unknown)).await.unwrap_err().code(), Code::NotFound);

    let case = open(&app, "acme", open_request("refund please")).await;
    let too_long = v1::ResolveCaseRequest { id: case.id.clone(), note: "n".repeat(4097), ..Default::default() };
    assert_invalid(&app.cases().resolve_case(as_tenant("acme", too_long)).await.unwrap_err(), "note");
    let still = app.cases().get_case(as_tenant("acme", v1::GetCaseRequest { id: case.id.clone() })).await;
    assert_eq!(still.unwrap().into_inner().status(), v1::CaseStatus::New);

    let note = "n".repeat(4096);
    let resolve = v1::ResolveCaseRequest { id: case.id.clone(), note: note.clone(), ..Default::default() };
    let resolved = app.cases().resolve_case(as_tenant("acme", resolve.clone())).await.unwrap().into_inner();
    assert_eq!(resolved.status(), v1::CaseStatus::Resolved);
    assert_eq!(resolved.resolution_note, note);
    assert!(resolved.resolved_at.is_some());
    assert_eq!(resolved.interaction_ids, case.interaction_ids);

    let again = app.cases().resolve_case(as_tenant("acme", resolve)).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert!(again.message().contains(&case.id), "{:?}", again.message());
    let fetched = app.cases().get_case(as_tenant("acme", v1::GetCaseRequest { id: case.id.clone() })).await;
    let fetched = fetched.unwrap().into_inner();
    assert_eq!(fetched.status(), v1::CaseStatus::Resolved);
    assert_eq!(fetched.resolution_note, note);
    app.stop().await;
}

/// Eight agents resolve one case at once: one wins, the others are told it is already resolved,
/// and one RESOLVED event is published.
async fn concurrent_resolves_resolve_once(backend: Backend) {
    let app = cases_only(backend).await;
    let case = open(&app, "acme", open_request("resolve me once")).await;
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..8 {
        let mut client = app.cases();
        let request = v1::ResolveCaseRequest { id: case.id.clone(), note: format!("agent {n}"), ..Default::default() };
        calls.spawn(async move { client.resolve_case(as_tenant("acme", request)).await });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = calls.join_next().await {
        outcomes.push(joined.unwrap().map(tonic::Response::into_inner));
    }
    let codes: Vec<_> = outcomes.iter().map(|outcome| outcome.as_ref().err().map(tonic::Status::code)).collect();
    assert_eq!(codes.iter().filter(|code| code.is_none()).count(), 1, "{codes:?}");
    assert!(codes.iter().flatten().all(|code| *code == Code::FailedPrecondition), "{codes:?}");

    let marker = open(&app, "acme", open_request("marker")).await;
    let stream = app.event_stream().await;
    let events = eventually("the marker case's event", Duration::from_secs(5), || async {
        let events = case_events(stream.as_ref()).await;
        events.iter().any(|(_, event)| event.case.as_ref().is_some_and(|c| c.id == marker.id)).then_some(events)
    })
    .await;
    let resolutions = events.iter().filter(|(_, event)| event.kind() == v1::CaseEventKind::Resolved);
    assert_eq!(resolutions.count(), 1, "{events:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_resolves_resolve_once_embedded() {
    concurrent_resolves_resolve_once(Backend::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_resolves_resolve_once_postgres_redis() {
    concurrent_resolves_resolve_once(Backend::PostgresRedis).await;
}

/// Every envelope on `cases.events` with its decoded `CaseEvent`, oldest first.
async fn case_events(stream: &dyn tend_queue::EventStream) -> Vec<(v1::EventEnvelope, v1::CaseEvent)> {
    envelopes(stream, "cases.events")
        .await
        .into_iter()
        .map(|envelope| {
            let event = v1::CaseEvent::decode(envelope.payload.as_slice()).unwrap();
            (envelope, event)
        })
        .collect()
}

async fn case_events_announce_opening_then_resolution(backend: Backend) {
    let app = cases_only(backend).await;
    let case = open(&app, "acme", open_request("app keeps crashing")).await;
    let resolve = v1::ResolveCaseRequest { id: case.id.clone(), note: "fixed in 2.1".into(), ..Default::default() };
    app.cases().resolve_case(as_tenant("acme", resolve)).await.unwrap();

    let stream = app.event_stream().await;
    let events = eventually("two events on cases.events", Duration::from_secs(5), || async {
        let events = case_events(stream.as_ref()).await;
        (events.len() >= 2).then_some(events)
    })
    .await;
    assert_eq!(events.len(), 2, "{events:?}");
    for (envelope, event) in &events {
        assert_eq!(envelope.r#type, "tend.v1.CaseEvent");
        assert_eq!(envelope.tenant, "acme");
        assert_eq!(envelope.source, "cases");
        assert!(!envelope.event_id.is_empty());
        assert!(envelope.occurred_at.is_some());
        assert_eq!(event.case.as_ref().unwrap().id, case.id);
    }
    assert_ne!(events[0].0.event_id, events[1].0.event_id);
    assert_eq!(events[0].1.kind(), v1::CaseEventKind::Opened);
    let opened = events[0].1.case.as_ref().unwrap();
    assert_eq!(opened.status(), v1::CaseStatus::New);
    assert_eq!(opened.interaction_ids, case.interaction_ids);
    assert_eq!(events[1].1.kind(), v1::CaseEventKind::Resolved);
    let resolved = events[1].1.case.as_ref().unwrap();
    assert_eq!(resolved.status(), v1::CaseStatus::Resolved);
    assert_eq!(resolved.resolution_note, "fixed in 2.1");
    assert!(resolved.resolved_at.is_some());
    app.stop().await;
}
