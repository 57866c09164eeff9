//! `tend text …`: enrichment from the command line (a dry run, classifiers, topics).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, bail};
use tend_proto::v1;

use crate::cli::{self, TaskArg, TextCommand, TopicsCommand};
use crate::commands::{connect, failed};

/// Runs one `tend text` command.
pub async fn run(command: TextCommand) -> anyhow::Result<()> {
    match command {
        TextCommand::Enrich(args) => enrich(args).await,
        TextCommand::Train(args) => train(args).await,
        TextCommand::Eval(args) => eval(args).await,
        TextCommand::Models(args) => models(args).await,
        TextCommand::Activate(args) => activate(args).await,
        TextCommand::Topics(TopicsCommand::Put(args)) => put_topics(args).await,
        TextCommand::Topics(TopicsCommand::Show(connection)) => show_topics(connection).await,
    }
}

fn task(task: TaskArg) -> v1::ClassifierTask {
    match task {
        TaskArg::Sentiment => v1::ClassifierTask::Sentiment,
        TaskArg::Intent => v1::ClassifierTask::Intent,
    }
}

/// The labelled examples of a `text,label` CSV; a bad row fails before anything is sent.
fn read_labels(path: &Path) -> anyhow::Result<Vec<v1::LabelledText>> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let pairs = tend_text::read_labels(std::io::BufReader::new(file)).with_context(|| path.display().to_string())?;
    Ok(pairs.into_iter().map(|(text, label)| v1::LabelledText { text, label }).collect())
}

async fn enrich(args: cli::EnrichArgs) -> anyhow::Result<()> {
    let client = connect(&args.connection).await?;
    let request = v1::EnrichRequest {
        text: args.text,
        channel: v1::Channel::from(args.channel).into(),
        language_hint: args.language,
    };
    let reading = client.enrichment().enrich(request).await.map_err(failed)?.into_inner();
    print!("{}", describe(&reading));
    Ok(())
}

/// An enrichment as a person reads it: each result with the cues behind it.
pub fn describe(reading: &v1::Enrichment) -> String {
    let cues_for = |prefix: &str| -> String {
        let cues: Vec<String> = reading
            .cues
            .iter()
            .filter(|cue| cue.field == prefix || cue.field.starts_with(&format!("{prefix}:")))
            .map(|cue| format!("{:?} {:+.2}", cue.text, cue.weight))
            .collect();
        if cues.is_empty() { String::new() } else { format!("   because {}", cues.join(", ")) }
    };
    let mut out = String::new();
    let _ = writeln!(out, "language     {} ({:.2})", reading.language, reading.language_confidence);
    if let Some(sentiment) = &reading.sentiment {
        let label = v1::SentimentLabel::try_from(sentiment.label).unwrap_or_default();
        let _ = writeln!(out, "sentiment    {} {:+.2}{}", label_name(label), sentiment.score, cues_for("sentiment"));
    }
    for scored in &reading.intents {
        let intent = v1::Intent::try_from(scored.intent).unwrap_or_default();
        let name = intent_name(intent);
        let _ = writeln!(out, "intent       {name} {:.2}{}", scored.score, cues_for(&format!("intent:{name}")));
    }
    let verdict = if reading.actionable { "yes" } else { "no" };
    let _ = write!(out, "actionable   {verdict} ({})", reading.actionable_reason);
    if reading.testimonial_candidate {
        out.push_str(", a testimonial candidate");
    }
    out.push('\n');
    if !reading.topics.is_empty() {
        let _ = writeln!(out, "topics       {}{}", reading.topics.join(", "), cues_for("topic"));
    }
    if !reading.hashtags.is_empty() {
        let _ = writeln!(out, "hashtags     #{}", reading.hashtags.join(" #"));
    }
    for entity in &reading.entities {
        let _ = writeln!(out, "entity       {} {}", entity.kind, entity.value);
    }
    let head: Vec<String> = reading.signature.iter().take(3).map(|value| format!("{value:08x}")).collect();
    let _ = writeln!(out, "signature    {} values: {} …", reading.signature.len(), head.join(" "));
    let _ = writeln!(out, "models       sentiment {}, intent {}", reading.sentiment_model, reading.intent_model);
    if reading.truncated {
        let _ = writeln!(out, "note         only the first {} characters were read", tend_text::MAX_CHARS);
    }
    out
}

fn label_name(label: v1::SentimentLabel) -> &'static str {
    match label {
        v1::SentimentLabel::Negative => "negative",
        v1::SentimentLabel::Neutral => "neutral",
        v1::SentimentLabel::Positive => "positive",
        v1::SentimentLabel::Unspecified => "unknown",
    }
}

fn intent_name(intent: v1::Intent) -> &'static str {
    match intent {
        v1::Intent::Question => "question",
        v1::Intent::Complaint => "complaint",
        v1::Intent::ChurnRisk => "churn_risk",
        v1::Intent::Praise => "praise",
        v1::Intent::Spam => "spam",
        v1::Intent::Other | v1::Intent::Unspecified => "other",
    }
}

async fn train(args: cli::TrainArgs) -> anyhow::Result<()> {
    let examples = read_labels(&args.labels)?;
    let count = examples.len();
    let client = connect(&args.connection).await?;
    let request = v1::TrainClassifierRequest { task: task(args.task).into(), examples, description: args.description };
    let trained = client.enrichment().train_classifier(request).await.map_err(failed)?.into_inner();
    println!(
        "trained {} on {} of {count} examples (labels: {}); the other fifth scored:",
        trained.version,
        trained.trained_on,
        trained.labels.join(", ")
    );
    if let Some(holdout) = &trained.holdout {
        print!("{}", describe_evaluation(holdout));
    }
    if args.activate {
        let request = v1::ActivateClassifierRequest { task: task(args.task).into(), version: trained.version.clone() };
        let activated = client.enrichment().activate_classifier(request).await.map_err(failed)?.into_inner();
        println!("{} is now in use (was {})", activated.active_version, activated.previous_version);
    } else {
        println!("not in use yet: `tend text activate --task {} {}`", task_name(args.task), trained.version);
    }
    Ok(())
}

fn task_name(task: TaskArg) -> &'static str {
    match task {
        TaskArg::Sentiment => "sentiment",
        TaskArg::Intent => "intent",
    }
}

async fn eval(args: cli::EvalArgs) -> anyhow::Result<()> {
    let examples = read_labels(&args.labels)?;
    let client = connect(&args.connection).await?;
    let request = v1::EvaluateClassifierRequest { task: task(args.task).into(), version: args.model, examples };
    let evaluation = client.enrichment().evaluate_classifier(request).await.map_err(failed)?.into_inner();
    print!("{}", describe_evaluation(&evaluation));
    Ok(())
}

/// Accuracy, macro-F1, a line per label and the confusion matrix.
pub fn describe_evaluation(evaluation: &v1::Evaluation) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "model {} on {} examples: accuracy {:.3}, macro-F1 {:.3}",
        evaluation.model, evaluation.examples, evaluation.accuracy, evaluation.macro_f1
    );
    let width = evaluation.labels.iter().map(String::len).max().unwrap_or(5).max(5);
    let _ = writeln!(out, "  {:width$}  precision  recall     f1  support", "label");
    for label in &evaluation.per_label {
        let _ = writeln!(
            out,
            "  {:width$}  {:>9.3}  {:>6.3}  {:>5.3}  {:>7}",
            label.label, label.precision, label.recall, label.f1, label.support
        );
    }
    let size = evaluation.labels.len();
    if size > 0 && evaluation.confusion.len() == size * size {
        let _ = writeln!(out, "  confusion (rows: labelled, columns: predicted)");
        let _ = write!(out, "  {:width$}", "");
        for label in &evaluation.labels {
            let _ = write!(out, "  {label:>width$}");
        }
        out.push('\n');
        for (row, label) in evaluation.labels.iter().enumerate() {
            let _ = write!(out, "  {label:width$}");
            for cell in &evaluation.confusion[row * size..(row + 1) * size] {
                let _ = write!(out, "  {cell:>width$}");
            }
            out.push('\n');
        }
    }
    out
}

async fn models(args: cli::ModelsArgs) -> anyhow::Result<()> {
    let client = connect(&args.connection).await?;
    let request = v1::ListClassifiersRequest { task: task(args.task).into() };
    let listed = client.enrichment().list_classifiers(request).await.map_err(failed)?.into_inner();
    println!("in use: {}", listed.active_version);
    for classifier in &listed.classifiers {
        let holdout = classifier.holdout.as_ref();
        println!(
            "{}{}  trained on {}  held-out accuracy {:.3}, macro-F1 {:.3}  {}",
            classifier.version,
            if classifier.active { " (in use)" } else { "" },
            classifier.trained_on,
            holdout.map_or(0.0, |evaluation| evaluation.accuracy),
            holdout.map_or(0.0, |evaluation| evaluation.macro_f1),
            classifier.description
        );
    }
    Ok(())
}

async fn activate(args: cli::ActivateArgs) -> anyhow::Result<()> {
    let client = connect(&args.connection).await?;
    let request = v1::ActivateClassifierRequest { task: task(args.task).into(), version: args.version };
    let activated = client.enrichment().activate_classifier(request).await.map_err(failed)?.into_inner();
    println!(
        "{} is now in use for {} (was {})",
        activated.active_version,
        task_name(args.task),
        activated.previous_version
    );
    Ok(())
}

/// The topics of a `topic,keywords` CSV, keywords separated by `;`.
fn read_topics(path: &Path) -> anyhow::Result<Vec<v1::Topic>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let headers = reader.headers().with_context(|| format!("{}: line 1", path.display()))?.clone();
    let column = |name: &str| headers.iter().position(|header| header.eq_ignore_ascii_case(name));
    let (Some(topic_column), Some(keywords_column)) = (column("topic"), column("keywords")) else {
        bail!("{}: the header must name a `topic` and a `keywords` column", path.display());
    };
    let mut topics = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = record.with_context(|| format!("{}: line {line}", path.display()))?;
        let name = record.get(topic_column).unwrap_or_default().to_owned();
        let keywords = record
            .get(keywords_column)
            .unwrap_or_default()
            .split(';')
            .map(str::trim)
            .filter(|keyword| !keyword.is_empty())
            .map(str::to_owned)
            .collect();
        topics.push(v1::Topic { name, keywords });
    }
    Ok(topics)
}

async fn put_topics(args: cli::TopicsPutArgs) -> anyhow::Result<()> {
    let topics = read_topics(&args.file)?;
    let client = connect(&args.connection).await?;
    let stored = client.enrichment().put_topics(v1::PutTopicsRequest { topics }).await.map_err(failed)?.into_inner();
    println!("{} topics stored", stored.topics.len());
    Ok(())
}

async fn show_topics(connection: cli::Connection) -> anyhow::Result<()> {
    let client = connect(&connection).await?;
    let dictionary = client.enrichment().get_topics(v1::GetTopicsRequest {}).await.map_err(failed)?.into_inner();
    if dictionary.topics.is_empty() {
        println!("no topics: `tend text topics put FILE.csv` (columns topic,keywords)");
    }
    for topic in &dictionary.topics {
        println!("{}: {}", topic.name, topic.keywords.join("; "));
    }
    Ok(())
}
