//! Insights end to end: a CRM customer's segment and value travel from identity through routing
//! to feedback with their post, come out of `ExportInsights` over gRPC, and leave it when
//! identity forgets the customer.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use tend_kernel::ids::to_timestamp;
use tend_proto::v1;
use tend_tests::{Backend, TestApp, as_tenant, eventually, post, routed};

tend_tests::on_both_backends!(a_customer_record_carries_the_crm_data_until_the_customer_is_forgotten);

const WAIT: Duration = Duration::from_secs(20);

/// The per-customer records of acme over the last hour.
async fn customers(app: &TestApp) -> Vec<v1::CustomerInsight> {
    let now = chrono::Utc::now();
    let request = v1::ExportInsightsRequest {
        since: Some(to_timestamp(now - chrono::Duration::hours(1))),
        until: Some(to_timestamp(now + chrono::Duration::minutes(1))),
        by: v1::InsightGrouping::Customer as i32,
    };
    let mut stream = app.feedback().export_insights(as_tenant("acme", request)).await.unwrap().into_inner();
    let mut records = Vec::new();
    while let Some(message) = stream.message().await.unwrap() {
        match message.record {
            Some(v1::export_insights_response::Record::Customer(customer)) => records.push(customer),
            other => panic!("not a customer record: {other:?}"),
        }
    }
    records
}

async fn a_customer_record_carries_the_crm_data_until_the_customer_is_forgotten(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let kim = v1::CustomerInput {
        crm_id: "CRM-KIM".into(),
        handles: vec![v1::KnownHandle { channel: v1::Channel::X.into(), handle: "@kim".into() }],
        segment: "enterprise".into(),
        lifetime_value: 4_200.5,
        ..Default::default()
    };
    let request = as_tenant("acme", v1::UpsertCustomerRequest { customer: Some(kim) });
    let customer = app.identity().upsert_customer(request).await.unwrap().into_inner().customer.unwrap();
    let interaction = app
        .ingest()
        .ingest_interaction(as_tenant("acme", post("kim", "I'm thinking of switching to another bank, 3rd outage")))
        .await
        .unwrap()
        .into_inner()
        .interaction
        .unwrap();
    routed(&app, "acme", &interaction.id).await;

    let record = eventually("kim's record", WAIT, || async {
        customers(&app).await.into_iter().find(|record| record.customer_id == customer.id)
    })
    .await;
    assert_eq!((record.segment.as_str(), record.lifetime_value), ("enterprise", 4_200.5));
    assert_eq!((record.posts, record.churn_risk_posts), (1, 1));
    assert!(record.sentiment.unwrap().rated <= 1);

    let forget = v1::ForgetCustomerRequest { customer_id: customer.id.clone(), reason: "GDPR request 2026-120".into() };
    app.identity().forget_customer(as_tenant("acme", forget)).await.unwrap();
    eventually("kim gone from the export", WAIT, || async {
        customers(&app).await.iter().all(|record| record.customer_id != customer.id).then_some(())
    })
    .await;
    app.stop().await;
}
