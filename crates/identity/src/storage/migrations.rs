//! The service's migrations, in the order databases ran them.
//!
//! Append-only: databases have recorded these names in `identity_migrations`, so a migration is
//! never renamed, reordered or changed once released; a change to the schema is a new migration
//! at the end of [`Migrator::migrations`]. The tables they create are described beside their
//! entities, one module per aggregate.

use sea_orm::DbErr;
use sea_orm::sea_query::Index;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, blob, double, integer, string, string_null, text, timestamp_with_time_zone,
    timestamp_with_time_zone_null,
};

/// The service's migrations, recorded in its own table `identity_migrations`.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(tend_store::migration::CreateOutbox),
            Box::new(tend_store::migration::CreateInbox),
            Box::new(CreateProfiles),
            Box::new(CreateCustomers),
            Box::new(CreateDecisions),
            Box::new(CreateMatcher),
            Box::new(super::notices::CreateNotices),
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

struct CreateCustomers;

impl MigrationName for CreateCustomers {
    fn name(&self) -> &str {
        "m20261123_000200_create_customers"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateCustomers {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("customers")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(string("crm_id"))
                    .col(string("given_name"))
                    .col(string("family_name"))
                    .col(string("postcode"))
                    .col(string_null("date_of_birth"))
                    .col(string("segment"))
                    .col(string("tier"))
                    .col(double("lifetime_value"))
                    .col(blob("original"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("customers_tenant_crm_id")
                    .table("customers")
                    .col("tenant")
                    .col("crm_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("customer_identifiers")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("kind"))
                    .col(string("value"))
                    .col(string("customer_id"))
                    .primary_key(Index::create().col("tenant").col("kind").col("value").col("customer_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("customer_identifiers_customer")
                    .table("customer_identifiers")
                    .col("tenant")
                    .col("customer_id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("link_events")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(string("profile_id"))
                    .col(string("customer_id"))
                    .col(string("action"))
                    .col(string("method"))
                    .col(text("evidence"))
                    .col(string("actor"))
                    .col(string_null("reason"))
                    .col(timestamp_with_time_zone("at"))
                    .to_owned(),
            )
            .await?;
        // SQLite adds one column per ALTER TABLE.
        for column in [
            string("link_method").default("").to_owned(),
            text("link_evidence").default("").to_owned(),
            timestamp_with_time_zone_null("linked_at"),
        ] {
            manager.alter_table(Table::alter().table("profiles").add_column(column).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["linked_at", "link_evidence", "link_method"] {
            manager.alter_table(Table::alter().table("profiles").drop_column(column).to_owned()).await?;
        }
        for table in ["link_events", "customer_identifiers", "customers"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

struct CreateDecisions;

impl MigrationName for CreateDecisions {
    fn name(&self) -> &str {
        "m20261123_000300_create_decisions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateDecisions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table("customers").add_column(string_null("merged_into")).to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("rejected_pairs")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("profile_id"))
                    .col(string("customer_id"))
                    .col(timestamp_with_time_zone("at"))
                    .primary_key(Index::create().col("tenant").col("profile_id").col("customer_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("customer_merges")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(string("survivor_id"))
                    .col(string("merged_id"))
                    .col(text("moved_identifiers"))
                    .col(text("moved_profiles"))
                    .col(string("actor"))
                    .col(string_null("reason"))
                    .col(timestamp_with_time_zone("at"))
                    .col(timestamp_with_time_zone_null("undone_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("link_events_tenant_profile")
                    .table("link_events")
                    .col("tenant")
                    .col("profile_id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("link_events_tenant_customer")
                    .table("link_events")
                    .col("tenant")
                    .col("customer_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["customer_merges", "rejected_pairs"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        manager.alter_table(Table::alter().table("customers").drop_column("merged_into").to_owned()).await
    }
}

struct CreateMatcher;

impl MigrationName for CreateMatcher {
    fn name(&self) -> &str {
        "m20261123_000400_create_matcher"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateMatcher {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [string("email").default("").to_owned(), text("location").default("").to_owned()] {
            manager.alter_table(Table::alter().table("profiles").add_column(column).to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("matcher_models")
                    .if_not_exists()
                    .col(string("tenant").primary_key())
                    .col(text("model"))
                    .col(double("link_threshold"))
                    .col(double("review_threshold"))
                    .col(timestamp_with_time_zone_null("trained_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("review_candidates")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(string("profile_id"))
                    .col(string("customer_id"))
                    .col(double("probability"))
                    .col(blob("explanation"))
                    .col(string("status"))
                    .col(timestamp_with_time_zone("proposed_at"))
                    .col(timestamp_with_time_zone_null("decided_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("review_candidates_tenant_status")
                    .table("review_candidates")
                    .col("tenant")
                    .col("status")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["review_candidates", "matcher_models"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        for column in ["location", "email"] {
            manager.alter_table(Table::alter().table("profiles").drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
