//! A tiny deterministic random number generator (SplitMix64).
//!
//! Written here rather than taken from `rand` so the traffic of a seed never changes with a
//! dependency's version: the same `--seed` gives the same posts on every machine, forever.

/// The SplitMix64 finaliser: a bijective mix of 64 bits.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64: fast, small, good enough for synthetic traffic (not for cryptography).
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator for one (seed, stream, index): independent draws for every post or author, so
    /// any post can be generated on its own, in any order, by any caller.
    pub(crate) fn derive(seed: u64, stream: u64, index: u64) -> Self {
        Rng(mix(seed ^ mix(stream.wrapping_mul(GOLDEN) ^ mix(index.wrapping_add(GOLDEN)))))
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, n); 0 when n is 0.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in [low, high] (inclusive).
    pub(crate) fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }

    /// True with probability `p`.
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One element, uniformly.
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// One string, uniformly.
    pub(crate) fn pick_str(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len() as u64) as usize]
    }

    /// An index drawn with the given (non-negative, not all zero) weights.
    pub(crate) fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut target = self.unit() * total;
        for (index, weight) in weights.iter().enumerate() {
            if target < *weight {
                return index;
            }
            target -= weight;
        }
        // Rounding: the last index with weight.
        weights.iter().rposition(|weight| *weight > 0.0).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_draws_and_streams_differ() {
        let a: Vec<u64> = (0..5).map(|_| Rng::derive(7, 1, 3).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::derive(7, 1, 3).next_u64(), Rng::derive(7, 2, 3).next_u64());
        assert_ne!(Rng::derive(7, 1, 3).next_u64(), Rng::derive(7, 1, 4).next_u64());
        assert_ne!(Rng::derive(7, 1, 3).next_u64(), Rng::derive(8, 1, 3).next_u64());
    }

    #[test]
    fn ranges_hold() {
        let mut rng = Rng::derive(1, 1, 1);
        for _ in 0..10_000 {
            let unit = rng.unit();
            assert!((0.0..1.0).contains(&unit));
            assert!(rng.below(7) < 7);
            assert!((3..=5).contains(&rng.between(3, 5)));
        }
        assert_eq!(rng.below(0), 0);
    }

    #[test]
    fn weighted_follows_weights() {
        let mut rng = Rng::derive(1, 2, 3);
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            counts[rng.weighted(&[1.0, 0.0, 2.0])] += 1;
        }
        assert_eq!(counts[1], 0);
        let share = f64::from(counts[0]) / 30_000.0;
        assert!((share - 1.0 / 3.0).abs() < 0.02, "{share}");
    }
}
