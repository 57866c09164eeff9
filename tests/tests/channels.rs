//! Channels: the registry, the platforms' webhooks (handshakes, signatures, bad input, edits and
//! deletions, redeliveries) and replies out to a fake platform API, on both backends.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use prost::Message as _;
use tend_channels::signature;
use tend_proto::v1;
use tend_store::events::{envelope, streams};
use tend_tests::fake::{Answer, FakePlatform};
use tend_tests::{Backend, TestApp, as_tenant, envelopes, eventually, on_both_backends};

const TENANT: &str = "acme";
const X_SECRET: &str = "x-consumer-secret";
const META_SECRET: &str = "meta-app-secret";
const BRAND_X_ID: &str = "2244994945";
const PAGE_ID: &str = "104757235281203";

fn fixture(path: &str) -> Vec<u8> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/channels/tests/fixtures");
    std::fs::read(root.join(path)).unwrap_or_else(|error| panic!("fixture {path}: {error}"))
}

fn value(secret: &str) -> v1::SecretValue {
    v1::SecretValue { source: Some(v1::secret_value::Source::Value(secret.into())) }
}

async fn spawn(
    backend: Backend,
    fake: Option<&FakePlatform>,
    adjust: impl FnOnce(&mut tend::config::TendConfig),
) -> TestApp {
    let base = fake.map(FakePlatform::url);
    TestApp::spawn_with(backend, &tend::app::ServiceName::ALL, move |config| {
        if let Some(base) = base {
            config.channels.x_api_base = base.clone();
            config.channels.meta_api_base = base;
        }
        config.channels.max_webhook_bytes = 64 * 1024;
        config.channels.retry_base = Duration::from_millis(50);
        config.channels.delivery_poll = Duration::from_millis(100);
        adjust(config);
    })
    .await
}

async fn add_app(app: &TestApp, name: &str, platform: v1::Platform, secrets: &[(&str, &str)]) -> v1::ChannelApp {
    let request = v1::UpsertAppRequest {
        name: name.into(),
        platform: platform.into(),
        secrets: secrets.iter().map(|(k, v)| ((*k).to_owned(), value(v))).collect(),
        ..Default::default()
    };
    app.channels().upsert_app(as_tenant(TENANT, request)).await.unwrap().into_inner()
}

async fn add_account(app: &TestApp, request: v1::UpsertAccountRequest) -> v1::ChannelAccount {
    app.channels().upsert_account(as_tenant(TENANT, request)).await.unwrap().into_inner()
}

async fn x_account(app: &TestApp, quota: Option<v1::ReplyQuota>) -> v1::ChannelAccount {
    add_app(app, "x-main", v1::Platform::X, &[("consumer_secret", X_SECRET)]).await;
    add_account(
        app,
        v1::UpsertAccountRequest {
            app: "x-main".into(),
            channel: v1::Channel::X.into(),
            platform_account_id: BRAND_X_ID.into(),
            display_name: "Acme Support".into(),
            is_default: true,
            public_quota: quota,
            secrets: [("access_token".to_owned(), value("user-token"))].into(),
            ..Default::default()
        },
    )
    .await
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

fn hook(app: &TestApp, path: &str) -> String {
    format!("http://{}{path}", app.http_addr.unwrap())
}

async fn interactions(app: &TestApp) -> Vec<v1::Interaction> {
    let request = v1::ListInteractionsRequest { page_size: 100, ..Default::default() };
    app.ingest().list_interactions(as_tenant(TENANT, request)).await.unwrap().into_inner().interactions
}

async fn post_x(app: &TestApp, body: &[u8], signature: Option<String>) -> (u16, String) {
    let mut request = http().post(hook(app, "/webhooks/x")).body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("x-twitter-webhooks-signature", signature);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn the_registry_checks_what_it_is_given_and_never_returns_secrets(backend: Backend) {
    let app = spawn(backend, None, |_| {}).await;
    let mut channels = app.channels();
    let saved = add_app(&app, "x-main", v1::Platform::X, &[("consumer_secret", X_SECRET)]).await;
    assert_eq!(saved.secrets, vec!["consumer_secret".to_owned()]);
    let listed = channels.list_channels(as_tenant(TENANT, v1::ListChannelsRequest {})).await.unwrap().into_inner();
    assert!(!format!("{listed:?}").contains(X_SECRET), "a secret leaked: {listed:?}");

    let misspelt = v1::UpsertAppRequest {
        name: "x-main".into(),
        platform: v1::Platform::X.into(),
        secrets: [("consumer_secert".to_owned(), value("s"))].into(),
        ..Default::default()
    };
    let error = channels.upsert_app(as_tenant(TENANT, misspelt)).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    assert!(error.message().contains("secrets.consumer_secert"), "{}", error.message());

    let wrong_channel = v1::UpsertAccountRequest {
        app: "x-main".into(),
        channel: v1::Channel::Facebook.into(),
        platform_account_id: "1".into(),
        ..Default::default()
    };
    let error = channels.upsert_account(as_tenant(TENANT, wrong_channel)).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument, "{}", error.message());

    let bad_hours = v1::UpsertAccountRequest {
        app: "x-main".into(),
        channel: v1::Channel::X.into(),
        platform_account_id: BRAND_X_ID.into(),
        hours: Some(v1::AccountHours {
            time_zone: "Europe/London".into(),
            periods: vec![v1::StaffedPeriod { weekday: "funday".into(), start: "09:00".into(), end: "17:00".into() }],
            closed_days: vec![],
        }),
        ..Default::default()
    };
    let error = channels.upsert_account(as_tenant(TENANT, bad_hours)).await.unwrap_err();
    assert!(error.message().contains("hours.periods"), "{}", error.message());

    let account = x_account(&app, None).await;
    assert!(account.enabled && account.is_default);
    assert_eq!(account.secrets, vec!["access_token".to_owned()]);

    // Another tenant cannot take the same platform account.
    let other = v1::UpsertAppRequest { name: "x".into(), platform: v1::Platform::X.into(), ..Default::default() };
    channels.upsert_app(as_tenant("globex", other)).await.unwrap();
    let taken = v1::UpsertAccountRequest {
        app: "x".into(),
        channel: v1::Channel::X.into(),
        platform_account_id: BRAND_X_ID.into(),
        ..Default::default()
    };
    let error = channels.upsert_account(as_tenant("globex", taken)).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::FailedPrecondition, "{}", error.message());

    // A plain post takes the default account; one naming an unknown account is refused.
    let stored = app
        .ingest()
        .ingest_interaction(as_tenant(TENANT, tend_tests::post("ann", "Where is my order?")))
        .await
        .unwrap();
    assert_eq!(stored.into_inner().interaction.unwrap().account, account.id);
    let mut named = tend_tests::post("ann", "Where is my order?");
    named.account = "nope".into();
    let error = app.ingest().ingest_interaction(as_tenant(TENANT, named)).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::NotFound);

    // A disabled account takes nothing, by gRPC or webhook.
    let disabled = channels
        .disable_account(as_tenant(TENANT, v1::DisableAccountRequest { id: account.id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert!(!disabled.enabled);
    let mut by_platform_id = tend_tests::post("ann", "Where is my order?");
    by_platform_id.account = BRAND_X_ID.into();
    let error = app.ingest().ingest_interaction(as_tenant(TENANT, by_platform_id)).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::NotFound);
    // Two tenants have X apps now, so the webhook names its app.
    let body = fixture("x/tweet_create_events.json");
    let (status, _) = post_x(&app, &body, Some(signature::sign_x(X_SECRET, &body))).await;
    assert_eq!(status, 400, "several X apps: the delivery must name its app");
    let response = http()
        .post(hook(&app, &format!("/webhooks/x/{}", saved.id)))
        .header("x-twitter-webhooks-signature", signature::sign_x(X_SECRET, &body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(interactions(&app).await.len(), 1);
    app.stop().await;
}

async fn x_deliveries_are_verified_stored_once_and_tombstoned(backend: Backend) {
    let app = spawn(backend, None, |_| {}).await;
    let account = x_account(&app, None).await;

    // The CRC handshake.
    let crc = http().get(hook(&app, "/webhooks/x?crc_token=challenge-123")).send().await.unwrap();
    assert_eq!(crc.status(), 200);
    let answer: serde_json::Value = serde_json::from_str(&crc.text().await.unwrap()).unwrap();
    let expected: serde_json::Value =
        serde_json::from_str(&signature::x_crc_response(X_SECRET, "challenge-123")).unwrap();
    assert_eq!(answer, expected);

    // Bad input: each gets its status, and nothing is stored.
    let body = fixture("x/tweet_create_events.json");
    assert_eq!(post_x(&app, &body, None).await.0, 401);
    assert_eq!(post_x(&app, &body, Some(signature::sign_x("wrong", &body))).await.0, 401);
    let broken = b"{\"for_user_id\": ".to_vec();
    let (status, message) = post_x(&app, &broken, Some(signature::sign_x(X_SECRET, &broken))).await;
    assert_eq!(status, 400, "{message}");
    let unknown = String::from_utf8(body.clone()).unwrap().replace(BRAND_X_ID, "999").into_bytes();
    assert_eq!(post_x(&app, &unknown, Some(signature::sign_x(X_SECRET, &unknown))).await.0, 404);
    let huge = vec![b' '; 64 * 1024 + 1];
    assert_eq!(post_x(&app, &huge, Some(signature::sign_x(X_SECRET, &huge))).await.0, 413);
    assert!(interactions(&app).await.is_empty());

    // The real thing, three times: twice by webhook, once by gRPC.
    let (status, summary) = post_x(&app, &body, Some(signature::sign_x(X_SECRET, &body))).await;
    assert_eq!(status, 200, "{summary}");
    let (status, summary) = post_x(&app, &body, Some(signature::sign_x(X_SECRET, &body))).await;
    assert_eq!(status, 200);
    assert!(summary.contains("\"duplicates\":1"), "{summary}");
    let mut again = tend_tests::post("furiouscamper", "My order");
    again.external_id = "1050118621198921728".into();
    let duplicate = app.ingest().ingest_interaction(as_tenant(TENANT, again)).await.unwrap().into_inner();
    assert!(duplicate.duplicate);
    let stored = interactions(&app).await;
    assert_eq!(stored.len(), 1);
    let tweet = &stored[0];
    assert_eq!((tweet.account.as_str(), tweet.external_id.as_str()), (account.id.as_str(), "1050118621198921728"));
    assert_eq!(tweet.author.as_ref().unwrap().handle, "furiouscamper");
    assert_eq!(tweet.in_reply_to_external_id, "1050116000000000000");

    // Deleted on X: tombstoned, announced.
    let delete = format!(
        r#"{{"for_user_id":"{BRAND_X_ID}","tweet_delete_events":[{{"status":{{"id":"1050118621198921728","user_id":"6253282"}},"timestamp_ms":"1539206164000"}}]}}"#
    )
    .into_bytes();
    let (status, summary) = post_x(&app, &delete, Some(signature::sign_x(X_SECRET, &delete))).await;
    assert_eq!(status, 200, "{summary}");
    let deleted = app
        .ingest()
        .get_interaction(as_tenant(TENANT, v1::GetInteractionRequest { id: tweet.id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert!(deleted.deleted_at.is_some() && deleted.text.is_empty(), "{deleted:?}");
    let stream = app.event_stream().await;
    let events = eventually("interactions.deleted", Duration::from_secs(10), || async {
        let found = envelopes(stream.as_ref(), streams::INTERACTIONS_DELETED).await;
        (!found.is_empty()).then_some(found)
    })
    .await;
    let event = v1::InteractionDeleted::decode(events[0].payload.as_slice()).unwrap();
    assert_eq!(event.interaction_id, tweet.id);
    app.stop().await;
}

async fn meta_handshake_edits_and_removals(backend: Backend) {
    let app = spawn(backend, None, |_| {}).await;
    add_app(&app, "meta", v1::Platform::Meta, &[("app_secret", META_SECRET), ("verify_token", "verify-me")]).await;
    add_account(
        &app,
        v1::UpsertAccountRequest {
            app: "meta".into(),
            channel: v1::Channel::Facebook.into(),
            platform_account_id: PAGE_ID.into(),
            ..Default::default()
        },
    )
    .await;
    let challenge = http()
        .get(hook(&app, "/webhooks/meta?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444"))
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.status(), 200);
    assert_eq!(challenge.text().await.unwrap(), "1158201444");
    let wrong = http()
        .get(hook(&app, "/webhooks/meta?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);

    let send = |body: Vec<u8>| {
        let request = http()
            .post(hook(&app, "/webhooks/meta"))
            .header("x-hub-signature-256", signature::sign_meta(META_SECRET, &body))
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, summary) = send(fixture("meta/page_feed_comment_add.json")).await;
    assert_eq!(status, 200, "{summary}");
    assert!(summary.contains("\"stored\":1"), "{summary}");
    // The complaint is a case before it changes, so the changes show on the case.
    let added = interactions(&app).await;
    let case_id = tend_tests::routed(&app, TENANT, &added[0].id).await.case_id;
    assert!(!case_id.is_empty());
    let (status, summary) = send(fixture("meta/page_feed_comment_edited.json")).await;
    assert_eq!(status, 200);
    assert!(summary.contains("\"edited\":1"), "{summary}");
    let stored = interactions(&app).await;
    assert_eq!(stored.len(), 1);
    let comment = app
        .ingest()
        .get_interaction(as_tenant(TENANT, v1::GetInteractionRequest { id: stored[0].id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert!(comment.text.contains("4.2 update"), "{}", comment.text);
    assert_eq!(comment.revisions.len(), 1);
    assert!(comment.edited_at.is_some());
    let stream = app.event_stream().await;
    eventually("interactions.updated", Duration::from_secs(10), || async {
        let found = envelopes(stream.as_ref(), streams::INTERACTIONS_UPDATED).await;
        (!found.is_empty()).then_some(())
    })
    .await;
    let (status, summary) = send(fixture("meta/page_feed_comment_remove.json")).await;
    assert_eq!(status, 200);
    assert!(summary.contains("\"deleted\":1"), "{summary}");
    use v1::CaseTimelineKind as K;
    let changes = eventually("the edit and the removal on the case", Duration::from_secs(10), || async {
        let request = v1::ListCaseTimelineRequest { case_id: case_id.clone(), ..Default::default() };
        let entries = app.cases().list_case_timeline(as_tenant(TENANT, request)).await.ok()?.into_inner().entries;
        let changes: Vec<_> = entries
            .into_iter()
            .filter(|entry| matches!(entry.kind(), K::InteractionEdited | K::InteractionDeleted))
            .collect();
        (changes.len() == 2).then_some(changes)
    })
    .await;
    assert_eq!(changes[0].kind(), K::InteractionEdited);
    assert!(changes[0].text.contains("4.2 update"), "{:?}", changes[0]);
    assert_eq!((changes[1].kind(), changes[1].interaction_id.as_str()), (K::InteractionDeleted, added[0].id.as_str()));
    app.stop().await;
}

async fn generic_and_email_deliveries_are_signed_within_the_window(backend: Backend) {
    let app = spawn(backend, None, |_| {}).await;
    add_app(&app, "widget", v1::Platform::Generic, &[("signing_secret", "chat-secret")]).await;
    let chat = add_account(
        &app,
        v1::UpsertAccountRequest {
            app: "widget".into(),
            channel: v1::Channel::Chat.into(),
            platform_account_id: "widget-1".into(),
            ..Default::default()
        },
    )
    .await;
    add_app(&app, "mail", v1::Platform::Email, &[("signing_secret", "mail-secret")]).await;
    let mailbox = add_account(
        &app,
        v1::UpsertAccountRequest {
            app: "mail".into(),
            channel: v1::Channel::Email.into(),
            platform_account_id: "support@acme-shop.example".into(),
            ..Default::default()
        },
    )
    .await;
    let now = chrono::Utc::now().timestamp();
    let body = fixture("generic/message.json");
    let send = |path: String, body: Vec<u8>, signature: String| async move {
        let response = http().post(path).header("x-tend-signature", signature).body(body).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    let generic = hook(&app, &format!("/webhooks/generic/{}", chat.id));
    let stale = signature::sign_generic("chat-secret", &body, now - 3600);
    assert_eq!(send(generic.clone(), body.clone(), stale).await.0, 401);
    let (status, summary) =
        send(generic.clone(), body.clone(), signature::sign_generic("chat-secret", &body, now)).await;
    assert_eq!(status, 200, "{summary}");
    assert!(summary.contains("\"stored\":2"), "{summary}");
    let unknown = hook(&app, "/webhooks/generic/00000000-0000-0000-0000-000000000000");
    assert_eq!(send(unknown, body.clone(), signature::sign_generic("chat-secret", &body, now)).await.0, 404);

    let raw = fixture("email/plain_complaint.eml");
    let email = hook(&app, &format!("/webhooks/email/{}", mailbox.id));
    let (status, summary) = send(email.clone(), raw.clone(), signature::sign_generic("mail-secret", &raw, now)).await;
    assert_eq!(status, 200, "{summary}");
    let garbage = b"\x00\x01 not a message".to_vec();
    let (status, _) = send(email, garbage.clone(), signature::sign_generic("mail-secret", &garbage, now)).await;
    assert!(status == 400 || status == 200, "{status}");
    let stored = interactions(&app).await;
    let message = stored.iter().find(|i| i.channel == i32::from(v1::Channel::Email)).expect("the email");
    assert_eq!(message.subject, "Order #48213 arrived damaged");
    assert!(message.private);
    let chat_post = stored.iter().find(|i| i.external_id == "msg-20260301-0001").expect("the chat message");
    assert_eq!(chat_post.attachments.len(), 1);
    assert_eq!(chat_post.thread_external_id, "chat-7f3a");
    app.stop().await;
}

/// Publishes a reply request as cases would.
async fn request_reply(app: &TestApp, reply_id: &str, interaction_id: &str, text: &str) {
    request_reply_as(app, reply_id, interaction_id, text, false).await;
}

/// Publishes a reply request as cases would, personalised (an incident's answer) or not.
async fn request_reply_as(app: &TestApp, reply_id: &str, interaction_id: &str, text: &str, personalize: bool) {
    let tenant = tend_kernel::TenantId::parse(TENANT).unwrap();
    let request = v1::ReplyRequested {
        reply_id: reply_id.into(),
        interaction_id: interaction_id.into(),
        text: text.into(),
        case_id: "case-1".into(),
        personalize,
        ..Default::default()
    };
    let stream = app.event_stream().await;
    stream.publish(streams::REPLIES_REQUESTED, &envelope("cases", &tenant, &request).encode_to_vec()).await.unwrap();
}

async fn delivery(app: &TestApp, reply_id: &str, status: v1::DeliveryStatus) -> v1::ReplyDelivery {
    let reply_id = reply_id.to_owned();
    eventually(&format!("reply {reply_id} {status:?}"), Duration::from_secs(20), || async {
        let request = v1::GetReplyDeliveryRequest { reply_id: reply_id.clone() };
        let found = app.channels().get_reply_delivery(as_tenant(TENANT, request)).await.ok()?.into_inner();
        (found.status == i32::from(status)).then_some(found)
    })
    .await
}

async fn stored_tweet(app: &TestApp) -> v1::Interaction {
    let body = fixture("x/tweet_create_events.json");
    assert_eq!(post_x(app, &body, Some(signature::sign_x(X_SECRET, &body))).await.0, 200);
    interactions(app).await.remove(0)
}

async fn a_reply_reaches_the_platform_once_and_waits_out_a_rate_limit(backend: Backend) {
    let created = String::from_utf8(fixture("outbound/x_tweet_created.json")).unwrap();
    let fake = FakePlatform::start(Answer::new(201, &created)).await;
    fake.script([Answer::new(429, r#"{"title":"Too Many Requests"}"#).header("retry-after", "1")]);
    let app = spawn(backend, Some(&fake), |_| {}).await;
    x_account(&app, None).await;
    let tweet = stored_tweet(&app).await;

    request_reply(&app, "reply-1", &tweet.id, "Sorry! We're on it.").await;
    let sent = delivery(&app, "reply-1", v1::DeliveryStatus::Sent).await;
    assert_eq!(sent.attempts, 2, "{sent:?}");
    assert!(sent.log.iter().any(|step| step.outcome == "rate limited"), "{:?}", sent.log);
    assert!(!sent.platform_message_id.is_empty());
    // Redelivered: nothing more is sent.
    request_reply(&app, "reply-1", &tweet.id, "Sorry! We're on it.").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let last = &requests[1];
    assert_eq!((last.method.as_str(), last.path.as_str()), ("POST", "/2/tweets"));
    assert_eq!(last.header("authorization"), Some("Bearer user-token"));
    assert_eq!(last.json()["reply"]["in_reply_to_tweet_id"], "1050118621198921728");
    let stream = app.event_stream().await;
    eventually("replies.delivered", Duration::from_secs(10), || async {
        let found = envelopes(stream.as_ref(), streams::REPLIES_DELIVERED).await;
        (found.len() == 1).then_some(())
    })
    .await;
    app.stop().await;
}

/// An incident's one answer reaches each author in their own name: ingest fills in the
/// placeholders from the post answered, and the platform gets the personal text.
async fn an_incident_answer_is_sent_in_the_authors_name(backend: Backend) {
    let created = String::from_utf8(fixture("outbound/x_tweet_created.json")).unwrap();
    let fake = FakePlatform::start(Answer::new(201, &created)).await;
    let app = spawn(backend, Some(&fake), |_| {}).await;
    x_account(&app, None).await;
    let tweet = stored_tweet(&app).await;
    let author = tweet.author.clone().unwrap();
    assert!(!author.handle.is_empty() && !author.display_name.is_empty(), "{author:?}");

    let template = "Hi {first_name} (@{handle}), the outage is fixed. {keep} braces";
    request_reply_as(&app, "answer-1.case-1", &tweet.id, template, true).await;
    delivery(&app, "answer-1.case-1", v1::DeliveryStatus::Sent).await;
    let first_name = author.display_name.split_whitespace().next().unwrap();
    let expected = format!("Hi {first_name} (@{}), the outage is fixed. {{keep}} braces", author.handle);
    assert_eq!(fake.requests().last().unwrap().json()["text"], expected.as_str());
    // Without the flag, the text goes as written.
    request_reply(&app, "reply-2", &tweet.id, "Hi {name}").await;
    delivery(&app, "reply-2", v1::DeliveryStatus::Sent).await;
    assert_eq!(fake.requests().last().unwrap().json()["text"], "Hi {name}");
    app.stop().await;
}

async fn a_quota_holds_back_a_burst_and_a_failing_api_is_reported(backend: Backend) {
    let fake = FakePlatform::start(Answer::new(503, r#"{"title":"Service Unavailable"}"#)).await;
    let created = String::from_utf8(fixture("outbound/x_tweet_created.json")).unwrap();
    fake.script([Answer::new(201, &created)]);
    let app = spawn(backend, Some(&fake), |config| config.channels.max_attempts = 2).await;
    let quota = v1::ReplyQuota { burst: 1, per: Some(prost_types::Duration { seconds: 3600, nanos: 0 }) };
    x_account(&app, Some(quota)).await;
    let tweet = stored_tweet(&app).await;

    request_reply(&app, "first", &tweet.id, "One").await;
    delivery(&app, "first", v1::DeliveryStatus::Sent).await;
    request_reply(&app, "second", &tweet.id, "Two").await;
    let stream = app.event_stream().await;
    let delayed = eventually("replies.delayed", Duration::from_secs(10), || async {
        let found = envelopes(stream.as_ref(), streams::REPLIES_DELAYED).await;
        found.first().map(|envelope| v1::ReplyDelayed::decode(envelope.payload.as_slice()).unwrap())
    })
    .await;
    assert_eq!((delayed.reply_id.as_str(), delayed.reason.as_str()), ("second", "quota"));
    let waiting = app
        .channels()
        .get_reply_delivery(as_tenant(TENANT, v1::GetReplyDeliveryRequest { reply_id: "second".into() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(waiting.status, i32::from(v1::DeliveryStatus::Queued));
    assert_eq!(fake.requests().len(), 1);

    // A wider quota lets it go; the platform then fails twice and it is reported failed.
    let wider = v1::ReplyQuota { burst: 10, per: Some(prost_types::Duration { seconds: 1, nanos: 0 }) };
    x_account(&app, Some(wider)).await;
    let failed = delivery(&app, "second", v1::DeliveryStatus::Failed).await;
    assert_eq!(failed.attempts, 2, "{failed:?}");
    eventually("replies.failed", Duration::from_secs(10), || async {
        let found = envelopes(stream.as_ref(), streams::REPLIES_FAILED).await;
        (!found.is_empty()).then_some(())
    })
    .await;
    app.stop().await;
}

async fn a_mailbox_is_polled_and_a_reply_threads_in_the_customers_mailbox(backend: Backend) {
    use tend_mailbox::testing::{self, TestFolder};
    let support = TestFolder::create("support").await;
    let customer = TestFolder::create("customer").await;
    let app = spawn(backend, None, |config| config.channels.registry_refresh = Duration::from_millis(300)).await;
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
    let account_settings = [("folder", support.name.as_str()), ("import_existing", "true"), ("poll_interval", "1s")];
    add_account(
        &app,
        v1::UpsertAccountRequest {
            app: "mail".into(),
            channel: v1::Channel::Email.into(),
            platform_account_id: support.address(),
            settings: account_settings.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            ..Default::default()
        },
    )
    .await;

    let tag = testing::tag("thread");
    let raw = format!(
        "From: Maria Schmidt <{}>\r\nTo: {}\r\nSubject: Order arrived damaged\r\n\
         Date: Wed, 02 Dec 2026 10:00:00 +0000\r\nMessage-ID: <{tag}@tests.tend.test>\r\n\
         In-Reply-To: <root-{tag}@tests.tend.test>\r\nReferences: <root-{tag}@tests.tend.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         The parcel came today and the box was crushed. Can you send a new one?\r\n",
        customer.address(),
        support.address(),
    )
    .into_bytes();
    support.append(&[raw]).await;
    let message = eventually("the polled email", Duration::from_secs(30), || async {
        interactions(&app).await.into_iter().find(|i| i.channel == i32::from(v1::Channel::Email))
    })
    .await;
    assert_eq!(message.external_id, format!("{tag}@tests.tend.test"));
    assert_eq!(message.subject, "Order arrived damaged");
    assert!(message.text.contains("box was crushed"), "{}", message.text);
    // The same message again by gRPC (naming the mailbox): one interaction.
    let mut again = tend_tests::post("maria", "The parcel came today");
    again.channel = v1::Channel::Email.into();
    again.external_id = message.external_id.clone();
    again.account = support.address();
    assert!(app.ingest().ingest_interaction(as_tenant(TENANT, again)).await.unwrap().into_inner().duplicate);

    request_reply(&app, "mail-reply-1", &message.id, "We're sending a new one today.").await;
    let sent = delivery(&app, "mail-reply-1", v1::DeliveryStatus::Sent).await;
    assert!(sent.platform_message_id.starts_with("<mail-reply-1@"), "{sent:?}");
    let reply = eventually("the reply in the customer's mailbox", Duration::from_secs(30), || async {
        let mut mailbox = customer.connect().await;
        let batch = mailbox.fetch_new(None, 10).await.unwrap();
        mailbox.logout().await;
        batch.messages.into_iter().next().map(|message| String::from_utf8_lossy(&message.raw).into_owned())
    })
    .await;
    assert!(reply.contains(&format!("In-Reply-To: <{tag}@tests.tend.test>")), "{reply}");
    assert!(reply.contains(&format!("<root-{tag}@tests.tend.test>")), "References keep the root: {reply}");
    assert!(reply.contains("Subject: Re: Order arrived damaged"), "{reply}");
    assert!(reply.contains("We're sending a new one today."), "{reply}");
    app.stop().await;
    support.remove().await;
    customer.remove().await;
}

async fn an_agent_replies_on_a_case_and_sees_it_delivered(backend: Backend) {
    let created = String::from_utf8(fixture("outbound/x_tweet_created.json")).unwrap();
    let fake = FakePlatform::start(Answer::new(201, &created)).await;
    let app = spawn(backend, Some(&fake), |_| {}).await;
    x_account(&app, None).await;
    let tweet = stored_tweet(&app).await;
    let case = tend_tests::eventually("the tweet's case", Duration::from_secs(20), || async {
        let request = v1::ListCasesRequest::default();
        let cases = app.cases().list_cases(as_tenant(TENANT, request)).await.ok()?.into_inner().cases;
        cases.into_iter().find(|case| case.interaction_ids.contains(&tweet.id))
    })
    .await;

    // The agent promised to tell the customer what happens next; the reply keeps the promise.
    let mut cases = app.cases();
    let promise = |what: &str| v1::PromiseFollowUpRequest {
        case_id: case.id.clone(),
        what: what.into(),
        due_at: Some(tend_kernel::ids::to_timestamp(chrono::Utc::now() + chrono::Duration::hours(4))),
        ..Default::default()
    };
    let promised = cases.promise_follow_up(as_tenant(TENANT, promise("what happens next"))).await.unwrap().into_inner();
    let request = |reply_id: &str, interaction_id: &str| v1::ReplyToCaseRequest {
        case_id: case.id.clone(),
        text: "So sorry! A new parcel is on its way.".into(),
        reply_id: reply_id.into(),
        interaction_id: interaction_id.into(),
        keeps_promise_id: promised.id.clone(),
        ..Default::default()
    };
    let reply = cases.reply_to_case(as_tenant(TENANT, request("agent-reply-1", ""))).await.unwrap().into_inner();
    assert_eq!(reply.interaction_id, tweet.id);
    assert_eq!(reply.status, i32::from(v1::CaseReplyStatus::Requested));
    let again = cases.reply_to_case(as_tenant(TENANT, request("agent-reply-1", ""))).await.unwrap().into_inner();
    assert_eq!(again.requested_at, reply.requested_at);
    let error = cases.reply_to_case(as_tenant(TENANT, request("agent-reply-2", "not-its"))).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument);
    let mut unknown = request("agent-reply-3", "");
    unknown.case_id = "00000000-0000-0000-0000-000000000000".into();
    assert_eq!(cases.reply_to_case(as_tenant(TENANT, unknown)).await.unwrap_err().code(), tonic::Code::NotFound);

    let delivered = tend_tests::eventually("the reply delivered on the case", Duration::from_secs(20), || async {
        let list = v1::ListCaseRepliesRequest { case_id: case.id.clone(), ..Default::default() };
        let replies = app.cases().list_case_replies(as_tenant(TENANT, list)).await.ok()?.into_inner().replies;
        replies.into_iter().find(|reply| reply.status == i32::from(v1::CaseReplyStatus::Delivered))
    })
    .await;
    assert_eq!(delivered.reply_id, "agent-reply-1");
    assert!(!delivered.platform_message_id.is_empty());
    let requests = fake.requests();
    assert_eq!(requests.len(), 1, "sent once: {requests:?}");
    assert_eq!(requests[0].json()["reply"]["in_reply_to_tweet_id"], tweet.external_id.as_str());
    // The case's timeline tells the story: opened, promise made, reply requested, reply
    // delivered by ingest, and with it the promise kept.
    let timeline = v1::ListCaseTimelineRequest { case_id: case.id.clone(), ..Default::default() };
    let entries =
        app.cases().list_case_timeline(as_tenant(TENANT, timeline.clone())).await.unwrap().into_inner().entries;
    let kinds: Vec<_> = entries.iter().map(|entry| (entry.kind(), entry.reply_id.as_str())).collect();
    use v1::CaseTimelineKind as K;
    assert_eq!(
        kinds,
        vec![
            (K::Opened, ""),
            (K::PromiseMade, ""),
            (K::ReplyRequested, "agent-reply-1"),
            (K::ReplyDelivered, "agent-reply-1"),
            (K::PromiseKept, "agent-reply-1")
        ],
        "{entries:?}"
    );
    assert_eq!(entries[2].text, "So sorry! A new parcel is on its way.");
    assert_eq!(entries[3].actor, "ingest");
    assert_eq!(entries[4].promise_id, promised.id);
    let listed =
        v1::ListPromisesRequest { case_id: case.id.clone(), view: v1::PromiseView::All.into(), ..Default::default() };
    let kept = cases.list_promises(as_tenant(TENANT, listed.clone())).await.unwrap().into_inner().promises;
    assert_eq!(kept.len(), 1);
    assert_eq!((kept[0].state(), kept[0].reply_id.as_str()), (v1::PromiseState::Kept, "agent-reply-1"));
    let get = v1::GetCaseRequest { id: case.id.clone() };
    assert_eq!(cases.get_case(as_tenant(TENANT, get.clone())).await.unwrap().into_inner().open_promises, 0);

    // A reply X refuses is failed on the case, with X's reason, for the agent to see; the
    // promise it was to keep stays open.
    fake.script([Answer::new(403, &String::from_utf8(fixture("outbound/x_duplicate.json")).unwrap())]);
    let promised = cases.promise_follow_up(as_tenant(TENANT, promise("a tracking number"))).await.unwrap().into_inner();
    let mut refused = request("agent-reply-2", "");
    refused.keeps_promise_id = promised.id.clone();
    cases.reply_to_case(as_tenant(TENANT, refused)).await.unwrap();
    let failed = tend_tests::eventually("the reply failed on the case", Duration::from_secs(20), || async {
        let list = v1::ListCaseRepliesRequest { case_id: case.id.clone(), ..Default::default() };
        let replies = app.cases().list_case_replies(as_tenant(TENANT, list)).await.ok()?.into_inner().replies;
        replies.into_iter().find(|reply| reply.status == i32::from(v1::CaseReplyStatus::Failed))
    })
    .await;
    assert_eq!(failed.reply_id, "agent-reply-2");
    assert!(failed.reason.contains("duplicate content"), "{failed:?}");
    let entries = app.cases().list_case_timeline(as_tenant(TENANT, timeline)).await.unwrap().into_inner().entries;
    let last = entries.last().unwrap();
    assert_eq!((last.kind(), last.reply_id.as_str()), (K::ReplyFailed, "agent-reply-2"));
    assert!(last.reason.contains("duplicate content"), "{last:?}");
    let promises = cases.list_promises(as_tenant(TENANT, listed)).await.unwrap().into_inner().promises;
    let open: Vec<_> = promises.iter().filter(|p| p.state() == v1::PromiseState::Open).collect();
    assert_eq!(open.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), [promised.id.as_str()]);
    assert_eq!(cases.get_case(as_tenant(TENANT, get)).await.unwrap().into_inner().open_promises, 1);

    // The case's replies come in pages, oldest first, each going on where the last stopped.
    let page = |page_size: u32, page_token: String| v1::ListCaseRepliesRequest {
        case_id: case.id.clone(),
        page_size,
        page_token,
    };
    let first = cases.list_case_replies(as_tenant(TENANT, page(1, String::new()))).await.unwrap().into_inner();
    assert_eq!(first.replies.iter().map(|r| r.reply_id.as_str()).collect::<Vec<_>>(), ["agent-reply-1"]);
    assert!(!first.next_page_token.is_empty());
    let rest = cases.list_case_replies(as_tenant(TENANT, page(5, first.next_page_token))).await.unwrap().into_inner();
    assert_eq!(rest.replies.iter().map(|r| r.reply_id.as_str()).collect::<Vec<_>>(), ["agent-reply-2"]);
    assert_eq!(rest.next_page_token, "", "the last page");
    for (size, token) in [(501, String::new()), (10, "garbage".to_owned()), (10, "12.zz".to_owned())] {
        let refused = cases.list_case_replies(as_tenant(TENANT, page(size, token))).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    }
    app.stop().await;
}

async fn sla_clocks_count_on_the_hours_of_the_account_a_post_came_in_on(backend: Backend) {
    let app = spawn(backend, None, |_| {}).await;
    add_app(&app, "x-main", v1::Platform::X, &[("consumer_secret", X_SECRET)]).await;
    // Staffed one minute a week: ten minutes of business time are ten weeks away.
    let hours = v1::AccountHours {
        time_zone: "UTC".into(),
        periods: vec![v1::StaffedPeriod { weekday: "mon".into(), start: "09:00".into(), end: "09:01".into() }],
        closed_days: vec![],
    };
    let account = add_account(
        &app,
        v1::UpsertAccountRequest {
            app: "x-main".into(),
            channel: v1::Channel::X.into(),
            platform_account_id: BRAND_X_ID.into(),
            hours: Some(hours),
            ..Default::default()
        },
    )
    .await;
    let calendar = format!("account.{}", account.id);
    eventually("routing to keep the account's hours", Duration::from_secs(20), || async {
        let listed = app.routing().list_calendars(as_tenant(TENANT, v1::ListCalendarsRequest {})).await.ok()?;
        listed.into_inner().calendars.iter().any(|c| c.name == calendar).then_some(())
    })
    .await;
    let policy = v1::SlaPolicy {
        name: "x-account-hours".into(),
        channels: vec![v1::Channel::X.into()],
        calendar: "account".into(),
        first_response: Some(prost_types::Duration { seconds: 600, nanos: 0 }),
        ..Default::default()
    };
    let put = v1::PutSlaPolicyRequest { policy: Some(policy) };
    app.routing().put_sla_policy(as_tenant(TENANT, put)).await.unwrap();
    // A calendar of that name cannot be put by hand.
    let forged = v1::PutCalendarRequest {
        calendar: Some(v1::Calendar { name: calendar.clone(), time_zone: "UTC".into(), ..Default::default() }),
        ..Default::default()
    };
    let error = app.routing().put_calendar(as_tenant(TENANT, forged)).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::InvalidArgument, "{}", error.message());

    let tweet = stored_tweet(&app).await;
    let decision = tend_tests::routed(&app, TENANT, &tweet.id).await;
    let sla = decision.outcome.unwrap().sla.unwrap();
    assert_eq!((sla.policy.as_str(), sla.calendar.as_str()), ("x-account-hours", "account"));
    let received = tweet.received_at.unwrap().seconds;
    let due = sla.first_response_due.unwrap().seconds;
    assert!(due - received > 7 * 24 * 3600, "counted on the account's hours: due {due}, received {received}");
    // The hours travel with the deadlines, and the case's clock counts to them.
    let hours = sla.hours.expect("the account's hours on the deadlines");
    assert_eq!(hours.time_zone, "UTC");
    let case = app.cases().get_case(as_tenant(TENANT, v1::GetCaseRequest { id: decision.case_id })).await;
    let case = case.unwrap().into_inner();
    let first = case.sla_clocks.iter().find(|clock| clock.kind() == v1::SlaClockKind::FirstResponse).unwrap();
    assert_eq!(first.due_at.unwrap().seconds, due);
    app.stop().await;
}

async fn x_mentions_are_polled_from_the_cursor_on(backend: Backend) {
    let mentions = String::from_utf8(fixture("x/mentions_v2.json")).unwrap();
    let fake = FakePlatform::start(Answer::new(200, r#"{"meta":{"result_count":0}}"#)).await;
    fake.script([Answer::new(200, &mentions)]);
    let app = spawn(backend, Some(&fake), |config| config.channels.registry_refresh = Duration::from_millis(300)).await;
    add_app(&app, "x-main", v1::Platform::X, &[("consumer_secret", X_SECRET), ("bearer_token", "app-bearer")]).await;
    let settings = [("poll_mentions", "true"), ("poll_interval", "1s")];
    add_account(
        &app,
        v1::UpsertAccountRequest {
            app: "x-main".into(),
            channel: v1::Channel::X.into(),
            platform_account_id: BRAND_X_ID.into(),
            settings: settings.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            ..Default::default()
        },
    )
    .await;
    let polled = eventually("the polled mentions", Duration::from_secs(20), || async {
        let found = interactions(&app).await;
        (found.len() == 2).then_some(found)
    })
    .await;
    assert!(polled.iter().all(|i| i.author.as_ref().unwrap().external_id != BRAND_X_ID), "the brand's own is skipped");
    let since = eventually("a poll from the cursor", Duration::from_secs(20), || async {
        fake.requests().into_iter().find(|request| request.path.contains("since_id=1296888000000000000"))
    })
    .await;
    let first = &fake.requests()[0];
    assert!(first.path.starts_with(&format!("/2/users/{BRAND_X_ID}/mentions?")), "{}", first.path);
    assert!(first.path.contains("expansions=author_id"), "{}", first.path);
    assert_eq!(first.header("authorization"), Some("Bearer app-bearer"));
    assert!(!since.path.contains("pagination_token"), "{}", since.path);
    assert_eq!(interactions(&app).await.len(), 2);
    app.stop().await;
}

/// An Instagram mention comes as ids: its text and author are read from the Graph API with the
/// account's token. A Graph API failure fails the delivery (503, nothing stored) so that Meta
/// sends it again; a mention the API will not show is refused alone. A reply to a mention goes
/// through the account's `mentions` edge.
async fn instagram_mentions_are_read_from_the_graph_api_and_answered(backend: Backend) {
    const IG: &str = "17841405822304914";
    let fake = FakePlatform::start(Answer::new(200, r#"{"id":"17846319838228163"}"#)).await;
    let app = spawn(backend, Some(&fake), |_| {}).await;
    add_app(&app, "meta", v1::Platform::Meta, &[("app_secret", META_SECRET), ("verify_token", "v")]).await;
    add_account(
        &app,
        v1::UpsertAccountRequest {
            app: "meta".into(),
            channel: v1::Channel::Instagram.into(),
            platform_account_id: IG.into(),
            secrets: [("access_token".to_owned(), value("page-token"))].into(),
            ..Default::default()
        },
    )
    .await;
    let send = |body: Vec<u8>| {
        let request = http()
            .post(hook(&app, "/webhooks/meta"))
            .header("x-hub-signature-256", signature::sign_meta(META_SECRET, &body))
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let comment = String::from_utf8(fixture("meta/graph_mentioned_comment.json")).unwrap();
    let media = String::from_utf8(fixture("meta/graph_mentioned_media.json")).unwrap();
    let mentions = fixture("meta/instagram_mentions.json");

    // The caption's lookup fails: nothing is stored, not even the comment read before it.
    fake.script([Answer::new(200, &comment), Answer::new(500, r#"{"error":{"message":"An unknown error","code":1}}"#)]);
    let (status, body) = send(mentions.clone()).await;
    assert_eq!(status, 503, "{body}");
    assert!(interactions(&app).await.is_empty());

    // Meta sends it again.
    fake.script([Answer::new(200, &comment), Answer::new(200, &media)]);
    let (status, body) = send(mentions.clone()).await;
    assert_eq!(status, 200, "{body}");
    let lookups = fake.requests();
    assert_eq!(lookups.len(), 4, "{lookups:?}");
    let first = &lookups[2];
    assert_eq!(first.method, "GET");
    assert!(first.path.starts_with(&format!("/{IG}?fields=mentioned_comment.comment_id(17894227972186120)")));
    assert_eq!(first.header("authorization"), Some("Bearer page-token"));
    assert!(lookups[3].path.contains("mentioned_media.media_id(17918195224117999)"), "{}", lookups[3].path);
    let stored = interactions(&app).await;
    assert_eq!(stored.len(), 2, "{stored:?}");
    let in_comment = stored.iter().find(|i| i.external_id == "17894227972186120").expect("the comment mention");
    assert_eq!(in_comment.text, "@acme_care my order 4471 never arrived and nobody answers email");
    assert_eq!(in_comment.author.as_ref().unwrap().handle, "jane.doe");
    let in_caption = stored.iter().find(|i| i.external_id == "17918195224117999").expect("the caption mention");
    assert_eq!(in_caption.author.as_ref().unwrap().handle, "kettle.fan");

    // A mention deleted before it was read: refused alone, and Meta is told not to send it again.
    let gone = br#"{"object":"instagram","entry":[{"id":"17841405822304914","time":1520383700,
        "changes":[{"field":"mentions","value":{"media_id":"17918195224117851","comment_id":"17894227972186999"}}]}]}"#;
    fake.script([Answer::new(
        400,
        r#"{"error":{"message":"Unsupported get request. Object with ID '17894227972186999' does not exist","type":"GraphMethodException","code":100,"error_subcode":33}}"#,
    )]);
    let (status, body) = send(gone.to_vec()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("does not exist"), "{body}");
    assert_eq!(interactions(&app).await.len(), 2);

    // A reply to the comment mention goes through the mentions edge, on the mentioning media.
    request_reply(&app, "reply-ig", &in_comment.id, "So sorry, Jane! We've sent you a DM.").await;
    let sent = delivery(&app, "reply-ig", v1::DeliveryStatus::Sent).await;
    assert_eq!(sent.platform_message_id, "17846319838228163");
    let reply = fake.requests().pop().unwrap();
    assert_eq!((reply.method.as_str(), reply.path.as_str()), ("POST", format!("/{IG}/mentions").as_str()));
    assert_eq!(
        reply.json(),
        serde_json::json!({
            "media_id": "17918195224117851",
            "comment_id": "17894227972186120",
            "message": "So sorry, Jane! We've sent you a DM."
        })
    );
    app.stop().await;
}

/// Every platform fixture through its webhook: each post the adapter reads is stored for its
/// account as it read it (an edit of a post never seen as a new one, a deletion as a
/// tombstone), each event it skips is counted as skipped, and nothing else is stored.
async fn every_fixture_enters_through_its_webhook(backend: Backend) {
    let app = spawn(backend, None, |_| {}).await;
    add_app(&app, "x-main", v1::Platform::X, &[("consumer_secret", X_SECRET)]).await;
    add_app(&app, "meta", v1::Platform::Meta, &[("app_secret", META_SECRET), ("verify_token", "v")]).await;
    add_app(&app, "sources", v1::Platform::Generic, &[("signing_secret", "generic-secret")]).await;
    let mut ids = std::collections::HashMap::new();
    for (app_name, channel, platform_id) in [
        ("x-main", v1::Channel::X, BRAND_X_ID),
        ("x-main", v1::Channel::X, "4337869213"),
        ("x-main", v1::Channel::X, "930524282358325248"),
        ("meta", v1::Channel::Facebook, PAGE_ID),
        ("meta", v1::Channel::Instagram, "17841405822304914"),
        ("sources", v1::Channel::Chat, "source-1"),
        ("sources", v1::Channel::Review, "source-1"),
    ] {
        let request = v1::UpsertAccountRequest {
            app: app_name.into(),
            channel: channel.into(),
            platform_account_id: platform_id.into(),
            ..Default::default()
        };
        ids.insert((channel, platform_id), add_account(&app, request).await.id);
    }
    let now = chrono::Utc::now().timestamp();
    let fixtures: [(&str, &str); 19] = [
        ("x", "x/tweet_create_events.json"),
        ("x", "x/tweet_create_quote.json"),
        ("x", "x/tweet_create_retweet.json"),
        ("x", "x/tweet_create_own.json"),
        ("x", "x/direct_message_events.json"),
        ("x", "x/favorite_events.json"),
        ("x", "x/tweet_delete_events.json"),
        ("meta", "meta/page_feed_post_add.json"),
        ("meta", "meta/page_feed_comment_add.json"),
        ("meta", "meta/page_feed_comment_reply.json"),
        ("meta", "meta/page_feed_comment_edited.json"),
        ("meta", "meta/messenger_message.json"),
        ("meta", "meta/messenger_message_edit.json"),
        ("meta", "meta/messenger_echo.json"),
        ("meta", "meta/instagram_comments.json"),
        ("meta", "meta/instagram_messages.json"),
        ("chat", "generic/message.json"),
        ("review", "generic/review.json"),
        ("review", "generic/edit.json"),
    ];
    let mut expected = Vec::new();
    for (kind, path) in fixtures {
        let body = fixture(path);
        let (parsed, request) = match kind {
            "x" => (
                tend_channels::x::parse_account_activity(&body).unwrap(),
                http()
                    .post(hook(&app, "/webhooks/x"))
                    .header("x-twitter-webhooks-signature", signature::sign_x(X_SECRET, &body)),
            ),
            "meta" => (
                tend_channels::meta::parse(&body).unwrap(),
                http()
                    .post(hook(&app, "/webhooks/meta"))
                    .header("x-hub-signature-256", signature::sign_meta(META_SECRET, &body)),
            ),
            generic => {
                let channel = if generic == "chat" { v1::Channel::Chat } else { v1::Channel::Review };
                let account = &ids[&(channel, "source-1")];
                (
                    tend_channels::generic::parse("source-1", &body).unwrap(),
                    http()
                        .post(hook(&app, &format!("/webhooks/generic/{account}")))
                        .header("x-tend-signature", signature::sign_generic("generic-secret", &body, now)),
                )
            }
        };
        let response = request.body(body).send().await.unwrap();
        let status = response.status().as_u16();
        let summary: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
        assert_eq!(status, 200, "{path}: {summary}");
        assert_eq!(summary["skipped"], parsed.skipped.len(), "{path}: {summary}");
        expected.extend(parsed.posts.into_iter().map(|post| (path, post)));
    }
    // What each post should be once every delivery is in: the last text, the first author,
    // deleted if a deletion came.
    struct Final<'a> {
        path: &'a str,
        account: String,
        author: String,
        text: String,
        private: bool,
        deleted: bool,
    }
    let mut finals: std::collections::HashMap<(v1::Channel, String), Final<'_>> = std::collections::HashMap::new();
    for (path, post) in &expected {
        let channel = tend_tests_channel(post.channel);
        let entry = finals.entry((channel, post.external_id.clone())).or_insert_with(|| Final {
            path,
            account: ids[&(channel, post.account_id.as_str())].clone(),
            author: post.author.id.clone(),
            text: String::new(),
            private: post.private,
            deleted: false,
        });
        match post.change {
            tend_channels::Change::Deleted => entry.deleted = true,
            _ => entry.text = post.text.trim().to_owned(),
        }
    }
    let stored = interactions(&app).await;
    for ((channel, external_id), want) in &finals {
        let path = want.path;
        let found = stored
            .iter()
            .find(|i| i.channel == i32::from(*channel) && &i.external_id == external_id)
            .unwrap_or_else(|| panic!("{path}: {external_id} not stored"));
        assert_eq!(found.account, want.account, "{path}");
        if want.deleted {
            assert!(found.deleted_at.is_some() && found.text.is_empty(), "{path}: {found:?}");
        } else {
            assert_eq!(found.author.as_ref().unwrap().external_id, want.author, "{path}");
            assert_eq!(found.text, want.text, "{path}");
            assert_eq!(found.private, want.private, "{path}");
        }
    }
    assert_eq!(stored.len(), finals.len(), "nothing but the fixtures' posts is stored");
    app.stop().await;
}

fn tend_tests_channel(channel: tend_channels::Channel) -> v1::Channel {
    match channel {
        tend_channels::Channel::X => v1::Channel::X,
        tend_channels::Channel::Facebook => v1::Channel::Facebook,
        tend_channels::Channel::Instagram => v1::Channel::Instagram,
        tend_channels::Channel::Email => v1::Channel::Email,
        tend_channels::Channel::Chat => v1::Channel::Chat,
        tend_channels::Channel::Review => v1::Channel::Review,
    }
}

on_both_backends!(
    every_fixture_enters_through_its_webhook,
    instagram_mentions_are_read_from_the_graph_api_and_answered,
    x_mentions_are_polled_from_the_cursor_on,
    sla_clocks_count_on_the_hours_of_the_account_a_post_came_in_on,
    an_agent_replies_on_a_case_and_sees_it_delivered,
    a_mailbox_is_polled_and_a_reply_threads_in_the_customers_mailbox,
    the_registry_checks_what_it_is_given_and_never_returns_secrets,
    x_deliveries_are_verified_stored_once_and_tombstoned,
    meta_handshake_edits_and_removals,
    generic_and_email_deliveries_are_signed_within_the_window,
    a_reply_reaches_the_platform_once_and_waits_out_a_rate_limit,
    a_quota_holds_back_a_burst_and_a_failing_api_is_reported,
    an_incident_answer_is_sent_in_the_authors_name,
);

/// Every process keeps the whole channel registry in memory, so a tenant registers at most 100
/// apps: the 101st name is RESOURCE_EXHAUSTED; an existing app can still be changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_registers_at_most_100_apps() {
    let app = spawn(Backend::Embedded, None, |_| {}).await;
    for n in 0..100 {
        add_app(&app, &format!("chat-{n}"), v1::Platform::Generic, &[]).await;
    }
    let request =
        v1::UpsertAppRequest { name: "chat-100".into(), platform: v1::Platform::Generic.into(), ..Default::default() };
    let refused = app.channels().upsert_app(as_tenant(TENANT, request)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("100 channel apps"), "{}", refused.message());
    add_app(&app, "chat-7", v1::Platform::Generic, &[]).await;
    app.stop().await;
}
