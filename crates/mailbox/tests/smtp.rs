//! Sending over the real postfix of scripts/services.sh, which delivers into dovecot: each test
//! sends to `tend+FOLDER@tend.test` for a folder of its own and reads the message back over
//! IMAP, threading headers and all.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{DOMAIN, TestFolder, smtp_config, tag};
use mail_parser::{HeaderValue, MessageParser};
use tend_mailbox::{MailError, OutgoingEmail, Security, SmtpConfig, SmtpSender, Waited, send};

/// How long a delivered message may take to show up over IMAP (postfix → LMTP → dovecot).
const DELIVERY: Duration = Duration::from_secs(30);

fn reply(to: &str, run: &str) -> OutgoingEmail {
    OutgoingEmail {
        from: format!("Tend Support <support@{DOMAIN}>"),
        to: to.to_owned(),
        subject: "Re: where is my order? — Bestellung Nr. 42".to_owned(),
        // A line of one dot would end DATA if not doubled; "From " lines get mangled by some.
        text: format!(
            "Hello,\n\nyour order ships today. Grüße, 佐藤\n.\n.. and two dots\nFrom here on\n\n-- \nrun {run}\n"
        ),
        message_id: format!("<reply-{run}@tend.test>"),
        in_reply_to: Some(format!("<question-{run}@example.org>")),
        // Long enough that the header has to be folded.
        references: (0..12)
            .map(|n| format!("<thread-{n}-{run}@example.org>"))
            .chain([format!("<question-{run}@example.org>")])
            .collect(),
    }
}

/// Waits until the folder holds one message and returns it raw.
async fn delivered(folder: &TestFolder) -> Vec<u8> {
    let mut mailbox = folder.connect().await;
    let deadline = Instant::now() + DELIVERY;
    let mut cursor = None;
    loop {
        let batch = mailbox.fetch_new(cursor, 10).await.unwrap();
        if let Some(message) = batch.messages.into_iter().next() {
            mailbox.logout().await;
            return message.raw;
        }
        cursor = Some(batch.cursor);
        let remaining = deadline.saturating_duration_since(Instant::now());
        assert!(!remaining.is_zero(), "the reply did not arrive in {} within {DELIVERY:?}", folder.name);
        let waited = mailbox.wait_for_new(remaining).await.unwrap();
        assert_eq!(waited, Waited::NewMail, "the reply did not arrive in {} within {DELIVERY:?}", folder.name);
    }
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![id.to_string()],
        HeaderValue::TextList(list) => list.iter().map(|id| id.to_string()).collect(),
        other => panic!("not a list of ids: {other:?}"),
    }
}

/// Sends a reply with `config` and finds it in the mailbox with its headers and text intact.
async fn round_trip(config: SmtpConfig, purpose: &str) {
    let folder = TestFolder::create(purpose).await;
    let run = tag(purpose);
    let email = reply(&folder.address(), &run);
    send(&config, &email).await.unwrap();

    let raw = delivered(&folder).await;
    let message = MessageParser::default().parse(&raw).unwrap();
    let bare = |id: &str| id.trim_start_matches('<').trim_end_matches('>').to_owned();
    assert_eq!(message.message_id(), Some(bare(&email.message_id).as_str()));
    assert_eq!(ids(message.in_reply_to()), vec![bare(email.in_reply_to.as_deref().unwrap())]);
    assert_eq!(ids(message.references()), email.references.iter().map(|id| bare(id)).collect::<Vec<_>>());
    assert_eq!(message.subject(), Some(email.subject.as_str()));
    assert_eq!(message.body_text(0).unwrap().replace("\r\n", "\n"), email.text);
    let from = message.from().and_then(|from| from.first()).and_then(|from| from.address()).unwrap();
    assert_eq!(from, format!("support@{DOMAIN}"));
    let raw_text = String::from_utf8_lossy(&raw);
    assert!(raw_text.contains("Content-Type: text/plain; charset=utf-8"), "{raw_text}");
    folder.remove().await;
}

#[tokio::test]
async fn a_reply_over_starttls_arrives_with_its_threading_headers() {
    round_trip(smtp_config(Security::StartTls), "smtp-starttls").await;
}

#[tokio::test]
async fn a_reply_over_implicit_tls_arrives_with_its_threading_headers() {
    round_trip(smtp_config(Security::Tls), "smtp-tls").await;
}

#[tokio::test]
async fn a_reply_over_plain_loopback_arrives_with_its_threading_headers() {
    round_trip(smtp_config(Security::Plain), "smtp-plain").await;
}

#[tokio::test]
async fn a_reply_with_auth_arrives() {
    let mut config = smtp_config(Security::StartTls);
    config.username = Some(common::user());
    config.password = Some(common::password());
    config.helo_name = Some("tests.tend.test".to_owned());
    round_trip(config, "smtp-auth").await;
}

#[tokio::test]
async fn one_sender_sends_several() {
    let folder = TestFolder::create("smtp-several").await;
    let sender = SmtpSender::new(&smtp_config(Security::Tls)).unwrap();
    let run = tag("several");
    for n in 0..3 {
        let mut email = reply(&folder.address(), &format!("{run}-{n}"));
        email.references.clear();
        email.in_reply_to = None;
        sender.send(&email).await.unwrap();
    }
    let mut mailbox = folder.connect().await;
    let deadline = Instant::now() + DELIVERY;
    let mut count = 0;
    let mut cursor = None;
    while count < 3 {
        let batch = mailbox.fetch_new(cursor, 10).await.unwrap();
        for message in &batch.messages {
            let parsed = MessageParser::default().parse(&message.raw).unwrap();
            assert!(parsed.in_reply_to().is_empty() && parsed.references().is_empty());
        }
        count += batch.messages.len();
        cursor = Some(batch.cursor);
        if count < 3 {
            let remaining = deadline.saturating_duration_since(Instant::now());
            assert!(!remaining.is_zero(), "{count} of 3 arrived");
            mailbox.wait_for_new(remaining).await.unwrap();
        }
    }
    assert_eq!(count, 3);
    mailbox.logout().await;
    folder.remove().await;
}

#[tokio::test]
async fn a_wrong_smtp_password_is_an_auth_error() {
    let mut config = smtp_config(Security::StartTls);
    config.username = Some(common::user());
    config.password = Some("wrong-smtp-password-91c2".to_owned());
    let error = send(&config, &reply(&format!("anyone@{DOMAIN}"), &tag("auth"))).await.err().unwrap();
    assert!(matches!(error, MailError::Auth { .. }), "{error:?}");
    assert!(!error.is_retryable());
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("wrong-smtp-password-91c2"), "{shown}");
}

#[tokio::test]
async fn auth_over_plain_text_is_not_offered() {
    // The test server, like most, offers AUTH only after TLS.
    let mut config = smtp_config(Security::Plain);
    config.username = Some(common::user());
    config.password = Some(common::password());
    let error = send(&config, &reply(&format!("anyone@{DOMAIN}"), &tag("plain-auth"))).await.err().unwrap();
    assert!(matches!(error, MailError::Auth { .. }), "{error:?}");
}

#[tokio::test]
async fn temporary_and_permanent_rejections() {
    let sender = SmtpSender::new(&smtp_config(Security::StartTls)).unwrap();
    let run = tag("rejected");

    let error = sender.send(&reply(&format!("tempfail@{DOMAIN}"), &run)).await.err().unwrap();
    let MailError::Rejected { permanent, code, .. } = &error else { panic!("{error:?}") };
    assert!(!permanent && *code == 451, "{error}");
    assert!(error.is_retryable());

    let error = sender.send(&reply(&format!("reject@{DOMAIN}"), &run)).await.err().unwrap();
    let MailError::Rejected { permanent, code, .. } = &error else { panic!("{error:?}") };
    assert!(*permanent && *code == 550, "{error}");
    assert!(!error.is_retryable());

    // Not a domain of the test server, which relays nowhere: refused at RCPT, nothing leaves.
    let error = sender.send(&reply("someone@example.com", &run)).await.err().unwrap();
    let MailError::Rejected { permanent, code, .. } = &error else { panic!("{error:?}") };
    assert!(*permanent && *code == 554, "{error}");
}

#[tokio::test]
async fn an_untrusted_smtp_certificate_is_a_tls_error() {
    for security in [Security::Tls, Security::StartTls] {
        let mut config = smtp_config(security);
        config.ca_file = None;
        let error = send(&config, &reply(&format!("anyone@{DOMAIN}"), &tag("tls"))).await.err().unwrap();
        assert!(matches!(error, MailError::Tls { .. }), "{security:?}: {error:?}");
        assert!(!error.is_retryable());
    }
}

#[tokio::test]
async fn nothing_listening_is_retryable() {
    let mut config = smtp_config(Security::Plain);
    config.port = 9;
    let error = send(&config, &reply(&format!("anyone@{DOMAIN}"), &tag("down"))).await.err().unwrap();
    assert!(matches!(error, MailError::Connection { .. }), "{error:?}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_server_that_never_greets_is_a_retryable_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let (_socket, _) = listener.accept().await.unwrap();
        std::future::pending::<()>().await;
    });
    let mut config = smtp_config(Security::Plain);
    config.port = port;
    config.timeout = Duration::from_millis(300);
    let email = reply(&format!("anyone@{DOMAIN}"), &tag("silent"));
    let error = tokio::time::timeout(DELIVERY, send(&config, &email)).await.unwrap().err().unwrap();
    assert!(matches!(error, MailError::Timeout { .. }), "{error:?}");
    assert!(error.is_retryable());
    silent.abort();
}

#[tokio::test]
async fn an_invalid_email_is_refused_before_connecting() {
    // Port 9: nothing listens, so a connection attempt would fail differently.
    let mut config = smtp_config(Security::Plain);
    config.port = 9;
    let mut email = reply(&format!("anyone@{DOMAIN}"), &tag("invalid"));
    email.message_id = "no-brackets@tend.test".to_owned();
    let error = send(&config, &email).await.err().unwrap();
    assert!(matches!(error, MailError::InvalidEmail(_)), "{error:?}");
    assert!(!error.is_retryable());
}
