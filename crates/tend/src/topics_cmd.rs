//! `tend topics` (the tenant's topics as the burst detector sees them, once or live) and
//! `tend thresholds …` (escalation thresholds that open incidents): docs/ROUTING.md, "Hot topics
//! and escalations".

use clap::{Args, Subcommand};
use tend_proto::v1;

use crate::cli::Connection;
use crate::commands::{connect, failed, time};

/// `tend topics`.
#[derive(Debug, Args)]
pub struct TopicsArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Only the hot ones.
    #[arg(long)]
    pub hot: bool,
    /// Draw the table again at this interval (e.g. 5s) until interrupted, as `watch` does.
    #[arg(long)]
    pub every: Option<humantime::Duration>,
}

/// `tend thresholds …`.
#[derive(Debug, Subcommand)]
pub enum ThresholdsCommand {
    /// Save a threshold (needs an admin key): "--posts N on --topic T --within WINDOW", or
    /// "--cluster-size N similar posts", opens an incident once per burst.
    Put(PutThresholdArgs),
    /// The tenant's thresholds.
    List(Connection),
    /// Remove a threshold (needs an admin key).
    Delete(DeleteThresholdArgs),
}

/// `tend thresholds put`.
#[derive(Debug, Args)]
pub struct PutThresholdArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Its name (a-z, 0-9, '-', '_', '.'); saving the same name replaces it.
    pub name: String,
    /// How many posts on the topic cross it.
    #[arg(long, required_unless_present = "cluster_size")]
    pub posts: Option<u32>,
    /// Within how long, in whole minutes (e.g. 2h, 30m).
    #[arg(long, required_unless_present = "cluster_size")]
    pub within: Option<humantime::Duration>,
    /// Instead: a cluster of this many similar posts crosses it.
    #[arg(long, conflicts_with_all = ["posts", "within", "topic"])]
    pub cluster_size: Option<u32>,
    /// The topic it watches; none: every topic, each on its own.
    #[arg(long, default_value = "")]
    pub topic: String,
    /// The department the incident goes to.
    #[arg(long, default_value = "")]
    pub department: String,
}

/// `tend thresholds delete`.
#[derive(Debug, Args)]
pub struct DeleteThresholdArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The threshold's name.
    pub name: String,
}

/// Runs `tend topics`.
pub async fn topics(args: TopicsArgs) -> anyhow::Result<()> {
    let client = connect(&args.connection).await?;
    loop {
        let request = v1::ListHotTopicsRequest { hot_only: args.hot };
        let topics = client.routing().list_hot_topics(request).await.map_err(failed)?.into_inner().topics;
        let Some(every) = args.every else {
            print!("{}", topics_table(&topics));
            return Ok(());
        };
        print!("\x1b[2J\x1b[H{}", topics_table(&topics));
        tokio::time::sleep(every.into()).await;
    }
}

/// Runs one `tend thresholds` command.
pub async fn thresholds(command: ThresholdsCommand) -> anyhow::Result<()> {
    match command {
        ThresholdsCommand::Put(args) => {
            let client = connect(&args.connection).await?;
            let window = args.within.map_or(0, |within| std::time::Duration::from(within).as_secs());
            let threshold = v1::EscalationThreshold {
                name: args.name,
                topic: args.topic,
                posts: args.posts.unwrap_or(0),
                window_seconds: u32::try_from(window).map_err(|_| anyhow::anyhow!("--within is too long"))?,
                department: args.department,
                updated_at: None,
                cluster_size: args.cluster_size.unwrap_or(0),
            };
            let request = v1::PutEscalationThresholdRequest { threshold: Some(threshold) };
            let saved = client.routing().put_escalation_threshold(request).await.map_err(failed)?.into_inner();
            println!("threshold {} saved", saved.name);
            println!("{}", threshold_line(&saved));
        }
        ThresholdsCommand::List(connection) => {
            let client = connect(&connection).await?;
            let request = v1::ListEscalationThresholdsRequest {};
            let listed = client.routing().list_escalation_thresholds(request).await.map_err(failed)?.into_inner();
            for threshold in &listed.thresholds {
                println!("{}", threshold_line(threshold));
            }
            if listed.thresholds.is_empty() {
                println!("no thresholds: `tend thresholds put NAME --posts 20 --within 2h --topic TOPIC`");
            }
        }
        ThresholdsCommand::Delete(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::DeleteEscalationThresholdRequest { name: args.name };
            let removed = client.routing().delete_escalation_threshold(request).await.map_err(failed)?.into_inner();
            println!("threshold {} removed", removed.name);
        }
    }
    Ok(())
}

/// A window in words: "2h", "90m".
fn span(seconds: u32) -> String {
    let minutes = seconds / 60;
    if minutes.is_multiple_of(60) { format!("{}h", minutes / 60) } else { format!("{minutes}m") }
}

fn threshold_line(threshold: &v1::EscalationThreshold) -> String {
    let topic = if threshold.topic.is_empty() { "any topic" } else { threshold.topic.as_str() };
    let department =
        if threshold.department.is_empty() { String::new() } else { format!("  -> {}", threshold.department) };
    if threshold.cluster_size > 0 {
        return format!("{:<24}  a cluster of {} similar posts{department}", threshold.name, threshold.cluster_size);
    }
    format!(
        "{:<24}  {} posts on {topic} within {}{department}",
        threshold.name,
        threshold.posts,
        span(threshold.window_seconds)
    )
}

/// The topics as a table: hot ones first, with their reason.
fn topics_table(topics: &[v1::HotTopic]) -> String {
    if topics.is_empty() {
        return "no topics assessed yet: they come from the tenant's dictionary (`tend text topics put`) \
                once posts mention them\n"
            .to_owned();
    }
    let mut table = format!(
        "{:<24}  {:<4}  {:>6}  {:>9}  {:>6}  {:<8}  {}\n",
        "topic", "hot", "posts", "expected", "heat", "trend", "why"
    );
    for topic in topics {
        let trend = match v1::TopicTrend::try_from(topic.trend).unwrap_or(v1::TopicTrend::Unspecified) {
            v1::TopicTrend::Rising => "rising",
            v1::TopicTrend::Falling => "falling",
            v1::TopicTrend::Steady => "steady",
            v1::TopicTrend::Unspecified => "-",
        };
        let mut why = topic.reason.clone();
        if let Some(since) = &topic.hot_since {
            why.push_str(&format!(" (hot since {})", time(Some(since))));
        }
        if !topic.escalation_key.is_empty() {
            why.push_str(&format!("; escalated {}", topic.escalation_key));
        }
        table.push_str(&format!(
            "{:<24}  {:<4}  {:>6}  {:>9.1}  {:>6.2}  {:<8}  {why}\n",
            topic.topic,
            if topic.hot { "HOT" } else { "" },
            topic.posts,
            topic.expected,
            topic.heat,
            trend
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_and_topics_read_in_words() {
        let threshold = v1::EscalationThreshold {
            name: "outage-burst".into(),
            topic: "outage".into(),
            posts: 20,
            window_seconds: 7200,
            department: "it".into(),
            updated_at: None,
            cluster_size: 0,
        };
        assert!(threshold_line(&threshold).ends_with("20 posts on outage within 2h  -> it"));
        let cluster = v1::EscalationThreshold { cluster_size: 50, department: String::new(), ..threshold };
        assert!(threshold_line(&cluster).ends_with("a cluster of 50 similar posts"), "{}", threshold_line(&cluster));
        let topic = v1::HotTopic {
            topic: "outage".into(),
            hot: true,
            posts: 41,
            expected: 4.5,
            heat: 0.89,
            trend: v1::TopicTrend::Rising.into(),
            reason: "41 posts in 30 min, 9× the usual for a Tuesday morning".into(),
            ..Default::default()
        };
        let table = topics_table(&[topic]);
        assert!(table.contains("HOT") && table.contains("rising") && table.contains("9× the usual"), "{table}");
    }
}
