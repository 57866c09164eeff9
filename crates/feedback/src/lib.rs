//! The feedback service: closes the loop after cases end and reports on the care team's work.
//!
//! It consumes `cases.events` and `interactions.routed` and answers service reports (cases
//! opened and resolved in a window, mean time to resolve; interactions routed, work or not, by
//! topic and by queue) and lists testimonial candidates (praise routing saw, which opens no
//! case). It also consumes `customers.erased`: testimonial candidates carry the author's profile
//! and customer ids and are deleted there, as will be the surveys and testimonials that build on
//! this.

mod api;
mod consumer;
pub mod initiatives;
pub mod report;
mod storage;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use tend_kernel::component::{BackgroundTask, Component};
use tend_kernel::server::GrpcServer;
use tend_proto::v1::feedback_service_server::{FeedbackService, FeedbackServiceServer};
use tend_queue::Consumer;
use tend_store::events::streams;
use tend_store::{OutboxRelay, ServiceContext, consumer_tasks, relay_task};
use tokio_util::sync::CancellationToken;

pub use api::FeedbackApi;
pub use storage::Migrator;

/// The service's name: its schema, SQLite file and consumer group.
pub const SERVICE: &str = "feedback";

/// The feedback service, built and ready to run.
pub struct Feedback {
    api: Arc<FeedbackApi>,
    relay: OutboxRelay,
    consumers: Vec<Consumer>,
    max_request_bytes: usize,
}

impl Feedback {
    /// Connects to the service's database (migrating it) and prepares the API and the consumers
    /// of `cases.events`, `interactions.routed` and `customers.erased`.
    pub async fn build(context: &ServiceContext) -> Result<Self, tend_store::Error> {
        let db = context.database::<Migrator>(SERVICE).await?;
        let relay = context.relay(db.clone());
        let waker = relay.waker();
        let mut consumers =
            context.consumers(streams::CASES_EVENTS, SERVICE, Arc::new(consumer::RecordCaseFacts), &db, &waker);
        consumers.extend(context.consumers(
            streams::INTERACTIONS_ROUTED,
            SERVICE,
            Arc::new(consumer::RecordRoutedFacts),
            &db,
            &waker,
        ));
        consumers.extend(context.consumers(
            streams::CUSTOMERS_ERASED,
            SERVICE,
            Arc::new(consumer::EraseCustomers),
            &db,
            &waker,
        ));
        let api = Arc::new(FeedbackApi::new(db));
        Ok(Self { api, relay, consumers, max_request_bytes: context.max_request_bytes })
    }

    /// The implementation, for in-process clients.
    pub fn service(&self) -> Arc<dyn FeedbackService> {
        self.api.clone()
    }
}

impl Component for Feedback {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn mount(&self, server: &mut GrpcServer) {
        server.add_service(
            FeedbackServiceServer::from_arc(self.api.clone()).max_decoding_message_size(self.max_request_bytes),
        );
    }

    fn background(self: Box<Self>, shutdown: CancellationToken) -> Vec<BackgroundTask> {
        let Feedback { relay, consumers, .. } = *self;
        let mut tasks = consumer_tasks(consumers, &shutdown);
        tasks.push(relay_task(relay, shutdown));
        tasks
    }
}
