//! `tend-link`: batch linkage over CSV files, with the benchmark's evaluation and timings.
//!
//! ```text
//! tend-link --left A.csv --right B.csv [--threshold 0.9] [--output pairs.csv] [--evaluate]
//! tend-link --dedupe FILE.csv [--threshold 0.9] [--output pairs.csv] [--evaluate]
//! ```
//!
//! `--evaluate` scores the pairs against the truth encoded in FEBRL ids (`rec-1070-org` and
//! `rec-1070-dup-0` are the same person) and prints precision, recall, F1 and the time per phase.
//! The truth is read from the ids after matching, for the report only: the matcher never sees it.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use tend_matching::batch::{self, Loaded};
use tend_matching::{MatchOptions, Model, Run, Schema, ScoredPair, TrainOptions, train_and_dedupe, train_and_link};

/// Link two CSV files (or deduplicate one) with the Tend matcher.
#[derive(Debug, Parser)]
#[command(name = "tend-link")]
struct Args {
    /// The left file.
    #[arg(long, requires = "right", conflicts_with = "dedupe")]
    left: Option<PathBuf>,
    /// The right file.
    #[arg(long, requires = "left")]
    right: Option<PathBuf>,
    /// Deduplicate this file instead.
    #[arg(long, required_unless_present_any = ["left", "print_schema"])]
    dedupe: Option<PathBuf>,
    /// Keep pairs with at least this match probability.
    #[arg(long, default_value_t = 0.9)]
    threshold: f64,
    /// In link mode, allow a record in several pairs (default: one to one).
    #[arg(long)]
    many_to_many: bool,
    /// Write the pairs here as CSV (`-` for standard output).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Write the trained model here as JSON.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Evaluate against FEBRL-style ids (`rec-<n>-...`) and print the figures.
    #[arg(long)]
    evaluate: bool,
    /// Run the matcher this many times and report the median time per phase.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// With --evaluate: explain up to this many false positives and false negatives.
    #[arg(long, default_value_t = 0)]
    show_errors: usize,
    /// Re-estimate u by EM too.
    #[arg(long)]
    refine_u: bool,
    /// Use this schema (JSON, as printed by --print-schema) instead of the FEBRL default.
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Print the default schema as JSON and exit.
    #[arg(long, exclusive = true)]
    print_schema: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tend-link: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    if args.print_schema {
        println!("{}", serde_json::to_string_pretty(&Schema::febrl())?);
        return Ok(());
    }
    let schema = match &args.schema {
        Some(path) => serde_json::from_str(&std::fs::read_to_string(path)?)?,
        None => Schema::febrl(),
    };
    let clock = Instant::now();
    let (left, right) = match (&args.left, &args.right, &args.dedupe) {
        (Some(left), Some(right), _) => {
            (batch::read_records_from(left, &schema, None)?, Some(batch::read_records_from(right, &schema, None)?))
        }
        (_, _, Some(dedupe)) => (batch::read_records_from(dedupe, &schema, None)?, None),
        _ => return Err("give --left and --right, or --dedupe".into()),
    };
    let load = clock.elapsed();
    let present: Vec<&str> = left
        .header
        .iter()
        .map(String::as_str)
        .filter(|name| right.as_ref().is_none_or(|right| right.header.iter().any(|other| other == name)))
        .collect();
    let schema = schema.restricted_to(&present);
    let train = TrainOptions { refine_u: args.refine_u, ..TrainOptions::default() };
    let matching = MatchOptions { threshold: args.threshold, one_to_one: right.is_some() && !args.many_to_many };

    let mut runs: Vec<Run> = Vec::new();
    for _ in 0..args.repeat.max(1) {
        let started = Instant::now();
        let run = match &right {
            Some(right) => train_and_link(schema.clone(), &left.records, &right.records, &train, &matching)?,
            None => train_and_dedupe(schema.clone(), &left.records, &train, &matching)?,
        };
        let wall = started.elapsed();
        runs.push(run);
        if args.repeat > 1 {
            eprintln!("run {}: {:.1} ms", runs.len(), wall.as_secs_f64() * 1e3);
        }
    }
    let Some(run) = runs.first() else {
        return Err("no run".into());
    };
    if let Some(output) = &args.output {
        batch::write_output(output, &run.pairs)?;
    }
    if let Some(path) = &args.model {
        std::fs::write(path, serde_json::to_string_pretty(&run.model)?)?;
    }

    println!("records           {} x {}", left.records.len(), right.as_ref().map_or(0, |right| right.records.len()));
    println!(
        "fields            {}",
        schema.fields.iter().map(|field| field.name.as_str()).collect::<Vec<_>>().join(", ")
    );
    println!("candidate pairs   {}", run.stats.candidate_pairs);
    for (rule, count) in &run.stats.pairs_per_rule {
        println!("  {rule:<40} {count}");
    }
    println!("skipped blocks    {}", run.stats.skipped_blocks);
    let training = &run.model.training;
    println!(
        "em                {} iterations, converged {}, {} patterns, match rate among candidates {:.4}",
        training.iterations, training.converged, training.patterns, training.candidate_match_rate
    );
    println!("pairs found       {}", run.pairs.len());

    if args.evaluate {
        evaluate(&left, right.as_ref(), run, &run.model, args.show_errors);
    }

    let median = |pick: fn(&Run) -> Duration| {
        let mut times: Vec<Duration> = runs.iter().map(pick).collect();
        times.sort();
        times.get(times.len() / 2).copied().unwrap_or_default()
    };
    let phases = [
        ("prepare", median(|run| run.stats.timings.prepare)),
        ("block", median(|run| run.stats.timings.block)),
        ("compare", median(|run| run.stats.timings.compare)),
        ("train", median(|run| run.stats.timings.train)),
        ("score", median(|run| run.stats.timings.score)),
    ];
    let matcher = median(|run| run.stats.timings.total());
    let ms = |duration: Duration| duration.as_secs_f64() * 1e3;
    let runs_note = if runs.len() > 1 { format!(" (median of {} runs)", runs.len()) } else { String::new() };
    println!("time{runs_note}");
    println!("  load (csv read)   {:8.1} ms", ms(load));
    for (phase, duration) in phases {
        println!("  {phase:<17} {:8.1} ms", ms(duration));
    }
    println!("  matcher total     {:8.1} ms  (prepare + block + compare + train + score)", ms(matcher));
    println!("  total with load   {:8.1} ms", ms(matcher + load));
    Ok(())
}

/// The entity number of a FEBRL id: `rec-1070-dup-0` → `1070`.
fn entity(id: &str) -> Option<&str> {
    id.split('-').nth(1)
}

fn evaluate(left: &Loaded, right: Option<&Loaded>, run: &Run, model: &Model, show_errors: usize) {
    // The true pairs, from the ids.
    let mut truth: HashSet<(usize, usize)> = HashSet::new();
    match right {
        Some(right) => {
            let mut by_entity: HashMap<&str, Vec<usize>> = HashMap::new();
            for (index, record) in right.records.iter().enumerate() {
                if let Some(key) = entity(&record.id) {
                    by_entity.entry(key).or_default().push(index);
                }
            }
            for (index, record) in left.records.iter().enumerate() {
                for other in entity(&record.id).and_then(|key| by_entity.get(key)).into_iter().flatten() {
                    truth.insert((index, *other));
                }
            }
        }
        None => {
            let mut by_entity: HashMap<&str, Vec<usize>> = HashMap::new();
            for (index, record) in left.records.iter().enumerate() {
                if let Some(key) = entity(&record.id) {
                    by_entity.entry(key).or_default().push(index);
                }
            }
            for members in by_entity.values() {
                for (position, a) in members.iter().enumerate() {
                    for b in &members[position + 1..] {
                        truth.insert((*a.min(b), *a.max(b)));
                    }
                }
            }
        }
    }
    let found: HashSet<(usize, usize)> = run.pairs.iter().map(|pair| (pair.left, pair.right)).collect();
    let true_positives = found.intersection(&truth).count();
    let precision = if found.is_empty() { 0.0 } else { true_positives as f64 / found.len() as f64 };
    let recall = if truth.is_empty() { 0.0 } else { true_positives as f64 / truth.len() as f64 };
    let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
    println!("true pairs        {}", truth.len());
    println!("true positives    {true_positives}");
    println!("false positives   {}", found.len() - true_positives);
    println!("false negatives   {}", truth.len() - true_positives);
    println!("precision         {precision:.4}");
    println!("recall            {recall:.4}");
    println!("f1                {f1:.4}");
    if show_errors == 0 {
        return;
    }
    let right_records = right.map_or(&left.records, |right| &right.records);
    let explain = |label: &str, a: usize, b: usize| {
        let (Some(left_record), Some(right_record)) = (left.records.get(a), right_records.get(b)) else {
            return;
        };
        let scored = model.score(left_record, right_record);
        println!(
            "{label} {} ~ {}: p={:.4} w={:.2}",
            left_record.id, right_record.id, scored.probability, scored.weight
        );
        for field in &scored.fields {
            println!(
                "    {:<14} {:<18} {:>7.2}  {:?} | {:?}",
                field.field,
                field.level,
                field.weight,
                field.left.as_deref().unwrap_or(""),
                field.right.as_deref().unwrap_or("")
            );
        }
    };
    let mut false_positives: Vec<&ScoredPair> =
        run.pairs.iter().filter(|pair| !truth.contains(&(pair.left, pair.right))).collect();
    false_positives.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    for pair in false_positives.iter().take(show_errors) {
        explain("FP", pair.left, pair.right);
    }
    let mut missed: Vec<&(usize, usize)> = truth.iter().filter(|pair| !found.contains(pair)).collect();
    missed.sort();
    for (a, b) in missed.into_iter().take(show_errors) {
        explain("FN", *a, *b);
    }
}
