//! Proactive notices: customers' opt-outs (`notice_opt_outs`), the runs that go through a
//! tenant's customers for an incident's notice (`notice_runs`, one per incident, with its
//! checkpoint and counts), and the members of the incident being notified (`notice_members`:
//! customer ids of the cases that wrote, so they are skipped; deleted when the run is done).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Index, OnConflict};
use sea_orm::{
    ActiveModelTrait as _, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string, text, timestamp_with_time_zone};
use tend_store::{DbContext as _, Error};

use super::customer;

/// The `notice_opt_outs` table: customers who want no proactive notices.
#[allow(missing_docs)]
pub mod opt_out {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notice_opt_outs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub customer_id: String,
        pub opted_out_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `notice_runs` table: one incident's notice going through the tenant's customers.
#[allow(missing_docs)]
pub mod run {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notice_runs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub incident_id: String,
        pub title: String,
        pub scope: String,
        pub text: String,
        /// JSON `{language: text}`.
        pub translations: String,
        pub subject: String,
        pub opt_out_text: String,
        /// "members" (reading the incident's members from cases), "customers" (going through
        /// the customers), "done".
        pub phase: String,
        /// The next page of members to read.
        pub members_token: String,
        /// The last customer id gone through (customers are taken by id).
        pub after: String,
        pub in_scope: i64,
        pub requested: i64,
        pub skipped_members: i64,
        pub skipped_opted_out: i64,
        pub skipped_no_channel: i64,
        pub created_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `notice_members` table: the customers of an incident's member cases.
#[allow(missing_docs)]
pub mod member {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notice_members")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub incident_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub customer_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The phases of a run.
pub mod phase {
    /// Reading the incident's members from cases.
    pub const MEMBERS: &str = "members";
    /// Going through the customers.
    pub const CUSTOMERS: &str = "customers";
    /// Every customer gone through; reported.
    pub const DONE: &str = "done";
}

/// Creates the three tables.
pub struct CreateNotices;

impl MigrationName for CreateNotices {
    fn name(&self) -> &str {
        "m20261207_000100_create_notices"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateNotices {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("notice_opt_outs")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("customer_id"))
                    .col(timestamp_with_time_zone("opted_out_at"))
                    .primary_key(Index::create().col("tenant").col("customer_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("notice_runs")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("incident_id"))
                    .col(text("title"))
                    .col(text("scope"))
                    .col(text("text"))
                    .col(text("translations"))
                    .col(text("subject"))
                    .col(text("opt_out_text"))
                    .col(string("phase"))
                    .col(text("members_token"))
                    .col(string("after"))
                    .col(big_integer("in_scope"))
                    .col(big_integer("requested"))
                    .col(big_integer("skipped_members"))
                    .col(big_integer("skipped_opted_out"))
                    .col(big_integer("skipped_no_channel"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .primary_key(Index::create().col("tenant").col("incident_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("notice_members")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("incident_id"))
                    .col(string("customer_id"))
                    .primary_key(Index::create().col("tenant").col("incident_id").col("customer_id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["notice_members", "notice_runs", "notice_opt_outs"] {
            manager.drop_table(Table::drop().table(table).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}

/// Records that `customer_id` opted out (`true`) or back in.
pub async fn set_opt_out<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_id: &str,
    opted_out: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    if opted_out {
        let row = opt_out::Model { tenant: tenant.to_owned(), customer_id: customer_id.to_owned(), opted_out_at: now };
        opt_out::Entity::insert(opt_out::ActiveModel::from(row))
            .on_conflict(
                OnConflict::columns([opt_out::Column::Tenant, opt_out::Column::CustomerId]).do_nothing().to_owned(),
            )
            .exec_without_returning(conn)
            .await
            .context("recording the opt-out")?;
    } else {
        opt_out::Entity::delete_many()
            .filter(opt_out::Column::Tenant.eq(tenant))
            .filter(opt_out::Column::CustomerId.eq(customer_id))
            .exec(conn)
            .await
            .context("removing the opt-out")?;
    }
    Ok(())
}

/// Of `customer_ids`, those who opted out.
pub async fn opted_out<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_ids: &[&str],
) -> Result<Vec<String>, Error> {
    opt_out::Entity::find()
        .select_only()
        .column(opt_out::Column::CustomerId)
        .filter(opt_out::Column::Tenant.eq(tenant))
        .filter(opt_out::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .into_tuple()
        .all(conn)
        .await
        .context("reading opt-outs")
}

/// Of `customer_ids`, those who are members of incident `incident_id`.
pub async fn members<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    incident_id: &str,
    customer_ids: &[&str],
) -> Result<Vec<String>, Error> {
    member::Entity::find()
        .select_only()
        .column(member::Column::CustomerId)
        .filter(member::Column::Tenant.eq(tenant))
        .filter(member::Column::IncidentId.eq(incident_id))
        .filter(member::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .into_tuple()
        .all(conn)
        .await
        .context("reading the incident's members")
}

/// Records members (those known already are skipped).
pub async fn add_members<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    incident_id: &str,
    customer_ids: &[String],
) -> Result<(), Error> {
    if customer_ids.is_empty() {
        return Ok(());
    }
    let rows = customer_ids.iter().map(|customer_id| {
        member::ActiveModel::from(member::Model {
            tenant: tenant.to_owned(),
            incident_id: incident_id.to_owned(),
            customer_id: customer_id.clone(),
        })
    });
    member::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::columns([member::Column::Tenant, member::Column::IncidentId, member::Column::CustomerId])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(conn)
        .await
        .context("recording the incident's members")?;
    Ok(())
}

/// Forgets the members of a finished run.
pub async fn drop_members<C: ConnectionTrait>(conn: &C, tenant: &str, incident_id: &str) -> Result<(), Error> {
    member::Entity::delete_many()
        .filter(member::Column::Tenant.eq(tenant))
        .filter(member::Column::IncidentId.eq(incident_id))
        .exec(conn)
        .await
        .context("forgetting the incident's members")?;
    Ok(())
}

/// Starts a run unless the incident has one (a redelivered request starts nothing more).
pub async fn start<C: ConnectionTrait>(conn: &C, row: run::Model) -> Result<bool, Error> {
    let inserted = run::Entity::insert(run::ActiveModel::from(row))
        .on_conflict(OnConflict::columns([run::Column::Tenant, run::Column::IncidentId]).do_nothing().to_owned())
        .exec_without_returning(conn)
        .await
        .context("starting the notice")?;
    Ok(inserted == 1)
}

/// The oldest run not done, of any tenant.
pub async fn next_run<C: ConnectionTrait>(conn: &C) -> Result<Option<run::Model>, Error> {
    run::Entity::find()
        .filter(run::Column::Phase.ne(phase::DONE))
        .order_by_asc(run::Column::CreatedAt)
        .order_by_asc(run::Column::IncidentId)
        .one(conn)
        .await
        .context("reading the next notice")
}

/// Saves `row`'s progress if nobody moved it since `seen` was read (its phase, members token
/// and cursor): false when another worker did, and the caller drops its transaction.
pub async fn advance<C: ConnectionTrait>(conn: &C, seen: &run::Model, row: run::Model) -> Result<bool, Error> {
    let result = run::Entity::update_many()
        .set(run::ActiveModel::from(row).reset_all())
        .filter(run::Column::Tenant.eq(seen.tenant.as_str()))
        .filter(run::Column::IncidentId.eq(seen.incident_id.as_str()))
        .filter(run::Column::Phase.eq(seen.phase.as_str()))
        .filter(run::Column::MembersToken.eq(seen.members_token.as_str()))
        .filter(run::Column::After.eq(seen.after.as_str()))
        .exec(conn)
        .await
        .context("saving the notice's progress")?;
    Ok(result.rows_affected == 1)
}

/// The tenant's next `limit` customers after id `after` (merged ones left out), by id.
pub async fn customers_after<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    after: &str,
    limit: u64,
) -> Result<Vec<customer::Model>, Error> {
    customer::Entity::find()
        .filter(customer::Column::Tenant.eq(tenant))
        .filter(customer::Column::Id.gt(after))
        .filter(customer::Column::MergedInto.is_null())
        .order_by_asc(customer::Column::Id)
        .limit(limit)
        .all(conn)
        .await
        .context("reading customers")
}
