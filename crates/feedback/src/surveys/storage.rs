//! The surveys' tables and queries, every one scoped by tenant:
//!
//! - `survey_templates`: the tenant's templates (texts per language as JSON);
//! - `surveys`: one row per survey sent (at most one per case: unique (tenant, case_id)), with
//!   what the page shows and the rule for a low score, copied from the template when it was
//!   sent, and its state (`sent`, `answered`, `opted_out`): the state is what makes a link work
//!   once;
//! - `survey_responses`: one row per answered survey, with what the case carried (channel,
//!   segment, team, agent, topics) for the reports;
//! - `survey_recipients`: when each person was last sent a survey (the frequency cap, kept
//!   with one conditional update so two replicas can't both send);
//! - `survey_opt_outs`: who wants no surveys.
//!
//! A person is a *recipient* key: `c:<customer id>` for a customer, `p:<profile id>` for an
//! author not linked to one.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Index};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    boolean, integer, string, text, timestamp_with_time_zone, timestamp_with_time_zone_null,
};
use tend_kernel::paging::Page;

use crate::storage::routed::Erased;

/// A survey sent and waiting for its answer.
pub const SENT: &str = "sent";
/// A survey answered.
pub const ANSWERED: &str = "answered";
/// A survey whose link was used to opt out only.
pub const OPTED_OUT: &str = "opted_out";

/// The `survey_templates` table.
#[allow(missing_docs)]
pub mod template {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "survey_templates")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        /// `tend.v1.SurveyKind`.
        pub kind: i32,
        pub default_language: String,
        /// `[{"language", "invitation", "question", "free_text_question"}]`.
        pub texts: String,
        /// `tend.v1.Channel` numbers joined by ","; empty: every channel.
        pub channels: String,
        /// Segments joined by ","; empty: every case.
        pub segments: String,
        pub frequency_cap_days: i32,
        pub skip_during_incident: bool,
        pub enabled: bool,
        pub low_score_threshold: i32,
        /// `tend.v1.LowScoreAction`.
        pub low_score_action: i32,
        /// `tend.v1.ReplyVisibility`.
        pub visibility: i32,
        /// Empty: the deployment's.
        pub survey_url: String,
        pub version: i32,
        pub updated_at: ChronoDateTimeUtc,
        /// 0: never ask for a testimonial.
        pub testimonial_min_score: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `surveys` table.
#[allow(missing_docs)]
pub mod survey {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "surveys")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub survey_id: String,
        pub case_id: String,
        pub template: String,
        /// `tend.v1.SurveyKind`.
        pub kind: i32,
        pub language: String,
        pub question: String,
        pub free_text_question: String,
        pub low_score_threshold: i32,
        /// `tend.v1.LowScoreAction`.
        pub low_score_action: i32,
        /// `c:<customer id>` or `p:<profile id>`.
        pub recipient: String,
        pub customer_id: String,
        pub profile_id: String,
        /// The interaction the invitation answered.
        pub interaction_id: String,
        /// `tend.v1.Channel`.
        pub channel: i32,
        pub segment: String,
        pub team: String,
        pub agent: String,
        /// Topics joined by ",".
        pub topics: String,
        pub sent_at: ChronoDateTimeUtc,
        pub expires_at: ChronoDateTimeUtc,
        /// [`SENT`](super::SENT), [`ANSWERED`](super::ANSWERED) or [`OPTED_OUT`](super::OPTED_OUT).
        pub state: String,
        pub answered_at: Option<ChronoDateTimeUtc>,
        /// The template's, when it was sent.
        pub testimonial_min_score: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `survey_responses` table, which the service report rolls up.
#[allow(missing_docs)]
pub mod response {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "survey_responses")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub survey_id: String,
        pub case_id: String,
        pub template: String,
        /// "csat", "nps" or "ces".
        pub kind: String,
        pub score: i32,
        /// The free-text answer; blanked by erasure.
        pub comment: String,
        pub responded_at: ChronoDateTimeUtc,
        /// `tend.v1.Channel`.
        pub channel: i32,
        pub segment: String,
        pub team: String,
        pub agent: String,
        /// Topics joined by ",".
        pub topics: String,
        pub low_score: bool,
        /// Blanked by erasure.
        pub customer_id: String,
        /// Blanked by erasure.
        pub profile_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `survey_recipients` table.
#[allow(missing_docs)]
pub mod recipient {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "survey_recipients")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub recipient: String,
        pub last_sent_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The `survey_opt_outs` table.
#[allow(missing_docs)]
pub mod opt_out {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "survey_opt_outs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub recipient: String,
        pub customer_id: String,
        pub profile_id: String,
        pub opted_out_at: ChronoDateTimeUtc,
        /// "link" or "api:<actor>".
        pub source: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates the surveys' tables.
pub struct CreateSurveys;

impl MigrationName for CreateSurveys {
    fn name(&self) -> &str {
        "m20261207_000100_create_surveys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateSurveys {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("survey_templates")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("name"))
                    .col(integer("kind"))
                    .col(string("default_language"))
                    .col(text("texts"))
                    .col(text("channels"))
                    .col(text("segments"))
                    .col(integer("frequency_cap_days"))
                    .col(boolean("skip_during_incident"))
                    .col(boolean("enabled"))
                    .col(integer("low_score_threshold"))
                    .col(integer("low_score_action"))
                    .col(integer("visibility"))
                    .col(text("survey_url"))
                    .col(integer("version"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .col(integer("testimonial_min_score"))
                    .primary_key(Index::create().col("tenant").col("name"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("surveys")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("survey_id"))
                    .col(string("case_id"))
                    .col(string("template"))
                    .col(integer("kind"))
                    .col(string("language"))
                    .col(text("question"))
                    .col(text("free_text_question"))
                    .col(integer("low_score_threshold"))
                    .col(integer("low_score_action"))
                    .col(string("recipient"))
                    .col(string("customer_id"))
                    .col(string("profile_id"))
                    .col(string("interaction_id"))
                    .col(integer("channel"))
                    .col(string("segment"))
                    .col(string("team"))
                    .col(string("agent"))
                    .col(text("topics"))
                    .col(timestamp_with_time_zone("sent_at"))
                    .col(timestamp_with_time_zone("expires_at"))
                    .col(string("state"))
                    .col(timestamp_with_time_zone_null("answered_at"))
                    .col(integer("testimonial_min_score"))
                    .primary_key(Index::create().col("tenant").col("survey_id"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("surveys_tenant_case")
                    .table("surveys")
                    .col("tenant")
                    .col("case_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        tend_store::migration::create_indexes(
            manager,
            "surveys",
            &[
                ("surveys_tenant_customer", &["tenant", "customer_id"]),
                ("surveys_tenant_profile", &["tenant", "profile_id"]),
            ],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table("survey_responses")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("survey_id"))
                    .col(string("case_id"))
                    .col(string("template"))
                    .col(string("kind"))
                    .col(integer("score"))
                    .col(text("comment"))
                    .col(timestamp_with_time_zone("responded_at"))
                    .col(integer("channel"))
                    .col(string("segment"))
                    .col(string("team"))
                    .col(string("agent"))
                    .col(text("topics"))
                    .col(boolean("low_score"))
                    .col(string("customer_id"))
                    .col(string("profile_id"))
                    .primary_key(Index::create().col("tenant").col("survey_id"))
                    .to_owned(),
            )
            .await?;
        tend_store::migration::create_indexes(
            manager,
            "survey_responses",
            &[
                ("survey_responses_tenant_responded", &["tenant", "responded_at"]),
                ("survey_responses_tenant_customer", &["tenant", "customer_id"]),
                ("survey_responses_tenant_profile", &["tenant", "profile_id"]),
            ],
        )
        .await?;
        manager
            .create_table(
                Table::create()
                    .table("survey_recipients")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("recipient"))
                    .col(timestamp_with_time_zone("last_sent_at"))
                    .primary_key(Index::create().col("tenant").col("recipient"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("survey_opt_outs")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("recipient"))
                    .col(string("customer_id"))
                    .col(string("profile_id"))
                    .col(timestamp_with_time_zone("opted_out_at"))
                    .col(string("source"))
                    .primary_key(Index::create().col("tenant").col("recipient"))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["survey_opt_outs", "survey_recipients", "survey_responses", "surveys", "survey_templates"] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

/// The recipient key of a customer, else of an unlinked author; `None` when neither is known.
pub fn recipient_of(customer_id: &str, profile_id: &str) -> Option<String> {
    let customer_id = customer_id.trim();
    let profile_id = profile_id.trim();
    if !customer_id.is_empty() {
        Some(format!("c:{customer_id}"))
    } else if !profile_id.is_empty() {
        Some(format!("p:{profile_id}"))
    } else {
        None
    }
}

/// The tenant's templates, by name.
pub async fn templates<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Vec<template::Model>, DbErr> {
    template::Entity::find()
        .filter(template::Column::Tenant.eq(tenant))
        .order_by_asc(template::Column::Name)
        .all(conn)
        .await
}

/// One template.
pub async fn find_template<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    name: &str,
) -> Result<Option<template::Model>, DbErr> {
    template::Entity::find_by_id((tenant.to_owned(), name.to_owned())).one(conn).await
}

/// Whether `recipient` opted out.
pub async fn opted_out<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    recipient: &str,
) -> Result<Option<opt_out::Model>, DbErr> {
    opt_out::Entity::find_by_id((tenant.to_owned(), recipient.to_owned())).one(conn).await
}

/// Records `row`'s opt-out, keeping the first time and source when already opted out.
pub async fn opt_out<C: ConnectionTrait>(conn: &C, row: opt_out::Model) -> Result<opt_out::Model, DbErr> {
    let key = (row.tenant.clone(), row.recipient.clone());
    tend_store::query::insert_new(
        conn,
        vec![opt_out::ActiveModel::from(row.clone())],
        [opt_out::Column::Tenant, opt_out::Column::Recipient],
    )
    .await?;
    Ok(opt_out::Entity::find_by_id(key).one(conn).await?.unwrap_or(row))
}

/// Removes `recipient`'s opt-out, if any.
pub async fn opt_in<C: ConnectionTrait>(conn: &C, tenant: &str, recipient: &str) -> Result<(), DbErr> {
    opt_out::Entity::delete_many()
        .filter(opt_out::Column::Tenant.eq(tenant))
        .filter(opt_out::Column::Recipient.eq(recipient))
        .exec(conn)
        .await?;
    Ok(())
}

/// Takes a survey slot for `recipient` at `now` if none was taken after `cutoff`: true when
/// taken. One conditional statement decides, so concurrent consumers can't both take it.
pub async fn take_slot<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    recipient: &str,
    now: DateTime<Utc>,
    cutoff: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let row = recipient::Model { tenant: tenant.to_owned(), recipient: recipient.to_owned(), last_sent_at: now };
    let inserted = tend_store::query::insert_new(
        conn,
        vec![recipient::ActiveModel::from(row)],
        [recipient::Column::Tenant, recipient::Column::Recipient],
    )
    .await?;
    if !inserted.is_empty() {
        return Ok(true);
    }
    let updated = recipient::Entity::update_many()
        .col_expr(recipient::Column::LastSentAt, Expr::value(now))
        .filter(recipient::Column::Tenant.eq(tenant))
        .filter(recipient::Column::Recipient.eq(recipient))
        .filter(recipient::Column::LastSentAt.lte(cutoff))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// The survey of a case, if one was sent.
pub async fn survey_of_case<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    case_id: &str,
) -> Result<Option<survey::Model>, DbErr> {
    survey::Entity::find()
        .filter(survey::Column::Tenant.eq(tenant))
        .filter(survey::Column::CaseId.eq(case_id))
        .one(conn)
        .await
}

/// Records a new survey; false when the case has one already (nothing is written then).
pub async fn insert_survey<C: ConnectionTrait>(conn: &C, row: survey::Model) -> Result<bool, DbErr> {
    let inserted = tend_store::query::insert_new(
        conn,
        vec![survey::ActiveModel::from(row)],
        [survey::Column::Tenant, survey::Column::CaseId],
    )
    .await?;
    Ok(!inserted.is_empty())
}

/// One survey.
pub async fn find_survey<C: ConnectionTrait>(conn: &C, tenant: &str, id: &str) -> Result<Option<survey::Model>, DbErr> {
    survey::Entity::find_by_id((tenant.to_owned(), id.to_owned())).one(conn).await
}

/// Closes a sent survey as `state` at `at`: false when it was not waiting for an answer any
/// more (answered in the meantime), and then nothing changed.
pub async fn close_survey<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    id: &str,
    state: &str,
    at: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let updated = survey::Entity::update_many()
        .col_expr(survey::Column::State, Expr::value(state))
        .col_expr(survey::Column::AnsweredAt, Expr::value(Some(at)))
        .filter(survey::Column::Tenant.eq(tenant))
        .filter(survey::Column::SurveyId.eq(id))
        .filter(survey::Column::State.eq(SENT))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// One page of the tenant's responses, newest first by survey id.
pub async fn list_responses<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    page: &Page,
) -> Result<Vec<response::Model>, DbErr> {
    let query = response::Entity::find().filter(response::Column::Tenant.eq(tenant));
    tend_store::query::newest_first(query, response::Column::SurveyId, page).all(conn).await
}

/// One page of the tenant's surveys, newest first by id; only the case's with `case_id`.
pub async fn list_surveys<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    case_id: Option<&str>,
    page: &Page,
) -> Result<Vec<survey::Model>, DbErr> {
    let mut query = survey::Entity::find().filter(survey::Column::Tenant.eq(tenant));
    if let Some(case_id) = case_id {
        query = query.filter(survey::Column::CaseId.eq(case_id));
    }
    tend_store::query::newest_first(query, survey::Column::SurveyId, page).all(conn).await
}

/// What the surveys held of a person (subject access).
#[derive(Debug, Default)]
pub struct OfPerson {
    /// Surveys sent to them.
    pub surveys: Vec<survey::Model>,
    /// Their answers.
    pub responses: Vec<response::Model>,
    /// Their opt-out, if any.
    pub opt_outs: Vec<opt_out::Model>,
}

/// What the surveys hold of `customer_id` or one of `profile_ids` in `tenant`.
pub async fn of_person<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_id: &str,
    profile_ids: &[String],
) -> Result<OfPerson, DbErr> {
    let profiles: Vec<&str> = profile_ids.iter().map(String::as_str).collect();
    let customer = customer_id.trim();
    let surveys = survey::Entity::find()
        .filter(survey::Column::Tenant.eq(tenant))
        .filter(whose(survey::Column::CustomerId, survey::Column::ProfileId, customer, &profiles))
        .all(conn)
        .await?;
    let responses = response::Entity::find()
        .filter(response::Column::Tenant.eq(tenant))
        .filter(whose(response::Column::CustomerId, response::Column::ProfileId, customer, &profiles))
        .all(conn)
        .await?;
    let opt_outs = opt_out::Entity::find()
        .filter(opt_out::Column::Tenant.eq(tenant))
        .filter(whose(opt_out::Column::CustomerId, opt_out::Column::ProfileId, customer, &profiles))
        .all(conn)
        .await?;
    Ok(OfPerson { surveys, responses, opt_outs })
}

/// Rows whose `customer_column` is `customer` (when not empty) or whose `profile_column` is one
/// of `profiles`; matches nothing when both are empty.
fn whose<Col: ColumnTrait>(customer_column: Col, profile_column: Col, customer: &str, profiles: &[&str]) -> Condition {
    let mut who = Condition::any();
    if !customer.is_empty() {
        who = who.add(customer_column.eq(customer));
    }
    if !profiles.is_empty() {
        who = who.add(profile_column.is_in(profiles.iter().copied()));
    }
    who
}

/// Erases what the surveys hold of `erased`: their surveys (so their links answer NOT_FOUND),
/// opt-outs and frequency-cap rows are deleted; their responses stay for the reports with the
/// comment and the person's ids blanked. Returns how many rows were touched; running it again
/// touches nothing more.
pub async fn erase<C: ConnectionTrait>(conn: &C, erased: &[Erased]) -> Result<u64, DbErr> {
    let mut touched = 0;
    for people in erased.iter().filter(|people| !people.is_empty()) {
        let tenant = people.tenant.as_str();
        let customer = people.customer_id.as_deref().unwrap_or_default();
        let profiles: Vec<&str> = people.profile_ids.iter().map(String::as_str).collect();
        touched += survey::Entity::delete_many()
            .filter(survey::Column::Tenant.eq(tenant))
            .filter(whose(survey::Column::CustomerId, survey::Column::ProfileId, customer, &profiles))
            .exec(conn)
            .await?
            .rows_affected;
        touched += response::Entity::update_many()
            .col_expr(response::Column::Comment, Expr::value(""))
            .col_expr(response::Column::CustomerId, Expr::value(""))
            .col_expr(response::Column::ProfileId, Expr::value(""))
            .filter(response::Column::Tenant.eq(tenant))
            .filter(whose(response::Column::CustomerId, response::Column::ProfileId, customer, &profiles))
            .exec(conn)
            .await?
            .rows_affected;
        touched += opt_out::Entity::delete_many()
            .filter(opt_out::Column::Tenant.eq(tenant))
            .filter(whose(opt_out::Column::CustomerId, opt_out::Column::ProfileId, customer, &profiles))
            .exec(conn)
            .await?
            .rows_affected;
        let mut recipients: Vec<String> = profiles.iter().map(|profile| format!("p:{profile}")).collect();
        if !customer.is_empty() {
            recipients.push(format!("c:{customer}"));
        }
        touched += recipient::Entity::delete_many()
            .filter(recipient::Column::Tenant.eq(tenant))
            .filter(recipient::Column::Recipient.is_in(recipients))
            .exec(conn)
            .await?
            .rows_affected;
    }
    Ok(touched)
}
