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
