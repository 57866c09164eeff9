//! What an erasure (the right to be forgotten) needs beyond a service's own rows: that the
//! database lets go of the deleted bytes, and that the event streams forget the erased people
//! too.
//!
//! **On disk.** Every SQLite connection Tend opens has `secure_delete` on, so a deleted or
//! overwritten row's bytes are zeroed in its page and in the free list. The write-ahead log
//! still holds images of the pages from before the change until it is checkpointed and cut:
//! [`after_erasure`] does that (`wal_checkpoint(TRUNCATE)`) once an erasure has committed. On
//! PostgreSQL it runs `VACUUM` on the service's tables instead, in the background, so the
//! erased rows' old versions are removed from every table and index without waiting for
//! autovacuum (which some installations turn off). See docs/OPERATIONS.md for what PostgreSQL
//! still keeps after that.
//!
//! **In the streams.** An event about a person carries an id of theirs: the customer, a profile,
//! an interaction or a case. A service that erases records the ids it erased as an
//! [`ErasedSubjects`] event on the `erasures` stream, through its outbox, in the erasure's own
//! transaction (so it cannot be lost: consumers do it with [`crate::Effects::erased`]). The
//! [`StreamJanitor`] reads those records, scans every stream (dead letters included) for
//! entries that carry one of the ids, and deletes them once every consumer group has handled
//! them; a record is retired when none is left to wait for. The same janitor applies the
//! streams' retention: entries older than `stream.retention` that every group has
//! acknowledged are trimmed.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use prost::Message as _;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use tend_kernel::component::{BackgroundTask, Component};
use tend_kernel::server::GrpcServer;
use tend_proto::v1::EventEnvelope;
use tend_queue::{DeadLetter, EventStream};
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::error::DbContext as _;
use crate::events::streams;

/// The ids a service erased, as recorded on the `erasures` stream for the [`StreamJanitor`]:
/// every stream entry that carries one of them goes. Written and read by this crate only (it
/// is not a contract between services), hence a message declared here rather than in
/// `proto/`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ErasedSubjects {
    /// Customer, profile, interaction and case ids: opaque, unique strings.
    #[prost(string, repeated, tag = "1")]
    pub ids: Vec<String>,
}

impl prost::Name for ErasedSubjects {
    const NAME: &'static str = "ErasedSubjects";
    const PACKAGE: &'static str = "tend.store";
}

/// Ids shorter than this are not searched for: they could match by chance. Tend's ids are
/// UUIDs (36 characters).
const MIN_ID_LEN: usize = 8;

/// A record is kept at least this long, so that events about the erased ids still in an outbox
/// when it was written (published a moment later) are found by a later pass.
const RECORD_GRACE: Duration = Duration::from_secs(60);

/// How many entries one read of a stream returns while scanning.
const SCAN_PAGE: usize = 500;

/// Lets the database go of what an erasure deleted, once it has committed: on SQLite,
/// checkpoints the write-ahead log and truncates it (page images from before the erasure are in
/// it); on PostgreSQL, `VACUUM`s every table of the service's schema (it cannot run in a
/// transaction).
///
/// The erasure's own events (`customers.erased`, the janitor's record) wait in the outbox until
/// the relay has published and deleted them, and they name the erased profiles; so, in the
/// background, once the outbox has drained (or after [`OUTBOX_DRAIN_LIMIT`]), SQLite is
/// checkpointed again, and PostgreSQL vacuumed then, which also spares the caller a vacuum's
/// wait on a large table.
pub async fn after_erasure(db: &DatabaseConnection) -> Result<(), Error> {
    let backend = db.get_database_backend();
    if backend == DbBackend::Sqlite {
        checkpoint(db).await?;
    }
    if !matches!(backend, DbBackend::Sqlite | DbBackend::Postgres) {
        return Ok(());
    }
    let db = db.clone();
    tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        while started.elapsed() < OUTBOX_DRAIN_LIMIT {
            match crate::outbox::pending(&db).await {
                Ok(0) => break,
                Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(error) => {
                    tracing::warn!(%error, "cannot tell whether the outbox has drained after an erasure");
                    break;
                }
            }
        }
        let outcome = match backend {
            DbBackend::Sqlite => checkpoint(&db).await,
            _ => vacuum(&db).await.map(|tables| tracing::info!(tables, "vacuumed after an erasure")),
        };
        if let Err(error) = outcome {
            tracing::warn!(%error, "letting go of erased data failed; the next checkpoint or autovacuum will");
        }
    });
    Ok(())
}

/// How long [`after_erasure`] waits for the outbox to drain before it goes ahead anyway.
pub const OUTBOX_DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// `PRAGMA wal_checkpoint(TRUNCATE)`; a checkpoint another connection kept from finishing is
/// logged, not an error (the next one finishes it).
async fn checkpoint(db: &DatabaseConnection) -> Result<(), Error> {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA wal_checkpoint(TRUNCATE)"))
        .await
        .context("checkpointing the write-ahead log after an erasure")?;
    let busy: i64 = match row {
        Some(row) => row.try_get_by_index(0).context("reading the checkpoint's outcome")?,
        None => 0,
    };
    if busy != 0 {
        tracing::warn!("write-ahead log not truncated after an erasure: another connection was reading");
    }
    Ok(())
}

/// `VACUUM` of every table in the connection's schema; returns how many tables.
async fn vacuum(db: &DatabaseConnection) -> Result<usize, Error> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = current_schema()",
        ))
        .await
        .context("listing the tables to vacuum")?;
    let tables: Vec<String> =
        rows.iter().map(|row| row.try_get_by_index(0)).collect::<Result<_, _>>().context("reading table names")?;
    if tables.is_empty() {
        return Ok(0);
    }
    db.execute_unprepared(&format!("VACUUM {}", tables.join(", "))).await.context("vacuuming after an erasure")?;
    Ok(tables.len())
}

/// `[stream]` settings of the janitor.
#[derive(Debug, Clone, Copy)]
pub struct JanitorOptions {
    /// Entries older than this, once every group has acknowledged them, are trimmed.
    pub retention: Duration,
    /// How often a pass runs.
    pub every: Duration,
}

/// What one pass of the janitor did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Entries trimmed for being older than the retention.
    pub trimmed: u64,
    /// Entries deleted for carrying an erased id.
    pub erased: u64,
    /// Entries carrying an erased id that a consumer group has still to handle (deleted by a
    /// later pass).
    pub waiting: u64,
    /// Erasure records retired.
    pub retired: u64,
}

/// Trims the event streams to their retention and deletes the entries of erased people; see
/// the module docs. Every process runs one: the work is idempotent, so replicas doing it at
/// the same time only repeat each other.
pub struct StreamJanitor {
    stream: Arc<dyn EventStream>,
    options: JanitorOptions,
}

/// An erasure record read off the `erasures` stream.
struct Record {
    entry_id: String,
    ids: Vec<String>,
    written: SystemTime,
}

impl StreamJanitor {
    /// A janitor of `stream`.
    pub fn new(stream: Arc<dyn EventStream>, options: JanitorOptions) -> Self {
        Self { stream, options }
    }

    /// Runs a pass every `every` until `shutdown`; a failed pass is logged and tried again at
    /// the next.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.options.every) => {}
            }
            match self.pass(SystemTime::now()).await {
                Ok(report) if report != PassReport::default() => tracing::info!(?report, "stream janitor pass"),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "stream janitor pass failed; retrying at the next"),
            }
        }
    }

    /// One pass at time `now`: trims every stream to the retention, then deletes the entries
    /// that carry an erased id and every group has handled.
    pub async fn pass(&self, now: SystemTime) -> Result<PassReport, tend_queue::Error> {
        let mut report = PassReport::default();
        let names: Vec<String> =
            self.stream.streams().await?.into_iter().filter(|name| name != streams::ERASURES).collect();
        let cutoff = now.checked_sub(self.options.retention).unwrap_or(SystemTime::UNIX_EPOCH);
        for name in &names {
            report.trimmed += self.stream.trim(name, cutoff).await?;
        }
        let records = self.records().await?;
        if !records.is_empty() {
            self.erase(&names, &records, now, &mut report).await?;
        }
        if report.erased > 0 || report.retired > 0 {
            self.stream.purge_deleted().await?;
        }
        Ok(report)
    }

    /// Every erasure record, oldest first; entries that are not one are dropped.
    async fn records(&self) -> Result<Vec<Record>, tend_queue::Error> {
        let mut records = Vec::new();
        let mut junk = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let entries = self.stream.range(streams::ERASURES, after.as_deref(), SCAN_PAGE).await?;
            let Some(last) = entries.last() else { break };
            after = Some(last.id.clone());
            for entry in entries {
                match decode_record(&entry.payload) {
                    Some((ids, written)) => records.push(Record { entry_id: entry.id, ids, written }),
                    None => junk.push(entry.id),
                }
            }
        }
        if !junk.is_empty() {
            tracing::warn!(count = junk.len(), "dropping entries of the erasures stream that are no erasure record");
            self.stream.delete(streams::ERASURES, &junk).await?;
        }
        Ok(records)
    }

    /// Deletes the settled entries of `names` that carry an id of `records`, and retires the
    /// records with nothing left to wait for.
    async fn erase(
        &self,
        names: &[String],
        records: &[Record],
        now: SystemTime,
        report: &mut PassReport,
    ) -> Result<(), tend_queue::Error> {
        // Which records still have an entry a group has to handle.
        let mut blocked = vec![false; records.len()];
        for name in names {
            let mut matched: Vec<(String, Vec<usize>)> = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let entries = self.stream.range(name, after.as_deref(), SCAN_PAGE).await?;
                let Some(last) = entries.last() else { break };
                after = Some(last.id.clone());
                for entry in entries {
                    let hits = matching_records(name, &entry.payload, records);
                    if !hits.is_empty() {
                        matched.push((entry.id, hits));
                    }
                }
            }
            if matched.is_empty() {
                continue;
            }
            let ids: Vec<String> = matched.iter().map(|(id, _)| id.clone()).collect();
            let waiting = self.stream.delete_settled(name, &ids).await?;
            report.erased += (ids.len() - waiting.len()) as u64;
            report.waiting += waiting.len() as u64;
            for (id, hits) in &matched {
                if waiting.contains(id) {
                    for &hit in hits {
                        blocked[hit] = true;
                    }
                }
            }
        }
        let mut retire = Vec::new();
        for (record, blocked) in records.iter().zip(blocked) {
            let age = now.duration_since(record.written).unwrap_or_default();
            if age >= self.options.retention {
                if blocked {
                    tracing::warn!(
                        record = %record.entry_id,
                        "erasure record retired after the stream retention with entries a consumer group never handled"
                    );
                }
                retire.push(record.entry_id.clone());
            } else if !blocked && age >= RECORD_GRACE {
                retire.push(record.entry_id.clone());
            }
        }
        if !retire.is_empty() {
            self.stream.delete(streams::ERASURES, &retire).await?;
            report.retired += retire.len() as u64;
        }
        Ok(())
    }
}

/// The ids and time of an erasure record; `None` when `payload` is not one.
fn decode_record(payload: &[u8]) -> Option<(Vec<String>, SystemTime)> {
    let envelope = EventEnvelope::decode(payload).ok()?;
    let subjects: ErasedSubjects = crate::events::payload(&envelope).ok()?;
    let written = envelope.occurred_at.and_then(|at| SystemTime::try_from(at).ok()).unwrap_or(SystemTime::UNIX_EPOCH);
    let ids = subjects.ids.into_iter().filter(|id| id.len() >= MIN_ID_LEN).collect();
    Some((ids, written))
}

/// The indexes of the records one of whose ids `payload` (an entry of stream `name`) carries.
/// A dead letter is searched in the payload it holds (its JSON spells bytes as numbers).
fn matching_records(name: &str, payload: &[u8], records: &[Record]) -> Vec<usize> {
    let letter = if name.contains(".dead.") { DeadLetter::decode(payload) } else { None };
    let haystack = letter.as_ref().map_or(payload, |letter| letter.payload.as_slice());
    records
        .iter()
        .enumerate()
        .filter(|(_, record)| record.ids.iter().any(|id| contains(haystack, id.as_bytes())))
        .map(|(index, _)| index)
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle)
}

impl Component for StreamJanitor {
    fn name(&self) -> &'static str {
        "stream-janitor"
    }

    fn mount(&self, _server: &mut GrpcServer) {}

    fn background(self: Box<Self>, shutdown: CancellationToken) -> Vec<BackgroundTask> {
        vec![Box::pin(self.run(shutdown))]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tend_kernel::TenantId;
    use tend_queue::LocalStream;

    use super::*;

    fn event(id: &str, text: &str) -> Vec<u8> {
        let message = ErasedSubjects { ids: vec![format!("{text} {id}")] };
        crate::events::envelope("test", &TenantId::parse("acme").unwrap(), &message).encode_to_vec()
    }

    fn record(ids: &[&str]) -> Vec<u8> {
        let message = ErasedSubjects { ids: ids.iter().map(|id| (*id).to_owned()).collect() };
        crate::events::envelope("test", &TenantId::parse("acme").unwrap(), &message).encode_to_vec()
    }

    async fn payloads(stream: &dyn EventStream, name: &str) -> Vec<Vec<u8>> {
        stream.range(name, None, 100).await.unwrap().into_iter().map(|entry| entry.payload).collect()
    }

    const ANN: &str = "0192f000-0000-7000-8000-00000000a001";
    const BOB: &str = "0192f000-0000-7000-8000-00000000b002";

    #[tokio::test]
    async fn the_janitor_deletes_erased_ids_entries_once_every_group_is_done() {
        let local = Arc::new(LocalStream::in_memory().await.unwrap());
        let stream: Arc<dyn EventStream> = local.clone();
        stream.ensure_group("posts", "reader").await.unwrap();
        let ann_1 = event(ANN, "ann's first post");
        let bob = event(BOB, "bob's post");
        let ann_2 = event(ANN, "ann's second post");
        for payload in [&ann_1, &bob, &ann_2] {
            stream.publish("posts", payload).await.unwrap();
        }
        // The group has handled the first two entries only.
        let read = stream.read_new("posts", "reader", "r", 2, Duration::ZERO).await.unwrap();
        stream.ack("posts", "reader", &read.iter().map(|d| d.id.clone()).collect::<Vec<_>>()).await.unwrap();
        // A dead letter that held one of Ann's events.
        let letter = DeadLetter {
            id: String::new(),
            stream: "posts".into(),
            group: "other".into(),
            original_id: "9".into(),
            deliveries: 5,
            reason: "delivered 5 times".into(),
            payload: ann_1.clone(),
            dead_at_ms: 0,
        };
        stream.publish("posts.dead.other", &serde_json_bytes(&letter)).await.unwrap();
        stream.publish(streams::ERASURES, &record(&[ANN, "short"])).await.unwrap();

        let janitor = StreamJanitor::new(
            stream.clone(),
            JanitorOptions { retention: Duration::from_secs(3600), every: Duration::from_secs(1) },
        );
        let now = SystemTime::now();
        let report = janitor.pass(now).await.unwrap();
        assert_eq!(report, PassReport { trimmed: 0, erased: 2, waiting: 1, retired: 0 });
        assert_eq!(payloads(stream.as_ref(), "posts").await, [bob.clone(), ann_2]);
        assert!(payloads(stream.as_ref(), "posts.dead.other").await.is_empty());

        // Once the group has handled Ann's second post, it goes too; the record is retired after
        // its grace time.
        let rest = stream.read_new("posts", "reader", "r", 10, Duration::ZERO).await.unwrap();
        stream.ack("posts", "reader", &[rest[0].id.clone()]).await.unwrap();
        let report = janitor.pass(now).await.unwrap();
        assert_eq!(report, PassReport { trimmed: 0, erased: 1, waiting: 0, retired: 0 });
        assert_eq!(payloads(stream.as_ref(), "posts").await, std::slice::from_ref(&bob));
        let report = janitor.pass(now + RECORD_GRACE).await.unwrap();
        assert_eq!(report.retired, 1);
        assert!(payloads(stream.as_ref(), streams::ERASURES).await.is_empty());

        // Retention trims what every group has handled, Bob's post included.
        let report = janitor.pass(now + Duration::from_secs(7200)).await.unwrap();
        assert_eq!(report.trimmed, 1);
        assert!(payloads(stream.as_ref(), "posts").await.is_empty());
    }

    fn serde_json_bytes(letter: &DeadLetter) -> Vec<u8> {
        // The dead letter's JSON as the queue writes it (bytes as a list of numbers).
        let payload: Vec<String> = letter.payload.iter().map(u8::to_string).collect();
        format!(
            r#"{{"stream":"{}","group":"{}","original_id":"{}","deliveries":{},"reason":"{}","payload":[{}],"dead_at_ms":{}}}"#,
            letter.stream,
            letter.group,
            letter.original_id,
            letter.deliveries,
            letter.reason,
            payload.join(","),
            letter.dead_at_ms
        )
        .into_bytes()
    }
}
