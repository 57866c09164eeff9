//! X API v2: a reply tweet (`POST /2/tweets`) or a one-to-one direct message
//! (`POST /2/dm_conversations/with/{participant_id}/messages`), with the account's OAuth 2.0
//! user-context token.

use serde::Serialize;
use serde_json::Value;

use super::{BuildError, Credentials, HttpRequest, Reply, ReplyKind, bearer, json_body, path_id};

/// `POST /2/tweets` body of a reply.
#[derive(Serialize)]
struct CreateTweet<'a> {
    text: &'a str,
    reply: InReplyTo<'a>,
}

/// The `reply` object of [`CreateTweet`].
#[derive(Serialize)]
struct InReplyTo<'a> {
    in_reply_to_tweet_id: &'a str,
}

/// `POST /2/dm_conversations/with/:participant_id/messages` body.
#[derive(Serialize)]
struct CreateMessage<'a> {
    text: &'a str,
}

/// The request for an X reply (the text is already checked).
pub(super) fn request(reply: &Reply, credentials: &Credentials, base: &str) -> Result<HttpRequest, BuildError> {
    let base = base.trim_end_matches('/');
    let (url, body) = match reply.kind {
        ReplyKind::Public => {
            if reply.in_reply_to.is_empty() {
                return Err(BuildError::MissingInReplyTo { channel: "X" });
            }
            // In the body, not the path; still checked so X gets an id, not whatever was stored.
            let tweet = path_id("in_reply_to", &reply.in_reply_to)?;
            let body = CreateTweet { text: &reply.text, reply: InReplyTo { in_reply_to_tweet_id: tweet } };
            (format!("{base}/2/tweets"), json_body(&body))
        }
        ReplyKind::Private => {
            if reply.recipient_id.is_empty() {
                return Err(BuildError::MissingRecipient { channel: "X", also: "" });
            }
            let participant = path_id("recipient_id", &reply.recipient_id)?;
            let url = format!("{base}/2/dm_conversations/with/{participant}/messages");
            (url, json_body(&CreateMessage { text: &reply.text }))
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

/// The id of what a 2xx created: `data.id` for a tweet, `data.dm_event_id` for a message.
pub(super) fn created_id(kind: ReplyKind, body: &Value) -> Option<String> {
    let key = match kind {
        ReplyKind::Public => "id",
        ReplyKind::Private => "dm_event_id",
    };
    super::response::id_at(body, &["data", key])
}

/// The name of the id [`created_id`] looks for, for messages.
pub(super) fn created_id_name(kind: ReplyKind) -> &'static str {
    match kind {
        ReplyKind::Public => "data.id",
        ReplyKind::Private => "data.dm_event_id",
    }
}

/// X's error message in a body: the `errors[].message`s (v1.1 style and v2 partial errors), else
/// the problem's `detail`, else its `title`.
pub(super) fn error_message(body: &Value) -> Option<String> {
    let messages: Vec<&str> = body
        .get("errors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .filter_map(|error| error.get("message").and_then(Value::as_str))
                .filter(|message| !message.trim().is_empty())
                .collect()
        })
        .unwrap_or_default();
    if !messages.is_empty() {
        return Some(messages.join("; "));
    }
    ["detail", "title"]
        .iter()
        .filter_map(|key| body.get(*key).and_then(Value::as_str))
        .find(|message| !message.trim().is_empty())
        .map(str::to_owned)
}
