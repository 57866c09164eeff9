//! Tend's generic reply callback: how a reply reaches a chat widget or review site that posts to
//! `POST /webhooks/generic/{account}`. Tend posts [`CALLBACK_SCHEMA`] to the account's callback
//! URL, signed like the inbound deliveries.

use serde::Serialize;

use super::{BuildError, Credentials, HttpRequest, Reply, ReplyKind, channel_name, excerpt, json_body, path_id};
use crate::Channel;
use crate::signature::sign_generic;

/// The reply callback as JSON Schema (draft 2020-12), for the docs to publish and receivers to
/// validate against. [`super::request`] builds exactly this.
pub const CALLBACK_SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Tend generic reply callback",
  "description": "POST to the account's reply callback URL with Content-Type: application/json, Idempotency-Key: <reply_id> and X-Tend-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>, the same scheme as inbound deliveries; refuse a t more than 5 minutes from your clock. Answer 2xx once the reply is delivered, optionally with {\"id\": \"<your id of it>\"} (else Tend records the reply_id). The same reply_id may arrive again after a timeout: answer 2xx again without delivering twice. 408, 429 and 5xx make Tend retry later (Retry-After, in seconds or as an HTTP date, is honoured); any other status fails the reply, with {\"error\": \"...\"} or {\"message\": \"...\"} shown to the agent. Unknown fields may be added: ignore them.",
  "type": "object",
  "required": ["type", "reply_id", "channel", "kind", "account", "text"],
  "properties": {
    "type": { "const": "reply" },
    "reply_id": { "type": "string", "minLength": 1, "description": "Tend's id of the reply; the idempotency key." },
    "channel": { "enum": ["chat", "review"] },
    "kind": { "enum": ["public", "private"], "description": "public: an answer shown with a review; private: a chat message to the visitor." },
    "account": { "type": "string", "description": "The chat widget or review source, as in /webhooks/generic/{account}." },
    "in_reply_to": { "type": "string", "description": "The id of the message or review answered (an event id you delivered). Always present for public replies." },
    "thread_id": { "type": "string", "description": "The conversation or listing, as you delivered it." },
    "recipient": { "type": "string", "description": "The author id of the customer to message. A private reply has recipient or thread_id, or both." },
    "text": { "type": "string", "minLength": 1, "description": "At most 65536 bytes of UTF-8." }
  },
  "$defs": {
    "response": {
      "type": "object",
      "properties": { "id": { "type": ["string", "integer"], "description": "Your id of the delivered reply." } }
    }
  }
}"##;

/// The callback body; empty optional fields are left out.
#[derive(Serialize)]
struct Callback<'a> {
    #[serde(rename = "type")]
    kind_of_event: &'static str,
    reply_id: &'a str,
    channel: &'static str,
    kind: &'static str,
    account: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    in_reply_to: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    thread_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    recipient: &'a str,
    text: &'a str,
}

/// The request for a chat or review reply (the text is already checked), signed at `now_unix`.
pub(super) fn request(reply: &Reply, credentials: &Credentials, now_unix: i64) -> Result<HttpRequest, BuildError> {
    let channel = channel_name(reply.channel);
    match reply.kind {
        ReplyKind::Public if reply.in_reply_to.is_empty() => return Err(BuildError::MissingInReplyTo { channel }),
        ReplyKind::Private if reply.recipient_id.is_empty() && reply.thread_id.is_empty() => {
            return Err(BuildError::MissingRecipient { channel, also: " or thread_id" });
        }
        _ => {}
    }
    let url = callback_url(channel, &credentials.callback_url)?;
    if credentials.signing_secret.is_empty() {
        return Err(BuildError::MissingSigningSecret { channel });
    }
    // A header value (Idempotency-Key): Tend's ids are UUIDs, so anything else is a caller bug.
    path_id("reply_id", &reply.reply_id)?;
    let body = json_body(&Callback {
        kind_of_event: "reply",
        reply_id: &reply.reply_id,
        channel: if reply.channel == Channel::Review { "review" } else { "chat" },
        kind: match reply.kind {
            ReplyKind::Public => "public",
            ReplyKind::Private => "private",
        },
        account: &reply.account_id,
        in_reply_to: &reply.in_reply_to,
        thread_id: &reply.thread_id,
        recipient: &reply.recipient_id,
        text: &reply.text,
    });
    let signature = sign_generic(&credentials.signing_secret, &body, now_unix);
    Ok(HttpRequest {
        method: "POST",
        url: url.to_owned(),
        headers: vec![
            ("Content-Type".to_owned(), "application/json".to_owned()),
            ("Idempotency-Key".to_owned(), reply.reply_id.clone()),
            ("X-Tend-Signature".to_owned(), signature),
        ],
        body,
    })
}

/// The callback URL, trimmed, if it is an absolute `http`/`https` URL with a host, no
/// `user:password@`, and nothing a request line cannot carry (spaces, control characters).
fn callback_url<'a>(channel: &'static str, url: &'a str) -> Result<&'a str, BuildError> {
    let url = url.trim();
    if url.is_empty() {
        return Err(BuildError::MissingCallbackUrl { channel });
    }
    let invalid = || BuildError::InvalidCallbackUrl { excerpt: excerpt(url, 80) };
    let (scheme, rest) = url.split_once("://").ok_or_else(invalid)?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(invalid());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(BuildError::CallbackUrlWithCredentials);
    }
    // The host is what comes before any `:port`.
    let host = match authority.strip_prefix('[') {
        Some(ipv6) => ipv6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() || !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid());
    }
    Ok(url)
}
