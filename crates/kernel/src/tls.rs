//! TLS for the gRPC server, and mutual TLS between services, from PEM files re-read when they
//! change: a renewed certificate (cert-manager, an ACME client) is served to the next
//! connection without a restart.
//!
//! rustls with the ring provider, as everywhere in Tend (no aws-lc, no openssl). HTTP/2 is
//! negotiated by ALPN, as gRPC needs. With `client_ca_file` set, a client must present a
//! certificate signed by one of its CAs (mutual TLS); without it, any client may connect and
//! authenticates with its API key or token as usual.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};

use crate::config::ConfigError;

/// `[server.tls]`: serve gRPC over TLS. Empty `cert_file`: plain text (behind a mesh or for
/// development).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    /// The server's certificate chain (PEM), leaf first.
    pub cert_file: String,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// CA certificates (PEM) that client certificates must be signed by: mutual TLS. Empty:
    /// clients need no certificate.
    pub client_ca_file: String,
}

impl TlsConfig {
    /// Whether TLS is on.
    pub fn is_enabled(&self) -> bool {
        !self.cert_file.is_empty()
    }

    /// Checks the settings and that the files make a usable configuration.
    pub fn check(&self) -> Result<(), ConfigError> {
        if !self.is_enabled() {
            if !self.key_file.is_empty() || !self.client_ca_file.is_empty() {
                return Err(ConfigError::invalid(
                    "server.tls.cert_file",
                    "is required when key_file or client_ca_file is set",
                ));
            }
            return Ok(());
        }
        if self.key_file.is_empty() {
            return Err(ConfigError::invalid("server.tls.key_file", "is required when cert_file is set"));
        }
        server_config(self).map(drop)
    }

    fn files(&self) -> Vec<PathBuf> {
        [&self.cert_file, &self.key_file, &self.client_ca_file]
            .into_iter()
            .filter(|path| !path.is_empty())
            .map(PathBuf::from)
            .collect()
    }
}

/// The certificates of a PEM file; at least one. `field` names the setting in errors.
pub fn read_certificates(field: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem = std::fs::read(path)
        .map_err(|error| ConfigError::invalid(field, format!("cannot read {}: {error}", path.display())))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| ConfigError::invalid(field, format!("{}: {error}", path.display())))?;
    if certificates.is_empty() {
        return Err(ConfigError::invalid(field, format!("{} holds no PEM certificate", path.display())));
    }
    Ok(certificates)
}

/// The rustls server configuration the files make.
fn server_config(config: &TlsConfig) -> Result<ServerConfig, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certificates = read_certificates("server.tls.cert_file", Path::new(&config.cert_file))?;
    let key = PrivateKeyDer::from_pem_file(&config.key_file).map_err(|error| {
        ConfigError::invalid("server.tls.key_file", format!("{}: no usable private key: {error}", config.key_file))
    })?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| ConfigError::invalid("server.tls", error.to_string()))?;
    let builder = if config.client_ca_file.is_empty() {
        builder.with_no_client_auth()
    } else {
        let field = "server.tls.client_ca_file";
        let mut roots = RootCertStore::empty();
        for certificate in read_certificates(field, Path::new(&config.client_ca_file))? {
            roots.add(certificate).map_err(|error| ConfigError::invalid(field, format!("unusable CA: {error}")))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|error| ConfigError::invalid(field, error.to_string()))?;
        builder.with_client_cert_verifier(verifier)
    };
    let mut server = builder.with_single_cert(certificates, key).map_err(|error| {
        ConfigError::invalid("server.tls.key_file", format!("does not go with the certificate: {error}"))
    })?;
    server.alpn_protocols = vec![b"h2".to_vec()];
    Ok(server)
}

/// The server's TLS configuration, rebuilt when one of its files changes.
#[derive(Debug)]
pub struct TlsFiles {
    config: TlsConfig,
    current: RwLock<Arc<ServerConfig>>,
    /// The files' modification times when the configuration was last built.
    seen: Mutex<Vec<Option<SystemTime>>>,
}

impl TlsFiles {
    /// Reads the files; fails if they do not make a configuration.
    pub fn new(config: &TlsConfig) -> Result<Self, ConfigError> {
        let files = Self {
            config: config.clone(),
            current: RwLock::new(Arc::new(server_config(config)?)),
            seen: Mutex::new(Vec::new()),
        };
        *files.seen.lock().unwrap_or_else(PoisonError::into_inner) = files.modified();
        Ok(files)
    }

    fn modified(&self) -> Vec<Option<SystemTime>> {
        self.config.files().iter().map(|path| std::fs::metadata(path).and_then(|meta| meta.modified()).ok()).collect()
    }

    /// The configuration for the next connection.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Rebuilds the configuration if a file changed. Returns whether it did; on an error (a
    /// certificate written but not its key yet) the configuration in use stays.
    pub fn reload(&self) -> Result<bool, ConfigError> {
        let modified = self.modified();
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if *seen == modified {
            return Ok(false);
        }
        let fresh = server_config(&self.config)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
        *seen = modified;
        Ok(true)
    }

    /// Re-reads the files every `every` until `shutdown`.
    pub async fn watch(self: Arc<Self>, every: Duration, shutdown: tokio_util::sync::CancellationToken) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = shutdown.cancelled() => return,
            }
            match self.reload() {
                Ok(true) => tracing::info!("TLS certificate reloaded"),
                Ok(false) => {}
                Err(error) => tracing::error!(%error, "TLS files not reloaded; the certificate in use stays"),
            }
        }
    }
}
