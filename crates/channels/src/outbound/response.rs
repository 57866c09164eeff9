//! The platform's answer as an [`Outcome`]: one status table for every channel, with each
//! platform's way of naming the created id and describing an error.

use serde_json::Value;

use super::{Outcome, Reply, channel_name, excerpt, meta, retry, x};
use crate::Channel;

/// At most this many characters of the platform's error (message or raw body) in a reason.
const MAX_ERROR_CHARS: usize = 300;

/// See [`super::outcome`].
pub(super) fn outcome(reply: &Reply, status: u16, headers: &[(String, String)], body: &[u8], now_unix: i64) -> Outcome {
    let channel = channel_name(reply.channel);
    if reply.channel == Channel::Email {
        return Outcome::Failed { reason: "email replies are not sent over HTTP: nothing to read".to_owned() };
    }
    // Error and success bodies are JSON on every platform; anything else is shown as an excerpt.
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let graph_error = match reply.channel {
        Channel::Facebook | Channel::Instagram => json.as_ref().and_then(meta::GraphError::parse),
        _ => None,
    };
    let said = || platform_error(reply.channel, json.as_ref(), graph_error.as_ref(), body);

    match status {
        200..=299 => {
            let id = json.as_ref().and_then(|json| match reply.channel {
                Channel::X => x::created_id(reply.kind, json),
                Channel::Facebook | Channel::Instagram => meta::created_id(reply.kind, json),
                _ => id_at(json, &["id"]),
            });
            match (id, reply.channel) {
                (Some(platform_id), _) => Outcome::Sent { platform_id },
                (None, Channel::Chat | Channel::Review) => Outcome::Sent { platform_id: reply.reply_id.clone() },
                (None, _) => {
                    let expected = match reply.channel {
                        Channel::X => x::created_id_name(reply.kind),
                        _ => meta::created_id_name(reply.kind),
                    };
                    Outcome::Failed {
                        reason: format!(
                            "{channel} answered {status} without {expected}{}; the reply may or may not be posted: check the account before sending it again",
                            said().map(|text| format!(" ({text})")).unwrap_or_default()
                        ),
                    }
                }
            }
        }
        429 | 408 | 500..=599 => Outcome::Retry {
            reason: format!("{channel} answered {status}{}", describe(status, said())),
            after: retry::wait(headers, now_unix),
        },
        400..=499 if graph_error.as_ref().is_some_and(meta::GraphError::is_retryable) => {
            let why = if graph_error.as_ref().is_some_and(meta::GraphError::is_rate_limit) {
                "rate limited"
            } else {
                "a temporary error"
            };
            Outcome::Retry {
                reason: format!("{channel} answered {status}, {why}{}", describe(status, said())),
                after: retry::wait(headers, now_unix),
            }
        }
        400..=499 => Outcome::Failed { reason: format!("{channel} answered {status}{}", describe(status, said())) },
        _ => Outcome::Failed {
            reason: format!(
                "{channel} answered an unexpected {status}{}; check the API base or callback URL",
                describe(status, said())
            ),
        },
    }
}

/// `": <what the platform said>"`, or a hint from the status when it said nothing.
fn describe(status: u16, said: Option<String>) -> String {
    if let Some(text) = said {
        return format!(": {text}");
    }
    let hint = match status {
        401 => "unauthorized: the access token is invalid or expired; connect the account again",
        403 => "forbidden: the account lacks the permission, or the platform refuses this reply",
        404 => "not found: the post, comment or recipient no longer exists",
        408 => "request timeout",
        429 => "too many requests",
        500..=599 => "the platform failed",
        _ => return String::new(),
    };
    format!(": {hint}")
}

/// What the platform said went wrong: its structured message if the body has one, else an
/// excerpt of the body; `None` for an empty body. At most [`MAX_ERROR_CHARS`] characters.
fn platform_error(
    channel: Channel,
    json: Option<&Value>,
    graph_error: Option<&meta::GraphError>,
    body: &[u8],
) -> Option<String> {
    let structured = match (channel, json) {
        (Channel::Facebook | Channel::Instagram, _) => graph_error.map(meta::GraphError::describe),
        (Channel::X, Some(json)) => x::error_message(json),
        (_, Some(json)) => generic_error_message(json),
        (_, None) => None,
    };
    if let Some(text) = structured {
        return Some(excerpt(text.trim(), MAX_ERROR_CHARS));
    }
    let raw = String::from_utf8_lossy(body);
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    Some(format!("body: {}", excerpt(&raw.split_whitespace().collect::<Vec<_>>().join(" "), MAX_ERROR_CHARS)))
}

/// A generic receiver's error: `{"error": "..."}`, `{"error": {"message": "..."}}` or
/// `{"message": "..."}`.
fn generic_error_message(json: &Value) -> Option<String> {
    let error = json.get("error");
    let text = error
        .and_then(Value::as_str)
        .or_else(|| error.and_then(|e| e.get("message")).and_then(Value::as_str))
        .or_else(|| json.get("message").and_then(Value::as_str))?;
    (!text.trim().is_empty()).then(|| text.to_owned())
}

/// The id at `path` in `json`, as a string (ids may come as JSON numbers); `None` if absent or
/// empty.
pub(super) fn id_at(json: &Value, path: &[&str]) -> Option<String> {
    let value = path.iter().try_fold(json, |value, key| value.get(*key))?;
    let id = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound::ReplyKind;

    #[test]
    fn ids_may_be_numbers_but_not_empty() {
        let json: Value = serde_json::from_str(r#"{"id": 17873440459141021, "data": {"id": ""}}"#).unwrap();
        assert_eq!(id_at(&json, &["id"]).as_deref(), Some("17873440459141021"));
        assert_eq!(id_at(&json, &["data", "id"]), None);
        assert_eq!(id_at(&json, &["data", "missing"]), None);
    }

    #[test]
    fn unstructured_bodies_are_cut() {
        let body = "x".repeat(1000);
        let text = platform_error(Channel::X, None, None, body.as_bytes()).unwrap();
        assert!(text.starts_with("body: xxx"));
        assert!(text.chars().count() <= MAX_ERROR_CHARS + "body: …".chars().count());
        assert_eq!(platform_error(Channel::X, None, None, b"  "), None);
    }

    #[test]
    fn kinds_name_their_ids() {
        assert_eq!(x::created_id_name(ReplyKind::Private), "data.dm_event_id");
        assert_eq!(meta::created_id_name(ReplyKind::Private), "message_id");
    }
}
