//! The tip sheet: the desk's quick reference is assembled from the live configuration on each
//! read — a change to an SLA, an account, a department or the standards shows at once — and a
//! section whose source is down is named rather than failing the sheet.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use tend_proto::v1;
use tend_tests::{Backend, TestApp, as_tenant, eventually};
use tonic::Code;

tend_tests::on_both_backends!(
    the_tip_sheet_shows_live_configuration,
    care_standards_are_checked,
    without_cases_the_sheet_names_the_missing_departments,
);

const TENANT: &str = "acme";

async fn sheet(app: &TestApp) -> v1::TipSheet {
    app.routing().get_tip_sheet(as_tenant(TENANT, v1::GetTipSheetRequest {})).await.unwrap().into_inner()
}

fn minutes(minutes: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration { seconds: minutes * 60, nanos: 0 })
}

async fn put_policy(app: &TestApp, first_response_minutes: i64) {
    let policy = v1::SlaPolicy {
        name: "social".into(),
        channels: vec![v1::Channel::X.into()],
        first_response: minutes(first_response_minutes),
        ..Default::default()
    };
    app.routing().put_sla_policy(as_tenant(TENANT, v1::PutSlaPolicyRequest { policy: Some(policy) })).await.unwrap();
}

async fn the_tip_sheet_shows_live_configuration(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    // A fresh tenant: the built-in rules, nothing else, and every section there.
    let fresh = sheet(&app).await;
    assert_eq!(fresh.rule_set_version, 0);
    assert_eq!(fresh.rules.iter().map(|rule| rule.name.as_str()).collect::<Vec<_>>(), ["churn-risk-to-retention"]);
    assert!(fresh.rules[0].summary.contains("department retention"), "{:?}", fresh.rules[0]);
    assert!(fresh.standards.is_none());
    assert!(fresh.unavailable.is_empty(), "{:?}", fresh.unavailable);
    assert_eq!(fresh.hot_topic_sla_percent, 50);
    assert!(fresh.sla_policies.is_empty() && fresh.departments.is_empty() && fresh.accounts.is_empty());

    // Configure every section.
    let standards = v1::CareStandards {
        mission: "Every customer helped the first time.".into(),
        quality_standards: vec!["Answer in the customer's language".into(), "Never argue in public".into()],
        updated_at: None,
    };
    let request = v1::PutCareStandardsRequest { standards: Some(standards) };
    app.routing().put_care_standards(as_tenant(TENANT, request)).await.unwrap();
    put_policy(&app, 60).await;
    let department = v1::Department {
        name: "billing".into(),
        display_name: "Billing & refunds".into(),
        contact: "billing@acme.example".into(),
        answer_within_seconds: 4 * 3600,
        ..Default::default()
    };
    let request = v1::UpsertDepartmentRequest { department: Some(department) };
    app.cases().upsert_department(as_tenant(TENANT, request)).await.unwrap();
    let threshold = v1::EscalationThreshold {
        name: "outage-burst".into(),
        topic: "outage".into(),
        posts: 20,
        window_seconds: 7200,
        department: "billing".into(),
        ..Default::default()
    };
    let request = v1::PutEscalationThresholdRequest { threshold: Some(threshold) };
    app.routing().put_escalation_threshold(as_tenant(TENANT, request)).await.unwrap();
    let request =
        v1::UpsertAppRequest { name: "x-main".into(), platform: v1::Platform::X.into(), ..Default::default() };
    app.channels().upsert_app(as_tenant(TENANT, request)).await.unwrap();
    let hours = v1::AccountHours {
        time_zone: "Europe/London".into(),
        periods: vec![v1::StaffedPeriod { weekday: "mon".into(), start: "09:00".into(), end: "17:00".into() }],
        closed_days: vec![],
    };
    let request = v1::UpsertAccountRequest {
        app: "x-main".into(),
        channel: v1::Channel::X.into(),
        platform_account_id: "2244994945".into(),
        display_name: "Acme Support".into(),
        hours: Some(hours),
        ..Default::default()
    };
    let account = app.channels().upsert_account(as_tenant(TENANT, request)).await.unwrap().into_inner();

    // Routing hears of the account by event; the rest shows at once.
    let configured = eventually("the account on the tip sheet", Duration::from_secs(20), || async {
        let sheet = sheet(&app).await;
        (!sheet.accounts.is_empty()).then_some(sheet)
    })
    .await;
    let standards = configured.standards.as_ref().unwrap();
    assert_eq!(standards.mission, "Every customer helped the first time.");
    assert_eq!(standards.quality_standards.len(), 2);
    let listed = &configured.accounts[0];
    assert_eq!((listed.account.as_str(), listed.display_name.as_str()), (account.id.as_str(), "Acme Support"));
    assert_eq!(listed.channel(), v1::Channel::X);
    assert!(listed.enabled);
    let listed_hours = listed.hours.as_ref().expect("the account's hours");
    assert_eq!(listed_hours.time_zone, "Europe/London");
    assert_eq!(listed_hours.periods.len(), 1);
    // Accounts' hours are on the accounts, not among the tenant's calendars.
    assert!(configured.calendars.is_empty(), "{:?}", configured.calendars);
    assert_eq!(configured.sla_policies.len(), 1);
    assert_eq!(configured.sla_policies[0].first_response, minutes(60));
    assert_eq!(configured.thresholds.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["outage-burst"]);
    let billing = &configured.departments[0];
    assert_eq!((billing.name.as_str(), billing.contact.as_str()), ("billing", "billing@acme.example"));
    assert_eq!(billing.answer_within_seconds, 4 * 3600);

    // A change shows on the next read: the SLA tightened, a rule set activated, the account
    // disabled.
    put_policy(&app, 30).await;
    let rules = v1::RuleSet {
        description: "ours".into(),
        rules: vec![
            v1::Rule {
                name: "billing-to-billing".into(),
                layer: v1::RuleLayer::Business.into(),
                when: "'billing' in enrichment.topics".into(),
                then: Some(v1::RuleActions { queue: "billing".into(), ..Default::default() }),
                ..Default::default()
            },
            v1::Rule {
                name: "vip-first".into(),
                layer: v1::RuleLayer::Segment.into(),
                when: "customer.segment == 'vip'".into(),
                then: Some(v1::RuleActions {
                    priority_adjustment: 20,
                    priority_reason: "VIP".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ],
    };
    let put = v1::PutRuleSetRequest { rule_set: Some(rules) };
    let version = app.routing().put_rule_set(as_tenant(TENANT, put)).await.unwrap().into_inner().version;
    let activate = v1::ActivateRuleSetRequest { version };
    app.routing().activate_rule_set(as_tenant(TENANT, activate)).await.unwrap();
    let changed = sheet(&app).await;
    assert_eq!(changed.sla_policies[0].first_response, minutes(30));
    assert_eq!(changed.rule_set_version, version);
    // Layer by layer: the segment rule first, as routing evaluates them.
    let names: Vec<&str> = changed.rules.iter().map(|rule| rule.name.as_str()).collect();
    assert_eq!(names, ["vip-first", "billing-to-billing"]);
    assert_eq!(changed.rules[0].summary, "when customer.segment == 'vip' → +20 priority (VIP)");
    let disable = v1::DisableAccountRequest { id: account.id.clone() };
    app.channels().disable_account(as_tenant(TENANT, disable)).await.unwrap();
    eventually("the disabled account on the tip sheet", Duration::from_secs(20), || async {
        let sheet = sheet(&app).await;
        (!sheet.accounts[0].enabled && sheet.accounts[0].hours.is_none()).then_some(())
    })
    .await;

    // Another tenant sees none of it.
    let other = app.routing().get_tip_sheet(as_tenant("globex", v1::GetTipSheetRequest {})).await.unwrap();
    let other = other.into_inner();
    assert!(other.standards.is_none() && other.accounts.is_empty() && other.departments.is_empty());
    assert!(other.sla_policies.is_empty() && other.thresholds.is_empty());
    app.stop().await;
}

async fn care_standards_are_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let put = |standards: Option<v1::CareStandards>| {
        let mut routing = app.routing();
        async move { routing.put_care_standards(as_tenant(TENANT, v1::PutCareStandardsRequest { standards })).await }
    };
    let missing = put(None).await.unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);
    assert!(missing.message().contains("standards"), "{}", missing.message());
    let blank = v1::CareStandards { quality_standards: vec!["ok".into(), " ".into()], ..Default::default() };
    let refused = put(Some(blank)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(refused.message().contains("quality_standards[1]"), "{}", refused.message());
    let many = v1::CareStandards { quality_standards: vec!["be kind".into(); 51], ..Default::default() };
    assert_eq!(put(Some(many)).await.unwrap_err().code(), Code::InvalidArgument);
    let long = v1::CareStandards { mission: "x".repeat(4097), ..Default::default() };
    assert_eq!(put(Some(long)).await.unwrap_err().code(), Code::InvalidArgument);
    // Saving replaces, trimmed.
    put(Some(v1::CareStandards { mission: " first ".into(), ..Default::default() })).await.unwrap();
    let saved = put(Some(v1::CareStandards { mission: "second".into(), ..Default::default() })).await.unwrap();
    assert_eq!(saved.into_inner().mission, "second");
    assert_eq!(sheet(&app).await.standards.unwrap().mission, "second");
    app.stop().await;
}

async fn without_cases_the_sheet_names_the_missing_departments(backend: Backend) {
    use tend::app::ServiceName;
    // Routing alone, its cases client pointed at a port nothing listens on.
    let app = TestApp::spawn_with(backend, &[ServiceName::Routing], |config| {
        config.clients.cases = "http://127.0.0.1:9".into();
    })
    .await;
    put_policy(&app, 60).await;
    let partial = sheet(&app).await;
    assert_eq!(partial.sla_policies.len(), 1);
    assert!(partial.departments.is_empty());
    assert_eq!(partial.unavailable.len(), 1, "{:?}", partial.unavailable);
    assert!(partial.unavailable[0].starts_with("departments: the cases service"), "{:?}", partial.unavailable);
    app.stop().await;
}
