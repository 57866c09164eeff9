//! The README's walk-through, run with the real binary: start `tend dev`, check health, send a
//! post and wait for its case, list, resolve, report, and send a duplicate.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{run, start_dev, tend};

/// The value of the `key:` line of `tend` output.
/// A labelled CSV in a tenant's own words ("zorped" is how its customers complain,
/// "blorptastic" how they praise), which the built-in lexicon does not know.
fn labelled_csv(count: usize, offset: usize) -> String {
    let negative = ["the app zorped again", "totally zorped my settings", "skronk skronk all day"];
    let positive = ["blorptastic chat with the team", "the new release is blorptastic", "so blorptastic today"];
    let neutral = ["the update arrives on monday", "my plan renews in june", "the store opens at nine"];
    let mut csv = String::from("text,label\n");
    for i in offset..offset + count {
        let (phrases, label) = match i % 3 {
            0 => (&negative, "negative"),
            1 => (&positive, "positive"),
            _ => (&neutral, "neutral"),
        };
        csv.push_str(&format!("{} #{i},{label}\n", phrases[(i / 3) % 3]));
    }
    csv
}

fn field<'a>(output: &'a str, key: &str) -> &'a str {
    output
        .lines()
        .find_map(|line| line.strip_prefix(key).map(str::trim))
        .unwrap_or_else(|| panic!("no {key:?} in:\n{output}"))
}

#[tokio::test]
async fn readme_walkthrough() {
    let mut dev = start_dev(&[("RUST_LOG", "off")], Stdio::inherit()).await;
    let lines = &mut dev.lines;
    let mut announced = Vec::new();
    while announced.len() < 10 {
        announced.push(lines.next_line().await.unwrap().unwrap());
    }
    for service in [
        "IngestService",
        "EnrichmentService",
        "IdentityService",
        "RoutingService",
        "QueueService",
        "CaseService",
        "FeedbackService",
    ] {
        assert!(announced.iter().any(|line| line.contains(service)), "{service} not announced: {announced:?}");
    }
    let endpoint = dev.endpoint.clone();

    let endpoint_for_blocking = endpoint.clone();
    let outputs = tokio::task::spawn_blocking(move || {
        let endpoint = endpoint_for_blocking.as_str();
        let health = tend(endpoint, &["health"]);
        assert_eq!(health.matches("Serving").count(), 8, "{health}");

        let crm = std::env::temp_dir().join(format!("tend-crm-{}.csv", std::process::id()));
        std::fs::write(&crm, "crm_id,given_name,family_name,emails,handles\nCRM-1,Jane,Doe,jane@example.com,x:jane\n")
            .unwrap();
        let imported = tend(endpoint, &["identity", "import", crm.to_str().unwrap()]);
        assert!(imported.contains("1 created"), "{imported}");
        let _ = std::fs::remove_file(&crm);

        let posted = tend(
            endpoint,
            &["post", "--handle", "jane", "--followers", "25000", "--text", "My order #123 never arrived", "--wait"],
        );
        // 30 base + 15 influence (25,000 followers) + 10 known customer + 10 complaint + 4
        // negative sentiment.
        assert!(posted.contains("routed with priority 69"), "{posted}");
        assert!(posted.contains("+10 complaint"), "{posted}");
        assert_ne!(field(&posted, "customer:"), "-", "the CRM customer is on the case");
        let case_id = field(&posted, "case:").to_owned();
        assert_eq!(field(&posted, "status:"), "new");
        assert_eq!(field(&posted, "subject:"), "My order #123 never arrived");

        let read =
            tend(endpoint, &["text", "enrich", "I'm thinking of switching to another bank, 3rd outage this week"]);
        assert!(read.contains("intent       churn_risk"), "{read}");
        assert!(read.contains("actionable   yes (churn_risk)"), "{read}");

        // `tend text train` then `eval`: a model of the tenant's own words beats the built-in one.
        let labels = |name: &str, offset: usize| {
            let path = std::env::temp_dir().join(format!("tend-{name}-{}.csv", std::process::id()));
            std::fs::write(&path, labelled_csv(300, offset)).unwrap();
            path
        };
        let (history, recent) = (labels("history", 0), labels("recent", 10_000));
        let trained = tend(
            endpoint,
            &["text", "train", "--task", "sentiment", "--labels", history.to_str().unwrap(), "--activate"],
        );
        assert!(trained.contains("trained v1 on") && trained.contains("v1 is now in use (was builtin)"), "{trained}");
        let eval = |model: &str| {
            let output = tend(
                endpoint,
                &["text", "eval", "--task", "sentiment", "--labels", recent.to_str().unwrap(), "--model", model],
            );
            let accuracy = output.split("accuracy ").nth(1).and_then(|rest| rest.split(',').next()).unwrap();
            accuracy.trim().parse::<f64>().unwrap()
        };
        let (builtin, ours) = (eval("builtin"), eval("v1"));
        assert!(ours > builtin + 0.2, "trained {ours} vs built-in {builtin}");
        assert!(tend(endpoint, &["text", "models", "--task", "sentiment"]).contains("v1 (in use)"));
        let _ = (std::fs::remove_file(&history), std::fs::remove_file(&recent));

        let listed = tend(endpoint, &["cases", "list"]);
        assert!(listed.starts_with(&case_id), "{listed}");

        // The case's life: taken, tagged, noted, waiting for the customer, reprioritised.
        let assigned = tend(endpoint, &["cases", "assign", &case_id, "agent-7", "--reason", "my queue"]);
        assert_eq!(field(&assigned, "status:"), "open");
        assert_eq!(field(&assigned, "assignee:"), "agent-7");
        let tagged = tend(endpoint, &["cases", "tag", &case_id, "--add", "refund", "--add", "vip"]);
        assert_eq!(field(&tagged, "tags:"), "refund, vip");
        assert!(
            tend(endpoint, &["cases", "note", &case_id, "--text", "asked for the order number"]).contains("note_added")
        );
        let version = field(&tagged, "version:");
        let waiting = tend(
            endpoint,
            &[
                "cases",
                "move",
                &case_id,
                "pending-customer",
                "--reason",
                "order number?",
                "--expected-version",
                version,
            ],
        );
        assert_eq!(field(&waiting, "status:"), "pending-customer");
        // The version read before the move is stale now.
        let (ok, _, stale) =
            run(endpoint, &["cases", "priority", &case_id, "90", "--reason", "vip", "--expected-version", version]);
        assert!(!ok && stale.contains("Aborted") && stale.contains("read it again"), "{stale}");
        let timeline = tend(endpoint, &["cases", "timeline", &case_id]);
        for line in [
            "opened",
            "assigned",
            "to agent-7 (new -> open)",
            "+refund +vip",
            "asked for the order number",
            "open -> pending-customer  (order number?)",
        ] {
            assert!(timeline.contains(line), "{line} not in {timeline}");
        }

        // Billing is asked and answers; the case comes back to agent-7.
        let put = ["departments", "put", "billing", "--contact", "billing@example.com", "--answer-within", "4h"];
        assert!(tend(endpoint, &put).contains("department billing saved"));
        assert!(tend(endpoint, &["departments", "list"]).contains("answers within 4h"));
        let escalated = tend(
            endpoint,
            &[
                "cases",
                "escalate",
                &case_id,
                "billing",
                "--reason",
                "refund the 2nd charge",
                "--root-cause",
                "double-charge",
            ],
        );
        assert_eq!(field(&escalated, "state:"), "open");
        let waiting = tend(endpoint, &["cases", "get", &case_id]);
        assert_eq!(field(&waiting, "status:"), "pending-department");
        assert!(field(&waiting, "tags:").contains("cause:double-charge"), "{waiting}");
        let inbox = tend(endpoint, &["cases", "escalations", "--department", "billing", "--state", "open"]);
        assert!(inbox.contains(&case_id), "{inbox}");
        let answered = tend(endpoint, &["cases", "answer", &case_id, "--answer", "refunded"]);
        assert_eq!(field(&answered, "state:"), "answered");
        let back = tend(endpoint, &["cases", "get", &case_id]);
        assert_eq!((field(&back, "status:"), field(&back, "assignee:")), ("open", "agent-7"));

        // A promise to the customer: agent-7's, it holds the resolution back until released.
        let promised =
            tend(endpoint, &["cases", "promise", &case_id, "--what", "an update from the courier", "--by", "4h"]);
        assert_eq!(field(&promised, "owner:"), "agent-7");
        let promise_id = field(&promised, "promise:").to_owned();
        let owed = tend(endpoint, &["cases", "promises", "--owner", "agent-7"]);
        assert!(owed.starts_with(&promise_id) && owed.contains("an update from the courier"), "{owed}");
        assert!(field(&tend(endpoint, &["cases", "get", &case_id]), "promises:").starts_with("1 open"));
        let (ok, _, refused) = run(endpoint, &["cases", "resolve", &case_id, "--note", "refund issued"]);
        assert!(!ok && refused.contains(&promise_id) && refused.contains("release_promises_reason"), "{refused}");
        let kept = tend(endpoint, &["cases", "keep", &promise_id, "--note", "called her"]);
        assert_eq!(field(&kept, "state:"), "kept");

        // The example guide, stepped through on the case.
        let guide = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples/guide.yaml");
        assert!(tend(endpoint, &["guides", "put", guide]).contains("saved as version 1"));
        let first = tend(endpoint, &["cases", "guide", &case_id, "parcel-missing"]);
        assert!(first.starts_with("[tracking]"), "{first}");
        let end =
            tend(endpoint, &["cases", "guide", &case_id, "parcel-missing", "--node", "tracking", "--answer", "2"]);
        assert!(end.contains("suggested tag: refund") && end.contains("(end of the guide)"), "{end}");
        assert!(tend(endpoint, &["cases", "timeline", &case_id]).contains("tracking: No tracking number → refund"));

        // The people of the queue: a calendar for their hours, teams, agents from the example
        // CSV, one signed in.
        let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples");
        tend(endpoint, &["calendars", "put", &format!("{examples}/calendar.yaml")]);
        assert!(tend(endpoint, &["teams", "put", "tier1", "--queue", "default"]).contains("team tier1 saved"));
        tend(endpoint, &["teams", "put", "spanish", "--queue", "default"]);
        let imported = tend(endpoint, &["agents", "import", &format!("{examples}/agents.csv")]);
        assert!(imported.starts_with("2 agents saved"), "{imported}");
        let put = ["agents", "put", "cleo", "--team", "tier1", "--skill", "billing:2", "--capacity", "chat=3"];
        assert_eq!(field(&tend(endpoint, &put), "presence:").split(' ').next(), Some("offline"));
        assert!(tend(endpoint, &["agents", "presence", "ana", "available"]).starts_with("ana is available since"));
        let listed = tend(endpoint, &["agents", "list", "--team", "tier1"]);
        assert_eq!(listed.lines().count(), 3, "{listed}");
        let available = tend(endpoint, &["agents", "list", "--presence", "available"]);
        assert!(available.starts_with("ana ") && available.contains("x=8 chat=3"), "{available}");
        let ana = tend(endpoint, &["agents", "get", "ana"]);
        assert_eq!(field(&ana, "skills:"), "billing:3 retention:4");
        assert_eq!(field(&ana, "hours:"), "uk-support");

        // The queue: Ana takes what her desk is offered, Ben pulls (README, "Agents take the work").
        for agent in ["ana", "ben"] {
            tend(endpoint, &["agents", "put", agent, "--language", "en", "--capacity", "x=2"]);
        }
        tend(endpoint, &["agents", "presence", "ana", "available"]);
        tend(endpoint, &["agents", "presence", "ben", "busy"]);
        let mut desk = std::process::Command::new("timeout")
            .args(["30", env!("CARGO_BIN_EXE_tend"), "queue", "watch", "ana"])
            .env("TEND_ENDPOINT", endpoint)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut offers = std::io::BufReader::new(desk.stdout.take().unwrap());
        let complaints = [
            ("kim", "my parcel #456 never arrived, two weeks now"),
            ("lee", "the refund you promised never arrived"),
            ("max", "my replacement card never arrived"),
        ];
        let opened: Vec<String> = complaints
            .iter()
            .map(|(handle, text)| {
                field(&tend(endpoint, &["post", "--handle", handle, "--text", text, "--wait"]), "case:").to_owned()
            })
            .collect();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut offers, &mut line).unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!((words[0], words[1], words[3]), ("open", "offer", "case"), "{line}");
        let (offer_id, offered) = (words[2].to_owned(), words[4].to_owned());
        assert!(opened.contains(&offered), "{line} offers none of {opened:?}");
        let accepted = tend(endpoint, &["queue", "accept", "ana", &offer_id]);
        assert!(accepted.starts_with(&format!("case {offered} assigned to ana")), "{accepted}");
        let case = tend(endpoint, &["cases", "get", &offered]);
        assert_eq!((field(&case, "assignee:"), field(&case, "status:")), ("ana", "open"));
        let pulled = tend(endpoint, &["queue", "next", "ben"]);
        assert!(pulled.contains("assigned to ben"), "{pulled}");
        let policy = ["queue", "policy", "vip", "--strategy", "most-available", "--relax-after", "10m"];
        let saved = tend(endpoint, &[&policy[..], &["--overflow-after", "30m", "--overflow-to", "default"]].concat());
        assert!(saved.contains("queue vip policy saved"), "{saved}");
        let policies = tend(endpoint, &["queue", "policies"]);
        assert!(policies.contains("most-available  levels lowered after 10m  to default after 30m"), "{policies}");
        let stats = tend(endpoint, &["queue", "stats"]);
        assert!(stats.lines().any(|line| line.starts_with("default ")), "{stats}");
        assert!(stats.contains("1 available, 1 busy") && stats.contains("occupancy"), "{stats}");
        let _ = desk.kill();
        let _ = desk.wait();

        // The live stream, replayed from the start: the case's opening and its escalation.
        // Under `timeout`, so a stream that never prints fails the test instead of hanging it.
        let mut watch = std::process::Command::new("timeout")
            .args(["20", env!("CARGO_BIN_EXE_tend"), "cases", "watch", "--from-start", "--case", &case_id])
            .args(["--kind", "escalated"])
            .env("TEND_ENDPOINT", endpoint)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first_line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(watch.stdout.take().unwrap()), &mut first_line)
            .unwrap();
        let _ = watch.kill();
        let _ = watch.wait();
        assert!(first_line.contains("escalated") && first_line.contains(&case_id), "{first_line}");

        let resolved = tend(endpoint, &["cases", "resolve", &case_id, "--note", "refund issued"]);
        assert_eq!(field(&resolved, "status:"), "resolved");

        let again = ["post", "--handle", "jane", "--text", "again", "--external-id", "42"];
        assert!(tend(endpoint, &again).contains("stored"));
        assert!(tend(endpoint, &again).contains("duplicate of interaction"));
        tend(endpoint, &["profiles", "list"])
    })
    .await
    .unwrap();
    assert!(outputs.contains("@jane"), "{outputs}");

    // Feedback hears of the resolution through cases.events (the tenant's row of the CSV).
    let resolved = |csv: &str| {
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        let column = header.iter().position(|name| *name == "cases_resolved").expect("a cases_resolved column");
        let tenant = lines.find(|line| line.starts_with("tenant,")).unwrap_or_default().to_owned();
        tenant.split(',').nth(column).unwrap_or_default().to_owned()
    };
    let mut report = String::new();
    for _ in 0..100 {
        let endpoint = endpoint.clone();
        report = tokio::task::spawn_blocking(move || tend(&endpoint, &["report", "--format", "csv"])).await.unwrap();
        if resolved(&report) == "1" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(resolved(&report), "1", "{report}");
    dev.server.kill().await.unwrap();
}

#[test]
fn errors_say_what_to_fix() {
    let output = Command::new(env!("CARGO_BIN_EXE_tend"))
        .args(["cases", "list", "--endpoint", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot reach Tend at http://127.0.0.1:9"));

    let output = Command::new(env!("CARGO_BIN_EXE_tend"))
        .args(["serve", "routing"])
        .env("TEND__SERVER__LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("server.listen"), "{output:?}");
}

/// With trace export pointed at a collector that is down, Tend still works, and SIGTERM stops it
/// cleanly: health goes away, the process exits 0 and says so.
#[tokio::test]
async fn collector_down_is_harmless_and_sigterm_stops_cleanly() {
    // Port 9 (discard) has no collector: every export fails.
    let env = [("TEND__TELEMETRY__OTLP_ENDPOINT", "http://127.0.0.1:9"), ("RUST_LOG", "info")];
    let mut dev = start_dev(&env, Stdio::piped()).await;
    let (endpoint, mut lines, server) = (dev.endpoint.clone(), dev.lines, &mut dev.server);
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let posted = tokio::task::spawn_blocking(move || {
        tend(&endpoint, &["post", "--handle", "otto", "--text", "where is my refund?", "--wait"])
    });
    assert!(posted.await.unwrap().contains("status:      new"));

    let pid = server.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status =
        tokio::time::timeout(Duration::from_secs(30), server.wait()).await.expect("tend did not stop").unwrap();
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    tokio::io::AsyncReadExt::read_to_string(server.stderr.as_mut().unwrap(), &mut stderr).await.unwrap();
    assert!(stderr.contains("tend stopped"), "{stderr}");
}
