//! Speed and quality figures for tend-text, one JSON object per line.
//!
//! ```text
//! cargo run --release -p tend-text --example bench -- [--corpus PATH] [--churn PATH]
//!     [--seconds N] [--skip-speed] [--errors dev|test] [--errors-limit N]
//! ```
//!
//! - speed: whole enrichment and sentiment alone over the ~200 sample posts in
//!   `data/sample_posts.txt`, single thread.
//! - `--corpus`: a `text,label` CSV with negative/neutral/positive labels (see
//!   `scripts/fetch_corpus.sh`). Split deterministically: `xxh3_64(text) % 5 == 0` is the test
//!   fifth, the rest dev/train. Reports built-in sentiment on both parts and a model trained on
//!   the dev part evaluated on the test part.
//! - `--churn`: a `text,label` CSV with churn/not_churn labels (default `data/churn.csv`, the set
//!   the churn rules were written against); `data/churn_holdout.csv` (written afterwards, never
//!   tuned on) is always reported too.
//! - `--errors dev`: print misclassified dev examples (for tuning the lexicon on dev only).

use std::fs::File;
use std::io::BufReader;
use std::time::{Duration, Instant};

use tend_text::{
    Analyzer, BuiltinChurn, BuiltinSentiment, Classifier, Evaluation, Input, Task, TrainOptions, evaluate, read_labels,
    sentiment, train,
};
use xxhash_rust::xxh3::xxh3_64;

type Labelled = Vec<(String, String)>;

const SAMPLES: &str = include_str!("../data/sample_posts.txt");

struct Args {
    corpus: Option<String>,
    churn: String,
    seconds: f64,
    skip_speed: bool,
    errors: Option<String>,
    errors_limit: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        corpus: None,
        churn: concat!(env!("CARGO_MANIFEST_DIR"), "/data/churn.csv").to_string(),
        seconds: 3.0,
        skip_speed: false,
        errors: None,
        errors_limit: 60,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--corpus" => args.corpus = it.next(),
            "--churn" => args.churn = it.next().unwrap_or_default(),
            "--seconds" => args.seconds = it.next().and_then(|s| s.parse().ok()).unwrap_or(3.0),
            "--skip-speed" => args.skip_speed = true,
            "--errors" => args.errors = it.next(),
            "--errors-limit" => args.errors_limit = it.next().and_then(|s| s.parse().ok()).unwrap_or(60),
            other => eprintln!("ignoring unknown argument {other}"),
        }
    }
    args
}

fn json_eval(name: &str, split: &str, e: &Evaluation) -> String {
    let per_class: Vec<String> = e
        .per_class
        .iter()
        .map(|c| {
            format!(
                "{{\"label\":\"{}\",\"precision\":{:.4},\"recall\":{:.4},\"f1\":{:.4},\"support\":{}}}",
                c.label, c.precision, c.recall, c.f1, c.support
            )
        })
        .collect();
    format!(
        "{{\"figure\":\"{name}\",\"split\":\"{split}\",\"examples\":{},\"accuracy\":{:.4},\"macro_f1\":{:.4},\"labels\":{:?},\"confusion\":{:?},\"per_class\":[{}]}}",
        e.examples,
        e.accuracy,
        e.macro_f1,
        e.labels,
        e.confusion,
        per_class.join(",")
    )
}

fn speed(seconds: f64) {
    let posts: Vec<&str> = SAMPLES.lines().filter(|l| !l.trim().is_empty()).collect();
    let analyzer = Analyzer::default();
    let budget = Duration::from_secs_f64(seconds);

    // Warm up the lazily built tables.
    for p in &posts {
        std::hint::black_box(analyzer.enrich(&Input::new(p)));
    }
    let bytes: usize = posts.iter().map(|p| p.len()).sum();

    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < budget {
        for p in &posts {
            std::hint::black_box(analyzer.enrich(&Input::new(p)));
        }
        n += posts.len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"figure\":\"enrich_speed\",\"posts\":{},\"sample_posts\":{},\"mean_bytes\":{:.1},\"seconds\":{:.3},\"posts_per_sec\":{:.0},\"threads\":1}}",
        n,
        posts.len(),
        bytes as f64 / posts.len() as f64,
        secs,
        n as f64 / secs
    );

    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < budget {
        for p in &posts {
            std::hint::black_box(sentiment(p));
        }
        n += posts.len();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"figure\":\"sentiment_speed\",\"texts\":{},\"seconds\":{:.3},\"texts_per_sec\":{:.0},\"threads\":1}}",
        n,
        secs,
        n as f64 / secs
    );
}

fn print_errors(name: &str, c: &dyn Classifier, data: &[(String, String)], limit: usize) {
    let mut shown = 0;
    for (text, gold) in data {
        let p = c.classify(text);
        if &p.label != gold {
            let cues: Vec<String> = p.cues.iter().map(|c| format!("{}:{:.2}", c.text, c.weight)).collect();
            println!(
                "{name}\tgold={gold}\tpred={}\t{:.2}\t{}\t[{}]",
                p.label,
                p.score,
                text.replace('\n', " "),
                cues.join(", ")
            );
            shown += 1;
            if shown >= limit {
                break;
            }
        }
    }
}

/// Sweep the label thresholds on the dev part (prints the best few).
fn tune(dev: &[(String, String)]) {
    let scored: Vec<(f32, usize)> = dev
        .iter()
        .map(|(t, l)| {
            let gold = match l.as_str() {
                "negative" => 0,
                "neutral" => 1,
                _ => 2,
            };
            (sentiment(t).score, gold)
        })
        .collect();
    let mut results = Vec::new();
    for ni in 0..=30 {
        let neg = -0.6 + ni as f32 * 0.025;
        for pi in 0..=30 {
            let pos = pi as f32 * 0.025;
            if pos <= neg {
                continue;
            }
            let mut m = [[0usize; 3]; 3];
            for &(s, g) in &scored {
                let p = if s >= pos {
                    2
                } else if s <= neg {
                    0
                } else {
                    1
                };
                m[g][p] += 1;
            }
            let mut f1 = 0.0;
            for (c, row) in m.iter().enumerate() {
                let tp = row[c] as f64;
                let pred: usize = m.iter().map(|r| r[c]).sum();
                let sup: usize = row.iter().sum();
                let p = if pred > 0 { tp / pred as f64 } else { 0.0 };
                let r = if sup > 0 { tp / sup as f64 } else { 0.0 };
                f1 += if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 };
            }
            results.push((f1 / 3.0, neg, pos));
        }
    }
    results.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (f1, neg, pos) in results.iter().take(5) {
        println!(
            "{{\"figure\":\"tune\",\"macro_f1\":{f1:.4},\"negative_threshold\":{neg:.3},\"positive_threshold\":{pos:.3}}}"
        );
    }
}

fn main() {
    let args = parse_args();
    if !args.skip_speed {
        speed(args.seconds);
    }

    if let Some(path) = &args.corpus {
        let data = match File::open(path).map(BufReader::new) {
            Ok(f) => read_labels(f),
            Err(e) => {
                eprintln!("cannot open {path}: {e}");
                std::process::exit(2);
            }
        };
        let data = match data {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        };
        let (test, dev): (Labelled, Labelled) =
            data.into_iter().partition(|(t, _)| xxh3_64(t.as_bytes()).is_multiple_of(5));
        println!("{{\"figure\":\"corpus\",\"path\":{:?},\"dev\":{},\"test\":{}}}", path, dev.len(), test.len());

        if !args.skip_speed {
            let analyzer = Analyzer::default();
            let start = Instant::now();
            let mut n = 0usize;
            while start.elapsed().as_secs_f64() < args.seconds {
                for (t, _) in &test {
                    std::hint::black_box(analyzer.enrich(&Input::new(t)));
                }
                n += test.len();
            }
            let secs = start.elapsed().as_secs_f64();
            let mean = test.iter().map(|(t, _)| t.len()).sum::<usize>() as f64 / test.len().max(1) as f64;
            println!(
                "{{\"figure\":\"enrich_speed_corpus\",\"posts\":{n},\"mean_bytes\":{mean:.1},\"seconds\":{secs:.3},\"posts_per_sec\":{:.0},\"threads\":1}}",
                n as f64 / secs
            );
        }

        let builtin = BuiltinSentiment;
        println!("{}", json_eval("builtin_sentiment", "dev", &evaluate(&builtin, &dev)));
        println!("{}", json_eval("builtin_sentiment", "test", &evaluate(&builtin, &test)));

        let start = Instant::now();
        match train(Task::Sentiment, &dev, &TrainOptions::default()) {
            Ok(model) => {
                let train_secs = start.elapsed().as_secs_f64();
                let bytes = model.to_bytes();
                println!(
                    "{{\"figure\":\"trained_model\",\"train_examples\":{},\"train_seconds\":{:.2},\"model_bytes\":{},\"non_zero_weights\":{}}}",
                    dev.len(),
                    train_secs,
                    bytes.len(),
                    model.non_zero_weights()
                );
                println!("{}", json_eval("trained_sentiment", "test", &evaluate(&model, &test)));
                if args.errors.as_deref() == Some("trained") {
                    print_errors("trained", &model, &test, args.errors_limit);
                }
            }
            Err(e) => println!("{{\"figure\":\"trained_model\",\"error\":{:?}}}", e.to_string()),
        }

        if args.errors.as_deref() == Some("tune") {
            tune(&dev);
        }
        match args.errors.as_deref() {
            Some("dev") => print_errors("builtin", &builtin, &dev, args.errors_limit),
            Some("test") => print_errors("builtin", &builtin, &test, args.errors_limit),
            _ => {}
        }
    }

    let holdout = concat!(env!("CARGO_MANIFEST_DIR"), "/data/churn_holdout.csv").to_string();
    for (split, path) in [("rules_dev", &args.churn), ("holdout", &holdout)] {
        match File::open(path).map(BufReader::new) {
            Ok(f) => match read_labels(f) {
                Ok(data) => {
                    let churn = BuiltinChurn::default();
                    let e = evaluate(&churn, &data);
                    println!("{}", json_eval("builtin_churn", split, &e));
                    if args.errors.as_deref() == Some("churn") {
                        print_errors("churn", &churn, &data, args.errors_limit);
                    }
                }
                Err(e) => eprintln!("{e}"),
            },
            Err(e) => eprintln!("cannot open {path}: {e}"),
        }
    }
}
