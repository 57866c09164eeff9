//! The feedback service's table `case_facts` (what feedback knows of each case, from
//! `cases.events`), its migrations and queries (tenant-scoped).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Index};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait as _, QueryFilter};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{string, timestamp_with_time_zone, timestamp_with_time_zone_null};

/// The `case_facts` table.
#[allow(missing_docs)]
pub mod case_fact {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "case_facts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub case_id: String,
        pub tenant: String,
        pub opened_at: ChronoDateTimeUtc,
        pub resolved_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The service's migrations, recorded in its own table `feedback_migrations`.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(tend_store::migration::CreateInbox), Box::new(CreateCaseFacts)]
    }

    fn migration_table_name() -> DynIden {
        "feedback_migrations".into_iden()
    }
}

struct CreateCaseFacts;

impl MigrationName for CreateCaseFacts {
    fn name(&self) -> &str {
        "m20261123_000100_create_case_facts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCaseFacts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("case_facts")
                    .if_not_exists()
                    .col(string("case_id").primary_key())
                    .col(string("tenant"))
                    .col(timestamp_with_time_zone("opened_at"))
                    .col(timestamp_with_time_zone_null("resolved_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("case_facts_tenant_opened")
                    .table("case_facts")
                    .col("tenant")
                    .col("opened_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("case_facts_tenant_resolved")
                    .table("case_facts")
                    .col("tenant")
                    .col("resolved_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("case_facts").to_owned()).await
    }
}

/// Records a case's facts: inserts it if unknown, otherwise sets its resolution time. Events
/// may arrive out of order (a reclaimed OPENED after RESOLVED), so a known resolution is never
/// cleared.
pub async fn upsert<C: ConnectionTrait>(conn: &C, row: case_fact::Model) -> Result<(), DbErr> {
    let known = case_fact::Entity::find_by_id(row.case_id.clone())
        .filter(case_fact::Column::Tenant.eq(row.tenant.clone()))
        .one(conn)
        .await?;
    if known.is_none() {
        case_fact::Entity::insert(case_fact::ActiveModel::from(row)).exec_without_returning(conn).await?;
        return Ok(());
    }
    let Some(resolved_at) = row.resolved_at else {
        return Ok(());
    };
    case_fact::Entity::update_many()
        .col_expr(case_fact::Column::ResolvedAt, Expr::value(Some(resolved_at)))
        .filter(case_fact::Column::CaseId.eq(row.case_id))
        .filter(case_fact::Column::Tenant.eq(row.tenant))
        .exec(conn)
        .await?;
    Ok(())
}

/// Cases of a tenant opened in `[from, to)`.
pub async fn count_opened<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<u64, DbErr> {
    case_fact::Entity::find()
        .filter(case_fact::Column::Tenant.eq(tenant))
        .filter(case_fact::Column::OpenedAt.gte(from))
        .filter(case_fact::Column::OpenedAt.lt(to))
        .count(conn)
        .await
}

/// Cases of a tenant resolved in `[from, to)`.
pub async fn resolved_in<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<case_fact::Model>, DbErr> {
    case_fact::Entity::find()
        .filter(case_fact::Column::Tenant.eq(tenant))
        .filter(case_fact::Column::ResolvedAt.gte(from))
        .filter(case_fact::Column::ResolvedAt.lt(to))
        .all(conn)
        .await
}
