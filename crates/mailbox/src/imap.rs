//! Reading a mailbox over IMAP: connect, fetch what is new by UID, wait for more.
//!
//! The caller owns the [`Cursor`] (UIDVALIDITY and the last UID it has taken) and stores it with
//! whatever it made of the messages, so a restart neither loses nor repeats mail: fetch, store the
//! messages and the cursor, then wait.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use async_imap::error::Error as ImapError;
use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{MailboxDatum, Response, Status};
use async_imap::types::UnsolicitedResponse;
use async_imap::{Client, Session};
use futures::StreamExt as _;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use crate::MailError;
use crate::tls::{self, MailStream, Security};

/// How long one `IDLE` command lasts at most before it is ended and issued again: RFC 2177 asks
/// clients to re-issue it at least every 29 minutes, as servers may log idle clients off after 30.
const IDLE_CYCLE: Duration = Duration::from_secs(25 * 60);

/// Where a mailbox is and how to log in.
#[derive(Clone)]
pub struct ImapConfig {
    /// Server host name or IP address; also the name its certificate must carry.
    pub host: String,
    /// Server port: 993 for [`Security::Tls`], 143 for [`Security::StartTls`].
    pub port: u16,
    /// Implicit TLS, STARTTLS, or plain text (loopback only).
    pub security: Security,
    /// A PEM file of CA certificates to trust besides Mozilla's roots (a private CA).
    pub ca_file: Option<PathBuf>,
    /// Login name.
    pub username: String,
    /// Password; never logged, never in an error.
    pub password: String,
    /// The folder to read; `INBOX` by default.
    pub folder: String,
    /// How long the server may stay silent in any one step (connect, TLS handshake, each
    /// command) before the step fails with [`MailError::Timeout`]. Not the wait for new mail.
    pub timeout: Duration,
    /// Use `IDLE` when the server offers it; `false` polls with `NOOP` instead.
    pub idle: bool,
    /// Without `IDLE`: how often [`ImapMailbox::wait_for_new`] asks the server with `NOOP`.
    pub poll_interval: Duration,
}

impl ImapConfig {
    /// A configuration for `host` on port 993 with implicit TLS, Mozilla's roots, folder
    /// `INBOX`, a 30 s step timeout, `IDLE` when offered and a 60 s poll otherwise.
    pub fn new(host: impl Into<String>, username: impl Into<String>, password: impl Into<String>) -> ImapConfig {
        ImapConfig {
            host: host.into(),
            port: 993,
            security: Security::Tls,
            ca_file: None,
            username: username.into(),
            password: password.into(),
            folder: "INBOX".to_owned(),
            timeout: Duration::from_secs(30),
            idle: true,
            poll_interval: Duration::from_secs(60),
        }
    }
}

impl fmt::Debug for ImapConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("ca_file", &self.ca_file)
            .field("username", &self.username)
            .field("password", &"***")
            .field("folder", &self.folder)
            .field("timeout", &self.timeout)
            .field("idle", &self.idle)
            .field("poll_interval", &self.poll_interval)
            .finish()
    }
}

/// One message as the server stores it: its UID and the raw RFC 5322 bytes (fetched with
/// `BODY.PEEK[]`, so it stays unread for people using the same mailbox).
#[derive(Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The message's UID in the folder (valid while the folder's UIDVALIDITY is the same).
    pub uid: u32,
    /// The whole message, headers and body.
    pub raw: Vec<u8>,
}

impl fmt::Debug for Fetched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fetched").field("uid", &self.uid).field("raw_len", &self.raw.len()).finish()
    }
}

/// How far a reader has got in a folder: what the caller persists between fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    /// The folder's UIDVALIDITY when `last_uid` was taken. When the server reports another one,
    /// the UIDs were reassigned and reading starts over.
    pub uid_validity: u32,
    /// The highest UID already taken; the next fetch returns only greater ones.
    pub last_uid: u32,
}

/// What [`ImapMailbox::fetch_new`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchBatch {
    /// New messages in UID order, at most the `max` asked for.
    pub messages: Vec<Fetched>,
    /// The cursor to store once the messages are safely handled, and to pass to the next fetch.
    pub cursor: Cursor,
    /// The folder's UIDVALIDITY differs from the given cursor's: its UIDs were reassigned (the
    /// folder was recreated or rebuilt), so this batch starts over from the first message and may
    /// repeat mail taken before. The caller should deduplicate by Message-ID.
    pub restarted: bool,
}

/// What [`ImapMailbox::wait_for_new`] ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waited {
    /// The server reported a change in the number of messages (`EXISTS`/`RECENT`): fetch.
    /// Occasionally a false alarm; [`ImapMailbox::fetch_new`] then returns nothing.
    NewMail,
    /// The time given ran out with no news.
    TimedOut,
}

/// A logged-in IMAP session with one folder selected.
///
/// A network failure or timeout in the middle of a command leaves the session unusable: every
/// later call then returns [`MailError::Closed`] (retryable), and the caller connects again. A
/// server's NO to a command (`CREATE` of a folder that exists, say) leaves it usable; a refused
/// [`append`](ImapMailbox::append) does not.
#[derive(Debug)]
pub struct ImapMailbox {
    session: Option<Session<MailStream>>,
    server: String,
    folder: String,
    uid_validity: u32,
    uid_next: u32,
    supports_idle: bool,
    use_idle: bool,
    step_timeout: Duration,
    poll_interval: Duration,
}

impl ImapMailbox {
    /// Connects (TLS as configured), logs in with `LOGIN` and selects the configured folder.
    ///
    /// Fails with [`MailError::Config`] for plain text to a host that is not loopback,
    /// [`MailError::Tls`] for an untrusted certificate or a server without STARTTLS,
    /// [`MailError::Auth`] for refused credentials and [`MailError::Protocol`] for a folder that
    /// does not exist.
    pub async fn connect(config: &ImapConfig) -> Result<ImapMailbox, MailError> {
        tls::check_plain_allowed(config.security, &config.host)?;
        let server = format!("{}:{}", config.host, config.port);
        let step = config.timeout;
        let tcp = connect_tcp(&config.host, config.port, step, &server).await?;

        let stream = match config.security {
            Security::Plain => MailStream::Plain(tcp),
            Security::Tls => {
                let connector = tls::connector(config.ca_file.as_deref())?;
                let name = tls::server_name(&config.host)?;
                within(&server, step, "TLS handshake", MailStream::start_tls(tcp, &connector, name, &server)).await?
            }
            Security::StartTls => {
                // Check the configuration before a word is said.
                let connector = tls::connector(config.ca_file.as_deref())?;
                let name = tls::server_name(&config.host)?;
                let mut client = Client::new(MailStream::Plain(tcp));
                read_greeting(&mut client, &server, step).await?;
                let answer = within(&server, step, "STARTTLS", async {
                    Ok(client.run_command_and_check_ok("STARTTLS", None).await)
                })
                .await?;
                if let Err(error) = answer {
                    return Err(match error {
                        ImapError::No(message) | ImapError::Bad(message) => {
                            MailError::Tls { server, message: format!("the server refused STARTTLS: {message}") }
                        }
                        other => imap_error(&server, "STARTTLS", other),
                    });
                }
                // Whatever the server may have sent after its OK is dropped with the client's
                // buffer: only what comes over TLS counts (no STARTTLS command injection).
                let MailStream::Plain(tcp) = client.into_inner() else {
                    return Err(MailError::Protocol { server, message: "STARTTLS on a TLS stream".to_owned() });
                };
                within(&server, step, "TLS handshake", MailStream::start_tls(tcp, &connector, name, &server)).await?
            }
        };

        let mut client = Client::new(stream);
        if config.security != Security::StartTls {
            read_greeting(&mut client, &server, step).await?;
        }
        let login =
            within(&server, step, "LOGIN", async { Ok(client.login(&config.username, &config.password).await) })
                .await?;
        let mut session = match login {
            Ok(session) => session,
            Err((error, _client)) => return Err(login_error(&server, &config.username, error)),
        };

        let capabilities = within(&server, step, "CAPABILITY", async {
            session.capabilities().await.map_err(|error| imap_error(&server, "CAPABILITY", error))
        })
        .await?;
        let supports_idle = capabilities.has_str("IDLE");

        let folder = config.folder.clone();
        let mailbox = within(&server, step, "SELECT", async {
            session.select(&folder).await.map_err(|error| imap_error(&server, "SELECT", error))
        })
        .await?;
        let Some(uid_validity) = mailbox.uid_validity else {
            return Err(MailError::Protocol {
                server,
                message: format!("SELECT {folder:?}: the server sent no UIDVALIDITY"),
            });
        };
        let uid_next = match mailbox.uid_next {
            Some(uid_next) => uid_next,
            None => {
                let uids = within(&server, step, "UID SEARCH", async {
                    session.uid_search("ALL").await.map_err(|error| imap_error(&server, "UID SEARCH", error))
                })
                .await?;
                uids.into_iter().max().unwrap_or(0).saturating_add(1)
            }
        };
        tracing::debug!(%server, %folder, uid_validity, uid_next, supports_idle, "imap mailbox selected");

        Ok(ImapMailbox {
            session: Some(session),
            server,
            folder,
            uid_validity,
            uid_next,
            supports_idle,
            use_idle: config.idle,
            step_timeout: step,
            poll_interval: config.poll_interval,
        })
    }

    /// The selected folder.
    pub fn folder(&self) -> &str {
        &self.folder
    }

    /// The selected folder's UIDVALIDITY.
    pub fn uid_validity(&self) -> u32 {
        self.uid_validity
    }

    /// A cursor past every message that was in the folder at connect time: fetching from it
    /// returns only mail that arrived since. For a mailbox's first connection when old mail is
    /// not wanted.
    pub fn cursor_at_connect(&self) -> Cursor {
        Cursor { uid_validity: self.uid_validity, last_uid: self.uid_next.saturating_sub(1) }
    }

    /// Whether the server offers `IDLE` (RFC 2177), so that [`wait_for_new`](Self::wait_for_new)
    /// hears of new mail at once instead of polling.
    pub fn supports_idle(&self) -> bool {
        self.supports_idle
    }

    /// The messages after `cursor`, at most `max`, in UID order, and the cursor after them
    /// (`NOOP`, `UID SEARCH UID n:*`, then `UID FETCH … BODY.PEEK[]`, which leaves them unread).
    /// All of them are held in memory: `max` bounds that.
    ///
    /// With no cursor, reading starts at the folder's first message. With a cursor of another
    /// UIDVALIDITY too, and the batch says [`restarted`](FetchBatch::restarted) (also logged).
    pub async fn fetch_new(&mut self, cursor: Option<Cursor>, max: usize) -> Result<FetchBatch, MailError> {
        let (after, restarted) = match cursor {
            None => (0, false),
            Some(cursor) if cursor.uid_validity == self.uid_validity => (cursor.last_uid, false),
            Some(cursor) => {
                tracing::warn!(
                    server = %self.server,
                    folder = %self.folder,
                    stored = cursor.uid_validity,
                    current = self.uid_validity,
                    "imap uidvalidity changed: reading the folder again from its first message"
                );
                (0, true)
            }
        };
        let mut batch = FetchBatch {
            messages: Vec::new(),
            cursor: Cursor { uid_validity: self.uid_validity, last_uid: after },
            restarted,
        };
        let Some(first) = after.checked_add(1) else {
            return Ok(batch);
        };
        if max == 0 {
            return Ok(batch);
        }

        // The server shows a session mail that arrived since its last command only at a sync
        // point (its EXISTS comes after a command's results): NOOP first, so the search sees it.
        // The news that brings is covered by this fetch: drop it, or the next wait would wake
        // for nothing. News that comes during the search and fetch stays for the next wait.
        self.noop().await?;
        let query = format!("UID {first}:*");
        let result = {
            let session = self.session.as_mut().ok_or(MailError::Closed)?;
            let server = &self.server;
            within(server, self.step_timeout, "UID SEARCH", async {
                session.uid_search(&query).await.map_err(|error| imap_error(server, "UID SEARCH", error))
            })
            .await
        };
        let found = self.keep_or_close(result)?;
        // `n:*` always includes the highest UID, even when it is below n.
        let mut uids: Vec<u32> = found.into_iter().filter(|uid| *uid > after).collect();
        uids.sort_unstable();
        uids.truncate(max);
        let Some(&last) = uids.last() else {
            return Ok(batch);
        };

        let set = uid_set(&uids);
        let result = {
            let session = self.session.as_mut().ok_or(MailError::Closed)?;
            fetch_bodies(session, &self.server, self.step_timeout, &set).await
        };
        let mut bodies = self.keep_or_close(result)?;
        // A UID missing from the answer was expunged meanwhile: it is gone, skip it.
        batch.messages =
            uids.iter().filter_map(|uid| bodies.remove(uid).map(|raw| Fetched { uid: *uid, raw })).collect();
        batch.cursor.last_uid = last;
        Ok(batch)
    }

    /// Waits until the server reports new mail in the folder, or `wait` has passed.
    ///
    /// With `IDLE` the server's word comes at once; the command is re-issued every 25 minutes
    /// (RFC 2177: at least every 29) for long waits. Without it, or with
    /// [`ImapConfig::idle`] off, it asks with `NOOP` every [`ImapConfig::poll_interval`]. News
    /// the server sent during earlier commands counts too, so mail that arrived between a fetch
    /// and this call is not missed.
    pub async fn wait_for_new(&mut self, wait: Duration) -> Result<Waited, MailError> {
        let session = self.session.as_mut().ok_or(MailError::Closed)?;
        if drain_new_mail(session) {
            return Ok(Waited::NewMail);
        }
        if !(self.supports_idle && self.use_idle) {
            return self.poll(wait).await;
        }
        // A server need not report at the start of IDLE what changed since the last command:
        // ask first, so mail that came between a fetch and this call wakes us at once.
        if self.noop().await? {
            return Ok(Waited::NewMail);
        }
        self.idle(wait).await
    }

    /// Appends `raw` (an RFC 5322 message) to `folder`, e.g. a copy of a sent reply to "Sent".
    ///
    /// A refusal (no such folder, over quota) is [`MailError::Protocol`] and closes the session:
    /// async-imap cannot tell whether the exchange is still in step after it.
    pub async fn append(&mut self, folder: &str, raw: &[u8]) -> Result<(), MailError> {
        let result = {
            let session = self.session.as_mut().ok_or(MailError::Closed)?;
            let server = &self.server;
            within(server, self.step_timeout, "APPEND", async {
                session.append(folder, None, None, raw).await.map_err(|error| match error {
                    // The server's answer to the command was not the go-ahead for the literal.
                    ImapError::Append => MailError::Protocol {
                        server: server.clone(),
                        message: format!("APPEND to {folder:?} refused (does the folder exist?)"),
                    },
                    other => imap_error(server, "APPEND", other),
                })
            })
            .await
        };
        // After a refused APPEND the exchange may be out of step: do not trust the session.
        if let Err(MailError::Protocol { .. }) = &result {
            self.session = None;
        }
        self.keep_or_close(result)
    }

    /// Creates `folder` (`CREATE`).
    pub async fn create_folder(&mut self, folder: &str) -> Result<(), MailError> {
        let result = {
            let session = self.session.as_mut().ok_or(MailError::Closed)?;
            let server = &self.server;
            within(server, self.step_timeout, "CREATE", async {
                session.create(folder).await.map_err(|error| imap_error(server, "CREATE", error))
            })
            .await
        };
        self.keep_or_close(result)
    }

    /// Deletes `folder` and the messages in it (`DELETE`).
    pub async fn delete_folder(&mut self, folder: &str) -> Result<(), MailError> {
        let result = {
            let session = self.session.as_mut().ok_or(MailError::Closed)?;
            let server = &self.server;
            within(server, self.step_timeout, "DELETE", async {
                session.delete(folder).await.map_err(|error| imap_error(server, "DELETE", error))
            })
            .await
        };
        self.keep_or_close(result)
    }

    /// Logs out and closes the connection. Errors are ignored: the connection goes either way.
    pub async fn logout(mut self) {
        if let Some(mut session) = self.session.take() {
            let _ = timeout(self.step_timeout, session.logout()).await;
        }
    }

    /// `IDLE` until the server reports new mail or `wait` has passed.
    async fn idle(&mut self, wait: Duration) -> Result<Waited, MailError> {
        let deadline = Instant::now() + wait;
        let mut session = self.session.take().ok_or(MailError::Closed)?;
        let server = self.server.clone();
        let step = self.step_timeout;
        loop {
            let unsolicited = session.unsolicited_responses.clone();
            let mut handle = session.idle();
            within(&server, step, "IDLE", async {
                handle.init().await.map_err(|error| imap_error(&server, "IDLE", error))
            })
            .await?;
            let cycle_end = deadline.min(Instant::now() + IDLE_CYCLE);
            let mut outcome = None;
            // Responses that came before the server's go-ahead are in the channel.
            if drain_news(|| unsolicited.try_recv().ok()) {
                outcome = Some(Waited::NewMail);
            }
            while outcome.is_none() {
                let remaining = cycle_end.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    break;
                }
                let (next, stop) = handle.wait_with_timeout(remaining);
                // Keepalives ("* OK Still here") restart async-imap's own timer: bound it here.
                let answer = timeout(remaining, next).await;
                drop(stop);
                match answer {
                    Err(_) | Ok(Ok(IdleResponse::Timeout | IdleResponse::ManualInterrupt)) => break,
                    Ok(Ok(IdleResponse::NewData(data))) => match data.parsed() {
                        Response::MailboxData(MailboxDatum::Exists(_) | MailboxDatum::Recent(_)) => {
                            outcome = Some(Waited::NewMail);
                        }
                        Response::Data { status: Status::Bye, outcome } => {
                            let said = outcome.information.as_deref().unwrap_or("BYE");
                            return Err(MailError::Connection {
                                server,
                                message: format!("the server ended the session: {said}"),
                            });
                        }
                        // Flag changes, expunges: not new mail.
                        _ => {}
                    },
                    Ok(Err(error)) => return Err(imap_error(&server, "IDLE", error)),
                }
            }
            session = within(&server, step, "DONE", async {
                handle.done().await.map_err(|error| imap_error(&server, "DONE", error))
            })
            .await?;
            // News can also come with the answer to DONE.
            if drain_new_mail(&session) {
                outcome = Some(Waited::NewMail);
            }
            match outcome {
                Some(waited) => {
                    self.session = Some(session);
                    return Ok(waited);
                }
                None if Instant::now() >= deadline => {
                    self.session = Some(session);
                    return Ok(Waited::TimedOut);
                }
                None => {}
            }
        }
    }

    /// `NOOP` every poll interval until the server reports new mail or `wait` has passed.
    async fn poll(&mut self, wait: Duration) -> Result<Waited, MailError> {
        let deadline = Instant::now() + wait;
        loop {
            if self.noop().await? {
                return Ok(Waited::NewMail);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Ok(Waited::TimedOut);
            }
            tokio::time::sleep(remaining.min(self.poll_interval)).await;
        }
    }

    /// `NOOP`; true when the server reported new mail (then or before).
    async fn noop(&mut self) -> Result<bool, MailError> {
        let result = {
            let session = self.session.as_mut().ok_or(MailError::Closed)?;
            let server = &self.server;
            within(server, self.step_timeout, "NOOP", async {
                session.noop().await.map_err(|error| imap_error(server, "NOOP", error))?;
                Ok(drain_new_mail(session))
            })
            .await
        };
        self.keep_or_close(result)
    }

    /// Passes `result` on; an error that leaves the exchange in an unknown state (anything but
    /// the server's NO or BAD to a command) closes the session first.
    fn keep_or_close<T>(&mut self, result: Result<T, MailError>) -> Result<T, MailError> {
        if let Err(error) = &result
            && !matches!(error, MailError::Protocol { .. } | MailError::Unavailable { .. })
        {
            self.session = None;
        }
        result
    }
}

/// TCP to `host:port` within `step`.
async fn connect_tcp(host: &str, port: u16, step: Duration, server: &str) -> Result<TcpStream, MailError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match timeout(step, TcpStream::connect((bare, port))).await {
        Err(_elapsed) => Err(MailError::Timeout { server: server.to_owned(), operation: "connect", after: step }),
        Ok(Err(source)) => Err(MailError::Connect { server: server.to_owned(), source }),
        Ok(Ok(tcp)) => {
            // Small commands, answered one by one: don't wait to fill segments.
            let _ = tcp.set_nodelay(true);
            Ok(tcp)
        }
    }
}

/// The server's greeting: `* OK` goes on, `* BYE` means it will not serve now.
async fn read_greeting(client: &mut Client<MailStream>, server: &str, step: Duration) -> Result<(), MailError> {
    let greeting = within(server, step, "greeting", async {
        client.read_response().await.map_err(|error| io_error(server, "greeting", error))
    })
    .await?;
    let Some(greeting) = greeting else {
        return Err(MailError::Connection {
            server: server.to_owned(),
            message: "closed before the greeting".to_owned(),
        });
    };
    match greeting.parsed() {
        Response::Data { status: Status::Ok, .. } => Ok(()),
        Response::Data { status: Status::Bye, outcome } => Err(MailError::Unavailable {
            server: server.to_owned(),
            message: format!("greeting: BYE {}", outcome.information.as_deref().unwrap_or_default()),
        }),
        other => {
            Err(MailError::Protocol { server: server.to_owned(), message: format!("unexpected greeting: {other:?}") })
        }
    }
}

/// `UID FETCH set (UID BODY.PEEK[])`, as UID → raw message. The step timeout applies to each
/// response, so a large batch may take longer than one step as long as the server keeps talking.
async fn fetch_bodies(
    session: &mut Session<MailStream>,
    server: &str,
    step: Duration,
    set: &str,
) -> Result<HashMap<u32, Vec<u8>>, MailError> {
    let responses = within(server, step, "UID FETCH", async {
        session.uid_fetch(set, "(UID BODY.PEEK[])").await.map_err(|error| imap_error(server, "UID FETCH", error))
    })
    .await?;
    let mut responses = std::pin::pin!(responses);
    let mut bodies = HashMap::new();
    loop {
        let next = timeout(step, responses.next()).await.map_err(|_elapsed| MailError::Timeout {
            server: server.to_owned(),
            operation: "UID FETCH",
            after: step,
        })?;
        let Some(fetch) = next else {
            return Ok(bodies);
        };
        let fetch = fetch.map_err(|error| imap_error(server, "UID FETCH", error))?;
        // Unsolicited FETCH responses (flag changes) carry no body: skip them.
        if let (Some(uid), Some(body)) = (fetch.uid, fetch.body()) {
            bodies.insert(uid, body.to_vec());
        }
    }
}

/// Runs `operation` within `step`, or fails with [`MailError::Timeout`].
async fn within<T>(
    server: &str,
    step: Duration,
    operation: &'static str,
    future: impl Future<Output = Result<T, MailError>>,
) -> Result<T, MailError> {
    match timeout(step, future).await {
        Ok(result) => result,
        Err(_elapsed) => Err(MailError::Timeout { server: server.to_owned(), operation, after: step }),
    }
}

/// Takes every news item queued on the session; true when one says the message count changed.
fn drain_new_mail(session: &Session<MailStream>) -> bool {
    drain_news(|| session.unsolicited_responses.try_recv().ok())
}

/// Takes news items from `next` until there are none; true when one says the count changed.
fn drain_news(mut next: impl FnMut() -> Option<UnsolicitedResponse>) -> bool {
    let mut new_mail = false;
    while let Some(news) = next() {
        if matches!(news, UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)) {
            new_mail = true;
        }
    }
    new_mail
}

/// A UID set for a command: consecutive UIDs as ranges (`3:7,9,12:13`). `uids` is sorted.
fn uid_set(uids: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut index = 0;
    while index < uids.len() {
        let start = uids[index];
        let mut end = start;
        while index + 1 < uids.len() && uids[index + 1] == end.wrapping_add(1) {
            index += 1;
            end = uids[index];
        }
        parts.push(if start == end { start.to_string() } else { format!("{start}:{end}") });
        index += 1;
    }
    parts.join(",")
}

/// A failed `LOGIN`: the server's NO is an [`MailError::Auth`] (or [`MailError::Unavailable`]
/// when it says so); the username or password is never echoed.
fn login_error(server: &str, username: &str, error: ImapError) -> MailError {
    match error {
        ImapError::No(message) if is_temporary(&message) => {
            MailError::Unavailable { server: server.to_owned(), message: format!("LOGIN: {message}") }
        }
        ImapError::No(message) | ImapError::Bad(message) => {
            MailError::Auth { server: server.to_owned(), username: username.to_owned(), message }
        }
        // The rejected character could be one of the password's: don't show it.
        ImapError::Validate(_) => MailError::Config(
            "the IMAP username or password contains a line break, which LOGIN cannot carry".to_owned(),
        ),
        other => imap_error(server, "LOGIN", other),
    }
}

/// async-imap's error for `operation`, sorted into ours.
fn imap_error(server: &str, operation: &str, error: ImapError) -> MailError {
    let server = server.to_owned();
    match error {
        ImapError::Io(error) => io_error(&server, operation, error),
        ImapError::ConnectionLost => {
            MailError::Connection { server, message: format!("{operation}: the server closed the connection") }
        }
        ImapError::No(message) if is_temporary(&message) => {
            MailError::Unavailable { server, message: format!("{operation}: {message}") }
        }
        ImapError::No(message) => MailError::Protocol { server, message: format!("{operation}: NO {message}") },
        ImapError::Bad(message) => MailError::Protocol { server, message: format!("{operation}: BAD {message}") },
        other => MailError::Protocol { server, message: format!("{operation}: {other}") },
    }
}

/// An I/O error on an established connection; a TLS alert or failure is [`MailError::Tls`].
fn io_error(server: &str, operation: &str, error: std::io::Error) -> MailError {
    match tls::find_rustls_error(&error) {
        Some(tls_error) => MailError::Tls { server: server.to_owned(), message: format!("{operation}: {tls_error}") },
        None => MailError::Connection { server: server.to_owned(), message: format!("{operation}: {error}") },
    }
}

/// A NO that says "not now": RFC 5530's codes `[UNAVAILABLE]`, `[INUSE]`, `[LIMIT]` (imap-proto
/// does not know them, so they stay in the text).
fn is_temporary(message: &str) -> bool {
    let message = message.to_ascii_uppercase();
    ["[UNAVAILABLE]", "[INUSE]", "[LIMIT]"].iter().any(|code| message.contains(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_use_ranges() {
        assert_eq!(uid_set(&[1]), "1");
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(uid_set(&[4, 9, 10, 11, 20]), "4,9:11,20");
        assert_eq!(uid_set(&[u32::MAX - 1, u32::MAX]), format!("{}:{}", u32::MAX - 1, u32::MAX));
    }

    #[test]
    fn temporary_answers() {
        assert!(is_temporary("code: None, info: Some(\"[UNAVAILABLE] Temporary failure\")"));
        assert!(is_temporary("code: None, info: Some(\"[inuse] mailbox locked\")"));
        assert!(!is_temporary("code: None, info: Some(\"[AUTHENTICATIONFAILED] over the limit\")"));
        assert!(!is_temporary("code: None, info: Some(\"Mailbox doesn't exist\")"));
    }

    #[test]
    fn a_config_shows_no_password() {
        let config = ImapConfig::new("mail.example.com", "agent", "s3cret-pass");
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret-pass"), "{shown}");
        assert!(shown.contains("agent"), "{shown}");
    }
}
