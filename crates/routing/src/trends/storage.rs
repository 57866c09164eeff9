//! The tables of hot topics and escalations: posts per topic and minute (`topic_minutes`, kept
//! 49 hours), each topic's learned baseline and last assessment (`topic_trends`), the tenants'
//! escalation thresholds (`escalation_thresholds`) and the bursts that crossed them
//! (`escalations`). Decisions also keep their topics, so an escalation can name its posts.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, Index, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect,
};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, binary_null, boolean, integer, string, text, timestamp_with_time_zone, timestamp_with_time_zone_null,
};

/// The `topic_minutes` table: how many posts of a tenant mentioned a topic in a minute.
#[allow(missing_docs)]
pub mod topic_minute {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "topic_minutes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub topic: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub minute: ChronoDateTimeUtc,
        pub posts: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `topic_trends` table: a topic's baseline and its last assessment.
#[allow(missing_docs)]
pub mod topic_trend {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "topic_trends")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub topic: String,
        /// The `tend_trends::burst::Baseline`, as JSON.
        pub baseline: String,
        pub hot_since: Option<ChronoDateTimeUtc>,
        /// The last assessment, a `tend.v1.HotTopic` protobuf-encoded.
        pub assessment: Option<Vec<u8>>,
        /// Its heat, for ordering and for the consumers' cache.
        pub heat: i32,
        pub assessed_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `escalation_thresholds` table.
#[allow(missing_docs)]
pub mod threshold {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "escalation_thresholds")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        /// "" for every topic.
        pub topic: String,
        pub posts: i64,
        pub window_seconds: i64,
        pub department: String,
        pub updated_at: ChronoDateTimeUtc,
        /// A cluster of this many similar posts crosses it; 0 for a topic threshold.
        pub cluster_size: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `escalations` table: one row per burst that crossed a threshold.
#[allow(missing_docs)]
pub mod escalation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "escalations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        pub threshold: String,
        pub topic: String,
        /// The cluster that crossed a cluster threshold ("" for a topic's).
        pub cluster_id: String,
        pub crossed_at: ChronoDateTimeUtc,
        /// Still going: its topic's posts join its incident.
        pub active: bool,
        pub ended_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `agent_topic_stats` table: how each agent did on each topic (the experts of a hot topic).
#[allow(missing_docs)]
pub mod expertise {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "agent_topic_stats")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub agent: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub topic: String,
        /// Cases on the topic the agent resolved.
        pub resolved: i64,
        /// Of them, those the customer reopened.
        pub reopened: i64,
        /// Seconds from opening to resolution, summed over `resolved`.
        pub resolution_seconds: i64,
        /// CSAT answers about the agent's cases on the topic (from `surveys.answered`).
        pub csat_responses: i64,
        /// Of them, the satisfied ones (4 or 5 of 5).
        pub csat_satisfied: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates `agent_topic_stats` and gives work items their topics.
pub struct AddExpertise;

impl MigrationName for AddExpertise {
    fn name(&self) -> &str {
        "m20261207_000400_add_expertise"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddExpertise {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("agent_topic_stats")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("agent"))
                    .col(string("topic"))
                    .col(big_integer("resolved"))
                    .col(big_integer("reopened"))
                    .col(big_integer("resolution_seconds"))
                    .primary_key(Index::create().col("tenant").col("agent").col("topic"))
                    .to_owned(),
            )
            .await?;
        tend_store::migration::create_indexes(
            manager,
            "agent_topic_stats",
            &[("agent_topic_stats_topic", &["tenant", "topic"])],
        )
        .await?;
        manager
            .alter_table(Table::alter().table("routing_work_items").add_column(text("topics").default("")).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("routing_work_items").drop_column("topics").to_owned()).await?;
        manager.drop_table(Table::drop().table("agent_topic_stats").if_exists().to_owned()).await
    }
}

/// Gives decisions their post's near-duplicate signature and cluster (the similar-post index
/// is rebuilt from them).
pub struct AddClusters;

impl MigrationName for AddClusters {
    fn name(&self) -> &str {
        "m20261207_000500_add_clusters"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddClusters {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table("routing_decisions").add_column(string("cluster_id").default("")).to_owned(),
            )
            .await?;
        manager
            .alter_table(Table::alter().table("routing_decisions").add_column(binary_null("signature")).to_owned())
            .await?;
        tend_store::migration::create_indexes(
            manager,
            "routing_decisions",
            &[("routing_decisions_tenant_cluster", &["tenant", "cluster_id"])],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("routing_decisions_tenant_cluster").table("routing_decisions").to_owned())
            .await?;
        manager.alter_table(Table::alter().table("routing_decisions").drop_column("signature").to_owned()).await?;
        manager.alter_table(Table::alter().table("routing_decisions").drop_column("cluster_id").to_owned()).await
    }
}

/// Thresholds on clusters of similar posts ("a cluster of 50"), and the cluster an escalation
/// is about.
pub struct AddClusterThresholds;

impl MigrationName for AddClusterThresholds {
    fn name(&self) -> &str {
        "m20261207_000600_add_cluster_thresholds"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddClusterThresholds {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("escalation_thresholds")
                    .add_column(big_integer("cluster_size").default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(Table::alter().table("escalations").add_column(string("cluster_id").default("")).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("escalations").drop_column("cluster_id").to_owned()).await?;
        manager.alter_table(Table::alter().table("escalation_thresholds").drop_column("cluster_size").to_owned()).await
    }
}

/// Gives the agents' record on topics its customers' satisfaction (CSAT answers).
pub struct AddExpertiseCsat;

impl MigrationName for AddExpertiseCsat {
    fn name(&self) -> &str {
        "m20261208_000100_add_expertise_csat"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddExpertiseCsat {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in ["csat_responses", "csat_satisfied"] {
            manager
                .alter_table(
                    Table::alter().table("agent_topic_stats").add_column(big_integer(column).default(0)).to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["csat_satisfied", "csat_responses"] {
            manager.alter_table(Table::alter().table("agent_topic_stats").drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

/// Adds to the agents' record on topics: `rows` are increments (one per agent and topic).
pub async fn add_expertise<C: ConnectionTrait>(conn: &C, mut rows: Vec<expertise::Model>) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    // One order for every writer, so two batches never wait on each other in a cycle.
    rows.sort_by(|a, b| (&a.tenant, &a.agent, &a.topic).cmp(&(&b.tenant, &b.agent, &b.topic)));
    for chunk in rows.chunks(300) {
        let mut on_conflict =
            OnConflict::columns([expertise::Column::Tenant, expertise::Column::Agent, expertise::Column::Topic]);
        for (column, name) in [
            (expertise::Column::Resolved, "excluded.resolved"),
            (expertise::Column::Reopened, "excluded.reopened"),
            (expertise::Column::ResolutionSeconds, "excluded.resolution_seconds"),
            (expertise::Column::CsatResponses, "excluded.csat_responses"),
            (expertise::Column::CsatSatisfied, "excluded.csat_satisfied"),
        ] {
            on_conflict.value(column, Expr::col((expertise::Entity, column)).add(Expr::cust(name)));
        }
        expertise::Entity::insert_many(chunk.iter().cloned().map(expertise::ActiveModel::from))
            .on_conflict(on_conflict)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// The tenant's record on `topics`, every agent's.
pub async fn expertise_on<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    topics: &[String],
) -> Result<Vec<expertise::Model>, DbErr> {
    if topics.is_empty() {
        return Ok(Vec::new());
    }
    expertise::Entity::find()
        .filter(expertise::Column::Tenant.eq(tenant))
        .filter(expertise::Column::Topic.is_in(topics.iter().map(String::as_str)))
        .all(conn)
        .await
}

/// Creates the tables of hot topics and escalations; gives decisions their topics.
pub struct AddTrends;

impl MigrationName for AddTrends {
    fn name(&self) -> &str {
        "m20261207_000300_add_trends"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddTrends {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("topic_minutes")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("topic"))
                    .col(timestamp_with_time_zone("minute"))
                    .col(big_integer("posts"))
                    .primary_key(Index::create().col("tenant").col("topic").col("minute"))
                    .to_owned(),
            )
            .await?;
        tend_store::migration::create_indexes(manager, "topic_minutes", &[("topic_minutes_minute", &["minute"])])
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("topic_trends")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("topic"))
                    .col(text("baseline"))
                    .col(timestamp_with_time_zone_null("hot_since"))
                    .col(binary_null("assessment"))
                    .col(integer("heat"))
                    .col(timestamp_with_time_zone("assessed_at"))
                    .primary_key(Index::create().col("tenant").col("topic"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("escalation_thresholds")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("name"))
                    .col(string("topic"))
                    .col(big_integer("posts"))
                    .col(big_integer("window_seconds"))
                    .col(string("department"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .primary_key(Index::create().col("tenant").col("name"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("escalations")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("key"))
                    .col(string("threshold"))
                    .col(string("topic"))
                    .col(timestamp_with_time_zone("crossed_at"))
                    .col(boolean("active"))
                    .col(timestamp_with_time_zone_null("ended_at"))
                    .primary_key(Index::create().col("tenant").col("key"))
                    .to_owned(),
            )
            .await?;
        tend_store::migration::create_indexes(manager, "escalations", &[("escalations_active", &["active", "tenant"])])
            .await?;
        manager
            .alter_table(Table::alter().table("routing_decisions").add_column(string("topics").default("")).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("routing_decisions").drop_column("topics").to_owned()).await?;
        for table in ["escalations", "escalation_thresholds", "topic_trends", "topic_minutes"] {
            manager.drop_table(Table::drop().table(table).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}

/// Adds `counts` ((topic, minute) → posts) to a tenant's minutes, in one statement per 500.
pub async fn add_minutes<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    counts: &std::collections::BTreeMap<(String, DateTime<Utc>), i64>,
) -> Result<(), DbErr> {
    let rows: Vec<topic_minute::ActiveModel> = counts
        .iter()
        .map(|((topic, minute), posts)| {
            topic_minute::ActiveModel::from(topic_minute::Model {
                tenant: tenant.to_owned(),
                topic: topic.clone(),
                minute: *minute,
                posts: *posts,
            })
        })
        .collect();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(500).collect();
        let add = Expr::col((topic_minute::Entity, topic_minute::Column::Posts)).add(Expr::cust("excluded.posts"));
        let on_conflict = OnConflict::columns([
            topic_minute::Column::Tenant,
            topic_minute::Column::Topic,
            topic_minute::Column::Minute,
        ])
        .value(topic_minute::Column::Posts, add)
        .to_owned();
        topic_minute::Entity::insert_many(chunk).on_conflict(on_conflict).exec_without_returning(conn).await?;
    }
    Ok(())
}

/// A tenant's posts per topic and minute since `since` (and before `until`), oldest first.
pub async fn minutes<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Vec<topic_minute::Model>, DbErr> {
    topic_minute::Entity::find()
        .filter(topic_minute::Column::Tenant.eq(tenant))
        .filter(topic_minute::Column::Minute.gte(since))
        .filter(topic_minute::Column::Minute.lt(until))
        .order_by_asc(topic_minute::Column::Minute)
        .all(conn)
        .await
}

#[derive(Debug, FromQueryResult)]
struct TenantRow {
    tenant: String,
}

/// The tenants with posts on a topic since `since`.
pub async fn active_tenants<C: ConnectionTrait>(conn: &C, since: DateTime<Utc>) -> Result<Vec<String>, DbErr> {
    let rows = topic_minute::Entity::find()
        .select_only()
        .column(topic_minute::Column::Tenant)
        .filter(topic_minute::Column::Minute.gte(since))
        .distinct()
        .into_model::<TenantRow>()
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|row| row.tenant).collect())
}

/// The tenants with a threshold on clusters (assessed whether or not they have topics).
pub async fn tenants_watching_clusters<C: ConnectionTrait>(conn: &C) -> Result<Vec<String>, DbErr> {
    threshold::Entity::find()
        .select_only()
        .column(threshold::Column::Tenant)
        .filter(threshold::Column::ClusterSize.gt(0))
        .distinct()
        .into_tuple()
        .all(conn)
        .await
}

/// Forgets the minutes before `before` (every tenant's).
pub async fn forget_minutes<C: ConnectionTrait>(conn: &C, before: DateTime<Utc>) -> Result<u64, DbErr> {
    let deleted =
        topic_minute::Entity::delete_many().filter(topic_minute::Column::Minute.lt(before)).exec(conn).await?;
    Ok(deleted.rows_affected)
}

/// A tenant's topic trends.
pub async fn trends<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Vec<topic_trend::Model>, DbErr> {
    topic_trend::Entity::find().filter(topic_trend::Column::Tenant.eq(tenant)).all(conn).await
}

/// Every tenant's hot topics (for the consumers' cache).
pub async fn hot<C: ConnectionTrait>(conn: &C) -> Result<Vec<topic_trend::Model>, DbErr> {
    topic_trend::Entity::find().filter(topic_trend::Column::HotSince.is_not_null()).all(conn).await
}

/// Saves `rows` (inserted or replaced by tenant and topic).
pub async fn save_trends<C: ConnectionTrait>(conn: &C, rows: Vec<topic_trend::Model>) -> Result<(), DbErr> {
    use topic_trend::Column;
    for chunk in rows.chunks(200) {
        let upsert = OnConflict::columns([Column::Tenant, Column::Topic])
            .update_columns([Column::Baseline, Column::HotSince, Column::Assessment, Column::Heat, Column::AssessedAt])
            .to_owned();
        topic_trend::Entity::insert_many(chunk.iter().cloned().map(topic_trend::ActiveModel::from))
            .on_conflict(upsert)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

/// A tenant's thresholds, by name.
pub async fn thresholds<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Vec<threshold::Model>, DbErr> {
    threshold::Entity::find()
        .filter(threshold::Column::Tenant.eq(tenant))
        .order_by_asc(threshold::Column::Name)
        .all(conn)
        .await
}

/// Every active escalation (every tenant's), for the consumers' cache and the evaluator.
pub async fn active_escalations<C: ConnectionTrait>(conn: &C) -> Result<Vec<escalation::Model>, DbErr> {
    escalation::Entity::find().filter(escalation::Column::Active.eq(true)).all(conn).await
}

/// One tenant's active escalations.
pub async fn active_escalations_of<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
) -> Result<Vec<escalation::Model>, DbErr> {
    escalation::Entity::find()
        .filter(escalation::Column::Active.eq(true))
        .filter(escalation::Column::Tenant.eq(tenant))
        .all(conn)
        .await
}

/// Most recent decisions an escalation reads to find its posts.
const SCAN_FOR_POSTS: u64 = 20_000;

/// The ids of the tenant's interactions on `topic` decided since `since`, newest first, at
/// most `limit`, among the last 20,000 decisions (read once per burst, when it crosses a
/// threshold).
pub async fn interactions_on<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    topic: &str,
    since: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<String>, DbErr> {
    use crate::storage::decision;
    let rows: Vec<(String, String)> = decision::Entity::find()
        .select_only()
        .column(decision::Column::InteractionId)
        .column(decision::Column::Topics)
        .filter(decision::Column::Tenant.eq(tenant))
        .filter(decision::Column::DecidedAt.gte(since))
        .filter(decision::Column::Topics.ne(""))
        .order_by_desc(decision::Column::DecidedAt)
        .limit(SCAN_FOR_POSTS)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|(_, topics)| topics.split(',').any(|stored| stored == topic))
        .map(|(id, _)| id)
        .take(limit)
        .collect())
}

/// A decision's topics as stored: ",a,b," (topics with a comma are left out: a dictionary's
/// topics are words and phrases).
pub fn topics_column(topics: &[String]) -> String {
    let kept: Vec<&str> =
        topics.iter().map(String::as_str).filter(|topic| !topic.is_empty() && !topic.contains(',')).collect();
    if kept.is_empty() { String::new() } else { format!(",{},", kept.join(",")) }
}

/// Stores `row`, a new escalation.
pub async fn insert_escalation<C: ConnectionTrait>(conn: &C, row: escalation::Model) -> Result<(), DbErr> {
    escalation::Entity::insert(escalation::ActiveModel::from(row)).exec_without_returning(conn).await?;
    Ok(())
}

/// Whether the tenant has (or had) escalation `key`.
pub async fn escalation_exists<C: ConnectionTrait>(conn: &C, tenant: &str, key: &str) -> Result<bool, DbErr> {
    Ok(escalation::Entity::find_by_id((tenant.to_owned(), key.to_owned())).one(conn).await?.is_some())
}

/// Ends escalation `key` of `tenant` at `at`.
pub async fn end_escalation<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    key: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    escalation::Entity::update_many()
        .col_expr(escalation::Column::Active, Expr::value(false))
        .col_expr(escalation::Column::EndedAt, Expr::value(Some(at)))
        .filter(escalation::Column::Tenant.eq(tenant))
        .filter(escalation::Column::Key.eq(key))
        .exec(conn)
        .await?;
    Ok(())
}
