//! The cases service: every actionable interaction lives in a case, tracked to its end.
//!
//! Cases are opened idempotently (so routing can retry), then taken through an explicit state
//! machine (new, open, pending on the customer or a department, resolved, closed, reopened)
//! with a version for optimistic concurrency; assignment, tags, priority and internal notes
//! change them. Every change and every reply is an entry of the case's timeline, its audit
//! log, and is published on `cases.events` through the outbox. Agents reply on a
//! case (`replies.requested`, sent by ingest; its outcome comes back on `replies.delivered` and
//! `replies.failed`). Promises to come back are tracked until kept or released, and the timers
//! (on one replica at a time) raise those due soon and escalate those overdue. When a customer
//! is forgotten (`customers.erased`), their cases lose the customer, the profile and the
//! subject, and their notes and promises their texts.

mod api;
mod attach;
mod clocks;
mod config;
mod consumer;
mod departments;
mod domain;
mod export;
mod guides;
mod incidents;
mod lifecycle;
mod notice;
mod posts;
mod promises;
mod replies;
mod storage;
mod surveys;
mod timeline;
pub mod timers;
mod watch;

use std::sync::Arc;

use tend_kernel::component::{BackgroundTask, Component};
use tend_kernel::ids::Clock;
use tend_kernel::server::GrpcServer;
use tend_proto::v1::case_service_server::{CaseService, CaseServiceServer};
use tend_queue::Consumer;
use tend_store::events::streams;
use tend_store::{OutboxRelay, ServiceContext, consumer_tasks, relay_task};
use tokio_util::sync::CancellationToken;

pub use api::CaseApi;
pub use config::CasesConfig;
pub use storage::Migrator;

/// The service's name: its schema, SQLite file and consumer group.
pub const SERVICE: &str = "cases";

/// The cases service, built and ready to run.
pub struct Cases {
    api: Arc<CaseApi>,
    relay: OutboxRelay,
    consumers: Vec<Consumer>,
    timers: timers::Timers,
    config: CasesConfig,
    instance: String,
    clock: Arc<dyn Clock>,
    watches_stop: CancellationToken,
    max_request_bytes: usize,
}

impl Cases {
    /// Connects to the service's database (migrating it) and prepares the API, the relay, the
    /// timers and the consumers of `customers.erased`, `replies.delivered`, `replies.failed`,
    /// `interactions.updated`, `interactions.deleted`, `topics.escalated` and `surveys.answered`.
    pub async fn build(context: &ServiceContext, config: &CasesConfig) -> Result<Self, tend_store::Error> {
        let db = context.database::<Migrator>(SERVICE).await?;
        let relay = context.relay(db.clone());
        let clock = context.clock.clone();
        let handler = Arc::new(consumer::EraseCustomers);
        let mut consumers = context.consumers(streams::CUSTOMERS_ERASED, SERVICE, handler, &db, &relay.waker());
        let delivered = Arc::new(replies::Delivered { clock: clock.clone() });
        consumers.extend(context.consumers(streams::REPLIES_DELIVERED, SERVICE, delivered, &db, &relay.waker()));
        let failed = Arc::new(replies::Failed { clock: clock.clone() });
        consumers.extend(context.consumers(streams::REPLIES_FAILED, SERVICE, failed, &db, &relay.waker()));
        let edited = Arc::new(posts::Edited { clock: clock.clone() });
        consumers.extend(context.consumers(streams::INTERACTIONS_UPDATED, SERVICE, edited, &db, &relay.waker()));
        let deleted = Arc::new(posts::Deleted { clock: clock.clone() });
        consumers.extend(context.consumers(streams::INTERACTIONS_DELETED, SERVICE, deleted, &db, &relay.waker()));
        let escalated = Arc::new(incidents::Escalated { clock: clock.clone() });
        consumers.extend(context.consumers(streams::TOPICS_ESCALATED, SERVICE, escalated, &db, &relay.waker()));
        let reported = Arc::new(notice::Reported { clock: clock.clone() });
        consumers.extend(context.consumers(streams::NOTICE_REPORTED, SERVICE, reported, &db, &relay.waker()));
        // Feedback's answer to a low survey score, when its template says to reopen the case.
        let low_scores = Arc::new(surveys::LowScores { clock: clock.clone() });
        consumers.extend(context.consumers(streams::SURVEYS_ANSWERED, SERVICE, low_scores, &db, &relay.waker()));
        let timers = timers::Timers::new(db.clone(), relay.waker(), config);
        let watches_stop = CancellationToken::new();
        let watches = watch::Watches::new(context.stream.clone(), config, watches_stop.clone());
        let api = Arc::new(CaseApi::new(db, relay.waker(), clock.clone(), config, watches));
        Ok(Self {
            api,
            relay,
            consumers,
            timers,
            config: config.clone(),
            instance: context.instance.clone(),
            clock,
            watches_stop,
            max_request_bytes: context.max_request_bytes,
        })
    }

    /// The implementation, for in-process clients.
    pub fn service(&self) -> Arc<dyn CaseService<WatchCasesStream = tend_client::WatchCasesStream>> {
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
        let Cases { relay, consumers, timers, config, instance, clock, watches_stop, .. } = *self;
        let mut tasks = consumer_tasks(consumers, &shutdown);
        // Open watches end with the service (their clients resume elsewhere with their cursor),
        // so they never hold a graceful shutdown up.
        let stopping = shutdown.clone();
        tasks.push(Box::pin(async move {
            stopping.cancelled().await;
            watches_stop.cancel();
        }));
        let stop_timers = shutdown.clone();
        tasks.push(Box::pin(async move { timers.run(&config, instance, clock, stop_timers).await }));
        tasks.push(relay_task(relay, shutdown));
        tasks
    }
}
