//! Clients for Tend's services, as the other services (and the CLI) call them.
//!
//! Each client has two faces with one API: [`CaseClient::local`] calls the service's
//! implementation directly when both run in one process (`tend dev`): no serialisation, no
//! loopback socket; [`CaseClient::remote`] calls it over gRPC when services are deployed apart,
//! sending a service API key, the tenant in `x-tend-tenant`, and the trace context.
//!
//! Every call names the tenant it acts for, so a service acting on an event acts for the event's
//! tenant and nothing else.

use std::sync::Arc;

use tend_kernel::TenantId;
use tend_kernel::auth::{Caller, TENANT_HEADER};
use tend_proto::v1;
use tonic::Status;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Channel, Endpoint};

/// How a remote client authenticates.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// An API key of role `service`; `None` when the server has authentication off.
    pub api_key: Option<String>,
}

/// Why a client could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The endpoint is not a valid URI.
    #[error("invalid endpoint {endpoint:?}: {source}")]
    Endpoint {
        /// The endpoint given.
        endpoint: String,
        /// Why.
        source: tonic::transport::Error,
    },
    /// The API key cannot be sent as a header.
    #[error("the API key contains characters that cannot be sent in a header")]
    InvalidKey,
}

/// A lazily connected channel to `endpoint` (e.g. `http://tend-cases:50051`): the first call
/// connects, and a failed connection is retried on the next call.
pub fn channel(endpoint: &str) -> Result<Channel, Error> {
    let endpoint = Endpoint::from_shared(endpoint.to_owned())
        .map_err(|source| Error::Endpoint { endpoint: endpoint.to_owned(), source })?
        .connect_timeout(std::time::Duration::from_secs(5))
        .tcp_keepalive(Some(std::time::Duration::from_secs(30)));
    Ok(endpoint.connect_lazy())
}

/// What remote calls put into every request's metadata.
#[derive(Debug, Clone)]
struct RemoteAuth {
    authorization: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl RemoteAuth {
    fn new(credentials: &Credentials) -> Result<Self, Error> {
        let authorization = credentials
            .api_key
            .as_ref()
            .map(|key| format!("Bearer {key}").parse().map_err(|_| Error::InvalidKey))
            .transpose()?;
        Ok(Self { authorization })
    }

    fn request<T>(&self, tenant: &TenantId, message: T) -> Result<tonic::Request<T>, Status> {
        let mut request = tonic::Request::new(message);
        let mut trace_headers = http::HeaderMap::new();
        tend_kernel::telemetry::inject_into_headers(&mut trace_headers);
        let metadata = request.metadata_mut();
        for (name, value) in &trace_headers {
            let key = MetadataKey::from_bytes(name.as_str().as_bytes());
            let value = MetadataValue::try_from(value.as_bytes());
            if let (Ok(key), Ok(value)) = (key, value) {
                metadata.insert(key, value);
            }
        }
        if let Some(authorization) = &self.authorization {
            metadata.insert("authorization", authorization.clone());
        }
        // A TenantId is lowercase ASCII by construction, so it is always a valid header value.
        if let Ok(tenant) = tenant.as_str().parse() {
            metadata.insert(TENANT_HEADER, tenant);
        }
        Ok(request)
    }
}

fn local_request<T>(tenant: &TenantId, actor: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.extensions_mut().insert(Caller::service(tenant.clone(), actor));
    request
}

/// Declares a client with a local and a remote face for one service.
macro_rules! service_client {
    (
        $(#[$doc:meta])*
        $client:ident, $server_trait:path, $grpc_client:path {
            $( $(#[$method_doc:meta])* $method:ident($request:ty) -> $response:ty; )*
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $client {
            face: Face<dyn $server_trait, $grpc_client>,
            actor: &'static str,
        }

        impl $client {
            /// Calls `service` in this process; `actor` names the calling service in audit logs.
            pub fn local(service: Arc<dyn $server_trait>, actor: &'static str) -> Self {
                Self { face: Face::Local(service), actor }
            }

            /// Calls the service over gRPC at `endpoint`, with `credentials`.
            pub fn remote(endpoint: &str, credentials: &Credentials, actor: &'static str) -> Result<Self, Error> {
                let client = <$grpc_client>::new(channel(endpoint)?);
                Ok(Self { face: Face::Remote(client, RemoteAuth::new(credentials)?), actor })
            }

            $(
                $(#[$method_doc])*
                pub async fn $method(&self, tenant: &TenantId, request: $request) -> Result<$response, Status> {
                    match &self.face {
                        Face::Local(service) => {
                            service.$method(local_request(tenant, self.actor, request)).await.map(tonic::Response::into_inner)
                        }
                        Face::Remote(client, auth) => {
                            let mut client = client.clone();
                            client.$method(auth.request(tenant, request)?).await.map(tonic::Response::into_inner)
                        }
                    }
                }
            )*
        }
    };
}

/// The two ways to reach a service.
enum Face<Local: ?Sized, Remote> {
    Local(Arc<Local>),
    Remote(Remote, RemoteAuth),
}

// Derived Clone would demand `Local: Clone`; only the Arc is cloned.
impl<Local: ?Sized, Remote: Clone> Clone for Face<Local, Remote> {
    fn clone(&self) -> Self {
        match self {
            Face::Local(service) => Face::Local(service.clone()),
            Face::Remote(client, auth) => Face::Remote(client.clone(), auth.clone()),
        }
    }
}

type GrpcCases = v1::case_service_client::CaseServiceClient<Channel>;
type GrpcIngest = v1::ingest_service_client::IngestServiceClient<Channel>;
type GrpcIdentity = v1::identity_service_client::IdentityServiceClient<Channel>;
type GrpcRouting = v1::routing_service_client::RoutingServiceClient<Channel>;
type GrpcFeedback = v1::feedback_service_client::FeedbackServiceClient<Channel>;

service_client! {
    /// A client of the cases service.
    CaseClient, v1::case_service_server::CaseService, GrpcCases {
        /// Opens a case (idempotent on the request's key).
        open_case(v1::OpenCaseRequest) -> v1::OpenCaseResponse;
        /// Opens several cases in one call (each idempotent on its key).
        open_cases(v1::OpenCasesRequest) -> v1::OpenCasesResponse;
        /// Reads one case.
        get_case(v1::GetCaseRequest) -> v1::Case;
        /// Lists cases.
        list_cases(v1::ListCasesRequest) -> v1::ListCasesResponse;
        /// Resolves a case.
        resolve_case(v1::ResolveCaseRequest) -> v1::Case;
    }
}

service_client! {
    /// A client of the ingest service.
    IngestClient, v1::ingest_service_server::IngestService, GrpcIngest {
        /// Ingests one post.
        ingest_interaction(v1::IngestInteractionRequest) -> v1::IngestInteractionResponse;
        /// Reads one interaction.
        get_interaction(v1::GetInteractionRequest) -> v1::Interaction;
    }
}

service_client! {
    /// A client of the identity service.
    IdentityClient, v1::identity_service_server::IdentityService, GrpcIdentity {
        /// Reads one profile.
        get_profile(v1::GetProfileRequest) -> v1::Profile;
    }
}

service_client! {
    /// A client of the routing service.
    RoutingClient, v1::routing_service_server::RoutingService, GrpcRouting {
        /// Reads the decision for one interaction.
        get_routing_decision(v1::GetRoutingDecisionRequest) -> v1::RoutingDecision;
    }
}

service_client! {
    /// A client of the feedback service.
    FeedbackClient, v1::feedback_service_server::FeedbackService, GrpcFeedback {
        /// Reads a service report.
        get_service_report(v1::GetServiceReportRequest) -> v1::ServiceReport;
    }
}
