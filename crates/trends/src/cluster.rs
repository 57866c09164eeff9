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
//!    Jaccard, the share of equal positions, as `tend_text::estimated_jaccard` computes it, on
//!    16-bit fingerprints of the values: see [Memory](#memory)); only
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
//! machine): 54,000–60,000 inserts/s, p50 6 µs, p99 130–160 µs per insert. A band table that
//! fills up is rebuilt whole (a few milliseconds at 100,000 members), so an insert now and then
//! takes that long (the max).
//!
//! # The window
//!
//! The window is `window` or the last [`ClusterConfig::max_members`] posts, whichever is
//! shorter. A member is live while `now - at < window`, and while fewer than `max_members`
//! members are newer than it: an insert or restore that would exceed the cap first drops the
//! oldest members (by `at`, the order `expire` uses), exactly as if they had expired. [`ClusterIndex::expire`] pops members whose age
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
//! Bounded by the live members, at most [`ClusterConfig::max_members`]: about 460 bytes per
//! member with the defaults (the benchmark's count of every container's capacity at 100,000
//! live members; before this layout it was 1,200). A member is one 200-byte slot in a slab of
//! pages: its signature as 64 16-bit fingerprints (128 B), its id inline up to 38 bytes (a UUID
//! fits; a longer id goes to the heap), its time, insert sequence and cluster. Each of the 32
//! bands is an open-addressing table of 4-byte entries (the slot in 24 bits, 8 bits of the
//! key's hash) kept 55–75 % full: ≈ 200 B. The id table (≈ 7 B) and the expiry queue (24 B and
//! its spare capacity) make the rest. A cluster of one, most clusters, has no record of its own:
//! its id, times and growth are its member's; a record (≈ 100 B) exists only for a cluster that
//! another post joined, or that a restore opened under another id. Tables and the queue keep
//! their peak capacity; [`ClusterIndex::shrink_to_fit`] returns it after a burst.
//! [`ClusterIndex::memory_bytes`] counts it all (the allocator's overhead comes on top).
//!
//! Verification compares the 16-bit fingerprints (b-bit MinHash): two different values count
//! as equal with probability 2⁻¹⁶, so an estimate is high by one value in 64 about once in
//! 2,000 comparisons of posts that share half their values. On the benchmark, every assignment
//! (cluster, size, new or not) is the same as with the full 32-bit values; 10 of 200,000 report
//! a similarity 1/64 higher.
//!
//! # Threads
//!
//! The index is plain data (`Send + Sync`); `insert` and `expire` take `&mut self`. Routing owns
//! one per tenant in one task, or behind a mutex; inserts are a few microseconds.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

/// Number of values in a signature (`tend_text::PERMUTATIONS`; a test checks they agree).
pub const SIGNATURE_LEN: usize = 64;

/// Largest [`ClusterConfig::max_members`]: bucket entries hold a member's slot in 24 bits.
const MAX_MEMBERS: usize = (1 << SLOT_BITS) - 2;

/// Seed of the bucket-key hash ("tendclus"), mixed with the band index.
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
    /// Most live members (default 200,000; at most 16,777,214): bounds the memory of one index
    /// at about 400 bytes per member (80 MB with the default). When an insert or a restore
    /// would exceed it, the oldest members (by their `at`, the order [`ClusterIndex::expire`]
    /// uses) leave first, exactly as if they had expired; the new post itself is always placed.
    /// The window is therefore `window` or the last `max_members` posts, whichever is shorter:
    /// size it for the busiest tenant's posts per window (1,000 posts/s over 2 hours is
    /// 7,200,000).
    pub max_members: usize,
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
            max_members: 200_000,
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
        if self.max_members == 0 || self.max_members > MAX_MEMBERS {
            return bad("max_members", format!("must be in 1..={MAX_MEMBERS}, got {}", self.max_members));
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

/// Longest id kept inline; longer ids go to the heap.
const INLINE_ID: usize = 38;

/// A member or cluster id, stored once: inline up to [`INLINE_ID`] bytes (a UUID has 36), so
/// most ids cost no allocation. 40 bytes.
#[derive(Clone)]
enum Id {
    Inline { len: u8, bytes: [u8; INLINE_ID] },
    Heap(Box<str>),
}

impl Id {
    const EMPTY: Id = Id::Inline { len: 0, bytes: [0; INLINE_ID] };

    fn new(id: &str) -> Id {
        if id.len() > INLINE_ID {
            return Id::Heap(id.into());
        }
        let mut bytes = [0; INLINE_ID];
        if let Some(dest) = bytes.get_mut(..id.len()) {
            dest.copy_from_slice(id.as_bytes());
        }
        Id::Inline { len: id.len() as u8, bytes }
    }

    fn as_str(&self) -> &str {
        match self {
            Id::Inline { len, bytes } => {
                // Copied from a `&str` whole, so always valid.
                std::str::from_utf8(bytes.get(..usize::from(*len)).unwrap_or_default()).unwrap_or_default()
            }
            Id::Heap(id) => id,
        }
    }

    /// Bytes held on the heap.
    fn heap_bytes(&self) -> usize {
        match self {
            Id::Inline { .. } => 0,
            Id::Heap(id) => id.len(),
        }
    }
}

fn id_hash(id: &str) -> u64 {
    xxh3_64(id.as_bytes())
}

/// A member is kept as 16-bit fingerprints of its 64 signature values (b-bit MinHash with
/// b = 16): two different values get the same fingerprint with probability 2⁻¹⁶.
type Fingerprints = [u16; SIGNATURE_LEN];

fn fingerprint(value: u32) -> u16 {
    (u64::from(value).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 48) as u16
}

/// `Slot::flags`: the slot holds a live member.
const LIVE: u8 = 1;
/// `Slot::flags`: the member opened its cluster (as first answered).
const NEW_CLUSTER: u8 = 2;
/// `Slot::flags`: the signature is not empty, so the member is in buckets.
const INDEXED: u8 = 4;
/// `Slot::cluster` of a member alone in a cluster that has no [`Cluster`] record: a cluster of
/// one whose id, sequence and times are the member's own (most posts are such clusters).
const SOLO: u32 = u32::MAX;

/// A member (live when `flags & LIVE`), 200 bytes, in [`Slab`].
#[derive(Clone)]
struct Slot {
    sig: Fingerprints,
    id: Id,
    at: DateTime<Utc>,
    /// Insert sequence: expiry order among equal `at`, bucket order, and, for a [`SOLO`]
    /// member, its cluster's creation order.
    seq: u64,
    /// Slot in [`ClusterIndex::clusters`], or [`SOLO`].
    cluster: u32,
    /// Insert number that last verified this member (dedupes candidates across bands).
    stamp: u16,
    /// Equal signature values with the member it matched, as first answered (64 = 1.0).
    same: u8,
    flags: u8,
}

/// Members per slab page: pages never move, and a page is at most 200 KB of slack.
const PAGE_BITS: u32 = 10;
const PAGE: usize = 1 << PAGE_BITS;

/// The members, addressed by slot (`u32`); freed slots are reused first.
#[derive(Clone, Default)]
struct Slab {
    pages: Vec<Vec<Slot>>,
    free: Vec<u32>,
}

impl Slab {
    fn get(&self, slot: u32) -> Option<&Slot> {
        let slot = slot as usize;
        self.pages.get(slot >> PAGE_BITS)?.get(slot & (PAGE - 1)).filter(|s| s.flags & LIVE != 0)
    }

    fn get_mut(&mut self, slot: u32) -> Option<&mut Slot> {
        let slot = slot as usize;
        self.pages.get_mut(slot >> PAGE_BITS)?.get_mut(slot & (PAGE - 1)).filter(|s| s.flags & LIVE != 0)
    }

    fn alloc(&mut self, member: Slot) -> u32 {
        if let Some(slot) = self.free.pop() {
            let index = slot as usize;
            if let Some(entry) = self.pages.get_mut(index >> PAGE_BITS).and_then(|p| p.get_mut(index & (PAGE - 1))) {
                *entry = member;
            }
            return slot;
        }
        let full = self.pages.last().is_none_or(|p| p.len() == PAGE);
        if full {
            self.pages.push(Vec::new());
        }
        let before = (self.pages.len() - 1) * PAGE;
        let page = self.pages.last_mut().map_or(0, |p| {
            p.push(member);
            p.len() - 1
        });
        (before + page) as u32
    }

    fn free(&mut self, slot: u32) {
        let index = slot as usize;
        if let Some(entry) = self.pages.get_mut(index >> PAGE_BITS).and_then(|p| p.get_mut(index & (PAGE - 1))) {
            entry.flags = 0;
            entry.id = Id::EMPTY;
            self.free.push(slot);
        }
    }

    fn live(&self) -> impl Iterator<Item = (u32, &Slot)> {
        self.pages.iter().enumerate().flat_map(|(p, page)| {
            page.iter().enumerate().filter(|(_, s)| s.flags & LIVE != 0).map(move |(i, s)| ((p * PAGE + i) as u32, s))
        })
    }
}

/// Bits of a table entry holding `slot + 1`; the 8 bits above hold a tag of the key's hash.
const SLOT_BITS: u32 = 24;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
const TAG_MASK: u32 = !SLOT_MASK;
const EMPTY: u32 = 0;
/// A removed entry (slot bits zero, unlike any live entry); reused by later inserts.
const TOMB: u32 = 1 << SLOT_BITS;
const MIN_TABLE: usize = 16;

fn tag_of(hash: u64) -> u32 {
    (hash as u32) & TAG_MASK
}

fn entry_of(hash: u64, slot: u32) -> u32 {
    tag_of(hash) | ((slot + 1) & SLOT_MASK)
}

/// An open-addressing multimap from a 64-bit key hash to slots, 4 bytes an entry: linear
/// probing over any capacity (the home is `hash × capacity >> 64`), 8 bits of the hash kept as a
/// tag so a probe rarely looks at a slot that is not a match, the key itself not kept (the
/// caller checks it on the slot: the band values, the id). Removal leaves a tombstone unless it
/// ends a run. Kept at most 75 % full, tombstones included; when full, the table is rebuilt at
/// 55 % (growing) or at the same capacity (dropping tombstones), recomputing each entry's hash
/// from its slot. Never shrinks on its own (see [`ClusterIndex::shrink_to_fit`]).
#[derive(Clone, Default)]
struct SlotTable {
    entries: Vec<u32>,
    live: usize,
    tombs: usize,
}

impl SlotTable {
    fn home(&self, hash: u64) -> usize {
        (((hash >> 32) * self.entries.len() as u64) >> 32) as usize
    }

    /// Call `found(position, slot)` for every entry whose tag matches `hash`, in probe order;
    /// return where a new entry would go (the first tombstone, or the empty entry ending the
    /// run), `None` for a table without capacity.
    fn scan(&self, hash: u64, mut found: impl FnMut(usize, u32)) -> Option<usize> {
        let capacity = self.entries.len();
        if capacity == 0 {
            return None;
        }
        let tag = tag_of(hash);
        let mut pos = self.home(hash);
        let mut free = None;
        loop {
            let entry = self.entries[pos];
            if entry == EMPTY {
                return Some(free.unwrap_or(pos));
            }
            if entry & SLOT_MASK == 0 {
                free = free.or(Some(pos));
            } else if entry & TAG_MASK == tag {
                found(pos, (entry & SLOT_MASK) - 1);
            }
            pos += 1;
            if pos == capacity {
                pos = 0;
            }
        }
    }

    /// The first slot with a matching tag for which `is_key` holds.
    fn find(&self, hash: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut hit = None;
        self.scan(hash, |_, slot| {
            if hit.is_none() && is_key(slot) {
                hit = Some(slot);
            }
        });
        hit
    }

    /// Add `slot` under `hash` at `pos` (from [`SlotTable::scan`], nothing changed since), then
    /// grow or clean up if the table is too full. `hash_of` gives the hash of any slot in it.
    fn put(&mut self, pos: Option<usize>, hash: u64, slot: u32, hash_of: impl Fn(u32) -> u64) {
        let pos = match pos {
            Some(pos) => pos,
            None => {
                self.rebuild(MIN_TABLE, &hash_of);
                match self.scan(hash, |_, _| {}) {
                    Some(pos) => pos,
                    None => return,
                }
            }
        };
        if let Some(entry) = self.entries.get_mut(pos) {
            if *entry == TOMB {
                self.tombs -= 1;
            }
            *entry = entry_of(hash, slot);
            self.live += 1;
        }
        if (self.live + self.tombs) * 4 > self.entries.len() * 3 {
            // Back to 55 % full, never smaller: growth, or a clean-up of tombstones.
            let capacity = (self.live * 100 / 55 + 1).max(self.entries.len()).max(MIN_TABLE);
            self.rebuild(capacity, &hash_of);
        }
    }

    fn insert(&mut self, hash: u64, slot: u32, hash_of: impl Fn(u32) -> u64) {
        let pos = self.scan(hash, |_, _| {});
        self.put(pos, hash, slot, hash_of);
    }

    /// Overwrite the entry at `pos` (from [`SlotTable::scan`]) with `slot` under `hash`.
    fn replace(&mut self, pos: usize, hash: u64, slot: u32) {
        if let Some(entry) = self.entries.get_mut(pos) {
            *entry = entry_of(hash, slot);
        }
    }

    /// Remove the entry of `slot` under `hash`, if there is one.
    fn remove(&mut self, hash: u64, slot: u32) -> bool {
        let capacity = self.entries.len();
        let wanted = entry_of(hash, slot);
        let mut at = None;
        self.scan(hash, |pos, _| {
            if at.is_none() && self.entries[pos] == wanted {
                at = Some(pos);
            }
        });
        let Some(pos) = at else {
            return false;
        };
        self.live -= 1;
        if self.entries[(pos + 1) % capacity] != EMPTY {
            self.entries[pos] = TOMB;
            self.tombs += 1;
            return true;
        }
        // The run ends here: this entry and the tombstones just before it become empty.
        self.entries[pos] = EMPTY;
        let mut prev = (pos + capacity - 1) % capacity;
        while self.entries[prev] == TOMB {
            self.entries[prev] = EMPTY;
            self.tombs -= 1;
            prev = (prev + capacity - 1) % capacity;
        }
        true
    }

    fn rebuild(&mut self, capacity: usize, hash_of: impl Fn(u32) -> u64) {
        let old = std::mem::replace(&mut self.entries, vec![EMPTY; capacity]);
        self.tombs = 0;
        if capacity == 0 {
            return;
        }
        for entry in old {
            if entry & SLOT_MASK == 0 {
                continue;
            }
            let slot = (entry & SLOT_MASK) - 1;
            let hash = hash_of(slot);
            let mut pos = self.home(hash);
            while self.entries[pos] != EMPTY {
                pos += 1;
                if pos == capacity {
                    pos = 0;
                }
            }
            self.entries[pos] = entry_of(hash, slot);
        }
    }

    /// Rebuild at about 80 % full (empty when nothing is left).
    fn shrink(&mut self, hash_of: impl Fn(u32) -> u64) {
        let capacity = if self.live == 0 { 0 } else { (self.live * 5 / 4 + 1).max(MIN_TABLE) };
        self.rebuild(capacity, hash_of);
    }

    fn bytes(&self) -> usize {
        self.entries.capacity() * 4
    }
}

/// A cluster with a record: more than one member joined it, or a restore opened it under an id
/// that is not its member's.
#[derive(Debug, Clone)]
struct Cluster {
    id: Box<str>,
    /// Creation order (the `seq` of the member that opened it), for "ties go to the oldest".
    seq: u64,
    size: u64,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
    /// (time bucket index, live members that arrived in it), sorted by index.
    growth: Vec<(i64, u32)>,
}

/// Where a cluster lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClusterRef {
    /// Its record, in [`ClusterIndex::clusters`].
    Record(u32),
    /// Its only member, a [`SOLO`] slot.
    Solo(u32),
}

/// What one band's lookup found, for adding the new member afterwards.
#[derive(Debug, Clone, Copy)]
struct BandScan {
    hash: u64,
    /// Where a new entry goes.
    free: Option<usize>,
    /// Members in the bucket (same band values).
    count: usize,
    /// The bucket's oldest member: (seq, entry position).
    oldest: Option<(u64, usize)>,
}

/// Incremental near-duplicate clusters of one tenant's recent posts (see the module docs).
#[derive(Clone)]
pub struct ClusterIndex {
    config: ClusterConfig,
    /// `threshold` as a count of equal signature values.
    min_same: u32,
    growth_micros: i64,
    slab: Slab,
    /// Member id → slot.
    by_member: SlotTable,
    /// One table per band: band values → slots (up to `max_bucket` per key).
    bands: Vec<SlotTable>,
    /// Cluster records; `None` slots are listed in `free_clusters`.
    clusters: Vec<Option<Cluster>>,
    free_clusters: Vec<u32>,
    /// Cluster id → record slot.
    by_cluster: SlotTable,
    /// Live [`SOLO`] clusters.
    solo: usize,
    /// Expiry order: (at, insert sequence, member slot), oldest on top.
    queue: BinaryHeap<Reverse<(DateTime<Utc>, u64, u32)>>,
    next_seq: u64,
    /// Stamp of the current insert.
    epoch: u16,
    /// Scratch for the band lookups of one insert.
    scans: Vec<BandScan>,
    /// Bytes of ids on the heap (longer than [`INLINE_ID`]), for [`ClusterIndex::memory_bytes`].
    heap_id_bytes: usize,
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

/// Hash of band `band` of fingerprints `sig` (`rows` values).
fn band_hash(band: usize, rows: usize, sig: &Fingerprints) -> u64 {
    let values = sig.get(band * rows..(band + 1) * rows).unwrap_or_default();
    let mut h = BAND_SEED ^ (band as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for chunk in values.chunks(4) {
        let word = chunk.iter().enumerate().fold(0u64, |w, (i, &v)| w | (u64::from(v) << (16 * i)));
        h = (h ^ word).wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 32;
    }
    mix64(h)
}

/// The SplitMix64 finaliser.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn band_hash_of(slab: &Slab, band: usize, rows: usize, slot: u32) -> u64 {
    slab.get(slot).map_or(0, |m| band_hash(band, rows, &m.sig))
}

fn id_hash_of(slab: &Slab, slot: u32) -> u64 {
    slab.get(slot).map_or(0, |m| id_hash(m.id.as_str()))
}

fn cluster_hash_of(clusters: &[Option<Cluster>], slot: u32) -> u64 {
    clusters.get(slot as usize).and_then(Option::as_ref).map_or(0, |c| id_hash(&c.id))
}

impl ClusterIndex {
    /// An empty index; fails if the configuration does not [validate](ClusterConfig::validate).
    pub fn new(config: ClusterConfig) -> Result<Self, Error> {
        config.validate()?;
        let min_same = ((config.threshold * SIGNATURE_LEN as f64) - 1e-9).ceil().max(1.0) as u32;
        let growth_micros = config.growth_bucket.num_microseconds().unwrap_or(1).max(1);
        Ok(ClusterIndex {
            min_same,
            growth_micros,
            slab: Slab::default(),
            by_member: SlotTable::default(),
            bands: vec![SlotTable::default(); config.bands],
            clusters: Vec::new(),
            free_clusters: Vec::new(),
            by_cluster: SlotTable::default(),
            solo: 0,
            queue: BinaryHeap::new(),
            next_seq: 0,
            epoch: 0,
            scans: Vec::with_capacity(config.bands),
            heap_id_bytes: 0,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// Place a post: expire members older than the window ending at `at` (and the oldest
    /// beyond [`ClusterConfig::max_members`]), then join the cluster of the most similar
    /// verified candidate or open a new cluster named `member_id`.
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
        while let Some(&Reverse((at, _, _))) = self.queue.peek() {
            if at > cutoff {
                break;
            }
            self.drop_oldest();
            dropped += 1;
        }
        dropped
    }

    /// The live cluster with this id.
    pub fn cluster(&self, id: &str) -> Option<ClusterView> {
        self.find_cluster(id).map(|c| self.view(c))
    }

    /// The id of the cluster a live member is in.
    pub fn cluster_of(&self, member_id: &str) -> Option<&str> {
        let slot = self.member_slot(member_id)?;
        let member = self.slab.get(slot)?;
        if member.cluster == SOLO {
            return Some(member.id.as_str());
        }
        self.record(member.cluster).map(|c| &*c.id)
    }

    /// The `n` largest live clusters, largest first (ties: oldest first). Scans all clusters.
    pub fn largest(&self, n: usize) -> Vec<ClusterView> {
        // (size, creation order) of every live cluster; clusters of one only if needed.
        let mut live: Vec<(u64, u64, ClusterRef)> = self
            .clusters
            .iter()
            .enumerate()
            .filter_map(|(slot, c)| c.as_ref().map(|c| (c.size, c.seq, ClusterRef::Record(slot as u32))))
            .filter(|c| c.0 > 1)
            .collect();
        if live.len() < n {
            live.extend(
                self.clusters
                    .iter()
                    .enumerate()
                    .filter_map(|(slot, c)| c.as_ref().map(|c| (c.size, c.seq, ClusterRef::Record(slot as u32))))
                    .filter(|c| c.0 == 1),
            );
            live.extend(
                self.slab.live().filter(|(_, m)| m.cluster == SOLO).map(|(s, m)| (1, m.seq, ClusterRef::Solo(s))),
            );
        }
        let order = |a: &(u64, u64, ClusterRef), b: &(u64, u64, ClusterRef)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
        if n < live.len() {
            live.select_nth_unstable_by(n, order);
            live.truncate(n);
        }
        live.sort_unstable_by(order);
        live.into_iter().map(|(_, _, c)| self.view(c)).collect()
    }

    /// Every live cluster, in no particular order.
    pub fn clusters(&self) -> impl Iterator<Item = ClusterView> + '_ {
        let records =
            self.clusters.iter().enumerate().filter(|(_, c)| c.is_some()).map(|(s, _)| ClusterRef::Record(s as u32));
        let solos = self.slab.live().filter(|(_, m)| m.cluster == SOLO).map(|(s, _)| ClusterRef::Solo(s));
        records.chain(solos).map(|c| self.view(c))
    }

    /// Number of live clusters.
    pub fn len(&self) -> usize {
        self.by_cluster.live + self.solo
    }

    /// True when no member is live.
    pub fn is_empty(&self) -> bool {
        self.by_member.live == 0
    }

    /// Number of live members (the sum of all cluster sizes).
    pub fn members(&self) -> usize {
        self.by_member.live
    }

    /// Heap bytes held (the capacity of every container, and ids too long to be kept inline),
    /// for capacity planning; the allocator's own overhead comes on top.
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        let slab = self.slab.pages.iter().map(|p| p.capacity() * size_of::<Slot>()).sum::<usize>()
            + self.slab.pages.capacity() * size_of::<Vec<Slot>>()
            + self.slab.free.capacity() * 4;
        let tables = self.bands.iter().map(SlotTable::bytes).sum::<usize>()
            + self.bands.capacity() * size_of::<SlotTable>()
            + self.by_member.bytes()
            + self.by_cluster.bytes();
        let clusters = self.clusters.capacity() * size_of::<Option<Cluster>>()
            + self.free_clusters.capacity() * 4
            + self
                .clusters
                .iter()
                .flatten()
                .map(|c| c.growth.capacity() * size_of::<(i64, u32)>() + c.id.len())
                .sum::<usize>();
        slab + tables
            + clusters
            + self.queue.capacity() * size_of::<Reverse<(DateTime<Utc>, u64, u32)>>()
            + self.scans.capacity() * size_of::<BandScan>()
            + self.heap_id_bytes
    }

    /// Give back capacity kept from a past peak (after a burst has left the window).
    pub fn shrink_to_fit(&mut self) {
        let pages = &mut self.slab.pages;
        while let Some(page) = pages.last_mut() {
            while page.last().is_some_and(|s| s.flags & LIVE == 0) {
                page.pop();
            }
            if !page.is_empty() {
                break;
            }
            pages.pop();
        }
        let slots = pages.iter().map(Vec::len).sum::<usize>();
        if let Some(page) = pages.last_mut() {
            page.shrink_to_fit();
        }
        pages.shrink_to_fit();
        self.slab.free.retain(|&s| (s as usize) < slots);
        self.slab.free.shrink_to_fit();
        let rows = self.config.rows;
        for (band, table) in self.bands.iter_mut().enumerate() {
            let slab = &self.slab;
            table.shrink(|s| band_hash_of(slab, band, rows, s));
        }
        self.by_member.shrink(|s| id_hash_of(&self.slab, s));
        while let Some(None) = self.clusters.last() {
            self.clusters.pop();
        }
        let records = self.clusters.len() as u32;
        self.free_clusters.retain(|&s| s < records);
        self.clusters.shrink_to_fit();
        self.free_clusters.shrink_to_fit();
        self.by_cluster.shrink(|s| cluster_hash_of(&self.clusters, s));
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
        if let Some(slot) = self.member_slot(member_id)
            && let Some(assignment) = self.assignment_of(slot)
        {
            return Ok(assignment);
        }
        // Room for one more: the oldest leave first.
        while self.members() >= self.config.max_members && self.drop_oldest() {}

        let indexed = !signature.iter().all(|&v| v == u32::MAX);
        let mut sig: Fingerprints = [0; SIGNATURE_LEN];
        for (dest, &value) in sig.iter_mut().zip(signature) {
            *dest = fingerprint(value);
        }
        // Restoring: the cluster named by the caller, if live (only its members may match).
        let target_ref = target.and_then(|id| self.find_cluster(id));
        // Restoring into a cluster that is not live: nothing to look for.
        let search = target.is_none() || target_ref.is_some();
        // Best verified candidate: (equal values, cluster seq, cluster).
        let mut best: Option<(u32, u64, ClusterRef)> = None;
        let mut scans = std::mem::take(&mut self.scans);
        scans.clear();
        if indexed {
            self.epoch = self.epoch.wrapping_add(1);
            if self.epoch == 0 {
                for page in &mut self.slab.pages {
                    for member in page {
                        member.stamp = 0;
                    }
                }
                self.epoch = 1;
            }
            let (rows, min_same, epoch) = (self.config.rows, self.min_same, self.epoch);
            let ClusterIndex { bands, slab, clusters, .. } = self;
            for (band, table) in bands.iter().enumerate() {
                let values = sig.get(band * rows..(band + 1) * rows).unwrap_or_default();
                let hash = band_hash(band, rows, &sig);
                let (mut count, mut oldest) = (0, None::<(u64, usize)>);
                let free = table.scan(hash, |pos, cand| {
                    let Some(other) = slab.get_mut(cand) else {
                        return;
                    };
                    if other.sig.get(band * rows..(band + 1) * rows) != Some(values) {
                        return;
                    }
                    count += 1;
                    if oldest.is_none_or(|(seq, _)| other.seq < seq) {
                        oldest = Some((other.seq, pos));
                    }
                    if !search || other.stamp == epoch {
                        return;
                    }
                    other.stamp = epoch;
                    let same = equal_values(&sig, &other.sig);
                    if same < min_same {
                        return;
                    }
                    let (cluster, seq) = if other.cluster == SOLO {
                        (ClusterRef::Solo(cand), other.seq)
                    } else {
                        match clusters.get(other.cluster as usize).and_then(Option::as_ref) {
                            Some(c) => (ClusterRef::Record(other.cluster), c.seq),
                            None => return,
                        }
                    };
                    if target_ref.is_some_and(|t| t != cluster) {
                        return;
                    }
                    let better = match best {
                        None => true,
                        Some((best_same, best_seq, _)) => same > best_same || (same == best_same && seq < best_seq),
                    };
                    if better {
                        best = Some((same, seq, cluster));
                    }
                });
                scans.push(BandScan { hash, free, count, oldest });
            }
        }

        // (cluster to join, or None for a new cluster of one; new cluster; equal values)
        let seq = self.next_seq;
        self.next_seq += 1;
        let (join, new_cluster, same) = match (target, target_ref, best) {
            (None, _, Some((same, _, cluster))) => (Some(cluster), false, same),
            (Some(_), Some(cluster), found) => (Some(cluster), false, found.map_or(0, |b| b.0)),
            // A live cluster named like the post (its first post, re-delivered after leaving).
            (None, _, None) => match self.record_slot(member_id) {
                Some(slot) => (Some(ClusterRef::Record(slot)), false, SIGNATURE_LEN as u32),
                None => (None, true, SIGNATURE_LEN as u32),
            },
            (Some(id), None, _) if id == member_id => (None, true, SIGNATURE_LEN as u32),
            (Some(id), None, _) => {
                (Some(ClusterRef::Record(self.open_record(id, seq, at))), true, SIGNATURE_LEN as u32)
            }
        };
        let cluster = match join {
            None => SOLO,
            Some(ClusterRef::Record(slot)) => slot,
            Some(ClusterRef::Solo(founder)) => self.promote(founder),
        };

        let id = Id::new(member_id);
        self.heap_id_bytes += id.heap_bytes();
        let flags = LIVE | if new_cluster { NEW_CLUSTER } else { 0 } | if indexed { INDEXED } else { 0 };
        let slot = self.slab.alloc(Slot { sig, id, at, seq, cluster, stamp: 0, same: same as u8, flags });
        let rows = self.config.rows;
        let max_bucket = self.config.max_bucket;
        for (band, scan) in scans.iter().enumerate() {
            let Some(table) = self.bands.get_mut(band) else {
                continue;
            };
            match scan.oldest {
                // A full bucket keeps its newest: the oldest's entry becomes this one's.
                Some((_, pos)) if scan.count >= max_bucket => table.replace(pos, scan.hash, slot),
                _ => {
                    let slab = &self.slab;
                    table.put(scan.free, scan.hash, slot, |s| band_hash_of(slab, band, rows, s));
                }
            }
        }
        self.scans = scans;
        let slab = &self.slab;
        self.by_member.insert(id_hash(member_id), slot, |s| id_hash_of(slab, s));
        self.queue.push(Reverse((at, seq, slot)));

        let growth_micros = self.growth_micros;
        let (cluster_id, size) = match self.clusters.get_mut(cluster as usize).and_then(Option::as_mut) {
            Some(record) => {
                record.size += 1;
                record.first_at = record.first_at.min(at);
                record.last_at = record.last_at.max(at);
                growth_add(&mut record.growth, growth_index(at, growth_micros));
                (record.id.to_string(), record.size)
            }
            None => {
                self.solo += 1;
                (member_id.to_string(), 1)
            }
        };
        Ok(Assignment { cluster_id, size, new_cluster, similarity: f64::from(same) / SIGNATURE_LEN as f64 })
    }

    /// Open an empty cluster record named `id` (the caller adds the member).
    fn open_record(&mut self, id: &str, seq: u64, at: DateTime<Utc>) -> u32 {
        let record = Cluster { id: id.into(), seq, size: 0, first_at: at, last_at: at, growth: Vec::new() };
        let slot = match self.free_clusters.pop() {
            Some(slot) => {
                if let Some(entry) = self.clusters.get_mut(slot as usize) {
                    *entry = Some(record);
                }
                slot
            }
            None => {
                self.clusters.push(Some(record));
                (self.clusters.len() - 1) as u32
            }
        };
        let clusters = &self.clusters;
        self.by_cluster.insert(id_hash(id), slot, |s| cluster_hash_of(clusters, s));
        slot
    }

    /// Give the cluster of one that `founder` is alone in a record (a second member joins it).
    fn promote(&mut self, founder: u32) -> u32 {
        let Some(member) = self.slab.get(founder) else {
            return SOLO;
        };
        let (id, seq, at) = (member.id.as_str().to_string(), member.seq, member.at);
        let slot = self.open_record(&id, seq, at);
        if let Some(record) = self.clusters.get_mut(slot as usize).and_then(Option::as_mut) {
            record.size = 1;
            growth_add(&mut record.growth, growth_index(at, self.growth_micros));
        }
        if let Some(member) = self.slab.get_mut(founder) {
            member.cluster = slot;
        }
        self.solo -= 1;
        slot
    }

    /// Remove the oldest member; false when there is none.
    fn drop_oldest(&mut self) -> bool {
        let Some(Reverse((_, _, slot))) = self.queue.pop() else {
            return false;
        };
        self.remove_member(slot);
        true
    }

    fn remove_member(&mut self, slot: u32) {
        let Some(member) = self.slab.get(slot) else {
            return;
        };
        let (sig, cluster, at, indexed) = (member.sig, member.cluster, member.at, member.flags & INDEXED != 0);
        let hash = id_hash(member.id.as_str());
        self.heap_id_bytes -= member.id.heap_bytes();
        self.by_member.remove(hash, slot);
        if indexed {
            let rows = self.config.rows;
            for (band, table) in self.bands.iter_mut().enumerate() {
                table.remove(band_hash(band, rows, &sig), slot);
            }
        }
        self.slab.free(slot);
        if cluster == SOLO {
            self.solo -= 1;
            return;
        }
        let growth_micros = self.growth_micros;
        let Some(entry) = self.clusters.get_mut(cluster as usize) else {
            return;
        };
        let Some(record) = entry.as_mut() else {
            return;
        };
        record.size = record.size.saturating_sub(1);
        growth_remove(&mut record.growth, growth_index(at, growth_micros));
        if record.size == 0
            && let Some(gone) = entry.take()
        {
            self.by_cluster.remove(id_hash(&gone.id), cluster);
            self.free_clusters.push(cluster);
        }
    }

    fn member_slot(&self, member_id: &str) -> Option<u32> {
        let slab = &self.slab;
        self.by_member.find(id_hash(member_id), |s| slab.get(s).is_some_and(|m| m.id.as_str() == member_id))
    }

    fn record_slot(&self, id: &str) -> Option<u32> {
        self.by_cluster.find(id_hash(id), |s| self.record(s).is_some_and(|c| &*c.id == id))
    }

    /// The live cluster named `id`: a record, or a member alone in its cluster.
    fn find_cluster(&self, id: &str) -> Option<ClusterRef> {
        if let Some(slot) = self.record_slot(id) {
            return Some(ClusterRef::Record(slot));
        }
        let slot = self.member_slot(id)?;
        self.slab.get(slot).filter(|m| m.cluster == SOLO).map(|_| ClusterRef::Solo(slot))
    }

    fn record(&self, slot: u32) -> Option<&Cluster> {
        self.clusters.get(slot as usize).and_then(Option::as_ref)
    }

    fn assignment_of(&self, slot: u32) -> Option<Assignment> {
        let member = self.slab.get(slot)?;
        let (cluster_id, size) = if member.cluster == SOLO {
            (member.id.as_str().to_string(), 1)
        } else {
            let record = self.record(member.cluster)?;
            (record.id.to_string(), record.size)
        };
        Some(Assignment {
            cluster_id,
            size,
            new_cluster: member.flags & NEW_CLUSTER != 0,
            similarity: f64::from(member.same) / SIGNATURE_LEN as f64,
        })
    }

    fn view(&self, cluster: ClusterRef) -> ClusterView {
        let width = self.growth_micros;
        let bucket = |&(index, members): &(i64, u32)| {
            let start = DateTime::from_timestamp_micros(index.checked_mul(width)?)?;
            Some(GrowthBucket { start, members: u64::from(members) })
        };
        match cluster {
            ClusterRef::Record(slot) => match self.record(slot) {
                Some(c) => ClusterView {
                    id: c.id.to_string(),
                    size: c.size,
                    first_at: c.first_at,
                    last_at: c.last_at,
                    growth: c.growth.iter().filter_map(bucket).collect(),
                },
                None => ClusterView {
                    id: String::new(),
                    size: 0,
                    first_at: DateTime::default(),
                    last_at: DateTime::default(),
                    growth: Vec::new(),
                },
            },
            ClusterRef::Solo(slot) => match self.slab.get(slot) {
                Some(m) => ClusterView {
                    id: m.id.as_str().to_string(),
                    size: 1,
                    first_at: m.at,
                    last_at: m.at,
                    growth: bucket(&(growth_index(m.at, width), 1)).into_iter().collect(),
                },
                None => ClusterView {
                    id: String::new(),
                    size: 0,
                    first_at: DateTime::default(),
                    last_at: DateTime::default(),
                    growth: Vec::new(),
                },
            },
        }
    }

    /// Check the internal invariants (tests only): sizes add up, every member is in exactly one
    /// live cluster, buckets point only at live indexed members with those band values and hold
    /// at most `max_bucket`, every table entry is reachable, the maps agree with the slabs.
    #[cfg(test)]
    fn check_invariants(&self) {
        use std::collections::HashMap;
        let mut sizes: HashMap<u32, u64> = HashMap::new();
        let mut solo = 0;
        let mut live = 0;
        for (slot, member) in self.slab.live() {
            live += 1;
            assert_eq!(self.member_slot(member.id.as_str()), Some(slot), "member {}", member.id.as_str());
            if member.cluster == SOLO {
                solo += 1;
                assert_eq!(
                    self.record_slot(member.id.as_str()),
                    None,
                    "a record shares the id of solo {}",
                    member.id.as_str()
                );
            } else {
                assert!(self.record(member.cluster).is_some(), "member {} in a dead cluster", member.id.as_str());
                *sizes.entry(member.cluster).or_default() += 1;
            }
        }
        assert_eq!(solo, self.solo);
        assert_eq!(live, self.members());
        assert_eq!(self.slab.free.len() + live, self.slab.pages.iter().map(Vec::len).sum::<usize>());
        let mut records = 0;
        let mut total = solo as u64;
        for (slot, cluster) in self.clusters.iter().enumerate() {
            let Some(cluster) = cluster else { continue };
            records += 1;
            assert_eq!(sizes.get(&(slot as u32)).copied().unwrap_or(0), cluster.size, "size of {}", cluster.id);
            assert!(cluster.size > 0);
            assert_eq!(cluster.growth.iter().map(|g| u64::from(g.1)).sum::<u64>(), cluster.size);
            assert_eq!(self.record_slot(&cluster.id), Some(slot as u32));
            total += cluster.size;
        }
        assert_eq!(records, self.by_cluster.live);
        assert_eq!(total as usize, self.members());
        assert_eq!(self.len(), records + solo);
        assert_eq!(self.queue.len(), self.members());
        let rows = self.config.rows;
        for (band, table) in self.bands.iter().enumerate() {
            let entries: Vec<u32> = table.entries.iter().copied().filter(|e| e & SLOT_MASK != 0).collect();
            assert_eq!(entries.len(), table.live);
            assert_eq!(table.entries.iter().filter(|&&e| e == TOMB).count(), table.tombs);
            for entry in entries {
                let slot = (entry & SLOT_MASK) - 1;
                let member = self.slab.get(slot).unwrap_or_else(|| panic!("bucket points at dead slot {slot}"));
                assert!(member.flags & INDEXED != 0);
                let hash = band_hash(band, rows, &member.sig);
                let mut reachable = false;
                let mut bucket = 0;
                table.scan(hash, |_, s| {
                    reachable |= s == slot;
                    let same_key = self.slab.get(s).is_some_and(|m| band_hash(band, rows, &m.sig) == hash);
                    bucket += usize::from(same_key);
                });
                assert!(reachable, "slot {slot} unreachable in band {band}");
                assert!(bucket <= self.config.max_bucket);
            }
        }
    }
}

/// Number of positions where the two signatures agree.
fn equal_values(a: &Fingerprints, b: &Fingerprints) -> u32 {
    a.iter().zip(b).map(|(x, y)| u32::from(x == y)).sum()
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
        assert_eq!(field(ClusterConfig { max_members: 0, ..Default::default() }), "max_members");
        assert_eq!(field(ClusterConfig { max_members: 1 << 24, ..Default::default() }), "max_members");
        assert!(ClusterConfig { max_members: MAX_MEMBERS, ..Default::default() }.validate().is_ok());
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
        assert!(index.bands.iter().all(|t| t.live == 0));
        index.check_invariants();
        index.shrink_to_fit();
        assert!(index.memory_bytes() < 10_000, "{}", index.memory_bytes());
    }

    #[test]
    fn the_cap_drops_the_oldest_by_time() {
        let mut index = ClusterIndex::new(ClusterConfig { max_members: 3, ..Default::default() }).unwrap();
        let s = sig(21, &[]);
        index.insert("c", &s, t(5)).unwrap();
        // Out of order: "a" is older than "c".
        assert_eq!(index.insert("a", &s, t(1)).unwrap().size, 2);
        index.insert("lone", &sig(22, &[]), t(6)).unwrap();
        index.check_invariants();
        // A fourth post: "a" (t 1) leaves, not "c" (inserted first).
        let d = index.insert("d", &s, t(7)).unwrap();
        assert_eq!((d.cluster_id.as_str(), d.size), ("c", 2));
        assert_eq!(index.cluster_of("a"), None);
        assert_eq!(index.members(), 3);
        index.check_invariants();
        // Then "c": its cluster keeps its id and "d"; then "lone", whose cluster is forgotten.
        index.insert("e", &sig(23, &[]), t(8)).unwrap();
        assert_eq!(index.cluster("c").map(|c| (c.size, c.first_at)), Some((1, t(1))));
        index.insert("f", &sig(24, &[]), t(9)).unwrap();
        assert_eq!(index.cluster("lone"), None);
        assert_eq!((index.members(), index.len()), (3, 3));
        index.check_invariants();
        // An old post is still placed; the oldest of the others ("d", the last of "c") leaves
        // for it first, so it finds nothing to join.
        let old = index.insert("old", &s, t(0)).unwrap();
        assert_eq!((old.cluster_id.as_str(), old.size, old.new_cluster), ("old", 1, true));
        assert_eq!(index.cluster("c"), None);
        assert_eq!(index.cluster_of("e").map(str::to_owned), Some("e".to_owned()));
        index.check_invariants();
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
        let cap = config.max_members;
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
                    assert!(index.members() <= cap, "{} live members, max {cap}", index.members());
                    assert!(index.len() <= cap);
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
            max_members in prop_oneof![1usize..8, Just(200_000)],
        ) {
            let config = ClusterConfig {
                max_bucket,
                window: Duration::minutes(window_minutes),
                max_members,
                ..Default::default()
            };
            let (index, first) = run(&ops, &config);
            index.check_invariants();
            let sum: u64 = index.clusters().map(|c| c.size).sum();
            prop_assert_eq!(sum as usize, index.members());
            prop_assert!(index.members() <= max_members && index.len() <= max_members);
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
