//! One case per conversation: an interaction joins the case of the same thread, customer or
//! profile changed within `cases.attach_window` (reopening a resolved one) instead of opening
//! another; a retried open finds the same case; `new_case`, closed cases, old cases and other
//! tenants open new ones.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use prost::Message as _;
use tend::app::ServiceName;
use tend_proto::v1;
use tend_proto::v1::CaseStatus as S;
use tend_proto::v1::CaseTimelineKind as K;
use tend_tests::{Backend, TestApp, as_tenant, envelopes, eventually};

tend_tests::on_both_backends!(
    an_interaction_joins_its_customers_case,
    what_does_not_join_opens_a_case_of_its_own,
    concurrent_opens_of_one_interaction_put_it_on_one_case_once,
    two_posts_of_one_author_through_the_pipeline_are_one_case,
);

struct Post<'a> {
    tenant: &'a str,
    customer: &'a str,
    profile: &'a str,
    thread: &'a str,
    new_case: bool,
}

impl Default for Post<'_> {
    fn default() -> Self {
        Self { tenant: "acme", customer: "", profile: "", thread: "", new_case: false }
    }
}

fn request(post: &Post<'_>) -> v1::OpenCaseRequest {
    let interaction = v1::Interaction {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: post.tenant.into(),
        channel: v1::Channel::X.into(),
        external_id: uuid::Uuid::new_v4().to_string(),
        thread_external_id: post.thread.into(),
        text: "still no parcel".into(),
        ..Default::default()
    };
    v1::OpenCaseRequest {
        idempotency_key: interaction.id.clone(),
        interaction: Some(interaction),
        customer_id: post.customer.into(),
        profile_id: post.profile.into(),
        priority: 40,
        new_case: post.new_case,
        ..Default::default()
    }
}

async fn open(app: &TestApp, request: v1::OpenCaseRequest) -> v1::OpenCaseResponse {
    let tenant = request.interaction.as_ref().unwrap().tenant.clone();
    app.cases().open_case(as_tenant(&tenant, request)).await.unwrap().into_inner()
}

async fn post(app: &TestApp, post: Post<'_>) -> (v1::OpenCaseResponse, String) {
    let request = request(&post);
    let interaction_id = request.interaction.as_ref().unwrap().id.clone();
    (open(app, request).await, interaction_id)
}

async fn resolve(app: &TestApp, id: &str) {
    let request = v1::ResolveCaseRequest { id: id.into(), note: "sorted".into(), ..Default::default() };
    app.cases().resolve_case(as_tenant("acme", request)).await.unwrap();
}

fn case(response: &v1::OpenCaseResponse) -> &v1::Case {
    response.case.as_ref().unwrap()
}

async fn an_interaction_joins_its_customers_case(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[ServiceName::Cases], |config| {
        config.cases.attach_window = Duration::from_secs(24 * 3600);
    })
    .await;
    let ann = || Post { customer: "c-ann", profile: "p-ann", thread: "t-1", ..Post::default() };
    let first_request = request(&ann());
    let opener = first_request.interaction.as_ref().unwrap().id.clone();
    let first = open(&app, first_request.clone()).await;
    assert!(first.created && !first.attached);

    // Ann again, in another conversation: her case, not a second one.
    let second_request = request(&Post { thread: "t-2", ..ann() });
    let second_id = second_request.interaction.as_ref().unwrap().id.clone();
    let second = open(&app, second_request.clone()).await;
    assert!(!second.created && second.attached, "{second:?}");
    assert_eq!(case(&second).id, case(&first).id);
    assert_eq!(case(&second).interaction_ids, [opener.clone(), second_id.clone()]);
    assert_eq!(case(&second).version, 2);
    // A retry finds the same case and adds nothing.
    let retried = open(&app, second_request).await;
    assert!(retried.attached && !retried.created);
    assert_eq!(case(&retried).version, 2);
    // A retry of the opening is the opening, not a join.
    let reopened = open(&app, first_request).await;
    assert!(!reopened.created && !reopened.attached, "{reopened:?}");
    let (by_profile, _) = post(&app, Post { profile: "p-ann", ..Post::default() }).await;
    assert_eq!(case(&by_profile).id, case(&first).id, "her profile without the customer link");
    // Someone else answering in Ann's conversation joins it too.
    let (in_thread, _) = post(&app, Post { profile: "p-bob", thread: "t-1", ..Post::default() }).await;
    assert_eq!(case(&in_thread).id, case(&first).id);

    let timeline = v1::ListCaseTimelineRequest { case_id: case(&first).id.clone(), ..Default::default() };
    let entries = app.cases().list_case_timeline(as_tenant("acme", timeline)).await.unwrap().into_inner().entries;
    let kinds: Vec<_> = entries.iter().map(|entry| (entry.kind(), entry.interaction_id.as_str())).collect();
    assert_eq!(kinds[..2], [(K::Opened, opener.as_str()), (K::InteractionAdded, second_id.as_str())]);
    assert_eq!(kinds.len(), 4, "{kinds:?}");

    // Resolved, she writes again: the case is reopened with the new message on it.
    resolve(&app, &case(&first).id).await;
    let (again, _) = post(&app, ann()).await;
    assert_eq!(case(&again).id, case(&first).id);
    assert_eq!(case(&again).status(), S::Reopened);
    assert!(case(&again).resolved_at.is_none());

    // Each join was announced.
    let stream = app.event_stream().await;
    let joins = eventually("four INTERACTION_ADDED events", Duration::from_secs(10), || async {
        let events: Vec<v1::CaseEvent> = envelopes(stream.as_ref(), "cases.events")
            .await
            .iter()
            .map(|envelope| v1::CaseEvent::decode(envelope.payload.as_slice()).unwrap())
            .filter(|event| event.kind() == v1::CaseEventKind::InteractionAdded)
            .collect();
        (events.len() >= 4).then_some(events)
    })
    .await;
    assert_eq!(joins.len(), 4);
    app.stop().await;
}

async fn what_does_not_join_opens_a_case_of_its_own(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[ServiceName::Cases], |config| {
        config.cases.attach_window = Duration::from_secs(24 * 3600);
    })
    .await;
    let ann = || Post { customer: "c-ann", ..Post::default() };
    let (first, _) = post(&app, ann()).await;

    // Asked for a case of its own.
    let (own, _) = post(&app, Post { new_case: true, ..ann() }).await;
    assert!(own.created && case(&own).id != case(&first).id);
    // Another tenant's Ann is another customer.
    let (globex, _) = post(&app, Post { tenant: "globex", ..ann() }).await;
    assert!(globex.created);
    // A case still being worked on comes before a resolved one, whichever changed last.
    resolve(&app, &case(&first).id).await;
    let (joined, _) = post(&app, ann()).await;
    assert_eq!(case(&joined).id, case(&own).id);
    // Closed cases are final; old ones are left alone.
    let close = v1::TransitionCaseRequest { id: case(&first).id.clone(), to: S::Closed.into(), ..Default::default() };
    app.cases().transition_case(as_tenant("acme", close)).await.unwrap();
    resolve(&app, &case(&own).id).await;
    let close = v1::TransitionCaseRequest { id: case(&own).id.clone(), to: S::Closed.into(), ..Default::default() };
    app.cases().transition_case(as_tenant("acme", close)).await.unwrap();
    let (after_close, _) = post(&app, ann()).await;
    assert!(after_close.created, "closed cases are never joined");
    app.clock.advance(Duration::from_secs(25 * 3600));
    let (next_day, _) = post(&app, ann()).await;
    assert!(next_day.created, "a case unchanged for 25 h is not joined (window 24 h)");
    // Without a thread, customer or profile there is nothing to join by.
    let (anonymous, _) = post(&app, Post::default()).await;
    let (again, _) = post(&app, Post::default()).await;
    assert!(anonymous.created && again.created);
    app.stop().await;
}

/// Eight opens of one interaction at once (retries racing), first of a new customer, then of
/// one who has a case to join: one case, the interaction on it once, one event each.
async fn concurrent_opens_of_one_interaction_put_it_on_one_case_once(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[ServiceName::Cases], |config| {
        config.cases.attach_window = Duration::from_secs(24 * 3600);
    })
    .await;
    let shared = &app;
    let race = |request: v1::OpenCaseRequest| async move {
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let mut client = shared.cases();
            let request = request.clone();
            calls.spawn(async move { client.open_case(as_tenant("acme", request)).await });
        }
        let mut responses = Vec::new();
        while let Some(joined) = calls.join_next().await {
            responses.push(joined.unwrap().unwrap().into_inner());
        }
        responses
    };
    let opening = request(&Post { customer: "c-zoe", profile: "p-zoe", ..Post::default() });
    let opened = race(opening).await;
    assert_eq!(opened.iter().filter(|response| response.created).count(), 1, "{opened:?}");
    let case_id = case(&opened[0]).id.clone();
    assert!(opened.iter().all(|response| case(response).id == case_id && !response.attached));

    let joining = request(&Post { customer: "c-zoe", ..Post::default() });
    let interaction_id = joining.interaction.as_ref().unwrap().id.clone();
    let joined = race(joining).await;
    assert!(joined.iter().all(|response| case(response).id == case_id && response.attached && !response.created));
    let get = v1::GetCaseRequest { id: case_id.clone() };
    let stored = app.cases().get_case(as_tenant("acme", get)).await.unwrap().into_inner();
    assert_eq!(stored.interaction_ids.len(), 2, "{stored:?}");
    assert_eq!(stored.version, 2, "one join");

    let stream = app.event_stream().await;
    let marker = open(&app, request(&Post { customer: "c-marker", ..Post::default() })).await;
    let events = eventually("the marker's event", Duration::from_secs(10), || async {
        let events: Vec<v1::CaseEvent> = envelopes(stream.as_ref(), "cases.events")
            .await
            .iter()
            .map(|envelope| v1::CaseEvent::decode(envelope.payload.as_slice()).unwrap())
            .collect();
        events.iter().any(|event| event.case.as_ref().is_some_and(|c| c.id == case(&marker).id)).then_some(events)
    })
    .await;
    let of_case: Vec<_> = events
        .iter()
        .filter(|event| event.case.as_ref().is_some_and(|c| c.id == case_id))
        .map(|event| (event.kind(), event.entry.as_ref().unwrap().interaction_id.clone()))
        .collect();
    let opener = stored.interaction_ids[0].clone();
    assert_eq!(
        of_case,
        [(v1::CaseEventKind::Opened, opener), (v1::CaseEventKind::InteractionAdded, interaction_id)],
        "one event each"
    );
    app.stop().await;
}

/// Through ingest, identity and routing: the same author's second post is on the first post's
/// case, and routing's decision for it names that case.
async fn two_posts_of_one_author_through_the_pipeline_are_one_case(backend: Backend) {
    let app = TestApp::spawn_with(backend, &ServiceName::ALL, |config| {
        config.cases.attach_window = Duration::from_secs(24 * 3600);
    })
    .await;
    let mut ids = Vec::new();
    for text in ["my order never arrived", "hello?? still nothing"] {
        let request = tend_tests::post("kim", text);
        let ingested = app.ingest().ingest_interaction(as_tenant("acme", request)).await.unwrap().into_inner();
        let id = ingested.interaction.unwrap().id;
        // One after the other, as a customer writes.
        tend_tests::routed(&app, "acme", &id).await;
        ids.push(id);
    }
    let first = tend_tests::routed(&app, "acme", &ids[0]).await;
    let second = tend_tests::routed(&app, "acme", &ids[1]).await;
    assert_eq!(second.case_id, first.case_id);
    let get = v1::GetCaseRequest { id: first.case_id.clone() };
    let joined = app.cases().get_case(as_tenant("acme", get)).await.unwrap().into_inner();
    assert_eq!(joined.interaction_ids, ids);
    app.stop().await;
}
