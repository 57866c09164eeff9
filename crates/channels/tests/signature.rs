//! Webhook signatures against known vectors, computed here independently with the hmac crate,
//! and a property: changing any one byte of the body breaks every scheme.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use proptest::prelude::*;
use sha2::Sha256;
use tend_channels::SignatureError;
use tend_channels::signature::{
    DEFAULT_REPLAY_WINDOW, meta_challenge, sign_generic, sign_meta, sign_x, verify_generic, verify_meta, verify_x,
    x_crc_response,
};

/// HMAC-SHA256, computed without the crate under test.
fn reference_hmac(key: &str, message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn at(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).expect("in range")
}

const KNOWN: &str = "88aab3ede8d3adf94d26ab90d3bafd4a2083070c3bcce9c014ee04a443847c0b";

#[test]
fn fixed_vector_secret_hello() {
    assert_eq!(hex::encode(reference_hmac("secret", b"hello")), KNOWN);
    assert_eq!(sign_meta("secret", b"hello"), format!("sha256={KNOWN}"));
    let base64 = BASE64.encode(hex::decode(KNOWN).unwrap());
    assert_eq!(sign_x("secret", b"hello"), format!("sha256={base64}"));
    assert_eq!(verify_meta("secret", b"hello", Some(&format!("sha256={KNOWN}"))), Ok(()));
    assert_eq!(verify_meta("secret", b"hello", Some(&format!("sha256={}", KNOWN.to_uppercase()))), Ok(()));
    assert_eq!(verify_x("secret", b"hello", Some(&format!("sha256={base64}"))), Ok(()));
}

#[test]
fn x_crc_response_is_the_base64_hmac_of_the_token() {
    let expected = BASE64.encode(reference_hmac("consumer-secret", b"crc-token-123"));
    let body = x_crc_response("consumer-secret", "crc-token-123");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json, serde_json::json!({ "response_token": format!("sha256={expected}") }));
}

#[test]
fn x_signatures() {
    let body = br#"{"for_user_id":"1","tweet_create_events":[]}"#;
    let header = format!("sha256={}", BASE64.encode(reference_hmac("cs", body)));
    assert_eq!(verify_x("cs", body, Some(&header)), Ok(()));
    assert_eq!(verify_x("other", body, Some(&header)), Err(SignatureError::Mismatch));
    assert_eq!(verify_x("cs", body, None), Err(SignatureError::Missing));
    assert_eq!(verify_x("cs", body, Some("  ")), Err(SignatureError::Missing));
    assert!(matches!(verify_x("cs", body, Some("sha1=abc")), Err(SignatureError::Malformed(_))));
    assert!(matches!(verify_x("cs", body, Some("sha256=!!!")), Err(SignatureError::Malformed(_))));
    assert!(matches!(verify_x("cs", body, Some("sha256=AAAA")), Err(SignatureError::Malformed(_))));
    // Meta's hex encoding is not X's base64.
    let hex_header = format!("sha256={}", hex::encode(reference_hmac("cs", body)));
    assert!(verify_x("cs", body, Some(&hex_header)).is_err());
}

#[test]
fn meta_signatures() {
    let body = br#"{"object":"page","entry":[]}"#;
    let header = format!("sha256={}", hex::encode(reference_hmac("app-secret", body)));
    assert_eq!(verify_meta("app-secret", body, Some(&header)), Ok(()));
    assert_eq!(verify_meta("app-secret", b"{}", Some(&header)), Err(SignatureError::Mismatch));
    assert_eq!(verify_meta("app-secret", body, None), Err(SignatureError::Missing));
    assert!(matches!(verify_meta("app-secret", body, Some("sha256=zz")), Err(SignatureError::Malformed(_))));
    assert!(matches!(verify_meta("app-secret", body, Some("sha256=abcd")), Err(SignatureError::Malformed(_))));
    // An unconfigured secret fails closed, even for a body signed with the empty key.
    let empty_key = format!("sha256={}", hex::encode(reference_hmac("", body)));
    assert_eq!(verify_meta("", body, Some(&empty_key)), Err(SignatureError::Mismatch));
}

#[test]
fn generic_signature_format() {
    let body = br#"{"events":[]}"#;
    let mut message = b"1700000000.".to_vec();
    message.extend_from_slice(body);
    let expected = format!("t=1700000000,v1={}", hex::encode(reference_hmac("whsec", &message)));
    assert_eq!(sign_generic("whsec", body, 1_700_000_000), expected);
    assert_eq!(verify_generic("whsec", body, Some(&expected), at(1_700_000_000), DEFAULT_REPLAY_WINDOW), Ok(()));
}

#[test]
fn generic_replay_window() {
    let body = br#"{"events":[]}"#;
    let header = sign_generic("whsec", body, 1_700_000_000);
    let window = Duration::from_secs(300);
    assert_eq!(verify_generic("whsec", body, Some(&header), at(1_700_000_300), window), Ok(()));
    assert_eq!(verify_generic("whsec", body, Some(&header), at(1_699_999_700), window), Ok(()));
    assert_eq!(
        verify_generic("whsec", body, Some(&header), at(1_700_000_301), window),
        Err(SignatureError::Replay { age_seconds: 301, window_seconds: 300 })
    );
    assert_eq!(
        verify_generic("whsec", body, Some(&header), at(1_699_999_000), window),
        Err(SignatureError::Replay { age_seconds: -1000, window_seconds: 300 })
    );
    // A forged signature is a mismatch whatever its timestamp.
    assert_eq!(verify_generic("wrong", body, Some(&header), at(1_800_000_000), window), Err(SignatureError::Mismatch));
}

#[test]
fn generic_header_variants() {
    let body = b"{}";
    let good = sign_generic("new", body, 100);
    let good_v1 = good.split_once(",v1=").unwrap().1;
    let old_v1 = sign_generic("old", body, 100).split_once(",v1=").unwrap().1.to_owned();
    let now = at(100);
    let w = DEFAULT_REPLAY_WINDOW;
    // Rotation: two v1 entries, either order; spaces and unknown entries tolerated.
    for header in [
        format!("t=100,v1={old_v1},v1={good_v1}"),
        format!("t=100, v1={good_v1}, v1={old_v1}"),
        format!("v0=abc,t=100,v1={good_v1}"),
    ] {
        assert_eq!(verify_generic("new", body, Some(&header), now, w), Ok(()), "{header}");
    }
    assert_eq!(verify_generic("new", body, None, now, w), Err(SignatureError::Missing));
    for bad in [
        format!("v1={good_v1}"),
        "t=100".to_owned(),
        format!("t=abc,v1={good_v1}"),
        "t=100,v1=zz".to_owned(),
        "t=100,v1=abcd".to_owned(),
        format!("t=100,t=100,v1={good_v1}"),
        "garbage".to_owned(),
    ] {
        assert!(matches!(verify_generic("new", body, Some(&bad), now, w), Err(SignatureError::Malformed(_))), "{bad}");
    }
    // The MAC covers t as sent: "0100" is not "100".
    assert_eq!(
        verify_generic("new", body, Some(&format!("t=0100,v1={good_v1}")), now, w),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn errors_do_not_echo_secrets() {
    let body = b"{}";
    let header = sign_generic("s3cr3t-value", body, 0);
    for error in [
        verify_generic("s3cr3t-value", body, Some(&header), at(10_000), DEFAULT_REPLAY_WINDOW).unwrap_err(),
        verify_meta("s3cr3t-value", body, Some("sha256=00")).unwrap_err(),
        verify_x("s3cr3t-value", body, Some("sha256=AAAA")).unwrap_err(),
        verify_x("s3cr3t-value", body, Some(&sign_x("other", body))).unwrap_err(),
    ] {
        let message = error.to_string();
        assert!(!message.contains("s3cr3t"), "{message}");
        assert!(!message.contains(header.split_once("v1=").unwrap().1), "{message}");
    }
}

#[test]
fn meta_subscription_handshake() {
    let pairs = |mode: &str, token: &str, challenge: &str| {
        vec![
            ("hub.mode", mode.to_owned()),
            ("hub.verify_token", token.to_owned()),
            ("hub.challenge", challenge.to_owned()),
        ]
    };
    assert_eq!(meta_challenge(pairs("subscribe", "tok", "1158201444"), "tok"), Some("1158201444".to_owned()));
    assert_eq!(meta_challenge(pairs("subscribe", "bad", "1158201444"), "tok"), None);
    assert_eq!(meta_challenge(pairs("unsubscribe", "tok", "1158201444"), "tok"), None);
    assert_eq!(meta_challenge(pairs("subscribe", "", "1158201444"), ""), None);
    assert_eq!(meta_challenge(pairs("subscribe", "tok", "<script>"), "tok"), None);
    assert_eq!(meta_challenge(pairs("subscribe", "tok", ""), "tok"), None);
    assert_eq!(meta_challenge(vec![("hub.mode", "subscribe"), ("hub.verify_token", "tok")], "tok"), None);
    // The first occurrence of a name counts.
    let mut doubled = pairs("subscribe", "tok", "42");
    doubled.push(("hub.verify_token", "other".to_owned()));
    assert_eq!(meta_challenge(doubled, "tok"), Some("42".to_owned()));
}

proptest! {
    #[test]
    fn any_single_byte_change_is_rejected(
        body in prop::collection::vec(any::<u8>(), 1..512),
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let x_header = sign_x("consumer", &body);
        let meta_header = sign_meta("app", &body);
        let generic_header = sign_generic("whsec", &body, 1_000);
        prop_assert_eq!(verify_x("consumer", &body, Some(&x_header)), Ok(()));
        prop_assert_eq!(verify_meta("app", &body, Some(&meta_header)), Ok(()));
        prop_assert_eq!(verify_generic("whsec", &body, Some(&generic_header), at(1_000), DEFAULT_REPLAY_WINDOW), Ok(()));

        let mut changed = body.clone();
        changed[index.index(body.len())] ^= flip;
        prop_assert_eq!(verify_x("consumer", &changed, Some(&x_header)), Err(SignatureError::Mismatch));
        prop_assert_eq!(verify_meta("app", &changed, Some(&meta_header)), Err(SignatureError::Mismatch));
        prop_assert_eq!(
            verify_generic("whsec", &changed, Some(&generic_header), at(1_000), DEFAULT_REPLAY_WINDOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn arbitrary_headers_never_panic(header in ".{0,200}", body in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = verify_x("s", &body, Some(&header));
        let _ = verify_meta("s", &body, Some(&header));
        let _ = verify_generic("s", &body, Some(&header), at(0), DEFAULT_REPLAY_WINDOW);
    }
}
