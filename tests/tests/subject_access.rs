//! Subject access export (GDPR article 15): `ExportCustomerData` gathers everything Tend holds
//! about a customer from every service into one JSON document, for the caller's tenant and an
//! admin only; an erased customer has nothing left to export.
//!
//! A customer with identifiers is planted, her handle posts (a complaint that becomes a case
//! with a note, a reply and a promise, and praise that becomes a testimonial candidate), and
//! each planted item is looked for under the service that holds it.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use serde_json::Value;
use tend::ServiceName;
use tend_kernel::Role;
use tend_kernel::auth::ApiKeyConfig;
use tend_proto::v1;
use tend_tests::{Backend, TestApp, eventually, post, routed_with, with_key};
use tonic::Code;

tend_tests::on_both_backends!(an_export_holds_everything_planted_for_an_admin_of_the_tenant_only);

const ADMIN: &str = "acme-admin-key-00000001";
const AGENT: &str = "acme-agent-key-00000001";
const GLOBEX_ADMIN: &str = "globex-admin-key-000001";
const SERVICE_KEY: &str = "internal-service-key-0001";

fn keys() -> Vec<ApiKeyConfig> {
    vec![
        ApiKeyConfig::plain("acme admin", ADMIN, Some("acme"), Role::Admin),
        ApiKeyConfig::plain("acme agent", AGENT, Some("acme"), Role::Agent),
        ApiKeyConfig::plain("globex admin", GLOBEX_ADMIN, Some("globex"), Role::Admin),
        ApiKeyConfig::plain("services", SERVICE_KEY, None, Role::Service),
    ]
}

/// What was planted, every value unique to the test.
struct Planted {
    customer_id: String,
    profile_id: String,
    case_id: String,
    complaint_id: String,
    praise_id: String,
    /// Values that must appear under `identity`.
    identity: Vec<String>,
    /// Under `ingest`.
    ingest: Vec<String>,
    /// Under `cases`.
    cases: Vec<String>,
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// Plants a customer in `identity` and her posts and their cases in `rest` (the same app when
/// all services run in one process).
async fn plant(identity: &TestApp, rest: &TestApp) -> Planted {
    let handle = unique("zoe");
    let given_name = unique("Zoe");
    let email = format!("{}@example.com", unique("zoe"));
    let phone = "+44 20 7946 0958".to_owned();
    let crm_id = unique("crm-");
    let customer = v1::CustomerInput {
        crm_id: crm_id.clone(),
        given_name: given_name.clone(),
        family_name: "O'Brien".into(),
        emails: vec![email.clone()],
        phones: vec![phone],
        handles: vec![v1::KnownHandle { channel: v1::Channel::X.into(), handle: format!("@{handle}") }],
        ..Default::default()
    };
    let request = with_key(ADMIN, v1::UpsertCustomerRequest { customer: Some(customer) });
    let customer = identity.identity().upsert_customer(request).await.unwrap().into_inner().customer.unwrap();

    let complaint_text = format!("{} my order never came, where is my refund?", unique("COMPLAINT-"));
    let complaint = ingest(rest, post(&handle, &complaint_text)).await;
    let decision =
        routed_with(rest, || with_key(ADMIN, v1::GetRoutingDecisionRequest { interaction_id: complaint.id.clone() }))
            .await;
    let case_id = decision.case_id.clone();
    let case = rest.cases().get_case(with_key(ADMIN, v1::GetCaseRequest { id: case_id.clone() })).await.unwrap();
    let case = case.into_inner();
    assert_eq!(case.customer_id, customer.id, "the complaint's case should be the customer's");

    let note = unique("NOTE-");
    let request = v1::AddCaseNoteRequest { case_id: case_id.clone(), text: note.clone() };
    rest.cases().add_case_note(with_key(ADMIN, request)).await.unwrap();
    let reply = unique("REPLY-");
    let request = v1::ReplyToCaseRequest { case_id: case_id.clone(), text: reply.clone(), ..Default::default() };
    rest.cases().reply_to_case(with_key(ADMIN, request)).await.unwrap();
    let promise = unique("PROMISE-");
    let due_at = prost_types::Timestamp { seconds: chrono::Utc::now().timestamp() + 86_400, nanos: 0 };
    let request = v1::PromiseFollowUpRequest {
        case_id: case_id.clone(),
        what: promise.clone(),
        due_at: Some(due_at),
        ..Default::default()
    };
    rest.cases().promise_follow_up(with_key(ADMIN, request)).await.unwrap();

    let praise_text = format!("{} Thank you so much, your support team was amazing today!", unique("PRAISE-"));
    let praise = ingest(rest, post(&handle, &praise_text)).await;
    routed_with(rest, || with_key(ADMIN, v1::GetRoutingDecisionRequest { interaction_id: praise.id.clone() })).await;
    eventually("feedback to keep the praise as a testimonial candidate", Duration::from_secs(20), || async {
        let request = with_key(ADMIN, v1::ListTestimonialCandidatesRequest::default());
        let candidates = rest.feedback().list_testimonial_candidates(request).await.unwrap().into_inner().candidates;
        candidates.iter().any(|candidate| candidate.interaction_id == praise.id).then_some(())
    })
    .await;

    Planted {
        customer_id: customer.id,
        profile_id: case.profile_id,
        case_id,
        complaint_id: complaint.id,
        praise_id: praise.id,
        identity: vec![crm_id, given_name, email, handle.clone()],
        ingest: vec![complaint_text, praise_text, format!("id-{handle}")],
        cases: vec![note, reply, promise],
    }
}

async fn ingest(app: &TestApp, request: v1::IngestInteractionRequest) -> v1::Interaction {
    let ingested = app.ingest().ingest_interaction(with_key(ADMIN, request)).await.unwrap().into_inner();
    ingested.interaction.unwrap()
}

async fn export(app: &TestApp, key: &str, customer_id: &str) -> Result<Value, tonic::Status> {
    let request = with_key(key, v1::ExportCustomerDataRequest { customer_id: customer_id.to_owned() });
    let export = app.identity().export_customer_data(request).await?.into_inner();
    Ok(serde_json::from_str(&export.json).unwrap())
}

/// Every planted item under the service that holds it, with the records' shapes a person reads.
fn check_export(export: &Value, planted: &Planted) {
    assert_eq!(export["customer_id"], planted.customer_id.as_str());
    assert!(
        chrono::DateTime::parse_from_rfc3339(export["exported_at"].as_str().unwrap()).is_ok(),
        "exported_at: {}",
        export["exported_at"]
    );
    let section = |name: &str| {
        let value = &export[name];
        assert!(value.is_object(), "no {name} section in {export:#}");
        value.to_string()
    };
    let identity = section("identity");
    for value in planted.identity.iter().chain([&planted.customer_id, &planted.profile_id]) {
        assert!(identity.contains(value.as_str()), "identity lacks {value}: {identity}");
    }
    let profile = &export["identity"]["profiles"][0]["profile"];
    assert_eq!(profile["id"], planted.profile_id.as_str());
    assert_eq!(profile["status"], "IDENTITY_STATUS_LINKED", "{profile}");
    assert!(!export["identity"]["link_events"].as_array().unwrap().is_empty(), "the link is in the audit log");

    let ingest = section("ingest");
    for value in planted.ingest.iter().chain([&planted.complaint_id, &planted.praise_id]) {
        assert!(ingest.contains(value.as_str()), "ingest lacks {value}: {ingest}");
    }
    let interaction = &export["ingest"]["interactions"][0];
    assert_eq!(interaction["channel"], "CHANNEL_X", "{interaction}");
    assert!(
        chrono::DateTime::parse_from_rfc3339(interaction["posted_at"].as_str().unwrap()).is_ok(),
        "posted_at is RFC 3339: {interaction}"
    );

    let cases = &export["cases"]["cases"];
    let case = cases.as_array().unwrap().iter().find(|case| case["case"]["id"] == planted.case_id.as_str());
    let case = case.unwrap_or_else(|| panic!("case {} not in {cases}", planted.case_id));
    let [note, reply, promise] = &planted.cases[..] else { unreachable!() };
    assert!(case["timeline"].to_string().contains(note.as_str()), "the note: {case}");
    assert!(case["replies"].to_string().contains(reply.as_str()), "the reply: {case}");
    assert!(case["promises"].to_string().contains(promise.as_str()), "the promise: {case}");
    assert!(case["escalations"].is_array());

    let routing = section("routing");
    assert!(routing.contains(&planted.complaint_id) && routing.contains(&planted.praise_id), "routing: {routing}");
    assert!(routing.contains(&planted.case_id), "routing names the case it opened: {routing}");

    let feedback = section("feedback");
    assert!(feedback.contains(&planted.praise_id), "feedback: {feedback}");
    assert!(!feedback.contains(&planted.complaint_id), "the complaint is no testimonial: {feedback}");

    // Identity and feedback keep no texts (cases do: the subject and the timeline quote them).
    assert!(!format!("{identity}{feedback}").contains(&planted.ingest[0]), "identity and feedback keep no post text");
}

async fn an_export_holds_everything_planted_for_an_admin_of_the_tenant_only(backend: Backend) {
    let app = TestApp::spawn_with(backend, &ServiceName::ALL, |config| config.auth.keys = keys()).await;
    let planted = plant(&app, &app).await;
    let exported = export(&app, ADMIN, &planted.customer_id).await.unwrap();
    check_export(&exported, &planted);
    // Who exported whom is kept in the customer's audit log.
    let request = v1::ListLinkEventsRequest { customer_id: planted.customer_id.clone(), ..Default::default() };
    let events = app.identity().list_link_events(with_key(ADMIN, request)).await.unwrap().into_inner().events;
    assert!(events.iter().any(|event| event.action == "exported" && event.actor == "acme admin"), "{events:?}");

    // Admin only, and only for the customer's own tenant (a foreign id is a random one).
    for (key, code) in [(AGENT, Code::PermissionDenied), (GLOBEX_ADMIN, Code::NotFound)] {
        let status = export(&app, key, &planted.customer_id).await.unwrap_err();
        assert_eq!(status.code(), code, "{key}: {}", status.message());
    }
    let status = export(&app, GLOBEX_ADMIN, &uuid::Uuid::now_v7().to_string()).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    // The per-service parts are admin-only too: a service key cannot bulk-export a person.
    let request = with_key(
        SERVICE_KEY,
        v1::ExportSubjectDataRequest { customer_id: planted.customer_id.clone(), ..Default::default() },
    );
    let mut request = request;
    request.metadata_mut().insert(tend_kernel::auth::TENANT_HEADER, "acme".parse().unwrap());
    let status = app.cases().export_subject_data(request).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);

    // Forgotten: nothing to export.
    let forget = v1::ForgetCustomerRequest { customer_id: planted.customer_id.clone(), reason: "GDPR 2026-7".into() };
    app.identity().forget_customer(with_key(ADMIN, forget)).await.unwrap();
    let status = export(&app, ADMIN, &planted.customer_id).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{}", status.message());
    app.stop().await;
}

/// Identity in one process, ingest, cases, routing and feedback in another: identity asks them
/// over gRPC with the admin's own key, and a service it cannot reach fails the whole export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_gathers_an_export_from_services_in_another_process() {
    let others = [ServiceName::Ingest, ServiceName::Cases, ServiceName::Routing, ServiceName::Feedback];
    let rest = TestApp::spawn_with(Backend::PostgresRedis, &others, |config| config.auth.keys = keys()).await;
    let mut config = rest.config.clone();
    let endpoint = format!("http://{}", rest.addr);
    config.clients.ingest = endpoint.clone();
    config.clients.cases = endpoint.clone();
    config.clients.routing = endpoint.clone();
    config.clients.feedback = endpoint.clone();
    config.clients.api_key = SERVICE_KEY.into();
    let identity =
        TestApp::spawn_config(config.clone(), &[ServiceName::Identity], tempfile::tempdir().unwrap(), None).await;

    // Customers go to identity; posts to ingest, whose events reach identity and routing.
    let planted = plant(&identity, &rest).await;
    let exported = export(&identity, ADMIN, &planted.customer_id).await.unwrap();
    check_export(&exported, &planted);

    // Routing unreachable: no partial export, UNAVAILABLE naming it.
    let mut broken = config;
    broken.clients.routing = "http://127.0.0.1:1".into();
    let cut_off = TestApp::spawn_config(broken, &[ServiceName::Identity], tempfile::tempdir().unwrap(), None).await;
    let status = export(&cut_off, ADMIN, &planted.customer_id).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{}", status.message());
    assert!(status.message().contains("routing"), "{}", status.message());

    cut_off.halt().await;
    identity.halt().await;
    rest.stop().await;
}
