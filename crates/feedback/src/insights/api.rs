//! `ExportInsights` on the wire: the request checked into a [`Query`], the export run in a task
//! of its own under a deadline and a per-replica limit, its records turned into messages.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tend_kernel::ApiError;
use tend_kernel::auth::{Access, Caller};
use tend_kernel::ids::{from_timestamp, to_timestamp};
use tend_proto::v1;
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::tally::{CustomerRecord, Record, Sentiment, TopicRecord};
use super::{DEADLINE, Error, Grouping, MAX_CONCURRENT_EXPORTS, Outcome, Query, Range};

/// The stream `ExportInsights` answers with.
pub type Responses = tend_client::ExportInsightsStream;

/// Records buffered between the export and the client: the export waits when the client reads
/// slower than it computes.
const BUFFER: usize = 64;

/// Runs exports, at most [`MAX_CONCURRENT_EXPORTS`] at once on this replica.
#[derive(Clone)]
pub struct Exports {
    slots: Arc<Semaphore>,
}

impl Default for Exports {
    fn default() -> Self {
        Self { slots: Arc::new(Semaphore::new(MAX_CONCURRENT_EXPORTS)) }
    }
}

/// `request` checked: `since` required, `until` (default `now`) after it and at most
/// [`super::MAX_RANGE_DAYS`] later, `by` set.
pub fn query(request: &v1::ExportInsightsRequest, now: chrono::DateTime<chrono::Utc>) -> Result<Query, Error> {
    let Some(since) = &request.since else {
        return Err(Error::invalid("since", "is required: the start of the range, e.g. 30 days ago"));
    };
    let since = from_timestamp("since", since).map_err(|_| Error::invalid("since", "is not a valid time"))?;
    let until = match &request.until {
        Some(until) => from_timestamp("until", until).map_err(|_| Error::invalid("until", "is not a valid time"))?,
        None => now,
    };
    let by = match v1::InsightGrouping::try_from(request.by) {
        Ok(v1::InsightGrouping::Customer) => Grouping::Customer,
        Ok(v1::InsightGrouping::Topic) => Grouping::Topic,
        _ => {
            return Err(Error::invalid(
                "by",
                "must be INSIGHT_GROUPING_CUSTOMER (a record per customer) or INSIGHT_GROUPING_TOPIC (per topic)",
            ));
        }
    };
    Ok(Query { range: Range::new(since, until)?, by })
}

impl Exports {
    /// Starts the export `request` asks of `caller`'s tenant (admin only), and answers with its
    /// records as they come.
    pub fn start(
        &self,
        db: &DatabaseConnection,
        caller: &Caller,
        request: &v1::ExportInsightsRequest,
    ) -> Result<Responses, Status> {
        caller.require(Access::Admin)?;
        let query = query(request, chrono::Utc::now()).map_err(ApiError::from)?;
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            return Err(Status::resource_exhausted(format!(
                "this replica already runs {MAX_CONCURRENT_EXPORTS} insights exports: retry when one has finished"
            )));
        };
        let (records, receiver) = mpsc::channel(BUFFER);
        let (failures, failed) = mpsc::channel::<Status>(1);
        let db = db.clone();
        let tenant = caller.tenant.as_str().to_owned();
        tokio::spawn(async move {
            let _slot = slot;
            let started = std::time::Instant::now();
            let result = tokio::time::timeout(DEADLINE, super::run(&db, &tenant, &query, &records)).await;
            let status = match result {
                Ok(Ok(Outcome::Finished(sent))) => {
                    tracing::info!(records = sent, ms = started.elapsed().as_secs_f64() * 1e3, "insights exported");
                    None
                }
                Ok(Ok(Outcome::Abandoned(sent))) => {
                    tracing::info!(records = sent, "insights export abandoned by the client");
                    None
                }
                Ok(Err(error)) => Some(Status::from(ApiError::from(error))),
                Err(_) => Some(Status::deadline_exceeded(format!(
                    "the export ran past {} seconds and was stopped after the records sent: export a shorter range",
                    DEADLINE.as_secs()
                ))),
            };
            // The records go first: the failure follows them once they are all taken.
            drop(records);
            if let Some(status) = status {
                let _ = failures.send(status).await;
            }
        });
        let records = ReceiverStream::new(receiver).map(|record| Ok::<_, Status>(to_proto(record)));
        let failed = ReceiverStream::new(failed).map(Err::<v1::ExportInsightsResponse, Status>);
        Ok(Box::pin(records.chain(failed)))
    }
}

/// A record on the wire.
pub fn to_proto(record: Record) -> v1::ExportInsightsResponse {
    let record = match record {
        Record::Customer(customer) => v1::export_insights_response::Record::Customer(customer_to_proto(customer)),
        Record::Topic(topic) => v1::export_insights_response::Record::Topic(topic_to_proto(topic)),
    };
    v1::ExportInsightsResponse { record: Some(record) }
}

fn sentiment_to_proto(sentiment: &Sentiment) -> v1::SentimentTrend {
    v1::SentimentTrend {
        rated: sentiment.rated(),
        average: sentiment.average(),
        first_half_rated: sentiment.first_rated,
        first_half_average: sentiment.first_half_average(),
        second_half_rated: sentiment.second_rated,
        second_half_average: sentiment.second_half_average(),
        change: sentiment.change(),
    }
}

fn customer_to_proto(record: CustomerRecord) -> v1::CustomerInsight {
    v1::CustomerInsight {
        sentiment: Some(sentiment_to_proto(&record.sentiment)),
        customer_id: record.customer_id,
        segment: record.segment,
        lifetime_value: record.lifetime_value,
        posts: record.posts,
        top_topics: record.top_topics.into_iter().map(|(topic, posts)| v1::InsightTopic { topic, posts }).collect(),
        churn_risk_posts: record.churn_risk_posts,
        last_churn_risk_at: record.last_churn_risk_at.map(to_timestamp),
        csat_responses: record.csat.responses,
        csat_average: record.csat.average(),
        testimonials_consented: record.testimonials_consented,
        testimonials_published: record.testimonials_published,
        quotes: record
            .quotes
            .into_iter()
            .map(|quote| v1::InsightQuote {
                testimonial_id: quote.testimonial_id,
                quote: quote.quote,
                attribution: quote.attribution,
            })
            .collect(),
        first_contact_at: Some(to_timestamp(record.first_contact_at)),
        last_contact_at: Some(to_timestamp(record.last_contact_at)),
    }
}

fn topic_to_proto(record: TopicRecord) -> v1::TopicInsight {
    v1::TopicInsight {
        sentiment: Some(sentiment_to_proto(&record.sentiment)),
        topic: record.topic,
        posts: record.posts,
        customers: record.customers,
        churn_risk_posts: record.churn_risk_posts,
        csat_responses: record.csat.responses,
        csat_average: record.csat.average(),
        segments: record
            .segments
            .into_iter()
            .map(|share| v1::SegmentShare { segment: share.segment, posts: share.posts, customers: share.customers })
            .collect(),
        testimonials: record.testimonials,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use chrono::{Duration, TimeZone as _, Utc};

    use super::*;

    fn request(since: Option<i64>, until: Option<i64>, by: v1::InsightGrouping) -> v1::ExportInsightsRequest {
        let at = |days: i64| to_timestamp(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::days(days));
        v1::ExportInsightsRequest { since: since.map(at), until: until.map(at), by: by as i32 }
    }

    fn field_of(result: Result<Query, Error>) -> &'static str {
        match result {
            Err(Error::Invalid { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        }
    }

    #[test]
    fn a_request_names_the_field_to_fix() {
        let now = Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).unwrap();
        assert_eq!(field_of(query(&request(None, None, v1::InsightGrouping::Customer), now)), "since");
        assert_eq!(field_of(query(&request(Some(0), None, v1::InsightGrouping::Unspecified), now)), "by");
        assert_eq!(field_of(query(&request(Some(10), Some(10), v1::InsightGrouping::Topic), now)), "until");
        assert_eq!(field_of(query(&request(Some(0), Some(401), v1::InsightGrouping::Topic), now)), "until");
        let query = query(&request(Some(0), Some(400), v1::InsightGrouping::Topic), now).unwrap();
        assert_eq!(query.by, Grouping::Topic);
        assert_eq!(query.range.until() - query.range.since(), Duration::days(400));
        assert_eq!(query.range.middle() - query.range.since(), Duration::days(200));
    }
}
