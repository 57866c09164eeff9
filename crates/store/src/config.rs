use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tend_kernel::config::{ConfigError, Validate, check_optional_url};

/// `[storage]`: where services keep their data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreConfig {
    /// Directory for the embedded default: one SQLite file per service (`ingest.db`, …) and the
    /// in-process event stream (`streams.db`). Created if missing.
    pub data_dir: PathBuf,
    /// `postgres://user:password@host:5432/database` to use PostgreSQL, where each service keeps
    /// its tables in a schema named after it. Empty uses SQLite files under `data_dir`.
    /// `sqlite::memory:` keeps everything in memory (tests).
    pub database_url: String,
    /// Apply pending migrations when a service starts. Turn off where a separate `tend migrate`
    /// job owns schema changes.
    pub migrate_on_start: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { data_dir: PathBuf::from("tend-data"), database_url: String::new(), migrate_on_start: true }
    }
}

impl Validate for StoreConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        check_optional_url(
            "storage.database_url",
            &self.database_url,
            &["postgres://", "postgresql://", "sqlite:"],
            "postgres://tend@db:5432/tend (empty: SQLite files under storage.data_dir)",
        )?;
        if self.database_url.is_empty() && self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::invalid("storage.data_dir", "must not be empty when storage.database_url is"));
        }
        Ok(())
    }
}

impl StoreConfig {
    /// Whether this configuration uses PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }
}
