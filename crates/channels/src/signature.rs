//! Webhook signatures: proving a delivery came from the platform before anything reads it.
//!
//! Every scheme is HMAC-SHA256 over the raw request body, keyed by a secret shared with the
//! platform; they differ in the header and the encoding:
//!
//! | platform | header | value |
//! | --- | --- | --- |
//! | X Account Activity | `x-twitter-webhooks-signature` | `sha256=<base64 HMAC(consumer secret, body)>` |
//! | Meta (Page, Messenger, Instagram) | `X-Hub-Signature-256` | `sha256=<hex HMAC(app secret, body)>` |
//! | Tend generic | `X-Tend-Signature` | `t=<unix seconds>,v1=<hex HMAC(secret, "t.body")>` |
//!
//! The generic scheme signs a timestamp with the body so that a captured delivery cannot be
//! replayed later: [`verify_generic`] refuses a `t` outside the window (default
//! [`DEFAULT_REPLAY_WINDOW`], five minutes) in either direction. X and Meta sign only the body;
//! their deliveries are deduplicated by external id downstream instead.
//!
//! The subscription handshakes live here too: X's CRC challenge ([`x_crc_response`]) and Meta's
//! `hub.challenge` ([`meta_challenge`]).
//!
//! All comparisons are constant-time (the MAC crate's `verify_slice`, or equal-length digests for
//! the verify token), and an empty secret never verifies anything: a missing configuration value
//! must fail closed rather than accept deliveries signed with the empty key.
//!
//! ```
//! use std::time::Duration;
//! use tend_channels::SignatureError;
//! use tend_channels::signature::{sign_generic, verify_generic, DEFAULT_REPLAY_WINDOW};
//!
//! let body = br#"{"events":[]}"#;
//! let header = sign_generic("whsec_123", body, 1_700_000_000);
//! let now = chrono::DateTime::from_timestamp(1_700_000_060, 0).unwrap();
//! assert_eq!(verify_generic("whsec_123", body, Some(&header), now, DEFAULT_REPLAY_WINDOW), Ok(()));
//! let later = chrono::DateTime::from_timestamp(1_700_000_600, 0).unwrap();
//! assert!(matches!(
//!     verify_generic("whsec_123", body, Some(&header), later, Duration::from_secs(300)),
//!     Err(SignatureError::Replay { .. })
//! ));
//! ```

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// How far a generic delivery's `t` may be from the receiver's clock, either way, unless the
/// account configures otherwise.
pub const DEFAULT_REPLAY_WINDOW: Duration = Duration::from_secs(5 * 60);

/// Why a delivery's signature was refused. The listener answers 401 to all of them; the message
/// says what is wrong without echoing the secret or the expected value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature header is absent or empty.
    #[error("signature header missing")]
    Missing,
    /// The header is present but not in the platform's format; the text says which part.
    #[error("signature header malformed: {0}")]
    Malformed(&'static str),
    /// Well formed, but not the MAC of this body under the configured secret (or the secret is
    /// not configured).
    #[error("signature does not match the body")]
    Mismatch,
    /// Correctly signed, but the timestamp is outside the replay window.
    #[error(
        "signature timestamp is {age_seconds} s old (negative: in the future), outside the {window_seconds} s window"
    )]
    Replay {
        /// `now - t` in seconds: positive in the past, negative in the future.
        age_seconds: i64,
        /// The window allowed, in seconds.
        window_seconds: u64,
    },
}

/// A MAC keyed by `secret`. HMAC takes keys of any length, so construction cannot fail; the
/// `None` arm exists only because the trait's signature allows it.
fn mac(secret: &str) -> Option<HmacSha256> {
    HmacSha256::new_from_slice(secret.as_bytes()).ok()
}

/// HMAC-SHA256 of the concatenated `parts` under `secret`.
fn hmac_sha256(secret: &str, parts: &[&[u8]]) -> Vec<u8> {
    let Some(mut mac) = mac(secret) else { return Vec::new() };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Checks in constant time that `tag` is the HMAC of `parts` under `secret`.
fn verify_tag(secret: &str, parts: &[&[u8]], tag: &[u8]) -> Result<(), SignatureError> {
    if secret.is_empty() {
        return Err(SignatureError::Mismatch);
    }
    let Some(mut mac) = mac(secret) else { return Err(SignatureError::Mismatch) };
    for part in parts {
        mac.update(part);
    }
    mac.verify_slice(tag).map_err(|_| SignatureError::Mismatch)
}

/// The header value, trimmed, or `Missing` when there is none.
fn present(header: Option<&str>) -> Result<&str, SignatureError> {
    match header.map(str::trim) {
        None | Some("") => Err(SignatureError::Missing),
        Some(value) => Ok(value),
    }
}

/// The 32-byte tag after `sha256=`, decoded by `decode`.
fn sha256_tag(header: &str, decode: impl FnOnce(&str) -> Option<Vec<u8>>) -> Result<Vec<u8>, SignatureError> {
    let Some(encoded) = header.strip_prefix("sha256=") else {
        return Err(SignatureError::Malformed("expected \"sha256=\" followed by the MAC"));
    };
    let tag = decode(encoded).ok_or(SignatureError::Malformed("the MAC is not validly encoded"))?;
    if tag.len() != 32 {
        return Err(SignatureError::Malformed("the MAC is not 32 bytes"));
    }
    Ok(tag)
}

/// The JSON body answering X's CRC check (`GET /webhooks/x?crc_token=…`):
/// `{"response_token":"sha256=<base64 HMAC-SHA256(consumer secret, crc_token)>"}`.
pub fn x_crc_response(consumer_secret: &str, crc_token: &str) -> String {
    let token = BASE64.encode(hmac_sha256(consumer_secret, &[crc_token.as_bytes()]));
    // Base64 needs no JSON escaping, so the body can be written directly.
    format!("{{\"response_token\":\"sha256={token}\"}}")
}

/// The `x-twitter-webhooks-signature` value X sends with `body`; for tests and simulators.
pub fn sign_x(consumer_secret: &str, body: &[u8]) -> String {
    format!("sha256={}", BASE64.encode(hmac_sha256(consumer_secret, &[body])))
}

/// Verifies an X Account Activity delivery: `header` is the `x-twitter-webhooks-signature`
/// value, `sha256=<base64 HMAC-SHA256(consumer secret, raw body)>`.
pub fn verify_x(consumer_secret: &str, body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let tag = sha256_tag(present(header)?, |s| BASE64.decode(s).ok())?;
    verify_tag(consumer_secret, &[body], &tag)
}

/// The `X-Hub-Signature-256` value Meta sends with `body`; for tests and simulators.
pub fn sign_meta(app_secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(hmac_sha256(app_secret, &[body])))
}

/// Verifies a Meta delivery: `header` is the `X-Hub-Signature-256` value,
/// `sha256=<hex HMAC-SHA256(app secret, raw body)>` (either hex case is accepted).
pub fn verify_meta(app_secret: &str, body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let tag = sha256_tag(present(header)?, |s| hex::decode(s).ok())?;
    verify_tag(app_secret, &[body], &tag)
}

/// Answers Meta's subscription handshake (`GET /webhooks/meta?hub.mode=subscribe&…`): the
/// `hub.challenge` to echo back when `hub.mode` is `subscribe` and `hub.verify_token` equals the
/// configured `verify_token`; `None` (answer 403) otherwise.
///
/// `query_pairs` are the URL-decoded query parameters; the first occurrence of a name counts.
/// The challenge is echoed only if it is 1 to 256 ASCII letters, digits, `-` or `_` (Meta sends
/// digits), so the endpoint cannot be used to reflect arbitrary content.
pub fn meta_challenge<K, V>(query_pairs: impl IntoIterator<Item = (K, V)>, verify_token: &str) -> Option<String>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let (mut mode, mut token, mut challenge) = (None, None, None);
    for (key, value) in query_pairs {
        let slot = match key.as_ref() {
            "hub.mode" => &mut mode,
            "hub.verify_token" => &mut token,
            "hub.challenge" => &mut challenge,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value.as_ref().to_owned());
        }
    }
    if mode.as_deref() != Some("subscribe") || verify_token.is_empty() {
        return None;
    }
    if !constant_time_eq(token?.as_bytes(), verify_token.as_bytes()) {
        return None;
    }
    let challenge = challenge?;
    let acceptable = (1..=256).contains(&challenge.len())
        && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    acceptable.then_some(challenge)
}

/// Equality that takes the same time wherever the inputs differ: both sides are hashed first,
/// so even the length of the configured token does not show in the timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (da, db) = (Sha256::digest(a), Sha256::digest(b));
    da.iter().zip(db.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `X-Tend-Signature` value for a generic delivery of `body` at `t` (unix seconds):
/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. Clients and tests sign with this.
pub fn sign_generic(secret: &str, body: &[u8], t: i64) -> String {
    let t = t.to_string();
    format!("t={t},v1={}", hex::encode(hmac_sha256(secret, &[t.as_bytes(), b".", body])))
}

/// Verifies a generic delivery: `header` is the `X-Tend-Signature` value
/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "t.body")>`, checked at `now` with `window`
/// allowed either way ([`DEFAULT_REPLAY_WINDOW`] unless the account says otherwise).
///
/// Several `v1=` entries may be given (a sender rotating its secret signs with both); one match
/// is enough. Unknown entries are ignored for forward compatibility. The MAC is checked before
/// the timestamp, so [`SignatureError::Replay`] means an authentic but stale or early delivery.
pub fn verify_generic(
    secret: &str,
    body: &[u8],
    header: Option<&str>,
    now: DateTime<Utc>,
    window: Duration,
) -> Result<(), SignatureError> {
    let header = present(header)?;
    let mut t_text = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        let Some((key, value)) = part.trim().split_once('=') else {
            return Err(SignatureError::Malformed("expected comma-separated key=value pairs"));
        };
        match key {
            "t" if t_text.is_none() => t_text = Some(value),
            "t" => return Err(SignatureError::Malformed("more than one t")),
            "v1" => tags.push(value),
            _ => {}
        }
    }
    let t_text = t_text.ok_or(SignatureError::Malformed("no t= timestamp"))?;
    // The MAC covers `t` exactly as sent; parsing is only for the window check.
    let t: i64 = t_text.parse().map_err(|_| SignatureError::Malformed("t is not an integer"))?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed("no v1= signature"));
    }
    let mut matched = false;
    for tag in tags {
        let tag = hex::decode(tag).map_err(|_| SignatureError::Malformed("v1 is not hex"))?;
        if tag.len() != 32 {
            return Err(SignatureError::Malformed("v1 is not 32 bytes"));
        }
        // No early exit: every entry is checked, so timing does not say which one matched.
        matched |= verify_tag(secret, &[t_text.as_bytes(), b".", body], &tag).is_ok();
    }
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    let age_seconds = now.timestamp().saturating_sub(t);
    let window_seconds = window.as_secs();
    if age_seconds.unsigned_abs() > window_seconds {
        return Err(SignatureError::Replay { age_seconds, window_seconds });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_secret_never_verifies() {
        let header = sign_meta("", b"body");
        assert_eq!(verify_meta("", b"body", Some(&header)), Err(SignatureError::Mismatch));
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
