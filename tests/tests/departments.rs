//! A direct line into every department, over gRPC with named keys: departments kept by an
//! admin, a case escalated with its reason and root cause, answered by the department's own
//! tool and back with its agent, the time in department counted, a department that runs out of
//! time raised once, an escalation withdrawn by the resolution, and retention's outcome.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use prost::Message as _;
use tend::app::ServiceName;
use tend_kernel::auth::{ApiKeyConfig, Role};
use tend_proto::v1;
use tend_proto::v1::CaseEventKind as E;
use tend_proto::v1::CaseStatus as S;
use tend_proto::v1::CaseTimelineKind as K;
use tend_queue::EventStream;
use tend_tests::{Backend, TestApp, envelopes, eventually};
use tonic::Code;

tend_tests::on_both_backends!(
    a_case_goes_to_a_department_and_comes_back_to_its_agent,
    a_department_out_of_time_is_raised_once_and_a_resolution_withdraws_it,
    retention_records_what_came_of_it,
    bad_input_is_refused_naming_what_to_fix,
);

const ADMIN: &str = "acme-admin-key-0001";
const ANA: &str = "ana-agent-key-00001";
const BILLING: &str = "billing-tool-key-01";

const MINUTE: Duration = Duration::from_secs(60);

/// Cases alone, with keys for an admin, an agent and the billing department's tool.
async fn spawn(backend: Backend) -> TestApp {
    let key = |key: &str, name: &str, role| ApiKeyConfig::plain(name, key, Some("acme"), role);
    TestApp::spawn_with(backend, &[ServiceName::Cases], |config| {
        config.auth.keys = vec![
            key(ADMIN, "lead", Role::Admin),
            key(ANA, "ana", Role::Agent),
            key(BILLING, "billing-tool", Role::Agent),
        ]
    })
    .await
}

use tend_tests::with_key as by;

async fn open(app: &TestApp) -> v1::Case {
    let interaction = v1::Interaction {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: "acme".into(),
        channel: v1::Channel::X.into(),
        external_id: uuid::Uuid::new_v4().to_string(),
        text: "you charged me twice this month".into(),
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

async fn department(app: &TestApp, name: &str, answer_within: Duration) -> v1::Department {
    let department = v1::Department {
        name: name.into(),
        contact: format!("{name}@acme.example"),
        answer_within_seconds: u32::try_from(answer_within.as_secs()).unwrap(),
        ..Default::default()
    };
    let request = v1::UpsertDepartmentRequest { department: Some(department) };
    app.cases().upsert_department(by(ADMIN, request)).await.unwrap().into_inner()
}

fn escalation(case_id: &str, department: &str) -> v1::EscalateToDepartmentRequest {
    v1::EscalateToDepartmentRequest {
        case_id: case_id.into(),
        department: department.into(),
        reason: "please refund the second charge".into(),
        root_cause: "double-charge".into(),
        ..Default::default()
    }
}

async fn get(app: &TestApp, id: &str) -> v1::Case {
    app.cases().get_case(by(ANA, v1::GetCaseRequest { id: id.into() })).await.unwrap().into_inner()
}

async fn timeline(app: &TestApp, id: &str) -> Vec<v1::CaseTimelineEntry> {
    let request = v1::ListCaseTimelineRequest { case_id: id.into(), page_size: 500, ..Default::default() };
    app.cases().list_case_timeline(by(ANA, request)).await.unwrap().into_inner().entries
}

async fn case_events(stream: &dyn EventStream, kind: E, at_least: usize) -> Vec<v1::CaseEvent> {
    eventually(&format!("{at_least} {kind:?} event(s)"), Duration::from_secs(10), || async {
        let events: Vec<v1::CaseEvent> = envelopes(stream, "cases.events")
            .await
            .iter()
            .map(|envelope| v1::CaseEvent::decode(envelope.payload.as_slice()).unwrap())
            .filter(|event| event.kind() == kind)
            .collect();
        (events.len() >= at_least).then_some(events)
    })
    .await
}

fn assert_invalid(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
    assert!(status.message().contains(&format!("`{field}`")), "should name `{field}`: {:?}", status.message());
}

async fn a_case_goes_to_a_department_and_comes_back_to_its_agent(backend: Backend) {
    let app = spawn(backend).await;
    let stream = app.event_stream().await;
    department(&app, "billing", 4 * 60 * MINUTE).await;
    let case = open(&app).await;
    let assign = v1::AssignCaseRequest { id: case.id.clone(), agent_id: "ana".into(), ..Default::default() };
    app.cases().assign_case(by(ANA, assign)).await.unwrap();

    let escalated = app.cases().escalate_to_department(by(ANA, escalation(&case.id, "billing"))).await;
    let escalated = escalated.unwrap().into_inner();
    assert_eq!((escalated.state(), escalated.escalated_by.as_str()), (v1::EscalationState::Open, "ana"));
    let at = |t: Option<prost_types::Timestamp>| t.unwrap().seconds;
    assert_eq!(at(escalated.due_at) - at(escalated.escalated_at), 4 * 3600, "billing's own time to answer");
    let waiting = get(&app, &case.id).await;
    assert_eq!((waiting.status(), waiting.department.as_str()), (S::PendingDepartment, "billing"));
    assert!(waiting.tags.contains(&"cause:double-charge".to_owned()), "{:?}", waiting.tags);
    let announced = case_events(stream.as_ref(), E::Escalated, 1).await;
    assert_eq!(announced[0].escalation.as_ref().unwrap().id, escalated.id);

    // One open escalation at a time.
    let again = app.cases().escalate_to_department(by(ANA, escalation(&case.id, "billing"))).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    assert!(again.message().contains("billing"), "{again:?}");

    // Billing's inbox has it; its tool answers 90 minutes later.
    let inbox = v1::ListEscalationsRequest {
        department: "billing".into(),
        state: v1::EscalationState::Open.into(),
        ..Default::default()
    };
    let listed = app.cases().list_escalations(by(BILLING, inbox.clone())).await.unwrap().into_inner().escalations;
    assert_eq!(listed.iter().map(|e| e.case_id.as_str()).collect::<Vec<_>>(), [case.id.as_str()]);
    app.clock.advance(90 * MINUTE);
    let answer = v1::AnswerEscalationRequest {
        case_id: case.id.clone(),
        answer: "refunded the second charge, 3-5 days".into(),
        ..Default::default()
    };
    let answered = app.cases().answer_escalation(by(BILLING, answer.clone())).await.unwrap().into_inner();
    assert_eq!((answered.state(), answered.answered_by.as_str()), (v1::EscalationState::Answered, "billing-tool"));
    assert!((5400..5460).contains(&answered.seconds_in_department), "{}", answered.seconds_in_department);

    // Back with ana, the time counted, billing's inbox empty.
    let back = get(&app, &case.id).await;
    assert_eq!((back.status(), back.assignee.as_str(), back.department.as_str()), (S::Open, "ana", ""));
    assert_eq!(back.department_seconds, answered.seconds_in_department);
    assert!(app.cases().list_escalations(by(BILLING, inbox)).await.unwrap().into_inner().escalations.is_empty());
    case_events(stream.as_ref(), E::EscalationAnswered, 1).await;
    let entries = timeline(&app, &case.id).await;
    let steps: Vec<_> = entries
        .iter()
        .filter(|entry| !entry.department.is_empty())
        .map(|entry| (entry.kind(), entry.actor.as_str(), entry.from_status(), entry.to_status()))
        .collect();
    assert_eq!(
        steps,
        [
            (K::Escalated, "ana", S::Open, S::PendingDepartment),
            (K::EscalationAnswered, "billing-tool", S::PendingDepartment, S::Open)
        ]
    );
    let answered_entry = entries.iter().find(|entry| entry.kind() == K::EscalationAnswered).unwrap();
    assert_eq!(answered_entry.text, "refunded the second charge, 3-5 days");

    // Nothing is open any more to answer.
    let late = app.cases().answer_escalation(by(BILLING, answer)).await.unwrap_err();
    assert_eq!(late.code(), Code::FailedPrecondition);
    app.stop().await;
}

async fn a_department_out_of_time_is_raised_once_and_a_resolution_withdraws_it(backend: Backend) {
    let app = spawn(backend).await;
    let stream = app.event_stream().await;
    department(&app, "logistics", 60 * MINUTE).await;
    let case = open(&app).await;
    let escalated = app.cases().escalate_to_department(by(ANA, escalation(&case.id, "logistics"))).await;
    let escalated = escalated.unwrap().into_inner();
    assert_eq!(get(&app, &case.id).await.status(), S::PendingDepartment, "from new straight to the department");

    app.clock.advance(61 * MINUTE);
    let overdue = case_events(stream.as_ref(), E::EscalationOverdue, 1).await;
    assert_eq!(overdue[0].escalation.as_ref().unwrap().id, escalated.id);
    app.clock.advance(60 * MINUTE);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(case_events(stream.as_ref(), E::EscalationOverdue, 1).await.len(), 1, "raised once");
    let request = v1::ListEscalationsRequest { case_id: case.id.clone(), ..Default::default() };
    let listed = app.cases().list_escalations(by(ANA, request.clone())).await.unwrap().into_inner().escalations;
    assert!(listed[0].overdue_at.is_some());

    // The agent resolves it meanwhile: the escalation is withdrawn and its time counted.
    let resolve =
        v1::ResolveCaseRequest { id: case.id.clone(), note: "the parcel turned up".into(), ..Default::default() };
    let resolved = app.cases().resolve_case(by(ANA, resolve)).await.unwrap().into_inner();
    assert_eq!(resolved.department, "");
    assert!((7260..7320).contains(&resolved.department_seconds), "{}", resolved.department_seconds);
    let listed = app.cases().list_escalations(by(ANA, request)).await.unwrap().into_inner().escalations;
    assert_eq!(listed[0].state(), v1::EscalationState::Withdrawn);
    let kinds: Vec<_> = timeline(&app, &case.id).await.iter().map(v1::CaseTimelineEntry::kind).collect();
    assert_eq!(kinds, [K::Opened, K::Escalated, K::EscalationOverdue, K::StatusChanged, K::EscalationWithdrawn],);
    app.stop().await;
}

async fn retention_records_what_came_of_it(backend: Backend) {
    let app = spawn(backend).await;
    department(&app, "retention", 24 * 60 * MINUTE).await;
    let case = open(&app).await;
    let record = v1::RecordRetentionOutcomeRequest {
        case_id: case.id.clone(),
        outcome: v1::RetentionOutcome::Pending.into(),
        note: "offered three months at half price".into(),
        ..Default::default()
    };
    let pending = app.cases().record_retention_outcome(by(ANA, record)).await.unwrap().into_inner();
    assert_eq!(pending.retention_outcome(), v1::RetentionOutcome::Pending);

    // Retention takes it over and answers with the outcome.
    let mut to_retention = escalation(&case.id, "retention");
    to_retention.root_cause = "price".into();
    app.cases().escalate_to_department(by(ANA, to_retention)).await.unwrap();
    let answer = v1::AnswerEscalationRequest {
        case_id: case.id.clone(),
        answer: "accepted the offer".into(),
        retention_outcome: v1::RetentionOutcome::Saved.into(),
    };
    app.cases().answer_escalation(by(ANA, answer)).await.unwrap();
    let saved = get(&app, &case.id).await;
    assert_eq!(saved.retention_outcome(), v1::RetentionOutcome::Saved);
    assert_eq!(saved.assignee, "ana", "nobody had it: back to the one who escalated it");
    let recorded: Vec<_> = timeline(&app, &case.id)
        .await
        .into_iter()
        .filter(|entry| entry.kind() == K::RetentionRecorded)
        .map(|entry| (entry.text, entry.reason))
        .collect();
    assert_eq!(
        recorded,
        [("pending".to_owned(), "offered three months at half price".to_owned()), ("saved".to_owned(), String::new())]
    );
    app.stop().await;
}

async fn bad_input_is_refused_naming_what_to_fix(backend: Backend) {
    let app = spawn(backend).await;
    let case = open(&app).await;
    let upsert = |department: v1::Department| v1::UpsertDepartmentRequest { department: Some(department) };
    let good = v1::Department { name: "billing".into(), answer_within_seconds: 3600, ..Default::default() };

    // Departments are the admin's, and checked.
    let denied = app.cases().upsert_department(by(ANA, upsert(good.clone()))).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let bad_name = v1::Department { name: "Billing Team".into(), ..good.clone() };
    assert_invalid(&app.cases().upsert_department(by(ADMIN, upsert(bad_name))).await.unwrap_err(), "department.name");
    let too_quick = v1::Department { answer_within_seconds: 5, ..good.clone() };
    let refused = app.cases().upsert_department(by(ADMIN, upsert(too_quick))).await.unwrap_err();
    assert_invalid(&refused, "department.answer_within_seconds");
    let missing = v1::UpsertDepartmentRequest { department: None };
    assert_invalid(&app.cases().upsert_department(by(ADMIN, missing)).await.unwrap_err(), "department");
    let saved = app.cases().upsert_department(by(ADMIN, upsert(good.clone()))).await.unwrap().into_inner();
    assert_eq!(saved.display_name, "billing");
    let renamed = v1::Department { display_name: "Billing & refunds".into(), ..good.clone() };
    let changed = app.cases().upsert_department(by(ADMIN, upsert(renamed))).await.unwrap().into_inner();
    assert_eq!((changed.created_at, changed.display_name.as_str()), (saved.created_at, "Billing & refunds"));
    let listed = app.cases().list_departments(by(ANA, v1::ListDepartmentsRequest {})).await.unwrap().into_inner();
    assert_eq!(listed.departments.len(), 1);

    // Escalations name a known, enabled department, a reason and a root cause.
    let escalate = |request| async { app.cases().escalate_to_department(by(ANA, request)).await.unwrap_err() };
    assert_eq!(escalate(escalation(&case.id, "legal")).await.code(), Code::NotFound);
    assert_invalid(&escalate(escalation(&case.id, "Le gal")).await, "department");
    assert_invalid(
        &escalate(v1::EscalateToDepartmentRequest { reason: " ".into(), ..escalation(&case.id, "billing") }).await,
        "reason",
    );
    let bad_cause =
        v1::EscalateToDepartmentRequest { root_cause: "no spaces".into(), ..escalation(&case.id, "billing") };
    assert_invalid(&escalate(bad_cause).await, "root_cause");
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_eq!(escalate(escalation(&unknown, "billing")).await.code(), Code::NotFound);
    let disabled = v1::Department { disabled: true, ..good };
    app.cases().upsert_department(by(ADMIN, upsert(disabled))).await.unwrap();
    let refused = escalate(escalation(&case.id, "billing")).await;
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("disabled"), "{refused:?}");

    // Answers, outcomes and lists.
    let answer = v1::AnswerEscalationRequest { case_id: case.id.clone(), answer: " ".into(), ..Default::default() };
    assert_invalid(&app.cases().answer_escalation(by(ANA, answer)).await.unwrap_err(), "answer");
    let no_escalation =
        v1::AnswerEscalationRequest { case_id: case.id.clone(), answer: "done".into(), ..Default::default() };
    assert_eq!(
        app.cases().answer_escalation(by(ANA, no_escalation)).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    let no_outcome = v1::RecordRetentionOutcomeRequest { case_id: case.id.clone(), ..Default::default() };
    assert_invalid(&app.cases().record_retention_outcome(by(ANA, no_outcome)).await.unwrap_err(), "outcome");
    let bad_state = v1::ListEscalationsRequest { state: 9, ..Default::default() };
    assert_invalid(&app.cases().list_escalations(by(ANA, bad_state)).await.unwrap_err(), "state");
    app.stop().await;
}
