//! The tables `channel_apps` and `channel_accounts`. Settings, secrets and quotas are JSON
//! text; an account's hours are an encoded `tend.v1.AccountHours`.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, sea_query::Expr};

/// The `channel_apps` table.
#[allow(missing_docs)]
pub mod app {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "channel_apps")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub name: String,
        pub platform: i32,
        pub settings: String,
        pub secrets: String,
        pub created_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `channel_accounts` table.
#[allow(missing_docs)]
pub mod account {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "channel_accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub app_id: String,
        pub channel: i32,
        pub platform_account_id: String,
        pub display_name: String,
        pub enabled: bool,
        pub is_default: bool,
        pub hours: Option<Vec<u8>>,
        pub quotas: String,
        pub settings: String,
        pub secrets: String,
        pub created_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Every app and account of every tenant: the registry is small (thousands of rows) and each
/// process keeps all of it in memory, since webhook deliveries name no tenant.
pub async fn load_all<C: ConnectionTrait>(conn: &C) -> Result<(Vec<app::Model>, Vec<account::Model>), DbErr> {
    let apps = app::Entity::find().order_by_asc(app::Column::Id).all(conn).await?;
    let accounts = account::Entity::find().order_by_asc(account::Column::Id).all(conn).await?;
    Ok((apps, accounts))
}

/// How many apps and accounts the tenant has registered.
pub async fn counts<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<(u64, u64), DbErr> {
    use sea_orm::PaginatorTrait as _;
    let apps = app::Entity::find().filter(app::Column::Tenant.eq(tenant)).count(conn).await?;
    let accounts = account::Entity::find().filter(account::Column::Tenant.eq(tenant)).count(conn).await?;
    Ok((apps, accounts))
}

/// The tenant's app with this name.
pub async fn find_app<C: ConnectionTrait>(conn: &C, tenant: &str, name: &str) -> Result<Option<app::Model>, DbErr> {
    app::Entity::find().filter(app::Column::Tenant.eq(tenant)).filter(app::Column::Name.eq(name)).one(conn).await
}

/// The account with this channel and platform id, whichever tenant has it.
pub async fn find_account_by_platform<C: ConnectionTrait>(
    conn: &C,
    channel: i32,
    platform_account_id: &str,
) -> Result<Option<account::Model>, DbErr> {
    account::Entity::find()
        .filter(account::Column::Channel.eq(channel))
        .filter(account::Column::PlatformAccountId.eq(platform_account_id))
        .one(conn)
        .await
}

/// The tenant's account with this id.
pub async fn find_account<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    id: &str,
) -> Result<Option<account::Model>, DbErr> {
    account::Entity::find_by_id(id.to_owned()).filter(account::Column::Tenant.eq(tenant)).one(conn).await
}

/// Unmarks the tenant's other default account on `channel`, so `keep` is the only one.
pub async fn clear_other_defaults<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    channel: i32,
    keep: &str,
) -> Result<(), DbErr> {
    account::Entity::update_many()
        .col_expr(account::Column::IsDefault, Expr::value(false))
        .filter(account::Column::Tenant.eq(tenant))
        .filter(account::Column::Channel.eq(channel))
        .filter(account::Column::Id.ne(keep))
        .exec(conn)
        .await?;
    Ok(())
}
