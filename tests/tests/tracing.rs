//! One trace from post to case: the trace context a caller sends with a post reaches the
//! envelopes of every event the post causes, on both backends.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use prost::Message as _;
use tend_proto::v1;
use tend_tests::{Backend, TestApp, as_tenant, eventually, post, routed};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

async fn trace_reaches_every_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut request = as_tenant("acme", post("tracy", "where is my refund"));
    let traceparent = format!("00-{TRACE_ID}-00f067aa0ba902b7-01");
    request.metadata_mut().insert("traceparent", traceparent.parse().unwrap());
    let ingested = app.ingest().ingest_interaction(request).await.unwrap().into_inner();
    routed(&app, "acme", &ingested.interaction.unwrap().id).await;

    let stream = tend::app::open_stream(&app.config).await.unwrap();
    for name in ["interactions.received", "interactions.identified", "cases.events"] {
        let envelope = eventually(&format!("an event on {name}"), Duration::from_secs(20), || async {
            let entries = stream.range(name, None, 10).await.unwrap();
            entries.first().map(|entry| v1::EventEnvelope::decode(entry.payload.as_slice()).unwrap())
        })
        .await;
        let parent = envelope.trace_context.get("traceparent").cloned().unwrap_or_default();
        assert!(parent.contains(TRACE_ID), "{name} carries {parent:?}, not trace {TRACE_ID}");
    }
    app.stop().await;
}

tend_tests::on_both_backends!(trace_reaches_every_event);
