//! Replies going out: Tend's answer to a post as the platform's HTTP request, and the platform's
//! response read back as sent, retry later, or failed. Pure, like the rest of the crate: the
//! caller (ingest's delivery worker) sends the request and hands back the response.
//!
//! ```text
//! reply job ──request()──▶ HttpRequest ──(worker sends it)──▶ status, headers, body ──outcome()──▶ Outcome
//!                ▲                                                                                   │
//!                └──── TokenBucket::try_take(now) before each send, one bucket per account ──────────┘
//! ```
//!
//! | channel | kind | request | platform id on success |
//! | --- | --- | --- | --- |
//! | X | public | `POST {x}/2/tweets` `{"text", "reply": {"in_reply_to_tweet_id"}}` | `data.id` |
//! | X | private | `POST {x}/2/dm_conversations/with/{recipient}/messages` `{"text"}` | `data.dm_event_id` |
//! | Facebook | public | `POST {meta}/{in_reply_to}/comments` `{"message"}` | `id` |
//! | Facebook | private | `POST {meta}/{account}/messages` (Send API, `messaging_type: RESPONSE`) | `message_id` |
//! | Instagram | public | `POST {meta}/{in_reply_to}/replies` `{"message"}` | `id` |
//! | Instagram | public, to a mention | `POST {meta}/{account}/mentions` `{"media_id", "comment_id", "message"}` | `id` |
//! | Instagram | private | `POST {meta}/me/messages` (Send API, `messaging_type: RESPONSE`) | `message_id` |
//! | Chat, Review | either | `POST {callback_url}` [`CALLBACK_SCHEMA`], signed `X-Tend-Signature` | `id`, else the reply id |
//!
//! X and Meta take the account's token as `Authorization: Bearer`, never in the URL, so a logged
//! URL holds no secret. Email is not sent here (SMTP is elsewhere): [`request`] refuses it.
//!
//! [`outcome`] decides what happens next: a 2xx with the platform's id is [`Outcome::Sent`]; 429,
//! 408, 5xx and Meta's rate-limit error codes are [`Outcome::Retry`], with the wait the platform
//! asked for (`Retry-After`, X's `x-rate-limit-reset`, Meta's `X-Business-Use-Case-Usage`);
//! anything else is [`Outcome::Failed`] with the platform's own error message. A retry after a
//! 5xx or a timeout may post twice: neither X nor Meta takes an idempotency key (the generic
//! callback gets `Idempotency-Key`, the reply id).
//!
//! [`TokenBucket`] keeps the worker under each account's quota before the platform has to say so;
//! [`Quota::default_for`] documents the defaults and their sources.
//!
//! ```
//! use tend_channels::Channel;
//! use tend_channels::outbound::{request, outcome, BaseUrls, Credentials, Outcome, Reply, ReplyKind};
//!
//! let reply = Reply {
//!     in_reply_to: "1445880548472328192".into(),
//!     text: "Sorry about that! We've sent you a DM.".into(),
//!     ..Reply::new("reply-42", Channel::X, ReplyKind::Public, "2244994945")
//! };
//! let credentials = Credentials { access_token: "user-token".into(), ..Credentials::default() };
//! let http = request(&reply, &credentials, &BaseUrls::default(), 1_700_000_000).unwrap();
//! assert_eq!((http.method, http.url.as_str()), ("POST", "https://api.x.com/2/tweets"));
//!
//! let body = br#"{"data":{"id":"1445880548472328193","text":"Sorry about that!"}}"#;
//! assert_eq!(
//!     outcome(&reply, 201, &[], body, 1_700_000_001),
//!     Outcome::Sent { platform_id: "1445880548472328193".into() }
//! );
//! ```

mod generic;
mod meta;
mod quota;
mod response;
mod retry;
#[cfg(test)]
mod tests;
mod x;

use std::time::Duration;

pub use generic::CALLBACK_SCHEMA;
pub use quota::{MAX_QUOTA_WINDOW, Quota, QuotaError, TokenBucket};

/// How long a platform's response asks the caller to wait (`Retry-After`, X's rate-limit
/// reset headers, Meta's Business Use Case estimate), counted from `now_unix` and capped at a
/// day; `None` when it does not say. For any call to X or Meta, not only replies (the mention
/// poller waits on it too).
pub fn requested_wait(headers: &[(String, String)], now_unix: i64) -> Option<Duration> {
    retry::wait(headers, now_unix)
}

use crate::Channel;

/// Whether a reply is seen by everyone or only by the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyKind {
    /// A public reply: a reply tweet, a comment under a Facebook or Instagram comment, a public
    /// answer to a review.
    Public,
    /// A private message: an X direct message, Messenger, an Instagram direct message, a chat
    /// message.
    Private,
}

/// One reply to send, as the delivery worker knows it from the reply job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Tend's id of the reply. It is the idempotency key where the platform takes one (the
    /// generic callback's `Idempotency-Key` header), and the platform id of a generic reply whose
    /// receiver returns none.
    pub reply_id: String,
    /// The channel it goes out on. [`Channel::Email`] is not sent over HTTP.
    pub channel: Channel,
    /// Public reply or private message.
    pub kind: ReplyKind,
    /// The brand's account on the platform: X user id, Facebook Page id, Instagram professional
    /// account id, chat widget or review source id.
    pub account_id: String,
    /// The platform's id of the post or comment answered (tweet id, Facebook post or comment id,
    /// Instagram comment id, review id). Required for public replies.
    pub in_reply_to: String,
    /// The platform's id of the customer, for private messages: X user id, Messenger page-scoped
    /// id (PSID), Instagram-scoped id (IGSID), chat visitor id.
    pub recipient_id: String,
    /// The conversation or thread id, if known: the generic callback's (a chat session, a
    /// reviewed listing), or an Instagram mention's (the media mentioning the account).
    pub thread_id: String,
    /// The text of the reply, as the agent wrote it.
    pub text: String,
}

impl Reply {
    /// A reply with the given identity and every id and the text empty, for the caller to fill in.
    pub fn new(reply_id: impl Into<String>, channel: Channel, kind: ReplyKind, account_id: impl Into<String>) -> Self {
        Reply {
            reply_id: reply_id.into(),
            channel,
            kind,
            account_id: account_id.into(),
            in_reply_to: String::new(),
            recipient_id: String::new(),
            thread_id: String::new(),
            text: String::new(),
        }
    }
}

/// The account's secrets a request needs. Each channel reads only its own fields; the rest may be
/// empty. `Debug` shows which fields are set, never their values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// X: the account's OAuth 2.0 user-context access token (scopes `tweet.write` for replies,
    /// `dm.write` for direct messages). Facebook and Instagram: the Page access token.
    pub access_token: String,
    /// Generic callback: the secret shared with the receiver, signing `X-Tend-Signature`.
    pub signing_secret: String,
    /// Generic callback: the account's configured reply URL (`http` or `https`). Not a secret:
    /// it is logged and shown by `Debug`, so it must carry no token (the signature authenticates).
    pub callback_url: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |value: &str| if value.is_empty() { "<empty>" } else { "<set>" };
        f.debug_struct("Credentials")
            .field("access_token", &set(&self.access_token))
            .field("signing_secret", &set(&self.signing_secret))
            .field("callback_url", &self.callback_url)
            .finish()
    }
}

/// X's API root, unless configured otherwise.
pub const DEFAULT_X_BASE: &str = "https://api.x.com";
/// Meta's Graph API root, with the API version, unless configured otherwise.
pub const DEFAULT_META_BASE: &str = "https://graph.facebook.com/v21.0";

/// Where the platforms' APIs are: the defaults in production, a simulator in tests. A trailing
/// `/` is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrls {
    /// X's API root, [`DEFAULT_X_BASE`] by default.
    pub x: String,
    /// Meta's Graph API root including the version, [`DEFAULT_META_BASE`] by default. The
    /// Instagram API with Instagram Login lives at `https://graph.instagram.com/<version>` and
    /// takes the same requests.
    pub meta: String,
}

impl Default for BaseUrls {
    fn default() -> Self {
        BaseUrls { x: DEFAULT_X_BASE.to_owned(), meta: DEFAULT_META_BASE.to_owned() }
    }
}

/// An HTTP request for the worker to send as is. It holds the access token in its headers: log
/// the method and URL, never the headers.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method: always `POST` for now.
    pub method: &'static str,
    /// The full URL. It never contains a secret.
    pub url: String,
    /// Header names and values, in the order to send them.
    pub headers: Vec<(String, String)>,
    /// The body: JSON, as the `Content-Type` header says.
    pub body: Vec<u8>,
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &names)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

impl HttpRequest {
    /// The value of header `name` (compared case-insensitively), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        retry::header(&self.headers, name)
    }
}

/// How a text limit is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextUnit {
    /// Unicode scalar values (Rust `char`s).
    Chars,
    /// Bytes of UTF-8.
    Bytes,
}

impl std::fmt::Display for TextUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TextUnit::Chars => "characters",
            TextUnit::Bytes => "bytes of UTF-8",
        })
    }
}

/// The longest text a platform takes for one reply, so a composer can count down and [`request`]
/// can refuse early with a clear message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLimit {
    /// At most this many units.
    pub max: usize,
    /// What is counted.
    pub unit: TextUnit,
}

impl TextLimit {
    /// The length of `text` in this limit's unit.
    pub fn measure(&self, text: &str) -> usize {
        match self.unit {
            TextUnit::Chars => text.chars().count(),
            TextUnit::Bytes => text.len(),
        }
    }
}

/// The text limit of a reply of `kind` on `channel`; `None` for email (not sent here).
///
/// | channel | public | private |
/// | --- | --- | --- |
/// | X | 280 characters (X counts CJK, emoji and URLs by weight, so X may still refuse a shorter text) | 10,000 characters |
/// | Facebook | 8,000 characters (comments) | 2,000 characters (Messenger) |
/// | Instagram | 2,200 characters (comments) | 1,000 bytes of UTF-8 (Instagram messaging) |
/// | Chat, Review | 64 KiB of UTF-8, as the generic inbound schema | same |
pub fn text_limit(channel: Channel, kind: ReplyKind) -> Option<TextLimit> {
    let (max, unit) = match (channel, kind) {
        (Channel::X, ReplyKind::Public) => (280, TextUnit::Chars),
        (Channel::X, ReplyKind::Private) => (10_000, TextUnit::Chars),
        (Channel::Facebook, ReplyKind::Public) => (8_000, TextUnit::Chars),
        (Channel::Facebook, ReplyKind::Private) => (2_000, TextUnit::Chars),
        (Channel::Instagram, ReplyKind::Public) => (2_200, TextUnit::Chars),
        (Channel::Instagram, ReplyKind::Private) => (1_000, TextUnit::Bytes),
        (Channel::Chat | Channel::Review, _) => (crate::generic::MAX_TEXT_BYTES, TextUnit::Bytes),
        (Channel::Email, _) => return None,
    };
    Some(TextLimit { max, unit })
}

/// Why a reply cannot be turned into a request. None of these gets better by retrying: the reply
/// or the account's configuration must change first, and each message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// Email replies go out by SMTP, not through this module.
    #[error("email replies are sent by SMTP, not as an HTTP request: hand this reply to the mail sender")]
    NotHttp,
    /// The text is empty or only whitespace.
    #[error("the reply text is empty: write something to send")]
    EmptyText,
    /// The text is longer than the platform takes.
    #[error("the reply is {length} {unit} long; {channel} takes at most {max}: shorten it")]
    TooLong {
        /// The channel's name.
        channel: &'static str,
        /// The text's length, in `unit`.
        length: usize,
        /// The limit, in `unit`.
        max: usize,
        /// What is counted.
        unit: TextUnit,
    },
    /// A public reply without the id of what it answers.
    #[error("a public {channel} reply needs in_reply_to: the id of the post or comment it answers")]
    MissingInReplyTo {
        /// The channel's name.
        channel: &'static str,
    },
    /// A private message without the customer's id (or, for generic sources, a thread).
    #[error("a private {channel} message needs recipient_id{also}: the id of the customer to message")]
    MissingRecipient {
        /// The channel's name.
        channel: &'static str,
        /// `" or thread_id"` where a thread id will do.
        also: &'static str,
    },
    /// An id that goes into the URL path is not a plain platform id.
    #[error("{field} must be a platform id (letters, digits, '_' or '-', at most 128), got {excerpt:?}")]
    InvalidId {
        /// The field of [`Reply`] at fault.
        field: &'static str,
        /// The start of the value, for the message.
        excerpt: String,
    },
    /// The account has no access token configured.
    #[error("the {channel} account has no access token: connect the account again")]
    MissingAccessToken {
        /// The channel's name.
        channel: &'static str,
    },
    /// The access token has characters no HTTP header may carry.
    #[error("the {channel} access token contains spaces or control characters: paste it again")]
    InvalidAccessToken {
        /// The channel's name.
        channel: &'static str,
    },
    /// The generic source has no reply callback URL configured.
    #[error("the {channel} source has no reply callback URL: configure one for the account")]
    MissingCallbackUrl {
        /// The channel's name.
        channel: &'static str,
    },
    /// The callback URL is not an absolute `http` or `https` URL.
    #[error(
        "the reply callback URL must be an absolute http:// or https:// URL with a host, in ASCII without spaces, got {excerpt:?}"
    )]
    InvalidCallbackUrl {
        /// The start of the URL, for the message.
        excerpt: String,
    },
    /// The callback URL has a `user:password@` part, which would land in logs with the URL.
    #[error(
        "the reply callback URL must not contain user:password@ (URLs are logged): the receiver authenticates Tend by X-Tend-Signature"
    )]
    CallbackUrlWithCredentials,
    /// The generic source has no signing secret: the receiver could not tell Tend's replies from
    /// anyone else's.
    #[error("the {channel} source has no signing secret: configure one so the receiver can verify X-Tend-Signature")]
    MissingSigningSecret {
        /// The channel's name.
        channel: &'static str,
    },
}

/// The HTTP request that sends `reply` with the account's `credentials` to the API at `bases`.
/// `now_unix` (seconds) is the generic callback's signature timestamp; X and Meta ignore it.
pub fn request(
    reply: &Reply,
    credentials: &Credentials,
    bases: &BaseUrls,
    now_unix: i64,
) -> Result<HttpRequest, BuildError> {
    let limit = text_limit(reply.channel, reply.kind).ok_or(BuildError::NotHttp)?;
    let channel = channel_name(reply.channel);
    if reply.text.trim().is_empty() {
        return Err(BuildError::EmptyText);
    }
    let length = limit.measure(&reply.text);
    if length > limit.max {
        return Err(BuildError::TooLong { channel, length, max: limit.max, unit: limit.unit });
    }
    match reply.channel {
        Channel::X => x::request(reply, credentials, &bases.x),
        Channel::Facebook | Channel::Instagram => meta::request(reply, credentials, &bases.meta),
        Channel::Chat | Channel::Review => generic::request(reply, credentials, now_unix),
        Channel::Email => Err(BuildError::NotHttp),
    }
}

/// What the worker should do with a reply after the platform answered `status` with `headers`
/// and `body` at `now_unix` (seconds, for dates and reset times in the headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The platform took the reply; `platform_id` is its id there (tweet id, DM event id, comment
    /// id, message id, or the generic receiver's id).
    Sent {
        /// The platform's id of the posted reply.
        platform_id: String,
    },
    /// Not taken this time, but it may be later: rate limited or a platform failure. Send again
    /// after `after` if the platform said how long to wait, else after the worker's own backoff.
    Retry {
        /// What happened, for the log and the agent (no secrets, at most a short excerpt of the
        /// platform's answer).
        reason: String,
        /// How long the platform asked to wait, counted from `now_unix`; at most one day.
        after: Option<Duration>,
    },
    /// Refused for good: sending the same request again will not help.
    Failed {
        /// Why, with the platform's own error message where it gave one.
        reason: String,
    },
}

/// Reads the platform's answer to the request [`request`] built for `reply`: `status`, the
/// response `headers` (names compared case-insensitively) and `body`, received at `now_unix`.
pub fn outcome(reply: &Reply, status: u16, headers: &[(String, String)], body: &[u8], now_unix: i64) -> Outcome {
    response::outcome(reply, status, headers, body, now_unix)
}

/// Whether a Graph API answer with `status` (not a 2xx) and `body` says to try again later: 429,
/// 408, a 5xx, or a 4xx whose `error` is a rate limit or transient. For calls other than replies
/// (an Instagram mention's lookup), which read failures as replies do.
pub fn graph_failure_is_temporary(status: u16, body: &[u8]) -> bool {
    match status {
        429 | 408 | 500..=599 => true,
        400..=499 => serde_json::from_slice(body)
            .ok()
            .and_then(|json: serde_json::Value| meta::GraphError::parse(&json))
            .is_some_and(|error| error.is_retryable()),
        _ => false,
    }
}

/// A channel's name for messages.
fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::X => "X",
        Channel::Facebook => "Facebook",
        Channel::Instagram => "Instagram",
        Channel::Email => "email",
        Channel::Chat => "chat",
        Channel::Review => "review",
    }
}

/// At most this many bytes in an id that goes into a URL path.
const MAX_ID_BYTES: usize = 128;

/// Checks that `value`, the `field` of a reply, can go into a URL path as one segment: platform
/// ids are digits (X, Instagram) or digits joined by `_` (Facebook comments), so anything with
/// `/`, `?`, `%`, `.` or spaces is refused rather than escaped.
fn path_id<'a>(field: &'static str, value: &'a str) -> Result<&'a str, BuildError> {
    let plain = !value.is_empty()
        && value.len() <= MAX_ID_BYTES
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        return Ok(value);
    }
    Err(BuildError::InvalidId { field, excerpt: excerpt(value, 40) })
}

/// The `Authorization: Bearer` header value for an access token, checked to be a valid header.
fn bearer(channel: Channel, token: &str) -> Result<String, BuildError> {
    let channel = channel_name(channel);
    let token = token.trim();
    if token.is_empty() {
        return Err(BuildError::MissingAccessToken { channel });
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BuildError::InvalidAccessToken { channel });
    }
    Ok(format!("Bearer {token}"))
}

/// A JSON body, as bytes. Serialising these plain structs cannot fail; the fallback keeps that
/// out of the signatures.
fn json_body(value: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// The first `max` characters of `text`, with control characters replaced and `…` if cut.
fn excerpt(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).map(|c| if c.is_control() && c != '\n' { ' ' } else { c }).collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}
