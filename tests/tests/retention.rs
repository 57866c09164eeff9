//! Retention: posts older than their tenant's `[retention]` are anonymised by ingest's job
//! (text, author, link gone; the row and its id stay), other tenants' posts are kept, and the
//! job goes on with posts as they expire, on both backends.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use tend::app::ServiceName;
use tend_proto::v1;
use tend_store::retention::TenantRetention;
use tend_tests::{Backend, TestApp, as_tenant, eventually, post};

const DAY: Duration = Duration::from_secs(86_400);

async fn text_of(app: &TestApp, tenant: &str, id: &str) -> v1::Interaction {
    let request = as_tenant(tenant, v1::GetInteractionRequest { id: id.to_owned() });
    app.ingest().get_interaction(request).await.unwrap().into_inner()
}

async fn ingest(app: &TestApp, tenant: &str, text: &str) -> String {
    let response = app.ingest().ingest_interaction(as_tenant(tenant, post("ana", text))).await.unwrap();
    response.into_inner().interaction.unwrap().id
}

async fn posts_past_their_tenants_retention_are_anonymised(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[ServiceName::Ingest], |config| {
        config.retention.tenants.insert("acme".into(), TenantRetention { interactions: 30 * DAY });
        config.retention.every = Duration::from_secs(1);
    })
    .await;
    let old = ingest(&app, "acme", "my parcel never came").await;
    let globex = ingest(&app, "globex", "my parcel never came either").await;

    app.clock.advance(31 * DAY);
    let recent = ingest(&app, "acme", "still waiting for my parcel").await;
    let anonymised = eventually("acme's old post anonymised", Duration::from_secs(20), || async {
        let interaction = text_of(&app, "acme", &old).await;
        (interaction.text == "[erased]").then_some(interaction)
    })
    .await;
    let author = anonymised.author.unwrap_or_default();
    assert_eq!((author.handle.as_str(), author.external_id.as_str()), ("", ""));
    assert_eq!(text_of(&app, "acme", &recent).await.text, "still waiting for my parcel");
    assert_eq!(text_of(&app, "globex", &globex).await.text, "my parcel never came either", "globex keeps for ever");

    // The next post expires in its turn.
    app.clock.advance(31 * DAY);
    eventually("acme's next post anonymised", Duration::from_secs(20), || async {
        (text_of(&app, "acme", &recent).await.text == "[erased]").then_some(())
    })
    .await;
    app.stop().await;
}

tend_tests::on_both_backends!(posts_past_their_tenants_retention_are_anonymised);
