//! Nothing is lost when the process dies: `tend` is killed with SIGKILL between ingesting posts
//! and opening their cases, restarted on the same storage, and every post still becomes exactly
//! one case. Runs the real binary, on the embedded default and on PostgreSQL + Redis.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use tend_proto::v1;
use tend_store::testing::{TestDatabase, redis_url, unique_key_prefix};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::Channel;

/// Storage for one test: a data directory, and for the production backend a database and a
/// key prefix, passed to the binary as `TEND__…` variables.
struct Storage {
    data_dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    database: Option<TestDatabase>,
}

impl Storage {
    async fn new(production: bool) -> Self {
        let data_dir = tempfile::tempdir().unwrap();
        if !production {
            return Self { data_dir, env: Vec::new(), database: None };
        }
        let database = TestDatabase::create().await;
        let env = vec![
            ("TEND__STORAGE__DATABASE_URL".to_owned(), database.url.clone()),
            ("TEND__STREAM__REDIS_URL".to_owned(), redis_url()),
            ("TEND__STREAM__KEY_PREFIX".to_owned(), unique_key_prefix()),
        ];
        Self { data_dir, env, database: Some(database) }
    }

    async fn clean(self) {
        if let Some(database) = self.database {
            database.drop_database().await;
        }
    }
}

/// Starts `tend dev` with `args` on `storage`; returns the process and a channel to it.
async fn start(storage: &Storage, args: &[&str]) -> (Child, Channel) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tend"))
        .arg("dev")
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        // Tests run side by side: no fixed HTTP port.
        .env("TEND__SERVER__HTTP_LISTEN", "127.0.0.1:0")
        .arg(storage.data_dir.path())
        .args(args)
        .envs(storage.env.iter().cloned())
        // Deliveries the killed process held are retried after this; the default 30s would only
        // make the test slow.
        .env("TEND__STREAM__RECLAIM_AFTER", "2s")
        .env("RUST_LOG", std::env::var("TEST_LOG").unwrap_or_else(|_| "off".to_owned()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.unwrap().unwrap().unwrap();
    let addr = first.strip_prefix("tend serving on ").unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    (child, channel)
}

fn post(n: usize) -> v1::IngestInteractionRequest {
    v1::IngestInteractionRequest {
        channel: v1::Channel::X.into(),
        external_id: format!("post-{n}-{}", uuid::Uuid::new_v4()),
        author: Some(v1::Author {
            external_id: format!("author-{n}"),
            handle: format!("author{n}"),
            ..Default::default()
        }),
        text: format!("complaint number {n}"),
        ..Default::default()
    }
}

async fn ingest(channel: &Channel, count: usize) -> Vec<String> {
    let mut client = v1::ingest_service_client::IngestServiceClient::new(channel.clone());
    let mut ids = Vec::new();
    for n in 0..count {
        let response = client.ingest_interaction(post(n)).await.unwrap().into_inner();
        ids.push(response.interaction.unwrap().id);
    }
    ids
}

/// Waits until every interaction has a routing decision; returns the case ids.
async fn cases_for(channel: &Channel, interaction_ids: &[String]) -> Vec<String> {
    let mut routing = v1::routing_service_client::RoutingServiceClient::new(channel.clone());
    let started = Instant::now();
    let mut case_ids = Vec::new();
    for interaction_id in interaction_ids {
        loop {
            let request = v1::GetRoutingDecisionRequest { interaction_id: interaction_id.clone() };
            match routing.get_routing_decision(request).await {
                Ok(decision) => {
                    case_ids.push(decision.into_inner().case_id);
                    break;
                }
                Err(status) if status.code() == tonic::Code::NotFound => {
                    assert!(
                        started.elapsed() < Duration::from_secs(60),
                        "interaction {interaction_id} never became a case"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(status) => panic!("{status}"),
            }
        }
    }
    case_ids
}

async fn all_cases(channel: &Channel) -> Vec<v1::Case> {
    let mut cases = v1::case_service_client::CaseServiceClient::new(channel.clone());
    let request = v1::ListCasesRequest { page_size: 500, ..Default::default() };
    cases.list_cases(request).await.unwrap().into_inner().cases
}

/// Posts are ingested while nothing downstream runs; the process is killed; after a restart
/// with every service, each post becomes one case.
async fn killed_after_ingest(production: bool) {
    let storage = Storage::new(production).await;
    let (mut ingest_only, channel) = start(&storage, &["--only", "ingest"]).await;
    let interaction_ids = ingest(&channel, 5).await;
    ingest_only.kill().await.unwrap();

    let (mut full, channel) = start(&storage, &[]).await;
    let mut case_ids = cases_for(&channel, &interaction_ids).await;
    case_ids.sort();
    case_ids.dedup();
    assert_eq!(case_ids.len(), 5);
    assert_eq!(all_cases(&channel).await.len(), 5);
    full.kill().await.unwrap();
    storage.clean().await;
}

/// The whole pipeline runs and is killed at once after the last post is accepted, wherever
/// each post is on its way; after a restart every post is exactly one case.
async fn killed_mid_pipeline(production: bool) {
    let storage = Storage::new(production).await;
    let (mut first, channel) = start(&storage, &[]).await;
    let interaction_ids = ingest(&channel, 20).await;
    first.kill().await.unwrap();

    let (mut second, channel) = start(&storage, &[]).await;
    let mut case_ids = cases_for(&channel, &interaction_ids).await;
    case_ids.sort();
    case_ids.dedup();
    assert_eq!(case_ids.len(), 20, "each post has its own case");
    assert_eq!(all_cases(&channel).await.len(), 20, "no post opened two cases");
    second.kill().await.unwrap();
    storage.clean().await;
}

/// Every case of the running Tend, all pages.
async fn every_case(channel: &Channel) -> Vec<v1::Case> {
    let mut client = v1::case_service_client::CaseServiceClient::new(channel.clone());
    let mut cases = Vec::new();
    let mut page_token = String::new();
    loop {
        let request = v1::ListCasesRequest { page_size: 500, page_token: page_token.clone(), ..Default::default() };
        let page = client.list_cases(request).await.unwrap().into_inner();
        cases.extend(page.cases);
        if page.next_page_token.is_empty() {
            return cases;
        }
        page_token = page.next_page_token;
    }
}

/// Batches of posts stream in from several callers and the process is killed while batches are
/// in flight; after a restart every acknowledged post is exactly one case, and no post, whether
/// its batch was acknowledged or not, has two.
async fn killed_under_load(production: bool) {
    let storage = Storage::new(production).await;
    let (mut first, channel) = start(&storage, &[]).await;
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut callers = Vec::new();
    for caller in 0..4 {
        let channel = channel.clone();
        let acked = acked.clone();
        callers.push(tokio::spawn(async move {
            let mut client = v1::ingest_service_client::IngestServiceClient::new(channel);
            for round in 0.. {
                let interactions = (0..50).map(|n| post(caller * 1_000_000 + round * 100 + n)).collect();
                let Ok(response) = client.ingest_batch(v1::IngestBatchRequest { interactions }).await else {
                    return;
                };
                let mut acked = acked.lock().unwrap();
                for result in response.into_inner().results {
                    match result.outcome {
                        Some(v1::ingest_batch_result::Outcome::Ok(stored)) => {
                            acked.push(stored.interaction.unwrap().id)
                        }
                        other => panic!("post refused: {other:?}"),
                    }
                }
            }
        }));
    }
    // Kill once a good number of posts is in, with batches still arriving.
    let started = Instant::now();
    while acked.lock().unwrap().len() < 1_000 {
        assert!(started.elapsed() < Duration::from_secs(60), "posts are not being acknowledged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.kill().await.unwrap();
    for caller in callers {
        caller.await.unwrap();
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();

    let (mut second, channel) = start(&storage, &[]).await;
    let started = Instant::now();
    loop {
        let cases = every_case(&channel).await;
        let mut on_cases: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for id in cases.iter().flat_map(|case| case.interaction_ids.iter()) {
            *on_cases.entry(id.as_str()).or_default() += 1;
        }
        assert!(on_cases.values().all(|&count| count == 1), "a post is on two cases");
        let missing = acked.iter().filter(|id| !on_cases.contains_key(id.as_str())).count();
        if missing == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{missing} of {} acknowledged posts have no case",
            acked.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    second.kill().await.unwrap();
    storage.clean().await;
}

#[tokio::test]
async fn embedded_killed_under_load_loses_nothing() {
    killed_under_load(false).await;
}

#[tokio::test]
async fn postgres_redis_killed_under_load_loses_nothing() {
    killed_under_load(true).await;
}

#[tokio::test]
async fn embedded_killed_after_ingest_loses_nothing() {
    killed_after_ingest(false).await;
}

#[tokio::test]
async fn embedded_killed_mid_pipeline_loses_nothing() {
    killed_mid_pipeline(false).await;
}

#[tokio::test]
async fn postgres_redis_killed_after_ingest_loses_nothing() {
    killed_after_ingest(true).await;
}

#[tokio::test]
async fn postgres_redis_killed_mid_pipeline_loses_nothing() {
    killed_mid_pipeline(true).await;
}
