//! No personal data in the logs, at any level and in every format: a customer's name, email,
//! phone, address and handle and what they wrote are planted through every service (a post, a
//! CRM record, a rejected record, a case note, a subject access export, an erasure) with
//! `RUST_LOG=trace`, and the real binary's whole stderr is searched for them.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use tend_proto::v1;
use tend_store::testing::{TestDatabase, redis_url, unique_key_prefix};
use tokio::io::AsyncReadExt as _;
use tonic::transport::Channel;

/// What must never reach a log: each planted in at least one request below.
const PLANTED: &[&str] = &[
    "Quillon",
    "Brackenbury",
    "planted.example",
    "7911 123456",
    "7911123456",
    "PLANTEDTEXT",
    "PLANTEDNOTE",
    "Plantedstreet",
    "ZZ9 9QZ",
    "quillonb",
    "not-an-address-QB",
];

async fn plant(channel: Channel) {
    let mut ingest = v1::ingest_service_client::IngestServiceClient::new(channel.clone());
    let mut identity = v1::identity_service_client::IdentityServiceClient::new(channel.clone());
    let mut routing = v1::routing_service_client::RoutingServiceClient::new(channel.clone());
    let mut cases = v1::case_service_client::CaseServiceClient::new(channel);

    let post = v1::IngestInteractionRequest {
        channel: v1::Channel::X.into(),
        external_id: format!("post-{}", uuid::Uuid::new_v4()),
        author: Some(v1::Author {
            external_id: "author-qb".into(),
            handle: "quillonb".into(),
            display_name: "Quillon Brackenbury".into(),
            email: "quillon.brackenbury@planted.example".into(),
            ..Default::default()
        }),
        text: "PLANTEDTEXT where is my refund? My order never arrived, call me on +44 7911 123456".into(),
        ..Default::default()
    };
    let interaction = ingest.ingest_interaction(post).await.unwrap().into_inner().interaction.unwrap();

    let customer = v1::CustomerInput {
        crm_id: "crm-qb-1".into(),
        given_name: "Quillon".into(),
        family_name: "Brackenbury".into(),
        emails: vec!["quillon.brackenbury@planted.example".into()],
        phones: vec!["+44 7911 123456".into()],
        address: Some(v1::PostalAddress {
            street: "12 Plantedstreet".into(),
            postcode: "ZZ9 9QZ".into(),
            country: "GB".into(),
            ..Default::default()
        }),
        handles: vec![v1::KnownHandle { channel: v1::Channel::X.into(), handle: "quillonb".into() }],
        ..Default::default()
    };
    let saved = identity
        .upsert_customer(v1::UpsertCustomerRequest { customer: Some(customer.clone()) })
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    // A rejected record: its error quotes the bad value to the caller, never to the log.
    let bad = v1::CustomerInput { emails: vec!["not-an-address-QB".into()], ..customer };
    let status = identity.upsert_customer(v1::UpsertCustomerRequest { customer: Some(bad) }).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");

    let started = Instant::now();
    let case_id = loop {
        let request = v1::GetRoutingDecisionRequest { interaction_id: interaction.id.clone() };
        match routing.get_routing_decision(request).await {
            Ok(decision) => {
                let decision = decision.into_inner();
                assert!(!decision.case_id.is_empty(), "the post should open a case: {decision:?}");
                break decision.case_id;
            }
            Err(status) if status.code() == tonic::Code::NotFound => {
                assert!(started.elapsed() < Duration::from_secs(60), "the post never became a case");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("{status}"),
        }
    };
    let note = v1::AddCaseNoteRequest { case_id, text: "PLANTEDNOTE she called twice".into() };
    cases.add_case_note(note).await.unwrap();
    // A subject access export carries all of it back to the caller, and none of it to the log.
    let export = v1::ExportCustomerDataRequest { customer_id: saved.id.clone() };
    let exported = identity.export_customer_data(export).await.unwrap().into_inner();
    assert!(exported.json.contains("Brackenbury"), "the export should hold the customer");
    let forget = v1::ForgetCustomerRequest { customer_id: saved.id, reason: "test".into() };
    identity.forget_customer(forget).await.unwrap();
    // Let the erasure run through every service, with whatever it logs.
    tokio::time::sleep(Duration::from_secs(2)).await;
}

/// Runs `tend dev` with `env` and `RUST_LOG=trace`, plants the data, stops it, and returns
/// everything it wrote to stderr.
async fn logs_of_a_run(env: &[(&str, &str)]) -> String {
    let mut env = env.to_vec();
    env.push(("RUST_LOG", "trace"));
    // A file, not a pipe: nothing reads a pipe while the server starts, and trace logs fill one.
    let stderr = tempfile::NamedTempFile::new().unwrap();
    let mut dev = common::start_dev(&env, Stdio::from(stderr.reopen().unwrap())).await;
    let channel = tonic::transport::Endpoint::from_shared(dev.endpoint.clone()).unwrap().connect().await.unwrap();
    plant(channel).await;
    let pid = dev.server.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    tokio::time::timeout(Duration::from_secs(30), dev.server.wait()).await.unwrap().unwrap();
    let mut logs = String::new();
    tokio::fs::File::open(stderr.path()).await.unwrap().read_to_string(&mut logs).await.unwrap();
    logs
}

fn assert_no_personal_data(logs: &str) {
    assert!(logs.lines().count() > 100, "logging at trace should say much more:\n{logs}");
    let found: Vec<_> = PLANTED
        .iter()
        .filter_map(|planted| {
            let line = logs.lines().find(|line| line.to_lowercase().contains(&planted.to_lowercase()))?;
            Some(format!("{planted:?} in: {line}"))
        })
        .collect();
    assert!(found.is_empty(), "personal data in the logs:\n{}", found.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_personal_data_in_pretty_logs() {
    assert_no_personal_data(&logs_of_a_run(&[("TEND__TELEMETRY__LOG_FORMAT", "pretty")]).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_personal_data_in_json_logs() {
    let logs = logs_of_a_run(&[("TEND__TELEMETRY__LOG_FORMAT", "json")]).await;
    for line in logs.lines() {
        assert!(line.starts_with('{'), "not a JSON line: {line}");
    }
    assert_no_personal_data(&logs);
}

/// PostgreSQL and Redis bring their own clients' logging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_personal_data_in_logs_on_postgres_and_redis() {
    let database = TestDatabase::create().await;
    let (redis, prefix) = (redis_url(), unique_key_prefix());
    let logs = logs_of_a_run(&[
        ("TEND__TELEMETRY__LOG_FORMAT", "json"),
        ("TEND__STORAGE__DATABASE_URL", &database.url),
        ("TEND__STREAM__REDIS_URL", &redis),
        ("TEND__STREAM__KEY_PREFIX", &prefix),
    ])
    .await;
    assert_no_personal_data(&logs);
    database.drop_database().await;
}
