//! Enrichment end to end: every post is read (language, sentiment, intents, actionable, topics,
//! signature) and the reading travels to routing's priority and the case; a tenant teaches it
//! their topics and trains classifiers that beat the built-in ones on their own words.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;
use tend::app::ServiceName;
use tend_proto::v1;

use tend_tests::{Backend, TestApp, as_tenant, eventually, post, routed};
use tonic::Code;

tend_tests::on_both_backends!(
    churn_question_praise_and_spam_are_read_and_routed_by_what_they_say,
    topics_of_the_tenant_tag_posts_and_cases
);

/// Posts `text` as a new X post for `tenant` and returns the stored interaction.
async fn ingest(app: &TestApp, tenant: &str, handle: &str, text: &str) -> v1::Interaction {
    let response = app.ingest().ingest_interaction(as_tenant(tenant, post(handle, text))).await.unwrap().into_inner();
    response.interaction.unwrap()
}

fn intents(enrichment: &v1::Enrichment) -> Vec<v1::Intent> {
    enrichment.intents.iter().filter(|scored| scored.score >= 0.5).map(|scored| scored.intent()).collect()
}

async fn churn_question_praise_and_spam_are_read_and_routed_by_what_they_say(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let churn = ingest(
        &app,
        "acme",
        "ann",
        "Third outage this month. I'm thinking of switching to another provider, cancel my account",
    )
    .await;
    let question = ingest(&app, "acme", "bob", "How do I change the email address on my account?").await;
    let praise = ingest(&app, "acme", "cat", "Thank you so much, your support team was amazing today!").await;
    let spam =
        ingest(&app, "acme", "dan", "FREE crypto giveaway!!! Follow me and DM for promo http://spam.example/win").await;
    let spanish =
        ingest(&app, "acme", "eva", "Estoy pensando en cambiarme a otra compañía, el servicio es pésimo").await;

    let reading = churn.enrichment.as_ref().expect("every interaction is enriched");
    assert_eq!(reading.language, "en");
    assert_eq!(reading.sentiment.as_ref().unwrap().label(), v1::SentimentLabel::Negative);
    assert!(intents(reading).contains(&v1::Intent::ChurnRisk), "{:?}", reading.intents);
    assert!(reading.actionable);
    assert_eq!(reading.actionable_reason, "churn_risk");
    assert!(reading.cues.iter().any(|cue| cue.field == "intent:churn_risk"), "the cues say why: {:?}", reading.cues);
    assert_eq!(reading.signature.len(), 64);
    assert_eq!(reading.sentiment_model, "builtin");

    let reading = question.enrichment.as_ref().unwrap();
    assert!(intents(reading).contains(&v1::Intent::Question), "{:?}", reading.intents);
    assert!(reading.actionable);

    let reading = praise.enrichment.as_ref().unwrap();
    assert_eq!(reading.sentiment.as_ref().unwrap().label(), v1::SentimentLabel::Positive);
    assert!(intents(reading).contains(&v1::Intent::Praise), "{:?}", reading.intents);
    assert!(!reading.actionable, "praise is not work");
    assert!(reading.testimonial_candidate);

    let reading = spam.enrichment.as_ref().unwrap();
    assert!(intents(reading).contains(&v1::Intent::Spam), "{:?}", reading.intents);
    assert!(!reading.actionable);
    assert_eq!(reading.actionable_reason, "spam");

    let reading = spanish.enrichment.as_ref().unwrap();
    assert_eq!(reading.language, "es");
    assert!(intents(reading).contains(&v1::Intent::ChurnRisk), "{:?}", reading.intents);

    // The reading is stored: a read returns it as ingest returned it.
    let request = as_tenant("acme", v1::GetInteractionRequest { id: churn.id.clone() });
    let stored = app.ingest().get_interaction(request).await.unwrap().into_inner();
    assert_eq!(stored.enrichment, churn.enrichment);

    // Routing weighs it: the customer about to leave outranks the question, and spam comes last.
    let churn_decision = routed(&app, "acme", &churn.id).await;
    let question_decision = routed(&app, "acme", &question.id).await;
    let spam_decision = routed(&app, "acme", &spam.id).await;
    assert!(churn_decision.reasons.iter().any(|reason| reason.contains("churn risk")), "{:?}", churn_decision.reasons);
    assert!(churn_decision.priority > question_decision.priority);
    assert!(
        spam_decision.reasons.iter().any(|reason| reason.contains("not actionable")),
        "{:?}",
        spam_decision.reasons
    );
    assert!(spam_decision.priority < question_decision.priority);

    // The case shows an agent what the opening post says.
    let request = as_tenant("acme", v1::GetCaseRequest { id: churn_decision.case_id.clone() });
    let case = app.cases().get_case(request).await.unwrap().into_inner();
    assert_eq!(case.language, "en");
    assert_eq!(case.sentiment(), v1::SentimentLabel::Negative);
    assert!(case.intents().any(|intent| intent == v1::Intent::ChurnRisk), "{:?}", case.intents);
    assert!(case.actionable);
    // The built-in rules send the customer about to leave to the retention department's queue.
    let routing = case.routing.as_ref().expect("the case carries what routing decided");
    assert_eq!((routing.queue.as_str(), routing.department.as_str()), ("retention", "retention"));
    assert_eq!(routing.rules_fired, vec!["churn-risk-to-retention"]);
    assert_eq!(question_decision.outcome.as_ref().unwrap().queue, "default");

    // Spam and praise are not work: decided and explained, but no case.
    assert!(!spam_decision.actionable);
    assert_eq!(spam_decision.not_actionable_reason, "enrichment: spam");
    assert!(spam_decision.case_id.is_empty());
    let praise_decision = routed(&app, "acme", &praise.id).await;
    // Every post decided before the cases are counted.
    routed(&app, "acme", &spanish.id).await;
    assert!(!praise_decision.actionable && praise_decision.case_id.is_empty());
    let cases = app.cases().list_cases(as_tenant("acme", v1::ListCasesRequest::default())).await.unwrap().into_inner();
    assert_eq!(cases.cases.len(), 3, "churn, question and the Spanish churn open cases; praise and spam don't");

    // Feedback counts all five (the three cases, and the two that are not work), and keeps the
    // praise as a testimonial candidate.
    let report = eventually("feedback to count every routed post", Duration::from_secs(20), || async {
        let request = as_tenant("acme", v1::GetServiceReportRequest::default());
        let report = app.feedback().get_service_report(request).await.unwrap().into_inner();
        (report.interactions_routed == 5 && report.cases_opened == 3).then_some(report)
    })
    .await;
    assert_eq!((report.not_actionable, report.testimonial_candidates), (2, 1));
    assert!(
        report.by_queue.iter().any(|queue| queue.queue == "retention" && queue.interactions == 2),
        "{:?}",
        report.by_queue
    );
    let request = as_tenant("acme", v1::ListTestimonialCandidatesRequest::default());
    let candidates = app.feedback().list_testimonial_candidates(request).await.unwrap().into_inner().candidates;
    assert_eq!(
        candidates.iter().map(|candidate| candidate.interaction_id.as_str()).collect::<Vec<_>>(),
        vec![praise.id.as_str()]
    );
    // Only the two that are not work crossed `interactions.routed`; the cases told feedback the rest.
    let stream = app.event_stream().await;
    let mut routed: Vec<String> = tend_tests::envelopes(stream.as_ref(), "interactions.routed")
        .await
        .iter()
        .filter(|envelope| envelope.tenant == "acme")
        .map(|envelope| {
            let routed: v1::InteractionRouted = prost::Message::decode(envelope.payload.as_slice()).unwrap();
            routed.decision.unwrap().interaction_id
        })
        .collect();
    routed.sort_unstable();
    let mut expected = vec![praise.id.clone(), spam.id.clone()];
    expected.sort_unstable();
    assert_eq!(routed, expected);
    app.stop().await;
}

async fn topics_of_the_tenant_tag_posts_and_cases(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let topics = vec![
        v1::Topic { name: "billing".into(), keywords: vec!["invoice".into(), "charged twice".into()] },
        v1::Topic { name: "delivery".into(), keywords: vec!["parcel".into(), "courier".into()] },
    ];
    let stored = app.enrichment().put_topics(as_tenant("acme", v1::PutTopicsRequest { topics })).await.unwrap();
    assert_eq!(stored.into_inner().topics.len(), 2);

    let interaction = ingest(&app, "acme", "fay", "I was CHARGED TWICE on my last invoice, order #55123 #fail").await;
    let reading = interaction.enrichment.as_ref().unwrap();
    assert_eq!(reading.topics, vec!["billing"]);
    assert_eq!(reading.hashtags, vec!["fail"]);
    assert!(
        reading.entities.iter().any(|entity| entity.kind == "order" && entity.value == "55123"),
        "{:?}",
        reading.entities
    );
    let decision = routed(&app, "acme", &interaction.id).await;
    let case = app.cases().get_case(as_tenant("acme", v1::GetCaseRequest { id: decision.case_id })).await.unwrap();
    assert_eq!(case.into_inner().topics, vec!["billing"]);

    // Another tenant's dictionary is its own.
    let other = ingest(&app, "globex", "fay", "charged twice on my invoice").await;
    assert!(other.enrichment.unwrap().topics.is_empty());
    let dictionary = app.enrichment().get_topics(as_tenant("globex", v1::GetTopicsRequest {})).await.unwrap();
    assert!(dictionary.into_inner().topics.is_empty());
    app.stop().await;
}

/// A tenant whose customers write in their own words: "zorped" and "skronky" are how they
/// complain, "blorptastic" how they praise, words the built-in lexicon does not know.
/// Deterministic.
fn tenant_vocabulary(count: usize, offset: usize) -> Vec<v1::LabelledText> {
    let negative =
        ["the app zorped again", "totally zorped my settings", "skronk skronk all day", "zorped and skronky"];
    let positive = [
        "blorptastic chat with the team",
        "the new release is blorptastic",
        "blorpy, just blorpy",
        "so blorptastic today",
    ];
    let neutral =
        ["the update arrives on monday", "my plan renews in june", "the store opens at nine", "I use the web version"];
    let things = ["widget", "dashboard", "invoice page", "mobile app", "profile", "export"];
    (offset..offset + count)
        .map(|i| {
            let (phrases, label) = match i % 3 {
                0 => (&negative, "negative"),
                1 => (&positive, "positive"),
                _ => (&neutral, "neutral"),
            };
            let text = format!("{} with the {} #{i}", phrases[(i / 3) % 4], things[i % things.len()]);
            v1::LabelledText { text, label: label.to_owned() }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trained_classifier_beats_the_builtin_one_on_the_tenants_words_once_activated() {
    let app = TestApp::spawn_with(Backend::Embedded, &[ServiceName::Ingest], |_| {}).await;
    let enrichment = app.enrichment();
    let task = v1::ClassifierTask::Sentiment as i32;

    let request = v1::TrainClassifierRequest { task, examples: tenant_vocabulary(600, 0), description: "first".into() };
    let trained = enrichment.clone().train_classifier(as_tenant("acme", request)).await.unwrap().into_inner();
    assert_eq!(trained.version, "v1");
    assert!(!trained.active);
    assert_eq!(trained.labels.len(), 3);
    let holdout = trained.holdout.unwrap();
    assert!(holdout.examples > 60 && trained.trained_on + holdout.examples == 600, "{holdout:?}");
    assert!(holdout.accuracy >= 0.9, "{holdout:?}");

    let held_out = tenant_vocabulary(300, 10_000);
    let evaluate =
        |version: &str| v1::EvaluateClassifierRequest { task, version: version.into(), examples: held_out.clone() };
    let builtin = enrichment.clone().evaluate_classifier(as_tenant("acme", evaluate(""))).await.unwrap().into_inner();
    assert_eq!(builtin.model, "builtin", "nothing is activated yet");
    let ours = enrichment.clone().evaluate_classifier(as_tenant("acme", evaluate("v1"))).await.unwrap().into_inner();
    assert_eq!(ours.model, "v1");
    assert!(ours.accuracy > builtin.accuracy + 0.2, "trained {ours:?} vs built-in {builtin:?}");
    assert!(ours.macro_f1 > builtin.macro_f1);
    assert_eq!(ours.confusion.len(), ours.labels.len() * ours.labels.len());
    assert_eq!(ours.confusion.iter().sum::<u32>(), 300);

    // Not used until activated.
    let post_text = "the dashboard zorped again";
    let before = ingest(&app, "acme", "gus", post_text).await.enrichment.unwrap();
    assert_eq!(before.sentiment_model, "builtin");
    let request = v1::ActivateClassifierRequest { task, version: "v1".into() };
    let activated = enrichment.clone().activate_classifier(as_tenant("acme", request)).await.unwrap().into_inner();
    assert_eq!((activated.active_version.as_str(), activated.previous_version.as_str()), ("v1", "builtin"));
    let after = ingest(&app, "acme", "gus", post_text).await.enrichment.unwrap();
    assert_eq!(after.sentiment_model, "v1");
    assert_eq!(after.sentiment.unwrap().label(), v1::SentimentLabel::Negative);
    let dry_run = v1::EnrichRequest { text: post_text.into(), ..Default::default() };
    let read = enrichment.clone().enrich(as_tenant("acme", dry_run.clone())).await.unwrap().into_inner();
    assert_eq!(read.sentiment_model, "v1");
    // Only for that tenant.
    let elsewhere = enrichment.clone().enrich(as_tenant("globex", dry_run)).await.unwrap().into_inner();
    assert_eq!(elsewhere.sentiment_model, "builtin");

    let listed = enrichment
        .clone()
        .list_classifiers(as_tenant("acme", v1::ListClassifiersRequest { task }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.active_version, "v1");
    assert_eq!(listed.classifiers.len(), 1);
    assert!(listed.classifiers[0].active);
    assert_eq!(listed.classifiers[0].description, "first");

    // Roll back.
    let request = v1::ActivateClassifierRequest { task, version: "builtin".into() };
    let rolled_back = enrichment.clone().activate_classifier(as_tenant("acme", request)).await.unwrap().into_inner();
    assert_eq!((rolled_back.active_version.as_str(), rolled_back.previous_version.as_str()), ("builtin", "v1"));
    assert_eq!(ingest(&app, "acme", "gus", post_text).await.enrichment.unwrap().sentiment_model, "builtin");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_teaching_is_refused_naming_what_to_fix() {
    let app = TestApp::spawn_with(Backend::Embedded, &[ServiceName::Ingest], |_| {}).await;
    let enrichment = app.enrichment();
    let sentiment = v1::ClassifierTask::Sentiment as i32;
    let expect = |status: tonic::Status, code: Code, words: &str| {
        assert_eq!(status.code(), code, "{status:?}");
        assert!(status.message().contains(words), "{words:?} not in {:?}", status.message());
    };

    let one_label: Vec<v1::LabelledText> =
        (0..40).map(|i| v1::LabelledText { text: format!("fine {i}"), label: "positive".into() }).collect();
    let request = v1::TrainClassifierRequest { task: sentiment, examples: one_label, ..Default::default() };
    let status = enrichment.clone().train_classifier(as_tenant("acme", request)).await.unwrap_err();
    expect(status, Code::InvalidArgument, "two distinct labels");

    let mut unknown_label = tenant_vocabulary(40, 0);
    unknown_label[7].label = "angry".into();
    let request = v1::TrainClassifierRequest { task: sentiment, examples: unknown_label, ..Default::default() };
    let status = enrichment.clone().train_classifier(as_tenant("acme", request)).await.unwrap_err();
    expect(status, Code::InvalidArgument, "`examples[7].label`");

    let request = v1::TrainClassifierRequest { task: 0, examples: tenant_vocabulary(40, 0), ..Default::default() };
    let status = enrichment.clone().train_classifier(as_tenant("acme", request)).await.unwrap_err();
    expect(status, Code::InvalidArgument, "`task`");

    let request =
        v1::TrainClassifierRequest { task: sentiment, examples: tenant_vocabulary(5, 0), ..Default::default() };
    let status = enrichment.clone().train_classifier(as_tenant("acme", request)).await.unwrap_err();
    expect(status, Code::InvalidArgument, "20 to 200000");

    let request = v1::ActivateClassifierRequest { task: sentiment, version: "v9".into() };
    let status = enrichment.clone().activate_classifier(as_tenant("acme", request)).await.unwrap_err();
    expect(status, Code::NotFound, "v9");
    let request = v1::ActivateClassifierRequest { task: sentiment, version: "newest".into() };
    let status = enrichment.clone().activate_classifier(as_tenant("acme", request)).await.unwrap_err();
    expect(status, Code::InvalidArgument, "`version`");

    let request =
        v1::EvaluateClassifierRequest { task: sentiment, version: "v2".into(), examples: tenant_vocabulary(10, 0) };
    let status = enrichment.clone().evaluate_classifier(as_tenant("acme", request)).await.unwrap_err();
    expect(status, Code::NotFound, "v2");

    let status = enrichment.clone().enrich(as_tenant("acme", v1::EnrichRequest::default())).await.unwrap_err();
    expect(status, Code::InvalidArgument, "`text`");

    let topics = vec![v1::Topic { name: "Billing!".into(), keywords: vec!["invoice".into()] }];
    let status = enrichment.clone().put_topics(as_tenant("acme", v1::PutTopicsRequest { topics })).await.unwrap_err();
    expect(status, Code::InvalidArgument, "`topics[0].name`");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_text_is_stored_with_a_neutral_reading() {
    let app = TestApp::spawn_with(Backend::Embedded, &[ServiceName::Ingest], |_| {}).await;
    for text in ["🙂", "…!!!???", "\u{200b}\u{0007}x", "ʕ•ᴥ•ʔ ʕ•ᴥ•ʔ ʕ•ᴥ•ʔ"] {
        let interaction = ingest(&app, "acme", "hal", text).await;
        let reading = interaction.enrichment.expect("a post is never refused for its reading");
        assert!(!reading.language.is_empty());
        assert!(reading.sentiment.is_some());
    }
    let interaction = ingest(&app, "acme", "hal", "☐☐☐ ☐☐☐").await;
    assert_eq!(interaction.enrichment.unwrap().language, "und");
    app.stop().await;
}
