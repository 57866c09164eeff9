//! The insights export's queries, every one scoped by tenant and bounded by a page: the routed
//! facts of a range customer by customer (keyset on (customer id, interaction id), over the
//! index `routed_facts_tenant_customer`), what a page of customers answered, gave and opted out
//! of (one statement each per page), and the topics of a range grouped by the database.

use std::collections::{BTreeMap, HashMap, HashSet};

use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Statement, Value,
};

use super::Range;
use super::tally::{Csat, Fact, Sentiment, topics_of};
use crate::storage::routed::routed_fact;
use crate::surveys::storage::{opt_out, response};
use crate::testimonials::storage::{FROM_CANDIDATE, FROM_SURVEY, testimonial};

/// The kind of a CSAT answer in `survey_responses`.
const CSAT: &str = "csat";

/// Up to `limit` routed facts of linked customers decided in `range`, in order of (customer id,
/// interaction id), after `after` (the last of the previous page).
pub async fn customer_facts<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    range: &Range,
    after: Option<&(String, String)>,
    limit: u64,
) -> Result<Vec<Fact>, DbErr> {
    let mut query = routed_fact::Entity::find()
        .filter(routed_fact::Column::Tenant.eq(tenant))
        .filter(routed_fact::Column::CustomerId.gt(""))
        .filter(routed_fact::Column::DecidedAt.gte(range.since()))
        .filter(routed_fact::Column::DecidedAt.lt(range.until()));
    if let Some((customer_id, interaction_id)) = after {
        // A row value: both backends seek the index to it rather than filter from the start.
        query = query.filter(
            Expr::tuple([Expr::col(routed_fact::Column::CustomerId), Expr::col(routed_fact::Column::InteractionId)])
                .gt(Expr::tuple([Expr::val(customer_id.as_str()), Expr::val(interaction_id.as_str())])),
        );
    }
    let rows = query
        .order_by_asc(routed_fact::Column::CustomerId)
        .order_by_asc(routed_fact::Column::InteractionId)
        .limit(limit)
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| Fact {
            customer_id: row.customer_id,
            interaction_id: row.interaction_id,
            decided_at: row.decided_at,
            segment: row.segment,
            lifetime_value: row.lifetime_value,
            sentiment: row.sentiment,
            churn_risk: row.churn_risk,
            topics: row.topics,
        })
        .collect())
}

/// Of `customer_ids`, those who opted out of surveys (by customer).
pub async fn opted_out<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    customer_ids: &[&str],
) -> Result<HashSet<String>, DbErr> {
    if customer_ids.is_empty() {
        return Ok(HashSet::new());
    }
    let recipients: Vec<String> = customer_ids.iter().map(|id| format!("c:{id}")).collect();
    let rows = opt_out::Entity::find()
        .filter(opt_out::Column::Tenant.eq(tenant))
        .filter(opt_out::Column::Recipient.is_in(recipients))
        .all(conn)
        .await?;
    Ok(rows.into_iter().filter_map(|row| row.recipient.strip_prefix("c:").map(str::to_owned)).collect())
}

/// The CSAT answers `customer_ids` gave in `range`, by customer.
pub async fn csat_of<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    range: &Range,
    customer_ids: &[&str],
) -> Result<HashMap<String, Csat>, DbErr> {
    let mut by_customer: HashMap<String, Csat> = HashMap::new();
    if customer_ids.is_empty() {
        return Ok(by_customer);
    }
    let rows: Vec<(String, i32)> = response::Entity::find()
        .select_only()
        .column(response::Column::CustomerId)
        .column(response::Column::Score)
        .filter(response::Column::Tenant.eq(tenant))
        .filter(response::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .filter(response::Column::Kind.eq(CSAT))
        .filter(response::Column::RespondedAt.gte(range.since()))
        .filter(response::Column::RespondedAt.lt(range.until()))
        .into_tuple()
        .all(conn)
        .await?;
    for (customer_id, score) in rows {
        by_customer.entry(customer_id).or_default().add(score);
    }
    Ok(by_customer)
}

/// The testimonials `customer_ids` gave in `range`, by customer, oldest first.
pub async fn testimonials_of<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    range: &Range,
    customer_ids: &[&str],
) -> Result<HashMap<String, Vec<testimonial::Model>>, DbErr> {
    let mut by_customer: HashMap<String, Vec<testimonial::Model>> = HashMap::new();
    if customer_ids.is_empty() {
        return Ok(by_customer);
    }
    let rows = testimonial::Entity::find()
        .filter(testimonial::Column::Tenant.eq(tenant))
        .filter(testimonial::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .filter(testimonial::Column::CreatedAt.gte(range.since()))
        .filter(testimonial::Column::CreatedAt.lt(range.until()))
        .order_by_asc(testimonial::Column::TestimonialId)
        .all(conn)
        .await?;
    for row in rows {
        by_customer.entry(row.customer_id.clone()).or_default().push(row);
    }
    Ok(by_customer)
}

/// CSAT answers given in `range`, by each topic of their case, read [`super::ROWS_PER_PAGE`] at
/// a time (in order of survey id).
pub async fn csat_by_topic<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    range: &Range,
) -> Result<BTreeMap<String, Csat>, DbErr> {
    let mut by_topic: BTreeMap<String, Csat> = BTreeMap::new();
    let mut after = String::new();
    loop {
        let rows: Vec<(String, String, i32)> = response::Entity::find()
            .select_only()
            .column(response::Column::SurveyId)
            .column(response::Column::Topics)
            .column(response::Column::Score)
            .filter(response::Column::Tenant.eq(tenant))
            .filter(response::Column::Kind.eq(CSAT))
            .filter(response::Column::RespondedAt.gte(range.since()))
            .filter(response::Column::RespondedAt.lt(range.until()))
            .filter(response::Column::SurveyId.gt(after.as_str()))
            .order_by_asc(response::Column::SurveyId)
            .limit(super::ROWS_PER_PAGE)
            .into_tuple()
            .all(conn)
            .await?;
        let full = rows.len() as u64 == super::ROWS_PER_PAGE;
        for (survey_id, topics, score) in rows {
            for topic in topics_of(&topics) {
                by_topic.entry(topic.to_owned()).or_default().add(score);
            }
            after = survey_id;
        }
        if !full {
            return Ok(by_topic);
        }
    }
}

/// Testimonials given in `range` whose consent stands, by each topic of their source (the
/// surveyed case's topics, or the praised post's), read [`super::ROWS_PER_PAGE`] at a time.
pub async fn testimonials_by_topic<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    range: &Range,
) -> Result<BTreeMap<String, u64>, DbErr> {
    let mut by_topic: BTreeMap<String, u64> = BTreeMap::new();
    let mut after = String::new();
    loop {
        let rows: Vec<(String, String, String)> = testimonial::Entity::find()
            .select_only()
            .column(testimonial::Column::TestimonialId)
            .column(testimonial::Column::Source)
            .column(testimonial::Column::SourceId)
            .filter(testimonial::Column::Tenant.eq(tenant))
            .filter(testimonial::Column::CreatedAt.gte(range.since()))
            .filter(testimonial::Column::CreatedAt.lt(range.until()))
            .filter(testimonial::Column::ConsentGivenAt.is_not_null())
            .filter(testimonial::Column::WithdrawnAt.is_null())
            .filter(testimonial::Column::TestimonialId.gt(after.as_str()))
            .order_by_asc(testimonial::Column::TestimonialId)
            .limit(super::ROWS_PER_PAGE)
            .into_tuple()
            .all(conn)
            .await?;
        let full = rows.len() as u64 == super::ROWS_PER_PAGE;
        let surveys: Vec<&str> = rows.iter().filter(|row| row.1 == FROM_SURVEY).map(|row| row.2.as_str()).collect();
        let posts: Vec<&str> = rows.iter().filter(|row| row.1 == FROM_CANDIDATE).map(|row| row.2.as_str()).collect();
        let mut topics: HashMap<(String, String), String> = HashMap::new();
        if !surveys.is_empty() {
            let found: Vec<(String, String)> = response::Entity::find()
                .select_only()
                .column(response::Column::SurveyId)
                .column(response::Column::Topics)
                .filter(response::Column::Tenant.eq(tenant))
                .filter(response::Column::SurveyId.is_in(surveys))
                .into_tuple()
                .all(conn)
                .await?;
            topics.extend(found.into_iter().map(|(id, topics)| ((FROM_SURVEY.to_owned(), id), topics)));
        }
        if !posts.is_empty() {
            let found: Vec<(String, String)> = routed_fact::Entity::find()
                .select_only()
                .column(routed_fact::Column::InteractionId)
                .column(routed_fact::Column::Topics)
                .filter(routed_fact::Column::Tenant.eq(tenant))
                .filter(routed_fact::Column::InteractionId.is_in(posts))
                .into_tuple()
                .all(conn)
                .await?;
            topics.extend(found.into_iter().map(|(id, topics)| ((FROM_CANDIDATE.to_owned(), id), topics)));
        }
        for (testimonial_id, source, source_id) in rows {
            if let Some(joined) = topics.get(&(source, source_id)) {
                for topic in topics_of(joined) {
                    *by_topic.entry(topic.to_owned()).or_default() += 1;
                }
            }
            after = testimonial_id;
        }
        if !full {
            return Ok(by_topic);
        }
    }
}

/// A topic's posts in a range, as the database adds them up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicTotals {
    /// The topic.
    pub topic: String,
    /// Posts that mention it.
    pub posts: u64,
    /// Distinct linked customers among their authors.
    pub customers: u64,
    /// Their sentiment by half of the range.
    pub sentiment: Sentiment,
    /// Posts read as a churn risk.
    pub churn_risk: u64,
}

/// The score of a sentiment label in SQL, as [`super::tally::score`] gives it (0 without one).
const SCORE: &str = "(CASE f.sentiment WHEN 1 THEN -1 WHEN 3 THEN 1 ELSE 0 END)";
/// Whether a post has a sentiment reading, in SQL.
const RATED: &str = "f.sentiment IN (1, 2, 3)";
/// Each topic mention joined with its fact.
const TOPIC_FACTS: &str =
    "routed_topics t JOIN routed_facts f ON f.tenant = t.tenant AND f.interaction_id = t.interaction_id";
/// Distinct linked customers, in SQL.
const CUSTOMERS: &str = "COUNT(DISTINCT CASE WHEN f.customer_id <> '' THEN f.customer_id END)";

/// `sql` with `?` placeholders as `backend` writes them, with `values`.
fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => {
            let mut numbered = String::with_capacity(sql.len() + 16);
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    numbered.push_str(&format!("${n}"));
                } else {
                    numbered.push(c);
                }
            }
            numbered
        }
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// A count as the backends return it.
fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Up to `limit` topics mentioned in `range` after `after` (in order of name), each added up by
/// the database in one grouped statement over the range.
pub async fn topic_totals<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    range: &Range,
    after: &str,
    limit: u64,
) -> Result<Vec<TopicTotals>, DbErr> {
    let sql = format!(
        "SELECT t.topic AS topic, COUNT(*) AS posts, {CUSTOMERS} AS customers, \
         SUM(CASE WHEN f.decided_at < ? AND {RATED} THEN 1 ELSE 0 END) AS first_rated, \
         SUM(CASE WHEN f.decided_at < ? THEN {SCORE} ELSE 0 END) AS first_sum, \
         SUM(CASE WHEN f.decided_at >= ? AND {RATED} THEN 1 ELSE 0 END) AS second_rated, \
         SUM(CASE WHEN f.decided_at >= ? THEN {SCORE} ELSE 0 END) AS second_sum, \
         SUM(CASE WHEN f.churn_risk THEN 1 ELSE 0 END) AS churn_risk \
         FROM {TOPIC_FACTS} \
         WHERE t.tenant = ? AND t.decided_at >= ? AND t.decided_at < ? AND t.topic > ? \
         GROUP BY t.topic ORDER BY t.topic LIMIT ?"
    );
    let middle = range.middle();
    let values = vec![
        Value::from(middle),
        Value::from(middle),
        Value::from(middle),
        Value::from(middle),
        Value::from(tenant),
        Value::from(range.since()),
        Value::from(range.until()),
        Value::from(after),
        Value::from(i64::try_from(limit).unwrap_or(i64::MAX)),
    ];
    let rows = conn.query_all_raw(statement(conn.get_database_backend(), &sql, values)).await?;
    let mut totals = Vec::with_capacity(rows.len());
    for row in rows {
        let number = |column: &str| -> Result<i64, DbErr> { Ok(row.try_get::<Option<i64>>("", column)?.unwrap_or(0)) };
        totals.push(TopicTotals {
            topic: row.try_get("", "topic")?,
            posts: count(number("posts")?),
            customers: count(number("customers")?),
            sentiment: Sentiment {
                first_rated: count(number("first_rated")?),
                first_sum: number("first_sum")?,
                second_rated: count(number("second_rated")?),
                second_sum: number("second_sum")?,
            },
            churn_risk: count(number("churn_risk")?),
        });
    }
    Ok(totals)
}

/// For each of `topics`, its posts and distinct customers in `range` by segment: (topic,
/// segment, posts, customers).
pub async fn topic_segments<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    range: &Range,
    topics: &[&str],
) -> Result<Vec<(String, String, u64, u64)>, DbErr> {
    if topics.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders = vec!["?"; topics.len()].join(", ");
    let sql = format!(
        "SELECT t.topic AS topic, f.segment AS segment, COUNT(*) AS posts, {CUSTOMERS} AS customers \
         FROM {TOPIC_FACTS} \
         WHERE t.tenant = ? AND t.decided_at >= ? AND t.decided_at < ? AND t.topic IN ({placeholders}) \
         GROUP BY t.topic, f.segment"
    );
    let mut values = vec![Value::from(tenant), Value::from(range.since()), Value::from(range.until())];
    values.extend(topics.iter().map(|topic| Value::from(*topic)));
    let rows = conn.query_all_raw(statement(conn.get_database_backend(), &sql, values)).await?;
    let mut shares = Vec::with_capacity(rows.len());
    for row in rows {
        let posts: i64 = row.try_get("", "posts")?;
        let customers: i64 = row.try_get("", "customers")?;
        shares.push((row.try_get("", "topic")?, row.try_get("", "segment")?, count(posts), count(customers)));
    }
    Ok(shares)
}
