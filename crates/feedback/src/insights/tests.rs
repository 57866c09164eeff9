//! The insights export on SQLite and PostgreSQL, against figures computed here, independently,
//! from a generated history that went through the real consumers: posts that opened cases
//! (`cases.events`) and posts that did not (`interactions.routed`), survey answers,
//! testimonials in every state, an opt-out and an erasure.

#![allow(clippy::unwrap_used, clippy::panic, clippy::float_cmp)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use prost::Message as _;
use sea_orm::{DatabaseConnection, EntityTrait as _};
use tend_kernel::ids::{new_id, to_timestamp};
use tend_kernel::{Caller, Role, TenantId};
use tend_proto::v1;
use tend_proto::v1::feedback_service_server::FeedbackService as _;
use tend_queue::{BatchHandler as _, Delivery};
use tend_store::testing::{Backend, TestStore};
use tend_store::{BatchConsumer, EventHandler, OutboxWaker};
use tokio::sync::mpsc;
use tokio_stream::StreamExt as _;
use tonic::{Code, Request};

use super::tally::{CustomerRecord, NO_SEGMENT, Record, TopicRecord};
use super::{Grouping, Outcome, Query, Range, run};
use crate::consumer::{EraseCustomers, RecordCaseFacts, RecordRoutedFacts};
use crate::surveys::storage::{opt_out, response};
use crate::testimonials::storage::{FROM_CANDIDATE, FROM_SURVEY, testimonial};
use crate::{FeedbackApi, Migrator, SERVICE};

tend_store::on_both_backends!(
    the_export_matches_figures_computed_from_the_history,
    an_erased_customer_is_in_no_record,
    the_export_stops_when_the_client_goes_away,
    the_rpc_is_for_admins_and_names_the_field_to_fix,
);

const TOPICS: [&str; 5] = ["app", "billing", "delivery", "outage", "refunds"];
const SEGMENTS: [&str; 3] = ["consumer", "enterprise", "smb"];

/// The start of the range the tests export.
fn since() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
}

/// The range the tests export: 30 days.
fn range() -> Range {
    Range::new(since(), since() + Duration::days(30)).unwrap()
}

/// A deterministic generator (a 64-bit LCG), so a failure is the same on every run.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % sides
    }
}

/// One generated post.
#[derive(Debug, Clone)]
struct Post {
    interaction_id: String,
    at: DateTime<Utc>,
    customer_id: String,
    segment: String,
    lifetime_value: f64,
    sentiment: i32,
    churn_risk: bool,
    topics: Vec<String>,
    opens_a_case: bool,
}

impl Post {
    fn intents(&self) -> Vec<i32> {
        let mut intents = vec![v1::Intent::Question as i32];
        if self.churn_risk {
            intents.push(v1::Intent::ChurnRisk as i32);
        }
        intents
    }

    fn outcome(&self) -> v1::RoutingOutcome {
        v1::RoutingOutcome {
            queue: "default".into(),
            segment: self.segment.clone(),
            lifetime_value: self.lifetime_value,
            ..Default::default()
        }
    }

    /// The post as routing publishes it when it opens no case.
    fn routed(&self) -> v1::InteractionRouted {
        v1::InteractionRouted {
            decision: Some(v1::RoutingDecision {
                interaction_id: self.interaction_id.clone(),
                decided_at: Some(to_timestamp(self.at)),
                outcome: Some(self.outcome()),
                actionable: false,
                not_actionable_reason: "enrichment: praise".into(),
                ..Default::default()
            }),
            channel: v1::Channel::X as i32,
            profile_id: format!("p-{}", self.customer_id),
            customer_id: self.customer_id.clone(),
            topics: self.topics.clone(),
            intents: self.intents(),
            sentiment: self.sentiment,
            testimonial_candidate: false,
            received_at: Some(to_timestamp(self.at)),
        }
    }

    /// The post as the case it opened tells it.
    fn opened(&self) -> v1::CaseEvent {
        v1::CaseEvent {
            kind: v1::CaseEventKind::Opened as i32,
            case: Some(v1::Case {
                id: new_id(),
                status: v1::CaseStatus::New as i32,
                channel: v1::Channel::X as i32,
                customer_id: self.customer_id.clone(),
                profile_id: format!("p-{}", self.customer_id),
                priority: 40,
                interaction_ids: vec![self.interaction_id.clone()],
                opened_at: Some(to_timestamp(self.at)),
                sentiment: self.sentiment,
                intents: self.intents(),
                topics: self.topics.clone(),
                actionable: true,
                routing: Some(self.outcome()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// A history: posts of 150 customers (and unlinked authors) over the range and around it, each
/// customer's segment and value changing with time.
fn history(dice: &mut Dice) -> Vec<Post> {
    let mut posts = Vec::new();
    for n in 0..1_300 {
        let customer = dice.roll(160);
        // Ten "customers" are unlinked authors.
        let customer_id = if customer >= 150 { String::new() } else { format!("c{customer:03}") };
        // A day from 3 before the range to 3 after it.
        let minutes = i64::try_from(dice.roll(36 * 24 * 60)).unwrap() - 3 * 24 * 60;
        let at = since() + Duration::minutes(minutes) + Duration::milliseconds(i64::from(n));
        let segment = if customer_id.is_empty() {
            String::new()
        } else if customer.is_multiple_of(7) && minutes > 15 * 24 * 60 {
            // Moved up in the middle of the range.
            "enterprise".to_owned()
        } else {
            SEGMENTS[usize::try_from(customer % 3).unwrap()].to_owned()
        };
        let lifetime_value = if customer_id.is_empty() { 0.0 } else { customer as f64 * 10.0 + minutes as f64 / 1e4 };
        let sentiment = i32::try_from(dice.roll(4)).unwrap();
        let mut topics = Vec::new();
        for _ in 0..dice.roll(3) {
            topics.push(TOPICS[usize::try_from(dice.roll(5)).unwrap()].to_owned());
        }
        posts.push(Post {
            interaction_id: new_id(),
            at,
            customer_id,
            segment,
            lifetime_value,
            sentiment,
            churn_risk: dice.roll(6) == 0,
            topics,
            opens_a_case: dice.roll(2) == 0,
        });
    }
    posts
}

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

fn delivery<M: prost::Message + prost::Name>(tenant_name: &str, message: &M) -> Delivery {
    let envelope = tend_store::events::envelope("test", &tenant(tenant_name), message);
    Delivery { id: new_id(), payload: envelope.encode_to_vec(), deliveries: 1 }
}

fn consumer<H: EventHandler>(handler: H, db: &DatabaseConnection) -> BatchConsumer<H> {
    BatchConsumer::new(Arc::new(handler), db.clone(), OutboxWaker::default(), SERVICE, SERVICE)
}

async fn handle_all<H: EventHandler>(consumer: &BatchConsumer<H>, deliveries: &[Delivery]) {
    for chunk in deliveries.chunks(250) {
        let results = consumer.handle_batch(chunk).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
    }
}

/// Feeds `posts` of `tenant_name` through feedback's consumers.
async fn record(db: &DatabaseConnection, tenant_name: &str, posts: &[Post]) {
    let cases: Vec<Delivery> =
        posts.iter().filter(|post| post.opens_a_case).map(|post| delivery(tenant_name, &post.opened())).collect();
    let routed: Vec<Delivery> =
        posts.iter().filter(|post| !post.opens_a_case).map(|post| delivery(tenant_name, &post.routed())).collect();
    handle_all(&consumer(RecordCaseFacts, db), &cases).await;
    handle_all(&consumer(RecordRoutedFacts, db), &routed).await;
}

/// A CSAT (or other) answer.
fn answer(customer_id: &str, kind: &str, score: i32, at: DateTime<Utc>, topics: &[&str]) -> response::Model {
    response::Model {
        tenant: "acme".into(),
        survey_id: new_id(),
        case_id: new_id(),
        template: "after-care".into(),
        kind: kind.into(),
        score,
        comment: String::new(),
        responded_at: at,
        channel: v1::Channel::X as i32,
        segment: String::new(),
        team: String::new(),
        agent: String::new(),
        topics: topics.join(","),
        low_score: score <= 2,
        customer_id: customer_id.into(),
        profile_id: String::new(),
    }
}

/// The states a testimonial can be in, for the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No consent yet.
    Proposed,
    /// Consent for the website and marketing, approved: published and quotable.
    Everything,
    /// Consent for the website only, approved: published, not quotable.
    WebsiteOnly,
    /// Consent for marketing, still pending moderation.
    Pending,
    /// Consent withdrawn.
    Withdrawn,
}

fn given(customer_id: &str, state: State, at: DateTime<Utc>, source: &str, source_id: &str) -> testimonial::Model {
    let website = (v1::TestimonialUse::Website as i32).to_string();
    let marketing = (v1::TestimonialUse::Marketing as i32).to_string();
    let uses = match state {
        State::Proposed => String::new(),
        State::WebsiteOnly => website,
        _ => format!("{website},{marketing}"),
    };
    let approved = matches!(state, State::Everything | State::WebsiteOnly | State::Withdrawn);
    testimonial::Model {
        tenant: "acme".into(),
        testimonial_id: new_id(),
        source: source.into(),
        source_id: source_id.into(),
        case_id: String::new(),
        customer_id: customer_id.into(),
        profile_id: String::new(),
        channel: v1::Channel::X as i32,
        quote: format!("{customer_id} says {state:?}"),
        first_name: "Jane Doe".into(),
        handle: "jane".into(),
        consent_display: v1::TestimonialDisplay::FirstName as i32,
        consent_uses: uses.clone(),
        for_website: uses.contains(&(v1::TestimonialUse::Website as i32).to_string()),
        consent_wording: "You may quote me".into(),
        consent_method: "dm".into(),
        consent_given_at: (state != State::Proposed).then_some(at),
        consent_recorded_by: "agent-ann".into(),
        withdrawn_at: (state == State::Withdrawn).then_some(at + Duration::hours(1)),
        withdrawal_reason: String::new(),
        moderation: if approved { v1::ModerationState::Approved as i32 } else { v1::ModerationState::Pending as i32 },
        rejection_reason: String::new(),
        moderated_by: String::new(),
        moderated_at: approved.then_some(at),
        created_at: at,
    }
}

/// Everything of one tenant the tests put in besides posts.
struct Extras {
    answers: Vec<response::Model>,
    testimonials: Vec<testimonial::Model>,
    opted_out: BTreeSet<String>,
}

/// Survey answers, testimonials and an opt-out, stored.
async fn extras(db: &DatabaseConnection, dice: &mut Dice, posts: &[Post]) -> Extras {
    let mut answers = Vec::new();
    for n in 0..200 {
        let customer = format!("c{:03}", dice.roll(150));
        let kind = if n % 5 == 0 { "nps" } else { "csat" };
        let minutes = i64::try_from(dice.roll(34 * 24 * 60)).unwrap() - 2 * 24 * 60;
        let topics: Vec<&str> = (0..dice.roll(3)).map(|_| TOPICS[usize::try_from(dice.roll(5)).unwrap()]).collect();
        let score = i32::try_from(dice.roll(5) + 1).unwrap();
        answers.push(answer(&customer, kind, score, since() + Duration::minutes(minutes), &topics));
    }
    let mut testimonials = Vec::new();
    let states = [State::Proposed, State::Everything, State::WebsiteOnly, State::Pending, State::Withdrawn];
    for (n, post) in posts.iter().filter(|post| !post.customer_id.is_empty()).take(60).enumerate() {
        let state = states[n % states.len()];
        let row = if n % 2 == 0 {
            // Praise proposed from the post itself.
            given(&post.customer_id, state, post.at, FROM_CANDIDATE, &post.interaction_id)
        } else {
            // Given on the survey page after an answer.
            let survey = &answers[n];
            given(&post.customer_id, state, post.at, FROM_SURVEY, &survey.survey_id)
        };
        testimonials.push(row);
    }
    for row in &answers {
        response::Entity::insert(response::ActiveModel::from(row.clone())).exec(db).await.unwrap();
    }
    for row in &testimonials {
        assert!(crate::testimonials::storage::insert(db, row.clone()).await.unwrap());
    }
    let opted_out: BTreeSet<String> = ["c003", "c010"].map(str::to_owned).into();
    for customer in &opted_out {
        crate::surveys::storage::opt_out(
            db,
            opt_out::Model {
                tenant: "acme".into(),
                recipient: format!("c:{customer}"),
                customer_id: customer.clone(),
                profile_id: String::new(),
                opted_out_at: since(),
                source: "api".into(),
            },
        )
        .await
        .unwrap();
    }
    Extras { answers, testimonials, opted_out }
}

fn in_range(at: DateTime<Utc>) -> bool {
    let range = range();
    at >= range.since() && at < range.until()
}

/// The sentiment figures of `labels` (each with whether it is of the second half), computed
/// the long way: (rated, average, first average, second average, change).
fn sentiment_of(labels: &[(i32, bool)]) -> (u64, f64, f64, f64, f64) {
    let score = |label: i32| match label {
        1 => Some(-1.0),
        2 => Some(0.0),
        3 => Some(1.0),
        _ => None,
    };
    let half = |second: Option<bool>| -> Vec<f64> {
        labels
            .iter()
            .filter(|(_, is_second)| second.is_none_or(|wanted| wanted == *is_second))
            .filter_map(|(label, _)| score(*label))
            .collect()
    };
    let mean = |scores: &[f64]| if scores.is_empty() { 0.0 } else { scores.iter().sum::<f64>() / scores.len() as f64 };
    let (all, first, second) = (half(None), half(Some(false)), half(Some(true)));
    let change = if first.is_empty() || second.is_empty() { 0.0 } else { mean(&second) - mean(&first) };
    (all.len() as u64, mean(&all), mean(&first), mean(&second), change)
}

fn close(actual: f64, expected: f64, what: &str) {
    assert!((actual - expected).abs() < 1e-9, "{what}: {actual} != {expected}");
}

fn unique_topics(post: &Post) -> BTreeSet<&str> {
    post.topics.iter().map(String::as_str).collect()
}

/// Checks `record` against the posts, answers and testimonials of its customer.
fn check_customer(record: &CustomerRecord, posts: &[&Post], extras: &Extras) {
    let id = record.customer_id.as_str();
    let middle = range().middle();
    assert_eq!(record.posts, posts.len() as u64, "{id}: posts");
    let latest = posts.iter().max_by_key(|post| (post.at, post.interaction_id.clone())).unwrap();
    assert_eq!(record.segment, latest.segment, "{id}: segment");
    close(record.lifetime_value, latest.lifetime_value, "lifetime value");
    assert_eq!(record.first_contact_at, posts.iter().map(|post| post.at).min().unwrap(), "{id}: first contact");
    assert_eq!(record.last_contact_at, latest.at, "{id}: last contact");
    let churn: Vec<DateTime<Utc>> = posts.iter().filter(|post| post.churn_risk).map(|post| post.at).collect();
    assert_eq!(record.churn_risk_posts, churn.len() as u64, "{id}: churn");
    assert_eq!(record.last_churn_risk_at, churn.iter().max().copied(), "{id}: last churn");
    let labels: Vec<(i32, bool)> = posts.iter().map(|post| (post.sentiment, post.at >= middle)).collect();
    let (rated, average, first, second, change) = sentiment_of(&labels);
    assert_eq!(record.sentiment.rated(), rated, "{id}: rated");
    close(record.sentiment.average(), average, "average");
    close(record.sentiment.first_half_average(), first, "first half");
    close(record.sentiment.second_half_average(), second, "second half");
    close(record.sentiment.change(), change, "change");
    let mut topics: BTreeMap<&str, u64> = BTreeMap::new();
    for post in posts {
        for topic in unique_topics(post) {
            *topics.entry(topic).or_default() += 1;
        }
    }
    let mut expected_topics: Vec<(String, u64)> =
        topics.into_iter().map(|(topic, count)| (topic.to_owned(), count)).collect();
    expected_topics.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    expected_topics.truncate(5);
    assert_eq!(record.top_topics, expected_topics, "{id}: topics");
    let csat: Vec<i32> = extras
        .answers
        .iter()
        .filter(|row| row.customer_id == id && row.kind == "csat" && in_range(row.responded_at))
        .map(|row| row.score)
        .collect();
    assert_eq!(record.csat.responses, csat.len() as u64, "{id}: csat");
    let csat_mean = if csat.is_empty() { 0.0 } else { f64::from(csat.iter().sum::<i32>()) / csat.len() as f64 };
    close(record.csat.average(), csat_mean, "csat average");
    let theirs: Vec<&testimonial::Model> =
        extras.testimonials.iter().filter(|row| row.customer_id == id && in_range(row.created_at)).collect();
    let state_of = |row: &testimonial::Model| row.quote.rsplit(' ').next().unwrap().to_owned();
    let consented =
        theirs.iter().filter(|row| !["Proposed", "Withdrawn"].contains(&state_of(row).as_str())).count() as u64;
    let published =
        theirs.iter().filter(|row| ["Everything", "WebsiteOnly"].contains(&state_of(row).as_str())).count() as u64;
    let quotes: Vec<&str> =
        theirs.iter().filter(|row| state_of(row) == "Everything").map(|row| row.quote.as_str()).collect();
    assert_eq!(record.testimonials_consented, consented, "{id}: consented");
    assert_eq!(record.testimonials_published, published, "{id}: published");
    let exported: Vec<&str> = record.quotes.iter().map(|quote| quote.quote.as_str()).collect();
    assert_eq!(exported, quotes, "{id}: quotes");
    assert!(record.quotes.iter().all(|quote| quote.attribution == "Jane"), "named as consented");
}

/// Checks `record` against the posts, answers and testimonials about its topic.
fn check_topic(record: &TopicRecord, posts: &[&Post], extras: &Extras, erased: &BTreeSet<String>) {
    let topic = record.topic.as_str();
    let middle = range().middle();
    let about: Vec<&Post> = posts.iter().copied().filter(|post| unique_topics(post).contains(topic)).collect();
    assert_eq!(record.posts, about.len() as u64, "{topic}: posts");
    let customers = |posts: &[&Post]| -> u64 {
        posts
            .iter()
            .filter(|post| !post.customer_id.is_empty() && !erased.contains(&post.customer_id))
            .map(|post| post.customer_id.as_str())
            .collect::<BTreeSet<_>>()
            .len() as u64
    };
    assert_eq!(record.customers, customers(&about), "{topic}: customers");
    assert_eq!(record.churn_risk_posts, about.iter().filter(|post| post.churn_risk).count() as u64, "{topic}: churn");
    let labels: Vec<(i32, bool)> = about.iter().map(|post| (post.sentiment, post.at >= middle)).collect();
    let (rated, average, first, second, change) = sentiment_of(&labels);
    assert_eq!(record.sentiment.rated(), rated, "{topic}: rated");
    close(record.sentiment.average(), average, "average");
    close(record.sentiment.first_half_average(), first, "first half");
    close(record.sentiment.second_half_average(), second, "second half");
    close(record.sentiment.change(), change, "change");
    let mut by_segment: BTreeMap<String, Vec<&Post>> = BTreeMap::new();
    for post in &about {
        let segment = if post.segment.is_empty() { NO_SEGMENT.to_owned() } else { post.segment.clone() };
        by_segment.entry(segment).or_default().push(post);
    }
    let mut expected: Vec<(String, u64, u64)> =
        by_segment.into_iter().map(|(segment, posts)| (segment, posts.len() as u64, customers(&posts))).collect();
    expected.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let actual: Vec<(String, u64, u64)> =
        record.segments.iter().map(|share| (share.segment.clone(), share.posts, share.customers)).collect();
    assert_eq!(actual, expected, "{topic}: segments");
    let csat: Vec<i32> = extras
        .answers
        .iter()
        .filter(|row| row.kind == "csat" && in_range(row.responded_at))
        .filter(|row| row.topics.split(',').any(|name| name == topic))
        .map(|row| row.score)
        .collect();
    assert_eq!(record.csat.responses, csat.len() as u64, "{topic}: csat");
    let csat_mean = if csat.is_empty() { 0.0 } else { f64::from(csat.iter().sum::<i32>()) / csat.len() as f64 };
    close(record.csat.average(), csat_mean, "csat average");
    let topics_of_source = |row: &testimonial::Model| -> BTreeSet<String> {
        if row.source == FROM_SURVEY {
            let answer = extras.answers.iter().find(|answer| answer.survey_id == row.source_id).unwrap();
            answer.topics.split(',').filter(|name| !name.is_empty()).map(str::to_owned).collect()
        } else {
            let post = posts.iter().find(|post| post.interaction_id == row.source_id);
            post.map(|post| post.topics.iter().cloned().collect()).unwrap_or_default()
        }
    };
    let testimonials = extras
        .testimonials
        .iter()
        .filter(|row| in_range(row.created_at) && row.consent_given_at.is_some() && row.withdrawn_at.is_none())
        .filter(|row| topics_of_source(row).contains(topic))
        .count() as u64;
    assert_eq!(record.testimonials, testimonials, "{topic}: testimonials");
}

/// Everything an export of `by` over [`range`] sends for acme.
async fn export(db: &DatabaseConnection, by: Grouping) -> Vec<Record> {
    let (sender, mut receiver) = mpsc::channel(8);
    let db = db.clone();
    let task = tokio::spawn(async move { run(&db, "acme", &Query { range: range(), by }, &sender).await });
    let mut records = Vec::new();
    while let Some(record) = receiver.recv().await {
        records.push(record);
    }
    let outcome = task.await.unwrap().unwrap();
    assert_eq!(outcome, Outcome::Finished(records.len() as u64));
    records
}

async fn database(backend: Backend) -> (TestStore, DatabaseConnection) {
    let store = TestStore::create(backend).await;
    let db = store.connect::<Migrator>(SERVICE).await;
    (store, db)
}

/// A database with the generated history of acme (and a little of globex's, which no export of
/// acme may show).
async fn seeded(backend: Backend) -> (TestStore, DatabaseConnection, Vec<Post>, Extras) {
    let (store, db) = database(backend).await;
    let mut dice = Dice(20_261_215);
    let posts = history(&mut dice);
    record(&db, "acme", &posts).await;
    let mut other = history(&mut Dice(7));
    other.truncate(50);
    record(&db, "globex", &other).await;
    let extras = extras(&db, &mut dice, &posts).await;
    (store, db, posts, extras)
}

async fn the_export_matches_figures_computed_from_the_history(backend: Backend) {
    let (store, db, posts, extras) = seeded(backend).await;
    let in_range_posts: Vec<&Post> = posts.iter().filter(|post| in_range(post.at)).collect();

    let records = export(&db, Grouping::Customer).await;
    let mut by_customer: BTreeMap<&str, Vec<&Post>> = BTreeMap::new();
    for post in in_range_posts.iter().filter(|post| !post.customer_id.is_empty()) {
        by_customer.entry(post.customer_id.as_str()).or_default().push(post);
    }
    let expected: Vec<&str> = by_customer.keys().copied().filter(|id| !extras.opted_out.contains(*id)).collect();
    let exported: Vec<&str> = records
        .iter()
        .map(|record| match record {
            Record::Customer(customer) => customer.customer_id.as_str(),
            Record::Topic(_) => panic!("a topic record in a customer export"),
        })
        .collect();
    // Every customer who posted in the range, in order of id, but those who opted out; more
    // facts than one page holds, so customers run on across pages.
    assert!(in_range_posts.len() > 1_000, "{} posts in range", in_range_posts.len());
    assert_eq!(exported, expected);
    assert!(!exported.contains(&"c003"), "opted out");
    for record in &records {
        let Record::Customer(customer) = record else { unreachable!() };
        check_customer(customer, &by_customer[customer.customer_id.as_str()], &extras);
    }
    assert!(
        records.iter().any(|record| matches!(record, Record::Customer(c) if !c.quotes.is_empty())),
        "the history has a quotable testimonial in the range"
    );

    let records = export(&db, Grouping::Topic).await;
    let names: Vec<&str> = records
        .iter()
        .map(|record| match record {
            Record::Topic(topic) => topic.topic.as_str(),
            Record::Customer(_) => panic!("a customer record in a topic export"),
        })
        .collect();
    assert_eq!(names, TOPICS);
    for record in &records {
        let Record::Topic(topic) = record else { unreachable!() };
        // Opted-out customers are counted here, anonymously.
        check_topic(topic, &in_range_posts, &extras, &BTreeSet::new());
    }
    store.cleanup().await;
}

async fn an_erased_customer_is_in_no_record(backend: Backend) {
    let (store, db, posts, extras) = seeded(backend).await;
    let in_range_posts: Vec<&Post> = posts.iter().filter(|post| in_range(post.at)).collect();
    let victim = in_range_posts
        .iter()
        .map(|post| post.customer_id.as_str())
        .find(|id| !id.is_empty() && !extras.opted_out.contains(*id))
        .unwrap()
        .to_owned();
    let before = export(&db, Grouping::Customer).await;
    assert!(before.iter().any(|record| matches!(record, Record::Customer(c) if c.customer_id == victim)));

    let erased = v1::CustomerErased {
        customer_id: victim.clone(),
        profiles: vec![v1::ErasedProfile {
            profile_id: format!("p-{victim}"),
            channel: v1::Channel::X as i32,
            external_id: "x-1".into(),
        }],
        reason: "GDPR request 2026-118".into(),
    };
    handle_all(&consumer(EraseCustomers, &db), &[delivery("acme", &erased)]).await;

    let after = export(&db, Grouping::Customer).await;
    assert_eq!(after.len(), before.len() - 1);
    assert!(!after.iter().any(|record| matches!(record, Record::Customer(c) if c.customer_id == victim)));
    // Nothing of theirs is left anywhere in the export's sources: facts, answers, testimonials.
    let facts = crate::storage::routed::routed_fact::Entity::find().all(&db).await.unwrap();
    assert!(facts.iter().all(|fact| fact.customer_id != victim));
    assert!(facts.iter().filter(|fact| fact.customer_id.is_empty()).all(|fact| fact.lifetime_value == 0.0));
    let mut erased_ids = BTreeSet::new();
    erased_ids.insert(victim.clone());
    let extras = Extras {
        answers: extras
            .answers
            .into_iter()
            .map(|mut row| {
                if row.customer_id == victim {
                    row.customer_id.clear();
                }
                row
            })
            .collect(),
        testimonials: extras.testimonials.into_iter().filter(|row| row.customer_id != victim).collect(),
        opted_out: extras.opted_out,
    };
    // Their posts still count in the topics, anonymously: not as a customer.
    for record in export(&db, Grouping::Topic).await {
        let Record::Topic(topic) = record else { unreachable!() };
        check_topic(&topic, &in_range_posts, &extras, &erased_ids);
    }
    store.cleanup().await;
}

async fn the_export_stops_when_the_client_goes_away(backend: Backend) {
    let (store, db, _posts, _extras) = seeded(backend).await;
    let (sender, mut receiver) = mpsc::channel(1);
    let task = {
        let db = db.clone();
        tokio::spawn(async move { run(&db, "acme", &Query { range: range(), by: Grouping::Customer }, &sender).await })
    };
    assert!(receiver.recv().await.is_some());
    drop(receiver);
    match task.await.unwrap().unwrap() {
        Outcome::Abandoned(sent) => assert!(sent < 10, "{sent} records sent after the client left"),
        Outcome::Finished(sent) => panic!("finished ({sent} records) with nobody listening"),
    }
    store.cleanup().await;
}

fn caller(role: Role) -> Caller {
    Caller { tenant: tenant("acme"), role, actor: "someone".to_owned(), agent: None }
}

fn request<T>(caller: Caller, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(caller);
    request
}

async fn the_rpc_is_for_admins_and_names_the_field_to_fix(backend: Backend) {
    let (store, db, posts, extras) = seeded(backend).await;
    let api = FeedbackApi::new(db.clone());
    let asked = |by: v1::InsightGrouping| v1::ExportInsightsRequest {
        since: Some(to_timestamp(range().since())),
        until: Some(to_timestamp(range().until())),
        by: by as i32,
    };
    for role in [Role::Viewer, Role::Agent] {
        let refused = api.export_insights(request(caller(role), asked(v1::InsightGrouping::Customer))).await;
        assert_eq!(refused.err().unwrap().code(), Code::PermissionDenied, "{role:?}");
    }
    let cases = [
        (v1::ExportInsightsRequest { since: None, ..asked(v1::InsightGrouping::Topic) }, "since"),
        (asked(v1::InsightGrouping::Unspecified), "by"),
        (
            v1::ExportInsightsRequest {
                until: Some(to_timestamp(range().since() + Duration::days(401))),
                ..asked(v1::InsightGrouping::Topic)
            },
            "400 days",
        ),
    ];
    for (bad, says) in cases {
        let status = api.export_insights(request(caller(Role::Admin), bad)).await.err().unwrap();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().contains(says), "{}", status.message());
    }

    // Through the RPC: the same records as the workflow's, as messages.
    let stream = api.export_insights(request(caller(Role::Admin), asked(v1::InsightGrouping::Customer))).await.unwrap();
    let messages: Vec<v1::ExportInsightsResponse> =
        stream.into_inner().collect::<Vec<_>>().await.into_iter().map(Result::unwrap).collect();
    let in_range_customers: BTreeSet<&str> = posts
        .iter()
        .filter(|post| in_range(post.at) && !post.customer_id.is_empty())
        .map(|post| post.customer_id.as_str())
        .filter(|id| !extras.opted_out.contains(*id))
        .collect();
    assert_eq!(messages.len(), in_range_customers.len());
    let first = match &messages[0].record {
        Some(v1::export_insights_response::Record::Customer(customer)) => customer,
        other => panic!("{other:?}"),
    };
    assert_eq!(first.customer_id, *in_range_customers.iter().next().unwrap());
    assert!(first.sentiment.is_some() && first.first_contact_at.is_some());
    store.cleanup().await;
}
