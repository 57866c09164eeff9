//! Matchers (`matcher_models`): each tenant's trained model and thresholds.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use tend_store::query::save;
use tend_store::{DbContext as _, Error};

/// The `matcher_models` table: each tenant's trained matcher and thresholds.
#[allow(missing_docs)]
pub mod matcher_model {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "matcher_models")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        /// The `tend_matching::Model` as JSON; empty until trained.
        pub model: String,
        pub link_threshold: f64,
        pub review_threshold: f64,
        pub trained_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The tenant's matcher row, if any.
pub async fn find<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Option<matcher_model::Model>, Error> {
    matcher_model::Entity::find_by_id(tenant.to_owned()).one(conn).await.context("reading the matcher")
}

/// Saves the tenant's matcher row.
pub async fn save_matcher<C: ConnectionTrait>(conn: &C, row: matcher_model::Model, is_new: bool) -> Result<(), Error> {
    save(conn, matcher_model::ActiveModel::from(row), is_new).await.context("saving the matcher")
}

/// Drops a tenant's trained model, keeping its thresholds.
pub async fn clear<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<(), Error> {
    matcher_model::Entity::update_many()
        .col_expr(matcher_model::Column::Model, Expr::value(""))
        .col_expr(matcher_model::Column::TrainedAt, Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None))
        .filter(matcher_model::Column::Tenant.eq(tenant))
        .exec(conn)
        .await
        .context("dropping the trained matcher")?;
    Ok(())
}
