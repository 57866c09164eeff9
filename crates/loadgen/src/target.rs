//! Where the load goes: this machine only.

use std::net::IpAddr;

use anyhow::{Context as _, bail};

/// Checks that `endpoint` is a plain-HTTP gRPC address on this machine (127.0.0.0/8, `::1` or
/// `localhost`), and returns it normalised (`http://` added when no scheme is given).
///
/// The load generator refuses anything else: it is for measuring your own Tend on your own
/// machine, not for loading someone else's server.
pub fn check_loopback(endpoint: &str) -> anyhow::Result<String> {
    let endpoint = endpoint.trim();
    let with_scheme = if endpoint.contains("://") { endpoint.to_owned() } else { format!("http://{endpoint}") };
    let uri: http::Uri = with_scheme.parse().with_context(|| format!("--endpoint {endpoint:?} is not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(other) => bail!(
            "--endpoint {endpoint:?}: scheme {other:?} is not supported; the load generator speaks plain \
             http:// to a Tend on this machine"
        ),
        None => bail!("--endpoint {endpoint:?} has no scheme"),
    }
    let host = uri.host().with_context(|| format!("--endpoint {endpoint:?} has no host"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!(
            "refusing to send load to {host}: the load generator only targets this machine \
             (127.0.0.1, ::1 or localhost), e.g. --endpoint http://127.0.0.1:50051"
        );
    }
    if uri.path() != "/" && !uri.path().is_empty() {
        bail!("--endpoint {endpoint:?}: give only scheme, host and port");
    }
    Ok(with_scheme.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_accepted() {
        for endpoint in [
            "http://127.0.0.1:50051",
            "http://127.0.0.1:50051/",
            "127.0.0.1:6000",
            "http://localhost:50051",
            "http://LOCALHOST:1",
            "http://[::1]:50051",
            "http://127.1.2.3:9",
        ] {
            assert!(check_loopback(endpoint).is_ok(), "{endpoint}");
        }
        assert_eq!(check_loopback("127.0.0.1:6000").unwrap(), "http://127.0.0.1:6000");
    }

    #[test]
    fn anything_else_refused() {
        for endpoint in [
            "http://10.0.0.5:50051",
            "http://192.168.1.1:50051",
            "http://example.com:50051",
            "http://localhost.example.com:50051",
            "http://[2001:db8::1]:50051",
            "http://0.0.0.0:50051",
            "https://127.0.0.1:50051",
            "http://127.0.0.1:50051/tend",
            "not a url",
        ] {
            assert!(check_loopback(endpoint).is_err(), "{endpoint}");
        }
        let message = check_loopback("http://10.0.0.5:50051").unwrap_err().to_string();
        assert!(message.contains("refusing") && message.contains("127.0.0.1"), "{message}");
    }
}
