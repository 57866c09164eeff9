//! Measures the service report's roll-ups: what they cost the `cases.events` consumer per batch,
//! and how long a report over a year of them takes. Prints figures; asserts nothing.
//!
//! ```text
//! TEND_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo run --release -p tend-feedback --example rollups
//! ```
//!
//! Runs on SQLite, then on PostgreSQL (each a fresh database, dropped at the end).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait};
use tend_feedback::{FeedbackApi, Migrator, SERVICE, report};
use tend_kernel::ids::{new_id, to_timestamp};
use tend_kernel::{Caller, Role, TenantId};
use tend_proto::v1;
use tend_proto::v1::feedback_service_server::FeedbackService as _;
use tend_store::Event;
use tend_store::testing::{Backend, TestStore};

const TOPICS: [&str; 5] = ["billing", "delivery", "outage", "refund", "login"];
const SEGMENTS: [&str; 3] = ["consumer", "smb", "enterprise"];
const QUEUES: [&str; 4] = ["default", "retention", "billing", "vip"];

/// A case event of `kind` for case `n` at `at`, the case opened `age` before.
fn event(n: u64, kind: v1::CaseEventKind, at: DateTime<Utc>, age: Duration) -> Event<v1::CaseEvent> {
    let opened = at - age;
    let resolved = kind == v1::CaseEventKind::Resolved;
    let case = v1::Case {
        id: format!("case-{n}"),
        channel: if n.is_multiple_of(3) { v1::Channel::Email } else { v1::Channel::X } as i32,
        interaction_ids: vec![new_id()],
        opened_at: Some(to_timestamp(opened)),
        updated_at: Some(to_timestamp(at)),
        resolved_at: resolved.then(|| to_timestamp(at)),
        topics: vec![TOPICS[(n % 5) as usize].into(), TOPICS[(n / 5 % 5) as usize].into()],
        routing: Some(v1::RoutingOutcome {
            queue: QUEUES[(n % 4) as usize].into(),
            segment: SEGMENTS[(n % 3) as usize].into(),
            ..Default::default()
        }),
        assignee: if resolved { format!("agent-{}", n % 40) } else { String::new() },
        sla_clocks: vec![v1::SlaClock {
            kind: v1::SlaClockKind::FirstResponse as i32,
            due_at: Some(to_timestamp(opened + Duration::hours(1))),
            met_at: resolved.then(|| to_timestamp(opened + Duration::minutes(20))),
            ..Default::default()
        }],
        version: if resolved { 5 } else { 1 },
        ..Default::default()
    };
    Event {
        id: new_id(),
        tenant: TenantId::parse("acme").unwrap(),
        payload: v1::CaseEvent { kind: kind as i32, case: Some(case), ..Default::default() },
        trace_context: HashMap::new(),
        deliveries: 1,
    }
}

async fn rows(db: &DatabaseConnection, table: &str) -> i64 {
    let sql = format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}");
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// Adds `events` in one transaction, as the consumer does; its time in ms.
async fn batch(db: &DatabaseConnection, events: &[Event<v1::CaseEvent>]) -> f64 {
    let refs: Vec<&Event<v1::CaseEvent>> = events.iter().collect();
    let start = Instant::now();
    let txn = db.begin().await.unwrap();
    report::record_case_events(&txn, &refs).await.unwrap();
    txn.commit().await.unwrap();
    start.elapsed().as_secs_f64() * 1000.0
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn run(backend: Backend) {
    let store = TestStore::create(backend).await;
    let db = store.connect::<Migrator>(SERVICE).await;
    println!("== {backend:?}");

    // Live traffic: batches of 500 events of the same minute (openings, then resolutions).
    let now = Utc::now();
    let mut n = 0;
    for (label, kind) in [("openings", v1::CaseEventKind::Opened), ("resolutions", v1::CaseEventKind::Resolved)] {
        let mut times = Vec::new();
        for round in 0..20 {
            let events: Vec<_> = (0..500)
                .map(|index| {
                    n += 1;
                    let id = if kind == v1::CaseEventKind::Resolved { round * 500 + index } else { n };
                    event(id, kind, now, Duration::minutes(90))
                })
                .collect();
            times.push(batch(&db, &events).await);
        }
        let ms = median(times);
        println!("batch of 500 {label}: {ms:.1} ms median over 20 batches ({:.0} events/s)", 500_000.0 / ms);
    }
    println!(
        "rows: ledger {}, counts {}, histograms {}",
        rows(&db, "report_ledger").await,
        rows(&db, "report_counts").await,
        rows(&db, "report_histograms").await
    );

    // A year of history: 24 openings and 24 resolutions an hour, in batches of 2,000.
    let year_start = now - Duration::days(365);
    let start = Instant::now();
    let mut events = Vec::new();
    for hour in 0..365 * 24 {
        let at = year_start + Duration::hours(hour);
        for index in 0..24 {
            n += 1;
            events.push(event(n, v1::CaseEventKind::Opened, at + Duration::minutes(index * 2), Duration::zero()));
            events.push(event(
                n,
                v1::CaseEventKind::Resolved,
                at + Duration::minutes(index * 2 + 1),
                Duration::hours(3),
            ));
        }
        if events.len() >= 2_000 {
            batch(&db, &events).await;
            events.clear();
        }
    }
    batch(&db, &events).await;
    println!(
        "a year (420,480 events) rolled up in {:.0} s; rows: counts {}, histograms {}",
        start.elapsed().as_secs_f64(),
        rows(&db, "report_counts").await,
        rows(&db, "report_histograms").await
    );

    let api = FeedbackApi::new(db.clone());
    for (label, dimension) in [
        ("overall", v1::ReportDimension::Unspecified),
        ("by topic", v1::ReportDimension::Topic),
        ("by agent", v1::ReportDimension::Agent),
    ] {
        let mut times = Vec::new();
        for _ in 0..7 {
            let message = v1::GetServiceReportRequest {
                from: Some(to_timestamp(year_start + Duration::minutes(17))),
                to: None,
                detailed: true,
                dimension: dimension as i32,
                values: Vec::new(),
            };
            let mut request = tonic::Request::new(message);
            request.extensions_mut().insert(Caller {
                tenant: TenantId::parse("acme").unwrap(),
                role: Role::Viewer,
                actor: "bench".into(),
                agent: None,
            });
            let start = Instant::now();
            let answer = api.get_service_report(request).await.unwrap().into_inner();
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            assert!(answer.overall.is_some_and(|overall| overall.cases_opened > 200_000));
        }
        println!("GetServiceReport over a year, detailed, {label}: {:.1} ms median of 7", median(times));
    }
    store.cleanup().await;
}

#[tokio::main]
async fn main() {
    run(Backend::Sqlite).await;
    if std::env::var("TEND_TEST_DATABASE_URL").is_ok() {
        run(Backend::Postgres).await;
    }
}
