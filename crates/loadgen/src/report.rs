//! What a run found: the [`Report`], as JSON (serde) and as a human summary (`Display`).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// Everything one run measured. Serialises to the JSON that `--json` writes; `Display` prints
/// the summary `tend loadgen` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The load generator's version.
    pub version: String,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// The endpoint loaded.
    pub endpoint: String,
    /// The tenant the posts went to.
    pub tenant: String,
    /// The traffic's seed.
    pub seed: u64,
    /// How the load was shaped.
    pub settings: Settings,
    /// The CRM file written, if `--write-crm` was given.
    pub crm: Option<CrmFile>,
    /// What happened to the posts.
    pub posts: PostCounts,
    /// What happened to the calls.
    pub calls: CallCounts,
    /// Acknowledgement rate and latency; absent when nothing was sent.
    pub ack: Option<Ack>,
    /// Posts followed to cases; absent with `--no-drain` or when nothing was acknowledged.
    pub end_to_end: Option<EndToEnd>,
    /// Backlog once a second (posts acknowledged vs cases feedback has seen).
    pub backlog: Backlog,
    /// What was sent, by kind, language and channel.
    pub mix: Mix,
    /// Notes on the run (a service not running, a target not reachable in time, …).
    pub notes: Vec<String>,
}

/// How the load was shaped.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// `rate` (paced, open loop) or `max` (as fast as answered).
    pub mode: String,
    /// Target posts/s in `rate` mode.
    pub rate: Option<f64>,
    /// `--count`.
    pub count: Option<u64>,
    /// `--duration`, in seconds.
    pub duration_s: Option<f64>,
    /// Posts per call (1: IngestInteraction; more: IngestBatch).
    pub batch: u32,
    /// Concurrent callers.
    pub concurrency: u32,
    /// HTTP/2 connections.
    pub connections: u32,
    /// Share of exact redeliveries asked for.
    pub duplicates: f64,
    /// The burst, as post numbers `[from, to)`.
    pub burst: Option<[u64; 2]>,
    /// Share of the burst on the outage topic.
    pub burst_share: f64,
    /// Rules the tenant routed with (`--rules`); `None` with `--keep-rules`.
    pub rules: Option<u64>,
}

/// The CRM file written.
#[derive(Debug, Clone, Serialize)]
pub struct CrmFile {
    /// Where.
    pub path: String,
    /// How many customers it lists.
    pub customers: u64,
}

/// What happened to the posts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PostCounts {
    /// Posts the run meant to send (in `rate` mode with a bound; else what it sent).
    pub planned: u64,
    /// Posts sent (in calls that were made).
    pub sent: u64,
    /// Posts acknowledged (stored or recognised as duplicates).
    pub acked: u64,
    /// Acknowledged as new (`duplicate: false`): each should become a case.
    pub new: u64,
    /// Acknowledged as duplicates (`duplicate: true`).
    pub duplicate: u64,
    /// Refused inside an IngestBatch response (its `error` outcome).
    pub rejected: u64,
    /// Sent in calls that failed (see `calls.errors`).
    pub failed: u64,
    /// Planned but not sent: the server fell so far behind the schedule that the run stopped.
    pub not_sent: u64,
    /// Exact redeliveries sent.
    pub redeliveries: u64,
    /// Redeliveries answered `duplicate: true`.
    pub redeliveries_flagged: u64,
    /// A post and its redelivery both acknowledged as new with different interaction ids.
    pub dedupe_failures: u64,
    /// Original posts answered `duplicate: true` (an earlier run used the tenant and ids?).
    pub unexpected_duplicates: u64,
}

/// What happened to the calls.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CallCounts {
    /// Calls made.
    pub total: u64,
    /// Calls answered OK.
    pub ok: u64,
    /// Failed calls by gRPC status code (e.g. `UNAVAILABLE`).
    pub errors: BTreeMap<String, u64>,
    /// A sample of the failure messages (at most 10, each counted).
    pub error_messages: BTreeMap<String, u64>,
    /// A sample of the per-post rejection messages (at most 10, each counted).
    pub rejection_messages: BTreeMap<String, u64>,
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    /// Measurements.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

impl Latency {
    /// Percentiles of durations given in microseconds (sorts them).
    pub fn from_micros(values: &mut [u64]) -> Latency {
        if values.is_empty() {
            return Latency::default();
        }
        values.sort_unstable();
        let n = values.len();
        let at = |q: f64| {
            let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
            values[rank - 1] as f64 / 1_000.0
        };
        let sum: u128 = values.iter().map(|v| u128::from(*v)).sum();
        Latency {
            count: n as u64,
            mean: sum as f64 / n as f64 / 1_000.0,
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            p999: at(0.999),
            max: values[n - 1] as f64 / 1_000.0,
        }
    }
}

/// Acknowledgements.
#[derive(Debug, Clone, Serialize)]
pub struct Ack {
    /// From the first scheduled send to the last answer, in seconds.
    pub seconds: f64,
    /// Acknowledged posts per second over that time.
    pub posts_per_s: f64,
    /// Calls per second.
    pub calls_per_s: f64,
    /// Per call, from its scheduled send time (rate mode) or its send (max mode) to its answer.
    pub latency_ms: Latency,
}

/// Posts followed to cases.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EndToEnd {
    /// Posts acknowledged as new: each should have a case.
    pub expected: u64,
    /// Cases of the tenant that hold the run's posts.
    pub cases: u64,
    /// Expected posts found on a case.
    pub posts_with_case: u64,
    /// Expected posts on no case when the wait ended.
    pub lost: u64,
    /// Posts on more than one case.
    pub duplicated: u64,
    /// Interactions on the tenant's cases that this run did not send.
    pub foreign: u64,
    /// Every expected post had a case before the drain timeout.
    pub complete: bool,
    /// From the end of sending until every post had a case (or the wait ended), in seconds.
    pub drain_seconds: f64,
    /// From the first scheduled send to the last case opened, in seconds.
    pub seconds: f64,
    /// Expected posts per second over that time: the end-to-end throughput.
    pub posts_per_s: f64,
    /// Per post: the case's `opened_at` minus the post's scheduled send time.
    pub latency_ms: Latency,
    /// Cases opened, as feedback counts them at the end (post -> case seen by feedback).
    pub cases_seen_by_feedback: Option<u64>,
}

/// One sample of the backlog.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds since the start.
    pub t: f64,
    /// `send` while sending, `drain` while waiting for cases.
    pub phase: &'static str,
    /// Posts sent so far.
    pub sent: u64,
    /// Posts acknowledged so far.
    pub acked: u64,
    /// Of those, new ones.
    pub new: u64,
    /// Cases opened, per feedback (absent when feedback did not answer).
    pub cases: Option<u64>,
    /// `new - cases`: posts acknowledged but not yet a case seen by feedback.
    pub backlog: Option<i64>,
}

/// The backlog over the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Backlog {
    /// Once a second.
    pub samples: Vec<Sample>,
    /// Its growth in posts per second over the second half of the sending (least squares).
    pub growth_per_s: Option<f64>,
    /// The largest backlog seen.
    pub peak: Option<i64>,
    /// The pipeline kept up: the backlog grew by less than 5% of the ack rate per second over
    /// the second half of the sending. Absent when there were too few samples.
    pub sustained: Option<bool>,
}

impl Backlog {
    /// Fills `growth_per_s`, `peak` and `sustained` from the samples, given the ack rate.
    pub fn analyse(&mut self, ack_rate: f64) {
        self.peak = self.samples.iter().filter_map(|sample| sample.backlog).max();
        let sending: Vec<&Sample> = self.samples.iter().filter(|sample| sample.phase == "send").collect();
        let Some(end) = sending.last().map(|sample| sample.t) else { return };
        let points: Vec<(f64, f64)> = sending
            .iter()
            .filter(|sample| sample.t >= end / 2.0)
            .filter_map(|sample| sample.backlog.map(|backlog| (sample.t, backlog as f64)))
            .collect();
        if points.len() < 5 {
            return;
        }
        let n = points.len() as f64;
        let mean_t = points.iter().map(|p| p.0).sum::<f64>() / n;
        let mean_b = points.iter().map(|p| p.1).sum::<f64>() / n;
        let var: f64 = points.iter().map(|p| (p.0 - mean_t).powi(2)).sum();
        if var <= 0.0 {
            return;
        }
        let slope = points.iter().map(|p| (p.0 - mean_t) * (p.1 - mean_b)).sum::<f64>() / var;
        self.growth_per_s = Some(slope);
        self.sustained = Some(slope <= 0.05 * ack_rate.max(1.0));
    }
}

/// Counts of what was sent.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Mix {
    /// By kind (question, complaint, churn, …).
    pub kinds: BTreeMap<String, u64>,
    /// By language.
    pub languages: BTreeMap<String, u64>,
    /// By channel.
    pub channels: BTreeMap<String, u64>,
    /// Posts inside the burst window.
    pub burst: u64,
    /// Posts by influencers (10,000 followers or more).
    pub influencers: u64,
    /// Posts by verified accounts.
    pub verified: u64,
    /// Posts by known customers (in the CRM file).
    pub known_customers: u64,
    /// Posts that carry an order number.
    pub order_numbers: u64,
}

impl Mix {
    /// Adds `other` into this.
    pub fn merge(&mut self, other: &Mix) {
        for (mine, theirs) in [
            (&mut self.kinds, &other.kinds),
            (&mut self.languages, &other.languages),
            (&mut self.channels, &other.channels),
        ] {
            for (key, value) in theirs {
                *mine.entry(key.clone()).or_default() += value;
            }
        }
        self.burst += other.burst;
        self.influencers += other.influencers;
        self.verified += other.verified;
        self.known_customers += other.known_customers;
        self.order_numbers += other.order_numbers;
    }
}

impl Report {
    /// What went wrong, one line each: failed calls, rejected, lost or duplicated posts,
    /// unrecognised redeliveries. Empty for a clean run.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let failed: u64 = self.calls.errors.values().sum();
        if failed > 0 {
            problems.push(format!("{failed} calls failed ({})", codes(&self.calls.errors)));
        }
        if self.posts.rejected > 0 {
            problems.push(format!("{} posts rejected", self.posts.rejected));
        }
        if self.posts.dedupe_failures > 0 {
            problems.push(format!("{} redeliveries stored twice", self.posts.dedupe_failures));
        }
        if self.posts.not_sent > 0 {
            problems.push(format!("{} posts not sent (the server fell behind the schedule)", self.posts.not_sent));
        }
        if let Some(e2e) = &self.end_to_end {
            if e2e.lost > 0 {
                problems.push(format!("{} posts lost (no case)", e2e.lost));
            }
            if e2e.duplicated > 0 {
                problems.push(format!("{} posts on more than one case", e2e.duplicated));
            }
        }
        problems
    }
}

fn codes(errors: &BTreeMap<String, u64>) -> String {
    errors.iter().map(|(code, n)| format!("{code} {n}")).collect::<Vec<_>>().join(", ")
}

/// Thousands separators: 12345 -> "12,345".
pub(crate) fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn rate(value: f64) -> String {
    thousands(value.round() as u64)
}

fn latency_line(latency: &Latency, with_p90: bool) -> String {
    let p90 = if with_p90 { format!("  p90 {:.1}", latency.p90) } else { String::new() };
    format!("p50 {:.1}{p90}  p99 {:.1}  p99.9 {:.1}  max {:.1} ms", latency.p50, latency.p99, latency.p999, latency.max)
}

fn share_list(counts: &BTreeMap<String, u64>, total: u64) -> String {
    let mut items: Vec<(&String, &u64)> = counts.iter().collect();
    items.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    items
        .iter()
        .map(|(name, n)| format!("{name} {:.0}%", **n as f64 * 100.0 / total.max(1) as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(crm) = &self.crm {
            writeln!(
                f,
                "crm         {} known customers written to {} (import: tend identity import --tenant <tenant> {})",
                thousands(crm.customers),
                crm.path,
                crm.path
            )?;
        }
        if self.calls.total == 0 && self.posts.planned == 0 {
            return Ok(());
        }
        let s = &self.settings;
        let shape = match s.rate {
            Some(rate) => format!("{} posts/s paced", thousands(rate.round() as u64)),
            None => "max rate".to_owned(),
        };
        let call = if s.batch > 1 { format!("batches of {}", s.batch) } else { "unary calls".to_owned() };
        writeln!(
            f,
            "loadgen     {} to {} (tenant {}), seed {}: {shape}, {call}, {} callers on {} connections",
            self.version, self.endpoint, self.tenant, self.seed, s.concurrency, s.connections
        )?;
        let p = &self.posts;
        write!(
            f,
            "posts       sent {}, acked {} ({} new, {} duplicate)",
            thousands(p.sent),
            thousands(p.acked),
            thousands(p.new),
            thousands(p.duplicate)
        )?;
        if p.rejected > 0 || p.failed > 0 {
            write!(f, ", rejected {}, in failed calls {}", thousands(p.rejected), thousands(p.failed))?;
        }
        if p.not_sent > 0 {
            write!(f, ", NOT SENT {} (fell behind the schedule)", thousands(p.not_sent))?;
        }
        writeln!(f)?;
        if p.redeliveries > 0 || p.unexpected_duplicates > 0 || p.dedupe_failures > 0 {
            writeln!(
                f,
                "redelivered {} sent, {} answered duplicate; {} stored twice; {} unexpected duplicates",
                thousands(p.redeliveries),
                thousands(p.redeliveries_flagged),
                thousands(p.dedupe_failures),
                thousands(p.unexpected_duplicates)
            )?;
        }
        let c = &self.calls;
        write!(f, "calls       {} made, {} ok", thousands(c.total), thousands(c.ok))?;
        if !c.errors.is_empty() {
            write!(f, ", failed: {}", codes(&c.errors))?;
        }
        writeln!(f)?;
        for (message, n) in c.error_messages.iter().chain(c.rejection_messages.iter()).take(5) {
            writeln!(f, "            {n} x {message}")?;
        }
        if let Some(ack) = &self.ack {
            writeln!(
                f,
                "ack         {} posts/s ({} calls/s over {:.1} s); latency per call {}",
                rate(ack.posts_per_s),
                rate(ack.calls_per_s),
                ack.seconds,
                latency_line(&ack.latency_ms, true)
            )?;
        }
        if let Some(e2e) = &self.end_to_end {
            let feedback = match e2e.cases_seen_by_feedback {
                Some(n) => format!("{} seen by feedback", thousands(n)),
                None => "feedback not answering".to_owned(),
            };
            writeln!(
                f,
                "cases       {} of {} new posts have a case ({} lost, {} on two cases), {} cases, {feedback}{}",
                thousands(e2e.posts_with_case),
                thousands(e2e.expected),
                thousands(e2e.lost),
                thousands(e2e.duplicated),
                thousands(e2e.cases),
                if e2e.complete { String::new() } else { format!("; gave up after {:.0} s", e2e.drain_seconds) }
            )?;
            if e2e.latency_ms.count > 0 {
                writeln!(
                    f,
                    "end to end  {} posts/s (first send -> last case, {:.1} s); latency post -> case {}",
                    rate(e2e.posts_per_s),
                    e2e.seconds,
                    latency_line(&e2e.latency_ms, false)
                )?;
            }
        }
        let b = &self.backlog;
        match (b.sustained, b.growth_per_s) {
            (Some(sustained), Some(growth)) => writeln!(
                f,
                "backlog     {} (grew {:+.0} posts/s over the second half; peak {})",
                if sustained { "steady: sustained" } else { "GROWING: not sustained" },
                growth,
                thousands(b.peak.unwrap_or(0).max(0) as u64)
            )?,
            _ if b.peak.is_some() => writeln!(
                f,
                "backlog     peak {} (too few samples to judge)",
                thousands(b.peak.unwrap_or(0).max(0) as u64)
            )?,
            _ => {}
        }
        let m = &self.mix;
        if p.sent > 0 {
            writeln!(f, "mix         {}", share_list(&m.kinds, p.sent))?;
            writeln!(f, "            {}; {}", share_list(&m.channels, p.sent), share_list(&m.languages, p.sent))?;
            writeln!(
                f,
                "            burst {}, influencers {}, verified {}, known customers {}, with order number {}",
                thousands(m.burst),
                thousands(m.influencers),
                thousands(m.verified),
                thousands(m.known_customers),
                thousands(m.order_numbers)
            )?;
        }
        for note in &self.notes {
            writeln!(f, "note        {note}")?;
        }
        let problems = self.problems();
        if problems.is_empty() {
            writeln!(f, "result      clean: no failed calls, nothing lost or duplicated")?;
        } else {
            writeln!(f, "result      {}", problems.join("; "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut values: Vec<u64> = (1..=1000).map(|v| v * 1_000).collect();
        let latency = Latency::from_micros(&mut values);
        assert_eq!(latency.count, 1000);
        assert_eq!(latency.p50, 500.0);
        assert_eq!(latency.p90, 900.0);
        assert_eq!(latency.p99, 990.0);
        assert_eq!(latency.p999, 999.0);
        assert_eq!(latency.max, 1000.0);
        assert!((latency.mean - 500.5).abs() < 1e-9);
        assert_eq!(Latency::from_micros(&mut []).count, 0);
        assert_eq!(Latency::from_micros(&mut [7_000]).p999, 7.0);
    }

    fn sample(t: f64, backlog: i64) -> Sample {
        Sample { t, phase: "send", sent: 0, acked: 0, new: 0, cases: Some(0), backlog: Some(backlog) }
    }

    #[test]
    fn backlog_growth() {
        let mut steady = Backlog {
            samples: (0..60).map(|t| sample(f64::from(t), 500 + (t % 3) as i64)).collect(),
            ..Backlog::default()
        };
        steady.analyse(5_000.0);
        assert_eq!(steady.sustained, Some(true));
        let mut growing = Backlog {
            samples: (0..60).map(|t| sample(f64::from(t), i64::from(t) * 1_000)).collect(),
            ..Backlog::default()
        };
        growing.analyse(5_000.0);
        assert_eq!(growing.sustained, Some(false));
        assert!((growing.growth_per_s.unwrap() - 1_000.0).abs() < 1e-6);
        assert_eq!(growing.peak, Some(59_000));
        let mut short = Backlog { samples: (0..4).map(|t| sample(f64::from(t), 0)).collect(), ..Backlog::default() };
        short.analyse(5_000.0);
        assert_eq!(short.sustained, None);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
