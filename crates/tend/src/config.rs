//! The whole configuration of a Tend process: one section per concern, each validated.
//!
//! Loaded by [`tend_kernel::config::load`]: defaults → `--config FILE` (or `./tend.toml`) →
//! `TEND__SECTION__KEY` environment variables.

use serde::{Deserialize, Serialize};
use tend_kernel::config::{ConfigError, Validate, check_optional_url};
use tend_kernel::{AuthConfig, ServerConfig, TelemetryConfig};
use tend_store::{StoreConfig, StreamConfig};

/// Everything a Tend process is configured with.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TendConfig {
    /// `[server]`: the gRPC listener.
    pub server: ServerConfig,
    /// `[telemetry]`: logs and traces.
    pub telemetry: TelemetryConfig,
    /// `[storage]`: databases.
    pub storage: StoreConfig,
    /// `[stream]`: the event stream.
    pub stream: StreamConfig,
    /// `[auth]`: API keys.
    pub auth: AuthConfig,
    /// `[clients]`: how to reach other services when they run apart.
    pub clients: ClientsConfig,
    /// `[channels]`: secrets, webhooks and replies (ingest).
    pub channels: tend_ingest::ChannelsConfig,
    /// `[cases]`: the cases service's timers.
    pub cases: tend_cases::CasesConfig,
    /// `[queue]`: how the universal queue (routing) hands out work.
    pub queue: tend_routing::QueueConfig,
    /// `[trends]`: hot topics (routing): how they are assessed and what they change.
    pub trends: tend_routing::TrendsConfig,
    /// `[retention]`: how long what people wrote is kept, per tenant.
    pub retention: tend_store::RetentionConfig,
    /// `[feedback]`: survey links (their signing secret, address and lifetime).
    pub feedback: tend_feedback::FeedbackConfig,
}

/// `[clients]`: endpoints of the services this process calls when they are not in it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientsConfig {
    /// gRPC endpoint of the cases service, e.g. `http://tend-cases:50051`; needed by routing
    /// when cases runs in another process.
    pub cases: String,
    /// gRPC endpoint of the ingest service, e.g. `http://tend-ingest:50051`; asked by identity
    /// for subject access exports when ingest runs in another process.
    pub ingest: String,
    /// gRPC endpoint of the routing service, e.g. `http://tend-routing:50051`; asked by identity
    /// for subject access exports when routing runs in another process.
    pub routing: String,
    /// gRPC endpoint of the feedback service, e.g. `http://tend-feedback:50051`; asked by
    /// identity for subject access exports when feedback runs in another process.
    pub feedback: String,
    /// API key (role `service`) this process presents to the services it calls; empty when
    /// their authentication is off.
    pub api_key: String,
    /// CA certificate (PEM) of the services it calls when they serve TLS (`https://`
    /// endpoints).
    pub tls_ca_file: String,
    /// This process's client certificate (PEM), for services that require mutual TLS.
    pub tls_cert_file: String,
    /// Its private key (PEM).
    pub tls_key_file: String,
}

impl ClientsConfig {
    /// TLS to the services this process calls, when a CA is configured.
    pub fn tls(&self) -> Option<tend_client::ClientTls> {
        let path = |value: &str| Some(std::path::PathBuf::from(value)).filter(|_| !value.is_empty());
        Some(tend_client::ClientTls {
            ca_file: path(&self.tls_ca_file)?,
            cert_file: path(&self.tls_cert_file),
            key_file: path(&self.tls_key_file),
        })
    }
}

impl Validate for ClientsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.tls_cert_file.is_empty() != self.tls_key_file.is_empty() {
            return Err(ConfigError::invalid("clients.tls_cert_file", "and clients.tls_key_file go together"));
        }
        if self.tls_ca_file.is_empty() && !self.tls_cert_file.is_empty() {
            return Err(ConfigError::invalid("clients.tls_ca_file", "is required with a client certificate"));
        }
        check_optional_url("clients.ingest", &self.ingest, &["http://", "https://"], "http://tend-ingest:50051")?;
        check_optional_url("clients.routing", &self.routing, &["http://", "https://"], "http://tend-routing:50051")?;
        check_optional_url("clients.feedback", &self.feedback, &["http://", "https://"], "http://tend-feedback:50051")?;
        check_optional_url("clients.cases", &self.cases, &["http://", "https://"], "http://tend-cases:50051")
    }
}

impl Validate for TendConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate()?;
        self.telemetry.validate()?;
        self.storage.validate()?;
        self.stream.validate()?;
        self.auth.validate()?;
        self.channels.validate()?;
        self.cases.validate()?;
        self.queue.validate()?;
        self.trends.validate()?;
        self.retention.validate()?;
        self.feedback.validate()?;
        self.clients.validate()
    }
}
