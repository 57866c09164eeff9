//! The command line of `tend loadgen`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::traffic::{ChannelNames, KindNames, LanguageNames, WeightNames as _, Weights};

/// What the command does, in a paragraph: the long `about` of a command built from
/// [`LoadgenArgs`] alone (a doc comment on the subcommand's variant replaces it; the rest of the
/// usage is in [`EXAMPLES`], which shows either way).
pub const LONG_ABOUT: &str = "\
Send realistic social care traffic to a Tend on this machine and count it from post to case: \
ack and end-to-end rates, latency percentiles, posts lost and cases duplicated.";

/// How it works and examples, shown at the end of `tend loadgen --help`.
pub const EXAMPLES: &str = "\
How it works:
  The posts are deterministic from --seed: questions, complaints with order numbers, churn risks
  (\"thinking of switching to ...\", \"cancel my subscription\"), praise, spam, retweets and
  near-duplicates of a few viral complaints, on X, Facebook, Instagram, email, chat and reviews,
  in English, Spanish, French, German and Portuguese, from ordinary authors and a long tail of
  influencers, some of them known CRM customers (see --write-crm), with a burst on an outage
  topic part way through. Every post has its own id unless --duplicates asks for redeliveries.

  The load is paced at --rate posts per second (open loop: latency counts from each post's
  scheduled send time, so queueing is not hidden) or sent as fast as answered (--max), until
  --count posts or --duration has passed. Every answer is checked. Then it waits (at most
  --drain-timeout) until every acknowledged post is a case (CaseService.ListCases) and feedback
  has seen it (FeedbackService.GetServiceReport), and reports the ack rate and latency, the
  end-to-end rate (posts / first send to last case opened) and latency (case opened_at - post's
  scheduled send), posts lost, cases duplicated, and, once a second, the backlog (posts acked
  minus cases feedback has seen), which must not grow for a rate to count as sustained.

  It only talks to 127.0.0.1, ::1 or localhost. Each run uses a fresh tenant
  (loadgen-<seed>-<random>) unless --tenant is given; with authentication off the tenant goes in
  the x-tend-tenant header. See docs/BENCHMARKS.md.

Examples:
  # 1,000 posts/s for a minute; end-to-end latency at a steady rate
  tend loadgen --rate 1000 --duration 60s

  # As fast as it goes: 50,000 posts in batches of 100 from 8 callers
  tend loadgen --max --batch 100 --concurrency 8 --count 50000

  # Ingest only (no cases expected), unary calls from 64 callers, figures as JSON
  tend loadgen --max --concurrency 64 --duration 30s --no-drain --json ack.json

  # Known customers: write the CRM file, import it into a tenant, then send as that tenant
  tend loadgen --seed 7 --write-crm crm.csv
  tend identity import --tenant lg7 crm.csv
  tend loadgen --seed 7 --tenant lg7 --rate 500 --count 20000

  # 1% exact redeliveries (answered duplicate: true; not counted as lost)
  tend loadgen --rate 2000 --duration 30s --duplicates 0.01";

/// `tend loadgen`: the arguments. Flatten into a clap command (`Loadgen(LoadgenArgs)`); the
/// field docs are the `--help` text.
#[derive(Debug, Clone, Args)]
#[command(long_about = LONG_ABOUT, after_long_help = EXAMPLES)]
pub struct LoadgenArgs {
    /// gRPC endpoint of the Tend to load; must be on this machine (127.0.0.1, ::1, localhost).
    #[arg(long, env = "TEND_ENDPOINT", default_value = "http://127.0.0.1:50051", help_heading = "Target")]
    pub endpoint: String,
    /// Tenant to send as (x-tend-tenant header). Default: a fresh loadgen-<seed>-<random>, so runs
    /// don't mix.
    #[arg(long, help_heading = "Target")]
    pub tenant: Option<String>,
    /// API key, sent as `authorization: Bearer …`; not needed when the server has auth off.
    #[arg(long, env = "TEND_API_KEY", hide_env_values = true, help_heading = "Target")]
    pub api_key: Option<String>,

    /// Target posts per second, paced (open loop).
    #[arg(long, conflicts_with = "max", value_parser = parse_rate, help_heading = "Load")]
    pub rate: Option<f64>,
    /// Send as fast as the server answers (closed loop: each caller sends its next call when
    /// the previous one is answered).
    #[arg(long, help_heading = "Load")]
    pub max: bool,
    /// Stop after this many posts.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Load")]
    pub count: Option<u64>,
    /// Stop sending after this long (e.g. 60s, 2m, 500ms).
    #[arg(long, value_parser = parse_duration, help_heading = "Load")]
    pub duration: Option<Duration>,
    /// Posts per call: 0 or 1 sends IngestInteraction (unary), more sends IngestBatch (at most 500).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=500), help_heading = "Load")]
    pub batch: u32,
    /// Concurrent callers.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=4096), help_heading = "Load")]
    pub concurrency: u32,
    /// HTTP/2 connections the callers share. Default: one per caller, at most 4.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=256), help_heading = "Load")]
    pub connections: Option<u32>,
    /// Deadline of each call.
    #[arg(long, default_value = "30s", value_parser = parse_duration, help_heading = "Load")]
    pub timeout: Duration,

    /// Rules to route with: before sending, the tenant gets a rule set of this many realistic
    /// rules (segment, business and service; most don't fire) plus one that makes every post
    /// work, so each can be followed to its case. Needs an admin key when auth is on.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=499), help_heading = "Load")]
    pub rules: u64,
    /// Leave the tenant's rules as they are (then posts that are not work open no case and the
    /// run can't follow them: use with --mix question=1,complaint=1,churn=1 or the like).
    #[arg(long, conflicts_with = "rules", help_heading = "Load")]
    pub keep_rules: bool,

    /// Seed of the traffic: the same seed sends the same posts.
    #[arg(long, default_value_t = 1, help_heading = "Traffic")]
    pub seed: u64,
    /// Share (0 to 1) of posts that are exact redeliveries of an earlier post (same channel and
    /// id); they must come back `duplicate: true`.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share, help_heading = "Traffic")]
    pub duplicates: f64,
    /// Distinct authors (the choice is skewed: some write many posts).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Traffic")]
    pub authors: u64,
    /// Share (0 to 1) of authors who are known customers (the ones --write-crm lists).
    #[arg(long, default_value_t = 0.3, value_parser = parse_share, help_heading = "Traffic")]
    pub known_share: f64,
    /// Kinds of post, as relative weights; names left out keep their default.
    #[arg(long, default_value = KindNames::DEFAULT, help_heading = "Traffic")]
    pub mix: Weights<KindNames>,
    /// Languages, as relative weights.
    #[arg(long, default_value = LanguageNames::DEFAULT, help_heading = "Traffic")]
    pub languages: Weights<LanguageNames>,
    /// Channels, as relative weights (reposts and near-duplicates keep to X, Facebook, Instagram).
    #[arg(long, default_value = ChannelNames::DEFAULT, help_heading = "Traffic")]
    pub channels: Weights<ChannelNames>,
    /// The brand the posts are about.
    #[arg(long, default_value = "Acme", help_heading = "Traffic")]
    pub brand: String,
    /// When the outage burst starts, from the start of the run (default: a quarter of the way in).
    /// With --max the burst is placed by post number, assuming the posts spread evenly over
    /// --duration (or 60 s when only --count is given, or 5,000 posts/s when only --duration is).
    #[arg(long, value_parser = parse_duration, help_heading = "Traffic")]
    pub burst_at: Option<Duration>,
    /// How long the burst lasts (at most half the run).
    #[arg(long, default_value = "30s", value_parser = parse_duration, help_heading = "Traffic")]
    pub burst_for: Duration,
    /// Share (0 to 1) of the burst's posts that are on the outage topic.
    #[arg(long, default_value_t = 0.7, value_parser = parse_share, help_heading = "Traffic")]
    pub burst_share: f64,
    /// No burst.
    #[arg(long, help_heading = "Traffic")]
    pub no_burst: bool,
    /// External ids are `<prefix>-<n>` (default: lg-<random>, new each run).
    #[arg(long, help_heading = "Traffic")]
    pub id_prefix: Option<String>,
    /// Write the known customers as a CSV for `tend identity import` (crm_id, given_name,
    /// family_name, emails, handles) and exit, unless --count or --duration asks for a run too.
    #[arg(long, value_name = "FILE", help_heading = "Traffic")]
    pub write_crm: Option<PathBuf>,

    /// After sending, wait at most this long for every acknowledged post to be a case.
    #[arg(long, default_value = "60s", value_parser = parse_duration, help_heading = "Counting")]
    pub drain_timeout: Duration,
    /// Don't wait for cases: measure ingest's acknowledgements only (e.g. when only ingest runs).
    #[arg(long, help_heading = "Counting")]
    pub no_drain: bool,

    /// Write the report as JSON to this file.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub json: Option<PathBuf>,
    /// Print nothing (no progress, no summary); errors still go to stderr.
    #[arg(long, short = 'q', help_heading = "Output")]
    pub quiet: bool,
    /// Fail (non-zero exit) when a call failed, a post was rejected or lost, a case was
    /// duplicated or a redelivery was not recognised; the report is printed and written first.
    #[arg(long, help_heading = "Output")]
    pub strict: bool,
}

impl LoadgenArgs {
    /// The arguments as `tend loadgen` would parse them from `args` (without the program name),
    /// e.g. `LoadgenArgs::parse_from(["--rate", "1000", "--duration", "60s"])`.
    pub fn parse_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::{Args as _, FromArgMatches as _};
        let command = LoadgenArgs::augment_args(clap::Command::new("loadgen").no_binary_name(true));
        let matches = command.try_get_matches_from(args)?;
        LoadgenArgs::from_arg_matches(&matches)
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|error| format!("{error} (write e.g. 60s, 2m, 500ms)"))
}

fn parse_share(text: &str) -> Result<f64, String> {
    let value: f64 = text.trim().parse().map_err(|_| format!("{text:?} is not a number"))?;
    if (0.0..=1.0).contains(&value) { Ok(value) } else { Err(format!("{value} is not between 0 and 1")) }
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let value: f64 = text.trim().parse().map_err(|_| format!("{text:?} is not a number"))?;
    if value.is_finite() && value > 0.0 && value <= 10_000_000.0 {
        Ok(value)
    } else {
        Err(format!("{value} posts/s: give a rate above 0"))
    }
}

#[cfg(test)]
mod tests {
    use clap::{Parser, Subcommand};

    use super::*;

    /// The binary's shape: `tend loadgen …` as a subcommand.
    #[derive(Debug, Parser)]
    #[command(name = "tend")]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Debug, Subcommand)]
    enum Command {
        /// Send realistic load to a Tend on this machine and count it from post to case.
        Loadgen(LoadgenArgs),
    }

    #[test]
    fn parses_as_a_subcommand_with_defaults() {
        let Cli { command: Command::Loadgen(args) } =
            Cli::try_parse_from(["tend", "loadgen", "--rate", "1000", "--duration", "60s"]).unwrap();
        assert_eq!(args.rate, Some(1000.0));
        assert_eq!(args.duration, Some(Duration::from_secs(60)));
        assert_eq!(args.batch, 1);
        assert_eq!(args.endpoint, "http://127.0.0.1:50051");
        assert_eq!(args.drain_timeout, Duration::from_secs(60));
        assert_eq!(args.mix.values().len(), 8);
        let Cli { command: Command::Loadgen(args) } = Cli::try_parse_from([
            "tend",
            "loadgen",
            "--max",
            "--batch",
            "100",
            "--concurrency",
            "8",
            "--count",
            "50000",
            "--mix",
            "spam=0",
        ])
        .unwrap();
        assert!(args.max);
        assert_eq!((args.batch, args.concurrency, args.count), (100, 8, Some(50_000)));
        assert_eq!(args.mix.values()[4], 0.0);
    }

    #[test]
    fn bad_values_refused() {
        for bad in [
            &["tend", "loadgen", "--rate", "10", "--max"][..],
            &["tend", "loadgen", "--batch", "501"],
            &["tend", "loadgen", "--duplicates", "1.5"],
            &["tend", "loadgen", "--duration", "sixty"],
            &["tend", "loadgen", "--rate", "0"],
            &["tend", "loadgen", "--languages", "xx=1"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn help_explains_usage_with_examples() {
        use clap::CommandFactory as _;
        let mut command = Cli::command();
        let help = command.find_subcommand_mut("loadgen").unwrap().render_long_help().to_string();
        for needle in [
            "tend loadgen --rate 1000 --duration 60s",
            "tend loadgen --max --batch 100 --concurrency 8 --count 50000",
            "How it works:",
            "scheduled send time, so queueing is not hidden",
            "It only talks to 127.0.0.1",
            "--write-crm",
            "--drain-timeout",
        ] {
            assert!(help.contains(needle), "help lacks {needle:?}:\n{help}");
        }
    }

    #[test]
    fn parse_from_without_program_name() {
        let args = LoadgenArgs::parse_from(["--count", "10", "--seed", "3"]).unwrap();
        assert_eq!((args.count, args.seed), (Some(10), 3));
    }
}
