//! `WatchCases`: a consumer that disconnects and resumes with its cursor sees every event once
//! and in order per case, also after the cases service restarts; filters and tenants hold;
//! heartbeats move the cursor past what the filters left out; bad requests and too many
//! watchers are refused.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tend::app::ServiceName;
use tend_proto::v1;
use tend_proto::v1::CaseEventKind as E;
use tend_tests::{Backend, TestApp, as_tenant};
use tonic::Code;

tend_tests::on_both_backends!(
    a_watcher_that_disconnects_resumes_where_it_stopped,
    filters_tenants_and_heartbeats,
    bad_watches_are_refused,
);

type Watch = tonic::Streaming<v1::WatchCasesResponse>;

async fn spawn(backend: Backend, max_watchers: usize) -> TestApp {
    TestApp::spawn_with(backend, &[ServiceName::Cases], |config| {
        config.cases.watch_poll = Duration::from_millis(20);
        config.cases.watch_heartbeat = Duration::from_secs(1);
        config.cases.max_watchers = max_watchers;
    })
    .await
}

/// Waits until `count` events are on `cases.events`: a watch from LATEST started after that
/// sees none of them (the relay publishes a moment after the change commits).
async fn published(app: &TestApp, count: usize) {
    let stream = app.event_stream().await;
    tend_tests::eventually(&format!("{count} events published"), Duration::from_secs(10), || async {
        (tend_tests::envelopes(stream.as_ref(), "cases.events").await.len() >= count).then_some(())
    })
    .await;
}

async fn open(app: &TestApp, tenant: &str) -> v1::Case {
    let interaction = v1::Interaction {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: tenant.into(),
        channel: v1::Channel::X.into(),
        external_id: uuid::Uuid::new_v4().to_string(),
        text: "my parcel never arrived".into(),
        ..Default::default()
    };
    let request = v1::OpenCaseRequest {
        idempotency_key: interaction.id.clone(),
        interaction: Some(interaction),
        priority: 40,
        ..Default::default()
    };
    app.cases().open_case(as_tenant(tenant, request)).await.unwrap().into_inner().case.unwrap()
}

async fn tag(app: &TestApp, tenant: &str, id: &str, tag: &str) {
    let request = v1::TagCaseRequest { id: id.into(), add: vec![tag.into()], ..Default::default() };
    app.cases().tag_case(as_tenant(tenant, request)).await.unwrap();
}

async fn watch(app: &TestApp, tenant: &str, request: v1::WatchCasesRequest) -> Watch {
    app.cases().watch_cases(as_tenant(tenant, request)).await.unwrap().into_inner()
}

/// The next `count` events of `watch` (heartbeats skipped), within 10 s.
async fn next_events(watch: &mut Watch, count: usize) -> Vec<v1::WatchCasesResponse> {
    let mut events = Vec::new();
    while events.len() < count {
        let message = tokio::time::timeout(Duration::from_secs(10), watch.message())
            .await
            .unwrap_or_else(|_| panic!("{} of {count} events within 10 s: {events:?}", events.len()))
            .unwrap()
            .unwrap();
        if message.event.is_some() {
            events.push(message);
        }
    }
    events
}

/// Nothing but heartbeats arrive on `watch` for a moment.
async fn assert_quiet(watch: &mut Watch) {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(400);
    while let Ok(message) = tokio::time::timeout_at(deadline, watch.message()).await {
        let message = message.unwrap().unwrap();
        assert!(message.event.is_none(), "unexpected {message:?}");
    }
}

/// Checks that `events` hold each event once and each case's versions in order.
fn assert_once_in_order(events: &[v1::WatchCasesResponse]) {
    let ids: HashSet<&str> = events.iter().map(|event| event.event_id.as_str()).collect();
    assert_eq!(ids.len(), events.len(), "an event came twice");
    let mut versions: HashMap<String, u64> = HashMap::new();
    for response in events {
        let case = response.event.as_ref().unwrap().case.as_ref().unwrap();
        let last = versions.insert(case.id.clone(), case.version).unwrap_or(0);
        assert!(case.version > last, "case {} went from v{last} to v{}", case.id, case.version);
    }
}

async fn a_watcher_that_disconnects_resumes_where_it_stopped(backend: Backend) {
    let app = spawn(backend, 8).await;
    // Before the watch: not seen from LATEST, seen from EARLIEST.
    let before = open(&app, "acme").await;
    published(&app, 1).await;
    let mut live = watch(&app, "acme", v1::WatchCasesRequest::default()).await;
    let a = open(&app, "acme").await;
    let b = open(&app, "acme").await;
    for n in 0..3 {
        tag(&app, "acme", &a.id, &format!("a{n}")).await;
        tag(&app, "acme", &b.id, &format!("b{n}")).await;
    }
    let first = next_events(&mut live, 5).await;
    assert_eq!(first[0].event.as_ref().unwrap().case.as_ref().unwrap().id, a.id, "from now on");
    // The consumer keeps the cursor of the fifth event and goes away.
    let cursor = first[4].cursor.clone();
    drop(live);
    for n in 3..5 {
        tag(&app, "acme", &a.id, &format!("a{n}")).await;
        tag(&app, "acme", &b.id, &format!("b{n}")).await;
    }
    let mut resumed = watch(&app, "acme", v1::WatchCasesRequest { cursor, ..Default::default() }).await;
    let rest = next_events(&mut resumed, 7).await;
    assert_quiet(&mut resumed).await;
    let all: Vec<_> = first.iter().take(5).chain(rest.iter()).cloned().collect();
    assert_eq!(all.len(), 2 + 10, "two openings and ten tags, each once");
    assert_once_in_order(&all);

    // From the earliest kept event: the case opened before the first watch too.
    let request = v1::WatchCasesRequest { start: v1::WatchStart::Earliest.into(), ..Default::default() };
    let mut replay = watch(&app, "acme", request).await;
    let everything = next_events(&mut replay, 13).await;
    assert_eq!(everything[0].event.as_ref().unwrap().case.as_ref().unwrap().id, before.id);
    assert_once_in_order(&everything);
    drop((resumed, replay));
    app.stop().await;
}

async fn filters_tenants_and_heartbeats(backend: Backend) {
    let app = spawn(backend, 8).await;
    let kinds = v1::WatchCasesRequest { kinds: vec![E::Assigned.into()], ..Default::default() };
    let mut assignments = watch(&app, "acme", kinds).await;
    let mut globex = watch(&app, "globex", v1::WatchCasesRequest::default()).await;
    let case = open(&app, "acme").await;
    published(&app, 1).await;
    let mut this_case =
        watch(&app, "acme", v1::WatchCasesRequest { case_id: case.id.clone(), ..Default::default() }).await;
    let other = open(&app, "acme").await;
    tag(&app, "acme", &other.id, "noise").await;
    let assign = v1::AssignCaseRequest { id: case.id.clone(), agent_id: "ana".into(), ..Default::default() };
    app.cases().assign_case(as_tenant("acme", assign)).await.unwrap();

    let assigned = next_events(&mut assignments, 1).await;
    assert_eq!(assigned[0].event.as_ref().unwrap().kind(), E::Assigned);
    let mine = next_events(&mut this_case, 1).await;
    assert_eq!(mine[0].event.as_ref().unwrap().kind(), E::Assigned, "only its own case's events");
    assert_quiet(&mut this_case).await;
    // Nothing of acme reaches globex's watcher; only heartbeats, whose cursor moves past
    // acme's events so that a resume does not read them again.
    let heartbeat = tokio::time::timeout(Duration::from_secs(5), globex.message()).await.unwrap().unwrap().unwrap();
    assert!(heartbeat.event.is_none() && !heartbeat.cursor.is_empty(), "{heartbeat:?}");
    let mut resumed =
        watch(&app, "globex", v1::WatchCasesRequest { cursor: heartbeat.cursor, ..Default::default() }).await;
    let theirs = open(&app, "globex").await;
    let seen = next_events(&mut resumed, 1).await;
    assert_eq!(seen[0].event.as_ref().unwrap().case.as_ref().unwrap().id, theirs.id);
    drop((assignments, globex, this_case, resumed));
    app.stop().await;
}

async fn bad_watches_are_refused(backend: Backend) {
    let app = spawn(backend, 3).await;
    let refuse = |request: v1::WatchCasesRequest| {
        let app = &app;
        async move { app.cases().watch_cases(as_tenant("acme", request)).await.unwrap_err() }
    };
    for cursor in ["abc", "1-2-3", "-1"] {
        let error = refuse(v1::WatchCasesRequest { cursor: cursor.into(), ..Default::default() }).await;
        assert_eq!(error.code(), Code::InvalidArgument, "{cursor}: {error:?}");
        assert!(error.message().contains("`cursor`"), "{error:?}");
    }
    let error = refuse(v1::WatchCasesRequest { kinds: vec![99], ..Default::default() }).await;
    assert_eq!(error.code(), Code::InvalidArgument);
    let error = refuse(v1::WatchCasesRequest { statuses: vec![0], ..Default::default() }).await;
    assert_eq!(error.code(), Code::InvalidArgument);
    let error = refuse(v1::WatchCasesRequest { case_id: "nope".into(), ..Default::default() }).await;
    assert_eq!(error.code(), Code::InvalidArgument);

    // Three watchers at most (as configured); one more is refused until one goes.
    let mut open_watches = Vec::new();
    for _ in 0..3 {
        open_watches.push(watch(&app, "acme", v1::WatchCasesRequest::default()).await);
    }
    let error = refuse(v1::WatchCasesRequest::default()).await;
    assert_eq!(error.code(), Code::ResourceExhausted, "{error:?}");
    drop(open_watches.pop());
    tend_tests::eventually("a watcher's slot freed", Duration::from_secs(5), || async {
        app.cases().watch_cases(as_tenant("acme", v1::WatchCasesRequest::default())).await.ok()
    })
    .await;
    drop(open_watches);
    app.stop().await;
}

/// The cases service stops and starts again on the same PostgreSQL and Redis: a consumer
/// resumes with its cursor and misses nothing, sees nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_resumes_after_the_cases_service_restarts() {
    let (mut config, data_dir, database) = tend_tests::test_config(Backend::PostgresRedis).await;
    config.cases.watch_poll = Duration::from_millis(20);
    let first = TestApp::spawn_config(config.clone(), &[ServiceName::Cases], data_dir, None).await;
    let mut live = watch(&first, "acme", v1::WatchCasesRequest::default()).await;
    let case = open(&first, "acme").await;
    tag(&first, "acme", &case.id, "one").await;
    let seen = next_events(&mut live, 2).await;
    let cursor = seen[1].cursor.clone();
    // Made while the consumer is away, just before the restart.
    tag(&first, "acme", &case.id, "two").await;
    first.halt().await;
    assert!(
        tokio::time::timeout(Duration::from_secs(5), live.message()).await.is_ok(),
        "the watch ends with the service"
    );

    let second = TestApp::spawn_config(config, &[ServiceName::Cases], tempfile::tempdir().unwrap(), None).await;
    tag(&second, "acme", &case.id, "three").await;
    let mut resumed = watch(&second, "acme", v1::WatchCasesRequest { cursor, ..Default::default() }).await;
    let rest = next_events(&mut resumed, 2).await;
    assert_quiet(&mut resumed).await;
    let tags: Vec<_> = rest
        .iter()
        .map(|response| response.event.as_ref().unwrap().entry.as_ref().unwrap().tags_added.clone())
        .collect();
    assert_eq!(tags, [vec!["two".to_owned()], vec!["three".to_owned()]]);
    let all: Vec<_> = seen.into_iter().chain(rest).collect();
    assert_once_in_order(&all);
    drop((live, resumed));
    second.stop().await;
    database.unwrap().drop_database().await;
}
