//! The ingest service: every post and message enters Tend here.
//!
//! Posts are validated, normalised, enriched (language, sentiment, intents, topics, a
//! near-duplicate signature: see `tend-text`), deduplicated on (tenant, channel, channel id),
//! stored, and announced on `interactions.received` through the outbox, in one transaction. The
//! enrichment service lets a tenant teach enrichment its topics and train its classifiers. When a customer
//! is forgotten (`customers.erased`), the interactions of their profiles are anonymised.

mod api;
mod consumer;
mod domain;
mod enrich;
mod enrichment_api;
mod storage;
mod teach;

use std::sync::Arc;

use tend_kernel::component::{BackgroundTask, Component};
use tend_kernel::server::GrpcServer;
use tend_proto::v1::enrichment_service_server::EnrichmentServiceServer;
use tend_proto::v1::ingest_service_server::{IngestService, IngestServiceServer};
use tend_queue::Consumer;
use tend_store::events::streams;
use tend_store::{OutboxRelay, ServiceContext, consumer_tasks, relay_task};
use tokio_util::sync::CancellationToken;

pub use api::IngestApi;
pub use enrich::to_proto as enrichment_to_proto;
pub use enrichment_api::EnrichmentApi;
pub use storage::Migrator;

/// The service's name: its schema, SQLite file and consumer group.
pub const SERVICE: &str = "ingest";

/// The ingest service, built and ready to run.
pub struct Ingest {
    api: Arc<IngestApi>,
    enrichment: Arc<EnrichmentApi>,
    relay: OutboxRelay,
    consumers: Vec<Consumer>,
    max_request_bytes: usize,
}

impl Ingest {
    /// Connects to the service's database (migrating it) and prepares the API, the relay and the
    /// consumer of `customers.erased`.
    pub async fn build(context: &ServiceContext) -> Result<Self, tend_store::Error> {
        let db = context.database::<Migrator>(SERVICE).await?;
        let relay = context.relay(db.clone());
        let handler = Arc::new(consumer::EraseAuthors);
        let consumers = context.consumers(streams::CUSTOMERS_ERASED, SERVICE, handler, &db, &relay.waker());
        let analyzers = Arc::new(enrich::Analyzers::new(db.clone()));
        let enrichment = Arc::new(EnrichmentApi::new(db.clone(), analyzers.clone()));
        let api = Arc::new(IngestApi::new(db, relay.waker(), analyzers));
        Ok(Self { api, enrichment, relay, consumers, max_request_bytes: context.max_request_bytes })
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
    }

    fn background(self: Box<Self>, shutdown: CancellationToken) -> Vec<BackgroundTask> {
        let Ingest { relay, consumers, .. } = *self;
        let mut tasks = consumer_tasks(consumers, &shutdown);
        tasks.push(relay_task(relay, shutdown));
        tasks
    }
}
