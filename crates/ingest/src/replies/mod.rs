//! Replies out: `replies.requested` is taken into a durable delivery log (one row per reply id,
//! so a redelivered request sends nothing more), and a worker sends each due reply on the
//! customer's own channel and thread, within its account's quota, retrying with back-off and
//! honouring the platform's `Retry-After`, until it is sent or given up on. Every step is logged
//! on the row and the outcome is published: `replies.delivered`, `replies.failed`, and
//! `replies.delayed` while a reply waits for a quota or a rate limit.
//!
//! Quotas are token buckets kept per process: with several ingest replicas each sends within
//! the whole quota, so set an account's quota to the platform's limit divided by the replicas.
//! A reply is sent by one worker at a time (a lease on its row). A crash after the platform took
//! a reply and before its row says so sends it again on restart: X and Meta take no idempotency
//! key; the generic callback gets the reply id as `Idempotency-Key`.

mod consumer;
mod direct;
mod send;
pub mod storage;
mod worker;

use std::sync::Arc;

use tend_kernel::ApiError;
use tend_kernel::ids::to_timestamp;
use tend_proto::v1;
use tend_store::DbContext as _;

pub use consumer::RequestReplies;
pub use direct::erase_notices;
pub use worker::Worker;

/// Reads the delivery log.
pub struct Deliveries {
    db: sea_orm::DatabaseConnection,
}

impl Deliveries {
    /// The log in `db`.
    pub fn new(db: sea_orm::DatabaseConnection) -> Arc<Self> {
        Arc::new(Self { db })
    }

    /// One reply's delivery.
    pub async fn get(&self, tenant: &str, reply_id: &str) -> Result<v1::ReplyDelivery, ApiError> {
        let row = storage::find(&self.db, tenant, reply_id)
            .await
            .context("reading the reply delivery")?
            .ok_or_else(|| ApiError::not_found("reply", reply_id))?;
        Ok(to_proto(&row))
    }
}

/// A delivery in the contract's terms.
pub fn to_proto(row: &storage::reply::Model) -> v1::ReplyDelivery {
    v1::ReplyDelivery {
        reply_id: row.reply_id.clone(),
        case_id: row.case_id.clone(),
        interaction_id: row.interaction_id.clone(),
        account: row.account.clone(),
        channel: row.channel,
        status: row.status,
        platform_message_id: row.platform_message_id.clone(),
        reason: row.reason.clone(),
        attempts: u32::try_from(row.attempts).unwrap_or(0),
        log: storage::log_of(row)
            .into_iter()
            .map(|entry| v1::DeliveryAttempt {
                at: Some(to_timestamp(entry.at)),
                outcome: entry.outcome,
                detail: entry.detail,
            })
            .collect(),
        requested_at: Some(to_timestamp(row.requested_at)),
        updated_at: Some(to_timestamp(row.updated_at)),
    }
}
