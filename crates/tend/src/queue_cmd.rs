//! `tend queue …`: the work the universal queue hands agents (docs/QUEUE.md).

use tend_proto::v1;

use crate::cli::{QueueCommand, StrategyArg};
use crate::commands::{channel_name, connect, failed, time};

/// Runs one `tend queue` command.
pub async fn queue(command: QueueCommand) -> anyhow::Result<()> {
    match command {
        QueueCommand::Watch(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::WatchOffersRequest { agent_id: args.agent };
            let mut offers = client.queue().watch_offers(request).await.map_err(failed)?.into_inner();
            while let Some(event) = offers.message().await.map_err(failed)? {
                if let Some(offer) = &event.offer {
                    println!("{}", offer_line(offer));
                }
            }
        }
        QueueCommand::Accept(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::AcceptOfferRequest { offer_id: args.offer, agent_id: args.agent };
            let assignment = client.queue().accept_offer(request).await.map_err(failed)?.into_inner();
            print_assignment(&assignment);
        }
        QueueCommand::Decline(args) => {
            let client = connect(&args.offer.connection).await?;
            let request =
                v1::DeclineOfferRequest { offer_id: args.offer.offer, agent_id: args.offer.agent, reason: args.reason };
            let offer = client.queue().decline_offer(request).await.map_err(failed)?.into_inner();
            println!("{}", offer_line(&offer));
        }
        QueueCommand::Stats(args) => {
            let client = connect(&args.connection).await?;
            loop {
                let request = v1::GetQueueStatsRequest { queue: args.queue.clone() };
                let stats = client.queue().get_queue_stats(request).await.map_err(failed)?.into_inner();
                let Some(every) = args.every else {
                    print!("{}", stats_table(&stats));
                    break;
                };
                // Clear the screen and draw the figures again, as `watch` does.
                print!("\x1b[2J\x1b[H{}", stats_table(&stats));
                tokio::time::sleep(every.into()).await;
            }
        }
        QueueCommand::Policy(args) => {
            let client = connect(&args.connection).await?;
            let seconds = |span: Option<humantime::Duration>| {
                span.map_or(Ok(0), |span| {
                    u32::try_from(std::time::Duration::from(span).as_secs())
                        .map_err(|_| anyhow::anyhow!("{span} is too long"))
                })
            };
            let strategy = match args.strategy {
                StrategyArg::LeastActive => v1::QueueStrategy::LeastActive,
                StrategyArg::MostAvailable => v1::QueueStrategy::MostAvailable,
                StrategyArg::LongestIdle => v1::QueueStrategy::LongestIdle,
            };
            let policy = v1::QueuePolicy {
                queue: args.queue,
                strategy: strategy.into(),
                relax_after_seconds: seconds(args.relax_after)?,
                drop_skills_after_seconds: seconds(args.drop_skills_after)?,
                overflow_after_seconds: seconds(args.overflow_after)?,
                overflow_to: args.overflow_to,
                updated_at: None,
            };
            let request = v1::PutQueuePolicyRequest { policy: Some(policy) };
            let saved = client.queue().put_queue_policy(request).await.map_err(failed)?.into_inner();
            println!("queue {} policy saved", saved.queue);
            println!("{}", policy_line(&saved));
        }
        QueueCommand::Policies(connection) => {
            let client = connect(&connection).await?;
            let listed = client.queue().list_queue_policies(v1::ListQueuePoliciesRequest {}).await.map_err(failed)?;
            let policies = listed.into_inner().policies;
            for policy in &policies {
                println!("{}", policy_line(policy));
            }
            if policies.is_empty() {
                println!("no queue policies: every queue offers to the least active agent first, and nothing relaxes");
            }
        }
        QueueCommand::Next(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::NextWorkRequest { agent_id: args.agent.clone() };
            match client.queue().next_work(request).await.map_err(failed)?.into_inner().assignment {
                Some(assignment) => print_assignment(&assignment),
                None => println!("nothing waits that {} may take now (or they have no room)", args.agent),
            }
        }
    }
    Ok(())
}

/// One line per offer event: its state, id and case, and what the case is.
fn offer_line(offer: &v1::Offer) -> String {
    let state = offer.state().as_str_name().trim_start_matches("OFFER_STATE_").to_lowercase();
    let item = offer.item.clone().unwrap_or_default();
    let mut line = format!(
        "{state:<9} offer {}  case {}  p{:<3} {:<9} queue {}",
        offer.id,
        item.case_id,
        item.priority,
        channel_name(item.channel),
        item.queue
    );
    if !item.language.is_empty() {
        line.push_str(&format!("  language {}", item.language));
    }
    if item.first_response_due.is_some() {
        line.push_str(&format!("  due {}", time(item.first_response_due.as_ref())));
    }
    if offer.state() == v1::OfferState::Open {
        line.push_str(&format!("  answer by {}", time(offer.expires_at.as_ref())));
    }
    line
}

fn print_assignment(assignment: &v1::Assignment) {
    let item = assignment.item.clone().unwrap_or_default();
    println!(
        "case {} assigned to {} (p{}, {}, queue {})",
        item.case_id,
        assignment.agent_id,
        item.priority,
        channel_name(item.channel),
        item.queue
    );
}

/// The statistics as a table: a line per queue, then the agents.
fn stats_table(stats: &v1::QueueStats) -> String {
    let mut table = format!(
        "{:<16} {:>7} {:>8} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7} {:>8} {:>7} {:>8}\n",
        "queue",
        "waiting",
        "oldest",
        "p0-19",
        "p20-39",
        "p40-59",
        "p60-79",
        "p80+",
        "at risk",
        "breached",
        "offered",
        "assigned"
    );
    for queue in &stats.queues {
        let band = |index: usize| queue.waiting_by_priority.get(index).copied().unwrap_or(0);
        let oldest = humantime::format_duration(std::time::Duration::from_secs(queue.oldest_wait_seconds))
            .to_string()
            .replace(' ', "");
        table.push_str(&format!(
            "{:<16} {:>7} {:>8} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7} {:>8} {:>7} {:>8}\n",
            queue.queue,
            queue.waiting,
            if queue.waiting == 0 { "-".to_owned() } else { oldest },
            band(0),
            band(1),
            band(2),
            band(3),
            band(4),
            queue.at_risk,
            queue.breached,
            queue.offered,
            queue.assigned
        ));
    }
    if stats.queues.is_empty() {
        table.push_str("(no active cases)\n");
    }
    let agents: Vec<String> = stats
        .agents
        .iter()
        .map(|count| {
            let presence = count.presence().as_str_name().trim_start_matches("PRESENCE_").to_lowercase();
            format!("{} {presence}", count.agents)
        })
        .collect();
    table.push_str(&format!(
        "agents: {}   occupancy {:.0}%   at {}\n",
        if agents.is_empty() { "none".to_owned() } else { agents.join(", ") },
        stats.occupancy * 100.0,
        time(stats.at.as_ref())
    ));
    table
}

/// One line per policy.
fn policy_line(policy: &v1::QueuePolicy) -> String {
    let strategy =
        policy.strategy().as_str_name().trim_start_matches("QUEUE_STRATEGY_").to_lowercase().replace('_', "-");
    let span =
        |seconds: u32| humantime::format_duration(std::time::Duration::from_secs(u64::from(seconds))).to_string();
    let mut line =
        format!("{:<16} {}", policy.queue, if strategy == "unspecified" { "least-active" } else { &strategy });
    if policy.relax_after_seconds > 0 {
        line.push_str(&format!("  levels lowered after {}", span(policy.relax_after_seconds)));
    }
    if policy.drop_skills_after_seconds > 0 {
        line.push_str(&format!("  skills dropped after {}", span(policy.drop_skills_after_seconds)));
    }
    if policy.overflow_after_seconds > 0 {
        line.push_str(&format!("  to {} after {}", policy.overflow_to, span(policy.overflow_after_seconds)));
    }
    line
}
