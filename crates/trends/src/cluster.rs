//! Incremental near-duplicate clustering: which cluster of similar recent posts does a post join?
//!
//! Routing keeps one [`ClusterIndex`] per tenant in memory and calls [`ClusterIndex::insert`]
//! for each post in stream order with the post's MinHash signature (64 `u32` values computed at
//! ingest by `tend-text`). The answer, an [`Assignment`], names the cluster the post joined and
//! how many posts the cluster holds now: the "magnitude" term of the post's priority, and what an
//! escalation rule such as "a cluster of 50" watches.
//!
//! # How a post finds its cluster
//!
//! 1. **Candidates by LSH banding.** The first `bands × rows` signature values are cut into
//!    `bands` bands of `rows` values; each band is hashed into a bucket key, and the posts
//!    already in one of the post's buckets are its candidates. Two posts with Jaccard
//!    similarity `s` share at least one bucket with probability `1 - (1 - s^rows)^bands`. The
//!    default 32 × 2 gives 0.9999 at `s` = 0.5 and 0.9993 at 0.45 (16 × 4 would give only
//!    0.64 at 0.5).
//! 2. **Verification.** Each distinct candidate is compared on all 64 values (the estimated
//!    Jaccard, the share of equal positions, as `tend_text::estimated_jaccard` computes it); only
//!    candidates at or above [`ClusterConfig::threshold`] (default 0.45) count, so loose banding
//!    costs time, not precision. On the benchmark corpus (`examples/cluster_bench.rs`) 99 % of
//!    the injected near-duplicate pairs with true Jaccard ≥ 0.5 end in one cluster, and every
//!    pair put in one cluster is a near-duplicate (Jaccard ≥ 0.3 or one family).
//! 3. **Choice.** The post joins the cluster of its most similar verified candidate; on a tie
//!    the oldest cluster wins. Without a verified candidate the post opens a new cluster whose id
//!    is the post's own member id.
//!
//! Clusters never merge: a post's cluster id, once answered, stays its cluster id (routing may
//! have stored it on a case already). Joining is by similarity to one member, so a cluster can
//! hold two posts that are less similar than the threshold to each other, linked by a third.
//!
//! # Bounded work per post
//!
//! A bucket keeps at most [`ClusterConfig::max_bucket`] members, the most recently inserted
//! (the oldest is dropped from that bucket, not from its cluster). A post therefore verifies at
//! most `bands × max_bucket` candidates, each once, whatever the number of clusters: 32 × 32 =
//! 1,024 in the worst case with the defaults, a handful in practice. Nothing scans all clusters
//! except the read-side [`ClusterIndex::largest`] and [`ClusterIndex::clusters`]. Expiring a
//! member costs about as much as inserting one (its 32 bucket entries are removed); `insert`
//! expires first, so an insert after a lull pays for the batch that left the window meanwhile
//! (that is the p99 below). Routing can call `expire(now)` on a timer to keep it off the path.
//!
//! Measured with `cargo run --release -p tend-trends --example cluster_bench` (200,000 posts
//! over 48 h, 20 % near-duplicates in 300 families, one core of the shared 2-core development
//! machine): 85,000–150,000 inserts/s, p50 3–4 µs, p99 70–110 µs per insert.
//!
//! # The window
//!
//! A member is live while `now - at < window`. [`ClusterIndex::expire`] pops members whose age
//! reached the window from a time-ordered queue (a binary heap, so posts that arrive out of order
//! are dropped at their own time), removes them from their buckets and from their cluster's size,
//! and forgets a cluster when its last member leaves. [`ClusterIndex::insert`] calls
//! `expire(at)` first, so sizes are always "within the window ending at the newest post"; a
//! post older than the newest by less than the window is placed normally, and a post already
//! older than the window is placed, answered, and dropped by the next call.
//!
//! # Empty signatures
//!
//! A text without tokens has the empty signature (all `u32::MAX`). Such a post is never a
//! candidate and never joins anything: it gets a cluster of its own (size 1, `new_cluster`),
//! which expires with it. Two empty posts are not near-duplicates of each other.
//!
//! # Reposts
//!
//! `tend-text` drops mentions and punctuation but keeps "rt" as a token, so "RT @brand: <text>"
//! adds one shingle to the original's: with `n` tokens in the original the Jaccard similarity
//! is `(n - 2) / (n - 1)`, 0.9 for a 12-token post, so a repost joins its original's cluster by
//! the similarity rule alone. Originals of three tokens or fewer (similarity 0.5 or 0) are the
//! exception; stripping the prefix before computing the signature is ingest's choice, not ours.
//!
//! # Replay and idempotence
//!
//! Everything is deterministic: the same inserts (and `expire` calls) in the same order give the
//! same assignments, so routing rebuilds an index after a restart by replaying the window's
//! posts. A cluster whose first member has already left the window would come back under a new
//! id (its oldest replayed member); to keep ids exactly, replay with [`ClusterIndex::restore`]
//! and the cluster ids recorded at the time. Inserting a member id that is still live returns
//! its first assignment (with the cluster's current size) and changes nothing, for at-least-once
//! delivery upstream.
//!
//! # Memory
//!
//! Bounded by the live members (the posts of one window), about 1.2 KB per member with the
//! defaults (the benchmark's estimate at 100,000 live members): the signature (256 B), 32 bucket
//! entries (≈ 20 B each in the hash maps, more when a bucket holds several members), the member
//! record and its id (≈ 100 B), the queue entry (24 B) and, for a member that opened a cluster,
//! the cluster record (≈ 120 B). Containers keep their
//! peak capacity; [`ClusterIndex::shrink_to_fit`] returns it after a burst.
//! [`ClusterIndex::memory_bytes`] estimates the total.
//!
//! # Threads
//!
//! The index is plain data (`Send + Sync`); `insert` and `expire` take `&mut self`. Routing owns
//! one per tenant in one task, or behind a mutex; inserts are a few microseconds.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Number of values in a signature (`tend_text::PERMUTATIONS`; a test checks they agree).
pub const SIGNATURE_LEN: usize = 64;

/// Seed of the bucket-key hash ("tendclus"), xored with the band index.
const BAND_SEED: u64 = 0x7465_6e64_636c_7573;

/// Why a configuration or an input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A [`ClusterConfig`] field is out of range.
    #[error("invalid cluster config: `{field}` {reason}")]
    InvalidConfig {
        /// The field's name, as in [`ClusterConfig`].
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A signature does not have [`SIGNATURE_LEN`] values.
    #[error("signature has {got} values, expected {expected}")]
    SignatureLength {
        /// [`SIGNATURE_LEN`].
        expected: usize,
        /// The length given.
        got: usize,
    },
}

/// How a [`ClusterIndex`] bands, verifies and windows; [`Default`] is the recommended setting.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// LSH bands (default 32). More bands find less similar pairs, at more work per post.
    pub bands: usize,
    /// Signature values per band (default 2); `bands × rows` must not exceed [`SIGNATURE_LEN`].
    pub rows: usize,
    /// Estimated Jaccard similarity (share of equal signature values, in (0, 1]) a candidate
    /// needs for the post to join its cluster (default 0.45: the estimate from 64 values has a
    /// standard deviation of ≈ 0.06 at 0.5, so a threshold of exactly 0.5 would leave out close
    /// to half of the pairs whose true similarity is just above 0.5).
    pub threshold: f64,
    /// How long a member counts (default 24 hours).
    pub window: Duration,
    /// Most members kept per LSH bucket (default 32): bounds the work of one insert.
    pub max_bucket: usize,
    /// Width of the time buckets of [`ClusterView::growth`] (default 1 hour).
    pub growth_bucket: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            bands: 32,
            rows: 2,
            threshold: 0.45,
            window: Duration::hours(24),
            max_bucket: 32,
            growth_bucket: Duration::hours(1),
        }
    }
}

impl ClusterConfig {
    /// Check every field; the error names the first bad one.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |field: &'static str, reason: String| Err(Error::InvalidConfig { field, reason });
        if self.bands == 0 {
            return bad("bands", "must be at least 1".into());
        }
        if self.rows == 0 {
            return bad("rows", "must be at least 1".into());
        }
        if self.bands.saturating_mul(self.rows) > SIGNATURE_LEN {
            return bad(
                "bands",
                format!("× rows = {} exceeds the {SIGNATURE_LEN} signature values", self.bands * self.rows),
            );
        }
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return bad("threshold", format!("must be in (0, 1], got {}", self.threshold));
        }
        if self.window <= Duration::zero() {
            return bad("window", "must be positive".into());
        }
        if self.max_bucket == 0 || self.max_bucket > u16::MAX as usize {
            return bad("max_bucket", format!("must be in 1..={}, got {}", u16::MAX, self.max_bucket));
        }
        match self.growth_bucket.num_microseconds() {
            Some(micros) if micros > 0 => Ok(()),
            _ => bad("growth_bucket", "must be positive and at most ~292,000 years".into()),
        }
    }
}

/// The answer to [`ClusterIndex::insert`]: the cluster a post is in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// The cluster's id: the member id of its first post.
    pub cluster_id: String,
    /// Live members of the cluster now, this post included (the magnitude term of priority).
    pub size: u64,
    /// True when this post opened the cluster.
    pub new_cluster: bool,
    /// Estimated Jaccard similarity to the member it was matched with; 1.0 for a new cluster
    /// (0.0 for a [`ClusterIndex::restore`] into a cluster without a verified candidate).
    pub similarity: f64,
}

/// Live members of a cluster that arrived in one time bucket of [`ClusterConfig::growth_bucket`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrowthBucket {
    /// Start of the bucket (a multiple of the bucket width since the Unix epoch).
    pub start: DateTime<Utc>,
    /// Members still live that arrived in `[start, start + width)`.
    pub members: u64,
}

/// A cluster as the read side (a `GetCluster` RPC, a dashboard) shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterView {
    /// The cluster's id: the member id of its first post (kept after that post leaves the window).
    pub id: String,
    /// Live members.
    pub size: u64,
    /// Earliest `at` of any member that joined (kept after that member leaves the window).
    pub first_at: DateTime<Utc>,
    /// Latest `at` of any member that joined.
    pub last_at: DateTime<Utc>,
    /// Live members per arrival time bucket, oldest first, only buckets with members: how the
    /// cluster grew over the window.
    pub growth: Vec<GrowthBucket>,
}

/// Hasher for bucket keys, which are already uniform hashes: one multiply spreads them over
/// the 64 bits the table uses (low bits for the slot, high bits for the control byte).
#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type KeyMap = HashMap<u32, Bucket, BuildHasherDefault<KeyHasher>>;

/// The members of one LSH bucket. Most buckets hold one member, kept inline; a bucket with more
/// points into [`ClusterIndex::overflow`] (oldest first).
#[derive(Debug, Clone, Copy)]
enum Bucket {
    One(u32),
    Many(u32),
}

/// A live post.
#[derive(Debug, Clone)]
struct Member {
    id: Box<str>,
    at: DateTime<Utc>,
    /// Slot in [`ClusterIndex::clusters`].
    cluster: u32,
    /// As first answered, for idempotent re-inserts.
    similarity: f32,
    new_cluster: bool,
    /// False for an empty signature: in no bucket.
    indexed: bool,
}

/// A cluster with at least one live member.
#[derive(Debug, Clone)]
struct Cluster {
    id: Box<str>,
    /// Creation order, for "ties go to the oldest cluster".
    seq: u64,
    size: u64,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
    /// (time bucket index, live members that arrived in it), sorted by index.
    growth: Vec<(i64, u32)>,
}

/// Incremental near-duplicate clusters of one tenant's recent posts (see the module docs).
#[derive(Clone)]
pub struct ClusterIndex {
    config: ClusterConfig,
    /// `threshold` as a count of equal signature values.
    min_same: u32,
    growth_micros: i64,
    /// Member slab; `None` slots are listed in `free_members`.
    members: Vec<Option<Member>>,
    free_members: Vec<u32>,
    /// Signature of member slot `i` at `[i * SIGNATURE_LEN..][..SIGNATURE_LEN]`.
    signatures: Vec<u32>,
    /// Insert number that last looked at member slot `i` (dedupes candidates across bands).
    stamps: Vec<u32>,
    epoch: u32,
    by_member: HashMap<Box<str>, u32>,
    /// Cluster slab; `None` slots are listed in `free_clusters`.
    clusters: Vec<Option<Cluster>>,
    free_clusters: Vec<u32>,
    by_cluster: HashMap<Box<str>, u32>,
    next_cluster_seq: u64,
    /// One map per band: bucket key → members.
    bands: Vec<KeyMap>,
    overflow: Vec<Vec<u32>>,
    free_overflow: Vec<u32>,
    /// Expiry order: (at, insert sequence, member slot), oldest on top.
    queue: BinaryHeap<Reverse<(DateTime<Utc>, u64, u32)>>,
    next_seq: u64,
    /// Scratch for bucket keys.
    keys: Vec<u32>,
    /// Bytes of member and cluster ids held, for [`ClusterIndex::memory_bytes`].
    id_bytes: usize,
}

impl fmt::Debug for ClusterIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterIndex")
            .field("config", &self.config)
            .field("clusters", &self.len())
            .field("members", &self.members())
            .finish_non_exhaustive()
    }
}

impl ClusterIndex {
    /// An empty index; fails if the configuration does not [validate](ClusterConfig::validate).
    pub fn new(config: ClusterConfig) -> Result<Self, Error> {
        config.validate()?;
        let min_same = ((config.threshold * SIGNATURE_LEN as f64) - 1e-9).ceil().max(1.0) as u32;
        let growth_micros = config.growth_bucket.num_microseconds().unwrap_or(1).max(1);
        let bands = (0..config.bands).map(|_| KeyMap::default()).collect();
        Ok(ClusterIndex {
            min_same,
            growth_micros,
            members: Vec::new(),
            free_members: Vec::new(),
            signatures: Vec::new(),
            stamps: Vec::new(),
            epoch: 0,
            by_member: HashMap::new(),
            clusters: Vec::new(),
            free_clusters: Vec::new(),
            by_cluster: HashMap::new(),
            next_cluster_seq: 0,
            bands,
            overflow: Vec::new(),
            free_overflow: Vec::new(),
            queue: BinaryHeap::new(),
            next_seq: 0,
            keys: Vec::with_capacity(config.bands),
            id_bytes: 0,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// Place a post: expire members older than the window ending at `at`, then join the cluster
    /// of the most similar verified candidate or open a new cluster named `member_id`.
    ///
    /// A `member_id` that is still live returns its first assignment (with the current size)
    /// and changes nothing. Fails only on a signature that does not have [`SIGNATURE_LEN`]
    /// values.
    pub fn insert(&mut self, member_id: &str, signature: &[u32], at: DateTime<Utc>) -> Result<Assignment, Error> {
        self.place(member_id, signature, at, None)
    }

    /// Place a post into the cluster recorded for it earlier (`cluster_id`), for rebuilding an
    /// index after a restart with exactly the ids routing has stored: the cluster is joined if
    /// live, or opened under that id. The post becomes a candidate for later inserts as usual.
    /// A `member_id` that is still live is left as it is.
    pub fn restore(
        &mut self,
        member_id: &str,
        signature: &[u32],
        at: DateTime<Utc>,
        cluster_id: &str,
    ) -> Result<Assignment, Error> {
        self.place(member_id, signature, at, Some(cluster_id))
    }

    /// Drop members whose age at `now` is at least the window, from their buckets and their
    /// clusters; forget clusters left without members. Returns the number of members dropped.
    /// Cheap when there is nothing to drop (one look at the oldest member).
    pub fn expire(&mut self, now: DateTime<Utc>) -> usize {
        let Some(cutoff) = now.checked_sub_signed(self.config.window) else {
            return 0;
        };
        let mut dropped = 0;
        while let Some(&Reverse((at, _, slot))) = self.queue.peek() {
            if at > cutoff {
                break;
            }
            self.queue.pop();
            self.remove_member(slot);
            dropped += 1;
        }
        dropped
    }

    /// The live cluster with this id.
    pub fn cluster(&self, id: &str) -> Option<ClusterView> {
        let slot = *self.by_cluster.get(id)?;
        self.cluster_at(slot).map(|c| self.view(c))
    }

    /// The id of the cluster a live member is in.
    pub fn cluster_of(&self, member_id: &str) -> Option<&str> {
        let slot = *self.by_member.get(member_id)?;
        let member = self.member_at(slot)?;
        self.cluster_at(member.cluster).map(|c| &*c.id)
    }

    /// The `n` largest live clusters, largest first (ties: oldest first). Scans all clusters.
    pub fn largest(&self, n: usize) -> Vec<ClusterView> {
        let mut live: Vec<&Cluster> = self.clusters.iter().flatten().collect();
        let order = |a: &&Cluster, b: &&Cluster| b.size.cmp(&a.size).then(a.seq.cmp(&b.seq));
        if n < live.len() {
            live.select_nth_unstable_by(n, order);
            live.truncate(n);
        }
        live.sort_unstable_by(order);
        live.into_iter().map(|c| self.view(c)).collect()
    }

    /// Every live cluster, in no particular order.
    pub fn clusters(&self) -> impl Iterator<Item = ClusterView> + '_ {
        self.clusters.iter().flatten().map(|c| self.view(c))
    }

    /// Number of live clusters.
    pub fn len(&self) -> usize {
        self.by_cluster.len()
    }

    /// True when no member is live.
    pub fn is_empty(&self) -> bool {
        self.by_member.is_empty()
    }

    /// Number of live members (the sum of all cluster sizes).
    pub fn members(&self) -> usize {
        self.by_member.len()
    }

    /// Approximate heap bytes held (container capacities and ids), for capacity planning.
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        // A hashbrown table holds one control byte per slot besides the entry.
        let map = |cap: usize, entry: usize| cap * (entry + 1);
        let id_map = map(self.by_member.capacity(), size_of::<(Box<str>, u32)>())
            + map(self.by_cluster.capacity(), size_of::<(Box<str>, u32)>());
        let bands: usize = self.bands.iter().map(|m| map(m.capacity(), size_of::<(u32, Bucket)>())).sum();
        let overflow: usize = self.overflow.iter().map(|v| size_of::<Vec<u32>>() + v.capacity() * 4).sum();
        let growth: usize = self.clusters.iter().flatten().map(|c| c.growth.capacity() * size_of::<(i64, u32)>()).sum();
        self.members.capacity() * size_of::<Option<Member>>()
            + self.signatures.capacity() * 4
            + self.stamps.capacity() * 4
            + self.clusters.capacity() * size_of::<Option<Cluster>>()
            + self.queue.capacity() * size_of::<Reverse<(DateTime<Utc>, u64, u32)>>()
            + (self.free_members.capacity() + self.free_clusters.capacity() + self.free_overflow.capacity()) * 4
            + id_map
            + bands
            + overflow
            + growth
            + self.id_bytes * 2
    }

    /// Give back capacity kept from a past peak (after a burst has left the window).
    pub fn shrink_to_fit(&mut self) {
        while let Some(None) = self.members.last() {
            self.members.pop();
        }
        let live_slots = self.members.len() as u32;
        self.free_members.retain(|&s| s < live_slots);
        self.members.shrink_to_fit();
        self.free_members.shrink_to_fit();
        self.signatures.truncate(self.members.len() * SIGNATURE_LEN);
        self.signatures.shrink_to_fit();
        self.stamps.truncate(self.members.len());
        self.stamps.shrink_to_fit();
        while let Some(None) = self.clusters.last() {
            self.clusters.pop();
        }
        let live_clusters = self.clusters.len() as u32;
        self.free_clusters.retain(|&s| s < live_clusters);
        self.clusters.shrink_to_fit();
        self.free_clusters.shrink_to_fit();
        self.by_member.shrink_to_fit();
        self.by_cluster.shrink_to_fit();
        for map in &mut self.bands {
            map.shrink_to_fit();
        }
        for &i in &self.free_overflow {
            if let Some(v) = self.overflow.get_mut(i as usize) {
                *v = Vec::new();
            }
        }
        self.queue.shrink_to_fit();
    }

    fn place(
        &mut self,
        member_id: &str,
        signature: &[u32],
        at: DateTime<Utc>,
        target: Option<&str>,
    ) -> Result<Assignment, Error> {
        if signature.len() != SIGNATURE_LEN {
            return Err(Error::SignatureLength { expected: SIGNATURE_LEN, got: signature.len() });
        }
        self.expire(at);
        if let Some(&slot) = self.by_member.get(member_id)
            && let Some(assignment) = self.assignment_of(slot)
        {
            return Ok(assignment);
        }
        let indexed = !signature.iter().all(|&v| v == u32::MAX);
        // Restoring: the cluster named by the caller, if live (only its members may match).
        let target_slot = target.and_then(|id| self.by_cluster.get(id).copied());

        let mut keys = std::mem::take(&mut self.keys);
        keys.clear();
        // Best verified candidate: (equal values, cluster seq, cluster slot).
        let mut best: Option<(u32, u64, u32)> = None;
        if indexed {
            band_keys(self.config.bands, self.config.rows, signature, &mut keys);
        }
        // Restoring into a cluster that is not live: nothing to look for.
        if indexed && (target.is_none() || target_slot.is_some()) {
            self.epoch = self.epoch.wrapping_add(1);
            if self.epoch == 0 {
                self.stamps.fill(0);
                self.epoch = 1;
            }
            for (band, key) in keys.iter().enumerate() {
                let Some(bucket) = self.bands.get(band).and_then(|m| m.get(key)) else {
                    continue;
                };
                let slots: &[u32] = match bucket {
                    Bucket::One(s) => std::slice::from_ref(s),
                    Bucket::Many(i) => self.overflow.get(*i as usize).map_or(&[], Vec::as_slice),
                };
                for &cand in slots {
                    let Some(stamp) = self.stamps.get_mut(cand as usize) else {
                        continue;
                    };
                    if *stamp == self.epoch {
                        continue;
                    }
                    *stamp = self.epoch;
                    let start = cand as usize * SIGNATURE_LEN;
                    let Some(other) = self.signatures.get(start..start + SIGNATURE_LEN) else {
                        continue;
                    };
                    let same = equal_values(signature, other);
                    if same < self.min_same {
                        continue;
                    }
                    let Some(cluster_slot) =
                        self.members.get(cand as usize).and_then(|m| m.as_ref()).map(|m| m.cluster)
                    else {
                        continue;
                    };
                    if target_slot.is_some_and(|t| t != cluster_slot) {
                        continue;
                    }
                    let Some(cluster) = self.cluster_at(cluster_slot) else {
                        continue;
                    };
                    let better = match best {
                        None => true,
                        Some((best_same, best_seq, _)) => {
                            same > best_same || (same == best_same && cluster.seq < best_seq)
                        }
                    };
                    if better {
                        best = Some((same, cluster.seq, cluster_slot));
                    }
                }
            }
        }

        let (cluster_slot, new_cluster, similarity) = match (target, target_slot, best) {
            (None, _, Some((same, _, slot))) => (slot, false, same as f64 / SIGNATURE_LEN as f64),
            (Some(_), Some(slot), found) => {
                (slot, false, found.map_or(0.0, |(same, _, _)| same as f64 / SIGNATURE_LEN as f64))
            }
            (None, _, None) => self.open_or_find(member_id, at),
            (Some(id), None, _) => self.open_or_find(id, at),
        };

        let slot = self.alloc_member(Member {
            id: member_id.into(),
            at,
            cluster: cluster_slot,
            similarity: similarity as f32,
            new_cluster,
            indexed,
        });
        self.id_bytes += member_id.len();
        let start = slot as usize * SIGNATURE_LEN;
        if let Some(dest) = self.signatures.get_mut(start..start + SIGNATURE_LEN) {
            dest.copy_from_slice(signature);
        }
        if indexed {
            for (band, &key) in keys.iter().enumerate() {
                self.bucket_push(band, key, slot);
            }
        }
        self.keys = keys;
        let growth_micros = self.growth_micros;
        if let Some(cluster) = self.clusters.get_mut(cluster_slot as usize).and_then(Option::as_mut) {
            cluster.size += 1;
            cluster.first_at = cluster.first_at.min(at);
            cluster.last_at = cluster.last_at.max(at);
            growth_add(&mut cluster.growth, growth_index(at, growth_micros));
        }
        self.queue.push(Reverse((at, self.next_seq, slot)));
        self.next_seq += 1;
        self.by_member.insert(member_id.into(), slot);
        let size = self.cluster_at(cluster_slot).map_or(1, |c| c.size);
        let cluster_id = self.cluster_at(cluster_slot).map_or_else(|| member_id.to_string(), |c| c.id.to_string());
        Ok(Assignment { cluster_id, size, new_cluster, similarity })
    }

    /// Open a cluster named `id` (size 0, the caller adds the member), or, if a cluster with
    /// that id is still live (its first post re-delivered after leaving the window), return it.
    fn open_or_find(&mut self, id: &str, at: DateTime<Utc>) -> (u32, bool, f64) {
        if let Some(&slot) = self.by_cluster.get(id) {
            return (slot, false, 1.0);
        }
        let cluster = Cluster {
            id: id.into(),
            seq: self.next_cluster_seq,
            size: 0,
            first_at: at,
            last_at: at,
            growth: Vec::new(),
        };
        self.next_cluster_seq += 1;
        self.id_bytes += id.len();
        let slot = match self.free_clusters.pop() {
            Some(slot) => {
                if let Some(entry) = self.clusters.get_mut(slot as usize) {
                    *entry = Some(cluster);
                }
                slot
            }
            None => {
                self.clusters.push(Some(cluster));
                (self.clusters.len() - 1) as u32
            }
        };
        self.by_cluster.insert(id.into(), slot);
        (slot, true, 1.0)
    }

    fn alloc_member(&mut self, member: Member) -> u32 {
        if let Some(slot) = self.free_members.pop() {
            if let Some(entry) = self.members.get_mut(slot as usize) {
                *entry = Some(member);
            }
            return slot;
        }
        self.members.push(Some(member));
        self.signatures.resize(self.members.len() * SIGNATURE_LEN, 0);
        self.stamps.push(0);
        (self.members.len() - 1) as u32
    }

    fn bucket_push(&mut self, band: usize, key: u32, slot: u32) {
        let max = self.config.max_bucket;
        let Some(map) = self.bands.get_mut(band) else {
            return;
        };
        let Some(bucket) = map.get_mut(&key) else {
            map.insert(key, Bucket::One(slot));
            return;
        };
        match *bucket {
            Bucket::One(_) if max == 1 => *bucket = Bucket::One(slot),
            Bucket::One(old) => {
                let i = match self.free_overflow.pop() {
                    Some(i) => i,
                    None => {
                        self.overflow.push(Vec::new());
                        (self.overflow.len() - 1) as u32
                    }
                };
                if let Some(list) = self.overflow.get_mut(i as usize) {
                    list.clear();
                    list.push(old);
                    list.push(slot);
                }
                *bucket = Bucket::Many(i);
            }
            Bucket::Many(i) => {
                if let Some(list) = self.overflow.get_mut(i as usize) {
                    list.push(slot);
                    if list.len() > max {
                        list.remove(0);
                    }
                }
            }
        }
    }

    fn bucket_remove(&mut self, band: usize, key: u32, slot: u32) {
        let Some(map) = self.bands.get_mut(band) else {
            return;
        };
        let Some(bucket) = map.get_mut(&key) else {
            return;
        };
        let remove_key = match *bucket {
            Bucket::One(s) => s == slot,
            Bucket::Many(i) => {
                let Some(list) = self.overflow.get_mut(i as usize) else {
                    return;
                };
                if let Some(pos) = list.iter().position(|&s| s == slot) {
                    list.remove(pos);
                }
                match list.as_slice() {
                    [] => {
                        self.free_overflow.push(i);
                        true
                    }
                    [only] => {
                        *bucket = Bucket::One(*only);
                        list.clear();
                        self.free_overflow.push(i);
                        false
                    }
                    _ => false,
                }
            }
        };
        if remove_key {
            map.remove(&key);
        }
    }

    fn remove_member(&mut self, slot: u32) {
        let Some(member) = self.members.get_mut(slot as usize).and_then(Option::take) else {
            return;
        };
        self.free_members.push(slot);
        self.by_member.remove(&member.id);
        self.id_bytes = self.id_bytes.saturating_sub(member.id.len());
        if member.indexed {
            let start = slot as usize * SIGNATURE_LEN;
            let mut signature = [0u32; SIGNATURE_LEN];
            if let Some(stored) = self.signatures.get(start..start + SIGNATURE_LEN) {
                signature.copy_from_slice(stored);
            }
            let mut keys = std::mem::take(&mut self.keys);
            band_keys(self.config.bands, self.config.rows, &signature, &mut keys);
            for (band, &key) in keys.iter().enumerate() {
                self.bucket_remove(band, key, slot);
            }
            self.keys = keys;
        }
        let growth_micros = self.growth_micros;
        let Some(entry) = self.clusters.get_mut(member.cluster as usize) else {
            return;
        };
        let Some(cluster) = entry.as_mut() else {
            return;
        };
        cluster.size = cluster.size.saturating_sub(1);
        growth_remove(&mut cluster.growth, growth_index(member.at, growth_micros));
        if cluster.size == 0
            && let Some(gone) = entry.take()
        {
            self.by_cluster.remove(&gone.id);
            self.id_bytes = self.id_bytes.saturating_sub(gone.id.len());
            self.free_clusters.push(member.cluster);
        }
    }

    fn member_at(&self, slot: u32) -> Option<&Member> {
        self.members.get(slot as usize).and_then(Option::as_ref)
    }

    fn cluster_at(&self, slot: u32) -> Option<&Cluster> {
        self.clusters.get(slot as usize).and_then(Option::as_ref)
    }

    fn assignment_of(&self, slot: u32) -> Option<Assignment> {
        let member = self.member_at(slot)?;
        let cluster = self.cluster_at(member.cluster)?;
        Some(Assignment {
            cluster_id: cluster.id.to_string(),
            size: cluster.size,
            new_cluster: member.new_cluster,
            similarity: f64::from(member.similarity),
        })
    }

    fn view(&self, cluster: &Cluster) -> ClusterView {
        let growth = cluster
            .growth
            .iter()
            .filter_map(|&(index, members)| {
                let start = DateTime::from_timestamp_micros(index.checked_mul(self.growth_micros)?)?;
                Some(GrowthBucket { start, members: u64::from(members) })
            })
            .collect();
        ClusterView {
            id: cluster.id.to_string(),
            size: cluster.size,
            first_at: cluster.first_at,
            last_at: cluster.last_at,
            growth,
        }
    }

    /// Check the internal invariants (tests only): sizes add up, every member is in exactly one
    /// live cluster, buckets point only at live indexed members, maps agree with the slabs.
    #[cfg(test)]
    fn check_invariants(&self) {
        let mut sizes: HashMap<u32, u64> = HashMap::new();
        for (slot, member) in self.members.iter().enumerate() {
            let Some(member) = member else { continue };
            assert_eq!(self.by_member.get(&member.id), Some(&(slot as u32)));
            assert!(self.cluster_at(member.cluster).is_some(), "member {} in a dead cluster", member.id);
            *sizes.entry(member.cluster).or_default() += 1;
        }
        assert_eq!(self.by_member.len(), self.members.iter().flatten().count());
        let mut total = 0;
        for (slot, cluster) in self.clusters.iter().enumerate() {
            let Some(cluster) = cluster else { continue };
            assert_eq!(sizes.get(&(slot as u32)).copied().unwrap_or(0), cluster.size, "size of {}", cluster.id);
            assert!(cluster.size > 0);
            assert_eq!(cluster.growth.iter().map(|g| u64::from(g.1)).sum::<u64>(), cluster.size);
            assert_eq!(self.by_cluster.get(&cluster.id), Some(&(slot as u32)));
            total += cluster.size;
        }
        assert_eq!(total as usize, self.members());
        assert_eq!(self.by_cluster.len(), self.clusters.iter().flatten().count());
        assert_eq!(self.queue.len(), self.members());
        for map in &self.bands {
            for bucket in map.values() {
                let slots: Vec<u32> = match *bucket {
                    Bucket::One(s) => vec![s],
                    Bucket::Many(i) => self.overflow[i as usize].clone(),
                };
                assert!(!slots.is_empty() && slots.len() <= self.config.max_bucket);
                if let Bucket::Many(_) = bucket {
                    assert!(slots.len() >= 2);
                }
                for s in slots {
                    assert!(self.member_at(s).is_some_and(|m| m.indexed), "bucket points at dead slot {s}");
                }
            }
        }
    }
}

/// Number of positions where the two signatures agree.
fn equal_values(a: &[u32], b: &[u32]) -> u32 {
    a.iter().zip(b).map(|(x, y)| u32::from(x == y)).sum()
}

/// One bucket key per band: `xxh3` of the band's values (little-endian) seeded with the band.
fn band_keys(bands: usize, rows: usize, signature: &[u32], out: &mut Vec<u32>) {
    out.clear();
    let mut bytes = [0u8; SIGNATURE_LEN * 4];
    for (band, chunk) in signature.chunks_exact(rows).take(bands).enumerate() {
        for (dest, v) in bytes.chunks_exact_mut(4).zip(chunk) {
            dest.copy_from_slice(&v.to_le_bytes());
        }
        let hash = xxh3_64_with_seed(&bytes[..chunk.len() * 4], BAND_SEED ^ band as u64);
        out.push((hash >> 32) as u32);
    }
}

fn growth_index(at: DateTime<Utc>, width_micros: i64) -> i64 {
    at.timestamp_micros().div_euclid(width_micros)
}

fn growth_add(growth: &mut Vec<(i64, u32)>, index: i64) {
    match growth.binary_search_by_key(&index, |g| g.0) {
        Ok(pos) => {
            if let Some(g) = growth.get_mut(pos) {
                g.1 += 1;
            }
        }
        Err(pos) => growth.insert(pos, (index, 1)),
    }
}

fn growth_remove(growth: &mut Vec<(i64, u32)>, index: i64) {
    if let Ok(pos) = growth.binary_search_by_key(&index, |g| g.0) {
        let empty = growth.get_mut(pos).is_some_and(|g| {
            g.1 = g.1.saturating_sub(1);
            g.1 == 0
        });
        if empty {
            growth.remove(pos);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000, 0).unwrap() + Duration::minutes(minutes)
    }

    /// A signature with `base` at every position except the listed ones.
    fn sig(base: u32, changed: &[usize]) -> Vec<u32> {
        let mut s: Vec<u32> = (0..SIGNATURE_LEN as u32).map(|i| base.wrapping_mul(1000) + i).collect();
        for &i in changed {
            s[i] = 0xdead_0000 + i as u32 + base;
        }
        s
    }

    #[test]
    fn validate_names_the_bad_field() {
        let field = |c: ClusterConfig| match c.validate() {
            Err(Error::InvalidConfig { field, .. }) => field,
            other => panic!("expected an error, got {other:?}"),
        };
        assert!(ClusterConfig::default().validate().is_ok());
        assert_eq!(field(ClusterConfig { bands: 0, ..Default::default() }), "bands");
        assert_eq!(field(ClusterConfig { rows: 0, ..Default::default() }), "rows");
        assert_eq!(field(ClusterConfig { bands: 33, rows: 2, ..Default::default() }), "bands");
        assert_eq!(field(ClusterConfig { threshold: 0.0, ..Default::default() }), "threshold");
        assert_eq!(field(ClusterConfig { threshold: f64::NAN, ..Default::default() }), "threshold");
        assert_eq!(field(ClusterConfig { threshold: 1.5, ..Default::default() }), "threshold");
        assert_eq!(field(ClusterConfig { window: Duration::zero(), ..Default::default() }), "window");
        assert_eq!(field(ClusterConfig { max_bucket: 0, ..Default::default() }), "max_bucket");
        assert_eq!(
            field(ClusterConfig { growth_bucket: Duration::seconds(-1), ..Default::default() }),
            "growth_bucket"
        );
        assert!(ClusterIndex::new(ClusterConfig { rows: 0, ..Default::default() }).is_err());
        let err = ClusterConfig { max_bucket: 0, ..Default::default() }.validate().unwrap_err();
        assert!(err.to_string().contains("max_bucket"), "{err}");
    }

    #[test]
    fn threshold_is_inclusive_on_equal_values() {
        let mut index = ClusterIndex::new(ClusterConfig { threshold: 0.5, ..Default::default() }).unwrap();
        index.insert("a", &sig(1, &[]), t(0)).unwrap();
        // 32 of 64 equal (positions 32..64 changed; bands 0..16 still match): exactly 0.5.
        let changed: Vec<usize> = (32..64).collect();
        let joined = index.insert("b", &sig(1, &changed), t(1)).unwrap();
        assert_eq!(joined.cluster_id, "a");
        assert_eq!(joined.similarity, 0.5);
        // 31 of 64: below.
        let changed: Vec<usize> = (31..64).collect();
        let alone = index.insert("c", &sig(1, &changed), t(2)).unwrap();
        // "c" shares bands with "b" too (same changed values at 32..64): 63 equal values.
        assert_eq!(alone.cluster_id, "a");
        let mut other: Vec<u32> = sig(1, &(31..64).collect::<Vec<_>>());
        for v in other.iter_mut().skip(31) {
            *v ^= 0x5555;
        }
        let separate = index.insert("d", &other, t(3)).unwrap();
        assert!(separate.new_cluster);
        assert_eq!(separate.cluster_id, "d");
        index.check_invariants();
    }

    #[test]
    fn wrong_length_is_refused() {
        let mut index = ClusterIndex::new(ClusterConfig::default()).unwrap();
        let err = index.insert("a", &[1, 2, 3], t(0)).unwrap_err();
        assert_eq!(err, Error::SignatureLength { expected: SIGNATURE_LEN, got: 3 });
        assert!(index.is_empty());
    }

    #[test]
    fn ties_go_to_the_oldest_cluster() {
        let mut index = ClusterIndex::new(ClusterConfig { threshold: 0.5, ..Default::default() }).unwrap();
        let x = sig(9, &(32..64).collect::<Vec<_>>());
        let mut y = sig(9, &(0..32).collect::<Vec<_>>());
        for v in y.iter_mut().take(32) {
            *v ^= 0x0f0f;
        }
        index.insert("y", &y, t(0)).unwrap();
        let x_assigned = index.insert("x", &x, t(1)).unwrap();
        assert!(x_assigned.new_cluster, "x and y share no value: {x_assigned:?}");
        // The newcomer equals x on 0..32 (the bands looked at first) and y on 32..64: a tie at
        // 0.5, and y is the older cluster.
        let z = sig(9, &[]);
        let z_assigned = index.insert("z", &z, t(2)).unwrap();
        assert_eq!(z_assigned.cluster_id, "y");
        assert_eq!(z_assigned.similarity, 0.5);
        index.check_invariants();
    }

    #[test]
    fn growth_counts_live_members_per_hour() {
        let mut index = ClusterIndex::new(ClusterConfig::default()).unwrap();
        let s = sig(3, &[]);
        // t(0) is 2025-06-15T15:06:40Z; hours start at 15:00, 16:00, 17:00.
        for (i, minute) in [0, 10, 60, 61, 62, 125].into_iter().enumerate() {
            index.insert(&format!("m{i}"), &s, t(minute)).unwrap();
        }
        let view = index.cluster("m0").unwrap();
        assert_eq!(view.size, 6);
        assert_eq!(view.first_at, t(0));
        assert_eq!(view.last_at, t(125));
        let counts: Vec<u64> = view.growth.iter().map(|g| g.members).collect();
        assert_eq!(counts, vec![2, 3, 1]);
        assert_eq!(view.growth[0].start.to_rfc3339(), "2025-06-15T15:00:00+00:00");
        // A day after the first, the first leaves; its hour shrinks.
        index.expire(t(24 * 60));
        let view = index.cluster("m0").unwrap();
        assert_eq!(view.size, 5);
        assert_eq!(view.growth.iter().map(|g| g.members).collect::<Vec<_>>(), vec![1, 3, 1]);
        index.check_invariants();
    }

    #[test]
    fn restore_keeps_recorded_ids() {
        let mut index = ClusterIndex::new(ClusterConfig::default()).unwrap();
        let s = sig(5, &[1, 2]);
        let first = index.restore("p2", &s, t(0), "p1").unwrap();
        assert_eq!(first.cluster_id, "p1");
        let second = index.restore("p3", &sig(5, &[]), t(1), "p1").unwrap();
        assert_eq!(second.cluster_id, "p1");
        assert_eq!(second.size, 2);
        assert!((second.similarity - 62.0 / 64.0).abs() < 1e-9, "{second:?}");
        // New posts find restored members as usual.
        let next = index.insert("p4", &sig(5, &[3]), t(2)).unwrap();
        assert_eq!(next.cluster_id, "p1");
        assert_eq!(next.size, 3);
        index.check_invariants();
    }

    #[test]
    fn buckets_stay_bounded() {
        let config = ClusterConfig { max_bucket: 4, ..Default::default() };
        let mut index = ClusterIndex::new(config).unwrap();
        let s = sig(11, &[]);
        for i in 0..100 {
            let a = index.insert(&format!("m{i}"), &s, t(i)).unwrap();
            assert_eq!(a.cluster_id, "m0");
            assert_eq!(a.size, i as u64 + 1);
        }
        index.check_invariants();
        // Expire everything in order: buckets empty, nothing left.
        index.expire(t(100 + 24 * 60));
        assert!(index.is_empty());
        assert_eq!(index.len(), 0);
        assert!(index.bands.iter().all(HashMap::is_empty));
        index.check_invariants();
        index.shrink_to_fit();
        assert!(index.memory_bytes() < 10_000, "{}", index.memory_bytes());
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Insert a member (index into a small id space, so ids repeat) with a signature drawn
        /// from a small alphabet (so posts collide) at minute offset.
        Insert {
            id: u8,
            family: u8,
            noise: Vec<(u8, u32)>,
            minute: i64,
        },
        Expire {
            minute: i64,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (any::<u8>(), 0u8..6, proptest::collection::vec((0u8..64, 0u32..4), 0..40), 0i64..3000)
                .prop_map(|(id, family, noise, minute)| Op::Insert { id, family, noise, minute }),
            1 => (0i64..3000).prop_map(|minute| Op::Expire { minute }),
        ]
    }

    fn signature_of(family: u8, noise: &[(u8, u32)]) -> Vec<u32> {
        if family == 0 {
            return vec![u32::MAX; SIGNATURE_LEN];
        }
        let mut s = vec![u32::from(family); SIGNATURE_LEN];
        for &(pos, v) in noise {
            s[pos as usize] = u32::from(family) * 10 + v;
        }
        s
    }

    fn run(ops: &[Op], config: &ClusterConfig) -> (ClusterIndex, Vec<Option<Assignment>>) {
        let mut index = ClusterIndex::new(config.clone()).unwrap();
        let mut out = Vec::new();
        for op in ops {
            match op {
                Op::Insert { id, family, noise, minute } => {
                    let id = format!("m{id}");
                    // A live member, or a cluster named after an expired member with this id.
                    let known = index.cluster_of(&id).is_some() || index.cluster(&id).is_some();
                    let assignment = index.insert(&id, &signature_of(*family, noise), t(*minute)).unwrap();
                    assert_eq!(index.cluster_of(&id), Some(assignment.cluster_id.as_str()));
                    assert_eq!(index.cluster(&assignment.cluster_id).map(|c| c.size), Some(assignment.size));
                    if *family == 0 && !known {
                        assert_eq!(assignment.size, 1, "an empty signature joined something");
                    }
                    out.push(Some(assignment));
                }
                Op::Expire { minute } => {
                    index.expire(t(*minute));
                    out.push(None);
                }
            }
        }
        (index, out)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn sizes_add_up_and_replay_is_identical(
            ops in proptest::collection::vec(op(), 1..200),
            max_bucket in 1usize..6,
            window_minutes in 30i64..2000,
        ) {
            let config = ClusterConfig {
                max_bucket,
                window: Duration::minutes(window_minutes),
                ..Default::default()
            };
            let (index, first) = run(&ops, &config);
            index.check_invariants();
            let sum: u64 = index.clusters().map(|c| c.size).sum();
            prop_assert_eq!(sum as usize, index.members());
            prop_assert_eq!(index.clusters().count(), index.len());
            let largest = index.largest(3);
            prop_assert!(largest.windows(2).all(|w| w[0].size >= w[1].size));
            let (again, second) = run(&ops, &config);
            prop_assert_eq!(first, second);
            let mut a: Vec<_> = index.clusters().map(|c| (c.id, c.size, c.first_at, c.last_at, c.growth)).collect();
            let mut b: Vec<_> = again.clusters().map(|c| (c.id, c.size, c.first_at, c.last_at, c.growth)).collect();
            a.sort_by(|x, y| x.0.cmp(&y.0));
            b.sort_by(|x, y| x.0.cmp(&y.0));
            prop_assert_eq!(a, b);
        }
    }
}
