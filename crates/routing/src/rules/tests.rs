#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use tend_proto::v1;

use super::*;

fn rule(name: &str, layer: v1::RuleLayer, when: &str, then: v1::RuleActions) -> v1::Rule {
    v1::Rule {
        name: name.into(),
        layer: layer.into(),
        when: when.into(),
        then: Some(then),
        stop: false,
        description: String::new(),
    }
}

fn set(rules: Vec<v1::Rule>) -> v1::RuleSet {
    v1::RuleSet { rules, description: String::new() }
}

fn queue(name: &str) -> v1::RuleActions {
    v1::RuleActions { queue: name.into(), ..v1::RuleActions::default() }
}

fn identified(tier: &str, churn: f64, channel: v1::Channel) -> v1::InteractionIdentified {
    v1::InteractionIdentified {
        interaction: Some(v1::Interaction {
            id: "i1".into(),
            channel: channel.into(),
            text: "hello".into(),
            author: Some(v1::Author { external_id: "a1".into(), followers: 5_000, ..v1::Author::default() }),
            enrichment: Some(v1::Enrichment {
                language: "en".into(),
                intents: vec![v1::IntentScore { intent: v1::Intent::ChurnRisk.into(), score: churn }],
                actionable: true,
                ..v1::Enrichment::default()
            }),
            ..v1::Interaction::default()
        }),
        status: v1::IdentityStatus::Linked.into(),
        customer_id: "c1".into(),
        customer: Some(v1::CustomerSummary {
            tier: tier.into(),
            lifetime_value: 2_000.0,
            ..v1::CustomerSummary::default()
        }),
        ..v1::InteractionIdentified::default()
    }
}

fn run(rules: &RuleSet, identified: &v1::InteractionIdentified) -> Evaluation {
    let now = DateTime::<Utc>::UNIX_EPOCH;
    let root = cel::Context::with_env(rules.env.clone());
    evaluate(rules, &root, &Facts::of(identified, now))
}

#[test]
fn a_bad_expression_is_named_with_its_line_and_column() {
    let spec = set(vec![
        rule("fine", v1::RuleLayer::Segment, "customer.tier == 'vip'", queue("vip")),
        rule("broken", v1::RuleLayer::Business, "customer.tier ==\n  'vip' &&& true", queue("x")),
    ]);
    let problems = RuleSet::compile(1, &spec).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let problem = &problems[0];
    assert_eq!((problem.rule.as_str(), problem.field.as_str()), ("broken", "when"));
    assert_eq!(problem.line, 2, "{problem}");
    assert!(problem.column > 1, "{problem}");
}

#[test]
fn misspelt_fields_unknown_names_and_non_bool_conditions_are_problems() {
    let spec = set(vec![
        rule("typo", v1::RuleLayer::Segment, "customer.linked && customer.teir == 'vip'", queue("a")),
        rule("unknown", v1::RuleLayer::Segment, "person.tier == 'vip'", queue("a")),
        rule("number", v1::RuleLayer::Segment, "author.followers + 1", queue("a")),
    ]);
    let problems = RuleSet::compile(1, &spec).unwrap_err();
    let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 3, "{messages:?}");
    assert!(messages[0].contains("teir"), "{messages:?}");
    assert!(messages[1].contains("person"), "{messages:?}");
    assert!(messages[2].contains("not a bool"), "{messages:?}");
}

#[test]
fn actions_out_of_bounds_and_bad_names_are_problems() {
    let spec = set(vec![
        rule(
            "big",
            v1::RuleLayer::Segment,
            "true",
            v1::RuleActions { priority_adjustment: 51, ..v1::RuleActions::default() },
        ),
        rule("Bad Name", v1::RuleLayer::Segment, "true", queue("a")),
        rule("nothing", v1::RuleLayer::Segment, "true", v1::RuleActions::default()),
        rule("nolayer", v1::RuleLayer::Unspecified, "true", queue("a")),
        rule("nolayer", v1::RuleLayer::Segment, "true", queue("Queue 1")),
        rule("deep", v1::RuleLayer::Segment, &format!("{}true{}", "(".repeat(40), ")".repeat(40)), queue("a")),
    ]);
    let problems = RuleSet::compile(1, &spec).unwrap_err();
    let fields: Vec<(&str, &str)> = problems.iter().map(|p| (p.rule.as_str(), p.field.as_str())).collect();
    assert_eq!(
        fields,
        vec![
            ("big", "then.priority_adjustment"),
            ("Bad Name", "name"),
            ("nothing", "then"),
            ("nolayer", "layer"),
            ("nolayer", "name"),
            ("nolayer", "then.queue"),
            ("deep", "when"),
        ]
    );
}

#[test]
fn layers_run_in_order_and_a_later_layer_has_the_last_word() {
    // Written service first: evaluation still goes segment, business, service.
    let spec = set(vec![
        rule("email-queue", v1::RuleLayer::Service, "interaction.channel == 'email'", queue("email")),
        rule(
            "vip",
            v1::RuleLayer::Segment,
            "customer.tier == 'vip'",
            v1::RuleActions {
                queue: "vip".into(),
                priority_adjustment: 15,
                priority_reason: "VIP customer".into(),
                tags: vec!["vip".into()],
                skills: vec![v1::SkillRequirement { skill: "care".into(), level: 2 }],
                ..v1::RuleActions::default()
            },
        ),
        rule(
            "retention",
            v1::RuleLayer::Business,
            "enrichment.intents.churn_risk >= 0.5",
            v1::RuleActions {
                department: "retention".into(),
                tags: vec!["churn".into(), "vip".into()],
                skills: vec![v1::SkillRequirement { skill: "care".into(), level: 4 }],
                ..v1::RuleActions::default()
            },
        ),
    ]);
    let rules = RuleSet::compile(3, &spec).unwrap();

    let vip = run(&rules, &identified("vip", 0.0, v1::Channel::X));
    assert_eq!(vip.fired, vec!["vip"]);
    assert_eq!(vip.queue.as_deref(), Some("vip"));
    assert_eq!(vip.adjustments, vec![("vip".to_owned(), 15, "VIP customer".to_owned())]);

    let leaving = run(&rules, &identified("vip", 0.9, v1::Channel::Email));
    assert_eq!(leaving.fired, vec!["vip", "retention", "email-queue"]);
    // The department's queue replaced the segment's, the service layer's replaced that.
    assert_eq!(leaving.queue.as_deref(), Some("email"));
    assert_eq!(leaving.department.as_deref(), Some("retention"));
    assert_eq!(leaving.tags, vec!["churn", "vip"]);
    assert_eq!(leaving.skills, vec![Skill { skill: "care".into(), level: 4 }]);

    let nobody = run(&rules, &identified("", 0.0, v1::Channel::X));
    assert!(nobody.fired.is_empty());
    assert_eq!(nobody.queue, None);
}

#[test]
fn stop_ends_its_layer_only() {
    let mut first = rule("first", v1::RuleLayer::Segment, "true", queue("one"));
    first.stop = true;
    let spec = set(vec![
        first,
        rule("skipped", v1::RuleLayer::Segment, "true", queue("two")),
        rule(
            "next-layer",
            v1::RuleLayer::Business,
            "true",
            v1::RuleActions { tags: vec!["seen".into()], ..Default::default() },
        ),
    ]);
    let evaluation = run(&RuleSet::compile(1, &spec).unwrap(), &identified("", 0.0, v1::Channel::X));
    assert_eq!(evaluation.fired, vec!["first", "next-layer"]);
    assert_eq!(evaluation.queue.as_deref(), Some("one"));
}

#[test]
fn a_condition_that_fails_at_run_time_does_not_fire_and_is_reported() {
    let spec = set(vec![rule(
        "divides",
        v1::RuleLayer::Segment,
        "10 / (author.followers - 5000) > 1",
        v1::RuleActions { actionable: Some(false), ..Default::default() },
    )]);
    let evaluation = run(&RuleSet::compile(1, &spec).unwrap(), &identified("", 0.0, v1::Channel::X));
    assert!(evaluation.fired.is_empty());
    assert_eq!(evaluation.errors.len(), 1);
    assert_eq!(evaluation.errors[0].0, "divides");
    assert_eq!(evaluation.actionable, None);
}

#[test]
fn the_builtin_rules_compile_and_send_churn_risk_to_retention() {
    let builtin_rules = RuleSet::compile(0, &builtin_spec()).unwrap();
    assert_eq!(builtin().rules.len(), builtin_rules.rules.len());
    let evaluation = run(&builtin(), &identified("", 0.8, v1::Channel::X));
    assert_eq!(evaluation.department.as_deref(), Some("retention"));
    assert_eq!(evaluation.queue.as_deref(), Some("retention"));
    assert_eq!(run(&builtin(), &identified("", 0.1, v1::Channel::X)).queue, None);
}

#[test]
fn conditions_see_every_documented_field() {
    let conditions = [
        "interaction.channel == 'x' && interaction.is_reply == false && interaction.text.contains('hello')",
        "interaction.received_at < now + duration('1h') && interaction.posted_at <= now",
        "enrichment.present && enrichment.language == 'en' && enrichment.intent == 'churn_risk'",
        "enrichment.sentiment <= 0.0 && enrichment.sentiment_label == '' && size(enrichment.topics) == 0",
        "enrichment.actionable && enrichment.actionable_reason == '' && !enrichment.testimonial_candidate",
        "size(enrichment.hashtags) == 0 && !enrichment.entities.exists(e, e.kind == 'order')",
        "enrichment.intents.question == 0.0 && enrichment.intents.spam == 0.0",
        "author.followers > 1000 && !author.verified && author.handle == '' && author.id == 'a1'",
        "author.display_name == '' && author.location == '' && author.profile_id == ''",
        "customer.linked && customer.status == 'linked' && customer.id == 'c1' && customer.segment == ''",
        "customer.lifetime_value > 1000.0 && customer.orders == 0 && customer.total_spent == 0.0",
        "customer.days_since_last_order == -1 && customer.tier in ['gold', 'silver']",
        // A whole object, and a map of it, read as such.
        "has(customer.tier) && customer['segment'] == '' && enrichment.intents['churn_risk'] > 0.5",
    ];
    let rules: Vec<v1::Rule> = conditions
        .iter()
        .enumerate()
        .map(|(at, when)| rule(&format!("r{at}"), v1::RuleLayer::Segment, when, queue("q")))
        .collect();
    let compiled = RuleSet::compile(1, &set(rules)).unwrap();
    let evaluation = run(&compiled, &identified("gold", 0.9, v1::Channel::X));
    assert!(evaluation.errors.is_empty(), "{:?}", evaluation.errors);
    assert_eq!(evaluation.fired.len(), conditions.len(), "fired {:?}", evaluation.fired);
}

/// Found by fuzzing (`tests/fuzz.rs`, `cel_condition`): each of these overflowed the stack of a
/// 2 MiB thread, aborting the process, before the nesting and operator bounds. Each is now a
/// problem with the condition.
#[test]
fn conditions_that_overflowed_the_stack_are_problems() {
    let conditions = [
        format!("{}true{}", "(".repeat(13), ")".repeat(13)),
        format!("size({}1{}) > 0", "[".repeat(13), "]".repeat(13)),
        format!("{} > 0", vec!["1"; 64].join(" + ")),
        format!("interaction{}", ".a".repeat(2000)),
        // A bad escape ends CEL's string, and the parser nests on every `{` after it.
        format!("interaction.text == '{}'", "\\p{".repeat(30)),
        // Calls of calls nest as members do.
        format!("10 / {}author.followers > 1", "() ".repeat(62)),
    ];
    for when in &conditions {
        let problems =
            RuleSet::compile(1, &set(vec![rule("deep", v1::RuleLayer::Segment, when, queue("a"))])).expect_err(when);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].field, "when");
    }
    // At the bounds, a condition still compiles and runs.
    let at_bounds = [
        format!("{}true{}", "(".repeat(compile::MAX_NESTING), ")".repeat(compile::MAX_NESTING)),
        format!("{} > 0", vec!["1"; compile::MAX_OPERATORS].join(" + ")),
    ];
    for when in &at_bounds {
        let compiled = RuleSet::compile(1, &set(vec![rule("deep", v1::RuleLayer::Segment, when, queue("a"))]))
            .unwrap_or_else(|problems| panic!("{when}: {problems:?}"));
        assert_eq!(run(&compiled, &identified("gold", 0.9, v1::Channel::X)).fired, vec!["deep".to_owned()]);
    }
}

/// Found by fuzzing: a problem quoted a misspelt field, or the parser's view of the rest of the
/// condition, whole, however long.
#[test]
fn a_problem_quotes_a_short_piece_of_an_unknown_name() {
    let long = "x".repeat(3000);
    for when in [format!("interaction.{long} == 1"), format!("{long} == 1"), format!("1 == \"{long}")] {
        let problems = RuleSet::compile(1, &set(vec![rule("typo", v1::RuleLayer::Segment, &when, queue("a"))]))
            .expect_err("an unknown name");
        assert!(problems[0].message.len() < 300, "{}", problems[0].message);
    }
}
