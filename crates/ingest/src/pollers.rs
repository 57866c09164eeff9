//! The pollers of the channels that Tend fetches from rather than being sent to: mailboxes
//! (IMAP) and X mentions. One task per polled account, started, stopped and restarted as the
//! registry changes (checked every `channels.registry_refresh`); each task reconnects with
//! back-off after a failure.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::ChannelsConfig;
use crate::posts::Posts;

/// A poll task: runs until its token is cancelled.
pub type PollTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A poller the registry asks for.
pub struct Wanted {
    /// Unique among pollers: the kind and the account, e.g. `imap:{account}`.
    pub key: String,
    /// Changes when the account or its app does: the task is restarted with the new settings.
    pub fingerprint: String,
    /// Starts the task with its stop token.
    pub start: Box<dyn FnOnce(CancellationToken) -> PollTask + Send>,
}

struct Running {
    fingerprint: String,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// Keeps the pollers `wanted` (read from the registry each round) running until `shutdown`.
pub async fn supervise(
    posts: Arc<Posts>,
    config: ChannelsConfig,
    wanted: impl Fn(&Arc<Posts>, &ChannelsConfig) -> Vec<Wanted> + Send,
    shutdown: CancellationToken,
) {
    let mut running: HashMap<String, Running> = HashMap::new();
    loop {
        let mut now_wanted: HashMap<String, Wanted> =
            wanted(&posts, &config).into_iter().map(|want| (want.key.clone(), want)).collect();
        running.retain(|key, task| {
            let keep = now_wanted.get(key).is_some_and(|want| want.fingerprint == task.fingerprint);
            if !keep {
                task.stop.cancel();
            }
            keep
        });
        for (key, want) in now_wanted.drain() {
            if running.contains_key(&key) {
                continue;
            }
            let stop = shutdown.child_token();
            let task = tokio::spawn((want.start)(stop.clone()));
            running.insert(key, Running { fingerprint: want.fingerprint, stop, task });
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(config.registry_refresh) => {}
        }
    }
    for (_, task) in running {
        task.stop.cancel();
        let _ = task.task.await;
    }
}

/// Why a poll session ended early.
#[derive(Debug)]
pub struct SessionError {
    /// What went wrong, for the log.
    pub error: String,
    /// Whether it had connected (and worked) before failing: the back-off starts over.
    pub connected: bool,
}

/// Runs `session` until it ends well or `stop`, waiting after each failure (doubling from
/// `channels.retry_base` up to `channels.retry_max`, from the start again after a session that
/// had connected).
pub async fn with_back_off<F, Fut>(
    what: &'static str,
    account: &str,
    config: &ChannelsConfig,
    stop: &CancellationToken,
    mut session: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), SessionError>>,
{
    let mut failures = 0u32;
    loop {
        let outcome = tokio::select! {
            () = stop.cancelled() => return,
            outcome = session() => outcome,
        };
        let Err(SessionError { error, connected }) = outcome else { return };
        failures = if connected { 1 } else { failures + 1 };
        let wait = back_off(config, failures);
        tracing::warn!(poller = what, account, %error, retry_in = ?wait, "poll failed");
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// The wait after the `failures`-th failure in a row.
pub fn back_off(config: &ChannelsConfig, failures: u32) -> Duration {
    config.retry_base.saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(16))).min(config.retry_max)
}
