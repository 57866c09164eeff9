//! Erasure (the right to be forgotten): the one place that knows where identity keeps a
//! person's data, and erases it. A table added to the schema must be added to [`PERSONAL`] or
//! [`NOT_PERSONAL`] (a test holds every table of the migrated schema to it), and if personal,
//! erased in [`erase`].
//!
//! | table | what of the person it holds | on erasure |
//! |---|---|---|
//! | `customers` | names, postcode, birth date, CRM id, segment, value, the original input (emails, phones, handles, address) | row deleted |
//! | `customer_identifiers` | emails, phones, handles | rows deleted |
//! | `profiles` | handle, display name, email, location, and link evidence that quotes identifiers | the customer's profiles deleted (linked or waiting as its candidate) |
//! | `link_events` | evidence (quotes identifiers and CRM ids) and the reasons people gave | evidence and reason blanked on every event of the customer or its profiles; who did what when stays |
//! | `review_candidates` | the explanation: both sides' values, field by field | candidates of the customer or its profiles deleted |
//! | `rejected_pairs` | which profiles a person said were not the customer | pairs of the customer or its profiles deleted |
//! | `customer_merges` | the identifiers a merge moved, and its reason | merges naming the customer deleted (they can no longer be undone: one side is gone) |
//! | `matcher_models` | the trained model's term-frequency tables (names, cities) | the model dropped (thresholds kept); matching resumes after the next training |
//! | `notice_opt_outs` | that the customer opted out of proactive notices | row deleted |
//! | `notice_members` | that the customer wrote about an incident being notified | rows deleted |
//!
//! Not personal: `processed_events` (event ids), `identity_migrations`, `notice_runs` (an
//! incident's notice, its counts and the last customer id gone through), and `outbox`, which
//! holds events until the relay publishes them (within moments): the erasure's own
//! `customers.erased` (ids and channel ids, so that other services find their copies), and
//! possibly `interactions.identified` events of the customer written just before, which are
//! published as they were, like every event already on the streams.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter};
use tend_store::{DbContext as _, Error};

use super::{ROWS_PER_STATEMENT, candidate, customer, identifier, link_event, merge, model, profile, rejected_pair};

/// The tables that hold personal data, each erased by [`erase`].
#[allow(dead_code)] // The list is read by the test that holds every table of the schema to it.
pub const PERSONAL: [&str; 10] = [
    "customers",
    "customer_identifiers",
    "profiles",
    "link_events",
    "review_candidates",
    "rejected_pairs",
    "customer_merges",
    "matcher_models",
    "notice_opt_outs",
    "notice_members",
];

/// The tables that hold no personal data of their own (see the module docs).
#[allow(dead_code)] // Read by the same test.
pub const NOT_PERSONAL: [&str; 4] = ["outbox", "processed_events", "identity_migrations", "notice_runs"];

/// What replaces erased evidence in the audit log.
pub const ERASED: &str = "[erased]";

/// Erases everything of the customers `customer_ids` and of their profiles `profile_ids` from
/// every table in [`PERSONAL`], on `conn` (the transaction that also records the erasure and
/// announces it).
pub async fn erase<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_ids: &[String],
    profile_ids: &[String],
) -> Result<(), Error> {
    // What is keyed by the customer.
    for customers in customer_ids.chunks(ROWS_PER_STATEMENT) {
        let ids = || customers.iter().cloned();
        customer::Entity::delete_many()
            .filter(customer::Column::Tenant.eq(tenant))
            .filter(customer::Column::Id.is_in(ids()))
            .exec(conn)
            .await
            .context("erasing customers")?;
        identifier::Entity::delete_many()
            .filter(identifier::Column::Tenant.eq(tenant))
            .filter(identifier::Column::CustomerId.is_in(ids()))
            .exec(conn)
            .await
            .context("erasing customers' identifiers")?;
        link_event::Entity::update_many()
            .col_expr(link_event::Column::Evidence, Expr::value(ERASED))
            .col_expr(link_event::Column::Reason, Expr::value(Option::<String>::None))
            .filter(link_event::Column::Tenant.eq(tenant))
            .filter(link_event::Column::CustomerId.is_in(ids()))
            .exec(conn)
            .await
            .context("erasing customers' audit evidence")?;
        candidate::Entity::delete_many()
            .filter(candidate::Column::Tenant.eq(tenant))
            .filter(candidate::Column::CustomerId.is_in(ids()))
            .exec(conn)
            .await
            .context("erasing customers' review candidates")?;
        rejected_pair::Entity::delete_many()
            .filter(rejected_pair::Column::Tenant.eq(tenant))
            .filter(rejected_pair::Column::CustomerId.is_in(ids()))
            .exec(conn)
            .await
            .context("erasing customers' rejected pairs")?;
        merge::Entity::delete_many()
            .filter(merge::Column::Tenant.eq(tenant))
            .filter(
                Condition::any().add(merge::Column::SurvivorId.is_in(ids())).add(merge::Column::MergedId.is_in(ids())),
            )
            .exec(conn)
            .await
            .context("erasing customers' merges")?;
        super::notices::opt_out::Entity::delete_many()
            .filter(super::notices::opt_out::Column::Tenant.eq(tenant))
            .filter(super::notices::opt_out::Column::CustomerId.is_in(ids()))
            .exec(conn)
            .await
            .context("erasing customers' notice opt-outs")?;
        super::notices::member::Entity::delete_many()
            .filter(super::notices::member::Column::Tenant.eq(tenant))
            .filter(super::notices::member::Column::CustomerId.is_in(ids()))
            .exec(conn)
            .await
            .context("erasing customers' incident memberships")?;
    }
    // What is keyed by their profiles, which may name other customers (a candidate for someone
    // else, a pair rejected with someone else).
    for profiles in profile_ids.chunks(ROWS_PER_STATEMENT) {
        let ids = || profiles.iter().cloned();
        profile::Entity::delete_many()
            .filter(profile::Column::Tenant.eq(tenant))
            .filter(profile::Column::Id.is_in(ids()))
            .exec(conn)
            .await
            .context("erasing profiles")?;
        link_event::Entity::update_many()
            .col_expr(link_event::Column::Evidence, Expr::value(ERASED))
            .col_expr(link_event::Column::Reason, Expr::value(Option::<String>::None))
            .filter(link_event::Column::Tenant.eq(tenant))
            .filter(link_event::Column::ProfileId.is_in(ids()))
            .exec(conn)
            .await
            .context("erasing profiles' audit evidence")?;
        candidate::Entity::delete_many()
            .filter(candidate::Column::Tenant.eq(tenant))
            .filter(candidate::Column::ProfileId.is_in(ids()))
            .exec(conn)
            .await
            .context("erasing profiles' review candidates")?;
        rejected_pair::Entity::delete_many()
            .filter(rejected_pair::Column::Tenant.eq(tenant))
            .filter(rejected_pair::Column::ProfileId.is_in(ids()))
            .exec(conn)
            .await
            .context("erasing profiles' rejected pairs")?;
    }
    // The model is the tenant's, trained on everyone: it cannot forget one person, so it goes.
    model::clear(conn, tenant).await
}
