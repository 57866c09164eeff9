//! The mailbox poller of one email account whose app has an `imap_host`: connects (TLS), takes
//! what arrived after its cursor, stores it as ingest stores every post (a message already
//! stored is a duplicate: the Message-ID is the key), saves the cursor, and waits with IDLE
//! (or polls) for more.
//!
//! A new account starts from the mail that arrives after it is connected, unless its
//! `import_existing` setting says `true`. Several ingest replicas each poll every mailbox: the
//! Message-ID makes the second copy a duplicate.

use std::sync::Arc;

use tend_kernel::TenantId;
use tend_mailbox::{Cursor, ImapConfig, ImapMailbox};
use tend_proto::v1;
use tokio_util::sync::CancellationToken;

use super::cursors;
use crate::config::ChannelsConfig;
use crate::metrics::metrics;
use crate::pollers::{SessionError, Wanted, with_back_off};
use crate::posts::Posts;
use crate::registry::Account;
use crate::storage::delivery;
use crate::webhooks::request_of;

/// Messages taken per fetch.
const FETCH_BATCH: usize = 50;
/// The cursor's kind in `channel_cursors`.
const KIND: &str = "imap";

/// The mailbox pollers the registry asks for: one per enabled email account with IMAP.
pub fn wanted(posts: &Arc<Posts>, config: &ChannelsConfig) -> Vec<Wanted> {
    let registry = posts.channels().snapshot();
    let mut wanted = Vec::new();
    for account in registry.enabled_accounts(v1::Channel::Email) {
        let Some(app) = registry.app(&account.app_id) else { continue };
        match super::imap_config(posts.channels(), app, account) {
            None => {}
            Some(Ok(imap)) => {
                let (posts, account, config) = (posts.clone(), account.clone(), config.clone());
                wanted.push(Wanted {
                    key: format!("{KIND}:{}", account.id),
                    fingerprint: format!("{}/{}", app.updated_at, account.updated_at),
                    start: Box::new(move |stop| Box::pin(poll(posts, account, imap, config, stop))),
                });
            }
            Some(Err(problem)) => tracing::warn!(account = %account.id, %problem, "mailbox not polled"),
        }
    }
    wanted
}

async fn poll(
    posts: Arc<Posts>,
    account: Arc<Account>,
    imap: ImapConfig,
    config: ChannelsConfig,
    stop: CancellationToken,
) {
    with_back_off("imap", &account.id, &config, &stop, || session(&posts, &account, &imap, &stop)).await;
}

fn parse_cursor(text: &str) -> Option<Cursor> {
    let (validity, last) = text.split_once(':')?;
    Some(Cursor { uid_validity: validity.parse().ok()?, last_uid: last.parse().ok()? })
}

/// One connection: fetch, store, save the cursor, wait; until `stop` (Ok) or a failure.
async fn session(
    posts: &Posts,
    account: &Account,
    imap: &ImapConfig,
    stop: &CancellationToken,
) -> Result<(), SessionError> {
    let failed = |connected: bool| move |error: String| SessionError { error, connected };
    let mut mailbox = ImapMailbox::connect(imap).await.map_err(|error| failed(false)(error.to_string()))?;
    let connected = failed(true);
    let save = |cursor: Cursor| async move {
        let value = format!("{}:{}", cursor.uid_validity, cursor.last_uid);
        cursors::put(posts.db(), &account.id, KIND, &value).await.map_err(|error| connected(error.to_string()))
    };
    let stored = cursors::get(posts.db(), &account.id, KIND).await.map_err(|error| connected(error.to_string()))?;
    let mut cursor = match stored.as_deref().and_then(parse_cursor) {
        Some(cursor) => Some(cursor),
        None if account.setting("import_existing", "false") == "true" => None,
        None => {
            let now = mailbox.cursor_at_connect();
            save(now).await?;
            Some(now)
        }
    };
    tracing::info!(account = %account.id, folder = %imap.folder, idle = mailbox.supports_idle(), "mailbox connected");
    loop {
        let batch = mailbox.fetch_new(cursor, FETCH_BATCH).await.map_err(|error| connected(error.to_string()))?;
        let full = batch.messages.len() == FETCH_BATCH;
        for message in batch.messages {
            take(posts, account, message.raw).await.map_err(connected)?;
        }
        save(batch.cursor).await?;
        cursor = Some(batch.cursor);
        if full {
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => {
                mailbox.logout().await;
                return Ok(());
            }
            waited = mailbox.wait_for_new(imap.poll_interval) => {
                waited.map_err(|error| connected(error.to_string()))?;
            }
        }
    }
}

/// Stores one message. A message that cannot be read is counted and skipped (the cursor moves
/// past it); a failure to store ends the session, so the message is fetched again.
async fn take(posts: &Posts, account: &Account, raw: Vec<u8>) -> Result<(), String> {
    let inbound = match tend_channels::email::parse(&account.platform_account_id, &raw) {
        Ok(inbound) => inbound,
        Err(error) => {
            metrics().refused("invalid");
            tracing::info!(account = %account.id, %error, "mail skipped: it cannot be read");
            return Ok(());
        }
    };
    let tenant = TenantId::parse(&account.tenant)?;
    let row = delivery::Model {
        id: tend_kernel::ids::new_id(),
        tenant: account.tenant.clone(),
        account: account.id.clone(),
        source: KIND.to_owned(),
        body: raw,
        received_at: tend_kernel::ids::now(),
    };
    let outcome = posts
        .ingest(&tenant, vec![request_of(&inbound, account)], Some(row))
        .await
        .map_err(|error| format!("storing mail: {error}"))?;
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
