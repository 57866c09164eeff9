//! The routing service's table `routing_decisions`, its migrations and queries (tenant-scoped).

use sea_orm::sea_query::Index;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{integer, string, text, timestamp_with_time_zone};
use tend_kernel::paging::Page;
use tend_store::query::newest_first;

/// The `routing_decisions` table: what routing decided for each interaction.
#[allow(missing_docs)]
pub mod decision {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "routing_decisions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub interaction_id: String,
        pub case_id: String,
        pub priority: i32,
        /// One reason per line.
        pub reasons: String,
        pub decided_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

tend_store::migrator!(
    /// The service's migrations, recorded in its own table `routing_migrations`.
    Migrator,
    "routing_migrations",
    [
        tend_store::migration::CreateInbox,
        CreateDecisions,
        // Routing publishes too (work offers, hot topics) through the same outbox.
        tend_store::migration::CreateOutbox,
    ]
);

struct CreateDecisions;

impl MigrationName for CreateDecisions {
    fn name(&self) -> &str {
        "m20261123_000100_create_routing_decisions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateDecisions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("routing_decisions")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(string("interaction_id"))
                    .col(string("case_id"))
                    .col(integer("priority"))
                    .col(text("reasons"))
                    .col(timestamp_with_time_zone("decided_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("routing_decisions_tenant_interaction")
                    .table("routing_decisions")
                    .col("tenant")
                    .col("interaction_id")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("routing_decisions").to_owned()).await
    }
}

/// The decision made for a tenant's interaction, if any.
pub async fn find_by_interaction<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    interaction_id: &str,
) -> Result<Option<decision::Model>, DbErr> {
    decision::Entity::find()
        .filter(decision::Column::Tenant.eq(tenant))
        .filter(decision::Column::InteractionId.eq(interaction_id))
        .one(conn)
        .await
}

/// Records decisions in one statement; one already recorded for the same interaction (a
/// redelivered event) is kept as it was.
pub async fn insert_decisions<C: ConnectionTrait>(conn: &C, rows: Vec<decision::Model>) -> Result<(), DbErr> {
    let rows = rows.into_iter().map(decision::ActiveModel::from).collect();
    tend_store::query::insert_new(conn, rows, [decision::Column::Tenant, decision::Column::InteractionId]).await?;
    Ok(())
}

/// A page of a tenant's rows, newest first.
pub async fn list<C: ConnectionTrait>(conn: &C, tenant: &str, page: &Page) -> Result<Vec<decision::Model>, DbErr> {
    let query = decision::Entity::find().filter(decision::Column::Tenant.eq(tenant));
    newest_first(query, decision::Column::Id, page).all(conn).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use sea_orm::DatabaseConnection;
    use tend_store::testing::{Backend, TestStore};

    use super::*;

    async fn database(backend: Backend) -> (TestStore, DatabaseConnection) {
        let store = TestStore::create(backend).await;
        let db = store.connect::<Migrator>("routing").await;
        (store, db)
    }

    fn decided(tenant: &str, interaction_id: &str, priority: i32) -> decision::Model {
        decision::Model {
            id: tend_kernel::ids::new_id(),
            tenant: tenant.to_owned(),
            interaction_id: interaction_id.to_owned(),
            case_id: tend_kernel::ids::new_id(),
            priority,
            reasons: "base 30".to_owned(),
            decided_at: tend_kernel::ids::now(),
        }
    }

    async fn a_decision_is_recorded_once_per_interaction(backend: Backend) {
        let (store, db) = database(backend).await;
        let first = decided("acme", "i1", 40);
        insert_decisions(&db, vec![first.clone(), decided("acme", "i2", 50)]).await.unwrap();
        // A redelivered event decides again: the first decision stands.
        insert_decisions(&db, vec![decided("acme", "i1", 90), decided("globex", "i1", 30)]).await.unwrap();
        assert_eq!(find_by_interaction(&db, "acme", "i1").await.unwrap(), Some(first));
        assert_eq!(find_by_interaction(&db, "globex", "i1").await.unwrap().map(|row| row.priority), Some(30));
        let page = Page::parse(10, "").unwrap();
        assert_eq!(list(&db, "acme", &page).await.unwrap().len(), 2);
        store.cleanup().await;
    }

    tend_store::on_both_backends!(a_decision_is_recorded_once_per_interaction);
}
