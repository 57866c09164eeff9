//! The routing service: how urgent each identified interaction is, and which case carries it.
//!
//! It consumes `interactions.identified` and decides for each interaction with the tenant's
//! layered CEL rules ([`rules`]), an explained, bounded priority ([`priority`]) and SLA
//! deadlines on business-hours calendars ([`sla`]); opens the case of each actionable one
//! through the cases client (in-process or gRPC); records every decision and publishes it on
//! `interactions.routed`. It follows `cases.events` for the times simulations compare with
//! ([`simulate`]), and `customers.erased`. It serves the universal queue too
//! (`QueueService`, [`QueueApi`]): the agents and teams that take the work.

mod agents;
mod api;
pub mod board;
pub mod config;
mod consumer;
pub mod decide;
pub mod dispatch;
mod domain;
mod offers;
pub mod queue;
mod queue_api;
pub mod queue_config;
pub mod rules;
pub mod simulate;
pub mod sla;
mod storage;
pub mod tipsheet;
pub mod trends;
mod work;

use std::sync::Arc;

use config::Configs;
use tend_client::CaseClient;
use tend_kernel::component::{BackgroundTask, Component};
use tend_kernel::server::GrpcServer;
use tend_proto::v1::queue_service_server::QueueServiceServer;
use tend_proto::v1::routing_service_server::{RoutingService, RoutingServiceServer};
use tend_queue::Consumer;
use tend_store::events::streams;
use tend_store::{OutboxRelay, ServiceContext, consumer_tasks, relay_task};
use tokio_util::sync::CancellationToken;

pub use api::RoutingApi;
pub use domain::{Priority, PriorityInput, Reading, Term, priority};
pub use queue_api::QueueApi;
pub use queue_config::QueueConfig;
pub use storage::Migrator;
pub use trends::TrendsConfig;

/// A protobuf timestamp as a time; `None` when unset or out of range (a contract timestamp is
/// never either once ingest has checked it).
pub(crate) fn time_of(at: Option<&prost_types::Timestamp>) -> Option<chrono::DateTime<chrono::Utc>> {
    at.and_then(|at| chrono::DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).ok()?))
}

/// The service's name: its schema, SQLite file and consumer group.
pub const SERVICE: &str = "routing";

/// The routing service, built and ready to run.
pub struct Routing {
    api: Arc<RoutingApi>,
    queue: Arc<QueueApi>,
    relay: OutboxRelay,
    consumers: Vec<Consumer>,
    dispatcher: dispatch::Dispatcher,
    feed: Arc<offers::OfferFeed>,
    watches_stop: CancellationToken,
    instance: String,
    clock: Arc<dyn tend_kernel::ids::Clock>,
    max_request_bytes: usize,
    hot: Arc<trends::HotTopics>,
    clusters: Arc<trends::clusters::Clusters>,
    evaluator: trends::Evaluator,
    trends_config: TrendsConfig,
    db: sea_orm::DatabaseConnection,
}

impl Routing {
    /// Connects to the service's database (migrating it) and prepares the APIs, the consumer
    /// of `interactions.identified`, which opens cases through `cases`, and the queue's
    /// dispatcher, which assigns them through `cases` as `queue_config` says.
    pub async fn build(
        context: &ServiceContext,
        cases: CaseClient,
        queue_config: &QueueConfig,
        trends_config: &TrendsConfig,
    ) -> Result<Self, tend_store::Error> {
        let db = context.database::<Migrator>(SERVICE).await?;
        let relay = context.relay(db.clone());
        let workflows = queue::Queue::new(
            db.clone(),
            cases.clone(),
            relay.waker(),
            Arc::new(queue_config.clone()),
            context.clock.clone(),
        );
        let hot = Arc::new(trends::HotTopics::new(trends_config.sla_percent));
        let clusters = Arc::new(trends::clusters::Clusters::new(trends_config.clusters()));
        let evaluator = trends::Evaluator::new(db.clone(), relay.waker(), trends_config, clusters.clone());
        let handler = Arc::new(consumer::RouteInteractions::new(
            cases.clone(),
            Arc::new(Configs::default()),
            hot.clone(),
            clusters.clone(),
        ));
        let mut consumers = context.consumers(streams::INTERACTIONS_IDENTIFIED, SERVICE, handler, &db, &relay.waker());
        consumers.extend(context.consumers(
            streams::CASES_EVENTS,
            SERVICE,
            Arc::new(consumer::FollowCases { clock: context.clock.clone() }),
            &db,
            &relay.waker(),
        ));
        consumers.extend(context.consumers(
            streams::CUSTOMERS_ERASED,
            SERVICE,
            Arc::new(consumer::EraseCustomers),
            &db,
            &relay.waker(),
        ));
        consumers.extend(context.consumers(
            streams::SURVEYS_ANSWERED,
            SERVICE,
            Arc::new(consumer::KeepSatisfaction),
            &db,
            &relay.waker(),
        ));
        consumers.extend(context.consumers(
            streams::CHANNELS_ACCOUNTS,
            SERVICE,
            Arc::new(consumer::KeepAccounts),
            &db,
            &relay.waker(),
        ));
        let feed = Arc::new(offers::OfferFeed::new(
            context.stream.clone(),
            queue_config.max_watchers,
            queue_config.watch_poll,
        ));
        let watches_stop = CancellationToken::new();
        let heartbeat = queue_config.watch_heartbeat;
        let queue = Arc::new(QueueApi::new(workflows.clone(), feed.clone(), watches_stop.clone(), heartbeat));
        let tip_sheet = tipsheet::Sources { cases: cases.clone(), hot_topic_sla_percent: trends_config.sla_percent };
        let api = Arc::new(RoutingApi::new(db.clone(), clusters.clone(), context.clock.clone(), tip_sheet));
        Ok(Self {
            api,
            queue,
            relay,
            consumers,
            dispatcher: dispatch::Dispatcher::new(workflows, hot.clone()),
            feed,
            watches_stop,
            instance: context.instance.clone(),
            clock: context.clock.clone(),
            max_request_bytes: context.max_request_bytes,
            hot,
            clusters,
            evaluator,
            trends_config: trends_config.clone(),
            db,
        })
    }

    /// The implementation, for in-process clients.
    pub fn service(&self) -> Arc<dyn RoutingService> {
        self.api.clone()
    }
}

impl Component for Routing {
    fn name(&self) -> &'static str {
        SERVICE
    }

    fn mount(&self, server: &mut GrpcServer) {
        server.add_service(
            RoutingServiceServer::from_arc(self.api.clone()).max_decoding_message_size(self.max_request_bytes),
        );
        server.add_service(
            QueueServiceServer::from_arc(self.queue.clone()).max_decoding_message_size(self.max_request_bytes),
        );
    }

    fn background(self: Box<Self>, shutdown: CancellationToken) -> Vec<BackgroundTask> {
        let Routing {
            relay,
            consumers,
            dispatcher,
            feed,
            watches_stop,
            instance,
            clock,
            hot,
            clusters,
            evaluator,
            trends_config,
            db,
            ..
        } = *self;
        let mut tasks = consumer_tasks(consumers, &shutdown);
        // Hot topics: assessed on one replica at a time, read into every replica's memory.
        let assessing = tend_store::lease::Singleton {
            name: "routing.trends",
            holder: instance.clone(),
            every: trends_config.every,
            ttl: trends_config.lease,
            db: db.clone(),
            clock: clock.clone(),
        };
        let evaluator = Arc::new(evaluator);
        let stop = shutdown.clone();
        tasks.push(Box::pin(async move {
            assessing
                .run(stop, |now| {
                    let evaluator = evaluator.clone();
                    async move { evaluator.tick(now).await }
                })
                .await;
        }));
        let stop = shutdown.clone();
        let every = trends_config.refresh_every;
        let refresh_clock = clock.clone();
        tasks.push(Box::pin(async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = stop.cancelled() => break,
                    _ = interval.tick() => {}
                }
                if let Err(error) = hot.refresh(&db).await {
                    tracing::warn!(%error, "reading the hot topics failed; the next refresh retries");
                }
                if let Err(error) = clusters.catch_up(&db, refresh_clock.now()).await {
                    tracing::warn!(%error, "reading other replicas' posts into the similar-post index failed");
                }
            }
        }));
        let stop = shutdown.clone();
        tasks.push(Box::pin(async move { dispatcher.run(instance, clock, stop).await }));
        let stop = shutdown.clone();
        tasks.push(Box::pin(async move {
            feed.run(stop).await;
            // Open watches end with the service (their desks open them again elsewhere), so
            // they never hold a graceful shutdown up.
            watches_stop.cancel();
        }));
        tasks.push(relay_task(relay, shutdown));
        tasks
    }
}
