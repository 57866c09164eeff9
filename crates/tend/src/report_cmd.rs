//! `tend report`: the service report as tables in the terminal, or exported as CSV or JSON
//! (docs/FEEDBACK.md, "The service report").
//!
//! The arguments live here rather than in `cli.rs`: the command is self-contained, and `cli.rs`
//! only names it.

use std::fmt::Write as _;

use clap::{Args, ValueEnum};
use tend_proto::v1;

use crate::cli::Connection;
use crate::commands::{connect, failed, time};

/// `tend report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Start of the window, RFC 3339 (e.g. 2026-11-01T00:00:00Z); default: the beginning.
    #[arg(long)]
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// End of the window, RFC 3339; default: now.
    #[arg(long)]
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// Instead of --from: the window's length back from now (e.g. 7d, 24h).
    #[arg(long, conflicts_with = "from")]
    pub since: Option<humantime::Duration>,
    /// Break the figures down by this dimension.
    #[arg(long)]
    pub by: Option<DimensionArg>,
    /// With --by: only this value (repeat for more).
    #[arg(long = "value", requires = "by")]
    pub values: Vec<String>,
    /// How to print it.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReportFormat,
}

/// What a report can be broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DimensionArg {
    /// The channel.
    Channel,
    /// The customer's CRM segment.
    Segment,
    /// The queue (the team that serves it).
    Queue,
    /// The assignee.
    Agent,
    /// The topic.
    Topic,
    /// The department of escalations.
    Department,
    /// The incident joined.
    Incident,
}

impl DimensionArg {
    fn to_proto(self) -> v1::ReportDimension {
        match self {
            Self::Channel => v1::ReportDimension::Channel,
            Self::Segment => v1::ReportDimension::Segment,
            Self::Queue => v1::ReportDimension::Queue,
            Self::Agent => v1::ReportDimension::Agent,
            Self::Topic => v1::ReportDimension::Topic,
            Self::Department => v1::ReportDimension::Department,
            Self::Incident => v1::ReportDimension::Incident,
        }
    }
}

/// How `tend report` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Tables for a terminal.
    Table,
    /// One CSV row per group (the whole tenant, then each value).
    Csv,
    /// The ServiceReport message as JSON.
    Json,
}

/// `tend report`.
pub async fn report(args: ReportArgs) -> anyhow::Result<()> {
    let client = connect(&args.connection).await?;
    let from = match args.since {
        Some(since) => Some(chrono::Utc::now() - chrono::Duration::from_std(*since.as_ref())?),
        None => args.from,
    };
    let request = v1::GetServiceReportRequest {
        from: from.map(tend_kernel::ids::to_timestamp),
        to: args.to.map(tend_kernel::ids::to_timestamp),
        detailed: true,
        dimension: args.by.map_or(v1::ReportDimension::Unspecified, DimensionArg::to_proto) as i32,
        values: args.values,
    };
    let report = client.feedback().get_service_report(request).await.map_err(failed)?.into_inner();
    match args.format {
        ReportFormat::Table => print!("{}", tables(&report)),
        ReportFormat::Csv => print!("{}", csv(&report)?),
        ReportFormat::Json => {
            let descriptors = tend_kernel::proto_json::Descriptors::decode(tend_proto::FILE_DESCRIPTOR_SET)?;
            println!("{}", serde_json::to_string_pretty(&descriptors.to_json("tend.v1.ServiceReport", &report))?);
        }
    }
    Ok(())
}

/// A duration for people: "45s", "12m", "3.5h", "2.1d"; "-" for none.
pub fn duration(seconds: f64, count: u64) -> String {
    if count == 0 {
        "-".to_owned()
    } else if seconds < 90.0 {
        format!("{seconds:.0}s")
    } else if seconds < 90.0 * 60.0 {
        format!("{:.0}m", seconds / 60.0)
    } else if seconds < 36.0 * 3600.0 {
        format!("{:.1}h", seconds / 3600.0)
    } else {
        format!("{:.1}d", seconds / 86_400.0)
    }
}

fn percent(value: f64, count: u64) -> String {
    if count == 0 { "-".to_owned() } else { format!("{value:.1}%") }
}

/// Columns aligned: the first left, the rest right.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|title| title.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (index, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if index == 0 {
                let _ = write!(text, "{cell:<width$}");
            } else {
                let _ = write!(text, "  {cell:>width$}");
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(header.to_vec());
    line(widths.iter().map(|width| "-".repeat(*width)).collect::<Vec<_>>().iter().map(String::as_str).collect());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// The groups of a report: the whole tenant, then each value of its dimension.
fn groups(report: &v1::ServiceReport) -> Vec<(String, v1::ServiceFigures)> {
    let mut groups = vec![("(all)".to_owned(), report.overall.unwrap_or_default())];
    groups.extend(report.breakdown.iter().map(|entry| (entry.value.clone(), entry.figures.unwrap_or_default())));
    groups
}

fn dimension_name(report: &v1::ServiceReport) -> String {
    v1::ReportDimension::try_from(report.dimension)
        .ok()
        .filter(|dimension| *dimension != v1::ReportDimension::Unspecified)
        .map_or_else(
            || "tenant".to_owned(),
            |dimension| dimension.as_str_name().trim_start_matches("REPORT_DIMENSION_").to_lowercase(),
        )
}

/// The report as tables.
pub fn tables(report: &v1::ServiceReport) -> String {
    let mut out = String::new();
    let from = match &report.rollup_from {
        Some(from) if from.seconds > 0 => time(Some(from)),
        _ => "the beginning".to_owned(),
    };
    let _ = writeln!(out, "service report  {from} .. {}", time(report.rollup_to.as_ref()));
    if let Some(backlog) = &report.backlog {
        let _ = writeln!(
            out,
            "backlog         {} open now (median age {}, 90% {}, oldest opened {}); {} at the window's end",
            backlog.open_now,
            duration(backlog.age_p50_seconds, backlog.open_now),
            duration(backlog.age_p90_seconds, backlog.open_now),
            if backlog.oldest_opened_at.is_some() { time(backlog.oldest_opened_at.as_ref()) } else { "-".to_owned() },
            backlog.at_window_end
        );
    }
    let _ = writeln!(
        out,
        "routed          {} interactions, {} not work, {} testimonial candidates\n",
        report.interactions_routed, report.not_actionable, report.testimonial_candidates
    );
    let groups = groups(report);
    let by = dimension_name(report);
    let volume: Vec<Vec<String>> = groups
        .iter()
        .map(|(name, f)| {
            vec![
                name.clone(),
                f.interactions.to_string(),
                f.negative.to_string(),
                f.churn_risk.to_string(),
                f.cases_opened.to_string(),
                f.cases_resolved.to_string(),
                f.cases_reopened.to_string(),
                f.still_open.to_string(),
            ]
        })
        .collect();
    let _ = writeln!(out, "VOLUME");
    out.push_str(&table(
        &[&by, "posts", "negative", "churn risk", "opened", "resolved", "reopened", "still open"],
        &volume,
    ));
    let sla: Vec<Vec<String>> = groups
        .iter()
        .map(|(name, f)| {
            let first = f.first_response.unwrap_or_default();
            let resolution = f.resolution.unwrap_or_default();
            let fr = f.first_response_seconds.unwrap_or_default();
            let res = f.resolution_seconds.unwrap_or_default();
            vec![
                name.clone(),
                percent(first.percent, first.within + first.breached),
                format!("{}/{}", first.within, first.within + first.breached),
                duration(fr.p50, fr.count),
                duration(fr.p90, fr.count),
                percent(resolution.percent, resolution.within + resolution.breached),
                format!("{}/{}", resolution.within, resolution.within + resolution.breached),
                duration(res.p50, res.count),
                duration(res.p90, res.count),
            ]
        })
        .collect();
    let _ = writeln!(out, "\nSLA");
    out.push_str(&table(
        &[&by, "1st resp SLA", "met", "1st resp p50", "p90", "resolution SLA", "met", "resolve p50", "p90"],
        &sla,
    ));
    let follow: Vec<Vec<String>> = groups
        .iter()
        .map(|(name, f)| {
            let promises = f.promises.unwrap_or_default();
            let escalations = f.escalations.unwrap_or_default();
            let department = escalations.seconds_in_department.unwrap_or_default();
            vec![
                name.clone(),
                promises.made.to_string(),
                promises.kept.to_string(),
                promises.broken.to_string(),
                promises.released.to_string(),
                escalations.escalated.to_string(),
                escalations.answered.to_string(),
                escalations.overdue.to_string(),
                duration(department.p50, department.count),
                f.incident_joins.to_string(),
                f.retention_saved.to_string(),
                f.retention_lost.to_string(),
            ]
        })
        .collect();
    let _ = writeln!(out, "\nFOLLOW-THROUGH");
    out.push_str(&table(
        &[
            &by,
            "promised",
            "kept",
            "broken",
            "released",
            "escalated",
            "answered",
            "overdue",
            "in dept p50",
            "incident joins",
            "saved",
            "lost",
        ],
        &follow,
    ));
    let surveys: Vec<Vec<String>> = groups
        .iter()
        .map(|(name, f)| {
            let s = f.surveys.unwrap_or_default();
            vec![
                name.clone(),
                s.csat_responses.to_string(),
                percent(s.csat_percent, s.csat_responses),
                s.nps_responses.to_string(),
                if s.nps_responses == 0 { "-".to_owned() } else { format!("{:.0}", s.nps) },
                s.ces_responses.to_string(),
                if s.ces_responses == 0 { "-".to_owned() } else { format!("{:.2}", s.ces_mean) },
            ]
        })
        .collect();
    let _ = writeln!(out, "\nSURVEYS");
    out.push_str(&table(&[&by, "CSAT n", "CSAT", "NPS n", "NPS", "CES n", "CES"], &surveys));
    out
}

/// The report as CSV: one row per group, durations in seconds.
pub fn csv(report: &v1::ServiceReport) -> anyhow::Result<String> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    writer.write_record([
        "dimension",
        "value",
        "interactions",
        "negative",
        "positive",
        "churn_risk",
        "cases_opened",
        "cases_resolved",
        "cases_reopened",
        "still_open",
        "first_response_within",
        "first_response_breached",
        "first_response_percent",
        "resolution_within",
        "resolution_breached",
        "resolution_percent",
        "first_response_p50_s",
        "first_response_p90_s",
        "first_response_p99_s",
        "resolution_p50_s",
        "resolution_p90_s",
        "resolution_p99_s",
        "promises_made",
        "promises_kept",
        "promises_broken",
        "promises_released",
        "escalated",
        "escalations_answered",
        "escalations_overdue",
        "department_p50_s",
        "department_p90_s",
        "incident_joins",
        "retention_saved",
        "retention_lost",
        "csat_responses",
        "csat_percent",
        "nps_responses",
        "nps",
        "ces_responses",
        "ces_mean",
    ])?;
    let by = dimension_name(report);
    for (index, (name, f)) in groups(report).into_iter().enumerate() {
        let first = f.first_response.unwrap_or_default();
        let resolution = f.resolution.unwrap_or_default();
        let fr = f.first_response_seconds.unwrap_or_default();
        let res = f.resolution_seconds.unwrap_or_default();
        let promises = f.promises.unwrap_or_default();
        let escalations = f.escalations.unwrap_or_default();
        let department = escalations.seconds_in_department.unwrap_or_default();
        let surveys = f.surveys.unwrap_or_default();
        let (dimension, value) = if index == 0 { ("tenant".to_owned(), String::new()) } else { (by.clone(), name) };
        writer.write_record([
            dimension,
            value,
            f.interactions.to_string(),
            f.negative.to_string(),
            f.positive.to_string(),
            f.churn_risk.to_string(),
            f.cases_opened.to_string(),
            f.cases_resolved.to_string(),
            f.cases_reopened.to_string(),
            f.still_open.to_string(),
            first.within.to_string(),
            first.breached.to_string(),
            format!("{:.2}", first.percent),
            resolution.within.to_string(),
            resolution.breached.to_string(),
            format!("{:.2}", resolution.percent),
            format!("{:.1}", fr.p50),
            format!("{:.1}", fr.p90),
            format!("{:.1}", fr.p99),
            format!("{:.1}", res.p50),
            format!("{:.1}", res.p90),
            format!("{:.1}", res.p99),
            promises.made.to_string(),
            promises.kept.to_string(),
            promises.broken.to_string(),
            promises.released.to_string(),
            escalations.escalated.to_string(),
            escalations.answered.to_string(),
            escalations.overdue.to_string(),
            format!("{:.1}", department.p50),
            format!("{:.1}", department.p90),
            f.incident_joins.to_string(),
            f.retention_saved.to_string(),
            f.retention_lost.to_string(),
            surveys.csat_responses.to_string(),
            format!("{:.2}", surveys.csat_percent),
            surveys.nps_responses.to_string(),
            format!("{:.1}", surveys.nps),
            surveys.ces_responses.to_string(),
            format!("{:.2}", surveys.ces_mean),
        ])?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> v1::ServiceReport {
        let figures = v1::ServiceFigures {
            interactions: 120,
            cases_opened: 40,
            first_response: Some(v1::SlaAttainment { within: 30, breached: 10, percent: 75.0 }),
            first_response_seconds: Some(v1::Percentiles { count: 40, p50: 240.0, p90: 3000.0, p99: 7000.0 }),
            ..Default::default()
        };
        v1::ServiceReport {
            overall: Some(figures),
            dimension: v1::ReportDimension::Channel as i32,
            breakdown: vec![v1::DimensionFigures { value: "x".into(), figures: Some(figures) }],
            backlog: Some(v1::Backlog { open_now: 3, age_p50_seconds: 7200.0, ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn tables_and_csv_show_every_group() {
        let report = sample();
        let text = tables(&report);
        assert!(text.contains("75.0%") && text.contains("30/40") && text.contains("4m"), "{text}");
        assert!(text.lines().any(|line| line.starts_with("x ")), "{text}");
        let exported = csv(&report).unwrap();
        let lines: Vec<&str> = exported.lines().collect();
        assert_eq!(lines.len(), 3, "{exported}");
        assert!(lines[1].starts_with("tenant,,120,") && lines[2].starts_with("channel,x,120,"), "{exported}");
        assert_eq!(duration(5400.0, 1), "1.5h");
        assert_eq!(duration(0.0, 0), "-");
    }
}
