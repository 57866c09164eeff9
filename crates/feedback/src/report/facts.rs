//! What each event contributes to the roll-ups: pure functions from a case event or a routed
//! interaction to [`Fact`]s, each with the key that makes it count once.

use chrono::{DateTime, Utc};
use tend_kernel::ids::from_timestamp;
use tend_proto::v1;

/// A counter of the `report_counts` table (one column each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Counter {
    Interactions,
    Negative,
    Positive,
    ChurnRisk,
    Opened,
    Resolved,
    Reopened,
    /// +1 at the opening's hour when opened or reopened, -1 there when resolved.
    StillOpen,
    FirstResponseWithin,
    FirstResponseBreached,
    ResolutionWithin,
    ResolutionBreached,
    PromisesMade,
    PromisesKept,
    PromisesBroken,
    PromisesReleased,
    Escalated,
    EscalationsAnswered,
    EscalationsOverdue,
    IncidentJoins,
    RetentionSaved,
    RetentionLost,
    CsatResponses,
    CsatSatisfied,
    NpsResponses,
    NpsPromoters,
    NpsDetractors,
    CesResponses,
    CesSum,
    CesSquares,
}

/// Every counter, in column order.
pub const COUNTERS: [Counter; 30] = {
    use Counter::*;
    [
        Interactions,
        Negative,
        Positive,
        ChurnRisk,
        Opened,
        Resolved,
        Reopened,
        StillOpen,
        FirstResponseWithin,
        FirstResponseBreached,
        ResolutionWithin,
        ResolutionBreached,
        PromisesMade,
        PromisesKept,
        PromisesBroken,
        PromisesReleased,
        Escalated,
        EscalationsAnswered,
        EscalationsOverdue,
        IncidentJoins,
        RetentionSaved,
        RetentionLost,
        CsatResponses,
        CsatSatisfied,
        NpsResponses,
        NpsPromoters,
        NpsDetractors,
        CesResponses,
        CesSum,
        CesSquares,
    ]
};

impl Counter {
    /// Its index in [`COUNTERS`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Its column.
    pub fn column(self) -> &'static str {
        use Counter::*;
        match self {
            Interactions => "interactions",
            Negative => "negative",
            Positive => "positive",
            ChurnRisk => "churn_risk",
            Opened => "opened",
            Resolved => "resolved",
            Reopened => "reopened",
            StillOpen => "still_open",
            FirstResponseWithin => "fr_within",
            FirstResponseBreached => "fr_breached",
            ResolutionWithin => "res_within",
            ResolutionBreached => "res_breached",
            PromisesMade => "promises_made",
            PromisesKept => "promises_kept",
            PromisesBroken => "promises_broken",
            PromisesReleased => "promises_released",
            Escalated => "escalated",
            EscalationsAnswered => "escalations_answered",
            EscalationsOverdue => "escalations_overdue",
            IncidentJoins => "incident_joins",
            RetentionSaved => "retention_saved",
            RetentionLost => "retention_lost",
            CsatResponses => "csat_responses",
            CsatSatisfied => "csat_satisfied",
            NpsResponses => "nps_responses",
            NpsPromoters => "nps_promoters",
            NpsDetractors => "nps_detractors",
            CesResponses => "ces_responses",
            CesSum => "ces_sum",
            CesSquares => "ces_squares",
        }
    }
}

/// A duration kept as a histogram (`report_histograms.metric`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Opening to first agent reply.
    FirstResponse = 1,
    /// Opening to resolution.
    Resolution = 2,
    /// Time with a department (answered escalations).
    Department = 3,
}

/// "(none)": the dimension value of a fact without one.
pub const NONE: &str = "(none)";

/// The dimension values of a fact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dims {
    /// Channel name ("x").
    pub channel: String,
    /// CRM segment.
    pub segment: String,
    /// Routing queue.
    pub queue: String,
    /// Assignee.
    pub agent: String,
    /// Topics, each once.
    pub topics: Vec<String>,
    /// An escalation's department.
    pub department: Option<String>,
    /// The incident joined.
    pub incident: Option<String>,
}

/// One thing that happened, with what it adds to the roll-ups.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    /// Tenant.
    pub tenant: String,
    /// The case it happened to (the ledger's subject); empty for interactions, which
    /// `routed_facts` counts once already.
    pub subject: String,
    /// What happened to it, unique per case ("opened", "resolved@<µs>", "promise-kept:<id>").
    pub key: String,
    /// Where it counts.
    pub dims: Dims,
    /// Counter changes, each at its time.
    pub deltas: Vec<(DateTime<Utc>, Counter, i64)>,
    /// Durations in seconds, each at its time.
    pub durations: Vec<(DateTime<Utc>, Metric, f64)>,
}

/// A channel's dimension value: its name without prefix, lower case ("x", "email").
pub fn channel_value(channel: i32) -> String {
    v1::Channel::try_from(channel).map_or_else(
        |_| channel.to_string(),
        |channel| channel.as_str_name().trim_start_matches("CHANNEL_").to_lowercase(),
    )
}

fn or_none(value: &str) -> String {
    if value.is_empty() { NONE.to_owned() } else { value.to_owned() }
}

impl Dims {
    /// The dimensions of a surveyed case, as its survey recorded them (channel number, segment,
    /// queue, assignee, topics).
    pub fn of_survey(channel: i32, segment: &str, queue: &str, agent: &str, case_topics: &[String]) -> Self {
        Dims {
            channel: channel_value(channel),
            segment: or_none(segment),
            queue: or_none(queue),
            agent: or_none(agent),
            topics: topics(case_topics),
            department: None,
            incident: None,
        }
    }
}

/// Topics each once, at most 32 (a dictionary match finds few).
fn topics(topics: &[String]) -> Vec<String> {
    let mut seen = Vec::new();
    for topic in topics {
        if !topic.is_empty() && !seen.contains(topic) && seen.len() < 32 {
            seen.push(topic.clone());
        }
    }
    seen
}

/// What a routed interaction (work or not) adds: one interaction, negative or positive, churn
/// risk, at `decided_at`.
pub fn interaction_fact(
    tenant: &str,
    decided_at: DateTime<Utc>,
    channel: i32,
    outcome: Option<&v1::RoutingOutcome>,
    topic_names: &[String],
    intents: &[i32],
    sentiment: i32,
) -> Fact {
    let mut deltas = vec![(decided_at, Counter::Interactions, 1)];
    match v1::SentimentLabel::try_from(sentiment) {
        Ok(v1::SentimentLabel::Negative) => {
            deltas.push((decided_at, Counter::Negative, 1));
        }
        Ok(v1::SentimentLabel::Positive) => {
            deltas.push((decided_at, Counter::Positive, 1));
        }
        _ => {}
    }
    if intents.contains(&(v1::Intent::ChurnRisk as i32)) {
        deltas.push((decided_at, Counter::ChurnRisk, 1));
    }
    Fact {
        tenant: tenant.to_owned(),
        subject: String::new(),
        key: String::new(),
        dims: Dims {
            channel: channel_value(channel),
            segment: or_none(outcome.map_or("", |outcome| outcome.segment.as_str())),
            queue: or_none(outcome.map_or("", |outcome| outcome.queue.as_str())),
            agent: NONE.to_owned(),
            topics: topics(topic_names),
            department: None,
            incident: None,
        },
        deltas,
        durations: Vec::new(),
    }
}

fn time(at: Option<&prost_types::Timestamp>) -> Option<DateTime<Utc>> {
    at.and_then(|at| from_timestamp("at", at).ok())
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// The case's clock of `kind`, if it has one.
fn clock(case: &v1::Case, kind: v1::SlaClockKind) -> Option<&v1::SlaClock> {
    case.sla_clocks.iter().find(|clock| clock.kind == kind as i32)
}

/// Whether a clock is decided, and how: `(at, within)`: breached at `breached_at`, or met at
/// `met_at` (within when not after `due_at`).
fn clock_outcome(clock: &v1::SlaClock) -> Option<(DateTime<Utc>, bool)> {
    if let Some(breached) = time(clock.breached_at.as_ref()) {
        return Some((breached, false));
    }
    let met = time(clock.met_at.as_ref())?;
    let within = time(clock.due_at.as_ref()).is_none_or(|due| met <= due);
    Some((met, within))
}

/// What a case event adds, each fact keyed so that it counts once per case whatever is
/// delivered or replayed: the opening, the first-response and resolution SLA outcomes and
/// response time (from the clocks the case carries, on whichever event first shows them), each
/// resolution and reopening, promises, escalations, incident joins and retention outcomes.
pub fn case_facts(tenant: &str, event: &v1::CaseEvent) -> Vec<Fact> {
    let Some(case) = &event.case else {
        return Vec::new();
    };
    let Some(opened_at) = time(case.opened_at.as_ref()) else {
        return Vec::new();
    };
    let changed_at = time(case.updated_at.as_ref()).unwrap_or(opened_at);
    let dims = Dims {
        channel: channel_value(case.channel),
        segment: or_none(case.routing.as_ref().map_or("", |routing| routing.segment.as_str())),
        queue: or_none(case.routing.as_ref().map_or("", |routing| routing.queue.as_str())),
        agent: or_none(&case.assignee),
        topics: topics(&case.topics),
        department: None,
        incident: None,
    };
    let mut facts = Vec::new();
    let mut fact =
        |key: String, deltas: Vec<(DateTime<Utc>, Counter, i64)>, durations: Vec<(DateTime<Utc>, Metric, f64)>| {
            facts.push(Fact {
                tenant: tenant.to_owned(),
                subject: case.id.clone(),
                key,
                dims: dims.clone(),
                deltas,
                durations,
            });
        };
    let seconds = |from: DateTime<Utc>, to: DateTime<Utc>| (to - from).as_seconds_f64().max(0.0);
    let kind = event.kind();
    if kind == v1::CaseEventKind::Opened {
        fact("opened".into(), vec![(opened_at, Counter::Opened, 1), (opened_at, Counter::StillOpen, 1)], Vec::new());
    }
    if let Some(first) = clock(case, v1::SlaClockKind::FirstResponse) {
        if let Some((at, within)) = clock_outcome(first) {
            let counter = if within { Counter::FirstResponseWithin } else { Counter::FirstResponseBreached };
            fact("first-response-sla".into(), vec![(at, counter, 1)], Vec::new());
        }
        if let Some(met) = time(first.met_at.as_ref()) {
            fact("first-response".into(), Vec::new(), vec![(met, Metric::FirstResponse, seconds(opened_at, met))]);
        }
    }
    if let Some((at, within)) = clock(case, v1::SlaClockKind::Resolution).and_then(clock_outcome) {
        let counter = if within { Counter::ResolutionWithin } else { Counter::ResolutionBreached };
        fact("resolution-sla".into(), vec![(at, counter, 1)], Vec::new());
    }
    if kind == v1::CaseEventKind::Resolved
        && let Some(resolved_at) = time(case.resolved_at.as_ref())
    {
        fact(
            format!("resolved@{}", micros(resolved_at)),
            vec![(resolved_at, Counter::Resolved, 1), (opened_at, Counter::StillOpen, -1)],
            vec![(resolved_at, Metric::Resolution, seconds(opened_at, resolved_at))],
        );
    }
    let reopened = kind == v1::CaseEventKind::Reopened
        || event.entry.as_ref().is_some_and(|entry| {
            entry.from_status == v1::CaseStatus::Resolved as i32 && entry.to_status == v1::CaseStatus::Reopened as i32
        });
    if reopened {
        fact(
            format!("reopened@v{}", case.version),
            vec![(changed_at, Counter::Reopened, 1), (opened_at, Counter::StillOpen, 1)],
            Vec::new(),
        );
    }
    if let Some(promise) = &event.promise {
        let id = &promise.id;
        let due = time(promise.due_at.as_ref());
        match kind {
            v1::CaseEventKind::PromiseMade => {
                let at = time(promise.created_at.as_ref()).unwrap_or(changed_at);
                fact(format!("promise-made:{id}"), vec![(at, Counter::PromisesMade, 1)], Vec::new());
            }
            v1::CaseEventKind::PromiseKept => {
                let at = time(promise.settled_at.as_ref()).unwrap_or(changed_at);
                if due.is_none_or(|due| at <= due) {
                    fact(format!("promise-kept:{id}"), vec![(at, Counter::PromisesKept, 1)], Vec::new());
                } else {
                    fact(format!("promise-broken:{id}"), vec![(at, Counter::PromisesBroken, 1)], Vec::new());
                }
            }
            v1::CaseEventKind::PromiseOverdue => {
                let at = time(promise.overdue_at.as_ref()).unwrap_or(changed_at);
                fact(format!("promise-broken:{id}"), vec![(at, Counter::PromisesBroken, 1)], Vec::new());
            }
            v1::CaseEventKind::PromiseReleased if promise.overdue_at.is_none() => {
                let at = time(promise.settled_at.as_ref()).unwrap_or(changed_at);
                fact(format!("promise-released:{id}"), vec![(at, Counter::PromisesReleased, 1)], Vec::new());
            }
            _ => {}
        }
    }
    if let Some(escalation) = &event.escalation {
        let id = &escalation.id;
        let mut with_department = |key: String, deltas: Vec<_>, durations: Vec<_>| {
            let mut dims = dims.clone();
            dims.department = Some(or_none(&escalation.department));
            facts.push(Fact { tenant: tenant.to_owned(), subject: case.id.clone(), key, dims, deltas, durations });
        };
        match kind {
            v1::CaseEventKind::Escalated => {
                let at = time(escalation.escalated_at.as_ref()).unwrap_or(changed_at);
                with_department(format!("escalated:{id}"), vec![(at, Counter::Escalated, 1)], Vec::new());
            }
            v1::CaseEventKind::EscalationAnswered => {
                let at = time(escalation.ended_at.as_ref()).unwrap_or(changed_at);
                with_department(
                    format!("escalation-answered:{id}"),
                    vec![(at, Counter::EscalationsAnswered, 1)],
                    vec![(at, Metric::Department, escalation.seconds_in_department as f64)],
                );
            }
            v1::CaseEventKind::EscalationOverdue => {
                let at = time(escalation.overdue_at.as_ref()).unwrap_or(changed_at);
                with_department(
                    format!("escalation-overdue:{id}"),
                    vec![(at, Counter::EscalationsOverdue, 1)],
                    Vec::new(),
                );
            }
            _ => {}
        }
    }
    if kind == v1::CaseEventKind::IncidentJoined && !case.incident_id.is_empty() {
        let mut dims = dims.clone();
        dims.incident = Some(case.incident_id.clone());
        facts.push(Fact {
            tenant: tenant.to_owned(),
            subject: case.id.clone(),
            key: format!("incident:{}@v{}", case.incident_id, case.version),
            dims,
            deltas: vec![(changed_at, Counter::IncidentJoins, 1)],
            durations: Vec::new(),
        });
    }
    if kind == v1::CaseEventKind::RetentionRecorded {
        let mut retention = |key: &str, counter| {
            facts.push(Fact {
                tenant: tenant.to_owned(),
                subject: case.id.clone(),
                key: key.to_owned(),
                dims: dims.clone(),
                deltas: vec![(changed_at, counter, 1)],
                durations: Vec::new(),
            });
        };
        match case.retention_outcome() {
            v1::RetentionOutcome::Saved => retention("retention:saved", Counter::RetentionSaved),
            v1::RetentionOutcome::Lost => retention("retention:lost", Counter::RetentionLost),
            _ => {}
        }
    }
    facts
}

/// A survey response's score, as the survey responses' consumer or API will hand it to
/// [`record_survey_scores`](super::record_survey_scores): the **hook** by which CSAT, NPS and
/// CES join the roll-ups as one more fact kind.
#[derive(Debug, Clone, PartialEq)]
pub struct SurveyScore {
    /// Tenant.
    pub tenant: String,
    /// The response's id: it counts once.
    pub response_id: String,
    /// When it was received.
    pub received_at: DateTime<Utc>,
    /// The surveyed case's channel, segment, queue, agent and topics.
    pub dims: Dims,
    /// The survey and its score.
    pub score: SurveyKind,
}

/// A survey's kind and score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurveyKind {
    /// 1–5; 4 and 5 are satisfied.
    Csat(u8),
    /// 0–10; 9–10 promoters, 0–6 detractors.
    Nps(u8),
    /// 1–7.
    Ces(u8),
}

/// The fact of a survey score.
pub fn survey_fact(score: &SurveyScore) -> Fact {
    let at = score.received_at;
    let deltas = match score.score {
        SurveyKind::Csat(value) => {
            vec![(at, Counter::CsatResponses, 1), (at, Counter::CsatSatisfied, i64::from(value >= 4))]
        }
        SurveyKind::Nps(value) => vec![
            (at, Counter::NpsResponses, 1),
            (at, Counter::NpsPromoters, i64::from(value >= 9)),
            (at, Counter::NpsDetractors, i64::from(value <= 6)),
        ],
        SurveyKind::Ces(value) => vec![
            (at, Counter::CesResponses, 1),
            (at, Counter::CesSum, i64::from(value)),
            (at, Counter::CesSquares, i64::from(value) * i64::from(value)),
        ],
    };
    Fact {
        tenant: score.tenant.clone(),
        subject: format!("survey:{}", score.response_id),
        key: "score".into(),
        dims: score.dims.clone(),
        deltas,
        durations: Vec::new(),
    }
}
