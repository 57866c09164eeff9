//! Migrations every service includes in its own migrator: the outbox and the inbox tables.
//! Each service's migrator names its own history table, so services never share one.

use sea_orm::DatabaseConnection;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_pk_auto, blob, string, string_uniq, timestamp_with_time_zone};

use crate::Error;
use crate::error::DbContext as _;

/// Declares a service's migrator: its migrations, in order (append-only: databases that ran the
/// earlier ones get the new ones on their next start), recorded in the service's own history
/// table so services sharing a database never share one.
///
/// ```ignore
/// tend_store::migrator!(
///     /// The service's migrations, recorded in `cases_migrations`.
///     Migrator, "cases_migrations", [tend_store::migration::CreateOutbox, CreateCases]
/// );
/// ```
#[macro_export]
macro_rules! migrator {
    ($(#[$doc:meta])* $name:ident, $table:literal, [$($migration:expr),* $(,)?]) => {
        $(#[$doc])*
        pub struct $name;

        #[$crate::reexport::async_trait::async_trait]
        impl $crate::reexport::sea_orm_migration::MigratorTrait for $name {
            fn migrations() -> Vec<Box<dyn $crate::reexport::sea_orm_migration::MigrationTrait>> {
                vec![$(Box::new($migration)),*]
            }

            fn migration_table_name() -> $crate::reexport::sea_orm_migration::sea_query::DynIden {
                $crate::reexport::sea_orm_migration::sea_query::IntoIden::into_iden($table)
            }
        }
    };
}

/// Creates on `table` each index of `indexes`: its name and its columns, in order.
pub async fn create_indexes(
    manager: &SchemaManager<'_>,
    table: &str,
    indexes: &[(&str, &[&str])],
) -> Result<(), DbErr> {
    for (name, columns) in indexes {
        let mut index = Index::create();
        index.name(*name).table(table.to_owned());
        for column in *columns {
            index.col(ToString::to_string(column));
        }
        manager.create_index(index.to_owned()).await?;
    }
    Ok(())
}

/// Applies every pending migration of `M` to `db`.
pub async fn run<M: MigratorTrait>(db: &DatabaseConnection, service: &str) -> Result<(), Error> {
    M::up(db, None).await.context(format!("migrating the database of {service}"))
}

/// Creates the `outbox` table: events written in the same transaction as the change that caused
/// them, waiting for the relay.
pub struct CreateOutbox;

impl MigrationName for CreateOutbox {
    fn name(&self) -> &str {
        "m20261123_000001_create_outbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateOutbox {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("outbox")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string_uniq("event_id"))
                    .col(string("stream"))
                    .col(string("tenant"))
                    .col(blob("payload"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("outbox").to_owned()).await
    }
}

/// Creates the `processed_events` table: which events each consumer has already handled, so a
/// redelivered event has no second effect.
pub struct CreateInbox;

impl MigrationName for CreateInbox {
    fn name(&self) -> &str {
        "m20261123_000002_create_inbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateInbox {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("processed_events")
                    .if_not_exists()
                    .col(string("consumer"))
                    .col(string("event_id"))
                    .col(timestamp_with_time_zone("processed_at"))
                    .primary_key(Index::create().col("consumer").col("event_id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("processed_events").to_owned()).await
    }
}
