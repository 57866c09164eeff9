//! What every service gets from the kernel's server, seen from outside: API keys (missing,
//! unknown, per tenant, per role, `service` keys and the `x-tend-tenant` header), health checks
//! and reflection without a key, the request size limit, and refusal of calls after shutdown.
//!
//! None of this depends on the storage backend, so it runs on the embedded one only.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::Duration;

use tend_tests::raw::{self, Streaming};

use tend::app::ServiceName;
use tend_kernel::auth::{ApiKeyConfig, Role, TENANT_HEADER};
use tend_proto::v1;
use tend_tests::{Backend, TestApp, as_tenant, eventually, post};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

const ACME_AGENT: &str = "acme-agent-key-0001";
const ACME_VIEWER: &str = "acme-viewer-key-001";
const GLOBEX_AGENT: &str = "globex-agent-key-01";
const SERVICE: &str = "internal-service-key";

const TEND_SERVICES: [&str; 7] = [
    "tend.v1.CaseService",
    "tend.v1.EnrichmentService",
    "tend.v1.FeedbackService",
    "tend.v1.IdentityService",
    "tend.v1.IngestService",
    "tend.v1.QueueService",
    "tend.v1.RoutingService",
];

/// The keys the tests configure: agents of acme and globex, a viewer of acme, a service key.
fn keys() -> Vec<ApiKeyConfig> {
    let key = |key: &str, tenant: Option<&str>, role| ApiKeyConfig::plain("", key, tenant, role);
    vec![
        key(ACME_AGENT, Some("acme"), Role::Agent),
        key(ACME_VIEWER, Some("acme"), Role::Viewer),
        key(GLOBEX_AGENT, Some("globex"), Role::Agent),
        key(SERVICE, None, Role::Service),
    ]
}

/// Starts `services` with authentication on.
async fn with_keys(services: &[ServiceName]) -> TestApp {
    TestApp::spawn_with(Backend::Embedded, services, |config| config.auth.keys = keys()).await
}

/// A request carrying `authorization: Bearer <key>` and, if given, `x-tend-tenant`.
fn with_key<T>(key: &str, tenant: Option<&str>, message: T) -> tonic::Request<T> {
    let mut request = match tenant {
        Some(tenant) => as_tenant(tenant, message),
        None => tonic::Request::new(message),
    };
    request.metadata_mut().insert("authorization", format!("Bearer {key}").parse().unwrap());
    request
}

fn list_request() -> v1::ListInteractionsRequest {
    v1::ListInteractionsRequest::default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_a_key_are_unauthenticated() {
    let app = with_keys(&[ServiceName::Ingest]).await;
    let status = app.ingest().list_interactions(tonic::Request::new(list_request())).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("authorization"), "{:?}", status.message());
    // Naming a tenant is no credential.
    let status = app.ingest().ingest_interaction(as_tenant("acme", post("ana", "hi"))).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    // Neither is a key sent in another scheme.
    let mut basic = tonic::Request::new(list_request());
    basic.metadata_mut().insert("authorization", format!("Basic {ACME_AGENT}").parse().unwrap());
    assert_eq!(app.ingest().list_interactions(basic).await.unwrap_err().code(), Code::Unauthenticated);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_key_is_unauthenticated() {
    let app = with_keys(&[ServiceName::Ingest]).await;
    for key in ["no-such-key-00000000", "", "acme-agent-key-000"] {
        let status = app.ingest().list_interactions(with_key(key, None, list_request())).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "key {key:?}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_key_sees_only_its_own_tenant() {
    let app = with_keys(&[ServiceName::Ingest]).await;
    let ingested = app.ingest().ingest_interaction(with_key(ACME_AGENT, None, post("ana", "hello"))).await;
    let interaction = ingested.unwrap().into_inner().interaction.unwrap();
    assert_eq!(interaction.tenant, "acme", "the key decides the tenant");

    let listed = app.ingest().list_interactions(with_key(ACME_AGENT, None, list_request())).await.unwrap();
    assert_eq!(listed.into_inner().interactions.len(), 1);
    // Naming its own tenant is fine.
    let listed = app.ingest().list_interactions(with_key(ACME_AGENT, Some("acme"), list_request())).await.unwrap();
    assert_eq!(listed.into_inner().interactions.len(), 1);

    let listed = app.ingest().list_interactions(with_key(GLOBEX_AGENT, None, list_request())).await.unwrap();
    assert!(listed.into_inner().interactions.is_empty());
    let get = v1::GetInteractionRequest { id: interaction.id.clone() };
    let status = app.ingest().get_interaction(with_key(GLOBEX_AGENT, None, get)).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    // A tenant key may not act for another tenant by naming it.
    let status = app.ingest().list_interactions(with_key(ACME_AGENT, Some("globex"), list_request())).await;
    let status = status.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("globex"), "{:?}", status.message());
    let status = app.ingest().ingest_interaction(with_key(GLOBEX_AGENT, Some("acme"), post("gus", "x"))).await;
    assert_eq!(status.unwrap_err().code(), Code::PermissionDenied);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_key_can_read_but_not_ingest() {
    let app = with_keys(&[ServiceName::Ingest]).await;
    app.ingest().ingest_interaction(with_key(ACME_AGENT, None, post("ana", "hello"))).await.unwrap();

    let listed = app.ingest().list_interactions(with_key(ACME_VIEWER, None, list_request())).await.unwrap();
    let listed = listed.into_inner().interactions;
    assert_eq!(listed.len(), 1);
    let get = v1::GetInteractionRequest { id: listed[0].id.clone() };
    assert!(app.ingest().get_interaction(with_key(ACME_VIEWER, None, get)).await.is_ok());

    let status = app.ingest().ingest_interaction(with_key(ACME_VIEWER, None, post("ana", "nope"))).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let batch = v1::IngestBatchRequest { interactions: vec![post("ana", "nope")] };
    let status = app.ingest().ingest_batch(with_key(ACME_VIEWER, None, batch)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let listed = app.ingest().list_interactions(with_key(ACME_AGENT, None, list_request())).await.unwrap();
    assert_eq!(listed.into_inner().interactions.len(), 1, "the viewer stored nothing");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_key_must_name_its_tenant() {
    let app = with_keys(&[ServiceName::Ingest]).await;
    let status = app.ingest().ingest_interaction(with_key(SERVICE, None, post("ana", "hello"))).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains(TENANT_HEADER), "{:?}", status.message());

    for tenant in ["globex", "acme"] {
        let ingested = app.ingest().ingest_interaction(with_key(SERVICE, Some(tenant), post("ana", "hello"))).await;
        assert_eq!(ingested.unwrap().into_inner().interaction.unwrap().tenant, tenant);
    }
    let listed = app.ingest().list_interactions(with_key(SERVICE, Some("globex"), list_request())).await.unwrap();
    assert_eq!(listed.into_inner().interactions.len(), 1);
    let listed = app.ingest().list_interactions(with_key(GLOBEX_AGENT, None, list_request())).await.unwrap();
    assert_eq!(listed.into_inner().interactions.len(), 1, "the service key wrote for globex");

    // A tenant header that is not a tenant id is refused.
    let mut request = with_key(SERVICE, None, list_request());
    request.metadata_mut().insert(TENANT_HEADER, "Not A Tenant".parse().unwrap());
    assert_eq!(app.ingest().list_interactions(request).await.unwrap_err().code(), Code::InvalidArgument);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keys_every_caller_acts_for_the_named_or_default_tenant() {
    let app = TestApp::spawn_with(Backend::Embedded, &[ServiceName::Ingest], |_| {}).await;
    let ingested = app.ingest().ingest_interaction(tonic::Request::new(post("ana", "hello"))).await.unwrap();
    assert_eq!(ingested.into_inner().interaction.unwrap().tenant, "default");
    let ingested = app.ingest().ingest_interaction(as_tenant("acme", post("ana", "hello"))).await.unwrap();
    assert_eq!(ingested.into_inner().interaction.unwrap().tenant, "acme");
    app.stop().await;
}

async fn health_of(app: &TestApp, service: &str) -> Result<HealthCheckResponse, tonic::Status> {
    let request = HealthCheckRequest { service: service.to_owned() };
    HealthClient::new(app.channel()).check(request).await.map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_needs_no_key_and_reports_the_services_that_run() {
    let app = with_keys(&[ServiceName::Ingest, ServiceName::Cases]).await;
    for service in ["", "tend.v1.IngestService", "tend.v1.CaseService"] {
        let health = health_of(&app, service).await.unwrap_or_else(|status| panic!("{service:?}: {status:?}"));
        assert_eq!(health.status(), ServingStatus::Serving, "{service:?}");
    }
    // Services that do not run in this process are unknown to its health service.
    for service in ["tend.v1.RoutingService", "tend.v1.IdentityService", "tend.v1.FeedbackService", "no.Such"] {
        let status = health_of(&app, service).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{service:?}");
    }
    app.stop().await;
}

/// The service names reflection v1 lists.
async fn reflected_services_v1(app: &TestApp) -> BTreeSet<String> {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut client = ServerReflectionClient::new(app.channel());
    let mut responses = client.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
    let response: ServerReflectionResponse = responses.message().await.unwrap().unwrap();
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => list.service.into_iter().map(|s| s.name).collect(),
        other => panic!("expected a list of services, got {other:?}"),
    }
}

/// The service names reflection v1alpha lists.
async fn reflected_services_v1alpha(app: &TestApp) -> BTreeSet<String> {
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1alpha::{ServerReflectionRequest, ServerReflectionResponse};

    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut client = ServerReflectionClient::new(app.channel());
    let mut responses = client.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
    let response: ServerReflectionResponse = responses.message().await.unwrap().unwrap();
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => list.service.into_iter().map(|s| s.name).collect(),
        other => panic!("expected a list of services, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_v1_and_v1alpha_list_every_service_without_a_key() {
    let app = TestApp::spawn_with(Backend::Embedded, &ServiceName::ALL, |config| config.auth.keys = keys()).await;
    for listed in [reflected_services_v1(&app).await, reflected_services_v1alpha(&app).await] {
        for service in TEND_SERVICES.iter().chain(&["grpc.health.v1.Health"]) {
            assert!(listed.contains(*service), "{service} missing from {listed:?}");
        }
    }
    app.stop().await;
}

/// Reflection should describe what this process serves: `tend serve ingest` should not offer
/// CaseService to grpcurl, which would then answer UNIMPLEMENTED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflection_lists_only_the_services_this_process_serves() {
    let app = TestApp::spawn_with(Backend::Embedded, &[ServiceName::Ingest], |_| {}).await;
    let listed = reflected_services_v1(&app).await;
    let tend: Vec<_> = listed.iter().filter(|name| name.starts_with("tend.")).collect();
    assert_eq!(tend, vec!["tend.v1.ChannelService", "tend.v1.EnrichmentService", "tend.v1.IngestService"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_max_request_bytes_is_refused() {
    let app =
        TestApp::spawn_with(Backend::Embedded, &[ServiceName::Ingest], |config| config.server.max_request_bytes = 2048)
            .await;
    let interactions: Vec<_> = (0..10).map(|n| post("ana", &format!("{n} {}", "x".repeat(300)))).collect();
    let batch = v1::IngestBatchRequest { interactions };
    assert!(prost::Message::encoded_len(&batch) > 2048);
    let status = app.ingest().ingest_batch(as_tenant("acme", batch)).await.unwrap_err();
    // RESOURCE_EXHAUSTED, as the docs say (tonic itself answers OUT_OF_RANGE).
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("2048"), "{:?}", status.message());

    let big_post = post("ana", &"y".repeat(3000));
    let status = app.ingest().ingest_interaction(as_tenant("acme", big_post)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");

    // Nothing was stored, and requests under the limit still work on the same connection.
    let small = app.ingest().ingest_interaction(as_tenant("acme", post("ana", "small"))).await.unwrap();
    assert!(!small.into_inner().duplicate);
    let listed = app.ingest().list_interactions(as_tenant("acme", v1::ListInteractionsRequest::default())).await;
    assert_eq!(listed.unwrap().into_inner().interactions.len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_once_the_server_has_shut_down() {
    let app = TestApp::spawn_with(Backend::Embedded, &[ServiceName::Ingest], |_| {}).await;
    let channel = app.channel();
    let addr = app.addr;
    let mut client = v1::ingest_service_client::IngestServiceClient::new(channel.clone());
    client.ingest_interaction(as_tenant("acme", post("ana", "before"))).await.unwrap();
    assert!(health_of(&app, "").await.is_ok());
    app.stop().await;

    // The connection that was open is gone, and no new one is accepted.
    let status = client.ingest_interaction(as_tenant("acme", post("ana", "after"))).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let status = HealthClient::new(channel).check(HealthCheckRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let connected = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap().connect().await;
    assert!(connected.is_err(), "a new connection to {addr} was accepted after shutdown");
}

const UNARY: Streaming = Streaming { client: false, server: false };

/// `message` encoded, with the bytes of `marker` (which it must contain once) replaced by bytes
/// that are not UTF-8.
fn with_invalid_utf8(message: &impl prost::Message, marker: &str) -> Vec<u8> {
    let mut bytes = message.encode_to_vec();
    let at = bytes.windows(marker.len()).position(|window| window == marker.as_bytes()).unwrap();
    bytes[at..at + marker.len()].fill(0xff);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_protobuf_is_invalid_argument() {
    let app = TestApp::spawn_with(Backend::Embedded, &[ServiceName::Ingest], |_| {}).await;
    let path = "/tend.v1.IngestService/IngestInteraction";
    let valid = prost::Message::encode_to_vec(&post("ana", "hello there"));
    let malformed = [
        ("invalid UTF-8 in a string", with_invalid_utf8(&post("ana", "MARKER"), "MARKER")),
        ("a truncated message", valid[..valid.len() - 3].to_vec()),
        // Field 1 (`channel`, a varint) sent as length-delimited.
        ("a wrong wire type", vec![0x0a, 0x01, 0x00]),
    ];
    for (what, bytes) in malformed {
        let status = raw::call(app.channel(), path, UNARY, as_tenant("acme", bytes), Duration::ZERO).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{what}: {status:?}");
        assert!(status.message().contains("not a valid protobuf message"), "{what}: {}", status.message());
    }
    // Nothing was stored.
    let listed = app.ingest().list_interactions(as_tenant("acme", v1::ListInteractionsRequest::default())).await;
    assert!(listed.unwrap().into_inner().interactions.is_empty());
    app.stop().await;
}

/// A client stream that breaks off: the caller learns which record failed and what was applied
/// before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_with_a_malformed_record_says_where_it_stopped() {
    let app = TestApp::spawn_with(Backend::Embedded, &[ServiceName::Identity], |_| {}).await;
    let record = |crm_id: &str| v1::ImportCustomersRequest {
        customer: Some(v1::CustomerInput {
            crm_id: crm_id.to_owned(),
            given_name: "Ana".to_owned(),
            ..Default::default()
        }),
    };
    let records = vec![
        prost::Message::encode_to_vec(&record("crm-1")),
        prost::Message::encode_to_vec(&record("crm-2")),
        with_invalid_utf8(&record("crm-MARKER"), "MARKER"),
        prost::Message::encode_to_vec(&record("crm-4")),
    ];
    let mut grpc = tonic::client::Grpc::new(app.channel());
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/tend.v1.IdentityService/ImportCustomers");
    let request = as_tenant("acme", tokio_stream::iter(records));
    let status = grpc.client_streaming(request, path, raw::RawCodec).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let message = status.message();
    assert!(message.contains("import stopped at record 3"), "{message}");
    assert!(message.contains("created 2"), "{message}");
    assert!(message.contains("send again from record 3"), "{message}");

    let listed = app.identity().list_customers(as_tenant("acme", v1::ListCustomersRequest::default())).await;
    let mut crm_ids: Vec<_> =
        listed.unwrap().into_inner().customers.into_iter().map(|c| c.original.unwrap().crm_id).collect();
    crm_ids.sort();
    assert_eq!(crm_ids, ["crm-1", "crm-2"]);
    app.stop().await;
}

/// An error about a huge input quotes a little of it: a message of megabytes would exceed the
/// client's metadata limit and reach it as a transport error instead of the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_quote_at_most_a_short_prefix_of_the_input() {
    let app = TestApp::spawn_with(Backend::Embedded, &[ServiceName::Identity], |_| {}).await;
    let huge_id = "c".repeat(3 * 1024 * 1024);
    let request = v1::GetCustomerRequest { id: huge_id };
    let status = app.identity().get_customer(as_tenant("acme", request)).await.unwrap_err();
    assert!(matches!(status.code(), Code::NotFound | Code::InvalidArgument), "{status:?}");
    assert!(status.message().len() <= 1024, "{} bytes", status.message().len());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = with_keys(&[ServiceName::Ingest]).await;
    for scheme in ["bearer", "BEARER"] {
        let mut request = tonic::Request::new(v1::ListInteractionsRequest::default());
        request.metadata_mut().insert("authorization", format!("{scheme} {ACME_AGENT}").parse().unwrap());
        let listed = app.ingest().list_interactions(request).await;
        assert!(listed.is_ok(), "{scheme}: {listed:?}");
    }
    app.stop().await;
}

/// Keys kept as digests in a keys file are rotated without a restart: a key added to the file
/// works within `auth.reload_every`, a key removed stops working, and a file that stops parsing
/// leaves the keys in force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_from_a_keys_file_rotate_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.toml");
    let (old_key, new_key) = (tend_kernel::auth::generate_key(), tend_kernel::auth::generate_key());
    let entry = |name: &str, key: &str| {
        format!(
            "[[keys]]\nname = \"{name}\"\nsha256 = \"{}\"\ntenant = \"acme\"\nrole = \"agent\"\n",
            tend_kernel::auth::digest_hex(key)
        )
    };
    std::fs::write(&path, entry("old", &old_key)).unwrap();
    let app = TestApp::spawn_with(Backend::Embedded, &[ServiceName::Ingest], |config| {
        config.auth.keys_file = path.display().to_string();
        config.auth.reload_every = Duration::from_millis(50);
    })
    .await;
    let lists = |key: String| {
        let mut client = app.ingest();
        async move { client.list_interactions(with_key(&key, None, list_request())).await.map(drop) }
    };
    lists(old_key.clone()).await.unwrap();
    assert_eq!(lists(new_key.clone()).await.unwrap_err().code(), Code::Unauthenticated);

    // Rotation: both keys for a while, then only the new one.
    std::fs::write(&path, entry("old", &old_key) + &entry("new", &new_key)).unwrap();
    eventually("the new key works", Duration::from_secs(10), || async { lists(new_key.clone()).await.ok() }).await;
    lists(old_key.clone()).await.unwrap();
    std::fs::write(&path, entry("new", &new_key)).unwrap();
    eventually("the old key is refused", Duration::from_secs(10), || async {
        lists(old_key.clone()).await.err().filter(|status| status.code() == Code::Unauthenticated)
    })
    .await;

    // A broken file is not a lock-out.
    std::fs::write(&path, "[[keys]]\nthis is not toml").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    lists(new_key.clone()).await.unwrap();

    // The digest is not a key.
    let digest = tend_kernel::auth::digest_hex(&new_key);
    assert_eq!(lists(digest).await.unwrap_err().code(), Code::Unauthenticated);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_rate_limit_is_told_when_to_retry() {
    let app = TestApp::spawn_with(Backend::Embedded, &[ServiceName::Ingest], |config| {
        config.auth.keys = keys();
        config.auth.rate_limits.per_key = 1;
        config.auth.rate_limits.per_key_burst = 3;
    })
    .await;
    let mut ingest = app.ingest();
    for _ in 0..3 {
        ingest.list_interactions(with_key(ACME_AGENT, None, list_request())).await.unwrap();
    }
    let status = ingest.list_interactions(with_key(ACME_AGENT, None, list_request())).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("retry in"), "{}", status.message());
    let wait = status.metadata().get("retry-after-ms").unwrap().to_str().unwrap().parse::<u64>().unwrap();
    assert!((1..=1_000).contains(&wait), "{wait}");
    // Another key of the same tenant has a bucket of its own.
    ingest.list_interactions(with_key(ACME_VIEWER, None, list_request())).await.unwrap();
    app.stop().await;
}
