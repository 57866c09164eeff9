//! A service as a binary runs it, and the one function that runs any set of them.
//!
//! `tend dev` runs all five components in one process; `tend serve cases` runs one. Both go
//! through [`run`]: mount every component's gRPC services on one server, start every
//! component's background work (outbox relay, event consumers), serve until the shutdown token
//! is cancelled, then wait for the background work to stop.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;

use tokio_util::sync::CancellationToken;

use crate::server::{GrpcServer, ServerError};

/// Background work of a component, running until the token is cancelled.
pub type BackgroundTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One Tend service, built and ready to run.
pub trait Component: Send {
    /// Its name in logs: "ingest", "cases", …
    fn name(&self) -> &'static str;

    /// Mounts its gRPC services on `server`.
    fn mount(&self, server: &mut GrpcServer);

    /// Its HTTP routes (webhooks), served on `server.http_listen`; none by default.
    fn http_routes(&self) -> Option<axum::Router> {
        None
    }

    /// Its background tasks; each must return soon after `shutdown` is cancelled.
    fn background(self: Box<Self>, shutdown: CancellationToken) -> Vec<BackgroundTask>;
}

/// Where a process listens, once bound (the real ports when the config said 0).
#[derive(Debug, Clone, Copy)]
pub struct Bound<'a> {
    /// The gRPC server.
    pub grpc: SocketAddr,
    /// The HTTP listener (webhooks, metrics), unless it is off.
    pub http: Option<SocketAddr>,
    /// The mounted gRPC service names.
    pub services: &'a [&'static str],
}

/// Runs `components` on `server` until `shutdown` is cancelled. `on_bound` is told where the
/// process listens before serving.
pub async fn run(
    mut server: GrpcServer,
    components: Vec<Box<dyn Component>>,
    shutdown: CancellationToken,
    on_bound: impl FnOnce(Bound<'_>),
) -> Result<(), ServerError> {
    let mut routes = axum::Router::new();
    for component in &components {
        component.mount(&mut server);
        if let Some(more) = component.http_routes() {
            routes = routes.merge(more);
        }
    }
    let http = match server.config().http_listen_addr()? {
        Some(listen) => Some(crate::http::bind(listen, routes).await?),
        None => None,
    };
    let grace = server.config().shutdown_grace;
    let bound = server.bind().await?;
    on_bound(Bound {
        grpc: bound.local_addr(),
        http: http.as_ref().map(crate::http::BoundHttp::local_addr),
        services: bound.service_names(),
    });

    let mut tasks = tokio::task::JoinSet::new();
    for component in components {
        let name = component.name();
        for task in component.background(shutdown.clone()) {
            tasks.spawn(async move {
                task.await;
                tracing::debug!(component = name, "background task stopped");
            });
        }
    }
    if let Some(http) = http {
        tasks.spawn(http.serve(shutdown.clone(), grace));
    }
    let served = bound.serve(shutdown.clone()).await;
    // The server may stop on its own (an error); background work must stop with it.
    shutdown.cancel();
    while let Some(joined) = tasks.join_next().await {
        if let Err(error) = joined {
            tracing::error!(%error, "a background task panicked");
        }
    }
    served
}
