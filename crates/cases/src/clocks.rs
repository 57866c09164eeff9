//! SLA clocks, `case_clocks`: the deadlines routing chose for a case (first response,
//! resolution; the next response after each customer message), counted in the business hours
//! they came with. A clock pauses while the case waits for the customer, keeping the business
//! time it had left, and resumes when the case moves on or the customer answers; an agent's
//! reply meets the response clocks, the resolution meets the last. The timers raise warnings and
//! breaches (see `timers`); every change here happens in the caller's transaction.

use chrono::{DateTime, TimeDelta, Utc};
use prost::Message as _;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string, timestamp_with_time_zone, timestamp_with_time_zone_null};
use std::collections::HashMap;
use tend_calendar::Calendar;
use tend_kernel::ids::to_timestamp;
use tend_proto::v1;

use crate::storage::case;

/// The `case_clocks` table.
#[allow(missing_docs)]
pub mod clock {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "case_clocks")]
    pub struct Model {
        /// `{case_id}:{kind}`: one clock of each kind per case.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub case_id: String,
        /// "first_response", "next_response" or "resolution".
        pub kind: String,
        /// "running", "paused" or "stopped".
        pub state: String,
        pub due_at: ChronoDateTimeUtc,
        pub warn_at: Option<ChronoDateTimeUtc>,
        /// Business seconds left to `due_at` (and to `warn_at`) while paused.
        pub remaining_secs: i64,
        pub warn_remaining_secs: Option<i64>,
        pub warned_at: Option<ChronoDateTimeUtc>,
        pub breached_at: Option<ChronoDateTimeUtc>,
        pub met_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

const RUNNING: &str = "running";
const PAUSED: &str = "paused";
const STOPPED: &str = "stopped";
/// The first agent reply.
pub const FIRST_RESPONSE: &str = "first_response";
/// The reply to the customer's latest message.
pub const NEXT_RESPONSE: &str = "next_response";
/// The resolution.
pub const RESOLUTION: &str = "resolution";

/// Creates `case_clocks`.
pub struct CreateClocks;

impl MigrationName for CreateClocks {
    fn name(&self) -> &str {
        "m20261203_000400_create_case_clocks"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateClocks {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("case_clocks")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(string("case_id"))
                    .col(string("kind"))
                    .col(string("state"))
                    .col(timestamp_with_time_zone("due_at"))
                    .col(timestamp_with_time_zone_null("warn_at"))
                    .col(big_integer("remaining_secs"))
                    .col(big_integer("warn_remaining_secs").null())
                    .col(timestamp_with_time_zone_null("warned_at"))
                    .col(timestamp_with_time_zone_null("breached_at"))
                    .col(timestamp_with_time_zone_null("met_at"))
                    .to_owned(),
            )
            .await?;
        let indexes: [(&str, &[&str]); 3] = [
            ("case_clocks_tenant_case", &["tenant", "case_id"]),
            ("case_clocks_state_due", &["state", "due_at"]),
            ("case_clocks_state_warn", &["state", "warn_at"]),
        ];
        tend_store::migration::create_indexes(manager, "case_clocks", &indexes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("case_clocks").if_exists().to_owned()).await
    }
}

/// The SLA deadlines routing put on `row`, if any.
fn deadlines(row: &case::Model) -> Option<v1::SlaDeadlines> {
    let routing = v1::RoutingOutcome::decode(row.routing.as_deref()?).ok()?;
    routing.sla.filter(|sla| !sla.policy.is_empty())
}

/// The business hours `row`'s deadlines count on: those routing sent, or around the clock.
pub fn calendar_of(row: &case::Model) -> Calendar {
    deadlines(row)
        .and_then(|sla| sla.hours)
        .and_then(|hours| tend_calendar::contract::from_business_hours(&hours).ok())
        .unwrap_or_else(Calendar::always)
}

fn time(timestamp: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    tend_kernel::validate::timestamp("", timestamp?).ok()
}

fn new_clock(row: &case::Model, kind: &str, due_at: DateTime<Utc>, warn_at: Option<DateTime<Utc>>) -> clock::Model {
    clock::Model {
        id: format!("{}:{kind}", row.id),
        tenant: row.tenant.clone(),
        case_id: row.id.clone(),
        kind: kind.to_owned(),
        state: RUNNING.to_owned(),
        due_at,
        warn_at,
        remaining_secs: 0,
        warn_remaining_secs: None,
        warned_at: None,
        breached_at: None,
        met_at: None,
    }
}

/// The clocks a new case starts with: first response and resolution, as routing set them.
pub fn for_new_case(row: &case::Model) -> Vec<clock::Model> {
    let Some(sla) = deadlines(row) else { return Vec::new() };
    let mut clocks = Vec::new();
    if let Some(due) = time(sla.first_response_due.as_ref()) {
        clocks.push(new_clock(row, FIRST_RESPONSE, due, time(sla.first_response_warn.as_ref())));
    }
    if let Some(due) = time(sla.resolution_due.as_ref()) {
        clocks.push(new_clock(row, RESOLUTION, due, time(sla.resolution_warn.as_ref())));
    }
    clocks
}

/// Writes `clocks`, new, in one statement.
pub async fn insert<C: ConnectionTrait>(conn: &C, clocks: Vec<clock::Model>) -> Result<(), DbErr> {
    if clocks.is_empty() {
        return Ok(());
    }
    let rows = clocks.into_iter().map(clock::ActiveModel::from);
    clock::Entity::insert_many(rows)
        .on_conflict_do_nothing_on([clock::Column::Id])
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// The clocks of case `case_id`.
pub async fn of_case<C: ConnectionTrait>(conn: &C, tenant: &str, case_id: &str) -> Result<Vec<clock::Model>, DbErr> {
    clock::Entity::find()
        .filter(clock::Column::Tenant.eq(tenant))
        .filter(clock::Column::CaseId.eq(case_id))
        .order_by_asc(clock::Column::Id)
        .all(conn)
        .await
}

/// The clocks of each of `case_ids`, in the contract's terms, in one query.
pub async fn of_cases<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    case_ids: &[&str],
) -> Result<HashMap<String, Vec<v1::SlaClock>>, DbErr> {
    let mut by_case: HashMap<String, Vec<v1::SlaClock>> = HashMap::new();
    if case_ids.is_empty() {
        return Ok(by_case);
    }
    let rows = clock::Entity::find()
        .filter(clock::Column::Tenant.eq(tenant))
        .filter(clock::Column::CaseId.is_in(case_ids.iter().copied()))
        .order_by_asc(clock::Column::Id)
        .all(conn)
        .await?;
    for row in rows {
        by_case.entry(row.case_id.clone()).or_default().push(to_proto(&row));
    }
    Ok(by_case)
}

async fn save<C: ConnectionTrait>(conn: &C, row: clock::Model) -> Result<(), DbErr> {
    tend_store::query::save(conn, clock::ActiveModel::from(row), false).await
}

/// What a change of a case does to its clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// It waits for the customer: running clocks pause.
    Pause,
    /// It stops waiting for the customer: paused clocks resume.
    Resume,
    /// It is resolved or closed: every clock stops (the resolution met).
    Stop,
    /// The customer wrote again: the next-response clock starts (and paused ones resume).
    CustomerWrote,
    /// An agent replied: the response clocks are met.
    AgentReplied,
}

/// The effect on the clocks of a case moving from status `before` to `after`, if any.
pub fn effect_of_move(before: &str, after: &str) -> Option<Effect> {
    use crate::domain::Status;
    let (before, after) = (Status::parse(before)?, Status::parse(after)?);
    if before == after {
        return None;
    }
    if !after.is_active() {
        return before.is_active().then_some(Effect::Stop);
    }
    if after == Status::PendingCustomer {
        return Some(Effect::Pause);
    }
    (before == Status::PendingCustomer).then_some(Effect::Resume)
}

/// Applies `effect` to the clocks of case `row` at `now`.
pub async fn apply<C: ConnectionTrait>(
    conn: &C,
    row: &case::Model,
    effect: Effect,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let clocks = of_case(conn, &row.tenant, &row.id).await?;
    let calendar = calendar_of(row);
    let seconds = |delta: TimeDelta| Ord::max(delta.num_seconds(), 0);
    let mut next_exists = false;
    for mut clock in clocks {
        let before = clock.clone();
        next_exists |= clock.kind == NEXT_RESPONSE;
        match effect {
            Effect::Pause if clock.state == RUNNING => {
                clock.state = PAUSED.to_owned();
                clock.remaining_secs = seconds(calendar.between(now, clock.due_at));
                clock.warn_remaining_secs = clock.warn_at.map(|warn| seconds(calendar.between(now, warn)));
            }
            Effect::Resume | Effect::CustomerWrote if clock.state == PAUSED => {
                clock.state = RUNNING.to_owned();
                let after = |secs: i64| calendar.add(now, TimeDelta::seconds(secs));
                clock.due_at = after(clock.remaining_secs).unwrap_or(clock.due_at);
                clock.warn_at = clock.warn_remaining_secs.and_then(after).or(clock.warn_at);
                clock.remaining_secs = 0;
                clock.warn_remaining_secs = None;
            }
            Effect::Stop if clock.state != STOPPED => {
                if clock.kind == RESOLUTION {
                    clock.met_at = Some(now);
                }
                clock.state = STOPPED.to_owned();
            }
            Effect::AgentReplied if clock.state != STOPPED && clock.kind != RESOLUTION => {
                clock.met_at = Some(now);
                clock.state = STOPPED.to_owned();
            }
            _ => {}
        }
        if effect == Effect::CustomerWrote && clock.kind == NEXT_RESPONSE {
            restart_next(row, &calendar, &mut clock, now);
        }
        if clock != before {
            save(conn, clock).await?;
        }
    }
    if effect == Effect::CustomerWrote && !next_exists {
        let mut clock = new_clock(row, NEXT_RESPONSE, now, None);
        if restart_next(row, &calendar, &mut clock, now) {
            insert(conn, vec![clock]).await?;
        }
    }
    Ok(())
}

/// Starts `clock` (the next-response one) anew from `now`, on the policy's target; false when
/// the policy sets none.
fn restart_next(row: &case::Model, calendar: &Calendar, clock: &mut clock::Model, now: DateTime<Utc>) -> bool {
    let Some(sla) = deadlines(row) else { return false };
    let Some(target) = <i64 as TryFrom<u64>>::try_from(sla.next_response_seconds).ok().filter(|secs| *secs > 0) else {
        return false;
    };
    let percent = i64::from(sla.warn_at_percent.clamp(1, 99));
    let Some(due_at) = calendar.add(now, TimeDelta::seconds(target)) else { return false };
    *clock = clock::Model {
        state: RUNNING.to_owned(),
        due_at,
        warn_at: calendar.add(now, TimeDelta::seconds(target * percent / 100)),
        remaining_secs: 0,
        warn_remaining_secs: None,
        warned_at: None,
        breached_at: None,
        met_at: None,
        ..clock.clone()
    };
    true
}

/// Running clocks of every tenant at their warning point by `now` and not warned yet (or, with
/// `breach`, past due and not breached yet); at most `limit`.
pub async fn falling_due<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    breach: bool,
    limit: u64,
) -> Result<Vec<clock::Model>, DbErr> {
    let query = clock::Entity::find().filter(clock::Column::State.eq(RUNNING));
    let query = if breach {
        query.filter(clock::Column::DueAt.lte(now)).filter(clock::Column::BreachedAt.is_null())
    } else {
        query.filter(clock::Column::WarnAt.lte(now)).filter(clock::Column::WarnedAt.is_null())
    };
    query.order_by_asc(clock::Column::DueAt).limit(limit).all(conn).await
}

/// Marks clock `id` warned (or breached) at `now` if it still runs and was not; false when
/// another sweep or a change came first.
pub async fn mark<C: ConnectionTrait>(conn: &C, id: &str, now: DateTime<Utc>, breach: bool) -> Result<bool, DbErr> {
    let column = if breach { clock::Column::BreachedAt } else { clock::Column::WarnedAt };
    let updated = clock::Entity::update_many()
        .col_expr(column, Expr::value(now))
        .filter(clock::Column::Id.eq(id))
        .filter(clock::Column::State.eq(RUNNING))
        .filter(column.is_null())
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// The ids of `tenant`'s cases with a clock as `filter` asks (a subquery), or `None` for any.
pub fn cases_where(tenant: &str, filter: v1::SlaFilter) -> Option<sea_orm::sea_query::SelectStatement> {
    use sea_orm::sea_query::Query;
    let not_stopped = clock::Column::State.ne(STOPPED);
    let condition = match filter {
        v1::SlaFilter::Unspecified => return None,
        v1::SlaFilter::AtRisk => {
            not_stopped.and(clock::Column::WarnedAt.is_not_null()).and(clock::Column::BreachedAt.is_null())
        }
        v1::SlaFilter::Breached => not_stopped.and(clock::Column::BreachedAt.is_not_null()),
        v1::SlaFilter::Paused => clock::Column::State.eq(PAUSED),
    };
    Some(
        Query::select()
            .column(clock::Column::CaseId)
            .from(clock::Entity)
            .and_where(clock::Column::Tenant.eq(tenant))
            .and_where(condition)
            .to_owned(),
    )
}

/// A clock in the contract's terms.
pub fn to_proto(row: &clock::Model) -> v1::SlaClock {
    let kind = match row.kind.as_str() {
        FIRST_RESPONSE => v1::SlaClockKind::FirstResponse,
        NEXT_RESPONSE => v1::SlaClockKind::NextResponse,
        RESOLUTION => v1::SlaClockKind::Resolution,
        _ => v1::SlaClockKind::Unspecified,
    };
    let state = match row.state.as_str() {
        RUNNING => v1::SlaClockState::Running,
        PAUSED => v1::SlaClockState::Paused,
        STOPPED => v1::SlaClockState::Stopped,
        _ => v1::SlaClockState::Unspecified,
    };
    v1::SlaClock {
        kind: kind.into(),
        state: state.into(),
        due_at: Some(to_timestamp(row.due_at)),
        warn_at: row.warn_at.map(to_timestamp),
        remaining_seconds: <u64 as TryFrom<i64>>::try_from(row.remaining_secs).unwrap_or(0),
        warned_at: row.warned_at.map(to_timestamp),
        breached_at: row.breached_at.map(to_timestamp),
        met_at: row.met_at.map(to_timestamp),
    }
}
