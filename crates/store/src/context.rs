//! What every service is built from: its storage settings, the event stream, and how to
//! consume.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use serde::{Deserialize, Serialize};
use tend_kernel::config::{ConfigError, Validate, check_optional_url};
use tend_queue::{Consumer, ConsumerOptions, EventStream};

use crate::events::{EnvelopeHandler, EventHandler};
use crate::{Error, OutboxRelay, StoreConfig};

/// `[stream]`: the event stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamConfig {
    /// `redis://host:6379` to use Redis Streams; empty uses the in-process stream persisted in
    /// `{storage.data_dir}/streams.db`.
    pub redis_url: String,
    /// Prefix of every Redis key, so several deployments can share one Redis.
    pub key_prefix: String,
    /// An event delivered this many times without success goes to the dead-letter stream.
    pub max_deliveries: u32,
    /// A delivery unacknowledged for this long is taken over by another consumer (its consumer
    /// is presumed dead).
    #[serde(with = "humantime_serde")]
    pub reclaim_after: Duration,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            redis_url: String::new(),
            key_prefix: "tend:".to_owned(),
            max_deliveries: 5,
            reclaim_after: Duration::from_secs(30),
        }
    }
}

impl Validate for StreamConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        check_optional_url("stream.redis_url", &self.redis_url, &["redis://", "rediss://"], "redis://redis:6379")?;
        if self.max_deliveries == 0 {
            return Err(ConfigError::invalid("stream.max_deliveries", "must be at least 1"));
        }
        if self.reclaim_after < Duration::from_millis(100) {
            return Err(ConfigError::invalid("stream.reclaim_after", "must be at least 100ms"));
        }
        Ok(())
    }
}

/// Shared settings and handles a service is built from.
#[derive(Clone)]
pub struct ServiceContext {
    /// Where the service's database is.
    pub store: StoreConfig,
    /// The event stream.
    pub stream: Arc<dyn EventStream>,
    /// How to consume.
    pub stream_config: StreamConfig,
    /// Largest request message, in bytes (from `[server]`).
    pub max_request_bytes: usize,
    /// This process's name among the consumers of a group (pod name in Kubernetes).
    pub instance: String,
}

impl ServiceContext {
    /// A context; `instance` defaults to `$HOSTNAME-<pid>`.
    pub fn new(
        store: StoreConfig,
        stream: Arc<dyn EventStream>,
        stream_config: StreamConfig,
        max_request_bytes: usize,
    ) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "tend".to_owned());
        Self { store, stream, stream_config, max_request_bytes, instance: format!("{host}-{}", std::process::id()) }
    }

    /// Connects `service` to its database and, unless `storage.migrate_on_start` is off, applies
    /// its migrations `M`.
    pub async fn database<M: MigratorTrait>(&self, service: &str) -> Result<DatabaseConnection, Error> {
        let db = crate::connect(&self.store, service).await?;
        if self.store.migrate_on_start {
            crate::migration::run::<M>(&db, service).await?;
        }
        Ok(db)
    }

    /// A relay of `db`'s outbox to the stream.
    pub fn relay(&self, db: DatabaseConnection) -> OutboxRelay {
        OutboxRelay::new(db, self.stream.clone())
    }

    /// A consumer of `stream` in consumer group `group` (by convention, the consuming service's
    /// name), handing envelopes to `handler`.
    pub fn consumer<H: EventHandler>(&self, stream: &str, group: &'static str, handler: Arc<H>) -> Consumer {
        let mut options = ConsumerOptions::new(stream, group, &self.instance);
        options.max_deliveries = self.stream_config.max_deliveries;
        options.reclaim_idle = self.stream_config.reclaim_after;
        Consumer::new(self.stream.clone(), options, Arc::new(EnvelopeHandler::new(group, handler)))
    }
}

/// A background task running `consumer` until `shutdown`, logging if it stops on an error.
pub fn consumer_task(
    consumer: Consumer,
    shutdown: tokio_util::sync::CancellationToken,
) -> tend_kernel::component::BackgroundTask {
    Box::pin(async move {
        if let Err(error) = consumer.run(shutdown).await {
            tracing::error!(%error, "event consumer stopped");
        }
    })
}

/// A background task running `relay` until `shutdown`.
pub fn relay_task(
    relay: OutboxRelay,
    shutdown: tokio_util::sync::CancellationToken,
) -> tend_kernel::component::BackgroundTask {
    Box::pin(relay.run(shutdown))
}
