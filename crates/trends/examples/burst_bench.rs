//! Burst detection on generated traffic: false hot topics on normal days, detection delay of
//! planted bursts, and assessments per second.
//!
//! `cargo run --release -p tend-trends --example burst_bench -- [--seed N] [--weeks N] [--days N] [--bursts N]`
//! (and, to explore other settings than the defaults: `--short-window MIN`, `--significance P`,
//! `--shortest-window MIN`, `--margin-sigmas Z`, `--min-posts N`)
//!
//! Deterministic for a seed. Several topics with a daily rhythm (busy mornings, quiet nights), a
//! weekly one (busy Mondays, quiet weekends), day-to-day variation of about ±10 % and Poisson
//! noise per minute, in a tenant one hour ahead of UTC. `--weeks` of history are folded hour by
//! hour into each topic's baseline, as routing does; then:
//!
//! - (a) `--days` normal days, every topic assessed every minute (folding as hours complete):
//!   every time a topic turns hot is a false hot topic;
//! - (b) `--bursts` planted bursts on the outage-prone topic ("login"), at 10× then at 4× its
//!   usual rate, each starting at a random minute between 07:00 and 22:00 local and assessed
//!   every minute from half an hour before: the delay from the burst's start to hot; the same
//!   for every other topic, to show how volume bounds the delay (`min_posts` posts must arrive);
//! - (c) assessments per second on one core.
//!
//! Prints one line per figure, then one JSON line for scripts. Never asserts.

use std::time::Instant;

use chrono::{DateTime, Datelike, FixedOffset, TimeDelta, TimeZone, Timelike, Utc};
use tend_trends::burst::{Baseline, Detector, DetectorConfig};

/// Topics: name and usual posts per hour at a weekday's average hour.
const TOPICS: &[(&str, f64)] =
    &[("delivery", 40.0), ("login", 20.0), ("billing", 12.0), ("returns", 6.0), ("outage", 2.0)];

/// The topic the planted outage hits.
const OUTAGE_TOPIC: usize = 1;

/// Relative volume per local hour (averages about 1 over a day).
const HOURLY: [f64; 24] = [
    0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.45, 0.9, 1.5, 1.9, 2.0, 1.9, 1.6, 1.6, 1.7, 1.6, 1.5, 1.4, 1.2, 1.1, 1.0, 0.8,
    0.5, 0.3,
];

/// Relative volume per weekday, Monday first.
const WEEKLY: [f64; 7] = [1.25, 1.05, 1.0, 1.0, 0.95, 0.6, 0.5];

struct Args {
    seed: u64,
    weeks: i64,
    days: i64,
    bursts: usize,
    /// Overrides of the detector's defaults, to explore.
    short_window: Option<u32>,
    significance: Option<f64>,
    margin_sigmas: Option<f64>,
    min_posts: Option<u32>,
    shortest_window: Option<u32>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seed: 42,
        weeks: 4,
        days: 7,
        bursts: 25,
        short_window: None,
        significance: None,
        margin_sigmas: None,
        min_posts: None,
        shortest_window: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag} {value}: {e}");
        let bad_float = |e: std::num::ParseFloatError| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--seed" => args.seed = value.parse().map_err(bad)?,
            "--weeks" => args.weeks = value.parse().map_err(bad)?,
            "--days" => args.days = value.parse().map_err(bad)?,
            "--bursts" => args.bursts = value.parse().map_err(bad)?,
            "--short-window" => args.short_window = Some(value.parse().map_err(bad)?),
            "--shortest-window" => args.shortest_window = Some(value.parse().map_err(bad)?),
            "--significance" => args.significance = Some(value.parse().map_err(bad_float)?),
            "--margin-sigmas" => args.margin_sigmas = Some(value.parse().map_err(bad_float)?),
            "--min-posts" => {
                args.min_posts =
                    Some(value.parse().map_err(|e: std::num::ParseIntError| format!("{flag} {value}: {e}"))?)
            }
            _ => {
                return Err(format!(
                    "unknown flag {flag} (--seed, --weeks, --days, --bursts, --short-window, --shortest-window, --significance, --margin-sigmas, --min-posts)"
                ));
            }
        }
    }
    if args.weeks < 1 || args.days < 1 || args.bursts < 1 {
        return Err("--weeks, --days and --bursts must be at least 1".to_owned());
    }
    Ok(args)
}

/// SplitMix64.
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

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(f64::MIN_POSITIVE);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Poisson: inversion for small means, a rounded normal for large ones.
    fn poisson(&mut self, lambda: f64) -> u32 {
        if lambda > 50.0 {
            return (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u32;
        }
        let u = self.uniform();
        let mut k = 0_u32;
        let mut p = (-lambda).exp();
        let mut cdf = p;
        while u > cdf && k < 1000 {
            k += 1;
            p *= lambda / f64::from(k);
            cdf += p;
        }
        k
    }
}

/// Per-minute counts of every topic from `start`, and the rates they were drawn at.
struct Traffic {
    start: DateTime<Utc>,
    /// `[topic][minute]`: (minute start, posts).
    counts: Vec<Vec<(DateTime<Utc>, u32)>>,
    /// `[topic][minute]`: posts per minute the generator used.
    rates: Vec<Vec<f64>>,
}

impl Traffic {
    fn generate(rng: &mut Rng, zone: FixedOffset, start: DateTime<Utc>, minutes: usize) -> Self {
        let mut counts = Vec::new();
        let mut rates = Vec::new();
        for &(_, per_hour) in TOPICS {
            let mut topic_counts = Vec::with_capacity(minutes);
            let mut topic_rates = Vec::with_capacity(minutes);
            let mut day_factor = 1.0;
            let mut day = None;
            for minute in 0..minutes {
                let at = start + TimeDelta::minutes(minute as i64);
                let local = at.with_timezone(&zone);
                if day != Some(local.ordinal()) {
                    day = Some(local.ordinal());
                    day_factor = (0.1 * rng.normal()).exp();
                }
                // Linear between hourly levels, so hours have a ramp within them.
                let hour = local.hour() as usize;
                let within = f64::from(local.minute()) / 60.0;
                let level = HOURLY[hour] * (1.0 - within) + HOURLY[(hour + 1) % 24] * within;
                let weekday = WEEKLY[local.weekday().num_days_from_monday() as usize];
                let rate = per_hour * level * weekday * day_factor / 60.0;
                topic_rates.push(rate);
                topic_counts.push((at, rng.poisson(rate)));
            }
            counts.push(topic_counts);
            rates.push(topic_rates);
        }
        Self { start, counts, rates }
    }

    fn minute_index(&self, at: DateTime<Utc>) -> usize {
        ((at - self.start).num_minutes()).max(0) as usize
    }

    /// Posts of a topic in `[from, from + 1 h)`.
    fn hour_count(&self, topic: usize, from: DateTime<Utc>) -> u32 {
        let first = self.minute_index(from);
        self.counts[topic][first..(first + 60).min(self.counts[topic].len())].iter().map(|&(_, c)| c).sum()
    }

    /// The rows routing would pass at `now` (a minute boundary): the window's minutes.
    fn recent(&self, topic: usize, now: DateTime<Utc>, minutes: usize) -> &[(DateTime<Utc>, u32)] {
        let end = self.minute_index(now).min(self.counts[topic].len());
        &self.counts[topic][end.saturating_sub(minutes)..end]
    }
}

/// Folds every hour completed by `now` into each topic's baseline, as routing does.
fn fold_completed(detector: &Detector, traffic: &Traffic, baselines: &mut [Baseline], now: DateTime<Utc>) {
    for (topic, baseline) in baselines.iter_mut().enumerate() {
        for hour in detector.hours_to_fold(baseline, now) {
            if hour >= traffic.start {
                detector.fold_hour(baseline, hour, traffic.hour_count(topic, hour));
            }
        }
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Delays in seconds (None: not hot within an hour) of bursts at `multiplier` × on `topic`.
#[allow(clippy::too_many_arguments)]
fn planted(
    detector: &Detector,
    traffic: &Traffic,
    baseline: &Baseline,
    rng: &mut Rng,
    topic: usize,
    multiplier: f64,
    bursts: usize,
    eval_start: DateTime<Utc>,
    days: i64,
    zone: FixedOffset,
) -> (Vec<Burst>, usize) {
    let window = detector.config().window_minutes as usize + 1;
    let mut delays = Vec::new();
    let mut hot_before = 0;
    for _ in 0..bursts {
        // A random minute between 07:00 and 22:00 local on one of the evaluated days (ending at
        // least an hour before the traffic does).
        let day = rng.below(days as u64) as i64;
        let minute_of_day = 7 * 60 + rng.below(15 * 60) as i64;
        let local_midnight = (eval_start + TimeDelta::days(day)).with_timezone(&zone);
        let start = local_midnight + TimeDelta::minutes(minute_of_day);
        let start = start.with_timezone(&Utc);
        let first = traffic.minute_index(start);
        if first + 60 > traffic.counts[topic].len() {
            continue;
        }
        // The burst: the normal counts plus (multiplier - 1) × the usual rate, for an hour.
        let mut counts = traffic.counts[topic].clone();
        let rates = &traffic.rates[topic][first..first + 60];
        for ((_, posts), rate) in counts[first..first + 60].iter_mut().zip(rates) {
            *posts += rng.poisson((multiplier - 1.0) * rate);
        }
        let mut since = None;
        let mut delay = None;
        for step in -30_i64..=60 {
            let now = start + TimeDelta::minutes(step);
            let end = traffic.minute_index(now);
            let heat = detector.assess(baseline, since, &counts[end.saturating_sub(window)..end], now);
            since = heat.since;
            if step <= 0 && heat.hot {
                hot_before += 1;
            }
            if step > 0 && heat.hot {
                delay = Some((now - start).num_seconds() as f64);
                break;
            }
        }
        delays.push(Burst {
            delay,
            per_minute: multiplier * traffic.rates[topic][first],
            start: start.with_timezone(&zone),
        });
    }
    (delays, hot_before)
}

/// One planted burst and how long it took to be hot.
struct Burst {
    /// Seconds from the start to hot, `None` if not hot within an hour.
    delay: Option<f64>,
    /// Posts per minute at the burst's start (multiplier × usual).
    per_minute: f64,
    start: DateTime<FixedOffset>,
}

/// "delay min 60 s, median 180 s, max 300 s; 25/25 within 5 min, 0 missed in 60 min".
fn describe(found: &[f64], missed: usize) -> String {
    let within = found.iter().filter(|&&d| d <= 300.0).count();
    format!(
        "delay min {:>5.0} s, median {:>5.0} s, max {:>5.0} s; {within:>2}/{} within 5 min, {missed} not hot in 60 min",
        found.first().copied().unwrap_or(f64::NAN),
        percentile(found, 0.5),
        found.last().copied().unwrap_or(f64::NAN),
        found.len() + missed
    )
}

fn summarize(bursts: &[&Burst]) -> (Vec<f64>, usize) {
    let delays: Vec<Option<f64>> = bursts.iter().map(|b| b.delay).collect();
    let mut found: Vec<f64> = delays.iter().flatten().copied().collect();
    found.sort_by(f64::total_cmp);
    let missed = delays.len() - found.len();
    (found, missed)
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("burst_bench: {message}");
            std::process::exit(2);
        }
    };
    let zone = FixedOffset::east_opt(3600).unwrap_or(FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!()));
    let defaults = DetectorConfig::default();
    let config = DetectorConfig {
        short_window_minutes: args.short_window.unwrap_or(defaults.short_window_minutes),
        shortest_window_minutes: args.shortest_window.unwrap_or(defaults.shortest_window_minutes),
        significance: args.significance.unwrap_or(defaults.significance),
        margin_sigmas: args.margin_sigmas.unwrap_or(defaults.margin_sigmas),
        min_posts: args.min_posts.unwrap_or(defaults.min_posts),
        ..defaults
    };
    let detector = match Detector::new(config.clone(), zone) {
        Ok(detector) => detector,
        Err(error) => {
            eprintln!("burst_bench: {error}");
            std::process::exit(2);
        }
    };
    let mut rng = Rng(args.seed);
    // A Monday, midnight local.
    let Some(history_start) = zone.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).single().map(|t| t.with_timezone(&Utc))
    else {
        unreachable!("a fixed offset has no gaps")
    };
    let eval_start = history_start + TimeDelta::weeks(args.weeks);
    let total_minutes = ((args.weeks * 7 + args.days) * 1440) as usize;
    let generated = Instant::now();
    let traffic = Traffic::generate(&mut rng, zone, history_start, total_minutes);
    println!(
        "traffic: {} topics, {} weeks of history + {} days, {} posts, generated in {:.2?} (seed {})",
        TOPICS.len(),
        args.weeks,
        args.days,
        traffic.counts.iter().flatten().map(|&(_, c)| u64::from(c)).sum::<u64>(),
        generated.elapsed(),
        args.seed
    );
    println!(
        "config: window {} min + short {} min + shortest {} min, min_posts {}, min_ratio {}, significance {}, cool_ratio {}, floor {}/h",
        config.window_minutes,
        config.short_window_minutes,
        config.shortest_window_minutes,
        config.min_posts,
        config.min_ratio,
        config.significance,
        config.cool_ratio,
        config.floor_per_hour
    );

    // History, folded hour by hour.
    let mut baselines = vec![Baseline::new(); TOPICS.len()];
    let mut hour = history_start + TimeDelta::hours(1);
    while hour <= eval_start {
        fold_completed(&detector, &traffic, &mut baselines, hour);
        hour += TimeDelta::hours(1);
    }
    let blob = serde_json::to_string(&baselines[0]).unwrap_or_default();
    println!("baseline blob: {} bytes as JSON ({} busiest topic)", blob.len(), TOPICS[0].0);
    let learned = baselines.clone();

    // (a) Normal days, every minute, folding as hours complete.
    let window = config.window_minutes as usize + 1;
    let mut since = vec![None; TOPICS.len()];
    let mut turned_hot = vec![0_u32; TOPICS.len()];
    let mut hot_minutes = 0_u64;
    let mut examples = Vec::new();
    let minutes = (args.days * 1440) as usize;
    let mut assessed = 0_u64;
    for step in 1..=minutes {
        let now = eval_start + TimeDelta::minutes(step as i64);
        if now.minute() == 0 {
            fold_completed(&detector, &traffic, &mut baselines, now);
        }
        for topic in 0..TOPICS.len() {
            let heat = detector.assess(&baselines[topic], since[topic], traffic.recent(topic, now, window), now);
            assessed += 1;
            if heat.hot {
                hot_minutes += 1;
                if since[topic].is_none() {
                    turned_hot[topic] += 1;
                    if examples.len() < 5 {
                        let end = traffic.minute_index(now);
                        let minutes = heat.window_minutes as usize;
                        let generated: f64 = traffic.rates[topic][end - minutes..end].iter().sum();
                        examples.push(format!(
                            "{} at {}: {} (generated at {generated:.1} expected, baseline {:.1}, p {:.1e})",
                            TOPICS[topic].0,
                            now.with_timezone(&zone),
                            heat.reason,
                            heat.expected,
                            heat.p_value
                        ));
                    }
                }
            }
            since[topic] = heat.since;
        }
    }
    let topic_days = (TOPICS.len() as i64 * args.days) as f64;
    let false_hot: u32 = turned_hot.iter().sum();
    let false_per_topic_day = f64::from(false_hot) / topic_days;
    println!(
        "normal days: {false_hot} false hot topics in {topic_days} topic-days ({false_per_topic_day:.4} per topic-day), {hot_minutes} hot minutes, {assessed} assessments"
    );
    for (topic, &(name, per_hour)) in TOPICS.iter().enumerate() {
        println!("  {name:<9} ({per_hour:>4}/h average weekday hour): {} false hot", turned_hot[topic]);
    }
    for example in &examples {
        println!("  e.g. {example}");
    }

    // (b) Planted bursts.
    let mut headline = (Vec::new(), 0);
    let mut headline_4x = (Vec::new(), 0);
    // 10× bursts on any topic that bring at least 4 posts a minute: enough volume for
    // `min_posts` posts within a few minutes.
    let mut strong = (Vec::new(), 0);
    let mut hot_before_total = 0;
    for multiplier in [10.0, 4.0] {
        let mut all = Vec::new();
        for (topic, &(name, per_hour)) in TOPICS.iter().enumerate() {
            let mut burst_rng = Rng(args.seed ^ ((topic as u64 + 1) * 0x1000) ^ multiplier as u64);
            let (bursts, hot_before) = planted(
                &detector,
                &traffic,
                &learned[topic],
                &mut burst_rng,
                topic,
                multiplier,
                args.bursts,
                eval_start,
                args.days,
                zone,
            );
            hot_before_total += hot_before;
            let refs: Vec<&Burst> = bursts.iter().collect();
            let (found, missed) = summarize(&refs);
            let marker = if topic == OUTAGE_TOPIC { " <- the planted outage" } else { "" };
            println!("burst {multiplier:>2}× on {name:<9} ({per_hour:>4}/h): {}{marker}", describe(&found, missed));
            if topic == OUTAGE_TOPIC {
                for slow in bursts.iter().filter(|b| b.delay.is_none_or(|d| d > 300.0)) {
                    println!(
                        "    slower than 5 min: start {} ({:.1} posts/min in the burst): {}",
                        slow.start.format("%a %H:%M"),
                        slow.per_minute,
                        slow.delay.map_or("not hot within 60 min".to_owned(), |d| format!("{d:.0} s"))
                    );
                }
                if multiplier > 5.0 {
                    headline = (found, missed);
                } else {
                    headline_4x = (found, missed);
                }
            }
            all.extend(bursts);
        }
        // The same bursts by intensity: the posts per minute they bring decide how soon
        // `min_posts` posts (and a significant count) can be there.
        for (low, high) in [(0.0, 1.0), (1.0, 2.0), (2.0, 4.0), (4.0, f64::INFINITY)] {
            let bucket: Vec<&Burst> = all.iter().filter(|b| b.per_minute >= low && b.per_minute < high).collect();
            if bucket.is_empty() {
                continue;
            }
            let (found, missed) = summarize(&bucket);
            let range = if high.is_finite() { format!("{low}–{high}") } else { format!("≥ {low}") };
            println!("burst {multiplier:>2}× bringing {range} posts/min: {}", describe(&found, missed));
            if multiplier > 5.0 && low >= 4.0 {
                strong = (found, missed);
            }
        }
    }
    println!("bursts: {hot_before_total} assessments hot before a burst started (false hot)");
    let (outage, outage_missed) = &headline;
    let median = percentile(outage, 0.5);
    let max = if *outage_missed > 0 { f64::INFINITY } else { outage.last().copied().unwrap_or(f64::NAN) };
    let share_within = |found: &[f64], missed: usize| {
        found.iter().filter(|&&d| d <= 300.0).count() as f64 / (found.len() + missed).max(1) as f64
    };
    let outage_share = share_within(outage, *outage_missed);
    println!(
        "planted outage ({} 10×): median {median:.0} s, max {max:.0} s, {:.0} % within 5 minutes: {}",
        TOPICS[OUTAGE_TOPIC].0,
        outage_share * 100.0,
        if max <= 300.0 {
            "all within 5 minutes"
        } else {
            "NOT all within 5 minutes (see the posts/min of the slow ones)"
        }
    );
    let (strong_found, strong_missed) = &strong;
    let strong_share = share_within(strong_found, *strong_missed);
    let strong_max = if *strong_missed > 0 { f64::INFINITY } else { strong_found.last().copied().unwrap_or(f64::NAN) };
    println!(
        "10× bursts bringing ≥ 4 posts/min (any topic): {:.0} % within 5 minutes, median {:.0} s, max {strong_max:.0} s",
        strong_share * 100.0,
        percentile(strong_found, 0.5)
    );

    // (c) Throughput: a realistic call (31 rows, learned baseline), cycling topics and minutes.
    let calls = 300_000_usize;
    let timed = Instant::now();
    let mut hot = 0_u64;
    for call in 0..calls {
        let topic = call % TOPICS.len();
        let now = eval_start + TimeDelta::minutes((call % minutes) as i64 + 1);
        let heat = detector.assess(&learned[topic], None, traffic.recent(topic, now, window), now);
        hot += u64::from(heat.hot);
    }
    let elapsed = timed.elapsed().as_secs_f64();
    let per_second = calls as f64 / elapsed;
    println!(
        "assess: {calls} calls in {elapsed:.3} s = {per_second:.0} per second ({:.2} µs each; {hot} hot)",
        elapsed * 1e6 / calls as f64
    );

    let json_number = |x: f64| if x.is_finite() { format!("{x:.1}") } else { "null".to_owned() };
    let (outage_4x, missed_4x) = &headline_4x;
    println!(
        "{{\"false_hot_per_topic_day\":{false_per_topic_day:.5},\"detect_delay_s_median\":{},\"detect_delay_s_max\":{},\"detect_delay_4x_s_median\":{},\"detect_delay_4x_s_max\":{},\"detect_within_5min_share\":{outage_share:.3},\"detect_delay_s_max_ge4_per_min\":{},\"detect_within_5min_share_ge4_per_min\":{strong_share:.3},\"assess_per_s\":{per_second:.0},\"baseline_json_bytes\":{}}}",
        json_number(median),
        json_number(max),
        json_number(percentile(outage_4x, 0.5)),
        json_number(if *missed_4x > 0 { f64::INFINITY } else { outage_4x.last().copied().unwrap_or(f64::NAN) }),
        json_number(strong_max),
        blob.len()
    );
}
