//! `tend queue …`: the work the universal queue hands agents (docs/QUEUE.md).

use tend_proto::v1;

use crate::cli::QueueCommand;
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
