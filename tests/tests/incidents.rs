//! Incidents over gRPC with named keys: cases grouped by hand, moved between incidents, split
//! off and merged; routing's escalation (`topics.escalated`) opening exactly one incident per
//! burst that later cases join; one answer reaching every member in its own language, safe to
//! retry and tracked per member; and a resolution that resolves the members.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use prost::Message as _;
use tend::app::ServiceName;
use tend_kernel::TenantId;
use tend_kernel::auth::{ApiKeyConfig, Role};
use tend_proto::v1;
use tend_proto::v1::CaseEventKind as E;
use tend_proto::v1::CaseStatus as S;
use tend_proto::v1::IncidentStatus as I;
use tend_queue::EventStream;
use tend_store::events::{envelope, streams};
use tend_tests::with_key as by;
use tend_tests::{Backend, TestApp, envelopes, eventually};
use tonic::Code;

tend_tests::on_both_backends!(
    incidents_group_cases_and_move_them_between_each_other,
    an_escalation_opens_one_incident_that_later_cases_join,
    one_answer_reaches_every_member_in_its_language_once,
    resolving_an_incident_resolves_its_members,
);

const ADMIN: &str = "acme-admin-key-0001";
const ANA: &str = "ana-agent-key-00001";

/// Cases alone, with keys for an admin and an agent.
async fn spawn(backend: Backend) -> TestApp {
    let key = |key: &str, name: &str, role| ApiKeyConfig::plain(name, key, Some("acme"), role);
    TestApp::spawn_with(backend, &[ServiceName::Cases], |config| {
        config.auth.keys = vec![key(ADMIN, "lead", Role::Admin), key(ANA, "ana", Role::Agent)]
    })
    .await
}

/// Opens a case for a new post in `language`, joining the incident of `incident_key` if given.
async fn open_with(app: &TestApp, language: &str, incident_key: &str) -> v1::Case {
    let interaction = v1::Interaction {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: "acme".into(),
        channel: v1::Channel::X.into(),
        external_id: uuid::Uuid::new_v4().to_string(),
        text: "the app is down again, can't pay".into(),
        enrichment: Some(v1::Enrichment { language: language.into(), ..Default::default() }),
        ..Default::default()
    };
    let request = v1::OpenCaseRequest {
        idempotency_key: interaction.id.clone(),
        interaction: Some(interaction),
        priority: 40,
        incident_key: incident_key.into(),
        ..Default::default()
    };
    app.cases().open_case(by(ANA, request)).await.unwrap().into_inner().case.unwrap()
}

async fn open(app: &TestApp) -> v1::Case {
    open_with(app, "en", "").await
}

async fn get(app: &TestApp, id: &str) -> v1::Case {
    app.cases().get_case(by(ANA, v1::GetCaseRequest { id: id.into() })).await.unwrap().into_inner()
}

async fn incident(app: &TestApp, id: &str) -> v1::Incident {
    app.cases().get_incident(by(ANA, v1::GetIncidentRequest { incident_id: id.into() })).await.unwrap().into_inner()
}

async fn open_incident(app: &TestApp, title: &str, case_ids: &[&str]) -> v1::Incident {
    let request = v1::OpenIncidentRequest {
        title: title.into(),
        case_ids: case_ids.iter().map(|id| (*id).to_owned()).collect(),
        ..Default::default()
    };
    app.cases().open_incident(by(ANA, request)).await.unwrap().into_inner()
}

async fn events_of(stream: &dyn EventStream, kind: E) -> Vec<v1::CaseEvent> {
    envelopes(stream, streams::CASES_EVENTS)
        .await
        .iter()
        .map(|envelope| v1::CaseEvent::decode(envelope.payload.as_slice()).unwrap())
        .filter(|event| event.kind() == kind)
        .collect()
}

async fn at_least(stream: &dyn EventStream, kind: E, count: usize) -> Vec<v1::CaseEvent> {
    eventually(&format!("{count} {kind:?} event(s)"), Duration::from_secs(10), || async {
        let events = events_of(stream, kind).await;
        (events.len() >= count).then_some(events)
    })
    .await
}

/// The `incidents.events` published so far, as (kind, incident id), once at least `count` are.
async fn incident_events(stream: &dyn EventStream, count: usize) -> Vec<v1::IncidentEvent> {
    eventually(&format!("{count} incident event(s)"), Duration::from_secs(10), || async {
        let events: Vec<v1::IncidentEvent> = envelopes(stream, streams::INCIDENTS_EVENTS)
            .await
            .iter()
            .map(|envelope| v1::IncidentEvent::decode(envelope.payload.as_slice()).unwrap())
            .collect();
        (events.len() >= count).then_some(events)
    })
    .await
}

fn assert_invalid(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
    assert!(status.message().contains(&format!("`{field}`")), "should name `{field}`: {:?}", status.message());
}

async fn incidents_group_cases_and_move_them_between_each_other(backend: Backend) {
    let app = spawn(backend).await;
    let stream = app.event_stream().await;
    let cases = [open(&app).await, open(&app).await, open(&app).await];
    let [c1, c2, c3] = [&cases[0].id, &cases[1].id, &cases[2].id].map(String::as_str);

    let outage = open_incident(&app, "Checkout down in the app", &[c1, c2]).await;
    assert_eq!((outage.status(), outage.members, outage.open_members), (I::Open, 2, 2));
    assert_eq!((outage.opened_by.as_str(), outage.escalation_key.as_str()), ("ana", ""));
    assert_eq!(get(&app, c1).await.incident_id, outage.id);
    let joined = at_least(stream.as_ref(), E::IncidentJoined, 2).await;
    assert!(joined.iter().all(|event| event.case.as_ref().unwrap().incident_id == outage.id));
    let entries = app
        .cases()
        .list_case_timeline(by(ANA, v1::ListCaseTimelineRequest { case_id: c1.into(), ..Default::default() }))
        .await
        .unwrap()
        .into_inner()
        .entries;
    let entry = entries.iter().find(|entry| entry.kind() == v1::CaseTimelineKind::IncidentJoined).unwrap();
    assert!(entry.reason.contains("Checkout down in the app"), "{entry:?}");

    // A case is in one incident at a time.
    let other = open_incident(&app, "Refunds late", &[c3]).await;
    let request = v1::AddToIncidentRequest { incident_id: outage.id.clone(), case_ids: vec![c3.into()] };
    let refused = app.cases().add_to_incident(by(ANA, request)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains(c3) && refused.message().contains(&other.id), "{refused:?}");

    // Split off, then merged.
    let request = v1::RemoveFromIncidentRequest {
        incident_id: outage.id.clone(),
        case_ids: vec![c2.into()],
        reason: "not it".into(),
    };
    let split = app.cases().remove_from_incident(by(ANA, request)).await.unwrap().into_inner();
    assert_eq!(split.members, 1);
    assert_eq!(get(&app, c2).await.incident_id, "");
    at_least(stream.as_ref(), E::IncidentLeft, 1).await;
    let request = v1::MergeIncidentsRequest { source_id: other.id.clone(), target_id: outage.id.clone() };
    let merged = app.cases().merge_incidents(by(ANA, request)).await.unwrap().into_inner();
    assert_eq!((merged.id.as_str(), merged.members), (outage.id.as_str(), 2));
    let gone = incident(&app, &other.id).await;
    assert_eq!((gone.status(), gone.merged_into.as_str(), gone.members), (I::Merged, outage.id.as_str(), 0));
    assert_eq!(get(&app, c3).await.incident_id, outage.id);

    // Listed newest first, by status; members newest first.
    let all = app.cases().list_incidents(by(ANA, v1::ListIncidentsRequest::default())).await.unwrap().into_inner();
    let ids: Vec<&str> = all.incidents.iter().map(|incident| incident.id.as_str()).collect();
    assert_eq!(ids, [other.id.as_str(), outage.id.as_str()]);
    let request = v1::ListIncidentsRequest { status: I::Open.into(), ..Default::default() };
    let open_ones = app.cases().list_incidents(by(ANA, request)).await.unwrap().into_inner().incidents;
    assert_eq!(open_ones.iter().map(|incident| incident.id.as_str()).collect::<Vec<_>>(), [outage.id.as_str()]);
    let request = v1::ListIncidentMembersRequest { incident_id: outage.id.clone(), ..Default::default() };
    let members = app.cases().list_incident_members(by(ANA, request)).await.unwrap().into_inner().cases;
    assert_eq!(members.iter().map(|case| case.id.as_str()).collect::<Vec<_>>(), [c3, c1]);

    // Root cause and department.
    let request = v1::UpdateIncidentRequest {
        incident_id: outage.id.clone(),
        root_cause: "payment-provider".into(),
        ..Default::default()
    };
    let updated = app.cases().update_incident(by(ANA, request)).await.unwrap().into_inner();
    assert_eq!((updated.root_cause.as_str(), updated.title.as_str()), ("payment-provider", "Checkout down in the app"));
    let request = v1::UpdateIncidentRequest {
        incident_id: outage.id.clone(),
        department: "payments".into(),
        ..Default::default()
    };
    let unknown = app.cases().update_incident(by(ANA, request)).await.unwrap_err();
    assert_eq!(unknown.code(), Code::FailedPrecondition, "{unknown:?}");
    assert!(unknown.message().contains("UpsertDepartment"), "{unknown:?}");

    // An escalation key makes opening idempotent.
    let keyed = v1::OpenIncidentRequest {
        title: "Login loop".into(),
        escalation_key: "login-burst-1".into(),
        ..Default::default()
    };
    let first = app.cases().open_incident(by(ANA, keyed.clone())).await.unwrap().into_inner();
    let again = app.cases().open_incident(by(ANA, keyed)).await.unwrap().into_inner();
    assert_eq!(first.id, again.id);

    // Each change went out on `incidents.events` for the department's tools, once: the retried
    // open announced nothing more.
    let events = incident_events(stream.as_ref(), 5).await;
    let seen: Vec<(v1::IncidentEventKind, &str)> =
        events.iter().map(|event| (event.kind(), event.incident.as_ref().unwrap().id.as_str())).collect();
    use v1::IncidentEventKind as K;
    assert_eq!(
        seen,
        [
            (K::Opened, outage.id.as_str()),
            (K::Opened, other.id.as_str()),
            (K::Merged, other.id.as_str()),
            (K::Updated, outage.id.as_str()),
            (K::Opened, first.id.as_str()),
        ]
    );
    let updated_event = events[3].incident.as_ref().unwrap();
    assert_eq!((updated_event.root_cause.as_str(), updated_event.members), ("payment-provider", 2));
    assert_eq!(events[2].incident.as_ref().unwrap().merged_into, outage.id);

    // Bad input names what to fix; foreign or unknown ids are NOT_FOUND.
    let status = app.cases().open_incident(by(ANA, v1::OpenIncidentRequest::default())).await.unwrap_err();
    assert_invalid(&status, "title");
    let request = v1::AddToIncidentRequest { incident_id: outage.id.clone(), case_ids: vec!["nope".into()] };
    assert_invalid(&app.cases().add_to_incident(by(ANA, request)).await.unwrap_err(), "case_ids[0]");
    let request = v1::AddToIncidentRequest { incident_id: outage.id.clone(), case_ids: vec![] };
    assert_invalid(&app.cases().add_to_incident(by(ANA, request)).await.unwrap_err(), "case_ids");
    let request = v1::GetIncidentRequest { incident_id: uuid::Uuid::now_v7().to_string() };
    assert_eq!(app.cases().get_incident(by(ANA, request)).await.unwrap_err().code(), Code::NotFound);
    app.stop().await;
}

/// A `topics.escalated` event as routing publishes it.
async fn escalate(stream: &dyn EventStream, key: &str, interaction_ids: Vec<String>) {
    let event = v1::TopicEscalated {
        escalation_key: key.into(),
        threshold: "outage-2h".into(),
        topic: "outage".into(),
        reason: "20 posts on 'outage' within 2h (threshold 'outage-2h')".into(),
        count: 20,
        interaction_ids,
        ..Default::default()
    };
    let tenant = TenantId::parse("acme").unwrap();
    stream.publish(streams::TOPICS_ESCALATED, &envelope("routing", &tenant, &event).encode_to_vec()).await.unwrap();
}

async fn incidents_with_key(app: &TestApp, key: &str) -> Vec<v1::Incident> {
    let all = app.cases().list_incidents(by(ANA, v1::ListIncidentsRequest::default())).await.unwrap().into_inner();
    all.incidents.into_iter().filter(|incident| incident.escalation_key == key).collect()
}

async fn an_escalation_opens_one_incident_that_later_cases_join(backend: Backend) {
    let app = spawn(backend).await;
    let stream = app.event_stream().await;
    let earlier = [open(&app).await, open(&app).await, open(&app).await];
    let interactions: Vec<String> = earlier.iter().map(|case| case.interaction_ids[0].clone()).collect();

    escalate(stream.as_ref(), "outage-2h:1", interactions.clone()).await;
    let opened = eventually("the escalation's incident", Duration::from_secs(10), || async {
        let found = incidents_with_key(&app, "outage-2h:1").await;
        (found.len() == 1 && found[0].members == 3).then(|| found[0].clone())
    })
    .await;
    assert_eq!(
        (opened.title.as_str(), opened.topic.as_str(), opened.opened_by.as_str()),
        ("Hot topic: outage", "outage", "routing")
    );
    assert!(opened.trigger.contains("20 posts"), "{opened:?}");

    // Later posts of the burst join it; the event again (redelivered, republished) changes nothing.
    let later = open_with(&app, "en", "outage-2h:1").await;
    assert_eq!(later.incident_id, opened.id);
    escalate(stream.as_ref(), "outage-2h:1", interactions).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let found = incidents_with_key(&app, "outage-2h:1").await;
    assert_eq!(found.len(), 1);
    assert_eq!(incident(&app, &opened.id).await.members, 4);

    // A case of a new burst may come before the burst's event: the incident opens with the
    // case, and the event fills it in.
    let first = open_with(&app, "en", "outage-2h:2").await;
    assert!(!first.incident_id.is_empty());
    escalate(stream.as_ref(), "outage-2h:2", vec![first.interaction_ids[0].clone()]).await;
    let filled = eventually("the placeholder filled in", Duration::from_secs(10), || async {
        let found = incident(&app, &first.incident_id).await;
        (found.title == "Hot topic: outage").then_some(found)
    })
    .await;
    assert_eq!((filled.members, filled.escalation_key.as_str()), (1, "outage-2h:2"));
    assert_eq!(incidents_with_key(&app, "outage-2h:2").await.len(), 1);
    app.stop().await;
}

async fn one_answer_reaches_every_member_in_its_language_once(backend: Backend) {
    let app = spawn(backend).await;
    let stream = app.event_stream().await;
    let english = open_with(&app, "en", "").await;
    let spanish = open_with(&app, "es", "").await;
    let done = open_with(&app, "en", "").await;
    let resolve = v1::ResolveCaseRequest { id: done.id.clone(), note: "answered".into(), ..Default::default() };
    app.cases().resolve_case(by(ANA, resolve)).await.unwrap();
    let outage = open_incident(&app, "Checkout down", &[&english.id, &spanish.id, &done.id]).await;

    let request = v1::AnswerIncidentRequest {
        incident_id: outage.id.clone(),
        text: "Hi {first_name}, checkout works again. Sorry!".into(),
        translations: [("es".to_owned(), "Hola {first_name}, el pago funciona de nuevo.".to_owned())].into(),
        answer_id: "checkout-fixed".into(),
        ..Default::default()
    };
    let answer = app.cases().answer_incident(by(ANA, request.clone())).await.unwrap().into_inner();
    assert_eq!((answer.requested, answer.pending, answer.delivered), (2, 2, 0), "the resolved member is left out");
    let requested = || async {
        envelopes(stream.as_ref(), streams::REPLIES_REQUESTED)
            .await
            .iter()
            .map(|envelope| v1::ReplyRequested::decode(envelope.payload.as_slice()).unwrap())
            .collect::<Vec<_>>()
    };
    let sent = eventually("two replies requested", Duration::from_secs(10), || async {
        let sent = requested().await;
        (sent.len() >= 2).then_some(sent)
    })
    .await;
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|reply| reply.personalize));
    let to_spanish = sent.iter().find(|reply| reply.case_id == spanish.id).unwrap();
    assert_eq!(to_spanish.reply_id, format!("checkout-fixed.{}", spanish.id));
    assert!(to_spanish.text.starts_with("Hola {first_name}"), "{to_spanish:?}");
    assert!(sent.iter().find(|reply| reply.case_id == english.id).unwrap().text.starts_with("Hi {first_name}"));

    // Retried: nothing more is requested.
    let again = app.cases().answer_incident(by(ANA, request.clone())).await.unwrap().into_inner();
    assert_eq!(again.requested, 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(requested().await.len(), 2);

    // Ingest reports one delivered: the answer shows it, per member.
    let delivered = v1::ReplyDelivered {
        reply_id: to_spanish.reply_id.clone(),
        case_id: spanish.id.clone(),
        interaction_id: to_spanish.interaction_id.clone(),
        platform_message_id: "1050118621198921728".into(),
        ..Default::default()
    };
    let tenant = TenantId::parse("acme").unwrap();
    stream.publish(streams::REPLIES_DELIVERED, &envelope("ingest", &tenant, &delivered).encode_to_vec()).await.unwrap();
    let status = eventually("one reply delivered", Duration::from_secs(10), || async {
        let request = v1::GetIncidentAnswerRequest { answer_id: "checkout-fixed".into(), ..Default::default() };
        let found = app.cases().get_incident_answer(by(ANA, request)).await.unwrap().into_inner();
        (found.delivered == 1).then_some(found)
    })
    .await;
    assert_eq!((status.pending, status.failed, status.replies.len()), (1, 0, 2));
    let replies = app
        .cases()
        .list_case_replies(by(ANA, v1::ListCaseRepliesRequest { case_id: spanish.id.clone(), ..Default::default() }))
        .await
        .unwrap()
        .into_inner()
        .replies;
    assert_eq!(replies[0].status(), v1::CaseReplyStatus::Delivered);

    // Everyone, resolved members too, when asked.
    let everyone = v1::AnswerIncidentRequest {
        answer_id: "checkout-fixed-all".into(),
        include_resolved: true,
        translations: Default::default(),
        ..request
    };
    assert_eq!(app.cases().answer_incident(by(ANA, everyone)).await.unwrap().into_inner().requested, 3);

    // Bad input names what to fix.
    let bad = v1::AnswerIncidentRequest { incident_id: outage.id.clone(), text: " ".into(), ..Default::default() };
    assert_invalid(&app.cases().answer_incident(by(ANA, bad)).await.unwrap_err(), "text");
    let bad = v1::AnswerIncidentRequest {
        incident_id: outage.id.clone(),
        text: "hi".into(),
        translations: [("not a language!".to_owned(), "x".to_owned())].into(),
        ..Default::default()
    };
    assert_invalid(&app.cases().answer_incident(by(ANA, bad)).await.unwrap_err(), "translations");
    app.stop().await;
}

async fn resolving_an_incident_resolves_its_members(backend: Backend) {
    let app = spawn(backend).await;
    let stream = app.event_stream().await;
    let members = [open_with(&app, "en", "burst-9").await, open_with(&app, "en", "burst-9").await];
    let incident_id = members[0].incident_id.clone();
    assert_eq!(members[1].incident_id, incident_id);

    let request = v1::ResolveIncidentRequest { incident_id: incident_id.clone(), note: String::new(), notify: false };
    assert_invalid(&app.cases().resolve_incident(by(ANA, request)).await.unwrap_err(), "note");
    let request = v1::ResolveIncidentRequest {
        incident_id: incident_id.clone(),
        note: "provider fixed it".into(),
        notify: false,
    };
    let resolved = app.cases().resolve_incident(by(ANA, request.clone())).await.unwrap().into_inner();
    assert_eq!((resolved.status(), resolved.members, resolved.open_members), (I::Resolved, 2, 0));
    assert_eq!(resolved.resolution_note, "provider fixed it");
    for member in &members {
        let case = get(&app, &member.id).await;
        assert_eq!((case.status(), case.resolution_note.as_str()), (S::Resolved, "provider fixed it"));
    }
    at_least(stream.as_ref(), E::Resolved, 2).await;
    let again = app.cases().resolve_incident(by(ANA, request)).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");
    // The department's tools hear of it: opened by the burst's key, then resolved with the note.
    let events = incident_events(stream.as_ref(), 2).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!((events[0].kind(), events[0].actor.as_str()), (v1::IncidentEventKind::Opened, "routing"));
    assert_eq!(events[1].kind(), v1::IncidentEventKind::Resolved);
    let told = events[1].incident.as_ref().unwrap();
    assert_eq!(
        (told.id.as_str(), told.resolution_note.as_str(), told.members),
        (incident_id.as_str(), "provider fixed it", 2)
    );

    // A post of the same burst after the resolution opens a case outside it.
    let late = open_with(&app, "en", "burst-9").await;
    assert_eq!(late.incident_id, "");
    app.stop().await;
}
