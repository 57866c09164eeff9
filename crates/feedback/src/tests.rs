//! Routing's decisions in feedback, on SQLite and on PostgreSQL: the consumer of
//! `interactions.routed` under redelivery and replay, the report's routed counts, erasure of
//! testimonial candidates and their list.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Duration, Utc};
use prost::Message as _;
use sea_orm::{DatabaseConnection, EntityTrait, QueryOrder};
use tend_kernel::ids::{new_id, now, to_timestamp};
use tend_kernel::{Caller, Role, TenantId};
use tend_proto::v1;
use tend_proto::v1::feedback_service_server::FeedbackService as _;
use tend_queue::{BatchHandler as _, Delivery, HandlerError};
use tend_store::testing::{Backend, TestStore};
use tend_store::{BatchConsumer, EventHandler, OutboxWaker};
use tonic::{Code, Request};

use crate::consumer::{EraseCustomers, RecordRoutedFacts};
use crate::storage::routed::{routed_fact, routed_topic, testimonial_candidate};
use crate::{FeedbackApi, Migrator, SERVICE};

tend_store::on_both_backends!(
    the_consumer_records_each_interaction_once_whatever_is_delivered_again,
    the_report_counts_routed_interactions_in_the_window,
    erasure_deletes_the_candidates_of_the_erased_customer_and_profiles,
    candidates_are_listed_newest_first_in_pages,
);

const X: i32 = v1::Channel::X as i32;

/// A fresh database for `backend`, migrated.
async fn database(backend: Backend) -> (TestStore, DatabaseConnection) {
    let store = TestStore::create(backend).await;
    let db = store.connect::<Migrator>(SERVICE).await;
    (store, db)
}

/// A second handle on `db` that counts the statements run through it.
fn counted(db: &DatabaseConnection) -> (DatabaseConnection, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let mut counted = db.clone();
    let counter = count.clone();
    counted.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    (counted, count)
}

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).unwrap()
}

/// A caller with read access only.
fn viewer(tenant_name: &str) -> Caller {
    Caller { tenant: tenant(tenant_name), role: Role::Viewer, actor: "viewer-vic".to_owned(), agent: None }
}

/// `message` from `caller`.
fn request<T>(caller: Caller, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(caller);
    request
}

/// One routed interaction, as a test describes it.
#[derive(Debug, Clone)]
struct Post {
    interaction_id: String,
    decided_at: DateTime<Utc>,
    actionable: bool,
    queue: &'static str,
    topics: Vec<&'static str>,
    praise: bool,
    profile_id: &'static str,
    customer_id: &'static str,
}

/// Work in queue "default" at `decided_at`, by profile p1 of customer c1, about nothing.
fn work(decided_at: DateTime<Utc>) -> Post {
    Post {
        interaction_id: new_id(),
        decided_at,
        actionable: true,
        queue: "default",
        topics: Vec::new(),
        praise: false,
        profile_id: "p1",
        customer_id: "c1",
    }
}

/// Praise that is not work and proposes a testimonial.
fn praise(decided_at: DateTime<Utc>, profile_id: &'static str, customer_id: &'static str) -> Post {
    Post { actionable: false, praise: true, profile_id, customer_id, ..work(decided_at) }
}

impl Post {
    fn about(mut self, topics: &[&'static str]) -> Self {
        self.topics = topics.to_vec();
        self
    }

    fn in_queue(mut self, queue: &'static str) -> Self {
        self.queue = queue;
        self
    }

    fn not_work(mut self) -> Self {
        self.actionable = false;
        self
    }

    fn event(&self) -> v1::InteractionRouted {
        v1::InteractionRouted {
            decision: Some(v1::RoutingDecision {
                interaction_id: self.interaction_id.clone(),
                case_id: if self.actionable { new_id() } else { String::new() },
                priority: 40,
                reasons: vec!["a reason written out for people".into()],
                decided_at: Some(to_timestamp(self.decided_at)),
                outcome: Some(v1::RoutingOutcome { queue: self.queue.into(), ..Default::default() }),
                actionable: self.actionable,
                not_actionable_reason: if self.actionable { String::new() } else { "enrichment: praise".into() },
                rule_errors: Vec::new(),
            }),
            channel: X,
            profile_id: self.profile_id.into(),
            customer_id: self.customer_id.into(),
            topics: self.topics.iter().map(|topic| (*topic).to_owned()).collect(),
            intents: vec![v1::Intent::Complaint as i32, v1::Intent::Question as i32],
            sentiment: v1::SentimentLabel::Negative as i32,
            testimonial_candidate: self.praise,
            received_at: Some(to_timestamp(self.decided_at - Duration::seconds(2))),
        }
    }
}

/// A delivery of `message` for `tenant_name` as a new event (its own event id).
fn delivery<M: prost::Message + prost::Name>(tenant_name: &str, message: &M) -> Delivery {
    let envelope = tend_store::events::envelope("routing", &tenant(tenant_name), message);
    Delivery { id: new_id(), payload: envelope.encode_to_vec(), deliveries: 1 }
}

fn routed(tenant_name: &str, posts: &[Post]) -> Vec<Delivery> {
    posts.iter().map(|post| delivery(tenant_name, &post.event())).collect()
}

/// The consumer group's handler of `handler` over `db`.
fn consumer<H: EventHandler>(handler: H, db: &DatabaseConnection) -> BatchConsumer<H> {
    BatchConsumer::new(Arc::new(handler), db.clone(), OutboxWaker::default(), SERVICE, SERVICE)
}

/// Handles `deliveries` with `consumer`, expecting every one handled.
async fn handle_all<H: EventHandler>(consumer: &BatchConsumer<H>, deliveries: &[Delivery]) {
    let results = consumer.handle_batch(deliveries).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
}

async fn facts(db: &DatabaseConnection) -> Vec<routed_fact::Model> {
    routed_fact::Entity::find().order_by_asc(routed_fact::Column::InteractionId).all(db).await.unwrap()
}

async fn candidates(db: &DatabaseConnection) -> Vec<testimonial_candidate::Model> {
    testimonial_candidate::Entity::find()
        .order_by_asc(testimonial_candidate::Column::InteractionId)
        .all(db)
        .await
        .unwrap()
}

async fn the_consumer_records_each_interaction_once_whatever_is_delivered_again(backend: Backend) {
    const EVENTS: usize = 100;
    let (store, db) = database(backend).await;
    let (counted_db, statements) = counted(&db);
    let consumer = consumer(RecordRoutedFacts, &counted_db);
    let at = now();
    let posts: Vec<Post> = (0..EVENTS)
        .map(|n| match n % 4 {
            0 => praise(at, "p1", "c1").about(&["billing"]),
            1 => work(at).about(&["billing", "delivery", "billing"]),
            2 => work(at).not_work(),
            _ => work(at).in_queue("retention"),
        })
        .collect();
    let deliveries = routed("acme", &posts);

    statements.store(0, Ordering::Relaxed);
    handle_all(&consumer, &deliveries).await;
    // Inbox, facts, topics, candidates, roll-up counts (plus BEGIN and COMMIT): per batch, not
    // per event.
    let count = statements.load(Ordering::Relaxed);
    assert_eq!(count, 5, "{count} statements for {EVENTS} events");

    let stored = facts(&db).await;
    assert_eq!(stored.len(), EVENTS);
    let first = stored.iter().find(|fact| fact.interaction_id == posts[1].interaction_id).unwrap();
    assert_eq!(first.tenant, "acme");
    assert_eq!((first.channel, first.priority, first.queue.as_str()), (X, 40, "default"));
    assert_eq!(first.intents, format!("{},{}", v1::Intent::Complaint as i32, v1::Intent::Question as i32));
    assert_eq!(first.topics, "billing,delivery,billing");
    assert_eq!(first.sentiment, v1::SentimentLabel::Negative as i32);
    assert_eq!(first.decided_at, at);
    assert!(first.actionable && first.not_actionable_reason.is_empty());
    let not_work = stored.iter().find(|fact| fact.interaction_id == posts[2].interaction_id).unwrap();
    assert!(!not_work.actionable);
    assert_eq!(not_work.not_actionable_reason, "enrichment: praise");
    let topic_rows = routed_topic::Entity::find().all(&db).await.unwrap();
    // 25 praises about billing, 25 posts about billing and delivery (billing once each).
    assert_eq!(topic_rows.len(), 25 + 50);
    let stored_candidates = candidates(&db).await;
    assert_eq!(stored_candidates.len(), EVENTS / 4);
    assert!(stored_candidates.iter().all(|candidate| candidate.state == "candidate"
        && (candidate.profile_id.as_str(), candidate.customer_id.as_str(), candidate.channel) == ("p1", "c1", X)
        && candidate.proposed_at == at));

    // The same deliveries again (a reclaim after a crash): the inbox alone.
    statements.store(0, Ordering::Relaxed);
    handle_all(&consumer, &deliveries).await;
    assert_eq!(statements.load(Ordering::Relaxed), 1, "the inbox alone");

    // The same decisions published again as new events (a replay), changed, and twice in one
    // batch: nothing is recorded twice and what was recorded stays as it was.
    let replayed: Vec<Post> =
        posts.iter().map(|post| post.clone().about(&["returns"]).in_queue("vip").not_work()).collect();
    let mut again = routed("acme", &replayed);
    again.extend(routed("acme", &replayed[..10]));
    handle_all(&consumer, &again).await;
    assert_eq!(facts(&db).await, stored);
    assert_eq!(routed_topic::Entity::find().all(&db).await.unwrap().len(), topic_rows.len());
    assert_eq!(candidates(&db).await, stored_candidates);

    // The same interaction id in another tenant is another interaction.
    handle_all(&consumer, &routed("globex", &posts[..1])).await;
    assert_eq!(facts(&db).await.len(), EVENTS + 1);
    assert_eq!(candidates(&db).await.len(), EVENTS / 4 + 1);

    // An event without a decision is poison, alone; the rest of its batch is recorded.
    let fine = work(at);
    let broken = v1::InteractionRouted { decision: None, ..fine.event() };
    let results = consumer.handle_batch(&[delivery("acme", &broken), delivery("acme", &fine.event())]).await;
    assert!(matches!(results[0], Err(HandlerError::Poison(_))), "{results:?}");
    assert!(results[1].is_ok());
    assert!(facts(&db).await.iter().any(|fact| fact.interaction_id == fine.interaction_id));
    store.cleanup().await;
}

async fn the_report_counts_routed_interactions_in_the_window(backend: Backend) {
    let (store, db) = database(backend).await;
    let consumer = consumer(RecordRoutedFacts, &db);
    let api = FeedbackApi::new(db.clone());
    let from = now() - Duration::days(10);
    let to = from + Duration::days(1);
    let inside = from + Duration::hours(3);
    let posts = [
        // In the window: 3 work (2 default, 1 retention), 3 not work (2 of them praise).
        work(from).about(&["billing", "delivery"]),
        work(inside).about(&["billing"]),
        work(inside).in_queue("retention"),
        praise(inside, "p1", "c1").about(&["billing"]),
        praise(to - Duration::microseconds(1), "p2", ""),
        work(inside).not_work().about(&["delivery"]),
        // Outside it: the end is exclusive.
        work(to).about(&["billing"]),
        praise(from - Duration::seconds(1), "p1", "c1").about(&["billing"]),
    ];
    handle_all(&consumer, &routed("acme", &posts)).await;
    // Another tenant's interactions, in the window, count for it alone.
    handle_all(&consumer, &routed("globex", &[praise(inside, "p9", "c9").about(&["billing"])])).await;

    let window = v1::GetServiceReportRequest {
        from: Some(to_timestamp(from)),
        to: Some(to_timestamp(to)),
        ..Default::default()
    };
    let report = api.get_service_report(request(viewer("acme"), window)).await.unwrap().into_inner();
    assert_eq!((report.interactions_routed, report.not_actionable), (6, 3));
    assert_eq!(
        report.by_topic,
        vec![
            v1::TopicCount { topic: "billing".into(), interactions: 3, not_actionable: 1 },
            v1::TopicCount { topic: "delivery".into(), interactions: 2, not_actionable: 1 },
        ]
    );
    assert_eq!(
        report.by_queue,
        vec![
            v1::QueueCount { queue: "default".into(), interactions: 2 },
            v1::QueueCount { queue: "retention".into(), interactions: 1 },
        ]
    );
    assert_eq!(report.testimonial_candidates, 2);
    // The case figures keep their meaning: no case event was seen.
    assert_eq!((report.cases_opened, report.cases_resolved), (0, 0));

    // Without a window: everything so far.
    let all = v1::GetServiceReportRequest::default();
    let report = api.get_service_report(request(viewer("acme"), all)).await.unwrap().into_inner();
    assert_eq!((report.interactions_routed, report.not_actionable, report.testimonial_candidates), (8, 4, 3));
    let globex = v1::GetServiceReportRequest::default();
    let report = api.get_service_report(request(viewer("globex"), globex)).await.unwrap().into_inner();
    assert_eq!((report.interactions_routed, report.not_actionable, report.testimonial_candidates), (1, 1, 1));
    assert!(report.by_queue.is_empty());
    store.cleanup().await;
}

async fn erasure_deletes_the_candidates_of_the_erased_customer_and_profiles(backend: Backend) {
    let (store, db) = database(backend).await;
    let record = consumer(RecordRoutedFacts, &db);
    let erase = consumer(EraseCustomers, &db);
    let api = FeedbackApi::new(db.clone());
    let at = now();
    let posts = [
        praise(at, "p1", "c1"),
        // An earlier profile of c1's, unlinked when it posted: found by the erased profiles.
        praise(at, "p2", ""),
        // Someone else, linked and not.
        praise(at, "p3", "c3"),
        praise(at, "p4", ""),
    ];
    handle_all(&record, &routed("acme", &posts)).await;
    // The same ids in another tenant are other people.
    handle_all(&record, &routed("globex", &[praise(at, "p1", "c1")])).await;

    let profile = |id: &str| v1::ErasedProfile { profile_id: id.into(), channel: X, external_id: "x-1".into() };
    let erased = v1::CustomerErased {
        customer_id: "c1".into(),
        profiles: vec![profile("p1"), profile("p2")],
        reason: "GDPR request 2026-118".into(),
    };
    // A blank erasure (no customer, a blank profile) must not match the unlinked candidates.
    let blank = v1::CustomerErased { customer_id: " ".into(), profiles: vec![profile("")], reason: String::new() };
    let deliveries = [delivery("acme", &erased), delivery("acme", &blank)];
    handle_all(&erase, &deliveries).await;

    let left: Vec<(String, String)> =
        candidates(&db).await.into_iter().map(|candidate| (candidate.tenant, candidate.profile_id)).collect();
    let mut left_sorted = left.clone();
    left_sorted.sort();
    let expected: Vec<(String, String)> =
        [("acme", "p3"), ("acme", "p4"), ("globex", "p1")].map(|(t, p)| (t.to_owned(), p.to_owned())).to_vec();
    assert_eq!(left_sorted, expected);
    // The facts hold no one's ids and stay, counted in reports.
    assert_eq!(facts(&db).await.len(), 5);
    let report = api
        .get_service_report(request(viewer("acme"), v1::GetServiceReportRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((report.interactions_routed, report.testimonial_candidates), (4, 2));

    // The erasure again (another event for the same customer): nothing more goes.
    handle_all(&erase, &[delivery("acme", &erased)]).await;
    assert_eq!(candidates(&db).await.len(), 3);
    // A replay of an erased customer's decision brings no candidate back.
    handle_all(&record, &routed("acme", &posts[..2])).await;
    assert_eq!(candidates(&db).await.len(), 3);
    store.cleanup().await;
}

async fn candidates_are_listed_newest_first_in_pages(backend: Backend) {
    let (store, db) = database(backend).await;
    let record = consumer(RecordRoutedFacts, &db);
    let api = FeedbackApi::new(db.clone());
    let at = now();
    // Interaction ids are time-ordered: the last made is the newest.
    let mut posts: Vec<Post> = (0..5).map(|_| praise(at, "p1", "c1")).collect();
    posts[3].customer_id = "";
    let mut deliveries = routed("acme", &posts);
    // Work that is not praise is no candidate; another tenant's candidates are not listed.
    deliveries.extend(routed("acme", &[work(at)]));
    deliveries.extend(routed("globex", &[praise(at, "p9", "c9")]));
    handle_all(&record, &deliveries).await;

    let list = async |page_size: u32, page_token: &str| {
        let message = v1::ListTestimonialCandidatesRequest { page_size, page_token: page_token.to_owned() };
        api.list_testimonial_candidates(request(viewer("acme"), message)).await.map(|response| response.into_inner())
    };
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = list(2, &token).await.unwrap();
        pages += 1;
        assert!(page.candidates.len() <= 2);
        seen.extend(page.candidates);
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(pages, 3);
    let newest_first: Vec<&str> = posts.iter().rev().map(|post| post.interaction_id.as_str()).collect();
    assert_eq!(seen.iter().map(|candidate| candidate.interaction_id.as_str()).collect::<Vec<_>>(), newest_first);
    let unlinked = &seen[1];
    assert_eq!(
        (unlinked.profile_id.as_str(), unlinked.customer_id.as_str(), unlinked.channel),
        ("p1", "", X),
        "{unlinked:?}"
    );
    assert_eq!(unlinked.proposed_at, Some(to_timestamp(at)));

    // One page of everything; a full last page says so with a token, then an empty page.
    let all = list(0, "").await.unwrap();
    assert_eq!((all.candidates.len(), all.next_page_token.as_str()), (5, ""));
    let full = list(5, "").await.unwrap();
    let after = list(5, &full.next_page_token).await.unwrap();
    assert!(after.candidates.is_empty() && after.next_page_token.is_empty());

    // Bad requests and callers.
    assert_eq!(list(501, "").await.unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(list(2, "not-a-token").await.unwrap_err().code(), Code::InvalidArgument);
    let anonymous = Request::new(v1::ListTestimonialCandidatesRequest::default());
    assert_eq!(api.list_testimonial_candidates(anonymous).await.unwrap_err().code(), Code::Unauthenticated);
    store.cleanup().await;
}
