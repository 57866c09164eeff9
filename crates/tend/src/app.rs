//! Builds Tend's services from configuration and runs them: all five in one process
//! (`tend dev`) or any subset (`tend serve <service>`). The one place where services are wired
//! to each other: routing gets an in-process cases client when cases runs beside it, a gRPC one
//! otherwise; identity, for subject access exports, gets clients of the four others the same
//! way.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use tend_client::{CaseClient, Credentials, FeedbackClient, IngestClient, RoutingClient};
use tend_kernel::component::{self, Component};
use tend_kernel::ids::{Clock, SystemClock};
use tend_kernel::server::GrpcServer;
use tend_queue::{EventStream, LocalStream, RedisStream, RedisStreamOptions};
use tend_store::ServiceContext;
use tokio_util::sync::CancellationToken;

use crate::config::TendConfig;

/// One of Tend's services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceName {
    /// Posts and messages in.
    Ingest,
    /// Who wrote them.
    Identity,
    /// How urgent, which case.
    Routing,
    /// Case lifecycle.
    Cases,
    /// Closing the loop.
    Feedback,
}

impl ServiceName {
    /// All five, in start order (cases before routing, which calls it).
    pub const ALL: [ServiceName; 5] =
        [ServiceName::Cases, ServiceName::Ingest, ServiceName::Identity, ServiceName::Routing, ServiceName::Feedback];

    /// The name used in config, schemas and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceName::Ingest => tend_ingest::SERVICE,
            ServiceName::Identity => tend_identity::SERVICE,
            ServiceName::Routing => tend_routing::SERVICE,
            ServiceName::Cases => tend_cases::SERVICE,
            ServiceName::Feedback => tend_feedback::SERVICE,
        }
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ServiceName {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        ServiceName::ALL.into_iter().find(|name| name.as_str() == value).ok_or_else(|| {
            format!("unknown service {value:?}: expected one of ingest, identity, routing, cases, feedback")
        })
    }
}

/// Why Tend could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is missing for the chosen services.
    #[error("invalid configuration: `{key}` {problem}")]
    Config {
        /// The dotted key.
        key: &'static str,
        /// What to do.
        problem: String,
    },
    /// The event stream could not be opened.
    #[error("cannot open the event stream: {0}")]
    Stream(#[from] tend_queue::Error),
    /// A service's storage could not be opened.
    #[error(transparent)]
    Store(#[from] tend_store::Error),
    /// Ingest could not be built.
    #[error(transparent)]
    Ingest(#[from] tend_ingest::BuildError),
    /// A client could not be made.
    #[error(transparent)]
    Client(#[from] tend_client::Error),
    /// Feedback could not be built.
    #[error(transparent)]
    Feedback(#[from] tend_feedback::BuildError),
    /// The server failed.
    #[error(transparent)]
    Server(#[from] tend_kernel::server::ServerError),
}

/// Opens the configured event stream: Redis Streams when `stream.redis_url` is set, otherwise
/// the in-process stream persisted in `{storage.data_dir}/streams.db`.
pub async fn open_stream(config: &TendConfig) -> Result<Arc<dyn EventStream>, StartError> {
    if !config.stream.redis_url.is_empty() {
        let mut options = RedisStreamOptions::new(config.stream.redis_url.clone());
        options.key_prefix = config.stream.key_prefix.clone();
        return Ok(Arc::new(RedisStream::connect(options).await?));
    }
    let dir = &config.storage.data_dir;
    std::fs::create_dir_all(dir).map_err(|source| tend_store::Error::DataDir { path: dir.clone(), source })?;
    Ok(Arc::new(LocalStream::open(&dir.join("streams.db")).await?))
}

/// Builds the chosen services on `stream`, their timers on `clock`.
pub async fn build(
    config: &TendConfig,
    services: &[ServiceName],
    stream: Arc<dyn EventStream>,
    clock: Arc<dyn Clock>,
) -> Result<Vec<Box<dyn Component>>, StartError> {
    let context =
        ServiceContext::new(config.storage.clone(), stream, config.stream.clone(), config.server.max_request_bytes)
            .with_clock(clock)
            .with_retention(config.retention.clone());
    let wants = |name: ServiceName| services.contains(&name);
    let mut components: Vec<Box<dyn Component>> = Vec::new();
    // Identity is built last: a subject access export asks every other service for its part,
    // in this process when it runs here.
    let mut peers = tend_identity::Peers::default();
    let mut local_cases = None;
    if wants(ServiceName::Cases) {
        let cases = tend_cases::Cases::build(&context, &config.cases).await?;
        local_cases = Some(cases.service());
        components.push(Box::new(cases));
    }
    if wants(ServiceName::Ingest) {
        let ingest = tend_ingest::Ingest::build(&context, &config.channels).await?;
        peers.ingest = Some(IngestClient::local(ingest.service(), tend_identity::SERVICE));
        components.push(Box::new(ingest));
    }
    if wants(ServiceName::Routing) {
        let cases = match &local_cases {
            Some(service) => CaseClient::local(service.clone(), tend_routing::SERVICE),
            None => remote_cases(config)?,
        };
        let routing = tend_routing::Routing::build(&context, cases, &config.queue, &config.trends).await?;
        peers.routing = Some(RoutingClient::local(routing.service(), tend_identity::SERVICE));
        components.push(Box::new(routing));
    }
    if wants(ServiceName::Feedback) {
        let feedback = tend_feedback::Feedback::build(&context, &config.feedback).await?;
        peers.feedback = Some(FeedbackClient::local(feedback.service(), tend_identity::SERVICE));
        components.push(Box::new(feedback));
    }
    if wants(ServiceName::Identity) {
        peers.cases = local_cases.map(|service| CaseClient::local(service, tend_identity::SERVICE));
        remote_peers(config, &mut peers)?;
        components.push(Box::new(tend_identity::Identity::build(&context, peers).await?));
    }
    if !components.is_empty() {
        // Stream retention and the erasure of people's entries; idempotent, so every process
        // runs it.
        components.push(Box::new(context.janitor()));
    }
    Ok(components)
}

/// The services identity's exports ask that do not run in this process, from `[clients]`; one
/// not configured stays `None`, and exports answer UNAVAILABLE naming it.
fn remote_peers(config: &TendConfig, peers: &mut tend_identity::Peers) -> Result<(), StartError> {
    let api_key = Some(config.clients.api_key.clone()).filter(|key| !key.is_empty());
    let credentials = Credentials { api_key, tls: config.clients.tls() };
    let actor = tend_identity::SERVICE;
    let clients = &config.clients;
    if peers.ingest.is_none() && !clients.ingest.is_empty() {
        peers.ingest = Some(IngestClient::remote(&clients.ingest, &credentials, actor)?);
    }
    if peers.cases.is_none() && !clients.cases.is_empty() {
        peers.cases = Some(CaseClient::remote(&clients.cases, &credentials, actor)?);
    }
    if peers.routing.is_none() && !clients.routing.is_empty() {
        peers.routing = Some(RoutingClient::remote(&clients.routing, &credentials, actor)?);
    }
    if peers.feedback.is_none() && !clients.feedback.is_empty() {
        peers.feedback = Some(FeedbackClient::remote(&clients.feedback, &credentials, actor)?);
    }
    for (name, missing) in [
        ("ingest", peers.ingest.is_none()),
        ("cases", peers.cases.is_none()),
        ("routing", peers.routing.is_none()),
        ("feedback", peers.feedback.is_none()),
    ] {
        if missing {
            tracing::warn!(
                service = name,
                "identity cannot reach this service (not in this process, no [clients] endpoint): \
                 subject access exports will answer UNAVAILABLE"
            );
        }
    }
    Ok(())
}

fn remote_cases(config: &TendConfig) -> Result<CaseClient, StartError> {
    if config.clients.cases.is_empty() {
        return Err(StartError::Config {
            key: "clients.cases",
            problem: "is required when routing runs without cases in the same process (e.g. http://tend-cases:50051)"
                .into(),
        });
    }
    let api_key = Some(config.clients.api_key.clone()).filter(|key| !key.is_empty());
    let credentials = Credentials { api_key, tls: config.clients.tls() };
    Ok(CaseClient::remote(&config.clients.cases, &credentials, tend_routing::SERVICE)?)
}

/// Builds and runs the chosen services until `shutdown` is cancelled. `on_bound` is told the
/// address and mounted gRPC services once the port is bound.
pub async fn run(
    config: &TendConfig,
    services: &[ServiceName],
    shutdown: CancellationToken,
    on_bound: impl FnOnce(component::Bound<'_>),
) -> Result<(), StartError> {
    run_on_clock(config, services, Arc::new(SystemClock), shutdown, on_bound).await
}

/// [`run`] on `clock` instead of the system's (tests move it ahead to fire timers).
pub async fn run_on_clock(
    config: &TendConfig,
    services: &[ServiceName],
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
    on_bound: impl FnOnce(component::Bound<'_>),
) -> Result<(), StartError> {
    let stream = open_stream(config).await?;
    let components = build(config, services, stream, clock).await?;
    let mut server = GrpcServer::new(config.server.clone(), &config.auth)?;
    server.add_descriptor_set(tend_proto::FILE_DESCRIPTOR_SET);
    component::run(server, components, shutdown, on_bound).await?;
    Ok(())
}

/// Applies the migrations of the chosen services and returns.
pub async fn migrate(config: &TendConfig, services: &[ServiceName]) -> Result<(), StartError> {
    for service in services {
        let db = tend_store::connect(&config.storage, service.as_str()).await?;
        match service {
            ServiceName::Ingest => tend_store::migration::run::<tend_ingest::Migrator>(&db, service.as_str()).await?,
            ServiceName::Identity => {
                tend_store::migration::run::<tend_identity::Migrator>(&db, service.as_str()).await?
            }
            ServiceName::Routing => tend_store::migration::run::<tend_routing::Migrator>(&db, service.as_str()).await?,
            ServiceName::Cases => tend_store::migration::run::<tend_cases::Migrator>(&db, service.as_str()).await?,
            ServiceName::Feedback => {
                tend_store::migration::run::<tend_feedback::Migrator>(&db, service.as_str()).await?
            }
        }
        let _ = db.close().await;
    }
    Ok(())
}
