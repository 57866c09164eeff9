//! `tend incidents …`: one problem many customers wrote about, its cases grouped, answered with
//! one reply each and resolved together (docs/CASES.md, "Incidents: one problem, many
//! customers").
//!
//! The arguments live here rather than in `cli.rs`: the command group is self-contained, and
//! `cli.rs` only names it.

use std::collections::HashMap;

use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use tend_proto::v1;

use crate::cli::{Connection, ListArgs};
use crate::commands::{connect, failed, or_dash, print_case_lines, print_next, time};

/// `tend incidents …`.
#[derive(Debug, Subcommand)]
pub enum IncidentsCommand {
    /// The tenant's incidents, newest first, with their member counts.
    List(ListIncidentsArgs),
    /// One incident and its member counts; with --members, its cases too.
    Get(GetIncidentArgs),
    /// Open an incident, optionally with the cases it is about (a case is in at most one).
    Open(OpenIncidentArgs),
    /// Change an incident's title, root cause or department.
    Update(UpdateIncidentArgs),
    /// Add cases to an open incident.
    Add(AddToIncidentArgs),
    /// Split cases off an incident.
    Remove(RemoveFromIncidentArgs),
    /// Move every case of one incident into another, marking the first merged into it.
    Merge(MergeIncidentsArgs),
    /// Answer every member case at once: one reply each, on its own channel and thread, with
    /// {name}, {first_name} and {handle} filled in per author.
    Answer(AnswerIncidentArgs),
    /// Where an answer's replies stand: requested, delivered, failed, pending, one by one.
    AnswerStatus(AnswerStatusArgs),
    /// Resolve an incident and every member case still being worked on, with the note.
    Resolve(ResolveIncidentArgs),
}

/// Incident statuses on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum IncidentStatusArg {
    /// Being worked on; cases may join it.
    Open,
    /// Resolved, with its members.
    Resolved,
    /// Merged into another incident.
    Merged,
}

impl IncidentStatusArg {
    fn to_proto(self) -> v1::IncidentStatus {
        match self {
            Self::Open => v1::IncidentStatus::Open,
            Self::Resolved => v1::IncidentStatus::Resolved,
            Self::Merged => v1::IncidentStatus::Merged,
        }
    }
}

/// `tend incidents list`.
#[derive(Debug, Args)]
pub struct ListIncidentsArgs {
    #[command(flatten)]
    pub list: ListArgs,
    /// Only incidents of this status.
    #[arg(long, value_enum)]
    pub status: Option<IncidentStatusArg>,
}

/// `tend incidents get`.
#[derive(Debug, Args)]
pub struct GetIncidentArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The incident.
    pub id: String,
    /// Also list its member cases, newest first, one per line.
    #[arg(long)]
    pub members: bool,
    /// At most this many members.
    #[arg(long, default_value_t = 20, requires = "members")]
    pub limit: u32,
    /// Continue the members after a previous page (its printed next-page token).
    #[arg(long, default_value = "", requires = "members")]
    pub page_token: String,
}

/// `tend incidents open`.
#[derive(Debug, Args)]
pub struct OpenIncidentArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// A short title for agents, e.g. "Checkout down in the app".
    #[arg(long)]
    pub title: String,
    /// The hot topic it is about.
    #[arg(long, default_value = "")]
    pub topic: String,
    /// The department working on it (`tend departments put` first).
    #[arg(long, default_value = "")]
    pub department: String,
    /// Why it is opened.
    #[arg(long, default_value = "")]
    pub reason: String,
    /// Makes a retry safe: an incident opened with this key is returned as it is.
    #[arg(long, default_value = "")]
    pub key: String,
    /// Cases to put in it at once.
    pub case_ids: Vec<String>,
    #[command(flatten)]
    pub notice: NoticeArgs,
}

/// A proactive notice, sent on resolution with `tend incidents resolve --notify`.
#[derive(Debug, Args)]
pub struct NoticeArgs {
    /// Who the notice is for: a CEL condition over customer, e.g.
    /// `customer.region == "north" && customer.attributes.product == "router-x"`.
    #[arg(long = "notice-scope", requires_all = ["notice_text", "notice_opt_out"])]
    pub notice_scope: Option<String>,
    /// The notice; {name} and {first_name} become each customer's.
    #[arg(long = "notice-text", requires = "notice_scope")]
    pub notice_text: Option<String>,
    /// The notice in a language, LANG=TEXT (repeatable), by the customer's `language` attribute.
    #[arg(long = "notice-translation", requires = "notice_scope")]
    pub notice_translations: Vec<String>,
    /// The subject of emails (default: the incident's title).
    #[arg(long = "notice-subject", default_value = "", requires = "notice_scope")]
    pub notice_subject: String,
    /// How to opt out, appended to every notice, e.g. "Reply STOP to get no more notices".
    #[arg(long = "notice-opt-out", requires = "notice_scope")]
    pub notice_opt_out: Option<String>,
}

impl NoticeArgs {
    fn to_proto(&self) -> anyhow::Result<Option<v1::IncidentNotice>> {
        let Some(scope) = &self.notice_scope else { return Ok(None) };
        Ok(Some(v1::IncidentNotice {
            scope: scope.clone(),
            text: self.notice_text.clone().unwrap_or_default(),
            translations: translations(&self.notice_translations)?,
            subject: self.notice_subject.clone(),
            opt_out_text: self.notice_opt_out.clone().unwrap_or_default(),
        }))
    }
}

/// `tend incidents update`.
#[derive(Debug, Args)]
pub struct UpdateIncidentArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The incident.
    pub id: String,
    /// A new title.
    #[arg(long, default_value = "")]
    pub title: String,
    /// A new root-cause tag, e.g. payment-provider.
    #[arg(long, default_value = "")]
    pub root_cause: String,
    /// A new department working on it.
    #[arg(long, default_value = "")]
    pub department: String,
    #[command(flatten)]
    pub notice: NoticeArgs,
}

/// `tend incidents add`.
#[derive(Debug, Args)]
pub struct AddToIncidentArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The incident (open).
    pub id: String,
    /// The cases to add.
    #[arg(required = true)]
    pub case_ids: Vec<String>,
}

/// `tend incidents remove`.
#[derive(Debug, Args)]
pub struct RemoveFromIncidentArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The incident.
    pub id: String,
    /// The cases to split off (one not in it is ignored).
    #[arg(required = true)]
    pub case_ids: Vec<String>,
    /// Why, for each case's timeline.
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// `tend incidents merge`.
#[derive(Debug, Args)]
pub struct MergeIncidentsArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The incident that goes: its cases move.
    pub source_id: String,
    /// The open incident that stays.
    #[arg(long)]
    pub into: String,
}

/// `tend incidents answer`.
#[derive(Debug, Args)]
pub struct AnswerIncidentArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The incident.
    pub id: String,
    /// The answer; {name}, {first_name} and {handle} become each author's.
    #[arg(long)]
    pub text: String,
    /// The answer in a language, LANG=TEXT (repeatable), e.g. `es=Hola {first_name}, …`: a
    /// case in that language gets it.
    #[arg(long = "translation")]
    pub translations: Vec<String>,
    /// Your id for the answer, to make a retry safe (default: a new one).
    #[arg(long, default_value = "")]
    pub answer_id: String,
    /// Also answer member cases already resolved or closed.
    #[arg(long)]
    pub include_resolved: bool,
    /// Send every reply privately (a DM), even to public posts.
    #[arg(long, conflicts_with = "public")]
    pub private: bool,
    /// Reply publicly on every post's thread, even to private messages.
    #[arg(long)]
    pub public: bool,
}

/// `tend incidents answer-status`.
#[derive(Debug, Args)]
pub struct AnswerStatusArgs {
    #[command(flatten)]
    pub list: ListArgs,
    /// The answer's id, as `tend incidents answer` printed it.
    pub answer_id: String,
}

/// `tend incidents resolve`.
#[derive(Debug, Args)]
pub struct ResolveIncidentArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The incident (open).
    pub id: String,
    /// What was done; kept on the incident and on each case resolved with it.
    #[arg(long)]
    pub note: String,
    /// Send the incident's notice to the customers in its scope who did not write.
    #[arg(long)]
    pub notify: bool,
}

/// Runs one `tend incidents` command.
pub async fn incidents(command: IncidentsCommand) -> anyhow::Result<()> {
    match command {
        IncidentsCommand::List(args) => {
            let client = connect(&args.list.connection).await?;
            let status = args.status.map_or(v1::IncidentStatus::Unspecified, IncidentStatusArg::to_proto);
            let request = v1::ListIncidentsRequest {
                status: status.into(),
                page_size: args.list.limit,
                page_token: args.list.page_token,
            };
            let page = client.cases().list_incidents(request).await.map_err(failed)?.into_inner();
            for incident in &page.incidents {
                println!("{}", incident_line(incident));
            }
            if page.incidents.is_empty() {
                println!("no incidents: `tend incidents open --title … <case id>…`");
            }
            print_next(&page.next_page_token);
        }
        IncidentsCommand::Get(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::GetIncidentRequest { incident_id: args.id.clone() };
            print_incident(&client.cases().get_incident(request).await.map_err(failed)?.into_inner());
            if args.members {
                let request = v1::ListIncidentMembersRequest {
                    incident_id: args.id,
                    page_size: args.limit,
                    page_token: args.page_token,
                };
                let page = client.cases().list_incident_members(request).await.map_err(failed)?.into_inner();
                println!();
                print_case_lines(&page);
            }
        }
        IncidentsCommand::Open(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::OpenIncidentRequest {
                title: args.title,
                topic: args.topic,
                cluster_id: String::new(),
                department: args.department,
                trigger: args.reason,
                escalation_key: args.key,
                case_ids: args.case_ids,
                notice: args.notice.to_proto()?,
            };
            print_incident(&client.cases().open_incident(request).await.map_err(failed)?.into_inner());
        }
        IncidentsCommand::Update(args) => {
            let notice = args.notice.to_proto()?;
            if args.title.is_empty() && args.root_cause.is_empty() && args.department.is_empty() && notice.is_none() {
                bail!("nothing to change: give --title, --root-cause, --department or --notice-scope");
            }
            let client = connect(&args.connection).await?;
            let request = v1::UpdateIncidentRequest {
                incident_id: args.id,
                title: args.title,
                root_cause: args.root_cause,
                department: args.department,
                notice,
            };
            print_incident(&client.cases().update_incident(request).await.map_err(failed)?.into_inner());
        }
        IncidentsCommand::Add(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::AddToIncidentRequest { incident_id: args.id, case_ids: args.case_ids };
            print_incident(&client.cases().add_to_incident(request).await.map_err(failed)?.into_inner());
        }
        IncidentsCommand::Remove(args) => {
            let client = connect(&args.connection).await?;
            let request =
                v1::RemoveFromIncidentRequest { incident_id: args.id, case_ids: args.case_ids, reason: args.reason };
            print_incident(&client.cases().remove_from_incident(request).await.map_err(failed)?.into_inner());
        }
        IncidentsCommand::Merge(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::MergeIncidentsRequest { source_id: args.source_id.clone(), target_id: args.into };
            let target = client.cases().merge_incidents(request).await.map_err(failed)?.into_inner();
            println!("incident {} merged into {}", args.source_id, target.id);
            print_incident(&target);
        }
        IncidentsCommand::Answer(args) => {
            let translations = translations(&args.translations)?;
            let visibility = match (args.private, args.public) {
                (true, _) => v1::ReplyVisibility::Private,
                (false, true) => v1::ReplyVisibility::Public,
                (false, false) => v1::ReplyVisibility::Unspecified,
            };
            let client = connect(&args.connection).await?;
            let request = v1::AnswerIncidentRequest {
                incident_id: args.id,
                text: args.text,
                translations,
                answer_id: args.answer_id,
                visibility: visibility.into(),
                include_resolved: args.include_resolved,
            };
            let answer = client.cases().answer_incident(request).await.map_err(failed)?.into_inner();
            print_answer(&answer);
            if answer.requested == 0 && !args.include_resolved {
                println!("no member case is being worked on: --include-resolved answers resolved ones too");
            }
        }
        IncidentsCommand::AnswerStatus(args) => {
            let client = connect(&args.list.connection).await?;
            let request = v1::GetIncidentAnswerRequest {
                answer_id: args.answer_id,
                page_size: args.list.limit,
                page_token: args.list.page_token,
            };
            let answer = client.cases().get_incident_answer(request).await.map_err(failed)?.into_inner();
            print_answer(&answer);
            for reply in &answer.replies {
                println!("{}", reply_line(reply));
            }
            print_next(&answer.next_page_token);
        }
        IncidentsCommand::Resolve(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::ResolveIncidentRequest { incident_id: args.id, note: args.note, notify: args.notify };
            print_incident(&client.cases().resolve_incident(request).await.map_err(failed)?.into_inner());
        }
    }
    Ok(())
}

/// `LANG=TEXT` translations, each language once.
fn translations(given: &[String]) -> anyhow::Result<HashMap<String, String>> {
    let mut translations = HashMap::new();
    for pair in given {
        let Some((language, text)) = pair.split_once('=') else {
            bail!("--translation {pair:?}: write it as LANG=TEXT, e.g. es=Hola {{first_name}}");
        };
        let language = language.trim().to_lowercase();
        if translations.insert(language.clone(), text.to_owned()).is_some() {
            bail!("--translation: {language} is given twice");
        }
    }
    Ok(translations)
}

/// An incident status as one word.
fn status_name(status: i32) -> String {
    v1::IncidentStatus::try_from(status)
        .map(|status| status.as_str_name().trim_start_matches("INCIDENT_STATUS_").to_lowercase())
        .unwrap_or_else(|_| "?".to_owned())
}

/// One line of `tend incidents list`: id, status, members, title.
fn incident_line(incident: &v1::Incident) -> String {
    format!(
        "{}  {:<8}  {:>4} cases ({} open)  {}",
        incident.id,
        status_name(incident.status),
        incident.members,
        incident.open_members,
        incident.title
    )
}

fn print_incident(incident: &v1::Incident) {
    println!("incident:    {}", incident.id);
    println!("title:       {}", incident.title);
    println!("status:      {}", status_name(incident.status));
    println!("members:     {} ({} open)", incident.members, incident.open_members);
    println!("topic:       {}", or_dash(&incident.topic));
    if !incident.cluster_id.is_empty() {
        println!("cluster:     {}", incident.cluster_id);
    }
    println!("root cause:  {}", or_dash(&incident.root_cause));
    println!("department:  {}", or_dash(&incident.department));
    println!("opened:      {} by {}", time(incident.opened_at.as_ref()), or_dash(&incident.opened_by));
    if !incident.trigger.is_empty() {
        println!("trigger:     {}", incident.trigger);
    }
    if !incident.escalation_key.is_empty() {
        println!("key:         {}", incident.escalation_key);
    }
    println!("updated at:  {}", time(incident.updated_at.as_ref()));
    if incident.resolved_at.is_some() {
        println!("resolved at: {}", time(incident.resolved_at.as_ref()));
        println!("note:        {}", incident.resolution_note);
    }
    if !incident.merged_into.is_empty() {
        println!("merged into: {}", incident.merged_into);
    }
    if let Some(notice) = &incident.notice {
        println!("notice for:  {}", notice.scope);
    }
    if let Some(progress) = &incident.notice_progress {
        let state = if progress.reported_at.is_some() { "reported" } else { "in progress" };
        println!(
            "notices:     {state}: {} in scope, {} requested, {} delivered, {} failed; skipped {} members, {} opted out, {} unreachable",
            progress.in_scope,
            progress.requested,
            progress.delivered,
            progress.failed,
            progress.skipped_members,
            progress.skipped_opted_out,
            progress.skipped_no_channel
        );
    }
}

fn print_answer(answer: &v1::IncidentAnswer) {
    println!("answer:      {}", answer.answer_id);
    println!("incident:    {}", answer.incident_id);
    println!(
        "replies:     {} requested, {} delivered, {} failed, {} pending",
        answer.requested, answer.delivered, answer.failed, answer.pending
    );
    println!("requested:   {} by {}", time(answer.requested_at.as_ref()), or_dash(&answer.requested_by));
}

/// One reply of an answer: its case, where it stands, and why it failed (or the platform's
/// id of the message once delivered).
fn reply_line(reply: &v1::CaseReply) -> String {
    let status = v1::CaseReplyStatus::try_from(reply.status)
        .map(|status| status.as_str_name().trim_start_matches("CASE_REPLY_STATUS_").to_lowercase())
        .unwrap_or_default();
    let detail = if reply.reason.is_empty() { &reply.platform_message_id } else { &reply.reason };
    format!("{}  {:<9}  {}", reply.case_id, status, or_dash(detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translations_are_language_and_text() {
        let given = vec!["ES=Hola {first_name}, ya funciona".to_owned(), "fr=Bonjour = salut".to_owned()];
        let parsed = translations(&given).unwrap_or_default();
        assert_eq!(parsed.get("es").map(String::as_str), Some("Hola {first_name}, ya funciona"));
        assert_eq!(parsed.get("fr").map(String::as_str), Some("Bonjour = salut"));
        assert!(translations(&["es".to_owned()]).is_err());
        assert!(translations(&["es=a".to_owned(), "es=b".to_owned()]).is_err());
    }

    #[test]
    fn an_incident_is_one_line_in_a_list() {
        let incident = v1::Incident {
            id: "inc-1".into(),
            title: "Checkout down".into(),
            status: v1::IncidentStatus::Open.into(),
            members: 12,
            open_members: 9,
            ..Default::default()
        };
        assert_eq!(incident_line(&incident), "inc-1  open        12 cases (9 open)  Checkout down");
        let reply = v1::CaseReply {
            case_id: "c-1".into(),
            status: v1::CaseReplyStatus::Failed.into(),
            reason: "no account".into(),
            ..Default::default()
        };
        assert_eq!(reply_line(&reply), "c-1  failed     no account");
    }
}
