//! The command line.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

use tend::ServiceName;

/// Tend: self-hosted backend for social customer care.
#[derive(Debug, Parser)]
#[command(name = "tend", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run all five services in one process on the embedded default: SQLite files and the
    /// in-process event stream under the data directory. No setup needed.
    Dev(DevArgs),
    /// Run one or more services, as deployed: PostgreSQL and Redis from the configuration.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(MigrateArgs),
    /// Send a post to a running Tend (as a channel connector would).
    Post(PostArgs),
    /// Stored interactions.
    #[command(subcommand)]
    Interactions(InteractionsCommand),
    /// Cases.
    #[command(subcommand)]
    Cases(CasesCommand),
    /// Incidents: one problem many customers wrote about, its cases answered and resolved at
    /// once (see docs/CASES.md).
    #[command(subcommand)]
    Incidents(crate::incidents_cmd::IncidentsCommand),
    /// The tenant's topics as the burst detector sees them now: hot ones first, with the
    /// reason ("41 posts in 30 min, 9× the usual for a Tuesday morning"); --every to follow.
    Topics(crate::topics_cmd::TopicsArgs),
    /// Escalation thresholds: "20 posts on a topic within 2h" opens one incident per burst.
    #[command(subcommand)]
    Thresholds(crate::topics_cmd::ThresholdsCommand),
    /// The desk's quick reference from live configuration, as Markdown: mission and quality
    /// standards, priorities, channels and hours, SLAs, thresholds, departments, hot topics.
    Tipsheet(crate::tipsheet_cmd::TipsheetArgs),
    /// Departments cases are escalated to (retention, billing, …), each with its contact and
    /// the time it has to answer.
    #[command(subcommand)]
    Departments(DepartmentsCommand),
    /// Guides: decision trees agents step through on a case (troubleshooting, refunds, offers).
    #[command(subcommand)]
    Guides(GuidesCommand),
    /// Agents of the universal queue: skills, languages, channels and capacity, hours,
    /// presence (see docs/QUEUE.md).
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Teams of agents and the queues they serve.
    #[command(subcommand)]
    Teams(TeamsCommand),
    /// The work the universal queue hands agents: offers to watch, accept or decline, and the
    /// next case to pull (see docs/QUEUE.md).
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Author profiles kept by identity.
    #[command(subcommand)]
    Profiles(ProfilesCommand),
    /// Routing decisions.
    #[command(subcommand)]
    Decisions(DecisionsCommand),
    /// Routing rules: check, save, activate, show and try out the tenant's rule set, written
    /// as a YAML, TOML or JSON file (see docs/examples/rules.yaml).
    #[command(subcommand)]
    Rules(RulesCommand),
    /// SLA policies: response targets per channel and segment, in business time.
    #[command(subcommand)]
    Sla(SlaCommand),
    /// Business-hours calendars the SLA clocks count on, with their holidays.
    #[command(subcommand)]
    Calendars(CalendarsCommand),
    /// Monitored channels: platform apps and the accounts Tend takes posts for (see
    /// docs/CHANNELS.md).
    #[command(subcommand)]
    Channels(ChannelsCommand),
    /// Surveys after resolution: templates, responses, opt-outs (see docs/FEEDBACK.md).
    #[command(subcommand)]
    Surveys(crate::feedback_cmd::SurveysCommand),
    /// Testimonials: moderation, withdrawal, and the published ones as a JSON Feed or an HTML
    /// snippet (see docs/FEEDBACK.md).
    #[command(subcommand)]
    Testimonials(crate::feedback_cmd::TestimonialsCommand),
    /// The service report from feedback: SLA attainment, response and resolution times,
    /// backlog, promises, escalations, incidents, retention and surveys, by a dimension if
    /// asked; as tables, CSV or JSON.
    Report(crate::report_cmd::ReportArgs),
    /// Decision data from feedback: `tend export insights`, per customer or per topic, as CSV
    /// or JSON Lines (see docs/FEEDBACK.md).
    #[command(subcommand)]
    Export(crate::insights_cmd::ExportCommand),
    /// Initiatives (campaigns, product fixes, process changes) and their before-vs-after
    /// reports.
    #[command(subcommand)]
    Initiatives(crate::initiatives_cmd::InitiativesCommand),
    /// Identity tasks: bring CRM customers in.
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// CRM customers kept by identity.
    #[command(subcommand)]
    Customers(CustomersCommand),
    /// Enrichment: read a text as ingest does, train and evaluate the tenant's classifiers,
    /// and keep its topic dictionary.
    #[command(subcommand)]
    Text(TextCommand),
    /// API keys: make a new one, or the SHA-256 a config keeps of one (see docs/SECURITY.md).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Health of a running Tend's services.
    Health(Connection),
    /// Events that could not be handled: list them or put them back on their stream.
    #[command(subcommand, name = "dead-letters")]
    DeadLetters(DeadLettersCommand),
    /// Send realistic social care traffic to a Tend on this machine and count it from post to
    /// case (ack and end-to-end rates, latency, lost and duplicated).
    Loadgen(tend_loadgen::LoadgenArgs),
}

/// Where the configuration comes from.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// A TOML configuration file; without it `./tend.toml` is read if present. `TEND__…`
    /// environment variables override either.
    #[arg(long, short = 'c', env = "TEND_CONFIG")]
    pub config: Option<PathBuf>,
}

/// `tend dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Where SQLite files and the stream live (overrides `storage.data_dir`).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address to listen on (overrides `server.listen`), e.g. 127.0.0.1:50051; port 0 picks one.
    #[arg(long)]
    pub listen: Option<String>,
    /// HTTP address for webhooks and metrics (overrides `server.http_listen`), e.g.
    /// 127.0.0.1:8080; port 0 picks one; "" turns it off.
    #[arg(long)]
    pub http_listen: Option<String>,
    /// Run only these services (comma-separated), e.g. `--only ingest,identity`.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<ServiceName>,
}

/// `tend serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The services to run in this process.
    #[arg(required = true, value_delimiter = ',')]
    pub services: Vec<ServiceName>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// `tend migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Only this service's migrations (default: all).
    #[arg(long)]
    pub service: Option<ServiceName>,
}

/// How to reach a running Tend.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// gRPC endpoint of Tend.
    #[arg(long, env = "TEND_ENDPOINT", default_value = "http://127.0.0.1:50051")]
    pub endpoint: String,
    /// API key; not needed when the server has authentication off.
    #[arg(long, env = "TEND_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Tenant to act for (service keys must name one; others default to their own).
    #[arg(long, env = "TEND_TENANT")]
    pub tenant: Option<String>,
    /// CA certificate (PEM) of a server on TLS (an https:// endpoint).
    #[arg(long, env = "TEND_TLS_CA")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// Client certificate (PEM) for a server that requires mutual TLS.
    #[arg(long, env = "TEND_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// Its private key (PEM).
    #[arg(long, env = "TEND_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

/// Channels, as typed on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ChannelArg {
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

impl From<ChannelArg> for tend_proto::v1::Channel {
    fn from(channel: ChannelArg) -> Self {
        match channel {
            ChannelArg::X => Self::X,
            ChannelArg::Facebook => Self::Facebook,
            ChannelArg::Instagram => Self::Instagram,
            ChannelArg::Email => Self::Email,
            ChannelArg::Chat => Self::Chat,
            ChannelArg::Review => Self::Review,
        }
    }
}

/// Platform APIs, as typed on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PlatformArg {
    /// X (Twitter): Account Activity webhooks, posts and DMs.
    X,
    /// Meta: Facebook Pages, Messenger, Instagram.
    Meta,
    /// A mailbox: IMAP in, SMTP out, or raw mail posted to a webhook.
    Email,
    /// Tend's generic webhook: chat widgets, review sources.
    Generic,
}

impl From<PlatformArg> for tend_proto::v1::Platform {
    fn from(platform: PlatformArg) -> Self {
        match platform {
            PlatformArg::X => Self::X,
            PlatformArg::Meta => Self::Meta,
            PlatformArg::Email => Self::Email,
            PlatformArg::Generic => Self::Generic,
        }
    }
}

/// `tend channels …`.
#[derive(Debug, Subcommand)]
pub enum ChannelsCommand {
    /// Register an account (and, with --platform, create or replace its app first), e.g.
    /// `tend channels add --platform x --app x-main --secret consumer_secret=env:X_SECRET
    /// --channel x --account-id 2244994945 --default`.
    Add(Box<ChannelsAddArgs>),
    /// The tenant's apps and accounts.
    List(Connection),
    /// One account: settings, secrets set, quotas, hours, where its platform delivers.
    Get(ChannelIdArgs),
    /// Stop taking posts for an account (`add` it again to turn it back on).
    Disable(ChannelIdArgs),
}

/// `tend channels add`.
#[derive(Debug, Args)]
pub struct ChannelsAddArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The app's name (a-z, 0-9, '-', '_', '.').
    #[arg(long)]
    pub app: String,
    /// Create or replace the app, as this platform, with --setting and --secret.
    #[arg(long, value_enum)]
    pub platform: Option<PlatformArg>,
    /// An app setting KEY=VALUE (repeatable), e.g. imap_host=imap.example.com.
    #[arg(long = "setting")]
    pub settings: Vec<String>,
    /// An app secret KEY=VALUE (repeatable). VALUE env:NAME or file:/path is resolved by the
    /// server; anything else is stored encrypted (and lands in your shell history: prefer a
    /// reference).
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
    /// The account's channel.
    #[arg(long, value_enum)]
    pub channel: ChannelArg,
    /// The platform's id of the account: the brand's X user id, the Page id, the mailbox
    /// address, the widget id.
    #[arg(long)]
    pub account_id: String,
    /// Shown to agents.
    #[arg(long)]
    pub name: Option<String>,
    /// Make it the tenant's default account for the channel.
    #[arg(long)]
    pub default: bool,
    /// Hours of operation, a calendar file (docs/examples/calendar.yaml).
    #[arg(long)]
    pub hours: Option<PathBuf>,
    /// Public reply quota, REPLIES/PERIOD, e.g. 100/15m.
    #[arg(long)]
    pub public_quota: Option<String>,
    /// Private reply quota, REPLIES/PERIOD.
    #[arg(long)]
    pub private_quota: Option<String>,
    /// An account setting KEY=VALUE (repeatable), e.g. folder=Support.
    #[arg(long = "account-setting")]
    pub account_settings: Vec<String>,
    /// An account secret KEY=VALUE (repeatable), e.g. access_token=env:X_USER_TOKEN.
    #[arg(long = "account-secret")]
    pub account_secrets: Vec<String>,
}

/// An account by id.
#[derive(Debug, Args)]
pub struct ChannelIdArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Tend's id of the account.
    pub id: String,
}

/// `tend post`.
#[derive(Debug, Args)]
pub struct PostArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The channel it came from.
    #[arg(long, value_enum, default_value = "x")]
    pub channel: ChannelArg,
    /// The post's text.
    #[arg(long)]
    pub text: String,
    /// The author's handle.
    #[arg(long)]
    pub handle: String,
    /// The author's id on the channel (default: the handle).
    #[arg(long)]
    pub author_id: Option<String>,
    /// The author's display name.
    #[arg(long, default_value = "")]
    pub name: String,
    /// The author's followers.
    #[arg(long, default_value_t = 0)]
    pub followers: u64,
    /// The author is verified by the channel.
    #[arg(long)]
    pub verified: bool,
    /// Where the author says they are, e.g. "Leeds, UK".
    #[arg(long, default_value = "")]
    pub location: String,
    /// The post's id on the channel (default: a new unique id).
    #[arg(long)]
    pub external_id: Option<String>,
    /// The monitored account it came in on: Tend's id or the platform account id (default: the
    /// tenant's default account for the channel, if any; see `tend channels`).
    #[arg(long)]
    pub account: Option<String>,
    /// Wait until routing has opened the case, and print it.
    #[arg(long)]
    pub wait: bool,
}

/// `tend interactions …`.
#[derive(Debug, Subcommand)]
pub enum InteractionsCommand {
    /// Newest first.
    List(ListArgs),
    /// One interaction.
    Get(GetArgs),
}

/// `tend cases …`.
#[derive(Debug, Subcommand)]
pub enum CasesCommand {
    /// Newest first.
    List(ListCasesArgs),
    /// Find cases by status, queue, agent, customer, tag, topic, department, promises.
    Search(SearchCasesArgs),
    /// One case.
    Get(GetArgs),
    /// Resolve an open case.
    Resolve(ResolveArgs),
    /// Reply to the customer on the case's channel and thread (sent by ingest from the
    /// interaction's account).
    Reply(ReplyArgs),
    /// A case's replies and where each delivery stands.
    Replies(GetArgs),
    /// Move a case to another status (new, open, pending-customer, pending-department,
    /// resolved, closed, reopened), for a reason.
    Move(MoveArgs),
    /// Assign a case to an agent (or unassign it with an empty agent).
    Assign(AssignArgs),
    /// Add and remove tags.
    Tag(TagArgs),
    /// Change a case's priority, saying why.
    Priority(PriorityArgs),
    /// Add an internal note.
    Note(NoteArgs),
    /// Everything that happened to a case, oldest first: who did what, when and why.
    Timeline(TimelineArgs),
    /// A customer's history across channels and cases, newest first.
    History(HistoryArgs),
    /// Promise the customer to come back by a time, with what was promised.
    Promise(PromiseArgs),
    /// Record a promise as kept (a reply sent with --keeps-promise keeps it by itself).
    Keep(KeepArgs),
    /// Release a promise that will not be kept, saying why.
    Release(ReleaseArgs),
    /// Promises, soonest due first: open, due soon, overdue, kept, released.
    Promises(PromisesArgs),
    /// Hand the case to a department (`tend departments put` first), with the reason and the
    /// root cause; it waits for the department's answer.
    Escalate(EscalateArgs),
    /// Answer a case's open escalation, as the department (its own tool can call
    /// AnswerEscalation): the case returns to its agent.
    Answer(AnswerArgs),
    /// Escalations, oldest first: a department's inbox, or a case's.
    Escalations(EscalationsArgs),
    /// Record what came of keeping the customer: saved, lost or pending.
    Retention(RetentionArgs),
    /// Step through a guide on the case: with no --node, its first question.
    Guide(StepGuideArgs),
    /// Follow case events live (WatchCases), each printed with its cursor to resume from.
    Watch(WatchArgs),
}

/// `tend cases watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Resume after this cursor (printed with every event).
    #[arg(long, default_value = "")]
    pub cursor: String,
    /// Without a cursor, start with every event kept instead of from now on.
    #[arg(long)]
    pub from_start: bool,
    /// Only these kinds of event, e.g. --kind sla-breached --kind promise-overdue.
    #[arg(long = "kind")]
    pub kinds: Vec<String>,
    /// Only events of cases assigned to this agent.
    #[arg(long, default_value = "")]
    pub assignee: String,
    /// Only events of cases in this queue.
    #[arg(long, default_value = "")]
    pub queue: String,
    /// Only this case's events.
    #[arg(long = "case", default_value = "")]
    pub case_id: String,
}

/// `tend cases guide`.
#[derive(Debug, Args)]
pub struct StepGuideArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The case.
    pub id: String,
    /// The guide's name.
    pub guide: String,
    /// The guide's version (0: the latest).
    #[arg(long, default_value_t = 0)]
    pub guide_version: u32,
    /// The node answered (empty: start).
    #[arg(long, default_value = "")]
    pub node: String,
    /// The answer's number at that node.
    #[arg(long, default_value_t = 0)]
    pub answer: u32,
}

/// `tend guides …`.
#[derive(Debug, Subcommand)]
pub enum GuidesCommand {
    /// Save a guide from a YAML, TOML or JSON file as its next version (admin key).
    Put {
        #[command(flatten)]
        connection: Connection,
        /// The file (see docs/examples/guide.yaml).
        file: std::path::PathBuf,
    },
    /// One guide, its questions and answers.
    Show {
        #[command(flatten)]
        connection: Connection,
        /// Its name.
        name: String,
        /// The version (0: the latest).
        #[arg(long, default_value_t = 0)]
        guide_version: u32,
    },
    /// The tenant's guides.
    List(Connection),
}

/// `tend cases escalate`.
#[derive(Debug, Args)]
pub struct EscalateArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The case.
    pub id: String,
    /// The department's name.
    pub department: String,
    /// What the department should do (required).
    #[arg(long)]
    pub reason: String,
    /// The root cause, as a tag (e.g. billing-error); also tagged on the case as cause:….
    #[arg(long)]
    pub root_cause: String,
    #[command(flatten)]
    pub expected: Expected,
}

/// Retention outcomes on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RetentionArg {
    /// Still being worked on.
    Pending,
    /// The customer stays.
    Saved,
    /// The customer left.
    Lost,
}

/// `tend cases answer`.
#[derive(Debug, Args)]
pub struct AnswerArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The case.
    pub id: String,
    /// The department's answer.
    #[arg(long)]
    pub answer: String,
    /// For retention: what came of it.
    #[arg(long, value_enum)]
    pub retention: Option<RetentionArg>,
}

/// Escalation states on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EscalationStateArg {
    /// Waiting for the department.
    Open,
    /// Answered.
    Answered,
    /// Ended unanswered with the case.
    Withdrawn,
}

/// `tend cases escalations`.
#[derive(Debug, Args)]
pub struct EscalationsArgs {
    #[command(flatten)]
    pub list: ListArgs,
    /// Only this department's.
    #[arg(long, default_value = "")]
    pub department: String,
    /// Only this case's.
    #[arg(long = "case", default_value = "")]
    pub case_id: String,
    /// Only in this state.
    #[arg(long, value_enum)]
    pub state: Option<EscalationStateArg>,
}

/// `tend cases retention`.
#[derive(Debug, Args)]
pub struct RetentionArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The case.
    pub id: String,
    /// What came of it.
    #[arg(value_enum)]
    pub outcome: RetentionArg,
    /// What was offered or said.
    #[arg(long, default_value = "")]
    pub note: String,
    #[command(flatten)]
    pub expected: Expected,
}

/// `tend agents …`.
#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Create or change an agent (needs an admin key); their presence is kept.
    Put(PutAgentArgs),
    /// One agent.
    Get(GetAgentArgs),
    /// The tenant's agents, by id.
    List(ListAgentsArgs),
    /// Set an agent's presence: available, busy, away or offline.
    Presence(PresenceArgs),
    /// Create or change agents from a CSV file with the header
    /// `id,display_name,teams,skills,languages,capacity,calendar`; lists separated by ";"
    /// (e.g. skills `billing:3;retention`, capacity `chat=3;x=8`).
    Import(ImportAgentsArgs),
}

/// `tend agents put`.
#[derive(Debug, Args)]
pub struct PutAgentArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Their id: a-z, 0-9, "-", "_", "." (e.g. ana.lopez).
    pub id: String,
    /// How people call them.
    #[arg(long, default_value = "")]
    pub display_name: String,
    /// A team they belong to (repeat for several).
    #[arg(long = "team")]
    pub teams: Vec<String>,
    /// A skill, with its level 1-5 (e.g. billing:3; the level defaults to 1). Repeat for several.
    #[arg(long = "skill")]
    pub skills: Vec<String>,
    /// A language they answer in, ISO 639-1 (e.g. es). Repeat for several.
    #[arg(long = "language")]
    pub languages: Vec<String>,
    /// A channel they handle and how many of its cases at once (e.g. chat=3). Repeat for several.
    #[arg(long = "capacity")]
    pub capacity: Vec<String>,
    /// The calendar of their working hours (`tend calendars`); none: whenever present.
    #[arg(long, default_value = "")]
    pub calendar: String,
    /// Takes no work.
    #[arg(long)]
    pub disabled: bool,
}

/// `tend agents get`.
#[derive(Debug, Args)]
pub struct GetAgentArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The agent's id.
    pub id: String,
}

/// `tend agents list`.
#[derive(Debug, Args)]
pub struct ListAgentsArgs {
    #[command(flatten)]
    pub list: ListArgs,
    /// Only members of this team.
    #[arg(long, default_value = "")]
    pub team: String,
    /// Only agents with this skill.
    #[arg(long, default_value = "")]
    pub skill: String,
    /// Only agents with this presence.
    #[arg(long)]
    pub presence: Option<PresenceArg>,
}

/// Presences on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PresenceArg {
    /// Taking work.
    Available,
    /// Finishing what they have; offered nothing new.
    Busy,
    /// Away from the desk; offered nothing.
    Away,
    /// Signed out; offered nothing.
    Offline,
}

impl From<PresenceArg> for tend_proto::v1::Presence {
    fn from(presence: PresenceArg) -> Self {
        match presence {
            PresenceArg::Available => Self::Available,
            PresenceArg::Busy => Self::Busy,
            PresenceArg::Away => Self::Away,
            PresenceArg::Offline => Self::Offline,
        }
    }
}

/// `tend agents presence`.
#[derive(Debug, Args)]
pub struct PresenceArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The agent's id.
    pub id: String,
    /// Their presence now.
    pub presence: PresenceArg,
    /// Why (e.g. lunch).
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// `tend agents import`.
#[derive(Debug, Args)]
pub struct ImportAgentsArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The CSV file.
    pub file: std::path::PathBuf,
}

/// `tend queue …`.
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Follow an agent's offers as they come and end, as their desk would (until interrupted).
    Watch(AgentArgs),
    /// Accept an offer: the case is assigned to the agent.
    Accept(OfferArgs),
    /// Decline an offer: it goes to someone else.
    Decline(DeclineArgs),
    /// Assign the agent the best case they may take now (pull).
    Next(AgentArgs),
    /// The queues now: what waits (how long, at which priorities, how close to its deadline),
    /// what is offered and assigned, agents by presence, occupancy.
    Stats(QueueStatsArgs),
    /// Set how a queue hands out its work (needs an admin key): which free agent first, and
    /// what happens to a case that waits too long.
    Policy(QueuePolicyArgs),
    /// The tenant's queue policies.
    Policies(Connection),
}

/// Queue strategies on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StrategyArg {
    /// The agent with the fewest active cases first (the default).
    LeastActive,
    /// The agent with the most spare capacity first.
    MostAvailable,
    /// The agent given work the longest ago first.
    LongestIdle,
}

/// `tend queue policy`.
#[derive(Debug, Args)]
pub struct QueuePolicyArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The queue (e.g. default, retention).
    pub queue: String,
    /// Which free agent first.
    #[arg(long, value_enum, default_value = "least-active")]
    pub strategy: StrategyArg,
    /// After waiting this long (e.g. 10m), a case's required skill levels are lowered by one.
    #[arg(long)]
    pub relax_after: Option<humantime::Duration>,
    /// After waiting this long, a case requires no skill.
    #[arg(long)]
    pub drop_skills_after: Option<humantime::Duration>,
    /// After waiting this long, a case moves to the queue `--overflow-to`.
    #[arg(long, requires = "overflow_to")]
    pub overflow_after: Option<humantime::Duration>,
    /// The queue cases overflow to.
    #[arg(long, default_value = "")]
    pub overflow_to: String,
}

/// `tend queue stats`.
#[derive(Debug, Args)]
pub struct QueueStatsArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Only this queue.
    #[arg(long, default_value = "")]
    pub queue: String,
    /// Keep the figures on screen, read again this often (e.g. 2s), until interrupted.
    #[arg(long)]
    pub every: Option<humantime::Duration>,
}

/// An agent of the queue.
#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The agent's id.
    pub agent: String,
}

/// An agent's offer.
#[derive(Debug, Args)]
pub struct OfferArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The agent's id.
    pub agent: String,
    /// The offer's id (from `tend queue watch`).
    pub offer: String,
}

/// `tend queue decline`.
#[derive(Debug, Args)]
pub struct DeclineArgs {
    #[command(flatten)]
    pub offer: OfferArgs,
    /// Why.
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// `tend teams …`.
#[derive(Debug, Subcommand)]
pub enum TeamsCommand {
    /// Create or change a team (needs an admin key).
    Put(PutTeamArgs),
    /// The tenant's teams.
    List(Connection),
}

/// `tend teams put`.
#[derive(Debug, Args)]
pub struct PutTeamArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Its id: a-z, 0-9, "-", "_", "." (e.g. tier1).
    pub id: String,
    /// How people call it.
    #[arg(long, default_value = "")]
    pub display_name: String,
    /// A queue its agents take work from (repeat for several), e.g. default, retention.
    #[arg(long = "queue")]
    pub queues: Vec<String>,
}

/// `tend departments …`.
#[derive(Debug, Subcommand)]
pub enum DepartmentsCommand {
    /// Create or change a department (needs an admin key).
    Put(PutDepartmentArgs),
    /// The tenant's departments.
    List(Connection),
}

/// `tend departments put`.
#[derive(Debug, Args)]
pub struct PutDepartmentArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Its name: a-z, 0-9, "-", "_" (e.g. billing).
    pub name: String,
    /// How people call it.
    #[arg(long, default_value = "")]
    pub display_name: String,
    /// How to reach it (an email, a channel, a URL).
    #[arg(long, default_value = "")]
    pub contact: String,
    /// The time it has to answer an escalation (e.g. 4h, 2d).
    #[arg(long, default_value = "1d")]
    pub answer_within: humantime::Duration,
    /// Take no new escalations.
    #[arg(long)]
    pub disabled: bool,
}

/// `tend cases history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub list: ListArgs,
    /// The customer (identity's id).
    #[arg(long, default_value = "", conflicts_with = "profile")]
    pub customer: String,
    /// Or an author profile not linked to a customer.
    #[arg(long, default_value = "")]
    pub profile: String,
}

/// `tend cases search`.
#[derive(Debug, Args)]
pub struct SearchCasesArgs {
    #[command(flatten)]
    pub list: ListArgs,
    /// In one of these statuses (repeat the flag).
    #[arg(long = "status", value_enum)]
    pub statuses: Vec<StatusArg>,
    /// In this queue.
    #[arg(long, default_value = "")]
    pub queue: String,
    /// Assigned to this agent.
    #[arg(long, default_value = "")]
    pub assignee: String,
    /// Unassigned only.
    #[arg(long)]
    pub unassigned: bool,
    /// Of this customer.
    #[arg(long, default_value = "")]
    pub customer: String,
    /// Carrying this tag.
    #[arg(long, default_value = "")]
    pub tag: String,
    /// Mentioning this topic.
    #[arg(long, default_value = "")]
    pub topic: String,
    /// Waiting for this department.
    #[arg(long, default_value = "")]
    pub department: String,
    /// With open promises only.
    #[arg(long)]
    pub with_promises: bool,
    /// Where its SLA clocks stand.
    #[arg(long, value_enum)]
    pub sla: Option<SlaArg>,
}

/// SLA states on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SlaArg {
    /// Past a warning point, not yet breached.
    AtRisk,
    /// Past a deadline.
    Breached,
    /// Paused, waiting for the customer.
    Paused,
}

/// `tend cases promise`.
#[derive(Debug, Args)]
pub struct PromiseArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The case.
    pub id: String,
    /// What was promised ("a refund update").
    #[arg(long)]
    pub what: String,
    /// When it must be kept by: RFC 3339 (2026-12-04T17:00:00Z) or a time from now (2h, 1d).
    #[arg(long)]
    pub by: String,
    #[command(flatten)]
    pub expected: Expected,
}

/// `tend cases keep`.
#[derive(Debug, Args)]
pub struct KeepArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The promise.
    pub promise: String,
    /// How it was kept (a call, an email outside Tend).
    #[arg(long, default_value = "")]
    pub note: String,
}

/// `tend cases release`.
#[derive(Debug, Args)]
pub struct ReleaseArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The promise.
    pub promise: String,
    /// Why it will not be kept (required).
    #[arg(long)]
    pub reason: String,
}

/// Which promises `tend cases promises` lists.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PromiseViewArg {
    /// Still to be kept.
    Open,
    /// Open and due within `cases.promise_warning`.
    DueSoon,
    /// Open and past their time.
    Overdue,
    /// Kept.
    Kept,
    /// Released unkept.
    Released,
    /// All of them.
    All,
}

/// `tend cases promises`.
#[derive(Debug, Args)]
pub struct PromisesArgs {
    #[command(flatten)]
    pub list: ListArgs,
    /// Which ones.
    #[arg(long, value_enum, default_value = "open")]
    pub view: PromiseViewArg,
    /// Only this agent's.
    #[arg(long, default_value = "")]
    pub owner: String,
    /// Only this case's.
    #[arg(long = "case", default_value = "")]
    pub case_id: String,
}

/// The version a change expects, to refuse it if someone changed the case meanwhile.
#[derive(Debug, Args)]
pub struct Expected {
    /// Refuse the change unless the case is still at this version (as `tend cases get` shows).
    #[arg(long, default_value_t = 0)]
    pub expected_version: u64,
}

/// `tend cases move`.
#[derive(Debug, Args)]
pub struct MoveArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The case.
    pub id: String,
    /// The status to move to.
    #[arg(value_enum)]
    pub to: StatusArg,
    /// Why, for the audit log.
    #[arg(long, default_value = "")]
    pub reason: String,
    /// Resolving or closing a case with open promises: why they are released unkept.
    #[arg(long, default_value = "")]
    pub release_promises: String,
    #[command(flatten)]
    pub expected: Expected,
}

/// `tend cases assign`.
#[derive(Debug, Args)]
pub struct AssignArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The case.
    pub id: String,
    /// The agent (empty: unassign).
    pub agent: String,
    /// Why (a handover, a shift ending).
    #[arg(long, default_value = "")]
    pub reason: String,
    #[command(flatten)]
    pub expected: Expected,
}

/// `tend cases tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The case.
    pub id: String,
    /// Tags to add.
    #[arg(long = "add")]
    pub add: Vec<String>,
    /// Tags to remove.
    #[arg(long = "remove")]
    pub remove: Vec<String>,
    #[command(flatten)]
    pub expected: Expected,
}

/// `tend cases priority`.
#[derive(Debug, Args)]
pub struct PriorityArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The case.
    pub id: String,
    /// From 0 to 100.
    pub priority: u32,
    /// Why it changes (required).
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub expected: Expected,
}

/// `tend cases note`.
#[derive(Debug, Args)]
pub struct NoteArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The case.
    pub id: String,
    /// The note.
    #[arg(long)]
    pub text: String,
}

/// `tend cases timeline`.
#[derive(Debug, Args)]
pub struct TimelineArgs {
    #[command(flatten)]
    pub list: ListArgs,
    /// The case.
    pub id: String,
}

/// `tend profiles …`.
#[derive(Debug, Subcommand)]
pub enum ProfilesCommand {
    /// Newest first.
    List(ListArgs),
    /// One profile.
    Get(GetArgs),
}

/// `tend decisions …`.
#[derive(Debug, Subcommand)]
pub enum DecisionsCommand {
    /// Newest first.
    List(ListArgs),
    /// The decision for one interaction.
    Get(GetArgs),
}

/// A page of something.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// At most this many.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Continue after a previous page (its printed next-page token).
    #[arg(long, default_value = "")]
    pub page_token: String,
}

/// Case statuses on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    /// Not yet taken by an agent.
    New,
    /// Being worked on.
    Open,
    /// Waiting for the customer's answer.
    PendingCustomer,
    /// Waiting for a department's answer.
    PendingDepartment,
    /// Solved; may be reopened.
    Resolved,
    /// Done for good.
    Closed,
    /// Resolved once, and back.
    Reopened,
}

impl StatusArg {
    /// The status in the contract's terms.
    pub fn to_proto(self) -> tend_proto::v1::CaseStatus {
        use tend_proto::v1::CaseStatus;
        match self {
            Self::New => CaseStatus::New,
            Self::Open => CaseStatus::Open,
            Self::PendingCustomer => CaseStatus::PendingCustomer,
            Self::PendingDepartment => CaseStatus::PendingDepartment,
            Self::Resolved => CaseStatus::Resolved,
            Self::Closed => CaseStatus::Closed,
            Self::Reopened => CaseStatus::Reopened,
        }
    }
}

/// `tend cases list`.
#[derive(Debug, Args)]
pub struct ListCasesArgs {
    #[command(flatten)]
    pub list: ListArgs,
    /// Only cases of this status.
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,
}

/// One thing by id.
#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Its id.
    pub id: String,
}

/// `tend cases resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The case.
    pub id: String,
    /// What was done.
    #[arg(long, default_value = "")]
    pub note: String,
    /// Needed when the case has open promises: why they are released unkept.
    #[arg(long, default_value = "")]
    pub release_promises: String,
    #[command(flatten)]
    pub expected: Expected,
}

/// `tend cases reply`.
#[derive(Debug, Args)]
pub struct ReplyArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The case.
    pub id: String,
    /// The reply's text.
    #[arg(long)]
    pub text: String,
    /// Answer this interaction of the case (default: its latest).
    #[arg(long, default_value = "")]
    pub interaction: String,
    /// Send it privately (a DM) even when the post answered was public.
    #[arg(long)]
    pub private: bool,
    /// Your id for the reply, to make a retry safe (default: a new one).
    #[arg(long, default_value = "")]
    pub reply_id: String,
    /// The open promise this reply keeps, once delivered.
    #[arg(long, default_value = "")]
    pub keeps_promise: String,
}

/// `tend dead-letters …`: works on the event stream directly, so it reads the configuration.
#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// Show the dead letters of a consumer group.
    List(DeadLetterArgs),
    /// Put them back on their stream for another try.
    Replay(DeadLetterArgs),
}

/// A consumer group's dead letters.
#[derive(Debug, Args)]
pub struct DeadLetterArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The stream, e.g. interactions.identified.
    #[arg(long)]
    pub stream: String,
    /// The consumer group (the consuming service), e.g. routing.
    #[arg(long)]
    pub group: String,
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

/// `tend identity …`.
#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Import customers from a CSV or JSON Lines file (columns/keys: crm_id, given_name,
    /// family_name, emails, phones, handles as channel:handle, street, city, region, postcode,
    /// country, date_of_birth, segment, tier, lifetime_value, default_region; several values
    /// separated by `;` in CSV or as JSON lists).
    Import(ImportArgs),
    /// Link two CSV files of people (or find duplicates within one) with the same unsupervised
    /// matcher identity uses, and write the matched pairs with their probabilities. Columns
    /// follow the FEBRL names (given_name, surname, street_number, address_1, address_2, suburb,
    /// postcode, state, date_of_birth); others are ignored. Runs locally: no server needed.
    Link(LinkArgs),
}

/// `tend identity link`.
#[derive(Debug, Args)]
pub struct LinkArgs {
    /// The left file of a linkage.
    #[arg(long, requires = "right", conflicts_with = "dedupe")]
    pub left: Option<PathBuf>,
    /// The right file of a linkage.
    #[arg(long, requires = "left")]
    pub right: Option<PathBuf>,
    /// One file to find duplicates in.
    #[arg(long, required_unless_present = "left")]
    pub dedupe: Option<PathBuf>,
    /// Keep pairs at least this likely (0 to 1).
    #[arg(long, default_value_t = 0.9)]
    pub threshold: f64,
    /// Where to write the pairs as CSV (left_id,right_id,probability,weight); `-` for stdout.
    #[arg(long, short = 'o', default_value = "-")]
    pub output: PathBuf,
    /// The id column (default: rec_id, id, or the first column).
    #[arg(long)]
    pub id_column: Option<String>,
}

/// File formats of an import.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ImportFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// `tend identity import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The file.
    pub file: PathBuf,
    /// Its format (default: from the extension, .csv or .jsonl).
    #[arg(long, value_enum)]
    pub format: Option<ImportFormat>,
    /// Region (ISO 3166, e.g. GB) for phone numbers written without +country code.
    #[arg(long, default_value = "")]
    pub default_region: String,
}

/// `tend customers …`.
#[derive(Debug, Subcommand)]
pub enum CustomersCommand {
    /// Newest first.
    List(ListArgs),
    /// One customer.
    Get(GetArgs),
    /// Everything Tend holds about one customer, across services, as JSON (subject access,
    /// GDPR article 15; needs an admin key). The file holds personal data: keep it safe.
    Export(ExportArgs),
}

/// `tend customers export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The customer's id.
    pub id: String,
    /// Write the JSON here instead of to standard output.
    #[arg(long, short)]
    pub out: Option<std::path::PathBuf>,
}

/// `tend text …`.
#[derive(Debug, Subcommand)]
pub enum TextCommand {
    /// Read one text as ingest would (language, sentiment, intents, actionable, topics,
    /// entities, signature) with the cues behind each, using the tenant's dictionary and
    /// classifiers. Stores nothing.
    Enrich(EnrichArgs),
    /// Train a classifier on a labelled CSV (columns `text,label`) and store it as the task's
    /// next version; a fifth of the rows is held out and scored. Not used until activated.
    Train(TrainArgs),
    /// Score a classifier (the one in use, a version, or the built-in one) on a labelled CSV:
    /// accuracy, macro-F1, per-label precision and recall, the confusion matrix.
    Eval(EvalArgs),
    /// The tenant's classifiers for a task, newest first.
    Models(ModelsArgs),
    /// Use a version for a task from now on; `builtin` goes back to the built-in model.
    Activate(ActivateArgs),
    /// The tenant's topic dictionary.
    #[command(subcommand)]
    Topics(TopicsCommand),
}

/// Classifier tasks, as typed on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TaskArg {
    /// Labels negative, neutral, positive.
    Sentiment,
    /// Labels question, complaint, churn_risk, praise, spam, other.
    Intent,
}

/// `tend text enrich`.
#[derive(Debug, Args)]
pub struct EnrichArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The text.
    pub text: String,
    /// The channel it would come from.
    #[arg(long, value_enum, default_value = "x")]
    pub channel: ChannelArg,
    /// A language (ISO 639-1, e.g. es) to prefer when the text is too short to tell.
    #[arg(long, default_value = "")]
    pub language: String,
}

/// `tend text train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// What to learn.
    #[arg(long, value_enum)]
    pub task: TaskArg,
    /// The labelled CSV: a header naming `text` and `label` columns.
    #[arg(long)]
    pub labels: PathBuf,
    /// A note kept with the version.
    #[arg(long, default_value = "")]
    pub description: String,
    /// Activate the new version right away.
    #[arg(long)]
    pub activate: bool,
}

/// `tend text eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Which task's classifier.
    #[arg(long, value_enum)]
    pub task: TaskArg,
    /// The labelled CSV: a header naming `text` and `label` columns.
    #[arg(long)]
    pub labels: PathBuf,
    /// A version (v3), or `builtin`; default: the one in use.
    #[arg(long, default_value = "")]
    pub model: String,
}

/// `tend text models`.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Which task.
    #[arg(long, value_enum)]
    pub task: TaskArg,
}

/// `tend text activate`.
#[derive(Debug, Args)]
#[command(disable_version_flag = true)]
pub struct ActivateArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Which task.
    #[arg(long, value_enum)]
    pub task: TaskArg,
    /// The version to use (v3), or `builtin`.
    pub version: String,
}

/// `tend text topics …`.
#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Replace the dictionary with a CSV file: columns `topic,keywords`, keywords separated by
    /// `;` (e.g. `billing,invoice;charged twice;refund`).
    Put(TopicsPutArgs),
    /// Print the dictionary.
    Show(Connection),
}

/// `tend text topics put`.
#[derive(Debug, Args)]
pub struct TopicsPutArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The CSV file.
    pub file: PathBuf,
}

/// `tend rules …`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Check a rule-set file without saving it: every condition compiled, every action within
    /// its bounds. Fails, listing the problems, when there are any.
    Validate(FileArgs),
    /// Save a rule-set file as the next draft version (not used until activated).
    Put(FileArgs),
    /// Use a saved version for every interaction routed from now on.
    Activate(RulesActivateArgs),
    /// Print a version (default: the active one) in the file format `put` reads, so
    /// `tend rules show > rules.yaml` and `tend rules put rules.yaml` round-trip.
    Show(RulesShowArgs),
    /// The saved versions, newest first.
    List(ListArgs),
    /// Replay a window of recorded decisions against a rule-set file (or a saved version)
    /// without side effects, and report what would change.
    Simulate(SimulateArgs),
}

/// A command that reads one file.
#[derive(Debug, Args)]
pub struct FileArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The file: YAML (.yaml, .yml), TOML (.toml) or JSON (.json).
    pub file: PathBuf,
}

/// `tend rules activate`.
#[derive(Debug, Args)]
#[command(disable_version_flag = true)]
pub struct RulesActivateArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The version to activate, as printed by `tend rules put`.
    pub version: u32,
}

/// The formats a rule set is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// YAML.
    Yaml,
    /// TOML.
    Toml,
    /// JSON.
    Json,
}

/// `tend rules show`.
#[derive(Debug, Args)]
#[command(disable_version_flag = true)]
pub struct RulesShowArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The version; absent or 0: the active one.
    pub version: Option<u32>,
    /// How to write the rule set.
    #[arg(long, value_enum, default_value = "yaml")]
    pub format: FormatArg,
}

/// `tend rules simulate`.
#[derive(Debug, Args)]
#[command(disable_version_flag = true, group(ArgGroup::new("draft").required(true).args(["file", "version"])))]
pub struct SimulateArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The rule-set file to try (not saved).
    pub file: Option<PathBuf>,
    /// A saved version to try instead of a file.
    #[arg(long)]
    pub version: Option<u32>,
    /// Replay the decisions made since then: a duration before now ("7d", "36h") or an
    /// RFC 3339 time (2026-11-01T00:00:00Z).
    #[arg(long)]
    pub since: String,
    /// …and before then, written as `--since` is (default: now).
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many decisions, newest first (default: the server's, 20,000).
    #[arg(long, default_value_t = 0)]
    pub limit: u32,
}

/// `tend sla …`.
#[derive(Debug, Subcommand)]
pub enum SlaCommand {
    /// Create or replace the policies of a file (one policy, or a list under `policies`; see
    /// docs/examples/sla.yaml).
    Put(FileArgs),
    /// The tenant's policies, by name.
    List(Connection),
}

/// `tend calendars …`.
#[derive(Debug, Subcommand)]
pub enum CalendarsCommand {
    /// Create or replace a calendar from a file (see docs/examples/calendar.yaml), optionally
    /// with the holidays of an iCalendar file.
    Put(CalendarPutArgs),
    /// Add the holidays of an iCalendar file (such as gov.uk's bank holidays) to an existing
    /// calendar.
    Import(CalendarImportArgs),
    /// The tenant's calendars: zone, weekly hours and the next holidays.
    List(Connection),
}

/// `tend calendars put`.
#[derive(Debug, Args)]
pub struct CalendarPutArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The calendar file: YAML (.yaml, .yml), TOML (.toml) or JSON (.json).
    pub file: PathBuf,
    /// An iCalendar file (.ics) whose events become holidays too.
    #[arg(long)]
    pub ical: Option<PathBuf>,
    /// How many years from this one a yearly recurring event of `--ical` is expanded over
    /// (default 3, at most 20).
    #[arg(long, requires = "ical")]
    pub years: Option<u32>,
}

/// `tend calendars import`.
#[derive(Debug, Args)]
pub struct CalendarImportArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The calendar to add holidays to.
    pub name: String,
    /// The iCalendar file (.ics).
    pub ical: PathBuf,
    /// How many years from this one a yearly recurring event is expanded over (default 3, at
    /// most 20).
    #[arg(long)]
    pub years: Option<u32>,
}

/// `tend keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new random key: prints the key (give it to the caller; it is not shown again)
    /// and the `[[keys]]` entry for the config or keys file, which holds only its SHA-256.
    New(NewKeyArgs),
    /// Print the SHA-256 of a key read from standard input, as `sha256` takes it.
    Hash,
}

/// `tend keys new`.
#[derive(Debug, Args)]
pub struct NewKeyArgs {
    /// A name for logs and audit trails, e.g. "acme agents 2026-12".
    #[arg(long)]
    pub name: String,
    /// What the key may do.
    #[arg(long, value_enum)]
    pub role: KeyRole,
    /// The tenant it acts for (not for role `service`).
    #[arg(long)]
    pub tenant: Option<String>,
    /// The queue agent whose key it is: it may then act in the queue only as that agent.
    #[arg(long)]
    pub agent: Option<String>,
}

/// A key's role, as `tend keys new --role` takes it.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyRole {
    /// Everything, including configuration and erasure.
    Admin,
    /// Read and work cases.
    Agent,
    /// Tend's own services and trusted internal callers, for the tenant each request names.
    Service,
    /// Read only.
    Viewer,
    /// A tenant's public website or survey page: published testimonials and survey answers only.
    Website,
}
