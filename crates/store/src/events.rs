//! Event envelopes: the stream names, building envelopes for the outbox, and reading them off
//! the stream.

use tend_kernel::TenantId;
use tend_proto::v1::EventEnvelope;
use tend_queue::HandlerError;

/// Stream names. Keys in Redis get the deployment's prefix in front.
pub mod streams {
    /// New interactions, from ingest.
    pub const INTERACTIONS_RECEIVED: &str = "interactions.received";
    /// Interactions with their author identified, from identity.
    pub const INTERACTIONS_IDENTIFIED: &str = "interactions.identified";
    /// Every change to a case, from cases.
    pub const CASES_EVENTS: &str = "cases.events";
    /// `InteractionRouted`, published by routing for every decision, work or not.
    pub const INTERACTIONS_ROUTED: &str = "interactions.routed";
    /// Escalation thresholds crossed (`TopicEscalated`), from routing: cases opens the incident.
    pub const TOPICS_ESCALATED: &str = "topics.escalated";
    /// Customers forgotten (right to erasure), from identity.
    pub const CUSTOMERS_ERASED: &str = "customers.erased";
    /// Interactions edited on their channel, from ingest.
    pub const INTERACTIONS_UPDATED: &str = "interactions.updated";
    /// Interactions deleted on their channel, from ingest.
    pub const INTERACTIONS_DELETED: &str = "interactions.deleted";
    /// Monitored accounts created or changed (with their hours), from ingest.
    pub const CHANNELS_ACCOUNTS: &str = "channels.accounts";
    /// Replies to send on the customer's channel, from cases and feedback.
    pub const REPLIES_REQUESTED: &str = "replies.requested";
    /// Replies the platform took, from ingest.
    pub const REPLIES_DELIVERED: &str = "replies.delivered";
    /// Replies given up on, from ingest.
    pub const REPLIES_FAILED: &str = "replies.failed";
    /// Replies waiting for a quota or a rate limit, from ingest.
    pub const REPLIES_DELAYED: &str = "replies.delayed";
    /// `SurveyAnswered`, published by feedback (a low score may ask cases to reopen).
    pub const SURVEYS_ANSWERED: &str = "surveys.answered";
    /// Offers of work to agents as they are made and end, from routing (WatchOffers tails it).
    pub const QUEUE_OFFERS: &str = "queue.offers";
    /// Incidents opened, changed, merged and resolved (`IncidentEvent`), from cases: what the
    /// department working on one follows.
    pub const INCIDENTS_EVENTS: &str = "incidents.events";
    /// Incidents resolved with their proactive notice asked for (`NoticeRequested`), from cases.
    pub const NOTICE_REQUESTED: &str = "incidents.notice_requested";
    /// What came of an incident's notice in identity (`NoticeReported`), from identity.
    pub const NOTICE_REPORTED: &str = "incidents.notice_reported";
    /// The ids each service erased, for the stream janitor (`tend_store::erasure`); no consumer
    /// group reads it.
    pub const ERASURES: &str = "erasures";
}

/// A new envelope for `payload`, from service `source`, for `tenant`, carrying the current
/// trace context.
pub fn envelope<M: prost::Message + prost::Name>(source: &str, tenant: &TenantId, payload: &M) -> EventEnvelope {
    envelope_in_trace(source, tenant, payload, tend_kernel::telemetry::current_trace_context())
}

/// A new envelope for `payload` that continues the trace `trace_context` (that of the event or
/// request that caused it) rather than the current span's.
pub fn envelope_in_trace<M: prost::Message + prost::Name>(
    source: &str,
    tenant: &TenantId,
    payload: &M,
    trace_context: std::collections::HashMap<String, String>,
) -> EventEnvelope {
    EventEnvelope {
        event_id: tend_kernel::ids::new_id(),
        r#type: M::full_name(),
        tenant: tenant.as_str().to_owned(),
        occurred_at: Some(tend_kernel::ids::to_timestamp(tend_kernel::ids::now())),
        trace_context,
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

/// Whom a `customers.erased` event erases: the customer, and each erased profile (data recorded
/// before the profile was linked carries the profile only). Every service that keeps personal
/// data reads the event through this, so that a blank id never matches every unknown author's
/// rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasedPeople {
    /// The erased customer; `None` when the event names none. Never blank.
    pub customer_id: Option<String>,
    /// The erased profiles, sorted, without blanks or repeats.
    pub profile_ids: Vec<String>,
}

impl ErasedPeople {
    /// The people `event` erases.
    pub fn from_event(event: &tend_proto::v1::CustomerErased) -> Self {
        let customer_id = Some(event.customer_id.trim().to_owned()).filter(|id| !id.is_empty());
        let mut profile_ids: Vec<String> = event
            .profiles
            .iter()
            .map(|profile| profile.profile_id.trim().to_owned())
            .filter(|id| !id.is_empty())
            .collect();
        profile_ids.sort();
        profile_ids.dedup();
        Self { customer_id, profile_ids }
    }

    /// True when the event names nobody (nothing to erase).
    pub fn is_empty(&self) -> bool {
        self.customer_id.is_none() && self.profile_ids.is_empty()
    }
}

#[cfg(test)]
mod erased_tests {
    use tend_proto::v1;

    use super::ErasedPeople;

    #[test]
    fn erased_people_skip_blank_ids() {
        let profile = |id: &str| v1::ErasedProfile { profile_id: id.into(), ..Default::default() };
        let event = v1::CustomerErased {
            customer_id: "c1".into(),
            profiles: vec![profile("p2"), profile(" "), profile("p1"), profile("p2")],
            reason: String::new(),
        };
        let people = ErasedPeople::from_event(&event);
        assert_eq!(people.customer_id.as_deref(), Some("c1"));
        assert_eq!(people.profile_ids, vec!["p1", "p2"]);

        let blank = ErasedPeople::from_event(&v1::CustomerErased { customer_id: "  ".into(), ..Default::default() });
        assert_eq!(blank.customer_id, None);
        assert!(blank.is_empty());
    }
}
