//! The tests that say whether a change between two equal windows is more than noise.

/// The outcome of a test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Test {
    /// The statistic (0 without enough data).
    pub z: f64,
    /// Two-sided p-value (1 without enough data).
    pub p_value: f64,
    /// p < 0.05 with enough data.
    pub significant: bool,
}

/// Without enough data: nothing to say.
const NONE: Test = Test { z: 0.0, p_value: 1.0, significant: false };

/// The significance level.
const ALPHA: f64 = 0.05;

/// `1 - erf(x)` (Abramowitz & Stegun 7.1.26, absolute error under 1.5e-7).
fn erfc(x: f64) -> f64 {
    let sign_negative = x < 0.0;
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let value = poly * (-x * x).exp();
    if sign_negative { 2.0 - value } else { value }
}

/// The test of a statistic `z` that is standard normal under no change.
fn normal(z: f64) -> Test {
    if !z.is_finite() {
        return NONE;
    }
    let p_value = erfc(z.abs() / std::f64::consts::SQRT_2).clamp(0.0, 1.0);
    Test { z, p_value, significant: p_value < ALPHA }
}

/// Counts in two equal windows: under no change, `after` given `before + after` is binomial
/// with p = 1/2; its normal approximation is `z = (after - before) / sqrt(after + before)`.
/// Needs a total of at least 10.
pub fn poisson(before: u64, after: u64) -> Test {
    let total = before + after;
    if total < 10 {
        return NONE;
    }
    normal((after as f64 - before as f64) / (total as f64).sqrt())
}

/// Shares `before_hits / before_n` and `after_hits / after_n`: the two-proportion z-test with
/// the pooled proportion. Needs both sizes at least 1, a total of at least 10, and a pooled
/// proportion strictly between 0 and 1.
pub fn two_proportions(before_hits: u64, before_n: u64, after_hits: u64, after_n: u64) -> Test {
    if before_n == 0 || after_n == 0 || before_n + after_n < 10 {
        return NONE;
    }
    let (n1, n2) = (before_n as f64, after_n as f64);
    let pooled = (before_hits + after_hits) as f64 / (n1 + n2);
    if pooled <= 0.0 || pooled >= 1.0 {
        return NONE;
    }
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    normal((after_hits as f64 / n2 - before_hits as f64 / n1) / se)
}

/// Means of two samples with their own variances (Welch's statistic, read as normal: the
/// samples here are large or the answer is "not enough data"): `z = (m2 - m1) /
/// sqrt(v1/n1 + v2/n2)`. Needs both sizes at least 2 and a total of at least 10.
pub fn welch(mean1: f64, variance1: f64, n1: u64, mean2: f64, variance2: f64, n2: u64) -> Test {
    if n1 < 2 || n2 < 2 || n1 + n2 < 10 {
        return NONE;
    }
    let se = (variance1 / n1 as f64 + variance2 / n2 as f64).sqrt();
    if se <= 0.0 {
        return NONE;
    }
    normal((mean2 - mean1) / se)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tests_agree_with_textbook_values() {
        // erfc(1/√2) = 0.3173: |z| = 1 has p = 0.317.
        assert!((normal(1.0).p_value - 0.3173).abs() < 1e-3);
        assert!((normal(1.96).p_value - 0.05).abs() < 1e-3);
        // 100 vs 150 in equal windows: z = 50/√250 = 3.16.
        let counts = poisson(100, 150);
        assert!((counts.z - 3.162).abs() < 1e-3 && counts.significant);
        assert!(!poisson(3, 5).significant && poisson(3, 5).p_value == 1.0);
        // 30% of 200 vs 40% of 200: pooled 35%, z = 0.1/sqrt(.35·.65·.01) = 2.097.
        let shares = two_proportions(60, 200, 80, 200);
        assert!((shares.z - 2.097).abs() < 1e-3 && shares.significant, "{shares:?}");
        assert!(!two_proportions(50, 100, 52, 100).significant);
        let means = welch(0.0, 1.0, 100, 0.5, 1.0, 100);
        assert!((means.z - 3.536).abs() < 1e-3);
    }
}
