//! Routing decides end to end: a tenant's layered CEL rules change the outcome, a bad expression
//! is refused with its position, a version is activated atomically while posts flow, SLA
//! deadlines come from a policy on a business calendar with imported holidays, and a simulation
//! reports what a draft would change.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use tend_proto::v1;
use tend_tests::{Backend, TestApp, as_tenant, post, routed};
use tonic::Code;

tend_tests::on_both_backends!(
    a_bad_condition_is_refused_with_its_rule_line_and_column,
    each_layer_changes_the_outcome_and_a_vip_complaint_outranks_an_anonymous_one,
    a_version_is_activated_atomically_while_posts_flow,
    deadlines_count_business_hours_on_the_policy_calendar,
    a_simulation_reports_what_a_draft_would_change,
);

/// A tenant's calendars are bounded (a script in a loop, a leaked admin key): the 501st name is
/// RESOURCE_EXHAUSTED, saying what and how many; an existing one can still be changed, and
/// another tenant is not affected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_has_at_most_500_calendars() {
    let services = [tend::app::ServiceName::Routing, tend::app::ServiceName::Cases];
    let app = TestApp::spawn_with(Backend::Embedded, &services, |_| {}).await;
    let calendar = |name: String| v1::Calendar {
        name,
        time_zone: "Europe/London".into(),
        periods: vec![v1::WorkingPeriod { weekday: "mon".into(), start: "09:00".into(), end: "17:00".into() }],
        ..Default::default()
    };
    let put = |tenant: &str, name: String| {
        let request = v1::PutCalendarRequest { calendar: Some(calendar(name)), ..Default::default() };
        let mut routing = app.routing();
        let request = as_tenant(tenant, request);
        async move { routing.put_calendar(request).await }
    };
    for n in 0..500 {
        put("acme", format!("cal-{n}")).await.unwrap();
    }
    let refused = put("acme", "one-too-many".into()).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("500 calendars"), "{}", refused.message());
    put("acme", "cal-7".into()).await.unwrap();
    put("globex", "one-too-many".into()).await.unwrap();
    app.stop().await;
}

fn rule(name: &str, layer: v1::RuleLayer, when: &str, then: v1::RuleActions) -> v1::Rule {
    v1::Rule { name: name.into(), layer: layer.into(), when: when.into(), then: Some(then), ..Default::default() }
}

fn rules(rules: Vec<v1::Rule>) -> v1::RuleSet {
    v1::RuleSet { rules, description: String::new() }
}

/// Saves and activates `rule_set` for acme; returns its version.
async fn activate(app: &TestApp, rule_set: v1::RuleSet) -> u32 {
    let request = as_tenant("acme", v1::PutRuleSetRequest { rule_set: Some(rule_set) });
    let saved = app.routing().put_rule_set(request).await.unwrap().into_inner();
    assert_eq!(saved.state(), v1::RuleSetState::Draft);
    let request = as_tenant("acme", v1::ActivateRuleSetRequest { version: saved.version });
    let active = app.routing().activate_rule_set(request).await.unwrap().into_inner();
    assert_eq!(active.state(), v1::RuleSetState::Active);
    saved.version
}

async fn decide(app: &TestApp, request: v1::IngestInteractionRequest) -> v1::RoutingDecision {
    let ingested = app.ingest().ingest_interaction(as_tenant("acme", request)).await.unwrap().into_inner();
    routed(app, "acme", &ingested.interaction.unwrap().id).await
}

async fn a_bad_condition_is_refused_with_its_rule_line_and_column(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bad = rules(vec![
        rule(
            "fine",
            v1::RuleLayer::Segment,
            "customer.tier == 'vip'",
            v1::RuleActions { queue: "vip".into(), ..Default::default() },
        ),
        rule(
            "broken",
            v1::RuleLayer::Business,
            "enrichment.intents.complaint >= 0.5 &&\n  customer.tier ==",
            v1::RuleActions { queue: "x".into(), ..Default::default() },
        ),
    ]);
    let request = as_tenant("acme", v1::ValidateRuleSetRequest { rule_set: Some(bad.clone()) });
    let problems = app.routing().validate_rule_set(request).await.unwrap().into_inner().problems;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!((problems[0].rule.as_str(), problems[0].field.as_str(), problems[0].line), ("broken", "when", 2));
    assert!(problems[0].column > 0);

    let status =
        app.routing().put_rule_set(as_tenant("acme", v1::PutRuleSetRequest { rule_set: Some(bad) })).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("rule broken, when (line 2, column"), "{}", status.message());

    // A rule naming an SLA policy that does not exist cannot be activated.
    let names_policy = rules(vec![rule(
        "to-gold",
        v1::RuleLayer::Service,
        "true",
        v1::RuleActions { sla_policy: "gold".into(), ..Default::default() },
    )]);
    let request = as_tenant("acme", v1::PutRuleSetRequest { rule_set: Some(names_policy) });
    let saved = app.routing().put_rule_set(request).await.unwrap().into_inner();
    let request = as_tenant("acme", v1::ActivateRuleSetRequest { version: saved.version });
    let status = app.routing().activate_rule_set(request).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("gold"), "{}", status.message());
    let status = app.routing().get_rule_set(as_tenant("acme", v1::GetRuleSetRequest { version: 0 })).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "nothing was activated");
    app.stop().await;
}

async fn each_layer_changes_the_outcome_and_a_vip_complaint_outranks_an_anonymous_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let vip = v1::CustomerInput {
        crm_id: "CRM-VIP".into(),
        handles: vec![v1::KnownHandle { channel: v1::Channel::X.into(), handle: "@vera".into() }],
        tier: "vip".into(),
        segment: "enterprise".into(),
        lifetime_value: 250_000.0,
        ..Default::default()
    };
    app.identity().upsert_customer(as_tenant("acme", v1::UpsertCustomerRequest { customer: Some(vip) })).await.unwrap();
    let policy = v1::SlaPolicy {
        name: "enterprise-social".into(),
        segments: vec!["enterprise".into()],
        first_response: Some(prost_types::Duration { seconds: 15 * 60, nanos: 0 }),
        resolution: Some(prost_types::Duration { seconds: 8 * 3600, nanos: 0 }),
        ..Default::default()
    };
    app.routing().put_sla_policy(as_tenant("acme", v1::PutSlaPolicyRequest { policy: Some(policy) })).await.unwrap();
    let version = activate(
        &app,
        rules(vec![
            rule(
                "vip-tier",
                v1::RuleLayer::Segment,
                "customer.tier == 'vip'",
                v1::RuleActions {
                    priority_adjustment: 15,
                    priority_reason: "VIP customer".into(),
                    tags: vec!["vip".into()],
                    ..Default::default()
                },
            ),
            rule(
                "billing",
                v1::RuleLayer::Business,
                "interaction.text.contains('bill')",
                v1::RuleActions {
                    queue: "billing".into(),
                    skills: vec![v1::SkillRequirement { skill: "billing".into(), level: 2 }],
                    ..Default::default()
                },
            ),
            rule(
                "enterprise-sla",
                v1::RuleLayer::Service,
                "customer.segment == 'enterprise'",
                v1::RuleActions { sla_policy: "enterprise-social".into(), ..Default::default() },
            ),
        ]),
    )
    .await;

    let complaint = "My bill is wrong again, this is a terrible service";
    let vip = decide(&app, post("vera", complaint)).await;
    let anonymous = decide(&app, post("nobody-known", complaint)).await;
    assert!(vip.priority > anonymous.priority, "{:?} vs {:?}", vip.reasons, anonymous.reasons);
    assert!(vip.reasons.iter().any(|reason| reason.contains("rule vip-tier: VIP customer")), "{:?}", vip.reasons);
    assert!(vip.reasons.iter().any(|reason| reason.contains("customer value")), "{:?}", vip.reasons);

    let outcome = vip.outcome.as_ref().unwrap();
    assert_eq!(outcome.rule_set_version, version);
    assert_eq!(outcome.rules_fired, vec!["vip-tier", "billing", "enterprise-sla"]);
    assert_eq!((outcome.queue.as_str(), outcome.tags.as_slice()), ("billing", &["vip".to_owned()][..]));
    assert_eq!(outcome.skills, vec![v1::SkillRequirement { skill: "billing".into(), level: 2 }]);
    let sla = outcome.sla.as_ref().unwrap();
    assert_eq!(sla.policy, "enterprise-social");
    let due = sla.first_response_due.unwrap().seconds - sla.first_response_warn.unwrap().seconds;
    assert_eq!(due, 3 * 60, "warned at 80% of 15 minutes");

    let outcome = anonymous.outcome.as_ref().unwrap();
    assert_eq!(outcome.rules_fired, vec!["billing"]);
    assert!(outcome.sla.is_none(), "no policy covers an unknown author's post");

    // The case carries what routing decided.
    let case = app.cases().get_case(as_tenant("acme", v1::GetCaseRequest { id: vip.case_id.clone() })).await.unwrap();
    assert_eq!(case.into_inner().routing.as_ref(), vip.outcome.as_ref());

    // A rule marks chatter about the weather not work: decided, explained, no case.
    activate(
        &app,
        rules(vec![rule(
            "weather",
            v1::RuleLayer::Business,
            "interaction.text.contains('weather')",
            v1::RuleActions { actionable: Some(false), ..Default::default() },
        )]),
    )
    .await;
    let chatter = decide(&app, post("sam", "Where is my order? Lovely weather though")).await;
    assert!(!chatter.actionable);
    assert_eq!(chatter.not_actionable_reason, "rule weather");
    assert!(chatter.case_id.is_empty());
    app.stop().await;
}

async fn a_version_is_activated_atomically_while_posts_flow(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let queue = |name: &str| {
        rules(vec![rule(
            "all",
            v1::RuleLayer::Business,
            "true",
            v1::RuleActions { queue: name.into(), tags: vec![name.into()], ..Default::default() },
        )])
    };
    let first = activate(&app, queue("one")).await;
    let request = as_tenant("acme", v1::PutRuleSetRequest { rule_set: Some(queue("two")) });
    let second = app.routing().put_rule_set(request).await.unwrap().into_inner().version;

    let mut ids = Vec::new();
    for n in 0..60 {
        if n == 30 {
            let request = as_tenant("acme", v1::ActivateRuleSetRequest { version: second });
            app.routing().activate_rule_set(request).await.unwrap();
        }
        let request = post(&format!("p{n}"), "where is my refund?");
        let ingested = app.ingest().ingest_interaction(as_tenant("acme", request)).await.unwrap().into_inner();
        ids.push(ingested.interaction.unwrap().id);
    }
    let mut versions = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let outcome = routed(&app, "acme", id).await.outcome.unwrap();
        // Each decision is wholly of one version: its queue and tags are that version's.
        let expected = if outcome.rule_set_version == first { "one" } else { "two" };
        assert_eq!((outcome.queue.as_str(), outcome.tags.as_slice()), (expected, &[expected.to_owned()][..]));
        if n >= 30 {
            assert_eq!(outcome.rule_set_version, second, "post {n} came after the activation");
        }
        versions.push(outcome.rule_set_version);
    }
    assert!(versions.windows(2).all(|pair| pair[0] <= pair[1]), "no post went back to the old version: {versions:?}");

    let request = as_tenant("acme", v1::ListRuleSetVersionsRequest::default());
    let listed = app.routing().list_rule_set_versions(request).await.unwrap().into_inner();
    let states: Vec<(u32, v1::RuleSetState)> =
        listed.versions.iter().map(|version| (version.version, version.state())).collect();
    assert_eq!(states, vec![(second, v1::RuleSetState::Active), (first, v1::RuleSetState::Retired)]);
    app.stop().await;
}

async fn deadlines_count_business_hours_on_the_policy_calendar(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let weekdays = ["mon", "tue", "wed", "thu", "fri"];
    let calendar = v1::Calendar {
        name: "uk-support".into(),
        time_zone: "Europe/London".into(),
        periods: weekdays
            .iter()
            .map(|day| v1::WorkingPeriod { weekday: (*day).into(), start: "09:00".into(), end: "17:30".into() })
            .collect(),
        ..Default::default()
    };
    let ical = include_str!("../../docs/examples/uk-holidays.ics");
    let request = v1::PutCalendarRequest { calendar: Some(calendar), ical: ical.into(), ical_years: 2 };
    let saved = app.routing().put_calendar(as_tenant("acme", request)).await.unwrap().into_inner();
    assert!(saved.holidays.iter().any(|holiday| holiday.name.contains("Christmas")), "{:?}", saved.holidays);

    let bad = v1::Calendar { name: "bad".into(), time_zone: "Mars/Olympus".into(), ..Default::default() };
    let request = as_tenant("acme", v1::PutCalendarRequest { calendar: Some(bad), ..Default::default() });
    let status = app.routing().put_calendar(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("Mars/Olympus"), "{}", status.message());

    let policy = v1::SlaPolicy {
        name: "social".into(),
        channels: vec![v1::Channel::X.into()],
        calendar: "uk-support".into(),
        first_response: Some(prost_types::Duration { seconds: 4 * 3600, nanos: 0 }),
        resolution: Some(prost_types::Duration { seconds: 3 * 8 * 3600, nanos: 0 }),
        ..Default::default()
    };
    app.routing().put_sla_policy(as_tenant("acme", v1::PutSlaPolicyRequest { policy: Some(policy) })).await.unwrap();
    let missing = v1::SlaPolicy { calendar: "nowhere".into(), name: "other".into(), ..Default::default() };
    let status =
        app.routing().put_sla_policy(as_tenant("acme", v1::PutSlaPolicyRequest { policy: Some(missing) })).await;
    assert_eq!(status.unwrap_err().code(), Code::InvalidArgument);

    let ingested =
        app.ingest().ingest_interaction(as_tenant("acme", post("bea", "where is my refund?"))).await.unwrap();
    let interaction = ingested.into_inner().interaction.unwrap();
    let decision = routed(&app, "acme", &interaction.id).await;
    let sla = decision.outcome.unwrap().sla.unwrap();
    assert_eq!((sla.policy.as_str(), sla.calendar.as_str()), ("social", "uk-support"));

    // The same deadlines, computed here on the calendar as saved.
    let spec = tend_calendar::CalendarSpec {
        time_zone: saved.time_zone.clone(),
        hours: {
            let mut hours = tend_calendar::HoursSpec::default();
            for period in &saved.periods {
                hours.day_mut(period.weekday.parse().unwrap()).push(format!("{}-{}", period.start, period.end));
            }
            hours
        },
        holidays: saved
            .holidays
            .iter()
            .map(|holiday| tend_calendar::HolidaySpec { date: holiday.date.clone(), name: holiday.name.clone() })
            .collect(),
    };
    let calendar = tend_calendar::Calendar::from_spec(&spec).unwrap();
    let received = interaction.received_at.unwrap();
    let received = chrono::DateTime::from_timestamp(received.seconds, u32::try_from(received.nanos).unwrap()).unwrap();
    let at = |hours: i64| calendar.add(received, chrono::TimeDelta::hours(hours)).unwrap().timestamp();
    assert_eq!(sla.first_response_due.unwrap().seconds, at(4));
    assert_eq!(sla.resolution_due.unwrap().seconds, at(24));
    let policies = app.routing().list_sla_policies(as_tenant("acme", v1::ListSlaPoliciesRequest {})).await.unwrap();
    assert_eq!(policies.into_inner().policies.len(), 1);
    app.stop().await;
}

async fn a_simulation_reports_what_a_draft_would_change(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let since = tend_kernel::ids::to_timestamp(chrono::Utc::now() - chrono::TimeDelta::hours(1));
    let texts = ["where is my refund?", "my bill is wrong, why?", "how do I reset my password?", "is my bill ready?"];
    let mut bills = 0;
    for (n, text) in texts.iter().cycle().take(12).enumerate() {
        bills += u32::from(text.contains("bill"));
        let ingested = app.ingest().ingest_interaction(as_tenant("acme", post(&format!("s{n}"), text))).await.unwrap();
        routed(&app, "acme", &ingested.into_inner().interaction.unwrap().id).await;
    }
    let draft = rules(vec![
        rule(
            "billing",
            v1::RuleLayer::Business,
            "interaction.text.contains('bill')",
            v1::RuleActions { queue: "billing".into(), priority_adjustment: 10, ..Default::default() },
        ),
        rule(
            "passwords-are-self-service",
            v1::RuleLayer::Business,
            "interaction.text.contains('password')",
            v1::RuleActions { actionable: Some(false), ..Default::default() },
        ),
    ]);
    let request = v1::SimulateRuleSetRequest {
        draft: Some(v1::simulate_rule_set_request::Draft::RuleSet(draft)),
        since: Some(since),
        ..Default::default()
    };
    let report = app.routing().simulate_rule_set(as_tenant("acme", request)).await.unwrap().into_inner();
    assert_eq!(report.decisions, 12);
    let volume = |queue: &str| report.queues.iter().find(|volume| volume.queue == queue).map(|v| (v.before, v.after));
    assert_eq!(volume("billing"), Some((0, bills)));
    assert_eq!(volume("default"), Some((12, 12 - bills)));
    assert_eq!(report.became_not_actionable, 3, "the three password questions");
    let priority = report.priority.unwrap();
    assert_eq!(priority.raised, bills);
    assert_eq!(priority.lowered, 3);
    assert_eq!(report.changed, bills + 3);
    let hits: Vec<(String, u32)> = report.rules.iter().map(|hits| (hits.rule.clone(), hits.count)).collect();
    assert_eq!(hits, vec![("billing".to_owned(), bills), ("passwords-are-self-service".to_owned(), 3)]);
    // Nothing changed for real: the decisions stand and the built-in rules still apply.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let status = app.routing().get_rule_set(as_tenant("acme", v1::GetRuleSetRequest { version: 0 })).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    app.stop().await;
}
