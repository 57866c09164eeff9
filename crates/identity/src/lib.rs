//! The identity service: who wrote each interaction.
//!
//! It keeps a profile per channel author (consuming `interactions.received`), ties profiles to
//! the CRM's customers by deterministic evidence, a probabilistic matcher and people's
//! decisions, and publishes `interactions.identified` for every interaction.
//!
//! Layers, outside in: `api` (the gRPC adapter) and `consumer` (the event adapter) call the
//! workflows of `app`, which decide with the pure modules (`domain`, `customers`, `normalize`,
//! `linking`, `matcher`) and read and write through `storage`.

// First, so that its macro is in scope of every module's tests.
#[cfg(test)]
#[macro_use]
mod testing;

mod api;
mod app;
mod consumer;
mod contract;
mod customers;
mod domain;
mod linking;
mod matcher;
mod normalize;
mod storage;

use std::sync::Arc;

use tend_kernel::component::{BackgroundTask, Component};
use tend_kernel::server::GrpcServer;
use tend_proto::v1::identity_service_server::{IdentityService, IdentityServiceServer};
use tend_queue::Consumer;
use tend_store::events::streams;
use tend_store::{OutboxRelay, ServiceContext, consumer_tasks, relay_task};
use tokio_util::sync::CancellationToken;

pub use api::{IdentityApi, Peers};
pub use storage::Migrator;

/// The service's name: its schema, SQLite file and consumer group.
pub const SERVICE: &str = "identity";

/// The identity service, built and ready to run.
pub struct Identity {
    api: Arc<IdentityApi>,
    relay: OutboxRelay,
    consumers: Vec<Consumer>,
    notices: app::notice::NoticeWorker,
    max_request_bytes: usize,
}

impl Identity {
    /// Connects to the service's database (migrating it) and prepares the API, the relay and the
    /// consumers of `interactions.received`. `peers` are the services a subject access export
    /// asks for their part.
    pub async fn build(context: &ServiceContext, peers: Peers) -> Result<Self, tend_store::Error> {
        let db = context.database::<Migrator>(SERVICE).await?;
        let relay = context.relay(db.clone());
        let waker = relay.waker();
        // One application, shared by both adapters (and so one matcher cache).
        let app = Arc::new(app::App::new(db.clone(), waker.clone(), Arc::new(matcher::Matchers::default())));
        let handler = Arc::new(consumer::IdentifyAuthors::new(app.clone()));
        let mut consumers = context.consumers(streams::INTERACTIONS_RECEIVED, SERVICE, handler, &db, &waker);
        // Proactive notices: the consumer records each, the worker goes through the customers.
        let wake = Arc::new(tokio::sync::Notify::new());
        let start = Arc::new(app::notice::StartNotices { wake: wake.clone() });
        consumers.extend(context.consumers(streams::NOTICE_REQUESTED, SERVICE, start, &db, &waker));
        let notices = app::notice::NoticeWorker::new(db.clone(), waker.clone(), peers.cases.clone(), wake);
        let api = Arc::new(IdentityApi::new(app, peers));
        Ok(Self { api, relay, consumers, notices, max_request_bytes: context.max_request_bytes })
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
        let Identity { relay, consumers, notices, .. } = *self;
        let mut tasks = vec![relay_task(relay, shutdown.clone())];
        tasks.push(Box::pin(notices.run(shutdown.clone())));
        tasks.extend(consumer_tasks(consumers, &shutdown));
        tasks
    }
}
