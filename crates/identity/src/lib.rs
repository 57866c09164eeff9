//! The identity service: who wrote each interaction.
//!
//! This first slice keeps a profile per channel author (consuming `interactions.received`) and
//! publishes `interactions.identified` for every interaction; linking profiles to CRM customers
//! builds on it.

mod api;
mod consumer;
mod customers;
mod domain;
mod linking;
mod matcher;
mod normalize;
mod people;
mod storage;

use std::sync::Arc;

use tend_kernel::component::{BackgroundTask, Component};
use tend_kernel::server::GrpcServer;
use tend_proto::v1::identity_service_server::{IdentityService, IdentityServiceServer};
use tend_queue::Consumer;
use tend_store::events::streams;
use tend_store::{OutboxRelay, ServiceContext, consumer_task, relay_task};
use tokio_util::sync::CancellationToken;

pub use api::IdentityApi;
pub use storage::Migrator;

/// The service's name: its schema, SQLite file and consumer group.
pub const SERVICE: &str = "identity";

/// The identity service, built and ready to run.
pub struct Identity {
    api: Arc<IdentityApi>,
    relay: OutboxRelay,
    consumer: Consumer,
    max_request_bytes: usize,
}

impl Identity {
    /// Connects to the service's database (migrating it) and prepares the API, the relay and the
    /// consumer of `interactions.received`.
    pub async fn build(context: &ServiceContext) -> Result<Self, tend_store::Error> {
        let db = context.database::<Migrator>(SERVICE).await?;
        let relay = context.relay(db.clone());
        let matchers = Arc::new(matcher::Matchers::default());
        let handler = Arc::new(consumer::IdentifyAuthors::new(db.clone(), relay.waker(), matchers.clone()));
        let consumer = context.consumer(streams::INTERACTIONS_RECEIVED, SERVICE, handler);
        let api = Arc::new(IdentityApi::new(db, relay.waker(), matchers));
        Ok(Self { api, relay, consumer, max_request_bytes: context.max_request_bytes })
    }

    /// The implementation, for in-process clients.
    pub fn service(&self) -> Arc<dyn IdentityService> {
        self.api.clone()
    }
}

impl Component for Identity {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn mount(&self, server: &mut GrpcServer) {
        server.add_service(
            IdentityServiceServer::from_arc(self.api.clone()).max_decoding_message_size(self.max_request_bytes),
        );
    }

    fn background(self: Box<Self>, shutdown: CancellationToken) -> Vec<BackgroundTask> {
        let Identity { relay, consumer, .. } = *self;
        vec![relay_task(relay, shutdown.clone()), consumer_task(consumer, shutdown)]
    }
}
