//! `tend guides …` and `tend cases guide`: decision-tree guides from files, and stepping
//! through one on a case (docs/CASES.md).

use std::path::Path;

use serde::Deserialize;
use tend_proto::v1;

use crate::cli::{self, GuidesCommand};
use crate::commands::{connect, failed};
use crate::rules_cmd::read_file;

/// A guide file (YAML, TOML or JSON).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GuideFile {
    name: String,
    #[serde(default)]
    title: String,
    start: String,
    nodes: Vec<NodeFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeFile {
    id: String,
    text: String,
    #[serde(default)]
    answers: Vec<AnswerFile>,
    #[serde(default)]
    suggest_reply: String,
    #[serde(default)]
    suggest_tag: String,
    #[serde(default)]
    suggest_department: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerFile {
    label: String,
    next: String,
}

fn guide_of(file: GuideFile) -> v1::Guide {
    v1::Guide {
        name: file.name,
        title: file.title,
        start: file.start,
        nodes: file
            .nodes
            .into_iter()
            .map(|node| v1::GuideNode {
                id: node.id,
                text: node.text,
                answers: node.answers.into_iter().map(|a| v1::GuideAnswer { label: a.label, next: a.next }).collect(),
                suggest_reply: node.suggest_reply,
                suggest_tag: node.suggest_tag,
                suggest_department: node.suggest_department,
            })
            .collect(),
        ..Default::default()
    }
}

/// Runs one `tend guides` command.
pub async fn guides(command: GuidesCommand) -> anyhow::Result<()> {
    match command {
        GuidesCommand::Put { connection, file } => put(&connection, &file).await,
        GuidesCommand::Show { connection, name, guide_version: version } => {
            let client = connect(&connection).await?;
            let guide = client.cases().get_guide(v1::GetGuideRequest { name, version }).await.map_err(failed)?;
            print_guide(&guide.into_inner());
            Ok(())
        }
        GuidesCommand::List(connection) => {
            let client = connect(&connection).await?;
            let guides = client.cases().list_guides(v1::ListGuidesRequest {}).await.map_err(failed)?.into_inner();
            for guide in &guides.guides {
                println!("{:<24} v{:<4} {:>3} nodes  {}", guide.name, guide.version, guide.nodes.len(), guide.title);
            }
            if guides.guides.is_empty() {
                println!("no guides yet: `tend guides put docs/examples/guide.yaml`");
            }
            Ok(())
        }
    }
}

async fn put(connection: &cli::Connection, file: &Path) -> anyhow::Result<()> {
    let guide = guide_of(read_file(file)?);
    let client = connect(connection).await?;
    let saved = client.cases().put_guide(v1::PutGuideRequest { guide: Some(guide) }).await.map_err(failed)?;
    let saved = saved.into_inner();
    println!("guide {} saved as version {} ({} nodes)", saved.name, saved.version, saved.nodes.len());
    Ok(())
}

fn print_guide(guide: &v1::Guide) {
    println!("{} v{}: {} (starts at {})", guide.name, guide.version, guide.title, guide.start);
    for node in &guide.nodes {
        println!("  [{}] {}", node.id, node.text);
        for (index, answer) in node.answers.iter().enumerate() {
            println!("      {index}. {} -> {}", answer.label, answer.next);
        }
    }
}

/// `tend cases guide`: a step of a guide on a case, and where it leads.
pub async fn step(args: cli::StepGuideArgs) -> anyhow::Result<()> {
    let client = connect(&args.connection).await?;
    let request = v1::StepGuideRequest {
        case_id: args.id,
        guide: args.guide,
        version: args.guide_version,
        node_id: args.node,
        answer: args.answer,
    };
    let response = client.cases().step_guide(request).await.map_err(failed)?.into_inner();
    let Some(node) = response.node else { return Ok(()) };
    println!("[{}] {}", node.id, node.text);
    for (index, answer) in node.answers.iter().enumerate() {
        println!("  {index}. {}   (--node {} --answer {index})", answer.label, node.id);
    }
    for (what, value) in
        [("reply", &node.suggest_reply), ("tag", &node.suggest_tag), ("escalate to", &node.suggest_department)]
    {
        if !value.is_empty() {
            println!("  suggested {what}: {value}");
        }
    }
    if response.done {
        println!("(end of the guide)");
    }
    Ok(())
}
