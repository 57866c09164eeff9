//! The routing service's tables, their migrations and queries (tenant-scoped): decisions here,
//! rule sets, SLA policies and calendars in [`config`].

pub mod agents;
pub mod config;
mod migrations;
pub mod policies;
pub mod work;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr, ExprTrait as _};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tend_kernel::paging::Page;
use tend_store::query::newest_first;

/// The `routing_decisions` table: what routing decided for each interaction.
#[allow(missing_docs)]
pub mod decision {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "routing_decisions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub tenant: String,
        pub interaction_id: String,
        pub case_id: String,
        pub priority: i32,
        /// One reason per line.
        pub reasons: String,
        pub decided_at: ChronoDateTimeUtc,
        /// False: no case was opened (`case_id` is empty).
        pub actionable: bool,
        pub not_actionable_reason: String,
        pub rule_set_version: i32,
        /// The `tend.v1.RoutingOutcome`, protobuf-encoded.
        pub outcome: Option<Vec<u8>>,
        /// What the decision was made from, for simulations: the `tend.v1.InteractionIdentified`
        /// without cues and signature, protobuf-encoded. Blanked on erasure.
        pub input: Option<Vec<u8>>,
        /// "rule: error" per line.
        pub rule_errors: String,
        pub customer_id: String,
        pub profile_id: String,
        /// When the case was resolved, from `cases.events`.
        pub resolved_at: Option<ChronoDateTimeUtc>,
        /// When an agent first answered, from `cases.events`.
        pub first_response_at: Option<ChronoDateTimeUtc>,
        /// The tenant's topics it mentions, as ",a,b," ("" for none).
        pub topics: String,
        /// The cluster of similar posts it joined ("" without a signature).
        pub cluster_id: String,
        /// Its near-duplicate signature, 64 little-endian `u32` (the index is rebuilt from it).
        pub signature: Option<Vec<u8>>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use migrations::Migrator;

/// The decision made for a tenant's interaction, if any.
pub async fn find_by_interaction<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    interaction_id: &str,
) -> Result<Option<decision::Model>, DbErr> {
    decision::Entity::find()
        .filter(decision::Column::Tenant.eq(tenant))
        .filter(decision::Column::InteractionId.eq(interaction_id))
        .one(conn)
        .await
}

/// The most decisions a subject access export reads.
pub const MAX_EXPORTED_DECISIONS: u64 = 100_000;

/// The decisions of `tenant` about `customer_id` or any of `profile_ids`, oldest first
/// (subject access), at most [`MAX_EXPORTED_DECISIONS`].
pub async fn of_person<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_id: &str,
    profile_ids: &[String],
) -> Result<Vec<decision::Model>, DbErr> {
    let mut whose = Condition::any().add(decision::Column::CustomerId.eq(customer_id));
    if !profile_ids.is_empty() {
        whose = whose.add(decision::Column::ProfileId.is_in(profile_ids.iter().map(String::as_str)));
    }
    decision::Entity::find()
        .filter(decision::Column::Tenant.eq(tenant))
        .filter(whose)
        .order_by_asc(decision::Column::Id)
        .limit(MAX_EXPORTED_DECISIONS)
        .all(conn)
        .await
}

/// Records decisions in one statement; one already recorded for the same interaction (a
/// redelivered event) is kept as it was.
pub async fn insert_decisions<C: ConnectionTrait>(conn: &C, rows: Vec<decision::Model>) -> Result<(), DbErr> {
    let rows = rows.into_iter().map(decision::ActiveModel::from).collect();
    tend_store::query::insert_new(conn, rows, [decision::Column::Tenant, decision::Column::InteractionId]).await?;
    Ok(())
}

/// A page of a tenant's rows, newest first.
pub async fn list<C: ConnectionTrait>(conn: &C, tenant: &str, page: &Page) -> Result<Vec<decision::Model>, DbErr> {
    let query = decision::Entity::find().filter(decision::Column::Tenant.eq(tenant));
    newest_first(query, decision::Column::Id, page).all(conn).await
}

/// The tenant's decisions made in [since, until), newest first, at most `limit`.
pub async fn window<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<decision::Model>, DbErr> {
    decision::Entity::find()
        .filter(decision::Column::Tenant.eq(tenant))
        .filter(decision::Column::DecidedAt.gte(since))
        .filter(decision::Column::DecidedAt.lt(until))
        .order_by_desc(decision::Column::DecidedAt)
        .limit(limit)
        .all(conn)
        .await
}

/// Records when a case was first answered and resolved, on the decision that opened it: the
/// first answer recorded stays the first, the last resolution replaces an earlier one. With
/// neither given it does nothing.
pub async fn record_case_times<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    case_id: &str,
    first_response_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    if first_response_at.is_none() && resolved_at.is_none() {
        return Ok(());
    }
    let mut update = decision::Entity::update_many()
        .filter(decision::Column::Tenant.eq(tenant))
        .filter(decision::Column::CaseId.eq(case_id));
    if let Some(at) = first_response_at {
        update = update
            .col_expr(decision::Column::FirstResponseAt, Expr::col(decision::Column::FirstResponseAt).if_null(at));
    }
    if let Some(at) = resolved_at {
        // A reopened and again resolved case counts its last resolution.
        update = update.col_expr(decision::Column::ResolvedAt, Expr::value(at));
    }
    update.exec(conn).await?;
    Ok(())
}

/// Blanks the inputs (the post's text and author) of the decisions about an erased customer or
/// their profiles, and returns how many there were.
pub async fn erase_inputs<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_id: Option<&str>,
    profile_ids: &[String],
) -> Result<u64, DbErr> {
    let mut whose = Condition::any();
    if let Some(customer_id) = customer_id {
        whose = whose.add(decision::Column::CustomerId.eq(customer_id));
    }
    if !profile_ids.is_empty() {
        whose = whose.add(decision::Column::ProfileId.is_in(profile_ids.iter().map(String::as_str)));
    }
    if whose.is_empty() {
        return Ok(0);
    }
    let result = decision::Entity::update_many()
        .col_expr(decision::Column::Input, Expr::value(Option::<Vec<u8>>::None))
        // A signature is a fingerprint of what they wrote: it goes too (the post leaves the
        // similar-post index when it next leaves the window or the replica restarts).
        .col_expr(decision::Column::Signature, Expr::value(Option::<Vec<u8>>::None))
        .col_expr(decision::Column::CustomerId, Expr::value(""))
        .col_expr(decision::Column::ProfileId, Expr::value(""))
        .filter(decision::Column::Tenant.eq(tenant))
        .filter(whose)
        .exec(conn)
        .await?;
    Ok(result.rows_affected)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use sea_orm::DatabaseConnection;
    use tend_store::testing::{Backend, TestStore};

    use super::*;

    async fn database(backend: Backend) -> (TestStore, DatabaseConnection) {
        let store = TestStore::create(backend).await;
        let db = store.connect::<Migrator>("routing").await;
        (store, db)
    }

    fn decided(tenant: &str, interaction_id: &str, priority: i32) -> decision::Model {
        decision::Model {
            id: tend_kernel::ids::new_id(),
            tenant: tenant.to_owned(),
            interaction_id: interaction_id.to_owned(),
            case_id: tend_kernel::ids::new_id(),
            priority,
            reasons: "base 30".to_owned(),
            decided_at: tend_kernel::ids::now(),
            actionable: true,
            not_actionable_reason: String::new(),
            rule_set_version: 0,
            outcome: None,
            input: Some(vec![1, 2, 3]),
            rule_errors: String::new(),
            customer_id: "c1".into(),
            profile_id: "p1".into(),
            resolved_at: None,
            first_response_at: None,
            topics: String::new(),
            cluster_id: interaction_id.to_owned(),
            signature: Some(vec![7; 256]),
        }
    }

    async fn a_decision_is_recorded_once_per_interaction(backend: Backend) {
        let (store, db) = database(backend).await;
        let first = decided("acme", "i1", 40);
        insert_decisions(&db, vec![first.clone(), decided("acme", "i2", 50)]).await.unwrap();
        // A redelivered event decides again: the first decision stands.
        insert_decisions(&db, vec![decided("acme", "i1", 90), decided("globex", "i1", 30)]).await.unwrap();
        assert_eq!(find_by_interaction(&db, "acme", "i1").await.unwrap(), Some(first));
        assert_eq!(find_by_interaction(&db, "globex", "i1").await.unwrap().map(|row| row.priority), Some(30));
        let page = Page::parse(10, "").unwrap();
        assert_eq!(list(&db, "acme", &page).await.unwrap().len(), 2);
        store.cleanup().await;
    }

    async fn case_times_and_erasure_reach_the_decision(backend: Backend) {
        let (store, db) = database(backend).await;
        let first = decided("acme", "i1", 40);
        let other = decided("acme", "i2", 40);
        insert_decisions(&db, vec![first.clone(), other.clone()]).await.unwrap();
        let resolved = first.decided_at + chrono::TimeDelta::hours(2);
        record_case_times(&db, "acme", &first.case_id, None, None).await.unwrap();
        record_case_times(&db, "acme", &first.case_id, Some(resolved), Some(resolved)).await.unwrap();
        let later = resolved + chrono::TimeDelta::hours(1);
        record_case_times(&db, "acme", &first.case_id, Some(later), None).await.unwrap();
        let row = find_by_interaction(&db, "acme", "i1").await.unwrap().unwrap();
        assert_eq!(
            (row.first_response_at, row.resolved_at),
            (Some(resolved), Some(resolved)),
            "the first answer stays"
        );
        let window = window(&db, "acme", first.decided_at, later + chrono::TimeDelta::days(1), 10).await.unwrap();
        assert_eq!(window.len(), 2);

        // Erasure blanks the input and the ids of the customer's decisions, and only theirs.
        assert_eq!(erase_inputs(&db, "acme", Some("c1"), &[]).await.unwrap(), 2);
        assert_eq!(erase_inputs(&db, "acme", None, &[]).await.unwrap(), 0);
        let row = find_by_interaction(&db, "acme", "i2").await.unwrap().unwrap();
        assert_eq!((row.input, row.customer_id.as_str(), row.profile_id.as_str()), (None, "", ""));
        assert_eq!(row.signature, None, "the fingerprint of what they wrote goes too");
        assert_eq!(row.priority, 40, "the decision itself stands");
        store.cleanup().await;
    }

    tend_store::on_both_backends!(
        a_decision_is_recorded_once_per_interaction,
        case_times_and_erasure_reach_the_decision
    );
}
