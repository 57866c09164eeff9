//! The ingest service: every post and message enters Tend here.
//!
//! Posts are validated, normalised, enriched (language, sentiment, intents, topics, a
//! near-duplicate signature: see `tend-text`), deduplicated on (tenant, channel, channel id),
//! stored, and announced on `interactions.received` through the outbox, in one transaction. The
//! enrichment service lets a tenant teach enrichment its topics and train its classifiers. When a customer
//! is forgotten (`customers.erased`), the interactions of their profiles are anonymised.

mod api;
mod channels_api;
mod config;
mod consumer;
mod domain;
mod enrich;
mod enrichment_api;
mod export;
mod lookups;
mod mail;
mod mentions;
mod metrics;
mod platform_http;
mod pollers;
mod posts;
pub mod registry;
mod replies;
mod retention;
mod storage;
mod teach;
mod webhooks;

use std::sync::Arc;

use tend_kernel::component::{BackgroundTask, Component};
use tend_kernel::server::GrpcServer;
use tend_proto::v1::channel_service_server::ChannelServiceServer;
use tend_proto::v1::enrichment_service_server::EnrichmentServiceServer;
use tend_proto::v1::ingest_service_server::{IngestService, IngestServiceServer};
use tend_queue::Consumer;
use tend_store::events::streams;
use tend_store::{OutboxRelay, ServiceContext, consumer_tasks, relay_task};
use tokio_util::sync::CancellationToken;

pub use api::IngestApi;
pub use channels_api::ChannelsApi;
pub use config::ChannelsConfig;
pub use enrich::to_proto as enrichment_to_proto;
pub use enrichment_api::EnrichmentApi;
pub use storage::Migrator;

/// The service's name: its schema, SQLite file and consumer group.
pub const SERVICE: &str = "ingest";

/// Why ingest could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Its storage could not be opened.
    #[error(transparent)]
    Store(#[from] tend_store::Error),
    /// The `[channels]` configuration is not usable.
    #[error(transparent)]
    Config(#[from] tend_kernel::config::ConfigError),
    /// The registry could not be loaded.
    #[error("cannot load the channel registry: {0}")]
    Registry(tend_kernel::ApiError),
    /// The HTTP client for platform APIs could not be made.
    #[error("cannot make the HTTP client for platform APIs: {0}")]
    Http(String),
}

/// The ingest service, built and ready to run.
pub struct Ingest {
    api: Arc<IngestApi>,
    enrichment: Arc<EnrichmentApi>,
    channels_api: Arc<ChannelsApi>,
    posts: Arc<posts::Posts>,
    lookups: Arc<lookups::Lookups>,
    channels: Arc<registry::Channels>,
    worker: replies::Worker,
    relay: OutboxRelay,
    consumers: Vec<Consumer>,
    max_request_bytes: usize,
    config: ChannelsConfig,
    retention: retention::Retention,
    instance: String,
    clock: Arc<dyn tend_kernel::ids::Clock>,
}

impl Ingest {
    /// Connects to the service's database (migrating it), loads the channel registry and
    /// prepares the APIs, the webhooks, the relay, the reply worker and the consumers of
    /// `customers.erased` and `replies.requested`.
    pub async fn build(context: &ServiceContext, config: &ChannelsConfig) -> Result<Self, BuildError> {
        let db = context.database::<Migrator>(SERVICE).await?;
        let relay = context.relay(db.clone());
        let secrets = registry::SecretBox::new(&config.secrets_key)?;
        let channels = registry::Channels::load(db.clone(), secrets).await.map_err(BuildError::Registry)?;
        let wake = Arc::new(tokio::sync::Notify::new());
        let mut consumers = context.consumers(
            streams::CUSTOMERS_ERASED,
            SERVICE,
            Arc::new(consumer::EraseAuthors),
            &db,
            &relay.waker(),
        );
        let requests = Arc::new(replies::RequestReplies { wake: wake.clone(), channels: channels.clone() });
        consumers.extend(context.consumers(streams::REPLIES_REQUESTED, SERVICE, requests, &db, &relay.waker()));
        let http = platform_http::platform_client(config.request_timeout)
            .map_err(|error| BuildError::Http(error.to_string()))?;
        let worker = replies::Worker::new(db.clone(), channels.clone(), relay.waker(), wake, http.clone(), config);
        let lookups = Arc::new(lookups::Lookups::new(http, &config.meta_api_base));
        let analyzers = Arc::new(enrich::Analyzers::new(db.clone()));
        let enrichment = Arc::new(EnrichmentApi::new(db.clone(), analyzers.clone()));
        let posts =
            Arc::new(posts::Posts::new(db.clone(), relay.waker(), analyzers, channels.clone(), context.clock.clone()));
        let api = Arc::new(IngestApi::new(posts.clone()));
        let retention = retention::Retention::new(db.clone(), context.retention.clone(), relay.waker());
        let channels_api = Arc::new(ChannelsApi::new(channels.clone(), replies::Deliveries::new(db)));
        Ok(Self {
            api,
            enrichment,
            channels_api,
            posts,
            lookups,
            channels,
            worker,
            relay,
            consumers,
            max_request_bytes: context.max_request_bytes,
            config: config.clone(),
            retention,
            instance: context.instance.clone(),
            clock: context.clock.clone(),
        })
    }

    /// The implementation, for in-process clients.
    pub fn service(&self) -> Arc<dyn IngestService> {
        self.api.clone()
    }
}

impl Component for Ingest {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn mount(&self, server: &mut GrpcServer) {
        server.add_service(
            IngestServiceServer::from_arc(self.api.clone()).max_decoding_message_size(self.max_request_bytes),
        );
        server.add_service(
            EnrichmentServiceServer::from_arc(self.enrichment.clone())
                .max_decoding_message_size(self.max_request_bytes),
        );
        server.add_service(
            ChannelServiceServer::from_arc(self.channels_api.clone()).max_decoding_message_size(self.max_request_bytes),
        );
    }

    fn http_routes(&self) -> Option<axum::Router> {
        Some(webhooks::routes(self.posts.clone(), self.lookups.clone(), &self.config))
    }

    fn background(self: Box<Self>, shutdown: CancellationToken) -> Vec<BackgroundTask> {
        let Ingest { relay, consumers, channels, worker, config, posts, retention, instance, clock, .. } = *self;
        let mut tasks = consumer_tasks(consumers, &shutdown);
        tasks.push(relay_task(relay, shutdown.clone()));
        let wanted = |posts: &Arc<posts::Posts>, config: &ChannelsConfig| {
            let mut wanted = mail::wanted_pollers(posts, config);
            wanted.extend(mentions::wanted(posts, config));
            wanted
        };
        tasks.push(Box::pin(pollers::supervise(posts, config.clone(), wanted, shutdown.clone())));
        tasks.push(Box::pin(channels.refresh(config.registry_refresh, shutdown.clone())));
        tasks.push(Box::pin(retention.run(instance, clock, shutdown.clone())));
        tasks.push(Box::pin(worker.run(shutdown)));
        tasks
    }
}
