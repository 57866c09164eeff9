//! ImapMailbox against the real dovecot of scripts/services.sh: TLS modes, logins, cursors,
//! IDLE. Each test works in a folder of its own.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{TestFolder, fixture, imap_config, is_fixture, tag};
use tend_mailbox::{Cursor, ImapMailbox, MailError, Security, Waited};

/// Generous bound for anything that should be prompt: failing beats hanging.
const PROMPT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn connects_over_implicit_tls_starttls_and_plain_loopback() {
    for security in [Security::Tls, Security::StartTls, Security::Plain] {
        let mailbox = common::connect(&imap_config(security, "INBOX")).await;
        assert_eq!(mailbox.folder(), "INBOX");
        assert!(mailbox.supports_idle(), "dovecot offers IDLE ({security:?})");
        assert!(mailbox.uid_validity() > 0);
        mailbox.logout().await;
    }
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_error_that_names_no_password() {
    for security in [Security::Tls, Security::StartTls] {
        let mut config = imap_config(security, "INBOX");
        config.password = "not-the-password-7f3a".to_owned();
        let error = ImapMailbox::connect(&config).await.err().unwrap();
        assert!(matches!(error, MailError::Auth { .. }), "{security:?}: {error:?}");
        assert!(!error.is_retryable(), "{error}");
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("not-the-password-7f3a"), "{shown}");
        assert!(shown.contains(&common::user()), "the username helps: {shown}");
    }
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error() {
    for security in [Security::Tls, Security::StartTls] {
        let mut config = imap_config(security, "INBOX");
        // Mozilla's roots only: the test CA is not among them.
        config.ca_file = None;
        let error = ImapMailbox::connect(&config).await.err().unwrap();
        assert!(matches!(error, MailError::Tls { .. }), "{security:?}: {error:?}");
        assert!(!error.is_retryable(), "{error}");
        assert!(error.to_string().contains("UnknownIssuer"), "{error}");
    }
}

#[tokio::test]
async fn connects_by_the_name_localhost() {
    // The certificate names localhost and 127.0.0.1: a DNS name verifies as well as the address.
    let mut config = imap_config(Security::Tls, "INBOX");
    config.host = "localhost".to_owned();
    common::connect(&config).await.logout().await;
}

#[tokio::test]
async fn a_server_that_never_greets_is_a_retryable_timeout() {
    // A listener that accepts and then says nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let (_socket, _) = listener.accept().await.unwrap();
        std::future::pending::<()>().await;
    });
    let mut config = imap_config(Security::Plain, "INBOX");
    config.port = port;
    config.timeout = Duration::from_millis(300);
    let error = tokio::time::timeout(PROMPT, ImapMailbox::connect(&config)).await.unwrap().err().unwrap();
    assert!(matches!(error, MailError::Timeout { operation: "greeting", .. }), "{error:?}");
    assert!(error.is_retryable());
    silent.abort();
}

#[tokio::test]
async fn plain_text_to_a_remote_host_is_refused_before_connecting() {
    let mut config = imap_config(Security::Plain, "INBOX");
    config.host = "mail.example.com".to_owned();
    let error = ImapMailbox::connect(&config).await.err().unwrap();
    let MailError::Config(message) = &error else { panic!("{error:?}") };
    assert!(message.contains("loopback"), "{message}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn nothing_listening_is_a_retryable_connect_error() {
    let mut config = imap_config(Security::Tls, "INBOX");
    // A loopback port nothing listens on: the test servers use 10000 and up.
    config.port = 9;
    let error = ImapMailbox::connect(&config).await.err().unwrap();
    assert!(matches!(error, MailError::Connect { .. }), "{error:?}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn a_missing_folder_is_a_protocol_error() {
    let error = ImapMailbox::connect(&imap_config(Security::Tls, &tag("missing"))).await.err().unwrap();
    assert!(matches!(error, MailError::Protocol { .. }), "{error:?}");
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn fetch_new_returns_appended_mail_in_uid_order_then_only_later_mail() {
    let folder = TestFolder::create("order").await;
    let tag = tag("order");
    folder.append(&[fixture(&tag, 1), fixture(&tag, 2), fixture(&tag, 3)]).await;

    let mut mailbox = folder.connect().await;
    let first = mailbox.fetch_new(None, 100).await.unwrap();
    assert!(!first.restarted);
    assert_eq!(first.messages.len(), 3);
    let uids: Vec<u32> = first.messages.iter().map(|message| message.uid).collect();
    assert!(uids.windows(2).all(|pair| pair[0] < pair[1]), "{uids:?}");
    for (index, message) in first.messages.iter().enumerate() {
        assert!(is_fixture(&message.raw, &tag, index + 1), "message {index} out of order");
    }
    assert_eq!(first.cursor, Cursor { uid_validity: mailbox.uid_validity(), last_uid: uids[2] });

    // Nothing new: nothing returned, the cursor stays.
    let again = mailbox.fetch_new(Some(first.cursor), 100).await.unwrap();
    assert!(again.messages.is_empty(), "{:?}", again.messages);
    assert_eq!(again.cursor, first.cursor);

    // Later mail, appended by another client while this one is connected.
    folder.append(&[fixture(&tag, 4), fixture(&tag, 5)]).await;
    let later = mailbox.fetch_new(Some(again.cursor), 100).await.unwrap();
    assert_eq!(later.messages.len(), 2);
    assert!(is_fixture(&later.messages[0].raw, &tag, 4));
    assert!(is_fixture(&later.messages[1].raw, &tag, 5));
    assert!(later.messages[0].uid > uids[2]);

    // A new connection with the stored cursor picks up where the last one stopped.
    mailbox.logout().await;
    let mut reconnected = folder.connect().await;
    assert!(reconnected.fetch_new(Some(later.cursor), 100).await.unwrap().messages.is_empty());
    // And the messages stay unread (BODY.PEEK): a fresh read from the start sees all five.
    assert_eq!(reconnected.fetch_new(None, 100).await.unwrap().messages.len(), 5);
    reconnected.logout().await;
    folder.remove().await;
}

#[tokio::test]
async fn fetch_new_respects_max() {
    let folder = TestFolder::create("max").await;
    let tag = tag("max");
    folder.append(&(1..=5).map(|n| fixture(&tag, n)).collect::<Vec<_>>()).await;

    let mut mailbox = folder.connect().await;
    let mut cursor = None;
    let mut seen = Vec::new();
    for expected in [2, 2, 1, 0] {
        let batch = mailbox.fetch_new(cursor, 2).await.unwrap();
        assert_eq!(batch.messages.len(), expected, "after {} messages", seen.len());
        seen.extend(batch.messages.iter().map(|message| message.raw.clone()));
        cursor = Some(batch.cursor);
    }
    for (index, raw) in seen.iter().enumerate() {
        assert!(is_fixture(raw, &tag, index + 1), "message {index}");
    }
    // max 0 fetches nothing and keeps the cursor.
    let none = mailbox.fetch_new(cursor, 0).await.unwrap();
    assert!(none.messages.is_empty());
    assert_eq!(Some(none.cursor), cursor);
    mailbox.logout().await;
    folder.remove().await;
}

#[tokio::test]
async fn cursor_at_connect_skips_the_mail_already_there() {
    let folder = TestFolder::create("skip").await;
    let tag = tag("skip");
    folder.append(&[fixture(&tag, 1), fixture(&tag, 2)]).await;
    let mut mailbox = folder.connect().await;
    let start = mailbox.cursor_at_connect();
    folder.append(&[fixture(&tag, 3)]).await;
    let batch = mailbox.fetch_new(Some(start), 100).await.unwrap();
    assert_eq!(batch.messages.len(), 1);
    assert!(is_fixture(&batch.messages[0].raw, &tag, 3));
    mailbox.logout().await;
    folder.remove().await;
}

#[tokio::test]
async fn a_changed_uidvalidity_starts_over() {
    let folder = TestFolder::create("validity").await;
    let tag = tag("validity");
    folder.append(&[fixture(&tag, 1), fixture(&tag, 2)]).await;

    let mut mailbox = folder.connect().await;
    let read = mailbox.fetch_new(None, 100).await.unwrap();
    assert_eq!(read.messages.len(), 2);

    // A cursor from another UIDVALIDITY: the UIDs it holds mean nothing now.
    let foreign = Cursor { uid_validity: read.cursor.uid_validity.wrapping_add(1), last_uid: read.cursor.last_uid };
    let batch = mailbox.fetch_new(Some(foreign), 100).await.unwrap();
    assert!(batch.restarted);
    assert_eq!(batch.messages.len(), 2);
    assert_eq!(batch.cursor, read.cursor);
    mailbox.logout().await;

    // The folder deleted and made again under the same name: new UIDVALIDITY, UIDs from 1.
    let mut other = common::connect(&imap_config(Security::Tls, "INBOX")).await;
    other.delete_folder(&folder.name).await.unwrap();
    other.create_folder(&folder.name).await.unwrap();
    other.logout().await;
    folder.append(&[fixture(&tag, 3)]).await;

    let mut recreated = folder.connect().await;
    assert_ne!(recreated.uid_validity(), read.cursor.uid_validity);
    let batch = recreated.fetch_new(Some(read.cursor), 100).await.unwrap();
    assert!(batch.restarted);
    assert_eq!(batch.messages.len(), 1, "UID 1 of the new folder is below the old cursor, and still new");
    assert!(is_fixture(&batch.messages[0].raw, &tag, 3));
    assert_eq!(batch.cursor.uid_validity, recreated.uid_validity());
    // From the new cursor on, nothing is restarted.
    let next = recreated.fetch_new(Some(batch.cursor), 100).await.unwrap();
    assert!(!next.restarted && next.messages.is_empty());
    recreated.logout().await;
    folder.remove().await;
}

/// Waits with `mailbox` while another connection appends a message; the wait must end with
/// NewMail long before its own limit.
async fn wakes_when_another_client_appends(mut mailbox: ImapMailbox, folder: &TestFolder, tag: &str) {
    let cursor = mailbox.fetch_new(None, 100).await.unwrap().cursor;
    let started = Instant::now();
    let appender = async {
        // Give the waiter a moment to be in IDLE; the test passes either way (mail that came
        // before the wait wakes it too), it only covers the in-IDLE case better.
        tokio::time::sleep(Duration::from_millis(300)).await;
        folder.append(&[fixture(tag, 1)]).await;
    };
    let (waited, ()) =
        tokio::time::timeout(PROMPT, async { tokio::join!(mailbox.wait_for_new(Duration::from_secs(600)), appender) })
            .await
            .expect("wait_for_new did not return after an APPEND by another client");
    assert_eq!(waited.unwrap(), Waited::NewMail);
    assert!(started.elapsed() < PROMPT);
    let batch = mailbox.fetch_new(Some(cursor), 100).await.unwrap();
    assert_eq!(batch.messages.len(), 1);
    assert!(is_fixture(&batch.messages[0].raw, tag, 1));
    mailbox.logout().await;
}

#[tokio::test]
async fn wait_for_new_wakes_on_an_append_during_idle() {
    let folder = TestFolder::create("idle").await;
    let mailbox = folder.connect().await;
    assert!(mailbox.supports_idle());
    wakes_when_another_client_appends(mailbox, &folder, &tag("idle")).await;
    folder.remove().await;
}

#[tokio::test]
async fn wait_for_new_polls_with_noop_when_idle_is_off() {
    let folder = TestFolder::create("poll").await;
    let mut config = folder.config();
    config.idle = false;
    config.poll_interval = Duration::from_millis(200);
    let mailbox = common::connect(&config).await;
    wakes_when_another_client_appends(mailbox, &folder, &tag("poll")).await;
    folder.remove().await;
}

#[tokio::test]
async fn mail_that_came_before_the_wait_wakes_it_at_once() {
    let folder = TestFolder::create("before").await;
    let tag = tag("before");
    let mut mailbox = folder.connect().await;
    let cursor = mailbox.fetch_new(None, 100).await.unwrap().cursor;
    folder.append(&[fixture(&tag, 1)]).await;
    let waited = tokio::time::timeout(PROMPT, mailbox.wait_for_new(Duration::from_secs(600))).await.unwrap();
    assert_eq!(waited.unwrap(), Waited::NewMail);
    assert_eq!(mailbox.fetch_new(Some(cursor), 100).await.unwrap().messages.len(), 1);
    mailbox.logout().await;
    folder.remove().await;
}

#[tokio::test]
async fn wait_for_new_times_out_without_mail_and_the_session_goes_on() {
    let folder = TestFolder::create("quiet").await;
    let tag = tag("quiet");
    let mut mailbox = folder.connect().await;
    let started = Instant::now();
    let waited = tokio::time::timeout(PROMPT, mailbox.wait_for_new(Duration::from_millis(500))).await.unwrap();
    assert_eq!(waited.unwrap(), Waited::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(500));
    // IDLE ended cleanly: the session still works.
    folder.append(&[fixture(&tag, 1)]).await;
    assert_eq!(mailbox.fetch_new(None, 100).await.unwrap().messages.len(), 1);
    mailbox.logout().await;
    folder.remove().await;
}

#[tokio::test]
async fn append_to_a_missing_folder_fails_and_closes_the_session() {
    let mut mailbox = common::connect(&imap_config(Security::Tls, "INBOX")).await;
    let error = mailbox.append(&tag("nowhere"), &fixture("nowhere", 1)).await.err().unwrap();
    assert!(matches!(error, MailError::Protocol { .. }), "{error:?}");
    // The exchange may be out of step after a refused APPEND: the session is given up.
    let after = mailbox.fetch_new(None, 1).await.err().unwrap();
    assert!(matches!(after, MailError::Closed), "{after:?}");
    assert!(after.is_retryable());
}
