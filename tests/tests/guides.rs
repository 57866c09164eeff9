//! Guides: versioned decision trees saved by an admin, checked whole, stepped through on a case
//! with the path on its timeline and the suggestions of each node.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use tend::app::ServiceName;
use tend_kernel::auth::{ApiKeyConfig, Role};
use tend_proto::v1;
use tonic::Code;

tend_tests::on_both_backends!(an_agent_steps_through_a_guide_and_the_path_stays_on_the_case);

const ADMIN: &str = "acme-admin-key-0001";
const ANA: &str = "ana-agent-key-00001";

use tend_tests::with_key as by;

fn node(id: &str, text: &str, answers: &[(&str, &str)]) -> v1::GuideNode {
    v1::GuideNode {
        id: id.into(),
        text: text.into(),
        answers: answers
            .iter()
            .map(|(label, next)| v1::GuideAnswer { label: (*label).into(), next: (*next).into() })
            .collect(),
        ..Default::default()
    }
}

fn parcel_guide() -> v1::Guide {
    let refund = v1::GuideNode {
        suggest_reply: "We're sorry: a refund is on its way.".into(),
        suggest_tag: "refund".into(),
        ..node("refund", "Refund the order.", &[])
    };
    let courier = v1::GuideNode {
        suggest_department: "logistics".into(),
        ..node("courier", "Ask logistics to trace the parcel.", &[])
    };
    v1::Guide {
        name: "parcel-missing".into(),
        title: "Parcel not delivered".into(),
        start: "tracking".into(),
        nodes: vec![
            node(
                "tracking",
                "What does tracking say?",
                &[("Delivered", "refund"), ("In transit for 7+ days", "courier")],
            ),
            refund,
            courier,
        ],
        ..Default::default()
    }
}

async fn an_agent_steps_through_a_guide_and_the_path_stays_on_the_case(backend: tend_tests::Backend) {
    let key = |key: &str, name: &str, role| ApiKeyConfig::plain(name, key, Some("acme"), role);
    let app = tend_tests::TestApp::spawn_with(backend, &[ServiceName::Cases], |config| {
        config.auth.keys = vec![key(ADMIN, "lead", Role::Admin), key(ANA, "ana", Role::Agent)];
    })
    .await;
    let put = |guide: v1::Guide, key: &'static str| {
        let app = &app;
        async move { app.cases().put_guide(by(key, v1::PutGuideRequest { guide: Some(guide) })).await }
    };
    let first = put(parcel_guide(), ADMIN).await.unwrap().into_inner();
    assert_eq!((first.version, first.saved_by.as_str()), (1, "lead"));
    let mut changed = parcel_guide();
    changed.title = "Parcel not delivered (v2)".into();
    assert_eq!(put(changed, ADMIN).await.unwrap().into_inner().version, 2);
    assert_eq!(put(parcel_guide(), ANA).await.unwrap_err().code(), Code::PermissionDenied);

    // Checked whole: a loop, a dead end and an unreachable node are refused, naming the node.
    let mut looping = parcel_guide();
    looping.nodes[1].answers.push(v1::GuideAnswer { label: "again".into(), next: "tracking".into() });
    let error = put(looping, ADMIN).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(error.message().contains("refund") && error.message().contains("loops"), "{error:?}");
    let mut nowhere = parcel_guide();
    nowhere.nodes[0].answers[0].next = "nope".into();
    assert!(put(nowhere, ADMIN).await.unwrap_err().message().contains("leads to no node"));

    let get = |name: &str, version: u32| v1::GetGuideRequest { name: name.into(), version };
    let v1 = app.cases().get_guide(by(ANA, get("parcel-missing", 1))).await.unwrap().into_inner();
    assert_eq!(v1.title, "Parcel not delivered");
    let latest = app.cases().get_guide(by(ANA, get("parcel-missing", 0))).await.unwrap().into_inner();
    assert_eq!(latest.version, 2);
    assert_eq!(app.cases().get_guide(by(ANA, get("unknown", 0))).await.unwrap_err().code(), Code::NotFound);
    let listed = app.cases().list_guides(by(ANA, v1::ListGuidesRequest {})).await.unwrap().into_inner().guides;
    assert_eq!(
        listed.iter().map(|guide| (guide.name.as_str(), guide.version)).collect::<Vec<_>>(),
        [("parcel-missing", 2)]
    );

    // Ana steps through it on a case.
    let interaction = v1::Interaction {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: "acme".into(),
        channel: v1::Channel::X.into(),
        external_id: uuid::Uuid::new_v4().to_string(),
        text: "where is my parcel".into(),
        ..Default::default()
    };
    let open = v1::OpenCaseRequest {
        idempotency_key: interaction.id.clone(),
        interaction: Some(interaction),
        ..Default::default()
    };
    let case = app.cases().open_case(by(ANA, open)).await.unwrap().into_inner().case.unwrap();
    let step = |node_id: &str, answer: u32| v1::StepGuideRequest {
        case_id: case.id.clone(),
        guide: "parcel-missing".into(),
        version: 0,
        node_id: node_id.into(),
        answer,
    };
    let started = app.cases().step_guide(by(ANA, step("", 0))).await.unwrap().into_inner();
    assert_eq!((started.version, started.node.as_ref().unwrap().id.as_str(), started.done), (2, "tracking", false));
    let end = app.cases().step_guide(by(ANA, step("tracking", 0))).await.unwrap().into_inner();
    let refund = end.node.unwrap();
    assert!(end.done);
    assert_eq!(
        (refund.suggest_tag.as_str(), refund.suggest_reply.as_str()),
        ("refund", "We're sorry: a refund is on its way.")
    );
    let error = app.cases().step_guide(by(ANA, step("tracking", 5))).await.unwrap_err();
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(error.message().contains("`answer`"), "{error:?}");

    let request = v1::ListCaseTimelineRequest { case_id: case.id.clone(), ..Default::default() };
    let entries = app.cases().list_case_timeline(by(ANA, request)).await.unwrap().into_inner().entries;
    let steps: Vec<_> = entries
        .iter()
        .filter(|entry| entry.kind() == v1::CaseTimelineKind::GuideStep)
        .map(|entry| (entry.text.as_str(), entry.reason.as_str(), entry.actor.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            ("started at tracking", "parcel-missing@2", "ana"),
            ("tracking: Delivered → refund", "parcel-missing@2", "ana")
        ]
    );
    app.stop().await;
}
