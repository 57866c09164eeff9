//! Promises to come back to the customer, `case_promises`: made on a case, owned by whoever
//! has the case, kept by a delivered reply or by hand, released only with a reason, and watched
//! by the timers (due soon, overdue). Changes to them go through the lifecycle, so each is one
//! transaction with the case's version, its timeline and its event.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{integer, string, text, timestamp_with_time_zone, timestamp_with_time_zone_null};
use tend_kernel::ApiError;
use tend_kernel::ids::to_timestamp;
use tend_kernel::paging::Page;
use tend_proto::v1;

use crate::domain::erased_unless_empty;

/// Longest `what` of a promise, in bytes.
pub const MAX_WHAT: usize = 2000;
/// Most open promises on one case.
pub const MAX_OPEN_PER_CASE: usize = 20;
/// Furthest ahead a promise may fall due.
pub const MAX_AHEAD: chrono::Duration = chrono::Duration::days(90);

/// The `case_promises` table.
#[allow(missing_docs)]
pub mod promise {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "case_promises")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub case_id: String,
        pub what: String,
        pub due_at: ChronoDateTimeUtc,
        /// A `tend.v1.PromiseState` number.
        pub state: i32,
        pub promised_by: String,
        pub owner: String,
        pub created_at: ChronoDateTimeUtc,
        pub settled_at: Option<ChronoDateTimeUtc>,
        pub settled_by: String,
        pub reply_id: String,
        pub note: String,
        pub due_soon_at: Option<ChronoDateTimeUtc>,
        pub overdue_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The state number of an open promise.
pub fn open_state() -> i32 {
    v1::PromiseState::Open.into()
}

/// Creates `case_promises`, the cases' count of open promises with the soonest due time, and
/// the promise an entry of a timeline concerns.
pub struct AddPromises;

impl MigrationName for AddPromises {
    fn name(&self) -> &str {
        "m20261203_000100_add_case_promises"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddPromises {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("case_promises")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(string("case_id"))
                    .col(text("what"))
                    .col(timestamp_with_time_zone("due_at"))
                    .col(integer("state"))
                    .col(string("promised_by"))
                    .col(string("owner"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone_null("settled_at"))
                    .col(string("settled_by"))
                    .col(string("reply_id"))
                    .col(text("note"))
                    .col(timestamp_with_time_zone_null("due_soon_at"))
                    .col(timestamp_with_time_zone_null("overdue_at"))
                    .to_owned(),
            )
            .await?;
        let indexes: [(&str, &[&str]); 3] = [
            ("case_promises_tenant_case", &["tenant", "case_id"]),
            // The timers and ListPromises read open promises by due time.
            ("case_promises_state_due", &["state", "due_at"]),
            ("case_promises_tenant_state_due", &["tenant", "state", "due_at"]),
        ];
        tend_store::migration::create_indexes(manager, "case_promises", &indexes).await?;
        manager
            .alter_table(
                Table::alter().table("cases").add_column(integer("open_promises").default(0).to_owned()).to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("cases")
                    .add_column(timestamp_with_time_zone_null("next_promise_due_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("case_timeline")
                    .add_column(string("promise_id").default("").to_owned())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("case_timeline").drop_column("promise_id").to_owned()).await?;
        for column in ["next_promise_due_at", "open_promises"] {
            manager.alter_table(Table::alter().table("cases").drop_column(column).to_owned()).await?;
        }
        manager.drop_table(Table::drop().table("case_promises").if_exists().to_owned()).await
    }
}

/// A promise in the contract's terms.
pub fn to_proto(row: promise::Model) -> v1::Promise {
    v1::Promise {
        id: row.id,
        case_id: row.case_id,
        what: row.what,
        due_at: Some(to_timestamp(row.due_at)),
        state: row.state,
        promised_by: row.promised_by,
        owner: row.owner,
        created_at: Some(to_timestamp(row.created_at)),
        settled_at: row.settled_at.map(to_timestamp),
        settled_by: row.settled_by,
        reply_id: row.reply_id,
        note: row.note,
        due_soon_at: row.due_soon_at.map(to_timestamp),
        overdue_at: row.overdue_at.map(to_timestamp),
    }
}

/// Checks what a promise says and when it is due (`due_at`, already read, against `now`).
pub fn check_new(what: &str, due_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), ApiError> {
    if what.is_empty() {
        return Err(ApiError::invalid("what", "is required: say what was promised"));
    }
    if what.len() > MAX_WHAT {
        return Err(ApiError::invalid("what", format!("must be at most {MAX_WHAT} bytes")));
    }
    if due_at <= now {
        return Err(ApiError::invalid("due_at", format!("{due_at} is not in the future (now is {now})")));
    }
    if due_at > now + MAX_AHEAD {
        return Err(ApiError::invalid("due_at", "must be within the next 90 days"));
    }
    Ok(())
}

/// One promise of a tenant.
pub async fn find<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str) -> Result<Option<promise::Model>, DbErr> {
    promise::Entity::find_by_id(id.to_owned()).filter(promise::Column::Tenant.eq(tenant)).one(conn).await
}

/// The open promises of case `case_id`, soonest due first.
pub async fn open_on_case<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    case_id: &str,
) -> Result<Vec<promise::Model>, DbErr> {
    promise::Entity::find()
        .filter(promise::Column::Tenant.eq(tenant))
        .filter(promise::Column::CaseId.eq(case_id))
        .filter(promise::Column::State.eq(open_state()))
        .order_by_asc(promise::Column::DueAt)
        .order_by_asc(promise::Column::Id)
        .all(conn)
        .await
}

/// The open promises that reply `reply_id` keeps once delivered.
pub async fn kept_by_reply<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    reply_id: &str,
) -> Result<Vec<promise::Model>, DbErr> {
    promise::Entity::find()
        .filter(promise::Column::Tenant.eq(tenant))
        .filter(promise::Column::ReplyId.eq(reply_id))
        .filter(promise::Column::State.eq(open_state()))
        .all(conn)
        .await
}

/// Saves `row` as it is now (a new promise, or one settled, handed over or tied to a reply).
pub async fn save<C: ConnectionTrait>(conn: &C, row: promise::Model, is_new: bool) -> Result<(), DbErr> {
    tend_store::query::save(conn, promise::ActiveModel::from(row), is_new).await
}

/// Which promises a list asks for, with the times its view is read at.
pub struct Filter<'a> {
    /// The view.
    pub view: v1::PromiseView,
    /// Only this owner's, if not empty.
    pub owner: &'a str,
    /// Only this case's, if not empty.
    pub case_id: &'a str,
    /// Now.
    pub now: DateTime<Utc>,
    /// Due soon means due before this.
    pub soon: DateTime<Utc>,
}

/// A page of the tenant's promises, soonest due first (then by id), after the promise the
/// page token names.
pub async fn page<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    filter: &Filter<'_>,
    page: &Page,
) -> Result<Vec<promise::Model>, DbErr> {
    let mut query = promise::Entity::find().filter(promise::Column::Tenant.eq(tenant));
    let open = promise::Column::State.eq(open_state());
    query = match filter.view {
        v1::PromiseView::All => query,
        v1::PromiseView::Unspecified | v1::PromiseView::Open => query.filter(open),
        v1::PromiseView::DueSoon => query
            .filter(open)
            .filter(promise::Column::DueAt.gt(filter.now))
            .filter(promise::Column::DueAt.lte(filter.soon)),
        v1::PromiseView::Overdue => query.filter(open).filter(promise::Column::DueAt.lte(filter.now)),
        v1::PromiseView::Kept => query.filter(promise::Column::State.eq(i32::from(v1::PromiseState::Kept))),
        v1::PromiseView::Released => query.filter(promise::Column::State.eq(i32::from(v1::PromiseState::Released))),
    };
    if !filter.owner.is_empty() {
        query = query.filter(promise::Column::Owner.eq(filter.owner));
    }
    if !filter.case_id.is_empty() {
        query = query.filter(promise::Column::CaseId.eq(filter.case_id));
    }
    if let Some(after) = &page.after {
        // Keyset on (due_at, id): the token is the last promise of the previous page.
        let Some(last) = find(conn, tenant, after).await? else { return Ok(Vec::new()) };
        query = query.filter(
            Condition::any()
                .add(promise::Column::DueAt.gt(last.due_at))
                .add(promise::Column::DueAt.eq(last.due_at).and(promise::Column::Id.gt(last.id.as_str()))),
        );
    }
    query.order_by_asc(promise::Column::DueAt).order_by_asc(promise::Column::Id).limit(page.limit).all(conn).await
}

/// Open promises of every tenant that the timers must look at by `until`: due by then and not
/// yet raised as `due_soon_at` (or as overdue, when `overdue` is set). At most `limit`.
pub async fn falling_due<C: ConnectionTrait>(
    conn: &C,
    until: DateTime<Utc>,
    overdue: bool,
    limit: u64,
) -> Result<Vec<promise::Model>, DbErr> {
    let not_raised = if overdue { promise::Column::OverdueAt.is_null() } else { promise::Column::DueSoonAt.is_null() };
    promise::Entity::find()
        .filter(promise::Column::State.eq(open_state()))
        .filter(promise::Column::DueAt.lte(until))
        .filter(not_raised)
        .order_by_asc(promise::Column::DueAt)
        .limit(limit)
        .all(conn)
        .await
}

/// Marks promise `id` as raised due soon at `now` (or overdue, when `overdue` is set) if it is
/// still open and not raised yet; false when another sweep or a settlement came first.
pub async fn mark_raised<C: ConnectionTrait>(
    conn: &C,
    id: &str,
    now: DateTime<Utc>,
    overdue: bool,
) -> Result<bool, DbErr> {
    let (column, unset) = if overdue {
        (promise::Column::OverdueAt, promise::Column::OverdueAt.is_null())
    } else {
        (promise::Column::DueSoonAt, promise::Column::DueSoonAt.is_null())
    };
    let updated = promise::Entity::update_many()
        .col_expr(column, Expr::value(now))
        .filter(promise::Column::Id.eq(id))
        .filter(promise::Column::State.eq(open_state()))
        .filter(unset)
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Blanks what the promises of `case_ids` say (agents write about the customer there).
pub async fn erase<C: ConnectionTrait>(conn: &C, tenant: &str, case_ids: &[String]) -> Result<(), DbErr> {
    if case_ids.is_empty() {
        return Ok(());
    }
    promise::Entity::update_many()
        .col_expr(promise::Column::What, erased_unless_empty(promise::Column::What))
        .col_expr(promise::Column::Note, erased_unless_empty(promise::Column::Note))
        .filter(promise::Column::Tenant.eq(tenant))
        .filter(promise::Column::CaseId.is_in(case_ids.iter().map(String::as_str)))
        .exec(conn)
        .await?;
    Ok(())
}
