//! SLA clocks on cases, from the deadlines routing chose: warned and breached once as the
//! app's clock moves (no sleeping), a breach escalating the case, an agent's reply meeting the
//! response clocks, a customer's new message starting the next-response clock, the resolution
//! stopping them all, and a clock paused over a weekend counting only business time.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use chrono::{DateTime, Datelike as _, TimeZone as _, Utc, Weekday};
use prost::Message as _;
use tend::app::ServiceName;
use tend_kernel::ids::{Clock as _, to_timestamp};
use tend_proto::v1;
use tend_proto::v1::CaseEventKind as E;
use tend_proto::v1::SlaClockKind as Kind;
use tend_proto::v1::SlaClockState as State;
use tend_queue::EventStream;
use tend_tests::{Backend, TestApp, as_tenant, envelopes, eventually};

tend_tests::on_both_backends!(
    clocks_warn_breach_and_escalate_once_and_replies_meet_them,
    a_clock_paused_over_a_weekend_counts_business_time,
);

const MINUTE: Duration = Duration::from_secs(60);

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, &[ServiceName::Cases], |config| {
        config.cases.attach_window = Duration::from_secs(24 * 3600);
        config.cases.breach_unassigns = true;
    })
    .await
}

/// The ids of the cases `SearchCases` finds by `sla`.
async fn by_sla(app: &TestApp, sla: v1::SlaFilter) -> Vec<String> {
    let request = v1::SearchCasesRequest { sla: sla.into(), ..Default::default() };
    let page = app.cases().search_cases(as_tenant("acme", request)).await.unwrap().into_inner();
    page.cases.into_iter().map(|case| case.id).collect()
}

fn at(time: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(to_timestamp(time))
}

fn deadlines(now: DateTime<Utc>, first: i64, resolution: i64, hours: Option<v1::BusinessHours>) -> v1::SlaDeadlines {
    let after = |minutes: i64| now + chrono::Duration::minutes(minutes);
    v1::SlaDeadlines {
        policy: "social".into(),
        calendar: if hours.is_some() { "office".into() } else { String::new() },
        first_response_due: at(after(first)),
        first_response_warn: at(after(first * 8 / 10)),
        resolution_due: at(after(resolution)),
        resolution_warn: at(after(resolution * 8 / 10)),
        next_response_seconds: 30 * 60,
        warn_at_percent: 80,
        hours,
    }
}

async fn open(app: &TestApp, sla: Option<v1::SlaDeadlines>) -> v1::OpenCaseResponse {
    let interaction = v1::Interaction {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: "acme".into(),
        channel: v1::Channel::X.into(),
        external_id: uuid::Uuid::new_v4().to_string(),
        text: "my parcel never arrived".into(),
        ..Default::default()
    };
    let request = v1::OpenCaseRequest {
        idempotency_key: interaction.id.clone(),
        interaction: Some(interaction),
        customer_id: "c-ann".into(),
        priority: 40,
        routing: Some(v1::RoutingOutcome { queue: "default".into(), sla, ..Default::default() }),
        ..Default::default()
    };
    app.cases().open_case(as_tenant("acme", request)).await.unwrap().into_inner()
}

async fn get(app: &TestApp, id: &str) -> v1::Case {
    app.cases().get_case(as_tenant("acme", v1::GetCaseRequest { id: id.into() })).await.unwrap().into_inner()
}

fn clock(case: &v1::Case, kind: Kind) -> v1::SlaClock {
    case.sla_clocks
        .iter()
        .find(|clock| clock.kind() == kind)
        .cloned()
        .unwrap_or_else(|| panic!("no {kind:?} clock: {case:?}"))
}

async fn clock_events(stream: &dyn EventStream, kind: E) -> Vec<v1::CaseEvent> {
    envelopes(stream, "cases.events")
        .await
        .iter()
        .map(|envelope| v1::CaseEvent::decode(envelope.payload.as_slice()).unwrap())
        .filter(|event| event.kind() == kind)
        .collect()
}

async fn wait_for(stream: &dyn EventStream, kind: E, count: usize) -> Vec<v1::CaseEvent> {
    eventually(&format!("{count} {kind:?}"), Duration::from_secs(10), || async {
        let events = clock_events(stream, kind).await;
        (events.len() >= count).then_some(events)
    })
    .await
}

async fn reply(app: &TestApp, case_id: &str) {
    let request = v1::ReplyToCaseRequest { case_id: case_id.into(), text: "On it!".into(), ..Default::default() };
    app.cases().reply_to_case(as_tenant("acme", request)).await.unwrap();
}

async fn clocks_warn_breach_and_escalate_once_and_replies_meet_them(backend: Backend) {
    let app = spawn(backend).await;
    let stream = app.event_stream().await;
    let opened = open(&app, Some(deadlines(app.clock.now(), 60, 8 * 60, None))).await;
    let case = opened.case.unwrap();
    assert_eq!(case.sla_clocks.len(), 2, "first response and resolution");
    assert_eq!(clock(&case, Kind::FirstResponse).state(), State::Running);
    let assign = v1::AssignCaseRequest { id: case.id.clone(), agent_id: "ana".into(), ..Default::default() };
    app.cases().assign_case(as_tenant("acme", assign)).await.unwrap();
    assert!(by_sla(&app, v1::SlaFilter::AtRisk).await.is_empty());

    // 50 minutes on: past the warning point (48 min), once.
    app.clock.advance(50 * MINUTE);
    let warned = wait_for(stream.as_ref(), E::SlaWarning, 1).await;
    assert_eq!(warned[0].clock.as_ref().unwrap().kind(), Kind::FirstResponse);
    assert_eq!(by_sla(&app, v1::SlaFilter::AtRisk).await, [case.id.as_str()]);
    // An hour and a minute on: breached, and the case escalated once.
    app.clock.advance(11 * MINUTE);
    let breached = wait_for(stream.as_ref(), E::SlaBreached, 1).await;
    assert_eq!(breached[0].case.as_ref().unwrap().priority, 60);
    app.clock.advance(5 * MINUTE);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(clock_events(stream.as_ref(), E::SlaBreached).await.len(), 1);
    assert_eq!(clock_events(stream.as_ref(), E::SlaWarning).await.len(), 1);
    let late = get(&app, &case.id).await;
    assert_eq!(late.priority, 60);
    assert_eq!(late.assignee, "", "back to the queue (cases.breach_unassigns)");
    assert!(clock(&late, Kind::FirstResponse).breached_at.is_some());
    assert_eq!(by_sla(&app, v1::SlaFilter::Breached).await, [case.id.as_str()]);
    assert!(by_sla(&app, v1::SlaFilter::AtRisk).await.is_empty(), "breached is no longer at risk");

    // The agent replies: the first response is met (late); the resolution still runs.
    reply(&app, &case.id).await;
    let replied = get(&app, &case.id).await;
    let first = clock(&replied, Kind::FirstResponse);
    assert_eq!(first.state(), State::Stopped);
    assert!(first.met_at.is_some());
    assert_eq!(clock(&replied, Kind::Resolution).state(), State::Running);

    // The customer writes again: the next response is due in 30 minutes; a reply meets it.
    let again = open(&app, None).await;
    assert!(again.attached);
    let next = clock(again.case.as_ref().unwrap(), Kind::NextResponse);
    assert_eq!(next.state(), State::Running);
    let due = next.due_at.unwrap().seconds - tend_kernel::ids::to_timestamp(app.clock.now()).seconds;
    assert!((29 * 60..=30 * 60).contains(&due), "{due}");
    reply(&app, &case.id).await;
    assert_eq!(clock(&get(&app, &case.id).await, Kind::NextResponse).state(), State::Stopped);

    // Resolved: every clock stops, the resolution met.
    let resolve = v1::ResolveCaseRequest { id: case.id.clone(), note: "sent a new one".into(), ..Default::default() };
    let resolved = app.cases().resolve_case(as_tenant("acme", resolve)).await.unwrap().into_inner();
    assert!(resolved.sla_clocks.iter().all(|clock| clock.state() == State::Stopped), "{resolved:?}");
    assert!(clock(&resolved, Kind::Resolution).met_at.is_some());
    app.clock.advance(10 * 60 * MINUTE);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(clock_events(stream.as_ref(), E::SlaBreached).await.len(), 1, "stopped clocks do not breach");

    app.stop().await;
}

/// The next `weekday` at `hour`:00 UTC after `now`.
fn next(now: DateTime<Utc>, weekday: Weekday, hour: u32) -> DateTime<Utc> {
    let mut day = now.date_naive() + chrono::Days::new(1);
    while day.weekday() != weekday {
        day = day + chrono::Days::new(1);
    }
    Utc.from_utc_datetime(&day.and_hms_opt(hour, 0, 0).unwrap())
}

fn until(app: &TestApp, when: DateTime<Utc>) -> Duration {
    (when - app.clock.now()).to_std().unwrap()
}

async fn a_clock_paused_over_a_weekend_counts_business_time(backend: Backend) {
    let app = spawn(backend).await;
    let stream = app.event_stream().await;
    let friday = next(app.clock.now(), Weekday::Fri, 15);
    app.clock.advance(until(&app, friday));
    // Mon–Fri 09:00–17:00 UTC; the first response is due in one business hour (16:00).
    let office = v1::BusinessHours {
        time_zone: "UTC".into(),
        days: ["mon", "tue", "wed", "thu", "fri"]
            .iter()
            .map(|day| v1::BusinessDay { weekday: (*day).into(), periods: vec!["09:00-17:00".into()] })
            .collect(),
        holidays: Vec::new(),
    };
    let case = open(&app, Some(deadlines(app.clock.now(), 60, 16 * 60, Some(office)))).await.case.unwrap();

    // At 15:30 the agent asks the customer something: the clock pauses with 30 minutes left.
    app.clock.advance(30 * MINUTE);
    let ask = v1::TransitionCaseRequest {
        id: case.id.clone(),
        to: v1::CaseStatus::PendingCustomer.into(),
        reason: "order number?".into(),
        ..Default::default()
    };
    let waiting = app.cases().transition_case(as_tenant("acme", ask)).await.unwrap().into_inner();
    let paused = clock(&waiting, Kind::FirstResponse);
    assert_eq!(paused.state(), State::Paused);
    let left = paused.remaining_seconds;
    assert_eq!(by_sla(&app, v1::SlaFilter::Paused).await, [case.id.as_str()]);
    assert!((29 * 60..=30 * 60).contains(&left), "{left}");

    // The weekend passes: nothing falls due while paused.
    let saturday = next(app.clock.now(), Weekday::Sat, 12);
    app.clock.advance(until(&app, saturday));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(clock_events(stream.as_ref(), E::SlaWarning).await.is_empty());
    assert!(clock_events(stream.as_ref(), E::SlaBreached).await.is_empty());

    // Monday 10:00 the customer answers: the case is open again and the clock runs, due after
    // the business time it had left.
    let monday = next(app.clock.now(), Weekday::Mon, 10);
    app.clock.advance(until(&app, monday));
    let answer = open(&app, None).await;
    assert!(answer.attached);
    let resumed = answer.case.unwrap();
    assert_eq!(resumed.status(), v1::CaseStatus::Open, "their answer ends the wait");
    let running = clock(&resumed, Kind::FirstResponse);
    assert_eq!(running.state(), State::Running);
    let due = running.due_at.unwrap().seconds - to_timestamp(monday).seconds;
    assert!((left as i64 - 60..=left as i64 + 60).contains(&due), "due {due} s after Monday 10:00, {left} s were left");

    app.clock.advance(31 * MINUTE);
    let breached = wait_for(stream.as_ref(), E::SlaBreached, 1).await;
    assert_eq!(breached[0].clock.as_ref().unwrap().kind(), Kind::FirstResponse);
    app.stop().await;
}
