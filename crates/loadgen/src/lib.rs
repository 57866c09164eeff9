//! `tend loadgen`: realistic social care traffic for a Tend on this machine, counted from post
//! to case.
//!
//! The binary flattens [`LoadgenArgs`] into its `loadgen` subcommand and calls [`run`]:
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! let args = tend_loadgen::LoadgenArgs::parse_from(["--rate", "1000", "--duration", "60s"])?;
//! let report = tend_loadgen::run(args).await?; // prints progress and the summary
//! println!("{:.0} posts/s end to end", report.end_to_end.map_or(0.0, |e2e| e2e.posts_per_s));
//! # Ok(()) }
//! ```
//!
//! The traffic ([`traffic`]) is a pure function of the seed: questions, complaints, churn risks,
//! praise, spam, reposts and near-duplicates of viral complaints, in five languages on six
//! channels, from a long-tailed population of authors some of whom are known CRM customers, with
//! a burst on an outage topic. The runner sends it paced (`--rate`, open loop) or as fast as
//! answered (`--max`), checks every answer, then follows every acknowledged post to its case
//! through `CaseService.ListCases` and `FeedbackService.GetServiceReport`. See
//! `docs/BENCHMARKS.md` for how `scripts/bench.sh` uses it.

mod args;
mod report;
mod rng;
pub mod rules;
mod runner;
mod target;
mod text;
pub mod traffic;

pub use args::{EXAMPLES, LONG_ABOUT, LoadgenArgs};
pub use report::{Ack, Backlog, CallCounts, CrmFile, EndToEnd, Latency, Mix, PostCounts, Report, Sample, Settings};
pub use runner::run;
pub use target::check_loopback;
pub use text::Language;
