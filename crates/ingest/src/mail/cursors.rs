//! The table `channel_cursors`: where each poller got to (a mailbox's UIDVALIDITY and last UID,
//! X's newest mention id), so a restart goes on from there.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait};

/// The `channel_cursors` table.
#[allow(missing_docs)]
pub mod cursor {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "channel_cursors")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub account: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub kind: String,
        pub value: String,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The cursor of `account`'s poller `kind`, if it has one.
pub async fn get<C: ConnectionTrait>(conn: &C, account: &str, kind: &str) -> Result<Option<String>, DbErr> {
    Ok(cursor::Entity::find_by_id((account.to_owned(), kind.to_owned())).one(conn).await?.map(|row| row.value))
}

/// Saves the cursor of `account`'s poller `kind`.
pub async fn put<C: ConnectionTrait>(conn: &C, account: &str, kind: &str, value: &str) -> Result<(), DbErr> {
    let row = cursor::Model {
        account: account.to_owned(),
        kind: kind.to_owned(),
        value: value.to_owned(),
        updated_at: tend_kernel::ids::now(),
    };
    cursor::Entity::insert(cursor::ActiveModel::from(row))
        .on_conflict(
            OnConflict::columns([cursor::Column::Account, cursor::Column::Kind])
                .update_columns([cursor::Column::Value, cursor::Column::UpdatedAt])
                .to_owned(),
        )
        .exec(conn)
        .await?;
    Ok(())
}
