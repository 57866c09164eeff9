//! The queue's work items (`routing_work_items`): routing's copy of every case it may hand to an
//! agent, kept from `cases.events`, with who holds it (an open offer, an accepted one).
//!
//! A row is written by two hands that never undo each other: the projection of the case (its
//! status, assignee, requirements, priority, deadline), applied only when the event's case
//! version is newer than the row's, so events arriving twice or out of order change nothing;
//! and the hold (offer, acceptance), changed only by conditional updates, so two dispatchers
//! can never hold one item and an agent is never held past capacity (see [`hold`]).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{BinOper, Expr, ExprTrait as _, LikeExpr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use super::agents::agent;

/// `routing_work_items`: one row per case of the tenant that routing has seen.
#[allow(missing_docs)]
pub mod item {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "routing_work_items")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub case_id: String,
        /// The case's version the projection holds.
        pub case_version: i64,
        /// A `tend.v1.CaseStatus` number.
        pub status: i32,
        /// The case's assignee; empty while unassigned.
        pub assignee: String,
        pub queue: String,
        /// A `tend.v1.Channel` number.
        pub channel: i32,
        pub language: String,
        /// Required skills as `name:level,name:level`, sorted by name.
        pub skills: String,
        pub priority: i32,
        /// When the first response is due, while it is.
        pub due_at: Option<ChronoDateTimeUtc>,
        pub waiting_since: ChronoDateTimeUtc,
        /// The agent holding it (an offer or an acceptance); empty when none.
        pub held_by: String,
        /// [`super::OFFERED`], [`super::ACCEPTED`] or empty.
        pub hold: String,
        /// The open (or accepted) offer's id; empty without one.
        pub offer_id: String,
        pub held_at: Option<ChronoDateTimeUtc>,
        /// Until when an offer may be accepted.
        pub hold_until: Option<ChronoDateTimeUtc>,
        /// Agents who declined it or let an offer of it expire, as `,a,b,`: not offered it again.
        pub passed_by: String,
        /// How far its skill requirements were relaxed for waiting long (`tend.v1.Relaxation`).
        pub relaxed: i32,
        /// The queue it overflowed to for waiting long; empty if it did not (then `queue`).
        pub overflowed_to: String,
        /// When the row last changed (the dispatcher reads changes from it).
        pub updated_at: ChronoDateTimeUtc,
        /// The case's topics, as ",a,b," ("" for none): hot ones prefer experts.
        pub topics: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The hold of an offer made and not yet answered.
pub const OFFERED: &str = "offered";
/// The hold of an accepted offer (or a pull) until cases confirms the assignment.
pub const ACCEPTED: &str = "accepted";

/// Case statuses (`tend.v1.CaseStatus`) in which an unassigned case waits for an agent.
pub const WAITING_STATUSES: [i32; 3] = [
    tend_proto::v1::CaseStatus::New as i32,
    tend_proto::v1::CaseStatus::Open as i32,
    tend_proto::v1::CaseStatus::Reopened as i32,
];
/// Case statuses that no longer count on anyone's load.
pub const ENDED_STATUSES: [i32; 2] =
    [tend_proto::v1::CaseStatus::Resolved as i32, tend_proto::v1::CaseStatus::Closed as i32];

/// The projection's columns: what a newer case version overwrites. The hold's columns are not
/// among them; a case that stops waiting drops its hold (see [`project`]).
const PROJECTED: [item::Column; 12] = [
    item::Column::Topics,
    item::Column::CaseVersion,
    item::Column::Status,
    item::Column::Assignee,
    item::Column::Queue,
    item::Column::Channel,
    item::Column::Language,
    item::Column::Skills,
    item::Column::Priority,
    item::Column::DueAt,
    item::Column::WaitingSince,
    item::Column::UpdatedAt,
];

/// The queue an item waits in now: where it overflowed to, else routing's choice.
fn queue_now() -> Expr {
    Expr::case(item::Column::OverflowedTo.ne(""), Expr::col(item::Column::OverflowedTo))
        .finally(Expr::col(item::Column::Queue))
        .into()
}

/// Rows per statement (bound parameters are limited per statement on both backends).
const ROWS_PER_STATEMENT: usize = 500;

/// Applies case versions to the projection: inserts the cases not seen yet and updates those
/// whose stored version is older. Of several rows for one case, the newest version counts.
///
/// A case that is assigned, or in a status where it waits for nobody, drops any hold: an open
/// offer of it is void (its agent's load drops), and an accepted one is done once cases shows
/// the assignment. Returns the holds dropped, for their offers to be withdrawn.
pub async fn project<C: ConnectionTrait>(conn: &C, mut rows: Vec<item::Model>) -> Result<Vec<item::Model>, DbErr> {
    rows.sort_by(|a, b| (&a.tenant, &a.case_id, b.case_version).cmp(&(&b.tenant, &b.case_id, a.case_version)));
    rows.dedup_by(|later, kept| later.tenant == kept.tenant && later.case_id == kept.case_id);
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // The holds this change drops: read first (the rows are few and keyed), so the offers can
    // be withdrawn in the same transaction.
    let mut dropped = Vec::new();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let stops_waiting: Vec<(String, String)> = chunk
            .iter()
            .filter(|row| !row.assignee.is_empty() || !WAITING_STATUSES.contains(&row.status))
            .map(|row| (row.tenant.clone(), row.case_id.clone()))
            .collect();
        if !stops_waiting.is_empty() {
            let held = held_among(conn, &stops_waiting).await?;
            dropped.extend(held.into_iter().filter(|held| {
                chunk.iter().any(|row| {
                    row.tenant == held.tenant && row.case_id == held.case_id && row.case_version > held.case_version
                })
            }));
        }
    }
    let drops_hold =
        Expr::col((EXCLUDED, item::Column::Assignee))
            .ne("")
            .or(Expr::col((EXCLUDED, item::Column::Status)).is_not_in(WAITING_STATUSES));
    let kept = |column: item::Column, cleared: sea_orm::Value| -> Expr {
        Expr::case(drops_hold.clone(), Expr::val(cleared)).finally(Expr::col((item::Entity, column))).into()
    };
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut on_conflict = OnConflict::columns([item::Column::Tenant, item::Column::CaseId]);
        on_conflict.update_columns(PROJECTED);
        on_conflict.value(item::Column::HeldBy, kept(item::Column::HeldBy, "".into()));
        on_conflict.value(item::Column::Hold, kept(item::Column::Hold, "".into()));
        on_conflict.value(item::Column::OfferId, kept(item::Column::OfferId, "".into()));
        on_conflict.value(item::Column::HeldAt, kept(item::Column::HeldAt, sea_orm::Value::ChronoDateTimeUtc(None)));
        on_conflict
            .value(item::Column::HoldUntil, kept(item::Column::HoldUntil, sea_orm::Value::ChronoDateTimeUtc(None)));
        on_conflict.action_and_where(
            Expr::col((EXCLUDED, item::Column::CaseVersion)).gt(Expr::col((item::Entity, item::Column::CaseVersion))),
        );
        let models = chunk.iter().cloned().map(item::ActiveModel::from);
        match item::Entity::insert_many(models).on_conflict(on_conflict).exec_without_returning(conn).await {
            Ok(_) | Err(DbErr::RecordNotInserted) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(dropped)
}

/// `excluded`: the row an `INSERT … ON CONFLICT DO UPDATE` would have inserted.
#[derive(Clone, Copy)]
struct Excluded;

impl sea_orm::sea_query::Iden for Excluded {
    fn unquoted(&self) -> &str {
        "excluded"
    }
}

const EXCLUDED: Excluded = Excluded;

/// The rows among `keys` that someone holds.
async fn held_among<C: ConnectionTrait>(conn: &C, keys: &[(String, String)]) -> Result<Vec<item::Model>, DbErr> {
    let mut held = Vec::new();
    let mut by_tenant: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    for (tenant, case_id) in keys {
        by_tenant.entry(tenant).or_default().push(case_id);
    }
    for (tenant, case_ids) in by_tenant {
        held.extend(
            item::Entity::find()
                .filter(item::Column::Tenant.eq(tenant))
                .filter(item::Column::CaseId.is_in(case_ids))
                .filter(item::Column::HeldBy.ne(""))
                .all(conn)
                .await?,
        );
    }
    Ok(held)
}

/// One item.
pub async fn find<C: ConnectionTrait>(conn: &C, tenant: &str, case_id: &str) -> Result<Option<item::Model>, DbErr> {
    item::Entity::find_by_id((tenant.to_owned(), case_id.to_owned())).one(conn).await
}

/// The item an agent's offer is about, if the offer is open or accepted.
pub async fn by_offer<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    agent: &str,
    offer_id: &str,
) -> Result<Option<item::Model>, DbErr> {
    item::Entity::find()
        .filter(item::Column::Tenant.eq(tenant))
        .filter(item::Column::HeldBy.eq(agent))
        .filter(item::Column::OfferId.eq(offer_id))
        .one(conn)
        .await
}

/// The agent's open offers, oldest first.
pub async fn open_offers<C: ConnectionTrait>(conn: &C, tenant: &str, agent: &str) -> Result<Vec<item::Model>, DbErr> {
    item::Entity::find()
        .filter(item::Column::Tenant.eq(tenant))
        .filter(item::Column::HeldBy.eq(agent))
        .filter(item::Column::Hold.eq(OFFERED))
        .order_by_asc(item::Column::HeldAt)
        .all(conn)
        .await
}

/// How many active cases of `channel` the agent has or holds: their load on it.
pub async fn load<C: ConnectionTrait>(conn: &C, tenant: &str, agent: &str, channel: i32) -> Result<u64, DbErr> {
    item::Entity::find()
        .filter(item::Column::Tenant.eq(tenant))
        .filter(item::Column::Channel.eq(channel))
        .filter(item::Column::Assignee.eq(agent).or(item::Column::HeldBy.eq(agent)))
        .filter(item::Column::Status.is_not_in(ENDED_STATUSES))
        .count(conn)
        .await
}

/// A hold to take on an item for an agent.
#[derive(Clone, Debug)]
pub struct Hold<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The item's case.
    pub case_id: &'a str,
    /// The agent who is to hold it.
    pub agent: &'a str,
    /// [`OFFERED`] or [`ACCEPTED`].
    pub kind: &'static str,
    /// The offer's id (a pull has one too: it names the assignment).
    pub offer_id: &'a str,
    /// Until when an offer may be accepted; `None` for an acceptance.
    pub until: Option<DateTime<Utc>>,
    /// Now.
    pub now: DateTime<Utc>,
}

/// What came of trying to hold an item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Held {
    /// The agent holds it: here it is, held.
    Taken(Box<item::Model>),
    /// The item does not wait any more (someone holds it, it was assigned or ended), or the
    /// agent passed on it.
    Gone,
    /// The agent has no room for the item's channel (or no such channel, or is no more).
    NoRoom,
}

/// Holds an item for an agent, if it still waits and the agent has room for it; run it in a
/// transaction.
///
/// The agent's row is locked first (an update that changes nothing), so two holds for one
/// agent, from any replica, count the load one after the other and can't both take the last
/// place; the item changes only if nobody holds it, nobody has it and it still waits, so two
/// holds of one item can't both succeed.
///
/// `capacity` says how many cases of a channel the (locked) agent takes at once, 0 when none
/// now (their presence, say).
pub async fn hold<C: ConnectionTrait>(
    conn: &C,
    hold: &Hold<'_>,
    capacity: impl Fn(&agent::Model, i32) -> u32,
) -> Result<Held, DbErr> {
    let locked = agent::Entity::update_many()
        .col_expr(agent::Column::Presence, Expr::col(agent::Column::Presence))
        .filter(agent::Column::Tenant.eq(hold.tenant))
        .filter(agent::Column::Id.eq(hold.agent))
        .exec(conn)
        .await?;
    let agent = match locked.rows_affected {
        0 => None,
        _ => agent::Entity::find_by_id((hold.tenant.to_owned(), hold.agent.to_owned())).one(conn).await?,
    };
    let Some(agent) = agent else { return Ok(Held::NoRoom) };
    let Some(row) = find(conn, hold.tenant, hold.case_id).await? else { return Ok(Held::Gone) };
    let room = u64::from(capacity(&agent, row.channel));
    if room == 0 || load(conn, hold.tenant, hold.agent, row.channel).await? >= room {
        return Ok(Held::NoRoom);
    }
    let updated = item::Entity::update_many()
        .col_expr(item::Column::HeldBy, Expr::value(hold.agent))
        .col_expr(item::Column::Hold, Expr::value(hold.kind))
        .col_expr(item::Column::OfferId, Expr::value(hold.offer_id))
        .col_expr(item::Column::HeldAt, Expr::value(hold.now))
        .col_expr(item::Column::HoldUntil, Expr::value(hold.until))
        .col_expr(item::Column::UpdatedAt, Expr::value(hold.now))
        .filter(item::Column::Tenant.eq(hold.tenant))
        .filter(item::Column::CaseId.eq(hold.case_id))
        .filter(item::Column::HeldBy.eq(""))
        .filter(item::Column::Assignee.eq(""))
        .filter(item::Column::Status.is_in(WAITING_STATUSES))
        .filter(Expr::col(item::Column::PassedBy).not_like(passed_pattern(hold.agent)))
        .exec(conn)
        .await?;
    if updated.rows_affected == 0 {
        return Ok(Held::Gone);
    }
    Ok(Held::Taken(Box::new(item::Model {
        held_by: hold.agent.to_owned(),
        hold: hold.kind.to_owned(),
        offer_id: hold.offer_id.to_owned(),
        held_at: Some(hold.now),
        hold_until: hold.until,
        updated_at: hold.now,
        ..row
    })))
}

/// Matches a `passed_by` holding `agent` (whose "_" would be a LIKE wildcard unescaped).
fn passed_pattern(agent: &str) -> LikeExpr {
    let escaped = agent.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    LikeExpr::new(format!("%,{escaped},%")).escape('\\')
}

/// Turns the agent's open offer `offer_id` into an acceptance; false when it is not open (any
/// more) or not theirs.
pub async fn accept<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    agent: &str,
    offer_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let updated = item::Entity::update_many()
        .col_expr(item::Column::Hold, Expr::value(ACCEPTED))
        .col_expr(item::Column::HeldAt, Expr::value(now))
        .col_expr(item::Column::HoldUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(item::Column::UpdatedAt, Expr::value(now))
        .filter(item::Column::Tenant.eq(tenant))
        .filter(item::Column::HeldBy.eq(agent))
        .filter(item::Column::OfferId.eq(offer_id))
        .filter(item::Column::Hold.eq(OFFERED))
        .filter(item::Column::HoldUntil.gt(now))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Drops the hold `offer_id` of `agent` if it is of `kind` ([`OFFERED`]: declined or expired;
/// [`ACCEPTED`]: refused by cases); with `passed`, the item is not offered to the agent again.
/// False when there was no such hold.
pub async fn release<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    agent: &str,
    offer_id: &str,
    kind: &str,
    passed: bool,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let mut update = item::Entity::update_many()
        .col_expr(item::Column::HeldBy, Expr::value(""))
        .col_expr(item::Column::Hold, Expr::value(""))
        .col_expr(item::Column::OfferId, Expr::value(""))
        .col_expr(item::Column::HeldAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(item::Column::HoldUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(item::Column::UpdatedAt, Expr::value(now));
    if passed {
        update = update.col_expr(
            item::Column::PassedBy,
            Expr::col(item::Column::PassedBy).binary(BinOper::Custom("||"), Expr::value(format!("{agent},"))),
        );
    }
    let updated = update
        .filter(item::Column::Tenant.eq(tenant))
        .filter(item::Column::HeldBy.eq(agent))
        .filter(item::Column::OfferId.eq(offer_id))
        .filter(item::Column::Hold.eq(kind))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Offers open past their time, oldest first, at most `limit`, across tenants.
pub async fn expired_offers<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<item::Model>, DbErr> {
    item::Entity::find()
        .filter(item::Column::Hold.eq(OFFERED))
        .filter(item::Column::HoldUntil.lte(now))
        .order_by_asc(item::Column::HoldUntil)
        .limit(limit)
        .all(conn)
        .await
}

/// Acceptances that cases has not confirmed since `before`, oldest first, at most `limit`,
/// across tenants.
pub async fn unconfirmed<C: ConnectionTrait>(
    conn: &C,
    before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<item::Model>, DbErr> {
    item::Entity::find()
        .filter(item::Column::Hold.eq(ACCEPTED))
        .filter(item::Column::HeldAt.lte(before))
        .order_by_asc(item::Column::HeldAt)
        .limit(limit)
        .all(conn)
        .await
}

/// Where a reading of changed rows stands: the last row read, in `(updated_at, tenant,
/// case_id)` order.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mark {
    /// The row's change time.
    pub updated_at: DateTime<Utc>,
    /// Its tenant.
    pub tenant: String,
    /// Its case.
    pub case_id: String,
}

/// Up to `limit` rows of `tenants` changed after `after` (all from the start without it), in
/// `(updated_at, tenant, case_id)` order; with `active_only`, only cases that have not ended.
pub async fn changed<C: ConnectionTrait>(
    conn: &C,
    tenants: &[String],
    after: Option<&Mark>,
    active_only: bool,
    limit: u64,
) -> Result<Vec<item::Model>, DbErr> {
    if tenants.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = item::Entity::find().filter(item::Column::Tenant.is_in(tenants.iter().map(String::as_str)));
    if let Some(after) = after {
        query = query.filter(item::Column::UpdatedAt.gt(after.updated_at).or(
            item::Column::UpdatedAt.eq(after.updated_at).and(item::Column::Tenant.gt(after.tenant.as_str()).or(
                item::Column::Tenant.eq(after.tenant.as_str()).and(item::Column::CaseId.gt(after.case_id.as_str())),
            )),
        ));
    }
    if active_only {
        query = query.filter(item::Column::Status.is_not_in(ENDED_STATUSES));
    }
    query
        .order_by_asc(item::Column::UpdatedAt)
        .order_by_asc(item::Column::Tenant)
        .order_by_asc(item::Column::CaseId)
        .limit(limit)
        .all(conn)
        .await
}

/// What a pull may take: items of these queues and channels, in these languages (or none).
#[derive(Clone, Copy, Debug)]
pub struct Fit<'a> {
    /// The queues the agent serves.
    pub queues: &'a [String],
    /// The channels they have room for.
    pub channels: &'a [i32],
    /// The languages they answer in.
    pub languages: &'a [String],
}

/// The best waiting items of one tenant that `fit` (skills are checked by the caller), at
/// most `limit`, in the queue's order at `now`: first those due within `risk_window` by
/// deadline, then by priority and age.
pub async fn best_waiting<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    fit: Fit<'_>,
    now: DateTime<Utc>,
    risk_window: chrono::Duration,
    limit: u64,
) -> Result<Vec<item::Model>, DbErr> {
    let Fit { queues, channels, languages } = fit;
    let at_risk = item::Column::DueAt.lte(now + risk_window);
    let risk_first: Expr = Expr::case(at_risk.clone(), 0).finally(1).into();
    let by_deadline: Expr =
        Expr::case(at_risk, Expr::col(item::Column::DueAt)).finally(Expr::val(Option::<DateTime<Utc>>::None)).into();
    let mut language = item::Column::Language.eq("");
    if !languages.is_empty() {
        language = language.or(item::Column::Language.is_in(languages.iter().map(String::as_str)));
    }
    item::Entity::find()
        .filter(item::Column::Tenant.eq(tenant))
        .filter(item::Column::HeldBy.eq(""))
        .filter(item::Column::Assignee.eq(""))
        .filter(item::Column::Status.is_in(WAITING_STATUSES))
        .filter(queue_now().is_in(queues.iter().map(String::as_str)))
        .filter(item::Column::Channel.is_in(channels.iter().copied()))
        .filter(language)
        .order_by_asc(risk_first)
        .order_by_asc(by_deadline)
        .order_by_desc(item::Column::Priority)
        .order_by_asc(item::Column::WaitingSince)
        .limit(limit)
        .all(conn)
        .await
}

/// One queue's counts, as [`depths`] reads them.
#[derive(Clone, Debug, Default, PartialEq, sea_orm::FromQueryResult)]
pub struct Depth {
    /// The queue (where the cases wait now).
    pub queue_now: String,
    /// Cases waiting (nobody has or holds them).
    pub waiting: i64,
    /// Since when the oldest of them waits.
    pub oldest: Option<DateTime<Utc>>,
    /// Waiting, priority 0-19 … 80-100.
    pub band0: i64,
    #[allow(missing_docs)]
    pub band1: i64,
    #[allow(missing_docs)]
    pub band2: i64,
    #[allow(missing_docs)]
    pub band3: i64,
    #[allow(missing_docs)]
    pub band4: i64,
    /// Waiting, due within the risk window.
    pub at_risk: i64,
    /// Waiting, past due.
    pub breached: i64,
    /// Offered, not answered yet.
    pub offered: i64,
    /// Had by an agent (assigned, or accepted).
    pub assigned: i64,
}

/// Per queue of `tenant` with active cases (only `queue` if given), what waits, is offered and
/// is had, at `now`: one aggregate over the tenant's active items.
pub async fn depths<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    queue: Option<&str>,
    now: DateTime<Utc>,
    risk_window: chrono::Duration,
) -> Result<Vec<Depth>, DbErr> {
    use sea_orm::sea_query::{Func, SimpleExpr};
    let waiting = || {
        item::Column::Assignee.eq("").and(item::Column::HeldBy.eq("")).and(item::Column::Status.is_in(WAITING_STATUSES))
    };
    let count = |condition: SimpleExpr| Func::sum(Expr::case(condition, 1).finally(0));
    let band = |low: i32, high: i32| {
        count(waiting().and(item::Column::Priority.gte(low)).and(item::Column::Priority.lt(high)))
    };
    let mut query = item::Entity::find()
        .select_only()
        .expr_as(queue_now(), "queue_now")
        .expr_as(count(waiting()), "waiting")
        .expr_as(
            Func::min(
                Expr::case(waiting(), Expr::col(item::Column::WaitingSince))
                    .finally(Expr::val(Option::<DateTime<Utc>>::None)),
            ),
            "oldest",
        )
        .expr_as(band(0, 20), "band0")
        .expr_as(band(20, 40), "band1")
        .expr_as(band(40, 60), "band2")
        .expr_as(band(60, 80), "band3")
        .expr_as(band(80, 1_000), "band4")
        .expr_as(count(waiting().and(item::Column::DueAt.lte(now + risk_window))), "at_risk")
        .expr_as(count(waiting().and(item::Column::DueAt.lte(now))), "breached")
        .expr_as(count(item::Column::Hold.eq(OFFERED).and(item::Column::Assignee.eq(""))), "offered")
        .expr_as(count(item::Column::Assignee.ne("").or(item::Column::Hold.eq(ACCEPTED))), "assigned")
        .filter(item::Column::Tenant.eq(tenant))
        .filter(item::Column::Status.is_not_in(ENDED_STATUSES));
    if let Some(queue) = queue {
        query = query.filter(queue_now().eq(queue));
    }
    // Grouped by the alias: PostgreSQL would not match the expression, its parameters bound twice.
    let by_queue = || Expr::cust("queue_now");
    query.group_by(by_queue()).order_by_asc(by_queue()).into_model::<Depth>().all(conn).await
}

/// Per agent of `tenant`, how many active cases they have or hold (all channels).
pub async fn loads<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Vec<(String, i64)>, DbErr> {
    let active = || {
        item::Entity::find()
            .filter(item::Column::Tenant.eq(tenant))
            .filter(item::Column::Status.is_not_in(ENDED_STATUSES))
    };
    let assigned: Vec<(String, i64)> = active()
        .select_only()
        .column(item::Column::Assignee)
        .column_as(item::Column::CaseId.count(), "count")
        .filter(item::Column::Assignee.ne(""))
        .group_by(item::Column::Assignee)
        .into_tuple()
        .all(conn)
        .await?;
    let held: Vec<(String, i64)> = active()
        .select_only()
        .column(item::Column::HeldBy)
        .column_as(item::Column::CaseId.count(), "count")
        .filter(item::Column::Assignee.eq(""))
        .filter(item::Column::HeldBy.ne(""))
        .group_by(item::Column::HeldBy)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(assigned.into_iter().chain(held).collect())
}

/// Deletes up to `limit` items whose case ended before `before`: kept that long so that an
/// old event of theirs, redelivered, finds a newer version and changes nothing.
pub async fn prune_ended<C: ConnectionTrait>(conn: &C, before: DateTime<Utc>, limit: u64) -> Result<u64, DbErr> {
    let keys: Vec<(String, String)> = item::Entity::find()
        .select_only()
        .column(item::Column::Tenant)
        .column(item::Column::CaseId)
        .filter(item::Column::Status.is_in(ENDED_STATUSES))
        .filter(item::Column::UpdatedAt.lt(before))
        .order_by_asc(item::Column::Tenant)
        .limit(limit)
        .into_tuple()
        .all(conn)
        .await?;
    let mut deleted = 0;
    for (tenant, case_ids) in keys
        .chunk_by(|a, b| a.0 == b.0)
        .map(|chunk| (chunk[0].0.clone(), chunk.iter().map(|key| key.1.clone()).collect::<Vec<_>>()))
    {
        deleted += item::Entity::delete_many()
            .filter(item::Column::Tenant.eq(tenant))
            .filter(item::Column::CaseId.is_in(case_ids))
            .filter(item::Column::Status.is_in(ENDED_STATUSES))
            .exec(conn)
            .await?
            .rows_affected;
    }
    Ok(deleted)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use prost::Message as _;
    use sea_orm::{DatabaseConnection, TransactionTrait as _};
    use tend_proto::v1;
    use tend_store::testing::{Backend, TestStore};

    use super::*;
    use crate::storage::Migrator;

    async fn database(backend: Backend) -> (TestStore, DatabaseConnection) {
        let store = TestStore::create(backend).await;
        let db = store.connect::<Migrator>("routing").await;
        (store, db)
    }

    fn case(id: &str, version: i64, status: v1::CaseStatus, assignee: &str) -> item::Model {
        let case = v1::Case {
            id: id.into(),
            version: u64::try_from(version).unwrap(),
            status: status.into(),
            assignee: assignee.into(),
            channel: v1::Channel::X.into(),
            priority: 50,
            ..Default::default()
        };
        crate::work::item_of("acme", &case, Utc::now())
    }

    async fn agent(db: &DatabaseConnection, id: &str, x: u32) {
        let definition = v1::Agent {
            id: id.into(),
            capacity: vec![v1::ChannelCapacity { channel: v1::Channel::X.into(), max: x }],
            ..Default::default()
        };
        let mut row = crate::agents::agent_row("acme", &definition, None, Utc::now());
        row.presence = v1::Presence::Available.into();
        crate::storage::agents::save(db, row, true).await.unwrap();
    }

    fn x_capacity(agent: &agent::Model, channel: i32) -> u32 {
        let definition = v1::Agent::decode(agent.body.as_slice()).unwrap();
        definition.capacity.iter().find(|capacity| capacity.channel == channel).map_or(0, |capacity| capacity.max)
    }

    async fn take(db: &DatabaseConnection, case_id: &str, agent: &str) -> Held {
        let txn = db.begin().await.unwrap();
        let offer_id = tend_kernel::ids::new_id();
        let hold =
            Hold { tenant: "acme", case_id, agent, kind: OFFERED, offer_id: &offer_id, until: None, now: Utc::now() };
        let held = super::hold(&txn, &hold, x_capacity).await.unwrap();
        txn.commit().await.unwrap();
        held
    }

    async fn only_newer_case_versions_change_an_item(backend: Backend) {
        let (store, db) = database(backend).await;
        project(&db, vec![case("c1", 2, v1::CaseStatus::New, "")]).await.unwrap();
        // An older version, redelivered late, changes nothing; of two in one batch the newer wins.
        project(&db, vec![case("c1", 1, v1::CaseStatus::Resolved, "")]).await.unwrap();
        assert_eq!(find(&db, "acme", "c1").await.unwrap().unwrap().status, i32::from(v1::CaseStatus::New));
        project(&db, vec![case("c1", 4, v1::CaseStatus::Open, "ana"), case("c1", 3, v1::CaseStatus::Resolved, "")])
            .await
            .unwrap();
        let row = find(&db, "acme", "c1").await.unwrap().unwrap();
        assert_eq!((row.case_version, row.assignee.as_str()), (4, "ana"));
        store.cleanup().await;
    }

    async fn a_hold_takes_a_waiting_item_once_and_never_past_capacity(backend: Backend) {
        let (store, db) = database(backend).await;
        agent(&db, "ana", 1).await;
        agent(&db, "ben", 2).await;
        project(&db, vec![case("c1", 1, v1::CaseStatus::New, ""), case("c2", 1, v1::CaseStatus::New, "")])
            .await
            .unwrap();
        assert!(matches!(take(&db, "c1", "ana").await, Held::Taken(_)));
        assert_eq!(take(&db, "c1", "ben").await, Held::Gone, "held already");
        assert_eq!(take(&db, "c2", "ana").await, Held::NoRoom, "ana takes one X post at once");
        assert_eq!(take(&db, "c2", "nobody").await, Held::NoRoom);
        assert_eq!(load(&db, "acme", "ana", v1::Channel::X.into()).await.unwrap(), 1);

        // Assigned by hand: the hold goes with the newer version, and is reported.
        let dropped = project(&db, vec![case("c1", 2, v1::CaseStatus::Open, "carol")]).await.unwrap();
        assert_eq!(dropped.iter().map(|row| row.held_by.as_str()).collect::<Vec<_>>(), ["ana"]);
        let row = find(&db, "acme", "c1").await.unwrap().unwrap();
        assert_eq!((row.held_by.as_str(), row.hold.as_str()), ("", ""));
        assert_eq!(load(&db, "acme", "ana", v1::Channel::X.into()).await.unwrap(), 0);

        // A decline passes the item on: never held by that agent again.
        let Held::Taken(held) = take(&db, "c2", "ana").await else { panic!("c2 waits") };
        assert!(release(&db, "acme", "ana", &held.offer_id, OFFERED, true, Utc::now()).await.unwrap());
        assert_eq!(take(&db, "c2", "ana").await, Held::Gone);
        assert!(matches!(take(&db, "c2", "ben").await, Held::Taken(_)));
        store.cleanup().await;
    }

    async fn the_items_of_long_ended_cases_are_pruned(backend: Backend) {
        let (store, db) = database(backend).await;
        let mut ended = case("old", 3, v1::CaseStatus::Closed, "");
        ended.updated_at = Utc::now() - chrono::Duration::days(8);
        project(
            &db,
            vec![ended, case("open", 1, v1::CaseStatus::New, ""), case("done", 2, v1::CaseStatus::Resolved, "")],
        )
        .await
        .unwrap();
        assert_eq!(prune_ended(&db, Utc::now() - chrono::Duration::days(7), 100).await.unwrap(), 1);
        assert!(find(&db, "acme", "old").await.unwrap().is_none());
        assert!(find(&db, "acme", "open").await.unwrap().is_some());
        assert!(find(&db, "acme", "done").await.unwrap().is_some(), "ended lately: kept");
        store.cleanup().await;
    }

    tend_store::on_both_backends!(
        only_newer_case_versions_change_an_item,
        a_hold_takes_a_waiting_item_once_and_never_past_capacity,
        the_items_of_long_ended_cases_are_pruned,
    );
}

/// What a queue's policy does to the cases that wait in it too long, as [`relax`] applies it.
#[derive(Clone, Debug)]
pub struct Relax<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The queue the cases wait in now.
    pub queue: &'a str,
    /// Relax to this step (a `tend.v1.Relaxation` number) the cases waiting since before
    /// `waited_since`, if they are not that far yet.
    pub step: Option<(i32, DateTime<Utc>)>,
    /// Move to this queue the cases waiting since before the time, if they never overflowed.
    pub overflow: Option<(&'a str, DateTime<Utc>)>,
    /// Now.
    pub now: DateTime<Utc>,
}

/// Relaxes or moves the waiting cases of one queue that waited long enough, in one statement
/// each; returns how many changed (the dispatcher reads them back as changes).
pub async fn relax<C: ConnectionTrait>(conn: &C, relax: &Relax<'_>) -> Result<u64, DbErr> {
    let waiting_in_queue = || {
        item::Entity::update_many()
            .filter(item::Column::Tenant.eq(relax.tenant))
            .filter(queue_now().eq(relax.queue))
            .filter(item::Column::Assignee.eq(""))
            .filter(item::Column::HeldBy.eq(""))
            .filter(item::Column::Status.is_in(WAITING_STATUSES))
            .col_expr(item::Column::UpdatedAt, Expr::value(relax.now))
    };
    let mut changed = 0;
    if let Some((step, waited_since)) = relax.step {
        changed += waiting_in_queue()
            .col_expr(item::Column::Relaxed, Expr::value(step))
            .filter(item::Column::Relaxed.lt(step))
            .filter(item::Column::Skills.ne(""))
            .filter(item::Column::WaitingSince.lte(waited_since))
            .exec(conn)
            .await?
            .rows_affected;
    }
    if let Some((to, waited_since)) = relax.overflow {
        changed += waiting_in_queue()
            .col_expr(item::Column::OverflowedTo, Expr::value(to))
            .filter(item::Column::OverflowedTo.eq(""))
            .filter(item::Column::WaitingSince.lte(waited_since))
            .exec(conn)
            .await?
            .rows_affected;
    }
    Ok(changed)
}
