//! What every service is built from: its storage settings, the event stream, and how to
//! consume.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait;
use serde::{Deserialize, Serialize};
use tend_kernel::config::{ConfigError, Validate, check_optional_url};
use tend_kernel::ids::{Clock, SystemClock};
use tend_queue::{Consumer, ConsumerOptions, EventStream};

use crate::consume::{BatchConsumer, EventHandler};
use crate::{Error, OutboxRelay, OutboxWaker, StoreConfig};

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
    /// The largest batch of events a consumer handles in one transaction.
    pub batch_size: usize,
    /// How long a consumer that found fewer than `batch_size` events keeps reading for more
    /// before handling them (`0s`: handle what is there; under load, batches fill anyway).
    #[serde(with = "humantime_serde")]
    pub batch_linger: Duration,
    /// Consumers per consumer group in this process (each handles its own batches, so a slow
    /// stage can use more than one core or database connection).
    pub consumers: usize,
    /// Overrides `consumers` for some groups, e.g. `{ identity = 2 }`.
    pub consumers_by_group: BTreeMap<String, usize>,
    /// This process's name among the consumers of each group and the holders of leases;
    /// empty: `$HOSTNAME-<pid>` (the pod name in Kubernetes). Two processes must not share one.
    pub instance: String,
    /// How long entries stay on a stream: older ones that every consumer group has
    /// acknowledged are trimmed (dead letters included), so that the streams do not keep
    /// everyone's posts forever.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// How often the stream janitor trims to `retention` and removes the entries of erased
    /// customers (`tend_store::erasure`).
    #[serde(with = "humantime_serde")]
    pub janitor_every: Duration,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            redis_url: String::new(),
            key_prefix: "tend:".to_owned(),
            max_deliveries: 5,
            reclaim_after: Duration::from_secs(30),
            batch_size: 1_000,
            batch_linger: Duration::ZERO,
            consumers: 1,
            consumers_by_group: BTreeMap::new(),
            instance: String::new(),
            retention: Duration::from_secs(7 * 24 * 3600),
            janitor_every: Duration::from_secs(60),
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
        if !(1..=10_000).contains(&self.batch_size) {
            return Err(ConfigError::invalid("stream.batch_size", "must be between 1 and 10000"));
        }
        if self.batch_linger > Duration::from_secs(1) {
            return Err(ConfigError::invalid("stream.batch_linger", "must be at most 1s"));
        }
        if !(1..=64).contains(&self.consumers) {
            return Err(ConfigError::invalid("stream.consumers", "must be between 1 and 64"));
        }
        if self.retention < Duration::from_secs(60) {
            return Err(ConfigError::invalid("stream.retention", "must be at least 1m (e.g. \"7d\")"));
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(3600)).contains(&self.janitor_every) {
            return Err(ConfigError::invalid("stream.janitor_every", "must be between 100ms and 1h"));
        }
        for (group, count) in &self.consumers_by_group {
            if !(1..=64).contains(count) {
                return Err(ConfigError::invalid(
                    "stream.consumers_by_group",
                    format!("{group}: must be between 1 and 64"),
                ));
            }
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
    /// The clock timers and stamps are read on (the system's; tests move theirs ahead).
    pub clock: Arc<dyn Clock>,
    /// How long what people wrote is kept (`[retention]`).
    pub retention: crate::RetentionConfig,
}

impl ServiceContext {
    /// A context; `instance` is `stream.instance`, by default `$HOSTNAME-<pid>`.
    pub fn new(
        store: StoreConfig,
        stream: Arc<dyn EventStream>,
        stream_config: StreamConfig,
        max_request_bytes: usize,
    ) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "tend".to_owned());
        let instance = match stream_config.instance.trim() {
            "" => format!("{host}-{}", std::process::id()),
            named => named.to_owned(),
        };
        Self {
            store,
            stream,
            stream_config,
            max_request_bytes,
            instance,
            clock: Arc::new(SystemClock),
            retention: crate::RetentionConfig::default(),
        }
    }

    /// The same context with `retention`.
    #[must_use]
    pub fn with_retention(mut self, retention: crate::RetentionConfig) -> Self {
        self.retention = retention;
        self
    }

    /// The same context on `clock`.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
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

    /// The janitor of the stream: retention and erasure (`tend_store::erasure`).
    pub fn janitor(&self) -> crate::erasure::StreamJanitor {
        let options = crate::erasure::JanitorOptions {
            retention: self.stream_config.retention,
            every: self.stream_config.janitor_every,
        };
        crate::erasure::StreamJanitor::new(self.stream.clone(), options)
    }

    /// A relay of `db`'s outbox to the stream.
    pub fn relay(&self, db: DatabaseConnection) -> OutboxRelay {
        OutboxRelay::new(db, self.stream.clone())
    }

    /// The consumers of `stream` for `service` (its consumer group and inbox name): as many as
    /// `stream.consumers` (or `stream.consumers_by_group`) says, each running `handler` on the
    /// [`BatchConsumer`] skeleton over `db`, waking `waker` when they publish.
    pub fn consumers<H: EventHandler>(
        &self,
        stream: &str,
        service: &'static str,
        handler: Arc<H>,
        db: &DatabaseConnection,
        waker: &OutboxWaker,
    ) -> Vec<Consumer> {
        let config = &self.stream_config;
        let count = config.consumers_by_group.get(service).copied().unwrap_or(config.consumers).max(1);
        let batch = Arc::new(BatchConsumer::new(handler, db.clone(), waker.clone(), service, service));
        (0..count)
            .map(|index| {
                let name = if index == 0 { self.instance.clone() } else { format!("{}-{index}", self.instance) };
                let mut options = ConsumerOptions::new(stream, service, name);
                options.max_deliveries = config.max_deliveries;
                options.reclaim_idle = config.reclaim_after;
                options.batch_size = config.batch_size;
                options.batch_linger = config.batch_linger;
                Consumer::batched(self.stream.clone(), options, batch.clone())
            })
            .collect()
    }
}

/// Background tasks running each of `consumers` until `shutdown`, logging if one stops on an
/// error.
pub fn consumer_tasks(
    consumers: Vec<Consumer>,
    shutdown: &tokio_util::sync::CancellationToken,
) -> Vec<tend_kernel::component::BackgroundTask> {
    consumers.into_iter().map(|consumer| consumer_task(consumer, shutdown.clone())).collect()
}

/// A background task running `consumer` until `shutdown`, logging if it stops on an error.
fn consumer_task(
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
