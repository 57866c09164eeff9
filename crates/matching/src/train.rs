//! Unsupervised estimation of the Fellegi–Sunter parameters: `u` from random pairs, `m` and the
//! match rate by Expectation–Maximisation over the candidate pairs. No labels anywhere.
//!
//! * `u[f][l]`, the probability that a *non-matching* pair shows level `l` on field `f`, is read
//!   off pairs drawn at random (almost all of which are non-matches). The `exact` level is counted
//!   exactly rather than sampled, from the value frequencies on each side: with thousands of
//!   distinct dates of birth a sample would see too few exact agreements. The other levels share
//!   the rest of the mass in the proportions a seeded random sample shows.
//! * `m[f][l]` and λ (the share of candidate pairs that match) come from EM over the candidate
//!   pairs' comparison vectors, fields assumed conditionally independent given the class. The
//!   vectors are grouped into distinct patterns first, so an iteration costs a few thousand
//!   multiplications whatever the data size. `u` stays fixed unless [`TrainOptions::refine_u`].
//! * Probabilities are smoothed with half a pseudo-count per level and clamped to
//!   `[1e-6, 1 - 1e-6]`, so no level has weight ±∞.

use serde::{Deserialize, Serialize};

use crate::compare::{FieldKind, FnvMap, NULL};
use crate::schema::{Prepared, Schema};

/// Knobs of training; the defaults suit data sets from a few hundred to a few million records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainOptions {
    /// Random pairs compared to estimate the `u` probabilities of the non-exact levels.
    pub u_sample_pairs: usize,
    /// Seed of the random pair sample (training is deterministic for a given seed).
    pub seed: u64,
    /// The share of candidate pairs assumed to match when EM starts.
    pub initial_match_rate: f64,
    /// At most this many EM iterations.
    pub max_iterations: usize,
    /// EM stops when no probability moves by more than this in an iteration.
    pub tolerance: f64,
    /// Re-estimate `u` in EM too (from the candidate pairs) instead of keeping the random-pair
    /// estimate. Off by default: the candidates are not a random sample of the non-matches.
    pub refine_u: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            u_sample_pairs: 20_000,
            seed: 0x7e4d_0001,
            initial_match_rate: 0.1,
            max_iterations: 200,
            tolerance: 1e-6,
            refine_u: false,
        }
    }
}

/// What training found, for reports and for the model's provenance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// Records on the left (or the only) side.
    pub left_records: usize,
    /// Records on the right side (0 in dedupe mode).
    pub right_records: usize,
    /// Candidate pairs EM ran over.
    pub candidate_pairs: usize,
    /// Distinct comparison vectors among them.
    pub patterns: usize,
    /// Random pairs compared for `u`.
    pub u_sample_pairs: usize,
    /// EM iterations run.
    pub iterations: usize,
    /// Whether EM converged within the tolerance.
    pub converged: bool,
    /// The estimated share of candidate pairs that match.
    pub candidate_match_rate: f64,
}

/// Smallest and largest probability a level may have.
pub(crate) const FLOOR: f64 = 1e-6;

/// A small, seeded, portable generator for the random pair sample (SplitMix64).
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    /// Uniform in `0..bound` (`bound > 0`), by multiply-shift: bias below 2⁻³².
    pub(crate) fn below(&mut self, bound: usize) -> usize {
        ((u128::from(self.next()) * bound as u128) >> 64) as usize
    }
}

/// The `u` probabilities per field and level, from value frequencies and random pairs.
pub(crate) fn estimate_u(
    schema: &Schema,
    left: &Prepared,
    right: Option<&Prepared>,
    options: &TrainOptions,
    compare_pair: &dyn Fn(usize, usize, &mut [u8]),
) -> (Vec<Vec<f64>>, usize) {
    let width = schema.fields.len();
    let (left_count, right_count) = (left.len(), right.map_or(left.len(), Prepared::len));
    // Sample random pairs (distinct records in dedupe mode).
    let mut counts: Vec<Vec<f64>> = schema.fields.iter().map(|field| vec![0.0; field.kind.levels().len()]).collect();
    let mut random = SplitMix::new(options.seed);
    let mut vector = vec![NULL; width];
    let possible = if right.is_some() { left_count * right_count } else { left_count * left_count.saturating_sub(1) };
    let samples = if possible == 0 { 0 } else { options.u_sample_pairs };
    for _ in 0..samples {
        let a = random.below(left_count);
        let mut b = random.below(right_count);
        if right.is_none() && a == b {
            b = (b + 1) % right_count;
        }
        compare_pair(a, b, &mut vector);
        for (field, level) in vector.iter().enumerate() {
            if let Some(count) = counts.get_mut(field).and_then(|levels| levels.get_mut(usize::from(*level))) {
                *count += 1.0;
            }
        }
    }
    let u = schema
        .fields
        .iter()
        .enumerate()
        .map(|(field, spec)| {
            let exact = exact_agreement_rate(left, right, field);
            let levels = spec.kind.levels().len();
            let others = counts.get(field).map(|levels| levels.iter().skip(1).sum::<f64>()).unwrap_or_default();
            let mut probabilities = vec![0.0; levels];
            for (level, probability) in probabilities.iter_mut().enumerate() {
                *probability = if level == 0 {
                    exact
                } else {
                    let count = counts.get(field).and_then(|levels| levels.get(level)).copied().unwrap_or_default();
                    (1.0 - exact) * (count + 0.5) / (others + 0.5 * (levels - 1) as f64)
                };
            }
            clamp_and_normalise(&mut probabilities);
            probabilities
        })
        .collect();
    (u, samples)
}

/// The share of pairs (both values present) that agree exactly on `field`, from the frequencies
/// of the comparison keys: Σ_v left(v)·right(v) / (left · right), or the `i < j` version.
fn exact_agreement_rate(left: &Prepared, right: Option<&Prepared>, field: usize) -> f64 {
    let mut counts: FnvMap<&str, (f64, f64)> = FnvMap::default();
    let mut totals = (0.0, 0.0);
    for index in 0..left.len() {
        if let Some(value) = left.value(index, field) {
            counts.entry(value.key.as_str()).or_default().0 += 1.0;
            totals.0 += 1.0;
        }
    }
    if let Some(right) = right {
        for index in 0..right.len() {
            if let Some(value) = right.value(index, field) {
                counts.entry(value.key.as_str()).or_default().1 += 1.0;
                totals.1 += 1.0;
            }
        }
        let agreeing: f64 = counts.values().map(|(on_left, on_right)| on_left * on_right).sum();
        let pairs = totals.0 * totals.1;
        if pairs > 0.0 { agreeing / pairs } else { 0.0 }
    } else {
        let agreeing: f64 = counts.values().map(|(count, _)| count * (count - 1.0) / 2.0).sum();
        let pairs = totals.0 * (totals.0 - 1.0) / 2.0;
        if pairs > 0.0 { agreeing / pairs } else { 0.0 }
    }
}

/// The outcome of EM.
pub(crate) struct Estimate {
    pub(crate) m: Vec<Vec<f64>>,
    pub(crate) u: Vec<Vec<f64>>,
    pub(crate) match_rate: f64,
    pub(crate) iterations: usize,
    pub(crate) converged: bool,
    pub(crate) patterns: usize,
}

/// EM over the comparison vectors (`width` levels per pair, row after row).
pub(crate) fn expectation_maximisation(
    kinds: &[FieldKind],
    vectors: &[u8],
    u: Vec<Vec<f64>>,
    options: &TrainOptions,
) -> Estimate {
    let width = kinds.len();
    let patterns = patterns(vectors, width);
    let mut m: Vec<Vec<f64>> = kinds.iter().map(|kind| initial_m(kind.levels().len())).collect();
    let mut u = u;
    let mut match_rate = options.initial_match_rate.clamp(FLOOR, 1.0 - FLOOR);
    let mut iterations = 0;
    let mut converged = false;
    while iterations < options.max_iterations && !patterns.is_empty() {
        iterations += 1;
        let (log_m, log_u): (Vec<Vec<f64>>, Vec<Vec<f64>>) = (logs(&m), logs(&u));
        let mut m_counts: Vec<Vec<f64>> = m.iter().map(|levels| vec![0.0; levels.len()]).collect();
        let mut u_counts: Vec<Vec<f64>> = m_counts.clone();
        let (mut matches, mut total) = (0.0, 0.0);
        for (pattern, count) in &patterns {
            let mut match_log = match_rate.ln();
            let mut non_match_log = (1.0 - match_rate).ln();
            for (field, level) in pattern.iter().enumerate() {
                if *level == NULL {
                    continue;
                }
                let level = usize::from(*level);
                match_log += log_m.get(field).and_then(|levels| levels.get(level)).copied().unwrap_or_default();
                non_match_log += log_u.get(field).and_then(|levels| levels.get(level)).copied().unwrap_or_default();
            }
            let posterior = 1.0 / (1.0 + (non_match_log - match_log).exp());
            matches += count * posterior;
            total += count;
            for (field, level) in pattern.iter().enumerate() {
                if *level == NULL {
                    continue;
                }
                let level = usize::from(*level);
                if let Some(slot) = m_counts.get_mut(field).and_then(|levels| levels.get_mut(level)) {
                    *slot += count * posterior;
                }
                if let Some(slot) = u_counts.get_mut(field).and_then(|levels| levels.get_mut(level)) {
                    *slot += count * (1.0 - posterior);
                }
            }
        }
        let new_rate = (matches / total).clamp(FLOOR, 1.0 - FLOOR);
        let mut change = (new_rate - match_rate).abs();
        match_rate = new_rate;
        for (current, counts) in m.iter_mut().zip(&m_counts) {
            change = change.max(update(current, counts));
        }
        if options.refine_u {
            for (current, counts) in u.iter_mut().zip(&u_counts) {
                change = change.max(update(current, counts));
            }
        }
        if change < options.tolerance {
            converged = true;
            break;
        }
    }
    Estimate { m, u, match_rate, iterations, converged, patterns: patterns.len() }
}

/// Replace `current` by the smoothed proportions of `counts`; the largest change.
fn update(current: &mut [f64], counts: &[f64]) -> f64 {
    let total: f64 = counts.iter().sum();
    let levels = counts.len() as f64;
    let mut next: Vec<f64> = counts.iter().map(|count| (count + 0.5) / (total + 0.5 * levels)).collect();
    clamp_and_normalise(&mut next);
    let change = current.iter().zip(&next).map(|(before, after)| (before - after).abs()).fold(0.0, f64::max);
    current.copy_from_slice(&next);
    change
}

/// The starting `m`: most matches agree exactly, few fall to `else`.
fn initial_m(levels: usize) -> Vec<f64> {
    if levels < 2 {
        return vec![1.0; levels];
    }
    let middle = levels - 2;
    let mut m = vec![0.0; levels];
    if let Some(first) = m.first_mut() {
        *first = if middle == 0 { 0.9 } else { 0.7 };
    }
    if let Some(last) = m.last_mut() {
        *last = if middle == 0 { 0.1 } else { 0.05 };
    }
    for level in m.iter_mut().skip(1).take(middle) {
        *level = 0.25 / middle as f64;
    }
    m
}

fn logs(table: &[Vec<f64>]) -> Vec<Vec<f64>> {
    table.iter().map(|levels| levels.iter().map(|probability| probability.ln()).collect()).collect()
}

/// Keep every probability within `[FLOOR, 1 - FLOOR]` and the sum at 1.
pub(crate) fn clamp_and_normalise(probabilities: &mut [f64]) {
    for probability in probabilities.iter_mut() {
        *probability = probability.clamp(FLOOR, 1.0 - FLOOR);
    }
    let sum: f64 = probabilities.iter().sum();
    if sum > 0.0 {
        probabilities.iter_mut().for_each(|probability| *probability /= sum);
    }
}

/// The distinct comparison vectors with their counts, in a deterministic order.
fn patterns(vectors: &[u8], width: usize) -> Vec<(Vec<u8>, f64)> {
    if width == 0 {
        return Vec::new();
    }
    let mut rows: Vec<&[u8]> = vectors.chunks_exact(width).collect();
    rows.sort_unstable();
    let mut grouped: Vec<(Vec<u8>, f64)> = Vec::new();
    for row in rows {
        match grouped.last_mut() {
            Some((pattern, count)) if pattern.as_slice() == row => *count += 1.0,
            _ => grouped.push((row.to_vec(), 1.0)),
        }
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_deterministic_and_bounded() {
        let (mut first, mut second) = (SplitMix::new(7), SplitMix::new(7));
        for _ in 0..1000 {
            let value = first.below(13);
            assert!(value < 13);
            assert_eq!(value, second.below(13));
        }
    }

    #[test]
    fn initial_m_is_a_distribution() {
        for levels in 2..8 {
            let m = initial_m(levels);
            assert!((m.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{levels}: {m:?}");
        }
    }

    #[test]
    fn clamping_keeps_probabilities_off_zero_and_one() {
        let mut probabilities = vec![1.0, 0.0, 0.0];
        clamp_and_normalise(&mut probabilities);
        assert!(probabilities.iter().all(|p| *p > 0.0 && *p < 1.0));
        assert!((probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    /// Two fields with levels exact / else. Matches agree 90 % of the time on each field,
    /// non-matches 5 %; EM must find m > u on `exact` and the 30 % match rate.
    #[test]
    fn em_recovers_the_classes_of_a_synthetic_mixture() {
        let mut random = SplitMix::new(42);
        let mut vectors = Vec::new();
        for pair in 0..10_000 {
            let is_match = pair % 10 < 3;
            let agree = if is_match { 0.9 } else { 0.05 };
            for _ in 0..3 {
                let agrees = (random.below(1_000_000) as f64) < agree * 1e6;
                vectors.push(u8::from(!agrees));
            }
        }
        let kinds = [FieldKind::Exact; 3];
        let start_u = vec![vec![0.2, 0.8]; 3];
        let options = TrainOptions { refine_u: true, ..TrainOptions::default() };
        let estimate = expectation_maximisation(&kinds, &vectors, start_u, &options);
        assert!(estimate.converged);
        assert!((estimate.match_rate - 0.3).abs() < 0.03, "{}", estimate.match_rate);
        for (m, u) in estimate.m.iter().zip(&estimate.u) {
            assert!((m[0] - 0.9).abs() < 0.03, "m {m:?}");
            assert!((u[0] - 0.05).abs() < 0.03, "u {u:?}");
        }
    }
}
