//! Meta: Facebook Page, Messenger and Instagram webhook deliveries (`POST /webhooks/meta`;
//! verify first with [`crate::signature::verify_meta`]).
//!
//! A delivery is `{"object": "page" | "instagram", "entry": [...]}`; each entry is for one
//! account, `entry[].id` (the Page id or the Instagram professional account id), and carries
//! `changes` (public activity) and/or `messaging` (direct messages):
//!
//! | object | where | becomes |
//! | --- | --- | --- |
//! | page | `changes[]`, `field: feed`, `item: comment` | a comment on `post_id`, replying to `parent_id` |
//! | page | `changes[]`, `field: feed`, `item: post, status, photo, video, share` | a Page post by a visitor |
//! | page, instagram | `messaging[]` with `message` | a private message; `is_echo` (the Page's own) skipped |
//! | page, instagram | `messaging[]` with `message_edit` | [`Change::Edited`] of the message |
//! | instagram | `changes[]`, `field: comments` | a comment on `media.id` |
//! | instagram | `changes[]`, `field: mentions` | the account was @mentioned in a comment or caption |
//!
//! Feed `verb`s map `add` → [`Change::Created`], `edited` (also `edit`, `update`) →
//! [`Change::Edited`], `remove` (also `delete`) → [`Change::Deleted`]; other verbs (`hide`,
//! `block`, …), other items (`reaction`, `like`, …), other fields, `standby` events, read and
//! delivery receipts, reactions and postbacks are skipped with a `meta.*` label. So are the
//! account's own comments and posts (`from.id == entry.id`).
//!
//! Meta sends little about people: a comment's `from` has an id and a name (Facebook) or
//! username (Instagram), and may be absent; a message's sender is only a page-scoped id. A
//! private message's thread is the sender: one conversation per customer.
//!
//! An Instagram mention carries only ids. Its post comes with a [`Lookup`] and empty text and
//! author: the caller fetches [`lookup_url`] (`mentioned_comment` or `mentioned_media` of the
//! account, with the account's token) and completes it with [`complete_mention`]. Meta gives a
//! mention's author as a username only (no Instagram-scoped id), so the author's id is the
//! username. A mention's thread is [`MENTION_THREAD_PREFIX`] and the media id: a reply to it
//! goes through `POST /{ig-user-id}/mentions`, the only way to answer on media the account does
//! not own.

use crate::generic::Parsed;
use crate::generic::json::{self, Obj};
use crate::{Attachment, Author, Change, Channel, Inbound, Lookup, ParseError};

/// Reads a Meta webhook delivery.
pub fn parse(body: &[u8]) -> Result<Parsed, ParseError> {
    let value = json::parse_body(body)?;
    let root = Obj::root(&value)?;
    let channel = match root.str("object")? {
        "page" => Channel::Facebook,
        "instagram" => Channel::Instagram,
        // `user`, `permissions`, `whatsapp_business_account`, …: subscribed by mistake or for
        // another product; counted, not an error, so Meta does not retry them.
        _ => {
            let entries = root.objs("entry")?;
            return Ok(Parsed { posts: Vec::new(), skipped: vec!["meta.other_object"; entries.len()] });
        }
    };
    let mut parsed = Parsed::default();
    for entry in root.required_objs("entry")? {
        let account = entry.id("id")?;
        for change in entry.objs("changes")? {
            let value = change.obj("value")?;
            match (channel, change.str("field")?) {
                (Channel::Facebook, "feed") => feed(&account, &value, &mut parsed)?,
                (Channel::Instagram, "comments") => instagram_comment(&account, &entry, &value, &mut parsed)?,
                (Channel::Instagram, "mentions") => instagram_mention(&account, &entry, &value, &mut parsed)?,
                (Channel::Facebook, _) => parsed.skip("meta.page.other_field"),
                _ => parsed.skip("meta.instagram.other_field"),
            }
        }
        for event in entry.objs("messaging")? {
            messaging(channel, &account, &event, &mut parsed)?;
        }
        // Handover protocol: messages while another app owns the thread. That app answers them.
        let standby = entry.objs("standby")?.len();
        parsed.skipped.extend(std::iter::repeat_n("meta.standby", standby));
    }
    Ok(parsed)
}

/// A Page `feed` change: a comment or a post added, edited or removed.
fn feed(account: &str, value: &Obj<'_>, parsed: &mut Parsed) -> Result<(), ParseError> {
    let item = value.str("item")?;
    let change = match value.str("verb")? {
        "add" => Change::Created,
        "edited" | "edit" | "update" => Change::Edited,
        "remove" | "delete" => Change::Deleted,
        _ => {
            parsed.skip("meta.feed.other_verb");
            return Ok(());
        }
    };
    let post_id = match item {
        "comment" | "post" | "status" | "photo" | "video" | "share" => value.id("post_id")?,
        "reaction" | "like" => {
            parsed.skip("meta.feed.reaction");
            return Ok(());
        }
        _ => {
            parsed.skip("meta.feed.other_item");
            return Ok(());
        }
    };
    let author = match value.opt_obj("from")? {
        Some(from) => Author {
            id: from.opt_id("id")?.unwrap_or_default(),
            display_name: from.opt_str("name")?.unwrap_or_default().to_owned(),
            ..Author::default()
        },
        None => Author::default(),
    };
    if author.id == account {
        parsed.skip(if item == "comment" { "meta.own_comment" } else { "meta.own_post" });
        return Ok(());
    }

    let mut post = if item == "comment" {
        let mut comment = Inbound::new(Channel::Facebook, account, value.id("comment_id")?);
        // A top-level comment's parent is the post itself.
        comment.in_reply_to = value.opt_id("parent_id")?.unwrap_or_else(|| post_id.clone());
        comment
    } else {
        Inbound::new(Channel::Facebook, account, post_id.clone())
    };
    post.change = change;
    post.thread_id = post_id;
    post.author = author;
    post.posted_at = value.opt_unix_time("created_time")?;
    if change == Change::Deleted {
        parsed.posts.push(post);
        return Ok(());
    }
    post.text = value.opt_str("message")?.unwrap_or_default().to_owned();
    if let Some(context) = value.opt_obj("post")? {
        post.url = context.opt_str("permalink_url")?.unwrap_or_default().to_owned();
    }
    post.attachments = feed_attachments(item, value)?;
    parsed.posts.push(post);
    Ok(())
}

/// The media of a feed change: `photo` / `video` (a URL on comments), `photos` (several on a
/// post), and `link`, which is the photo or video itself on those items and a shared link
/// otherwise.
fn feed_attachments(item: &str, value: &Obj<'_>) -> Result<Vec<Attachment>, ParseError> {
    let media = |content_type: &str, url: &str| Attachment {
        content_type: content_type.to_owned(),
        url: url.to_owned(),
        ..Attachment::default()
    };
    let mut attachments = Vec::new();
    if let Some(url) = value.opt_str("photo")? {
        attachments.push(media("photo", url));
    }
    for url in value.strs("photos")? {
        attachments.push(media("photo", url));
    }
    if let Some(url) = value.opt_str("video")? {
        attachments.push(media("video", url));
    }
    if let Some(url) = value.opt_str("link")?
        && !attachments.iter().any(|a| a.url == url)
    {
        let content_type = match item {
            "photo" => "photo",
            "video" => "video",
            _ => "link",
        };
        attachments.push(media(content_type, url));
    }
    Ok(attachments)
}

/// An Instagram `comments` change: a new comment on the account's media.
fn instagram_comment(account: &str, entry: &Obj<'_>, value: &Obj<'_>, parsed: &mut Parsed) -> Result<(), ParseError> {
    let mut post = Inbound::new(Channel::Instagram, account, value.id("id")?);
    if let Some(from) = value.opt_obj("from")? {
        post.author.id = from.opt_id("id")?.unwrap_or_default();
        post.author.handle = from.opt_str("username")?.unwrap_or_default().to_owned();
    }
    if post.author.id == account {
        parsed.skip("meta.own_comment");
        return Ok(());
    }
    if let Some(media) = value.opt_obj("media")? {
        post.thread_id = media.id("id")?;
    }
    post.in_reply_to = value.opt_id("parent_id")?.unwrap_or_else(|| post.thread_id.clone());
    post.text = value.opt_str("text")?.unwrap_or_default().to_owned();
    // Instagram's comment payload has no time of its own; the entry's is when it happened.
    post.posted_at = entry.opt_unix_time("time")?;
    parsed.posts.push(post);
    Ok(())
}

/// An Instagram `mentions` change: ids only (the comment, or the media whose caption mentions
/// the account).
fn instagram_mention(account: &str, entry: &Obj<'_>, value: &Obj<'_>, parsed: &mut Parsed) -> Result<(), ParseError> {
    let media_id = value.id("media_id")?;
    let mut post = match value.opt_id("comment_id")? {
        Some(comment_id) => {
            let mut comment = Inbound::new(Channel::Instagram, account, comment_id.clone());
            comment.in_reply_to = media_id.clone();
            comment.lookup = Some(Lookup::InstagramMentionedComment { comment_id, media_id: media_id.clone() });
            comment
        }
        None => {
            let mut caption = Inbound::new(Channel::Instagram, account, media_id.clone());
            caption.lookup = Some(Lookup::InstagramMentionedMedia { media_id: media_id.clone() });
            caption
        }
    };
    post.thread_id = format!("{MENTION_THREAD_PREFIX}{media_id}");
    post.posted_at = entry.opt_unix_time("time")?;
    parsed.posts.push(post);
    Ok(())
}

/// The start of an Instagram mention's thread id, before the media id: a reply to a post in such
/// a thread is a reply to a mention.
pub const MENTION_THREAD_PREFIX: &str = "mention:";

/// The fields read of a mentioned comment.
const MENTIONED_COMMENT_FIELDS: &str = "id,text,timestamp,username,media{id,permalink}";
/// The fields read of a mentioned media.
const MENTIONED_MEDIA_FIELDS: &str = "id,caption,timestamp,username,permalink,media_type,media_url";

/// The Graph API URL (at `base`, e.g. `https://graph.facebook.com/v21.0`) that reads what
/// `lookup` names, for the Instagram account `account_id`. The account's access token goes in
/// an `Authorization: Bearer` header, never in the URL.
pub fn lookup_url(base: &str, account_id: &str, lookup: &Lookup) -> String {
    let base = base.trim_end_matches('/');
    let field = match lookup {
        Lookup::InstagramMentionedComment { comment_id, .. } => {
            format!("mentioned_comment.comment_id({comment_id}){{{MENTIONED_COMMENT_FIELDS}}}")
        }
        Lookup::InstagramMentionedMedia { media_id } => {
            format!("mentioned_media.media_id({media_id}){{{MENTIONED_MEDIA_FIELDS}}}")
        }
    };
    format!("{base}/{account_id}?fields={field}")
}

/// Completes a mention `post` with the Graph API's answer to [`lookup_url`] (text, author,
/// time, link), and clears its lookup. An answer without the comment or media, or without a
/// username, is an error: the post cannot be stored without an author.
pub fn complete_mention(post: &mut Inbound, body: &[u8]) -> Result<(), ParseError> {
    let value = json::parse_body(body)?;
    let root = Obj::root(&value)?;
    match post.lookup.take() {
        Some(Lookup::InstagramMentionedComment { .. }) => {
            let comment = root.obj("mentioned_comment")?;
            post.text = comment.opt_str("text")?.unwrap_or_default().to_owned();
            author_of_mention(post, &comment)?;
            if let Some(media) = comment.opt_obj("media")? {
                post.url = media.opt_str("permalink")?.unwrap_or_default().to_owned();
            }
        }
        Some(Lookup::InstagramMentionedMedia { .. }) => {
            let media = root.obj("mentioned_media")?;
            post.text = media.opt_str("caption")?.unwrap_or_default().to_owned();
            author_of_mention(post, &media)?;
            post.url = media.opt_str("permalink")?.unwrap_or_default().to_owned();
            let content_type = media.opt_str("media_type")?.unwrap_or_default().to_lowercase();
            let url = media.opt_str("media_url")?.unwrap_or_default().to_owned();
            if !content_type.is_empty() || !url.is_empty() {
                post.attachments = vec![Attachment { content_type, url, ..Attachment::default() }];
            }
        }
        None => return Ok(()),
    }
    Ok(())
}

/// The author and time of a mentioned comment or media.
fn author_of_mention(post: &mut Inbound, found: &Obj<'_>) -> Result<(), ParseError> {
    let username = found.opt_str("username")?.map(str::trim).unwrap_or_default();
    if username.is_empty() {
        return Err(found.error("username", "is missing: the mention's author is unknown"));
    }
    post.author = Author { id: username.to_owned(), handle: username.to_owned(), ..Author::default() };
    if let Some(time) = found.opt_graph_time("timestamp")? {
        post.posted_at = Some(time);
    }
    Ok(())
}

/// One `messaging` event (Messenger or Instagram direct).
fn messaging(channel: Channel, account: &str, event: &Obj<'_>, parsed: &mut Parsed) -> Result<(), ParseError> {
    let sender = event.obj("sender")?.id("id")?;
    let (message, change) = if let Some(message) = event.opt_obj("message")? {
        if message.opt_bool("is_echo")? == Some(true) {
            parsed.skip("meta.message_echo");
            return Ok(());
        }
        // Instagram reports an unsent message as a message with `is_deleted`.
        let change = if message.opt_bool("is_deleted")? == Some(true) { Change::Deleted } else { Change::Created };
        (message, change)
    } else if let Some(edit) = event.opt_obj("message_edit")? {
        (edit, Change::Edited)
    } else {
        let label = if event.has("read") {
            "meta.messaging.read"
        } else if event.has("delivery") {
            "meta.messaging.delivery"
        } else if event.has("reaction") {
            "meta.messaging.reaction"
        } else if event.has("postback") {
            "meta.messaging.postback"
        } else {
            "meta.messaging.other"
        };
        parsed.skip(label);
        return Ok(());
    };
    if sender == account {
        parsed.skip("meta.own_message");
        return Ok(());
    }
    let mut post = Inbound::new(channel, account, message.id("mid")?);
    post.change = change;
    post.private = true;
    post.thread_id = sender.clone();
    post.author.id = sender;
    post.posted_at = event.opt_unix_time("timestamp")?;
    if change == Change::Deleted {
        parsed.posts.push(post);
        return Ok(());
    }
    post.text = message.opt_str("text")?.unwrap_or_default().to_owned();
    if let Some(reply_to) = message.opt_obj("reply_to")? {
        post.in_reply_to = match reply_to.opt_id("mid")? {
            Some(mid) => mid,
            // An Instagram reply to a story names the story instead.
            None => match reply_to.opt_obj("story")? {
                Some(story) => story.opt_id("id")?.unwrap_or_default(),
                None => String::new(),
            },
        };
    }
    for attachment in message.objs("attachments")? {
        let payload = attachment.opt_obj("payload")?;
        let url = match &payload {
            Some(payload) => payload.opt_str("url")?.unwrap_or_default(),
            None => "",
        };
        let name = match attachment.opt_str("title")? {
            Some(title) => title,
            None => match &payload {
                Some(payload) => payload.opt_str("title")?.unwrap_or_default(),
                None => "",
            },
        };
        post.attachments.push(Attachment {
            name: name.to_owned(),
            content_type: attachment.opt_str("type")?.unwrap_or_default().to_owned(),
            size: None,
            url: url.to_owned(),
        });
    }
    parsed.posts.push(post);
    Ok(())
}
