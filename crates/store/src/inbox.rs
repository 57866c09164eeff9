//! The inbox: makes event consumers idempotent.
//!
//! The consumer skeleton ([`crate::consume`]) calls [`first_deliveries`] inside the transaction
//! that applies a batch's effects. Events handled before (redeliveries after a crash or a
//! reclaim) are left out and the consumer skips them; the rows commit or roll back with the
//! effects, so an event is never marked done without its effects, nor applied twice.

use std::collections::HashSet;

use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{ConnectionTrait, EntityTrait, Set};

use crate::Error;
use crate::error::DbContext as _;

/// The `processed_events` table.
#[allow(missing_docs)]
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "processed_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub consumer: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: String,
        pub processed_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Records that `consumer` handles `event_id`; true the first time, false if it already had.
pub async fn first_delivery<C: ConnectionTrait>(conn: &C, consumer: &str, event_id: &str) -> Result<bool, Error> {
    let row = entity::ActiveModel {
        consumer: Set(consumer.to_owned()),
        event_id: Set(event_id.to_owned()),
        processed_at: Set(tend_kernel::ids::now()),
    };
    let inserted = entity::Entity::insert(row)
        .on_conflict(OnConflict::columns([entity::Column::Consumer, entity::Column::EventId]).do_nothing().to_owned())
        .exec_without_returning(conn)
        .await
        .context(format!("recording event {event_id} as processed by {consumer}"))?;
    Ok(inserted == 1)
}

/// Records that `consumer` handles the events `event_ids`, in one statement, and returns those
/// it had not handled before.
pub async fn first_deliveries<C: ConnectionTrait>(
    conn: &C,
    consumer: &str,
    event_ids: &[&str],
) -> Result<HashSet<String>, Error> {
    if event_ids.is_empty() {
        return Ok(HashSet::new());
    }
    let now = tend_kernel::ids::now();
    let mut insert = Query::insert();
    insert
        .into_table(entity::Entity)
        .columns([entity::Column::Consumer, entity::Column::EventId, entity::Column::ProcessedAt])
        .on_conflict(OnConflict::columns([entity::Column::Consumer, entity::Column::EventId]).do_nothing().to_owned())
        .returning_col(entity::Column::EventId);
    for event_id in event_ids {
        insert.values_panic([consumer.into(), (*event_id).into(), now.into()]);
    }
    let statement = conn.get_database_backend().build(&insert);
    let rows = conn.query_all_raw(statement).await.context(format!("recording events as processed by {consumer}"))?;
    rows.iter()
        .map(|row| row.try_get::<String>("", "event_id"))
        .collect::<Result<HashSet<_>, _>>()
        .context("reading the newly recorded events")
}
