//! The inbox: makes event consumers idempotent.
//!
//! A consumer calls [`first_delivery`] inside the transaction that applies an event's effects.
//! If the event was handled before (a redelivery after a crash or a reclaim), it returns false
//! and the consumer skips the work; the row commits or rolls back with the effects, so an event
//! is never marked done without its effects, nor applied twice.

use sea_orm::sea_query::OnConflict;
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
