//! What every adapter produces: one normalised inbound post (or its edit or deletion).

use chrono::{DateTime, Utc};

/// Where a post came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// X (Twitter): public posts, replies, direct messages.
    X,
    /// Facebook Page posts, comments and Messenger.
    Facebook,
    /// Instagram comments, mentions and direct messages.
    Instagram,
    /// Email to a monitored mailbox.
    Email,
    /// A chat widget.
    Chat,
    /// A review source.
    Review,
}

/// What the delivery says happened to the post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A new post or message.
    Created,
    /// An edit of a post delivered before (same external id): the text is the new one.
    Edited,
    /// The post was deleted on the platform: only the ids are meaningful.
    Deleted,
}

/// Who wrote a post, as far as the platform says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Author {
    /// The platform's stable id of the author (user id, page-scoped id, email address).
    pub id: String,
    /// Handle or username without "@", if any.
    pub handle: String,
    /// Display name, if any.
    pub display_name: String,
    /// Followers, when the platform gives them.
    pub followers: Option<u64>,
    /// Marked verified by the platform.
    pub verified: bool,
    /// Free-text location from the profile, if given.
    pub location: String,
    /// An email address the author disclosed (email sender, chat login), if any.
    pub email: String,
}

/// An attachment, kept as metadata only: never fetched, never executed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attachment {
    /// File name, if given.
    pub name: String,
    /// MIME type or the platform's media type ("image/png", "photo", "video").
    pub content_type: String,
    /// Size in bytes, when known.
    pub size: Option<u64>,
    /// The platform's URL of the media, when it gives one (not fetched).
    pub url: String,
}

/// One normalised inbound post.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// New, edited or deleted.
    pub change: Change,
    /// The channel.
    pub channel: Channel,
    /// The monitored account the delivery is for, in the platform's terms (X user id of the
    /// brand, Page id, Instagram account id, mailbox address, chat widget or review source id).
    pub account_id: String,
    /// The platform's id of the post or message; unique per channel.
    pub external_id: String,
    /// The conversation it belongs to (X conversation id, Messenger thread/sender, Facebook post
    /// id of a comment, email thread root Message-ID), if known.
    pub thread_id: String,
    /// The platform's id of the post this one answers, if it is a reply.
    pub in_reply_to: String,
    /// X: the id of the post this one reposts (a retweet); the text is the repost's own, often
    /// cut with "…". Empty when it is not a repost.
    pub repost_of: String,
    /// X: the id of the post this one quotes; the text is the author's own comment on it.
    pub quote_of: String,
    /// Reviews: the star rating, 1 to 5, when the source gives one.
    pub rating: Option<u8>,
    /// Email: the Message-IDs of the References header, oldest first (to thread replies).
    pub references: Vec<String>,
    /// Whether it is private (a direct message or an email) rather than public.
    pub private: bool,
    /// Who wrote it.
    pub author: Author,
    /// The text, as the platform gives it (email: the new part, without quoted history or
    /// signature). Empty for a deletion.
    pub text: String,
    /// Email subject, if any.
    pub subject: String,
    /// The language the platform says the text is in (BCP 47 / ISO 639-1), if it says.
    pub language_hint: String,
    /// When the author posted it, by the platform's clock.
    pub posted_at: Option<DateTime<Utc>>,
    /// Attachments, as metadata.
    pub attachments: Vec<Attachment>,
    /// A link to the post on the platform, if it has one.
    pub url: String,
    /// What the delivery did not carry and the caller must fetch before storing the post (an
    /// Instagram mention comes as ids only); `None` when the post is complete.
    pub lookup: Option<Lookup>,
}

/// A post a delivery named but did not carry: the caller fetches it from the platform's API and
/// completes the post with what comes back (see [`crate::meta::lookup_url`] and
/// [`crate::meta::complete_mention`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// An Instagram comment that @mentions the account, on someone else's media.
    InstagramMentionedComment {
        /// The comment.
        comment_id: String,
        /// The media it is on.
        media_id: String,
    },
    /// An Instagram media whose caption @mentions the account.
    InstagramMentionedMedia {
        /// The media.
        media_id: String,
    },
}

impl Inbound {
    /// A created post of `channel` with every other field empty, for adapters to fill in.
    pub fn new(channel: Channel, account_id: impl Into<String>, external_id: impl Into<String>) -> Self {
        Inbound {
            change: Change::Created,
            channel,
            account_id: account_id.into(),
            external_id: external_id.into(),
            thread_id: String::new(),
            in_reply_to: String::new(),
            repost_of: String::new(),
            quote_of: String::new(),
            rating: None,
            references: Vec::new(),
            private: false,
            author: Author::default(),
            text: String::new(),
            subject: String::new(),
            language_hint: String::new(),
            posted_at: None,
            attachments: Vec::new(),
            url: String::new(),
            lookup: None,
        }
    }
}

/// A delivery that cannot be read: the caller answers 400 with this message (it names what is
/// wrong, never echoes the body beyond a short excerpt).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    /// An error saying `what`.
    pub fn new(what: impl Into<String>) -> Self {
        ParseError(what.into())
    }
}
