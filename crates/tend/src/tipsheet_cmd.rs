//! `tend tipsheet` (the desk's quick reference, from live configuration, as Markdown) and
//! `tend tipsheet standards` (the mission statement and quality standards it opens with):
//! docs/ROUTING.md, "The tip sheet".

use std::fmt::Write as _;

use clap::{Args, Subcommand};
use tend_proto::v1;

use crate::cli::Connection;
use crate::commands::{connect, failed, time};

/// `tend tipsheet`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TipsheetArgs {
    #[command(subcommand)]
    pub command: Option<TipsheetCommand>,
    #[command(flatten)]
    pub connection: Connection,
}

/// `tend tipsheet …`.
#[derive(Debug, Subcommand)]
pub enum TipsheetCommand {
    /// Save the mission statement and quality standards the sheet opens with (needs an admin
    /// key); replaces what was saved.
    Standards(StandardsArgs),
}

/// `tend tipsheet standards`.
#[derive(Debug, Args)]
pub struct StandardsArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The mission statement.
    #[arg(long, default_value = "")]
    pub mission: String,
    /// A quality standard; repeat for each, in the order to show them.
    #[arg(long = "standard")]
    pub standards: Vec<String>,
}

/// Runs `tend tipsheet`.
pub async fn tipsheet(args: TipsheetArgs) -> anyhow::Result<()> {
    match args.command {
        None => {
            let client = connect(&args.connection).await?;
            let sheet = client.routing().get_tip_sheet(v1::GetTipSheetRequest {}).await.map_err(failed)?.into_inner();
            print!("{}", markdown(&sheet));
        }
        Some(TipsheetCommand::Standards(args)) => {
            let client = connect(&args.connection).await?;
            let standards =
                v1::CareStandards { mission: args.mission, quality_standards: args.standards, updated_at: None };
            let request = v1::PutCareStandardsRequest { standards: Some(standards) };
            let saved = client.routing().put_care_standards(request).await.map_err(failed)?.into_inner();
            println!("care standards saved: a mission and {} quality standards", saved.quality_standards.len());
        }
    }
    Ok(())
}

/// The sheet as Markdown, section by section; an empty section says how to fill it.
pub fn markdown(sheet: &v1::TipSheet) -> String {
    let mut out = format!("# Tip sheet\n\nAs of {}.\n", time(sheet.generated_at.as_ref()));
    for missing in &sheet.unavailable {
        let _ = writeln!(out, "\n> Not shown: {missing}");
    }
    out.push_str("\n## Mission\n\n");
    match &sheet.standards {
        Some(standards) if !standards.mission.is_empty() => {
            let _ = writeln!(out, "{}", standards.mission);
        }
        _ => out.push_str("(none yet: `tend tipsheet standards --mission TEXT --standard TEXT…`)\n"),
    }
    out.push_str("\n## Quality standards\n\n");
    let standards = sheet.standards.as_ref().map_or(&[][..], |standards| standards.quality_standards.as_slice());
    if standards.is_empty() {
        out.push_str("(none yet)\n");
    }
    for standard in standards {
        let _ = writeln!(out, "- {standard}");
    }
    let rules = match sheet.rule_set_version {
        0 => "built-in rules".to_owned(),
        version => format!("rule set version {version}"),
    };
    let _ = writeln!(out, "\n## Priorities ({rules})\n");
    for rule in &sheet.rules {
        let layer = match v1::RuleLayer::try_from(rule.layer).unwrap_or(v1::RuleLayer::Unspecified) {
            v1::RuleLayer::Segment => "segment",
            v1::RuleLayer::Business => "business",
            v1::RuleLayer::Service => "service",
            v1::RuleLayer::Unspecified => "-",
        };
        let why = if rule.description.is_empty() { String::new() } else { format!(": {}", rule.description) };
        let _ = writeln!(out, "- **{}** ({layer}){why}  \n  {}", rule.name, rule.summary);
    }
    out.push_str("\n## Channels\n\n");
    if sheet.accounts.is_empty() {
        out.push_str("(no monitored accounts: `tend channels add …`)\n");
    }
    for account in &sheet.accounts {
        let name = if account.display_name.is_empty() { &account.account } else { &account.display_name };
        let state = if account.enabled { "" } else { " (disabled)" };
        let hours = account.hours.as_ref().map_or_else(|| "around the clock".to_owned(), hours);
        let _ = writeln!(out, "- {} — {name}{state}: {hours}", channel(account.channel));
    }
    out.push_str("\n## SLAs\n\n");
    if sheet.sla_policies.is_empty() {
        out.push_str("(no SLA policies: `tend sla put FILE`)\n");
    }
    for policy in &sheet.sla_policies {
        let channels = if policy.channels.is_empty() {
            "every channel".to_owned()
        } else {
            policy.channels.iter().map(|&value| channel(value)).collect::<Vec<_>>().join(", ")
        };
        let segments = if policy.segments.is_empty() { "every segment".to_owned() } else { policy.segments.join(", ") };
        let mut targets = vec![format!("first response {}", duration(policy.first_response.as_ref()))];
        if policy.next_response.is_some() {
            targets.push(format!("next response {}", duration(policy.next_response.as_ref())));
        }
        if policy.resolution.is_some() {
            targets.push(format!("resolution {}", duration(policy.resolution.as_ref())));
        }
        let calendar = match policy.calendar.as_str() {
            "" => "around the clock".to_owned(),
            "account" => "on the account's hours".to_owned(),
            name => format!("on calendar {name}"),
        };
        let _ = writeln!(out, "- **{}** ({channels}; {segments}): {}, {calendar}", policy.name, targets.join(", "));
    }
    if sheet.hot_topic_sla_percent > 0 && sheet.hot_topic_sla_percent < 100 {
        let _ = writeln!(out, "\nWhile a topic is hot, its targets are {}% of these.", sheet.hot_topic_sla_percent);
    }
    if !sheet.calendars.is_empty() {
        out.push_str("\n### Calendars\n\n");
        for calendar in &sheet.calendars {
            let _ = writeln!(out, "- **{}**: {}", calendar.name, hours(calendar));
        }
    }
    out.push_str("\n## Escalation thresholds\n\n");
    if sheet.thresholds.is_empty() {
        out.push_str("(none: `tend thresholds put …`)\n");
    }
    for threshold in &sheet.thresholds {
        let watched = if threshold.cluster_size > 0 {
            format!("a cluster of {} similar posts", threshold.cluster_size)
        } else {
            let topic = if threshold.topic.is_empty() { "any one topic" } else { threshold.topic.as_str() };
            format!("{} posts on {topic} within {} min", threshold.posts, threshold.window_seconds / 60)
        };
        let department =
            if threshold.department.is_empty() { String::new() } else { format!(" → {}", threshold.department) };
        let _ = writeln!(out, "- **{}**: {watched}{department}", threshold.name);
    }
    out.push_str("\n## Departments\n\n");
    if sheet.departments.is_empty() {
        out.push_str("(none: `tend departments put …`)\n");
    }
    for department in &sheet.departments {
        let name = if department.display_name.is_empty() { &department.name } else { &department.display_name };
        let contact = if department.contact.is_empty() { "no contact given" } else { department.contact.as_str() };
        let within =
            duration(Some(&prost_types::Duration { seconds: i64::from(department.answer_within_seconds), nanos: 0 }));
        let _ = writeln!(out, "- **{name}** ({}): {contact}; answers within {within}", department.name);
    }
    out.push_str("\n## Hot topics now\n\n");
    if sheet.hot_topics.is_empty() {
        out.push_str("(none)\n");
    }
    for topic in &sheet.hot_topics {
        let _ = writeln!(out, "- **{}**: {}", topic.topic, topic.reason);
    }
    out
}

/// A channel's name in lower case ("x", "email").
fn channel(value: i32) -> String {
    let channel = v1::Channel::try_from(value).unwrap_or(v1::Channel::Unspecified);
    channel.as_str_name().trim_start_matches("CHANNEL_").to_lowercase()
}

/// A duration in words ("2h", "30m"); "-" when unset.
fn duration(value: Option<&prost_types::Duration>) -> String {
    value
        .and_then(|value| std::time::Duration::try_from(*value).ok())
        .map_or_else(|| "-".to_owned(), |value| humantime::format_duration(value).to_string())
}

/// A calendar's week in words: "mon 09:00–17:00, … (Europe/London)"; holidays are not listed.
fn hours(calendar: &v1::Calendar) -> String {
    if calendar.periods.is_empty() {
        return format!("closed ({})", calendar.time_zone);
    }
    let periods: Vec<String> =
        calendar.periods.iter().map(|period| format!("{} {}–{}", period.weekday, period.start, period.end)).collect();
    let holidays = match calendar.holidays.len() {
        0 => String::new(),
        count => format!(", {count} holidays"),
    };
    format!("{} ({}{holidays})", periods.join(", "), calendar.time_zone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sheet_reads_as_markdown() {
        let sheet = v1::TipSheet {
            standards: Some(v1::CareStandards {
                mission: "Help every customer the first time.".into(),
                quality_standards: vec!["Answer in their language".into()],
                updated_at: None,
            }),
            rule_set_version: 0,
            rules: vec![v1::TipSheetRule {
                name: "churn".into(),
                layer: v1::RuleLayer::Business.into(),
                description: "keep them".into(),
                summary: "when x → department retention".into(),
            }],
            accounts: vec![v1::MonitoredAccount {
                account: "01A".into(),
                channel: v1::Channel::X.into(),
                display_name: "Acme Support".into(),
                enabled: true,
                hours: Some(v1::Calendar {
                    name: "account.01A".into(),
                    time_zone: "Europe/London".into(),
                    periods: vec![v1::WorkingPeriod {
                        weekday: "mon".into(),
                        start: "09:00".into(),
                        end: "17:00".into(),
                    }],
                    holidays: Vec::new(),
                    updated_at: None,
                }),
            }],
            sla_policies: vec![v1::SlaPolicy {
                name: "x-1h".into(),
                channels: vec![v1::Channel::X.into()],
                first_response: Some(prost_types::Duration { seconds: 3600, nanos: 0 }),
                ..v1::SlaPolicy::default()
            }],
            hot_topic_sla_percent: 50,
            unavailable: vec!["departments: the cases service did not answer".into()],
            ..v1::TipSheet::default()
        };
        let text = markdown(&sheet);
        for expected in [
            "Help every customer the first time.",
            "- Answer in their language",
            "## Priorities (built-in rules)",
            "- **churn** (business): keep them",
            "- x — Acme Support: mon 09:00–17:00 (Europe/London)",
            "- **x-1h** (x; every segment): first response 1h, around the clock",
            "targets are 50% of these",
            "> Not shown: departments: the cases service did not answer",
        ] {
            assert!(text.contains(expected), "{expected:?} not in\n{text}");
        }
    }
}
