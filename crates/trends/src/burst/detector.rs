//! The detector: learns baselines hour by hour and tells, from the recent per-minute counts,
//! whether a topic is hot now, by how much and why.

use chrono::{DateTime, Datelike, FixedOffset, TimeDelta, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::Error;
use super::baseline::Baseline;
use super::poisson::poisson_upper_tail;
use super::time::{
    LocalOffset, PartOfDay, SLOTS, ceil_minute, from_ms, hours_to_fold, local, ms_to_next_local_hour, shift, slot_of,
    weekday_name,
};

const HOUR_MS: f64 = 3_600_000.0;

/// How the detector decides and learns. Every field has a default ([`Default`], and missing
/// fields when deserialised); [`DetectorConfig::validate`] names the first bad field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    /// The main window, in minutes (default 30): its count is what the reason quotes, the trend
    /// compares its halves, and it alone is needed for cooling down. 2 to 1440.
    pub window_minutes: u32,
    /// A shorter window tested alongside the main one, in minutes (default 10; 0 turns it off),
    /// so a sharp burst turns hot in a few minutes rather than the two thirds of the main window
    /// a 10× burst needs to triple it. Shorter than `window_minutes`, at least 2.
    pub short_window_minutes: u32,
    /// A third, shortest window (default 5; 0 turns it off), for a flood that a 10-minute window
    /// would still be averaging in: on generated traffic it brings a 10× burst of 2–4 posts a
    /// minute in under 5 minutes where the short window alone needed up to 10. Shorter than
    /// `short_window_minutes` (or `window_minutes` without it), at least 2.
    pub shortest_window_minutes: u32,
    /// A window turns a topic hot only with at least this many posts (default 10): a handful of
    /// posts is never a burst, however quiet the topic usually is.
    pub min_posts: u32,
    /// … and at least this many times its expected count (default 3.0). Above 1.
    pub min_ratio: f64,
    /// … and only if its count is this improbable under the baseline: one-sided Poisson upper
    /// tail `P(X ≥ count | expected + margin) < significance` (default 0.00005), split evenly
    /// between the windows tested (Bonferroni). In `(0, 0.5]`.
    ///
    /// Why so small: routing asks every minute or more often, so each topic meets about 1,440
    /// overlapping windows a day; on generated traffic (`examples/burst_bench.rs`, 4 weeks
    /// learned, 28 days × 5 topics per seed) 10⁻³ over two windows made about 0.015 false hot
    /// topics per topic-day, 10⁻⁴ about 0.005; 5·10⁻⁵ over three windows (30, 10 and 5
    /// minutes) about 0.004 (2 in 560 topic-days over seeds 3, 7, 42, 99) while a planted 10×
    /// outage turns hot within 5 minutes 84–92 % of the time instead of 74–88 %.
    pub significance: f64,
    /// Hysteresis: a hot topic stays hot while a window's count is at least `cool_ratio` times
    /// its expected count (default 1.5). From 1 to `min_ratio`.
    pub cool_ratio: f64,
    /// Posts per hour expected of a topic with no baseline yet, and the least ever expected of
    /// any topic (default 2.0): a quiet night does not make three posts a burst. Above 0.
    pub floor_per_hour: f64,
    /// Weight of a newly folded week in a slot's mean once the slot has enough history (default
    /// 0.2: the last five weeks or so count); the first observations are averaged plainly
    /// (weight `1/n`). In `(0, 1]`.
    pub learning_rate: f64,
    /// Observations after which a slot's own mean is trusted alone (default 3); below that it is
    /// blended with the topic's overall mean in proportion. At least 1.
    pub trust_observations: u8,
    /// A folded hour counts at most this many times what was expected of it (default 4.0), once
    /// its slot has `trust_observations`, so an outage does not teach the baseline that outages
    /// are normal; a topic that really grows still gets there, the cap rising with the mean.
    /// At least 1.
    pub fold_cap_ratio: f64,
    /// How many missing hours [`Detector::hours_to_fold`] lists at most (default 48): after a
    /// longer gap the older hours are skipped. At least 1.
    pub max_catch_up_hours: u32,
    /// The baseline is an estimate: the significance test is against the expected count plus
    /// this many standard deviations of its uncertainty (default 2.0; 0 tests against the
    /// expected count itself). The uncertainty combines the slot's estimation error (a mean of a
    /// few weeks of Poisson counts: variance `rate / weeks` per hour) with `daily_variation`.
    /// Without it, the slots that happen to be learned low make most false hot topics. At least 0.
    pub margin_sigmas: f64,
    /// How much a day's volume varies from its usual beyond Poisson noise, as a coefficient of
    /// variation (default 0.1: ±10 %); part of the margin above. 0 to 1.
    pub daily_variation: f64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            window_minutes: 30,
            short_window_minutes: 10,
            shortest_window_minutes: 5,
            min_posts: 10,
            min_ratio: 3.0,
            significance: 0.00005,
            cool_ratio: 1.5,
            floor_per_hour: 2.0,
            learning_rate: 0.2,
            trust_observations: 3,
            fold_cap_ratio: 4.0,
            max_catch_up_hours: 48,
            margin_sigmas: 2.0,
            daily_variation: 0.1,
        }
    }
}

impl DetectorConfig {
    /// Checks every field's range; the error names the first bad field.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |field: &'static str, problem: String| Err(Error::InvalidConfig { field, problem });
        if !(2..=1440).contains(&self.window_minutes) {
            return bad("window_minutes", format!("is {}, must be 2 to 1440", self.window_minutes));
        }
        if self.short_window_minutes != 0 && !(2..self.window_minutes).contains(&self.short_window_minutes) {
            return bad(
                "short_window_minutes",
                format!("is {}, must be 0 (off) or 2 to window_minutes - 1", self.short_window_minutes),
            );
        }
        let shortest_below =
            if self.short_window_minutes == 0 { self.window_minutes } else { self.short_window_minutes };
        if self.shortest_window_minutes != 0 && !(2..shortest_below).contains(&self.shortest_window_minutes) {
            return bad(
                "shortest_window_minutes",
                format!(
                    "is {}, must be 0 (off) or 2 to {} (below the short window)",
                    self.shortest_window_minutes,
                    shortest_below - 1
                ),
            );
        }
        if self.min_posts == 0 {
            return bad("min_posts", "is 0, must be at least 1".to_owned());
        }
        if !(self.min_ratio.is_finite() && self.min_ratio > 1.0) {
            return bad("min_ratio", format!("is {}, must be a number above 1", self.min_ratio));
        }
        if !(self.significance > 0.0 && self.significance <= 0.5) {
            return bad("significance", format!("is {}, must be in (0, 0.5]", self.significance));
        }
        if !(self.cool_ratio >= 1.0 && self.cool_ratio <= self.min_ratio) {
            return bad(
                "cool_ratio",
                format!("is {}, must be from 1 to min_ratio ({})", self.cool_ratio, self.min_ratio),
            );
        }
        if !(self.floor_per_hour.is_finite() && self.floor_per_hour > 0.0) {
            return bad("floor_per_hour", format!("is {}, must be a number above 0", self.floor_per_hour));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return bad("learning_rate", format!("is {}, must be in (0, 1]", self.learning_rate));
        }
        if self.trust_observations == 0 {
            return bad("trust_observations", "is 0, must be at least 1".to_owned());
        }
        if !(self.fold_cap_ratio.is_finite() && self.fold_cap_ratio >= 1.0) {
            return bad("fold_cap_ratio", format!("is {}, must be a number from 1", self.fold_cap_ratio));
        }
        if self.max_catch_up_hours == 0 {
            return bad("max_catch_up_hours", "is 0, must be at least 1".to_owned());
        }
        if !(self.margin_sigmas.is_finite() && self.margin_sigmas >= 0.0) {
            return bad("margin_sigmas", format!("is {}, must be a number from 0", self.margin_sigmas));
        }
        if !(0.0..=1.0).contains(&self.daily_variation) {
            return bad("daily_variation", format!("is {}, must be from 0 to 1", self.daily_variation));
        }
        Ok(())
    }
}

/// Which way a topic's volume is going: the second half of the main window against the first,
/// with the baseline's own change between the halves taken out (a morning ramp is not
/// "rising").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trend {
    /// The second half has at least 1.5× the first half's pace, and 3 posts more.
    Rising,
    /// Neither rising nor falling.
    Steady,
    /// The second half has at most 1/1.5 of the first half's pace, and 3 posts fewer.
    Falling,
}

/// The verdict on one topic at one instant.
#[derive(Clone, Debug, PartialEq)]
pub struct Heat {
    /// Whether the topic is hot: significantly above its baseline (or still above
    /// `cool_ratio` × baseline after being hot).
    pub hot: bool,
    /// Posts in the window the figures are for ([`Heat::window_minutes`]).
    pub count: u64,
    /// Posts the baseline expects in that window (its elapsed part).
    pub expected: f64,
    /// `count / expected`.
    pub ratio: f64,
    /// `P(X ≥ count)` for `X ~ Poisson(λ)`, `λ` the expected count plus its margin
    /// ([`DetectorConfig::margin_sigmas`]): how improbable the count is as normal volume.
    pub p_value: f64,
    /// The window the figures are for, in minutes: the main window, or the short one when it is
    /// the one that decided.
    pub window_minutes: u32,
    /// When the topic turned hot (kept from the caller while it stays hot), `None` when not hot.
    pub since: Option<DateTime<Utc>>,
    /// Which way the volume is going.
    pub trend: Trend,
    /// The heat for priority, 0 to 1: 0 when not hot, else `1 - 1/ratio`, the share of the
    /// window's posts above the usual (3× → 0.67, 9× → 0.89, 20× → 0.95). Monotone in the ratio.
    pub score: f64,
    /// The figures in plain English: "41 posts in 30 min, 9× the usual for a Tuesday morning".
    pub reason: String,
}

/// Burst detection for one tenant: its [`DetectorConfig`] and its zone (any [`LocalOffset`]:
/// a [`FixedOffset`], or an [`OffsetFn`](super::OffsetFn) for daylight saving). Pure and cheap;
/// share one across the tenant's topics.
#[derive(Clone, Debug)]
pub struct Detector<Z = FixedOffset> {
    config: DetectorConfig,
    zone: Z,
}

/// Posts expected in a span, and the variance of that estimate.
#[derive(Clone, Copy, Debug)]
struct Expectation {
    posts: f64,
    variance: f64,
}

/// The figures of one window.
#[derive(Clone, Copy, Debug)]
struct WindowFigures {
    minutes: u32,
    count: u64,
    expected: f64,
    ratio: f64,
    p_value: f64,
    triggers: bool,
    holds: bool,
}

impl<Z: LocalOffset> Detector<Z> {
    /// A detector, once `config` is valid.
    pub fn new(config: DetectorConfig, zone: Z) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self { config, zone })
    }

    /// The configuration.
    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// The tenant's zone.
    pub fn zone(&self) -> &Z {
        &self.zone
    }

    /// The completed local hours not yet folded into `baseline`, oldest first (see
    /// [`hours_to_fold`](super::hours_to_fold); at most `max_catch_up_hours`).
    pub fn hours_to_fold(&self, baseline: &Baseline, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        hours_to_fold(baseline.last_folded(), now, &self.zone, self.config.max_catch_up_hours)
    }

    /// Learns one completed local hour starting at `hour_start` with `count` posts (zero
    /// included): its weekly slot's mean moves towards the count, capped at `fold_cap_ratio`
    /// times what was expected once the slot is trusted (a young slot learns the count as it
    /// is: capping it against a floor or a flat mean would take weeks to learn a busy hour).
    ///
    /// Returns `false`, changing nothing, for an hour at or before the last one folded, so
    /// folding twice is harmless. `hour_start` should be a local hour start (as
    /// [`Detector::hours_to_fold`] lists them); the slot is the one its middle falls in.
    pub fn fold_hour(&self, baseline: &mut Baseline, hour_start: DateTime<Utc>, count: u32) -> bool {
        let secs = hour_start.timestamp();
        if let Some(last) = baseline.last_folded
            && secs <= last
        {
            return false;
        }
        let middle = shift(hour_start, TimeDelta::minutes(30));
        let slot = slot_of(&local(&self.zone, middle));
        let mut learned = f64::from(count);
        if baseline.observations[slot] >= self.config.trust_observations {
            let reference = self.slot_rate(baseline, baseline.overall_mean(), slot);
            learned = learned.min(self.config.fold_cap_ratio * reference);
        }
        let observations = baseline.observations[slot].saturating_add(1);
        let weight = (1.0 / f64::from(observations)).max(self.config.learning_rate);
        let mean = f64::from(baseline.means[slot]);
        baseline.means[slot] = (mean + weight * (learned - mean)) as f32;
        baseline.observations[slot] = observations;
        baseline.last_folded = Some(secs);
        true
    }

    /// Posts the baseline expects in the `window` ending at `at`, each local hour it spans
    /// weighted by its share of the window. A slot's rate is its mean, blended with the topic's
    /// overall mean while it has fewer than `trust_observations` observations, never below
    /// `floor_per_hour`; a new topic (nothing folded) expects `floor_per_hour`. A negative
    /// window expects nothing; whole weeks of a long one are summed at once.
    pub fn expected(&self, baseline: &Baseline, at: DateTime<Utc>, window: TimeDelta) -> f64 {
        const WEEK_MS: i64 = 7 * 24 * 3_600_000;
        let overall = baseline.overall_mean();
        let window_ms = window.num_milliseconds().max(0);
        let weeks = window_ms / WEEK_MS;
        let rest = TimeDelta::milliseconds(window_ms % WEEK_MS);
        let weekly_total: f64 =
            if weeks > 0 { (0..SLOTS).map(|slot| self.slot_rate(baseline, overall, slot)).sum() } else { 0.0 };
        let start = shift(at, -rest);
        weeks as f64 * weekly_total + self.expected_between(baseline, overall, start, at)
    }

    /// Whether the topic is hot at `now`, from its baseline, its recent per-minute counts and
    /// whether it was hot (`hot_since`, as returned in the last [`Heat::since`]).
    ///
    /// `counts` are `(minute_start, posts)` rows in any order, zero rows optional; rows outside
    /// the main window are ignored, so giving the last `window_minutes + 1` minutes is enough.
    /// The current minute counts as far as it has elapsed: each window is
    /// `[ceil_to_minute(now) - window, now]` and its expectation covers its elapsed time.
    ///
    /// A topic not hot turns hot when a window (the main one, the short one or the shortest) has
    /// at least `min_posts`, at least `min_ratio` × expected, and a Poisson p-value below
    /// `significance / windows`. A hot topic stays hot while a window holds `cool_ratio` ×
    /// expected. The figures and the reason are those of the deciding window with the smallest
    /// p-value, else the main window's.
    pub fn assess(
        &self,
        baseline: &Baseline,
        hot_since: Option<DateTime<Utc>>,
        counts: &[(DateTime<Utc>, u32)],
        now: DateTime<Utc>,
    ) -> Heat {
        let overall = baseline.overall_mean();
        let end = ceil_minute(now);
        let was_hot = hot_since.is_some();
        let shorter = [self.config.short_window_minutes, self.config.shortest_window_minutes];
        let shorter: Vec<u32> = shorter.into_iter().filter(|&minutes| minutes != 0).collect();
        let threshold = self.config.significance / (1 + shorter.len()) as f64;

        let main = self.window_figures(baseline, overall, counts, end, now, self.config.window_minutes, threshold);
        let deciding = |figures: &WindowFigures| if was_hot { figures.holds } else { figures.triggers };
        let chosen = std::iter::once(main)
            .chain(
                shorter
                    .iter()
                    .map(|&minutes| self.window_figures(baseline, overall, counts, end, now, minutes, threshold)),
            )
            .filter(deciding)
            .min_by(|a, b| a.p_value.total_cmp(&b.p_value));
        let hot = chosen.is_some();
        let figures = chosen.unwrap_or(main);
        let since = match (hot, hot_since) {
            (true, Some(since)) => Some(since),
            (true, None) => Some(now),
            (false, _) => None,
        };
        let score = if hot && figures.ratio.is_finite() {
            (1.0 - 1.0 / figures.ratio).clamp(0.0, 1.0)
        } else if hot {
            1.0
        } else {
            0.0
        };
        Heat {
            hot,
            count: figures.count,
            expected: figures.expected,
            ratio: figures.ratio,
            p_value: figures.p_value,
            window_minutes: figures.minutes,
            since,
            trend: self.trend(baseline, overall, counts, end, now),
            score,
            reason: self.reason(baseline, &figures, now),
        }
    }

    /// A slot's expected posts per hour.
    fn slot_rate(&self, baseline: &Baseline, overall: Option<f64>, slot: usize) -> f64 {
        let floor = self.config.floor_per_hour;
        let Some(overall) = overall else {
            return floor;
        };
        let trust = f64::from(baseline.observations[slot]) / f64::from(self.config.trust_observations);
        let weight = trust.min(1.0);
        let mean = f64::from(baseline.means[slot]);
        (weight * mean + (1.0 - weight) * overall).max(floor)
    }

    /// Posts expected in `[start, end)`.
    fn expected_between(
        &self,
        baseline: &Baseline,
        overall: Option<f64>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> f64 {
        self.expectation_between(baseline, overall, start, end).posts
    }

    /// Posts expected in `[start, end)` and the variance of that estimate, walking the local
    /// hours it spans.
    fn expectation_between(
        &self,
        baseline: &Baseline,
        overall: Option<f64>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Expectation {
        let end_ms = end.timestamp_millis();
        let mut at_ms = start.timestamp_millis();
        let mut posts = 0.0;
        let mut variance = 0.0;
        // A weighted mean's effective sample size: n plain observations, then (2 - a) / a.
        let steady_weeks = (2.0 - self.config.learning_rate) / self.config.learning_rate;
        while at_ms < end_ms {
            let at = from_ms(at_ms);
            let offset = self.zone.offset_at(at);
            let slot = slot_of(&at.with_timezone(&offset));
            let piece_end = (at_ms + ms_to_next_local_hour(at_ms, offset)).min(end_ms);
            let hours = (piece_end - at_ms) as f64 / HOUR_MS;
            let rate = self.slot_rate(baseline, overall, slot);
            posts += rate * hours;
            if overall.is_some() {
                let weeks = f64::from(baseline.observations[slot]).clamp(1.0, steady_weeks);
                variance += hours * hours * rate / weeks;
            }
            at_ms = piece_end;
        }
        Expectation { posts, variance }
    }

    /// The rate the significance test assumes: the expectation plus its margin.
    fn tested_rate(&self, expectation: Expectation) -> f64 {
        let daily = self.config.daily_variation * expectation.posts;
        expectation.posts + self.config.margin_sigmas * (expectation.variance + daily * daily).sqrt()
    }

    /// The figures of the window of `minutes` ending at the minute boundary `end` (`now` inside
    /// its last minute).
    #[allow(clippy::too_many_arguments)]
    fn window_figures(
        &self,
        baseline: &Baseline,
        overall: Option<f64>,
        counts: &[(DateTime<Utc>, u32)],
        end: DateTime<Utc>,
        now: DateTime<Utc>,
        minutes: u32,
        threshold: f64,
    ) -> WindowFigures {
        let start = shift(end, -TimeDelta::minutes(i64::from(minutes)));
        let count = sum_between(counts, start, now);
        let expectation = self.expectation_between(baseline, overall, start, now);
        let expected = expectation.posts;
        let ratio = ratio(count, expected);
        let p_value = poisson_upper_tail(count, self.tested_rate(expectation));
        let triggers =
            count >= u64::from(self.config.min_posts) && ratio >= self.config.min_ratio && p_value < threshold;
        let holds = count > 0 && count as f64 >= self.config.cool_ratio * expected;
        WindowFigures { minutes, count, expected, ratio, p_value, triggers, holds }
    }

    /// The main window's second half against its first, at the first half's pace.
    fn trend(
        &self,
        baseline: &Baseline,
        overall: Option<f64>,
        counts: &[(DateTime<Utc>, u32)],
        end: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Trend {
        let minutes = i64::from(self.config.window_minutes);
        let start = shift(end, -TimeDelta::minutes(minutes));
        let middle = shift(start, TimeDelta::minutes(minutes / 2));
        let first = sum_between(counts, start, shift(middle, -TimeDelta::milliseconds(1))) as f64;
        let second = sum_between(counts, middle, now) as f64;
        let expected_first = self.expected_between(baseline, overall, start, middle);
        let expected_second = self.expected_between(baseline, overall, middle, now);
        if expected_first <= 0.0 {
            return Trend::Steady;
        }
        let pace = first * expected_second / expected_first;
        if second >= 1.5 * pace && second - pace >= 3.0 {
            Trend::Rising
        } else if pace >= 1.5 * second && pace - second >= 3.0 {
            Trend::Falling
        } else {
            Trend::Steady
        }
    }

    /// "41 posts in 30 min, 9× the usual for a Tuesday morning".
    fn reason(&self, baseline: &Baseline, figures: &WindowFigures, now: DateTime<Utc>) -> String {
        let posts = if figures.count == 1 { "post" } else { "posts" };
        let window = format_minutes(figures.minutes);
        let ratio = format_ratio(figures.ratio);
        if baseline.is_new() {
            return format!("{} {posts} in {window}, {ratio} the rate expected for a new topic", figures.count);
        }
        let local_now = local(&self.zone, now);
        format!(
            "{} {posts} in {window}, {ratio} the usual for a {} {}",
            figures.count,
            weekday_name(local_now.weekday()),
            PartOfDay::of_hour(local_now.hour()).name()
        )
    }
}

/// Posts in rows whose minute starts in `[start, last]`.
fn sum_between(counts: &[(DateTime<Utc>, u32)], start: DateTime<Utc>, last: DateTime<Utc>) -> u64 {
    counts.iter().filter(|(minute, _)| *minute >= start && *minute <= last).map(|&(_, posts)| u64::from(posts)).sum()
}

/// `count / expected`, infinite for posts where none were expected.
fn ratio(count: u64, expected: f64) -> f64 {
    if expected > 0.0 {
        count as f64 / expected
    } else if count > 0 {
        f64::INFINITY
    } else {
        0.0
    }
}

/// "30 min", "2 h".
fn format_minutes(minutes: u32) -> String {
    if minutes >= 60 && minutes.is_multiple_of(60) { format!("{} h", minutes / 60) } else { format!("{minutes} min") }
}

/// "9×", "2.5×", "120×": whole numbers from 5×, one decimal below (without a trailing ".0").
fn format_ratio(ratio: f64) -> String {
    if !ratio.is_finite() {
        return "∞×".to_owned();
    }
    if ratio >= 5.0 {
        return format!("{ratio:.0}×");
    }
    let tenths = format!("{ratio:.1}");
    format!("{}×", tenths.strip_suffix(".0").unwrap_or(&tenths))
}
