//! Who is calling: API keys per tenant and role.
//!
//! Every request but health checks and reflection must carry `authorization: Bearer <key>`.
//! The key decides the tenant and the role. A key of role `service` (used by Tend's own services
//! and trusted internal callers) has no tenant of its own and acts for the tenant named in the
//! `x-tend-tenant` header. With no keys configured, authentication is off: every caller is an
//! admin of the tenant in `x-tend-tenant`, or of `default` — for `tend dev` only.
//!
//! Keys are held as SHA-256 digests ([`keys`]); the config may give them in clear or as
//! digests, and more come from a keys file that is re-read when it changes, so keys are
//! rotated without a restart: add the new key, move the callers, remove the old one
//! (`tend_api_key_last_used_timestamp_seconds` says when that one was last used). A bearer
//! token may also be a JWT from an identity provider (`[auth.jwt]`, see [`JwtConfig`]): its
//! claims name the tenant and the role.
//!
//! The [`AuthLayer`] puts the [`Caller`] into the request's extensions; handlers read it with
//! [`caller`]. In-process clients insert the [`Caller`] themselves.

mod jwt;
pub mod keys;
mod limits;
mod watched;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tonic::Status;

use crate::config::{ConfigError, Validate};
use crate::error::ApiError;
pub use jwt::JwtConfig;
use jwt::JwtVerifier;
use keys::KeyTable;
pub use keys::{ApiKeyConfig, digest_hex, generate as generate_key};
pub use limits::RateLimitConfig;
use limits::RateLimits;
use tokio_util::sync::CancellationToken;
use watched::WatchedFile;

/// The header a `service` key (or any caller when auth is off) names its tenant in.
pub const TENANT_HEADER: &str = "x-tend-tenant";

/// The tenant used when authentication is off and no tenant header is sent.
pub const DEFAULT_TENANT: &str = "default";

/// A tenant: a brand or workspace whose data is kept apart from every other's.
///
/// 1 to 64 characters of lowercase ASCII letters, digits, `-` and `_`, starting with a letter
/// or digit, so it is safe in keys, file names and logs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// Parses a tenant id, saying what is wrong if it is not one.
    pub fn parse(value: &str) -> Result<Self, String> {
        let valid_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
        if value.is_empty() || value.len() > 64 {
            return Err(format!("tenant {} must be 1 to 64 characters long", crate::validate::quote(value)));
        }
        if !value.chars().all(valid_char) || value.starts_with(['-', '_']) {
            return Err(format!(
                "tenant {} may use only lowercase letters, digits, '-' and '_', and must start with a letter or digit",
                crate::validate::quote(value)
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The tenant id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

impl From<TenantId> for String {
    fn from(value: TenantId) -> Self {
        value.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including configuration and erasure.
    Admin,
    /// Read and work cases.
    Agent,
    /// Tend's own services and trusted internal callers: read and write for the tenant named in
    /// the request.
    Service,
    /// Read only.
    Viewer,
    /// A tenant's public website or survey page: the public RPCs only (published
    /// testimonials, survey pages answering with a survey link's token), nothing else.
    Website,
}

/// The kind of access an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reading.
    Read,
    /// Creating or changing work data.
    Write,
    /// Configuration, erasure and other administration.
    Admin,
    /// What a tenant's public website may do (read published testimonials, answer a survey
    /// with its link's token): every role has it, and a `website` key has only it.
    Public,
}

impl Role {
    /// Whether this role grants `access`.
    pub fn allows(self, access: Access) -> bool {
        match self {
            Role::Admin => true,
            Role::Agent | Role::Service => access != Access::Admin,
            Role::Viewer => matches!(access, Access::Read | Access::Public),
            Role::Website => access == Access::Public,
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The tenant the request acts for.
    pub tenant: TenantId,
    /// The role of the key used.
    pub role: Role,
    /// Who, for audit logs: the key's name, or the in-process service's name.
    pub actor: String,
    /// The queue agent the credential belongs to, when it is one agent's (`agent` on an API
    /// key, the `agent` claim of a JWT): it may then act in the queue only as that agent.
    pub agent: Option<String>,
}

impl Caller {
    /// A caller for in-process calls made by a Tend service on behalf of `tenant`.
    pub fn service(tenant: TenantId, actor: &str) -> Self {
        Self { tenant, role: Role::Service, actor: actor.to_owned(), agent: None }
    }

    /// Fails with PERMISSION_DENIED when the credential is another agent's than `agent_id`:
    /// an agent's own key accepts, declines and pulls work and sets presence only as that
    /// agent. A key of no one agent (a desk gateway serving many, an admin, a service) may act
    /// for any.
    pub fn require_agent(&self, agent_id: &str) -> Result<(), ApiError> {
        match &self.agent {
            Some(own) if own != agent_id => Err(ApiError::PermissionDenied(format!(
                "{} is agent {own}'s credential and may not act as agent {}",
                self.actor,
                crate::validate::quote(agent_id)
            ))),
            _ => Ok(()),
        }
    }

    /// Fails with PERMISSION_DENIED unless the caller's role grants `access`.
    pub fn require(&self, access: Access) -> Result<(), ApiError> {
        if self.role.allows(access) {
            return Ok(());
        }
        Err(ApiError::PermissionDenied(format!(
            "role {:?} of {} may not do this (needs {:?} access)",
            self.role, self.actor, access
        )))
    }
}

/// The caller of a request, put there by the [`AuthLayer`] or an in-process client.
pub fn caller<T>(request: &tonic::Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no caller on the request: send `authorization: Bearer <api key>`"))
}

/// `[auth]`: who may call this Tend.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Keys in the config itself. With none here, no `keys_file` and no JWTs, authentication
    /// is off (development only).
    pub keys: Vec<ApiKeyConfig>,
    /// A TOML file of more `[[keys]]` (same fields), re-read when it changes: keys are added,
    /// rotated and revoked without a restart. Empty: none. A file that stops parsing is logged
    /// and the keys read before stay in force.
    pub keys_file: String,
    /// How often `keys_file` and `jwt.jwks_file` are checked for changes.
    #[serde(with = "humantime_serde")]
    pub reload_every: Duration,
    /// JWTs from an identity provider, accepted beside API keys.
    pub jwt: JwtConfig,
    /// Requests per second per credential and per tenant (not applied with authentication off).
    pub rate_limits: RateLimitConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            keys_file: String::new(),
            reload_every: Duration::from_secs(5),
            jwt: JwtConfig::default(),
            rate_limits: RateLimitConfig::default(),
        }
    }
}

impl Validate for AuthConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        for (index, key) in self.keys.iter().enumerate() {
            key.check(|field| format!("auth.keys[{index}].{field}"))?;
        }
        if self.reload_every.is_zero() {
            return Err(ConfigError::invalid("auth.reload_every", "must be longer than 0s (e.g. \"5s\")"));
        }
        self.jwt.check()?;
        self.rate_limits.check()
    }
}

/// What a credential says of its holder, before the request's tenant header is weighed.
#[derive(Debug)]
struct Credential {
    /// Its own tenant; `None` for a service credential, which names one per request.
    tenant: Option<TenantId>,
    role: Role,
    actor: String,
    agent: Option<String>,
}

/// Decides the [`Caller`] of a request from its headers.
#[derive(Debug)]
pub struct Authenticator {
    enabled: bool,
    config_keys: Vec<ApiKeyConfig>,
    keys_file: Option<WatchedFile>,
    table: RwLock<Arc<KeyTable>>,
    jwt: Option<JwtVerifier>,
    limits: RateLimits,
    reload_every: Duration,
}

impl Authenticator {
    /// Builds the key table from the config and the keys file, and reads the JWKS file; fails
    /// if any is invalid.
    pub fn new(config: &AuthConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let keys_file = Some(config.keys_file.as_str()).filter(|path| !path.is_empty());
        let jwt = if config.jwt.is_enabled() { Some(JwtVerifier::new(&config.jwt)?) } else { None };
        let authenticator = Self {
            enabled: !config.keys.is_empty() || keys_file.is_some() || jwt.is_some(),
            config_keys: config.keys.clone(),
            keys_file: keys_file.map(|path| WatchedFile::new(PathBuf::from(path))),
            table: RwLock::new(Arc::new(KeyTable::build(&config.keys, None)?)),
            jwt,
            limits: RateLimits::new(&config.rate_limits),
            reload_every: config.reload_every,
        };
        authenticator.reload_keys()?;
        Ok(authenticator)
    }

    /// Whether authentication is on (keys in the config, a keys file or JWTs); when not, every
    /// request is let in.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Re-reads the keys file if it changed since it was last read. Returns whether the keys
    /// changed; on an error the keys in force stay.
    fn reload_keys(&self) -> Result<bool, ConfigError> {
        let Some(file) = &self.keys_file else { return Ok(false) };
        let text = file.read_if_changed().map_err(|problem| ConfigError::invalid("auth.keys_file", problem))?;
        let Some(text) = text else { return Ok(false) };
        let file_keys = keys::parse_file(file.path(), &text)?;
        let table = KeyTable::build(self.config_keys.iter().chain(&file_keys), Some(&self.table()))?;
        *self.table.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(table);
        Ok(true)
    }

    /// Re-reads the keys file and the JWKS file every `auth.reload_every` when they changed,
    /// and exports when keys were last used, until `shutdown`.
    pub async fn watch(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.reload_every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = shutdown.cancelled() => return,
            }
            let keys_file = self.keys_file.as_ref().map(WatchedFile::path);
            match self.reload_keys() {
                Ok(true) => tracing::info!(file = ?keys_file, "API keys reloaded"),
                Ok(false) => {}
                Err(error) => tracing::error!(%error, "API keys file not reloaded; the keys read before stay in force"),
            }
            if let Some(jwt) = &self.jwt {
                match jwt.reload() {
                    Ok(true) => tracing::info!(file = ?jwt.path(), "JWT keys reloaded"),
                    Ok(false) => {}
                    Err(error) => tracing::error!(%error, "JWKS file not reloaded; the keys read before stay in force"),
                }
            }
            self.table().export_last_used();
            self.limits.forget_idle();
        }
    }

    fn table(&self) -> Arc<KeyTable> {
        self.table.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// What a bearer token says of its holder: an API key, or a JWT when they are accepted.
    fn credential(&self, token: &str) -> Result<Credential, Status> {
        if let Some(entry) = self.table().get(token) {
            entry.touch();
            return Ok(Credential {
                tenant: entry.tenant.clone(),
                role: entry.role,
                actor: entry.name.clone(),
                agent: entry.agent.clone(),
            });
        }
        match &self.jwt {
            Some(jwt) if JwtVerifier::looks_like_jwt(token) => jwt.verify(token),
            _ => Err(Status::unauthenticated("unknown API key")),
        }
    }

    /// The caller of a request with these headers.
    pub fn authenticate(&self, headers: &http::HeaderMap) -> Result<Caller, Status> {
        let named_tenant = tenant_header(headers)?;
        if !self.is_enabled() {
            let tenant = match named_tenant {
                Some(tenant) => tenant,
                None => TenantId(DEFAULT_TENANT.to_owned()),
            };
            let actor = "anonymous (auth off)".to_owned();
            return Ok(Caller { tenant, role: Role::Admin, actor, agent: None });
        }
        let Credential { tenant: own_tenant, role, actor, agent } = self.credential(bearer_key(headers)?)?;
        let tenant = match (own_tenant, named_tenant) {
            (Some(own), None) => own,
            (Some(own), Some(named)) if own == named => named,
            (Some(own), Some(named)) => {
                return Err(Status::permission_denied(format!(
                    "this credential belongs to tenant {own} and may not act for tenant {named}"
                )));
            }
            (None, Some(named)) => named,
            (None, None) => {
                return Err(Status::invalid_argument(format!(
                    "a service credential must name its tenant in the {TENANT_HEADER} header"
                )));
            }
        };
        let caller = Caller { tenant, role, actor, agent };
        self.limits.admit(&caller)?;
        Ok(caller)
    }
}

fn bearer_key(headers: &http::HeaderMap) -> Result<&str, Status> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Err(Status::unauthenticated("missing `authorization: Bearer <api key>` header"));
    };
    // RFC 7235: the scheme is case-insensitive (`bearer`, `BEARER` are as good as `Bearer`).
    value
        .to_str()
        .ok()
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
        .ok_or_else(|| Status::unauthenticated("the authorization header must be `Bearer <api key>`"))
}

fn tenant_header(headers: &http::HeaderMap) -> Result<Option<TenantId>, Status> {
    let Some(value) = headers.get(TENANT_HEADER) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| Status::invalid_argument(format!("{TENANT_HEADER} must be ASCII")))?;
    TenantId::parse(text).map(Some).map_err(Status::invalid_argument)
}

/// Paths that need no credentials: health checks (Kubernetes probes) and reflection.
fn is_public(path: &str) -> bool {
    path.starts_with("/grpc.health.v1.") || path.starts_with("/grpc.reflection.")
}

/// A tower layer that authenticates every request (but health and reflection) and puts the
/// [`Caller`] into its extensions, or answers UNAUTHENTICATED / PERMISSION_DENIED itself.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    authenticator: Arc<Authenticator>,
}

impl AuthLayer {
    /// A layer using `authenticator`.
    pub fn new(authenticator: Arc<Authenticator>) -> Self {
        Self { authenticator }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, authenticator: self.authenticator.clone() }
    }
}

/// The service made by [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    authenticator: Arc<Authenticator>,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for AuthService<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Default + Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        if is_public(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        match self.authenticator.authenticate(request.headers()) {
            Ok(caller) => {
                tracing::Span::current().record("tenant", caller.tenant.as_str());
                request.extensions_mut().insert(caller);
                Box::pin(self.inner.call(request))
            }
            Err(status) => {
                let path = request.uri().path();
                // A client over its rate limit may be refused thousands of times a second.
                if status.code() == tonic::Code::ResourceExhausted {
                    tracing::debug!(path, reason = status.message(), "request refused");
                } else {
                    tracing::info!(path, code = ?status.code(), reason = status.message(), "request refused");
                }
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn keys() -> Authenticator {
        Authenticator::new(&AuthConfig {
            keys: vec![
                ApiKeyConfig::plain("acme agent", "acme-agent-key-0001", Some("acme"), Role::Agent),
                ApiKeyConfig::plain("router", "internal-service-key", None, Role::Service),
            ],
            ..AuthConfig::default()
        })
        .unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in pairs {
            map.insert(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
        }
        map
    }

    #[test]
    fn tenant_ids_are_checked() {
        assert!(TenantId::parse("acme-eu_1").is_ok());
        for bad in ["", "Acme", "a b", "-x", &"x".repeat(65)] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?}");
        }
        // The error quotes a short prefix, whatever the size of the input.
        assert!(TenantId::parse(&"X".repeat(100_000)).unwrap_err().len() < 200);
    }

    #[test]
    fn key_decides_tenant_and_role() {
        let caller = keys().authenticate(&headers(&[("authorization", "Bearer acme-agent-key-0001")])).unwrap();
        assert_eq!(caller.tenant.as_str(), "acme");
        assert_eq!(caller.role, Role::Agent);
    }

    #[test]
    fn the_scheme_is_case_insensitive() {
        for scheme in ["bearer", "BEARER", "BeArEr"] {
            let value = format!("{scheme} acme-agent-key-0001");
            let caller = keys().authenticate(&headers(&[("authorization", &value)])).unwrap();
            assert_eq!(caller.tenant.as_str(), "acme", "{scheme}");
        }
        for value in ["Basic acme-agent-key-0001", "Bearer", "Beareracme-agent-key-0001"] {
            let status = keys().authenticate(&headers(&[("authorization", value)])).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{value}");
        }
    }

    #[test]
    fn a_jwt_is_a_credential_beside_api_keys() {
        let dir = tempfile::tempdir().unwrap();
        let auth = Authenticator::new(&AuthConfig {
            keys: vec![ApiKeyConfig::plain("acme agent", "acme-agent-key-0001", Some("acme"), Role::Agent)],
            jwt: jwt::tests::config(&dir),
            ..AuthConfig::default()
        })
        .unwrap();
        let token = jwt::tests::token("k1", jwt::tests::claims(serde_json::json!({"role": "viewer"})));
        let bearer = format!("Bearer {token}");
        let caller = auth.authenticate(&headers(&[("authorization", &bearer)])).unwrap();
        assert_eq!(
            (caller.tenant.as_str(), caller.role, caller.actor.as_str()),
            ("acme", Role::Viewer, "jwt ana@acme")
        );
        let status = auth.authenticate(&headers(&[("authorization", &bearer), (TENANT_HEADER, "globex")])).unwrap_err();
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
        assert!(auth.authenticate(&headers(&[("authorization", "Bearer acme-agent-key-0001")])).is_ok());
        let status = auth.authenticate(&headers(&[("authorization", "Bearer a.b.c")])).unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
    }

    #[test]
    fn an_agents_own_key_acts_only_as_that_agent() {
        let mut ana = ApiKeyConfig::plain("ana's desk", "ana-desk-key-00001", Some("acme"), Role::Agent);
        ana.agent = Some("ana".into());
        let gateway = ApiKeyConfig::plain("desk gateway", "desk-gateway-key-01", Some("acme"), Role::Agent);
        let auth = Authenticator::new(&AuthConfig { keys: vec![ana, gateway], ..AuthConfig::default() }).unwrap();
        let caller = auth.authenticate(&headers(&[("authorization", "Bearer ana-desk-key-00001")])).unwrap();
        assert!(caller.require_agent("ana").is_ok());
        let refused = Status::from(caller.require_agent("bo").unwrap_err());
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        let gateway = auth.authenticate(&headers(&[("authorization", "Bearer desk-gateway-key-01")])).unwrap();
        assert!(gateway.require_agent("bo").is_ok());
    }

    #[test]
    fn tenant_key_cannot_act_for_another_tenant() {
        let status = keys()
            .authenticate(&headers(&[("authorization", "Bearer acme-agent-key-0001"), (TENANT_HEADER, "globex")]))
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
    }

    #[test]
    fn service_key_acts_for_named_tenant_only() {
        let auth = keys();
        let caller = auth
            .authenticate(&headers(&[("authorization", "Bearer internal-service-key"), (TENANT_HEADER, "globex")]))
            .unwrap();
        assert_eq!(caller.tenant.as_str(), "globex");
        let status = auth.authenticate(&headers(&[("authorization", "Bearer internal-service-key")])).unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn missing_or_unknown_keys_are_unauthenticated() {
        let auth = keys();
        assert_eq!(auth.authenticate(&headers(&[])).unwrap_err().code(), tonic::Code::Unauthenticated);
        assert_eq!(
            auth.authenticate(&headers(&[("authorization", "Bearer nope-nope-nope-nope")])).unwrap_err().code(),
            tonic::Code::Unauthenticated
        );
    }

    #[test]
    fn auth_off_uses_default_or_named_tenant() {
        let auth = Authenticator::new(&AuthConfig::default()).unwrap();
        assert_eq!(auth.authenticate(&headers(&[])).unwrap().tenant.as_str(), DEFAULT_TENANT);
        assert_eq!(auth.authenticate(&headers(&[(TENANT_HEADER, "acme")])).unwrap().tenant.as_str(), "acme");
    }

    #[test]
    fn roles_grant_access() {
        assert!(Role::Viewer.allows(Access::Read));
        assert!(!Role::Viewer.allows(Access::Write));
        assert!(Role::Agent.allows(Access::Write));
        assert!(!Role::Agent.allows(Access::Admin));
        assert!(Role::Admin.allows(Access::Admin));
    }

    #[test]
    fn config_validation_names_the_key() {
        let config = AuthConfig {
            keys: vec![ApiKeyConfig::plain("", "short", Some("acme"), Role::Admin)],
            ..AuthConfig::default()
        };
        assert!(config.validate().unwrap_err().to_string().contains("auth.keys[0].key"));
    }
}
