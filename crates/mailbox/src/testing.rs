//! The test servers of scripts/services.sh (dovecot and postfix on 127.0.0.1), read from the
//! same variables with the same defaults. A server that is not there fails the test: run
//! `bash scripts/services.sh` (as root once) first. Other crates' tests use it too (Tend's
//! mailbox poller and email replies), so it is public.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use crate::{ImapConfig, ImapMailbox, Security, SmtpConfig};

/// Every address in this domain lands in the test user's mailbox; `user+folder@` in `folder`.
pub const DOMAIN: &str = "tend.test";

fn var(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|value| !value.is_empty()).unwrap_or_else(|| default.to_owned())
}

fn port(name: &str, default: u16) -> u16 {
    let value = var(name, &default.to_string());
    value.parse().unwrap_or_else(|_| panic!("{name}={value:?} is not a port"))
}

/// The test servers' host.
pub fn host() -> String {
    var("TEND_TEST_MAIL_HOST", "127.0.0.1")
}

/// The test user.
pub fn user() -> String {
    var("TEND_TEST_MAIL_USER", "tend")
}

/// The test user's password.
pub fn password() -> String {
    var("TEND_TEST_MAIL_PASSWORD", "tend-test")
}

/// The CA that signed the test servers' certificate.
pub fn ca_file() -> PathBuf {
    let dir = var("TEND_TEST_MAIL_DIR", "/var/lib/tend-test-mail");
    PathBuf::from(var("TEND_TEST_MAIL_CA", &format!("{dir}/ca.pem")))
}

/// IMAP to the test server: IMAPS for [`Security::Tls`], the other port for STARTTLS and plain.
pub fn imap_config(security: Security, folder: &str) -> ImapConfig {
    let mut config = ImapConfig::new(host(), user(), password());
    config.port = match security {
        Security::Tls => port("TEND_TEST_IMAPS_PORT", 10993),
        Security::StartTls | Security::Plain => port("TEND_TEST_IMAP_PORT", 10143),
    };
    config.security = security;
    config.ca_file = Some(ca_file());
    config.folder = folder.to_owned();
    config.timeout = Duration::from_secs(20);
    config
}

/// SMTP to the test server: SMTPS for [`Security::Tls`], the other port for STARTTLS and plain.
pub fn smtp_config(security: Security) -> SmtpConfig {
    let mut config = SmtpConfig::new(host());
    config.port = match security {
        Security::Tls => port("TEND_TEST_SMTPS_PORT", 10465),
        Security::StartTls | Security::Plain => port("TEND_TEST_SMTP_PORT", 10025),
    };
    config.security = security;
    config.ca_file = Some(ca_file());
    config.timeout = Duration::from_secs(20);
    config
}

/// Connects, saying what to do when the server is not there.
pub async fn connect(config: &ImapConfig) -> ImapMailbox {
    match ImapMailbox::connect(config).await {
        Ok(mailbox) => mailbox,
        Err(error) => panic!(
            "IMAP test server {}:{} ({:?}): {error}. Is it up? Run: bash scripts/services.sh",
            config.host, config.port, config.security
        ),
    }
}

/// A folder of the test user's mailbox that only one test uses: each test makes its own, so
/// tests run in parallel and again and again. [`TestFolder::remove`] at the end.
pub struct TestFolder {
    /// The folder's name.
    pub name: String,
}

impl TestFolder {
    /// Creates a folder named for `purpose` and unique.
    pub async fn create(purpose: &str) -> TestFolder {
        // Letters, digits and '-' only: '.' separates folders in dovecot's Maildir++ layout.
        let name = format!("test-{purpose}-{}", uuid::Uuid::new_v4().simple());
        let mut inbox = connect(&imap_config(Security::Tls, "INBOX")).await;
        inbox.create_folder(&name).await.unwrap();
        inbox.logout().await;
        TestFolder { name }
    }

    /// IMAP over TLS to this folder.
    pub fn config(&self) -> ImapConfig {
        imap_config(Security::Tls, &self.name)
    }

    /// A connection to this folder.
    pub async fn connect(&self) -> ImapMailbox {
        connect(&self.config()).await
    }

    /// Appends the messages over a connection of its own (another client than the reader).
    pub async fn append(&self, messages: &[Vec<u8>]) {
        let mut other = connect(&imap_config(Security::Tls, "INBOX")).await;
        for raw in messages {
            other.append(&self.name, raw).await.unwrap();
        }
        other.logout().await;
    }

    /// The address whose mail the test SMTP server delivers into this folder.
    pub fn address(&self) -> String {
        format!("{}+{}@{DOMAIN}", user(), self.name)
    }

    /// Deletes the folder.
    pub async fn remove(self) {
        let mut inbox = connect(&imap_config(Security::Tls, "INBOX")).await;
        inbox.delete_folder(&self.name).await.unwrap();
        inbox.logout().await;
    }
}

/// A small RFC 5322 message whose Message-ID is `<{tag}-{n}@tests.tend.test>`.
pub fn fixture(tag: &str, n: usize) -> Vec<u8> {
    format!(
        "From: Customer <customer@example.org>\r\n\
         To: support@{DOMAIN}\r\n\
         Subject: fixture {n}\r\n\
         Date: Wed, 02 Dec 2026 10:00:00 +0000\r\n\
         Message-ID: <{tag}-{n}@tests.tend.test>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Message number {n} of {tag}.\r\n"
    )
    .into_bytes()
}

/// The Message-ID a fixture carries.
pub fn fixture_id(tag: &str, n: usize) -> String {
    format!("<{tag}-{n}@tests.tend.test>")
}

/// Whether `raw` is the fixture `n` of `tag`.
pub fn is_fixture(raw: &[u8], tag: &str, n: usize) -> bool {
    let needle = format!("Message-ID: {}", fixture_id(tag, n));
    String::from_utf8_lossy(raw).contains(&needle)
}

/// A tag unique to one test run.
pub fn tag(purpose: &str) -> String {
    format!("{purpose}-{}", uuid::Uuid::new_v4().simple())
}
