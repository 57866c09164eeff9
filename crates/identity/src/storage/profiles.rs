//! Profiles: one row per author per channel (`profiles`), with the customer it is linked to, how
//! and why.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tend_kernel::paging::Page;
use tend_store::query::newest_first;
use tend_store::{DbContext as _, Error};

use super::{ROWS_PER_STATEMENT, audit, is_postgres, link_event};

/// The `profiles` table: one row per author per channel.
#[allow(missing_docs)]
pub mod profile {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "profiles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub channel: i32,
        pub external_id: String,
        pub handle: String,
        pub display_name: String,
        pub followers: i64,
        pub customer_id: String,
        pub status: String,
        pub first_seen_at: ChronoDateTimeUtc,
        pub last_seen_at: ChronoDateTimeUtc,
        /// How the link was made (`LinkMethod` name in lowercase); empty when not linked.
        pub link_method: String,
        /// Why, for people.
        pub link_evidence: String,
        pub linked_at: Option<ChronoDateTimeUtc>,
        /// The author's email, canonical, when a login-based channel gave one.
        pub email: String,
        /// Where the author says they are (free text), from the last sighting.
        pub location: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One profile of a tenant.
pub async fn find<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str) -> Result<Option<profile::Model>, Error> {
    profile::Entity::find_by_id(id.to_owned())
        .filter(profile::Column::Tenant.eq(tenant))
        .one(conn)
        .await
        .context("reading a profile")
}

/// The tenant's profiles of these channel authors (`(channel, external_id)`), those seen before,
/// in one query per [`ROWS_PER_STATEMENT`] authors.
///
/// On PostgreSQL the rows are locked (`FOR UPDATE`, in id order so that two batches never wait
/// on each other in a cycle) until the transaction ends: what the caller writes back is then
/// never based on a row a person changed in the meantime. On SQLite the one connection already
/// serialises writers.
pub async fn of_authors<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    authors: &[(i32, &str)],
) -> Result<Vec<profile::Model>, Error> {
    let mut found = Vec::new();
    for chunk in authors.chunks(ROWS_PER_STATEMENT) {
        let mut channels: Vec<i32> = chunk.iter().map(|(channel, _)| *channel).collect();
        channels.sort_unstable();
        channels.dedup();
        // (channel, external_id) pairs written as two lists: a few rows more than asked for at
        // worst (the same external id on another channel of the batch), filtered out below,
        // instead of row values, which not every SQLite build reads.
        let mut query = profile::Entity::find()
            .filter(profile::Column::Tenant.eq(tenant))
            .filter(profile::Column::Channel.is_in(channels))
            .filter(profile::Column::ExternalId.is_in(chunk.iter().map(|(_, external_id)| *external_id)))
            .order_by_asc(profile::Column::Id);
        if is_postgres(conn) {
            query = query.lock_exclusive();
        }
        let rows = query.all(conn).await.context(format!("reading the profiles of {} authors", chunk.len()))?;
        found.extend(rows.into_iter().filter(|row| {
            chunk.iter().any(|(channel, external_id)| row.channel == *channel && row.external_id == *external_id)
        }));
    }
    Ok(found)
}

/// Claims the authors of `blanks` (profiles not found by [`of_authors`]) by inserting them, and
/// returns the ids of those this transaction inserted. An author another transaction created
/// meanwhile is skipped, not an error: on PostgreSQL the insert waits for that transaction to
/// end, so the caller can then read (and lock) its row with [`of_authors`].
///
/// Rows go in `(channel, external_id)` order, so two batches claiming the same new authors wait
/// on each other in one direction instead of in a cycle.
pub async fn claim<C: ConnectionTrait>(
    conn: &C,
    mut blanks: Vec<profile::Model>,
) -> Result<std::collections::HashSet<String>, Error> {
    blanks.sort_unstable_by(|a, b| (a.channel, &a.external_id).cmp(&(b.channel, &b.external_id)));
    let mut claimed = std::collections::HashSet::with_capacity(blanks.len());
    let mut rows = blanks.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<profile::ActiveModel> =
            rows.by_ref().take(ROWS_PER_STATEMENT).map(profile::ActiveModel::from).collect();
        let size = chunk.len();
        let inserted = tend_store::query::insert_new(
            conn,
            chunk,
            [profile::Column::Tenant, profile::Column::Channel, profile::Column::ExternalId],
        )
        .await
        .context(format!("claiming {size} new profiles"))?;
        claimed.extend(inserted);
    }
    Ok(claimed)
}

/// Inserts the new rows of `rows` and overwrites the stored ones (by id) with what they say, in
/// one statement per [`ROWS_PER_STATEMENT`] rows. Each row's id must appear once.
///
/// On PostgreSQL new authors are [`claim`]ed first, so a new row here is never one another
/// transaction created; on SQLite the one connection serialises the writers.
pub async fn save_all<C: ConnectionTrait>(conn: &C, rows: &[profile::Model]) -> Result<(), Error> {
    use profile::Column;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        // Everything but the identity of the author and when it was first seen.
        let upsert = OnConflict::column(Column::Id)
            .update_columns([
                Column::Handle,
                Column::DisplayName,
                Column::Followers,
                Column::CustomerId,
                Column::Status,
                Column::LastSeenAt,
                Column::LinkMethod,
                Column::LinkEvidence,
                Column::LinkedAt,
                Column::Email,
                Column::Location,
            ])
            .to_owned();
        profile::Entity::insert_many(chunk.iter().cloned().map(profile::ActiveModel::from))
            .on_conflict(upsert)
            .exec_without_returning(conn)
            .await
            .context(format!("saving {} profiles", chunk.len()))?;
    }
    Ok(())
}

/// A page of a tenant's profiles, newest first.
pub async fn list<C: ConnectionTrait>(conn: &C, tenant: &str, page: &Page) -> Result<Vec<profile::Model>, Error> {
    let query = profile::Entity::find().filter(profile::Column::Tenant.eq(tenant));
    newest_first(query, profile::Column::Id, page).all(conn).await.context("listing profiles")
}

/// Every profile of a tenant (for training).
pub async fn all<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Vec<profile::Model>, Error> {
    profile::Entity::find().filter(profile::Column::Tenant.eq(tenant)).all(conn).await.context("reading every profile")
}

/// The tenant's profiles tied to a customer (linked, or waiting for review as its candidate), in
/// id order (the order every writer locks them in).
pub async fn of_customer<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_id: &str,
) -> Result<Vec<profile::Model>, Error> {
    profile::Entity::find()
        .filter(profile::Column::Tenant.eq(tenant))
        .filter(profile::Column::CustomerId.eq(customer_id))
        .order_by_asc(profile::Column::Id)
        .all(conn)
        .await
        .context("reading the profiles of a customer")
}

/// Records a change of `profile`'s link (already made in memory) and its audit event.
pub async fn save_link<C: ConnectionTrait>(
    conn: &C,
    profile: &profile::Model,
    event: link_event::Model,
) -> Result<(), Error> {
    profile::Entity::update_many()
        .col_expr(profile::Column::CustomerId, Expr::value(profile.customer_id.clone()))
        .col_expr(profile::Column::Status, Expr::value(profile.status.clone()))
        .col_expr(profile::Column::LinkMethod, Expr::value(profile.link_method.clone()))
        .col_expr(profile::Column::LinkEvidence, Expr::value(profile.link_evidence.clone()))
        .col_expr(profile::Column::LinkedAt, Expr::value(profile.linked_at))
        .filter(profile::Column::Id.eq(profile.id.clone()))
        .filter(profile::Column::Tenant.eq(profile.tenant.clone()))
        .exec(conn)
        .await
        .context("saving a profile's link")?;
    audit::record(conn, event).await
}
