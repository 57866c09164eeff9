//! The workflows, on SQLite and on PostgreSQL: automatic linking a batch at a time (and what it
//! costs in statements), people's decisions on candidates, and erasure.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prost::Message as _;
use sea_orm::{EntityTrait, QueryOrder, TransactionTrait};
use tend_proto::v1;
use tend_queue::{BatchHandler as _, Delivery, HandlerError};
use tend_store::{BatchConsumer, OutboxWaker};

use super::decisions::Verdict;
use super::identify::{Identified, Sighting};
use super::{App, Error};
use crate::SERVICE;
use crate::consumer::IdentifyAuthors;
use crate::domain::{LinkMethod, LinkStatus};
use crate::storage::{self, candidate, matcher_model, profile, review};
use crate::testing::{TestDb, find_anywhere, person, tenant};

on_both_backends!(
    a_batch_decides_each_sighting_as_if_one_at_a_time,
    the_consumer_publishes_for_each_event_in_a_few_statements_per_batch,
    the_matcher_links_or_queues_within_a_batch,
    a_decision_on_a_candidate_commits_with_its_effect_or_not_at_all,
    forgetting_a_customer_leaves_nothing_of_them_in_any_table,
);

const X: i32 = v1::Channel::X as i32;

/// What an author posts, owned (a [`Sighting`] borrows it).
#[derive(Debug, Clone, Default)]
struct Post {
    external_id: String,
    handle: String,
    display_name: String,
    email: String,
    location: String,
    text: String,
}

fn post(handle: &str, text: &str) -> Post {
    Post { external_id: format!("id-{handle}"), handle: handle.into(), text: text.into(), ..Post::default() }
}

fn named(handle: &str, display_name: &str, location: &str) -> Post {
    Post { display_name: display_name.into(), location: location.into(), ..post(handle, "hello there") }
}

impl Post {
    fn sighting(&self) -> Sighting<'_> {
        Sighting {
            channel: X,
            external_id: &self.external_id,
            handle: &self.handle,
            display_name: &self.display_name,
            followers: 1_500,
            email: &self.email,
            location: &self.location,
            text: &self.text,
        }
    }

    fn interaction(&self) -> v1::Interaction {
        v1::Interaction {
            id: tend_kernel::ids::new_id(),
            channel: X,
            author: Some(v1::Author {
                external_id: self.external_id.clone(),
                handle: self.handle.clone(),
                display_name: self.display_name.clone(),
                followers: 1_500,
                email: self.email.clone(),
                location: self.location.clone(),
                ..Default::default()
            }),
            text: self.text.clone(),
            ..Default::default()
        }
    }
}

/// Identifies `posts` of acme as one batch, in one committed transaction.
async fn identify(db: &TestDb, app: &App, posts: &[Post]) -> Vec<Identified> {
    identify_on(&db.db, app, posts).await
}

/// The same, on `conn`.
async fn identify_on(conn: &sea_orm::DatabaseConnection, app: &App, posts: &[Post]) -> Vec<Identified> {
    let txn = conn.begin().await.unwrap();
    let sightings: Vec<Sighting<'_>> = posts.iter().map(Post::sighting).collect();
    let identified = app.identify(&txn, &tenant("acme"), &sightings).await.unwrap();
    txn.commit().await.unwrap();
    identified
}

fn customer(crm_id: &str, given: &str, family: &str) -> v1::CustomerInput {
    v1::CustomerInput {
        crm_id: crm_id.into(),
        given_name: given.into(),
        family_name: family.into(),
        default_region: "GB".into(),
        ..Default::default()
    }
}

fn with_handle(mut input: v1::CustomerInput, handle: &str) -> v1::CustomerInput {
    input.handles.push(v1::KnownHandle { channel: X, handle: handle.into() });
    input
}

async fn upsert(app: &App, input: v1::CustomerInput) -> String {
    app.upsert_customer(&tenant("acme"), input).await.unwrap().customer.id
}

async fn audit_actions(app: &App, profile_id: &str) -> Vec<String> {
    let page = tend_kernel::paging::Page::parse(0, "").unwrap();
    let events = app.link_events(&tenant("acme"), profile_id, "", &page).await.unwrap();
    events.into_iter().map(|event| format!("{}/{}", event.action, event.method)).collect()
}

async fn a_batch_decides_each_sighting_as_if_one_at_a_time(db: &TestDb) {
    let app = db.app();
    let mut jane = with_handle(customer("CRM-1", "Jane", "Doe"), "@janed");
    jane.emails = vec!["jane.doe@example.com".into()];
    jane.phones = vec!["07911 123456".into()];
    let jane = upsert(&app, jane).await;
    for crm_id in ["PARENT", "CHILD"] {
        let mut family = customer(crm_id, "", "");
        family.emails = vec!["family@example.com".into()];
        upsert(&app, family).await;
    }

    let mut renamed = post("newbie", "it's JANE.DOE@example.com, order 5512");
    renamed.display_name = "New Bie".into();
    let batch = [
        post("newbie", "first post, no details"),
        // The same author again: sees the profile the first sighting created, and links it.
        renamed,
        // Already linked: the phone changes nothing and records nothing.
        post("newbie", "call me on +44 7911 123456"),
        post("janed", "where is my parcel"),
        post("kid", "mail family@example.com"),
    ];
    let identified = identify(db, &app, &batch).await;
    let summary: Vec<_> = identified
        .iter()
        .map(|one| (one.status, LinkMethod::parse(&one.profile.link_method), one.confidence))
        .collect();
    assert_eq!(
        summary,
        vec![
            (LinkStatus::Unknown, LinkMethod::None, 0.0),
            (LinkStatus::Linked, LinkMethod::Email, 1.0),
            (LinkStatus::Linked, LinkMethod::Email, 1.0),
            (LinkStatus::Linked, LinkMethod::KnownHandle, 1.0),
            (LinkStatus::Unknown, LinkMethod::None, 0.0),
        ]
    );
    let newbie = &identified[0].profile.id;
    assert!(identified[..3].iter().all(|one| &one.profile.id == newbie), "one profile per author");
    assert_eq!(identified[1].profile.display_name, "New Bie", "each sighting's profile as of that sighting");
    assert_eq!(identified[1].customer_id(), jane);
    assert_eq!(identified[3].customer_id(), jane);
    assert!(
        identified[3].profile.link_evidence.contains("x:janed")
            && identified[3].profile.link_evidence.contains("CRM-1")
    );
    let stored = app.profile(&tenant("acme"), newbie).await.unwrap();
    assert_eq!(stored, identified[2].profile, "the last sighting is what is stored");
    assert_eq!(audit_actions(&app, newbie).await, vec!["linked/email"]);

    // A person unlinks Jane's handle: later batches never link the pair again, and the
    // author's other stored link stays.
    let janed = identified[3].profile.id.clone();
    app.unlink(&person("acme"), &janed, "shared account").await.unwrap();
    let again = identify(db, &app, &[post("janed", "hello again"), post("newbie", "me again")]).await;
    assert_eq!((again[0].profile.id.as_str(), again[0].status), (janed.as_str(), LinkStatus::Unknown));
    assert_eq!((again[1].status, again[1].customer_id()), (LinkStatus::Linked, jane.clone()));
    assert_eq!(audit_actions(&app, &janed).await, vec!["unlinked/person", "linked/known_handle"]);
}

impl Identified {
    fn customer_id(&self) -> String {
        self.profile.customer_id.clone()
    }
}

/// A delivery of `InteractionReceived` for `tenant_name`.
fn delivery(tenant_name: &str, interaction: v1::Interaction) -> Delivery {
    let received = v1::InteractionReceived { interaction: Some(interaction) };
    let envelope = tend_store::events::envelope("ingest", &tenant(tenant_name), &received);
    Delivery { id: tend_kernel::ids::new_id(), payload: envelope.encode_to_vec(), deliveries: 1 }
}

/// The `interactions.identified` events in the outbox, oldest first.
async fn published(db: &TestDb) -> Vec<(String, v1::InteractionIdentified)> {
    let rows = tend_store::outbox::entity::Entity::find()
        .order_by_asc(tend_store::outbox::entity::Column::Id)
        .all(&db.db)
        .await
        .unwrap();
    rows.into_iter()
        .map(|row| {
            assert_eq!(row.stream, tend_store::events::streams::INTERACTIONS_IDENTIFIED);
            let envelope = v1::EventEnvelope::decode(row.payload.as_slice()).unwrap();
            (envelope.tenant, v1::InteractionIdentified::decode(envelope.payload.as_slice()).unwrap())
        })
        .collect()
}

async fn the_consumer_publishes_for_each_event_in_a_few_statements_per_batch(db: &TestDb) {
    const EVENTS: usize = 100;
    let app = Arc::new(db.app());
    let (counted, statements) = db.counted();
    let consumer = BatchConsumer::new(
        Arc::new(IdentifyAuthors::new(app.clone())),
        counted,
        OutboxWaker::default(),
        SERVICE,
        SERVICE,
    );
    let run = async |what: &str, deliveries: &[Delivery]| {
        statements.store(0, Ordering::Relaxed);
        let results = consumer.handle_batch(deliveries).await;
        let count = statements.load(Ordering::Relaxed);
        // The figure for the record (`cargo test -p tend-identity -- --nocapture statements`).
        println!(
            "{:?}: {what}: {count} statements for {} events (plus BEGIN and COMMIT)",
            db.backend,
            deliveries.len()
        );
        (results, count)
    };

    // 100 authors never seen, nobody to link them to, no matcher: the tenant's first hour.
    let strangers: Vec<Post> = (0..EVENTS).map(|n| post(&format!("stranger{n}"), "my parcel never came")).collect();
    let deliveries: Vec<Delivery> = strangers.iter().map(|post| delivery("acme", post.interaction())).collect();
    let (results, count) = run("new authors", &deliveries).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // The inbox, the profiles, the identifiers they offer, the matcher (the first time only), the
    // profiles written, the outbox: a handful per batch, not a handful per event. PostgreSQL
    // claims the new authors first, since another consumer may be creating them too.
    let claim = usize::from(db.backend == crate::testing::Backend::Postgres);
    assert!(count <= 6 + claim, "{count} statements");
    let events = published(db).await;
    assert_eq!(events.len(), EVENTS);
    for ((tenant_name, identified), delivered) in events.iter().zip(&deliveries) {
        let envelope = v1::EventEnvelope::decode(delivered.payload.as_slice()).unwrap();
        let received = v1::InteractionReceived::decode(envelope.payload.as_slice()).unwrap();
        assert_eq!(tenant_name, "acme");
        assert_eq!(identified.interaction, received.interaction, "in stream order, with the interaction");
        assert_eq!(identified.status(), v1::IdentityStatus::Unknown);
    }

    // A redelivery of the batch has no second effect.
    let (results, count) = run("the same batch again", &deliveries).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(count, 1, "the inbox alone");
    assert_eq!(published(db).await.len(), EVENTS);

    // 100 known customers' handles, each author new: each linked outright.
    for n in 0..EVENTS {
        upsert(&app, with_handle(customer(&format!("C-{n}"), "", ""), &format!("@fan{n}"))).await;
    }
    let fans: Vec<Post> = (0..EVENTS).map(|n| post(&format!("fan{n}"), "love it")).collect();
    let deliveries: Vec<Delivery> = fans.iter().map(|post| delivery("acme", post.interaction())).collect();
    let (results, count) = run("new authors, known customers", &deliveries).await;
    assert!(results.iter().all(Result::is_ok));
    // One more: the linked customers' summaries, for routing's rules.
    assert!(count <= 7 + claim, "{count} statements");
    let events = published(db).await;
    assert!(events[EVENTS..].iter().all(|(_, identified)| identified.status() == v1::IdentityStatus::Linked));
    assert!(events[EVENTS..].iter().all(|(_, identified)| identified.customer.is_some()), "linked: with a summary");
    assert!(events[..EVENTS].iter().all(|(_, identified)| identified.customer.is_none()), "unknown: without");

    // The same authors again (stored and linked), with a poison event and another tenant among
    // them: the poison event is set aside, the rest handled; each tenant is its own.
    let mut deliveries: Vec<Delivery> = fans.iter().map(|post| delivery("acme", post.interaction())).collect();
    deliveries[10] = delivery("acme", v1::Interaction { id: "no-author".into(), ..Default::default() });
    deliveries[20] = delivery("globex", fans[20].interaction());
    let (results, count) = run("known authors, a poison event, another tenant", &deliveries).await;
    assert!(
        matches!(&results[10], Err(HandlerError::Poison(reason)) if reason.contains("no author")),
        "{:?}",
        results[10]
    );
    assert!(results.iter().enumerate().all(|(at, result)| at == 10 || result.is_ok()));
    println!("{:?}: (the batch ran twice: once with the poison event, once without)", db.backend);
    assert!(count <= 2 * 8, "{count} statements");
    let events = published(db).await;
    assert_eq!(events.len(), 3 * EVENTS - 1);
    let (tenant_name, globex) = &events[2 * EVENTS + 19];
    assert_eq!((tenant_name.as_str(), globex.status()), ("globex", v1::IdentityStatus::Unknown));
    assert!(
        events[2 * EVENTS..].iter().filter(|(tenant_name, _)| tenant_name == "acme").all(|(_, identified)| {
            identified.status() == v1::IdentityStatus::Linked && identified.confidence == 1.0
        })
    );
}

const NAMES: [(&str, &str); 24] = [
    ("Zelda", "Quartermaine"),
    ("Octavia", "Blackwood"),
    ("Ignatius", "Fairweather"),
    ("Philippa", "Drummond"),
    ("Barnaby", "Whitlock"),
    ("Cordelia", "Ashcombe"),
    ("Thaddeus", "Pemberton"),
    ("Rosalind", "Featherstone"),
    ("Leopold", "Hargreaves"),
    ("Imogen", "Castellano"),
    ("Mortimer", "Lindqvist"),
    ("Seraphina", "Okonkwo"),
    ("Cornelius", "Vandermeer"),
    ("Winifred", "Abernathy"),
    ("Evander", "Kowalczyk"),
    ("Henrietta", "Moriarty"),
    ("Ambrose", "Nakamura"),
    ("Clementine", "Rasmussen"),
    ("Percival", "Delacroix"),
    ("Ottoline", "Grimshaw"),
    ("Fitzgerald", "Oyelaran"),
    ("Marguerite", "Szabo"),
    ("Lysander", "Pettigrew"),
    ("Beatrix", "Montgomery"),
];

/// Where customer `n` lives, as an author would write it.
fn city(n: usize) -> &'static str {
    ["Leeds, UK", "Bristol, UK", "York, UK"][n % 3]
}

/// The tenant's customers and authors of `tests/tests/matching.rs`, with the matcher trained on
/// them. Returns the customers' ids.
async fn trained(db: &TestDb, app: &App) -> Vec<String> {
    let mut customer_ids = Vec::new();
    for (n, (given, family)) in NAMES.iter().enumerate() {
        let mut input = customer(&format!("C-{n}"), given, family);
        input.address =
            Some(v1::PostalAddress { city: city(n).split(',').next().unwrap().into(), ..Default::default() });
        customer_ids.push(upsert(app, input).await);
    }
    let mut authors = vec![named("someone0", "Zelda Quartermaine", "")];
    for (n, (given, family)) in NAMES.iter().enumerate().skip(1).take(14) {
        authors.push(named(&format!("fan{n}"), &format!("{given} {family}"), city(n)));
    }
    for n in 0..8 {
        authors.push(named(&format!("stranger{n}"), &format!("Person{n} Unrelated{n}"), city(n + 1)));
    }
    let before = identify(db, app, &authors).await;
    assert!(before.iter().all(|one| one.status == LinkStatus::Unknown), "nothing links before training");
    let trained = app.train(&tenant("acme")).await.unwrap();
    assert_eq!(trained.customers, NAMES.len() as u64);
    customer_ids
}

async fn the_matcher_links_or_queues_within_a_batch(db: &TestDb) {
    let app = db.app();
    let acme = tenant("acme");
    let customer_ids = trained(db, &app).await;

    // Out of reach of the link threshold: look-alikes wait for review. The second sighting of
    // Beatrix in the batch finds her already waiting, and queues nothing more.
    app.set_thresholds(&acme, 1.0, 0.5).await.unwrap();
    let batch = [
        named("beatrix_m", "Beatrix Montgomery", ""),
        named("beatrix_m", "Beatrix Montgomery", ""),
        named("lysander_p", "Lysander Pettigrew", ""),
    ];
    let queued = identify(db, &app, &batch).await;
    assert_eq!((queued[0].status, queued[0].customer_id()), (LinkStatus::Candidate, customer_ids[23].clone()));
    assert!(queued[0].confidence >= 0.5, "the matcher's probability: {}", queued[0].confidence);
    assert_eq!((queued[1].status, queued[1].confidence), (LinkStatus::Candidate, 0.0));
    assert_eq!(queued[1].profile.id, queued[0].profile.id);
    assert_eq!((queued[2].status, queued[2].customer_id()), (LinkStatus::Candidate, customer_ids[22].clone()));
    let page = tend_kernel::paging::Page::parse(0, "").unwrap();
    let queue = app.review_queue(&acme, &page).await.unwrap();
    assert_eq!(queue.len(), 2, "{queue:?}");
    let explanation = v1::MatchExplanation::decode(queue[0].explanation.as_slice()).unwrap();
    assert!(!explanation.fields.is_empty());

    // A rejected candidate is never proposed again.
    let lysander = queue.iter().find(|candidate| candidate.profile_id == queued[2].profile.id).unwrap();
    app.decide(&person("acme"), &lysander.id, Verdict::Reject, "different person").await.unwrap();
    let later = identify(db, &app, &[named("lysander_p", "Lysander Pettigrew", "")]).await;
    assert_eq!(later[0].status, LinkStatus::Unknown);

    // Within reach, the matcher links on its own and says why.
    app.set_thresholds(&acme, 0.9, 0.5).await.unwrap();
    let batch = [named("marguerite_s", "Marguerite Szabo", city(21)), named("nobody", "Quentin Unknownperson", "")];
    let linked = identify(db, &app, &batch).await;
    assert_eq!(
        (linked[0].status, LinkMethod::parse(&linked[0].profile.link_method)),
        (LinkStatus::Linked, LinkMethod::Matcher)
    );
    assert_eq!(linked[0].customer_id(), customer_ids[21]);
    assert!(linked[0].profile.link_evidence.starts_with("matcher p="), "{}", linked[0].profile.link_evidence);
    assert!(linked[0].confidence >= 0.9);
    assert_eq!(linked[1].status, LinkStatus::Unknown);
    assert_eq!(audit_actions(&app, &linked[0].profile.id).await, vec!["linked/matcher"]);

    // What a batch costs with the matcher at work: 100 new authors, a quarter of them named
    // like customers (linked or queued), the rest strangers.
    app.set_thresholds(&acme, 0.99, 0.5).await.unwrap();
    let authors: Vec<Post> = (0..100)
        .map(|n| match n % 4 {
            0 => {
                let (given, family) = NAMES[n / 4 % NAMES.len()];
                named(&format!("lookalike{n}"), &format!("{given} {family}"), city(n / 4 % NAMES.len()))
            }
            _ => named(&format!("nobody{n}"), &format!("Someone{n} Else{n}"), ""),
        })
        .collect();
    let (counted, statements) = db.counted();
    let identified = identify_on(&counted, &app, &authors).await;
    let count = statements.load(Ordering::Relaxed);
    let decided = identified.iter().filter(|one| one.status != LinkStatus::Unknown).count();
    println!("{:?}: trained matcher: {count} statements for 100 sightings ({decided} linked or queued)", db.backend);
    assert!(decided > 0);
    // Profiles, identifiers, the matcher and its customers (reloaded after the new
    // thresholds), the proposed customers, then profiles, audit events and candidates written;
    // on PostgreSQL the new authors are claimed first.
    let claim = usize::from(db.backend == crate::testing::Backend::Postgres);
    assert!(count <= 8 + claim, "{count} statements");
}

/// Queues `profile` for review as `customer_id`'s candidate, as the matcher does.
async fn queue_candidate(db: &TestDb, mut profile: profile::Model, customer_id: &str) -> String {
    profile.customer_id = customer_id.to_owned();
    profile.status = LinkStatus::Candidate.as_str().to_owned();
    storage::profiles::save_all(&db.db, &[profile.clone()]).await.unwrap();
    let id = tend_kernel::ids::new_id();
    let row = candidate::Model {
        id: id.clone(),
        tenant: "acme".into(),
        profile_id: profile.id,
        customer_id: customer_id.to_owned(),
        probability: 0.93,
        explanation: Vec::new(),
        status: review::PENDING.to_owned(),
        proposed_at: tend_kernel::ids::now(),
        decided_at: None,
    };
    storage::review::insert_all(&db.db, vec![row]).await.unwrap();
    id
}

/// The candidate's status and its profile, as stored, checked to agree: confirmed means linked
/// by a person to that customer; rejected means the pair is rejected and no longer proposed;
/// pending means nobody decided anything yet.
async fn decision_and_effect(db: &TestDb, candidate_id: &str) -> (String, profile::Model) {
    let candidate = storage::review::find(&db.db, "acme", candidate_id).await.unwrap().unwrap();
    let profile = storage::profiles::find(&db.db, "acme", &candidate.profile_id).await.unwrap().unwrap();
    let rejected = storage::review::rejected_among(&db.db, "acme", &[profile.id.as_str()]).await.unwrap();
    let pair_rejected = rejected.contains(&profile.id, &candidate.customer_id);
    let linked_by_person =
        profile.link_method == LinkMethod::Person.as_str() && profile.customer_id == candidate.customer_id;
    match candidate.status.as_str() {
        "confirmed" => assert!(linked_by_person && !pair_rejected, "confirmed but {profile:?}"),
        "rejected" => assert!(pair_rejected && profile.status != "candidate", "rejected but {profile:?}"),
        _ => {
            assert!(candidate.decided_at.is_none() && !pair_rejected && !linked_by_person, "pending but {profile:?}");
            assert_eq!(profile.status, "candidate");
        }
    }
    (candidate.status, profile)
}

async fn a_decision_on_a_candidate_commits_with_its_effect_or_not_at_all(db: &TestDb) {
    let app = db.app();
    let ann = person("acme");
    let jane = upsert(&app, customer("CRM-1", "Jane", "Doe")).await;
    let joe = upsert(&app, customer("CRM-2", "Joe", "Doe")).await;
    let profiles = identify(db, &app, &[named("jd", "J Doe", ""), named("jo", "Jo D", "")]).await;
    let for_jane = queue_candidate(db, profiles[0].profile.clone(), &jane).await;
    let for_joe = queue_candidate(db, profiles[1].profile.clone(), &joe).await;

    // Confirming fails half-way (Jane was merged into Joe): the decision is not kept either.
    let merged = app.merge(&ann, &joe, &jane, "same household").await.unwrap();
    let error = app.decide(&ann, &for_jane, Verdict::Confirm, "").await.unwrap_err();
    assert!(matches!(error, Error::FailedPrecondition(_)), "{error}");
    assert_eq!(decision_and_effect(db, &for_jane).await.0, "pending");
    app.undo_merge(&ann, &merged.merge.id, "not the same").await.unwrap();
    // Nor when the reason is refused.
    let long = "x".repeat(2_000);
    let error = app.decide(&ann, &for_jane, Verdict::Confirm, &long).await.unwrap_err();
    assert!(matches!(error, Error::InvalidArgument { ref field, .. } if field == "reason"), "{error}");
    assert_eq!(decision_and_effect(db, &for_jane).await.0, "pending");

    let confirmed = app.decide(&ann, &for_jane, Verdict::Confirm, "checked the order").await.unwrap();
    let (status, stored) = decision_and_effect(db, &for_jane).await;
    assert_eq!(status, "confirmed");
    assert_eq!(stored, confirmed);
    // Newest first; the merge and its undo moved the profile before.
    assert_eq!(audit_actions(&app, &stored.id).await[0], "linked/person");
    let again = app.decide(&ann, &for_jane, Verdict::Confirm, "").await.unwrap_err();
    assert!(matches!(again, Error::FailedPrecondition(_)), "{again}");

    // Rejecting with a refused reason keeps nothing; a good one keeps the decision and the
    // rejection together.
    let error = app.decide(&ann, &for_joe, Verdict::Reject, &long).await.unwrap_err();
    assert!(matches!(error, Error::InvalidArgument { .. }), "{error}");
    assert_eq!(decision_and_effect(db, &for_joe).await.0, "pending");
    let rejected = app.decide(&ann, &for_joe, Verdict::Reject, "different person").await.unwrap();
    let (status, stored) = decision_and_effect(db, &for_joe).await;
    assert_eq!((status.as_str(), stored.status.as_str(), stored.customer_id.as_str()), ("rejected", "unknown", ""));
    assert_eq!(stored, rejected);
    assert_eq!(audit_actions(&app, &stored.id).await, vec!["rejected/person"]);
    let unknown = app.decide(&ann, &tend_kernel::ids::new_id(), Verdict::Reject, "").await.unwrap_err();
    assert!(matches!(unknown, Error::NotFound { kind: "review candidate", .. }), "{unknown}");
}

/// What must be gone once Philippa is forgotten, lowercase: her names, CRM ids, phone, city,
/// and a word only a person's reason about her used.
const HERS: [&str; 7] = ["philippa", "quenby", "crm-pq-77", "crm-pq-78", "7911123456", "wolverhampton", "pippa"];

async fn forgetting_a_customer_leaves_nothing_of_them_in_any_table(db: &TestDb) {
    let app = db.app();
    let ann = person("acme");
    let acme = tenant("acme");
    // Philippa, everywhere: her customer and identifiers; a second record of her merged into it.
    let mut philippa = with_handle(customer("CRM-PQ-77", "Philippa", "Quenby"), "@pquenby");
    philippa.emails = vec!["philippa.quenby@example.com".into()];
    philippa.phones = vec!["07911 123456".into()];
    philippa.address = Some(v1::PostalAddress { city: "Wolverhampton".into(), ..Default::default() });
    let philippa = upsert(&app, philippa).await;
    let mut pippa = customer("CRM-PQ-78", "Pippa", "Quenby");
    pippa.emails = vec!["pippa.q@example.com".into()];
    let pippa = upsert(&app, pippa).await;
    app.merge(&ann, &philippa, &pippa, "Pippa Quenby is Philippa").await.unwrap();
    let zed = upsert(&app, with_handle(customer("CRM-Z", "Zed", "Other"), "@zed")).await;

    // Her profiles, linked by her handle and by the email moved in the merge; a person's link
    // with a reason that names her; a profile waiting as her candidate; her profile proposed
    // for someone else; a pair a person rejected.
    let mut by_email = named("pq_alt", "P. Quenby", "Wolverhampton");
    by_email.text = "write to pippa.q@example.com".into();
    let mut authors = [
        named("pquenby", "Philippa Quenby", "Wolverhampton"),
        by_email,
        named("lookalike", "Philippa Q", ""),
        named("caller", "", ""),
        named("zed", "Zed Other", ""),
    ];
    // Channel ids that say nothing of her: `customers.erased` carries them to other services.
    for (n, author) in authors.iter_mut().enumerate() {
        author.external_id = format!("u{n}");
    }
    let seen = identify(db, &app, &authors).await;
    assert_eq!(seen[0].customer_id(), philippa);
    assert_eq!(seen[1].customer_id(), philippa, "{:?}", seen[1].profile);
    app.link(&ann, &seen[3].profile.id, &philippa, "she called, Philippa Quenby confirmed").await.unwrap();
    let explanation = v1::MatchExplanation {
        probability: 0.9,
        fields: vec![v1::FieldAgreement {
            field: "surname".into(),
            level: "exact".into(),
            profile_value: "quenby".into(),
            customer_value: "quenby".into(),
            weight: 5.0,
        }],
        ..Default::default()
    };
    let candidate_id = queue_candidate(db, seen[2].profile.clone(), &philippa).await;
    let mut candidate = storage::review::find(&db.db, "acme", &candidate_id).await.unwrap().unwrap();
    candidate.explanation = explanation.encode_to_vec();
    storage::review::save_candidate(&db.db, candidate.clone()).await.unwrap();
    let mut elsewhere = candidate.clone();
    elsewhere.id = tend_kernel::ids::new_id();
    elsewhere.profile_id = seen[0].profile.id.clone();
    elsewhere.customer_id = zed.clone();
    storage::review::insert_all(&db.db, vec![elsewhere]).await.unwrap();
    storage::review::reject_pair(&db.db, "acme", &seen[4].profile.id, &philippa).await.unwrap();
    // The tenant's model, whose frequency tables hold her names.
    let model = matcher_model::Model {
        tenant: "acme".into(),
        model: r#"{"term_frequencies":{"surname":{"quenby":1,"other":1}}}"#.into(),
        link_threshold: 0.99,
        review_threshold: 0.8,
        trained_at: Some(tend_kernel::ids::now()),
    };
    storage::model::save_matcher(&db.db, model, true).await.unwrap();

    let planted: Vec<String> = find_anywhere(db, &HERS).await;
    for table in [
        "customers.",
        "customer_identifiers.",
        "profiles.",
        "link_events.",
        "review_candidates.",
        "customer_merges.",
        "matcher_models.",
    ] {
        assert!(planted.iter().any(|hit| hit.starts_with(table)), "nothing of hers planted in {table}: {planted:#?}");
    }

    let erased = app.forget(&ann, &philippa, "GDPR request 7").await.unwrap();
    assert_eq!(erased, 4, "her handle's, the moved email's, the person's link's and the candidate's");
    let left = find_anywhere(db, &HERS).await;
    assert!(left.is_empty(), "left behind: {left:#?}");
    // Nor anything keyed by her or her profiles, but the audit trail's who-did-what-when.
    let hers = [philippa.as_str(), pippa.as_str()];
    assert!(storage::customers::find_many(&db.db, "acme", &hers).await.unwrap().is_empty());
    let her_profiles: Vec<&str> = seen[..4].iter().map(|one| one.profile.id.as_str()).collect();
    assert_eq!(storage::review::rejected_among(&db.db, "acme", &[seen[4].profile.id.as_str()]).await.unwrap().len(), 0);
    assert!(storage::review::pending_among(&db.db, "acme", &her_profiles).await.unwrap().is_empty());
    let merges = storage::merge::Entity::find().all(&db.db).await.unwrap();
    assert!(merges.is_empty(), "{merges:?}");
    assert!(storage::model::find(&db.db, "acme").await.unwrap().is_some_and(|row| row.model.is_empty()));
    // Somebody else is untouched.
    assert!(app.customer(&acme, &zed).await.is_ok());
    assert_eq!(app.profile(&acme, &seen[4].profile.id).await.unwrap(), seen[4].profile);
    // The erasure is recorded and announced.
    let page = tend_kernel::paging::Page::parse(0, "").unwrap();
    let trail = app.link_events(&acme, "", &philippa, &page).await.unwrap();
    assert!(trail.iter().all(|event| event.evidence == storage::erasure::ERASED || event.action == "erased"));
    assert!(trail.iter().any(|event| event.action == "erased" && event.reason.as_deref() == Some("GDPR request 7")));
    let outbox = tend_store::outbox::entity::Entity::find().all(&db.db).await.unwrap();
    use tend_store::events::streams;
    let on = |stream: &str| outbox.iter().filter(|row| row.stream == stream).count();
    assert_eq!(on(streams::CUSTOMERS_ERASED), 2, "one customers.erased for her, one for the record merged into her");
    assert_eq!(on(streams::ERASURES), 1, "the erased ids, for the stream janitor");
    assert_eq!(outbox.len(), 3);
}

/// Two consumers (or replicas) identifying batches that share new authors, on PostgreSQL where
/// they really run side by side: the second waits for the first's new profiles and takes them
/// up, instead of failing its whole batch on the unique index and retrying it 30 s later (which
/// under a burst of new authors stalled identity for minutes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batches_share_the_authors_they_both_create() {
    let db = TestDb::new(crate::testing::Backend::Postgres).await;
    let app = Arc::new(db.app());
    let first: Vec<Post> = ["anna", "ben", "cleo"].iter().map(|handle| post(handle, "no signal since noon")).collect();
    let second: Vec<Post> = ["ben", "cleo", "dan"].iter().map(|handle| post(handle, "no signal here either")).collect();

    let txn = db.db.begin().await.unwrap();
    let sightings: Vec<Sighting<'_>> = first.iter().map(Post::sighting).collect();
    let by_first = app.identify(&txn, &tenant("acme"), &sightings).await.unwrap();

    // The second batch starts while the first holds its new profiles uncommitted.
    let racing = tokio::spawn({
        let (app, conn) = (app.clone(), db.db.clone());
        async move {
            let txn = conn.begin().await.unwrap();
            let sightings: Vec<Sighting<'_>> = second.iter().map(Post::sighting).collect();
            let identified = app.identify(&txn, &tenant("acme"), &sightings).await?;
            txn.commit().await.unwrap();
            Ok::<_, Error>(identified)
        }
    });
    // Wait until it is blocked on the first's rows, so the race is the one under test.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let waiting = crate::testing::strings(
            &db.db,
            "SELECT count(*)::text FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                .to_owned(),
        )
        .await;
        if waiting == ["1"] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the second batch never waited for the first");
        tokio::task::yield_now().await;
    }
    txn.commit().await.unwrap();

    let by_second = racing.await.unwrap().expect("the second batch identifies its authors instead of failing");
    let id = |identified: &[Identified], at: usize| identified[at].profile.id.clone();
    assert_eq!(id(&by_second, 0), id(&by_first, 1), "ben has one profile");
    assert_eq!(id(&by_second, 1), id(&by_first, 2), "cleo has one profile");
    assert_eq!(by_second[2].profile.handle, "dan");
    let profiles = storage::profile::Entity::find().all(&db.db).await.unwrap();
    assert_eq!(profiles.len(), 4, "anna, ben, cleo and dan, once each");
    db.finish().await;
}

/// A large import on PostgreSQL ends with the customer tables' statistics refreshed, so the
/// next batch of linking is planned for the tables as they are now (with autovacuum off, or
/// before it comes round, a plan made for the empty tables read every identifier per batch).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_import_refreshes_the_planner_statistics() {
    let db = TestDb::new(crate::testing::Backend::Postgres).await;
    let app = db.app();
    let analyzed = async || {
        crate::testing::strings(
            &db.db,
            "SELECT coalesce(max(last_analyze)::text, '') FROM pg_stat_user_tables \
             WHERE schemaname = current_schema() AND relname = 'customer_identifiers'"
                .to_owned(),
        )
        .await
    };
    let mut small = super::customers::Import::default();
    small.created = 999;
    app.finish_import(&small).await.unwrap();
    assert_eq!(analyzed().await, [""], "a small import leaves them to autovacuum");
    let mut large = super::customers::Import::default();
    (large.created, large.updated) = (600, 400);
    app.finish_import(&large).await.unwrap();
    assert_ne!(analyzed().await, [""], "a large one analyzes the customer tables");
    db.finish().await;
}
