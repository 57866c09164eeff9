//! End-to-end: link and deduplicate generated people with typos, through the library and through
//! CSV files, and check the quality against the truth in the ids (never shown to the matcher).

use std::collections::HashSet;
use std::path::Path;

use tend_matching::batch::{self, BatchInput, BatchOptions};
use tend_matching::{MatchOptions, Record, Schema, ScoredPair, TrainOptions, train_and_link};

#[path = "support/synthetic.rs"]
mod synthetic;

/// Precision, recall and F1 of `pairs` against the true pairs between `left` and `right`.
fn quality(left: &[Record], right: &[Record], pairs: &[ScoredPair]) -> (f64, f64, f64) {
    let truth: HashSet<(String, String)> = left
        .iter()
        .flat_map(|a| {
            right.iter().filter(|b| synthetic::same_person(&a.id, &b.id)).map(|b| (a.id.clone(), b.id.clone()))
        })
        .collect();
    let found: HashSet<(String, String)> =
        pairs.iter().map(|pair| (pair.left_id.clone(), pair.right_id.clone())).collect();
    let correct = found.intersection(&truth).count() as f64;
    let (precision, recall) = (correct / found.len() as f64, correct / truth.len() as f64);
    (precision, recall, 2.0 * precision * recall / (precision + recall))
}

fn write_csv(path: &Path, records: &[Record]) -> csv::Result<()> {
    let columns = [
        "given_name",
        "surname",
        "street_number",
        "address_1",
        "address_2",
        "suburb",
        "postcode",
        "state",
        "date_of_birth",
    ];
    let mut writer = csv::Writer::from_path(path)?;
    // A FEBRL-like header: leading spaces, and an identifier column the matcher must ignore.
    let mut header = vec!["rec_id".to_string()];
    header.extend(columns.iter().map(|column| format!(" {column}")));
    header.push(" soc_sec_id".into());
    writer.write_record(&header)?;
    for (index, record) in records.iter().enumerate() {
        let mut row = vec![record.id.clone()];
        row.extend(columns.iter().map(|column| format!(" {}", record.get(column).unwrap_or_default())));
        row.push(format!(" {}", 1_000_000 + index));
        writer.write_record(&row)?;
    }
    writer.flush()?;
    Ok(())
}

#[test]
fn links_people_with_typos() {
    let (left, right) = synthetic::linkage(2024, 400, 320, 80);
    let options = MatchOptions { threshold: 0.9, one_to_one: true };
    let run = train_and_link(Schema::febrl(), &left, &right, &TrainOptions::default(), &options).unwrap();
    let (precision, recall, f1) = quality(&left, &right, &run.pairs);
    assert!(f1 >= 0.95, "precision {precision:.3} recall {recall:.3} f1 {f1:.3}");
    // Candidates stay few: far fewer than all 400 × 400 pairs.
    assert!(run.stats.candidate_pairs < 400 * 400 / 20, "{} candidates", run.stats.candidate_pairs);
}

#[test]
fn links_and_dedupes_csv_files() {
    let directory = tempfile::tempdir().unwrap();
    let (left, right) = synthetic::linkage(99, 300, 250, 50);
    let (left_path, right_path) = (directory.path().join("a.csv"), directory.path().join("b.csv"));
    write_csv(&left_path, &left).unwrap();
    write_csv(&right_path, &right).unwrap();

    let output = directory.path().join("pairs.csv");
    let mut options = BatchOptions::new(BatchInput::Link { left: left_path.clone(), right: right_path });
    options.output = Some(output.clone());
    let report = batch::run(&options).unwrap();
    assert_eq!((report.left_records, report.right_records), (300, 300));
    assert!(!report.fields.contains(&"soc_sec_id".to_string()));
    assert_eq!(report.fields.len(), 9);
    let (precision, recall, f1) = quality(&left, &right, &report.run.pairs);
    assert!(f1 >= 0.95, "precision {precision:.3} recall {recall:.3} f1 {f1:.3}");

    let written = std::fs::read_to_string(&output).unwrap();
    let mut lines = written.lines();
    assert_eq!(lines.next(), Some("left_id,right_id,probability,weight"));
    assert_eq!(lines.count(), report.run.pairs.len());

    // One file holding both sides: dedupe finds the same people.
    let both = directory.path().join("both.csv");
    let all: Vec<Record> = left.iter().chain(&right).cloned().collect();
    write_csv(&both, &all).unwrap();
    let report = batch::run(&BatchOptions::new(BatchInput::Dedupe(both))).unwrap();
    assert_eq!(report.right_records, 0);
    let pairs = &report.run.pairs;
    assert!(pairs.iter().all(|pair| pair.left < pair.right));
    let correct = pairs.iter().filter(|pair| synthetic::same_person(&pair.left_id, &pair.right_id)).count();
    let (precision, recall) = (correct as f64 / pairs.len() as f64, correct as f64 / 250.0);
    assert!(precision >= 0.95 && recall >= 0.9, "dedupe precision {precision:.3} recall {recall:.3}");
}

#[test]
fn a_file_without_schema_columns_is_refused() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("odd.csv");
    std::fs::write(&path, "id,colour\n1,red\n2,blue\n").unwrap();
    assert!(batch::run(&BatchOptions::new(BatchInput::Dedupe(path))).is_err());
    let missing = directory.path().join("missing.csv");
    assert!(batch::run(&BatchOptions::new(BatchInput::Dedupe(missing))).is_err());
}
