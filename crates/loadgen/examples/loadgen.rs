//! The load generator on its own, for trying it before (or without) the `tend` binary:
//!
//! ```sh
//! cargo run --release -p tend-loadgen --example loadgen -- --rate 1000 --duration 60s
//! ```
//!
//! Takes exactly the arguments of `tend loadgen`.

use std::process::ExitCode;

use clap::Parser;

/// `loadgen`: the arguments of `tend loadgen`.
#[derive(Debug, Parser)]
#[command(name = "loadgen", about = "Send realistic load to a Tend on this machine and count it from post to case.")]
struct Cli {
    #[command(flatten)]
    args: tend_loadgen::LoadgenArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    match tend_loadgen::run(Cli::parse().args).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
