//! A case's life over gRPC, with authentication on so that the audit log names real actors:
//! the state machine (a random walk checked against the table the docs publish), optimistic
//! versions (ABORTED on a stale one, one winner among concurrent changes), assignment, tags,
//! priority with a reason, notes, the timeline and the `CaseEvent` of every change, and the
//! errors bad input gets.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use prost::Message as _;
use tend::app::ServiceName;
use tend_kernel::auth::{ApiKeyConfig, Role};
use tend_proto::v1;
use tend_proto::v1::CaseStatus as S;
use tend_proto::v1::CaseTimelineKind as K;
use tend_tests::{Backend, TestApp, envelopes, eventually};
use tonic::Code;

tend_tests::on_both_backends!(
    a_case_lives_its_life_and_every_change_is_on_its_timeline,
    a_random_walk_follows_the_published_table,
    a_stale_version_is_aborted_and_one_of_concurrent_changes_wins,
    bad_input_is_refused_naming_what_to_fix,
);

const ANA: &str = "ana-agent-key-00001";
const BO: &str = "bo-agent-key-000001";
const VIEWER: &str = "acme-viewer-key-001";

/// Cases alone, with keys for two agents of acme (named for the audit log) and a viewer.
async fn spawn(backend: Backend) -> TestApp {
    let key = |key: &str, name: &str, role| ApiKeyConfig::plain(name, key, Some("acme"), role);
    TestApp::spawn_with(backend, &[ServiceName::Cases], |config| {
        config.auth.keys =
            vec![key(ANA, "ana", Role::Agent), key(BO, "bo", Role::Agent), key(VIEWER, "vi", Role::Viewer)]
    })
    .await
}

use tend_tests::with_key as by;

/// Opens a case for a fresh interaction, as routing would.
async fn open(app: &TestApp) -> v1::Case {
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
        priority: 40,
        ..Default::default()
    };
    app.cases().open_case(by(ANA, request)).await.unwrap().into_inner().case.unwrap()
}

async fn transition(
    app: &TestApp,
    key: &str,
    id: &str,
    to: S,
    reason: &str,
    version: u64,
) -> Result<v1::Case, tonic::Status> {
    let request = v1::TransitionCaseRequest {
        id: id.into(),
        to: to.into(),
        reason: reason.into(),
        expected_version: version,
        ..Default::default()
    };
    app.cases().transition_case(by(key, request)).await.map(tonic::Response::into_inner)
}

async fn timeline(app: &TestApp, id: &str) -> Vec<v1::CaseTimelineEntry> {
    let mut entries = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = v1::ListCaseTimelineRequest { case_id: id.into(), page_size: 3, page_token };
        let page = app.cases().list_case_timeline(by(VIEWER, request)).await.unwrap().into_inner();
        entries.extend(page.entries);
        if page.next_page_token.is_empty() {
            return entries;
        }
        page_token = page.next_page_token;
    }
}

/// The moves the docs (docs/CASES.md) publish, written out again here as the test's oracle.
fn allowed(from: S) -> &'static [S] {
    match from {
        S::New | S::Reopened => &[S::Open, S::PendingCustomer, S::PendingDepartment, S::Resolved],
        S::Open => &[S::PendingCustomer, S::PendingDepartment, S::Resolved],
        S::PendingCustomer => &[S::Open, S::PendingDepartment, S::Resolved],
        S::PendingDepartment => &[S::Open, S::PendingCustomer, S::Resolved],
        S::Resolved => &[S::Reopened, S::Closed],
        _ => &[],
    }
}

/// When `entry` happened, in nanoseconds.
fn seconds(entry: &v1::CaseTimelineEntry) -> i128 {
    let at = entry.at.unwrap();
    i128::from(at.seconds) * 1_000_000_000 + i128::from(at.nanos)
}

fn assert_invalid(status: &tonic::Status, field: &str) {
    assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
    assert!(status.message().contains(&format!("`{field}`")), "should name `{field}`: {:?}", status.message());
}

async fn a_case_lives_its_life_and_every_change_is_on_its_timeline(backend: Backend) {
    let app = spawn(backend).await;
    let mut cases = app.cases();
    let case = open(&app).await;
    assert_eq!((case.status(), case.version, case.assignee.as_str()), (S::New, 1, ""));

    // Ana takes it: a new case becomes open.
    let assign = v1::AssignCaseRequest {
        id: case.id.clone(),
        agent_id: "ana".into(),
        reason: "my queue".into(),
        expected_version: 1,
    };
    let case = cases.assign_case(by(ANA, assign)).await.unwrap().into_inner();
    assert_eq!((case.status(), case.version, case.assignee.as_str()), (S::Open, 2, "ana"));
    let tag =
        v1::TagCaseRequest { id: case.id.clone(), add: vec!["Refund".into(), "vip".into()], ..Default::default() };
    let case = cases.tag_case(by(ANA, tag)).await.unwrap().into_inner();
    assert_eq!((case.tags.clone(), case.version), (vec!["refund".to_owned(), "vip".to_owned()], 3));
    // Tagging again what is there changes nothing, and costs no version.
    let same = v1::TagCaseRequest { id: case.id.clone(), add: vec!["vip".into()], ..Default::default() };
    assert_eq!(cases.tag_case(by(ANA, same)).await.unwrap().into_inner().version, 3);
    let note = v1::AddCaseNoteRequest { case_id: case.id.clone(), text: "  asked for the order number ".into() };
    let note = cases.add_case_note(by(ANA, note)).await.unwrap().into_inner();
    assert_eq!(
        (note.kind(), note.text.as_str(), note.actor.as_str()),
        (K::NoteAdded, "asked for the order number", "ana")
    );
    let case = transition(&app, ANA, &case.id, S::PendingCustomer, "order number?", 3).await.unwrap();
    assert_eq!((case.status(), case.version), (S::PendingCustomer, 4));
    let priority = v1::SetCasePriorityRequest {
        id: case.id.clone(),
        priority: 80,
        reason: "VIP waiting".into(),
        expected_version: 0,
    };
    let case = cases.set_case_priority(by(BO, priority)).await.unwrap().into_inner();
    assert_eq!((case.priority, case.version), (80, 5));
    // Bo hands it over to himself; Ana's note survives the handover.
    let handover = v1::AssignCaseRequest {
        id: case.id.clone(),
        agent_id: "bo".into(),
        reason: "shift ends".into(),
        expected_version: 5,
    };
    let case = cases.assign_case(by(BO, handover)).await.unwrap().into_inner();
    assert_eq!((case.status(), case.assignee.as_str(), case.version), (S::PendingCustomer, "bo", 6));
    let resolve = v1::ResolveCaseRequest {
        id: case.id.clone(),
        note: "refund issued".into(),
        expected_version: 6,
        ..Default::default()
    };
    let case = cases.resolve_case(by(BO, resolve)).await.unwrap().into_inner();
    assert_eq!((case.status(), case.resolution_note.as_str(), case.version), (S::Resolved, "refund issued", 7));
    assert!(case.resolved_at.is_some());
    // A resolved case is not assigned, and moves only to reopened or closed.
    let assign = v1::AssignCaseRequest { id: case.id.clone(), agent_id: "ana".into(), ..Default::default() };
    assert_eq!(cases.assign_case(by(ANA, assign)).await.unwrap_err().code(), Code::FailedPrecondition);
    let refused = transition(&app, ANA, &case.id, S::Open, "", 0).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("resolved") && refused.message().contains("reopened"), "{}", refused.message());
    let case = transition(&app, ANA, &case.id, S::Reopened, "customer says it is still missing", 7).await.unwrap();
    assert_eq!((case.status(), case.resolved_at, case.resolution_note.as_str()), (S::Reopened, None, ""));
    let case = transition(&app, ANA, &case.id, S::Resolved, "found at the depot", 0).await.unwrap();
    let case = transition(&app, ANA, &case.id, S::Closed, "", 0).await.unwrap();
    assert_eq!((case.status(), case.version), (S::Closed, 10));
    let refused = transition(&app, ANA, &case.id, S::Reopened, "", 0).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("closed"), "{}", refused.message());

    // The audit log: who did what, when and why, oldest first, read page by page.
    let entries = timeline(&app, &case.id).await;
    let seen: Vec<_> = entries
        .iter()
        .map(|entry| (entry.kind(), entry.actor.as_str(), entry.reason.as_str(), entry.version))
        .collect();
    assert_eq!(
        seen,
        vec![
            (K::Opened, "ana", "", 1),
            (K::Assigned, "ana", "my queue", 2),
            (K::Tagged, "ana", "", 3),
            (K::NoteAdded, "ana", "", 0),
            (K::StatusChanged, "ana", "order number?", 4),
            (K::PriorityChanged, "bo", "VIP waiting", 5),
            (K::Assigned, "bo", "shift ends", 6),
            (K::StatusChanged, "bo", "refund issued", 7),
            (K::StatusChanged, "ana", "customer says it is still missing", 8),
            (K::StatusChanged, "ana", "found at the depot", 9),
            (K::StatusChanged, "ana", "", 10),
        ]
    );
    assert_eq!(
        (entries[1].from_status(), entries[1].to_status(), entries[1].assignee.as_str()),
        (S::New, S::Open, "ana")
    );
    assert_eq!(entries[2].tags_added, vec!["refund".to_owned(), "vip".to_owned()]);
    assert_eq!(entries[5].priority, 80);
    assert_eq!((entries[4].from_status(), entries[4].to_status()), (S::Open, S::PendingCustomer));
    assert!(entries.windows(2).all(|pair| pair[0].id < pair[1].id && seconds(&pair[0]) <= seconds(&pair[1])));

    // Every change went out on cases.events with its entry, in order.
    let stream = app.event_stream().await;
    let events = eventually("eleven events on cases.events", Duration::from_secs(10), || async {
        let events: Vec<v1::CaseEvent> = envelopes(stream.as_ref(), "cases.events")
            .await
            .iter()
            .map(|envelope| v1::CaseEvent::decode(envelope.payload.as_slice()).unwrap())
            .collect();
        (events.len() >= 11).then_some(events)
    })
    .await;
    let kinds: Vec<_> = events.iter().map(v1::CaseEvent::kind).collect();
    use v1::CaseEventKind as E;
    assert_eq!(
        kinds,
        vec![
            E::Opened,
            E::Assigned,
            E::Tagged,
            E::NoteAdded,
            E::StatusChanged,
            E::PriorityChanged,
            E::Assigned,
            E::Resolved,
            E::Reopened,
            E::Resolved,
            E::Closed
        ]
    );
    for (event, entry) in events.iter().zip(&entries).skip(1) {
        assert_eq!(event.entry.as_ref(), Some(entry), "{event:?}");
    }
    assert_eq!(events.last().unwrap().case.as_ref().unwrap().version, 10);
    app.stop().await;
}

/// A tiny deterministic generator, seeded per run and printed, so a failure can be replayed.
struct Walk(u64);

impl Walk {
    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        usize::try_from(self.0 % below as u64).unwrap()
    }
}

async fn a_random_walk_follows_the_published_table(backend: Backend) {
    let app = spawn(backend).await;
    let seed = std::env::var("TEND_WALK_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| u64::from(std::process::id()) | 1);
    println!("random walk seed {seed} (TEND_WALK_SEED to replay)");
    let mut walk = Walk(seed);
    let all = [S::New, S::Open, S::PendingCustomer, S::PendingDepartment, S::Resolved, S::Closed, S::Reopened];
    let mut case = open(&app).await;
    let mut accepted = 0;
    for step in 0..60 {
        if case.status() == S::Closed {
            case = open(&app).await;
        }
        let to = all[walk.next(all.len())];
        let from = case.status();
        match transition(&app, ANA, &case.id, to, &format!("step {step}"), case.version).await {
            Ok(moved) => {
                assert!(allowed(from).contains(&to), "step {step} (seed {seed}): {from:?} -> {to:?} was let through");
                assert_eq!((moved.status(), moved.version), (to, case.version + 1));
                assert_eq!(
                    moved.resolved_at.is_some(),
                    to == S::Resolved || (to == S::Closed && case.resolved_at.is_some())
                );
                case = moved;
                accepted += 1;
            }
            Err(status) => {
                assert!(
                    !allowed(from).contains(&to),
                    "step {step} (seed {seed}): {from:?} -> {to:?} refused: {status:?}"
                );
                assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
                let names = |status: S| status.as_str_name().trim_start_matches("CASE_STATUS_").to_lowercase();
                assert!(status.message().contains(&names(from)), "names the status: {}", status.message());
                for allowed in allowed(from) {
                    assert!(status.message().contains(&names(*allowed)), "names the moves: {}", status.message());
                }
            }
        }
    }
    assert!(accepted > 0, "seed {seed} accepted nothing");
    // The last case's timeline holds exactly its accepted moves, each from where the last left.
    let entries = timeline(&app, &case.id).await;
    let moves: Vec<_> = entries.iter().filter(|entry| entry.kind() == K::StatusChanged).collect();
    assert_eq!(moves.len() as u64, case.version - 1);
    let mut at = S::New;
    for entry in moves {
        assert_eq!(entry.from_status(), at);
        at = entry.to_status();
    }
    assert_eq!(at, case.status());
    app.stop().await;
}

async fn a_stale_version_is_aborted_and_one_of_concurrent_changes_wins(backend: Backend) {
    let app = spawn(backend).await;
    let case = open(&app).await;
    // Both agents read version 1; Ana's change lands first, Bo's is stale.
    transition(&app, ANA, &case.id, S::Open, "mine", 1).await.unwrap();
    let stale = transition(&app, BO, &case.id, S::PendingCustomer, "mine too", 1).await.unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);
    assert!(stale.message().contains("version 2, not 1"), "{}", stale.message());
    let tag = v1::TagCaseRequest { id: case.id.clone(), add: vec!["x".into()], remove: vec![], expected_version: 1 };
    assert_eq!(app.cases().tag_case(by(BO, tag)).await.unwrap_err().code(), Code::Aborted);
    // A note is no change to the case: it never goes stale.
    let note = v1::AddCaseNoteRequest { case_id: case.id.clone(), text: "still here".into() };
    app.cases().add_case_note(by(BO, note)).await.unwrap();

    // Eight agents change the priority at once, all from version 2: exactly one wins.
    let attempts: Vec<_> = (0..8u32)
        .map(|n| {
            let mut cases = app.cases();
            let key = if n % 2 == 0 { ANA } else { BO };
            let request = v1::SetCasePriorityRequest {
                id: case.id.clone(),
                priority: 50 + n,
                reason: format!("try {n}"),
                expected_version: 2,
            };
            tokio::spawn(
                async move { cases.set_case_priority(by(key, request)).await.map(tonic::Response::into_inner) },
            )
        })
        .collect();
    let mut outcomes = Vec::new();
    for attempt in attempts {
        outcomes.push(attempt.await.unwrap());
    }
    let won: Vec<_> = outcomes.iter().filter_map(|outcome| outcome.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{outcomes:?}");
    assert!(outcomes.iter().filter_map(|outcome| outcome.as_ref().err()).all(|status| status.code() == Code::Aborted));
    let now = app.cases().get_case(by(VIEWER, v1::GetCaseRequest { id: case.id.clone() })).await.unwrap().into_inner();
    assert_eq!((now.version, now.priority), (3, won[0].priority));
    let entries = timeline(&app, &case.id).await;
    assert_eq!(entries.iter().filter(|entry| entry.kind() == K::PriorityChanged).count(), 1);
    app.stop().await;
}

async fn bad_input_is_refused_naming_what_to_fix(backend: Backend) {
    let app = spawn(backend).await;
    let mut cases = app.cases();
    let case = open(&app).await;
    let id = case.id.clone();

    assert_invalid(&transition(&app, ANA, &id, S::Unspecified, "", 0).await.unwrap_err(), "to");
    assert_invalid(&transition(&app, ANA, &id, S::Open, &"r".repeat(4097), 0).await.unwrap_err(), "reason");
    assert_invalid(&transition(&app, ANA, "42", S::Open, "", 0).await.unwrap_err(), "id");
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_eq!(transition(&app, ANA, &unknown, S::Open, "", 0).await.unwrap_err().code(), Code::NotFound);
    // A viewer reads, and changes nothing.
    let denied = transition(&app, VIEWER, &id, S::Open, "", 0).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    let tag =
        |add: Vec<String>, remove: Vec<String>| v1::TagCaseRequest { id: id.clone(), add, remove, expected_version: 0 };
    for (request, field) in [
        (tag(vec!["has space".into()], vec![]), "add"),
        (tag(vec!["t".repeat(65)], vec![]), "add"),
        (tag(vec![String::new()], vec![]), "add"),
        (tag(vec![], vec!["Ünïcode".into()]), "remove"),
        (tag(vec!["a".into()], vec!["a".into()]), "remove"),
        (tag((0..33).map(|n| format!("t{n}")).collect(), vec![]), "add"),
    ] {
        assert_invalid(&cases.tag_case(by(ANA, request)).await.unwrap_err(), field);
    }
    let priority = |priority: u32, reason: &str| v1::SetCasePriorityRequest {
        id: id.clone(),
        priority,
        reason: reason.into(),
        expected_version: 0,
    };
    assert_invalid(&cases.set_case_priority(by(ANA, priority(70, " "))).await.unwrap_err(), "reason");
    assert_invalid(&cases.set_case_priority(by(ANA, priority(101, "why not"))).await.unwrap_err(), "priority");
    let note = |text: String| v1::AddCaseNoteRequest { case_id: id.clone(), text };
    assert_invalid(&cases.add_case_note(by(ANA, note("  ".into()))).await.unwrap_err(), "text");
    assert_invalid(&cases.add_case_note(by(ANA, note("n".repeat(16 * 1024 + 1)))).await.unwrap_err(), "text");
    let assign = v1::AssignCaseRequest { id: id.clone(), agent_id: "a".repeat(129), ..Default::default() };
    assert_invalid(&cases.assign_case(by(ANA, assign)).await.unwrap_err(), "agent_id");
    let page = v1::ListCaseTimelineRequest { case_id: id.clone(), page_size: 501, page_token: String::new() };
    assert_invalid(&cases.list_case_timeline(by(ANA, page)).await.unwrap_err(), "page_size");

    // Nothing above changed the case.
    let now = cases.get_case(by(ANA, v1::GetCaseRequest { id: id.clone() })).await.unwrap().into_inner();
    assert_eq!(now, case);
    assert_eq!(timeline(&app, &id).await.len(), 1);
    app.stop().await;
}
