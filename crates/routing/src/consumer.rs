//! Routing's consumers.
//!
//! [`RouteInteractions`] consumes `interactions.identified`: decides for each interaction with
//! its tenant's current configuration, opens the cases of the actionable ones of a whole batch
//! in one call to cases, records every decision (work or not), and publishes those that open no
//! case on `interactions.routed` (the others reach feedback as `cases.events`), in the batch's
//! transaction. Opening a case is idempotent on the interaction id, so a batch retried after a
//! crash between the call and the commit finds the same cases instead of opening second ones.
//!
//! [`FollowCases`] consumes `cases.events` for the queue's work items and the times a
//! simulation compares deadlines with;
//! [`EraseCustomers`] consumes `customers.erased` and blanks the inputs kept for simulations;
//! [`KeepAccounts`] consumes `channels.accounts` for the accounts and their hours;
//! [`KeepSatisfaction`] consumes `surveys.answered` for the agents' records on topics.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use prost::Message as _;
use tend_client::CaseClient;
use tend_kernel::TenantId;
use tend_kernel::ids::{new_id, to_timestamp};
use tend_proto::v1;
use tend_store::events::{ErasedPeople, streams};
use tend_store::{DbContext as _, Effects, Event, EventHandler, HandleError};
use tonic::Code;

use crate::config::Configs;
use crate::decide::{Decision, decide, stored_input};
use crate::storage::{self, decision};
use crate::trends::HotTopics;
use crate::trends::clusters::{Clusters, signature_bytes};

/// Routes identified interactions into cases.
pub struct RouteInteractions {
    cases: CaseClient,
    configs: Arc<Configs>,
    hot: Arc<HotTopics>,
    clusters: Arc<Clusters>,
}

impl RouteInteractions {
    /// A handler that opens cases through `cases`, deciding with `configs`, what `hot` says of
    /// the posts' topics and the clusters of similar posts they join.
    pub fn new(cases: CaseClient, configs: Arc<Configs>, hot: Arc<HotTopics>, clusters: Arc<Clusters>) -> Self {
        Self { cases, configs, hot, clusters }
    }
}

/// The near-duplicate signature enrichment computed for an identified interaction.
fn signature_of(identified: &v1::InteractionIdentified) -> &[u32] {
    identified
        .interaction
        .as_ref()
        .and_then(|interaction| interaction.enrichment.as_ref())
        .map_or(&[], |enrichment| enrichment.signature.as_slice())
}

/// The topics enrichment found in an identified interaction.
fn topics_of(identified: &v1::InteractionIdentified) -> &[String] {
    identified
        .interaction
        .as_ref()
        .and_then(|interaction| interaction.enrichment.as_ref())
        .map_or(&[], |enrichment| enrichment.topics.as_slice())
}

/// One event's decision, before its case is opened.
struct Routed<'a> {
    event: &'a Event<v1::InteractionIdentified>,
    /// The cluster of similar posts it joined, if it has a signature.
    cluster_id: String,
    /// The escalation its case joins the incident of, if its topic's burst is escalated.
    escalation_key: Option<String>,
    decision: Decision,
    /// The decision in the contract's terms, for the case and the record.
    outcome: v1::RoutingOutcome,
    case_id: String,
}

#[async_trait]
impl EventHandler for RouteInteractions {
    type Payload = v1::InteractionIdentified;

    async fn handle(
        &self,
        effects: &mut Effects<'_>,
        events: &[&Event<v1::InteractionIdentified>],
    ) -> Result<(), HandleError> {
        for event in events {
            if event.payload.interaction.is_none() {
                return Err(HandleError::poison(event, "the event carries no interaction"));
            }
        }
        let now = tend_kernel::ids::now();
        // Decided per tenant, with the tenant's configuration as of this transaction.
        let mut by_tenant: BTreeMap<&TenantId, Vec<&Event<v1::InteractionIdentified>>> = BTreeMap::new();
        for event in events {
            by_tenant.entry(&event.tenant).or_default().push(event);
        }
        let mut decided = Vec::with_capacity(by_tenant.len());
        let (mut deciding, mut opening) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
        for (tenant, events) in by_tenant {
            let config = self.configs.current(effects.db(), tenant.as_str()).await?;
            // The clusters first: their size is a term of the priority.
            let received = |event: &Event<v1::InteractionIdentified>| {
                let interaction = event.payload.interaction.as_ref();
                interaction.and_then(|interaction| crate::time_of(interaction.received_at.as_ref())).unwrap_or(now)
            };
            let posts: Vec<(&str, &[u32], chrono::DateTime<chrono::Utc>)> = events
                .iter()
                .map(|event| {
                    let id = event.payload.interaction.as_ref().map_or("", |interaction| interaction.id.as_str());
                    (id, signature_of(&event.payload), received(event))
                })
                .collect();
            let assigned =
                self.clusters.assign(effects.db(), tenant.as_str(), &posts, now).await.context("clustering posts")?;
            let started = std::time::Instant::now();
            let mut routed: Vec<Routed<'_>> = {
                // One root context per tenant and batch: building it costs more than a condition.
                let root = cel::Context::with_env(config.rules.env.clone());
                events
                    .iter()
                    .copied()
                    .zip(&assigned)
                    .map(|(event, assignment)| {
                        let mut signals = self.hot.signals(tenant.as_str(), topics_of(&event.payload));
                        signals.cluster_size =
                            assignment.as_ref().map_or(0, |joined| u32::try_from(joined.size).unwrap_or(u32::MAX));
                        if signals.escalation_key.is_none()
                            && let Some(joined) = assignment
                        {
                            // Its cluster crossed a cluster threshold: its case joins that incident.
                            signals.escalation_key = self.hot.cluster_escalation(tenant.as_str(), &joined.cluster_id);
                        }
                        let decision = decide(&config, &root, &event.payload, now, &signals);
                        Routed {
                            event,
                            cluster_id: assignment.as_ref().map(|joined| joined.cluster_id.clone()).unwrap_or_default(),
                            escalation_key: signals.escalation_key,
                            outcome: decision.outcome(),
                            decision,
                            case_id: String::new(),
                        }
                    })
                    .collect()
            };
            // Every post counts for its topics' trends, work or not, at the time ingest got it.
            let topics: Vec<(chrono::DateTime<chrono::Utc>, &[String])> =
                events.iter().map(|event| (received(event), topics_of(&event.payload))).collect();
            crate::trends::count_posts(effects.db(), tenant.as_str(), &topics).await.context("counting topics")?;
            let opened = std::time::Instant::now();
            deciding += opened - started;
            self.open_cases(tenant, &mut routed).await?;
            opening += opened.elapsed();
            decided.push((tenant, routed));
        }

        let mut decisions = Vec::with_capacity(events.len());
        for (tenant, routed) in decided {
            for item in routed {
                let identified = &item.event.payload;
                let interaction = identified.interaction.as_ref();
                let decision = &item.decision;
                let linked = identified.status() == v1::IdentityStatus::Linked;
                let customer_id = if linked { identified.customer_id.clone() } else { String::new() };
                let profile_id = identified.profile.as_ref().map(|profile| profile.id.clone()).unwrap_or_default();
                let interaction_id = interaction.map(|interaction| interaction.id.clone()).unwrap_or_default();
                let outcome = item.outcome;
                tracing::debug!(
                    %interaction_id,
                    case_id = %item.case_id,
                    priority = decision.priority.value,
                    queue = decision.queue(),
                    actionable = decision.actionable,
                    rule_set_version = decision.rule_set_version,
                    "interaction routed"
                );
                let reasons = decision.priority.reasons();
                let rule_errors = decision.rule_errors();
                // The decisions that open a case reach feedback on `cases.events`; those that
                // don't, here: one stream per interaction, not two.
                if !decision.actionable {
                    let record = v1::RoutingDecision {
                        interaction_id: interaction_id.clone(),
                        case_id: item.case_id.clone(),
                        priority: decision.priority.value,
                        reasons: reasons.clone(),
                        decided_at: Some(to_timestamp(now)),
                        outcome: Some(outcome.clone()),
                        actionable: decision.actionable,
                        not_actionable_reason: decision.not_actionable_reason.clone(),
                        rule_errors: rule_errors.clone(),
                    };
                    let routed = routed_event(identified, record, &customer_id, &profile_id);
                    effects.publish(streams::INTERACTIONS_ROUTED, item.event, &routed);
                }
                decisions.push(decision::Model {
                    id: new_id(),
                    tenant: tenant.as_str().to_owned(),
                    interaction_id,
                    case_id: item.case_id,
                    priority: i32::try_from(decision.priority.value).unwrap_or(100),
                    reasons: reasons.join("\n"),
                    decided_at: now,
                    actionable: decision.actionable,
                    not_actionable_reason: decision.not_actionable_reason.clone(),
                    rule_set_version: i32::try_from(decision.rule_set_version).unwrap_or(0),
                    outcome: Some(outcome.encode_to_vec()),
                    input: Some(stored_input(identified).encode_to_vec()),
                    rule_errors: rule_errors.join("\n"),
                    customer_id,
                    profile_id,
                    resolved_at: None,
                    first_response_at: None,
                    topics: crate::trends::storage::topics_column(topics_of(identified)),
                    signature: if item.cluster_id.is_empty() {
                        None
                    } else {
                        signature_bytes(signature_of(identified))
                    },
                    cluster_id: item.cluster_id,
                });
            }
        }
        let recording = std::time::Instant::now();
        storage::insert_decisions(effects.db(), decisions).await.context("recording decisions")?;
        // Where routing's time goes: deciding (rules, priority, SLA), opening the cases, recording.
        tracing::info!(
            count = events.len(),
            decide_ms = deciding.as_secs_f64() * 1e3,
            open_ms = opening.as_secs_f64() * 1e3,
            record_ms = recording.elapsed().as_secs_f64() * 1e3,
            "interactions routed"
        );
        Ok(())
    }
}

impl RouteInteractions {
    /// Opens (or finds) the cases of the actionable interactions of one tenant and sets their
    /// ids on `routed`.
    ///
    /// A batch larger than one call may carry goes out as several calls at once: each is a
    /// transaction of its own in cases, and opening is idempotent, so they need no order. This
    /// overlaps one call's commit and round trips with the next one's work (measured on the
    /// pipeline benchmark: routing spent ~300 ms of each 1,000-event batch in two calls one
    /// after the other).
    async fn open_cases(&self, tenant: &TenantId, routed: &mut [Routed<'_>]) -> Result<(), HandleError> {
        let mut work: Vec<&mut Routed<'_>> = routed.iter_mut().filter(|item| item.decision.actionable).collect();
        let calls = work.chunks(MAX_OPEN_BATCH).map(|chunk| {
            let request = v1::OpenCasesRequest { cases: chunk.iter().map(|item| open_request(item)).collect() };
            self.cases.open_cases(tenant, request)
        });
        let responses = futures::future::try_join_all(calls).await.map_err(|status| match status.code() {
            Code::InvalidArgument | Code::PermissionDenied | Code::Unauthenticated => {
                // A refusal of the whole call is a configuration or contract problem that a
                // retry may outlive (a key being rotated): retry, then dead-letter.
                HandleError::retry(format!("cases refused the call: {status}"))
            }
            _ => HandleError::retry(format!("opening cases: {status}")),
        })?;
        for (chunk, response) in work.chunks_mut(MAX_OPEN_BATCH).zip(responses) {
            if response.results.len() != chunk.len() {
                return Err(HandleError::retry(format!(
                    "cases answered {} results for {} requests",
                    response.results.len(),
                    chunk.len()
                )));
            }
            for (item, result) in chunk.iter_mut().zip(response.results) {
                let opened = match result.outcome {
                    Some(v1::open_cases_result::Outcome::Opened(opened)) => opened,
                    Some(v1::open_cases_result::Outcome::Error(reason)) => {
                        return Err(HandleError::poison(
                            item.event,
                            format!("cases refused the interaction: {reason}"),
                        ));
                    }
                    None => return Err(HandleError::retry("cases answered a result without an outcome")),
                };
                item.case_id = opened.case.map(|case| case.id).unwrap_or_default();
            }
        }
        Ok(())
    }
}

fn open_request(item: &Routed<'_>) -> v1::OpenCaseRequest {
    let identified = &item.event.payload;
    let linked = identified.status() == v1::IdentityStatus::Linked;
    v1::OpenCaseRequest {
        idempotency_key: identified.interaction.as_ref().map(|interaction| interaction.id.clone()).unwrap_or_default(),
        profile_id: identified.profile.as_ref().map(|profile| profile.id.clone()).unwrap_or_default(),
        // A review candidate is not a link: only a linked customer goes on the case.
        customer_id: if linked { identified.customer_id.clone() } else { String::new() },
        priority: item.decision.priority.value,
        interaction: identified.interaction.clone(),
        trace_context: item.event.trace_context.clone(),
        routing: Some(item.outcome.clone()),
        // Cases joins it to the customer's open case, if there is one.
        new_case: false,
        // While its topic's burst is escalated, its case joins the burst's incident.
        incident_key: item.escalation_key.clone().unwrap_or_default(),
    }
}

fn routed_event(
    identified: &v1::InteractionIdentified,
    decision: v1::RoutingDecision,
    customer_id: &str,
    profile_id: &str,
) -> v1::InteractionRouted {
    let interaction = identified.interaction.clone().unwrap_or_default();
    let enrichment = interaction.enrichment.unwrap_or_default();
    v1::InteractionRouted {
        decision: Some(decision),
        channel: interaction.channel,
        profile_id: profile_id.to_owned(),
        customer_id: customer_id.to_owned(),
        topics: enrichment.topics,
        intents: enrichment.intents.iter().filter(|scored| scored.score >= 0.5).map(|scored| scored.intent).collect(),
        sentiment: enrichment.sentiment.map_or(0, |sentiment| sentiment.label),
        testimonial_candidate: enrichment.testimonial_candidate,
        received_at: interaction.received_at,
    }
}

/// Most cases opened in one call (the cases contract's limit).
const MAX_OPEN_BATCH: usize = 500;

/// Follows `cases.events`: keeps the queue's work items true to the cases (see
/// [`storage::work::project`]), withdraws the offers of cases that stopped waiting, and records
/// on each decision when its case was resolved, for simulations.
pub struct FollowCases {
    /// The clock the queue runs on (the dispatcher reads changes by its time).
    pub clock: Arc<dyn tend_kernel::ids::Clock>,
}

#[async_trait]
impl EventHandler for FollowCases {
    type Payload = v1::CaseEvent;

    async fn handle(&self, effects: &mut Effects<'_>, events: &[&Event<v1::CaseEvent>]) -> Result<(), HandleError> {
        let now = self.clock.now();
        let mut items = Vec::with_capacity(events.len());
        let mut expertise = Vec::new();
        for event in events {
            let Some(case) = &event.payload.case else { continue };
            items.push(crate::work::item_of(event.tenant.as_str(), case, now));
            expertise.extend(crate::trends::expertise_of(event.tenant.as_str(), &event.payload));
            if event.payload.kind() == v1::CaseEventKind::Resolved
                && let Some(resolved_at) = crate::time_of(case.resolved_at.as_ref())
            {
                storage::record_case_times(effects.db(), event.tenant.as_str(), &case.id, None, Some(resolved_at))
                    .await
                    .context("recording case times")?;
            }
        }
        let dropped = storage::work::project(effects.db(), items).await.context("keeping the work items")?;
        crate::trends::storage::add_expertise(effects.db(), expertise).await.context("keeping agents' records")?;
        for row in dropped.iter().filter(|row| crate::work::is_offered(row)) {
            let Some(cause) = events.iter().find(|event| {
                event.tenant.as_str() == row.tenant
                    && event.payload.case.as_ref().is_some_and(|case| case.id == row.case_id)
            }) else {
                continue;
            };
            let withdrawn = v1::OfferEvent { offer: Some(crate::work::offer(row, v1::OfferState::Withdrawn)) };
            effects.publish(streams::QUEUE_OFFERS, cause, &withdrawn);
        }
        Ok(())
    }
}

/// Keeps customers' satisfaction in the agents' records on topics (`surveys.answered`, from
/// feedback): each CSAT answer counts for the agent who had the case, on each of its topics, so
/// that a hot topic's experts are those whose customers were satisfied too.
pub struct KeepSatisfaction;

#[async_trait]
impl EventHandler for KeepSatisfaction {
    type Payload = v1::SurveyAnswered;

    async fn handle(
        &self,
        effects: &mut Effects<'_>,
        events: &[&Event<v1::SurveyAnswered>],
    ) -> Result<(), HandleError> {
        let rows: Vec<_> = events
            .iter()
            .flat_map(|event| crate::trends::satisfaction_of(event.tenant.as_str(), &event.payload))
            .collect();
        crate::trends::storage::add_expertise(effects.db(), rows).await.context("keeping agents' satisfaction")?;
        Ok(())
    }
}

/// Blanks what decisions keep of erased customers (right to erasure).
pub struct EraseCustomers;

#[async_trait]
impl EventHandler for EraseCustomers {
    type Payload = v1::CustomerErased;

    async fn handle(
        &self,
        effects: &mut Effects<'_>,
        events: &[&Event<v1::CustomerErased>],
    ) -> Result<(), HandleError> {
        for event in events {
            let people = ErasedPeople::from_event(&event.payload);
            let customer_id = people.customer_id.as_deref();
            let erased = storage::erase_inputs(effects.db(), event.tenant.as_str(), customer_id, &people.profile_ids)
                .await
                .context("erasing decision inputs")?;
            // Counts only: nothing about the person is logged.
            tracing::info!(event_id = %event.id, decisions = erased, "erased customer: decision inputs blanked");
            // Its events carry interaction, case and profile ids, which ingest, cases and identity
            // record; this only lets the database go of the blanked bytes.
            effects.erased(event, Vec::new());
        }
        Ok(())
    }
}

/// Keeps each monitored account (`channels.accounts`, from ingest) for the tip sheet, and its
/// hours as the calendar `account.{id}`, which SLA policies naming the calendar "account" count
/// on. An account without hours (or disabled) has none: its posts are counted around the clock.
pub struct KeepAccounts;

#[async_trait]
impl EventHandler for KeepAccounts {
    type Payload = v1::AccountChanged;

    async fn handle(
        &self,
        effects: &mut Effects<'_>,
        events: &[&Event<v1::AccountChanged>],
    ) -> Result<(), HandleError> {
        for event in events {
            let changed = &event.payload;
            let tenant = event.tenant.as_str();
            let account = crate::tipsheet::storage::account::Model {
                tenant: tenant.to_owned(),
                account: changed.account.clone(),
                channel: changed.channel,
                display_name: changed.display_name.clone(),
                enabled: changed.enabled,
                updated_at: tend_kernel::ids::now(),
            };
            crate::tipsheet::storage::put_account(effects.db(), account).await.context("saving the account")?;
            let name = format!("{}{}", tend_kernel::names::ACCOUNT_CALENDAR_PREFIX, changed.account);
            let hours = changed.hours.as_ref().filter(|_| changed.enabled);
            let checked = hours.map(|hours| tend_calendar::contract::from_contract(hours).map(|_| hours));
            match checked {
                Some(Ok(hours)) => {
                    let now = tend_kernel::ids::now();
                    let body =
                        v1::Calendar { name: name.clone(), updated_at: Some(to_timestamp(now)), ..hours.clone() };
                    let row = storage::config::calendar::Model {
                        tenant: tenant.to_owned(),
                        name,
                        body: body.encode_to_vec(),
                        updated_at: now,
                    };
                    storage::config::put_calendar(effects.db(), row).await.context("saving account hours")?;
                }
                Some(Err((field, problem))) => {
                    // Ingest checked them with the same code; a newer ingest may know more.
                    tracing::warn!(tenant, account = %changed.account, field, %problem, "account hours not usable; around the clock");
                    storage::config::delete_calendar(effects.db(), tenant, &name)
                        .await
                        .context("removing account hours")?;
                }
                None => {
                    storage::config::delete_calendar(effects.db(), tenant, &name)
                        .await
                        .context("removing account hours")?;
                }
            }
        }
        Ok(())
    }
}
