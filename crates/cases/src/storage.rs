//! The cases service's tables: `cases` and `case_interactions`, with their migrations and
//! queries. Every query is scoped by tenant.

use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::{Expr, Index, LikeExpr};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, blob_null, boolean, integer, string, string_null, text, timestamp_with_time_zone,
    timestamp_with_time_zone_null,
};
use tend_kernel::paging::Page;
use tend_store::query::newest_first;

use crate::domain::{ERASED_TEXT, ErasedPeople};

/// The `cases` table.
#[allow(missing_docs)]
pub mod case {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "cases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub status: String,
        pub channel: i32,
        pub subject: String,
        pub customer_id: String,
        pub profile_id: String,
        pub priority: i32,
        pub idempotency_key: String,
        pub opened_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
        pub resolved_at: Option<ChronoDateTimeUtc>,
        pub resolution_note: Option<String>,
        /// The opening interaction's language, as enrichment read it ("" before enrichment).
        pub language: String,
        /// Its sentiment, as the `tend.v1.SentimentLabel` number.
        pub sentiment: i32,
        /// Its intents that hold, as `tend.v1.Intent` numbers separated by ",", strongest first.
        pub intents: String,
        /// The tenant's topics it mentions, separated by ",".
        pub topics: String,
        /// Whether it is work for an agent.
        pub actionable: bool,
        /// The queue routing chose ("" for a case opened without routing).
        pub queue: String,
        /// What routing decided, the `tend.v1.RoutingOutcome` protobuf-encoded.
        pub routing: Option<Vec<u8>>,
        /// Incremented by every change (optimistic concurrency).
        pub version: i64,
        /// The agent working on it; "" while unassigned.
        pub assignee: String,
        /// Its tags, sorted, "," separated.
        pub tags: String,
        /// How many of its promises are open.
        pub open_promises: i32,
        /// When the soonest of them falls due.
        pub next_promise_due_at: Option<ChronoDateTimeUtc>,
        /// The department it waits for ("" unless an escalation is open).
        pub department: String,
        /// Seconds spent with departments over ended escalations.
        pub department_seconds: i64,
        /// A `tend.v1.RetentionOutcome` number.
        pub retention_outcome: i32,
        /// The opening interaction's channel and conversation (`{channel}:{thread id}`), ""
        /// when it had none.
        pub thread: String,
        /// The incident it is a member of; "" if none.
        pub incident_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `case_interactions` table: which interactions are on which case.
#[allow(missing_docs)]
pub mod case_interaction {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "case_interactions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub case_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub interaction_id: String,
        pub tenant: String,
        pub added_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

tend_store::migrator!(
    /// The service's migrations, recorded in its own table `cases_migrations`.
    Migrator,
    "cases_migrations",
    [
        tend_store::migration::CreateOutbox,
        CreateCases,
        tend_store::migration::CreateInbox,
        IndexCasesByPerson,
        AddReading,
        AddRouting,
        crate::replies::AddReplies,
        AddLifecycle,
        crate::timeline::CreateTimeline,
        crate::promises::AddPromises,
        tend_store::lease::CreateLeases,
        crate::departments::AddDepartments,
        AddThread,
        crate::clocks::CreateClocks,
        crate::guides::CreateGuides,
        IndexCasesByTenantAndId,
        crate::incidents::AddIncidents,
        crate::notice::AddNotices,
    ]
);

/// Indexes cases by tenant and id, the order `ListCases` pages in: without it a page was found
/// through another tenant index and sorted whole, O(cases) per page (0.56 s on PostgreSQL with
/// statistics not yet caught up after a burst, 0.67 s on SQLite, for 300,000 and 180,000
/// cases), and a small tenant's page walked the other tenants' newer cases.
struct IndexCasesByTenantAndId;

impl MigrationName for IndexCasesByTenantAndId {
    fn name(&self) -> &str {
        "m20261207_000100_index_cases_by_tenant_and_id"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for IndexCasesByTenantAndId {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        tend_store::migration::create_indexes(manager, "cases", &[("cases_tenant_id", &["tenant", "id"])]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("cases_tenant_id").table("cases").to_owned()).await
    }
}

/// The conversation each case was opened in, so later messages of it join the case.
struct AddThread;

impl MigrationName for AddThread {
    fn name(&self) -> &str {
        "m20261203_000300_add_case_thread"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddThread {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table("cases").add_column(string("thread").default("").to_owned()).to_owned())
            .await?;
        manager
            .create_index(
                Index::create().name("cases_tenant_thread").table("cases").col("tenant").col("thread").to_owned(),
            )
            .await?;
        // An interaction is on one case only, also when two opens of it race to join cases.
        manager
            .create_index(
                Index::create()
                    .name("case_interactions_tenant_interaction")
                    .table("case_interactions")
                    .col("tenant")
                    .col("interaction_id")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop().name("case_interactions_tenant_interaction").table("case_interactions").to_owned(),
            )
            .await?;
        manager.drop_index(Index::drop().name("cases_tenant_thread").table("cases").to_owned()).await?;
        manager.alter_table(Table::alter().table("cases").drop_column("thread").to_owned()).await
    }
}

/// A version, an assignee and tags on each case (rows from before: version 1, unassigned, no
/// tags).
struct AddLifecycle;

impl MigrationName for AddLifecycle {
    fn name(&self) -> &str {
        "m20261202_000400_add_case_lifecycle"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddLifecycle {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            big_integer("version").default(1).to_owned(),
            string("assignee").default("").to_owned(),
            text("tags").default("").to_owned(),
        ];
        for column in columns {
            manager.alter_table(Table::alter().table("cases").add_column(column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["version", "assignee", "tags"] {
            manager.alter_table(Table::alter().table("cases").drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

/// What routing decided for each case: its queue as a column (the universal queue reads by it),
/// the whole outcome as the contract's message.
struct AddRouting;

impl MigrationName for AddRouting {
    fn name(&self) -> &str {
        "m20261202_000200_add_case_routing"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddRouting {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [string("queue").default("").to_owned(), blob_null("routing")] {
            manager.alter_table(Table::alter().table("cases").add_column(column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["routing", "queue"] {
            manager.alter_table(Table::alter().table("cases").drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

/// What enrichment read in each case's opening interaction (rows from before keep neutral
/// defaults).
struct AddReading;

impl MigrationName for AddReading {
    fn name(&self) -> &str {
        "m20261202_000100_add_case_reading"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddReading {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        let columns = [
            string("language").default("").to_owned(),
            integer("sentiment").default(0).to_owned(),
            text("intents").default("").to_owned(),
            text("topics").default("").to_owned(),
            boolean("actionable").default(true).to_owned(),
        ];
        for column in columns {
            manager.alter_table(Table::alter().table("cases").add_column(column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["language", "sentiment", "intents", "topics", "actionable"] {
            manager.alter_table(Table::alter().table("cases").drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

struct CreateCases;

impl MigrationName for CreateCases {
    fn name(&self) -> &str {
        "m20261123_000100_create_cases"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCases {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("cases")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(string("status"))
                    .col(integer("channel"))
                    .col(text("subject"))
                    .col(string("customer_id"))
                    .col(string("profile_id"))
                    .col(integer("priority"))
                    .col(string("idempotency_key"))
                    .col(timestamp_with_time_zone("opened_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(timestamp_with_time_zone_null("resolved_at"))
                    .col(string_null("resolution_note"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("cases_tenant_idempotency_key")
                    .table("cases")
                    .col("tenant")
                    .col("idempotency_key")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("cases_tenant_status_id")
                    .table("cases")
                    .col("tenant")
                    .col("status")
                    .col("id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("case_interactions")
                    .if_not_exists()
                    .col(string("case_id"))
                    .col(string("interaction_id"))
                    .col(string("tenant"))
                    .col(timestamp_with_time_zone("added_at"))
                    .primary_key(Index::create().col("case_id").col("interaction_id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("case_interactions").to_owned()).await?;
        manager.drop_table(Table::drop().table("cases").to_owned()).await
    }
}

/// Indexes cases by customer and by profile, so an erasure finds a person's cases without a
/// scan.
struct IndexCasesByPerson;

impl MigrationName for IndexCasesByPerson {
    fn name(&self) -> &str {
        "m20261124_000100_index_cases_by_person"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for IndexCasesByPerson {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, column) in [("cases_tenant_customer_id", "customer_id"), ("cases_tenant_profile_id", "profile_id")] {
            manager
                .create_index(
                    Index::create().name(name).table("cases").if_not_exists().col("tenant").col(column).to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["cases_tenant_customer_id", "cases_tenant_profile_id"] {
            manager.drop_index(Index::drop().name(name).table("cases").to_owned()).await?;
        }
        Ok(())
    }
}

/// One case of a tenant.
pub async fn find<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str) -> Result<Option<case::Model>, DbErr> {
    case::Entity::find_by_id(id.to_owned()).filter(case::Column::Tenant.eq(tenant)).one(conn).await
}

/// Inserts the cases whose idempotency key the tenant has not used yet, each with its first
/// interaction (`cases[i]` opened by `interaction_ids[i]`), and returns the ids of the cases
/// inserted; the others were opened before (see [`find_by_keys`]).
pub async fn insert_new<C: ConnectionTrait>(
    conn: &C,
    cases: &[case::Model],
    interaction_ids: &[&str],
) -> Result<HashSet<String>, DbErr> {
    let rows = cases.iter().cloned().map(case::ActiveModel::from).collect();
    let inserted =
        tend_store::query::insert_new(conn, rows, [case::Column::Tenant, case::Column::IdempotencyKey]).await?;
    let links: Vec<case_interaction::ActiveModel> = cases
        .iter()
        .zip(interaction_ids)
        .filter(|(row, _)| inserted.contains(&row.id))
        .map(|(row, interaction_id)| case_interaction::ActiveModel {
            case_id: Set(row.id.clone()),
            interaction_id: Set((*interaction_id).to_owned()),
            tenant: Set(row.tenant.clone()),
            added_at: Set(row.opened_at),
        })
        .collect();
    if !links.is_empty() {
        case_interaction::Entity::insert_many(links).exec_without_returning(conn).await?;
    }
    Ok(inserted)
}

/// The tenant's cases opened with any of these idempotency keys.
pub async fn find_by_keys<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    keys: &[&str],
) -> Result<Vec<case::Model>, DbErr> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    case::Entity::find()
        .filter(case::Column::Tenant.eq(tenant))
        .filter(case::Column::IdempotencyKey.is_in(keys.iter().copied()))
        .all(conn)
        .await
}

/// Saves what a change may touch on `row` (status, resolution, assignee, tags, priority,
/// promises, department, retention, version, update time) if the stored case is still at version `read` (the one the change was
/// made on); false when it is not (another call changed it first).
pub async fn update_changed<C: ConnectionTrait>(conn: &C, row: &case::Model, read: i64) -> Result<bool, DbErr> {
    let updated = case::Entity::update_many()
        .col_expr(case::Column::Status, Expr::value(row.status.clone()))
        .col_expr(case::Column::UpdatedAt, Expr::value(row.updated_at))
        .col_expr(case::Column::ResolvedAt, Expr::value(row.resolved_at))
        .col_expr(case::Column::ResolutionNote, Expr::value(row.resolution_note.clone()))
        .col_expr(case::Column::Assignee, Expr::value(row.assignee.clone()))
        .col_expr(case::Column::Tags, Expr::value(row.tags.clone()))
        .col_expr(case::Column::Priority, Expr::value(row.priority))
        .col_expr(case::Column::Version, Expr::value(row.version))
        .col_expr(case::Column::OpenPromises, Expr::value(row.open_promises))
        .col_expr(case::Column::NextPromiseDueAt, Expr::value(row.next_promise_due_at))
        .col_expr(case::Column::Department, Expr::value(row.department.clone()))
        .col_expr(case::Column::DepartmentSeconds, Expr::value(row.department_seconds))
        .col_expr(case::Column::RetentionOutcome, Expr::value(row.retention_outcome))
        .col_expr(case::Column::IncidentId, Expr::value(row.incident_id.clone()))
        .filter(case::Column::Id.eq(row.id.clone()))
        .filter(case::Column::Tenant.eq(row.tenant.clone()))
        .filter(case::Column::Version.eq(read))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Most cases of one person a history reads.
pub const MAX_CASES_OF_PERSON: u64 = 2000;

/// The cases of a customer (or of a profile), newest first, at most [`MAX_CASES_OF_PERSON`].
pub async fn of_person<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_id: &str,
    profile_id: &str,
) -> Result<Vec<case::Model>, DbErr> {
    let whose = if customer_id.is_empty() {
        case::Column::ProfileId.eq(profile_id)
    } else {
        case::Column::CustomerId.eq(customer_id)
    };
    case::Entity::find()
        .filter(case::Column::Tenant.eq(tenant))
        .filter(whose)
        .order_by_desc(case::Column::Id)
        .limit(MAX_CASES_OF_PERSON)
        .all(conn)
        .await
}

/// The cases of `tenant` that already hold any of `interaction_ids`, by interaction.
pub async fn cases_holding<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    interaction_ids: &[&str],
) -> Result<HashMap<String, String>, DbErr> {
    if interaction_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = case_interaction::Entity::find()
        .filter(case_interaction::Column::Tenant.eq(tenant))
        .filter(case_interaction::Column::InteractionId.is_in(interaction_ids.iter().copied()))
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|row| (row.interaction_id, row.case_id)).collect())
}

/// The tenant's cases, not closed, changed since `since` (or waiting for the customer, however
/// long), of any of these threads, customers or profiles: those a new interaction may join.
/// Newest change first.
pub async fn joinable<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    threads: &[&str],
    customers: &[&str],
    profiles: &[&str],
    since: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<case::Model>, DbErr> {
    let mut whose = Condition::any();
    for (column, values) in
        [(case::Column::Thread, threads), (case::Column::CustomerId, customers), (case::Column::ProfileId, profiles)]
    {
        let values: Vec<&str> = values.iter().copied().filter(|value| !value.is_empty()).collect();
        if !values.is_empty() {
            whose = whose.add(column.is_in(values));
        }
    }
    if whose.is_empty() {
        return Ok(Vec::new());
    }
    case::Entity::find()
        .filter(case::Column::Tenant.eq(tenant))
        .filter(case::Column::Status.ne(crate::domain::Status::Closed.as_str()))
        .filter(
            Condition::any()
                .add(case::Column::UpdatedAt.gte(since))
                .add(case::Column::Status.eq(crate::domain::Status::PendingCustomer.as_str())),
        )
        .filter(whose)
        .order_by_desc(case::Column::UpdatedAt)
        .limit(1000)
        .all(conn)
        .await
}

/// Puts interaction `interaction_id` on case `case_id` at `at`; false when it is on a case
/// already (this one or another), which is left as it is.
pub async fn link<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    case_id: &str,
    interaction_id: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<bool, DbErr> {
    let row = case_interaction::ActiveModel {
        case_id: Set(case_id.to_owned()),
        interaction_id: Set(interaction_id.to_owned()),
        tenant: Set(tenant.to_owned()),
        added_at: Set(at),
    };
    let inserted = case_interaction::Entity::insert(row)
        .on_conflict_do_nothing_on([case_interaction::Column::Tenant, case_interaction::Column::InteractionId])
        .exec_without_returning(conn)
        .await?;
    Ok(matches!(inserted, sea_orm::TryInsertResult::Inserted(1)))
}

/// The ids of the interactions on each of `case_ids`, oldest first, in one query.
pub async fn interaction_ids<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    case_ids: &[&str],
) -> Result<HashMap<String, Vec<String>>, DbErr> {
    let mut by_case: HashMap<String, Vec<String>> = HashMap::new();
    if case_ids.is_empty() {
        return Ok(by_case);
    }
    let rows = case_interaction::Entity::find()
        .filter(case_interaction::Column::Tenant.eq(tenant))
        .filter(case_interaction::Column::CaseId.is_in(case_ids.iter().copied()))
        .order_by_asc(case_interaction::Column::AddedAt)
        .order_by_asc(case_interaction::Column::InteractionId)
        .all(conn)
        .await?;
    for row in rows {
        by_case.entry(row.case_id).or_default().push(row.interaction_id);
    }
    Ok(by_case)
}

/// What `SearchCases` looks for, checked; empty fields hold for all.
#[derive(Debug, Default)]
pub struct Search {
    /// Stored statuses.
    pub statuses: Vec<&'static str>,
    /// The queue.
    pub queue: String,
    /// The assignee.
    pub assignee: String,
    /// Unassigned cases only.
    pub unassigned: bool,
    /// The customer.
    pub customer_id: String,
    /// The profile.
    pub profile_id: String,
    /// A tag the case carries.
    pub tag: String,
    /// A topic the case mentions.
    pub topic: String,
    /// The department it waits for.
    pub department: String,
    /// Only cases with open promises.
    pub with_open_promises: bool,
    /// Opened at or after.
    pub opened_after: Option<chrono::DateTime<chrono::Utc>>,
    /// Opened before.
    pub opened_before: Option<chrono::DateTime<chrono::Utc>>,
    /// Where its SLA clocks stand.
    pub sla: tend_proto::v1::SlaFilter,
}

/// `column`, a ","-separated list, holds `item` (whose "_" is a LIKE wildcard unless escaped).
fn list_holds(column: case::Column, item: &str) -> Condition {
    let escaped = item.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    let like = |pattern: String| column.like(LikeExpr::new(pattern).escape('\\'));
    Condition::any()
        .add(column.eq(item))
        .add(like(format!("{escaped},%")))
        .add(like(format!("%,{escaped}")))
        .add(like(format!("%,{escaped},%")))
}

/// A page of the tenant's cases that `search` finds, newest first, in one query.
pub async fn search<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    search: &Search,
    page: &Page,
) -> Result<Vec<case::Model>, DbErr> {
    let mut query = case::Entity::find().filter(case::Column::Tenant.eq(tenant));
    if !search.statuses.is_empty() {
        query = query.filter(case::Column::Status.is_in(search.statuses.iter().copied()));
    }
    let equal = [
        (case::Column::Queue, &search.queue),
        (case::Column::Assignee, &search.assignee),
        (case::Column::CustomerId, &search.customer_id),
        (case::Column::ProfileId, &search.profile_id),
        (case::Column::Department, &search.department),
    ];
    for (column, value) in equal {
        if !value.is_empty() {
            query = query.filter(column.eq(value.as_str()));
        }
    }
    if search.unassigned {
        query = query.filter(case::Column::Assignee.eq(""));
    }
    if !search.tag.is_empty() {
        query = query.filter(list_holds(case::Column::Tags, &search.tag));
    }
    if !search.topic.is_empty() {
        query = query.filter(list_holds(case::Column::Topics, &search.topic));
    }
    if search.with_open_promises {
        query = query.filter(case::Column::OpenPromises.gt(0));
    }
    if let Some(after) = search.opened_after {
        query = query.filter(case::Column::OpenedAt.gte(after));
    }
    if let Some(before) = search.opened_before {
        query = query.filter(case::Column::OpenedAt.lt(before));
    }
    if let Some(clocks) = crate::clocks::cases_where(tenant, search.sla) {
        query = query.filter(case::Column::Id.in_subquery(clocks));
    }
    newest_first(query, case::Column::Id, page).all(conn).await
}

/// A page of a tenant's cases, newest first, of one status if given.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    status: Option<&str>,
    page: &Page,
) -> Result<Vec<case::Model>, DbErr> {
    let mut query = case::Entity::find().filter(case::Column::Tenant.eq(tenant));
    if let Some(status) = status {
        query = query.filter(case::Column::Status.eq(status));
    }
    newest_first(query, case::Column::Id, page).all(conn).await
}

/// Erases the personal data on every case of `tenant` that belongs to `people` (the erased
/// customer, or one of the erased profiles) and returns how many cases there were.
///
/// The customer and profile ids are cleared, the subject (a copy of the first post's text)
/// becomes [`ERASED_TEXT`], and so does the resolution note when there is one (agents write
/// about the customer there), and the texts and reasons of the cases' timelines;
/// `updated_at` becomes `now`. The case keeps its id, status,
/// channel, priority, times and interaction ids: none of them says who the customer was, and
/// reports and SLAs still count the work.
///
/// Returns the ids of the cases it erased (the stream janitor removes the events that carried
/// them). Running it again changes nothing: an erased case carries neither id any more.
pub async fn erase_people<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    people: &ErasedPeople,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<String>, DbErr> {
    if people.is_empty() {
        return Ok(Vec::new());
    }
    let mut whose = Condition::any();
    if let Some(customer_id) = &people.customer_id {
        whose = whose.add(case::Column::CustomerId.eq(customer_id.as_str()));
    }
    if !people.profile_ids.is_empty() {
        whose = whose.add(case::Column::ProfileId.is_in(people.profile_ids.iter().map(String::as_str)));
    }
    let ids: Vec<String> = case::Entity::find()
        .select_only()
        .column(case::Column::Id)
        .filter(case::Column::Tenant.eq(tenant))
        .filter(whose.clone())
        .into_tuple()
        .all(conn)
        .await?;
    crate::timeline::erase(conn, tenant, &ids).await?;
    crate::promises::erase(conn, tenant, &ids).await?;
    crate::departments::erase(conn, tenant, &ids).await?;
    let note = Expr::case(Expr::col(case::Column::ResolutionNote).is_null(), Expr::col(case::Column::ResolutionNote))
        .finally(Expr::value(ERASED_TEXT));
    case::Entity::update_many()
        .col_expr(case::Column::CustomerId, Expr::value(""))
        .col_expr(case::Column::ProfileId, Expr::value(""))
        .col_expr(case::Column::Subject, Expr::value(ERASED_TEXT))
        .col_expr(case::Column::ResolutionNote, note.into())
        .col_expr(case::Column::UpdatedAt, Expr::value(now))
        .filter(case::Column::Tenant.eq(tenant))
        .filter(whose)
        .exec(conn)
        .await?;
    Ok(ids)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use sea_orm::DatabaseConnection;
    use tend_store::testing::{Backend, TestStore};

    use super::*;

    async fn database(backend: Backend) -> (TestStore, DatabaseConnection) {
        let store = TestStore::create(backend).await;
        let db = store.connect::<Migrator>("cases").await;
        (store, db)
    }

    fn row(tenant: &str, customer_id: &str, profile_id: &str, note: Option<&str>) -> case::Model {
        let now = tend_kernel::ids::now();
        case::Model {
            id: tend_kernel::ids::new_id(),
            tenant: tenant.to_owned(),
            status: if note.is_some() { "resolved" } else { "open" }.to_owned(),
            channel: 1,
            subject: "Ann here, my order never arrived".to_owned(),
            customer_id: customer_id.to_owned(),
            profile_id: profile_id.to_owned(),
            priority: 40,
            idempotency_key: tend_kernel::ids::new_id(),
            opened_at: now,
            updated_at: now,
            resolved_at: note.map(|_| now),
            resolution_note: note.map(str::to_owned),
            language: "en".to_owned(),
            sentiment: 1,
            intents: "2".to_owned(),
            queue: "default".to_owned(),
            routing: None,
            topics: "delivery".to_owned(),
            actionable: true,
            version: 1,
            assignee: String::new(),
            tags: String::new(),
            open_promises: 0,
            next_promise_due_at: None,
            department: String::new(),
            department_seconds: 0,
            retention_outcome: 0,
            thread: String::new(),
            incident_id: String::new(),
        }
    }

    fn people(customer_id: &str, profile_ids: &[&str]) -> ErasedPeople {
        ErasedPeople {
            customer_id: Some(customer_id.to_owned()).filter(|id| !id.is_empty()),
            profile_ids: profile_ids.iter().map(|id| (*id).to_owned()).collect(),
        }
    }

    async fn erases_the_customers_and_profiles_cases_in_the_tenant_once(backend: Backend) {
        let (store, db) = database(backend).await;
        let rows = [
            row("acme", "c1", "p1", None),
            row("acme", "", "p2", Some("refunded Ann, called her at home")),
            row("acme", "c1", "p9", None),
            row("acme", "", "p3", None),
            row("acme", "c2", "p4", None),
            row("globex", "c1", "p1", None),
        ];
        for row in &rows {
            let interaction_id = tend_kernel::ids::new_id();
            insert_new(&db, std::slice::from_ref(row), &[interaction_id.as_str()]).await.unwrap();
        }
        let now = tend_kernel::ids::now();

        // The customer's cases, and a case of one of its profiles opened before the link.
        let mut erased_ids = erase_people(&db, "acme", &people("c1", &["p1", "p2"]), now).await.unwrap();
        erased_ids.sort();
        let mut expected_ids: Vec<String> = rows[..3].iter().map(|row| row.id.clone()).collect();
        expected_ids.sort();
        assert_eq!(erased_ids, expected_ids);
        for erased in &rows[..3] {
            let stored = find(&db, "acme", &erased.id).await.unwrap().unwrap();
            let expected = case::Model {
                customer_id: String::new(),
                profile_id: String::new(),
                subject: ERASED_TEXT.to_owned(),
                resolution_note: erased.resolution_note.as_ref().map(|_| ERASED_TEXT.to_owned()),
                updated_at: now,
                ..erased.clone()
            };
            assert_eq!(stored, expected);
        }
        for kept in &rows[3..] {
            assert_eq!(find(&db, &kept.tenant, &kept.id).await.unwrap().as_ref(), Some(kept));
        }
        assert!(erase_people(&db, "acme", &people("c1", &["p1", "p2"]), now).await.unwrap().is_empty());
        // Nobody named: nothing erased, not the cases of unknown authors (blank customer id).
        assert!(erase_people(&db, "acme", &people("", &[]), now).await.unwrap().is_empty());
        assert_eq!(find(&db, "acme", &rows[3].id).await.unwrap().as_ref(), Some(&rows[3]));
        store.cleanup().await;
    }

    async fn a_batch_opens_each_key_once_and_finds_earlier_cases(backend: Backend) {
        let (store, db) = database(backend).await;
        let mut earlier = row("acme", "c1", "p1", None);
        earlier.idempotency_key = "i1".to_owned();
        insert_new(&db, std::slice::from_ref(&earlier), &["i1"]).await.unwrap();
        let mut batch = [row("acme", "c1", "p1", None), row("acme", "", "p2", None), row("acme", "", "p2", None)];
        batch[0].idempotency_key = "i1".to_owned();
        batch[1].idempotency_key = "i2".to_owned();
        batch[2].idempotency_key = "i2".to_owned();
        let inserted = insert_new(&db, &batch, &["i1", "i2", "i2"]).await.unwrap();
        assert_eq!(inserted.into_iter().collect::<Vec<_>>(), [batch[1].id.clone()]);
        let found = find_by_keys(&db, "acme", &["i1", "i2", "i3"]).await.unwrap();
        assert_eq!(found.len(), 2);
        assert!(find_by_keys(&db, "globex", &["i1"]).await.unwrap().is_empty());
        let on_cases = interaction_ids(&db, "acme", &[earlier.id.as_str(), batch[1].id.as_str()]).await.unwrap();
        assert_eq!(on_cases[&earlier.id], ["i1"]);
        assert_eq!(on_cases[&batch[1].id], ["i2"]);
        store.cleanup().await;
    }

    tend_store::on_both_backends!(
        erases_the_customers_and_profiles_cases_in_the_tenant_once,
        a_batch_opens_each_key_once_and_finds_earlier_cases,
    );
}
