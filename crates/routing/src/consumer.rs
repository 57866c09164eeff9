//! Consumes `interactions.identified`: computes each interaction's priority, opens (or finds)
//! the cases of a whole batch in one call to cases, and records the decisions in the batch's
//! transaction.
//!
//! Opening a case is idempotent on the interaction id, so a batch retried after a crash between
//! the call and the commit finds the same cases instead of opening second ones.

use std::collections::BTreeMap;

use async_trait::async_trait;
use tend_client::CaseClient;
use tend_kernel::TenantId;
use tend_kernel::ids::new_id;
use tend_proto::v1;
use tend_store::{DbContext as _, Effects, Event, EventHandler, HandleError};
use tonic::Code;

use crate::domain::{PriorityInput, Reading, priority};
use crate::storage::{self, decision};

/// Routes identified interactions into cases.
pub struct RouteInteractions {
    cases: CaseClient,
}

impl RouteInteractions {
    /// A handler that opens cases through `cases`.
    pub fn new(cases: CaseClient) -> Self {
        Self { cases }
    }
}

/// What routing decided for one event, before the case is opened.
struct Routed<'a> {
    event: &'a Event<v1::InteractionIdentified>,
    interaction_id: String,
    priority: crate::domain::Priority,
}

#[async_trait]
impl EventHandler for RouteInteractions {
    type Payload = v1::InteractionIdentified;

    async fn handle(
        &self,
        effects: &mut Effects<'_>,
        events: &[&Event<v1::InteractionIdentified>],
    ) -> Result<(), HandleError> {
        // Cases are opened per tenant: a call acts for one tenant.
        let mut by_tenant: BTreeMap<&TenantId, (Vec<Routed<'_>>, Vec<v1::OpenCaseRequest>)> = BTreeMap::new();
        for event in events {
            let identified = &event.payload;
            let Some(interaction) = &identified.interaction else {
                return Err(HandleError::poison(event, "the event carries no interaction"));
            };
            // A review candidate is not a link: only a linked customer counts, and goes on the case.
            let linked = identified.status() == v1::IdentityStatus::Linked;
            let author = interaction.author.as_ref();
            let computed = priority(PriorityInput {
                followers: author.map_or(0, |author| author.followers),
                verified: author.is_some_and(|author| author.verified),
                known_customer: linked,
                reading: interaction.enrichment.as_ref().map(reading),
            });
            let request = v1::OpenCaseRequest {
                idempotency_key: interaction.id.clone(),
                profile_id: identified.profile.as_ref().map(|profile| profile.id.clone()).unwrap_or_default(),
                customer_id: if linked { identified.customer_id.clone() } else { String::new() },
                priority: computed.value,
                interaction: Some(interaction.clone()),
                trace_context: event.trace_context.clone(),
            };
            let (routed, requests) = by_tenant.entry(&event.tenant).or_default();
            routed.push(Routed { event, interaction_id: interaction.id.clone(), priority: computed });
            requests.push(request);
        }

        let now = tend_kernel::ids::now();
        let mut decisions = Vec::with_capacity(events.len());
        for (tenant, (routed, requests)) in by_tenant {
            for (routed, requests) in routed.chunks(MAX_OPEN_BATCH).zip(requests.chunks(MAX_OPEN_BATCH)) {
                let request = v1::OpenCasesRequest { cases: requests.to_vec() };
                let response = self.cases.open_cases(tenant, request).await.map_err(|status| match status.code() {
                    Code::InvalidArgument | Code::PermissionDenied | Code::Unauthenticated => {
                        // A refusal of the whole call is a configuration or contract problem that a
                        // retry may outlive (a key being rotated): retry, then dead-letter.
                        HandleError::retry(format!("cases refused the call: {status}"))
                    }
                    _ => HandleError::retry(format!("opening cases: {status}")),
                })?;
                if response.results.len() != routed.len() {
                    return Err(HandleError::retry(format!(
                        "cases answered {} results for {} requests",
                        response.results.len(),
                        routed.len()
                    )));
                }
                for (routed, result) in routed.iter().zip(response.results) {
                    let opened = match result.outcome {
                        Some(v1::open_cases_result::Outcome::Opened(opened)) => opened,
                        Some(v1::open_cases_result::Outcome::Error(reason)) => {
                            return Err(HandleError::poison(
                                routed.event,
                                format!("cases refused the interaction: {reason}"),
                            ));
                        }
                        None => return Err(HandleError::retry("cases answered a result without an outcome")),
                    };
                    let case_id = opened.case.map(|case| case.id).unwrap_or_default();
                    tracing::debug!(interaction_id = %routed.interaction_id, %case_id, priority = routed.priority.value, created = opened.created, "interaction routed");
                    decisions.push(decision::Model {
                        id: new_id(),
                        tenant: tenant.as_str().to_owned(),
                        interaction_id: routed.interaction_id.clone(),
                        case_id,
                        priority: i32::try_from(routed.priority.value).unwrap_or(100),
                        reasons: routed.priority.reasons.join("\n"),
                        decided_at: now,
                    });
                }
            }
        }
        storage::insert_decisions(effects.db(), decisions).await.context("recording decisions")?;
        tracing::info!(count = events.len(), "interactions routed");
        Ok(())
    }
}

/// Most cases opened in one call (the cases contract's limit).
const MAX_OPEN_BATCH: usize = 500;

/// What of the interaction's enrichment weighs on its priority.
fn reading(enrichment: &v1::Enrichment) -> Reading {
    let score = |wanted: v1::Intent| {
        enrichment.intents.iter().find(|scored| scored.intent == wanted as i32).map_or(0.0, |scored| scored.score)
    };
    Reading {
        churn_risk: score(v1::Intent::ChurnRisk),
        complaint: score(v1::Intent::Complaint),
        question: score(v1::Intent::Question),
        sentiment: enrichment.sentiment.as_ref().map_or(0.0, |sentiment| sentiment.score),
        actionable: enrichment.actionable,
    }
}
