//! Helpers for tests that run Tend for real: [`TestApp::spawn`] starts services on
//! 127.0.0.1:0 in this process, on the embedded default (a temporary data directory) or on
//! PostgreSQL and Redis (a fresh database and a unique key prefix per test), and stops and
//! cleans up with [`TestApp::stop`].
//!
//! Logs are silent unless `TEST_LOG` is set (e.g. `TEST_LOG=info`).

pub mod fake;
pub mod raw;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message as _;
use tend::app::{self, ServiceName};
use tend::config::TendConfig;
use tend_kernel::ids::ShiftedClock;
use tend_proto::v1;
use tend_queue::EventStream;
use tend_store::testing::{TestDatabase, redis_url, unique_key_prefix};
use tokio_util::sync::CancellationToken;

/// The `channels.secrets_key` of test apps (32 bytes, base64).
pub const TEST_SECRETS_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Where a test's Tend keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite files and the in-process stream in a temporary directory.
    Embedded,
    /// PostgreSQL (a database of its own) and Redis Streams (a key prefix of its own).
    PostgresRedis,
}

/// A running Tend for one test.
pub struct TestApp {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The address of its HTTP listener (webhooks, metrics), unless turned off.
    pub http_addr: Option<SocketAddr>,
    /// Its configuration.
    pub config: TendConfig,
    /// The clock its services run on: [`ShiftedClock::advance`] jumps it ahead (a promise falls
    /// due, a weekend passes) and the timers fire at their next tick.
    pub clock: Arc<ShiftedClock>,
    connection: tend_client::Connection,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), app::StartError>>,
    data_dir: tempfile::TempDir,
    database: Option<TestDatabase>,
}

/// The app's clients (`app.ingest()`, `app.cases()`, …): the one client every program uses,
/// without credentials (tests name the tenant per request with [`as_tenant`]).
impl std::ops::Deref for TestApp {
    type Target = tend_client::Connection;

    fn deref(&self) -> &tend_client::Connection {
        &self.connection
    }
}

/// A configuration for `backend`, with a fresh database or data directory.
///
/// # Panics
/// When the temporary directory or the test database cannot be made.
#[allow(clippy::unwrap_used)]
pub async fn test_config(backend: Backend) -> (TendConfig, tempfile::TempDir, Option<TestDatabase>) {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = TendConfig::default();
    config.server.listen = "127.0.0.1:0".to_owned();
    config.server.http_listen = "127.0.0.1:0".to_owned();
    // A fixed key, so tests can register secrets by value.
    config.channels.secrets_key = TEST_SECRETS_KEY.to_owned();
    config.storage.data_dir = data_dir.path().to_path_buf();
    // Short enough that reclaim-based tests finish quickly, long enough not to steal work
    // from a slow but live consumer.
    config.stream.reclaim_after = Duration::from_secs(2);
    // Timers tick often, so a test that moves the clock ahead sees them fire at once.
    config.cases.timers_every = Duration::from_millis(50);
    config.cases.timers_lease = Duration::from_secs(2);
    // Each post opens its own case (the default, said again because most tests rely on it);
    // tests of joining set a window.
    config.cases.attach_window = Duration::ZERO;
    let database = match backend {
        Backend::Embedded => None,
        Backend::PostgresRedis => {
            let database = TestDatabase::create().await;
            config.storage.database_url = database.url.clone();
            config.stream.redis_url = redis_url();
            config.stream.key_prefix = unique_key_prefix();
            Some(database)
        }
    };
    (config, data_dir, database)
}

impl TestApp {
    /// Starts all five services on `backend`.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, &ServiceName::ALL, |_| {}).await
    }

    /// Starts `services` on `backend`, after `adjust` has changed the configuration.
    ///
    /// # Panics
    /// When Tend does not start within 30 s.
    #[allow(clippy::unwrap_used, clippy::panic)]
    pub async fn spawn_with(backend: Backend, services: &[ServiceName], adjust: impl FnOnce(&mut TendConfig)) -> Self {
        let (mut config, data_dir, database) = test_config(backend).await;
        adjust(&mut config);
        Self::spawn_config(config, services, data_dir, database).await
    }

    /// Starts `services` with exactly `config` (e.g. a second app sharing another's database
    /// and stream). The app keeps `data_dir` alive and drops `database`, if given, on `stop`.
    ///
    /// # Panics
    /// When Tend does not start within 30 s.
    #[allow(clippy::unwrap_used, clippy::panic)]
    pub async fn spawn_config(
        config: TendConfig,
        services: &[ServiceName],
        data_dir: tempfile::TempDir,
        database: Option<TestDatabase>,
    ) -> Self {
        tend_kernel::telemetry::init_for_tests();
        let clock = Arc::new(ShiftedClock::default());
        let shutdown = CancellationToken::new();
        let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
        let task = {
            let config = config.clone();
            let services = services.to_vec();
            let shutdown = shutdown.clone();
            let clock: Arc<dyn tend_kernel::ids::Clock> = clock.clone();
            tokio::spawn(async move {
                app::run_on_clock(&config, &services, clock, shutdown, move |bound| {
                    let _ = bound_tx.send((bound.grpc, bound.http));
                })
                .await
            })
        };
        let (addr, http_addr) = match tokio::time::timeout(Duration::from_secs(30), bound_rx).await {
            Ok(Ok(bound)) => bound,
            _ => {
                let outcome = task.await;
                panic!("Tend did not start: {outcome:?}");
            }
        };
        let connection =
            tend_client::Connection::new(&format!("http://{addr}"), &tend_client::Credentials::default(), None)
                .unwrap();
        Self { addr, http_addr, config, clock, connection, shutdown, task, data_dir, database }
    }

    /// The data directory (embedded backend).
    pub fn data_dir(&self) -> &std::path::Path {
        self.data_dir.path()
    }

    /// A second handle on the app's event stream (the same Redis keys, or the same embedded
    /// stream file), to read what the app published.
    ///
    /// # Panics
    /// When the stream cannot be opened.
    #[allow(clippy::unwrap_used)]
    pub async fn event_stream(&self) -> Arc<dyn EventStream> {
        app::open_stream(&self.config).await.unwrap()
    }

    /// Stops the app and removes its database and Redis keys.
    ///
    /// # Panics
    /// When the app stopped with an error.
    #[allow(clippy::unwrap_used)]
    pub async fn stop(self) {
        let TestApp { config, shutdown, task, database, .. } = self;
        shutdown.cancel();
        task.await.unwrap().unwrap();
        clean_stream(&config).await;
        if let Some(database) = database {
            database.drop_database().await;
        }
    }

    /// Stops the app and leaves its database and Redis keys to another app that shares them (a
    /// replica), which cleans them up with [`TestApp::stop`].
    ///
    /// # Panics
    /// When the app stopped with an error.
    #[allow(clippy::unwrap_used)]
    pub async fn halt(self) {
        let TestApp { shutdown, task, .. } = self;
        shutdown.cancel();
        task.await.unwrap().unwrap();
    }
}

/// Deletes the Redis keys of a test configuration.
pub async fn clean_stream(config: &TendConfig) {
    if config.stream.redis_url.is_empty() {
        return;
    }
    {
        let mut options = tend_queue::RedisStreamOptions::new(config.stream.redis_url.clone());
        options.key_prefix = config.stream.key_prefix.clone();
        if let Ok(stream) = tend_queue::RedisStream::connect(options).await {
            let _ = stream.delete_all_keys().await;
        }
    }
}

/// A request acting for `tenant` (authentication is off in tests unless a test turns it on).
///
/// # Panics
/// When `tenant` is not a valid header value.
#[allow(clippy::unwrap_used)]
pub fn as_tenant<T>(tenant: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(tend_kernel::auth::TENANT_HEADER, tenant.parse().unwrap());
    request
}

/// `message` as a request with API key `key` (a test with authentication on names its actors
/// by their keys).
///
/// # Panics
/// When `key` is not a valid header value.
#[allow(clippy::unwrap_used)]
pub fn with_key<T>(key: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {key}").parse().unwrap());
    request
}

/// A post on X by `handle` with `text`, with a unique channel id.
pub fn post(handle: &str, text: &str) -> v1::IngestInteractionRequest {
    v1::IngestInteractionRequest {
        channel: v1::Channel::X.into(),
        external_id: uuid::Uuid::new_v4().to_string(),
        author: Some(v1::Author {
            external_id: format!("id-{handle}"),
            handle: handle.to_owned(),
            followers: 1_500,
            ..Default::default()
        }),
        text: text.to_owned(),
        ..Default::default()
    }
}

/// Every event envelope on `stream_name` (at most the first 1,000), oldest first.
///
/// # Panics
/// When the stream cannot be read or holds something that is not an envelope.
#[allow(clippy::unwrap_used)]
pub async fn envelopes(stream: &dyn EventStream, stream_name: &str) -> Vec<v1::EventEnvelope> {
    let mut envelopes = Vec::new();
    let mut after = None;
    while envelopes.len() < 1_000 {
        let entries = stream.range(stream_name, after.as_deref(), 100).await.unwrap();
        let Some(last) = entries.last() else { break };
        after = Some(last.id.clone());
        envelopes.extend(entries.iter().map(|entry| v1::EventEnvelope::decode(entry.payload.as_slice()).unwrap()));
    }
    envelopes
}

/// Polls `probe` until it yields a value, for at most `limit`.
///
/// # Panics
/// When `limit` passes first; `what` says what was awaited.
#[allow(clippy::panic)]
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if started.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until routing has decided on `interaction_id` (for `tenant`) and returns the decision.
pub async fn routed(app: &TestApp, tenant: &str, interaction_id: &str) -> v1::RoutingDecision {
    let interaction_id = interaction_id.to_owned();
    routed_with(app, || as_tenant(tenant, v1::GetRoutingDecisionRequest { interaction_id: interaction_id.clone() }))
        .await
}

/// Waits until `request()` (a decision look-up with whatever credentials it carries) succeeds.
pub async fn routed_with(
    app: &TestApp,
    request: impl Fn() -> tonic::Request<v1::GetRoutingDecisionRequest>,
) -> v1::RoutingDecision {
    eventually("the routing decision", Duration::from_secs(20), || async {
        app.routing().get_routing_decision(request()).await.ok().map(tonic::Response::into_inner)
    })
    .await
}

/// Runs each scenario `async fn name(backend: Backend)` of a test file twice: against the
/// embedded default (module `embedded`) and against PostgreSQL + Redis (module
/// `postgres_redis`).
#[macro_export]
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::Backend::Embedded).await;
                }
            )*
        }
        mod postgres_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario($crate::Backend::PostgresRedis).await;
                }
            )*
        }
    };
}
