//! `tend surveys` and `tend testimonials` with the real binary: `tend dev` makes its own link
//! secret, a template is put, a resolved case is surveyed on its channel, and the published
//! testimonials come out as a JSON Feed and an HTML snippet (docs/FEEDBACK.md).

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{run, start_dev, tend};

/// The value of the `key` line of `tend` output.
fn field<'a>(output: &'a str, key: &str) -> &'a str {
    output
        .lines()
        .find_map(|line| line.strip_prefix(key).map(str::trim))
        .unwrap_or_else(|| panic!("no {key:?} in:\n{output}"))
}

#[tokio::test]
async fn a_template_a_survey_sent_and_the_feed() {
    let dev = start_dev(&[("RUST_LOG", "off")], Stdio::inherit()).await;
    let endpoint = dev.endpoint.clone();
    tokio::task::spawn_blocking(move || {
        let endpoint = endpoint.as_str();
        let put = tend(
            endpoint,
            &[
                "surveys",
                "put",
                "after-care",
                "--kind",
                "csat",
                "--invitation",
                "Thanks {first_name}! How did we do? {link}",
                "--question",
                "How satisfied are you with our help?",
                "--channel",
                "x",
                "--cap-days",
                "30",
                "--low-score",
                "2",
                "--low-score-action",
                "alert",
                "--testimonial-min-score",
                "5",
            ],
        );
        assert!(put.starts_with("survey template after-care saved (version 1)"), "{put}");
        let listed = tend(endpoint, &["surveys", "list"]);
        assert!(listed.contains("after-care") && listed.contains("CSAT"), "{listed}");
        // A bad template is refused with what to fix.
        let (ok, _, stderr) = run(endpoint, &["surveys", "put", "bad", "--invitation", "no link", "--question", "?"]);
        assert!(!ok && stderr.contains("invitation") && stderr.contains("{link}"), "{stderr}");

        let posted = tend(endpoint, &["post", "--handle", "jane", "--text", "my order #123 never arrived", "--wait"]);
        let case = field(&posted, "case:").to_owned();
        tend(endpoint, &["cases", "resolve", &case, "--note", "refunded"]);
        let started = Instant::now();
        let sent = loop {
            let sent = tend(endpoint, &["surveys", "sent", "--case", &case]);
            if sent.contains(&case) {
                break sent;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "no survey for {case}: {sent}");
            std::thread::sleep(Duration::from_millis(200));
        };
        assert!(sent.contains(" x ") && sent.contains("sent") && sent.contains("reply survey."), "{sent}");

        let opted = tend(endpoint, &["surveys", "opt-out", "--customer", "crm-7"]);
        assert!(opted.starts_with("crm-7 gets no surveys"), "{opted}");

        // Nothing published yet: an empty feed with its version, an empty snippet.
        let feed: serde_json::Value =
            serde_json::from_str(&tend(endpoint, &["testimonials", "feed", "--title", "Acme"])).unwrap();
        assert_eq!(feed["version"], "https://jsonfeed.org/version/1.1");
        assert_eq!(feed["title"], "Acme");
        assert_eq!(feed["_tend"]["etag"], "v0");
        assert_eq!(feed["items"].as_array().unwrap().len(), 0);
        let html = tend(endpoint, &["testimonials", "feed", "--format", "html"]);
        assert_eq!(html, "<section class=\"tend-testimonials\">\n</section>\n");
    })
    .await
    .unwrap();
    dev.stop().await;
}

/// `tend export insights` with its CSV rows.
fn insights(endpoint: &str, args: &[&str]) -> Vec<Vec<String>> {
    let mut full = vec!["export", "insights", "--since", "1h"];
    full.extend_from_slice(args);
    let output = tend(endpoint, &full);
    let mut reader = csv::Reader::from_reader(output.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let mut rows = vec![header];
    rows.extend(reader.records().map(|record| record.unwrap().iter().map(str::to_owned).collect()));
    rows
}

#[tokio::test]
async fn insights_per_customer_and_topic_as_csv_and_json_lines() {
    let dev = start_dev(&[("RUST_LOG", "off")], Stdio::inherit()).await;
    let endpoint = dev.endpoint.clone();
    tokio::task::spawn_blocking(move || {
        let endpoint = endpoint.as_str();
        let crm = std::env::temp_dir().join(format!("tend-insights-crm-{}.csv", std::process::id()));
        std::fs::write(
            &crm,
            "crm_id,given_name,family_name,handles,segment,lifetime_value\n\
             CRM-1,Jane,Doe,x:jane,enterprise,1200\nCRM-2,Bob,Roe,x:bob,smb,300\n",
        )
        .unwrap();
        let imported = tend(endpoint, &["identity", "import", crm.to_str().unwrap()]);
        assert!(imported.contains("2 created"), "{imported}");
        let _ = std::fs::remove_file(&crm);
        let jane = tend(endpoint, &["post", "--handle", "jane", "--text", "My order #123 never arrived", "--wait"]);
        let jane = field(&jane, "customer:").to_owned();
        let bob = tend(
            endpoint,
            &["post", "--handle", "bob", "--text", "I'm thinking of switching to another bank, 3rd outage", "--wait"],
        );
        let bob = field(&bob, "customer:").to_owned();

        // Feedback records the openings from `cases.events`: wait for both customers.
        let started = Instant::now();
        let rows = loop {
            let rows = insights(endpoint, &["--by", "customer"]);
            if rows.len() == 3 {
                break rows;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "not both customers yet: {rows:?}");
            std::thread::sleep(Duration::from_millis(200));
        };
        let header = &rows[0];
        assert_eq!(header[..4], ["customer_id", "segment", "lifetime_value", "posts"]);
        let column = |name: &str| header.iter().position(|column| column == name).unwrap();
        let row_of = |id: &str| rows.iter().find(|row| row[0] == id).unwrap_or_else(|| panic!("{id}: {rows:?}"));
        let jane_row = row_of(&jane);
        assert_eq!(jane_row[column("segment")], "enterprise");
        assert_eq!(jane_row[column("lifetime_value")], "1200.00");
        assert_eq!(jane_row[column("posts")], "1");
        assert_eq!(jane_row[column("churn_risk_posts")], "0");
        let bob_row = row_of(&bob);
        assert_eq!(bob_row[column("segment")], "smb");
        assert_eq!(bob_row[column("churn_risk_posts")], "1");
        assert!(!bob_row[column("last_churn_risk_at")].is_empty());

        // JSON Lines to a file: one object a line, proto field names.
        let file = std::env::temp_dir().join(format!("tend-insights-{}.jsonl", std::process::id()));
        let wrote = run(
            endpoint,
            &[
                "export",
                "insights",
                "--since",
                "1h",
                "--by",
                "customer",
                "--format",
                "jsonl",
                "--output",
                file.to_str().unwrap(),
            ],
        );
        assert!(wrote.0, "{wrote:?}");
        let lines = std::fs::read_to_string(&file).unwrap();
        let _ = std::fs::remove_file(&file);
        let objects: Vec<serde_json::Value> = lines.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(objects.len(), 2, "{lines}");
        assert!(
            objects.iter().any(|object| object["customer_id"] == jane.as_str() && object["segment"] == "enterprise")
        );
        assert!(objects.iter().all(|object| object["sentiment"]["rated"].is_u64()));

        let topics = insights(endpoint, &["--by", "topic"]);
        assert_eq!(topics[0][..3], ["topic", "posts", "customers"]);

        // Consent: a customer who opted out is in no per-customer row.
        tend(endpoint, &["surveys", "opt-out", "--customer", &bob]);
        let rows = insights(endpoint, &["--by", "customer"]);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[1][0], jane);

        // A range too long is refused with what to do.
        let (ok, _, stderr) = run(endpoint, &["export", "insights", "--since", "500d", "--by", "topic"]);
        assert!(!ok && stderr.contains("400 days"), "{stderr}");
    })
    .await
    .unwrap();
    dev.stop().await;
}
