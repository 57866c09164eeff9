//! The figures of an insights record, added up from the rows the export reads: pure, no I/O.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tend_proto::v1;

use crate::testimonials::storage::{is_published, testimonial};

/// The segment split's name for posts without a segment (as the service report says it).
pub const NO_SEGMENT: &str = "(none)";

/// The score of a sentiment label: +1 positive, 0 neutral, -1 negative; `None` without a
/// reading.
pub fn score(label: i32) -> Option<i64> {
    match v1::SentimentLabel::try_from(label) {
        Ok(v1::SentimentLabel::Negative) => Some(-1),
        Ok(v1::SentimentLabel::Neutral) => Some(0),
        Ok(v1::SentimentLabel::Positive) => Some(1),
        _ => None,
    }
}

/// `sum / count`, 0 for no count.
fn mean(sum: f64, count: u64) -> f64 {
    if count == 0 { 0.0 } else { sum / count as f64 }
}

/// Sentiment scores added up by half of the range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sentiment {
    /// Posts with a reading in the first half.
    pub first_rated: u64,
    /// The sum of their scores.
    pub first_sum: i64,
    /// Posts with a reading in the second half.
    pub second_rated: u64,
    /// The sum of their scores.
    pub second_sum: i64,
}

impl Sentiment {
    /// Adds a post read as `label`, of the second half or not.
    pub fn add(&mut self, label: i32, second_half: bool) {
        let Some(score) = score(label) else { return };
        if second_half {
            self.second_rated += 1;
            self.second_sum += score;
        } else {
            self.first_rated += 1;
            self.first_sum += score;
        }
    }

    /// Posts with a reading.
    pub fn rated(&self) -> u64 {
        self.first_rated + self.second_rated
    }

    /// Their mean score, -1 to 1; 0 when none.
    pub fn average(&self) -> f64 {
        mean((self.first_sum + self.second_sum) as f64, self.rated())
    }

    /// The first half's mean score; 0 when none.
    pub fn first_half_average(&self) -> f64 {
        mean(self.first_sum as f64, self.first_rated)
    }

    /// The second half's mean score; 0 when none.
    pub fn second_half_average(&self) -> f64 {
        mean(self.second_sum as f64, self.second_rated)
    }

    /// The second half's mean less the first's; 0 unless both halves have a reading.
    pub fn change(&self) -> f64 {
        if self.first_rated == 0 || self.second_rated == 0 {
            0.0
        } else {
            self.second_half_average() - self.first_half_average()
        }
    }
}

/// CSAT answers added up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Csat {
    /// Answers.
    pub responses: u64,
    /// The sum of their scores.
    pub sum: u64,
}

impl Csat {
    /// Adds an answer (scores below 0 count as 0).
    pub fn add(&mut self, score: i32) {
        self.responses += 1;
        self.sum += u64::try_from(score).unwrap_or(0);
    }

    /// The mean score; 0 when none.
    pub fn average(&self) -> f64 {
        mean(self.sum as f64, self.responses)
    }
}

/// The words of a testimonial its author consented to use in marketing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// The testimonial's id.
    pub testimonial_id: String,
    /// The words.
    pub quote: String,
    /// The author as they consented to be named.
    pub attribution: String,
}

/// One customer's record.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRecord {
    /// Identity's customer id.
    pub customer_id: String,
    /// The CRM segment on their latest post.
    pub segment: String,
    /// The CRM lifetime value on their latest post.
    pub lifetime_value: f64,
    /// Posts in the range.
    pub posts: u64,
    /// Their sentiment by half of the range.
    pub sentiment: Sentiment,
    /// Most mentioned topics (at most [`super::TOP_TOPICS`]), with their posts.
    pub top_topics: Vec<(String, u64)>,
    /// Posts read as a churn risk.
    pub churn_risk_posts: u64,
    /// The latest of those.
    pub last_churn_risk_at: Option<DateTime<Utc>>,
    /// CSAT answers in the range.
    pub csat: Csat,
    /// Testimonials given in the range whose consent stands.
    pub testimonials_consented: u64,
    /// Of those, the ones published.
    pub testimonials_published: u64,
    /// The words of those consented to for marketing and approved.
    pub quotes: Vec<Quote>,
    /// Their first post of the range.
    pub first_contact_at: DateTime<Utc>,
    /// Their latest post of the range.
    pub last_contact_at: DateTime<Utc>,
}

/// A topic's posts and customers of one segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentShare {
    /// The segment, [`NO_SEGMENT`] for none.
    pub segment: String,
    /// Posts.
    pub posts: u64,
    /// Distinct customers among their authors.
    pub customers: u64,
}

/// One topic's record.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicRecord {
    /// The topic.
    pub topic: String,
    /// Posts that mention it.
    pub posts: u64,
    /// Distinct customers among their authors.
    pub customers: u64,
    /// Their sentiment by half of the range.
    pub sentiment: Sentiment,
    /// Posts read as a churn risk.
    pub churn_risk_posts: u64,
    /// CSAT answers on cases about it.
    pub csat: Csat,
    /// By segment, most posts first, then by name.
    pub segments: Vec<SegmentShare>,
    /// Testimonials about it whose consent stands.
    pub testimonials: u64,
}

/// One record of an export.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A customer's.
    Customer(CustomerRecord),
    /// A topic's.
    Topic(TopicRecord),
}

/// A routed fact as the per-customer export reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    /// The linked customer.
    pub customer_id: String,
    /// The interaction.
    pub interaction_id: String,
    /// When routing decided.
    pub decided_at: DateTime<Utc>,
    /// The CRM segment routing saw.
    pub segment: String,
    /// The CRM lifetime value routing saw.
    pub lifetime_value: f64,
    /// `tend.v1.SentimentLabel`.
    pub sentiment: i32,
    /// Read as a churn risk.
    pub churn_risk: bool,
    /// Topics joined by ",".
    pub topics: String,
}

/// One customer's facts added up, in any order.
#[derive(Debug, Clone)]
pub struct CustomerTally {
    record: CustomerRecord,
    topics: BTreeMap<String, u64>,
}

impl CustomerTally {
    /// A tally of `first`'s customer, holding `first`.
    pub fn new(first: &Fact, middle: DateTime<Utc>) -> Self {
        let record = CustomerRecord {
            customer_id: first.customer_id.clone(),
            segment: first.segment.clone(),
            lifetime_value: first.lifetime_value,
            posts: 0,
            sentiment: Sentiment::default(),
            top_topics: Vec::new(),
            churn_risk_posts: 0,
            last_churn_risk_at: None,
            csat: Csat::default(),
            testimonials_consented: 0,
            testimonials_published: 0,
            quotes: Vec::new(),
            first_contact_at: first.decided_at,
            last_contact_at: first.decided_at,
        };
        let mut tally = Self { record, topics: BTreeMap::new() };
        tally.add(first, middle);
        tally
    }

    /// The customer.
    pub fn customer_id(&self) -> &str {
        &self.record.customer_id
    }

    /// Adds `fact` (of this customer); the segment and value are those of the latest fact.
    pub fn add(&mut self, fact: &Fact, middle: DateTime<Utc>) {
        let record = &mut self.record;
        record.posts += 1;
        record.sentiment.add(fact.sentiment, fact.decided_at >= middle);
        if fact.churn_risk {
            record.churn_risk_posts += 1;
            record.last_churn_risk_at = record.last_churn_risk_at.max(Some(fact.decided_at));
        }
        if fact.decided_at < record.first_contact_at {
            record.first_contact_at = fact.decided_at;
        }
        if fact.decided_at >= record.last_contact_at {
            record.last_contact_at = fact.decided_at;
            record.segment.clone_from(&fact.segment);
            record.lifetime_value = fact.lifetime_value;
        }
        let mut seen = Vec::new();
        for topic in fact.topics.split(',').filter(|topic| !topic.is_empty()) {
            if !seen.contains(&topic) {
                seen.push(topic);
                *self.topics.entry(topic.to_owned()).or_default() += 1;
            }
        }
    }

    /// The record, with its top topics; CSAT and testimonials are added by the caller.
    pub fn finish(self) -> CustomerRecord {
        let mut record = self.record;
        let mut topics: Vec<(String, u64)> = self.topics.into_iter().collect();
        topics.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        topics.truncate(super::TOP_TOPICS);
        record.top_topics = topics;
        record
    }
}

/// Whether `row`'s author's consent stands: recorded and not withdrawn.
pub fn consent_stands(row: &testimonial::Model) -> bool {
    row.consent_given_at.is_some() && row.withdrawn_at.is_none()
}

/// Whether `row`'s words may be exported: consent stands and names the marketing use, and it
/// is approved.
pub fn quotable(row: &testimonial::Model) -> bool {
    let marketing = (v1::TestimonialUse::Marketing as i32).to_string();
    consent_stands(row)
        && row.moderation == v1::ModerationState::Approved as i32
        && row.consent_uses.split(',').any(|used| used.trim() == marketing)
}

impl CustomerRecord {
    /// Adds a testimonial the customer gave in the range.
    pub fn add_testimonial(&mut self, row: &testimonial::Model) {
        if !consent_stands(row) {
            return;
        }
        self.testimonials_consented += 1;
        if is_published(row) {
            self.testimonials_published += 1;
        }
        if quotable(row) {
            self.quotes.push(Quote {
                testimonial_id: row.testimonial_id.clone(),
                quote: row.quote.clone(),
                attribution: crate::testimonials::attribution(row),
            });
        }
    }
}

/// The segment split of one topic from (segment, posts, customers) rows: "(none)" for the empty
/// segment, most posts first, then by name.
pub fn segments(rows: impl IntoIterator<Item = (String, u64, u64)>) -> Vec<SegmentShare> {
    let mut shares: Vec<SegmentShare> = rows
        .into_iter()
        .map(|(segment, posts, customers)| SegmentShare {
            segment: if segment.is_empty() { NO_SEGMENT.to_owned() } else { segment },
            posts,
            customers,
        })
        .collect();
    shares.sort_by(|a, b| b.posts.cmp(&a.posts).then_with(|| a.segment.cmp(&b.segment)));
    shares
}

/// Each topic of `topics` (joined by ","), once.
pub fn topics_of(topics: &str) -> Vec<&str> {
    let mut seen: Vec<&str> = Vec::new();
    for topic in topics.split(',').filter(|topic| !topic.is_empty()) {
        if !seen.contains(&topic) {
            seen.push(topic);
        }
    }
    seen
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::{Duration, TimeZone as _};

    use super::*;

    const NEGATIVE: i32 = v1::SentimentLabel::Negative as i32;
    const NEUTRAL: i32 = v1::SentimentLabel::Neutral as i32;
    const POSITIVE: i32 = v1::SentimentLabel::Positive as i32;

    fn fact(at: DateTime<Utc>, sentiment: i32, segment: &str, topics: &str) -> Fact {
        Fact {
            customer_id: "c1".into(),
            interaction_id: at.timestamp().to_string(),
            decided_at: at,
            segment: segment.into(),
            lifetime_value: f64::from(u32::try_from(at.timestamp() % 1000).unwrap()),
            sentiment,
            churn_risk: sentiment == NEGATIVE,
            topics: topics.into(),
        }
    }

    #[test]
    fn the_trend_compares_the_halves_and_leaves_out_posts_without_a_reading() {
        let mut sentiment = Sentiment::default();
        sentiment.add(NEGATIVE, false);
        sentiment.add(NEGATIVE, false);
        sentiment.add(NEUTRAL, false);
        sentiment.add(POSITIVE, true);
        sentiment.add(v1::SentimentLabel::Unspecified as i32, true);
        assert_eq!(sentiment.rated(), 4);
        assert!((sentiment.average() - (-1.0 / 4.0)).abs() < 1e-12);
        assert!((sentiment.first_half_average() - (-2.0 / 3.0)).abs() < 1e-12);
        assert!((sentiment.second_half_average() - 1.0).abs() < 1e-12);
        assert!((sentiment.change() - (1.0 + 2.0 / 3.0)).abs() < 1e-12);
        // One half without a reading: no change to speak of.
        let mut lonely = Sentiment::default();
        lonely.add(POSITIVE, true);
        assert_eq!(lonely.change(), 0.0);
        assert_eq!(lonely.first_half_average(), 0.0);
    }

    #[test]
    fn a_customer_keeps_the_latest_segment_and_counts_each_topic_once_a_post() {
        let start = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let middle = start + Duration::days(5);
        let later = fact(start + Duration::days(8), POSITIVE, "enterprise", "billing,billing,refunds");
        let mut tally = CustomerTally::new(&later, middle);
        tally.add(&fact(start + Duration::days(1), NEGATIVE, "smb", "billing"), middle);
        tally.add(&fact(start + Duration::days(2), NEUTRAL, "smb", "delivery"), middle);
        let record = tally.finish();
        assert_eq!(record.posts, 3);
        assert_eq!(record.segment, "enterprise");
        assert_eq!(record.lifetime_value, later.lifetime_value);
        assert_eq!(record.first_contact_at, start + Duration::days(1));
        assert_eq!(record.last_contact_at, start + Duration::days(8));
        assert_eq!(record.churn_risk_posts, 1);
        assert_eq!(record.last_churn_risk_at, Some(start + Duration::days(1)));
        assert_eq!(
            record.top_topics,
            vec![("billing".to_owned(), 2), ("delivery".to_owned(), 1), ("refunds".to_owned(), 1)]
        );
        assert_eq!(record.sentiment.first_rated, 2);
        assert_eq!(record.sentiment.second_rated, 1);
    }

    #[test]
    fn segments_name_the_blank_one_and_put_the_busiest_first() {
        let split = segments([("smb".to_owned(), 2, 1), (String::new(), 5, 0), ("enterprise".to_owned(), 2, 2)]);
        let names: Vec<&str> = split.iter().map(|share| share.segment.as_str()).collect();
        assert_eq!(names, [NO_SEGMENT, "enterprise", "smb"]);
    }
}
