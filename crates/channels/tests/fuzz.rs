//! Fuzz targets for every parser of what the platforms send (docs/FUZZING.md): webhook payloads
//! (X, Meta, generic), X's mentions page, Meta's mention lookup, email MIME, the platforms'
//! answers to a reply, webhook signature headers and quota strings.
//!
//! Each target runs under plain `cargo test`: first every file of its corpus
//! (`tests/__fuzz__/<target>/corpus/`), then a bounded number of random inputs. Each input is
//! tried as it is and also as a mutation of one corpus file (bytes flipped, inserted, cut, tokens
//! spliced in), so the random phase reaches past the first `{` of a JSON body. A target fails on
//! a panic or a broken property; a parse error is an answer, not a failure.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tend_channels::outbound::{self, MAX_QUOTA_WINDOW, Outcome, Quota, Reply, ReplyKind};
use tend_channels::{Channel, Inbound, Parsed, email, generic, meta, signature, x};

/// Random inputs per target after the corpus, unless `BOLERO_RANDOM_ITERATIONS` says otherwise.
const ITERATIONS: usize = 10_000;
/// And at most this long, unless `BOLERO_RANDOM_TEST_TIME_MS` says otherwise.
const TIME: Duration = Duration::from_secs(3);
/// Longest error message a parser may answer: errors name a path, never echo the body.
const MAX_ERROR_BYTES: usize = 1024;

/// Pieces of JSON and of the values inside it that parsers trip over.
const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ",",
    ":",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1e999",
    "-0",
    "1.5",
    "18446744073709551616",
    "9223372036854775807",
    "\"\"",
    "{}",
    "[]",
    " ",
    "\\",
    "\\u0000",
    "\\ud800",
    "\"id\":",
    "\"text\":",
    "\"entry\":[",
    "\"changes\":[",
    "\"messaging\":[",
    "\"events\":[",
    "\"data\":[",
    "\"includes\":",
    "\"users\":",
    "\"user\":",
    "\"attachments\":[",
    "\"type\":",
    "\"created_at\":",
    "\"timestamp\":",
    "\"2026-02-30T25:61:00Z\"",
    "\"Wed Oct 10 20:19:24 +0000 2018\"",
    "\"é\"",
    "\u{feff}",
];

/// Pieces of MIME, for email.
const MIME_TOKENS: &[&str] = &[
    "\r\n",
    "\n",
    "\r\n\r\n",
    ":",
    ";",
    "=",
    "\"",
    "--b",
    "--b--",
    "boundary=b",
    "Content-Type: ",
    "multipart/mixed; boundary=b",
    "message/rfc822",
    "text/html",
    "charset=x-unknown",
    "Content-Transfer-Encoding: base64",
    "Content-Transfer-Encoding: quoted-printable",
    "Content-Disposition: attachment; filename=",
    "=?UTF-8?B?",
    "=?UTF-8?Q?",
    "?=",
    "=C3=A9",
    "=\r\n",
    "=ZZ",
    "From: ",
    "Message-ID: <",
    "References: <a@b> <c@d>",
    "In-Reply-To: <",
    "Subject: Re: ",
    "<blockquote>",
    "&#99999999;",
    "> ",
    "On Tue, 3 Dec 2026 at 10:00, J <j@x.y> wrote:",
    "-- \r\n",
    "\u{0}",
];

/// The files of a target's corpus, sorted by name; seeds for mutation.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = format!("{}/tests/__fuzz__/{target}/corpus", env!("CARGO_MANIFEST_DIR"));
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{dir}: {error}"))
        .map(|entry| entry.map(|entry| entry.path()).unwrap_or_else(|error| panic!("{dir}: {error}")))
        .collect();
    paths.sort();
    let seeds: Vec<Vec<u8>> =
        paths.iter().map(|path| std::fs::read(path).unwrap_or_else(|error| panic!("{path:?}: {error}"))).collect();
    assert!(!seeds.is_empty(), "{dir} is empty");
    seeds
}

/// One corpus file mutated as `input` says: its first byte picks the file, every next four bytes
/// are one edit (what, where, where, with what).
fn mutate(seeds: &[Vec<u8>], tokens: &[&str], input: &[u8]) -> Vec<u8> {
    let Some((&pick, edits)) = input.split_first() else {
        return seeds[0].clone();
    };
    let mut out = seeds[usize::from(pick) % seeds.len()].clone();
    // One to eight edits: more leave nothing a parser would get far into.
    for edit in edits.chunks_exact(4).take(1 + usize::from(pick >> 5)) {
        let [what, high, low, value] = [edit[0], edit[1], edit[2], edit[3]];
        let at = (usize::from(high) << 8 | usize::from(low)) % (out.len() + 1);
        match what % 8 {
            0 | 1 => {
                if let Some(byte) = out.get_mut(at) {
                    *byte = value;
                }
            }
            2 => out.insert(at, value),
            3 => {
                let end = (at + usize::from(value % 16)).min(out.len());
                out.drain(at..end);
            }
            4 | 5 => {
                let token = tokens[usize::from(value) % tokens.len()];
                out.splice(at..at, token.bytes());
            }
            6 => {
                // Repeat a short run: deep nesting and long arrays.
                let end = (at + 8).min(out.len());
                let run = out[at..end].to_vec();
                for _ in 0..usize::from(value % 32) {
                    out.splice(at..at, run.iter().copied());
                }
            }
            _ => out.truncate(at.max(1)),
        }
    }
    out
}

/// The input as it is, then as a mutation of a corpus file.
fn inputs(seeds: &[Vec<u8>], tokens: &[&str], input: &[u8]) -> [Vec<u8>; 2] {
    [input.to_vec(), mutate(seeds, tokens, input)]
}

/// What holds of every post any webhook adapter produces, and of its errors.
fn check_webhook(result: Result<Parsed, tend_channels::ParseError>, channels: &[Channel]) {
    match result {
        Ok(parsed) => {
            for post in &parsed.posts {
                assert!(channels.contains(&post.channel), "{:?}", post.channel);
                assert!(!post.external_id.is_empty(), "{post:?}");
            }
        }
        Err(error) => assert!(error.0.len() <= MAX_ERROR_BYTES, "{} bytes: {error}", error.0.len()),
    }
}

#[test]
fn x_account_activity() {
    let seeds = corpus("x_account_activity");
    bolero::check!().with_iterations(ITERATIONS).with_test_time(TIME).for_each(|input: &[u8]| {
        for body in inputs(&seeds, JSON_TOKENS, input) {
            check_webhook(x::parse_account_activity(&body), &[Channel::X]);
        }
    });
}

#[test]
fn x_mentions() {
    let seeds = corpus("x_mentions");
    bolero::check!().with_iterations(ITERATIONS).with_test_time(TIME).for_each(|input: &[u8]| {
        for body in inputs(&seeds, JSON_TOKENS, input) {
            match x::parse_mentions("1065249714214457345", &body) {
                Ok(mentions) => check_webhook(Ok(mentions.parsed), &[Channel::X]),
                Err(error) => check_webhook(Err(error), &[]),
            }
        }
    });
}

#[test]
fn meta_webhook() {
    let seeds = corpus("meta_webhook");
    bolero::check!().with_iterations(ITERATIONS).with_test_time(TIME).for_each(|input: &[u8]| {
        for body in inputs(&seeds, JSON_TOKENS, input) {
            check_webhook(meta::parse(&body), &[Channel::Facebook, Channel::Instagram]);
        }
    });
}

#[test]
fn meta_mention_lookup() {
    let seeds = corpus("meta_mention_lookup");
    // The two kinds of mention a delivery names and the Graph API answer completes.
    let delivery = std::fs::read(format!("{}/tests/fixtures/meta/instagram_mentions.json", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|error| panic!("instagram_mentions.json: {error}"));
    let mentions = meta::parse(&delivery).unwrap_or_else(|error| panic!("instagram_mentions.json: {error}"));
    assert!(mentions.posts.iter().all(|post| post.lookup.is_some()) && mentions.posts.len() == 2);
    bolero::check!().with_iterations(ITERATIONS).with_test_time(TIME).for_each(|input: &[u8]| {
        for body in inputs(&seeds, JSON_TOKENS, input) {
            for mention in &mentions.posts {
                let mut post = mention.clone();
                match meta::complete_mention(&mut post, &body) {
                    Ok(()) => {
                        assert!(post.lookup.is_none());
                        assert!(!post.author.id.is_empty(), "{post:?}");
                        assert_eq!(post.external_id, mention.external_id);
                    }
                    Err(error) => assert!(error.0.len() <= MAX_ERROR_BYTES, "{error}"),
                }
            }
        }
    });
}

#[test]
fn generic_webhook() {
    let seeds = corpus("generic_webhook");
    bolero::check!().with_iterations(ITERATIONS).with_test_time(TIME).for_each(|input: &[u8]| {
        for body in inputs(&seeds, JSON_TOKENS, input) {
            let result = generic::parse("acct", &body);
            if let Ok(parsed) = &result {
                assert!(parsed.posts.len() + parsed.skipped.len() <= generic::MAX_EVENTS);
                for post in &parsed.posts {
                    assert!(post.text.len() <= generic::MAX_TEXT_BYTES);
                    assert!(post.attachments.len() <= generic::MAX_ATTACHMENTS);
                    assert!(post.external_id.len() <= generic::MAX_FIELD_BYTES);
                    assert_eq!(post.account_id, "acct");
                }
            }
            check_webhook(result, &[Channel::Chat, Channel::Review]);
        }
    });
}

#[test]
fn email_mime() {
    const ACCOUNT: &str = "support@acme-shop.example";
    let seeds = corpus("email_mime");
    bolero::check!().with_iterations(ITERATIONS).with_test_time(TIME).for_each(|input: &[u8]| {
        for raw in inputs(&seeds, MIME_TOKENS, input) {
            match email::parse(ACCOUNT, &raw) {
                Ok(inbound) => check_email(&inbound, ACCOUNT),
                Err(error) => assert!(error.0.len() <= MAX_ERROR_BYTES, "{error}"),
            }
        }
    });
}

fn check_email(inbound: &Inbound, account: &str) {
    assert_eq!(inbound.channel, Channel::Email);
    assert!(inbound.private);
    assert_eq!(inbound.account_id, account);
    assert!(!inbound.external_id.is_empty());
    assert!(!inbound.thread_id.is_empty());
    assert!(!inbound.author.id.is_empty());
    assert!(inbound.text.len() <= email::MAX_TEXT_BYTES);
    assert!(inbound.attachments.len() <= email::MAX_ATTACHMENTS);
    assert!(inbound.references.len() <= email::MAX_REFERENCES);
}

/// A platform's answer as the corpus writes it: `CHANNEL KIND STATUS`, header lines, a blank
/// line, the body. Whatever does not read so still makes an answer.
fn answer(input: &[u8]) -> (Reply, u16, Vec<(String, String)>, &[u8]) {
    let (head, body) = match input.windows(2).position(|pair| pair == b"\n\n") {
        Some(at) => (String::from_utf8_lossy(&input[..at]), &input[at + 2..]),
        None => (Default::default(), input),
    };
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let channel = match first.next() {
        Some("x") => Channel::X,
        Some("facebook") => Channel::Facebook,
        Some("instagram") => Channel::Instagram,
        Some("chat") => Channel::Chat,
        Some("review") => Channel::Review,
        Some("email") => Channel::Email,
        _ => [Channel::X, Channel::Facebook, Channel::Instagram, Channel::Chat][input.len() % 4],
    };
    let kind = if first.next() == Some("private") { ReplyKind::Private } else { ReplyKind::Public };
    let status = first.next().and_then(|status| status.parse().ok()).unwrap_or(200 + (input.len() % 400) as u16);
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let mut reply = Reply::new("0192f0c1-7c1e-7cc0-8a9e-3c3e1d1b2a10", channel, kind, "1234");
    reply.in_reply_to = "5678".to_owned();
    reply.recipient_id = "9012".to_owned();
    reply.text = "Sorry to hear that, we are on it.".to_owned();
    (reply, status, headers, body)
}

#[test]
fn outbound_response() {
    const NOW: i64 = 1_700_000_000;
    let seeds = corpus("outbound_response");
    bolero::check!().with_iterations(ITERATIONS).with_test_time(TIME).for_each(|input: &[u8]| {
        for raw in inputs(&seeds, JSON_TOKENS, input) {
            let (reply, status, headers, body) = answer(&raw);
            match outbound::outcome(&reply, status, &headers, body, NOW) {
                Outcome::Sent { platform_id } => assert!(!platform_id.is_empty()),
                Outcome::Retry { reason, after } => {
                    // The platform's words are quoted at most 300 characters long.
                    assert!(reason.chars().count() <= 600, "{reason}");
                    assert!(after.is_none_or(|after| after <= Duration::from_secs(24 * 60 * 60)), "{after:?}");
                }
                Outcome::Failed { reason } => assert!(reason.chars().count() <= 600, "{reason}"),
            }
            let wait = outbound::requested_wait(&headers, NOW);
            assert!(wait.is_none_or(|wait| wait <= Duration::from_secs(24 * 60 * 60)), "{wait:?}");
            let _ = outbound::graph_failure_is_temporary(status, body);
        }
    });
}

#[test]
fn signature_headers() {
    let seeds = corpus("signature_headers");
    let now: DateTime<Utc> = DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default();
    let window = signature::DEFAULT_REPLAY_WINDOW;
    bolero::check!().with_iterations(ITERATIONS).with_test_time(TIME).for_each(|input: &[u8]| {
        for raw in inputs(&seeds, JSON_TOKENS, input) {
            let header = String::from_utf8_lossy(&raw);
            let body = input;
            // A header that is not the signature never verifies, and never panics.
            if header != signature::sign_x("secret", body) {
                assert!(signature::verify_x("secret", body, Some(&header)).is_err());
            }
            if !header.eq_ignore_ascii_case(&signature::sign_meta("secret", body)) {
                assert!(signature::verify_meta("secret", body, Some(&header)).is_err());
            }
            let _ = signature::verify_generic("secret", body, Some(&header), now, window);
        }
        // The signatures made for any body verify.
        let body = input;
        assert!(signature::verify_x("secret", body, Some(&signature::sign_x("secret", body))).is_ok());
        assert!(signature::verify_meta("secret", body, Some(&signature::sign_meta("secret", body))).is_ok());
        let signed = signature::sign_generic("secret", body, now.timestamp());
        assert!(signature::verify_generic("secret", body, Some(&signed), now, window).is_ok());
    });
}

#[test]
fn quota() {
    let seeds = corpus("quota");
    bolero::check!().with_iterations(ITERATIONS).with_test_time(TIME).for_each(|input: &[u8]| {
        for raw in inputs(&seeds, &["/", " ", "1", "0", "15m", "1s", "366days", "4294967295", "-", "ns"], input) {
            let text = String::from_utf8_lossy(&raw);
            if let Ok(quota) = Quota::parse(&text) {
                assert!(quota.burst() > 0);
                assert!(quota.per() > Duration::ZERO && quota.per() <= MAX_QUOTA_WINDOW, "{quota:?}");
                // What it means, written back, reads the same.
                let again = format!("{}/{}", quota.burst(), humantime::format_duration(quota.per()));
                assert_eq!(Quota::parse(&again), Ok(quota), "{again}");
            }
        }
    });
}
