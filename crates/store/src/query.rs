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
