//! Work items as the queue sees them: made from the cases of `cases.events`, and turned into
//! the board's items and the contract's messages. Pure functions.

use chrono::{DateTime, Utc};
use tend_kernel::ids::to_timestamp;
use tend_proto::v1;

use crate::board::{self, Requirements};
use crate::storage::work::{OFFERED, item};

/// The queue a case without a routing decision waits in.
pub const DEFAULT_QUEUE: &str = "default";

/// The projection row of `case` (no hold: that is the queue's, not the case's), changed at `now`.
pub fn item_of(tenant: &str, case: &v1::Case, now: DateTime<Utc>) -> item::Model {
    let routing = case.routing.as_ref();
    let queue = routing.map_or("", |routing| routing.queue.as_str());
    let mut skills: Vec<(String, u32)> = routing
        .map(|routing| routing.skills.iter().map(|skill| (skill.skill.clone(), skill.level.max(1))).collect())
        .unwrap_or_default();
    skills.sort();
    skills.dedup_by(|later, kept| later.0 == kept.0);
    item::Model {
        tenant: tenant.to_owned(),
        case_id: case.id.clone(),
        case_version: i64::try_from(case.version).unwrap_or(i64::MAX),
        status: case.status,
        assignee: case.assignee.clone(),
        queue: if queue.is_empty() { DEFAULT_QUEUE.to_owned() } else { queue.to_owned() },
        channel: case.channel,
        language: routing.map(|routing| routing.language.clone()).unwrap_or_default(),
        skills: skills_column(&skills),
        priority: i32::try_from(case.priority.min(100)).unwrap_or(100),
        due_at: first_response_due(case),
        waiting_since: crate::time_of(case.opened_at.as_ref()).unwrap_or(now),
        held_by: String::new(),
        hold: String::new(),
        offer_id: String::new(),
        held_at: None,
        hold_until: None,
        passed_by: ",".to_owned(),
        relaxed: 0,
        overflowed_to: String::new(),
        updated_at: now,
        topics: crate::trends::storage::topics_column(&case.topics),
    }
}

/// When the case's first response is due, while it is: its running first-response clock, or
/// the deadline routing chose for a case without clocks.
fn first_response_due(case: &v1::Case) -> Option<DateTime<Utc>> {
    let first = v1::SlaClockKind::FirstResponse as i32;
    if let Some(clock) = case.sla_clocks.iter().find(|clock| clock.kind == first) {
        return (clock.state == v1::SlaClockState::Running as i32)
            .then(|| crate::time_of(clock.due_at.as_ref()))
            .flatten();
    }
    let sla = case.routing.as_ref()?.sla.as_ref()?;
    crate::time_of(sla.first_response_due.as_ref())
}

/// Skills as the `skills` column keeps them.
fn skills_column(skills: &[(String, u32)]) -> String {
    skills.iter().map(|(skill, level)| format!("{skill}:{level}")).collect::<Vec<_>>().join(",")
}

/// The `skills` column read back; a part that does not parse is skipped.
pub fn skills_of(column: &str) -> Vec<(String, u32)> {
    column
        .split(',')
        .filter_map(|part| {
            let (skill, level) = part.split_once(':')?;
            Some((skill.to_owned(), level.parse().ok()?))
        })
        .collect()
}

/// The queue the row's case waits in now: where it overflowed to, else routing's choice.
pub fn queue_of(row: &item::Model) -> &str {
    if row.overflowed_to.is_empty() { &row.queue } else { &row.overflowed_to }
}

/// The skills the row's case requires now: routing's, relaxed as far as it waited for.
pub fn skills_now(row: &item::Model) -> Vec<(String, u32)> {
    match v1::Relaxation::try_from(row.relaxed).unwrap_or(v1::Relaxation::Unspecified) {
        v1::Relaxation::Unspecified => skills_of(&row.skills),
        v1::Relaxation::LevelsLowered => {
            skills_of(&row.skills).into_iter().map(|(skill, level)| (skill, level.saturating_sub(1).max(1))).collect()
        }
        v1::Relaxation::SkillsDropped => Vec::new(),
    }
}

/// What the row's case requires of the agent who takes it, now.
pub fn requirements(row: &item::Model) -> Requirements {
    Requirements {
        queue: queue_of(row).to_owned(),
        channel: row.channel,
        language: row.language.clone(),
        skills: skills_now(row),
    }
}

/// Whether the row's case waits for an agent now (nobody has it or holds it).
pub fn is_waiting(row: &item::Model) -> bool {
    row.assignee.is_empty() && row.held_by.is_empty() && crate::storage::work::WAITING_STATUSES.contains(&row.status)
}

/// The row as the board keeps it.
pub fn board_item(row: &item::Model) -> board::Item {
    board::Item {
        case_id: row.case_id.clone(),
        requirements: requirements(row),
        priority: u32::try_from(row.priority).unwrap_or(0),
        due_at: row.due_at.map(|at| at.timestamp_millis()),
        enqueued_at: row.waiting_since.timestamp_millis(),
        topics: row.topics.split(',').filter(|topic| !topic.is_empty()).map(str::to_owned).collect(),
    }
}

/// Whether `agent` declined the row's case or let an offer of it expire.
pub fn passed(row: &item::Model, agent: &str) -> bool {
    row.passed_by.split(',').any(|passed| passed == agent)
}

/// The row as a desk sees it.
pub fn work_item(row: &item::Model) -> v1::WorkItem {
    v1::WorkItem {
        case_id: row.case_id.clone(),
        queue: queue_of(row).to_owned(),
        channel: row.channel,
        language: row.language.clone(),
        skills: skills_now(row).into_iter().map(|(skill, level)| v1::SkillRequirement { skill, level }).collect(),
        priority: u32::try_from(row.priority).unwrap_or(0),
        first_response_due: row.due_at.map(to_timestamp),
        waiting_since: Some(to_timestamp(row.waiting_since)),
        relaxation: row.relaxed,
        overflowed_from: if row.overflowed_to.is_empty() { String::new() } else { row.queue.clone() },
    }
}

/// The offer of a held row, in `state`.
pub fn offer(row: &item::Model, state: v1::OfferState) -> v1::Offer {
    v1::Offer {
        id: row.offer_id.clone(),
        agent_id: row.held_by.clone(),
        item: Some(work_item(row)),
        state: state.into(),
        offered_at: row.held_at.map(to_timestamp),
        expires_at: row.hold_until.map(to_timestamp),
    }
}

/// Whether the row holds an open offer.
pub fn is_offered(row: &item::Model) -> bool {
    row.hold == OFFERED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skills_survive_the_column() {
        let skills = vec![("billing".to_owned(), 3), ("retention".to_owned(), 1)];
        assert_eq!(skills_of(&skills_column(&skills)), skills);
        assert!(skills_of("").is_empty());
    }

    #[test]
    fn a_case_waits_in_its_queue_with_its_requirements() {
        let case = v1::Case {
            id: "c1".into(),
            status: v1::CaseStatus::New.into(),
            channel: v1::Channel::X.into(),
            priority: 70,
            version: 3,
            routing: Some(v1::RoutingOutcome {
                queue: "retention".into(),
                language: "es".into(),
                skills: vec![
                    v1::SkillRequirement { skill: "retention".into(), level: 0 },
                    v1::SkillRequirement { skill: "billing".into(), level: 2 },
                ],
                ..Default::default()
            }),
            ..Default::default()
        };
        let row = item_of("t", &case, Utc::now());
        assert!(is_waiting(&row));
        assert_eq!(row.case_version, 3);
        let wanted = requirements(&row);
        assert_eq!(wanted.queue, "retention");
        assert_eq!(wanted.skills, vec![("billing".to_owned(), 2), ("retention".to_owned(), 1)]);
        let plain = item_of("t", &v1::Case { routing: None, ..case }, Utc::now());
        assert_eq!(plain.queue, DEFAULT_QUEUE);
    }
}
