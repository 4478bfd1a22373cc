//! TLS for `https://` webhooks: rustls with the `ring` provider, the
//! operating system's CA store plus an optional extra CA file, and what a
//! failed handshake means in words.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{CertificateError, RootCertStore};

use super::Failure;

/// The certificates of a PEM file; an error when it holds none.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate file ({e})", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no certificate in the file (expected PEM: -----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

/// What to trust: the system store (`SSL_CERT_FILE`/`SSL_CERT_DIR` when
/// set, as OpenSSL does) plus the CAs of `ca_file`.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, Failure> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (system, _) = roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let certs = read_ca_file(path).map_err(|m| Failure::config(m, None))?;
        for c in certs {
            roots.add(c).map_err(|e| {
                Failure::config(
                    format!("{}: not a usable CA certificate ({e})", path.display()),
                    None,
                )
            })?;
        }
    } else if system == 0 {
        let why = native
            .errors
            .first()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        return Err(Failure::config(
            format!("no trusted CA certificates in the system store{why}"),
            Some(
                "install the ca-certificates package, set SSL_CERT_FILE, or pass --ca-file PEM"
                    .into(),
            ),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::config(format!("TLS setup: {e}"), None))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

const CA_HINT: &str = "pass --ca-file with the PEM of the CA that signed the server's certificate (ca_file in [actions.webhook])";

/// A failed TLS handshake in words, with a hint where one helps.
pub fn handshake_failure(e: &std::io::Error, host: &str) -> Failure {
    let Some(err) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return Failure::connect(format!("TLS handshake failed: {e}"));
    };
    use CertificateError as C;
    let permanent = |message: String, hint: Option<&str>| Failure {
        message,
        hint: hint.map(str::to_owned),
        retry: false,
        retry_after: None,
    };
    match err {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => permanent(
                "certificate not trusted (unknown issuer)".into(),
                Some(CA_HINT),
            ),
            C::BadSignature => permanent(
                "certificate not trusted (not signed by the trusted CA of that name)".into(),
                Some(CA_HINT),
            ),
            C::NotValidForName | C::NotValidForNameContext { .. } => permanent(
                format!("certificate is not valid for {host}"),
                Some(
                    "the URL's host must be one of the names (or IP addresses) the certificate lists",
                ),
            ),
            C::Expired | C::ExpiredContext { .. } => permanent("certificate expired".into(), None),
            C::NotValidYet | C::NotValidYetContext { .. } => permanent(
                "certificate not valid yet (check this machine's clock)".into(),
                None,
            ),
            C::Revoked => permanent("certificate revoked".into(), None),
            other => permanent(format!("certificate rejected ({other:?})"), None),
        },
        rustls::Error::AlertReceived(alert) => permanent(
            format!("the server refused the TLS handshake ({alert:?})"),
            None,
        ),
        other => Failure::connect(format!("TLS handshake failed: {other}")),
    }
}
