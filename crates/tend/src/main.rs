//! `tend`: run Tend's services, or talk to a running Tend.

mod agents_cmd;
mod channels_cmd;
mod cli;
mod commands;
mod departments_cmd;
mod export_cmd;
mod feedback_cmd;
#[cfg(test)]
mod fuzz_support;
mod guides_cmd;
mod identity_cmd;
mod incidents_cmd;
mod initiatives_cmd;
mod insights_cmd;
mod keys_cmd;
mod queue_cmd;
mod report_cmd;
mod rules_cmd;
mod serve;
mod text_cmd;
mod tipsheet_cmd;
mod topics_cmd;

use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command};

/// mimalloc instead of the system allocator: Tend allocates per event and per row, and glibc's
/// malloc and free took about a third of the pipeline's CPU (perf, 5,000 posts/s on PostgreSQL).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Stack of each runtime thread. Routing compiles and evaluates tenants' CEL rules on them, and
/// CEL's parser and evaluator recurse with an expression's depth: conditions are bounded
/// (docs/ROUTING.md), and a larger stack keeps a shape the bounds missed from overflowing it,
/// which would abort the process.
const THREAD_STACK_BYTES: usize = 8 * 1024 * 1024;

fn main() -> ExitCode {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().thread_stack_size(THREAD_STACK_BYTES).build();
    match runtime {
        Ok(runtime) => runtime.block_on(run()),
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Dev(args) => serve::dev(args).await,
        Command::Serve(args) => serve::serve(args).await,
        Command::Migrate(args) => serve::migrate(args).await,
        Command::DeadLetters(command) => serve::dead_letters(command).await,
        Command::Post(args) => commands::post(args).await,
        Command::Interactions(command) => commands::interactions(command).await,
        Command::Cases(command) => commands::cases(command).await,
        Command::Incidents(command) => incidents_cmd::incidents(command).await,
        Command::Topics(args) => topics_cmd::topics(args).await,
        Command::Thresholds(command) => topics_cmd::thresholds(command).await,
        Command::Tipsheet(args) => tipsheet_cmd::tipsheet(args).await,
        Command::Profiles(command) => commands::profiles(command).await,
        Command::Decisions(command) => commands::decisions(command).await,
        Command::Rules(command) => rules_cmd::rules(command).await,
        Command::Sla(command) => rules_cmd::sla(command).await,
        Command::Calendars(command) => rules_cmd::calendars(command).await,
        Command::Channels(command) => channels_cmd::channels(command).await,
        Command::Agents(command) => agents_cmd::agents(command).await,
        Command::Teams(command) => agents_cmd::teams(command).await,
        Command::Queue(command) => queue_cmd::queue(command).await,
        Command::Departments(command) => departments_cmd::departments(command).await,
        Command::Guides(command) => guides_cmd::guides(command).await,
        Command::Surveys(command) => feedback_cmd::surveys(command).await,
        Command::Testimonials(command) => feedback_cmd::testimonials(command).await,
        Command::Report(args) => report_cmd::report(args).await,
        Command::Export(command) => insights_cmd::export(command).await,
        Command::Initiatives(command) => initiatives_cmd::initiatives(command).await,
        Command::Identity(cli::IdentityCommand::Import(args)) => identity_cmd::import(args).await,
        Command::Identity(cli::IdentityCommand::Link(args)) => identity_cmd::link(args),
        Command::Customers(command) => identity_cmd::customers(command).await,
        Command::Text(command) => text_cmd::run(command).await,
        Command::Keys(command) => keys_cmd::keys(command),
        Command::Health(connection) => commands::health(connection).await,
        Command::Loadgen(args) => tend_loadgen::run(args).await.map(|_| ()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
