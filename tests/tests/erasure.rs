//! Right to erasure, the consuming side: a `customers.erased` event (published here by hand, as
//! identity's `ForgetCustomer` does, and once through `ForgetCustomer` itself) anonymises the customer's interactions in ingest and erases
//! them from their cases, for the event's tenant only, once; feedback acknowledges it. An event
//! that does not decode is dead-lettered for every group without holding up the next one.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use prost::Message as _;
use tend_kernel::TenantId;
use tend_proto::v1;
use tend_queue::EventStream;
use tend_store::events::{envelope, streams};
use tend_tests::{Backend, TestApp, as_tenant, eventually, post, routed};

tend_tests::on_both_backends!(
    erasure_reaches_ingest_and_cases_in_its_tenant_once,
    an_undecodable_erasure_is_dead_lettered_and_the_next_one_handled,
    forgetting_a_customer_in_identity_reaches_ingest_and_cases,
);

/// The consumer groups of `customers.erased`.
const GROUPS: [&str; 3] = ["ingest", "cases", "feedback"];
const PATIENCE: Duration = Duration::from_secs(20);
const ERASED: &str = "[erased]";

/// A post ingested for `tenant` and routed: the interaction and its case, as read back.
async fn ingest_routed(
    app: &TestApp,
    tenant: &str,
    request: v1::IngestInteractionRequest,
) -> (v1::Interaction, v1::Case) {
    let ingested = app.ingest().ingest_interaction(as_tenant(tenant, request)).await.unwrap().into_inner();
    let id = ingested.interaction.unwrap().id;
    let decision = routed(app, tenant, &id).await;
    (interaction(app, tenant, &id).await, case(app, tenant, &decision.case_id).await)
}

async fn interaction(app: &TestApp, tenant: &str, id: &str) -> v1::Interaction {
    let request = as_tenant(tenant, v1::GetInteractionRequest { id: id.to_owned() });
    app.ingest().get_interaction(request).await.unwrap().into_inner()
}

async fn case(app: &TestApp, tenant: &str, id: &str) -> v1::Case {
    app.cases().get_case(as_tenant(tenant, v1::GetCaseRequest { id: id.to_owned() })).await.unwrap().into_inner()
}

async fn timeline(app: &TestApp, tenant: &str, id: &str) -> Vec<v1::CaseTimelineEntry> {
    let request = as_tenant(tenant, v1::ListCaseTimelineRequest { case_id: id.to_owned(), ..Default::default() });
    app.cases().list_case_timeline(request).await.unwrap().into_inner().entries
}

async fn resolve(app: &TestApp, tenant: &str, id: &str, note: &str) -> v1::Case {
    let request = v1::ResolveCaseRequest { id: id.to_owned(), note: note.to_owned(), ..Default::default() };
    app.cases().resolve_case(as_tenant(tenant, request)).await.unwrap();
    case(app, tenant, id).await
}

/// The erased profile behind `interaction` and its `case`.
fn profile_of(interaction: &v1::Interaction, case: &v1::Case) -> v1::ErasedProfile {
    assert!(!case.profile_id.is_empty(), "routing put no profile on case {}", case.id);
    v1::ErasedProfile {
        profile_id: case.profile_id.clone(),
        channel: interaction.channel,
        external_id: interaction.author.as_ref().unwrap().external_id.clone(),
    }
}

/// A `customers.erased` envelope for `tenant`, as identity publishes it.
fn erasure(tenant: &str, customer_id: &str, profiles: Vec<v1::ErasedProfile>) -> v1::EventEnvelope {
    let event =
        v1::CustomerErased { customer_id: customer_id.to_owned(), profiles, reason: "GDPR request 2026-118".into() };
    envelope("identity", &TenantId::parse(tenant).unwrap(), &event)
}

async fn publish(stream: &dyn EventStream, envelope: &v1::EventEnvelope) {
    stream.publish(streams::CUSTOMERS_ERASED, &envelope.encode_to_vec()).await.unwrap();
}

/// What `original` looks like once its author is erased.
fn anonymised(original: &v1::Interaction) -> v1::Interaction {
    v1::Interaction {
        author: Some(v1::Author {
            external_id: String::new(),
            handle: String::new(),
            display_name: String::new(),
            followers: 0,
            verified: false,
            email: String::new(),
            location: String::new(),
        }),
        text: ERASED.to_owned(),
        url: String::new(),
        enrichment: None,
        ..original.clone()
    }
}

/// What `original` looks like once its customer is erased, with the update time of `now`.
fn erased(original: &v1::Case, now: &v1::Case) -> v1::Case {
    v1::Case {
        customer_id: String::new(),
        profile_id: String::new(),
        subject: ERASED.to_owned(),
        resolution_note: if original.resolution_note.is_empty() { String::new() } else { ERASED.to_owned() },
        updated_at: now.updated_at,
        ..original.clone()
    }
}

/// Waits until `interactions` read back anonymised and `cases` erased, and checks them exactly.
async fn wait_erased(app: &TestApp, tenant: &str, interactions: &[&v1::Interaction], cases: &[&v1::Case]) {
    eventually("the erasure to reach ingest and cases", PATIENCE, || async {
        for original in interactions {
            if interaction(app, tenant, &original.id).await.text != ERASED {
                return None;
            }
        }
        for original in cases {
            if case(app, tenant, &original.id).await.subject != ERASED {
                return None;
            }
        }
        Some(())
    })
    .await;
    for original in interactions {
        assert_eq!(interaction(app, tenant, &original.id).await, anonymised(original));
    }
    for original in cases {
        let now = case(app, tenant, &original.id).await;
        assert_eq!(now, erased(original, &now), "case {}", original.id);
    }
}

/// Waits until no group has `customers.erased` entries pending, then returns each group's dead
/// letters.
async fn dead_letters(stream: &dyn EventStream) -> Vec<Vec<tend_queue::DeadLetter>> {
    eventually("the erasure consumers to settle", PATIENCE, || async {
        for group in GROUPS {
            if stream.pending_count(streams::CUSTOMERS_ERASED, group).await.unwrap() > 0 {
                return None;
            }
        }
        Some(())
    })
    .await;
    let mut letters = Vec::new();
    for group in GROUPS {
        letters.push(tend_queue::list_dead_letters(stream, streams::CUSTOMERS_ERASED, group, 10).await.unwrap());
    }
    letters
}

async fn erasure_reaches_ingest_and_cases_in_its_tenant_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stream = app.event_stream().await;
    // Ann is a known customer in acme, so her cases carry her customer id as well as her profile.
    let ann = v1::CustomerInput {
        crm_id: "CRM-ANN".into(),
        given_name: "Ann".into(),
        handles: vec![v1::KnownHandle { channel: v1::Channel::X.into(), handle: "@ann".into() }],
        ..Default::default()
    };
    let request = as_tenant("acme", v1::UpsertCustomerRequest { customer: Some(ann) });
    let customer = app.identity().upsert_customer(request).await.unwrap().into_inner().customer.unwrap();

    let (a1, a1_case) = ingest_routed(&app, "acme", post("ann", "my order 1234 never arrived")).await;
    let (a2, a2_case) = ingest_routed(&app, "acme", post("ann", "still waiting, call me on 07911 123456")).await;
    let (b, b_case) = ingest_routed(&app, "acme", post("bob", "wrong size delivered")).await;
    // The same author id in another tenant is somebody else.
    let (g, g_case) = ingest_routed(&app, "globex", post("ann", "hello from globex, why is my bill wrong?")).await;
    let (gus, gus_case) = ingest_routed(&app, "globex", post("gus", "where is my refund")).await;
    assert_eq!(a1_case.customer_id, customer.id, "Ann's handle links her outright");
    assert_eq!(a2_case.profile_id, a1_case.profile_id);
    assert!(g_case.customer_id.is_empty() && g_case.profile_id != a1_case.profile_id);
    // Resolution notes are about the customer too.
    let a2_case = resolve(&app, "acme", &a2_case.id, "refunded Ann by phone").await;
    let b_case = resolve(&app, "acme", &b_case.id, "exchanged for size M").await;

    // So are notes on her case.
    let note = v1::AddCaseNoteRequest { case_id: a1_case.id.clone(), text: "Ann's new address: 1 Elm St".into() };
    app.cases().add_case_note(as_tenant("acme", note)).await.unwrap();
    // And what an agent promised her.
    let promise = v1::PromiseFollowUpRequest {
        case_id: a1_case.id.clone(),
        what: "call Ann on 07911 123456 once the courier answers".into(),
        due_at: Some(tend_kernel::ids::to_timestamp(chrono::Utc::now() + chrono::Duration::hours(2))),
        ..Default::default()
    };
    let promised = app.cases().promise_follow_up(as_tenant("acme", promise)).await.unwrap().into_inner();
    // And what the department was asked.
    let logistics = v1::Department { name: "logistics".into(), answer_within_seconds: 3600, ..Default::default() };
    let upsert = v1::UpsertDepartmentRequest { department: Some(logistics) };
    app.cases().upsert_department(as_tenant("acme", upsert)).await.unwrap();
    let escalate = v1::EscalateToDepartmentRequest {
        case_id: a1_case.id.clone(),
        department: "logistics".into(),
        reason: "Ann at 1 Elm St says the courier never came".into(),
        root_cause: "missed-delivery".into(),
        ..Default::default()
    };
    app.cases().escalate_to_department(as_tenant("acme", escalate)).await.unwrap();
    let a1_case = case(&app, "acme", &a1_case.id).await;
    assert_eq!((a1_case.open_promises, a1_case.department.as_str()), (1, "logistics"));

    let event = erasure("acme", &customer.id, vec![profile_of(&a1, &a1_case)]);
    publish(stream.as_ref(), &event).await;
    wait_erased(&app, "acme", &[&a1, &a2], &[&a1_case, &a2_case]).await;
    assert_eq!(interaction(&app, "acme", &b.id).await, b);
    assert_eq!(case(&app, "acme", &b_case.id).await, b_case);
    // The timelines keep what happened and when, not what was said.
    let texts = |entries: Vec<v1::CaseTimelineEntry>| {
        entries
            .into_iter()
            .flat_map(|entry| [entry.text, entry.reason])
            .filter(|text| !text.is_empty())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        texts(timeline(&app, "acme", &a1_case.id).await),
        vec![ERASED; 4],
        "the note, the promise, the escalation's reason and root cause"
    );
    let escalations = v1::ListEscalationsRequest { case_id: a1_case.id.clone(), ..Default::default() };
    let escalations = app.cases().list_escalations(as_tenant("acme", escalations)).await.unwrap().into_inner();
    assert_eq!(escalations.escalations[0].reason, ERASED);
    let promises = v1::ListPromisesRequest { case_id: a1_case.id.clone(), ..Default::default() };
    let promises = app.cases().list_promises(as_tenant("acme", promises)).await.unwrap().into_inner().promises;
    assert_eq!(
        promises.iter().map(|p| (p.id.as_str(), p.what.as_str())).collect::<Vec<_>>(),
        [(promised.id.as_str(), ERASED)]
    );
    assert_eq!(texts(timeline(&app, "acme", &a2_case.id).await), vec![ERASED]);
    assert_eq!(texts(timeline(&app, "acme", &b_case.id).await), vec!["exchanged for size M"]);
    assert_eq!(interaction(&app, "globex", &g.id).await, g);
    assert_eq!(case(&app, "globex", &g_case.id).await, g_case);
    // The erased post's channel id is kept, so a connector delivering it again gets a duplicate
    // instead of storing the text and author a second time.
    let mut again = post("ann", "my order 1234 never arrived");
    again.external_id = a1.external_id.clone();
    let redelivered = app.ingest().ingest_interaction(as_tenant("acme", again)).await.unwrap().into_inner();
    assert!(redelivered.duplicate);
    assert_eq!(redelivered.interaction.unwrap().text, ERASED);

    // The same event again (a redelivery) changes nothing. A later erasure in globex, of Gus who
    // is no known customer (blank customer id), shows when the redelivery has been handled:
    // each group handles the stream in order.
    let erased_now = (
        interaction(&app, "acme", &a1.id).await,
        interaction(&app, "acme", &a2.id).await,
        case(&app, "acme", &a1_case.id).await,
        case(&app, "acme", &a2_case.id).await,
    );
    publish(stream.as_ref(), &event).await;
    assert!(gus_case.customer_id.is_empty());
    publish(stream.as_ref(), &erasure("globex", "", vec![profile_of(&gus, &gus_case)])).await;
    wait_erased(&app, "globex", &[&gus], &[&gus_case]).await;
    let after = (
        interaction(&app, "acme", &a1.id).await,
        interaction(&app, "acme", &a2.id).await,
        case(&app, "acme", &a1_case.id).await,
        case(&app, "acme", &a2_case.id).await,
    );
    assert_eq!(after, erased_now, "a redelivered erasure has no second effect");
    // A blank customer id erased none of globex's other unknown authors.
    assert_eq!(interaction(&app, "globex", &g.id).await, g);
    assert_eq!(case(&app, "globex", &g_case.id).await, g_case);

    for (group, letters) in GROUPS.iter().zip(dead_letters(stream.as_ref()).await) {
        assert!(letters.is_empty(), "{group} dead-lettered {letters:?}");
    }
    app.stop().await;
}

async fn an_undecodable_erasure_is_dead_lettered_and_the_next_one_handled(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stream = app.event_stream().await;
    let (zoe, zoe_case) = ingest_routed(&app, "acme", post("zoe", "app keeps crashing")).await;

    let mut broken = erasure("acme", "", Vec::new());
    broken.payload = vec![0xff; 16];
    publish(stream.as_ref(), &broken).await;
    publish(stream.as_ref(), &erasure("acme", "", vec![profile_of(&zoe, &zoe_case)])).await;
    wait_erased(&app, "acme", &[&zoe], &[&zoe_case]).await;

    let letters = eventually("every group to dead-letter the broken event", PATIENCE, || async {
        let letters = dead_letters(stream.as_ref()).await;
        letters.iter().all(|letters| !letters.is_empty()).then_some(letters)
    })
    .await;
    for (group, letters) in GROUPS.iter().zip(letters) {
        assert_eq!(letters.len(), 1, "{group}: {letters:?}");
        let letter = &letters[0];
        assert_eq!(letter.group, *group);
        assert_eq!(letter.deliveries, 1, "{group}: poison is dead-lettered at once, not retried");
        assert!(letter.reason.contains("does not decode"), "{group}: {}", letter.reason);
        assert_eq!(v1::EventEnvelope::decode(letter.payload.as_slice()).unwrap(), broken);
    }
    app.stop().await;
}

async fn forgetting_a_customer_in_identity_reaches_ingest_and_cases(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let stream = app.event_stream().await;
    let kim = v1::CustomerInput {
        crm_id: "CRM-KIM".into(),
        handles: vec![v1::KnownHandle { channel: v1::Channel::X.into(), handle: "@kim".into() }],
        ..Default::default()
    };
    let request = as_tenant("acme", v1::UpsertCustomerRequest { customer: Some(kim) });
    let customer = app.identity().upsert_customer(request).await.unwrap().into_inner().customer.unwrap();
    let (kim_post, kim_case) = ingest_routed(&app, "acme", post("kim", "charged twice for one order")).await;
    let (other, other_case) = ingest_routed(&app, "acme", post("lou", "charged twice too")).await;
    assert_eq!(kim_case.customer_id, customer.id);

    let forget = v1::ForgetCustomerRequest { customer_id: customer.id.clone(), reason: "GDPR request 2026-119".into() };
    app.identity().forget_customer(as_tenant("acme", forget)).await.unwrap();
    wait_erased(&app, "acme", &[&kim_post], &[&kim_case]).await;
    assert_eq!(interaction(&app, "acme", &other.id).await, other);
    assert_eq!(case(&app, "acme", &other_case.id).await, other_case);
    for (group, letters) in GROUPS.iter().zip(dead_letters(stream.as_ref()).await) {
        assert!(letters.is_empty(), "{group} dead-lettered {letters:?}");
    }
    app.stop().await;
}
