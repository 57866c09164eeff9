//! `[retention]`: how long what people wrote is kept, per tenant.
//!
//! Past its retention a post's text and author are anonymised by ingest's retention job (the
//! row stays, so counts and reports over old periods still add up); the events that carried it
//! go from the streams with it (see [`crate::erasure`]). Zero keeps everything for ever, the
//! default: a tenant's data-protection policy decides, not Tend.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tend_kernel::TenantId;
use tend_kernel::config::{ConfigError, Validate};

/// `[retention]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionConfig {
    /// How long posts and messages are kept whole, counted from when Tend received them; then
    /// their text, author and raw payload are anonymised. `0s`: for ever.
    #[serde(with = "humantime_serde")]
    pub interactions: Duration,
    /// Per tenant, instead of the above: `[retention.tenants.acme] interactions = "365d"`.
    pub tenants: BTreeMap<String, TenantRetention>,
    /// How often the retention job looks for what has expired.
    #[serde(with = "humantime_serde")]
    pub every: Duration,
}

/// One tenant's retention.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantRetention {
    /// As `retention.interactions`, for this tenant.
    #[serde(with = "humantime_serde")]
    pub interactions: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self { interactions: Duration::ZERO, tenants: BTreeMap::new(), every: Duration::from_secs(3600) }
    }
}

impl RetentionConfig {
    /// How long `tenant`'s interactions are kept whole; `None`: for ever.
    pub fn interactions_of(&self, tenant: &str) -> Option<Duration> {
        let kept = self.tenants.get(tenant).map_or(self.interactions, |own| own.interactions);
        (!kept.is_zero()).then_some(kept)
    }

    /// Whether any tenant has a retention at all (the job has nothing to do otherwise).
    pub fn is_enabled(&self) -> bool {
        !self.interactions.is_zero() || self.tenants.values().any(|own| !own.interactions.is_zero())
    }
}

impl Validate for RetentionConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        for tenant in self.tenants.keys() {
            TenantId::parse(tenant).map_err(|problem| ConfigError::invalid("retention.tenants", problem))?;
        }
        let short = |kept: Duration| !kept.is_zero() && kept < Duration::from_secs(3600);
        if short(self.interactions) || self.tenants.values().any(|own| short(own.interactions)) {
            return Err(ConfigError::invalid(
                "retention.interactions",
                "must be 0s (for ever) or at least 1h: cases open on posts for days",
            ));
        }
        if self.every < Duration::from_secs(1) {
            return Err(ConfigError::invalid("retention.every", "must be at least 1s"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_of_its_own_wins_and_zero_is_for_ever() {
        let days = |days: u64| Duration::from_secs(days * 86_400);
        let config = RetentionConfig {
            interactions: days(730),
            tenants: [("acme", days(365)), ("globex", Duration::ZERO)]
                .into_iter()
                .map(|(tenant, interactions)| (tenant.to_owned(), TenantRetention { interactions }))
                .collect(),
            ..RetentionConfig::default()
        };
        config.validate().unwrap();
        assert_eq!(config.interactions_of("acme"), Some(Duration::from_secs(365 * 86_400)));
        assert_eq!(config.interactions_of("initech"), Some(Duration::from_secs(730 * 86_400)));
        assert_eq!(config.interactions_of("globex"), None);
        assert!(RetentionConfig::default().interactions_of("acme").is_none());
        assert!(!RetentionConfig::default().is_enabled());
    }

    #[test]
    fn bad_settings_are_named() {
        let mut config = RetentionConfig { interactions: Duration::from_secs(60), ..RetentionConfig::default() };
        assert!(config.validate().unwrap_err().to_string().contains("retention.interactions"));
        config.interactions = Duration::ZERO;
        config.tenants.insert("Not A Tenant".into(), TenantRetention { interactions: Duration::ZERO });
        assert!(config.validate().unwrap_err().to_string().contains("retention.tenants"));
    }
}
