//! Batch linkage over CSV files: the one place this crate does I/O.
//!
//! Each file has a header. The id column is `--id-column`, else `rec_id`, else `id`, else the first
//! column. Columns are mapped to schema fields by name (header names are trimmed; FEBRL's have
//! leading spaces), and only schema fields are read: identifiers such as FEBRL's `soc_sec_id` are
//! never looked at. The default schema is [`Schema::febrl`] reduced to the columns present.
//!
//! [`run`] trains on the file(s), links (two files) or deduplicates (one file) and, when asked,
//! writes the pairs as CSV: `left_id,right_id,probability,weight`, highest weight first.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Error;
use crate::model::{MatchOptions, Run, ScoredPair, train_and_dedupe, train_and_link};
use crate::schema::{Record, Schema};
use crate::train::TrainOptions;

/// Records read from one CSV file.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The records, in file order.
    pub records: Vec<Record>,
    /// The header, trimmed.
    pub header: Vec<String>,
}

/// Read records from CSV. `label` names the source in errors; `id_column` overrides the default
/// id column; only the columns named by `schema` fields are kept.
pub fn read_records<R: Read>(
    reader: R,
    label: &str,
    schema: &Schema,
    id_column: Option<&str>,
) -> Result<Loaded, Error> {
    let csv_error = |source| Error::Csv { path: label.to_string(), source };
    let mut reader =
        csv::ReaderBuilder::new().has_headers(true).flexible(true).trim(csv::Trim::All).from_reader(reader);
    let header: Vec<String> = reader.headers().map_err(csv_error)?.iter().map(|name| name.trim().to_string()).collect();
    let id_position = match id_column {
        Some(wanted) => header
            .iter()
            .position(|name| name == wanted)
            .ok_or_else(|| Error::Input { path: label.to_string(), message: format!("no id column {wanted}") })?,
        None => ["rec_id", "id"].iter().find_map(|wanted| header.iter().position(|name| name == wanted)).unwrap_or(0),
    };
    let columns: Vec<(usize, &str)> = header
        .iter()
        .enumerate()
        .filter(|(position, name)| *position != id_position && schema.field_index(name).is_some())
        .map(|(position, name)| (position, name.as_str()))
        .collect();
    let mut records = Vec::new();
    let mut row = csv::StringRecord::new();
    while reader.read_record(&mut row).map_err(csv_error)? {
        if row.iter().all(str::is_empty) {
            continue;
        }
        let mut record = Record::new(row.get(id_position).unwrap_or_default());
        for (position, name) in &columns {
            match row.get(*position) {
                Some(value) if !value.is_empty() => record.set(*name, value),
                _ => {}
            }
        }
        records.push(record);
    }
    Ok(Loaded { records, header })
}

/// Read records from a CSV file (see [`read_records`]).
pub fn read_records_from(path: &Path, schema: &Schema, id_column: Option<&str>) -> Result<Loaded, Error> {
    let label = path.display().to_string();
    let file = File::open(path).map_err(|source| Error::Csv { path: label.clone(), source: source.into() })?;
    read_records(io::BufReader::new(file), &label, schema, id_column)
}

/// Write pairs as CSV: `left_id,right_id,probability,weight`.
pub fn write_pairs<W: Write>(writer: W, pairs: &[ScoredPair]) -> Result<(), csv::Error> {
    let mut writer = csv::Writer::from_writer(writer);
    writer.write_record(["left_id", "right_id", "probability", "weight"])?;
    for pair in pairs {
        let probability = format!("{:.6}", pair.probability);
        let weight = format!("{:.3}", pair.weight);
        writer.write_record([pair.left_id.as_str(), pair.right_id.as_str(), &probability, &weight])?;
    }
    writer.flush()?;
    Ok(())
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchInput {
    /// Link the records of `left` to those of `right`.
    Link {
        /// The left file.
        left: PathBuf,
        /// The right file.
        right: PathBuf,
    },
    /// Find duplicates within one file.
    Dedupe(PathBuf),
}

/// A batch run's settings.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// The file(s).
    pub input: BatchInput,
    /// The schema; `None` for [`Schema::febrl`] reduced to the columns of the file(s).
    pub schema: Option<Schema>,
    /// The id column; `None` for `rec_id`, `id` or the first column.
    pub id_column: Option<String>,
    /// Training knobs.
    pub train: TrainOptions,
    /// Threshold and one-to-one selection.
    pub matching: MatchOptions,
    /// Where to write the pairs as CSV (`-` for standard output); `None` to only return them.
    pub output: Option<PathBuf>,
}

impl BatchOptions {
    /// Defaults for `input`: FEBRL schema, threshold 0.9, one-to-one when linking, no output.
    pub fn new(input: BatchInput) -> Self {
        let one_to_one = matches!(input, BatchInput::Link { .. });
        Self {
            input,
            schema: None,
            id_column: None,
            train: TrainOptions::default(),
            matching: MatchOptions { one_to_one, ..MatchOptions::default() },
            output: None,
        }
    }
}

/// The outcome of a batch run.
#[derive(Debug, Clone)]
pub struct BatchReport {
    /// The model, pairs and figures.
    pub run: Run,
    /// The schema fields used.
    pub fields: Vec<String>,
    /// Records read on the left (or the only) side.
    pub left_records: usize,
    /// Records read on the right (0 in dedupe mode).
    pub right_records: usize,
    /// Time to read the CSV file(s).
    pub load: Duration,
    /// Time to write the output, if any.
    pub write: Duration,
}

/// Read, train, match and (if asked) write: `tend identity link` in one call.
pub fn run(options: &BatchOptions) -> Result<BatchReport, Error> {
    let clock = Instant::now();
    let base = options.schema.clone().unwrap_or_else(Schema::febrl);
    let id_column = options.id_column.as_deref();
    let (left, right) = match &options.input {
        BatchInput::Link { left, right } => {
            (read_records_from(left, &base, id_column)?, Some(read_records_from(right, &base, id_column)?))
        }
        BatchInput::Dedupe(path) => (read_records_from(path, &base, id_column)?, None),
    };
    let load = clock.elapsed();
    let schema = match &options.schema {
        Some(schema) => schema.clone(),
        None => {
            let present: Vec<&str> = left
                .header
                .iter()
                .map(String::as_str)
                .filter(|name| right.as_ref().is_none_or(|right| right.header.iter().any(|other| other == name)))
                .collect();
            Schema::febrl().restricted_to(&present)
        }
    };
    if schema.fields.is_empty() {
        let path = match &options.input {
            BatchInput::Link { left, .. } | BatchInput::Dedupe(left) => left.display().to_string(),
        };
        return Err(Error::Input { path, message: "no column matches a field of the schema".into() });
    }
    let fields = schema.fields.iter().map(|field| field.name.clone()).collect();
    let run = match &right {
        Some(right) => train_and_link(schema, &left.records, &right.records, &options.train, &options.matching)?,
        None => train_and_dedupe(schema, &left.records, &options.train, &options.matching)?,
    };
    let clock = Instant::now();
    if let Some(output) = &options.output {
        write_output(output, &run.pairs)?;
    }
    Ok(BatchReport {
        run,
        fields,
        left_records: left.records.len(),
        right_records: right.map_or(0, |right| right.records.len()),
        load,
        write: clock.elapsed(),
    })
}

/// Write pairs to a file, or to standard output for `-`.
pub fn write_output(path: &Path, pairs: &[ScoredPair]) -> Result<(), Error> {
    let label = path.display().to_string();
    let result = if path.as_os_str() == "-" {
        write_pairs(io::stdout().lock(), pairs)
    } else {
        let file = File::create(path).map_err(|source| Error::Io { path: label.clone(), source })?;
        write_pairs(io::BufWriter::new(file), pairs)
    };
    result.map_err(|source| Error::Csv { path: label, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FEBRL_LIKE: &str = "rec_id, given_name, surname, postcode, soc_sec_id\r\n\
        rec-1-org, michaela, neumann, 4223, 5304218\r\n\
        rec-2-org, , painter, 4560, 4066625\r\n\
        \r\n";

    #[test]
    fn reads_febrl_style_csv_and_ignores_unknown_columns() {
        let loaded = read_records(FEBRL_LIKE.as_bytes(), "test", &Schema::febrl(), None).unwrap();
        assert_eq!(loaded.header, ["rec_id", "given_name", "surname", "postcode", "soc_sec_id"]);
        assert_eq!(loaded.records.len(), 2);
        let first = &loaded.records[0];
        assert_eq!(first.id, "rec-1-org");
        assert_eq!(first.get("given_name"), Some("michaela"));
        assert_eq!(first.get("soc_sec_id"), None);
        assert_eq!(loaded.records[1].get("given_name"), None);
    }

    #[test]
    fn the_id_column_can_be_chosen() {
        let loaded = read_records(FEBRL_LIKE.as_bytes(), "test", &Schema::febrl(), Some("postcode")).unwrap();
        assert_eq!(loaded.records[0].id, "4223");
        assert!(read_records(FEBRL_LIKE.as_bytes(), "test", &Schema::febrl(), Some("nope")).is_err());
    }

    #[test]
    fn pairs_are_written_as_csv() {
        let pairs = [ScoredPair {
            left: 0,
            right: 3,
            left_id: "a".into(),
            right_id: "b,c".into(),
            weight: 12.3456,
            probability: 0.999_75,
        }];
        let mut out = Vec::new();
        write_pairs(&mut out, &pairs).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "left_id,right_id,probability,weight\na,\"b,c\",0.999750,12.346\n");
    }
}
