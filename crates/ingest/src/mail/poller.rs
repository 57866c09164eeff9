//! The mailbox poller: one task per enabled email account whose app has an `imap_host`. Each
//! connects (TLS), takes what arrived after its cursor, stores it as ingest stores every post
//! (a message already stored is a duplicate: the Message-ID is the key), saves the cursor, and
//! waits with IDLE (or polls) for more. A failure reconnects with back-off; a change to the
//! account or its app restarts its task within a registry refresh.
//!
//! A new account starts from the mail that arrives after it is connected, unless its
//! `import_existing` setting says `true`. Several ingest replicas each poll every mailbox: the
//! Message-ID makes the second copy a duplicate.

use std::collections::HashMap;
use std::sync::Arc;

use tend_kernel::TenantId;
use tend_mailbox::{Cursor, ImapConfig, ImapMailbox, MailError};
use tend_proto::v1;
use tokio_util::sync::CancellationToken;

use super::cursors;
use crate::config::ChannelsConfig;
use crate::metrics::metrics;
use crate::posts::Posts;
use crate::registry::Account;
use crate::storage::delivery;
use crate::webhooks::request_of;

/// Messages taken per fetch.
const FETCH_BATCH: usize = 50;
/// The cursor's kind in `channel_cursors`.
const KIND: &str = "imap";

/// Runs the pollers of every email account.
pub struct Pollers {
    posts: Arc<Posts>,
    config: ChannelsConfig,
}

struct Running {
    fingerprint: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Pollers {
    /// Pollers storing through `posts`.
    pub fn new(posts: Arc<Posts>, config: &ChannelsConfig) -> Self {
        Self { posts, config: config.clone() }
    }

    /// Keeps one poller per pollable account until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut running: HashMap<String, Running> = HashMap::new();
        loop {
            let registry = self.posts.channels().snapshot();
            let mut wanted: HashMap<String, (Arc<Account>, ImapConfig, String)> = HashMap::new();
            for account in registry.enabled_accounts(v1::Channel::Email) {
                let Some(app) = registry.app(&account.app_id) else { continue };
                match super::imap_config(self.posts.channels(), app, account) {
                    None => {}
                    Some(Ok(config)) => {
                        let fingerprint = format!("{}/{}", app.updated_at, account.updated_at);
                        wanted.insert(account.id.clone(), (account.clone(), config, fingerprint));
                    }
                    Some(Err(problem)) => {
                        tracing::warn!(account = %account.id, %problem, "mailbox not polled");
                    }
                }
            }
            running.retain(|id, task| {
                let keep = wanted.get(id).is_some_and(|(_, _, fingerprint)| *fingerprint == task.fingerprint);
                if !keep {
                    task.stop.cancel();
                }
                keep
            });
            for (id, (account, config, fingerprint)) in wanted {
                if running.contains_key(&id) {
                    continue;
                }
                let stop = shutdown.child_token();
                let task = tokio::spawn(poll(self.posts.clone(), account, config, self.config.clone(), stop.clone()));
                running.insert(id, Running { fingerprint, stop, task });
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(self.config.registry_refresh) => {}
            }
        }
        for (_, task) in running {
            task.stop.cancel();
            let _ = task.task.await;
        }
    }
}

/// Polls one mailbox until `stop`, reconnecting with back-off after a failure.
async fn poll(
    posts: Arc<Posts>,
    account: Arc<Account>,
    config: ImapConfig,
    settings: ChannelsConfig,
    stop: CancellationToken,
) {
    let mut failures = 0u32;
    loop {
        match session(&posts, &account, &config, &stop, &mut failures).await {
            Ok(()) => return,
            Err(error) => {
                failures += 1;
                let wait = settings
                    .retry_base
                    .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(16)))
                    .min(settings.retry_max);
                tracing::warn!(account = %account.id, %error, retry_in = ?wait, "mailbox poll failed");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

/// Why a session ended early.
#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("storing mail: {0}")]
    Store(String),
}

fn parse_cursor(text: &str) -> Option<Cursor> {
    let (validity, last) = text.split_once(':')?;
    Some(Cursor { uid_validity: validity.parse().ok()?, last_uid: last.parse().ok()? })
}

async fn save_cursor(posts: &Posts, account: &Account, cursor: Cursor) -> Result<(), PollError> {
    let value = format!("{}:{}", cursor.uid_validity, cursor.last_uid);
    cursors::put(posts.db(), &account.id, KIND, &value).await.map_err(|error| PollError::Store(error.to_string()))
}

/// One connection: fetch, store, save the cursor, wait; until `stop` (Ok) or a failure.
async fn session(
    posts: &Posts,
    account: &Account,
    config: &ImapConfig,
    stop: &CancellationToken,
    failures: &mut u32,
) -> Result<(), PollError> {
    let mut mailbox = tokio::select! {
        () = stop.cancelled() => return Ok(()),
        connected = ImapMailbox::connect(config) => connected?,
    };
    let stored =
        cursors::get(posts.db(), &account.id, KIND).await.map_err(|error| PollError::Store(error.to_string()))?;
    let mut cursor = match stored.as_deref().and_then(parse_cursor) {
        Some(cursor) => Some(cursor),
        None if account.setting("import_existing", "false") == "true" => None,
        None => {
            let now = mailbox.cursor_at_connect();
            save_cursor(posts, account, now).await?;
            Some(now)
        }
    };
    tracing::info!(account = %account.id, folder = %config.folder, idle = mailbox.supports_idle(), "mailbox connected");
    *failures = 0;
    loop {
        let batch = mailbox.fetch_new(cursor, FETCH_BATCH).await?;
        let full = batch.messages.len() == FETCH_BATCH;
        for message in batch.messages {
            take(posts, account, message.raw).await?;
        }
        save_cursor(posts, account, batch.cursor).await?;
        cursor = Some(batch.cursor);
        if full {
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => {
                mailbox.logout().await;
                return Ok(());
            }
            waited = mailbox.wait_for_new(config.poll_interval) => { waited?; }
        }
    }
}

/// Stores one message. A message that cannot be read is counted and skipped (the cursor moves
/// past it); a failure to store ends the session, so the message is fetched again.
async fn take(posts: &Posts, account: &Account, raw: Vec<u8>) -> Result<(), PollError> {
    let inbound = match tend_channels::email::parse(&account.platform_account_id, &raw) {
        Ok(inbound) => inbound,
        Err(error) => {
            metrics().refused("invalid");
            tracing::info!(account = %account.id, %error, "mail skipped: it cannot be read");
            return Ok(());
        }
    };
    let tenant = TenantId::parse(&account.tenant).map_err(PollError::Store)?;
    let row = delivery::Model {
        id: tend_kernel::ids::new_id(),
        tenant: account.tenant.clone(),
        account: account.id.clone(),
        source: "imap".to_owned(),
        body: raw,
        received_at: tend_kernel::ids::now(),
    };
    let outcome = posts
        .ingest(&tenant, vec![request_of(&inbound, account)], Some(row))
        .await
        .map_err(|error| PollError::Store(error.to_string()))?;
    match outcome.into_iter().next() {
        Some(Ok(stored)) => {
            let id = stored.interaction.map(|interaction| interaction.id).unwrap_or_default();
            tracing::debug!(account = %account.id, interaction = %id, duplicate = stored.duplicate, "mail taken");
        }
        Some(Err(error)) => tracing::info!(account = %account.id, %error, "mail refused"),
        None => {}
    }
    Ok(())
}
