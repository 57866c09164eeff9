//! The storage modules' queries, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used)]

use chrono::Utc;
use sea_orm::TransactionTrait;
use sea_orm_migration::MigratorTrait;

use super::customers::Holder;
use super::*;
use crate::testing::{TestDb, tables};

on_both_backends!(
    every_table_is_classified_for_erasure,
    profiles_are_found_by_author_and_saved_in_one_statement,
    holders_of_identifiers_come_with_their_crm_ids,
    rejections_and_pending_candidates_are_read_for_many_profiles,
    identifiers_are_removed_only_as_asked,
);

#[test]
fn migrations_keep_their_names_and_order() {
    // Databases have recorded these names: they never change, new ones go at the end.
    let names: Vec<String> = Migrator::migrations().iter().map(|migration| migration.name().to_owned()).collect();
    assert_eq!(
        names,
        [
            "m20261123_000001_create_outbox",
            "m20261123_000002_create_inbox",
            "m20261123_000100_create_profiles",
            "m20261123_000200_create_customers",
            "m20261123_000300_create_decisions",
            "m20261123_000400_create_matcher",
            "m20261207_000100_create_notices",
        ]
    );
}

/// Erasure must know every table: a new one is either personal (and erased) or listed as not.
async fn every_table_is_classified_for_erasure(db: &TestDb) {
    let mut classified: Vec<String> =
        erasure::PERSONAL.iter().chain(erasure::NOT_PERSONAL.iter()).map(|table| (*table).to_owned()).collect();
    classified.sort();
    assert_eq!(tables(db).await, classified);
}

fn profile_row(tenant: &str, channel: i32, external_id: &str) -> profile::Model {
    let now = tend_kernel::ids::now();
    profile::Model {
        id: tend_kernel::ids::new_id(),
        tenant: tenant.into(),
        channel,
        external_id: external_id.into(),
        handle: format!("@{external_id}"),
        display_name: String::new(),
        followers: 1,
        customer_id: String::new(),
        status: "unknown".into(),
        first_seen_at: now,
        last_seen_at: now,
        link_method: String::new(),
        link_evidence: String::new(),
        linked_at: None,
        email: String::new(),
        location: String::new(),
    }
}

async fn profiles_are_found_by_author_and_saved_in_one_statement(db: &TestDb) {
    let conn = &db.db;
    let a = profile_row("acme", 1, "a");
    let a_on_facebook = profile_row("acme", 2, "a");
    let b = profile_row("acme", 1, "b");
    let a_elsewhere = profile_row("globex", 1, "a");
    profiles::save_all(conn, &[a.clone(), a_on_facebook.clone(), b.clone(), a_elsewhere.clone()]).await.unwrap();

    // Asked for (x, a) and (x, b) along with an author never seen: the same id on another
    // channel or in another tenant is somebody else.
    let txn = conn.begin().await.unwrap();
    let mut found = profiles::of_authors(&txn, "acme", &[(1, "a"), (1, "b"), (1, "nobody")]).await.unwrap();
    txn.commit().await.unwrap();
    found.sort_by(|x, y| x.external_id.cmp(&y.external_id));
    assert_eq!(found, vec![a.clone(), b.clone()]);

    // Saving stored and new rows together updates one and inserts the other.
    let mut seen_again = a.clone();
    seen_again.handle = "@a_renamed".into();
    seen_again.followers = 99;
    seen_again.customer_id = "c1".into();
    seen_again.status = "linked".into();
    seen_again.link_method = "known_handle".into();
    seen_again.link_evidence = "handle".into();
    seen_again.linked_at = Some(tend_kernel::ids::now());
    // What identifies the author and when it was first seen are never rewritten.
    let mut claimed = seen_again.clone();
    claimed.first_seen_at = Utc::now() + chrono::Duration::days(1);
    let c = profile_row("acme", 1, "c");
    profiles::save_all(conn, &[claimed, c.clone()]).await.unwrap();
    assert_eq!(profiles::find(conn, "acme", &a.id).await.unwrap(), Some(seen_again));
    assert_eq!(profiles::find(conn, "acme", &c.id).await.unwrap(), Some(c));
    assert_eq!(profiles::find(conn, "globex", &a.id).await.unwrap(), None, "tenant-scoped");

    // A second profile for a stored author is refused by the unique index.
    let twin = profile_row("acme", 1, "b");
    let error = profiles::save_all(conn, &[twin]).await.unwrap_err();
    assert!(error.is_unique_violation(), "{error}");

    // Many authors at once: more than one statement's worth.
    let many: Vec<profile::Model> =
        (0..ROWS_PER_STATEMENT + 20).map(|n| profile_row("acme", 3, &format!("m{n}"))).collect();
    profiles::save_all(conn, &many).await.unwrap();
    let keys: Vec<String> = (0..ROWS_PER_STATEMENT + 20).map(|n| format!("m{n}")).collect();
    let keys: Vec<(i32, &str)> = keys.iter().map(|key| (3, key.as_str())).collect();
    assert_eq!(profiles::of_authors(conn, "acme", &keys).await.unwrap().len(), ROWS_PER_STATEMENT + 20);
}

fn customer_row(tenant: &str, crm_id: &str) -> customer::Model {
    let now = tend_kernel::ids::now();
    customer::Model {
        id: tend_kernel::ids::new_id(),
        tenant: tenant.into(),
        crm_id: crm_id.into(),
        given_name: String::new(),
        family_name: String::new(),
        postcode: String::new(),
        date_of_birth: None,
        segment: String::new(),
        tier: String::new(),
        lifetime_value: 0.0,
        original: Vec::new(),
        merged_into: None,
        created_at: now,
        updated_at: now,
    }
}

async fn holders_of_identifiers_come_with_their_crm_ids(db: &TestDb) {
    let conn = &db.db;
    let parent = customer_row("acme", "PARENT");
    let child = customer_row("acme", "CHILD");
    let other = customer_row("globex", "OTHER");
    let family = ("email", "family@example.com".to_owned());
    customers::save_customer(conn, parent.clone(), &[family.clone(), ("handle", "x:parent".into())], true)
        .await
        .unwrap();
    customers::save_customer(conn, child.clone(), std::slice::from_ref(&family), true).await.unwrap();
    customers::save_customer(conn, other, std::slice::from_ref(&family), true).await.unwrap();

    let offered = [("email", "family@example.com"), ("handle", "x:parent"), ("handle", "x:nobody")];
    let holders = customers::holders(conn, "acme", &offered).await.unwrap();
    let mut shared: Vec<Holder> = holders.of("email", "family@example.com").cloned().collect();
    shared.sort_by(|a, b| a.crm_id.cmp(&b.crm_id));
    assert_eq!(
        shared,
        vec![
            Holder { customer_id: child.id.clone(), crm_id: "CHILD".into() },
            Holder { customer_id: parent.id.clone(), crm_id: "PARENT".into() },
        ]
    );
    assert_eq!(
        holders.of("handle", "x:parent").collect::<Vec<_>>(),
        vec![&Holder { customer_id: parent.id.clone(), crm_id: "PARENT".into() }]
    );
    assert_eq!(holders.of("email", "x:parent").count(), 0, "the kind counts");
    assert_eq!(holders.of("handle", "x:nobody").count(), 0, "{holders:?}");
    let found = customers::find_many(conn, "acme", &[parent.id.as_str(), child.id.as_str(), "missing"]).await.unwrap();
    assert_eq!(found.len(), 2);
}

async fn rejections_and_pending_candidates_are_read_for_many_profiles(db: &TestDb) {
    let conn = &db.db;
    review::reject_pair(conn, "acme", "p1", "c1").await.unwrap();
    review::reject_pair(conn, "acme", "p1", "c1").await.unwrap();
    review::reject_pair(conn, "acme", "p2", "c2").await.unwrap();
    review::reject_pair(conn, "globex", "p3", "c3").await.unwrap();
    let rejected = review::rejected_among(conn, "acme", &["p1", "p2", "p3"]).await.unwrap();
    assert_eq!(rejected.len(), 2, "idempotent, tenant-scoped: {rejected:?}");
    assert!(rejected.contains("p1", "c1") && !rejected.contains("p1", "c2"));
    review::forget_rejection(conn, "acme", "p1", "c1").await.unwrap();
    assert_eq!(review::rejected_among(conn, "acme", &["p1"]).await.unwrap().len(), 0);

    let candidate = |profile_id: &str, status: &str| candidate::Model {
        id: tend_kernel::ids::new_id(),
        tenant: "acme".into(),
        profile_id: profile_id.into(),
        customer_id: "c1".into(),
        probability: 0.9,
        explanation: vec![1, 2, 3],
        status: status.into(),
        proposed_at: tend_kernel::ids::now(),
        decided_at: None,
    };
    review::insert_all(conn, vec![candidate("p1", review::PENDING), candidate("p2", "rejected")]).await.unwrap();
    let pending = review::pending_among(conn, "acme", &["p1", "p2", "p3"]).await.unwrap();
    assert_eq!(pending.into_iter().collect::<Vec<_>>(), vec!["p1".to_owned()]);
}

async fn identifiers_are_removed_only_as_asked(db: &TestDb) {
    let conn = &db.db;
    let row = customer_row("acme", "C");
    let identifiers =
        [("email", "a@example.com".to_owned()), ("phone", "+447911123456".to_owned()), ("handle", "x:c".into())];
    customers::save_customer(conn, row.clone(), &identifiers, true).await.unwrap();
    let only = [("phone".to_owned(), "+447911123456".to_owned()), ("email".to_owned(), "b@example.com".to_owned())];
    customers::remove_identifiers(conn, "acme", &row.id, Some(&only)).await.unwrap();
    customers::remove_identifiers(conn, "acme", &row.id, Some(&[])).await.unwrap();
    let mut left = customers::identifiers_of(conn, "acme", &row.id).await.unwrap();
    left.sort();
    assert_eq!(left, vec![("email".to_owned(), "a@example.com".to_owned()), ("handle".to_owned(), "x:c".to_owned())]);
    customers::remove_identifiers(conn, "acme", &row.id, None).await.unwrap();
    assert!(customers::identifiers_of(conn, "acme", &row.id).await.unwrap().is_empty());
}
