//! `tend agents …` and `tend teams …`: the people of the universal queue (docs/QUEUE.md).

use anyhow::{Context as _, bail};
use clap::ValueEnum as _;
use tend_proto::v1;

use crate::cli::{AgentsCommand, ChannelArg, TeamsCommand};
use crate::commands::{channel_name, connect, failed, or_dash, print_next, time};

/// Runs one `tend agents` command.
pub async fn agents(command: AgentsCommand) -> anyhow::Result<()> {
    match command {
        AgentsCommand::Put(args) => {
            let client = connect(&args.connection).await?;
            let agent = v1::Agent {
                id: args.id,
                display_name: args.display_name,
                teams: args.teams,
                skills: args.skills.iter().map(|skill| parse_skill(skill)).collect::<Result<_, _>>()?,
                languages: args.languages,
                capacity: args.capacity.iter().map(|entry| parse_capacity(entry)).collect::<Result<_, _>>()?,
                calendar: args.calendar,
                disabled: args.disabled,
                ..Default::default()
            };
            let request = v1::UpsertAgentRequest { agent: Some(agent) };
            let saved = client.queue().upsert_agent(request).await.map_err(failed)?.into_inner();
            println!("agent {} saved (version {})", saved.id, saved.version);
            print_agent(&saved);
        }
        AgentsCommand::Get(args) => {
            let client = connect(&args.connection).await?;
            let agent = client.queue().get_agent(v1::GetAgentRequest { id: args.id }).await.map_err(failed)?;
            print_agent(&agent.into_inner());
        }
        AgentsCommand::List(args) => {
            let client = connect(&args.list.connection).await?;
            let request = v1::ListAgentsRequest {
                team: args.team,
                skill: args.skill,
                presence: args.presence.map_or(v1::Presence::Unspecified, v1::Presence::from).into(),
                page_size: args.list.limit,
                page_token: args.list.page_token,
            };
            let page = client.queue().list_agents(request).await.map_err(failed)?.into_inner();
            for agent in &page.agents {
                println!(
                    "{:<20} {:<9} {:<24} skills {}  capacity {}",
                    agent.id,
                    presence_name(agent.presence),
                    agent.display_name,
                    or_dash(&skills_text(&agent.skills)),
                    or_dash(&capacity_text(&agent.capacity)),
                );
            }
            if page.agents.is_empty() {
                println!("no such agents: `tend agents put ana --skill billing:3 --language en --capacity chat=3`");
            }
            print_next(&page.next_page_token);
        }
        AgentsCommand::Presence(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::SetPresenceRequest {
                agent_id: args.id,
                presence: v1::Presence::from(args.presence).into(),
                reason: args.reason,
            };
            let agent = client.queue().set_presence(request).await.map_err(failed)?.into_inner();
            println!("{} is {} since {}", agent.id, presence_name(agent.presence), time(agent.presence_since.as_ref()));
        }
        AgentsCommand::Import(args) => {
            let client = connect(&args.connection).await?;
            let agents = read_csv(&args.file)?;
            let mut saved = 0;
            for (line, agent) in agents {
                let id = agent.id.clone();
                let request = v1::UpsertAgentRequest { agent: Some(agent) };
                client.queue().upsert_agent(request).await.map_err(failed).with_context(|| {
                    format!("{} line {line} (agent {id}); the lines before it were saved", args.file.display())
                })?;
                saved += 1;
            }
            println!("{saved} agents saved from {}", args.file.display());
        }
    }
    Ok(())
}

/// Runs one `tend teams` command.
pub async fn teams(command: TeamsCommand) -> anyhow::Result<()> {
    match command {
        TeamsCommand::Put(args) => {
            let client = connect(&args.connection).await?;
            let team =
                v1::Team { id: args.id, display_name: args.display_name, queues: args.queues, ..Default::default() };
            let saved = client.queue().upsert_team(v1::UpsertTeamRequest { team: Some(team) }).await.map_err(failed)?;
            let saved = saved.into_inner();
            println!("team {} saved", saved.id);
            print_team(&saved);
        }
        TeamsCommand::List(connection) => {
            let client = connect(&connection).await?;
            let teams = client.queue().list_teams(v1::ListTeamsRequest {}).await.map_err(failed)?.into_inner().teams;
            teams.iter().for_each(print_team);
            if teams.is_empty() {
                println!("no teams yet: `tend teams put tier1 --queue default`");
            }
        }
    }
    Ok(())
}

/// `billing:3` (or `billing`, level 1) as a skill.
fn parse_skill(text: &str) -> anyhow::Result<v1::AgentSkill> {
    let (skill, level) = match text.split_once(':') {
        Some((skill, level)) => {
            let level = level.trim().parse().with_context(|| format!("skill {text:?}: the level is a number 1-5"))?;
            (skill, level)
        }
        None => (text, 1),
    };
    Ok(v1::AgentSkill { skill: skill.trim().to_owned(), level })
}

/// `chat=3` as a channel capacity.
fn parse_capacity(text: &str) -> anyhow::Result<v1::ChannelCapacity> {
    let Some((channel, max)) = text.split_once('=') else {
        bail!("capacity {text:?}: write CHANNEL=COUNT, e.g. chat=3");
    };
    let channel = ChannelArg::from_str(channel.trim(), true).map_err(|_| {
        anyhow::anyhow!("capacity {text:?}: {channel:?} is not a channel (x, facebook, instagram, email, chat, review)")
    })?;
    let max = max.trim().parse().with_context(|| format!("capacity {text:?}: the count is a number"))?;
    Ok(v1::ChannelCapacity { channel: v1::Channel::from(channel).into(), max })
}

/// The agents of a CSV file with their line numbers.
fn read_csv(path: &std::path::Path) -> anyhow::Result<Vec<(u64, v1::Agent)>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let headers = reader.headers().with_context(|| format!("reading the header of {}", path.display()))?.clone();
    let column = |name: &str| headers.iter().position(|header| header.eq_ignore_ascii_case(name));
    let Some(id_column) = column("id") else {
        bail!("{}: no `id` column (header: id,display_name,teams,skills,languages,capacity,calendar)", path.display());
    };
    let known = ["id", "display_name", "teams", "skills", "languages", "capacity", "calendar"];
    if let Some(unknown) = headers.iter().find(|header| !known.iter().any(|name| header.eq_ignore_ascii_case(name))) {
        bail!("{}: unknown column {unknown:?} (known: {})", path.display(), known.join(","));
    }
    let mut agents = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("reading {}", path.display()))?;
        let line = record.position().map_or(0, csv::Position::line);
        let field = |name: &str| column(name).and_then(|at| record.get(at)).unwrap_or("");
        let list = |name: &str| -> Vec<String> {
            field(name).split(';').map(str::trim).filter(|item| !item.is_empty()).map(str::to_owned).collect()
        };
        let at = |what: &str| format!("{} line {line}: {what}", path.display());
        let agent = v1::Agent {
            id: record.get(id_column).unwrap_or("").to_owned(),
            display_name: field("display_name").to_owned(),
            teams: list("teams"),
            skills: list("skills")
                .iter()
                .map(|skill| parse_skill(skill))
                .collect::<Result<_, _>>()
                .with_context(|| at("skills"))?,
            languages: list("languages"),
            capacity: list("capacity")
                .iter()
                .map(|entry| parse_capacity(entry))
                .collect::<Result<_, _>>()
                .with_context(|| at("capacity"))?,
            calendar: field("calendar").to_owned(),
            ..Default::default()
        };
        agents.push((line, agent));
    }
    Ok(agents)
}

fn presence_name(presence: i32) -> String {
    match v1::Presence::try_from(presence) {
        Ok(v1::Presence::Unspecified) | Err(_) => "-".to_owned(),
        Ok(presence) => presence.as_str_name().trim_start_matches("PRESENCE_").to_lowercase(),
    }
}

fn skills_text(skills: &[v1::AgentSkill]) -> String {
    skills.iter().map(|skill| format!("{}:{}", skill.skill, skill.level)).collect::<Vec<_>>().join(" ")
}

fn capacity_text(capacity: &[v1::ChannelCapacity]) -> String {
    capacity.iter().map(|entry| format!("{}={}", channel_name(entry.channel), entry.max)).collect::<Vec<_>>().join(" ")
}

fn print_agent(agent: &v1::Agent) {
    println!("agent:       {}", agent.id);
    println!("name:        {}", or_dash(&agent.display_name));
    println!("presence:    {} since {}", presence_name(agent.presence), time(agent.presence_since.as_ref()));
    if !agent.presence_reason.is_empty() {
        println!("because:     {}", agent.presence_reason);
    }
    println!("teams:       {}", or_dash(&agent.teams.join(" ")));
    println!("skills:      {}", or_dash(&skills_text(&agent.skills)));
    println!("languages:   {}", or_dash(&agent.languages.join(" ")));
    println!("capacity:    {}", or_dash(&capacity_text(&agent.capacity)));
    println!("hours:       {}", if agent.calendar.is_empty() { "whenever present" } else { &agent.calendar });
    if agent.disabled {
        println!("disabled:    takes no work");
    }
    println!("version:     {}", agent.version);
}

fn print_team(team: &v1::Team) {
    println!("{:<16} {:<24} queues {}", team.id, or_dash(&team.display_name), or_dash(&team.queues.join(" ")));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn skills_and_capacities_read_as_typed() {
        let skill = parse_skill("billing:3").unwrap();
        assert_eq!((skill.skill.as_str(), skill.level), ("billing", 3));
        assert_eq!(parse_skill("retention").unwrap().level, 1);
        assert!(parse_skill("billing:high").is_err());
        let capacity = parse_capacity("Chat=3").unwrap();
        assert_eq!((capacity.channel, capacity.max), (i32::from(v1::Channel::Chat), 3));
        assert!(parse_capacity("chat").is_err());
        assert!(parse_capacity("fax=2").is_err());
    }

    #[test]
    fn a_csv_file_reads_as_agents_with_their_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agents.csv");
        std::fs::write(
            &path,
            "id,display_name,teams,skills,languages,capacity,calendar\n\
             ana,Ana López,tier1;spanish,billing:3;retention,es;en,chat=3;x=8,uk-hours\n\
             ben,Ben,,,en,email=10,\n",
        )
        .unwrap();
        let agents = read_csv(&path).unwrap();
        assert_eq!(agents.len(), 2);
        let (line, ana) = &agents[0];
        assert_eq!(*line, 2);
        assert_eq!(ana.teams, ["tier1", "spanish"]);
        assert_eq!(ana.skills.len(), 2);
        assert_eq!(ana.capacity.len(), 2);
        assert_eq!(ana.calendar, "uk-hours");
        assert!(agents[1].1.teams.is_empty());

        std::fs::write(&path, "id,name\nana,Ana\n").unwrap();
        assert!(read_csv(&path).unwrap_err().to_string().contains("unknown column \"name\""));
        std::fs::write(&path, "id,capacity\nana,chat:3\n").unwrap();
        assert!(format!("{:#}", read_csv(&path).unwrap_err()).contains("line 2: capacity"));
    }
}
