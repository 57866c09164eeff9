//! The routing service's migrations.

use sea_orm::sea_query::Index;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, blob, blob_null, boolean, integer, integer_null, string, text, timestamp_with_time_zone,
    timestamp_with_time_zone_null,
};

tend_store::migrator!(
    /// The service's migrations, recorded in its own table `routing_migrations`.
    Migrator,
    "routing_migrations",
    [
        tend_store::migration::CreateInbox,
        CreateDecisions,
        // Routing publishes too (work offers, hot topics) through the same outbox.
        tend_store::migration::CreateOutbox,
        AddRules,
        AddAgents,
        AddWorkItems,
        // The queue's dispatcher runs on one replica at a time.
        tend_store::lease::CreateLeases,
        crate::trends::storage::AddTrends,
        crate::trends::storage::AddExpertise,
        crate::trends::storage::AddClusters,
        crate::trends::storage::AddClusterThresholds,
        crate::tipsheet::storage::AddTipSheet,
        crate::trends::storage::AddExpertiseCsat,
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

/// Rules, SLA policies and calendars, and what decisions record of them.
struct AddRules;

impl MigrationName for AddRules {
    fn name(&self) -> &str {
        "m20261202_000200_add_rules"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddRules {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            boolean("actionable").default(true).to_owned(),
            string("not_actionable_reason").default("").to_owned(),
            integer("rule_set_version").default(0).to_owned(),
            blob_null("outcome"),
            blob_null("input"),
            text("rule_errors").default("").to_owned(),
            string("customer_id").default("").to_owned(),
            string("profile_id").default("").to_owned(),
            timestamp_with_time_zone_null("resolved_at"),
            timestamp_with_time_zone_null("first_response_at"),
        ] {
            manager.alter_table(Table::alter().table("routing_decisions").add_column(column).to_owned()).await?;
        }
        for (name, columns) in [
            ("routing_decisions_tenant_case", ["tenant", "case_id"]),
            ("routing_decisions_tenant_decided", ["tenant", "decided_at"]),
        ] {
            let mut index = Index::create();
            index.name(name).table("routing_decisions");
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("routing_rule_sets")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(integer("version"))
                    .col(blob("body"))
                    .col(string("state"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("activated_at"))
                    .primary_key(Index::create().col("tenant").col("version"))
                    .to_owned(),
            )
            .await?;
        for table in ["routing_sla_policies", "routing_calendars"] {
            manager
                .create_table(
                    Table::create()
                        .table(table)
                        .if_not_exists()
                        .col(string("tenant"))
                        .col(string("name"))
                        .col(blob("body"))
                        .col(timestamp_with_time_zone("updated_at"))
                        .primary_key(Index::create().col("tenant").col("name"))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table("routing_tenants")
                    .if_not_exists()
                    .col(string("tenant").primary_key())
                    .col(big_integer("generation"))
                    .col(integer_null("active_version"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["routing_tenants", "routing_calendars", "routing_sla_policies", "routing_rule_sets"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        for index in ["routing_decisions_tenant_decided", "routing_decisions_tenant_case"] {
            manager.drop_index(Index::drop().name(index).table("routing_decisions").to_owned()).await?;
        }
        for column in [
            "first_response_at",
            "resolved_at",
            "profile_id",
            "customer_id",
            "rule_errors",
            "input",
            "outcome",
            "rule_set_version",
            "not_actionable_reason",
            "actionable",
        ] {
            manager.alter_table(Table::alter().table("routing_decisions").drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}

/// The universal queue's agents and teams.
struct AddAgents;

impl MigrationName for AddAgents {
    fn name(&self) -> &str {
        "m20261207_000100_add_agents"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddAgents {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("routing_agents")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("id"))
                    .col(blob("body"))
                    .col(text("teams"))
                    .col(text("skills"))
                    .col(integer("presence"))
                    .col(timestamp_with_time_zone("presence_since"))
                    .col(text("presence_reason"))
                    .col(boolean("disabled"))
                    .col(big_integer("version"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .primary_key(Index::create().col("tenant").col("id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("routing_teams")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("id"))
                    .col(blob("body"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .primary_key(Index::create().col("tenant").col("id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["routing_teams", "routing_agents"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// The queue's work items (`storage::work`) and queue policies (`storage::policies`).
struct AddWorkItems;

impl MigrationName for AddWorkItems {
    fn name(&self) -> &str {
        "m20261207_000200_add_work_items"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddWorkItems {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("routing_work_items")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("case_id"))
                    .col(big_integer("case_version"))
                    .col(integer("status"))
                    .col(string("assignee"))
                    .col(string("queue"))
                    .col(integer("channel"))
                    .col(string("language"))
                    .col(text("skills"))
                    .col(integer("priority"))
                    .col(timestamp_with_time_zone_null("due_at"))
                    .col(timestamp_with_time_zone("waiting_since"))
                    .col(string("held_by"))
                    .col(string("hold"))
                    .col(string("offer_id"))
                    .col(timestamp_with_time_zone_null("held_at"))
                    .col(timestamp_with_time_zone_null("hold_until"))
                    .col(text("passed_by"))
                    .col(integer("relaxed"))
                    .col(string("overflowed_to"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .primary_key(Index::create().col("tenant").col("case_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("routing_queue_policies")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("queue"))
                    .col(blob("body"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .primary_key(Index::create().col("tenant").col("queue"))
                    .to_owned(),
            )
            .await?;
        // Loads (who has what), the dispatcher's reading of changes, and its sweeps of open
        // offers and unconfirmed acceptances.
        let indexes: [(&str, &[&str]); 4] = [
            ("routing_work_items_assignee", &["tenant", "assignee"]),
            ("routing_work_items_held_by", &["tenant", "held_by"]),
            ("routing_work_items_changed", &["updated_at", "tenant", "case_id"]),
            ("routing_work_items_holds", &["hold", "hold_until"]),
        ];
        for (name, columns) in indexes {
            let mut index = Index::create().name(name).table("routing_work_items").to_owned();
            for column in columns {
                index.col(*column);
            }
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["routing_queue_policies", "routing_work_items"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
