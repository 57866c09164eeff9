//! The gRPC server every Tend service runs in, written once.
//!
//! A [`GrpcServer`] mounts the services it is given beside `grpc.health.v1` and reflection (v1
//! and v1alpha), wraps them in tower layers (a trace span per request that continues the
//! caller's trace, authentication, per-request timeout, per-connection concurrency limit with
//! load shedding, the caller's errors answered with the caller's codes: see [`crate::status`]) and serves until the shutdown token is cancelled: health turns NOT_SERVING
//! first, then the listener closes and requests in flight get `shutdown_grace` to finish.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::auth::{AuthConfig, AuthLayer, Authenticator};
use crate::config::{ConfigError, Validate};
use crate::status::StatusLayer;
use crate::tls::{TlsConfig, TlsFiles};

/// How long a client may take over its TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the TLS files are checked for a renewed certificate.
const TLS_RELOAD_EVERY: Duration = Duration::from_secs(5);

/// `[server]`: where and how the gRPC server listens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Address to listen on, e.g. `127.0.0.1:50051`, or `0.0.0.0:50051` in a container. Port 0
    /// picks a free port.
    pub listen: String,
    /// A request that takes longer is cancelled with DEADLINE_EXCEEDED.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Largest request message accepted, in bytes; larger ones fail with RESOURCE_EXHAUSTED.
    pub max_request_bytes: usize,
    /// Requests served at once on one connection; more are refused with UNAVAILABLE (load
    /// shedding) rather than queued.
    pub concurrency_limit: usize,
    /// How long requests in flight may run on after shutdown begins.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// Address of the HTTP listener (platform webhooks, `/metrics`, `/healthz`), e.g.
    /// `127.0.0.1:8080`; port 0 picks a free port; empty turns it off.
    pub http_listen: String,
    /// TLS (and mutual TLS) for gRPC; off by default.
    pub tls: TlsConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:50051".to_owned(),
            request_timeout: Duration::from_secs(30),
            max_request_bytes: 4 * 1024 * 1024,
            concurrency_limit: 1024,
            shutdown_grace: Duration::from_secs(10),
            http_listen: "127.0.0.1:8080".to_owned(),
            tls: TlsConfig::default(),
        }
    }
}

impl ServerConfig {
    /// The parsed listen address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| {
            ConfigError::invalid("server.listen", format!("{:?} is not an address like 127.0.0.1:50051", self.listen))
        })
    }
}

impl ServerConfig {
    /// The parsed HTTP listen address; `None` when the listener is off.
    pub fn http_listen_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        if self.http_listen.is_empty() {
            return Ok(None);
        }
        self.http_listen.parse().map(Some).map_err(|_| {
            ConfigError::invalid(
                "server.http_listen",
                format!("{:?} is not an address like 127.0.0.1:8080 (empty turns it off)", self.http_listen),
            )
        })
    }
}

impl Validate for ServerConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        self.http_listen_addr()?;
        if self.request_timeout.is_zero() {
            return Err(ConfigError::invalid("server.request_timeout", "must be longer than 0s (e.g. \"30s\")"));
        }
        if self.max_request_bytes < 1024 {
            return Err(ConfigError::invalid("server.max_request_bytes", "must be at least 1024"));
        }
        if self.concurrency_limit == 0 {
            return Err(ConfigError::invalid("server.concurrency_limit", "must be at least 1"));
        }
        self.tls.check()
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Reflection could not be built from the descriptor sets.
    #[error("cannot build gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The transport failed.
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// A gRPC server being assembled: add services, then [`GrpcServer::bind`].
pub struct GrpcServer {
    config: ServerConfig,
    authenticator: Arc<Authenticator>,
    routes: RoutesBuilder,
    health: HealthReporter,
    service_names: Vec<&'static str>,
    descriptor_sets: Vec<&'static [u8]>,
}

impl GrpcServer {
    /// A server with health checking mounted and no services yet.
    pub fn new(config: ServerConfig, auth: &AuthConfig) -> Result<Self, ServerError> {
        config.validate()?;
        let authenticator = Arc::new(Authenticator::new(auth)?);
        if !authenticator.is_enabled() {
            tracing::warn!(
                "authentication is OFF: no [auth] keys are configured; every caller is an admin (development only)"
            );
        }
        let (health, health_service) = tonic_health::server::health_reporter();
        let mut routes = RoutesBuilder::default();
        routes.add_service(health_service);
        Ok(Self {
            config,
            authenticator,
            routes,
            health,
            service_names: Vec::new(),
            descriptor_sets: vec![tonic_health::pb::FILE_DESCRIPTOR_SET],
        })
    }

    /// The server's configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Mounts a generated tonic service. It is reported SERVING once the server runs.
    pub fn add_service<S>(&mut self, service: S) -> &mut Self
    where
        S: tower::Service<http::Request<tonic::body::Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.service_names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// Adds an encoded `FileDescriptorSet` for reflection to serve.
    pub fn add_descriptor_set(&mut self, descriptor_set: &'static [u8]) -> &mut Self {
        self.descriptor_sets.push(descriptor_set);
        self
    }

    /// The health reporter, for services that want to report their own state.
    pub fn health_reporter(&self) -> HealthReporter {
        self.health.clone()
    }

    /// Binds the listen address, so the caller can learn the port before serving.
    pub async fn bind(mut self) -> Result<BoundServer, ServerError> {
        let mut reflection = tonic_reflection::server::Builder::configure();
        let mut reflection_alpha = tonic_reflection::server::Builder::configure();
        for set in &self.descriptor_sets {
            reflection = reflection.register_encoded_file_descriptor_set(set);
            reflection_alpha = reflection_alpha.register_encoded_file_descriptor_set(set);
        }
        // List only what this process serves: a descriptor set may describe services that run
        // elsewhere (`tend serve ingest` knows every tend.v1 contract).
        let health = "grpc.health.v1.Health";
        for name in self.service_names.iter().copied().chain([health]) {
            reflection = reflection.with_service_name(name);
            reflection_alpha = reflection_alpha.with_service_name(name);
        }
        self.routes.add_service(reflection.build_v1()?);
        self.routes.add_service(reflection_alpha.build_v1alpha()?);

        let addr = self.config.listen_addr()?;
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { addr, source })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Bind { addr, source })?;
        Ok(BoundServer { server: self, listener, local_addr })
    }
}

/// A server with its port bound.
pub struct BoundServer {
    server: GrpcServer,
    listener: tokio::net::TcpListener,
    local_addr: SocketAddr,
}

impl BoundServer {
    /// The address actually bound (the real port when the config said port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The names of the mounted Tend services.
    pub fn service_names(&self) -> &[&'static str] {
        &self.server.service_names
    }

    /// Serves until `shutdown` is cancelled, then drains for at most `shutdown_grace`.
    pub async fn serve(self, shutdown: CancellationToken) -> Result<(), ServerError> {
        let GrpcServer { config, authenticator, routes, health, service_names, .. } = self.server;
        tokio::spawn(authenticator.clone().watch(shutdown.clone()));
        for name in &service_names {
            health.set_service_status(*name, ServingStatus::Serving).await;
        }
        let tls = if config.tls.is_enabled() { Some(Arc::new(TlsFiles::new(&config.tls)?)) } else { None };
        let drain_started = CancellationToken::new();
        let signal = {
            let shutdown = shutdown.clone();
            let drain_started = drain_started.clone();
            let health = health.clone();
            async move {
                shutdown.cancelled().await;
                health.set_service_status("", ServingStatus::NotServing).await;
                for name in &service_names {
                    health.set_service_status(*name, ServingStatus::NotServing).await;
                }
                tracing::info!("grpc server draining");
                drain_started.cancel();
            }
        };
        let router = tonic::transport::Server::builder()
            .timeout(config.request_timeout)
            .concurrency_limit_per_connection(config.concurrency_limit)
            .load_shed(true)
            .layer(tower_http::trace::TraceLayer::new_for_grpc().make_span_with(request_span).on_failure(log_failure))
            .layer(AuthLayer::new(authenticator))
            .layer(StatusLayer)
            .add_routes(routes.routes());
        let server: Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>> = match tls {
            // TCP_NODELAY on every accepted connection: a custom incoming stream does not get
            // the builder's setting, and without it a small response waits ~40 ms on Nagle.
            None => {
                let incoming = tonic::transport::server::TcpIncoming::from(self.listener).with_nodelay(Some(true));
                Box::pin(router.serve_with_incoming_shutdown(incoming, signal))
            }
            Some(files) => {
                tokio::spawn(files.clone().watch(TLS_RELOAD_EVERY, shutdown.clone()));
                let incoming = tls_incoming(self.listener, files, shutdown.clone());
                Box::pin(router.serve_with_incoming_shutdown(incoming, signal))
            }
        };
        tokio::select! {
            served = server => served?,
            () = async { drain_started.cancelled().await; tokio::time::sleep(config.shutdown_grace).await } => {
                tracing::warn!(grace = ?config.shutdown_grace, "requests still running after the shutdown grace; stopping anyway");
            }
        }
        Ok(())
    }
}

/// The connections of `listener` after their TLS handshake, each with the configuration in
/// force when it arrived. A handshake runs on a task of its own, so a slow or silent client
/// holds up nobody; it fails after [`TLS_HANDSHAKE_TIMEOUT`].
fn tls_incoming(
    listener: tokio::net::TcpListener,
    files: Arc<TlsFiles>,
    shutdown: CancellationToken,
) -> impl futures::Stream<Item = Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>, std::io::Error>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        // Out of file descriptors, say: wait a little rather than spin.
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = shutdown.cancelled() => return,
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = tokio_rustls::TlsAcceptor::from(files.current());
            let sender = sender.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = sender.send(Ok(stream)).await;
                    }
                    Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(receiver)
}

/// The span of one gRPC request, continuing the caller's trace when it sent one.
fn request_span<B>(request: &http::Request<B>) -> tracing::Span {
    let span = tracing::info_span!(
        "grpc request",
        otel.kind = "server",
        rpc.method = %request.uri().path(),
        tenant = tracing::field::Empty,
    );
    crate::telemetry::set_parent_from_headers(&span, request.headers());
    span
}

/// Logs a failed request: loudly when the server is at fault, quietly when the caller asked for
/// something wrong or missing (NOT_FOUND is an answer, not an incident).
fn log_failure(failure: tower_http::classify::GrpcFailureClass, latency: Duration, _span: &tracing::Span) {
    use tower_http::classify::GrpcFailureClass;
    let latency_ms = latency.as_millis();
    match failure {
        GrpcFailureClass::Status(status) => {
            log_status(status.code_raw(), status.message().unwrap_or_default(), latency_ms);
        }
        GrpcFailureClass::Error(error) => tracing::warn!(%error, latency_ms, "request failed"),
        other => tracing::warn!(failure = %other, latency_ms, "request failed"),
    }
}

/// Logs a request that ended with a status other than OK. A server-side failure logs its
/// status message (the server wrote it: an incident id, "storage is unavailable") as the field
/// `grpc_message`, not `message`, which is the event's own text (a JSON line would carry the
/// key twice). A refusal logs only its code: its message may quote the caller's input.
fn log_status(code: i32, grpc_message: &str, latency_ms: u128) {
    use tonic::Code;
    match Code::from_i32(code) {
        Code::Internal | Code::Unknown | Code::DataLoss | Code::Unavailable | Code::DeadlineExceeded => {
            tracing::warn!(code, grpc_message, latency_ms, "request failed");
        }
        _ => tracing::debug!(code, latency_ms, "request refused"),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A log writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_request_logs_each_json_key_once() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            log_status(tonic::Code::Internal as i32, "internal error (incident 1)", 3);
            log_status(tonic::Code::NotFound as i32, "case 9 not found", 1);
        });
        let logged = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<_> = logged.lines().collect();
        assert_eq!(lines.len(), 2, "{logged}");
        for line in &lines {
            assert_eq!(line.matches("\"message\":").count(), 1, "{line}");
        }
        assert!(lines[0].contains("\"grpc_message\":\"internal error (incident 1)\""), "{}", lines[0]);
        assert!(!lines[1].contains("case 9"), "a refusal's message may quote input: {}", lines[1]);
    }
}
