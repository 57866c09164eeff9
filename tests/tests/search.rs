//! `SearchCases`: every filter, alone and together, paged newest first; a tag with "_" is not a
//! wildcard; bad filters are refused naming the field. `ListCustomerTimeline`: a customer's
//! history across channels and cases.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use tend::app::ServiceName;
use tend_proto::v1;
use tend_tests::{Backend, TestApp, as_tenant};
use tonic::Code;

tend_tests::on_both_backends!(
    every_filter_finds_what_it_says,
    bad_filters_are_refused,
    a_customers_history_spans_channels_and_cases,
);

async fn open(app: &TestApp, tenant: &str, customer_id: &str, topics: &[&str]) -> v1::Case {
    let interaction = v1::Interaction {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: tenant.into(),
        channel: v1::Channel::X.into(),
        external_id: uuid::Uuid::new_v4().to_string(),
        text: "about my bill".into(),
        enrichment: Some(v1::Enrichment {
            topics: topics.iter().map(|topic| (*topic).to_owned()).collect(),
            actionable: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    let request = v1::OpenCaseRequest {
        idempotency_key: interaction.id.clone(),
        interaction: Some(interaction),
        customer_id: customer_id.into(),
        priority: 40,
        ..Default::default()
    };
    app.cases().open_case(as_tenant(tenant, request)).await.unwrap().into_inner().case.unwrap()
}

async fn search(app: &TestApp, request: v1::SearchCasesRequest) -> Vec<String> {
    let page = app.cases().search_cases(as_tenant("acme", request)).await.unwrap().into_inner();
    page.cases.into_iter().map(|case| case.id).collect()
}

async fn every_filter_finds_what_it_says(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[ServiceName::Cases], |_| {}).await;
    let cases = app.cases();
    let billing = open(&app, "acme", "c-ann", &["billing"]).await;
    let delivery = open(&app, "acme", "c-bob", &["delivery", "billing_2"]).await;
    let vip = open(&app, "acme", "c-ann", &[]).await;
    let other_tenant = open(&app, "globex", "c-ann", &["billing"]).await;

    let tag = |id: &str, tag: &str| v1::TagCaseRequest { id: id.into(), add: vec![tag.into()], ..Default::default() };
    cases.clone().tag_case(as_tenant("acme", tag(&vip.id, "vip_gold"))).await.unwrap();
    cases.clone().tag_case(as_tenant("acme", tag(&delivery.id, "vipxgold"))).await.unwrap();
    cases.clone().tag_case(as_tenant("acme", tag(&billing.id, "refund"))).await.unwrap();
    cases.clone().tag_case(as_tenant("acme", tag(&billing.id, "vip_gold"))).await.unwrap();
    let assign = v1::AssignCaseRequest { id: billing.id.clone(), agent_id: "ana".into(), ..Default::default() };
    cases.clone().assign_case(as_tenant("acme", assign)).await.unwrap();
    let promise = v1::PromiseFollowUpRequest {
        case_id: delivery.id.clone(),
        what: "a tracking number".into(),
        due_at: Some(tend_kernel::ids::to_timestamp(chrono::Utc::now() + chrono::Duration::hours(3))),
        ..Default::default()
    };
    cases.clone().promise_follow_up(as_tenant("acme", promise)).await.unwrap();
    let department = v1::Department { name: "billing".into(), answer_within_seconds: 3600, ..Default::default() };
    let upsert = v1::UpsertDepartmentRequest { department: Some(department) };
    cases.clone().upsert_department(as_tenant("acme", upsert)).await.unwrap();
    let escalate = v1::EscalateToDepartmentRequest {
        case_id: vip.id.clone(),
        department: "billing".into(),
        reason: "refund".into(),
        root_cause: "overcharge".into(),
        ..Default::default()
    };
    cases.clone().escalate_to_department(as_tenant("acme", escalate)).await.unwrap();

    let all = search(&app, v1::SearchCasesRequest::default()).await;
    assert_eq!(all, [vip.id.as_str(), delivery.id.as_str(), billing.id.as_str()], "newest first, acme's only");
    assert!(!all.contains(&other_tenant.id));
    let by = |request: v1::SearchCasesRequest| search(&app, request);
    let status =
        |status: v1::CaseStatus| v1::SearchCasesRequest { statuses: vec![status.into()], ..Default::default() };
    assert_eq!(by(status(v1::CaseStatus::Open)).await, [billing.id.as_str()]);
    assert_eq!(by(status(v1::CaseStatus::PendingDepartment)).await, [vip.id.as_str()]);
    let two = v1::SearchCasesRequest {
        statuses: vec![v1::CaseStatus::New.into(), v1::CaseStatus::Open.into()],
        ..Default::default()
    };
    assert_eq!(by(two).await, [delivery.id.as_str(), billing.id.as_str()]);
    assert_eq!(
        by(v1::SearchCasesRequest { assignee: "ana".into(), ..Default::default() }).await,
        [billing.id.as_str()]
    );
    assert_eq!(
        by(v1::SearchCasesRequest { unassigned: true, ..Default::default() }).await,
        [vip.id.as_str(), delivery.id.as_str()]
    );
    let ann = v1::SearchCasesRequest { customer_id: "c-ann".into(), ..Default::default() };
    assert_eq!(by(ann).await, [vip.id.as_str(), billing.id.as_str()]);
    // "vip_gold" is a tag, not a pattern: "vipxgold" does not match it.
    let gold = v1::SearchCasesRequest { tag: "vip_gold".into(), ..Default::default() };
    assert_eq!(by(gold).await, [vip.id.as_str(), billing.id.as_str()]);
    assert_eq!(
        by(v1::SearchCasesRequest { tag: "cause:overcharge".into(), ..Default::default() }).await,
        [vip.id.as_str()]
    );
    assert_eq!(
        by(v1::SearchCasesRequest { topic: "billing".into(), ..Default::default() }).await,
        [billing.id.as_str()]
    );
    assert_eq!(
        by(v1::SearchCasesRequest { topic: "billing_2".into(), ..Default::default() }).await,
        [delivery.id.as_str()]
    );
    assert_eq!(
        by(v1::SearchCasesRequest { department: "billing".into(), ..Default::default() }).await,
        [vip.id.as_str()]
    );
    let promised = v1::SearchCasesRequest { with_open_promises: true, ..Default::default() };
    assert_eq!(by(promised).await, [delivery.id.as_str()]);
    let together = v1::SearchCasesRequest {
        customer_id: "c-ann".into(),
        tag: "vip_gold".into(),
        statuses: vec![v1::CaseStatus::Open.into()],
        ..Default::default()
    };
    assert_eq!(by(together).await, [billing.id.as_str()]);
    let since = v1::SearchCasesRequest { opened_after: delivery.opened_at, ..Default::default() };
    assert_eq!(by(since).await, [vip.id.as_str(), delivery.id.as_str()]);
    let until = v1::SearchCasesRequest { opened_before: delivery.opened_at, ..Default::default() };
    assert_eq!(by(until).await, [billing.id.as_str()]);

    // Pages, newest first, without repeats.
    let first = v1::SearchCasesRequest { page_size: 2, ..Default::default() };
    let page = cases.clone().search_cases(as_tenant("acme", first)).await.unwrap().into_inner();
    assert_eq!(page.cases.len(), 2);
    let next = v1::SearchCasesRequest { page_size: 2, page_token: page.next_page_token, ..Default::default() };
    let rest = cases.clone().search_cases(as_tenant("acme", next)).await.unwrap().into_inner();
    assert_eq!(rest.cases.iter().map(|case| case.id.as_str()).collect::<Vec<_>>(), [billing.id.as_str()]);
    assert!(rest.next_page_token.is_empty());
    app.stop().await;
}

async fn bad_filters_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[ServiceName::Cases], |_| {}).await;
    let refuse = |request: v1::SearchCasesRequest, field: &'static str| {
        let app = &app;
        async move {
            let error = app.cases().search_cases(as_tenant("acme", request)).await.unwrap_err();
            assert_eq!(error.code(), Code::InvalidArgument, "{field}: {error:?}");
            assert!(error.message().contains(&format!("`{field}`")), "{field}: {error:?}");
        }
    };
    refuse(v1::SearchCasesRequest { statuses: vec![0], ..Default::default() }, "statuses").await;
    refuse(v1::SearchCasesRequest { statuses: vec![42], ..Default::default() }, "statuses").await;
    refuse(v1::SearchCasesRequest { unassigned: true, assignee: "ana".into(), ..Default::default() }, "unassigned")
        .await;
    refuse(v1::SearchCasesRequest { tag: "not a tag".into(), ..Default::default() }, "tag").await;
    refuse(v1::SearchCasesRequest { queue: "q".repeat(300), ..Default::default() }, "queue").await;
    let bad_time = prost_types::Timestamp { seconds: 0, nanos: -1 };
    refuse(v1::SearchCasesRequest { opened_after: Some(bad_time), ..Default::default() }, "opened_after").await;
    refuse(v1::SearchCasesRequest { page_token: "nope".into(), ..Default::default() }, "page_token").await;
    app.stop().await;
}

/// A customer's history: the entries of all their cases, across channels, newest first.
async fn a_customers_history_spans_channels_and_cases(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[ServiceName::Cases], |_| {}).await;
    let tweeted = open(&app, "acme", "c-ann", &[]).await;
    let note = v1::AddCaseNoteRequest { case_id: tweeted.id.clone(), text: "called her back".into() };
    app.cases().add_case_note(as_tenant("acme", note)).await.unwrap();
    let interaction = v1::Interaction {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: "acme".into(),
        channel: v1::Channel::Email.into(),
        external_id: uuid::Uuid::new_v4().to_string(),
        text: "a new problem, by email".into(),
        ..Default::default()
    };
    let emailed = v1::OpenCaseRequest {
        idempotency_key: interaction.id.clone(),
        interaction: Some(interaction),
        customer_id: "c-ann".into(),
        new_case: true,
        ..Default::default()
    };
    let emailed = app.cases().open_case(as_tenant("acme", emailed)).await.unwrap().into_inner().case.unwrap();
    open(&app, "acme", "c-bob", &[]).await;
    open(&app, "globex", "c-ann", &[]).await;

    let history = |customer_id: &str, profile_id: &str, page_size: u32, page_token: String| {
        let request = v1::ListCustomerTimelineRequest {
            customer_id: customer_id.into(),
            profile_id: profile_id.into(),
            page_size,
            page_token,
        };
        let app = &app;
        async move { app.cases().list_customer_timeline(as_tenant("acme", request)).await }
    };
    let page = history("c-ann", "", 0, String::new()).await.unwrap().into_inner();
    let steps: Vec<_> = page
        .items
        .iter()
        .map(|item| {
            (item.channel(), item.entry.as_ref().unwrap().kind(), item.entry.as_ref().unwrap().case_id.as_str())
        })
        .collect();
    use v1::CaseTimelineKind as K;
    assert_eq!(
        steps,
        [
            (v1::Channel::Email, K::Opened, emailed.id.as_str()),
            (v1::Channel::X, K::NoteAdded, tweeted.id.as_str()),
            (v1::Channel::X, K::Opened, tweeted.id.as_str())
        ],
        "newest first, her cases only"
    );
    assert_eq!(page.items[0].case_subject, "a new problem, by email");
    let first = history("c-ann", "", 2, String::new()).await.unwrap().into_inner();
    let rest = history("c-ann", "", 2, first.next_page_token).await.unwrap().into_inner();
    assert_eq!((first.items.len(), rest.items.len()), (2, 1));
    assert!(rest.next_page_token.is_empty());
    assert!(history("c-nobody", "", 0, String::new()).await.unwrap().into_inner().items.is_empty());
    for (customer_id, profile_id) in [("", ""), ("c-ann", "p-ann")] {
        let error = history(customer_id, profile_id, 0, String::new()).await.unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument, "{error:?}");
    }
    app.stop().await;
}
