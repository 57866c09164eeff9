//! Email: an RFC 5322 message, as an inbound-mail service posts it to
//! `POST /webhooks/email/{account}` or the IMAP poller fetches it, read as one [`Inbound`] post.
//!
//! - **MIME** is parsed by `mail-parser` 0.11 (pinned: 1.x needs a newer Rust). Crafted input
//!   once panicked it (#145), so the whole reading runs inside [`std::panic::catch_unwind`]: a
//!   panic becomes a [`ParseError`], the listener answers 400 and stays up.
//! - **Text**: the text/plain body is preferred; without one (or with a blank one) the HTML body
//!   is reduced to text by [`html_to_text`]. Then [`strip_reply`] drops the quoted history,
//!   signature and mobile footer, and the result is cut at [`MAX_TEXT_BYTES`].
//! - **Ids**: the external id is the Message-ID without angle brackets; a message without one
//!   gets `tend-<16 hex digits>@derived.invalid`, the FNV-1a 64 hash of the raw bytes (written
//!   here because std's `DefaultHasher` may change between releases, and the same message
//!   delivered twice must get the same id). `.invalid` is reserved (RFC 2606): the derived id
//!   can never collide with a real one.
//! - **Threads**: `in_reply_to` is the first id of In-Reply-To, `references` the References
//!   ids oldest first, and `thread_id` the first References id (the thread's root), else
//!   In-Reply-To, else the message's own id. [`reply_headers`] gives the headers a reply needs
//!   to thread in the customer's mailbox.
//! - **Author**: the first From address, lower-cased, as id and email; its name part as display
//!   name. Reply-To is not read: the author is who the message says it is from, and an Inbound
//!   has no field to carry a second address.
//! - **Attachments** (inline images included): metadata only — name, type, decoded size; their
//!   content is never kept, opened or executed.

mod html;
mod strip;

use chrono::{DateTime, Utc};
use mail_parser::{Addr, Address, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType};

use crate::{Attachment, Author, Channel, Inbound, ParseError};

pub use html::html_to_text;
pub use strip::strip_reply;

/// The largest raw message accepted, in bytes (10 MiB); the listener checks it too.
pub const MAX_RAW_BYTES: usize = 10 * 1024 * 1024;
/// The most attachments listed; further ones are left out.
pub const MAX_ATTACHMENTS: usize = 100;
/// The longest text kept, in bytes (64 KiB); a longer text is cut on a character boundary,
/// after the quoted history is stripped.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// The most References ids kept from a message: the root and the most recent ones.
pub const MAX_REFERENCES: usize = 100;
/// The most References ids put on a reply (RFC 5322 §3.6.4 allows trimming; the root and the
/// most recent ones are what threading needs).
pub const MAX_REPLY_REFERENCES: usize = 20;

/// Longest subject kept, in bytes: RFC 5322's line limit.
const MAX_SUBJECT_BYTES: usize = 998;
/// Longest attachment name kept, in bytes (what file systems accept).
const MAX_NAME_BYTES: usize = 255;
/// The domain of ids derived for messages without a Message-ID.
const DERIVED_ID_DOMAIN: &str = "@derived.invalid";

/// The headers a reply to an email carries so that it threads in the customer's mailbox. Ids
/// are bare (no angle brackets); [`ReplyHeaders::in_reply_to_value`] and
/// [`ReplyHeaders::references_value`] give them as header values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplyHeaders {
    /// The Message-ID of the message answered; empty when it had none of its own.
    pub in_reply_to: String,
    /// The thread so far, oldest first, ending with the message answered.
    pub references: Vec<String>,
    /// The original subject with one "Re: " in front (none added if it already has one).
    pub subject: String,
}

impl ReplyHeaders {
    /// The In-Reply-To header value (`<id>`), or an empty string when there is none to set.
    pub fn in_reply_to_value(&self) -> String {
        if self.in_reply_to.is_empty() { String::new() } else { format!("<{}>", self.in_reply_to) }
    }

    /// The References header value (`<a> <b> …`), or an empty string when there is none to set.
    pub fn references_value(&self) -> String {
        self.references.iter().map(|id| format!("<{id}>")).collect::<Vec<_>>().join(" ")
    }
}

/// Read the raw RFC 5322 message `raw`, received by the monitored mailbox `account`, as an
/// inbound post (channel Email, private).
///
/// Fails, naming what is wrong and never echoing the body, when the message is larger than
/// [`MAX_RAW_BYTES`], is not an RFC 5322 message (no header fields, the first line not a
/// header field, or MIME the parser could not read) or has no From address. A missing or
/// unreadable Date is not an error: `posted_at` is then `None`.
///
/// Bounded: the text is cut at [`MAX_TEXT_BYTES`] (on a character boundary, nothing marks the
/// cut), at most [`MAX_ATTACHMENTS`] attachments and [`MAX_REFERENCES`] references are kept,
/// and the subject is cut at 998 bytes.
pub fn parse(account: &str, raw: &[u8]) -> Result<Inbound, ParseError> {
    if raw.len() > MAX_RAW_BYTES {
        return Err(ParseError::new(format!("message too large: {} bytes, the limit is {MAX_RAW_BYTES}", raw.len())));
    }
    check_first_line(raw)?;
    // mail-parser has panicked on crafted input before (#145); a panic here must not take the
    // listener or the poller down with it. Everything read borrows from `raw`, so nothing is
    // left half-updated when it unwinds.
    match std::panic::catch_unwind(|| read(account, raw)) {
        Ok(result) => result,
        Err(_) => Err(not_a_message("the MIME structure could not be read")),
    }
}

/// The headers a reply to `original` (an email read by [`parse`]) must carry: In-Reply-To its
/// id, References its references plus its id (RFC 5322 §3.6.4: the parent's In-Reply-To when
/// it has no References; at most [`MAX_REPLY_REFERENCES`], the root kept), and its subject
/// with "Re: " once. An id derived because the original had no Message-ID is not put on the
/// reply: no mailbox knows it.
pub fn reply_headers(original: &Inbound) -> ReplyHeaders {
    let own_id = if is_derived_id(&original.external_id) { "" } else { original.external_id.as_str() };
    let mut references = original.references.clone();
    if references.is_empty() && !original.in_reply_to.is_empty() {
        references.push(original.in_reply_to.clone());
    }
    if !own_id.is_empty() && references.last().map(String::as_str) != Some(own_id) {
        references.push(own_id.to_owned());
    }
    ReplyHeaders {
        in_reply_to: own_id.to_owned(),
        references: keep_root_and_latest(references, MAX_REPLY_REFERENCES),
        subject: reply_subject(&original.subject),
    }
}

/// The subject with "Re: " in front, unless it already starts with "Re:" (any case).
fn reply_subject(subject: &str) -> String {
    let subject = subject.trim();
    let already = subject.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("re:"));
    match (already, subject.is_empty()) {
        (true, _) => subject.to_owned(),
        (false, true) => "Re:".to_owned(),
        (false, false) => format!("Re: {subject}"),
    }
}

/// Reject input whose first line is not a header field before handing it to the parser:
/// mail-parser reads almost anything ("hello world" becomes a header named "hello world"), so
/// this is where garbage is told apart from mail.
fn check_first_line(raw: &[u8]) -> Result<(), ParseError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(not_a_message("it is empty"));
    }
    let line_end = raw.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(raw.len());
    let line = &raw[..line_end];
    // A field name is printable US-ASCII without ":" (RFC 5322 §2.2; none is anywhere near
    // 76 long), and no line may exceed 998 characters.
    let name_len = line.iter().position(|&b| b == b':');
    let is_field = line.len() <= 998
        && name_len.is_some_and(|n| (1..=76).contains(&n) && line[..n].iter().all(|&b| (33..=126).contains(&b)));
    if is_field { Ok(()) } else { Err(not_a_message("the first line is not a header field")) }
}

/// Read the parsed message into an inbound post (called under `catch_unwind`).
fn read(account: &str, raw: &[u8]) -> Result<Inbound, ParseError> {
    let message = MessageParser::default().parse(raw).ok_or_else(|| not_a_message("no header fields"))?;
    if message.headers().is_empty() {
        return Err(not_a_message("no header fields"));
    }
    let author = author(&message).ok_or_else(|| ParseError::new("missing From: the message has no sender address"))?;

    let own_id =
        message.message_id().map(clean_id).filter(|id| !id.is_empty()).map_or_else(|| derived_id(raw), str::to_owned);
    let in_reply_to = ids(message.in_reply_to()).into_iter().next().unwrap_or_default();
    let references = keep_root_and_latest(ids(message.references()), MAX_REFERENCES);
    let thread_id = references
        .first()
        .cloned()
        .or_else(|| (!in_reply_to.is_empty()).then(|| in_reply_to.clone()))
        .unwrap_or_else(|| own_id.clone());

    let subject = cap(message.subject().unwrap_or_default().trim(), MAX_SUBJECT_BYTES).to_owned();
    let (body, body_part) = body_text(&message);
    let text = cap(&strip::clean(&body, is_forward_subject(&subject)), MAX_TEXT_BYTES).to_owned();
    let language_hint = language(message.content_language())
        .or_else(|| body_part.and_then(|part| language(part.content_language())))
        .unwrap_or_default();
    let posted_at = message
        .date()
        .filter(|date| date.is_valid())
        .and_then(|date| DateTime::<Utc>::from_timestamp(date.to_timestamp(), 0));
    let attachments = message.attachments().take(MAX_ATTACHMENTS).map(attachment).collect();

    let mut inbound = Inbound::new(Channel::Email, account, own_id);
    inbound.thread_id = thread_id;
    inbound.in_reply_to = in_reply_to;
    inbound.references = references;
    inbound.private = true;
    inbound.author = author;
    inbound.text = text;
    inbound.subject = subject;
    inbound.language_hint = language_hint;
    inbound.posted_at = posted_at;
    inbound.attachments = attachments;
    Ok(inbound)
}

/// The sender from the first From address, if it has one.
fn author(message: &Message<'_>) -> Option<Author> {
    let from: &Addr<'_> = message.from().and_then(Address::first)?;
    let address = from.address.as_deref().map(str::trim).filter(|a| !a.is_empty())?.to_lowercase();
    let display_name = from.name.as_deref().map(str::trim).unwrap_or_default().to_owned();
    Some(Author { id: address.clone(), email: address, display_name, ..Author::default() })
}

/// The text of the message before stripping, and the part it came from: the text/plain
/// bodies joined, or when they are missing or blank, the HTML bodies reduced to text.
fn body_text<'m>(message: &'m Message<'m>) -> (String, Option<&'m MessagePart<'m>>) {
    // `text_bodies` lists an HTML part where a multipart/alternative has no plain one, and
    // non-plain text (text/calendar) inline: only real text/plain counts here.
    let plain: Vec<&MessagePart<'_>> =
        message.text_bodies().filter(|part| matches!(part.body, PartType::Text(_)) && is_plain(part)).collect();
    let plain_text = plain.iter().filter_map(|part| part.text_contents()).collect::<Vec<_>>().join("\n\n");
    if !plain_text.trim().is_empty() {
        return (plain_text, plain.first().copied());
    }
    let html: Vec<&MessagePart<'_>> =
        message.html_bodies().filter(|part| matches!(part.body, PartType::Html(_))).collect();
    let html_text =
        html.iter().filter_map(|part| part.text_contents()).map(html_to_text).collect::<Vec<_>>().join("\n\n");
    if !html_text.trim().is_empty() {
        return (html_text, html.first().copied());
    }
    (plain_text, plain.first().copied())
}

/// Whether a text part is text/plain (a part without Content-Type is, by RFC 2045's default).
fn is_plain(part: &MessagePart<'_>) -> bool {
    part.content_type().is_none_or(|ct| {
        ct.ctype().eq_ignore_ascii_case("text") && ct.subtype().is_none_or(|s| s.eq_ignore_ascii_case("plain"))
    })
}

/// A subject that says the message is a forward ("Fwd:", "Fw:", French "TR:", German "WG:",
/// Spanish "RV:"): the quoted message is then the content, not history to strip.
fn is_forward_subject(subject: &str) -> bool {
    let lower = subject.trim_start().to_lowercase();
    ["fwd:", "fw:", "tr:", "wg:", "rv:"].iter().any(|prefix| lower.starts_with(prefix))
}

/// The first language tag of a Content-Language value, if it looks like a BCP 47 tag.
fn language(value: &HeaderValue<'_>) -> Option<String> {
    let first = match value {
        HeaderValue::Text(text) => text.split(',').next().map(str::trim),
        HeaderValue::TextList(list) => list.first().map(|tag| tag.trim()),
        _ => None,
    }?;
    let is_tag = (1..=35).contains(&first.len())
        && first.starts_with(|c: char| c.is_ascii_alphabetic())
        && first.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    is_tag.then(|| first.to_owned())
}

/// The message ids of an In-Reply-To or References value, in order, without angle brackets.
fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    let ids: Vec<&str> = match value {
        HeaderValue::Text(id) => vec![id.as_ref()],
        HeaderValue::TextList(list) => list.iter().map(|id| id.as_ref()).collect(),
        _ => Vec::new(),
    };
    ids.into_iter().map(clean_id).filter(|id| !id.is_empty()).map(str::to_owned).collect()
}

/// An id without surrounding whitespace and angle brackets.
fn clean_id(id: &str) -> &str {
    id.trim().trim_start_matches('<').trim_end_matches('>').trim()
}

/// At most `max` ids: the first (the thread's root) and the most recent ones.
fn keep_root_and_latest(mut ids: Vec<String>, max: usize) -> Vec<String> {
    if ids.len() > max && max > 0 {
        ids.drain(1..ids.len() - (max - 1));
    }
    ids
}

/// The metadata of one attachment part; its content is only measured.
fn attachment(part: &MessagePart<'_>) -> Attachment {
    let content_type = match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(subtype) => format!("{}/{}", ct.ctype(), subtype),
            None => ct.ctype().to_owned(),
        }
        .to_lowercase(),
        None => match part.body {
            PartType::Text(_) => "text/plain",
            PartType::Html(_) => "text/html",
            PartType::Message(_) => "message/rfc822",
            _ => "application/octet-stream",
        }
        .to_owned(),
    };
    Attachment {
        name: safe_name(part.attachment_name().unwrap_or_default()),
        content_type,
        // The decoded length (text parts: as UTF-8, after charset decoding).
        size: Some(part.len() as u64),
        url: String::new(),
    }
}

/// A file name fit to show: no directory part (a name like "../../x" is not a path to
/// anyone), no control characters, at most [`MAX_NAME_BYTES`].
fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control()).collect();
    cap(clean.trim(), MAX_NAME_BYTES).to_owned()
}

/// The id of a message without a Message-ID: FNV-1a 64 of its raw bytes, so the same bytes
/// delivered again get the same id.
fn derived_id(raw: &[u8]) -> String {
    format!("tend-{:016x}{DERIVED_ID_DOMAIN}", fnv1a64(raw))
}

/// Whether an id was made by [`derived_id`].
fn is_derived_id(id: &str) -> bool {
    id.starts_with("tend-") && id.ends_with(DERIVED_ID_DOMAIN)
}

/// FNV-1a, 64 bits (offset basis and prime from the FNV reference): stable forever, unlike
/// std's `DefaultHasher`.
fn fnv1a64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(PRIME))
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn cap(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The error for input that is not mail at all.
fn not_a_message(why: &str) -> ParseError {
    ParseError::new(format!("not an RFC 5322 message: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a64_matches_the_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn cap_cuts_on_a_char_boundary() {
        assert_eq!(cap("héllo", 2), "h");
        assert_eq!(cap("héllo", 3), "hé");
        assert_eq!(cap("abc", 10), "abc");
    }

    #[test]
    fn keep_root_and_latest_keeps_the_root() {
        let ids: Vec<String> = (0..30).map(|i| i.to_string()).collect();
        let kept = keep_root_and_latest(ids, 5);
        assert_eq!(kept, ["0", "26", "27", "28", "29"]);
    }

    #[test]
    fn safe_name_drops_directories_and_controls() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("C:\\Users\\x\\in\u{7}voice.pdf"), "invoice.pdf");
    }

    #[test]
    fn first_line_must_be_a_header_field() {
        assert!(check_first_line(b"From: a@b.c\r\n").is_ok());
        assert!(check_first_line(b"hello world").is_err());
        assert!(check_first_line(b": no name").is_err());
        assert!(check_first_line(b"  \r\n").is_err());
    }
}
