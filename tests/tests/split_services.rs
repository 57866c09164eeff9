//! Services deployed apart: cases runs in one server, the other four in another, on one
//! PostgreSQL database and one Redis, with authentication on. Routing reaches cases through the
//! gRPC client with a `service` key, acting for each event's tenant.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use tend::ServiceName;
use tend_kernel::Role;
use tend_kernel::auth::ApiKeyConfig;
use tend_proto::v1;
use tend_tests::{Backend, TestApp, post, routed_with};

const SERVICE_KEY: &str = "internal-service-key-0001";
const ACME_KEY: &str = "acme-agent-key-000000001";

fn keys() -> Vec<ApiKeyConfig> {
    vec![
        ApiKeyConfig::plain("services", SERVICE_KEY, None, Role::Service),
        ApiKeyConfig::plain("acme agents", ACME_KEY, Some("acme"), Role::Agent),
    ]
}

fn with_key<T>(key: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert("authorization", format!("Bearer {key}").parse().unwrap());
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_opens_cases_in_another_process_over_grpc() {
    let cases =
        TestApp::spawn_with(Backend::PostgresRedis, &[ServiceName::Cases], |config| config.auth.keys = keys()).await;

    let mut config = cases.config.clone();
    config.clients.cases = format!("http://{}", cases.addr);
    config.clients.api_key = SERVICE_KEY.into();
    let others = [ServiceName::Ingest, ServiceName::Identity, ServiceName::Routing, ServiceName::Feedback];
    let rest = TestApp::spawn_config(config, &others, tempfile::tempdir().unwrap(), None).await;

    let ingested =
        rest.ingest().ingest_interaction(with_key(ACME_KEY, post("ana", "where is my refund"))).await.unwrap();
    let interaction = ingested.into_inner().interaction.unwrap();
    let decision = routed_with(&rest, || {
        with_key(ACME_KEY, v1::GetRoutingDecisionRequest { interaction_id: interaction.id.clone() })
    })
    .await;

    // The case lives in the cases server, for the post's tenant.
    let case = cases.cases().get_case(with_key(ACME_KEY, v1::GetCaseRequest { id: decision.case_id })).await.unwrap();
    let case = case.into_inner();
    assert_eq!(case.tenant, "acme");
    assert_eq!(case.interaction_ids, vec![interaction.id]);
    // The other server does not serve cases.
    let status = rest.cases().list_cases(with_key(ACME_KEY, v1::ListCasesRequest::default())).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);

    rest.stop().await;
    cases.stop().await;
}
