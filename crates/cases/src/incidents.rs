//! Incidents: one problem that many customers wrote about, and the cases about it.
//!
//! `incidents` keeps each incident (title, root cause, department, what opened it); a case's
//! `incident_id` says which one it belongs to (at most one). Joining and leaving are changes of
//! the case (a timeline entry, a version, an event on `cases.events`) made through the
//! lifecycle's [`apply_change`]. Routing opens incidents under an escalation key, one per burst:
//! by `topics.escalated` ([`Escalated`]) and by the key on the cases it opens meanwhile, in
//! whichever order they come; the key makes both land on the same incident.
//!
//! One answer reaches every member ([`Incidents::answer`]): a reply per member case, on its own
//! channel and thread, recorded in `case_replies` with the answer's id and published on
//! `replies.requested` for ingest, which fills in each author's name and handle and sends it
//! within the account's quotas. `incident_answers` keeps the answer as written.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Index;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, integer, string, string_null, text, timestamp_with_time_zone, timestamp_with_time_zone_null,
};
use tend_kernel::auth::Caller;
use tend_kernel::ids::{Clock, new_id, parse_id, to_timestamp};
use tend_kernel::paging::Page;
use tend_kernel::{ApiError, TenantId, validate};
use tend_proto::v1;
use tend_store::events::{envelope, streams};
use tend_store::{DbContext as _, Effects, Event, EventHandler, HandleError, OutboxWaker, outbox};

use crate::SERVICE;
use crate::domain::{self, Status};
use crate::lifecycle::{Attempt, Change, Lifecycle, apply_change};
use crate::replies::{self, reply};
use crate::storage::{self, case};
use crate::timeline::{self, Draft};

/// Longest title, in bytes.
const MAX_TITLE: usize = 256;
/// Longest topic, in bytes (as a reading's topics).
const MAX_TOPIC: usize = 256;
/// Longest root-cause tag, in bytes.
const MAX_ROOT_CAUSE: usize = 128;
/// Longest escalation key, in bytes.
pub const MAX_KEY: usize = 256;
/// Longest answer id, in bytes (reply ids are `{answer_id}.{case_id}`, at most 128).
const MAX_ANSWER_ID: usize = 100;
/// Most cases one call adds or removes.
const MAX_CASES_PER_CALL: usize = 1_000;
/// Most translations of an answer.
const MAX_TRANSLATIONS: usize = 50;
/// Members changed per transaction when a merge moves them, so a large incident is not one
/// long transaction.
const MOVES_PER_TRANSACTION: usize = 200;
/// Who opens incidents for thresholds.
const ROUTING: &str = "routing";

/// The `incidents` table.
#[allow(missing_docs)]
pub mod incident {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "incidents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub title: String,
        /// A `tend.v1.IncidentStatus` number.
        pub status: i32,
        pub topic: String,
        pub cluster_id: String,
        pub root_cause: String,
        pub department: String,
        pub opened_by: String,
        pub trigger_reason: String,
        pub opened_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
        pub resolved_at: Option<ChronoDateTimeUtc>,
        pub resolution_note: String,
        pub merged_into: String,
        /// Unique per tenant when set (NULL for incidents opened by hand without one).
        pub escalation_key: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `incident_answers` table.
#[allow(missing_docs)]
pub mod answer {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "incident_answers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub answer_id: String,
        pub incident_id: String,
        pub text: String,
        /// The translations, as JSON `{language: text}`.
        pub translations: String,
        pub requested: i64,
        pub requested_by: String,
        pub requested_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates `incidents` and `incident_answers`; gives cases their incident and replies the
/// answer they are part of.
pub struct AddIncidents;

impl MigrationName for AddIncidents {
    fn name(&self) -> &str {
        "m20261207_000200_add_incidents"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddIncidents {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("incidents")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(text("title"))
                    .col(integer("status"))
                    .col(text("topic"))
                    .col(string("cluster_id"))
                    .col(string("root_cause"))
                    .col(string("department"))
                    .col(string("opened_by"))
                    .col(text("trigger_reason"))
                    .col(timestamp_with_time_zone("opened_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("resolved_at"))
                    .col(text("resolution_note"))
                    .col(string("merged_into"))
                    .col(string_null("escalation_key"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("incidents_tenant_key")
                    .table("incidents")
                    .col("tenant")
                    .col("escalation_key")
                    .unique()
                    .to_owned(),
            )
            .await?;
        tend_store::migration::create_indexes(manager, "incidents", &[("incidents_tenant_id", &["tenant", "id"])])
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("incident_answers")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("answer_id"))
                    .col(string("incident_id"))
                    .col(text("text"))
                    .col(text("translations"))
                    .col(big_integer("requested"))
                    .col(string("requested_by"))
                    .col(timestamp_with_time_zone("requested_at"))
                    .primary_key(Index::create().col("tenant").col("answer_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(Table::alter().table("cases").add_column(string("incident_id").default("")).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table("case_replies").add_column(string("answer_id").default("")).to_owned())
            .await?;
        tend_store::migration::create_indexes(
            manager,
            "cases",
            &[("cases_tenant_incident", &["tenant", "incident_id"])],
        )
        .await?;
        tend_store::migration::create_indexes(
            manager,
            "case_replies",
            &[("case_replies_tenant_answer", &["tenant", "answer_id", "case_id"])],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("case_replies_tenant_answer").table("case_replies").to_owned()).await?;
        manager.drop_index(Index::drop().name("cases_tenant_incident").table("cases").to_owned()).await?;
        manager.alter_table(Table::alter().table("case_replies").drop_column("answer_id").to_owned()).await?;
        manager.alter_table(Table::alter().table("cases").drop_column("incident_id").to_owned()).await?;
        manager.drop_table(Table::drop().table("incident_answers").if_exists().to_owned()).await?;
        manager.drop_table(Table::drop().table("incidents").if_exists().to_owned()).await
    }
}

fn status_number(status: v1::IncidentStatus) -> i32 {
    status.into()
}

fn is_open(row: &incident::Model) -> bool {
    row.status == status_number(v1::IncidentStatus::Open)
}

/// How many member cases an incident has, and how many of them are being worked on.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    members: u64,
    open: u64,
}

/// An incident in the contract's terms.
fn to_proto(row: incident::Model, counts: Counts) -> v1::Incident {
    v1::Incident {
        id: row.id,
        tenant: row.tenant,
        title: row.title,
        status: row.status,
        topic: row.topic,
        cluster_id: row.cluster_id,
        root_cause: row.root_cause,
        department: row.department,
        opened_by: row.opened_by,
        trigger: row.trigger_reason,
        members: counts.members,
        open_members: counts.open,
        opened_at: Some(to_timestamp(row.opened_at)),
        updated_at: Some(to_timestamp(row.updated_at)),
        resolved_at: row.resolved_at.map(to_timestamp),
        resolution_note: row.resolution_note,
        merged_into: row.merged_into,
        escalation_key: row.escalation_key.unwrap_or_default(),
        notice: None,
        notice_progress: None,
    }
}

#[derive(Debug, FromQueryResult)]
struct CountRow {
    incident_id: String,
    status: String,
    cases: i64,
}

/// The member counts of `ids`, in one query.
async fn counts<C: ConnectionTrait>(conn: &C, tenant: &str, ids: &[&str]) -> Result<HashMap<String, Counts>, DbErr> {
    let mut counts: HashMap<String, Counts> = HashMap::new();
    if ids.is_empty() {
        return Ok(counts);
    }
    let rows = case::Entity::find()
        .select_only()
        .column(case::Column::IncidentId)
        .column(case::Column::Status)
        .column_as(case::Column::Id.count(), "cases")
        .filter(case::Column::Tenant.eq(tenant))
        .filter(case::Column::IncidentId.is_in(ids.iter().copied()))
        .group_by(case::Column::IncidentId)
        .group_by(case::Column::Status)
        .into_model::<CountRow>()
        .all(conn)
        .await?;
    for row in rows {
        let count = <u64 as TryFrom<i64>>::try_from(row.cases).unwrap_or(0);
        let entry = counts.entry(row.incident_id).or_default();
        entry.members += count;
        if Status::parse(&row.status).is_some_and(Status::is_active) {
            entry.open += count;
        }
    }
    Ok(counts)
}

async fn find<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str) -> Result<Option<incident::Model>, DbErr> {
    incident::Entity::find_by_id(id.to_owned()).filter(incident::Column::Tenant.eq(tenant)).one(conn).await
}

async fn find_by_key<C: ConnectionTrait>(conn: &C, tenant: &str, key: &str) -> Result<Option<incident::Model>, DbErr> {
    incident::Entity::find()
        .filter(incident::Column::Tenant.eq(tenant))
        .filter(incident::Column::EscalationKey.eq(key))
        .one(conn)
        .await
}

/// Incident `id`, or NOT_FOUND.
async fn existing<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str) -> Result<incident::Model, ApiError> {
    find(conn, tenant, id).await.context("reading the incident")?.ok_or_else(|| ApiError::not_found("incident", id))
}

/// The incident `row` leads to: itself, or the one it was merged into (followed to the end).
async fn surviving<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    mut row: incident::Model,
) -> Result<incident::Model, DbErr> {
    // A merge chain is short; the bound only guards against a cycle written by hand.
    for _ in 0..16 {
        if row.merged_into.is_empty() {
            break;
        }
        match find(conn, tenant, &row.merged_into).await? {
            Some(next) => row = next,
            None => break,
        }
    }
    Ok(row)
}

fn bounded_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    validate::text(field, value, max)?;
    Ok(value.trim().to_owned())
}

fn check_key(field: &str, key: &str) -> Result<String, ApiError> {
    let key = key.trim();
    if key.len() > MAX_KEY || key.chars().any(char::is_control) {
        return Err(ApiError::invalid(field, format!("must be at most {MAX_KEY} bytes on one line")));
    }
    Ok(key.to_owned())
}

fn check_case_ids(ids: &[String], required: bool) -> Result<Vec<String>, ApiError> {
    if required && ids.is_empty() {
        return Err(ApiError::invalid("case_ids", "give at least one case"));
    }
    validate::count("case_ids", ids.len(), MAX_CASES_PER_CALL)?;
    let mut checked = Vec::with_capacity(ids.len());
    for (index, id) in ids.iter().enumerate() {
        checked.push(parse_id(&format!("case_ids[{index}]"), id)?);
    }
    checked.sort();
    checked.dedup();
    Ok(checked)
}

/// A new incident's row.
struct Opening {
    title: String,
    topic: String,
    cluster_id: String,
    department: String,
    trigger: String,
    key: Option<String>,
}

impl Opening {
    fn into_row(self, tenant: &str, actor: &str, now: DateTime<Utc>) -> incident::Model {
        incident::Model {
            id: new_id(),
            tenant: tenant.to_owned(),
            title: self.title,
            status: status_number(v1::IncidentStatus::Open),
            topic: self.topic,
            cluster_id: self.cluster_id,
            root_cause: String::new(),
            department: self.department,
            opened_by: actor.to_owned(),
            trigger_reason: self.trigger,
            opened_at: now,
            updated_at: now,
            resolved_at: None,
            resolution_note: String::new(),
            merged_into: String::new(),
            escalation_key: self.key,
        }
    }
}

/// Inserts `row` unless an incident of the tenant has its escalation key, and returns the
/// incident stored under the key (this one, or the one opened first).
async fn insert_or_find<C: ConnectionTrait>(conn: &C, row: incident::Model) -> Result<(incident::Model, bool), DbErr> {
    let Some(key) = row.escalation_key.clone() else {
        incident::Entity::insert(incident::ActiveModel::from(row.clone())).exec_without_returning(conn).await?;
        return Ok((row, true));
    };
    let tenant = row.tenant.clone();
    let inserted = tend_store::query::insert_new(
        conn,
        vec![incident::ActiveModel::from(row)],
        [incident::Column::Tenant, incident::Column::EscalationKey],
    )
    .await?;
    let found = find_by_key(conn, &tenant, &key)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("incident with key {key:?} neither inserted nor found")))?;
    Ok((found, !inserted.is_empty()))
}

/// The incidents of escalation keys `keys` (opening those none has yet, as routing's), each
/// followed to the incident it was merged into, by key; only open ones: a case does not join
/// a resolved incident. Runs in the caller's transaction (opening cases).
pub async fn open_for_keys<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    keys: &[&str],
    now: DateTime<Utc>,
) -> Result<HashMap<String, String>, ApiError> {
    let tenant_id = tenant;
    let tenant = tenant_id.as_str();
    let mut found = HashMap::new();
    for key in keys {
        if key.is_empty() || found.contains_key(*key) {
            continue;
        }
        let opening = Opening {
            title: format!("Escalation {key}"),
            topic: String::new(),
            cluster_id: String::new(),
            department: String::new(),
            trigger: String::new(),
            key: Some((*key).to_owned()),
        };
        let (row, opened) =
            insert_or_find(conn, opening.into_row(tenant, ROUTING, now)).await.context("opening the incident")?;
        if opened {
            announce(conn, tenant_id, v1::IncidentEventKind::Opened, &row, ROUTING).await?;
        }
        let row = surviving(conn, tenant, row).await.context("reading the incident")?;
        if is_open(&row) {
            found.insert((*key).to_owned(), row.id);
        }
    }
    Ok(found)
}

/// Where [`move_cases`] moves cases.
#[derive(Clone, Copy)]
enum Move<'a> {
    /// Into `incident`; a case in another incident is refused unless it is in `from` (a merge
    /// moves it).
    Join { incident: &'a incident::Model, from: Option<&'a str> },
    /// Out of incident `from`.
    Leave { from: &'a str },
}

/// Moves the cases `case_ids` as `movement` says, each a change of its case in `conn`, the
/// caller's transaction; returns the events to publish. Cases already where they should be are
/// left alone; joining a case that is in another incident fails with FAILED_PRECONDITION.
async fn move_cases<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    actor: &str,
    case_ids: &[String],
    movement: Move<'_>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Vec<v1::CaseEvent>, ApiError> {
    let mut events = Vec::with_capacity(case_ids.len());
    for case_id in case_ids {
        let mut apply = |row: &mut case::Model, _: &crate::lifecycle::Seen| match movement {
            Move::Join { incident, from } => {
                if row.incident_id == incident.id {
                    return Ok(None);
                }
                if !row.incident_id.is_empty() && Some(row.incident_id.as_str()) != from {
                    return Err(ApiError::FailedPrecondition(format!(
                        "case {} is in incident {}: merge the incidents, or remove it there first",
                        row.id, row.incident_id
                    )));
                }
                row.incident_id.clone_from(&incident.id);
                let why = match reason {
                    "" => format!("incident {}: {}", incident.id, incident.title),
                    reason => format!("incident {}: {} ({reason})", incident.id, incident.title),
                };
                let draft = Draft { reason: why, ..Draft::of(v1::CaseTimelineKind::IncidentJoined) };
                Ok(Some(Change::new(v1::CaseEventKind::IncidentJoined, draft)))
            }
            Move::Leave { from } => {
                if row.incident_id != from {
                    return Ok(None);
                }
                let why = match reason {
                    "" => format!("incident {from}"),
                    reason => format!("incident {from}: {reason}"),
                };
                row.incident_id.clear();
                let draft = Draft { reason: why, ..Draft::of(v1::CaseTimelineKind::IncidentLeft) };
                Ok(Some(Change::new(v1::CaseEventKind::IncidentLeft, draft)))
            }
        };
        match apply_change(conn, tenant, actor, case_id, 0, now, &mut apply).await? {
            Attempt::Unchanged(_) => {}
            Attempt::Changed(event) => events.push(*event),
            Attempt::Lost => {
                return Err(ApiError::Aborted(format!("case {case_id} was changed meanwhile: retry")));
            }
        }
    }
    Ok(events)
}

/// Writes `events` to the outbox in `conn`.
async fn enqueue<C: ConnectionTrait>(conn: &C, tenant: &TenantId, events: &[v1::CaseEvent]) -> Result<(), ApiError> {
    let envelopes: Vec<_> =
        events.iter().map(|event| (streams::CASES_EVENTS, envelope(SERVICE, tenant, event))).collect();
    outbox::enqueue_many(conn, &envelopes).await?;
    Ok(())
}

/// Publishes on `incidents.events`, in `conn`'s transaction, that `row` went through `kind`.
async fn announce<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    kind: v1::IncidentEventKind,
    row: &incident::Model,
    actor: &str,
) -> Result<(), ApiError> {
    let mut counts = counts(conn, tenant.as_str(), &[row.id.as_str()]).await.context("counting the members")?;
    let count = counts.remove(&row.id).unwrap_or_default();
    let event =
        v1::IncidentEvent { kind: kind.into(), incident: Some(to_proto(row.clone(), count)), actor: actor.to_owned() };
    outbox::enqueue_many(conn, &[(streams::INCIDENTS_EVENTS, envelope(SERVICE, tenant, &event))]).await?;
    Ok(())
}

/// The incident workflows, over the service's database.
pub struct Incidents {
    db: DatabaseConnection,
    relay: OutboxWaker,
    clock: Arc<dyn Clock>,
}

impl Incidents {
    /// Workflows over `db` on `clock`, waking `relay` after each commit that published.
    pub fn new(db: DatabaseConnection, relay: OutboxWaker, clock: Arc<dyn Clock>) -> Self {
        Self { db, relay, clock }
    }

    async fn with_counts(&self, tenant: &str, row: incident::Model) -> Result<v1::Incident, ApiError> {
        let mut counts = counts(&self.db, tenant, &[row.id.as_str()]).await.context("counting the members")?;
        let count = counts.remove(&row.id).unwrap_or_default();
        let notice = crate::notice::find(&self.db, tenant, &row.id).await.context("reading the notice")?;
        let mut incident = to_proto(row, count);
        if let Some(notice) = notice {
            let (given, progress) = crate::notice::to_proto(&notice);
            incident.notice = Some(given);
            incident.notice_progress = progress;
        }
        Ok(incident)
    }

    /// Commits `txn` with `events` published, and wakes the relay.
    async fn commit(
        &self,
        txn: sea_orm::DatabaseTransaction,
        tenant: &TenantId,
        events: &[v1::CaseEvent],
    ) -> Result<(), ApiError> {
        enqueue(&txn, tenant, events).await?;
        txn.commit().await.context("committing the incident")?;
        if !events.is_empty() {
            self.relay.wake();
        }
        Ok(())
    }

    /// OpenIncident.
    pub async fn open(&self, caller: &Caller, request: v1::OpenIncidentRequest) -> Result<v1::Incident, ApiError> {
        let title = bounded_text("title", &request.title, MAX_TITLE)?;
        if title.is_empty() {
            return Err(ApiError::invalid("title", "is required"));
        }
        let department = match request.department.trim() {
            "" => String::new(),
            given => crate::departments::check_name("department", given)?,
        };
        let opening = Opening {
            title,
            topic: bounded_text("topic", &request.topic, MAX_TOPIC)?,
            cluster_id: bounded_text("cluster_id", &request.cluster_id, validate::MAX_ID)?,
            department,
            trigger: bounded_text("trigger", &request.trigger, domain::MAX_REASON)?,
            key: Some(check_key("escalation_key", &request.escalation_key)?).filter(|key| !key.is_empty()),
        };
        let case_ids = check_case_ids(&request.case_ids, false)?;
        let notice = request.notice.as_ref().map(crate::notice::check).transpose()?;
        let tenant = &caller.tenant;
        let now = self.clock.now();
        let txn = self.db.begin().await.context("starting a transaction")?;
        self.check_department(&txn, tenant.as_str(), &opening.department).await?;
        let (row, opened) = insert_or_find(&txn, opening.into_row(tenant.as_str(), &caller.actor, now))
            .await
            .context("opening the incident")?;
        if opened {
            announce(&txn, tenant, v1::IncidentEventKind::Opened, &row, &caller.actor).await?;
        }
        if let Some(notice) = notice {
            crate::notice::save(&txn, tenant.as_str(), &row.id, notice).await?;
        }
        let events = if is_open(&row) {
            move_cases(&txn, tenant, &caller.actor, &case_ids, Move::Join { incident: &row, from: None }, "", now)
                .await?
        } else {
            Vec::new()
        };
        self.commit(txn, tenant, &events).await?;
        if opened {
            self.relay.wake();
        }
        tracing::info!(incident_id = %row.id, actor = %caller.actor, joined = events.len(), "incident opened");
        self.with_counts(tenant.as_str(), row).await
    }

    async fn check_department<C: ConnectionTrait>(&self, conn: &C, tenant: &str, name: &str) -> Result<(), ApiError> {
        if name.is_empty() {
            return Ok(());
        }
        match crate::departments::find(conn, tenant, name).await.context("reading the department")? {
            Some(_) => Ok(()),
            None => Err(ApiError::FailedPrecondition(format!(
                "department {name:?} does not exist: add it with UpsertDepartment first"
            ))),
        }
    }

    /// GetIncident.
    pub async fn get(&self, tenant: &TenantId, id: &str) -> Result<v1::Incident, ApiError> {
        let id = parse_id("incident_id", id)?;
        let row = existing(&self.db, tenant.as_str(), &id).await?;
        self.with_counts(tenant.as_str(), row).await
    }

    /// ListIncidents.
    pub async fn list(
        &self,
        tenant: &TenantId,
        request: &v1::ListIncidentsRequest,
    ) -> Result<v1::ListIncidentsResponse, ApiError> {
        let page = Page::parse(request.page_size, &request.page_token)?;
        let status = v1::IncidentStatus::try_from(request.status)
            .map_err(|_| ApiError::invalid("status", format!("{} is not an IncidentStatus", request.status)))?;
        let mut query = incident::Entity::find().filter(incident::Column::Tenant.eq(tenant.as_str()));
        if status != v1::IncidentStatus::Unspecified {
            query = query.filter(incident::Column::Status.eq(status_number(status)));
        }
        let rows = tend_store::query::newest_first(query, incident::Column::Id, &page)
            .all(&self.db)
            .await
            .context("listing incidents")?;
        let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
        let mut counts = counts(&self.db, tenant.as_str(), &ids).await.context("counting the members")?;
        let incidents: Vec<v1::Incident> = rows
            .into_iter()
            .map(|row| {
                let count = counts.remove(&row.id).unwrap_or_default();
                to_proto(row, count)
            })
            .collect();
        let (incidents, next_page_token) = page.fit(incidents, |incident| incident.id.as_str());
        Ok(v1::ListIncidentsResponse { incidents, next_page_token })
    }

    /// UpdateIncident.
    pub async fn update(&self, caller: &Caller, request: v1::UpdateIncidentRequest) -> Result<v1::Incident, ApiError> {
        let id = parse_id("incident_id", &request.incident_id)?;
        let title = bounded_text("title", &request.title, MAX_TITLE)?;
        let root_cause = bounded_text("root_cause", &request.root_cause, MAX_ROOT_CAUSE)?;
        let department = match request.department.trim() {
            "" => String::new(),
            given => crate::departments::check_name("department", given)?,
        };
        let notice = request.notice.as_ref().map(crate::notice::check).transpose()?;
        let tenant = caller.tenant.as_str();
        let txn = self.db.begin().await.context("starting a transaction")?;
        self.check_department(&txn, tenant, &department).await?;
        let mut row = existing(&txn, tenant, &id).await?;
        let mut changed = false;
        if let Some(notice) = notice {
            crate::notice::save(&txn, tenant, &id, notice).await?;
            changed = true;
        }
        for (value, column) in
            [(title, &mut row.title), (root_cause, &mut row.root_cause), (department, &mut row.department)]
        {
            if !value.is_empty() && *column != value {
                *column = value;
                changed = true;
            }
        }
        if changed {
            row.updated_at = self.clock.now();
            incident::Entity::update(incident::ActiveModel::from(row.clone()).reset_all())
                .exec(&txn)
                .await
                .context("saving the incident")?;
            announce(&txn, &caller.tenant, v1::IncidentEventKind::Updated, &row, &caller.actor).await?;
            txn.commit().await.context("committing the incident")?;
            self.relay.wake();
            tracing::info!(incident_id = %row.id, actor = %caller.actor, "incident updated");
        }
        self.with_counts(tenant, row).await
    }

    /// AddToIncident.
    pub async fn add(&self, caller: &Caller, request: v1::AddToIncidentRequest) -> Result<v1::Incident, ApiError> {
        let id = parse_id("incident_id", &request.incident_id)?;
        let case_ids = check_case_ids(&request.case_ids, true)?;
        let tenant = &caller.tenant;
        let now = self.clock.now();
        let txn = self.db.begin().await.context("starting a transaction")?;
        let row = existing(&txn, tenant.as_str(), &id).await?;
        if !is_open(&row) {
            return Err(ApiError::FailedPrecondition(format!(
                "incident {id} is not open: add cases to an open incident"
            )));
        }
        let events =
            move_cases(&txn, tenant, &caller.actor, &case_ids, Move::Join { incident: &row, from: None }, "", now)
                .await?;
        self.commit(txn, tenant, &events).await?;
        tracing::info!(incident_id = %id, actor = %caller.actor, joined = events.len(), "cases added to the incident");
        self.with_counts(tenant.as_str(), row).await
    }

    /// RemoveFromIncident.
    pub async fn remove(
        &self,
        caller: &Caller,
        request: v1::RemoveFromIncidentRequest,
    ) -> Result<v1::Incident, ApiError> {
        let id = parse_id("incident_id", &request.incident_id)?;
        let case_ids = check_case_ids(&request.case_ids, true)?;
        let reason = bounded_text("reason", &request.reason, domain::MAX_REASON)?;
        let tenant = &caller.tenant;
        let now = self.clock.now();
        let txn = self.db.begin().await.context("starting a transaction")?;
        let row = existing(&txn, tenant.as_str(), &id).await?;
        let events =
            move_cases(&txn, tenant, &caller.actor, &case_ids, Move::Leave { from: &id }, &reason, now).await?;
        self.commit(txn, tenant, &events).await?;
        tracing::info!(incident_id = %id, actor = %caller.actor, left = events.len(), "cases split off the incident");
        self.with_counts(tenant.as_str(), row).await
    }

    /// MergeIncidents: the source's members move in batches (each its own transaction, so a
    /// large incident never holds one long transaction); then the source is marked merged. A
    /// retry after a failure goes on where it stopped.
    pub async fn merge(&self, caller: &Caller, request: v1::MergeIncidentsRequest) -> Result<v1::Incident, ApiError> {
        let source_id = parse_id("source_id", &request.source_id)?;
        let target_id = parse_id("target_id", &request.target_id)?;
        if source_id == target_id {
            return Err(ApiError::invalid("target_id", "is the source: merge two different incidents"));
        }
        let tenant = &caller.tenant;
        let source = existing(&self.db, tenant.as_str(), &source_id).await?;
        let target = existing(&self.db, tenant.as_str(), &target_id).await?;
        if !is_open(&target) {
            return Err(ApiError::FailedPrecondition(format!(
                "incident {target_id} is not open: merge into an open one"
            )));
        }
        if source.status == status_number(v1::IncidentStatus::Merged) && source.merged_into != target_id {
            return Err(ApiError::FailedPrecondition(format!(
                "incident {source_id} was merged into {} already",
                source.merged_into
            )));
        }
        let reason = format!("merged from incident {source_id}");
        loop {
            let members = member_ids(&self.db, tenant.as_str(), &source_id, MOVES_PER_TRANSACTION)
                .await
                .context("reading the members")?;
            if members.is_empty() {
                break;
            }
            let txn = self.db.begin().await.context("starting a transaction")?;
            let now = self.clock.now();
            let events = move_cases(
                &txn,
                tenant,
                &caller.actor,
                &members,
                Move::Join { incident: &target, from: Some(&source_id) },
                &reason,
                now,
            )
            .await?;
            self.commit(txn, tenant, &events).await?;
        }
        let now = self.clock.now();
        let merged = incident::Model {
            status: status_number(v1::IncidentStatus::Merged),
            merged_into: target_id.clone(),
            updated_at: now,
            ..source
        };
        let txn = self.db.begin().await.context("starting a transaction")?;
        incident::Entity::update(incident::ActiveModel::from(merged.clone()).reset_all())
            .exec(&txn)
            .await
            .context("marking the incident merged")?;
        announce(&txn, tenant, v1::IncidentEventKind::Merged, &merged, &caller.actor).await?;
        txn.commit().await.context("committing the merge")?;
        self.relay.wake();
        tracing::info!(source_id = %source_id, target_id = %target_id, actor = %caller.actor, "incidents merged");
        self.with_counts(tenant.as_str(), target).await
    }

    /// ListIncidentMembers: the page of member cases, newest first (the caller renders them).
    pub async fn members(
        &self,
        tenant: &TenantId,
        request: &v1::ListIncidentMembersRequest,
    ) -> Result<(Vec<case::Model>, Page), ApiError> {
        let id = parse_id("incident_id", &request.incident_id)?;
        let page = Page::parse(request.page_size, &request.page_token)?;
        existing(&self.db, tenant.as_str(), &id).await?;
        let query = case::Entity::find()
            .filter(case::Column::Tenant.eq(tenant.as_str()))
            .filter(case::Column::IncidentId.eq(id.as_str()));
        let rows = tend_store::query::newest_first(query, case::Column::Id, &page)
            .all(&self.db)
            .await
            .context("listing the members")?;
        Ok((rows, page))
    }

    /// ResolveIncident: every member still being worked on is resolved with the note (a
    /// change of its own, through the lifecycle, releasing its open promises with the note),
    /// then the incident. A retry after a failure resolves the rest.
    pub async fn resolve(
        &self,
        lifecycle: &Lifecycle,
        caller: &Caller,
        request: v1::ResolveIncidentRequest,
    ) -> Result<v1::Incident, ApiError> {
        let id = parse_id("incident_id", &request.incident_id)?;
        let note = bounded_text("note", &request.note, domain::MAX_REASON)?;
        if note.is_empty() {
            return Err(ApiError::invalid("note", "is required: say what was fixed"));
        }
        let tenant = &caller.tenant;
        let row = existing(&self.db, tenant.as_str(), &id).await?;
        if request.notify
            && crate::notice::find(&self.db, tenant.as_str(), &id).await.context("reading the notice")?.is_none()
        {
            return Err(ApiError::FailedPrecondition(format!(
                "incident {id} has no notice to send: give one with UpdateIncident first"
            )));
        }
        if request.notify && row.status == status_number(v1::IncidentStatus::Resolved) {
            // Resolved before (a retry, or notify asked later): only the notice is left to ask.
            let txn = self.db.begin().await.context("starting a transaction")?;
            let requested = crate::notice::request(&txn, tenant, &id, &row.title, self.clock.now()).await?;
            txn.commit().await.context("committing the notice")?;
            if requested {
                self.relay.wake();
                tracing::info!(incident_id = %id, actor = %caller.actor, "incident notice requested");
            }
            return self.with_counts(tenant.as_str(), row).await;
        }
        if !is_open(&row) {
            return Err(ApiError::FailedPrecondition(format!("incident {id} is not open")));
        }
        let active: Vec<&str> =
            Status::ALL.iter().filter(|status| status.is_active()).map(|status| status.as_str()).collect();
        let mut resolved = 0usize;
        let mut after = String::new();
        loop {
            let members: Vec<String> = case::Entity::find()
                .select_only()
                .column(case::Column::Id)
                .filter(case::Column::Tenant.eq(tenant.as_str()))
                .filter(case::Column::IncidentId.eq(id.as_str()))
                .filter(case::Column::Status.is_in(active.iter().copied()))
                .filter(case::Column::Id.gt(after.as_str()))
                .order_by_asc(case::Column::Id)
                .limit(MOVES_PER_TRANSACTION as u64)
                .into_tuple()
                .all(&self.db)
                .await
                .context("reading the members")?;
            let Some(last) = members.last() else { break };
            after.clone_from(last);
            for case_id in &members {
                let to = i32::from(v1::CaseStatus::Resolved);
                match lifecycle.transition(caller, case_id, to, note.clone(), &note, 0).await {
                    Ok(_) => resolved += 1,
                    // Resolved or closed meanwhile by someone else: nothing left to do for it.
                    Err(ApiError::FailedPrecondition(_)) => {}
                    Err(error) => return Err(error),
                }
            }
        }
        let now = self.clock.now();
        let done = incident::Model {
            status: status_number(v1::IncidentStatus::Resolved),
            resolved_at: Some(now),
            resolution_note: note,
            updated_at: now,
            ..row
        };
        let txn = self.db.begin().await.context("starting a transaction")?;
        incident::Entity::update(incident::ActiveModel::from(done.clone()).reset_all())
            .exec(&txn)
            .await
            .context("resolving the incident")?;
        let notified = request.notify && crate::notice::request(&txn, tenant, &id, &done.title, now).await?;
        announce(&txn, tenant, v1::IncidentEventKind::Resolved, &done, &caller.actor).await?;
        txn.commit().await.context("committing the incident")?;
        self.relay.wake();
        tracing::info!(incident_id = %id, actor = %caller.actor, resolved, notified, "incident resolved");
        self.with_counts(tenant.as_str(), done).await
    }

    /// AnswerIncident: in one transaction, the answer and one reply per member (each on the
    /// member's latest interaction, in its language when a translation is given), published on
    /// `replies.requested` with `personalize`. The same `answer_id` again returns the answer
    /// as it stands and requests nothing more.
    pub async fn answer(
        &self,
        caller: &Caller,
        request: v1::AnswerIncidentRequest,
    ) -> Result<v1::IncidentAnswer, ApiError> {
        let id = parse_id("incident_id", &request.incident_id)?;
        let text = answer_text("text", &request.text)?;
        validate::count("translations", request.translations.len(), MAX_TRANSLATIONS)?;
        let mut translations = BTreeMap::new();
        for (language, translated) in &request.translations {
            let language = language.trim().to_lowercase();
            if language.is_empty()
                || language.len() > 16
                || !language.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(ApiError::invalid(
                    "translations",
                    format!("{} is not a language code", validate::quote(&language)),
                ));
            }
            let field = format!("translations[{language}]");
            translations.insert(language, answer_text(&field, translated)?);
        }
        let answer_id = match request.answer_id.trim() {
            "" => new_id(),
            given => {
                validate::key("answer_id", given, MAX_ANSWER_ID)?;
                given.to_owned()
            }
        };
        v1::ReplyVisibility::try_from(request.visibility)
            .map_err(|_| ApiError::invalid("visibility", format!("{} is not a ReplyVisibility", request.visibility)))?;
        let tenant = &caller.tenant;
        let now = self.clock.now();
        let txn = self.db.begin().await.context("starting a transaction")?;
        let stored = answer::Entity::find_by_id((tenant.as_str().to_owned(), answer_id.clone()))
            .one(&txn)
            .await
            .context("reading the answer")?;
        if let Some(stored) = stored {
            drop(txn);
            return self.answer_status(tenant.as_str(), stored, None).await;
        }
        let incident = existing(&txn, tenant.as_str(), &id).await?;
        if incident.status == status_number(v1::IncidentStatus::Merged) {
            return Err(ApiError::FailedPrecondition(format!(
                "incident {id} was merged into {}: answer that one",
                incident.merged_into
            )));
        }
        let mut query = case::Entity::find()
            .filter(case::Column::Tenant.eq(tenant.as_str()))
            .filter(case::Column::IncidentId.eq(id.as_str()));
        if !request.include_resolved {
            let active: Vec<&str> =
                Status::ALL.iter().filter(|status| status.is_active()).map(|status| status.as_str()).collect();
            query = query.filter(case::Column::Status.is_in(active));
        }
        let members = query.order_by_asc(case::Column::Id).all(&txn).await.context("reading the members")?;
        let ids: Vec<&str> = members.iter().map(|row| row.id.as_str()).collect();
        let interactions =
            storage::interaction_ids(&txn, tenant.as_str(), &ids).await.context("reading the members' interactions")?;
        let mut rows = Vec::with_capacity(members.len());
        let mut envelopes = Vec::with_capacity(members.len());
        let mut entries = Vec::with_capacity(members.len());
        for member in &members {
            let Some(interaction_id) = interactions.get(&member.id).and_then(|ids| ids.last()) else { continue };
            let text = translations.get(&member.language.to_lowercase()).unwrap_or(&text).clone();
            let reply_id = format!("{answer_id}.{}", member.id);
            let row = reply::Model {
                tenant: tenant.as_str().to_owned(),
                reply_id: reply_id.clone(),
                case_id: member.id.clone(),
                interaction_id: interaction_id.clone(),
                text: text.clone(),
                subject: incident.title.clone(),
                visibility: request.visibility,
                status: v1::CaseReplyStatus::Requested.into(),
                platform_message_id: String::new(),
                reason: String::new(),
                requested_by: caller.actor.clone(),
                requested_at: now,
                updated_at: now,
                answer_id: answer_id.clone(),
            };
            crate::clocks::apply(&txn, member, crate::clocks::Effect::AgentReplied, now)
                .await
                .context("meeting the response clocks")?;
            let draft = Draft {
                text: text.clone(),
                reply_id: reply_id.clone(),
                interaction_id: interaction_id.clone(),
                reason: format!("answer {answer_id} to incident {id}"),
                ..Draft::of(v1::CaseTimelineKind::ReplyRequested)
            };
            entries.push(draft.into_row(tenant.as_str(), &member.id, &caller.actor, now, 0));
            let requested = v1::ReplyRequested {
                reply_id,
                case_id: member.id.clone(),
                interaction_id: interaction_id.clone(),
                text,
                visibility: request.visibility,
                requested_by: caller.actor.clone(),
                subject: incident.title.clone(),
                personalize: true,
                recipient: None,
            };
            envelopes.push((streams::REPLIES_REQUESTED, envelope(SERVICE, tenant, &requested)));
            rows.push(row);
        }
        let stored = answer::Model {
            tenant: tenant.as_str().to_owned(),
            answer_id: answer_id.clone(),
            incident_id: id.clone(),
            text,
            translations: serde_json::to_string(&translations).map_err(ApiError::internal)?,
            requested: <i64 as TryFrom<usize>>::try_from(rows.len()).unwrap_or(i64::MAX),
            requested_by: caller.actor.clone(),
            requested_at: now,
        };
        answer::Entity::insert(answer::ActiveModel::from(stored.clone()))
            .exec_without_returning(&txn)
            .await
            .context("recording the answer")?;
        replies::insert_all(&txn, rows).await.context("recording the replies")?;
        timeline::insert_many(&txn, entries).await.context("recording the replies on the timelines")?;
        outbox::enqueue_many(&txn, &envelopes).await?;
        txn.commit().await.context("committing the answer")?;
        if !envelopes.is_empty() {
            self.relay.wake();
        }
        tracing::info!(incident_id = %id, answer_id = %answer_id, replies = envelopes.len(), actor = %caller.actor, "incident answered");
        self.answer_status(tenant.as_str(), stored, None).await
    }

    /// GetIncidentAnswer.
    pub async fn get_answer(
        &self,
        tenant: &TenantId,
        request: &v1::GetIncidentAnswerRequest,
    ) -> Result<v1::IncidentAnswer, ApiError> {
        let answer_id = request.answer_id.trim();
        if answer_id.is_empty() {
            return Err(ApiError::invalid("answer_id", "is required"));
        }
        validate::key("answer_id", answer_id, MAX_ANSWER_ID)?;
        let page = Page::parse(request.page_size, &request.page_token)?;
        let stored = answer::Entity::find_by_id((tenant.as_str().to_owned(), answer_id.to_owned()))
            .one(&self.db)
            .await
            .context("reading the answer")?
            .ok_or_else(|| ApiError::not_found("answer", answer_id))?;
        self.answer_status(tenant.as_str(), stored, Some(page)).await
    }

    /// `stored` with its replies counted by status, and a page of them when asked for.
    async fn answer_status(
        &self,
        tenant: &str,
        stored: answer::Model,
        page: Option<Page>,
    ) -> Result<v1::IncidentAnswer, ApiError> {
        let by_status: Vec<(i32, i64)> = reply::Entity::find()
            .select_only()
            .column(reply::Column::Status)
            .column_as(reply::Column::ReplyId.count(), "replies")
            .filter(reply::Column::Tenant.eq(tenant))
            .filter(reply::Column::AnswerId.eq(stored.answer_id.as_str()))
            .group_by(reply::Column::Status)
            .into_tuple()
            .all(&self.db)
            .await
            .context("counting the replies")?;
        let count = |status: v1::CaseReplyStatus| {
            by_status
                .iter()
                .filter(|(number, _)| *number == i32::from(status))
                .map(|(_, count)| <u64 as TryFrom<i64>>::try_from(*count).unwrap_or(0))
                .sum::<u64>()
        };
        let mut answer = v1::IncidentAnswer {
            answer_id: stored.answer_id.clone(),
            incident_id: stored.incident_id,
            text: stored.text,
            requested: <u64 as TryFrom<i64>>::try_from(stored.requested).unwrap_or(0),
            delivered: count(v1::CaseReplyStatus::Delivered),
            failed: count(v1::CaseReplyStatus::Failed),
            pending: count(v1::CaseReplyStatus::Requested),
            requested_by: stored.requested_by,
            requested_at: Some(to_timestamp(stored.requested_at)),
            replies: Vec::new(),
            next_page_token: String::new(),
        };
        if let Some(page) = page {
            // Paged by case id (reply ids are `{answer_id}.{case_id}`).
            let mut query = reply::Entity::find()
                .filter(reply::Column::Tenant.eq(tenant))
                .filter(reply::Column::AnswerId.eq(stored.answer_id.as_str()));
            if let Some(after) = &page.after {
                query = query.filter(reply::Column::CaseId.gt(after.as_str()));
            }
            let rows = query
                .order_by_asc(reply::Column::CaseId)
                .limit(page.limit)
                .all(&self.db)
                .await
                .context("listing the replies")?;
            let replies: Vec<v1::CaseReply> = rows.into_iter().map(replies::to_proto).collect();
            let (replies, next_page_token) = page.fit(replies, |reply| reply.case_id.as_str());
            answer.replies = replies;
            answer.next_page_token = next_page_token;
        }
        Ok(answer)
    }
}

/// The first `limit` member case ids of incident `id`.
async fn member_ids<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str, limit: usize) -> Result<Vec<String>, DbErr> {
    case::Entity::find()
        .select_only()
        .column(case::Column::Id)
        .filter(case::Column::Tenant.eq(tenant))
        .filter(case::Column::IncidentId.eq(id))
        .order_by_asc(case::Column::Id)
        .limit(limit as u64)
        .into_tuple()
        .all(conn)
        .await
}

fn answer_text(field: &str, text: &str) -> Result<String, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ApiError::invalid(field, "is required and must not be blank"));
    }
    validate::text(field, text, replies::MAX_REPLY_BYTES)?;
    Ok(text.to_owned())
}

/// Consumes `topics.escalated`: opens the burst's incident (once per escalation key; a
/// placeholder opened by routing's cases meanwhile gets the threshold's details) and puts the
/// cases of the posts that crossed the threshold in it. A case already in another incident
/// stays there.
pub struct Escalated {
    /// The service's clock.
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl EventHandler for Escalated {
    type Payload = v1::TopicEscalated;

    async fn handle(
        &self,
        effects: &mut Effects<'_>,
        events: &[&Event<v1::TopicEscalated>],
    ) -> Result<(), HandleError> {
        let now = self.clock.now();
        for event in events {
            let escalated = &event.payload;
            let key = escalated.escalation_key.trim();
            if key.is_empty() || key.len() > MAX_KEY {
                return Err(HandleError::poison(event, "the event's escalation key is empty or too long"));
            }
            let tenant = event.tenant.as_str();
            let conn = effects.db();
            let department = crate::departments::check_name("department", &escalated.department)
                .ok()
                .filter(|name| !name.is_empty());
            let department = match department {
                Some(name)
                    if crate::departments::find(conn, tenant, &name)
                        .await
                        .context("reading the department")?
                        .is_some() =>
                {
                    name
                }
                _ => String::new(),
            };
            let title = match (escalated.topic.as_str(), escalated.cluster_id.as_str()) {
                ("", "") => format!("Escalation {key}"),
                ("", cluster) => format!("Similar posts (cluster {cluster})"),
                (topic, _) => format!("Hot topic: {topic}"),
            };
            let opening = Opening {
                title: truncate(&title, MAX_TITLE),
                topic: truncate(&escalated.topic, MAX_TOPIC),
                cluster_id: truncate(&escalated.cluster_id, validate::MAX_ID),
                department,
                trigger: truncate(&escalated.reason, domain::MAX_REASON),
                key: Some(key.to_owned()),
            };
            let details = opening.into_row(tenant, ROUTING, now);
            let (mut row, opened) = insert_or_find(conn, details.clone()).await.context("opening the incident")?;
            let mut change = opened.then_some(v1::IncidentEventKind::Opened);
            if row.id != details.id && row.opened_by == ROUTING && row.trigger_reason.is_empty() {
                // Opened by a case that carried the key before this event came: fill it in.
                row = incident::Model {
                    title: details.title,
                    topic: details.topic,
                    cluster_id: details.cluster_id,
                    department: details.department,
                    trigger_reason: details.trigger_reason,
                    updated_at: now,
                    ..row
                };
                incident::Entity::update(incident::ActiveModel::from(row.clone()).reset_all())
                    .exec(conn)
                    .await
                    .context("completing the incident")?;
                change = Some(v1::IncidentEventKind::Updated);
            }
            if let Some(kind) = change {
                announce(conn, &event.tenant, kind, &row, ROUTING).await.map_err(HandleError::retry)?;
            }
            let row = surviving(conn, tenant, row).await.context("following merges")?;
            if !is_open(&row) {
                continue;
            }
            let interaction_ids: Vec<&str> =
                escalated.interaction_ids.iter().map(String::as_str).take(MAX_CASES_PER_CALL).collect();
            let held = storage::cases_holding(conn, tenant, &interaction_ids).await.context("finding the cases")?;
            let mut case_ids: Vec<String> = held.into_values().collect();
            case_ids.sort();
            case_ids.dedup();
            // Only cases in no incident join: one routing put elsewhere, or a person did, stays.
            let free: Vec<String> = case::Entity::find()
                .select_only()
                .column(case::Column::Id)
                .filter(case::Column::Tenant.eq(tenant))
                .filter(case::Column::Id.is_in(case_ids.iter().map(String::as_str)))
                .filter(case::Column::IncidentId.eq(""))
                .into_tuple()
                .all(conn)
                .await
                .context("reading the cases")?;
            let changed =
                move_cases(conn, &event.tenant, ROUTING, &free, Move::Join { incident: &row, from: None }, "", now)
                    .await
                    .map_err(|error| match error {
                        ApiError::Aborted(reason) => HandleError::Contended(reason),
                        other => HandleError::retry(other),
                    })?;
            for case_event in &changed {
                effects.publish(streams::CASES_EVENTS, event, case_event);
            }
            tracing::info!(incident_id = %row.id, key, joined = changed.len(), "escalation's incident opened");
        }
        Ok(())
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncate(text: &str, max: usize) -> String {
    let text = text.trim();
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_keeps_whole_characters() {
        assert_eq!(truncate("  héllo  ", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }

    #[test]
    fn case_ids_are_checked_sorted_and_deduplicated() {
        let id = new_id();
        assert_eq!(check_case_ids(&[id.clone(), id.clone()], true).unwrap(), vec![id]);
        assert!(check_case_ids(&[], true).is_err());
        assert!(check_case_ids(&[], false).unwrap().is_empty());
        let error = check_case_ids(&["nope".into()], true).unwrap_err();
        assert!(error.to_string().contains("case_ids[0]"), "{error}");
    }
}
