//! Consumes `interactions.received` a batch at a time: identifies each interaction's author
//! ([`App::identify`]) and publishes `interactions.identified` for each, all in the batch's one
//! transaction (the [`tend_store::consume`] skeleton does the inbox, the outbox and the commit).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use prost::Message as _;
use tend_kernel::TenantId;
use tend_proto::v1;
use tend_store::events::streams;
use tend_store::{Effects, Event, EventHandler, HandleError};

use crate::app::identify::{Identified, Sighting};
use crate::app::{self, App};
use crate::contract::profile_to_proto;
use crate::domain::LinkStatus;
use crate::storage;

/// What routing may know of a linked customer: segment and value, never contact details.
fn summary(customer: &storage::customers::customer::Model) -> v1::CustomerSummary {
    let purchases = v1::CustomerInput::decode(customer.original.as_slice()).ok().and_then(|input| input.purchases);
    v1::CustomerSummary {
        segment: customer.segment.clone(),
        tier: customer.tier.clone(),
        lifetime_value: customer.lifetime_value,
        orders: purchases.as_ref().map_or(0, |purchases| purchases.orders),
        total_spent: purchases.as_ref().map_or(0.0, |purchases| purchases.total_spent),
        last_order_at: purchases.and_then(|purchases| purchases.last_order_at),
    }
}

/// Identifies the authors of received interactions.
pub struct IdentifyAuthors {
    app: Arc<App>,
}

impl IdentifyAuthors {
    /// A handler running `app`'s automatic linking.
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }
}

/// The interaction an event carries, and its author; an event without them is poison.
fn interaction_of(event: &Event<v1::InteractionReceived>) -> Result<(&v1::Interaction, &v1::Author), HandleError> {
    let Some(interaction) = event.payload.interaction.as_ref() else {
        return Err(HandleError::poison(event, "the event carries no interaction"));
    };
    let Some(author) = interaction.author.as_ref() else {
        return Err(HandleError::poison(event, format!("interaction {} has no author", interaction.id)));
    };
    Ok((interaction, author))
}

fn sighting<'a>(interaction: &'a v1::Interaction, author: &'a v1::Author) -> Sighting<'a> {
    Sighting {
        channel: interaction.channel,
        external_id: &author.external_id,
        handle: &author.handle,
        display_name: &author.display_name,
        followers: author.followers,
        email: &author.email,
        location: &author.location,
        text: &interaction.text,
    }
}

/// Whatever stopped the batch is worth retrying: the database, or a matcher that did not load.
fn retry(error: app::Error) -> HandleError {
    match error {
        // Another consumer created one of the batch's new profiles first: the retry finds it.
        // (The database's message would quote the author's channel id; the retry is logged.)
        app::Error::Storage(error) if error.is_unique_violation() => {
            HandleError::Contended("a profile of this batch was created concurrently".to_owned())
        }
        app::Error::Storage(error) => error.into(),
        app::Error::Contended(reason) => HandleError::Contended(reason),
        other => HandleError::retry(format!("identifying authors: {other}")),
    }
}

#[async_trait]
impl EventHandler for IdentifyAuthors {
    type Payload = v1::InteractionReceived;

    async fn handle(&self, effects: &mut Effects<'_>, events: &[&Event<Self::Payload>]) -> Result<(), HandleError> {
        // Poison first, before any work: the skeleton then runs the batch again without it.
        let mut received = Vec::with_capacity(events.len());
        for event in events {
            received.push(interaction_of(event)?);
        }
        // Each tenant's sightings together (nearly always one tenant), in stream order.
        let mut tenants: Vec<(&TenantId, Vec<usize>)> = Vec::new();
        for (at, event) in events.iter().enumerate() {
            match tenants.iter_mut().find(|(tenant, _)| **tenant == event.tenant) {
                Some((_, members)) => members.push(at),
                None => tenants.push((&event.tenant, vec![at])),
            }
        }
        let mut outcomes: Vec<Option<Identified>> = vec![None; events.len()];
        let mut summaries: Vec<Option<v1::CustomerSummary>> = vec![None; events.len()];
        for (tenant, members) in tenants {
            let sightings: Vec<Sighting<'_>> = members
                .iter()
                .map(|&at| {
                    let (interaction, author) = received[at];
                    sighting(interaction, author)
                })
                .collect();
            let identified = self.app.identify(effects.db(), tenant, &sightings).await.map_err(retry)?;
            // Routing's rules weigh the linked customers' segment and value: one read for all.
            let mut linked: Vec<&str> = identified
                .iter()
                .filter(|identified| identified.status == LinkStatus::Linked)
                .map(|identified| identified.profile.customer_id.as_str())
                .filter(|id| !id.is_empty())
                .collect();
            linked.sort_unstable();
            linked.dedup();
            let customers = if linked.is_empty() {
                HashMap::new()
            } else {
                storage::customers::find_many(effects.db(), tenant.as_str(), &linked).await?
            };
            for (at, identified) in members.into_iter().zip(identified) {
                if identified.status == LinkStatus::Linked {
                    summaries[at] = customers.get(&identified.profile.customer_id).map(summary);
                }
                outcomes[at] = Some(identified);
            }
        }
        for (((event, (interaction, _)), outcome), customer) in events.iter().zip(received).zip(outcomes).zip(summaries)
        {
            let Some(Identified { profile, status, confidence }) = outcome else {
                return Err(HandleError::retry(format!("event {} was not identified", event.id)));
            };
            let identified = v1::InteractionIdentified {
                interaction: Some(interaction.clone()),
                customer_id: profile.customer_id.clone(),
                status: status.to_proto().into(),
                confidence,
                profile: Some(profile_to_proto(profile)),
                customer,
            };
            effects.publish(streams::INTERACTIONS_IDENTIFIED, event, &identified);
        }
        Ok(())
    }
}
