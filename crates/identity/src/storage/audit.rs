//! The audit log (`link_events`): every link and unlink, merge and erasure, by whom, how and why.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use tend_kernel::paging::Page;
use tend_store::query::newest_first;
use tend_store::{DbContext as _, Error};

use super::ROWS_PER_STATEMENT;

/// The `link_events` table: every link and unlink, by whom, how and why (the audit log).
#[allow(missing_docs)]
pub mod link_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "link_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub profile_id: String,
        pub customer_id: String,
        /// "linked", "unlinked", …
        pub action: String,
        pub method: String,
        pub evidence: String,
        pub actor: String,
        pub reason: Option<String>,
        pub at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Whose audit log to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// One profile's.
    Profile(String),
    /// One customer's.
    Customer(String),
}

/// Appends an audit event.
pub async fn record<C: ConnectionTrait>(conn: &C, event: link_event::Model) -> Result<(), Error> {
    record_all(conn, vec![event]).await
}

/// Appends audit events, in one statement per [`ROWS_PER_STATEMENT`] events.
pub async fn record_all<C: ConnectionTrait>(conn: &C, events: Vec<link_event::Model>) -> Result<(), Error> {
    let count = events.len();
    let rows = events.into_iter().map(link_event::ActiveModel::from).collect();
    tend_store::query::insert_chunked(conn, rows, ROWS_PER_STATEMENT)
        .await
        .context(format!("recording {count} audit events"))
}

/// A page of the audit log of a profile or a customer, newest first.
pub async fn page<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    subject: &Subject,
    page: &Page,
) -> Result<Vec<link_event::Model>, Error> {
    let query = link_event::Entity::find().filter(link_event::Column::Tenant.eq(tenant));
    let query = match subject {
        Subject::Profile(id) => query.filter(link_event::Column::ProfileId.eq(id.as_str())),
        Subject::Customer(id) => query.filter(link_event::Column::CustomerId.eq(id.as_str())),
    };
    newest_first(query, link_event::Column::Id, page).all(conn).await.context("reading the audit log")
}
