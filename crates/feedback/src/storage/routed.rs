//! What feedback keeps of routing's decisions, from `interactions.routed`: `routed_facts` (one row
//! per interaction routing decided on, work or not), `routed_topics` (one row per topic such an
//! interaction mentions, so the report counts by topic with a `GROUP BY`) and
//! `testimonial_candidates` (the praise worth a testimonial). Ids, labels, times and the CRM's
//! segment and value of a linked customer only: never text or names. A fact keeps the linked
//! customer's id for the insights export (`crate::insights`); erasure blanks it
//! ([`erase_facts`]).
//!
//! Every query is scoped by tenant; every table is keyed by (tenant, interaction id), so an
//! interaction is recorded once however often its decision is delivered or replayed.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Index;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait as _, QueryFilter, QuerySelect,
};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{boolean, double, integer, string, text, timestamp_with_time_zone};
use tend_kernel::paging::Page;
use tend_proto::v1;

/// Most rows one multi-row statement writes: with at most 12 columns a row, that stays well
/// under SQLite's (32,766) and PostgreSQL's (65,535) limits on bound parameters.
const ROWS_PER_STATEMENT: usize = 1_000;

/// Most erasure events one `DELETE` covers (each binds its customer and its profiles).
const ERASURES_PER_STATEMENT: usize = 100;

/// The state of a testimonial candidate nobody has acted on yet.
pub const CANDIDATE: &str = "candidate";

/// The `routed_facts` table: one row per interaction routing decided on.
#[allow(missing_docs)]
pub mod routed_fact {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "routed_facts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub interaction_id: String,
        /// When routing decided (the fact's time in reports).
        pub decided_at: ChronoDateTimeUtc,
        /// `tend.v1.Channel`.
        pub channel: i32,
        pub actionable: bool,
        /// Empty when actionable.
        pub not_actionable_reason: String,
        pub queue: String,
        pub priority: i32,
        /// `tend.v1.Intent` numbers, strongest first, joined by ",".
        pub intents: String,
        /// Topic names (which never hold a ","), joined by ",".
        pub topics: String,
        /// `tend.v1.SentimentLabel`.
        pub sentiment: i32,
        /// The linked customer's id; empty when the author was not linked (and once erased).
        pub customer_id: String,
        /// The customer's CRM segment as routing saw it; empty when none.
        pub segment: String,
        /// The customer's CRM lifetime value as routing saw it; 0 when none (and once erased).
        pub lifetime_value: f64,
        /// Whether enrichment read the churn-risk intent.
        pub churn_risk: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `routed_topics` table: one row per topic a routed interaction mentions.
#[allow(missing_docs)]
pub mod routed_topic {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "routed_topics")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub interaction_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub topic: String,
        /// The interaction's `decided_at`.
        pub decided_at: ChronoDateTimeUtc,
        /// The interaction's `actionable`.
        pub actionable: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `testimonial_candidates` table: interactions whose author may be asked for a testimonial.
#[allow(missing_docs)]
pub mod testimonial_candidate {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "testimonial_candidates")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub interaction_id: String,
        /// The author's profile id (erased with the profile).
        pub profile_id: String,
        /// The linked customer's id; empty when not linked (erased with the customer).
        pub customer_id: String,
        /// `tend.v1.Channel`.
        pub channel: i32,
        /// When routing decided on the interaction.
        pub proposed_at: ChronoDateTimeUtc,
        /// [`CANDIDATE`](super::CANDIDATE) until someone acts on it.
        pub state: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates `routed_facts`, `routed_topics` and `testimonial_candidates`.
pub struct CreateRoutedFacts;

impl MigrationName for CreateRoutedFacts {
    fn name(&self) -> &str {
        "m20261201_000100_create_routed_facts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateRoutedFacts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("routed_facts")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("interaction_id"))
                    .col(timestamp_with_time_zone("decided_at"))
                    .col(integer("channel"))
                    .col(boolean("actionable"))
                    .col(text("not_actionable_reason"))
                    .col(string("queue"))
                    .col(integer("priority"))
                    .col(text("intents"))
                    .col(text("topics"))
                    .col(integer("sentiment"))
                    .primary_key(Index::create().col("tenant").col("interaction_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("routed_facts_tenant_decided")
                    .table("routed_facts")
                    .col("tenant")
                    .col("decided_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("routed_topics")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("interaction_id"))
                    .col(string("topic"))
                    .col(timestamp_with_time_zone("decided_at"))
                    .col(boolean("actionable"))
                    .primary_key(Index::create().col("tenant").col("interaction_id").col("topic"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("routed_topics_tenant_decided")
                    .table("routed_topics")
                    .col("tenant")
                    .col("decided_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("testimonial_candidates")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("interaction_id"))
                    .col(string("profile_id"))
                    .col(string("customer_id"))
                    .col(integer("channel"))
                    .col(timestamp_with_time_zone("proposed_at"))
                    .col(string("state"))
                    .primary_key(Index::create().col("tenant").col("interaction_id"))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("testimonial_candidates_tenant_proposed", "proposed_at"),
            ("testimonial_candidates_tenant_profile", "profile_id"),
            ("testimonial_candidates_tenant_customer", "customer_id"),
        ] {
            manager
                .create_index(
                    Index::create().name(name).table("testimonial_candidates").col("tenant").col(column).to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["testimonial_candidates", "routed_topics", "routed_facts"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// Adds what the insights export reads to `routed_facts`: the linked customer's id, the CRM's
/// segment and lifetime value as routing saw them, and whether the post reads as a churn risk
/// (filled in from the stored intents for the rows before it), with an index to read a
/// tenant's facts customer by customer.
pub struct AddInsightColumns;

impl MigrationName for AddInsightColumns {
    fn name(&self) -> &str {
        "m20261208_000100_add_routed_fact_insights"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddInsightColumns {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            string("customer_id").default("").to_owned(),
            string("segment").default("").to_owned(),
            double("lifetime_value").default(0.0).to_owned(),
            boolean("churn_risk").default(false).to_owned(),
        ];
        for column in columns {
            manager.alter_table(Table::alter().table("routed_facts").add_column(column).to_owned()).await?;
        }
        // Intents are numbers joined by ","; the churn-risk intent is `INTENT_CHURN_RISK`.
        let churn_risk = v1::Intent::ChurnRisk as i32;
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "UPDATE routed_facts SET churn_risk = TRUE WHERE (',' || intents || ',') LIKE '%,{churn_risk},%'"
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("routed_facts_tenant_customer")
                    .table("routed_facts")
                    .col("tenant")
                    .col("customer_id")
                    .col("interaction_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("routed_facts_tenant_customer").table("routed_facts").to_owned()).await?;
        for column in ["churn_risk", "lifetime_value", "segment", "customer_id"] {
            manager.alter_table(Table::alter().table("routed_facts").drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

/// Whether `intents` (`tend.v1.Intent` numbers) hold the churn-risk intent.
pub fn is_churn_risk(intents: &[i32]) -> bool {
    intents.contains(&(v1::Intent::ChurnRisk as i32))
}

/// One routed interaction, as the consumer reads it from its event.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    /// The fact.
    pub fact: routed_fact::Model,
    /// The testimonial candidate it proposes, if any (same tenant and interaction).
    pub candidate: Option<testimonial_candidate::Model>,
}

/// The topics of `fact`, each once.
fn topics_of(fact: &routed_fact::Model) -> Vec<&str> {
    let mut seen = HashSet::new();
    fact.topics.split(',').filter(|topic| !topic.is_empty() && seen.insert(*topic)).collect()
}

/// Records `routed` with a few statements per [`ROWS_PER_STATEMENT`] interactions: the facts of
/// the interactions not recorded before (the first of a batch wins), then their topics and their
/// testimonial candidates. An interaction recorded before (a replayed decision) is left as it
/// is, and so gets no candidate again: one erased since stays erased. Returns the (tenant,
/// interaction id) of the interactions that were new.
pub async fn record<C: ConnectionTrait>(conn: &C, routed: Vec<Routed>) -> Result<HashSet<(String, String)>, DbErr> {
    let mut seen = HashSet::with_capacity(routed.len());
    let routed: Vec<Routed> = routed
        .into_iter()
        .filter(|item| seen.insert((item.fact.tenant.clone(), item.fact.interaction_id.clone())))
        .collect();
    let mut recorded = HashSet::new();
    for chunk in routed.chunks(ROWS_PER_STATEMENT) {
        let facts = chunk.iter().map(|item| routed_fact::ActiveModel::from(item.fact.clone())).collect();
        let new = tend_store::query::insert_new(
            conn,
            facts,
            [routed_fact::Column::Tenant, routed_fact::Column::InteractionId],
        )
        .await?;
        let fresh: Vec<&Routed> = chunk
            .iter()
            .filter(|item| new.contains(&(item.fact.tenant.clone(), item.fact.interaction_id.clone())))
            .collect();
        recorded.extend(fresh.iter().map(|item| (item.fact.tenant.clone(), item.fact.interaction_id.clone())));
        let topics: Vec<routed_topic::ActiveModel> = fresh
            .iter()
            .flat_map(|item| {
                topics_of(&item.fact).into_iter().map(|topic| routed_topic::Model {
                    tenant: item.fact.tenant.clone(),
                    interaction_id: item.fact.interaction_id.clone(),
                    topic: topic.to_owned(),
                    decided_at: item.fact.decided_at,
                    actionable: item.fact.actionable,
                })
            })
            .map(routed_topic::ActiveModel::from)
            .collect();
        // Topics per interaction are few (a dictionary match), but a chunk may still hold more
        // than a statement should.
        for topics in chunked(topics) {
            tend_store::query::insert_new(
                conn,
                topics,
                [routed_topic::Column::Tenant, routed_topic::Column::InteractionId, routed_topic::Column::Topic],
            )
            .await?;
        }
        let candidates: Vec<testimonial_candidate::ActiveModel> = fresh
            .iter()
            .filter_map(|item| item.candidate.clone())
            .map(testimonial_candidate::ActiveModel::from)
            .collect();
        tend_store::query::insert_new(
            conn,
            candidates,
            [testimonial_candidate::Column::Tenant, testimonial_candidate::Column::InteractionId],
        )
        .await?;
    }
    Ok(recorded)
}

/// `rows` in groups of at most [`ROWS_PER_STATEMENT`].
fn chunked<T>(rows: Vec<T>) -> Vec<Vec<T>> {
    let mut chunks = Vec::with_capacity(rows.len().div_ceil(ROWS_PER_STATEMENT));
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        chunks.push(rows.by_ref().take(ROWS_PER_STATEMENT).collect());
    }
    chunks
}

/// How many interactions of a window mention one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicTally {
    /// The topic.
    pub topic: String,
    /// Interactions that mention it.
    pub interactions: u64,
    /// Of those, the ones that were not work.
    pub not_actionable: u64,
}

/// What a window holds of routing's decisions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutedTally {
    /// Interactions decided on.
    pub interactions: u64,
    /// Of those, the ones that were not work.
    pub not_actionable: u64,
    /// By topic, most mentioned first, then by topic.
    pub by_topic: Vec<TopicTally>,
    /// The interactions that were work by queue, fullest first, then by queue.
    pub by_queue: Vec<(String, u64)>,
    /// Testimonial candidates proposed (and not erased).
    pub testimonial_candidates: u64,
}

/// A count from a `GROUP BY`, as the backends return it.
fn count(value: i64) -> u64 {
    <u64 as TryFrom<i64>>::try_from(value).unwrap_or(0)
}

/// What routing decided on for `tenant` in `[from, to)`, by the time it decided: three grouped
/// counts (facts by queue and actionable, topics by topic and actionable) and one count of
/// candidates, each over a (tenant, time) index.
pub async fn tally<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<RoutedTally, DbErr> {
    let by_queue: Vec<(String, bool, i64)> = routed_fact::Entity::find()
        .select_only()
        .column(routed_fact::Column::Queue)
        .column(routed_fact::Column::Actionable)
        .column_as(routed_fact::Column::InteractionId.count(), "interactions")
        .filter(routed_fact::Column::Tenant.eq(tenant))
        .filter(routed_fact::Column::DecidedAt.gte(from))
        .filter(routed_fact::Column::DecidedAt.lt(to))
        .group_by(routed_fact::Column::Queue)
        .group_by(routed_fact::Column::Actionable)
        .into_tuple()
        .all(conn)
        .await?;
    let by_topic: Vec<(String, bool, i64)> = routed_topic::Entity::find()
        .select_only()
        .column(routed_topic::Column::Topic)
        .column(routed_topic::Column::Actionable)
        .column_as(routed_topic::Column::InteractionId.count(), "interactions")
        .filter(routed_topic::Column::Tenant.eq(tenant))
        .filter(routed_topic::Column::DecidedAt.gte(from))
        .filter(routed_topic::Column::DecidedAt.lt(to))
        .group_by(routed_topic::Column::Topic)
        .group_by(routed_topic::Column::Actionable)
        .into_tuple()
        .all(conn)
        .await?;
    let testimonial_candidates = testimonial_candidate::Entity::find()
        .filter(testimonial_candidate::Column::Tenant.eq(tenant))
        .filter(testimonial_candidate::Column::ProposedAt.gte(from))
        .filter(testimonial_candidate::Column::ProposedAt.lt(to))
        .count(conn)
        .await?;

    let mut tally = RoutedTally { testimonial_candidates, ..RoutedTally::default() };
    let mut queues: BTreeMap<String, u64> = BTreeMap::new();
    for (queue, actionable, interactions) in by_queue {
        let interactions = count(interactions);
        tally.interactions += interactions;
        if actionable {
            *queues.entry(queue).or_default() += interactions;
        } else {
            tally.not_actionable += interactions;
        }
    }
    tally.by_queue = queues.into_iter().collect();
    tally.by_queue.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

    let mut topics: BTreeMap<String, TopicTally> = BTreeMap::new();
    for (topic, actionable, interactions) in by_topic {
        let interactions = count(interactions);
        let entry = topics.entry(topic.clone()).or_insert(TopicTally { topic, interactions: 0, not_actionable: 0 });
        entry.interactions += interactions;
        if !actionable {
            entry.not_actionable += interactions;
        }
    }
    tally.by_topic = topics.into_values().collect();
    tally.by_topic.sort_by(|a, b| b.interactions.cmp(&a.interactions).then_with(|| a.topic.cmp(&b.topic)));
    Ok(tally)
}

/// One page of `tenant`'s testimonial candidates, newest first by interaction id.
pub async fn list_candidates<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    page: &Page,
) -> Result<Vec<testimonial_candidate::Model>, DbErr> {
    let query = testimonial_candidate::Entity::find().filter(testimonial_candidate::Column::Tenant.eq(tenant));
    tend_store::query::newest_first(query, testimonial_candidate::Column::InteractionId, page).all(conn).await
}

/// The testimonial candidates of `tenant` whose author is `customer_id` or one of
/// `profile_ids`, with what feedback keeps of routing's decision on each (subject access).
pub async fn of_person<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_id: &str,
    profile_ids: &[String],
) -> Result<Vec<(testimonial_candidate::Model, Option<routed_fact::Model>)>, DbErr> {
    let mut whose = sea_orm::Condition::any().add(testimonial_candidate::Column::CustomerId.eq(customer_id));
    if !profile_ids.is_empty() {
        whose = whose.add(testimonial_candidate::Column::ProfileId.is_in(profile_ids.iter().map(String::as_str)));
    }
    let candidates = testimonial_candidate::Entity::find()
        .filter(testimonial_candidate::Column::Tenant.eq(tenant))
        .filter(whose)
        .all(conn)
        .await?;
    let mut rows = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        let fact = routed_fact::Entity::find()
            .filter(routed_fact::Column::Tenant.eq(tenant))
            .filter(routed_fact::Column::InteractionId.eq(candidate.interaction_id.as_str()))
            .one(conn)
            .await?;
        rows.push((candidate, fact));
    }
    Ok(rows)
}

/// The people of one erasure: a customer, and the profiles that were linked to it. Blank ids
/// are left out, so an erasure never matches rows that have no customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erased {
    /// The tenant.
    pub tenant: String,
    /// The customer's id, if not blank.
    pub customer_id: Option<String>,
    /// The profiles' ids, without blanks and repeats.
    pub profile_ids: Vec<String>,
}

impl Erased {
    /// The erasure of `people` in `tenant`.
    pub fn new(tenant: &str, people: tend_store::events::ErasedPeople) -> Self {
        Self { tenant: tenant.to_owned(), customer_id: people.customer_id, profile_ids: people.profile_ids }
    }

    /// Whether it names nobody.
    pub fn is_empty(&self) -> bool {
        self.customer_id.is_none() && self.profile_ids.is_empty()
    }
}

/// Deletes the testimonial candidates of `erased` (those of the erased customer or of one of
/// its profiles, in the erasure's tenant), one statement per [`ERASURES_PER_STATEMENT`]
/// erasures, and returns how many there were. Running it again deletes nothing more.
pub async fn erase_candidates<C: ConnectionTrait>(conn: &C, erased: &[Erased]) -> Result<u64, DbErr> {
    let erased: Vec<&Erased> = erased.iter().filter(|people| !people.is_empty()).collect();
    let mut deleted = 0;
    for chunk in erased.chunks(ERASURES_PER_STATEMENT) {
        let whose = chunk.iter().fold(Condition::any(), |any, people| {
            let mut who = Condition::any();
            if let Some(customer_id) = &people.customer_id {
                who = who.add(testimonial_candidate::Column::CustomerId.eq(customer_id.as_str()));
            }
            if !people.profile_ids.is_empty() {
                who = who
                    .add(testimonial_candidate::Column::ProfileId.is_in(people.profile_ids.iter().map(String::as_str)));
            }
            any.add(Condition::all().add(testimonial_candidate::Column::Tenant.eq(people.tenant.as_str())).add(who))
        });
        deleted += testimonial_candidate::Entity::delete_many().filter(whose).exec(conn).await?.rows_affected;
    }
    Ok(deleted)
}

/// Blanks the customer on the routed facts of `erased` (their id and lifetime value), one
/// statement per [`ERASURES_PER_STATEMENT`] erasures, and returns how many facts were touched.
/// The facts stay, anonymous, for the reports and the topic insights (as survey scores do);
/// running it again touches nothing more. Facts keep no profile id, so an erasure is found by
/// its customer alone.
pub async fn erase_facts<C: ConnectionTrait>(conn: &C, erased: &[Erased]) -> Result<u64, DbErr> {
    let customers: Vec<(&str, &str)> = erased
        .iter()
        .filter_map(|people| people.customer_id.as_deref().map(|customer| (people.tenant.as_str(), customer)))
        .filter(|(_, customer)| !customer.trim().is_empty())
        .collect();
    let mut touched = 0;
    for chunk in customers.chunks(ERASURES_PER_STATEMENT) {
        let whose = chunk.iter().fold(Condition::any(), |any, (tenant, customer)| {
            any.add(
                Condition::all()
                    .add(routed_fact::Column::Tenant.eq(*tenant))
                    .add(routed_fact::Column::CustomerId.eq(*customer)),
            )
        });
        touched += routed_fact::Entity::update_many()
            .col_expr(routed_fact::Column::CustomerId, sea_orm::sea_query::Expr::value(""))
            .col_expr(routed_fact::Column::LifetimeValue, sea_orm::sea_query::Expr::value(0.0_f64))
            .filter(whose)
            .exec(conn)
            .await?
            .rows_affected;
    }
    Ok(touched)
}
