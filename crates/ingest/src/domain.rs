//! Validation and normalisation of incoming posts: no I/O, so it is tested on its own.

use tend_kernel::{ApiError, validate};
use tend_proto::v1;
use unicode_normalization::UnicodeNormalization as _;

/// Longest text accepted, in bytes of UTF-8.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Longest channel id (of a post or an author) accepted, in bytes.
pub const MAX_EXTERNAL_ID_BYTES: usize = 256;
/// Most posts in one batch.
pub const MAX_BATCH: usize = 500;
/// Most attachments on one post.
pub const MAX_ATTACHMENTS: usize = 100;
/// Longest handle, display name, email or URL kept, in bytes.
const MAX_SHORT_FIELD_BYTES: usize = 1024;

/// A post that passed validation, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInteraction {
    /// The channel, as its protobuf number.
    pub channel: i32,
    /// The channel's id of the post.
    pub external_id: String,
    /// The author's channel id.
    pub author_external_id: String,
    /// Handle without a leading "@".
    pub author_handle: String,
    /// Display name, trimmed.
    pub author_display_name: String,
    /// Followers.
    pub author_followers: u64,
    /// Verified by the channel.
    pub author_verified: bool,
    /// Email, trimmed and lowercased; empty when none.
    pub author_email: String,
    /// Where the author says they are, folded like text.
    pub author_location: String,
    /// Text, trimmed and in Unicode NFC.
    pub text: String,
    /// The post this one answers.
    pub in_reply_to_external_id: String,
    /// Link to the post.
    pub url: String,
    /// The account named by the request (resolved against the registry later).
    pub account: String,
    /// The conversation on the channel.
    pub thread_external_id: String,
    /// A private message.
    pub private: bool,
    /// The language the channel says the text is in.
    pub language_hint: String,
    /// Subject, attachments and rating.
    pub details: crate::storage::Details,
}

/// Checks `request` and normalises it, or says which field to fix.
pub fn normalise(request: v1::IngestInteractionRequest) -> Result<NewInteraction, ApiError> {
    let channel = match v1::Channel::try_from(request.channel) {
        Ok(v1::Channel::Unspecified) | Err(_) => {
            return Err(ApiError::invalid(
                "channel",
                "is required: one of X, FACEBOOK, INSTAGRAM, EMAIL, CHAT, REVIEW",
            ));
        }
        Ok(channel) => channel,
    };
    let external_id = required_id("external_id", &request.external_id)?;
    let Some(author) = request.author else {
        return Err(ApiError::invalid("author", "is required (at least author.external_id)"));
    };
    let author_external_id = required_id("author.external_id", &author.external_id)?;
    let text = edited_text(&request.text)?;
    let in_reply_to_external_id = request.in_reply_to_external_id.trim().to_owned();
    validate::text("in_reply_to_external_id", &in_reply_to_external_id, MAX_EXTERNAL_ID_BYTES)?;
    let thread_external_id = request.thread_external_id.trim().to_owned();
    validate::text("thread_external_id", &thread_external_id, MAX_EXTERNAL_ID_BYTES)?;
    validate::text("account", &request.account, MAX_EXTERNAL_ID_BYTES)?;
    let language_hint = request.language_hint.trim().to_ascii_lowercase();
    if language_hint.len() > 16 {
        return Err(ApiError::invalid("language_hint", "must be an ISO 639-1 code such as \"es\""));
    }
    if request.rating > 5 {
        return Err(ApiError::invalid("rating", "must be 1 to 5, or 0 for none"));
    }
    validate::count("attachments", request.attachments.len(), MAX_ATTACHMENTS)?;
    let mut attachments = Vec::with_capacity(request.attachments.len());
    for attachment in &request.attachments {
        let url = short("attachments.url", attachment.url.trim())?;
        // Shown to agents as a link, like the post's own `url`: http(s) only.
        if !url.is_empty() {
            validate::http_url("attachments.url", &url)?;
        }
        attachments.push(crate::storage::AttachmentMeta {
            name: short("attachments.name", attachment.name.trim())?,
            content_type: short("attachments.content_type", attachment.content_type.trim())?,
            size: attachment.size,
            url,
        });
    }
    let details = crate::storage::Details {
        subject: short("subject", &fold_text(&request.subject))?,
        attachments,
        rating: request.rating,
        delivery: String::new(),
    };
    let author_email = short("author.email", &author.email.trim().to_lowercase())?;
    if !author_email.is_empty() {
        validate::email("author.email", &author_email)?;
    }
    // A link is shown to agents as one: only http(s), never `javascript:` or `data:`.
    let url = short("url", request.url.trim())?;
    if !url.is_empty() {
        validate::http_url("url", &url)?;
    }
    Ok(NewInteraction {
        account: request.account.trim().to_owned(),
        thread_external_id,
        private: request.private,
        language_hint,
        details,
        channel: channel.into(),
        external_id,
        author_external_id,
        author_handle: short("author.handle", author.handle.trim().trim_start_matches('@'))?,
        author_display_name: short("author.display_name", &fold_text(&author.display_name))?,
        author_followers: author.followers,
        author_verified: author.verified,
        author_email,
        author_location: short("author.location", &fold_text(&author.location))?,
        text,
        in_reply_to_external_id,
        url,
    })
}

/// The new text of an edit, normalised as a post's is, or why it is refused (an edit carries
/// the text and the ids, often no author).
pub fn edited_text(text: &str) -> Result<String, ApiError> {
    let text = fold_text(text);
    // Blank is also a text of only zero-width, direction and other invisible characters.
    validate::required_text("text", &text, MAX_TEXT_BYTES)?;
    Ok(text)
}

/// Checks the size of a batch.
pub fn check_batch(size: usize) -> Result<(), ApiError> {
    if size == 0 || size > MAX_BATCH {
        return Err(ApiError::invalid("interactions", format!("must hold 1 to {MAX_BATCH} posts, not {size}")));
    }
    Ok(())
}

/// What an erased interaction's text becomes.
pub const ERASED_TEXT: &str = "[erased]";

/// One author whose interactions are anonymised on erasure: the channel (protobuf number) and
/// the author's id on it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ErasedAuthor {
    /// The channel, as its protobuf number.
    pub channel: i32,
    /// The author's channel id, as stored on interactions.
    pub external_id: String,
}

/// The authors whose interactions a `customers.erased` event anonymises: one per erased profile,
/// without repeats. A profile with a blank author id is skipped: stored interactions always
/// have one (ingest requires it), except those already anonymised, which must not match.
pub fn erased_authors(event: &v1::CustomerErased) -> Vec<ErasedAuthor> {
    let mut authors: Vec<ErasedAuthor> = event
        .profiles
        .iter()
        .map(|profile| ErasedAuthor { channel: profile.channel, external_id: profile.external_id.trim().to_owned() })
        .filter(|author| !author.external_id.is_empty())
        .collect();
    authors.sort();
    authors.dedup();
    authors
}

fn required_id(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    validate::text(field, value, MAX_EXTERNAL_ID_BYTES)?;
    Ok(value.to_owned())
}

fn short(field: &str, value: &str) -> Result<String, ApiError> {
    validate::text(field, value, MAX_SHORT_FIELD_BYTES)?;
    Ok(value.to_owned())
}

/// Trims, composes to NFC (so "é" typed two ways compares equal downstream) and drops control
/// characters other than line breaks and tabs.
fn fold_text(text: &str) -> String {
    let kept: String = text.nfc().filter(|c| !c.is_control() || matches!(c, '\n' | '\t')).collect();
    kept.trim().to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn request() -> v1::IngestInteractionRequest {
        v1::IngestInteractionRequest {
            channel: v1::Channel::X.into(),
            external_id: " 1789 ".into(),
            author: Some(v1::Author {
                external_id: "u1".into(),
                handle: "@Jane_Doe".into(),
                display_name: "  Jane\u{0007} Doe ".into(),
                email: " Jane@Example.COM ".into(),
                ..Default::default()
            }),
            text: "  Cafe\u{0301} order late \r\n\u{0}".into(),
            ..Default::default()
        }
    }

    #[test]
    fn normalises_fields() {
        let post = normalise(request()).unwrap();
        assert_eq!(post.external_id, "1789");
        assert_eq!(post.author_handle, "Jane_Doe");
        assert_eq!(post.author_display_name, "Jane Doe");
        assert_eq!(post.author_email, "jane@example.com");
        assert_eq!(post.text, "Café order late");
    }

    /// Breaks one field of a request.
    type Breaker = fn(&mut v1::IngestInteractionRequest);

    #[test]
    fn rejects_missing_fields_naming_them() {
        let cases: [(&str, Breaker); 5] = [
            ("channel", |r| r.channel = 0),
            ("external_id", |r| r.external_id = "  ".into()),
            ("author", |r| r.author = None),
            ("author.external_id", |r| r.author.as_mut().unwrap().external_id.clear()),
            ("text", |r| r.text = " \n ".into()),
        ];
        for (field, break_it) in cases {
            let mut broken = request();
            break_it(&mut broken);
            let message = normalise(broken).unwrap_err().to_string();
            assert!(message.contains(&format!("`{field}`")), "{field}: {message}");
        }
    }

    #[test]
    fn rejects_invisible_text_odd_emails_and_links_other_than_http() {
        let cases: &[(&str, Breaker)] = &[
            ("text", |r| r.text = "\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}".into()),
            ("text", |r| r.text = "\u{0}\u{7}\u{1B}\u{202E}\u{00AD} \n".into()),
            ("author.email", |r| r.author.as_mut().unwrap().email = "not an address".into()),
            ("author.email", |r| r.author.as_mut().unwrap().email = "jane@localhost".into()),
            ("url", |r| r.url = "javascript:alert(document.cookie)".into()),
            ("url", |r| r.url = "data:text/html;base64,PHNjcmlwdD4=".into()),
            ("attachments.url", |r| {
                r.attachments = vec![v1::Attachment { url: "javascript:alert(1)".into(), ..Default::default() }];
            }),
        ];
        for (field, break_it) in cases {
            let mut broken = request();
            break_it(&mut broken);
            let message = normalise(broken).unwrap_err().to_string();
            assert!(message.contains(&format!("`{field}`")), "{field}: {message}");
        }
        let mut fine = request();
        fine.url = "https://x.com/jane/status/1789".into();
        fine.author.as_mut().unwrap().email.clear();
        fine.text = "👩\u{200D}💻 works".into();
        let post = normalise(fine).unwrap();
        assert_eq!((post.url.as_str(), post.author_email.as_str()), ("https://x.com/jane/status/1789", ""));
    }

    #[test]
    fn rejects_oversized_text() {
        let mut big = request();
        big.text = "a".repeat(MAX_TEXT_BYTES + 1);
        assert!(normalise(big).is_err());
    }

    fn erased(channel: v1::Channel, external_id: &str) -> v1::ErasedProfile {
        v1::ErasedProfile { profile_id: "p".into(), channel: channel.into(), external_id: external_id.into() }
    }

    #[test]
    fn erased_authors_skip_blanks_and_repeats() {
        let event = v1::CustomerErased {
            customer_id: "c1".into(),
            profiles: vec![
                erased(v1::Channel::X, " u1 "),
                erased(v1::Channel::X, "u1"),
                erased(v1::Channel::Facebook, "u1"),
                erased(v1::Channel::X, "  "),
            ],
            reason: "GDPR request".into(),
        };
        let authors = erased_authors(&event);
        let keys: Vec<(i32, &str)> = authors.iter().map(|a| (a.channel, a.external_id.as_str())).collect();
        assert_eq!(keys, vec![(v1::Channel::X.into(), "u1"), (v1::Channel::Facebook.into(), "u1")]);
        assert!(erased_authors(&v1::CustomerErased::default()).is_empty());
    }

    #[test]
    fn batch_limits() {
        assert!(check_batch(0).is_err());
        assert!(check_batch(MAX_BATCH).is_ok());
        assert!(check_batch(MAX_BATCH + 1).is_err());
    }
}
