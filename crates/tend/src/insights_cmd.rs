//! `tend export insights`: decision data per customer or per topic (`ExportInsights`, admin
//! only), written as CSV or JSON Lines as the records stream in (docs/FEEDBACK.md, "Insights").
//!
//! The arguments live here rather than in `cli.rs`: the command is self-contained, and `cli.rs`
//! only names it.

use std::io::Write;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use tend_proto::v1;

use crate::cli::Connection;
use crate::commands::{connect, failed};
use crate::rules_cmd::parse_instant;

/// `tend export …`.
#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// Social and business data integrated per customer or per topic over a range: sentiment
    /// and its trend, topics, churn risk, CSAT, testimonials, the CRM's segment and value (for
    /// marketing campaigns, up-sell and product decisions; needs an admin key). Per-customer
    /// files hold personal data: keep them safe.
    Insights(InsightsArgs),
}

/// `tend export insights`.
#[derive(Debug, Args)]
pub struct InsightsArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Start of the range: a duration before now (30d, 36h) or an RFC 3339 time.
    #[arg(long)]
    pub since: String,
    /// End of the range, written as --since is (default: now); at most 400 days after it.
    #[arg(long)]
    pub until: Option<String>,
    /// A record per customer or per topic.
    #[arg(long, value_enum)]
    pub by: By,
    /// CSV with a header row, or one JSON object per line.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<std::path::PathBuf>,
}

/// What a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum By {
    /// Each customer who posted in the range.
    Customer,
    /// Each topic mentioned in the range.
    Topic,
}

/// How records are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// CSV, a header row then a row per record, columns in a fixed order.
    Csv,
    /// JSON Lines: one object per record, proto field names, every field present.
    Jsonl,
}

/// The columns of a per-customer CSV, in order.
pub const CUSTOMER_COLUMNS: [&str; 19] = [
    "customer_id",
    "segment",
    "lifetime_value",
    "posts",
    "sentiment_rated",
    "sentiment_average",
    "sentiment_first_half",
    "sentiment_second_half",
    "sentiment_change",
    "top_topics",
    "churn_risk_posts",
    "last_churn_risk_at",
    "csat_responses",
    "csat_average",
    "testimonials_consented",
    "testimonials_published",
    "quotes",
    "first_contact_at",
    "last_contact_at",
];

/// The columns of a per-topic CSV, in order.
pub const TOPIC_COLUMNS: [&str; 13] = [
    "topic",
    "posts",
    "customers",
    "sentiment_rated",
    "sentiment_average",
    "sentiment_first_half",
    "sentiment_second_half",
    "sentiment_change",
    "churn_risk_posts",
    "csat_responses",
    "csat_average",
    "testimonials",
    "segments",
];

/// `tend export …`.
pub async fn export(command: ExportCommand) -> anyhow::Result<()> {
    match command {
        ExportCommand::Insights(args) => insights(args).await,
    }
}

/// `tend export insights`: streams the records to the output as they come.
async fn insights(args: InsightsArgs) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    let since = parse_instant(&args.since, now).context("--since")?;
    let until = args.until.as_deref().map(|until| parse_instant(until, now)).transpose().context("--until")?;
    let request = v1::ExportInsightsRequest {
        since: Some(tend_kernel::ids::to_timestamp(since)),
        until: until.map(tend_kernel::ids::to_timestamp),
        by: match args.by {
            By::Customer => v1::InsightGrouping::Customer,
            By::Topic => v1::InsightGrouping::Topic,
        } as i32,
    };
    let client = connect(&args.connection).await?;
    let mut stream = client.feedback().export_insights(request).await.map_err(failed)?.into_inner();
    let out: Box<dyn Write> = match &args.output {
        Some(path) => {
            Box::new(std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut writer = Writer::new(out, args.format, args.by)?;
    while let Some(message) = stream.message().await.map_err(failed)? {
        match message.record {
            Some(v1::export_insights_response::Record::Customer(customer)) => writer.customer(&customer)?,
            Some(v1::export_insights_response::Record::Topic(topic)) => writer.topic(&topic)?,
            None => {}
        }
    }
    let written = writer.finish()?;
    if let Some(path) = &args.output {
        eprintln!("wrote {} ({written} records)", path.display());
    }
    Ok(())
}

/// Writes records in one format, counting them.
struct Writer {
    format: Format,
    csv: Option<csv::Writer<Box<dyn Write>>>,
    lines: Option<std::io::BufWriter<Box<dyn Write>>>,
    written: u64,
}

impl Writer {
    /// A writer to `out`; CSV starts with the header of `by`'s columns.
    fn new(out: Box<dyn Write>, format: Format, by: By) -> anyhow::Result<Self> {
        let mut writer = Self { format, csv: None, lines: None, written: 0 };
        match format {
            Format::Csv => {
                let mut csv = csv::Writer::from_writer(out);
                match by {
                    By::Customer => csv.write_record(CUSTOMER_COLUMNS)?,
                    By::Topic => csv.write_record(TOPIC_COLUMNS)?,
                }
                writer.csv = Some(csv);
            }
            Format::Jsonl => writer.lines = Some(std::io::BufWriter::new(out)),
        }
        Ok(writer)
    }

    fn customer(&mut self, record: &v1::CustomerInsight) -> anyhow::Result<()> {
        match self.format {
            Format::Csv => self.row(&customer_row(record)),
            Format::Jsonl => self.line(&customer_json(record)),
        }
    }

    fn topic(&mut self, record: &v1::TopicInsight) -> anyhow::Result<()> {
        match self.format {
            Format::Csv => self.row(&topic_row(record)),
            Format::Jsonl => self.line(&topic_json(record)),
        }
    }

    fn row(&mut self, row: &[String]) -> anyhow::Result<()> {
        if let Some(csv) = self.csv.as_mut() {
            csv.write_record(row)?;
            self.written += 1;
        }
        Ok(())
    }

    fn line(&mut self, value: &Value) -> anyhow::Result<()> {
        if let Some(lines) = self.lines.as_mut() {
            serde_json::to_writer(&mut *lines, value)?;
            lines.write_all(b"\n")?;
            self.written += 1;
        }
        Ok(())
    }

    /// Flushes what is left; returns how many records were written.
    fn finish(mut self) -> anyhow::Result<u64> {
        if let Some(csv) = self.csv.as_mut() {
            csv.flush()?;
        }
        if let Some(lines) = self.lines.as_mut() {
            lines.flush()?;
        }
        Ok(self.written)
    }
}

/// An RFC 3339 time, "" for none.
fn time(at: Option<&prost_types::Timestamp>) -> String {
    at.and_then(|at| tend_kernel::ids::from_timestamp("", at).ok())
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// A mean to four decimals.
fn decimal(value: f64) -> String {
    format!("{value:.4}")
}

fn sentiment_of(trend: Option<&v1::SentimentTrend>) -> v1::SentimentTrend {
    trend.cloned().unwrap_or_default()
}

/// A customer's CSV row, in [`CUSTOMER_COLUMNS`] order: topics as `topic:posts` joined by ";",
/// quotes one per line of the cell.
pub fn customer_row(record: &v1::CustomerInsight) -> Vec<String> {
    let sentiment = sentiment_of(record.sentiment.as_ref());
    vec![
        record.customer_id.clone(),
        record.segment.clone(),
        format!("{:.2}", record.lifetime_value),
        record.posts.to_string(),
        sentiment.rated.to_string(),
        decimal(sentiment.average),
        decimal(sentiment.first_half_average),
        decimal(sentiment.second_half_average),
        decimal(sentiment.change),
        record.top_topics.iter().map(|topic| format!("{}:{}", topic.topic, topic.posts)).collect::<Vec<_>>().join(";"),
        record.churn_risk_posts.to_string(),
        time(record.last_churn_risk_at.as_ref()),
        record.csat_responses.to_string(),
        decimal(record.csat_average),
        record.testimonials_consented.to_string(),
        record.testimonials_published.to_string(),
        record.quotes.iter().map(|quote| quote.quote.as_str()).collect::<Vec<_>>().join("\n"),
        time(record.first_contact_at.as_ref()),
        time(record.last_contact_at.as_ref()),
    ]
}

/// A topic's CSV row, in [`TOPIC_COLUMNS`] order: segments as `segment:posts/customers` joined
/// by ";".
pub fn topic_row(record: &v1::TopicInsight) -> Vec<String> {
    let sentiment = sentiment_of(record.sentiment.as_ref());
    vec![
        record.topic.clone(),
        record.posts.to_string(),
        record.customers.to_string(),
        sentiment.rated.to_string(),
        decimal(sentiment.average),
        decimal(sentiment.first_half_average),
        decimal(sentiment.second_half_average),
        decimal(sentiment.change),
        record.churn_risk_posts.to_string(),
        record.csat_responses.to_string(),
        decimal(record.csat_average),
        record.testimonials.to_string(),
        record
            .segments
            .iter()
            .map(|share| format!("{}:{}/{}", share.segment, share.posts, share.customers))
            .collect::<Vec<_>>()
            .join(";"),
    ]
}

fn sentiment_json(trend: Option<&v1::SentimentTrend>) -> Value {
    let sentiment = sentiment_of(trend);
    json!({
        "rated": sentiment.rated,
        "average": sentiment.average,
        "first_half_rated": sentiment.first_half_rated,
        "first_half_average": sentiment.first_half_average,
        "second_half_rated": sentiment.second_half_rated,
        "second_half_average": sentiment.second_half_average,
        "change": sentiment.change,
    })
}

/// A customer's JSON object: the `CustomerInsight` message with proto field names, every field
/// present (times RFC 3339, or null).
pub fn customer_json(record: &v1::CustomerInsight) -> Value {
    let time_or_null = |at: Option<&prost_types::Timestamp>| match time(at) {
        text if text.is_empty() => Value::Null,
        text => Value::String(text),
    };
    json!({
        "customer_id": record.customer_id,
        "segment": record.segment,
        "lifetime_value": record.lifetime_value,
        "posts": record.posts,
        "sentiment": sentiment_json(record.sentiment.as_ref()),
        "top_topics": record.top_topics.iter().map(|topic| json!({"topic": topic.topic, "posts": topic.posts})).collect::<Vec<_>>(),
        "churn_risk_posts": record.churn_risk_posts,
        "last_churn_risk_at": time_or_null(record.last_churn_risk_at.as_ref()),
        "csat_responses": record.csat_responses,
        "csat_average": record.csat_average,
        "testimonials_consented": record.testimonials_consented,
        "testimonials_published": record.testimonials_published,
        "quotes": record.quotes.iter().map(|quote| json!({
            "testimonial_id": quote.testimonial_id, "quote": quote.quote, "attribution": quote.attribution,
        })).collect::<Vec<_>>(),
        "first_contact_at": time_or_null(record.first_contact_at.as_ref()),
        "last_contact_at": time_or_null(record.last_contact_at.as_ref()),
    })
}

/// A topic's JSON object: the `TopicInsight` message with proto field names, every field present.
pub fn topic_json(record: &v1::TopicInsight) -> Value {
    json!({
        "topic": record.topic,
        "posts": record.posts,
        "customers": record.customers,
        "sentiment": sentiment_json(record.sentiment.as_ref()),
        "churn_risk_posts": record.churn_risk_posts,
        "csat_responses": record.csat_responses,
        "csat_average": record.csat_average,
        "segments": record.segments.iter().map(|share| json!({
            "segment": share.segment, "posts": share.posts, "customers": share.customers,
        })).collect::<Vec<_>>(),
        "testimonials": record.testimonials,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_row_has_a_cell_per_column_and_json_every_field() {
        let customer = v1::CustomerInsight {
            customer_id: "c1".into(),
            top_topics: vec![
                v1::InsightTopic { topic: "billing".into(), posts: 3 },
                v1::InsightTopic { topic: "app".into(), posts: 1 },
            ],
            quotes: vec![v1::InsightQuote { quote: "Great, \"fast\"".into(), ..Default::default() }],
            ..Default::default()
        };
        let row = customer_row(&customer);
        assert_eq!(row.len(), CUSTOMER_COLUMNS.len());
        assert_eq!(row[9], "billing:3;app:1");
        assert_eq!(row[11], "", "no churn risk: no time");
        let object = customer_json(&customer);
        for column in ["customer_id", "sentiment", "top_topics", "quotes", "last_churn_risk_at", "csat_average"] {
            assert!(object.get(column).is_some(), "{column} missing");
        }
        assert_eq!(object["last_churn_risk_at"], Value::Null);
        let topic = v1::TopicInsight {
            topic: "billing".into(),
            segments: vec![v1::SegmentShare { segment: "smb".into(), posts: 4, customers: 2 }],
            ..Default::default()
        };
        let row = topic_row(&topic);
        assert_eq!(row.len(), TOPIC_COLUMNS.len());
        assert_eq!(row[12], "smb:4/2");
        assert_eq!(topic_json(&topic)["segments"][0]["customers"], 2);
    }
}
