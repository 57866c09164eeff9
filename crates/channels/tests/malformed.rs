//! Bad deliveries: errors name the field path and never the body; no input makes a parser panic.

use proptest::prelude::*;
use tend_channels::{generic, meta, x};

fn fixture(path: &str) -> Vec<u8> {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn meta_error(body: &str) -> String {
    meta::parse(body.as_bytes()).expect_err("should be refused").to_string()
}

fn x_error(body: &str) -> String {
    x::parse_account_activity(body.as_bytes()).expect_err("should be refused").to_string()
}

fn generic_error(body: &str) -> String {
    generic::parse("acct", body.as_bytes()).expect_err("should be refused").to_string()
}

#[test]
fn invalid_json_says_where_not_what() {
    let body = r#"{"object":"page","entry":[{"id":"1","messaging":[{"message":{"text":"my card is 4111"#;
    let message = meta_error(body);
    assert!(message.starts_with("body: not valid JSON: EOF while parsing"), "{message}");
    assert!(!message.contains("4111"), "{message}");
    assert_eq!(x_error("[1,2]"), "body: expected a JSON object");
    assert!(generic_error("{\"events\": [}").contains("line 1 column"));
}

#[test]
fn meta_paths() {
    let comment = r#"{"field":"feed","value":{"item":"comment","verb":"add","post_id":"1_2","message":"secret text"}}"#;
    let status = r#"{"field":"feed","value":{"item":"status","verb":"add","post_id":"1_3"}}"#;
    let body = format!(r#"{{"object":"page","entry":[{{"id":"1","changes":[{status},{comment}]}}]}}"#);
    let message = meta_error(&body);
    assert_eq!(message, "entry[0].changes[1].value.comment_id: missing");
    assert!(!message.contains("secret text"));

    assert_eq!(meta_error(r#"{"entry":[]}"#), "object: missing");
    assert_eq!(meta_error(r#"{"object":"page"}"#), "entry: missing");
    assert_eq!(meta_error(r#"{"object":"page","entry":[{"time":1}]}"#), "entry[0].id: missing");
    assert_eq!(
        meta_error(r#"{"object":"page","entry":[{"id":"1","changes":[{"field":"feed"}]}]}"#),
        "entry[0].changes[0].value: missing"
    );
    assert_eq!(
        meta_error(
            r#"{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"message":{"text":"hi"}}]}]}"#
        ),
        "entry[0].messaging[0].message.mid: missing"
    );
    assert_eq!(
        meta_error(r#"{"object":"page","entry":[{"id":"1","messaging":[{"sender":{},"message":{"mid":"m"}}]}]}"#),
        "entry[0].messaging[0].sender.id: missing"
    );
    assert_eq!(
        meta_error(
            r#"{"object":"page","entry":[{"id":"1","messaging":[{"sender":{"id":"2"},"message":{"mid":"m","attachments":{}}}]}]}"#
        ),
        "entry[0].messaging[0].message.attachments: expected an array"
    );
    assert_eq!(
        meta_error(
            r#"{"object":"instagram","entry":[{"id":"1","changes":[{"field":"mentions","value":{"comment_id":"5"}}]}]}"#
        ),
        "entry[0].changes[0].value.media_id: missing"
    );
    assert_eq!(
        meta_error(
            r#"{"object":"page","entry":[{"id":"1","changes":[{"field":"feed","value":{"item":"status","verb":"add","post_id":"1_3","created_time":1.5}}]}]}"#
        ),
        "entry[0].changes[0].value.created_time: expected an integer"
    );
    assert_eq!(meta_error(r#"{"object":"page","entry":[1]}"#), "entry[0]: expected an object");
}

#[test]
fn x_paths() {
    assert_eq!(x_error(r#"{"tweet_create_events":[]}"#), "for_user_id: missing");
    assert_eq!(
        x_error(r#"{"for_user_id":"1","tweet_create_events":[{"id_str":"5","text":"hi"}]}"#),
        "tweet_create_events[0].user: missing"
    );
    assert_eq!(
        x_error(r#"{"for_user_id":"1","tweet_create_events":[{"id_str":"5","user":{"id_str":"2"}}]}"#),
        "tweet_create_events[0].text: missing"
    );
    assert_eq!(
        x_error(
            r#"{"for_user_id":"1","tweet_create_events":[{"id_str":"5","text":"hi","created_at":"yesterday","user":{"id_str":"2"}}]}"#
        ),
        "tweet_create_events[0].created_at: expected X's date format, like \"Wed Oct 10 20:19:24 +0000 2018\""
    );
    assert_eq!(
        x_error(
            r#"{"for_user_id":"1","tweet_create_events":[{"id_str":"5","text":"hi","user":{"id_str":"2","followers_count":-3}}]}"#
        ),
        "tweet_create_events[0].user.followers_count: must not be negative"
    );
    assert_eq!(
        x_error(
            r#"{"for_user_id":"1","direct_message_events":[{"type":"message_create","id":"9","message_create":{"sender_id":"2","target":{"recipient_id":"1"}}}]}"#
        ),
        "direct_message_events[0].message_create.message_data: missing"
    );
    assert_eq!(
        x_error(
            r#"{"for_user_id":"1","direct_message_events":[{"type":"message_create","id":"9","message_create":{"sender_id":"2","target":{"recipient_id":"1"},"message_data":{"text":"x"}}}],"users":{"2":{"name":"no id"}}}"#
        ),
        "users.2.id: missing"
    );
    assert_eq!(
        x_error(r#"{"for_user_id":"1","tweet_delete_events":[{"status":{"user_id":"2"}}]}"#),
        "tweet_delete_events[0].status.id: missing"
    );
    let mention = x::parse_mentions("1", br#"{"data":[{"id":"5","author_id":"2","text":"hi","created_at":"soon"}]}"#);
    assert_eq!(mention.unwrap_err().to_string(), "data[0].created_at: expected an RFC 3339 timestamp");
    let errors = x::parse_mentions("1", br#"{"errors":[{"title":"Unauthorized"}],"title":"Unauthorized"}"#);
    assert_eq!(errors.unwrap_err().to_string(), "data: missing (the response carries errors)");
}

#[test]
fn generic_rules() {
    let event = |fields: &str| {
        format!(r#"{{"events":[{{"type":"message","id":"1","author":{{"id":"a"}},"text":"t"{fields}}}]}}"#)
    };
    assert_eq!(generic_error("{}"), "events: missing");
    assert_eq!(generic_error(r#"{"events":[{"id":"1"}]}"#), "events[0].type: missing");
    assert_eq!(generic_error(r#"{"events":[{"type":"message"}]}"#), "events[0].id: missing");
    assert_eq!(
        generic_error(r#"{"events":[{"type":"poke","id":"1"}]}"#),
        "events[0].type: expected message, review, edit or delete"
    );
    assert_eq!(generic_error(r#"{"events":[{"type":"message","id":"1","text":"t"}]}"#), "events[0].author: missing");
    assert_eq!(
        generic_error(r#"{"events":[{"type":"message","id":"1","author":{}}]}"#),
        "events[0].author.id: missing"
    );
    assert_eq!(
        generic_error(r#"{"events":[{"type":"message","id":"1","author":{"id":"a"}}]}"#),
        "events[0].text: missing"
    );
    assert_eq!(
        generic_error(r#"{"events":[{"type":"review","id":"1","author":{"id":"a"},"text":"t"}]}"#),
        "events[0].rating: must be an integer from 1 to 5"
    );
    assert_eq!(generic_error(&event(r#","rating":6"#)), "events[0].rating: must be an integer from 1 to 5");
    assert_eq!(generic_error(&event(r#","channel":"sms""#)), "events[0].channel: expected chat or review");
    assert_eq!(
        generic_error(
            r#"{"events":[{"type":"review","channel":"chat","id":"1","author":{"id":"a"},"text":"t","rating":3}]}"#
        ),
        "events[0].channel: a review must be on the review channel"
    );
    assert_eq!(
        generic_error(&event(r#","created_at":"1 March""#)),
        "events[0].created_at: expected an RFC 3339 timestamp"
    );
    assert_eq!(
        generic_error(&event(r#","attachments":[{"size":-1}]"#)),
        "events[0].attachments[0].size: must not be negative"
    );
    assert_eq!(generic_error(r#"{"events":[{"type":"edit","id":"1"}]}"#), "events[0].text: missing");

    let long_text = "a".repeat(generic::MAX_TEXT_BYTES + 1);
    let body = format!(r#"{{"events":[{{"type":"message","id":"1","author":{{"id":"a"}},"text":"{long_text}"}}]}}"#);
    assert_eq!(generic_error(&body), "events[0].text: longer than 65536 bytes");
    let at_limit = body.replacen(&long_text, &long_text[1..], 1);
    assert!(generic::parse("acct", at_limit.as_bytes()).is_ok());

    let one = r#"{"type":"delete","id":"1"}"#;
    let many = format!(r#"{{"events":[{}]}}"#, vec![one; generic::MAX_EVENTS + 1].join(","));
    assert_eq!(generic_error(&many), "events: at most 100 events in one delivery");
    let hundred = format!(r#"{{"events":[{}]}}"#, vec![one; generic::MAX_EVENTS].join(","));
    assert_eq!(generic::parse("acct", hundred.as_bytes()).unwrap().posts.len(), 100);

    let long_id = "i".repeat(generic::MAX_FIELD_BYTES + 1);
    assert_eq!(
        generic_error(&format!(r#"{{"events":[{{"type":"delete","id":"{long_id}"}}]}}"#)),
        "events[0].id: longer than 2048 bytes"
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(meta::parse(deep.as_bytes()).unwrap_err().to_string().contains("recursion limit"));
    let deep_object = format!(r#"{{"for_user_id":"1","x":{}{}}}"#, "[".repeat(10_000), "]".repeat(10_000));
    assert!(x::parse_account_activity(deep_object.as_bytes()).is_err());
}

/// Every fixture, for the mutation property below.
const FIXTURES: &[&str] = &[
    "x/tweet_create_events.json",
    "x/direct_message_events.json",
    "x/tweet_delete_events.json",
    "x/mentions_v2.json",
    "meta/page_feed_comment_add.json",
    "meta/page_feed_post_add.json",
    "meta/messenger_message.json",
    "meta/instagram_messages.json",
    "generic/message.json",
    "generic/review.json",
];

fn run_all(body: &[u8]) {
    let _ = x::parse_account_activity(body);
    let _ = x::parse_mentions("2244994945", body);
    let _ = meta::parse(body);
    let _ = generic::parse("acct", body);
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        run_all(&body);
    }

    /// Random bytes rarely get past the JSON parser; mutated fixtures reach the adapters' code.
    #[test]
    fn mutated_fixtures_never_panic(
        which in 0..FIXTURES.len(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut body = fixture(FIXTURES[which]);
        for (index, byte) in edits {
            let at = index.index(body.len());
            body[at] = byte;
        }
        run_all(&body);
    }

    /// Well-formed JSON of the right outline with values of any type: errors, never panics.
    #[test]
    fn wrong_types_never_panic(value in json_value()) {
        let text = value.to_string();
        for body in [
            format!(r#"{{"for_user_id":"1","tweet_create_events":[{text}],"direct_message_events":[{text}],"users":{text}}}"#),
            format!(r#"{{"object":"page","entry":[{{"id":"1","changes":[{{"field":"feed","value":{text}}}],"messaging":[{text}]}}]}}"#),
            format!(r#"{{"object":"instagram","entry":[{{"id":"1","changes":[{{"field":"comments","value":{text}}}]}}]}}"#),
            format!(r#"{{"events":[{text}],"data":[{text}],"includes":{text}}}"#),
        ] {
            run_all(body.as_bytes());
        }
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z0-9 ]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        let keys = prop_oneof![
            Just("id".to_owned()),
            Just("id_str".to_owned()),
            Just("text".to_owned()),
            Just("type".to_owned()),
            Just("user".to_owned()),
            Just("message".to_owned()),
            Just("sender".to_owned()),
            Just("mid".to_owned()),
            Just("item".to_owned()),
            Just("verb".to_owned()),
            Just("author".to_owned()),
            Just("attachments".to_owned()),
            Just("created_at".to_owned()),
            Just("timestamp".to_owned()),
            "[a-z_]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
