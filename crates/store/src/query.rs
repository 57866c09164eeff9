//! Query shapes every service uses.

use std::collections::HashSet;
use std::hash::Hash;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PrimaryKeyTrait, QueryFilter,
    QueryOrder, QuerySelect, Select, TryInsertResult,
};
use tend_kernel::paging::Page;

/// `query` limited to `page`, newest first by the time-ordered `id` column.
pub fn newest_first<E: EntityTrait>(query: Select<E>, id: E::Column, page: &Page) -> Select<E> {
    let query = match &page.after {
        Some(after) => query.filter(id.lt(after.as_str())),
        None => query,
    };
    query.order_by_desc(id).limit(page.limit)
}

/// Inserts `row` when `is_new`, otherwise overwrites every column of the stored row with it.
pub async fn save<C, A>(conn: &C, row: A, is_new: bool) -> Result<(), sea_orm::DbErr>
where
    C: sea_orm::ConnectionTrait,
    A: sea_orm::ActiveModelTrait + sea_orm::ActiveModelBehavior + Send,
    <A::Entity as EntityTrait>::Model: sea_orm::IntoActiveModel<A>,
{
    if is_new {
        A::Entity::insert(row).exec_without_returning(conn).await?;
    } else {
        row.reset_all().update(conn).await?;
    }
    Ok(())
}

/// The primary key type of entity `E`.
pub type Key<E> = <<E as EntityTrait>::PrimaryKey as PrimaryKeyTrait>::ValueType;

/// The idempotent create, for one row or a batch: inserts `rows` in one statement, skipping any
/// that collides with a stored row (or an earlier row of the batch) on the unique key `unique`
/// (`ON CONFLICT (unique) DO NOTHING`), and returns the primary keys of the rows it inserted.
///
/// The caller looks up the rows that were not inserted by their unique key: those are what the
/// request is asking for (a redelivered post, a retried open). Unlike read-then-write, two
/// concurrent creates with one key can't both insert, and neither fails: the loser finds the
/// winner's row.
pub async fn insert_new<C, A, I>(conn: &C, rows: Vec<A>, unique: I) -> Result<HashSet<Key<A::Entity>>, sea_orm::DbErr>
where
    C: ConnectionTrait,
    A: ActiveModelTrait + Send,
    I: IntoIterator<Item = <A::Entity as EntityTrait>::Column>,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
    Key<A::Entity>: Eq + Hash,
{
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
    let inserted =
        A::Entity::insert_many(rows).on_conflict_do_nothing_on(unique).exec_with_returning_keys(conn).await?;
    Ok(match inserted {
        TryInsertResult::Inserted(keys) => keys.into_iter().collect(),
        TryInsertResult::Empty | TryInsertResult::Conflicted => HashSet::new(),
    })
}

/// Inserts `rows` with one multi-row `INSERT` per `rows_per_statement` rows (bound parameters are
/// limited per statement on both backends).
pub async fn insert_chunked<C, A>(conn: &C, rows: Vec<A>, rows_per_statement: usize) -> Result<(), sea_orm::DbErr>
where
    C: ConnectionTrait,
    A: ActiveModelTrait + Send,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(rows_per_statement.max(1)).collect();
        A::Entity::insert_many(chunk).exec_without_returning(conn).await?;
    }
    Ok(())
}
