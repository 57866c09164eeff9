//! Registering apps and accounts: validation (every setting and secret named, hours and quotas
//! checked), storage, and the `AccountChanged` event routing keeps account hours from.

use std::collections::BTreeMap;

use prost::Message as _;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection, IntoActiveModel, TransactionTrait};
use tend_kernel::ids::{new_id, to_timestamp};
use tend_kernel::names::check_name;
use tend_kernel::{ApiError, TenantId};
use tend_proto::v1;
use tend_store::events::{envelope, streams};
use tend_store::{DbContext as _, outbox};

use super::{Account, App, Channels, QuotaSpec, Quotas, SecretBox, Secrets, platform, storage};
use crate::SERVICE;

/// Platform apps a tenant may register. Every process keeps the whole registry in memory
/// (webhooks name no tenant), so it must stay small.
pub const MAX_APPS: u64 = 100;
/// Monitored accounts a tenant may register.
pub const MAX_ACCOUNTS: u64 = 5_000;

/// Longest platform account id or display name, in bytes.
const MAX_ID_BYTES: usize = 256;
/// Longest setting value, in bytes.
const MAX_SETTING_BYTES: usize = 2048;

/// What an account upsert changed, for the caller to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    /// A new account.
    Created,
    /// An existing one replaced.
    Replaced,
}

fn check_settings(
    field: &str,
    allowed: &[&str],
    platform_name: &str,
    settings: &std::collections::HashMap<String, String>,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut checked = BTreeMap::new();
    for (key, value) in settings {
        if !allowed.contains(&key.as_str()) {
            let known = if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") };
            return Err(ApiError::invalid(
                format!("{field}.{}", tend_kernel::names::truncated(key)),
                format!("is not a setting of {platform_name}; known: {known}"),
            ));
        }
        if value.len() > MAX_SETTING_BYTES {
            return Err(ApiError::invalid(
                format!("{field}.{key}"),
                format!("must be at most {MAX_SETTING_BYTES} bytes"),
            ));
        }
        let value = value.trim();
        platform::check_value(key, value).map_err(|problem| ApiError::invalid(format!("{field}.{key}"), problem))?;
        checked.insert(key.clone(), value.to_owned());
    }
    Ok(checked)
}

/// The secrets `stored` (the JSON of an existing row, `None` for a new one) with those `given`
/// sealed in: a given empty one removes it. Every name must be one of `allowed`.
fn merge_secrets(
    allowed: &[&str],
    platform_name: &str,
    given: &std::collections::HashMap<String, v1::SecretValue>,
    stored: Option<&str>,
    secret_box: &SecretBox,
) -> Result<Secrets, ApiError> {
    let mut secrets: Secrets = match stored {
        Some(json) => serde_json::from_str(json).map_err(ApiError::internal)?,
        None => Secrets::new(),
    };
    for (name, value) in given {
        let key = format!("secrets.{}", tend_kernel::names::truncated(name));
        if !allowed.contains(&name.as_str()) {
            let known = if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") };
            return Err(ApiError::invalid(key, format!("is not a secret of {platform_name}; known: {known}")));
        }
        match secret_box.seal(&key, value)? {
            Some(sealed) => secrets.insert(name.clone(), sealed),
            None => secrets.remove(name),
        };
    }
    Ok(secrets)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(ApiError::internal)
}

/// Creates or replaces the tenant's app named in `request`.
pub async fn upsert_app(
    channels: &Channels,
    tenant: &TenantId,
    request: v1::UpsertAppRequest,
) -> Result<v1::ChannelApp, ApiError> {
    check_name(&request.name).map_err(|problem| ApiError::invalid("name", problem))?;
    let platform = match v1::Platform::try_from(request.platform) {
        Ok(v1::Platform::Unspecified) | Err(_) => {
            return Err(ApiError::invalid("platform", "is required: one of X, META, EMAIL, GENERIC"));
        }
        Ok(platform) => platform,
    };
    let platform_name = platform::name(platform);
    let settings = check_settings("settings", platform::app_settings(platform), platform_name, &request.settings)?;
    let db = channels.db();
    let txn = db.begin().await.context("starting a transaction")?;
    let existing = storage::find_app(&txn, tenant.as_str(), &request.name).await.context("reading the app")?;
    if existing.is_none() && storage::counts(&txn, tenant.as_str()).await.context("counting apps")?.0 >= MAX_APPS {
        return Err(ApiError::quota("channel apps", MAX_APPS));
    }
    let now = tend_kernel::ids::now();
    if let Some(row) = &existing
        && row.platform != i32::from(platform)
    {
        let stored = v1::Platform::try_from(row.platform).unwrap_or(v1::Platform::Unspecified);
        return Err(ApiError::invalid(
            "platform",
            format!(
                "app {} is a {} app; an app keeps its platform (use another name)",
                row.name,
                platform::name(stored)
            ),
        ));
    }
    let stored = existing.as_ref().map(|row| row.secrets.as_str());
    let secrets =
        merge_secrets(platform::app_secrets(platform), platform_name, &request.secrets, stored, channels.secret_box())?;
    let saved = match existing {
        Some(row) => {
            let mut active = row.into_active_model();
            active.settings = Set(to_json(&settings)?);
            active.secrets = Set(to_json(&secrets)?);
            active.updated_at = Set(now);
            active.update(&txn).await.context("saving the app")?
        }
        None => {
            let row = storage::app::Model {
                id: new_id(),
                tenant: tenant.as_str().to_owned(),
                name: request.name.clone(),
                platform: platform.into(),
                settings: to_json(&settings)?,
                secrets: to_json(&secrets)?,
                created_at: now,
                updated_at: now,
            };
            storage::app::ActiveModel::from(row).insert(&txn).await.context("saving the app")?
        }
    };
    txn.commit().await.context("committing the app")?;
    channels.reload().await?;
    tracing::info!(tenant = tenant.as_str(), app = %saved.name, platform = platform_name, "channel app saved");
    let registry = channels.snapshot();
    let app = registry.app(&saved.id).ok_or_else(|| ApiError::internal("the saved app is not in the registry"))?;
    Ok(app_to_proto(app))
}

fn quota(field: &str, quota: Option<&v1::ReplyQuota>) -> Result<Option<QuotaSpec>, ApiError> {
    let Some(quota) = quota else { return Ok(None) };
    if quota.burst == 0 {
        return Err(ApiError::invalid(format!("{field}.burst"), "must be at least 1"));
    }
    let per = quota.per.as_ref().map(|per| per.seconds.saturating_mul(1000) + i64::from(per.nanos) / 1_000_000);
    match per {
        Some(ms) if ms > 0 => Ok(Some(QuotaSpec { burst: quota.burst, per_ms: ms.unsigned_abs() })),
        _ => Err(ApiError::invalid(format!("{field}.per"), "is required and must be longer than 0 (e.g. 900s)")),
    }
}

/// The account's hours as a routing calendar, `account.{id}`.
pub fn hours_calendar(account_id: &str, hours: &v1::AccountHours) -> v1::Calendar {
    v1::Calendar {
        name: format!("{}{account_id}", tend_kernel::names::ACCOUNT_CALENDAR_PREFIX),
        time_zone: hours.time_zone.clone(),
        periods: hours
            .periods
            .iter()
            .map(|period| v1::WorkingPeriod {
                weekday: period.weekday.clone(),
                start: period.start.clone(),
                end: period.end.clone(),
            })
            .collect(),
        holidays: hours
            .closed_days
            .iter()
            .map(|day| v1::Holiday { date: day.date.clone(), name: day.name.clone() })
            .collect(),
        updated_at: None,
    }
}

fn check_hours(hours: Option<&v1::AccountHours>) -> Result<(), ApiError> {
    let Some(hours) = hours else { return Ok(()) };
    tend_calendar::contract::from_contract(&hours_calendar("check", hours)).map(|_| ()).map_err(|(field, problem)| {
        let field = match field {
            "calendar.periods" => "hours.periods",
            "calendar.holidays" => "hours.closed_days",
            _ => "hours",
        };
        ApiError::invalid(field, problem)
    })
}

fn check_id(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    if value.len() > MAX_ID_BYTES {
        return Err(ApiError::invalid(field, format!("must be at most {MAX_ID_BYTES} bytes")));
    }
    Ok(value.to_owned())
}

/// Creates or replaces the account with the request's channel and platform account id.
pub async fn upsert_account(
    channels: &Channels,
    tenant: &TenantId,
    request: v1::UpsertAccountRequest,
) -> Result<(v1::ChannelAccount, AccountChange), ApiError> {
    let channel = match v1::Channel::try_from(request.channel) {
        Ok(v1::Channel::Unspecified) | Err(_) => {
            return Err(ApiError::invalid(
                "channel",
                "is required: one of X, FACEBOOK, INSTAGRAM, EMAIL, CHAT, REVIEW",
            ));
        }
        Ok(channel) => channel,
    };
    let platform_account_id = check_id("platform_account_id", &request.platform_account_id)?;
    if request.display_name.len() > MAX_ID_BYTES {
        return Err(ApiError::invalid("display_name", format!("must be at most {MAX_ID_BYTES} bytes")));
    }
    check_name(&request.app).map_err(|problem| ApiError::invalid("app", problem))?;
    // From the database, not the snapshot: the app may have been saved through another replica.
    let app = storage::find_app(channels.db(), tenant.as_str(), &request.app).await.context("reading the app")?;
    let Some(app) = app else {
        return Err(ApiError::invalid(
            "app",
            format!("the tenant has no app named {:?} (UpsertApp first)", request.app),
        ));
    };
    let app = super::app_of_row(app)?;
    if !platform::channels(app.platform).contains(&channel) {
        return Err(ApiError::invalid(
            "channel",
            format!("app {} is a {} app, which does not serve {}", app.name, platform::name(app.platform), {
                channel.as_str_name()
            }),
        ));
    }
    let platform_name = platform::name(app.platform);
    let settings =
        check_settings("settings", platform::account_settings(app.platform), platform_name, &request.settings)?;
    check_hours(request.hours.as_ref())?;
    let quotas = Quotas {
        public: quota("public_quota", request.public_quota.as_ref())?,
        private: quota("private_quota", request.private_quota.as_ref())?,
    };
    let hours = request.hours.as_ref().map(|hours| hours.encode_to_vec());

    let db: &DatabaseConnection = channels.db();
    let txn = db.begin().await.context("starting a transaction")?;
    let existing = storage::find_account_by_platform(&txn, channel.into(), &platform_account_id)
        .await
        .context("reading the account")?;
    if existing.is_none()
        && storage::counts(&txn, tenant.as_str()).await.context("counting accounts")?.1 >= MAX_ACCOUNTS
    {
        return Err(ApiError::quota("channel accounts", MAX_ACCOUNTS));
    }
    let now = tend_kernel::ids::now();
    if let Some(row) = &existing
        && row.tenant != tenant.as_str()
    {
        return Err(ApiError::FailedPrecondition(format!(
            "{} account {platform_account_id} is monitored by another tenant; one platform account belongs to one \
             tenant",
            channel.as_str_name()
        )));
    }
    let stored = existing.as_ref().map(|row| row.secrets.as_str());
    let secrets = merge_secrets(
        platform::account_secrets(app.platform),
        platform_name,
        &request.secrets,
        stored,
        channels.secret_box(),
    )?;
    let (saved, change) = match existing {
        Some(row) => {
            let enabled = request.enabled.unwrap_or(row.enabled);
            let mut active = row.into_active_model();
            active.app_id = Set(app.id.clone());
            active.display_name = Set(request.display_name.trim().to_owned());
            active.enabled = Set(enabled);
            active.is_default = Set(request.is_default);
            active.hours = Set(hours);
            active.quotas = Set(to_json(&quotas)?);
            active.settings = Set(to_json(&settings)?);
            active.secrets = Set(to_json(&secrets)?);
            active.updated_at = Set(now);
            (active.update(&txn).await.context("saving the account")?, AccountChange::Replaced)
        }
        None => {
            let row = storage::account::Model {
                id: new_id(),
                tenant: tenant.as_str().to_owned(),
                app_id: app.id.clone(),
                channel: channel.into(),
                platform_account_id,
                display_name: request.display_name.trim().to_owned(),
                enabled: request.enabled.unwrap_or(true),
                is_default: request.is_default,
                hours,
                quotas: to_json(&quotas)?,
                settings: to_json(&settings)?,
                secrets: to_json(&secrets)?,
                created_at: now,
                updated_at: now,
            };
            (
                storage::account::ActiveModel::from(row).insert(&txn).await.context("saving the account")?,
                AccountChange::Created,
            )
        }
    };
    if saved.is_default {
        storage::clear_other_defaults(&txn, tenant.as_str(), saved.channel, &saved.id)
            .await
            .context("unmarking the other default")?;
    }
    let announced =
        Announced { account: &saved.id, channel, enabled: saved.enabled, display_name: &saved.display_name };
    announce(&txn, tenant, announced, request.hours.as_ref()).await?;
    txn.commit().await.context("committing the account")?;
    channels.reload().await?;
    tracing::info!(tenant = tenant.as_str(), account = %saved.id, channel = channel.as_str_name(), ?change, "channel account saved");
    let registry = channels.snapshot();
    let account =
        registry.account(&saved.id).ok_or_else(|| ApiError::internal("the saved account is not in the registry"))?;
    Ok((account_to_proto(&registry, account), change))
}

/// What `channels.accounts` tells of an account.
struct Announced<'a> {
    account: &'a str,
    channel: v1::Channel,
    enabled: bool,
    display_name: &'a str,
}

/// Publishes the account as it now is on `channels.accounts` (routing keeps its hours and, for
/// the tip sheet, its name), in the transaction that saved it.
async fn announce(
    txn: &sea_orm::DatabaseTransaction,
    tenant: &TenantId,
    announced: Announced<'_>,
    hours: Option<&v1::AccountHours>,
) -> Result<(), ApiError> {
    let Announced { account, channel, enabled, display_name } = announced;
    let changed = v1::AccountChanged {
        account: account.to_owned(),
        channel: channel.into(),
        enabled,
        hours: hours.map(|hours| hours_calendar(account, hours)),
        display_name: display_name.to_owned(),
    };
    outbox::enqueue(txn, streams::CHANNELS_ACCOUNTS, &envelope(SERVICE, tenant, &changed)).await?;
    Ok(())
}

/// Disables the tenant's account `id` (idempotent).
pub async fn disable_account(channels: &Channels, tenant: &TenantId, id: &str) -> Result<v1::ChannelAccount, ApiError> {
    let db = channels.db();
    let txn = db.begin().await.context("starting a transaction")?;
    let row = storage::find_account(&txn, tenant.as_str(), id)
        .await
        .context("reading the account")?
        .ok_or_else(|| ApiError::not_found("account", id))?;
    if row.enabled {
        let hours = row.hours.as_deref().map(v1::AccountHours::decode).transpose().map_err(ApiError::internal)?;
        let channel = v1::Channel::try_from(row.channel).unwrap_or(v1::Channel::Unspecified);
        let display_name = row.display_name.clone();
        let mut active = row.into_active_model();
        active.enabled = Set(false);
        active.updated_at = Set(tend_kernel::ids::now());
        active.update(&txn).await.context("disabling the account")?;
        let announced = Announced { account: id, channel, enabled: false, display_name: &display_name };
        announce(&txn, tenant, announced, hours.as_ref()).await?;
        tracing::info!(tenant = tenant.as_str(), account = id, "channel account disabled");
    }
    txn.commit().await.context("committing the account")?;
    channels.reload().await?;
    let registry = channels.snapshot();
    let account = registry.account(id).ok_or_else(|| ApiError::not_found("account", id))?;
    Ok(account_to_proto(&registry, account))
}

fn secret_names(secrets: &Secrets) -> Vec<String> {
    secrets.keys().cloned().collect()
}

/// An app in the contract's terms (secret names only).
pub fn app_to_proto(app: &App) -> v1::ChannelApp {
    v1::ChannelApp {
        id: app.id.clone(),
        name: app.name.clone(),
        platform: app.platform.into(),
        settings: app.settings.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        secrets: secret_names(&app.secrets),
        created_at: Some(to_timestamp(app.created_at)),
        updated_at: Some(to_timestamp(app.updated_at)),
    }
}

fn quota_to_proto(quota: Option<QuotaSpec>) -> Option<v1::ReplyQuota> {
    quota.map(|quota| v1::ReplyQuota {
        burst: quota.burst,
        per: prost_types::Duration::try_from(std::time::Duration::from_millis(quota.per_ms)).ok(),
    })
}

/// An account in the contract's terms (secret names only).
pub fn account_to_proto(registry: &super::Registry, account: &Account) -> v1::ChannelAccount {
    v1::ChannelAccount {
        id: account.id.clone(),
        app: registry.app(&account.app_id).map(|app| app.name.clone()).unwrap_or_default(),
        channel: account.channel.into(),
        platform_account_id: account.platform_account_id.clone(),
        display_name: account.display_name.clone(),
        enabled: account.enabled,
        is_default: account.is_default,
        hours: account.hours.clone(),
        public_quota: quota_to_proto(account.quotas.public),
        private_quota: quota_to_proto(account.quotas.private),
        settings: account.settings.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        secrets: secret_names(&account.secrets),
        created_at: Some(to_timestamp(account.created_at)),
        updated_at: Some(to_timestamp(account.updated_at)),
    }
}
