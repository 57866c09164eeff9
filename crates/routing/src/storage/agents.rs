//! The universal queue's people: agents (`routing_agents`) and teams (`routing_teams`).
//!
//! An agent's definition (skills, languages, capacity, calendar) is the protobuf encoding of
//! `tend.v1.Agent`, as the contract is the schema; what lists filter on (teams, skills,
//! presence) is in columns of its own. Teams and skills are kept as `,a,b,` so one `LIKE` finds
//! a member.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, LikeExpr};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

/// `routing_agents`: one row per agent.
#[allow(missing_docs)]
pub mod agent {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "routing_agents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The `tend.v1.Agent` as defined by UpsertAgent (no presence, version or times),
        /// protobuf-encoded.
        pub body: Vec<u8>,
        /// The agent's teams as `,a,b,` (`,` for none).
        pub teams: String,
        /// The agent's skills (names only) as `,a,b,` (`,` for none).
        pub skills: String,
        /// A `tend.v1.Presence` number.
        pub presence: i32,
        pub presence_since: ChronoDateTimeUtc,
        pub presence_reason: String,
        pub disabled: bool,
        pub version: i64,
        pub created_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `routing_teams`: one row per team.
#[allow(missing_docs)]
pub mod team {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "routing_teams")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// The `tend.v1.Team` (display name and queues), protobuf-encoded.
        pub body: Vec<u8>,
        pub created_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `items` as a `,a,b,` column value.
pub fn list_column<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut column = String::from(",");
    for item in items {
        column.push_str(item);
        column.push(',');
    }
    column
}

/// A `,a,b,` column holds `item` (whose "_" would be a LIKE wildcard unescaped).
fn holds(column: agent::Column, item: &str) -> Condition {
    let escaped = item.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    Condition::all().add(column.like(LikeExpr::new(format!("%,{escaped},%")).escape('\\')))
}

/// One agent of a tenant.
pub async fn find<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str) -> Result<Option<agent::Model>, DbErr> {
    agent::Entity::find_by_id((tenant.to_owned(), id.to_owned())).one(conn).await
}

/// How many agents the tenant has.
pub async fn count<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<u64, DbErr> {
    agent::Entity::find().filter(agent::Column::Tenant.eq(tenant)).count(conn).await
}

/// Which agents a list asks for.
#[derive(Debug, Default)]
pub struct Filter<'a> {
    /// Members of this team, if given.
    pub team: Option<&'a str>,
    /// With this presence number, if given.
    pub presence: Option<i32>,
    /// With this skill, if given.
    pub skill: Option<&'a str>,
}

/// Up to `limit` of the tenant's agents that `filter` asks for, by id, after `after`.
pub async fn list<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    filter: &Filter<'_>,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<agent::Model>, DbErr> {
    let mut query = agent::Entity::find().filter(agent::Column::Tenant.eq(tenant));
    if let Some(team) = filter.team {
        query = query.filter(holds(agent::Column::Teams, team));
    }
    if let Some(skill) = filter.skill {
        query = query.filter(holds(agent::Column::Skills, skill));
    }
    if let Some(presence) = filter.presence {
        query = query.filter(agent::Column::Presence.eq(presence));
    }
    if let Some(after) = after {
        query = query.filter(agent::Column::Id.gt(after));
    }
    query.order_by_asc(agent::Column::Id).limit(limit).all(conn).await
}

/// Stores `row`, inserting it when `is_new`.
pub async fn save<C: ConnectionTrait>(conn: &C, row: agent::Model, is_new: bool) -> Result<(), DbErr> {
    tend_store::query::save(conn, agent::ActiveModel::from(row), is_new).await
}

/// Sets the presence of agent `row` (as read at `row.version`) if nobody changed the agent
/// since; false when somebody did.
pub async fn set_presence<C: ConnectionTrait>(
    conn: &C,
    row: &agent::Model,
    presence: i32,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::Expr;
    let since = if presence == row.presence { row.presence_since } else { now };
    let updated = agent::Entity::update_many()
        .col_expr(agent::Column::Presence, Expr::value(presence))
        .col_expr(agent::Column::PresenceSince, Expr::value(since))
        .col_expr(agent::Column::PresenceReason, Expr::value(reason.to_owned()))
        .col_expr(agent::Column::Version, Expr::value(row.version + 1))
        .col_expr(agent::Column::UpdatedAt, Expr::value(now))
        .filter(agent::Column::Tenant.eq(row.tenant.as_str()))
        .filter(agent::Column::Id.eq(row.id.as_str()))
        .filter(agent::Column::Version.eq(row.version))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// One team of a tenant.
pub async fn find_team<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str) -> Result<Option<team::Model>, DbErr> {
    team::Entity::find_by_id((tenant.to_owned(), id.to_owned())).one(conn).await
}

/// The tenant's teams by id.
pub async fn teams<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Vec<team::Model>, DbErr> {
    team::Entity::find().filter(team::Column::Tenant.eq(tenant)).order_by_asc(team::Column::Id).all(conn).await
}

/// Which of `ids` are the tenant's teams.
pub async fn existing_teams<C: ConnectionTrait>(conn: &C, tenant: &str, ids: &[&str]) -> Result<Vec<String>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    team::Entity::find()
        .select_only()
        .column(team::Column::Id)
        .filter(team::Column::Tenant.eq(tenant))
        .filter(team::Column::Id.is_in(ids.iter().copied()))
        .into_tuple()
        .all(conn)
        .await
}

/// How many teams the tenant has.
pub async fn count_teams<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<u64, DbErr> {
    team::Entity::find().filter(team::Column::Tenant.eq(tenant)).count(conn).await
}

/// Stores `row`, inserting it when `is_new`.
pub async fn save_team<C: ConnectionTrait>(conn: &C, row: team::Model, is_new: bool) -> Result<(), DbErr> {
    tend_store::query::save(conn, team::ActiveModel::from(row), is_new).await
}

/// Agents of every tenant changed since `since` (all without it).
pub async fn changed_since<C: ConnectionTrait>(
    conn: &C,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<agent::Model>, DbErr> {
    let mut query = agent::Entity::find();
    if let Some(since) = since {
        query = query.filter(agent::Column::UpdatedAt.gte(since));
    }
    query.all(conn).await
}

/// The teams of every tenant.
pub async fn all_teams<C: ConnectionTrait>(conn: &C) -> Result<Vec<team::Model>, DbErr> {
    team::Entity::find().all(conn).await
}

/// Every agent of a tenant (for the queue's statistics).
pub async fn all_of<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Vec<agent::Model>, DbErr> {
    agent::Entity::find().filter(agent::Column::Tenant.eq(tenant)).all(conn).await
}
