//! The identity service's table `profiles`, its migrations and queries (all tenant-scoped).

use sea_orm::sea_query::{Expr, Index};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, integer, string, timestamp_with_time_zone};
use tend_kernel::paging::Page;
use tend_store::query::newest_first;

/// The `profiles` table: one row per author per channel.
#[allow(missing_docs)]
pub mod profile {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "profiles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub channel: i32,
        pub external_id: String,
        pub handle: String,
        pub display_name: String,
        pub followers: i64,
        pub customer_id: String,
        pub status: String,
        pub first_seen_at: ChronoDateTimeUtc,
        pub last_seen_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The service's migrations, recorded in its own table `identity_migrations`.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(tend_store::migration::CreateOutbox),
            Box::new(tend_store::migration::CreateInbox),
            Box::new(CreateProfiles),
        ]
    }

    fn migration_table_name() -> DynIden {
        "identity_migrations".into_iden()
    }
}

struct CreateProfiles;

impl MigrationName for CreateProfiles {
    fn name(&self) -> &str {
        "m20261123_000100_create_profiles"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateProfiles {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("profiles")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(integer("channel"))
                    .col(string("external_id"))
                    .col(string("handle"))
                    .col(string("display_name"))
                    .col(big_integer("followers"))
                    .col(string("customer_id"))
                    .col(string("status"))
                    .col(timestamp_with_time_zone("first_seen_at"))
                    .col(timestamp_with_time_zone("last_seen_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("profiles_tenant_channel_external_id")
                    .table("profiles")
                    .col("tenant")
                    .col("channel")
                    .col("external_id")
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("profiles").to_owned()).await
    }
}

/// The tenant's profile of this channel author, if seen before.
pub async fn find_by_author<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    channel: i32,
    external_id: &str,
) -> Result<Option<profile::Model>, DbErr> {
    profile::Entity::find()
        .filter(profile::Column::Tenant.eq(tenant))
        .filter(profile::Column::Channel.eq(channel))
        .filter(profile::Column::ExternalId.eq(external_id))
        .one(conn)
        .await
}

/// One profile of a tenant.
pub async fn find<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str) -> Result<Option<profile::Model>, DbErr> {
    profile::Entity::find_by_id(id.to_owned()).filter(profile::Column::Tenant.eq(tenant)).one(conn).await
}

/// Inserts a new profile.
pub async fn insert<C: ConnectionTrait>(conn: &C, row: profile::Model) -> Result<(), DbErr> {
    profile::Entity::insert(profile::ActiveModel::from(row)).exec_without_returning(conn).await?;
    Ok(())
}

/// Saves what a new sighting tells about a known profile.
pub async fn update_sighting<C: ConnectionTrait>(conn: &C, row: &profile::Model) -> Result<(), DbErr> {
    profile::Entity::update_many()
        .col_expr(profile::Column::Handle, Expr::value(row.handle.clone()))
        .col_expr(profile::Column::DisplayName, Expr::value(row.display_name.clone()))
        .col_expr(profile::Column::Followers, Expr::value(row.followers))
        .col_expr(profile::Column::LastSeenAt, Expr::value(row.last_seen_at))
        .filter(profile::Column::Id.eq(row.id.clone()))
        .filter(profile::Column::Tenant.eq(row.tenant.clone()))
        .exec(conn)
        .await?;
    Ok(())
}

/// A page of a tenant's rows, newest first.
pub async fn list<C: ConnectionTrait>(conn: &C, tenant: &str, page: &Page) -> Result<Vec<profile::Model>, DbErr> {
    let query = profile::Entity::find().filter(profile::Column::Tenant.eq(tenant));
    newest_first(query, profile::Column::Id, page).all(conn).await
}
