//! Messages to someone who did not write (an incident's proactive notice): a `ReplyRequested`
//! with a `recipient` instead of an interaction. It becomes a private delivery (a direct
//! message on X, Facebook or Instagram, a new email) sent by the same worker, within the same
//! account quotas, as every reply.
//!
//! The account it goes from: the one the recipient last wrote to on that channel, if they ever
//! did; else the tenant's default enabled account of the channel, else its first enabled one.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tend_proto::v1;

use super::storage::reply;
use crate::registry::Registry;
use crate::storage::interaction;

/// Aims `row` at `recipient`; the reason it cannot be sent, if any.
pub async fn aim<C: ConnectionTrait>(
    conn: &C,
    registry: &Registry,
    tenant: &str,
    recipient: &v1::ReplyRecipient,
    row: &mut reply::Model,
) -> Result<Option<String>, DbErr> {
    let channel = recipient.channel();
    let address = match channel {
        v1::Channel::Email => recipient.email.trim(),
        v1::Channel::X | v1::Channel::Facebook | v1::Channel::Instagram => recipient.external_id.trim(),
        other => {
            return Ok(Some(format!("{} takes no direct messages", other.as_str_name())));
        }
    };
    row.channel = channel.into();
    row.private = true;
    row.recipient = address.to_owned();
    row.in_reply_to = String::new();
    row.thread_id = String::new();
    if address.is_empty() {
        return Ok(Some("the recipient has no address on the channel".into()));
    }
    // The account they last wrote to on the channel.
    let last: Option<String> = interaction::Entity::find()
        .select_only()
        .column(interaction::Column::Account)
        .filter(interaction::Column::Tenant.eq(tenant))
        .filter(interaction::Column::Channel.eq(i32::from(channel)))
        .filter(interaction::Column::AuthorExternalId.eq(address))
        .filter(interaction::Column::Account.ne(""))
        .order_by_desc(interaction::Column::ReceivedAt)
        .into_tuple()
        .one(conn)
        .await?;
    let usable = |id: &str| registry.account(id).is_some_and(|account| account.enabled && account.tenant == tenant);
    let account = match last.filter(|id| usable(id)) {
        Some(id) => Some(id),
        None => {
            let (_, accounts) = registry.of_tenant(tenant);
            let mut enabled: Vec<_> =
                accounts.into_iter().filter(|account| account.channel == channel && account.enabled).collect();
            enabled.sort_by_key(|account| !account.is_default);
            enabled.first().map(|account| account.id.clone())
        }
    };
    match account {
        Some(id) => {
            row.account = id;
            Ok(None)
        }
        None => Ok(Some(format!("the tenant has no enabled {} account to send from", channel.as_str_name()))),
    }
}

/// The reply ids of notices to customer `customer_id` (`notice.{incident_id}.{customer_id}`,
/// see identity's notices), as a LIKE pattern.
fn notices_to(customer_id: &str) -> String {
    let escaped: String = customer_id.chars().filter(|ch| ch.is_ascii_alphanumeric() || *ch == '-').collect();
    format!("notice.%.{escaped}")
}

/// Right to erasure: notices to `customer_id` still queued are given up on, and every notice
/// to them loses its text and address. Returns how many were still queued.
pub async fn erase_notices<C: ConnectionTrait>(conn: &C, tenant: &str, customer_id: &str) -> Result<u64, DbErr> {
    use sea_orm::sea_query::Expr;
    if customer_id.is_empty() {
        return Ok(0);
    }
    let pattern = notices_to(customer_id);
    let given_up = reply::Entity::update_many()
        .col_expr(reply::Column::Status, Expr::value(i32::from(v1::DeliveryStatus::Failed)))
        .col_expr(reply::Column::Reason, Expr::value("the customer was erased"))
        .filter(reply::Column::Tenant.eq(tenant))
        .filter(reply::Column::ReplyId.like(pattern.as_str()))
        .filter(reply::Column::Status.eq(i32::from(v1::DeliveryStatus::Queued)))
        .exec(conn)
        .await?;
    reply::Entity::update_many()
        .col_expr(reply::Column::Text, Expr::value(""))
        .col_expr(reply::Column::Recipient, Expr::value(""))
        .col_expr(reply::Column::Log, Expr::value("[]"))
        .filter(reply::Column::Tenant.eq(tenant))
        .filter(reply::Column::ReplyId.like(pattern.as_str()))
        .exec(conn)
        .await?;
    Ok(given_up.rows_affected)
}
