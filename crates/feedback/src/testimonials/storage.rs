//! The testimonials' tables and queries, every one scoped by tenant:
//!
//! - `testimonials`: one row per testimonial, unique per source (a survey, a praised
//!   interaction), with the author's consent (when, how, to what use, how they may be named),
//!   its withdrawal and its moderation;
//! - `testimonial_feeds`: a version per tenant, raised in the same transaction as every change
//!   that may change what is published (the public list's etag).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Index};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, integer, string, text, timestamp_with_time_zone, timestamp_with_time_zone_null,
};
use tend_kernel::paging::Page;
use tend_proto::v1;

use crate::storage::routed::Erased;

/// Given on the survey page.
pub const FROM_SURVEY: &str = "survey";
/// Praise an agent proposed.
pub const FROM_CANDIDATE: &str = "candidate";

/// The `testimonials` table.
#[allow(missing_docs)]
pub mod testimonial {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "testimonials")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub testimonial_id: String,
        /// [`FROM_SURVEY`](super::FROM_SURVEY) or [`FROM_CANDIDATE`](super::FROM_CANDIDATE).
        pub source: String,
        /// The survey's or the interaction's id.
        pub source_id: String,
        pub case_id: String,
        pub customer_id: String,
        pub profile_id: String,
        /// `tend.v1.Channel`.
        pub channel: i32,
        pub quote: String,
        pub first_name: String,
        pub handle: String,
        /// `tend.v1.TestimonialDisplay`; 0 until consent.
        pub consent_display: i32,
        /// `tend.v1.TestimonialUse` numbers joined by ",".
        pub consent_uses: String,
        /// Whether the uses include the website (the published list).
        pub for_website: bool,
        pub consent_wording: String,
        pub consent_method: String,
        pub consent_given_at: Option<ChronoDateTimeUtc>,
        pub consent_recorded_by: String,
        pub withdrawn_at: Option<ChronoDateTimeUtc>,
        pub withdrawal_reason: String,
        /// `tend.v1.ModerationState`.
        pub moderation: i32,
        pub rejection_reason: String,
        pub moderated_by: String,
        pub moderated_at: Option<ChronoDateTimeUtc>,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `testimonial_feeds` table.
#[allow(missing_docs)]
pub mod feed {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "testimonial_feeds")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates `testimonials` and `testimonial_feeds`.
pub struct CreateTestimonials;

impl MigrationName for CreateTestimonials {
    fn name(&self) -> &str {
        "m20261207_000200_create_testimonials"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTestimonials {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("testimonials")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("testimonial_id"))
                    .col(string("source"))
                    .col(string("source_id"))
                    .col(string("case_id"))
                    .col(string("customer_id"))
                    .col(string("profile_id"))
                    .col(integer("channel"))
                    .col(text("quote"))
                    .col(string("first_name"))
                    .col(string("handle"))
                    .col(integer("consent_display"))
                    .col(string("consent_uses"))
                    .col(boolean("for_website"))
                    .col(text("consent_wording"))
                    .col(string("consent_method"))
                    .col(timestamp_with_time_zone_null("consent_given_at"))
                    .col(string("consent_recorded_by"))
                    .col(timestamp_with_time_zone_null("withdrawn_at"))
                    .col(text("withdrawal_reason"))
                    .col(integer("moderation"))
                    .col(text("rejection_reason"))
                    .col(string("moderated_by"))
                    .col(timestamp_with_time_zone_null("moderated_at"))
                    .col(timestamp_with_time_zone("created_at"))
                    .primary_key(Index::create().col("tenant").col("testimonial_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("testimonials_tenant_source")
                    .table("testimonials")
                    .col("tenant")
                    .col("source")
                    .col("source_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        tend_store::migration::create_indexes(
            manager,
            "testimonials",
            &[
                ("testimonials_tenant_customer", &["tenant", "customer_id"]),
                ("testimonials_tenant_profile", &["tenant", "profile_id"]),
            ],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table("testimonial_feeds")
                    .if_not_exists()
                    .col(string("tenant").primary_key())
                    .col(big_integer("version"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["testimonial_feeds", "testimonials"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// Records a new testimonial; false when its source has one already (nothing is written then).
pub async fn insert<C: ConnectionTrait>(conn: &C, row: testimonial::Model) -> Result<bool, DbErr> {
    let inserted = tend_store::query::insert_new(
        conn,
        vec![testimonial::ActiveModel::from(row)],
        [testimonial::Column::Tenant, testimonial::Column::Source, testimonial::Column::SourceId],
    )
    .await?;
    Ok(!inserted.is_empty())
}

/// One testimonial.
pub async fn find<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str) -> Result<Option<testimonial::Model>, DbErr> {
    testimonial::Entity::find_by_id((tenant.to_owned(), id.to_owned())).one(conn).await
}

/// Overwrites a stored testimonial with `row`.
pub async fn save<C: ConnectionTrait>(conn: &C, row: testimonial::Model) -> Result<(), DbErr> {
    tend_store::query::save(conn, testimonial::ActiveModel::from(row), false).await
}

/// Raises `tenant`'s published version (the etag), in the caller's transaction.
pub async fn bump<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<(), DbErr> {
    let row = feed::Model { tenant: tenant.to_owned(), version: 1 };
    let inserted =
        tend_store::query::insert_new(conn, vec![feed::ActiveModel::from(row)], [feed::Column::Tenant]).await?;
    if inserted.is_empty() {
        feed::Entity::update_many()
            .col_expr(feed::Column::Version, Expr::col(feed::Column::Version).add(1))
            .filter(feed::Column::Tenant.eq(tenant))
            .exec(conn)
            .await?;
    }
    Ok(())
}

/// `tenant`'s published version: 0 before any change.
pub async fn version<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<i64, DbErr> {
    Ok(feed::Entity::find_by_id(tenant.to_owned()).one(conn).await?.map_or(0, |row| row.version))
}

/// The condition a published testimonial meets: approved, consent given for the website and
/// not withdrawn.
fn published() -> Condition {
    Condition::all()
        .add(testimonial::Column::Moderation.eq(v1::ModerationState::Approved as i32))
        .add(testimonial::Column::ConsentGivenAt.is_not_null())
        .add(testimonial::Column::ForWebsite.eq(true))
        .add(testimonial::Column::WithdrawnAt.is_null())
}

/// Whether `row` is published.
pub fn is_published(row: &testimonial::Model) -> bool {
    row.moderation == v1::ModerationState::Approved as i32
        && row.consent_given_at.is_some()
        && row.for_website
        && row.withdrawn_at.is_none()
}

/// One page of `tenant`'s published testimonials, newest first by id.
pub async fn list_published<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    page: &Page,
) -> Result<Vec<testimonial::Model>, DbErr> {
    let query = testimonial::Entity::find().filter(testimonial::Column::Tenant.eq(tenant)).filter(published());
    tend_store::query::newest_first(query, testimonial::Column::TestimonialId, page).all(conn).await
}

/// One page of all `tenant`'s testimonials, newest first by id.
pub async fn list<C: ConnectionTrait>(conn: &C, tenant: &str, page: &Page) -> Result<Vec<testimonial::Model>, DbErr> {
    let query = testimonial::Entity::find().filter(testimonial::Column::Tenant.eq(tenant));
    tend_store::query::newest_first(query, testimonial::Column::TestimonialId, page).all(conn).await
}

/// The testimonials of `customer_id` or one of `profile_ids` (subject access).
pub async fn of_person<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_id: &str,
    profile_ids: &[String],
) -> Result<Vec<testimonial::Model>, DbErr> {
    let mut who = Condition::any();
    if !customer_id.trim().is_empty() {
        who = who.add(testimonial::Column::CustomerId.eq(customer_id.trim()));
    }
    if !profile_ids.is_empty() {
        who = who.add(testimonial::Column::ProfileId.is_in(profile_ids.iter().map(String::as_str)));
    }
    testimonial::Entity::find().filter(testimonial::Column::Tenant.eq(tenant)).filter(who).all(conn).await
}

/// Deletes the testimonials of `erased` and raises each tenant's published version; returns how
/// many were deleted. Running it again deletes nothing more.
pub async fn erase<C: ConnectionTrait>(conn: &C, erased: &[Erased]) -> Result<u64, DbErr> {
    let mut deleted = 0;
    for people in erased.iter().filter(|people| !people.is_empty()) {
        let mut who = Condition::any();
        if let Some(customer_id) = &people.customer_id {
            who = who.add(testimonial::Column::CustomerId.eq(customer_id.as_str()));
        }
        if !people.profile_ids.is_empty() {
            who = who.add(testimonial::Column::ProfileId.is_in(people.profile_ids.iter().map(String::as_str)));
        }
        let gone = testimonial::Entity::delete_many()
            .filter(testimonial::Column::Tenant.eq(people.tenant.as_str()))
            .filter(who)
            .exec(conn)
            .await?
            .rows_affected;
        if gone > 0 {
            bump(conn, &people.tenant).await?;
        }
        deleted += gone;
    }
    Ok(deleted)
}

/// Marks the testimonial candidate of `interaction_id` as proposed.
pub async fn mark_candidate_proposed<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    interaction_id: &str,
) -> Result<(), DbErr> {
    use crate::storage::routed::testimonial_candidate;
    testimonial_candidate::Entity::update_many()
        .col_expr(testimonial_candidate::Column::State, Expr::value("proposed"))
        .filter(testimonial_candidate::Column::Tenant.eq(tenant))
        .filter(testimonial_candidate::Column::InteractionId.eq(interaction_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// A time for the wire.
pub fn stamp(at: Option<DateTime<Utc>>) -> Option<prost_types::Timestamp> {
    at.map(tend_kernel::ids::to_timestamp)
}
