//! The monitored-channels registry: platform apps (credentials shared by their accounts) and
//! the accounts Tend watches, each with hours and reply quotas.
//!
//! Every process keeps the whole registry in memory ([`Registry`], swapped whole on reload):
//! a webhook delivery names no tenant, only the platform's account id, and a gRPC post names its
//! account, so both are resolved without a database read. A change made through this process is
//! seen at once; one made through another replica within `channels.registry_refresh`.

mod platform;
pub mod secrets;
mod storage;
mod upsert;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prost::Message as _;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use tend_kernel::ApiError;
use tend_proto::v1;
use tend_store::DbContext as _;
use tokio_util::sync::CancellationToken;

pub use platform::{channels as platform_channels, name as platform_name, of_channel};
pub use secrets::{SecretBox, SecretError, Secrets};
pub use upsert::{
    AccountChange, account_to_proto, app_to_proto, disable_account, hours_calendar, upsert_account, upsert_app,
};

/// A platform app.
#[derive(Debug, Clone)]
pub struct App {
    /// Tend's id.
    pub id: String,
    /// Its tenant.
    pub tenant: String,
    /// Unique per tenant.
    pub name: String,
    /// The API it speaks.
    pub platform: v1::Platform,
    /// Non-secret settings.
    pub settings: BTreeMap<String, String>,
    /// Secrets as stored.
    pub secrets: Secrets,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
}

/// A reply quota as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaSpec {
    /// Replies at once.
    pub burst: u32,
    /// Refilled over this many milliseconds.
    pub per_ms: u64,
}

/// An account's quotas as stored (JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quotas {
    /// Public replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<QuotaSpec>,
    /// Private replies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<QuotaSpec>,
}

/// A monitored account.
#[derive(Debug, Clone)]
pub struct Account {
    /// Tend's id.
    pub id: String,
    /// Its tenant.
    pub tenant: String,
    /// Its app's id.
    pub app_id: String,
    /// The channel.
    pub channel: v1::Channel,
    /// The platform's id of the account.
    pub platform_account_id: String,
    /// Shown to agents.
    pub display_name: String,
    /// Whether posts are taken.
    pub enabled: bool,
    /// The tenant's default for the channel.
    pub is_default: bool,
    /// Hours of operation; `None`: around the clock.
    pub hours: Option<v1::AccountHours>,
    /// Reply quotas.
    pub quotas: Quotas,
    /// Non-secret settings.
    pub settings: BTreeMap<String, String>,
    /// The account's own secrets as stored.
    pub secrets: Secrets,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
}

impl Account {
    /// A setting, or `default`.
    pub fn setting<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        self.settings.get(name).map(String::as_str).unwrap_or(default)
    }
}

/// One snapshot of the whole registry, indexed for the look-ups ingest makes per post.
#[derive(Debug, Default)]
pub struct Registry {
    apps: HashMap<String, Arc<App>>,
    accounts: HashMap<String, Arc<Account>>,
    // Nested by the key's first part, so a look-up by borrowed strings allocates nothing (it
    // runs for every post).
    by_platform: HashMap<i32, HashMap<String, String>>,
    defaults: HashMap<String, HashMap<i32, String>>,
    registered: HashMap<String, HashSet<i32>>,
}

impl Registry {
    fn build(apps: Vec<App>, accounts: Vec<Account>) -> Self {
        let mut registry = Registry::default();
        for app in apps {
            registry.apps.insert(app.id.clone(), Arc::new(app));
        }
        for account in accounts {
            let channel = i32::from(account.channel);
            registry
                .by_platform
                .entry(channel)
                .or_default()
                .insert(account.platform_account_id.clone(), account.id.clone());
            registry.registered.entry(account.tenant.clone()).or_default().insert(channel);
            if account.is_default && account.enabled {
                registry.defaults.entry(account.tenant.clone()).or_default().insert(channel, account.id.clone());
            }
            registry.accounts.insert(account.id.clone(), Arc::new(account));
        }
        registry
    }

    /// The app with this id.
    pub fn app(&self, id: &str) -> Option<&Arc<App>> {
        self.apps.get(id)
    }

    /// The account with this id (enabled or not).
    pub fn account(&self, id: &str) -> Option<&Arc<Account>> {
        self.accounts.get(id)
    }

    /// The account with this channel and platform id (enabled or not).
    pub fn by_platform(&self, channel: v1::Channel, platform_account_id: &str) -> Option<&Arc<Account>> {
        let id = self.by_platform.get(&i32::from(channel))?.get(platform_account_id)?;
        self.accounts.get(id)
    }

    /// Every app of `platform`, of every tenant.
    pub fn apps_of(&self, platform: v1::Platform) -> Vec<&Arc<App>> {
        let mut apps: Vec<_> = self.apps.values().filter(|app| app.platform == platform).collect();
        apps.sort_by(|a, b| a.id.cmp(&b.id));
        apps
    }

    /// Every enabled account of `channel`, of every tenant.
    pub fn enabled_accounts(&self, channel: v1::Channel) -> Vec<&Arc<Account>> {
        let mut accounts: Vec<_> =
            self.accounts.values().filter(|account| account.channel == channel && account.enabled).collect();
        accounts.sort_by(|a, b| a.id.cmp(&b.id));
        accounts
    }

    /// The tenant's apps and accounts, for listing.
    pub fn of_tenant(&self, tenant: &str) -> (Vec<&Arc<App>>, Vec<&Arc<Account>>) {
        let mut apps: Vec<_> = self.apps.values().filter(|app| app.tenant == tenant).collect();
        apps.sort_by(|a, b| a.name.cmp(&b.name));
        let mut accounts: Vec<_> = self.accounts.values().filter(|account| account.tenant == tenant).collect();
        accounts.sort_by(|a, b| {
            (i32::from(a.channel), &a.platform_account_id).cmp(&(i32::from(b.channel), &b.platform_account_id))
        });
        (apps, accounts)
    }

    /// The account a gRPC post of `tenant` on `channel` is for: `named` (Tend's id or the
    /// platform account id), else the tenant's default for the channel; `None` when the tenant
    /// has no account on the channel at all (posts are then taken without one).
    pub fn account_for_post(
        &self,
        tenant: &str,
        channel: v1::Channel,
        named: &str,
    ) -> Result<Option<&Arc<Account>>, AccountRefused> {
        let named = named.trim();
        let channel_number = i32::from(channel);
        if named.is_empty() {
            if let Some(id) = self.defaults.get(tenant).and_then(|defaults| defaults.get(&channel_number)) {
                return Ok(self.accounts.get(id));
            }
            if self.registered.get(tenant).is_some_and(|channels| channels.contains(&channel_number)) {
                return Err(AccountRefused::NoDefault);
            }
            return Ok(None);
        }
        let found = self
            .accounts
            .get(named)
            .filter(|account| account.tenant == tenant && account.channel == channel)
            .or_else(|| self.by_platform(channel, named).filter(|account| account.tenant == tenant));
        match found {
            Some(account) if account.enabled => Ok(Some(account)),
            Some(_) => Err(AccountRefused::Disabled),
            None => Err(AccountRefused::Unknown),
        }
    }
}

/// Why a post's account was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountRefused {
    /// No such account of the tenant on the channel.
    Unknown,
    /// The account is disabled.
    Disabled,
    /// The post names no account, the tenant has accounts on the channel and none is default.
    NoDefault,
}

impl AccountRefused {
    /// The label counted in metrics.
    pub fn label(self) -> &'static str {
        match self {
            AccountRefused::Unknown => "unknown_account",
            AccountRefused::Disabled => "disabled_account",
            AccountRefused::NoDefault => "no_default_account",
        }
    }

    /// The gRPC answer for a post naming `named`.
    pub fn to_api_error(self, named: &str) -> ApiError {
        match self {
            AccountRefused::Unknown => ApiError::not_found("account", named),
            AccountRefused::Disabled => ApiError::not_found("enabled account", named),
            AccountRefused::NoDefault => ApiError::invalid(
                "account",
                "is required: the tenant has accounts on this channel and none is marked default \
                 (name one, or mark one default with UpsertAccount is_default)",
            ),
        }
    }
}

/// The registry of this process: the current snapshot, the database it comes from, and the
/// key that opens stored secrets.
pub struct Channels {
    db: DatabaseConnection,
    secrets: SecretBox,
    current: RwLock<Arc<Registry>>,
    /// Held across a reload's read and swap, so a reload that read before a commit cannot
    /// swap in after one that read after it.
    reloading: tokio::sync::Mutex<()>,
}

impl Channels {
    /// Loads the registry from `db`.
    pub async fn load(db: DatabaseConnection, secrets: SecretBox) -> Result<Arc<Self>, ApiError> {
        let channels = Arc::new(Self {
            db,
            secrets,
            current: RwLock::new(Arc::new(Registry::default())),
            reloading: tokio::sync::Mutex::new(()),
        });
        channels.reload().await?;
        Ok(channels)
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Registry> {
        match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The database.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The key for stored secrets.
    pub fn secret_box(&self) -> &SecretBox {
        &self.secrets
    }

    /// Reads the registry again and swaps it in.
    pub async fn reload(&self) -> Result<(), ApiError> {
        let _one_at_a_time = self.reloading.lock().await;
        let (apps, accounts) = storage::load_all(&self.db).await.context("reading the channel registry")?;
        let apps = apps.into_iter().map(app_of_row).collect::<Result<Vec<_>, _>>()?;
        let accounts = accounts.into_iter().map(account_of_row).collect::<Result<Vec<_>, _>>()?;
        let registry = Arc::new(Registry::build(apps, accounts));
        match self.current.write() {
            Ok(mut current) => *current = registry,
            Err(poisoned) => *poisoned.into_inner() = registry,
        }
        Ok(())
    }

    /// The secret `name` of `account`, or of its app when the account has none: `None` when
    /// neither has it set.
    pub fn secret(&self, account: &Account, name: &str) -> Result<Option<String>, SecretError> {
        if let Some(stored) = account.secrets.get(name) {
            return self.secrets.open(name, stored).map(Some);
        }
        let registry = self.snapshot();
        match registry.app(&account.app_id).and_then(|app| app.secrets.get(name)) {
            Some(stored) => self.secrets.open(name, stored).map(Some),
            None => Ok(None),
        }
    }

    /// The secret `name` of `app`, `None` when unset.
    pub fn app_secret(&self, app: &App, name: &str) -> Result<Option<String>, SecretError> {
        app.secrets.get(name).map(|stored| self.secrets.open(name, stored)).transpose()
    }

    /// Reloads every `every` until `shutdown`, so changes made through other replicas arrive.
    pub async fn refresh(self: Arc<Self>, every: Duration, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {
                    if let Err(error) = self.reload().await {
                        tracing::warn!(%error, "cannot reload the channel registry; keeping the last one");
                    }
                }
            }
        }
    }
}

fn json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, ApiError> {
    serde_json::from_str(text).map_err(|error| ApiError::internal(format!("stored {what} do not parse: {error}")))
}

pub(super) fn app_of_row(row: storage::app::Model) -> Result<App, ApiError> {
    Ok(App {
        platform: v1::Platform::try_from(row.platform).unwrap_or(v1::Platform::Unspecified),
        settings: json("app settings", &row.settings)?,
        secrets: json("app secrets", &row.secrets)?,
        id: row.id,
        tenant: row.tenant,
        name: row.name,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn account_of_row(row: storage::account::Model) -> Result<Account, ApiError> {
    let hours = match &row.hours {
        Some(bytes) => Some(
            v1::AccountHours::decode(bytes.as_slice())
                .map_err(|error| ApiError::internal(format!("stored account hours do not decode: {error}")))?,
        ),
        None => None,
    };
    Ok(Account {
        channel: v1::Channel::try_from(row.channel).unwrap_or(v1::Channel::Unspecified),
        quotas: json("account quotas", &row.quotas)?,
        settings: json("account settings", &row.settings)?,
        secrets: json("account secrets", &row.secrets)?,
        hours,
        id: row.id,
        tenant: row.tenant,
        app_id: row.app_id,
        platform_account_id: row.platform_account_id,
        display_name: row.display_name,
        enabled: row.enabled,
        is_default: row.is_default,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
