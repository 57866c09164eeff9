//! The production backend: Redis Streams with consumer groups.
//!
//! Each stream is the Redis key `{key_prefix}{stream}`; an entry carries its payload in a single
//! field named `p`. Ordinary commands share one [`ConnectionManager`] (which reconnects on its
//! own). Blocking `XREADGROUP ... BLOCK` calls run on dedicated connections instead: a blocked
//! command would otherwise hold up every other command multiplexed on the shared connection,
//! and the shared connection's response timeout would cut the block short.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Client, Cmd, RedisError, Value};

use crate::error::require_name;
use crate::{Delivery, Entry, EntryId, Error, EventStream, epoch_ms};

/// The field of a Redis stream entry that holds the payload.
const PAYLOAD_FIELD: &str = "p";

/// How many idle blocking connections are kept for reuse; more concurrent blocking readers
/// than this still work, their extra connections are closed after use.
const MAX_IDLE_BLOCKING_CONNECTIONS: usize = 8;

/// How many keys one `SCAN` step asks for in [`RedisStream::delete_all_keys`].
const SCAN_BATCH: usize = 200;

/// How to reach Redis and where to put the keys.
#[derive(Debug, Clone)]
pub struct RedisStreamOptions {
    /// A Redis URL, e.g. `redis://127.0.0.1:6379` or `rediss://user:password@host:6380/0`.
    pub url: String,
    /// Prepended to every stream name to make its key. By convention it ends with `:`
    /// (e.g. `tend:`), so the stream `orders` is the key `tend:orders`. Lets several
    /// installations (or tests) share one Redis.
    pub key_prefix: String,
    /// How long a command may wait for its reply (and a connection attempt may take) before it
    /// fails. Blocking reads wait this long on top of their `block` time.
    pub response_timeout: Duration,
}

impl RedisStreamOptions {
    /// Options for `url` with the conventional `tend:` prefix and a 5 s response timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), key_prefix: "tend:".to_owned(), response_timeout: Duration::from_secs(5) }
    }
}

/// An [`EventStream`] on Redis Streams. Cheap to clone: clones share the connections.
#[derive(Clone)]
pub struct RedisStream {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    manager: ConnectionManager,
    key_prefix: String,
    response_timeout: Duration,
    /// Idle connections for blocking reads, reused to avoid a TCP handshake per read.
    idle_blocking: Mutex<Vec<MultiplexedConnection>>,
}

impl std::fmt::Debug for RedisStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStream")
            .field("key_prefix", &self.inner.key_prefix)
            .field("response_timeout", &self.inner.response_timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStream {
    /// Connects to Redis. Fails if the URL is invalid or Redis cannot be reached (after the
    /// connection manager's few retries).
    pub async fn connect(options: RedisStreamOptions) -> Result<Self, Error> {
        let shown_url = redact_url(&options.url);
        // TCP_NODELAY: a pipelined batch of entries spans several segments, and without it
        // Nagle's algorithm meets the server's delayed ACK and stalls each one ~40 ms.
        let client = redis::IntoConnectionInfo::into_connection_info(options.url.as_str())
            .map(|info| {
                let tcp = info.tcp_settings().clone().set_nodelay(true);
                info.set_tcp_settings(tcp)
            })
            .and_then(Client::open)
            .map_err(|e| Error::redis(format!("open {shown_url}"), e))?;
        // One plain attempt first, so that an unreachable server is reported at once instead
        // of after the connection manager's retries; the connection then serves blocking reads.
        let connect_error = |e: RedisError| Error::redis(format!("connect to {shown_url}"), e);
        let mut probe = open_connection(&client, options.response_timeout).await.map_err(connect_error)?;
        probe.set_response_timeout(options.response_timeout);
        redis::cmd("PING").query_async::<Value>(&mut probe).await.map_err(connect_error)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(options.response_timeout))
            .set_connection_timeout(Some(options.response_timeout));
        let manager = client.get_connection_manager_with_config(config).await.map_err(connect_error)?;
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                manager,
                key_prefix: options.key_prefix,
                response_timeout: options.response_timeout,
                idle_blocking: Mutex::new(vec![probe]),
            }),
        })
    }

    /// The prefix of every key this stream uses.
    pub fn key_prefix(&self) -> &str {
        &self.inner.key_prefix
    }

    /// Deletes every key under [`key_prefix`](Self::key_prefix) (`SCAN` + `DEL`) and returns
    /// how many were deleted. Meant for tests cleaning up after themselves; refuses an empty
    /// prefix, which would wipe the whole database.
    pub async fn delete_all_keys(&self) -> Result<u64, Error> {
        if self.inner.key_prefix.is_empty() {
            return Err(Error::InvalidInput("refusing to delete all keys with an empty key prefix".to_owned()));
        }
        let pattern = format!("{}*", escape_glob(&self.inner.key_prefix));
        let context = format!("delete keys matching {pattern}");
        let mut conn = self.inner.manager.clone();
        let mut cursor = 0u64;
        let mut deleted = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_BATCH)
                .query_async(&mut conn)
                .await
                .map_err(|e| Error::redis(&context, e))?;
            if !keys.is_empty() {
                let n: u64 =
                    redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.map_err(|e| Error::redis(&context, e))?;
                deleted += n;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    fn key(&self, stream: &str) -> Result<String, Error> {
        require_name("stream", stream)?;
        Ok(format!("{}{stream}", self.inner.key_prefix))
    }

    /// Runs `cmd` on the shared connection.
    async fn query(&self, cmd: &Cmd, context: impl FnOnce() -> String) -> Result<Value, Error> {
        let mut conn = self.inner.manager.clone();
        cmd.query_async(&mut conn).await.map_err(|e| Error::redis(context(), e))
    }

    /// Runs a command that blocks on the server for up to `block` on a dedicated connection.
    ///
    /// The connection goes back to the idle pool only when the command completed: after an
    /// error it may be broken, and if this future is dropped mid-command the server may still
    /// be blocked on it, so it is closed in both cases.
    async fn query_blocking(&self, cmd: &Cmd, block: Duration) -> Result<Value, RedisError> {
        let mut conn = match self.take_idle_blocking() {
            Some(conn) => conn,
            None => self.open_blocking().await?,
        };
        conn.set_response_timeout(block + self.inner.response_timeout);
        let value: Value = cmd.query_async(&mut conn).await?;
        self.return_idle_blocking(conn);
        Ok(value)
    }

    fn take_idle_blocking(&self) -> Option<MultiplexedConnection> {
        self.inner.idle_blocking.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }

    fn return_idle_blocking(&self, conn: MultiplexedConnection) {
        let mut idle = self.inner.idle_blocking.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE_BLOCKING_CONNECTIONS {
            idle.push(conn);
        }
    }

    async fn open_blocking(&self) -> Result<MultiplexedConnection, RedisError> {
        open_connection(&self.inner.client, self.inner.response_timeout).await
    }

    /// The keys under the prefix that `SCAN` finds with `MATCH pattern`, of type `kind` if given.
    async fn scan_keys(&self, pattern: &str, kind: Option<&str>) -> Result<Vec<String>, Error> {
        let context = format!("SCAN {pattern}");
        let mut conn = self.inner.manager.clone();
        let mut cursor = 0u64;
        let mut found = Vec::new();
        loop {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(SCAN_BATCH);
            if let Some(kind) = kind {
                cmd.arg("TYPE").arg(kind);
            }
            let (next, keys): (u64, Vec<String>) =
                cmd.query_async(&mut conn).await.map_err(|e| Error::redis(&context, e))?;
            found.extend(keys);
            if next == 0 {
                return Ok(found);
            }
            cursor = next;
        }
    }

    /// The newest entry id of `key` that every group has been delivered and has acknowledged:
    /// the smallest of each group's last delivered id and of the id just before its oldest
    /// pending entry. `None` when the stream has no groups (every entry is settled).
    async fn settled_through(&self, key: &str) -> Result<Option<(u64, u64)>, Error> {
        let context = || format!("XINFO GROUPS {key}");
        let mut cmd = redis::cmd("XINFO");
        cmd.arg("GROUPS").arg(key);
        let mut conn = self.inner.manager.clone();
        let groups = match cmd.query_async::<Value>(&mut conn).await {
            Ok(value) => parse_groups(value).map_err(|detail| Error::unexpected_reply(context(), detail))?,
            // No key: no entries and no groups.
            Err(e) if e.to_string().contains("no such key") => return Ok(None),
            Err(e) => return Err(Error::redis(context(), e)),
        };
        let mut settled: Option<(u64, u64)> = None;
        for group in groups {
            let mut through = group.last_delivered;
            if group.pending > 0 {
                let mut cmd = redis::cmd("XPENDING");
                cmd.arg(key).arg(&group.name);
                let context = || format!("XPENDING {key} group={}", group.name);
                let value = self.query(&cmd, context).await?;
                let oldest =
                    parse_pending_oldest(value).map_err(|detail| Error::unexpected_reply(context(), detail))?;
                if let Some(oldest) = oldest {
                    through = through.min(before(oldest));
                }
            }
            settled = Some(settled.map_or(through, |settled| settled.min(through)));
        }
        Ok(settled)
    }

    /// Lists up to `count` entries pending for at least `min_idle` with their delivery counts.
    async fn idle_pending(
        &self,
        key: &str,
        group: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<(EntryId, u32)>, Error> {
        let mut cmd = redis::cmd("XPENDING");
        cmd.arg(key).arg(group).arg("IDLE").arg(duration_ms(min_idle)).arg("-").arg("+").arg(count);
        let context = || format!("XPENDING {key} group={group}");
        let value = self.query(&cmd, context).await.map_err(|e| no_group_or(e, key, &self.inner.key_prefix, group))?;
        parse_pending_details(value).map_err(|detail| Error::unexpected_reply(context(), detail))
    }
}

#[async_trait]
impl EventStream for RedisStream {
    async fn publish(&self, stream: &str, payload: &[u8]) -> Result<EntryId, Error> {
        let key = self.key(stream)?;
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&key).arg("*").arg(PAYLOAD_FIELD).arg(payload);
        let context = || format!("XADD {key}");
        let value = self.query(&cmd, context).await?;
        value_to_string(value).map_err(|detail| Error::unexpected_reply(context(), detail))
    }

    async fn publish_many(&self, entries: &[(&str, &[u8])]) -> Result<Vec<EntryId>, Error> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for (stream, payload) in entries {
            let key = self.key(stream)?;
            pipe.cmd("XADD").arg(key).arg("*").arg(PAYLOAD_FIELD).arg(*payload);
        }
        let context = || format!("pipelined XADD of {} entries", entries.len());
        let mut conn = self.inner.manager.clone();
        let values: Vec<Value> = pipe.query_async(&mut conn).await.map_err(|e| Error::redis(context(), e))?;
        values
            .into_iter()
            .map(|value| value_to_string(value).map_err(|detail| Error::unexpected_reply(context(), detail)))
            .collect()
    }

    async fn ensure_group(&self, stream: &str, group: &str) -> Result<(), Error> {
        let key = self.key(stream)?;
        require_name("group", group)?;
        // `0` positions the group at the start of the stream, so nothing published before the
        // group existed is missed; MKSTREAM creates the stream if nothing was published yet.
        let mut cmd = redis::cmd("XGROUP");
        cmd.arg("CREATE").arg(&key).arg(group).arg("0").arg("MKSTREAM");
        let mut conn = self.inner.manager.clone();
        match cmd.query_async::<Value>(&mut conn).await {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            Err(e) => Err(Error::redis(format!("XGROUP CREATE {key} group={group}"), e)),
        }
    }

    async fn read_new(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        count: usize,
        block: Duration,
    ) -> Result<Vec<Delivery>, Error> {
        let key = self.key(stream)?;
        require_name("group", group)?;
        require_name("consumer", consumer)?;
        if count == 0 {
            return Ok(Vec::new());
        }
        let block_ms = duration_ms(block);
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP").arg(group).arg(consumer).arg("COUNT").arg(count);
        // BLOCK 0 means "forever" to Redis, so a zero block leaves the option out.
        if block_ms > 0 {
            cmd.arg("BLOCK").arg(block_ms);
        }
        cmd.arg("STREAMS").arg(&key).arg(">");
        let context = || format!("XREADGROUP {key} group={group} consumer={consumer}");
        let reply = if block_ms > 0 {
            self.query_blocking(&cmd, block).await
        } else {
            let mut conn = self.inner.manager.clone();
            cmd.query_async(&mut conn).await
        };
        let value = reply
            .map_err(|e| Error::redis(context(), e))
            .map_err(|e| no_group_or(e, &key, &self.inner.key_prefix, group))?;
        let entries = parse_read_reply(value).map_err(|detail| Error::unexpected_reply(context(), detail))?;
        Ok(entries
            .into_iter()
            .map(|(id, fields)| Delivery { payload: payload_of(&key, &id, fields), id, deliveries: 1 })
            .collect())
    }

    async fn reclaim(
        &self,
        stream: &str,
        group: &str,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> Result<Vec<Delivery>, Error> {
        let key = self.key(stream)?;
        require_name("group", group)?;
        require_name("consumer", consumer)?;
        if count == 0 {
            return Ok(Vec::new());
        }
        let pending = self.idle_pending(&key, group, min_idle, count).await?;
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        let previous: HashMap<&str, u32> = pending.iter().map(|(id, n)| (id.as_str(), *n)).collect();
        // XCLAIM re-checks the idle time, so an entry another consumer claimed since XPENDING
        // is not taken twice; it also bumps the delivery count we report.
        let mut cmd = redis::cmd("XCLAIM");
        cmd.arg(&key).arg(group).arg(consumer).arg(duration_ms(min_idle));
        for (id, _) in &pending {
            cmd.arg(id);
        }
        let context = || format!("XCLAIM {key} group={group} consumer={consumer}");
        let value = self.query(&cmd, context).await.map_err(|e| no_group_or(e, &key, &self.inner.key_prefix, group))?;
        let claimed = parse_entries(value).map_err(|detail| Error::unexpected_reply(context(), detail))?;
        let mut deliveries = Vec::with_capacity(claimed.len());
        let mut deleted = Vec::new();
        for (id, fields) in claimed {
            // Redis 6 answers nil fields for entries deleted from the stream but still pending
            // (Redis 7 drops them from the pending list itself): acknowledge and skip them.
            let Some(fields) = fields else {
                deleted.push(id);
                continue;
            };
            let before = previous.get(id.as_str()).copied().unwrap_or(0);
            deliveries.push(Delivery {
                payload: payload_of(&key, &id, Some(fields)),
                id,
                deliveries: before.saturating_add(1),
            });
        }
        if !deleted.is_empty() {
            self.ack(stream, group, &deleted).await?;
        }
        Ok(deliveries)
    }

    async fn ack(&self, stream: &str, group: &str, ids: &[EntryId]) -> Result<(), Error> {
        let key = self.key(stream)?;
        require_name("group", group)?;
        if ids.is_empty() {
            return Ok(());
        }
        check_ids(ids)?;
        let mut cmd = redis::cmd("XACK");
        cmd.arg(&key).arg(group).arg(ids);
        self.query(&cmd, || format!("XACK {key} group={group}")).await?;
        Ok(())
    }

    async fn pending_count(&self, stream: &str, group: &str) -> Result<u64, Error> {
        let key = self.key(stream)?;
        require_name("group", group)?;
        let mut cmd = redis::cmd("XPENDING");
        cmd.arg(&key).arg(group);
        let context = || format!("XPENDING {key} group={group}");
        let value = self.query(&cmd, context).await.map_err(|e| no_group_or(e, &key, &self.inner.key_prefix, group))?;
        parse_pending_summary(value).map_err(|detail| Error::unexpected_reply(context(), detail))
    }

    async fn range(&self, stream: &str, after: Option<&str>, count: usize) -> Result<Vec<Entry>, Error> {
        let key = self.key(stream)?;
        if count == 0 {
            return Ok(Vec::new());
        }
        let start = match after {
            Some(id) => {
                check_id(id)?;
                format!("({id}")
            }
            None => "-".to_owned(),
        };
        let mut cmd = redis::cmd("XRANGE");
        cmd.arg(&key).arg(&start).arg("+").arg("COUNT").arg(count);
        let context = || format!("XRANGE {key} {start} + COUNT {count}");
        let value = self.query(&cmd, context).await?;
        let entries = parse_entries(value).map_err(|detail| Error::unexpected_reply(context(), detail))?;
        Ok(entries.into_iter().map(|(id, fields)| Entry { payload: payload_of(&key, &id, fields), id }).collect())
    }

    async fn last_id(&self, stream: &str) -> Result<Option<EntryId>, Error> {
        let key = self.key(stream)?;
        let mut cmd = redis::cmd("XREVRANGE");
        cmd.arg(&key).arg("+").arg("-").arg("COUNT").arg(1);
        let context = || format!("XREVRANGE {key} + - COUNT 1");
        let value = self.query(&cmd, context).await?;
        let entries = parse_entries(value).map_err(|detail| Error::unexpected_reply(context(), detail))?;
        Ok(entries.into_iter().next().map(|(id, _)| id))
    }

    async fn streams(&self) -> Result<Vec<String>, Error> {
        let pattern = format!("{}*", escape_glob(&self.inner.key_prefix));
        let keys = self.scan_keys(&pattern, Some("stream")).await?;
        let mut names: Vec<String> =
            keys.iter().filter_map(|key| key.strip_prefix(&self.inner.key_prefix)).map(str::to_owned).collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn trim(&self, stream: &str, before_time: SystemTime) -> Result<u64, Error> {
        let key = self.key(stream)?;
        // XTRIM MINID deletes every entry with a smaller id. Ids start with their publication
        // time in milliseconds, so the cutoff is `<ms>-0`; the settled horizon bounds it.
        let cutoff = (u64::try_from(epoch_ms(before_time)).unwrap_or(0), 0);
        let min_id = match self.settled_through(&key).await? {
            Some(settled) => cutoff.min(after(settled)),
            None => cutoff,
        };
        if min_id == (0, 0) {
            return Ok(0);
        }
        let mut cmd = redis::cmd("XTRIM");
        cmd.arg(&key).arg("MINID").arg(format!("{}-{}", min_id.0, min_id.1));
        let context = || format!("XTRIM {key} MINID");
        let value = self.query(&cmd, context).await?;
        value_to_u64(value).map_err(|detail| Error::unexpected_reply(context(), detail))
    }

    async fn delete_settled(&self, stream: &str, ids: &[EntryId]) -> Result<Vec<EntryId>, Error> {
        let key = self.key(stream)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let parsed = ids.iter().map(|id| parse_id(id)).collect::<Result<Vec<_>, _>>()?;
        let settled = self.settled_through(&key).await?;
        let (done, waiting): (Vec<_>, Vec<_>) =
            parsed.into_iter().zip(ids).partition(|(id, _)| settled.is_none_or(|settled| *id <= settled));
        if !done.is_empty() {
            let mut cmd = redis::cmd("XDEL");
            cmd.arg(&key);
            for (_, id) in &done {
                cmd.arg(id.as_str());
            }
            self.query(&cmd, || format!("XDEL {key}")).await?;
        }
        Ok(waiting.into_iter().map(|(_, id)| id.clone()).collect())
    }

    async fn delete(&self, stream: &str, ids: &[EntryId]) -> Result<(), Error> {
        let key = self.key(stream)?;
        if ids.is_empty() {
            return Ok(());
        }
        check_ids(ids)?;
        let mut cmd = redis::cmd("XDEL");
        cmd.arg(&key).arg(ids);
        self.query(&cmd, || format!("XDEL {key}")).await?;
        Ok(())
    }
}

/// Opens a connection of its own (not shared with the connection manager).
async fn open_connection(client: &Client, connection_timeout: Duration) -> Result<MultiplexedConnection, RedisError> {
    let config = AsyncConnectionConfig::new().set_connection_timeout(Some(connection_timeout));
    client.get_multiplexed_async_connection_with_config(&config).await
}

/// Turns a Redis `NOGROUP` error into [`Error::NoGroup`], leaves other errors alone.
fn no_group_or(error: Error, key: &str, prefix: &str, group: &str) -> Error {
    match &error {
        Error::Redis { source, .. } if source.code() == Some("NOGROUP") => {
            Error::NoGroup { stream: key.strip_prefix(prefix).unwrap_or(key).to_owned(), group: group.to_owned() }
        }
        _ => error,
    }
}

/// Milliseconds for a Redis argument, rounding a non-zero sub-millisecond duration up so that
/// it does not turn into 0 (which means "no wait" for IDLE and "forever" for BLOCK).
fn duration_ms(duration: Duration) -> u64 {
    let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 && !duration.is_zero() { 1 } else { ms }
}

/// Checks that `id` looks like a Redis stream id (`<ms>` or `<ms>-<seq>`), so that a bad id is
/// reported as invalid input rather than as a server error.
fn check_id(id: &str) -> Result<(), Error> {
    let mut parts = id.splitn(2, '-');
    let valid = parts.all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    if valid { Ok(()) } else { Err(Error::InvalidInput(format!("{id:?} is not a Redis stream entry id"))) }
}

fn check_ids(ids: &[EntryId]) -> Result<(), Error> {
    ids.iter().try_for_each(|id| check_id(id))
}

/// A Redis stream id as `(milliseconds, sequence)`, which orders like the stream does; `<ms>`
/// alone is `<ms>-0`.
fn parse_id(id: &str) -> Result<(u64, u64), Error> {
    check_id(id)?;
    let invalid = || Error::InvalidInput(format!("{id:?} is not a Redis stream entry id"));
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    Ok((ms.parse().map_err(|_| invalid())?, seq.parse().map_err(|_| invalid())?))
}

/// The id just before `id`.
fn before((ms, seq): (u64, u64)) -> (u64, u64) {
    match seq.checked_sub(1) {
        Some(seq) => (ms, seq),
        None => (ms.saturating_sub(1), if ms == 0 { 0 } else { u64::MAX }),
    }
}

/// The id just after `id`.
fn after((ms, seq): (u64, u64)) -> (u64, u64) {
    match seq.checked_add(1) {
        Some(seq) => (ms, seq),
        None => (ms.saturating_add(1), 0),
    }
}

/// Escapes the glob characters of a `SCAN MATCH` pattern.
fn escape_glob(literal: &str) -> String {
    let mut escaped = String::with_capacity(literal.len());
    for c in literal.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Hides the password of a Redis URL before it goes into an error message.
fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}://***@{}", &url[..scheme_end], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// The payload field of an entry. An entry without it (written by something other than this
/// crate) is delivered with an empty payload rather than failing the whole read, so that the
/// handler can reject it as poison instead of it blocking the group.
fn payload_of(key: &str, id: &str, fields: Option<Vec<(String, Vec<u8>)>>) -> Vec<u8> {
    let payload =
        fields.and_then(|fields| fields.into_iter().find(|(name, _)| name == PAYLOAD_FIELD).map(|(_, value)| value));
    payload.unwrap_or_else(|| {
        tracing::warn!(key, entry_id = id, "stream entry has no payload field");
        Vec::new()
    })
}

// Reply parsing. Replies are read as raw `Value`s because the typed helpers of the redis crate
// reject the nil entries some commands return; both RESP2 arrays and RESP3 maps are accepted.

type Fields = Vec<(String, Vec<u8>)>;

fn value_to_bytes(value: Value) -> Result<Vec<u8>, String> {
    match value {
        Value::BulkString(bytes) => Ok(bytes),
        Value::SimpleString(s) => Ok(s.into_bytes()),
        Value::VerbatimString { text, .. } => Ok(text.into_bytes()),
        Value::Int(n) => Ok(n.to_string().into_bytes()),
        other => Err(format!("expected a string, got {other:?}")),
    }
}

fn value_to_string(value: Value) -> Result<String, String> {
    String::from_utf8(value_to_bytes(value)?).map_err(|e| format!("not UTF-8: {e}"))
}

fn value_to_u64(value: Value) -> Result<u64, String> {
    match value {
        Value::Int(n) => u64::try_from(n).map_err(|_| format!("negative number {n}")),
        other => value_to_string(other)?.parse().map_err(|e| format!("not a number: {e}")),
    }
}

/// The elements of an array (or set) reply.
fn value_to_items(value: Value) -> Result<Vec<Value>, String> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        other => Err(format!("expected an array, got {other:?}")),
    }
}

/// Key/value pairs from a RESP3 map or a flat RESP2 array `[k1, v1, k2, v2...]`.
fn value_to_pairs(value: Value) -> Result<Vec<(Value, Value)>, String> {
    match value {
        Value::Map(pairs) => Ok(pairs),
        other => {
            let items = value_to_items(other)?;
            if items.len() % 2 != 0 {
                return Err("odd number of elements in a field list".to_owned());
            }
            let mut pairs = Vec::with_capacity(items.len() / 2);
            let mut items = items.into_iter();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                pairs.push((k, v));
            }
            Ok(pairs)
        }
    }
}

fn parse_fields(value: Value) -> Result<Option<Fields>, String> {
    if value == Value::Nil {
        return Ok(None);
    }
    let pairs = value_to_pairs(value)?;
    let fields =
        pairs.into_iter().map(|(k, v)| Ok((value_to_string(k)?, value_to_bytes(v)?))).collect::<Result<_, String>>()?;
    Ok(Some(fields))
}

/// Entries as returned by XRANGE and XCLAIM: `[[id, fields-or-nil], ...]`; a nil entry (Redis 6
/// XCLAIM of a deleted entry without its id) is dropped.
fn parse_entries(value: Value) -> Result<Vec<(EntryId, Option<Fields>)>, String> {
    if value == Value::Nil {
        return Ok(Vec::new());
    }
    let mut entries = Vec::new();
    for item in value_to_items(value)? {
        if item == Value::Nil {
            continue;
        }
        let mut parts = value_to_items(item)?.into_iter();
        let id = value_to_string(parts.next().ok_or("entry without an id")?)?;
        let fields = parse_fields(parts.next().unwrap_or(Value::Nil))?;
        entries.push((id, fields));
    }
    Ok(entries)
}

/// XREADGROUP's reply for a single stream: nil on timeout, else `[[key, entries]]` (RESP2) or
/// `{key: entries}` (RESP3).
fn parse_read_reply(value: Value) -> Result<Vec<(EntryId, Option<Fields>)>, String> {
    match value {
        Value::Nil => Ok(Vec::new()),
        Value::Map(pairs) => match pairs.into_iter().next() {
            Some((_, entries)) => parse_entries(entries),
            None => Ok(Vec::new()),
        },
        other => {
            let Some(stream) = value_to_items(other)?.into_iter().next() else {
                return Ok(Vec::new());
            };
            let entries = value_to_items(stream)?.into_iter().nth(1).unwrap_or(Value::Nil);
            parse_entries(entries)
        }
    }
}

/// The extended XPENDING reply: `[[id, consumer, idle-ms, delivery-count], ...]`.
fn parse_pending_details(value: Value) -> Result<Vec<(EntryId, u32)>, String> {
    let mut pending = Vec::new();
    for item in value_to_items(value)? {
        let mut parts = value_to_items(item)?.into_iter();
        let id = value_to_string(parts.next().ok_or("pending entry without an id")?)?;
        let deliveries = value_to_u64(parts.nth(2).ok_or("pending entry without a count")?)?;
        pending.push((id, u32::try_from(deliveries).unwrap_or(u32::MAX)));
    }
    Ok(pending)
}

/// A consumer group as `XINFO GROUPS` describes it.
struct GroupInfo {
    name: String,
    pending: u64,
    last_delivered: (u64, u64),
}

/// The `XINFO GROUPS` reply: one field list (or RESP3 map) per group.
fn parse_groups(value: Value) -> Result<Vec<GroupInfo>, String> {
    let mut groups = Vec::new();
    for item in value_to_items(value)? {
        let mut name = None;
        let mut pending = 0;
        let mut last_delivered = None;
        for (field, value) in value_to_pairs(item)? {
            match value_to_string(field)?.as_str() {
                "name" => name = Some(value_to_string(value)?),
                "pending" => pending = value_to_u64(value)?,
                "last-delivered-id" => {
                    let id = value_to_string(value)?;
                    last_delivered = Some(parse_id(&id).map_err(|e| e.to_string())?);
                }
                _ => {}
            }
        }
        groups.push(GroupInfo {
            name: name.ok_or("group without a name")?,
            pending,
            last_delivered: last_delivered.ok_or("group without a last-delivered-id")?,
        });
    }
    Ok(groups)
}

/// The oldest pending id from a summary XPENDING reply, `None` when nothing is pending.
fn parse_pending_oldest(value: Value) -> Result<Option<(u64, u64)>, String> {
    let oldest = value_to_items(value)?.into_iter().nth(1).unwrap_or(Value::Nil);
    if oldest == Value::Nil {
        return Ok(None);
    }
    let id = value_to_string(oldest)?;
    parse_id(&id).map(Some).map_err(|e| e.to_string())
}

/// The summary XPENDING reply: `[count, first-id, last-id, consumers]`.
fn parse_pending_summary(value: Value) -> Result<u64, String> {
    let first = value_to_items(value)?.into_iter().next().ok_or("empty XPENDING summary")?;
    value_to_u64(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(check_id("1526919030474-55").is_ok());
        assert!(check_id("1526919030474").is_ok());
        assert!(check_id("").is_err());
        assert!(check_id("12-").is_err());
        assert!(check_id("12-3-4").is_err());
        assert!(check_id("abc").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("redis://user:secret@host:6379/0"), "redis://***@host:6379/0");
        assert_eq!(redact_url("redis://host:6379"), "redis://host:6379");
    }

    #[test]
    fn sub_millisecond_durations_round_up() {
        assert_eq!(duration_ms(Duration::ZERO), 0);
        assert_eq!(duration_ms(Duration::from_micros(10)), 1);
        assert_eq!(duration_ms(Duration::from_millis(1500)), 1500);
    }

    #[test]
    fn ids_order_like_the_stream() {
        assert_eq!(parse_id("5-3").unwrap(), (5, 3));
        assert_eq!(parse_id("5").unwrap(), (5, 0));
        assert_eq!(before((5, 3)), (5, 2));
        assert_eq!(before((5, 0)), (4, u64::MAX));
        assert_eq!(after((5, u64::MAX)), (6, 0));
        assert!(before((5, 0)) < (5, 0) && (5, 0) < after((5, 0)));
    }

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(escape_glob("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }
}
