//! Logs and traces.
//!
//! Logs go to stderr, pretty for people or JSON for collectors. Spans always carry OpenTelemetry
//! context, so trace ids flow through gRPC metadata and event envelopes even when nothing is
//! exported; with `otlp_endpoint` set they are also exported over OTLP/gRPC in batches. A
//! collector that is down costs nothing but dropped spans. Logs never carry personal data:
//! see [`redact`].

use std::collections::HashMap;

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::{Deserialize, Serialize};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::config::{ConfigError, Validate, check_optional_url};

pub mod redact;

use redact::RedactingWriter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable, coloured when stderr is a terminal.
    #[default]
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `[telemetry]`: logging and trace export.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetryConfig {
    /// `pretty` or `json`.
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `info,tend_routing=debug`. `RUST_LOG`, when set, wins.
    pub log_filter: String,
    /// OTLP/gRPC endpoint of an OpenTelemetry collector, e.g. `http://otel-collector:4317`;
    /// empty exports nothing.
    pub otlp_endpoint: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self { log_format: LogFormat::Pretty, log_filter: "info".to_owned(), otlp_endpoint: String::new() }
    }
}

impl Validate for TelemetryConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        EnvFilter::try_new(&self.log_filter)
            .map_err(|error| ConfigError::invalid("telemetry.log_filter", format!("is not a valid filter: {error}")))?;
        check_optional_url(
            "telemetry.otlp_endpoint",
            &self.otlp_endpoint,
            &["http://", "https://"],
            "http://otel-collector:4317",
        )
    }
}

/// Keeps the trace pipeline alive; call [`Telemetry::shutdown`] at exit to flush spans.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter could not be built.
    #[error("cannot build the OTLP exporter for {endpoint}: {source}")]
    Exporter {
        /// The configured endpoint.
        endpoint: String,
        /// The exporter's error.
        source: opentelemetry_otlp::ExporterBuildError,
    },
    /// A global subscriber was already installed.
    #[error("a tracing subscriber is already installed: {0}")]
    AlreadyInstalled(String),
}

/// Installs logging and tracing for the process. Must run inside the Tokio runtime (the batch
/// exporter spawns onto it).
pub fn init(config: &TelemetryConfig, service_name: &str) -> Result<Telemetry, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(service_name.to_owned()).build();
    let mut provider = SdkTracerProvider::builder().with_resource(resource);
    if !config.otlp_endpoint.is_empty() {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(config.otlp_endpoint.clone())
            .build()
            .map_err(|source| TelemetryError::Exporter { endpoint: config.otlp_endpoint.clone(), source })?;
        provider = provider.with_batch_exporter(exporter);
    }
    let provider = provider.build();
    let tracer = provider.tracer("tend");

    let filter = log_filter(std::env::var("RUST_LOG").ok().filter(|value| !value.is_empty()), &config.log_filter);
    let stderr = RedactingWriter::new(std::io::stderr);
    let fmt_layer = match config.log_format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_writer(stderr).boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_writer(stderr)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init()
        .map_err(|error| TelemetryError::AlreadyInstalled(error.to_string()))?;
    Ok(Telemetry { provider })
}

impl Telemetry {
    /// Flushes and stops the exporter. Runs on a blocking thread: a collector that is down must
    /// not stall the runtime (see STACK.md).
    pub async fn shutdown(self) {
        let provider = self.provider;
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(error)) = flushed {
            tracing::warn!(%error, "trace exporter did not shut down cleanly; some spans may be lost");
        }
    }
}

/// The filter of `RUST_LOG` when set, else of the configured one, with the libraries that log
/// values held at warn ([`redact::QUIET`]).
fn log_filter(rust_log: Option<String>, configured: &str) -> EnvFilter {
    let wanted = rust_log.unwrap_or_else(|| configured.to_owned());
    EnvFilter::try_new(format!("{wanted},{}", redact::QUIET))
        .unwrap_or_else(|_| EnvFilter::new(format!("info,{}", redact::QUIET)))
}

/// Installs a subscriber for tests: spans always carry OpenTelemetry context (so trace
/// propagation can be tested), logs are silent unless `TEST_LOG` is set (its value is the
/// filter). Safe to call from every test.
pub fn init_for_tests() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let logs = std::env::var("TEST_LOG")
        .ok()
        .map(|filter| tracing_subscriber::fmt::layer().with_test_writer().with_filter(log_filter(Some(filter), "")));
    let provider = SdkTracerProvider::builder().build();
    let traces = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("tend-test"))
        .with_filter(EnvFilter::new("info,sqlx=off,h2=off,tower=off,hyper=off"));
    let _ = tracing_subscriber::registry().with(logs).with(traces).try_init();
}

/// The W3C trace context of the current span (`traceparent`, `tracestate`), to put into an event
/// envelope or outgoing request. Empty when there is no active trace.
pub fn current_trace_context() -> HashMap<String, String> {
    let context = tracing::Span::current().context();
    let mut carrier = HashMap::new();
    opentelemetry::global::get_text_map_propagator(|propagator| propagator.inject_context(&context, &mut carrier));
    carrier
}

/// Makes `span` a child of the trace described by `carrier` (from an event envelope).
pub fn set_parent_from_map(span: &tracing::Span, carrier: &HashMap<String, String>) {
    let context = opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(carrier));
    let _ = span.set_parent(context);
}

/// Links `span` to the trace described by `carrier`: for a span that handles a batch of events
/// from several traces, each of which it continues in part.
pub fn link_from_map(span: &tracing::Span, carrier: &HashMap<String, String>) {
    use opentelemetry::trace::TraceContextExt as _;
    let context = opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(carrier));
    let linked = context.span().span_context().clone();
    if linked.is_valid() {
        span.add_link(linked);
    }
}

/// Makes `span` a child of the trace in the headers of an incoming request.
pub fn set_parent_from_headers(span: &tracing::Span, headers: &http::HeaderMap) {
    let context =
        opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&HeaderCarrier(headers)));
    let _ = span.set_parent(context);
}

/// Writes the current span's trace context into outgoing request headers.
pub fn inject_into_headers(headers: &mut http::HeaderMap) {
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderCarrierMut(headers));
    });
}

struct HeaderCarrier<'a>(&'a http::HeaderMap);

impl Extractor for HeaderCarrier<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct HeaderCarrierMut<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderCarrierMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(key.as_bytes()), http::HeaderValue::from_str(&value))
        {
            self.0.insert(name, value);
        }
    }
}
