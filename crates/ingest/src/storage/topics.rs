//! The table `topic_dictionaries`: each tenant's topics with their keywords.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};
use serde::{Deserialize, Serialize};

/// The `topic_dictionaries` table: one row per tenant that has a dictionary.
#[allow(missing_docs)]
pub mod dictionary {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "topic_dictionaries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        /// The topics, as a JSON array of [`super::StoredTopic`].
        pub topics: String,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One topic as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTopic {
    /// The topic's name.
    pub name: String,
    /// Its keywords and synonyms.
    pub keywords: Vec<String>,
}

/// The tenant's dictionary and when it was replaced, if it has one.
pub async fn get<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
) -> Result<Option<(Vec<StoredTopic>, chrono::DateTime<chrono::Utc>)>, DbErr> {
    let Some(row) = dictionary::Entity::find_by_id(tenant.to_owned()).one(conn).await? else { return Ok(None) };
    let topics = serde_json::from_str(&row.topics)
        .map_err(|error| DbErr::Custom(format!("topic dictionary of tenant {tenant} does not decode: {error}")))?;
    Ok(Some((topics, row.updated_at)))
}

/// Replaces the tenant's dictionary.
pub async fn put<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    topics: &[StoredTopic],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), DbErr> {
    let encoded = serde_json::to_string(topics).map_err(|error| DbErr::Custom(error.to_string()))?;
    let row = dictionary::ActiveModel { tenant: Set(tenant.to_owned()), topics: Set(encoded), updated_at: Set(now) };
    let upsert = OnConflict::column(dictionary::Column::Tenant)
        .update_columns([dictionary::Column::Topics, dictionary::Column::UpdatedAt])
        .to_owned();
    dictionary::Entity::insert(row).on_conflict(upsert).exec_without_returning(conn).await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tend_store::testing::{Backend, TestStore};

    use super::*;

    async fn a_dictionary_is_replaced_whole_per_tenant(backend: Backend) {
        let store = TestStore::create(backend).await;
        let db = store.connect::<crate::storage::Migrator>("ingest").await;
        assert_eq!(get(&db, "acme").await.unwrap(), None);
        let billing = StoredTopic { name: "billing".into(), keywords: vec!["invoice".into(), "charged twice".into()] };
        let delivery = StoredTopic { name: "delivery".into(), keywords: vec!["parcel".into()] };
        put(&db, "acme", &[billing.clone(), delivery], tend_kernel::ids::now()).await.unwrap();
        put(&db, "acme", std::slice::from_ref(&billing), tend_kernel::ids::now()).await.unwrap();
        assert_eq!(get(&db, "acme").await.unwrap().unwrap().0, vec![billing]);
        assert_eq!(get(&db, "globex").await.unwrap(), None);
        store.cleanup().await;
    }

    tend_store::on_both_backends!(a_dictionary_is_replaced_whole_per_tenant);
}
