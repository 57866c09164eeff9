//! X (Twitter): Account Activity API webhook deliveries and the v2 mentions timeline.
//!
//! [`parse_account_activity`] reads a `POST /webhooks/x` body (verify it first with
//! [`crate::signature::verify_x`]). The delivery is for one subscribed account, `for_user_id`,
//! and carries arrays of events by kind:
//!
//! - `tweet_create_events`: v1.1 tweet objects (mentions, replies, quotes, retweets) → public
//!   posts. The full text of a long tweet is `extended_tweet.full_text` when `truncated`.
//!   Retweets keep the delivered text and set [`Inbound::repost_of`]; quotes set
//!   [`Inbound::quote_of`]. Tweets by the account itself are skipped (`x.own_tweet`).
//! - `direct_message_events` of type `message_create` → private posts, the author filled in from
//!   the delivery's `users` map; messages the account sent are skipped (`x.own_message`).
//! - `tweet_delete_events` → [`Change::Deleted`] (deletions of the account's own tweets are
//!   skipped, `x.own_tweet_delete`).
//! - every other kind (`favorite_events`, `follow_events`, typing and read indicators, …) is
//!   skipped under `x.<kind>`, one label per event.
//!
//! [`parse_mentions`] reads a polled `GET /2/users/:id/mentions` response (v2 tweet objects
//! with the `author_id` expansion) into the same posts.
//!
//! Threading: v1.1 tweets carry no conversation id, so a tweet that replies to nothing starts its
//! own thread (`thread_id` = its id) and a reply leaves `thread_id` empty for the caller to
//! resolve through `in_reply_to`. v2 gives `conversation_id`, used as is. A DM's thread is the
//! other party's user id: one conversation per customer.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::generic::Parsed;
use crate::generic::json::{self, Obj};
use crate::{Attachment, Author, Change, Channel, Inbound, ParseError};

/// Reads an Account Activity API delivery (`POST /webhooks/x`). The account is the delivery's
/// `for_user_id`.
pub fn parse_account_activity(body: &[u8]) -> Result<Parsed, ParseError> {
    let value = json::parse_body(body)?;
    let root = Obj::root(&value)?;
    let account = root.id("for_user_id")?;
    let mut parsed = Parsed::default();

    // Fixed order, whatever the map order: creations before deletions of the same delivery.
    for tweet in root.objs("tweet_create_events")? {
        tweet_create(&account, &tweet, &mut parsed)?;
    }
    for event in root.objs("direct_message_events")? {
        direct_message(&account, &root, &event, &mut parsed)?;
    }
    for event in root.objs("tweet_delete_events")? {
        tweet_delete(&account, &event, &mut parsed)?;
    }
    for key in root.keys() {
        let label = match key {
            "tweet_create_events" | "direct_message_events" | "tweet_delete_events" => continue,
            // Delivery metadata, not events.
            "for_user_id" | "users" | "apps" | "user_has_blocked" | "source" => continue,
            "favorite_events" => "x.favorite_events",
            "follow_events" => "x.follow_events",
            "unfollow_events" => "x.unfollow_events",
            "block_events" => "x.block_events",
            "unblock_events" => "x.unblock_events",
            "mute_events" => "x.mute_events",
            "unmute_events" => "x.unmute_events",
            "user_event" => "x.user_event",
            "direct_message_indicate_typing_events" => "x.direct_message_indicate_typing_events",
            "direct_message_mark_read_events" => "x.direct_message_mark_read_events",
            _ => "x.other_events",
        };
        let count = match root.get(key) {
            Some(serde_json::Value::Array(items)) => items.len(),
            Some(serde_json::Value::Object(_)) => 1,
            // Scalars are metadata X may add; nothing to count.
            _ => 0,
        };
        parsed.skipped.extend(std::iter::repeat_n(label, count));
    }
    Ok(parsed)
}

/// One v1.1 tweet object of `tweet_create_events`.
fn tweet_create(account: &str, tweet: &Obj<'_>, parsed: &mut Parsed) -> Result<(), ParseError> {
    let id = tweet.id("id_str")?;
    let user = tweet.obj("user")?;
    let author = v1_user(&user, "id_str")?;
    if author.id == account {
        parsed.skip("x.own_tweet");
        return Ok(());
    }
    let mut post = Inbound::new(Channel::X, account, id);

    // A long tweet in compatibility mode: `text` is cut, the whole is in `extended_tweet`.
    let extended = if tweet.opt_bool("truncated")? == Some(true) { tweet.opt_obj("extended_tweet")? } else { None };
    let text_source = extended.as_ref().unwrap_or(tweet);
    post.text = match text_source.opt_str("full_text")? {
        Some(full) => full.to_owned(),
        None => text_source.str("text")?.to_owned(),
    };
    post.attachments = v1_media(text_source)?;

    post.in_reply_to = tweet.opt_id("in_reply_to_status_id_str")?.unwrap_or_default();
    if let Some(original) = tweet.opt_obj("retweeted_status")? {
        post.repost_of = original.id("id_str")?;
        post.in_reply_to.clear();
    }
    if let Some(quoted) = tweet.opt_obj("quoted_status")? {
        post.quote_of = quoted.id("id_str")?;
    } else if let Some(quoted) = tweet.opt_id("quoted_status_id_str")? {
        post.quote_of = quoted;
    }
    if post.in_reply_to.is_empty() {
        post.thread_id = post.external_id.clone();
    }
    post.language_hint = language(tweet.opt_str("lang")?);
    post.posted_at = match tweet.opt_str("created_at")? {
        Some(text) => Some(v1_date(text).ok_or_else(|| {
            tweet.error("created_at", "expected X's date format, like \"Wed Oct 10 20:19:24 +0000 2018\"")
        })?),
        None => tweet.opt_unix_time("timestamp_ms")?,
    };
    post.url = status_url(&author.handle, &post.external_id);
    post.author = author;
    parsed.posts.push(post);
    Ok(())
}

/// The media of a tweet (or its `extended_tweet`): `extended_entities` lists every photo of a
/// multi-photo tweet and the video variants, `entities` only the first.
fn v1_media(tweet: &Obj<'_>) -> Result<Vec<Attachment>, ParseError> {
    let entities = match tweet.opt_obj("extended_entities")? {
        Some(extended) => Some(extended),
        None => tweet.opt_obj("entities")?,
    };
    let Some(entities) = entities else { return Ok(Vec::new()) };
    entities.objs("media")?.iter().map(v1_media_item).collect()
}

/// One v1.1 media object: its type (`photo`, `video`, `animated_gif`) and the URL of the
/// highest-bitrate video variant, or of the image.
fn v1_media_item(media: &Obj<'_>) -> Result<Attachment, ParseError> {
    let mut best: Option<(u64, String)> = None;
    if let Some(video) = media.opt_obj("video_info")? {
        for variant in video.objs("variants")? {
            let bitrate = variant.opt_u64("bitrate")?.unwrap_or(0);
            if let Some(url) = variant.opt_str("url")?
                && best.as_ref().is_none_or(|(b, _)| bitrate > *b)
            {
                best = Some((bitrate, url.to_owned()));
            }
        }
    }
    let url = match best {
        Some((_, url)) => url,
        None => match media.opt_str("media_url_https")? {
            Some(url) => url.to_owned(),
            None => media.opt_str("media_url")?.unwrap_or_default().to_owned(),
        },
    };
    Ok(Attachment { content_type: media.opt_str("type")?.unwrap_or_default().to_owned(), url, ..Attachment::default() })
}

/// A v1.1 user object (`id_key` is `id_str` in tweets, `id` in the DM `users` map).
fn v1_user(user: &Obj<'_>, id_key: &str) -> Result<Author, ParseError> {
    Ok(Author {
        id: user.id(id_key)?,
        handle: user.opt_str("screen_name")?.unwrap_or_default().to_owned(),
        display_name: user.opt_str("name")?.unwrap_or_default().to_owned(),
        followers: user.opt_u64("followers_count")?,
        verified: user.opt_bool("verified")?.unwrap_or(false),
        location: user.opt_str("location")?.unwrap_or_default().to_owned(),
        email: String::new(),
    })
}

/// One event of `direct_message_events`.
fn direct_message(account: &str, root: &Obj<'_>, event: &Obj<'_>, parsed: &mut Parsed) -> Result<(), ParseError> {
    if event.str("type")? != "message_create" {
        parsed.skip("x.direct_message_other");
        return Ok(());
    }
    let id = event.id("id")?;
    let create = event.obj("message_create")?;
    let sender = create.id("sender_id")?;
    if sender == account {
        parsed.skip("x.own_message");
        return Ok(());
    }
    // A message neither from nor to the subscribed account does not belong in its inbox.
    if create.obj("target")?.id("recipient_id")? != account {
        parsed.skip("x.direct_message_other_account");
        return Ok(());
    }
    let data = create.obj("message_data")?;
    let mut post = Inbound::new(Channel::X, account, id);
    post.private = true;
    post.thread_id = sender.clone();
    post.text = data.opt_str("text")?.unwrap_or_default().to_owned();
    if let Some(attachment) = data.opt_obj("attachment")? {
        post.attachments.push(match attachment.opt_obj("media")? {
            Some(media) => v1_media_item(&media)?,
            None => Attachment {
                content_type: attachment.opt_str("type")?.unwrap_or_default().to_owned(),
                ..Attachment::default()
            },
        });
    }
    post.posted_at = event.opt_unix_time("created_timestamp")?;
    let profile = match root.opt_obj("users")? {
        Some(users) => users.opt_obj(&sender)?,
        None => None,
    };
    post.author = match profile {
        Some(profile) => Author { id: sender.clone(), ..v1_user(&profile, "id")? },
        None => Author { id: sender, ..Author::default() },
    };
    parsed.posts.push(post);
    Ok(())
}

/// One event of `tweet_delete_events`.
fn tweet_delete(account: &str, event: &Obj<'_>, parsed: &mut Parsed) -> Result<(), ParseError> {
    let status = event.obj("status")?;
    let id = status.id("id")?;
    let user_id = status.id("user_id")?;
    if user_id == account {
        parsed.skip("x.own_tweet_delete");
        return Ok(());
    }
    let mut post = Inbound::new(Channel::X, account, id);
    post.change = Change::Deleted;
    post.author.id = user_id;
    parsed.posts.push(post);
    Ok(())
}

/// A polled page of mentions: the posts, and the cursors to poll on from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mentions {
    /// The mentions as posts; the account's own tweets are skipped (`x.own_tweet`).
    pub parsed: Parsed,
    /// `meta.newest_id`: the `since_id` for the next poll. Empty when the page is empty.
    pub newest_id: String,
    /// `meta.next_token`: the `pagination_token` for an older page, if there is one.
    pub next_token: String,
}

/// The URL of a mentions poll of `account_id` on the X API at `base` (e.g.
/// `https://api.x.com`): the fields [`parse_mentions`] reads, 100 a page, newer than `since_id`
/// when given, the older page `pagination_token` when given.
pub fn mentions_url(base: &str, account_id: &str, since_id: &str, pagination_token: &str) -> String {
    let mut url = format!(
        "{}/2/users/{account_id}/mentions?max_results=100&expansions=author_id,attachments.media_keys\
         &user.fields=public_metrics,verified,location&tweet.fields=created_at,conversation_id,referenced_tweets,lang,note_tweet\
         &media.fields=type,url,preview_image_url",
        base.trim_end_matches('/')
    );
    if !since_id.is_empty() {
        url.push_str("&since_id=");
        url.push_str(since_id);
    }
    if !pagination_token.is_empty() {
        url.push_str("&pagination_token=");
        url.push_str(pagination_token);
    }
    url
}

/// Reads a `GET /2/users/:id/mentions` response for `account_id` (the `:id` polled; the response
/// does not repeat it). Ask with `expansions=author_id` and
/// `user.fields=public_metrics,verified,location` (and `tweet.fields=created_at,conversation_id,
/// referenced_tweets,lang`) for the authors and threading to be filled in; `note_tweet.text` and
/// `attachments.media_keys` with `includes.media` are used when present.
pub fn parse_mentions(account_id: &str, body: &[u8]) -> Result<Mentions, ParseError> {
    let value = json::parse_body(body)?;
    let root = Obj::root(&value)?;
    // An error response has `errors` and no `data`; a partial one has both and is read.
    if !root.has("data") && root.has("errors") {
        return Err(root.error("data", "missing (the response carries errors)"));
    }
    let includes = root.opt_obj("includes")?;
    let mut users = HashMap::new();
    let mut media = HashMap::new();
    if let Some(includes) = &includes {
        for user in includes.objs("users")? {
            let author = v2_user(&user)?;
            users.insert(author.id.clone(), author);
        }
        for item in includes.objs("media")? {
            let url = match item.opt_str("url")? {
                Some(url) => url,
                None => item.opt_str("preview_image_url")?.unwrap_or_default(),
            };
            let attachment = Attachment {
                content_type: item.opt_str("type")?.unwrap_or_default().to_owned(),
                url: url.to_owned(),
                ..Attachment::default()
            };
            media.insert(item.id("media_key")?, attachment);
        }
    }

    let mut mentions = Mentions::default();
    for tweet in root.objs("data")? {
        let author_id = tweet.opt_id("author_id")?.unwrap_or_default();
        if author_id == account_id {
            mentions.parsed.skip("x.own_tweet");
            continue;
        }
        let mut post = Inbound::new(Channel::X, account_id, tweet.id("id")?);
        // Posts longer than 280 characters have their whole text in `note_tweet`.
        post.text = match tweet.opt_obj("note_tweet")? {
            Some(note) => note.str("text")?.to_owned(),
            None => tweet.str("text")?.to_owned(),
        };
        post.thread_id = tweet.opt_id("conversation_id")?.unwrap_or_default();
        for reference in tweet.objs("referenced_tweets")? {
            let id = reference.id("id")?;
            match reference.str("type")? {
                "replied_to" => post.in_reply_to = id,
                "quoted" => post.quote_of = id,
                "retweeted" => post.repost_of = id,
                _ => {}
            }
        }
        post.language_hint = language(tweet.opt_str("lang")?);
        post.posted_at = tweet.opt_rfc3339("created_at")?;
        if let Some(attached) = tweet.opt_obj("attachments")? {
            for key in attached.strs("media_keys")? {
                if let Some(attachment) = media.get(key) {
                    post.attachments.push(attachment.clone());
                }
            }
        }
        post.author = users.get(&author_id).cloned().unwrap_or_else(|| Author { id: author_id, ..Author::default() });
        post.url = status_url(&post.author.handle, &post.external_id);
        mentions.parsed.posts.push(post);
    }
    if let Some(meta) = root.opt_obj("meta")? {
        mentions.newest_id = meta.opt_id("newest_id")?.unwrap_or_default();
        mentions.next_token = meta.opt_id("next_token")?.unwrap_or_default();
    }
    Ok(mentions)
}

/// A v2 user object of `includes.users`.
fn v2_user(user: &Obj<'_>) -> Result<Author, ParseError> {
    let followers = match user.opt_obj("public_metrics")? {
        Some(metrics) => metrics.opt_u64("followers_count")?,
        None => None,
    };
    Ok(Author {
        id: user.id("id")?,
        handle: user.opt_str("username")?.unwrap_or_default().to_owned(),
        display_name: user.opt_str("name")?.unwrap_or_default().to_owned(),
        followers,
        verified: user.opt_bool("verified")?.unwrap_or(false),
        location: user.opt_str("location")?.unwrap_or_default().to_owned(),
        email: String::new(),
    })
}

/// X's `lang` as a hint: empty for the codes that say there is no language to detect (`und`,
/// `zxx`, `art`, and X's private-use `qaa`–`qtz` such as `qme` for media-only or `qht` for
/// hashtags-only tweets).
fn language(lang: Option<&str>) -> String {
    let lang = lang.unwrap_or_default();
    let private_use = lang.len() == 3 && lang.starts_with('q') && lang.as_bytes()[1] <= b't';
    if matches!(lang, "und" | "zxx" | "art") || private_use { String::new() } else { lang.to_owned() }
}

/// X's v1.1 `created_at`, e.g. `Wed Oct 10 20:19:24 +0000 2018`.
fn v1_date(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(text, "%a %b %d %H:%M:%S %z %Y").ok().map(|t| t.with_timezone(&Utc))
}

/// The public link of a tweet; X redirects `/i/status/` when the handle is unknown.
fn status_url(handle: &str, id: &str) -> String {
    let handle = if handle.is_empty() { "i" } else { handle };
    format!("https://x.com/{handle}/status/{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_x_dates() {
        let t = v1_date("Wed Oct 10 20:19:24 +0000 2018").unwrap();
        assert_eq!(t.to_rfc3339(), "2018-10-10T20:19:24+00:00");
        assert!(v1_date("2018-10-10").is_none());
    }

    #[test]
    fn language_drops_no_language_codes() {
        assert_eq!(language(Some("en")), "en");
        assert_eq!(language(Some("und")), "");
        assert_eq!(language(Some("qme")), "");
        assert_eq!(language(Some("qu")), "qu");
        assert_eq!(language(None), "");
    }
}
