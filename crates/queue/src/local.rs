//! The embedded backend: streams persisted in SQLite, for `tend dev` and tests.
//!
//! Four tables (created if missing, all prefixed `queue_` so the file can be shared):
//! - `queue_streams`: the last sequence number handed out per stream. Kept apart from the
//!   entries so that a sequence is never reused after the newest entry is deleted (a group
//!   positioned past it would otherwise skip the new entry);
//! - `queue_entries`: the entries, keyed by stream and sequence;
//! - `queue_groups`: each group's position (the last sequence it delivered);
//! - `queue_pending`: delivered, unacknowledged entries with their consumer, the time of the
//!   last delivery and the delivery count.
//!
//! Entry ids are the decimal sequence number. Every operation that touches more than one row
//! runs in one `BEGIN IMMEDIATE` transaction, so a crash never leaves half an operation behind
//! and two processes sharing the file do not deadlock upgrading read locks.
//!
//! Blocking reads wait on a per-stream [`Notify`] poked by [`publish`](EventStream::publish).
//! Only publishes made through this process's handles wake a reader early; entries written by
//! another process are seen when the reader's `block` time runs out.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sea_orm::sqlx::ConnectOptions as _;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, QueryResult, RuntimeErr,
    SqliteTransactionMode, SqlxSqliteConnector, Statement, TransactionOptions, TransactionTrait, Value,
};
use tokio::sync::Notify;

use crate::error::require_name;
use crate::{Delivery, Entry, EntryId, Error, EventStream, epoch_ms, now_ms};

/// How long a statement waits for a lock held by another process before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

// `queue_entries` is a rowid table: its rows (an event envelope, 1 to 2 KB) are too large for a
// WITHOUT ROWID table, whose B-tree keeps whole rows in its pages (SQLite advises it for rows
// under a twentieth of a page); measured, that took 4.6 KB of file per 1.2 KB entry. The other
// tables' rows are small keys and stay WITHOUT ROWID. A database created before keeps its layout
// and works the same.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue_streams (
    stream TEXT NOT NULL PRIMARY KEY,
    last_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS queue_entries (
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    payload BLOB NOT NULL,
    published_at_ms INTEGER NOT NULL,
    PRIMARY KEY (stream, seq)
);
CREATE TABLE IF NOT EXISTS queue_groups (
    stream TEXT NOT NULL,
    grp TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    PRIMARY KEY (stream, grp)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queue_pending (
    stream TEXT NOT NULL,
    grp TEXT NOT NULL,
    seq INTEGER NOT NULL,
    consumer TEXT NOT NULL,
    delivered_at_ms INTEGER NOT NULL,
    deliveries INTEGER NOT NULL,
    PRIMARY KEY (stream, grp, seq)
) WITHOUT ROWID;
";

/// An [`EventStream`] kept in a SQLite database. Cheap to clone: clones share the database and
/// the wake-ups, and can be used from any number of tasks.
#[derive(Clone)]
pub struct LocalStream {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    /// Where the data lives, for error messages and `Debug`.
    location: String,
    /// One notifier per stream that someone is (or was) blocked reading.
    wakers: Mutex<HashMap<String, Arc<Notify>>>,
}

impl std::fmt::Debug for LocalStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStream").field("location", &self.inner.location).finish_non_exhaustive()
    }
}

impl LocalStream {
    /// Opens (creating it if missing) the database file at `path`, in WAL mode with a busy
    /// timeout, and creates the tables if needed. The parent directory must exist.
    ///
    /// `synchronous=NORMAL`: a committed entry survives the process dying; the last
    /// transactions may be lost if the machine loses power, which is acceptable for the
    /// embedded, single-machine backend.
    pub async fn open(path: &Path) -> Result<Self, Error> {
        let location = path.display().to_string();
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT);
        Self::connect(options, location).await
    }

    /// A private in-memory database, gone when the last clone is dropped. For tests.
    pub async fn in_memory() -> Result<Self, Error> {
        // sqlx gives every `sqlite::memory:` options value its own uniquely named database.
        let options: SqliteConnectOptions = "sqlite::memory:"
            .parse()
            .map_err(|e| Error::sqlite("open in-memory database", DbErr::Conn(sqlx_err(e))))?;
        Self::connect(options, ":memory:".to_owned()).await
    }

    async fn connect(options: SqliteConnectOptions, location: String) -> Result<Self, Error> {
        // secure_delete: a deleted entry's bytes are overwritten with zeros, in its page and in
        // the free list, so an erased or trimmed entry cannot be read back from the file.
        let options = options.pragma("secure_delete", "ON");
        // One connection: SQLite serialises writers anyway, and an in-memory database only
        // lives as long as a connection to it, so the pool must never close its connection
        // for being idle or old.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.disable_statement_logging())
            .await
            .map_err(|e| Error::sqlite(format!("open {location}"), DbErr::Conn(sqlx_err(e))))?;
        let db = SqlxSqliteConnector::from_sqlx_sqlite_pool(pool);
        db.execute_unprepared(SCHEMA).await.map_err(|e| Error::sqlite(format!("create tables in {location}"), e))?;
        Ok(Self { inner: Arc::new(Inner { db, location, wakers: Mutex::new(HashMap::new()) }) })
    }

    /// Closes the database. Other clones fail from then on. Dropping every clone also closes
    /// it; this waits for the close to finish (e.g. before reopening the file).
    pub async fn close(&self) -> Result<(), Error> {
        self.inner.db.close_by_ref().await.map_err(|e| Error::sqlite(format!("close {}", self.inner.location), e))
    }

    fn waker(&self, stream: &str) -> Arc<Notify> {
        let mut wakers = self.inner.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(wakers.entry(stream.to_owned()).or_default())
    }

    fn wake(&self, stream: &str) {
        let wakers = self.inner.wakers.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(waker) = wakers.get(stream) {
            waker.notify_waiters();
        }
    }

    async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.inner
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
    }

    async fn insert_entry(&self, stream: &str, payload: &[u8]) -> Result<i64, DbErr> {
        let txn = self.begin().await?;
        let seq = append(&txn, stream, payload).await?;
        txn.commit().await?;
        Ok(seq)
    }

    /// One non-blocking attempt of `read_new`.
    async fn try_read_new(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        count: usize,
    ) -> Result<Vec<Delivery>, Error> {
        let context = || format!("read_new stream={stream} group={group} in {}", self.location());
        let db_err = |e: DbErr| Error::sqlite(context(), e);
        let txn = self.begin().await.map_err(db_err)?;
        let position =
            group_position(&txn, stream, group).await.map_err(db_err)?.ok_or_else(|| no_group(stream, group))?;
        let rows = txn
            .query_all_raw(stmt(
                "SELECT seq, payload FROM queue_entries
                 WHERE stream = ? AND seq > ? ORDER BY seq LIMIT ?",
                [stream.into(), position.into(), sql_limit(count).into()],
            ))
            .await
            .map_err(db_err)?;
        let entries = rows.iter().map(entry_of_row).collect::<Result<Vec<_>, _>>().map_err(db_err)?;
        let Some(last) = entries.last().map(|(seq, _)| *seq) else {
            return Ok(Vec::new());
        };
        mark_delivered(&txn, stream, group, consumer, position, last).await.map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(entries.into_iter().map(|(seq, payload)| Delivery { id: seq.to_string(), payload, deliveries: 1 }).collect())
    }

    fn location(&self) -> &str {
        &self.inner.location
    }
}

/// The settled part of `stream`: every entry with a sequence number up to the returned one has
/// been delivered to every group (at or before the slowest group's position) and is pending
/// for none (before the oldest pending entry). `i64::MAX` when the stream has no groups.
async fn settled_through(db: &impl ConnectionTrait, stream: &str) -> Result<i64, DbErr> {
    let row = db
        .query_one_raw(stmt(
            "SELECT MIN(
                 COALESCE((SELECT MIN(last_seq) FROM queue_groups WHERE stream = ?1), 9223372036854775807),
                 COALESCE((SELECT MIN(seq) - 1 FROM queue_pending WHERE stream = ?1), 9223372036854775807))",
            [stream.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no settled position returned".to_owned()))?;
    row.try_get_by_index(0)
}

/// Appends one entry to `stream` inside `txn` and returns its sequence number.
async fn append(txn: &DatabaseTransaction, stream: &str, payload: &[u8]) -> Result<i64, DbErr> {
    let row = txn
        .query_one_raw(stmt(
            "INSERT INTO queue_streams (stream, last_seq) VALUES (?, 1)
             ON CONFLICT (stream) DO UPDATE SET last_seq = last_seq + 1
             RETURNING last_seq",
            [stream.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no sequence returned".to_owned()))?;
    let seq: i64 = row.try_get_by_index(0)?;
    txn.execute_raw(stmt(
        "INSERT INTO queue_entries (stream, seq, payload, published_at_ms)
         VALUES (?, ?, ?, ?)",
        [stream.into(), seq.into(), payload.to_vec().into(), now_ms().into()],
    ))
    .await?;
    Ok(seq)
}

#[async_trait]
impl EventStream for LocalStream {
    async fn publish(&self, stream: &str, payload: &[u8]) -> Result<EntryId, Error> {
        require_name("stream", stream)?;
        let seq = self
            .insert_entry(stream, payload)
            .await
            .map_err(|e| Error::sqlite(format!("publish stream={stream} in {}", self.location()), e))?;
        self.wake(stream);
        Ok(seq.to_string())
    }

    async fn publish_many(&self, entries: &[(&str, &[u8])]) -> Result<Vec<EntryId>, Error> {
        for (stream, _) in entries {
            require_name("stream", stream)?;
        }
        let context = || format!("publish {} entries in {}", entries.len(), self.location());
        let txn = self.begin().await.map_err(|e| Error::sqlite(context(), e))?;
        let mut ids = Vec::with_capacity(entries.len());
        for (stream, payload) in entries {
            ids.push(append(&txn, stream, payload).await.map_err(|e| Error::sqlite(context(), e))?.to_string());
        }
        txn.commit().await.map_err(|e| Error::sqlite(context(), e))?;
        let mut woken: Vec<&str> = entries.iter().map(|(stream, _)| *stream).collect();
        woken.sort_unstable();
        woken.dedup();
        for stream in woken {
            self.wake(stream);
        }
        Ok(ids)
    }

    async fn ensure_group(&self, stream: &str, group: &str) -> Result<(), Error> {
        require_name("stream", stream)?;
        require_name("group", group)?;
        // Position 0: the group starts before the first entry, so it sees everything.
        self.inner
            .db
            .execute_raw(stmt(
                "INSERT INTO queue_groups (stream, grp, last_seq) VALUES (?, ?, 0)
                 ON CONFLICT (stream, grp) DO NOTHING",
                [stream.into(), group.into()],
            ))
            .await
            .map_err(|e| {
                let location = self.location();
                Error::sqlite(format!("ensure_group stream={stream} group={group} in {location}"), e)
            })?;
        Ok(())
    }

    async fn read_new(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<Delivery>, Error> {
        require_name("stream", stream)?;
        require_name("group", group)?;
        require_name("consumer", consumer)?;
        if count == 0 {
            return Ok(Vec::new());
        }
        let deadline = tokio::time::Instant::now() + block;
        let waker = self.waker(stream);
        loop {
            // Register for a wake-up *before* looking, so that a publish landing between the
            // look and the wait is not missed.
            let notified = waker.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let deliveries = self.try_read_new(stream, group, consumer, count).await?;
            if !deliveries.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(deliveries);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                // Out of time: one last look, for entries another process may have written.
                return self.try_read_new(stream, group, consumer, count).await;
            }
        }
    }

    async fn reclaim(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Delivery>, Error> {
        require_name("stream", stream)?;
        require_name("group", group)?;
        require_name("consumer", consumer)?;
        if count == 0 {
            return Ok(Vec::new());
        }
        let context = || format!("reclaim stream={stream} group={group} in {}", self.location());
        let db_err = |e: DbErr| Error::sqlite(context(), e);
        let txn = self.begin().await.map_err(db_err)?;
        group_position(&txn, stream, group).await.map_err(db_err)?.ok_or_else(|| no_group(stream, group))?;
        let now = now_ms();
        let idle_ms = i64::try_from(min_idle.as_millis()).unwrap_or(i64::MAX);
        let candidates = idle_pending(&txn, stream, group, now.saturating_sub(idle_ms), count).await.map_err(db_err)?;
        let mut deliveries = Vec::with_capacity(candidates.len());
        for candidate in candidates {
            let claimed = claim(&txn, stream, group, consumer, now, candidate).await.map_err(db_err)?;
            deliveries.extend(claimed);
        }
        txn.commit().await.map_err(db_err)?;
        Ok(deliveries)
    }

    async fn ack(&self, stream: &str, group: &str, ids: &[EntryId]) -> Result<(), Error> {
        require_name("stream", stream)?;
        require_name("group", group)?;
        let seqs = parse_ids(ids)?;
        if seqs.is_empty() {
            return Ok(());
        }
        let sql =
            format!("DELETE FROM queue_pending WHERE stream = ? AND grp = ? AND seq IN ({})", placeholders(seqs.len()));
        let values = [stream.into(), group.into()].into_iter().chain(seqs.into_iter().map(Value::from));
        self.inner.db.execute_raw(stmt(&sql, values)).await.map_err(|e| {
            let location = self.location();
            Error::sqlite(format!("ack stream={stream} group={group} in {location}"), e)
        })?;
        Ok(())
    }

    async fn pending_count(&self, stream: &str, group: &str) -> Result<u64, Error> {
        require_name("stream", stream)?;
        require_name("group", group)?;
        let context = || format!("pending_count stream={stream} group={group} in {}", self.location());
        let db_err = |e: DbErr| Error::sqlite(context(), e);
        let db = &self.inner.db;
        group_position(db, stream, group).await.map_err(db_err)?.ok_or_else(|| no_group(stream, group))?;
        let row = db
            .query_one_raw(stmt(
                "SELECT COUNT(*) FROM queue_pending WHERE stream = ? AND grp = ?",
                [stream.into(), group.into()],
            ))
            .await
            .and_then(|row| row.ok_or_else(|| DbErr::Custom("COUNT returned no row".to_owned())))
            .map_err(db_err)?;
        let count: i64 = row.try_get_by_index(0).map_err(db_err)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn range(&self, stream: &str, after: Option<&str>, count: usize) -> Result<Vec<Entry>, Error> {
        require_name("stream", stream)?;
        let after = after.map(parse_id).transpose()?.unwrap_or(0);
        if count == 0 {
            return Ok(Vec::new());
        }
        let context = || format!("range stream={stream} in {}", self.location());
        let db_err = |e: DbErr| Error::sqlite(context(), e);
        let rows = self
            .inner
            .db
            .query_all_raw(stmt(
                "SELECT seq, payload FROM queue_entries
                 WHERE stream = ? AND seq > ? ORDER BY seq LIMIT ?",
                [stream.into(), after.into(), sql_limit(count).into()],
            ))
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|row| entry_of_row(row).map(|(seq, payload)| Entry { id: seq.to_string(), payload }))
            .collect::<Result<_, _>>()
            .map_err(db_err)
    }

    async fn last_id(&self, stream: &str) -> Result<Option<EntryId>, Error> {
        require_name("stream", stream)?;
        let context = || format!("last id of stream={stream} in {}", self.location());
        let row = self
            .inner
            .db
            .query_one_raw(stmt("SELECT max(seq) FROM queue_entries WHERE stream = ?", [stream.into()]))
            .await
            .map_err(|e| Error::sqlite(context(), e))?;
        let last: Option<i64> = match row {
            Some(row) => row.try_get_by_index(0).map_err(|e| Error::sqlite(context(), e))?,
            None => None,
        };
        Ok(last.map(|seq| seq.to_string()))
    }

    async fn streams(&self) -> Result<Vec<String>, Error> {
        let context = || format!("list streams in {}", self.location());
        let rows = self
            .inner
            .db
            .query_all_raw(stmt(
                "SELECT s.stream FROM queue_streams s
                 WHERE EXISTS (SELECT 1 FROM queue_entries e WHERE e.stream = s.stream)
                 ORDER BY s.stream",
                [],
            ))
            .await
            .map_err(|e| Error::sqlite(context(), e))?;
        rows.iter()
            .map(|row| row.try_get_by_index(0))
            .collect::<Result<_, _>>()
            .map_err(|e| Error::sqlite(context(), e))
    }

    async fn trim(&self, stream: &str, before: SystemTime) -> Result<u64, Error> {
        require_name("stream", stream)?;
        let context = || format!("trim stream={stream} in {}", self.location());
        let db_err = |e: DbErr| Error::sqlite(context(), e);
        let txn = self.begin().await.map_err(db_err)?;
        let settled = settled_through(&txn, stream).await.map_err(db_err)?;
        let deleted = txn
            .execute_raw(stmt(
                "DELETE FROM queue_entries WHERE stream = ? AND seq <= ? AND published_at_ms < ?",
                [stream.into(), settled.into(), epoch_ms(before).into()],
            ))
            .await
            .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        Ok(deleted.rows_affected())
    }

    async fn delete_settled(&self, stream: &str, ids: &[EntryId]) -> Result<Vec<EntryId>, Error> {
        require_name("stream", stream)?;
        let seqs = parse_ids(ids)?;
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let context = || format!("delete settled entries of stream={stream} in {}", self.location());
        let db_err = |e: DbErr| Error::sqlite(context(), e);
        let txn = self.begin().await.map_err(db_err)?;
        let settled = settled_through(&txn, stream).await.map_err(db_err)?;
        let (done, waiting): (Vec<(i64, &EntryId)>, Vec<(i64, &EntryId)>) =
            seqs.into_iter().zip(ids).partition(|(seq, _)| *seq <= settled);
        if !done.is_empty() {
            let sql = format!("DELETE FROM queue_entries WHERE stream = ? AND seq IN ({})", placeholders(done.len()));
            let values = std::iter::once(stream.into()).chain(done.iter().map(|(seq, _)| Value::from(*seq)));
            txn.execute_raw(stmt(&sql, values)).await.map_err(db_err)?;
        }
        txn.commit().await.map_err(db_err)?;
        Ok(waiting.into_iter().map(|(_, id)| id.clone()).collect())
    }

    async fn purge_deleted(&self) -> Result<(), Error> {
        // TRUNCATE: copy the log into the database file and cut the log to nothing, so that the
        // page images it held from before the delete are gone too.
        let context = || format!("checkpoint {}", self.location());
        let row = self
            .inner
            .db
            .query_one_raw(stmt("PRAGMA wal_checkpoint(TRUNCATE)", []))
            .await
            .map_err(|e| Error::sqlite(context(), e))?;
        let busy: i64 = match row {
            Some(row) => row.try_get_by_index(0).map_err(|e| Error::sqlite(context(), e))?,
            None => 0,
        };
        if busy != 0 {
            // Another process (a CLI command) was reading: the log is cut at the next checkpoint.
            tracing::warn!(location = self.location(), "write-ahead log not truncated: another reader held it");
        }
        Ok(())
    }

    async fn delete(&self, stream: &str, ids: &[EntryId]) -> Result<(), Error> {
        require_name("stream", stream)?;
        let seqs = parse_ids(ids)?;
        if seqs.is_empty() {
            return Ok(());
        }
        // Pending rows of deleted entries stay, as in Redis: they still count as pending and
        // are dropped by the next reclaim that reaches them.
        let sql = format!("DELETE FROM queue_entries WHERE stream = ? AND seq IN ({})", placeholders(seqs.len()));
        let values = std::iter::once(stream.into()).chain(seqs.into_iter().map(Value::from));
        self.inner
            .db
            .execute_raw(stmt(&sql, values))
            .await
            .map_err(|e| Error::sqlite(format!("delete stream={stream} in {}", self.location()), e))?;
        Ok(())
    }
}

/// A pending entry old enough to be reclaimed. `payload` is `None` when the entry was deleted
/// from the stream.
struct IdlePending {
    seq: i64,
    deliveries: i64,
    payload: Option<Vec<u8>>,
}

/// The group's position, `None` if the group does not exist.
async fn group_position(db: &impl ConnectionTrait, stream: &str, group: &str) -> Result<Option<i64>, DbErr> {
    let row = db
        .query_one_raw(stmt(
            "SELECT last_seq FROM queue_groups WHERE stream = ? AND grp = ?",
            [stream.into(), group.into()],
        ))
        .await?;
    row.map(|row| row.try_get_by_index(0)).transpose()
}

/// Makes the entries after `from` up to `to` pending for `consumer` and moves the group to `to`.
async fn mark_delivered(
    txn: &DatabaseTransaction,
    stream: &str,
    group: &str,
    consumer: &str,
    from: i64,
    to: i64,
) -> Result<(), DbErr> {
    txn.execute_raw(stmt(
        "INSERT INTO queue_pending (stream, grp, seq, consumer, delivered_at_ms, deliveries)
         SELECT stream, ?, seq, ?, ?, 1 FROM queue_entries
         WHERE stream = ? AND seq > ? AND seq <= ?",
        [group.into(), consumer.into(), now_ms().into(), stream.into(), from.into(), to.into()],
    ))
    .await?;
    txn.execute_raw(stmt(
        "UPDATE queue_groups SET last_seq = ? WHERE stream = ? AND grp = ?",
        [to.into(), stream.into(), group.into()],
    ))
    .await?;
    Ok(())
}

/// Up to `count` entries pending in the group since `delivered_before` (ms) or earlier.
async fn idle_pending(
    txn: &DatabaseTransaction,
    stream: &str,
    group: &str,
    delivered_before: i64,
    count: usize,
) -> Result<Vec<IdlePending>, DbErr> {
    let rows = txn
        .query_all_raw(stmt(
            "SELECT p.seq, p.deliveries, e.payload FROM queue_pending p
             LEFT JOIN queue_entries e ON e.stream = p.stream AND e.seq = p.seq
             WHERE p.stream = ? AND p.grp = ? AND p.delivered_at_ms <= ?
             ORDER BY p.seq LIMIT ?",
            [stream.into(), group.into(), delivered_before.into(), sql_limit(count).into()],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            Ok(IdlePending {
                seq: row.try_get_by_index(0)?,
                deliveries: row.try_get_by_index(1)?,
                payload: row.try_get_by_index(2)?,
            })
        })
        .collect()
}

/// Hands an idle pending entry to `consumer`, or drops it from the pending list if the entry
/// was deleted from the stream.
async fn claim(
    txn: &DatabaseTransaction,
    stream: &str,
    group: &str,
    consumer: &str,
    now: i64,
    pending: IdlePending,
) -> Result<Option<Delivery>, DbErr> {
    let Some(payload) = pending.payload else {
        txn.execute_raw(stmt(
            "DELETE FROM queue_pending WHERE stream = ? AND grp = ? AND seq = ?",
            [stream.into(), group.into(), pending.seq.into()],
        ))
        .await?;
        return Ok(None);
    };
    txn.execute_raw(stmt(
        "UPDATE queue_pending SET consumer = ?, delivered_at_ms = ?, deliveries = deliveries + 1
         WHERE stream = ? AND grp = ? AND seq = ?",
        [consumer.into(), now.into(), stream.into(), group.into(), pending.seq.into()],
    ))
    .await?;
    Ok(Some(Delivery {
        id: pending.seq.to_string(),
        payload,
        deliveries: u32::try_from(pending.deliveries.saturating_add(1)).unwrap_or(u32::MAX),
    }))
}

fn entry_of_row(row: &QueryResult) -> Result<(i64, Vec<u8>), DbErr> {
    Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?))
}

fn stmt(sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

fn sql_limit(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn parse_id(id: &str) -> Result<i64, Error> {
    // Digits only: `str::parse` would also take "+5", an id this backend never hands out.
    let digits = !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| id.parse::<i64>().ok())
        .flatten()
        .ok_or_else(|| Error::InvalidInput(format!("{id:?} is not a local stream entry id")))
}

fn parse_ids(ids: &[EntryId]) -> Result<Vec<i64>, Error> {
    ids.iter().map(|id| parse_id(id)).collect()
}

fn no_group(stream: &str, group: &str) -> Error {
    Error::NoGroup { stream: stream.to_owned(), group: group.to_owned() }
}

fn sqlx_err(error: sea_orm::sqlx::Error) -> RuntimeErr {
    RuntimeErr::SqlxError(Arc::new(error))
}
