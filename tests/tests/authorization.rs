//! The authorization matrix: every RPC of every service, enumerated from the descriptor set (a
//! new RPC is covered the day it is added, and fails here until its access is declared below),
//! called with no key, an unknown key, each role, a service key without a tenant, and a
//! foreign tenant's key with the first tenant's ids.
//!
//! - no key or an unknown key: UNAUTHENTICATED;
//! - a role without the access the RPC needs: PERMISSION_DENIED, before anything else is
//!   looked at (a `website` key has public access only, which every role has);
//! - a role with it: anything but UNAUTHENTICATED, PERMISSION_DENIED, INTERNAL, UNKNOWN or
//!   UNIMPLEMENTED (an empty request is usually INVALID_ARGUMENT);
//! - globex's admin calling with acme's ids (every top-level `id` / `…_id` / `…_ids` field):
//!   the same code as with a random id, and not a byte of acme's data in the answer; acme's
//!   data is unchanged afterwards.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::Duration;

use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};
use tend::app::ServiceName;
use tend_kernel::auth::{ApiKeyConfig, Role, TENANT_HEADER};
use tend_proto::v1;
use tend_tests::raw::{self, Streaming};
use tend_tests::{Backend, TestApp, post, routed_with, with_key};
use tonic::Code;

use Access::{Admin, Public, Read, Write};

/// What an RPC needs, as its handler checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// A tenant's public website (published testimonials, survey pages with a link's token):
    /// every role.
    Public,
    Read,
    Write,
    Admin,
}

/// Every RPC and the access it needs: the specification the servers are held to.
const ACCESS: &[(&str, Access)] = &[
    ("CaseService/WatchCases", Read),
    ("CaseService/OpenCase", Write),
    ("CaseService/OpenCases", Write),
    ("CaseService/GetCase", Read),
    ("CaseService/ListCases", Read),
    ("CaseService/SearchCases", Read),
    ("CaseService/AssignCase", Write),
    ("CaseService/TransitionCase", Write),
    ("CaseService/ResolveCase", Write),
    ("CaseService/SetCasePriority", Write),
    ("CaseService/TagCase", Write),
    ("CaseService/AddCaseNote", Write),
    ("CaseService/ReplyToCase", Write),
    ("CaseService/ListCaseReplies", Read),
    ("CaseService/ListCaseTimeline", Read),
    ("CaseService/ListCustomerTimeline", Read),
    ("CaseService/PromiseFollowUp", Write),
    ("CaseService/KeepPromise", Write),
    ("CaseService/ReleasePromise", Write),
    ("CaseService/ListPromises", Read),
    ("CaseService/UpsertDepartment", Admin),
    ("CaseService/ListDepartments", Read),
    ("CaseService/EscalateToDepartment", Write),
    ("CaseService/AnswerEscalation", Write),
    ("CaseService/ListEscalations", Read),
    ("CaseService/RecordRetentionOutcome", Write),
    ("CaseService/PutGuide", Admin),
    ("CaseService/GetGuide", Read),
    ("CaseService/ListGuides", Read),
    ("CaseService/StepGuide", Write),
    ("CaseService/ExportSubjectData", Admin),
    ("CaseService/OpenIncident", Write),
    ("CaseService/GetIncident", Read),
    ("CaseService/ListIncidents", Read),
    ("CaseService/UpdateIncident", Write),
    ("CaseService/AddToIncident", Write),
    ("CaseService/RemoveFromIncident", Write),
    ("CaseService/MergeIncidents", Write),
    ("CaseService/ListIncidentMembers", Read),
    ("CaseService/AnswerIncident", Write),
    ("CaseService/GetIncidentAnswer", Read),
    ("CaseService/ResolveIncident", Write),
    ("ChannelService/UpsertApp", Admin),
    ("ChannelService/UpsertAccount", Admin),
    ("ChannelService/DisableAccount", Admin),
    ("ChannelService/GetChannel", Read),
    ("ChannelService/ListChannels", Read),
    ("ChannelService/GetReplyDelivery", Read),
    ("EnrichmentService/Enrich", Read),
    ("EnrichmentService/TrainClassifier", Admin),
    ("EnrichmentService/EvaluateClassifier", Read),
    ("EnrichmentService/ActivateClassifier", Admin),
    ("EnrichmentService/ListClassifiers", Read),
    ("EnrichmentService/PutTopics", Admin),
    ("EnrichmentService/GetTopics", Read),
    ("FeedbackService/GetServiceReport", Read),
    ("FeedbackService/ListTestimonialCandidates", Read),
    ("FeedbackService/ExportSubjectData", Admin),
    ("FeedbackService/PutSurveyTemplate", Admin),
    ("FeedbackService/GetSurveyTemplate", Read),
    ("FeedbackService/ListSurveyTemplates", Read),
    ("FeedbackService/DeleteSurveyTemplate", Admin),
    ("FeedbackService/SetSurveyOptOut", Write),
    ("FeedbackService/OpenSurvey", Public),
    ("FeedbackService/SubmitResponse", Public),
    ("FeedbackService/ListSurveyResponses", Read),
    ("FeedbackService/ListSurveys", Read),
    ("FeedbackService/GiveTestimonial", Public),
    ("FeedbackService/ProposeTestimonial", Write),
    ("FeedbackService/RecordTestimonialConsent", Write),
    ("FeedbackService/ModerateTestimonial", Write),
    ("FeedbackService/WithdrawTestimonial", Write),
    ("FeedbackService/ListTestimonials", Read),
    ("FeedbackService/ListPublishedTestimonials", Public),
    ("FeedbackService/CreateInitiative", Admin),
    ("FeedbackService/GetInitiative", Read),
    ("FeedbackService/ListInitiatives", Read),
    ("FeedbackService/UpdateInitiative", Admin),
    ("FeedbackService/DeleteInitiative", Admin),
    ("FeedbackService/GetInitiativeReport", Read),
    ("FeedbackService/ExportInsights", Admin),
    ("IdentityService/UpsertCustomer", Write),
    ("IdentityService/ImportCustomers", Write),
    ("IdentityService/GetCustomer", Read),
    ("IdentityService/ListCustomers", Read),
    ("IdentityService/LinkProfile", Write),
    ("IdentityService/UnlinkProfile", Write),
    ("IdentityService/ListLinkEvents", Read),
    ("IdentityService/MergeCustomers", Write),
    ("IdentityService/UndoMerge", Write),
    ("IdentityService/ForgetCustomer", Admin),
    ("IdentityService/SetNoticeOptOut", Write),
    ("IdentityService/ExportCustomerData", Admin),
    ("IdentityService/TrainMatcher", Admin),
    ("IdentityService/SetMatchThresholds", Admin),
    ("IdentityService/ListReviewQueue", Read),
    ("IdentityService/ConfirmCandidate", Write),
    ("IdentityService/RejectCandidate", Write),
    ("IdentityService/ExplainMatch", Read),
    ("IdentityService/GetProfile", Read),
    ("IdentityService/ListProfiles", Read),
    ("IngestService/IngestInteraction", Write),
    ("IngestService/IngestBatch", Write),
    ("IngestService/GetInteraction", Read),
    ("IngestService/ListInteractions", Read),
    ("IngestService/ExportSubjectData", Admin),
    ("QueueService/UpsertAgent", Admin),
    ("QueueService/GetAgent", Read),
    ("QueueService/ListAgents", Read),
    ("QueueService/SetPresence", Write),
    ("QueueService/UpsertTeam", Admin),
    ("QueueService/ListTeams", Read),
    ("QueueService/NextWork", Write),
    ("QueueService/WatchOffers", Read),
    ("QueueService/AcceptOffer", Write),
    ("QueueService/DeclineOffer", Write),
    ("QueueService/GetQueueStats", Read),
    ("QueueService/PutQueuePolicy", Admin),
    ("QueueService/ListQueuePolicies", Read),
    ("RoutingService/GetRoutingDecision", Read),
    ("RoutingService/ListRoutingDecisions", Read),
    ("RoutingService/ValidateRuleSet", Read),
    ("RoutingService/PutRuleSet", Admin),
    ("RoutingService/ActivateRuleSet", Admin),
    ("RoutingService/GetRuleSet", Read),
    ("RoutingService/ListRuleSetVersions", Read),
    ("RoutingService/SimulateRuleSet", Admin),
    ("RoutingService/PutSlaPolicy", Admin),
    ("RoutingService/ListSlaPolicies", Read),
    ("RoutingService/PutCalendar", Admin),
    ("RoutingService/ListCalendars", Read),
    ("RoutingService/ExportSubjectData", Admin),
    ("RoutingService/ListHotTopics", Read),
    ("RoutingService/PutEscalationThreshold", Admin),
    ("RoutingService/ListEscalationThresholds", Read),
    ("RoutingService/DeleteEscalationThreshold", Admin),
    ("RoutingService/ListClusters", Read),
    ("RoutingService/GetCluster", Read),
    ("RoutingService/GetTipSheet", Read),
    ("RoutingService/PutCareStandards", Admin),
];

const ACME_ADMIN: &str = "acme-admin-key-0001";
const ACME_AGENT: &str = "acme-agent-key-0001";
const ACME_VIEWER: &str = "acme-viewer-key-001";
const ACME_WEBSITE: &str = "acme-website-key-01";
const GLOBEX_ADMIN: &str = "globex-admin-key-01";
const SERVICE: &str = "internal-service-key";

/// A streamed answer is read for this long; a watch may send nothing.
const FIRST_MESSAGE_WAIT: Duration = Duration::from_millis(50);

/// An RPC as the descriptor set describes it.
struct Rpc {
    /// `Service/Method`, without the package.
    name: String,
    /// The request message.
    input: DescriptorProto,
    shape: Streaming,
}

impl Rpc {
    fn path(&self) -> String {
        format!("/tend.v1.{}", self.name)
    }

    fn access(&self) -> Access {
        ACCESS.iter().find(|(name, _)| *name == self.name).map(|(_, access)| *access).unwrap()
    }

    /// The request's top-level string fields that take an id: `(number, name)`.
    fn id_fields(&self) -> Vec<(u32, String)> {
        self.input
            .field
            .iter()
            .filter(|field| field.r#type() == Type::String)
            .filter(|field| {
                let name = field.name();
                name == "id" || name.ends_with("_id") || (name.ends_with("_ids") && field.label() == Label::Repeated)
            })
            .map(|field| (u32::try_from(field.number()).unwrap(), field.name().to_owned()))
            .collect()
    }
}

/// Every RPC of the `tend.v1` services.
fn rpcs() -> Vec<Rpc> {
    let set = FileDescriptorSet::decode(tend_proto::FILE_DESCRIPTOR_SET).unwrap();
    let messages: Vec<_> =
        set.file.iter().filter(|file| file.package() == "tend.v1").flat_map(|file| file.message_type.iter()).collect();
    let mut rpcs = Vec::new();
    for file in set.file.iter().filter(|file| file.package() == "tend.v1") {
        for service in &file.service {
            for method in &service.method {
                let input = method.input_type().trim_start_matches(".tend.v1.");
                let input = messages.iter().find(|message| message.name() == input).unwrap();
                rpcs.push(Rpc {
                    name: format!("{}/{}", service.name(), method.name()),
                    input: (*input).clone(),
                    shape: Streaming { client: method.client_streaming(), server: method.server_streaming() },
                });
            }
        }
    }
    rpcs
}

fn keys() -> Vec<ApiKeyConfig> {
    vec![
        ApiKeyConfig::plain("acme admin", ACME_ADMIN, Some("acme"), Role::Admin),
        ApiKeyConfig::plain("acme agent", ACME_AGENT, Some("acme"), Role::Agent),
        ApiKeyConfig::plain("acme viewer", ACME_VIEWER, Some("acme"), Role::Viewer),
        ApiKeyConfig::plain("acme website", ACME_WEBSITE, Some("acme"), Role::Website),
        ApiKeyConfig::plain("globex admin", GLOBEX_ADMIN, Some("globex"), Role::Admin),
        ApiKeyConfig::plain("services", SERVICE, None, Role::Service),
    ]
}

/// A request of `bytes`, with `authorization` when a key is given and `x-tend-tenant` when a
/// tenant is.
fn request(bytes: Vec<u8>, key: Option<&str>, tenant: Option<&str>) -> tonic::Request<Vec<u8>> {
    let mut request = match key {
        Some(key) => with_key(key, bytes),
        None => tonic::Request::new(bytes),
    };
    if let Some(tenant) = tenant {
        request.metadata_mut().insert(TENANT_HEADER, tenant.parse().unwrap());
    }
    request
}

async fn call(app: &TestApp, rpc: &Rpc, request: tonic::Request<Vec<u8>>) -> Result<Vec<u8>, tonic::Status> {
    raw::call(app.channel(), &rpc.path(), rpc.shape, request, FIRST_MESSAGE_WAIT).await
}

/// A code that says the server worked on the request.
fn served(code: Code) -> bool {
    !matches!(
        code,
        Code::Unauthenticated | Code::PermissionDenied | Code::Internal | Code::Unknown | Code::Unimplemented
    )
}

fn code_of(result: &Result<Vec<u8>, tonic::Status>) -> Code {
    result.as_ref().map_or_else(tonic::Status::code, |_| Code::Ok)
}

#[test]
fn every_rpc_has_its_access_declared() {
    let served: BTreeSet<_> = rpcs().into_iter().map(|rpc| rpc.name).collect();
    let declared: BTreeSet<_> = ACCESS.iter().map(|(name, _)| (*name).to_owned()).collect();
    let undeclared: Vec<_> = served.difference(&declared).collect();
    let gone: Vec<_> = declared.difference(&served).collect();
    assert!(undeclared.is_empty(), "declare the access of {undeclared:?} in ACCESS");
    assert!(gone.is_empty(), "ACCESS names RPCs that no longer exist: {gone:?}");
}

async fn credentials_and_roles(backend: Backend) {
    let app = TestApp::spawn_with(backend, &ServiceName::ALL, |config| config.auth.keys = keys()).await;
    let mut failures = Vec::new();
    for rpc in rpcs() {
        let empty = || Vec::new();
        let mut expect = |what: &str, result: Result<Vec<u8>, tonic::Status>, ok: &dyn Fn(Code) -> bool| {
            let code = code_of(&result);
            if !ok(code) {
                let message = result.err().map(|status| status.message().to_owned()).unwrap_or_default();
                failures.push(format!("{} {what}: {code:?} {message}", rpc.name));
            }
        };
        expect("without a key", call(&app, &rpc, request(empty(), None, Some("acme"))).await, &|code| {
            code == Code::Unauthenticated
        });
        expect(
            "with an unknown key",
            call(&app, &rpc, request(empty(), Some("no-such-key-000000"), None)).await,
            &|c| c == Code::Unauthenticated,
        );
        expect(
            "with a service key and no tenant",
            call(&app, &rpc, request(empty(), Some(SERVICE), None)).await,
            &|c| c == Code::InvalidArgument,
        );
        for (key, role) in [
            (ACME_WEBSITE, Role::Website),
            (ACME_VIEWER, Role::Viewer),
            (ACME_AGENT, Role::Agent),
            (ACME_ADMIN, Role::Admin),
        ] {
            let allowed = match rpc.access() {
                Public => true,
                _ if role == Role::Website => false,
                Read => true,
                Write => role != Role::Viewer,
                Admin => role == Role::Admin,
            };
            let result = call(&app, &rpc, request(empty(), Some(key), None)).await;
            if allowed {
                expect(&format!("as {role:?}"), result, &served);
            } else {
                expect(&format!("as {role:?}"), result, &|code| code == Code::PermissionDenied);
            }
        }
        let result = call(&app, &rpc, request(empty(), Some(SERVICE), Some("acme"))).await;
        if rpc.access() == Admin {
            expect("as a service", result, &|code| code == Code::PermissionDenied);
        } else {
            expect("as a service", result, &served);
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    app.stop().await;
}

/// Acme's data: ids of every kind a request can name, and text that must never reach globex.
struct AcmeData {
    ids: Vec<String>,
    secrets: Vec<String>,
}

async fn plant_acme_data(app: &TestApp) -> AcmeData {
    let secret_text = format!("SECRET-ACME-{}", uuid::Uuid::new_v4().simple());
    let secret_name = format!("Zelda{}", uuid::Uuid::new_v4().simple());
    let mut ingest = app.ingest();
    let interaction = ingest
        .ingest_interaction(with_key(ACME_ADMIN, post("zelda", &format!("{secret_text} my order never came"))))
        .await
        .unwrap()
        .into_inner()
        .interaction
        .unwrap();
    let decision = routed_with(app, || {
        with_key(ACME_ADMIN, v1::GetRoutingDecisionRequest { interaction_id: interaction.id.clone() })
    })
    .await;
    let case = app
        .cases()
        .get_case(with_key(ACME_ADMIN, v1::GetCaseRequest { id: decision.case_id.clone() }))
        .await
        .unwrap()
        .into_inner();
    let customer = app
        .identity()
        .upsert_customer(with_key(
            ACME_ADMIN,
            v1::UpsertCustomerRequest {
                customer: Some(v1::CustomerInput {
                    crm_id: format!("crm-{}", uuid::Uuid::new_v4().simple()),
                    given_name: secret_name.clone(),
                    emails: vec![format!("{}@example.com", secret_name.to_lowercase())],
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .customer
        .unwrap();
    let ids = [interaction.id.clone(), case.id.clone(), case.profile_id.clone(), customer.id.clone()];
    AcmeData { ids: ids.into_iter().filter(|id| !id.is_empty()).collect(), secrets: vec![secret_text, secret_name] }
}

/// What acme can read of its own data, to compare before and after globex's calls.
async fn acme_view(app: &TestApp, data: &AcmeData) -> Vec<u8> {
    let mut view = Vec::new();
    let cases = app.cases().list_cases(with_key(ACME_ADMIN, v1::ListCasesRequest::default())).await.unwrap();
    view.extend(cases.into_inner().encode_to_vec());
    let customers =
        app.identity().list_customers(with_key(ACME_ADMIN, v1::ListCustomersRequest::default())).await.unwrap();
    view.extend(customers.into_inner().encode_to_vec());
    let interactions =
        app.ingest().list_interactions(with_key(ACME_ADMIN, v1::ListInteractionsRequest::default())).await.unwrap();
    view.extend(interactions.into_inner().encode_to_vec());
    assert!(data.secrets.iter().all(|secret| contains(&view, secret)), "acme's own view should hold its planted data");
    view
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle.as_bytes())
}

/// `bytes` with one string field `number` set to `value`.
fn with_field(number: u32, value: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    prost::encoding::string::encode(number, &value.to_owned(), &mut bytes);
    bytes
}

async fn a_foreign_tenant_never_sees_a_byte(backend: Backend) {
    let app = TestApp::spawn_with(backend, &ServiceName::ALL, |config| config.auth.keys = keys()).await;
    let acme = plant_acme_data(&app).await;
    let before = acme_view(&app, &acme).await;
    let mut failures = Vec::new();
    let mut calls = 0;
    for rpc in rpcs() {
        for (number, field) in rpc.id_fields() {
            let random = uuid::Uuid::now_v7().to_string();
            let baseline = call(&app, &rpc, request(with_field(number, &random), Some(GLOBEX_ADMIN), None)).await;
            for id in &acme.ids {
                calls += 1;
                let result = call(&app, &rpc, request(with_field(number, id), Some(GLOBEX_ADMIN), None)).await;
                let what = format!("{} {field}={id}", rpc.name);
                if code_of(&result) != code_of(&baseline) {
                    failures.push(format!(
                        "{what}: {:?} for acme's id, {:?} for a random one",
                        code_of(&result),
                        code_of(&baseline)
                    ));
                }
                let answer = match &result {
                    Ok(bytes) => bytes.clone(),
                    Err(status) => status.message().as_bytes().to_vec(),
                };
                let leaked: Vec<_> = acme
                    .secrets
                    .iter()
                    .chain(acme.ids.iter().filter(|other| *other != id))
                    .filter(|secret| contains(&answer, secret))
                    .collect();
                if !leaked.is_empty() {
                    failures.push(format!("{what}: the answer holds acme's {leaked:?}"));
                }
            }
        }
    }
    assert!(calls > 50, "only {calls} calls with acme's ids: are the id fields found?");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert!(acme_view(&app, &acme).await == before, "globex's calls changed acme's data");
    app.stop().await;
}

tend_tests::on_both_backends!(credentials_and_roles, a_foreign_tenant_never_sees_a_byte);
