//! Queue policies (`routing_queue_policies`): how each queue hands out its work. The policy is
//! the protobuf encoding of `tend.v1.QueuePolicy`, as the contract is the schema.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};

/// `routing_queue_policies`: one row per queue with a policy.
#[allow(missing_docs)]
pub mod policy {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "routing_queue_policies")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub queue: String,
        /// The `tend.v1.QueuePolicy`, protobuf-encoded.
        pub body: Vec<u8>,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Stores `row`, replacing the queue's policy.
pub async fn save<C: ConnectionTrait>(conn: &C, row: policy::Model) -> Result<(), DbErr> {
    let is_new = policy::Entity::find_by_id((row.tenant.clone(), row.queue.clone())).one(conn).await?.is_none();
    tend_store::query::save(conn, policy::ActiveModel::from(row), is_new).await
}

/// The tenant's policies by queue.
pub async fn of_tenant<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Vec<policy::Model>, DbErr> {
    policy::Entity::find().filter(policy::Column::Tenant.eq(tenant)).order_by_asc(policy::Column::Queue).all(conn).await
}

/// Every tenant's policies.
pub async fn all<C: ConnectionTrait>(conn: &C) -> Result<Vec<policy::Model>, DbErr> {
    policy::Entity::find().all(conn).await
}
