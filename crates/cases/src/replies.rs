//! Replies on a case: recorded in `case_replies` and published on `replies.requested` in one
//! transaction (ingest sends them), then kept true by `replies.delivered` and `replies.failed`.

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use sea_orm::sea_query::Index;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect as _, Set, TransactionTrait,
};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{integer, string, text, timestamp_with_time_zone};
use tend_kernel::auth::Caller;
use tend_kernel::ids::{Clock, parse_id, to_timestamp};
use tend_kernel::metrics::{Counter, register};
use tend_kernel::{ApiError, TenantId};
use tend_proto::v1;
use tend_store::events::{envelope, streams};
use tend_store::{DbContext as _, Effects, Event, EventHandler, HandleError, OutboxWaker, outbox};

use crate::SERVICE;
use crate::lifecycle::{Attempt, Seen, apply_change, settle as settle_promise};
use crate::promises;
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
        /// The incident answer it is part of; "" for a reply of its own.
        pub answer_id: String,
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
    now: chrono::DateTime<chrono::Utc>,
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
    let Some(case_row) = storage::find(&txn, tenant.as_str(), &case_id).await.context("reading the case")? else {
        return Err(ApiError::not_found("case", case_id));
    };
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
    if !request.keeps_promise_id.is_empty() {
        promise_to_keep(&txn, tenant.as_str(), &case_id, &request.keeps_promise_id, &reply_id).await?;
    }
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
        answer_id: String::new(),
    };
    let saved = reply::ActiveModel::from(row).insert(&txn).await.context("recording the reply")?;
    // The agent answered: the response clocks are met.
    crate::clocks::apply(&txn, &case_row, crate::clocks::Effect::AgentReplied, now)
        .await
        .context("meeting the response clocks")?;
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
        personalize: false,
        recipient: None,
    };
    outbox::enqueue(&txn, streams::REPLIES_REQUESTED, &envelope(SERVICE, tenant, &requested)).await?;
    txn.commit().await.context("committing the reply")?;
    relay.wake();
    tracing::info!(case_id = %saved.case_id, reply_id = %saved.reply_id, "reply requested");
    Ok(to_proto(saved))
}

/// Records `rows`, new replies, in as few statements as the backends allow.
pub async fn insert_all<C: ConnectionTrait>(conn: &C, rows: Vec<reply::Model>) -> Result<(), DbErr> {
    let rows = rows.into_iter().map(reply::ActiveModel::from).collect();
    // 14 columns: well under both backends' limits on bound parameters.
    tend_store::query::insert_chunked(conn, rows, 500).await
}

/// Ties open promise `promise_id` of case `case_id` to reply `reply_id`, which keeps it once
/// delivered.
async fn promise_to_keep<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    case_id: &str,
    promise_id: &str,
    reply_id: &str,
) -> Result<(), ApiError> {
    let promise_id = parse_id("keeps_promise_id", promise_id)?;
    let promise = promises::find(conn, tenant, &promise_id).await.context("reading the promise")?;
    let Some(promise) = promise.filter(|promise| promise.case_id == case_id) else {
        return Err(ApiError::invalid("keeps_promise_id", format!("{promise_id} is not a promise of case {case_id}")));
    };
    if promise.state != promises::open_state() {
        return Err(ApiError::FailedPrecondition(format!(
            "promise {promise_id} is not open any more: send the reply without keeps_promise_id"
        )));
    }
    let tied = promises::promise::Model { reply_id: reply_id.to_owned(), ..promise };
    promises::save(conn, tied, false).await.context("tying the promise to the reply")?;
    Ok(())
}

/// The replies of a case, oldest first.
pub async fn list(
    db: &DatabaseConnection,
    tenant: &str,
    request: &v1::ListCaseRepliesRequest,
) -> Result<v1::ListCaseRepliesResponse, ApiError> {
    let case_id = parse_id("case_id", &request.case_id)?;
    let limit = match request.page_size {
        0 => tend_kernel::paging::DEFAULT_PAGE_SIZE,
        size @ 1..=tend_kernel::paging::MAX_PAGE_SIZE => size,
        _ => {
            let max = tend_kernel::paging::MAX_PAGE_SIZE;
            return Err(ApiError::invalid("page_size", format!("must be at most {max}")));
        }
    };
    let after = match request.page_token.as_str() {
        "" => None,
        token => Some(ReplyCursor::parse(token)?),
    };
    if storage::find(db, tenant, &case_id).await.context("reading the case")?.is_none() {
        return Err(ApiError::not_found("case", case_id));
    }
    let mut query = reply::Entity::find()
        .filter(reply::Column::Tenant.eq(tenant))
        .filter(reply::Column::CaseId.eq(case_id.as_str()));
    if let Some(after) = &after {
        query = query.filter(
            sea_orm::Condition::any().add(reply::Column::RequestedAt.gt(after.requested_at)).add(
                sea_orm::Condition::all()
                    .add(reply::Column::RequestedAt.eq(after.requested_at))
                    .add(reply::Column::ReplyId.gt(after.reply_id.as_str())),
            ),
        );
    }
    let rows = query
        .order_by_asc(reply::Column::RequestedAt)
        .order_by_asc(reply::Column::ReplyId)
        .limit(u64::from(limit))
        .all(db)
        .await
        .context("reading the replies")?;
    let full = rows.len() as u64 == u64::from(limit);
    let replies: Vec<(String, v1::CaseReply)> =
        rows.into_iter().map(|row| (ReplyCursor::of(&row).token(), to_proto(row))).collect();
    // Bounded in bytes too; a short page that was cut goes on after its last reply.
    let page = tend_kernel::paging::Page { limit: if full { replies.len() as u64 } else { u64::MAX }, after: None };
    let (replies, next_page_token) =
        page.fit_by(replies, |(_, reply)| prost::Message::encoded_len(reply), |(token, _)| token.as_str());
    Ok(v1::ListCaseRepliesResponse { replies: replies.into_iter().map(|(_, reply)| reply).collect(), next_page_token })
}

/// Where a page of a case's replies ends: replies are ordered by when they were requested,
/// then by id (which the caller chose, so not time-ordered).
struct ReplyCursor {
    requested_at: chrono::DateTime<chrono::Utc>,
    reply_id: String,
}

impl ReplyCursor {
    fn of(row: &reply::Model) -> Self {
        Self { requested_at: row.requested_at, reply_id: row.reply_id.clone() }
    }

    /// `<microseconds>.<reply id in hex>`: opaque to callers, safe in any transport.
    fn token(&self) -> String {
        let hex: String = self.reply_id.bytes().map(|byte| format!("{byte:02x}")).collect();
        format!("{}.{hex}", self.requested_at.timestamp_micros())
    }

    fn parse(token: &str) -> Result<Self, ApiError> {
        let bad = || ApiError::invalid("page_token", "is not a token from a previous response");
        let (micros, hex) = token.split_once('.').ok_or_else(bad)?;
        let micros: i64 = micros.parse().map_err(|_| bad())?;
        let requested_at = chrono::DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
        if hex.len() % 2 != 0 || hex.len() > 2 * 256 {
            return Err(bad());
        }
        let bytes: Result<Vec<u8>, _> =
            (0..hex.len()).step_by(2).map(|at| u8::from_str_radix(&hex[at..at + 2], 16)).collect();
        let reply_id = String::from_utf8(bytes.map_err(|_| bad())?).map_err(|_| bad())?;
        Ok(Self { requested_at, reply_id })
    }
}

/// Sets what came of a reply and puts it on the case's timeline, and returns the reply; a
/// reply not made through cases (feedback's) is not ours, and one already settled so is left
/// alone (`None` for both). `actor` is the service that reported it.
#[allow(clippy::too_many_arguments)]
async fn settle<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    actor: &str,
    reply_id: &str,
    status: v1::CaseReplyStatus,
    platform_message_id: &str,
    reason: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<reply::Model>, DbErr> {
    let Some(row) = find(conn, tenant, reply_id).await? else { return Ok(None) };
    if row.status == i32::from(status) {
        return Ok(None);
    }
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
    Ok(Some(active.update(conn).await?))
}

/// Keeps the open promises that `delivered` was sent to keep, each a change of its case made
/// by the agent who sent the reply; returns the events to publish.
async fn keep_promises<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    delivered: &reply::Model,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<v1::CaseEvent>, HandleError> {
    let promises = promises::kept_by_reply(conn, tenant.as_str(), &delivered.reply_id)
        .await
        .context("reading the promises the reply keeps")?;
    let mut events = Vec::with_capacity(promises.len());
    for kept in promises {
        let mut apply = |_: &mut storage::case::Model, seen: &Seen| {
            let open = seen.open_promises.iter().find(|open| open.id == kept.id);
            let note = "kept by the reply";
            Ok(open.map(|open| settle_promise(open, v1::PromiseState::Kept, note, &delivered.reply_id, seen)))
        };
        let attempt = apply_change(conn, tenant, &delivered.requested_by, &kept.case_id, 0, now, &mut apply).await;
        match attempt {
            Ok(Attempt::Changed(event)) => events.push(*event),
            Ok(Attempt::Unchanged(_)) => {}
            // The batch runs again at once, on the case as it now is.
            Ok(Attempt::Lost) => {
                return Err(HandleError::Contended(format!("case {} changed meanwhile", kept.case_id)));
            }
            Err(error) => return Err(HandleError::retry(error)),
        }
    }
    Ok(events)
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

/// Consumes `replies.delivered`: the reply is delivered, and keeps the promise it was sent for.
pub struct Delivered {
    /// The clock the settlements are stamped on.
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl EventHandler for Delivered {
    type Payload = v1::ReplyDelivered;

    async fn handle(
        &self,
        effects: &mut Effects<'_>,
        events: &[&Event<v1::ReplyDelivered>],
    ) -> Result<(), HandleError> {
        let now = self.clock.now();
        for event in events {
            let delivered = &event.payload;
            let settled = settle(
                effects.db(),
                event.tenant.as_str(),
                "ingest",
                &delivered.reply_id,
                v1::CaseReplyStatus::Delivered,
                &delivered.platform_message_id,
                "",
                now,
            )
            .await
            .context("recording the delivery")?;
            crate::notice::count_outcome(effects.db(), event.tenant.as_str(), &delivered.reply_id, true)
                .await
                .context("counting the notice's delivery")?;
            let Some(reply) = settled else { continue };
            for kept in keep_promises(effects.db(), &event.tenant, &reply, now).await? {
                effects.publish(streams::CASES_EVENTS, event, &kept);
            }
        }
        Ok(())
    }
}

/// Consumes `replies.failed`.
pub struct Failed {
    /// The clock the failures are stamped on.
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl EventHandler for Failed {
    type Payload = v1::ReplyFailed;

    async fn handle(&self, effects: &mut Effects<'_>, events: &[&Event<v1::ReplyFailed>]) -> Result<(), HandleError> {
        let now = self.clock.now();
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
                now,
            )
            .await
            .context("recording the failure")?;
            crate::notice::count_outcome(effects.db(), event.tenant.as_str(), &failed.reply_id, false)
                .await
                .context("counting the notice's failure")?;
        }
        Ok(())
    }
}
