//! A case's timeline, `case_timeline`: every change of the case and everything said on it, each
//! entry with who, when and why. It is the case's audit log too, so entries are only ever
//! added (an erasure blanks their texts, nothing else).

use sea_orm::sea_query::Index;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, integer, string, text, timestamp_with_time_zone};
use tend_kernel::ids::to_timestamp;
use tend_kernel::paging::Page;
use tend_proto::v1;

use crate::domain::{Status, erased_unless_empty};

/// The `case_timeline` table.
#[allow(missing_docs)]
pub mod entry {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "case_timeline")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub case_id: String,
        /// A `tend.v1.CaseTimelineKind` number.
        pub kind: i32,
        pub at: ChronoDateTimeUtc,
        pub actor: String,
        pub reason: String,
        /// `tend.v1.CaseStatus` numbers, 0 unless a status changed.
        pub from_status: i32,
        pub to_status: i32,
        pub text: String,
        pub interaction_id: String,
        pub reply_id: String,
        pub assignee: String,
        pub priority: i32,
        /// Tags, "," separated.
        pub tags_added: String,
        pub tags_removed: String,
        /// The case's version after the entry; 0 when the case itself did not change.
        pub version: i64,
        /// The promise concerned ("" for none).
        pub promise_id: String,
        /// The department concerned ("" for none).
        pub department: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// An entry about to be written: what it records, filled in by the caller.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    /// What happened.
    pub kind: i32,
    /// Why.
    pub reason: String,
    /// A status change.
    pub moved: Option<(Status, Status)>,
    /// A note's or reply's text.
    pub text: String,
    /// The interaction concerned.
    pub interaction_id: String,
    /// The reply concerned.
    pub reply_id: String,
    /// The new assignee.
    pub assignee: String,
    /// The new priority.
    pub priority: i32,
    /// Tags added.
    pub tags_added: Vec<String>,
    /// Tags removed.
    pub tags_removed: Vec<String>,
    /// The promise concerned.
    pub promise_id: String,
    /// The department concerned.
    pub department: String,
}

impl Draft {
    /// A draft of `kind` with everything else empty.
    pub fn of(kind: v1::CaseTimelineKind) -> Self {
        Self { kind: kind.into(), ..Self::default() }
    }

    /// The row for case `case_id` of `tenant`, by `actor` at `at`, the case then at `version`.
    pub fn into_row(
        self,
        tenant: &str,
        case_id: &str,
        actor: &str,
        at: chrono::DateTime<chrono::Utc>,
        version: i64,
    ) -> entry::Model {
        let (from, to) = self.moved.map_or((0, 0), |(from, to)| (from.to_proto().into(), to.to_proto().into()));
        entry::Model {
            id: tend_kernel::ids::new_id(),
            tenant: tenant.to_owned(),
            case_id: case_id.to_owned(),
            kind: self.kind,
            at,
            actor: actor.to_owned(),
            reason: self.reason,
            from_status: from,
            to_status: to,
            text: self.text,
            interaction_id: self.interaction_id,
            reply_id: self.reply_id,
            assignee: self.assignee,
            priority: self.priority,
            tags_added: self.tags_added.join(","),
            tags_removed: self.tags_removed.join(","),
            version,
            promise_id: self.promise_id,
            department: self.department,
        }
    }
}

/// Creates `case_timeline`.
pub struct CreateTimeline;

impl MigrationName for CreateTimeline {
    fn name(&self) -> &str {
        "m20261202_000500_create_case_timeline"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTimeline {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("case_timeline")
                    .if_not_exists()
                    .col(string("id").primary_key())
                    .col(string("tenant"))
                    .col(string("case_id"))
                    .col(integer("kind"))
                    .col(timestamp_with_time_zone("at"))
                    .col(string("actor"))
                    .col(text("reason"))
                    .col(integer("from_status"))
                    .col(integer("to_status"))
                    .col(text("text"))
                    .col(string("interaction_id"))
                    .col(string("reply_id"))
                    .col(string("assignee"))
                    .col(integer("priority"))
                    .col(text("tags_added"))
                    .col(text("tags_removed"))
                    .col(big_integer("version"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("case_timeline_tenant_case_id")
                    .table("case_timeline")
                    .col("tenant")
                    .col("case_id")
                    .col("id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("case_timeline").if_exists().to_owned()).await
    }
}

/// Writes `row`.
pub async fn insert<C: ConnectionTrait>(conn: &C, row: entry::Model) -> Result<entry::Model, DbErr> {
    entry::ActiveModel::from(row).insert(conn).await
}

/// A page of case `case_id`'s timeline, oldest first.
pub async fn page<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    case_id: &str,
    page: &Page,
) -> Result<Vec<entry::Model>, DbErr> {
    let mut query =
        entry::Entity::find().filter(entry::Column::Tenant.eq(tenant)).filter(entry::Column::CaseId.eq(case_id));
    if let Some(after) = &page.after {
        query = query.filter(entry::Column::Id.gt(after.as_str()));
    }
    query.order_by_asc(entry::Column::Id).limit(page.limit).all(conn).await
}

/// A page of the timelines of `case_ids`, newest first (for a customer's history).
pub async fn page_of_cases<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    case_ids: &[String],
    page: &Page,
) -> Result<Vec<entry::Model>, DbErr> {
    if case_ids.is_empty() {
        return Ok(Vec::new());
    }
    let query = entry::Entity::find()
        .filter(entry::Column::Tenant.eq(tenant))
        .filter(entry::Column::CaseId.is_in(case_ids.iter().map(String::as_str)));
    tend_store::query::newest_first(query, entry::Column::Id, page).all(conn).await
}

/// Writes `rows` in one statement.
pub async fn insert_many<C: ConnectionTrait>(conn: &C, rows: Vec<entry::Model>) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    entry::Entity::insert_many(rows.into_iter().map(entry::ActiveModel::from)).exec_without_returning(conn).await?;
    Ok(())
}

/// Blanks the texts (notes, replies, reasons) of the timelines of `case_ids`: agents write
/// about the customer there. Kinds, times, actors and versions stay.
pub async fn erase<C: ConnectionTrait>(conn: &C, tenant: &str, case_ids: &[String]) -> Result<(), DbErr> {
    if case_ids.is_empty() {
        return Ok(());
    }
    entry::Entity::update_many()
        .col_expr(entry::Column::Text, erased_unless_empty(entry::Column::Text))
        .col_expr(entry::Column::Reason, erased_unless_empty(entry::Column::Reason))
        .filter(entry::Column::Tenant.eq(tenant))
        .filter(entry::Column::CaseId.is_in(case_ids.iter().map(String::as_str)))
        .exec(conn)
        .await?;
    Ok(())
}

/// An entry in the contract's terms.
pub fn to_proto(row: entry::Model) -> v1::CaseTimelineEntry {
    v1::CaseTimelineEntry {
        id: row.id,
        case_id: row.case_id,
        kind: row.kind,
        at: Some(to_timestamp(row.at)),
        actor: row.actor,
        reason: row.reason,
        from_status: row.from_status,
        to_status: row.to_status,
        text: row.text,
        interaction_id: row.interaction_id,
        reply_id: row.reply_id,
        assignee: row.assignee,
        priority: <u32 as TryFrom<i32>>::try_from(row.priority).unwrap_or(0),
        tags_added: crate::domain::tags_of(&row.tags_added),
        tags_removed: crate::domain::tags_of(&row.tags_removed),
        version: <u64 as TryFrom<i64>>::try_from(row.version).unwrap_or(0),
        promise_id: row.promise_id,
        department: row.department,
    }
}
