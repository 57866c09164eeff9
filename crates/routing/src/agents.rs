//! Agents and teams as the contract gives them: checked, normalised, and turned into rows and
//! back. Pure functions; [`crate::queue_api`] reads and writes the rows.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use prost::Message as _;
use tend_kernel::ApiError;
use tend_kernel::ids::to_timestamp;
use tend_kernel::names::{check_name, truncated};
use tend_proto::v1;

use crate::storage::agents::{agent, list_column, team};

/// Most agents of a tenant.
pub const MAX_AGENTS: u64 = 20_000;
/// Most teams of a tenant.
pub const MAX_TEAMS: u64 = 1_000;
/// Longest display name and presence reason, in bytes.
const MAX_LABEL: usize = 200;
/// Most teams of an agent.
const MAX_AGENT_TEAMS: usize = 20;
/// Most skills of an agent.
const MAX_AGENT_SKILLS: usize = 50;
/// Most languages of an agent.
const MAX_AGENT_LANGUAGES: usize = 20;
/// Highest skill level.
pub const MAX_LEVEL: u32 = 5;
/// Most cases of one channel an agent takes at once.
const MAX_CAPACITY: u32 = 100;
/// Most queues of a team.
const MAX_TEAM_QUEUES: usize = 50;

/// A name field: INVALID_ARGUMENT naming `field` unless it is a valid name.
pub fn name(field: &str, value: &str) -> Result<String, ApiError> {
    check_name(value).map_err(|problem| ApiError::invalid(field, problem))?;
    Ok(value.to_owned())
}

/// A label field (display name, reason): at most 200 bytes, without control characters.
pub fn label(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.len() > MAX_LABEL {
        return Err(ApiError::invalid(field, format!("{} bytes; at most {MAX_LABEL}", value.len())));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid(field, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

/// Names, each checked, sorted, without repeats; at most `most`.
fn names(field: &str, values: &[String], most: usize) -> Result<Vec<String>, ApiError> {
    if values.len() > most {
        return Err(ApiError::invalid(field, format!("{} given; at most {most}", values.len())));
    }
    let mut checked = values.iter().map(|value| name(field, value)).collect::<Result<Vec<_>, _>>()?;
    checked.sort();
    checked.dedup();
    Ok(checked)
}

/// A language code as rules require one: ISO 639-1 ("es"), or 639-2/3 ("fil").
fn language(value: &str) -> Result<String, ApiError> {
    if !(2..=3).contains(&value.len()) || !value.bytes().all(|byte| byte.is_ascii_lowercase()) {
        return Err(ApiError::invalid(
            "agent.languages",
            format!("{:?} is not an ISO 639-1 code such as \"es\"", truncated(value)),
        ));
    }
    Ok(value.to_owned())
}

/// The agent definition `given` describes, checked and normalised (presence, version and times
/// cleared: the server keeps those). The teams and calendar it names are checked against the
/// tenant's by the caller.
pub fn checked_agent(given: v1::Agent) -> Result<v1::Agent, ApiError> {
    let id = name("agent.id", &given.id)?;
    let display_name = label("agent.display_name", &given.display_name)?;
    let teams = names("agent.teams", &given.teams, MAX_AGENT_TEAMS)?;
    if given.skills.len() > MAX_AGENT_SKILLS {
        return Err(ApiError::invalid(
            "agent.skills",
            format!("{} given; at most {MAX_AGENT_SKILLS}", given.skills.len()),
        ));
    }
    let mut skills = Vec::with_capacity(given.skills.len());
    let mut seen = HashSet::new();
    for skill in &given.skills {
        let skill_name = name("agent.skills", &skill.skill)?;
        if skill.level > MAX_LEVEL {
            return Err(ApiError::invalid(
                "agent.skills",
                format!("{skill_name}: level {} is above {MAX_LEVEL}", skill.level),
            ));
        }
        if !seen.insert(skill_name.clone()) {
            return Err(ApiError::invalid("agent.skills", format!("{skill_name} is listed twice")));
        }
        skills.push(v1::AgentSkill { skill: skill_name, level: skill.level.max(1) });
    }
    skills.sort_by(|a, b| a.skill.cmp(&b.skill));
    if given.languages.len() > MAX_AGENT_LANGUAGES {
        return Err(ApiError::invalid(
            "agent.languages",
            format!("{} given; at most {MAX_AGENT_LANGUAGES}", given.languages.len()),
        ));
    }
    let mut languages = given.languages.iter().map(|value| language(value)).collect::<Result<Vec<_>, _>>()?;
    languages.sort();
    languages.dedup();
    let mut capacity = Vec::with_capacity(given.capacity.len());
    let mut channels = HashSet::new();
    for entry in &given.capacity {
        let channel = match v1::Channel::try_from(entry.channel) {
            Ok(v1::Channel::Unspecified) | Err(_) => {
                return Err(ApiError::invalid(
                    "agent.capacity",
                    format!("{} is not a channel (x, facebook, instagram, email, chat, review)", entry.channel),
                ));
            }
            Ok(channel) => channel,
        };
        let channel_name = channel.as_str_name().trim_start_matches("CHANNEL_").to_lowercase();
        if !(1..=MAX_CAPACITY).contains(&entry.max) {
            return Err(ApiError::invalid(
                "agent.capacity",
                format!("{channel_name}: {} at once is outside 1..{MAX_CAPACITY}", entry.max),
            ));
        }
        if !channels.insert(entry.channel) {
            return Err(ApiError::invalid("agent.capacity", format!("{channel_name} is listed twice")));
        }
        capacity.push(v1::ChannelCapacity { channel: entry.channel, max: entry.max });
    }
    capacity.sort_by_key(|entry| entry.channel);
    let calendar = match given.calendar.as_str() {
        "" => String::new(),
        calendar => name("agent.calendar", calendar)?,
    };
    Ok(v1::Agent {
        id,
        display_name,
        teams,
        skills,
        languages,
        capacity,
        calendar,
        disabled: given.disabled,
        ..v1::Agent::default()
    })
}

/// The row of agent `definition` (from [`checked_agent`]), replacing `existing` if any: its
/// presence kept, its version bumped. A new agent starts offline.
pub fn agent_row(
    tenant: &str,
    definition: &v1::Agent,
    existing: Option<&agent::Model>,
    now: DateTime<Utc>,
) -> agent::Model {
    let offline = i32::from(v1::Presence::Offline);
    agent::Model {
        tenant: tenant.to_owned(),
        id: definition.id.clone(),
        body: definition.encode_to_vec(),
        teams: list_column(definition.teams.iter().map(String::as_str)),
        skills: list_column(definition.skills.iter().map(|skill| skill.skill.as_str())),
        presence: existing.map_or(offline, |row| row.presence),
        presence_since: existing.map_or(now, |row| row.presence_since),
        presence_reason: existing.map_or_else(String::new, |row| row.presence_reason.clone()),
        disabled: definition.disabled,
        version: existing.map_or(1, |row| row.version + 1),
        created_at: existing.map_or(now, |row| row.created_at),
        updated_at: now,
    }
}

/// A stored agent on the wire; an undecodable definition is a stored-data error.
pub fn agent_to_proto(row: agent::Model) -> Result<v1::Agent, ApiError> {
    let definition = v1::Agent::decode(row.body.as_slice()).map_err(ApiError::internal)?;
    Ok(v1::Agent {
        presence: row.presence,
        presence_since: Some(to_timestamp(row.presence_since)),
        presence_reason: row.presence_reason,
        disabled: row.disabled,
        version: u64::try_from(row.version).unwrap_or(0),
        created_at: Some(to_timestamp(row.created_at)),
        updated_at: Some(to_timestamp(row.updated_at)),
        ..definition
    })
}

/// The presence a SetPresence request asks for, and its reason, checked.
pub fn checked_presence(presence: i32, reason: &str) -> Result<(i32, String), ApiError> {
    match v1::Presence::try_from(presence) {
        Ok(v1::Presence::Unspecified) | Err(_) => Err(ApiError::invalid(
            "presence",
            format!("{presence} is not a presence: available, busy, away or offline"),
        )),
        Ok(_) => Ok((presence, label("reason", reason)?)),
    }
}

/// The team `given` describes, checked and normalised (times cleared).
pub fn checked_team(given: v1::Team) -> Result<v1::Team, ApiError> {
    Ok(v1::Team {
        id: name("team.id", &given.id)?,
        display_name: label("team.display_name", &given.display_name)?,
        queues: names("team.queues", &given.queues, MAX_TEAM_QUEUES)?,
        ..v1::Team::default()
    })
}

/// The row of team `definition`, replacing `existing` if any.
pub fn team_row(
    tenant: &str,
    definition: &v1::Team,
    existing: Option<&team::Model>,
    now: DateTime<Utc>,
) -> team::Model {
    team::Model {
        tenant: tenant.to_owned(),
        id: definition.id.clone(),
        body: definition.encode_to_vec(),
        created_at: existing.map_or(now, |row| row.created_at),
        updated_at: now,
    }
}

/// The queues an agent takes work from: those of their teams, sorted; an agent in no team
/// takes work from the default queue.
pub fn queues_of(definition: &v1::Agent, teams: &[team::Model]) -> Result<Vec<String>, crate::queue::QueueError> {
    if definition.teams.is_empty() {
        return Ok(vec![crate::work::DEFAULT_QUEUE.to_owned()]);
    }
    let mut queues = Vec::new();
    for team in teams.iter().filter(|team| definition.teams.contains(&team.id)) {
        let team = v1::Team::decode(team.body.as_slice())
            .map_err(|error| crate::queue::QueueError::Corrupt(format!("team {}: {error}", team.id)))?;
        queues.extend(team.queues);
    }
    queues.sort();
    queues.dedup();
    Ok(queues)
}

/// The definition of a stored agent, for the queue; one that does not decode is corrupt data.
pub fn definition_of(row: &agent::Model) -> Result<v1::Agent, crate::queue::QueueError> {
    v1::Agent::decode(row.body.as_slice())
        .map_err(|error| crate::queue::QueueError::Corrupt(format!("agent {}: {error}", row.id)))
}

/// An agent's languages and skills (levels at least 1) as the board matches them: sorted.
pub fn abilities(definition: &v1::Agent) -> (Vec<String>, Vec<(String, u32)>) {
    let mut languages = definition.languages.clone();
    languages.sort();
    let mut skills: Vec<(String, u32)> =
        definition.skills.iter().map(|skill| (skill.skill.clone(), skill.level.max(1))).collect();
    skills.sort();
    (languages, skills)
}

/// Longest wait a queue policy may name: 30 days.
const MAX_POLICY_WAIT: u32 = 30 * 24 * 3600;

/// The queue policy `given` describes, checked and normalised (time cleared).
pub fn checked_policy(given: v1::QueuePolicy) -> Result<v1::QueuePolicy, ApiError> {
    let queue = name("policy.queue", &given.queue)?;
    if v1::QueueStrategy::try_from(given.strategy).is_err() {
        return Err(ApiError::invalid("policy.strategy", format!("{} is not a QueueStrategy", given.strategy)));
    }
    for (field, seconds) in [
        ("policy.relax_after_seconds", given.relax_after_seconds),
        ("policy.drop_skills_after_seconds", given.drop_skills_after_seconds),
        ("policy.overflow_after_seconds", given.overflow_after_seconds),
    ] {
        if seconds > MAX_POLICY_WAIT {
            return Err(ApiError::invalid(field, format!("must be at most {MAX_POLICY_WAIT} (30 days)")));
        }
    }
    if given.relax_after_seconds > 0
        && given.drop_skills_after_seconds > 0
        && given.drop_skills_after_seconds <= given.relax_after_seconds
    {
        return Err(ApiError::invalid(
            "policy.drop_skills_after_seconds",
            "must be longer than relax_after_seconds: levels are lowered first, skills dropped later",
        ));
    }
    let overflow_to = match (given.overflow_after_seconds, given.overflow_to.trim()) {
        (0, "") => String::new(),
        (0, _) => {
            return Err(ApiError::invalid("policy.overflow_after_seconds", "is required with overflow_to"));
        }
        (_, "") => return Err(ApiError::invalid("policy.overflow_to", "is required with overflow_after_seconds")),
        (_, to) if to == queue => {
            return Err(ApiError::invalid("policy.overflow_to", "must be another queue than the policy's"));
        }
        (_, to) => name("policy.overflow_to", to)?,
    };
    Ok(v1::QueuePolicy { queue, overflow_to, updated_at: None, ..given })
}

/// A stored queue policy on the wire.
pub fn policy_to_proto(row: &crate::storage::policies::policy::Model) -> Result<v1::QueuePolicy, ApiError> {
    let policy = v1::QueuePolicy::decode(row.body.as_slice()).map_err(ApiError::internal)?;
    Ok(v1::QueuePolicy { updated_at: Some(to_timestamp(row.updated_at)), ..policy })
}

/// A stored team on the wire.
pub fn team_to_proto(row: team::Model) -> Result<v1::Team, ApiError> {
    let definition = v1::Team::decode(row.body.as_slice()).map_err(ApiError::internal)?;
    Ok(v1::Team {
        created_at: Some(to_timestamp(row.created_at)),
        updated_at: Some(to_timestamp(row.updated_at)),
        ..definition
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ana() -> v1::Agent {
        v1::Agent {
            id: "ana".into(),
            display_name: " Ana López ".into(),
            teams: vec!["tier1".into(), "spanish".into(), "tier1".into()],
            skills: vec![
                v1::AgentSkill { skill: "retention".into(), level: 4 },
                v1::AgentSkill { skill: "billing".into(), level: 0 },
            ],
            languages: vec!["es".into(), "en".into()],
            capacity: vec![
                v1::ChannelCapacity { channel: v1::Channel::Chat.into(), max: 3 },
                v1::ChannelCapacity { channel: v1::Channel::X.into(), max: 8 },
            ],
            presence: v1::Presence::Available.into(),
            version: 9,
            ..v1::Agent::default()
        }
    }

    #[test]
    fn an_agent_is_normalised_and_what_the_server_keeps_is_dropped() {
        let agent = checked_agent(ana()).unwrap();
        assert_eq!(agent.display_name, "Ana López");
        assert_eq!(agent.teams, ["spanish", "tier1"]);
        let skills: Vec<(&str, u32)> = agent.skills.iter().map(|skill| (skill.skill.as_str(), skill.level)).collect();
        assert_eq!(skills, [("billing", 1), ("retention", 4)]);
        assert_eq!(agent.languages, ["en", "es"]);
        assert_eq!(agent.capacity[0].channel, i32::from(v1::Channel::X));
        assert_eq!((agent.presence, agent.version), (0, 0));
    }

    /// A change that spoils one field of an agent.
    type Spoil = Box<dyn Fn(&mut v1::Agent)>;

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(&str, Spoil)> = vec![
            ("agent.id", Box::new(|agent| agent.id = "Ana Lopez".into())),
            ("agent.id", Box::new(|agent| agent.id = String::new())),
            ("agent.display_name", Box::new(|agent| agent.display_name = "x".repeat(201))),
            ("agent.teams", Box::new(|agent| agent.teams = vec!["Tier 1".into()])),
            ("agent.teams", Box::new(|agent| agent.teams = (0..21).map(|n| format!("t{n}")).collect())),
            ("agent.skills", Box::new(|agent| agent.skills[0].level = 6)),
            ("agent.skills", Box::new(|agent| agent.skills[1].skill = "retention".into())),
            ("agent.languages", Box::new(|agent| agent.languages = vec!["Spanish".into()])),
            ("agent.capacity", Box::new(|agent| agent.capacity[0].channel = 0)),
            ("agent.capacity", Box::new(|agent| agent.capacity[0].channel = 99)),
            ("agent.capacity", Box::new(|agent| agent.capacity[0].max = 0)),
            ("agent.capacity", Box::new(|agent| agent.capacity[0].max = 101)),
            ("agent.capacity", Box::new(|agent| agent.capacity[1].channel = v1::Channel::Chat.into())),
            ("agent.calendar", Box::new(|agent| agent.calendar = "UK hours".into())),
        ];
        for (field, spoil) in cases {
            let mut agent = ana();
            spoil(&mut agent);
            let error = checked_agent(agent).unwrap_err().to_string();
            assert!(error.contains(&format!("`{field}`")), "{field}: {error}");
        }
    }

    #[test]
    fn a_stored_agent_keeps_presence_and_counts_versions() {
        let now = Utc::now();
        let definition = checked_agent(ana()).unwrap();
        let first = agent_row("acme", &definition, None, now);
        assert_eq!((first.presence, first.version), (i32::from(v1::Presence::Offline), 1));
        assert_eq!(first.teams, ",spanish,tier1,");
        let away = agent::Model { presence: v1::Presence::Away.into(), ..first.clone() };
        let later = now + chrono::Duration::minutes(5);
        let second = agent_row("acme", &definition, Some(&away), later);
        assert_eq!((second.presence, second.version, second.created_at), (away.presence, 2, now));
        let wire = agent_to_proto(second).unwrap();
        assert_eq!(wire.presence(), v1::Presence::Away);
        assert_eq!(wire.skills, definition.skills);
    }

    #[test]
    fn presence_and_teams_are_checked() {
        assert!(checked_presence(0, "").is_err());
        assert!(checked_presence(9, "").is_err());
        assert_eq!(checked_presence(v1::Presence::Away.into(), " lunch ").unwrap().1, "lunch");
        let team =
            v1::Team { id: "tier1".into(), queues: vec!["retention".into(), "default".into()], ..Default::default() };
        assert_eq!(checked_team(team).unwrap().queues, ["default", "retention"]);
        let bad = v1::Team { id: "tier1".into(), queues: vec!["Default Queue".into()], ..Default::default() };
        assert!(checked_team(bad).unwrap_err().to_string().contains("`team.queues`"));
    }
}
