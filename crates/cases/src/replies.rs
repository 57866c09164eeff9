//! Replies on a case: recorded in `case_replies` and published on `replies.requested` in one
//! transaction (ingest sends them), then kept true by `replies.delivered` and `replies.failed`.

use std::sync::LazyLock;

use async_trait::async_trait;
use sea_orm::sea_query::Index;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, Set, TransactionTrait,
};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{integer, string, text, timestamp_with_time_zone};
use tend_kernel::ApiError;
use tend_kernel::auth::Caller;
use tend_kernel::ids::{parse_id, to_timestamp};
use tend_kernel::metrics::{Counter, register};
use tend_proto::v1;
use tend_store::events::{envelope, streams};
use tend_store::{DbContext as _, Effects, Event, EventHandler, HandleError, OutboxWaker, outbox};

use crate::SERVICE;
use crate::storage;
use crate::timeline::{self, Draft};

/// Longest reply text, in bytes (each channel's own limit is checked when sending).
pub const MAX_REPLY_BYTES: usize = 64 * 1024;
/// Longest caller-chosen reply id, in bytes.
const MAX_REPLY_ID_BYTES: usize = 128;

/// The `case_replies` table.
#[allow(missing_docs)]
pub mod reply {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "case_replies")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub reply_id: String,
        pub case_id: String,
        pub interaction_id: String,
        pub text: String,
        pub subject: String,
        pub visibility: i32,
        /// A `tend.v1.CaseReplyStatus` number.
        pub status: i32,
        pub platform_message_id: String,
        pub reason: String,
        pub requested_by: String,
        pub requested_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates `case_replies`.
pub struct AddReplies;

impl MigrationName for AddReplies {
    fn name(&self) -> &str {
        "m20261202_000300_add_case_replies"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddReplies {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("case_replies")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("reply_id"))
                    .col(string("case_id"))
                    .col(string("interaction_id"))
                    .col(text("text"))
                    .col(text("subject"))
                    .col(integer("visibility"))
                    .col(integer("status"))
                    .col(string("platform_message_id"))
                    .col(text("reason"))
                    .col(string("requested_by"))
                    .col(timestamp_with_time_zone("requested_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .primary_key(Index::create().col("tenant").col("reply_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("case_replies_tenant_case")
                    .table("case_replies")
                    .col("tenant")
                    .col("case_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("case_replies").if_exists().to_owned()).await
    }
}

/// A reply in the contract's terms.
pub fn to_proto(row: reply::Model) -> v1::CaseReply {
    v1::CaseReply {
        reply_id: row.reply_id,
        case_id: row.case_id,
        interaction_id: row.interaction_id,
        text: row.text,
        status: row.status,
        platform_message_id: row.platform_message_id,
        reason: row.reason,
        requested_by: row.requested_by,
        requested_at: Some(to_timestamp(row.requested_at)),
        updated_at: Some(to_timestamp(row.updated_at)),
        visibility: row.visibility,
    }
}

async fn find<C: ConnectionTrait>(conn: &C, tenant: &str, reply_id: &str) -> Result<Option<reply::Model>, DbErr> {
    reply::Entity::find_by_id((tenant.to_owned(), reply_id.to_owned())).one(conn).await
}

/// Records a reply on its case and has it sent.
pub async fn reply_to_case(
    db: &DatabaseConnection,
    relay: &OutboxWaker,
    caller: &Caller,
    request: v1::ReplyToCaseRequest,
) -> Result<v1::CaseReply, ApiError> {
    let tenant = &caller.tenant;
    let case_id = parse_id("case_id", &request.case_id)?;
    let text = request.text.trim().to_owned();
    if text.is_empty() {
        return Err(ApiError::invalid("text", "is required and must not be blank"));
    }
    if text.len() > MAX_REPLY_BYTES {
        return Err(ApiError::invalid("text", format!("must be at most {MAX_REPLY_BYTES} bytes")));
    }
    let reply_id = match request.reply_id.trim() {
        "" => tend_kernel::ids::new_id(),
        given if given.len() > MAX_REPLY_ID_BYTES => {
            return Err(ApiError::invalid("reply_id", format!("must be at most {MAX_REPLY_ID_BYTES} bytes")));
        }
        given => given.to_owned(),
    };
    let txn = db.begin().await.context("starting a transaction")?;
    if let Some(existing) = find(&txn, tenant.as_str(), &reply_id).await.context("reading the reply")? {
        return Ok(to_proto(existing));
    }
    if storage::find(&txn, tenant.as_str(), &case_id).await.context("reading the case")?.is_none() {
        return Err(ApiError::not_found("case", case_id));
    }
    let interactions = storage::interaction_ids(&txn, tenant.as_str(), &[case_id.as_str()])
        .await
        .context("reading the case's interactions")?
        .remove(&case_id)
        .unwrap_or_default();
    let interaction_id = match request.interaction_id.trim() {
        "" => interactions
            .last()
            .cloned()
            .ok_or_else(|| ApiError::FailedPrecondition(format!("case {case_id} has no interaction to answer")))?,
        given if interactions.iter().any(|id| id == given) => given.to_owned(),
        given => {
            return Err(ApiError::invalid(
                "interaction_id",
                format!("{given:?} is not an interaction of case {case_id}"),
            ));
        }
    };
    let now = tend_kernel::ids::now();
    let row = reply::Model {
        tenant: tenant.as_str().to_owned(),
        reply_id: reply_id.clone(),
        case_id: case_id.clone(),
        interaction_id: interaction_id.clone(),
        text: text.clone(),
        subject: request.subject.trim().to_owned(),
        visibility: request.visibility,
        status: v1::CaseReplyStatus::Requested.into(),
        platform_message_id: String::new(),
        reason: String::new(),
        requested_by: caller.actor.clone(),
        requested_at: now,
        updated_at: now,
    };
    let saved = reply::ActiveModel::from(row).insert(&txn).await.context("recording the reply")?;
    let draft = Draft {
        text: saved.text.clone(),
        reply_id: saved.reply_id.clone(),
        interaction_id: saved.interaction_id.clone(),
        ..Draft::of(v1::CaseTimelineKind::ReplyRequested)
    };
    timeline::insert(&txn, draft.into_row(tenant.as_str(), &saved.case_id, &caller.actor, now, 0))
        .await
        .context("recording the reply on the timeline")?;
    let requested = v1::ReplyRequested {
        reply_id,
        case_id,
        interaction_id,
        text,
        visibility: request.visibility,
        requested_by: caller.actor.clone(),
        subject: saved.subject.clone(),
    };
    outbox::enqueue(&txn, streams::REPLIES_REQUESTED, &envelope(SERVICE, tenant, &requested)).await?;
    txn.commit().await.context("committing the reply")?;
    relay.wake();
    tracing::info!(case_id = %saved.case_id, reply_id = %saved.reply_id, "reply requested");
    Ok(to_proto(saved))
}

/// The replies of a case, oldest first.
pub async fn list(db: &DatabaseConnection, tenant: &str, case_id: &str) -> Result<Vec<v1::CaseReply>, ApiError> {
    let case_id = parse_id("case_id", case_id)?;
    if storage::find(db, tenant, &case_id).await.context("reading the case")?.is_none() {
        return Err(ApiError::not_found("case", case_id));
    }
    let rows = reply::Entity::find()
        .filter(reply::Column::Tenant.eq(tenant))
        .filter(reply::Column::CaseId.eq(case_id.as_str()))
        .order_by_asc(reply::Column::RequestedAt)
        .order_by_asc(reply::Column::ReplyId)
        .all(db)
        .await
        .context("reading the replies")?;
    Ok(rows.into_iter().map(to_proto).collect())
}

/// Sets what came of a reply and puts it on the case's timeline; a reply not made through
/// cases (feedback's) is not ours. `actor` is the service that reported it.
async fn settle<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    actor: &str,
    reply_id: &str,
    status: v1::CaseReplyStatus,
    platform_message_id: &str,
    reason: &str,
) -> Result<(), DbErr> {
    let Some(row) = find(conn, tenant, reply_id).await? else { return Ok(()) };
    if row.status == i32::from(status) {
        return Ok(());
    }
    let now = tend_kernel::ids::now();
    let kind = match status {
        v1::CaseReplyStatus::Failed => {
            failed_replies().inc();
            v1::CaseTimelineKind::ReplyFailed
        }
        _ => v1::CaseTimelineKind::ReplyDelivered,
    };
    let draft = Draft {
        reason: reason.to_owned(),
        reply_id: row.reply_id.clone(),
        interaction_id: row.interaction_id.clone(),
        ..Draft::of(kind)
    };
    timeline::insert(conn, draft.into_row(tenant, &row.case_id, actor, now, 0)).await?;
    let mut active = row.into_active_model();
    active.status = Set(status.into());
    active.platform_message_id = Set(platform_message_id.to_owned());
    active.reason = Set(reason.to_owned());
    active.updated_at = Set(now);
    active.update(conn).await?;
    Ok(())
}

/// Replies of cases that could not be delivered, counted at `/metrics`.
fn failed_replies() -> &'static Counter {
    static FAILED: LazyLock<Counter> = LazyLock::new(|| {
        let counter = Counter::default();
        register("case_replies_failed", "Replies on cases that could not be delivered", counter.clone());
        counter
    });
    &FAILED
}

/// Consumes `replies.delivered`.
pub struct Delivered;

#[async_trait]
impl EventHandler for Delivered {
    type Payload = v1::ReplyDelivered;

    async fn handle(
        &self,
        effects: &mut Effects<'_>,
        events: &[&Event<v1::ReplyDelivered>],
    ) -> Result<(), HandleError> {
        for event in events {
            let delivered = &event.payload;
            settle(
                effects.db(),
                event.tenant.as_str(),
                "ingest",
                &delivered.reply_id,
                v1::CaseReplyStatus::Delivered,
                &delivered.platform_message_id,
                "",
            )
            .await
            .context("recording the delivery")?;
        }
        Ok(())
    }
}

/// Consumes `replies.failed`.
pub struct Failed;

#[async_trait]
impl EventHandler for Failed {
    type Payload = v1::ReplyFailed;

    async fn handle(&self, effects: &mut Effects<'_>, events: &[&Event<v1::ReplyFailed>]) -> Result<(), HandleError> {
        for event in events {
            let failed = &event.payload;
            settle(
                effects.db(),
                event.tenant.as_str(),
                "ingest",
                &failed.reply_id,
                v1::CaseReplyStatus::Failed,
                "",
                &failed.reason,
            )
            .await
            .context("recording the failure")?;
        }
        Ok(())
    }
}
