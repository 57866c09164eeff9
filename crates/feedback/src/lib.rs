//! The feedback service: closes the loop after cases end and reports on the care team's work.
//!
//! It consumes `cases.events` and `interactions.routed` and answers service reports (cases
//! opened and resolved in a window, mean time to resolve; interactions routed, work or not, by
//! topic and by queue) and lists testimonial candidates (praise routing saw, which opens no
//! case). It also consumes `customers.erased`: testimonial candidates carry the author's profile
//! and customer ids and are deleted there, as will be the surveys and testimonials that build on
//! this.
//!
//! Surveys after resolution are in [`surveys`]: templates, the sender on `cases.events`, the
//! survey page's signed single-use links and the responses. Testimonials with consent,
//! moderation and a public list are in [`testimonials`]. Decision data per customer and per
//! topic (`ExportInsights`) is in [`insights`].

mod api;
pub mod config;
mod consumer;
pub mod initiatives;
pub mod insights;
pub mod report;
mod storage;
pub mod surveys;
pub mod testimonials;
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
pub use config::FeedbackConfig;
pub use storage::Migrator;

/// The service's name: its schema, SQLite file and consumer group.
pub const SERVICE: &str = "feedback";

/// Why the service could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Its database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] tend_store::Error),
    /// `[feedback]` is invalid (the token secret's reference cannot be read).
    #[error(transparent)]
    Config(#[from] tend_kernel::config::ConfigError),
}

/// The feedback service, built and ready to run.
pub struct Feedback {
    api: Arc<FeedbackApi>,
    relay: OutboxRelay,
    consumers: Vec<Consumer>,
    max_request_bytes: usize,
}

impl Feedback {
    /// Connects to the service's database (migrating it) and prepares the API and the consumers
    /// of `cases.events`, `interactions.routed` and `customers.erased`, and the survey sender
    /// (group `feedback-surveys` on `cases.events`). Links are signed with
    /// `feedback.token_secret`, or a random secret of this process's when it is empty (a
    /// library build; `tend serve` refuses to start without one and `tend dev` makes one).
    pub async fn build(context: &ServiceContext, config: &FeedbackConfig) -> Result<Self, BuildError> {
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
        let signer = match config.secret() {
            Ok(Some(secret)) => surveys::token::Signer::new(secret),
            Ok(None) => {
                tracing::warn!(
                    "feedback.token_secret is not set: survey links are signed with a random secret of this \
                     process and stop working when it restarts"
                );
                surveys::token::Signer::random()
            }
            Err(error) => return Err(BuildError::Config(error)),
        };
        let surveys = surveys::Surveys::new(config, signer, context.clock.clone());
        consumers.extend(context.consumers(
            streams::CASES_EVENTS,
            surveys::consumer::GROUP,
            Arc::new(surveys::consumer::SendSurveys { surveys: surveys.clone() }),
            &db,
            &waker,
        ));
        let api = Arc::new(FeedbackApi::with_surveys(db, surveys, waker));
        Ok(Self { api, relay, consumers, max_request_bytes: context.max_request_bytes })
    }

    /// The implementation, for in-process clients.
    pub fn service(&self) -> Arc<dyn FeedbackService<ExportInsightsStream = tend_client::ExportInsightsStream>> {
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
