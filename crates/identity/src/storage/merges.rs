//! Merges (`customer_merges`): what each merge moved, so that it can be undone.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use tend_store::query::save;
use tend_store::{DbContext as _, Error};

/// The `customer_merges` table: what each merge moved, so that it can be undone.
#[allow(missing_docs)]
pub mod merge {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "customer_merges")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub survivor_id: String,
        pub merged_id: String,
        /// JSON array of `[kind, value]` identifiers moved to the survivor.
        pub moved_identifiers: String,
        /// JSON array of profile ids re-linked to the survivor.
        pub moved_profiles: String,
        pub actor: String,
        pub reason: Option<String>,
        pub at: ChronoDateTimeUtc,
        pub undone_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Saves a merge record (new, or its `undone_at`).
pub async fn save_merge<C: ConnectionTrait>(conn: &C, row: merge::Model, is_new: bool) -> Result<(), Error> {
    save(conn, merge::ActiveModel::from(row), is_new).await.context("saving a merge")
}

/// One merge of a tenant.
pub async fn find<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str) -> Result<Option<merge::Model>, Error> {
    merge::Entity::find_by_id(id.to_owned())
        .filter(merge::Column::Tenant.eq(tenant))
        .one(conn)
        .await
        .context("reading a merge")
}
