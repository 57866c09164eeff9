//! The storage suite: the outbox, its relay, the inbox, the idempotent create and the consumer
//! skeleton, each test run on SQLite and on PostgreSQL (`sqlite::…` and `postgres::…`).

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sea_orm::DatabaseConnection;
use sea_orm_migration::prelude::*;
use tend_kernel::TenantId;
use tend_proto::v1;
use tend_queue::{Consumer, ConsumerOptions, EventStream, LocalStream, list_dead_letters};
use tend_store::events::envelope;
use tend_store::testing::{Backend, TestStore};
use tend_store::{
    BatchConsumer, DbContext as _, Effects, Event, EventHandler, Failure, HandleError, OutboxRelay, OutboxWaker, inbox,
    outbox,
};

struct Migrator;

#[async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(tend_store::migration::CreateOutbox), Box::new(tend_store::migration::CreateInbox)]
    }

    fn migration_table_name() -> DynIden {
        "suite_migrations".into_iden()
    }
}

async fn database(backend: Backend) -> (TestStore, DatabaseConnection) {
    let store = TestStore::create(backend).await;
    let db = store.connect::<Migrator>("suite").await;
    (store, db)
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn case_event(id: &str) -> v1::EventEnvelope {
    envelope(
        "suite",
        &tenant(),
        &v1::CaseEvent { case: Some(v1::Case { id: id.to_owned(), ..Default::default() }), ..Default::default() },
    )
}

fn case_ids(stream_entries: &[tend_queue::Entry]) -> Vec<String> {
    use prost::Message as _;
    stream_entries
        .iter()
        .map(|entry| {
            let envelope = v1::EventEnvelope::decode(entry.payload.as_slice()).unwrap();
            let event: v1::CaseEvent = tend_store::events::payload(&envelope).unwrap();
            event.case.unwrap().id
        })
        .collect()
}

async fn outbox_rows_are_relayed_in_order_and_deleted(backend: Backend) {
    let (store, db) = database(backend).await;
    let stream: Arc<dyn EventStream> = Arc::new(LocalStream::in_memory().await.unwrap());
    let events: Vec<(&str, v1::EventEnvelope)> =
        (0..1_500).map(|n| (if n % 2 == 0 { "even" } else { "odd" }, case_event(&format!("c{n}")))).collect();
    outbox::enqueue_many(&db, &events).await.unwrap();
    assert_eq!(outbox::pending(&db).await.unwrap(), 1_500);

    let relay = OutboxRelay::new(db.clone(), stream.clone());
    let mut published = 0;
    while published < 1_500 {
        let count = relay.relay_once().await.unwrap();
        assert!(count > 0);
        published += count;
    }
    assert_eq!(relay.relay_once().await.unwrap(), 0);
    assert_eq!(outbox::pending(&db).await.unwrap(), 0);
    let even = stream.range("even", None, 10_000).await.unwrap();
    let expected: Vec<String> = (0..1_500).step_by(2).map(|n| format!("c{n}")).collect();
    assert_eq!(case_ids(&even), expected);
    assert_eq!(stream.range("odd", None, 10_000).await.unwrap().len(), 750);
    store.cleanup().await;
}

async fn a_failed_publish_leaves_the_rows_in_the_outbox(backend: Backend) {
    let (store, db) = database(backend).await;
    let stream = LocalStream::in_memory().await.unwrap();
    outbox::enqueue(&db, "s", &case_event("c1")).await.unwrap();
    stream.close().await.unwrap();
    let relay = OutboxRelay::new(db.clone(), Arc::new(stream));
    let error = relay.relay_once().await.unwrap_err();
    assert_eq!(error.failure(), Failure::Unavailable, "{error}");
    assert_eq!(outbox::pending(&db).await.unwrap(), 1);
    store.cleanup().await;
}

async fn the_inbox_reports_only_events_not_seen_before(backend: Backend) {
    let (store, db) = database(backend).await;
    let fresh = inbox::first_deliveries(&db, "routing", &["e1", "e2", "e3"]).await.unwrap();
    assert_eq!(fresh.len(), 3);
    let fresh = inbox::first_deliveries(&db, "routing", &["e2", "e4", "e4"]).await.unwrap();
    assert_eq!(fresh.into_iter().collect::<Vec<_>>(), ["e4"]);
    // Another consumer has an inbox of its own.
    assert_eq!(inbox::first_deliveries(&db, "feedback", &["e1"]).await.unwrap().len(), 1);
    assert!(inbox::first_deliveries(&db, "routing", &[]).await.unwrap().is_empty());
    store.cleanup().await;
}

async fn insert_new_skips_rows_whose_unique_key_is_taken(backend: Backend) {
    use sea_orm::Set;
    let (store, db) = database(backend).await;
    let row = |event_id: &str| outbox::entity::ActiveModel {
        event_id: Set(event_id.to_owned()),
        stream: Set("s".to_owned()),
        tenant: Set("acme".to_owned()),
        payload: Set(Vec::new()),
        created_at: Set(tend_kernel::ids::now()),
        ..Default::default()
    };
    let unique = [outbox::entity::Column::EventId];
    let first = tend_store::query::insert_new(&db, vec![row("a"), row("b")], unique).await.unwrap();
    assert_eq!(first.len(), 2);
    // "a" is taken, and the second "c" collides with the first one of the same statement.
    let second = tend_store::query::insert_new(&db, vec![row("a"), row("c"), row("c")], unique).await.unwrap();
    assert_eq!(second.len(), 1);
    assert!(!first.iter().any(|key| second.contains(key)));
    let none = tend_store::query::insert_new(&db, vec![row("a")], unique).await.unwrap();
    assert!(none.is_empty());
    store.cleanup().await;
}

async fn a_closed_pool_is_unavailable(backend: Backend) {
    let (store, db) = database(backend).await;
    db.clone().close().await.unwrap();
    let error = outbox::pending(&db).await.unwrap_err();
    assert_eq!(error.failure(), Failure::Unavailable, "{error}");
    let status = tonic::Status::from(error);
    assert_eq!(status.code(), tonic::Code::Unavailable);
    store.cleanup().await;
}

/// Publishes a `CaseEvent` on `out` for every case event it is given, except that a case id
/// starting with `poison` is poison; records what it saw.
#[derive(Default)]
struct Echo {
    seen: Mutex<Vec<Vec<String>>>,
}

#[async_trait]
impl EventHandler for Echo {
    type Payload = v1::CaseEvent;

    async fn handle(&self, effects: &mut Effects<'_>, events: &[&Event<v1::CaseEvent>]) -> Result<(), HandleError> {
        let ids: Vec<String> = events.iter().map(|event| event.payload.case.clone().unwrap_or_default().id).collect();
        self.seen.lock().unwrap().push(ids.clone());
        for (event, id) in events.iter().zip(&ids) {
            if id.starts_with("poison") {
                return Err(HandleError::poison(event, "poisoned on purpose"));
            }
            // A write in the batch's transaction, rolled back with it when a poison event turns up.
            inbox::first_deliveries(effects.db(), &format!("echo-{id}"), &["x"]).await?;
            effects.publish("out", event, &event.payload);
        }
        Ok(())
    }
}

async fn the_consumer_skeleton_isolates_poison_and_skips_redeliveries(backend: Backend) {
    let (store, db) = database(backend).await;
    let stream: Arc<dyn EventStream> = Arc::new(LocalStream::in_memory().await.unwrap());
    let handler = Arc::new(Echo::default());
    let waker = OutboxWaker::default();
    let batch = Arc::new(BatchConsumer::new(handler.clone(), db.clone(), waker, "echo", "suite"));
    let options = ConsumerOptions { batch_size: 10, ..ConsumerOptions::new("in", "echo", "worker") };
    let consumer = Consumer::batched(stream.clone(), options, batch);

    let first = case_event("a");
    let entries = [first.clone(), case_event("poison-1"), case_event("b"), first.clone()];
    for entry in &entries {
        use prost::Message as _;
        stream.publish("in", &entry.encode_to_vec()).await.unwrap();
    }
    stream.publish("in", b"not an envelope").await.unwrap();
    assert_eq!(consumer.poll_once().await.unwrap(), 5);

    // The poison event ran once with the batch, then the batch ran again without it; the
    // duplicate of `a` (same event id) was handed over once.
    let seen = handler.seen.lock().unwrap().clone();
    assert_eq!(seen, [vec!["a", "poison-1", "b"], vec!["a", "b"]]);
    let relay = OutboxRelay::new(db.clone(), stream.clone());
    relay.relay_once().await.unwrap();
    let out = stream.range("out", None, 100).await.unwrap();
    assert_eq!(case_ids(&out), ["a", "b"]);
    let dead = list_dead_letters(stream.as_ref(), "in", "echo", 10).await.unwrap();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert_eq!(stream.pending_count("in", "echo").await.unwrap(), 0);
    // The rolled-back attempt left nothing of the poison event's batch behind.
    let fresh = inbox::first_deliveries(&db, "echo", &[first.event_id.as_str()]).await.unwrap();
    assert!(fresh.is_empty(), "a is recorded as handled");
    store.cleanup().await;
}

/// Acts only on cases whose id starts with "keep".
#[derive(Default)]
struct Picky {
    seen: Mutex<Vec<String>>,
}

#[async_trait]
impl EventHandler for Picky {
    type Payload = v1::CaseEvent;

    fn wants(&self, event: &Event<v1::CaseEvent>) -> bool {
        event.payload.case.as_ref().is_some_and(|case| case.id.starts_with("keep"))
    }

    async fn handle(&self, _effects: &mut Effects<'_>, events: &[&Event<v1::CaseEvent>]) -> Result<(), HandleError> {
        let mut seen = self.seen.lock().unwrap();
        seen.extend(events.iter().map(|event| event.payload.case.clone().unwrap_or_default().id));
        Ok(())
    }
}

async fn events_a_handler_does_not_want_are_acknowledged_without_a_trace(backend: Backend) {
    let (store, db) = database(backend).await;
    let stream: Arc<dyn EventStream> = Arc::new(LocalStream::in_memory().await.unwrap());
    let handler = Arc::new(Picky::default());
    let batch = Arc::new(BatchConsumer::new(handler.clone(), db.clone(), OutboxWaker::default(), "picky", "suite"));
    let options = ConsumerOptions { batch_size: 10, ..ConsumerOptions::new("in", "picky", "worker") };
    let consumer = Consumer::batched(stream.clone(), options, batch);
    let entries = [case_event("skip-1"), case_event("keep-1"), case_event("skip-2")];
    for entry in &entries {
        use prost::Message as _;
        stream.publish("in", &entry.encode_to_vec()).await.unwrap();
    }
    assert_eq!(consumer.poll_once().await.unwrap(), 3);
    assert_eq!(*handler.seen.lock().unwrap(), ["keep-1"]);
    assert_eq!(stream.pending_count("in", "picky").await.unwrap(), 0, "all three acknowledged");
    // Only the wanted event is in the inbox: the others cost no row.
    let ids: Vec<&str> = entries.iter().map(|entry| entry.event_id.as_str()).collect();
    let fresh = inbox::first_deliveries(&db, "picky", &ids).await.unwrap();
    assert_eq!(fresh.len(), 2, "{fresh:?}");
    assert!(!fresh.contains(&entries[1].event_id));

    // A batch of nothing wanted is acknowledged too.
    {
        use prost::Message as _;
        stream.publish("in", &case_event("skip-3").encode_to_vec()).await.unwrap();
    }
    assert_eq!(consumer.poll_once().await.unwrap(), 1);
    assert_eq!(stream.pending_count("in", "picky").await.unwrap(), 0);
    assert_eq!(handler.seen.lock().unwrap().len(), 1);
    store.cleanup().await;
}

async fn context_errors_name_what_was_being_done(backend: Backend) {
    let (store, db) = database(backend).await;
    use sea_orm::ConnectionTrait as _;
    let error = db.execute_unprepared("SELECT * FROM no_such_table").await.context("reading the widgets").unwrap_err();
    assert!(error.to_string().starts_with("reading the widgets: "), "{error}");
    assert_eq!(error.failure(), Failure::Unexpected);
    store.cleanup().await;
}

tend_store::on_both_backends!(
    outbox_rows_are_relayed_in_order_and_deleted,
    a_failed_publish_leaves_the_rows_in_the_outbox,
    the_inbox_reports_only_events_not_seen_before,
    insert_new_skips_rows_whose_unique_key_is_taken,
    a_closed_pool_is_unavailable,
    the_consumer_skeleton_isolates_poison_and_skips_redeliveries,
    events_a_handler_does_not_want_are_acknowledged_without_a_trace,
    context_errors_name_what_was_being_done,
);
