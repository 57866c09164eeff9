//! The one error of this crate.

use std::time::Duration;

/// What went wrong talking to a mail server. Messages name the server (`host:port`) and, for a
/// refused login, the username; never a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The configuration cannot work: plain text to a host that is not loopback, an unreadable CA
    /// file, a host name that is no TLS server name. Fix the configuration; retrying won't help.
    #[error("mail configuration: {0}")]
    Config(String),
    /// The TCP connection could not be made (refused, unreachable, DNS). Worth retrying.
    #[error("cannot connect to {server}: {source}")]
    Connect {
        /// `host:port`.
        server: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The server took longer than the configured timeout. Worth retrying.
    #[error("{server}: {operation} timed out after {after:?}")]
    Timeout {
        /// `host:port`.
        server: String,
        /// What was waited for: "connect", "LOGIN", "UID FETCH", …
        operation: &'static str,
        /// The timeout that ran out.
        after: Duration,
    },
    /// The TLS handshake failed: an untrusted or expired certificate, a name mismatch, no common
    /// protocol, or a server that does not offer STARTTLS. Not retried: it needs a fix.
    #[error("TLS with {server} failed: {message}")]
    Tls {
        /// `host:port`.
        server: String,
        /// rustls's reason, or the server's answer to STARTTLS.
        message: String,
    },
    /// The server refused the credentials (IMAP `LOGIN` NO, SMTP 535 and kin). Not retried:
    /// retrying a wrong password can lock the account.
    #[error("{server} refused the login of {username:?}: {message}")]
    Auth {
        /// `host:port`.
        server: String,
        /// The username tried (not the password).
        username: String,
        /// The server's answer.
        message: String,
    },
    /// An established connection broke (reset, closed, BYE). Worth retrying on a new connection.
    #[error("connection to {server} lost: {message}")]
    Connection {
        /// `host:port`.
        server: String,
        /// What broke.
        message: String,
    },
    /// The IMAP server said it cannot serve now (`[UNAVAILABLE]`, `[INUSE]`, `[LIMIT]`). Worth
    /// retrying later.
    #[error("{server} is unavailable: {message}")]
    Unavailable {
        /// `host:port`.
        server: String,
        /// The server's answer.
        message: String,
    },
    /// The server answered something this client cannot go on from: NO or BAD to a command (a
    /// missing folder, say), a response it could not parse. Not retried.
    #[error("{server}: {message}")]
    Protocol {
        /// `host:port`.
        server: String,
        /// The command and the server's answer.
        message: String,
    },
    /// The SMTP server refused the message (at MAIL, RCPT or DATA). A 4xx reply is temporary
    /// (`permanent: false`), a 5xx one permanent.
    #[error("{server} rejected the message ({code}): {message}")]
    Rejected {
        /// `host:port`.
        server: String,
        /// A 5xx reply: do not send this message again as it is.
        permanent: bool,
        /// The SMTP reply code (421, 451, 550, 554, …).
        code: u16,
        /// The server's text.
        message: String,
    },
    /// The outgoing email cannot be sent as given (an address or message id that does not parse).
    #[error("invalid email: {0}")]
    InvalidEmail(String),
    /// The IMAP session was lost by an earlier error on it; connect again.
    #[error("the IMAP session is closed after an earlier error: connect again")]
    Closed,
}

impl MailError {
    /// Whether the same operation may succeed later without a change of configuration:
    /// connection failures, timeouts, broken or closed sessions, an unavailable server and
    /// temporary (4xx) SMTP rejections. Authentication failures, TLS failures, protocol errors
    /// and permanent (5xx) rejections are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            MailError::Connect { .. }
            | MailError::Timeout { .. }
            | MailError::Connection { .. }
            | MailError::Unavailable { .. }
            | MailError::Closed => true,
            MailError::Rejected { permanent, .. } => !permanent,
            MailError::Config(_)
            | MailError::Tls { .. }
            | MailError::Auth { .. }
            | MailError::Protocol { .. }
            | MailError::InvalidEmail(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_follows_the_kind() {
        let server = "mail.example:993".to_owned();
        let temporary =
            MailError::Rejected { server: server.clone(), permanent: false, code: 451, message: String::new() };
        let permanent =
            MailError::Rejected { server: server.clone(), permanent: true, code: 550, message: String::new() };
        let auth = MailError::Auth { server: server.clone(), username: "u".into(), message: String::new() };
        let timeout = MailError::Timeout { server, operation: "LOGIN", after: Duration::from_secs(1) };
        assert!(temporary.is_retryable());
        assert!(!permanent.is_retryable());
        assert!(!auth.is_retryable());
        assert!(timeout.is_retryable());
        assert!(MailError::Closed.is_retryable());
        assert!(!MailError::Config("x".into()).is_retryable());
    }
}
