//! Transport security shared by IMAP and SMTP: the [`Security`] choice, the rustls client
//! configuration (ring, Mozilla's roots plus an optional CA file), and a stream that is either
//! plain TCP or TLS over it.

use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use crate::MailError;

/// How the connection to a mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Security {
    /// TLS from the first byte (IMAPS 993, SMTPS/submissions 465). Preferred (RFC 8314).
    Tls,
    /// Plain text upgraded with STARTTLS before anything else is said (IMAP 143, submission 587).
    /// A server that does not offer STARTTLS is an error, never a silent fallback to plain text.
    StartTls,
    /// No TLS at all. Only for a server on a loopback address (127.0.0.0/8, ::1, `localhost`):
    /// anything else is refused with [`MailError::Config`], since the password would cross the
    /// network in clear.
    Plain,
}

/// Whether `host` names this machine: `localhost` or a loopback address.
pub(crate) fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    bare.parse::<IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false)
}

/// Refuses [`Security::Plain`] for a host that is not loopback.
pub(crate) fn check_plain_allowed(security: Security, host: &str) -> Result<(), MailError> {
    if security == Security::Plain && !is_loopback(host) {
        return Err(MailError::Config(format!(
            "plain text (no TLS) is allowed only to a loopback host (127.0.0.0/8, ::1, localhost), not to {host:?}: \
             use Security::Tls or Security::StartTls"
        )));
    }
    Ok(())
}

/// The roots a connection trusts: Mozilla's, plus every certificate in `ca_file` (PEM).
pub(crate) fn root_store(ca_file: Option<&Path>) -> Result<RootCertStore, MailError> {
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = ca_file {
        for certificate in read_ca_file(path)? {
            roots.add(certificate).map_err(|error| {
                MailError::Config(format!("CA file {}: unusable certificate: {error}", path.display()))
            })?;
        }
    }
    Ok(roots)
}

/// The certificates of a PEM file; at least one.
pub(crate) fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, MailError> {
    let pem = std::fs::read(path)
        .map_err(|error| MailError::Config(format!("cannot read CA file {}: {error}", path.display())))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| MailError::Config(format!("CA file {}: {error}", path.display())))?;
    if certificates.is_empty() {
        return Err(MailError::Config(format!("CA file {} holds no PEM certificate", path.display())));
    }
    Ok(certificates)
}

/// A rustls connector with the ring provider and the given roots.
pub(crate) fn connector(ca_file: Option<&Path>) -> Result<TlsConnector, MailError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| MailError::Config(format!("TLS setup: {error}")))?
        .with_root_certificates(root_store(ca_file)?)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The name the server's certificate must carry: a DNS name or an IP address.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, MailError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_owned())
        .map_err(|_| MailError::Config(format!("{host:?} is neither a DNS name nor an IP address")))
}

/// The rustls error somewhere in `error`'s chain, if any: TLS failures reach us wrapped in
/// `io::Error`s (whose `source()` skips the wrapped error, hence `get_ref`).
pub(crate) fn find_rustls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        if let Some(io_error) = error.downcast_ref::<io::Error>()
            && let Some(inner) = io_error.get_ref()
            && let Some(found) = find_rustls_error(inner)
        {
            return Some(found);
        }
        current = error.source();
    }
    None
}

/// Plain TCP, or TLS over it: what the IMAP session reads and writes.
#[derive(Debug)]
pub(crate) enum MailStream {
    /// No TLS (only to loopback), or before STARTTLS.
    Plain(TcpStream),
    /// TLS; boxed, it is large.
    Tls(Box<TlsStream<TcpStream>>),
}

impl MailStream {
    /// Runs the TLS handshake over `tcp`, sorting a certificate or protocol failure
    /// ([`MailError::Tls`]) from a connection that broke meanwhile ([`MailError::Connection`]).
    pub(crate) async fn start_tls(
        tcp: TcpStream,
        connector: &TlsConnector,
        name: ServerName<'static>,
        server: &str,
    ) -> Result<MailStream, MailError> {
        match connector.connect(name, tcp).await {
            Ok(stream) => Ok(MailStream::Tls(Box::new(stream))),
            Err(error) => Err(match find_rustls_error(&error) {
                Some(tls_error) => MailError::Tls { server: server.to_owned(), message: tls_error.to_string() },
                None => MailError::Connection {
                    server: server.to_owned(),
                    message: format!("during the TLS handshake: {error}"),
                },
            }),
        }
    }
}

impl AsyncRead for MailStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            MailStream::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MailStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MailStream::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            MailStream::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(stream) => Pin::new(stream).poll_flush(cx),
            MailStream::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            MailStream::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1", "[::1]"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["mail.example.com", "10.0.0.1", "192.168.1.1", "localhost.example.com", "::2", ""] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn plain_only_to_loopback() {
        assert!(check_plain_allowed(Security::Plain, "127.0.0.1").is_ok());
        assert!(check_plain_allowed(Security::Tls, "mail.example.com").is_ok());
        let Err(MailError::Config(message)) = check_plain_allowed(Security::Plain, "mail.example.com") else {
            panic!("plain text to a remote host must be refused");
        };
        assert!(message.contains("loopback"), "{message}");
    }

    #[test]
    fn server_names() {
        assert!(server_name("127.0.0.1").is_ok());
        assert!(server_name("[::1]").is_ok());
        assert!(server_name("mail.example.com").is_ok());
        assert!(matches!(server_name("not a name"), Err(MailError::Config(_))));
    }

    #[test]
    fn a_missing_ca_file_is_a_config_error() {
        let error = root_store(Some(Path::new("/nonexistent/ca.pem"))).err();
        assert!(matches!(error, Some(MailError::Config(_))), "{error:?}");
    }
}
