//! What only the tip sheet reads: the monitored channel accounts as ingest announces them
//! (`routing_accounts`; their hours are calendars in `routing_calendars`) and each tenant's
//! mission statement and quality standards (`routing_care_standards`).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Index, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{blob, boolean, integer, string, timestamp_with_time_zone};

/// `routing_accounts`: one row per channel account of a tenant.
#[allow(missing_docs)]
pub mod account {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "routing_accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub account: String,
        /// The `tend.v1.Channel` number.
        pub channel: i32,
        pub display_name: String,
        pub enabled: bool,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `routing_care_standards`: one row per tenant that saved them.
#[allow(missing_docs)]
pub mod standards {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "routing_care_standards")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        /// The `tend.v1.CareStandards`, protobuf-encoded.
        pub body: Vec<u8>,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Saves an account as announced (created or replaced).
pub async fn put_account<C: ConnectionTrait>(conn: &C, row: account::Model) -> Result<(), DbErr> {
    account::Entity::insert(account::ActiveModel::from(row))
        .on_conflict(
            OnConflict::columns([account::Column::Tenant, account::Column::Account])
                .update_columns([
                    account::Column::Channel,
                    account::Column::DisplayName,
                    account::Column::Enabled,
                    account::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(conn)
        .await
        .map(|_| ())
}

/// The tenant's accounts, by channel then name.
pub async fn accounts<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Vec<account::Model>, DbErr> {
    account::Entity::find()
        .filter(account::Column::Tenant.eq(tenant))
        .order_by_asc(account::Column::Channel)
        .order_by_asc(account::Column::DisplayName)
        .order_by_asc(account::Column::Account)
        .all(conn)
        .await
}

/// Saves the tenant's standards (replacing what was saved).
pub async fn put_standards<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    body: Vec<u8>,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let row = standards::Model { tenant: tenant.to_owned(), body, updated_at: at };
    standards::Entity::insert(standards::ActiveModel::from(row))
        .on_conflict(
            OnConflict::column(standards::Column::Tenant)
                .update_columns([standards::Column::Body, standards::Column::UpdatedAt])
                .to_owned(),
        )
        .exec(conn)
        .await
        .map(|_| ())
}

/// The tenant's standards, if saved.
pub async fn standards<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Option<standards::Model>, DbErr> {
    standards::Entity::find_by_id(tenant.to_owned()).one(conn).await
}

/// Adds the tip sheet's tables.
pub struct AddTipSheet;

impl MigrationName for AddTipSheet {
    fn name(&self) -> &str {
        "m20261207_000100_add_tip_sheet"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddTipSheet {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("routing_accounts")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("account"))
                    .col(integer("channel"))
                    .col(string("display_name"))
                    .col(boolean("enabled"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .primary_key(Index::create().col("tenant").col("account"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("routing_care_standards")
                    .if_not_exists()
                    .col(string("tenant").primary_key())
                    .col(blob("body"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["routing_care_standards", "routing_accounts"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
