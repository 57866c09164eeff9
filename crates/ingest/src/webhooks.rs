//! The platforms' webhook deliveries, served on the HTTP listener:
//!
//! - `GET/POST /webhooks/x[/{app}]`: X's Account Activity API (CRC challenge; signed events).
//! - `GET/POST /webhooks/meta[/{app}]`: Facebook Pages, Messenger and Instagram
//!   (`hub.challenge`; `X-Hub-Signature-256`).
//! - `POST /webhooks/generic/{account}`: chat widgets and review sources in Tend's schema,
//!   signed `X-Tend-Signature: t=…,v1=…` within the replay window.
//! - `POST /webhooks/email/{account}`: a raw RFC 5322 message from an inbound-mail service,
//!   signed like a generic delivery.
//!
//! Every answer is final for the platform: 401 for a bad, missing or stale signature, 400 for a
//! body that cannot be read (the message says what is wrong), 413 for an oversized body, 404 for
//! an unknown or disabled account; nothing is stored or published for any of them. Only a
//! failure to store answers 5xx, which platforms retry. Each request is counted by source and
//! status and logged without its body.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tend_channels::{Change, Inbound, Parsed, signature};
use tend_kernel::{ApiError, TenantId};
use tend_proto::v1;

use crate::config::ChannelsConfig;
use crate::lookups::{LookupError, Lookups};
use crate::metrics::metrics;
use crate::posts::{Changed, Posts};
use crate::registry::{Account, App, Registry, SecretError};
use crate::storage::delivery;

/// What the handlers share.
#[derive(Clone)]
struct Hooks {
    posts: Arc<Posts>,
    lookups: Arc<Lookups>,
    max_body: usize,
    max_email: usize,
    replay_window: std::time::Duration,
}

/// The webhook routes.
pub fn routes(posts: Arc<Posts>, lookups: Arc<Lookups>, config: &ChannelsConfig) -> Router {
    let hooks = Hooks {
        posts,
        lookups,
        max_body: config.max_webhook_bytes,
        max_email: config.max_email_bytes,
        replay_window: config.replay_window,
    };
    Router::new()
        .route("/webhooks/x", get(x_crc).post(x_events))
        .route("/webhooks/x/{app}", get(x_crc).post(x_events))
        .route("/webhooks/meta", get(meta_challenge).post(meta_events))
        .route("/webhooks/meta/{app}", get(meta_challenge).post(meta_events))
        .route("/webhooks/generic/{account}", post(generic_events))
        .route("/webhooks/email/{account}", post(email_message))
        .with_state(hooks)
}

/// A refusal or failure: its status and a message for the sender.
struct Answer {
    status: StatusCode,
    message: String,
}

impl Answer {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    fn of_api(error: ApiError) -> Self {
        match error {
            ApiError::Unavailable(message) => Self::new(StatusCode::SERVICE_UNAVAILABLE, message),
            ApiError::Internal(error) => {
                tracing::error!(%error, "webhook delivery could not be stored");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "the delivery could not be stored; retry")
            }
            other => Self::bad_request(other.to_string()),
        }
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "application/json")], body).into_response()
}

/// Counts and logs the answer to a request from `source`.
fn finish(source: &'static str, outcome: Result<Response, Answer>) -> Response {
    let response = match outcome {
        Ok(response) => response,
        Err(answer) => {
            if answer.status.is_server_error() {
                tracing::warn!(source, status = answer.status.as_u16(), message = %answer.message, "webhook failed");
            } else {
                tracing::info!(source, status = answer.status.as_u16(), message = %answer.message, "webhook refused");
            }
            let body = serde_json::json!({ "error": answer.message }).to_string();
            json_response(answer.status, body)
        }
    };
    metrics().webhook(source, response.status().as_u16());
    response
}

/// The body, at most `limit` bytes (413 beyond).
async fn read_body(body: Body, limit: usize) -> Result<Bytes, Answer> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        Answer::new(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is larger than the {limit} bytes accepted"))
    })
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// A secret needed to verify a delivery: 401 when `owner` has none set, 503 when it cannot be
/// read (a missing variable or file: the platform retries, and the operator is told in the log).
fn required_secret(owner: &str, name: &str, secret: Result<Option<String>, SecretError>) -> Result<String, Answer> {
    match secret {
        Ok(Some(secret)) => Ok(secret),
        Ok(None) => Err(Answer::unauthorized(format!("{owner} has no {name} set; its deliveries cannot be verified"))),
        Err(error) => {
            tracing::error!(%error, owner, "cannot read a webhook secret");
            Err(Answer::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the secret of {owner} cannot be read; retry later"),
            ))
        }
    }
}

fn secret_of_app(hooks: &Hooks, app: &App, name: &str) -> Result<String, Answer> {
    required_secret(&format!("app {}", app.name), name, hooks.posts.channels().app_secret(app, name))
}

fn secret_of_account(hooks: &Hooks, account: &Account, name: &str) -> Result<String, Answer> {
    required_secret(&format!("account {}", account.id), name, hooks.posts.channels().secret(account, name))
}

/// The app a delivery to `/webhooks/{platform}[/{app}]` is for: the named one, else the only
/// one of the platform.
fn app_for(registry: &Registry, platform: v1::Platform, named: Option<&str>) -> Result<Arc<App>, Answer> {
    let apps = registry.apps_of(platform);
    let name = crate::registry::platform_name(platform);
    match named {
        Some(id) => apps
            .into_iter()
            .find(|app| app.id == id)
            .cloned()
            .ok_or_else(|| Answer::not_found(format!("no {name} app {id}"))),
        None => match apps.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Answer::not_found(format!("no {name} app is registered"))),
            _ => Err(Answer::bad_request(format!(
                "several {name} apps are registered: register the webhook as /webhooks/{name}/{{app id}}"
            ))),
        },
    }
}

// ---- X ------------------------------------------------------------------------------------

/// The app named by a `/webhooks/{platform}/{app}` path, `None` on `/webhooks/{platform}`.
type NamedApp = Option<Path<String>>;

fn named(app: &NamedApp) -> Option<&str> {
    app.as_ref().map(|Path(app)| app.as_str())
}

async fn x_crc(State(hooks): State<Hooks>, app: NamedApp, Query(query): Query<BTreeMap<String, String>>) -> Response {
    finish("x", x_crc_answer(&hooks, named(&app), &query))
}

fn x_crc_answer(hooks: &Hooks, app: Option<&str>, query: &BTreeMap<String, String>) -> Result<Response, Answer> {
    let token = query
        .get("crc_token")
        .filter(|token| !token.is_empty())
        .ok_or_else(|| Answer::bad_request("crc_token is required (X sends it to check the webhook)"))?;
    let app = app_for(&hooks.posts.channels().snapshot(), v1::Platform::X, app)?;
    let secret = secret_of_app(hooks, &app, "consumer_secret")?;
    Ok(json_response(StatusCode::OK, signature::x_crc_response(&secret, token)))
}

async fn x_events(State(hooks): State<Hooks>, app: NamedApp, headers: HeaderMap, body: Body) -> Response {
    finish("x", x_deliver(&hooks, named(&app), &headers, body).await)
}

async fn x_deliver(hooks: &Hooks, app: Option<&str>, headers: &HeaderMap, body: Body) -> Result<Response, Answer> {
    let body = read_body(body, hooks.max_body).await?;
    let registry = hooks.posts.channels().snapshot();
    let app = app_for(&registry, v1::Platform::X, app)?;
    let secret = secret_of_app(hooks, &app, "consumer_secret")?;
    signature::verify_x(&secret, &body, header(headers, "x-twitter-webhooks-signature"))
        .map_err(|error| Answer::unauthorized(error.to_string()))?;
    let parsed = tend_channels::x::parse_account_activity(&body).map_err(|error| Answer::bad_request(error.0))?;
    deliver(hooks, &registry, Some(&app), "x", &body, parsed).await
}

// ---- Meta ---------------------------------------------------------------------------------

async fn meta_challenge(
    State(hooks): State<Hooks>,
    app: NamedApp,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    finish("meta", meta_challenge_answer(&hooks, named(&app), &query))
}

/// Answers `hub.challenge` when `hub.verify_token` is the named app's, or (unnamed) any Meta
/// app's: Meta sends the token it was given at subscription, which identifies the app.
fn meta_challenge_answer(
    hooks: &Hooks,
    app: Option<&str>,
    query: &BTreeMap<String, String>,
) -> Result<Response, Answer> {
    let registry = hooks.posts.channels().snapshot();
    let apps: Vec<Arc<App>> = match app {
        Some(_) => vec![app_for(&registry, v1::Platform::Meta, app)?],
        None => registry.apps_of(v1::Platform::Meta).into_iter().cloned().collect(),
    };
    for app in apps {
        let Ok(token) = secret_of_app(hooks, &app, "verify_token") else { continue };
        if let Some(challenge) = signature::meta_challenge(query.iter(), &token) {
            return Ok((StatusCode::OK, [("content-type", "text/plain")], challenge).into_response());
        }
    }
    Err(Answer::new(StatusCode::FORBIDDEN, "hub.mode must be subscribe and hub.verify_token an app's verify token"))
}

async fn meta_events(State(hooks): State<Hooks>, app: NamedApp, headers: HeaderMap, body: Body) -> Response {
    finish("meta", meta_deliver(&hooks, named(&app), &headers, body).await)
}

/// The Meta app a delivery is for: the named one, else the app of the first entry whose id is a
/// registered account (the body is only looked at for ids before its signature is checked).
fn meta_app(registry: &Registry, named: Option<&str>, body: &[u8]) -> Result<Arc<App>, Answer> {
    if named.is_some() || registry.apps_of(v1::Platform::Meta).len() == 1 {
        return app_for(registry, v1::Platform::Meta, named);
    }
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|error| Answer::bad_request(format!("the body is not JSON: {error}")))?;
    let ids = value["entry"].as_array().into_iter().flatten().filter_map(|entry| entry["id"].as_str());
    for id in ids {
        for channel in [v1::Channel::Facebook, v1::Channel::Instagram] {
            if let Some(app) = registry.by_platform(channel, id).and_then(|account| registry.app(&account.app_id)) {
                return Ok(app.clone());
            }
        }
    }
    Err(Answer::not_found("no registered account for any entry of the delivery"))
}

async fn meta_deliver(hooks: &Hooks, app: Option<&str>, headers: &HeaderMap, body: Body) -> Result<Response, Answer> {
    let body = read_body(body, hooks.max_body).await?;
    let registry = hooks.posts.channels().snapshot();
    let app = meta_app(&registry, app, &body)?;
    let secret = secret_of_app(hooks, &app, "app_secret")?;
    signature::verify_meta(&secret, &body, header(headers, "x-hub-signature-256"))
        .map_err(|error| Answer::unauthorized(error.to_string()))?;
    let parsed = tend_channels::meta::parse(&body).map_err(|error| Answer::bad_request(error.0))?;
    deliver(hooks, &registry, Some(&app), "meta", &body, parsed).await
}

// ---- Generic and email --------------------------------------------------------------------

/// The enabled account of a path, or 404.
fn path_account(registry: &Registry, id: &str, channels: &[v1::Channel]) -> Result<Arc<Account>, Answer> {
    match registry.account(id) {
        Some(account) if account.enabled && channels.contains(&account.channel) => Ok(account.clone()),
        Some(account) if !account.enabled => {
            metrics().refused("disabled_account");
            Err(Answer::not_found(format!("account {id} is disabled")))
        }
        _ => {
            metrics().refused("unknown_account");
            Err(Answer::not_found(format!("no account {id} takes these deliveries")))
        }
    }
}

fn verify_signed(hooks: &Hooks, account: &Account, headers: &HeaderMap, body: &[u8]) -> Result<(), Answer> {
    let secret = secret_of_account(hooks, account, "signing_secret")?;
    signature::verify_generic(
        &secret,
        body,
        header(headers, "x-tend-signature"),
        chrono::Utc::now(),
        hooks.replay_window,
    )
    .map_err(|error| Answer::unauthorized(error.to_string()))
}

async fn generic_events(
    State(hooks): State<Hooks>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let outcome = async {
        let body = read_body(body, hooks.max_body).await?;
        let registry = hooks.posts.channels().snapshot();
        let account = path_account(&registry, &account, &[v1::Channel::Chat, v1::Channel::Review])?;
        verify_signed(&hooks, &account, &headers, &body)?;
        let parsed = tend_channels::generic::parse(&account.platform_account_id, &body)
            .map_err(|error| Answer::bad_request(error.0))?;
        deliver(&hooks, &registry, None, "generic", &body, parsed).await
    };
    finish("generic", outcome.await)
}

async fn email_message(
    State(hooks): State<Hooks>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let outcome = async {
        let body = read_body(body, hooks.max_email).await?;
        let registry = hooks.posts.channels().snapshot();
        let account = path_account(&registry, &account, &[v1::Channel::Email])?;
        verify_signed(&hooks, &account, &headers, &body)?;
        let inbound = tend_channels::email::parse(&account.platform_account_id, &body)
            .map_err(|error| Answer::bad_request(error.0))?;
        let parsed = Parsed { posts: vec![inbound], skipped: Vec::new() };
        deliver(&hooks, &registry, None, "email", &body, parsed).await
    };
    finish("email", outcome.await)
}

// ---- Storing what was read -----------------------------------------------------------------

/// The contract's channel of an adapter's.
pub fn channel_of(channel: tend_channels::Channel) -> v1::Channel {
    match channel {
        tend_channels::Channel::X => v1::Channel::X,
        tend_channels::Channel::Facebook => v1::Channel::Facebook,
        tend_channels::Channel::Instagram => v1::Channel::Instagram,
        tend_channels::Channel::Email => v1::Channel::Email,
        tend_channels::Channel::Chat => v1::Channel::Chat,
        tend_channels::Channel::Review => v1::Channel::Review,
    }
}

/// The adapters' channel of the contract's; `None` for unspecified.
pub fn adapter_channel(channel: v1::Channel) -> Option<tend_channels::Channel> {
    Some(match channel {
        v1::Channel::X => tend_channels::Channel::X,
        v1::Channel::Facebook => tend_channels::Channel::Facebook,
        v1::Channel::Instagram => tend_channels::Channel::Instagram,
        v1::Channel::Email => tend_channels::Channel::Email,
        v1::Channel::Chat => tend_channels::Channel::Chat,
        v1::Channel::Review => tend_channels::Channel::Review,
        v1::Channel::Unspecified => return None,
    })
}

/// The request ingest stores for an adapter's post, for `account`.
pub fn request_of(inbound: &Inbound, account: &Account) -> v1::IngestInteractionRequest {
    let author = &inbound.author;
    v1::IngestInteractionRequest {
        channel: channel_of(inbound.channel).into(),
        external_id: inbound.external_id.clone(),
        author: Some(v1::Author {
            external_id: author.id.clone(),
            handle: author.handle.clone(),
            display_name: author.display_name.clone(),
            followers: author.followers.unwrap_or(0),
            verified: author.verified,
            email: author.email.clone(),
            location: author.location.clone(),
        }),
        text: inbound.text.clone(),
        posted_at: inbound.posted_at.map(tend_kernel::ids::to_timestamp),
        in_reply_to_external_id: inbound.in_reply_to.clone(),
        url: inbound.url.clone(),
        account: account.id.clone(),
        thread_external_id: inbound.thread_id.clone(),
        attachments: inbound
            .attachments
            .iter()
            .map(|a| v1::Attachment {
                name: a.name.clone(),
                content_type: a.content_type.clone(),
                size: a.size.unwrap_or(0),
                url: a.url.clone(),
            })
            .collect(),
        subject: inbound.subject.clone(),
        private: inbound.private,
        language_hint: inbound.language_hint.clone(),
        rating: inbound.rating.map(u32::from).unwrap_or(0),
    }
}

/// What one delivery came to, as the 200 answer says.
#[derive(Debug, Default, serde::Serialize)]
struct Summary {
    stored: usize,
    duplicates: usize,
    edited: usize,
    deleted: usize,
    skipped: usize,
    refused: Vec<String>,
}

/// Fetches what the accepted posts' deliveries did not carry. A post the platform will not
/// complete is refused alone; one it cannot complete now fails the delivery (503), before
/// anything is stored, so that the platform sends it again.
async fn complete_lookups(
    hooks: &Hooks,
    accepted: &mut Vec<(Arc<Account>, Inbound)>,
    summary: &mut Summary,
) -> Result<(), Answer> {
    let mut index = 0;
    while index < accepted.len() {
        let (account, inbound) = &mut accepted[index];
        match hooks.lookups.complete(hooks.posts.channels(), account, inbound).await {
            Ok(()) => index += 1,
            Err(LookupError::Refused(reason)) => {
                metrics().refused("lookup_refused");
                summary.refused.push(reason);
                accepted.remove(index);
            }
            Err(LookupError::Unavailable(reason)) => {
                return Err(Answer::new(StatusCode::SERVICE_UNAVAILABLE, format!("{reason}; retry")));
            }
        }
    }
    Ok(())
}

/// Stores what `parsed` holds for the registered accounts of `app` (or of any app, for
/// generic and email deliveries, whose account was checked already), with the raw `body`.
async fn deliver(
    hooks: &Hooks,
    registry: &Registry,
    app: Option<&App>,
    source: &'static str,
    body: &[u8],
    parsed: Parsed,
) -> Result<Response, Answer> {
    let mut summary = Summary { skipped: parsed.skipped.len(), ..Summary::default() };
    // Posts by tenant (an app's accounts are one tenant's), in the delivery's order.
    let mut accepted: Vec<(Arc<Account>, Inbound)> = Vec::new();
    for inbound in parsed.posts {
        let channel = channel_of(inbound.channel);
        let account = registry
            .by_platform(channel, &inbound.account_id)
            .filter(|account| app.is_none_or(|app| app.id == account.app_id));
        match account {
            Some(account) if account.enabled => accepted.push((account.clone(), inbound)),
            Some(_) => {
                metrics().refused("disabled_account");
                summary.refused.push(format!("account {} is disabled", inbound.account_id));
            }
            None => {
                metrics().refused("unknown_account");
                summary.refused.push(format!("no registered account {}", inbound.account_id));
            }
        }
    }
    if accepted.is_empty() {
        if summary.refused.is_empty() {
            // Only events Tend does not take (likes, receipts, the account's own posts).
            return Ok(json_response(StatusCode::OK, serde_json::to_string(&summary).unwrap_or_default()));
        }
        return Err(Answer::not_found(summary.refused.join("; ")));
    }
    complete_lookups(hooks, &mut accepted, &mut summary).await?;
    if accepted.is_empty() {
        // A mention deleted before it could be read: sending it again would not help.
        return Ok(json_response(StatusCode::OK, serde_json::to_string(&summary).unwrap_or_default()));
    }
    let tenant =
        TenantId::parse(&accepted[0].0.tenant).map_err(|problem| Answer::of_api(ApiError::internal(problem)))?;
    let first_account = accepted[0].0.id.clone();
    let now = tend_kernel::ids::now();
    let delivery = delivery::Model {
        id: tend_kernel::ids::new_id(),
        tenant: tenant.as_str().to_owned(),
        account: first_account,
        source: source.to_owned(),
        body: body.to_vec(),
        received_at: now,
    };
    let mut creates = Vec::new();
    for (account, inbound) in &accepted {
        match inbound.change {
            Change::Created => creates.push(request_of(inbound, account)),
            Change::Edited => match hooks.posts.edit(&tenant, request_of(inbound, account)).await {
                Ok(Changed::Applied(_)) => summary.edited += 1,
                Ok(Changed::Unchanged(_)) => summary.duplicates += 1,
                Ok(Changed::Stored(_)) => summary.stored += 1,
                // One bad edit (say of a post never seen, without its author) is refused alone.
                Err(error @ ApiError::InvalidArgument { .. }) => summary.refused.push(error.to_string()),
                Err(error) => return Err(Answer::of_api(error)),
            },
            Change::Deleted => {
                let channel = channel_of(inbound.channel);
                match hooks
                    .posts
                    .delete(&tenant, channel, &account.id, inbound.external_id.trim())
                    .await
                    .map_err(Answer::of_api)?
                {
                    Changed::Applied(_) | Changed::Stored(_) => summary.deleted += 1,
                    Changed::Unchanged(_) => summary.duplicates += 1,
                }
            }
        }
    }
    if !creates.is_empty() {
        let outcomes = hooks.posts.ingest(&tenant, creates, Some(delivery)).await.map_err(Answer::of_api)?;
        for outcome in outcomes {
            match outcome {
                Ok(stored) if stored.duplicate => summary.duplicates += 1,
                Ok(_) => summary.stored += 1,
                Err(error) => summary.refused.push(error.to_string()),
            }
        }
    }
    tracing::info!(
        source,
        tenant = tenant.as_str(),
        stored = summary.stored,
        duplicates = summary.duplicates,
        edited = summary.edited,
        deleted = summary.deleted,
        skipped = summary.skipped,
        refused = summary.refused.len(),
        "webhook delivery taken"
    );
    Ok(json_response(StatusCode::OK, serde_json::to_string(&summary).unwrap_or_default()))
}
