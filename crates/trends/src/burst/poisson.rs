//! The Poisson upper tail `P(X ≥ k | λ)`: how surprising a window's count is when `λ` posts were
//! expected.
//!
//! Computed in log space from the probability mass at `k` (Loader's saddle-point form, as R's
//! `dpois` does it, so `k` and `λ` up to 10^6 and beyond lose no precision to `k ln λ - λ - ln k!`
//! cancelling) times a series that sums the rest of the tail:
//!
//! - `k > λ` (the tail is the small side): `P(X ≥ k) = p(k) · Σ_j λ^j k!/(k+j)!`, every term
//!   positive, so a tiny tail is computed to full relative precision, never as `1 - something`;
//! - `k ≤ λ` (the tail is at least about a half): `1 - P(X ≤ k-1)` with
//!   `P(X ≤ k-1) = p(k-1) · Σ_j (k-1)!/((k-1-j)! λ^j)`, which stays below about 0.6, so the
//!   subtraction is well conditioned.
//!
//! Both series have ratios below 1 that shrink as they go; they need about `9·√k` terms in the
//! worst case (`k ≈ λ`), a few microseconds at `k = 10^6` and a handful of terms at the counts
//! routing sees.

/// `ln √(2π)`.
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// A term below this share of the running sum no longer changes it.
const NEGLIGIBLE: f64 = 1e-17;

/// `P(X ≥ k)` for `X ~ Poisson(λ)`: the p-value of seeing `k` or more posts when `lambda` were
/// expected. `k = 0` gives 1; `lambda ≤ 0` gives 0 for `k ≥ 1`; a NaN `lambda` gives 1 (nothing
/// is significant against an unknown expectation). Underflows to 0 below about 1e-308; use
/// [`ln_poisson_upper_tail`] to compare tails that small.
pub fn poisson_upper_tail(k: u64, lambda: f64) -> f64 {
    ln_poisson_upper_tail(k, lambda).exp()
}

/// `ln P(X ≥ k)` for `X ~ Poisson(λ)`, finite for tails far below `f64`'s range (about
/// `-1.97e7` at `k = 10^6`, `λ = 0.001`); same edge cases as [`poisson_upper_tail`], with
/// `-∞` for an impossible tail.
pub fn ln_poisson_upper_tail(k: u64, lambda: f64) -> f64 {
    if k == 0 || lambda.is_nan() || lambda == f64::INFINITY {
        return 0.0;
    }
    if lambda <= 0.0 {
        return f64::NEG_INFINITY;
    }
    let k_f = k as f64;
    if k_f > lambda {
        // Σ_{j≥0} Π_{i=1..j} λ/(k+i): ratios below 1 and falling, so it ends.
        let mut term = 1.0_f64;
        let mut sum = 1.0_f64;
        let mut i = 1.0_f64;
        loop {
            term *= lambda / (k_f + i);
            sum += term;
            if term < sum * NEGLIGIBLE {
                break;
            }
            i += 1.0;
        }
        ln_poisson_pmf(k, lambda) + sum.ln()
    } else {
        // P(X ≤ k-1) = p(k-1) · Σ_{j=0..k-1} Π_{i=0..j-1} (k-1-i)/λ.
        let top = k - 1;
        let mut term = 1.0_f64;
        let mut sum = 1.0_f64;
        let mut factor = top as f64;
        while factor > 0.0 {
            term *= factor / lambda;
            sum += term;
            if term < sum * NEGLIGIBLE {
                break;
            }
            factor -= 1.0;
        }
        let lower = (ln_poisson_pmf(top, lambda) + sum.ln()).exp();
        (-lower.min(1.0)).ln_1p()
    }
}

/// `ln P(X = k)` for `X ~ Poisson(λ)`, `λ > 0`: `-stirlerr(k) - bd0(k, λ) - ln √(2πk)`.
fn ln_poisson_pmf(k: u64, lambda: f64) -> f64 {
    if k == 0 {
        return -lambda;
    }
    let k_f = k as f64;
    -stirling_error(k) - deviance(k_f, lambda) - LN_SQRT_2PI - 0.5 * k_f.ln()
}

/// `ln n! - ((n + ½) ln n - n + ln √(2π))`, the error of Stirling's formula, for `n ≥ 1`.
fn stirling_error(n: u64) -> f64 {
    const S0: f64 = 1.0 / 12.0;
    const S1: f64 = 1.0 / 360.0;
    const S2: f64 = 1.0 / 1260.0;
    const S3: f64 = 1.0 / 1680.0;
    const S4: f64 = 1.0 / 1188.0;
    let n_f = n as f64;
    if n <= 15 {
        // Exact from ln n! (a sum of 15 logarithms at most: absolute error ~1e-14).
        let ln_factorial: f64 = (2..=n).map(|i| (i as f64).ln()).sum();
        return ln_factorial - ((n_f + 0.5) * n_f.ln() - n_f + LN_SQRT_2PI);
    }
    let nn = n_f * n_f;
    if n > 500 {
        (S0 - S1 / nn) / n_f
    } else if n > 80 {
        (S0 - (S1 - S2 / nn) / nn) / n_f
    } else if n > 35 {
        (S0 - (S1 - (S2 - S3 / nn) / nn) / nn) / n_f
    } else {
        (S0 - (S1 - (S2 - (S3 - S4 / nn) / nn) / nn) / nn) / n_f
    }
}

/// `x ln(x/m) + m - x` (the Poisson deviance term), without the cancellation of that formula
/// when `x` is close to `m`.
fn deviance(x: f64, m: f64) -> f64 {
    if (x - m).abs() < 0.1 * (x + m) {
        let v = (x - m) / (x + m);
        let v2 = v * v;
        let mut sum = (x - m) * v;
        let mut ej = 2.0 * x * v;
        let mut j = 1.0_f64;
        loop {
            ej *= v2;
            let next = sum + ej / (2.0 * j + 1.0);
            if next == sum || j > 1000.0 {
                return next;
            }
            sum = next;
            j += 1.0;
        }
    }
    x * (x / m).ln() + m - x
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from mpmath at 50 digits (sum of the mass function).
    const KNOWN: &[(f64, u64, f64)] = &[
        (1.0, 5, 0.003_659_846_827_343_712_3),
        (10.0, 20, 0.003_454_341_975_856_807_7),
        (1000.0, 1100, 0.000_962_630_405_866_557_2),
        (1e6, 1_000_000, 0.500_132_980_760_872_6),
        (1e6, 1_005_000, 2.934_034_048_031_641e-7),
        (1e6, 1_010_000, 9.039_206_398_099_658e-24),
        (0.001, 1, 0.000_999_500_166_625_008_4),
        (0.001, 5, 8.326_391_864_211_503e-18),
        (5.0, 1, 0.993_262_053_000_914_5),
        (100.0, 50, 0.999_999_988_215_499_3),
        (50.0, 50, 0.518_808_315_472_043_3),
        (10.0, 1, 0.999_954_600_070_237_5),
        (20.0, 10, 0.995_004_587_691_692_4),
        (1e5, 101_000, 0.000_799_801_041_554_541),
        (10.0 / 3.0, 10, 0.002_356_375_424_286_567),
        (2.0, 40, 1.917_158_341_594_273_5e-37),
        (4.5, 41, 2.249_226_690_754_795e-25),
        (0.5, 100, 5.152_342_733_971_752e-189),
        (1000.0, 2000, 3.058_192_080_168_757e-170),
    ];

    #[test]
    fn matches_known_values() {
        for &(lambda, k, want) in KNOWN {
            let got = poisson_upper_tail(k, lambda);
            let rel = ((got - want) / want).abs();
            assert!(rel < 1e-11, "λ={lambda} k={k}: got {got:e}, want {want:e} (rel {rel:e})");
        }
    }

    #[test]
    fn log_tail_beyond_f64_range() {
        // ln P(X ≥ 10^6 | 0.001), ln P(X ≥ 10^6 | 2.5), ln P(X ≥ 2·10^6 | 10^6) from mpmath.
        let cases = [
            (0.001, 1_000_000_u64, -19_723_273.664_640_305),
            (2.5, 1_000_000, -11_899_230.152_781_515),
            (1e6, 2_000_000, -386_301.841_241_154_2),
        ];
        for (lambda, k, want) in cases {
            let got = ln_poisson_upper_tail(k, lambda);
            assert!(((got - want) / want).abs() < 1e-12, "λ={lambda} k={k}: got {got}, want {want}");
            assert_eq!(poisson_upper_tail(k, lambda), 0.0);
        }
        // The near-certain side: ln P(X ≥ 990000 | 10^6) = -6.41e-24.
        let near_one = ln_poisson_upper_tail(990_000, 1e6);
        assert!((near_one + 6.412_350_377_483_007e-24).abs() < 1e-30, "{near_one:e}");
        assert_eq!(poisson_upper_tail(1000, 1e6), 1.0);
    }

    #[test]
    fn edge_cases() {
        assert_eq!(poisson_upper_tail(0, 3.0), 1.0);
        assert_eq!(poisson_upper_tail(0, 0.0), 1.0);
        assert_eq!(poisson_upper_tail(1, 0.0), 0.0);
        assert_eq!(poisson_upper_tail(3, -1.0), 0.0);
        assert_eq!(poisson_upper_tail(3, f64::NAN), 1.0);
        assert_eq!(poisson_upper_tail(3, f64::INFINITY), 1.0);
        // λ tiny: P(X ≥ 1) = 1 - e^-λ ≈ λ.
        let tiny = poisson_upper_tail(1, 1e-12);
        assert!((tiny / 1e-12 - 1.0).abs() < 1e-9, "{tiny:e}");
    }

    #[test]
    fn decreasing_in_k_and_increasing_in_lambda() {
        for lambda in [0.01, 0.7, 3.0, 12.5, 240.0, 5000.0] {
            let mut previous = 1.0;
            for k in 0..(lambda as u64 * 3 + 20) {
                let p = poisson_upper_tail(k, lambda);
                assert!(p <= previous + 1e-15, "λ={lambda} k={k}: {p} > {previous}");
                assert!((0.0..=1.0).contains(&p));
                previous = p;
            }
        }
        for k in [1_u64, 5, 30, 400] {
            let mut previous = 0.0;
            for step in 1..200 {
                let p = poisson_upper_tail(k, f64::from(step) * k as f64 / 50.0);
                assert!(p >= previous - 1e-15, "k={k} step={step}");
                previous = p;
            }
        }
    }

    #[test]
    fn agrees_with_a_direct_sum_for_small_counts() {
        for lambda in [0.3_f64, 1.0, 4.2, 17.0, 60.0] {
            // P(X ≥ k) = 1 - Σ_{j<k} e^-λ λ^j / j!, summed plainly (fine at these sizes).
            let mut cdf = 0.0;
            let mut pmf = (-lambda).exp();
            for k in 0..120_u64 {
                let want = 1.0 - cdf;
                let got = poisson_upper_tail(k, lambda);
                if want > 1e-6 {
                    assert!(((got - want) / want).abs() < 1e-9, "λ={lambda} k={k}: {got} vs {want}");
                }
                cdf += pmf;
                pmf *= lambda / (k + 1) as f64;
            }
        }
    }
}
