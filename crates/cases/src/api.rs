//! The gRPC face of the cases service.

use std::collections::HashMap;
use std::sync::Arc;

use prost::Message as _;
use sea_orm::{DatabaseConnection, TransactionTrait};
use tend_kernel::auth::{Access, Caller, caller};
use tend_kernel::ids::{Clock, new_id, parse_id};
use tend_kernel::paging::Page;
use tend_kernel::validate;
use tend_kernel::{ApiError, TenantId};
use tend_proto::v1;
use tend_store::events::{envelope, envelope_in_trace, streams};
use tend_store::{DbContext as _, OutboxWaker, outbox};
use tonic::{Request, Response, Status};

use crate::SERVICE;
use crate::config::CasesConfig;
use crate::domain::{self, Status as CaseStatus};
use crate::lifecycle::{Lifecycle, case_to_proto};
use crate::storage::{self, case};
use crate::timeline::{self, Draft};
use crate::watch::{self, Watches};
use crate::{attach, clocks, guides, incidents};
use crate::{departments, promises};

/// Longest thread id a case is joined by, in bytes.
const MAX_THREAD_BYTES: usize = 512;
/// Most bytes of a case's routing outcome, encoded (a rule set's outcome is well under 4 KiB).
const MAX_ROUTING_BYTES: usize = 16 * 1024;
/// Longest text of the opening interaction (ingest's limit), in bytes.
const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Longest language code of a reading, in bytes.
const MAX_LANGUAGE_BYTES: usize = 16;
/// Most intents of a reading.
const MAX_INTENTS: usize = 32;
/// Most topics of a reading (a tenant's dictionary holds at most 1,000).
const MAX_TOPICS: usize = 1_000;
/// Longest topic of a reading, in bytes.
const MAX_TOPIC_BYTES: usize = 256;
/// Most entries of a trace context.
const MAX_TRACE_ENTRIES: usize = 8;
/// Longest key of a trace context, in bytes.
const MAX_TRACE_KEY_BYTES: usize = 64;
/// Longest value of a trace context (W3C `tracestate` is at most 512 characters), in bytes.
const MAX_TRACE_VALUE_BYTES: usize = 1024;
/// The channels a case may come from, for errors.
const CHANNELS: &str = "X, FACEBOOK, INSTAGRAM, EMAIL, CHAT, REVIEW";

/// Implements `tend.v1.CaseService` over the service's database.
pub struct CaseApi {
    db: DatabaseConnection,
    relay: OutboxWaker,
    lifecycle: Lifecycle,
    incidents: incidents::Incidents,
    clock: Arc<dyn Clock>,
    /// How long before its time a promise is due soon.
    promise_warning: chrono::Duration,
    /// How recent a case an interaction may join; `None`: never.
    attach_window: Option<chrono::Duration>,
    watches: Watches,
}

impl CaseApi {
    /// An API over `db` on `clock`, waking `relay` after each committed event, serving
    /// `watches`.
    pub fn new(
        db: DatabaseConnection,
        relay: OutboxWaker,
        clock: Arc<dyn Clock>,
        config: &CasesConfig,
        watches: Watches,
    ) -> Self {
        Self {
            watches,
            lifecycle: Lifecycle::new(db.clone(), relay.clone(), clock.clone()),
            incidents: incidents::Incidents::new(db.clone(), relay.clone(), clock.clone()),
            db,
            relay,
            clock,
            promise_warning: chrono::Duration::from_std(config.promise_warning).unwrap_or(chrono::Duration::MAX),
            attach_window: (!config.attach_window.is_zero())
                .then(|| chrono::Duration::from_std(config.attach_window).unwrap_or(chrono::Duration::MAX)),
        }
    }

    /// The cases of `rows` with their interactions and SLA clocks, read in one query each.
    async fn to_protos(&self, tenant: &TenantId, rows: Vec<case::Model>) -> Result<Vec<v1::Case>, ApiError> {
        let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
        let mut interactions =
            storage::interaction_ids(&self.db, tenant.as_str(), &ids).await.context("reading case interactions")?;
        let mut clocks = clocks::of_cases(&self.db, tenant.as_str(), &ids).await.context("reading SLA clocks")?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let interaction_ids = interactions.remove(&row.id).unwrap_or_default();
                let sla_clocks = clocks.remove(&row.id).unwrap_or_default();
                v1::Case { sla_clocks, ..case_to_proto(row, interaction_ids) }
            })
            .collect())
    }

    /// Opens the cases whose keys are new and announces each on `cases.events`, in one
    /// transaction; finds the case an earlier call opened for the others. One outcome per
    /// request, in order: a request that fails validation is refused alone; an infrastructure
    /// failure fails them all.
    async fn open(&self, caller: &Caller, requests: Vec<v1::OpenCaseRequest>) -> Result<Vec<OpenOutcome>, ApiError> {
        let tenant = &caller.tenant;
        let now = self.clock.now();
        let mut outcomes: Vec<Option<OpenOutcome>> = Vec::with_capacity(requests.len());
        let mut opening = Vec::with_capacity(requests.len());
        for request in requests {
            match new_case(tenant, request, now) {
                Ok(new) => {
                    opening.push((outcomes.len(), new));
                    outcomes.push(None);
                }
                Err(error) => outcomes.push(Some(Err(error))),
            }
        }
        if opening.is_empty() {
            return Ok(outcomes.into_iter().flatten().collect());
        }
        let txn = self.db.begin().await.context("starting a transaction")?;
        let mut events = Vec::with_capacity(opening.len());
        let mut opening = self.join_open_cases(&txn, caller, opening, now, &mut outcomes, &mut events).await?;
        let keys: Vec<&str> =
            opening.iter().map(|(_, new)| new.incident_key.as_str()).filter(|key| !key.is_empty()).collect();
        if !keys.is_empty() {
            let incidents = incidents::open_for_keys(&txn, tenant, &keys, now).await?;
            for (_, new) in &mut opening {
                if let Some(incident_id) = incidents.get(&new.incident_key) {
                    new.row.incident_id.clone_from(incident_id);
                }
            }
        }
        let rows: Vec<case::Model> = opening.iter().map(|(_, new)| new.row.clone()).collect();
        let interaction_ids: Vec<&str> = opening.iter().map(|(_, new)| new.interaction_id.as_str()).collect();
        let joined = events.len();
        let inserted = storage::insert_new(&txn, &rows, &interaction_ids).await.context("opening cases")?;
        let earlier_keys: Vec<&str> =
            rows.iter().filter(|row| !inserted.contains(&row.id)).map(|row| row.idempotency_key.as_str()).collect();
        let earlier =
            storage::find_by_keys(&txn, tenant.as_str(), &earlier_keys).await.context("finding opened cases")?;
        let earlier_ids: Vec<&str> = earlier.iter().map(|row| row.id.as_str()).collect();
        let mut earlier_interactions =
            storage::interaction_ids(&txn, tenant.as_str(), &earlier_ids).await.context("reading case interactions")?;
        let earlier: HashMap<&str, &case::Model> =
            earlier.iter().map(|row| (row.idempotency_key.as_str(), row)).collect();
        let mut entries = Vec::with_capacity(inserted.len());
        let mut started = Vec::new();
        for (slot, new) in opening {
            let outcome = if inserted.contains(&new.row.id) {
                let clocks = clocks::for_new_case(&new.row);
                let sla_clocks = clocks.iter().map(clocks::to_proto).collect();
                started.extend(clocks);
                let draft = Draft {
                    interaction_id: new.interaction_id.clone(),
                    moved: None,
                    priority: new.row.priority,
                    ..Draft::of(v1::CaseTimelineKind::Opened)
                };
                let entry = draft.into_row(tenant.as_str(), &new.row.id, &caller.actor, now, new.row.version);
                let case = v1::Case { sla_clocks, ..case_to_proto(new.row, vec![new.interaction_id]) };
                let opened = v1::CaseEvent {
                    kind: v1::CaseEventKind::Opened.into(),
                    case: Some(case.clone()),
                    entry: Some(timeline::to_proto(entry.clone())),
                    ..Default::default()
                };
                entries.push(entry);
                let event = if new.trace_context.is_empty() {
                    envelope(SERVICE, tenant, &opened)
                } else {
                    envelope_in_trace(SERVICE, tenant, &opened, new.trace_context)
                };
                events.push((streams::CASES_EVENTS, event));
                v1::OpenCaseResponse { case: Some(case), created: true, attached: false }
            } else {
                let Some(existing) = earlier.get(new.row.idempotency_key.as_str()) else {
                    return Err(ApiError::internal(format!("case {} was neither opened nor found", new.row.id)));
                };
                let interaction_ids = earlier_interactions.remove(&existing.id).unwrap_or_default();
                let sla_clocks = clocks::of_case(&txn, tenant.as_str(), &existing.id)
                    .await
                    .context("reading SLA clocks")?
                    .iter()
                    .map(clocks::to_proto)
                    .collect();
                let case = v1::Case { sla_clocks, ..case_to_proto((*existing).clone(), interaction_ids) };
                v1::OpenCaseResponse { case: Some(case), created: false, attached: false }
            };
            outcomes[slot] = Some(Ok(outcome));
        }
        timeline::insert_many(&txn, entries).await.context("recording the openings")?;
        clocks::insert(&txn, started).await.context("starting SLA clocks")?;
        outbox::enqueue_many(&txn, &events).await?;
        txn.commit().await.context("committing cases")?;
        if !events.is_empty() {
            self.relay.wake();
        }
        let opened = events.len() - joined;
        tracing::info!(opened, joined, already_open = rows.len() - opened, "cases opened");
        Ok(outcomes
            .into_iter()
            .map(|outcome| outcome.unwrap_or_else(|| Err(ApiError::internal("request left without an outcome"))))
            .collect())
    }
}

impl CaseApi {
    /// Puts each interaction of `opening` that is on a case already, or whose customer has a
    /// case to join, on that case (its outcome in `outcomes`, the join's event in `events`),
    /// and returns the rest, which open cases of their own.
    async fn join_open_cases<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        caller: &Caller,
        opening: Vec<(usize, NewCase)>,
        now: chrono::DateTime<chrono::Utc>,
        outcomes: &mut [Option<OpenOutcome>],
        events: &mut Vec<(&'static str, v1::EventEnvelope)>,
    ) -> Result<Vec<(usize, NewCase)>, ApiError> {
        let tenant = &caller.tenant;
        let candidates: Vec<attach::Candidate<'_>> = opening
            .iter()
            .map(|(_, new)| attach::Candidate {
                interaction_id: &new.interaction_id,
                thread: &new.row.thread,
                customer_id: &new.row.customer_id,
                profile_id: &new.row.profile_id,
                new_case: new.new_case,
            })
            .collect();
        let joined = attach::join(conn, tenant, &caller.actor, self.attach_window, now, &candidates).await?;
        drop(candidates);
        let mut still = Vec::with_capacity(opening.len());
        for ((slot, new), joined) in opening.into_iter().zip(joined) {
            let Some(joined) = joined else {
                still.push((slot, new));
                continue;
            };
            if let Some(added) = joined.added {
                let event = if new.trace_context.is_empty() {
                    envelope(SERVICE, tenant, added.as_ref())
                } else {
                    envelope_in_trace(SERVICE, tenant, added.as_ref(), new.trace_context)
                };
                events.push((streams::CASES_EVENTS, event));
            }
            // Joined now, or earlier by a call this one retries; not the case it opened.
            let attached = joined.case.interaction_ids.first() != Some(&new.interaction_id);
            outcomes[slot] = Some(Ok(v1::OpenCaseResponse { case: Some(joined.case), created: false, attached }));
        }
        Ok(still)
    }
}

/// The outcome of one request to open a case.
type OpenOutcome = Result<v1::OpenCaseResponse, ApiError>;

/// A case about to be opened.
struct NewCase {
    row: case::Model,
    /// It must not join a case the customer has.
    new_case: bool,
    interaction_id: String,
    trace_context: std::collections::HashMap<String, String>,
    /// The escalation key of the incident it joins, if any.
    incident_key: String,
}

/// The case `request` opens, or why it is refused.
fn new_case(
    tenant: &TenantId,
    request: v1::OpenCaseRequest,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<NewCase, ApiError> {
    check_open(&request)?;
    let priority = domain::check_priority(request.priority)?;
    let Some(interaction) = request.interaction else {
        return Err(ApiError::invalid("interaction", "is required"));
    };
    let interaction_id = parse_id("interaction.id", &interaction.id)?;
    let reading = domain::Reading::of(interaction.enrichment.as_ref());
    // A thread id too long to index is no thread to join by.
    let thread = match interaction.thread_external_id.trim() {
        "" => String::new(),
        id if id.len() > MAX_THREAD_BYTES => String::new(),
        id => format!("{}:{id}", interaction.channel),
    };
    let queue = request.routing.as_ref().map(|routing| routing.queue.clone()).unwrap_or_default();
    let routing = request.routing.map(|routing| routing.encode_to_vec());
    if routing.as_ref().is_some_and(|bytes| bytes.len() > MAX_ROUTING_BYTES) {
        return Err(ApiError::invalid("routing", format!("more than {MAX_ROUTING_BYTES} bytes encoded")));
    }
    let row = case::Model {
        id: new_id(),
        tenant: tenant.as_str().to_owned(),
        status: CaseStatus::New.as_str().to_owned(),
        channel: interaction.channel,
        subject: domain::subject_from(&interaction.text),
        customer_id: request.customer_id,
        profile_id: request.profile_id,
        priority,
        idempotency_key: request.idempotency_key,
        opened_at: now,
        updated_at: now,
        resolved_at: None,
        resolution_note: None,
        language: reading.language,
        sentiment: reading.sentiment,
        intents: reading.intents,
        topics: reading.topics,
        actionable: reading.actionable,
        queue,
        routing,
        version: 1,
        assignee: String::new(),
        tags: String::new(),
        open_promises: 0,
        next_promise_due_at: None,
        department: String::new(),
        department_seconds: 0,
        retention_outcome: 0,
        thread,
        incident_id: String::new(),
    };
    Ok(NewCase {
        row,
        new_case: request.new_case,
        interaction_id,
        trace_context: request.trace_context,
        incident_key: request.incident_key.trim().to_owned(),
    })
}

/// Checks every field of `request` that the case keeps or reads, before any work: enums
/// defined, ids bounded and printable, strings and lists bounded, times in protobuf's range.
/// The limits are those of `OpenCaseRequest` in cases.proto.
fn check_open(request: &v1::OpenCaseRequest) -> Result<(), ApiError> {
    domain::check_idempotency_key(&request.idempotency_key)?;
    if request.incident_key.len() > incidents::MAX_KEY || request.incident_key.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "incident_key",
            format!("must be at most {} bytes on one line", incidents::MAX_KEY),
        ));
    }
    validate::optional_id("profile_id", &request.profile_id)?;
    validate::optional_id("customer_id", &request.customer_id)?;
    validate::count("trace_context", request.trace_context.len(), MAX_TRACE_ENTRIES)?;
    for (key, value) in &request.trace_context {
        validate::key("trace_context", key, MAX_TRACE_KEY_BYTES)?;
        validate::text(&format!("trace_context[{}]", validate::quote(key)), value, MAX_TRACE_VALUE_BYTES)?;
    }
    if let Some(interaction) = &request.interaction {
        validate::enumeration::<v1::Channel>("interaction.channel", interaction.channel, CHANNELS)?;
        validate::text("interaction.text", &interaction.text, MAX_TEXT_BYTES)?;
        if let Some(enrichment) = &interaction.enrichment {
            validate::text("interaction.enrichment.language", &enrichment.language, MAX_LANGUAGE_BYTES)?;
            validate::count("interaction.enrichment.intents", enrichment.intents.len(), MAX_INTENTS)?;
            validate::count("interaction.enrichment.topics", enrichment.topics.len(), MAX_TOPICS)?;
            for (index, topic) in enrichment.topics.iter().enumerate() {
                validate::text(&format!("interaction.enrichment.topics[{index}]"), topic, MAX_TOPIC_BYTES)?;
            }
        }
    }
    if let Some(routing) = &request.routing {
        validate::text("routing.queue", &routing.queue, tend_kernel::names::MAX_NAME)?;
        if let Some(sla) = &routing.sla {
            let deadlines = [
                ("routing.sla.first_response_due", &sla.first_response_due),
                ("routing.sla.first_response_warn", &sla.first_response_warn),
                ("routing.sla.resolution_due", &sla.resolution_due),
                ("routing.sla.resolution_warn", &sla.resolution_warn),
            ];
            for (field, at) in deadlines {
                if let Some(at) = at {
                    validate::timestamp(field, at)?;
                }
            }
        }
    }
    Ok(())
}

/// What `request` searches for, checked.
fn search_of(request: v1::SearchCasesRequest) -> Result<storage::Search, ApiError> {
    let statuses = request
        .statuses
        .iter()
        .map(|number| {
            CaseStatus::from_proto(*number)
                .map(CaseStatus::as_str)
                .ok_or_else(|| ApiError::invalid("statuses", format!("{number} is not a case status")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let text = |field: &str, value: String| {
        validate::text(field, &value, 256)?;
        Ok::<_, ApiError>(value.trim().to_owned())
    };
    if request.unassigned && !request.assignee.trim().is_empty() {
        return Err(ApiError::invalid("unassigned", "can't be set with `assignee`"));
    }
    let tag = match request.tag.trim() {
        "" => String::new(),
        tag => domain::tag("tag", tag)?,
    };
    let time =
        |field: &str, at: Option<prost_types::Timestamp>| at.map(|at| validate::timestamp(field, &at)).transpose();
    Ok(storage::Search {
        statuses,
        queue: text("queue", request.queue)?,
        assignee: text("assignee", request.assignee)?,
        unassigned: request.unassigned,
        customer_id: text("customer_id", request.customer_id)?,
        profile_id: text("profile_id", request.profile_id)?,
        tag,
        topic: text("topic", request.topic)?.to_lowercase(),
        department: text("department", request.department)?,
        with_open_promises: request.with_open_promises,
        opened_after: time("opened_after", request.opened_after)?,
        opened_before: time("opened_before", request.opened_before)?,
        sla: v1::SlaFilter::try_from(request.sla)
            .map_err(|_| ApiError::invalid("sla", format!("{} is not an SlaFilter", request.sla)))?,
    })
}

#[tonic::async_trait]
impl v1::case_service_server::CaseService for CaseApi {
    type WatchCasesStream = watch::Responses;

    async fn watch_cases(
        &self,
        request: Request<v1::WatchCasesRequest>,
    ) -> Result<Response<Self::WatchCasesStream>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let responses = self.watches.start(caller.tenant.clone(), request.into_inner()).await?;
        tracing::info!(actor = %caller.actor, "case watch started");
        Ok(Response::new(responses))
    }

    async fn open_case(&self, request: Request<v1::OpenCaseRequest>) -> Result<Response<v1::OpenCaseResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let outcome = self.open(&caller, vec![request.into_inner()]).await?.pop();
        Ok(Response::new(outcome.unwrap_or_else(|| Err(ApiError::internal("no outcome for the request")))?))
    }

    async fn open_cases(
        &self,
        request: Request<v1::OpenCasesRequest>,
    ) -> Result<Response<v1::OpenCasesResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let requests = request.into_inner().cases;
        domain::check_batch(requests.len())?;
        let results = self
            .open(&caller, requests)
            .await?
            .into_iter()
            .map(|outcome| {
                let outcome = match outcome {
                    Ok(opened) => v1::open_cases_result::Outcome::Opened(opened),
                    Err(error) => v1::open_cases_result::Outcome::Error(error.to_string()),
                };
                v1::OpenCasesResult { outcome: Some(outcome) }
            })
            .collect();
        Ok(Response::new(v1::OpenCasesResponse { results }))
    }

    async fn get_case(&self, request: Request<v1::GetCaseRequest>) -> Result<Response<v1::Case>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let id = parse_id("id", &request.get_ref().id)?;
        let row = storage::find(&self.db, caller.tenant.as_str(), &id)
            .await
            .context("reading the case")?
            .ok_or_else(|| ApiError::not_found("case", &id))?;
        let case = self.to_protos(&caller.tenant, vec![row]).await?.pop();
        Ok(Response::new(case.ok_or_else(|| ApiError::internal("case vanished"))?))
    }

    async fn list_cases(
        &self,
        request: Request<v1::ListCasesRequest>,
    ) -> Result<Response<v1::ListCasesResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.into_inner();
        let page = Page::parse(request.page_size, &request.page_token)?;
        let status = match (request.status, CaseStatus::from_proto(request.status)) {
            (0, _) => None,
            (_, Some(status)) => Some(status.as_str()),
            (number, None) => return Err(ApiError::invalid("status", format!("{number} is not a CaseStatus")).into()),
        };
        let rows = storage::list(&self.db, caller.tenant.as_str(), status, &page).await.context("listing cases")?;
        let cases = self.to_protos(&caller.tenant, rows).await?;
        let (cases, next_page_token) = page.fit(cases, |case| case.id.as_str());
        Ok(Response::new(v1::ListCasesResponse { cases, next_page_token }))
    }

    async fn search_cases(
        &self,
        request: Request<v1::SearchCasesRequest>,
    ) -> Result<Response<v1::ListCasesResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.into_inner();
        let page = Page::parse(request.page_size, &request.page_token)?;
        let search = search_of(request)?;
        let rows =
            storage::search(&self.db, caller.tenant.as_str(), &search, &page).await.context("searching cases")?;
        let cases = self.to_protos(&caller.tenant, rows).await?;
        let (cases, next_page_token) = page.fit(cases, |case| case.id.as_str());
        Ok(Response::new(v1::ListCasesResponse { cases, next_page_token }))
    }

    async fn resolve_case(&self, request: Request<v1::ResolveCaseRequest>) -> Result<Response<v1::Case>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let request = request.into_inner();
        if request.note.len() > domain::MAX_NOTE {
            return Err(ApiError::invalid("note", format!("must be at most {} bytes", domain::MAX_NOTE)).into());
        }
        let resolved = v1::CaseStatus::Resolved.into();
        let release = &request.release_promises_reason;
        let case = self
            .lifecycle
            .transition(&caller, &request.id, resolved, request.note, release, request.expected_version)
            .await?;
        Ok(Response::new(case))
    }

    async fn transition_case(&self, request: Request<v1::TransitionCaseRequest>) -> Result<Response<v1::Case>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let request = request.into_inner();
        let case = self
            .lifecycle
            .transition(
                &caller,
                &request.id,
                request.to,
                request.reason,
                &request.release_promises_reason,
                request.expected_version,
            )
            .await?;
        Ok(Response::new(case))
    }

    async fn assign_case(&self, request: Request<v1::AssignCaseRequest>) -> Result<Response<v1::Case>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let request = request.into_inner();
        let case = self
            .lifecycle
            .assign(&caller, &request.id, &request.agent_id, request.reason, request.expected_version)
            .await?;
        Ok(Response::new(case))
    }

    async fn tag_case(&self, request: Request<v1::TagCaseRequest>) -> Result<Response<v1::Case>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let request = request.into_inner();
        let case =
            self.lifecycle.tag(&caller, &request.id, &request.add, &request.remove, request.expected_version).await?;
        Ok(Response::new(case))
    }

    async fn set_case_priority(
        &self,
        request: Request<v1::SetCasePriorityRequest>,
    ) -> Result<Response<v1::Case>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let request = request.into_inner();
        let case = self
            .lifecycle
            .set_priority(&caller, &request.id, request.priority, request.reason, request.expected_version)
            .await?;
        Ok(Response::new(case))
    }

    async fn add_case_note(
        &self,
        request: Request<v1::AddCaseNoteRequest>,
    ) -> Result<Response<v1::CaseTimelineEntry>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let request = request.get_ref();
        Ok(Response::new(self.lifecycle.add_note(&caller, &request.case_id, &request.text).await?))
    }

    async fn list_customer_timeline(
        &self,
        request: Request<v1::ListCustomerTimelineRequest>,
    ) -> Result<Response<v1::ListCustomerTimelineResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.get_ref();
        let page = Page::parse(request.page_size, &request.page_token)?;
        let (customer_id, profile_id) = (request.customer_id.trim(), request.profile_id.trim());
        if customer_id.is_empty() == profile_id.is_empty() {
            return Err(ApiError::invalid("customer_id", "give exactly one of customer_id and profile_id").into());
        }
        for (field, value) in [("customer_id", customer_id), ("profile_id", profile_id)] {
            if value.len() > 256 {
                return Err(ApiError::invalid(field, "must be at most 256 bytes").into());
            }
        }
        let tenant = caller.tenant.as_str();
        let cases = storage::of_person(&self.db, tenant, customer_id, profile_id).await.context("reading the cases")?;
        let ids: Vec<String> = cases.iter().map(|case| case.id.clone()).collect();
        let entries = timeline::page_of_cases(&self.db, tenant, &ids, &page).await.context("reading the timelines")?;
        let next_page_token = page.next_token(&entries, |entry| entry.id.as_str());
        let by_id: HashMap<&str, &case::Model> = cases.iter().map(|case| (case.id.as_str(), case)).collect();
        let items = entries
            .into_iter()
            .map(|entry| {
                let case = by_id.get(entry.case_id.as_str());
                v1::CustomerTimelineItem {
                    channel: case.map_or(0, |case| case.channel),
                    case_status: case
                        .and_then(|case| CaseStatus::parse(&case.status))
                        .map_or(0, |status| status.to_proto().into()),
                    case_subject: case.map(|case| case.subject.clone()).unwrap_or_default(),
                    entry: Some(timeline::to_proto(entry)),
                }
            })
            .collect();
        Ok(Response::new(v1::ListCustomerTimelineResponse { items, next_page_token }))
    }

    async fn list_case_timeline(
        &self,
        request: Request<v1::ListCaseTimelineRequest>,
    ) -> Result<Response<v1::ListCaseTimelineResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.get_ref();
        let page = Page::parse(request.page_size, &request.page_token)?;
        let (entries, next_page_token) = self.lifecycle.timeline(&caller.tenant, &request.case_id, &page).await?;
        Ok(Response::new(v1::ListCaseTimelineResponse { entries, next_page_token }))
    }

    async fn reply_to_case(&self, request: Request<v1::ReplyToCaseRequest>) -> Result<Response<v1::CaseReply>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let now = self.clock.now();
        let reply = crate::replies::reply_to_case(&self.db, &self.relay, &caller, request.into_inner(), now).await?;
        Ok(Response::new(reply))
    }

    async fn list_case_replies(
        &self,
        request: Request<v1::ListCaseRepliesRequest>,
    ) -> Result<Response<v1::ListCaseRepliesResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let page = crate::replies::list(&self.db, caller.tenant.as_str(), request.get_ref()).await?;
        Ok(Response::new(page))
    }

    async fn promise_follow_up(
        &self,
        request: Request<v1::PromiseFollowUpRequest>,
    ) -> Result<Response<v1::Promise>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let request = request.get_ref();
        let promise = self
            .lifecycle
            .promise(&caller, &request.case_id, &request.what, request.due_at.as_ref(), request.expected_version)
            .await?;
        Ok(Response::new(promise))
    }

    async fn keep_promise(&self, request: Request<v1::KeepPromiseRequest>) -> Result<Response<v1::Promise>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let request = request.get_ref();
        let kept = self.lifecycle.settle_promise(&caller, &request.id, v1::PromiseState::Kept, &request.note).await?;
        Ok(Response::new(kept))
    }

    async fn release_promise(
        &self,
        request: Request<v1::ReleasePromiseRequest>,
    ) -> Result<Response<v1::Promise>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let request = request.get_ref();
        let state = v1::PromiseState::Released;
        Ok(Response::new(self.lifecycle.settle_promise(&caller, &request.id, state, &request.reason).await?))
    }

    async fn list_promises(
        &self,
        request: Request<v1::ListPromisesRequest>,
    ) -> Result<Response<v1::ListPromisesResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.get_ref();
        let page = Page::parse(request.page_size, &request.page_token)?;
        let view = v1::PromiseView::try_from(request.view)
            .map_err(|_| ApiError::invalid("view", format!("{} is not a PromiseView", request.view)))?;
        if !request.case_id.is_empty() {
            parse_id("case_id", &request.case_id)?;
        }
        let now = self.clock.now();
        let filter = promises::Filter {
            view,
            owner: request.owner.trim(),
            case_id: &request.case_id,
            now,
            soon: now + self.promise_warning,
        };
        let rows =
            promises::page(&self.db, caller.tenant.as_str(), &filter, &page).await.context("listing promises")?;
        let next_page_token = page.next_token(&rows, |row| row.id.as_str());
        let promises = rows.into_iter().map(promises::to_proto).collect();
        Ok(Response::new(v1::ListPromisesResponse { promises, next_page_token }))
    }

    async fn put_guide(&self, request: Request<v1::PutGuideRequest>) -> Result<Response<v1::Guide>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let guide = request.into_inner().guide.ok_or_else(|| ApiError::invalid("guide", "is required"))?;
        guides::check(&guide)?;
        let txn = self.db.begin().await.context("starting a transaction")?;
        if guides::count(&txn, caller.tenant.as_str()).await.context("counting guide versions")?
            >= guides::MAX_GUIDE_VERSIONS
        {
            return Err(ApiError::quota("guide versions", guides::MAX_GUIDE_VERSIONS).into());
        }
        let saved = guides::save(&txn, caller.tenant.as_str(), guide, &caller.actor, self.clock.now())
            .await
            .context("saving the guide")?;
        txn.commit().await.context("committing the guide")?;
        tracing::info!(guide = %saved.name, version = saved.version, actor = %caller.actor, "guide saved");
        Ok(Response::new(saved))
    }

    async fn get_guide(&self, request: Request<v1::GetGuideRequest>) -> Result<Response<v1::Guide>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.get_ref();
        let found = guides::find(&self.db, caller.tenant.as_str(), &request.name, request.version)
            .await
            .context("reading the guide")?;
        Ok(Response::new(found.ok_or_else(|| ApiError::not_found("guide", &request.name))?))
    }

    async fn list_guides(
        &self,
        request: Request<v1::ListGuidesRequest>,
    ) -> Result<Response<v1::ListGuidesResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let guides = guides::latest(&self.db, caller.tenant.as_str()).await.context("listing guides")?;
        Ok(Response::new(v1::ListGuidesResponse { guides }))
    }

    async fn export_subject_data(
        &self,
        request: Request<v1::ExportSubjectDataRequest>,
    ) -> Result<Response<v1::SubjectDataExport>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let subject = tend_client::export::Subject::parse(request.get_ref())?;
        let tenant = caller.tenant.as_str();
        // The customer's cases, and those of their profiles opened before the link.
        let mut rows = storage::of_person(&self.db, tenant, &subject.customer_id, "")
            .await
            .context("reading the customer's cases")?;
        for profile_id in &subject.profile_ids {
            let of_profile =
                storage::of_person(&self.db, tenant, "", profile_id).await.context("reading the profile's cases")?;
            for row in of_profile {
                if !rows.iter().any(|known| known.id == row.id) {
                    rows.push(row);
                }
            }
        }
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        let cases = self.to_protos(&caller.tenant, rows).await?;
        let ids: Vec<&str> = cases.iter().map(|case| case.id.as_str()).collect();
        let mut records = crate::export::records_of(&self.db, tenant, &ids, self.clock.now())
            .await
            .context("reading the cases' records")?;
        let take = |map: &mut HashMap<String, Vec<tend_kernel::proto_json::Value>>, id: &str| {
            tend_kernel::proto_json::Value::Array(map.remove(id).unwrap_or_default())
        };
        let cases: Vec<_> = cases
            .iter()
            .map(|case| {
                tend_kernel::proto_json::json!({
                    "case": tend_client::export::record("Case", case),
                    "timeline": take(&mut records.timeline, &case.id),
                    "replies": take(&mut records.replies, &case.id),
                    "promises": take(&mut records.promises, &case.id),
                    "escalations": take(&mut records.escalations, &case.id),
                })
            })
            .collect();
        let document = tend_kernel::proto_json::json!({ "cases": cases });
        Ok(Response::new(tend_client::export::answer(SERVICE, &document)?))
    }

    async fn open_incident(&self, request: Request<v1::OpenIncidentRequest>) -> Result<Response<v1::Incident>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        Ok(Response::new(self.incidents.open(&caller, request.into_inner()).await?))
    }

    async fn get_incident(&self, request: Request<v1::GetIncidentRequest>) -> Result<Response<v1::Incident>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        Ok(Response::new(self.incidents.get(&caller.tenant, &request.get_ref().incident_id).await?))
    }

    async fn list_incidents(
        &self,
        request: Request<v1::ListIncidentsRequest>,
    ) -> Result<Response<v1::ListIncidentsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        Ok(Response::new(self.incidents.list(&caller.tenant, request.get_ref()).await?))
    }

    async fn update_incident(
        &self,
        request: Request<v1::UpdateIncidentRequest>,
    ) -> Result<Response<v1::Incident>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        Ok(Response::new(self.incidents.update(&caller, request.into_inner()).await?))
    }

    async fn add_to_incident(
        &self,
        request: Request<v1::AddToIncidentRequest>,
    ) -> Result<Response<v1::Incident>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        Ok(Response::new(self.incidents.add(&caller, request.into_inner()).await?))
    }

    async fn remove_from_incident(
        &self,
        request: Request<v1::RemoveFromIncidentRequest>,
    ) -> Result<Response<v1::Incident>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        Ok(Response::new(self.incidents.remove(&caller, request.into_inner()).await?))
    }

    async fn merge_incidents(
        &self,
        request: Request<v1::MergeIncidentsRequest>,
    ) -> Result<Response<v1::Incident>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        Ok(Response::new(self.incidents.merge(&caller, request.into_inner()).await?))
    }

    async fn list_incident_members(
        &self,
        request: Request<v1::ListIncidentMembersRequest>,
    ) -> Result<Response<v1::ListCasesResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let (rows, page) = self.incidents.members(&caller.tenant, request.get_ref()).await?;
        let cases = self.to_protos(&caller.tenant, rows).await?;
        let (cases, next_page_token) = page.fit(cases, |case| case.id.as_str());
        Ok(Response::new(v1::ListCasesResponse { cases, next_page_token }))
    }

    async fn answer_incident(
        &self,
        request: Request<v1::AnswerIncidentRequest>,
    ) -> Result<Response<v1::IncidentAnswer>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        Ok(Response::new(self.incidents.answer(&caller, request.into_inner()).await?))
    }

    async fn get_incident_answer(
        &self,
        request: Request<v1::GetIncidentAnswerRequest>,
    ) -> Result<Response<v1::IncidentAnswer>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        Ok(Response::new(self.incidents.get_answer(&caller.tenant, request.get_ref()).await?))
    }

    async fn resolve_incident(
        &self,
        request: Request<v1::ResolveIncidentRequest>,
    ) -> Result<Response<v1::Incident>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        Ok(Response::new(self.incidents.resolve(&self.lifecycle, &caller, request.into_inner()).await?))
    }

    async fn step_guide(
        &self,
        request: Request<v1::StepGuideRequest>,
    ) -> Result<Response<v1::StepGuideResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let request = request.get_ref();
        let tenant = caller.tenant.as_str();
        let case_id = parse_id("case_id", &request.case_id)?;
        let txn = self.db.begin().await.context("starting a transaction")?;
        if storage::find(&txn, tenant, &case_id).await.context("reading the case")?.is_none() {
            return Err(ApiError::not_found("case", case_id).into());
        }
        let guide = guides::find(&txn, tenant, &request.guide, request.version).await.context("reading the guide")?;
        let guide = guide.ok_or_else(|| ApiError::not_found("guide", &request.guide))?;
        let (node, path) = guides::step(&guide, &request.node_id, request.answer)?;
        let draft = Draft {
            text: path,
            reason: format!("{}@{}", guide.name, guide.version),
            ..Draft::of(v1::CaseTimelineKind::GuideStep)
        };
        timeline::insert(&txn, draft.into_row(tenant, &case_id, &caller.actor, self.clock.now(), 0))
            .await
            .context("recording the step")?;
        txn.commit().await.context("committing the step")?;
        let done = node.answers.is_empty();
        Ok(Response::new(v1::StepGuideResponse { version: guide.version, node: Some(node.clone()), done }))
    }

    async fn upsert_department(
        &self,
        request: Request<v1::UpsertDepartmentRequest>,
    ) -> Result<Response<v1::Department>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Admin)?;
        let given = request.into_inner().department.ok_or_else(|| ApiError::invalid("department", "is required"))?;
        let tenant = caller.tenant.as_str();
        let name = departments::check_name("department.name", &given.name)?;
        let txn = self.db.begin().await.context("starting a transaction")?;
        let existing = departments::find(&txn, tenant, &name).await.context("reading the department")?;
        if existing.is_none()
            && departments::count(&txn, tenant).await.context("counting departments")? >= departments::MAX_DEPARTMENTS
        {
            return Err(ApiError::quota("departments", departments::MAX_DEPARTMENTS).into());
        }
        let row = departments::checked(tenant, given, existing.as_ref(), self.clock.now())?;
        departments::save(&txn, row.clone(), existing.is_none()).await.context("saving the department")?;
        txn.commit().await.context("committing the department")?;
        tracing::info!(department = %row.name, actor = %caller.actor, "department saved");
        Ok(Response::new(departments::department_to_proto(row)))
    }

    async fn list_departments(
        &self,
        request: Request<v1::ListDepartmentsRequest>,
    ) -> Result<Response<v1::ListDepartmentsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let rows = departments::list(&self.db, caller.tenant.as_str()).await.context("listing departments")?;
        let departments = rows.into_iter().map(departments::department_to_proto).collect();
        Ok(Response::new(v1::ListDepartmentsResponse { departments }))
    }

    async fn escalate_to_department(
        &self,
        request: Request<v1::EscalateToDepartmentRequest>,
    ) -> Result<Response<v1::Escalation>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let request = request.get_ref();
        let escalation = self
            .lifecycle
            .escalate(
                &caller,
                &request.case_id,
                &request.department,
                &request.reason,
                &request.root_cause,
                request.expected_version,
            )
            .await?;
        Ok(Response::new(escalation))
    }

    async fn answer_escalation(
        &self,
        request: Request<v1::AnswerEscalationRequest>,
    ) -> Result<Response<v1::Escalation>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let request = request.get_ref();
        let answered = self
            .lifecycle
            .answer_escalation(&caller, &request.case_id, &request.answer, request.retention_outcome)
            .await?;
        Ok(Response::new(answered))
    }

    async fn list_escalations(
        &self,
        request: Request<v1::ListEscalationsRequest>,
    ) -> Result<Response<v1::ListEscalationsResponse>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Read)?;
        let request = request.get_ref();
        let page = Page::parse(request.page_size, &request.page_token)?;
        let department = match request.department.trim() {
            "" => String::new(),
            given => departments::check_name("department", given)?,
        };
        if !request.case_id.is_empty() {
            parse_id("case_id", &request.case_id)?;
        }
        let state = v1::EscalationState::try_from(request.state)
            .map_err(|_| ApiError::invalid("state", format!("{} is not an EscalationState", request.state)))?;
        let filter = departments::Filter { department: &department, case_id: &request.case_id, state };
        let rows =
            departments::page(&self.db, caller.tenant.as_str(), &filter, &page).await.context("listing escalations")?;
        let next_page_token = page.next_token(&rows, |row| row.id.as_str());
        let now = self.clock.now();
        let escalations = rows.into_iter().map(|row| departments::escalation_to_proto(row, now)).collect();
        Ok(Response::new(v1::ListEscalationsResponse { escalations, next_page_token }))
    }

    async fn record_retention_outcome(
        &self,
        request: Request<v1::RecordRetentionOutcomeRequest>,
    ) -> Result<Response<v1::Case>, Status> {
        let caller = caller(&request)?;
        caller.require(Access::Write)?;
        let request = request.get_ref();
        let case = self
            .lifecycle
            .record_retention(&caller, &request.case_id, request.outcome, &request.note, request.expected_version)
            .await?;
        Ok(Response::new(case))
    }
}
