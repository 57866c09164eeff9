//! The ingest service's table `interactions`, its migrations and queries (all tenant-scoped).

use sea_orm::sea_query::Index;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, boolean, integer, string, text, timestamp_with_time_zone};
use tend_kernel::paging::Page;
use tend_store::query::newest_first;

/// The `interactions` table.
#[allow(missing_docs)]
pub mod interaction {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "interactions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub channel: i32,
        pub external_id: String,
        pub author_external_id: String,
        pub author_handle: String,
        pub author_display_name: String,
        pub author_followers: i64,
        pub author_verified: bool,
        pub author_email: String,
        pub text: String,
        pub in_reply_to_external_id: String,
        pub url: String,
        pub posted_at: ChronoDateTimeUtc,
        pub received_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The service's migrations, recorded in its own table `ingest_migrations`.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(tend_store::migration::CreateOutbox), Box::new(CreateInteractions)]
    }

    fn migration_table_name() -> DynIden {
        "ingest_migrations".into_iden()
    }
}

struct CreateInteractions;

impl MigrationName for CreateInteractions {
    fn name(&self) -> &str {
        "m20261123_000100_create_interactions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateInteractions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("interactions")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(integer("channel"))
                    .col(string("external_id"))
                    .col(string("author_external_id"))
                    .col(string("author_handle"))
                    .col(string("author_display_name"))
                    .col(big_integer("author_followers"))
                    .col(boolean("author_verified"))
                    .col(string("author_email"))
                    .col(text("text"))
                    .col(string("in_reply_to_external_id"))
                    .col(text("url"))
                    .col(timestamp_with_time_zone("posted_at"))
                    .col(timestamp_with_time_zone("received_at"))
                    .to_owned(),
            )
            .await?;
        // The dedupe key: one post per tenant, channel and channel id.
        manager
            .create_index(
                Index::create()
                    .name("interactions_tenant_channel_external_id")
                    .table("interactions")
                    .col("tenant")
                    .col("channel")
                    .col("external_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("interactions_tenant_id").table("interactions").col("tenant").col("id").to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("interactions").to_owned()).await
    }
}

/// The tenant's interaction with this channel id, if it was ingested before.
pub async fn find_by_external_id<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    channel: i32,
    external_id: &str,
) -> Result<Option<interaction::Model>, DbErr> {
    interaction::Entity::find()
        .filter(interaction::Column::Tenant.eq(tenant))
        .filter(interaction::Column::Channel.eq(channel))
        .filter(interaction::Column::ExternalId.eq(external_id))
        .one(conn)
        .await
}

/// One interaction of a tenant.
pub async fn find<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str) -> Result<Option<interaction::Model>, DbErr> {
    interaction::Entity::find_by_id(id.to_owned()).filter(interaction::Column::Tenant.eq(tenant)).one(conn).await
}

/// Inserts an interaction.
pub async fn insert<C: ConnectionTrait>(conn: &C, row: interaction::Model) -> Result<(), DbErr> {
    interaction::Entity::insert(interaction::ActiveModel::from(row)).exec_without_returning(conn).await?;
    Ok(())
}

/// A page of a tenant's rows, newest first.
pub async fn list<C: ConnectionTrait>(conn: &C, tenant: &str, page: &Page) -> Result<Vec<interaction::Model>, DbErr> {
    let query = interaction::Entity::find().filter(interaction::Column::Tenant.eq(tenant));
    newest_first(query, interaction::Column::Id, page).all(conn).await
}
