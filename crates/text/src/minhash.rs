//! MinHash near-duplicate signatures.
//!
//! **Shingles**: the normalised word, number and hashtag tokens (lowercase, accents folded,
//! apostrophes stripped, elongations cut; mentions, links, emoji and punctuation left out), in
//! overlapping windows of [`SHINGLE`] = 3 tokens. A text with one or two tokens has one
//! shingle of all of them; a text with none has the empty signature (all `u32::MAX`).
//!
//! **Hashing**: each token is hashed with `xxh3_64_with_seed(token, TOKEN_SEED)`; a shingle is
//! `xxh3_64_with_seed` of its three token hashes (24 little-endian bytes) with `SHINGLE_SEED`;
//! permutation `i` of [`PERMUTATIONS`] = 64 is the high 32 bits of `mix64(shingle ^ seed[i])`,
//! with `seed[i] = xxh64(i as u64 little-endian, PERMUTATION_SEED)` and `mix64` the SplitMix64
//! finaliser. The signature keeps the minimum of each permutation. 32-bit values (as datasketch
//! keeps) halve what every event carries; two unrelated shingles share a value with odds of
//! 1 in 2^32, far below what the estimate can resolve. All seeds are constants, so signatures are
//! stable across processes, machines and versions of this crate (a golden-value test guards it).
//!
//! **LSH banding** (done by the caller): with 64 values, 16 bands × 4 rows catch pairs with
//! Jaccard ≈ 0.5 and up (threshold ≈ (1/16)^(1/4) = 0.5); 8 bands × 8 rows are stricter
//! (≈ 0.77); 32 bands × 2 rows looser (≈ 0.18). [`Signature::band_hashes`] hashes each band
//! into one `u64` bucket key.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;
use xxhash_rust::xxh64::xxh64;

use crate::normalize::{Kind, Tokens};

/// Number of permutations (signature length).
pub const PERMUTATIONS: usize = 64;
/// Tokens per shingle.
pub const SHINGLE: usize = 3;

const TOKEN_SEED: u64 = 0x7465_6e64_746f_6b31; // "tendtok1"
const SHINGLE_SEED: u64 = 0x7465_6e64_7368_6931; // "tendshi1"
const PERMUTATION_SEED: u64 = 0x7465_6e64_7065_7231; // "tendper1"
const BAND_SEED: u64 = 0x7465_6e64_6261_6e31; // "tendban1"

static SEEDS: LazyLock<[u64; PERMUTATIONS]> = LazyLock::new(|| {
    let mut s = [0u64; PERMUTATIONS];
    for (i, v) in s.iter_mut().enumerate() {
        *v = xxh64(&(i as u64).to_le_bytes(), PERMUTATION_SEED);
    }
    s
});

fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A MinHash signature: [`PERMUTATIONS`] minimum hash values. Serialises as a JSON array.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Signature(pub Vec<u32>);

impl Signature {
    /// The signature of a text with no tokens.
    pub fn empty() -> Self {
        Signature(vec![u32::MAX; PERMUTATIONS])
    }

    /// True when built from a text with no tokens.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&v| v == u32::MAX)
    }

    /// Estimated Jaccard similarity of the two texts' shingle sets: the share of positions
    /// with equal values. 0 when either is empty or the lengths differ.
    pub fn jaccard(&self, other: &Signature) -> f64 {
        estimated_jaccard(self, other)
    }

    /// One bucket key per band of `rows` consecutive values (`xxh3` of the band's bytes, seeded
    /// with the band index), for LSH. `rows` of 0 is treated as 1; a short last band is kept.
    pub fn band_hashes(&self, rows: usize) -> Vec<u64> {
        let rows = rows.max(1);
        self.0
            .chunks(rows)
            .enumerate()
            .map(|(band, chunk)| {
                let mut bytes = Vec::with_capacity(chunk.len() * 4);
                for v in chunk {
                    bytes.extend_from_slice(&v.to_le_bytes());
                }
                xxh3_64_with_seed(&bytes, BAND_SEED ^ band as u64)
            })
            .collect()
    }
}

/// Estimated Jaccard similarity between two signatures (see [`Signature::jaccard`]).
pub fn estimated_jaccard(a: &Signature, b: &Signature) -> f64 {
    if a.0.len() != b.0.len() || a.0.is_empty() || a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let same = a.0.iter().zip(&b.0).filter(|(x, y)| x == y).count();
    same as f64 / a.0.len() as f64
}

/// Reusable buffer of token hashes.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    hashes: Vec<u64>,
}

/// Compute the signature of tokenised text.
pub(crate) fn signature(tok: &Tokens, scratch: &mut Scratch) -> Signature {
    scratch.hashes.clear();
    for t in &tok.tokens {
        if matches!(t.kind, Kind::Word | Kind::Number | Kind::Hashtag) {
            scratch.hashes.push(xxh3_64_with_seed(tok.text(t).as_bytes(), TOKEN_SEED));
        }
    }
    let h = &scratch.hashes;
    if h.is_empty() {
        return Signature::empty();
    }
    let seeds = &*SEEDS;
    let mut mins = [u32::MAX; PERMUTATIONS];
    let mut add = |window: &[u64]| {
        let mut bytes = [0u8; SHINGLE * 8];
        for (k, v) in window.iter().enumerate() {
            bytes[k * 8..k * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        let sh = xxh3_64_with_seed(&bytes[..window.len() * 8], SHINGLE_SEED);
        for (m, s) in mins.iter_mut().zip(seeds.iter()) {
            // The high half: SplitMix64 mixes every input bit into it.
            let v = (mix64(sh ^ s) >> 32) as u32;
            if v < *m {
                *m = v;
            }
        }
    };
    if h.len() < SHINGLE {
        add(h);
    } else {
        for w in h.windows(SHINGLE) {
            add(w);
        }
    }
    Signature(mins.to_vec())
}
