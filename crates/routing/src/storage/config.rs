//! What a tenant configures routing with: rule-set versions (`routing_rule_sets`), SLA policies
//! (`routing_sla_policies`), calendars (`routing_calendars`), and per tenant the active version
//! and a generation number that every change bumps (`routing_tenants`), so a consumer learns
//! with one cheap read per batch whether what it holds is still current.
//!
//! Bodies are the protobuf encodings of the `tend.v1` messages: the contract is the schema.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use tend_kernel::paging::Page;

/// `routing_rule_sets`: one row per saved version.
#[allow(missing_docs)]
pub mod rule_set {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "routing_rule_sets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i32,
        /// The `tend.v1.RuleSet`, protobuf-encoded.
        pub body: Vec<u8>,
        /// "draft", "active" or "retired".
        pub state: String,
        pub created_at: ChronoDateTimeUtc,
        pub activated_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `routing_sla_policies` and `routing_calendars` share a shape: a named body per tenant.
macro_rules! named_table {
    ($module:ident, $table:literal, $what:literal) => {
        #[doc = concat!("`", $table, "`: one row per ", $what, ".")]
        #[allow(missing_docs)]
        pub mod $module {
            use sea_orm::entity::prelude::*;

            #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
            #[sea_orm(table_name = $table)]
            pub struct Model {
                #[sea_orm(primary_key, auto_increment = false)]
                pub tenant: String,
                #[sea_orm(primary_key, auto_increment = false)]
                pub name: String,
                /// The protobuf-encoded message.
                pub body: Vec<u8>,
                pub updated_at: ChronoDateTimeUtc,
            }

            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}

            impl ActiveModelBehavior for ActiveModel {}
        }
    };
}

named_table!(sla_policy, "routing_sla_policies", "SLA policy");
named_table!(calendar, "routing_calendars", "calendar");

/// `routing_tenants`: the active version and the configuration's generation.
#[allow(missing_docs)]
pub mod tenant {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "routing_tenants")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        pub generation: i64,
        pub active_version: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The state names of `rule_set::Model::state`.
pub mod state {
    /// Saved, not active.
    pub const DRAFT: &str = "draft";
    /// In use.
    pub const ACTIVE: &str = "active";
    /// Was active.
    pub const RETIRED: &str = "retired";
}

/// The tenant's row (generation 0 and no active version when it has none).
pub async fn tenant<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<tenant::Model, DbErr> {
    Ok(tenant::Entity::find_by_id(tenant).one(conn).await?.unwrap_or(tenant::Model {
        tenant: tenant.to_owned(),
        generation: 0,
        active_version: None,
    }))
}

/// Bumps the tenant's generation, and sets its active version when `active` is given. Call it in
/// the transaction of the change, so a reader sees the change and the new generation together.
pub async fn bump<C: ConnectionTrait>(conn: &C, tenant: &str, active: Option<i32>) -> Result<(), DbErr> {
    let row = tenant::ActiveModel { tenant: Set(tenant.to_owned()), generation: Set(1), active_version: Set(active) };
    let mut on_conflict = OnConflict::column(tenant::Column::Tenant);
    on_conflict.value(tenant::Column::Generation, Expr::col((tenant::Entity, tenant::Column::Generation)).add(1));
    if active.is_some() {
        on_conflict.update_column(tenant::Column::ActiveVersion);
    }
    tenant::Entity::insert(row).on_conflict(on_conflict.to_owned()).exec_without_returning(conn).await?;
    Ok(())
}

/// The tenant's latest rule-set version; 0 when it has none.
pub async fn latest_rule_set_version<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<i32, DbErr> {
    let latest: Option<i32> = rule_set::Entity::find()
        .select_only()
        .column_as(rule_set::Column::Version.max(), "latest")
        .filter(rule_set::Column::Tenant.eq(tenant))
        .into_tuple::<Option<i32>>()
        .one(conn)
        .await?
        .flatten();
    Ok(latest.unwrap_or(0))
}

/// Saves `body` as the tenant's next version, a draft, and returns it.
pub async fn insert_rule_set<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    body: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<rule_set::Model, DbErr> {
    let latest = latest_rule_set_version(conn, tenant).await?;
    let row = rule_set::Model {
        tenant: tenant.to_owned(),
        version: latest + 1,
        body,
        state: state::DRAFT.to_owned(),
        created_at: now,
        activated_at: None,
    };
    // Two saves racing for one version number: the primary key refuses the second, which the
    // caller reports as a retry.
    rule_set::Entity::insert(rule_set::ActiveModel::from(row.clone())).exec_without_returning(conn).await?;
    Ok(row)
}

/// One version of the tenant's.
pub async fn rule_set<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    version: i32,
) -> Result<Option<rule_set::Model>, DbErr> {
    rule_set::Entity::find_by_id((tenant.to_owned(), version)).one(conn).await
}

/// Makes `version` the active one: the active one before is retired. In the caller's transaction.
pub async fn activate<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    version: i32,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    rule_set::Entity::update_many()
        .col_expr(rule_set::Column::State, Expr::value(state::RETIRED))
        .filter(rule_set::Column::Tenant.eq(tenant))
        .filter(rule_set::Column::State.eq(state::ACTIVE))
        .exec(conn)
        .await?;
    rule_set::Entity::update_many()
        .col_expr(rule_set::Column::State, Expr::value(state::ACTIVE))
        .col_expr(rule_set::Column::ActivatedAt, Expr::value(now))
        .filter(rule_set::Column::Tenant.eq(tenant))
        .filter(rule_set::Column::Version.eq(version))
        .exec(conn)
        .await?;
    bump(conn, tenant, Some(version)).await
}

/// A page of the tenant's versions, newest first.
pub async fn rule_sets<C: ConnectionTrait>(conn: &C, tenant: &str, page: &Page) -> Result<Vec<rule_set::Model>, DbErr> {
    let mut query = rule_set::Entity::find().filter(rule_set::Column::Tenant.eq(tenant));
    if let Some(after) = page.after.as_deref().and_then(|after| after.parse::<i32>().ok()) {
        query = query.filter(rule_set::Column::Version.lt(after));
    }
    query.order_by_desc(rule_set::Column::Version).limit(page.limit).all(conn).await
}

/// Creates or replaces a named SLA policy, and bumps the generation.
pub async fn put_sla_policy<C: ConnectionTrait>(conn: &C, row: sla_policy::Model) -> Result<(), DbErr> {
    let tenant = row.tenant.clone();
    sla_policy::Entity::insert(sla_policy::ActiveModel::from(row))
        .on_conflict(
            OnConflict::columns([sla_policy::Column::Tenant, sla_policy::Column::Name])
                .update_columns([sla_policy::Column::Body, sla_policy::Column::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    bump(conn, &tenant, None).await
}

/// The tenant's SLA policies, by name.
pub async fn sla_policies<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Vec<sla_policy::Model>, DbErr> {
    sla_policy::Entity::find()
        .filter(sla_policy::Column::Tenant.eq(tenant))
        .order_by_asc(sla_policy::Column::Name)
        .all(conn)
        .await
}

/// Creates or replaces a named calendar, and bumps the generation.
pub async fn put_calendar<C: ConnectionTrait>(conn: &C, row: calendar::Model) -> Result<(), DbErr> {
    let tenant = row.tenant.clone();
    calendar::Entity::insert(calendar::ActiveModel::from(row))
        .on_conflict(
            OnConflict::columns([calendar::Column::Tenant, calendar::Column::Name])
                .update_columns([calendar::Column::Body, calendar::Column::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    bump(conn, &tenant, None).await
}

/// Removes a named calendar (if there is one), and bumps the generation.
pub async fn delete_calendar<C: ConnectionTrait>(conn: &C, tenant: &str, name: &str) -> Result<(), DbErr> {
    calendar::Entity::delete_many()
        .filter(calendar::Column::Tenant.eq(tenant))
        .filter(calendar::Column::Name.eq(name))
        .exec(conn)
        .await?;
    bump(conn, tenant, None).await
}

/// The tenant's calendars, by name.
pub async fn calendars<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Vec<calendar::Model>, DbErr> {
    calendar::Entity::find()
        .filter(calendar::Column::Tenant.eq(tenant))
        .order_by_asc(calendar::Column::Name)
        .all(conn)
        .await
}
