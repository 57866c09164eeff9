//! The probabilistic matcher inside identity: trained on the tenant's own profiles and
//! customers (no labels), it links a profile whose name looks like a customer's, or queues it
//! for review with an explanation, per the tenant's thresholds; people confirm or reject, and a
//! rejected pair is never proposed again.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use tend_proto::v1;
use tend_tests::{Backend, TestApp, as_tenant, post, routed};

tend_tests::on_both_backends!(the_matcher_links_or_queues_by_threshold_and_people_decide);

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

async fn profile_for(app: &TestApp, handle: &str, display_name: &str) -> v1::Profile {
    located(app, handle, display_name, "").await
}

async fn located(app: &TestApp, handle: &str, display_name: &str, location: &str) -> v1::Profile {
    let mut request = post(handle, "hello there, where is my order?");
    request.author.as_mut().unwrap().display_name = display_name.to_owned();
    request.author.as_mut().unwrap().location = location.to_owned();
    let ingested = app.ingest().ingest_interaction(as_tenant("acme", request)).await.unwrap().into_inner();
    let decision = routed(app, "acme", &ingested.interaction.unwrap().id).await;
    let case = app.cases().get_case(as_tenant("acme", v1::GetCaseRequest { id: decision.case_id })).await.unwrap();
    let request = as_tenant("acme", v1::GetProfileRequest { id: case.into_inner().profile_id });
    app.identity().get_profile(request).await.unwrap().into_inner()
}

async fn thresholds(app: &TestApp, link: f64, review: f64) {
    let request = v1::SetMatchThresholdsRequest { link_threshold: link, review_threshold: review };
    app.identity().set_match_thresholds(as_tenant("acme", request)).await.unwrap();
}

async fn the_matcher_links_or_queues_by_threshold_and_people_decide(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut customer_ids = Vec::new();
    for (n, (given, family)) in NAMES.iter().enumerate() {
        let customer = v1::CustomerInput {
            crm_id: format!("C-{n}"),
            given_name: (*given).into(),
            family_name: (*family).into(),
            address: Some(v1::PostalAddress { city: city(n).split(',').next().unwrap().into(), ..Default::default() }),
            ..Default::default()
        };
        let request = as_tenant("acme", v1::UpsertCustomerRequest { customer: Some(customer) });
        customer_ids.push(app.identity().upsert_customer(request).await.unwrap().into_inner().customer.unwrap().id);
    }
    // Before training nothing but deterministic evidence links, and explaining needs a model.
    let before = profile_for(&app, "someone0", "Zelda Quartermaine").await;
    assert_eq!(before.status(), v1::IdentityStatus::Unknown);
    let request = v1::ExplainMatchRequest { profile_id: before.id.clone(), customer_id: customer_ids[0].clone() };
    let status = app.identity().explain_match(as_tenant("acme", request)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);

    // The tenant's own data: authors named like customers (living where they do), and strangers.
    for (n, (given, family)) in NAMES.iter().enumerate().skip(1).take(14) {
        located(&app, &format!("fan{n}"), &format!("{given} {family}"), city(n)).await;
    }
    for n in 0..8 {
        located(&app, &format!("stranger{n}"), &format!("Person{n} Unrelated{n}"), city(n + 1)).await;
    }
    let trained =
        app.identity().train_matcher(as_tenant("acme", v1::TrainMatcherRequest {})).await.unwrap().into_inner();
    assert_eq!(trained.customers, NAMES.len() as u64);
    assert!(trained.candidate_pairs > 0);

    // Out of reach of the link threshold: a look-alike waits for review, with its explanation.
    thresholds(&app, 1.0, 0.5).await;
    let lookalike = profile_for(&app, "beatrix_m", "Beatrix Montgomery").await;
    assert_eq!(lookalike.status(), v1::IdentityStatus::Candidate, "{lookalike:?}");
    assert_eq!(lookalike.customer_id, customer_ids[23]);
    let queue = app.identity().list_review_queue(as_tenant("acme", v1::ListReviewQueueRequest::default())).await;
    let queue = queue.unwrap().into_inner().candidates;
    let candidate = queue.iter().find(|candidate| candidate.profile_id == lookalike.id).unwrap().clone();
    let explanation = candidate.explanation.clone().unwrap();
    let level = |field: &str| explanation.fields.iter().find(|f| f.field == field).map(|f| f.level.clone()).unwrap();
    assert_eq!((level("given_name"), level("surname")), ("exact".to_owned(), "exact".to_owned()));
    assert!(candidate.probability >= 0.5);

    let confirm =
        v1::ConfirmCandidateRequest { candidate_id: candidate.id.clone(), reason: "checked the order".into() };
    let confirmed = app.identity().confirm_candidate(as_tenant("acme", confirm.clone())).await.unwrap().into_inner();
    assert_eq!((confirmed.status(), confirmed.link_method()), (v1::IdentityStatus::Linked, v1::LinkMethod::Person));
    let again = app.identity().confirm_candidate(as_tenant("acme", confirm)).await.unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition);

    // A rejected candidate is never proposed again.
    let other = profile_for(&app, "lysander_p", "Lysander Pettigrew").await;
    assert_eq!(other.status(), v1::IdentityStatus::Candidate);
    let queue = app.identity().list_review_queue(as_tenant("acme", v1::ListReviewQueueRequest::default())).await;
    let candidate = queue.unwrap().into_inner().candidates.into_iter().find(|c| c.profile_id == other.id).unwrap();
    let reject = v1::RejectCandidateRequest { candidate_id: candidate.id, reason: "different person".into() };
    let rejected = app.identity().reject_candidate(as_tenant("acme", reject)).await.unwrap().into_inner();
    assert_eq!(rejected.status(), v1::IdentityStatus::Unknown);
    let later = profile_for(&app, "lysander_p", "Lysander Pettigrew").await;
    assert_eq!(later.status(), v1::IdentityStatus::Unknown, "a rejected pair is not proposed again");

    // Within reach of the link threshold, the matcher links on its own and says why.
    thresholds(&app, 0.9, 0.5).await;
    // Name and place: Marguerite (customer 21) lives in Leeds.
    let linked = located(&app, "marguerite_s", "Marguerite Szabo", city(21)).await;
    assert_eq!((linked.status(), linked.link_method()), (v1::IdentityStatus::Linked, v1::LinkMethod::Matcher));
    assert_eq!(linked.customer_id, customer_ids[21]);
    assert!(linked.link_evidence.starts_with("matcher p="), "{}", linked.link_evidence);
    let stranger = profile_for(&app, "nobody", "Quentin Unknownperson").await;
    assert_eq!(stranger.status(), v1::IdentityStatus::Unknown);

    let request = v1::ExplainMatchRequest { profile_id: linked.id.clone(), customer_id: customer_ids[21].clone() };
    let explained = app.identity().explain_match(as_tenant("acme", request)).await.unwrap().into_inner();
    let city = explained.fields.iter().find(|field| field.field == "city").unwrap();
    assert!(city.weight > 0.0, "the place speaks for the match: {city:?}");
    let sum: f64 = explained.prior_weight + explained.fields.iter().map(|field| field.weight).sum::<f64>();
    assert!((sum - explained.weight).abs() < 1e-6, "fields and prior add up to the weight");

    let bad = v1::SetMatchThresholdsRequest { link_threshold: 0.5, review_threshold: 0.9 };
    let status = app.identity().set_match_thresholds(as_tenant("acme", bad)).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    app.stop().await;
}
