//! Clients for Tend's services, as the other services (and the CLI) call them.
//!
//! Each client has two faces with one API: [`CaseClient::local`] calls the service's
//! implementation directly when both run in one process (`tend dev`): no serialisation, no
//! loopback socket; [`CaseClient::remote`] calls it over gRPC when services are deployed apart,
//! sending a service API key, the tenant in `x-tend-tenant`, and the trace context.
//!
//! Every call names the tenant it acts for, so a service acting on an event acts for the event's
//! tenant and nothing else.
//!
//! A few calls are made *on behalf of* the person who asked (a subject access export): they take
//! an [`OnBehalfOf`] instead of a tenant, and the called service sees that person's caller
//! (in process) or credential (over gRPC), so it checks the person's rights, not the calling
//! service's. See [`export`].
//!
//! [`Connection`] is the plain gRPC face for programs outside the services (the CLI, the load
//! generator, tests): the generated clients of every service over one channel, each call
//! carrying the API key, the tenant and the trace context.

pub mod export;

use std::sync::Arc;

use tend_kernel::TenantId;
use tend_kernel::auth::{Caller, TENANT_HEADER, caller};
use tend_proto::v1;
use tonic::Status;
use tonic::metadata::{MetadataKey, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// How a remote client authenticates.
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    /// An API key of role `service`; `None` when the server has authentication off.
    pub api_key: Option<String>,
    /// TLS to the server (an `https://` endpoint); `None` for plain text.
    pub tls: Option<ClientTls>,
}

/// TLS to a server: the CA its certificate is checked against, and for mutual TLS this
/// client's own certificate and key. PEM files, read when the client is made.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// CA certificates (PEM) that signed the server's certificate.
    pub ca_file: std::path::PathBuf,
    /// This client's certificate chain (PEM), for a server that asks for one (mutual TLS).
    pub cert_file: Option<std::path::PathBuf>,
    /// Its private key (PEM).
    pub key_file: Option<std::path::PathBuf>,
}

impl ClientTls {
    /// The tonic TLS settings these files make.
    fn config(&self) -> Result<ClientTlsConfig, Error> {
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|source| Error::TlsFile { path: path.display().to_string(), source })
        };
        let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(&self.ca_file)?));
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => config = config.identity(Identity::from_pem(read(cert)?, read(key)?)),
            (None, None) => {}
            _ => return Err(Error::TlsIdentity),
        }
        Ok(config)
    }
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
    /// The tenant cannot be sent as a header.
    #[error("the tenant contains characters that cannot be sent in a header")]
    InvalidTenant,
    /// A TLS file could not be read.
    #[error("cannot read {path}: {source}")]
    TlsFile {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A client certificate without its key, or the other way round.
    #[error("a client certificate and its key go together: give both or neither")]
    TlsIdentity,
}

/// A lazily connected channel to `endpoint` (e.g. `http://tend-cases:50051`, or `https://…`
/// with `tls`): the first call connects, and a failed connection is retried on the next call.
pub fn channel(endpoint: &str, tls: Option<&ClientTls>) -> Result<Channel, Error> {
    Ok(endpoint_of(endpoint, tls)?.connect_lazy())
}

/// The endpoint settings every client uses: connect and keep-alive timeouts, and TLS when given.
pub fn endpoint_of(endpoint: &str, tls: Option<&ClientTls>) -> Result<Endpoint, Error> {
    let invalid = |source| Error::Endpoint { endpoint: endpoint.to_owned(), source };
    let mut built = Endpoint::from_shared(endpoint.to_owned())
        .map_err(invalid)?
        .connect_timeout(std::time::Duration::from_secs(5))
        .tcp_keepalive(Some(std::time::Duration::from_secs(30)));
    if let Some(tls) = tls {
        built = built.tls_config(tls.config()?).map_err(invalid)?;
    }
    Ok(built)
}

/// What remote calls put into every request's metadata: the trace context, the API key and,
/// when set, the tenant. A header the caller set on the request itself is left as it is.
#[derive(Debug, Clone)]
pub struct CallMetadata {
    authorization: Option<MetadataValue<tonic::metadata::Ascii>>,
    tenant: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl CallMetadata {
    /// Metadata with `credentials` and, if given, the tenant to act for (which a `service` key
    /// needs; other keys imply their tenant).
    pub fn new(credentials: &Credentials, tenant: Option<&str>) -> Result<Self, Error> {
        let authorization = credentials
            .api_key
            .as_ref()
            .map(|key| format!("Bearer {key}").parse().map_err(|_| Error::InvalidKey))
            .transpose()?;
        let tenant = tenant.map(|tenant| tenant.parse().map_err(|_| Error::InvalidTenant)).transpose()?;
        Ok(Self { authorization, tenant })
    }

    /// Adds this metadata (and the current trace context) to `metadata`.
    fn apply(
        &self,
        metadata: &mut tonic::metadata::MetadataMap,
        tenant: Option<&MetadataValue<tonic::metadata::Ascii>>,
    ) {
        let mut trace_headers = http::HeaderMap::new();
        tend_kernel::telemetry::inject_into_headers(&mut trace_headers);
        for (name, value) in &trace_headers {
            let key = MetadataKey::from_bytes(name.as_str().as_bytes());
            let value = MetadataValue::try_from(value.as_bytes());
            if let (Ok(key), Ok(value)) = (key, value)
                && !metadata.contains_key(&key)
            {
                metadata.insert(key, value);
            }
        }
        if let Some(authorization) = &self.authorization
            && !metadata.contains_key("authorization")
        {
            metadata.insert("authorization", authorization.clone());
        }
        if let Some(tenant) = tenant.or(self.tenant.as_ref())
            && !metadata.contains_key(TENANT_HEADER)
        {
            metadata.insert(TENANT_HEADER, tenant.clone());
        }
    }

    /// `message` as a request acting for `tenant`.
    fn request<T>(&self, tenant: &TenantId, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        // A TenantId is lowercase ASCII by construction, so it is always a valid header value.
        let tenant = tenant.as_str().parse().ok();
        self.apply(request.metadata_mut(), tenant.as_ref());
        request
    }

    /// `message` as a request made for `person`: their credential, their tenant and the trace
    /// context, never this process's own key (without a credential of theirs, as with
    /// authentication off, none is sent).
    fn request_on_behalf<T>(&self, person: &OnBehalfOf, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(authorization) = &person.authorization {
            request.metadata_mut().insert("authorization", authorization.clone());
        }
        let tenant = person.caller.tenant.as_str().parse().ok();
        let without_own_key = CallMetadata { authorization: None, tenant: None };
        without_own_key.apply(request.metadata_mut(), tenant.as_ref());
        request
    }
}

/// The person a call is made for: the caller of the request being served and, for remote
/// calls, the credential they presented (an API key or a JWT), forwarded as it came.
#[derive(Debug, Clone)]
pub struct OnBehalfOf {
    caller: Caller,
    authorization: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl OnBehalfOf {
    /// The caller of `request` and the credential it came with.
    pub fn of<T>(request: &tonic::Request<T>) -> Result<Self, Status> {
        let caller = caller(request)?;
        let authorization = request.metadata().get("authorization").cloned();
        Ok(Self { caller, authorization })
    }

    /// The person's caller (tenant, role, actor).
    pub fn caller(&self) -> &Caller {
        &self.caller
    }
}

impl tonic::service::Interceptor for CallMetadata {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        self.apply(request.metadata_mut(), None);
        Ok(request)
    }
}

/// The channel type every [`Connection`] client runs on.
pub type Intercepted = tonic::service::interceptor::InterceptedService<Channel, CallMetadata>;

/// A connection to a running Tend for programs outside the services (the CLI, the load
/// generator, tests): one channel, a generated client per service, and [`CallMetadata`] on every
/// call.
#[derive(Debug, Clone)]
pub struct Connection {
    channel: Channel,
    metadata: CallMetadata,
}

impl Connection {
    /// A lazily connected connection to `endpoint` (see [`channel`]).
    pub fn new(endpoint: &str, credentials: &Credentials, tenant: Option<&str>) -> Result<Self, Error> {
        Ok(Self::over(channel(endpoint, credentials.tls.as_ref())?, CallMetadata::new(credentials, tenant)?))
    }

    /// A connection over an existing `channel`.
    pub fn over(channel: Channel, metadata: CallMetadata) -> Self {
        Self { channel, metadata }
    }

    /// The underlying channel (for clients of other services, such as health).
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    fn intercepted(&self) -> Intercepted {
        tonic::service::interceptor::InterceptedService::new(self.channel.clone(), self.metadata.clone())
    }

    /// The ingest service.
    pub fn ingest(&self) -> v1::ingest_service_client::IngestServiceClient<Intercepted> {
        v1::ingest_service_client::IngestServiceClient::new(self.intercepted())
    }

    /// Enrichment (served by ingest): dry runs, classifiers, the topic dictionary.
    pub fn enrichment(&self) -> v1::enrichment_service_client::EnrichmentServiceClient<Intercepted> {
        v1::enrichment_service_client::EnrichmentServiceClient::new(self.intercepted())
    }

    /// The channel registry and reply delivery log (served by ingest).
    pub fn channels(&self) -> v1::channel_service_client::ChannelServiceClient<Intercepted> {
        v1::channel_service_client::ChannelServiceClient::new(self.intercepted())
    }

    /// The identity service.
    pub fn identity(&self) -> v1::identity_service_client::IdentityServiceClient<Intercepted> {
        v1::identity_service_client::IdentityServiceClient::new(self.intercepted())
    }

    /// The routing service.
    pub fn routing(&self) -> v1::routing_service_client::RoutingServiceClient<Intercepted> {
        v1::routing_service_client::RoutingServiceClient::new(self.intercepted())
    }

    /// The universal queue (served by routing): agents and teams.
    pub fn queue(&self) -> v1::queue_service_client::QueueServiceClient<Intercepted> {
        v1::queue_service_client::QueueServiceClient::new(self.intercepted())
    }

    /// The cases service.
    pub fn cases(&self) -> v1::case_service_client::CaseServiceClient<Intercepted> {
        v1::case_service_client::CaseServiceClient::new(self.intercepted())
    }

    /// The feedback service.
    pub fn feedback(&self) -> v1::feedback_service_client::FeedbackServiceClient<Intercepted> {
        v1::feedback_service_client::FeedbackServiceClient::new(self.intercepted())
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
            $(
                @on_behalf_of_a_person {
                    $( $(#[$person_doc:meta])* $person_method:ident($person_request:ty) -> $person_response:ty; )*
                }
            )?
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
                // Big enough for a subject access export (the largest answer of any service).
                let client = <$grpc_client>::new(channel(endpoint, credentials.tls.as_ref())?)
                    .max_decoding_message_size(export::MAX_EXPORT_BYTES + 1024 * 1024);
                Ok(Self { face: Face::Remote(client, CallMetadata::new(credentials, None)?), actor })
            }

            /// The calling service's name, as audit logs show it.
            pub fn actor(&self) -> &'static str {
                self.actor
            }

            $(
                $(#[$method_doc])*
                pub async fn $method(&self, tenant: &TenantId, request: $request) -> Result<$response, Status> {
                    match &self.face {
                        Face::Local(service) => {
                            service.$method(local_request(tenant, self.actor, request)).await.map(tonic::Response::into_inner)
                        }
                        Face::Remote(client, metadata) => {
                            let mut client = client.clone();
                            client.$method(metadata.request(tenant, request)).await.map(tonic::Response::into_inner)
                        }
                    }
                }
            )*

            $($(
                $(#[$person_doc])*
                pub async fn $person_method(&self, person: &OnBehalfOf, request: $person_request) -> Result<$person_response, Status> {
                    match &self.face {
                        Face::Local(service) => {
                            let mut request = tonic::Request::new(request);
                            request.extensions_mut().insert(person.caller.clone());
                            service.$person_method(request).await.map(tonic::Response::into_inner)
                        }
                        Face::Remote(client, metadata) => {
                            let mut client = client.clone();
                            client.$person_method(metadata.request_on_behalf(person, request)).await.map(tonic::Response::into_inner)
                        }
                    }
                }
            )*)?
        }
    };
}

/// The two ways to reach a service.
enum Face<Local: ?Sized, Remote> {
    Local(Arc<Local>),
    Remote(Remote, CallMetadata),
}

// Derived Clone would demand `Local: Clone`; only the Arc is cloned.
impl<Local: ?Sized, Remote: Clone> Clone for Face<Local, Remote> {
    fn clone(&self) -> Self {
        match self {
            Face::Local(service) => Face::Local(service.clone()),
            Face::Remote(client, metadata) => Face::Remote(client.clone(), metadata.clone()),
        }
    }
}

type GrpcCases = v1::case_service_client::CaseServiceClient<Channel>;

/// The stream `WatchCases` answers with, boxed so every implementation of the cases service
/// has the same one.
pub type WatchCasesStream = tonic::codegen::BoxStream<v1::WatchCasesResponse>;

service_client! {
    /// A client of the cases service.
    CaseClient, v1::case_service_server::CaseService<WatchCasesStream = WatchCasesStream>, GrpcCases {
        /// Opens a case (idempotent on the request's key).
        open_case(v1::OpenCaseRequest) -> v1::OpenCaseResponse;
        /// Opens several cases in one call (each idempotent on its key).
        open_cases(v1::OpenCasesRequest) -> v1::OpenCasesResponse;
        /// The member cases of an incident (identity pages them for a proactive notice).
        list_incident_members(v1::ListIncidentMembersRequest) -> v1::ListCasesResponse;
        /// Reads one case.
        get_case(v1::GetCaseRequest) -> v1::Case;
        /// Lists cases.
        list_cases(v1::ListCasesRequest) -> v1::ListCasesResponse;
        /// Resolves a case.
        resolve_case(v1::ResolveCaseRequest) -> v1::Case;
        /// Assigns a case to an agent (or unassigns it).
        assign_case(v1::AssignCaseRequest) -> v1::Case;
        /// Lists the tenant's departments.
        list_departments(v1::ListDepartmentsRequest) -> v1::ListDepartmentsResponse;
        @on_behalf_of_a_person {
            /// What cases holds about a person (subject access, admin only).
            export_subject_data(v1::ExportSubjectDataRequest) -> v1::SubjectDataExport;
        }
    }
}

type GrpcIngest = v1::ingest_service_client::IngestServiceClient<Channel>;

service_client! {
    /// A client of the ingest service.
    IngestClient, v1::ingest_service_server::IngestService, GrpcIngest {
        @on_behalf_of_a_person {
            /// What ingest holds about a person (subject access, admin only).
            export_subject_data(v1::ExportSubjectDataRequest) -> v1::SubjectDataExport;
        }
    }
}

type GrpcRouting = v1::routing_service_client::RoutingServiceClient<Channel>;

service_client! {
    /// A client of the routing service.
    RoutingClient, v1::routing_service_server::RoutingService, GrpcRouting {
        @on_behalf_of_a_person {
            /// What routing holds about a person (subject access, admin only).
            export_subject_data(v1::ExportSubjectDataRequest) -> v1::SubjectDataExport;
        }
    }
}

type GrpcFeedback = v1::feedback_service_client::FeedbackServiceClient<Channel>;

/// The stream `ExportInsights` answers with, boxed so every implementation of the feedback
/// service has the same one.
pub type ExportInsightsStream = tonic::codegen::BoxStream<v1::ExportInsightsResponse>;

service_client! {
    /// A client of the feedback service.
    FeedbackClient, v1::feedback_service_server::FeedbackService<ExportInsightsStream = ExportInsightsStream>, GrpcFeedback {
        @on_behalf_of_a_person {
            /// What feedback holds about a person (subject access, admin only).
            export_subject_data(v1::ExportSubjectDataRequest) -> v1::SubjectDataExport;
        }
    }
}
