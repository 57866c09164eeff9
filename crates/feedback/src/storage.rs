//! The feedback service's tables, their migrations and queries (tenant-scoped): `case_facts`
//! (what feedback knows of each case, from `cases.events`) here, and what it keeps of routing's
//! decisions (from `interactions.routed`) in [`routed`].

pub mod routed;

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

tend_store::migrator!(
    /// The service's migrations, recorded in its own table `feedback_migrations`.
    Migrator,
    "feedback_migrations",
    [
        tend_store::migration::CreateInbox,
        CreateCaseFacts,
        // Feedback publishes too (survey invitations) through the same outbox.
        tend_store::migration::CreateOutbox,
        routed::CreateRoutedFacts,
        crate::surveys::storage::CreateSurveys,
        crate::testimonials::storage::CreateTestimonials,
        crate::report::storage::CreateReportRollups,
        crate::initiatives::CreateInitiatives,
        routed::AddInsightColumns,
    ]
);

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

/// Records what `rows` say of their cases, in order, with one insert for the cases not seen
/// before: a case is stored once, and a resolution time is set when a row carries one. An
/// opening that arrives after the resolution (events of one case can come out of order) leaves
/// the resolution as it is.
pub async fn record<C: ConnectionTrait>(conn: &C, rows: Vec<case_fact::Model>) -> Result<(), DbErr> {
    let resolutions: Vec<(String, String, chrono::DateTime<chrono::Utc>)> =
        rows.iter().filter_map(|row| row.resolved_at.map(|at| (row.case_id.clone(), row.tenant.clone(), at))).collect();
    let rows = rows.into_iter().map(case_fact::ActiveModel::from).collect();
    tend_store::query::insert_new(conn, rows, [case_fact::Column::CaseId]).await?;
    for (case_id, tenant, resolved_at) in resolutions {
        case_fact::Entity::update_many()
            .col_expr(case_fact::Column::ResolvedAt, Expr::value(Some(resolved_at)))
            .filter(case_fact::Column::CaseId.eq(case_id))
            .filter(case_fact::Column::Tenant.eq(tenant))
            .exec(conn)
            .await?;
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use sea_orm::DatabaseConnection;
    use tend_store::testing::{Backend, TestStore};

    use super::*;

    async fn database(backend: Backend) -> (TestStore, DatabaseConnection) {
        let store = TestStore::create(backend).await;
        let db = store.connect::<Migrator>("feedback").await;
        (store, db)
    }

    fn fact(case_id: &str, tenant: &str, resolved: bool) -> case_fact::Model {
        let at = tend_kernel::ids::now();
        case_fact::Model {
            case_id: case_id.to_owned(),
            tenant: tenant.to_owned(),
            opened_at: at,
            resolved_at: resolved.then_some(at),
        }
    }

    async fn records_each_case_once_and_keeps_resolutions_whatever_the_order(backend: Backend) {
        let (store, db) = database(backend).await;
        // Opened and resolved in one batch; the resolution of another case before its opening.
        record(&db, vec![fact("a", "acme", false), fact("a", "acme", true), fact("b", "acme", true)]).await.unwrap();
        record(&db, vec![fact("b", "acme", false), fact("c", "acme", false), fact("z", "globex", false)])
            .await
            .unwrap();
        let from = tend_kernel::ids::now() - chrono::Duration::hours(1);
        let to = tend_kernel::ids::now() + chrono::Duration::hours(1);
        assert_eq!(count_opened(&db, "acme", from, to).await.unwrap(), 3);
        let mut resolved: Vec<String> =
            resolved_in(&db, "acme", from, to).await.unwrap().into_iter().map(|row| row.case_id).collect();
        resolved.sort();
        assert_eq!(resolved, ["a", "b"]);
        assert_eq!(count_opened(&db, "globex", from, to).await.unwrap(), 1);
        store.cleanup().await;
    }

    tend_store::on_both_backends!(records_each_case_once_and_keeps_resolutions_whatever_the_order);
}
