//! `tend incidents` with the real binary: two customers write about one problem, their cases are
//! grouped in an incident, answered with one command, and resolved together (docs/CASES.md,
//! "Incidents: one problem, many customers").

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::process::Stdio;

use common::{run, start_dev, tend};

/// The value of the `key` line of `tend` output.
fn field<'a>(output: &'a str, key: &str) -> &'a str {
    output
        .lines()
        .find_map(|line| line.strip_prefix(key).map(str::trim))
        .unwrap_or_else(|| panic!("no {key:?} in:\n{output}"))
}

#[tokio::test]
async fn open_answer_and_resolve_an_incident() {
    let dev = start_dev(&[("RUST_LOG", "off")], Stdio::inherit()).await;
    let endpoint = dev.endpoint.clone();
    tokio::task::spawn_blocking(move || {
        let endpoint = endpoint.as_str();
        let cases: Vec<String> =
            [("ana", "my parcel #456 never arrived, two weeks now"), ("bo", "the refund you promised never arrived")]
                .iter()
                .map(|(handle, text)| {
                    let posted = tend(endpoint, &["post", "--handle", handle, "--text", text, "--wait"]);
                    field(&posted, "case:").to_owned()
                })
                .collect();

        let opened = tend(
            endpoint,
            &["incidents", "open", "--title", "Parcels late", "--topic", "delivery", "--key", "burst-1", &cases[0]],
        );
        let incident = field(&opened, "incident:").to_owned();
        assert_eq!(field(&opened, "status:"), "open");
        assert_eq!(field(&opened, "members:"), "1 (1 open)");
        // The same key again is the same incident.
        let again = tend(endpoint, &["incidents", "open", "--title", "Parcels late", "--key", "burst-1"]);
        assert_eq!(field(&again, "incident:"), incident);

        let added = tend(endpoint, &["incidents", "add", &incident, &cases[1]]);
        assert_eq!(field(&added, "members:"), "2 (2 open)");
        let updated = tend(endpoint, &["incidents", "update", &incident, "--root-cause", "courier-strike"]);
        assert_eq!(field(&updated, "root cause:"), "courier-strike");

        // A second incident about the same problem is merged into the first.
        let duplicate = tend(endpoint, &["incidents", "open", "--title", "Where are the parcels?"]);
        let duplicate = field(&duplicate, "incident:").to_owned();
        let merged = tend(endpoint, &["incidents", "merge", &duplicate, "--into", &incident]);
        assert!(merged.starts_with(&format!("incident {duplicate} merged into {incident}")), "{merged}");
        let gone = tend(endpoint, &["incidents", "get", &duplicate]);
        assert_eq!((field(&gone, "status:"), field(&gone, "merged into:")), ("merged", incident.as_str()));

        let listed = tend(endpoint, &["incidents", "list", "--status", "open"]);
        assert!(listed.starts_with(&incident), "{listed}");
        assert!(listed.contains("2 cases (2 open)  Parcels late"), "{listed}");
        let shown = tend(endpoint, &["incidents", "get", &incident, "--members"]);
        for case in &cases {
            assert!(shown.lines().any(|line| line.starts_with(case.as_str())), "{case} not a member:\n{shown}");
        }

        // One answer, one reply per member; the same answer id again requests nothing more.
        let answer = [
            "incidents",
            "answer",
            &incident,
            "--text",
            "Hi {first_name}, your parcel is on its way.",
            "--translation",
            "es=Hola {first_name}, tu paquete está en camino.",
            "--answer-id",
            "fixed-1",
        ];
        let answered = tend(endpoint, &answer);
        assert_eq!(field(&answered, "answer:"), "fixed-1");
        assert!(field(&answered, "replies:").starts_with("2 requested"), "{answered}");
        assert!(field(&tend(endpoint, &answer), "replies:").starts_with("2 requested"));
        // No channel account is registered in this `tend dev`: ingest reports each reply failed,
        // saying why.
        let mut status = String::new();
        for _ in 0..100 {
            status = tend(endpoint, &["incidents", "answer-status", "fixed-1"]);
            if field(&status, "replies:").ends_with(" 0 pending") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert_eq!(field(&status, "replies:"), "2 requested, 0 delivered, 2 failed, 0 pending", "{status}");
        assert_eq!(status.matches("failed     the interaction came in on no registered account").count(), 2);
        for case in &cases {
            assert!(status.lines().any(|line| line.starts_with(case.as_str())), "no reply for {case}:\n{status}");
        }
        let replies = tend(endpoint, &["cases", "replies", &cases[0]]);
        assert!(replies.contains(&format!("fixed-1.{}", cases[0])), "{replies}");

        // Resolving needs a note, and resolves every member with it.
        let (ok, _, refused) = run(endpoint, &["incidents", "resolve", &incident]);
        assert!(!ok && refused.contains("--note"), "{refused}");
        let resolved = tend(endpoint, &["incidents", "resolve", &incident, "--note", "the courier delivered them"]);
        assert_eq!(field(&resolved, "status:"), "resolved");
        assert_eq!(field(&resolved, "members:"), "2 (0 open)");
        assert_eq!(field(&resolved, "note:"), "the courier delivered them");
        for case in &cases {
            let shown = tend(endpoint, &["cases", "get", case]);
            assert_eq!(field(&shown, "status:"), "resolved", "{shown}");
            assert_eq!(field(&shown, "note:"), "the courier delivered them", "{shown}");
        }
        let resolved_list = tend(endpoint, &["incidents", "list", "--status", "resolved"]);
        assert!(resolved_list.starts_with(&incident), "{resolved_list}");
        assert!(tend(endpoint, &["incidents", "list", "--status", "open"]).starts_with("no incidents"));
        let (ok, _, closed) = run(endpoint, &["incidents", "add", &incident, &cases[0]]);
        assert!(!ok && closed.contains("FailedPrecondition"), "{closed}");
    })
    .await
    .unwrap();
    dev.stop().await;
}

/// `tend thresholds` and `tend topics` with the real binary: a threshold saved, listed,
/// replaced and removed; a burst shows in `tend topics` as hot, with its reason.
#[tokio::test]
async fn thresholds_and_hot_topics() {
    let dev = start_dev(
        &[("RUST_LOG", "off"), ("TEND__TRENDS__EVERY", "1s"), ("TEND__TRENDS__LEASE", "3s")],
        Stdio::inherit(),
    )
    .await;
    let endpoint = dev.endpoint.clone();
    tokio::task::spawn_blocking(move || {
        let endpoint = endpoint.as_str();
        let saved = tend(
            endpoint,
            &["thresholds", "put", "outage-burst", "--topic", "outage", "--posts", "20", "--within", "2h"],
        );
        assert!(saved.contains("20 posts on outage within 2h"), "{saved}");
        tend(endpoint, &["thresholds", "put", "outage-burst", "--topic", "outage", "--posts", "30", "--within", "90m"]);
        let listed = tend(endpoint, &["thresholds", "list"]);
        assert_eq!(listed.lines().count(), 1, "{listed}");
        assert!(listed.contains("30 posts on outage within 90m"), "{listed}");
        assert!(tend(endpoint, &["topics"]).starts_with("no topics assessed yet"));

        let dictionary = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(dictionary.path(), "topic,keywords\noutage,down;outage\n").unwrap();
        tend(endpoint, &["text", "topics", "put", dictionary.path().to_str().unwrap()]);
        for n in 0..15 {
            tend(
                endpoint,
                &["post", "--handle", &format!("user{n}"), "--text", &format!("app down again, outage {n}")],
            );
        }
        let mut shown = String::new();
        for _ in 0..60 {
            shown = tend(endpoint, &["topics", "--hot"]);
            if shown.contains("HOT") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        assert!(shown.contains("outage") && shown.contains("HOT") && shown.contains("posts in"), "{shown}");

        assert!(tend(endpoint, &["thresholds", "delete", "outage-burst"]).contains("removed"));
        assert!(tend(endpoint, &["thresholds", "list"]).starts_with("no thresholds"));
    })
    .await
    .unwrap();
    dev.stop().await;
}
