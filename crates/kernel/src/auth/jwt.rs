//! Signed JWTs from an identity provider, verified with the keys of a JWKS file.
//!
//! A bearer token that is not an API key and has a JWT's three parts is verified: its header's
//! `kid` picks the key from `auth.jwt.jwks_file` (re-read when it changes, so the provider's
//! keys rotate without a restart), the signature must match with the algorithm that key is
//! for, and the claims must carry the configured issuer and audience and an `exp` still to
//! come. The tenant and the role come from claims (`tenant`, `role` unless configured
//! otherwise); the actor is `sub`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use tonic::Status;

use super::watched::WatchedFile;
use super::{Credential, Role, TenantId};
use crate::config::ConfigError;

/// `[auth.jwt]`: accept JWTs signed by an identity provider.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct JwtConfig {
    /// A JWKS file (`{"keys": [...]}`, as the provider publishes it) of the keys tokens are
    /// signed with, re-read when it changes. Empty: JWTs are not accepted.
    pub jwks_file: String,
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The `aud` every token must carry (one of, when a token names several).
    pub audience: String,
    /// The claim that names the tenant (not needed for role `service`).
    pub tenant_claim: String,
    /// The claim that names the role: `admin`, `agent`, `service` or `viewer`.
    pub role_claim: String,
    /// The claim that names the queue agent the holder is, if any (see `agent` on API keys).
    pub agent_claim: String,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            jwks_file: String::new(),
            issuer: String::new(),
            audience: String::new(),
            tenant_claim: "tenant".to_owned(),
            role_claim: "role".to_owned(),
            agent_claim: "agent".to_owned(),
            leeway: Duration::from_secs(30),
        }
    }
}

impl JwtConfig {
    /// Whether JWTs are accepted.
    pub fn is_enabled(&self) -> bool {
        !self.jwks_file.is_empty()
    }

    /// Checks the settings (only when JWTs are on).
    pub fn check(&self) -> Result<(), ConfigError> {
        if !self.is_enabled() {
            return Ok(());
        }
        for (field, value) in [
            ("issuer", &self.issuer),
            ("audience", &self.audience),
            ("tenant_claim", &self.tenant_claim),
            ("role_claim", &self.role_claim),
        ] {
            if value.trim().is_empty() {
                return Err(ConfigError::invalid(format!("auth.jwt.{field}"), "is required when jwks_file is set"));
            }
        }
        Ok(())
    }
}

/// A verification key and the algorithms it may verify.
struct VerifyingKey {
    key: DecodingKey,
    algorithms: Vec<Algorithm>,
}

/// Verifies JWTs against the keys of the JWKS file.
pub(super) struct JwtVerifier {
    config: JwtConfig,
    file: WatchedFile,
    keys: RwLock<Arc<HashMap<String, VerifyingKey>>>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier").field("jwks_file", &self.config.jwks_file).finish_non_exhaustive()
    }
}

/// The claims Tend reads; the tenant and role claims are looked up by their configured names.
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    sub: String,
    #[serde(flatten)]
    other: HashMap<String, serde_json::Value>,
}

impl JwtVerifier {
    /// A verifier with the keys of the configured file; fails if the file cannot be read.
    pub fn new(config: &JwtConfig) -> Result<Self, ConfigError> {
        config.check()?;
        let verifier = Self {
            config: config.clone(),
            file: WatchedFile::new(PathBuf::from(&config.jwks_file)),
            keys: RwLock::new(Arc::new(HashMap::new())),
        };
        verifier.reload()?;
        Ok(verifier)
    }

    /// Re-reads the JWKS file if it changed. Returns whether it did; on an error the keys
    /// read before stay.
    pub fn reload(&self) -> Result<bool, ConfigError> {
        let field = "auth.jwt.jwks_file";
        let path = self.file.path().display().to_string();
        let Some(text) = self.file.read_if_changed().map_err(|error| ConfigError::invalid(field, error))? else {
            return Ok(false);
        };
        let set: JwkSet = serde_json::from_str(&text)
            .map_err(|error| ConfigError::invalid(field, format!("{path} is not a JWKS: {error}")))?;
        let mut keys = HashMap::new();
        for (index, jwk) in set.keys.iter().enumerate() {
            let Some(kid) = jwk.common.key_id.clone() else {
                return Err(ConfigError::invalid(field, format!("{path}: keys[{index}] has no `kid`")));
            };
            let key = verifying_key(jwk)
                .map_err(|problem| ConfigError::invalid(field, format!("{path}: key {kid:?}: {problem}")))?;
            keys.insert(kid, key);
        }
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
        Ok(true)
    }

    /// Whether `token` has a JWT's shape (three base64url parts), so it is worth verifying.
    pub fn looks_like_jwt(token: &str) -> bool {
        token.split('.').count() == 3
    }

    /// What a verified token says of its holder.
    pub(super) fn verify(&self, token: &str) -> Result<Credential, Status> {
        let refused = |why: &str| Status::unauthenticated(format!("invalid token: {why}"));
        let header = jsonwebtoken::decode_header(token).map_err(|_| refused("not a JWT"))?;
        let kid = header.kid.ok_or_else(|| refused("its header has no `kid`"))?;
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner).clone();
        let key = keys.get(&kid).ok_or_else(|| refused("signed with a key not in the JWKS"))?;
        if !key.algorithms.contains(&header.alg) {
            return Err(refused("its algorithm does not fit its key"));
        }
        let mut validation = Validation::new(header.alg);
        validation.algorithms.clone_from(&key.algorithms);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        validation.leeway = self.config.leeway.as_secs();
        let claims = jsonwebtoken::decode::<Claims>(token, &key.key, &validation).map_err(|error| {
            use jsonwebtoken::errors::ErrorKind;
            match error.kind() {
                ErrorKind::ExpiredSignature => refused("expired"),
                ErrorKind::ImmatureSignature => refused("not valid yet"),
                ErrorKind::InvalidIssuer => refused("wrong issuer"),
                ErrorKind::InvalidAudience => refused("wrong audience"),
                ErrorKind::MissingRequiredClaim(claim) => refused(&format!("no `{claim}` claim")),
                _ => refused("bad signature or claims"),
            }
        })?;
        let claim = |name: &str| claims.claims.other.get(name).and_then(serde_json::Value::as_str);
        let role = match claim(&self.config.role_claim) {
            Some("admin") => Role::Admin,
            Some("agent") => Role::Agent,
            Some("service") => Role::Service,
            Some("viewer") => Role::Viewer,
            Some("website") => Role::Website,
            _ => return Err(refused(&format!("claim `{}` must be a role", self.config.role_claim))),
        };
        let tenant = match (claim(&self.config.tenant_claim), role) {
            (Some(_), Role::Service) => {
                return Err(refused("a service token names its tenant per request, not in a claim"));
            }
            (None, Role::Service) => None,
            (Some(tenant), _) => {
                Some(TenantId::parse(tenant).map_err(|_| refused("its tenant claim is not a tenant"))?)
            }
            (None, _) => return Err(refused(&format!("no `{}` claim", self.config.tenant_claim))),
        };
        let subject: String = claims.claims.sub.chars().take(64).collect();
        let agent = claim(&self.config.agent_claim).map(str::to_owned);
        Ok(Credential { tenant, role, actor: format!("jwt {subject}"), agent })
    }

    /// The file the keys come from.
    pub fn path(&self) -> &std::path::Path {
        self.file.path()
    }
}

/// The key of `jwk` and the algorithms it may verify: the one the JWK names, or every
/// algorithm of its family. Symmetric (`oct`) keys are refused: the provider would share its
/// signing secret with every verifier.
fn verifying_key(jwk: &Jwk) -> Result<VerifyingKey, String> {
    use jsonwebtoken::jwk::AlgorithmParameters;
    let family: &[Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => &[
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(_) => &[Algorithm::ES256, Algorithm::ES384],
        AlgorithmParameters::OctetKeyPair(_) => &[Algorithm::EdDSA],
        AlgorithmParameters::OctetKey(_) => return Err("symmetric keys are not accepted".to_owned()),
    };
    let algorithms = match jwk.common.key_algorithm {
        Some(named) => {
            let named: Algorithm = named.to_string().parse().map_err(|_| format!("cannot verify with {named}"))?;
            if !family.contains(&named) {
                return Err(format!("`alg` {named:?} does not fit the key type"));
            }
            vec![named]
        }
        None => family.to_vec(),
    };
    let key = DecodingKey::from_jwk(jwk).map_err(|error| format!("not a usable key: {error}"))?;
    Ok(VerifyingKey { key, algorithms })
}

#[cfg(test)]
pub(super) mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;

    /// An Ed25519 key pair made for these tests: the private key (PKCS#8 DER, base64) and the
    /// public key as a JWK's `x`.
    const PRIVATE_KEY: &str = "MC4CAQAwBQYDK2VwBCIEIGaBEO6n7N2p/4jaBJLeDosjg2Hmv/joU8lxyd1IPb8L";
    const PUBLIC_X: &str = "v-sJjIHV9rPVFTuEnRqOUtwEy9noFYo-wKlU2yc1lYo";

    /// A JWKS file in `dir` with the test key as `k1`, and the config that accepts it.
    pub fn config(dir: &tempfile::TempDir) -> JwtConfig {
        let path = dir.path().join("jwks.json");
        let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "alg": "EdDSA", "x": PUBLIC_X}]});
        std::fs::write(&path, jwks.to_string()).unwrap();
        JwtConfig {
            jwks_file: path.display().to_string(),
            issuer: "https://idp.example".into(),
            audience: "tend".into(),
            ..JwtConfig::default()
        }
    }

    fn verifier(dir: &tempfile::TempDir) -> JwtVerifier {
        JwtVerifier::new(&config(dir)).unwrap()
    }

    /// A token signed with the test key, its header naming `kid`.
    pub fn token(kid: &str, claims: serde_json::Value) -> String {
        use base64::Engine as _;
        let der = base64::engine::general_purpose::STANDARD.decode(PRIVATE_KEY).unwrap();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&der)).unwrap()
    }

    /// Valid claims for an agent of acme, with `extra` added or replaced.
    pub fn claims(extra: serde_json::Value) -> serde_json::Value {
        let mut claims = json!({
            "sub": "ana@acme", "iss": "https://idp.example", "aud": "tend",
            "exp": chrono::Utc::now().timestamp() + 600, "tenant": "acme", "role": "agent",
        });
        claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        claims
    }

    #[test]
    fn a_valid_token_names_tenant_role_and_actor() {
        let dir = tempfile::tempdir().unwrap();
        let credential = verifier(&dir).verify(&token("k1", claims(json!({"agent": "ana"})))).unwrap();
        assert_eq!(credential.tenant.unwrap().as_str(), "acme");
        assert_eq!(credential.role, Role::Agent);
        assert_eq!(credential.actor, "jwt ana@acme");
        assert_eq!(credential.agent.as_deref(), Some("ana"));
    }

    #[test]
    fn bad_tokens_are_refused_saying_why() {
        let dir = tempfile::tempdir().unwrap();
        let verifier = verifier(&dir);
        let past = chrono::Utc::now().timestamp() - 3600;
        for (token, why) in [
            (token("k1", claims(json!({"exp": past}))), "expired"),
            (token("k1", claims(json!({"iss": "https://evil.example"}))), "wrong issuer"),
            (token("k1", claims(json!({"aud": "other"}))), "wrong audience"),
            (token("k2", claims(json!({}))), "not in the JWKS"),
            (token("k1", claims(json!({"role": "root"}))), "must be a role"),
            (token("k1", claims(json!({"tenant": null}))), "no `tenant` claim"),
            (token("k1", claims(json!({"role": "service"}))), "names its tenant per request"),
        ] {
            let status = verifier.verify(&token).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated);
            assert!(status.message().contains(why), "{why}: {}", status.message());
        }
        // A signature made for other claims.
        let good = token("k1", claims(json!({})));
        let other = token("k1", claims(json!({"tenant": "globex"})));
        let mut parts: Vec<_> = good.split('.').collect();
        parts[1] = other.split('.').nth(1).unwrap();
        assert!(verifier.verify(&parts.join(".")).is_err());
    }

    #[test]
    fn symmetric_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        let jwks = json!({"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]});
        std::fs::write(&path, jwks.to_string()).unwrap();
        let config = JwtConfig {
            jwks_file: path.display().to_string(),
            issuer: "i".into(),
            audience: "a".into(),
            ..JwtConfig::default()
        };
        assert!(JwtVerifier::new(&config).unwrap_err().to_string().contains("symmetric"));
    }
}
