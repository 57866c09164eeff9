//! SLA policies: which one covers an interaction, and the deadlines it sets in business time.

use chrono::{DateTime, TimeDelta, Utc};
use tend_calendar::Calendar;

/// The longest a target may be.
pub const MAX_TARGET: TimeDelta = TimeDelta::days(365);
/// The warning point when a policy names none.
pub const DEFAULT_WARN_AT_PERCENT: u32 = 80;

/// An SLA policy, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaPolicy {
    /// Its name.
    pub name: String,
    /// The channels (`tend.v1.Channel` numbers) it covers; empty: all.
    pub channels: Vec<i32>,
    /// The segments it covers; empty: all.
    pub segments: Vec<String>,
    /// The calendar its targets count on; `None`: around the clock.
    pub calendar: Option<String>,
    /// First agent reply due after this much business time.
    pub first_response: TimeDelta,
    /// Each later customer message answered within this much.
    pub next_response: Option<TimeDelta>,
    /// Resolution due after this much.
    pub resolution: Option<TimeDelta>,
    /// The warning point, as a percentage of each target.
    pub warn_at_percent: u32,
}

/// The deadlines a policy sets for work that arrived at a given time.
#[derive(Debug, Clone, PartialEq)]
pub struct Deadlines {
    /// The policy's name.
    pub policy: String,
    /// The calendar's name; `None` for around the clock.
    pub calendar: Option<String>,
    /// First response due.
    pub first_response_due: Option<DateTime<Utc>>,
    /// Its warning point.
    pub first_response_warn: Option<DateTime<Utc>>,
    /// Resolution due.
    pub resolution_due: Option<DateTime<Utc>>,
    /// Its warning point.
    pub resolution_warn: Option<DateTime<Utc>>,
    /// The next-response target.
    pub next_response: Option<TimeDelta>,
    /// The warning point, percent.
    pub warn_at_percent: u32,
    /// The business hours they count on, for the cases service to pause and resume clocks;
    /// `None` for around the clock.
    pub hours: Option<tend_proto::v1::BusinessHours>,
}

impl SlaPolicy {
    /// How specific the policy is for work of `channel` and `segment`: `None` when it does not
    /// cover it, otherwise higher for a policy naming both, then the channel, then the segment.
    fn specificity(&self, channel: i32, segment: &str) -> Option<u8> {
        let channel_match =
            if self.channels.is_empty() { Some(0) } else { self.channels.contains(&channel).then_some(2) };
        let segment_match = if self.segments.is_empty() {
            Some(0)
        } else {
            self.segments.iter().any(|covered| covered == segment).then_some(1)
        };
        Some(channel_match? + segment_match?)
    }

    /// The policy with its targets at `percent` of what they are (a hot topic's overlay):
    /// first response, next response and resolution alike, never below a minute.
    pub fn tightened(&self, percent: u32) -> SlaPolicy {
        let scale = |target: TimeDelta| {
            let seconds = target.num_seconds().saturating_mul(i64::from(percent)) / 100;
            TimeDelta::seconds(seconds.max(60))
        };
        SlaPolicy {
            first_response: scale(self.first_response),
            next_response: self.next_response.map(scale),
            resolution: self.resolution.map(scale),
            ..self.clone()
        }
    }

    /// The deadlines for work that arrived at `start`, counted on `calendar`.
    pub fn deadlines(&self, calendar: &Calendar, start: DateTime<Utc>) -> Deadlines {
        let due = |target: TimeDelta| calendar.add(start, target);
        let warn =
            |target: TimeDelta| calendar.add(start, target * i32::try_from(self.warn_at_percent).unwrap_or(80) / 100);
        Deadlines {
            policy: self.name.clone(),
            calendar: self.calendar.clone(),
            first_response_due: due(self.first_response),
            first_response_warn: warn(self.first_response),
            resolution_due: self.resolution.and_then(due),
            resolution_warn: self.resolution.and_then(warn),
            next_response: self.next_response,
            warn_at_percent: self.warn_at_percent,
            hours: self.calendar.as_ref().map(|_| {
                let day = start.date_naive();
                let reach = (day - chrono::Days::new(1), day + chrono::Days::new(400));
                tend_calendar::contract::to_business_hours(calendar, reach.0, reach.1)
            }),
        }
    }
}

/// The policy for work of `channel` and `segment`: the one a rule named, when it exists, or the
/// most specific that covers it (ties to the first by name; `policies` are sorted by name).
pub fn choose<'a>(
    policies: &'a [SlaPolicy],
    named: Option<&str>,
    channel: i32,
    segment: &str,
) -> Option<&'a SlaPolicy> {
    if let Some(named) = named
        && let Some(policy) = policies.iter().find(|policy| policy.name == named)
    {
        return Some(policy);
    }
    let mut best: Option<(&SlaPolicy, u8)> = None;
    for policy in policies {
        if let Some(score) = policy.specificity(channel, segment)
            && best.is_none_or(|(_, best)| score > best)
        {
            best = Some((policy, score));
        }
    }
    best.map(|(policy, _)| policy)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn policy(name: &str, channels: &[i32], segments: &[&str]) -> SlaPolicy {
        SlaPolicy {
            name: name.into(),
            channels: channels.to_vec(),
            segments: segments.iter().map(|segment| (*segment).to_owned()).collect(),
            calendar: None,
            first_response: TimeDelta::hours(1),
            next_response: None,
            resolution: Some(TimeDelta::hours(24)),
            warn_at_percent: 75,
        }
    }

    #[test]
    fn the_most_specific_policy_covers_the_work() {
        let policies = vec![
            policy("any", &[], &[]),
            policy("enterprise", &[], &["enterprise"]),
            policy("x", &[1], &[]),
            policy("x-enterprise", &[1], &["enterprise"]),
        ];
        let name = |channel, segment| choose(&policies, None, channel, segment).map(|policy| policy.name.as_str());
        assert_eq!(name(1, "enterprise"), Some("x-enterprise"));
        assert_eq!(name(1, "consumer"), Some("x"));
        assert_eq!(name(4, "enterprise"), Some("enterprise"));
        assert_eq!(name(4, ""), Some("any"));
        assert_eq!(choose(&policies, Some("enterprise"), 1, "").map(|p| p.name.as_str()), Some("enterprise"));
        // A rule naming a policy that is gone falls back to the usual choice.
        assert_eq!(choose(&policies, Some("gone"), 1, "").map(|p| p.name.as_str()), Some("x"));
        assert_eq!(choose(&policies[1..2], None, 1, "consumer"), None);
    }

    #[test]
    fn deadlines_around_the_clock_with_warning_points() {
        let start = DateTime::parse_from_rfc3339("2026-12-04T16:30:00Z").unwrap().to_utc();
        let deadlines = policy("any", &[], &[]).deadlines(&Calendar::always(), start);
        assert_eq!(deadlines.first_response_due, Some(start + TimeDelta::hours(1)));
        assert_eq!(deadlines.first_response_warn, Some(start + TimeDelta::minutes(45)));
        assert_eq!(deadlines.resolution_due, Some(start + TimeDelta::hours(24)));
        assert_eq!(deadlines.resolution_warn, Some(start + TimeDelta::hours(18)));
    }
}
