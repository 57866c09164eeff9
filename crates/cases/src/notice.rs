//! An incident's proactive notice: the customers in its scope who never wrote are told it was
//! fixed.
//!
//! The notice (a scope over `customer`, a text, translations, a subject, an opt-out line) is
//! kept in `incident_notices`, one row per incident that has one, checked when it is given
//! (`OpenIncident`, `UpdateIncident`: the scope compiles with `tend_scope`, the language of
//! routing's rules). `ResolveIncident` with `notify` stamps the row requested and publishes
//! `incidents.notice_requested` in one transaction; identity goes through the tenant's customers
//! and requests one message per customer in scope who is not a member and did not opt out (reply
//! ids `notice.{incident_id}.{customer_id}`), and reports its counts on
//! `incidents.notice_reported` ([`Reported`]). The deliveries' outcomes (`replies.delivered`,
//! `replies.failed` of those reply ids) are counted on the row by [`count_outcome`].

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, Index};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string, text, timestamp_with_time_zone_null};
use tend_kernel::ids::to_timestamp;
use tend_kernel::{ApiError, TenantId, validate};
use tend_proto::v1;
use tend_store::events::{envelope, streams};
use tend_store::{DbContext as _, Effects, Event, EventHandler, HandleError, outbox};

use crate::SERVICE;
use crate::replies::MAX_REPLY_BYTES;

/// The prefix of a notice's reply ids: `notice.{incident_id}.{customer_id}`.
pub const REPLY_PREFIX: &str = "notice.";
/// Longest subject, in bytes.
const MAX_SUBJECT: usize = 256;
/// Longest opt-out line, in bytes.
const MAX_OPT_OUT: usize = 1024;
/// Most translations.
const MAX_TRANSLATIONS: usize = 50;

/// The `incident_notices` table.
#[allow(missing_docs)]
pub mod stored {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "incident_notices")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub incident_id: String,
        pub scope: String,
        pub text: String,
        /// JSON `{language: text}`.
        pub translations: String,
        pub subject: String,
        pub opt_out_text: String,
        pub requested_at: Option<ChronoDateTimeUtc>,
        pub reported_at: Option<ChronoDateTimeUtc>,
        pub in_scope: i64,
        pub requested: i64,
        pub delivered: i64,
        pub failed: i64,
        pub skipped_members: i64,
        pub skipped_opted_out: i64,
        pub skipped_no_channel: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Creates `incident_notices`.
pub struct AddNotices;

impl MigrationName for AddNotices {
    fn name(&self) -> &str {
        "m20261207_000300_add_incident_notices"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddNotices {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("incident_notices")
                    .if_not_exists()
                    .col(string("tenant"))
                    .col(string("incident_id"))
                    .col(text("scope"))
                    .col(text("text"))
                    .col(text("translations"))
                    .col(text("subject"))
                    .col(text("opt_out_text"))
                    .col(timestamp_with_time_zone_null("requested_at"))
                    .col(timestamp_with_time_zone_null("reported_at"))
                    .col(big_integer("in_scope").default(0))
                    .col(big_integer("requested").default(0))
                    .col(big_integer("delivered").default(0))
                    .col(big_integer("failed").default(0))
                    .col(big_integer("skipped_members").default(0))
                    .col(big_integer("skipped_opted_out").default(0))
                    .col(big_integer("skipped_no_channel").default(0))
                    .primary_key(Index::create().col("tenant").col("incident_id"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("incident_notices").if_exists().to_owned()).await
    }
}

/// A notice as given, checked.
pub struct Checked {
    scope: String,
    text: String,
    translations: BTreeMap<String, String>,
    subject: String,
    opt_out_text: String,
}

fn required_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::invalid(field, "is required and must not be blank"));
    }
    validate::text(field, value, max)?;
    Ok(value.to_owned())
}

/// Checks a notice: the scope compiles and yields a bool, the texts are within bounds.
pub fn check(given: &v1::IncidentNotice) -> Result<Checked, ApiError> {
    let scope = given.scope.trim();
    if let Err(problem) = tend_scope::Scope::compile(scope) {
        return Err(ApiError::invalid("notice.scope", problem.to_string()));
    }
    let text = required_text("notice.text", &given.text, MAX_REPLY_BYTES)?;
    validate::count("notice.translations", given.translations.len(), MAX_TRANSLATIONS)?;
    let mut translations = BTreeMap::new();
    for (language, translated) in &given.translations {
        let language = language.trim().to_lowercase();
        if language.is_empty()
            || language.len() > 16
            || !language.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(ApiError::invalid(
                "notice.translations",
                format!("{} is not a language code", validate::quote(&language)),
            ));
        }
        let field = format!("notice.translations[{language}]");
        translations.insert(language, required_text(&field, translated, MAX_REPLY_BYTES)?);
    }
    validate::text("notice.subject", &given.subject, MAX_SUBJECT)?;
    let opt_out_text = required_text("notice.opt_out_text", &given.opt_out_text, MAX_OPT_OUT)?;
    Ok(Checked { scope: scope.to_owned(), text, translations, subject: given.subject.trim().to_owned(), opt_out_text })
}

/// The notice of incident `incident_id`, if it has one.
pub async fn find<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    incident_id: &str,
) -> Result<Option<stored::Model>, DbErr> {
    stored::Entity::find_by_id((tenant.to_owned(), incident_id.to_owned())).one(conn).await
}

/// Stores `checked` as incident `incident_id`'s notice (replacing one not yet requested);
/// FAILED_PRECONDITION once the notice was requested.
pub async fn save<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    incident_id: &str,
    checked: Checked,
) -> Result<(), ApiError> {
    let existing = find(conn, tenant, incident_id).await.context("reading the notice")?;
    if existing.as_ref().is_some_and(|row| row.requested_at.is_some()) {
        return Err(ApiError::FailedPrecondition(format!(
            "the notice of incident {incident_id} was sent already: it can no longer change"
        )));
    }
    let row = stored::Model {
        tenant: tenant.to_owned(),
        incident_id: incident_id.to_owned(),
        scope: checked.scope,
        text: checked.text,
        translations: serde_json::to_string(&checked.translations).map_err(ApiError::internal)?,
        subject: checked.subject,
        opt_out_text: checked.opt_out_text,
        requested_at: None,
        reported_at: None,
        in_scope: 0,
        requested: 0,
        delivered: 0,
        failed: 0,
        skipped_members: 0,
        skipped_opted_out: 0,
        skipped_no_channel: 0,
    };
    let active = stored::ActiveModel::from(row);
    if existing.is_some() {
        active.reset_all().update(conn).await.context("saving the notice")?;
    } else {
        stored::Entity::insert(active).exec_without_returning(conn).await.context("saving the notice")?;
    }
    Ok(())
}

/// Marks incident `incident`'s notice requested and writes `incidents.notice_requested` to the
/// outbox, in `conn` (the caller's transaction). FAILED_PRECONDITION when it has no notice;
/// false (nothing written) when it was requested before.
pub async fn request<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    incident_id: &str,
    title: &str,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    let Some(row) = find(conn, tenant.as_str(), incident_id).await.context("reading the notice")? else {
        return Err(ApiError::FailedPrecondition(format!(
            "incident {incident_id} has no notice to send: give one with UpdateIncident first"
        )));
    };
    if row.requested_at.is_some() {
        return Ok(false);
    }
    let translations: BTreeMap<String, String> = serde_json::from_str(&row.translations).unwrap_or_default();
    let requested = v1::NoticeRequested {
        incident_id: incident_id.to_owned(),
        title: title.to_owned(),
        scope: row.scope.clone(),
        text: row.text.clone(),
        translations: translations.into_iter().collect(),
        subject: row.subject.clone(),
        opt_out_text: row.opt_out_text.clone(),
    };
    let mut active: stored::ActiveModel = row.into();
    active.requested_at = sea_orm::Set(Some(now));
    active.update(conn).await.context("requesting the notice")?;
    outbox::enqueue(conn, streams::NOTICE_REQUESTED, &envelope(SERVICE, tenant, &requested)).await?;
    Ok(true)
}

/// The notice and its progress in the contract's terms.
pub fn to_proto(row: &stored::Model) -> (v1::IncidentNotice, Option<v1::NoticeProgress>) {
    let translations: BTreeMap<String, String> = serde_json::from_str(&row.translations).unwrap_or_default();
    let given = v1::IncidentNotice {
        scope: row.scope.clone(),
        text: row.text.clone(),
        translations: translations.into_iter().collect(),
        subject: row.subject.clone(),
        opt_out_text: row.opt_out_text.clone(),
    };
    let count = |value: i64| <u64 as TryFrom<i64>>::try_from(value).unwrap_or(0);
    let progress = row.requested_at.map(|requested_at| v1::NoticeProgress {
        requested_at: Some(to_timestamp(requested_at)),
        reported_at: row.reported_at.map(to_timestamp),
        in_scope: count(row.in_scope),
        requested: count(row.requested),
        delivered: count(row.delivered),
        failed: count(row.failed),
        skipped_members: count(row.skipped_members),
        skipped_opted_out: count(row.skipped_opted_out),
        skipped_no_channel: count(row.skipped_no_channel),
    });
    (given, progress)
}

/// The incident of a notice's reply id, if `reply_id` is one.
fn incident_of(reply_id: &str) -> Option<&str> {
    let rest = reply_id.strip_prefix(REPLY_PREFIX)?;
    rest.split_once('.').map(|(incident, _)| incident)
}

/// Counts a notice's delivery outcome on its incident (nothing for other replies). Runs in the
/// consumer's transaction, whose inbox makes it once per event.
pub async fn count_outcome<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    reply_id: &str,
    delivered: bool,
) -> Result<(), DbErr> {
    let Some(incident_id) = incident_of(reply_id) else { return Ok(()) };
    let column = if delivered { stored::Column::Delivered } else { stored::Column::Failed };
    stored::Entity::update_many()
        .col_expr(column, Expr::col(column).add(1))
        .filter(stored::Column::Tenant.eq(tenant))
        .filter(stored::Column::IncidentId.eq(incident_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Consumes `incidents.notice_reported`: identity's counts for an incident's notice.
pub struct Reported {
    /// The service's clock.
    pub clock: std::sync::Arc<dyn tend_kernel::ids::Clock>,
}

#[async_trait]
impl EventHandler for Reported {
    type Payload = v1::NoticeReported;

    async fn handle(
        &self,
        effects: &mut Effects<'_>,
        events: &[&Event<v1::NoticeReported>],
    ) -> Result<(), HandleError> {
        let now = self.clock.now();
        for event in events {
            let reported = &event.payload;
            let count = |value: u64| <i64 as TryFrom<u64>>::try_from(value).unwrap_or(i64::MAX);
            stored::Entity::update_many()
                .col_expr(stored::Column::ReportedAt, Expr::value(Some(now)))
                .col_expr(stored::Column::InScope, Expr::value(count(reported.in_scope)))
                .col_expr(stored::Column::Requested, Expr::value(count(reported.requested)))
                .col_expr(stored::Column::SkippedMembers, Expr::value(count(reported.skipped_members)))
                .col_expr(stored::Column::SkippedOptedOut, Expr::value(count(reported.skipped_opted_out)))
                .col_expr(stored::Column::SkippedNoChannel, Expr::value(count(reported.skipped_no_channel)))
                .filter(stored::Column::Tenant.eq(event.tenant.as_str()))
                .filter(stored::Column::IncidentId.eq(reported.incident_id.as_str()))
                .exec(effects.db())
                .await
                .context("recording the notice's counts")?;
            tracing::info!(incident_id = %reported.incident_id, in_scope = reported.in_scope, requested = reported.requested, "incident notice reported");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notice_reply_ids_name_their_incident() {
        assert_eq!(incident_of("notice.inc-1.cust-2"), Some("inc-1"));
        assert_eq!(incident_of("answer.case"), None);
        assert_eq!(incident_of("notice.nodot"), None);
    }

    #[test]
    fn a_notice_is_checked() {
        let notice = v1::IncidentNotice {
            scope: "customer.region == 'north'".into(),
            text: "Fixed".into(),
            opt_out_text: "Reply STOP".into(),
            ..Default::default()
        };
        assert!(check(&notice).is_ok());
        let bad = v1::IncidentNotice { scope: "customer.regoin == 'x'".into(), ..notice.clone() };
        let error = check(&bad).err().unwrap().to_string();
        assert!(error.contains("notice.scope") && error.contains("regoin"), "{error}");
        let no_opt_out = v1::IncidentNotice { opt_out_text: String::new(), ..notice };
        assert!(check(&no_opt_out).is_err());
    }
}
