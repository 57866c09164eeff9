//! Process metrics in the Prometheus text format, served at `/metrics` on the HTTP listener.
//!
//! One registry per process. A component registers its metric families once (the first time it
//! is built: several apps in one test process share them) with [`register`].

use std::sync::{LazyLock, Mutex};

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::{Metric, Registry};

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(|| Mutex::new(Registry::with_prefix("tend")));

/// Registers `metric` as `tend_{name}` with `help`.
pub fn register(name: &str, help: &str, metric: impl Metric) {
    let mut registry = REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    registry.register(name, help, metric);
}

/// Every registered metric, in the Prometheus text exposition format.
pub fn render() -> String {
    let registry = REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut text = String::new();
    if encode(&mut text, &registry).is_err() {
        text.clear();
    }
    text
}

pub use prometheus_client::metrics::{counter::Counter, family::Family, gauge::Gauge};
