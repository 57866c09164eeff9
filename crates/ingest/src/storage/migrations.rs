//! The ingest service's migrations, recorded in its own table `ingest_migrations`.

use sea_orm::DbErr;
use sea_orm::sea_query::Index;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, blob, blob_null, boolean, integer, string, text, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null,
};

tend_store::migrator!(
    /// The service's migrations, recorded in its own table `ingest_migrations`.
    Migrator,
    "ingest_migrations",
    [
        tend_store::migration::CreateOutbox,
        CreateInteractions,
        tend_store::migration::CreateInbox,
        IndexInteractionsByAuthor,
        AddAuthorLocation,
        AddEnrichment,
        AddChannels,
        tend_store::lease::CreateLeases,
    ]
);

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

/// Indexes interactions by author, so an erasure finds an author's posts without a scan.
struct AddAuthorLocation;

impl MigrationName for AddAuthorLocation {
    fn name(&self) -> &str {
        "m20261124_000200_add_author_location"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddAuthorLocation {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let column = text("author_location").default("").to_owned();
        manager.alter_table(Table::alter().table("interactions").add_column(column).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("interactions").drop_column("author_location").to_owned()).await
    }
}

struct IndexInteractionsByAuthor;

impl MigrationName for IndexInteractionsByAuthor {
    fn name(&self) -> &str {
        "m20261124_000100_index_interactions_by_author"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for IndexInteractionsByAuthor {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("interactions_tenant_channel_author")
                    .table("interactions")
                    .if_not_exists()
                    .col("tenant")
                    .col("channel")
                    .col("author_external_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(Index::drop().name("interactions_tenant_channel_author").table("interactions").to_owned())
            .await
    }
}

/// Enrichment: each interaction's reading (language, sentiment, intents, topics, signature) as
/// an encoded `tend.v1.Enrichment`, null on rows stored before it existed; the tenants' trained
/// classifiers, which one each tenant uses per task, and their topic dictionaries.
struct AddEnrichment;

impl MigrationName for AddEnrichment {
    fn name(&self) -> &str {
        "m20261202_000100_add_enrichment"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddEnrichment {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let column = blob_null("enrichment");
        manager.alter_table(Table::alter().table("interactions").add_column(column).to_owned()).await?;
        manager
            .create_table(
                Table::create()
                    .table("classifiers")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(integer("task"))
                    .col(integer("version"))
                    .col(text("labels"))
                    .col(integer("trained_on"))
                    .col(blob("holdout"))
                    .col(blob("model"))
                    .col(text("description"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("tenant").col("task").col("version"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("active_classifiers")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(integer("task"))
                    .col(integer("version"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .primary_key(Index::create().col("tenant").col("task"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("topic_dictionaries")
                    .if_not_exists()
                    .col(string("tenant").primary_key())
                    .col(text("topics"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["topic_dictionaries", "active_classifiers", "classifiers"] {
            manager.drop_table(Table::drop().table(table).if_exists().to_owned()).await?;
        }
        manager.alter_table(Table::alter().table("interactions").drop_column("enrichment").to_owned()).await
    }
}

/// Channels: the registry of platform apps and monitored accounts; on interactions the account,
/// thread, privacy, edit and deletion times and the rarer details (subject, attachments,
/// rating, the webhook delivery it came in); earlier texts of edited interactions; the raw
/// webhook deliveries kept for audit; the delivery log of outbound replies; the pollers'
/// cursors (mailbox UIDs, X mention ids).
struct AddChannels;

impl MigrationName for AddChannels {
    fn name(&self) -> &str {
        "m20261202_000200_add_channels"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddChannels {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("channel_apps")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(string("name"))
                    .col(integer("platform"))
                    .col(text("settings"))
                    .col(text("secrets"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("channel_apps_tenant_name")
                    .table("channel_apps")
                    .col("tenant")
                    .col("name")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("channel_accounts")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(string("app_id"))
                    .col(integer("channel"))
                    .col(string("platform_account_id"))
                    .col(string("display_name"))
                    .col(boolean("enabled"))
                    .col(boolean("is_default"))
                    .col(blob_null("hours"))
                    .col(text("quotas"))
                    .col(text("settings"))
                    .col(text("secrets"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .to_owned(),
            )
            .await?;
        // One platform account is monitored by one tenant: webhook deliveries find it by this.
        manager
            .create_index(
                Index::create()
                    .name("channel_accounts_channel_platform_id")
                    .table("channel_accounts")
                    .col("channel")
                    .col("platform_account_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        let columns = [
            string("account").default("").to_owned(),
            string("thread_external_id").default("").to_owned(),
            boolean("private").default(false).to_owned(),
            timestamp_with_time_zone_null("edited_at").to_owned(),
            timestamp_with_time_zone_null("deleted_at").to_owned(),
            text_null("details").to_owned(),
        ];
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in columns {
            manager.alter_table(Table::alter().table("interactions").add_column(column).to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("interaction_revisions")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(string("interaction_id"))
                    .col(text("text"))
                    .col(timestamp_with_time_zone("replaced_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("interaction_revisions_interaction")
                    .table("interaction_revisions")
                    .col("interaction_id")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_deliveries")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(string("account"))
                    .col(string("source"))
                    .col(blob("body"))
                    .col(timestamp_with_time_zone("received_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("reply_deliveries")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("reply_id"))
                    .col(string("case_id"))
                    .col(string("interaction_id"))
                    .col(string("account"))
                    .col(integer("channel"))
                    .col(boolean("private"))
                    .col(string("in_reply_to"))
                    .col(string("recipient"))
                    .col(string("thread_id"))
                    .col(text("text"))
                    .col(text("subject"))
                    .col(integer("status"))
                    .col(string("platform_message_id"))
                    .col(text("reason"))
                    .col(integer("attempts"))
                    .col(text("log"))
                    .col(timestamp_with_time_zone("next_attempt_at"))
                    .col(timestamp_with_time_zone_null("lease_until"))
                    .col(timestamp_with_time_zone("requested_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .primary_key(Index::create().col("tenant").col("reply_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("reply_deliveries_due")
                    .table("reply_deliveries")
                    .col("status")
                    .col("next_attempt_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("channel_cursors")
                    .if_not_exists()
                    .col(string("account"))
                    .col(string("kind"))
                    .col(text("value"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .primary_key(Index::create().col("account").col("kind"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "channel_cursors",
            "reply_deliveries",
            "webhook_deliveries",
            "interaction_revisions",
            "channel_accounts",
            "channel_apps",
        ] {
            manager.drop_table(Table::drop().table(table).if_exists().to_owned()).await?;
        }
        for column in ["details", "deleted_at", "edited_at", "private", "thread_external_id", "account"] {
            manager.alter_table(Table::alter().table("interactions").drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
