//! Stored rows in the contract's shapes, for the two adapters: the gRPC API and the consumer
//! (whose `interactions.identified` carries the profile).

use prost::Message as _;
use tend_kernel::ids::to_timestamp;
use tend_proto::v1;

use crate::app::Error;
use crate::customers;
use crate::domain::{LinkMethod, LinkStatus};
use crate::storage::{candidate, customer, link_event, profile};

/// A stored profile in the contract's shape.
pub fn profile_to_proto(row: profile::Model) -> v1::Profile {
    v1::Profile {
        id: row.id,
        tenant: row.tenant,
        channel: row.channel,
        external_id: row.external_id,
        handle: row.handle,
        display_name: row.display_name,
        customer_id: row.customer_id,
        status: LinkStatus::parse(&row.status).to_proto().into(),
        first_seen_at: Some(to_timestamp(row.first_seen_at)),
        last_seen_at: Some(to_timestamp(row.last_seen_at)),
        followers: u64::try_from(row.followers).unwrap_or(0),
        link_method: LinkMethod::parse(&row.link_method).to_proto().into(),
        link_evidence: row.link_evidence,
        location: row.location,
    }
}

/// A stored audit event in the contract's shape.
pub fn link_event_to_proto(row: link_event::Model) -> v1::LinkEvent {
    v1::LinkEvent {
        id: row.id,
        profile_id: row.profile_id,
        customer_id: row.customer_id,
        action: row.action,
        method: row.method,
        evidence: row.evidence,
        actor: row.actor,
        reason: row.reason.unwrap_or_default(),
        at: Some(to_timestamp(row.at)),
    }
}

/// A stored customer in the contract's shape: the original input and its normal forms.
pub fn customer_to_proto(row: customer::Model) -> Result<v1::Customer, Error> {
    let original = v1::CustomerInput::decode(row.original.as_slice())
        .map_err(|error| Error::Unexpected(format!("customer {} has an unreadable original: {error}", row.id)))?;
    let normalized = customers::check(&original).map(|checked| checked.normalized).ok();
    Ok(v1::Customer {
        id: row.id,
        tenant: row.tenant,
        original: Some(original),
        normalized,
        created_at: Some(to_timestamp(row.created_at)),
        updated_at: Some(to_timestamp(row.updated_at)),
        notices_opted_out: false,
    })
}

/// A stored review candidate in the contract's shape.
pub fn candidate_to_proto(row: candidate::Model) -> v1::ReviewCandidate {
    v1::ReviewCandidate {
        explanation: v1::MatchExplanation::decode(row.explanation.as_slice()).ok(),
        id: row.id,
        profile_id: row.profile_id,
        customer_id: row.customer_id,
        probability: row.probability,
        proposed_at: Some(to_timestamp(row.proposed_at)),
    }
}
