//! The identity service's tables and their queries, one module per aggregate, with the
//! migrations on their own. Every query is scoped by tenant; every database error is wrapped
//! with what was being done ([`tend_store::DbContext`]), so callers just use `?`.
//!
//! | module | tables | holds |
//! |---|---|---|
//! | [`profiles`] | `profiles` | one row per author per channel, and its link |
//! | [`customers`] | `customers`, `customer_identifiers` | the CRM's view of each customer, and the emails, phones and handles deterministic linking looks up |
//! | [`audit`] | `link_events` | every link, unlink, merge and erasure, by whom and why |
//! | [`review`] | `review_candidates`, `rejected_pairs` | likely links waiting for a person, and pairs a person rejected |
//! | [`merges`] | `customer_merges` | what each merge moved, so that it can be undone |
//! | [`model`] | `matcher_models` | each tenant's trained matcher and thresholds |
//! | [`notices`] | `notice_opt_outs`, `notice_runs`, `notice_members` | who opted out of proactive notices; each incident's notice going through the customers |
//! | [`erasure`] | all of the above | the one place that knows where a person's data is, and erases it |
//! | [`export`] | all of the above but `matcher_models` | a person's rows, for a subject access export |
//!
//! Plus `outbox` and `processed_events`, from `tend_store`.

pub mod audit;
pub mod customers;
pub mod erasure;
pub mod export;
pub mod merges;
mod migrations;
pub mod model;
pub mod notices;
pub mod profiles;
pub mod review;

#[cfg(test)]
mod tests;

pub use audit::link_event;
pub use customers::{customer, identifier};
pub use merges::merge;
pub use migrations::Migrator;
pub use model::matcher_model;
pub use profiles::profile;
pub use review::{candidate, rejected_pair};

/// Most rows one multi-row statement writes, and most values one `IN (…)` list holds: with up
/// to 16 columns a row that stays well under SQLite's (32,766) and PostgreSQL's (65,535) limits
/// on bound parameters.
pub(crate) const ROWS_PER_STATEMENT: usize = 500;

/// Whether `conn` is PostgreSQL (where row locks and some statement shapes differ).
pub(crate) fn is_postgres<C: sea_orm::ConnectionTrait>(conn: &C) -> bool {
    conn.get_database_backend() == sea_orm::DbBackend::Postgres
}
