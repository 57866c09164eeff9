//! The table `interactions` and its queries (all tenant-scoped).

use sea_orm::sea_query::Expr;
use std::collections::HashSet;

use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use tend_kernel::paging::Page;
use tend_store::query::newest_first;

use crate::domain::ERASED_TEXT;

/// The `interactions` table.
#[allow(missing_docs)]
pub mod interaction {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "interactions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub channel: i32,
        pub external_id: String,
        pub author_external_id: String,
        pub author_handle: String,
        pub author_display_name: String,
        pub author_followers: i64,
        pub author_verified: bool,
        pub author_email: String,
        pub author_location: String,
        pub text: String,
        pub in_reply_to_external_id: String,
        pub url: String,
        pub posted_at: ChronoDateTimeUtc,
        pub received_at: ChronoDateTimeUtc,
        /// The encoded `tend.v1.Enrichment`; `None` for rows stored before enrichment.
        pub enrichment: Option<Vec<u8>>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// One interaction of a tenant.
pub async fn find<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str) -> Result<Option<interaction::Model>, DbErr> {
    interaction::Entity::find_by_id(id.to_owned()).filter(interaction::Column::Tenant.eq(tenant)).one(conn).await
}

/// Inserts the rows whose (tenant, channel, channel id) is not stored yet, in one statement, and
/// returns the ids of those inserted; the others are duplicates (see [`find_by_external_ids`]).
pub async fn insert_new<C: ConnectionTrait>(conn: &C, rows: &[interaction::Model]) -> Result<HashSet<String>, DbErr> {
    let rows = rows.iter().cloned().map(interaction::ActiveModel::from).collect();
    let unique = [interaction::Column::Tenant, interaction::Column::Channel, interaction::Column::ExternalId];
    tend_store::query::insert_new(conn, rows, unique).await
}

/// The tenant's stored interactions with any of these (channel, channel id) keys.
pub async fn find_by_external_ids<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    keys: &[(i32, &str)],
) -> Result<Vec<interaction::Model>, DbErr> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut any = Condition::any();
    for (channel, external_id) in keys {
        any = any.add(
            Condition::all()
                .add(interaction::Column::Channel.eq(*channel))
                .add(interaction::Column::ExternalId.eq(*external_id)),
        );
    }
    interaction::Entity::find().filter(interaction::Column::Tenant.eq(tenant)).filter(any).all(conn).await
}

/// A page of a tenant's rows, newest first.
pub async fn list<C: ConnectionTrait>(conn: &C, tenant: &str, page: &Page) -> Result<Vec<interaction::Model>, DbErr> {
    let query = interaction::Entity::find().filter(interaction::Column::Tenant.eq(tenant));
    newest_first(query, interaction::Column::Id, page).all(conn).await
}

/// Anonymises every interaction of `tenant` written on `channel` by the author with channel id
/// `author_external_id` (right to erasure) and returns how many there were.
///
/// The author's id, handle, display name, email and follower count, the text, the link and the
/// enrichment (its cues quote the text, its entities are the author's order numbers) are blanked
/// (the text becomes [`ERASED_TEXT`]); the row keeps its id, tenant, channel, times, the
/// id of the post it answers and its own channel id (`external_id`). That channel id is the
/// dedupe key: a connector that delivers the same post again (they retry, and some replay
/// history) must find it and get `duplicate`, or the erased post would be stored and announced
/// again with its text and author. On its own it is an opaque number of the channel's, which
/// says nothing about the person once the author and text are gone.
///
/// Running it again changes nothing: an anonymised row has a blank author id, which no erased
/// profile carries.
pub async fn anonymise_author<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    channel: i32,
    author_external_id: &str,
) -> Result<u64, DbErr> {
    let updated = interaction::Entity::update_many()
        .col_expr(interaction::Column::AuthorExternalId, Expr::value(""))
        .col_expr(interaction::Column::AuthorHandle, Expr::value(""))
        .col_expr(interaction::Column::AuthorDisplayName, Expr::value(""))
        .col_expr(interaction::Column::AuthorFollowers, Expr::value(0_i64))
        .col_expr(interaction::Column::AuthorVerified, Expr::value(false))
        .col_expr(interaction::Column::AuthorEmail, Expr::value(""))
        .col_expr(interaction::Column::AuthorLocation, Expr::value(""))
        .col_expr(interaction::Column::Text, Expr::value(ERASED_TEXT))
        .col_expr(interaction::Column::Url, Expr::value(""))
        .col_expr(interaction::Column::Enrichment, Expr::value(Option::<Vec<u8>>::None))
        .filter(interaction::Column::Tenant.eq(tenant))
        .filter(interaction::Column::Channel.eq(channel))
        .filter(interaction::Column::AuthorExternalId.eq(author_external_id))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use sea_orm::DatabaseConnection;
    use tend_store::testing::{Backend, TestStore};

    use super::*;

    async fn database(backend: Backend) -> (TestStore, DatabaseConnection) {
        let store = TestStore::create(backend).await;
        let db = store.connect::<crate::storage::Migrator>("ingest").await;
        (store, db)
    }

    fn row(tenant: &str, channel: i32, author: &str, external_id: &str) -> interaction::Model {
        let now = tend_kernel::ids::now();
        interaction::Model {
            id: tend_kernel::ids::new_id(),
            tenant: tenant.to_owned(),
            channel,
            external_id: external_id.to_owned(),
            author_external_id: author.to_owned(),
            author_handle: format!("{author}-handle"),
            author_display_name: "Ann Example".to_owned(),
            author_followers: 1_500,
            author_verified: true,
            author_email: "ann@example.com".to_owned(),
            author_location: "Leeds".to_owned(),
            text: "my order never arrived".to_owned(),
            in_reply_to_external_id: "brand-post-1".to_owned(),
            url: format!("https://x.example/{author}/{external_id}"),
            posted_at: now,
            received_at: now,
            enrichment: Some(b"cues: my order".to_vec()),
        }
    }

    async fn anonymises_only_the_authors_interactions_in_the_tenant_once(backend: Backend) {
        let (store, db) = database(backend).await;
        let rows = [
            row("acme", 1, "u1", "p1"),
            row("acme", 1, "u1", "p2"),
            row("acme", 1, "u2", "p3"),
            row("acme", 2, "u1", "p4"),
            row("globex", 1, "u1", "p1"),
        ];
        insert_new(&db, &rows).await.unwrap();

        assert_eq!(anonymise_author(&db, "acme", 1, "u1").await.unwrap(), 2);
        for erased in &rows[..2] {
            let stored = find(&db, "acme", &erased.id).await.unwrap().unwrap();
            let expected = interaction::Model {
                author_external_id: String::new(),
                author_handle: String::new(),
                author_display_name: String::new(),
                author_followers: 0,
                author_verified: false,
                author_email: String::new(),
                author_location: String::new(),
                text: ERASED_TEXT.to_owned(),
                url: String::new(),
                enrichment: None,
                ..erased.clone()
            };
            assert_eq!(stored, expected);
        }
        for kept in &rows[2..] {
            assert_eq!(find(&db, &kept.tenant, &kept.id).await.unwrap().as_ref(), Some(kept));
        }
        // The channel id stays, so a redelivered post is still found as a duplicate.
        assert_eq!(find_by_external_ids(&db, "acme", &[(1, "p1")]).await.unwrap().len(), 1);
        assert_eq!(anonymise_author(&db, "acme", 1, "u1").await.unwrap(), 0);
        store.cleanup().await;
    }

    async fn a_batch_stores_new_posts_once_and_finds_the_duplicates(backend: Backend) {
        let (store, db) = database(backend).await;
        let earlier = row("acme", 1, "u1", "p1");
        assert_eq!(insert_new(&db, std::slice::from_ref(&earlier)).await.unwrap().len(), 1);
        // p1 again (stored before), p2 twice in the batch, p1 on another channel, in another tenant.
        let batch = [
            row("acme", 1, "u1", "p1"),
            row("acme", 1, "u2", "p2"),
            row("acme", 1, "u2", "p2"),
            row("acme", 2, "u1", "p1"),
            row("globex", 1, "u1", "p1"),
        ];
        let inserted = insert_new(&db, &batch).await.unwrap();
        let expected: HashSet<String> = [&batch[1].id, &batch[3].id, &batch[4].id].into_iter().cloned().collect();
        assert_eq!(inserted, expected);
        let found = find_by_external_ids(&db, "acme", &[(1, "p1"), (1, "p2"), (3, "p1")]).await.unwrap();
        let mut found: Vec<&str> = found.iter().map(|row| row.id.as_str()).collect();
        found.sort_unstable();
        let mut wanted = vec![earlier.id.as_str(), batch[1].id.as_str()];
        wanted.sort_unstable();
        assert_eq!(found, wanted);
        assert!(find_by_external_ids(&db, "acme", &[]).await.unwrap().is_empty());
        store.cleanup().await;
    }

    tend_store::on_both_backends!(
        anonymises_only_the_authors_interactions_in_the_tenant_once,
        a_batch_stores_new_posts_once_and_finds_the_duplicates,
    );
}
