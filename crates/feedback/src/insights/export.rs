//! The export workflow: reads the range page by page, adds each page up into records and hands
//! them to a channel, a record at a time. Memory holds one page of rows and the records of one
//! page (and, by topic, a tally per topic of the CSAT answers and testimonials); it stops as
//! soon as the receiver is gone (the client went away).

use sea_orm::ConnectionTrait;
use tend_store::DbContext as _;
use tokio::sync::mpsc;

use super::storage::{self, TopicTotals};
use super::tally::{CustomerTally, Fact, Record, TopicRecord, segments};
use super::{Error, FACTS_PER_PAGE, Grouping, Query, Range, TOPICS_PER_PAGE};

/// How an export ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every record was sent; how many.
    Finished(u64),
    /// The receiver went away after this many records.
    Abandoned(u64),
}

/// Where records go, counting them.
struct Sink<'a> {
    out: &'a mpsc::Sender<Record>,
    sent: u64,
}

impl Sink<'_> {
    /// Sends `record`; false when the receiver is gone.
    async fn send(&mut self, record: Record) -> bool {
        if self.out.send(record).await.is_err() {
            return false;
        }
        self.sent += 1;
        true
    }
}

/// Runs the export `query` of `tenant` over `conn`, sending each record to `out`.
pub async fn run<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    query: &Query,
    out: &mpsc::Sender<Record>,
) -> Result<Outcome, Error> {
    let mut sink = Sink { out, sent: 0 };
    let finished = match query.by {
        Grouping::Customer => customers(conn, tenant, &query.range, &mut sink).await?,
        Grouping::Topic => topics(conn, tenant, &query.range, &mut sink).await?,
    };
    Ok(if finished { Outcome::Finished(sink.sent) } else { Outcome::Abandoned(sink.sent) })
}

/// The per-customer records: the facts in order of customer, [`FACTS_PER_PAGE`] at a time; a
/// customer whose facts run on past a page is carried to the next. Returns false when the
/// receiver went away.
async fn customers<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    range: &Range,
    sink: &mut Sink<'_>,
) -> Result<bool, Error> {
    let middle = range.middle();
    let mut after: Option<(String, String)> = None;
    let mut open: Option<CustomerTally> = None;
    loop {
        if sink.out.is_closed() {
            return Ok(false);
        }
        let facts: Vec<Fact> = storage::customer_facts(conn, tenant, range, after.as_ref(), FACTS_PER_PAGE)
            .await
            .context("reading routed facts by customer")?;
        let last_page = (facts.len() as u64) < FACTS_PER_PAGE;
        if let Some(last) = facts.last() {
            after = Some((last.customer_id.clone(), last.interaction_id.clone()));
        }
        let mut done = Vec::new();
        for fact in &facts {
            match open.as_mut() {
                Some(tally) if tally.customer_id() == fact.customer_id => tally.add(fact, middle),
                _ => done.extend(open.replace(CustomerTally::new(fact, middle))),
            }
        }
        if last_page {
            done.extend(open.take());
        }
        if !finish_customers(conn, tenant, range, done, sink).await? {
            return Ok(false);
        }
        if last_page {
            return Ok(true);
        }
    }
}

/// Completes the records of `done` (customers whose facts are all read) with what they
/// answered and gave, leaves out those who opted out, and sends the rest: three statements for
/// the page. Returns false when the receiver went away.
async fn finish_customers<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    range: &Range,
    done: Vec<CustomerTally>,
    sink: &mut Sink<'_>,
) -> Result<bool, Error> {
    if done.is_empty() {
        return Ok(true);
    }
    let ids: Vec<&str> = done.iter().map(CustomerTally::customer_id).collect();
    let opted_out = storage::opted_out(conn, tenant, &ids).await.context("reading survey opt-outs")?;
    let consenting: Vec<&str> = ids.iter().copied().filter(|id| !opted_out.contains(*id)).collect();
    let mut csat = storage::csat_of(conn, tenant, range, &consenting).await.context("reading CSAT answers")?;
    let mut testimonials =
        storage::testimonials_of(conn, tenant, range, &consenting).await.context("reading testimonials")?;
    for tally in done {
        if opted_out.contains(tally.customer_id()) {
            continue;
        }
        let mut record = tally.finish();
        record.csat = csat.remove(&record.customer_id).unwrap_or_default();
        for row in testimonials.remove(&record.customer_id).unwrap_or_default() {
            record.add_testimonial(&row);
        }
        if !sink.send(Record::Customer(record)).await {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The per-topic records: CSAT answers and testimonials tallied by topic first, then the
/// topics [`TOPICS_PER_PAGE`] at a time, each page two grouped statements (totals, segments).
/// Returns false when the receiver went away.
async fn topics<C: ConnectionTrait>(conn: &C, tenant: &str, range: &Range, sink: &mut Sink<'_>) -> Result<bool, Error> {
    let mut csat = storage::csat_by_topic(conn, tenant, range).await.context("reading CSAT answers by topic")?;
    let mut testimonials =
        storage::testimonials_by_topic(conn, tenant, range).await.context("reading testimonials by topic")?;
    let mut after = String::new();
    loop {
        if sink.out.is_closed() {
            return Ok(false);
        }
        let totals: Vec<TopicTotals> =
            storage::topic_totals(conn, tenant, range, &after, TOPICS_PER_PAGE).await.context("adding up topics")?;
        let last_page = (totals.len() as u64) < TOPICS_PER_PAGE;
        let names: Vec<&str> = totals.iter().map(|totals| totals.topic.as_str()).collect();
        let mut shares: std::collections::HashMap<String, Vec<(String, u64, u64)>> = std::collections::HashMap::new();
        for (topic, segment, posts, customers) in
            storage::topic_segments(conn, tenant, range, &names).await.context("adding up topics by segment")?
        {
            shares.entry(topic).or_default().push((segment, posts, customers));
        }
        if let Some(last) = totals.last() {
            after.clone_from(&last.topic);
        }
        for totals in totals {
            let record = TopicRecord {
                csat: csat.remove(&totals.topic).unwrap_or_default(),
                testimonials: testimonials.remove(&totals.topic).unwrap_or_default(),
                segments: segments(shares.remove(&totals.topic).unwrap_or_default()),
                posts: totals.posts,
                customers: totals.customers,
                sentiment: totals.sentiment,
                churn_risk_posts: totals.churn_risk,
                topic: totals.topic,
            };
            if !sink.send(Record::Topic(record)).await {
                return Ok(false);
            }
        }
        if last_page {
            return Ok(true);
        }
    }
}
