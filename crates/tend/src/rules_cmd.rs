//! `tend rules …`, `tend sla …` and `tend calendars …`: the tenant's routing configuration,
//! written by people as YAML, TOML or JSON files, checked, saved, shown back and tried out.
//!
//! Each file format has a mirror of the proto types here, with `deny_unknown_fields` so a
//! mistyped key is an error naming the key, the file, and (YAML, TOML, JSON) its line and
//! column. The mirrors convert to and from the protos; a rule set shown back parses to the same
//! proto it was printed from.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use chrono::{DateTime, Utc};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use tend_proto::v1;

use crate::cli::{self, CalendarsCommand, FormatArg, RulesCommand, SlaCommand};
use crate::commands::{connect, failed, print_next, time_in};

/// The largest iCalendar file the server takes.
const MAX_ICAL_BYTES: usize = 1024 * 1024;

/// Runs one `tend rules` command.
pub async fn rules(command: RulesCommand) -> anyhow::Result<()> {
    match command {
        RulesCommand::Validate(args) => validate_rules(args).await,
        RulesCommand::Put(args) => put_rules(args).await,
        RulesCommand::Activate(args) => activate_rules(args).await,
        RulesCommand::Show(args) => show_rules(args).await,
        RulesCommand::List(args) => list_rules(args).await,
        RulesCommand::Simulate(args) => simulate_rules(args).await,
    }
}

/// Runs one `tend sla` command.
pub async fn sla(command: SlaCommand) -> anyhow::Result<()> {
    match command {
        SlaCommand::Put(args) => put_sla(args).await,
        SlaCommand::List(connection) => list_sla(connection).await,
    }
}

/// Runs one `tend calendars` command.
pub async fn calendars(command: CalendarsCommand) -> anyhow::Result<()> {
    match command {
        CalendarsCommand::Put(args) => put_calendar(args).await,
        CalendarsCommand::Import(args) => import_calendar(args).await,
        CalendarsCommand::List(connection) => list_calendars(connection).await,
    }
}

// ---------------------------------------------------------------------------------------------
// File formats.

/// The format of a file, told by its extension.
fn format_of(path: &Path) -> anyhow::Result<FormatArg> {
    let extension = path.extension().and_then(|extension| extension.to_str()).map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("yaml" | "yml") => Ok(FormatArg::Yaml),
        Some("toml") => Ok(FormatArg::Toml),
        Some("json") => Ok(FormatArg::Json),
        Some(other) => {
            bail!("{}: cannot read a .{other} file; name it .yaml, .yml, .toml or .json", path.display())
        }
        None => bail!("{}: no extension to tell the format by; name it .yaml, .yml, .toml or .json", path.display()),
    }
}

/// Parses `text` written in `format`; an error says where (line and column) and what is wrong.
fn parse<T: DeserializeOwned>(format: FormatArg, text: &str) -> anyhow::Result<T> {
    match format {
        FormatArg::Yaml => serde_yaml_ng::from_str(text).map_err(|error| anyhow!("{error}")),
        FormatArg::Toml => toml::from_str(text).map_err(|error| anyhow!("{}", error.to_string().trim_end())),
        FormatArg::Json => serde_json::from_str(text).map_err(|error| anyhow!("{error}")),
    }
}

/// Reads and parses a file in the format of its extension; errors name the file.
pub(crate) fn read_file<T: DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let format = format_of(path)?;
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(format, &text).with_context(|| path.display().to_string())
}

// ---------------------------------------------------------------------------------------------
// Rule sets.

/// A rule-set file.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    /// What this version changes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The rules, layer by layer, in order within a layer.
    #[serde(default)]
    pub rules: Vec<RuleFile>,
}

/// One rule of a file.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// Unique within the set.
    pub name: String,
    /// Its layer.
    pub layer: LayerFile,
    /// What the rule is for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The condition, a CEL expression.
    pub when: String,
    /// What happens when it holds.
    #[serde(default, skip_serializing_if = "ThenFile::is_empty")]
    pub then: ThenFile,
    /// When it fires, the later rules of its layer are not evaluated.
    #[serde(default, skip_serializing_if = "is_false")]
    pub stop: bool,
}

/// The layers, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerFile {
    /// Who the customer is.
    Segment,
    /// What the business wants.
    Business,
    /// What was promised.
    Service,
}

/// A rule's actions, as written.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThenFile {
    /// Points added to the priority (`priority_adjustment`), -50 to 50.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i32,
    /// Why (`priority_reason`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The department.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub department: String,
    /// Skills required: a bare name means level 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<SkillFile>,
    /// The queue.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub queue: String,
    /// The language the agent must speak.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub language: String,
    /// The SLA policy, by name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sla_policy: String,
    /// Tags to add.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Set to mark the interaction (not) actionable; absent: enrichment's reading stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actionable: Option<bool>,
}

impl ThenFile {
    /// Whether no action is set (then the key is left out when printing).
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A required skill: a bare name (level 1), or a name and a level.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a skill name, or {skill: NAME, level: 1 to 5}")]
pub enum SkillFile {
    /// Level 1.
    Name(String),
    /// A name with a level.
    Level(SkillLevelFile),
}

/// A skill with its level.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillLevelFile {
    /// The skill.
    pub skill: String,
    /// 1 (novice) to 5 (expert).
    pub level: u32,
}

/// For `skip_serializing_if`.
fn is_false(value: &bool) -> bool {
    !*value
}

/// For `skip_serializing_if`.
fn is_zero(value: &i32) -> bool {
    *value == 0
}

impl RulesFile {
    /// The rule set to send.
    pub fn into_proto(self) -> v1::RuleSet {
        let rules = self
            .rules
            .into_iter()
            .map(|rule| {
                let layer = match rule.layer {
                    LayerFile::Segment => v1::RuleLayer::Segment,
                    LayerFile::Business => v1::RuleLayer::Business,
                    LayerFile::Service => v1::RuleLayer::Service,
                };
                let then = rule.then;
                let skills = then
                    .skills
                    .into_iter()
                    .map(|skill| match skill {
                        SkillFile::Name(skill) => v1::SkillRequirement { skill, level: 1 },
                        SkillFile::Level(SkillLevelFile { skill, level }) => v1::SkillRequirement { skill, level },
                    })
                    .collect();
                v1::Rule {
                    name: rule.name,
                    layer: layer.into(),
                    when: rule.when,
                    then: Some(v1::RuleActions {
                        priority_adjustment: then.priority,
                        priority_reason: then.reason,
                        queue: then.queue,
                        skills,
                        language: then.language,
                        sla_policy: then.sla_policy,
                        tags: then.tags,
                        actionable: then.actionable,
                        department: then.department,
                    }),
                    stop: rule.stop,
                    description: rule.description,
                }
            })
            .collect();
        v1::RuleSet { rules, description: self.description }
    }

    /// The file that says `rule_set`.
    pub fn from_proto(rule_set: &v1::RuleSet) -> anyhow::Result<Self> {
        let mut rules = Vec::with_capacity(rule_set.rules.len());
        for rule in &rule_set.rules {
            let layer = match v1::RuleLayer::try_from(rule.layer) {
                Ok(v1::RuleLayer::Segment) => LayerFile::Segment,
                Ok(v1::RuleLayer::Business) => LayerFile::Business,
                Ok(v1::RuleLayer::Service) => LayerFile::Service,
                Ok(v1::RuleLayer::Unspecified) | Err(_) => bail!("rule {} has no layer", rule.name),
            };
            let actions = rule.then.clone().unwrap_or_default();
            let skills = actions
                .skills
                .into_iter()
                .map(|required| {
                    if required.level <= 1 {
                        SkillFile::Name(required.skill)
                    } else {
                        SkillFile::Level(SkillLevelFile { skill: required.skill, level: required.level })
                    }
                })
                .collect();
            rules.push(RuleFile {
                name: rule.name.clone(),
                layer,
                description: rule.description.clone(),
                when: rule.when.clone(),
                then: ThenFile {
                    priority: actions.priority_adjustment,
                    reason: actions.priority_reason,
                    department: actions.department,
                    skills,
                    queue: actions.queue,
                    language: actions.language,
                    sla_policy: actions.sla_policy,
                    tags: actions.tags,
                    actionable: actions.actionable,
                },
                stop: rule.stop,
            });
        }
        Ok(Self { description: rule_set.description.clone(), rules })
    }

    /// The file's text in `format`.
    pub fn print(&self, format: FormatArg) -> anyhow::Result<String> {
        match format {
            FormatArg::Yaml => serde_yaml_ng::to_string(self).context("cannot write the rule set as YAML"),
            FormatArg::Toml => toml::to_string(self).context("cannot write the rule set as TOML"),
            FormatArg::Json => {
                serde_json::to_string_pretty(self).map(|json| json + "\n").context("cannot write the rule set as JSON")
            }
        }
    }
}

/// Reads a rule-set file.
fn read_rules(path: &Path) -> anyhow::Result<v1::RuleSet> {
    read_file::<RulesFile>(path).map(RulesFile::into_proto)
}

/// One problem, as `rule NAME, FIELD [line L, column C]: MESSAGE`.
pub fn describe_problem(problem: &v1::RuleProblem) -> String {
    let mut out = format!("rule {}", problem.rule);
    if !problem.field.is_empty() {
        let _ = write!(out, ", {}", problem.field);
    }
    if problem.line > 0 {
        let _ = write!(out, " [line {}, column {}]", problem.line, problem.column);
    }
    let _ = write!(out, ": {}", problem.message);
    out
}

/// "1 rule", "3 rules".
fn count(number: usize, singular: &str, plural: &str) -> String {
    format!("{number} {}", if number == 1 { singular } else { plural })
}

/// `tend rules validate`: the problems of a file, or how many rules it has.
async fn validate_rules(args: cli::FileArgs) -> anyhow::Result<()> {
    let rule_set = read_rules(&args.file)?;
    let rules = rule_set.rules.len();
    let client = connect(&args.connection).await?;
    let request = v1::ValidateRuleSetRequest { rule_set: Some(rule_set) };
    let response = client.routing().validate_rule_set(request).await.map_err(failed)?.into_inner();
    if response.problems.is_empty() {
        println!("valid: {}", count(rules, "rule", "rules"));
        return Ok(());
    }
    for problem in &response.problems {
        println!("{}", describe_problem(problem));
    }
    bail!("{}", count(response.problems.len(), "problem", "problems"))
}

/// `tend rules put`: a file saved as the next draft version.
async fn put_rules(args: cli::FileArgs) -> anyhow::Result<()> {
    let rule_set = read_rules(&args.file)?;
    let client = connect(&args.connection).await?;
    let request = v1::PutRuleSetRequest { rule_set: Some(rule_set) };
    let saved = client.routing().put_rule_set(request).await.map_err(failed)?.into_inner();
    println!("saved version {} (draft); activate with: tend rules activate {}", saved.version, saved.version);
    Ok(())
}

/// `tend rules activate`.
async fn activate_rules(args: cli::RulesActivateArgs) -> anyhow::Result<()> {
    let client = connect(&args.connection).await?;
    let request = v1::ActivateRuleSetRequest { version: args.version };
    let activated = client.routing().activate_rule_set(request).await.map_err(failed)?.into_inner();
    println!(
        "version {} is active since {}",
        activated.version,
        time_in(activated.activated_at.as_ref(), &chrono::Local)
    );
    Ok(())
}

/// "draft", "active", "retired".
fn state_name(state: i32) -> &'static str {
    match v1::RuleSetState::try_from(state) {
        Ok(v1::RuleSetState::Draft) => "draft",
        Ok(v1::RuleSetState::Active) => "active",
        Ok(v1::RuleSetState::Retired) => "retired",
        _ => "?",
    }
}

/// The lines above a shown rule set: version, state and times.
fn describe_version<Tz>(version: &v1::RuleSetVersion, zone: &Tz) -> Vec<String>
where
    Tz: chrono::TimeZone,
    Tz::Offset: std::fmt::Display,
{
    let mut lines = vec![
        format!("version {} ({})", version.version, state_name(version.state)),
        format!("saved {}", time_in(version.created_at.as_ref(), zone)),
    ];
    if version.activated_at.is_some() {
        lines.push(format!("last activated {}", time_in(version.activated_at.as_ref(), zone)));
    }
    lines
}

/// `tend rules show`: a version, written back in a file format.
async fn show_rules(args: cli::RulesShowArgs) -> anyhow::Result<()> {
    let client = connect(&args.connection).await?;
    let asked = args.version.unwrap_or(0);
    let request = v1::GetRuleSetRequest { version: asked };
    let version = match client.routing().get_rule_set(request).await {
        Ok(response) => response.into_inner(),
        Err(status) if status.code() == tonic::Code::NotFound && asked == 0 => {
            eprintln!("no rule set is active: the built-in default rules apply (see docs/ROUTING.md)");
            return Ok(());
        }
        Err(status) => return Err(failed(status)),
    };
    let file = RulesFile::from_proto(&version.rule_set.clone().unwrap_or_default())?;
    let header = describe_version(&version, &chrono::Local);
    // The header is a comment where the format has comments, so the output can be put back as
    // it is; JSON has none, so there it goes to stderr.
    if args.format == FormatArg::Json {
        for line in &header {
            eprintln!("{line}");
        }
    } else {
        for line in &header {
            println!("# {line}");
        }
    }
    print!("{}", file.print(args.format)?);
    Ok(())
}

/// One line of `tend rules list`.
fn describe_version_line<Tz>(version: &v1::RuleSetVersion, zone: &Tz) -> String
where
    Tz: chrono::TimeZone,
    Tz::Offset: std::fmt::Display,
{
    let rule_set = version.rule_set.clone().unwrap_or_default();
    let activated = if version.activated_at.is_some() {
        format!("activated {}", time_in(version.activated_at.as_ref(), zone))
    } else {
        "never activated".to_owned()
    };
    format!(
        "{:>4}  {:<7}  saved {}  {activated:<35}  {:>9}  {}",
        version.version,
        state_name(version.state),
        time_in(version.created_at.as_ref(), zone),
        count(rule_set.rules.len(), "rule", "rules"),
        rule_set.description
    )
    .trim_end()
    .to_owned()
}

/// `tend rules list`.
async fn list_rules(args: cli::ListArgs) -> anyhow::Result<()> {
    let client = connect(&args.connection).await?;
    let request = v1::ListRuleSetVersionsRequest { page_size: args.limit, page_token: args.page_token };
    let page = client.routing().list_rule_set_versions(request).await.map_err(failed)?.into_inner();
    if page.versions.is_empty() && page.next_page_token.is_empty() {
        println!("no rule sets saved: the built-in default rules apply; save one with `tend rules put FILE`");
    }
    for version in &page.versions {
        println!("{}", describe_version_line(version, &chrono::Local));
    }
    print_next(&page.next_page_token);
    Ok(())
}

/// A time given as an RFC 3339 timestamp, or as a duration before `now` ("7d", "36h",
/// "90m ago").
pub fn parse_instant(text: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let span_text = text.strip_suffix("ago").map_or(text, |span| span.trim_end_matches(['-', ' ']));
    let span = humantime::parse_duration(span_text).map_err(|error| {
        anyhow!(
            "{text:?} is neither an RFC 3339 time (2026-11-01T00:00:00Z) nor a duration such as 7d or 36h ({error})"
        )
    })?;
    chrono::Duration::from_std(span)
        .ok()
        .and_then(|span| now.checked_sub_signed(span))
        .with_context(|| format!("{text:?} is too long ago"))
}

/// `tend rules simulate`: a file or a saved version replayed over a window of decisions.
async fn simulate_rules(args: cli::SimulateArgs) -> anyhow::Result<()> {
    let now = Utc::now();
    let since = parse_instant(&args.since, now).context("--since")?;
    let until = args.until.as_deref().map(|until| parse_instant(until, now)).transpose().context("--until")?;
    if until.is_some_and(|until| until <= since) {
        bail!("--until must be later than --since");
    }
    let draft = match (&args.file, args.version) {
        (Some(path), _) => v1::simulate_rule_set_request::Draft::RuleSet(read_rules(path)?),
        (None, Some(version)) => v1::simulate_rule_set_request::Draft::Version(version),
        (None, None) => bail!("give a rule-set file or --version"),
    };
    let client = connect(&args.connection).await?;
    let request = v1::SimulateRuleSetRequest {
        draft: Some(draft),
        since: Some(tend_kernel::ids::to_timestamp(since)),
        until: until.map(tend_kernel::ids::to_timestamp),
        limit: args.limit,
    };
    let report = client.routing().simulate_rule_set(request).await.map_err(failed)?.into_inner();
    print!("{}", describe_simulation(&report, &chrono::Local));
    Ok(())
}

/// The name of a queue or policy, "(none)" when empty.
fn or_none(name: &str) -> &str {
    if name.is_empty() { "(none)" } else { name }
}

/// The label of priority band `index`: "0–9" … "80–89", "90–100".
fn band_label(index: usize) -> String {
    let low = index * 10;
    if index == 9 { "90–100".to_owned() } else { format!("{low}–{}", low + 9) }
}

/// A bar `count / max` of `width` characters, padded to the width.
fn bar(count: u32, max: u32, width: usize) -> String {
    let length = if max == 0 { 0 } else { (u64::from(count) * width as u64).div_ceil(u64::from(max)) };
    let length = usize::try_from(length).unwrap_or(width).min(width);
    format!("{:<width$}", "█".repeat(length))
}

/// A simulation report as a person reads it.
pub fn describe_simulation<Tz>(report: &v1::SimulationReport, zone: &Tz) -> String
where
    Tz: chrono::TimeZone,
    Tz::Offset: std::fmt::Display,
{
    let mut out = String::new();
    if report.decisions == 0 {
        out.push_str("replayed 0 decisions: routing decided nothing in that window\n");
        return out;
    }
    let share = f64::from(report.changed) * 100.0 / f64::from(report.decisions);
    let _ = writeln!(
        out,
        "replayed {} ({} to {}); {} would change ({share:.1}%)",
        count(report.decisions as usize, "decision", "decisions"),
        time_in(report.oldest.as_ref(), zone),
        time_in(report.newest.as_ref(), zone),
        report.changed,
    );

    let width = report.queues.iter().map(|queue| or_none(&queue.queue).chars().count()).max().unwrap_or(5).max(5);
    let _ = writeln!(out, "\n{:<width$}  {:>8}  {:>8}  {:>8}", "queue", "before", "after", "change");
    for queue in &report.queues {
        let change = i64::from(queue.after) - i64::from(queue.before);
        let change = if change == 0 { "0".to_owned() } else { format!("{change:+}") };
        let _ =
            writeln!(out, "{:<width$}  {:>8}  {:>8}  {change:>8}", or_none(&queue.queue), queue.before, queue.after);
    }

    let priority = report.priority.clone().unwrap_or_default();
    let _ = writeln!(
        out,
        "\npriority mean {:.1} → {:.1} ({:+.1}); raised {}, lowered {}",
        priority.mean_before,
        priority.mean_after,
        priority.mean_after - priority.mean_before,
        priority.raised,
        priority.lowered
    );
    let bands = priority.histogram_before.len().max(priority.histogram_after.len());
    if bands > 0 {
        const BAR: usize = 24;
        let max = priority.histogram_before.iter().chain(&priority.histogram_after).copied().max().unwrap_or(0);
        let _ = writeln!(out, "  {:<7} {:>7} {:BAR$}  {:>7}", "band", "before", "", "after");
        for index in 0..bands {
            let before = priority.histogram_before.get(index).copied().unwrap_or(0);
            let after = priority.histogram_after.get(index).copied().unwrap_or(0);
            let line = format!(
                "  {:<7} {before:>7} {}  {after:>7} {}",
                band_label(index),
                bar(before, max, BAR),
                bar(after, max, BAR)
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }

    if report.sla_changes.is_empty() {
        out.push_str("\nSLA policy changes: none\n");
    } else {
        out.push_str("\nSLA policy changes\n");
        for change in &report.sla_changes {
            let _ = writeln!(out, "  {} → {}: {}", or_none(&change.from), or_none(&change.to), change.count);
        }
    }

    let _ = writeln!(out, "\nbecame not actionable: {} (no case would open)", report.became_not_actionable);
    let _ = writeln!(out, "became actionable:     {}", report.became_actionable);

    let breaches = report.breaches.unwrap_or_default();
    let _ = writeln!(out, "\npredicted breaches  {:>8}  {:>8}  {:>8}", "before", "after", "measured");
    let _ = writeln!(
        out,
        "  first response    {:>8}  {:>8}  {:>8}",
        breaches.first_response_before, breaches.first_response_after, breaches.first_response_measured
    );
    let _ = writeln!(
        out,
        "  resolution        {:>8}  {:>8}  {:>8}",
        breaches.resolution_before, breaches.resolution_after, breaches.resolution_measured
    );

    for (title, hits) in [("rule hits", &report.rules), ("rule errors", &report.rule_errors)] {
        if hits.is_empty() {
            let _ = writeln!(out, "\n{title}: none");
            continue;
        }
        let _ = writeln!(out, "\n{title}");
        let width = hits.iter().map(|hit| hit.rule.chars().count()).max().unwrap_or(0);
        for hit in hits {
            let _ = writeln!(out, "  {:<width$}  {:>8}", hit.rule, hit.count);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// SLA policies.

/// An SLA policy, as written.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicyFile {
    /// Unique per tenant.
    pub name: String,
    /// The channels it covers; empty: every channel.
    #[serde(default)]
    pub channels: Vec<ChannelFile>,
    /// The segments it covers; empty: every segment.
    #[serde(default)]
    pub segments: Vec<String>,
    /// The calendar its targets count on; empty: around the clock.
    #[serde(default)]
    pub calendar: String,
    /// The first reply is due this long after arrival.
    #[serde(with = "humantime_serde")]
    pub first_response: Duration,
    /// Each later message is to be answered within this long.
    #[serde(default, with = "humantime_serde")]
    pub next_response: Option<Duration>,
    /// The case is to be resolved this long after it opens.
    #[serde(default, with = "humantime_serde")]
    pub resolution: Option<Duration>,
    /// The near-breach warning, as a percentage of each target.
    #[serde(default)]
    pub warn_at_percent: u32,
}

/// A file of several policies.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlaPoliciesFile {
    /// The policies.
    policies: Vec<SlaPolicyFile>,
}

/// Whether a file has a `policies` key (a list) or is one policy.
#[derive(Debug, Deserialize)]
struct SlaProbe {
    /// Present in a file of several policies.
    #[serde(default)]
    policies: Option<IgnoredAny>,
}

/// Channels, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelFile {
    /// X (Twitter).
    X,
    /// Facebook.
    Facebook,
    /// Instagram.
    Instagram,
    /// Email.
    Email,
    /// Chat.
    Chat,
    /// Reviews.
    Review,
}

impl From<ChannelFile> for v1::Channel {
    fn from(channel: ChannelFile) -> Self {
        match channel {
            ChannelFile::X => Self::X,
            ChannelFile::Facebook => Self::Facebook,
            ChannelFile::Instagram => Self::Instagram,
            ChannelFile::Email => Self::Email,
            ChannelFile::Chat => Self::Chat,
            ChannelFile::Review => Self::Review,
        }
    }
}

/// A duration for the wire.
fn proto_duration(duration: Duration) -> anyhow::Result<prost_types::Duration> {
    prost_types::Duration::try_from(duration)
        .map_err(|_| anyhow!("{} is too long", humantime::format_duration(duration)))
}

/// A duration from the wire, written as humantime does ("1h 30m", "3days").
fn format_proto_duration(duration: Option<&prost_types::Duration>) -> Option<String> {
    let duration = Duration::try_from(*duration?).ok()?;
    Some(humantime::format_duration(duration).to_string())
}

impl SlaPolicyFile {
    /// The policy to send.
    pub fn into_proto(self) -> anyhow::Result<v1::SlaPolicy> {
        let name = self.name;
        let optional = |duration: Option<Duration>, field: &str| {
            duration.map(proto_duration).transpose().with_context(|| format!("policy {name}, {field}"))
        };
        Ok(v1::SlaPolicy {
            channels: self.channels.into_iter().map(|channel| v1::Channel::from(channel).into()).collect(),
            segments: self.segments,
            calendar: self.calendar,
            first_response: optional(Some(self.first_response), "first_response")?,
            next_response: optional(self.next_response, "next_response")?,
            resolution: optional(self.resolution, "resolution")?,
            warn_at_percent: self.warn_at_percent,
            updated_at: None,
            name,
        })
    }
}

/// The policies of a file: one policy, or a list under `policies`.
fn parse_sla(format: FormatArg, text: &str) -> anyhow::Result<Vec<v1::SlaPolicy>> {
    let several = parse::<SlaProbe>(format, text).is_ok_and(|probe| probe.policies.is_some());
    let policies = if several { parse::<SlaPoliciesFile>(format, text)?.policies } else { vec![parse(format, text)?] };
    policies.into_iter().map(SlaPolicyFile::into_proto).collect()
}

/// `tend sla put`: each policy of a file, saved in order.
async fn put_sla(args: cli::FileArgs) -> anyhow::Result<()> {
    let format = format_of(&args.file)?;
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let policies = parse_sla(format, &text).with_context(|| args.file.display().to_string())?;
    let client = connect(&args.connection).await?;
    let total = policies.len();
    for policy in policies {
        let name = policy.name.clone();
        let request = v1::PutSlaPolicyRequest { policy: Some(policy) };
        let saved = client
            .routing()
            .put_sla_policy(request)
            .await
            .map_err(failed)
            .with_context(|| format!("policy {name}"))?
            .into_inner();
        println!("saved SLA policy {}", saved.name);
    }
    if total > 1 {
        println!("{} saved", count(total, "policy", "policies"));
    }
    Ok(())
}

/// One policy as `tend sla list` prints it.
pub fn describe_sla_policy(policy: &v1::SlaPolicy) -> String {
    let channels = if policy.channels.is_empty() {
        "every channel".to_owned()
    } else {
        policy.channels.iter().map(|&channel| crate::commands::channel_name(channel)).collect::<Vec<_>>().join(", ")
    };
    let segments = if policy.segments.is_empty() { "every segment".to_owned() } else { policy.segments.join(", ") };
    let calendar = if policy.calendar.is_empty() { "around the clock" } else { policy.calendar.as_str() };
    let mut targets = vec![format!(
        "first response {}",
        format_proto_duration(policy.first_response.as_ref()).unwrap_or_else(|| "-".to_owned())
    )];
    if let Some(next) = format_proto_duration(policy.next_response.as_ref()) {
        targets.push(format!("next response {next}"));
    }
    if let Some(resolution) = format_proto_duration(policy.resolution.as_ref()) {
        targets.push(format!("resolution {resolution}"));
    }
    let warn = if policy.warn_at_percent == 0 { 80 } else { policy.warn_at_percent };
    let mut out = String::new();
    let _ = writeln!(out, "{}", policy.name);
    let _ = writeln!(out, "  covers    {channels}; {segments}");
    let _ = writeln!(out, "  calendar  {calendar}");
    let _ = writeln!(out, "  targets   {}; warn at {warn}%", targets.join(", "));
    out
}

/// `tend sla list`.
async fn list_sla(connection: cli::Connection) -> anyhow::Result<()> {
    let client = connect(&connection).await?;
    let listed = client.routing().list_sla_policies(v1::ListSlaPoliciesRequest {}).await.map_err(failed)?.into_inner();
    if listed.policies.is_empty() {
        println!("no SLA policies: `tend sla put FILE` (see docs/examples/sla.yaml)");
    }
    for policy in &listed.policies {
        print!("{}", describe_sla_policy(policy));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Calendars.

/// A calendar, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarFile {
    /// Unique per tenant.
    pub name: String,
    /// An IANA time zone.
    pub time_zone: String,
    /// The working periods of each weekday; a day left out is closed.
    #[serde(default)]
    pub hours: HoursFile,
    /// Days closed all day.
    #[serde(default)]
    pub holidays: Vec<HolidayFile>,
}

/// The week's working periods, as `"09:00-17:30"` per day.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoursFile {
    /// Monday.
    #[serde(default)]
    pub mon: Vec<PeriodText>,
    /// Tuesday.
    #[serde(default)]
    pub tue: Vec<PeriodText>,
    /// Wednesday.
    #[serde(default)]
    pub wed: Vec<PeriodText>,
    /// Thursday.
    #[serde(default)]
    pub thu: Vec<PeriodText>,
    /// Friday.
    #[serde(default)]
    pub fri: Vec<PeriodText>,
    /// Saturday.
    #[serde(default)]
    pub sat: Vec<PeriodText>,
    /// Sunday.
    #[serde(default)]
    pub sun: Vec<PeriodText>,
}

/// A working period, written `"HH:MM-HH:MM"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct PeriodText {
    /// Local start, "HH:MM".
    pub start: String,
    /// Local end, "HH:MM" ("24:00" for the end of the day).
    pub end: String,
}

/// Whether `text` is a time of day "HH:MM" (00:00 to 24:00).
fn is_clock(text: &str) -> bool {
    let Some((hours, minutes)) = text.split_once(':') else { return false };
    let digits = |part: &str| part.len() == 2 && part.bytes().all(|byte| byte.is_ascii_digit());
    if !digits(hours) || !digits(minutes) {
        return false;
    }
    match (hours.parse::<u32>(), minutes.parse::<u32>()) {
        (Ok(24), Ok(0)) => true,
        (Ok(hours), Ok(minutes)) => hours < 24 && minutes < 60,
        _ => false,
    }
}

impl TryFrom<String> for PeriodText {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let wrong = || format!("{text:?} is not a period like \"09:00-17:30\"");
        let (start, end) = text.split_once('-').ok_or_else(wrong)?;
        let (start, end) = (start.trim(), end.trim());
        if !is_clock(start) || !is_clock(end) {
            return Err(wrong());
        }
        Ok(Self { start: start.to_owned(), end: end.to_owned() })
    }
}

/// A holiday, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolidayFile {
    /// The local date.
    pub date: DateText,
    /// Its name.
    #[serde(default)]
    pub name: String,
}

/// A date "YYYY-MM-DD", written as a string or as a TOML date.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "DateInput")]
pub struct DateText(pub String);

/// What a date may be written as.
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a date such as 2026-12-25")]
enum DateInput {
    /// "2026-12-25" (YAML and JSON, or a quoted TOML string).
    Text(String),
    /// 2026-12-25 in TOML.
    Toml(toml::value::Datetime),
}

impl TryFrom<DateInput> for DateText {
    type Error = String;

    fn try_from(input: DateInput) -> Result<Self, Self::Error> {
        let text = match input {
            DateInput::Text(text) => text,
            DateInput::Toml(toml::value::Datetime { date: Some(date), time: None, offset: None }) => date.to_string(),
            DateInput::Toml(other) => return Err(format!("{other} is not a date such as 2026-12-25 (no time)")),
        };
        chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .map(|date| Self(date.format("%Y-%m-%d").to_string()))
            .map_err(|_| format!("{text:?} is not a date such as 2026-12-25"))
    }
}

impl CalendarFile {
    /// The calendar to send.
    pub fn into_proto(self) -> v1::Calendar {
        let hours = self.hours;
        let days = [
            ("mon", hours.mon),
            ("tue", hours.tue),
            ("wed", hours.wed),
            ("thu", hours.thu),
            ("fri", hours.fri),
            ("sat", hours.sat),
            ("sun", hours.sun),
        ];
        let periods = days
            .into_iter()
            .flat_map(|(weekday, periods)| {
                periods.into_iter().map(move |period| v1::WorkingPeriod {
                    weekday: weekday.to_owned(),
                    start: period.start,
                    end: period.end,
                })
            })
            .collect();
        let holidays =
            self.holidays.into_iter().map(|holiday| v1::Holiday { date: holiday.date.0, name: holiday.name }).collect();
        v1::Calendar { name: self.name, time_zone: self.time_zone, periods, holidays, updated_at: None }
    }
}

/// Reads an iCalendar file, checking it looks like one and is not too large to send.
fn read_ical(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    check_ical(&text).with_context(|| path.display().to_string())?;
    Ok(text)
}

/// Checks that `text` is an iCalendar file the server would take; answers its events.
fn check_ical(text: &str) -> anyhow::Result<usize> {
    if text.len() > MAX_ICAL_BYTES {
        bail!("{} bytes is larger than the 1 MiB an iCalendar file may be", text.len());
    }
    if !text.trim_start().starts_with("BEGIN:VCALENDAR") {
        bail!("not an iCalendar file (it does not begin with BEGIN:VCALENDAR)");
    }
    Ok(text.lines().filter(|line| line.trim_end() == "BEGIN:VEVENT").count())
}

/// `tend calendars put`: a calendar file, with the holidays of `--ical`.
async fn put_calendar(args: cli::CalendarPutArgs) -> anyhow::Result<()> {
    let calendar = read_file::<CalendarFile>(&args.file)?.into_proto();
    let ical = args.ical.as_deref().map(read_ical).transpose()?.unwrap_or_default();
    let client = connect(&args.connection).await?;
    let request = v1::PutCalendarRequest { calendar: Some(calendar), ical, ical_years: args.years.unwrap_or(0) };
    let saved = client.routing().put_calendar(request).await.map_err(failed)?.into_inner();
    println!(
        "saved calendar {} ({}): {} a week, {}",
        saved.name,
        saved.time_zone,
        count(saved.periods.len(), "working period", "working periods"),
        count(saved.holidays.len(), "holiday", "holidays")
    );
    Ok(())
}

/// `tend calendars import`: an existing calendar put back with the holidays of an iCalendar file.
async fn import_calendar(args: cli::CalendarImportArgs) -> anyhow::Result<()> {
    let ical = read_ical(&args.ical)?;
    let client = connect(&args.connection).await?;
    let listed = client.routing().list_calendars(v1::ListCalendarsRequest {}).await.map_err(failed)?.into_inner();
    let Some(mut calendar) = listed.calendars.into_iter().find(|calendar| calendar.name == args.name) else {
        bail!(
            "there is no calendar {:?}; create it first with `tend calendars put FILE` (see \
             docs/examples/calendar.yaml)",
            args.name
        );
    };
    let before = calendar.holidays.len();
    calendar.updated_at = None;
    let request = v1::PutCalendarRequest { calendar: Some(calendar), ical, ical_years: args.years.unwrap_or(0) };
    let saved = client.routing().put_calendar(request).await.map_err(failed)?.into_inner();
    println!("calendar {}: {} (was {before})", saved.name, count(saved.holidays.len(), "holiday", "holidays"));
    Ok(())
}

/// The week's hours, compactly: "mon-fri 09:00-17:30, sat 10:00-14:00"; days with the same
/// hours in a row are joined.
pub fn describe_hours(periods: &[v1::WorkingPeriod]) -> String {
    const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let days: Vec<String> = WEEKDAYS
        .iter()
        .map(|weekday| {
            periods
                .iter()
                .filter(|period| period.weekday == *weekday)
                .map(|period| format!("{}-{}", period.start, period.end))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let mut runs: Vec<String> = Vec::new();
    let mut first = 0;
    while first < days.len() {
        let mut last = first;
        while last + 1 < days.len() && days[last + 1] == days[first] {
            last += 1;
        }
        if !days[first].is_empty() {
            let span = if last == first {
                WEEKDAYS[first].to_owned()
            } else {
                format!("{}-{}", WEEKDAYS[first], WEEKDAYS[last])
            };
            runs.push(format!("{span} {}", days[first]));
        }
        first = last + 1;
    }
    if runs.is_empty() { "no working hours".to_owned() } else { runs.join(", ") }
}

/// One calendar as `tend calendars list` prints it; `today` ("YYYY-MM-DD") picks the upcoming
/// holidays.
pub fn describe_calendar(calendar: &v1::Calendar, today: &str) -> String {
    let mut upcoming: Vec<&v1::Holiday> =
        calendar.holidays.iter().filter(|holiday| holiday.date.as_str() >= today).collect();
    upcoming.sort_by(|left, right| left.date.cmp(&right.date));
    let next: Vec<String> =
        upcoming
            .iter()
            .take(3)
            .map(|holiday| {
                if holiday.name.is_empty() {
                    holiday.date.clone()
                } else {
                    format!("{} {}", holiday.date, holiday.name)
                }
            })
            .collect();
    let mut out = String::new();
    let _ = writeln!(out, "{}  {}", calendar.name, calendar.time_zone);
    let _ = writeln!(out, "  hours     {}", describe_hours(&calendar.periods));
    let _ = write!(out, "  holidays  {}", calendar.holidays.len());
    if next.is_empty() {
        out.push_str(", none upcoming");
    } else {
        let _ = write!(out, "; next: {}", next.join(", "));
    }
    out.push('\n');
    out
}

/// `tend calendars list`.
async fn list_calendars(connection: cli::Connection) -> anyhow::Result<()> {
    let client = connect(&connection).await?;
    let listed = client.routing().list_calendars(v1::ListCalendarsRequest {}).await.map_err(failed)?.into_inner();
    if listed.calendars.is_empty() {
        println!("no calendars: `tend calendars put FILE` (see docs/examples/calendar.yaml)");
    }
    let today = chrono::Local::now().date_naive().format("%Y-%m-%d").to_string();
    for calendar in &listed.calendars {
        print!("{}", describe_calendar(calendar, &today));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    const RULES_YAML: &str = include_str!("../../../docs/examples/rules.yaml");
    const RULES_TOML: &str = include_str!("../../../docs/examples/rules.toml");
    const SLA_YAML: &str = include_str!("../../../docs/examples/sla.yaml");
    const CALENDAR_YAML: &str = include_str!("../../../docs/examples/calendar.yaml");
    const UK_HOLIDAYS: &str = include_str!("../../../docs/examples/uk-holidays.ics");

    fn rules(format: FormatArg, text: &str) -> v1::RuleSet {
        parse::<RulesFile>(format, text).unwrap().into_proto()
    }

    #[test]
    fn the_command_line_is_consistent() {
        crate::cli::Cli::command().debug_assert();
    }

    #[test]
    fn the_example_rules_parse_and_say_the_same_in_yaml_and_toml() {
        let from_yaml = rules(FormatArg::Yaml, RULES_YAML);
        let from_toml = rules(FormatArg::Toml, RULES_TOML);
        assert_eq!(from_yaml, from_toml);
        assert!(from_yaml.rules.len() >= 3);
        // The conditions compile and name only fields that exist, as the server checks them.
        if let Err(problems) = tend_routing::rules::RuleSet::compile(1, &from_yaml) {
            panic!("the example rules do not validate: {problems:?}");
        }
        let churn = from_yaml.rules.iter().find(|rule| rule.name == "churn-to-retention").unwrap();
        assert_eq!(churn.layer, i32::from(v1::RuleLayer::Business));
        let then = churn.then.clone().unwrap();
        assert_eq!(
            then.skills,
            vec![
                v1::SkillRequirement { skill: "retention".into(), level: 1 },
                v1::SkillRequirement { skill: "billing".into(), level: 3 },
            ]
        );
        assert_eq!(then.actionable, None);
        assert!(churn.stop);
        let vip = from_yaml.rules.iter().find(|rule| rule.name == "vip-tier").unwrap();
        let then = vip.then.clone().unwrap();
        assert_eq!((then.priority_adjustment, then.priority_reason.as_str()), (15, "VIP customer"));
        assert!(from_yaml.rules.iter().any(|rule| rule.then.as_ref().unwrap().actionable == Some(false)));
    }

    #[test]
    fn rules_round_trip_through_every_format() {
        let original = rules(FormatArg::Yaml, RULES_YAML);
        for format in [FormatArg::Yaml, FormatArg::Toml, FormatArg::Json] {
            let printed = RulesFile::from_proto(&original).unwrap().print(format).unwrap();
            assert_eq!(rules(format, &printed), original, "{format:?}:\n{printed}");
        }
        let original = rules(FormatArg::Toml, RULES_TOML);
        let printed = RulesFile::from_proto(&original).unwrap().print(FormatArg::Toml).unwrap();
        assert_eq!(rules(FormatArg::Toml, &printed), original, "{printed}");
    }

    #[test]
    fn a_mistyped_key_is_named_with_its_line() {
        let yaml = "rules:\n  - name: a\n    layer: segment\n    whn: customer.tier == 'vip'\n";
        let error = parse::<RulesFile>(FormatArg::Yaml, yaml).unwrap_err().to_string();
        assert!(error.contains("unknown field `whn`") && error.contains("line 4"), "{error}");

        let toml = "[[rules]]\nname = \"a\"\nlayer = \"segment\"\nwhen = \"true\"\n\n[rules.then]\nqueu = \"x\"\n";
        let error = parse::<RulesFile>(FormatArg::Toml, toml).unwrap_err().to_string();
        assert!(error.contains("unknown field `queu`") && error.contains("line 7"), "{error}");

        let json = "{\"rules\": [{\"name\": \"a\", \"layer\": \"segment\", \"when\": \"true\", \"stpo\": true}]}";
        let error = parse::<RulesFile>(FormatArg::Json, json).unwrap_err().to_string();
        assert!(error.contains("unknown field `stpo`") && error.contains("line 1"), "{error}");

        let yaml = "rules:\n  - name: a\n    layer: segmnet\n    when: 'true'\n";
        let error = parse::<RulesFile>(FormatArg::Yaml, yaml).unwrap_err().to_string();
        assert!(error.contains("segmnet") && error.contains("line 3"), "{error}");
    }

    #[test]
    fn the_extension_picks_the_format() {
        assert_eq!(format_of(Path::new("a/rules.YML")).unwrap(), FormatArg::Yaml);
        assert_eq!(format_of(Path::new("rules.toml")).unwrap(), FormatArg::Toml);
        assert_eq!(format_of(Path::new("rules.json")).unwrap(), FormatArg::Json);
        let error = format_of(Path::new("rules.txt")).unwrap_err().to_string();
        assert!(error.contains(".txt"), "{error}");
        assert!(format_of(Path::new("rules")).is_err());
    }

    #[test]
    fn a_file_error_names_the_file() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("rules.yaml");
        std::fs::write(&path, "rules:\n  - name: a\n    layr: segment\n").unwrap();
        let error = format!("{:#}", read_rules(&path).unwrap_err());
        assert!(error.contains("rules.yaml") && error.contains("layr") && error.contains("line 3"), "{error}");
    }

    #[test]
    fn problems_are_written_with_their_position() {
        let problem = v1::RuleProblem {
            rule: "vip".into(),
            field: "when".into(),
            line: 2,
            column: 7,
            message: "undeclared reference to 'custmer'".into(),
        };
        assert_eq!(describe_problem(&problem), "rule vip, when [line 2, column 7]: undeclared reference to 'custmer'");
        let problem =
            v1::RuleProblem { rule: "#3".into(), field: "name".into(), line: 0, column: 0, message: "required".into() };
        assert_eq!(describe_problem(&problem), "rule #3, name: required");
    }

    #[test]
    fn a_version_lists_on_one_line() {
        let version = v1::RuleSetVersion {
            version: 3,
            rule_set: Some(rules(FormatArg::Yaml, RULES_YAML)),
            state: v1::RuleSetState::Active.into(),
            created_at: Some(prost_types::Timestamp { seconds: 1_800_000_000, nanos: 0 }),
            activated_at: None,
        };
        let line = describe_version_line(&version, &Utc);
        assert!(line.starts_with("   3  active   saved 2027-01-15T08:00:00Z  never activated"), "{line}");
        assert!(line.ends_with("Spring campaign"), "{line}");
        assert_eq!(describe_version(&version, &Utc)[0], "version 3 (active)");
    }

    #[test]
    fn since_takes_a_duration_or_a_time() {
        let now = DateTime::parse_from_rfc3339("2026-11-08T12:00:00Z").unwrap().with_timezone(&Utc);
        let at = |text: &str| parse_instant(text, now).unwrap().to_rfc3339();
        assert_eq!(at("7d"), "2026-11-01T12:00:00+00:00");
        assert_eq!(at("36h"), "2026-11-07T00:00:00+00:00");
        assert_eq!(at("36h ago"), "2026-11-07T00:00:00+00:00");
        assert_eq!(at("1d-ago"), "2026-11-07T12:00:00+00:00");
        assert_eq!(at("2026-11-01T00:00:00+01:00"), "2026-10-31T23:00:00+00:00");
        let error = parse_instant("last week", now).unwrap_err().to_string();
        assert!(error.contains("RFC 3339"), "{error}");
    }

    #[test]
    fn a_simulation_reads_well() {
        let report = v1::SimulationReport {
            decisions: 200,
            changed: 50,
            queues: vec![
                v1::QueueVolume { queue: "default".into(), before: 180, after: 140 },
                v1::QueueVolume { queue: "retention".into(), before: 20, after: 60 },
            ],
            priority: Some(v1::PriorityShift {
                mean_before: 40.0,
                mean_after: 43.25,
                histogram_before: vec![0, 10, 20, 40, 60, 40, 20, 8, 2, 0],
                histogram_after: vec![0, 8, 18, 36, 58, 42, 24, 10, 3, 1],
                raised: 30,
                lowered: 5,
            }),
            sla_changes: vec![v1::SlaPolicyChange { from: "".into(), to: "social-vip".into(), count: 12 }],
            became_not_actionable: 4,
            became_actionable: 1,
            breaches: Some(v1::PredictedBreaches {
                first_response_measured: 150,
                first_response_before: 12,
                first_response_after: 9,
                resolution_measured: 90,
                resolution_before: 5,
                resolution_after: 6,
            }),
            rules: vec![v1::RuleHits { rule: "vip-tier".into(), count: 20 }],
            rule_errors: Vec::new(),
            oldest: Some(prost_types::Timestamp { seconds: 1_800_000_000, nanos: 0 }),
            newest: Some(prost_types::Timestamp { seconds: 1_800_086_400, nanos: 0 }),
        };
        let text = describe_simulation(&report, &Utc);
        assert!(
            text.starts_with(
                "replayed 200 decisions (2027-01-15T08:00:00Z to 2027-01-16T08:00:00Z); 50 would change (25.0%)"
            ),
            "{text}"
        );
        assert!(text.contains("\ndefault         180       140       -40\n"), "{text}");
        assert!(text.contains("\nretention        20        60       +40\n"), "{text}");
        assert!(text.contains("priority mean 40.0 → 43.2 (+3.2); raised 30, lowered 5"), "{text}");
        assert!(text.contains("  90–100        0 "), "{text}");
        assert!(text.contains("(none) → social-vip: 12"), "{text}");
        assert!(text.contains("became not actionable: 4"), "{text}");
        assert!(text.contains("  first response          12         9       150"), "{text}");
        assert!(text.contains("  vip-tier        20"), "{text}");
        assert!(text.contains("rule errors: none"), "{text}");
        let widest = text.lines().find(|line| line.starts_with("  40–49")).unwrap();
        assert_eq!(widest.matches('█').count(), 48, "{widest}");
        assert_eq!(describe_simulation(&v1::SimulationReport::default(), &Utc).lines().count(), 1);
    }

    #[test]
    fn the_example_sla_policies_parse() {
        let policies = parse_sla(FormatArg::Yaml, SLA_YAML).unwrap();
        assert!(policies.len() >= 2);
        let standard = policies.iter().find(|policy| policy.name == "social-standard").unwrap();
        assert_eq!(
            standard.channels,
            vec![i32::from(v1::Channel::X), v1::Channel::Facebook.into(), v1::Channel::Instagram.into()]
        );
        assert_eq!(standard.first_response, Some(prost_types::Duration { seconds: 3600, nanos: 0 }));
        assert_eq!(standard.resolution, Some(prost_types::Duration { seconds: 3 * 86_400, nanos: 0 }));
        assert_eq!(standard.warn_at_percent, 80);
        let text = describe_sla_policy(standard);
        assert!(text.contains("covers    x, facebook, instagram; consumer"), "{text}");
        assert!(text.contains("first response 1h, next response 2h, resolution 3days; warn at 80%"), "{text}");
    }

    #[test]
    fn one_sla_policy_is_a_file_too() {
        let one = "name: chat\nchannels: [chat]\nfirst_response: 5m\n";
        let policies = parse_sla(FormatArg::Yaml, one).unwrap();
        assert_eq!(policies.len(), 1);
        assert_eq!(policies[0].next_response, None);
        assert_eq!(policies[0].first_response, Some(prost_types::Duration { seconds: 300, nanos: 0 }));
        let toml = "[[policies]]\nname = \"a\"\nfirst_response = \"1h\"\n\n\
                    [[policies]]\nname = \"b\"\nfirst_response = \"2h\"\n";
        assert_eq!(parse_sla(FormatArg::Toml, toml).unwrap().len(), 2);

        let error = parse_sla(FormatArg::Yaml, "name: a\nchannels: [twitter]\nfirst_response: 1h\n").unwrap_err();
        assert!(error.to_string().contains("twitter") && error.to_string().contains("line 2"), "{error}");
        let error = parse_sla(FormatArg::Yaml, "name: a\nfirst_respons: 1h\n").unwrap_err();
        assert!(error.to_string().contains("first_respons"), "{error}");
        let error =
            parse_sla(FormatArg::Yaml, "policies:\n  - name: a\n    first_response: 1 fortnight\n").unwrap_err();
        assert!(error.to_string().contains("line 3"), "{error}");
    }

    #[test]
    fn the_example_calendar_parses() {
        let calendar = parse::<CalendarFile>(FormatArg::Yaml, CALENDAR_YAML).unwrap().into_proto();
        assert_eq!(calendar.time_zone, "Europe/London");
        let tuesday: Vec<_> = calendar.periods.iter().filter(|period| period.weekday == "tue").collect();
        assert_eq!(tuesday.len(), 2);
        assert_eq!((tuesday[1].start.as_str(), tuesday[1].end.as_str()), ("13:00", "17:30"));
        assert!(calendar.holidays.iter().any(|holiday| holiday.date == "2026-12-25"));
        let text = describe_calendar(&calendar, "2026-12-01");
        assert!(text.starts_with("uk-support  Europe/London\n"), "{text}");
        assert!(
            text.contains("holidays  3; next: 2026-12-24 Company day, 2026-12-25 Christmas Day, 2026-12-28 Boxing"),
            "{text}"
        );
    }

    #[test]
    fn calendars_take_toml_dates_and_reject_bad_periods() {
        let toml = "name = \"a\"\ntime_zone = \"UTC\"\n[hours]\nmon = [\"09:00-17:00\"]\n\n\
                    [[holidays]]\ndate = 2026-12-25\nname = \"Christmas Day\"\n\n[[holidays]]\ndate = \"2026-12-26\"\n";
        let calendar = parse::<CalendarFile>(FormatArg::Toml, toml).unwrap().into_proto();
        let dates: Vec<_> = calendar.holidays.iter().map(|holiday| holiday.date.as_str()).collect();
        assert_eq!(dates, ["2026-12-25", "2026-12-26"]);

        let error = parse::<CalendarFile>(FormatArg::Yaml, "name: a\ntime_zone: UTC\nhours:\n  mon: [\"9-5\"]\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("\"9-5\" is not a period") && error.contains("line 4"), "{error}");
        let error = parse::<CalendarFile>(FormatArg::Yaml, "name: a\ntime_zone: UTC\nhours:\n  monday: []\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("monday"), "{error}");
        let error =
            parse::<CalendarFile>(FormatArg::Yaml, "name: a\ntime_zone: UTC\nholidays:\n  - date: 2026-02-30\n")
                .unwrap_err()
                .to_string();
        assert!(error.contains("2026-02-30"), "{error}");
    }

    #[test]
    fn hours_are_written_compactly() {
        let period = |weekday: &str, start: &str, end: &str| v1::WorkingPeriod {
            weekday: weekday.into(),
            start: start.into(),
            end: end.into(),
        };
        let mut periods: Vec<_> =
            ["mon", "tue", "wed", "thu", "fri"].iter().map(|day| period(day, "09:00", "17:30")).collect();
        periods.push(period("sat", "10:00", "12:00"));
        periods.push(period("sat", "13:00", "14:00"));
        assert_eq!(describe_hours(&periods), "mon-fri 09:00-17:30, sat 10:00-12:00 13:00-14:00");
        periods.remove(2);
        assert_eq!(describe_hours(&periods), "mon-tue 09:00-17:30, thu-fri 09:00-17:30, sat 10:00-12:00 13:00-14:00");
        assert_eq!(describe_hours(&[]), "no working hours");
    }

    #[test]
    fn the_example_ical_is_in_the_gov_uk_shape() {
        let events = check_ical(UK_HOLIDAYS).unwrap();
        assert!(events >= 8, "{events} events");
        for field in ["DTSTART;VALUE=DATE:", "DTEND;VALUE=DATE:", "SUMMARY:", "UID:"] {
            assert_eq!(UK_HOLIDAYS.lines().filter(|line| line.starts_with(field)).count(), events, "{field}");
        }
        assert!(check_ical("name: not ical").is_err());
    }

    /// Fuzz target (docs/FUZZING.md): any text read as a rule file in each format is a rule set
    /// or an error, never a panic; a rule set read is checked as the server checks it, and
    /// printed back in each format it reads as the same rule set.
    #[test]
    fn rule_file() {
        const TOKENS: &[&str] = &[
            "\n",
            "\n  - ",
            ": ",
            "- ",
            "[",
            "]",
            "{",
            "}",
            "\"",
            "'",
            ",",
            "=",
            "[[rules]]\n",
            "when: ",
            "then:\n",
            "layer: ",
            "segment",
            "service",
            "priority: ",
            "99999999999",
            "-",
            "skills: ",
            "level: ",
            "tags: ",
            "&a ",
            "*a",
            "!!binary ",
            "~",
            "null",
            ".inf",
            "1e999",
            "\t",
            "#",
            "\u{feff}",
        ];
        let seeds = crate::fuzz_support::corpus("rule_file");
        bolero::check!(name = "rule_file")
            .with_iterations(crate::fuzz_support::ITERATIONS)
            .with_test_time(crate::fuzz_support::TIME)
            .for_each(|input: &[u8]| {
                let mutant = crate::fuzz_support::mutate(&seeds, TOKENS, input);
                for text in [String::from_utf8_lossy(input), String::from_utf8_lossy(&mutant)] {
                    for format in [FormatArg::Yaml, FormatArg::Toml, FormatArg::Json] {
                        check_rule_file(format, &text);
                    }
                }
            });
    }

    fn check_rule_file(format: FormatArg, text: &str) {
        let Ok(file) = parse::<RulesFile>(format, text) else {
            return;
        };
        let proto = file.into_proto();
        let _ = tend_routing::rules::RuleSet::compile(1, &proto);
        let shown = RulesFile::from_proto(&proto).unwrap();
        for format in [FormatArg::Yaml, FormatArg::Toml, FormatArg::Json] {
            let Ok(printed) = shown.print(format) else {
                continue;
            };
            let again =
                parse::<RulesFile>(format, &printed).unwrap_or_else(|error| panic!("{format:?}: {error}\n{printed}"));
            assert_eq!(again.into_proto(), proto, "{format:?}:\n{printed}");
        }
    }
}
