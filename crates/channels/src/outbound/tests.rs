//! Request shapes, outcomes and build errors, against responses shaped like the platforms'
//! documented ones (`tests/fixtures/outbound/`).

use std::time::Duration;

use chrono::DateTime;
use serde_json::{Value, json};

use super::*;
use crate::signature::{DEFAULT_REPLAY_WINDOW, verify_generic};

const NOW: i64 = 1_700_000_000;

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/outbound/", $name)).as_slice()
    };
}

fn reply(channel: Channel, kind: ReplyKind) -> Reply {
    let mut reply = Reply::new("0190f3a2-7b6c-7d2e-9f10-1a2b3c4d5e6f", channel, kind, "");
    reply.text = "Sorry about the wait! Could you send us your order number?".to_owned();
    match (channel, kind) {
        (Channel::X, ReplyKind::Public) => {
            reply.account_id = "2244994945".into();
            reply.in_reply_to = "1445880548472328191".into();
        }
        (Channel::X, ReplyKind::Private) => {
            reply.account_id = "2244994945".into();
            reply.recipient_id = "1346889436626259968".into();
        }
        (Channel::Facebook, ReplyKind::Public) => {
            reply.account_id = "1353269864728879".into();
            reply.in_reply_to = "1353269864728879_1126125934899477".into();
        }
        (Channel::Facebook, ReplyKind::Private) => {
            reply.account_id = "1353269864728879".into();
            reply.recipient_id = "1254477777772919".into();
        }
        (Channel::Instagram, ReplyKind::Public) => {
            reply.account_id = "17841405822304914".into();
            reply.in_reply_to = "17870913679156914".into();
        }
        (Channel::Instagram, ReplyKind::Private) => {
            reply.account_id = "17841405822304914".into();
            reply.recipient_id = "526401234567890".into();
        }
        (Channel::Chat | Channel::Review | Channel::Email, _) => {
            reply.account_id = "widget-7".into();
            reply.in_reply_to = "msg-90210".into();
            reply.thread_id = "session-31".into();
            reply.recipient_id = "visitor-17".into();
        }
    }
    reply
}

fn token() -> Credentials {
    Credentials { access_token: "EAAB-token.123".into(), ..Credentials::default() }
}

fn callback() -> Credentials {
    Credentials {
        signing_secret: "whsec_reply".into(),
        callback_url: "https://chat.example.com/tend/replies".into(),
        ..Credentials::default()
    }
}

fn build(reply: &Reply, credentials: &Credentials) -> HttpRequest {
    request(reply, credentials, &BaseUrls::default(), NOW).unwrap()
}

fn body_json(request: &HttpRequest) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn bearer_headers() -> Vec<(String, String)> {
    headers(&[("Authorization", "Bearer EAAB-token.123"), ("Content-Type", "application/json")])
}

fn failed(outcome: Outcome) -> String {
    match outcome {
        Outcome::Failed { reason } => reason,
        other => panic!("expected Failed, got {other:?}"),
    }
}

fn retry(outcome: Outcome) -> (String, Option<Duration>) {
    match outcome {
        Outcome::Retry { reason, after } => (reason, after),
        other => panic!("expected Retry, got {other:?}"),
    }
}

fn sent(id: &str) -> Outcome {
    Outcome::Sent { platform_id: id.to_owned() }
}

// ---- requests -------------------------------------------------------------------------------

#[test]
fn x_reply_tweet() {
    let http = build(&reply(Channel::X, ReplyKind::Public), &token());
    assert_eq!(http.method, "POST");
    assert_eq!(http.url, "https://api.x.com/2/tweets");
    assert_eq!(http.headers, bearer_headers());
    assert_eq!(
        body_json(&http),
        json!({
            "text": "Sorry about the wait! Could you send us your order number?",
            "reply": {"in_reply_to_tweet_id": "1445880548472328191"}
        })
    );
}

#[test]
fn x_direct_message() {
    let http = build(&reply(Channel::X, ReplyKind::Private), &token());
    assert_eq!(http.method, "POST");
    assert_eq!(http.url, "https://api.x.com/2/dm_conversations/with/1346889436626259968/messages");
    assert_eq!(http.headers, bearer_headers());
    assert_eq!(body_json(&http), json!({"text": "Sorry about the wait! Could you send us your order number?"}));
}

#[test]
fn facebook_comment_reply() {
    let http = build(&reply(Channel::Facebook, ReplyKind::Public), &token());
    assert_eq!(http.method, "POST");
    assert_eq!(http.url, "https://graph.facebook.com/v21.0/1353269864728879_1126125934899477/comments");
    assert_eq!(http.headers, bearer_headers());
    assert_eq!(body_json(&http), json!({"message": "Sorry about the wait! Could you send us your order number?"}));
    assert!(!http.url.contains("access_token"));
}

#[test]
fn messenger_message() {
    let http = build(&reply(Channel::Facebook, ReplyKind::Private), &token());
    assert_eq!(http.url, "https://graph.facebook.com/v21.0/1353269864728879/messages");
    assert_eq!(http.headers, bearer_headers());
    assert_eq!(
        body_json(&http),
        json!({
            "recipient": {"id": "1254477777772919"},
            "messaging_type": "RESPONSE",
            "message": {"text": "Sorry about the wait! Could you send us your order number?"}
        })
    );
}

#[test]
fn instagram_comment_reply() {
    let http = build(&reply(Channel::Instagram, ReplyKind::Public), &token());
    assert_eq!(http.url, "https://graph.facebook.com/v21.0/17870913679156914/replies");
    assert_eq!(http.headers, bearer_headers());
    assert_eq!(body_json(&http), json!({"message": "Sorry about the wait! Could you send us your order number?"}));
}

#[test]
fn instagram_mention_replies_go_through_the_mentions_edge() {
    let mut in_comment = reply(Channel::Instagram, ReplyKind::Public);
    in_comment.thread_id = format!("{}17918195224117851", crate::meta::MENTION_THREAD_PREFIX);
    let http = build(&in_comment, &token());
    assert_eq!(http.url, format!("https://graph.facebook.com/v21.0/{}/mentions", in_comment.account_id));
    assert_eq!(http.headers, bearer_headers());
    assert_eq!(
        body_json(&http),
        json!({
            "media_id": "17918195224117851",
            "comment_id": "17870913679156914",
            "message": "Sorry about the wait! Could you send us your order number?"
        })
    );
    let mut in_caption = in_comment.clone();
    in_caption.in_reply_to = "17918195224117851".into();
    let http = build(&in_caption, &token());
    assert_eq!(
        body_json(&http),
        json!({"media_id": "17918195224117851", "message": "Sorry about the wait! Could you send us your order number?"})
    );
}

#[test]
fn instagram_message_goes_through_the_page() {
    let http = build(&reply(Channel::Instagram, ReplyKind::Private), &token());
    assert_eq!(http.url, "https://graph.facebook.com/v21.0/me/messages");
    assert_eq!(http.headers, bearer_headers());
    assert_eq!(
        body_json(&http),
        json!({
            "recipient": {"id": "526401234567890"},
            "messaging_type": "RESPONSE",
            "message": {"text": "Sorry about the wait! Could you send us your order number?"}
        })
    );
}

#[test]
fn base_urls_can_point_at_a_simulator() {
    let bases = BaseUrls { x: "http://127.0.0.1:9000/x/".into(), meta: "http://127.0.0.1:9000/graph/v99.0/".into() };
    let x = request(&reply(Channel::X, ReplyKind::Public), &token(), &bases, NOW).unwrap();
    assert_eq!(x.url, "http://127.0.0.1:9000/x/2/tweets");
    let fb = request(&reply(Channel::Facebook, ReplyKind::Public), &token(), &bases, NOW).unwrap();
    assert_eq!(fb.url, "http://127.0.0.1:9000/graph/v99.0/1353269864728879_1126125934899477/comments");
}

#[test]
fn generic_callback_is_signed() {
    let reply = reply(Channel::Chat, ReplyKind::Private);
    let http = build(&reply, &callback());
    assert_eq!(http.method, "POST");
    assert_eq!(http.url, "https://chat.example.com/tend/replies");
    let names: Vec<&str> = http.headers.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["Content-Type", "Idempotency-Key", "X-Tend-Signature"]);
    assert_eq!(http.header("content-type"), Some("application/json"));
    assert_eq!(http.header("idempotency-key"), Some("0190f3a2-7b6c-7d2e-9f10-1a2b3c4d5e6f"));
    assert_eq!(
        body_json(&http),
        json!({
            "type": "reply",
            "reply_id": "0190f3a2-7b6c-7d2e-9f10-1a2b3c4d5e6f",
            "channel": "chat",
            "kind": "private",
            "account": "widget-7",
            "in_reply_to": "msg-90210",
            "thread_id": "session-31",
            "recipient": "visitor-17",
            "text": "Sorry about the wait! Could you send us your order number?"
        })
    );
    // The receiver verifies it with the inbound scheme.
    let signature = http.header("x-tend-signature").unwrap();
    assert!(signature.starts_with(&format!("t={NOW},v1=")));
    let at = DateTime::from_timestamp(NOW + 10, 0).unwrap();
    assert_eq!(verify_generic("whsec_reply", &http.body, Some(signature), at, DEFAULT_REPLAY_WINDOW), Ok(()));
    assert!(verify_generic("other", &http.body, Some(signature), at, DEFAULT_REPLAY_WINDOW).is_err());
}

#[test]
fn generic_review_reply_leaves_out_empty_fields() {
    let mut reply = reply(Channel::Review, ReplyKind::Public);
    reply.thread_id.clear();
    reply.recipient_id.clear();
    let http = build(&reply, &callback());
    let body = body_json(&http);
    assert_eq!(body["channel"], "review");
    assert_eq!(body["kind"], "public");
    assert_eq!(body["in_reply_to"], "msg-90210");
    assert!(body.get("thread_id").is_none() && body.get("recipient").is_none());
}

#[test]
fn generic_private_reply_may_name_only_the_thread() {
    let mut reply = reply(Channel::Chat, ReplyKind::Private);
    reply.recipient_id.clear();
    assert!(request(&reply, &callback(), &BaseUrls::default(), NOW).is_ok());
    reply.thread_id.clear();
    assert_eq!(
        request(&reply, &callback(), &BaseUrls::default(), NOW),
        Err(BuildError::MissingRecipient { channel: "chat", also: " or thread_id" })
    );
}

#[test]
fn callback_schema_is_json_and_names_every_field() {
    let schema: Value = serde_json::from_str(CALLBACK_SCHEMA).unwrap();
    let properties = schema["properties"].as_object().unwrap();
    let http = build(&reply(Channel::Chat, ReplyKind::Private), &callback());
    for key in body_json(&http).as_object().unwrap().keys() {
        assert!(properties.contains_key(key), "{key} is not in the schema");
    }
    for required in schema["required"].as_array().unwrap() {
        assert!(body_json(&http).get(required.as_str().unwrap()).is_some());
    }
}

#[test]
fn debug_output_hides_secrets() {
    let credentials = Credentials { access_token: "secret-token".into(), ..callback() };
    let http = build(&reply(Channel::X, ReplyKind::Public), &credentials);
    let shown = format!("{credentials:?} {http:?}");
    assert!(!shown.contains("secret-token") && !shown.contains("whsec_reply"), "{shown}");
    assert!(shown.contains("https://api.x.com/2/tweets"));
}

// ---- build errors ---------------------------------------------------------------------------

fn build_error(reply: &Reply, credentials: &Credentials) -> BuildError {
    request(reply, credentials, &BaseUrls::default(), NOW).unwrap_err()
}

#[test]
fn email_is_not_http() {
    let error = build_error(&reply(Channel::Email, ReplyKind::Private), &token());
    assert_eq!(error, BuildError::NotHttp);
    assert!(error.to_string().contains("SMTP"));
}

#[test]
fn empty_text() {
    let mut reply = reply(Channel::X, ReplyKind::Public);
    reply.text = " \n\t ".into();
    assert_eq!(build_error(&reply, &token()), BuildError::EmptyText);
}

#[test]
fn text_limits_per_platform() {
    let cases = [
        (Channel::X, ReplyKind::Public, "é".repeat(280), "é".repeat(281)),
        (Channel::X, ReplyKind::Private, "a".repeat(10_000), "a".repeat(10_001)),
        (Channel::Facebook, ReplyKind::Public, "a".repeat(8_000), "a".repeat(8_001)),
        (Channel::Facebook, ReplyKind::Private, "a".repeat(2_000), "a".repeat(2_001)),
        (Channel::Instagram, ReplyKind::Public, "a".repeat(2_200), "a".repeat(2_201)),
        // 1000 bytes: 500 two-byte characters fit, 501 do not.
        (Channel::Instagram, ReplyKind::Private, "é".repeat(500), "é".repeat(501)),
        (Channel::Chat, ReplyKind::Private, "a".repeat(65_536), "a".repeat(65_537)),
    ];
    for (channel, kind, longest, too_long) in cases {
        let credentials = if matches!(channel, Channel::Chat) { callback() } else { token() };
        let mut reply = reply(channel, kind);
        reply.text = longest;
        assert!(request(&reply, &credentials, &BaseUrls::default(), NOW).is_ok(), "{channel:?} {kind:?}");
        reply.text = too_long;
        let error = build_error(&reply, &credentials);
        assert!(matches!(error, BuildError::TooLong { .. }), "{channel:?} {kind:?}: {error}");
    }
    let mut reply = reply(Channel::X, ReplyKind::Public);
    reply.text = "a".repeat(281);
    assert_eq!(
        build_error(&reply, &token()).to_string(),
        "the reply is 281 characters long; X takes at most 280: shorten it"
    );
    assert_eq!(text_limit(Channel::Email, ReplyKind::Private), None);
}

#[test]
fn public_replies_need_what_they_answer() {
    for channel in [Channel::X, Channel::Facebook, Channel::Instagram, Channel::Review] {
        let mut reply = reply(channel, ReplyKind::Public);
        reply.in_reply_to.clear();
        let credentials = if channel == Channel::Review { callback() } else { token() };
        let error = build_error(&reply, &credentials);
        assert!(matches!(error, BuildError::MissingInReplyTo { .. }), "{channel:?}: {error}");
        assert!(error.to_string().contains("in_reply_to"));
    }
}

#[test]
fn private_messages_need_a_recipient() {
    for channel in [Channel::X, Channel::Facebook, Channel::Instagram] {
        let mut reply = reply(channel, ReplyKind::Private);
        reply.recipient_id.clear();
        let error = build_error(&reply, &token());
        assert!(matches!(error, BuildError::MissingRecipient { also: "", .. }), "{channel:?}: {error}");
    }
}

#[test]
fn path_ids_are_plain() {
    let mut reply = reply(Channel::Facebook, ReplyKind::Public);
    reply.in_reply_to = "../me/feed".into();
    let error = build_error(&reply, &token());
    assert_eq!(error, BuildError::InvalidId { field: "in_reply_to", excerpt: "../me/feed".into() });
    let mut reply = self::reply(Channel::X, ReplyKind::Private);
    reply.recipient_id = "123?x=1".into();
    assert!(matches!(build_error(&reply, &token()), BuildError::InvalidId { field: "recipient_id", .. }));
    let mut reply = self::reply(Channel::Facebook, ReplyKind::Private);
    reply.account_id = String::new();
    assert!(matches!(build_error(&reply, &token()), BuildError::InvalidId { field: "account_id", .. }));
}

#[test]
fn tokens_must_be_present_and_header_safe() {
    let reply = reply(Channel::Instagram, ReplyKind::Public);
    let error = build_error(&reply, &Credentials::default());
    assert_eq!(error, BuildError::MissingAccessToken { channel: "Instagram" });
    assert!(error.to_string().contains("connect the account"));
    let bad = Credentials { access_token: "abc\r\nX-Evil: 1".into(), ..Credentials::default() };
    assert_eq!(build_error(&reply, &bad), BuildError::InvalidAccessToken { channel: "Instagram" });
}

#[test]
fn callbacks_need_a_url_and_a_secret() {
    let reply = reply(Channel::Chat, ReplyKind::Private);
    let without_url = Credentials { callback_url: String::new(), ..callback() };
    assert_eq!(build_error(&reply, &without_url), BuildError::MissingCallbackUrl { channel: "chat" });
    let without_secret = Credentials { signing_secret: String::new(), ..callback() };
    assert_eq!(build_error(&reply, &without_secret), BuildError::MissingSigningSecret { channel: "chat" });
    for url in [
        "ftp://chat.example.com/x",
        "chat.example.com/replies",
        "https:///replies",
        "https://exa mple.com/",
        "javascript:alert(1)",
    ] {
        let credentials = Credentials { callback_url: url.into(), ..callback() };
        let error = build_error(&reply, &credentials);
        assert!(matches!(error, BuildError::InvalidCallbackUrl { .. }), "{url}: {error}");
        assert!(error.to_string().contains("http://"));
    }
    let with_password = Credentials { callback_url: "https://tend:hunter2@chat.example.com/r".into(), ..callback() };
    let error = build_error(&reply, &with_password);
    assert_eq!(error, BuildError::CallbackUrlWithCredentials);
    assert!(!error.to_string().contains("hunter2"));
    for url in ["HTTP://localhost:8080/replies", "https://[::1]:8443/r?source=tend", " https://chat.example.com "] {
        let credentials = Credentials { callback_url: url.into(), ..callback() };
        assert!(request(&reply, &credentials, &BaseUrls::default(), NOW).is_ok(), "{url}");
    }
}

// ---- outcomes: sent -------------------------------------------------------------------------

#[test]
fn sent_ids() {
    let cases = [
        (Channel::X, ReplyKind::Public, 201, fixture!("x_tweet_created.json"), "1445880548472328192"),
        (Channel::X, ReplyKind::Private, 201, fixture!("x_dm_created.json"), "1582103724607971328"),
        (
            Channel::Facebook,
            ReplyKind::Public,
            200,
            fixture!("meta_comment_created.json"),
            "1353269864728879_1126125934899478",
        ),
        (
            Channel::Facebook,
            ReplyKind::Private,
            200,
            fixture!("meta_message_sent.json"),
            "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P",
        ),
        (Channel::Instagram, ReplyKind::Public, 200, fixture!("instagram_reply_created.json"), "17873440459141021"),
        (
            Channel::Instagram,
            ReplyKind::Private,
            200,
            fixture!("meta_message_sent.json"),
            "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P",
        ),
        (Channel::Chat, ReplyKind::Private, 200, fixture!("generic_accepted.json"), "msg-90211"),
    ];
    for (channel, kind, status, body, id) in cases {
        assert_eq!(outcome(&reply(channel, kind), status, &[], body, NOW), sent(id), "{channel:?} {kind:?}");
    }
}

#[test]
fn generic_without_an_id_is_sent_as_the_reply_id() {
    let reply = reply(Channel::Review, ReplyKind::Public);
    for body in [&b""[..], b"OK", b"{}", br#"{"id": ""}"#] {
        assert_eq!(outcome(&reply, 204, &[], body, NOW), sent(&reply.reply_id));
    }
    assert_eq!(outcome(&reply, 201, &[], br#"{"id": 4417}"#, NOW), sent("4417"));
}

#[test]
fn success_without_an_id_fails_loudly() {
    // The tweet's id is data.id, not a DM's dm_event_id.
    let reason = failed(outcome(&reply(Channel::X, ReplyKind::Public), 201, &[], fixture!("x_dm_created.json"), NOW));
    assert!(reason.contains("X answered 201 without data.id"), "{reason}");
    assert!(reason.contains("may or may not be posted"), "{reason}");
    let reason = failed(outcome(&reply(Channel::Facebook, ReplyKind::Private), 200, &[], b"{}", NOW));
    assert!(reason.contains("without message_id"), "{reason}");
    let reason = failed(outcome(&reply(Channel::Instagram, ReplyKind::Public), 200, &[], b"<html>ok</html>", NOW));
    assert!(reason.contains("without id") && reason.contains("<html>ok</html>"), "{reason}");
}

// ---- outcomes: retry ------------------------------------------------------------------------

#[test]
fn too_many_requests_with_retry_after_seconds() {
    let reply = reply(Channel::Chat, ReplyKind::Private);
    let (reason, after) = retry(outcome(&reply, 429, &headers(&[("Retry-After", "30")]), b"", NOW));
    assert_eq!(after, Some(Duration::from_secs(30)));
    assert_eq!(reason, "chat answered 429: too many requests");
}

#[test]
fn too_many_requests_with_retry_after_date() {
    let reply = reply(Channel::Facebook, ReplyKind::Private);
    // NOW is Tue, 14 Nov 2023 22:13:20 GMT.
    let h = headers(&[("retry-after", "Tue, 14 Nov 2023 22:15:00 GMT")]);
    let (_, after) = retry(outcome(&reply, 429, &h, b"", NOW));
    assert_eq!(after, Some(Duration::from_secs(100)));
}

#[test]
fn x_rate_limit_reset() {
    let reply = reply(Channel::X, ReplyKind::Public);
    let reset = (NOW + 420).to_string();
    let h = headers(&[
        ("x-rate-limit-limit", "100"),
        ("X-Rate-Limit-Remaining", "0"),
        ("X-Rate-Limit-Reset", reset.as_str()),
    ]);
    let (reason, after) = retry(outcome(&reply, 429, &h, fixture!("x_too_many_requests.json"), NOW));
    assert_eq!(after, Some(Duration::from_secs(420)));
    assert_eq!(reason, "X answered 429: Too Many Requests");
    // A reset already past: retry at once.
    let h = headers(&[("x-rate-limit-reset", "1699999000")]);
    assert_eq!(retry(outcome(&reply, 429, &h, b"", NOW)).1, Some(Duration::ZERO));
}

#[test]
fn server_errors_and_timeouts_retry() {
    let reply = reply(Channel::X, ReplyKind::Private);
    for status in [500, 502, 503, 504, 408] {
        let (reason, after) = retry(outcome(&reply, status, &[], b"", NOW));
        assert!(reason.starts_with(&format!("X answered {status}")), "{reason}");
        assert_eq!(after, None);
    }
    let (_, after) = retry(outcome(&reply, 503, &headers(&[("Retry-After", "5")]), b"upstream down", NOW));
    assert_eq!(after, Some(Duration::from_secs(5)));
}

#[test]
fn meta_rate_limit_codes_retry() {
    let reply = reply(Channel::Facebook, ReplyKind::Public);
    let (reason, after) = retry(outcome(&reply, 400, &[], fixture!("meta_page_rate_limit.json"), NOW));
    assert_eq!(reason, "Facebook answered 400, rate limited: (#32) Page request limit reached (code 32)");
    assert_eq!(after, None);
    for code in [4, 17, 32, 613, 80001, 80002, 80006] {
        let body = json!({"error": {"message": "limit", "type": "OAuthException", "code": code}}).to_string();
        for status in [400, 403] {
            let (reason, _) = retry(outcome(&reply, status, &[], body.as_bytes(), NOW));
            assert!(reason.contains("rate limited"), "{code} {status}: {reason}");
        }
    }
    // Meta's estimate of when access comes back is the wait.
    let usage = r#"{"1353269864728879":[{"type":"pages","call_count":100,"total_cputime":12,"total_time":20,"estimated_time_to_regain_access":7}]}"#;
    let h = headers(&[("X-Business-Use-Case-Usage", usage)]);
    let (_, after) = retry(outcome(&reply, 400, &h, fixture!("meta_page_rate_limit.json"), NOW));
    assert_eq!(after, Some(Duration::from_secs(7 * 60)));
}

#[test]
fn meta_transient_errors_retry() {
    let reply = reply(Channel::Instagram, ReplyKind::Private);
    let (reason, _) = retry(outcome(&reply, 400, &[], fixture!("meta_transient.json"), NOW));
    assert!(reason.contains("a temporary error") && reason.contains("Please retry your request later"), "{reason}");
}

// ---- outcomes: failed -----------------------------------------------------------------------

#[test]
fn x_errors_are_extracted() {
    let public = reply(Channel::X, ReplyKind::Public);
    assert_eq!(
        failed(outcome(&public, 403, &[], fixture!("x_duplicate.json"), NOW)),
        "X answered 403: You are not allowed to create a Tweet with duplicate content."
    );
    let reason = failed(outcome(&public, 400, &[], fixture!("x_invalid_request.json"), NOW));
    assert!(reason.starts_with("X answered 400: The `reply.in_reply_to_tweet_id` query parameter value"), "{reason}");
    assert_eq!(
        failed(outcome(&public, 401, &[], fixture!("x_unauthorized.json"), NOW)),
        "X answered 401: Unauthorized"
    );
    let private = reply(Channel::X, ReplyKind::Private);
    assert_eq!(
        failed(outcome(&private, 403, &[], fixture!("x_dm_forbidden_v1_style.json"), NOW)),
        "X answered 403: You cannot send messages to this user."
    );
    // Only a title: that is the message.
    assert_eq!(
        failed(outcome(&private, 404, &[], br#"{"title":"Not Found Error"}"#, NOW)),
        "X answered 404: Not Found Error"
    );
}

#[test]
fn meta_errors_are_extracted() {
    let comment = reply(Channel::Facebook, ReplyKind::Public);
    let reason = failed(outcome(&comment, 400, &[], fixture!("meta_comment_not_found.json"), NOW));
    assert!(reason.starts_with("Facebook answered 400: Unsupported post request."), "{reason}");
    assert!(reason.chars().count() <= "Facebook answered 400: ".len() + 301, "{reason}");
    let reason = failed(outcome(&comment, 400, &[], fixture!("meta_invalid_token.json"), NOW));
    assert!(
        reason.contains("Error validating access token") && reason.contains("connect the account again"),
        "{reason}"
    );
    let message = reply(Channel::Facebook, ReplyKind::Private);
    let reason = failed(outcome(&message, 400, &[], fixture!("meta_outside_window.json"), NOW));
    assert!(reason.contains("code 10, subcode 2018278") && reason.contains("24 hours"), "{reason}");
}

#[test]
fn error_excerpts_are_short_and_never_the_request() {
    let reply = reply(Channel::X, ReplyKind::Public);
    let huge = format!("<html><body>{}</body></html>", "Bad gateway. ".repeat(200));
    let reason = failed(outcome(&reply, 418, &[], huge.as_bytes(), NOW));
    assert!(reason.starts_with("X answered 418: body: <html><body>Bad gateway."), "{reason}");
    assert!(reason.chars().count() < 340, "{} chars", reason.chars().count());
    let long_message = json!({"detail": "d".repeat(5000)}).to_string();
    let reason = failed(outcome(&reply, 400, &[], long_message.as_bytes(), NOW));
    assert!(reason.chars().count() < 340);
    assert!(!reason.contains(&reply.text));
}

#[test]
fn empty_client_errors_get_a_hint() {
    let reply = reply(Channel::Facebook, ReplyKind::Private);
    assert_eq!(
        failed(outcome(&reply, 401, &[], b"", NOW)),
        "Facebook answered 401: unauthorized: the access token is invalid or expired; connect the account again"
    );
    assert_eq!(failed(outcome(&reply, 409, &[], b"", NOW)), "Facebook answered 409");
}

#[test]
fn generic_errors_are_extracted() {
    let reply = reply(Channel::Chat, ReplyKind::Private);
    assert_eq!(
        failed(outcome(&reply, 422, &[], br#"{"error": "session closed"}"#, NOW)),
        "chat answered 422: session closed"
    );
    assert_eq!(
        failed(outcome(&reply, 400, &[], br#"{"error": {"message": "unknown visitor"}}"#, NOW)),
        "chat answered 400: unknown visitor"
    );
    assert_eq!(
        failed(outcome(&reply, 404, &[], br#"{"message": "no such thread"}"#, NOW)),
        "chat answered 404: no such thread"
    );
}

#[test]
fn redirects_and_nonsense_statuses_fail() {
    let reply = reply(Channel::Review, ReplyKind::Public);
    let reason = failed(outcome(&reply, 302, &headers(&[("Location", "https://elsewhere.example/")]), b"", NOW));
    assert!(reason.contains("unexpected 302") && reason.contains("callback URL"), "{reason}");
    assert!(matches!(outcome(&reply, 0, &[], b"", NOW), Outcome::Failed { .. }));
}

#[test]
fn email_outcome_is_failed() {
    assert!(matches!(
        outcome(&reply(Channel::Email, ReplyKind::Private), 200, &[], b"{}", NOW),
        Outcome::Failed { .. }
    ));
}
