//! The service report on a generated event history, on SQLite and PostgreSQL: the figures the
//! test computes itself from the history it generated, under redelivery and replay; and one
//! event changing the roll-ups by exactly its contribution.

#![allow(clippy::unwrap_used, clippy::panic, clippy::too_many_lines, clippy::type_complexity)]

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use prost::Message as _;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use tend_kernel::ids::{new_id, to_timestamp};
use tend_kernel::{Caller, Role, TenantId};
use tend_proto::v1;
use tend_proto::v1::feedback_service_server::FeedbackService as _;
use tend_queue::{BatchHandler as _, Delivery};
use tend_store::testing::{Backend, TestStore};
use tend_store::{BatchConsumer, EventHandler, OutboxWaker};
use tonic::{Code, Request};

use super::facts::COUNTERS;
use super::histogram;
use crate::consumer::RecordCaseFacts;
use crate::{FeedbackApi, Migrator, SERVICE};

tend_store::on_both_backends!(
    the_report_matches_the_history_whatever_is_delivered_again,
    one_event_changes_the_roll_ups_by_its_contribution_alone,
    the_initiative_report_compares_equal_windows_in_scope,
    survey_scores_join_the_roll_ups_once_each,
);

pub(crate) async fn database(backend: Backend) -> (TestStore, DatabaseConnection) {
    let store = TestStore::create(backend).await;
    let db = store.connect::<Migrator>(SERVICE).await;
    (store, db)
}

pub(crate) fn caller(tenant: &str, role: Role) -> Caller {
    Caller { tenant: TenantId::parse(tenant).unwrap(), role, actor: "tester".to_owned(), agent: None }
}

pub(crate) fn request<T>(caller: Caller, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.extensions_mut().insert(caller);
    request
}

pub(crate) fn delivery<M: prost::Message + prost::Name>(tenant: &str, message: &M) -> Delivery {
    let envelope = tend_store::events::envelope("cases", &TenantId::parse(tenant).unwrap(), message);
    Delivery { id: new_id(), payload: envelope.encode_to_vec(), deliveries: 1 }
}

pub(crate) fn consumer<H: EventHandler>(handler: H, db: &DatabaseConnection) -> BatchConsumer<H> {
    BatchConsumer::new(Arc::new(handler), db.clone(), OutboxWaker::default(), SERVICE, SERVICE)
}

pub(crate) async fn handle_all<H: EventHandler>(consumer: &BatchConsumer<H>, deliveries: &[Delivery]) {
    for chunk in deliveries.chunks(200) {
        let results = consumer.handle_batch(chunk).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
    }
}

/// A small deterministic generator.
pub(crate) struct Dice(pub(crate) u64);

impl Dice {
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// The start of the generated history: a whole day.
pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap()
}

/// One generated case: everything that happens to it.
#[derive(Debug, Clone)]
pub(crate) struct Sim {
    pub(crate) id: String,
    pub(crate) interaction_id: String,
    pub(crate) channel: i32,
    pub(crate) segment: &'static str,
    pub(crate) topics: Vec<&'static str>,
    pub(crate) agent: &'static str,
    pub(crate) negative: bool,
    pub(crate) churn: bool,
    pub(crate) opened_at: DateTime<Utc>,
    pub(crate) fr_due: DateTime<Utc>,
    /// The first reply, if any.
    pub(crate) fr_met: Option<DateTime<Utc>>,
    pub(crate) res_due: DateTime<Utc>,
    pub(crate) resolved_at: Option<DateTime<Utc>>,
    /// Reopened at, resolved again at.
    pub(crate) reopened: Option<(DateTime<Utc>, Option<DateTime<Utc>>)>,
    /// Promise: (due, kept at, overdue, released).
    pub(crate) promise: Option<(DateTime<Utc>, Option<DateTime<Utc>>, bool, bool)>,
    /// Escalation: (department, escalated at, answered after seconds).
    pub(crate) escalation: Option<(&'static str, DateTime<Utc>, Option<u64>)>,
    pub(crate) incident: Option<&'static str>,
    pub(crate) saved: Option<bool>,
}

pub(crate) fn generate(dice: &mut Dice, count: usize, from: DateTime<Utc>, span_hours: i64) -> Vec<Sim> {
    (0..count)
        .map(|_| {
            let opened_at = from + Duration::minutes(dice.below(span_hours as u64 * 60) as i64) + Duration::seconds(7);
            let fr_due = opened_at + Duration::hours(1);
            let fr_met = (dice.below(10) < 8).then(|| opened_at + Duration::seconds(30 + dice.below(7200) as i64));
            let res_due = opened_at + Duration::hours(24);
            let resolved_at = fr_met
                .filter(|_| dice.below(10) < 7)
                .map(|met| met + Duration::minutes(5 + dice.below(48 * 60) as i64));
            let reopened = resolved_at.filter(|_| dice.below(5) == 0).map(|resolved| {
                let reopened = resolved + Duration::minutes(30);
                (reopened, (dice.below(2) == 0).then(|| reopened + Duration::hours(2)))
            });
            let promise = (dice.below(4) == 0).then(|| {
                let due = opened_at + Duration::hours(3);
                match dice.below(3) {
                    0 => (due, Some(due - Duration::minutes(10)), false, false),
                    1 => (due, None, true, false),
                    _ => (due, None, false, true),
                }
            });
            let escalation = (dice.below(5) == 0).then(|| {
                let department = if dice.below(2) == 0 { "billing" } else { "retention" };
                (department, opened_at + Duration::minutes(20), (dice.below(3) > 0).then(|| 600 + dice.below(20_000)))
            });
            let topics = match dice.below(4) {
                0 => vec![],
                1 => vec!["billing"],
                2 => vec!["delivery"],
                _ => vec!["billing", "delivery"],
            };
            Sim {
                id: new_id(),
                interaction_id: new_id(),
                channel: if dice.below(3) == 0 { v1::Channel::Email as i32 } else { v1::Channel::X as i32 },
                segment: if dice.below(2) == 0 { "enterprise" } else { "" },
                topics,
                agent: if dice.below(2) == 0 { "ana" } else { "bo" },
                negative: dice.below(3) == 0,
                churn: dice.below(5) == 0,
                opened_at,
                fr_due,
                fr_met,
                res_due,
                resolved_at,
                reopened,
                promise,
                escalation,
                incident: (dice.below(6) == 0).then_some("inc-1"),
                saved: (dice.below(7) == 0).then(|| dice.below(2) == 0),
            }
        })
        .collect()
}

fn clock(kind: v1::SlaClockKind, due: DateTime<Utc>, met: Option<DateTime<Utc>>) -> v1::SlaClock {
    // A clock met late was breached at its due time first.
    let breached = match met {
        Some(met) if met > due => Some(due),
        None => None,
        Some(_) => None,
    };
    v1::SlaClock {
        kind: kind as i32,
        state: v1::SlaClockState::Running as i32,
        due_at: Some(to_timestamp(due)),
        met_at: met.map(to_timestamp),
        breached_at: breached.map(to_timestamp),
        ..Default::default()
    }
}

impl Sim {
    /// The case as of `at` (clocks met by then), version `version`.
    fn case(&self, at: DateTime<Utc>, version: u64) -> v1::Case {
        let fr = self.fr_met.filter(|met| *met <= at);
        let mut resolved = self.resolved_at.filter(|resolved| *resolved <= at);
        if let Some((reopened, again)) = self.reopened
            && reopened <= at
        {
            resolved = again.filter(|again| *again <= at);
        }
        let mut clocks = vec![clock(v1::SlaClockKind::FirstResponse, self.fr_due, fr)];
        // A first response breached before it is met.
        if fr.is_none() && at >= self.fr_due {
            clocks[0].breached_at = Some(to_timestamp(self.fr_due));
        }
        clocks.push(clock(v1::SlaClockKind::Resolution, self.res_due, self.resolved_at.filter(|r| *r <= at)));
        v1::Case {
            id: self.id.clone(),
            tenant: "acme".into(),
            status: if resolved.is_some() { v1::CaseStatus::Resolved } else { v1::CaseStatus::Open } as i32,
            channel: self.channel,
            interaction_ids: vec![self.interaction_id.clone()],
            opened_at: Some(to_timestamp(self.opened_at)),
            updated_at: Some(to_timestamp(at)),
            resolved_at: resolved.map(to_timestamp),
            sentiment: if self.negative { v1::SentimentLabel::Negative } else { v1::SentimentLabel::Neutral } as i32,
            intents: if self.churn { vec![v1::Intent::ChurnRisk as i32] } else { vec![] },
            topics: self.topics.iter().map(|topic| (*topic).to_owned()).collect(),
            actionable: true,
            routing: Some(v1::RoutingOutcome {
                queue: "default".into(),
                segment: self.segment.into(),
                ..Default::default()
            }),
            version,
            assignee: if at > self.opened_at { self.agent.into() } else { String::new() },
            sla_clocks: clocks,
            incident_id: self.incident.filter(|_| at > self.opened_at).unwrap_or_default().into(),
            retention_outcome: match self.saved {
                Some(true) => v1::RetentionOutcome::Saved,
                Some(false) => v1::RetentionOutcome::Lost,
                None => v1::RetentionOutcome::Unspecified,
            } as i32,
            ..Default::default()
        }
    }

    /// Its events, in time order.
    pub(crate) fn events(&self) -> Vec<v1::CaseEvent> {
        let mut steps: Vec<(DateTime<Utc>, v1::CaseEventKind, u8)> = vec![
            (self.opened_at, v1::CaseEventKind::Opened, 0),
            (self.opened_at + Duration::seconds(1), v1::CaseEventKind::Assigned, 0),
        ];
        if let Some(met) = self.fr_met {
            if met > self.fr_due {
                steps.push((self.fr_due, v1::CaseEventKind::SlaBreached, 0));
            }
            steps.push((met, v1::CaseEventKind::StatusChanged, 0));
        } else {
            steps.push((self.fr_due, v1::CaseEventKind::SlaBreached, 0));
        }
        if let Some(resolved) = self.resolved_at {
            steps.push((resolved, v1::CaseEventKind::Resolved, 0));
        }
        if let Some((reopened, again)) = self.reopened {
            steps.push((reopened, v1::CaseEventKind::InteractionAdded, 1));
            if let Some(again) = again {
                steps.push((again, v1::CaseEventKind::Resolved, 0));
            }
        }
        if let Some((due, kept, overdue, released)) = self.promise {
            steps.push((self.opened_at + Duration::minutes(2), v1::CaseEventKind::PromiseMade, 0));
            if let Some(kept) = kept {
                steps.push((kept, v1::CaseEventKind::PromiseKept, 0));
            }
            if overdue {
                steps.push((due + Duration::minutes(1), v1::CaseEventKind::PromiseOverdue, 0));
            }
            if released {
                steps.push((due - Duration::minutes(30), v1::CaseEventKind::PromiseReleased, 0));
            }
        }
        if let Some((_, escalated, answered)) = self.escalation {
            steps.push((escalated, v1::CaseEventKind::Escalated, 0));
            if let Some(seconds) = answered {
                steps.push((escalated + Duration::seconds(seconds as i64), v1::CaseEventKind::EscalationAnswered, 0));
            }
        }
        if self.incident.is_some() {
            steps.push((self.opened_at + Duration::seconds(2), v1::CaseEventKind::IncidentJoined, 0));
        }
        if self.saved.is_some() {
            steps.push((self.opened_at + Duration::minutes(3), v1::CaseEventKind::RetentionRecorded, 0));
        }
        steps.sort_by_key(|(at, _, _)| *at);
        steps
            .into_iter()
            .enumerate()
            .map(|(index, (at, kind, reopen))| {
                let case = self.case(at, index as u64 + 1);
                let promise = self.promise.map(|(due, kept, overdue, released)| v1::Promise {
                    id: format!("{}-p", self.id),
                    case_id: self.id.clone(),
                    due_at: Some(to_timestamp(due)),
                    created_at: Some(to_timestamp(self.opened_at + Duration::minutes(2))),
                    settled_at: kept.or(released.then(|| due - Duration::minutes(30))).map(to_timestamp),
                    overdue_at: overdue.then(|| to_timestamp(due + Duration::minutes(1))),
                    ..Default::default()
                });
                let escalation = self.escalation.map(|(department, escalated, answered)| v1::Escalation {
                    id: format!("{}-e", self.id),
                    case_id: self.id.clone(),
                    department: department.into(),
                    escalated_at: Some(to_timestamp(escalated)),
                    ended_at: answered.map(|seconds| to_timestamp(escalated + Duration::seconds(seconds as i64))),
                    seconds_in_department: answered.unwrap_or(0),
                    ..Default::default()
                });
                let entry = (reopen == 1).then(|| v1::CaseTimelineEntry {
                    from_status: v1::CaseStatus::Resolved as i32,
                    to_status: v1::CaseStatus::Reopened as i32,
                    ..Default::default()
                });
                v1::CaseEvent {
                    kind: kind as i32,
                    case: Some(case),
                    entry,
                    promise: promise.filter(|_| {
                        matches!(
                            kind,
                            v1::CaseEventKind::PromiseMade
                                | v1::CaseEventKind::PromiseKept
                                | v1::CaseEventKind::PromiseOverdue
                                | v1::CaseEventKind::PromiseReleased
                        )
                    }),
                    escalation: escalation.filter(|_| {
                        matches!(kind, v1::CaseEventKind::Escalated | v1::CaseEventKind::EscalationAnswered)
                    }),
                    clock: None,
                }
            })
            .collect()
    }
}

/// What the test expects of a window, computed from the generated history alone.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Expected {
    pub(crate) opened: u64,
    pub(crate) resolved: u64,
    pub(crate) reopened: u64,
    pub(crate) still_open: u64,
    pub(crate) fr_within: u64,
    pub(crate) fr_breached: u64,
    pub(crate) res_within: u64,
    pub(crate) res_breached: u64,
    pub(crate) promises: (u64, u64, u64, u64),
    pub(crate) escalations: (u64, u64),
    pub(crate) incident_joins: u64,
    pub(crate) retention: (u64, u64),
    pub(crate) negative: u64,
    pub(crate) churn: u64,
    pub(crate) fr_seconds: Vec<f64>,
    pub(crate) res_seconds: Vec<f64>,
}

pub(crate) fn expected(sims: &[&Sim], from: DateTime<Utc>, to: DateTime<Utc>) -> Expected {
    let inside = |at: DateTime<Utc>| at >= from && at < to;
    let mut e = Expected::default();
    for sim in sims {
        if inside(sim.opened_at) {
            e.opened += 1;
            e.negative += u64::from(sim.negative);
            e.churn += u64::from(sim.churn);
            let open_now = sim.resolved_at.is_none() || sim.reopened.is_some_and(|(_, again)| again.is_none());
            e.still_open += u64::from(open_now);
        }
        match sim.fr_met {
            Some(met) if met <= sim.fr_due => e.fr_within += u64::from(inside(met)),
            _ => e.fr_breached += u64::from(inside(sim.fr_due)),
        }
        if let Some(met) = sim.fr_met.filter(|met| inside(*met)) {
            e.fr_seconds.push((met - sim.opened_at).as_seconds_f64());
        }
        if let Some(resolved) = sim.resolved_at {
            // A resolution after its due time was breached at the due time.
            if resolved <= sim.res_due {
                e.res_within += u64::from(inside(resolved));
            } else {
                e.res_breached += u64::from(inside(sim.res_due));
            }
            let mut resolutions = vec![resolved];
            if let Some((reopened, again)) = sim.reopened {
                e.reopened += u64::from(inside(reopened));
                resolutions.extend(again);
            }
            for at in resolutions.into_iter().filter(|at| inside(*at)) {
                e.resolved += 1;
                e.res_seconds.push((at - sim.opened_at).as_seconds_f64());
            }
        }
        if let Some((due, kept, overdue, released)) = sim.promise {
            e.promises.0 += u64::from(inside(sim.opened_at + Duration::minutes(2)));
            e.promises.1 += u64::from(kept.is_some_and(inside));
            e.promises.2 += u64::from(overdue && inside(due + Duration::minutes(1)));
            e.promises.3 += u64::from(released && inside(due - Duration::minutes(30)));
        }
        if let Some((_, escalated, answered)) = sim.escalation {
            e.escalations.0 += u64::from(inside(escalated));
            e.escalations.1 +=
                u64::from(answered.is_some_and(|seconds| inside(escalated + Duration::seconds(seconds as i64))));
        }
        e.incident_joins += u64::from(sim.incident.is_some() && inside(sim.opened_at + Duration::seconds(2)));
        if let Some(saved) = sim.saved
            && inside(sim.opened_at + Duration::minutes(3))
        {
            if saved {
                e.retention.0 += 1;
            } else {
                e.retention.1 += 1;
            }
        }
    }
    e
}

/// The exact nearest-rank percentile as the histogram reports it: the middle of its slot.
fn bucketed(values: &[f64], quantile: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    let exact = sorted[rank - 1];
    let reported = histogram::middle(histogram::slot(exact));
    assert!(exact < 1.0 || (reported / exact - 1.0).abs() <= histogram::RELATIVE_ERROR);
    reported
}

fn assert_figures(figures: &v1::ServiceFigures, e: &Expected, label: &str) {
    let got = Expected {
        opened: figures.cases_opened,
        resolved: figures.cases_resolved,
        reopened: figures.cases_reopened,
        still_open: figures.still_open,
        fr_within: figures.first_response.as_ref().unwrap().within,
        fr_breached: figures.first_response.as_ref().unwrap().breached,
        res_within: figures.resolution.as_ref().unwrap().within,
        res_breached: figures.resolution.as_ref().unwrap().breached,
        promises: {
            let p = figures.promises.as_ref().unwrap();
            (p.made, p.kept, p.broken, p.released)
        },
        escalations: {
            let esc = figures.escalations.as_ref().unwrap();
            (esc.escalated, esc.answered)
        },
        incident_joins: figures.incident_joins,
        retention: (figures.retention_saved, figures.retention_lost),
        negative: figures.negative,
        churn: figures.churn_risk,
        fr_seconds: Vec::new(),
        res_seconds: Vec::new(),
    };
    assert_eq!(got, counts_of(e), "{label}");
    let fr = figures.first_response_seconds.as_ref().unwrap();
    assert_eq!(fr.count, e.fr_seconds.len() as u64, "{label}");
    assert_eq!(
        (fr.p50, fr.p90, fr.p99),
        (bucketed(&e.fr_seconds, 0.5), bucketed(&e.fr_seconds, 0.9), bucketed(&e.fr_seconds, 0.99)),
        "{label}"
    );
    let res = figures.resolution_seconds.as_ref().unwrap();
    assert_eq!(res.count, e.res_seconds.len() as u64, "{label}");
    assert_eq!((res.p50, res.p90), (bucketed(&e.res_seconds, 0.5), bucketed(&e.res_seconds, 0.9)), "{label}");
    let percent = |within: u64, breached: u64| {
        if within + breached == 0 { 0.0 } else { within as f64 * 100.0 / (within + breached) as f64 }
    };
    assert_eq!(figures.first_response.as_ref().unwrap().percent, percent(e.fr_within, e.fr_breached));
}

/// `e` without its durations.
fn counts_of(e: &Expected) -> Expected {
    Expected {
        opened: e.opened,
        resolved: e.resolved,
        reopened: e.reopened,
        still_open: e.still_open,
        fr_within: e.fr_within,
        fr_breached: e.fr_breached,
        res_within: e.res_within,
        res_breached: e.res_breached,
        promises: e.promises,
        escalations: e.escalations,
        incident_joins: e.incident_joins,
        retention: e.retention,
        negative: e.negative,
        churn: e.churn,
        fr_seconds: Vec::new(),
        res_seconds: Vec::new(),
    }
}

async fn report(
    api: &FeedbackApi,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    dimension: v1::ReportDimension,
) -> v1::ServiceReport {
    let message = v1::GetServiceReportRequest {
        from: Some(to_timestamp(from)),
        to: Some(to_timestamp(to)),
        detailed: true,
        dimension: dimension as i32,
        values: Vec::new(),
    };
    api.get_service_report(request(caller("acme", Role::Viewer), message)).await.unwrap().into_inner()
}

async fn the_report_matches_the_history_whatever_is_delivered_again(backend: Backend) {
    let (store, db) = database(backend).await;
    let cases = consumer(RecordCaseFacts, &db);
    let api = FeedbackApi::new(db.clone());
    let mut dice = Dice(7);
    let sims = generate(&mut dice, 150, t0(), 72);
    let mut deliveries: Vec<Delivery> =
        sims.iter().flat_map(|sim| sim.events()).map(|event| delivery("acme", &event)).collect();
    // Another tenant's history counts for it alone.
    let others = generate(&mut Dice(99), 20, t0(), 72);
    deliveries.extend(others.iter().flat_map(|sim| sim.events()).map(|event| delivery("globex", &event)));
    // Interleaved, as several partitions would deliver them.
    let mut order: Vec<usize> = (0..deliveries.len()).collect();
    for index in (1..order.len()).rev() {
        order.swap(index, dice.below(index as u64 + 1) as usize);
    }
    let shuffled: Vec<Delivery> = order.iter().map(|index| deliveries[*index].clone()).collect();
    handle_all(&cases, &shuffled).await;

    let all: Vec<&Sim> = sims.iter().collect();
    let end = t0() + Duration::days(6);
    let whole = report(&api, t0(), end, v1::ReportDimension::Channel).await;
    assert_figures(whole.overall.as_ref().unwrap(), &expected(&all, t0(), end), "overall");
    assert_eq!(whole.overall.as_ref().unwrap().interactions, 150);
    // By channel, by agent (the assignee when each fact happened), by topic.
    for channel in [v1::Channel::X, v1::Channel::Email] {
        let value = super::facts::channel_value(channel as i32);
        let of: Vec<&Sim> = sims.iter().filter(|sim| sim.channel == channel as i32).collect();
        let entry = whole.breakdown.iter().find(|entry| entry.value == value).unwrap();
        assert_figures(entry.figures.as_ref().unwrap(), &expected(&of, t0(), end), &value);
    }
    let by_topic = report(&api, t0(), end, v1::ReportDimension::Topic).await;
    for topic in ["billing", "delivery"] {
        let of: Vec<&Sim> = sims.iter().filter(|sim| sim.topics.contains(&topic)).collect();
        let entry = by_topic.breakdown.iter().find(|entry| entry.value == topic).unwrap();
        assert_figures(entry.figures.as_ref().unwrap(), &expected(&of, t0(), end), topic);
    }
    let by_segment = report(&api, t0(), end, v1::ReportDimension::Segment).await;
    let enterprise: Vec<&Sim> = sims.iter().filter(|sim| sim.segment == "enterprise").collect();
    let entry = by_segment.breakdown.iter().find(|entry| entry.value == "enterprise").unwrap();
    assert_figures(entry.figures.as_ref().unwrap(), &expected(&enterprise, t0(), end), "enterprise");
    assert!(by_segment.breakdown.iter().any(|entry| entry.value == "(none)"));
    let by_agent = report(&api, t0(), end, v1::ReportDimension::Agent).await;
    let ana = by_agent.breakdown.iter().find(|entry| entry.value == "ana").unwrap().figures.unwrap();
    let ana_resolved: u64 = sims
        .iter()
        .filter(|sim| sim.agent == "ana")
        .map(|sim| {
            u64::from(sim.resolved_at.is_some()) + u64::from(sim.reopened.is_some_and(|(_, again)| again.is_some()))
        })
        .sum();
    assert_eq!(ana.cases_resolved, ana_resolved);
    let by_department = report(&api, t0(), end, v1::ReportDimension::Department).await;
    let billing_escalations = sims.iter().filter(|sim| sim.escalation.is_some_and(|(d, _, _)| d == "billing")).count();
    let billing = by_department.breakdown.iter().find(|entry| entry.value == "billing").unwrap();
    assert_eq!(billing.figures.as_ref().unwrap().escalations.as_ref().unwrap().escalated, billing_escalations as u64);

    // A window of whole hours inside the history: the facts that happened in it.
    let (from, to) = (t0() + Duration::hours(13), t0() + Duration::hours(13 + 30));
    let part = report(&api, from, to, v1::ReportDimension::Unspecified).await;
    assert_figures(part.overall.as_ref().unwrap(), &expected(&all, from, to), "window");
    assert!(part.breakdown.is_empty());
    // The window widened to whole hours.
    let odd =
        report(&api, from + Duration::minutes(10), to - Duration::minutes(10), v1::ReportDimension::Unspecified).await;
    assert_eq!((odd.rollup_from, odd.rollup_to), (Some(to_timestamp(from)), Some(to_timestamp(to))));
    assert_eq!(odd.overall, part.overall);

    // The backlog: open now, and at the end of the window.
    let open_now = sims
        .iter()
        .filter(|sim| sim.resolved_at.is_none() || sim.reopened.is_some_and(|(_, again)| again.is_none()))
        .count() as u64;
    assert_eq!(whole.backlog.as_ref().unwrap().open_now, open_now);
    let at_end = sims
        .iter()
        .filter(|sim| sim.opened_at < to)
        .filter(|sim| {
            let mut open = true;
            if sim.resolved_at.is_some_and(|at| at < to) {
                open = false;
            }
            if let Some((reopened, again)) = sim.reopened {
                if reopened < to {
                    open = true;
                }
                if again.is_some_and(|at| at < to) {
                    open = false;
                }
            }
            open
        })
        .count() as u64;
    assert_eq!(part.backlog.as_ref().unwrap().at_window_end, at_end);

    // Everything again (a reclaim after a crash: the inbox), then replayed under new event ids
    // (the ledger): nothing changes.
    handle_all(&cases, &shuffled).await;
    let replayed: Vec<Delivery> =
        sims.iter().flat_map(|sim| sim.events()).map(|event| delivery("acme", &event)).collect();
    handle_all(&cases, &replayed).await;
    let again = report(&api, t0(), end, v1::ReportDimension::Channel).await;
    assert_eq!((again.overall, again.breakdown), (whole.overall, whole.breakdown.clone()));

    // Bad requests.
    let bad = |message: v1::GetServiceReportRequest| {
        let api = &api;
        async move { api.get_service_report(request(caller("acme", Role::Viewer), message)).await.unwrap_err() }
    };
    let error = bad(v1::GetServiceReportRequest { detailed: true, dimension: 42, ..Default::default() }).await;
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(error.message().contains("dimension"), "{error:?}");
    let values = vec!["x".to_owned(); 101];
    let error = bad(v1::GetServiceReportRequest { detailed: true, dimension: 1, values, ..Default::default() }).await;
    assert_eq!(error.code(), Code::InvalidArgument);
    let values = vec!["x".to_owned()];
    let error = bad(v1::GetServiceReportRequest { detailed: true, values, ..Default::default() }).await;
    assert!(error.message().contains("dimension"), "{error:?}");
    // Only the values asked for.
    let message = v1::GetServiceReportRequest {
        detailed: true,
        dimension: v1::ReportDimension::Channel as i32,
        values: vec!["email".into()],
        ..Default::default()
    };
    let only = api.get_service_report(request(caller("acme", Role::Viewer), message)).await.unwrap().into_inner();
    assert_eq!(only.breakdown.iter().map(|entry| entry.value.as_str()).collect::<Vec<_>>(), ["email"]);
    store.cleanup().await;
}

/// Every roll-up row: key → counters (histogram rows as one counter).
async fn rows(db: &DatabaseConnection) -> BTreeMap<String, Vec<i64>> {
    let backend = db.get_database_backend();
    let columns: Vec<&str> = COUNTERS.iter().map(|counter| counter.column()).collect();
    let sql = format!("SELECT tenant, grain, dimension, bucket, value, {} FROM report_counts", columns.join(", "));
    let mut rows = BTreeMap::new();
    for row in db.query_all_raw(Statement::from_string(backend, sql)).await.unwrap() {
        let key = format!(
            "counts {} {} {} {} {}",
            row.try_get_by_index::<String>(0).unwrap(),
            row.try_get_by_index::<i32>(1).unwrap(),
            row.try_get_by_index::<i32>(2).unwrap(),
            row.try_get_by_index::<i64>(3).unwrap(),
            row.try_get_by_index::<String>(4).unwrap()
        );
        let counts = (0..COUNTERS.len()).map(|index| row.try_get_by_index::<i64>(index + 5).unwrap()).collect();
        rows.insert(key, counts);
    }
    let sql = "SELECT tenant, grain, dimension, bucket, value, metric, slot, n FROM report_histograms";
    for row in db.query_all_raw(Statement::from_string(backend, sql)).await.unwrap() {
        let key = format!(
            "histogram {} {} {} {} {} {} {}",
            row.try_get_by_index::<String>(0).unwrap(),
            row.try_get_by_index::<i32>(1).unwrap(),
            row.try_get_by_index::<i32>(2).unwrap(),
            row.try_get_by_index::<i64>(3).unwrap(),
            row.try_get_by_index::<String>(4).unwrap(),
            row.try_get_by_index::<i32>(5).unwrap(),
            row.try_get_by_index::<i32>(6).unwrap()
        );
        rows.insert(key, vec![row.try_get_by_index::<i64>(7).unwrap()]);
    }
    rows
}

async fn one_event_changes_the_roll_ups_by_its_contribution_alone(backend: Backend) {
    let (store, db) = database(backend).await;
    let (counted, statements) = {
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut counted = db.clone();
        let counter = count.clone();
        counted.set_metric_callback(move |_| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        (counted, count)
    };
    let cases = consumer(RecordCaseFacts, &counted);
    let mut sims = generate(&mut Dice(3), 40, t0(), 24);
    // One case opened at 02:10 on the first day, about billing, by email, resolved two days
    // later by bo within its resolution clock... of 72 hours.
    let mut sim = sims[0].clone();
    sim.id = new_id();
    sim.opened_at = t0() + Duration::minutes(130);
    sim.fr_due = sim.opened_at + Duration::hours(1);
    sim.fr_met = Some(sim.opened_at + Duration::minutes(5));
    sim.res_due = sim.opened_at + Duration::hours(72);
    sim.resolved_at = None;
    sim.reopened = None;
    sim.promise = None;
    sim.escalation = None;
    sim.incident = None;
    sim.saved = None;
    sim.topics = vec!["billing"];
    sim.channel = v1::Channel::Email as i32;
    sim.segment = "enterprise";
    sim.agent = "bo";
    sims.push(sim.clone());
    let deliveries: Vec<Delivery> =
        sims.iter().flat_map(|sim| sim.events()).map(|event| delivery("acme", &event)).collect();
    handle_all(&cases, &deliveries).await;
    let before = rows(&db).await;

    // Its resolution, in one batch of one event.
    let resolved_at = sim.opened_at + Duration::hours(49);
    let mut resolved_sim = sim.clone();
    resolved_sim.resolved_at = Some(resolved_at);
    let event = v1::CaseEvent {
        kind: v1::CaseEventKind::Resolved as i32,
        case: Some(resolved_sim.case(resolved_at, 9)),
        ..Default::default()
    };
    statements.store(0, std::sync::atomic::Ordering::Relaxed);
    handle_all(&cases, &[delivery("acme", &event)]).await;
    // Inbox, case facts (insert, update), the ledger, the counts, the histograms: no recompute.
    assert_eq!(statements.load(std::sync::atomic::Ordering::Relaxed), 6);
    let after = rows(&db).await;

    let opened_hour = t0().timestamp() + 2 * 3600;
    let resolved_hour = (t0() + Duration::hours(51)).timestamp();
    let day = |at: i64| at.div_euclid(86_400) * 86_400;
    let column = |name: &str| COUNTERS.iter().position(|counter| counter.column() == name).unwrap();
    let mut want: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut add = |key: String, index: usize, n: i64, width: usize| {
        let row =
            want.entry(key.clone()).or_insert_with(|| before.get(&key).cloned().unwrap_or_else(|| vec![0; width]));
        row[index] += n;
    };
    let resolved_values: Vec<(i32, &str)> = vec![
        (0, ""),
        (1, "email"),
        (2, "enterprise"),
        (3, "default"),
        (4, "bo"),
        (5, "billing"),
        (100, "email|enterprise|*"),
        (100, "email|enterprise|billing"),
    ];
    for (grain, bucket_of) in [(0, resolved_hour), (1, day(resolved_hour))] {
        for (dimension, value) in &resolved_values {
            let key = format!("counts acme {grain} {dimension} {bucket_of} {value}");
            add(key.clone(), column("resolved"), 1, COUNTERS.len());
            add(key, column("res_within"), 1, COUNTERS.len());
            if *dimension != 100 {
                let slot = histogram::slot(49.0 * 3600.0);
                add(format!("histogram acme {grain} {dimension} {bucket_of} {value} 2 {slot}"), 0, 1, 1);
            }
        }
    }
    for (grain, bucket_of) in [(0, opened_hour), (1, day(opened_hour))] {
        for (dimension, value) in resolved_values.iter().filter(|(dimension, _)| *dimension != 4) {
            add(
                format!("counts acme {grain} {dimension} {bucket_of} {value}"),
                column("still_open"),
                -1,
                COUNTERS.len(),
            );
        }
    }
    let changed: BTreeMap<String, Vec<i64>> =
        after.iter().filter(|(key, row)| before.get(*key) != Some(*row)).map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(changed, want);
    assert_eq!(changed.len(), 16 + 12 + 14);
    // Nothing else moved, and no row went away.
    assert!(before.keys().all(|key| after.contains_key(key)));
    store.cleanup().await;
}

async fn the_initiative_report_compares_equal_windows_in_scope(backend: Backend) {
    crate::initiatives::tests::initiative_report(backend).await;
}

async fn survey_scores_join_the_roll_ups_once_each(backend: Backend) {
    use super::{Dims, SurveyKind, SurveyScore, record_survey_scores};
    let (store, db) = database(backend).await;
    let api = FeedbackApi::new(db.clone());
    let at = t0() + Duration::hours(5);
    let dims = |channel: &str| Dims {
        channel: channel.into(),
        segment: "enterprise".into(),
        queue: "default".into(),
        agent: "ana".into(),
        topics: vec!["billing".into()],
        department: None,
        incident: None,
    };
    let score = |id: &str, channel: &str, score: SurveyKind| SurveyScore {
        tenant: "acme".into(),
        response_id: id.into(),
        received_at: at,
        dims: dims(channel),
        score,
    };
    let scores = vec![
        score("r1", "x", SurveyKind::Csat(5)),
        score("r2", "x", SurveyKind::Csat(2)),
        score("r3", "email", SurveyKind::Csat(4)),
        score("r4", "x", SurveyKind::Nps(10)),
        score("r5", "x", SurveyKind::Nps(8)),
        score("r6", "x", SurveyKind::Nps(3)),
        score("r7", "x", SurveyKind::Nps(9)),
        score("r8", "x", SurveyKind::Ces(2)),
        score("r9", "x", SurveyKind::Ces(5)),
    ];
    assert_eq!(record_survey_scores(&db, &scores).await.unwrap(), 9);
    // The same responses again (a retried transaction, a replay): nothing more.
    assert_eq!(record_survey_scores(&db, &scores[..4]).await.unwrap(), 0);
    let whole = report(&api, t0(), t0() + Duration::days(1), v1::ReportDimension::Channel).await;
    let surveys = whole.overall.unwrap().surveys.unwrap();
    // CSAT: 2 of 3 satisfied; NPS: (2 promoters - 1 detractor) / 4; CES: (2 + 5) / 2.
    assert_eq!(surveys.csat_responses, 3);
    assert!((surveys.csat_percent - 200.0 / 3.0).abs() < 1e-9);
    assert_eq!((surveys.nps_responses, surveys.nps), (4, 25.0));
    assert_eq!((surveys.ces_responses, surveys.ces_mean), (2, 3.5));
    let email = whole.breakdown.iter().find(|entry| entry.value == "email").unwrap();
    let email = email.figures.unwrap().surveys.unwrap();
    assert_eq!((email.csat_responses, email.csat_percent), (1, 100.0));
    store.cleanup().await;
}
