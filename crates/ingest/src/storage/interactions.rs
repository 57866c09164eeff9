//! The table `interactions` and its queries (all tenant-scoped).

use sea_orm::sea_query::Expr;
use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
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
        /// Tend's id of the monitored account; empty when none.
        pub account: String,
        pub thread_external_id: String,
        pub private: bool,
        pub edited_at: Option<ChronoDateTimeUtc>,
        pub deleted_at: Option<ChronoDateTimeUtc>,
        /// The rarer fields as JSON ([`super::Details`]); `None` when all are empty.
        pub details: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `interaction_revisions` table: the texts an interaction had before its edits.
#[allow(missing_docs)]
pub mod revision {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "interaction_revisions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub interaction_id: String,
        pub text: String,
        pub replaced_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `webhook_deliveries` table: each accepted webhook body, kept for audit.
#[allow(missing_docs)]
pub mod delivery {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_deliveries")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub account: String,
        pub source: String,
        pub body: Vec<u8>,
        pub received_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The fields few posts have, kept together in one nullable column so a plain post binds one
/// NULL instead of four values.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Details {
    /// Email subject.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    /// Attachments, as metadata.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentMeta>,
    /// Review rating, 1 to 5; 0 when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rating: u32,
    /// The webhook delivery it came in (its raw payload, in `webhook_deliveries`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub delivery: String,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}

/// One attachment's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AttachmentMeta {
    /// File name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// MIME or media type.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content_type: String,
    /// Bytes; 0 when unknown.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub size: u64,
    /// The platform's URL.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
}

fn is_zero_u64(value: &u64) -> bool {
    *value == 0
}

impl Details {
    /// The JSON to store, `None` when every field is empty.
    pub fn to_column(&self) -> Option<String> {
        (*self != Details::default()).then(|| serde_json::to_string(self).unwrap_or_default())
    }

    /// The details of a stored column (empty when `None` or unreadable).
    pub fn from_column(column: Option<&str>) -> Self {
        column.and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default()
    }
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

/// Records an edit: the stored text goes to the revisions, `text` and `enrichment` replace it.
/// Returns the updated row and the text it had, or `None` when the text is unchanged or the
/// interaction is deleted (a late edit must not bring text back).
pub async fn edit<C: ConnectionTrait>(
    conn: &C,
    stored: interaction::Model,
    text: String,
    enrichment: Vec<u8>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Option<(interaction::Model, String)>, DbErr> {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};
    if stored.deleted_at.is_some() || stored.text == text {
        return Ok(None);
    }
    let previous = stored.text.clone();
    let revision = revision::Model {
        id: tend_kernel::ids::new_id(),
        tenant: stored.tenant.clone(),
        interaction_id: stored.id.clone(),
        text: previous.clone(),
        replaced_at: at,
    };
    revision::ActiveModel::from(revision).insert(conn).await?;
    let mut active = stored.into_active_model();
    active.text = Set(text);
    active.enrichment = Set(Some(enrichment));
    active.edited_at = Set(Some(at));
    Ok(Some((active.update(conn).await?, previous)))
}

/// Tombstones a deleted interaction: its text, reading, link and earlier texts are removed, its
/// ids and times kept (so a late redelivery is still a duplicate). `None` when already deleted.
pub async fn tombstone<C: ConnectionTrait>(
    conn: &C,
    stored: interaction::Model,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Option<interaction::Model>, DbErr> {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};
    if stored.deleted_at.is_some() {
        return Ok(None);
    }
    revision::Entity::delete_many().filter(revision::Column::InteractionId.eq(stored.id.as_str())).exec(conn).await?;
    let mut active = stored.into_active_model();
    active.text = Set(String::new());
    active.enrichment = Set(None);
    active.url = Set(String::new());
    active.deleted_at = Set(Some(at));
    Ok(Some(active.update(conn).await?))
}

/// The earlier texts of an interaction, oldest first.
pub async fn revisions<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    interaction_id: &str,
) -> Result<Vec<revision::Model>, DbErr> {
    use sea_orm::QueryOrder;
    revision::Entity::find()
        .filter(revision::Column::Tenant.eq(tenant))
        .filter(revision::Column::InteractionId.eq(interaction_id))
        .order_by_asc(revision::Column::ReplacedAt)
        .order_by_asc(revision::Column::Id)
        .all(conn)
        .await
}

/// Keeps a webhook body for audit.
pub async fn insert_delivery<C: ConnectionTrait>(conn: &C, row: delivery::Model) -> Result<(), DbErr> {
    use sea_orm::ActiveModelTrait;
    delivery::ActiveModel::from(row).insert(conn).await.map(|_| ())
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
/// Returns the ids of the interactions it anonymised (the stream janitor removes the events
/// that carried them). Running it again changes nothing: an anonymised row has a blank author
/// id, which no erased profile carries.
pub async fn anonymise_author<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    channel: i32,
    author_external_id: &str,
) -> Result<Vec<String>, DbErr> {
    let authored: Vec<(String, Option<String>)> = interaction::Entity::find()
        .select_only()
        .column(interaction::Column::Id)
        .column(interaction::Column::Details)
        .filter(interaction::Column::Tenant.eq(tenant))
        .filter(interaction::Column::Channel.eq(channel))
        .filter(interaction::Column::AuthorExternalId.eq(author_external_id))
        .into_tuple()
        .all(conn)
        .await?;
    anonymise(conn, tenant, authored).await
}

/// Anonymises, as [`anonymise_author`] does, at most `limit` of `tenant`'s interactions
/// received before `before` (retention) whose id sorts after `after`, oldest first. Ids are
/// time-ordered (UUIDv7), so the look-up walks the `(tenant, id)` index from `after` instead
/// of the whole table; the caller passes the last id of the previous batch. Returns the ids
/// anonymised.
pub async fn anonymise_received_before<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    before: DateTime<Utc>,
    after: &str,
    limit: u64,
) -> Result<Vec<String>, DbErr> {
    let expired: Vec<(String, Option<String>)> = interaction::Entity::find()
        .select_only()
        .column(interaction::Column::Id)
        .column(interaction::Column::Details)
        .filter(interaction::Column::Tenant.eq(tenant))
        .filter(interaction::Column::Id.gt(after))
        .filter(interaction::Column::Id.lt(first_id_at(before)))
        .filter(interaction::Column::ReceivedAt.lt(before))
        .filter(interaction::Column::Text.ne(ERASED_TEXT))
        .order_by_asc(interaction::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    anonymise(conn, tenant, expired).await
}

/// The smallest UUIDv7 of the millisecond `at`, in the text form ids are stored in: every id
/// made before `at` sorts below it.
fn first_id_at(at: DateTime<Utc>) -> String {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, &[0; 10]).into_uuid().to_string()
}

/// Blanks the author, text, link, enrichment and raw payload of `rows` (id, details) and
/// deletes their revisions and the webhook deliveries that carried them; see
/// [`anonymise_author`] for what is kept and why. Returns the ids.
async fn anonymise<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    rows: Vec<(String, Option<String>)>,
) -> Result<Vec<String>, DbErr> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|(id, _)| id.clone()).collect();
    revision::Entity::delete_many()
        .filter(revision::Column::Tenant.eq(tenant))
        .filter(revision::Column::InteractionId.is_in(ids.iter().map(String::as_str)))
        .exec(conn)
        .await?;
    let deliveries: Vec<String> = rows
        .iter()
        .map(|(_, details)| Details::from_column(details.as_deref()).delivery)
        .filter(|delivery| !delivery.is_empty())
        .collect();
    if !deliveries.is_empty() {
        delivery::Entity::delete_many()
            .filter(delivery::Column::Tenant.eq(tenant))
            .filter(delivery::Column::Id.is_in(deliveries))
            .exec(conn)
            .await?;
    }
    // Replies to them name their author (recipient, a personalised text): blanked, and one not
    // sent yet never will be.
    use crate::replies::storage::reply;
    reply::Entity::update_many()
        .col_expr(reply::Column::Status, Expr::value(i32::from(tend_proto::v1::DeliveryStatus::Failed)))
        .col_expr(reply::Column::Reason, Expr::value("the customer was erased before it was sent"))
        .filter(reply::Column::Tenant.eq(tenant))
        .filter(reply::Column::InteractionId.is_in(ids.iter().map(String::as_str)))
        .filter(reply::Column::Status.eq(i32::from(tend_proto::v1::DeliveryStatus::Queued)))
        .exec(conn)
        .await?;
    reply::Entity::update_many()
        .col_expr(reply::Column::Recipient, Expr::value(""))
        .col_expr(reply::Column::Text, Expr::value(ERASED_TEXT))
        .col_expr(reply::Column::Subject, Expr::value(""))
        .col_expr(reply::Column::Log, Expr::value("[]"))
        .filter(reply::Column::Tenant.eq(tenant))
        .filter(reply::Column::InteractionId.is_in(ids.iter().map(String::as_str)))
        .exec(conn)
        .await?;
    interaction::Entity::update_many()
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
        .col_expr(interaction::Column::Details, Expr::value(Option::<String>::None))
        .filter(interaction::Column::Tenant.eq(tenant))
        .filter(interaction::Column::Id.is_in(ids.iter().map(String::as_str)))
        .exec(conn)
        .await?;
    Ok(ids)
}

/// The tenants that have interactions.
pub async fn tenants<C: ConnectionTrait>(conn: &C) -> Result<Vec<String>, DbErr> {
    interaction::Entity::find()
        .select_only()
        .column(interaction::Column::Tenant)
        .distinct()
        .into_tuple()
        .all(conn)
        .await
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
            account: String::new(),
            thread_external_id: String::new(),
            private: false,
            edited_at: None,
            deleted_at: None,
            details: None,
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

        let mut anonymised = anonymise_author(&db, "acme", 1, "u1").await.unwrap();
        anonymised.sort();
        let mut expected_ids = vec![rows[0].id.clone(), rows[1].id.clone()];
        expected_ids.sort();
        assert_eq!(anonymised, expected_ids);
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
                details: None,
                ..erased.clone()
            };
            assert_eq!(stored, expected);
        }
        for kept in &rows[2..] {
            assert_eq!(find(&db, &kept.tenant, &kept.id).await.unwrap().as_ref(), Some(kept));
        }
        // The channel id stays, so a redelivered post is still found as a duplicate.
        assert_eq!(find_by_external_ids(&db, "acme", &[(1, "p1")]).await.unwrap().len(), 1);
        assert!(anonymise_author(&db, "acme", 1, "u1").await.unwrap().is_empty());
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
