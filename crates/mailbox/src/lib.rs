//! Tend's side of a real mailbox: reading new mail over IMAP and sending replies over SMTP.
//!
//! - [`ImapMailbox`]: connect (implicit TLS, STARTTLS, or plain on loopback only), `LOGIN`,
//!   `SELECT` a folder, then [`fetch_new`](ImapMailbox::fetch_new) by UID from a [`Cursor`] the
//!   caller persists, and [`wait_for_new`](ImapMailbox::wait_for_new) with `IDLE` (RFC 2177) or
//!   `NOOP` polling in between. Messages come back raw: parsing MIME is `tend-channels`' job.
//! - [`SmtpSender`] / [`send`]: one text/plain UTF-8 reply with the threading headers the caller
//!   chose (`Message-ID`, `In-Reply-To`, `References`).
//! - [`MailError`]: one error for both, with [`MailError::is_retryable`] telling a poller or an
//!   outbox whether to try again later. No error carries a password.
//!
//! TLS is rustls with the ring provider. Trusted roots are Mozilla's (`webpki-roots`), plus the
//! PEM file named by `ca_file` when set (a private CA, or the test servers' one).
//!
//! **Logging**: async-imap logs each command it sends at `trace` level through the `log` crate
//! (target `async_imap::imap_stream`), `LOGIN` and its password included. Never enable `trace`
//! for that target (`async_imap=off` in a filter that turns on `trace` elsewhere).
//!
//! The tests run against real servers: dovecot and postfix as `scripts/services.sh` sets them
//! up (ports, user, CA and delivery rules are in its header).

mod error;
mod imap;
mod smtp;
pub mod testing;
mod tls;

pub use error::MailError;
pub use imap::{Cursor, FetchBatch, Fetched, ImapConfig, ImapMailbox, Waited};
pub use smtp::{OutgoingEmail, SmtpConfig, SmtpSender, send};
pub use tls::Security;
