//! `tend surveys …` and `tend testimonials …`: survey templates and what came back, the
//! testimonials' moderation, and the published testimonials as a JSON Feed or an HTML snippet
//! (docs/FEEDBACK.md).
//!
//! The arguments live here rather than in `cli.rs`: the command groups are self-contained, and
//! `cli.rs` only names them.

use clap::{Args, Subcommand, ValueEnum};
use tend_proto::v1;

use crate::cli::{ChannelArg, Connection, ListArgs};
use crate::commands::{connect, failed, or_dash, time};

/// `tend surveys …`.
#[derive(Debug, Subcommand)]
pub enum SurveysCommand {
    /// Create or replace a survey template in one language (needs an admin key; more languages
    /// through PutSurveyTemplate).
    Put(PutTemplateArgs),
    /// The tenant's survey templates.
    List(Connection),
    /// Surveys sent, newest first, and where each stands (sent, answered, opted out).
    Sent(SentArgs),
    /// Surveys answered, newest first.
    Responses(ListArgs),
    /// Send a customer no more surveys (or, with --allow, again).
    OptOut(OptOutArgs),
}

/// A survey's kind, as typed.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// Satisfaction, 1 to 5.
    Csat,
    /// Net promoter score, 0 to 10.
    Nps,
    /// Customer effort, 1 to 7.
    Ces,
}

/// What a low score does, as typed.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LowScoreArg {
    /// Nothing more than being recorded.
    None,
    /// SurveyAnswered asks for a supervisor.
    Alert,
    /// SurveyAnswered asks for the case to be reopened.
    Reopen,
}

/// `tend surveys put`.
#[derive(Debug, Args)]
pub struct PutTemplateArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Its name: a-z, 0-9, "-", "_".
    pub name: String,
    /// CSAT, NPS or CES.
    #[arg(long, value_enum, default_value = "csat")]
    pub kind: KindArg,
    /// The language of the texts (ISO 639-1).
    #[arg(long, default_value = "en")]
    pub language: String,
    /// The invitation sent on the channel, with {link} (and {first_name}, {handle}).
    #[arg(long)]
    pub invitation: String,
    /// The question.
    #[arg(long)]
    pub question: String,
    /// An optional free-text question.
    #[arg(long, default_value = "")]
    pub free_text_question: String,
    /// Survey only cases of this channel (repeat for several); none: every channel.
    #[arg(long = "channel", value_enum)]
    pub channels: Vec<ChannelArg>,
    /// Survey only cases of this segment (a `segment:<name>` tag; repeat); none: every case.
    #[arg(long = "segment")]
    pub segments: Vec<String>,
    /// At most one survey per customer in this many days (0: no cap).
    #[arg(long, default_value_t = 30)]
    pub cap_days: u32,
    /// No survey for a case in an incident.
    #[arg(long)]
    pub skip_during_incident: bool,
    /// A score at or below this is low.
    #[arg(long, default_value_t = 0)]
    pub low_score: u32,
    /// What a low score does.
    #[arg(long, value_enum, default_value = "none")]
    pub low_score_action: LowScoreArg,
    /// Ask for a testimonial at this score or more (0: never).
    #[arg(long, default_value_t = 0)]
    pub testimonial_min_score: u32,
    /// The survey page, with {token}; empty: the deployment's feedback.survey_url.
    #[arg(long, default_value = "")]
    pub url: String,
    /// Keep it, but send nothing.
    #[arg(long)]
    pub disabled: bool,
}

/// `tend surveys sent`.
#[derive(Debug, Args)]
pub struct SentArgs {
    #[command(flatten)]
    pub list: ListArgs,
    /// Only the survey of this case.
    #[arg(long, default_value = "")]
    pub case: String,
}

/// `tend surveys opt-out`.
#[derive(Debug, Args)]
pub struct OptOutArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The customer (identity's id).
    #[arg(long, default_value = "", conflicts_with = "profile")]
    pub customer: String,
    /// Or an author profile not linked to a customer.
    #[arg(long, default_value = "")]
    pub profile: String,
    /// Allow surveys again.
    #[arg(long)]
    pub allow: bool,
}

/// `tend testimonials …`.
#[derive(Debug, Subcommand)]
pub enum TestimonialsCommand {
    /// Every testimonial of the tenant, newest first, with its consent and moderation.
    List(ListArgs),
    /// Approve a testimonial (published once its author consented to the website).
    Approve(TestimonialArgs),
    /// Reject a testimonial, with the reason.
    Reject(RejectArgs),
    /// Record that the author withdrew their consent: out of every output at once.
    Withdraw(RejectArgs),
    /// The published testimonials as a JSON Feed or an HTML snippet to embed (a website key is
    /// enough).
    Feed(FeedArgs),
}

/// One testimonial.
#[derive(Debug, Args)]
pub struct TestimonialArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The testimonial's id.
    pub id: String,
}

/// One testimonial and a reason.
#[derive(Debug, Args)]
pub struct RejectArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The testimonial's id.
    pub id: String,
    /// Why.
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// What the feed is written as.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FeedFormat {
    /// A JSON Feed 1.1 document.
    Json,
    /// An HTML fragment to paste into a page.
    Html,
}

/// `tend testimonials feed`.
#[derive(Debug, Args)]
pub struct FeedArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// JSON Feed or HTML.
    #[arg(long, value_enum, default_value = "json")]
    pub format: FeedFormat,
    /// The feed's title.
    #[arg(long, default_value = "What our customers say")]
    pub title: String,
    /// At most this many testimonials.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

/// Runs one `tend surveys` command.
pub async fn surveys(command: SurveysCommand) -> anyhow::Result<()> {
    match command {
        SurveysCommand::Put(args) => {
            let client = connect(&args.connection).await?;
            let kind = match args.kind {
                KindArg::Csat => v1::SurveyKind::Csat,
                KindArg::Nps => v1::SurveyKind::Nps,
                KindArg::Ces => v1::SurveyKind::Ces,
            };
            let action = match args.low_score_action {
                LowScoreArg::None => v1::LowScoreAction::Unspecified,
                LowScoreArg::Alert => v1::LowScoreAction::AlertSupervisor,
                LowScoreArg::Reopen => v1::LowScoreAction::ReopenCase,
            };
            let template = v1::SurveyTemplate {
                name: args.name,
                kind: kind as i32,
                default_language: args.language.clone(),
                texts: vec![v1::SurveyText {
                    language: args.language,
                    invitation: args.invitation,
                    question: args.question,
                    free_text_question: args.free_text_question,
                }],
                channels: args.channels.into_iter().map(|channel| v1::Channel::from(channel) as i32).collect(),
                segments: args.segments,
                frequency_cap_days: args.cap_days,
                skip_during_incident: args.skip_during_incident,
                enabled: !args.disabled,
                low_score_threshold: args.low_score,
                low_score_action: action as i32,
                survey_url: args.url,
                testimonial_min_score: args.testimonial_min_score,
                ..Default::default()
            };
            let request = v1::PutSurveyTemplateRequest { template: Some(template) };
            let saved = client.feedback().put_survey_template(request).await.map_err(failed)?.into_inner();
            println!("survey template {} saved (version {})", saved.name, saved.version);
            print_template(&saved);
        }
        SurveysCommand::List(connection) => {
            let client = connect(&connection).await?;
            let request = v1::ListSurveyTemplatesRequest {};
            let templates =
                client.feedback().list_survey_templates(request).await.map_err(failed)?.into_inner().templates;
            templates.iter().for_each(print_template);
            if templates.is_empty() {
                println!(
                    "no survey templates yet: `tend surveys put after-care --invitation \"How did we do? {{link}}\" --question \"How satisfied are you?\"`"
                );
            }
        }
        SurveysCommand::Sent(args) => {
            let client = connect(&args.list.connection).await?;
            let request = v1::ListSurveysRequest {
                case_id: args.case,
                page_size: args.list.limit,
                page_token: args.list.page_token,
            };
            let page = client.feedback().list_surveys(request).await.map_err(failed)?.into_inner();
            for survey in &page.surveys {
                let channel = v1::Channel::try_from(survey.channel).map_or("?", |channel| channel.as_str_name());
                println!(
                    "{}  {}  case {}  {} {}  {:<9} reply {}",
                    survey.survey_id,
                    time(survey.sent_at.as_ref()),
                    survey.case_id,
                    survey.template,
                    channel.trim_start_matches("CHANNEL_").to_lowercase(),
                    survey.state,
                    survey.reply_id,
                );
            }
            if page.surveys.is_empty() {
                println!("no surveys sent");
            }
            if !page.next_page_token.is_empty() {
                println!("more: --page-token {}", page.next_page_token);
            }
        }
        SurveysCommand::Responses(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::ListSurveyResponsesRequest { page_size: args.limit, page_token: args.page_token };
            let page = client.feedback().list_survey_responses(request).await.map_err(failed)?.into_inner();
            for response in &page.responses {
                let kind = v1::SurveyKind::try_from(response.kind).map_or("?", |kind| kind.as_str_name());
                let low = if response.low_score { "  LOW" } else { "" };
                println!(
                    "{}  {:<16} {} {:>2}{low}  case {}  agent {}  {}",
                    time(response.responded_at.as_ref()),
                    kind.trim_start_matches("SURVEY_KIND_"),
                    response.template,
                    response.score,
                    response.case_id,
                    or_dash(&response.agent),
                    or_dash(&response.comment),
                );
            }
            if !page.next_page_token.is_empty() {
                println!("more: --page-token {}", page.next_page_token);
            }
        }
        SurveysCommand::OptOut(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::SetSurveyOptOutRequest {
                customer_id: args.customer,
                profile_id: args.profile,
                opted_out: !args.allow,
            };
            let recorded = client.feedback().set_survey_opt_out(request).await.map_err(failed)?.into_inner();
            let who = if recorded.customer_id.is_empty() { &recorded.profile_id } else { &recorded.customer_id };
            if recorded.opted_out {
                println!("{who} gets no surveys (since {}, {})", time(recorded.opted_out_at.as_ref()), recorded.source);
            } else {
                println!("{who} may be surveyed");
            }
        }
    }
    Ok(())
}

fn print_template(template: &v1::SurveyTemplate) {
    let kind = v1::SurveyKind::try_from(template.kind).map_or("?", |kind| kind.as_str_name());
    let languages: Vec<&str> = template.texts.iter().map(|texts| texts.language.as_str()).collect();
    let enabled = if template.enabled { "" } else { "  (disabled)" };
    println!(
        "{:<16} {:<4} languages {:<10} cap {:>3} d  low <= {}{enabled}",
        template.name,
        kind.trim_start_matches("SURVEY_KIND_"),
        languages.join(","),
        template.frequency_cap_days,
        template.low_score_threshold,
    );
}

/// Runs one `tend testimonials` command.
pub async fn testimonials(command: TestimonialsCommand) -> anyhow::Result<()> {
    match command {
        TestimonialsCommand::List(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::ListTestimonialsRequest { page_size: args.limit, page_token: args.page_token };
            let page = client.feedback().list_testimonials(request).await.map_err(failed)?.into_inner();
            for testimonial in &page.testimonials {
                let moderation = v1::ModerationState::try_from(testimonial.moderation)
                    .map_or("?", |state| state.as_str_name())
                    .trim_start_matches("MODERATION_STATE_");
                let consent = match &testimonial.consent {
                    None => "no consent",
                    Some(consent) if consent.withdrawn_at.is_some() => "withdrawn",
                    Some(_) => "consented",
                };
                let published = if testimonial.published { "  PUBLISHED" } else { "" };
                println!(
                    "{}  {:<9} {:<9} {:<10} {}{published}\n    {}",
                    testimonial.id,
                    testimonial.source,
                    moderation,
                    consent,
                    time(testimonial.created_at.as_ref()),
                    testimonial.quote
                );
            }
            if !page.next_page_token.is_empty() {
                println!("more: --page-token {}", page.next_page_token);
            }
        }
        TestimonialsCommand::Approve(args) => {
            moderate(&args.connection, args.id, v1::ModerationState::Approved, String::new()).await?;
        }
        TestimonialsCommand::Reject(args) => {
            moderate(&args.connection, args.id, v1::ModerationState::Rejected, args.reason).await?;
        }
        TestimonialsCommand::Withdraw(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::WithdrawTestimonialRequest { testimonial_id: args.id, reason: args.reason };
            let withdrawn = client.feedback().withdraw_testimonial(request).await.map_err(failed)?.into_inner();
            println!("testimonial {} withdrawn: no longer published anywhere", withdrawn.id);
        }
        TestimonialsCommand::Feed(args) => {
            let client = connect(&args.connection).await?;
            let mut testimonials = Vec::new();
            let mut page_token = String::new();
            let mut etag = String::new();
            loop {
                let request = v1::ListPublishedTestimonialsRequest {
                    page_size: 100,
                    page_token: page_token.clone(),
                    if_none_match: String::new(),
                };
                let page = client.feedback().list_published_testimonials(request).await.map_err(failed)?.into_inner();
                if etag.is_empty() {
                    etag = page.etag;
                }
                testimonials.extend(page.testimonials);
                page_token = page.next_page_token;
                if page_token.is_empty() || testimonials.len() >= args.limit {
                    break;
                }
            }
            testimonials.truncate(args.limit);
            match args.format {
                FeedFormat::Json => {
                    let feed = tend_feedback::testimonials::feed::json_feed(&args.title, &etag, &testimonials);
                    println!("{}", serde_json::to_string_pretty(&feed)?);
                }
                FeedFormat::Html => print!("{}", tend_feedback::testimonials::feed::html_snippet(&testimonials)),
            }
        }
    }
    Ok(())
}

async fn moderate(
    connection: &Connection,
    id: String,
    decision: v1::ModerationState,
    reason: String,
) -> anyhow::Result<()> {
    let client = connect(connection).await?;
    let request = v1::ModerateTestimonialRequest { testimonial_id: id, decision: decision as i32, reason };
    let moderated = client.feedback().moderate_testimonial(request).await.map_err(failed)?.into_inner();
    let published = if moderated.published { "published" } else { "not published (needs consent for the website)" };
    let state = if decision == v1::ModerationState::Approved { "approved" } else { "rejected" };
    println!(
        "testimonial {} {state}: {}",
        moderated.id,
        if decision == v1::ModerationState::Approved { published } else { "not published" }
    );
    Ok(())
}
