//! Sending a reply over SMTP with lettre: text/plain UTF-8, the threading headers the caller
//! chose, TLS as configured.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, Message, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::MailError;
use crate::tls::{self, Security};

/// Where to send mail and how to log in.
#[derive(Clone)]
pub struct SmtpConfig {
    /// Server host name or IP address; also the name its certificate must carry.
    pub host: String,
    /// Server port: 465 for [`Security::Tls`], 587 for [`Security::StartTls`].
    pub port: u16,
    /// Implicit TLS, STARTTLS, or plain text (loopback only).
    pub security: Security,
    /// A PEM file of CA certificates to trust besides Mozilla's roots (a private CA).
    pub ca_file: Option<PathBuf>,
    /// Login name for `AUTH` (PLAIN or LOGIN); none means no `AUTH`. Set both or neither.
    pub username: Option<String>,
    /// Password for `AUTH`; never logged, never in an error.
    pub password: Option<String>,
    /// How long one send may take in all: connect, TLS, AUTH and the message. (lettre bounds
    /// only the connect by itself; a server that accepts and then says nothing would hold a
    /// send forever.)
    pub timeout: Duration,
    /// The name said in `EHLO`; none says `[127.0.0.1]`. Some servers want the sending host's
    /// real name.
    pub helo_name: Option<String>,
}

impl SmtpConfig {
    /// A configuration for `host` on port 465 with implicit TLS, Mozilla's roots, no `AUTH` and a
    /// 30 s timeout.
    pub fn new(host: impl Into<String>) -> SmtpConfig {
        SmtpConfig {
            host: host.into(),
            port: 465,
            security: Security::Tls,
            ca_file: None,
            username: None,
            password: None,
            timeout: Duration::from_secs(30),
            helo_name: None,
        }
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("ca_file", &self.ca_file)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("timeout", &self.timeout)
            .field("helo_name", &self.helo_name)
            .finish()
    }
}

/// One plain-text reply. The caller chooses every header that matters for threading; the
/// subject ("Re: …") too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// The sender, `agent@example.com` or `Support <agent@example.com>`; also the envelope sender.
    pub from: String,
    /// The recipient, in the same forms; also the envelope recipient.
    pub to: String,
    /// The subject, as it should appear.
    pub subject: String,
    /// The body: text/plain, UTF-8 (encoded for transport as needed).
    pub text: String,
    /// This message's id, `<unique@host>`: chosen by the caller so it can be stored before
    /// sending and recognised when the customer answers.
    pub message_id: String,
    /// The id of the message answered, `<id@host>`.
    pub in_reply_to: Option<String>,
    /// The thread's ids, oldest first, each `<id@host>` (RFC 5322 §3.6.4: the parent's
    /// References followed by the parent's Message-ID).
    pub references: Vec<String>,
}

/// An SMTP client for one server, reusable for many messages (each send opens its own
/// connection: replies are few and far between, and a fresh connection never meets a stale one).
#[derive(Clone)]
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    server: String,
    username: Option<String>,
    timeout: Duration,
}

impl fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSender").field("server", &self.server).field("username", &self.username).finish()
    }
}

impl SmtpSender {
    /// Checks the configuration and prepares the client; connects only when sending.
    pub fn new(config: &SmtpConfig) -> Result<SmtpSender, MailError> {
        tls::check_plain_allowed(config.security, &config.host)?;
        let host = config.host.trim_start_matches('[').trim_end_matches(']');
        let server = format!("{}:{}", config.host, config.port);

        let tls = match config.security {
            Security::Plain => Tls::None,
            Security::Tls => Tls::Wrapper(tls_parameters(host, config)?),
            Security::StartTls => Tls::Required(tls_parameters(host, config)?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout));
        match (&config.username, &config.password) {
            (Some(username), Some(password)) => {
                builder = builder
                    .credentials(Credentials::new(username.clone(), password.clone()))
                    .authentication(vec![Mechanism::Plain, Mechanism::Login]);
            }
            (None, None) => {}
            _ => {
                return Err(MailError::Config(format!(
                    "SMTP {server}: set both username and password for AUTH, or neither"
                )));
            }
        }
        if let Some(name) = &config.helo_name {
            builder = builder.hello_name(ClientId::Domain(name.clone()));
        }
        Ok(SmtpSender {
            transport: builder.build(),
            server,
            username: config.username.clone(),
            timeout: config.timeout,
        })
    }

    /// Sends `email`: connect, EHLO, TLS as configured, AUTH when configured, MAIL, RCPT, DATA.
    ///
    /// A 4xx answer is [`MailError::Rejected`] with `permanent: false` (retryable), a 5xx one
    /// with `permanent: true`; refused credentials are [`MailError::Auth`].
    pub async fn send(&self, email: &OutgoingEmail) -> Result<(), MailError> {
        let message = build_message(email)?;
        // lettre ends DATA with CRLF . CRLF even after a message that ends with CRLF (as every
        // formatted one does), which adds an empty line to the body: send it without its last.
        let mut raw = message.formatted();
        if raw.ends_with(b"\r\n") {
            raw.truncate(raw.len() - 2);
        }
        let sent = tokio::time::timeout(self.timeout, self.transport.send_raw(message.envelope(), &raw)).await;
        let Ok(sent) = sent else {
            return Err(MailError::Timeout {
                server: self.server.clone(),
                operation: "SMTP send",
                after: self.timeout,
            });
        };
        match sent {
            Ok(response) => {
                tracing::debug!(server = %self.server, message_id = %email.message_id, code = %response.code(), "smtp message accepted");
                Ok(())
            }
            Err(error) => Err(self.error(error)),
        }
    }

    /// lettre's error, sorted into ours.
    fn error(&self, error: lettre::transport::smtp::Error) -> MailError {
        let server = self.server.clone();
        if let Some(tls_error) = tls::find_rustls_error(&error) {
            return MailError::Tls { server, message: tls_error.to_string() };
        }
        if error.is_tls() {
            return MailError::Tls { server, message: error_chain(&error) };
        }
        if error.is_timeout() {
            return MailError::Timeout { server, operation: "SMTP", after: self.timeout };
        }
        if let Some(code) = error.status() {
            let code = u16::from(code);
            let message = error_chain(&error);
            // 530 authentication required, 534 mechanism too weak, 535 credentials invalid,
            // 538 encryption required for the mechanism.
            if matches!(code, 530 | 534 | 535 | 538) {
                return MailError::Auth {
                    server,
                    username: self.username.clone().unwrap_or_default(),
                    message: format!("{code} {message}"),
                };
            }
            return MailError::Rejected { server, permanent: error.is_permanent(), code, message };
        }
        let message = error_chain(&error);
        if error.is_client() {
            if message.contains("STARTTLS") {
                return MailError::Tls { server, message: "the server does not offer STARTTLS".to_owned() };
            }
            if message.contains("authentication mechanism") {
                return MailError::Auth {
                    server,
                    username: self.username.clone().unwrap_or_default(),
                    message: "the server offers no AUTH mechanism this client can use (PLAIN, LOGIN) on this \
                              connection; many offer AUTH only after TLS"
                        .to_owned(),
                };
            }
            return MailError::Protocol { server, message };
        }
        if error.is_response() {
            return MailError::Protocol { server, message };
        }
        MailError::Connection { server, message }
    }
}

/// Sends one email with a client made for it; [`SmtpSender`] to send several.
pub async fn send(config: &SmtpConfig, email: &OutgoingEmail) -> Result<(), MailError> {
    SmtpSender::new(config)?.send(email).await
}

/// TLS for lettre: Mozilla's roots plus the configured CA file, ring underneath.
fn tls_parameters(host: &str, config: &SmtpConfig) -> Result<TlsParameters, MailError> {
    let mut builder = TlsParameters::builder(host.to_owned()).certificate_store(CertificateStore::WebpkiRoots);
    if let Some(path) = &config.ca_file {
        for der in tls::read_ca_file(path)? {
            let certificate = Certificate::from_der(der.to_vec())
                .map_err(|error| MailError::Config(format!("CA file {}: {error}", path.display())))?;
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder.build_rustls().map_err(|error| MailError::Config(format!("TLS setup for {host}: {}", error_chain(&error))))
}

/// The message as lettre builds it, after checking the addresses and ids.
fn build_message(email: &OutgoingEmail) -> Result<Message, MailError> {
    let from: Mailbox =
        email.from.parse().map_err(|error| MailError::InvalidEmail(format!("From {:?}: {error}", email.from)))?;
    let to: Mailbox =
        email.to.parse().map_err(|error| MailError::InvalidEmail(format!("To {:?}: {error}", email.to)))?;
    check_message_id("Message-ID", &email.message_id)?;
    let mut builder =
        Message::builder().from(from).to(to).subject(email.subject.clone()).message_id(Some(email.message_id.clone()));
    if let Some(parent) = &email.in_reply_to {
        check_message_id("In-Reply-To", parent)?;
        builder = builder.in_reply_to(parent.clone());
    }
    if !email.references.is_empty() {
        for id in &email.references {
            check_message_id("References", id)?;
        }
        builder = builder.references(email.references.join(" "));
    }
    // lettre ends the part with a line break of its own: drop the text's last one, or every
    // reply would grow an empty line at the end.
    let text = email.text.strip_suffix('\n').map(|text| text.strip_suffix('\r').unwrap_or(text)).unwrap_or(&email.text);
    // text/plain; charset=utf-8, MIME-Version 1.0, 7bit / quoted-printable / base64 as fits.
    builder.singlepart(SinglePart::plain(text.to_owned())).map_err(|error| MailError::InvalidEmail(error.to_string()))
}

/// `<left@right>`: printable ASCII, no spaces, one `@` inside angle brackets (RFC 5322 msg-id).
fn check_message_id(header: &str, id: &str) -> Result<(), MailError> {
    let inner = id.strip_prefix('<').and_then(|rest| rest.strip_suffix('>'));
    let valid = inner.is_some_and(|inner| {
        let mut halves = inner.splitn(2, '@');
        let left = halves.next().unwrap_or_default();
        let right = halves.next().unwrap_or_default();
        !left.is_empty()
            && !right.is_empty()
            && !right.contains('@')
            && inner.bytes().all(|byte| byte.is_ascii_graphic() && !matches!(byte, b'<' | b'>'))
    });
    if valid {
        Ok(())
    } else {
        Err(MailError::InvalidEmail(format!("{header} {id:?} is not a message id of the form <left@right>")))
    }
}

/// An error and its sources, `a: b: c`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply() -> OutgoingEmail {
        OutgoingEmail {
            from: "Support <support@example.com>".to_owned(),
            to: "customer@example.org".to_owned(),
            subject: "Re: my order".to_owned(),
            text: "Grüße — it ships today.\n".to_owned(),
            message_id: "<reply-1@tend.example>".to_owned(),
            in_reply_to: Some("<question@example.org>".to_owned()),
            references: vec!["<first@example.org>".to_owned(), "<question@example.org>".to_owned()],
        }
    }

    #[test]
    fn message_ids_are_checked() {
        for good in ["<a@b>", "<reply-1.x@tend.example>", "<\"q\"@[127.0.0.1]>"] {
            assert!(check_message_id("Message-ID", good).is_ok(), "{good}");
        }
        for bad in ["", "a@b", "<a@b", "<@b>", "<a@>", "<a b@c>", "<a@b@c>", "<a@b>\r\nBcc: x@y", "<ä@b>"] {
            assert!(matches!(check_message_id("Message-ID", bad), Err(MailError::InvalidEmail(_))), "{bad:?}");
        }
    }

    #[test]
    fn the_message_carries_the_threading_headers() {
        let message = build_message(&reply()).unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(raw.contains("Message-ID: <reply-1@tend.example>\r\n"), "{raw}");
        assert!(raw.contains("In-Reply-To: <question@example.org>\r\n"), "{raw}");
        assert!(raw.contains("References: <first@example.org> <question@example.org>\r\n"), "{raw}");
        assert!(raw.contains("Content-Type: text/plain; charset=utf-8\r\n"), "{raw}");
        assert!(raw.contains("MIME-Version: 1.0\r\n"), "{raw}");
        assert!(raw.ends_with("today.\r\n"), "{raw}");
        assert_eq!(message.envelope().to().len(), 1);
    }

    #[test]
    fn bad_addresses_are_invalid_emails() {
        let mut email = reply();
        email.to = "not an address".to_owned();
        assert!(matches!(build_message(&email), Err(MailError::InvalidEmail(_))));
        let mut email = reply();
        email.references.push("bare@id".to_owned());
        assert!(matches!(build_message(&email), Err(MailError::InvalidEmail(_))));
    }

    #[test]
    fn plain_text_only_to_loopback_and_no_half_credentials() {
        let mut config = SmtpConfig::new("smtp.example.com");
        config.security = Security::Plain;
        assert!(matches!(SmtpSender::new(&config), Err(MailError::Config(_))));
        let mut config = SmtpConfig::new("smtp.example.com");
        config.username = Some("agent".to_owned());
        assert!(matches!(SmtpSender::new(&config), Err(MailError::Config(_))));
    }

    #[test]
    fn a_config_shows_no_password() {
        let mut config = SmtpConfig::new("smtp.example.com");
        config.username = Some("agent".to_owned());
        config.password = Some("s3cret-pass".to_owned());
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret-pass"), "{shown}");
    }
}
