//! Promises to come back, over gRPC with named agents: made on a case, owned by whoever has the
//! case, due soon and overdue as the clock moves (the app's clock, moved ahead: no sleeping for
//! hours), escalated once, released only with a reason, kept by hand; and the timers on one
//! replica at a time when two share a database.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use prost::Message as _;
use tend::app::ServiceName;
use tend_kernel::auth::{ApiKeyConfig, Role};
use tend_proto::v1;
use tend_proto::v1::CaseEventKind as E;
use tend_proto::v1::CaseTimelineKind as K;
use tend_queue::EventStream;
use tend_tests::{Backend, TestApp, envelopes, eventually};
use tonic::Code;

tend_tests::on_both_backends!(
    a_promise_falls_due_escalates_once_and_follows_the_case,
    a_case_with_open_promises_is_resolved_only_with_a_reason,
    promises_are_kept_and_released_by_hand_and_bad_input_is_refused,
);

const ANA: &str = "ana-agent-key-00001";
const BO: &str = "bo-agent-key-000001";

const HOUR: Duration = Duration::from_secs(3600);

fn keys() -> Vec<ApiKeyConfig> {
    let key = |key: &str, name: &str| ApiKeyConfig::plain(name, key, Some("acme"), Role::Agent);
    vec![key(ANA, "ana"), key(BO, "bo")]
}

/// Cases alone, with keys for two agents of acme.
async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, &[ServiceName::Cases], |config| config.auth.keys = keys()).await
}

use tend_tests::with_key as by;

/// Opens a case for a fresh interaction, as routing would.
async fn open(app: &TestApp) -> v1::Case {
    let interaction = v1::Interaction {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: "acme".into(),
        channel: v1::Channel::X.into(),
        external_id: uuid::Uuid::new_v4().to_string(),
        text: "where is my refund?".into(),
        ..Default::default()
    };
    let request = v1::OpenCaseRequest {
        idempotency_key: interaction.id.clone(),
        interaction: Some(interaction),
        priority: 40,
        ..Default::default()
    };
    app.cases().open_case(by(ANA, request)).await.unwrap().into_inner().case.unwrap()
}

/// `app`'s clock `ahead` from now, as a timestamp.
fn in_(app: &TestApp, ahead: Duration) -> prost_types::Timestamp {
    use tend_kernel::ids::Clock as _;
    tend_kernel::ids::to_timestamp(app.clock.now() + chrono::Duration::from_std(ahead).unwrap())
}

async fn promise(app: &TestApp, key: &str, case_id: &str, what: &str, ahead: Duration) -> v1::Promise {
    let request = v1::PromiseFollowUpRequest {
        case_id: case_id.into(),
        what: what.into(),
        due_at: Some(in_(app, ahead)),
        ..Default::default()
    };
    app.cases().promise_follow_up(by(key, request)).await.unwrap().into_inner()
}

async fn get(app: &TestApp, id: &str) -> v1::Case {
    app.cases().get_case(by(ANA, v1::GetCaseRequest { id: id.into() })).await.unwrap().into_inner()
}

async fn list(app: &TestApp, view: v1::PromiseView, owner: &str) -> Vec<v1::Promise> {
    let request = v1::ListPromisesRequest { view: view.into(), owner: owner.into(), ..Default::default() };
    app.cases().list_promises(by(ANA, request)).await.unwrap().into_inner().promises
}

async fn timeline(app: &TestApp, id: &str) -> Vec<v1::CaseTimelineEntry> {
    let request = v1::ListCaseTimelineRequest { case_id: id.into(), page_size: 500, ..Default::default() };
    app.cases().list_case_timeline(by(ANA, request)).await.unwrap().into_inner().entries
}

/// The `cases.events` published so far, decoded.
async fn case_events(stream: &dyn EventStream) -> Vec<v1::CaseEvent> {
    envelopes(stream, "cases.events")
        .await
        .iter()
        .map(|envelope| v1::CaseEvent::decode(envelope.payload.as_slice()).unwrap())
        .collect()
}

/// The events of `kind` about `promise_id`, once there are `at_least` of them.
async fn promise_events(stream: &dyn EventStream, kind: E, promise_id: &str, at_least: usize) -> Vec<v1::CaseEvent> {
    eventually(&format!("{at_least} {kind:?} event(s)"), Duration::from_secs(10), || async {
        let events: Vec<_> = case_events(stream)
            .await
            .into_iter()
            .filter(|event| event.kind() == kind && event.promise.as_ref().is_some_and(|p| p.id == promise_id))
            .collect();
        (events.len() >= at_least).then_some(events)
    })
    .await
}

fn assert_invalid(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
    assert!(status.message().contains(&format!("`{field}`")), "should name `{field}`: {:?}", status.message());
}

async fn a_promise_falls_due_escalates_once_and_follows_the_case(backend: Backend) {
    let app = spawn(backend).await;
    let stream = app.event_stream().await;
    let case = open(&app).await;
    let assign = v1::AssignCaseRequest { id: case.id.clone(), agent_id: "ana".into(), ..Default::default() };
    app.cases().assign_case(by(ANA, assign)).await.unwrap();

    // Ana promises an update in two hours; the promise is hers, and the case counts it.
    let made = promise(&app, ANA, &case.id, "an update on the refund", 2 * HOUR).await;
    assert_eq!(made.state(), v1::PromiseState::Open);
    assert_eq!((made.promised_by.as_str(), made.owner.as_str()), ("ana", "ana"));
    let promised = get(&app, &case.id).await;
    assert_eq!(promised.open_promises, 1);
    assert_eq!(promised.next_promise_due_at, made.due_at);
    assert_eq!(promised.version, 3, "opened, assigned, promised");
    let made_event = promise_events(stream.as_ref(), E::PromiseMade, &made.id, 1).await;
    assert_eq!(made_event[0].entry.as_ref().unwrap().promise_id, made.id);

    // Bo takes the case over: the promise goes with it.
    let handover = v1::AssignCaseRequest {
        id: case.id.clone(),
        agent_id: "bo".into(),
        reason: "ana's shift ended".into(),
        ..Default::default()
    };
    app.cases().assign_case(by(BO, handover)).await.unwrap();
    assert_eq!(list(&app, v1::PromiseView::Open, "bo").await.len(), 1);
    assert!(list(&app, v1::PromiseView::Open, "ana").await.is_empty());
    assert!(list(&app, v1::PromiseView::DueSoon, "").await.is_empty(), "two hours ahead is not soon");

    // 90 minutes on, it is due within the hour's warning: raised once, to bo.
    app.clock.advance(90 * Duration::from_secs(60));
    let due_soon = promise_events(stream.as_ref(), E::PromiseDueSoon, &made.id, 1).await;
    assert_eq!(due_soon[0].promise.as_ref().unwrap().owner, "bo");
    assert!(due_soon[0].promise.as_ref().unwrap().due_soon_at.is_some());
    let listed = list(&app, v1::PromiseView::DueSoon, "bo").await;
    assert_eq!(listed.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), [made.id.as_str()]);
    assert_eq!(get(&app, &case.id).await.version, 4, "a warning does not change the case");

    // Past its time, unkept: overdue, the case escalated by 20.
    app.clock.advance(31 * Duration::from_secs(60));
    let overdue = promise_events(stream.as_ref(), E::PromiseOverdue, &made.id, 1).await;
    let escalated = overdue[0].case.as_ref().unwrap();
    assert_eq!((escalated.priority, escalated.version), (60, 5));
    assert_eq!(get(&app, &case.id).await.priority, 60);
    assert_eq!(list(&app, v1::PromiseView::Overdue, "").await.len(), 1);
    assert!(list(&app, v1::PromiseView::DueSoon, "").await.is_empty(), "overdue is not due soon");

    // Later sweeps find nothing more to raise.
    app.clock.advance(HOUR);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let all = case_events(stream.as_ref()).await;
    let count = |kind: E| all.iter().filter(|event| event.kind() == kind).count();
    assert_eq!((count(E::PromiseDueSoon), count(E::PromiseOverdue)), (1, 1), "{all:?}");
    assert_eq!(get(&app, &case.id).await.priority, 60);

    // The timeline tells the story, by the actors who did each step.
    let entries = timeline(&app, &case.id).await;
    let promise_steps: Vec<_> = entries
        .iter()
        .filter(|entry| !entry.promise_id.is_empty())
        .map(|entry| (entry.kind(), entry.actor.as_str()))
        .collect();
    assert_eq!(promise_steps, [(K::PromiseMade, "ana"), (K::PromiseDueSoon, "cases"), (K::PromiseOverdue, "cases")]);
    let escalation = entries.iter().find(|entry| entry.kind() == K::PromiseOverdue).unwrap();
    assert_eq!(escalation.priority, 60);
    assert!(escalation.reason.contains("owned by bo"), "{:?}", escalation.reason);

    // Keeping it late still counts, and the case has no open promise any more.
    let keep = v1::KeepPromiseRequest { id: made.id.clone(), note: "called the customer".into() };
    let kept = app.cases().keep_promise(by(BO, keep)).await.unwrap().into_inner();
    assert_eq!((kept.state(), kept.settled_by.as_str()), (v1::PromiseState::Kept, "bo"));
    assert!(kept.overdue_at.is_some(), "it stays on record as kept late");
    let after = get(&app, &case.id).await;
    assert_eq!((after.open_promises, after.next_promise_due_at), (0, None));
    assert_eq!(list(&app, v1::PromiseView::Kept, "bo").await.len(), 1);
    app.stop().await;
}

async fn a_case_with_open_promises_is_resolved_only_with_a_reason(backend: Backend) {
    let app = spawn(backend).await;
    let case = open(&app).await;
    let first = promise(&app, ANA, &case.id, "the courier's answer", HOUR * 5).await;
    let second = promise(&app, ANA, &case.id, "a refund confirmation", HOUR * 3).await;
    let counted = get(&app, &case.id).await;
    assert_eq!(counted.open_promises, 2);
    assert_eq!(counted.next_promise_due_at, second.due_at, "the soonest due");

    let resolve = v1::ResolveCaseRequest { id: case.id.clone(), note: "refunded".into(), ..Default::default() };
    let refused = app.cases().resolve_case(by(ANA, resolve.clone())).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    for listed in [&first.id, &second.id, &"release_promises_reason".to_owned()] {
        assert!(refused.message().contains(listed.as_str()), "{listed}: {:?}", refused.message());
    }
    let close =
        v1::TransitionCaseRequest { id: case.id.clone(), to: v1::CaseStatus::Closed.into(), ..Default::default() };
    let not_closed = app.cases().transition_case(by(ANA, close)).await.unwrap_err();
    assert_eq!(not_closed.code(), Code::FailedPrecondition, "closing is not allowed from new at all");
    assert_eq!(get(&app, &case.id).await.status(), v1::CaseStatus::New, "nothing changed");

    // Moving it elsewhere is fine: the promises stay.
    let pending = v1::TransitionCaseRequest {
        id: case.id.clone(),
        to: v1::CaseStatus::PendingCustomer.into(),
        ..Default::default()
    };
    app.cases().transition_case(by(ANA, pending)).await.unwrap();

    let with_reason = v1::ResolveCaseRequest { release_promises_reason: "the refund answers both".into(), ..resolve };
    let resolved = app.cases().resolve_case(by(ANA, with_reason)).await.unwrap().into_inner();
    assert_eq!((resolved.status(), resolved.open_promises), (v1::CaseStatus::Resolved, 0));
    let released = list(&app, v1::PromiseView::Released, "").await;
    assert_eq!(released.len(), 2);
    assert!(released.iter().all(|p| p.note == "the refund answers both" && p.settled_by == "ana"));
    let entries = timeline(&app, &case.id).await;
    let releases: Vec<_> = entries.iter().filter(|entry| entry.kind() == K::PromiseReleased).collect();
    assert_eq!(releases.len(), 2);
    assert!(releases.iter().all(|entry| entry.version == resolved.version), "recorded with the resolution");

    // A resolved case takes no promises; reopened, it does again.
    let refused = app
        .cases()
        .promise_follow_up(by(
            ANA,
            v1::PromiseFollowUpRequest {
                case_id: case.id.clone(),
                what: "more".into(),
                due_at: Some(in_(&app, HOUR)),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    app.stop().await;
}

async fn promises_are_kept_and_released_by_hand_and_bad_input_is_refused(backend: Backend) {
    let app = spawn(backend).await;
    let case = open(&app).await;
    let other = open(&app).await;
    let made = promise(&app, ANA, &case.id, "a call back", HOUR).await;
    assert_eq!(made.owner, "ana", "an unassigned case's promise is the promiser's");

    // Keeping is idempotent; a kept promise can't be released, a released one can't be kept.
    let keep = v1::KeepPromiseRequest { id: made.id.clone(), note: String::new() };
    let kept = app.cases().keep_promise(by(ANA, keep.clone())).await.unwrap().into_inner();
    let again = app.cases().keep_promise(by(BO, keep)).await.unwrap().into_inner();
    assert_eq!(again, kept, "kept once, by ana");
    let release = v1::ReleasePromiseRequest { id: made.id.clone(), reason: "moot".into() };
    let refused = app.cases().release_promise(by(ANA, release)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("kept"), "{refused:?}");

    let second = promise(&app, ANA, &case.id, "a voucher", HOUR).await;
    let no_reason = v1::ReleasePromiseRequest { id: second.id.clone(), reason: " ".into() };
    assert_invalid(&app.cases().release_promise(by(ANA, no_reason)).await.unwrap_err(), "reason");
    let release = v1::ReleasePromiseRequest { id: second.id.clone(), reason: "the customer declined".into() };
    let released = app.cases().release_promise(by(ANA, release)).await.unwrap().into_inner();
    assert_eq!(released.state(), v1::PromiseState::Released);
    let keep = v1::KeepPromiseRequest { id: second.id.clone(), note: String::new() };
    assert_eq!(app.cases().keep_promise(by(ANA, keep)).await.unwrap_err().code(), Code::FailedPrecondition);

    // Bad promises.
    let request = |case_id: &str, what: &str, due_at: Option<prost_types::Timestamp>| v1::PromiseFollowUpRequest {
        case_id: case_id.into(),
        what: what.into(),
        due_at,
        ..Default::default()
    };
    let refuse = |request: v1::PromiseFollowUpRequest| async {
        app.cases().promise_follow_up(by(ANA, request)).await.unwrap_err()
    };
    let soon = Some(in_(&app, HOUR));
    assert_invalid(&refuse(request(&case.id, "  ", soon)).await, "what");
    assert_invalid(&refuse(request(&case.id, &"x".repeat(2001), soon)).await, "what");
    assert_invalid(&refuse(request(&case.id, "late", None)).await, "due_at");
    assert_invalid(&refuse(request(&case.id, "past", Some(in_(&app, Duration::ZERO)))).await, "due_at");
    assert_invalid(&refuse(request(&case.id, "far", Some(in_(&app, HOUR * 24 * 91)))).await, "due_at");
    assert_invalid(&refuse(request("not-an-id", "x", soon)).await, "id");
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_eq!(refuse(request(&unknown, "x", soon)).await.code(), Code::NotFound);
    let unknown_promise = v1::KeepPromiseRequest { id: unknown.clone(), note: String::new() };
    assert_eq!(app.cases().keep_promise(by(ANA, unknown_promise)).await.unwrap_err().code(), Code::NotFound);

    // A reply can only keep an open promise of its own case.
    let on_other = promise(&app, ANA, &other.id, "the other case's", HOUR).await;
    let reply = v1::ReplyToCaseRequest {
        case_id: case.id.clone(),
        text: "here it is".into(),
        keeps_promise_id: on_other.id.clone(),
        ..Default::default()
    };
    assert_invalid(&app.cases().reply_to_case(by(ANA, reply.clone())).await.unwrap_err(), "keeps_promise_id");
    let kept_already = v1::ReplyToCaseRequest { keeps_promise_id: made.id.clone(), ..reply };
    assert_eq!(app.cases().reply_to_case(by(ANA, kept_already)).await.unwrap_err().code(), Code::FailedPrecondition);

    // At most 20 open promises on a case.
    for n in 0..19 {
        promise(&app, ANA, &other.id, &format!("promise {n}"), HOUR + Duration::from_secs(n)).await;
    }
    let twenty_first = refuse(request(&other.id, "one too many", soon)).await;
    assert_eq!(twenty_first.code(), Code::FailedPrecondition, "{twenty_first:?}");

    // Pages of promises, soonest due first, without repeats.
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = v1::ListPromisesRequest {
            view: v1::PromiseView::All.into(),
            page_size: 7,
            page_token,
            ..Default::default()
        };
        let page = app.cases().list_promises(by(BO, request)).await.unwrap().into_inner();
        seen.extend(page.promises);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(seen.len(), 22);
    let due = |p: &v1::Promise| p.due_at.map(|at| (at.seconds, at.nanos)).unwrap();
    assert!(seen.windows(2).all(|pair| (due(&pair[0]), &pair[0].id) < (due(&pair[1]), &pair[1].id)));
    let by_case =
        v1::ListPromisesRequest { case_id: case.id.clone(), view: v1::PromiseView::All.into(), ..Default::default() };
    assert_eq!(app.cases().list_promises(by(ANA, by_case)).await.unwrap().into_inner().promises.len(), 2);
    let bad_view = v1::ListPromisesRequest { view: 99, ..Default::default() };
    assert_invalid(&app.cases().list_promises(by(ANA, bad_view)).await.unwrap_err(), "view");
    app.stop().await;
}

/// Two replicas of cases on one database and one Redis: the promise's timers fire on one of
/// them, once; when that one stops, the other takes the lease over and fires the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_fire_each_timer_once_and_hand_over_when_one_stops() {
    let (mut config, first_dir, database) = tend_tests::test_config(Backend::PostgresRedis).await;
    config.auth.keys = keys();
    let mut second_config = config.clone();
    config.stream.instance = "cases-a".into();
    second_config.stream.instance = "cases-b".into();
    // The last to stop cleans the shared stream up; the database is dropped at the end.
    let first = TestApp::spawn_config(config, &[ServiceName::Cases], first_dir, None).await;
    let second = TestApp::spawn_config(second_config, &[ServiceName::Cases], tempfile::tempdir().unwrap(), None).await;
    let stream = first.event_stream().await;

    let case = open(&first).await;
    let made = promise(&first, ANA, &case.id, "a callback", HOUR).await;
    first.clock.advance(2 * HOUR);
    second.clock.advance(2 * HOUR);
    promise_events(stream.as_ref(), E::PromiseOverdue, &made.id, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let overdue = case_events(stream.as_ref()).await.into_iter().filter(|event| event.kind() == E::PromiseOverdue);
    assert_eq!(overdue.count(), 1, "fired once across the replicas");
    assert_eq!(get(&second, &case.id).await.priority, 60);

    // The replica holding the lease stops (releasing it); the other one fires what comes next.
    let holder = lease_holder(&first).await;
    let (stopping, staying) = if holder == "cases-a" { (first, second) } else { (second, first) };
    let next = promise(&staying, BO, &case.id, "a second callback", HOUR).await;
    stopping.halt().await;
    staying.clock.advance(2 * HOUR);
    promise_events(stream.as_ref(), E::PromiseOverdue, &next.id, 1).await;
    assert_ne!(lease_holder(&staying).await, holder);
    staying.stop().await;
    database.unwrap().drop_database().await;
}

/// Who holds the cases timers' lease now, read from the cases database.
async fn lease_holder(app: &TestApp) -> String {
    use tend_kernel::ids::Clock as _;
    let db = tend_store::connect(&app.config.storage, "cases").await.unwrap();
    tend_store::lease::holder(&db, "cases.timers", app.clock.now()).await.unwrap().unwrap()
}
