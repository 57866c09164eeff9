//! X mentions, polled (`GET /2/users/:id/mentions`) for accounts without Account Activity
//! access: an X account with the setting `poll_mentions = true` and an app `bearer_token` is
//! polled every `poll_interval` (default `channels.poll_interval`). Each round takes the
//! mentions newer than the cursor (page by page, at most [`MAX_PAGES`]), stores them as every
//! post is stored (one already stored, say by the webhook, is a duplicate), then saves the
//! newest id as the cursor. A first round takes the latest page only. A 429 waits for the time
//! X gives.

use std::sync::Arc;
use std::time::Duration;

use tend_channels::x::{mentions_url, parse_mentions};
use tend_kernel::TenantId;
use tend_proto::v1;
use tokio_util::sync::CancellationToken;

use crate::config::ChannelsConfig;
use crate::mail::cursors;
use crate::pollers::{SessionError, Wanted, with_back_off};
use crate::posts::Posts;
use crate::registry::Account;
use crate::webhooks::request_of;

/// The cursor's kind in `channel_cursors`.
const KIND: &str = "x_mentions";
/// Most pages read in one round (100 mentions each).
pub const MAX_PAGES: usize = 10;
/// Most bytes of a response read.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// The mention pollers the registry asks for.
pub fn wanted(posts: &Arc<Posts>, config: &ChannelsConfig) -> Vec<Wanted> {
    let registry = posts.channels().snapshot();
    let mut wanted = Vec::new();
    for account in registry.enabled_accounts(v1::Channel::X) {
        if account.setting("poll_mentions", "false") != "true" {
            continue;
        }
        let Some(app) = registry.app(&account.app_id) else { continue };
        if !account.platform_account_id.bytes().all(|b| b.is_ascii_digit()) {
            tracing::warn!(account = %account.id, "X mentions not polled: the platform account id is not an X user id");
            continue;
        }
        let token = match posts.channels().app_secret(app, "bearer_token") {
            Ok(Some(token)) => token,
            Ok(None) => {
                tracing::warn!(account = %account.id, "X mentions not polled: the app has no bearer_token");
                continue;
            }
            Err(error) => {
                tracing::warn!(account = %account.id, %error, "X mentions not polled");
                continue;
            }
        };
        let every = humantime::parse_duration(account.setting("poll_interval", "")).unwrap_or(config.poll_interval);
        let (posts, account, config) = (posts.clone(), account.clone(), config.clone());
        wanted.push(Wanted {
            key: format!("{KIND}:{}", account.id),
            fingerprint: format!("{}/{}", app.updated_at, account.updated_at),
            start: Box::new(move |stop| Box::pin(poll(posts, account, token, every, config, stop))),
        });
    }
    wanted
}

async fn poll(
    posts: Arc<Posts>,
    account: Arc<Account>,
    token: String,
    every: Duration,
    config: ChannelsConfig,
    stop: CancellationToken,
) {
    let http = match crate::platform_http::platform_client(config.request_timeout) {
        Ok(http) => http,
        Err(error) => {
            tracing::error!(%error, "cannot make the HTTP client for X mentions");
            return;
        }
    };
    let round = Round { posts: &posts, account: &account, token: &token, http: &http, base: &config.x_api_base };
    with_back_off("x_mentions", &account.id, &config, &stop, || async {
        loop {
            let wait = round.run().await?.unwrap_or(every);
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                () = tokio::time::sleep(wait) => {}
            }
        }
    })
    .await;
}

struct Round<'a> {
    posts: &'a Posts,
    account: &'a Account,
    token: &'a str,
    http: &'a reqwest::Client,
    base: &'a str,
}

fn failed(error: impl std::fmt::Display) -> SessionError {
    SessionError { error: error.to_string(), connected: false }
}

impl Round<'_> {
    /// One round; `Some(wait)` when X asked to wait longer than the usual interval.
    async fn run(&self) -> Result<Option<Duration>, SessionError> {
        let since = cursors::get(self.posts.db(), &self.account.id, KIND).await.map_err(failed)?.unwrap_or_default();
        let tenant = TenantId::parse(&self.account.tenant).map_err(failed)?;
        let mut newest = String::new();
        let mut page_token = String::new();
        for _ in 0..MAX_PAGES {
            let url = mentions_url(self.base, &self.account.platform_account_id, &since, &page_token);
            let response = self.http.get(&url).bearer_auth(self.token).send().await.map_err(failed)?;
            let status = response.status();
            let headers: Vec<(String, String)> = response
                .headers()
                .iter()
                .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
                .collect();
            if status.as_u16() == 429 {
                let wait = tend_channels::outbound::requested_wait(&headers, chrono::Utc::now().timestamp());
                tracing::info!(account = %self.account.id, ?wait, "X mentions rate limited");
                return Ok(Some(wait.unwrap_or(Duration::from_secs(900))));
            }
            let body = response.bytes().await.map_err(failed)?;
            if !status.is_success() {
                let excerpt: String = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
                return Err(failed(format!("X answered {status}: {excerpt}")));
            }
            if body.len() > MAX_RESPONSE_BYTES {
                return Err(failed("X's answer is larger than 4 MiB"));
            }
            let page = parse_mentions(&self.account.platform_account_id, &body).map_err(|error| failed(error.0))?;
            if newest.is_empty() {
                newest = page.newest_id.clone();
            }
            let requests: Vec<_> = page.parsed.posts.iter().map(|post| request_of(post, self.account)).collect();
            if !requests.is_empty() {
                let outcomes = self.posts.ingest(&tenant, requests, None).await.map_err(failed)?;
                let stored =
                    outcomes.iter().filter(|outcome| matches!(outcome, Ok(stored) if !stored.duplicate)).count();
                tracing::info!(account = %self.account.id, stored, polled = outcomes.len(), "X mentions taken");
            }
            // The first round takes the latest page only; later ones page back to the cursor.
            if since.is_empty() || page.next_token.is_empty() {
                break;
            }
            page_token = page.next_token;
        }
        if !newest.is_empty() {
            cursors::put(self.posts.db(), &self.account.id, KIND, &newest).await.map_err(failed)?;
        }
        Ok(None)
    }
}
