//! Two Tend processes share one queue (PostgreSQL + Redis): 10,000 cases and 50 agents who
//! accept every offer their desks are shown and resolve their cases when full. One process is
//! killed with SIGKILL part way; the other goes on. Every case is assigned exactly once, no
//! agent is ever offered work past their capacity, and every case is assigned in the end.
//! Runs the real binary.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tend_proto::v1;
use tend_store::testing::{TestDatabase, redis_url, unique_key_prefix};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio_stream::StreamExt as _;
use tonic::transport::Channel;

const CASES: usize = 10_000;
const AGENTS: usize = 50;
const CAPACITY: usize = 5;

/// Starts `tend dev` named `instance` on the shared database and stream.
async fn start(instance: &str, env: &[(String, String)], data_dir: &std::path::Path) -> (Child, Channel) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tend"))
        .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("TEND__SERVER__HTTP_LISTEN", "127.0.0.1:0")
        .env("TEND__STREAM__INSTANCE", instance)
        .env("TEND__STREAM__RECLAIM_AFTER", "2s")
        .env("TEND__QUEUE__DISPATCH_EVERY", "50ms")
        .env("TEND__QUEUE__DISPATCH_LEASE", "1s")
        .env("TEND__QUEUE__WATCH_POLL", "20ms")
        .envs(env.iter().cloned())
        .env("RUST_LOG", std::env::var("TEST_LOG").unwrap_or_else(|_| "off".to_owned()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.unwrap().unwrap().unwrap();
    let addr = first.strip_prefix("tend serving on ").unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    (child, channel)
}

fn queue(channel: &Channel) -> v1::queue_service_client::QueueServiceClient<Channel> {
    v1::queue_service_client::QueueServiceClient::new(channel.clone())
}

fn cases(channel: &Channel) -> v1::case_service_client::CaseServiceClient<Channel> {
    v1::case_service_client::CaseServiceClient::new(channel.clone())
}

/// Opens `count` X cases in the default queue, 500 a call.
async fn open(channel: &Channel, count: usize) {
    let mut client = cases(channel);
    for chunk in (0..count).collect::<Vec<_>>().chunks(500) {
        let requests = chunk
            .iter()
            .map(|_| {
                let interaction = v1::Interaction {
                    id: uuid::Uuid::now_v7().to_string(),
                    tenant: "default".into(),
                    channel: v1::Channel::X.into(),
                    external_id: uuid::Uuid::new_v4().to_string(),
                    text: "my parcel never arrived".into(),
                    ..Default::default()
                };
                v1::OpenCaseRequest {
                    idempotency_key: interaction.id.clone(),
                    interaction: Some(interaction),
                    priority: 50,
                    routing: Some(v1::RoutingOutcome { queue: "default".into(), ..Default::default() }),
                    new_case: true,
                    ..Default::default()
                }
            })
            .collect();
        let results = client.open_cases(v1::OpenCasesRequest { cases: requests }).await.unwrap().into_inner().results;
        assert!(results.iter().all(|result| matches!(result.outcome, Some(v1::open_cases_result::Outcome::Opened(_)))));
    }
}

/// One agent's desk: accepts every offer, resolves its cases when full, and checks it is
/// never offered work while full. Ends after `idle` without offers.
async fn desk(channel: Channel, id: String, assigned: Arc<Mutex<HashMap<String, String>>>, idle: Duration) {
    let mut queue = queue(&channel);
    let mut cases = cases(&channel);
    let mut offers = queue.watch_offers(v1::WatchOffersRequest { agent_id: id.clone() }).await.unwrap().into_inner();
    let mut active: Vec<String> = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(idle, offers.next()).await {
        let Some(offer) = event.unwrap().offer else { continue };
        if offer.state != i32::from(v1::OfferState::Open) {
            continue;
        }
        assert!(active.len() < CAPACITY, "{id} offered work with {} cases at once", active.len());
        let request = v1::AcceptOfferRequest { offer_id: offer.id.clone(), agent_id: id.clone() };
        let Ok(assignment) = queue.accept_offer(request).await else { continue };
        let case_id = assignment.into_inner().item.unwrap().case_id;
        let before = assigned.lock().unwrap().insert(case_id.clone(), id.clone());
        assert!(before.is_none(), "case {case_id} assigned to {before:?} and to {id}");
        active.push(case_id);
        if active.len() == CAPACITY {
            for case_id in active.drain(..) {
                let resolve = v1::ResolveCaseRequest { id: case_id, note: "done".into(), ..Default::default() };
                cases.resolve_case(resolve).await.unwrap();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_the_queue_and_one_is_killed() {
    let database = TestDatabase::create().await;
    let env = vec![
        ("TEND__STORAGE__DATABASE_URL".to_owned(), database.url.clone()),
        ("TEND__STREAM__REDIS_URL".to_owned(), redis_url()),
        ("TEND__STREAM__KEY_PREFIX".to_owned(), unique_key_prefix()),
    ];
    let (first_dir, second_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut first, first_channel) = start("tend-a", &env, first_dir.path()).await;
    let (_second, channel) = start("tend-b", &env, second_dir.path()).await;

    let mut queue = queue(&channel);
    for index in 0..AGENTS {
        let agent = v1::Agent {
            id: format!("agent-{index:02}"),
            capacity: vec![v1::ChannelCapacity {
                channel: v1::Channel::X.into(),
                max: u32::try_from(CAPACITY).unwrap(),
            }],
            ..Default::default()
        };
        queue.upsert_agent(v1::UpsertAgentRequest { agent: Some(agent.clone()) }).await.unwrap();
        let available = v1::SetPresenceRequest {
            agent_id: agent.id,
            presence: v1::Presence::Available.into(),
            reason: String::new(),
        };
        queue.set_presence(available).await.unwrap();
    }
    let assigned: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let desks: Vec<_> = (0..AGENTS)
        .map(|index| {
            // Half the desks on each process at first would lose their watch with the killed
            // one; they all watch the survivor, and offers reach them from either dispatcher.
            let desk = desk(channel.clone(), format!("agent-{index:02}"), assigned.clone(), Duration::from_secs(10));
            tokio::spawn(desk)
        })
        .collect();

    let started = Instant::now();
    open(&first_channel, CASES / 2).await;
    open(&channel, CASES / 2).await;
    // Part way, the first process dies without a word.
    loop {
        if assigned.lock().unwrap().len() >= CASES / 4 {
            break;
        }
        // Guards against a hang, not a speed target (scripts/bench.sh measures that): on a busy
        // machine the offer cycle is slower, and a tight limit only made the test flaky.
        assert!(started.elapsed() < Duration::from_secs(300), "a quarter not assigned in 5 minutes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.start_kill().unwrap();
    first.wait().await.unwrap();
    loop {
        let done = assigned.lock().unwrap().len();
        if done == CASES {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(900), "{done} of {CASES} cases assigned after 15 minutes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("{CASES} cases assigned to {AGENTS} agents in {:.1} s", started.elapsed().as_secs_f64());
    for desk in desks {
        desk.await.unwrap();
    }
    // Cases agrees: each case has the agent who accepted it.
    let assigned = assigned.lock().unwrap().clone();
    let mut client = cases(&channel);
    let mut page_token = String::new();
    let mut seen = 0;
    loop {
        let request = v1::ListCasesRequest { page_size: 500, page_token, ..Default::default() };
        let page = client.list_cases(request).await.unwrap().into_inner();
        for case in &page.cases {
            assert_eq!(Some(&case.assignee), assigned.get(&case.id), "case {}", case.id);
            seen += 1;
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(seen, CASES);
    database.drop_database().await;
}
