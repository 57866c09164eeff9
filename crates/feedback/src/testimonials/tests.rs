//! Testimonials on SQLite and on PostgreSQL: asked for after a good answer, given with consent,
//! moderated, published (list, etag, feed) named only as consented; proposed from praise;
//! withdrawal and erasure take one out of every output at once.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use tend_kernel::Role;
use tend_kernel::ids::{new_id, now, to_timestamp};
use tend_proto::v1;
use tend_proto::v1::feedback_service_server::FeedbackService as _;
use tend_queue::BatchHandler as _;
use tend_store::testing::Backend;
use tend_store::{BatchConsumer, OutboxWaker};
use tonic::Code;

use super::feed;
use crate::SERVICE;
use crate::consumer::RecordRoutedFacts;
use crate::surveys::tests::{
    Setup, caller, case, delivery, invitations, put_template, request, resolved, send, setup, template, token_of,
};

tend_store::on_both_backends!(
    a_consented_approved_testimonial_is_published_until_withdrawn_or_erased,
    praise_proposed_by_an_agent_needs_consent_for_the_website,
);

const X: i32 = v1::Channel::X as i32;

/// Answers the survey of a new resolved case of `customer_id` with `score` and `comment`.
async fn answer(setup: &Setup, customer_id: &str, score: u32, comment: &str) -> v1::SubmitResponseResponse {
    send(setup, &[delivery("acme", &resolved(&case(customer_id)))]).await;
    let token = token_of(invitations(&setup.db).await.last().unwrap());
    let message = v1::SubmitResponseRequest { token, score: Some(score), comment: comment.into(), opt_out: false };
    setup.api.submit_response(request(caller("acme", Role::Website), message)).await.unwrap().into_inner()
}

fn consent(display: v1::TestimonialDisplay, uses: &[v1::TestimonialUse]) -> v1::TestimonialConsent {
    v1::TestimonialConsent {
        display: display as i32,
        uses: uses.iter().map(|used| *used as i32).collect(),
        wording: "You may show my words and my first name on acme.com".into(),
        method: "dm".into(),
        ..Default::default()
    }
}

async fn published(setup: &Setup, tenant: &str, if_none_match: &str) -> v1::ListPublishedTestimonialsResponse {
    let message = v1::ListPublishedTestimonialsRequest { if_none_match: if_none_match.into(), ..Default::default() };
    setup.api.list_published_testimonials(request(caller(tenant, Role::Website), message)).await.unwrap().into_inner()
}

async fn moderate(
    setup: &Setup,
    id: &str,
    decision: v1::ModerationState,
    reason: &str,
) -> Result<v1::Testimonial, tonic::Status> {
    let message =
        v1::ModerateTestimonialRequest { testimonial_id: id.into(), decision: decision as i32, reason: reason.into() };
    setup.api.moderate_testimonial(request(caller("acme", Role::Agent), message)).await.map(tonic::Response::into_inner)
}

async fn a_consented_approved_testimonial_is_published_until_withdrawn_or_erased(backend: Backend) {
    let setup = setup(backend).await;
    let mut asking = template();
    asking.testimonial_min_score = 4;
    asking.frequency_cap_days = 0;
    put_template(&setup, asking).await;

    // Asked for after a good score with a comment that does not read negative; not otherwise.
    assert!(answer(&setup, "c1", 3, "").await.testimonial_token.is_empty(), "score below the rule");
    assert!(answer(&setup, "c2", 5, "terrible, awful, useless service").await.testimonial_token.is_empty());
    let asked = answer(&setup, "c3", 5, "Brilliant, thank you so much!").await;
    assert!(!asked.testimonial_token.is_empty());
    let survey_token = token_of(invitations(&setup.db).await.last().unwrap());

    let give = |token: &str, consent: v1::TestimonialConsent| v1::GiveTestimonialRequest {
        token: token.to_owned(),
        quote: "Sorted my refund in ten minutes <3".into(),
        first_name: "Jane Doe".into(),
        handle: "@jane_d".into(),
        consent: Some(consent),
    };
    let gave = async |message: v1::GiveTestimonialRequest| {
        setup
            .api
            .give_testimonial(request(caller("acme", Role::Website), message))
            .await
            .map(tonic::Response::into_inner)
    };
    let website_first_name = consent(v1::TestimonialDisplay::FirstName, &[v1::TestimonialUse::Website]);
    // A survey's token is no testimonial token; a forged one neither; consent is required.
    for token in [survey_token.as_str(), "forged"] {
        let refused = gave(give(token, website_first_name.clone())).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    }
    let mut no_consent = give(&asked.testimonial_token, website_first_name.clone());
    no_consent.consent = None;
    assert_eq!(gave(no_consent).await.unwrap_err().code(), Code::InvalidArgument);
    let no_display = consent(v1::TestimonialDisplay::Unspecified, &[v1::TestimonialUse::Website]);
    assert_eq!(gave(give(&asked.testimonial_token, no_display)).await.unwrap_err().code(), Code::InvalidArgument);

    let given = gave(give(&asked.testimonial_token, website_first_name.clone())).await.unwrap();
    assert_eq!((given.source.as_str(), given.customer_id.as_str(), given.channel), ("survey", "c3", X));
    assert_eq!(given.moderation, v1::ModerationState::Pending as i32);
    let recorded = given.consent.clone().unwrap();
    assert_eq!((recorded.method.as_str(), recorded.recorded_by.as_str()), ("survey_page", "survey_page"));
    assert!(recorded.given_at.is_some() && !given.published);
    assert_eq!(given.handle, "jane_d");
    // The link works once.
    let again = gave(give(&asked.testimonial_token, website_first_name.clone())).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);

    // Pending: not published.
    let before = published(&setup, "acme", "").await;
    assert!(before.testimonials.is_empty());
    assert_eq!(
        moderate(&setup, &given.id, v1::ModerationState::Rejected, "").await.unwrap_err().code(),
        Code::InvalidArgument
    );
    assert_eq!(
        moderate(&setup, &given.id, v1::ModerationState::Pending, "").await.unwrap_err().code(),
        Code::InvalidArgument
    );
    let approved = moderate(&setup, &given.id, v1::ModerationState::Approved, "").await.unwrap();
    assert!(approved.published && approved.moderated_by == "Agent");

    let listed = published(&setup, "acme", &before.etag).await;
    assert!(!listed.not_modified && listed.etag != before.etag);
    assert_eq!(listed.testimonials.len(), 1);
    let shown = &listed.testimonials[0];
    assert_eq!((shown.quote.as_str(), shown.attribution.as_str()), ("Sorted my refund in ten minutes <3", "Jane"));
    // Cacheable: the same etag back answers not modified, and nothing else.
    let cached = published(&setup, "acme", &listed.etag).await;
    assert!(cached.not_modified && cached.testimonials.is_empty() && cached.etag == listed.etag);
    // Another tenant sees none of it.
    assert!(published(&setup, "globex", "").await.testimonials.is_empty());
    // The feed and the snippet show what the list shows.
    let json = feed::json_feed("Acme", &listed.etag, &listed.testimonials);
    assert_eq!(json["items"][0]["content_text"], "Sorted my refund in ten minutes <3");
    assert_eq!(json["items"][0]["authors"][0]["name"], "Jane");
    let html = feed::html_snippet(&listed.testimonials);
    assert!(html.contains("ten minutes &lt;3") && html.contains("<figcaption>Jane</figcaption>"), "{html}");
    assert!(!html.contains("Doe") && !html.contains("jane_d"), "never more than consented: {html}");

    // Withdrawn: gone at once, for good.
    let withdraw =
        v1::WithdrawTestimonialRequest { testimonial_id: given.id.clone(), reason: "changed my mind".into() };
    let withdrawn = setup
        .api
        .withdraw_testimonial(request(caller("acme", Role::Agent), withdraw.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(!withdrawn.published && withdrawn.consent.unwrap().withdrawn_at.is_some());
    let after = published(&setup, "acme", &listed.etag).await;
    assert!(!after.not_modified && after.testimonials.is_empty());
    setup.api.withdraw_testimonial(request(caller("acme", Role::Agent), withdraw)).await.unwrap();
    let renewed = v1::RecordTestimonialConsentRequest {
        testimonial_id: given.id.clone(),
        consent: Some(website_first_name.clone()),
    };
    let refused =
        setup.api.record_testimonial_consent(request(caller("acme", Role::Agent), renewed)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);

    // Another, approved, then its author erased: gone from every output.
    let second = answer(&setup, "c4", 4, "").await;
    let given = gave(give(&second.testimonial_token, website_first_name)).await.unwrap();
    moderate(&setup, &given.id, v1::ModerationState::Approved, "").await.unwrap();
    let listed = published(&setup, "acme", "").await;
    assert_eq!(listed.testimonials.len(), 1);
    let erased = v1::CustomerErased { customer_id: "c4".into(), profiles: Vec::new(), reason: "GDPR".into() };
    let results = setup.eraser.handle_batch(&[delivery("acme", &erased)]).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let after = published(&setup, "acme", &listed.etag).await;
    assert!(!after.not_modified && after.testimonials.is_empty());
    let all = setup
        .api
        .list_testimonials(request(caller("acme", Role::Viewer), v1::ListTestimonialsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.testimonials.len(), 1, "only the withdrawn one is left");
    setup.store.cleanup().await;
}

async fn praise_proposed_by_an_agent_needs_consent_for_the_website(backend: Backend) {
    let setup = setup(backend).await;
    // Routing saw praise: a testimonial candidate.
    let interaction_id = new_id();
    let praise = v1::InteractionRouted {
        decision: Some(v1::RoutingDecision {
            interaction_id: interaction_id.clone(),
            decided_at: Some(to_timestamp(now())),
            actionable: false,
            not_actionable_reason: "enrichment: praise".into(),
            ..Default::default()
        }),
        channel: X,
        profile_id: "p1".into(),
        customer_id: "c1".into(),
        testimonial_candidate: true,
        received_at: Some(to_timestamp(now())),
        ..Default::default()
    };
    let record =
        BatchConsumer::new(Arc::new(RecordRoutedFacts), setup.db.clone(), OutboxWaker::default(), SERVICE, SERVICE);
    assert!(record.handle_batch(&[delivery("acme", &praise)]).await.iter().all(Result::is_ok));

    let propose = |interaction_id: &str| v1::ProposeTestimonialRequest {
        interaction_id: interaction_id.to_owned(),
        quote: "Best airline support ever".into(),
        first_name: "Sam".into(),
        handle: "fan1".into(),
    };
    let proposed = async |message: v1::ProposeTestimonialRequest, role: Role| {
        setup.api.propose_testimonial(request(caller("acme", role), message)).await.map(tonic::Response::into_inner)
    };
    assert_eq!(proposed(propose(&interaction_id), Role::Viewer).await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(proposed(propose(&new_id()), Role::Agent).await.unwrap_err().code(), Code::NotFound);
    let testimonial = proposed(propose(&interaction_id), Role::Agent).await.unwrap();
    assert_eq!((testimonial.source.as_str(), testimonial.profile_id.as_str()), ("candidate", "p1"));
    assert!(testimonial.consent.is_none());
    assert_eq!(proposed(propose(&interaction_id), Role::Agent).await.unwrap_err().code(), Code::FailedPrecondition);

    // Approved without consent: not published.
    moderate(&setup, &testimonial.id, v1::ModerationState::Approved, "").await.unwrap();
    assert!(published(&setup, "acme", "").await.testimonials.is_empty());
    let record_consent = async |consent: v1::TestimonialConsent| {
        let message =
            v1::RecordTestimonialConsentRequest { testimonial_id: testimonial.id.clone(), consent: Some(consent) };
        setup
            .api
            .record_testimonial_consent(request(caller("acme", Role::Agent), message))
            .await
            .map(tonic::Response::into_inner)
    };
    // Consent for social only: still not on the website.
    let social = record_consent(consent(v1::TestimonialDisplay::Handle, &[v1::TestimonialUse::Social])).await.unwrap();
    assert!(!social.published);
    assert!(published(&setup, "acme", "").await.testimonials.is_empty());
    let mut no_method = consent(v1::TestimonialDisplay::Handle, &[v1::TestimonialUse::Website]);
    no_method.method = String::new();
    assert_eq!(record_consent(no_method).await.unwrap_err().code(), Code::InvalidArgument);
    let twice = consent(v1::TestimonialDisplay::Handle, &[v1::TestimonialUse::Website, v1::TestimonialUse::Website]);
    assert_eq!(record_consent(twice).await.unwrap_err().code(), Code::InvalidArgument);
    let website = record_consent(consent(
        v1::TestimonialDisplay::Handle,
        &[v1::TestimonialUse::Website, v1::TestimonialUse::Social],
    ))
    .await
    .unwrap();
    assert!(website.published);
    let consent_record = website.consent.unwrap();
    assert_eq!((consent_record.method.as_str(), consent_record.recorded_by.as_str()), ("dm", "Agent"));
    let listed = published(&setup, "acme", "").await;
    assert_eq!(listed.testimonials.len(), 1);
    assert_eq!(listed.testimonials[0].attribution, "@fan1", "named by handle only, as consented");

    // Rejected with a reason: out.
    let rejected =
        moderate(&setup, &testimonial.id, v1::ModerationState::Rejected, "mentions a competitor").await.unwrap();
    assert_eq!(rejected.rejection_reason, "mentions a competitor");
    assert!(published(&setup, "acme", "").await.testimonials.is_empty());
    // Erasing the author's profile deletes it.
    let erased = v1::CustomerErased {
        customer_id: String::new(),
        profiles: vec![v1::ErasedProfile { profile_id: "p1".into(), channel: X, external_id: "x".into() }],
        reason: "GDPR".into(),
    };
    assert!(setup.eraser.handle_batch(&[delivery("acme", &erased)]).await.iter().all(Result::is_ok));
    let all = setup
        .api
        .list_testimonials(request(caller("acme", Role::Viewer), v1::ListTestimonialsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert!(all.testimonials.is_empty());
    setup.store.cleanup().await;
}
