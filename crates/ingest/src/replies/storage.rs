//! The table `reply_deliveries`: one row per reply, its state, and its log (JSON).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

/// The `reply_deliveries` table.
#[allow(missing_docs)]
pub mod reply {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reply_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub reply_id: String,
        pub case_id: String,
        pub interaction_id: String,
        pub account: String,
        pub channel: i32,
        pub private: bool,
        /// The platform id of the post answered (email: its Message-ID).
        pub in_reply_to: String,
        /// The customer's platform id (private replies; email: their address).
        pub recipient: String,
        /// The conversation (email: the thread's first Message-ID).
        pub thread_id: String,
        pub text: String,
        pub subject: String,
        /// A `tend.v1.DeliveryStatus` number.
        pub status: i32,
        pub platform_message_id: String,
        pub reason: String,
        pub attempts: i32,
        /// JSON array of [`super::LogEntry`].
        pub log: String,
        pub next_attempt_at: ChronoDateTimeUtc,
        pub lease_until: Option<ChronoDateTimeUtc>,
        pub requested_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One step of a delivery's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// "queued", "waiting for quota", "rate limited", "retry", "sent", "failed".
    pub outcome: String,
    /// The platform's answer or the reason.
    pub detail: String,
}

/// The log of a row.
pub fn log_of(row: &reply::Model) -> Vec<LogEntry> {
    serde_json::from_str(&row.log).unwrap_or_default()
}

/// `log` with `entry` appended, as stored (at most the last 50 steps are kept).
pub fn with_entry(row: &reply::Model, entry: LogEntry) -> String {
    let mut log = log_of(row);
    log.push(entry);
    let skip = log.len().saturating_sub(50);
    serde_json::to_string(&log[skip..]).unwrap_or_else(|_| "[]".into())
}

/// The tenant's reply with this id.
pub async fn find<C: ConnectionTrait>(conn: &C, tenant: &str, reply_id: &str) -> Result<Option<reply::Model>, DbErr> {
    reply::Entity::find_by_id((tenant.to_owned(), reply_id.to_owned())).one(conn).await
}

/// Up to `limit` queued replies due at `now` and not leased by a live worker, oldest first.
pub async fn due<C: ConnectionTrait>(conn: &C, now: DateTime<Utc>, limit: u64) -> Result<Vec<reply::Model>, DbErr> {
    reply::Entity::find()
        .filter(reply::Column::Status.eq(i32::from(tend_proto::v1::DeliveryStatus::Queued)))
        .filter(reply::Column::NextAttemptAt.lte(now))
        .filter(Condition::any().add(reply::Column::LeaseUntil.is_null()).add(reply::Column::LeaseUntil.lt(now)))
        .order_by_asc(reply::Column::RequestedAt)
        .order_by_asc(reply::Column::ReplyId)
        .limit(limit)
        .all(conn)
        .await
}

/// The earliest time a queued reply is due, if any.
pub async fn next_due<C: ConnectionTrait>(conn: &C) -> Result<Option<DateTime<Utc>>, DbErr> {
    reply::Entity::find()
        .select_only()
        .column(reply::Column::NextAttemptAt)
        .filter(reply::Column::Status.eq(i32::from(tend_proto::v1::DeliveryStatus::Queued)))
        .order_by_asc(reply::Column::NextAttemptAt)
        .into_tuple()
        .one(conn)
        .await
}

/// Takes the lease of a due reply until `until`: false when another worker has it.
pub async fn lease<C: ConnectionTrait>(
    conn: &C,
    row: &reply::Model,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let updated = reply::Entity::update_many()
        .col_expr(reply::Column::LeaseUntil, Expr::value(Some(until)))
        .filter(reply::Column::Tenant.eq(row.tenant.as_str()))
        .filter(reply::Column::ReplyId.eq(row.reply_id.as_str()))
        .filter(reply::Column::Status.eq(i32::from(tend_proto::v1::DeliveryStatus::Queued)))
        .filter(Condition::any().add(reply::Column::LeaseUntil.is_null()).add(reply::Column::LeaseUntil.lt(now)))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}
