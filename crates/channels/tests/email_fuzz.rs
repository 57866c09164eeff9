//! Email under fuzz: arbitrary bytes, MIME token soup and mutated fixtures never panic
//! `parse`, and whatever it accepts respects the bounds. (mail-parser has panicked on crafted
//! input, #145 and #155; `parse` must turn that into an error.)

use proptest::prelude::*;
use tend_channels::email::{self, MAX_ATTACHMENTS, MAX_TEXT_BYTES};
use tend_channels::{Channel, Inbound};

const ACCOUNT: &str = "support@acme-shop.example";

const FIXTURES: &[&str] = &[
    "plain_complaint.eml",
    "gmail_reply.eml",
    "outlook_html_reply.eml",
    "outlook_plain_original.eml",
    "alternative_both.eml",
    "attachments.eml",
    "spanish_qp.eml",
    "no_message_id.eml",
    "iphone.eml",
    "french_reply.eml",
];

/// Pieces of MIME, headers and encodings that parsers trip over, to build messages from.
const TOKENS: &[&str] = &[
    "\r\n",
    "\n",
    "\r",
    "\r\n\r\n",
    " ",
    "\t",
    ":",
    ";",
    "=",
    "\"",
    "--b",
    "--b--",
    "--",
    "boundary=b",
    "boundary=\"\"",
    "Content-Type: ",
    "multipart/mixed",
    "multipart/alternative",
    "multipart/related",
    "message/rfc822",
    "text/plain",
    "text/html",
    "image/png",
    "charset=utf-8",
    "charset=iso-8859-1",
    "charset=x-unknown",
    "Content-Transfer-Encoding: ",
    "base64",
    "quoted-printable",
    "Content-Disposition: attachment; filename=",
    "filename*=UTF-8''%C3%A9",
    "name=\"x.pdf\"",
    "Received: from x by y;",
    "Received:",
    "Date: ",
    "Tue, 3 Dec 2026 10:00:00 +0100",
    "Message-ID: <",
    ">",
    "<",
    "References: ",
    "In-Reply-To: ",
    "Subject: ",
    "=?UTF-8?B?",
    "=?UTF-8?Q?",
    "?=",
    "w6k=",
    "=C3=A9",
    "=\r\n",
    "=ZZ",
    "From: ",
    "a@b.c",
    "\"Name\" <n@x.y>",
    "group:;",
    "<html><body>",
    "<blockquote>",
    "</blockquote>",
    "<!--",
    "-->",
    "<script>",
    "&amp;",
    "&#x;",
    "&#99999999;",
    "> ",
    "On Tue, 3 Dec 2026 at 10:00, J <j@x.y> wrote:",
    "-- ",
    "Sent from my iPhone",
    "---------- Forwarded message ---------",
    "é",
    "\u{0}",
    "\u{feff}",
];

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/email/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// What holds of every accepted message.
fn check(inbound: &Inbound) {
    assert_eq!(inbound.channel, Channel::Email);
    assert!(inbound.private);
    assert_eq!(inbound.account_id, ACCOUNT);
    assert!(!inbound.external_id.is_empty());
    assert!(!inbound.thread_id.is_empty());
    assert!(!inbound.author.id.is_empty());
    assert!(inbound.text.len() <= MAX_TEXT_BYTES);
    assert!(inbound.attachments.len() <= MAX_ATTACHMENTS);
}

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..120).prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..4096)) {
        if let Ok(inbound) = email::parse(ACCOUNT, &raw) {
            check(&inbound);
        }
    }

    #[test]
    fn arbitrary_bytes_after_a_from_never_panic(rest in prop::collection::vec(any::<u8>(), 0..4096)) {
        // A header after the From, so that a folded line in `rest` cannot change the From.
        let mut raw = b"From: a@example.com\r\nX-Fuzz: 1\r\n".to_vec();
        raw.extend_from_slice(&rest);
        check(&email::parse(ACCOUNT, &raw).expect("a From first is always a message"));
    }

    #[test]
    fn mime_token_soup_never_panics(headers in soup(), body in soup()) {
        let raw = format!("From: a@example.com\r\n{headers}\r\n\r\n{body}");
        if let Ok(inbound) = email::parse(ACCOUNT, raw.as_bytes()) {
            check(&inbound);
        }
        // And with the soup first, so that the first line is anything.
        let raw = format!("{headers}{body}");
        if let Ok(inbound) = email::parse(ACCOUNT, raw.as_bytes()) {
            check(&inbound);
        }
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0..FIXTURES.len(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..16),
        cut in prop::option::of(any::<prop::sample::Index>()),
        splice in prop::option::of((any::<prop::sample::Index>(), soup())),
    ) {
        let mut raw = fixture(FIXTURES[which]);
        for (at, byte) in flips {
            let i = at.index(raw.len());
            raw[i] = byte;
        }
        if let Some((at, text)) = splice {
            let i = at.index(raw.len());
            raw.splice(i..i, text.into_bytes());
        }
        if let Some(at) = cut {
            raw.truncate(at.index(raw.len() + 1));
        }
        if let Ok(inbound) = email::parse(ACCOUNT, &raw) {
            check(&inbound);
        }
    }

    #[test]
    fn html_to_text_never_panics(html in "(<[a-z/!?]{0,3}[^>]{0,8}>?|&#?[a-zA-Z0-9]{0,6};?|[^<&]{0,12}){0,60}") {
        let _ = email::html_to_text(&html);
    }

    #[test]
    fn html_to_text_of_soup_never_panics(html in soup()) {
        let _ = email::html_to_text(&html);
    }

    #[test]
    fn strip_reply_keeps_something_of_any_text(text in soup()) {
        let stripped = email::strip_reply(&text);
        // Nothing is invented: every line kept is a line of the input, trimmed (a blank line may
        // be added before a forwarded message).
        let normalised = text.replace("\r\n", "\n").replace('\r', "\n");
        let lines: Vec<&str> = normalised.split('\n').map(str::trim_end).collect();
        for line in stripped.lines().filter(|line| !line.is_empty()) {
            prop_assert!(lines.contains(&line), "{line:?} not in the input");
        }
        // Only an input of blank lines leaves nothing.
        prop_assert_eq!(stripped.is_empty(), text.trim().is_empty());
    }
}
