//! The tables `classifiers` (each tenant's trained models, versioned per task) and
//! `active_classifiers` (which version each tenant uses per task; none means the built-in one).

use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

/// The version number that stands for the built-in model.
pub const BUILTIN: i32 = 0;

/// The `classifiers` table: one row per trained version.
#[allow(missing_docs)]
pub mod classifier {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "classifiers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        /// The `tend.v1.ClassifierTask` number.
        #[sea_orm(primary_key, auto_increment = false)]
        pub task: i32,
        /// 1, 2, … per tenant and task.
        #[sea_orm(primary_key, auto_increment = false)]
        pub version: i32,
        /// The labels the model knows, as a JSON array.
        pub labels: String,
        pub trained_on: i32,
        /// The encoded `tend.v1.Evaluation` on the held-out examples.
        pub holdout: Vec<u8>,
        /// The model, as `tend_text::Model::to_bytes` wrote it.
        pub model: Vec<u8>,
        pub description: String,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `active_classifiers` table: the version in use per tenant and task.
#[allow(missing_docs)]
pub mod active {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "active_classifiers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub task: i32,
        /// A version of `classifiers`, or [`super::BUILTIN`].
        pub version: i32,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// A stored version without its model bytes (which can be megabytes): what listings show.
#[derive(Debug, Clone, PartialEq, sea_orm::FromQueryResult)]
pub struct Summary {
    /// 1, 2, … per tenant and task.
    pub version: i32,
    /// The labels, as a JSON array.
    pub labels: String,
    /// Examples trained on.
    pub trained_on: i32,
    /// The encoded `tend.v1.Evaluation` on the held-out examples.
    pub holdout: Vec<u8>,
    /// The note given at training.
    pub description: String,
    /// When it was trained.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The version the next trained model of the task gets.
pub async fn next_version<C: ConnectionTrait>(conn: &C, tenant: &str, task: i32) -> Result<i32, DbErr> {
    let newest: Option<i32> = classifier::Entity::find()
        .select_only()
        .column(classifier::Column::Version)
        .filter(classifier::Column::Tenant.eq(tenant))
        .filter(classifier::Column::Task.eq(task))
        .order_by_desc(classifier::Column::Version)
        .limit(1)
        .into_tuple()
        .one(conn)
        .await?;
    Ok(newest.unwrap_or(BUILTIN) + 1)
}

/// Stores a trained version; a version taken meanwhile by a concurrent training fails on the
/// primary key (the caller retries with the next one).
pub async fn insert<C: ConnectionTrait>(conn: &C, row: classifier::Model) -> Result<(), DbErr> {
    classifier::Entity::insert(classifier::ActiveModel::from(row)).exec_without_returning(conn).await?;
    Ok(())
}

/// The task's versions, newest first, without their model bytes.
pub async fn list<C: ConnectionTrait>(conn: &C, tenant: &str, task: i32) -> Result<Vec<Summary>, DbErr> {
    use classifier::Column;
    classifier::Entity::find()
        .select_only()
        .columns([
            Column::Version,
            Column::Labels,
            Column::TrainedOn,
            Column::Holdout,
            Column::Description,
            Column::CreatedAt,
        ])
        .filter(Column::Tenant.eq(tenant))
        .filter(Column::Task.eq(task))
        .order_by_desc(Column::Version)
        .into_model::<Summary>()
        .all(conn)
        .await
}

/// One stored version, with its model.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    task: i32,
    version: i32,
) -> Result<Option<classifier::Model>, DbErr> {
    classifier::Entity::find_by_id((tenant.to_owned(), task, version)).one(conn).await
}

/// The version the tenant uses for the task ([`BUILTIN`] unless one was activated).
pub async fn active_version<C: ConnectionTrait>(conn: &C, tenant: &str, task: i32) -> Result<i32, DbErr> {
    let row = active::Entity::find_by_id((tenant.to_owned(), task)).one(conn).await?;
    Ok(row.map_or(BUILTIN, |row| row.version))
}

/// Makes `version` the one the tenant uses for the task.
pub async fn set_active<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    task: i32,
    version: i32,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), DbErr> {
    let row = active::ActiveModel {
        tenant: Set(tenant.to_owned()),
        task: Set(task),
        version: Set(version),
        updated_at: Set(now),
    };
    let upsert = OnConflict::columns([active::Column::Tenant, active::Column::Task])
        .update_columns([active::Column::Version, active::Column::UpdatedAt])
        .to_owned();
    active::Entity::insert(row).on_conflict(upsert).exec_without_returning(conn).await?;
    Ok(())
}

/// The trained models the tenant uses now, one per task that has one activated.
pub async fn active_models<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Vec<classifier::Model>, DbErr> {
    let chosen = active::Entity::find()
        .filter(active::Column::Tenant.eq(tenant))
        .filter(active::Column::Version.ne(BUILTIN))
        .all(conn)
        .await?;
    let mut models = Vec::with_capacity(chosen.len());
    for choice in chosen {
        if let Some(model) = find(conn, tenant, choice.task, choice.version).await? {
            models.push(model);
        }
    }
    Ok(models)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tend_store::testing::{Backend, TestStore};

    use super::*;

    fn trained(tenant: &str, task: i32, version: i32) -> classifier::Model {
        classifier::Model {
            tenant: tenant.to_owned(),
            task,
            version,
            labels: r#"["negative","positive"]"#.to_owned(),
            trained_on: 40,
            holdout: vec![1, 2, 3],
            model: vec![7; 64],
            description: format!("v{version}"),
            created_at: tend_kernel::ids::now(),
        }
    }

    async fn versions_count_per_tenant_and_task_and_one_is_active(backend: Backend) {
        let store = TestStore::create(backend).await;
        let db = store.connect::<crate::storage::Migrator>("ingest").await;
        assert_eq!(next_version(&db, "acme", 1).await.unwrap(), 1);
        insert(&db, trained("acme", 1, 1)).await.unwrap();
        insert(&db, trained("acme", 1, 2)).await.unwrap();
        insert(&db, trained("acme", 2, 1)).await.unwrap();
        insert(&db, trained("globex", 1, 1)).await.unwrap();
        assert_eq!(next_version(&db, "acme", 1).await.unwrap(), 3);
        assert!(insert(&db, trained("acme", 1, 2)).await.is_err(), "a version is taken once");

        let listed: Vec<i32> = list(&db, "acme", 1).await.unwrap().iter().map(|row| row.version).collect();
        assert_eq!(listed, vec![2, 1]);
        assert_eq!(find(&db, "acme", 1, 2).await.unwrap().unwrap().model, vec![7; 64]);
        assert_eq!(find(&db, "acme", 1, 9).await.unwrap(), None);

        assert_eq!(active_version(&db, "acme", 1).await.unwrap(), BUILTIN);
        assert!(active_models(&db, "acme").await.unwrap().is_empty());
        set_active(&db, "acme", 1, 2, tend_kernel::ids::now()).await.unwrap();
        set_active(&db, "acme", 2, BUILTIN, tend_kernel::ids::now()).await.unwrap();
        assert_eq!(active_version(&db, "acme", 1).await.unwrap(), 2);
        let models = active_models(&db, "acme").await.unwrap();
        assert_eq!(models.iter().map(|row| (row.task, row.version)).collect::<Vec<_>>(), vec![(1, 2)]);
        set_active(&db, "acme", 1, BUILTIN, tend_kernel::ids::now()).await.unwrap();
        assert!(active_models(&db, "acme").await.unwrap().is_empty(), "rolled back to the built-in model");
        assert_eq!(active_version(&db, "globex", 1).await.unwrap(), BUILTIN);
        store.cleanup().await;
    }

    tend_store::on_both_backends!(versions_count_per_tenant_and_task_and_one_is_active);
}
