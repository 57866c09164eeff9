//! The cases service: every actionable interaction lives in a case, tracked to its end.
//!
//! Cases are opened idempotently (so routing can retry), then taken through an explicit state
//! machine (new, open, pending on the customer or a department, resolved, closed, reopened)
//! with a version for optimistic concurrency; assignment, tags, priority and internal notes
//! change them. Every change and every reply is an entry of the case's timeline, its audit
//! log, and is published on `cases.events` through the outbox. Agents reply on a
//! case (`replies.requested`, sent by ingest; its outcome comes back on `replies.delivered` and
//! `replies.failed`). When a customer is
//! forgotten (`customers.erased`), their cases lose the customer, the profile and the subject.

mod api;
mod consumer;
mod domain;
mod lifecycle;
mod replies;
mod storage;
mod timeline;

use std::sync::Arc;

use tend_kernel::component::{BackgroundTask, Component};
use tend_kernel::server::GrpcServer;
use tend_proto::v1::case_service_server::{CaseService, CaseServiceServer};
use tend_queue::Consumer;
use tend_store::events::streams;
use tend_store::{OutboxRelay, ServiceContext, consumer_tasks, relay_task};
use tokio_util::sync::CancellationToken;

pub use api::CaseApi;
pub use storage::Migrator;

/// The service's name: its schema, SQLite file and consumer group.
pub const SERVICE: &str = "cases";

/// The cases service, built and ready to run.
pub struct Cases {
    api: Arc<CaseApi>,
    relay: OutboxRelay,
    consumers: Vec<Consumer>,
    max_request_bytes: usize,
}

impl Cases {
    /// Connects to the service's database (migrating it) and prepares the API, the relay and the
    /// consumers of `customers.erased`, `replies.delivered` and `replies.failed`.
    pub async fn build(context: &ServiceContext) -> Result<Self, tend_store::Error> {
        let db = context.database::<Migrator>(SERVICE).await?;
        let relay = context.relay(db.clone());
        let handler = Arc::new(consumer::EraseCustomers);
        let mut consumers = context.consumers(streams::CUSTOMERS_ERASED, SERVICE, handler, &db, &relay.waker());
        let delivered = Arc::new(replies::Delivered);
        consumers.extend(context.consumers(streams::REPLIES_DELIVERED, SERVICE, delivered, &db, &relay.waker()));
        let failed = Arc::new(replies::Failed);
        consumers.extend(context.consumers(streams::REPLIES_FAILED, SERVICE, failed, &db, &relay.waker()));
        let api = Arc::new(CaseApi::new(db, relay.waker()));
        Ok(Self { api, relay, consumers, max_request_bytes: context.max_request_bytes })
    }

    /// The implementation, for in-process clients.
    pub fn service(&self) -> Arc<dyn CaseService> {
        self.api.clone()
    }
}

impl Component for Cases {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn mount(&self, server: &mut GrpcServer) {
        server.add_service(
            CaseServiceServer::from_arc(self.api.clone()).max_decoding_message_size(self.max_request_bytes),
        );
    }

    fn background(self: Box<Self>, shutdown: CancellationToken) -> Vec<BackgroundTask> {
        let Cases { relay, consumers, .. } = *self;
        let mut tasks = consumer_tasks(consumers, &shutdown);
        tasks.push(relay_task(relay, shutdown));
        tasks
    }
}
