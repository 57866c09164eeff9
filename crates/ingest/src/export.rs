//! Subject access (`ExportSubjectData`): the interactions of a person's profiles, found by
//! channel and author id (ingest does not know identity's profile ids), with their earlier
//! texts and the raw webhook bodies that carried them.

use prost::Message as _;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use tend_client::export;
use tend_kernel::ids::to_timestamp;
use tend_kernel::proto_json::{Value, json};
use tend_proto::v1;
use tend_store::DbContext as _;
use tonic::Status;

use crate::SERVICE;
use crate::posts::to_proto;
use crate::storage::{self, Details, delivery, interaction};

/// Subject access: everything ingest holds about the authors `handles` (channel, author id on
/// it) in `tenant`: their interactions (with earlier texts and enrichment) and the raw webhook
/// bodies that carried them.
pub async fn export(db: &DatabaseConnection, tenant: &str, handles: &[(i32, String)]) -> Result<Value, Status> {
    let mut interactions = Vec::new();
    let mut delivery_ids = Vec::new();
    let mut bytes = 0_usize;
    for (channel, author) in handles {
        let rows = of_author(db, tenant, *channel, author).await.context("reading the interactions")?;
        for row in rows {
            let revisions = storage::revisions(db, tenant, &row.id).await.context("reading the revisions")?;
            let delivery = Details::from_column(row.details.as_deref()).delivery;
            if !delivery.is_empty() {
                delivery_ids.push(delivery);
            }
            let mut interaction = to_proto(row);
            interaction.revisions = revisions
                .into_iter()
                .map(|revision| v1::InteractionRevision {
                    text: revision.text,
                    replaced_at: Some(to_timestamp(revision.replaced_at)),
                })
                .collect();
            bytes += interaction.encoded_len();
            if bytes > export::MAX_EXPORT_BYTES {
                return Err(export::too_big(SERVICE, bytes));
            }
            interactions.push(export::record("Interaction", &interaction));
        }
    }
    let deliveries = deliveries(db, tenant, &delivery_ids).await.context("reading the webhook deliveries")?;
    let deliveries: Vec<Value> = deliveries
        .into_iter()
        .map(|delivery| {
            json!({
                "id": delivery.id,
                "account": delivery.account,
                "source": delivery.source,
                "received_at": delivery.received_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                "body": String::from_utf8_lossy(&delivery.body),
            })
        })
        .collect();
    Ok(json!({ "interactions": interactions, "webhook_deliveries": deliveries }))
}

/// The most interactions a subject access export reads for one author.
pub const MAX_EXPORTED_PER_AUTHOR: u64 = 100_000;

/// Every interaction of `tenant` written on `channel` by the author with channel id
/// `author_external_id`, oldest first (subject access), at most [`MAX_EXPORTED_PER_AUTHOR`].
pub async fn of_author<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    channel: i32,
    author_external_id: &str,
) -> Result<Vec<interaction::Model>, DbErr> {
    interaction::Entity::find()
        .filter(interaction::Column::Tenant.eq(tenant))
        .filter(interaction::Column::Channel.eq(channel))
        .filter(interaction::Column::AuthorExternalId.eq(author_external_id))
        .order_by_asc(interaction::Column::Id)
        .limit(MAX_EXPORTED_PER_AUTHOR)
        .all(conn)
        .await
}

/// The webhook bodies kept for audit with these ids (subject access).
pub async fn deliveries<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    ids: &[String],
) -> Result<Vec<delivery::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    delivery::Entity::find()
        .filter(delivery::Column::Tenant.eq(tenant))
        .filter(delivery::Column::Id.is_in(ids.iter().map(String::as_str)))
        .all(conn)
        .await
}
