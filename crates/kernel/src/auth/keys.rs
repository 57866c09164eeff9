//! API keys: who holds which, kept only as SHA-256 digests.
//!
//! A key is looked up by the digest of what the caller sent, so the table never holds a key in
//! clear (a config or keys file need not either: `sha256` instead of `key`), and a lookup takes
//! the same time whatever prefix of a real key a caller guesses. Keys must carry enough entropy
//! that a digest is as good as the key's own secrecy: `tend keys new` makes 256-bit ones.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Role, TenantId};
use crate::config::ConfigError;
use crate::metrics::{Family, Gauge};

/// The shortest key accepted in clear.
const MIN_KEY_CHARS: usize = 16;

/// One API key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKeyConfig {
    /// A name for logs, audit trails and the last-used metric (never the key itself); defaults
    /// to the key's role and tenant.
    #[serde(default)]
    pub name: String,
    /// The secret in clear, at least 16 characters: fine for development. Give `sha256`
    /// instead in production.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    /// The SHA-256 of the key, 64 hex digits: what a production config or keys file holds
    /// (`tend keys new` prints it). Exactly one of `key` and `sha256`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sha256: String,
    /// The tenant the key acts for; must be empty for role `service`.
    #[serde(default)]
    pub tenant: Option<String>,
    /// What the key may do.
    pub role: Role,
    /// The queue agent whose key this is: it may then act in the queue (offers, next work,
    /// presence) only as that agent. Empty: any agent of its tenant (a desk gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

impl ApiKeyConfig {
    /// A key given in clear.
    pub fn plain(name: &str, key: &str, tenant: Option<&str>, role: Role) -> Self {
        Self {
            name: name.to_owned(),
            key: key.to_owned(),
            sha256: String::new(),
            tenant: tenant.map(str::to_owned),
            role,
            agent: None,
        }
    }

    /// Checks the entry; `at` names a field of it for the error (`auth.keys[2].tenant`).
    pub fn check(&self, at: impl Fn(&str) -> String) -> Result<(), ConfigError> {
        match (self.key.is_empty(), self.sha256.is_empty()) {
            (true, true) => return Err(ConfigError::invalid(at("sha256"), "is required (or `key`, in clear)")),
            (false, false) => return Err(ConfigError::invalid(at("key"), "give either `key` or `sha256`, not both")),
            (false, true) if self.key.chars().count() < MIN_KEY_CHARS => {
                return Err(ConfigError::invalid(at("key"), format!("must be at least {MIN_KEY_CHARS} characters")));
            }
            (true, false) if parse_digest(&self.sha256).is_none() => {
                return Err(ConfigError::invalid(at("sha256"), "must be 64 hex digits (the SHA-256 of the key)"));
            }
            _ => {}
        }
        match (&self.tenant, self.role) {
            (Some(_), Role::Service) => Err(ConfigError::invalid(
                at("tenant"),
                "must be empty for role \"service\" (it acts for the tenant in the x-tend-tenant header)",
            )),
            (None, role) if role != Role::Service => {
                Err(ConfigError::invalid(at("tenant"), "is required for this role"))
            }
            (Some(tenant), _) => {
                TenantId::parse(tenant).map(drop).map_err(|problem| ConfigError::invalid(at("tenant"), problem))
            }
            (None, _) => Ok(()),
        }
    }

    fn digest(&self) -> [u8; 32] {
        if self.key.is_empty() { parse_digest(&self.sha256).unwrap_or_default() } else { digest(&self.key) }
    }
}

/// The SHA-256 of `key`.
pub fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// The SHA-256 of `key` as 64 lowercase hex digits, as `sha256` takes it.
pub fn digest_hex(key: &str) -> String {
    hex::encode(digest(key))
}

fn parse_digest(text: &str) -> Option<[u8; 32]> {
    let mut digest = [0; 32];
    hex::decode_to_slice(text.trim(), &mut digest).ok()?;
    Some(digest)
}

/// A new random key: `tend_` and 64 hex digits (256 bits from the system's random source).
pub fn generate() -> String {
    let random = || uuid::Uuid::new_v4().simple().to_string();
    // A v4 uuid carries 122 random bits; three of them, cut to 64 digits, carry 256.
    let mut digits = random() + &random() + &random();
    digits.truncate(64);
    // A SHA-256 spreads the fixed version digits of the uuids over the whole key.
    format!("tend_{}", digest_hex(&digits))
}

/// A keys file: `[[keys]]` entries like `[auth] keys`, re-read when it changes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysFile {
    #[serde(default)]
    keys: Vec<ApiKeyConfig>,
}

/// Parses and checks the keys of a keys file; `path` names it in errors.
pub(super) fn parse_file(path: &Path, text: &str) -> Result<Vec<ApiKeyConfig>, ConfigError> {
    let file: KeysFile = toml::from_str(text).map_err(|error| {
        ConfigError::invalid("auth.keys_file", format!("{} is not a keys file: {error}", path.display()))
    })?;
    for (index, key) in file.keys.iter().enumerate() {
        key.check(|name| format!("{}: keys[{index}].{name}", path.display()))?;
    }
    Ok(file.keys)
}

/// A key as the authenticator knows it.
#[derive(Debug)]
pub(super) struct KeyEntry {
    pub name: String,
    pub tenant: Option<TenantId>,
    pub role: Role,
    pub agent: Option<String>,
    /// When it was last used, in seconds since the epoch (0: not since this process started).
    last_used: AtomicI64,
}

impl KeyEntry {
    pub fn touch(&self) {
        self.last_used.store(chrono::Utc::now().timestamp(), Ordering::Relaxed);
    }
}

/// The keys, by digest.
#[derive(Debug, Default)]
pub(super) struct KeyTable {
    by_digest: HashMap<[u8; 32], Arc<KeyEntry>>,
}

impl KeyTable {
    /// A table of `keys` (checked already). An entry for a key that `previous` knew keeps its
    /// last-used time.
    pub fn build<'a>(
        keys: impl IntoIterator<Item = &'a ApiKeyConfig>,
        previous: Option<&KeyTable>,
    ) -> Result<Self, ConfigError> {
        let mut by_digest = HashMap::new();
        for key in keys {
            let digest = key.digest();
            let name = if key.name.is_empty() {
                format!("{:?} key of {}", key.role, key.tenant.as_deref().unwrap_or("any tenant")).to_lowercase()
            } else {
                key.name.clone()
            };
            let tenant = key.tenant.as_deref().map(TenantId::parse).transpose();
            let tenant = tenant.map_err(|problem| ConfigError::invalid("auth.keys.tenant", problem))?;
            let last_used = previous
                .and_then(|table| table.by_digest.get(&digest))
                .map_or(0, |entry| entry.last_used.load(Ordering::Relaxed));
            let entry = KeyEntry {
                name,
                tenant,
                role: key.role,
                agent: key.agent.clone(),
                last_used: AtomicI64::new(last_used),
            };
            if let Some(other) = by_digest.insert(digest, Arc::new(entry)) {
                return Err(ConfigError::invalid(
                    "auth.keys",
                    format!(
                        "key {:?} is the same key as {:?}: give each holder a key of its own",
                        key.name, other.name
                    ),
                ));
            }
        }
        Ok(Self { by_digest })
    }

    pub fn get(&self, key: &str) -> Option<&Arc<KeyEntry>> {
        self.by_digest.get(&digest(key))
    }

    /// Sets the last-used metric of every key that has been used.
    pub fn export_last_used(&self) {
        for entry in self.by_digest.values() {
            let last_used = entry.last_used.load(Ordering::Relaxed);
            if last_used > 0 {
                LAST_USED.get_or_create(&vec![("key".to_owned(), entry.name.clone())]).set(last_used);
            }
        }
    }
}

/// `tend_api_key_last_used_timestamp_seconds{key="…"}`: when each key was last used, for
/// finding keys nobody uses any more (safe to remove) and the ones still in use mid-rotation.
static LAST_USED: LazyLock<Family<Vec<(String, String)>, Gauge>> = LazyLock::new(|| {
    let family = Family::<Vec<(String, String)>, Gauge>::default();
    crate::metrics::register(
        "api_key_last_used_timestamp_seconds",
        "When each API key was last used (seconds since the epoch; by this replica)",
        family.clone(),
    );
    family
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_by_digest_whichever_way_they_were_given() {
        let clear = ApiKeyConfig::plain("clear", "a-key-in-clear-0001", Some("acme"), Role::Agent);
        let mut hashed = ApiKeyConfig::plain("hashed", "", Some("acme"), Role::Viewer);
        hashed.sha256 = digest_hex("a-hashed-key-00002");
        for key in [&clear, &hashed] {
            key.check(|field| field.to_owned()).unwrap();
        }
        let table = KeyTable::build([&clear, &hashed], None).unwrap();
        assert_eq!(table.get("a-key-in-clear-0001").unwrap().name, "clear");
        assert_eq!(table.get("a-hashed-key-00002").unwrap().role, Role::Viewer);
        assert!(table.get(&hashed.sha256).is_none(), "the digest is not the key");
    }

    #[test]
    fn entries_are_checked() {
        let at = |field: &str| field.to_owned();
        let mut key = ApiKeyConfig::plain("", "", Some("acme"), Role::Agent);
        assert!(key.check(at).unwrap_err().to_string().contains("sha256"));
        key.key = "short".into();
        assert!(key.check(at).is_err());
        key.key = "long-enough-key-001".into();
        key.sha256 = digest_hex("x");
        assert!(key.check(at).unwrap_err().to_string().contains("not both"));
        key.key.clear();
        key.sha256 = "abc".into();
        assert!(key.check(at).unwrap_err().to_string().contains("64 hex digits"));
    }

    #[test]
    fn the_same_key_twice_is_refused() {
        let one = ApiKeyConfig::plain("one", "the-same-key-000001", Some("acme"), Role::Agent);
        let two = ApiKeyConfig::plain("two", "the-same-key-000001", Some("acme"), Role::Admin);
        assert!(KeyTable::build([&one, &two], None).is_err());
    }

    #[test]
    fn generated_keys_are_long_and_different() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert_eq!(a.len(), 5 + 64);
        assert!(a.starts_with("tend_"));
    }

    #[test]
    fn last_use_survives_a_reload() {
        let key = ApiKeyConfig::plain("k", "a-key-in-clear-0001", Some("acme"), Role::Agent);
        let table = KeyTable::build([&key], None).unwrap();
        table.get("a-key-in-clear-0001").unwrap().touch();
        let reloaded = KeyTable::build([&key], Some(&table)).unwrap();
        assert!(reloaded.get("a-key-in-clear-0001").unwrap().last_used.load(Ordering::Relaxed) > 0);
    }
}
