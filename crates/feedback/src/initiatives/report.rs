//! GetInitiativeReport: the initiative's scope before and after its start, from the roll-ups'
//! scope rows ("channel|segment|topic", topic "*" for every fact).

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::ConnectionTrait;
use tend_kernel::ApiError;
use tend_kernel::ids::to_timestamp;
use tend_proto::v1;

use super::stats::{self, Test};
use crate::report::facts::{COUNTERS, Counter, channel_value};
use crate::report::storage::{self, Counts, HOUR, Hours, SCOPE};

/// Most topics `cases_by_topic` lists when the scope names none.
const TOP_TOPICS: usize = 20;

/// The scope as the roll-ups name it.
struct Scope {
    channels: Vec<String>,
    segments: Vec<String>,
    topics: Vec<String>,
}

impl Scope {
    /// Whether a scope row's value is in scope; `Some(topic)` when it is ("*" for every fact).
    fn admits<'a>(&self, value: &'a str) -> Option<&'a str> {
        let (channel, rest) = value.split_once('|')?;
        let (segment, topic) = rest.rsplit_once('|')?;
        let channel_ok = self.channels.is_empty() || self.channels.iter().any(|wanted| wanted == channel);
        let segment_ok = self.segments.is_empty() || self.segments.iter().any(|wanted| wanted == segment);
        (channel_ok && segment_ok).then_some(topic)
    }
}

/// What a window holds in scope: all of its counters, and cases opened by topic.
#[derive(Default)]
struct Window {
    counts: Option<Counts>,
    by_topic: BTreeMap<String, i64>,
}

impl Window {
    fn get(&self, counter: Counter) -> u64 {
        self.counts.map_or(0, |counts| u64::try_from(counts[counter.index()]).unwrap_or(0))
    }
}

async fn window<C: ConnectionTrait>(conn: &C, tenant: &str, scope: &Scope, hours: Hours) -> Result<Window, ApiError> {
    let rows = storage::sum_counts(conn, tenant, SCOPE, hours, &[])
        .await
        .map_err(|error| ApiError::internal(format!("summing the roll-ups: {error}")))?;
    let mut window = Window::default();
    for (value, counts) in rows {
        let Some(topic) = scope.admits(&value) else { continue };
        if topic != "*" {
            *window.by_topic.entry(topic.to_owned()).or_default() += counts[Counter::Opened.index()];
        }
        let in_scope = if scope.topics.is_empty() { topic == "*" } else { scope.topics.iter().any(|t| t == topic) };
        if in_scope {
            let total = window.counts.get_or_insert([0; COUNTERS.len()]);
            for (sum, count) in total.iter_mut().zip(counts) {
                *sum += count;
            }
        }
    }
    Ok(window)
}

fn change(
    metric: &str,
    test_name: &str,
    before: f64,
    after: f64,
    test: Test,
    sizes: (u64, u64),
) -> v1::InitiativeChange {
    v1::InitiativeChange {
        metric: metric.to_owned(),
        before,
        after,
        change: after - before,
        relative_change_percent: if before == 0.0 { 0.0 } else { (after - before) / before * 100.0 },
        test: test_name.to_owned(),
        z: test.z,
        p_value: test.p_value,
        significant: test.significant,
        before_n: sizes.0,
        after_n: sizes.1,
    }
}

fn counted(metric: &str, before: u64, after: u64) -> v1::InitiativeChange {
    change(metric, "poisson", before as f64, after as f64, stats::poisson(before, after), (before, after))
}

fn share(metric: &str, (hits1, n1): (u64, u64), (hits2, n2): (u64, u64)) -> v1::InitiativeChange {
    let percent = |hits: u64, n: u64| if n == 0 { 0.0 } else { hits as f64 * 100.0 / n as f64 };
    let test = stats::two_proportions(hits1, n1, hits2, n2);
    change(metric, "two_proportion_z", percent(hits1, n1), percent(hits2, n2), test, (n1, n2))
}

/// NPS as the mean of +1 (promoter), 0, -1 (detractor) scores, with its sample variance.
fn nps_sample(window: &Window) -> (f64, f64, u64) {
    let n = window.get(Counter::NpsResponses);
    if n == 0 {
        return (0.0, 0.0, 0);
    }
    let (promoters, detractors) = (window.get(Counter::NpsPromoters) as f64, window.get(Counter::NpsDetractors) as f64);
    let mean = (promoters - detractors) / n as f64;
    let second_moment = (promoters + detractors) / n as f64;
    let variance = if n > 1 { (second_moment - mean * mean) * n as f64 / (n as f64 - 1.0) } else { 0.0 };
    (mean, variance, n)
}

/// GetInitiativeReport.
pub async fn report<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    request: &v1::GetInitiativeReportRequest,
    now: DateTime<Utc>,
) -> Result<v1::InitiativeReport, ApiError> {
    if request.window_days > 365 {
        return Err(ApiError::invalid("window_days", "at most 365 (0: the days elapsed since the start, up to 28)"));
    }
    let row = super::find(conn, tenant, &request.id).await?;
    let initiative = super::to_proto(&row);
    let start = storage::bucket(HOUR, row.starts_at);
    let days = if request.window_days > 0 {
        i64::from(request.window_days)
    } else {
        ((now.timestamp() - start) / 86_400).clamp(1, 28)
    };
    let width = TimeDelta::days(days).num_seconds();
    let scope = initiative.scope.clone().unwrap_or_default();
    let scope = Scope {
        channels: scope.channels.iter().map(|channel| channel_value(*channel)).collect(),
        segments: scope.segments,
        topics: scope.topics,
    };
    let before = window(conn, tenant, &scope, Hours { from: start - width, to: start }).await?;
    let after = window(conn, tenant, &scope, Hours { from: start, to: start + width }).await?;
    use Counter::*;
    let attainment = |window: &Window, within: Counter, breached: Counter| {
        (window.get(within), window.get(within) + window.get(breached))
    };
    let (nps1, var1, n1) = nps_sample(&before);
    let (nps2, var2, n2) = nps_sample(&after);
    let changes = vec![
        counted("interactions", before.get(Interactions), after.get(Interactions)),
        share(
            "negative_share",
            (before.get(Negative), before.get(Interactions)),
            (after.get(Negative), after.get(Interactions)),
        ),
        counted("churn_risk_posts", before.get(ChurnRisk), after.get(ChurnRisk)),
        counted("cases_opened", before.get(Opened), after.get(Opened)),
        share(
            "first_response_attainment",
            attainment(&before, FirstResponseWithin, FirstResponseBreached),
            attainment(&after, FirstResponseWithin, FirstResponseBreached),
        ),
        share(
            "resolution_attainment",
            attainment(&before, ResolutionWithin, ResolutionBreached),
            attainment(&after, ResolutionWithin, ResolutionBreached),
        ),
        share(
            "csat_satisfied_share",
            (before.get(CsatSatisfied), before.get(CsatResponses)),
            (after.get(CsatSatisfied), after.get(CsatResponses)),
        ),
        change("nps", "welch_z", nps1 * 100.0, nps2 * 100.0, stats::welch(nps1, var1, n1, nps2, var2, n2), (n1, n2)),
    ];
    let topics: Vec<String> = if scope.topics.is_empty() {
        let mut all: BTreeMap<&String, i64> = BTreeMap::new();
        for (topic, n) in before.by_topic.iter().chain(&after.by_topic) {
            *all.entry(topic).or_default() += n;
        }
        let mut ranked: Vec<(&String, i64)> = all.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        ranked.into_iter().take(TOP_TOPICS).map(|(topic, _)| topic.clone()).collect()
    } else {
        scope.topics.clone()
    };
    let opened =
        |window: &Window, topic: &str| u64::try_from(window.by_topic.get(topic).copied().unwrap_or(0)).unwrap_or(0);
    let cases_by_topic =
        topics.iter().map(|topic| counted(topic, opened(&before, topic), opened(&after, topic))).collect();
    let at = |seconds: i64| DateTime::from_timestamp(seconds, 0).map(to_timestamp);
    Ok(v1::InitiativeReport {
        initiative: Some(initiative),
        before_from: at(start - width),
        starts_at_hour: at(start),
        after_to: at(start + width),
        changes,
        cases_by_topic,
    })
}
