//! `[channels]`: how ingest talks to the platforms.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tend_channels::Channel;
use tend_channels::outbound::{Quota, ReplyKind};
use tend_kernel::config::{ConfigError, Validate, check_optional_url};

/// `[channels]`: secrets, webhook limits, platform API addresses and reply delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ChannelsConfig {
    /// The key that encrypts secrets given by value: base64 of 32 random bytes
    /// (`openssl rand -base64 32`), or a reference to it (`env:NAME`, `file:/path`). Empty:
    /// secrets can only be given as references.
    pub secrets_key: String,
    /// How often each process reads the registry again, to see changes made through others.
    #[serde(with = "humantime_serde")]
    pub registry_refresh: Duration,
    /// Largest webhook body accepted (bigger: 413).
    pub max_webhook_bytes: usize,
    /// Largest raw email accepted by `/webhooks/email/{account}` (bigger: 413).
    pub max_email_bytes: usize,
    /// How old a generic webhook's signature timestamp may be (older or as far ahead: 401).
    #[serde(with = "humantime_serde")]
    pub replay_window: Duration,
    /// The X API's base URL (tests point it at a fake).
    pub x_api_base: String,
    /// The Meta Graph API's base URL, with its version.
    pub meta_api_base: String,
    /// How long one platform API call may take.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Attempts at a reply before it is reported failed.
    pub max_attempts: u32,
    /// The first retry's delay; each next one doubles, up to `retry_max`.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    /// The longest delay between retries.
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
    /// How often the delivery worker looks for due replies when nothing wakes it.
    #[serde(with = "humantime_serde")]
    pub delivery_poll: Duration,
    /// Default interval between polls of a mailbox or of X mentions.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Reply quotas for accounts that set none, as `REPLIES/PERIOD` by `channel_kind`:
    /// `x_public`, `x_private`, `facebook_public`, `facebook_private`, `instagram_public`,
    /// `instagram_private`, `chat`, `review`, `email`. Unset ones keep the built-in defaults
    /// (docs/CHANNELS.md), e.g. `x_public = "100/15m"`.
    pub default_quotas: BTreeMap<String, String>,
}

/// The keys of `channels.default_quotas`.
const QUOTA_KEYS: [&str; 9] = [
    "x_public",
    "x_private",
    "facebook_public",
    "facebook_private",
    "instagram_public",
    "instagram_private",
    "chat",
    "review",
    "email",
];

impl ChannelsConfig {
    /// The configured default quota of `channel` and `kind`, if one is set (checked by
    /// [`Validate`]).
    pub fn default_quota(&self, channel: Channel, kind: ReplyKind) -> Option<Quota> {
        let name = match channel {
            Channel::X => "x",
            Channel::Facebook => "facebook",
            Channel::Instagram => "instagram",
            Channel::Chat => return self.default_quotas.get("chat").and_then(|q| Quota::parse(q).ok()),
            Channel::Review => return self.default_quotas.get("review").and_then(|q| Quota::parse(q).ok()),
            Channel::Email => return self.default_quotas.get("email").and_then(|q| Quota::parse(q).ok()),
        };
        let kind = if kind == ReplyKind::Private { "private" } else { "public" };
        self.default_quotas.get(&format!("{name}_{kind}")).and_then(|q| Quota::parse(q).ok())
    }
}

impl Default for ChannelsConfig {
    fn default() -> Self {
        Self {
            secrets_key: String::new(),
            registry_refresh: Duration::from_secs(5),
            max_webhook_bytes: 1024 * 1024,
            max_email_bytes: tend_channels::email::MAX_RAW_BYTES,
            replay_window: tend_channels::signature::DEFAULT_REPLAY_WINDOW,
            x_api_base: tend_channels::outbound::DEFAULT_X_BASE.to_owned(),
            meta_api_base: tend_channels::outbound::DEFAULT_META_BASE.to_owned(),
            request_timeout: Duration::from_secs(10),
            max_attempts: 8,
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(600),
            delivery_poll: Duration::from_secs(1),
            poll_interval: Duration::from_secs(60),
            default_quotas: BTreeMap::new(),
        }
    }
}

impl Validate for ChannelsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        crate::registry::SecretBox::new(&self.secrets_key)?;
        let positive = [
            ("channels.registry_refresh", self.registry_refresh),
            ("channels.replay_window", self.replay_window),
            ("channels.request_timeout", self.request_timeout),
            ("channels.retry_base", self.retry_base),
            ("channels.retry_max", self.retry_max),
            ("channels.delivery_poll", self.delivery_poll),
            ("channels.poll_interval", self.poll_interval),
        ];
        for (key, value) in positive {
            if value.is_zero() {
                return Err(ConfigError::invalid(key, "must be longer than 0s"));
            }
        }
        if self.max_webhook_bytes < 1024 || self.max_email_bytes < 1024 {
            return Err(ConfigError::invalid(
                "channels.max_webhook_bytes",
                "and max_email_bytes must be at least 1024",
            ));
        }
        for (key, quota) in &self.default_quotas {
            if !QUOTA_KEYS.contains(&key.as_str()) {
                return Err(ConfigError::invalid(
                    format!("channels.default_quotas.{key}"),
                    format!("is not a channel and kind; use one of {}", QUOTA_KEYS.join(", ")),
                ));
            }
            Quota::parse(quota)
                .map_err(|problem| ConfigError::invalid(format!("channels.default_quotas.{key}"), problem))?;
        }
        if self.max_attempts == 0 {
            return Err(ConfigError::invalid("channels.max_attempts", "must be at least 1"));
        }
        check_optional_url("channels.x_api_base", &self.x_api_base, &["http://", "https://"], "https://api.x.com")?;
        check_optional_url(
            "channels.meta_api_base",
            &self.meta_api_base,
            &["http://", "https://"],
            "https://graph.facebook.com/v21.0",
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn default_quotas_are_checked_and_found_by_channel_and_kind() {
        let mut config = ChannelsConfig::default();
        config.default_quotas.insert("x_public".into(), "5/1m".into());
        config.default_quotas.insert("chat".into(), "2/1s".into());
        config.validate().unwrap();
        let x = config.default_quota(Channel::X, ReplyKind::Public).unwrap();
        assert_eq!((x.burst(), x.per()), (5, Duration::from_secs(60)));
        assert!(config.default_quota(Channel::X, ReplyKind::Private).is_none());
        assert_eq!(config.default_quota(Channel::Chat, ReplyKind::Private).unwrap().burst(), 2);

        config.default_quotas.insert("x_publik".into(), "5/1m".into());
        assert!(config.validate().unwrap_err().to_string().contains("channels.default_quotas.x_publik"));
        config.default_quotas.remove("x_publik");
        config.default_quotas.insert("x_private".into(), "0/1m".into());
        assert!(config.validate().unwrap_err().to_string().contains("x_private"));
    }
}
