//! Right to erasure, down to the bytes: a customer's email, phone, name, street, postcode, the
//! subject of her case and the notes on it are planted (each a string found nowhere else), flow
//! through ingest, identity, routing and cases, and the customer is forgotten. Once every
//! service has applied the erasure, none of them is left anywhere Tend keeps data:
//! - embedded: in the raw bytes of every file of the data directory (each service's SQLite
//!   database with its `-wal` and `-shm`, and the stream's `streams.db`), free pages included;
//! - PostgreSQL and Redis: in any row of any table of the test's database (each row cast to
//!   text, so bytea columns are searched as hex too), and in any entry of any stream under the
//!   test's key prefix.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use tend_proto::v1;
use tend_queue::EventStream;
use tend_store::events::streams;
use tend_store::reexport::sea_orm_migration::sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use tend_tests::{Backend, TestApp, as_tenant, eventually, post, routed};

tend_tests::on_both_backends!(a_forgotten_customer_leaves_no_byte_behind);

/// Every consumer group of `customers.erased`.
const GROUPS: [&str; 4] = ["ingest", "cases", "feedback", "routing"];
const PATIENCE: Duration = Duration::from_secs(30);
const ERASED: &str = "[erased]";

/// The planted strings, lowercase: what is searched for (case-insensitively, as the services
/// keep normalised copies).
struct Planted {
    needles: Vec<(&'static str, String)>,
}

impl Planted {
    fn new() -> Self {
        // Ten random letters and five random digits: strings that occur nowhere by chance.
        let random = uuid::Uuid::new_v4().as_u128();
        let tag: String = (0..10).map(|i| char::from(b'a' + ((random >> (i * 5)) % 26) as u8)).collect();
        let digits = format!("{:05}", (random >> 64) % 100_000);
        Self {
            needles: vec![
                ("given name", format!("vel{tag}")),
                ("family name", format!("orm{tag}")),
                ("email", format!("mail{tag}@example.com")),
                // A UK mobile number (07911 0xxxxx).
                ("phone", format!("79110{digits}")),
                ("street", format!("str{tag}")),
                ("postcode", format!("pc{tag}")),
                ("handle", format!("h{tag}")),
                ("subject", format!("sub{tag}")),
                ("note", format!("note{tag}")),
            ],
        }
    }

    fn get(&self, what: &str) -> &str {
        &self.needles.iter().find(|(name, _)| *name == what).unwrap().1
    }

    /// Which planted strings `haystack` holds, as `"{where}: {what}"`. The haystack is compared
    /// lowercased; `hex` also looks for the strings spelled in hex (PostgreSQL's bytea as text).
    fn found_in(&self, place: &str, haystack: &[u8], hex: bool) -> Vec<String> {
        let lower = haystack.to_ascii_lowercase();
        let mut found = Vec::new();
        for (what, needle) in &self.needles {
            let mut spellings = vec![needle.as_bytes().to_vec()];
            if hex {
                spellings.push(to_hex(needle.as_bytes()));
                spellings.push(to_hex(needle.to_ascii_uppercase().as_bytes()));
            }
            if spellings.iter().any(|spelling| contains(&lower, spelling)) {
                found.push(format!("{place}: {what}"));
            }
        }
        found
    }
}

fn to_hex(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().flat_map(|b| format!("{b:02x}").into_bytes()).collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// The planted strings in the raw bytes of every file under `dir`.
fn in_files(planted: &Planted, dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(in_files(planted, &path));
            continue;
        }
        // A file removed between listing and reading (a -wal cut by a checkpoint) holds nothing.
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        found.extend(planted.found_in(&format!("file {name}"), &bytes, false));
    }
    found
}

/// The planted strings in any entry of any stream.
async fn in_streams(planted: &Planted, stream: &dyn EventStream) -> Vec<String> {
    let mut found = Vec::new();
    for name in stream.streams().await.unwrap() {
        let mut after: Option<String> = None;
        loop {
            let entries = stream.range(&name, after.as_deref(), 500).await.unwrap();
            let Some(last) = entries.last() else { break };
            after = Some(last.id.clone());
            for entry in entries {
                found.extend(planted.found_in(&format!("stream {name} entry {}", entry.id), &entry.payload, false));
            }
        }
    }
    found
}

/// The planted strings in any row of any table of the PostgreSQL database at `url`.
async fn in_tables(planted: &Planted, url: &str) -> Vec<String> {
    let db = Database::connect(url).await.unwrap();
    let tables = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT format('%I.%I', table_schema, table_name) FROM information_schema.tables
             WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'",
        ))
        .await
        .unwrap();
    assert!(tables.len() > 20, "every service's tables are searched, found only {}", tables.len());
    let mut found = Vec::new();
    for table in tables {
        let table: String = table.try_get_by_index(0).unwrap();
        let rows = db
            .query_all_raw(Statement::from_string(DbBackend::Postgres, format!("SELECT t::text FROM {table} t")))
            .await
            .unwrap();
        for row in rows {
            let text: String = row.try_get_by_index(0).unwrap();
            found.extend(planted.found_in(&format!("table {table}"), text.as_bytes(), true));
        }
    }
    let _ = db.close().await;
    found
}

/// Every place a planted string is still found, sorted and without repeats.
async fn leftovers(app: &TestApp, planted: &Planted, stream: &dyn EventStream) -> Vec<String> {
    let mut found = in_streams(planted, stream).await;
    if app.config.storage.database_url.is_empty() {
        found.extend(in_files(planted, app.data_dir()));
    } else {
        found.extend(in_tables(planted, &app.config.storage.database_url).await);
    }
    found.sort();
    found.dedup();
    found
}

async fn a_forgotten_customer_leaves_no_byte_behind(backend: Backend) {
    let app = TestApp::spawn_with(backend, &tend::app::ServiceName::ALL, |config| {
        config.stream.janitor_every = Duration::from_millis(200);
    })
    .await;
    let stream = app.event_stream().await;
    let planted = Planted::new();
    let handle = planted.get("handle").to_owned();
    let customer = v1::CustomerInput {
        crm_id: format!("CRM-{handle}"),
        given_name: planted.get("given name").to_owned(),
        family_name: planted.get("family name").to_owned(),
        emails: vec![planted.get("email").to_owned()],
        phones: vec![format!("+44{}", planted.get("phone"))],
        address: Some(v1::PostalAddress {
            street: format!("12 {} road", planted.get("street")),
            city: "london".into(),
            postcode: planted.get("postcode").to_owned(),
            ..Default::default()
        }),
        date_of_birth: "1983-07-21".into(),
        handles: vec![v1::KnownHandle { channel: v1::Channel::X.into(), handle: format!("@{handle}") }],
        ..Default::default()
    };
    let request = as_tenant("acme", v1::UpsertCustomerRequest { customer: Some(customer) });
    let customer = app.identity().upsert_customer(request).await.unwrap().into_inner().customer.unwrap();

    // Her post carries her name, email and phone; it becomes the case's subject.
    let text = format!(
        "{} here: {} my parcel never came, write to {} or call +44{}",
        planted.get("given name"),
        planted.get("subject"),
        planted.get("email"),
        planted.get("phone")
    );
    let mut request = post(&handle, &text);
    request.author.as_mut().unwrap().display_name =
        format!("{} {}", planted.get("given name"), planted.get("family name"));
    let ingested = app.ingest().ingest_interaction(as_tenant("acme", request)).await.unwrap().into_inner();
    let interaction_id = ingested.interaction.unwrap().id;
    let decision = routed(&app, "acme", &interaction_id).await;
    let case_id = decision.case_id.clone();
    let case = app.cases().get_case(as_tenant("acme", v1::GetCaseRequest { id: case_id.clone() })).await.unwrap();
    assert_eq!(case.into_inner().customer_id, customer.id, "her handle links her outright");
    let note = v1::AddCaseNoteRequest {
        case_id: case_id.clone(),
        text: format!("{}: she lives at 12 {} road", planted.get("note"), planted.get("street")),
    };
    app.cases().add_case_note(as_tenant("acme", note)).await.unwrap();
    let resolve = v1::ResolveCaseRequest {
        id: case_id.clone(),
        note: format!("{} refunded", planted.get("note")),
        ..Default::default()
    };
    app.cases().resolve_case(as_tenant("acme", resolve)).await.unwrap();

    // Before: the search finds every planted string somewhere (it would find what is left).
    let before = leftovers(&app, &planted, stream.as_ref()).await;
    for (what, _) in &planted.needles {
        assert!(
            before.iter().any(|place| place.ends_with(&format!(": {what}"))),
            "{what} not found before: {before:?}"
        );
    }

    let forget = v1::ForgetCustomerRequest { customer_id: customer.id.clone(), reason: "GDPR request 2026-120".into() };
    app.identity().forget_customer(as_tenant("acme", forget)).await.unwrap();
    eventually("every service to apply the erasure", PATIENCE, || async {
        let request = as_tenant("acme", v1::GetInteractionRequest { id: interaction_id.clone() });
        if app.ingest().get_interaction(request).await.unwrap().into_inner().text != ERASED {
            return None;
        }
        let request = as_tenant("acme", v1::GetCaseRequest { id: case_id.clone() });
        if app.cases().get_case(request).await.unwrap().into_inner().subject != ERASED {
            return None;
        }
        for group in GROUPS {
            if stream.pending_count(streams::CUSTOMERS_ERASED, group).await.unwrap() > 0 {
                return None;
            }
        }
        Some(())
    })
    .await;

    // The stream janitor removes the entries within a few passes.
    let started = Instant::now();
    let left = loop {
        let left = leftovers(&app, &planted, stream.as_ref()).await;
        if left.is_empty() || started.elapsed() > PATIENCE {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(left.is_empty(), "left after the erasure: {left:#?}");
    app.stop().await;
}
