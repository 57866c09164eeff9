//! Channel secrets: given by reference (`env:NAME`, `file:/path`, resolved each time they are
//! used, so a rotated Kubernetes secret needs no call) or by value, stored encrypted with
//! XChaCha20-Poly1305 under the key in `channels.secrets_key`. Neither form is ever returned by
//! an RPC or written to a log; errors name the secret, never its value.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use tend_kernel::ApiError;
use tend_kernel::config::ConfigError;
use tend_proto::v1;

/// How a secret is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stored {
    /// `env:NAME` or `file:/path`, resolved when used.
    #[serde(rename = "ref")]
    Reference(String),
    /// Base64 of the 24-byte nonce followed by the ciphertext.
    #[serde(rename = "enc")]
    Encrypted(String),
}

/// A set of secrets by name, as stored (a JSON object).
pub type Secrets = BTreeMap<String, Stored>;

/// Why a secret could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The environment variable of a reference is not set.
    #[error("secret {name}: environment variable {var} is not set")]
    MissingVariable {
        /// The secret's name.
        name: String,
        /// The variable.
        var: String,
    },
    /// The file of a reference cannot be read.
    #[error("secret {name}: cannot read {path}: {source}")]
    File {
        /// The secret's name.
        name: String,
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// An encrypted secret and no key, or the wrong one.
    #[error("secret {name}: cannot decrypt it ({why}); is channels.secrets_key the key it was stored with?")]
    Decrypt {
        /// The secret's name.
        name: String,
        /// Why.
        why: &'static str,
    },
}

/// Encrypts and decrypts stored secrets with the configured key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Option<XChaCha20Poly1305>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretBox").field("has_key", &self.cipher.is_some()).finish()
    }
}

/// A new random key for `channels.secrets_key`: base64 of 32 bytes from the OS.
pub fn generate_key() -> String {
    BASE64.encode(XChaCha20Poly1305::generate_key(&mut OsRng))
}

/// Checks a reference's form: `env:NAME` or `file:/absolute/path`.
pub fn check_reference(reference: &str) -> Result<(), String> {
    if let Some(var) = reference.strip_prefix("env:") {
        let valid = !var.is_empty() && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        return if valid { Ok(()) } else { Err("env: needs a variable name of A-Z, 0-9 and _".into()) };
    }
    if let Some(path) = reference.strip_prefix("file:") {
        return if path.starts_with('/') { Ok(()) } else { Err("file: needs an absolute path".into()) };
    }
    Err("a reference is env:NAME or file:/path".into())
}

fn resolve_reference(name: &str, reference: &str) -> Result<String, SecretError> {
    if let Some(var) = reference.strip_prefix("env:") {
        return std::env::var(var)
            .map_err(|_| SecretError::MissingVariable { name: name.to_owned(), var: var.to_owned() });
    }
    let path = reference.strip_prefix("file:").unwrap_or(reference);
    let text = std::fs::read_to_string(path).map_err(|source| SecretError::File {
        name: name.to_owned(),
        path: path.to_owned(),
        source,
    })?;
    Ok(text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text).to_owned())
}

impl SecretBox {
    /// A box with the key of `setting`: base64 of 32 bytes, or a reference to it (`env:`,
    /// `file:`). Empty: no key, and literal secrets are refused.
    pub fn new(setting: &str) -> Result<Self, ConfigError> {
        const KEY: &str = "channels.secrets_key";
        if setting.is_empty() {
            return Ok(Self { cipher: None });
        }
        let encoded = if check_reference(setting).is_ok() {
            resolve_reference("secrets_key", setting).map_err(|error| ConfigError::invalid(KEY, error.to_string()))?
        } else {
            setting.to_owned()
        };
        let bytes = BASE64
            .decode(encoded.trim())
            .map_err(|_| ConfigError::invalid(KEY, "must be base64 of 32 random bytes (openssl rand -base64 32)"))?;
        if bytes.len() != 32 {
            return Err(ConfigError::invalid(KEY, format!("decodes to {} bytes; it must be 32", bytes.len())));
        }
        let cipher =
            XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| ConfigError::invalid(KEY, "must be 32 bytes"))?;
        Ok(Self { cipher: Some(cipher) })
    }

    /// A box without a key (references only).
    pub fn without_key() -> Self {
        Self { cipher: None }
    }

    /// The stored form of `value` for the secret `field` (e.g. `secrets.app_secret`), or `None`
    /// when it is empty (the secret is removed).
    pub fn seal(&self, field: &str, value: &v1::SecretValue) -> Result<Option<Stored>, ApiError> {
        match &value.source {
            None => Ok(None),
            Some(v1::secret_value::Source::Reference(reference)) if reference.is_empty() => Ok(None),
            Some(v1::secret_value::Source::Value(secret)) if secret.is_empty() => Ok(None),
            Some(v1::secret_value::Source::Reference(reference)) => {
                check_reference(reference).map_err(|problem| ApiError::invalid(field, problem))?;
                Ok(Some(Stored::Reference(reference.clone())))
            }
            Some(v1::secret_value::Source::Value(secret)) => {
                let Some(cipher) = &self.cipher else {
                    return Err(ApiError::FailedPrecondition(format!(
                        "`{field}` is given as a value, and this server has no channels.secrets_key to encrypt it \
                         with: set that key, or give the secret as a reference (env:NAME or file:/path)"
                    )));
                };
                let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
                let sealed = cipher
                    .encrypt(&nonce, secret.as_bytes())
                    .map_err(|_| ApiError::internal(format!("cannot encrypt `{field}`")))?;
                let mut bytes = nonce.to_vec();
                bytes.extend_from_slice(&sealed);
                Ok(Some(Stored::Encrypted(BASE64.encode(bytes))))
            }
        }
    }

    /// The secret `name` in plain text.
    pub fn open(&self, name: &str, stored: &Stored) -> Result<String, SecretError> {
        match stored {
            Stored::Reference(reference) => resolve_reference(name, reference),
            Stored::Encrypted(encoded) => {
                let fail = |why| SecretError::Decrypt { name: name.to_owned(), why };
                let cipher = self.cipher.as_ref().ok_or_else(|| fail("channels.secrets_key is not set"))?;
                let bytes = BASE64.decode(encoded).map_err(|_| fail("it is not base64"))?;
                if bytes.len() < 24 {
                    return Err(fail("it is too short"));
                }
                let (nonce, sealed) = bytes.split_at(24);
                let nonce: [u8; 24] = nonce.try_into().map_err(|_| fail("it is too short"))?;
                let plain = cipher.decrypt(&XNonce::from(nonce), sealed).map_err(|_| fail("authentication failed"))?;
                String::from_utf8(plain).map_err(|_| fail("it is not UTF-8"))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn value(secret: &str) -> v1::SecretValue {
        v1::SecretValue { source: Some(v1::secret_value::Source::Value(secret.into())) }
    }

    fn reference(reference: &str) -> v1::SecretValue {
        v1::SecretValue { source: Some(v1::secret_value::Source::Reference(reference.into())) }
    }

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn a_value_is_stored_encrypted_and_opens_with_the_same_key_only() {
        let key = SecretBox::new(KEY).unwrap();
        let stored = key.seal("secrets.app_secret", &value("s3cret")).unwrap().unwrap();
        let Stored::Encrypted(text) = &stored else { panic!("not encrypted: {stored:?}") };
        assert!(!text.contains("s3cret"));
        assert_eq!(key.open("app_secret", &stored).unwrap(), "s3cret");
        // Two seals of one value differ (a fresh nonce each time).
        assert_ne!(key.seal("s", &value("s3cret")).unwrap(), Some(stored.clone()));
        let other = SecretBox::new("ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=").unwrap();
        let error = other.open("app_secret", &stored).unwrap_err().to_string();
        assert!(error.contains("app_secret") && !error.contains("s3cret"), "{error}");
        assert!(SecretBox::without_key().open("app_secret", &stored).is_err());
    }

    #[test]
    fn without_a_key_only_references_are_taken() {
        let none = SecretBox::without_key();
        let error = none.seal("secrets.app_secret", &value("s3cret")).unwrap_err();
        assert!(matches!(error, ApiError::FailedPrecondition(_)), "{error}");
        assert!(!error.to_string().contains("s3cret"));
        let stored = none.seal("secrets.app_secret", &reference("env:TEND_TEST_SECRET_UNSET")).unwrap().unwrap();
        assert!(none.open("app_secret", &stored).unwrap_err().to_string().contains("TEND_TEST_SECRET_UNSET"));
        assert_eq!(none.seal("s", &reference("")).unwrap(), None);
    }

    #[test]
    fn references_are_checked_and_files_read() {
        let none = SecretBox::without_key();
        for bad in ["ENV:X", "env:", "env:A-B", "file:relative", "plain"] {
            assert!(none.seal("secrets.x", &reference(bad)).is_err(), "{bad}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "tok-123\n").unwrap();
        let stored = Stored::Reference(format!("file:{}", path.display()));
        assert_eq!(none.open("token", &stored).unwrap(), "tok-123");
    }

    #[test]
    fn generated_keys_work_and_differ() {
        let key = generate_key();
        assert_ne!(key, generate_key());
        let sealed = SecretBox::new(&key).unwrap().seal("s", &value("x")).unwrap().unwrap();
        assert_eq!(SecretBox::new(&key).unwrap().open("s", &sealed).unwrap(), "x");
    }

    #[test]
    fn the_key_setting_is_checked() {
        assert!(SecretBox::new("not base64!").is_err());
        assert!(SecretBox::new("AAEC").unwrap_err().to_string().contains("32"));
        assert!(SecretBox::new("").is_ok());
    }
}
