//! Simulation: a window of recorded decisions replayed through a draft configuration, without
//! side effects, and what would change. Pure: the API loads the window and the draft.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use prost::Message as _;
use tend_kernel::ids::to_timestamp;
use tend_proto::v1;

use crate::config::TenantRouting;
use crate::decide::{DEFAULT_QUEUE, decide};
use crate::storage::decision;

/// One recorded decision, read back for replay.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// When it was decided (the replay's `now`).
    pub decided_at: DateTime<Utc>,
    /// Its priority.
    pub priority: u32,
    /// Whether it was work.
    pub actionable: bool,
    /// What it decided.
    pub outcome: v1::RoutingOutcome,
    /// What it was decided from; `None` when erased or recorded before inputs were kept.
    pub input: Option<v1::InteractionIdentified>,
    /// When its case was first answered.
    pub first_response_at: Option<DateTime<Utc>>,
    /// When its case was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
}

impl Recorded {
    /// Reads a stored row; a body that does not decode counts as absent.
    pub fn of(row: &decision::Model) -> Self {
        Recorded {
            decided_at: row.decided_at,
            priority: u32::try_from(row.priority).unwrap_or(0),
            actionable: row.actionable,
            outcome: row
                .outcome
                .as_deref()
                .and_then(|bytes| v1::RoutingOutcome::decode(bytes).ok())
                .unwrap_or_else(|| v1::RoutingOutcome { queue: DEFAULT_QUEUE.into(), ..v1::RoutingOutcome::default() }),
            input: row.input.as_deref().and_then(|bytes| v1::InteractionIdentified::decode(bytes).ok()),
            first_response_at: row.first_response_at,
            resolved_at: row.resolved_at,
        }
    }
}

fn band(priority: u32) -> usize {
    usize::try_from(priority.min(99) / 10).unwrap_or(9)
}

use crate::time_of as time;

/// Whether work due at `due` breached, given when it was done (`done`) and the time now: done
/// late, or not done and already late. `None` when it can't be told (no deadline, or not done
/// and not yet due).
fn breached(due: Option<DateTime<Utc>>, done: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<bool> {
    let due = due?;
    match done {
        Some(done) => Some(done > due),
        None => (now > due).then_some(true),
    }
}

/// Replays `window` (inputs missing are skipped) through `draft` and reports the changes;
/// `now` decides whether unfinished work has breached.
pub fn simulate(draft: &TenantRouting, window: &[Recorded], now: DateTime<Utc>) -> v1::SimulationReport {
    let root = cel::Context::with_env(draft.rules.env.clone());
    let mut report = v1::SimulationReport::default();
    let mut queues: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let mut sla_changes: BTreeMap<(String, String), u32> = BTreeMap::new();
    let mut hits: BTreeMap<String, u32> = BTreeMap::new();
    let mut errors: BTreeMap<String, u32> = BTreeMap::new();
    let (mut before_sum, mut after_sum) = (0u64, 0u64);
    let mut histogram_before = vec![0u32; 10];
    let mut histogram_after = vec![0u32; 10];
    let mut shift = v1::PriorityShift::default();
    let mut breaches = v1::PredictedBreaches::default();
    let (mut oldest, mut newest): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = (None, None);

    for recorded in window {
        let Some(input) = &recorded.input else { continue };
        let signals = crate::decide::Signals::of_outcome(&recorded.outcome);
        let after = decide(draft, &root, input, recorded.decided_at, &signals);
        report.decisions += 1;
        oldest = Some(oldest.map_or(recorded.decided_at, |at| at.min(recorded.decided_at)));
        newest = Some(newest.map_or(recorded.decided_at, |at| at.max(recorded.decided_at)));

        let after_outcome = after.outcome();
        queues.entry(recorded.outcome.queue.clone()).or_default().0 += 1;
        queues.entry(after_outcome.queue.clone()).or_default().1 += 1;

        let (before_priority, after_priority) = (recorded.priority, after.priority.value);
        before_sum += u64::from(before_priority);
        after_sum += u64::from(after_priority);
        histogram_before[band(before_priority)] += 1;
        histogram_after[band(after_priority)] += 1;
        match after_priority.cmp(&before_priority) {
            std::cmp::Ordering::Greater => shift.raised += 1,
            std::cmp::Ordering::Less => shift.lowered += 1,
            std::cmp::Ordering::Equal => {}
        }

        let before_policy = recorded.outcome.sla.as_ref().map(|sla| sla.policy.clone()).unwrap_or_default();
        let after_policy = after.sla_policy().to_owned();
        if before_policy != after_policy {
            *sla_changes.entry((before_policy.clone(), after_policy.clone())).or_default() += 1;
        }
        match (recorded.actionable, after.actionable) {
            (true, false) => report.became_not_actionable += 1,
            (false, true) => report.became_actionable += 1,
            _ => {}
        }
        if before_priority != after_priority
            || recorded.outcome.queue != after_outcome.queue
            || before_policy != after_policy
            || recorded.actionable != after.actionable
            || recorded.outcome.tags != after_outcome.tags
        {
            report.changed += 1;
        }
        for rule in &after.evaluation.fired {
            *hits.entry(rule.clone()).or_default() += 1;
        }
        for (rule, _) in &after.evaluation.errors {
            *errors.entry(rule.clone()).or_default() += 1;
        }

        // Breaches: the same actual times against the deadlines as decided and as drafted. Work
        // that is not work has no deadline either way.
        let before_sla = recorded.outcome.sla.as_ref().filter(|_| recorded.actionable);
        let after_sla = after_outcome.sla.as_ref().filter(|_| after.actionable);
        let first_before =
            before_sla.and_then(|sla| breached(time(sla.first_response_due.as_ref()), recorded.first_response_at, now));
        let first_after =
            after_sla.and_then(|sla| breached(time(sla.first_response_due.as_ref()), recorded.first_response_at, now));
        if recorded.first_response_at.is_some() {
            breaches.first_response_measured += 1;
        }
        breaches.first_response_before += u32::from(first_before == Some(true));
        breaches.first_response_after += u32::from(first_after == Some(true));
        let resolution_before =
            before_sla.and_then(|sla| breached(time(sla.resolution_due.as_ref()), recorded.resolved_at, now));
        let resolution_after =
            after_sla.and_then(|sla| breached(time(sla.resolution_due.as_ref()), recorded.resolved_at, now));
        if recorded.resolved_at.is_some() || resolution_before.is_some() || resolution_after.is_some() {
            breaches.resolution_measured += 1;
        }
        breaches.resolution_before += u32::from(resolution_before == Some(true));
        breaches.resolution_after += u32::from(resolution_after == Some(true));
    }

    let mean = |sum: u64| if report.decisions == 0 { 0.0 } else { sum as f64 / f64::from(report.decisions) };
    shift.mean_before = mean(before_sum);
    shift.mean_after = mean(after_sum);
    shift.histogram_before = histogram_before;
    shift.histogram_after = histogram_after;
    report.priority = Some(shift);
    report.breaches = Some(breaches);
    report.queues =
        queues.into_iter().map(|(queue, (before, after))| v1::QueueVolume { queue, before, after }).collect();
    report.sla_changes =
        sla_changes.into_iter().map(|((from, to), count)| v1::SlaPolicyChange { from, to, count }).collect();
    report.rules = hits.into_iter().map(|(rule, count)| v1::RuleHits { rule, count }).collect();
    report.rule_errors = errors.into_iter().map(|(rule, count)| v1::RuleHits { rule, count }).collect();
    report.oldest = oldest.map(to_timestamp);
    report.newest = newest.map(to_timestamp);
    report
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use chrono::TimeDelta;

    use super::*;
    use crate::rules::RuleSet;
    use crate::sla::SlaPolicy;

    /// A week of decisions as the built-in rules made them: one an hour, every fourth a
    /// complaint about billing, every fifth from an enterprise customer; cases resolved after
    /// `n % 30` hours, the last day's still open.
    fn week(start: DateTime<Utc>) -> Vec<Recorded> {
        (0..7 * 24)
            .map(|n: i64| {
                let decided_at = start + TimeDelta::hours(n);
                let text = if n % 4 == 0 { "my bill is wrong" } else { "where is my parcel?" };
                let enterprise = n % 5 == 0;
                let input = v1::InteractionIdentified {
                    interaction: Some(v1::Interaction {
                        id: format!("i{n}"),
                        channel: v1::Channel::X.into(),
                        text: text.into(),
                        received_at: Some(to_timestamp(decided_at)),
                        ..v1::Interaction::default()
                    }),
                    status: if enterprise { v1::IdentityStatus::Linked } else { v1::IdentityStatus::Unknown }.into(),
                    customer_id: if enterprise { "c".into() } else { String::new() },
                    customer: enterprise.then(|| v1::CustomerSummary {
                        segment: "enterprise".into(),
                        ..v1::CustomerSummary::default()
                    }),
                    ..v1::InteractionIdentified::default()
                };
                let resolution_due = decided_at + TimeDelta::hours(48);
                Recorded {
                    decided_at,
                    priority: if enterprise { 40 } else { 30 },
                    actionable: true,
                    outcome: v1::RoutingOutcome {
                        queue: "default".into(),
                        sla: Some(v1::SlaDeadlines {
                            policy: "standard".into(),
                            resolution_due: Some(to_timestamp(resolution_due)),
                            ..v1::SlaDeadlines::default()
                        }),
                        ..v1::RoutingOutcome::default()
                    },
                    input: Some(input),
                    first_response_at: None,
                    resolved_at: (n < 6 * 24).then(|| decided_at + TimeDelta::hours(n % 30)),
                }
            })
            .collect()
    }

    #[test]
    fn a_week_replayed_reports_what_the_draft_changes() {
        let start = DateTime::parse_from_rfc3339("2026-11-02T00:00:00Z").unwrap().to_utc();
        let now = start + TimeDelta::days(7);
        let window = week(start);
        let spec = v1::RuleSet {
            rules: vec![v1::Rule {
                name: "billing".into(),
                layer: v1::RuleLayer::Business.into(),
                when: "interaction.text.contains('bill')".into(),
                then: Some(v1::RuleActions { queue: "billing".into(), ..v1::RuleActions::default() }),
                ..v1::Rule::default()
            }],
            description: String::new(),
        };
        let policy = |name: &str, segments: &[&str], hours: i64| SlaPolicy {
            name: name.into(),
            channels: Vec::new(),
            segments: segments.iter().map(|segment| (*segment).to_owned()).collect(),
            calendar: None,
            first_response: TimeDelta::hours(1),
            next_response: None,
            resolution: Some(TimeDelta::hours(hours)),
            warn_at_percent: 80,
        };
        // The draft also tightens resolution to 24 hours for enterprise customers.
        let draft = TenantRouting {
            generation: 0,
            rules: RuleSet::compile(9, &spec).unwrap(),
            policies: vec![policy("enterprise", &["enterprise"], 24), policy("standard", &[], 48)],
            calendars: HashMap::new(),
        };
        let report = simulate(&draft, &window, now);

        // What the test expects, counted from the generated week directly.
        let billing = window
            .iter()
            .filter(|r| r.input.as_ref().unwrap().interaction.as_ref().unwrap().text.contains("bill"))
            .count();
        let enterprise: Vec<&Recorded> =
            window.iter().filter(|r| r.input.as_ref().unwrap().status() == v1::IdentityStatus::Linked).collect();
        let late = |recorded: &Recorded, hours: i64| {
            let due = recorded.decided_at + TimeDelta::hours(hours);
            recorded.resolved_at.map_or(now > due, |done| done > due)
        };
        let before = window.iter().filter(|r| late(r, 48)).count();
        let after = window
            .iter()
            .filter(|r| late(r, if enterprise.iter().any(|e| e.decided_at == r.decided_at) { 24 } else { 48 }))
            .count();

        assert_eq!(report.decisions as usize, window.len());
        let volume = |queue: &str| {
            report.queues.iter().find(|v| v.queue == queue).map(|v| (v.before as usize, v.after as usize))
        };
        assert_eq!(volume("billing"), Some((0, billing)));
        assert_eq!(volume("default"), Some((window.len(), window.len() - billing)));
        assert_eq!(
            report.sla_changes,
            vec![v1::SlaPolicyChange {
                from: "standard".into(),
                to: "enterprise".into(),
                count: enterprise.len() as u32
            }]
        );
        let breaches = report.breaches.unwrap();
        assert_eq!((breaches.resolution_before as usize, breaches.resolution_after as usize), (before, after));
        assert!(after > before, "tightening the enterprise target predicts more breaches");
        assert_eq!(report.rules, vec![v1::RuleHits { rule: "billing".into(), count: billing as u32 }]);
        assert_eq!(report.oldest, Some(to_timestamp(start)));
        assert_eq!(report.newest, Some(to_timestamp(start + TimeDelta::hours(7 * 24 - 1))));
    }
}
