//! gRPC over TLS and mutual TLS: a client that trusts the server's CA and shows a certificate
//! of the client CA is served; one without a certificate, or in plain text, is not; a renewed
//! server certificate written over the files is served to new connections without a restart.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tend::app::ServiceName;
use tend_client::ClientTls;
use tend_proto::v1;
use tend_tests::{Backend, TestApp, as_tenant, eventually};

/// A CA: its certificate (PEM) and what it signs with.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Self { pem, issuer: Issuer::new(params, key) }
    }

    /// A certificate for `names`, signed by this CA: (certificate PEM, key PEM).
    fn sign(&self, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let params = CertificateParams::new(names).unwrap();
        let key = KeyPair::generate().unwrap();
        (params.signed_by(&key, &self.issuer).unwrap().pem(), key.serialize_pem())
    }
}

fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

async fn list(app: &TestApp, tls: Option<&ClientTls>) -> Result<(), String> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let endpoint = format!("{scheme}://localhost:{}", app.addr.port());
    let channel =
        tend_client::endpoint_of(&endpoint, tls).unwrap().connect().await.map_err(|error| format!("{error:?}"))?;
    let mut client = v1::ingest_service_client::IngestServiceClient::new(channel);
    let request = as_tenant("acme", v1::ListInteractionsRequest::default());
    client.list_interactions(request).await.map(drop).map_err(|status| format!("{status:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_serves_only_clients_with_a_certificate_and_renews_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (server_ca, client_ca) = (Ca::new("servers"), Ca::new("clients"));
    let (server_cert, server_key) = server_ca.sign(&["localhost", "127.0.0.1"]);
    let (client_cert, client_key) = client_ca.sign(&["routing"]);
    let cert_file = write(dir.path(), "server.pem", &server_cert);
    let key_file = write(dir.path(), "server.key", &server_key);
    let client_ca_file = write(dir.path(), "clients-ca.pem", &client_ca.pem);
    let app = TestApp::spawn_with(Backend::Embedded, &[ServiceName::Ingest], |config| {
        config.server.tls.cert_file = cert_file.display().to_string();
        config.server.tls.key_file = key_file.display().to_string();
        config.server.tls.client_ca_file = client_ca_file.display().to_string();
    })
    .await;

    let with_certificate = ClientTls {
        ca_file: write(dir.path(), "servers-ca.pem", &server_ca.pem),
        cert_file: Some(write(dir.path(), "client.pem", &client_cert)),
        key_file: Some(write(dir.path(), "client.key", &client_key)),
    };
    list(&app, Some(&with_certificate)).await.unwrap();
    let without_certificate = ClientTls { cert_file: None, key_file: None, ..with_certificate.clone() };
    assert!(list(&app, Some(&without_certificate)).await.is_err(), "a client without a certificate was served");
    assert!(list(&app, None).await.is_err(), "a plain-text client was served");

    // Renewal by another CA: new connections get the new certificate within the reload period.
    let renewed_ca = Ca::new("servers 2027");
    let (renewed_cert, renewed_key) = renewed_ca.sign(&["localhost"]);
    write(dir.path(), "server.pem", &renewed_cert);
    write(dir.path(), "server.key", &renewed_key);
    let trusts_renewed =
        ClientTls { ca_file: write(dir.path(), "renewed-ca.pem", &renewed_ca.pem), ..with_certificate.clone() };
    eventually("the renewed certificate is served", Duration::from_secs(15), || async {
        list(&app, Some(&trusts_renewed)).await.ok()
    })
    .await;
    assert!(list(&app, Some(&with_certificate)).await.is_err(), "the old certificate is still served");
    app.stop().await;
}
