//! The review queue (`review_candidates`: likely links waiting for a person) and the pairs a
//! person rejected (`rejected_pairs`: never linked automatically again).

use std::collections::{HashMap, HashSet};

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use tend_kernel::paging::Page;
use tend_store::query::{newest_first, save};
use tend_store::{DbContext as _, Error};

use super::ROWS_PER_STATEMENT;

/// The `review_candidates` table: likely links waiting for a person.
#[allow(missing_docs)]
pub mod candidate {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "review_candidates")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub profile_id: String,
        pub customer_id: String,
        pub probability: f64,
        /// The `MatchExplanation`, protobuf-encoded.
        pub explanation: Vec<u8>,
        /// "pending", "confirmed" or "rejected".
        pub status: String,
        pub proposed_at: ChronoDateTimeUtc,
        pub decided_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `rejected_pairs` table: profile–customer pairs a person said are not the same; never
/// linked automatically again.
#[allow(missing_docs)]
pub mod rejected_pair {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "rejected_pairs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub profile_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub customer_id: String,
        pub at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The stored status of a candidate waiting for a person.
pub const PENDING: &str = "pending";

/// Profile–customer pairs people rejected: profile id → customer ids. Looked up by borrowed ids,
/// so reading it allocates nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rejections(HashMap<String, HashSet<String>>);

impl Rejections {
    /// Records that a person rejected this pair.
    pub fn insert(&mut self, profile_id: String, customer_id: String) {
        self.0.entry(profile_id).or_default().insert(customer_id);
    }

    /// Whether a person rejected this pair.
    pub fn contains(&self, profile_id: &str, customer_id: &str) -> bool {
        self.0.get(profile_id).is_some_and(|customers| customers.contains(customer_id))
    }

    /// How many pairs.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.0.values().map(HashSet::len).sum()
    }
}

/// Every rejected pair of these profiles, in one query per [`ROWS_PER_STATEMENT`] profiles.
pub async fn rejected_among<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    profile_ids: &[&str],
) -> Result<Rejections, Error> {
    let mut found = Rejections::default();
    for chunk in profile_ids.chunks(ROWS_PER_STATEMENT) {
        let rows = rejected_pair::Entity::find()
            .filter(rejected_pair::Column::Tenant.eq(tenant))
            .filter(rejected_pair::Column::ProfileId.is_in(chunk.iter().copied()))
            .all(conn)
            .await
            .context(format!("reading the rejections of {} profiles", chunk.len()))?;
        for row in rows {
            found.insert(row.profile_id, row.customer_id);
        }
    }
    Ok(found)
}

/// Remembers that a person rejected this pair (idempotent).
pub async fn reject_pair<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    profile_id: &str,
    customer_id: &str,
) -> Result<(), Error> {
    let row = rejected_pair::ActiveModel {
        tenant: Set(tenant.to_owned()),
        profile_id: Set(profile_id.to_owned()),
        customer_id: Set(customer_id.to_owned()),
        at: Set(tend_kernel::ids::now()),
    };
    let key = [rejected_pair::Column::Tenant, rejected_pair::Column::ProfileId, rejected_pair::Column::CustomerId];
    rejected_pair::Entity::insert(row)
        .on_conflict_do_nothing_on(key)
        .exec_without_returning(conn)
        .await
        .context("recording a rejected pair")?;
    Ok(())
}

/// Forgets a person's rejection of one pair.
pub async fn forget_rejection<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    profile_id: &str,
    customer_id: &str,
) -> Result<(), Error> {
    rejected_pair::Entity::delete_many()
        .filter(rejected_pair::Column::Tenant.eq(tenant))
        .filter(rejected_pair::Column::ProfileId.eq(profile_id))
        .filter(rejected_pair::Column::CustomerId.eq(customer_id))
        .exec(conn)
        .await
        .context("forgetting a rejected pair")?;
    Ok(())
}

/// Which of these profiles have a pending candidate, in one query per [`ROWS_PER_STATEMENT`]
/// profiles.
pub async fn pending_among<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    profile_ids: &[&str],
) -> Result<HashSet<String>, Error> {
    let mut found = HashSet::new();
    for chunk in profile_ids.chunks(ROWS_PER_STATEMENT) {
        let rows: Vec<String> = candidate::Entity::find()
            .select_only()
            .column(candidate::Column::ProfileId)
            .filter(candidate::Column::Tenant.eq(tenant))
            .filter(candidate::Column::Status.eq(PENDING))
            .filter(candidate::Column::ProfileId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(conn)
            .await
            .context(format!("reading the review queue of {} profiles", chunk.len()))?;
        found.extend(rows);
    }
    Ok(found)
}

/// Inserts new candidates, in one statement per [`ROWS_PER_STATEMENT`] candidates.
pub async fn insert_all<C: ConnectionTrait>(conn: &C, rows: Vec<candidate::Model>) -> Result<(), Error> {
    let count = rows.len();
    let rows = rows.into_iter().map(candidate::ActiveModel::from).collect();
    tend_store::query::insert_chunked(conn, rows, ROWS_PER_STATEMENT)
        .await
        .context(format!("queueing {count} candidates for review"))
}

/// Saves a decided candidate.
pub async fn save_candidate<C: ConnectionTrait>(conn: &C, row: candidate::Model) -> Result<(), Error> {
    save(conn, candidate::ActiveModel::from(row), false).await.context("saving a candidate")
}

/// One candidate of a tenant.
pub async fn find<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str) -> Result<Option<candidate::Model>, Error> {
    candidate::Entity::find_by_id(id.to_owned())
        .filter(candidate::Column::Tenant.eq(tenant))
        .one(conn)
        .await
        .context("reading a candidate")
}

/// A page of the tenant's pending candidates, newest first.
pub async fn pending<C: ConnectionTrait>(conn: &C, tenant: &str, page: &Page) -> Result<Vec<candidate::Model>, Error> {
    let query = candidate::Entity::find()
        .filter(candidate::Column::Tenant.eq(tenant))
        .filter(candidate::Column::Status.eq(PENDING));
    newest_first(query, candidate::Column::Id, page).all(conn).await.context("reading the review queue")
}
