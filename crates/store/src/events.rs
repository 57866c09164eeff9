//! Event envelopes: building them for the outbox, and handling them off the stream.

use std::sync::Arc;

use async_trait::async_trait;
use prost::Message as _;
use tend_kernel::TenantId;
use tend_proto::v1::EventEnvelope;
use tend_queue::{Delivery, HandlerError};
use tracing::Instrument as _;

/// Stream names. Keys in Redis get the deployment's prefix in front.
pub mod streams {
    /// New interactions, from ingest.
    pub const INTERACTIONS_RECEIVED: &str = "interactions.received";
    /// Interactions with their author identified, from identity.
    pub const INTERACTIONS_IDENTIFIED: &str = "interactions.identified";
    /// Every change to a case, from cases.
    pub const CASES_EVENTS: &str = "cases.events";
    /// Customers forgotten (right to erasure), from identity.
    pub const CUSTOMERS_ERASED: &str = "customers.erased";
}

/// A new envelope for `payload`, from service `source`, for `tenant`, carrying the current
/// trace context.
pub fn envelope<M: prost::Message + prost::Name>(source: &str, tenant: &TenantId, payload: &M) -> EventEnvelope {
    EventEnvelope {
        event_id: tend_kernel::ids::new_id(),
        r#type: M::full_name(),
        tenant: tenant.as_str().to_owned(),
        occurred_at: Some(tend_kernel::ids::to_timestamp(tend_kernel::ids::now())),
        trace_context: tend_kernel::telemetry::current_trace_context(),
        payload: payload.encode_to_vec(),
        source: source.to_owned(),
    }
}

/// Decodes the payload of `envelope` as `M`; a payload of another type or that does not decode
/// is poison (retrying will not help).
pub fn payload<M: prost::Message + prost::Name + Default>(envelope: &EventEnvelope) -> Result<M, HandlerError> {
    if envelope.r#type != M::full_name() {
        return Err(HandlerError::Poison(format!(
            "event {} has type {}, expected {}",
            envelope.event_id,
            envelope.r#type,
            M::full_name()
        )));
    }
    M::decode(envelope.payload.as_slice())
        .map_err(|error| HandlerError::Poison(format!("event {} payload does not decode: {error}", envelope.event_id)))
}

/// The tenant of an envelope; an invalid one is poison.
pub fn tenant(envelope: &EventEnvelope) -> Result<TenantId, HandlerError> {
    TenantId::parse(&envelope.tenant)
        .map_err(|problem| HandlerError::Poison(format!("event {}: {problem}", envelope.event_id)))
}

/// Handles decoded envelopes; wrap in [`EnvelopeHandler`] to consume a stream.
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// Handles one event. Must be idempotent: the same event may arrive more than once.
    async fn handle(&self, envelope: &EventEnvelope) -> Result<(), HandlerError>;
}

/// Adapts an [`EventHandler`] to the queue's [`tend_queue::Handler`]: decodes the envelope and
/// runs the handler in a span that continues the producer's trace.
pub struct EnvelopeHandler<H> {
    inner: Arc<H>,
    consumer: &'static str,
}

impl<H: EventHandler> EnvelopeHandler<H> {
    /// Wraps `inner`; `consumer` names it in logs and spans.
    pub fn new(consumer: &'static str, inner: Arc<H>) -> Self {
        Self { inner, consumer }
    }
}

#[async_trait]
impl<H: EventHandler> tend_queue::Handler for EnvelopeHandler<H> {
    async fn handle(&self, delivery: &Delivery) -> Result<(), HandlerError> {
        let envelope = EventEnvelope::decode(delivery.payload.as_slice()).map_err(|error| {
            HandlerError::Poison(format!("entry {} is not an event envelope: {error}", delivery.id))
        })?;
        let span = tracing::info_span!(
            "handle event",
            otel.kind = "consumer",
            consumer = self.consumer,
            event_id = %envelope.event_id,
            event_type = %envelope.r#type,
            tenant = %envelope.tenant,
            deliveries = delivery.deliveries,
        );
        tend_kernel::telemetry::set_parent_from_map(&span, &envelope.trace_context);
        let outcome = self.inner.handle(&envelope).instrument(span.clone()).await;
        if let Err(error) = &outcome {
            span.in_scope(|| tracing::warn!(%error, "event not handled"));
        }
        outcome
    }
}
