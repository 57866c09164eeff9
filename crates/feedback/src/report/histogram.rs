//! Mergeable log-scale histograms of durations: a duration falls in a fixed slot, so the
//! histograms of any hours and days add up slot by slot, and percentiles over any window come
//! from the summed slots.
//!
//! Slot 0 holds durations under 1 s; slot `k ≥ 1` holds `[2^((k-1)/4), 2^(k/4))` seconds. A
//! percentile is reported as the geometric middle of the slot that holds the value of its rank,
//! `2^((k - 1/2)/4)`, so it is within a factor `2^(1/8)` (9.05%) of the exact value: the slot's
//! edges are a factor `2^(1/4)` apart.

/// Slots per doubling.
const PER_DOUBLING: f64 = 4.0;

/// The last slot: 2^(160/4) s is about 35,000 years, more than any duration here.
pub const MAX_SLOT: i32 = 160;

/// The largest relative error of a reported percentile: `2^(1/8) - 1`.
pub const RELATIVE_ERROR: f64 = 0.090_507_732_665_257_66;

/// The slot of a duration of `seconds`.
pub fn slot(seconds: f64) -> i32 {
    if !seconds.is_finite() || seconds < 1.0 {
        return 0;
    }
    // floor(4·log2(s)) + 1, bounded.
    let slot = (seconds.log2() * PER_DOUBLING).floor() as i32 + 1;
    slot.clamp(1, MAX_SLOT)
}

/// The value a slot stands for: its geometric middle (0.5 s for slot 0).
pub fn middle(slot: i32) -> f64 {
    if slot <= 0 {
        return 0.5;
    }
    2f64.powf((f64::from(slot) - 0.5) / PER_DOUBLING)
}

/// The nearest-rank `quantile` (0 to 1) of a histogram given as `(slot, count)` pairs in any
/// order: the middle of the slot that holds the value of rank `ceil(quantile × total)`; 0 for an
/// empty histogram.
pub fn percentile(slots: &[(i32, u64)], quantile: f64) -> f64 {
    let mut sorted: Vec<(i32, u64)> = slots.iter().copied().filter(|(_, count)| *count > 0).collect();
    sorted.sort_unstable();
    let total: u64 = sorted.iter().map(|(_, count)| count).sum();
    if total == 0 {
        return 0.0;
    }
    let rank = ((quantile * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (slot, count) in &sorted {
        seen += count;
        if seen >= rank {
            return middle(*slot);
        }
    }
    0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_a_quarter_doubling_wide_and_the_middle_is_within_the_bound() {
        assert_eq!(slot(0.2), 0);
        assert_eq!(slot(1.0), 1);
        assert_eq!(slot(2.0), 5);
        assert_eq!(slot(f64::NAN), 0);
        assert_eq!(slot(1e300), MAX_SLOT);
        for seconds in [1.0, 1.1, 7.0, 59.9, 3600.0, 86_400.5, 1e7] {
            let reported = middle(slot(seconds));
            assert!((reported / seconds - 1.0).abs() <= RELATIVE_ERROR + 1e-12, "{seconds}: {reported}");
        }
    }

    #[test]
    fn percentiles_come_from_summed_slots_within_the_bound() {
        let values: Vec<f64> = (1..=1000).map(|n| f64::from(n) * 3.7).collect();
        let mut slots = std::collections::BTreeMap::<i32, u64>::new();
        for value in &values {
            *slots.entry(slot(*value)).or_default() += 1;
        }
        let slots: Vec<(i32, u64)> = slots.into_iter().collect();
        for (quantile, exact) in [(0.5, values[499]), (0.9, values[899]), (0.99, values[989])] {
            let reported = percentile(&slots, quantile);
            assert!((reported / exact - 1.0).abs() <= RELATIVE_ERROR, "{quantile}: {reported} vs {exact}");
        }
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
