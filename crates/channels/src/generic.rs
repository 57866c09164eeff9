//! Tend's own webhook schema, for sources without an adapter of their own: chat widgets and
//! review sites post their messages and reviews to `POST /webhooks/generic/{account}`, signed
//! with `X-Tend-Signature` ([`crate::signature::verify_generic`]).
//!
//! [`GENERIC_SCHEMA`] is the contract as a JSON Schema, published in the docs; this module's
//! [`parse`] is its implementation and checks the same rules, naming the field path of the first
//! violation. Unknown fields are ignored, so a sender may add fields before Tend reads them.
//!
//! ```json
//! {"events": [{
//!   "type": "review",                     // message | review | edit | delete
//!   "id": "rev-8812",                     // unique per channel of this account
//!   "channel": "review",                  // chat | review; default: review for reviews, else chat
//!   "thread_id": "store-42",              // optional: the conversation or listing
//!   "in_reply_to": "rev-8790",            // optional
//!   "author": {"id": "u-17", "name": "Ana", "handle": "ana", "email": "ana@example.com"},
//!   "text": "Two weeks and still no refund.",
//!   "rating": 1,                          // 1-5; required for reviews
//!   "title": "Slow refund",               // optional subject or review title
//!   "language": "en",                     // optional BCP 47 hint
//!   "created_at": "2026-03-01T09:30:00Z", // optional RFC 3339
//!   "url": "https://reviews.example/r/8812",
//!   "attachments": [{"name": "receipt.png", "content_type": "image/png", "size": 48213,
//!                    "url": "https://cdn.example/receipt.png"}]
//! }]}
//! ```
//!
//! The same module holds what every webhook adapter shares: [`Parsed`], the result type, and a
//! small JSON walker that reports the path of whatever is wrong.

use self::json::Obj;
use crate::{Attachment, Author, Change, Channel, Inbound, ParseError};

/// What a webhook adapter read from one delivery: the posts to ingest, and a label for each
/// event it deliberately skipped (likes, read receipts, the account's own posts, …) so the caller
/// can count them. Skipping is not an error: the platform expects a 200 for those too.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    /// The normalised posts, edits and deletions, in the delivery's order.
    pub posts: Vec<Inbound>,
    /// One label per skipped event, such as `"x.favorite_events"` or `"meta.message_echo"`: a
    /// fixed set per adapter, safe to use as a metric label.
    pub skipped: Vec<&'static str>,
}

impl Parsed {
    pub(crate) fn skip(&mut self, why: &'static str) {
        self.skipped.push(why);
    }
}

/// At most this many events in one generic delivery.
pub const MAX_EVENTS: usize = 100;
/// At most this many bytes of UTF-8 in one event's `text`.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// At most this many bytes in any other string field (ids, names, URLs, …).
pub const MAX_FIELD_BYTES: usize = 2048;
/// At most this many attachments on one event.
pub const MAX_ATTACHMENTS: usize = 20;

/// The generic webhook schema as JSON Schema (draft 2020-12), for the docs to publish and senders
/// to validate against. [`parse`] enforces the same rules.
pub const GENERIC_SCHEMA: &str = r##"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Tend generic webhook delivery",
  "description": "POST /webhooks/generic/{account}, signed with X-Tend-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, \"<t>.<raw body>\")>. Deliveries signed more than 5 minutes from the receiver's clock are refused. Unknown fields are ignored.",
  "type": "object",
  "required": ["events"],
  "properties": {
    "events": {
      "type": "array",
      "maxItems": 100,
      "items": { "$ref": "#/$defs/event" }
    }
  },
  "$defs": {
    "string": { "type": "string", "maxLength": 2048 },
    "event": {
      "type": "object",
      "required": ["type", "id"],
      "properties": {
        "type": {
          "enum": ["message", "review", "edit", "delete"],
          "description": "message: a new chat message; review: a new review; edit: new text for an event delivered before (same id); delete: it was removed at the source (only id and channel are read)."
        },
        "id": { "$ref": "#/$defs/string", "minLength": 1, "description": "The source's id of the message or review, unique per channel of this account." },
        "channel": { "enum": ["chat", "review"], "description": "Default: review for type review, chat otherwise. A review must be on the review channel." },
        "thread_id": { "$ref": "#/$defs/string", "description": "The conversation (chat session, reviewed listing) it belongs to." },
        "in_reply_to": { "$ref": "#/$defs/string", "description": "The id of the event this one answers." },
        "author": {
          "type": "object",
          "required": ["id"],
          "properties": {
            "id": { "$ref": "#/$defs/string", "minLength": 1 },
            "name": { "$ref": "#/$defs/string" },
            "handle": { "$ref": "#/$defs/string", "description": "Username; a leading @ is dropped." },
            "email": { "$ref": "#/$defs/string" }
          }
        },
        "text": { "type": "string", "description": "At most 65536 bytes of UTF-8." },
        "rating": { "type": "integer", "minimum": 1, "maximum": 5, "description": "Star rating; required for reviews, optional otherwise (a chat satisfaction score)." },
        "title": { "$ref": "#/$defs/string", "description": "A review title or message subject." },
        "language": { "$ref": "#/$defs/string", "description": "BCP 47 language hint." },
        "created_at": { "type": "string", "format": "date-time", "description": "RFC 3339." },
        "url": { "$ref": "#/$defs/string", "description": "A link to the event at the source." },
        "attachments": {
          "type": "array",
          "maxItems": 20,
          "items": {
            "type": "object",
            "properties": {
              "name": { "$ref": "#/$defs/string" },
              "content_type": { "$ref": "#/$defs/string" },
              "size": { "type": "integer", "minimum": 0 },
              "url": { "$ref": "#/$defs/string" }
            }
          }
        }
      },
      "allOf": [
        { "if": { "properties": { "type": { "enum": ["message", "review"] } } }, "then": { "required": ["author", "text"] } },
        { "if": { "properties": { "type": { "const": "review" } } }, "then": { "required": ["rating"] } },
        { "if": { "properties": { "type": { "const": "edit" } } }, "then": { "required": ["text"] } }
      ]
    }
  }
}"##;

/// Reads a generic delivery for `account_id` (the `{account}` of the URL: the chat widget or
/// review source). Every event becomes a post; nothing is skipped. The first rule broken fails
/// the whole delivery with the path, e.g. `events[3].rating: must be an integer from 1 to 5`.
pub fn parse(account_id: &str, body: &[u8]) -> Result<Parsed, ParseError> {
    let value = json::parse_body(body)?;
    let root = Obj::root(&value)?;
    let events = root.required_objs("events")?;
    if events.len() > MAX_EVENTS {
        return Err(root.error("events", &format!("at most {MAX_EVENTS} events in one delivery")));
    }
    let mut parsed = Parsed::default();
    for event in &events {
        parsed.posts.push(event_to_post(account_id, event)?);
    }
    Ok(parsed)
}

/// One event of the generic schema as a post.
fn event_to_post(account_id: &str, event: &Obj<'_>) -> Result<Inbound, ParseError> {
    let kind = event.str("type")?;
    let change = match kind {
        "message" | "review" => Change::Created,
        "edit" => Change::Edited,
        "delete" => Change::Deleted,
        _ => return Err(event.error("type", "expected message, review, edit or delete")),
    };
    let channel = match (event.opt_str("channel")?, kind) {
        (Some("review"), _) | (None, "review") => Channel::Review,
        (Some("chat"), "review") => return Err(event.error("channel", "a review must be on the review channel")),
        (Some("chat"), _) | (None, _) => Channel::Chat,
        (Some(_), _) => return Err(event.error("channel", "expected chat or review")),
    };
    let id = bounded(event, "id", event.id("id")?)?;
    let mut post = Inbound::new(channel, account_id, id);
    post.change = change;
    post.private = channel == Channel::Chat;
    post.thread_id = bounded_opt(event, "thread_id")?;
    post.in_reply_to = bounded_opt(event, "in_reply_to")?;
    if change == Change::Deleted {
        return Ok(post);
    }

    let author = if change == Change::Created { Some(event.obj("author")?) } else { event.opt_obj("author")? };
    if let Some(author) = author {
        post.author = Author {
            id: bounded(&author, "id", author.id("id")?)?,
            display_name: bounded_opt(&author, "name")?,
            handle: bounded_opt(&author, "handle")?.trim_start_matches('@').to_owned(),
            email: bounded_opt(&author, "email")?,
            ..Author::default()
        };
    }
    let text = event.str("text")?;
    if text.len() > MAX_TEXT_BYTES {
        return Err(event.error("text", &format!("longer than {MAX_TEXT_BYTES} bytes")));
    }
    post.text = text.to_owned();
    post.rating = match event.opt_i64("rating")? {
        Some(rating @ 1..=5) => u8::try_from(rating).ok(),
        None if kind != "review" => None,
        _ => return Err(event.error("rating", "must be an integer from 1 to 5")),
    };
    post.subject = bounded_opt(event, "title")?;
    post.language_hint = bounded_opt(event, "language")?;
    post.url = bounded_opt(event, "url")?;
    post.posted_at = event.opt_rfc3339("created_at")?;
    let attachments = event.objs("attachments")?;
    if attachments.len() > MAX_ATTACHMENTS {
        return Err(event.error("attachments", &format!("at most {MAX_ATTACHMENTS} attachments")));
    }
    for attachment in &attachments {
        post.attachments.push(Attachment {
            name: bounded_opt(attachment, "name")?,
            content_type: bounded_opt(attachment, "content_type")?,
            size: attachment.opt_u64("size")?,
            url: bounded_opt(attachment, "url")?,
        });
    }
    Ok(post)
}

/// `value` of `obj.key`, refused when over [`MAX_FIELD_BYTES`].
fn bounded(obj: &Obj<'_>, key: &str, value: String) -> Result<String, ParseError> {
    if value.len() > MAX_FIELD_BYTES {
        return Err(obj.error(key, &format!("longer than {MAX_FIELD_BYTES} bytes")));
    }
    Ok(value)
}

/// The optional string `obj.key` ("" when absent), refused when over [`MAX_FIELD_BYTES`].
fn bounded_opt(obj: &Obj<'_>, key: &str) -> Result<String, ParseError> {
    let value = obj.opt_str(key)?.unwrap_or_default().to_owned();
    bounded(obj, key, value)
}

/// A JSON walker for the adapters: typed accessors on an object that know their own path, so
/// every error says where it is (`entry[0].changes[1].value.comment_id: missing`) and nothing
/// of the body is echoed.
///
/// Conventions: `null` counts as absent; a field present with the wrong type is an error even
/// when it is optional (the payload is not what the adapter understands); ids may be strings or
/// integers, since platforms are not consistent.
pub(crate) mod json {
    use chrono::{DateTime, Utc};
    use serde_json::{Map, Value};

    use crate::ParseError;

    /// The body as a JSON value, or an error naming the syntax problem and its position.
    pub(crate) fn parse_body(body: &[u8]) -> Result<Value, ParseError> {
        // serde_json's messages for syntax errors are fixed phrases plus a position; they never
        // quote the input, so they are safe to pass on.
        serde_json::from_slice(body).map_err(|e| ParseError::new(format!("body: not valid JSON: {e}")))
    }

    /// A JSON object and where it is in the body.
    #[derive(Debug, Clone)]
    pub(crate) struct Obj<'a> {
        map: &'a Map<String, Value>,
        path: String,
    }

    impl<'a> Obj<'a> {
        /// The body's top level, which must be an object.
        pub(crate) fn root(value: &'a Value) -> Result<Self, ParseError> {
            match value {
                Value::Object(map) => Ok(Obj { map, path: String::new() }),
                _ => Err(ParseError::new("body: expected a JSON object")),
            }
        }

        /// The path of `key` in this object.
        pub(crate) fn path_of(&self, key: &str) -> String {
            if self.path.is_empty() { key.to_owned() } else { format!("{}.{key}", self.path) }
        }

        /// An error about `key`: "`path.key`: `what`".
        pub(crate) fn error(&self, key: &str, what: &str) -> ParseError {
            ParseError::new(format!("{}: {what}", self.path_of(key)))
        }

        /// The keys present, in the map's order.
        pub(crate) fn keys(&self) -> impl Iterator<Item = &'a str> + use<'a> {
            self.map.keys().map(String::as_str)
        }

        /// The raw value of `key`; `null` counts as absent.
        pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
            self.map.get(key).filter(|v| !v.is_null())
        }

        /// Whether `key` is present and not `null`.
        pub(crate) fn has(&self, key: &str) -> bool {
            self.get(key).is_some()
        }

        /// A required string.
        pub(crate) fn str(&self, key: &str) -> Result<&'a str, ParseError> {
            self.opt_str(key)?.ok_or_else(|| self.error(key, "missing"))
        }

        /// An optional string.
        pub(crate) fn opt_str(&self, key: &str) -> Result<Option<&'a str>, ParseError> {
            match self.get(key) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(self.error(key, "expected a string")),
            }
        }

        /// A required, non-empty id (string or integer).
        pub(crate) fn id(&self, key: &str) -> Result<String, ParseError> {
            self.opt_id(key)?.ok_or_else(|| self.error(key, "missing"))
        }

        /// An optional id (string or integer); an empty string counts as absent.
        pub(crate) fn opt_id(&self, key: &str) -> Result<Option<String>, ParseError> {
            match self.get(key) {
                None => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(Some(n.to_string())),
                Some(_) => Err(self.error(key, "expected a string or integer id")),
            }
        }

        /// An optional integer, given as a JSON integer or a string of digits (X sends
        /// millisecond timestamps as strings).
        pub(crate) fn opt_i64(&self, key: &str) -> Result<Option<i64>, ParseError> {
            match self.get(key) {
                None => Ok(None),
                Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| self.error(key, "expected an integer")),
                Some(Value::String(s)) => s.parse().map(Some).map_err(|_| self.error(key, "expected an integer")),
                Some(_) => Err(self.error(key, "expected an integer")),
            }
        }

        /// An optional non-negative integer.
        pub(crate) fn opt_u64(&self, key: &str) -> Result<Option<u64>, ParseError> {
            match self.opt_i64(key)? {
                None => Ok(None),
                Some(n) => u64::try_from(n).map(Some).map_err(|_| self.error(key, "must not be negative")),
            }
        }

        /// An optional boolean.
        pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>, ParseError> {
            match self.get(key) {
                None => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(*b)),
                Some(_) => Err(self.error(key, "expected true or false")),
            }
        }

        /// A required object.
        pub(crate) fn obj(&self, key: &str) -> Result<Obj<'a>, ParseError> {
            self.opt_obj(key)?.ok_or_else(|| self.error(key, "missing"))
        }

        /// An optional object.
        pub(crate) fn opt_obj(&self, key: &str) -> Result<Option<Obj<'a>>, ParseError> {
            match self.get(key) {
                None => Ok(None),
                Some(Value::Object(map)) => Ok(Some(Obj { map, path: self.path_of(key) })),
                Some(_) => Err(self.error(key, "expected an object")),
            }
        }

        /// An optional array (absent gives `None`).
        pub(crate) fn opt_array(&self, key: &str) -> Result<Option<&'a [Value]>, ParseError> {
            match self.get(key) {
                None => Ok(None),
                Some(Value::Array(items)) => Ok(Some(items)),
                Some(_) => Err(self.error(key, "expected an array")),
            }
        }

        /// A required array of objects.
        pub(crate) fn required_objs(&self, key: &str) -> Result<Vec<Obj<'a>>, ParseError> {
            if !self.has(key) {
                return Err(self.error(key, "missing"));
            }
            self.objs(key)
        }

        /// An optional array of objects (absent gives an empty list), each element with its
        /// index in its path.
        pub(crate) fn objs(&self, key: &str) -> Result<Vec<Obj<'a>>, ParseError> {
            let Some(items) = self.opt_array(key)? else { return Ok(Vec::new()) };
            let base = self.path_of(key);
            items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Object(map) => Ok(Obj { map, path: format!("{base}[{i}]") }),
                    _ => Err(ParseError::new(format!("{base}[{i}]: expected an object"))),
                })
                .collect()
        }

        /// An optional array of strings (absent gives an empty list).
        pub(crate) fn strs(&self, key: &str) -> Result<Vec<&'a str>, ParseError> {
            let Some(items) = self.opt_array(key)? else { return Ok(Vec::new()) };
            let base = self.path_of(key);
            items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok(s.as_str()),
                    _ => Err(ParseError::new(format!("{base}[{i}]: expected a string"))),
                })
                .collect()
        }

        /// An optional RFC 3339 timestamp.
        pub(crate) fn opt_rfc3339(&self, key: &str) -> Result<Option<DateTime<Utc>>, ParseError> {
            let Some(text) = self.opt_str(key)? else { return Ok(None) };
            DateTime::parse_from_rfc3339(text)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| self.error(key, "expected an RFC 3339 timestamp"))
        }

        /// An optional Graph API time (`2018-03-07T17:02:03+0000`, an offset without a colon),
        /// or RFC 3339.
        pub(crate) fn opt_graph_time(&self, key: &str) -> Result<Option<DateTime<Utc>>, ParseError> {
            let Some(text) = self.opt_str(key)? else { return Ok(None) };
            DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%z")
                .or_else(|_| DateTime::parse_from_rfc3339(text))
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| self.error(key, "expected a time like 2018-03-07T17:02:03+0000"))
        }

        /// An optional unix timestamp in seconds or milliseconds (integer or string of digits).
        /// Values past the year 5138 in seconds are read as milliseconds: platforms mix both
        /// (Meta's `entry.time` is seconds for feed changes and milliseconds for messaging).
        pub(crate) fn opt_unix_time(&self, key: &str) -> Result<Option<DateTime<Utc>>, ParseError> {
            let Some(n) = self.opt_i64(key)? else { return Ok(None) };
            let time = if n.unsigned_abs() >= 100_000_000_000 {
                DateTime::from_timestamp_millis(n)
            } else {
                DateTime::from_timestamp(n, 0)
            };
            time.map(Some).ok_or_else(|| self.error(key, "timestamp out of range"))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn paths_name_the_field() {
            let value: Value = serde_json::from_str(r#"{"a":[{"b":{"c":1}},{"b":{}}]}"#).unwrap();
            let root = Obj::root(&value).unwrap();
            let items = root.objs("a").unwrap();
            assert_eq!(items[1].obj("b").unwrap().str("c").unwrap_err().to_string(), "a[1].b.c: missing");
            assert_eq!(items[0].obj("b").unwrap().str("c").unwrap_err().to_string(), "a[0].b.c: expected a string");
            assert_eq!(items[0].obj("b").unwrap().id("c").unwrap(), "1");
        }

        #[test]
        fn unix_time_takes_seconds_and_millis() {
            let value: Value = serde_json::from_str(r#"{"s":1520383571,"ms":"1458692752478"}"#).unwrap();
            let root = Obj::root(&value).unwrap();
            assert_eq!(root.opt_unix_time("s").unwrap().unwrap().timestamp(), 1_520_383_571);
            assert_eq!(root.opt_unix_time("ms").unwrap().unwrap().timestamp_millis(), 1_458_692_752_478);
        }
    }
}
