//! Decision data: `ExportInsights`, the social and business data feedback keeps, integrated per
//! customer or per topic over a time range, for marketing campaigns, up-sell and product
//! decisions (docs/FEEDBACK.md, "Insights").
//!
//! Nothing is kept for it beyond a few columns on the rows the consumers already write
//! (`routed_facts`: the linked customer, the CRM's segment and value, the churn-risk reading):
//! an export is a batch job computed when asked, by scanning the range a page at a time.
//!
//! - [`tally`]: the figures, pure: a customer's or a topic's posts added up, the sentiment trend.
//! - [`storage`]: the queries, one per page (and a few per page of customers), never one per
//!   customer.
//! - [`export`]: the workflow: the range read page by page into records handed to a channel,
//!   stopping when the receiver goes away.
//! - [`api`]: the RPC: the request checked, the workflow run in a task under a deadline and a
//!   per-replica limit, records turned into messages.
//!
//! **Erasure**: `customers.erased` blanks the customer on their routed facts and their survey
//! answers and deletes their testimonials, so an erased customer is in no record.
//! **Consent**: a customer who opted out of surveys (`survey_opt_outs`, by customer) objected
//! to being contacted: they get no per-customer record; the per-topic records count them
//! anonymously, as the service report does. Words of a testimonial are exported only when its
//! author consented to the marketing use, it is approved and the consent was not withdrawn.

pub mod api;
pub mod export;
pub mod storage;
pub mod tally;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Duration, Utc};

pub use export::{Outcome, run};
pub use tally::{CustomerRecord, Quote, Record, SegmentShare, Sentiment, TopicRecord};

/// The longest range an export covers.
pub const MAX_RANGE_DAYS: i64 = 400;

/// Routed facts read per page of the per-customer export (one statement).
pub const FACTS_PER_PAGE: u64 = 1_000;

/// Topics per page of the per-topic export.
pub const TOPICS_PER_PAGE: u64 = 200;

/// Survey answers or testimonials read per page when they are tallied by topic.
pub const ROWS_PER_PAGE: u64 = 1_000;

/// Topics a customer's record lists.
pub const TOP_TOPICS: usize = 5;

/// How long one export may run before it is stopped (with the records sent so far).
pub const DEADLINE: std::time::Duration = std::time::Duration::from_secs(600);

/// Exports one replica runs at once; more are refused (RESOURCE_EXHAUSTED) so that a batch job
/// cannot starve the service's other work.
pub const MAX_CONCURRENT_EXPORTS: usize = 2;

/// What an export has one record per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// Each customer who posted in the range.
    Customer,
    /// Each topic mentioned in the range.
    Topic,
}

/// A checked range `[since, until)`, at most [`MAX_RANGE_DAYS`] long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    since: DateTime<Utc>,
    until: DateTime<Utc>,
}

impl Range {
    /// The range from `since` (inclusive) to `until` (exclusive).
    pub fn new(since: DateTime<Utc>, until: DateTime<Utc>) -> Result<Self, Error> {
        if until <= since {
            return Err(Error::invalid("until", "must be after `since`"));
        }
        if until - since > Duration::days(MAX_RANGE_DAYS) {
            return Err(Error::invalid(
                "until",
                format!(
                    "the range is {} days long; an export covers at most {MAX_RANGE_DAYS} days: export a shorter \
                     range, or several",
                    (until - since).num_days()
                ),
            ));
        }
        Ok(Self { since, until })
    }

    /// Its start (inclusive).
    pub fn since(&self) -> DateTime<Utc> {
        self.since
    }

    /// Its end (exclusive).
    pub fn until(&self) -> DateTime<Utc> {
        self.until
    }

    /// Where its second half starts: the sentiment trend compares `[since, middle)` with
    /// `[middle, until)`.
    pub fn middle(&self) -> DateTime<Utc> {
        self.since + (self.until - self.since) / 2
    }
}

/// A checked export request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// The range.
    pub range: Range,
    /// Per customer or per topic.
    pub by: Grouping,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request field is missing or wrong: `problem` says what to send instead.
    #[error("invalid `{field}`: {problem}")]
    Invalid {
        /// The request field, as the .proto names it.
        field: &'static str,
        /// What is wrong and what to send instead.
        problem: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] tend_store::Error),
}

impl Error {
    /// An [`Error::Invalid`].
    pub fn invalid(field: &'static str, problem: impl Into<String>) -> Self {
        Self::Invalid { field, problem: problem.into() }
    }
}

impl From<Error> for tend_kernel::ApiError {
    fn from(error: Error) -> Self {
        match error {
            Error::Invalid { field, problem } => tend_kernel::ApiError::invalid(field, problem),
            Error::Store(error) => error.into(),
        }
    }
}
