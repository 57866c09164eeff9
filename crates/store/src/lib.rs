//! Storage shared by every service, without any service's entities: the database connection
//! (a SQLite file per service, or a PostgreSQL schema per service), the transactional outbox and
//! its relay to the event stream, the inbox that makes consumers idempotent, and helpers for
//! tests that need a database of their own.

mod config;
mod connect;
pub mod consume;
mod context;
pub mod erasure;
mod error;
pub mod events;
pub mod group_commit;
pub mod inbox;
pub mod lease;
pub mod migration;
pub mod outbox;
pub mod query;
pub mod retention;
pub mod testing;

pub use config::StoreConfig;
pub use connect::connect;
/// What the [`migrator!`] macro expands to needs.
#[doc(hidden)]
pub mod reexport {
    pub use async_trait;
    pub use sea_orm_migration;
}

pub use consume::{BatchConsumer, Effects, Event, EventHandler, HandleError};
pub use context::{ServiceContext, StreamConfig, consumer_tasks, relay_task};
pub use error::{DbContext, Error, Failure};
pub use group_commit::{GroupCommit, GroupOptions, GroupWriter};
pub use outbox::{OutboxRelay, OutboxWaker};
pub use retention::RetentionConfig;
