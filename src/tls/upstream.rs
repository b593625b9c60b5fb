//! TLS settings towards origins: always verified, against the public (webpki) roots plus extra CA files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// Why the upstream TLS settings could not be built.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamTlsError {
    /// An extra CA file could not be read or holds no certificate.
    #[error("cannot load upstream CA file {}: {reason}", .path.display())]
    CaFile {
        /// The file given with `--upstream-ca`.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the settings.
    #[error("invalid upstream TLS settings: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A client configuration that verifies origins against the public roots plus every certificate in `extra_ca`
/// (PEM files). No ALPN is set: the HTTP client sets it.
pub fn client_config(extra_ca: &[PathBuf]) -> Result<rustls::ClientConfig, UpstreamTlsError> {
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for path in extra_ca {
        for cert in read_certs(path)? {
            roots.add(cert).map_err(|e| ca_error(path, e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, UpstreamTlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| ca_error(path, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ca_error(path, e.to_string()))?;
    if certs.is_empty() {
        return Err(ca_error(path, "no certificate in file".to_owned()));
    }
    Ok(certs)
}

fn ca_error(path: &Path, reason: String) -> UpstreamTlsError {
    UpstreamTlsError::CaFile { path: path.to_owned(), reason }
}
