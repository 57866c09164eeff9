//! A direct line into every department: `departments` (per tenant, with a contact and the time
//! each has to answer) and `case_escalations` (a case handed to one, with the reason and root
//! cause, until the department answers or the case ends). Escalating and answering are changes
//! of the case and go through the lifecycle; this module keeps the tables and their rules.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Index};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, boolean, integer, string, text, timestamp_with_time_zone, timestamp_with_time_zone_null,
};
use tend_kernel::ApiError;
use tend_kernel::ids::to_timestamp;
use tend_kernel::paging::Page;
use tend_proto::v1;

use crate::domain::erased_unless_empty;

/// Longest department name, in bytes.
const MAX_NAME: usize = 64;
/// Longest display name and contact, in bytes.
const MAX_LABEL: usize = 512;
/// Most departments of a tenant.
pub const MAX_DEPARTMENTS: u64 = 200;
/// Shortest and longest time a department may have to answer, in seconds.
const ANSWER_WITHIN: std::ops::RangeInclusive<u32> = 60..=30 * 24 * 3600;

/// The `departments` table.
#[allow(missing_docs)]
pub mod department {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "departments")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        pub display_name: String,
        pub contact: String,
        pub answer_within_seconds: i64,
        pub disabled: bool,
        pub created_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `case_escalations` table.
#[allow(missing_docs)]
pub mod escalation {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "case_escalations")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub case_id: String,
        pub department: String,
        pub reason: String,
        pub root_cause: String,
        pub escalated_by: String,
        pub escalated_at: ChronoDateTimeUtc,
        pub due_at: ChronoDateTimeUtc,
        /// A `tend.v1.EscalationState` number.
        pub state: i32,
        pub answer: String,
        pub answered_by: String,
        pub ended_at: Option<ChronoDateTimeUtc>,
        pub overdue_at: Option<ChronoDateTimeUtc>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The state number of an open escalation.
pub fn open_state() -> i32 {
    v1::EscalationState::Open.into()
}

/// Creates `departments` and `case_escalations`; gives cases the department they wait for,
/// their time in departments and their retention outcome, and timeline entries the department
/// they concern.
pub struct AddDepartments;

impl MigrationName for AddDepartments {
    fn name(&self) -> &str {
        "m20261203_000200_add_departments"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddDepartments {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("departments")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("name"))
                    .col(text("display_name"))
                    .col(text("contact"))
                    .col(big_integer("answer_within_seconds"))
                    .col(boolean("disabled"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .primary_key(Index::create().col("tenant").col("name"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("case_escalations")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(string("case_id"))
                    .col(string("department"))
                    .col(text("reason"))
                    .col(string("root_cause"))
                    .col(string("escalated_by"))
                    .col(timestamp_with_time_zone("escalated_at"))
                    .col(timestamp_with_time_zone("due_at"))
                    .col(integer("state"))
                    .col(text("answer"))
                    .col(string("answered_by"))
                    .col(timestamp_with_time_zone_null("ended_at"))
                    .col(timestamp_with_time_zone_null("overdue_at"))
                    .to_owned(),
            )
            .await?;
        let indexes: [(&str, &[&str]); 3] = [
            ("case_escalations_tenant_case", &["tenant", "case_id"]),
            ("case_escalations_tenant_department_state", &["tenant", "department", "state", "id"]),
            ("case_escalations_state_due", &["state", "due_at"]),
        ];
        tend_store::migration::create_indexes(manager, "case_escalations", &indexes).await?;
        for column in [
            string("department").default("").to_owned(),
            big_integer("department_seconds").default(0).to_owned(),
            integer("retention_outcome").default(0).to_owned(),
        ] {
            manager.alter_table(Table::alter().table("cases").add_column(column).to_owned()).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("case_timeline")
                    .add_column(string("department").default("").to_owned())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("case_timeline").drop_column("department").to_owned()).await?;
        for column in ["retention_outcome", "department_seconds", "department"] {
            manager.alter_table(Table::alter().table("cases").drop_column(column).to_owned()).await?;
        }
        manager.drop_table(Table::drop().table("case_escalations").if_exists().to_owned()).await?;
        manager.drop_table(Table::drop().table("departments").if_exists().to_owned()).await
    }
}

/// Checks a department's name: 1 to 64 of a-z, 0-9, "-", "_".
pub fn check_name(field: &str, name: &str) -> Result<String, ApiError> {
    let name = name.trim().to_lowercase();
    let fits = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'));
    if !fits {
        return Err(ApiError::invalid(
            field,
            format!("{name:?} is not a department name: 1 to {MAX_NAME} of a-z, 0-9, \"-\", \"_\""),
        ));
    }
    Ok(name)
}

/// The row a department as given becomes, checked, at `now` (`existing`: the stored one, whose
/// creation time it keeps).
pub fn checked(
    tenant: &str,
    given: v1::Department,
    existing: Option<&department::Model>,
    now: DateTime<Utc>,
) -> Result<department::Model, ApiError> {
    let name = check_name("department.name", &given.name)?;
    for (field, value) in [("department.display_name", &given.display_name), ("department.contact", &given.contact)] {
        if value.len() > MAX_LABEL || value.chars().any(char::is_control) {
            return Err(ApiError::invalid(field, format!("must be at most {MAX_LABEL} bytes on one line")));
        }
    }
    if !ANSWER_WITHIN.contains(&given.answer_within_seconds) {
        return Err(ApiError::invalid(
            "department.answer_within_seconds",
            "must be between 60 (a minute) and 2592000 (30 days)",
        ));
    }
    let display_name =
        if given.display_name.trim().is_empty() { name.clone() } else { given.display_name.trim().to_owned() };
    Ok(department::Model {
        tenant: tenant.to_owned(),
        name,
        display_name,
        contact: given.contact.trim().to_owned(),
        answer_within_seconds: i64::from(given.answer_within_seconds),
        disabled: given.disabled,
        created_at: existing.map_or(now, |existing| existing.created_at),
        updated_at: now,
    })
}

/// A department in the contract's terms.
pub fn department_to_proto(row: department::Model) -> v1::Department {
    v1::Department {
        name: row.name,
        display_name: row.display_name,
        contact: row.contact,
        answer_within_seconds: <u32 as TryFrom<i64>>::try_from(row.answer_within_seconds).unwrap_or(u32::MAX),
        disabled: row.disabled,
        created_at: Some(to_timestamp(row.created_at)),
        updated_at: Some(to_timestamp(row.updated_at)),
    }
}

/// One department of a tenant.
pub async fn find<C: ConnectionTrait>(conn: &C, tenant: &str, name: &str) -> Result<Option<department::Model>, DbErr> {
    department::Entity::find_by_id((tenant.to_owned(), name.to_owned())).one(conn).await
}

/// The tenant's departments, by name.
pub async fn list<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Vec<department::Model>, DbErr> {
    department::Entity::find()
        .filter(department::Column::Tenant.eq(tenant))
        .order_by_asc(department::Column::Name)
        .limit(MAX_DEPARTMENTS)
        .all(conn)
        .await
}

/// How many departments the tenant has.
pub async fn count<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait as _;
    department::Entity::find().filter(department::Column::Tenant.eq(tenant)).count(conn).await
}

/// Saves a department, new or changed.
pub async fn save<C: ConnectionTrait>(conn: &C, row: department::Model, is_new: bool) -> Result<(), DbErr> {
    tend_store::query::save(conn, department::ActiveModel::from(row), is_new).await
}

/// Seconds from `from` to `to`, never negative.
pub fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    Ord::max((to - from).num_seconds(), 0)
}

/// An escalation in the contract's terms, its time in department counted up to `now` while open.
pub fn escalation_to_proto(row: escalation::Model, now: DateTime<Utc>) -> v1::Escalation {
    let until = row.ended_at.unwrap_or(now);
    v1::Escalation {
        seconds_in_department: <u64 as TryFrom<i64>>::try_from(seconds_between(row.escalated_at, until)).unwrap_or(0),
        id: row.id,
        case_id: row.case_id,
        department: row.department,
        reason: row.reason,
        root_cause: row.root_cause,
        escalated_by: row.escalated_by,
        escalated_at: Some(to_timestamp(row.escalated_at)),
        due_at: Some(to_timestamp(row.due_at)),
        state: row.state,
        answer: row.answer,
        answered_by: row.answered_by,
        ended_at: row.ended_at.map(to_timestamp),
        overdue_at: row.overdue_at.map(to_timestamp),
    }
}

/// The open escalation of case `case_id`, if any.
pub async fn open_on_case<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    case_id: &str,
) -> Result<Option<escalation::Model>, DbErr> {
    escalation::Entity::find()
        .filter(escalation::Column::Tenant.eq(tenant))
        .filter(escalation::Column::CaseId.eq(case_id))
        .filter(escalation::Column::State.eq(open_state()))
        .one(conn)
        .await
}

/// Saves an escalation, new or changed.
pub async fn save_escalation<C: ConnectionTrait>(conn: &C, row: escalation::Model, is_new: bool) -> Result<(), DbErr> {
    tend_store::query::save(conn, escalation::ActiveModel::from(row), is_new).await
}

/// Which escalations a list asks for.
pub struct Filter<'a> {
    /// Only this department's, if not empty.
    pub department: &'a str,
    /// Only this case's, if not empty.
    pub case_id: &'a str,
    /// Only in this state, unless UNSPECIFIED.
    pub state: v1::EscalationState,
}

/// A page of the tenant's escalations, oldest first.
pub async fn page<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    filter: &Filter<'_>,
    page: &Page,
) -> Result<Vec<escalation::Model>, DbErr> {
    let mut query = escalation::Entity::find().filter(escalation::Column::Tenant.eq(tenant));
    if !filter.department.is_empty() {
        query = query.filter(escalation::Column::Department.eq(filter.department));
    }
    if !filter.case_id.is_empty() {
        query = query.filter(escalation::Column::CaseId.eq(filter.case_id));
    }
    if filter.state != v1::EscalationState::Unspecified {
        query = query.filter(escalation::Column::State.eq(i32::from(filter.state)));
    }
    if let Some(after) = &page.after {
        query = query.filter(escalation::Column::Id.gt(after.as_str()));
    }
    query.order_by_asc(escalation::Column::Id).limit(page.limit).all(conn).await
}

/// Open escalations of every tenant whose department's time ran out by `now` and that were not
/// raised overdue yet; at most `limit`.
pub async fn overdue<C: ConnectionTrait>(
    conn: &C,
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<escalation::Model>, DbErr> {
    escalation::Entity::find()
        .filter(escalation::Column::State.eq(open_state()))
        .filter(escalation::Column::DueAt.lte(now))
        .filter(escalation::Column::OverdueAt.is_null())
        .order_by_asc(escalation::Column::DueAt)
        .limit(limit)
        .all(conn)
        .await
}

/// Marks escalation `id` raised overdue at `now` if it is still open and was not; false when
/// another sweep or the answer came first.
pub async fn mark_overdue<C: ConnectionTrait>(conn: &C, id: &str, now: DateTime<Utc>) -> Result<bool, DbErr> {
    let updated = escalation::Entity::update_many()
        .col_expr(escalation::Column::OverdueAt, Expr::value(now))
        .filter(escalation::Column::Id.eq(id))
        .filter(escalation::Column::State.eq(open_state()))
        .filter(escalation::Column::OverdueAt.is_null())
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Blanks the reasons and answers of the escalations of `case_ids` (they are about the customer).
pub async fn erase<C: ConnectionTrait>(conn: &C, tenant: &str, case_ids: &[String]) -> Result<(), DbErr> {
    if case_ids.is_empty() {
        return Ok(());
    }
    escalation::Entity::update_many()
        .col_expr(escalation::Column::Reason, erased_unless_empty(escalation::Column::Reason))
        .col_expr(escalation::Column::Answer, erased_unless_empty(escalation::Column::Answer))
        .filter(escalation::Column::Tenant.eq(tenant))
        .filter(escalation::Column::CaseId.is_in(case_ids.iter().map(String::as_str)))
        .exec(conn)
        .await?;
    Ok(())
}

/// The name of a retention outcome, for the timeline; `None` for UNSPECIFIED or an unknown number.
pub fn retention_name(outcome: i32) -> Option<&'static str> {
    match v1::RetentionOutcome::try_from(outcome).ok()? {
        v1::RetentionOutcome::Unspecified => None,
        v1::RetentionOutcome::Pending => Some("pending"),
        v1::RetentionOutcome::Saved => Some("saved"),
        v1::RetentionOutcome::Lost => Some("lost"),
    }
}
