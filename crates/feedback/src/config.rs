//! `[feedback]`: how survey links are signed, where they point and how long they work.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tend_kernel::config::{ConfigError, Validate};

/// Fewest bytes of secret a survey token is signed with.
pub const MIN_SECRET_BYTES: usize = 32;

/// `[feedback]` in the configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct FeedbackConfig {
    /// The secret survey and testimonial links are signed with (HMAC-SHA256): at least 32 bytes
    /// (`openssl rand -base64 32`), or `env:NAME` / `file:/path` naming where it is. The same on
    /// every replica; changing it voids every link sent. Required by `tend serve`; `tend dev`
    /// makes one in its data directory; empty in a library build (tests): a random one per
    /// process.
    pub token_secret: String,
    /// The survey page's address, with `{token}` where the link's token goes; a template may
    /// name its own.
    pub survey_url: String,
    /// How long a survey link works after it is sent.
    #[serde(with = "humantime_serde")]
    pub survey_expires_after: Duration,
}

impl Default for FeedbackConfig {
    fn default() -> Self {
        Self {
            token_secret: String::new(),
            survey_url: "http://localhost:8080/survey?token={token}".to_owned(),
            survey_expires_after: Duration::from_secs(14 * 24 * 3600),
        }
    }
}

impl FeedbackConfig {
    /// The secret's bytes: the setting itself, or what its `env:` / `file:` reference holds.
    /// `None` when not set.
    pub fn secret(&self) -> Result<Option<Vec<u8>>, ConfigError> {
        const KEY: &str = "feedback.token_secret";
        let setting = self.token_secret.trim();
        if setting.is_empty() {
            return Ok(None);
        }
        let value = if let Some(var) = setting.strip_prefix("env:") {
            std::env::var(var)
                .map_err(|_| ConfigError::invalid(KEY, format!("environment variable {var} is not set")))?
        } else if let Some(path) = setting.strip_prefix("file:") {
            std::fs::read_to_string(path)
                .map_err(|error| ConfigError::invalid(KEY, format!("cannot read {path}: {error}")))?
        } else {
            setting.to_owned()
        };
        let value = value.trim();
        if value.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::invalid(
                KEY,
                format!("is {} bytes; it must be at least {MIN_SECRET_BYTES} (openssl rand -base64 32)", value.len()),
            ));
        }
        Ok(Some(value.as_bytes().to_vec()))
    }
}

/// Checks a survey page address: http(s), at most 512 bytes, with `{token}` in it.
pub fn check_survey_url(url: &str) -> Result<(), String> {
    if url.len() > 512 {
        return Err("must be at most 512 bytes".into());
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err("must start with https:// (or http://)".into());
    }
    if !url.contains("{token}") {
        return Err("must contain {token} where the link's token goes".into());
    }
    Ok(())
}

impl Validate for FeedbackConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        self.secret()?;
        check_survey_url(&self.survey_url).map_err(|problem| ConfigError::invalid("feedback.survey_url", problem))?;
        if !(Duration::from_secs(3600)..=Duration::from_secs(365 * 24 * 3600)).contains(&self.survey_expires_after) {
            return Err(ConfigError::invalid("feedback.survey_expires_after", "must be between 1h and 365d"));
        }
        Ok(())
    }
}
