//! The service report read from the roll-ups.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};
use tend_kernel::ApiError;
use tend_kernel::ids::to_timestamp;
use tend_proto::v1;

use super::facts::{COUNTERS, Counter, Metric};
use super::histogram;
use super::storage::{self, ALL, Counts, Hours};

/// Most values a breakdown answers.
const MAX_BREAKDOWN: usize = 500;
/// Most values a request may name.
pub const MAX_VALUES: usize = 100;

/// The summed roll-ups of one dimension value over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// Counters.
    pub counts: Counts,
    /// Histogram slots by metric.
    pub histograms: HashMap<i32, Vec<(i32, u64)>>,
}

impl Default for Figures {
    fn default() -> Self {
        Self { counts: [0; COUNTERS.len()], histograms: HashMap::new() }
    }
}

/// A counter as the wire's unsigned count (a sum that is transiently negative, because a
/// resolution arrived before its opening, reads 0).
fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// `part / whole × 100`; 0 when `whole` is 0.
fn percent(part: i64, whole: i64) -> f64 {
    if whole <= 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}

impl Figures {
    /// A counter.
    pub fn get(&self, counter: Counter) -> i64 {
        self.counts[counter.index()]
    }

    fn attainment(&self, within: Counter, breached: Counter) -> v1::SlaAttainment {
        let (within, breached) = (self.get(within), self.get(breached));
        v1::SlaAttainment {
            within: count(within),
            breached: count(breached),
            percent: percent(within, within + breached),
        }
    }

    fn percentiles(&self, metric: Metric) -> v1::Percentiles {
        let slots = self.histograms.get(&(metric as i32)).map_or(&[][..], Vec::as_slice);
        v1::Percentiles {
            count: slots.iter().map(|(_, n)| n).sum(),
            p50: histogram::percentile(slots, 0.5),
            p90: histogram::percentile(slots, 0.9),
            p99: histogram::percentile(slots, 0.99),
        }
    }

    /// On the wire.
    pub fn to_proto(&self) -> v1::ServiceFigures {
        use Counter::*;
        let get = |counter| count(self.get(counter));
        let nps_responses = self.get(NpsResponses);
        let ces_responses = self.get(CesResponses);
        v1::ServiceFigures {
            interactions: get(Interactions),
            negative: get(Negative),
            positive: get(Positive),
            churn_risk: get(ChurnRisk),
            cases_opened: get(Opened),
            cases_resolved: get(Resolved),
            cases_reopened: get(Reopened),
            still_open: get(StillOpen),
            first_response: Some(self.attainment(FirstResponseWithin, FirstResponseBreached)),
            resolution: Some(self.attainment(ResolutionWithin, ResolutionBreached)),
            first_response_seconds: Some(self.percentiles(Metric::FirstResponse)),
            resolution_seconds: Some(self.percentiles(Metric::Resolution)),
            promises: Some(v1::PromiseFigures {
                made: get(PromisesMade),
                kept: get(PromisesKept),
                broken: get(PromisesBroken),
                released: get(PromisesReleased),
            }),
            escalations: Some(v1::EscalationFigures {
                escalated: get(Escalated),
                answered: get(EscalationsAnswered),
                overdue: get(EscalationsOverdue),
                seconds_in_department: Some(self.percentiles(Metric::Department)),
            }),
            incident_joins: get(IncidentJoins),
            retention_saved: get(RetentionSaved),
            retention_lost: get(RetentionLost),
            surveys: Some(v1::SurveyFigures {
                csat_responses: get(CsatResponses),
                csat_percent: percent(self.get(CsatSatisfied), self.get(CsatResponses)),
                nps_responses: count(nps_responses),
                nps: percent(self.get(NpsPromoters) - self.get(NpsDetractors), nps_responses),
                ces_responses: count(ces_responses),
                ces_mean: if ces_responses > 0 { self.get(CesSum) as f64 / ces_responses as f64 } else { 0.0 },
            }),
        }
    }
}

/// The figures of each value of `dimension` over `hours` (only `values` when given), with
/// their histograms when `histograms`.
pub async fn figures_by_value<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    dimension: i32,
    hours: Hours,
    values: &[String],
    histograms: bool,
) -> Result<BTreeMap<String, Figures>, DbErr> {
    let mut figures: BTreeMap<String, Figures> = BTreeMap::new();
    for (value, counts) in storage::sum_counts(conn, tenant, dimension, hours, values).await? {
        figures.entry(value).or_default().counts = counts;
    }
    if histograms {
        for (value, metric, slot, n) in storage::sum_histograms(conn, tenant, dimension, hours, values).await? {
            figures.entry(value).or_default().histograms.entry(metric).or_default().push((slot, count(n)));
        }
    }
    Ok(figures)
}

/// The tenant's backlog: at the end of `hours` and now, with the ages of what is open now.
async fn backlog<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    hours: Hours,
    now: DateTime<Utc>,
) -> Result<v1::Backlog, DbErr> {
    let since_ever = Hours { from: 0, to: hours.to };
    let total = figures_by_value(conn, tenant, ALL, since_ever, &[], false).await?.remove("").unwrap_or_default();
    let at_window_end = total.get(Counter::Opened) - total.get(Counter::Resolved) + total.get(Counter::Reopened);
    let mut open = storage::open_by_opening(conn, tenant, now).await?;
    open.retain(|(_, n)| *n > 0);
    open.sort_unstable();
    let open_now: i64 = open.iter().map(|(_, n)| n).sum();
    // Ages, oldest first: the nearest rank from the youngest end.
    let age = |quantile: f64| -> f64 {
        if open_now == 0 {
            return 0.0;
        }
        let rank = ((quantile * open_now as f64).ceil() as i64).clamp(1, open_now);
        let mut seen = 0;
        for (hour, n) in open.iter().rev() {
            seen += n;
            if seen >= rank {
                return (now.timestamp() - hour).max(0) as f64;
            }
        }
        0.0
    };
    Ok(v1::Backlog {
        at_window_end: count(at_window_end),
        open_now: count(open_now),
        oldest_opened_at: open.first().and_then(|(hour, _)| DateTime::from_timestamp(*hour, 0)).map(to_timestamp),
        age_p50_seconds: age(0.5),
        age_p90_seconds: age(0.9),
    })
}

/// Fills the detailed sections of `report` for `[from, to)`, checking the request's dimension
/// and values.
pub async fn detailed<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    request: &v1::GetServiceReportRequest,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    report: &mut v1::ServiceReport,
) -> Result<(), ApiError> {
    let dimension = v1::ReportDimension::try_from(request.dimension)
        .map_err(|_| ApiError::invalid("dimension", "must be a ReportDimension (e.g. REPORT_DIMENSION_CHANNEL)"))?;
    if request.values.len() > MAX_VALUES {
        return Err(ApiError::invalid("values", format!("at most {MAX_VALUES} values")));
    }
    if request.values.iter().any(|value| value.is_empty() || value.len() > 256) {
        return Err(ApiError::invalid("values", "each value must be 1 to 256 bytes"));
    }
    if !request.values.is_empty() && dimension == v1::ReportDimension::Unspecified {
        return Err(ApiError::invalid("values", "name a `dimension` for the values to be of"));
    }
    let hours = Hours::covering(from, to);
    let context = |what: &'static str| move |error: DbErr| ApiError::internal(format!("{what}: {error}"));
    let overall =
        figures_by_value(conn, tenant, ALL, hours, &[], true).await.map_err(context("summing the roll-ups"))?;
    report.rollup_from = DateTime::from_timestamp(hours.from, 0).map(to_timestamp);
    report.rollup_to = DateTime::from_timestamp(hours.to, 0).map(to_timestamp);
    report.overall = Some(overall.get("").cloned().unwrap_or_default().to_proto());
    report.dimension = dimension as i32;
    if dimension != v1::ReportDimension::Unspecified {
        let by_value = figures_by_value(conn, tenant, dimension as i32, hours, &request.values, true)
            .await
            .map_err(context("summing the roll-ups by value"))?;
        let mut breakdown: Vec<v1::DimensionFigures> = by_value
            .into_iter()
            .map(|(value, figures)| v1::DimensionFigures { value, figures: Some(figures.to_proto()) })
            .collect();
        let key = |entry: &v1::DimensionFigures| {
            entry.figures.as_ref().map_or((0, 0), |figures| (figures.cases_opened, figures.interactions))
        };
        breakdown.sort_by(|a, b| key(b).cmp(&key(a)).then_with(|| a.value.cmp(&b.value)));
        breakdown.truncate(MAX_BREAKDOWN);
        report.breakdown = breakdown;
    }
    report.backlog = Some(backlog(conn, tenant, hours, Utc::now()).await.map_err(context("reading the backlog"))?);
    Ok(())
}
