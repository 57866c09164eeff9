//! End-to-end tests of the public API.

use proptest::prelude::*;
use tend_text::{
    ActionReason, Analyzer, AnalyzerConfig, BuiltinSentiment, Channel, CueField, EntityKind, Error, Input, Intent,
    LanguageSource, MAX_CHARS, Model, PERMUTATIONS, SentimentLabel, Task, TopicDictionary, TrainOptions,
    VersionedModel, estimated_jaccard, evaluate, sentiment, train,
};

fn enrich(text: &str) -> tend_text::Enrichment {
    Analyzer::default().enrich(&Input::new(text).channel(Channel::X))
}

#[test]
fn sentiment_rules() {
    assert!(sentiment("good service").score > 0.0);
    assert!(sentiment("not good service").score < 0.0);
    assert!(sentiment("delivery arrived 😍").score > 0.0);
    assert!(sentiment("delivery arrived 😡").score < 0.0);
    assert!(sentiment("the staff was lovely but the wait was awful").score < 0.0);
    assert!(sentiment("sooo good").score > sentiment("so good").score);
    assert!(sentiment("it was GREAT, really").score > sentiment("it was great, really").score);
    assert!(sentiment("great!!!").score > sentiment("great").score);
    assert_eq!(sentiment("still waiting, 3 hours on hold").label, SentimentLabel::Negative);
    assert_eq!(sentiment("@acme my order arrived").label, SentimentLabel::Neutral);
    assert_eq!(sentiment("thx, you guys rock").label, SentimentLabel::Positive);
}

#[test]
fn intents_in_several_languages() {
    let cases: &[(&str, Intent)] = &[
        ("thinking of leaving for another carrier, this is the 3rd outage", Intent::ChurnRisk),
        ("Me doy de baja, pésimo servicio", Intent::ChurnRisk),
        ("Ich kündige meinen Vertrag", Intent::ChurnRisk),
        ("how do I update my billing address?", Intent::Question),
        ("¿Cómo puedo cambiar mi contraseña?", Intent::Question),
        ("Est-ce que la boutique est ouverte dimanche ?", Intent::Question),
        ("my package never arrived and nobody answers", Intent::Complaint),
        ("o aplicativo não funciona desde ontem", Intent::Complaint),
        ("thank you so much, amazing support!", Intent::Praise),
        ("Merci beaucoup, service parfait", Intent::Praise),
        ("DM for promo 🚀 100x crypto http://x.example follow me", Intent::Spam),
    ];
    for (text, intent) in cases {
        let e = enrich(text);
        assert!(e.has_intent(intent), "{text}: {:?}", e.intents);
        assert!(e.cues.iter().any(|c| c.field == CueField::Intent(intent.clone())), "{text}: no cue");
    }
    for text in ["switching to dark mode", "I will never again wait this long... jk love you"] {
        assert!(!enrich(text).has_intent(&Intent::ChurnRisk), "{text}");
    }
}

#[test]
fn actionability() {
    let e = enrich("cancel my account, done with you");
    assert!(e.actionable.actionable);
    assert_eq!(e.actionable.reason, ActionReason::ChurnRisk);
    let e = enrich("Amazing service from Maria today, thank you so much!");
    assert!(!e.actionable.actionable);
    assert_eq!(e.actionable.reason, ActionReason::Praise);
    assert!(e.actionable.testimonial_candidate);
    let e = enrich("FREE FOLLOWERS click here http://spam.example check my profile");
    assert_eq!(e.actionable.reason, ActionReason::Spam);
    assert!(!e.actionable.actionable);
    assert_eq!(enrich("lol the queue is huge today").actionable.reason, ActionReason::Chatter);
}

#[test]
fn topics_entities_hashtags() {
    let topics = TopicDictionary::new([("billing", vec!["invoice", "charged twice"]), ("delivery", vec!["courier"])]);
    let analyzer = Analyzer::new(AnalyzerConfig { topics, ..Default::default() }).unwrap_or_default();
    let e = analyzer.enrich(&Input::new("I was CHARGED TWICE for order #48213 #Billing #fail"));
    assert_eq!(e.topics.len(), 1);
    assert_eq!(e.topics[0].topic, "billing");
    assert_eq!(e.hashtags, vec!["billing", "fail"]);
    assert_eq!(e.entities.len(), 1);
    assert_eq!(e.entities[0].kind, EntityKind::Order);
    assert_eq!(e.entities[0].value, "48213");
}

#[test]
fn language_and_hint() {
    let e = enrich("my internet has been down since this morning and nobody answers the phone");
    assert_eq!(e.language.code, "eng");
    let e = Analyzer::default().enrich(&Input::new("ok 👍").language_hint("es"));
    assert_eq!(e.language.code, "spa");
    assert_eq!(e.language.source, LanguageSource::Hint);
}

#[test]
fn unreadable_input_is_neutral() {
    let long = "ab ".repeat(MAX_CHARS);
    for text in ["", "   ", "!!!???...", "\u{0}\u{1}\u{2}\u{fffd}\u{fffd}", "😀"[..].trim(), long.as_str()] {
        let e = enrich(text);
        if text.trim().is_empty() || !text.chars().any(char::is_alphabetic) {
            assert_eq!(e.language.code, "und", "{text:?}");
        }
        assert!((-1.0..=1.0).contains(&e.sentiment.score));
        assert_eq!(e.signature.0.len(), PERMUTATIONS);
    }
    assert!(enrich(&long).truncated);
    let e = enrich("");
    assert_eq!(e.sentiment.label, SentimentLabel::Neutral);
    assert!(e.signature.is_empty());
    assert!(!e.actionable.actionable);
}

#[test]
fn signature_golden_values() {
    // These values must never change: stored signatures and LSH buckets depend on them.
    let s = enrich("My order #12345 still has not arrived, please help").signature;
    assert_eq!(s.0.len(), 64);
    assert_eq!(&s.0[..4], &GOLDEN[..]);
    let bands = s.band_hashes(4);
    assert_eq!(bands.len(), 16);
    assert_eq!(bands[0], GOLDEN_BAND0);
}

const GOLDEN: [u32; 4] = [202634126, 842400678, 259252811, 250651213];
const GOLDEN_BAND0: u64 = 9667915399197532152;

#[test]
fn similar_texts_are_close() {
    let a = enrich(
        "Hi, my internet has been down since Monday morning and nobody answers the support line. \
         I have called four times and waited on hold for hours. Please fix this today.",
    );
    let b = enrich(
        "hi my internet has been down since monday morning and nobody answers the support line!! \
         I have called five times and waited on hold for hours. please fix this asap",
    );
    let c = enrich("Loved the new pizza menu at your downtown branch, the garlic bread was amazing");
    let ab = estimated_jaccard(&a.signature, &b.signature);
    let ac = a.signature.jaccard(&c.signature);
    assert!(ab > 0.5, "near duplicates: {ab}");
    assert!(ac < 0.2, "unrelated: {ac}");
}

#[test]
fn enrichment_serialises() {
    let e = enrich("@acme thinking of switching to another bank, 3 hours on hold!! ticket 98765");
    let json = serde_json::to_string(&e).unwrap_or_default();
    assert!(json.contains("\"churn_risk\""));
    let back: tend_text::Enrichment = serde_json::from_str(&json).unwrap_or_else(|err| panic!("{err}: {json}"));
    assert_eq!(back, e);
}

/// A tenant where sentiment follows made-up product words the lexicon cannot know.
fn tenant_set() -> Vec<(String, String)> {
    let pos = ["glorped", "zinfy", "the quibbit was flarn", "brimble"];
    let neg = ["snarfed", "krumped", "the quibbit was droob", "splonk"];
    let neutral = ["the quibbit arrived", "my zorb account", "a question about the vantro", "tovel shipped"];
    let fillers = ["today", "again", "this week", "for my order", "at the store", "on the app", "yesterday", ""];
    let mut out = Vec::new();
    for i in 0..360usize {
        let f = fillers[i % fillers.len()];
        let g = fillers[(i / 3) % fillers.len()];
        let (text, label) = match i % 3 {
            0 => (format!("{} {f} {g}", pos[(i / 3) % pos.len()]), "positive"),
            1 => (format!("{} {f} {g}", neg[(i / 3) % neg.len()]), "negative"),
            _ => (format!("{} {f} {g}", neutral[(i / 3) % neutral.len()]), "neutral"),
        };
        out.push((format!("@acme {}", text.trim()), label.to_string()));
    }
    out
}

#[test]
fn trained_model_beats_builtin_on_tenant_vocabulary() {
    let data = tenant_set();
    let (test, train_set): (Vec<_>, Vec<_>) = data.iter().cloned().enumerate().partition(|(i, _)| i % 5 == 0);
    let test: Vec<(String, String)> = test.into_iter().map(|(_, x)| x).collect();
    let train_set: Vec<(String, String)> = train_set.into_iter().map(|(_, x)| x).collect();
    let model = train(Task::Sentiment, &train_set, &TrainOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let trained = evaluate(&model, &test);
    let builtin = evaluate(&BuiltinSentiment, &test);
    assert!(trained.accuracy > 0.9, "trained {trained:?}");
    assert!(trained.macro_f1 > builtin.macro_f1 + 0.3, "trained {} builtin {}", trained.macro_f1, builtin.macro_f1);
    assert_eq!(trained.labels, vec!["negative", "neutral", "positive"]);
    assert_eq!(trained.confusion.iter().flatten().sum::<usize>(), test.len());

    // The tenant model overrides the built-in one and is recorded.
    let analyzer = Analyzer::new(AnalyzerConfig {
        sentiment_model: Some(VersionedModel { version: "acme-v1".into(), model: model.clone() }),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let e = analyzer.enrich(&Input::new("@acme glorped again"));
    assert_eq!(e.models.sentiment, "acme-v1");
    assert_eq!(e.sentiment.model, "acme-v1");
    assert_eq!(e.sentiment.label, SentimentLabel::Positive);
    assert_eq!(e.models.intent, "builtin");
}

#[test]
fn intent_model_with_custom_labels() {
    let mut data = Vec::new();
    for i in 0..60 {
        data.push((format!("my invoice {i} looks wrong"), "billing".to_string()));
        data.push((format!("cannot log in to account {i}"), "login".to_string()));
        data.push((format!("where is parcel {i}"), "shipping".to_string()));
    }
    let model = train(Task::Intent, &data, &TrainOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let p = model.predict("the invoice amount is wrong");
    assert_eq!(p.label, "billing");
    assert!(p.score > 0.5);
    assert!(p.cues.iter().any(|c| c.text.contains("invoice")), "{:?}", p.cues);
    let analyzer = Analyzer::new(AnalyzerConfig {
        intent_model: Some(VersionedModel { version: "intent-7".into(), model }),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let e = analyzer.enrich(&Input::new("parcel never came"));
    assert_eq!(e.primary_intent(), Intent::Custom("shipping".into()));
    assert_eq!(e.models.intent, "intent-7");
}

#[test]
fn model_roundtrip_predicts_identically() {
    let data = tenant_set();
    let model = train(Task::Sentiment, &data, &TrainOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let bytes = model.to_bytes();
    let back = Model::from_bytes(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, model);
    assert_eq!(back.to_bytes(), bytes);
    for (text, _) in data.iter().take(50) {
        assert_eq!(back.predict(text), model.predict(text));
    }
    // Deterministic: the same data and seed give the same bytes.
    let again = train(Task::Sentiment, &data, &TrainOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.to_bytes(), bytes);
    assert!(Model::from_bytes(&bytes[..bytes.len() - 3]).is_err());
    assert!(Model::from_bytes(b"nope").is_err());
}

#[test]
fn train_errors() {
    let few = vec![("a", "positive"); 3];
    assert!(matches!(train(Task::Sentiment, &few, &TrainOptions::default()), Err(Error::TooFewExamples { .. })));
    let one_class = vec![("a", "positive"); 20];
    assert_eq!(train(Task::Sentiment, &one_class, &TrainOptions::default()).err(), Some(Error::TooFewClasses(1)));
    let mut bad = vec![("a", "positive"); 20];
    bad.push(("b", "angry"));
    assert!(matches!(
        train(Task::Sentiment, &bad, &TrainOptions::default()),
        Err(Error::InvalidLabel { index: 20, .. })
    ));
    let wrong_task = train(Task::Intent, &tenant_set(), &TrainOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let err = Analyzer::new(AnalyzerConfig {
        sentiment_model: Some(VersionedModel { version: "x".into(), model: wrong_task }),
        ..Default::default()
    });
    assert!(err.is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_on_arbitrary_strings(text in any::<String>(), hint in proptest::option::of("[a-zA-Z-]{0,6}")) {
        let analyzer = Analyzer::default();
        let mut input = Input::new(&text).channel(Channel::Email);
        if let Some(h) = &hint {
            input = input.language_hint(h);
        }
        let e = analyzer.enrich(&input);
        prop_assert!((-1.0..=1.0).contains(&e.sentiment.score));
        prop_assert!(e.intents.iter().all(|i| (0.0..=1.0).contains(&i.score)));
        prop_assert_eq!(e.signature.0.len(), PERMUTATIONS);
        for ent in &e.entities {
            prop_assert!(text.get(ent.start..ent.end).is_some());
        }
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let e = Analyzer::default().enrich(&Input::new(&text));
        prop_assert!((-1.0..=1.0).contains(&e.sentiment.score));
        prop_assert!(Model::from_bytes(&bytes).is_err());
    }

    #[test]
    fn care_like_text_never_panics(text in "[a-zA-Z#@!?:;()<3😡😍 ]{0,200}") {
        let e = Analyzer::default().enrich(&Input::new(&text));
        prop_assert!((-1.0..=1.0).contains(&e.sentiment.score));
    }
}
