//! Query shapes every service uses.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};
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
