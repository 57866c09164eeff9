//! An incident's proactive notice, end to end: cases keeps the notice and its scope, resolving
//! with `notify` asks identity, identity goes through the customers (scope, members, opt-outs,
//! the preferred channel) and asks ingest, which sends each notice as a direct message within
//! the account's quota; the counts come back on the incident. Redeliveries send nothing twice.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use prost::Message as _;
use tend_proto::v1;
use tend_store::events::streams;
use tend_tests::fake::{Answer, FakePlatform};
use tend_tests::{Backend, TestApp, as_tenant, envelopes, eventually, post, routed};
use tonic::Code;

tend_tests::on_both_backends!(
    a_notice_reaches_only_customers_in_scope_who_did_not_write_or_opt_out,
    a_notice_scope_is_checked,
);

const TENANT: &str = "acme";
const BRAND_X_ID: &str = "2244994945";

fn value(secret: &str) -> v1::SecretValue {
    v1::SecretValue { source: Some(v1::secret_value::Source::Value(secret.into())) }
}

async fn spawn(backend: Backend, fake: &FakePlatform) -> TestApp {
    let base = fake.url();
    TestApp::spawn_with(backend, &tend::app::ServiceName::ALL, move |config| {
        config.channels.x_api_base = base.clone();
        config.channels.meta_api_base = base;
        config.channels.retry_base = Duration::from_millis(50);
        config.channels.delivery_poll = Duration::from_millis(100);
        config.channels.registry_refresh = Duration::from_millis(300);
    })
    .await
}

async fn x_account(app: &TestApp) {
    let request = v1::UpsertAppRequest {
        name: "x-main".into(),
        platform: v1::Platform::X.into(),
        secrets: [("consumer_secret".to_owned(), value("x-consumer-secret"))].into(),
        ..Default::default()
    };
    app.channels().upsert_app(as_tenant(TENANT, request)).await.unwrap();
    let request = v1::UpsertAccountRequest {
        app: "x-main".into(),
        channel: v1::Channel::X.into(),
        platform_account_id: BRAND_X_ID.into(),
        display_name: "Acme Support".into(),
        is_default: true,
        secrets: [("access_token".to_owned(), value("user-token"))].into(),
        ..Default::default()
    };
    app.channels().upsert_account(as_tenant(TENANT, request)).await.unwrap();
}

/// The tenant's mailbox: an email account over the test IMAP and SMTP servers.
async fn mail_account(app: &TestApp, support: &tend_mailbox::testing::TestFolder) {
    use tend_mailbox::testing;
    let settings = [
        ("imap_host", testing::host()),
        ("imap_port", "10993".to_owned()),
        ("imap_security", "tls".to_owned()),
        ("smtp_host", testing::host()),
        ("smtp_port", "10465".to_owned()),
        ("smtp_security", "tls".to_owned()),
        ("username", testing::user()),
        ("ca_file", testing::ca_file().display().to_string()),
        ("from_name", "Acme Support".to_owned()),
    ];
    let request = v1::UpsertAppRequest {
        name: "mail".into(),
        platform: v1::Platform::Email.into(),
        settings: settings.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        secrets: [("password".to_owned(), value(&testing::password()))].into(),
    };
    app.channels().upsert_app(as_tenant(TENANT, request)).await.unwrap();
    let request = v1::UpsertAccountRequest {
        app: "mail".into(),
        channel: v1::Channel::Email.into(),
        platform_account_id: support.address(),
        settings: [("folder".to_owned(), support.name.clone())].into(),
        ..Default::default()
    };
    app.channels().upsert_account(as_tenant(TENANT, request)).await.unwrap();
}

/// A customer in `region` with `product`, known by the X handle `handle` (when given).
async fn customer(app: &TestApp, name: &str, region: &str, handle: Option<&str>) -> v1::Customer {
    customer_with(app, name, region, handle, |_| {}).await
}

async fn customer_with(
    app: &TestApp,
    name: &str,
    region: &str,
    handle: Option<&str>,
    adjust: impl FnOnce(&mut v1::CustomerInput),
) -> v1::Customer {
    let mut input = v1::CustomerInput {
        crm_id: format!("CRM-{name}"),
        given_name: name.into(),
        family_name: "Lee".into(),
        address: Some(v1::PostalAddress { region: region.into(), country: "GB".into(), ..Default::default() }),
        handles: handle
            .map(|handle| vec![v1::KnownHandle { channel: v1::Channel::X.into(), handle: format!("@{handle}") }])
            .unwrap_or_default(),
        attributes: [("product".to_owned(), "router-x".to_owned())].into(),
        ..Default::default()
    };
    adjust(&mut input);
    let request = as_tenant(TENANT, v1::UpsertCustomerRequest { customer: Some(input) });
    app.identity().upsert_customer(request).await.unwrap().into_inner().customer.unwrap()
}

/// `handle` posts on X; the case routing opens for it (linked to their customer).
async fn writes(app: &TestApp, handle: &str) -> v1::Case {
    let ingested = app
        .ingest()
        .ingest_interaction(as_tenant(TENANT, post(handle, "my order 1234 never arrived")))
        .await
        .unwrap()
        .into_inner();
    let decision = routed(app, TENANT, &ingested.interaction.unwrap().id).await;
    assert!(!decision.case_id.is_empty(), "{decision:?}");
    let request = as_tenant(TENANT, v1::GetCaseRequest { id: decision.case_id });
    app.cases().get_case(request).await.unwrap().into_inner()
}

fn notice(scope: &str) -> v1::IncidentNotice {
    v1::IncidentNotice {
        scope: scope.into(),
        text: "Hi {first_name}, the router-x outage in your area is fixed.".into(),
        translations: [("es".to_owned(), "Hola {first_name}, ya funciona.".to_owned())].into(),
        subject: String::new(),
        opt_out_text: "Reply STOP to get no more notices.".into(),
    }
}

async fn get_incident(app: &TestApp, id: &str) -> v1::Incident {
    let request = as_tenant(TENANT, v1::GetIncidentRequest { incident_id: id.into() });
    app.cases().get_incident(request).await.unwrap().into_inner()
}

/// The DMs the fake X received, by recipient.
fn dms(fake: &FakePlatform) -> Vec<(String, String)> {
    fake.requests()
        .into_iter()
        .filter(|request| request.path.starts_with("/2/dm_conversations/with/"))
        .map(|request| {
            let to = request.path.trim_start_matches("/2/dm_conversations/with/").trim_end_matches("/messages");
            (to.to_owned(), request.json()["text"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

async fn a_notice_reaches_only_customers_in_scope_who_did_not_write_or_opt_out(backend: Backend) {
    let created = r#"{"data":{"dm_conversation_id":"1-2","dm_event_id":"1582838223246343683"}}"#;
    let fake = FakePlatform::start(Answer::new(201, created)).await;
    let app = spawn(backend, &fake).await;
    x_account(&app).await;
    let support = tend_mailbox::testing::TestFolder::create("notices-support").await;
    let eves = tend_mailbox::testing::TestFolder::create("notices-eve").await;
    mail_account(&app, &support).await;

    // In scope (north): Ann and Bea, who never wrote about the incident; Eve, who prefers
    // email and reads Spanish; Max, who wrote (a member); Ola, who opted out; Nia, with no
    // channel at all. Out of scope: Sam (south).
    let ann = customer(&app, "Ann", "north", Some("ann")).await;
    let bea = customer(&app, "Bea", "north", Some("bea")).await;
    let max = customer(&app, "Max", "north", Some("max")).await;
    let ola = customer(&app, "Ola", "north", Some("ola")).await;
    let _nia = customer(&app, "Nia", "north", None).await;
    let _eve = customer_with(&app, "Eve", "north", None, |input| {
        input.emails = vec![eves.address()];
        input.attributes.insert("preferred_channel".into(), "email".into());
        input.attributes.insert("language".into(), "es".into());
    })
    .await;
    let sam = customer(&app, "Sam", "south", Some("sam")).await;
    // Each with an X profile linked by their handle (an earlier post, its case not the incident's).
    for (handle, who) in [("ann", &ann), ("bea", &bea), ("max", &max), ("ola", &ola), ("sam", &sam)] {
        let case = writes(&app, handle).await;
        assert_eq!(case.customer_id, who.id, "{handle}'s handle links them");
    }
    let member = writes(&app, "max").await;
    let opt_out = v1::SetNoticeOptOutRequest { customer_id: ola.id.clone(), opted_out: true };
    let ola = app.identity().set_notice_opt_out(as_tenant(TENANT, opt_out)).await.unwrap().into_inner();
    assert!(ola.notices_opted_out);
    let read = v1::GetCustomerRequest { id: ola.id.clone() };
    assert!(app.identity().get_customer(as_tenant(TENANT, read)).await.unwrap().into_inner().notices_opted_out);

    let open = v1::OpenIncidentRequest {
        title: "Router-x outage in the north".into(),
        case_ids: vec![member.id.clone()],
        notice: Some(notice("customer.region == 'north' && customer.attributes.product == 'router-x'")),
        ..Default::default()
    };
    let incident = app.cases().open_incident(as_tenant(TENANT, open)).await.unwrap().into_inner();
    let scope = &incident.notice.as_ref().unwrap().scope;
    assert_eq!(scope, "customer.region == 'north' && customer.attributes.product == 'router-x'");
    assert!(incident.notice_progress.is_none(), "not requested yet");

    let resolve = v1::ResolveIncidentRequest {
        incident_id: incident.id.clone(),
        note: "the line card was replaced".into(),
        notify: true,
    };
    let resolved = app.cases().resolve_incident(as_tenant(TENANT, resolve.clone())).await.unwrap().into_inner();
    assert_eq!(resolved.status(), v1::IncidentStatus::Resolved);
    assert!(resolved.notice_progress.unwrap().requested_at.is_some());

    let progress = eventually("the notice delivered", Duration::from_secs(30), || async {
        let progress = get_incident(&app, &incident.id).await.notice_progress.unwrap_or_default();
        (progress.reported_at.is_some() && progress.delivered == 3).then_some(progress)
    })
    .await;
    assert_eq!(
        (progress.in_scope, progress.requested, progress.skipped_members, progress.skipped_opted_out),
        (6, 3, 1, 1),
        "{progress:?}"
    );
    assert_eq!((progress.skipped_no_channel, progress.failed), (1, 0), "{progress:?}");
    let mut sent = dms(&fake);
    sent.sort();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].0, "id-ann");
    assert_eq!(sent[1].0, "id-bea");
    assert_eq!(sent[0].1, "Hi Ann, the router-x outage in your area is fixed.\n\nReply STOP to get no more notices.");

    // Eve's notice is a new email, in Spanish, with the incident's title as its subject.
    let email = eventually("the notice in Eve's mailbox", Duration::from_secs(30), || async {
        let mut mailbox = eves.connect().await;
        let batch = mailbox.fetch_new(None, 10).await.unwrap();
        mailbox.logout().await;
        batch.messages.into_iter().next().map(|message| String::from_utf8_lossy(&message.raw).into_owned())
    })
    .await;
    assert!(email.contains("Subject: Router-x outage in the north"), "{email}");
    assert!(email.contains("Hola Eve, ya funciona."), "{email}");
    assert!(email.contains("Reply STOP to get no more notices."), "{email}");
    assert!(!email.contains("In-Reply-To:"), "a new email answers nothing: {email}");

    // Redeliveries: the same request again, and every message request again, send nothing more.
    let again = app.cases().resolve_incident(as_tenant(TENANT, resolve)).await.unwrap().into_inner();
    assert_eq!(again.notice_progress.unwrap().requested, 3);
    let stream = app.event_stream().await;
    for name in [streams::NOTICE_REQUESTED, streams::REPLIES_REQUESTED] {
        for mut envelope in envelopes(stream.as_ref(), name).await {
            envelope.event_id = uuid::Uuid::now_v7().to_string();
            stream.publish(name, &envelope.encode_to_vec()).await.unwrap();
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(dms(&fake).len(), 2, "nothing is sent twice");
    let notified = envelopes(stream.as_ref(), streams::REPLIES_REQUESTED)
        .await
        .into_iter()
        .filter(|envelope| envelope.source == "identity")
        .count();
    assert_eq!(notified, 6, "three requests, each republished once by this test");
    let mut mailbox = eves.connect().await;
    let batch = mailbox.fetch_new(None, 10).await.unwrap();
    mailbox.logout().await;
    assert_eq!(batch.messages.len(), 1, "one email, however often it was asked for");
    app.stop().await;
    support.remove().await;
    eves.remove().await;
}

async fn a_notice_scope_is_checked(backend: Backend) {
    let fake = FakePlatform::start(Answer::new(201, "{}")).await;
    let app = spawn(backend, &fake).await;
    let open = v1::OpenIncidentRequest {
        title: "Outage".into(),
        notice: Some(notice("customer.regoin == 'north'")),
        ..Default::default()
    };
    let error = app.cases().open_incident(as_tenant(TENANT, open.clone())).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument, "{error:?}");
    assert!(error.message().contains("notice.scope") && error.message().contains("regoin"), "{error:?}");
    let not_bool = v1::OpenIncidentRequest { notice: Some(notice("customer.region")), ..open.clone() };
    let error = app.cases().open_incident(as_tenant(TENANT, not_bool)).await.unwrap_err();
    assert!(error.message().contains("not a bool"), "{error:?}");

    // Without a notice, notify is refused before anything is resolved.
    let bare = v1::OpenIncidentRequest { notice: None, ..open };
    let incident = app.cases().open_incident(as_tenant(TENANT, bare)).await.unwrap().into_inner();
    let resolve = v1::ResolveIncidentRequest { incident_id: incident.id.clone(), note: "fixed".into(), notify: true };
    let error = app.cases().resolve_incident(as_tenant(TENANT, resolve)).await.unwrap_err();
    assert_eq!(error.code(), Code::FailedPrecondition, "{error:?}");
    assert_eq!(get_incident(&app, &incident.id).await.status(), v1::IncidentStatus::Open);
    // A notice given later with UpdateIncident.
    let update = v1::UpdateIncidentRequest {
        incident_id: incident.id.clone(),
        notice: Some(notice("customer.segment == 'smb'")),
        ..Default::default()
    };
    let updated = app.cases().update_incident(as_tenant(TENANT, update)).await.unwrap().into_inner();
    assert_eq!(updated.notice.unwrap().scope, "customer.segment == 'smb'");
    app.stop().await;
}
