//! Subject access (`ExportCustomerData`): every row identity keeps about some customers and
//! profiles, the same tables [`super::erasure`] erases (but `matcher_models`, whose term
//! frequencies are counts over every customer, not records of one).

use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use tend_store::{DbContext as _, Error};

use super::{candidate, identifier, link_event, merge, rejected_pair};

/// The rows about a person besides their customer and profile rows.
#[derive(Debug, Default)]
pub struct PersonRows {
    /// Normalised emails, phones and handles of the customers.
    pub identifiers: Vec<identifier::Model>,
    /// The audit log of the customers and profiles, oldest first.
    pub link_events: Vec<link_event::Model>,
    /// Merges naming any of the customers.
    pub merges: Vec<merge::Model>,
    /// Review candidates pairing any of them.
    pub candidates: Vec<candidate::Model>,
    /// Pairs a person said were not the same.
    pub rejected_pairs: Vec<rejected_pair::Model>,
}

/// The rows of `tenant` about `customer_ids` and `profile_ids`.
pub async fn rows_of<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_ids: &[String],
    profile_ids: &[String],
) -> Result<PersonRows, Error> {
    let customers = || customer_ids.iter().map(String::as_str);
    let profiles = || profile_ids.iter().map(String::as_str);
    let identifiers = identifier::Entity::find()
        .filter(identifier::Column::Tenant.eq(tenant))
        .filter(identifier::Column::CustomerId.is_in(customers()))
        .order_by_asc(identifier::Column::Kind)
        .order_by_asc(identifier::Column::Value)
        .all(conn)
        .await
        .context("reading the identifiers to export")?;
    let link_events = link_event::Entity::find()
        .filter(link_event::Column::Tenant.eq(tenant))
        .filter(
            Condition::any()
                .add(link_event::Column::CustomerId.is_in(customers()))
                .add(link_event::Column::ProfileId.is_in(profiles())),
        )
        .order_by_asc(link_event::Column::Id)
        .all(conn)
        .await
        .context("reading the audit log to export")?;
    let merges = merge::Entity::find()
        .filter(merge::Column::Tenant.eq(tenant))
        .filter(
            Condition::any()
                .add(merge::Column::SurvivorId.is_in(customers()))
                .add(merge::Column::MergedId.is_in(customers())),
        )
        .order_by_asc(merge::Column::Id)
        .all(conn)
        .await
        .context("reading the merges to export")?;
    let candidates = candidate::Entity::find()
        .filter(candidate::Column::Tenant.eq(tenant))
        .filter(
            Condition::any()
                .add(candidate::Column::CustomerId.is_in(customers()))
                .add(candidate::Column::ProfileId.is_in(profiles())),
        )
        .order_by_asc(candidate::Column::Id)
        .all(conn)
        .await
        .context("reading the review candidates to export")?;
    let rejected_pairs = rejected_pair::Entity::find()
        .filter(rejected_pair::Column::Tenant.eq(tenant))
        .filter(
            Condition::any()
                .add(rejected_pair::Column::CustomerId.is_in(customers()))
                .add(rejected_pair::Column::ProfileId.is_in(profiles())),
        )
        .all(conn)
        .await
        .context("reading the rejected pairs to export")?;
    Ok(PersonRows { identifiers, link_events, merges, candidates, rejected_pairs })
}
