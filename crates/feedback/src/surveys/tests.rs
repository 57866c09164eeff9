//! Surveys on SQLite and on PostgreSQL: a resolved case sends one survey on its channel, the
//! response is recorded with the case's labels, a reused, expired or forged link is refused,
//! opt-outs and the frequency cap hold, erasure reaches surveys.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration as StdDuration;

use prost::Message as _;
use sea_orm::{ColumnTrait as _, DatabaseConnection, EntityTrait, QueryFilter as _};
use tend_kernel::ids::{ShiftedClock, new_id, to_timestamp};
use tend_kernel::{Caller, Role, TenantId};
use tend_proto::v1;
use tend_proto::v1::feedback_service_server::FeedbackService as _;
use tend_queue::{BatchHandler as _, Delivery};
use tend_store::testing::{Backend, TestStore};
use tend_store::{BatchConsumer, OutboxWaker};
use tonic::{Code, Request};

use super::Surveys;
use super::consumer::{GROUP, SURVEYS_ANSWERED, SendSurveys};
use super::storage::{response, survey};
use super::token::Signer;
use crate::consumer::EraseCustomers;
use crate::{FeedbackApi, FeedbackConfig, Migrator, SERVICE};

tend_store::on_both_backends!(
    a_resolved_case_sends_one_survey_and_its_answer_is_recorded_once,
    opt_outs_the_frequency_cap_incidents_and_channels_hold,
    erasure_removes_surveys_and_blanks_responses,
);

const X: i32 = v1::Channel::X as i32;

pub(crate) struct Setup {
    pub(crate) store: TestStore,
    pub(crate) db: DatabaseConnection,
    pub(crate) clock: Arc<ShiftedClock>,
    pub(crate) api: FeedbackApi,
    pub(crate) sender: BatchConsumer<SendSurveys>,
    pub(crate) eraser: BatchConsumer<EraseCustomers>,
}

pub(crate) async fn setup(backend: Backend) -> Setup {
    let store = TestStore::create(backend).await;
    let db = store.connect::<Migrator>(SERVICE).await;
    let clock = Arc::new(ShiftedClock::default());
    let surveys = Surveys::new(
        &FeedbackConfig::default(),
        Signer::new(b"a test secret that is long enough to sign".to_vec()),
        clock.clone(),
    );
    let api = FeedbackApi::with_surveys(db.clone(), surveys.clone(), OutboxWaker::default());
    let sender =
        BatchConsumer::new(Arc::new(SendSurveys { surveys }), db.clone(), OutboxWaker::default(), GROUP, SERVICE);
    let eraser = BatchConsumer::new(Arc::new(EraseCustomers), db.clone(), OutboxWaker::default(), SERVICE, SERVICE);
    Setup { store, db, clock, api, sender, eraser }
}

pub(crate) fn caller(tenant: &str, role: Role) -> Caller {
    Caller { tenant: TenantId::parse(tenant).unwrap(), role, actor: format!("{role:?}"), agent: None }
}

pub(crate) fn request<T>(caller: Caller, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(caller);
    request
}

/// The CSAT template the tests use: on X, English and French, 30 days' cap, a low score at 2
/// alerts a supervisor, no survey during an incident.
pub(crate) fn template() -> v1::SurveyTemplate {
    v1::SurveyTemplate {
        name: "after-care".into(),
        kind: v1::SurveyKind::Csat as i32,
        default_language: "en".into(),
        texts: vec![
            v1::SurveyText {
                language: "en".into(),
                invitation: "Hi {first_name}, how did we do? {link}".into(),
                question: "How satisfied are you with our help?".into(),
                free_text_question: "What could we do better?".into(),
            },
            v1::SurveyText {
                language: "fr".into(),
                invitation: "Bonjour {first_name}, votre avis ? {link}".into(),
                question: "Êtes-vous satisfait de notre aide ?".into(),
                free_text_question: String::new(),
            },
        ],
        channels: vec![X],
        frequency_cap_days: 30,
        skip_during_incident: true,
        enabled: true,
        low_score_threshold: 2,
        low_score_action: v1::LowScoreAction::AlertSupervisor as i32,
        survey_url: "https://care.example.com/s/{token}".into(),
        ..Default::default()
    }
}

/// A case of `customer_id` on X, in English, assigned to agent-7, tagged with a segment and a
/// team.
pub(crate) fn case(customer_id: &str) -> v1::Case {
    let at = to_timestamp(tend_kernel::ids::now());
    v1::Case {
        id: new_id(),
        tenant: "acme".into(),
        status: v1::CaseStatus::Resolved as i32,
        channel: X,
        customer_id: customer_id.into(),
        profile_id: format!("profile-of-{customer_id}"),
        interaction_ids: vec![new_id(), new_id()],
        opened_at: Some(at),
        resolved_at: Some(at),
        language: "en".into(),
        topics: vec!["billing".into(), "refunds".into()],
        tags: vec!["segment:vip".into(), "team:emea".into()],
        assignee: "agent-7".into(),
        ..Default::default()
    }
}

pub(crate) fn delivery<M: prost::Message + prost::Name>(tenant: &str, message: &M) -> Delivery {
    let envelope = tend_store::events::envelope("cases", &TenantId::parse(tenant).unwrap(), message);
    Delivery { id: new_id(), payload: envelope.encode_to_vec(), deliveries: 1 }
}

pub(crate) fn resolved(case: &v1::Case) -> v1::CaseEvent {
    v1::CaseEvent { kind: v1::CaseEventKind::Resolved as i32, case: Some(case.clone()), ..Default::default() }
}

pub(crate) async fn send(setup: &Setup, deliveries: &[Delivery]) {
    let results = setup.sender.handle_batch(deliveries).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

/// The invitations in the outbox, oldest first.
pub(crate) async fn invitations(db: &DatabaseConnection) -> Vec<v1::ReplyRequested> {
    outbox(db, tend_store::events::streams::REPLIES_REQUESTED)
        .await
        .iter()
        .map(|payload| v1::ReplyRequested::decode(payload.as_slice()).unwrap())
        .collect()
}

pub(crate) async fn outbox(db: &DatabaseConnection, stream: &str) -> Vec<Vec<u8>> {
    let rows = tend_store::outbox::entity::Entity::find()
        .filter(tend_store::outbox::entity::Column::Stream.eq(stream))
        .all(db)
        .await
        .unwrap();
    let mut rows: Vec<_> = rows.into_iter().collect();
    rows.sort_by_key(|row| row.id);
    rows.into_iter().map(|row| v1::EventEnvelope::decode(row.payload.as_slice()).unwrap().payload).collect()
}

/// The token in an invitation's link.
pub(crate) fn token_of(invitation: &v1::ReplyRequested) -> String {
    let start = invitation.text.find("/s/").unwrap() + 3;
    invitation.text[start..].split_whitespace().next().unwrap().to_owned()
}

pub(crate) async fn submit(
    setup: &Setup,
    tenant: &str,
    token: &str,
    score: Option<u32>,
) -> Result<v1::SubmitResponseResponse, tonic::Status> {
    let message = v1::SubmitResponseRequest {
        token: token.to_owned(),
        score,
        comment: "The refund took a week".into(),
        opt_out: false,
    };
    setup.api.submit_response(request(caller(tenant, Role::Website), message)).await.map(tonic::Response::into_inner)
}

async fn responses(db: &DatabaseConnection) -> Vec<response::Model> {
    response::Entity::find().all(db).await.unwrap()
}

pub(crate) async fn put_template(setup: &Setup, template: v1::SurveyTemplate) -> v1::SurveyTemplate {
    let message = v1::PutSurveyTemplateRequest { template: Some(template) };
    setup.api.put_survey_template(request(caller("acme", Role::Admin), message)).await.unwrap().into_inner()
}

async fn a_resolved_case_sends_one_survey_and_its_answer_is_recorded_once(backend: Backend) {
    let setup = setup(backend).await;
    // Only an admin writes templates.
    let denied = setup
        .api
        .put_survey_template(request(
            caller("acme", Role::Agent),
            v1::PutSurveyTemplateRequest { template: Some(template()) },
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(put_template(&setup, template()).await.version, 1);
    assert_eq!(put_template(&setup, template()).await.version, 2);

    let first = case("c1");
    let event = delivery("acme", &resolved(&first));
    // The opening is no reason for a survey; the resolution is, once, however often it comes.
    let opened = v1::CaseEvent { kind: v1::CaseEventKind::Opened as i32, ..resolved(&first) };
    send(&setup, &[delivery("acme", &opened), event.clone()]).await;
    send(&setup, &[event, delivery("acme", &resolved(&first))]).await;
    let sent = invitations(&setup.db).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let invitation = &sent[0];
    assert_eq!(invitation.case_id, first.id);
    assert_eq!(&invitation.interaction_id, first.interaction_ids.last().unwrap(), "answers the latest interaction");
    assert!(
        invitation.text.starts_with("Hi {first_name}, how did we do? https://care.example.com/s/"),
        "{}",
        invitation.text
    );
    assert!(invitation.personalize);
    assert_eq!(invitation.requested_by, "feedback");
    let token = token_of(invitation);

    // The page opens it with a website key.
    let form = setup
        .api
        .open_survey(request(caller("acme", Role::Website), v1::OpenSurveyRequest { token: token.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((form.kind, form.min_score, form.max_score), (v1::SurveyKind::Csat as i32, 1, 5));
    assert_eq!(form.question, "How satisfied are you with our help?");
    assert_eq!(form.free_text_question, "What could we do better?");

    // Out of the scale: refused, and the link still works.
    let wrong = submit(&setup, "acme", &token, Some(6)).await.unwrap_err();
    assert_eq!(wrong.code(), Code::InvalidArgument);
    assert!(wrong.message().contains("from 1 to 5"), "{}", wrong.message());
    // Forged: a character changed, another tenant's key, a survey id made up.
    let mut forged = token.clone().into_bytes();
    forged[10] = if forged[10] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for (tenant, token) in [("acme", forged.as_str()), ("globex", token.as_str()), ("acme", "not-a-token")] {
        let refused = submit(&setup, tenant, token, Some(5)).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert!(refused.message().contains("not a link this service issued"), "{}", refused.message());
    }
    // A viewer is no agent of the customer's, but the token is the authority: any key of the
    // tenant may answer for the page.
    let answered = submit(&setup, "acme", &token, Some(2)).await.unwrap();
    assert!(answered.recorded && answered.low_score && !answered.opted_out);
    // Used: refused, nothing more recorded.
    let reused = submit(&setup, "acme", &token, Some(5)).await.unwrap_err();
    assert_eq!(reused.code(), Code::FailedPrecondition);
    assert!(reused.message().contains("works once"), "{}", reused.message());
    let reopened = setup
        .api
        .open_survey(request(caller("acme", Role::Website), v1::OpenSurveyRequest { token: token.clone() }))
        .await
        .unwrap_err();
    assert_eq!(reopened.code(), Code::FailedPrecondition);

    let stored = responses(&setup.db).await;
    assert_eq!(stored.len(), 1);
    let row = &stored[0];
    assert_eq!(
        (row.tenant.as_str(), row.case_id.as_str(), row.kind.as_str(), row.score),
        ("acme", first.id.as_str(), "csat", 2)
    );
    assert_eq!(
        (row.channel, row.segment.as_str(), row.team.as_str(), row.agent.as_str()),
        (X, "vip", "emea", "agent-7")
    );
    assert_eq!((row.topics.as_str(), row.comment.as_str()), ("billing,refunds", "The refund took a week"));
    assert!(row.low_score);
    // The low score asks a supervisor to look.
    let answered: Vec<v1::SurveyAnswered> = outbox(&setup.db, SURVEYS_ANSWERED)
        .await
        .iter()
        .map(|payload| v1::SurveyAnswered::decode(payload.as_slice()).unwrap())
        .collect();
    assert_eq!(answered.len(), 1);
    assert_eq!((answered[0].score, answered[0].low_score), (2, true));
    assert_eq!(answered[0].action, v1::LowScoreAction::AlertSupervisor as i32);
    assert_eq!(answered[0].case_id, first.id);

    // Listed for readers; a website key reads nothing but its public calls.
    let listed = setup
        .api
        .list_survey_responses(request(caller("acme", Role::Viewer), v1::ListSurveyResponsesRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.responses.len(), 1);
    assert_eq!(listed.responses[0].topics, vec!["billing", "refunds"]);
    let website = setup
        .api
        .list_survey_responses(request(caller("acme", Role::Website), v1::ListSurveyResponsesRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(website.code(), Code::PermissionDenied);

    // A French case gets the French texts; its link expires with the clock.
    let mut french = case("c2");
    french.language = "fr".into();
    send(&setup, &[delivery("acme", &resolved(&french))]).await;
    let sent = invitations(&setup.db).await;
    assert_eq!(sent.len(), 2);
    assert!(sent[1].text.starts_with("Bonjour {first_name}, votre avis ?"), "{}", sent[1].text);
    let french_token = token_of(&sent[1]);
    setup.clock.advance(StdDuration::from_secs(15 * 24 * 3600));
    let expired = submit(&setup, "acme", &french_token, Some(5)).await.unwrap_err();
    assert_eq!(expired.code(), Code::FailedPrecondition);
    assert!(expired.message().contains("expired"), "{}", expired.message());
    assert_eq!(responses(&setup.db).await.len(), 1, "nothing recorded for a refused link");
    setup.store.cleanup().await;
}

async fn opt_outs_the_frequency_cap_incidents_and_channels_hold(backend: Backend) {
    let setup = setup(backend).await;
    put_template(&setup, template()).await;
    let sent_for = async |cases: &[v1::Case]| {
        let before = invitations(&setup.db).await.len();
        let deliveries: Vec<Delivery> = cases.iter().map(|case| delivery("acme", &resolved(case))).collect();
        send(&setup, &deliveries).await;
        invitations(&setup.db).await.len() - before
    };

    // The cap: one survey per customer in 30 days, whatever the case; in one batch too.
    assert_eq!(sent_for(&[case("c1"), case("c1")]).await, 1);
    assert_eq!(sent_for(&[case("c1")]).await, 0);
    setup.clock.advance(StdDuration::from_secs(31 * 24 * 3600));
    assert_eq!(sent_for(&[case("c1")]).await, 1, "the cap has passed");

    // Opted out by an agent: never; opted in again: yes.
    let opt = async |customer_id: &str, opted_out: bool| {
        let message =
            v1::SetSurveyOptOutRequest { customer_id: customer_id.into(), profile_id: String::new(), opted_out };
        setup
            .api
            .set_survey_opt_out(request(caller("acme", Role::Agent), message))
            .await
            .map(tonic::Response::into_inner)
    };
    let recorded = opt("c2", true).await.unwrap();
    assert!(recorded.opted_out && recorded.source == "api:Agent");
    assert_eq!(sent_for(&[case("c2")]).await, 0);
    opt("c2", false).await.unwrap();
    assert_eq!(sent_for(&[case("c2")]).await, 1);
    assert_eq!(opt("", true).await.unwrap_err().code(), Code::InvalidArgument);

    // Opted out through the link (no score): the link is used up, no more surveys.
    assert_eq!(sent_for(&[case("c3")]).await, 1);
    let token = token_of(invitations(&setup.db).await.last().unwrap());
    let message =
        v1::SubmitResponseRequest { token: token.clone(), score: None, comment: String::new(), opt_out: true };
    let answer = setup.api.submit_response(request(caller("acme", Role::Website), message)).await.unwrap().into_inner();
    assert!(!answer.recorded && answer.opted_out);
    assert_eq!(submit(&setup, "acme", &token, Some(4)).await.unwrap_err().code(), Code::FailedPrecondition);
    setup.clock.advance(StdDuration::from_secs(31 * 24 * 3600));
    assert_eq!(sent_for(&[case("c3")]).await, 0, "opted out");
    // Neither a score nor an opt-out: nothing to record.
    let empty = v1::SubmitResponseRequest { token, ..Default::default() };
    let refused = setup.api.submit_response(request(caller("acme", Role::Website), empty)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);

    // In an incident, with the template waiting for those: none. Another channel: none.
    let mut in_incident = case("c4");
    in_incident.incident_id = new_id();
    let mut by_email = case("c5");
    by_email.channel = v1::Channel::Email as i32;
    assert_eq!(sent_for(&[in_incident, by_email]).await, 0);
    // A segment the template does not name: none; one it names: yes.
    let mut vip_only = template();
    vip_only.segments = vec!["gold".into()];
    put_template(&setup, vip_only).await;
    assert_eq!(sent_for(&[case("c6")]).await, 0);
    let mut gold = case("c6");
    gold.tags = vec!["segment:gold".into()];
    assert_eq!(sent_for(&[gold]).await, 1);
    // Another tenant without templates sends nothing.
    send(&setup, &[delivery("globex", &resolved(&case("c7")))]).await;
    assert!(
        survey::Entity::find().filter(survey::Column::Tenant.eq("globex")).all(&setup.db).await.unwrap().is_empty()
    );
    setup.store.cleanup().await;
}

async fn erasure_removes_surveys_and_blanks_responses(backend: Backend) {
    let setup = setup(backend).await;
    put_template(&setup, template()).await;
    let theirs = case("c1");
    let someone_else = case("c2");
    send(&setup, &[delivery("acme", &resolved(&theirs)), delivery("acme", &resolved(&someone_else))]).await;
    let sent = invitations(&setup.db).await;
    let their_token = token_of(&sent[0]);
    submit(&setup, "acme", &their_token, Some(5)).await.unwrap();
    let open_token = {
        // A second survey of theirs, not answered yet: its link stops working.
        setup.clock.advance(StdDuration::from_secs(31 * 24 * 3600));
        send(&setup, &[delivery("acme", &resolved(&case("c1")))]).await;
        token_of(invitations(&setup.db).await.last().unwrap())
    };

    let erased = v1::CustomerErased {
        customer_id: "c1".into(),
        profiles: vec![v1::ErasedProfile { profile_id: "profile-of-c1".into(), channel: X, external_id: "x".into() }],
        reason: "GDPR request".into(),
    };
    let results = setup.eraser.handle_batch(&[delivery("acme", &erased)]).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");

    let gone = submit(&setup, "acme", &open_token, Some(5)).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let stored = responses(&setup.db).await;
    assert_eq!(stored.len(), 1, "the score stays for the reports");
    assert_eq!(
        (stored[0].comment.as_str(), stored[0].customer_id.as_str(), stored[0].profile_id.as_str()),
        ("", "", "")
    );
    assert_eq!(stored[0].score, 5);
    // Someone else's survey is untouched.
    let left: Vec<String> =
        survey::Entity::find().all(&setup.db).await.unwrap().into_iter().map(|row| row.customer_id).collect();
    assert_eq!(left, ["c2"]);
    setup.store.cleanup().await;
}
