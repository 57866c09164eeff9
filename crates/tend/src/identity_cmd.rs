//! `tend identity …` and `tend customers …`: bring CRM customers in, and look at them.

use std::path::Path;

use anyhow::{Context as _, bail};
use serde::Deserialize;
use tend_proto::v1;

use crate::cli::{self, ImportFormat};
use crate::commands::{connect, failed};

/// Several values given as a list (JSON) or one `;`-separated string (CSV).
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum Many {
    #[default]
    None,
    List(Vec<String>),
    Joined(String),
}

impl Many {
    fn values(self) -> Vec<String> {
        let values = match self {
            Many::None => Vec::new(),
            Many::List(values) => values,
            Many::Joined(joined) => joined.split(';').map(str::to_owned).collect(),
        };
        values.into_iter().map(|value| value.trim().to_owned()).filter(|value| !value.is_empty()).collect()
    }
}

/// One customer as a CSV row or a JSON line. Handles are written `channel:handle`
/// (e.g. `x:jane_doe`), free attributes `name=value` (e.g. `product=router-x`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Record {
    crm_id: String,
    given_name: String,
    family_name: String,
    emails: Many,
    phones: Many,
    handles: Many,
    street: String,
    city: String,
    region: String,
    postcode: String,
    country: String,
    date_of_birth: String,
    segment: String,
    tier: String,
    lifetime_value: Option<f64>,
    default_region: String,
    attributes: Many,
}

fn channel(name: &str) -> Option<v1::Channel> {
    match name.to_lowercase().as_str() {
        "x" | "twitter" => Some(v1::Channel::X),
        "facebook" => Some(v1::Channel::Facebook),
        "instagram" => Some(v1::Channel::Instagram),
        "email" => Some(v1::Channel::Email),
        "chat" => Some(v1::Channel::Chat),
        "review" => Some(v1::Channel::Review),
        _ => None,
    }
}

impl Record {
    fn into_input(self, default_region: &str) -> anyhow::Result<v1::CustomerInput> {
        let mut handles = Vec::new();
        for handle in self.handles.values() {
            let Some((name, value)) = handle.split_once(':') else {
                bail!("handle {handle:?} must be written channel:handle, e.g. x:jane_doe");
            };
            let channel = channel(name).with_context(|| format!("unknown channel {name:?} in handle {handle:?}"))?;
            handles.push(v1::KnownHandle { channel: channel.into(), handle: value.to_owned() });
        }
        let mut attributes = std::collections::HashMap::new();
        for attribute in self.attributes.values() {
            let Some((name, value)) = attribute.split_once('=') else {
                bail!("attribute {attribute:?} must be written name=value, e.g. product=router-x");
            };
            attributes.insert(name.trim().to_owned(), value.trim().to_owned());
        }
        let has_address =
            [&self.street, &self.city, &self.region, &self.postcode, &self.country].iter().any(|v| !v.is_empty());
        Ok(v1::CustomerInput {
            crm_id: self.crm_id,
            given_name: self.given_name,
            family_name: self.family_name,
            emails: self.emails.values(),
            phones: self.phones.values(),
            address: has_address.then_some(v1::PostalAddress {
                street: self.street,
                city: self.city,
                region: self.region,
                postcode: self.postcode,
                country: self.country,
            }),
            date_of_birth: self.date_of_birth,
            handles,
            segment: self.segment,
            tier: self.tier,
            lifetime_value: self.lifetime_value.unwrap_or_default(),
            purchases: None,
            default_region: if self.default_region.is_empty() {
                default_region.to_owned()
            } else {
                self.default_region
            },
            attributes,
        })
    }
}

/// Reads every record of `path`; a record that cannot be read fails the import before anything
/// is sent, naming its line.
fn read(path: &Path, format: ImportFormat, default_region: &str) -> anyhow::Result<Vec<v1::ImportCustomersRequest>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&text, format, default_region)
}

/// Every record of `text`, a CSV or JSON Lines file; the first that cannot be read is the error,
/// naming its line.
fn parse(text: &str, format: ImportFormat, default_region: &str) -> anyhow::Result<Vec<v1::ImportCustomersRequest>> {
    let records: Vec<(usize, Record)> = match format {
        ImportFormat::Jsonl => text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(index, line)| {
                serde_json::from_str(line)
                    .map(|record| (index + 1, record))
                    .with_context(|| format!("line {}", index + 1))
            })
            .collect::<anyhow::Result<_>>()?,
        ImportFormat::Csv => csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes())
            .deserialize::<Record>()
            .enumerate()
            .map(|(index, record)| {
                record.map(|record| (index + 2, record)).with_context(|| format!("line {}", index + 2))
            })
            .collect::<anyhow::Result<_>>()?,
    };
    records
        .into_iter()
        .map(|(line, record)| {
            let customer = record.into_input(default_region).with_context(|| format!("line {line}"))?;
            Ok(v1::ImportCustomersRequest { customer: Some(customer) })
        })
        .collect()
}

fn format_of(path: &Path, format: Option<ImportFormat>) -> anyhow::Result<ImportFormat> {
    if let Some(format) = format {
        return Ok(format);
    }
    match path.extension().and_then(|extension| extension.to_str()) {
        Some("csv") => Ok(ImportFormat::Csv),
        Some("jsonl" | "ndjson") => Ok(ImportFormat::Jsonl),
        _ => bail!("cannot tell the format of {} from its name: pass --format csv or --format jsonl", path.display()),
    }
}

/// `tend identity import FILE`.
pub async fn import(args: cli::ImportArgs) -> anyhow::Result<()> {
    let format = format_of(&args.file, args.format)?;
    let requests = read(&args.file, format, &args.default_region)?;
    let count = requests.len();
    let client = connect(&args.connection).await?;
    let outcome = client.identity().import_customers(tokio_stream::iter(requests)).await.map_err(failed)?.into_inner();
    println!(
        "{count} records: {} created, {} updated, {} rejected",
        outcome.created, outcome.updated, outcome.rejected
    );
    for error in &outcome.errors {
        println!("  {error}");
    }
    Ok(())
}

/// `tend identity link`: the matcher over files, locally. Prints figures to stderr so the
/// pairs can go to stdout.
pub fn link(args: cli::LinkArgs) -> anyhow::Result<()> {
    use tend_matching::batch::{BatchInput, BatchOptions};
    if !(0.0..=1.0).contains(&args.threshold) {
        bail!("--threshold must be between 0 and 1");
    }
    let input = match (args.left, args.right, args.dedupe) {
        (Some(left), Some(right), None) => BatchInput::Link { left, right },
        (None, None, Some(file)) => BatchInput::Dedupe(file),
        _ => bail!("give --left and --right, or --dedupe"),
    };
    let mut options = BatchOptions::new(input);
    options.matching.threshold = args.threshold;
    options.id_column = args.id_column;
    options.output = Some(args.output);
    let report = tend_matching::batch::run(&options)?;
    eprintln!(
        "{} pairs at probability >= {} from {} candidate pairs ({} + {} records; fields: {})",
        report.run.pairs.len(),
        args.threshold,
        report.run.stats.candidate_pairs,
        report.left_records,
        report.right_records,
        report.fields.join(", ")
    );
    Ok(())
}

/// `tend customers …`.
pub async fn customers(command: cli::CustomersCommand) -> anyhow::Result<()> {
    match command {
        cli::CustomersCommand::List(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::ListCustomersRequest { page_size: args.limit, page_token: args.page_token };
            let page = client.identity().list_customers(request).await.map_err(failed)?.into_inner();
            for customer in &page.customers {
                let original = customer.original.clone().unwrap_or_default();
                println!("{}  {:<12}  {} {}", customer.id, original.crm_id, original.given_name, original.family_name);
            }
            crate::commands::print_next(&page.next_page_token);
        }
        cli::CustomersCommand::Get(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::GetCustomerRequest { id: args.id };
            let customer = client.identity().get_customer(request).await.map_err(failed)?.into_inner();
            let original = customer.original.unwrap_or_default();
            let normalized = customer.normalized.unwrap_or_default();
            println!("id:       {}", customer.id);
            println!("crm id:   {}", original.crm_id);
            println!("name:     {} {}", original.given_name, original.family_name);
            println!("emails:   {}", normalized.emails.join(", "));
            println!("phones:   {}", normalized.phones.join(", "));
            println!("handles:  {}", normalized.handles.join(", "));
            println!("tier:     {}", original.tier);
        }
        cli::CustomersCommand::Export(args) => crate::export_cmd::export(args).await?,
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_csv_and_jsonl_alike() {
        let dir = tempfile::tempdir().unwrap();
        let csv_path = dir.path().join("c.csv");
        std::fs::write(
            &csv_path,
            "crm_id,given_name,emails,handles,postcode\nC1, Jane ,a@example.com;b@example.com,x:jane;instagram:jd,SW1A 1AA\n",
        )
        .unwrap();
        let jsonl_path = dir.path().join("c.jsonl");
        std::fs::write(
            &jsonl_path,
            r#"{"crm_id":"C1","given_name":"Jane","emails":["a@example.com","b@example.com"],"handles":["x:jane","instagram:jd"],"postcode":"SW1A 1AA"}"#,
        )
        .unwrap();
        let from_csv = read(&csv_path, ImportFormat::Csv, "GB").unwrap();
        let from_jsonl = read(&jsonl_path, ImportFormat::Jsonl, "GB").unwrap();
        assert_eq!(from_csv, from_jsonl);
        let customer = from_csv[0].customer.clone().unwrap();
        assert_eq!(customer.emails.len(), 2);
        assert_eq!(customer.handles[1].channel, i32::from(v1::Channel::Instagram));
        assert_eq!(customer.default_region, "GB");
    }

    #[test]
    fn a_bad_record_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.csv");
        std::fs::write(&path, "crm_id,handles\nC1,x:jane\nC2,myspace:old\n").unwrap();
        let error = format!("{:#}", read(&path, ImportFormat::Csv, "").unwrap_err());
        assert!(error.contains("line 3") && error.contains("myspace"), "{error}");
        assert!(format_of(Path::new("x.txt"), None).is_err());
    }

    /// Fuzz targets (docs/FUZZING.md): any text as a CSV or JSON Lines import gives requests or
    /// an error naming a line, never a panic; and one request per record read.
    fn check_import(format: ImportFormat, text: &str) {
        match parse(text, format, "GB") {
            Ok(requests) => {
                // CSV also ends a record at a lone carriage return.
                let lines = text.split(['\n', '\r']).count();
                assert!(requests.len() <= lines, "{} requests from {lines} lines", requests.len());
                for request in &requests {
                    let customer = request.customer.as_ref().unwrap();
                    assert!(!customer.default_region.is_empty());
                    assert!(customer.emails.iter().chain(&customer.phones).all(|value| value.trim() == value));
                    assert!(customer.emails.iter().chain(&customer.phones).all(|value| !value.is_empty()));
                }
            }
            Err(error) => {
                let error = format!("{error:#}");
                assert!(error.starts_with("line "), "{error}");
            }
        }
    }

    const CSV_TOKENS: &[&str] =
        &[",", "\"", "\n", "\r\n", ";", ":", "x:", "myspace:", "NaN", "-inf", "1e999", " ", "\u{feff}"];
    const JSON_TOKENS: &[&str] =
        &["{", "}", "[", "]", "\"", ",", ":", "\n", "null", "1e999", "-0", "\"x:a\"", "\"emails\":", "\"handles\":"];

    #[test]
    fn import_csv() {
        let seeds = crate::fuzz_support::corpus("import_csv");
        bolero::check!(name = "import_csv")
            .with_iterations(crate::fuzz_support::ITERATIONS)
            .with_test_time(crate::fuzz_support::TIME)
            .for_each(|input: &[u8]| {
                check_import(ImportFormat::Csv, &String::from_utf8_lossy(input));
                let mutant = crate::fuzz_support::mutate(&seeds, CSV_TOKENS, input);
                check_import(ImportFormat::Csv, &String::from_utf8_lossy(&mutant));
            });
    }

    #[test]
    fn import_jsonl() {
        let seeds = crate::fuzz_support::corpus("import_jsonl");
        bolero::check!(name = "import_jsonl")
            .with_iterations(crate::fuzz_support::ITERATIONS)
            .with_test_time(crate::fuzz_support::TIME)
            .for_each(|input: &[u8]| {
                check_import(ImportFormat::Jsonl, &String::from_utf8_lossy(input));
                let mutant = crate::fuzz_support::mutate(&seeds, JSON_TOKENS, input);
                check_import(ImportFormat::Jsonl, &String::from_utf8_lossy(&mutant));
            });
    }
}
