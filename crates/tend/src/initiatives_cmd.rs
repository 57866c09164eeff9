//! `tend initiatives …`: register campaigns, product fixes and process changes, and see what
//! changed after each started (docs/FEEDBACK.md, "Initiatives").
//!
//! The arguments live here rather than in `cli.rs`: the command group is self-contained, and
//! `cli.rs` only names it.

use clap::{Args, Subcommand, ValueEnum};
use tend_proto::v1;

use crate::cli::{ChannelArg, Connection, ListArgs};
use crate::commands::{connect, failed, or_dash, print_next, time};
use crate::report_cmd::table;

/// `tend initiatives …`.
#[derive(Debug, Subcommand)]
pub enum InitiativesCommand {
    /// Register an initiative (admin).
    Create(CreateArgs),
    /// One initiative.
    Get(IdArgs),
    /// The tenant's initiatives, newest first.
    List(ListArgs),
    /// Replace an initiative's name, kind, description, start, scope and team (admin).
    Update(UpdateArgs),
    /// Delete an initiative (admin).
    Delete(IdArgs),
    /// Before vs after its start, over equal windows, each change with its test.
    Report(InitiativeReportArgs),
}

/// What an initiative is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    /// A marketing or communication campaign.
    Campaign,
    /// A fix to the product.
    ProductFix,
    /// A change to how the care team works.
    ProcessChange,
}

/// An initiative as the command line gives it.
#[derive(Debug, Args)]
pub struct InitiativeArgs {
    /// Its name.
    #[arg(long)]
    pub name: String,
    /// What it is.
    #[arg(long, value_enum)]
    pub kind: KindArg,
    /// When it started (or starts), RFC 3339.
    #[arg(long)]
    pub starts_at: chrono::DateTime<chrono::Utc>,
    /// A topic it is about (repeat for more).
    #[arg(long = "topic")]
    pub topics: Vec<String>,
    /// A channel it is about (repeat for more).
    #[arg(long = "channel", value_enum)]
    pub channels: Vec<ChannelArg>,
    /// A CRM segment it is about (repeat for more).
    #[arg(long = "segment")]
    pub segments: Vec<String>,
    /// The team behind it.
    #[arg(long, default_value = "")]
    pub team: String,
    /// What it is, in words.
    #[arg(long, default_value = "")]
    pub description: String,
}

impl InitiativeArgs {
    fn into_proto(self, id: String) -> v1::Initiative {
        v1::Initiative {
            id,
            name: self.name,
            kind: match self.kind {
                KindArg::Campaign => v1::InitiativeKind::Campaign,
                KindArg::ProductFix => v1::InitiativeKind::ProductFix,
                KindArg::ProcessChange => v1::InitiativeKind::ProcessChange,
            } as i32,
            description: self.description,
            starts_at: Some(tend_kernel::ids::to_timestamp(self.starts_at)),
            scope: Some(v1::InitiativeScope {
                topics: self.topics,
                channels: self.channels.into_iter().map(|channel| v1::Channel::from(channel) as i32).collect(),
                segments: self.segments,
            }),
            team: self.team,
            ..Default::default()
        }
    }
}

/// `tend initiatives create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(flatten)]
    pub initiative: InitiativeArgs,
    /// Makes the call safe to retry; default: a new key.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

/// `tend initiatives update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The initiative.
    pub id: String,
    #[command(flatten)]
    pub initiative: InitiativeArgs,
}

/// One initiative by id.
#[derive(Debug, Args)]
pub struct IdArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The initiative.
    pub id: String,
}

/// `tend initiatives report`.
#[derive(Debug, Args)]
pub struct InitiativeReportArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The initiative.
    pub id: String,
    /// Days in each window (1 to 365); default: the days since the start, up to 28.
    #[arg(long, default_value_t = 0)]
    pub window_days: u32,
    /// Print the InitiativeReport message as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs one `tend initiatives` command.
pub async fn initiatives(command: InitiativesCommand) -> anyhow::Result<()> {
    match command {
        InitiativesCommand::Create(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::CreateInitiativeRequest {
                idempotency_key: args.idempotency_key.unwrap_or_else(tend_kernel::ids::new_id),
                initiative: Some(args.initiative.into_proto(String::new())),
            };
            print_initiative(&client.feedback().create_initiative(request).await.map_err(failed)?.into_inner());
        }
        InitiativesCommand::Get(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::GetInitiativeRequest { id: args.id };
            print_initiative(&client.feedback().get_initiative(request).await.map_err(failed)?.into_inner());
        }
        InitiativesCommand::List(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::ListInitiativesRequest { page_size: args.limit, page_token: args.page_token };
            let page = client.feedback().list_initiatives(request).await.map_err(failed)?.into_inner();
            for initiative in &page.initiatives {
                println!(
                    "{}  {:<15} starts {}  {}",
                    initiative.id,
                    kind_name(initiative.kind),
                    time(initiative.starts_at.as_ref()),
                    initiative.name
                );
            }
            if page.initiatives.is_empty() {
                println!("no initiatives yet: `tend initiatives create --name … --kind product-fix --starts-at …`");
            }
            print_next(&page.next_page_token);
        }
        InitiativesCommand::Update(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::UpdateInitiativeRequest { initiative: Some(args.initiative.into_proto(args.id)) };
            print_initiative(&client.feedback().update_initiative(request).await.map_err(failed)?.into_inner());
        }
        InitiativesCommand::Delete(args) => {
            let client = connect(&args.connection).await?;
            let id = args.id.clone();
            let request = v1::DeleteInitiativeRequest { id: args.id };
            let deleted = client.feedback().delete_initiative(request).await.map_err(failed)?.into_inner().deleted;
            println!("{}", if deleted { format!("initiative {id} deleted") } else { format!("no initiative {id}") });
        }
        InitiativesCommand::Report(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::GetInitiativeReportRequest { id: args.id, window_days: args.window_days };
            let report = client.feedback().get_initiative_report(request).await.map_err(failed)?.into_inner();
            if args.json {
                let descriptors = tend_kernel::proto_json::Descriptors::decode(tend_proto::FILE_DESCRIPTOR_SET)?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&descriptors.to_json("tend.v1.InitiativeReport", &report))?
                );
            } else {
                print!("{}", report_text(&report));
            }
        }
    }
    Ok(())
}

fn kind_name(kind: i32) -> String {
    v1::InitiativeKind::try_from(kind)
        .map(|kind| kind.as_str_name().trim_start_matches("INITIATIVE_KIND_").to_lowercase().replace('_', "-"))
        .unwrap_or_default()
}

fn print_initiative(initiative: &v1::Initiative) {
    let scope = initiative.scope.clone().unwrap_or_default();
    let channels: Vec<String> = scope
        .channels
        .iter()
        .map(|channel| {
            v1::Channel::try_from(*channel)
                .map(|channel| channel.as_str_name().trim_start_matches("CHANNEL_").to_lowercase())
                .unwrap_or_default()
        })
        .collect();
    println!("initiative:  {}", initiative.id);
    println!("name:        {}", initiative.name);
    println!("kind:        {}", kind_name(initiative.kind));
    println!("starts at:   {}", time(initiative.starts_at.as_ref()));
    println!("topics:      {}", or_dash(&scope.topics.join(", ")));
    println!("channels:    {}", or_dash(&channels.join(", ")));
    println!("segments:    {}", or_dash(&scope.segments.join(", ")));
    println!("team:        {}", or_dash(&initiative.team));
    if !initiative.description.is_empty() {
        println!("description: {}", initiative.description);
    }
}

/// The report as a table of changes.
fn report_text(report: &v1::InitiativeReport) -> String {
    let name = report.initiative.as_ref().map_or("", |initiative| initiative.name.as_str());
    let mut out = format!(
        "{name}: before {} .. {}, after {} .. {}\n\n",
        time(report.before_from.as_ref()),
        time(report.starts_at_hour.as_ref()),
        time(report.starts_at_hour.as_ref()),
        time(report.after_to.as_ref())
    );
    let row = |change: &v1::InitiativeChange| {
        vec![
            change.metric.clone(),
            format!("{:.1}", change.before),
            format!("{:.1}", change.after),
            format!("{:+.1}", change.change),
            if change.before == 0.0 { "-".to_owned() } else { format!("{:+.0}%", change.relative_change_percent) },
            format!("{}/{}", change.before_n, change.after_n),
            change.test.clone(),
            format!("{:.3}", change.p_value),
            if change.significant { "yes".to_owned() } else { "no".to_owned() },
        ]
    };
    let header = ["figure", "before", "after", "change", "relative", "n before/after", "test", "p", "more than noise"];
    out.push_str(&table(&header, &report.changes.iter().map(row).collect::<Vec<_>>()));
    if !report.cases_by_topic.is_empty() {
        out.push_str("\ncases by topic\n");
        let mut header = header;
        header[0] = "topic";
        out.push_str(&table(&header, &report.cases_by_topic.iter().map(row).collect::<Vec<_>>()));
    }
    out
}
