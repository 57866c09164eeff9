//! The cases service's tables: `cases` and `case_interactions`, with their migrations and
//! queries. Every query is scoped by tenant.

use sea_orm::sea_query::{Expr, Index};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    integer, string, string_null, text, timestamp_with_time_zone, timestamp_with_time_zone_null,
};
use tend_kernel::paging::Page;
use tend_store::query::newest_first;

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

/// The service's migrations, recorded in its own table `cases_migrations`.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(tend_store::migration::CreateOutbox), Box::new(CreateCases)]
    }

    fn migration_table_name() -> DynIden {
        "cases_migrations".into_iden()
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

/// The case a tenant opened with `key`, if any.
pub async fn find_by_key<C: ConnectionTrait>(conn: &C, tenant: &str, key: &str) -> Result<Option<case::Model>, DbErr> {
    case::Entity::find()
        .filter(case::Column::Tenant.eq(tenant))
        .filter(case::Column::IdempotencyKey.eq(key))
        .one(conn)
        .await
}

/// One case of a tenant.
pub async fn find<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str) -> Result<Option<case::Model>, DbErr> {
    case::Entity::find_by_id(id.to_owned()).filter(case::Column::Tenant.eq(tenant)).one(conn).await
}

/// Inserts a new case with its first interaction.
pub async fn insert<C: ConnectionTrait>(conn: &C, row: case::Model, interaction_id: &str) -> Result<(), DbErr> {
    let link = case_interaction::ActiveModel {
        case_id: Set(row.id.clone()),
        interaction_id: Set(interaction_id.to_owned()),
        tenant: Set(row.tenant.clone()),
        added_at: Set(row.opened_at),
    };
    case::Entity::insert(case::ActiveModel::from(row)).exec_without_returning(conn).await?;
    case_interaction::Entity::insert(link).exec_without_returning(conn).await?;
    Ok(())
}

/// Saves the status, resolution and update time of `row` if the stored case still has status
/// `expected`; false when it did not (another call changed it first).
pub async fn update_resolution<C: ConnectionTrait>(conn: &C, row: &case::Model, expected: &str) -> Result<bool, DbErr> {
    let updated = case::Entity::update_many()
        .col_expr(case::Column::Status, Expr::value(row.status.clone()))
        .col_expr(case::Column::UpdatedAt, Expr::value(row.updated_at))
        .col_expr(case::Column::ResolvedAt, Expr::value(row.resolved_at))
        .col_expr(case::Column::ResolutionNote, Expr::value(row.resolution_note.clone()))
        .filter(case::Column::Id.eq(row.id.clone()))
        .filter(case::Column::Tenant.eq(row.tenant.clone()))
        .filter(case::Column::Status.eq(expected))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// The interaction ids on a case, oldest first.
pub async fn interaction_ids<C: ConnectionTrait>(conn: &C, tenant: &str, case_id: &str) -> Result<Vec<String>, DbErr> {
    let rows = case_interaction::Entity::find()
        .filter(case_interaction::Column::Tenant.eq(tenant))
        .filter(case_interaction::Column::CaseId.eq(case_id))
        .order_by_asc(case_interaction::Column::AddedAt)
        .order_by_asc(case_interaction::Column::InteractionId)
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|row| row.interaction_id).collect())
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
