//! Ingest's counters, served at `/metrics`: posts refused (by reason), webhook requests (by
//! source and status), replies (by outcome) and replies waiting for a quota.

use std::sync::LazyLock;

use tend_kernel::metrics::{Counter, Family, Gauge, register};

/// Ingest's metric families, registered once per process.
pub struct IngestMetrics {
    refused: Family<Vec<(&'static str, &'static str)>, Counter>,
    webhooks: Family<Vec<(&'static str, String)>, Counter>,
    replies: Family<Vec<(&'static str, &'static str)>, Counter>,
    /// Replies waiting for their account's quota or a platform's rate limit.
    pub replies_waiting: Gauge,
}

static METRICS: LazyLock<IngestMetrics> = LazyLock::new(|| {
    let metrics = IngestMetrics {
        refused: Family::default(),
        webhooks: Family::default(),
        replies: Family::default(),
        replies_waiting: Gauge::default(),
    };
    register("ingest_refused_posts", "Posts refused, by reason", metrics.refused.clone());
    register("webhook_requests", "Webhook requests, by source and HTTP status", metrics.webhooks.clone());
    register("replies", "Reply deliveries, by outcome", metrics.replies.clone());
    register("replies_waiting", "Replies waiting for a quota or a rate limit", metrics.replies_waiting.clone());
    metrics
});

/// The process's ingest metrics.
pub fn metrics() -> &'static IngestMetrics {
    &METRICS
}

impl IngestMetrics {
    /// Counts a refused post.
    pub fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&vec![("reason", reason)]).inc();
    }

    /// Counts a webhook request answered with `status`.
    pub fn webhook(&self, source: &'static str, status: u16) {
        self.webhooks.get_or_create(&vec![("source", source.to_owned()), ("status", status.to_string())]).inc();
    }

    /// Counts a reply outcome ("sent", "retry", "failed", "duplicate").
    pub fn reply(&self, outcome: &'static str) {
        self.replies.get_or_create(&vec![("outcome", outcome)]).inc();
    }
}
