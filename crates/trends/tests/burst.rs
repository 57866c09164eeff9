//! Burst detection, end to end: baselines learned hour by hour, verdicts and reasons.

use chrono::{DateTime, FixedOffset, TimeDelta, TimeZone, Utc, Weekday};
use proptest::prelude::*;
use tend_trends::burst::{
    Baseline, Detector, DetectorConfig, Error, Heat, LocalOffset, OffsetFn, Trend, hours_to_fold, poisson_upper_tail,
};

/// The tenant is two hours ahead of UTC.
fn zone() -> FixedOffset {
    FixedOffset::east_opt(2 * 3600).expect("a valid offset")
}

fn detector() -> Detector {
    Detector::new(DetectorConfig::default(), zone()).expect("the default config is valid")
}

/// A UTC instant from the tenant's local wall time (2026-12-07 is a Monday).
fn local(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    zone()
        .with_ymd_and_hms(2026, 12, day, hour, minute, 0)
        .single()
        .expect("a fixed offset has no gaps")
        .with_timezone(&Utc)
}

/// A baseline that has seen `weeks` weeks ending just before Monday 2026-12-07 00:00 local, each
/// hour exactly at `rate(weekday, hour)` (rounded), folded the way routing does it.
fn learned<Z: LocalOffset>(detector: &Detector<Z>, weeks: i64, rate: impl Fn(Weekday, u32) -> u32) -> Baseline {
    let mut baseline = Baseline::new();
    let end = local(7, 0, 0);
    let mut hour = end - TimeDelta::weeks(weeks);
    while hour < end {
        let local_time = hour.with_timezone(&zone());
        let count = rate(chrono::Datelike::weekday(&local_time), chrono::Timelike::hour(&local_time));
        assert!(detector.fold_hour(&mut baseline, hour, count));
        hour += TimeDelta::hours(1);
    }
    baseline
}

/// `posts` spread as evenly as possible over the `minutes` minutes before `end`.
fn spread(posts: u32, minutes: u32, end: DateTime<Utc>) -> Vec<(DateTime<Utc>, u32)> {
    (0..minutes)
        .map(|i| {
            let share = posts * (i + 1) / minutes - posts * i / minutes;
            (end - TimeDelta::minutes(i64::from(minutes - i)), share)
        })
        .collect()
}

/// Ten posts an hour, always: a flat baseline.
fn flat(detector: &Detector) -> Baseline {
    learned(detector, 4, |_, _| 10)
}

#[test]
fn a_nine_fold_burst_is_hot_with_a_reason() {
    let detector = detector();
    let baseline = flat(&detector);
    // Tuesday 10:00 local: 5 posts expected in 30 min, 45 came.
    let now = local(8, 10, 0);
    let heat = detector.assess(&baseline, None, &spread(45, 30, now), now);
    assert!(heat.hot, "{heat:?}");
    assert_eq!(heat.count, 45);
    assert!((heat.expected - 5.0).abs() < 1e-9, "{}", heat.expected);
    assert!((heat.ratio - 9.0).abs() < 1e-9);
    assert!(heat.p_value < 1e-20);
    assert_eq!(heat.window_minutes, 30);
    assert_eq!(heat.since, Some(now));
    assert_eq!(heat.reason, "45 posts in 30 min, 9× the usual for a Tuesday morning");
    assert!((heat.score - (1.0 - 1.0 / 9.0)).abs() < 1e-9);
}

#[test]
fn hot_stays_hot_at_twice_and_cools_at_the_usual() {
    let detector = detector();
    let baseline = flat(&detector);
    let turned = local(8, 10, 0);
    let hot = detector.assess(&baseline, None, &spread(45, 30, turned), turned);
    assert_eq!(hot.since, Some(turned));

    // Twenty minutes later at 2×: still hot, since kept.
    let later = turned + TimeDelta::minutes(20);
    let warm = detector.assess(&baseline, hot.since, &spread(10, 30, later), later);
    assert!(warm.hot, "{warm:?}");
    assert_eq!(warm.since, Some(turned));
    assert!((warm.score - 0.5).abs() < 1e-9, "{}", warm.score);

    // 2× without having been hot is not hot.
    let fresh = detector.assess(&baseline, None, &spread(10, 30, later), later);
    assert!(!fresh.hot);
    assert_eq!(fresh.since, None);
    assert_eq!(fresh.score, 0.0);

    // Back at the usual: cool.
    let cooled = detector.assess(&baseline, warm.since, &spread(5, 30, later), later);
    assert!(!cooled.hot, "{cooled:?}");
    assert_eq!(cooled.since, None);
    assert_eq!(cooled.reason, "5 posts in 30 min, 1× the usual for a Tuesday morning");
}

#[test]
fn the_short_window_catches_a_sharp_burst_first() {
    let detector = detector();
    let baseline = flat(&detector);
    let now = local(8, 10, 0);
    // 25 minutes at the usual rate, then 5 minutes at 12×: the 30-min window is only at 2.6×.
    let mut counts = spread(4, 25, now - TimeDelta::minutes(5));
    counts.extend(spread(10, 5, now));
    let heat = detector.assess(&baseline, None, &counts, now);
    assert!(heat.hot, "{heat:?}");
    // The least likely window decides: the 5 minutes of the burst itself.
    assert_eq!(heat.window_minutes, 5);
    assert_eq!(heat.trend, Trend::Rising);
    assert!(heat.reason.starts_with("10 posts in 5 min, 12× the usual"), "{}", heat.reason);

    // With two windows (and their significance, 10⁻⁴), the 10-minute one catches it.
    let config = DetectorConfig { shortest_window_minutes: 0, significance: 0.0001, ..DetectorConfig::default() };
    let ten = Detector::new(config, zone()).unwrap().assess(&baseline, None, &counts, now);
    assert!(ten.hot, "{ten:?}");
    assert_eq!(ten.window_minutes, 10);
    assert!(ten.reason.starts_with("11 posts in 10 min, 7× the usual"), "{}", ten.reason);

    // Without the shorter windows, the same counts are not (yet) hot.
    let config = DetectorConfig { short_window_minutes: 0, shortest_window_minutes: 0, ..DetectorConfig::default() };
    let slow = Detector::new(config, zone()).unwrap();
    assert!(!slow.assess(&baseline, None, &counts, now).hot);
}

#[test]
fn the_hour_of_the_week_matters() {
    let detector = detector();
    // Busy weekday mornings, quiet nights.
    let baseline = learned(&detector, 4, |weekday, hour| match (weekday, hour) {
        (Weekday::Sat | Weekday::Sun, _) => 2,
        (_, 0..=6) => 1,
        (_, 7..=12) => 60,
        _ => 20,
    });
    let monday = local(7, 9, 30);
    let busy = detector.assess(&baseline, None, &spread(32, 30, monday), monday);
    assert!(!busy.hot, "{busy:?}");
    assert_eq!(busy.reason, "32 posts in 30 min, 1.1× the usual for a Monday morning");

    let sunday_night = local(13, 3, 30);
    let burst = detector.assess(&baseline, None, &spread(32, 30, sunday_night), sunday_night);
    assert!(burst.hot, "{burst:?}");
    assert_eq!(burst.reason, "32 posts in 30 min, 32× the usual for a Sunday night");
    assert!((burst.expected - 1.0).abs() < 1e-9, "the floor, 2/h: {}", burst.expected);
}

#[test]
fn a_new_topic_needs_real_volume() {
    let detector = detector();
    let baseline = Baseline::new();
    let now = local(8, 10, 0);
    let few = detector.assess(&baseline, None, &spread(3, 30, now), now);
    assert!(!few.hot, "{few:?}");
    assert_eq!(few.reason, "3 posts in 30 min, 3× the rate expected for a new topic");
    let many = detector.assess(&baseline, None, &spread(40, 30, now), now);
    assert!(many.hot, "{many:?}");
    assert_eq!(many.reason, "40 posts in 30 min, 40× the rate expected for a new topic");
    let one = detector.assess(&baseline, None, &[(now - TimeDelta::minutes(1), 1)], now);
    assert_eq!(one.reason, "1 post in 30 min, 1× the rate expected for a new topic");
}

#[test]
fn expectations_span_hours_pro_rata_and_blend_young_slots() {
    let detector = detector();
    let baseline = learned(&detector, 3, |_, hour| if hour == 10 { 40 } else { 10 });
    // 15 min of the 10/h hour and 15 min of the 40/h hour.
    let expected = detector.expected(&baseline, local(8, 10, 15), TimeDelta::minutes(30));
    assert!((expected - 12.5).abs() < 1e-9, "{expected}");

    // One week of history: slots are a third their own mean, two thirds the overall mean.
    let young = learned(&detector, 1, |_, hour| if hour == 10 { 40 } else { 10 });
    let overall = young.overall_mean().unwrap();
    assert!((overall - 11.25).abs() < 1e-9, "{overall}");
    let hour_10 = detector.expected(&young, local(8, 11, 0), TimeDelta::hours(1));
    assert!((hour_10 - (40.0 + 2.0 * 11.25) / 3.0).abs() < 1e-6, "{hour_10}");
    assert_eq!(young.slot(Weekday::Tue, 10), (40.0, 1));
}

#[test]
fn the_current_minute_counts_as_far_as_it_has_elapsed() {
    let detector = detector();
    let baseline = flat(&detector);
    // 20 s into 10:00: the windows end at 10:01 and their expectation covers 29 min 20 s.
    let now = local(8, 10, 0) + TimeDelta::seconds(20);
    let counts = [(local(8, 10, 0), 2), (local(8, 9, 31), 3), (local(8, 9, 30), 7)];
    let heat = detector.assess(&baseline, None, &counts, now);
    assert_eq!(heat.count, 5, "the 09:30 row is outside [09:31, now]");
    assert!((heat.expected - 10.0 * (29.0 * 60.0 + 20.0) / 3600.0).abs() < 1e-9, "{}", heat.expected);
}

#[test]
fn outages_do_not_teach_the_baseline_that_outages_are_normal() {
    let detector = detector();
    let mut baseline = flat(&detector);
    let hour = local(7, 0, 0);
    assert!(detector.fold_hour(&mut baseline, hour, 500));
    let (mean, observations) = baseline.slot(Weekday::Mon, 0);
    // Capped at 4 × 10 = 40, then weighted 1/5 (the fifth week): 10 + (40 - 10) / 5.
    assert!((mean - 16.0).abs() < 1e-6, "{mean}");
    assert_eq!(observations, 5);
}

#[test]
fn folding_is_idempotent_and_the_helper_lists_exactly_the_missing_hours() {
    let detector = detector();
    let mut baseline = flat(&detector);
    let last = baseline.last_folded().unwrap();
    assert_eq!(last, local(6, 23, 0));
    let snapshot = baseline.clone();
    assert!(!detector.fold_hour(&mut baseline, last, 99), "an hour already folded");
    assert!(!detector.fold_hour(&mut baseline, last - TimeDelta::hours(5), 99));
    assert_eq!(baseline, snapshot);

    let now = local(7, 3, 20);
    let missing = detector.hours_to_fold(&baseline, now);
    assert_eq!(missing, vec![local(7, 0, 0), local(7, 1, 0), local(7, 2, 0)]);
    for hour in &missing {
        assert!(detector.fold_hour(&mut baseline, *hour, 10));
    }
    assert!(detector.hours_to_fold(&baseline, now).is_empty());
    assert_eq!(hours_to_fold(baseline.last_folded(), now, &zone(), 48), Vec::<DateTime<Utc>>::new());
}

#[test]
fn baselines_round_trip_through_json() {
    let detector = detector();
    let baseline = learned(&detector, 4, |weekday, hour| weekday.num_days_from_monday() * 7 + hour);
    let json = serde_json::to_string(&baseline).unwrap();
    let back: Baseline = serde_json::from_str(&json).unwrap();
    assert_eq!(back, baseline);
    assert!(json.len() < 1500, "{} bytes", json.len());
    let fresh = serde_json::to_string(&Baseline::new()).unwrap();
    assert_eq!(serde_json::from_str::<Baseline>(&fresh).unwrap(), Baseline::new());

    let short = r#"{"m":[1.0],"n":[1],"last":null}"#;
    let error = serde_json::from_str::<Baseline>(short).unwrap_err();
    assert!(error.to_string().contains("1 means, expected 168"), "{error}");
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    value["m"][3] = serde_json::json!(-1.0);
    let error = serde_json::from_value::<Baseline>(value).unwrap_err();
    assert!(error.to_string().contains("mean -1 is not a rate"), "{error}");
}

#[test]
fn configs_are_validated_by_field() {
    assert_eq!(DetectorConfig::default().validate(), Ok(()));
    let cases: [(DetectorConfig, &str); 8] = [
        (DetectorConfig { window_minutes: 1, ..DetectorConfig::default() }, "window_minutes"),
        (DetectorConfig { short_window_minutes: 30, ..DetectorConfig::default() }, "short_window_minutes"),
        (DetectorConfig { shortest_window_minutes: 10, ..DetectorConfig::default() }, "shortest_window_minutes"),
        (
            DetectorConfig { short_window_minutes: 0, shortest_window_minutes: 30, ..DetectorConfig::default() },
            "shortest_window_minutes",
        ),
        (DetectorConfig { min_ratio: 1.0, ..DetectorConfig::default() }, "min_ratio"),
        (DetectorConfig { significance: 0.0, ..DetectorConfig::default() }, "significance"),
        (DetectorConfig { cool_ratio: 4.0, ..DetectorConfig::default() }, "cool_ratio"),
        (DetectorConfig { floor_per_hour: f64::NAN, ..DetectorConfig::default() }, "floor_per_hour"),
    ];
    for (config, field) in cases {
        match Detector::new(config, zone()) {
            Err(Error::InvalidConfig { field: named, .. }) => assert_eq!(named, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let partial: DetectorConfig = serde_json::from_str(r#"{"window_minutes": 20}"#).unwrap();
    assert_eq!(partial, DetectorConfig { window_minutes: 20, ..DetectorConfig::default() });
}

#[test]
fn zones_with_daylight_saving_are_functions() {
    // +01:00 in winter, +02:00 from the switch on: the same UTC hour is another local hour.
    let switch = local(7, 12, 0);
    let zone = OffsetFn(move |at: DateTime<Utc>| FixedOffset::east_opt(if at < switch { 3600 } else { 7200 }).unwrap());
    let detector = Detector::new(DetectorConfig::default(), zone).unwrap();
    let mut baseline = Baseline::new();
    let before = local(7, 9, 0); // 08:00 local at +01:00
    assert!(detector.fold_hour(&mut baseline, before, 7));
    assert_eq!(baseline.slot(Weekday::Mon, 8), (7.0, 1));
    let after = local(7, 13, 0); // 13:00 local at +02:00
    assert!(detector.fold_hour(&mut baseline, after, 9));
    assert_eq!(baseline.slot(Weekday::Mon, 13), (9.0, 1));
}

/// SplitMix64: a small, seeded generator.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1_u64 << 53) as f64
    }

    /// Poisson by inversion (fine for the small per-minute rates used here).
    fn poisson(&mut self, lambda: f64) -> u32 {
        let mut k = 0;
        let mut p = (-lambda).exp();
        let mut cdf = p;
        let u = self.uniform();
        while u > cdf && k < 10_000 {
            k += 1;
            p *= lambda / f64::from(k);
            cdf += p;
        }
        k
    }
}

/// Windows at the baseline's own rate that turn hot, out of `trials`.
fn false_hot(rate_per_hour: f64, config: DetectorConfig, seed: u64, trials: u32) -> (u32, Heat) {
    let window_minutes = config.window_minutes;
    let detector = Detector::new(config, zone()).expect("a valid config");
    // Learned exactly: every slot's mean is the rate.
    let mut baseline = Baseline::new();
    let start = local(7, 0, 0) - TimeDelta::weeks(3);
    let mut hour = start;
    let mut carry = 0.0;
    while hour < local(7, 0, 0) {
        // Alternate floor/ceil so fractional rates are learned to within the rounding.
        carry += rate_per_hour;
        let count = carry.floor();
        carry -= count;
        detector.fold_hour(&mut baseline, hour, count as u32);
        hour += TimeDelta::hours(1);
    }
    let mut rng = Rng(seed);
    let mut hot = 0;
    let mut last = None;
    for trial in 0..trials {
        let now = local(7, 0, 0) + TimeDelta::minutes(i64::from(trial % 5000) * 2);
        let counts: Vec<_> = (1..=window_minutes)
            .map(|back| (now - TimeDelta::minutes(i64::from(back)), rng.poisson(rate_per_hour / 60.0)))
            .collect();
        let heat = detector.assess(&baseline, None, &counts, now);
        hot += u32::from(heat.hot);
        last = Some(heat);
    }
    (hot, last.expect("at least one trial"))
}

#[test]
fn at_the_usual_rate_topics_are_rarely_hot() {
    // Rates around where the Poisson test, not min_posts or min_ratio, is what decides.
    let trials = 20_000;
    let mut total = 0;
    for (i, rate) in [2.0, 8.0, 15.0, 25.0, 60.0, 240.0].into_iter().enumerate() {
        let (hot, _) = false_hot(rate, DetectorConfig::default(), 7 + i as u64, trials);
        // Each window has P(hot) ≤ significance = 0.0001 under the null: ≤ 2 expected.
        assert!(hot <= 8, "rate {rate}/h: {hot} of {trials} windows hot");
        total += hot;
    }
    assert!(total <= 12, "{total}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// The bare Poisson test (no margin) at 0.001 is calibrated: at most about that share of
    /// windows at the usual rate turn hot.
    #[test]
    fn false_hot_rate_stays_below_the_significance_level(
        rate in 0.5_f64..400.0,
        window in 5_u32..90,
        with_short in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let short = if with_short { (window / 3).max(2) } else { 0 };
        // A third window below the short one when there is room for it.
        let shortest = if short > 2 { (short / 2).max(2) } else { 0 };
        let config = DetectorConfig {
            window_minutes: window,
            short_window_minutes: short,
            shortest_window_minutes: shortest,
            significance: 0.001,
            margin_sigmas: 0.0,
            ..DetectorConfig::default()
        };
        let trials = 2_000;
        let (hot, heat) = false_hot(rate, config, seed, trials);
        // Expected ≤ 2 (0.001 × 2000); 12 or more has probability ~1e-5.
        prop_assert!(hot < 12, "rate {rate}/h, window {window}, short {short}, shortest {shortest}: {hot} hot; last {heat:?}");
    }

    #[test]
    fn more_posts_never_cool_a_topic_and_the_score_follows_the_ratio(
        usual in 1_u32..100,
        posts in 0_u32..400,
        extra in 1_u32..200,
        was_hot in any::<bool>(),
    ) {
        let detector = detector();
        let baseline = learned(&detector, 3, |_, _| usual);
        let now = local(9, 15, 0);
        let since = was_hot.then(|| now - TimeDelta::minutes(5));
        let less = detector.assess(&baseline, since, &spread(posts, 30, now), now);
        let more = detector.assess(&baseline, since, &spread(posts + extra, 30, now), now);
        prop_assert!(!less.hot || more.hot, "{less:?} then {more:?}");
        prop_assert!(more.score >= less.score - 1e-12 || !more.hot || less.window_minutes != more.window_minutes);
        prop_assert!((0.0..=1.0).contains(&more.score));
        prop_assert!(more.p_value <= less.p_value + 1e-12 || less.window_minutes != more.window_minutes);
        // The margin only makes the test more cautious.
        prop_assert!(more.p_value >= poisson_upper_tail(more.count, more.expected));
    }
}

#[test]
fn extreme_inputs_do_not_panic() {
    let detector = detector();
    let mut baseline = flat(&detector);
    for now in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
        let heat = detector.assess(&baseline, Some(now), &[(now, u32::MAX)], now);
        assert!(!heat.ratio.is_nan());
        let _ = detector.hours_to_fold(&baseline, now);
    }
    // A year: 52 weeks at 10/h plus one day.
    let year = detector.expected(&baseline, local(8, 10, 0), TimeDelta::days(365));
    assert!((year - 365.0 * 24.0 * 10.0).abs() < 1e-6, "{year}");
    assert_eq!(detector.expected(&baseline, local(8, 10, 0), TimeDelta::minutes(-5)), 0.0);
    assert!(detector.expected(&baseline, local(8, 10, 0), TimeDelta::MAX).is_finite());
    assert!(detector.fold_hour(&mut baseline, DateTime::<Utc>::MAX_UTC, 3));
}
