//! One contract, two backends: every `case_*` below runs against [`LocalStream`] (in memory)
//! and [`RedisStream`] (the server at `TEND_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`, each test under its own key prefix, deleted afterwards).
//!
//! The Redis tests fail, never skip, when Redis is unreachable: a green run must mean both
//! backends were checked.

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tend_queue::{
    BatchHandler, Consumer, ConsumerOptions, Delivery, Error, EventStream, Handler, HandlerError, LocalStream,
    RedisStream, RedisStreamOptions, dead_letter_stream, list_dead_letters, replay_dead_letters,
};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const STREAM: &str = "orders";
const GROUP: &str = "routing";
/// How long a test waits for something that should happen well before.
const PATIENCE: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Backends

async fn local_backend() -> Arc<dyn EventStream> {
    Arc::new(LocalStream::in_memory().await.unwrap())
}

async fn redis_backend(response_timeout: Duration) -> RedisStream {
    let url = std::env::var("TEND_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let options = RedisStreamOptions {
        url: url.clone(),
        key_prefix: format!("tend-test:{}:", uuid::Uuid::new_v4()),
        response_timeout,
    };
    match tokio::time::timeout(PATIENCE, RedisStream::connect(options)).await {
        Ok(Ok(redis)) => redis,
        Ok(Err(error)) => panic!(
            "the Redis contract tests need a Redis server at {url} (set TEND_TEST_REDIS_URL \
             to use another one), and connecting failed: {error}"
        ),
        Err(_) => panic!(
            "the Redis contract tests need a Redis server at {url} (set TEND_TEST_REDIS_URL \
             to use another one), and connecting did not finish within {PATIENCE:?}"
        ),
    }
}

/// Runs `case` on a fresh Redis prefix and deletes the prefix's keys afterwards, also when the
/// case panicked (the panic is then passed on).
async fn run_on_redis<F, Fut>(case: F)
where
    F: FnOnce(Arc<dyn EventStream>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    run_on_redis_with(Duration::from_secs(2), case).await;
}

/// [`run_on_redis`] with a given response timeout.
async fn run_on_redis_with<F, Fut>(response_timeout: Duration, case: F)
where
    F: FnOnce(Arc<dyn EventStream>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let redis = redis_backend(response_timeout).await;
    let outcome = tokio::spawn(case(Arc::new(redis.clone()))).await;
    redis.delete_all_keys().await.unwrap();
    if let Err(error) = outcome {
        std::panic::resume_unwind(error.into_panic());
    }
}

/// Generates one `#[tokio::test]` per case and backend: `local::case_x` and `redis::case_x`.
macro_rules! contract_tests {
    ($($case:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::local_backend().await).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::run_on_redis(super::$case).await;
                }
            )*
        }
    };
}

contract_tests!(
    case_publish_and_range_keep_order,
    case_group_created_late_sees_earlier_entries,
    case_every_group_sees_every_entry,
    case_consumers_of_a_group_split_entries,
    case_ack_removes_from_pending,
    case_reclaim_waits_for_min_idle_and_counts_deliveries,
    case_read_new_blocks_and_wakes_on_publish,
    case_delete_removes_entries_and_their_pending_state,
    case_bad_input_is_reported,
    case_consumer_acks_handled_entries,
    case_consumer_retries_then_succeeds,
    case_consumer_dead_letters_poison_at_once,
    case_consumer_dead_letters_after_max_deliveries_and_replays,
    case_consumer_dead_letters_entries_delivered_too_often,
    case_consumer_run_stops_promptly_on_cancel,
    case_publish_many_appends_in_order_across_streams,
    case_batched_consumer_settles_each_delivery_by_its_result,
    case_batched_consumer_lingers_for_a_fuller_batch,
    case_trim_removes_only_old_settled_entries,
    case_delete_settled_keeps_what_a_group_still_needs,
    case_streams_lists_every_stream_with_entries,
);

// ---------------------------------------------------------------------------------------------
// Helpers

fn payloads(entries: impl IntoIterator<Item = Vec<u8>>) -> Vec<String> {
    entries.into_iter().map(|p| String::from_utf8(p).unwrap()).collect()
}

async fn publish_all(stream: &dyn EventStream, name: &str, items: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for item in items {
        ids.push(stream.publish(name, item.as_bytes()).await.unwrap());
    }
    ids
}

async fn read_all(stream: &dyn EventStream, group: &str, consumer: &str) -> Vec<Delivery> {
    stream.read_new(STREAM, group, consumer, 100, Duration::ZERO).await.unwrap()
}

/// Polls `condition` every 10 ms until it holds; panics after [`PATIENCE`].
async fn eventually<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Options for quick consumer tests.
fn quick_options() -> ConsumerOptions {
    ConsumerOptions {
        batch_size: 10,
        block: Duration::from_millis(50),
        reclaim_idle: Duration::from_millis(100),
        reclaim_every: Duration::from_millis(50),
        max_deliveries: 3,
        ..ConsumerOptions::new(STREAM, GROUP, "worker-1")
    }
}

/// What the scripted handler does with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Accept,
    RetryFirstDelivery,
    AlwaysRetry,
    Poison,
}

/// A handler that follows a [`Script`] (changeable mid-test) and records what it saw.
struct Scripted {
    script: Mutex<Script>,
    seen: Mutex<Vec<(String, u32)>>,
    accepted: AtomicU32,
}

impl Scripted {
    fn new(script: Script) -> Arc<Self> {
        Arc::new(Self { script: Mutex::new(script), seen: Mutex::new(Vec::new()), accepted: AtomicU32::new(0) })
    }

    fn set(&self, script: Script) {
        *self.script.lock().unwrap() = script;
    }

    fn seen(&self) -> Vec<(String, u32)> {
        self.seen.lock().unwrap().clone()
    }

    fn accepted(&self) -> u32 {
        self.accepted.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Handler for Scripted {
    async fn handle(&self, delivery: &Delivery) -> Result<(), HandlerError> {
        let payload = String::from_utf8_lossy(&delivery.payload).into_owned();
        self.seen.lock().unwrap().push((payload, delivery.deliveries));
        let script = *self.script.lock().unwrap();
        match script {
            Script::Accept => {}
            Script::RetryFirstDelivery if delivery.deliveries > 1 => {}
            Script::RetryFirstDelivery | Script::AlwaysRetry => {
                return Err(HandlerError::retry("downstream unavailable"));
            }
            Script::Poison => return Err(HandlerError::poison("payload does not decode")),
        }
        self.accepted.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn consumer(stream: &Arc<dyn EventStream>, options: ConsumerOptions, handler: &Arc<Scripted>) -> Consumer {
    Consumer::new(Arc::clone(stream), options, Arc::clone(handler) as Arc<dyn Handler>)
}

// ---------------------------------------------------------------------------------------------
// Streams and groups

async fn case_publish_and_range_keep_order(stream: Arc<dyn EventStream>) {
    assert_eq!(stream.last_id(STREAM).await.unwrap(), None, "an empty stream has no last entry");
    let ids = publish_all(stream.as_ref(), STREAM, &["a", "b", "c", "d"]).await;
    assert_eq!(stream.last_id(STREAM).await.unwrap().as_ref(), Some(&ids[3]));

    let all = stream.range(STREAM, None, 100).await.unwrap();
    assert_eq!(all.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), ids);
    assert_eq!(payloads(all.into_iter().map(|e| e.payload)), ["a", "b", "c", "d"]);

    let after_b = stream.range(STREAM, Some(&ids[1]), 100).await.unwrap();
    assert_eq!(payloads(after_b.into_iter().map(|e| e.payload)), ["c", "d"]);

    let first_two = stream.range(STREAM, None, 2).await.unwrap();
    assert_eq!(payloads(first_two.into_iter().map(|e| e.payload)), ["a", "b"]);

    // Tailing: after the last entry there is nothing, until something is published.
    assert!(stream.range(STREAM, Some(&ids[3]), 100).await.unwrap().is_empty());
    let e = stream.publish(STREAM, b"e").await.unwrap();
    let tail = stream.range(STREAM, Some(&ids[3]), 100).await.unwrap();
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].id, e);

    assert!(stream.range("nothing-here", None, 10).await.unwrap().is_empty());
    assert!(stream.range(STREAM, None, 0).await.unwrap().is_empty());
}

async fn case_group_created_late_sees_earlier_entries(stream: Arc<dyn EventStream>) {
    publish_all(stream.as_ref(), STREAM, &["early-1", "early-2"]).await;
    stream.ensure_group(STREAM, GROUP).await.unwrap();
    // Creating it again is a no-op that keeps its position.
    stream.ensure_group(STREAM, GROUP).await.unwrap();
    stream.publish(STREAM, b"late").await.unwrap();

    let got = read_all(stream.as_ref(), GROUP, "c1").await;
    assert_eq!(payloads(got.iter().map(|d| d.payload.clone())), ["early-1", "early-2", "late"]);
    assert!(got.iter().all(|d| d.deliveries == 1));

    stream.ensure_group(STREAM, GROUP).await.unwrap();
    assert!(read_all(stream.as_ref(), GROUP, "c1").await.is_empty());
}

async fn case_every_group_sees_every_entry(stream: Arc<dyn EventStream>) {
    stream.ensure_group(STREAM, "g1").await.unwrap();
    stream.ensure_group(STREAM, "g2").await.unwrap();
    publish_all(stream.as_ref(), STREAM, &["x", "y", "z"]).await;

    for group in ["g1", "g2"] {
        let got = read_all(stream.as_ref(), group, "c").await;
        assert_eq!(payloads(got.into_iter().map(|d| d.payload)), ["x", "y", "z"], "{group}");
    }
    // Acknowledging in one group does not affect the other.
    assert_eq!(stream.pending_count(STREAM, "g1").await.unwrap(), 3);
    assert_eq!(stream.pending_count(STREAM, "g2").await.unwrap(), 3);
}

async fn case_consumers_of_a_group_split_entries(stream: Arc<dyn EventStream>) {
    stream.ensure_group(STREAM, GROUP).await.unwrap();
    let items: Vec<String> = (0..10).map(|i| format!("item-{i}")).collect();
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    let ids = publish_all(stream.as_ref(), STREAM, &refs).await;

    let first = stream.read_new(STREAM, GROUP, "c1", 4, Duration::ZERO).await.unwrap();
    let second = read_all(stream.as_ref(), GROUP, "c2").await;
    let third = read_all(stream.as_ref(), GROUP, "c1").await;

    assert_eq!(first.len(), 4);
    assert_eq!(second.len(), 6);
    assert!(third.is_empty());
    let mut seen: Vec<String> = first.iter().chain(&second).map(|d| d.id.clone()).collect();
    assert_eq!(seen, ids, "each entry to exactly one consumer, in order");
    seen.dedup();
    assert_eq!(seen.len(), 10);
}

async fn case_ack_removes_from_pending(stream: Arc<dyn EventStream>) {
    stream.ensure_group(STREAM, GROUP).await.unwrap();
    publish_all(stream.as_ref(), STREAM, &["a", "b", "c"]).await;
    assert_eq!(stream.pending_count(STREAM, GROUP).await.unwrap(), 0);

    let got = read_all(stream.as_ref(), GROUP, "c1").await;
    assert_eq!(stream.pending_count(STREAM, GROUP).await.unwrap(), 3);

    stream.ack(STREAM, GROUP, &[got[0].id.clone(), got[2].id.clone()]).await.unwrap();
    assert_eq!(stream.pending_count(STREAM, GROUP).await.unwrap(), 1);

    // Acknowledging again, or nothing, is harmless.
    stream.ack(STREAM, GROUP, &[got[0].id.clone()]).await.unwrap();
    stream.ack(STREAM, GROUP, &[]).await.unwrap();
    assert_eq!(stream.pending_count(STREAM, GROUP).await.unwrap(), 1);

    // Only the unacknowledged entry can be reclaimed.
    let reclaimed = stream.reclaim(STREAM, GROUP, "c2", Duration::ZERO, 10).await.unwrap();
    assert_eq!(reclaimed.len(), 1);
    assert_eq!(reclaimed[0].id, got[1].id);
}

async fn case_reclaim_waits_for_min_idle_and_counts_deliveries(stream: Arc<dyn EventStream>) {
    let min_idle = Duration::from_millis(300);
    stream.ensure_group(STREAM, GROUP).await.unwrap();
    stream.publish(STREAM, b"slow").await.unwrap();
    let got = read_all(stream.as_ref(), GROUP, "c1").await;
    let read_at = Instant::now();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].deliveries, 1);

    let too_early = stream.reclaim(STREAM, GROUP, "c2", min_idle, 10).await.unwrap();
    assert!(too_early.is_empty(), "reclaimed before min_idle");

    let deadline = Instant::now() + PATIENCE;
    let reclaimed = loop {
        let reclaimed = stream.reclaim(STREAM, GROUP, "c2", min_idle, 10).await.unwrap();
        if !reclaimed.is_empty() {
            break reclaimed;
        }
        assert!(Instant::now() < deadline, "the entry never became reclaimable");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // The clock started after the delivery, so the entry was idle a little longer than this.
    assert!(read_at.elapsed() >= min_idle - Duration::from_millis(50));
    assert_eq!(reclaimed.len(), 1);
    assert_eq!(reclaimed[0].id, got[0].id);
    assert_eq!(reclaimed[0].payload, b"slow");
    assert_eq!(reclaimed[0].deliveries, 2);

    // Reclaiming resets the idle time: nobody can take it straight back.
    let again = stream.reclaim(STREAM, GROUP, "c3", min_idle, 10).await.unwrap();
    assert!(again.is_empty());
    assert_eq!(stream.pending_count(STREAM, GROUP).await.unwrap(), 1);

    stream.ack(STREAM, GROUP, &[got[0].id.clone()]).await.unwrap();
    assert_eq!(stream.pending_count(STREAM, GROUP).await.unwrap(), 0);
}

async fn case_read_new_blocks_and_wakes_on_publish(stream: Arc<dyn EventStream>) {
    stream.ensure_group(STREAM, GROUP).await.unwrap();

    // Nothing to read: waits for the whole block time, then returns empty.
    let block = Duration::from_millis(300);
    let start = Instant::now();
    let got = stream.read_new(STREAM, GROUP, "c1", 10, block).await.unwrap();
    let waited = start.elapsed();
    assert!(got.is_empty());
    assert!(waited >= block - Duration::from_millis(20), "returned after {waited:?}");
    assert!(waited < block + Duration::from_secs(2), "returned after {waited:?}");

    // A publish during a long block wakes the reader at once.
    let reader = {
        let stream = Arc::clone(&stream);
        tokio::spawn(async move { stream.read_new(STREAM, GROUP, "c1", 10, Duration::from_secs(20)).await })
    };
    // Give the reader time to start blocking, so the wake-up (not the first look) is tested.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let published_at = Instant::now();
    stream.publish(STREAM, b"wake").await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .expect("the blocked reader did not wake up")
        .unwrap()
        .unwrap();
    assert!(published_at.elapsed() < Duration::from_secs(2));
    assert_eq!(payloads(got.into_iter().map(|d| d.payload)), ["wake"]);
}

async fn case_delete_removes_entries_and_their_pending_state(stream: Arc<dyn EventStream>) {
    stream.ensure_group(STREAM, GROUP).await.unwrap();
    let ids = publish_all(stream.as_ref(), STREAM, &["a", "b", "c"]).await;
    let got = read_all(stream.as_ref(), GROUP, "c1").await;
    assert_eq!(got.len(), 3);

    stream.delete(STREAM, &[ids[1].clone()]).await.unwrap();
    stream.delete(STREAM, &[]).await.unwrap();
    let left = stream.range(STREAM, None, 10).await.unwrap();
    assert_eq!(payloads(left.into_iter().map(|e| e.payload)), ["a", "c"]);

    // A deleted entry that was pending is dropped, not delivered, by reclaim.
    let reclaimed = stream.reclaim(STREAM, GROUP, "c2", Duration::ZERO, 10).await.unwrap();
    assert_eq!(payloads(reclaimed.into_iter().map(|d| d.payload)), ["a", "c"]);
    assert_eq!(stream.pending_count(STREAM, GROUP).await.unwrap(), 2);

    // Ids are not reused after deleting the newest entry.
    stream.delete(STREAM, &[ids[2].clone()]).await.unwrap();
    let d = stream.publish(STREAM, b"d").await.unwrap();
    assert_ne!(d, ids[2]);
    let new = read_all(stream.as_ref(), GROUP, "c1").await;
    assert_eq!(payloads(new.into_iter().map(|d| d.payload)), ["d"]);
}

async fn case_bad_input_is_reported(stream: Arc<dyn EventStream>) {
    assert!(matches!(stream.publish("", b"x").await, Err(Error::InvalidInput(_))));
    assert!(matches!(stream.ensure_group(STREAM, "").await, Err(Error::InvalidInput(_))));
    stream.ensure_group(STREAM, GROUP).await.unwrap();
    assert!(matches!(stream.ack(STREAM, GROUP, &["not-an-id".to_owned()]).await, Err(Error::InvalidInput(_))));
    assert!(matches!(stream.range(STREAM, Some("not-an-id"), 10).await, Err(Error::InvalidInput(_))));
    match stream.read_new(STREAM, "no-such-group", "c1", 10, Duration::ZERO).await {
        Err(Error::NoGroup { stream: s, group }) => {
            assert_eq!(s, STREAM);
            assert_eq!(group, "no-such-group");
        }
        other => panic!("expected NoGroup, got {other:?}"),
    }
    assert!(matches!(stream.pending_count(STREAM, "no-such-group").await, Err(Error::NoGroup { .. })));
    assert!(matches!(
        stream.reclaim(STREAM, "no-such-group", "c1", Duration::ZERO, 10).await,
        Err(Error::NoGroup { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Consumer

async fn case_consumer_acks_handled_entries(stream: Arc<dyn EventStream>) {
    publish_all(stream.as_ref(), STREAM, &["a", "b", "c"]).await;
    let handler = Scripted::new(Script::Accept);
    let consumer = consumer(&stream, quick_options(), &handler);

    // The consumer creates its group, positioned before the entries published above.
    assert_eq!(consumer.poll_once().await.unwrap(), 3);
    assert_eq!(handler.seen(), [("a".to_owned(), 1), ("b".to_owned(), 1), ("c".to_owned(), 1)]);
    assert_eq!(stream.pending_count(STREAM, GROUP).await.unwrap(), 0);
    assert_eq!(consumer.poll_once().await.unwrap(), 0);
}

async fn case_consumer_retries_then_succeeds(stream: Arc<dyn EventStream>) {
    stream.publish(STREAM, b"flaky").await.unwrap();
    let handler = Scripted::new(Script::RetryFirstDelivery);
    let consumer = consumer(&stream, quick_options(), &handler);

    assert_eq!(consumer.poll_once().await.unwrap(), 1);
    assert_eq!(handler.accepted(), 0);
    assert_eq!(stream.pending_count(STREAM, GROUP).await.unwrap(), 1);

    eventually("the retried entry to be handled", || async {
        consumer.poll_once().await.unwrap();
        handler.accepted() == 1
    })
    .await;
    assert_eq!(handler.seen(), [("flaky".to_owned(), 1), ("flaky".to_owned(), 2)]);
    assert_eq!(stream.pending_count(STREAM, GROUP).await.unwrap(), 0);
    let dead = list_dead_letters(stream.as_ref(), STREAM, GROUP, 10).await.unwrap();
    assert!(dead.is_empty());
}

async fn case_consumer_dead_letters_poison_at_once(stream: Arc<dyn EventStream>) {
    let id = stream.publish(STREAM, b"garbage").await.unwrap();
    let handler = Scripted::new(Script::Poison);
    let consumer = consumer(&stream, quick_options(), &handler);

    assert_eq!(consumer.poll_once().await.unwrap(), 1);
    assert_eq!(handler.seen().len(), 1);
    assert_eq!(stream.pending_count(STREAM, GROUP).await.unwrap(), 0);

    let dead = list_dead_letters(stream.as_ref(), STREAM, GROUP, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    let letter = &dead[0];
    assert_eq!(letter.stream, STREAM);
    assert_eq!(letter.group, GROUP);
    assert_eq!(letter.original_id, id);
    assert_eq!(letter.deliveries, 1);
    assert_eq!(letter.payload, b"garbage");
    assert!(letter.reason.contains("payload does not decode"), "{}", letter.reason);
    assert!(letter.dead_at_ms > 0);
    // The dead letter is an ordinary entry of the group's dead-letter stream.
    let raw = stream.range(&dead_letter_stream(STREAM, GROUP), None, 10).await.unwrap();
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].id, letter.id);
}

async fn case_consumer_dead_letters_after_max_deliveries_and_replays(stream: Arc<dyn EventStream>) {
    let options = ConsumerOptions { max_deliveries: 2, ..quick_options() };
    stream.publish(STREAM, b"stubborn").await.unwrap();
    let handler = Scripted::new(Script::AlwaysRetry);
    let consumer = consumer(&stream, options, &handler);

    eventually("the failing entry to be dead-lettered", || async {
        consumer.poll_once().await.unwrap();
        !list_dead_letters(stream.as_ref(), STREAM, GROUP, 10).await.unwrap().is_empty()
    })
    .await;
    assert_eq!(
        handler.seen(),
        [("stubborn".to_owned(), 1), ("stubborn".to_owned(), 2)],
        "handled exactly max_deliveries times"
    );
    assert_eq!(stream.pending_count(STREAM, GROUP).await.unwrap(), 0);
    let dead = list_dead_letters(stream.as_ref(), STREAM, GROUP, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].deliveries, 2);
    assert!(dead[0].reason.starts_with("delivered 2 times"), "{}", dead[0].reason);
    assert!(dead[0].reason.contains("downstream unavailable"), "{}", dead[0].reason);

    // The cause is fixed: replay, and the entry goes through.
    handler.set(Script::Accept);
    let replayed = replay_dead_letters(stream.as_ref(), STREAM, GROUP, 10).await.unwrap();
    assert_eq!(replayed, 1);
    assert!(list_dead_letters(stream.as_ref(), STREAM, GROUP, 10).await.unwrap().is_empty());
    eventually("the replayed entry to be handled", || async {
        consumer.poll_once().await.unwrap();
        handler.accepted() == 1
    })
    .await;
    assert_eq!(handler.seen().last().unwrap(), &("stubborn".to_owned(), 1));
    assert_eq!(stream.pending_count(STREAM, GROUP).await.unwrap(), 0);
    assert_eq!(replay_dead_letters(stream.as_ref(), STREAM, GROUP, 10).await.unwrap(), 0);
}

async fn case_consumer_dead_letters_entries_delivered_too_often(stream: Arc<dyn EventStream>) {
    // A handler that crashes the process never says "retry": the entry just comes back. Here
    // a first delivery is left unacknowledged, as a crashed consumer would leave it.
    stream.ensure_group(STREAM, GROUP).await.unwrap();
    stream.publish(STREAM, b"crasher").await.unwrap();
    let crashed = read_all(stream.as_ref(), GROUP, "crashed-worker").await;
    assert_eq!(crashed.len(), 1);

    let options = ConsumerOptions { max_deliveries: 1, ..quick_options() };
    let handler = Scripted::new(Script::Accept);
    let consumer = consumer(&stream, options, &handler);
    eventually("the entry to be dead-lettered", || async {
        consumer.poll_once().await.unwrap();
        stream.pending_count(STREAM, GROUP).await.unwrap() == 0
    })
    .await;
    assert!(handler.seen().is_empty(), "handler called past max_deliveries");
    let dead = list_dead_letters(stream.as_ref(), STREAM, GROUP, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason, "delivered 2 times");
    assert_eq!(dead[0].original_id, crashed[0].id);
}

async fn case_consumer_run_stops_promptly_on_cancel(stream: Arc<dyn EventStream>) {
    let options = ConsumerOptions {
        // Long block and reclaim period: cancellation must cut the wait short.
        block: Duration::from_secs(30),
        reclaim_every: Duration::from_secs(60),
        ..quick_options()
    };
    let handler = Scripted::new(Script::Accept);
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(consumer(&stream, options, &handler).run(shutdown.clone()));

    stream.publish(STREAM, b"live").await.unwrap();
    eventually("the running consumer to handle the entry", || async { handler.accepted() == 1 }).await;
    // Let the loop go back to its blocking read before cancelling.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let cancelled_at = Instant::now();
    shutdown.cancel();
    let result = tokio::time::timeout(Duration::from_secs(2), running)
        .await
        .expect("run did not stop within 2 s of cancellation")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
    assert!(cancelled_at.elapsed() < Duration::from_secs(1));
    assert_eq!(stream.pending_count(STREAM, GROUP).await.unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// Local backend only

/// How often `needle` occurs in the bytes of every file of `dir` (the database, its `-wal` and
/// `-shm`).
fn occurrences_on_disk(dir: &std::path::Path, needle: &[u8]) -> usize {
    let mut found = 0;
    for file in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        found += bytes.windows(needle.len()).filter(|window| *window == needle).count();
    }
    found
}

/// A deleted entry leaves no bytes in the database file, its free pages or its write-ahead log
/// once `purge_deleted` has run (secure_delete zeroes the pages; the checkpoint truncates the
/// log that held the page images from before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_deleted_entries_leave_no_bytes_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let stream = LocalStream::open(&dir.path().join("streams.db")).await.unwrap();
    let secret = format!("secret-{}", uuid::Uuid::new_v4());
    // Large entries spill to overflow pages, which are freed whole.
    let big = format!("{secret}{}", "x".repeat(20_000));
    stream.ensure_group(STREAM, GROUP).await.unwrap();
    let ids = publish_all(&stream, STREAM, &[&secret, "other", &big]).await;
    let read = read_all(&stream, GROUP, "c1").await;
    stream.ack(STREAM, GROUP, &read.iter().map(|d| d.id.clone()).collect::<Vec<_>>()).await.unwrap();
    assert!(occurrences_on_disk(dir.path(), secret.as_bytes()) > 0);

    let waiting = stream.delete_settled(STREAM, &[ids[0].clone(), ids[2].clone()]).await.unwrap();
    assert!(waiting.is_empty());
    stream.purge_deleted().await.unwrap();
    assert_eq!(occurrences_on_disk(dir.path(), secret.as_bytes()), 0);
    let left = stream.range(STREAM, None, 10).await.unwrap();
    assert_eq!(payloads(left.into_iter().map(|e| e.payload)), ["other"]);
    stream.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_state_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("queue.sqlite");

    let first = LocalStream::open(&path).await.unwrap();
    first.ensure_group(STREAM, GROUP).await.unwrap();
    let ids = publish_all(&first, STREAM, &["a", "b", "c"]).await;
    let got = first.read_new(STREAM, GROUP, "c1", 2, Duration::ZERO).await.unwrap();
    assert_eq!(got.len(), 2);
    first.ack(STREAM, GROUP, &[got[0].id.clone()]).await.unwrap();
    first.close().await.unwrap();
    drop(first);

    let reopened = LocalStream::open(&path).await.unwrap();
    let entries = reopened.range(STREAM, None, 10).await.unwrap();
    assert_eq!(entries.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), ids);
    // "b" is still pending, with its delivery count.
    assert_eq!(reopened.pending_count(STREAM, GROUP).await.unwrap(), 1);
    let reclaimed = reopened.reclaim(STREAM, GROUP, "c2", Duration::ZERO, 10).await.unwrap();
    assert_eq!(reclaimed.len(), 1);
    assert_eq!(reclaimed[0].id, ids[1]);
    assert_eq!(reclaimed[0].deliveries, 2);
    // The group's position survived: only "c" is new.
    let new = reopened.read_new(STREAM, GROUP, "c1", 10, Duration::ZERO).await.unwrap();
    assert_eq!(payloads(new.into_iter().map(|d| d.payload)), ["c"]);
    // Sequences continue after the reopen.
    let d = reopened.publish(STREAM, b"d").await.unwrap();
    assert!(!ids.contains(&d));
}

#[tokio::test]
async fn redis_unreachable_is_a_clear_error() {
    let options = RedisStreamOptions {
        response_timeout: Duration::from_millis(200),
        // Port 1 on localhost: nothing listens there.
        ..RedisStreamOptions::new("redis://:hunter2@127.0.0.1:1")
    };
    let error = RedisStream::connect(options).await.unwrap_err();
    let message = error.to_string();
    assert!(message.starts_with("redis: connect to redis://***@127.0.0.1:1"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_blocking_reads_outlast_the_response_timeout_without_holding_up_others() {
    // The shared connection gives up on a reply after 200 ms; a 700 ms block must still work.
    run_on_redis_with(Duration::from_millis(200), |stream| async move {
        stream.ensure_group(STREAM, GROUP).await.unwrap();
        let block = Duration::from_millis(700);
        let spawned_at = Instant::now();
        let reader = {
            let stream = Arc::clone(&stream);
            tokio::spawn(async move { stream.read_new(STREAM, GROUP, "c1", 10, block).await })
        };
        // While the reader is blocked, ordinary commands still answer (on the shared
        // connection they would wait behind the blocked read, or time out).
        tokio::time::sleep(Duration::from_millis(100)).await;
        let start = Instant::now();
        stream.publish("elsewhere", b"x").await.unwrap();
        stream.range("elsewhere", None, 10).await.unwrap();
        let took = start.elapsed();
        assert!(took < Duration::from_millis(400), "took {took:?}");

        let got = reader.await.unwrap().expect("a block longer than the response timeout failed");
        assert!(got.is_empty());
        assert!(spawned_at.elapsed() >= block - Duration::from_millis(20));
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Batches

async fn case_publish_many_appends_in_order_across_streams(stream: Arc<dyn EventStream>) {
    stream.ensure_group("other", GROUP).await.unwrap();
    let entries: [(&str, &[u8]); 4] = [(STREAM, b"a"), ("other", b"x"), (STREAM, b"b"), (STREAM, b"c")];
    let ids = stream.publish_many(&entries).await.unwrap();
    assert_eq!(ids.len(), 4);
    let all = stream.range(STREAM, None, 100).await.unwrap();
    assert_eq!(all.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), [ids[0].clone(), ids[2].clone(), ids[3].clone()]);
    assert_eq!(payloads(all.into_iter().map(|e| e.payload)), ["a", "b", "c"]);
    let other = stream.range("other", None, 100).await.unwrap();
    assert_eq!(payloads(other.into_iter().map(|e| e.payload)), ["x"]);
    assert!(stream.publish_many(&[]).await.unwrap().is_empty());
    assert!(matches!(stream.publish_many(&[("", b"z")]).await, Err(Error::InvalidInput(_))));
}

/// A batch handler that accepts every payload except `poison` (poison) and `flaky` (retry on
/// its first delivery), recording the batches it was given.
#[derive(Default)]
struct Batches {
    seen: Mutex<Vec<Vec<String>>>,
}

#[async_trait]
impl BatchHandler for Batches {
    async fn handle_batch(&self, deliveries: &[Delivery]) -> Vec<Result<(), HandlerError>> {
        let payloads: Vec<String> =
            deliveries.iter().map(|d| String::from_utf8_lossy(&d.payload).into_owned()).collect();
        self.seen.lock().unwrap().push(payloads.clone());
        deliveries
            .iter()
            .zip(payloads)
            .map(|(delivery, payload)| match payload.as_str() {
                "poison" => Err(HandlerError::poison("bad")),
                "flaky" if delivery.deliveries == 1 => Err(HandlerError::retry("later")),
                _ => Ok(()),
            })
            .collect()
    }
}

async fn case_batched_consumer_settles_each_delivery_by_its_result(stream: Arc<dyn EventStream>) {
    publish_all(stream.as_ref(), STREAM, &["a", "poison", "flaky", "b"]).await;
    let handler = Arc::new(Batches::default());
    let consumer = Consumer::batched(Arc::clone(&stream), quick_options(), handler.clone());
    assert_eq!(consumer.poll_once().await.unwrap(), 4);
    assert_eq!(handler.seen.lock().unwrap().clone(), [vec!["a", "poison", "flaky", "b"]]);
    // The good ones are acknowledged, the poison one dead-lettered, the flaky one pending.
    assert_eq!(stream.pending_count(STREAM, GROUP).await.unwrap(), 1);
    let dead = list_dead_letters(stream.as_ref(), STREAM, GROUP, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload, b"poison");
    eventually("the flaky entry is retried and acknowledged", || async {
        consumer.poll_once().await.unwrap();
        stream.pending_count(STREAM, GROUP).await.unwrap() == 0
    })
    .await;
    let seen = handler.seen.lock().unwrap().clone();
    assert!(seen.iter().skip(1).any(|batch| batch == &["flaky"]), "{seen:?}");
}

async fn case_batched_consumer_lingers_for_a_fuller_batch(stream: Arc<dyn EventStream>) {
    let handler = Arc::new(Batches::default());
    let options = ConsumerOptions { batch_linger: Duration::from_millis(500), ..quick_options() };
    let consumer = Arc::new(Consumer::batched(Arc::clone(&stream), options, handler.clone()));
    consumer.poll_once().await.unwrap();
    stream.publish(STREAM, b"first").await.unwrap();
    let polling = tokio::spawn({
        let consumer = Arc::clone(&consumer);
        async move { consumer.poll_once().await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.publish(STREAM, b"second").await.unwrap();
    assert_eq!(polling.await.unwrap(), 2);
    assert_eq!(handler.seen.lock().unwrap().clone(), [vec!["first", "second"]]);
}

/// Retention: `trim` deletes entries published before the cutoff once every group has read and
/// acknowledged them; an entry one group left pending, or never read, stays however old.
async fn case_trim_removes_only_old_settled_entries(stream: Arc<dyn EventStream>) {
    stream.ensure_group(STREAM, "fast").await.unwrap();
    stream.ensure_group(STREAM, "slow").await.unwrap();
    let ids = publish_all(stream.as_ref(), STREAM, &["a", "b", "c", "d"]).await;
    // Nothing is settled yet: no group has read anything.
    let later = std::time::SystemTime::now() + Duration::from_secs(60);
    assert_eq!(stream.trim(STREAM, later).await.unwrap(), 0);

    let fast = read_all(stream.as_ref(), "fast", "f").await;
    stream.ack(STREAM, "fast", &fast.iter().map(|d| d.id.clone()).collect::<Vec<_>>()).await.unwrap();
    // "slow" has read a, b and c, acknowledged a and c: only a is settled for both groups.
    let slow = stream.read_new(STREAM, "slow", "s", 3, Duration::ZERO).await.unwrap();
    assert_eq!(slow.len(), 3);
    stream.ack(STREAM, "slow", &[ids[0].clone(), ids[2].clone()]).await.unwrap();

    // A cutoff before the entries were published trims nothing.
    let earlier = std::time::SystemTime::now() - Duration::from_secs(60);
    assert_eq!(stream.trim(STREAM, earlier).await.unwrap(), 0);
    assert_eq!(stream.trim(STREAM, later).await.unwrap(), 1);
    let left = stream.range(STREAM, None, 10).await.unwrap();
    assert_eq!(payloads(left.into_iter().map(|e| e.payload)), ["b", "c", "d"]);

    stream.ack(STREAM, "slow", &[ids[1].clone()]).await.unwrap();
    assert_eq!(stream.trim(STREAM, later).await.unwrap(), 2, "b and c are settled now, d is unread");
    let rest = stream.read_new(STREAM, "slow", "s", 10, Duration::ZERO).await.unwrap();
    assert_eq!(payloads(rest.into_iter().map(|d| d.payload)), ["d"], "the slow group still gets d");

    // A stream without groups (a dead-letter stream) is trimmed by age alone.
    publish_all(stream.as_ref(), "orders.dead.x", &["x", "y"]).await;
    assert_eq!(stream.trim("orders.dead.x", later).await.unwrap(), 2);
    assert!(stream.range("orders.dead.x", None, 10).await.unwrap().is_empty());
}

/// Erasure: `delete_settled` removes the given entries that every group is done with and hands
/// back the others, to try again later.
async fn case_delete_settled_keeps_what_a_group_still_needs(stream: Arc<dyn EventStream>) {
    stream.ensure_group(STREAM, GROUP).await.unwrap();
    let ids = publish_all(stream.as_ref(), STREAM, &["a", "b", "c"]).await;
    let read = stream.read_new(STREAM, GROUP, "c1", 2, Duration::ZERO).await.unwrap();
    stream.ack(STREAM, GROUP, &[read[0].id.clone()]).await.unwrap();

    // a is settled; b is pending; c is unread.
    let waiting = stream.delete_settled(STREAM, &[ids[2].clone(), ids[0].clone(), ids[1].clone()]).await.unwrap();
    assert_eq!(waiting, [ids[2].clone(), ids[1].clone()]);
    let left = stream.range(STREAM, None, 10).await.unwrap();
    assert_eq!(payloads(left.into_iter().map(|e| e.payload)), ["b", "c"]);

    stream.ack(STREAM, GROUP, &[ids[1].clone()]).await.unwrap();
    let c = stream.read_new(STREAM, GROUP, "c1", 10, Duration::ZERO).await.unwrap();
    stream.ack(STREAM, GROUP, &[c[0].id.clone()]).await.unwrap();
    let waiting = stream.delete_settled(STREAM, &[ids[1].clone(), ids[2].clone(), ids[0].clone()]).await.unwrap();
    assert!(waiting.is_empty(), "{waiting:?}");
    assert!(stream.range(STREAM, None, 10).await.unwrap().is_empty());
    stream.purge_deleted().await.unwrap();

    // Without groups, everything is settled.
    let lone = publish_all(stream.as_ref(), "lonely", &["z"]).await;
    assert!(stream.delete_settled("lonely", &lone).await.unwrap().is_empty());
    assert!(stream.range("lonely", None, 10).await.unwrap().is_empty());
}

async fn case_streams_lists_every_stream_with_entries(stream: Arc<dyn EventStream>) {
    assert!(stream.streams().await.unwrap().is_empty());
    publish_all(stream.as_ref(), "b.stream", &["1"]).await;
    publish_all(stream.as_ref(), "a.stream", &["1", "2"]).await;
    publish_all(stream.as_ref(), "a.stream.dead.g", &["1"]).await;
    assert_eq!(stream.streams().await.unwrap(), ["a.stream", "a.stream.dead.g", "b.stream"]);
}
