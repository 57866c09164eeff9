//! Identity's CRM side and deterministic links: customers are upserted and imported with their
//! normal forms and originals; an author whose handle, email or phone is on exactly one customer
//! is linked outright, with evidence, and the case carries the customer.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use tend_proto::v1;
use tend_tests::{Backend, TestApp, as_tenant, post, routed};

tend_tests::on_both_backends!(
    upsert_normalises_keeps_the_original_and_is_idempotent,
    import_streams_customers_and_reports_rejections,
    known_handle_links_outright_and_the_case_carries_the_customer,
    email_or_phone_in_a_message_links_outright,
    an_identifier_shared_by_two_customers_links_nobody,
    a_persons_link_sticks_and_an_unlink_is_never_undone_automatically,
    merge_moves_identifiers_and_profiles_and_undo_restores_them,
    forgetting_a_customer_erases_it_and_tells_every_service,
    oversized_or_out_of_range_customer_fields_are_refused_naming_field_and_limit,
    a_page_of_the_largest_customers_fits_a_clients_limit,
);

fn jane() -> v1::CustomerInput {
    v1::CustomerInput {
        crm_id: "CRM-1".into(),
        given_name: "Jane".into(),
        family_name: "Doé".into(),
        emails: vec!["Jane.Doe+shop@Example.com".into()],
        phones: vec!["07911 123456".into()],
        handles: vec![v1::KnownHandle { channel: v1::Channel::X.into(), handle: "@JaneD".into() }],
        default_region: "GB".into(),
        tier: "gold".into(),
        lifetime_value: 1234.5,
        ..Default::default()
    }
}

async fn upsert(app: &TestApp, tenant: &str, customer: v1::CustomerInput) -> v1::UpsertCustomerResponse {
    let request = as_tenant(tenant, v1::UpsertCustomerRequest { customer: Some(customer) });
    app.identity().upsert_customer(request).await.unwrap().into_inner()
}

async fn upsert_normalises_keeps_the_original_and_is_idempotent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = upsert(&app, "acme", jane()).await;
    assert!(first.created);
    let customer = first.customer.unwrap();
    let normalized = customer.normalized.clone().unwrap();
    assert_eq!(normalized.family_name, "doe");
    assert_eq!(normalized.emails, vec!["jane.doe@example.com"]);
    assert_eq!(normalized.phones, vec!["+447911123456"]);
    assert_eq!(normalized.handles, vec!["x:janed"]);
    assert_eq!(customer.original.as_ref().unwrap().family_name, "Doé", "the original is kept");

    let again = upsert(&app, "acme", jane()).await;
    assert!(!again.created);
    assert_eq!(again.customer.unwrap().updated_at, customer.updated_at, "unchanged input changes nothing");

    let mut moved = jane();
    moved.tier = "platinum".into();
    let updated = upsert(&app, "acme", moved).await.customer.unwrap();
    assert_eq!(updated.id, customer.id);
    assert_eq!(updated.original.unwrap().tier, "platinum");

    let request = as_tenant("acme", v1::GetCustomerRequest { id: customer.id.clone() });
    let fetched = app.identity().get_customer(request).await.unwrap().into_inner();
    assert_eq!(fetched.id, customer.id);
    let other = app.identity().get_customer(as_tenant("globex", v1::GetCustomerRequest { id: customer.id })).await;
    assert_eq!(other.unwrap_err().code(), tonic::Code::NotFound);

    let mut bad = jane();
    bad.phones = vec!["12".into()];
    let request = as_tenant("acme", v1::UpsertCustomerRequest { customer: Some(bad) });
    let status = app.identity().upsert_customer(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("customer.phones[0]"), "{}", status.message());
    app.stop().await;
}

async fn import_streams_customers_and_reports_rejections(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut records = Vec::new();
    for n in 0..30 {
        let customer = v1::CustomerInput {
            crm_id: format!("C-{n}"),
            given_name: format!("Person{n}"),
            emails: vec![if n == 7 { "broken".into() } else { format!("p{n}@example.com") }],
            // A NaN amount is one bad record, not the end of the import.
            lifetime_value: if n == 12 { f64::NAN } else { 100.0 },
            ..Default::default()
        };
        records.push(v1::ImportCustomersRequest { customer: Some(customer) });
    }
    records.push(v1::ImportCustomersRequest { customer: Some(jane()) });
    records.push(v1::ImportCustomersRequest { customer: Some(jane()) });
    let request = as_tenant("acme", tokio_stream::iter(records));
    let outcome = app.identity().import_customers(request).await.unwrap().into_inner();
    assert_eq!((outcome.created, outcome.updated, outcome.rejected), (29, 1, 2), "{outcome:?}");
    assert!(
        outcome.errors[1].contains("record 13") && outcome.errors[1].contains("customer.lifetime_value"),
        "{:?}",
        outcome.errors
    );
    assert!(
        outcome.errors[0].contains("record 8") && outcome.errors[0].contains("customer.emails[0]"),
        "{:?}",
        outcome.errors
    );

    let request = as_tenant("acme", v1::ListCustomersRequest { page_size: 20, ..Default::default() });
    let page = app.identity().list_customers(request).await.unwrap().into_inner();
    assert_eq!(page.customers.len(), 20);
    assert!(!page.next_page_token.is_empty());

    // The same record alone is the caller's error, named, not a retry forever.
    let nan = v1::CustomerInput { crm_id: "C-NAN".into(), lifetime_value: f64::NAN, ..Default::default() };
    let request = as_tenant("acme", v1::UpsertCustomerRequest { customer: Some(nan) });
    let status = app.identity().upsert_customer(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("customer.lifetime_value"), "{}", status.message());
    app.stop().await;
}

/// Ingests `request` for acme and returns the profile and case once routed.
async fn route(app: &TestApp, mut request: v1::IngestInteractionRequest) -> (v1::Profile, v1::Case) {
    // A question, so that the post is work and opens a case whatever else it says.
    request.text.push_str(" Where is my order?");
    let ingested = app.ingest().ingest_interaction(as_tenant("acme", request)).await.unwrap().into_inner();
    let decision = routed(app, "acme", &ingested.interaction.unwrap().id).await;
    let case = app.cases().get_case(as_tenant("acme", v1::GetCaseRequest { id: decision.case_id })).await;
    let case = case.unwrap().into_inner();
    let request = as_tenant("acme", v1::GetProfileRequest { id: case.profile_id.clone() });
    let profile = app.identity().get_profile(request).await.unwrap().into_inner();
    (profile, case)
}

async fn known_handle_links_outright_and_the_case_carries_the_customer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let customer = upsert(&app, "acme", jane()).await.customer.unwrap();
    let (profile, case) = route(&app, post("janed", "where is my parcel")).await;
    assert_eq!(profile.status(), v1::IdentityStatus::Linked);
    assert_eq!(profile.customer_id, customer.id);
    assert_eq!(profile.link_method(), v1::LinkMethod::KnownHandle);
    assert!(
        profile.link_evidence.contains("x:janed") && profile.link_evidence.contains("CRM-1"),
        "{}",
        profile.link_evidence
    );
    assert_eq!(case.customer_id, customer.id);
    // A known customer ranks higher: base 30 + influence 10 (1,500 followers) + known customer 10
    // + customer value 2 (lifetime value 1,234.5) + question 5.
    assert_eq!(case.priority, 57);
    let terms: Vec<&str> =
        case.routing.as_ref().unwrap().priority_terms.iter().map(|term| term.name.as_str()).collect();
    assert_eq!(terms, vec!["base", "influence", "customer", "customer_value", "question"]);

    // The same handle in another tenant is somebody else.
    let ingested = app
        .ingest()
        .ingest_interaction(as_tenant("globex", post("janed", "hi, where is my order?")))
        .await
        .unwrap()
        .into_inner();
    let decision = routed(&app, "globex", &ingested.interaction.unwrap().id).await;
    let case = app.cases().get_case(as_tenant("globex", v1::GetCaseRequest { id: decision.case_id })).await.unwrap();
    assert!(case.into_inner().customer_id.is_empty());
    app.stop().await;
}

async fn email_or_phone_in_a_message_links_outright(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let customer = upsert(&app, "acme", jane()).await.customer.unwrap();
    let (by_email, _) = route(&app, post("someone", "it's JANE.DOE@example.com, order 5512")).await;
    assert_eq!(by_email.customer_id, customer.id);
    assert_eq!(by_email.link_method(), v1::LinkMethod::Email);

    let (by_phone, _) = route(&app, post("another", "call me on +44 7911 123456 please")).await;
    assert_eq!(by_phone.customer_id, customer.id);
    assert_eq!(by_phone.link_method(), v1::LinkMethod::Phone);

    let (stranger, case) = route(&app, post("stranger", "no details here, where is my order?")).await;
    assert_eq!(stranger.status(), v1::IdentityStatus::Unknown);
    assert!(case.customer_id.is_empty());
    app.stop().await;
}

async fn an_identifier_shared_by_two_customers_links_nobody(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for crm_id in ["PARENT", "CHILD"] {
        let family = v1::CustomerInput {
            crm_id: crm_id.into(),
            emails: vec!["family@example.com".into()],
            ..Default::default()
        };
        upsert(&app, "acme", family).await;
    }
    let (profile, _) = route(&app, post("kid", "mail family@example.com")).await;
    assert_eq!(profile.status(), v1::IdentityStatus::Unknown);
    app.stop().await;
}

async fn audit_actions(app: &TestApp, profile_id: &str) -> Vec<String> {
    let request = as_tenant("acme", v1::ListLinkEventsRequest { profile_id: profile_id.into(), ..Default::default() });
    let events = app.identity().list_link_events(request).await.unwrap().into_inner().events;
    events.into_iter().map(|event| format!("{}/{}", event.action, event.method)).collect()
}

async fn a_persons_link_sticks_and_an_unlink_is_never_undone_automatically(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let jane = upsert(&app, "acme", jane()).await.customer.unwrap();
    let other =
        v1::CustomerInput { crm_id: "CRM-2".into(), emails: vec!["other@example.com".into()], ..Default::default() };
    let other = upsert(&app, "acme", other).await.customer.unwrap();

    // A stranger is linked to Jane by a person; later evidence for another customer changes nothing.
    let (stranger, _) = route(&app, post("stranger", "hello, where is my order?")).await;
    let request = v1::LinkProfileRequest {
        profile_id: stranger.id.clone(),
        customer_id: jane.id.clone(),
        reason: "called in".into(),
    };
    let linked = app.identity().link_profile(as_tenant("acme", request)).await.unwrap().into_inner();
    assert_eq!((linked.customer_id.as_str(), linked.link_method()), (jane.id.as_str(), v1::LinkMethod::Person));
    let (again, case) = route(&app, post("stranger", "write to other@example.com")).await;
    assert_eq!(again.customer_id, jane.id, "the person's decision sticks");
    assert_eq!(case.customer_id, jane.id);
    let _ = other;

    // Jane's own handle links outright; a person unlinks it, and it is not linked again.
    let (by_handle, _) = route(&app, post("janed", "hi, where is my order?")).await;
    assert_eq!(by_handle.link_method(), v1::LinkMethod::KnownHandle);
    let request = v1::UnlinkProfileRequest { profile_id: by_handle.id.clone(), reason: "shared account".into() };
    let unlinked = app.identity().unlink_profile(as_tenant("acme", request.clone())).await.unwrap().into_inner();
    assert_eq!(unlinked.status(), v1::IdentityStatus::Unknown);
    let (after, _) = route(&app, post("janed", "hello again, where is my refund?")).await;
    assert_eq!(after.id, by_handle.id);
    assert!(after.customer_id.is_empty(), "a rejected pair is never linked again automatically");
    let status = app.identity().unlink_profile(as_tenant("acme", request)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);

    assert_eq!(audit_actions(&app, &by_handle.id).await, vec!["unlinked/person", "linked/known_handle"]);
    assert_eq!(audit_actions(&app, &stranger.id).await, vec!["linked/person"]);
    app.stop().await;
}

async fn merge_moves_identifiers_and_profiles_and_undo_restores_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let alice = v1::CustomerInput {
        crm_id: "A".into(),
        handles: vec![v1::KnownHandle { channel: v1::Channel::X.into(), handle: "alice".into() }],
        ..Default::default()
    };
    let alice = upsert(&app, "acme", alice).await.customer.unwrap();
    let bob = v1::CustomerInput { crm_id: "B".into(), emails: vec!["b@example.com".into()], ..Default::default() };
    let bob = upsert(&app, "acme", bob).await.customer.unwrap();
    let (profile, _) = route(&app, post("alice", "hi, where is my order?")).await;
    assert_eq!(profile.customer_id, alice.id);

    let request = v1::MergeCustomersRequest {
        survivor_id: bob.id.clone(),
        merged_id: alice.id.clone(),
        reason: "same person".into(),
    };
    let merged = app.identity().merge_customers(as_tenant("acme", request)).await.unwrap().into_inner();
    assert_eq!(merged.profiles_moved, 1);
    let survivor = merged.survivor.unwrap();
    assert!(survivor.id == bob.id);
    let get = |id: &str| as_tenant("acme", v1::GetProfileRequest { id: id.to_owned() });
    assert_eq!(app.identity().get_profile(get(&profile.id)).await.unwrap().into_inner().customer_id, bob.id);
    let listed = app.identity().list_customers(as_tenant("acme", v1::ListCustomersRequest::default())).await.unwrap();
    assert_eq!(listed.into_inner().customers.len(), 1, "the merged customer is hidden");
    // Alice's handle now finds Bob.
    let (newcomer, _) = route(&app, post("alice", "from another author id: where is my order?")).await;
    assert_eq!(newcomer.customer_id, bob.id);

    let undo = v1::UndoMergeRequest { merge_id: merged.merge_id.clone(), reason: "not the same".into() };
    let restored = app.identity().undo_merge(as_tenant("acme", undo.clone())).await.unwrap().into_inner();
    assert_eq!(restored.id, alice.id);
    assert_eq!(app.identity().get_profile(get(&profile.id)).await.unwrap().into_inner().customer_id, alice.id);
    let listed = app.identity().list_customers(as_tenant("acme", v1::ListCustomersRequest::default())).await.unwrap();
    assert_eq!(listed.into_inner().customers.len(), 2);
    let status = app.identity().undo_merge(as_tenant("acme", undo)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    let request = v1::ListLinkEventsRequest { customer_id: alice.id.clone(), ..Default::default() };
    let actions: Vec<_> =
        app.identity().list_link_events(as_tenant("acme", request)).await.unwrap().into_inner().events;
    let actions: Vec<_> = actions.into_iter().map(|event| event.action).collect();
    assert!(actions.contains(&"merged".to_owned()) && actions.contains(&"merge_undone".to_owned()), "{actions:?}");
    app.stop().await;
}

async fn forgetting_a_customer_erases_it_and_tells_every_service(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let customer = upsert(&app, "acme", jane()).await.customer.unwrap();
    let (profile, _) = route(&app, post("janed", "my card was charged twice")).await;
    assert_eq!(profile.customer_id, customer.id);

    let forget = v1::ForgetCustomerRequest { customer_id: customer.id.clone(), reason: "GDPR request 118".into() };
    let outcome = app.identity().forget_customer(as_tenant("acme", forget.clone())).await.unwrap().into_inner();
    assert_eq!(outcome.profiles_erased, 1);
    let status =
        app.identity().get_customer(as_tenant("acme", v1::GetCustomerRequest { id: customer.id.clone() })).await;
    assert_eq!(status.unwrap_err().code(), tonic::Code::NotFound);
    let status = app.identity().get_profile(as_tenant("acme", v1::GetProfileRequest { id: profile.id.clone() })).await;
    assert_eq!(status.unwrap_err().code(), tonic::Code::NotFound);
    let request = as_tenant("acme", v1::ListLinkEventsRequest { profile_id: profile.id.clone(), ..Default::default() });
    let trail = app.identity().list_link_events(request).await.unwrap().into_inner().events;
    assert!(trail.iter().all(|event| event.evidence == "[erased]"), "{trail:?}");
    let status = app.identity().forget_customer(as_tenant("acme", forget)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);

    // The erasure is announced with what other services need to find their copies.
    let stream = tend::app::open_stream(&app.config).await.unwrap();
    let envelope = tend_tests::eventually("customers.erased", std::time::Duration::from_secs(20), || async {
        let entries = stream.range("customers.erased", None, 10).await.unwrap();
        entries.first().map(|entry| <v1::EventEnvelope as prost::Message>::decode(entry.payload.as_slice()).unwrap())
    })
    .await;
    let erased = <v1::CustomerErased as prost::Message>::decode(envelope.payload.as_slice()).unwrap();
    assert_eq!(erased.customer_id, customer.id);
    assert_eq!(erased.profiles.len(), 1);
    assert_eq!(
        (erased.profiles[0].profile_id.as_str(), erased.profiles[0].external_id.as_str()),
        (profile.id.as_str(), "id-janed")
    );
    assert_eq!(erased.reason, "GDPR request 118");
    app.stop().await;
}

/// The status of upserting `customer` for acme, which must fail.
async fn refused(app: &TestApp, customer: v1::CustomerInput) -> tonic::Status {
    let request = as_tenant("acme", v1::UpsertCustomerRequest { customer: Some(customer) });
    app.identity().upsert_customer(request).await.unwrap_err()
}

/// Issue 14, defects 4 and 6: every customer field has a limit, checked before any work
/// (INVALID_ARGUMENT naming the field and the limit, the value not echoed); timestamps and dates
/// of birth outside what clients can read back are refused; in an import each such record is one
/// rejection and the import goes on.
async fn oversized_or_out_of_range_customer_fields_are_refused_naming_field_and_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let at = |seconds, nanos| {
        let last_order_at = Some(tend_proto::Timestamp { seconds, nanos });
        Some(v1::PurchaseSummary { orders: 1, last_order_at, ..Default::default() })
    };
    let street = |street: String| Some(v1::PostalAddress { street, ..Default::default() });
    let cases: Vec<(&str, &str, v1::CustomerInput)> = vec![
        ("customer.given_name", "at most 200", v1::CustomerInput { given_name: "a".repeat(3 << 20), ..jane() }),
        (
            "customer.address.street",
            "at most 200",
            v1::CustomerInput { address: street("s".repeat(600 << 10)), ..jane() },
        ),
        (
            "customer.emails[0]",
            "at most 254",
            v1::CustomerInput { emails: vec![format!("{}@example.com", "e".repeat(1 << 20))], ..jane() },
        ),
        ("customer.crm_id", "at most 256", v1::CustomerInput { crm_id: "C".repeat(100 << 10), ..jane() }),
        ("customer.emails", "at most 20", v1::CustomerInput { emails: vec!["a@example.com".into(); 21], ..jane() }),
        ("customer.date_of_birth", "1900-01-01", v1::CustomerInput { date_of_birth: "0000-01-01".into(), ..jane() }),
        ("customer.date_of_birth", "1900-01-01", v1::CustomerInput { date_of_birth: "2999-01-01".into(), ..jane() }),
        (
            "customer.purchases.last_order_at",
            "9999-12-31",
            v1::CustomerInput { purchases: at(253_402_300_800, 0), ..jane() },
        ),
        (
            "customer.purchases.last_order_at",
            "0001-01-01",
            v1::CustomerInput { purchases: at(-62_135_596_801, 0), ..jane() },
        ),
        ("customer.purchases.last_order_at", "nanos", v1::CustomerInput { purchases: at(1_700_000_000, -1), ..jane() }),
    ];
    for (field, limit, customer) in &cases {
        let status = refused(&app, customer.clone()).await;
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{field}: {status:?}");
        let message = status.message();
        assert!(message.contains(field) && message.contains(limit), "{field}: {message}");
        assert!(message.len() < 300, "{field}: the value is echoed: {}", &message[..300]);
    }

    // In an import, each is one rejected record, named; the others are stored.
    let mut records = Vec::new();
    for (n, (_, _, customer)) in cases.iter().enumerate() {
        let good = v1::CustomerInput {
            crm_id: format!("GOOD-{n}"),
            emails: vec![format!("good{n}@example.com")],
            date_of_birth: "1990-04-21".into(),
            purchases: at(1_700_000_000, 0),
            ..Default::default()
        };
        records.push(v1::ImportCustomersRequest { customer: Some(good) });
        let mut bad = customer.clone();
        if bad.crm_id.len() <= 256 {
            bad.crm_id = format!("BAD-{n}");
        }
        records.push(v1::ImportCustomersRequest { customer: Some(bad) });
    }
    // The error of the 100 KiB CRM id quotes it, not repeats it.
    let request = as_tenant("acme", tokio_stream::iter(records));
    let outcome = app.identity().import_customers(request).await.unwrap().into_inner();
    let n = cases.len() as u64;
    assert_eq!((outcome.created, outcome.updated, outcome.rejected), (n, 0, n), "{outcome:?}");
    for (index, (field, _, _)) in cases.iter().enumerate() {
        let error = &outcome.errors[index];
        assert!(error.contains(&format!("record {}", 2 * index + 2)) && error.contains(field), "{error}");
        assert!(error.len() < 400, "{error}");
    }
    let request = as_tenant("acme", v1::ListCustomersRequest { page_size: 100, ..Default::default() });
    let page = app.identity().list_customers(request).await.unwrap().into_inner();
    assert_eq!(page.customers.len(), cases.len(), "only the good records are stored");
    app.stop().await;
}

/// Issue 14, defect 4: one default page of customers grew to 50 MB. Now a page stops before
/// 2 MiB encoded (well under a client's default 4 MiB) and the next page goes on from there,
/// even when every customer is as large as the limits allow.
async fn a_page_of_the_largest_customers_fits_a_clients_limit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let largest = |n: usize| {
        let padded = |prefix: &str, max: usize| format!("{prefix}{n}-{}", "x".repeat(max - prefix.len() - 8));
        let line = |max: usize| "a".repeat(max);
        v1::CustomerInput {
            crm_id: padded("CRM-", 256),
            given_name: line(200),
            family_name: line(200),
            emails: (0..20).map(|i| format!("{}@example.com", padded(&format!("e{i}-"), 240))).collect(),
            handles: (0..20)
                .map(|i| v1::KnownHandle { channel: v1::Channel::X.into(), handle: padded(&format!("h{i}-"), 254) })
                .collect(),
            address: Some(v1::PostalAddress {
                street: line(200),
                city: line(200),
                region: line(200),
                postcode: line(32),
                country: line(64),
            }),
            segment: line(64),
            tier: line(64),
            ..Default::default()
        }
    };
    let count = 220;
    let records: Vec<_> = (0..count).map(|n| v1::ImportCustomersRequest { customer: Some(largest(n)) }).collect();
    let request = as_tenant("acme", tokio_stream::iter(records));
    let outcome = app.identity().import_customers(request).await.unwrap().into_inner();
    assert_eq!(outcome.created, count as u64, "{:?}", outcome.errors);

    let mut seen = std::collections::HashSet::new();
    let mut token = String::new();
    let mut pages = 0;
    let mut total_bytes = 0;
    loop {
        let request = v1::ListCustomersRequest { page_size: 500, page_token: token.clone() };
        let page = app.identity().list_customers(as_tenant("acme", request)).await.unwrap().into_inner();
        assert!(prost::Message::encoded_len(&page) <= 2 << 20, "{} bytes", prost::Message::encoded_len(&page));
        pages += 1;
        total_bytes += prost::Message::encoded_len(&page);
        for customer in page.customers {
            assert!(seen.insert(customer.id), "a customer on two pages");
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen.len(), count, "every customer once");
    assert!(pages > 1, "the page was cut by size");
    assert!(total_bytes > 4 << 20, "in one page, more than a client accepts: {total_bytes} bytes");
    app.stop().await;
}
