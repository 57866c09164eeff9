//! The HTTP listener every Tend process runs beside its gRPC server (`server.http_listen`):
//! platform webhooks (mounted by the components that take them), `/metrics` for Prometheus and
//! `/healthz` for probes. Each request gets a trace span that continues the caller's trace.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use crate::server::ServerError;

/// An HTTP listener with its port bound and its routes mounted.
pub struct BoundHttp {
    listener: tokio::net::TcpListener,
    router: Router,
    local_addr: SocketAddr,
}

/// Binds `listen` (e.g. `127.0.0.1:8080`; port 0 picks a free one) and mounts `routes` with
/// `/metrics` and `/healthz`.
pub async fn bind(listen: SocketAddr, routes: Router) -> Result<BoundHttp, ServerError> {
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|source| ServerError::Bind { addr: listen, source })?;
    let local_addr = listener.local_addr().map_err(|source| ServerError::Bind { addr: listen, source })?;
    let router = routes
        .route(
            "/metrics",
            get(|| async { ([("content-type", "text/plain; version=0.0.4")], crate::metrics::render()) }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span));
    Ok(BoundHttp { listener, router, local_addr })
}

impl BoundHttp {
    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown`, then lets requests in flight finish for at most `grace`.
    pub async fn serve(self, shutdown: CancellationToken, grace: Duration) {
        let drain = shutdown.clone();
        let server = axum::serve(self.listener, self.router).with_graceful_shutdown(async move {
            drain.cancelled().await;
            tracing::info!("http server draining");
        });
        tokio::select! {
            served = server => {
                if let Err(error) = served {
                    tracing::error!(%error, "http server failed");
                }
            }
            () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(?grace, "http requests still running after the shutdown grace; stopping anyway");
            }
        }
    }
}

fn request_span<B>(request: &http::Request<B>) -> tracing::Span {
    let span = tracing::info_span!(
        "http request",
        otel.kind = "server",
        http.method = %request.method(),
        http.path = %request.uri().path(),
    );
    crate::telemetry::set_parent_from_headers(&span, request.headers());
    span
}
