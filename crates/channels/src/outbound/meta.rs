//! Meta Graph API: comment replies on Facebook (`POST /{comment-id}/comments`) and Instagram
//! (`POST /{ig-comment-id}/replies`), replies to Instagram mentions (`POST
//! /{ig-user-id}/mentions` with `media_id` and, for a comment, `comment_id`: a thread starting
//! with [`crate::meta::MENTION_THREAD_PREFIX`]), and private messages through the Send API
//! (`POST /{page-id}/messages`), all with the Page access token as a bearer header.
//!
//! Instagram direct messages go to `me/messages`: through the Messenger Platform the sender is
//! the Facebook Page linked to the Instagram account, not the Instagram account id Tend knows,
//! and `me` is that Page for a Page access token (and the Instagram account itself with the
//! Instagram API with Instagram Login, where `{meta}` is `https://graph.instagram.com/<version>`).

use serde::Serialize;
use serde_json::Value;

use super::{BuildError, Credentials, HttpRequest, Reply, ReplyKind, bearer, channel_name, json_body, path_id};
use crate::Channel;

/// A comment or comment reply.
#[derive(Serialize)]
struct Comment<'a> {
    message: &'a str,
}

/// A reply to an Instagram mention: a comment on the mentioning media, under the mentioning
/// comment if there is one.
#[derive(Serialize)]
struct MentionReply<'a> {
    media_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment_id: Option<&'a str>,
    message: &'a str,
}

/// A Send API text message answering the customer (`messaging_type: RESPONSE`, allowed within
/// 24 hours of the customer's last message).
#[derive(Serialize)]
struct SendMessage<'a> {
    recipient: Recipient<'a>,
    messaging_type: &'static str,
    message: Text<'a>,
}

/// The `recipient` of [`SendMessage`].
#[derive(Serialize)]
struct Recipient<'a> {
    id: &'a str,
}

/// The `message` of [`SendMessage`].
#[derive(Serialize)]
struct Text<'a> {
    text: &'a str,
}

/// The request for a Facebook or Instagram reply (the text is already checked).
pub(super) fn request(reply: &Reply, credentials: &Credentials, base: &str) -> Result<HttpRequest, BuildError> {
    let base = base.trim_end_matches('/');
    let channel = channel_name(reply.channel);
    let (url, body) = match reply.kind {
        ReplyKind::Public => {
            if reply.in_reply_to.is_empty() {
                return Err(BuildError::MissingInReplyTo { channel });
            }
            let comment = path_id("in_reply_to", &reply.in_reply_to)?;
            let mentioned_media = match reply.channel {
                Channel::Instagram => reply.thread_id.strip_prefix(crate::meta::MENTION_THREAD_PREFIX),
                _ => None,
            };
            if let Some(media_id) = mentioned_media {
                let account = path_id("account_id", &reply.account_id)?;
                // A caption mention is answered by the media's id itself.
                let comment_id = (comment != media_id).then_some(comment);
                let body = MentionReply { media_id, comment_id, message: &reply.text };
                (format!("{base}/{account}/mentions"), json_body(&body))
            } else {
                let edge = if reply.channel == Channel::Instagram { "replies" } else { "comments" };
                (format!("{base}/{comment}/{edge}"), json_body(&Comment { message: &reply.text }))
            }
        }
        ReplyKind::Private => {
            if reply.recipient_id.is_empty() {
                return Err(BuildError::MissingRecipient { channel, also: "" });
            }
            let sender = match reply.channel {
                Channel::Instagram => "me",
                _ => path_id("account_id", &reply.account_id)?,
            };
            let body = SendMessage {
                recipient: Recipient { id: &reply.recipient_id },
                messaging_type: "RESPONSE",
                message: Text { text: &reply.text },
            };
            (format!("{base}/{sender}/messages"), json_body(&body))
        }
    };
    let authorization = bearer(reply.channel, &credentials.access_token)?;
    Ok(HttpRequest {
        method: "POST",
        url,
        headers: vec![
            ("Authorization".to_owned(), authorization),
            ("Content-Type".to_owned(), "application/json".to_owned()),
        ],
        body,
    })
}

/// The id of what a 2xx created: `id` for a comment, `message_id` for a message.
pub(super) fn created_id(kind: ReplyKind, body: &Value) -> Option<String> {
    super::response::id_at(body, &[created_id_name(kind)])
}

/// The name of the id [`created_id`] looks for, for messages.
pub(super) fn created_id_name(kind: ReplyKind) -> &'static str {
    match kind {
        ReplyKind::Public => "id",
        ReplyKind::Private => "message_id",
    }
}

/// Meta's `error` object, as far as the outcome needs it.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct GraphError {
    /// `error.message`.
    pub(super) message: String,
    /// `error.code`.
    pub(super) code: Option<i64>,
    /// `error.error_subcode`.
    pub(super) subcode: Option<i64>,
    /// `error.is_transient`: Meta says retrying may work.
    pub(super) transient: bool,
}

impl GraphError {
    /// The `error` of a Graph API body, if it has one.
    pub(super) fn parse(body: &Value) -> Option<GraphError> {
        let error = body.get("error")?.as_object()?;
        let number = |key: &str| {
            error.get(key).and_then(|value| value.as_i64().or_else(|| value.as_str().and_then(|s| s.parse().ok())))
        };
        Some(GraphError {
            message: error.get("message").and_then(Value::as_str).unwrap_or_default().to_owned(),
            code: number("code"),
            subcode: number("error_subcode"),
            transient: error.get("is_transient").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    /// Whether the error is a throttle: application (4), user (17), Page (32) or custom (613)
    /// rate limits, or a Business Use Case limit (80000 to 80014: Pages 80001, Instagram 80002,
    /// Messenger 80006, …).
    pub(super) fn is_rate_limit(&self) -> bool {
        matches!(self.code, Some(4 | 17 | 32 | 613 | 80_000..=80_014))
    }

    /// Whether Meta says to wait and retry: a rate limit, `is_transient`, or the "unknown" (1)
    /// and "service" (2) errors its error-handling guide says to retry.
    pub(super) fn is_retryable(&self) -> bool {
        self.is_rate_limit() || self.transient || matches!(self.code, Some(1 | 2))
    }

    /// The message with the codes, and a hint for the errors an agent can act on.
    pub(super) fn describe(&self) -> String {
        let mut text = if self.message.trim().is_empty() { "no message".to_owned() } else { self.message.clone() };
        match (self.code, self.subcode) {
            (Some(code), Some(subcode)) => text.push_str(&format!(" (code {code}, subcode {subcode})")),
            (Some(code), None) => text.push_str(&format!(" (code {code})")),
            _ => {}
        }
        match (self.code, self.subcode) {
            (Some(190), _) => text.push_str(": the access token is invalid or expired; connect the account again"),
            (Some(10), Some(2_018_278)) => {
                text.push_str(": more than 24 hours since the customer's last message, so the Page may not answer")
            }
            _ => {}
        }
        text
    }
}
